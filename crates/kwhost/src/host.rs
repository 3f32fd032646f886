//! The waPC host callback: the same gates as policy-evaluator's `host_callback`, in the same
//! order, answered from a replay session instead of a cluster.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::metadata::ContextAwareResource;
use crate::replay::{
    GetResourceRequest, HostRequest, ListAllResourcesRequest, ListResourcesByNamespaceRequest,
    ReplayCursor,
};

type HostResult = std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;

/// `--allowed-host-capabilities`: `*`, `namespace/*`-style prefixes, or exact paths such as
/// `kubernetes/get_resource`. kwctl's default is `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCapabilities {
    patterns: Vec<String>,
}

impl Default for HostCapabilities {
    fn default() -> Self {
        Self {
            patterns: vec!["*".to_owned()],
        }
    }
}

impl HostCapabilities {
    pub fn new<I, S>(patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let patterns: Vec<String> = patterns.into_iter().map(Into::into).collect();
        for pattern in &patterns {
            let star = pattern.find('*');
            let valid = match star {
                None => !pattern.is_empty(),
                Some(i) => i + 1 == pattern.len() && (i == 0 || pattern[..i].ends_with('/')),
            };
            if !valid {
                return Err(Error::Input(format!(
                    "Invalid host capabilities pattern: {pattern}"
                )));
            }
        }
        Ok(Self { patterns })
    }

    pub fn deny_all() -> Self {
        Self {
            patterns: Vec::new(),
        }
    }

    pub fn allows(&self, capability_path: &str) -> bool {
        self.patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => capability_path.starts_with(prefix),
            None => p == capability_path,
        })
    }
}

/// What the policy may reach through host calls during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Empty unless `--allow-context-aware` granted the annotated module's list.
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    pub host_capabilities: HostCapabilities,
}

impl Permissions {
    fn can_access_kubernetes_resource(&self, api_version: &str, kind: &str) -> bool {
        self.context_aware_resources
            .iter()
            .any(|r| r.api_version == api_version && r.kind == kind)
    }
}

/// Shared between a `WapcHost`'s callback and the instance that drives it; the replay cursor is
/// swapped per run.
#[derive(Debug, Default)]
pub(crate) struct HostContext {
    pub(crate) permissions: Permissions,
    pub(crate) replay: Mutex<Option<ReplayCursor>>,
}

impl HostContext {
    pub(crate) fn callback(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> HostResult {
        if binding != "kubewarden" {
            return Err(format!("unknown binding: {binding}").into());
        }
        if namespace == "tracing" {
            // Guest logs are not gated; kwctl prints them as log lines, which are not part of
            // the output this host reproduces.
            return match operation {
                "log" => Ok(Vec::new()),
                _ => Err(format!("unknown operation: {operation}").into()),
            };
        }
        let capability_path = format!("{namespace}/{operation}");
        if !self.permissions.host_capabilities.allows(&capability_path) {
            return Err(format!(
                "Policy has not been granted access to the '{capability_path}' host capability. The violation has been reported."
            )
            .into());
        }
        let request = match (namespace, operation) {
            ("kubernetes", "get_resource") => HostRequest::KubernetesGetResource(
                serde_json::from_slice::<GetResourceRequest>(payload)?,
            ),
            ("kubernetes", "list_resources_by_namespace") => {
                HostRequest::KubernetesListResourceNamespace(serde_json::from_slice::<
                    ListResourcesByNamespaceRequest,
                >(payload)?)
            }
            ("kubernetes", "list_resources_all") => {
                HostRequest::KubernetesListResourceAll(serde_json::from_slice::<
                    ListAllResourcesRequest,
                >(payload)?)
            }
            ("kubernetes", "can_i")
            | ("oci", "v1/verify" | "v2/verify" | "v1/manifest_digest" | "v1/oci_manifest")
            | ("oci", "v1/oci_manifest_config")
            | ("net", "v1/dns_lookup_host")
            | ("crypto", "v1/is_certificate_trusted") => {
                return Err(format!(
                    "Callback evaluation failure: the host capability {capability_path} is not supported by kwhost"
                )
                .into());
            }
            ("oci" | "net" | "crypto" | "kubernetes", _) => {
                return Err(format!("unknown operation: {operation}").into());
            }
            _ => return Err(format!("unknown namespace: {namespace}").into()),
        };
        if let Some((api_version, kind)) = request.kubernetes_resource()
            && !self
                .permissions
                .can_access_kubernetes_resource(api_version, kind)
        {
            return Err(format!(
                "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. The violation has been reported."
            )
            .into());
        }
        let mut replay = self.replay.lock().unwrap_or_else(|e| e.into_inner());
        let answer = match replay.as_mut() {
            Some(cursor) => cursor.answer(&request),
            None => Err(
                "kwhost has no cluster access: pass a session with --replay-host-capabilities-interactions"
                    .to_owned(),
            ),
        };
        answer.map_err(|e| format!("Callback evaluation failure: {e}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Replay;

    const GET_NS: &[u8] = br#"{"api_version":"v1","kind":"Namespace","name":"shop","namespace":null,"disable_cache":false,"field_masks":null}"#;

    fn namespace_resource() -> BTreeSet<ContextAwareResource> {
        [ContextAwareResource {
            api_version: "v1".into(),
            kind: "Namespace".into(),
        }]
        .into()
    }

    fn err(result: HostResult) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn patterns() {
        let caps = HostCapabilities::new(["oci/*", "kubernetes/get_resource"]).unwrap();
        assert!(caps.allows("oci/v1/verify"));
        assert!(caps.allows("kubernetes/get_resource"));
        assert!(!caps.allows("kubernetes/list_resources_all"));
        assert!(HostCapabilities::default().allows("net/v1/dns_lookup_host"));
        assert!(!HostCapabilities::deny_all().allows("kubernetes/get_resource"));
        assert!(HostCapabilities::new(["o*ci"]).is_err());
    }

    #[test]
    fn gates_in_kwctl_order() {
        let ctx = HostContext::default();
        assert_eq!(
            err(ctx.callback("other", "kubernetes", "get_resource", GET_NS)),
            "unknown binding: other"
        );
        assert_eq!(
            err(ctx.callback("kubewarden", "kubernetes", "get_resource", GET_NS)),
            "Policy has not been granted access to Kubernetes v1/Namespace resources. The violation has been reported."
        );
        assert_eq!(
            err(ctx.callback("kubewarden", "kubernetes", "nope", b"{}")),
            "unknown operation: nope"
        );
        assert_eq!(
            err(ctx.callback("kubewarden", "nope", "x", b"{}")),
            "unknown namespace: nope"
        );
        assert!(ctx.callback("kubewarden", "tracing", "log", b"{}").is_ok());

        let denied = HostContext {
            permissions: Permissions {
                context_aware_resources: namespace_resource(),
                host_capabilities: HostCapabilities::deny_all(),
            },
            ..Default::default()
        };
        assert_eq!(
            err(denied.callback("kubewarden", "kubernetes", "get_resource", GET_NS)),
            "Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported."
        );
    }

    #[test]
    fn answers_from_the_replay_once_granted() {
        let replay = Replay::from_yaml(
            "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    api_version: v1\n    kind: Namespace\n    name: shop\n    namespace: null\n    disable_cache: false\n  response:\n    type: Error\n    message: 'namespaces \"shop\" not found'\n",
        )
        .unwrap();
        let ctx = HostContext {
            permissions: Permissions {
                context_aware_resources: namespace_resource(),
                ..Default::default()
            },
            replay: Mutex::new(Some(replay.cursor())),
        };
        assert_eq!(
            err(ctx.callback("kubewarden", "kubernetes", "get_resource", GET_NS)),
            r#"Callback evaluation failure: namespaces "shop" not found"#
        );
        assert!(
            err(ctx.callback("kubewarden", "kubernetes", "get_resource", b"{\"kind\":1}"))
                .contains("invalid type")
        );
    }
}
