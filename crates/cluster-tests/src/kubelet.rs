//! Plays the kubelet for one namespace: there is none on the test cluster.
//!
//! A Pod with no running status is started (phase Running, Ready, a status per container with the
//! image ID of its image). When a container's spec image differs from the image its status reports
//! (an in-place upgrade), the container "restarts": first it turns not ready (so the Pod does too),
//! then after `restart_delay` it reports the new image and a new image ID, ready again, unless the
//! image is in `broken_images` (it then crash-loops: new image ID, never ready). Native sidecars
//! (`initContainers` with `restartPolicy: Always`) are handled through `initContainerStatuses`.
//!
//! Status is written with a strategic merge patch of the status subresource, so `conditions` merge by
//! type and the reconciler's `SidecarSetUpgradable` condition survives.
//!
//! Every 100 ms it looks at the Pods the watch reported changed and those with a restart under way,
//! and writes their status up to 16 at a time, so it keeps up with thousands of Pods (the cluster
//! benchmark starts 10,000).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt, reflector, watcher},
};
use serde_json::{Value, json};

use crate::pods::{image_id, now};

#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// How long an image change takes (pull + restart) before the container is ready again.
    pub restart_delay: Duration,
    /// Images that never become ready.
    pub broken_images: HashSet<String>,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        KubeletConfig {
            restart_delay: Duration::from_millis(700),
            broken_images: HashSet::new(),
        }
    }
}

/// Runs until dropped: keep it bound (`let _kubelet = ...`) for as long as the test needs a kubelet.
#[must_use = "the fake kubelet stops when dropped"]
pub struct FakeKubelet {
    config: Arc<Mutex<KubeletConfig>>,
    errors: Arc<Mutex<Vec<String>>>,
    restarts: Arc<Mutex<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeKubelet {
    pub fn start(client: Client, namespace: &str, config: KubeletConfig) -> FakeKubelet {
        let config = Arc::new(Mutex::new(config));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let restarts = Arc::new(Mutex::new(0));
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let task = tokio::spawn(run(api, config.clone(), errors.clone(), restarts.clone()));
        FakeKubelet {
            config,
            errors,
            restarts,
            task,
        }
    }

    pub fn break_image(&self, image: &str) {
        lock(&self.config).broken_images.insert(image.to_string());
    }

    pub fn set_restart_delay(&self, d: Duration) {
        lock(&self.config).restart_delay = d;
    }

    /// Status writes that failed (other than conflicts with a Pod being deleted).
    pub fn errors(&self) -> Vec<String> {
        lock(&self.errors).clone()
    }

    /// Container restarts performed (image changes completed).
    pub fn restarts(&self) -> u64 {
        *lock(&self.restarts)
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Status writes in flight at once: a kubelet per node writes in parallel, and one writer in
/// sequence would take minutes to start thousands of Pods.
const PARALLEL_WRITES: usize = 16;

/// What the loop shares with [`FakeKubelet`].
struct Shared {
    config: Arc<Mutex<KubeletConfig>>,
    errors: Arc<Mutex<Vec<String>>>,
    restarts: Arc<Mutex<u64>>,
    /// Pods to look at next tick: those the watch reported changed, and failed writes.
    dirty: Arc<Mutex<HashSet<String>>>,
}

/// A Pod's next status, to write.
struct StatusWrite {
    name: String,
    uid: String,
    patch: Value,
    /// Restarts it completes.
    finished: u64,
}

async fn run(
    api: Api<Pod>,
    config: Arc<Mutex<KubeletConfig>>,
    errors: Arc<Mutex<Vec<String>>>,
    restarts: Arc<Mutex<u64>>,
) {
    let shared = Shared {
        config,
        errors,
        restarts,
        dirty: Arc::new(Mutex::new(HashSet::new())),
    };
    let (store, watch) = watch_pods(&api, shared.dirty.clone());
    // Aborting this loop (dropping the FakeKubelet) ends the watch with it, instead of leaving it
    // open until the runtime goes: an open watch holds a stopping API server for its whole grace.
    let _watch = AbortOnDrop(watch);
    let _ = store.wait_until_ready().await;
    let mut state = State::default();
    let ns = api.namespace().unwrap_or_default().to_string();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let writes = state.tick(&store, &ns, &shared);
        state.write(&api, writes, &shared).await;
    }
}

/// A reflector over the namespace's Pods that marks each Pod it sees change as dirty, so a tick
/// costs what changed, not the whole namespace.
fn watch_pods(
    api: &Api<Pod>,
    dirty: Arc<Mutex<HashSet<String>>>,
) -> (reflector::Store<Pod>, tokio::task::JoinHandle<()>) {
    let (store, writer) = reflector::store::<Pod>();
    let watch = reflector::reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .for_each(move |p| {
            if let Ok(p) = p {
                lock(&dirty).insert(p.name_any());
            }
            futures::future::ready(())
        });
    (store, tokio::spawn(watch))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Default)]
struct State {
    /// Containers restarting for a new image, since when, by Pod UID and container name.
    restarting: HashMap<String, HashMap<String, Instant>>,
    /// Names of the Pods with a container in `restarting`: looked at every tick until it is done.
    restarting_pods: HashSet<String>,
    /// resourceVersion of our last status write, per Pod UID.
    written: HashMap<String, u64>,
}

fn is_native_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn resource_version(pod: &Pod) -> u64 {
    pod.resource_version()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// One container's status this tick, and whether it changed and finished a restart.
struct ContainerTick {
    status: Value,
    changed: bool,
    finished: u64,
}

impl State {
    /// The status writes the dirty Pods and those restarting need now.
    fn tick(
        &mut self,
        store: &reflector::Store<Pod>,
        ns: &str,
        shared: &Shared,
    ) -> Vec<StatusWrite> {
        let cfg = lock(&shared.config).clone();
        let debug = std::env::var_os("SIDECARSET_KUBELET_DEBUG").is_some();
        let mut names: Vec<String> = std::mem::take(&mut *lock(&shared.dirty))
            .into_iter()
            .collect();
        names.extend(self.restarting_pods.iter().cloned());
        names.sort();
        names.dedup();
        let mut writes = Vec::new();
        for name in names {
            let Some(pod) = store.get(&reflector::ObjectRef::new(&name).within(ns)) else {
                self.restarting_pods.remove(&name);
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                self.restarting_pods.remove(&name);
                continue;
            }
            let uid = pod.uid().unwrap_or_default();
            // Our last write has not reached the cache yet: do not act twice on the same status.
            // Its watch event marks the Pod again.
            let rv = resource_version(&pod);
            if self.written.get(&uid).is_some_and(|w| rv < *w) {
                continue;
            }
            let next = self.next_status(&pod, &cfg);
            if self.restarting.contains_key(&uid) {
                self.restarting_pods.insert(name.clone());
            } else {
                self.restarting_pods.remove(&name);
            }
            let Some((patch, finished)) = next else {
                continue;
            };
            if debug {
                eprintln!("fake-kubelet {ns}/{name} rv {rv}: {patch}");
            }
            writes.push(StatusWrite {
                name,
                uid,
                patch,
                finished,
            });
        }
        writes
    }

    /// Writes the statuses, [`PARALLEL_WRITES`] at a time; a failed write is tried again next tick,
    /// as a kubelet retries its status sync.
    async fn write(&mut self, api: &Api<Pod>, writes: Vec<StatusWrite>, shared: &Shared) {
        let results: Vec<_> = futures::stream::iter(writes)
            .map(|w| async move {
                let res = api
                    .patch_status(
                        &w.name,
                        &PatchParams::default(),
                        &Patch::Strategic(&w.patch),
                    )
                    .await;
                (w, res)
            })
            .buffer_unordered(PARALLEL_WRITES)
            .collect()
            .await;
        for (w, res) in results {
            match res {
                Ok(p) => {
                    self.written.insert(w.uid, resource_version(&p));
                    *lock(&shared.restarts) += w.finished;
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    lock(&shared.errors).push(format!("{}: {e}", w.name));
                    lock(&shared.dirty).insert(w.name);
                }
            }
        }
    }

    /// The status patch this Pod needs now, and how many restarts it completes; `None` when nothing
    /// changes.
    fn next_status(&mut self, pod: &Pod, cfg: &KubeletConfig) -> Option<(Value, u64)> {
        let spec = pod.spec.as_ref()?;
        let uid = pod.uid().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let started = status.phase.as_deref() == Some("Running");
        let old: HashMap<String, Value> = status
            .container_statuses
            .iter()
            .flatten()
            .chain(status.init_container_statuses.iter().flatten())
            .map(|s| (s.name.clone(), serde_json::to_value(s).unwrap_or_default()))
            .collect();
        let ts = now();
        let mut changed = !started;
        let mut finished = 0;
        let mut statuses = Vec::new();
        let mut native_statuses = Vec::new();
        let mut all_ready = true;

        let sidecars_and_apps = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| is_native_sidecar(c))
            .map(|c| (c, true))
            .chain(spec.containers.iter().map(|c| (c, false)));
        for (c, native) in sidecars_and_apps {
            let t = self.container_tick(&uid, c, old.get(&c.name), started, cfg, &ts);
            changed |= t.changed;
            finished += t.finished;
            all_ready &= t.status["ready"] == true;
            if native {
                native_statuses.push(t.status);
            } else {
                statuses.push(t.status);
            }
        }
        if !changed {
            return None;
        }
        let init_statuses = init_statuses(spec, &old, native_statuses, &uid, &ts);
        let st = pod_status(pod, &status, statuses, init_statuses, all_ready, &ts);
        Some((json!({"status": st}), finished))
    }

    /// A container whose spec image differs from its status' restarts: first not ready (the runtime
    /// stops the old container; same image ID until the new one runs), then after `restart_delay`
    /// running the new image, with a new image ID.
    fn container_tick(
        &mut self,
        uid: &str,
        c: &Container,
        cur: Option<&Value>,
        started: bool,
        cfg: &KubeletConfig,
        ts: &str,
    ) -> ContainerTick {
        let image = c.image.clone().unwrap_or_default();
        let broken = cfg.broken_images.contains(&image);
        let since = self
            .restarting
            .get(uid)
            .and_then(|r| r.get(&c.name))
            .copied();
        let unchanged = |status: &Value| ContainerTick {
            status: status.clone(),
            changed: false,
            finished: 0,
        };
        match cur {
            Some(cur) if started && cur["image"] == image.as_str() => unchanged(cur),
            Some(cur) if started => match since {
                None => {
                    self.restarting
                        .entry(uid.to_string())
                        .or_default()
                        .insert(c.name.clone(), Instant::now());
                    let mut s = cur.clone();
                    s["ready"] = json!(false);
                    s["started"] = json!(false);
                    s["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
                    ContainerTick {
                        status: s,
                        changed: true,
                        finished: 0,
                    }
                }
                Some(t) if t.elapsed() >= cfg.restart_delay => {
                    if let Some(r) = self.restarting.get_mut(uid) {
                        r.remove(&c.name);
                        if r.is_empty() {
                            self.restarting.remove(uid);
                        }
                    }
                    let restarts = cur["restartCount"].as_i64().unwrap_or(0) + 1;
                    ContainerTick {
                        status: running(uid, &c.name, &image, restarts, broken, ts),
                        changed: true,
                        finished: 1,
                    }
                }
                Some(_) => unchanged(cur),
            },
            _ => ContainerTick {
                status: running(uid, &c.name, &image, 0, broken, ts),
                changed: true,
                finished: 0,
            },
        }
    }
}

/// Init container statuses in spec order (as Kubernetes lists them): plain init containers ran to
/// completion before the Pod started; native sidecars as computed.
fn init_statuses(
    spec: &PodSpec,
    old: &HashMap<String, Value>,
    native_statuses: Vec<Value>,
    uid: &str,
    ts: &str,
) -> Vec<Value> {
    let plain_inits = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !is_native_sidecar(c))
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            old.get(&c.name).cloned().unwrap_or_else(|| {
                json!({"name": c.name, "image": image, "imageID": image_id(&image),
                       "containerID": format!("containerd://{}", short(uid, &c.name, 0)),
                       "ready": true, "started": false, "restartCount": 0,
                       "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                 "startedAt": ts, "finishedAt": ts}}})
            })
        });
    let mut by_name: HashMap<String, Value> = plain_inits
        .chain(native_statuses)
        .map(|s| (s["name"].as_str().unwrap_or("").to_string(), s))
        .collect();
    spec.init_containers
        .iter()
        .flatten()
        .filter_map(|c| by_name.remove(&c.name))
        .collect()
}

/// A Running Pod's status: conditions keep their transition time while their status holds.
fn pod_status(
    pod: &Pod,
    status: &PodStatus,
    statuses: Vec<Value>,
    init_statuses: Vec<Value>,
    all_ready: bool,
    ts: &str,
) -> Value {
    let ready = if all_ready { "True" } else { "False" };
    let cond = |type_: &str, status: &str| {
        let since = match status_conditions(pod, type_) {
            Some((s, t)) if s == status => t,
            _ => ts.to_string(),
        };
        json!({"type": type_, "status": status, "lastTransitionTime": since, "lastProbeTime": null})
    };
    let mut st = json!({
        "phase": "Running",
        "startTime": status.start_time.as_ref().map(|t| t.0.to_string()).unwrap_or_else(|| ts.to_string()),
        "hostIP": "127.0.0.1",
        "podIP": "10.244.0.10",
        "conditions": [
            cond("PodScheduled", "True"),
            cond("Initialized", "True"),
            cond("ContainersReady", ready),
            cond("Ready", ready),
        ],
        "containerStatuses": statuses,
    });
    if !init_statuses.is_empty() {
        st["initContainerStatuses"] = Value::Array(init_statuses);
    }
    st
}

fn status_conditions(pod: &Pod, type_: &str) -> Option<(String, String)> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                c.status.clone(),
                c.last_transition_time
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .unwrap_or_default(),
            )
        })
}

fn short(uid: &str, name: &str, restarts: i64) -> String {
    image_id(&format!("{uid}/{name}/{restarts}"))
        .rsplit(':')
        .next()
        .unwrap_or("0")
        .to_string()
}

fn running(uid: &str, name: &str, image: &str, restarts: i64, broken: bool, ts: &str) -> Value {
    let state = if broken {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}})
    } else {
        json!({"running": {"startedAt": ts}})
    };
    json!({
        "name": name,
        "image": image,
        "imageID": image_id(image),
        "containerID": format!("containerd://{}", short(uid, name, restarts)),
        "ready": !broken,
        "started": !broken,
        "restartCount": restarts,
        "state": state,
    })
}
