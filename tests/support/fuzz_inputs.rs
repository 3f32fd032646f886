//! What the fuzz tests share (`tests/fuzz_settings.rs`, `tests/fuzz_validate.rs`,
//! `tests/fuzz_policy_wasm.rs`, each including `support/golden_case.rs` beside this file): the corpus
//! (every golden case's settings and request, the refused
//! settings of `test_data/invalid-settings/`), generators of settings and Pods shaped like real ones
//! with wrong types mixed in, edits that perturb a corpus entry, a few inputs as large as the API
//! server lets through, and how many cases to run.
//!
//! Generators are proptest strategies, so the suite runs on stable Rust under `cargo test`; a failing
//! input is shrunk and its seed kept in `tests/<test>.proptest-regressions`.

// Each including test uses its own part of this file.
#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

/// Cases per property: `SIDECARSET_FUZZ_CASES`, else proptest's own `PROPTEST_CASES`, else
/// `default`. The defaults keep the whole fuzz suite near a minute in a debug `cargo test` on two
/// cores; a long session raises them (docs/development.md).
pub fn cases(default: u32) -> u32 {
    ["SIDECARSET_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("fuzz case count {v:?}: {e}"))
        })
        .unwrap_or(default)
}

pub fn config(default_cases: u32) -> Config {
    let cases = cases(default_cases);
    Config {
        cases,
        // A failing input is large (a whole request); shrinking it further rarely pays off.
        max_shrink_iters: 512,
        // `generated_set` keeps the one generated set in five or six that the policy takes: proptest's
        // fixed 65,536 rejects ran out at 20,000 cases.
        max_local_rejects: cases.saturating_mul(10).max(65_536),
        ..Config::default()
    }
}

/// `n` values of `strategy` from a fixed seed: the same sample on every run, for the tests that
/// replay inputs through `policy.wasm`.
pub fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("the fuzz strategies never reject")
                .current()
        })
        .collect()
}

// === the corpus ===

pub use crate::golden_case::{Case, corpus};
use crate::golden_case::{read_yaml, root};

/// Every settings document of the corpus: each golden set, then each of
/// `test_data/invalid-settings/`.
pub fn settings_corpus() -> &'static [Value] {
    static SETTINGS: OnceLock<Vec<Value>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let mut out: Vec<Value> = corpus()
            .iter()
            .flat_map(|c| c.settings.iter().cloned())
            .collect();
        let mut invalid: Vec<PathBuf> = fs::read_dir(root().join("test_data/invalid-settings"))
            .expect("test_data/invalid-settings exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        invalid.sort();
        out.extend(invalid.iter().map(|p| read_yaml(p)));
        out
    })
}

// === JSON ===

/// Strings that mean something somewhere in a Pod or the settings, and a few that break naive code.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\u{202e}txt.exe",
    "😀",
    "İı",
    "ß",
    "a\nb",
    "..",
    "-",
    "a/b",
    "$(A)",
    "$(",
    "$(POD_NAME)/$(A)",
    "%",
    "100%",
    "150%",
    "-5%",
    "1.5%",
    "1e400",
    "NaN",
    "0x10",
    "10Mi",
    "100m",
    "-1",
    "9223372036854775808",
    "true",
    "null",
    "{",
    "{\"a\":1}",
    "[]",
    "metadata.labels['app']",
    "metadata.annotations['a']",
    "metadata.labels['",
    "metadata.name",
    ".*",
    "(",
    "[",
    "\\",
    "max(cpu*50%, 50m)",
    "cpu*",
    "Always",
    "enabled",
    "HotUpgrade",
    "BeforeAppContainer",
    "kruise.io/sidecarset-hash",
    "kruise.io/sidecarset-injected-list",
];

pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z0-9]([-a-z0-9.]{0,10}[a-z0-9])?",
        2 => "\\PC{0,12}",
        2 => prop::sample::select(ODD_STRINGS).prop_map(str::to_owned),
        1 => (1usize..2048).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

pub fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec![
            0i64,
            1,
            -1,
            100,
            i64::from(i32::MAX),
            i64::from(i32::MAX) + 1,
            i64::from(i32::MIN) - 1,
            i64::MAX,
            i64::MIN,
        ])
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
    ]
    .boxed()
}

pub fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value, a few levels deep.
pub fn any_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// Mostly `plausible`, sometimes any JSON at all (a wrong type, most of the time).
fn or_junk(plausible: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![7 => plausible, 1 => any_json()].boxed()
}

fn one_of(values: &[&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        6 => prop::sample::select(values.to_vec()).prop_map(Value::from),
        1 => text().prop_map(Value::String),
    ]
    .boxed()
}

fn string() -> BoxedStrategy<Value> {
    text().prop_map(Value::String).boxed()
}

fn list(item: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    or_junk(
        prop::collection::vec(item, 0..=max)
            .prop_map(Value::Array)
            .boxed(),
    )
}

/// An object with each of `spec`'s fields present or not, and now and then a key nobody knows.
fn fields(spec: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let present: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = spec
        .into_iter()
        .map(|(k, s)| prop::option::weighted(0.6, s.prop_map(move |v| (k, v))).boxed())
        .collect();
    (present, prop::option::weighted(0.1, (text(), any_json())))
        .prop_map(|(present, unknown)| {
            let mut o: Map<String, Value> = present
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if let Some((k, v)) = unknown {
                o.insert(k, v);
            }
            Value::Object(o)
        })
        .boxed()
}

// === settings ===

fn label_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "app",
            "tier",
            "kruise.io/inject-filebeat",
            "kubernetes.io/metadata.name",
            "version",
        ])
        .prop_map(str::to_owned),
        2 => "[a-z]{1,8}(\\.[a-z]{1,4}/[a-z]{1,6})?",
        1 => text(),
    ]
    .boxed()
}

fn label_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec!["web", "true", "false", "", "prod", "nginx"])
            .prop_map(str::to_owned),
        2 => "[a-z0-9]{0,8}",
        1 => text(),
    ]
    .boxed()
}

fn labels() -> BoxedStrategy<Value> {
    or_junk(
        prop::collection::btree_map(label_key(), label_value(), 0..4)
            .prop_map(|m| json!(m))
            .boxed(),
    )
}

fn label_selector() -> BoxedStrategy<Value> {
    let expression = fields(vec![
        ("key", label_key().prop_map(Value::String).boxed()),
        (
            "operator",
            one_of(&["In", "NotIn", "Exists", "DoesNotExist", "Gt", "in"]),
        ),
        (
            "values",
            list(label_value().prop_map(Value::String).boxed(), 3),
        ),
    ]);
    or_junk(fields(vec![
        ("matchLabels", labels()),
        ("matchExpressions", list(expression, 3)),
    ]))
}

fn quantity() -> BoxedStrategy<Value> {
    or_junk(one_of(&[
        "100m", "1", "0", "200Mi", "1Gi", "1.5", "-1", "1e3", "2k", "1Ei", "abc", "",
    ]))
}

fn resource_list() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("cpu", quantity()),
        ("memory", quantity()),
        ("ephemeral-storage", quantity()),
    ]))
}

fn resources() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("limits", resource_list()),
        ("requests", resource_list()),
    ]))
}

fn resource_expr() -> BoxedStrategy<Value> {
    or_junk(one_of(&[
        "cpu*50%",
        "max(cpu*50%, 50m)",
        "memory+100Mi",
        "min(memory, 1Gi)",
        "cpu",
        "cpu*",
        "50m",
        "",
        "max(",
    ]))
}

fn resources_policy() -> BoxedStrategy<Value> {
    let pair = || {
        or_junk(fields(vec![
            ("cpu", resource_expr()),
            ("memory", resource_expr()),
        ]))
    };
    or_junk(fields(vec![
        ("targetContainersMode", one_of(&["sum", "max", "avg"])),
        (
            "targetContainersNameRegex",
            one_of(&[".*", "^app$", "nginx|web", "(", "[a-"]),
        ),
        (
            "resourcesExpr",
            or_junk(fields(vec![("limits", pair()), ("requests", pair())])),
        ),
    ]))
}

fn volume_name() -> BoxedStrategy<Value> {
    one_of(&["log", "config", "data", "cache", "shared", "LOG"])
}

fn volume_mount() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("name", volume_name()),
        (
            "mountPath",
            one_of(&["/var/log", "/etc/config", "/data", "/", "relative", ""]),
        ),
        (
            "readOnly",
            or_junk(any::<bool>().prop_map(Value::Bool).boxed()),
        ),
        ("subPath", one_of(&["a.yml", "../x", "", "$(A)"])),
        (
            "subPathExpr",
            one_of(&["$(POD_NAME)", "$(A)/$(B)", "$(", "x"]),
        ),
        (
            "mountPropagation",
            one_of(&["None", "HostToContainer", "Bidirectional"]),
        ),
    ]))
}

fn volume_device() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("name", volume_name()),
        ("devicePath", one_of(&["/dev/xvda", "/dev/null", "", "dev"])),
    ]))
}

fn env_var() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        (
            "name",
            one_of(&["A", "B", "POD_NAME", "LOG_LEVEL", "IS_INJECTED", "1BAD", ""]),
        ),
        ("value", string()),
        (
            "valueFrom",
            or_junk(Just(json!({"fieldRef": {"fieldPath": "metadata.namespace"}})).boxed()),
        ),
    ]))
}

fn probe() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        (
            "exec",
            or_junk(Just(json!({"command": ["sh", "-c", "true"]})).boxed()),
        ),
        (
            "httpGet",
            or_junk(Just(json!({"port": 8080, "path": "/"})).boxed()),
        ),
        ("initialDelaySeconds", or_junk(number())),
        ("periodSeconds", or_junk(number())),
        ("successThreshold", or_junk(number())),
        ("failureThreshold", or_junk(number())),
    ]))
}

fn transfer_env() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        (
            "sourceContainerName",
            one_of(&["app", "nginx", "web", "main"]),
        ),
        (
            "sourceContainerNameFrom",
            or_junk(fields(vec![(
                "fieldRef",
                or_junk(fields(vec![
                    ("apiVersion", one_of(&["v1"])),
                    (
                        "fieldPath",
                        one_of(&[
                            "metadata.labels['app']",
                            "metadata.annotations['a']",
                            "metadata.name",
                            "spec.nodeName",
                            "metadata.labels['",
                        ]),
                    ),
                ])),
            )])),
        ),
        ("envName", one_of(&["A", "LOG_LEVEL", ""])),
        ("envNames", list(one_of(&["A", "B", "LOG_LEVEL"]), 3)),
    ]))
}

fn image() -> BoxedStrategy<Value> {
    one_of(&[
        "busybox:1.36",
        "docker.elastic.co/beats/filebeat:7.16.2",
        "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "",
        "UPPER:case",
    ])
}

fn container_name() -> BoxedStrategy<Value> {
    one_of(&[
        "agent", "filebeat", "proxy", "app", "nginx", "init", "x-1", "Bad_Name",
    ])
}

/// A SidecarSet container: core/v1 Container fields and Kruise's.
pub fn sidecar_container() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("name", container_name()),
        ("image", image()),
        (
            "podInjectPolicy",
            one_of(&["BeforeAppContainer", "AfterAppContainer", "Sometimes"]),
        ),
        (
            "shareVolumePolicy",
            or_junk(fields(vec![(
                "type",
                one_of(&["enabled", "disabled", "Enabled"]),
            )])),
        ),
        (
            "shareVolumeDevicePolicy",
            or_junk(fields(vec![("type", one_of(&["enabled", "disabled"]))])),
        ),
        ("transferEnv", list(transfer_env(), 3)),
        (
            "upgradeStrategy",
            or_junk(fields(vec![
                (
                    "upgradeType",
                    one_of(&["ColdUpgrade", "HotUpgrade", "WarmUpgrade"]),
                ),
                ("hotUpgradeEmptyImage", image()),
            ])),
        ),
        ("resources", resources()),
        ("resourcesPolicy", resources_policy()),
        ("volumeMounts", list(volume_mount(), 3)),
        ("volumeDevices", list(volume_device(), 2)),
        ("env", list(env_var(), 3)),
        ("restartPolicy", one_of(&["Always", "Never", "OnFailure"])),
        ("command", list(string(), 3)),
        ("args", list(string(), 3)),
        (
            "ports",
            list(
                or_junk(fields(vec![
                    ("containerPort", or_junk(number())),
                    (
                        "name",
                        one_of(&["http", "metrics", "TOO-LONG-PORT-NAME", "9"]),
                    ),
                    ("protocol", one_of(&["TCP", "UDP", "SCTP", "tcp"])),
                ])),
                3,
            ),
        ),
        ("livenessProbe", probe()),
        ("readinessProbe", probe()),
        ("startupProbe", probe()),
        (
            "imagePullPolicy",
            one_of(&["Always", "IfNotPresent", "Never", "Sometimes"]),
        ),
        (
            "securityContext",
            or_junk(Just(json!({"runAsUser": 0})).boxed()),
        ),
    ]))
}

fn volume() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("name", volume_name()),
        ("emptyDir", or_junk(Just(json!({})).boxed())),
        ("configMap", or_junk(fields(vec![("name", string())]))),
        (
            "hostPath",
            or_junk(fields(vec![("path", one_of(&["/var/log", ""]))])),
        ),
    ]))
}

fn int_or_percent() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => (-2i64..20).prop_map(Value::from),
        2 => one_of(&["0%", "10%", "100%", "150%", "-5%", "5", "x%", "%", "1.5%", ""]),
        1 => any_json(),
    ]
    .boxed()
}

fn update_strategy() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("type", one_of(&["RollingUpdate", "NotUpdate", "OnDelete"])),
        (
            "paused",
            or_junk(any::<bool>().prop_map(Value::Bool).boxed()),
        ),
        ("selector", label_selector()),
        ("partition", int_or_percent()),
        ("maxUnavailable", int_or_percent()),
        (
            "priorityStrategy",
            or_junk(fields(vec![
                (
                    "orderPriority",
                    list(or_junk(fields(vec![("orderedKey", string())])), 2),
                ),
                (
                    "weightPriority",
                    list(
                        or_junk(fields(vec![
                            ("weight", or_junk(number())),
                            ("matchSelector", label_selector()),
                        ])),
                        2,
                    ),
                ),
            ])),
        ),
        (
            "scatterStrategy",
            list(
                or_junk(fields(vec![("key", string()), ("value", string())])),
                3,
            ),
        ),
    ]))
}

fn injection_strategy() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        (
            "paused",
            or_junk(any::<bool>().prop_map(Value::Bool).boxed()),
        ),
        (
            "revision",
            or_junk(fields(vec![
                ("revisionName", one_of(&["filebeat-7c9b8d6f5", "x", ""])),
                ("customVersion", one_of(&["v1", "v2", ""])),
                ("policy", one_of(&["Always", "Partial", "Sometimes"])),
            ])),
        ),
    ]))
}

fn patch_pod_metadata() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        (
            "annotations",
            or_junk(
                prop::collection::btree_map(
                    prop_oneof![
                        Just("a".to_string()),
                        Just("json".to_string()),
                        Just("kruise.io/sidecarset-hash".to_string()),
                        text()
                    ],
                    prop_oneof![
                        Just("{\"k\":1}".to_string()),
                        Just("null".to_string()),
                        text()
                    ],
                    0..3,
                )
                .prop_map(|m| json!(m))
                .boxed(),
            ),
        ),
        (
            "patchPolicy",
            one_of(&["Retain", "Overwrite", "MergePatchJson", "Replace"]),
        ),
    ]))
}

/// A settings document shaped like a SidecarSet spec: every field of it now and then, each mostly
/// of its type with values that mean something to the rules (and some that do not), sometimes of
/// any type at all, sometimes with a key nobody knows.
pub fn settings_shaped() -> BoxedStrategy<Value> {
    fields(vec![
        (
            "name",
            one_of(&["filebeat", "log-agent", "a", "Bad_Name", "-x"]),
        ),
        ("selector", label_selector()),
        ("namespace", string()),
        ("namespaceSelector", label_selector()),
        ("initContainers", list(sidecar_container(), 2)),
        ("containers", list(sidecar_container(), 3)),
        ("volumes", list(volume(), 3)),
        ("updateStrategy", update_strategy()),
        ("injectionStrategy", injection_strategy()),
        (
            "imagePullSecrets",
            list(
                or_junk(fields(vec![("name", one_of(&["reg", "shared", ""]))])),
                3,
            ),
        ),
        ("revisionHistoryLimit", or_junk(number())),
        ("patchPodMetadata", list(patch_pod_metadata(), 2)),
        ("customVersion", string()),
        (
            "allowedPatchPodMetadataKeys",
            list(one_of(&["^a$", ".*", "json", "(", "kruise\\.io/.*"]), 2),
        ),
        (
            "revisionNamespace",
            one_of(&["sidecarset-system", "", "Bad_NS"]),
        ),
    ])
}

/// A valid set (one sidecar, the volumes the generators mount) with one field of
/// [`settings_shaped`] put in, and sometimes the sidecar's fields too: most fail one rule, so each
/// rule gets its turn, and some pass.
pub fn settings_near_valid() -> BoxedStrategy<Value> {
    (
        settings_shaped(),
        any::<Index>(),
        sidecar_container(),
        any::<bool>(),
    )
        .prop_map(|(shaped, at, sidecar, with_sidecar)| {
            let volumes: Vec<Value> = ["log", "config", "data", "cache", "shared"]
                .iter()
                .map(|v| json!({"name": v, "emptyDir": {}}))
                .collect();
            let mut doc = json!({
                "name": "fuzz",
                "selector": {"matchLabels": {"app": "web"}},
                "containers": [{"name": "agent", "image": "agent:1"}],
                "volumes": volumes,
            });
            if let Value::Object(fields) = shaped
                && !fields.is_empty()
            {
                let keys: Vec<&String> = fields.keys().collect();
                let key = *at.get(&keys);
                doc[key] = fields[key].clone();
            }
            if let (true, Value::Object(sidecar), Some(Value::Object(first))) =
                (with_sidecar, sidecar, doc.pointer_mut("/containers/0"))
            {
                first.extend(sidecar);
            }
            doc
        })
        .boxed()
}

// === edits ===

/// One change to one node of a JSON document.
#[derive(Clone, Debug)]
pub enum Edit {
    Remove,
    Replace(Value),
    /// The node as a value of another JSON type.
    Retype,
    /// A list twice over; a string twice; anything else in a list with itself.
    Duplicate,
    /// A list grown to this many items by repeating its first.
    Grow(usize),
    /// The node in a one-item list.
    Wrap,
    /// The node this many objects deep: around serde_json's 128-level limit.
    Nest(usize),
}

pub fn edit() -> BoxedStrategy<Edit> {
    prop_oneof![
        3 => Just(Edit::Remove),
        3 => any_json().prop_map(Edit::Replace),
        3 => Just(Edit::Retype),
        2 => Just(Edit::Duplicate),
        1 => (2usize..200).prop_map(Edit::Grow),
        1 => Just(Edit::Wrap),
        1 => (1usize..140).prop_map(Edit::Nest),
    ]
    .boxed()
}

/// Up to `max` edits, each at a node chosen among those the document has when it is applied.
pub fn edits(max: usize) -> BoxedStrategy<Vec<(Index, Edit)>> {
    prop::collection::vec((any::<Index>(), edit()), 1..=max).boxed()
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    At(usize),
}

/// Every node under the root (not the root itself), parents before children.
fn node_paths(v: &Value) -> Vec<Vec<Step>> {
    fn walk(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        let children: Vec<(Step, &Value)> = match v {
            Value::Object(o) => o.iter().map(|(k, c)| (Step::Key(k.clone()), c)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, c)| (Step::At(i), c))
                .collect(),
            _ => return,
        };
        for (step, child) in children {
            here.push(step);
            out.push(here.clone());
            walk(child, here, out);
            here.pop();
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'v>(v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |cur, step| match step {
        Step::Key(k) => cur.get_mut(k.as_str()),
        Step::At(i) => cur.get_mut(*i),
    })
}

fn retyped(v: &Value) -> Value {
    match v {
        Value::Null => Value::Bool(false),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => s.parse::<i64>().map_or(json!(1), Value::from),
        Value::Array(a) => Value::Object(
            a.iter()
                .enumerate()
                .map(|(i, x)| (i.to_string(), x.clone()))
                .collect(),
        ),
        Value::Object(o) => Value::Array(o.values().cloned().collect()),
    }
}

fn apply_edit(doc: &mut Value, path: &[Step], edit: &Edit) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    if let Edit::Remove = edit {
        match (node_mut(doc, parent_path), last) {
            (Some(Value::Object(o)), Step::Key(k)) => {
                o.remove(k);
            }
            (Some(Value::Array(a)), Step::At(i)) if *i < a.len() => {
                a.remove(*i);
            }
            _ => {}
        }
        return;
    }
    let Some(node) = node_mut(doc, path) else {
        return;
    };
    let new = match edit {
        Edit::Remove => unreachable!("handled above"),
        Edit::Replace(v) => v.clone(),
        Edit::Retype => retyped(node),
        Edit::Duplicate => match &*node {
            Value::Array(a) => Value::Array(a.iter().chain(a.iter()).cloned().collect()),
            Value::String(s) => Value::String(s.repeat(2)),
            other => json!([other.clone(), other.clone()]),
        },
        Edit::Grow(n) => match &*node {
            Value::Array(a) if !a.is_empty() => Value::Array(vec![a[0].clone(); *n]),
            other => Value::Array(vec![other.clone(); *n]),
        },
        Edit::Wrap => json!([node.clone()]),
        Edit::Nest(depth) => (0..*depth).fold(node.clone(), |inner, _| json!({ "n": inner })),
    };
    *node = new;
}

/// `doc` with `edits` applied in turn.
pub fn apply_edits(mut doc: Value, edits: &[(Index, Edit)]) -> Value {
    for (at, edit) in edits {
        let paths = node_paths(&doc);
        if paths.is_empty() {
            doc = match edit {
                Edit::Replace(v) => v.clone(),
                _ => doc,
            };
            continue;
        }
        let path: &Vec<Step> = at.get(paths.as_slice());
        apply_edit(&mut doc, path, edit);
    }
    doc
}

// === Pods and requests ===

/// A Pod container as users write them, with names, mounts and variables the golden sets refer to.
fn pod_container() -> BoxedStrategy<Value> {
    or_junk(fields(vec![
        ("name", container_name()),
        ("image", image()),
        ("env", list(env_var(), 4)),
        ("volumeMounts", list(volume_mount(), 4)),
        ("volumeDevices", list(volume_device(), 2)),
        ("resources", resources()),
        ("restartPolicy", one_of(&["Always", "Never"])),
        ("ports", list(Just(json!({"containerPort": 80})).boxed(), 1)),
    ]))
}

fn kruise_annotations() -> BoxedStrategy<Value> {
    let hash_entry = json!({"hash": "abc", "sidecarSetName": "filebeat", "sidecarList": ["filebeat"],
                            "updateTimestamp": "2026-01-01T00:00:00Z", "controllerRevision": "x"});
    or_junk(
        prop::collection::btree_map(
            prop_oneof![
                Just("kruise.io/sidecarset-hash".to_string()),
                Just("kruise.io/sidecarset-hash-without-image".to_string()),
                Just("kruise.io/sidecarset-injected-list".to_string()),
                Just("kruise.io/sidecarset-working-hotupgrade-container".to_string()),
                Just("a".to_string()),
                Just("json".to_string()),
                text(),
            ],
            prop_oneof![
                Just(Value::String(json!({"filebeat": hash_entry}).to_string())),
                Just(Value::String(
                    json!({"filebeat": "legacy-hash"}).to_string()
                )),
                Just(Value::String("filebeat,other".to_string())),
                Just(Value::String("{\"filebeat\":\"filebeat-1\"}".to_string())),
                string(),
                any_json(),
            ],
            0..4,
        )
        .prop_map(|m| json!(m))
        .boxed(),
    )
}

/// A Pod shaped like real ones, with every field of it now and then and wrong types mixed in.
pub fn pod_shaped() -> BoxedStrategy<Value> {
    fields(vec![
        ("apiVersion", one_of(&["v1"])),
        ("kind", one_of(&["Pod"])),
        (
            "metadata",
            or_junk(fields(vec![
                ("name", one_of(&["web-1", "", "nginx"])),
                (
                    "generateName",
                    one_of(&["web-", "nginx-deployment-5d4f8b6c9-"]),
                ),
                ("namespace", one_of(&["default", "team-a", ""])),
                ("labels", labels()),
                ("annotations", kruise_annotations()),
            ])),
        ),
        (
            "spec",
            or_junk(fields(vec![
                ("containers", list(pod_container(), 4)),
                ("initContainers", list(pod_container(), 2)),
                ("volumes", list(volume(), 4)),
                (
                    "imagePullSecrets",
                    list(or_junk(fields(vec![("name", one_of(&["reg", "own"]))])), 4),
                ),
                ("nodeName", string()),
            ])),
        ),
        (
            "status",
            or_junk(fields(vec![(
                "phase",
                one_of(&["Pending", "Running", "Succeeded", "Failed"]),
            )])),
        ),
    ])
}

/// One evaluation of `validate`: a golden case's set and a request for it.
#[derive(Clone, Debug)]
pub struct ValidateInput {
    /// Index into [`corpus`]: whose lookups answer.
    pub case: usize,
    pub settings: Value,
    pub request: Value,
    /// The Pod is one the API server would take (a golden Pod, or one changed only in ways that keep
    /// it so): an injected result must come back unchanged when evaluated again.
    pub valid_pod: bool,
    /// How the input was made, for failure messages and the run's summary.
    pub kind: &'static str,
}

impl ValidateInput {
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"request": self.request, "settings": self.settings}))
            .expect("JSON values serialise")
    }

    pub fn case(&self) -> &'static Case {
        &corpus()[self.case]
    }

    /// The same input for `object` (an injected Pod fed back in).
    pub fn with_object(&self, object: Value) -> Self {
        let mut again = self.clone();
        again.request["object"] = object;
        again
    }
}

/// Every golden case's request with each of its sets, unchanged.
pub fn golden_inputs() -> Vec<ValidateInput> {
    corpus()
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            c.settings.iter().map(move |s| ValidateInput {
                case: i,
                settings: s.clone(),
                request: c.request.clone(),
                valid_pod: true,
                kind: "golden",
            })
        })
        .collect()
}

/// A golden case and one of its sets.
fn golden_pick() -> BoxedStrategy<ValidateInput> {
    (any::<Index>(), any::<Index>())
        .prop_map(|(c, s)| {
            let case = c.index(corpus().len());
            let settings = s.get(&corpus()[case].settings).clone();
            ValidateInput {
                case,
                settings,
                request: corpus()[case].request.clone(),
                valid_pod: true,
                kind: "golden",
            }
        })
        .boxed()
}

/// A change that leaves a valid Pod valid.
#[derive(Clone, Debug)]
pub enum Benign {
    Label(String, String),
    Annotation(String, String),
    /// A field Kubernetes does not know (yet) on the Pod, its metadata, spec, or a container.
    UnknownField(Index, String, Value),
    PullSecrets(Vec<String>),
    /// An app container with variables and mounts of the Pod's volumes.
    AppContainer(String, usize, usize),
    Env(Index, usize),
    Volumes(usize),
}

fn benign() -> BoxedStrategy<Benign> {
    prop_oneof![
        ("[a-z]{1,8}", "[a-z0-9]{0,10}")
            .prop_map(|(k, v)| Benign::Label(format!("fuzz.example.com/{k}"), v)),
        ("[a-z]{1,8}", "\\PC{0,40}")
            .prop_map(|(k, v)| Benign::Annotation(format!("fuzz.example.com/{k}"), v)),
        (any::<Index>(), "[a-z]{1,8}", any_json()).prop_map(|(at, k, v)| Benign::UnknownField(
            at,
            format!("xFuzz{k}"),
            v
        )),
        prop::collection::vec(
            prop_oneof![
                Just("reg".to_string()),
                Just("shared".to_string()),
                "[a-z]{1,3}"
            ],
            1..300
        )
        .prop_map(Benign::PullSecrets),
        ("[a-z]{1,6}", 0usize..40, 0usize..6).prop_map(|(n, e, m)| Benign::AppContainer(n, e, m)),
        (any::<Index>(), 1usize..200).prop_map(|(at, n)| Benign::Env(at, n)),
        (1usize..100).prop_map(Benign::Volumes),
    ]
    .boxed()
}

fn spec_list<'v>(pod: &'v mut Value, key: &str) -> Option<&'v mut Vec<Value>> {
    pod.pointer_mut(&format!("/spec/{key}"))
        .and_then(Value::as_array_mut)
}

fn apply_benign(pod: &mut Value, change: &Benign) {
    match change {
        Benign::Label(k, v) | Benign::Annotation(k, v) => {
            let key = if matches!(change, Benign::Label(..)) {
                "labels"
            } else {
                "annotations"
            };
            if let Some(m) = pod
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .map(|m| m.entry(key).or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
            {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
        Benign::UnknownField(at, k, v) => {
            let mut places = vec!["".to_string(), "/metadata".into(), "/spec".into()];
            for list in ["containers", "initContainers"] {
                let n = spec_list(pod, list).map_or(0, |l| l.len());
                places.extend((0..n).map(|i| format!("/spec/{list}/{i}")));
            }
            let place = at.get(&places).clone();
            if let Some(o) = pod.pointer_mut(&place).and_then(Value::as_object_mut) {
                o.insert(k.clone(), v.clone());
            }
        }
        Benign::PullSecrets(names) => {
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                let list = spec.entry("imagePullSecrets").or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.extend(names.iter().map(|n| json!({ "name": n })));
                }
            }
        }
        Benign::AppContainer(name, env, mounts) => {
            let volumes: Vec<String> = spec_list(pod, "volumes")
                .map(|v| {
                    v.iter()
                        .filter_map(|v| v["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let taken: Vec<String> = ["containers", "initContainers"]
                .iter()
                .flat_map(|l| spec_list(pod, l).cloned().unwrap_or_default())
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect();
            let name = format!("fuzz-{name}-{}", taken.len());
            let env: Vec<Value> = (0..*env)
                .map(|i| json!({"name": format!("FUZZ_{i}"), "value": i.to_string()}))
                .collect();
            let mounts: Vec<Value> = volumes
                .iter()
                .cycle()
                .take(if volumes.is_empty() { 0 } else { *mounts })
                .enumerate()
                .map(|(i, v)| {
                    let mut m = json!({"name": v, "mountPath": format!("/fuzz/{i}")});
                    if i % 2 == 1 && !env.is_empty() {
                        m["subPathExpr"] = json!("$(FUZZ_0)");
                    }
                    m
                })
                .collect();
            if let Some(l) = spec_list(pod, "containers") {
                l.push(
                    json!({"name": name, "image": "fuzz:1", "env": env, "volumeMounts": mounts}),
                );
            }
        }
        Benign::Env(at, n) => {
            if let Some(l) = spec_list(pod, "containers").filter(|l| !l.is_empty()) {
                let c = at.get_mut(l);
                if let Some(o) = c.as_object_mut() {
                    let env = o.entry("env").or_insert_with(|| json!([]));
                    if let Some(env) = env.as_array_mut() {
                        env.extend(
                            (0..*n).map(|i| json!({"name": format!("FUZZ_ENV_{i}"), "value": "x"})),
                        );
                    }
                }
            }
        }
        Benign::Volumes(n) => {
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                let list = spec.entry("volumes").or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.extend(
                        (0..*n).map(|i| json!({"name": format!("fuzz-vol-{i}"), "emptyDir": {}})),
                    );
                }
            }
        }
    }
}

/// A golden request whose Pod got changes that keep it valid.
pub fn golden_benign() -> BoxedStrategy<ValidateInput> {
    (golden_pick(), prop::collection::vec(benign(), 1..5))
        .prop_map(|(mut input, changes)| {
            for c in &changes {
                apply_benign(&mut input.request["object"], c);
            }
            input.kind = "golden, valid changes";
            input
        })
        .boxed()
}

/// A golden request whose Pod (mostly) or envelope got arbitrary edits: wrong types in any
/// position, removals, duplicated and grown lists, deep nesting.
pub fn golden_harsh() -> BoxedStrategy<ValidateInput> {
    (golden_pick(), any::<bool>(), edits(4))
        .prop_map(|(mut input, envelope, edits)| {
            if envelope {
                input.request = apply_edits(input.request, &edits);
                input.kind = "golden, request edited";
            } else {
                let pod = input.request["object"].take();
                input.request["object"] = apply_edits(pod, &edits);
                input.kind = "golden, Pod edited";
            }
            input.valid_pod = false;
            input
        })
        .boxed()
}

/// A generated Pod in a golden case's request, with that case's labels most of the time (so that
/// its set selects it).
pub fn generated_pod() -> BoxedStrategy<ValidateInput> {
    (golden_pick(), pod_shaped(), any::<bool>())
        .prop_map(|(mut input, mut pod, keep_labels)| {
            let labels = input.request.pointer("/object/metadata/labels").cloned();
            if let (true, Some(labels), Some(meta)) = (
                keep_labels,
                labels,
                pod.get_mut("metadata").and_then(Value::as_object_mut),
            ) {
                meta.insert("labels".into(), labels);
            }
            input.request["object"] = pod;
            input.valid_pod = false;
            input.kind = "generated Pod";
            input
        })
        .boxed()
}

/// A set [`settings_near_valid`] makes that the policy takes, over a generated Pod labelled for it
/// or a golden one changed in valid ways.
pub fn generated_set() -> BoxedStrategy<ValidateInput> {
    (
        settings_near_valid().prop_filter("settings the policy takes", |s| {
            sidecarset_core::SidecarSet::new(s).is_ok()
        }),
        prop_oneof![
            pod_shaped().prop_map(|mut pod| {
                if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("labels".into(), json!({"app": "web"}));
                }
                (pod, false)
            }),
            golden_benign().prop_map(|i| (i.request["object"].clone(), true)),
        ],
        any::<Index>(),
    )
        .prop_map(|(settings, (pod, valid_pod), case)| {
            let case = case.index(corpus().len());
            let mut request = corpus()[case].request.clone();
            request["object"] = pod;
            ValidateInput {
                case,
                settings,
                request,
                valid_pod,
                kind: "generated set",
            }
        })
        .boxed()
}

/// Every kind of `validate` input, the golden ones included.
pub fn validate_input() -> BoxedStrategy<ValidateInput> {
    prop_oneof![
        1 => golden_pick(),
        3 => golden_benign(),
        4 => golden_harsh(),
        3 => generated_pod(),
    ]
    .boxed()
}

/// A golden case's input with `change` made to its Pod.
fn large(case: &str, kind: &'static str, change: impl FnOnce(&mut Value)) -> ValidateInput {
    let index = corpus()
        .iter()
        .position(|c| c.name == case)
        .unwrap_or_else(|| panic!("no golden case {case}"));
    let c = &corpus()[index];
    let mut request = c.request.clone();
    change(&mut request["object"]);
    ValidateInput {
        case: index,
        settings: c.settings[0].clone(),
        request,
        valid_pod: true,
        kind,
    }
}

/// Inputs near the API server's 3 MB request limit, each large where a rule walks a Pod's list, and
/// Pods nested around serde_json's depth limit.
pub fn large_inputs() -> Vec<ValidateInput> {
    let nested = |depth: usize| (0..depth).fold(json!("deep"), |inner, _| json!({ "n": inner }));
    vec![
        large(
            "image-pull-secrets",
            "100k imagePullSecrets, each name twice",
            |pod| {
                pod["spec"]["imagePullSecrets"] = (0..100_000)
                    .map(|i| json!({"name": format!("registry-{}", i % 50_000)}))
                    .collect();
            },
        ),
        large(
            "share-volume-policy-with-subpathexpr-env",
            "25k subPathExpr mounts and 25k variables in one container",
            |pod| {
                let app = &mut pod["spec"]["containers"][0];
                app["env"] = (0..25_000)
                    .map(|i| json!({"name": format!("V{i}"), "value": "x"}))
                    .collect();
                let volume = pod["spec"]["volumes"][0]["name"].clone();
                pod["spec"]["containers"][0]["volumeMounts"] = (0..25_000)
                    .map(|i| json!({"name": volume, "mountPath": format!("/m/{i}"), "subPathExpr": format!("$(V{i})")}))
                    .collect();
            },
        ),
        large(
            "resources-policy-sum",
            "10k app containers summed by resourcesPolicy",
            |pod| {
                let app = pod["spec"]["containers"][0].clone();
                pod["spec"]["containers"] = (0..10_000)
                    .map(|i| {
                        let mut c = app.clone();
                        c["name"] = json!(format!("app-{i}"));
                        c
                    })
                    .collect();
            },
        ),
        large("volume-pool-pod-volume-wins", "40k Pod volumes", |pod| {
            let list = pod["spec"]["volumes"].as_array_mut().unwrap();
            list.extend((0..40_000).map(|i| json!({"name": format!("v{i}"), "emptyDir": {}})));
        }),
        large("filebeat-story", "30k labels", |pod| {
            let labels = pod["metadata"]["labels"].as_object_mut().unwrap();
            labels.extend((0..30_000).map(|i| (format!("l{i}"), json!("v"))));
        }),
        large("filebeat-story", "a 2.5 MB annotation", |pod| {
            pod["metadata"]["annotations"] = json!({"big": "é".repeat(1_250_000)});
        }),
        large(
            "pod-already-injected-by-kruise",
            "8k other sets in the hash annotations",
            |pod| {
                let entries: Map<String, Value> = (0..8_000)
                    .map(|i| {
                        let entry = json!({"updateTimestamp": "2025-01-02T03:04:05Z", "hash": "h",
                                       "sidecarSetName": format!("set-{i}"), "sidecarList": ["c"]});
                        (format!("set-{i}"), entry)
                    })
                    .collect();
                let text = Value::String(Value::Object(entries).to_string());
                let a = pod["metadata"]["annotations"].as_object_mut().unwrap();
                a.insert("kruise.io/sidecarset-hash".into(), text.clone());
                a.insert("kruise.io/sidecarset-hash-without-image".into(), text);
                a.insert(
                    "kruise.io/sidecarset-injected-list".into(),
                    json!(
                        (0..8_000)
                            .map(|i| format!("set-{i}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                );
            },
        ),
        large(
            "plain-init-containers-sorted-by-name",
            "20k init containers",
            |pod| {
                pod["spec"]["initContainers"] = (0..20_000)
                    .map(|i| json!({"name": format!("init-{i}"), "image": "busybox"}))
                    .collect();
            },
        ),
        large(
            "filebeat-story",
            "an unknown field 120 levels deep",
            |pod| {
                pod["spec"]["xFuzz"] = nested(120);
            },
        ),
        large(
            "filebeat-story",
            "an unknown field 200 levels deep",
            |pod| {
                pod["spec"]["xFuzz"] = nested(200);
            },
        ),
    ]
}
