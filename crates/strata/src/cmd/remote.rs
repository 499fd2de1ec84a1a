//! `strata pull | push | search | login | logout | copy`, `strata manifest inspect`,
//! and the remote halves of `strata image tags` / `image inspect --remote`.
//!
//! Glue only: the work is in `strata-remote`; this module parses flags, runs the
//! pipelines on a small tokio runtime, and renders their events the way Docker prints
//! progress (lines updated in place on a TTY, plain status lines otherwise, or JSON).

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use strata_format::human;
use strata_oci::{Digest, Document, Platform, Reference};
use strata_remote::{Client, ClientConfig, Credentials, Event, PullOptions, PushOptions};

use super::out::{self, OutputFormat};
use super::{exit, Ctx};

/// Remote commands (flattened into the top level).
#[derive(Subcommand, Debug)]
pub enum RemoteCommand {
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Search Docker Hub (or a registry) for images
    Search(SearchArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Copy an image between registries, OCI layouts and archives without the local store
    Copy(CopyArgs),
    /// Inspect manifests in a registry
    #[command(subcommand)]
    Manifest(ManifestCommand),
}

/// `strata manifest` subcommands.
#[derive(Subcommand, Debug)]
pub enum ManifestCommand {
    /// Display an image manifest, or manifest list
    Inspect(ManifestInspectArgs),
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ProgressMode {
    /// A TTY gets lines updated in place, anything else plain lines.
    #[default]
    Auto,
    /// Lines updated in place.
    Tty,
    /// One line per status change.
    Plain,
    /// One JSON event per line.
    Json,
    /// Nothing but the result.
    Quiet,
}

/// `pull` flags.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    pub name: String,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Maximum concurrent layer downloads
    #[arg(long, default_value_t = 3)]
    pub max_concurrent_downloads: usize,
    /// Unpack the image's root filesystem into DIR while its layers download
    #[arg(long, value_name = "DIR")]
    pub unpack: Option<std::path::PathBuf>,
    /// Progress output: auto, tty, plain, json or quiet
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// `push` flags.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// NAME[:TAG]
    pub name: String,
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Push only this platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Maximum concurrent layer uploads
    #[arg(long, default_value_t = 5)]
    pub max_concurrent_uploads: usize,
    /// Upload large blobs in PATCH chunks of this many bytes (0: one streamed PATCH)
    #[arg(long, default_value_t = 0, hide = true)]
    pub chunk_size: u64,
    /// Progress output: auto, tty, plain, json or quiet
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// `search` flags.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// TERM (prefix with a registry host to search that registry)
    pub term: String,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
}

/// `login` flags.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// SERVER (default: Docker Hub)
    pub server: Option<String>,
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (insecure: prefer --password-stdin)
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
}

/// `logout` flags.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// SERVER (default: Docker Hub)
    pub server: Option<String>,
}

/// `copy` flags.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Source: [docker://]REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]
    pub source: String,
    /// Destination: [docker://]REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]
    pub destination: String,
    /// Copy only this platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress progress output
    #[arg(short, long)]
    pub quiet: bool,
}

/// `manifest inspect` flags.
#[derive(Args, Debug)]
pub struct ManifestInspectArgs {
    /// [MANIFEST_LIST] MANIFEST
    #[arg(required = true, num_args = 1..=2)]
    pub names: Vec<String>,
    /// Allow communication with an insecure registry
    #[arg(long)]
    pub insecure: bool,
    /// Output additional info including layers and platform
    #[arg(short, long)]
    pub verbose: bool,
}

/// Runs a remote command.
pub fn run(cmd: RemoteCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        RemoteCommand::Pull(a) => pull(a, ctx),
        RemoteCommand::Push(a) => push(a, ctx),
        RemoteCommand::Search(a) => search(a),
        RemoteCommand::Login(a) => login(a),
        RemoteCommand::Logout(a) => logout(a),
        RemoteCommand::Copy(a) => copy(a),
        RemoteCommand::Manifest(ManifestCommand::Inspect(a)) => manifest_inspect(a),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn client() -> anyhow::Result<Client> {
    Ok(Client::new(ClientConfig::load()?))
}

fn parse_ref(s: &str) -> anyhow::Result<Reference> {
    Reference::parse_normalized(s).map_err(|e| anyhow!("{e}"))
}

fn parse_platform(p: Option<&str>) -> anyhow::Result<Option<Platform>> {
    p.filter(|p| !p.is_empty())
        .map(|p| Platform::parse(p).map_err(|e| anyhow!("{e}")))
        .transpose()
}

// ------------------------------------------------------------------ progress

/// Renders pipeline events as Docker does.
pub struct Renderer {
    mode: ProgressMode,
    out: Box<dyn Write>,
    ids: Vec<String>,
    last: HashMap<String, String>,
}

/// Docker's progress text: `[=====>     ]  12.3MB/45.6MB` (jsonmessage's
/// `JSONProgress.String` on a wide terminal: 50 cells of `=` by percent, then `>`).
fn bar(current: u64, total: u64) -> String {
    let pct = (current.min(total) * 100).checked_div(total).unwrap_or(0) / 2;
    let pct = pct.min(50) as usize;
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(pct),
        " ".repeat(50 - pct),
        human::human_size_with_precision(current as f64, 4),
        human::human_size_with_precision(total as f64, 4)
    )
}

impl Renderer {
    /// A renderer writing to stdout in `mode` (Auto decided by whether stdout is a TTY).
    pub fn new(mode: ProgressMode) -> Renderer {
        let mode = match mode {
            ProgressMode::Auto if std::io::stdout().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        Renderer {
            mode,
            out: Box::new(std::io::stdout()),
            ids: Vec::new(),
            last: HashMap::new(),
        }
    }

    /// Prints the outcome as one JSON object (JSON mode only).
    pub fn result(&mut self, v: Value) {
        if self.mode == ProgressMode::Json {
            let _ = writeln!(self.out, "{v}");
            let _ = self.out.flush();
        }
    }

    /// Prints a message line (not in quiet or JSON mode).
    pub fn line(&mut self, s: &str) {
        if matches!(self.mode, ProgressMode::Tty | ProgressMode::Plain) {
            let _ = writeln!(self.out, "{s}");
            let _ = self.out.flush();
        }
        if self.mode == ProgressMode::Tty {
            // Lines above no longer belong to the layer table.
            self.ids.clear();
        }
    }

    fn set(&mut self, id: &str, text: String) {
        if self.last.get(id) == Some(&text) {
            return;
        }
        self.last.insert(id.to_string(), text.clone());
        match self.mode {
            ProgressMode::Tty => match self.ids.iter().position(|i| i == id) {
                None => {
                    self.ids.push(id.to_string());
                    let _ = writeln!(self.out, "{id}: {text}");
                }
                Some(i) => {
                    let up = self.ids.len() - i;
                    let _ = write!(self.out, "\x1b[{up}A\r\x1b[2K{id}: {text}\n");
                    if up > 1 {
                        let _ = write!(self.out, "\x1b[{}B", up - 1);
                    }
                }
            },
            ProgressMode::Plain => {
                let _ = writeln!(self.out, "{id}: {text}");
            }
            _ => {}
        }
        let _ = self.out.flush();
    }

    /// Renders one event.
    pub fn event(&mut self, e: &Event) {
        if self.mode == ProgressMode::Json {
            if let Ok(s) = serde_json::to_string(e) {
                let _ = writeln!(self.out, "{s}");
                let _ = self.out.flush();
            }
            return;
        }
        match e {
            Event::PullingFrom { tag, repository } => {
                self.line(&format!("{tag}: Pulling from {repository}"))
            }
            Event::PushRefersTo { repository } => {
                self.line(&format!("The push refers to repository [{repository}]"))
            }
            Event::Plan {
                layers,
                transfer_bytes,
                total_bytes,
            } if *transfer_bytes > 0 && *layers > 0 => {
                self.line(&format!(
                    "Downloading {} of {} in {} layer{}",
                    human::size(*transfer_bytes),
                    human::size(*total_bytes),
                    layers,
                    if *layers == 1 { "" } else { "s" }
                ));
            }
            Event::Blob {
                digest,
                layer: true,
                status,
                current,
                total,
            } => {
                let id = digest.short().to_string();
                if status.has_progress() {
                    if self.mode == ProgressMode::Tty {
                        self.set(&id, format!("{} {}", status.text(), bar(*current, *total)));
                    }
                    // Plain output has no byte progress (Docker's non-TTY behaviour).
                    return;
                }
                self.set(&id, status.text());
            }
            Event::Retrying {
                digest, delay_secs, ..
            } => {
                self.set(
                    digest.short(),
                    format!(
                        "Retrying in {} second{}",
                        delay_secs,
                        if *delay_secs == 1 { "" } else { "s" }
                    ),
                );
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ pull

fn pull(a: PullArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let mut r = parse_ref(&a.name)?;
    let platform = parse_platform(a.platform.as_deref())?;
    let mode = if a.quiet {
        ProgressMode::Quiet
    } else {
        a.progress
    };
    let mut rd = Renderer::new(mode);
    let store = Arc::new(ctx.store()?);
    let client = client()?;
    let rt = runtime()?;
    let mut opts = PullOptions {
        platform,
        max_concurrent_downloads: a.max_concurrent_downloads.max(1),
        layer_tap: None,
    };
    if a.all_tags {
        if r.tag().is_some() || r.digest().is_some() {
            bail!("tag can't be used with --all-tags/-a");
        }
        if a.unpack.is_some() {
            bail!("--unpack can't be used with --all-tags/-a");
        }
        let tags = rt.block_on(client.tags(&r))?;
        for t in &tags {
            let tr = r.with_tag(t)?;
            let res = rt.block_on(strata_remote::pull(
                &client,
                store.clone(),
                &tr,
                &opts,
                |e| rd.event(&e),
            ))?;
            rd.line(&format!("Digest: {}", res.target.digest));
        }
        rd.line(&format!(
            "Status: Downloaded newer image for {}",
            r.familiar_name()
        ));
        println!("{r}");
        return Ok(0);
    }
    if r.tag().is_none() && r.digest().is_none() {
        rd.line("Using default tag: latest");
        r = r.with_tag("latest")?;
    }
    let unpacker = super::rootfs::pull_unpack_start(&store, a.unpack.as_deref())?;
    opts.layer_tap = super::rootfs::pull_unpack_tap(&unpacker);
    let res = rt.block_on(strata_remote::pull(&client, store, &r, &opts, |e| {
        super::rootfs::pull_unpack_event(&unpacker, &e);
        rd.event(&e)
    }));
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            super::rootfs::pull_unpack_finish(unpacker, None, None)?;
            return Err(e.into());
        }
    };
    rd.line(&format!("Digest: {}", res.target.digest));
    let status = if res.up_to_date {
        "Image is up to date for"
    } else {
        "Downloaded newer image for"
    };
    rd.line(&format!("Status: {status} {}", r.familiar_string()));
    rd.result(json!({
        "event": "pulled",
        "reference": r.to_string(),
        "digest": res.target.digest.to_string(),
        "up_to_date": res.up_to_date,
        "downloaded_bytes": res.downloaded_bytes,
    }));
    super::rootfs::pull_unpack_finish(unpacker, Some(&res.manifest), a.unpack.as_deref())?;
    if rd.mode != ProgressMode::Json {
        println!("{r}");
    }
    Ok(0)
}

// ------------------------------------------------------------------ push

fn push(a: PushArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let r = parse_ref(&a.name)?;
    let platform = parse_platform(a.platform.as_deref())?;
    let mode = if a.quiet {
        ProgressMode::Quiet
    } else {
        a.progress
    };
    let mut rd = Renderer::new(mode);
    let store = Arc::new(ctx.store()?);
    let refs: Vec<Reference> = if a.all_tags {
        if r.tag().is_some() || r.digest().is_some() {
            bail!("tag can't be used with --all-tags/-a");
        }
        let mut v: Vec<Reference> = store
            .meta()
            .names()?
            .into_iter()
            .filter_map(|n| Reference::parse_normalized(&n.name).ok())
            .filter(|n| n.name() == r.name() && n.tag().is_some() && n.digest().is_none())
            .collect();
        v.sort();
        if v.is_empty() {
            bail!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            );
        }
        v
    } else if r.digest().is_some() {
        bail!("cannot push a digest reference");
    } else if r.tag().is_none() {
        rd.line("Using default tag: latest");
        vec![r.with_tag("latest")?]
    } else {
        vec![r.clone()]
    };
    let client = client()?;
    let rt = runtime()?;
    let opts = PushOptions {
        max_concurrent_uploads: a.max_concurrent_uploads.max(1),
        chunk_size: a.chunk_size,
        platform,
    };
    for tr in &refs {
        let res = rt.block_on(strata_remote::push(
            &client,
            store.clone(),
            tr,
            &opts,
            |e| rd.event(&e),
        ))?;
        rd.line(&format!(
            "{}: digest: {} size: {}",
            res.tag, res.digest, res.size
        ));
        rd.result(json!({
            "event": "pushed",
            "reference": tr.to_string(),
            "digest": res.digest.to_string(),
            "size": res.size,
            "uploaded_bytes": res.uploaded_bytes,
        }));
        if a.quiet {
            println!("{tr}");
        }
    }
    Ok(0)
}

// ------------------------------------------------------------------ search

/// Splits `host/term` into a registry domain and a term (Docker Hub by default).
fn search_target(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first == "localhost" || first.contains('.') || first.contains(':') {
            let d = if first == "index.docker.io" || first == "registry-1.docker.io" {
                "docker.io"
            } else {
                first
            };
            return (d.to_string(), rest.to_string());
        }
    }
    ("docker.io".to_string(), term.to_string())
}

const SEARCH_TABLE: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

fn search(a: SearchArgs) -> anyhow::Result<i32> {
    let limit = if a.limit == 0 { 25 } else { a.limit };
    if !(1..=100).contains(&limit) {
        bail!("limit {} is outside the range of [1, 100]", a.limit);
    }
    let mut official: Option<bool> = None;
    let mut automated: Option<bool> = None;
    let mut stars: u64 = 0;
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        let bool_of = |v: &str| match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(anyhow!("invalid filter '{f}'")),
        };
        match k {
            "is-official" => official = Some(bool_of(v)?),
            "is-automated" => {
                eprintln!("WARNING: is-automated filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future.");
                automated = Some(bool_of(v)?)
            }
            "stars" => stars = v.parse().map_err(|_| anyhow!("invalid filter '{f}'"))?,
            _ => bail!("invalid filter '{k}'"),
        }
    }
    let (domain, term) = search_target(&a.term);
    let client = client()?;
    let results = runtime()?.block_on(client.search(&domain, &term, limit as usize))?;
    let rows: Vec<Value> = results
        .into_iter()
        .filter(|r| official.is_none_or(|o| r.is_official == o))
        .filter(|r| automated.is_none_or(|o| r.is_automated == o))
        .filter(|r| r.star_count >= stars)
        .map(|r| {
            let desc = r.description.replace(['\n', '\r'], " ");
            let desc = if a.no_trunc {
                desc
            } else {
                human::ellipsis(&desc, 45)
            };
            json!({
                "Name": r.name,
                "Description": desc,
                "StarCount": r.star_count.to_string(),
                "IsOfficial": if r.is_official { "[OK]" } else { "" },
                "IsAutomated": if r.is_automated { "[OK]" } else { "" },
            })
        })
        .collect();
    let format = OutputFormat::parse(a.format.as_deref(), SEARCH_TABLE);
    print!(
        "{}",
        out::render(&format, &rows, SEARCH_HEADERS, "*formatter.searchContext")?
    );
    Ok(0)
}

// ------------------------------------------------------------------ login / logout

/// `https://host/v1/` or `host` → the reference domain.
fn server_domain(s: Option<&str>) -> String {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return "docker.io".into();
    };
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

fn login(a: LoginArgs) -> anyhow::Result<i32> {
    let domain = server_domain(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let tty = std::io::stdin().is_terminal();
    let non_tty = || anyhow!("Cannot perform an interactive login from a non TTY device");
    let username = match a.username {
        Some(u) => u,
        None if a.password_stdin => bail!("Must provide --username with --password-stdin"),
        None if tty => prompt("Username: ", false)?,
        None => return Err(non_tty()),
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the password from stdin")?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if tty {
        prompt("Password: ", true)?
    } else {
        return Err(non_tty());
    };
    if username.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    let creds = Credentials { username, password };
    let client = client()?;
    runtime()?
        .block_on(client.check_login(&domain, &creds))
        .map_err(|e| anyhow!("login attempt to {domain} failed: {e}"))?;
    client.auth_files().store(&domain, &creds)?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.",
        client.auth_files().strata_file.display()
    );
    println!("Login Succeeded");
    Ok(0)
}

/// Asks on the terminal; `secret` turns echo off (with `stty`) while the answer is typed.
fn prompt(label: &str, secret: bool) -> anyhow::Result<String> {
    let stty = |arg: &str| {
        std::fs::File::open("/dev/tty").ok().and_then(|t| {
            std::process::Command::new("stty")
                .arg(arg)
                .stdin(t)
                .status()
                .ok()
        })
    };
    print!("{label}");
    std::io::stdout().flush()?;
    if secret {
        stty("-echo");
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if secret {
        stty("echo");
        println!();
    }
    read.context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn logout(a: LogoutArgs) -> anyhow::Result<i32> {
    let domain = server_domain(a.server.as_deref());
    let client = client()?;
    let key = strata_remote::auth::auth_key(&domain);
    if client.auth_files().remove(&domain)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}

// ------------------------------------------------------------------ manifest inspect / tags / remote inspect

fn tab_json(v: &Value) -> anyhow::Result<String> {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

fn manifest_inspect(a: ManifestInspectArgs) -> anyhow::Result<i32> {
    let word = a.names.last().expect("required");
    let mut r = parse_ref(word)?;
    if r.tag().is_none() && r.digest().is_none() {
        r = r.with_tag("latest")?;
    }
    let mut cfg = ClientConfig::load()?;
    if a.insecure {
        cfg.insecure_registries.push(r.domain().to_string());
    }
    let client = Client::new(cfg);
    let rt = runtime()?;
    let m = rt
        .block_on(client.fetch_manifest(&r))
        .map_err(|e| match e {
            strata_remote::RemoteError::ManifestUnknown(_)
            | strata_remote::RemoteError::PullDenied(_) => {
                anyhow!("no such manifest: {r}")
            }
            e => e.into(),
        })?;
    let raw: Value = serde_json::from_slice(&m.bytes)?;
    if !a.verbose {
        println!("{}", tab_json(&raw)?);
        return Ok(0);
    }
    let doc = Document::parse(&m.bytes, Some(&m.media_type))?;
    let entry = |r: &Reference, bytes: &[u8], desc: Value, parsed: Value, oci: bool| -> Value {
        use base64::Engine as _;
        let key = if oci {
            "OCIManifest"
        } else {
            "SchemaV2Manifest"
        };
        json!({
            "Ref": r.to_string(),
            "Descriptor": desc,
            "Raw": base64::engine::general_purpose::STANDARD.encode(bytes),
            key: parsed,
        })
    };
    let out = match doc {
        Document::Manifest(_) => {
            let desc = json!({"mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.bytes.len()});
            entry(
                &r,
                &m.bytes,
                desc,
                raw,
                m.media_type == strata_oci::media::OCI_MANIFEST,
            )
        }
        Document::Index(idx) => {
            let mut v = Vec::new();
            for d in &idx.manifests {
                let cr = r.with_digest(d.digest.clone());
                let child = rt.block_on(client.fetch_manifest(&cr))?;
                let parsed: Value = serde_json::from_slice(&child.bytes)?;
                let desc = serde_json::to_value(d)?;
                v.push(entry(
                    &cr,
                    &child.bytes,
                    desc,
                    parsed,
                    d.media_type == strata_oci::media::OCI_MANIFEST,
                ));
            }
            Value::Array(v)
        }
    };
    println!("{}", tab_json(&out)?);
    Ok(0)
}

/// `strata image tags REPO`: every tag of a repository, one per line.
pub fn image_tags(repo: &str) -> anyhow::Result<i32> {
    let r = parse_ref(repo)?;
    let client = client()?;
    let tags = runtime()?.block_on(client.tags(&r.name_only()))?;
    let mut o = std::io::stdout().lock();
    for t in tags {
        writeln!(o, "{t}")?;
    }
    Ok(0)
}

/// `strata image inspect --remote`: Docker's inspect document for images in a
/// registry, built from the manifest and config without pulling layers.
pub fn inspect_remote(
    words: &[String],
    format: Option<&str>,
    platform: Option<&str>,
    ctx: &Ctx,
) -> anyhow::Result<i32> {
    let template = match format {
        Some(f) => Some(out::template(f).map_err(|e| exit(64, e.to_string()))?),
        None => None,
    };
    let platform = parse_platform(platform)?;
    let client = client()?;
    let rt = runtime()?;
    let store = ctx.store()?;
    let mut docs = Vec::new();
    for w in words {
        let mut r = parse_ref(w)?;
        if r.tag().is_none() && r.digest().is_none() {
            r = r.with_tag("latest")?;
        }
        let resolved = rt.block_on(remote_resolve(&client, &r, platform.as_ref()))?;
        let name = strata_store::NameRecord {
            name: r.to_string(),
            digest: resolved.target.digest.clone(),
            media_type: resolved.target.media_type.clone(),
            size: resolved.target.size,
            created_at: 0,
            updated_at: 0,
        };
        docs.push(super::image::inspect_value(&store, &[name], &resolved)?);
    }
    let mut stdout = std::io::stdout().lock();
    match template {
        Some(t) => {
            for d in &docs {
                writeln!(stdout, "{}", t.execute(d).map_err(|e| anyhow!("{e}"))?)?;
            }
        }
        None => writeln!(stdout, "{}", out::pretty_json(&Value::Array(docs))?)?,
    }
    Ok(0)
}

async fn remote_resolve(
    client: &Client,
    r: &Reference,
    platform: Option<&Platform>,
) -> anyhow::Result<strata_store::ResolvedImage> {
    let top = client.fetch_manifest(r).await?;
    let (mdesc, manifest) = match Document::parse(&top.bytes, Some(&top.media_type))? {
        Document::Manifest(m) => (top.descriptor(), m),
        Document::Index(idx) => {
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let e = strata_remote::pull::choose_platform(&idx, &want)?;
            let child = client
                .fetch_manifest(&r.with_digest(e.digest.clone()))
                .await?;
            match Document::parse(&child.bytes, Some(&e.media_type))? {
                Document::Manifest(m) => (e, m),
                Document::Index(_) => bail!("nested index entries are not images"),
            }
        }
    };
    let config_raw = client.fetch_blob_bytes(r, &manifest.config).await?;
    let config = strata_oci::ImageConfig::parse(&config_raw)?;
    let layers = manifest.layers.iter().map(|l| (l.clone(), None)).collect();
    Ok(strata_store::ResolvedImage {
        target: top.descriptor(),
        manifest_descriptor: mdesc,
        manifest,
        config,
        config_raw,
        layers,
    })
}

// ------------------------------------------------------------------ copy

fn copy(a: CopyArgs) -> anyhow::Result<i32> {
    let src = strata_remote::copy::Location::parse(&a.source)?;
    let dst = strata_remote::copy::Location::parse(&a.destination)?;
    let platform = parse_platform(a.platform.as_deref())?;
    let client = client()?;
    let mut rd = Renderer::new(if a.quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Plain
    });
    let d: Digest = runtime()?.block_on(strata_remote::copy::copy(
        &client,
        &src,
        &dst,
        platform.as_ref(),
        |e| rd.event(&e),
    ))?;
    if !a.quiet {
        println!("Copied {} to {} ({d})", a.source, a.destination);
    }
    Ok(0)
}
