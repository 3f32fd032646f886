//! Building one set's sidecar containers for a given Pod (docs/injection.md#building-the-sidecars):
//! shared volume mounts and devices, transferEnv, `IS_INJECTED`, computed resources, the volume pool,
//! hot-upgrade twins.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use regex_lite::Regex;
use serde_json::{Map, Value, json};

use super::go_encoding;
use crate::SidecarSet;
use crate::annotations;
use crate::error::InjectError;
use crate::fieldpath;
use crate::resources_expr::{self, ResourceExprs, TargetMode};
use crate::settings::{ResourcesPolicy, Settings, SidecarContainer};

/// The env var by which injected sidecars are recognised (by Kruise, by its controller, and here).
pub const IS_INJECTED: &str = "IS_INJECTED";
pub const SIDECARSET_VERSION: &str = "SIDECARSET_VERSION";
pub const SIDECARSET_VERSION_ALT: &str = "SIDECARSET_VERSION_ALT";

pub(crate) fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A container injected by a SidecarSet carries `IS_INJECTED=true`; it is never an "app" container.
pub fn is_injected(container: &Value) -> bool {
    list(container, "env")
        .iter()
        .any(|e| str_of(e, "name") == IS_INJECTED && str_of(e, "value") == "true")
}

/// What one set contributes to a Pod, before merging.
#[derive(Default)]
pub struct Built {
    pub init_containers: Vec<(Value, String)>,
    pub containers: Vec<(Value, String)>,
    pub volumes: Vec<Value>,
    pub sidecar_list: Vec<String>,
    pub hot_upgrade_working: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

/// What every sidecar of one set is built against.
struct PodView<'a> {
    set: &'a Settings,
    pod: &'a Value,
    spec: &'a Value,
    /// The Pod's app containers (neither injected by a set nor about to be replaced by this one):
    /// those whose mounts and devices are shared.
    app: Vec<&'a Value>,
    /// The names of the set's own sidecars, which `resourcesPolicy` never aggregates.
    own_names: BTreeSet<&'a str>,
}

impl<'a> PodView<'a> {
    fn new(set: &'a Settings, pod: &'a Value) -> Self {
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        let own_names: BTreeSet<&str> = set
            .init_containers
            .iter()
            .flatten()
            .chain(set.containers.iter().flatten())
            .map(SidecarContainer::name)
            .collect();
        // The names this set will occupy in the Pod (hot-upgrade twins included). A Pod container of
        // such a name is about to be replaced, so it is not an app container whose volumes the
        // sidecars share. Kruise counts it as one, which makes a second evaluation differ from the
        // first.
        let injected_names: BTreeSet<String> = set
            .init_containers
            .iter()
            .flatten()
            .map(|c| (c, true))
            .chain(set.containers.iter().flatten().map(|c| (c, false)))
            .flat_map(|(c, init)| c.names_in_pod(init))
            .collect();
        let app = list(spec, "containers")
            .iter()
            .filter(|c| !is_injected(c) && !injected_names.contains(str_of(c, "name")))
            .collect();
        PodView {
            set,
            pod,
            spec,
            app,
            own_names,
        }
    }
}

/// Kruise's `buildSidecars` (`pkg/webhook/pod/mutating/sidecarset.go`) for one set: its init
/// containers, then its containers, each built for this Pod.
pub fn build(prepared: &SidecarSet, pod: &Value) -> Result<Built, InjectError> {
    let set = prepared.settings();
    let view = PodView::new(set, pod);
    let mut out = Built::default();
    for (list_name, items) in [
        ("initContainers", &set.init_containers),
        ("containers", &set.containers),
    ] {
        let init = list_name == "initContainers";
        for (i, sc) in items.iter().flatten().enumerate() {
            if !init || sc.is_native_sidecar() {
                out.sidecar_list.push(sc.name().to_string());
            }
            let base = prepared
                .container_value(init, i)
                .cloned()
                .unwrap_or_else(|| json!({"name": sc.name()}));
            let setting = format!("{list_name}[{i}]");
            let c = container(sc, base, &setting, &view, &mut out.volumes)?;
            out.add(sc, c, init);
        }
    }
    out.sidecar_list.sort();
    Ok(out)
}

impl Built {
    /// One built sidecar into its list, with its `podInjectPolicy`; a hot-upgrade one as its two
    /// twins, with their version annotations and the working twin.
    fn add(&mut self, sc: &SidecarContainer, c: Value, init: bool) {
        let policy = sc.pod_inject_policy.clone().unwrap_or_default();
        let target = if init {
            &mut self.init_containers
        } else {
            &mut self.containers
        };
        if !sc.has_hot_twins(init) {
            target.push((c, policy));
            return;
        }
        let (first, second) = hot_upgrade_pair(sc, &c);
        self.hot_upgrade_working
            .push((sc.name().to_string(), str_of(&first, "name").to_string()));
        for (twin, version, alt) in [(&first, "1", "0"), (&second, "0", "1")] {
            let n = str_of(twin, "name");
            self.annotations
                .push((annotations::version_key(n), version.to_string()));
            self.annotations
                .push((annotations::version_alt_key(n), alt.to_string()));
        }
        target.push((first, policy.clone()));
        target.push((second, policy));
    }
}

/// One sidecar for this Pod: computed resources, its volumes into the pool, shared mounts and
/// devices, and the environment Kruise adds.
fn container(
    sc: &SidecarContainer,
    mut c: Value,
    setting: &str,
    view: &PodView<'_>,
    volumes: &mut Vec<Value>,
) -> Result<Value, InjectError> {
    let Value::Object(obj) = &mut c else {
        unreachable!("a Container serialises to an object")
    };
    if let Some(rp) = &sc.resources_policy {
        let r = computed_resources(rp, setting, view.spec, &view.own_names)?;
        obj.insert("resources".into(), r);
    }
    let own_mounts = array_of(obj, "volumeMounts");
    let own_devices = array_of(obj, "volumeDevices");
    pool_volumes(
        view.set,
        own_mounts.iter().chain(own_devices.iter()),
        volumes,
    );

    let (shared, subpath_envs) = if sc.shares_volumes() {
        shared_mounts(&view.app)
    } else {
        (vec![], vec![])
    };
    let mounts = merge_mounts(&own_mounts, &own_devices, shared);
    if sc.shares_devices() {
        let devices = merge_devices(own_devices, &mounts, &view.app);
        if !devices.is_empty() {
            obj.insert("volumeDevices".into(), Value::Array(devices));
        }
    }
    if !mounts.is_empty() {
        obj.insert("volumeMounts".into(), Value::Array(mounts));
    }
    let transfer = transfer_envs(sc, view.pod);
    let env = merge_env(
        array_of(obj, "env"),
        transfer.into_iter().chain(subpath_envs),
    );
    obj.insert("env".into(), Value::Array(env));
    go_encoding::container(obj);
    Ok(c)
}

fn array_of(obj: &Map<String, Value>, key: &str) -> Vec<Value> {
    obj.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The pool: only volumes a sidecar mounts itself (mounts before devices), each once, as Go encodes it.
fn pool_volumes<'v>(
    set: &Settings,
    used: impl Iterator<Item = &'v Value>,
    volumes: &mut Vec<Value>,
) {
    for m in used {
        let name = str_of(m, "name");
        if volumes.iter().any(|v| str_of(v, "name") == name) {
            continue;
        }
        if let Some(v) = set.volumes.iter().flatten().find(|v| v.name == name) {
            let mut v = serde_json::to_value(v).unwrap_or_else(|_| json!({"name": name}));
            go_encoding::volume(&mut v);
            volumes.push(v);
        }
    }
}

/// Own mounts first; a shared mount whose path the sidecar already uses (by a mount or a device) is
/// dropped.
fn merge_mounts(own_mounts: &[Value], own_devices: &[Value], shared: Vec<Value>) -> Vec<Value> {
    let mut used: BTreeSet<String> = own_mounts
        .iter()
        .map(|m| str_of(m, "mountPath").to_string())
        .collect();
    used.extend(
        own_devices
            .iter()
            .map(|d| str_of(d, "devicePath").to_string()),
    );
    let mut mounts = own_mounts.to_vec();
    for m in shared {
        if used.insert(str_of(&m, "mountPath").to_string()) {
            mounts.push(m);
        }
    }
    mounts
}

/// Own devices first, then the app containers' whose path no device or mount of the sidecar uses.
fn merge_devices(own_devices: Vec<Value>, mounts: &[Value], app: &[&Value]) -> Vec<Value> {
    let mut taken: BTreeSet<String> = own_devices
        .iter()
        .map(|d| str_of(d, "devicePath").to_string())
        .collect();
    taken.extend(mounts.iter().map(|m| str_of(m, "mountPath").to_string()));
    let mut devices = own_devices;
    for d in app.iter().flat_map(|a| list(a, "volumeDevices")) {
        if taken.insert(str_of(d, "devicePath").to_string()) {
            devices.push(d.clone());
        }
    }
    devices
}

/// The sidecar's own env, then `IS_INJECTED`, then the transferred and `subPathExpr` variables it
/// does not define itself.
fn merge_env(mut env: Vec<Value>, added: impl Iterator<Item = Value>) -> Vec<Value> {
    // The `subPathExpr` variables come from the Pod, as many as it has mounts: a set of the names
    // taken keeps this one pass.
    let mut taken: HashSet<String> = env.iter().map(|e| str_of(e, "name").to_owned()).collect();
    // Kruise appends IS_INJECTED unconditionally; a user's own IS_INJECTED would then appear twice.
    if taken.insert(IS_INJECTED.to_owned()) {
        env.push(json!({"name": IS_INJECTED, "value": "true"}));
    }
    for e in added {
        if taken.insert(str_of(&e, "name").to_owned()) {
            env.push(e);
        }
    }
    env
}

/// Every volumeMount of every app container, in Pod order, plus the env vars their `subPathExpr` use
/// (a container's first definition of each, once).
fn shared_mounts(app: &[&Value]) -> (Vec<Value>, Vec<Value>) {
    static VAR: OnceLock<Regex> = OnceLock::new();
    let var = VAR
        .get_or_init(|| Regex::new(r"\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)").expect("static regex"));
    let (mut mounts, mut envs) = (Vec::new(), Vec::<Value>::new());
    let mut taken: HashSet<&str> = HashSet::new();
    for a in app {
        // Mounts and env are both the Pod's: looking each variable up by scanning the env would
        // be their product. Built on the first variable, as most mounts have none.
        let mut first_definitions: Option<HashMap<&str, &Value>> = None;
        for m in list(a, "volumeMounts") {
            mounts.push(m.clone());
            for cap in var.captures_iter(str_of(m, "subPathExpr")) {
                let Some(name) = cap.get(1).map(|g| g.as_str()) else {
                    continue;
                };
                if taken.contains(name) {
                    continue;
                }
                let defined = first_definitions.get_or_insert_with(|| {
                    let mut by_name = HashMap::new();
                    for e in list(a, "env") {
                        by_name.entry(str_of(e, "name")).or_insert(e);
                    }
                    by_name
                });
                if let Some(e) = defined.get(name) {
                    taken.insert(name);
                    envs.push((*e).clone());
                }
            }
        }
    }
    (mounts, envs)
}

fn transfer_envs(sc: &SidecarContainer, pod: &Value) -> Vec<Value> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    for t in sc.transfer_env.iter().flatten() {
        let mut names: BTreeSet<&str> = t.env_names.iter().flatten().map(String::as_str).collect();
        if let Some(n) = t.env_name.as_deref().filter(|n| !n.is_empty()) {
            names.insert(n);
        }
        let source = match t
            .source_container_name_from
            .as_ref()
            .and_then(|f| f.field_ref.as_ref())
        {
            Some(f) => match fieldpath::extract(pod, &f.field_path) {
                Some(name) => name,
                None => continue,
            },
            None => t.source_container_name.clone().unwrap_or_default(),
        };
        // Any Pod container may be a source, as in Kruise (it builds the env map from all of them).
        let Some(src) = list(spec, "containers")
            .iter()
            .find(|c| str_of(c, "name") == source)
        else {
            continue;
        };
        for n in names {
            // The last definition of a name wins, as in Kruise's map.
            if let Some(e) = list(src, "env")
                .iter()
                .rev()
                .find(|e| str_of(e, "name") == n)
            {
                out.push(e.clone());
            }
        }
    }
    out
}

fn computed_resources(
    rp: &ResourcesPolicy,
    setting: &str,
    spec: &Value,
    own_names: &BTreeSet<&str>,
) -> Result<Value, InjectError> {
    let err = |message: String| InjectError::Setting {
        field: "spec.containers".to_string(),
        setting: format!("{setting}.resourcesPolicy"),
        message,
    };
    let pattern = rp.target_containers_name_regex.as_deref().unwrap_or(".*");
    let re = Regex::new(pattern).map_err(|e| err(format!("targetContainersNameRegex: {e}")))?;
    let candidates = list(spec, "initContainers")
        .iter()
        .filter(|c| str_of(c, "restartPolicy") == "Always")
        .chain(list(spec, "containers").iter());
    let targets: Vec<&Value> = candidates
        .filter(|c| !is_injected(c))
        .filter(|c| {
            let n = str_of(c, "name");
            re.is_match(n) && !own_names.contains(n)
        })
        .map(|c| c.get("resources").unwrap_or(&Value::Null))
        .collect();
    if targets.is_empty() {
        return Err(err(format!(
            "no container of the Pod matches targetContainersNameRegex {pattern:?}"
        )));
    }
    let mode = if rp.target_containers_mode == "max" {
        TargetMode::Max
    } else {
        TargetMode::Sum
    };
    let e = &rp.resources_expr;
    let exprs = ResourceExprs {
        limits_cpu: e.limits.as_ref().and_then(|p| p.cpu.as_deref()),
        limits_memory: e.limits.as_ref().and_then(|p| p.memory.as_deref()),
        requests_cpu: e.requests.as_ref().and_then(|p| p.cpu.as_deref()),
        requests_memory: e.requests.as_ref().and_then(|p| p.memory.as_deref()),
    };
    resources_expr::compute_resources(mode, &exprs, &targets).map_err(err)
}

/// `X` becomes `X-1` (working, the sidecar's image) and `X-2` (idle, `hotUpgradeEmptyImage`), each
/// told its version through env vars that read the Pod's version annotations.
fn hot_upgrade_pair(sc: &SidecarContainer, built: &Value) -> (Value, Value) {
    let twin = |suffix: &str, image: Option<&str>| {
        let mut c = built.clone();
        let name = format!("{}-{suffix}", sc.name());
        if let Value::Object(o) = &mut c {
            o.insert("name".into(), Value::String(name.clone()));
            if let Some(img) = image {
                o.insert("image".into(), Value::String(img.to_string()));
            }
            let mut env: Vec<Value> = o
                .get("env")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter(|e| {
                            !matches!(
                                str_of(e, "name"),
                                SIDECARSET_VERSION | SIDECARSET_VERSION_ALT
                            )
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for (var, key) in [
                (SIDECARSET_VERSION, annotations::version_key(&name)),
                (SIDECARSET_VERSION_ALT, annotations::version_alt_key(&name)),
            ] {
                let mut field_ref = Map::new();
                field_ref.insert(
                    "fieldPath".into(),
                    Value::String(format!("metadata.annotations['{key}']")),
                );
                env.push(json!({"name": var, "valueFrom": {"fieldRef": field_ref}}));
            }
            o.insert("env".into(), Value::Array(env));
        }
        c
    };
    (
        twin("1", None),
        twin("2", sc.upgrade_strategy.hot_upgrade_empty_image.as_deref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `shared_mounts` and `merge_env` as they were before they kept sets of the names seen (a scan of
    /// the env for each variable, a scan of the kept ones for each addition): the reference for
    /// their output.
    fn shared_then_merged_by_scanning(
        app: &[&Value],
        own_env: Vec<Value>,
    ) -> (Vec<Value>, Vec<Value>) {
        let var = Regex::new(r"\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)").unwrap();
        let (mut mounts, mut envs) = (Vec::new(), Vec::<Value>::new());
        for a in app {
            for m in list(a, "volumeMounts") {
                mounts.push(m.clone());
                for cap in var.captures_iter(str_of(m, "subPathExpr")) {
                    let name = &cap[1];
                    if let Some(e) = list(a, "env").iter().find(|e| str_of(e, "name") == name)
                        && !envs.iter().any(|x| str_of(x, "name") == name)
                    {
                        envs.push(e.clone());
                    }
                }
            }
        }
        let mut env = own_env;
        if !env.iter().any(|e| str_of(e, "name") == IS_INJECTED) {
            env.push(json!({"name": IS_INJECTED, "value": "true"}));
        }
        for e in envs {
            if !env.iter().any(|x| str_of(x, "name") == str_of(&e, "name")) {
                env.push(e);
            }
        }
        (mounts, env)
    }

    fn shared_then_merged(app: &[&Value], own_env: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
        let (mounts, envs) = shared_mounts(app);
        (mounts, merge_env(own_env, envs.into_iter()))
    }

    #[test]
    fn subpath_variables_are_the_first_definition_once_as_scanning_found_them() {
        let web = json!({"name": "web",
            "env": [{"name": "A", "value": "web-1"}, {"name": "A", "value": "web-2"},
                    {"name": "B", "value": "b"}, {"name": "OWN", "value": "pod"}, {"value": "nameless"}],
            "volumeMounts": [
                {"name": "v", "mountPath": "/1", "subPathExpr": "$(A)/$(B)/$(A)/$(MISSING)"},
                {"name": "v", "mountPath": "/2", "subPathExpr": "$(OWN)"},
                {"name": "v", "mountPath": "/3", "subPathExpr": "$()"},
                {"name": "v", "mountPath": "/4", "subPath": "$(B)"}]});
        let api = json!({"name": "api",
            "env": [{"name": "A", "value": "api"}, {"name": "C", "value": "c"}],
            "volumeMounts": [{"name": "v", "mountPath": "/5", "subPathExpr": "$(C)-$(A)"}]});
        let own = vec![
            json!({"name": "OWN", "value": "sidecar"}),
            json!({"name": IS_INJECTED, "value": "no"}),
        ];
        let app = [&web, &api];
        let (mounts, env) = shared_then_merged(&app, own.clone());
        assert_eq!(mounts.len(), 5);
        assert_eq!(
            env,
            vec![
                json!({"name": "OWN", "value": "sidecar"}),
                json!({"name": IS_INJECTED, "value": "no"}),
                json!({"name": "A", "value": "web-1"}),
                json!({"name": "B", "value": "b"}),
                json!({"name": "C", "value": "c"}),
            ]
        );
        assert_eq!((mounts, env), shared_then_merged_by_scanning(&app, own));
        let (_, env) = shared_then_merged(&[], vec![]);
        assert_eq!(env, vec![json!({"name": IS_INJECTED, "value": "true"})]);
    }

    #[test]
    fn a_container_with_30k_subpath_mounts_and_30k_variables_is_shared_in_one_pass() {
        // About what a 3 MB request holds; scanning the env for each mount's variable and the
        // variables kept for each new one is 2e9 comparisons.
        let n = 30_000;
        let app = json!({"name": "app",
            "env": (0..n).map(|i| json!({"name": format!("V{i}"), "value": "x"})).collect::<Vec<_>>(),
            "volumeMounts": (0..n)
                .map(|i| json!({"name": "v", "mountPath": format!("/m{i}"), "subPathExpr": format!("$(V{})", n - 1 - i)}))
                .collect::<Vec<_>>()});
        let (mounts, env) = shared_then_merged(&[&app], vec![]);
        assert_eq!(mounts.len(), n);
        assert_eq!(env.len(), n + 1);
        assert_eq!(env[1], json!({"name": format!("V{}", n - 1), "value": "x"}));
        assert_eq!(env[n], json!({"name": "V0", "value": "x"}));
    }
}
