//! Reading one set's part of the Kruise annotations without building the whole document.
//!
//! Every round reads the hash annotations of every matched Pod; building a `Value` and then typed
//! entries for all sets cost most of a plan. These readers make one pass with serde, borrowing
//! strings when they carry no escapes, and check the shape of every entry exactly as the full
//! readers do (a map accepted here is accepted there). On any error the caller asks the full
//! reader, whose message it reports.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string that borrows from the input when it can.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A list of strings, checked and dropped.
struct StrList;

impl<'de> de::Deserialize<'de> for StrList {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrList, A::Error> {
                while seq.next_element::<CowStr<'de>>()?.is_some() {}
                Ok(StrList)
            }
        }
        d.deserialize_seq(V)
    }
}

/// One entry of a hash annotation: the legacy string, or `SidecarSetUpgradeSpec` (fields typed as in
/// [`crate::annotations::HashEntry`]; unknown fields ignored; a repeated field keeps the last value,
/// as the `Value` the full reader goes through does).
struct HashSeed;

impl<'de> DeserializeSeed<'de> for HashSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HashSeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut hash = Cow::Borrowed("");
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            match key.0.as_ref() {
                "hash" => hash = map.next_value::<CowStr<'de>>()?.0,
                "sidecarSetName" | "controllerRevision" => {
                    map.next_value::<CowStr<'de>>()?;
                }
                "updateTimestamp" => {
                    map.next_value::<Option<CowStr<'de>>>()?;
                }
                "sidecarList" => {
                    map.next_value::<Option<StrList>>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(hash)
    }
}

/// `Ok(None)` when the annotation has no entry for `set`.
fn hash_entry<'a>(raw: &'a str, set: &str) -> Result<Option<Cow<'a, str>>, serde_json::Error> {
    struct Top<'s>(&'s str);
    impl<'de> Visitor<'de> for Top<'_> {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object keyed by SidecarSet name")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut ours = None;
            while let Some(key) = map.next_key::<CowStr<'de>>()? {
                let h = map.next_value_seed(HashSeed)?;
                if key.0 == self.0 {
                    ours = Some(h);
                }
            }
            Ok(ours)
        }
    }
    let mut d = serde_json::Deserializer::from_str(raw);
    let out = d.deserialize_map(Top(set))?;
    d.end()?;
    Ok(out)
}

/// This set's `hash` in a `kruise.io/sidecarset-hash*` annotation ("" when absent), with the
/// verdict of [`crate::annotations::parse_hash_map`] on the whole annotation.
pub(crate) fn entry_hash<'a>(raw: &'a str, set: &str) -> Result<Cow<'a, str>, String> {
    if raw.trim().is_empty() {
        return Ok(Cow::Borrowed(""));
    }
    match hash_entry(raw, set) {
        Ok(h) => Ok(h.unwrap_or(Cow::Borrowed(""))),
        Err(_) => {
            // The full reader's message (and verdict, should the two ever disagree).
            let map = crate::annotations::parse_hash_map(raw)?;
            Ok(Cow::Owned(
                map.get(set).map(|e| e.hash.clone()).unwrap_or_default(),
            ))
        }
    }
}

/// `lastContainerStatuses` of one `InPlaceUpdateState`: (container, imageID) in document order; a
/// repeated container counts by its last value (look up from the end).
pub(crate) type Statuses<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

struct StateSeed {
    ours: bool,
}

impl<'de> DeserializeSeed<'de> for StateSeed {
    type Value = Option<Statuses<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for StateSeed {
    type Value = Option<Statuses<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut last = None;
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            match key.0.as_ref() {
                "revision" | "updateTimestamp" => {
                    map.next_value::<Option<CowStr<'de>>>()?;
                }
                "lastContainerStatuses" => {
                    last = map.next_value_seed(StatusesSeed { keep: self.ours })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(last)
    }
}

struct StatusesSeed {
    keep: bool,
}

impl<'de> DeserializeSeed<'de> for StatusesSeed {
    type Value = Option<Statuses<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for StatusesSeed {
    type Value = Option<Statuses<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of {\"imageID\": string}")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Statuses::new();
        while let Some(c) = map.next_key::<CowStr<'de>>()? {
            let id = map.next_value_seed(ImageIdSeed)?;
            if self.keep {
                out.push((c.0, id.unwrap_or(Cow::Borrowed(""))));
            }
        }
        Ok(Some(out))
    }
}

/// `null` or `{"imageID": string|null, …}`.
struct ImageIdSeed;

impl<'de> DeserializeSeed<'de> for ImageIdSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ImageIdSeed {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{\"imageID\": string}")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            if key.0 == "imageID" {
                id = map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id)
    }
}

/// `kruise.io/sidecarset-inplace-update-state`: this set's recorded imageIDs, every entry checked as
/// [`super::state::InplaceState::parse`] checks it. `Err(())`: ask the full reader.
pub(crate) fn inplace_ours<'a>(raw: &'a str, set: &str) -> Result<Statuses<'a>, ()> {
    struct Top<'s>(&'s str);
    impl<'de> Visitor<'de> for Top<'_> {
        type Value = Statuses<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object keyed by SidecarSet name")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut ours = Statuses::new();
            while let Some(key) = map.next_key::<CowStr<'de>>()? {
                let is_ours = key.0 == self.0;
                let v = map.next_value_seed(StateSeed { ours: is_ours })?;
                if is_ours {
                    ours = v.unwrap_or_default();
                }
            }
            Ok(ours)
        }
    }
    let mut d = serde_json::Deserializer::from_str(raw);
    let out = d.deserialize_map(Top(set)).map_err(|_| ())?;
    d.end().map_err(|_| ())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::parse_hash_map;

    #[test]
    fn hash_entries_agree_with_the_full_reader() {
        let cases = [
            r#"{"a":{"updateTimestamp":"t","hash":"h1","sidecarSetName":"a","sidecarList":["x"]},"b":"legacy"}"#,
            r#"{"a":{"hash":"h\u0031","extra":{"deep":[1,2]}}}"#,
            r#"{"a":{"hash":"x","hash":"y"}}"#,
            r#"{"b":{"hash":"x"}}"#,
            r#"{"a":{"hash":null}}"#,
            r#"{"a":{"sidecarList":[1]}}"#,
            r#"{"a":{"updateTimestamp":3}}"#,
            r#"{"a":null}"#,
            r#"{"a":1}"#,
            r#"[1]"#,
            r#"{"a":"x"} trailing"#,
            "not json",
            "  ",
            r#"{"a":{"updateTimestamp":null,"sidecarList":null,"controllerRevision":"r"}}"#,
        ];
        for raw in cases {
            let full =
                parse_hash_map(raw).map(|m| m.get("a").map(|e| e.hash.clone()).unwrap_or_default());
            let lite = entry_hash(raw, "a").map(Cow::into_owned);
            assert_eq!(lite, full, "{raw}");
            let fast = if raw.trim().is_empty() {
                Ok(None)
            } else {
                hash_entry(raw, "a").map_err(|_| ())
            };
            assert_eq!(
                fast.is_ok(),
                full.is_ok(),
                "the fast reader alone decides {raw}"
            );
        }
    }

    #[test]
    fn inplace_state_agrees_with_the_full_reader() {
        use super::super::state::InplaceState;
        let cases = [
            r#"{"a":{"revision":"r","updateTimestamp":"t","lastContainerStatuses":{"c":{"imageID":"i"},"d":{}}},"b":null}"#,
            r#"{"a":{"lastContainerStatuses":{"c":null}}}"#,
            r#"{"a":{"lastContainerStatuses":{"c":{"imageID":"1"},"c":{"imageID":"2"}}}}"#,
            r#"{"a":{"lastContainerStatuses":{"c":{"imageID":"\u0069"}}, "x": [1]}}"#,
            r#"{"b":{"lastContainerStatuses":{"c":{"imageID":"i"}}}}"#,
            r#"{"a":{"lastContainerStatuses":{"c":{"imageID":1}}}}"#,
            r#"{"a":{"lastContainerStatuses":[]}}"#,
            r#"{"a":{"revision":1}}"#,
            r#"{"a":3}"#,
            r#"{"b":{"lastContainerStatuses":{"c":"x"}}}"#,
            r#"[]"#,
            "",
            "{",
        ];
        for raw in cases {
            let full = match InplaceState::parse_full(Some(raw), "a") {
                InplaceState::Parsed { ours, .. } => Ok(ours),
                InplaceState::Unreadable(_) => Err(()),
                InplaceState::Absent => unreachable!(),
            };
            let lite = inplace_ours(raw, "a").map(|v| {
                v.into_iter()
                    .map(|(c, i)| (c.into_owned(), i.into_owned()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            });
            let full = full.map(|v| {
                v.into_iter()
                    .map(|(c, i)| (c.into_owned(), i.into_owned()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            });
            assert_eq!(lite, full, "{raw}");
        }
    }
}
