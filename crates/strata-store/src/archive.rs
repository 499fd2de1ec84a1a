//! `docker save` archives and OCI image layouts, in and out.
//!
//! **Load** ([`load`], [`load_dir`]) reads, in one streaming pass, a tar (optionally
//! gzip/zstd/xz/bzip2 compressed) in either or both of the layouts Docker writes:
//!
//! * the legacy layout (`manifest.json`, `repositories`, `<id>/layer.tar`, possibly
//!   symlinks to a duplicate `layer.tar`, `<hex>.json` configs), as written by Docker
//!   before 25 and by skopeo's `docker-archive:`;
//! * an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as written
//!   inside the tar by Docker 25+ and by skopeo's `oci-archive:`; [`load_dir`] reads the
//!   same layout from a directory (skopeo `oci:`, umoci).
//!
//! Every blob goes straight from the stream into a store ingest (a `blobs/…` entry is
//! checked against the digest in its name); only small JSON files are kept in memory, up
//! to [`MAX_JSON_SIZE`]. When an OCI layout is present it is preferred, so digests are
//! preserved byte for byte; a legacy-only archive gets a deterministic OCI manifest
//! synthesised from its config and layers, so loading the same archive twice gives the
//! same image ID. Every layer's diff ID is checked against the config. All writes happen
//! under one lease; names are set only once everything has been verified, and on any
//! error the lease is aborted so the store is as it was before. A load that was killed
//! resumes: committed blobs are reused and a partial ingest of a blob with a known digest
//! continues after the bytes it already holds.
//!
//! **Save** ([`save`], [`save_dir`]) writes a deterministic tar (sorted entries, mtime 0,
//! uid/gid 0) holding an OCI layout and, for `docker-archive`, Docker's legacy
//! `manifest.json` and `repositories` pointing into `blobs/sha256/…` as Docker 25 does,
//! which Docker 20.10's `docker load` also accepts. Layers are streamed from the store.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_oci::{
    media, Descriptor, Digest, Digester, Document, ImageConfig, ImageIndex, ImageManifest,
    Platform, Reference, MAX_DOCUMENT_SIZE,
};

use crate::compress::{decompress, Compression};
use crate::gc::Lease;
use crate::layer::HashingReader;
use crate::{Result, Store, StoreError};

/// Largest JSON file (`manifest.json`, `index.json`, a config) read into memory: 4 MiB.
pub const MAX_JSON_SIZE: u64 = MAX_DOCUMENT_SIZE as u64;

/// Default cap on the number of tar entries in an archive.
pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

/// Annotation holding the full image name (containerd, Docker 25+).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Annotation holding the tag of an index entry (OCI image layout).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// How long the load lease lives (it also ends when this process exits).
const LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Deepest nesting of indexes followed.
const MAX_DEPTH: usize = 4;

/// Symlink hops followed when resolving an archive path.
const MAX_LINK_HOPS: usize = 16;

/// Progress of a load, reported through [`LoadOptions::progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadEvent {
    /// Bytes of the (possibly compressed) input consumed so far.
    Read {
        /// Bytes consumed.
        consumed: u64,
        /// Input size, when known.
        total: Option<u64>,
    },
    /// A blob (usually a layer) starts being loaded.
    Layer {
        /// Its path in the archive.
        path: String,
        /// Its digest, when the path names it.
        digest: Option<Digest>,
        /// Its size in bytes.
        size: u64,
        /// Bytes already in the store from an interrupted load (skipped in the input).
        resumed: u64,
        /// True when the whole blob was already in the store.
        present: bool,
    },
}

/// A progress callback.
pub type ProgressFn<'a> = Box<dyn FnMut(&LoadEvent) + 'a>;

/// Options of [`load`] and [`load_dir`].
pub struct LoadOptions<'a> {
    /// Only this platform's image must be complete (others of an index may be absent).
    pub platform: Option<Platform>,
    /// Refuse archives with more entries than this.
    pub max_entries: u64,
    /// Size of the input, for progress.
    pub total_size: Option<u64>,
    /// Called with progress events.
    pub progress: Option<ProgressFn<'a>>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            platform: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            total_size: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("platform", &self.platform)
            .field("max_entries", &self.max_entries)
            .field("total_size", &self.total_size)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// One image a load produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image ID: digest of the manifest or index the names point at.
    pub id: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Full names set (`docker.io/library/busybox:latest`); empty for an untagged image.
    pub names: Vec<String>,
    /// Names that moved here from another image, with that image's ID.
    pub replaced: Vec<(String, Digest)>,
}

/// What [`load`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The images, in archive order.
    pub images: Vec<LoadedImage>,
    /// Blobs that were already in the store.
    pub reused_blobs: usize,
    /// Bytes of interrupted ingests that were continued rather than written again.
    pub resumed_bytes: u64,
}

/// An output format of [`save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFormat {
    /// A tar with an OCI layout and Docker's `manifest.json` (what `docker save` writes).
    #[default]
    DockerArchive,
    /// A tar of an OCI layout.
    OciArchive,
    /// An OCI layout directory ([`save_dir`]).
    OciDir,
}

impl std::str::FromStr for SaveFormat {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker-archive" | "docker" => Ok(SaveFormat::DockerArchive),
            "oci-archive" | "oci" => Ok(SaveFormat::OciArchive),
            "oci-dir" => Ok(SaveFormat::OciDir),
            other => Err(StoreError::Archive(format!(
                "unknown format {other:?}: use docker-archive, oci-archive or oci-dir"
            ))),
        }
    }
}

/// Docker's legacy `manifest.json` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LegacyEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct OciLayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

fn archive_err(msg: impl Into<String>) -> StoreError {
    StoreError::Archive(msg.into())
}

fn stream_err(e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        archive_err("unexpected EOF")
    } else {
        archive_err(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------

/// Counts the bytes read from the raw input.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

struct Progress<'a> {
    count: Rc<Cell<u64>>,
    total: Option<u64>,
    cb: Option<ProgressFn<'a>>,
    last: u64,
}

impl Progress<'_> {
    fn tick(&mut self, force: bool) {
        let consumed = self.count.get();
        if let Some(cb) = self.cb.as_mut() {
            if force || consumed >= self.last + (256 << 10) {
                self.last = consumed;
                cb(&LoadEvent::Read {
                    consumed,
                    total: self.total,
                });
            }
        }
    }
    fn event(&mut self, e: LoadEvent) {
        if let Some(cb) = self.cb.as_mut() {
            cb(&e);
        }
    }
}

/// Where an archive path's content ended up.
#[derive(Debug, Clone)]
enum Source {
    /// A small JSON file kept in memory.
    Mem(Vec<u8>),
    /// A blob committed to the store.
    Blob(Digest, u64),
}

#[derive(Default)]
struct Collected {
    files: HashMap<String, Source>,
    links: HashMap<String, String>,
    reused: usize,
    resumed: u64,
}

impl Collected {
    fn resolve(&self, path: &str) -> Result<&Source> {
        let mut p = normalize(path)
            .ok_or_else(|| archive_err(format!("invalid path {path:?} in manifest")))?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(s) = self.files.get(&p) {
                return Ok(s);
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => return Err(archive_err(format!("missing file {path} in the archive"))),
            }
        }
        Err(archive_err(format!(
            "too many levels of symbolic links resolving {path}"
        )))
    }
}

/// Normalises an archive path: strips `./` and trailing `/`; `None` for absolute paths
/// or paths with `..`.
fn normalize(p: &str) -> Option<String> {
    if p.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Resolves a link target relative to the directory of `entry`.
fn link_target(entry: &str, target: &str, hard: bool) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    // Hard links name archive paths; symlinks are relative to the link's directory.
    let mut parts: Vec<&str> = if hard {
        Vec::new()
    } else {
        let mut v: Vec<&str> = entry.split('/').collect();
        v.pop();
        v
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Whether an archive path holds a small JSON file we keep in memory.
fn is_json_file(path: &str) -> bool {
    matches!(
        path,
        "manifest.json" | "index.json" | "oci-layout" | "repositories"
    ) || (!path.contains('/') && path.ends_with(".json"))
}

/// Whether an archive path is legacy per-layer metadata we do not need.
fn is_legacy_metadata(path: &str) -> bool {
    path.ends_with("/json") || path.ends_with("/VERSION")
}

/// Reads exactly `n` bytes of `src` into `dst`, reporting progress.
fn copy_exact<R: Read + ?Sized, W: Write + ?Sized>(
    src: &mut R,
    dst: &mut W,
    mut n: u64,
    progress: &mut Progress<'_>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    while n > 0 {
        let want = buf.len().min(n as usize);
        let got = src.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "unexpected EOF",
            ));
        }
        dst.write_all(&buf[..got])?;
        n -= got as u64;
        progress.tick(false);
    }
    Ok(())
}

fn read_json_entry<R: Read>(r: &mut R, path: &str, size: u64) -> Result<Vec<u8>> {
    if size > MAX_JSON_SIZE {
        return Err(StoreError::TooLarge {
            what: path.to_string(),
            size,
            limit: MAX_JSON_SIZE,
        });
    }
    let mut buf = Vec::with_capacity(size as usize);
    r.take(size).read_to_end(&mut buf).map_err(stream_err)?;
    if (buf.len() as u64) < size {
        return Err(archive_err("unexpected EOF"));
    }
    Ok(buf)
}

/// Streams a blob whose digest is known into the store, resuming an interrupted ingest.
#[allow(clippy::too_many_arguments)]
fn ingest_known<R: Read>(
    store: &Store,
    lease: &Lease,
    r: &mut R,
    path: &str,
    digest: &Digest,
    size: u64,
    col: &mut Collected,
    progress: &mut Progress<'_>,
) -> Result<()> {
    // Another load writing the same blob holds its ingest: wait for it to finish (or
    // die, which releases the lock), then reuse the blob or continue its ingest.
    let mut w = loop {
        if store.protect_existing(digest, lease)? {
            let have = store.blob_size(digest)?;
            if have != size {
                return Err(StoreError::SizeMismatch {
                    digest: digest.clone(),
                    expected: have,
                    actual: size,
                });
            }
            col.reused += 1;
            progress.event(LoadEvent::Layer {
                path: path.to_string(),
                digest: Some(digest.clone()),
                size,
                resumed: 0,
                present: true,
            });
            return Ok(());
        }
        match store.writer(&format!("load-{digest}"), Some((digest.clone(), size))) {
            Ok(w) => break w,
            Err(StoreError::Locked(_)) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e),
        }
    };
    let resumed = w.offset();
    progress.event(LoadEvent::Layer {
        path: path.to_string(),
        digest: Some(digest.clone()),
        size,
        resumed,
        present: false,
    });
    if resumed > 0 {
        // Those bytes are already in the ingest: skip them in the input.
        copy_exact(r, &mut io::sink(), resumed, progress).map_err(stream_err)?;
        col.resumed += resumed;
    }
    copy_exact(r, &mut w, size - resumed, progress).map_err(stream_err)?;
    w.commit(lease)?;
    Ok(())
}

/// Streams a blob whose digest is not known in advance (a legacy `layer.tar`).
///
/// The ingest is keyed by the entry's path and size, which in the archives Docker and
/// skopeo write are derived from the layer's content (`<v1 id>/layer.tar`,
/// `<diff id>.tar`), so a killed load of the same archive resumes too: the bytes already
/// ingested are compared with the input as it is skipped, and the diff-ID check after
/// the stream verifies the whole layer.
#[allow(clippy::too_many_arguments)]
fn ingest_unknown<R: Read>(
    store: &Store,
    lease: &Lease,
    r: &mut R,
    path: &str,
    size: u64,
    seq: usize,
    col: &mut Collected,
    progress: &mut Progress<'_>,
) -> Result<Digest> {
    let keyed = format!(
        "load-path-{}-{size}",
        Digest::sha256_of(path.as_bytes()).hex()
    );
    let (reference, mut w) = match store.writer(&keyed, None) {
        Ok(w) => (keyed, w),
        Err(StoreError::Locked(_)) => {
            // Another load of the same archive is running: use a private ingest.
            let unique = format!(
                "load-{}-{}-{seq}",
                std::process::id(),
                crate::meta::now_nanos()
            );
            let w = store.writer(&unique, None)?;
            (unique, w)
        }
        Err(e) => return Err(e),
    };
    let mut resumed = w.offset();
    if resumed > size {
        w.reset()?;
        resumed = 0;
    }
    progress.event(LoadEvent::Layer {
        path: path.to_string(),
        digest: None,
        size,
        resumed,
        present: false,
    });
    if resumed > 0 {
        let data = store
            .root()
            .join("ingest")
            .join(Digest::sha256_of(reference.as_bytes()).hex())
            .join("data");
        let mut on_disk = File::open(&data).map_err(|e| StoreError::io(&data, e))?;
        if !same_prefix(r, &mut on_disk, resumed, progress).map_err(stream_err)? {
            w.abort();
            return Err(archive_err(format!(
                "the interrupted load of {path} does not match this archive; it was discarded, run the load again"
            )));
        }
        col.resumed += resumed;
    }
    // On error the partial ingest stays for a later run to continue.
    copy_exact(r, &mut w, size - resumed, progress).map_err(stream_err)?;
    w.commit(lease)
}

/// Reads `n` bytes of `input` and tells whether they equal the first `n` bytes of `disk`.
fn same_prefix<R: Read + ?Sized>(
    input: &mut R,
    disk: &mut File,
    mut n: u64,
    progress: &mut Progress<'_>,
) -> io::Result<bool> {
    let mut a = vec![0u8; 1 << 16];
    let mut b = vec![0u8; 1 << 16];
    let mut same = true;
    while n > 0 {
        let want = a.len().min(n as usize);
        input.read_exact(&mut a[..want])?;
        if same {
            disk.read_exact(&mut b[..want])?;
            same = a[..want] == b[..want];
        }
        n -= want as u64;
        progress.tick(false);
    }
    Ok(same)
}

fn stream_archive<R: Read>(
    store: &Store,
    lease: &Lease,
    reader: R,
    max_entries: u64,
    progress: &mut Progress<'_>,
) -> Result<Collected> {
    let mut counted = Counting {
        inner: reader,
        count: progress.count.clone(),
    };
    // Read the first bytes whole before sniffing the compression: a pipe may deliver
    // them a few at a time.
    let mut head = Vec::with_capacity(16);
    (&mut counted)
        .take(16)
        .read_to_end(&mut head)
        .map_err(stream_err)?;
    if head.is_empty() {
        return Err(archive_err("the archive is empty"));
    }
    let (_, plain) = decompress(io::Cursor::new(head).chain(counted)).map_err(stream_err)?;
    let mut ar = tar::Archive::new(plain);
    let mut col = Collected::default();
    let mut n = 0u64;
    let mut seq = 0usize;
    for entry in ar.entries().map_err(stream_err)? {
        let mut e = entry.map_err(stream_err)?;
        n += 1;
        if n > max_entries {
            return Err(archive_err(format!(
                "too many entries (the limit is {max_entries})"
            )));
        }
        let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
        let path = normalize(&raw).ok_or_else(|| {
            archive_err(format!(
                "entry {raw:?} has an absolute path or escapes the archive with \"..\""
            ))
        })?;
        let kind = e.header().entry_type();
        let size = e.size();
        match kind {
            tar::EntryType::Directory => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).to_string())
                    .unwrap_or_default();
                let resolved = link_target(&path, &target, kind == tar::EntryType::Link)
                    .ok_or_else(|| {
                        archive_err(format!(
                            "link {raw:?} points outside the archive ({target:?})"
                        ))
                    })?;
                col.links.insert(path, resolved);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if path.is_empty() {
                    continue;
                }
                if let Some(rest) = path.strip_prefix("blobs/") {
                    let digest = rest
                        .split_once('/')
                        .filter(|(_, hex)| !hex.contains('/'))
                        .and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok())
                        .ok_or_else(|| archive_err(format!("{path} is not named by a digest")))?;
                    ingest_known(
                        store, lease, &mut e, &path, &digest, size, &mut col, progress,
                    )?;
                    col.files.insert(path, Source::Blob(digest, size));
                } else if is_json_file(&path) {
                    let bytes = read_json_entry(&mut e, &path, size)?;
                    col.files.insert(path, Source::Mem(bytes));
                } else if is_legacy_metadata(&path) {
                    // v1 layer metadata: not needed (the tar reader skips the data).
                } else {
                    seq += 1;
                    let d =
                        ingest_unknown(store, lease, &mut e, &path, size, seq, &mut col, progress)?;
                    col.files.insert(path, Source::Blob(d, size));
                }
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(archive_err(format!(
                    "unsupported entry type {other:?} for {raw:?}"
                )));
            }
        }
        progress.tick(false);
    }
    progress.tick(true);
    Ok(col)
}

/// A verified image ready to be named.
struct Target {
    desc: Descriptor,
    names: Vec<String>,
    /// Config digests of the complete manifests under it (to match legacy entries).
    configs: Vec<Digest>,
}

fn full_name(s: &str) -> Result<String> {
    Reference::parse_with_default_tag(s)
        .map(|r| r.to_string())
        .map_err(|e| archive_err(format!("invalid image name {s:?}: {e}")))
}

/// Name(s) an OCI index entry carries.
fn names_from_annotations(d: &Descriptor) -> Result<Vec<String>> {
    if let Some(n) = d.annotation(ANNOTATION_IMAGE_NAME) {
        return Ok(vec![full_name(n)?]);
    }
    if let Some(r) = d.annotation(ANNOTATION_REF_NAME) {
        // The OCI spec's ref.name is usually a bare tag ("latest"), which names no
        // repository; only a full reference can become an image name.
        if r.contains('/') || r.contains(':') {
            if let Ok(n) = full_name(r) {
                return Ok(vec![n]);
            }
        }
    }
    Ok(Vec::new())
}

struct Verifier<'s> {
    store: &'s Store,
    platform: Option<Platform>,
}

impl Verifier<'_> {
    fn check_present(&self, d: &Descriptor) -> Result<()> {
        if !self.store.has_blob(&d.digest) {
            let what = if media::is_layer(&d.media_type) {
                "layer"
            } else if media::is_config(&d.media_type) {
                "config"
            } else if media::is_manifest(&d.media_type) || media::is_index(&d.media_type) {
                "manifest"
            } else {
                "blob"
            };
            return Err(archive_err(format!(
                "missing {what} {} in the archive",
                d.digest
            )));
        }
        let have = self.store.blob_size(&d.digest)?;
        if have != d.size {
            return Err(StoreError::SizeMismatch {
                digest: d.digest.clone(),
                expected: d.size,
                actual: have,
            });
        }
        Ok(())
    }

    /// Whether a manifest (or index) and the blobs it needs are all in the store.
    fn is_complete(&self, d: &Descriptor, depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH || !self.store.has_blob(&d.digest) {
            return Ok(false);
        }
        let Ok(doc) = self.store.read_document(&d.digest, Some(&d.media_type)) else {
            return Ok(false);
        };
        match doc {
            Document::Index(i) => {
                for c in &i.manifests {
                    if (media::is_manifest(&c.media_type) || media::is_index(&c.media_type))
                        && self.is_complete(c, depth + 1)?
                    {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Document::Manifest(m) => Ok(std::iter::once(&m.config)
                .chain(m.layers.iter())
                .all(|c| self.store.has_blob(&c.digest))),
        }
    }

    /// Verifies a manifest or index and everything under it; returns the config digests
    /// of the complete images.
    fn verify(&self, d: &Descriptor, depth: usize, top: bool) -> Result<Vec<Digest>> {
        if depth > MAX_DEPTH {
            return Err(archive_err("indexes nested too deeply"));
        }
        self.check_present(d)?;
        let doc = self.store.read_document(&d.digest, Some(&d.media_type))?;
        let children: Vec<Digest> = doc.children().iter().map(|c| c.digest.clone()).collect();
        self.store.meta().record_edges(&d.digest, &children)?;
        match doc {
            Document::Index(idx) => {
                let mut configs = Vec::new();
                let mut wanted_found = self.platform.is_none();
                for c in &idx.manifests {
                    if !(media::is_manifest(&c.media_type) || media::is_index(&c.media_type)) {
                        continue;
                    }
                    if !self.is_complete(c, depth + 1)? {
                        // A partial multi-platform image: absent platforms are allowed.
                        continue;
                    }
                    let got = self.verify(c, depth + 1, false)?;
                    if let (Some(want), Some(p)) = (&self.platform, &c.platform) {
                        if want.matches(p) && !got.is_empty() {
                            wanted_found = true;
                        }
                    }
                    configs.extend(got);
                }
                if configs.is_empty() && top {
                    return Err(archive_err(format!(
                        "no image of index {} is complete in the archive",
                        d.digest
                    )));
                }
                if !wanted_found && top {
                    let want = self
                        .platform
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    return Err(archive_err(format!(
                        "no matching manifest for {want} in the manifest list entries of {}",
                        d.digest
                    )));
                }
                Ok(configs)
            }
            Document::Manifest(m) => {
                self.check_present(&m.config)?;
                for l in &m.layers {
                    self.check_present(l)?;
                }
                if !media::is_config(&m.config.media_type)
                    || m.layers.iter().any(|l| !media::is_layer(&l.media_type))
                {
                    // An artifact (signature, attestation): present is all we check.
                    return Ok(Vec::new());
                }
                let (config, _) = self.store.read_config(&m.config.digest)?;
                if top {
                    if let Some(p) = &self.platform {
                        if !p.matches(&config.platform()) {
                            return Err(archive_err(format!(
                                "image {} does not match the specified platform: wanted {p}, actual: {}",
                                d.digest,
                                config.platform()
                            )));
                        }
                    }
                }
                let layers: Vec<&Descriptor> = m
                    .layers
                    .iter()
                    .filter(|l| media::is_layer(&l.media_type))
                    .collect();
                if layers.len() != config.rootfs.diff_ids.len() {
                    return Err(archive_err(format!(
                        "image {} has {} layers but its config lists {} diff IDs",
                        d.digest,
                        layers.len(),
                        config.rootfs.diff_ids.len()
                    )));
                }
                for (l, want) in layers.iter().zip(&config.rootfs.diff_ids) {
                    let facts = self.store.layer_facts(&l.digest)?;
                    if &facts.diff_id != want {
                        return Err(StoreError::DiffIdMismatch {
                            expected: want.clone(),
                            actual: facts.diff_id,
                        });
                    }
                }
                Ok(vec![m.config.digest.clone()])
            }
        }
    }
}

fn oci_targets(
    store: &Store,
    index_bytes: &[u8],
    platform: Option<&Platform>,
) -> Result<Vec<Target>> {
    let index: ImageIndex = match Document::parse(index_bytes, None)
        .map_err(|e| archive_err(format!("index.json: {e}")))?
    {
        Document::Index(i) => i,
        Document::Manifest(_) => return Err(archive_err("index.json is a manifest, not an index")),
    };
    let v = Verifier {
        store,
        platform: platform.cloned(),
    };
    let mut targets: Vec<Target> = Vec::new();
    for d in &index.manifests {
        if !(media::is_manifest(&d.media_type) || media::is_index(&d.media_type)) {
            continue;
        }
        let names = names_from_annotations(d)?;
        if let Some(t) = targets.iter_mut().find(|t| t.desc.digest == d.digest) {
            for n in names {
                if !t.names.contains(&n) {
                    t.names.push(n);
                }
            }
            continue;
        }
        let configs = v.verify(d, 0, true)?;
        let desc = Descriptor::new(&d.media_type, d.digest.clone(), d.size);
        targets.push(Target {
            desc,
            names,
            configs,
        });
    }
    if targets.is_empty() {
        return Err(archive_err("index.json lists no image"));
    }
    Ok(targets)
}

fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => media::OCI_LAYER_GZIP,
        Compression::Zstd => media::OCI_LAYER_ZSTD,
        _ => media::OCI_LAYER_TAR,
    }
}

fn sniff_blob(store: &Store, d: &Digest) -> Result<Compression> {
    let mut f = store.open_blob(d)?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        let k = f
            .read(&mut head[n..])
            .map_err(|e| StoreError::io(store.blob_path(d), e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(Compression::sniff(&head[..n]))
}

fn legacy_config(
    store: &Store,
    lease: &Lease,
    col: &Collected,
    path: &str,
) -> Result<(Digest, u64, ImageConfig)> {
    match col.resolve(path)? {
        Source::Mem(bytes) => {
            let config =
                ImageConfig::parse(bytes).map_err(|e| archive_err(format!("{path}: {e}")))?;
            let d = store.put_bytes(bytes, None, lease)?;
            Ok((d, bytes.len() as u64, config))
        }
        Source::Blob(d, size) => {
            let (config, _) = store
                .read_config(d)
                .map_err(|e| archive_err(format!("{path}: {e}")))?;
            Ok((d.clone(), *size, config))
        }
    }
}

/// Builds OCI images for the legacy `manifest.json` entries.
fn legacy_targets(
    store: &Store,
    lease: &Lease,
    col: &Collected,
    entries: &[LegacyEntry],
    platform: Option<&Platform>,
) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for entry in entries {
        let (cfg_digest, cfg_size, config) = legacy_config(store, lease, col, &entry.config)?;
        if let Some(p) = platform {
            if !p.matches(&config.platform()) {
                return Err(archive_err(format!(
                    "image {} does not match the specified platform: wanted {p}, actual: {}",
                    cfg_digest,
                    config.platform()
                )));
            }
        }
        if entry.layers.len() != config.rootfs.diff_ids.len() {
            return Err(archive_err(format!(
                "manifest.json lists {} layers for {} but its config lists {} diff IDs",
                entry.layers.len(),
                entry.config,
                config.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, want) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let (mut digest, mut size) = match col.resolve(path) {
                Ok(Source::Blob(d, s)) => (d.clone(), *s),
                Ok(Source::Mem(_)) => {
                    return Err(archive_err(format!("layer {path} is not a tar")))
                }
                Err(_) => return Err(archive_err(format!("missing layer {path} in the archive"))),
            };
            let mut compression = sniff_blob(store, &digest)?;
            if matches!(compression, Compression::Xz | Compression::Bzip2) {
                // No OCI media type for these: store the layer uncompressed.
                let f = store.open_blob(&digest)?;
                let (_, plain) = decompress(BufReader::new(f)).map_err(stream_err)?;
                let rec = store.put_layer(plain, None, lease)?;
                digest = rec.digest;
                size = store.blob_size(&digest)?;
                compression = Compression::None;
            }
            let facts = store.layer_facts(&digest)?;
            if &facts.diff_id != want {
                return Err(StoreError::DiffIdMismatch {
                    expected: want.clone(),
                    actual: facts.diff_id,
                });
            }
            layers.push(Descriptor::new(layer_media_type(compression), digest, size));
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            artifact_type: None,
            config: Descriptor::new(media::OCI_CONFIG, cfg_digest.clone(), cfg_size),
            layers,
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| archive_err(e.to_string()))?;
        let (md, _) = store.put_document(&bytes, None, lease)?;
        let mut names = Vec::new();
        for t in entry.repo_tags.iter().flatten() {
            let n = full_name(t)?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
        if let Some(t) = targets.iter_mut().find(|t| t.desc.digest == md) {
            for n in names {
                if !t.names.contains(&n) {
                    t.names.push(n);
                }
            }
            continue;
        }
        targets.push(Target {
            desc: Descriptor::new(media::OCI_MANIFEST, md, bytes.len() as u64),
            names,
            configs: vec![cfg_digest],
        });
    }
    if targets.is_empty() {
        return Err(archive_err("manifest.json lists no image"));
    }
    Ok(targets)
}

fn parse_manifest_json(bytes: &[u8]) -> Result<Vec<LegacyEntry>> {
    serde_json::from_slice(bytes).map_err(|e| archive_err(format!("manifest.json: {e}")))
}

fn check_oci_layout(bytes: &[u8]) -> Result<()> {
    let l: OciLayoutFile =
        serde_json::from_slice(bytes).map_err(|e| archive_err(format!("oci-layout: {e}")))?;
    if !l.image_layout_version.starts_with("1.") {
        return Err(archive_err(format!(
            "unsupported OCI layout version {}",
            l.image_layout_version
        )));
    }
    Ok(())
}

/// Works out the images of a streamed archive and verifies them.
fn targets_of(
    store: &Store,
    lease: &Lease,
    col: &Collected,
    platform: Option<&Platform>,
) -> Result<Vec<Target>> {
    let mem = |p: &str| match col.files.get(p) {
        Some(Source::Mem(b)) => Some(b.as_slice()),
        _ => None,
    };
    let legacy = mem("manifest.json").map(parse_manifest_json).transpose()?;
    if let Some(index) = mem("index.json") {
        if let Some(l) = mem("oci-layout") {
            check_oci_layout(l)?;
        }
        let mut targets = oci_targets(store, index, platform)?;
        // Docker 25+ archives also carry RepoTags in manifest.json: merge them in.
        for entry in legacy.iter().flatten() {
            let Ok(cfg) = col.resolve(&entry.config) else {
                continue;
            };
            let cfg_digest = match cfg {
                Source::Blob(d, _) => d.clone(),
                Source::Mem(b) => Digest::sha256_of(b),
            };
            if let Some(t) = targets.iter_mut().find(|t| t.configs.contains(&cfg_digest)) {
                for tag in entry.repo_tags.iter().flatten() {
                    let n = full_name(tag)?;
                    if !t.names.contains(&n) {
                        t.names.push(n);
                    }
                }
            }
        }
        return Ok(targets);
    }
    match legacy {
        Some(entries) => legacy_targets(store, lease, col, &entries, platform),
        None => Err(archive_err(
            "no manifest.json or index.json found in the archive",
        )),
    }
}

/// Sets the names of verified targets (the only step that changes what users see).
fn apply_names(store: &Store, targets: Vec<Target>) -> Result<Vec<LoadedImage>> {
    let mut out = Vec::new();
    for t in targets {
        let mut replaced = Vec::new();
        for n in &t.names {
            if let Some(old) =
                store
                    .meta()
                    .set_name(n, &t.desc.digest, &t.desc.media_type, t.desc.size, true)?
            {
                replaced.push((n.clone(), old));
            }
        }
        if t.names.is_empty() && store.meta().names_for(&t.desc.digest)?.is_empty() {
            store.meta().set_name(
                &format!("@{}", t.desc.digest),
                &t.desc.digest,
                &t.desc.media_type,
                t.desc.size,
                true,
            )?;
        }
        out.push(LoadedImage {
            id: t.desc.digest,
            media_type: t.desc.media_type,
            size: t.desc.size,
            names: t.names,
            replaced,
        });
    }
    Ok(out)
}

/// Runs `f` under a fresh lease; on success names are set and blobs the archive carried
/// but no image uses are dropped, on failure everything the lease added is removed.
fn with_lease<F>(store: &Store, f: F) -> Result<LoadReport>
where
    F: FnOnce(&Lease) -> Result<(Vec<Target>, usize, u64)>,
{
    let lease = store.lease(LEASE_TTL)?;
    let result = f(&lease).and_then(|(targets, reused, resumed)| {
        let images = apply_names(store, targets)?;
        Ok(LoadReport {
            images,
            reused_blobs: reused,
            resumed_bytes: resumed,
        })
    });
    // Either way the lease ends with a collection restricted to its own blobs: after a
    // success the images are reachable from their names and stay; what stays unreachable
    // (stray blobs in the archive) or everything after a failure is removed.
    match result {
        Ok(report) => {
            // The images are named: dropping strays is best effort.
            let _ = store.abort(lease);
            Ok(report)
        }
        Err(e) => {
            let _ = store.abort(lease);
            Err(e)
        }
    }
}

/// Loads a `docker save` archive or an OCI layout tar (optionally compressed) from
/// `reader` into `store`.
pub fn load<R: Read>(store: &Store, reader: R, opts: LoadOptions<'_>) -> Result<LoadReport> {
    let mut progress = Progress {
        count: Rc::new(Cell::new(0)),
        total: opts.total_size,
        cb: opts.progress,
        last: 0,
    };
    let platform = opts.platform;
    let max_entries = opts.max_entries;
    with_lease(store, |lease| {
        let col = stream_archive(store, lease, reader, max_entries, &mut progress)?;
        let targets = targets_of(store, lease, &col, platform.as_ref())?;
        Ok((targets, col.reused, col.resumed))
    })
}

/// Loads an OCI image layout directory (skopeo `oci:`, umoci).
pub fn load_dir(store: &Store, dir: &Path, opts: LoadOptions<'_>) -> Result<LoadReport> {
    let mut progress = Progress {
        count: Rc::new(Cell::new(0)),
        total: None,
        cb: opts.progress,
        last: 0,
    };
    let read_small = |name: &str| -> Result<Vec<u8>> {
        let p = dir.join(name);
        let f = File::open(&p).map_err(|e| StoreError::io(&p, e))?;
        let size = f.metadata().map_err(|e| StoreError::io(&p, e))?.len();
        if size > MAX_JSON_SIZE {
            return Err(StoreError::TooLarge {
                what: p.display().to_string(),
                size,
                limit: MAX_JSON_SIZE,
            });
        }
        let mut buf = Vec::new();
        f.take(MAX_JSON_SIZE)
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::io(&p, e))?;
        Ok(buf)
    };
    let layout = read_small("oci-layout")?;
    check_oci_layout(&layout)?;
    let index = read_small("index.json")?;
    let platform = opts.platform;
    with_lease(store, |lease| {
        let idx = match Document::parse(&index, None)
            .map_err(|e| archive_err(format!("index.json: {e}")))?
        {
            Document::Index(i) => i,
            Document::Manifest(_) => {
                return Err(archive_err("index.json is a manifest, not an index"))
            }
        };
        let mut importer = DirImporter {
            store,
            lease,
            dir,
            reused: 0,
            progress: &mut progress,
            seen: HashSet::new(),
        };
        for d in &idx.manifests {
            if media::is_manifest(&d.media_type) || media::is_index(&d.media_type) {
                importer.import(d, 0, true)?;
            }
        }
        let reused = importer.reused;
        let targets = oci_targets(store, &index, platform.as_ref())?;
        Ok((targets, reused, 0))
    })
}

struct DirImporter<'a, 'p> {
    store: &'a Store,
    lease: &'a Lease,
    dir: &'a Path,
    reused: usize,
    progress: &'a mut Progress<'p>,
    seen: HashSet<Digest>,
}

impl DirImporter<'_, '_> {
    fn blob_file(&self, d: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    /// Copies one blob into the store (verifying it); false if the file is absent.
    fn copy_blob(&mut self, d: &Descriptor) -> Result<bool> {
        if !self.seen.insert(d.digest.clone()) {
            return Ok(true);
        }
        if self.store.protect_existing(&d.digest, self.lease)? {
            self.reused += 1;
            return Ok(true);
        }
        let p = self.blob_file(&d.digest);
        let mut f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io(&p, e)),
        };
        self.progress.event(LoadEvent::Layer {
            path: format!("blobs/{}/{}", d.digest.algorithm().as_str(), d.digest.hex()),
            digest: Some(d.digest.clone()),
            size: d.size,
            resumed: 0,
            present: false,
        });
        let mut w = self.store.writer(
            &format!("load-{}", d.digest),
            Some((d.digest.clone(), d.size)),
        )?;
        if w.offset() > 0 {
            w.reset()?;
        }
        io::copy(&mut (&mut f).take(d.size + 1), &mut w).map_err(|e| StoreError::io(&p, e))?;
        w.commit(self.lease)?;
        Ok(true)
    }

    fn import(&mut self, d: &Descriptor, depth: usize, required: bool) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(archive_err("indexes nested too deeply"));
        }
        if !self.copy_blob(d)? {
            if required {
                return Err(archive_err(format!(
                    "missing manifest {} in the layout",
                    d.digest
                )));
            }
            return Ok(());
        }
        match self.store.read_document(&d.digest, Some(&d.media_type))? {
            Document::Index(i) => {
                for c in &i.manifests {
                    if media::is_manifest(&c.media_type) || media::is_index(&c.media_type) {
                        self.import(c, depth + 1, false)?;
                    }
                }
            }
            Document::Manifest(m) => {
                for c in std::iter::once(&m.config).chain(m.layers.iter()) {
                    if !self.copy_blob(c)? {
                        return Err(archive_err(format!(
                            "missing blob {} in the layout",
                            c.digest
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Save
// ---------------------------------------------------------------------------------------

/// What goes into an archive.
struct SavePlan {
    /// Every blob, sorted by digest.
    blobs: BTreeMap<Digest, u64>,
    /// `index.json` entries.
    index: Vec<Descriptor>,
    /// Legacy `manifest.json` entries.
    legacy: Vec<LegacyEntry>,
    /// Legacy `repositories`.
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

fn blob_path_in_layout(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// Adds a manifest's blobs; false when one is missing (with `strict` an error instead).
fn plan_manifest(
    store: &Store,
    d: &Descriptor,
    out: &mut BTreeMap<Digest, u64>,
    strict: bool,
) -> Result<bool> {
    if !store.has_blob(&d.digest) {
        if strict {
            return Err(StoreError::BlobNotFound(d.digest.clone()));
        }
        return Ok(false);
    }
    let m = match store.read_document(&d.digest, Some(&d.media_type))? {
        Document::Manifest(m) => m,
        Document::Index(_) => {
            return Err(archive_err(format!(
                "{} is an index, not a manifest",
                d.digest
            )))
        }
    };
    let mut blobs = vec![(d.digest.clone(), d.size)];
    for c in std::iter::once(&m.config).chain(m.layers.iter()) {
        if !store.has_blob(&c.digest) {
            if strict {
                return Err(StoreError::BlobNotFound(c.digest.clone()));
            }
            return Ok(false);
        }
        blobs.push((c.digest.clone(), c.size));
    }
    out.extend(blobs);
    Ok(true)
}

fn plan_target(
    store: &Store,
    d: &Descriptor,
    out: &mut BTreeMap<Digest, u64>,
    depth: usize,
) -> Result<usize> {
    if depth > MAX_DEPTH {
        return Err(archive_err("indexes nested too deeply"));
    }
    if media::is_index(&d.media_type) {
        let idx = match store.read_document(&d.digest, Some(&d.media_type))? {
            Document::Index(i) => i,
            Document::Manifest(_) => {
                return Err(archive_err(format!(
                    "{} is a manifest, not an index",
                    d.digest
                )))
            }
        };
        let mut complete = 0;
        for c in &idx.manifests {
            if media::is_index(&c.media_type) {
                if store.has_blob(&c.digest) {
                    complete += plan_target(store, c, out, depth + 1)?;
                }
            } else if media::is_manifest(&c.media_type) && plan_manifest(store, c, out, false)? {
                complete += 1;
            }
        }
        if complete == 0 {
            return Err(archive_err(format!(
                "no platform of image {} is complete in the store",
                d.digest
            )));
        }
        out.insert(d.digest.clone(), d.size);
        Ok(complete)
    } else {
        plan_manifest(store, d, out, true)?;
        Ok(1)
    }
}

fn plan(
    store: &Store,
    images: &[(Option<String>, Descriptor)],
    platform: Option<&Platform>,
) -> Result<SavePlan> {
    let mut p = SavePlan {
        blobs: BTreeMap::new(),
        index: Vec::new(),
        legacy: Vec::new(),
        repositories: BTreeMap::new(),
    };
    let mut seen_entries: BTreeSet<(Digest, Option<String>)> = BTreeSet::new();
    for (name, target) in images {
        let resolved = store.resolve(target, platform)?;
        // With --platform only that platform's manifest is saved.
        let entry_desc = if platform.is_some() {
            resolved.manifest_descriptor.clone()
        } else {
            target.clone()
        };
        plan_target(store, &entry_desc, &mut p.blobs, 0)?;
        // The legacy view always needs the chosen platform's content.
        plan_manifest(store, &resolved.manifest_descriptor, &mut p.blobs, true)?;
        let reference = name
            .as_deref()
            .map(|n| {
                Reference::parse_normalized(n)
                    .map_err(|e| archive_err(format!("invalid image name {n:?}: {e}")))
            })
            .transpose()?;
        if seen_entries.insert((entry_desc.digest.clone(), name.clone())) {
            let mut d = Descriptor::new(
                &entry_desc.media_type,
                entry_desc.digest.clone(),
                entry_desc.size,
            );
            if let Some(r) = &reference {
                let mut a = BTreeMap::new();
                a.insert(ANNOTATION_IMAGE_NAME.to_string(), r.to_string());
                if let Some(tag) = r.tag() {
                    a.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
                }
                d.annotations = Some(a);
            }
            p.index.push(d);
        }
        let config_path = blob_path_in_layout(&resolved.manifest.config.digest);
        let familiar = reference.as_ref().map(|r| r.familiar_string());
        match p.legacy.iter_mut().find(|e| e.config == config_path) {
            Some(e) => {
                if let Some(f) = familiar.clone() {
                    let tags = e.repo_tags.get_or_insert_with(Vec::new);
                    if !tags.contains(&f) {
                        tags.push(f);
                    }
                }
            }
            None => p.legacy.push(LegacyEntry {
                config: config_path,
                repo_tags: familiar.clone().map(|f| vec![f]),
                layers: resolved
                    .manifest
                    .layers
                    .iter()
                    .map(|l| blob_path_in_layout(&l.digest))
                    .collect(),
            }),
        }
        if let (Some(r), Some(top)) = (&reference, resolved.manifest.layers.last()) {
            if let Some(tag) = r.tag() {
                p.repositories
                    .entry(r.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.digest.hex().to_string());
            }
        }
    }
    Ok(p)
}

fn index_json(entries: &[Descriptor]) -> Result<Vec<u8>> {
    let idx = ImageIndex {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_string()),
        artifact_type: None,
        manifests: entries.to_vec(),
        subject: None,
        annotations: None,
    };
    serde_json::to_vec(&idx).map_err(|e| archive_err(e.to_string()))
}

const OCI_LAYOUT_JSON: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn tar_header(kind: tar::EntryType, size: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("").map_err(stream_err)?;
    h.set_groupname("").map_err(stream_err)?;
    Ok(h)
}

fn stream_blob_into<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    d: &Digest,
    size: u64,
) -> Result<()> {
    let f = store.open_blob(d)?;
    let mut hr = HashingReader {
        inner: BufReader::with_capacity(1 << 16, f).take(size),
        hasher: Digester::new(d.algorithm()),
        count: 0,
    };
    let mut h = tar_header(tar::EntryType::Regular, size)?;
    b.append_data(&mut h, blob_path_in_layout(d), &mut hr)
        .map_err(StoreError::Stream)?;
    let actual = std::mem::take(&mut hr.hasher).finish();
    if hr.count != size {
        return Err(StoreError::SizeMismatch {
            digest: d.clone(),
            expected: size,
            actual: hr.count,
        });
    }
    if &actual != d {
        return Err(StoreError::DigestMismatch {
            expected: d.clone(),
            actual,
        });
    }
    Ok(())
}

/// Writes `images` (each a requested full name, or `None` for an image given by ID, and
/// the descriptor it points at) to `w` as a tar in `format` (`docker-archive` or
/// `oci-archive`; use [`save_dir`] for `oci-dir`). With `platform`, only that platform's
/// image of a multi-platform index is written.
pub fn save<W: Write>(
    store: &Store,
    images: &[(Option<String>, Descriptor)],
    w: W,
    format: SaveFormat,
    platform: Option<&Platform>,
) -> Result<W> {
    if format == SaveFormat::OciDir {
        return Err(archive_err(
            "the oci-dir format writes a directory: use save_dir",
        ));
    }
    if images.is_empty() {
        return Err(archive_err("no image to save"));
    }
    let p = plan(store, images, platform)?;
    let mut b = tar::Builder::new(w);
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for d in p.blobs.keys() {
        dirs.insert(format!("blobs/{}/", d.algorithm().as_str()));
    }
    let mut h = tar_header(tar::EntryType::Directory, 0)?;
    b.append_data(&mut h, "blobs/", io::empty())
        .map_err(StoreError::Stream)?;
    for dir in &dirs {
        let mut h = tar_header(tar::EntryType::Directory, 0)?;
        b.append_data(&mut h, dir, io::empty())
            .map_err(StoreError::Stream)?;
    }
    for (d, size) in &p.blobs {
        stream_blob_into(store, &mut b, d, *size)?;
    }
    let mut small: Vec<(&str, Vec<u8>)> = vec![("index.json", index_json(&p.index)?)];
    if format == SaveFormat::DockerArchive {
        small.push((
            "manifest.json",
            serde_json::to_vec(&p.legacy).map_err(|e| archive_err(e.to_string()))?,
        ));
        if !p.repositories.is_empty() {
            small.push((
                "repositories",
                serde_json::to_vec(&p.repositories).map_err(|e| archive_err(e.to_string()))?,
            ));
        }
    }
    small.push(("oci-layout", OCI_LAYOUT_JSON.to_vec()));
    small.sort_by(|a, b| a.0.cmp(b.0));
    for (name, bytes) in small {
        let mut h = tar_header(tar::EntryType::Regular, bytes.len() as u64)?;
        b.append_data(&mut h, name, &bytes[..])
            .map_err(StoreError::Stream)?;
    }
    b.into_inner().map_err(StoreError::Stream)
}

/// Writes `images` as an OCI image layout directory at `dir` (created if needed). An
/// existing layout there is added to: its other index entries are kept, entries with the
/// same image name are replaced.
pub fn save_dir(
    store: &Store,
    images: &[(Option<String>, Descriptor)],
    dir: &Path,
    platform: Option<&Platform>,
) -> Result<()> {
    if images.is_empty() {
        return Err(archive_err("no image to save"));
    }
    let p = plan(store, images, platform)?;
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut entries: Vec<Descriptor> = Vec::new();
    let index_path = dir.join("index.json");
    if index_path.is_file() {
        let f = File::open(&index_path).map_err(|e| StoreError::io(&index_path, e))?;
        let mut bytes = Vec::new();
        f.take(MAX_JSON_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(&index_path, e))?;
        if let Document::Index(i) = Document::parse(&bytes, None)
            .map_err(|e| archive_err(format!("{}: {e}", index_path.display())))?
        {
            let new_names: HashSet<&str> = p
                .index
                .iter()
                .filter_map(|d| {
                    d.annotation(ANNOTATION_IMAGE_NAME)
                        .or(d.annotation(ANNOTATION_REF_NAME))
                })
                .collect();
            entries.extend(i.manifests.into_iter().filter(|d| {
                let n = d
                    .annotation(ANNOTATION_IMAGE_NAME)
                    .or(d.annotation(ANNOTATION_REF_NAME));
                !n.is_some_and(|n| new_names.contains(n)) && !p.index.contains(d)
            }));
        }
    }
    for (d, size) in &p.blobs {
        let alg_dir = dir.join("blobs").join(d.algorithm().as_str());
        fs::create_dir_all(&alg_dir).map_err(|e| StoreError::io(&alg_dir, e))?;
        let target = alg_dir.join(d.hex());
        if fs::metadata(&target)
            .map(|m| m.len() == *size)
            .unwrap_or(false)
        {
            continue;
        }
        let mut tmp =
            tempfile::NamedTempFile::new_in(&alg_dir).map_err(|e| StoreError::io(&alg_dir, e))?;
        let f = store.open_blob(d)?;
        let mut hr = HashingReader {
            inner: f,
            hasher: Digester::new(d.algorithm()),
            count: 0,
        };
        io::copy(&mut hr, &mut tmp).map_err(|e| StoreError::io(tmp.path(), e))?;
        let actual = std::mem::take(&mut hr.hasher).finish();
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io(&target, e))?;
        tmp.persist(&target)
            .map_err(|e| StoreError::io(&target, e.error))?;
    }
    entries.extend(p.index);
    crate::blobs::write_small(&dir.join("oci-layout"), OCI_LAYOUT_JSON)?;
    crate::blobs::write_small(&index_path, &index_json(&entries)?)?;
    crate::blobs::sync_dir(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_refuses_absolute_and_dotdot() {
        assert_eq!(normalize("./a/b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../b"), None);
    }

    #[test]
    fn link_targets_resolve_relative_to_the_entry() {
        assert_eq!(
            link_target("abc/layer.tar", "../def/layer.tar", false).as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(link_target("abc/layer.tar", "../../x", false), None);
        assert_eq!(
            link_target("abc/layer.tar", "def/layer.tar", true).as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(link_target("a", "/etc", false), None);
    }

    #[test]
    fn save_format_parses() {
        assert_eq!(
            "docker-archive".parse::<SaveFormat>().unwrap(),
            SaveFormat::DockerArchive
        );
        assert_eq!("oci-dir".parse::<SaveFormat>().unwrap(), SaveFormat::OciDir);
        assert!("zip".parse::<SaveFormat>().is_err());
    }
}
