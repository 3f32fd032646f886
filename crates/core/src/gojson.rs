//! Go `encoding/json` output for a SidecarSet's containers, as Kruise hashes them.
//!
//! Kruise hashes `json.Marshal(map{"containers": …, "initContainers": …})` of its Go structs, so the
//! hashed bytes depend on Go's field order, `omitempty` rules and string escaping — not on the JSON a
//! user wrote. We cannot run Go, so this module carries a static schema of Kruise v1.9's
//! `apps/v1beta1.SidecarContainer` over `k8s.io/api` v0.32 `core/v1.Container` and prints a
//! `serde_json::Value` the way Go would print the struct decoded from it. Keys the structs do not
//! have are ignored, as Kubernetes' decoder ignores them; fields added to `Container` after 1.32
//! (`restartPolicyRules`, `lifecycle.stopSignal`, `env[].valueFrom.fileKeyRef`, …) therefore never
//! reach the hash, exactly as on a Kruise built against v0.32.
//!
//! The same schema approach encodes the rest of a SidecarSet spec that Kruise's revision history
//! records (`volumes`, `imagePullSecrets`, `patchPodMetadata`: [`encode_list`]), and
//! [`write_go_interface`] prints a document the way Go re-encodes it after decoding it into
//! `interface{}` (what `sidecarcontrol.getPatch` does with the SidecarSet).
//!
//! `hack/hash-vectors` cross-checks the hash input against real Go; `tests/hash_vectors.rs` replays
//! it, and `tests/revision_vectors.rs` does the same for the revision data.

use serde_json::{Map, Value};

mod volume;

/// Go encoding of `{"containers": …, "initContainers": …}` as Kruise builds it.
///
/// `initContainers` is added (the whole list, plain init containers included) only when at least one
/// of them has `restartPolicy: Always`. `None` stands for a nil Go slice and encodes as `null`;
/// `Some(&[])` is an empty non-nil slice and encodes as `[]`. With `without_image` every container's
/// and init container's `image` is blanked first (it is `omitempty`, so it disappears), which is how
/// Kruise computes its image-less hash; `upgradeStrategy.hotUpgradeEmptyImage` is kept.
pub fn encode_hash_input(
    containers: Option<&[Value]>,
    init_containers: Option<&[Value]>,
    without_image: bool,
) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"containers\":");
    write_container_list(&mut out, containers, without_image);
    if let Some(init) = init_containers.filter(|list| list.iter().any(is_native_sidecar)) {
        out.push_str(",\"initContainers\":");
        write_container_list(&mut out, Some(init), without_image);
    }
    out.push('}');
    out
}

/// Kruise's `IsSidecarContainer`: a restartable init container (Kubernetes native sidecar).
fn is_native_sidecar(container: &Value) -> bool {
    container.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

fn write_container_list(out: &mut String, list: Option<&[Value]>, without_image: bool) {
    let skip = if without_image { Some("image") } else { None };
    write_slice(out, list, |out, container| {
        write_struct(out, container.as_object(), SIDECAR_CONTAINER, skip)
    });
}

/// A list field of Kruise's v1beta1 `SidecarSetSpec`, for [`encode_list`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecList {
    /// `containers` and `initContainers`: `[]SidecarContainer`.
    Containers,
    /// `volumes`: `[]core/v1.Volume`.
    Volumes,
    /// `imagePullSecrets`: `[]core/v1.LocalObjectReference`.
    ImagePullSecrets,
    /// `patchPodMetadata`: `[]SidecarSetPatchPodMetadata`.
    PatchPodMetadata,
}

/// Go's encoding of one of the spec's lists, each item decoded into its Go struct first. `None` is a
/// nil slice and prints `null`.
pub fn encode_list(kind: SpecList, items: Option<&[Value]>) -> String {
    let fields = match kind {
        SpecList::Containers => SIDECAR_CONTAINER,
        SpecList::Volumes => volume::VOLUME,
        SpecList::ImagePullSecrets => volume::LOCAL_OBJECT_REFERENCE,
        SpecList::PatchPodMetadata => PATCH_POD_METADATA,
    };
    let mut out = String::with_capacity(256);
    write_slice(&mut out, items, |out, item| {
        write_struct(out, item.as_object(), fields, None)
    });
    out
}

/// Go's `json.Marshal` of a document decoded into `interface{}`: object keys sorted, every number a
/// `float64` (so `2^53 + 1` prints `9007199254740992` and `1e21` prints `1e+21`), Go's string
/// escaping. This is how Kruise's `getPatch` re-encodes a SidecarSet for its revision data.
pub fn write_go_interface(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_go_float(out, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => write_go_string(out, s),
        Value::Array(a) => write_slice(out, Some(a), write_go_interface),
        Value::Object(_) => write_map(out, Some(v), |out, x| {
            write_go_interface(out, x.unwrap_or(&Value::Null))
        }),
    }
}

/// `encoding/json`'s `floatEncoder` for a `float64`: the shortest text that reads back as the same
/// number, in plain notation from 1e-6 to below 1e21 and in exponent notation (`1e+21`, `1e-7`)
/// outside. A non-finite number cannot come out of JSON; it prints `0` rather than fail.
pub fn write_go_float(out: &mut String, f: f64) {
    use std::fmt::Write as _;
    if !f.is_finite() {
        out.push('0');
        return;
    }
    let abs = f.abs();
    // Writing to a String cannot fail.
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        // Rust prints `1e21` and `1e-7`; Go `1e+21` and `1e-07`, which its encoder trims to `1e-7`.
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&text),
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Kruise v1beta1 `SidecarSetPatchPodMetadata`.
const PATCH_POD_METADATA: &[Field] = &[opt("annotations", StrMap), opt("patchPolicy", Str)];

/// Appends `s` as Go's encoder does with HTML escaping on (the `json.Marshal` default).
pub fn write_go_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go escapes the remaining C0 controls and the HTML-sensitive <, >, & as \u00XX, and
            // U+2028/U+2029 because they break JavaScript string literals.
            '\u{00}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let code = c as u32;
                out.push_str("\\u");
                for shift in [12u32, 8, 4, 0] {
                    out.push(char::from(HEX[((code >> shift) & 0xf) as usize]));
                }
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// The Go type of a field, as far as its JSON encoding is concerned.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    /// `intstr.IntOrString`: a struct (never omitted) that prints as a number or a string.
    IntOrString,
    /// `resource.Quantity`: a struct (never omitted) that prints as a string; zero prints `"0"`.
    Quantity,
    StrList,
    /// `map[string]string`: keys sorted, as Go prints maps.
    StrMap,
    /// `metav1.Time`: a struct (never omitted) that prints `null` when zero, else its RFC 3339 text.
    Time,
    /// `metav1.FieldsV1` and other raw JSON: printed as Go re-encodes a decoded document.
    Raw,
    /// `core/v1.ResourceList`, `map[ResourceName]Quantity`.
    QuantityMap,
    Struct(&'static [Field]),
    StructList(&'static [Field]),
}

#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    ty: Ty,
    omitempty: bool,
    /// A Go pointer: nil (absent or JSON null) is its only empty value, and it prints `null`.
    pointer: bool,
}

/// Value field with `omitempty`.
const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        omitempty: true,
        pointer: false,
    }
}

/// Value field without `omitempty`: its zero value is always printed.
const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        omitempty: false,
        pointer: false,
    }
}

/// Pointer field with `omitempty`: omitted only when nil, so `false`, `0` and `{}` are printed.
const fn ptr(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        omitempty: true,
        pointer: true,
    }
}

/// Pointer field without `omitempty`: nil prints `null`.
const fn ptr_req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        omitempty: false,
        pointer: true,
    }
}

use Ty::{
    Bool, Int, IntOrString, Quantity, QuantityMap, Raw, Str, StrList, StrMap, Struct, StructList,
    Time,
};

// Embedded structs (`json:",inline"`) are flattened in place: Go promotes their fields into the
// parent's JSON object at the embedding's position.

const CONTAINER_PORT: &[Field] = &[
    opt("name", Str),
    opt("hostPort", Int),
    req("containerPort", Int),
    opt("protocol", Str),
    opt("hostIP", Str),
];

/// `ConfigMapEnvSource` and `SecretEnvSource`: inlined `LocalObjectReference` + `optional`.
const ENV_SOURCE_REF: &[Field] = &[opt("name", Str), ptr("optional", Bool)];

const ENV_FROM_SOURCE: &[Field] = &[
    opt("prefix", Str),
    ptr("configMapRef", Struct(ENV_SOURCE_REF)),
    ptr("secretRef", Struct(ENV_SOURCE_REF)),
];

const OBJECT_FIELD_SELECTOR: &[Field] = &[opt("apiVersion", Str), req("fieldPath", Str)];

const RESOURCE_FIELD_SELECTOR: &[Field] = &[
    opt("containerName", Str),
    req("resource", Str),
    // A struct: `omitempty` never omits it, an unset divisor prints "0".
    opt("divisor", Quantity),
];

/// `ConfigMapKeySelector` and `SecretKeySelector`.
const KEY_SELECTOR: &[Field] = &[opt("name", Str), req("key", Str), ptr("optional", Bool)];

const ENV_VAR_SOURCE: &[Field] = &[
    ptr("fieldRef", Struct(OBJECT_FIELD_SELECTOR)),
    ptr("resourceFieldRef", Struct(RESOURCE_FIELD_SELECTOR)),
    ptr("configMapKeyRef", Struct(KEY_SELECTOR)),
    ptr("secretKeyRef", Struct(KEY_SELECTOR)),
];

const ENV_VAR: &[Field] = &[
    req("name", Str),
    opt("value", Str),
    ptr("valueFrom", Struct(ENV_VAR_SOURCE)),
];

const RESOURCE_CLAIM: &[Field] = &[req("name", Str), opt("request", Str)];

const RESOURCE_REQUIREMENTS: &[Field] = &[
    opt("limits", QuantityMap),
    opt("requests", QuantityMap),
    opt("claims", StructList(RESOURCE_CLAIM)),
];

const CONTAINER_RESIZE_POLICY: &[Field] = &[req("resourceName", Str), req("restartPolicy", Str)];

const VOLUME_MOUNT: &[Field] = &[
    req("name", Str),
    opt("readOnly", Bool),
    ptr("recursiveReadOnly", Str),
    req("mountPath", Str),
    opt("subPath", Str),
    ptr("mountPropagation", Str),
    opt("subPathExpr", Str),
];

const VOLUME_DEVICE: &[Field] = &[req("name", Str), req("devicePath", Str)];

const EXEC_ACTION: &[Field] = &[opt("command", StrList)];

const HTTP_HEADER: &[Field] = &[req("name", Str), req("value", Str)];

const HTTP_GET_ACTION: &[Field] = &[
    opt("path", Str),
    req("port", IntOrString),
    opt("host", Str),
    opt("scheme", Str),
    opt("httpHeaders", StructList(HTTP_HEADER)),
];

const TCP_SOCKET_ACTION: &[Field] = &[req("port", IntOrString), opt("host", Str)];

// `service` is a *string without omitempty: unset prints `"service":null`.
const GRPC_ACTION: &[Field] = &[req("port", Int), ptr_req("service", Str)];

/// `Probe` with its inlined `ProbeHandler`.
const PROBE: &[Field] = &[
    ptr("exec", Struct(EXEC_ACTION)),
    ptr("httpGet", Struct(HTTP_GET_ACTION)),
    ptr("tcpSocket", Struct(TCP_SOCKET_ACTION)),
    ptr("grpc", Struct(GRPC_ACTION)),
    opt("initialDelaySeconds", Int),
    opt("timeoutSeconds", Int),
    opt("periodSeconds", Int),
    opt("successThreshold", Int),
    opt("failureThreshold", Int),
    ptr("terminationGracePeriodSeconds", Int),
];

const SLEEP_ACTION: &[Field] = &[req("seconds", Int)];

const LIFECYCLE_HANDLER: &[Field] = &[
    ptr("exec", Struct(EXEC_ACTION)),
    ptr("httpGet", Struct(HTTP_GET_ACTION)),
    ptr("tcpSocket", Struct(TCP_SOCKET_ACTION)),
    ptr("sleep", Struct(SLEEP_ACTION)),
];

const LIFECYCLE: &[Field] = &[
    ptr("postStart", Struct(LIFECYCLE_HANDLER)),
    ptr("preStop", Struct(LIFECYCLE_HANDLER)),
];

const CAPABILITIES: &[Field] = &[opt("add", StrList), opt("drop", StrList)];

const SE_LINUX_OPTIONS: &[Field] = &[
    opt("user", Str),
    opt("role", Str),
    opt("type", Str),
    opt("level", Str),
];

const WINDOWS_SECURITY_CONTEXT_OPTIONS: &[Field] = &[
    ptr("gmsaCredentialSpecName", Str),
    ptr("gmsaCredentialSpec", Str),
    ptr("runAsUserName", Str),
    ptr("hostProcess", Bool),
];

/// `SeccompProfile` and `AppArmorProfile`.
const PROFILE: &[Field] = &[req("type", Str), ptr("localhostProfile", Str)];

const SECURITY_CONTEXT: &[Field] = &[
    ptr("capabilities", Struct(CAPABILITIES)),
    ptr("privileged", Bool),
    ptr("seLinuxOptions", Struct(SE_LINUX_OPTIONS)),
    ptr("windowsOptions", Struct(WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    ptr("runAsUser", Int),
    ptr("runAsGroup", Int),
    ptr("runAsNonRoot", Bool),
    ptr("readOnlyRootFilesystem", Bool),
    ptr("allowPrivilegeEscalation", Bool),
    ptr("procMount", Str),
    ptr("seccompProfile", Struct(PROFILE)),
    ptr("appArmorProfile", Struct(PROFILE)),
];

const UPGRADE_STRATEGY: &[Field] = &[opt("upgradeType", Str), opt("hotUpgradeEmptyImage", Str)];

const SHARE_VOLUME_POLICY: &[Field] = &[opt("type", Str)];

const SOURCE_CONTAINER_NAME_SOURCE: &[Field] = &[ptr("fieldRef", Struct(OBJECT_FIELD_SELECTOR))];

const TRANSFER_ENV_VAR: &[Field] = &[
    opt("sourceContainerName", Str),
    ptr(
        "sourceContainerNameFrom",
        Struct(SOURCE_CONTAINER_NAME_SOURCE),
    ),
    opt("envName", Str),
    opt("envNames", StrList),
];

const RESOURCE_EXPR: &[Field] = &[opt("cpu", Str), opt("memory", Str)];

const RESOURCES_EXPR: &[Field] = &[
    ptr("limits", Struct(RESOURCE_EXPR)),
    ptr("requests", Struct(RESOURCE_EXPR)),
];

// The CRD requires targetContainersMode and resourcesExpr, i.e. their Go fields carry no omitempty.
const RESOURCES_POLICY: &[Field] = &[
    req("targetContainersMode", Str),
    opt("targetContainersNameRegex", Str),
    req("resourcesExpr", Struct(RESOURCES_EXPR)),
];

/// Kruise v1beta1 `SidecarContainer`: the inlined core/v1 `Container` (v0.32 field order), then
/// Kruise's own fields.
const SIDECAR_CONTAINER: &[Field] = &[
    req("name", Str),
    opt("image", Str),
    opt("command", StrList),
    opt("args", StrList),
    opt("workingDir", Str),
    opt("ports", StructList(CONTAINER_PORT)),
    opt("envFrom", StructList(ENV_FROM_SOURCE)),
    opt("env", StructList(ENV_VAR)),
    opt("resources", Struct(RESOURCE_REQUIREMENTS)),
    opt("resizePolicy", StructList(CONTAINER_RESIZE_POLICY)),
    ptr("restartPolicy", Str),
    opt("volumeMounts", StructList(VOLUME_MOUNT)),
    opt("volumeDevices", StructList(VOLUME_DEVICE)),
    ptr("livenessProbe", Struct(PROBE)),
    ptr("readinessProbe", Struct(PROBE)),
    ptr("startupProbe", Struct(PROBE)),
    ptr("lifecycle", Struct(LIFECYCLE)),
    opt("terminationMessagePath", Str),
    opt("terminationMessagePolicy", Str),
    opt("imagePullPolicy", Str),
    ptr("securityContext", Struct(SECURITY_CONTEXT)),
    opt("stdin", Bool),
    opt("stdinOnce", Bool),
    opt("tty", Bool),
    opt("podInjectPolicy", Str),
    opt("upgradeStrategy", Struct(UPGRADE_STRATEGY)),
    opt("shareVolumePolicy", Struct(SHARE_VOLUME_POLICY)),
    ptr("shareVolumeDevicePolicy", Struct(SHARE_VOLUME_POLICY)),
    opt("transferEnv", StructList(TRANSFER_ENV_VAR)),
    ptr("resourcesPolicy", Struct(RESOURCES_POLICY)),
];

/// `obj` is `None` for a zero struct (absent, null or not an object). `skip` names a field to treat
/// as unset, which is how the image-less hash blanks `image` without copying the container.
fn write_struct(
    out: &mut String,
    obj: Option<&Map<String, Value>>,
    fields: &[Field],
    skip: Option<&str>,
) {
    out.push('{');
    let mut first = true;
    for field in fields {
        // Go leaves a field at its zero value when the JSON holds null for it.
        let value = obj
            .and_then(|m| m.get(field.name))
            .filter(|v| !v.is_null() && skip != Some(field.name));
        let omit = if field.pointer {
            field.omitempty && value.is_none()
        } else {
            field.omitempty && is_zero(value, field.ty)
        };
        if omit {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_go_string(out, field.name);
        out.push(':');
        match value {
            None if field.pointer => out.push_str("null"),
            _ => write_value(out, value, field.ty),
        }
    }
    out.push('}');
}

/// Go's `omitempty` test for a value (non-pointer) field holding what `value` decodes to.
fn is_zero(value: Option<&Value>, ty: Ty) -> bool {
    match ty {
        Str => as_str(value).is_empty(),
        Int => match value.and_then(Value::as_number) {
            Some(n) => n.as_f64() == Some(0.0),
            None => true,
        },
        Bool => !as_bool(value),
        StrList | StructList(_) => value.and_then(Value::as_array).is_none_or(Vec::is_empty),
        QuantityMap | StrMap => value.and_then(Value::as_object).is_none_or(Map::is_empty),
        Raw => value.is_none(),
        // Structs are never empty to encoding/json, whatever they hold.
        IntOrString | Quantity | Struct(_) | Time => false,
    }
}

fn as_str(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or("")
}

fn as_bool(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool).unwrap_or(false)
}

/// Prints the Go value decoded from `value` (`None` = the type's zero value).
fn write_value(out: &mut String, value: Option<&Value>, ty: Ty) {
    match ty {
        Str => write_go_string(out, as_str(value)),
        Int => write_int(out, value),
        Bool => out.push_str(if as_bool(value) { "true" } else { "false" }),
        IntOrString => match value {
            Some(Value::String(s)) => write_go_string(out, s),
            other => write_int(out, other),
        },
        Quantity => write_quantity(out, value),
        StrList => write_slice(out, as_slice(value), |out, item| {
            write_go_string(out, item.as_str().unwrap_or(""))
        }),
        QuantityMap => write_map(out, value, write_quantity),
        StrMap => write_map(out, value, |out, v| write_go_string(out, as_str(v))),
        Time => match value {
            Some(Value::String(s)) if !s.is_empty() => write_go_string(out, s),
            _ => out.push_str("null"),
        },
        Raw => match value {
            Some(v) => write_go_interface(out, v),
            None => out.push_str("null"),
        },
        Struct(fields) => write_struct(out, value.and_then(Value::as_object), fields, None),
        StructList(fields) => write_slice(out, as_slice(value), |out, item| {
            write_struct(out, item.as_object(), fields, None)
        }),
    }
}

/// A Go slice: `null` when nil, else the items in order.
fn write_slice(out: &mut String, items: Option<&[Value]>, write: impl Fn(&mut String, &Value)) {
    let Some(items) = items else {
        out.push_str("null");
        return;
    };
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(']');
}

fn as_slice(value: Option<&Value>) -> Option<&[Value]> {
    value.and_then(Value::as_array).map(Vec::as_slice)
}

/// A Go map: `null` when nil, else keys sorted (Go sorts map keys; sorting here keeps the output
/// independent of serde_json's map ordering features).
fn write_map(out: &mut String, value: Option<&Value>, write: impl Fn(&mut String, Option<&Value>)) {
    let Some(map) = value.and_then(Value::as_object) else {
        out.push_str("null");
        return;
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_go_string(out, key);
        out.push(':');
        write(out, map.get(key.as_str()));
    }
    out.push('}');
}

fn write_int(out: &mut String, value: Option<&Value>) {
    use std::fmt::Write as _;
    let Some(n) = value.and_then(Value::as_number) else {
        out.push('0');
        return;
    };
    // Writing to a String cannot fail.
    let _ = if let Some(i) = n.as_i64() {
        write!(out, "{i}")
    } else if let Some(u) = n.as_u64() {
        write!(out, "{u}")
    } else {
        // Go rejects a fractional number for an integer field; truncation keeps us total.
        write!(out, "{}", n.as_f64().unwrap_or(0.0) as i64)
    };
}

/// Quantities are printed as Go prints them after decoding (`Quantity.UnmarshalJSON`, then
/// `MarshalJSON`): the settings' defaulting has already done that for container resources, not for
/// a volume's `sizeLimit` or a `divisor`. Text that does not parse is printed as given (Kubernetes
/// would have refused it).
fn write_quantity(out: &mut String, value: Option<&Value>) {
    match value {
        Some(Value::String(s)) if !s.is_empty() => {
            match crate::quantity::Quantity::from_json_str(s) {
                Ok(q) => write_go_string(out, &q.to_go_string()),
                Err(_) => write_go_string(out, s),
            }
        }
        Some(Value::Number(n)) => write_go_string(out, &n.to_string()),
        _ => out.push_str("\"0\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(containers: Value) -> String {
        let list = containers.as_array().cloned().unwrap_or_default();
        encode_hash_input(Some(&list), None, false)
    }

    #[test]
    fn absent_list_is_null_and_empty_list_is_brackets() {
        assert_eq!(
            encode_hash_input(None, None, false),
            r#"{"containers":null}"#
        );
        assert_eq!(
            encode_hash_input(Some(&[]), None, false),
            r#"{"containers":[]}"#
        );
    }

    #[test]
    fn struct_fields_are_never_omitted() {
        assert_eq!(
            enc(json!([{"name": "c", "image": "i"}])),
            r#"{"containers":[{"name":"c","image":"i","resources":{},"upgradeStrategy":{},"shareVolumePolicy":{}}]}"#
        );
    }

    #[test]
    fn init_containers_only_with_a_native_sidecar() {
        let c = [json!({"name": "c"})];
        let plain = [json!({"name": "i", "image": "x"})];
        let native = [
            json!({"name": "i", "image": "x"}),
            json!({"name": "n", "restartPolicy": "Always"}),
        ];
        assert!(!encode_hash_input(Some(&c), Some(&plain), false).contains("initContainers"));
        let out = encode_hash_input(Some(&c), Some(&native), true);
        assert!(
            out.contains(r#","initContainers":[{"name":"i","resources""#),
            "{out}"
        );
        assert!(!out.contains("\"image\""), "{out}");
    }

    #[test]
    fn go_string_escaping() {
        let mut out = String::new();
        write_go_string(
            &mut out,
            "<a&b>\u{2028}\u{2029}\"\\\u{1}\u{8}\u{c}\n\r\t\u{7f}é",
        );
        assert_eq!(
            out,
            r#""\u003ca\u0026b\u003e\u2028\u2029\"\\\u0001\b\f\n\r\t"#.to_owned() + "\u{7f}é\""
        );
    }

    #[test]
    fn pointers_print_false_and_grpc_service_prints_null() {
        let out = enc(json!([{
            "name": "c",
            "securityContext": {"privileged": false, "runAsUser": 0},
            "livenessProbe": {"grpc": {"port": 9}},
        }]));
        assert!(
            out.contains(r#""securityContext":{"privileged":false,"runAsUser":0}"#),
            "{out}"
        );
        assert!(out.contains(r#""grpc":{"port":9,"service":null}"#), "{out}");
    }

    #[test]
    fn divisor_defaults_to_zero_and_maps_are_sorted() {
        let out = enc(json!([{
            "name": "c",
            "env": [{"name": "E", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            "resources": {"limits": {"memory": "1Gi", "cpu": "1"}},
        }]));
        assert!(
            out.contains(r#""resourceFieldRef":{"resource":"limits.cpu","divisor":"0"}"#),
            "{out}"
        );
        assert!(
            out.contains(r#""resources":{"limits":{"cpu":"1","memory":"1Gi"}}"#),
            "{out}"
        );
    }

    #[test]
    fn wrong_types_do_not_panic() {
        let out = enc(json!([
            5,
            {"name": 1, "ports": "x", "env": [null, 3], "resources": {"limits": {"cpu": null, "m": 1.5}},
             "livenessProbe": {"httpGet": {"port": true}, "periodSeconds": 2.7}, "stdin": "yes"}
        ]));
        assert!(
            out.starts_with(r#"{"containers":[{"name":"","resources":{},"#),
            "{out}"
        );
    }
}
