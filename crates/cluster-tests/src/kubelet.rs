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
use k8s_openapi::api::core::v1::{Container, Pod};
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

async fn run(
    api: Api<Pod>,
    config: Arc<Mutex<KubeletConfig>>,
    errors: Arc<Mutex<Vec<String>>>,
    restarts: Arc<Mutex<u64>>,
) {
    let (store, writer) = reflector::store::<Pod>();
    // Only Pods the watch reports changed are looked at again (and those with a restart under way),
    // so a tick costs what changed, not the whole namespace.
    let dirty = Arc::new(Mutex::new(HashSet::<String>::new()));
    let marks = dirty.clone();
    let watch = reflector::reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .for_each(move |p| {
            if let Ok(p) = p {
                lock(&marks).insert(p.name_any());
            }
            futures::future::ready(())
        });
    tokio::spawn(watch);
    let _ = store.wait_until_ready().await;
    let mut state = State::default();
    let debug = std::env::var_os("SIDECARSET_KUBELET_DEBUG").is_some();
    let ns = api.namespace().unwrap_or_default().to_string();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let cfg = lock(&config).clone();
        let mut names: Vec<String> = std::mem::take(&mut *lock(&dirty)).into_iter().collect();
        names.extend(state.restarting_pods.iter().cloned());
        names.sort();
        names.dedup();
        let mut patches = Vec::new();
        for name in names {
            let Some(pod) = store.get(&reflector::ObjectRef::new(&name).within(&ns)) else {
                state.restarting_pods.remove(&name);
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                state.restarting_pods.remove(&name);
                continue;
            }
            let uid = pod.uid().unwrap_or_default();
            // Our last write has not reached the cache yet: do not act twice on the same status.
            // Its watch event marks the Pod again.
            let rv: u64 = pod
                .resource_version()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            if state.written.get(&uid).is_some_and(|w| rv < *w) {
                continue;
            }
            let next = state.next_status(&pod, &cfg);
            if state.restarting.contains_key(&uid) {
                state.restarting_pods.insert(name.clone());
            } else {
                state.restarting_pods.remove(&name);
            }
            let Some((patch, finished)) = next else {
                continue;
            };
            if debug {
                eprintln!("fake-kubelet {ns}/{name} rv {rv}: {patch}");
            }
            patches.push((name, uid, patch, finished));
        }
        let api = &api;
        let results: Vec<_> = futures::stream::iter(patches)
            .map(|(name, uid, patch, finished)| async move {
                let res = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await;
                (name, uid, finished, res)
            })
            .buffer_unordered(PARALLEL_WRITES)
            .collect()
            .await;
        for (name, uid, finished, res) in results {
            match res {
                Ok(p) => {
                    let rv = p
                        .resource_version()
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                    state.written.insert(uid, rv);
                    *lock(&restarts) += finished;
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    lock(&errors).push(format!("{name}: {e}"));
                    // Tried again next tick, as a kubelet retries its status sync.
                    lock(&dirty).insert(name);
                }
            }
        }
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

impl State {
    /// The status patch this Pod needs now, and how many restarts it completes; `None` when nothing changes.
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
        let mut init_statuses = Vec::new();
        let mut all_ready = true;

        let sidecars_and_apps = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| is_native_sidecar(c))
            .map(|c| (c, true))
            .chain(spec.containers.iter().map(|c| (c, false)));
        for (c, native) in sidecars_and_apps {
            let image = c.image.clone().unwrap_or_default();
            let broken = cfg.broken_images.contains(&image);
            let since = self
                .restarting
                .get(&uid)
                .and_then(|r| r.get(&c.name))
                .copied();
            let st = match old.get(&c.name) {
                Some(cur) if started && cur["image"] == image.as_str() => cur.clone(),
                Some(cur) if started => match since {
                    None => {
                        // The runtime stops the old container: not ready, same image ID until the new one runs.
                        self.restarting
                            .entry(uid.clone())
                            .or_default()
                            .insert(c.name.clone(), Instant::now());
                        changed = true;
                        let mut s = cur.clone();
                        s["ready"] = json!(false);
                        s["started"] = json!(false);
                        s["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
                        s
                    }
                    Some(t) if t.elapsed() >= cfg.restart_delay => {
                        if let Some(r) = self.restarting.get_mut(&uid) {
                            r.remove(&c.name);
                            if r.is_empty() {
                                self.restarting.remove(&uid);
                            }
                        }
                        changed = true;
                        finished += 1;
                        let restarts = cur["restartCount"].as_i64().unwrap_or(0) + 1;
                        running(&uid, &c.name, &image, restarts, broken, &ts)
                    }
                    Some(_) => cur.clone(),
                },
                _ => {
                    changed = true;
                    running(&uid, &c.name, &image, 0, broken, &ts)
                }
            };
            all_ready &= st["ready"] == true;
            if native {
                init_statuses.push(st);
            } else {
                statuses.push(st);
            }
        }
        if !changed {
            return None;
        }
        // Plain init containers ran to completion before the Pod started.
        let plain_inits = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| !is_native_sidecar(c))
            .map(|c| {
                let image = c.image.clone().unwrap_or_default();
                old.get(&c.name).cloned().unwrap_or_else(|| {
                    json!({"name": c.name, "image": image, "imageID": image_id(&image),
                           "containerID": format!("containerd://{}", short(&uid, &c.name, 0)),
                           "ready": true, "started": false, "restartCount": 0,
                           "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                     "startedAt": ts, "finishedAt": ts}}})
                })
            });
        // Kubernetes lists init container statuses in spec order.
        let mut by_name: HashMap<String, Value> = plain_inits
            .chain(init_statuses)
            .map(|s| (s["name"].as_str().unwrap_or("").to_string(), s))
            .collect();
        let init_ordered: Vec<Value> = spec
            .init_containers
            .iter()
            .flatten()
            .filter_map(|c| by_name.remove(&c.name))
            .collect();

        let ready = if all_ready { "True" } else { "False" };
        let cond = |type_: &str, status: &str| {
            let prev = status_conditions(pod, type_);
            let since = match prev {
                Some((s, t)) if s == status => t,
                _ => ts.clone(),
            };
            json!({"type": type_, "status": status, "lastTransitionTime": since, "lastProbeTime": null})
        };
        let mut st = json!({
            "phase": "Running",
            "startTime": status.start_time.map(|t| t.0.to_string()).unwrap_or_else(|| ts.clone()),
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
        if !init_ordered.is_empty() {
            st["initContainerStatuses"] = Value::Array(init_ordered);
        }
        Some((json!({"status": st}), finished))
    }
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
