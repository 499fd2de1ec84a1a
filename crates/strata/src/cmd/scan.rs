//! `strata image sbom`, `strata image vulns` and `strata vulndb …`: glue between the
//! command line and `strata-scan`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::Args;
use strata_scan::sbom::{self, Subject};
use strata_scan::ScanResult;

use super::out;
use super::Ctx;

/// `image sbom` flags.
#[derive(Args, Debug)]
pub struct SbomArgs {
    /// Image
    pub image: String,
    /// Output format: table, json, cyclonedx (CycloneDX 1.6 JSON) or spdx (SPDX 2.3 JSON)
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Scan the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Write to a file instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Scan the image in its registry without adding it to the store
    #[arg(long)]
    pub remote: bool,
    /// Read every layer, bypassing the scan cache (nothing is taken from or added to it)
    #[arg(long)]
    pub no_cache: bool,
}

/// The scan of a local image with the subject naming it.
fn scan_local(
    ctx: &Ctx,
    word: &str,
    platform: Option<&str>,
    opts: strata_scan::ScanOptions,
) -> anyhow::Result<(ScanResult, Subject)> {
    let store = ctx.store()?;
    let (names, img) = super::image::resolve_word(&store, word, platform)?;
    let result = strata_scan::scan_image_with(&store, &img, opts)?;
    let name = names
        .first()
        .filter(|n| !n.is_dangling())
        .map(|n| n.name.clone())
        .unwrap_or_else(|| word.to_string());
    let subject = Subject {
        name,
        id: img.id().to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        timestamp: String::new(),
    };
    Ok((result, subject))
}

/// The scan of a local image (through the scan cache unless `no_cache`) or, with
/// `remote`, of the image in its registry.
fn scan_any(
    ctx: &Ctx,
    word: &str,
    platform: Option<&str>,
    remote: bool,
    no_cache: bool,
) -> anyhow::Result<(ScanResult, Subject)> {
    if remote {
        scan_remote(word, platform)
    } else {
        scan_local(ctx, word, platform, strata_scan::ScanOptions { no_cache })
    }
}

/// A layer streamed from a registry as a blocking reader; the bytes are checked against
/// the layer's digest when the stream ends.
struct RemoteLayer<'a> {
    rt: &'a tokio::runtime::Runtime,
    stream: strata_remote::client::BlobStream,
    chunk: bytes_buf::Chunk,
    digester: Option<strata_oci::Digester>,
    expected: strata_oci::Digest,
}

mod bytes_buf {
    /// The unread part of the current chunk.
    #[derive(Default)]
    pub struct Chunk {
        pub data: Vec<u8>,
        pub pos: usize,
    }
}

impl std::io::Read for RemoteLayer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.pos >= self.chunk.data.len() {
            let next = self
                .rt
                .block_on(self.stream.chunk())
                .map_err(|e| std::io::Error::other(format!("layer {}: {e}", self.expected)))?;
            match next {
                Some(b) => {
                    if let Some(d) = self.digester.as_mut() {
                        d.update(&b);
                    }
                    self.chunk = bytes_buf::Chunk {
                        data: b.to_vec(),
                        pos: 0,
                    };
                }
                None => {
                    if let Some(d) = self.digester.take() {
                        let got = d.finish();
                        if got != self.expected {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("layer {}: content has digest {got}", self.expected),
                            ));
                        }
                    }
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.data.len() - self.chunk.pos);
        buf[..n].copy_from_slice(&self.chunk.data[self.chunk.pos..self.chunk.pos + n]);
        self.chunk.pos += n;
        Ok(n)
    }
}

/// Scans an image in its registry: fetches the manifest (the platform's entry of an
/// index), the config and each layer as a stream, keeping nothing in the store.
fn scan_remote(word: &str, platform: Option<&str>) -> anyhow::Result<(ScanResult, Subject)> {
    use strata_oci::{Descriptor, Document, ImageConfig, Platform, Reference};
    let mut r = Reference::parse_normalized(word).map_err(|e| anyhow!("{e}"))?;
    if r.tag().is_none() && r.digest().is_none() {
        r = r.with_tag("latest").map_err(|e| anyhow!("{e}"))?;
    }
    let want = match platform.filter(|p| !p.is_empty()) {
        Some(p) => Platform::parse(p).map_err(|e| anyhow!("{e}"))?,
        None => Platform::host(),
    };
    let client = strata_remote::Client::new(strata_remote::ClientConfig::load()?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let top = rt.block_on(client.fetch_manifest(&r))?;
    let target = top.descriptor();
    let (manifest_descriptor, manifest) = match Document::parse(&top.bytes, Some(&top.media_type))?
    {
        Document::Manifest(m) => (target.clone(), m),
        Document::Index(i) => {
            let entry = i
                .manifests
                .iter()
                .find(|d| {
                    strata_oci::media::is_manifest(&d.media_type)
                        && d.platform.as_ref().is_some_and(|p| want.matches(p))
                })
                .cloned()
                .ok_or_else(|| {
                    anyhow!("no matching manifest for {want} in the manifest list entries")
                })?;
            let at = r.with_digest(entry.digest.clone());
            let fm = rt.block_on(client.fetch_manifest(&at))?;
            match Document::parse(&fm.bytes, Some(&fm.media_type))? {
                Document::Manifest(m) => (entry, m),
                Document::Index(_) => {
                    return Err(anyhow!("{word}: nested index entries are not images"))
                }
            }
        }
    };
    let config_raw = rt.block_on(client.fetch_blob_bytes(&r, &manifest.config))?;
    let config = ImageConfig::parse(&config_raw)?;
    let image = strata_store::ResolvedImage {
        target: target.clone(),
        manifest_descriptor,
        layers: manifest
            .layers
            .iter()
            .map(|l: &Descriptor| (l.clone(), None))
            .collect(),
        manifest,
        config,
        config_raw,
    };
    let refs = strata_scan::scan::layer_refs(&image);
    let rt_ref = &rt;
    let client_ref = &client;
    let repo = &r;
    let items = image.layers.iter().zip(refs).map(move |((d, _), lr)| {
        let stream = rt_ref
            .block_on(client_ref.fetch_blob(repo, d, 0))
            .map_err(|e| strata_scan::ScanError::Layer(format!("layer {}: {e}", d.digest)))?;
        let reader: Box<dyn std::io::Read + '_> = Box::new(RemoteLayer {
            rt: rt_ref,
            stream,
            chunk: bytes_buf::Chunk::default(),
            digester: Some(strata_oci::Digester::default()),
            expected: d.digest.clone(),
        });
        Ok((lr, reader))
    });
    let result = strata_scan::scan_layers(items)?;
    let subject = Subject {
        name: r.to_string(),
        id: target.digest.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        timestamp: String::new(),
    };
    Ok((result, subject))
}

/// Writes `text` to `path` atomically (temp file, fsync, rename), or to STDOUT.
fn emit(path: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match path {
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())?;
            o.flush()?;
        }
        Some(p) => {
            let name = p
                .file_name()
                .ok_or_else(|| anyhow!("cannot write {}: not a file name", p.display()))?;
            let tmp = p.with_file_name(format!(
                ".{}.tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, p)
            };
            if let Err(e) = write() {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).with_context(|| format!("cannot write {}", p.display()));
            }
        }
    }
    Ok(())
}

/// The LAYER cell: the layer's index and the step that made it, shortened.
fn layer_cell(l: Option<&strata_scan::LayerRef>) -> String {
    let Some(l) = l else { return String::new() };
    let mut by = l.created_by.trim().to_string();
    for p in ["/bin/sh -c ", "#(nop) "] {
        if let Some(rest) = by.strip_prefix(p) {
            by = rest.trim().to_string();
        }
    }
    let by: String = by.split_whitespace().collect::<Vec<_>>().join(" ");
    let short = if by.chars().count() > 48 {
        format!("{}…", by.chars().take(47).collect::<String>())
    } else {
        by
    };
    if short.is_empty() {
        format!("#{}", l.index)
    } else {
        format!("#{} {short}", l.index)
    }
}

fn pretty(v: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// Renders a scan in one of the SBOM formats.
fn render_sbom(format: &str, r: &ScanResult, s: &Subject) -> anyhow::Result<String> {
    match format {
        "table" => {
            let mut lines = vec![vec![
                "NAME".to_string(),
                "VERSION".into(),
                "TYPE".into(),
                "LAYER".into(),
            ]];
            for p in &r.packages {
                lines.push(vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.ptype.to_string(),
                    layer_cell(p.layer.as_ref()),
                ]);
            }
            if r.packages.is_empty() {
                return Ok("No packages discovered\n".into());
            }
            Ok(out::columns(&lines))
        }
        "json" => pretty(&sbom::to_json(r, s)),
        "cyclonedx" | "cyclonedx-json" => pretty(&sbom::to_cyclonedx(r, s)),
        "spdx" | "spdx-json" => pretty(&sbom::to_spdx(r, s)),
        other => Err(anyhow!(
            "unknown SBOM format {other:?}: use table, json, cyclonedx or spdx"
        )),
    }
}

/// Runs `strata image sbom`.
pub fn run_sbom(args: SbomArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    // Validate the format before doing any work.
    if ![
        "table",
        "json",
        "cyclonedx",
        "cyclonedx-json",
        "spdx",
        "spdx-json",
    ]
    .contains(&args.format.as_str())
    {
        return Err(anyhow!(
            "unknown SBOM format {:?}: use table, json, cyclonedx or spdx",
            args.format
        ));
    }
    let (r, s) = scan_any(
        ctx,
        &args.image,
        args.platform.as_deref(),
        args.remote,
        args.no_cache,
    )?;
    emit(args.output.as_deref(), &render_sbom(&args.format, &r, &s)?)?;
    Ok(0)
}

/// Where the vulnerability database lives: `--db`, `$STRATA_VULNDB`, else
/// `<store root>/vulndb/osv.db`.
fn db_path(ctx: &Ctx, flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("STRATA_VULNDB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    ctx.root.join("vulndb").join("osv.db")
}

/// `image vulns` flags.
#[derive(Args, Debug)]
pub struct VulnsArgs {
    /// Image
    pub image: String,
    /// Output format: table, json, sarif or cyclonedx
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only show vulnerabilities that have a fix
    #[arg(long, alias = "ignore-unfixed")]
    pub only_fixed: bool,
    /// Only show these severities (comma-separated: unknown,negligible,low,medium,high,critical)
    #[arg(long, value_delimiter = ',')]
    pub severity: Vec<String>,
    /// Exit with status 2 when a vulnerability at or above this severity is found
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Ignore rules: lines of `ID [pkg:NAME] [exp:YYYY-MM-DD] [# reason]` (default: ./.strataignore if present)
    #[arg(long)]
    pub ignore_file: Option<PathBuf>,
    /// Vulnerability database file (default: $STRATA_VULNDB, else <root>/vulndb/osv.db)
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Scan the given platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Write to a file instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Scan the image in its registry without adding it to the store
    #[arg(long)]
    pub remote: bool,
    /// Read every layer, bypassing the scan cache (nothing is taken from or added to it)
    #[arg(long)]
    pub no_cache: bool,
}

fn parse_severity(s: &str) -> anyhow::Result<strata_scan::severity::Severity> {
    s.parse().map_err(|e: String| anyhow!(e))
}

/// Runs `strata image vulns`.
pub fn run_vulns(args: VulnsArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    use strata_scan::report;
    if !["table", "json", "sarif", "cyclonedx", "cyclonedx-json"].contains(&args.format.as_str()) {
        return Err(anyhow!(
            "unknown report format {:?}: use table, json, sarif or cyclonedx",
            args.format
        ));
    }
    let severities = args
        .severity
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| parse_severity(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fail_on = args.fail_on.as_deref().map(parse_severity).transpose()?;
    let rules = match &args.ignore_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read ignore file {}", p.display()))?;
            report::parse_ignore(&text)?
        }
        None => match std::fs::read_to_string(".strataignore") {
            Ok(text) => report::parse_ignore(&text)?,
            Err(_) => Vec::new(),
        },
    };
    let path = db_path(ctx, args.db.as_deref());
    if !path.exists() {
        return Err(anyhow!(
            "no vulnerability database at {}: run `strata vulndb update` or `strata vulndb import PATH` first",
            path.display()
        ));
    }
    let db = strata_scan::vulndb::VulnDb::open(&path)?;
    let st = db.status()?;
    if st.records == 0 {
        eprintln!(
            "warning: the vulnerability database at {} is empty",
            path.display()
        );
    } else if let Some(newest) = st
        .sources
        .iter()
        .filter_map(|s| chrono::DateTime::parse_from_rfc3339(&s.updated_at).ok())
        .max()
    {
        let days = (chrono::Utc::now() - newest.with_timezone(&chrono::Utc)).num_days();
        if days >= 7 {
            eprintln!("warning: the vulnerability database was last updated {days} days ago; run `strata vulndb update`");
        }
    }
    let (scan, subject) = scan_any(
        ctx,
        &args.image,
        args.platform.as_deref(),
        args.remote,
        args.no_cache,
    )?;
    let all = strata_scan::matcher::match_scan(&db, &scan)?;
    let today = chrono::Utc::now().date_naive();
    let filter = report::Filter {
        only_fixed: args.only_fixed,
        severities,
    };
    let rep = report::build(all, &filter, &rules, today);
    for r in &rep.expired {
        eprintln!(
            "warning: ignore rule for {} (line {}) expired on {}; its findings are shown again",
            r.id,
            r.line,
            r.expires.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    let text = match args.format.as_str() {
        "table" => vulns_table(&scan, &subject, &rep),
        "json" => {
            let mut v = report::to_json(&scan, &subject, &rep);
            let updated = st.sources.iter().map(|s| s.updated_at.clone()).max();
            v["database"] =
                serde_json::json!({"path": st.path, "records": st.records, "updated": updated});
            pretty(&v)?
        }
        "sarif" => pretty(&report::to_sarif(&subject, &rep))?,
        _ => pretty(&report::to_cyclonedx(&scan, &subject, &rep))?,
    };
    emit(args.output.as_deref(), &text)?;
    if let Some(min) = fail_on {
        let n = rep.findings.iter().filter(|f| f.severity >= min).count();
        if n > 0 {
            return Err(super::exit(
                2,
                format!(
                    "Error: discovered {n} vulnerabilit{} at or above the severity threshold ({})",
                    if n == 1 { "y" } else { "ies" },
                    min.as_str().to_lowercase()
                ),
            ));
        }
    }
    Ok(0)
}

/// The Grype/Trivy-style table with a header naming the image and OS, and a summary.
fn vulns_table(scan: &ScanResult, s: &Subject, rep: &strata_scan::report::Report) -> String {
    let shown = strata_oci::Reference::parse_normalized(&s.name)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| s.name.clone());
    let os = scan
        .distro
        .as_ref()
        .map(|d| format!(" ({} {})", d.id, d.version_id))
        .unwrap_or_default();
    let mut text = format!("{shown}{os}\n\n");
    if rep.findings.is_empty() {
        text.push_str("No vulnerabilities found\n");
    } else {
        let mut lines = vec![[
            "NAME",
            "INSTALLED",
            "FIXED-IN",
            "TYPE",
            "VULNERABILITY",
            "SEVERITY",
            "LAYER",
        ]
        .map(String::from)
        .to_vec()];
        for f in &rep.findings {
            lines.push(vec![
                f.package.name.clone(),
                f.package.version.clone(),
                f.fixed_in.clone().unwrap_or_default(),
                f.package.ptype.to_string(),
                f.id.clone(),
                f.severity.as_str().to_string(),
                layer_cell(f.package.layer.as_ref()),
            ]);
        }
        text.push_str(&out::columns(&lines));
    }
    text.push('\n');
    text.push_str(&strata_scan::report::summary_line(&rep.findings));
    if !rep.ignored.is_empty() {
        text.push_str(&format!(", {} ignored", rep.ignored.len()));
    }
    text.push('\n');
    text
}

/// `strata vulndb` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum VulndbCommand {
    /// Import OSV records: JSON files, folders of them, or an ecosystem's all.zip
    Import(ImportArgs),
    /// Show the database's sources, record counts and age
    Status(StatusArgs),
    /// Download OSV's per-ecosystem archives (ECOSYSTEM/all.zip) and import them
    Update(UpdateArgs),
}

/// `vulndb update` flags.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Ecosystems to fetch (default: those fetched before, else Debian, Ubuntu, Alpine, Rocky Linux, AlmaLinux, PyPI, npm, Go, crates.io, Maven, RubyGems)
    pub ecosystems: Vec<String>,
    /// Where the archives are (default: $STRATA_OSV_URL, else OSV's public bucket)
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Vulnerability database file (default: $STRATA_VULNDB, else <root>/vulndb/osv.db)
    #[arg(long)]
    pub db: Option<PathBuf>,
}

fn run_update(a: UpdateArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    use strata_scan::update::{self, Progress};
    let base = a
        .base_url
        .or_else(|| {
            std::env::var("STRATA_OSV_URL")
                .ok()
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| update::DEFAULT_BASE_URL.to_string());
    let mut db = strata_scan::vulndb::VulnDb::open(&db_path(ctx, a.db.as_deref()))?;
    let mut ecos = a.ecosystems;
    if ecos.is_empty() {
        ecos = update::previous_ecosystems(&db)?;
    }
    if ecos.is_empty() {
        ecos = update::DEFAULT_ECOSYSTEMS
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let tty = std::io::stderr().is_terminal();
    let mut last_shown = std::time::Instant::now();
    let mut progress = |p: Progress<'_>| match p {
        Progress::Downloading {
            ecosystem,
            done,
            total,
        } => {
            if tty && last_shown.elapsed() >= std::time::Duration::from_millis(100) {
                last_shown = std::time::Instant::now();
                let of = total
                    .map(|t| format!("/{}", strata_format::human::size(t)))
                    .unwrap_or_default();
                eprint!(
                    "\r\x1b[K{ecosystem}: downloading {}{of}",
                    strata_format::human::size(done)
                );
            }
        }
        Progress::Imported {
            ecosystem,
            bytes,
            report,
        } => {
            if tty {
                eprint!("\r\x1b[K");
            }
            eprintln!(
                "{ecosystem}: downloaded {}, imported {} records",
                strata_format::human::size(bytes),
                report.records
            );
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = rt.block_on(update::update(&mut db, &base, &ecos, &mut progress));
    if tty {
        eprint!("\r\x1b[K");
    }
    let done = done?;
    let total: usize = done.iter().map(|(_, r)| r.records).sum();
    println!(
        "Updated {} ecosystem{} ({total} records)",
        done.len(),
        if done.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

/// `vulndb import` flags.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Files, folders or ZIP archives of OSV JSON
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Vulnerability database file (default: $STRATA_VULNDB, else <root>/vulndb/osv.db)
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// `vulndb status` flags.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Vulnerability database file (default: $STRATA_VULNDB, else <root>/vulndb/osv.db)
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// Runs a `strata vulndb` command.
pub fn run_vulndb(cmd: VulndbCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        VulndbCommand::Update(a) => run_update(a, ctx),
        VulndbCommand::Import(a) => {
            let mut db = strata_scan::vulndb::VulnDb::open(&db_path(ctx, a.db.as_deref()))?;
            for p in &a.paths {
                let r = db.import_path(p)?;
                println!(
                    "Imported {} records from {} ({} files)",
                    r.records,
                    p.display(),
                    r.files
                );
            }
            Ok(0)
        }
        VulndbCommand::Status(a) => {
            let path = db_path(ctx, a.db.as_deref());
            if !path.exists() {
                return Err(anyhow!(
                    "no vulnerability database at {}: run `strata vulndb update` or `strata vulndb import PATH` first",
                    path.display()
                ));
            }
            let st = strata_scan::vulndb::VulnDb::open(&path)?.status()?;
            if a.format == "json" {
                print!("{}", pretty(&serde_json::to_value(&st)?)?);
                return Ok(0);
            }
            if a.format != "table" {
                return Err(anyhow!("unknown format {:?}: use table or json", a.format));
            }
            println!("Database:   {}", st.path);
            println!("Records:    {} ({} withdrawn)", st.records, st.withdrawn);
            let now = chrono::Utc::now();
            let mut lines = vec![["SOURCE", "KIND", "RECORDS", "UPDATED"]
                .map(String::from)
                .to_vec()];
            let mut newest: Option<chrono::DateTime<chrono::Utc>> = None;
            for s in &st.sources {
                let when = chrono::DateTime::parse_from_rfc3339(&s.updated_at)
                    .ok()
                    .map(|d| d.with_timezone(&chrono::Utc));
                if let Some(w) = when {
                    newest = Some(newest.map_or(w, |n| n.max(w)));
                }
                let age = when
                    .map(|w| {
                        format!(
                            "{} ago",
                            strata_format::human::duration((now - w).to_std().unwrap_or_default())
                        )
                    })
                    .unwrap_or_else(|| s.updated_at.clone());
                lines.push(vec![
                    s.name.clone(),
                    s.kind.clone(),
                    s.records.to_string(),
                    age,
                ]);
            }
            if let Some(n) = newest {
                println!(
                    "Age:        {}",
                    strata_format::human::duration((now - n).to_std().unwrap_or_default())
                );
            }
            println!();
            print!("{}", out::columns(&lines));
            println!();
            let mut lines = vec![["ECOSYSTEM", "VULNERABILITIES"].map(String::from).to_vec()];
            for (e, n) in &st.ecosystems {
                lines.push(vec![e.clone(), n.to_string()]);
            }
            print!("{}", out::columns(&lines));
            Ok(0)
        }
    }
}
