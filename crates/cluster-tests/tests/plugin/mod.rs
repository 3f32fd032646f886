//! Cluster test: `kubectl-sidecarset get` and `describe` against a set after a rollout, checked
//! against the status annotation the reconciler wrote and the Events it sent.

use std::{path::Path, process::Output, sync::Arc, time::Duration};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    cluster::admin_groups,
    kubelet::KubeletConfig,
    pods::{self, FILEBEAT_NEW},
    reconciler::plugin_binary,
    testns::TestNs,
    wait,
};

use super::{all_available, filebeat, filebeat_pods, wait_status, with_image};

/// Three injected Pods and one created without the sidecar, a rollout to a new image, then the
/// plugin's `get` (table, wide, json, a missing name), `describe`, and the kubeconfig flags.
pub async fn kubectl_plugin_prints_status(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(1))?;
    let policy = t.policy(&settings).await?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 3, |_| vec![], KubeletConfig::default()).await?;
    pods::create(&t.client, &t.ns, &pods::nginx_pod("bare-0", &[])?).await?;
    all_available(&t, 4).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 3 matched, 1 uninjected", |s| {
        s["matchedPods"] == 3 && s["uninjectedPods"] == 1
    })
    .await?;
    let generation = policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    wait_status(&policy, "status: 3 upgraded and ready", |s| {
        s["observedGeneration"] == generation && s["updatedReadyPods"] == 3
    })
    .await?;
    // The rollout's last progress Event goes out after the status says done: wait for one that
    // says so, then the status and the Events stay as they are.
    wait::until(
        Duration::from_secs(30),
        "a SidecarUpgradeProgress Event saying 3 of 3",
        || async {
            let e = t
                .events("default", "SidecarUpgradeProgress", Some(&policy.name))
                .await?;
            Ok(e.iter()
                .any(|e| {
                    e.note
                        .as_deref()
                        .is_some_and(|n| n.starts_with("3 of 3 matched Pods"))
                })
                .then_some(()))
        },
        async || rec.log_tail(20),
    )
    .await?;

    let kubeconfig = t
        .cluster
        .scratch
        .join(format!("{}-plugin.kubeconfig", t.ns));
    t.cluster.impersonating_kubeconfig(
        &format!("admin:{}", t.ns),
        &admin_groups(),
        None,
        &kubeconfig,
    )?;
    let name = policy.name.as_str();
    let status = policy.status().await?.context("no status annotation")?;
    let kc = kubeconfig.to_str().context("kubeconfig path")?;

    // --kubeconfig wins over KUBECONFIG, as with kubectl.
    let get = plugin(
        Path::new("/nonexistent/kubeconfig"),
        &["--kubeconfig", kc, "get", name],
    )?;
    let wide = plugin(&kubeconfig, &["get", name, "-o", "wide"])?;
    let describe = plugin(&kubeconfig, &["describe", name])?;
    // The status read again: the outputs are of the same status, or the comparison proves nothing.
    ensure!(
        policy.status().await?.as_ref() == Some(&status),
        "the status changed while the plugin ran"
    );
    println!("kubectl-sidecarset get {name}:\n{get}");
    println!("kubectl-sidecarset get {name} -o wide:\n{wide}");
    println!("kubectl-sidecarset describe {name}:\n{describe}");

    let n = |k: &str| {
        status[k]
            .as_u64()
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let s = |k: &str| status[k].as_str().unwrap_or("<none>").to_string();
    let row = table_row(&get, name)?;
    for (column, want) in [
        ("NAME", name.to_string()),
        ("MATCHED", n("matchedPods")),
        ("UPDATED", n("updatedPods")),
        ("READY", n("readyPods")),
        ("UNINJECTED", n("uninjectedPods")),
        ("NOT-UPGRADABLE", n("notUpgradablePods")),
        ("PAUSED", status["paused"].to_string()),
        ("LATEST REVISION", s("latestRevision")),
    ] {
        ensure!(
            cell(&row, column)? == want,
            "get: {column} is {:?}, the status annotation says {want:?}:\n{get}",
            cell(&row, column)?
        );
    }
    ensure!(
        (n("matchedPods"), n("uninjectedPods"), n("updatedPods"))
            == ("3".into(), "1".into(), "3".into()),
        "status {status}"
    );
    let age = cell(&row, "AGE")?;
    ensure!(
        age.ends_with('s') || age.ends_with('m'),
        "AGE {age:?} of a set made minutes ago"
    );
    ensure!(
        row.len() == 9,
        "get prints 9 columns: {:?}",
        row.iter().map(|(h, _)| h).collect::<Vec<_>>()
    );

    let row = table_row(&wide, name)?;
    for (column, want) in [
        ("MATCHED", n("matchedPods")),
        ("UNINJECTED", n("uninjectedPods")),
        ("PAUSED", status["paused"].to_string()),
        ("LATEST REVISION", s("latestRevision")),
        ("SET", s("name")),
        ("UPDATED-READY", n("updatedReadyPods")),
        ("HASH", s("hash")),
        ("COLLISIONS", status["collisionCount"].to_string()),
        ("CONFLICTS", "0".into()),
        ("ERROR", "<none>".into()),
    ] {
        ensure!(
            cell(&row, column)? == want,
            "get -o wide: {column} is {:?}, the status annotation says {want:?}:\n{wide}",
            cell(&row, column)?
        );
    }

    for (field, want) in [
        ("Matched Pods", n("matchedPods")),
        ("Updated Pods", n("updatedPods")),
        ("Ready Pods", n("readyPods")),
        ("Updated Ready Pods", n("updatedReadyPods")),
        ("Not Upgradable Pods", n("notUpgradablePods")),
        ("Uninjected Pods", n("uninjectedPods")),
        ("Paused", status["paused"].to_string()),
        ("Latest Revision", s("latestRevision")),
        ("Hash", s("hash")),
        ("Observed Generation", generation.to_string()),
    ] {
        let got = describe
            .lines()
            .find_map(|l| l.strip_prefix(&format!("  {field}:")))
            .map(str::trim);
        ensure!(
            got == Some(want.as_str()),
            "describe: {field} is {got:?}, the status annotation says {want:?}:\n{describe}"
        );
    }
    let events = describe
        .split_once("\nEvents:\n")
        .map(|(_, e)| e)
        .context(format!("describe lists no Events:\n{describe}"))?;
    ensure!(
        events.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.starts_with(&["Normal", "SidecarUpgradeProgress"])
                && cells.contains(&"sidecarset-reconciler")
                && l.contains("3 of 3 matched Pods updated and ready")
        }),
        "describe shows no SidecarUpgradeProgress Event from the reconciler:\n{describe}"
    );
    ensure!(
        events.lines().any(|l| l.contains("UninjectedPods")),
        "describe shows no UninjectedPods Event:\n{describe}"
    );

    // Every set of every test is listed; this test's row is there, as with its name.
    let all = plugin(&kubeconfig, &["get", "--no-headers"])?;
    ensure!(
        all.lines().any(|l| l.split("   ").next() == Some(name)),
        "get without names lacks {name}:\n{all}"
    );
    let json_out = plugin(&kubeconfig, &["get", name, "-o", "json"])?;
    let data: Value = serde_json::from_str(&json_out)?;
    ensure!(
        data[0]["status"] == status && data[0]["name"] == name,
        "get -o json: {json_out}"
    );

    // A missing name: the found set printed, the missing one named on stderr, exit code 1.
    let missing = format!("{}-missing", t.ns);
    let out = run(&kubeconfig, &["get", name, &missing], true)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success()
            && table_row(&String::from_utf8_lossy(&out.stdout), name).is_ok()
            && stderr.contains(&format!(
                "Error from server (NotFound): clusteradmissionpolicies.policies.kubewarden.io \"{missing}\" not found"
            )),
        "get {name} {missing}: {out:?}"
    );
    let out = run(&kubeconfig, &["describe", &missing], true)?;
    ensure!(
        out.status.code() == Some(1) && out.stdout.is_empty(),
        "describe {missing}: {out:?}"
    );

    // --context: the kubeconfig's own context works, another is refused.
    let text: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&kubeconfig)?)?;
    let context = text["current-context"]
        .as_str()
        .context("kubeconfig without current-context")?;
    ensure!(
        plugin(&kubeconfig, &["--context", context, "get", name])? == get
            || table_row(
                &plugin(&kubeconfig, &["--context", context, "get", name])?,
                name
            )
            .is_ok(),
        "--context {context}"
    );
    let out = run(&kubeconfig, &["--context", "no-such-context", "get"], true)?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no-such-context"),
        "--context no-such-context: {out:?}"
    );
    rec.check_running()?;
    Ok(())
}

/// Runs the plugin with `KUBECONFIG=kubeconfig` (kubectl passes its environment on to a plugin);
/// `failing`: its exit status is the caller's to check.
fn run(kubeconfig: &Path, args: &[&str], failing: bool) -> Result<Output> {
    let bin = plugin_binary()?;
    let out = std::process::Command::new(&bin)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    ensure!(
        failing || out.status.success(),
        "kubectl-sidecarset {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// The plugin's stdout, after checking that it succeeded.
fn plugin(kubeconfig: &Path, args: &[&str]) -> Result<String> {
    Ok(String::from_utf8(run(kubeconfig, args, false)?.stdout)?)
}

/// The cells of `name`'s row, by header: cut where each header starts (a non-space after at least
/// two spaces: `LATEST REVISION` holds one). The table is left aligned, so each cell must start
/// exactly there; a misaligned row fails here.
fn table_row(table: &str, name: &str) -> Result<Vec<(String, String)>> {
    let mut lines = table.lines();
    let header = lines.next().context("empty table")?;
    let b = header.as_bytes();
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| b[i] != b' ' && (i == 0 || (i >= 2 && &b[i - 2..i] == b"  ")))
        .collect();
    let row = lines
        .find(|l| l.split("   ").next() == Some(name))
        .with_context(|| format!("no row {name}:\n{table}"))?;
    let mut cells = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(header.len(), |s| *s);
        let head = header[start..end].trim().to_string();
        let end = starts.get(i + 1).map_or(row.len(), |s| *s).min(row.len());
        let text = row.get(start..end).context("short row")?;
        ensure!(
            !text.starts_with(' ') && (start == 0 || row[..start].ends_with(' ')),
            "column {head} does not start at its header in:\n{table}"
        );
        cells.push((head, text.trim().to_string()));
    }
    Ok(cells)
}

fn cell(row: &[(String, String)], column: &str) -> Result<String> {
    row.iter()
        .find(|(h, _)| h == column)
        .map(|(_, v)| v.clone())
        .with_context(|| format!("no column {column}"))
}
