//! kwctl's `--sources-path` file: which registries may be reached without TLS verification
//! (`insecure_sources`) and which extra certificate authorities a registry's TLS needs
//! (`source_authorities`).
//!
//! ```yaml
//! insecure_sources:
//!   - "127.0.0.1:5000"
//! source_authorities:
//!   "registry.internal:5001":
//!     - type: Path
//!       path: /etc/ssl/registry-ca.pem
//!     - type: Data
//!       data: |
//!         -----BEGIN CERTIFICATE-----
//!         ...
//! ```
//!
//! Keys are `host` or `host:port`, exactly as in the OCI reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::files;

/// One certificate authority, PEM-encoded, as kwctl accepts them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum CertificateSource {
    /// A PEM file on disk, read when the registry is contacted.
    Path { path: PathBuf },
    /// The PEM text itself.
    Data { data: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub insecure_sources: BTreeSet<String>,
    #[serde(default)]
    pub source_authorities: BTreeMap<String, Vec<CertificateSource>>,
}

impl Sources {
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_yaml(&files::read_text(path, "sources file")?).map_err(|e| match e {
            Error::Input(m) => Error::Input(format!("sources file {}: {m}", path.display())),
            other => other,
        })
    }

    /// An empty document means "no special sources", as an absent file does.
    pub fn from_yaml(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|e| {
            Error::Input(format!(
                "{e} (expected `insecure_sources: [\"host:port\", ...]` and/or \
                 `source_authorities: {{\"host:port\": [{{type: Path, path: ...}}]}}`)"
            ))
        })
    }

    /// Whether `host_and_port` may be reached over plain HTTP or unverified TLS.
    pub fn is_insecure(&self, host_and_port: &str) -> bool {
        self.insecure_sources.contains(host_and_port)
    }

    /// The PEM certificates to trust for `host_and_port`, besides the system roots.
    pub fn authorities(&self, host_and_port: &str) -> Result<Vec<Vec<u8>>> {
        let Some(sources) = self.source_authorities.get(host_and_port) else {
            return Ok(vec![]);
        };
        sources
            .iter()
            .map(|source| match source {
                CertificateSource::Data { data } => Ok(data.as_bytes().to_vec()),
                CertificateSource::Path { path } => std::fs::read(path).map_err(|e| {
                    Error::Input(format!(
                        "source_authorities[{host_and_port}]: cannot read {}: {e}",
                        path.display()
                    ))
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kwctl_sources_files() {
        let s = Sources::from_yaml(
            "insecure_sources:\n  - \"127.0.0.1:5000\"\nsource_authorities:\n  \"r:5001\":\n    - type: Data\n      data: PEM\n",
        )
        .unwrap();
        assert!(s.is_insecure("127.0.0.1:5000"));
        assert!(!s.is_insecure("127.0.0.1"));
        assert!(!s.is_insecure("127.0.0.1:5001"));
        assert_eq!(s.authorities("r:5001").unwrap(), vec![b"PEM".to_vec()]);
        assert!(s.authorities("127.0.0.1:5000").unwrap().is_empty());
        assert_eq!(Sources::from_yaml("").unwrap(), Sources::default());
    }

    #[test]
    fn a_misspelt_key_is_named() {
        let e = Sources::from_yaml("insecure_source:\n  - a:1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("insecure_source"), "{e}");
        assert!(e.contains("insecure_sources"), "{e}");
    }

    #[test]
    fn an_unreadable_authority_file_names_the_registry_and_the_file() {
        let s = Sources::from_yaml(
            "source_authorities:\n  r:1:\n    - type: Path\n      path: /nonexistent/ca.pem\n",
        )
        .unwrap();
        let e = s.authorities("r:1").unwrap_err().to_string();
        assert!(e.contains("source_authorities[r:1]"), "{e}");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
