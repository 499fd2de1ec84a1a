//! Garbage collection that is safe while the registry serves.
//!
//! Mark: every repository's tags (and, unless `delete_untagged`, every manifest revision)
//! are roots; manifests are walked to their configs, layers and children; referrers of a
//! kept manifest are kept. Sweep: unmarked blobs are deleted only when they are older than
//! the grace window, re-checked just before deletion. Uploads touch their blobs, and a
//! manifest push touches the blobs it references, so a push that has uploaded its blobs but
//! not yet its manifest survives a concurrent collection. Expired upload sessions are purged.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use strata_oci::{media, Digest, Document};

use crate::error::RegistryError;
use crate::repo::{subject_of, Repo};
use crate::storage::{FsStorage, Storage};

/// Options for a collection.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be deleted without deleting.
    pub dry_run: bool,
    /// Delete manifests that no tag reaches (directly, as index child, or as referrer).
    pub delete_untagged: bool,
    /// Blobs and manifests modified within this window are never deleted.
    pub grace: Duration,
    /// Upload sessions idle longer than this are purged.
    pub upload_expiry: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace: Duration::from_secs(3600),
            upload_expiry: Duration::from_secs(3600),
        }
    }
}

/// What a collection did (or would do, on a dry run).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct GcReport {
    /// Repositories scanned.
    pub repositories: usize,
    /// Blobs kept because something references them.
    pub blobs_marked: usize,
    /// Unreferenced blobs kept because they are inside the grace window.
    pub blobs_in_grace: usize,
    /// Blobs deleted.
    pub blobs_deleted: Vec<String>,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Untagged manifests deleted (`repository@digest`).
    pub manifests_deleted: Vec<String>,
    /// Upload sessions purged.
    pub uploads_purged: usize,
}

/// Collects garbage in the filesystem registry at `root`.
pub async fn gc(root: &Path, opts: GcOptions) -> Result<GcReport, RegistryError> {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(root)?);
    let repo = Repo::new(storage);
    tokio::task::spawn_blocking(move || collect(&repo, &opts))
        .await
        .map_err(|e| RegistryError::Io(io::Error::other(e)))?
        .map_err(RegistryError::Io)
}

fn young(info: Option<crate::storage::ObjectInfo>, grace: Duration) -> bool {
    info.is_some_and(|i| {
        SystemTime::now()
            .duration_since(i.modified)
            .unwrap_or_default()
            < grace
    })
}

/// Collects garbage over any storage driver (synchronous; run it off the async runtime).
pub fn collect(repo: &Repo, opts: &GcOptions) -> io::Result<GcReport> {
    let s = &*repo.storage;
    let mut report = GcReport::default();
    let mut marked: HashSet<Digest> = HashSet::new();
    let repos = repo.catalog()?;
    report.repositories = repos.len();
    for name in &repos {
        let revisions = repo.revisions(name)?;
        let mut kept: HashSet<Digest> = HashSet::new();
        let mut stack: Vec<Digest> = Vec::new();
        for t in repo.tags(name)? {
            if let Some(d) = repo.resolve_tag(name, &t)? {
                stack.push(d);
            }
        }
        for d in &revisions {
            let rev_young = young(
                s.stat(&format!(
                    "repositories/{name}/_manifests/revisions/{}/{}",
                    d.algorithm().as_str(),
                    d.hex()
                ))?,
                opts.grace,
            );
            if !opts.delete_untagged || rev_young {
                stack.push(d.clone());
            }
        }
        // Subjects of each revision, to keep referrers of kept manifests.
        let mut subjects: Vec<(Digest, Digest)> = Vec::new();
        for d in &revisions {
            if let Some(body) = repo.read_blob_bytes(d)? {
                if let Ok(doc) = Document::parse(&body, None) {
                    if let Some(sub) = subject_of(&doc) {
                        subjects.push((d.clone(), sub.clone()));
                    }
                }
            }
        }
        loop {
            while let Some(d) = stack.pop() {
                if !kept.insert(d.clone()) {
                    continue;
                }
                marked.insert(d.clone());
                let Some(body) = repo.read_blob_bytes(&d)? else {
                    continue;
                };
                let Ok(doc) = Document::parse(&body, None) else {
                    continue;
                };
                for c in doc.children() {
                    marked.insert(c.digest.clone());
                    if (media::is_manifest(&c.media_type) || media::is_index(&c.media_type))
                        && revisions.contains(&c.digest)
                    {
                        stack.push(c.digest.clone());
                    }
                }
            }
            let more: Vec<Digest> = subjects
                .iter()
                .filter(|(r, sub)| kept.contains(sub) && !kept.contains(r))
                .map(|(r, _)| r.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            stack.extend(more);
        }
        if opts.delete_untagged {
            for d in revisions.iter().filter(|d| !kept.contains(*d)) {
                report.manifests_deleted.push(format!("{name}@{d}"));
                if !opts.dry_run {
                    repo.delete_manifest(name, d)?;
                }
            }
        }
    }
    report.blobs_marked = marked.len();
    let mut deleted: HashSet<Digest> = HashSet::new();
    for alg in s.list("blobs")? {
        for hex in s.list(&format!("blobs/{alg}"))? {
            let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) else {
                continue;
            };
            if marked.contains(&d) {
                continue;
            }
            let key = format!("blobs/{alg}/{hex}");
            let info = s.stat(&key)?;
            if young(info, opts.grace) {
                report.blobs_in_grace += 1;
                continue;
            }
            // Re-check right before deleting, excluding in-process manifest pushes: a push
            // may have touched it meanwhile.
            let _sweep = repo.sweep_lock.write().unwrap_or_else(|e| e.into_inner());
            let again = s.stat(&key)?;
            if young(again, opts.grace) {
                report.blobs_in_grace += 1;
                continue;
            }
            report.bytes_freed += again.map(|i| i.size).unwrap_or(0);
            report.blobs_deleted.push(d.to_string());
            if !opts.dry_run {
                s.delete(&key)?;
            }
            deleted.insert(d);
        }
    }
    if !opts.dry_run && !deleted.is_empty() {
        // Drop repository links to blobs that are gone.
        for name in &repos {
            for d in repo.layers(name)? {
                if deleted.contains(&d) && repo.blob_stat(&d)?.is_none() {
                    repo.unlink_blob(name, &d)?;
                }
            }
        }
    }
    if !opts.dry_run {
        report.uploads_purged = repo.purge_uploads(opts.upload_expiry)?;
    }
    Ok(report)
}
