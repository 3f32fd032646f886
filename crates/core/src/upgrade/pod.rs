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

/// A container of the Pod's spec: what the planner reads of it, looked up once.
pub(crate) struct Ctr<'a> {
    /// Its position in `spec.containers` or `spec.initContainers`.
    pub index: usize,
    pub name: &'a str,
    pub image: &'a str,
    /// `restartPolicy: Always` (a native sidecar, for an init container).
    pub always: bool,
    pub raw: &'a Value,
}

impl<'a> Ctr<'a> {
    fn new(index: usize, raw: &'a Value) -> Self {
        let (mut name, mut image, mut always) = ("", "", false);
        // One pass over the object instead of a B-tree search per field.
        for (k, v) in raw.as_object().into_iter().flatten() {
            match k.as_str() {
                "name" => name = v.as_str().unwrap_or(""),
                "image" => image = v.as_str().unwrap_or(""),
                "restartPolicy" => always = v.as_str() == Some("Always"),
                _ => {}
            }
        }
        Ctr {
            index,
            name,
            image,
            always,
            raw,
        }
    }
}

/// A container status, looked up once.
pub(crate) struct CtrStatus<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub image_id: &'a str,
    pub ready: bool,
    pub restarts: i64,
}

impl<'a> CtrStatus<'a> {
    fn new(raw: &'a Value) -> Self {
        let mut s = CtrStatus {
            name: "",
            image: "",
            image_id: "",
            ready: false,
            restarts: 0,
        };
        for (k, v) in raw.as_object().into_iter().flatten() {
            match k.as_str() {
                "name" => s.name = v.as_str().unwrap_or(""),
                "image" => s.image = v.as_str().unwrap_or(""),
                "imageID" => s.image_id = v.as_str().unwrap_or(""),
                "ready" => s.ready = v.as_bool().unwrap_or(false),
                "restartCount" => s.restarts = v.as_i64().unwrap_or(0),
                _ => {}
            }
        }
        s
    }
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
    pub containers: Vec<Ctr<'a>>,
    pub init_containers: Vec<Ctr<'a>>,
    pub statuses: Vec<CtrStatus<'a>>,
    pub init_statuses: Vec<CtrStatus<'a>>,
    pub phase: &'a str,
    pub node_name: &'a str,
    pub deleting: bool,
    creation: &'a str,
    /// The `Ready` condition: (status, lastTransitionTime).
    ready_condition: Option<(&'a str, &'a str)>,
}

impl<'a> Pod<'a> {
    /// `Err` names what makes the value unusable as a Pod this planner may patch.
    pub fn new(index: usize, raw: &'a Value) -> Result<Self, String> {
        let Some(obj) = raw.as_object() else {
            return Err("not a JSON object".into());
        };
        let (mut name, mut resource_version, mut namespace, mut creation) = ("", "", "", "");
        let (mut labels, mut annotations, mut deleting) = (None, None, false);
        for (k, v) in obj
            .get("metadata")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            match k.as_str() {
                "name" => name = v.as_str().unwrap_or(""),
                "resourceVersion" => resource_version = v.as_str().unwrap_or(""),
                "namespace" => namespace = v.as_str().unwrap_or(""),
                "creationTimestamp" => creation = v.as_str().unwrap_or(""),
                "labels" => labels = v.as_object(),
                "annotations" => annotations = v.as_object(),
                "deletionTimestamp" => deleting = !v.is_null(),
                _ => {}
            }
        }
        if name.is_empty() {
            return Err("metadata.name is missing".into());
        }
        if resource_version.is_empty() {
            // The patch's `test` op needs it; every Pod read from the API server has one.
            return Err("metadata.resourceVersion is missing".into());
        }
        if namespace.is_empty() {
            namespace = "default";
        }
        let spec = obj.get("spec");
        let status = obj.get("status");
        let ctrs = |key: &str| -> Vec<Ctr<'a>> {
            list_at(spec, key)
                .iter()
                .enumerate()
                .map(|(i, c)| Ctr::new(i, c))
                .collect()
        };
        let statuses = |key: &str| -> Vec<CtrStatus<'a>> {
            list_at(status, key).iter().map(CtrStatus::new).collect()
        };
        let ready_condition = list_at(status, "conditions")
            .iter()
            .find(|c| str_at(c, "type") == "Ready")
            .map(|c| (str_at(c, "status"), str_at(c, "lastTransitionTime")));
        Ok(Pod {
            index,
            raw,
            name,
            namespace,
            resource_version,
            labels,
            annotations,
            containers: ctrs("containers"),
            init_containers: ctrs("initContainers"),
            statuses: statuses("containerStatuses"),
            init_statuses: statuses("initContainerStatuses"),
            phase: status.map_or("", |s| str_at(s, "phase")),
            node_name: spec.map_or("", |s| str_at(s, "nodeName")),
            deleting,
            creation,
            ready_condition,
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

    pub fn container(&self, name: &str) -> Option<&Ctr<'a>> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn init_container(&self, name: &str) -> Option<&Ctr<'a>> {
        self.init_containers.iter().find(|c| c.name == name)
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
        c.map(|c| c.image)
    }

    pub fn status_of(&self, name: &str, native: bool) -> Option<&CtrStatus<'a>> {
        let list = if native {
            &self.init_statuses
        } else {
            &self.statuses
        };
        list.iter().find(|s| s.name == name)
    }

    /// `podutil.IsPodReady`: the Ready condition is True.
    pub fn is_ready_condition(&self) -> bool {
        self.ready_condition.is_some_and(|(s, _)| s == "True")
    }

    /// Kruise's `IsRunningAndReady`: phase Running, Ready=True, not being deleted.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == "Running" && self.is_ready_condition() && !self.deleting
    }

    pub fn creation_time(&self) -> Option<i128> {
        parse_rfc3339(self.creation)
    }

    pub fn ready_time(&self) -> Option<i128> {
        self.ready_condition.and_then(|(_, t)| parse_rfc3339(t))
    }

    /// Kubernetes' `maxContainerRestarts`: (regular containers, restartable init containers).
    pub fn max_restarts(&self) -> (i64, i64) {
        let regular = self
            .statuses
            .iter()
            .map(|s| s.restarts)
            .max()
            .unwrap_or(0)
            .max(0);
        let sidecar = self
            .init_statuses
            .iter()
            .filter(|s| self.init_container(s.name).is_some_and(|c| c.always))
            .map(|s| s.restarts)
            .max()
            .unwrap_or(0)
            .max(0);
        (regular, sidecar)
    }
}
