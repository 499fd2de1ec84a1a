//! `strata save` and `strata load`: Docker's commands over the store's archive module.
//!
//! `save` writes a `docker save`-compatible tar (or an OCI archive or layout directory)
//! to `-o` (through a temp file renamed into place) or to a redirected stdout; `load`
//! reads one from `-i` (a file, or an OCI layout directory) or stdin and prints Docker's
//! lines (`Loaded image: …`). Unlike Docker (moby#29993), `load` shows progress on a
//! terminal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use strata_oci::{Descriptor, Platform, Reference};
use strata_store::archive::{self, LoadEvent, LoadOptions, LoadReport, SaveFormat};
use strata_store::Store;

use super::{exit, Ctx};

/// save flags.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Archive format: docker-archive, oci-archive or oci-dir (oci-dir needs -o DIR)
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive", "oci-dir"])]
    pub format: String,
    /// Save only the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Images to save
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// load flags.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file (or OCI layout directory), instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Load only the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
}

fn parse_platform(p: Option<&str>) -> anyhow::Result<Option<Platform>> {
    p.map(|p| Platform::parse(p).map_err(anyhow::Error::from))
        .transpose()
}

/// Works out what to save for each word: (requested full name or None for an ID, target).
fn select(store: &Store, words: &[String]) -> anyhow::Result<Vec<(Option<String>, Descriptor)>> {
    let mut out: Vec<(Option<String>, Descriptor)> = Vec::new();
    let mut push = |name: Option<String>, d: Descriptor| {
        if !out.iter().any(|(n, t)| n == &name && t.digest == d.digest) {
            out.push((name, d));
        }
    };
    for word in words {
        // A repository without a tag saves every tag of it, as Docker does.
        if let Ok(r) = Reference::parse_normalized(word) {
            if r.tag().is_none() && r.digest().is_none() {
                let prefix = format!("{}:", r.name());
                let tagged: Vec<_> = store
                    .meta()
                    .names()?
                    .into_iter()
                    .filter(|n| n.name.starts_with(&prefix))
                    .collect();
                if !tagged.is_empty() {
                    for n in tagged {
                        push(
                            Some(n.name.clone()),
                            Descriptor::new(&n.media_type, n.digest, n.size),
                        );
                    }
                    continue;
                }
            }
        }
        let full = Reference::parse_with_default_tag(word)
            .ok()
            .map(|r| r.to_string());
        let recs = store.lookup(word, full.as_deref())?;
        for rec in recs {
            let by_name = full.as_deref() == Some(rec.name.as_str());
            // Saved by ID, an image keeps every name it has, so a later load restores
            // its tags (Docker drops them: moby#10592).
            let name = (by_name || !rec.is_dangling()).then(|| rec.name.clone());
            push(
                name,
                Descriptor::new(&rec.media_type, rec.digest.clone(), rec.size),
            );
            if by_name {
                break;
            }
        }
    }
    // Saving an ID that also has a name requested: keep only the named entry.
    let named: Vec<_> = out
        .iter()
        .filter(|(n, _)| n.is_some())
        .map(|(_, d)| d.digest.clone())
        .collect();
    out.retain(|(n, d)| n.is_some() || !named.contains(&d.digest));
    Ok(out)
}

/// A file in the destination's directory that replaces the destination on `commit`.
struct TempOut {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl TempOut {
    fn create(dest: &Path) -> anyhow::Result<(TempOut, File)> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = dest
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_else(|| "out".into());
        let tmp = dir.join(format!(".{base}.strata-tmp-{}", std::process::id()));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("failed to save image: {}: {e}", tmp.display()))?;
        Ok((
            TempOut {
                tmp,
                dest: dest.to_path_buf(),
                done: false,
            },
            f,
        ))
    }

    fn commit(mut self, f: File) -> anyhow::Result<()> {
        f.sync_all()?;
        drop(f);
        fs::rename(&self.tmp, &self.dest)
            .map_err(|e| anyhow::anyhow!("failed to save image: {}: {e}", self.dest.display()))?;
        if let Some(dir) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for TempOut {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Runs save.
pub fn run_save(a: SaveArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let format: SaveFormat = a.format.parse()?;
    let platform = parse_platform(a.platform.as_deref())?;
    if a.output.is_none() {
        if format == SaveFormat::OciDir {
            return Err(exit(1, "the oci-dir format needs -o DIR"));
        }
        if io::stdout().is_terminal() {
            return Err(exit(
                1,
                "cowardly refusing to save to a terminal. Use the -o flag or redirect",
            ));
        }
    }
    let store = ctx.store()?;
    let images = select(&store, &a.images)?;
    match (&a.output, format) {
        (Some(dir), SaveFormat::OciDir) => {
            archive::save_dir(&store, &images, dir, platform.as_ref())?;
        }
        (Some(path), _) => {
            let (guard, f) = TempOut::create(path)?;
            let w = archive::save(
                &store,
                &images,
                BufWriter::with_capacity(1 << 20, f),
                format,
                platform.as_ref(),
            )?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            guard.commit(f)?;
        }
        (None, _) => {
            let out = io::stdout().lock();
            let mut w = archive::save(
                &store,
                &images,
                BufWriter::with_capacity(1 << 20, out),
                format,
                platform.as_ref(),
            )?;
            w.flush()?;
        }
    }
    Ok(0)
}

fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

/// A one-line progress display on stderr, redrawn in place.
struct ProgressLine {
    layer: String,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl ProgressLine {
    fn on(&mut self, e: &LoadEvent) {
        match e {
            LoadEvent::Layer {
                path, digest, size, ..
            } => {
                self.layer = match digest {
                    Some(d) => format!("{} ({})", d.short(), human(*size)),
                    None => format!("{path} ({})", human(*size)),
                };
                self.draw(None, true);
            }
            LoadEvent::Read { consumed, total } => {
                let done = total.is_some_and(|t| *consumed >= t);
                self.draw(Some((*consumed, *total)), done);
            }
        }
    }

    fn draw(&mut self, read: Option<(u64, Option<u64>)>, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .last_draw
                .is_some_and(|t| now.duration_since(t).as_millis() < 100)
        {
            return;
        }
        self.last_draw = Some(now);
        let progress = match read {
            Some((c, Some(t))) if t > 0 => {
                let cells = ((c.min(t) as f64 / t as f64) * 50.0) as usize;
                let bar = format!("{}>{}", "=".repeat(cells), " ".repeat(50 - cells.min(50)));
                format!("[{}] {}/{}", &bar[..51.min(bar.len())], human(c), human(t))
            }
            Some((c, _)) => human(c),
            None => String::new(),
        };
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[2KLoading layer {}  {progress}", self.layer);
        let _ = err.flush();
        self.drawn = true;
    }

    fn finish(&self) {
        if self.drawn {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

fn print_report(r: &LoadReport) {
    let mut out = io::stdout().lock();
    for img in &r.images {
        for (name, old) in &img.replaced {
            let familiar = Reference::parse_normalized(name)
                .map(|r| r.familiar_string())
                .unwrap_or(name.clone());
            let _ = writeln!(
                out,
                "The image {familiar} already exists, renaming the old one with ID {old} to empty string"
            );
        }
        if img.names.is_empty() {
            let _ = writeln!(out, "Loaded image ID: {}", img.id);
        }
        for n in &img.names {
            let familiar = Reference::parse_normalized(n)
                .map(|r| r.familiar_string())
                .unwrap_or(n.clone());
            let _ = writeln!(out, "Loaded image: {familiar}");
        }
    }
}

/// Runs load.
pub fn run_load(a: LoadArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let platform = parse_platform(a.platform.as_deref())?;
    let show = !a.quiet && io::stderr().is_terminal();
    let line = std::cell::RefCell::new(ProgressLine {
        layer: String::new(),
        last_draw: None,
        drawn: false,
    });
    let mut opts = LoadOptions {
        platform,
        ..Default::default()
    };
    if show {
        opts.progress = Some(Box::new(|e: &LoadEvent| line.borrow_mut().on(e)));
    }
    let store = ctx.store()?;
    let result = match &a.input {
        Some(p) if p.is_dir() => archive::load_dir(&store, p, opts),
        Some(p) => {
            let f = File::open(p).map_err(|e| anyhow::anyhow!("open {}: {e}", p.display()))?;
            opts.total_size = f.metadata().ok().map(|m| m.len());
            archive::load(&store, f, opts)
        }
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                return Err(exit(1, "requested load from stdin, but stdin is empty"));
            }
            let mut r = BufReader::with_capacity(1 << 16, stdin.lock());
            if r.fill_buf()?.is_empty() {
                return Err(exit(1, "requested load from stdin, but stdin is empty"));
            }
            archive::load(&store, r, opts)
        }
    };
    line.borrow().finish();
    let report = result?;
    if !a.quiet && report.resumed_bytes > 0 {
        eprintln!(
            "Resumed an interrupted load: {} were already in the store",
            human(report.resumed_bytes)
        );
    }
    print_report(&report);
    Ok(0)
}
