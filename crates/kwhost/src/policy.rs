//! Loading a policy once and evaluating it many times.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use wapc::WapcHost;
use wasmtime_provider::wasmtime::{Cache, CacheConfig, Config, Engine};
use wasmtime_provider::{EpochDeadlines, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

use crate::error::{Error, Result};
use crate::files;
use crate::host::{HostCapabilities, HostContext, Permissions};
use crate::metadata::{ContextAwareResource, PolicyMetadata, WAPC_EXECUTION_MODE};
use crate::replay::{Replay, ReplayCursor};
use crate::request::AdmissionRequest;
use crate::response::{AdmissionResponse, SettingsValidation, TIMEOUT_MESSAGE, ValidationResponse};

/// How often the epoch ticker advances when a time limit is set. policy-server ticks once a
/// second; a finer tick lets tests use sub-second limits without changing what a limit means.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Which Kubernetes types a run may read (kwctl's `ContextAwareConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ContextAware {
    /// kwctl without `--allow-context-aware`: nothing.
    #[default]
    Deny,
    /// `--allow-context-aware`: what the annotated module's `contextAwareResources` lists; an
    /// unannotated module gets nothing.
    TrustMetadata,
    /// An explicit grant, as a policy CR's `spec.contextAwareResources` gives.
    AllowList(BTreeSet<ContextAwareResource>),
}

/// wasmtime's on-disk cache of compiled modules. kwctl uses it unless told
/// `--disable-wasmtime-cache`; compiling a policy costs seconds in a debug build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CompilationCache {
    #[default]
    Disabled,
    /// wasmtime's default place (`~/.cache/wasmtime` on Linux).
    Default,
    /// An absolute directory.
    Directory(PathBuf),
}

/// Per-policy settings of the host, fixed at load time.
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    pub compilation_cache: CompilationCache,
    /// Epoch-based limit on `wapc_init` and on each guest call, as policy-server has. kwctl has
    /// none, so the default is none.
    pub timeout: Option<Duration>,
    pub context_aware: ContextAware,
    pub host_capabilities: HostCapabilities,
}

/// A compiled, linked policy module. `Send + Sync`: evaluations that go through [`Policy`]
/// get a fresh instance each (as policy-server rehydrates per request); a caller that wants to
/// skip instantiation keeps a [`PolicyInstance`].
pub struct Policy {
    pre: WasmtimeEngineProviderPre,
    epoch_deadlines: Option<EpochDeadlines>,
    metadata: Option<PolicyMetadata>,
    permissions: Permissions,
    protocol_version: Option<String>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("epoch_deadlines", &self.epoch_deadlines)
            .field("metadata", &self.metadata)
            .field("permissions", &self.permissions)
            .field("protocol_version", &self.protocol_version)
            .finish_non_exhaustive()
    }
}

/// An evaluation's answer plus what kwctl would have warned about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub response: AdmissionResponse,
    /// Recorded exchanges the policy never asked for.
    pub unused_exchanges: usize,
}

#[derive(Serialize)]
struct ValidatePayload<'a> {
    request: &'a AdmissionRequest,
    settings: &'a Map<String, Value>,
}

impl Policy {
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, PolicyOptions::default())
    }

    pub fn load_with(path: impl AsRef<Path>, options: PolicyOptions) -> Result<Self> {
        let bytes = files::read(path.as_ref(), "policy module")?;
        Self::from_bytes_with(&bytes, options)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, PolicyOptions::default())
    }

    pub fn from_bytes_with(bytes: &[u8], options: PolicyOptions) -> Result<Self> {
        let metadata = PolicyMetadata::from_module(bytes)?;
        if let Some(m) = &metadata {
            check_runs_here(m)?;
        }
        let mut warnings = Vec::new();
        let engine = engine(&options, &mut warnings)?;
        let pre = WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module_bytes(bytes)
            .build_pre()
            .map_err(|e| Error::Load(format!("cannot load the policy module: {e}")))?;
        let epoch_deadlines = options.timeout.map(epoch_deadlines);
        if epoch_deadlines.is_some() {
            spawn_epoch_ticker(&engine);
        }
        let context_aware_resources =
            granted_resources(options.context_aware, metadata.as_ref(), &mut warnings);
        let mut policy = Self {
            pre,
            epoch_deadlines,
            metadata,
            permissions: Permissions {
                context_aware_resources,
                host_capabilities: options.host_capabilities,
            },
            protocol_version: None,
            warnings,
        };
        // Instantiating once here surfaces link and `wapc_init` failures at load time.
        let mut instance = policy.instantiate();
        instance.ensure_host()?;
        policy.protocol_version = instance.protocol_version();
        Ok(policy)
    }

    pub fn metadata(&self) -> Option<&PolicyMetadata> {
        self.metadata.as_ref()
    }

    /// What `protocol_version` answered at load (`"v1"` for current SDKs), if it answered.
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }

    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }

    /// The warnings kwctl would log for this load (never part of its output).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A reusable instance; the wasm instance itself is created on first use.
    pub fn instantiate(&self) -> PolicyInstance<'_> {
        PolicyInstance {
            policy: self,
            ctx: Arc::new(HostContext {
                permissions: self.permissions.clone(),
                replay: Mutex::new(None),
            }),
            host: None,
        }
    }

    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        self.instantiate().validate_settings(settings)
    }

    /// Evaluates a bare `AdmissionRequest` or an `AdmissionReview` without validating the
    /// settings first (policy-server validates them once at start-up).
    pub fn evaluate(
        &self,
        request: &Value,
        settings: &Value,
        replay: Option<&Replay>,
    ) -> Result<AdmissionResponse> {
        self.instantiate().evaluate(request, settings, replay)
    }

    /// What `kwctl run` does: settings checked and validated first, then one evaluation.
    pub fn run(
        &self,
        request: &Value,
        settings: &Value,
        replay: Option<&Replay>,
    ) -> Result<Evaluation> {
        self.instantiate().run(request, settings, replay)
    }
}

/// Modules this host cannot run are refused before they are compiled.
fn check_runs_here(metadata: &PolicyMetadata) -> Result<()> {
    if !metadata.is_wapc() {
        return Err(Error::Unsupported(format!(
            "execution mode {}; only {WAPC_EXECUTION_MODE} policies run here",
            metadata.execution_mode
        )));
    }
    if metadata.policy_type == "raw" {
        return Err(Error::Unsupported("raw policies".to_owned()));
    }
    Ok(())
}

/// A wasmtime engine with epoch interruption when a time limit is set, and the compilation
/// cache asked for. A cache that cannot be set up only costs time, as in kwctl: a warning.
fn engine(options: &PolicyOptions, warnings: &mut Vec<String>) -> Result<Engine> {
    let mut config = Config::default();
    config.epoch_interruption(options.timeout.is_some());
    let cache_config = match &options.compilation_cache {
        CompilationCache::Disabled => None,
        CompilationCache::Default => Some(CacheConfig::new()),
        CompilationCache::Directory(dir) => {
            let mut cache_config = CacheConfig::new();
            cache_config.with_directory(dir);
            Some(cache_config)
        }
    };
    if let Some(cache_config) = cache_config {
        match Cache::new(cache_config) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => warnings.push(format!("wasmtime cache disabled: {e}")),
        }
    }
    Engine::new(&config).map_err(|e| Error::Load(e.to_string()))
}

/// The same limit for `wapc_init` and for each guest call, in ticks of [`EPOCH_TICK`].
fn epoch_deadlines(timeout: Duration) -> EpochDeadlines {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    EpochDeadlines {
        wapc_init: ticks,
        wapc_func: ticks,
    }
}

/// The Kubernetes types the run may read, with kwctl's warnings when the policy asks for more.
fn granted_resources(
    context_aware: ContextAware,
    metadata: Option<&PolicyMetadata>,
    warnings: &mut Vec<String>,
) -> BTreeSet<ContextAwareResource> {
    match context_aware {
        ContextAware::Deny => {
            if metadata.is_some_and(|m| !m.context_aware_resources.is_empty()) {
                warnings.push("Policy requires access to Kubernetes resources at evaluation time. During this execution the access to Kubernetes resources is denied. This can cause the policy to not behave properly".to_owned());
            }
            BTreeSet::new()
        }
        ContextAware::TrustMetadata => match metadata {
            Some(m) => m.context_aware_resources.clone(),
            None => {
                warnings.push(
                    "Policy is not annotated, access to Kubernetes resources is not allowed"
                        .to_owned(),
                );
                BTreeSet::new()
            }
        },
        ContextAware::AllowList(list) => list,
    }
}

fn spawn_epoch_ticker(engine: &Engine) {
    // A weak handle lets the thread end on its own once the last user of the engine is gone.
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("kwhost-epoch".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    // Without the thread the deadline never fires; that only loses the limit, so carry on.
    drop(spawned);
}

/// Settings as kwctl passes them: `null` is `{}`, anything but an object is refused.
pub fn settings_object(settings: &Value) -> Result<Map<String, Value>> {
    match settings {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map.clone()),
        _ => Err(Error::SettingsNotAnObject),
    }
}

/// The request and settings of an evaluation, checked in kwctl's order: settings first.
fn inputs(request: &Value, settings: &Value) -> Result<(AdmissionRequest, Map<String, Value>)> {
    let settings = settings_object(settings)?;
    let request = AdmissionRequest::from_input(request)?;
    Ok((request, settings))
}

enum CallError {
    Instantiate(Error),
    Guest(wapc::errors::Error),
}

/// One wasm instance of a [`Policy`], reused across calls. It is dropped and rebuilt after any
/// failed guest call, because a trap or an interrupted call can leave guest memory half-written.
pub struct PolicyInstance<'p> {
    policy: &'p Policy,
    ctx: Arc<HostContext>,
    host: Option<WapcHost>,
}

impl PolicyInstance<'_> {
    fn ensure_host(&mut self) -> Result<&WapcHost> {
        if self.host.is_none() {
            let provider = self
                .policy
                .pre
                .rehydrate(self.policy.epoch_deadlines)
                .map_err(|e| Error::Load(format!("cannot instantiate the policy: {e}")))?;
            let ctx = Arc::clone(&self.ctx);
            let host = WapcHost::new(
                Box::new(provider),
                Some(Box::new(
                    move |_id, binding, namespace, operation, payload| {
                        ctx.callback(binding, namespace, operation, payload)
                    },
                )),
            )
            .map_err(|e| Error::Load(format!("cannot instantiate the policy: {e}")))?;
            self.host = Some(host);
        }
        Ok(self.host.as_ref().expect("just set"))
    }

    /// What the guest answers to `protocol_version`, if it answers with a JSON string.
    fn protocol_version(&mut self) -> Option<String> {
        let answer = self.call("protocol_version", b"").ok()?;
        serde_json::from_slice(&answer).ok()
    }

    fn call(&mut self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let host = self.ensure_host().map_err(CallError::Instantiate)?;
        let result = host.call(operation, payload);
        if result.is_err() {
            self.host = None;
        }
        result.map_err(CallError::Guest)
    }

    fn set_replay(&self, cursor: Option<ReplayCursor>) -> Option<ReplayCursor> {
        let mut slot = self.ctx.replay.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *slot, cursor)
    }

    pub fn validate_settings(&mut self, settings: &Value) -> Result<SettingsValidation> {
        let settings = settings_object(settings)?;
        self.validate_settings_object(&settings)
    }

    fn validate_settings_object(
        &mut self,
        settings: &Map<String, Value>,
    ) -> Result<SettingsValidation> {
        let payload = serde_json::to_vec(settings).expect("a JSON map always serialises");
        Ok(match self.call("validate_settings", &payload) {
            Ok(bytes) => serde_json::from_slice::<SettingsValidation>(&bytes).unwrap_or_else(|e| {
                SettingsValidation {
                    valid: false,
                    message: Some(format!(
                        "Error deserializing settings validation response: {e:?}"
                    )),
                }
            }),
            Err(CallError::Instantiate(e)) => return Err(e),
            // kwctl reports the wapc error with `{:?}`: `GuestCallFailure("…")`.
            Err(CallError::Guest(e)) => SettingsValidation {
                valid: false,
                message: Some(format!(
                    "Error invoking settings validation callback: {e:?}"
                )),
            },
        })
    }

    pub fn evaluate(
        &mut self,
        request: &Value,
        settings: &Value,
        replay: Option<&Replay>,
    ) -> Result<AdmissionResponse> {
        let (request, settings) = inputs(request, settings)?;
        Ok(self
            .evaluate_admission_request(&request, &settings, replay)?
            .response)
    }

    /// The evaluation step alone, for callers that built the request and settings already.
    pub fn evaluate_admission_request(
        &mut self,
        request: &AdmissionRequest,
        settings: &Map<String, Value>,
        replay: Option<&Replay>,
    ) -> Result<Evaluation> {
        self.with_replay(replay, |instance| instance.validate(request, settings))
    }

    pub fn run(
        &mut self,
        request: &Value,
        settings: &Value,
        replay: Option<&Replay>,
    ) -> Result<Evaluation> {
        let (request, settings) = inputs(request, settings)?;
        // One session serves both calls, as kwctl's single callback handler does.
        self.with_replay(replay, |instance| instance.run_steps(&request, &settings))
    }

    /// Runs `steps` with host calls answered from `replay`, and counts the exchanges it left.
    fn with_replay(
        &mut self,
        replay: Option<&Replay>,
        steps: impl FnOnce(&mut Self) -> Result<AdmissionResponse>,
    ) -> Result<Evaluation> {
        self.set_replay(replay.map(Replay::cursor));
        let response = steps(self);
        let unused_exchanges = self.set_replay(None).map_or(0, |cursor| cursor.remaining());
        Ok(Evaluation {
            response: response?,
            unused_exchanges,
        })
    }

    fn run_steps(
        &mut self,
        request: &AdmissionRequest,
        settings: &Map<String, Value>,
    ) -> Result<AdmissionResponse> {
        let validation = self.validate_settings_object(settings)?;
        if !validation.valid {
            return Err(Error::InvalidSettings(
                validation.message.unwrap_or_default(),
            ));
        }
        self.validate(request, settings)
    }

    fn validate(
        &mut self,
        request: &AdmissionRequest,
        settings: &Map<String, Value>,
    ) -> Result<AdmissionResponse> {
        let payload = serde_json::to_vec(&ValidatePayload { request, settings })
            .expect("the validate payload always serialises");
        let uid = request.uid.clone();
        Ok(match self.call("validate", &payload) {
            Ok(bytes) => match serde_json::from_slice::<ValidationResponse>(&bytes) {
                Ok(answer) => AdmissionResponse::from_validation_response(
                    uid,
                    request.object.as_ref(),
                    answer,
                ),
                Err(e) => AdmissionResponse::reject_internal_server_error(
                    uid,
                    format!("cannot deserialize policy validation response: {e:?}"),
                ),
            },
            Err(CallError::Instantiate(e)) => return Err(e),
            Err(CallError::Guest(e)) if is_interruption(&e) => {
                AdmissionResponse::reject(uid, TIMEOUT_MESSAGE.to_owned(), 500)
            }
            Err(CallError::Guest(e)) => AdmissionResponse::reject_internal_server_error(uid, e),
        })
    }
}

/// wasmtime-provider turns an epoch trap into this guest error text.
fn is_interruption(error: &wapc::errors::Error) -> bool {
    matches!(error, wapc::errors::Error::GuestCallFailure(msg)
        if msg.contains("guest code interrupted, execution deadline exceeded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Policy>();
    }

    #[test]
    fn settings_objects() {
        assert_eq!(settings_object(&Value::Null).unwrap(), Map::new());
        assert_eq!(
            settings_object(&serde_json::json!(["a"]))
                .unwrap_err()
                .to_string(),
            "Invalid settings in CRD, not an object"
        );
    }
}
