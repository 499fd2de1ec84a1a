//! Bookkeeping for the layer cache that `strata-rootfs` keeps under
//! `<root>/snapshots/<chainID hex>/` (unpacked root filesystems keyed by chain ID).
//!
//! The `snapshots(chain_id, config)` table says which image configs use which snapshot.
//! A row is written before a snapshot is published, so garbage collection (which runs
//! after the blob sweep) keeps a snapshot while any live config uses it and removes
//! the others, along with directories no row describes. Directories whose names start
//! with `.` are snapshots being built; they are left alone for a day.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use rusqlite::params;
use strata_oci::Digest;

use crate::gc::INGEST_EXPIRY;
use crate::{Result, Store, StoreError};

impl Store {
    /// Where the layer cache lives.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root().join("snapshots")
    }

    /// The directory of the snapshot of `chain_id` (it may not exist).
    pub fn snapshot_path(&self, chain_id: &Digest) -> PathBuf {
        self.snapshots_dir().join(chain_id.hex())
    }

    /// Records that the image with config `config` uses the snapshot of `chain_id`.
    pub fn record_snapshot_use(&self, chain_id: &Digest, config: &Digest) -> Result<()> {
        self.meta().conn().execute(
            "INSERT OR IGNORE INTO snapshots(chain_id, config) VALUES (?1, ?2)",
            params![chain_id.to_string(), config.to_string()],
        )?;
        Ok(())
    }

    /// Removes snapshots no live config uses; returns how many directories went.
    pub(crate) fn collect_snapshots(&self, live: &HashSet<Digest>) -> Result<usize> {
        let keep: HashSet<String> = {
            let c = self.meta().conn();
            let rows: Vec<(String, String)> = {
                let mut st = c.prepare("SELECT chain_id, config FROM snapshots")?;
                let r = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                r.filter_map(|r| r.ok()).collect()
            };
            let mut keep = HashSet::new();
            for (chain, config) in rows {
                if Digest::parse(&config).is_ok_and(|d| live.contains(&d)) {
                    keep.insert(chain);
                } else {
                    c.execute(
                        "DELETE FROM snapshots WHERE chain_id = ?1 AND config = ?2",
                        params![chain, config],
                    )?;
                }
            }
            keep
        };
        let dir = self.snapshots_dir();
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut n = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                let age = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok());
                if age.is_none_or(|a| a < INGEST_EXPIRY) {
                    continue;
                }
            } else if keep.contains(&format!("sha256:{name}")) {
                continue;
            }
            let p = e.path();
            make_writable(&p);
            fs::remove_dir_all(&p).map_err(|err| StoreError::io(&p, err))?;
            n += 1;
        }
        Ok(n)
    }
}

/// Gives the owner write and search permission on every directory below `p`, so an
/// unprivileged GC can remove a tree that had read-only directories.
fn make_writable(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(m) = fs::symlink_metadata(p) else {
        return;
    };
    if !m.is_dir() {
        return;
    }
    let _ = fs::set_permissions(
        p,
        fs::Permissions::from_mode((m.permissions().mode() & 0o7777) | 0o700),
    );
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            make_writable(&e.path());
        }
    }
}
