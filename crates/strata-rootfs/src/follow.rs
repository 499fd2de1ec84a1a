//! Unpacking while a pull is still fetching: `strata pull --unpack DIR`.
//!
//! The pull reports, as it goes, when the config has arrived and when each layer blob is
//! in the store (verified, its diff ID recorded). A [`PullUnpacker`] runs on its own
//! thread, reads the config as soon as it is there, and applies layer `i` as soon as
//! layers `0..=i` are all present, strictly in order, while later layers are still
//! downloading. When the pull ends it is told the manifest, and applies whatever is left.
//! The destination appears only once every layer applied and verified.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use strata_oci::{Descriptor, Digest, Document};
use strata_store::Store;

use crate::apply::Applier;
use crate::error::{Result, RootfsError};
use crate::image::{prepare_dest, publish, UnpackOptions, UnpackReport};

enum Note {
    Config(Digest),
    Layer(Digest),
    Done(Box<Descriptor>),
}

/// A background unpack fed by a pull's progress.
pub struct PullUnpacker {
    tx: Sender<Note>,
    handle: JoinHandle<Result<UnpackReport>>,
}

impl PullUnpacker {
    /// Starts unpacking into `dest` (absent or empty) from `store`.
    pub fn start(store: Arc<Store>, dest: PathBuf, opts: UnpackOptions) -> Result<PullUnpacker> {
        // Fail early (before downloading anything) on a bad destination.
        let tmp = prepare_dest(&dest)?;
        let (tx, rx) = channel();
        let handle = std::thread::spawn(move || run(&store, tmp, &dest, &opts, rx));
        Ok(PullUnpacker { tx, handle })
    }

    /// The config blob is in the store.
    pub fn config(&self, d: &Digest) {
        let _ = self.tx.send(Note::Config(d.clone()));
    }

    /// A layer blob is in the store (downloaded and verified, or already there).
    pub fn layer(&self, d: &Digest) {
        let _ = self.tx.send(Note::Layer(d.clone()));
    }

    /// The pull failed: stops, removes what was unpacked, and leaves `dest` untouched.
    pub fn abort(self) {
        drop(self.tx);
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
) -> Result<UnpackReport> {
    let mut applier = Applier::new(tmp.path(), opts.apply.clone())?;
    let mut plan: Option<Plan> = None;
    // diff ID -> blob, for layers that arrived.
    let mut arrived: HashMap<Digest, Digest> = HashMap::new();
    let mut next = 0usize;
    let mut report = UnpackReport::default();
    let mut apply_ready = |plan: &Plan,
                           arrived: &HashMap<Digest, Digest>,
                           next: &mut usize,
                           report: &mut UnpackReport|
     -> Result<()> {
        let n = plan.diff_ids.len();
        while *next < n {
            let want = &plan.diff_ids[*next];
            let blob = match plan
                .blobs
                .get(*next)
                .cloned()
                .flatten()
                .or_else(|| arrived.get(want).cloned())
            {
                Some(b) if store.has_blob(&b) => b,
                _ => break,
            };
            let label = format!("layer {}/{n} ({})", *next + 1, blob.short());
            let f = store.open_blob(&blob)?;
            report.applied.push(applier.apply_layer(
                &label,
                std::io::BufReader::with_capacity(1 << 16, f),
                Some(want),
            )?);
            *next += 1;
        }
        Ok(())
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
            Note::Layer(d) => {
                if let Ok(rec) = store.layer_facts(&d) {
                    arrived.insert(rec.diff_id, d);
                }
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
                let full = Plan {
                    diff_ids: cfg.rootfs.diff_ids,
                    blobs: m.layers.iter().map(|l| Some(l.digest.clone())).collect(),
                };
                apply_ready(&full, &arrived, &mut next, &mut report)?;
                if next != full.diff_ids.len() {
                    return Err(RootfsError::Image(format!(
                        "layer {} of the pulled image is not in the store",
                        next + 1
                    )));
                }
                drop(applier);
                publish(tmp, dest)?;
                return Ok(report);
            }
        }
        if let Some(p) = &plan {
            apply_ready(p, &arrived, &mut next, &mut report)?;
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
