//! `strata image unpack | export | diff`: root filesystems from images (strata-rootfs).
//!
//! * `unpack IMAGE DIR`: the image's root filesystem in DIR (absent or empty), through
//!   the chain-ID layer cache unless `--no-cache`; like `umoci unpack` without the
//!   runtime bundle.
//! * `export IMAGE -o FILE`: one flattened tar of the root filesystem, like
//!   `docker export` / `crane export` (stdout when not a terminal).
//! * `diff IMAGE`: what each layer added (A), changed (C) and deleted (D), with
//!   `docker diff`'s letters, per layer like dive's layer view.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;
use strata_format::human;
use strata_rootfs::{ApplyOptions, Change, Limits, UnpackOptions};

use super::{exit, Ctx};

/// The root-filesystem subcommands of `strata image`.
#[derive(Subcommand, Debug)]
pub enum RootfsCommand {
    /// Unpack an image's root filesystem into a directory
    Unpack(UnpackArgs),
    /// Export an image's flattened root filesystem as a tar archive
    Export(ExportArgs),
    /// Show what each layer of an image added, changed and deleted
    Diff(DiffArgs),
}

/// Bounds on layers (each one ends in a clear error when exceeded).
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Most layers an image may have
    #[arg(long, default_value_t = Limits::default().max_layers)]
    pub max_layers: usize,
    /// Most tar entries in one layer
    #[arg(long, default_value_t = Limits::default().max_entries)]
    pub max_entries: u64,
    /// Most uncompressed bytes in one layer
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    pub max_layer_bytes: u64,
    /// Largest uncompressed/compressed ratio of one layer (checked past 64 MiB)
    #[arg(long, default_value_t = Limits::default().max_ratio)]
    pub max_ratio: u64,
    /// Most bytes of tar metadata (PAX records, long names) for one entry
    #[arg(long, default_value_t = Limits::default().max_metadata)]
    pub max_metadata: u64,
    /// Most bytes of extended attributes on one entry
    #[arg(long, default_value_t = Limits::default().max_xattr_bytes)]
    pub max_xattr_bytes: usize,
}

impl LimitArgs {
    fn options(&self) -> ApplyOptions {
        ApplyOptions {
            limits: Limits {
                max_layers: self.max_layers,
                max_entries: self.max_entries,
                max_bytes: self.max_layer_bytes,
                max_ratio: self.max_ratio,
                max_metadata: self.max_metadata,
                max_xattr_bytes: self.max_xattr_bytes,
                ..Limits::default()
            },
            ..ApplyOptions::default()
        }
    }
}

/// `image unpack` arguments.
#[derive(Args, Debug)]
pub struct UnpackArgs {
    /// Image
    pub image: String,
    /// Destination directory (must not exist, or be empty)
    pub dir: PathBuf,
    /// Unpack the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Apply every layer into DIR instead of going through the layer cache
    #[arg(long)]
    pub no_cache: bool,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `image export` arguments.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Image
    pub image: String,
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Export the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `image diff` arguments.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Image
    pub image: String,
    /// Show the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Only this layer (1 is the base layer)
    #[arg(long)]
    pub layer: Option<usize>,
    /// Output format: 'table' (default) or 'json'
    #[arg(long)]
    pub format: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs a root-filesystem command.
pub fn run(cmd: RootfsCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        RootfsCommand::Unpack(a) => unpack(a, ctx),
        RootfsCommand::Export(a) => export(a, ctx),
        RootfsCommand::Diff(a) => diff(a, ctx),
    }
}

fn warn_report(r: &strata_rootfs::UnpackReport) {
    for w in r.warnings() {
        eprintln!("warning: {w}");
    }
    let skipped = r.skipped_owners();
    if skipped > 0 {
        eprintln!("warning: not running as root: owners of {skipped} entries were not applied");
    }
}

fn unpack(a: UnpackArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let (names, img) = super::image::resolve_word(&store, &a.image, a.platform.as_deref())?;
    let opts = UnpackOptions {
        apply: a.limits.options(),
        no_cache: a.no_cache,
    };
    let rep = strata_rootfs::unpack(&store, &img, &a.dir, &opts)?;
    warn_report(&rep);
    if !a.quiet {
        let total = img.manifest.layers.len();
        println!(
            "Unpacked {} ({total} layers, {} from cache) to {}",
            names[0].name.trim_start_matches('@'),
            rep.cached_layers,
            a.dir.display()
        );
    }
    Ok(0)
}

fn export(a: ExportArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    if a.output.is_none() && io::stdout().is_terminal() {
        return Err(exit(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let store = ctx.store()?;
    let (_, img) = super::image::resolve_word(&store, &a.image, a.platform.as_deref())?;
    let opts = a.limits.options();
    match &a.output {
        Some(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.strata-export-{}", std::process::id()));
            let f = std::fs::File::create_new(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let written = (|| -> anyhow::Result<strata_rootfs::UnpackReport> {
                let mut w = BufWriter::with_capacity(1 << 20, &f);
                let (_, rep) = strata_rootfs::export(&store, &img, &opts, &mut w)?;
                w.flush()?;
                drop(w);
                f.sync_all()?;
                std::fs::rename(&tmp, path)
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(rep)
            })();
            let rep = match written {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            warn_report(&rep);
        }
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            let (_, rep) = strata_rootfs::export(&store, &img, &opts, &mut w)?;
            w.flush()?;
            warn_report(&rep);
        }
    }
    Ok(0)
}

fn diff(a: DiffArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let json_out = match a.format.as_deref() {
        None | Some("table") => false,
        Some("json") => true,
        Some(f) => {
            return Err(exit(
                1,
                format!("unknown format {f:?}: use 'table' or 'json'"),
            ))
        }
    };
    let store = ctx.store()?;
    let (_, img) = super::image::resolve_word(&store, &a.image, a.platform.as_deref())?;
    let layers = strata_rootfs::layer_changes(&store, &img, &a.limits.options())?;
    let n = layers.len();
    if let Some(l) = a.layer {
        if l == 0 || l > n {
            return Err(exit(
                1,
                format!("layer {l} does not exist: the image has {n} layers"),
            ));
        }
    }
    // The history entry that made each layer.
    let created_by: Vec<String> = img
        .history()
        .into_iter()
        .filter(|(_, l)| l.is_some())
        .map(|(h, _)| h.created_by.unwrap_or_default())
        .collect();
    let mut out = io::stdout().lock();
    let mut docs = Vec::new();
    for (i, lc) in layers.iter().enumerate() {
        if a.layer.is_some_and(|l| l != i + 1) {
            continue;
        }
        let by = created_by.get(i).cloned().unwrap_or_default();
        let count = |c: Change| lc.changes.values().filter(|x| **x == c).count();
        if json_out {
            docs.push(json!({
                "Layer": i + 1,
                "Digest": lc.layer.descriptor.digest.to_string(),
                "DiffID": lc.layer.diff_id.to_string(),
                "CreatedBy": by,
                "Size": lc.bytes,
                "Wasted": lc.wasted,
                "Changes": lc.changes.iter().map(|(p, c)| json!({"Path": p, "Kind": c.letter().to_string()})).collect::<Vec<_>>(),
            }));
            continue;
        }
        writeln!(
            out,
            "LAYER {}/{n}  {}  {}  {}",
            i + 1,
            lc.layer.descriptor.digest.short(),
            human::size(lc.bytes),
            by.trim()
        )?;
        for (p, c) in &lc.changes {
            writeln!(out, "{} {p}", c.letter())?;
        }
        let wasted = if lc.wasted > 0 {
            format!(
                " ({} of lower layers' files replaced or removed)",
                human::size(lc.wasted)
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} added, {} changed, {} deleted{wasted}\n",
            count(Change::Added),
            count(Change::Changed),
            count(Change::Deleted)
        )?;
    }
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?;
    } else if a.layer.is_none() {
        // dive's summary: bytes shipped in layers but hidden by later ones.
        let total: u64 = layers.iter().map(|l| l.bytes).sum();
        let wasted: u64 = layers.iter().map(|l| l.wasted).sum();
        let efficiency = if total == 0 {
            100.0
        } else {
            100.0 * (total - wasted.min(total)) as f64 / total as f64
        };
        writeln!(
            out,
            "Total file bytes: {}  Potential wasted space: {}  Image efficiency: {efficiency:.1}%",
            human::size(total),
            human::size(wasted)
        )?;
    }
    Ok(0)
}

/// `pull --unpack DIR`: starts unpacking into `dir` as the pull reports progress.
pub fn pull_unpack_start(
    store: &std::sync::Arc<strata_store::Store>,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<Option<strata_rootfs::follow::PullUnpacker>> {
    let Some(dir) = dir else { return Ok(None) };
    Ok(Some(strata_rootfs::follow::PullUnpacker::start(
        store.clone(),
        dir.to_path_buf(),
        UnpackOptions::default(),
    )?))
}

/// The pull's tap for `pull --unpack`: a layer that starts downloading while it is the
/// next to apply is applied from its download (inflated once, for both the pull's checks
/// and the unpack).
struct UnpackTap(strata_rootfs::follow::LiveTap);

impl strata_remote::LayerTap for UnpackTap {
    fn open(
        &self,
        index: usize,
        layer: &strata_oci::Descriptor,
        diff_id: Option<&strata_oci::Digest>,
    ) -> Option<Box<dyn strata_store::layer::TarSink>> {
        self.0.open_live(index, diff_id, layer.size)
    }
}

/// The layer tap to put in the pull's options, when unpacking.
pub fn pull_unpack_tap(
    u: &Option<strata_rootfs::follow::PullUnpacker>,
) -> Option<std::sync::Arc<dyn strata_remote::LayerTap>> {
    u.as_ref()
        .map(|u| std::sync::Arc::new(UnpackTap(u.live_tap())) as std::sync::Arc<_>)
}

/// Forwards a pull event to the unpacker: the config and each layer once it is stored.
pub fn pull_unpack_event(
    u: &Option<strata_rootfs::follow::PullUnpacker>,
    e: &strata_remote::Event,
) {
    use strata_remote::event::Status;
    let (
        Some(u),
        strata_remote::Event::Blob {
            digest,
            layer,
            status,
            ..
        },
    ) = (u, e)
    else {
        return;
    };
    match (layer, status) {
        (false, Status::DownloadComplete | Status::AlreadyExists | Status::PullComplete) => {
            u.config(digest)
        }
        // PullComplete: downloaded now, its diff ID computed from the download stream.
        (true, Status::PullComplete) => u.layer_verified(digest),
        (true, Status::AlreadyExists) => u.layer(digest),
        _ => {}
    }
}

/// Ends a `pull --unpack`: applies what is left when the pull succeeded, discards the
/// partial tree when it failed.
pub fn pull_unpack_finish(
    u: Option<strata_rootfs::follow::PullUnpacker>,
    pulled: Option<&strata_oci::Descriptor>,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let Some(u) = u else { return Ok(()) };
    match pulled {
        Some(m) => {
            let rep = u.finish(m)?;
            warn_report(&rep);
            if let Some(d) = dir {
                eprintln!(
                    "Unpacked to {} ({} of {} layers while downloading, {} straight from the download)",
                    d.display(),
                    rep.applied_before_end,
                    rep.applied.len(),
                    rep.applied_from_download
                );
            }
        }
        None => u.abort(),
    }
    Ok(())
}
