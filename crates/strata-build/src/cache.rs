//! The build cache (the classic builder's ` ---> Using cache`): for every step, a small
//! JSON record under `<store>/build-cache/<key hex>` holding what the step produced (the
//! config after it, its history entry, its layer). The key chains the parent's key
//! with the step (its history text, which names the content hash of copied files, and
//! the flags that change its result), starting from the base image's config digest;
//! so a key stands for "this parent image config plus this instruction plus these
//! files". A record whose layer blob is no longer in the store is a miss.
//!
//! Records are written only when a build succeeds, so a failed build leaves the store
//! as it was.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_oci::{Digest, Digester};
use strata_store::Store;

use crate::config::ContainerConfig;

/// A layer a step made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRef {
    /// Media type of the blob.
    pub media_type: String,
    /// Blob digest.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
    /// Uncompressed digest.
    pub diff_id: Digest,
}

/// What a step produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The execution config after the step.
    pub config: ContainerConfig,
    /// The image author after the step.
    #[serde(default)]
    pub author: Option<String>,
    /// The step's history entry.
    pub history: Value,
    /// The step's layer (None for metadata-only steps).
    pub layer: Option<LayerRef>,
}

/// The key of a step: the parent's key, the step's text and what else decides it.
pub fn step_key(parent: &Digest, created_by: &str, extra: &str) -> Digest {
    let mut h = Digester::default();
    h.update(b"strata-build-cache-v1\n");
    h.update(parent.to_string().as_bytes());
    h.update(b"\n");
    h.update(created_by.as_bytes());
    h.update(b"\n");
    h.update(extra.as_bytes());
    h.finish()
}

/// The key a build starts from.
pub fn base_key(base: &str, platform: &str) -> Digest {
    let mut h = Digester::default();
    h.update(format!("strata-build-base-v1\n{base}\n{platform}").as_bytes());
    h.finish()
}

fn dir(store: &Store) -> PathBuf {
    store.root().join("build-cache")
}

/// The record for `key`, if there is one (unreadable records are misses).
pub fn get(store: &Store, key: &Digest) -> Option<Record> {
    let bytes = fs::read(dir(store).join(key.hex())).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes records (atomically each).
pub fn put_all(store: &Store, records: &[(Digest, Record)]) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let d = dir(store);
    fs::create_dir_all(&d)?;
    for (k, r) in records {
        let bytes = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        let tmp = d.join(format!(".{}.{}", k.hex(), std::process::id()));
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, d.join(k.hex()))?;
    }
    Ok(())
}

/// What [`prune`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Records removed.
    pub removed: usize,
    /// Their bytes on disk.
    pub bytes: u64,
}

/// Removes build-cache records (`strata builder prune`): with `all`, every record;
/// otherwise the dangling ones, whose layer blob is no longer in the store (a lookup
/// would miss anyway) or that cannot be read, and temporary files left by a build that
/// was killed while writing.
pub fn prune(store: &Store, all: bool) -> std::io::Result<PruneReport> {
    let mut report = PruneReport::default();
    let entries = match fs::read_dir(dir(store)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let meta = e.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let dangling = if name.starts_with('.') {
            // A record being written by a live build is renamed within milliseconds.
            meta.modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600))
        } else {
            all || match fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            {
                None => true,
                Some(r) => r.layer.is_some_and(|l| !store.has_blob(&l.digest)),
            }
        };
        if dangling {
            match fs::remove_file(e.path()) {
                Ok(()) => {
                    report.removed += 1;
                    report.bytes += meta.len();
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chain_and_records_round_trip() {
        let b = base_key("scratch", "linux/amd64");
        let k1 = step_key(&b, "/bin/sh -c #(nop)  ENV A=b", "");
        assert_ne!(k1, step_key(&b, "/bin/sh -c #(nop)  ENV A=c", ""));
        assert_ne!(
            k1,
            step_key(
                &base_key("scratch", "linux/arm64"),
                "/bin/sh -c #(nop)  ENV A=b",
                ""
            )
        );
        assert_eq!(k1, step_key(&b, "/bin/sh -c #(nop)  ENV A=b", ""));
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        assert!(get(&store, &k1).is_none());
        let rec = Record {
            config: ContainerConfig::default(),
            author: None,
            history: serde_json::json!({"created_by": "x", "empty_layer": true}),
            layer: None,
        };
        put_all(&store, &[(k1.clone(), rec)]).unwrap();
        let back = get(&store, &k1).unwrap();
        assert_eq!(back.history["created_by"], "x");
    }

    #[test]
    fn prune_removes_dangling_records_and_all_with_all() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let lease = store.lease(std::time::Duration::from_secs(60)).unwrap();
        let present = store.put_bytes(b"a layer", None, &lease).unwrap();
        store.release(lease).unwrap();
        let rec = |layer: Option<Digest>| Record {
            config: ContainerConfig::default(),
            author: None,
            history: serde_json::json!({"created_by": "x"}),
            layer: layer.map(|digest| LayerRef {
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                digest: digest.clone(),
                size: 7,
                diff_id: digest,
            }),
        };
        let b = base_key("scratch", "linux/amd64");
        let (k_meta, k_kept, k_gone) = (
            step_key(&b, "meta", ""),
            step_key(&b, "kept", ""),
            step_key(&b, "gone", ""),
        );
        put_all(
            &store,
            &[
                (k_meta.clone(), rec(None)),
                (k_kept.clone(), rec(Some(present))),
                (k_gone.clone(), rec(Some(Digest::sha256_of(b"not stored")))),
            ],
        )
        .unwrap();
        std::fs::write(dir(&store).join("garbage"), b"{not json").unwrap();
        let r = prune(&store, false).unwrap();
        assert_eq!(
            r.removed, 2,
            "the record of a missing layer and the unreadable one"
        );
        assert!(r.bytes > 0);
        assert!(get(&store, &k_gone).is_none());
        assert!(get(&store, &k_kept).is_some() && get(&store, &k_meta).is_some());
        assert_eq!(prune(&store, false).unwrap().removed, 0);
        assert_eq!(prune(&store, true).unwrap().removed, 2);
        assert!(get(&store, &k_kept).is_none());
    }
}
