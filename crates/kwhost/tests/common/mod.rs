//! Shared by the integration tests: where kwctl's recorded answers live.

use std::path::PathBuf;

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
