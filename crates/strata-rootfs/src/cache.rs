//! The layer cache: unpacked root filesystems under `<store>/snapshots/<chainID hex>/`,
//! one per image top chain ID, with a `snapshots(chain_id, config)` row in the store's
//! database for every image that uses one (the store's garbage collector removes
//! snapshots no live image config uses).
//!
//! Building a snapshot starts from the longest chain-ID prefix already cached (a copy of
//! it) and applies only the layers above it, so unpacking, building on or scanning an
//! image whose lower layers were already unpacked applies only the new layers. A
//! snapshot is built in a `.tmp-*` directory and renamed into place, so a half-built
//! snapshot is never used.

use std::path::{Path, PathBuf};

use strata_store::{ResolvedImage, Store};

use crate::apply::{Applier, ApplyOptions, LayerReport};
use crate::error::{Result, RootfsError};
use crate::image::{apply_layers, chain_ids, ImageLayer};

/// A snapshot ready to read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its directory (read it; never modify it).
    pub path: PathBuf,
    /// Layers that came from the cache.
    pub cached_layers: usize,
    /// Layers applied to build it now.
    pub applied: Vec<LayerReport>,
}

/// The directory of the snapshot for `chain`.
pub fn snapshot_path(store: &Store, chain: &strata_oci::Digest) -> PathBuf {
    store.snapshots_dir().join(chain.hex())
}

/// Returns the snapshot of the image's top chain ID, building it from the longest
/// cached prefix if needed.
pub fn ensure(
    store: &Store,
    img: &ResolvedImage,
    layers: &[ImageLayer],
    opts: &ApplyOptions,
) -> Result<Snapshot> {
    let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let chains = chain_ids(&diff_ids);
    let config = &img.manifest.config.digest;
    let Some(top) = chains.last() else {
        return Err(RootfsError::Image("the image has no layers".into()));
    };
    let dir = store.snapshots_dir();
    std::fs::create_dir_all(&dir).map_err(|e| RootfsError::io(dir.display().to_string(), e))?;
    // Row first: GC keeps a snapshot while a live config has a row for it.
    store.record_snapshot_use(top, config)?;
    let top_path = snapshot_path(store, top);
    if top_path.is_dir() {
        return Ok(Snapshot {
            path: top_path,
            cached_layers: layers.len(),
            applied: Vec::new(),
        });
    }
    let base = (0..chains.len() - 1)
        .rev()
        .find(|&i| snapshot_path(store, &chains[i]).is_dir());
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&dir)
        .map_err(|e| RootfsError::io(format!("creating a directory in {}", dir.display()), e))?;
    let start = match base {
        Some(i) => {
            store.record_snapshot_use(&chains[i], config)?;
            copy_tree(&snapshot_path(store, &chains[i]), tmp.path(), opts)?;
            i + 1
        }
        None => 0,
    };
    let mut a = Applier::new(tmp.path(), opts.clone())?;
    let applied = apply_layers(store, &mut a, &layers[start..], opts)?;
    let path = tmp.keep();
    if let Err(e) = std::fs::rename(&path, &top_path) {
        // Another process published the same snapshot first: use theirs.
        let _ = remove_tree(&path);
        if !top_path.is_dir() {
            return Err(RootfsError::io(
                format!("publishing snapshot {}", top_path.display()),
                e,
            ));
        }
    }
    Ok(Snapshot {
        path: top_path,
        cached_layers: start,
        applied,
    })
}

/// Copies the tree at `src` into the existing empty directory `dst`, preserving every
/// type, mode, owner, time, xattr and hardlink (see [`crate::copy`]).
pub fn copy_tree(src: &Path, dst: &Path, opts: &ApplyOptions) -> Result<()> {
    crate::copy::copy_tree(src, dst, opts)
}

fn remove_tree(p: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(p)
}
