//! What the tests that run cargo again share (tests/artifact.rs, tests/publish.rs, and the cluster
//! tests, which include this file by path).

use std::process::Command;

/// Removes the variables `cargo test` gives a test process (CARGO_PKG_*, CARGO_MANIFEST_DIR, OUT_DIR,
/// ...) from a command that runs cargo again (directly or through make). Build scripts such as ring's
/// watch some of them: passed on, they would make the nested build rebuild half the dependency tree
/// here, and the next plain build (`make e2e-tests`, the next CI run) rebuild it again. Cargo's own
/// configuration (target dir, profiles, registries, network, terminal) stays.
pub fn without_test_cargo_env(cmd: &mut Command) -> &mut Command {
    const KEEP: [&str; 11] = [
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_TERM_",
        "CARGO_INCREMENTAL",
        "CARGO_CACHE_",
    ];
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("CARGO_") && !KEEP.iter().any(|p| k.starts_with(p))) || k == "OUT_DIR" {
            cmd.env_remove(&*k);
        }
    }
    cmd
}
