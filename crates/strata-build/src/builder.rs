//! The builder: dispatches a parsed Dockerfile's instructions with the classic builder's
//! semantics and history, keeping each stage's root filesystem in two private trees
//! (`parent`, the state the last layer left, and `work`, where the next step runs);
//! a step that changes files is diffed (`work` against `parent`) into a gzip layer with
//! [`strata_rootfs::diff::write_layer`], stored, and applied to `parent` so both agree
//! again. The trees start from the base image's snapshot in the chain-ID layer cache
//! ([`strata_rootfs::image::snapshot`]) and are only made when a step needs files
//! (steps answered by the build cache need none).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use strata_oci::{media, Descriptor, Digest, Digester, Platform, Reference};
use strata_rootfs::diff::{write_layer, DiffOptions, LayerCompression};
use strata_rootfs::{Applier, ApplyOptions};
use strata_store::{Lease, ResolvedImage, Store};

use crate::cache::{self, LayerRef, Record};
use crate::config::{
    go_duration, go_list, go_quote_list, go_quote_rune, parse_go_duration, ContainerConfig,
    DEFAULT_PATH,
};
use crate::context::{self, content_hash, Entry, Overrides, Source, SourceTree};
use crate::dockerfile::{self, Args, Instruction};
use crate::ignore::Ignore;
use crate::run::{self, RunSpec};
use crate::shell::{process_word, process_words, Vars};
use crate::BuildError;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (default: `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// Names to give the image (full references or Docker short names).
    pub tags: Vec<String>,
    /// `--build-arg`: name and value (None: the variable was named without a value and
    /// is not set in the environment).
    pub build_args: Vec<(String, Option<String>)>,
    /// `--label`.
    pub labels: Vec<(String, String)>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `-q`: no step output, and RUN output suppressed.
    pub quiet: bool,
    /// `--platform` (only the host's can be built).
    pub platform: Option<Platform>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image's manifest (its digest is the image ID).
    pub manifest: Descriptor,
    /// The config's digest.
    pub config: Digest,
    /// The full names it was given.
    pub names: Vec<String>,
    /// Steps answered by the build cache.
    pub cached_steps: usize,
}

type Result<T> = std::result::Result<T, BuildError>;

fn step_err(m: impl Into<String>) -> BuildError {
    BuildError::Step(m.into())
}

fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BuildError {
    BuildError::Step(format!("{what}: {e}"))
}

/// Go's RFC 3339 with nanoseconds, trailing zeros trimmed.
fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    let s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let n = t.timestamp_subsec_nanos();
    if n == 0 {
        format!("{s}Z")
    } else {
        let f = format!("{n:09}");
        format!("{s}.{}Z", f.trim_end_matches('0'))
    }
}

/// The two trees of a stage.
struct Trees {
    parent: tempfile::TempDir,
    work: tempfile::TempDir,
}

enum Base {
    Scratch,
    Image(Box<ResolvedImage>),
    Stage(usize),
}

struct Stage {
    name: Option<String>,
    base: Base,
    /// Layers the base tree already holds.
    base_layers: usize,
    config: ContainerConfig,
    author: Option<String>,
    platform: Platform,
    docker_media: bool,
    layers: Vec<LayerRef>,
    history: Vec<Value>,
    key: Digest,
    trees: Option<Trees>,
    /// Layers of `layers` the trees reflect.
    applied: usize,
    /// ARGs declared in this stage, with their values.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

impl Stage {
    fn prefix(&self) -> String {
        self.config.shell().join(" ")
    }
    fn nop(&self, text: &str) -> String {
        format!("{} #(nop)  {text}", self.prefix())
    }
    fn vars(&self) -> Vars {
        let mut v = Vars::from_env(self.config.env.iter().flatten().map(String::as_str));
        for (k, val) in &self.args {
            if let Some(val) = val {
                v.add_missing(k, val);
            }
        }
        v
    }
    fn work(&self) -> &Path {
        self.trees
            .as_ref()
            .map(|t| t.work.path())
            .unwrap_or(Path::new("/nonexistent"))
    }
}

/// One run of the builder.
struct Builder<'a> {
    store: &'a Store,
    opts: &'a BuildOptions,
    out: &'a mut dyn Write,
    lease: &'a Lease,
    escape: char,
    context: SourceTree,
    global_args: Vec<(String, Option<String>)>,
    used_args: BTreeSet<String>,
    stages: Vec<Stage>,
    records: Vec<(Digest, Record)>,
    cached_steps: usize,
    apply: ApplyOptions,
    diff: DiffOptions,
    epoch: Option<i64>,
    host: Platform,
}

/// Builds an image. Progress goes to `out` (nothing with `quiet`); RUN's output goes to
/// this process's stdout and stderr.
pub fn build(store: &Store, opts: &BuildOptions, out: &mut dyn Write) -> Result<BuildOutput> {
    let host = Platform::host();
    if let Some(p) = &opts.platform {
        if !p.matches(&host) && !host.matches(p) {
            return Err(step_err(format!(
                "strata build can only build for this machine's platform ({host}), not {p}"
            )));
        }
    }
    let ctx_meta = fs::metadata(&opts.context).map_err(|_| {
        step_err(format!(
            "unable to prepare context: path {:?} not found",
            opts.context.display().to_string()
        ))
    })?;
    if !ctx_meta.is_dir() {
        return Err(step_err(format!(
            "unable to prepare context: context must be a directory: {}",
            opts.context.display()
        )));
    }
    let df_path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = fs::read_to_string(&df_path).map_err(|_| {
        step_err(format!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
            df_path.display()
        ))
    })?;
    let df = dockerfile::parse(&text)?;
    let ignore = match fs::read_to_string(opts.context.join(".dockerignore")) {
        Ok(t) => Some(
            Ignore::parse(&t).map_err(|e| step_err(format!("error reading .dockerignore: {e}")))?,
        ),
        Err(_) => None,
    };
    let mut instructions = df.instructions.clone();
    if !opts.labels.is_empty() {
        let mut labels = opts.labels.clone();
        labels.sort();
        let pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (crate::config::go_quote(k), format!("'{v}'")))
            .collect();
        let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        instructions.push(Instruction {
            cmd: "label".into(),
            flags: Vec::new(),
            args: Args::Pairs(pairs),
            original: format!("LABEL {}", shown.join(" ")),
            line: 0,
        });
    }
    if !instructions.iter().any(|i| i.cmd == "from") {
        return Err(BuildError::Parse(dockerfile::ParseError {
            line: 1,
            message: "no build stage in current context".into(),
        }));
    }
    if let Some(first) = instructions.iter().find(|i| i.cmd != "arg") {
        if first.cmd != "from" {
            return Err(step_err(
                "failed to process dockerfile: no build stage in current context",
            ));
        }
    }
    let diff = DiffOptions {
        root_entry: false,
        compression: LayerCompression::Gzip,
        ..DiffOptions::from_env()?
    };
    let lease = store.lease(std::time::Duration::from_secs(24 * 3600))?;
    let mut b = Builder {
        store,
        opts,
        out,
        lease: &lease,
        escape: df.escape,
        context: SourceTree {
            root: opts.context.clone(),
            ignore,
        },
        global_args: Vec::new(),
        used_args: BTreeSet::new(),
        stages: Vec::new(),
        records: Vec::new(),
        cached_steps: 0,
        apply: ApplyOptions::default(),
        epoch: diff.source_date_epoch,
        diff,
        host,
    };
    let result = b.run_all(&instructions);
    let result = result.and_then(|()| b.finish());
    drop(b);
    match result {
        Ok(o) => {
            store.release(lease)?;
            Ok(o)
        }
        Err(e) => {
            let _ = store.abort(lease);
            Err(e)
        }
    }
}

/// Parses `--chown` (`user[:group]`, names looked up in the root's /etc/passwd and
/// /etc/group).
fn parse_chown(spec: &str, root: &Path) -> Result<(u32, u32)> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, primary) = lookup_user(u, root).map_err(step_err)?;
    let gid = match g {
        Some(g) => lookup_group(g, root).map_err(step_err)?,
        None => {
            if u.parse::<u32>().is_ok() {
                uid
            } else {
                primary
            }
        }
    };
    Ok((uid, gid))
}

fn read_db(root: &Path, file: &str) -> Vec<Vec<String>> {
    let p = match context::resolve_in(root, file) {
        Ok(p) => p,
        Err(_) => return Vec::new(),
    };
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

/// A user's uid and primary gid.
fn lookup_user(u: &str, root: &Path) -> std::result::Result<(u32, u32), String> {
    let db = read_db(root, "etc/passwd");
    if let Ok(n) = u.parse::<u32>() {
        let gid = db
            .iter()
            .find(|f| f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(n))
            .and_then(|f| f.get(3)?.parse().ok())
            .unwrap_or(n);
        return Ok((n, gid));
    }
    db.iter()
        .find(|f| f.first().map(String::as_str) == Some(u))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .ok_or_else(|| format!("unable to find user {u}: no matching entries in passwd file"))
}

fn lookup_group(g: &str, root: &Path) -> std::result::Result<u32, String> {
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    read_db(root, "etc/group")
        .iter()
        .find(|f| f.first().map(String::as_str) == Some(g))
        .and_then(|f| f.get(2)?.parse().ok())
        .ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))
}

/// Supplementary groups of a user name.
fn groups_of(user: &str, gid: u32, root: &Path) -> Vec<u32> {
    let mut v = vec![gid];
    for f in read_db(root, "etc/group") {
        if f.get(3).is_some_and(|m| m.split(',').any(|x| x == user)) {
            if let Some(g) = f.get(2).and_then(|x| x.parse().ok()) {
                if !v.contains(&g) {
                    v.push(g);
                }
            }
        }
    }
    v
}

fn path_comps(p: &str) -> Vec<&[u8]> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::as_bytes)
        .collect()
}

/// The absolute form of a path in the image, relative to `workdir`.
fn abs_in(workdir: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        let base = if workdir.is_empty() { "/" } else { workdir };
        format!("{}/{}", base.trim_end_matches('/'), p)
    }
}

fn valid_signal(s: &str) -> bool {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    if NAMES.contains(&name) {
        return true;
    }
    let rt = |r: &str| r.is_empty() || r.parse::<u32>().is_ok_and(|n| n <= 30);
    name.strip_prefix("RTMIN")
        .is_some_and(|r| rt(r.trim_start_matches('+')))
        || name
            .strip_prefix("RTMAX")
            .is_some_and(|r| rt(r.trim_start_matches('-')))
}

fn parse_ports(words: &[String]) -> Result<BTreeMap<String, Value>> {
    let mut m = BTreeMap::new();
    for w in words {
        let (port, proto) = w.split_once('/').unwrap_or((w, "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(step_err(format!("invalid proto: {proto}")));
        }
        let (lo, hi) = match port.split_once('-') {
            Some((a, b)) => (a, b),
            None => (port, port),
        };
        let bad = || step_err(format!("invalid containerPort: {port}"));
        let lo: u16 = lo.parse().map_err(|_| bad())?;
        let hi: u16 = hi.parse().map_err(|_| bad())?;
        if hi < lo {
            return Err(step_err(format!(
                "invalid range specified for container port: {port}"
            )));
        }
        for p in lo..=hi {
            m.insert(format!("{p}/{proto}"), json!({}));
        }
    }
    Ok(m)
}

impl Builder<'_> {
    fn say(&mut self, s: &str) -> Result<()> {
        if !self.opts.quiet {
            writeln!(self.out, "{s}").map_err(|e| io_err("writing output", e))?;
        }
        Ok(())
    }

    fn now(&self) -> String {
        match self.epoch {
            Some(e) => rfc3339(chrono::DateTime::from_timestamp(e, 0).unwrap_or_default()),
            None => rfc3339(chrono::Utc::now()),
        }
    }

    fn cur(&mut self) -> &mut Stage {
        self.stages.last_mut().expect("a stage exists after FROM")
    }

    fn run_all(&mut self, instructions: &[Instruction]) -> Result<()> {
        let total = instructions.len();
        for (i, inst) in instructions.iter().enumerate() {
            self.say(&format!("Step {}/{total} : {}", i + 1, inst.original))?;
            if self.stages.is_empty() && inst.cmd == "arg" {
                self.global_arg(inst)?;
                continue;
            }
            self.dispatch(inst, false)?;
        }
        Ok(())
    }

    /// The global ARGs (those before the first FROM) that have a value, for substitution.
    fn global_vars(&self) -> Vars {
        Vars::from_env(
            self.global_args
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        )
    }

    fn global_arg(&mut self, inst: &Instruction) -> Result<()> {
        let Args::Arg(list) = &inst.args else {
            return Ok(());
        };
        for (name, default) in list {
            let vars = self.global_vars();
            let default = match default {
                Some(d) => Some(process_word(d, &vars, self.escape).map_err(step_err)?),
                None => None,
            };
            let value = self.arg_value(name).or(default);
            self.used_args.insert(name.clone());
            self.global_args.retain(|(k, _)| k != name);
            self.global_args.push((name.clone(), value));
        }
        Ok(())
    }

    fn arg_value(&self, name: &str) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }

    fn dispatch(&mut self, inst: &Instruction, trigger: bool) -> Result<()> {
        let allowed: &[&str] = match inst.cmd.as_str() {
            "copy" | "add" => &["chown", "chmod", "from"],
            "from" => &["platform"],
            "healthcheck" => &["interval", "timeout", "start-period", "retries"],
            _ => &[],
        };
        for (k, _) in &inst.flags {
            if !allowed.contains(&k.as_str()) || (inst.cmd == "add" && k == "from") {
                return Err(step_err(format!("Unknown flag: {k}")));
            }
        }
        if inst.cmd == "from" {
            return self.from(inst);
        }
        if self.stages.is_empty() {
            return Err(step_err(
                "Please provide a source image with `from` prior to commit",
            ));
        }
        let _ = trigger;
        match inst.cmd.as_str() {
            "env" => self.env(inst),
            "label" => self.label(inst),
            "arg" => self.arg(inst),
            "maintainer" => {
                let Args::Text(t) = &inst.args else {
                    unreachable!()
                };
                let t = t.clone();
                self.cur().author = Some(t.clone());
                self.meta_step(&format!("MAINTAINER {t}"), "", |_| Ok(()))
            }
            "user" => {
                let Args::Text(t) = &inst.args else {
                    unreachable!()
                };
                let u = process_word(t, &self.cur().vars(), self.escape).map_err(step_err)?;
                let text = format!("USER {u}");
                self.meta_step(&text, "", |s| {
                    s.config.user = u.clone();
                    Ok(())
                })
            }
            "stopsignal" => {
                let Args::Text(t) = &inst.args else {
                    unreachable!()
                };
                let sig = process_word(t, &self.cur().vars(), self.escape).map_err(step_err)?;
                if !valid_signal(&sig) {
                    return Err(step_err(format!("Invalid signal: {sig}")));
                }
                self.meta_step(&format!("STOPSIGNAL {sig}"), "", |s| {
                    s.config.stop_signal = Some(sig.clone());
                    Ok(())
                })
            }
            "expose" => {
                let Args::Words(w) = &inst.args else {
                    unreachable!()
                };
                let vars = self.cur().vars();
                let mut ports = Vec::new();
                for x in w {
                    ports.extend(process_words(x, &vars, self.escape).map_err(step_err)?);
                }
                ports.sort();
                let set = parse_ports(&ports)?;
                self.meta_step(&format!("EXPOSE {}", ports.join(" ")), "", |s| {
                    s.config
                        .exposed_ports
                        .get_or_insert_with(BTreeMap::new)
                        .extend(set.clone());
                    Ok(())
                })
            }
            "volume" => {
                let list = match &inst.args {
                    Args::Json(v) | Args::Words(v) => v.clone(),
                    _ => unreachable!(),
                };
                let vars = self.cur().vars();
                let mut vols = Vec::new();
                for v in &list {
                    let v = process_word(v, &vars, self.escape).map_err(step_err)?;
                    if v.trim().is_empty() {
                        return Err(step_err("VOLUME specified can not be an empty string"));
                    }
                    vols.push(v);
                }
                self.meta_step(&format!("VOLUME {}", go_list(&vols)), "", |s| {
                    let m = s.config.volumes.get_or_insert_with(BTreeMap::new);
                    for v in &vols {
                        m.insert(v.clone(), json!({}));
                    }
                    Ok(())
                })
            }
            "shell" => {
                let Args::Json(v) = &inst.args else {
                    unreachable!()
                };
                if v.is_empty() {
                    return Err(step_err("SHELL requires at least one argument"));
                }
                let v = v.clone();
                self.cur().config.shell = Some(v.clone());
                // The entry is written with the new shell as its prefix.
                let text = format!("SHELL {}", go_list(&v));
                self.meta_step(&text, "", |_| Ok(()))
            }
            "cmd" | "entrypoint" => {
                let line = match &inst.args {
                    Args::Json(v) => v.clone(),
                    Args::Shell(s) => {
                        let mut sh = self.cur().config.shell();
                        sh.push(s.clone());
                        sh
                    }
                    _ => unreachable!(),
                };
                let is_cmd = inst.cmd == "cmd";
                let text = format!("{} {}", inst.cmd.to_uppercase(), go_quote_list(&line));
                self.meta_step(&text, "", |s| {
                    if is_cmd {
                        s.config.cmd = Some(line.clone());
                        s.cmd_set = true;
                    } else {
                        s.config.entrypoint = Some(line.clone());
                        if !s.cmd_set {
                            s.config.cmd = None;
                        }
                    }
                    Ok(())
                })
            }
            "healthcheck" => self.healthcheck(inst),
            "onbuild" => {
                let Args::OnBuild(_, text) = &inst.args else {
                    unreachable!()
                };
                let text = text.clone();
                self.meta_step(&format!("ONBUILD {text}"), "", |s| {
                    s.config
                        .on_build
                        .get_or_insert_with(Vec::new)
                        .push(text.clone());
                    Ok(())
                })
            }
            "workdir" => self.workdir(inst),
            "run" => self.run(inst),
            "copy" | "add" => self.copy(inst),
            other => Err(step_err(format!(
                "unknown instruction: {}",
                other.to_uppercase()
            ))),
        }
    }

    /// A step that changes only the config: `f` edits the stage; history and cache.
    fn meta_step(
        &mut self,
        text: &str,
        extra: &str,
        f: impl Fn(&mut Stage) -> Result<()>,
    ) -> Result<()> {
        let created_by = self.cur().nop(text);
        let key = cache::step_key(&self.cur().key, &created_by, extra);
        if self.try_cache(&key)? {
            return Ok(());
        }
        f(self.cur())?;
        let created = self.now();
        let hist = json!({"created": created, "created_by": created_by, "empty_layer": true});
        self.commit(key, hist, None)
    }

    /// Uses a cache record for `key` if there is a usable one.
    fn try_cache(&mut self, key: &Digest) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(rec) = cache::get(self.store, key) else {
            return Ok(false);
        };
        if let Some(l) = &rec.layer {
            if !self.store.protect_existing(&l.digest, self.lease)? {
                return Ok(false);
            }
        }
        let s = self.cur();
        s.config = rec.config.clone();
        s.author = rec.author.clone();
        s.history.push(rec.history.clone());
        if let Some(l) = &rec.layer {
            s.layers.push(l.clone());
        }
        s.key = key.clone();
        self.cached_steps += 1;
        self.say(" ---> Using cache")?;
        self.say(&format!(" ---> {}", &key.hex()[..12]))?;
        Ok(true)
    }

    /// Records a step's outcome on the current stage.
    fn commit(&mut self, key: Digest, hist: Value, layer: Option<LayerRef>) -> Result<()> {
        let s = self.cur();
        s.history.push(hist.clone());
        if let Some(l) = &layer {
            s.layers.push(l.clone());
            // The trees already hold this layer (it was made from them).
            s.applied = s.layers.len();
        }
        s.key = key.clone();
        let rec = Record {
            config: s.config.clone(),
            author: s.author.clone(),
            history: hist,
            layer,
        };
        self.records.push((key.clone(), rec));
        self.say(&format!(" ---> {}", &key.hex()[..12]))
    }

    fn from(&mut self, inst: &Instruction) -> Result<()> {
        let Args::Words(w) = &inst.args else {
            unreachable!()
        };
        let gvars = self.global_vars();
        if let Some(p) = inst.flag("platform") {
            let p = process_word(p, &gvars, self.escape).map_err(step_err)?;
            let parsed = Platform::parse(&p).map_err(|e| step_err(e.to_string()))?;
            if !parsed.matches(&self.host) && !self.host.matches(&parsed) {
                return Err(step_err(format!(
                    "strata build can only build for this machine's platform ({}), not {p}",
                    self.host
                )));
            }
        }
        let word = process_word(&w[0], &gvars, self.escape).map_err(step_err)?;
        if word.is_empty() {
            return Err(step_err("base name (${}) should not be blank"));
        }
        let name = w.get(2).map(|n| n.to_ascii_lowercase());
        if let Some(n) = &name {
            if self.stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                return Err(step_err(format!("duplicate name {n}")));
            }
        }
        let lower = word.to_ascii_lowercase();
        let from_stage = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()));
        let mut stage = if let Some(i) = from_stage {
            let line = format!(" ---> {}", &self.stages[i].key.hex()[..12]);
            self.say(&line)?;
            let src = &self.stages[i];
            Stage {
                name: name.clone(),
                base: Base::Stage(i),
                base_layers: src.layers.len(),
                config: src.config.clone(),
                author: src.author.clone(),
                platform: src.platform.clone(),
                docker_media: src.docker_media,
                layers: src.layers.clone(),
                history: src.history.clone(),
                key: src.key.clone(),
                trees: None,
                applied: 0,
                args: Vec::new(),
                cmd_set: false,
            }
        } else if lower == "scratch" {
            self.say(" ---> ")?;
            let platform = self.host.clone();
            Stage {
                name: name.clone(),
                base: Base::Scratch,
                base_layers: 0,
                config: ContainerConfig::default(),
                author: None,
                key: cache::base_key("scratch", &platform.to_string()),
                platform,
                docker_media: false,
                layers: Vec::new(),
                history: Vec::new(),
                trees: None,
                applied: 0,
                args: Vec::new(),
                cmd_set: false,
            }
        } else {
            let img = self.resolve_image(&word)?;
            self.say(&format!(" ---> {}", img.id().short()))?;
            let cfg = &img.config;
            let layers: Vec<LayerRef> = img
                .manifest
                .layers
                .iter()
                .zip(&cfg.rootfs.diff_ids)
                .map(|(d, diff)| LayerRef {
                    media_type: d.media_type.clone(),
                    digest: d.digest.clone(),
                    size: d.size,
                    diff_id: diff.clone(),
                })
                .collect();
            if layers.len() != img.manifest.layers.len() {
                return Err(step_err(format!(
                    "{word}: the image config and manifest disagree on the number of layers"
                )));
            }
            let history: Vec<Value> = cfg
                .history
                .iter()
                .map(|h| serde_json::to_value(h).unwrap_or(Value::Null))
                .collect();
            let platform = cfg.platform();
            Stage {
                name: name.clone(),
                base_layers: layers.len(),
                config: ContainerConfig::from_value(cfg.config.as_ref()),
                author: cfg.author.clone(),
                key: cache::base_key(
                    &img.manifest.config.digest.to_string(),
                    &platform.to_string(),
                ),
                platform,
                docker_media: img.manifest_descriptor.media_type == media::DOCKER_MANIFEST,
                layers,
                history,
                trees: None,
                applied: 0,
                args: Vec::new(),
                cmd_set: false,
                base: Base::Image(Box::new(img)),
            }
        };
        if stage.config.env_get("PATH").is_none() {
            stage.config.env_set("PATH", DEFAULT_PATH);
        }
        let triggers = stage.config.on_build.take().unwrap_or_default();
        self.stages.push(stage);
        if !triggers.is_empty() {
            let n = triggers.len();
            self.say(&format!(
                "# Executing {n} build trigger{}",
                if n == 1 { "" } else { "s" }
            ))?;
            for t in triggers {
                let inst = dockerfile::parse_line(&t, inst.line, self.escape)?;
                self.dispatch(&inst, true)?;
            }
        }
        Ok(())
    }

    fn resolve_image(&self, word: &str) -> Result<ResolvedImage> {
        let full = Reference::parse_with_default_tag(word)
            .ok()
            .map(|r| r.to_string());
        let shown = Reference::parse_with_default_tag(word)
            .map(|r| r.familiar_string())
            .unwrap_or_else(|_| word.to_string());
        let names = match self.store.lookup(word, full.as_deref()) {
            Ok(n) if !n.is_empty() => n,
            Ok(_) | Err(strata_store::StoreError::ImageNotFound(_)) => {
                return Err(step_err(format!(
                    "No such image: {shown} (strata build uses the local store; pull it first: strata pull {shown})"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let n = &names[0];
        let desc = Descriptor::new(&n.media_type, n.digest.clone(), n.size);
        Ok(self.store.resolve(&desc, self.opts.platform.as_ref())?)
    }

    /// The KEY=VALUE pairs of ENV or LABEL with variables substituted, and their text
    /// for the history.
    fn pairs(&mut self, inst: &Instruction) -> Result<(Vec<(String, String)>, String)> {
        let Args::Pairs(pairs) = &inst.args else {
            unreachable!()
        };
        let vars = self.cur().vars();
        let mut done = Vec::new();
        for (k, v) in pairs {
            let k = process_word(k, &vars, self.escape).map_err(step_err)?;
            let v = process_word(v, &vars, self.escape).map_err(step_err)?;
            done.push((k, v));
        }
        let text: Vec<String> = done.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok((done, text.join(" ")))
    }

    fn env(&mut self, inst: &Instruction) -> Result<()> {
        let (done, text) = self.pairs(inst)?;
        self.meta_step(&format!("ENV {text}"), "", |s| {
            for (k, v) in &done {
                s.config.env_set(k, v);
            }
            Ok(())
        })
    }

    fn label(&mut self, inst: &Instruction) -> Result<()> {
        let (done, text) = self.pairs(inst)?;
        self.meta_step(&format!("LABEL {text}"), "", |s| {
            let m = s.config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in &done {
                m.insert(k.clone(), v.clone());
            }
            Ok(())
        })
    }

    fn arg(&mut self, inst: &Instruction) -> Result<()> {
        let Args::Arg(list) = &inst.args else {
            unreachable!()
        };
        for (name, default) in list {
            let vars = self.cur().vars();
            let default = match default {
                Some(d) => Some(process_word(d, &vars, self.escape).map_err(step_err)?),
                None => None,
            };
            let global = self
                .global_args
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone());
            let value = self.arg_value(name).or(default.clone()).or(global);
            self.used_args.insert(name.clone());
            let text = match &default {
                Some(d) => format!("ARG {name}={d}"),
                None => format!("ARG {name}"),
            };
            let s = self.cur();
            s.args.retain(|(k, _)| k != name);
            s.args.push((name.clone(), value.clone()));
            // The value decides later steps; it is part of the key, not of the text.
            let extra = format!("{name}={value:?}");
            self.meta_step(&text, &extra, |_| Ok(()))?;
        }
        Ok(())
    }

    fn healthcheck(&mut self, inst: &Instruction) -> Result<()> {
        let Args::Health(h) = &inst.args else {
            unreachable!()
        };
        let test: Vec<String> = match h {
            None => vec!["NONE".into()],
            Some(a) => match a.as_ref() {
                Args::Json(v) => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(v.iter().cloned());
                    t
                }
                Args::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                _ => unreachable!(),
            },
        };
        let dur = |name: &str| -> Result<i64> {
            match inst.flag(name) {
                None | Some("") => Ok(0),
                Some(v) => {
                    let d = parse_go_duration(v).ok_or_else(|| {
                        step_err(format!(
                            "time: invalid duration {}",
                            crate::config::go_quote(v)
                        ))
                    })?;
                    if d != 0 && d < 1_000_000 {
                        return Err(step_err(format!(
                            "Interval {name:?} cannot be less than 1ms"
                        )));
                    }
                    Ok(d)
                }
            }
        };
        if h.is_none() && !inst.flags.is_empty() {
            return Err(step_err("HEALTHCHECK NONE takes no arguments"));
        }
        let (interval, timeout, start) = (dur("interval")?, dur("timeout")?, dur("start-period")?);
        let retries: i64 = match inst.flag("retries") {
            None | Some("") => 0,
            Some(v) => v.parse().map_err(|_| {
                step_err(format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    crate::config::go_quote(v)
                ))
            })?,
        };
        if retries < 0 {
            return Err(step_err(format!(
                "--retries cannot be negative ({retries})"
            )));
        }
        let mut obj = Map::new();
        obj.insert("Test".into(), json!(test));
        if interval != 0 {
            obj.insert("Interval".into(), json!(interval));
        }
        if timeout != 0 {
            obj.insert("Timeout".into(), json!(timeout));
        }
        if start != 0 {
            obj.insert("StartPeriod".into(), json!(start));
        }
        if retries != 0 {
            obj.insert("Retries".into(), json!(retries));
        }
        let text = format!(
            "HEALTHCHECK &{{{} \"{}\" \"{}\" \"{}\" {}}}",
            go_quote_list(&test),
            go_duration(interval),
            go_duration(timeout),
            go_duration(start),
            go_quote_rune(retries)
        );
        let obj = Value::Object(obj);
        self.meta_step(&text, "", |s| {
            s.config.healthcheck = Some(obj.clone());
            Ok(())
        })
    }

    /// Makes the current stage's trees (from the base snapshot) and applies the layers
    /// they do not hold yet.
    fn materialize(&mut self) -> Result<()> {
        let idx = self.stages.len() - 1;
        if self.stages[idx].trees.is_none() {
            let tmp = self.store.tmp_dir();
            let mk = || {
                tempfile::Builder::new()
                    .prefix("build-")
                    .tempdir_in(&tmp)
                    .map_err(|e| io_err(format!("creating a directory in {}", tmp.display()), e))
            };
            let trees = Trees {
                parent: mk()?,
                work: mk()?,
            };
            let src: Option<PathBuf> = match &self.stages[idx].base {
                Base::Scratch => None,
                Base::Image(img) => {
                    if img.manifest.layers.is_empty() {
                        None
                    } else {
                        let snap = strata_rootfs::snapshot(self.store, img, &self.apply)?;
                        Some(snap.path)
                    }
                }
                Base::Stage(i) => {
                    let i = *i;
                    self.sync_stage(i)?;
                    Some(self.stages[i].work().to_path_buf())
                }
            };
            if let Some(src) = src {
                strata_rootfs::cache::copy_tree(&src, trees.parent.path(), &self.apply)?;
                strata_rootfs::cache::copy_tree(&src, trees.work.path(), &self.apply)?;
            }
            let s = &mut self.stages[idx];
            s.applied = s.base_layers;
            s.trees = Some(trees);
        }
        self.sync_stage(idx)
    }

    /// Applies the layers of stage `i` its trees do not hold yet (cache hits).
    fn sync_stage(&mut self, i: usize) -> Result<()> {
        if self.stages[i].trees.is_none() {
            let last = self.stages.len() - 1;
            if i != last {
                // An earlier stage never needed files: make them now.
                let s = self.stages.remove(i);
                self.stages.push(s);
                let r = self.materialize();
                let s = self.stages.pop().expect("pushed above");
                self.stages.insert(i, s);
                return r;
            }
            return self.materialize();
        }
        let s = &mut self.stages[i];
        let trees = s.trees.as_ref().expect("checked above");
        while s.applied < s.layers.len() {
            let l = &s.layers[s.applied];
            for dir in [trees.parent.path(), trees.work.path()] {
                let f = self.store.open_blob(&l.digest)?;
                let mut a = Applier::new(dir, self.apply.clone())?;
                a.apply_layer(
                    &format!("layer {}", l.digest.short()),
                    BufReader::new(f),
                    Some(&l.diff_id),
                )?;
            }
            s.applied += 1;
        }
        Ok(())
    }

    /// Diffs the work tree against the parent tree into a stored layer, and brings the
    /// parent tree up to date.
    fn make_layer(&mut self) -> Result<LayerRef> {
        let s = self.stages.last().expect("a stage");
        let trees = s.trees.as_ref().expect("materialized");
        let mut f = tempfile::tempfile_in(self.store.tmp_dir())
            .map_err(|e| io_err("creating a temporary file", e))?;
        let out = {
            let mut w = io::BufWriter::with_capacity(1 << 20, &mut f);
            let o = write_layer(
                Some(trees.parent.path()),
                trees.work.path(),
                &self.diff,
                &mut w,
            )?;
            w.flush().map_err(|e| io_err("writing the layer", e))?;
            o
        };
        f.rewind().map_err(|e| io_err("reading the layer", e))?;
        self.store.put_layer(
            BufReader::new(&mut f),
            Some((out.digest.clone(), out.size)),
            self.lease,
        )?;
        let mut dirs = vec![trees.parent.path()];
        if self.epoch.is_some() {
            // Clamped times: the work tree takes the layer's too, so both stay equal.
            dirs.push(trees.work.path());
        }
        for d in dirs {
            f.rewind().map_err(|e| io_err("reading the layer", e))?;
            let mut a = Applier::new(d, self.apply.clone())?;
            a.apply_layer("new layer", BufReader::new(&mut f), Some(&out.diff_id))?;
        }
        Ok(LayerRef {
            media_type: if s.docker_media {
                media::DOCKER_LAYER_GZIP.into()
            } else {
                media::OCI_LAYER_GZIP.into()
            },
            digest: out.digest,
            size: out.size,
            diff_id: out.diff_id,
        })
    }

    fn workdir(&mut self, inst: &Instruction) -> Result<()> {
        let Args::Text(t) = &inst.args else {
            unreachable!()
        };
        let p = process_word(t, &self.cur().vars(), self.escape).map_err(step_err)?;
        let wd = crate::ignore::clean(&abs_in(&self.cur().config.working_dir, &p));
        self.cur().config.working_dir = wd.clone();
        let created_by = format!("{} #(nop) WORKDIR {wd}", self.cur().prefix());
        let key = cache::step_key(&self.cur().key, &created_by, "");
        if self.try_cache(&key)? {
            return Ok(());
        }
        self.materialize()?;
        let work = self.cur().work().to_path_buf();
        let root = strata_rootfs::root::Root::open(&work, self.apply.resolver)
            .map_err(|e| io_err(format!("opening {}", work.display()), e))?;
        let comps = path_comps(&wd);
        let created = self.now();
        let layer = match root.open_dir(&comps) {
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                root.ensure_dir(&comps).map_err(|e| {
                    step_err(format!("failed to create working directory {wd}: {e}"))
                })?;
                Some(self.make_layer()?)
            }
            Err(e) => {
                return Err(step_err(format!(
                    "cannot use {wd} as the working directory: {e}"
                )))
            }
        };
        let mut hist = json!({"created": created, "created_by": created_by});
        if layer.is_none() {
            hist["empty_layer"] = json!(true);
        }
        self.commit(key, hist, layer)
    }

    fn run(&mut self, inst: &Instruction) -> Result<()> {
        let cmdline: Vec<String> = match &inst.args {
            Args::Json(v) => v.clone(),
            Args::Shell(s) => {
                let mut sh = self.cur().config.shell();
                sh.push(s.clone());
                sh
            }
            _ => unreachable!(),
        };
        if cmdline.is_empty() {
            return Err(step_err("RUN requires at least one argument"));
        }
        let s = self.cur();
        let env_keys: BTreeSet<String> = s
            .config
            .env
            .iter()
            .flatten()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string())
            .collect();
        let mut args: Vec<String> = s
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        args.sort();
        let shown = cmdline.join(" ");
        let created_by = if args.is_empty() {
            shown.clone()
        } else {
            format!("|{} {} {shown}", args.len(), args.join(" "))
        };
        let key = cache::step_key(&s.key, &created_by, "");
        if self.try_cache(&key)? {
            return Ok(());
        }
        self.materialize()?;
        let s = self.stages.last().expect("a stage");
        let work = s.work().to_path_buf();
        // What Docker's container start creates: the working directory and volumes.
        let root = strata_rootfs::root::Root::open(&work, self.apply.resolver)
            .map_err(|e| io_err(format!("opening {}", work.display()), e))?;
        let wd = if s.config.working_dir.is_empty() {
            "/".to_string()
        } else {
            s.config.working_dir.clone()
        };
        for v in std::iter::once(&wd).chain(s.config.volumes.iter().flat_map(|m| m.keys())) {
            root.ensure_dir(&path_comps(v))
                .map_err(|e| step_err(format!("failed to create {v}: {e}")))?;
        }
        let user = if s.config.user.is_empty() {
            "0"
        } else {
            s.config.user.as_str()
        };
        let (uname, gname) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        let (uid, pgid) = lookup_user(uname, &work).map_err(step_err)?;
        let gid = match gname {
            Some(g) => lookup_group(g, &work).map_err(step_err)?,
            None => pgid,
        };
        let groups = if gname.is_some() {
            vec![gid]
        } else {
            groups_of(uname, gid, &work)
        };
        let mut env: Vec<String> = s.config.env.clone().unwrap_or_default();
        env.extend(args.iter().cloned());
        if !env_keys.contains("HOME") {
            let home = read_db(&work, "etc/passwd")
                .into_iter()
                .find(|f| f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(uid))
                .and_then(|f| f.get(5).cloned())
                .unwrap_or_else(|| if uid == 0 { "/root".into() } else { "/".into() });
            env.push(format!("HOME={home}"));
        }
        let spec = RunSpec {
            root: work,
            argv: cmdline.clone(),
            env,
            cwd: wd,
            uid,
            gid,
            groups,
            quiet: self.opts.quiet,
        };
        let cid = {
            let mut h = Digester::default();
            h.update(
                format!(
                    "{key}{}",
                    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
                )
                .as_bytes(),
            );
            h.finish().hex()[..12].to_string()
        };
        self.say(&format!(" ---> Running in {cid}"))?;
        self.out.flush().map_err(|e| io_err("writing output", e))?;
        let code = run::run(&spec)?;
        if code != 0 {
            return Err(step_err(format!(
                "The command '{shown}' returned a non-zero code: {code}"
            )));
        }
        let created = self.now();
        let layer = self.make_layer()?;
        self.say(&format!("Removing intermediate container {cid}"))?;
        let hist = json!({"created": created, "created_by": created_by});
        self.commit(key, hist, Some(layer))
    }

    fn copy(&mut self, inst: &Instruction) -> Result<()> {
        let name = inst.cmd.to_uppercase();
        let is_add = inst.cmd == "add";
        let list = match &inst.args {
            Args::Json(v) | Args::Words(v) => v.clone(),
            _ => unreachable!(),
        };
        let vars = self.cur().vars();
        let mut words = Vec::new();
        for w in &list {
            words.push(process_word(w, &vars, self.escape).map_err(step_err)?);
        }
        let dest_raw = words.pop().expect("parser checked two arguments");
        let srcs = words;
        if is_add {
            if let Some(u) = srcs.iter().find(|s| {
                s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
            }) {
                return Err(step_err(format!(
                    "ADD failed: remote sources are not supported by strata build (no network access): {u}"
                )));
            }
        }
        let chown = match inst.flag("chown") {
            Some(c) => Some(process_word(c, &vars, self.escape).map_err(step_err)?),
            None => None,
        };
        let chmod = match inst.flag("chmod") {
            Some(c) => Some(
                u32::from_str_radix(c, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| step_err(format!("invalid chmod parameter: {c}")))?,
            ),
            None => None,
        };
        let from = inst.flag("from").map(str::to_string);
        let tree = self.source_tree(from.as_deref())?;
        let sources = tree.sources(&srcs, &name).map_err(step_err)?;
        let multi = sources.len() > 1 || srcs.iter().any(|s| crate::ignore::has_wildcards(s));
        if multi && !dest_raw.ends_with('/') {
            return Err(step_err(format!(
                "When using {name} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        // The content hash of each source (relative names), for the key and history.
        let mut ids = Vec::new();
        let mut per_source: Vec<(Source, Vec<Entry>)> = Vec::new();
        for src in &sources {
            let mut entries = Vec::new();
            if src.is_dir {
                tree.dir_entries(src, "", &mut entries)
                    .map_err(|e| step_err(format!("{name} failed: {e}")))?;
            } else {
                let meta =
                    fs::metadata(&src.host).map_err(|e| step_err(format!("{name} failed: {e}")))?;
                entries.push(Entry {
                    name: String::new(),
                    host: src.host.clone(),
                    meta,
                });
            }
            let h =
                content_hash(&entries, "").map_err(|e| step_err(format!("{name} failed: {e}")))?;
            ids.push(format!(
                "{}:{}",
                if src.is_dir { "dir" } else { "file" },
                h.hex()
            ));
            per_source.push((src.clone(), entries));
        }
        let src_id = if ids.len() == 1 {
            ids[0].clone()
        } else {
            let mut h = Digester::default();
            h.update(ids.join(",").as_bytes());
            format!("multi:{}", h.finish().hex())
        };
        // Docker writes the --chown flag straight before the hash, without a space.
        let flags = format!(
            "{}{}",
            chown
                .as_ref()
                .map(|c| format!("--chown={c}"))
                .unwrap_or_default(),
            chmod.map(|m| format!("--chmod={m:o} ")).unwrap_or_default()
        );
        let created_by = format!(
            "{} #(nop) {name} {flags}{src_id} in {dest_raw} ",
            self.cur().prefix()
        );
        let extra = format!("chown={chown:?} chmod={chmod:?} from={from:?} add={is_add}");
        let key = cache::step_key(&self.cur().key, &created_by, &extra);
        if self.try_cache(&key)? {
            return Ok(());
        }
        self.materialize()?;
        let work = self.cur().work().to_path_buf();
        let owner = match &chown {
            Some(c) => Some(parse_chown(c, &work)?),
            None => None,
        };
        let ov = Overrides { owner, mode: chmod };
        let dest_abs = abs_in(&self.cur().config.working_dir, &dest_raw);
        let dest_clean = crate::ignore::clean(&dest_abs);
        let dest_rel = dest_clean.trim_start_matches('/').to_string();
        let root = strata_rootfs::root::Root::open(&work, self.apply.resolver)
            .map_err(|e| io_err(format!("opening {}", work.display()), e))?;
        let dest_is_dir = dest_raw.ends_with('/')
            || dest_raw == "."
            || multi
            || root.open_dir(&path_comps(&dest_rel)).is_ok();
        let mut all: Vec<Entry> = Vec::new();
        // Directories the copy needs; those missing are created (0755, owned like the
        // copied files, as Docker's MkdirAllAndChownNew does).
        let mut needed: BTreeSet<String> = BTreeSet::new();
        for (src, entries) in per_source {
            if src.is_dir {
                needed.insert(dest_rel.clone());
                for mut e in entries {
                    e.name = context::join(&dest_rel, &e.name);
                    all.push(e);
                }
                continue;
            }
            if is_add && self.add_archive(&src, &dest_rel, &root)? {
                continue;
            }
            let base = Path::new(&src.rel)
                .file_name()
                .or_else(|| src.host.file_name())
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let target = if dest_is_dir {
                context::join(&dest_rel, &base)
            } else {
                dest_rel.clone()
            };
            if target.is_empty() {
                return Err(step_err(format!("{name} failed: cannot copy to /")));
            }
            if let Some((parent, _)) = target.rsplit_once('/') {
                needed.insert(parent.to_string());
            }
            for mut e in entries {
                e.name = target.clone();
                all.push(e);
            }
        }
        let mut create: BTreeSet<String> = BTreeSet::new();
        for d in &needed {
            let comps = path_comps(d);
            for n in 1..=comps.len() {
                if root.open_dir(&comps[..n]).is_err() {
                    let p: Vec<&str> = d
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .collect();
                    create.insert(p[..n].join("/"));
                }
            }
        }
        let create: Vec<String> = create.into_iter().collect();
        self.write_entries(&create, &all, ov, &work)?;
        let created = self.now();
        let layer = self.make_layer()?;
        let hist = json!({"created": created, "created_by": created_by});
        self.commit(key, hist, Some(layer))
    }

    /// Streams entries as a tar through the layer applier into `root`.
    fn write_entries(
        &self,
        dirs: &[String],
        entries: &[Entry],
        ov: Overrides,
        root: &Path,
    ) -> Result<()> {
        if entries.is_empty() && dirs.is_empty() {
            return Ok(());
        }
        let (r, w) = io::pipe().map_err(|e| io_err("creating a pipe", e))?;
        let apply = ApplyOptions {
            limits: strata_rootfs::Limits::unbounded(),
            ..self.apply.clone()
        };
        std::thread::scope(|s| {
            let writer = s.spawn(move || context::write_tar(dirs, entries, ov, w).map(|_| ()));
            let mut a = Applier::new(root, apply)?;
            let applied = a.apply_layer("copied files", r, None);
            let written = writer
                .join()
                .map_err(|_| step_err("the copy thread panicked"))?;
            written.map_err(|e| io_err("reading the sources", e))?;
            applied.map(|_| ()).map_err(BuildError::from)
        })
    }

    /// ADD of a local archive: extracts it into the destination directory. Returns false
    /// when the file is not a (possibly compressed) tar.
    fn add_archive(
        &self,
        src: &Source,
        dest_rel: &str,
        root: &strata_rootfs::root::Root,
    ) -> Result<bool> {
        let f = fs::File::open(&src.host).map_err(|e| io_err(src.host.display(), e))?;
        let Ok((_, mut r)) = strata_store::compress::decompress(BufReader::new(f)) else {
            return Ok(false);
        };
        let mut head = vec![0u8; 512];
        let mut n = 0;
        while n < head.len() {
            match r.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => return Ok(false),
            }
        }
        if n < 512 || &head[257..262] != b"ustar" {
            return Ok(false);
        }
        let mut plain = tempfile::tempfile_in(self.store.tmp_dir())
            .map_err(|e| io_err("creating a temporary file", e))?;
        plain
            .write_all(&head)
            .map_err(|e| io_err("extracting", e))?;
        io::copy(&mut r, &mut plain)
            .map_err(|e| io_err(format!("ADD failed: reading {}", src.rel), e))?;
        plain.rewind().map_err(|e| io_err("extracting", e))?;
        let dir = root
            .ensure_dir(&path_comps(dest_rel))
            .map_err(|e| step_err(format!("ADD failed: mkdir /{dest_rel}: {e}")))?;
        let path = strata_rootfs::root::proc_path(&dir, b"");
        let apply = ApplyOptions {
            limits: strata_rootfs::Limits::unbounded(),
            ..self.apply.clone()
        };
        let mut a = Applier::new(&path, apply)?;
        a.apply_layer(&format!("archive {}", src.rel), BufReader::new(plain), None)
            .map_err(|e| step_err(format!("ADD failed: {e}")))?;
        Ok(true)
    }

    /// Where COPY reads from: the context, a stage (`--from=name|index`) or an image.
    fn source_tree(&mut self, from: Option<&str>) -> Result<SourceTree> {
        let Some(from) = from else {
            return Ok(self.context.clone());
        };
        let cur = self.stages.len() - 1;
        let lower = from.to_ascii_lowercase();
        let idx = self.stages[..cur]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| lower.parse::<usize>().ok().filter(|i| *i < cur));
        if let Some(i) = idx {
            self.sync_stage(i)?;
            return Ok(SourceTree {
                root: self.stages[i].work().to_path_buf(),
                ignore: None,
            });
        }
        if lower.parse::<usize>().is_ok() {
            return Err(step_err(format!(
                "invalid from flag value {from}: refers to current build stage"
            )));
        }
        let img = self.resolve_image(from)?;
        if img.manifest.layers.is_empty() {
            let empty = self.store.tmp_dir();
            return Ok(SourceTree {
                root: empty.join(".strata-build-empty-nonexistent"),
                ignore: None,
            });
        }
        let snap = strata_rootfs::snapshot(self.store, &img, &self.apply)?;
        Ok(SourceTree {
            root: snap.path,
            ignore: None,
        })
    }

    /// Writes the final stage's image, names it, and saves the cache records.
    fn finish(&mut self) -> Result<BuildOutput> {
        let unused: Vec<String> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !self.used_args.contains(k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unused.is_empty() {
            self.say(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ))?;
        }
        let s = self.stages.last().expect("a stage");
        let docker = s.docker_media;
        for l in &s.layers {
            if !self.store.protect_existing(&l.digest, self.lease)? {
                return Err(step_err(format!(
                    "layer {} of the base image is not in the store; pull the base image again",
                    l.digest
                )));
            }
        }
        let created = s
            .history
            .last()
            .and_then(|h| h.get("created"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| self.now());
        let mut cfg = Map::new();
        cfg.insert("architecture".into(), json!(s.platform.architecture));
        if let Some(a) = &s.author {
            cfg.insert("author".into(), json!(a));
        }
        cfg.insert(
            "config".into(),
            serde_json::to_value(&s.config).map_err(|e| io_err("config", e))?,
        );
        cfg.insert("created".into(), json!(created));
        cfg.insert("history".into(), Value::Array(s.history.clone()));
        cfg.insert("os".into(), json!(s.platform.os));
        if let Some(v) = &s.platform.os_version {
            cfg.insert("os.version".into(), json!(v));
        }
        let diff_ids: Vec<String> = s.layers.iter().map(|l| l.diff_id.to_string()).collect();
        cfg.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        if let Some(v) = &s.platform.variant {
            cfg.insert("variant".into(), json!(v));
        }
        let cfg_bytes = serde_json::to_vec(&Value::Object(cfg)).map_err(|e| io_err("config", e))?;
        let cfg_digest = self.store.put_bytes(&cfg_bytes, None, self.lease)?;
        let (mt, cmt) = if docker {
            (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
        } else {
            (media::OCI_MANIFEST, media::OCI_CONFIG)
        };
        let layers: Vec<Value> = s
            .layers
            .iter()
            .map(|l| json!({"mediaType": l.media_type, "size": l.size, "digest": l.digest.to_string()}))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {"mediaType": cmt, "size": cfg_bytes.len(), "digest": cfg_digest.to_string()},
            "layers": layers,
        });
        let mbytes = serde_json::to_vec(&manifest).map_err(|e| io_err("manifest", e))?;
        let (md, _) = self.store.put_document(&mbytes, None, self.lease)?;
        let desc = Descriptor::new(mt, md.clone(), mbytes.len() as u64);
        let mut names = Vec::new();
        for t in &self.opts.tags {
            let r = Reference::parse_with_default_tag(t)
                .map_err(|e| step_err(format!("invalid reference format: {t}: {e}")))?;
            names.push(r.to_string());
        }
        if names.is_empty() {
            names.push(format!("@{md}"));
        }
        for n in &names {
            self.store
                .meta()
                .set_name(n, &desc.digest, &desc.media_type, desc.size, true)?;
        }
        cache::put_all(self.store, &self.records)
            .map_err(|e| io_err("writing the build cache", e))?;
        self.publish_snapshot(&cfg_digest);
        Ok(BuildOutput {
            manifest: desc,
            config: cfg_digest,
            names: names.into_iter().filter(|n| !n.starts_with('@')).collect(),
            cached_steps: self.cached_steps,
        })
    }

    /// Best effort: the final tree becomes the layer-cache snapshot of the new image, so
    /// building on it, unpacking or scanning it applies nothing.
    fn publish_snapshot(&mut self, config: &Digest) {
        let Some(s) = self.stages.last_mut() else {
            return;
        };
        if s.applied != s.layers.len() || s.layers.is_empty() {
            return;
        }
        let Some(trees) = s.trees.take() else { return };
        let diffs: Vec<Digest> = s.layers.iter().map(|l| l.diff_id.clone()).collect();
        let Some(top) = strata_oci::chain_ids(&diffs).pop() else {
            return;
        };
        let dest = strata_rootfs::cache::snapshot_path(self.store, &top);
        if dest.exists() || self.store.record_snapshot_use(&top, config).is_err() {
            return;
        }
        let _ = fs::create_dir_all(self.store.snapshots_dir());
        let path = trees.work.keep();
        if fs::rename(&path, &dest).is_err() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}
