//! Where the checkers `make tools` builds from the Go module proxy (helm, promtool, actionlint)
//! are: hack/tools/build-tools.sh names them. Shared by tests/chart.rs and the cluster tests, which
//! include this file by path.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The path of tool `name` under the repository at `root`, or why it cannot be used (missing: build
/// it with `make tools`).
pub fn tool(root: &Path, name: &str) -> Result<PathBuf, String> {
    let out = Command::new(root.join("hack/tools/build-tools.sh"))
        .arg("--print")
        .output()
        .map_err(|e| format!("running hack/tools/build-tools.sh --print: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "hack/tools/build-tools.sh --print failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let prefix = format!("{name} ");
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(PathBuf::from))
        .ok_or_else(|| format!("hack/tools/build-tools.sh --print names no {name}"))?;
    if !path.is_file() {
        return Err(format!(
            "{} is missing: build it with `make tools` (hack/tools/build-tools.sh; {name} from the \
             Go module proxy)",
            path.display()
        ));
    }
    Ok(path)
}
