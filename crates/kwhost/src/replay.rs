//! Recorded host-capability exchanges in kwctl's replay format.
//!
//! A session file is a YAML list of `type: Exchange` items. Each `request` is a *string* that
//! holds YAML of policy-evaluator's externally tagged `CallbackRequestType` (a tag line such as
//! `!KubernetesGetResource`, then the fields); each `response` is `{type: Success, payload:
//! <JSON text>}` or `{type: Error, message: <text>}`. Like kwctl, replay answers requests in
//! recorded order and only when the policy's request equals the recorded one.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files;

/// SDK `GetResourceRequest` / `CallbackRequestType::KubernetesGetResource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResourceRequest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub disable_cache: bool,
    /// Absent and `null` are the same request (serde gives `None` for a missing `Option`).
    pub field_masks: Option<BTreeSet<String>>,
}

/// SDK `ListResourcesByNamespaceRequest` / `KubernetesListResourceNamespace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResourcesByNamespaceRequest {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// Newer kwctl records it, older SDKs do not send it.
    #[serde(default)]
    pub disable_cache: bool,
    pub field_masks: Option<BTreeSet<String>>,
}

/// SDK `ListAllResourcesRequest` / `KubernetesListResourceAll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAllResourcesRequest {
    pub api_version: String,
    pub kind: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    #[serde(default)]
    pub disable_cache: bool,
    pub field_masks: Option<BTreeSet<String>>,
}

/// A host request, as recorded or as made by the guest.
#[derive(Debug, Clone, PartialEq)]
pub enum HostRequest {
    KubernetesGetResource(GetResourceRequest),
    KubernetesListResourceNamespace(ListResourcesByNamespaceRequest),
    KubernetesListResourceAll(ListAllResourcesRequest),
    /// A recorded request of a kind this host never makes (OCI, sigstore, DNS, can_i…): kept so
    /// that files recorded against richer policies still load, never matched.
    Other {
        tag: String,
        body: serde_yaml::Value,
    },
}

impl HostRequest {
    /// The `apiVersion`/`kind` checked against the context-aware allow list.
    pub fn kubernetes_resource(&self) -> Option<(&str, &str)> {
        match self {
            Self::KubernetesGetResource(r) => Some((&r.api_version, &r.kind)),
            Self::KubernetesListResourceNamespace(r) => Some((&r.api_version, &r.kind)),
            Self::KubernetesListResourceAll(r) => Some((&r.api_version, &r.kind)),
            Self::Other { .. } => None,
        }
    }

    fn tag(&self) -> &str {
        match self {
            Self::KubernetesGetResource(_) => "KubernetesGetResource",
            Self::KubernetesListResourceNamespace(_) => "KubernetesListResourceNamespace",
            Self::KubernetesListResourceAll(_) => "KubernetesListResourceAll",
            Self::Other { tag, .. } => tag,
        }
    }

    /// Parses the YAML text found in a session file's `request` field.
    pub fn from_recorded_yaml(text: &str) -> Result<Self, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let serde_yaml::Value::Tagged(tagged) = value else {
            return Err("the recorded request has no `!Tag` naming its kind".to_owned());
        };
        let tag = tagged.tag.to_string();
        let tag = tag.trim_start_matches('!').to_owned();
        let body = tagged.value;
        let parsed = match tag.as_str() {
            "KubernetesGetResource" => {
                serde_yaml::from_value(body).map(Self::KubernetesGetResource)
            }
            "KubernetesListResourceNamespace" => {
                serde_yaml::from_value(body).map(Self::KubernetesListResourceNamespace)
            }
            "KubernetesListResourceAll" => {
                serde_yaml::from_value(body).map(Self::KubernetesListResourceAll)
            }
            _ => return Ok(Self::Other { tag, body }),
        };
        parsed.map_err(|e| format!("{tag}: {e}"))
    }

    /// The YAML kwctl would record for this request (tag line, then the fields).
    pub fn to_recorded_yaml(&self) -> String {
        let body = match self {
            Self::KubernetesGetResource(r) => serde_yaml::to_string(r),
            Self::KubernetesListResourceNamespace(r) => serde_yaml::to_string(r),
            Self::KubernetesListResourceAll(r) => serde_yaml::to_string(r),
            Self::Other { body, .. } => serde_yaml::to_string(body),
        }
        .unwrap_or_default();
        format!("!{}\n{body}", self.tag())
    }
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RecordedResponse {
    /// `payload` is handed to the guest byte for byte.
    Success {
        payload: String,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub request: HostRequest,
    pub response: RecordedResponse,
}

/// On-disk shape of one list item.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum RawInteraction {
    Exchange {
        request: String,
        response: RecordedResponse,
    },
}

/// A whole session, not yet consumed. Cheap to clone, so one file can serve many evaluations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    exchanges: Vec<Exchange>,
}

impl Replay {
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        Self { exchanges }
    }

    pub fn from_yaml(text: &str) -> Result<Self> {
        let raw: Vec<RawInteraction> = serde_yaml::from_str(text)
            .map_err(|e| Error::Input(format!("cannot parse the replay session: {e}")))?;
        let exchanges = raw
            .into_iter()
            .enumerate()
            .map(|(index, RawInteraction::Exchange { request, response })| {
                let request = HostRequest::from_recorded_yaml(&request).map_err(|e| {
                    Error::Input(format!(
                        "cannot parse the request of exchange #{index} of the replay session: {e}"
                    ))
                })?;
                Ok(Exchange { request, response })
            })
            .collect::<Result<_>>()?;
        Ok(Self { exchanges })
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_yaml(&files::read_text(path, "replay session")?)
    }

    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    pub fn cursor(&self) -> ReplayCursor {
        ReplayCursor {
            exchanges: self.exchanges.clone(),
            next: 0,
        }
    }
}

/// A session being consumed by one run.
#[derive(Debug, Clone)]
pub struct ReplayCursor {
    exchanges: Vec<Exchange>,
    next: usize,
}

impl ReplayCursor {
    /// Pops the next exchange; the recorded answer is returned only when the request matches.
    /// The error texts become the guest's "Callback evaluation failure: …".
    pub fn answer(&mut self, request: &HostRequest) -> Result<Vec<u8>, String> {
        let Some(exchange) = self.exchanges.get(self.next) else {
            return Err(format!(
                "Replay error: no recorded exchange left for request {}",
                request.to_recorded_yaml().trim_end()
            ));
        };
        self.next += 1;
        if &exchange.request != request {
            return Err(format!(
                "Replay error: unexpected request. Expected:\n{}\nGot:\n{}",
                exchange.request.to_recorded_yaml().trim_end(),
                request.to_recorded_yaml().trim_end()
            ));
        }
        match &exchange.response {
            RecordedResponse::Success { payload } => Ok(payload.clone().into_bytes()),
            RecordedResponse::Error { message } => Err(message.clone()),
        }
    }

    /// Exchanges never asked for (kwctl warns about them).
    pub fn remaining(&self) -> usize {
        self.exchanges.len().saturating_sub(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUND: &str = r#"- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: Namespace
    name: shop
    namespace: null
    disable_cache: false
    field_masks: null
  response:
    type: Success
    payload: '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}'
- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: Namespace
    name: other
    disable_cache: false
  response:
    type: Error
    message: 'namespaces "other" not found'
"#;

    fn get(name: &str, masks: Option<&[&str]>) -> HostRequest {
        HostRequest::KubernetesGetResource(GetResourceRequest {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            name: name.into(),
            namespace: None,
            disable_cache: false,
            field_masks: masks.map(|m| m.iter().map(|s| s.to_string()).collect()),
        })
    }

    #[test]
    fn answers_in_order_and_treats_absent_field_masks_as_null() {
        let replay = Replay::from_yaml(FOUND).unwrap();
        let mut cursor = replay.cursor();
        assert_eq!(
            cursor.answer(&get("shop", None)).unwrap(),
            br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}"#.to_vec()
        );
        assert_eq!(cursor.remaining(), 1);
        assert_eq!(
            cursor.answer(&get("other", None)).unwrap_err(),
            r#"namespaces "other" not found"#
        );
        assert_eq!(cursor.remaining(), 0);
        assert!(
            cursor
                .answer(&get("shop", None))
                .unwrap_err()
                .starts_with("Replay error: no recorded exchange left")
        );
    }

    #[test]
    fn a_different_request_is_refused_and_consumes_the_exchange() {
        let mut cursor = Replay::from_yaml(FOUND).unwrap().cursor();
        let err = cursor
            .answer(&get("shop", Some(&["metadata.labels"])))
            .unwrap_err();
        assert!(err.starts_with("Replay error: unexpected request"), "{err}");
        assert!(err.contains("field_masks"), "{err}");
        // Order matters: the second exchange is for `other`, not `shop`.
        assert!(cursor.answer(&get("shop", None)).is_err());
    }

    #[test]
    fn field_masks_compare_as_sets() {
        let yaml = r#"- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: Namespace
    name: shop
    namespace: null
    disable_cache: false
    field_masks:
    - metadata.name
    - metadata.labels
  response:
    type: Success
    payload: '{}'
"#;
        let mut cursor = Replay::from_yaml(yaml).unwrap().cursor();
        assert!(
            cursor
                .answer(&get("shop", Some(&["metadata.labels", "metadata.name"])))
                .is_ok()
        );
    }

    #[test]
    fn unknown_tags_load_but_never_match() {
        let yaml = r#"- type: Exchange
  request: |
    !OciManifestDigest
    image: busybox:1.36
  response:
    type: Success
    payload: '"sha256:0"'
"#;
        let replay = Replay::from_yaml(yaml).unwrap();
        assert!(matches!(
            &replay.exchanges()[0].request,
            HostRequest::Other { tag, .. } if tag == "OciManifestDigest"
        ));
        assert!(replay.cursor().answer(&get("shop", None)).is_err());
    }

    #[test]
    fn recorded_yaml_round_trips() {
        let request = get("shop", Some(&["metadata.labels"]));
        let text = request.to_recorded_yaml();
        assert!(
            text.starts_with("!KubernetesGetResource\napi_version: v1\n"),
            "{text}"
        );
        assert_eq!(HostRequest::from_recorded_yaml(&text).unwrap(), request);
    }

    #[test]
    fn malformed_requests_are_reported_with_their_position() {
        let yaml = "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    kind: Namespace\n  response:\n    type: Success\n    payload: '{}'\n";
        let err = Replay::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains("exchange #0"), "{err}");
        assert!(err.contains("api_version"), "{err}");
    }
}
