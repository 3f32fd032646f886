//! The API server's audit log, read back: which requests a given user made in a given namespace.
//!
//! Each reconciler process runs as its own impersonated user, so its lines are told apart from the
//! test's own requests (and from the fake kubelet's) by `impersonatedUser.username`.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    /// `objectRef.apiGroup` (empty for the core group).
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub code: i64,
    /// `responseStatus.message` (a failure's reason in words).
    pub message: String,
    /// When the API server received it (`requestReceivedTimestamp`, microseconds).
    pub received: Option<Timestamp>,
}

impl Request {
    /// `patch pods/web-0` or `patch pods/web-0/status`, with the response code.
    pub fn describe(&self) -> String {
        let sub = if self.subresource.is_empty() {
            String::new()
        } else {
            format!("/{}", self.subresource)
        };
        format!(
            "{} {}/{}{} -> {}",
            self.verb, self.resource, self.name, sub, self.code
        )
    }

    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Refused because the object was not the one the writer read (the reconciler's `is_stale`): a
    /// conflict, gone, or a JSON patch whose `test` failed (422 with kube-apiserver's generic
    /// message, where a validation or admission refusal names its reason).
    pub fn is_stale(&self) -> bool {
        self.code == 404
            || self.code == 409
            || (self.code == 422
                && self.message == "the server rejected our request due to an error in our request")
    }
}

/// Completed requests by `user` (impersonated) in `namespace` (or cluster-scoped ones too with `None`).
pub fn requests(log: &Path, user: &str, namespace: Option<&str>) -> Result<Vec<Request>> {
    let mut out = requests_by(log, user, |u| u == user)?;
    out.retain(|r| namespace.is_none_or(|ns| r.namespace == ns));
    Ok(out)
}

/// Completed requests by every impersonated user that `user` accepts; `hint` is a part of each such
/// name, a cheap filter before a line is parsed.
pub fn requests_by(log: &Path, hint: &str, user: impl Fn(&str) -> bool) -> Result<Vec<Request>> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        // Cheap filter first: the log holds every test's requests.
        if !line.contains(hint) {
            continue;
        }
        let Ok(ev) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if ev["stage"] != "ResponseComplete"
            || !ev["impersonatedUser"]["username"]
                .as_str()
                .is_some_and(&user)
        {
            continue;
        }
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        let r = Request {
            verb: s(&ev["verb"]),
            group: s(&ev["objectRef"]["apiGroup"]),
            resource: s(&ev["objectRef"]["resource"]),
            subresource: s(&ev["objectRef"]["subresource"]),
            namespace: s(&ev["objectRef"]["namespace"]),
            name: s(&ev["objectRef"]["name"]),
            code: ev["responseStatus"]["code"].as_i64().unwrap_or(0),
            message: s(&ev["responseStatus"]["message"]),
            received: ev["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse().ok()),
        };
        out.push(r);
    }
    Ok(out)
}

/// Counts by `verb resource[/subresource] code`.
pub fn summary(reqs: &[Request]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in reqs {
        let sub = if r.subresource.is_empty() {
            String::new()
        } else {
            format!("/{}", r.subresource)
        };
        *m.entry(format!("{} {}{} {}", r.verb, r.resource, sub, r.code))
            .or_default() += 1;
    }
    m
}

/// The reconciler's writes (any resource), in the order the API server received them.
pub fn writes_in_order(reqs: &[Request]) -> Vec<&Request> {
    let mut w: Vec<&Request> = reqs.iter().filter(|r| r.is_write()).collect();
    w.sort_by_key(|r| r.received);
    w
}

/// The most writes received within any window of `window` seconds: what a rate limit bounds.
pub fn max_writes_within(writes: &[&Request], window: f64) -> usize {
    let at: Vec<f64> = writes
        .iter()
        .filter_map(|r| r.received)
        .map(|t| t.as_microsecond() as f64 / 1e6)
        .collect();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi] - at[lo] > window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Writes to the Pod object itself (not its status), per Pod name: `(attempted, succeeded)`.
pub fn pod_writes(reqs: &[Request]) -> BTreeMap<String, (usize, usize)> {
    let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in reqs
        .iter()
        .filter(|r| r.resource == "pods" && r.subresource.is_empty() && r.is_write())
    {
        let e = m.entry(r.name.clone()).or_default();
        e.0 += 1;
        if r.ok() {
            e.1 += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_filtered_by_impersonated_user_stage_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let line = |user: &str, stage: &str, ns: &str, verb: &str, sub: &str, code: i64| {
            format!(
                r#"{{"stage":"{stage}","verb":"{verb}","user":{{"username":"admin"}},"impersonatedUser":{{"username":"{user}"}},"objectRef":{{"resource":"pods","namespace":"{ns}","name":"web-0","subresource":"{sub}"}},"responseStatus":{{"code":{code}}},"requestReceivedTimestamp":"2026-01-01T00:00:0{code_s}.250000Z"}}"#,
                code_s = code % 10
            )
        };
        let text = [
            line("rec:a", "ResponseComplete", "a", "patch", "", 200),
            line("rec:a", "ResponseComplete", "a", "patch", "", 422),
            line("rec:a", "ResponseComplete", "a", "patch", "status", 200),
            line("rec:a", "ResponseStarted", "a", "watch", "", 200),
            line("rec:a", "ResponseComplete", "b", "patch", "", 200),
            line("rec:b", "ResponseComplete", "a", "patch", "", 200),
            "not json rec:a".to_string(),
        ]
        .join("\n");
        std::fs::write(&log, text).unwrap();
        let reqs = requests(&log, "rec:a", Some("a")).unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(pod_writes(&reqs)["web-0"], (2, 1));
        assert_eq!(summary(&reqs)["patch pods/status 200"], 1);
        assert_eq!(reqs[1].describe(), "patch pods/web-0 -> 422");
        assert_eq!(requests(&log, "rec:a", None).unwrap().len(), 4);
        assert_eq!(
            reqs[0].received.map(|t| t.as_millisecond() % 10_000),
            Some(250)
        );
    }

    #[test]
    fn the_busiest_window_is_counted() {
        let at = |ms: i64| Request {
            verb: "patch".into(),
            group: String::new(),
            resource: "pods".into(),
            subresource: String::new(),
            namespace: "a".into(),
            name: "p".into(),
            code: 200,
            message: String::new(),
            received: Some(Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()),
        };
        let reqs = [at(1500), at(0), at(2000), at(2100), at(500)];
        let w = writes_in_order(&reqs);
        assert_eq!(w[0].received, at(0).received, "sorted by time");
        assert_eq!(max_writes_within(&w, 0.6), 3, "1500, 2000, 2100");
        assert_eq!(max_writes_within(&w, 0.1), 2, "2000, 2100");
        assert_eq!(max_writes_within(&w, 0.05), 1);
        assert_eq!(max_writes_within(&w, 10.0), 5);
    }
}
