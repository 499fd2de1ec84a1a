//! Leases and garbage collection by reachability.
//!
//! Roots are the names in `images` and the blobs of live leases (a lease is live while
//! it has not expired and the process that took it still runs). GC follows `edges` from
//! the roots and removes every other blob, its rows and its file. Writers hold `gc.lock`
//! shared while they publish a blob and record it under their lease; GC holds it
//! exclusive, so a blob is never removed between being found present and being leased.
//! A full collection also drops the layer-cache snapshots and scan-cache results that no
//! live image config uses.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::time::{Duration, SystemTime};

use rusqlite::params;
use strata_oci::Digest;

use crate::meta::now_nanos;
use crate::{Result, Store, StoreError};

/// Protects blobs while an operation that has not yet named them runs.
#[derive(Debug)]
pub struct Lease {
    id: String,
}

impl Lease {
    /// The lease's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Removed blobs and their sizes.
    pub removed: Vec<(Digest, u64)>,
    /// Stale ingests removed.
    pub ingests_removed: usize,
    /// Layer-cache snapshots removed (no live image uses their chain ID).
    pub snapshots_removed: usize,
    /// Scan-cache results removed (no live image uses their chain ID).
    pub scan_results_removed: usize,
}

impl GcReport {
    /// Bytes freed.
    pub fn reclaimed(&self) -> u64 {
        self.removed.iter().map(|(_, s)| s).sum()
    }
}

/// Holds `gc.lock` (shared for writers, exclusive for GC) until dropped.
pub(crate) struct GcGuard {
    file: File,
}

impl GcGuard {
    fn open(store: &Store) -> Result<File> {
        let p = store.root().join("gc.lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| StoreError::io(p, e))
    }
    pub(crate) fn shared(store: &Store) -> Result<GcGuard> {
        let file = Self::open(store)?;
        file.lock_shared()
            .map_err(|e| StoreError::io(store.root().join("gc.lock"), e))?;
        Ok(GcGuard { file })
    }
    pub(crate) fn exclusive(store: &Store) -> Result<GcGuard> {
        let file = Self::open(store)?;
        file.lock()
            .map_err(|e| StoreError::io(store.root().join("gc.lock"), e))?;
        Ok(GcGuard { file })
    }
}

impl Drop for GcGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn pid_alive(pid: i64) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// How long an ingest nobody holds is kept for a later resume.
pub const INGEST_EXPIRY: Duration = Duration::from_secs(24 * 3600);

impl Store {
    /// Takes a lease that protects what is written under it for `ttl` (or until this
    /// process exits).
    pub fn lease(&self, ttl: Duration) -> Result<Lease> {
        let id = format!("{}-{}", std::process::id(), now_nanos());
        let expires = now_nanos().saturating_add(ttl.as_nanos() as i64);
        self.meta().conn().execute(
            "INSERT INTO leases(id, pid, expires_at) VALUES (?1, ?2, ?3)",
            params![id, std::process::id() as i64, expires],
        )?;
        Ok(Lease { id })
    }

    /// Releases a lease: its blobs are now protected only by names.
    pub fn release(&self, lease: Lease) -> Result<()> {
        let mut c = self.meta().conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM lease_blobs WHERE lease = ?1", [&lease.id])?;
        tx.execute("DELETE FROM leases WHERE id = ?1", [&lease.id])?;
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` under a fresh lease: released when `f` succeeds, aborted (what it alone
    /// added is removed) when it fails, so the store is as before the failure.
    pub fn with_lease<T>(&self, ttl: Duration, f: impl FnOnce(&Lease) -> Result<T>) -> Result<T> {
        let lease = self.lease(ttl)?;
        match f(&lease) {
            Ok(v) => {
                self.release(lease)?;
                Ok(v)
            }
            Err(e) => {
                self.abort(lease)?;
                Err(e)
            }
        }
    }

    /// Releases a lease after a failed operation and removes what it alone had added,
    /// so the store is as it was before the operation started.
    pub fn abort(&self, lease: Lease) -> Result<GcReport> {
        let added: Vec<Digest> = {
            let c = self.meta().conn();
            let mut st = c.prepare("SELECT digest FROM lease_blobs WHERE lease = ?1")?;
            let rows = st.query_map([lease.id()], |r| r.get::<_, String>(0))?;
            rows.filter_map(|r| r.ok())
                .filter_map(|s| Digest::parse(&s).ok())
                .collect()
        };
        self.release(lease)?;
        self.collect(Some(&added.into_iter().collect()))
    }

    /// Removes every blob nothing reaches, and ingests idle for a day.
    pub fn gc(&self) -> Result<GcReport> {
        self.collect(None)
    }

    fn collect(&self, only: Option<&HashSet<Digest>>) -> Result<GcReport> {
        let _g = GcGuard::exclusive(self)?;
        let mut report = GcReport::default();
        let now = now_nanos();
        let mut roots: Vec<Digest> = Vec::new();
        {
            let mut c = self.meta().conn();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let dead: Vec<String> = {
                let mut st = tx.prepare("SELECT id, pid, expires_at FROM leases")?;
                let rows = st.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                rows.filter_map(|r| r.ok())
                    .filter(|(_, pid, exp)| *exp < now || !pid_alive(*pid))
                    .map(|(id, _, _)| id)
                    .collect()
            };
            for id in &dead {
                tx.execute("DELETE FROM lease_blobs WHERE lease = ?1", [id])?;
                tx.execute("DELETE FROM leases WHERE id = ?1", [id])?;
            }
            {
                let mut st =
                    tx.prepare("SELECT digest FROM images UNION SELECT digest FROM lease_blobs")?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                roots.extend(
                    rows.filter_map(|r| r.ok())
                        .filter_map(|s| Digest::parse(&s).ok()),
                );
            }
            tx.commit()?;
        }
        let mut live: HashSet<Digest> = HashSet::new();
        let mut queue: VecDeque<Digest> = roots.into_iter().collect();
        while let Some(d) = queue.pop_front() {
            if live.insert(d.clone()) {
                queue.extend(self.meta().children(&d)?);
            }
        }
        // Candidates: recorded blobs and files on disk that no row describes.
        let mut candidates: Vec<(Digest, u64)> = self.meta().blobs()?;
        let known: HashSet<Digest> = candidates.iter().map(|(d, _)| d.clone()).collect();
        for alg in ["sha256", "sha512"] {
            let dir = self.root().join("blobs").join(alg);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Ok(d) = Digest::parse(&format!("{alg}:{name}")) {
                    if !known.contains(&d) {
                        let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                        candidates.push((d, size));
                    }
                }
            }
        }
        for (d, size) in candidates {
            if live.contains(&d) || only.is_some_and(|o| !o.contains(&d)) {
                continue;
            }
            {
                let mut c = self.meta().conn();
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute("DELETE FROM blobs WHERE digest = ?1", [d.to_string()])?;
                tx.execute("DELETE FROM edges WHERE parent = ?1", [d.to_string()])?;
                tx.execute("DELETE FROM layers WHERE digest = ?1", [d.to_string()])?;
                tx.execute("DELETE FROM summaries WHERE digest = ?1", [d.to_string()])?;
                tx.commit()?;
            }
            let p = self.blob_path(&d);
            match fs::remove_file(&p) {
                Ok(()) => report.removed.push((d, size)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(p, e)),
            }
        }
        if only.is_none() {
            report.ingests_removed = self.expire_ingests()?;
            report.snapshots_removed = self.collect_snapshots(&live)?;
            report.scan_results_removed = self.collect_scan_results(&live)?;
        }
        Ok(report)
    }

    fn expire_ingests(&self) -> Result<usize> {
        let dir = self.root().join("ingest");
        let mut n = 0;
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(0);
        };
        for e in rd.flatten() {
            let p = e.path();
            let age = fs::metadata(p.join("data"))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or(INGEST_EXPIRY);
            if age < INGEST_EXPIRY {
                continue;
            }
            let Ok(lock) = File::open(p.join("lock")) else {
                let _ = fs::remove_dir_all(&p);
                n += 1;
                continue;
            };
            if lock.try_lock().is_ok() {
                let _ = fs::remove_dir_all(&p);
                n += 1;
            }
        }
        Ok(n)
    }
}
