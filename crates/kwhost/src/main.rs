//! `kwhost run`: `kwctl run` for local waPC modules; `kwhost annotate`: `kwctl annotate`. See
//! the library's crate documentation for what is and is not reproduced.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kwhost::{
    CompilationCache, ContextAware, Error, HostCapabilities, Policy, PolicyMetadata, PolicyOptions,
    Replay, files,
};
use serde_json::Value;

/// Lets tests keep their compiled modules out of the user's cache.
const CACHE_DIR_ENV: &str = "KWHOST_WASMTIME_CACHE_DIR";

#[derive(Parser)]
#[command(
    name = "kwhost",
    version,
    about = "Run and annotate Kubewarden waPC policies like `kwctl run` and `kwctl annotate`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one admission request, printing what `kwctl run` prints.
    Run(RunArgs),
    /// Publish an annotated policy to an OCI registry, as `kwctl push` does.
    Push(kwhost::publish::PushArgs),
    /// Fetch a policy module from an OCI registry (to a file), as `kwctl pull -o` does.
    Pull(kwhost::publish::PullArgs),
    /// Write the policy metadata into the module, as `kwctl annotate` does.
    Annotate(AnnotateArgs),
}

#[derive(Args)]
struct AnnotateArgs {
    /// The policy's metadata.yml.
    #[arg(short = 'm', long)]
    metadata_path: PathBuf,
    /// A file (usually README.md) stored as the `io.kubewarden.policy.usage` annotation.
    #[arg(short = 'u', long)]
    usage_path: Option<PathBuf>,
    /// Where to write the annotated module.
    #[arg(short = 'o', long)]
    output_path: PathBuf,
    /// The policy module to annotate.
    wasm_path: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// File containing the AdmissionRequest or AdmissionReview; `-` reads stdin.
    #[arg(short = 'r', long)]
    request_path: String,
    /// Settings file (YAML or JSON). Wins over --settings-json.
    #[arg(short = 's', long)]
    settings_path: Option<PathBuf>,
    /// Settings as a JSON string.
    #[arg(long)]
    settings_json: Option<String>,
    /// Grant the Kubernetes resources listed in the module's metadata.
    #[arg(long)]
    allow_context_aware: bool,
    /// Answer host-capability calls from this kwctl session file.
    #[arg(long, value_name = "FILE")]
    replay_host_capabilities_interactions: Option<PathBuf>,
    /// Host capabilities the policy may use (`*`, `oci/*`, `kubernetes/get_resource`…).
    #[arg(long, value_name = "PATTERN", default_values_t = ["*".to_owned()])]
    allowed_host_capabilities: Vec<String>,
    /// Interrupt the policy after this many seconds, as policy-server does (kwctl has no limit).
    #[arg(long, value_name = "SECONDS")]
    timeout_seconds: Option<f64>,
    /// Compile without wasmtime's on-disk cache of compiled modules (kept in
    /// $KWHOST_WASMTIME_CACHE_DIR, or wasmtime's default directory).
    #[arg(long)]
    disable_wasmtime_cache: bool,
    /// Not supported: recording needs a cluster.
    #[arg(long, value_name = "FILE", hide = true)]
    record_host_capabilities_interactions: Option<PathBuf>,
    /// Not supported: raw policies.
    #[arg(long, hide = true)]
    raw: bool,
    /// The policy module: a path or a `file://` URI.
    uri: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Push(args) => kwhost::publish::push(args),
        Command::Pull(args) => kwhost::publish::pull(args),
        Command::Annotate(args) => annotate(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), Error> {
    if args.record_host_capabilities_interactions.is_some() {
        return Err(Error::Unsupported(
            "--record-host-capabilities-interactions (no cluster access)".to_owned(),
        ));
    }
    if args.raw {
        return Err(Error::Unsupported("--raw".to_owned()));
    }
    let module = module_path(&args.uri)?;

    // kwctl builds the policy definition (settings) before it reads the request.
    let settings =
        kwhost::settings::load(args.settings_path.as_deref(), args.settings_json.as_deref())?;
    kwhost::policy::settings_object(&settings)?;
    let request = read_request(&args.request_path)?;
    let replay = args
        .replay_host_capabilities_interactions
        .as_deref()
        .map(Replay::from_file)
        .transpose()?;

    let timeout = args
        .timeout_seconds
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .map_err(|e| Error::Input(format!("invalid --timeout-seconds: {e}")))
        })
        .transpose()?;
    let options = PolicyOptions {
        compilation_cache: if args.disable_wasmtime_cache {
            CompilationCache::Disabled
        } else if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
            CompilationCache::Directory(dir.into())
        } else {
            CompilationCache::Default
        },
        timeout,
        context_aware: if args.allow_context_aware {
            ContextAware::TrustMetadata
        } else {
            ContextAware::Deny
        },
        host_capabilities: HostCapabilities::new(args.allowed_host_capabilities)?,
    };
    let policy = Policy::load_with(module, options)?;
    for warning in policy.warnings() {
        eprintln!("warning: {warning}");
    }

    let evaluation = policy.run(&request, &settings, replay.as_ref())?;
    if evaluation.unused_exchanges > 0 {
        eprintln!(
            "warning: {} recorded host-capability exchange(s) were not used",
            evaluation.unused_exchanges
        );
    }
    println!("{}", evaluation.response.to_kwctl_line());
    Ok(())
}

fn annotate(args: AnnotateArgs) -> Result<(), Error> {
    let metadata =
        PolicyMetadata::from_yaml(&files::read_text(&args.metadata_path, "metadata file")?)?;
    let usage = args
        .usage_path
        .as_deref()
        .map(|p| files::read_text(p, "usage file"))
        .transpose()?;
    let module = files::read(&args.wasm_path, "policy module")?;
    let annotated = kwhost::annotate(&module, &metadata, usage.as_deref())?;
    files::write(&args.output_path, &annotated)
}

fn module_path(uri: &str) -> Result<&Path, Error> {
    let path = files::without_file_scheme(uri);
    if ["registry://", "https://", "http://"]
        .iter()
        .any(|scheme| path.starts_with(scheme))
    {
        return Err(Error::Unsupported(format!(
            "remote policies ({uri}); download the module first"
        )));
    }
    if path.ends_with(".yml") || path.ends_with(".yaml") {
        return Err(Error::Unsupported(format!(
            "policy custom resources ({uri}); pass the .wasm and settings"
        )));
    }
    Ok(Path::new(path))
}

fn read_request(path: &str) -> Result<Value, Error> {
    let text = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Input(format!("cannot read the request from stdin: {e}")))?;
        text
    } else {
        files::read_text(Path::new(path), "request file")?
    };
    serde_json::from_str(&text)
        .map_err(|e| Error::Input(format!("cannot parse the request as JSON: {e}")))
}
