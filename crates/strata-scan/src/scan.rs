//! Scanning an image: streams its layers through the merged filesystem, runs the
//! catalogers after every layer that changed something they read, and attributes each
//! package to the earliest layer from which it is present continuously up to the top.
//!
//! What the catalogers found after each layer depends only on the layers up to it, that
//! is on its chain ID, so [`scan_image`] keeps it in the store's scan cache and reads only
//! the layers no earlier scan of any image has seen, starting from the layer cache's
//! unpacked snapshot of the layers below them when there is one.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::{Deserialize, Serialize};
use strata_oci::{chain_ids, Digest};
use strata_store::{ResolvedImage, Store};

use crate::catalog::{self, Catalogers};
use crate::fs::MergedFs;
use crate::package::{Distro, LayerRef, Package};
use crate::ScanError;

/// The result of scanning an image.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanResult {
    /// The distribution, when known.
    pub distro: Option<Distro>,
    /// Packages, sorted by name, version and type.
    pub packages: Vec<Package>,
    /// The image's layers, base first.
    pub layers: Vec<LayerRef>,
    /// How many layer blobs were read (the others came from the scan cache).
    #[serde(skip)]
    pub layers_read: usize,
}

/// Names the cataloger set and the format of its cached results in the store's scan
/// cache: results recorded under another name are never used. Bump the last number
/// whenever a cataloger, the [`Selector`](crate::fs::Selector) or [`catalog::Found`]
/// changes what a scan finds.
pub const SCANNER: &str = concat!("strata-scan/", env!("CARGO_PKG_VERSION"), "/1");

/// Options of [`scan_image_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Read every layer, neither using nor recording the scan cache.
    pub no_cache: bool,
}

/// What the catalogers found after each layer so far.
#[derive(Default)]
struct Progress {
    /// The package keys present after each layer.
    present: Vec<HashSet<Key>>,
    /// What was found after the last layer.
    last: catalog::Found,
}

impl Progress {
    /// Adds the state after the next layer.
    fn push(&mut self, found: catalog::Found) {
        self.present.push(found.packages.iter().map(key).collect());
        self.last = found;
    }

    /// Attributes each package of the top layer to the earliest layer from which it is
    /// present continuously up to the top.
    fn finish(self, refs: Vec<LayerRef>, layers_read: usize) -> ScanResult {
        let Progress { present, last } = self;
        let top = present.len();
        let mut packages = last.packages;
        for p in &mut packages {
            let k = key(p);
            let mut earliest = top.saturating_sub(1);
            while earliest > 0 && present[earliest - 1].contains(&k) {
                earliest -= 1;
            }
            p.layer = refs.get(earliest).cloned();
            p.purl = p.make_purl(last.distro.as_ref());
        }
        packages.sort_by(|a, b| {
            (&a.name, &a.version, a.ptype, &a.location).cmp(&(
                &b.name,
                &b.version,
                b.ptype,
                &b.location,
            ))
        });
        ScanResult {
            distro: last.distro,
            packages,
            layers: refs,
            layers_read,
        }
    }
}

/// Scans layers given in order (base first) with readers of their (possibly
/// compressed) tars.
pub fn scan_layers<'a, I>(layers: I) -> Result<ScanResult, ScanError>
where
    I: IntoIterator<Item = Result<(LayerRef, Box<dyn Read + 'a>), ScanError>>,
{
    let mut fs = MergedFs::new();
    let mut refs = Vec::new();
    let mut progress = Progress::default();
    for (i, item) in layers.into_iter().enumerate() {
        let (info, reader) = item?;
        let found = if fs.apply_layer(reader, i, &Catalogers)? {
            catalog::catalog(&fs)
        } else {
            progress.last.clone()
        };
        progress.push(found);
        refs.push(info);
    }
    let read = refs.len();
    Ok(progress.finish(refs, read))
}

/// A package's identity across layers: type, name, version, architecture, location.
type Key = (crate::package::PkgType, String, String, String, String);

fn key(p: &Package) -> Key {
    (
        p.ptype,
        p.name.clone(),
        p.version.clone(),
        p.arch.clone().unwrap_or_default(),
        p.location.clone(),
    )
}

/// The layers of a resolved image with their diff IDs and the history step that made
/// each.
pub fn layer_refs(image: &ResolvedImage) -> Vec<LayerRef> {
    let mut created: HashMap<usize, String> = HashMap::new();
    let mut idx = 0;
    if !image.config.history.is_empty() {
        for h in &image.config.history {
            if h.is_empty_layer() {
                continue;
            }
            created.insert(idx, h.created_by.clone().unwrap_or_default());
            idx += 1;
        }
    }
    let diff_ids: Vec<String> = image
        .config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| d.to_string())
        .collect();
    image
        .layers
        .iter()
        .enumerate()
        .map(|(i, (d, rec))| LayerRef {
            index: i,
            digest: d.digest.to_string(),
            diff_id: rec
                .as_ref()
                .map(|r| r.diff_id.to_string())
                .or_else(|| diff_ids.get(i).cloned())
                .unwrap_or_default(),
            created_by: created.get(&i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Scans an image whose layers are in the store, through the scan cache.
pub fn scan_image(store: &Store, image: &ResolvedImage) -> Result<ScanResult, ScanError> {
    scan_image_with(store, image, ScanOptions::default())
}

/// Opens layer `i` of a stored image as a reader of its tar.
fn open_layer<'a>(
    store: &Store,
    image: &ResolvedImage,
    i: usize,
) -> Result<Box<dyn Read + 'a>, ScanError> {
    let d = &image.layers[i].0;
    let f = store
        .open_blob(&d.digest)
        .map_err(|e| ScanError::Layer(format!("layer {}: {e}", d.digest)))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
}

/// The chain IDs of an image's layers, when the scan cache may be used for it: every
/// layer's diff ID as the store computed it from the layer's bytes is the one its config
/// lists (so a config cannot make its layers pass for others).
fn verified_chain_ids(image: &ResolvedImage) -> Option<Vec<Digest>> {
    let diff_ids = &image.config.rootfs.diff_ids;
    if diff_ids.len() != image.layers.len() {
        return None;
    }
    let verified = image
        .layers
        .iter()
        .zip(diff_ids)
        .all(|((_, rec), d)| rec.as_ref().is_some_and(|r| &r.diff_id == d));
    verified.then(|| chain_ids(diff_ids))
}

/// Scans an image whose layers are in the store.
///
/// Unless `opts.no_cache`, what the catalogers found after each layer is looked up in the
/// store's scan cache by the layer's chain ID (see [`strata_store::scan_cache`]). With
/// results for the first `k` layers, only layers `k..` are read: the merged filesystem
/// after layer `k-1` is seeded from the layer cache's unpacked snapshot of that chain ID
/// when there is one (else from the highest cached prefix below that has one, else the
/// layers are read from the base), and the results of the layers scanned now are
/// recorded. A cached result that cannot be parsed counts as missing.
pub fn scan_image_with(
    store: &Store,
    image: &ResolvedImage,
    opts: ScanOptions,
) -> Result<ScanResult, ScanError> {
    let refs = layer_refs(image);
    let chains = match verified_chain_ids(image) {
        Some(c) if !opts.no_cache && !c.is_empty() => c,
        _ => {
            let items = (0..refs.len()).map(|i| open_layer(store, image, i));
            let items = refs.into_iter().zip(items).map(|(r, l)| l.map(|l| (r, l)));
            return scan_layers(items);
        }
    };
    let n = chains.len();
    let cached: Vec<Option<catalog::Found>> = store
        .scan_results(SCANNER, &chains)?
        .into_iter()
        .map(|row| row.and_then(|b| serde_json::from_slice(&b).ok()))
        .collect();
    let k = cached.iter().position(Option::is_none).unwrap_or(n);
    let config = &image.manifest.config.digest;
    let mut progress = Progress::default();
    if k == n {
        for found in cached.into_iter().flatten() {
            progress.push(found);
        }
        // This image uses those results too (they may have been another image's), so GC
        // keeps them while it lives. Like every cache write, a failure is not the scan's.
        let _ = store.record_scan_results(SCANNER, config, &chains, &[]);
        return Ok(progress.finish(refs, 0));
    }
    // The highest cached prefix with a snapshot to start from.
    let mut fs = MergedFs::new();
    let mut start = 0;
    for j in (1..=k).rev() {
        let dir = store.snapshot_path(&chains[j - 1]);
        if !dir.is_dir() {
            continue;
        }
        let mut seeded = MergedFs::new();
        if seeded.seed_dir(&dir, j - 1, &Catalogers).is_ok() {
            fs = seeded;
            start = j;
            break;
        }
    }
    let mut cached = cached.into_iter();
    for found in cached.by_ref().take(start) {
        progress.push(found.unwrap_or_default());
    }
    let mut fresh: Vec<(Digest, Vec<u8>)> = Vec::new();
    for (i, found) in (start..n).zip(cached) {
        let changed = fs.apply_layer(open_layer(store, image, i)?, i, &Catalogers)?;
        let found = match found {
            Some(f) => f,
            None => {
                let f = if changed {
                    catalog::catalog(&fs)
                } else {
                    progress.last.clone()
                };
                let json = serde_json::to_vec(&f)
                    .map_err(|e| ScanError::Invalid(format!("encoding a scan result: {e}")))?;
                fresh.push((chains[i].clone(), json));
                f
            }
        };
        progress.push(found);
    }
    // The cache only saves work: a store that cannot record (say, read-only) still scans.
    let _ = store.record_scan_results(SCANNER, config, &chains, &fresh);
    Ok(progress.finish(refs, n - start))
}
