//! Times repeated evaluations of one policy, per-call fresh instances against one reused
//! instance: `cargo run --release -p kwhost --example evaluate_many -- POLICY.wasm REQUEST.json
//! 'SETTINGS-JSON' [N]`.

use std::time::Instant;

use kwhost::{CompilationCache, Policy, PolicyOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, request, settings, rest @ ..] = args.as_slice() else {
        return Err("usage: evaluate_many POLICY.wasm REQUEST.json SETTINGS-JSON [N]".into());
    };
    let n: u32 = rest.first().map_or(Ok(1000), |s| s.parse())?;
    let request: serde_json::Value = serde_json::from_slice(&std::fs::read(request)?)?;
    let settings: serde_json::Value = serde_json::from_str(settings)?;

    let started = Instant::now();
    let policy = Policy::load_with(
        module,
        PolicyOptions {
            compilation_cache: CompilationCache::Disabled,
            ..Default::default()
        },
    )?;
    println!("load (compile + first instance): {:?}", started.elapsed());

    let started = Instant::now();
    for _ in 0..n {
        policy.evaluate(&request, &settings, None)?;
    }
    println!("fresh instance per call: {:?}/call", started.elapsed() / n);

    let mut instance = policy.instantiate();
    instance.evaluate(&request, &settings, None)?;
    let started = Instant::now();
    for _ in 0..n {
        instance.evaluate(&request, &settings, None)?;
    }
    println!("reused instance:         {:?}/call", started.elapsed() / n);
    Ok(())
}
