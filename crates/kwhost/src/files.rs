//! The files named on the command line: read and written whole, with errors that say which file
//! it was and what it was for (`cannot read settings file x.yml: No such file or directory`).

use std::path::Path;

use crate::error::{Error, Result};

/// The path of a local policy module given as a path or, as kwctl also takes it, a `file://` URI.
pub fn without_file_scheme(uri: &str) -> &str {
    uri.strip_prefix("file://").unwrap_or(uri)
}

/// The bytes of `path`; `what` names the file in the error (`policy module`, `settings file`…).
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| cannot_read(path, what, &e))
}

/// The text of `path`, which must be UTF-8.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| cannot_read(path, what, &e))
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
}

fn cannot_read(path: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::Input(format!("cannot read {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_its_use() {
        let missing = Path::new("/nonexistent/kwhost/settings.yml");
        let e = read_text(missing, "settings file").unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read settings file /nonexistent/kwhost/settings.yml: "),
            "{e}"
        );
        let e = write(missing, b"x").unwrap_err().to_string();
        assert!(
            e.starts_with("cannot write /nonexistent/kwhost/settings.yml: "),
            "{e}"
        );
    }

    #[test]
    fn file_uris_are_paths() {
        assert_eq!(without_file_scheme("file:///tmp/p.wasm"), "/tmp/p.wasm");
        assert_eq!(without_file_scheme("p.wasm"), "p.wasm");
    }
}
