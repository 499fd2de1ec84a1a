//! `strata image …`: ls, history, inspect, tag, rm, prune; and `strata system df`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Write};

use anyhow::anyhow;
use chrono::{DateTime, TimeZone, Utc};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use strata_format::human;
use strata_oci::reference::reference_filter_matches;
use strata_oci::{Digest, Platform, Reference};
use strata_store::{NameRecord, ResolvedImage, Store, StoreError, Summary};

use super::out::{self, OutputFormat};
use super::{exit, Ctx};

/// `strata image` subcommands.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Build an image from a Dockerfile
    Build(super::build::BuildArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(alias = "remove", alias = "rmi")]
    Rm(RmArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(super::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(super::archive::LoadArgs),
    /// Unpack an image's root filesystem into a directory
    Unpack(super::rootfs::UnpackArgs),
    /// Export an image's flattened root filesystem as a tar archive
    Export(super::rootfs::ExportArgs),
    /// Show what each layer of an image added, changed and deleted
    Diff(super::rootfs::DiffArgs),
    /// List the packages in an image (SBOM: table, JSON, CycloneDX, SPDX)
    Sbom(super::scan::SbomArgs),
    /// Find known vulnerabilities in an image's packages
    Vulns(super::scan::VulnsArgs),
    /// List the tags of a repository in a registry
    Tags(TagsArgs),
}

/// `image tags` arguments.
#[derive(Args, Debug)]
pub struct TagsArgs {
    /// REPOSITORY (e.g. localhost:5000/app)
    pub repository: String,
}

/// `strata system` subcommands.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage
    Df(DfArgs),
}

/// Sort keys for `image ls --sort`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortKey {
    /// Newest first (Docker's order).
    Created,
    /// Largest first.
    Size,
    /// Repository then tag.
    Name,
}

/// `image ls` flags.
#[derive(Args, Debug, Default)]
pub struct LsArgs {
    /// Only show images of this repository[:tag]
    pub repository: Option<String>,
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// List multi-platform images as a tree
    #[arg(long)]
    pub tree: bool,
    /// Sort by created (newest first, the default), size (largest first) or name
    #[arg(long, value_enum)]
    pub sort: Option<SortKey>,
    /// Reverse the sort order
    #[arg(long)]
    pub reverse: bool,
}

/// `image history` flags.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Image
    pub image: String,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show history for the given platform
    #[arg(long)]
    pub platform: Option<String>,
}

/// `image inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Images
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Inspect a specific platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<String>,
    /// Inspect the image in its registry, without pulling it
    #[arg(long)]
    pub remote: bool,
}

/// `tag` arguments.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// `image rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Images
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
}

/// `image prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// `system df` flags.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// Runs an image command.
pub fn run(cmd: ImageCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        ImageCommand::Ls(a) => ls(a, ctx),
        ImageCommand::Build(a) => super::build::run(a, ctx),
        ImageCommand::History(a) => history(a, ctx),
        ImageCommand::Inspect(a) => inspect(a, ctx),
        ImageCommand::Tag(a) => tag(a, ctx),
        ImageCommand::Rm(a) => rm(a, ctx),
        ImageCommand::Prune(a) => prune(a, ctx),
        ImageCommand::Save(a) => super::archive::run_save(a, ctx),
        ImageCommand::Load(a) => super::archive::run_load(a, ctx),
        ImageCommand::Unpack(a) => super::rootfs::run(super::rootfs::RootfsCommand::Unpack(a), ctx),
        ImageCommand::Export(a) => super::rootfs::run(super::rootfs::RootfsCommand::Export(a), ctx),
        ImageCommand::Diff(a) => super::rootfs::run(super::rootfs::RootfsCommand::Diff(a), ctx),
        ImageCommand::Tags(a) => super::remote::image_tags(&a.repository),
        ImageCommand::Sbom(a) => super::scan::run_sbom(a, ctx),
        ImageCommand::Vulns(a) => super::scan::run_vulns(a, ctx),
    }
}

/// Runs a system command.
pub fn run_system(cmd: SystemCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        SystemCommand::Df(a) => df(a, ctx),
    }
}

/// Parses a user's image word into a full name for lookup (None when it is not a
/// valid reference, e.g. an ID prefix).
pub fn full_name(word: &str) -> Option<String> {
    Reference::parse_with_default_tag(word)
        .ok()
        .map(|r| r.to_string())
}

/// The names a word refers to, or Docker's "No such image".
pub fn find(store: &Store, word: &str) -> anyhow::Result<Vec<NameRecord>> {
    match store.lookup(word, full_name(word).as_deref()) {
        Ok(v) => Ok(v),
        Err(StoreError::ImageNotFound(_)) => {
            let shown = Reference::parse_with_default_tag(word)
                .map(|r| r.familiar_string())
                .unwrap_or_else(|_| word.to_string());
            Err(anyhow!("No such image: {shown}"))
        }
        Err(e) => Err(e.into()),
    }
}

fn descriptor_of(n: &NameRecord) -> strata_oci::Descriptor {
    strata_oci::Descriptor::new(&n.media_type, n.digest.clone(), n.size)
}

fn parse_platform(p: Option<&str>) -> anyhow::Result<Option<Platform>> {
    p.map(|s| Platform::parse(s).map_err(|e| anyhow!("{e}")))
        .transpose()
}

/// Resolves a word to an image for one platform.
pub fn resolve_word(
    store: &Store,
    word: &str,
    platform: Option<&str>,
) -> anyhow::Result<(Vec<NameRecord>, ResolvedImage)> {
    let names = find(store, word)?;
    let platform = parse_platform(platform)?;
    let r = store.resolve(&descriptor_of(&names[0]), platform.as_ref())?;
    Ok((names, r))
}

/// Splits a name record into (repository, tag, digest-in-name) for display.
fn display_parts(n: &NameRecord) -> (String, String) {
    if n.is_dangling() {
        return ("<none>".into(), "<none>".into());
    }
    match Reference::parse_normalized(&n.name) {
        Ok(r) => (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()),
        Err(_) => (n.name.clone(), "<none>".into()),
    }
}

fn created_time(r: &ResolvedImage) -> Option<DateTime<Utc>> {
    r.config
        .created
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Go's `Time.String()` of a time in the local zone (Docker's `CreatedAt`).
/// Docker keeps `Created` in whole seconds here, so no fraction is printed.
fn local_time_string(t: DateTime<Utc>) -> String {
    let whole = Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(t);
    human::go_time_string_local(&whole)
}

fn id_string(d: &Digest, no_trunc: bool) -> String {
    if no_trunc {
        d.to_string()
    } else {
        d.short().to_string()
    }
}

struct Row {
    name: NameRecord,
    repo: String,
    tag: String,
    summary: Summary,
    created: Option<DateTime<Utc>>,
}

impl Row {
    fn id(&self) -> &Digest {
        &self.name.digest
    }
    fn target(&self) -> strata_oci::Descriptor {
        descriptor_of(&self.name)
    }
}

fn parse_filters(
    filters: &[String],
    allowed: &[&str],
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        let k = k.trim().to_lowercase();
        if !allowed.contains(&k.as_str()) {
            return Err(anyhow!("invalid filter '{k}'"));
        }
        out.entry(k).or_default().push(v.to_string());
    }
    Ok(out)
}

fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(w.as_str()),
    })
}

fn ls_rows(store: &Store, a: &LsArgs) -> anyhow::Result<Vec<Row>> {
    let filters = parse_filters(
        &a.filter,
        &["dangling", "label", "before", "since", "reference", "until"],
    )?;
    let mut rows = Vec::new();
    for (name, summary) in store.summaries()? {
        let Ok(summary) = summary else { continue };
        let (repo, tag) = display_parts(&name);
        let created = summary
            .created
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|d| d.with_timezone(&Utc));
        rows.push(Row {
            name,
            repo,
            tag,
            summary,
            created,
        });
    }
    let time_of = |word: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
        let (_, r) = resolve_word(store, word, None)?;
        Ok(created_time(&r))
    };
    if let Some(v) = filters.get("dangling") {
        let want = match v.last().map(String::as_str) {
            Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(x) => return Err(anyhow!("invalid filter 'dangling={x}'")),
            None => true,
        };
        rows.retain(|r| r.name.is_dangling() == want);
    }
    if let Some(labels) = filters.get("label") {
        // Labels live in the config: read it only when this filter asks for them.
        rows.retain(|r| {
            store
                .read_config(&r.summary.config)
                .is_ok_and(|(c, _)| labels_match(&c.labels(), labels))
        });
    }
    if let Some(b) = filters.get("before") {
        let t = time_of(&b[0])?;
        rows.retain(|r| r.created < t);
    }
    if let Some(s) = filters.get("since") {
        let t = time_of(&s[0])?;
        rows.retain(|r| r.created > t);
    }
    if let Some(u) = filters.get("until") {
        let t = parse_until(&u[0])?;
        rows.retain(|r| r.created.is_some_and(|c| c < t));
    }
    let mut patterns: Vec<String> = filters.get("reference").cloned().unwrap_or_default();
    if let Some(repo) = &a.repository {
        patterns.push(repo.clone());
    }
    if !patterns.is_empty() {
        rows.retain(|r| {
            if r.name.is_dangling() {
                return false;
            }
            let Ok(reference) = Reference::parse_normalized(&r.name.name) else {
                return false;
            };
            patterns.iter().any(|p| {
                reference_filter_matches(p, &reference)
                    || (!p.contains(':') && reference_filter_matches(&format!("{p}:*"), &reference))
            })
        });
    }
    match a.sort.unwrap_or(SortKey::Created) {
        SortKey::Created => rows.sort_by(|x, y| {
            y.created
                .cmp(&x.created)
                .then(x.repo.cmp(&y.repo))
                .then(x.tag.cmp(&y.tag))
        }),
        SortKey::Size => rows.sort_by(|x, y| {
            y.summary
                .size
                .cmp(&x.summary.size)
                .then(x.repo.cmp(&y.repo))
        }),
        SortKey::Name => rows.sort_by(|x, y| x.repo.cmp(&y.repo).then(x.tag.cmp(&y.tag))),
    }
    if a.reverse {
        rows.reverse();
    }
    Ok(rows)
}

/// Parses Docker's `until=` values: RFC 3339 timestamps, Unix seconds, or durations
/// like `24h`, `90m`, `10s` relative to now.
fn parse_until(v: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Utc
            .timestamp_opt(secs as i64, 0)
            .single()
            .ok_or_else(|| anyhow!("invalid until value {v:?}"));
    }
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("failed to parse value as time or duration: {v:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(anyhow!("failed to parse value as time or duration: {v:?}")),
    };
    Ok(Utc::now() - chrono::Duration::milliseconds((secs * 1000.0) as i64))
}

const LS_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const LS_TABLE_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const LS_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

fn ls(a: LsArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    if a.tree && a.format.is_none() && !a.quiet {
        return ls_tree(&store, &a);
    }
    let rows = ls_rows(&store, &a)?;
    let mut stdout = std::io::stdout().lock();
    if a.quiet {
        let mut seen = BTreeSet::new();
        for r in &rows {
            if seen.insert(r.id().clone()) {
                writeln!(stdout, "{}", id_string(r.id(), a.no_trunc))?;
            }
        }
        return Ok(0);
    }
    let now = Utc::now();
    if a.format.is_none() {
        // The default table, laid out directly: the same cells the template
        // `LS_TABLE`/`LS_TABLE_DIGESTS` produces, without running it per row.
        let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
        let mut header = vec!["REPOSITORY".to_string(), "TAG".to_string()];
        if a.digests {
            header.push("DIGEST".to_string());
        }
        header.extend(["IMAGE ID", "CREATED", "SIZE"].map(String::from));
        lines.push(header);
        for r in &rows {
            let mut cells = vec![r.repo.clone(), r.tag.clone()];
            if a.digests {
                cells.push(r.id().to_string());
            }
            cells.push(id_string(r.id(), a.no_trunc));
            cells.push(
                r.created
                    .map(|c| human::since(c, now))
                    .unwrap_or_else(|| "N/A".into()),
            );
            cells.push(human::size(r.summary.size));
            lines.push(cells);
        }
        stdout.write_all(out::columns(&lines).as_bytes())?;
        return Ok(0);
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let size = r.summary.size;
            let digest = r.id().to_string();
            let mut m = Map::new();
            m.insert("Containers".into(), json!("N/A"));
            m.insert(
                "CreatedAt".into(),
                json!(r.created.map(local_time_string).unwrap_or_default()),
            );
            m.insert(
                "CreatedSince".into(),
                json!(r
                    .created
                    .map(|c| human::since(c, now))
                    .unwrap_or_else(|| "N/A".into())),
            );
            m.insert("Digest".into(), json!(digest));
            m.insert("ID".into(), json!(id_string(r.id(), a.no_trunc)));
            m.insert("Repository".into(), json!(r.repo));
            m.insert("SharedSize".into(), json!("N/A"));
            m.insert("Size".into(), json!(human::size(size)));
            m.insert("Tag".into(), json!(r.tag));
            m.insert("UniqueSize".into(), json!("N/A"));
            m.insert("VirtualSize".into(), json!(human::size_precision(size, 4)));
            Value::Object(m)
        })
        .collect();
    let default = if a.digests {
        LS_TABLE_DIGESTS
    } else {
        LS_TABLE
    };
    let format = OutputFormat::parse(a.format.as_deref(), default);
    stdout.write_all(
        out::render(&format, &values, LS_HEADERS, "*formatter.imageContext")?.as_bytes(),
    )?;
    Ok(0)
}

fn ls_tree(store: &Store, a: &LsArgs) -> anyhow::Result<i32> {
    let rows = ls_rows(store, a)?;
    let mut lines: Vec<Vec<String>> = vec![vec![
        "IMAGE".into(),
        "ID".into(),
        "DISK USAGE".into(),
        "CONTENT SIZE".into(),
        "EXTRA".into(),
    ]];
    let mut groups: Vec<(Digest, Vec<String>, strata_oci::Descriptor)> = Vec::new();
    for r in &rows {
        let label = if r.name.is_dangling() {
            "<untagged>".to_string()
        } else {
            format!("{}:{}", r.repo, r.tag)
        };
        match groups.iter_mut().find(|g| &g.0 == r.id()) {
            Some(g) => g.1.push(label),
            None => groups.push((r.id().clone(), vec![label], r.target())),
        }
    }
    for (id, labels, target) in groups {
        let platforms = store.platform_images(&target)?;
        let shown: Vec<_> = platforms.iter().filter(|p| a.all || p.complete).collect();
        let disk: u64 = shown.iter().map(|p| p.unpacked_size).sum();
        let content: u64 = shown.iter().map(|p| p.content_size).sum();
        for (i, l) in labels.iter().enumerate() {
            if i == 0 {
                lines.push(vec![
                    l.clone(),
                    id_string(&id, a.no_trunc),
                    human::size(disk),
                    human::size(content),
                    String::new(),
                ]);
            } else {
                lines.push(vec![
                    l.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
        }
        let n = shown.len();
        for (i, p) in shown.iter().enumerate() {
            let branch = if i + 1 == n { "└─" } else { "├─" };
            let plat = p
                .platform
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into());
            lines.push(vec![
                format!("{branch} {plat}"),
                id_string(&p.descriptor.digest, a.no_trunc),
                human::size(p.unpacked_size),
                human::size(p.content_size),
                if p.complete {
                    String::new()
                } else {
                    "(not available)".into()
                },
            ]);
        }
        lines.push(vec![String::new()]);
    }
    if lines.last().is_some_and(|l| l.len() == 1) {
        lines.pop();
    }
    std::io::stdout()
        .lock()
        .write_all(out::columns(&lines).as_bytes())?;
    Ok(0)
}

const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HISTORY_TABLE_RAW: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

fn history(a: HistoryArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let (_, r) = resolve_word(&store, &a.image, a.platform.as_deref())?;
    let now = Utc::now();
    let entries = r.history();
    let n = entries.len();
    let mut values = Vec::new();
    for (i, (h, layer)) in entries.iter().enumerate().rev() {
        let id = if i + 1 == n {
            id_string(r.id(), a.no_trunc)
        } else {
            "<missing>".to_string()
        };
        if a.quiet {
            values.push(json!({ "ID": id }));
            continue;
        }
        let created = h
            .created
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|d| d.with_timezone(&Utc));
        let old = created.is_none_or(|c| c.timestamp() <= 946_684_800);
        let size = layer
            .and_then(|(_, rec)| rec.as_ref().map(|x| x.unpacked_size))
            .unwrap_or(0);
        let by = h.created_by.clone().unwrap_or_default().replace('\t', " ");
        let by = if a.no_trunc {
            by
        } else {
            human::ellipsis(&by, 45)
        };
        let (since, at, size_s) = if a.human {
            (
                if old {
                    "N/A".to_string()
                } else {
                    human::since(created.unwrap_or(now), now)
                },
                created
                    .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                human::size(size),
            )
        } else {
            let at = if old {
                "N/A".to_string()
            } else {
                created
                    .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default()
            };
            (at.clone(), at, size.to_string())
        };
        values.push(json!({
            "Comment": h.comment.clone().unwrap_or_default(),
            "CreatedAt": at,
            "CreatedBy": by,
            "CreatedSince": since,
            "ID": id,
            "Size": size_s,
        }));
    }
    let mut stdout = std::io::stdout().lock();
    if a.quiet {
        for v in values {
            writeln!(stdout, "{}", v["ID"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    let default = if a.human {
        HISTORY_TABLE
    } else {
        HISTORY_TABLE_RAW
    };
    let format = OutputFormat::parse(a.format.as_deref(), default);
    stdout.write_all(
        out::render(
            &format,
            &values,
            HISTORY_HEADERS,
            "*formatter.historyContext",
        )?
        .as_bytes(),
    )?;
    Ok(0)
}

/// Docker's config is a Go struct whose map fields (`Labels`, `ExposedPorts`, `Volumes`)
/// marshal with sorted keys; the struct's own field order is kept as stored.
fn go_map_order(mut config: Value) -> Value {
    if let Value::Object(fields) = &mut config {
        for key in ["Labels", "ExposedPorts", "Volumes"] {
            if let Some(Value::Object(map)) = fields.get_mut(key) {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                map.extend(entries);
            }
        }
    }
    config
}

/// Docker's inspect document for an image.
pub fn inspect_value(
    store: &Store,
    names: &[NameRecord],
    r: &ResolvedImage,
) -> anyhow::Result<Value> {
    let mut tags = Vec::new();
    let mut digests = BTreeSet::new();
    let mut last_tag = 0i64;
    for n in names {
        last_tag = last_tag.max(n.updated_at);
        if n.is_dangling() {
            continue;
        }
        if let Ok(rf) = Reference::parse_normalized(&n.name) {
            if rf.tag().is_some() {
                tags.push(rf.familiar_string());
            }
            digests.insert(format!("{}@{}", rf.familiar_name(), r.id()));
        }
    }
    let _ = store;
    let c = &r.config;
    let mut m = Map::new();
    m.insert("Id".into(), json!(r.manifest.config.digest.to_string()));
    m.insert("RepoTags".into(), json!(tags));
    m.insert(
        "RepoDigests".into(),
        json!(digests.into_iter().collect::<Vec<_>>()),
    );
    m.insert("Parent".into(), json!(""));
    m.insert(
        "Comment".into(),
        json!(c.comment.clone().unwrap_or_default()),
    );
    m.insert(
        "Created".into(),
        json!(c.created.clone().unwrap_or_default()),
    );
    m.insert(
        "DockerVersion".into(),
        json!(c.docker_version.clone().unwrap_or_default()),
    );
    m.insert("Author".into(), json!(c.author.clone().unwrap_or_default()));
    m.insert(
        "Config".into(),
        c.config.clone().map(go_map_order).unwrap_or(Value::Null),
    );
    m.insert("Architecture".into(), json!(c.architecture));
    if let Some(v) = &c.variant {
        m.insert("Variant".into(), json!(v));
    }
    m.insert("Os".into(), json!(c.os));
    if let Some(v) = &c.os_version {
        m.insert("OsVersion".into(), json!(v));
    }
    m.insert("Size".into(), json!(r.size()));
    m.insert(
        "GraphDriver".into(),
        json!({ "Data": null, "Name": "strata" }),
    );
    m.insert(
        "RootFS".into(),
        json!({ "Type": "layers", "Layers": c.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() }),
    );
    let ltt = if last_tag > 0 {
        Utc.timestamp_nanos(last_tag)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    } else {
        "0001-01-01T00:00:00Z".into()
    };
    m.insert("Metadata".into(), json!({ "LastTagTime": ltt }));
    m.insert(
        "Descriptor".into(),
        json!({ "mediaType": r.target.media_type, "digest": r.target.digest.to_string(), "size": r.target.size }),
    );
    Ok(Value::Object(m))
}

fn inspect(a: InspectArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    if a.remote {
        return super::remote::inspect_remote(
            &a.images,
            a.format.as_deref(),
            a.platform.as_deref(),
            ctx,
        );
    }
    let store = ctx.store()?;
    let template = match &a.format {
        Some(f) => Some(out::template(f).map_err(|e| exit(64, e.to_string()))?),
        None => None,
    };
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for w in &a.images {
        match resolve_word(&store, w, a.platform.as_deref()) {
            Ok((names, r)) => docs.push(inspect_value(&store, &names, &r)?),
            Err(e) => errors.push(e),
        }
    }
    let mut stdout = std::io::stdout().lock();
    match template {
        Some(t) => {
            for d in &docs {
                let s = t.execute(d).map_err(|e| anyhow!("{e}"))?;
                writeln!(stdout, "{s}")?;
            }
        }
        None => {
            writeln!(stdout, "{}", out::pretty_json(&Value::Array(docs))?)?;
        }
    }
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(0)
}

fn tag(a: TagArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let target = Reference::parse_with_default_tag(&a.target).map_err(|e| {
        anyhow!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            a.target
        )
    })?;
    if target.digest().is_some() {
        return Err(anyhow!("refusing to create a tag with a digest reference"));
    }
    let names = find(&store, &a.source)?;
    let src = &names[0];
    store.meta().set_name(
        &target.to_string(),
        &src.digest,
        &src.media_type,
        src.size,
        true,
    )?;
    Ok(0)
}

/// Removes a set of names; when the digest loses its last name, the image is deleted.
fn untag(store: &Store, names: &[NameRecord], out: &mut Vec<String>) -> anyhow::Result<bool> {
    let digest = names[0].digest.clone();
    for n in names {
        store.meta().remove_name(&n.name)?;
        if !n.is_dangling() {
            let shown = Reference::parse_normalized(&n.name)
                .map(|r| r.familiar_string())
                .unwrap_or(n.name.clone());
            out.push(format!("Untagged: {shown}"));
        }
    }
    if store.meta().names_for(&digest)?.is_empty() {
        out.push(format!("Deleted: {digest}"));
        return Ok(true);
    }
    Ok(false)
}

fn rm(a: RmArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let mut lines = Vec::new();
    let mut first_err: Option<anyhow::Error> = None;
    let mut deleted_any = false;
    for w in &a.images {
        let names = match find(&store, w) {
            Ok(n) => n,
            Err(e) => {
                if a.force {
                    eprintln!("Error: {e}");
                } else {
                    eprintln!("Error: {e}");
                    first_err.get_or_insert(exit(1, String::new()));
                }
                continue;
            }
        };
        let by_name = full_name(w).is_some_and(|f| names.len() == 1 && names[0].name == f);
        let tagged: Vec<&NameRecord> = names.iter().filter(|n| !n.is_dangling()).collect();
        let selected: Vec<NameRecord> = if by_name {
            names.clone()
        } else {
            let repos: BTreeSet<String> = tagged
                .iter()
                .filter_map(|n| Reference::parse_normalized(&n.name).ok().map(|r| r.name()))
                .collect();
            if repos.len() > 1 && !a.force {
                eprintln!(
                    "Error: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    names[0].digest.short()
                );
                first_err.get_or_insert(exit(1, String::new()));
                continue;
            }
            names.clone()
        };
        deleted_any |= untag(&store, &selected, &mut lines)?;
    }
    let mut stdout = std::io::stdout().lock();
    for l in &lines {
        writeln!(stdout, "{l}")?;
    }
    if deleted_any && !a.no_prune {
        store.gc()?;
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

fn confirm(prompt: &str) -> anyhow::Result<bool> {
    eprint!("{prompt} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

fn prune(a: PruneArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let filters = parse_filters(&a.filter, &["until", "label", "label!"])?;
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !confirm(&format!("{warning}\nAre you sure you want to continue?"))? {
            return Ok(0);
        }
    }
    let store = ctx.store()?;
    let until = filters
        .get("until")
        .map(|u| parse_until(&u[0]))
        .transpose()?;
    let mut by_digest: HashMap<Digest, Vec<NameRecord>> = HashMap::new();
    let mut order: Vec<Digest> = Vec::new();
    for rec in store.images()? {
        if !a.all && !rec.name.is_dangling() {
            continue;
        }
        if let Ok(r) = &rec.resolved {
            let created = created_time(r);
            if let Some(u) = until {
                if created.is_none_or(|c| c >= u) {
                    continue;
                }
            }
            let labels = r.config.labels();
            if let Some(l) = filters.get("label") {
                if !labels_match(&labels, l) {
                    continue;
                }
            }
            if let Some(l) = filters.get("label!") {
                if l.iter()
                    .any(|w| labels_match(&labels, std::slice::from_ref(w)))
                {
                    continue;
                }
            }
        }
        if !by_digest.contains_key(&rec.name.digest) {
            order.push(rec.name.digest.clone());
        }
        by_digest
            .entry(rec.name.digest.clone())
            .or_default()
            .push(rec.name);
    }
    let mut lines = Vec::new();
    for d in order {
        let names = &by_digest[&d];
        let mut l = Vec::new();
        untag(&store, names, &mut l)?;
        lines.extend(l.into_iter().map(|s| {
            s.replacen("Untagged:", "untagged:", 1)
                .replacen("Deleted:", "deleted:", 1)
        }));
    }
    let report = store.gc()?;
    let mut stdout = std::io::stdout().lock();
    if !lines.is_empty() {
        writeln!(stdout, "Deleted Images:")?;
        for l in &lines {
            writeln!(stdout, "{l}")?;
        }
        writeln!(stdout)?;
    }
    writeln!(
        stdout,
        "Total reclaimed space: {}",
        human::size_precision(report.reclaimed(), 4)
    )?;
    Ok(0)
}

fn df(a: DfArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let images = store.images()?;
    // Which images use each layer (by diff ID, Docker's unit of sharing).
    let mut ids: Vec<Digest> = Vec::new();
    let mut layer_users: HashMap<Digest, BTreeSet<Digest>> = HashMap::new();
    let mut layer_size: HashMap<Digest, u64> = HashMap::new();
    let mut resolved: Vec<(NameRecord, ResolvedImage)> = Vec::new();
    for rec in images {
        let Ok(r) = rec.resolved else { continue };
        if !ids.contains(r.id()) {
            ids.push(r.id().clone());
        }
        for (_, l) in &r.layers {
            if let Some(l) = l {
                layer_users
                    .entry(l.diff_id.clone())
                    .or_default()
                    .insert(r.id().clone());
                layer_size.insert(l.diff_id.clone(), l.unpacked_size);
            }
        }
        resolved.push((rec.name, r));
    }
    let total: u64 = layer_size.values().sum();
    let on_disk: u64 = store.meta().blobs()?.iter().map(|(_, s)| s).sum();
    let dangling_only: u64 = layer_users
        .iter()
        .filter(|(_, users)| {
            users.iter().all(|u| {
                resolved
                    .iter()
                    .filter(|(_, r)| r.id() == u)
                    .all(|(n, _)| n.is_dangling())
            })
        })
        .map(|(d, _)| layer_size[d])
        .sum();
    let pct = |x: u64| (x * 100).checked_div(total).unwrap_or(0);
    let mut stdout = std::io::stdout().lock();
    let values = vec![
        json!({"Type": "Images", "TotalCount": ids.len().to_string(), "Active": "0", "Size": human::size(total),
               "Reclaimable": format!("{} ({}%)", human::size(total), pct(total))}),
        json!({"Type": "Blobs on disk", "TotalCount": store.meta().blobs()?.len().to_string(), "Active": "", "Size": human::size(on_disk),
               "Reclaimable": format!("{} ({}%)", human::size(dangling_only), pct(dangling_only))}),
    ];
    let headers: &[(&str, &str)] = &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    if !a.verbose {
        let format = OutputFormat::parse(
            a.format.as_deref(),
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        );
        stdout.write_all(
            out::render(&format, &values, headers, "*formatter.diskUsageContext")?.as_bytes(),
        )?;
        return Ok(0);
    }
    writeln!(stdout, "Images space usage:\n")?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for (n, r) in &resolved {
        let (repo, tag) = display_parts(n);
        let shared: u64 = r
            .layers
            .iter()
            .filter_map(|(_, l)| l.as_ref())
            .filter(|l| layer_users.get(&l.diff_id).is_some_and(|u| u.len() > 1))
            .map(|l| l.unpacked_size)
            .sum();
        rows.push(json!({
            "Repository": repo, "Tag": tag, "ID": r.id().short(),
            "CreatedSince": created_time(r).map(|c| human::since(c, now)).unwrap_or_else(|| "N/A".into()),
            "Size": human::size(r.size()), "SharedSize": human::size(shared),
            "UniqueSize": human::size(r.size() - shared), "Containers": "0",
        }));
    }
    let headers: &[(&str, &str)] = &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ];
    let format = OutputFormat::parse(
        None,
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
    );
    stdout
        .write_all(out::render(&format, &rows, headers, "*formatter.imageContext")?.as_bytes())?;
    writeln!(
        stdout,
        "\nContent on disk (compressed blobs): {}",
        human::size(on_disk)
    )?;
    Ok(0)
}
