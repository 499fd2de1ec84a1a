//! Command definitions (clap) and dispatch. Each submodule holds one group of commands:
//! its clap `Args`/`Subcommand` types and a `run` function that calls a library.

pub mod archive;
pub mod build;
pub mod image;
pub mod out;
pub mod registry;
pub mod remote;
pub mod rootfs;
pub mod scan;
pub mod tour;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use strata_store::Store;

/// Top-level command line.
#[derive(Parser, Debug)]
#[command(
    name = "strata",
    version,
    about = "The image half of Docker: pull, push, list, inspect, build and serve container images",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Store root (default: $STRATA_ROOT, /var/lib/strata for root, else ~/.local/share/strata). For `strata registry serve|gc`, `--root DIR` is the registry's own storage root
    #[arg(long, global = true, env = "STRATA_ROOT", hide_env_values = true)]
    pub root: Option<PathBuf>,
    /// Whether `--root` came from the command line rather than `$STRATA_ROOT`.
    #[arg(skip)]
    pub root_on_command_line: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// List images
    Images(image::LsArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Remove one or more images
    Rmi(image::RmArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Manage Strata
    #[command(subcommand)]
    System(image::SystemCommand),
    /// Run or maintain an OCI registry
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Talk to registries: pull, push, search, login, logout, copy, manifest
    #[command(flatten)]
    Remote(remote::RemoteCommand),
    /// Manage the local vulnerability database (OSV)
    #[command(subcommand)]
    Vulndb(scan::VulndbCommand),
    /// Walk through Strata's commands against a sample image in a registry started for it
    Tour(tour::TourArgs),
}

/// Command context shared by the commands.
pub struct Ctx {
    /// The store root.
    pub root: PathBuf,
}

impl Ctx {
    /// Opens the store.
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.root)?)
    }
}

/// An error that carries its own exit code (e.g. 64 for bad templates, Docker-style).
#[derive(Debug)]
pub struct Exit {
    /// Exit status.
    pub code: u8,
    /// The message (printed as is).
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Builds an error that exits with `code`.
pub fn exit(code: u8, message: impl Into<String>) -> anyhow::Error {
    Exit {
        code,
        message: message.into(),
    }
    .into()
}

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let ctx = Ctx {
        root: cli.root.clone().unwrap_or_else(Store::default_root),
    };
    match cli.command {
        Command::Image(c) => image::run(c, &ctx),
        Command::Images(a) => image::run(image::ImageCommand::Ls(a), &ctx),
        Command::Build(a) => build::run(a, &ctx),
        Command::Builder(c) => build::run_builder(c, &ctx),
        Command::Tag(a) => image::run(image::ImageCommand::Tag(a), &ctx),
        Command::Rmi(a) => image::run(image::ImageCommand::Rm(a), &ctx),
        Command::Save(a) => archive::run_save(a, &ctx),
        Command::Load(a) => archive::run_load(a, &ctx),
        Command::System(c) => image::run_system(c, &ctx),
        Command::Registry(c) => {
            let explicit = cli.root.as_deref().filter(|_| cli.root_on_command_line);
            registry::run(c, &ctx.root, explicit)
        }
        Command::Remote(c) => remote::run(c, &ctx),
        Command::Vulndb(c) => scan::run_vulndb(c, &ctx),
        Command::Tour(a) => tour::run(a, &ctx),
    }
}

/// The one line printed for an error.
pub fn error_line(e: &anyhow::Error) -> String {
    if let Some(x) = e.downcast_ref::<Exit>() {
        return x.message.clone();
    }
    let mut s = format!("Error: {e}");
    // Keep it to one line.
    if let Some(i) = s.find('\n') {
        s.truncate(i);
    }
    s
}

/// The exit code for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<Exit>().map(|x| x.code).unwrap_or(1)
}
