//! `push`: an image from the store to a registry.
//!
//! Every blob (config and layers, of every platform of an index) is checked with HEAD
//! and skipped when the registry has it; otherwise a cross-repository mount is tried
//! from other repositories of the same registry that the store knows hold the blob (its
//! names there), and only then is it uploaded: monolithic when it fits in one chunk,
//! else chunked. Blobs go up concurrently (`max_concurrent_uploads`), then the platform
//! manifests by digest, then the manifest or index under the tag, byte for byte as
//! stored so the digest does not change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use strata_oci::{media, Descriptor, Digest, Document, Platform, Reference};
use strata_store::Store;
use tokio::sync::{mpsc, Semaphore};

use crate::client::Client;
use crate::error::{RemoteError, Result};
use crate::event::{Event, Status};

/// Options of a push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once (Docker's default: 5).
    pub max_concurrent_uploads: usize,
    /// Large blobs go up in PATCH chunks of this size; 0 streams each in one PATCH.
    pub chunk_size: u64,
    /// Push only this platform's manifest of an index (the tag then names it).
    pub platform: Option<Platform>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            max_concurrent_uploads: 5,
            chunk_size: 0,
            platform: None,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushResult {
    /// The tag pushed.
    pub tag: String,
    /// Digest of what the tag now names.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
}

enum Msg {
    Ev(Event),
    Done(Result<u64>),
}

/// For each blob, the repositories (paths) on `domain` other than `exclude` whose
/// images in the store contain it: candidates for a cross-repository mount.
fn mount_sources(store: &Store, domain: &str, exclude: &str) -> HashMap<Digest, Vec<String>> {
    let mut out: HashMap<Digest, Vec<String>> = HashMap::new();
    let Ok(names) = store.meta().names() else {
        return out;
    };
    for n in names {
        let Ok(r) = Reference::parse_normalized(&n.name) else {
            continue;
        };
        if r.domain() != domain || r.path() == exclude {
            continue;
        }
        let mut manifests = vec![n.digest.clone()];
        if let Ok(Document::Index(i)) = store.read_document(&n.digest, Some(&n.media_type)) {
            manifests = i.manifests.iter().map(|d| d.digest.clone()).collect();
        }
        for m in manifests {
            if let Ok(Document::Manifest(m)) = store.read_document(&m, None) {
                for b in std::iter::once(&m.config).chain(m.layers.iter()) {
                    let v = out.entry(b.digest.clone()).or_default();
                    if !v.iter().any(|p| p == r.path()) {
                        v.push(r.path().to_string());
                    }
                }
            }
        }
    }
    out
}

/// Pushes the local image named `reference` (with a tag) to its registry.
pub async fn push<F: FnMut(Event)>(
    client: &Client,
    store: Arc<Store>,
    reference: &Reference,
    opts: &PushOptions,
    mut progress: F,
) -> Result<PushResult> {
    let tag = reference
        .tag()
        .ok_or_else(|| RemoteError::Invalid(format!("{reference}: a tag is required to push")))?
        .to_string();
    let rec = store
        .meta()
        .name(&reference.to_string())?
        .ok_or_else(|| RemoteError::NotLocal(reference.familiar_string()))?;
    progress(Event::PushRefersTo {
        repository: reference.name(),
    });
    let target = Descriptor::new(&rec.media_type, rec.digest.clone(), rec.size);
    let top_bytes = store.read_blob(&target.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
    let top_doc = Document::parse(&top_bytes, Some(&target.media_type))?;

    // (descriptor, bytes) of each platform manifest to push, and what the tag names.
    let mut manifests: Vec<(Descriptor, Vec<u8>)> = Vec::new();
    let (tag_desc, tag_bytes) = match &top_doc {
        Document::Manifest(_) => (target.clone(), top_bytes.clone()),
        Document::Index(idx) => {
            let entries: Vec<&Descriptor> = match &opts.platform {
                Some(want) => vec![idx
                    .manifests
                    .iter()
                    .filter(|d| media::is_manifest(&d.media_type))
                    .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
                    .ok_or_else(|| {
                        RemoteError::NoMatchingPlatform(want.clone().normalized().to_string())
                    })?],
                None => idx.manifests.iter().collect(),
            };
            for e in &entries {
                if !store.has_blob(&e.digest) {
                    let plat = e
                        .platform
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| e.digest.to_string());
                    return Err(RemoteError::Invalid(format!(
                        "content for {plat} of {} is not in the store: pull it (--platform {plat}) or push one platform with --platform",
                        reference.familiar_string()
                    )));
                }
                let b = store.read_blob(&e.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
                manifests.push(((*e).clone(), b));
            }
            if opts.platform.is_some() {
                let (d, b) = manifests[0].clone();
                manifests.clear();
                (Descriptor::new(&d.media_type, d.digest, d.size), b)
            } else {
                (target.clone(), top_bytes.clone())
            }
        }
    };
    if matches!(top_doc, Document::Manifest(_)) || opts.platform.is_some() {
        manifests.clear();
        manifests.push((tag_desc.clone(), tag_bytes.clone()));
    }

    // Blobs, deduplicated, layers before configs as Docker lists them.
    let mut blobs: BTreeMap<usize, (Descriptor, bool)> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut order = 0usize;
    for (d, bytes) in &manifests {
        let m = match Document::parse(bytes, Some(&d.media_type))? {
            Document::Manifest(m) => m,
            Document::Index(_) => continue,
        };
        for l in m.layers.iter().rev() {
            if l.urls.is_some() && !store.has_blob(&l.digest) {
                continue; // foreign layer never stored: its URLs stay the source
            }
            if seen.insert(l.digest.clone()) {
                blobs.insert(order, (l.clone(), true));
                order += 1;
            }
        }
        if seen.insert(m.config.digest.clone()) {
            blobs.insert(order, (m.config.clone(), false));
            order += 1;
        }
    }
    for (d, layer) in blobs.values() {
        if !store.has_blob(&d.digest) {
            return Err(RemoteError::Invalid(format!(
                "blob {} of {} is not in the store (the image was pulled for another platform or partially)",
                d.digest,
                reference.familiar_string()
            )));
        }
        if *layer {
            progress(Event::Blob {
                digest: d.digest.clone(),
                layer: true,
                status: Status::Preparing,
                current: 0,
                total: d.size,
            });
        }
    }
    let sources = Arc::new(mount_sources(&store, reference.domain(), reference.path()));
    let sem = Arc::new(Semaphore::new(opts.max_concurrent_uploads.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut set = tokio::task::JoinSet::new();
    for (d, layer) in blobs.values().cloned() {
        let (tx, sem, client, store, repo, sources) = (
            tx.clone(),
            sem.clone(),
            client.clone(),
            store.clone(),
            reference.clone(),
            sources.clone(),
        );
        let chunk = opts.chunk_size;
        set.spawn(async move {
            let res = async {
                let send = |status: Status, current: u64| {
                    let _ = tx.send(Msg::Ev(Event::Blob {
                        digest: d.digest.clone(),
                        layer,
                        status,
                        current,
                        total: d.size,
                    }));
                };
                let _permit = match sem.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        send(Status::Waiting, 0);
                        sem.acquire_owned()
                            .await
                            .map_err(|e| RemoteError::Transport(e.to_string()))?
                    }
                };
                if client.blob_exists(&repo, &d.digest).await? {
                    send(Status::LayerAlreadyExists, d.size);
                    return Ok(0);
                }
                for from in sources.get(&d.digest).into_iter().flatten().take(3) {
                    if client
                        .mount_blob(&repo, &d.digest, from)
                        .await
                        .unwrap_or(false)
                    {
                        send(Status::MountedFrom(from.clone()), d.size);
                        return Ok(0);
                    }
                }
                let path = store.blob_path(&d.digest);
                send(Status::Pushing, 0);
                client
                    .push_blob(&repo, &d, &path, chunk, |done| send(Status::Pushing, done))
                    .await?;
                send(Status::Pushed, d.size);
                Ok(d.size)
            }
            .await;
            let _ = tx.send(Msg::Done(res));
        });
    }
    drop(tx);
    let total = blobs.len();
    let mut done = 0;
    let mut uploaded = 0;
    let mut failure = None;
    if total > 0 {
        while let Some(m) = rx.recv().await {
            match m {
                Msg::Ev(e) => progress(e),
                Msg::Done(Ok(n)) => {
                    uploaded += n;
                    done += 1;
                }
                Msg::Done(Err(e)) => {
                    failure = Some(e);
                    set.abort_all();
                    break;
                }
            }
            if done == total {
                break;
            }
        }
    }
    while set.join_next().await.is_some() {}
    if let Some(e) = failure {
        return Err(e);
    }
    // Platform manifests of an index by digest, then the tag.
    if matches!(top_doc, Document::Index(_)) && opts.platform.is_none() {
        for (d, bytes) in &manifests {
            client
                .push_manifest(
                    reference,
                    &d.digest.to_string(),
                    &d.media_type,
                    bytes.clone(),
                )
                .await?;
        }
    }
    let digest = client
        .push_manifest(reference, &tag, &tag_desc.media_type, tag_bytes.clone())
        .await?;
    Ok(PushResult {
        tag,
        digest,
        size: tag_bytes.len() as u64,
        uploaded_bytes: uploaded,
    })
}
