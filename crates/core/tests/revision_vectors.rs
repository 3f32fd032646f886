//! Replays the ControllerRevisions OpenKruise v1.9.1's own `NewRevision` built for the cases of
//! `hack/revision-vectors/cases.json` (`hack/revision-vectors/generate.sh`, through
//! `hack/kruise-harness revision`) against the core: name, labels, annotations and the data bytes.

use std::collections::BTreeMap;

use serde_json::Value;
use sidecarset_core::SidecarSet;
use sidecarset_core::revision::Revision;

const VECTORS: &str = include_str!("data/revision_vectors.json");

fn string_map(v: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(v.clone()).expect("a map of strings")
}

#[test]
fn revisions_match_kruise_byte_for_byte() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).expect("revision_vectors.json parses");
    assert!(vectors.len() >= 8, "got {} vectors", vectors.len());
    let mut failures = Vec::new();
    for v in &vectors {
        let case = v["case"].as_str().expect("case");
        let set = SidecarSet::new(&v["settings"])
            .unwrap_or_else(|e| panic!("{case}: settings refused: {e}"));
        let cc = i32::try_from(v["collisionCount"].as_i64().expect("collisionCount")).unwrap();
        let k = &v["kruise"];
        let number = k["revision"].as_i64().expect("revision");
        let ours = Revision::new(&set, number, cc);
        let want_data = k["data"].as_str().expect("data");
        if ours.data != want_data {
            failures.push(format!(
                "{case}: data\n  want {want_data}\n  got  {}",
                ours.data
            ));
        }
        if ours.name != k["name"] {
            failures.push(format!("{case}: name {} != {}", ours.name, k["name"]));
        }
        if ours.labels != string_map(&k["labels"]) {
            failures.push(format!(
                "{case}: labels {:?} != {}",
                ours.labels, k["labels"]
            ));
        }
        if ours.annotations != string_map(&k["annotations"]) {
            failures.push(format!(
                "{case}: annotations {:?} != {}",
                ours.annotations, k["annotations"]
            ));
        }
        // What the policy writes into Pods: the name at collision count 0.
        if cc == 0 && set.revision_name() != k["name"] {
            failures.push(format!("{case}: revision_name {}", set.revision_name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
