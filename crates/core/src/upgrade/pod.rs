//! Read-only views into a raw Pod (`serde_json::Value`), borrowed, never cloned.
//!
//! Pods are untrusted input: every accessor tolerates missing fields and wrong types, answering what
//! Go's decoder would leave in a zero-valued struct (empty string, empty list, false).

use serde_json::{Map, Value};

use super::time::parse_rfc3339;

static EMPTY_LIST: Vec<Value> = Vec::new();

pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn list_at<'a>(v: Option<&'a Value>, key: &str) -> &'a [Value] {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .map_or(EMPTY_LIST.as_slice(), Vec::as_slice)
}

/// One Pod, with the fields the planner reads looked up once.
pub(crate) struct Pod<'a> {
    pub index: usize,
    pub raw: &'a Value,
    pub name: &'a str,
    /// The Pod's namespace, `default` when empty (as Kruise reads it).
    pub namespace: &'a str,
    pub resource_version: &'a str,
    pub labels: Option<&'a Map<String, Value>>,
    pub annotations: Option<&'a Map<String, Value>>,
    pub containers: &'a [Value],
    pub init_containers: &'a [Value],
    pub statuses: &'a [Value],
    pub init_statuses: &'a [Value],
    pub conditions: &'a [Value],
    pub phase: &'a str,
    pub node_name: &'a str,
    pub deleting: bool,
}

impl<'a> Pod<'a> {
    /// `Err` names what makes the value unusable as a Pod this planner may patch.
    pub fn new(index: usize, raw: &'a Value) -> Result<Self, String> {
        let Some(obj) = raw.as_object() else {
            return Err("not a JSON object".into());
        };
        let meta = obj.get("metadata");
        let name = meta.map_or("", |m| str_at(m, "name"));
        if name.is_empty() {
            return Err("metadata.name is missing".into());
        }
        let resource_version = meta.map_or("", |m| str_at(m, "resourceVersion"));
        if resource_version.is_empty() {
            // The patch's `test` op needs it; every Pod read from the API server has one.
            return Err("metadata.resourceVersion is missing".into());
        }
        let namespace = match meta.map_or("", |m| str_at(m, "namespace")) {
            "" => "default",
            ns => ns,
        };
        let spec = obj.get("spec");
        let status = obj.get("status");
        Ok(Pod {
            index,
            raw,
            name,
            namespace,
            resource_version,
            labels: meta
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_object),
            annotations: meta
                .and_then(|m| m.get("annotations"))
                .and_then(Value::as_object),
            containers: list_at(spec, "containers"),
            init_containers: list_at(spec, "initContainers"),
            statuses: list_at(status, "containerStatuses"),
            init_statuses: list_at(status, "initContainerStatuses"),
            conditions: list_at(status, "conditions"),
            phase: status.map_or("", |s| str_at(s, "phase")),
            node_name: spec.map_or("", |s| str_at(s, "nodeName")),
            deleting: meta
                .and_then(|m| m.get("deletionTimestamp"))
                .is_some_and(|v| !v.is_null()),
        })
    }

    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels?.get(key)?.as_str()
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations?.get(key)?.as_str()
    }

    /// Kubernetes' `IsPodActive`: not Succeeded, not Failed, not being deleted.
    pub fn is_active(&self) -> bool {
        self.phase != "Succeeded" && self.phase != "Failed" && !self.deleting
    }

    pub fn container(&self, name: &str) -> Option<(usize, &'a Value)> {
        self.containers
            .iter()
            .enumerate()
            .find(|(_, c)| str_at(c, "name") == name)
    }

    pub fn init_container(&self, name: &str) -> Option<(usize, &'a Value)> {
        self.init_containers
            .iter()
            .enumerate()
            .find(|(_, c)| str_at(c, "name") == name)
    }

    /// Kruise's `util.GetContainer`: init containers first, then containers.
    pub fn has_any_container(&self, name: &str) -> bool {
        self.init_container(name).is_some() || self.container(name).is_some()
    }

    pub fn image_of(&self, name: &str, native: bool) -> Option<&'a str> {
        let c = if native {
            self.init_container(name)
        } else {
            self.container(name)
        };
        c.map(|(_, c)| str_at(c, "image"))
    }

    pub fn status_of(&self, name: &str, native: bool) -> Option<&'a Value> {
        let list = if native {
            self.init_statuses
        } else {
            self.statuses
        };
        list.iter().find(|s| str_at(s, "name") == name)
    }

    pub fn condition(&self, type_: &str) -> Option<&'a Value> {
        self.conditions.iter().find(|c| str_at(c, "type") == type_)
    }

    /// `podutil.IsPodReady`: the Ready condition is True.
    pub fn is_ready_condition(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| str_at(c, "status") == "True")
    }

    /// Kruise's `IsRunningAndReady`: phase Running, Ready=True, not being deleted.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == "Running" && self.is_ready_condition() && !self.deleting
    }

    pub fn creation_time(&self) -> Option<i128> {
        self.raw
            .get("metadata")
            .and_then(|m| m.get("creationTimestamp"))
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
    }

    pub fn ready_time(&self) -> Option<i128> {
        self.condition("Ready")
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
    }

    /// Kubernetes' `maxContainerRestarts`: (regular containers, restartable init containers).
    pub fn max_restarts(&self) -> (i64, i64) {
        let restarts = |s: &Value| s.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let regular = self.statuses.iter().map(restarts).max().unwrap_or(0).max(0);
        let sidecar = self
            .init_statuses
            .iter()
            .filter(|s| {
                self.init_container(str_at(s, "name"))
                    .is_some_and(|(_, c)| str_at(c, "restartPolicy") == "Always")
            })
            .map(restarts)
            .max()
            .unwrap_or(0)
            .max(0);
        (regular, sidecar)
    }
}
