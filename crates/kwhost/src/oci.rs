//! `kwhost push` / `kwhost pull`: a policy as an OCI artifact, laid out as `kwctl push` lays it
//! out (policy-fetcher's `Registry::push`, on the same `oci-client` crate):
//!
//! - config: `{}` with media type `application/vnd.wasm.config.v1+json`;
//! - one layer: the module's bytes, `application/vnd.wasm.content.layer.v1+wasm`;
//! - manifest annotations: the module's metadata annotations without the multi-line ones
//!   (`io.kubewarden.policy.usage`), plus `org.opencontainers.image.source` copied from
//!   `io.kubewarden.policy.source`.
//!
//! Transport follows kwctl: HTTPS with the system roots (plus `source_authorities`); for a
//! registry listed in `insecure_sources`, then HTTPS without verification, then plain HTTP.
//! Credentials come from a Docker `config.json` (`auths.<registry>.auth`); credential helpers
//! are not supported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::files;
use crate::metadata::PolicyMetadata;
use crate::sources::Sources;
use crate::wasm::WASM_MAGIC;

pub use oci_client::manifest::{WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};

const SOURCE_ANNOTATION: &str = "io.kubewarden.policy.source";
const OCI_SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";

/// What the registry handed back for a policy reference.
#[derive(Debug)]
pub struct Pulled {
    pub module: Vec<u8>,
    pub manifest: OciImageManifest,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
}

/// A registry client configured like kwctl's (`--sources-path`, `--docker-config-json-path`).
#[derive(Debug, Default)]
pub struct Registry {
    sources: Sources,
    docker_config: Option<PathBuf>,
}

impl Registry {
    pub fn new(sources: Sources, docker_config: Option<PathBuf>) -> Self {
        Self {
            sources,
            docker_config,
        }
    }

    /// Pushes `module` to `destination` (`[registry://]host[:port]/path:tag`) and returns the
    /// immutable reference `host[:port]/path@sha256:…`, as `kwctl push` prints it.
    ///
    /// An unannotated module is refused unless `force`, as kwctl does: the policy-server needs
    /// the metadata to know the execution mode and the context-aware permissions.
    pub fn push(&self, module: &[u8], destination: &str, force: bool) -> Result<String> {
        if !module.starts_with(WASM_MAGIC) {
            return Err(Error::Input(
                "the policy file is not a WebAssembly module".to_owned(),
            ));
        }
        let metadata = PolicyMetadata::from_module(module)?;
        if metadata.is_none() && !force {
            return Err(Error::Input(
                "the policy is not annotated: run `kwhost annotate` (or `make \
                 annotated-policy.wasm`) first, or push with --force"
                    .to_owned(),
            ));
        }
        let reference = parse_reference(destination)?;
        let annotations = metadata
            .as_ref()
            .map(|m| manifest_annotations(m.annotations.as_ref()))
            .filter(|a| !a.is_empty());
        let layers = vec![ImageLayer::new(
            module.to_vec(),
            WASM_LAYER_MEDIA_TYPE.to_owned(),
            None,
        )];
        let config = Config {
            data: b"{}".to_vec().into(),
            media_type: WASM_CONFIG_MEDIA_TYPE.to_owned(),
            annotations: None,
        };
        let manifest = OciImageManifest::build(&layers, &config, annotations);
        let auth = self.auth(&reference)?;
        let manifest_url = self.with_transports(&reference, |client| {
            let (reference, layers, config, auth, manifest) =
                (&reference, &layers, config.clone(), &auth, manifest.clone());
            async move {
                client
                    .push(reference, layers, config, auth, Some(manifest))
                    .await
                    .map(|r| r.manifest_url)
            }
        })?;
        immutable_reference(&reference, &manifest_url)
    }

    /// Fetches the manifest and the wasm layer of `source`.
    pub fn pull(&self, source: &str) -> Result<Pulled> {
        let reference = parse_reference(source)?;
        let auth = self.auth(&reference)?;
        let (manifest, digest, module) = self.with_transports(&reference, |client| {
            let (reference, auth) = (&reference, &auth);
            async move {
                let (manifest, digest) = client.pull_manifest(reference, auth).await?;
                let image = match &manifest {
                    OciManifest::Image(image) => image.clone(),
                    OciManifest::ImageIndex(_) => {
                        return Err(oci_client::errors::OciDistributionError::GenericError(
                            Some("an image index, not a policy".to_owned()),
                        ));
                    }
                };
                let layer = image
                    .layers
                    .iter()
                    .find(|l| l.media_type == WASM_LAYER_MEDIA_TYPE)
                    .ok_or_else(|| {
                        oci_client::errors::OciDistributionError::GenericError(Some(format!(
                            "no {WASM_LAYER_MEDIA_TYPE} layer in the manifest"
                        )))
                    })?;
                let mut module = Vec::new();
                client.pull_blob(reference, layer, &mut module).await?;
                Ok((image, digest, module))
            }
        })?;
        if !module.starts_with(WASM_MAGIC) {
            return Err(Error::Registry(format!(
                "{source}: the wasm layer is not a WebAssembly module"
            )));
        }
        Ok(Pulled {
            module,
            manifest,
            digest,
        })
    }

    /// Runs `call` over kwctl's sequence of transports and returns the first success, or the
    /// error of the first attempt (the one a user of a secure registry cares about).
    fn with_transports<T, F, Fut>(&self, reference: &Reference, call: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    {
        // Several rustls providers may be compiled in; choose one, once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let host = reference.resolve_registry().to_owned();
        let mut configs = vec![ClientConfig {
            protocol: ClientProtocol::Https,
            extra_root_certificates: self
                .sources
                .authorities(&host)?
                .into_iter()
                .map(|data| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data,
                })
                .collect(),
            ..ClientConfig::default()
        }];
        if self.sources.is_insecure(&host) {
            configs.push(ClientConfig {
                protocol: ClientProtocol::Https,
                accept_invalid_certificates: true,
                ..ClientConfig::default()
            });
            configs.push(ClientConfig {
                protocol: ClientProtocol::Http,
                ..ClientConfig::default()
            });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Registry(format!("cannot start the async runtime: {e}")))?;
        let mut first_error = None;
        for config in configs {
            match runtime.block_on(call(Client::new(config))) {
                Ok(value) => return Ok(value),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let e = first_error.expect("at least one transport was tried");
        let hint = if self.sources.is_insecure(&host) {
            String::new()
        } else {
            format!(
                " (for a registry without TLS, list \"{host}\" under insecure_sources in a \
                 file passed with --sources-path)"
            )
        };
        Err(Error::Registry(format!(
            "{host}: {}{hint}",
            error_chain(&e)
        )))
    }

    fn auth(&self, reference: &Reference) -> Result<RegistryAuth> {
        let path = match &self.docker_config {
            Some(path) => Some(path.clone()),
            None => default_docker_config(),
        };
        match path {
            Some(path) if path.exists() || self.docker_config.is_some() => {
                docker_auth(&path, reference.resolve_registry())
            }
            _ => Ok(RegistryAuth::Anonymous),
        }
    }
}

/// The manifest annotations kwctl writes for a module's metadata annotations (see the module
/// docs).
pub fn manifest_annotations(
    annotations: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = annotations
        .into_iter()
        .flatten()
        // OCI annotations are single-line in practice; kwctl drops the README (`usage`).
        .filter(|(_, v)| !v.contains('\n'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(source) = out.get(SOURCE_ANNOTATION).cloned() {
        out.insert(OCI_SOURCE_ANNOTATION.to_owned(), source);
    }
    out
}

/// `registry://` is optional, as in kwctl; a reference without a registry is refused rather
/// than silently sent to Docker Hub, which does not take OCI artifacts.
pub fn parse_reference(uri: &str) -> Result<Reference> {
    let bare = uri.strip_prefix("registry://").unwrap_or(uri);
    if let Some(scheme) = ["http://", "https://", "file://"]
        .iter()
        .find(|s| bare.starts_with(*s))
    {
        return Err(Error::Input(format!(
            "{uri}: expected an OCI reference such as 127.0.0.1:5000/policies/name:v1 \
             (optionally prefixed with registry://), not a {scheme} URL"
        )));
    }
    let first = bare.split('/').next().unwrap_or_default();
    if !bare.contains('/') || !(first.contains('.') || first.contains(':') || first == "localhost")
    {
        return Err(Error::Input(format!(
            "{uri}: name the registry host, e.g. ghcr.io/<owner>/policies/<name>:v1 or \
             127.0.0.1:5000/policies/<name>:v1"
        )));
    }
    Reference::from_str(bare).map_err(|e| Error::Input(format!("{uri}: {e}")))
}

/// `host[:port]/repository@digest` from the URL the registry gave for the pushed manifest.
fn immutable_reference(reference: &Reference, manifest_url: &str) -> Result<String> {
    let digest = manifest_url
        .rsplit_once('/')
        .map(|(_, d)| d)
        .filter(|d| {
            d.strip_prefix("sha256:")
                .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .ok_or_else(|| {
            Error::Registry(format!(
                "the registry answered the manifest push with {manifest_url:?}, which carries no \
                 sha256 digest"
            ))
        })?;
    Ok(format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    ))
}

fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker/config.json"))
}

/// Basic credentials for `registry` from a Docker `config.json`; anonymous when it has none.
fn docker_auth(path: &Path, registry: &str) -> Result<RegistryAuth> {
    let text = files::read_text(path, "Docker config")?;
    let config: Value = serde_json::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "cannot parse Docker config {}: {e}",
            path.display()
        ))
    })?;
    let Some(entry) = config.get("auths").and_then(|a| {
        a.get(registry)
            .or_else(|| a.get(format!("https://{registry}").as_str()))
    }) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let Some(encoded) = entry.get("auth").and_then(Value::as_str) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        .ok_or_else(|| {
            Error::Input(format!(
                "Docker config {}: auths[\"{registry}\"].auth is not base64 of user:password",
                path.display()
            ))
        })?;
    Ok(RegistryAuth::Basic(decoded.0, decoded.1))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_kwctls_single_line_ones_plus_the_oci_source() {
        let annotations = BTreeMap::from(
            [
                ("io.kubewarden.policy.title", "sidecarset"),
                ("io.kubewarden.policy.source", "https://github.com/o/r"),
                ("io.kubewarden.policy.usage", "# README\n\ntext"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let a = manifest_annotations(Some(&annotations));
        assert_eq!(
            a,
            BTreeMap::from([
                ("io.kubewarden.policy.title".into(), "sidecarset".into()),
                (
                    "io.kubewarden.policy.source".into(),
                    "https://github.com/o/r".into()
                ),
                (
                    "org.opencontainers.image.source".into(),
                    "https://github.com/o/r".into()
                ),
            ])
        );
        assert!(manifest_annotations(None).is_empty());
    }

    #[test]
    fn references_need_a_registry_and_take_the_optional_scheme() {
        let r = parse_reference("registry://127.0.0.1:5000/policies/sidecarset:0.1.0").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "policies/sidecarset");
        assert_eq!(r.tag(), Some("0.1.0"));
        let r = parse_reference("ghcr.io/o/policies/sidecarset:v0.1.0").unwrap();
        assert_eq!(r.registry(), "ghcr.io");
        for bad in [
            "sidecarset:v1",
            "policies/sidecarset:v1",
            "https://ghcr.io/o/p:v1",
        ] {
            let e = parse_reference(bad).unwrap_err().to_string();
            assert!(e.starts_with(bad), "{e}");
        }
    }

    #[test]
    fn immutable_references_come_from_the_manifest_url() {
        let r = parse_reference("127.0.0.1:5000/policies/sidecarset:0.1.0").unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            immutable_reference(
                &r,
                &format!("http://127.0.0.1:5000/v2/policies/sidecarset/manifests/{digest}")
            )
            .unwrap(),
            format!("127.0.0.1:5000/policies/sidecarset@{digest}")
        );
        assert!(
            immutable_reference(
                &r,
                "http://127.0.0.1:5000/v2/policies/sidecarset/manifests/0.1.0"
            )
            .is_err()
        );
    }

    #[test]
    fn unannotated_modules_are_refused_without_force() {
        let module = b"\0asm\x01\0\0\0";
        let e = Registry::default()
            .push(module, "127.0.0.1:1/p/x:v1", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not annotated"), "{e}");
        let e = Registry::default()
            .push(b"not wasm", "127.0.0.1:1/p/x:v1", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a WebAssembly module"), "{e}");
    }

    #[test]
    fn docker_config_credentials() {
        let dir = std::env::temp_dir().join(format!("kwhost-oci-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"r.example:5000":{"auth":"dXNlcjpwYXNz"},"bad.example":{"auth":"%%"}}}"#,
        )
        .unwrap();
        assert!(matches!(
            docker_auth(&path, "r.example:5000").unwrap(),
            RegistryAuth::Basic(u, p) if u == "user" && p == "pass"
        ));
        assert!(matches!(
            docker_auth(&path, "other.example").unwrap(),
            RegistryAuth::Anonymous
        ));
        let e = docker_auth(&path, "bad.example").unwrap_err().to_string();
        assert!(e.contains("auths[\"bad.example\"].auth"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
