//! The `push` and `pull` subcommands, with kwctl's flags and output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::error::Result;
use crate::files;
use crate::oci::Registry;
use crate::sources::Sources;

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum PushOutput {
    /// `Policy successfully pushed: <immutable ref>`
    #[default]
    Text,
    /// `{"immutable_ref":"<immutable ref>"}`, what release pipelines feed to cosign.
    Json,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Registries to reach without TLS verification, or with extra CAs (kwctl's sources.yaml).
    #[arg(long, value_name = "FILE")]
    pub sources_path: Option<PathBuf>,
    /// Docker config.json holding registry credentials (default: $DOCKER_CONFIG/config.json
    /// or ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub docker_config_json_path: Option<PathBuf>,
    /// Push a module that was not annotated.
    #[arg(short, long)]
    pub force: bool,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: PushOutput,
    /// The annotated policy module (a path or a `file://` URI).
    pub policy: String,
    /// Destination: `[registry://]host[:port]/path:tag`.
    pub uri: String,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    #[arg(long, value_name = "FILE")]
    pub sources_path: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub docker_config_json_path: Option<PathBuf>,
    /// Where to write the module (kwctl's default, its policy store, is not reproduced).
    #[arg(short, long)]
    pub output_path: PathBuf,
    /// Source: `[registry://]host[:port]/path:tag` or `…@sha256:…`.
    pub uri: String,
}

fn registry(sources_path: Option<&Path>, docker_config: Option<PathBuf>) -> Result<Registry> {
    let sources = sources_path
        .map(Sources::from_file)
        .transpose()?
        .unwrap_or_default();
    Ok(Registry::new(sources, docker_config))
}

/// Pushes and prints what `kwctl push` prints.
pub fn push(args: PushArgs) -> Result<()> {
    let module = files::read(
        Path::new(files::without_file_scheme(&args.policy)),
        "policy",
    )?;
    let immutable_ref = registry(args.sources_path.as_deref(), args.docker_config_json_path)?
        .push(&module, &args.uri, args.force)?;
    match args.output {
        PushOutput::Text => println!("Policy successfully pushed: {immutable_ref}"),
        PushOutput::Json => println!(
            "{}",
            serde_json::to_string(&BTreeMap::from([("immutable_ref", &immutable_ref)]))
                .expect("a map of strings serialises")
        ),
    }
    Ok(())
}

/// Pulls the module to `--output-path`, printing its manifest digest on stderr.
pub fn pull(args: PullArgs) -> Result<()> {
    let pulled =
        registry(args.sources_path.as_deref(), args.docker_config_json_path)?.pull(&args.uri)?;
    files::write(&args.output_path, &pulled.module)?;
    eprintln!(
        "pulled {} ({}) to {}",
        args.uri,
        pulled.digest,
        args.output_path.display()
    );
    Ok(())
}
