//! The reading side of a layer: decompression (sniffed from the bytes), hashing and the
//! byte and ratio bounds, run on a worker thread that feeds the applier through a
//! bounded channel, so that inflating and hashing one layer overlaps with writing the
//! files of the previous one while layers are still applied strictly in order.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use bytes::Bytes;
use strata_oci::{Digest, Digester};
use strata_store::blocks::{BlockSource, BlockStream};
use strata_store::compress::{decompress, Compression};

use crate::error::RootfsError;
use crate::limits::Limits;

const CHUNK: usize = 256 << 10;
/// Chunks buffered ahead of the applier per layer (8 MiB).
const DEPTH: usize = 32;

/// What the worker learned once the stream ended.
#[derive(Debug, Clone)]
pub struct StreamFacts {
    /// Compression found in the bytes.
    pub compression: Compression,
    /// Digest of the uncompressed stream (the diff ID).
    pub diff_id: Digest,
    /// Uncompressed bytes.
    pub uncompressed: u64,
    /// Compressed bytes read.
    pub compressed: u64,
}

enum Msg {
    Data(Bytes),
    End(StreamFacts),
    Fail(RootfsError),
}

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The size and expansion bounds, checked as uncompressed bytes arrive: `total` so far
/// from `compressed` compressed bytes (so far, or the whole blob: either way a lower bound
/// of the final ratio).
fn over_bounds(label: &str, limits: &Limits, total: u64, compressed: u64) -> Option<RootfsError> {
    if total > limits.max_bytes {
        return Some(RootfsError::Limit {
            layer: label.to_string(),
            what: "uncompressed size".into(),
            limit: limits.max_bytes,
            hint: "--max-layer-bytes",
        });
    }
    let c = compressed.max(1);
    (total > limits.ratio_floor && total / c > limits.max_ratio).then(|| RootfsError::Limit {
        layer: label.to_string(),
        what: format!("expansion ratio ({total} bytes from {c} compressed)"),
        limit: limits.max_ratio,
        hint: "--max-ratio",
    })
}

/// Reads a compressed layer to its end on the current thread, sending uncompressed
/// chunks to `tx`. Stops early (quietly) when the receiver is gone.
fn produce<R: Read>(
    r: R,
    label: &str,
    limits: &Limits,
    tx: &SyncSender<Msg>,
    back: &Receiver<Vec<u8>>,
    verified: Option<Digest>,
) {
    let fail = |e: RootfsError| {
        let _ = tx.send(Msg::Fail(e));
    };
    let compressed = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: r,
        n: compressed.clone(),
    };
    let (compression, mut plain) = match decompress(counted) {
        Ok(x) => x,
        Err(e) => {
            return fail(RootfsError::Tar {
                layer: label.to_string(),
                source: e,
            })
        }
    };
    let mut hasher = Digester::default();
    let mut total = 0u64;
    loop {
        // A chunk the applier has finished with, when there is one: no allocation and no
        // zeroing per chunk.
        let mut buf = match back.try_recv() {
            Ok(mut b) => {
                b.resize(CHUNK, 0);
                b
            }
            Err(_) => vec![0u8; CHUNK],
        };
        let n = match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return fail(RootfsError::Tar {
                    layer: label.to_string(),
                    source: e,
                })
            }
        };
        total += n as u64;
        if let Some(e) = over_bounds(label, limits, total, compressed.load(Ordering::Relaxed)) {
            return fail(e);
        }
        if verified.is_none() {
            hasher.update(&buf[..n]);
        }
        buf.truncate(n);
        if tx.send(Msg::Data(Bytes::from(buf))).is_err() {
            return;
        }
    }
    let _ = tx.send(Msg::End(StreamFacts {
        compression,
        diff_id: verified.unwrap_or_else(|| hasher.finish()),
        uncompressed: total,
        compressed: compressed.load(Ordering::Relaxed),
    }));
}

/// The applier's end of a decoding worker: a `Read` of the uncompressed tar.
pub struct Decoded {
    s: BlockStream<FromWorker>,
}

/// The blocks a [`Decoded`] reads: data until the end's facts, or a failure.
struct FromWorker {
    rx: Receiver<Msg>,
    facts: Option<StreamFacts>,
    failure: Option<RootfsError>,
}

impl BlockSource for FromWorker {
    fn next_block(&mut self) -> io::Result<Option<Bytes>> {
        match self.rx.recv() {
            Ok(Msg::Data(d)) => Ok(Some(d)),
            Ok(Msg::End(f)) => {
                self.facts = Some(f);
                Ok(None)
            }
            Ok(Msg::Fail(e)) => {
                let msg = e.to_string();
                self.failure = Some(e);
                Err(io::Error::other(msg))
            }
            Err(_) => Err(io::Error::other("layer decoder stopped")),
        }
    }
}

impl Decoded {
    /// Spawns the worker for `r` inside `scope`.
    pub fn spawn<'scope, 'env, R: Read + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        r: R,
        label: String,
        limits: Limits,
    ) -> Decoded {
        Self::spawn_with(scope, r, label, limits, None)
    }

    /// [`Decoded::spawn`] for a blob whose diff ID was verified moments ago by whoever
    /// stored it (a pull that inflated and hashed it as it downloaded): the worker
    /// inflates it but does not hash it again, and reports `diff_id` as the digest.
    pub fn spawn_verified<'scope, 'env, R: Read + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        r: R,
        label: String,
        limits: Limits,
        diff_id: Digest,
    ) -> Decoded {
        Self::spawn_with(scope, r, label, limits, Some(diff_id))
    }

    fn spawn_with<'scope, 'env, R: Read + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        r: R,
        label: String,
        limits: Limits,
        verified: Option<Digest>,
    ) -> Decoded {
        let (tx, rx) = sync_channel(DEPTH);
        let (back_tx, back_rx) = std::sync::mpsc::channel();
        scope.spawn(move || produce(r, &label, &limits, &tx, &back_rx, verified));
        Decoded::reading(rx, Some(back_tx))
    }

    /// The applier's end of `rx`; read chunks go back to `back`.
    fn reading(rx: Receiver<Msg>, back: Option<std::sync::mpsc::Sender<Vec<u8>>>) -> Decoded {
        let src = FromWorker {
            rx,
            facts: None,
            failure: None,
        };
        Decoded {
            s: BlockStream::new(src, back),
        }
    }

    /// Reads and discards the rest of the stream, then returns the facts (or the
    /// worker's error).
    pub fn finish(&mut self) -> Result<StreamFacts, RootfsError> {
        let mut sink = [0u8; 8192];
        loop {
            match self.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    return Err(self
                        .take_failure()
                        .unwrap_or(RootfsError::io("reading layer", e)));
                }
            }
        }
        if let Some(f) = self.take_failure() {
            return Err(f);
        }
        self.s
            .source()
            .facts
            .clone()
            .ok_or_else(|| RootfsError::io("reading layer", io::ErrorKind::UnexpectedEof.into()))
    }

    /// The worker's typed error, if it failed.
    pub fn take_failure(&mut self) -> Option<RootfsError> {
        self.s.source_mut().failure.take()
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.s.read(buf)
    }
}

/// Forward seeks only: how the tar reader skips what it does not read (padding, the
/// contents of entries that are not written) without copying it into a buffer. The
/// stream is still inflated and hashed whole by the worker. A seek past the end is an
/// error, as reading the skipped bytes would have been.
impl Seek for Decoded {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.s.seek(to)
    }
}

/// The sending side of a [`Decoded`] fed with a tar that is already uncompressed and
/// hashed elsewhere: a pull's layer scan, which inflates and hashes each layer once for
/// its own diff-ID check. Blocks pass through shared, not copied, and are not hashed
/// again; the bounds on size and expansion are still enforced here, the ratio against the
/// blob's full compressed size (a lower bound of the final ratio at every point).
pub struct PlainFeed {
    tx: SyncSender<Msg>,
    label: String,
    limits: Limits,
    compressed: u64,
    total: u64,
    failed: bool,
}

impl PlainFeed {
    /// A feed for a layer whose blob is `compressed` bytes, and the applier's end of it.
    pub fn new(label: &str, limits: Limits, compressed: u64) -> (PlainFeed, Decoded) {
        let (tx, rx) = sync_channel(DEPTH);
        let feed = PlainFeed {
            tx,
            label: label.to_string(),
            limits,
            compressed,
            total: 0,
            failed: false,
        };
        (feed, Decoded::reading(rx, None))
    }

    /// The next block. An error means the applier stopped or a bound was crossed (the
    /// applier then reports which); nothing more is taken.
    pub fn push(&mut self, block: Bytes) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("the layer copy was refused"));
        }
        self.total += block.len() as u64;
        let limit = over_bounds(&self.label, &self.limits, self.total, self.compressed);
        if let Some(e) = limit {
            self.failed = true;
            let _ = self.tx.send(Msg::Fail(e));
            return Err(io::Error::other("a layer bound was crossed"));
        }
        self.tx
            .send(Msg::Data(block))
            .map_err(|_| io::Error::other("the unpack stopped"))
    }

    /// Every block was pushed; `diff_id` is the digest of all of them, as the sender
    /// computed it. False when the applier is gone.
    pub fn end(self, compression: Compression, diff_id: Digest) -> bool {
        if self.failed {
            return false;
        }
        self.tx
            .send(Msg::End(StreamFacts {
                compression,
                diff_id,
                uncompressed: self.total,
                compressed: self.compressed,
            }))
            .is_ok()
    }
}

/// Bounds the bytes the tar reader consumes while it looks for the next entry: headers,
/// PAX records, GNU long names and sparse maps, all of which it keeps in memory. The
/// applier switches [`MetaBudget::arm`] on around `Entries::next` and off after.
#[derive(Clone, Default)]
pub struct MetaBudget {
    armed: Rc<Cell<bool>>,
    used: Rc<Cell<u64>>,
    tripped: Rc<Cell<bool>>,
}

impl MetaBudget {
    /// Starts counting (resets the count).
    pub fn arm(&self) {
        self.used.set(0);
        self.armed.set(true);
    }
    /// Stops counting.
    pub fn disarm(&self) {
        self.armed.set(false);
    }
    /// Whether the last error came from this budget.
    pub fn tripped(&self) -> bool {
        self.tripped.get()
    }
}

/// A reader charging a [`MetaBudget`] while it is armed.
pub struct Guarded<R> {
    inner: R,
    budget: MetaBudget,
    limit: u64,
}

impl<R> Guarded<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, budget: MetaBudget, limit: u64) -> Self {
        Guarded {
            inner,
            budget,
            limit,
        }
    }
    /// The wrapped reader.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Skipped bytes are not charged: the tar reader keeps none of them in memory.
impl<R: Seek> Seek for Guarded<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.budget.armed.get() {
            let used = self.budget.used.get() + n as u64;
            self.budget.used.set(used);
            // One header block and up to one block of padding are always allowed.
            if used > self.limit.saturating_add(1024) {
                self.budget.tripped.set(true);
                return Err(io::Error::other("tar metadata too large"));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<u8> {
        (0..(3 * CHUNK + 1000) as u32)
            .map(|i| (i % 251) as u8)
            .collect()
    }

    #[test]
    fn seeks_skip_across_chunks_and_keep_the_offset() {
        let d = data();
        std::thread::scope(|s| {
            let mut dec = Decoded::spawn(s, &d[..], "t".into(), Limits::default());
            let mut b = [0u8; 10];
            dec.read_exact(&mut b).unwrap();
            let to = dec.seek(SeekFrom::Current((2 * CHUNK) as i64)).unwrap();
            assert_eq!(to, 10 + 2 * CHUNK as u64);
            dec.read_exact(&mut b).unwrap();
            assert_eq!(&b[..], &d[to as usize..to as usize + 10]);
            let facts = dec.finish().unwrap();
            assert_eq!(
                facts.diff_id,
                Digest::sha256_of(&d),
                "skipped bytes are hashed"
            );
            assert_eq!(facts.uncompressed, d.len() as u64);
        });
    }

    #[test]
    fn a_seek_past_the_end_is_an_error() {
        let d = data();
        std::thread::scope(|s| {
            let mut dec = Decoded::spawn(s, &d[..], "t".into(), Limits::default());
            let e = dec.seek(SeekFrom::Current(d.len() as i64 + 1)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(dec.seek(SeekFrom::Start(0)).is_err(), "only relative seeks");
        });
    }
}
