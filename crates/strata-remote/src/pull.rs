//! `pull`: a reference from a registry into the store.
//!
//! Order of work: fetch the manifest or index (verified), pick the platform, fetch the
//! config, then download the missing layers concurrently (a semaphore of
//! `max_concurrent_downloads`). Every blob streams into a resumable store ingest named
//! `pull-<digest>`: a broken connection resumes with a `Range` request from the bytes
//! already written (a 206 with a matching `Content-Range`, else the ingest restarts), and
//! an interrupted process leaves the ingest for the next pull to continue. The store
//! checks size and digest at commit; then the layer's facts are computed and its diff ID
//! checked against the config. Documents are stored and the name is set only after
//! everything verified, all under one lease.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use strata_oci::{
    media, Descriptor, Digest, Document, ImageConfig, ImageManifest, Platform, Reference,
};
use strata_store::{Lease, Store, StoreError};
use tokio::sync::{mpsc, Semaphore};

use crate::client::{Client, FetchedManifest};
use crate::error::{RemoteError, Result};
use crate::event::{Event, Status};

/// Options of a pull.
#[derive(Clone)]
pub struct PullOptions {
    /// The platform to pick from an index (default: the host's).
    pub platform: Option<Platform>,
    /// Layers downloaded at once (Docker's default: 3).
    pub max_concurrent_downloads: usize,
    /// Offered each layer's uncompressed tar as it downloads (`pull --unpack`).
    pub layer_tap: Option<Arc<dyn LayerTap>>,
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platform", &self.platform)
            .field("max_concurrent_downloads", &self.max_concurrent_downloads)
            .field("layer_tap", &self.layer_tap.is_some())
            .finish()
    }
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            max_concurrent_downloads: 3,
            layer_tap: None,
        }
    }
}

/// A consumer of layers' uncompressed bytes while they download, so that a layer can be
/// applied from its download instead of being inflated again from the store.
pub trait LayerTap: Send + Sync {
    /// Layer `index` of the manifest (whose config lists `diff_id` for it) starts
    /// downloading from its first byte: a sink for its uncompressed tar, or None to
    /// decline. The sink's `done` is called only once the whole tar was read; the blob
    /// is verified (digest, diff ID) by the pull as usual, and a pull that fails
    /// afterwards still fails.
    fn open(
        &self,
        index: usize,
        layer: &Descriptor,
        diff_id: Option<&Digest>,
    ) -> Option<Box<dyn strata_store::layer::TarSink>>;
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The name set in the store (`docker.io/library/alpine:latest` or `…@sha256:…`).
    pub name: Reference,
    /// What the name points at (manifest or index).
    pub target: Descriptor,
    /// The platform manifest that was pulled.
    pub manifest: Descriptor,
    /// True when the name already pointed here and nothing had to be downloaded.
    pub up_to_date: bool,
    /// Bytes received from the network for blobs.
    pub downloaded_bytes: u64,
}

enum Msg {
    Ev(Event),
    Done(Result<u64>),
}

/// Chooses the index entry for `want` (Docker's "no matching manifest" when none).
pub fn choose_platform(index: &strata_oci::ImageIndex, want: &Platform) -> Result<Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| media::is_manifest(&d.media_type))
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .cloned()
        .ok_or_else(|| RemoteError::NoMatchingPlatform(want.clone().normalized().to_string()))
}

fn verification_failure(e: &RemoteError) -> bool {
    matches!(
        e,
        RemoteError::DigestMismatch { .. }
            | RemoteError::SizeMismatch { .. }
            | RemoteError::DiffIdMismatch { .. }
    )
}

/// Pulls `reference` (which must carry a tag or a digest) into `store`, reporting
/// progress to `progress`.
pub async fn pull<F: FnMut(Event)>(
    client: &Client,
    store: Arc<Store>,
    reference: &Reference,
    opts: &PullOptions,
    mut progress: F,
) -> Result<PullResult> {
    let lease = Arc::new(store.lease(Duration::from_secs(6 * 3600))?);
    let res = pull_inner(client, &store, reference, opts, &lease, &mut progress).await;
    // Every task holding a clone has been joined by now.
    let Ok(lease) = Arc::try_unwrap(lease) else {
        return res;
    };
    match res {
        Ok(r) => {
            store.release(lease)?;
            Ok(r)
        }
        Err(e) => {
            // Verified blobs of a pull that failed for other reasons stay (unnamed) so a
            // retry need not fetch them again; garbage collection takes them otherwise.
            if verification_failure(&e) {
                let _ = store.abort(lease);
            } else {
                let _ = store.release(lease);
            }
            Err(e)
        }
    }
}

async fn pull_inner<F: FnMut(Event)>(
    client: &Client,
    store: &Arc<Store>,
    r: &Reference,
    opts: &PullOptions,
    lease: &Arc<Lease>,
    progress: &mut F,
) -> Result<PullResult> {
    let tag = match (r.tag(), r.digest()) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => {
            return Err(RemoteError::Invalid(format!(
                "{r}: a tag or digest is required"
            )))
        }
    };
    // Docker prints the repository path without the registry: `library/alpine`.
    progress(Event::PullingFrom {
        tag,
        repository: r.path().to_string(),
    });
    if let Some(done) = up_to_date(client, store, r, opts, lease, progress).await? {
        return Ok(done);
    }
    let top = client.fetch_manifest(r).await?;
    progress(Event::Resolved {
        digest: top.digest.clone(),
        media_type: top.media_type.clone(),
    });
    let top_doc = Document::parse(&top.bytes, Some(&top.media_type))?;
    let (manifest_fm, manifest): (FetchedManifest, ImageManifest) = match &top_doc {
        Document::Manifest(m) => (top.clone(), m.clone()),
        Document::Index(idx) => {
            let want = opts.platform.clone().unwrap_or_else(Platform::host);
            let entry = choose_platform(idx, &want)?;
            let child = client
                .fetch_manifest(&r.with_digest(entry.digest.clone()))
                .await?;
            if child.bytes.len() as u64 != entry.size {
                return Err(RemoteError::SizeMismatch {
                    digest: entry.digest.clone(),
                    expected: entry.size,
                    actual: child.bytes.len() as u64,
                });
            }
            match Document::parse(&child.bytes, Some(&entry.media_type))? {
                Document::Manifest(m) => (child, m),
                Document::Index(_) => {
                    return Err(RemoteError::Invalid(
                        "nested index entries are not images".into(),
                    ))
                }
            }
        }
    };

    // Config.
    let cfg_desc = manifest.config.clone();
    let cfg_bytes = if store.protect_existing(&cfg_desc.digest, lease)? {
        store.read_blob(&cfg_desc.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?
    } else {
        let b = client.fetch_blob_bytes(r, &cfg_desc).await?;
        store.put_bytes(&b, Some(&cfg_desc.digest), lease)?;
        b
    };
    let is_image = media::is_config(&cfg_desc.media_type);
    let config = if is_image {
        Some(ImageConfig::parse(&cfg_bytes)?)
    } else {
        None
    };
    if let (Some(want), Some(c), Document::Manifest(_)) = (&opts.platform, &config, &top_doc) {
        if !want.matches(&c.platform()) {
            return Err(RemoteError::Invalid(format!(
                "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}",
                r.familiar_string(),
                want.clone().normalized(),
                c.platform().normalized()
            )));
        }
    }
    if let Some(c) = &config {
        if c.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(RemoteError::Invalid(format!(
                "invalid image {}: the config lists {} diff IDs for {} layers",
                r.familiar_string(),
                c.rootfs.diff_ids.len(),
                manifest.layers.len()
            )));
        }
    }

    // Layers.
    let mut seen = HashSet::new();
    let mut missing = Vec::new();
    let mut present = Vec::new();
    for l in &manifest.layers {
        if !seen.insert(l.digest.clone()) {
            continue;
        }
        if store.protect_existing(&l.digest, lease)? {
            present.push(l.clone());
        } else {
            missing.push(l.clone());
        }
    }
    let total: u64 = manifest.layers.iter().map(|l| l.size).sum();
    let transfer: u64 = missing.iter().map(|l| l.size).sum();
    progress(Event::Plan {
        layers: manifest.layers.len(),
        transfer_bytes: transfer,
        total_bytes: total,
    });
    for l in &present {
        progress(Event::Blob {
            digest: l.digest.clone(),
            layer: true,
            status: Status::AlreadyExists,
            current: l.size,
            total: l.size,
        });
    }
    for l in &missing {
        progress(Event::Blob {
            digest: l.digest.clone(),
            layer: true,
            status: Status::PullingFsLayer,
            current: 0,
            total: l.size,
        });
    }
    let diff_for = |d: &Digest| -> Option<Digest> {
        let c = config.as_ref()?;
        manifest
            .layers
            .iter()
            .position(|l| &l.digest == d)
            .map(|i| c.rootfs.diff_ids[i].clone())
    };

    let downloaded = if missing.is_empty() {
        0
    } else {
        let sem = Arc::new(Semaphore::new(opts.max_concurrent_downloads.max(1)));
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let mut set = tokio::task::JoinSet::new();
        for l in missing.clone() {
            let tx = tx.clone();
            let sem = sem.clone();
            let client = client.clone();
            let store = store.clone();
            let repo = r.clone();
            let want_diff = diff_for(&l.digest);
            let lease = lease.clone();
            let tap = opts.layer_tap.clone().and_then(|t| {
                let i = manifest.layers.iter().position(|x| x.digest == l.digest)?;
                Some((t, i, want_diff.clone()))
            });
            set.spawn(async move {
                let res = async {
                    let permit = match sem.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => {
                            let _ = tx.send(Msg::Ev(Event::Blob {
                                digest: l.digest.clone(),
                                layer: true,
                                status: Status::Waiting,
                                current: 0,
                                total: l.size,
                            }));
                            sem.acquire_owned()
                                .await
                                .map_err(|e| RemoteError::Transport(e.to_string()))?
                        }
                    };
                    let send = |ev: Event| {
                        let _ = tx.send(Msg::Ev(ev));
                    };
                    let n =
                        download_blob(&client, &store, &repo, &l, &lease, true, &send, tap).await?;
                    drop(permit);
                    // Facts (diff ID, Docker's size) for image layers; an artifact's
                    // blobs need not be tars.
                    if media::is_layer(&l.media_type) {
                        let st = store.clone();
                        let d = l.digest.clone();
                        let facts = tokio::task::spawn_blocking(move || st.layer_facts(&d))
                            .await
                            .map_err(|e| RemoteError::Transport(e.to_string()))??;
                        if let Some(want) = want_diff.filter(|w| w != &facts.diff_id) {
                            return Err(RemoteError::DiffIdMismatch {
                                layer: l.digest.clone(),
                                expected: want,
                                actual: facts.diff_id,
                            });
                        }
                    }
                    send(Event::Blob {
                        digest: l.digest.clone(),
                        layer: true,
                        status: Status::PullComplete,
                        current: l.size,
                        total: l.size,
                    });
                    Ok(n)
                }
                .await;
                let _ = tx.send(Msg::Done(res));
            });
        }
        drop(tx);
        let mut done = 0;
        let mut bytes = 0;
        let mut failure = None;
        while let Some(m) = rx.recv().await {
            match m {
                Msg::Ev(e) => progress(e),
                Msg::Done(Ok(n)) => {
                    bytes += n;
                    done += 1;
                }
                Msg::Done(Err(e)) => {
                    failure = Some(e);
                    set.abort_all();
                    break;
                }
            }
            if done == missing.len() {
                break;
            }
        }
        while set.join_next().await.is_some() {}
        if let Some(e) = failure {
            return Err(e);
        }
        bytes
    };
    for l in present.iter().filter(|l| media::is_layer(&l.media_type)) {
        let st = store.clone();
        let d = l.digest.clone();
        let facts = tokio::task::spawn_blocking(move || st.layer_facts(&d))
            .await
            .map_err(|e| RemoteError::Transport(e.to_string()))??;
        if let Some(want) = diff_for(&l.digest) {
            if facts.diff_id != want {
                return Err(RemoteError::DiffIdMismatch {
                    layer: l.digest.clone(),
                    expected: want,
                    actual: facts.diff_id,
                });
            }
        }
    }

    // Documents, then the name.
    store.put_document(&manifest_fm.bytes, Some(&manifest_fm.digest), lease)?;
    if matches!(top_doc, Document::Index(_)) {
        store.put_document(&top.bytes, Some(&top.digest), lease)?;
    }
    let target = top.descriptor();
    let name = match r.digest() {
        Some(_) => r.name_only().with_digest(top.digest.clone()),
        None => r.clone(),
    };
    let old = store.meta().name(&name.to_string())?;
    let up_to_date = old.is_some_and(|o| o.digest == target.digest) && downloaded == 0;
    store.meta().set_name(
        &name.to_string(),
        &target.digest,
        &target.media_type,
        target.size,
        true,
    )?;
    Ok(PullResult {
        name,
        target,
        manifest: manifest_fm.descriptor(),
        up_to_date,
        downloaded_bytes: downloaded,
    })
}

/// Docker's cheap check: when the tag is already in the store, complete for the wanted
/// platform, and a HEAD says the registry still has the same digest, nothing is fetched
/// (no manifest GET, which registries such as Docker Hub count as a pull).
async fn up_to_date<F: FnMut(Event)>(
    client: &Client,
    store: &Arc<Store>,
    r: &Reference,
    opts: &PullOptions,
    lease: &Lease,
    progress: &mut F,
) -> Result<Option<PullResult>> {
    if r.digest().is_some() {
        return Ok(None);
    }
    let Some(rec) = store.meta().name(&r.to_string())? else {
        return Ok(None);
    };
    let Ok(remote) = client.resolve(r).await else {
        return Ok(None);
    };
    if remote.digest != rec.digest {
        return Ok(None);
    }
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    let target = Descriptor::new(&rec.media_type, rec.digest.clone(), rec.size);
    let Ok(local) = store.resolve(&target, Some(&want)) else {
        return Ok(None);
    };
    if local.layers.iter().any(|(_, facts)| facts.is_none()) {
        return Ok(None);
    }
    for (d, _) in std::iter::once((&local.manifest_descriptor, ()))
        .chain(std::iter::once((&local.manifest.config, ())))
        .chain(local.layers.iter().map(|(l, _)| (l, ())))
    {
        store.protect_existing(&d.digest, lease)?;
    }
    progress(Event::Resolved {
        digest: rec.digest.clone(),
        media_type: rec.media_type.clone(),
    });
    let total: u64 = local.layers.iter().map(|(l, _)| l.size).sum();
    progress(Event::Plan {
        layers: local.layers.len(),
        transfer_bytes: 0,
        total_bytes: total,
    });
    for (l, _) in &local.layers {
        progress(Event::Blob {
            digest: l.digest.clone(),
            layer: true,
            status: Status::AlreadyExists,
            current: l.size,
            total: l.size,
        });
    }
    Ok(Some(PullResult {
        name: r.clone(),
        target,
        manifest: local.manifest_descriptor.clone(),
        up_to_date: true,
        downloaded_bytes: 0,
    }))
}

/// The per-process turn for writing one blob.
fn ingest_gate(d: &Digest) -> Arc<tokio::sync::Mutex<()>> {
    static GATES: OnceLock<Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut m = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    // Forget gates nobody holds, so the map stays small in long-lived processes.
    m.retain(|_, g| Arc::strong_count(g) > 1);
    m.entry(d.clone()).or_default().clone()
}

/// Runs a store call that may block (waiting for another process's ingest lock) without
/// stalling the other tasks of a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Streams one blob into the store (resuming an earlier ingest), retrying broken
/// transfers with Range requests. Returns the bytes received from the network.
/// Computes a layer's facts (diff ID, sizes) on a blocking thread from the chunks as
/// they are downloaded, so that verifying `diff_ids` overlaps with the transfer instead
/// of reading the layer back from disk afterwards. Chunks must arrive contiguous from
/// byte 0; a download that restarts its blob drops the scanner (the store then computes
/// the facts from the committed blob).
struct LayerScanner {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    handle: tokio::task::JoinHandle<std::io::Result<strata_store::layer::LayerFacts>>,
}

struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

impl LayerScanner {
    fn start(sink: Option<Box<dyn strata_store::layer::TarSink>>) -> LayerScanner {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let handle = tokio::task::spawn_blocking(move || {
            strata_store::layer::scan_layer_tee(
                ChannelReader {
                    rx,
                    cur: bytes::Bytes::new(),
                },
                sink,
            )
        });
        LayerScanner { tx, handle }
    }

    /// Hands a chunk to the scanner; false when the scanner has stopped (a bad tar:
    /// the facts are then computed, and the error reported, from the committed blob).
    async fn feed(&self, chunk: bytes::Bytes) -> bool {
        self.tx.send(chunk).await.is_ok()
    }

    async fn finish(self) -> Option<strata_store::layer::LayerFacts> {
        drop(self.tx);
        self.handle.await.ok()?.ok()
    }
}

// The blob, where it goes, how to report and what to tap: no smaller grouping reads better.
#[allow(clippy::too_many_arguments)]
async fn download_blob(
    client: &Client,
    store: &Store,
    repo: &Reference,
    desc: &Descriptor,
    lease: &Lease,
    layer: bool,
    send: &(dyn Fn(Event) + Send + Sync),
    tap: Option<(Arc<dyn LayerTap>, usize, Option<Digest>)>,
) -> Result<u64> {
    let mut fetched = 0u64;
    let mut fresh_retry = false;
    // One task per blob in this process at a time: the store's ingest lock waits by
    // blocking the thread, which must never be a task waiting on another task here.
    let gate = ingest_gate(&desc.digest);
    let _turn = gate.lock().await;
    loop {
        let ingest = format!("pull-{}", desc.digest);
        let Some(mut w) =
            blocking(|| store.ingest(&ingest, (desc.digest.clone(), desc.size), lease))?
        else {
            // Present already, or committed meanwhile by a concurrent writer.
            send(Event::Blob {
                digest: desc.digest.clone(),
                layer,
                status: Status::DownloadComplete,
                current: desc.size,
                total: desc.size,
            });
            return Ok(fetched);
        };
        let resumed = w.offset();
        let known = layer && blocking(|| store.meta().layer(&desc.digest))?.is_some();
        let mut scanner = (layer && resumed == 0 && !known).then(|| {
            let sink = tap
                .as_ref()
                .and_then(|(t, i, diff)| t.open(*i, desc, diff.as_ref()));
            LayerScanner::start(sink)
        });
        let mut attempt = 1u32;
        let max = client.config().max_attempts.max(1);
        loop {
            if w.offset() == desc.size {
                break;
            }
            let start = w.offset();
            let res: Result<()> = async {
                let mut s = client.fetch_blob(repo, desc, start).await?;
                if s.offset != start {
                    w.reset()?;
                    scanner = None;
                }
                send(Event::Blob {
                    digest: desc.digest.clone(),
                    layer,
                    status: Status::Downloading,
                    current: w.offset(),
                    total: desc.size,
                });
                let mut last = w.offset();
                while let Some(chunk) = s.chunk().await? {
                    if w.offset() + chunk.len() as u64 > desc.size {
                        return Err(RemoteError::SizeMismatch {
                            digest: desc.digest.clone(),
                            expected: desc.size,
                            actual: w.offset() + chunk.len() as u64,
                        });
                    }
                    w.write_all(&chunk).map_err(StoreError::Stream)?;
                    fetched += chunk.len() as u64;
                    if let Some(sc) = &scanner {
                        if !sc.feed(chunk.clone()).await {
                            scanner = None;
                        }
                    }
                    if w.offset() - last >= 256 * 1024 || w.offset() == desc.size {
                        last = w.offset();
                        send(Event::Blob {
                            digest: desc.digest.clone(),
                            layer,
                            status: Status::Downloading,
                            current: last,
                            total: desc.size,
                        });
                    }
                }
                if w.offset() < desc.size {
                    return Err(RemoteError::Transport(format!(
                        "connection closed after {} of {} bytes of {}",
                        w.offset(),
                        desc.size,
                        desc.digest
                    )));
                }
                Ok(())
            }
            .await;
            match res {
                Ok(()) => break,
                Err(e) if e.is_retryable() && attempt < max => {
                    attempt += 1;
                    let delay = client.backoff(attempt - 1);
                    send(Event::Retrying {
                        digest: desc.digest.clone(),
                        attempt,
                        delay_secs: delay.as_secs(),
                        resume_from: w.offset(),
                        error: e.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
        send(Event::Blob {
            digest: desc.digest.clone(),
            layer,
            status: Status::VerifyingChecksum,
            current: desc.size,
            total: desc.size,
        });
        match w.commit(lease) {
            Ok(_) => {
                if let Some(facts) = match scanner.take() {
                    Some(sc) => sc.finish().await,
                    None => None,
                } {
                    let rec = strata_store::meta::LayerRecord {
                        digest: desc.digest.clone(),
                        diff_id: facts.diff_id,
                        uncompressed_size: facts.uncompressed_size,
                        unpacked_size: facts.unpacked_size,
                    };
                    blocking(|| store.meta().record_layer(&rec))?;
                }
                send(Event::Blob {
                    digest: desc.digest.clone(),
                    layer,
                    status: Status::DownloadComplete,
                    current: desc.size,
                    total: desc.size,
                });
                return Ok(fetched);
            }
            Err(StoreError::DigestMismatch { expected, actual }) => {
                // Bytes left by an earlier run may be what is wrong: start over once.
                if resumed > 0 && !fresh_retry {
                    fresh_retry = true;
                    continue;
                }
                return Err(RemoteError::DigestMismatch {
                    what: format!("blob {}", desc.digest),
                    expected,
                    actual,
                });
            }
            Err(StoreError::SizeMismatch {
                digest,
                expected,
                actual,
            }) => {
                return Err(RemoteError::SizeMismatch {
                    digest,
                    expected,
                    actual,
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
}
