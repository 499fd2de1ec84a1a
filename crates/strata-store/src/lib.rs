//! The local, content-addressed image store.
//!
//! Layout under the root (see `docs/STORE.md`):
//!
//! ```text
//! <root>/blobs/sha256/<hex>      committed, verified, read-only blobs
//! <root>/ingest/<sha256(ref)>/   in-progress writes, resumable by ref
//! <root>/meta.db                 SQLite (WAL): names, blobs, edges, layers, leases
//! <root>/gc.lock                 shared by writers, exclusive for garbage collection
//! <root>/snapshots/<chainID hex>/ the layer cache: unpacked trees keyed by chain ID
//! ```
//!
//! Bytes are immutable and named by digest; names (`docker.io/library/alpine:latest`)
//! point at a manifest or index descriptor in the metadata database. Garbage collection
//! removes every blob not reachable from a name or an unexpired lease.
//!
//! * [`blobs`]: the content store and resumable ingests.
//! * [`meta`]: the SQLite schema and queries.
//! * [`layer`]: per-layer facts (diff ID, Docker's unpacked size) computed while streaming.
//! * [`gc`]: leases and reachability garbage collection.
//! * [`image`]: images as the commands see them (resolved manifests, configs, sizes).
//! * [`archive`]: `docker save` archives and OCI layouts in and out.
//! * [`snapshots`]: bookkeeping of the layer cache (unpacked trees keyed by chain ID).
//! * [`scan_cache`]: scan results keyed by chain ID, so scans read only new layers.

pub mod archive;
pub mod blobs;
pub mod blocks;
pub mod compose;
pub mod compress;
pub mod error;
pub mod gc;
pub mod image;
pub mod layer;
pub mod meta;
pub mod scan_cache;
pub mod snapshots;

use std::path::{Path, PathBuf};

pub use blobs::{BlobWriter, IngestStatus};
pub use compose::{NewImage, Step};
pub use error::StoreError;
pub use gc::{GcReport, Lease};
pub use image::{ImageRecord, PlatformImage, ResolvedImage};
pub use meta::{Meta, NameRecord, Summary};

/// Result type of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open store. Cheap to share between threads behind an `Arc`; several processes may
/// open the same root at once.
pub struct Store {
    root: PathBuf,
    meta: Meta,
}

impl Store {
    /// The default root: `$STRATA_ROOT`, else `/var/lib/strata` for root, else
    /// `$XDG_DATA_HOME/strata` (`~/.local/share/strata`).
    pub fn default_root() -> PathBuf {
        if let Some(r) = std::env::var_os("STRATA_ROOT").filter(|r| !r.is_empty()) {
            return PathBuf::from(r);
        }
        if is_root_user() {
            return PathBuf::from("/var/lib/strata");
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|r| !r.is_empty()) {
            return PathBuf::from(x).join("strata");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".local/share/strata")
    }

    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        for d in ["blobs/sha256", "blobs/sha512", "ingest", "tmp"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| StoreError::io(root.join(d), e))?;
        }
        let meta = Meta::open(&root.join("meta.db"))?;
        Ok(Store { root, meta })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The metadata database.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// A directory for scratch files on the same filesystem as the blobs.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

fn is_root_user() -> bool {
    // The effective uid from /proc avoids unsafe libc calls.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
