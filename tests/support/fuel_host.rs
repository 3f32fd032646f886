//! `policy.wasm` under wasmtime with fuel metering: how much work (wasm instructions, about one unit
//! of fuel each) one guest call takes, a count that does not depend on the machine's load, where
//! kwhost's epoch deadline (policy-server's time limit) is wall time.
//!
//! kwhost cannot meter fuel: wasmtime-provider creates each `Store` itself and never gives it fuel.
//! So this is a second, minimal waPC host over the same wasmtime: the guest ABI of `wapc-guest`
//! (`__guest_request`, `__guest_response`, `__guest_error`, `__host_call` with its response and
//! error getters, `__console_log`), WASI preview 1, and host calls answered from a kwctl replay
//! session as kwhost answers them. It is for counting (and, unmetered, for timing the guest alone);
//! behaviour is checked through kwhost.

// Each including test uses its own part of this file.
#![allow(dead_code)]

use std::path::Path;

use kwhost::Replay;
use kwhost::replay::{
    GetResourceRequest, HostRequest, ListAllResourcesRequest, ListResourcesByNamespaceRequest,
    ReplayCursor,
};
use wasmtime::{
    Cache, CacheConfig, Caller, Config, Engine, Extern, InstancePre, Linker, Module, Store,
    TypedFunc, format_err,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};

/// Fuel given to each call: far above any limit a test asserts, so that the count is always
/// reported rather than cut short.
const CALL_FUEL: u64 = 1 << 40;

struct State {
    wasi: WasiP1Ctx,
    operation: Vec<u8>,
    payload: Vec<u8>,
    response: Option<Vec<u8>>,
    guest_error: Option<String>,
    host_response: Vec<u8>,
    host_error: Option<String>,
    replay: Option<ReplayCursor>,
}

/// The compiled module with its imports linked; instances come from [`FuelHost::instantiate`].
pub struct FuelHost {
    engine: Engine,
    pre: InstancePre<State>,
    metered: bool,
}

/// One instance, reused across calls as policy-server reuses one.
pub struct FuelInstance {
    store: Store<State>,
    guest_call: TypedFunc<(i32, i32), i32>,
    metered: bool,
}

/// A guest call that returned.
#[derive(Debug)]
pub struct Call {
    /// What the guest answered (`__guest_response`), or its error (`__guest_error`).
    pub answer: Result<Vec<u8>, String>,
    /// The fuel the call used (0 unmetered).
    pub fuel: u64,
}

fn guest_bytes(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(format_err!("the guest exports no memory"));
    };
    let (start, len) = (
        usize::try_from(ptr).map_err(|e| format_err!("{e}"))?,
        usize::try_from(len).map_err(|e| format_err!("{e}"))?,
    );
    memory
        .data(&caller)
        .get(start..start + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("guest range {start}+{len} is outside its memory"))
}

fn write_guest(caller: &mut Caller<'_, State>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(format_err!("the guest exports no memory"));
    };
    let start = usize::try_from(ptr).map_err(|e| format_err!("{e}"))?;
    memory
        .write(caller, start, bytes)
        .map_err(|e| format_err!("{e}"))
}

/// kwhost's answer to a host call (`crates/kwhost/src/host.rs`), without its permission gates: the
/// replay's recorded answer, or an error.
fn host_call(
    state: &mut State,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let request = match (namespace, operation) {
        ("tracing", "log") => return Ok(Vec::new()),
        ("kubernetes", "get_resource") => serde_json::from_slice::<GetResourceRequest>(payload)
            .map(HostRequest::KubernetesGetResource),
        ("kubernetes", "list_resources_by_namespace") => {
            serde_json::from_slice::<ListResourcesByNamespaceRequest>(payload)
                .map(HostRequest::KubernetesListResourceNamespace)
        }
        ("kubernetes", "list_resources_all") => {
            serde_json::from_slice::<ListAllResourcesRequest>(payload)
                .map(HostRequest::KubernetesListResourceAll)
        }
        _ => return Err(format!("unknown host capability {namespace}/{operation}")),
    }
    .map_err(|e| e.to_string())?;
    match state.replay.as_mut() {
        Some(cursor) => cursor.answer(&request),
        None => Err("no replay session: no cluster here".to_owned()),
    }
}

fn link_wapc(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut caller: Caller<'_, State>, op_ptr: i32, ptr: i32| {
            let (operation, payload) = {
                let s = caller.data();
                (s.operation.clone(), s.payload.clone())
            };
            write_guest(&mut caller, ptr, &payload)?;
            write_guest(&mut caller, op_ptr, &operation)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_response",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
            let bytes = guest_bytes(&mut caller, ptr, len)?;
            caller.data_mut().response = Some(bytes);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_error",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
            let bytes = guest_bytes(&mut caller, ptr, len)?;
            caller.data_mut().guest_error = Some(String::from_utf8_lossy(&bytes).into_owned());
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__console_log",
        |_: Caller<'_, State>, _ptr: i32, _len: i32| {},
    )?;
    linker.func_wrap(
        "wapc",
        "__host_call",
        |mut caller: Caller<'_, State>,
         _bd_ptr: i32,
         _bd_len: i32,
         ns_ptr: i32,
         ns_len: i32,
         op_ptr: i32,
         op_len: i32,
         ptr: i32,
         len: i32| {
            let namespace = guest_bytes(&mut caller, ns_ptr, ns_len)?;
            let operation = guest_bytes(&mut caller, op_ptr, op_len)?;
            let payload = guest_bytes(&mut caller, ptr, len)?;
            let state = caller.data_mut();
            let result = host_call(
                state,
                &String::from_utf8_lossy(&namespace),
                &String::from_utf8_lossy(&operation),
                &payload,
            );
            Ok(match result {
                Ok(answer) => {
                    state.host_response = answer;
                    state.host_error = None;
                    1
                }
                Err(e) => {
                    state.host_response.clear();
                    state.host_error = Some(e);
                    0
                }
            })
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response_len",
        |caller: Caller<'_, State>| -> i32 {
            i32::try_from(caller.data().host_response.len()).unwrap_or(i32::MAX)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response",
        |mut caller: Caller<'_, State>, ptr: i32| {
            let bytes = caller.data().host_response.clone();
            write_guest(&mut caller, ptr, &bytes)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error_len",
        |caller: Caller<'_, State>| -> i32 {
            let len = caller.data().host_error.as_ref().map_or(0, String::len);
            i32::try_from(len).unwrap_or(i32::MAX)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |mut caller: Caller<'_, State>, ptr: i32| {
            let bytes = caller.data().host_error.clone().unwrap_or_default();
            write_guest(&mut caller, ptr, bytes.as_bytes())
        },
    )?;
    Ok(())
}

impl FuelHost {
    /// Compiles `module` with fuel metering, or without (`metered: false`: the code policy-server
    /// runs, for timing), cached in `cache_dir`: a debug build of cranelift takes a while over
    /// `policy.wasm`.
    pub fn new(module: &[u8], cache_dir: &Path, metered: bool) -> Self {
        let mut config = Config::new();
        config.consume_fuel(metered);
        let mut cache_config = CacheConfig::new();
        cache_config.with_directory(cache_dir);
        if let Ok(cache) = Cache::new(cache_config) {
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).expect("a fuel-metering engine");
        let module = Module::new(&engine, module).expect("policy.wasm compiles");
        let mut linker = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi).expect("WASI links");
        link_wapc(&mut linker).expect("the waPC imports link");
        let pre = linker
            .instantiate_pre(&module)
            .expect("policy.wasm needs only WASI and waPC");
        Self {
            engine,
            pre,
            metered,
        }
    }

    /// A new instance, initialised as wasmtime-provider does (`_start`, then `wapc_init`).
    pub fn instantiate(&self) -> FuelInstance {
        let state = State {
            wasi: WasiCtxBuilder::new().inherit_stderr().build_p1(),
            operation: Vec::new(),
            payload: Vec::new(),
            response: None,
            guest_error: None,
            host_response: Vec::new(),
            host_error: None,
            replay: None,
        };
        let mut store = Store::new(&self.engine, state);
        if self.metered {
            store.set_fuel(CALL_FUEL).expect("fuel is enabled");
        }
        let instance = self
            .pre
            .instantiate(&mut store)
            .expect("policy.wasm instantiates");
        for start in ["_start", "wapc_init"] {
            if let Ok(f) = instance.get_typed_func::<(), ()>(&mut store, start) {
                f.call(&mut store, ())
                    .unwrap_or_else(|e| panic!("{start}: {e:?}"));
            }
        }
        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .expect("a waPC guest exports __guest_call");
        FuelInstance {
            store,
            guest_call,
            metered: self.metered,
        }
    }
}

impl FuelInstance {
    /// Calls `operation` with `payload`, host calls answered from `replay`. `Err` is a trap.
    pub fn call(
        &mut self,
        operation: &str,
        payload: &[u8],
        replay: Option<&Replay>,
    ) -> Result<Call, String> {
        let state = self.store.data_mut();
        state.operation = operation.as_bytes().to_vec();
        state.payload = payload.to_vec();
        state.response = None;
        state.guest_error = None;
        state.replay = replay.map(Replay::cursor);
        let lengths = (
            i32::try_from(operation.len()).expect("a short operation name"),
            i32::try_from(payload.len()).expect("a payload under 2 GB"),
        );
        if self.metered {
            self.store.set_fuel(CALL_FUEL).expect("fuel is enabled");
        }
        let outcome = self.guest_call.call(&mut self.store, lengths);
        let fuel = if self.metered {
            CALL_FUEL - self.store.get_fuel().expect("fuel is enabled")
        } else {
            0
        };
        let ok = outcome.map_err(|e| format!("trap after {fuel} fuel: {e:?}"))?;
        let state = self.store.data_mut();
        let answer = match (ok, state.response.take(), state.guest_error.take()) {
            (1, Some(response), _) => Ok(response),
            (_, _, Some(error)) => Err(error),
            (code, _, None) => Err(format!("__guest_call returned {code} with no answer")),
        };
        Ok(Call { answer, fuel })
    }
}
