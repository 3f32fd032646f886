//! The `objectSelector` written on a set's policy lets the API server send exactly the Pods the set
//! selects. The API server's side is played by kube-core's `Selector` (an implementation of
//! Kubernetes' `labels.Selector` written apart from this project's), the set's side by the core's
//! `selector::selects`, which decides injection and upgrades.

use std::{collections::BTreeMap, path::Path};

use clap::Parser;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::core::{Selector, SelectorExt};
use proptest::prelude::*;
use serde_json::Value;
use sidecarset_core::{SidecarSet, error::SettingsErrors, kruise_object::Converted, selector};
use sidecarset_reconciler::{
    cli::{Cli, Command},
    migrate::{self, MigrateArgs},
};

type Labels = BTreeMap<String, String>;

/// What the API server decides for a webhook with this `objectSelector`. It must also be a selector
/// the API server accepts: one it refused would leave the policy without a webhook.
fn api_server_sends(object_selector: &LabelSelector, labels: &Labels) -> bool {
    let mut errs = SettingsErrors::default();
    selector::validate(object_selector, "objectSelector", &mut errs);
    assert!(errs.is_empty(), "{errs}");
    Selector::try_from(object_selector.clone())
        .expect("kube-core parses every valid selector")
        .matches(labels)
}

fn set_selects(set_selector: Option<&LabelSelector>, labels: &Labels) -> bool {
    selector::selects(set_selector, |k| labels.get(k).map(String::as_str))
}

fn args() -> MigrateArgs {
    match Cli::parse_from(["sidecarset-reconciler", "migrate", "--no-report"]).command {
        Command::Migrate(a) => a,
        other => panic!("{other:?}"),
    }
}

/// The `objectSelector` `migrate` writes for these settings, read back as the API server reads it.
fn written(settings: &Value) -> LabelSelector {
    let c = Converted {
        name: settings["name"].as_str().unwrap_or("set").to_string(),
        settings: settings.clone(),
        notes: Vec::new(),
    };
    let policy = migrate::policy_object(&c, &args(), "test");
    let yaml = serde_yaml::to_string(&policy).unwrap();
    let back: Value = serde_yaml::from_str(&yaml).unwrap();
    serde_json::from_value(back["spec"]["objectSelector"].clone()).unwrap()
}

// Few keys and values, so that random selectors and label sets meet often; the never-selector's
// key among them, so a Pod carrying it is tried too.
const KEYS: &[&str] = &["app", "tier", "example.com/env", selector::NEVER_KEY];
const VALUES: &[&str] = &["web", "api", "", "v1.2"];

fn key() -> impl Strategy<Value = String> {
    proptest::sample::select(KEYS).prop_map(str::to_string)
}
fn value() -> impl Strategy<Value = String> {
    proptest::sample::select(VALUES).prop_map(str::to_string)
}
fn labels() -> impl Strategy<Value = Labels> {
    proptest::collection::btree_map(key(), value(), 0..=KEYS.len())
}
/// Valid requirements only: Kubernetes refuses the others before any Pod is matched, and so does
/// the policy's settings validation.
fn requirement() -> impl Strategy<Value = LabelSelectorRequirement> {
    let op = proptest::sample::select(&["In", "NotIn", "Exists", "DoesNotExist"][..]);
    (key(), op, proptest::collection::vec(value(), 1..3)).prop_map(|(key, op, values)| {
        let with_values = matches!(op, "In" | "NotIn");
        LabelSelectorRequirement {
            key,
            operator: op.to_string(),
            values: with_values.then_some(values),
        }
    })
}
/// Absent, empty (`{}` and empty lists) and every mix of matchLabels and matchExpressions; mostly
/// present, where the two readings have the most to disagree on.
fn set_selector() -> impl Strategy<Value = Option<LabelSelector>> {
    let part = |n: usize| proptest::option::of(0..=n);
    proptest::option::weighted(
        0.9,
        (
            part(2).prop_flat_map(|n| match n {
                Some(n) => proptest::collection::btree_map(key(), value(), n..=n)
                    .prop_map(Some)
                    .boxed(),
                None => Just(None).boxed(),
            }),
            part(3).prop_flat_map(|n| match n {
                Some(n) => proptest::collection::vec(requirement(), n..=n)
                    .prop_map(Some)
                    .boxed(),
                None => Just(None).boxed(),
            }),
        )
            .prop_map(|(match_labels, match_expressions)| LabelSelector {
                match_labels,
                match_expressions,
            }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn the_object_selector_sends_exactly_the_pods_the_set_selects(
        s in set_selector(),
        pod in labels(),
    ) {
        let o = selector::object_selector(s.as_ref());
        prop_assert_eq!(api_server_sends(&o, &pod), set_selects(s.as_ref(), &pod), "{:?}", o);
    }

    #[test]
    fn migrate_writes_that_object_selector(s in set_selector()) {
        let mut settings = serde_json::json!({
            "name": "set",
            "containers": [{"name": "c", "image": "c:1"}],
        });
        if let Some(s) = &s {
            settings["selector"] = serde_json::to_value(s).unwrap();
        }
        prop_assert_eq!(written(&settings), selector::object_selector(s.as_ref()));
    }
}

/// Every golden case's settings against every golden case's Pod: the pairs the cases were written
/// for (selected, `filebeat-no-label`, the opt-out expression) and all the crossings.
#[test]
fn every_golden_set_against_every_golden_pod() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/golden");
    let mut sets = Vec::new();
    let mut pods = Vec::new();
    for dir in std::fs::read_dir(&golden).unwrap() {
        let dir = dir.unwrap().path();
        let text = std::fs::read_to_string(dir.join("settings.yaml")).unwrap();
        let settings: Value = serde_yaml::from_str(&text).unwrap();
        let list = match settings {
            Value::Array(items) => items,
            one => vec![one],
        };
        for s in list {
            // Cases about refused settings have no set to write a policy for.
            if let Ok(set) = SidecarSet::new(&s) {
                sets.push((dir.clone(), s, set));
            }
        }
        let request: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("request.json")).unwrap())
                .unwrap();
        let pod: Labels = serde_json::from_value(
            request
                .pointer("/object/metadata/labels")
                .cloned()
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        pods.push((dir, pod));
    }
    assert!(
        sets.len() >= 30 && pods.len() >= 30,
        "{} {}",
        sets.len(),
        pods.len()
    );
    let (mut selected, mut not) = (0, 0);
    for (set_dir, settings, set) in &sets {
        let s = set.settings().selector.as_ref();
        let o = written(settings);
        assert_eq!(o, selector::object_selector(s), "{}", set_dir.display());
        for (pod_dir, pod) in &pods {
            let want = set_selects(s, pod);
            assert_eq!(
                api_server_sends(&o, pod),
                want,
                "settings of {} and the Pod of {}",
                set_dir.display(),
                pod_dir.display()
            );
            if want {
                selected += 1;
            } else {
                not += 1;
            }
        }
    }
    // Both answers occur, or the comparison proves little.
    assert!(
        selected > 100 && not > 100,
        "{selected} selected, {not} not"
    );
}

/// A policy document's problem with its `objectSelector`, if any: it must be the one `migrate`
/// writes for its settings, or the webhook sends the policy Pods the set never selects (or, worse,
/// keeps from it Pods the set selects).
fn object_selector_problem(policy: &Value) -> Option<String> {
    let settings = &policy["spec"]["settings"];
    let set_selector: Option<LabelSelector> =
        serde_json::from_value(settings["selector"].clone()).ok();
    let want = selector::object_selector(set_selector.as_ref());
    let have: Option<LabelSelector> =
        serde_json::from_value(policy["spec"]["objectSelector"].clone()).ok();
    (have.as_ref() != Some(&want)).then(|| {
        format!(
            "{}: objectSelector {have:?}, the settings' selector gives {want:?}",
            policy["metadata"]["name"]
        )
    })
}

fn is_policy(doc: &Value) -> bool {
    doc["kind"] == "ClusterAdmissionPolicy" && doc["spec"].get("settings").is_some()
}

/// The manifests under deploy/ and the YAML examples of the README and the guides in docs/. Argo
/// CD's `testdata/` holds status snapshots for its health check, never applied, and is left out.
#[test]
fn every_policy_in_deploy_and_the_readme_carries_its_sets_object_selector() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs: Vec<(String, Value)> = Vec::new();
    let mut dirs = vec![root.join("deploy")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "testdata") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                for doc in serde_yaml::Deserializer::from_str(&text) {
                    let v: Value = serde::Deserialize::deserialize(doc).unwrap();
                    docs.push((path.display().to_string(), v));
                }
            }
        }
    }
    let mut pages = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            pages.push(format!("docs/{name}"));
        }
    }
    for page in pages {
        let text = std::fs::read_to_string(root.join(&page)).unwrap();
        for block in text.split("```yaml\n").skip(1) {
            let block = block.split("```").next().unwrap();
            if block.contains("kind: ClusterAdmissionPolicy") {
                docs.push((page.clone(), serde_yaml::from_str(block).unwrap()));
            }
        }
    }
    let policies: Vec<&(String, Value)> = docs.iter().filter(|(_, d)| is_policy(d)).collect();
    assert!(
        policies.iter().any(|(f, _)| f == "README.md")
            && policies.iter().any(|(f, _)| f == "docs/deploying.md")
            && policies
                .iter()
                .any(|(f, _)| f.ends_with("filebeat/policy.yaml")),
        "{:?}",
        policies.iter().map(|(f, _)| f).collect::<Vec<_>>()
    );
    let problems: Vec<String> = policies
        .iter()
        .filter_map(|(f, d)| object_selector_problem(d).map(|p| format!("{f}: {p}")))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
