//! Shared by the integration tests: where kwctl's recorded answers live, and how the built
//! `kwhost` is run against them.
// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `shared/` sits beside the repository, three levels above this crate. A missing folder is a
/// failure, never a skip: without it nothing here proves kwctl compatibility.
pub fn samples_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kwctl-samples");
    assert!(
        dir.join("cases.json").is_file(),
        "kwctl samples not found: looked for {} (resolved from CARGO_MANIFEST_DIR/../../../shared/kwctl-samples)",
        dir.join("cases.json").display()
    );
    dir.canonicalize().expect("the samples folder resolves")
}

/// The tests' wasmtime cache of compiled modules, kept out of the user's.
pub fn wasmtime_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("kwhost-wasmtime-cache")
}

/// The built `kwhost` with `args`, run in the samples folder (the recorded cases' paths are
/// relative to it) with the tests' compilation cache.
pub fn kwhost<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_kwhost"));
    command
        .args(args)
        .current_dir(samples_dir())
        .env("KWHOST_WASMTIME_CACHE_DIR", wasmtime_cache_dir());
    command
}
