//! Scanning an image: streams its layers through the merged filesystem, runs the
//! catalogers after every layer that changed something they read, and attributes each
//! package to the earliest layer from which it is present continuously up to the top.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::{Deserialize, Serialize};
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
}

/// Scans layers given in order (base first) with readers of their (possibly
/// compressed) tars.
pub fn scan_layers<'a, I>(layers: I) -> Result<ScanResult, ScanError>
where
    I: IntoIterator<Item = Result<(LayerRef, Box<dyn Read + 'a>), ScanError>>,
{
    let mut fs = MergedFs::new();
    let mut refs = Vec::new();
    // The package keys present after each layer.
    let mut present: Vec<HashSet<Key>> = Vec::new();
    let mut last = catalog::Found::default();
    for (i, item) in layers.into_iter().enumerate() {
        let (info, reader) = item?;
        let changed = fs.apply_layer(reader, i, &Catalogers)?;
        if changed {
            last = catalog::catalog(&fs);
        }
        present.push(last.packages.iter().map(key).collect());
        refs.push(info);
    }
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
    Ok(ScanResult {
        distro: last.distro,
        packages,
        layers: refs,
    })
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

/// Scans an image whose layers are in the store.
pub fn scan_image(store: &Store, image: &ResolvedImage) -> Result<ScanResult, ScanError> {
    let refs = layer_refs(image);
    let items = image.layers.iter().zip(refs).map(|((d, _), r)| {
        let f = store
            .open_blob(&d.digest)
            .map_err(|e| ScanError::Layer(format!("layer {}: {e}", d.digest)))?;
        let reader: Box<dyn Read> = Box::new(std::io::BufReader::with_capacity(1 << 16, f));
        Ok((r, reader))
    });
    scan_layers(items)
}
