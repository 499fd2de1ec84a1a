//! The machine's CPU floor for pulling an image: inflate every layer and SHA-256 both its
//! compressed and uncompressed bytes, one layer per core at a time, from blobs already in
//! the page cache. No network, no tar parsing, no writes: what any verifying pull must at
//! least spend. The digests are checked against the layout, so the work cannot be skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strata_store::compress::Gunzip;

/// A layer blob to verify.
#[derive(Clone, Debug)]
pub struct LayerJob {
    /// Path of the compressed blob.
    pub path: PathBuf,
    /// Expected compressed digest.
    pub digest: String,
    /// Expected uncompressed digest.
    pub diff_id: String,
    /// Compressed size.
    pub size: u64,
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn read_json(path: &Path) -> Result<Value> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_slice(&b)?)
}

/// The layers of the first image in the OCI layout at `dir`.
pub fn layers_of(dir: &Path) -> Result<Vec<LayerJob>> {
    let index = read_json(&dir.join("index.json"))?;
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .ok_or_else(|| anyhow!("{}: index.json lists no manifest", dir.display()))?;
    let manifest = read_json(&blob(dir, mdigest))?;
    let cdigest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest has no config"))?;
    let config = read_json(&blob(dir, cdigest))?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| anyhow!("config has no diff_ids"))?;
    let layers = manifest["layers"]
        .as_array()
        .ok_or_else(|| anyhow!("manifest has no layers"))?;
    if layers.len() != diff_ids.len() {
        bail!("{} layers but {} diff_ids", layers.len(), diff_ids.len());
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(l, d)| {
            let digest = l["digest"].as_str().unwrap_or_default().to_string();
            Ok(LayerJob {
                path: blob(dir, &digest),
                digest,
                diff_id: d.as_str().unwrap_or_default().to_string(),
                size: l["size"].as_u64().unwrap_or(0),
            })
        })
        .collect()
}

/// Reader that hashes what is read through it.
struct HashRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Inflates and double-hashes one layer; returns the uncompressed size. With `split`, the
/// uncompressed bytes are hashed on a second thread (64 KiB buffers over a bounded
/// channel), so one layer can use two cores.
pub fn verify_layer(job: &LayerJob, split: bool) -> Result<u64> {
    if !split {
        return verify_layer_with(job, |raw: &mut Sha256, b: &[u8]| raw.update(b), None);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    thread::scope(|s| -> Result<u64> {
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for b in rx {
                h.update(&b);
                let _ = back_tx.send(b);
            }
            h.finalize()
        });
        let feed = move |_: &mut Sha256, b: &[u8]| {
            let mut buf = back_rx.try_recv().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(b);
            let _ = tx.send(buf);
        };
        let n = verify_layer_with(
            job,
            feed,
            Some(Box::new(move || {
                hasher.join().expect("hash thread panicked")
            })),
        )?;
        Ok(n)
    })
}

type Finish<'a> = Box<dyn FnOnce() -> sha2::digest::Output<Sha256> + 'a>;

fn verify_layer_with(
    job: &LayerJob,
    mut feed: impl FnMut(&mut Sha256, &[u8]),
    finish: Option<Finish<'_>>,
) -> Result<u64> {
    let file = File::open(&job.path).with_context(|| format!("opening {}", job.path.display()))?;
    let src = BufReader::with_capacity(
        64 << 10,
        HashRead {
            inner: file,
            hasher: Sha256::new(),
        },
    );
    // Strata's own gunzip: raw inflate (zlib-rs) without the gzip CRC, which the diff ID
    // check makes redundant, so the floor is the same work a pull must do.
    let mut gz = Gunzip::new(src);
    let mut raw = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let k = gz.read(&mut buf)?;
        if k == 0 {
            break;
        }
        feed(&mut raw, &buf[..k]);
        n += k as u64;
    }
    drop(feed);
    let mut src = gz.into_inner();
    // Drain anything after the gzip members (there should be nothing).
    while !src.fill_buf()?.is_empty() {
        let k = src.buffer().len();
        src.consume(k);
    }
    let comp = format!("sha256:{}", hex::encode(src.into_inner().hasher.finalize()));
    let diff = match finish {
        Some(f) => format!("sha256:{}", hex::encode(f())),
        None => format!("sha256:{}", hex::encode(raw.finalize())),
    };
    if comp != job.digest {
        bail!(
            "{}: digest {comp}, expected {}",
            job.path.display(),
            job.digest
        );
    }
    if diff != job.diff_id {
        bail!(
            "{}: diff_id {diff}, expected {}",
            job.path.display(),
            job.diff_id
        );
    }
    Ok(n)
}

/// One timed pass over all layers with `threads` workers (largest layers first);
/// returns (seconds, uncompressed bytes).
pub fn run_once(jobs: &[LayerJob], threads: usize) -> Result<(f64, u64)> {
    let mut order: Vec<&LayerJob> = jobs.iter().collect();
    order.sort_by_key(|j| std::cmp::Reverse(j.size));
    let next = AtomicUsize::new(0);
    let total = Mutex::new(0u64);
    // Fewer layers than cores: give each layer a second thread for the uncompressed hash.
    let split = order.len() < threads;
    let start = Instant::now();
    thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..threads.max(1).min(order.len().max(1)))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(job) = order.get(i) else {
                            return Ok(());
                        };
                        let n = verify_layer(job, split)?;
                        *total.lock().expect("lock") += n;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().expect("floor thread panicked")?;
        }
        Ok(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    let n = *total.lock().expect("lock");
    Ok((secs, n))
}
