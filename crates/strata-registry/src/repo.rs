//! The registry's data model on top of a [`Storage`]: blobs shared by every repository,
//! per-repository links (layers, manifest revisions, tags, referrers) and upload sessions.
//! Every function here is synchronous and is called from `spawn_blocking`.
//!
//! Keys (all components validated by [`crate::validate`] before they get here):
//! ```text
//! blobs/<alg>/<hex>                                        content, one copy per digest
//! repositories/<name>/_layers/<alg>/<hex>                  link: blob readable in <name>
//! repositories/<name>/_manifests/revisions/<alg>/<hex>     link: manifest, holds its Content-Type
//! repositories/<name>/_manifests/tags/<tag>                holds the tagged digest
//! repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   descriptor JSON of a referrer
//! _uploads/<id>/info, _uploads/<id>/data                   upload session (bound to a repository)
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use strata_oci::{Digest, Document};

use crate::storage::{ObjectInfo, Storage, WriteError};

/// Key of a blob's content.
pub fn blob_key(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}
fn repo_key(name: &str) -> String {
    format!("repositories/{name}")
}
fn layer_key(name: &str, d: &Digest) -> String {
    format!(
        "repositories/{name}/_layers/{}/{}",
        d.algorithm().as_str(),
        d.hex()
    )
}
fn revision_key(name: &str, d: &Digest) -> String {
    format!(
        "repositories/{name}/_manifests/revisions/{}/{}",
        d.algorithm().as_str(),
        d.hex()
    )
}
fn tags_key(name: &str) -> String {
    format!("repositories/{name}/_manifests/tags")
}
fn tag_key(name: &str, tag: &str) -> String {
    format!("repositories/{name}/_manifests/tags/{tag}")
}
fn referrers_key(name: &str, subject: &Digest) -> String {
    format!(
        "repositories/{name}/_referrers/{}/{}",
        subject.algorithm().as_str(),
        subject.hex()
    )
}
fn referrer_key(name: &str, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "{}/{}-{}",
        referrers_key(name, subject),
        referrer.algorithm().as_str(),
        referrer.hex()
    )
}
/// Key of an upload session's data.
pub fn upload_data_key(id: &str) -> String {
    format!("_uploads/{id}/data")
}
fn upload_info_key(id: &str) -> String {
    format!("_uploads/{id}/info")
}

/// An upload session's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    /// The repository the session belongs to; other repositories cannot see it.
    pub repository: String,
    /// Creation time, seconds since the epoch.
    pub started: u64,
}

/// A stored manifest: its digest, Content-Type and size.
#[derive(Debug, Clone)]
pub struct ManifestMeta {
    /// Digest of the exact bytes.
    pub digest: Digest,
    /// The Content-Type it was pushed with.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// The registry's content, over any storage driver.
#[derive(Clone)]
pub struct Repo {
    /// The storage driver.
    pub storage: Arc<dyn Storage>,
    /// Serialises an in-process garbage collection's deletions (write side) against
    /// manifest pushes checking and touching their blobs (read side). A collection run by
    /// another process relies on the grace window and the touches alone.
    pub sweep_lock: Arc<std::sync::RwLock<()>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read_small(s: &dyn Storage, key: &str) -> io::Result<Option<Vec<u8>>> {
    match s.read(key, None) {
        Ok(mut r) => {
            let mut v = Vec::new();
            r.by_ref().take(8 * 1024 * 1024).read_to_end(&mut v)?;
            Ok(Some(v))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses `<alg>/<hex>` listings back into digests.
fn digests_under(s: &dyn Storage, prefix: &str) -> io::Result<Vec<Digest>> {
    let mut out = Vec::new();
    for alg in s.list(prefix)? {
        for hex in s.list(&format!("{prefix}/{alg}"))? {
            if let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

impl Repo {
    /// A registry over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Repo {
            storage,
            sweep_lock: Default::default(),
        }
    }

    fn s(&self) -> &dyn Storage {
        &*self.storage
    }

    /// Whether the repository exists (has any manifest or layer link).
    pub fn repo_exists(&self, name: &str) -> io::Result<bool> {
        Ok(self
            .s()
            .list(&repo_key(name))?
            .iter()
            .any(|c| c == "_manifests" || c == "_layers"))
    }

    /// The blob's size if it exists globally.
    pub fn blob_stat(&self, d: &Digest) -> io::Result<Option<ObjectInfo>> {
        self.s().stat(&blob_key(d))
    }

    /// The blob's size if it is readable in repository `name` (linked there as a layer or
    /// a manifest) and present.
    pub fn repo_blob(&self, name: &str, d: &Digest) -> io::Result<Option<ObjectInfo>> {
        let linked = self.s().stat(&layer_key(name, d))?.is_some()
            || self.s().stat(&revision_key(name, d))?.is_some();
        if !linked {
            return Ok(None);
        }
        self.blob_stat(d)
    }

    /// Links an existing blob into a repository (uploads and mounts). The blob is touched
    /// so that garbage collection's grace window covers the push that follows.
    pub fn link_blob(&self, name: &str, d: &Digest) -> io::Result<()> {
        self.s()
            .put(&layer_key(name, d), d.to_string().as_bytes())?;
        match self.s().touch(&blob_key(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes a blob's link from a repository (the content is left to garbage collection).
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> io::Result<bool> {
        self.s().delete(&layer_key(name, d))
    }

    /// Reads a blob (or a range of it).
    pub fn read_blob(
        &self,
        d: &Digest,
        range: Option<(u64, u64)>,
    ) -> io::Result<Box<dyn Read + Send>> {
        self.s().read(&blob_key(d), range)
    }

    /// Reads a whole small blob (manifests, configs) into memory.
    pub fn read_blob_bytes(&self, d: &Digest) -> io::Result<Option<Vec<u8>>> {
        read_small(self.s(), &blob_key(d))
    }

    // ---- uploads -------------------------------------------------------------------

    /// Starts an upload session bound to `name`.
    pub fn start_upload(&self, name: &str, id: &str) -> io::Result<()> {
        let info = UploadInfo {
            repository: name.to_string(),
            started: now_secs(),
        };
        // Session state: a crash may lose it (the client then starts over, as for any
        // upload cut off by a crash), so it is not fsynced. Committed blobs are.
        self.s().put_scratch(
            &upload_info_key(id),
            &serde_json::to_vec(&info).map_err(io::Error::other)?,
        )?;
        self.s().put_scratch(&upload_data_key(id), b"")
    }

    /// The session's current size, when it exists, belongs to `name` and has not expired.
    pub fn upload_size(&self, name: &str, id: &str, expiry: Duration) -> io::Result<Option<u64>> {
        let Some(raw) = read_small(self.s(), &upload_info_key(id))? else {
            return Ok(None);
        };
        let Ok(info) = serde_json::from_slice::<UploadInfo>(&raw) else {
            return Ok(None);
        };
        if info.repository != name {
            return Ok(None);
        }
        let Some(stat) = self.s().stat(&upload_data_key(id))? else {
            return Ok(None);
        };
        if stat.modified.elapsed().unwrap_or_default() > expiry {
            self.s().delete(&format!("_uploads/{id}"))?;
            return Ok(None);
        }
        Ok(Some(stat.size))
    }

    /// Appends to a session (see [`Storage::append`]).
    pub fn append_upload(
        &self,
        id: &str,
        data: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<u64, WriteError> {
        self.s().append(&upload_data_key(id), data, expected_len)
    }

    /// Verifies and moves a session's data into the blob store, links it into `name` and
    /// ends the session. On digest mismatch the session is ended and nothing is stored.
    pub fn finish_upload(&self, name: &str, id: &str, d: &Digest) -> Result<u64, WriteError> {
        let res = self.s().commit(&upload_data_key(id), &blob_key(d), d, None);
        self.s().delete(&format!("_uploads/{id}"))?;
        let n = res?;
        self.link_blob(name, d)?;
        Ok(n)
    }

    /// Cancels a session.
    pub fn cancel_upload(&self, id: &str) -> io::Result<bool> {
        self.s().delete(&format!("_uploads/{id}"))
    }

    /// Deletes sessions idle longer than `expiry`. Returns how many were purged.
    pub fn purge_uploads(&self, expiry: Duration) -> io::Result<usize> {
        let mut purged = 0;
        for id in self.s().list("_uploads")? {
            let key = upload_data_key(&id);
            let stale = match self.s().stat(&key)? {
                Some(st) => st.modified.elapsed().unwrap_or_default() > expiry,
                // A session whose data is missing is broken: purge it too, if its info is old.
                None => self
                    .s()
                    .stat(&upload_info_key(&id))?
                    .is_none_or(|st| st.modified.elapsed().unwrap_or_default() > expiry),
            };
            if stale && self.s().delete(&format!("_uploads/{id}"))? {
                purged += 1;
            }
        }
        Ok(purged)
    }

    // ---- manifests -----------------------------------------------------------------

    /// Resolves a tag to a digest.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        Ok(read_small(self.s(), &tag_key(name, tag))?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| Digest::parse(s.trim()).ok()))
    }

    /// A manifest's metadata when `name` has it.
    pub fn manifest_meta(&self, name: &str, d: &Digest) -> io::Result<Option<ManifestMeta>> {
        let Some(ct) = read_small(self.s(), &revision_key(name, d))? else {
            return Ok(None);
        };
        let Some(stat) = self.blob_stat(d)? else {
            return Ok(None);
        };
        Ok(Some(ManifestMeta {
            digest: d.clone(),
            content_type: String::from_utf8_lossy(&ct).trim().to_string(),
            size: stat.size,
        }))
    }

    /// Stores a manifest's bytes and links it (and its tags) into `name`. The caller has
    /// verified the digest and parsed the document.
    pub fn put_manifest(
        &self,
        name: &str,
        d: &Digest,
        body: &[u8],
        content_type: &str,
        doc: &Document,
        tags: &[String],
    ) -> io::Result<()> {
        let key = blob_key(d);
        if self.s().stat(&key)?.is_some() {
            self.s().touch(&key)?;
        } else {
            self.s().put(&key, body)?;
        }
        self.s()
            .put(&revision_key(name, d), content_type.as_bytes())?;
        if let Some(subject) = subject_of(doc) {
            let desc = referrer_descriptor(doc, d, body.len() as u64);
            self.s().put(
                &referrer_key(name, subject, d),
                &serde_json::to_vec(&desc).map_err(io::Error::other)?,
            )?;
        }
        for t in tags {
            self.s().put(&tag_key(name, t), d.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Touches every blob `doc` references (so a concurrent garbage collection keeps them),
    /// then returns the first of `needed` that `name` does not have.
    pub fn touch_and_check(
        &self,
        name: &str,
        doc: &Document,
        needed: &[Digest],
    ) -> io::Result<Option<Digest>> {
        for c in doc.children() {
            match self.s().touch(&blob_key(&c.digest)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        for d in needed {
            if self.repo_blob(name, d)?.is_none() {
                return Ok(Some(d.clone()));
            }
        }
        Ok(None)
    }

    /// Deletes a tag. Returns whether it existed.
    pub fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        self.s().delete(&tag_key(name, tag))
    }

    /// Deletes a manifest revision from `name`, with every tag pointing at it and its
    /// referrer entry. Returns whether it existed.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> io::Result<bool> {
        if self.s().stat(&revision_key(name, d))?.is_none() {
            return Ok(false);
        }
        for t in self.tags(name)? {
            if self.resolve_tag(name, &t)?.as_ref() == Some(d) {
                self.s().delete(&tag_key(name, &t))?;
            }
        }
        if let Some(body) = self.read_blob_bytes(d)? {
            if let Ok(doc) = Document::parse(&body, None) {
                if let Some(subject) = subject_of(&doc) {
                    self.s().delete(&referrer_key(name, subject, d))?;
                }
            }
        }
        self.s().delete(&revision_key(name, d))
    }

    /// All tags of `name`, sorted bytewise.
    pub fn tags(&self, name: &str) -> io::Result<Vec<String>> {
        self.s().list(&tags_key(name))
    }

    /// Every manifest revision of `name`.
    pub fn revisions(&self, name: &str) -> io::Result<Vec<Digest>> {
        digests_under(
            self.s(),
            &format!("repositories/{name}/_manifests/revisions"),
        )
    }

    /// Every blob linked into `name`.
    pub fn layers(&self, name: &str) -> io::Result<Vec<Digest>> {
        digests_under(self.s(), &format!("repositories/{name}/_layers"))
    }

    /// The referrer descriptors of `subject` in `name`, optionally filtered by artifact type.
    pub fn referrers(
        &self,
        name: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> io::Result<Vec<serde_json::Value>> {
        let prefix = referrers_key(name, subject);
        let mut out = Vec::new();
        for entry in self.s().list(&prefix)? {
            let Some(raw) = read_small(self.s(), &format!("{prefix}/{entry}"))? else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&raw) else {
                continue;
            };
            if let Some(at) = artifact_type {
                if v.get("artifactType").and_then(|x| x.as_str()) != Some(at) {
                    continue;
                }
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Every repository name, sorted bytewise. Walks the repositories tree.
    pub fn catalog(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let key = if prefix.is_empty() {
                "repositories".to_string()
            } else {
                format!("repositories/{prefix}")
            };
            for child in self.s().list(&key)? {
                if child.starts_with('_') {
                    if !prefix.is_empty()
                        && (child == "_manifests" || child == "_layers")
                        && out.last() != Some(&prefix)
                    {
                        out.push(prefix.clone());
                    }
                    continue;
                }
                stack.push(if prefix.is_empty() {
                    child
                } else {
                    format!("{prefix}/{child}")
                });
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The subject digest of a document, if any.
pub fn subject_of(doc: &Document) -> Option<&Digest> {
    match doc {
        Document::Manifest(m) => m.subject.as_ref().map(|s| &s.digest),
        Document::Index(i) => i.subject.as_ref().map(|s| &s.digest),
    }
}

/// The descriptor listed by the referrers API for a referrer manifest: mediaType, digest,
/// size, artifactType (falling back to the config's media type) and annotations.
pub fn referrer_descriptor(doc: &Document, d: &Digest, size: u64) -> serde_json::Value {
    let (artifact_type, annotations): (Option<String>, Option<&BTreeMap<String, String>>) =
        match doc {
            Document::Manifest(m) => (
                m.artifact_type
                    .clone()
                    .or_else(|| Some(m.config.media_type.clone())),
                m.annotations.as_ref(),
            ),
            Document::Index(i) => (i.artifact_type.clone(), i.annotations.as_ref()),
        };
    let mut v = serde_json::json!({
        "mediaType": doc.media_type(),
        "digest": d.to_string(),
        "size": size,
    });
    if let Some(at) = artifact_type {
        v["artifactType"] = at.into();
    }
    if let Some(a) = annotations {
        if !a.is_empty() {
            v["annotations"] = serde_json::to_value(a).unwrap_or_default();
        }
    }
    v
}
