//! `strata image build` / `strata build`: builds an image from a Dockerfile with the
//! classic builder's semantics and output (strata-build).

use std::path::PathBuf;

use clap::Args;
use strata_build::{BuildError, BuildOptions};
use strata_oci::{Platform, Reference};

use super::{exit, Ctx};

/// `build` arguments (Docker's flags).
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Build context directory
    pub path: PathBuf,
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short, long = "file")]
    pub file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Set platform (only this machine's platform can be built)
    #[arg(long)]
    pub platform: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
}

/// Runs a build.
pub fn run(a: BuildArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    for t in &a.tag {
        Reference::parse_with_default_tag(t).map_err(|e| {
            exit(
                125,
                format!("invalid argument \"{t}\" for \"-t, --tag\" flag: {e}"),
            )
        })?;
    }
    let build_args = a
        .build_arg
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (s.clone(), std::env::var(s).ok()),
        })
        .collect();
    let labels = a
        .label
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect();
    let platform = match &a.platform {
        Some(p) => Some(Platform::parse(p).map_err(|e| exit(125, format!("{e}")))?),
        None => None,
    };
    if let Some(f) = &a.iidfile {
        // Docker removes a stale ID file first.
        let _ = std::fs::remove_file(f);
    }
    let dockerfile = a.file.map(|f| {
        if f.is_absolute() || f.exists() {
            f
        } else {
            a.path.join(f)
        }
    });
    let opts = BuildOptions {
        context: a.path,
        dockerfile,
        tags: a.tag.clone(),
        build_args,
        labels,
        no_cache: a.no_cache,
        quiet: a.quiet,
        platform,
    };
    let store = ctx.store()?;
    let mut stdout = std::io::stdout().lock();
    let out = match strata_build::build(&store, &opts, &mut stdout) {
        Ok(o) => o,
        Err(e @ BuildError::Step(_)) | Err(e @ BuildError::Run(_)) => {
            return Err(exit(1, e.to_string()))
        }
        Err(e) => return Err(exit(1, format!("Error: {e}"))),
    };
    drop(stdout);
    let id = &out.manifest.digest;
    if a.quiet {
        println!("{id}");
    } else {
        println!("Successfully built {}", id.short());
        for t in &a.tag {
            let shown = Reference::parse_with_default_tag(t)
                .map(|r| r.familiar_string())
                .unwrap_or_else(|_| t.clone());
            println!("Successfully tagged {shown}");
        }
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, id.to_string())
            .map_err(|e| exit(1, format!("Error: failed to write image ID to file: {e}")))?;
    }
    Ok(0)
}

/// `strata builder …`: the build cache.
#[derive(clap::Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// `strata builder prune`.
#[derive(clap::Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Runs `strata builder …`.
pub fn run_builder(c: BuilderCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    let BuilderCommand::Prune(a) = c;
    if !a.force {
        let what = if a.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::Write::flush(&mut std::io::stderr())?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)?;
        if !matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let store = ctx.store()?;
    let r = strata_build::cache::prune(&store, a.all)?;
    println!(
        "Total reclaimed space: {}",
        strata_format::human::size(r.bytes)
    );
    Ok(0)
}
