//! Whole images from the store: chain IDs, `unpack` (a root filesystem), `export` (one
//! flattened tar) and the per-layer change lists behind `strata image diff`.
//!
//! Layers are decoded (inflated and hashed) up to [`DECODE_AHEAD`] at a time on worker
//! threads while they are applied strictly in order; each layer's uncompressed digest
//! is checked against the config's diff ID.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use strata_oci::{Descriptor, Digest};
use strata_store::{ResolvedImage, Store};

use crate::apply::{Applier, ApplyOptions, LayerReport};
use crate::cache;
use crate::diff::{self, DiffOptions, LayerCompression, LayerOutput};
use crate::error::{Result, RootfsError};
use crate::stream::{Decoded, Guarded, MetaBudget};

/// Layers decoded ahead of the one being applied.
pub const DECODE_AHEAD: usize = 3;

/// Chain IDs of a list of diff IDs (defined in `strata-oci`, shared with scanning).
pub use strata_oci::chain_ids;

/// One layer of an image: its descriptor, the config's diff ID for it, and a label.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    /// The layer blob.
    pub descriptor: Descriptor,
    /// The config's diff ID.
    pub diff_id: Digest,
    /// "layer N/M (sha256:…)" for messages.
    pub label: String,
}

/// The layers of an image, checked: as many diff IDs as layers, within `max_layers`,
/// every blob present.
pub fn image_layers(
    store: &Store,
    img: &ResolvedImage,
    max_layers: usize,
) -> Result<Vec<ImageLayer>> {
    let diff_ids = &img.config.rootfs.diff_ids;
    let layers = &img.manifest.layers;
    if layers.len() > max_layers {
        return Err(RootfsError::Limit {
            layer: "image".into(),
            what: format!("layer count ({})", layers.len()),
            limit: max_layers as u64,
            hint: "--max-layers",
        });
    }
    if diff_ids.len() != layers.len() {
        return Err(RootfsError::Image(format!(
            "image config lists {} diff IDs for {} layers",
            diff_ids.len(),
            layers.len()
        )));
    }
    let n = layers.len();
    let mut out = Vec::with_capacity(n);
    for (i, (l, d)) in layers.iter().zip(diff_ids).enumerate() {
        if !store.has_blob(&l.digest) {
            return Err(RootfsError::Image(format!(
                "layer {}/{n} ({}) is not in the store; pull the image again",
                i + 1,
                l.digest
            )));
        }
        out.push(ImageLayer {
            descriptor: l.clone(),
            diff_id: d.clone(),
            label: format!("layer {}/{n} ({})", i + 1, l.digest.short()),
        });
    }
    Ok(out)
}

/// Applies `layers` in order with `applier`, decoding up to [`DECODE_AHEAD`] ahead.
pub fn apply_layers(
    store: &Store,
    applier: &mut Applier,
    layers: &[ImageLayer],
    opts: &ApplyOptions,
) -> Result<Vec<LayerReport>> {
    let mut files = Vec::with_capacity(layers.len());
    for l in layers {
        files.push(store.open_blob(&l.descriptor.digest)?);
    }
    std::thread::scope(|s| {
        let mut pending: std::collections::VecDeque<(usize, Decoded)> =
            std::collections::VecDeque::new();
        let mut files = files.into_iter().enumerate();
        let mut reports = Vec::new();
        loop {
            while pending.len() < DECODE_AHEAD {
                let Some((i, f)) = files.next() else { break };
                let dec = Decoded::spawn(
                    s,
                    BufReader::with_capacity(1 << 16, f),
                    layers[i].label.clone(),
                    opts.limits,
                );
                pending.push_back((i, dec));
            }
            let Some((i, dec)) = pending.pop_front() else {
                break;
            };
            reports.push(applier.apply_decoded(&layers[i].label, dec, Some(&layers[i].diff_id))?);
        }
        Ok(reports)
    })
}

/// Options of [`unpack`].
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// How layers are applied.
    pub apply: ApplyOptions,
    /// Bypass the layer cache (apply every layer into the destination).
    pub no_cache: bool,
}

/// What [`unpack`] did.
#[derive(Debug, Clone, Default)]
pub struct UnpackReport {
    /// Layers taken from the layer cache.
    pub cached_layers: usize,
    /// Reports of the layers applied.
    pub applied: Vec<LayerReport>,
    /// Layers applied while a pull was still running (`pull --unpack`).
    pub applied_before_end: usize,
    /// Layers applied from their download rather than from the store (`pull --unpack`).
    pub applied_from_download: usize,
}

impl UnpackReport {
    /// Every warning of every applied layer.
    pub fn warnings(&self) -> Vec<String> {
        self.applied
            .iter()
            .flat_map(|r| r.warnings.iter().cloned())
            .collect()
    }
    /// Owners not applied (not running as root).
    pub fn skipped_owners(&self) -> usize {
        self.applied.iter().map(|r| r.skipped_owners.len()).sum()
    }
}

/// Checks that `dest` is absent or an empty directory, and makes the scratch directory
/// next to it that becomes `dest` once everything is written.
pub(crate) fn prepare_dest(dest: &Path) -> Result<tempfile::TempDir> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            let empty = std::fs::read_dir(dest)
                .map_err(|e| RootfsError::io(dest.display().to_string(), e))?
                .next()
                .is_none();
            if !empty {
                return Err(RootfsError::Target(format!(
                    "{}: destination directory is not empty",
                    dest.display()
                )));
            }
        }
        Ok(_) => {
            return Err(RootfsError::Target(format!(
                "{}: destination exists and is not a directory",
                dest.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RootfsError::io(dest.display().to_string(), e)),
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| RootfsError::io(parent.display().to_string(), e))?;
    tempfile::Builder::new()
        .prefix(".strata-unpack-")
        .tempdir_in(&parent)
        .map_err(|e| RootfsError::io(format!("creating a directory in {}", parent.display()), e))
}

/// How often [`BackgroundSync`] asks for the file system to be written back.
const BACKGROUND_SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Writes an unpack's tree back to disk while it is still being written: a thread calls
/// `syncfs` on the tree's file system every [`BACKGROUND_SYNC_EVERY`] until dropped.
///
/// [`publish`] makes the tree durable with one `syncfs` before renaming it into place
/// (containerd's unpack does not sync at all, and leaves zero-length files after a
/// crash). Done only at the end, that `syncfs` wrote the whole tree while nothing else
/// ran; done along the way, the disk works while the layers are still being applied and
/// the last `syncfs` finds little left. Measured on a pull --unpack of a 20,000-file
/// layer: 0.88 s -> 0.77 s; of eight 40 MB layers: 0.92 s -> 0.88 s.
pub(crate) struct BackgroundSync {
    stop: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    /// Syncs made so far.
    #[cfg_attr(not(test), allow(dead_code))]
    syncs: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl BackgroundSync {
    /// Starts syncing the file system `dir` is on; None if `dir` cannot be opened (the
    /// final `syncfs` still runs).
    pub(crate) fn start(dir: &Path) -> Option<BackgroundSync> {
        let f = File::open(dir).ok()?;
        let stop = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let syncs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = syncs.clone();
        std::thread::Builder::new()
            .name("strata-writeback".into())
            .spawn(move || {
                let (m, cv) = &*flag;
                let mut stopped = m.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    stopped = cv
                        .wait_timeout(stopped, BACKGROUND_SYNC_EVERY)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    // Only a head start: errors show in the final syncfs.
                    if rustix::fs::syncfs(&f).is_ok() {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    stopped = m.lock().unwrap_or_else(|e| e.into_inner());
                }
            })
            .ok()?;
        Some(BackgroundSync { stop, syncs })
    }

    fn signal(&self) {
        let (m, cv) = &*self.stop;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
}

impl Drop for BackgroundSync {
    /// Stops the thread (after the syncfs it may be in; it is not waited for).
    fn drop(&mut self) {
        self.signal();
    }
}

pub(crate) fn publish(tmp: tempfile::TempDir, dest: &Path) -> Result<()> {
    let root =
        File::open(tmp.path()).map_err(|e| RootfsError::io(tmp.path().display().to_string(), e))?;
    rustix::fs::syncfs(&root)
        .map_err(|e| RootfsError::io("syncing the file system", crate::root::ioe(e)))?;
    if dest.is_dir() {
        std::fs::remove_dir(dest).map_err(|e| RootfsError::io(dest.display().to_string(), e))?;
    }
    let path = tmp.keep();
    std::fs::rename(&path, dest)
        .map_err(|e| RootfsError::io(format!("renaming into {}", dest.display()), e))?;
    Ok(())
}

/// Unpacks an image into `dest` (absent or empty), through the layer cache unless
/// `no_cache`. Nothing appears at `dest` unless every layer applied and verified.
pub fn unpack(
    store: &Store,
    img: &ResolvedImage,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport> {
    let layers = image_layers(store, img, opts.apply.limits.max_layers)?;
    let tmp = prepare_dest(dest)?;
    let _writeback = BackgroundSync::start(tmp.path());
    let report = if opts.no_cache || layers.is_empty() {
        let mut a = Applier::new(tmp.path(), opts.apply.clone())?;
        UnpackReport {
            cached_layers: 0,
            applied: apply_layers(store, &mut a, &layers, &opts.apply)?,
            applied_before_end: 0,
            applied_from_download: 0,
        }
    } else {
        let snap = cache::ensure(store, img, &layers, &opts.apply)?;
        cache::copy_tree(&snap.path, tmp.path(), &opts.apply)?;
        UnpackReport {
            cached_layers: snap.cached_layers,
            applied: snap.applied,
            applied_before_end: 0,
            applied_from_download: 0,
        }
    };
    publish(tmp, dest)?;
    Ok(report)
}

/// The image's root filesystem as a read-only snapshot in the layer cache, built from
/// the longest cached chain-ID prefix if needed: what build (the base of a new image)
/// and scan (the files to inspect) start from. Never modify the returned directory.
pub fn snapshot(
    store: &Store,
    img: &ResolvedImage,
    opts: &ApplyOptions,
) -> Result<cache::Snapshot> {
    let layers = image_layers(store, img, opts.limits.max_layers)?;
    if layers.is_empty() {
        return Err(RootfsError::Image("the image has no layers".into()));
    }
    cache::ensure(store, img, &layers, opts)
}

/// Writes the image's flattened root filesystem as one tar (like `docker export`), from
/// the layer cache (building the snapshot if needed). Returns the tar's facts.
pub fn export<W: Write>(
    store: &Store,
    img: &ResolvedImage,
    opts: &ApplyOptions,
    w: W,
) -> Result<(LayerOutput, UnpackReport)> {
    let layers = image_layers(store, img, opts.limits.max_layers)?;
    let dopts = DiffOptions {
        source_date_epoch: None,
        compression: LayerCompression::None,
        root_entry: false,
    };
    if layers.is_empty() {
        let empty = tempfile::tempdir()
            .map_err(|e| RootfsError::io("creating a temporary directory", e))?;
        return Ok((
            diff::write_layer(None, empty.path(), &dopts, w)?,
            UnpackReport::default(),
        ));
    }
    let snap = cache::ensure(store, img, &layers, opts)?;
    let out = diff::write_layer(None, &snap.path, &dopts, w)?;
    Ok((
        out,
        UnpackReport {
            cached_layers: snap.cached_layers,
            applied: snap.applied,
            applied_before_end: 0,
            applied_from_download: 0,
        },
    ))
}

/// How a layer touched a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Added.
    Added,
    /// Changed (replaced, or its metadata or content changed).
    Changed,
    /// Deleted (by a whiteout or an opaque directory).
    Deleted,
}

impl Change {
    /// Docker's letter for it (`docker diff`).
    pub fn letter(self) -> char {
        match self {
            Change::Added => 'A',
            Change::Changed => 'C',
            Change::Deleted => 'D',
        }
    }
}

/// What one layer did.
#[derive(Debug, Clone)]
pub struct LayerChanges {
    /// The layer.
    pub layer: ImageLayer,
    /// Path (absolute, `/…`) to change, sorted.
    pub changes: BTreeMap<String, Change>,
    /// Bytes of regular files the layer added or changed.
    pub bytes: u64,
    /// Bytes of lower layers' files this layer replaced or deleted: still shipped in
    /// those layers, invisible in the image (dive's "wasted space").
    pub wasted: u64,
}

#[derive(Clone, PartialEq)]
struct Seen {
    dir: bool,
    size: u64,
    mode: u32,
    uid: u64,
    gid: u64,
}

/// Reads every layer (without unpacking) and lists what each added, changed and
/// deleted, taking whiteouts and opaque directories into account.
pub fn layer_changes(
    store: &Store,
    img: &ResolvedImage,
    opts: &ApplyOptions,
) -> Result<Vec<LayerChanges>> {
    let layers = image_layers(store, img, opts.limits.max_layers)?;
    let mut state: BTreeMap<Vec<u8>, Seen> = BTreeMap::new();
    let mut out = Vec::new();
    for l in layers {
        let f = store.open_blob(&l.descriptor.digest)?;
        let mut changes: BTreeMap<String, Change> = BTreeMap::new();
        let mut bytes = 0u64;
        let mut wasted = 0u64;
        let show = |p: &[u8]| format!("/{}", String::from_utf8_lossy(p));
        // The same reading path as applying: decompression, hashing and the byte and
        // ratio bounds on a worker, the metadata budget around each header.
        std::thread::scope(|sc| -> Result<()> {
            let dec = Decoded::spawn(
                sc,
                BufReader::with_capacity(1 << 16, f),
                l.label.clone(),
                opts.limits,
            );
            let budget = MetaBudget::default();
            let mut ar =
                tar::Archive::new(Guarded::new(dec, budget.clone(), opts.limits.max_metadata));
            let res = (|| -> Result<()> {
                let tar_err = |e| {
                    if budget.tripped() {
                        RootfsError::Limit {
                            layer: l.label.clone(),
                            what: "tar metadata of one entry (headers, PAX records, long names)"
                                .into(),
                            limit: opts.limits.max_metadata,
                            hint: "--max-metadata",
                        }
                    } else {
                        RootfsError::Tar {
                            layer: l.label.clone(),
                            source: e,
                        }
                    }
                };
                let mut opaque_dirs: Vec<Vec<u8>> = Vec::new();
                let mut added_here: std::collections::BTreeSet<Vec<u8>> = Default::default();
                let mut count = 0u64;
                let mut entries = ar.entries_with_seek().map_err(tar_err)?;
                loop {
                    budget.arm();
                    let next = entries.next();
                    budget.disarm();
                    let mut e = match next {
                        None => break,
                        Some(r) => r.map_err(tar_err)?,
                    };
                    count += 1;
                    if count > opts.limits.max_entries {
                        return Err(RootfsError::Limit {
                            layer: l.label.clone(),
                            what: "entry count".into(),
                            limit: opts.limits.max_entries,
                            hint: "--max-entries",
                        });
                    }
                    let raw = e.path_bytes().into_owned();
                    let comps = crate::apply::split_name(&raw, &opts.limits).map_err(|r| {
                        RootfsError::Unsafe {
                            layer: l.label.clone(),
                            path: String::from_utf8_lossy(&raw).into(),
                            reason: r,
                        }
                    })?;
                    let Some((base, parent)) = comps.split_last() else {
                        continue;
                    };
                    let dir = parent.join(&b'/');
                    if let Some(name) = base.strip_prefix(b".wh.") {
                        if name == b".wh..opq" {
                            opaque_dirs.push(dir);
                        } else if !name.starts_with(b".wh.") && !name.is_empty() {
                            let mut p = dir.clone();
                            if !p.is_empty() {
                                p.push(b'/');
                            }
                            p.extend_from_slice(name);
                            if state.contains_key(&p) && !added_here.contains(&p) {
                                wasted += remove_under(&mut state, &p, &added_here);
                                changes.insert(show(&p), Change::Deleted);
                            }
                        }
                        continue;
                    }
                    let p = comps.join(&b'/');
                    let h = e.header();
                    let seen = Seen {
                        dir: h.entry_type() == tar::EntryType::Directory,
                        size: if h.entry_type().is_file() {
                            e.size()
                        } else {
                            0
                        },
                        mode: h.mode().unwrap_or(0),
                        uid: h.uid().unwrap_or(0),
                        gid: h.gid().unwrap_or(0),
                    };
                    if h.entry_type().is_file() {
                        bytes += e.size();
                    }
                    std::io::copy(&mut e, &mut std::io::sink()).map_err(tar_err)?;
                    let change = match state.get(&p) {
                        None => Some(Change::Added),
                        Some(old) if old.dir && seen.dir && *old == seen => None,
                        Some(_) => Some(Change::Changed),
                    };
                    if let Some(c) = change {
                        changes.insert(show(&p), c);
                    }
                    if !seen.dir {
                        wasted += remove_under(&mut state, &p, &added_here);
                    } else if state.get(&p).is_some_and(|o| !o.dir) && !added_here.contains(&p) {
                        wasted += state.get(&p).map(|o| o.size).unwrap_or(0);
                    }
                    added_here.insert(p.clone());
                    state.insert(p, seen);
                }
                for d in opaque_dirs {
                    let mut prefix = d.clone();
                    if !prefix.is_empty() {
                        prefix.push(b'/');
                    }
                    let lower: Vec<Vec<u8>> = state
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, _)| k.clone())
                        .filter(|k| !added_here.contains(k))
                        .collect();
                    for k in lower {
                        let rest = &k[prefix.len()..];
                        if !rest.contains(&b'/')
                            && !added_here.iter().any(|a| {
                                a.len() > k.len() && a.starts_with(&k) && a[k.len()] == b'/'
                            })
                        {
                            changes.insert(show(&k), Change::Deleted);
                        }
                        if let Some(o) = state.remove(&k) {
                            wasted += o.size;
                        }
                    }
                }
                Ok(())
            })();
            let mut guarded = ar.into_inner();
            let dec = guarded.inner_mut();
            if let Err(e) = res {
                return Err(match (dec.take_failure(), e) {
                    (Some(f), RootfsError::Tar { .. }) => f,
                    (_, e) => e,
                });
            }
            let facts = dec.finish()?;
            if facts.diff_id != l.diff_id {
                return Err(RootfsError::DiffIdMismatch {
                    layer: l.label.clone(),
                    expected: l.diff_id.clone(),
                    actual: facts.diff_id,
                });
            }
            Ok(())
        })?;
        out.push(LayerChanges {
            layer: l,
            changes,
            bytes,
            wasted,
        });
    }
    Ok(out)
}

/// Removes `p` and everything below it from `state`; returns the file bytes of those
/// that came from lower layers (not in `here`).
fn remove_under(
    state: &mut BTreeMap<Vec<u8>, Seen>,
    p: &[u8],
    here: &std::collections::BTreeSet<Vec<u8>>,
) -> u64 {
    let mut prefix = p.to_vec();
    prefix.push(b'/');
    let mut gone: Vec<Vec<u8>> = state
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    gone.push(p.to_vec());
    let mut bytes = 0;
    for k in gone {
        if let Some(o) = state.remove(&k) {
            if !here.contains(&k) {
                bytes += o.size;
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_sync_syncs_until_stopped() {
        let d = tempfile::tempdir().unwrap();
        assert!(BackgroundSync::start(&d.path().join("absent")).is_none());
        let s = BackgroundSync::start(d.path()).unwrap();
        std::fs::write(d.path().join("f"), b"data").unwrap();
        // Waits for the first syncs (however slow the machine), then stops the thread.
        let count = s.syncs.clone();
        while count.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            std::thread::sleep(BACKGROUND_SYNC_EVERY / 4);
        }
        let at_drop = count.load(std::sync::atomic::Ordering::SeqCst);
        drop(s);
        // At most the sync in progress when it was stopped completes after that; a
        // thread still running would have made about ten more.
        std::thread::sleep(BACKGROUND_SYNC_EVERY * 10);
        let after = count.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            after <= at_drop + 1,
            "still syncing after drop: {at_drop} -> {after}"
        );
    }
}
