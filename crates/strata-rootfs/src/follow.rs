//! Unpacking while a pull is still fetching: `strata pull --unpack DIR`.
//!
//! The pull reports, as it goes, when the config has arrived and when each layer blob is
//! in the store (verified, its diff ID recorded). A [`PullUnpacker`] runs on its own
//! thread, reads the config as soon as it is there, and applies layer `i` as soon as
//! layers `0..=i` are all present, strictly in order, while later layers are still
//! downloading. When the pull ends it is told the manifest, and applies whatever is left.
//! The destination appears only once every layer applied and verified.
//!
//! A layer can also be applied from its download ([`LiveTap::open_live`]): when a
//! layer starts downloading while it is the next one to apply and nothing is being
//! applied, the pull hands over its uncompressed tar as it inflates it (once, for both
//! its own diff-ID check and the unpack), and the layer is applied as it arrives. Other
//! layers are read from the store once stored. If a live copy ends early (the download
//! restarted the blob), the partial tree is dropped and the unpack starts over from the
//! store, so what is published never depends on a broken stream.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use strata_oci::{Descriptor, Digest, Document};
use strata_store::Store;

use crate::apply::Applier;
use crate::error::{Result, RootfsError};
use crate::image::{prepare_dest, publish, BackgroundSync, UnpackOptions, UnpackReport};
use crate::stream::{Decoded, PlainFeed};

enum Note {
    Config(Digest),
    /// A layer blob in the store; true when this pull downloaded and verified it.
    Layer(Digest, bool),
    Live(Box<Live>),
    Done(Box<Descriptor>),
    Abort,
}

/// A layer applied from its download.
struct Live {
    index: usize,
    diff_id: Option<Digest>,
    dec: Decoded,
    /// Set by the sink's `done`, once every byte was sent: a copy that ends without it
    /// broke off.
    complete: Arc<AtomicBool>,
}

/// Which layer comes next, and whether one is being applied: shared by the unpack
/// thread and [`LiveTap::open_live`], so a layer is applied exactly once.
#[derive(Default)]
struct Turn {
    next: usize,
    busy: bool,
}

/// A background unpack fed by a pull's progress.
pub struct PullUnpacker {
    tx: Sender<Note>,
    turn: Arc<Mutex<Turn>>,
    limits: crate::Limits,
    handle: JoinHandle<Result<UnpackReport>>,
}

/// The pull's handle on a [`PullUnpacker`] (see [`PullUnpacker::live_tap`]).
#[derive(Clone)]
pub struct LiveTap {
    tx: Sender<Note>,
    turn: Arc<Mutex<Turn>>,
    limits: crate::Limits,
}

impl LiveTap {
    /// Layer `index` (whose diff ID is `diff_id`, when the config is known; whose blob is
    /// `compressed` bytes) starts downloading: a sink for its uncompressed tar when it is
    /// the next layer to apply and nothing is being applied, else None (it is read from
    /// the store once stored).
    ///
    /// The sink takes the pull's blocks as they are (no copy) and the applier does not
    /// hash them again: the diff ID it checks is the one the pull's scan computed from
    /// the same blocks, handed over with `done`.
    pub fn open_live(
        &self,
        index: usize,
        diff_id: Option<&Digest>,
        compressed: u64,
    ) -> Option<Box<dyn strata_store::layer::TarSink>> {
        let mut turn = self.turn.lock().ok()?;
        if turn.busy || turn.next != index {
            return None;
        }
        let label = format!("layer {} (from its download)", index + 1);
        let (feed, dec) = PlainFeed::new(&label, self.limits, compressed);
        let complete = Arc::new(AtomicBool::new(false));
        let live = Live {
            index,
            diff_id: diff_id.cloned(),
            dec,
            complete: complete.clone(),
        };
        self.tx.send(Note::Live(Box::new(live))).ok()?;
        turn.busy = true;
        Some(Box::new(LiveSink { feed, complete }))
    }
}

/// The pull's side of a live layer copy.
struct LiveSink {
    feed: PlainFeed,
    complete: Arc<AtomicBool>,
}

impl strata_store::layer::TarSink for LiveSink {
    fn block(&mut self, b: bytes::Bytes) -> io::Result<()> {
        self.feed.push(b)
    }

    fn done(self: Box<Self>, facts: &strata_store::layer::LayerFacts) {
        let LiveSink { feed, complete } = *self;
        // Marked before the feed's end reaches the applier, so the apply's end is seen
        // as complete; a refused end (the applier stopped) is not.
        complete.store(true, Ordering::SeqCst);
        if !feed.end(facts.compression, facts.diff_id.clone()) {
            complete.store(false, Ordering::SeqCst);
        }
    }
}

impl PullUnpacker {
    /// Starts unpacking into `dest` (absent or empty) from `store`.
    pub fn start(store: Arc<Store>, dest: PathBuf, opts: UnpackOptions) -> Result<PullUnpacker> {
        // Fail early (before downloading anything) on a bad destination.
        let tmp = prepare_dest(&dest)?;
        let (tx, rx) = channel();
        let turn = Arc::new(Mutex::new(Turn::default()));
        let t = turn.clone();
        let limits = opts.apply.limits;
        let handle = std::thread::spawn(move || run(&store, tmp, &dest, &opts, rx, &t));
        Ok(PullUnpacker {
            tx,
            turn,
            limits,
            handle,
        })
    }

    /// A handle for the pull to offer layers' uncompressed tars as they download.
    pub fn live_tap(&self) -> LiveTap {
        LiveTap {
            tx: self.tx.clone(),
            turn: self.turn.clone(),
            limits: self.limits,
        }
    }

    /// The config blob is in the store.
    pub fn config(&self, d: &Digest) {
        let _ = self.tx.send(Note::Config(d.clone()));
    }

    /// A layer blob is in the store (already there before the pull). It is applied
    /// from the store, hashed again and checked against its diff ID.
    pub fn layer(&self, d: &Digest) {
        let _ = self.tx.send(Note::Layer(d.clone(), false));
    }

    /// A layer blob this pull just downloaded and verified (or, in a race, that a
    /// concurrent pull committed meanwhile), its diff ID recorded from the bytes as they
    /// were stored: it is applied from the store without hashing it again (the recorded
    /// diff ID is still compared with the config's). Blobs that were in the store before
    /// the pull go through [`PullUnpacker::layer`] and are hashed again.
    pub fn layer_verified(&self, d: &Digest) {
        let _ = self.tx.send(Note::Layer(d.clone(), true));
    }

    /// The pull failed: stops, removes what was unpacked, and leaves `dest` untouched.
    pub fn abort(self) {
        // Explicit: a live tap held by the pull keeps the channel open.
        let _ = self.tx.send(Note::Abort);
        let _ = self.handle.join();
    }

    /// The pull finished with `manifest`: applies what is left and publishes the tree.
    pub fn finish(self, manifest: &Descriptor) -> Result<UnpackReport> {
        let _ = self.tx.send(Note::Done(Box::new(manifest.clone())));
        self.handle
            .join()
            .map_err(|_| RootfsError::Target("the unpack thread panicked".into()))?
    }
}

struct Plan {
    diff_ids: Vec<Digest>,
    /// Blob digests by position, once known (from the manifest at the end).
    blobs: Vec<Option<Digest>>,
}

fn run(
    store: &Store,
    tmp: tempfile::TempDir,
    dest: &std::path::Path,
    opts: &UnpackOptions,
    rx: Receiver<Note>,
    turn: &Mutex<Turn>,
) -> Result<UnpackReport> {
    let mut tmp = tmp;
    // On the destination's file system, which a restart's new directory shares.
    let _writeback = BackgroundSync::start(tmp.path());
    let mut applier = Applier::new(tmp.path(), opts.apply.clone())?;
    let mut plan: Option<Plan> = None;
    // diff ID -> (blob, verified by this pull), for layers that arrived.
    let mut arrived: HashMap<Digest, (Digest, bool)> = HashMap::new();
    // Layers applied from their download: index -> diff ID found.
    let mut live_applied: HashMap<usize, Digest> = HashMap::new();
    let mut report = UnpackReport::default();
    let lock = || {
        turn.lock()
            .map_err(|_| RootfsError::Target("the unpack state is poisoned".into()))
    };
    let apply_ready = |applier: &mut Applier,
                       plan: &Plan,
                       arrived: &HashMap<Digest, (Digest, bool)>,
                       report: &mut UnpackReport|
     -> Result<()> {
        let n = plan.diff_ids.len();
        loop {
            let mut t = lock()?;
            let i = t.next;
            if t.busy || i >= n {
                return Ok(());
            }
            let want = &plan.diff_ids[i];
            let found = arrived.get(want).cloned();
            let blob = match plan
                .blobs
                .get(i)
                .cloned()
                .flatten()
                .or_else(|| found.as_ref().map(|(b, _)| b.clone()))
            {
                Some(b) if store.has_blob(&b) => b,
                _ => return Ok(()),
            };
            // Verified by this pull: the record of that very blob names `want`.
            let verified = matches!(&found, Some((b, true)) if *b == blob);
            t.busy = true;
            drop(t);
            let label = format!("layer {}/{n} ({})", i + 1, blob.short());
            let res = store
                .open_blob(&blob)
                .map_err(RootfsError::from)
                .and_then(|f| {
                    let r = std::io::BufReader::with_capacity(1 << 16, f);
                    if verified {
                        applier.apply_layer_verified(&label, r, want, Some(want))
                    } else {
                        applier.apply_layer(&label, r, Some(want))
                    }
                });
            let mut t = lock()?;
            t.busy = false;
            report.applied.push(res?);
            t.next = i + 1;
        }
    };
    loop {
        let Ok(note) = rx.recv() else {
            return Err(RootfsError::Target(
                "the pull stopped before the image was complete; nothing was unpacked".into(),
            ));
        };
        match note {
            Note::Config(d) => {
                if plan.is_none() {
                    if let Ok((cfg, _)) = store.read_config(&d) {
                        let n = cfg.rootfs.diff_ids.len();
                        if n > opts.apply.limits.max_layers {
                            return Err(too_many(n, opts));
                        }
                        plan = Some(Plan {
                            diff_ids: cfg.rootfs.diff_ids,
                            blobs: vec![None; n],
                        });
                    }
                }
            }
            Note::Layer(d, verified) => {
                if let Ok(rec) = store.layer_facts(&d) {
                    arrived.insert(rec.diff_id, (d, verified));
                }
            }
            Note::Live(live) => {
                let label = format!("layer {} (from its download)", live.index + 1);
                let res = applier.apply_decoded(&label, live.dec, live.diff_id.as_ref());
                let mut t = lock()?;
                t.busy = false;
                // Whatever the apply made of a copy that broke off (a truncated tar, a
                // wrong diff ID, or a tree short of the rest), it is not used.
                let complete = live.complete.load(Ordering::SeqCst);
                match res {
                    Ok(rep) if complete => {
                        live_applied.insert(live.index, rep.diff_id.clone());
                        report.applied.push(rep);
                        t.next = live.index + 1;
                    }
                    Err(e) if complete => return Err(e),
                    _ => {
                        // The copy broke off: start over, every layer from the store.
                        drop(applier);
                        drop(tmp);
                        tmp = prepare_dest(dest)?;
                        applier = Applier::new(tmp.path(), opts.apply.clone())?;
                        live_applied.clear();
                        report = UnpackReport::default();
                        t.next = 0;
                    }
                }
            }
            Note::Abort => {
                return Err(RootfsError::Target(
                    "the pull stopped before the image was complete; nothing was unpacked".into(),
                ))
            }
            Note::Done(manifest) => {
                report.applied_before_end = report.applied.len();
                let m = match store.read_document(&manifest.digest, Some(&manifest.media_type))? {
                    Document::Manifest(m) => m,
                    Document::Index(_) => {
                        return Err(RootfsError::Image(
                            "the pulled reference is an index, not an image".into(),
                        ))
                    }
                };
                let (cfg, _) = store.read_config(&m.config.digest)?;
                if cfg.rootfs.diff_ids.len() != m.layers.len() {
                    return Err(RootfsError::Image(format!(
                        "image config lists {} diff IDs for {} layers",
                        cfg.rootfs.diff_ids.len(),
                        m.layers.len()
                    )));
                }
                if m.layers.len() > opts.apply.limits.max_layers {
                    return Err(too_many(m.layers.len(), opts));
                }
                if let Some(p) = &plan {
                    if p.diff_ids != cfg.rootfs.diff_ids {
                        return Err(RootfsError::Image(
                            "the pulled config changed during the pull".into(),
                        ));
                    }
                }
                for (i, found) in &live_applied {
                    if cfg.rootfs.diff_ids.get(*i) != Some(found) {
                        return Err(RootfsError::DiffIdMismatch {
                            layer: format!("layer {}", i + 1),
                            expected: cfg
                                .rootfs
                                .diff_ids
                                .get(*i)
                                .cloned()
                                .unwrap_or_else(|| found.clone()),
                            actual: found.clone(),
                        });
                    }
                }
                let full = Plan {
                    diff_ids: cfg.rootfs.diff_ids,
                    blobs: m.layers.iter().map(|l| Some(l.digest.clone())).collect(),
                };
                apply_ready(&mut applier, &full, &arrived, &mut report)?;
                let next = lock()?.next;
                if next != full.diff_ids.len() {
                    return Err(RootfsError::Image(format!(
                        "layer {} of the pulled image is not in the store",
                        next + 1
                    )));
                }
                report.applied_from_download = live_applied.len();
                drop(applier);
                publish(tmp, dest)?;
                return Ok(report);
            }
        }
        if let Some(p) = &plan {
            apply_ready(&mut applier, p, &arrived, &mut report)?;
        }
    }
}

fn too_many(n: usize, opts: &UnpackOptions) -> RootfsError {
    RootfsError::Limit {
        layer: "image".into(),
        what: format!("layer count ({n})"),
        limit: opts.apply.limits.max_layers as u64,
        hint: "--max-layers",
    }
}
