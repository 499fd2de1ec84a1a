//! Applying layers to a directory with the OCI image-spec semantics.
//!
//! * `.wh.NAME` deletes NAME from lower layers; `.wh..wh..opq` hides everything a
//!   directory held in lower layers, wherever the marker sits in the tar. Whiteouts never
//!   remove what the same layer wrote (the spec: they apply to lower layers only).
//! * A directory over a directory changes only its metadata; anything else replaces
//!   (unlink, or remove the whole lower directory, then create).
//! * Regular files (holes in all-zero blocks, so sparse files stay sparse), hardlinks
//!   (also to files of lower layers), symlinks, modes, owners (when running as root;
//!   otherwise recorded in the report and skipped with a warning), mtimes (directories
//!   last, after the layer's other entries), xattrs (`SCHILY.xattr.*`, including
//!   `security.capability`), device nodes (root only) and FIFOs.
//!
//! Safety is by construction: every parent directory is opened through [`Root`], the last
//! component is never followed, and names are checked as components (`..` refused, a
//! leading `/` dropped, over-long names and components refused). PAX records that would
//! make parsers disagree (a `size` record contradicting a non-zero header size, the
//! CVE-2025-62518 class) are refused. See the crate docs for the tar reader's version.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags};
use strata_oci::Digest;
use strata_store::compress::Compression;

use crate::error::{Result, RootfsError};
use crate::limits::Limits;
use crate::root::{self, ioe, Resolver, Root};
use crate::stream::{Decoded, Guarded, MetaBudget};
use crate::writer::{run_lane, Job, Pool};

/// Whether owners are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// Apply when running as root (effective uid 0), else record and skip.
    Auto,
    /// Never apply; record every owner in the report.
    Skip,
}

/// Options of an [`Applier`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Bounds.
    pub limits: Limits,
    /// Owner handling.
    pub owners: Owners,
    /// Directory resolution.
    pub resolver: Resolver,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            limits: Limits::default(),
            owners: Owners::Auto,
            resolver: Resolver::Auto,
        }
    }
}

/// What applying one layer did.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// The layer's label (as used in errors).
    pub label: String,
    /// Compression found in the bytes.
    pub compression: Compression,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Uncompressed bytes.
    pub uncompressed: u64,
    /// Compressed bytes.
    pub compressed: u64,
    /// Tar entries read.
    pub entries: u64,
    /// Things skipped or neutralised, one line each.
    pub warnings: Vec<String>,
    /// Owners that were not applied (not running as root): (path, uid, gid).
    pub skipped_owners: Vec<(String, u64, u64)>,
}

/// Applies layers, in order, to one directory.
pub struct Applier {
    root: Root,
    opts: ApplyOptions,
    is_root: bool,
    layers: usize,
    /// The last parent directory opened, reused by consecutive entries of the same
    /// directory (tar order groups them). Dropped whenever anything is removed, since a
    /// removal (a whiteout, a replaced directory or symlink) may change what a path
    /// resolves to; creating entries never does.
    parent: Option<Parent>,
    /// The process's file-creation mask, when known: files and directories are created
    /// with their final permission bits when the mask cannot strip any of them.
    umask: Option<u32>,
    euid: u32,
    egid: u32,
}

/// A cached parent directory.
struct Parent {
    comps: Vec<Vec<u8>>,
    fd: std::sync::Arc<OwnedFd>,
    /// Whether it has the set-group-ID bit (new entries then take its group).
    setgid: bool,
}

/// The process's umask, read from /proc (Linux 4.7+) without changing it.
pub(crate) fn read_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}

fn euid_is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A tar name split into components, after dropping a leading `/` and `.` components.
/// Refuses `..`, NUL bytes, over-long names and components.
pub fn split_name(raw: &[u8], limits: &Limits) -> std::result::Result<Vec<Vec<u8>>, String> {
    if raw.len() > limits.max_path {
        return Err(format!(
            "name is {} bytes long (the limit is {})",
            raw.len(),
            limits.max_path
        ));
    }
    if raw.contains(&0) {
        return Err("name contains a NUL byte".into());
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("name contains a '..' component".into()),
            c if c.len() > limits.max_name => {
                return Err(format!(
                    "a component is {} bytes long (the limit is {})",
                    c.len(),
                    limits.max_name
                ))
            }
            c => out.push(c.to_vec()),
        }
    }
    if out.len() > limits.max_depth {
        return Err(format!(
            "name has {} components (the limit is {})",
            out.len(),
            limits.max_depth
        ));
    }
    Ok(out)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

fn refs(comps: &[Vec<u8>]) -> Vec<&[u8]> {
    comps.iter().map(|c| c.as_slice()).collect()
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// Metadata read from one tar entry and its PAX records.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    if neg {
        if nanos > 0 {
            Some(Timespec {
                tv_sec: -secs - 1,
                tv_nsec: (1_000_000_000 - nanos) as _,
            })
        } else {
            Some(Timespec {
                tv_sec: -secs,
                tv_nsec: 0,
            })
        }
    } else {
        Some(Timespec {
            tv_sec: secs,
            tv_nsec: nanos as _,
        })
    }
}

/// State of the layer being applied.
struct LayerState {
    label: String,
    /// Paths this layer wrote (whiteouts never remove them).
    written: BTreeSet<Vec<u8>>,
    /// Directories whose mtimes are set once the layer's entries are done.
    dir_times: Vec<(Vec<Vec<u8>>, Timespec)>,
    /// Existing directories this layer changed the contents of, with their mtimes from
    /// before: restored at the end so a layer changes only the times it names.
    touched: std::collections::BTreeMap<Vec<Vec<u8>>, Timespec>,
    /// Directories already made opaque by this layer: a later marker in them (or below
    /// them) has nothing left to hide, and re-listing would make hostile layers quadratic.
    opaque_done: BTreeSet<Vec<u8>>,
    /// Restrictive directory modes applied once the layer is done (not running as root).
    dir_modes: Vec<(Vec<Vec<u8>>, u32)>,
    warnings: Vec<String>,
    skipped_owners: Vec<(String, u64, u64)>,
    entries: u64,
    /// The write-behind pool for small files (see [`crate::writer`]).
    writer: Option<Pool>,
}

/// Files up to this size are created by the layer's write-behind pool.
const QUEUED_FILE_MAX: u64 = 256 << 10;
/// Batches queued per lane at most: with batches of at most 16 files or 512 KiB plus
/// one file, at most about 2 x 4 x 768 KiB of content waits in memory.
const QUEUE_DEPTH: usize = 4;
/// Lanes (threads) of the write-behind pool.
const WRITE_LANES: usize = 2;

impl LayerState {
    fn unsafe_entry(&self, path: &[u8], reason: impl Into<String>) -> RootfsError {
        RootfsError::Unsafe {
            layer: self.label.clone(),
            path: show(path),
            reason: reason.into(),
        }
    }
    fn io(&self, path: &[u8], what: &str, e: io::Error) -> RootfsError {
        RootfsError::io(format!("{}: {what} {:?}", self.label, show(path)), e)
    }
    /// Remembers the mtime of `dir` (at `comps`) before this layer first changes it.
    fn touch(&mut self, comps: &[Vec<u8>], dir: &OwnedFd) {
        if !self.touched.contains_key(comps) {
            if let Ok(s) = rfs::fstat(dir) {
                let t = Timespec {
                    tv_sec: s.st_mtime as _,
                    tv_nsec: s.st_mtime_nsec as _,
                };
                self.touched.insert(comps.to_vec(), t);
            }
        }
    }

    fn wrote_under(&self, p: &[u8]) -> bool {
        let mut prefix = p.to_vec();
        prefix.push(b'/');
        self.written
            .range(prefix.clone()..)
            .next()
            .is_some_and(|w| w.starts_with(&prefix))
    }
}

impl Applier {
    /// An applier for the directory `dir` (which must exist).
    pub fn new(dir: &Path, opts: ApplyOptions) -> Result<Applier> {
        let root = Root::open(dir, opts.resolver)
            .map_err(|e| RootfsError::io(format!("opening {}", dir.display()), e))?;
        let is_root = opts.owners == Owners::Auto && euid_is_root();
        Ok(Applier {
            root,
            opts,
            is_root,
            layers: 0,
            parent: None,
            umask: read_umask(),
            euid: rustix::process::geteuid().as_raw(),
            egid: rustix::process::getegid().as_raw(),
        })
    }

    /// Layers applied so far.
    pub fn layers_applied(&self) -> usize {
        self.layers
    }

    /// Whether the user-space resolver is in use.
    pub fn walking(&self) -> bool {
        self.root.walking()
    }

    /// Applies one layer read from `r` (gzip, zstd or plain tar, sniffed from the bytes),
    /// decompressing and hashing on a worker thread. When `expected` is given, the
    /// uncompressed digest must equal it. `label` names the layer in errors.
    pub fn apply_layer<R: Read + Send>(
        &mut self,
        label: &str,
        r: R,
        expected: Option<&Digest>,
    ) -> Result<LayerReport> {
        let limits = self.opts.limits;
        std::thread::scope(|s| {
            let dec = Decoded::spawn(s, r, label.to_string(), limits);
            self.apply_decoded(label, dec, expected)
        })
    }

    /// [`Applier::apply_layer`] for a blob a pull stored and verified moments ago: its
    /// diff ID `verified` is the one the pull computed from the same bytes as they
    /// downloaded, so the layer is inflated but not hashed again. `expected` is still
    /// compared with it.
    pub fn apply_layer_verified<R: Read + Send>(
        &mut self,
        label: &str,
        r: R,
        verified: &Digest,
        expected: Option<&Digest>,
    ) -> Result<LayerReport> {
        let limits = self.opts.limits;
        std::thread::scope(|s| {
            let dec = Decoded::spawn_verified(s, r, label.to_string(), limits, verified.clone());
            self.apply_decoded(label, dec, expected)
        })
    }

    /// Applies one layer from an already running decoder (see [`Decoded::spawn`]); used
    /// to decode later layers while earlier ones are applied.
    pub fn apply_decoded(
        &mut self,
        label: &str,
        dec: Decoded,
        expected: Option<&Digest>,
    ) -> Result<LayerReport> {
        if self.layers >= self.opts.limits.max_layers {
            return Err(RootfsError::Limit {
                layer: "image".into(),
                what: "layer count".into(),
                limit: self.opts.limits.max_layers as u64,
                hint: "--max-layers",
            });
        }
        let (pool, lanes) = Pool::new(WRITE_LANES, QUEUE_DEPTH);
        let mut st = LayerState {
            label: label.to_string(),
            written: BTreeSet::new(),
            dir_times: Vec::new(),
            touched: Default::default(),
            dir_modes: Vec::new(),
            opaque_done: BTreeSet::new(),
            warnings: Vec::new(),
            skipped_owners: Vec::new(),
            entries: 0,
            writer: Some(pool),
        };
        self.parent = None;
        let budget = MetaBudget::default();
        let mut ar = tar::Archive::new(Guarded::new(
            dec,
            budget.clone(),
            self.opts.limits.max_metadata,
        ));
        let res = std::thread::scope(|s| {
            let threads: Vec<_> = lanes
                .into_iter()
                .map(|l| s.spawn(move || run_lane(l)))
                .collect();
            let res = self
                .apply_entries(&mut ar, &budget, &mut st)
                .and_then(|()| self.sync_writes(&mut st));
            // Dropping the pool closes the lanes; each ends once its queue is done.
            drop(st.writer.take());
            for t in threads {
                t.join()
                    .map_err(|_| RootfsError::Target("a file writer thread panicked".into()))?;
            }
            res
        });
        let mut guarded = ar.into_inner();
        let dec = guarded.inner_mut();
        if let Err(e) = res {
            // The worker's own error (a bound, a corrupt stream) explains a tar error best.
            return Err(match (dec.take_failure(), e) {
                (Some(f), RootfsError::Tar { .. }) => f,
                (_, e) => e,
            });
        }
        let facts = dec.finish()?;
        self.finish_dirs(&mut st)?;
        if let Some(exp) = expected {
            if exp != &facts.diff_id {
                return Err(RootfsError::DiffIdMismatch {
                    layer: label.to_string(),
                    expected: exp.clone(),
                    actual: facts.diff_id,
                });
            }
        }
        self.layers += 1;
        Ok(LayerReport {
            label: label.to_string(),
            compression: facts.compression,
            diff_id: facts.diff_id,
            uncompressed: facts.uncompressed,
            compressed: facts.compressed,
            entries: st.entries,
            warnings: st.warnings,
            skipped_owners: st.skipped_owners,
        })
    }

    fn apply_entries<R: Read + Seek>(
        &mut self,
        ar: &mut tar::Archive<R>,
        budget: &MetaBudget,
        st: &mut LayerState,
    ) -> Result<()> {
        let max_metadata = self.opts.limits.max_metadata;
        let tar_err = |st: &LayerState, e: io::Error| {
            if budget.tripped() {
                RootfsError::Limit {
                    layer: st.label.clone(),
                    what: "tar metadata of one entry (headers, PAX records, long names)".into(),
                    limit: max_metadata,
                    hint: "--max-metadata",
                }
            } else {
                RootfsError::Tar {
                    layer: st.label.clone(),
                    source: e,
                }
            }
        };
        let mut entries = ar.entries_with_seek().map_err(|e| tar_err(st, e))?;
        loop {
            budget.arm();
            let next = entries.next();
            budget.disarm();
            let mut entry = match next {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(tar_err(st, e)),
            };
            st.entries += 1;
            if st.entries > self.opts.limits.max_entries {
                return Err(RootfsError::Limit {
                    layer: st.label.clone(),
                    what: "entry count".into(),
                    limit: self.opts.limits.max_entries,
                    hint: "--max-entries",
                });
            }
            self.apply_entry(&mut entry, st)?;
            // Consume what the entry did not use so the metadata budget only sees metadata.
            io::copy(&mut entry, &mut io::sink()).map_err(|e| tar_err(st, e))?;
        }
        Ok(())
    }

    fn read_meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        raw: &[u8],
        st: &LayerState,
    ) -> Result<Meta> {
        let h = entry.header();
        let header_size = h.size().map_err(|e| RootfsError::Tar {
            layer: st.label.clone(),
            source: e,
        })?;
        let mut meta = Meta {
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: Timespec {
                tv_sec: h.mtime().unwrap_or(0) as i64,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        let mut xattr_bytes = 0usize;
        if let Some(pax) = entry.pax_extensions().map_err(|e| RootfsError::Tar {
            layer: st.label.clone(),
            source: e,
        })? {
            for rec in pax {
                let rec = rec.map_err(|e| RootfsError::Tar {
                    layer: st.label.clone(),
                    source: e,
                })?;
                let key = rec.key_bytes();
                if key == b"size" {
                    let v: Option<u64> = rec.value().ok().and_then(|v| v.parse().ok());
                    if v.is_none() || (header_size != 0 && v != Some(header_size)) {
                        return Err(st.unsafe_entry(
                            raw,
                            "PAX size record disagrees with the header size (parser-differential smuggling, CVE-2025-62518 class)",
                        ));
                    }
                } else if key == b"mtime" {
                    if let Some(t) = parse_pax_time(rec.value_bytes()) {
                        meta.mtime = t;
                    }
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattr_bytes += name.len() + rec.value_bytes().len();
                    if xattr_bytes > self.opts.limits.max_xattr_bytes {
                        return Err(RootfsError::Limit {
                            layer: st.label.clone(),
                            what: format!("extended attributes of {:?}", show(raw)),
                            limit: self.opts.limits.max_xattr_bytes as u64,
                            hint: "--max-xattr-bytes",
                        });
                    }
                    meta.xattrs
                        .push((name.to_vec(), rec.value_bytes().to_vec()));
                }
            }
        }
        Ok(meta)
    }

    fn apply_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        st: &mut LayerState,
    ) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        // A copy: `self` is borrowed mutably below.
        let limits = self.opts.limits;
        let comps = split_name(&raw, &limits).map_err(|r| st.unsafe_entry(&raw, r))?;
        let et = entry.header().entry_type();
        if et == tar::EntryType::XGlobalHeader {
            st.warnings
                .push(format!("{}: ignored a PAX global header", st.label));
            return Ok(());
        }
        let meta = self.read_meta(entry, &raw, st)?;
        let Some((base, parent)) = comps.split_last() else {
            // The root itself ("./"): only a directory may describe it.
            if et != tar::EntryType::Directory {
                return Err(st.unsafe_entry(&raw, "a non-directory entry names the root"));
            }
            let fd = self
                .root
                .fd()
                .try_clone()
                .map_err(|e| st.io(&raw, "opening", e))?;
            self.set_meta_fd(&fd, &raw, &meta, true, st)?;
            st.dir_times.push((Vec::new(), meta.mtime));
            return Ok(());
        };
        // Whiteouts.
        if let Some(name) = base.strip_prefix(b".wh.") {
            // A removal: every queued file must exist first (and names handed back
            // be replaced) so the tree is what the tar order says.
            self.sync_writes(st)?;
            if name == b".wh..opq" {
                self.parent = None;
                return self.opaque(parent, st);
            }
            if name.starts_with(b".wh.") {
                st.warnings.push(format!(
                    "{}: ignored AUFS metadata entry {:?}",
                    st.label,
                    show(&raw)
                ));
                return Ok(());
            }
            if name.is_empty() || name == b"." || name == b".." {
                return Err(st.unsafe_entry(&raw, "whiteout names no entry, '.' or '..'"));
            }
            let mut target = parent.to_vec();
            target.push(name.to_vec());
            if st.written.contains(&join(&target)) {
                return Ok(());
            }
            let dir = match self.root.open_dir(&refs(parent)) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
                    return Ok(())
                }
                Err(e) => return Err(st.io(&raw, "opening the parent of", e)),
            };
            if root::lstat_at(&dir, name)
                .map_err(|e| st.io(&raw, "inspecting", e))?
                .is_some()
            {
                st.touch(parent, &dir);
            }
            self.parent = None;
            return root::remove_all_at(&dir, name, !self.is_root)
                .map_err(|e| st.io(&raw, "removing", e));
        }
        // Decide what to skip before anything is replaced.
        match et {
            tar::EntryType::Directory
            | tar::EntryType::Regular
            | tar::EntryType::Continuous
            | tar::EntryType::GNUSparse
            | tar::EntryType::Symlink
            | tar::EntryType::Link
            | tar::EntryType::Fifo => {}
            tar::EntryType::Char | tar::EntryType::Block if self.is_root => {}
            tar::EntryType::Char | tar::EntryType::Block => {
                st.warnings.push(format!(
                    "{}: skipped device node {:?} (not running as root)",
                    st.label,
                    show(&raw)
                ));
                return Ok(());
            }
            other => {
                st.warnings.push(format!(
                    "{}: skipped {:?} of unsupported type {:?}",
                    st.label,
                    show(&raw),
                    other
                ));
                return Ok(());
            }
        }
        let path = join(&comps);
        if st.written.contains(&path) {
            // The layer names this path a second time: its queued file must exist.
            self.sync_writes(st)?;
        }
        if self.try_create(entry, et, &comps, &raw, &meta, st)? {
            st.written.insert(path);
            return Ok(());
        }
        // Something exists at the name, or the entry is a hardlink, FIFO or device:
        // from here on names are looked at and may be removed.
        self.sync_writes(st)?;
        let (dir, _) = self
            .parent_dir(parent)
            .map_err(|e| st.io(&raw, "creating the parent of", e))?;
        let dir: &OwnedFd = &dir;
        let existing = root::lstat_at(dir, base).map_err(|e| st.io(&raw, "inspecting", e))?;
        let is_dir_entry = et == tar::EntryType::Directory;
        if !(is_dir_entry
            && existing
                .as_ref()
                .is_some_and(|ex| root::kind(ex) == FileType::Directory))
        {
            st.touch(parent, dir);
        }
        if let Some(ex) = &existing {
            let ex_dir = root::kind(ex) == FileType::Directory;
            if !(is_dir_entry && ex_dir) {
                if et == tar::EntryType::Link && self.link_names_self(entry, &comps) {
                    return Err(st.unsafe_entry(&raw, "hardlink to itself"));
                }
                self.parent = None;
                root::remove_all_at(dir, base, !self.is_root)
                    .map_err(|e| st.io(&raw, "replacing", e))?;
            }
        }
        match et {
            tar::EntryType::Directory => {
                if existing
                    .as_ref()
                    .is_none_or(|ex| root::kind(ex) != FileType::Directory)
                {
                    rfs::mkdirat(dir, os(base), Mode::from_raw_mode(0o700))
                        .map_err(|e| st.io(&raw, "creating", ioe(e)))?;
                }
                self.dir_meta(dir, base, &comps, &raw, &meta, st)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let f = root::create_file(dir, base, 0o600)
                    .and_then(|f| f.ok_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
                    .map_err(|e| st.io(&raw, "creating", e))?;
                self.fill_file(f, entry, &raw, &meta, true, st)?;
            }
            tar::EntryType::Symlink => {
                let target = symlink_target(entry, &raw, &limits, st)?;
                rfs::symlinkat(os(&target), dir, os(base))
                    .map_err(|e| st.io(&raw, "creating symlink", ioe(e)))?;
                self.symlink_meta(dir, base, &raw, &meta, st, false)?;
            }
            tar::EntryType::Link => {
                let lraw = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let tcomps = split_name(&lraw, &limits)
                    .map_err(|r| st.unsafe_entry(&raw, format!("hardlink target: {r}")))?;
                let Some((tbase, tparent)) = tcomps.split_last() else {
                    return Err(st.unsafe_entry(&raw, "hardlink to the root"));
                };
                if tcomps == comps {
                    return Err(st.unsafe_entry(&raw, "hardlink to itself"));
                }
                let tdir = match self.root.open_dir(&refs(tparent)) {
                    Ok(d) => d,
                    Err(e)
                        if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) =>
                    {
                        return Err(st.unsafe_entry(
                            &raw,
                            format!("hardlink target {:?} does not exist", show(&lraw)),
                        ))
                    }
                    Err(e) => return Err(st.io(&lraw, "opening the parent of hardlink target", e)),
                };
                match root::lstat_at(&tdir, tbase)
                    .map_err(|e| st.io(&lraw, "inspecting hardlink target", e))?
                {
                    None => {
                        return Err(st.unsafe_entry(
                            &raw,
                            format!("hardlink target {:?} does not exist", show(&lraw)),
                        ))
                    }
                    Some(t) if root::kind(&t) == FileType::Directory => {
                        return Err(st.unsafe_entry(&raw, "hardlink to a directory"))
                    }
                    Some(_) => {}
                }
                rfs::linkat(&tdir, os(tbase), dir, os(base), AtFlags::empty())
                    .map_err(|e| st.io(&raw, "creating hardlink", ioe(e)))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (ft, what) = match et {
                    tar::EntryType::Char => (FileType::CharacterDevice, "character device"),
                    tar::EntryType::Block => (FileType::BlockDevice, "block device"),
                    _ => (FileType::Fifo, "FIFO"),
                };
                // (Device nodes without root were skipped before anything was replaced.)
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                let dev = rfs::makedev(major, minor);
                rfs::mknodat(dir, os(base), ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| st.io(&raw, &format!("creating {what}"), ioe(e)))?;
                // Never opened: opening a device node can have effects (a watchdog, a
                // tape), and a FIFO could block. Metadata is set by name, in the pinned
                // parent, on the node just created (it is not a symlink).
                self.set_owner_at(dir, base, &raw, &meta, st)?;
                rfs::chmodat(
                    dir,
                    os(base),
                    Mode::from_raw_mode(meta.mode),
                    AtFlags::empty(),
                )
                .map_err(|e| st.io(&raw, "changing mode of", ioe(e)))?;
                self.set_xattrs_link(dir, base, &raw, &meta, st);
                times_at(dir, base, &raw, &meta, st)?;
            }
            // Every other type was skipped, with a warning, before anything was replaced.
            _ => unreachable!("entry types are filtered before this match"),
        }
        st.written.insert(path);
        Ok(())
    }

    /// Waits for the layer's write-behind pool, then replaces, in tar order, the files
    /// whose name was taken by a lower layer's entry.
    fn sync_writes(&mut self, st: &mut LayerState) -> Result<()> {
        let Some(pool) = &mut st.writer else {
            return Ok(());
        };
        let taken = pool
            .barrier()
            .map_err(|(raw, e)| st.io(&raw, "writing", e))?;
        for job in taken {
            self.parent = None;
            root::remove_all_at(&job.dir, &job.name, !self.is_root)
                .map_err(|e| st.io(&job.raw, "replacing", e))?;
            if !crate::writer::create(&job).map_err(|e| st.io(&job.raw, "writing", e))? {
                return Err(st.io(
                    &job.raw,
                    "creating",
                    io::Error::from(io::ErrorKind::AlreadyExists),
                ));
            }
        }
        Ok(())
    }

    /// The directory `parent` (created if missing), reused from the previous entry when
    /// it had the same parent; with whether it has the set-group-ID bit.
    fn parent_dir(&mut self, parent: &[Vec<u8>]) -> io::Result<(std::sync::Arc<OwnedFd>, bool)> {
        if let Some(p) = &self.parent {
            if p.comps == parent {
                return Ok((p.fd.clone(), p.setgid));
            }
        }
        let fd = self.root.ensure_dir(&refs(parent))?;
        let setgid = rfs::fstat(&fd).map_or(true, |s| s.st_mode & 0o2000 != 0);
        let fd = std::sync::Arc::new(fd);
        self.parent = Some(Parent {
            comps: parent.to_vec(),
            fd: fd.clone(),
            setgid,
        });
        Ok((fd, setgid))
    }

    /// Creates a directory, regular file or symlink when nothing exists at its name (the
    /// usual case): the creating call itself finds out, instead of a lookup first.
    /// Returns false, having changed nothing, when something is there (the caller then
    /// replaces it, or for a directory over a directory changes its metadata).
    fn try_create<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        et: tar::EntryType,
        comps: &[Vec<u8>],
        raw: &[u8],
        meta: &Meta,
        st: &mut LayerState,
    ) -> Result<bool> {
        let Some((base, parent)) = comps.split_last() else {
            return Ok(false);
        };
        if !matches!(
            et,
            tar::EntryType::Directory
                | tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse
                | tar::EntryType::Symlink
        ) {
            return Ok(false);
        }
        let (dir_arc, setgid) = self
            .parent_dir(parent)
            .map_err(|e| st.io(raw, "creating the parent of", e))?;
        let dir: &OwnedFd = &dir_arc;
        // Remember the parent's time before this layer first changes its contents (for a
        // directory that turns out to exist already this records a time nothing changes).
        st.touch(parent, dir);
        // Created with the final permission bits, and no fchown/fchmod afterwards, when
        // nothing would change them: no set-ID or sticky bits (chown clears set-ID bits,
        // so those are set after it), a umask that strips none of them, no xattrs, and
        // when running as root an owner that is the creating user's (and a parent without
        // the set-group-ID bit, whose group new entries would inherit).
        let owner_plain = !self.is_root
            || (meta.uid == u64::from(self.euid) && meta.gid == u64::from(self.egid) && !setgid);
        let plain = meta.mode & 0o7000 == 0
            && self.umask.is_some_and(|m| meta.mode & m == 0)
            && meta.xattrs.is_empty()
            && owner_plain;
        match et {
            tar::EntryType::Directory => {
                let plain = plain && (self.is_root || meta.mode & 0o700 == 0o700);
                let mode = if plain { meta.mode } else { 0o700 };
                match rfs::mkdirat(dir, os(base), Mode::from_raw_mode(mode)) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::EXIST) => return Ok(false),
                    Err(e) => return Err(st.io(raw, "creating", ioe(e))),
                }
                if plain {
                    self.skipped_owner(raw, meta, st);
                    st.dir_times.push((comps.to_vec(), meta.mtime));
                } else {
                    self.dir_meta(dir, base, comps, raw, meta, st)?;
                }
            }
            tar::EntryType::Symlink => {
                let target = symlink_target(entry, raw, &self.opts.limits, st)?;
                match rfs::symlinkat(os(&target), dir, os(base)) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::EXIST) => return Ok(false),
                    Err(e) => return Err(st.io(raw, "creating symlink", ioe(e))),
                }
                self.symlink_meta(dir, base, raw, meta, st, owner_plain)?;
            }
            _ => {
                let size = entry.size();
                if plain && size <= QUEUED_FILE_MAX && st.writer.is_some() {
                    // Small files: created and written by the layer's write-behind pool.
                    let mut data = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut data).map_err(|e| RootfsError::Tar {
                        layer: st.label.clone(),
                        source: e,
                    })?;
                    self.skipped_owner(raw, meta, st);
                    let job = Job {
                        seq: 0,
                        dir: dir_arc.clone(),
                        name: base.to_vec(),
                        mode: meta.mode,
                        data,
                        mtime: meta.mtime,
                        raw: raw.to_vec(),
                    };
                    if let Some(p) = st.writer.as_mut() {
                        p.send(job);
                    }
                    return Ok(true);
                }
                let mode = if plain { meta.mode } else { 0o600 };
                let Some(f) =
                    root::create_file(dir, base, mode).map_err(|e| st.io(raw, "creating", e))?
                else {
                    return Ok(false);
                };
                self.fill_file(f, entry, raw, meta, !plain, st)?;
            }
        }
        Ok(true)
    }

    /// Owner, mode and xattrs of a directory just created or existing (a directory over a
    /// directory), and its time for the end of the layer.
    fn dir_meta(
        &self,
        dir: &OwnedFd,
        base: &[u8],
        comps: &[Vec<u8>],
        raw: &[u8],
        meta: &Meta,
        st: &mut LayerState,
    ) -> Result<()> {
        let fd: OwnedFd = root::open_nofollow(dir, base, true)
            .map_err(|e| st.io(raw, "opening", e))?
            .into();
        self.set_meta_fd(&fd, raw, meta, true, st)?;
        if !self.is_root && meta.mode & 0o700 != 0o700 {
            // Without root, a directory we cannot write or search would stop the
            // rest of the layer: keep it open to us until the layer is done.
            rfs::fchmod(&fd, Mode::from_raw_mode(meta.mode | 0o700))
                .map_err(|e| st.io(raw, "changing mode of", ioe(e)))?;
            st.dir_modes.push((comps.to_vec(), meta.mode));
        }
        st.dir_times.push((comps.to_vec(), meta.mtime));
        Ok(())
    }

    /// Writes a new file's content, then its owner, mode and xattrs (unless it was
    /// created with them) and its times.
    fn fill_file<R: Read>(
        &self,
        mut f: std::fs::File,
        entry: &mut tar::Entry<'_, R>,
        raw: &[u8],
        meta: &Meta,
        set_meta: bool,
        st: &mut LayerState,
    ) -> Result<()> {
        write_sparse(entry, &mut f).map_err(|e| match e.kind() {
            io::ErrorKind::Other | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
                RootfsError::Tar {
                    layer: st.label.clone(),
                    source: e,
                }
            }
            _ => st.io(raw, "writing", e),
        })?;
        let fd: OwnedFd = f.into();
        if set_meta {
            self.set_meta_fd(&fd, raw, meta, false, st)?;
        } else {
            self.skipped_owner(raw, meta, st);
        }
        rfs::futimens(
            &fd,
            &Timestamps {
                last_access: meta.mtime,
                last_modification: meta.mtime,
            },
        )
        .map_err(|e| st.io(raw, "setting times of", ioe(e)))
    }

    /// Owner, xattrs and times of a symlink just created.
    fn symlink_meta(
        &self,
        dir: &OwnedFd,
        base: &[u8],
        raw: &[u8],
        meta: &Meta,
        st: &mut LayerState,
        owner_plain: bool,
    ) -> Result<()> {
        // A symlink's mode is always 0777; its owner needs no lchown when it is already
        // the creating user's (the same test as for files and directories).
        if owner_plain {
            self.skipped_owner(raw, meta, st);
        } else {
            self.set_owner_at(dir, base, raw, meta, st)?;
        }
        self.set_xattrs_link(dir, base, raw, meta, st);
        times_at(dir, base, raw, meta, st)
    }

    /// Records an owner that was not applied (not running as root).
    fn skipped_owner(&self, raw: &[u8], meta: &Meta, st: &mut LayerState) {
        if !self.is_root {
            st.skipped_owners.push((show(raw), meta.uid, meta.gid));
        }
    }

    fn link_names_self<R: Read>(&self, entry: &tar::Entry<'_, R>, comps: &[Vec<u8>]) -> bool {
        let l = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        split_name(&l, &self.opts.limits).is_ok_and(|t| t == comps)
    }

    /// Owner, mode and xattrs on an open descriptor (files, dirs, devices).
    fn set_meta_fd(
        &self,
        fd: &OwnedFd,
        raw: &[u8],
        meta: &Meta,
        _dir: bool,
        st: &mut LayerState,
    ) -> Result<()> {
        if self.is_root {
            rfs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))
                .map_err(|e| st.io(raw, "changing owner of", ioe(e)))?;
        } else {
            st.skipped_owners.push((show(raw), meta.uid, meta.gid));
        }
        // After chown, which clears set-id bits.
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| st.io(raw, "changing mode of", ioe(e)))?;
        for (k, v) in &meta.xattrs {
            if let Err(e) = rfs::fsetxattr(fd, os(k), v, XattrFlags::empty()) {
                st.warnings.push(format!(
                    "{}: could not set xattr {} on {:?}: {}",
                    st.label,
                    show(k),
                    show(raw),
                    ioe(e)
                ));
            }
        }
        Ok(())
    }

    fn set_owner_at(
        &self,
        dir: &OwnedFd,
        base: &[u8],
        raw: &[u8],
        meta: &Meta,
        st: &mut LayerState,
    ) -> Result<()> {
        if self.is_root {
            rfs::chownat(
                dir,
                os(base),
                Some(uid(meta.uid)),
                Some(gid(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| st.io(raw, "changing owner of", ioe(e)))?;
        } else {
            st.skipped_owners.push((show(raw), meta.uid, meta.gid));
        }
        Ok(())
    }

    fn set_xattrs_link(
        &self,
        dir: &OwnedFd,
        base: &[u8],
        raw: &[u8],
        meta: &Meta,
        st: &mut LayerState,
    ) {
        if meta.xattrs.is_empty() {
            return;
        }
        let p = root::proc_path(dir, base);
        for (k, v) in &meta.xattrs {
            if let Err(e) = rfs::lsetxattr(&p, os(k), v, XattrFlags::empty()) {
                st.warnings.push(format!(
                    "{}: could not set xattr {} on symlink {:?}: {}",
                    st.label,
                    show(k),
                    show(raw),
                    ioe(e)
                ));
            }
        }
    }

    /// `.wh..wh..opq` in `dir`: removes what lower layers put there, keeping what this
    /// layer wrote (before or after the marker).
    fn opaque(&self, dir: &[Vec<u8>], st: &mut LayerState) -> Result<()> {
        let raw = join(dir);
        if (0..=dir.len()).any(|i| st.opaque_done.contains(&join(&dir[..i]))) {
            return Ok(());
        }
        st.opaque_done.insert(raw.clone());
        let fd = match self.root.open_dir(&refs(dir)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(st.io(&raw, "opening opaque directory", e)),
        };
        self.clear_lower(&fd, &raw, st)
    }

    fn clear_lower(&self, fd: &OwnedFd, prefix: &[u8], st: &mut LayerState) -> Result<()> {
        let comps: Vec<Vec<u8>> = prefix
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .map(|c| c.to_vec())
            .collect();
        for name in root::list_dir(fd).map_err(|e| st.io(prefix, "listing", e))? {
            let mut p = prefix.to_vec();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(&name);
            let kept = st.written.contains(&p);
            let below = st.wrote_under(&p);
            if !kept && !below {
                st.touch(&comps, fd);
                root::remove_all_at(fd, &name, !self.is_root)
                    .map_err(|e| st.io(&p, "removing", e))?;
            } else if below {
                if let Ok(sub) = root::open_nofollow(fd, &name, true) {
                    self.clear_lower(&sub.into(), &p, st)?;
                }
            }
        }
        Ok(())
    }

    fn finish_dirs(&self, st: &mut LayerState) -> Result<()> {
        // Directories whose contents changed get their old times back; they are reached
        // as they were (through symlinks in the root), e.g. `lib/x` restores `usr/lib`.
        for (comps, t) in std::mem::take(&mut st.touched) {
            let times = Timestamps {
                last_access: t,
                last_modification: t,
            };
            if let Ok(fd) = self.root.open_dir(&refs(&comps)) {
                rfs::futimens(&fd, &times)
                    .map_err(|e| st.io(&join(&comps), "setting times of", ioe(e)))?;
            }
        }
        for (comps, mode) in std::mem::take(&mut st.dir_modes).into_iter().rev() {
            if let Some((base, parent)) = comps.split_last() {
                if let Ok(d) = self.root.open_dir(&refs(parent)) {
                    if let Ok(Some(s)) = root::lstat_at(&d, base) {
                        if root::kind(&s) == FileType::Directory {
                            if let Ok(f) = root::open_nofollow(&d, base, true) {
                                rfs::fchmod(&f, Mode::from_raw_mode(mode)).map_err(|e| {
                                    st.io(&join(&comps), "changing mode of", ioe(e))
                                })?;
                            }
                        }
                    }
                }
            }
        }
        for (comps, t) in st.dir_times.iter().rev() {
            let times = Timestamps {
                last_access: *t,
                last_modification: *t,
            };
            let r = match comps.split_last() {
                None => rfs::futimens(self.root.fd(), &times).map_err(ioe),
                Some((base, parent)) => match self.root.open_dir(&refs(parent)) {
                    Ok(d) => match root::lstat_at(&d, base) {
                        Ok(Some(s)) if root::kind(&s) == FileType::Directory => {
                            rfs::utimensat(&d, os(base), &times, AtFlags::SYMLINK_NOFOLLOW)
                                .map_err(ioe)
                        }
                        _ => Ok(()),
                    },
                    Err(_) => Ok(()),
                },
            };
            r.map_err(|e| st.io(&join(comps), "setting times of", e))?;
        }
        Ok(())
    }
}

/// A symlink entry's target, refused when too long or containing NUL.
fn symlink_target<R: Read>(
    entry: &tar::Entry<'_, R>,
    raw: &[u8],
    limits: &Limits,
    st: &LayerState,
) -> Result<Vec<u8>> {
    let target = entry
        .link_name_bytes()
        .map(|l| l.into_owned())
        .unwrap_or_default();
    if target.len() > limits.max_path || target.contains(&0) {
        return Err(st.unsafe_entry(raw, "symlink target is too long or contains NUL"));
    }
    Ok(target)
}

fn uid(u: u64) -> rfs::Uid {
    rfs::Uid::from_raw(u as u32)
}

fn gid(g: u64) -> rfs::Gid {
    rfs::Gid::from_raw(g as u32)
}

/// Copies `r` into `f`, seeking over all-zero blocks so holes stay holes, then sets the
/// length (a trailing hole).
/// Sets the entry's times on `base` in `dir` by name, never following a symlink (for
/// entries that are not opened: symlinks and device nodes).
fn times_at(dir: &OwnedFd, base: &[u8], raw: &[u8], meta: &Meta, st: &LayerState) -> Result<()> {
    let times = Timestamps {
        last_access: meta.mtime,
        last_modification: meta.mtime,
    };
    rfs::utimensat(dir, os(base), &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| st.io(raw, "setting times of", ioe(e)))
}

/// [`write_sparse`] of contents already in memory: written from the slice itself, with no
/// buffer to allocate, zero and copy into per file (the writer lanes' small files).
pub(crate) fn write_sparse_slice(data: &[u8], f: &mut std::fs::File) -> io::Result<()> {
    const BLK: usize = 64 << 10;
    let mut hole = false;
    for block in data.chunks(BLK) {
        if block.iter().all(|b| *b == 0) {
            f.seek(SeekFrom::Current(block.len() as i64))?;
            hole = true;
        } else {
            f.write_all(block)?;
            hole = false;
        }
    }
    if hole {
        f.set_len(data.len() as u64)?;
    }
    Ok(())
}

pub(crate) fn write_sparse<R: Read>(r: &mut R, f: &mut std::fs::File) -> io::Result<()> {
    const BLK: usize = 64 << 10;
    let mut buf = vec![0u8; BLK];
    let mut len: u64 = 0;
    let mut hole = false;
    loop {
        let mut filled = 0;
        while filled < BLK {
            let n = r.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        if buf[..filled].iter().all(|b| *b == 0) {
            f.seek(SeekFrom::Current(filled as i64))?;
            hole = true;
        } else {
            f.write_all(&buf[..filled])?;
            hole = false;
        }
        len += filled as u64;
        if filled < BLK {
            break;
        }
    }
    if hole {
        f.set_len(len)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_writes_from_a_slice_and_from_a_reader_agree() {
        let d = tempfile::tempdir().unwrap();
        let k = 64 << 10;
        let mut mixed = vec![0u8; 3 * k + 100];
        mixed[k + 5] = 7;
        let mut zero_head = vec![0u8; 2 * k];
        zero_head.extend_from_slice(b"tail");
        let mut zero_tail = b"head".to_vec();
        zero_tail.resize(3 * k, 0);
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"small file".to_vec(),
            vec![0u8; 2 * k],
            vec![9u8; 2 * k],
            mixed,
            zero_head,
            zero_tail,
        ];
        for (i, data) in cases.iter().enumerate() {
            let a = d.path().join(format!("slice{i}"));
            let b = d.path().join(format!("reader{i}"));
            write_sparse_slice(data, &mut std::fs::File::create(&a).unwrap()).unwrap();
            write_sparse(
                &mut data.as_slice(),
                &mut std::fs::File::create(&b).unwrap(),
            )
            .unwrap();
            assert_eq!(&std::fs::read(&a).unwrap(), data, "case {i}");
            assert_eq!(
                std::fs::read(&b).unwrap(),
                std::fs::read(&a).unwrap(),
                "case {i}"
            );
        }
    }

    #[test]
    fn names_are_split_and_checked() {
        let l = Limits::default();
        assert_eq!(
            split_name(b"./a//b/", &l).unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(
            split_name(b"/etc/passwd", &l).unwrap(),
            vec![b"etc".to_vec(), b"passwd".to_vec()]
        );
        assert!(split_name(b"a/../../b", &l).is_err());
        assert!(split_name(&vec![b'a'; 300], &l).is_err());
        assert!(split_name(b"./", &l).unwrap().is_empty());
    }

    #[test]
    fn pax_times_parse() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(parse_pax_time(b"x").is_none());
    }
}
