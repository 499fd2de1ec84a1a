//! `strata registry serve` and `strata registry gc`: the CLI over `strata-registry`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

/// `strata registry …` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum RegistryCommand {
    /// Run an OCI Distribution registry server.
    Serve(ServeArgs),
    /// Delete blobs (and optionally untagged manifests) nothing references.
    Gc(GcArgs),
}

/// Flags of `strata registry serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:5000, or the config file's `addr`).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// TOML configuration file for everything else (auth, limits, gc, tls, notifications).
    /// The storage root is the config's `root`, else a `registry` folder under the store
    /// root (`strata --root`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr: `text` or `json` (one JSON object per line). The level comes
    /// from `STRATA_LOG` (default `info`).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Publish Strata's sample image (welcome-to-strata:latest, the one `strata tour`
    /// uses) into the registry's storage before serving.
    #[arg(long)]
    pub demo: bool,
}

/// Flags of `strata registry gc`.
#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// TOML configuration file (its `root` and `[gc]` settings are used); without one the
    /// registry is the `registry` folder under the store root.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Report what would be deleted without deleting anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete manifests that no tag reaches.
    #[arg(long)]
    pub delete_untagged: bool,
    /// Keep blobs modified within this many seconds (default: the config's gc.grace_secs, 3600).
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The registry's root: `--root DIR` on the command line, else the config file's
/// `root`, else `registry/` under the store root.
fn load_config(
    path: Option<&Path>,
    store_root: &Path,
    explicit_root: Option<&Path>,
) -> anyhow::Result<strata_registry::Config> {
    let mut cfg = match path {
        Some(p) => strata_registry::Config::from_file(p)?,
        None => strata_registry::Config::default(),
    };
    if let Some(r) = explicit_root {
        cfg.root = r.to_path_buf();
    } else if cfg.root == strata_registry::Config::default().root {
        cfg.root = store_root.join("registry");
    }
    Ok(cfg)
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Another subscriber may already be installed (tests, embedding); keep it.
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs a `strata registry` subcommand; returns the process exit code.
/// Runs a registry command. `explicit_root` is `--root` as typed for this command: the
/// registry's storage root.
pub fn run(
    cmd: RegistryCommand,
    store_root: &Path,
    explicit_root: Option<&Path>,
) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cmd {
        RegistryCommand::Serve(a) => {
            init_logging(&a.log_format);
            let mut cfg = load_config(a.config.as_deref(), store_root, explicit_root)?;
            if let Some(addr) = a.addr {
                cfg.addr = addr;
            }
            std::fs::create_dir_all(&cfg.root)
                .with_context(|| format!("creating {}", cfg.root.display()))?;
            let root = cfg.root.clone();
            if a.demo {
                let d = strata_sample::Sample::build()
                    .publish(&root, strata_sample::REPOSITORY, strata_sample::TAG)
                    .context("publishing the sample image")?;
                eprintln!(
                    "published {}:{} ({d})",
                    strata_sample::REPOSITORY,
                    strata_sample::TAG
                );
            }
            rt.block_on(async move {
                let (addr, fut) = strata_registry::bind(cfg, shutdown_signal()).await?;
                eprintln!(
                    "strata registry listening on {addr} (root {})",
                    root.display()
                );
                fut.await?;
                eprintln!("strata registry stopped");
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(0)
        }
        RegistryCommand::Gc(a) => {
            let cfg = load_config(a.config.as_deref(), store_root, explicit_root)?;
            if !cfg.root.is_dir() {
                anyhow::bail!("registry root {} does not exist", cfg.root.display());
            }
            let opts = strata_registry::GcOptions {
                dry_run: a.dry_run,
                delete_untagged: a.delete_untagged || cfg.gc.delete_untagged,
                grace: Duration::from_secs(a.grace.unwrap_or(cfg.gc.grace_secs)),
                upload_expiry: Duration::from_secs(cfg.limits.upload_expiry_secs),
            };
            let report = rt.block_on(strata_registry::gc(&cfg.root, opts))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let verb = if a.dry_run { "would delete" } else { "deleted" };
                for m in &report.manifests_deleted {
                    println!("{verb} manifest {m}");
                }
                for b in &report.blobs_deleted {
                    println!("{verb} blob {b}");
                }
                println!(
                    "{} repositories, {} blobs referenced, {} kept in grace window, {} blobs {verb} ({} bytes), {} manifests {verb}, {} upload sessions purged",
                    report.repositories,
                    report.blobs_marked,
                    report.blobs_in_grace,
                    report.blobs_deleted.len(),
                    report.bytes_freed,
                    report.manifests_deleted.len(),
                    report.uploads_purged
                );
            }
            Ok(0)
        }
    }
}
