//! `kubectl sidecarset get|describe`: a kubectl plugin (kubectl runs `kubectl-sidecarset` from PATH).
//! Only fetching and printing here; rows and their rendering are in
//! `sidecarset_reconciler::kubectl_plugin`, where they are tested.
#![forbid(unsafe_code)]

use std::{io::Write, process::ExitCode};

use clap::Parser;
use k8s_openapi::{api::core::v1::Event, jiff::Timestamp};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DynamicObject, ListParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use sidecarset_reconciler::{
    kubectl_plugin::{
        Cli, Command, Connection, DescribeArgs, EventRow, GetArgs, GetOutput, SetRow, is_set,
        not_a_set, not_found, render_data, render_describe, render_table, warnings,
    },
    policy,
};

// One request at a time: a runtime with one thread is enough and starts faster.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match client(&cli.connection).await {
        Ok(client) => match &cli.command {
            Command::Get(args) => get(client, args).await,
            Command::Describe(args) => describe(client, args).await,
        },
        Err(e) => Err(e),
    };
    match res {
        Ok(true) => ExitCode::SUCCESS,
        // The output is printed; some names were not (their errors are on stderr).
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// As kubectl: `--kubeconfig`, else `KUBECONFIG` (its paths merged), else `~/.kube/config`; the
/// service account's when none of them exists and no context was asked for (the plugin in a Pod).
async fn client(c: &Connection) -> Result<Client, String> {
    let options = KubeConfigOptions {
        context: c.context.clone(),
        ..Default::default()
    };
    let config = match &c.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| format!("error: {e}"))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| format!("error: {}: {e}", path.display()))?
        }
        None => match Config::from_kubeconfig(&options).await {
            Ok(config) => config,
            Err(e) if c.context.is_none() && std::env::var_os("KUBECONFIG").is_none() => {
                Config::incluster().map_err(|_| {
                    format!(
                        "error: no kubeconfig ({e}) and not running in a cluster: pass \
                         --kubeconfig or set KUBECONFIG"
                    )
                })?
            }
            Err(e) => return Err(format!("error: {e}")),
        },
    };
    Client::try_from(config).map_err(|e| format!("error: {e}"))
}

/// kubectl's wording for a failed request.
fn request_error(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("Error from server ({}): {}", s.reason, s.message),
        other => format!("error: {other}"),
    }
}

fn policies(client: Client) -> Api<DynamicObject> {
    Api::all_with(client, &policy::api_resource())
}

/// A named set, or the message for a name that is none.
async fn named(api: &Api<DynamicObject>, name: &str) -> Result<DynamicObject, String> {
    match api.get_opt(name).await.map_err(request_error)? {
        None => Err(not_found(name)),
        Some(obj) if !is_set(&obj) => Err(not_a_set(name)),
        Some(obj) => Ok(obj),
    }
}

async fn get(client: Client, args: &GetArgs) -> Result<bool, String> {
    let api = policies(client);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    if args.names.is_empty() {
        let lp = ListParams::default().labels(&policy::policy_selector(args.selector.as_deref()));
        let list = api.list(&lp).await.map_err(request_error)?;
        rows.extend(list.items.iter().map(SetRow::from_policy));
    } else {
        let mut seen = std::collections::BTreeSet::new();
        for name in args.names.iter().filter(|n| seen.insert(n.as_str())) {
            match named(&api, name).await {
                Ok(obj) => rows.push(SetRow::from_policy(&obj)),
                Err(e) => errors.push(e),
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        Some(format @ (GetOutput::Json | GetOutput::Yaml)) => {
            let text = render_data(&rows, format)?;
            let _ = out.write_all(text.as_bytes());
        }
        wide => {
            if rows.is_empty() && errors.is_empty() {
                eprintln!("No resources found");
            } else if !rows.is_empty() {
                let table = render_table(
                    &rows,
                    wide == Some(GetOutput::Wide),
                    args.no_headers,
                    Timestamp::now(),
                );
                let _ = out.write_all(table.as_bytes());
            }
            let _ = out.flush();
            for w in warnings(&rows) {
                eprintln!("{w}");
            }
        }
    }
    let _ = out.flush();
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(errors.is_empty())
}

async fn describe(client: Client, args: &DescribeArgs) -> Result<bool, String> {
    let api = policies(client.clone());
    let obj = named(&api, &args.name).await?;
    let row = SetRow::from_policy(&obj);
    let events = if args.show_events {
        match events_about(client, &obj).await {
            Ok(events) => Some(events),
            Err(e) => {
                // kubectl describe shows the object even when its Events cannot be listed.
                eprintln!("Warning: cannot list the set's Events: {e}");
                Some(Vec::new())
            }
        }
    } else {
        None
    };
    let text = render_describe(
        &row,
        obj.data.pointer("/spec/settings"),
        events.as_deref(),
        Timestamp::now(),
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(true)
}

/// The policy's Events, found as kubectl describe finds an object's: by kind, name and UID in every
/// namespace. The reconciler puts them in `default` (a cluster-scoped object's Events go there), so
/// a user who may not list Events everywhere is answered from `default`.
async fn events_about(client: Client, obj: &DynamicObject) -> Result<Vec<EventRow>, String> {
    let mut selector = format!(
        "involvedObject.kind=ClusterAdmissionPolicy,involvedObject.name={}",
        obj.name_any()
    );
    if let Some(uid) = obj.uid() {
        selector.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let lp = ListParams::default().fields(&selector);
    let list = match Api::<Event>::all(client.clone()).list(&lp).await {
        Err(kube::Error::Api(s)) if s.code == 403 => {
            Api::<Event>::namespaced(client, "default").list(&lp).await
        }
        other => other,
    }
    .map_err(request_error)?;
    Ok(list.items.iter().map(EventRow::from_event).collect())
}
