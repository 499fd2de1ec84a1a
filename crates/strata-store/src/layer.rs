//! Facts about a layer computed in one streaming pass: its diff ID (digest of the
//! uncompressed tar), uncompressed size, and the size Docker shows for it.
//!
//! Docker's size of a layer is what its files take once unpacked into the layer's own
//! directory (moby `directory.Size`): the sum of the sizes of every non-directory entry
//! left in the layer, symlinks counting the length of their target, hardlinks counted
//! once, whiteouts counting nothing. Computing it here, when the layer enters the store,
//! means nothing has to be unpacked to show `image ls` or `history`.

use std::collections::HashMap;
use std::io::{self, Read};

use bytes::Bytes;

use strata_oci::{Digest, Digester};

use crate::blocks::{BlockSource, BlockStream};
use crate::compress::{decompress, Compression};

/// The result of [`scan_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFacts {
    /// Compression found.
    pub compression: Compression,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Docker's unpacked size.
    pub unpacked_size: u64,
    /// Tar entries read.
    pub entries: u64,
}

/// Hashes and counts what passes through (layer scans, and saves that notice a blob
/// corrupted on disk while streaming it).
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) hasher: Digester,
    pub(crate) count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Normalises a tar path the way layer application does: no leading `./` or `/`, no
/// trailing `/`.
pub fn clean_path(p: &[u8]) -> String {
    let s = String::from_utf8_lossy(p);
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Receives a layer's uncompressed tar while [`scan_layer_tee`] reads it (how
/// `pull --unpack` applies a layer from its download instead of inflating it twice).
pub trait TarSink: Send {
    /// The next block of the tar, in order: the scanner's own buffer, shared, not
    /// copied. An error stops the copy; the scan itself goes on.
    fn block(&mut self, block: Bytes) -> io::Result<()>;
    /// Every byte of the tar was delivered and the tar is well-formed; `facts` are the
    /// scan's (its diff ID included). A sink dropped without this call saw an
    /// incomplete copy (the scan failed, or the download restarted the blob).
    fn done(self: Box<Self>, facts: &LayerFacts);
}

/// Reads a (possibly compressed) layer to its end and returns its facts. Fails on a
/// malformed tar.
pub fn scan_layer<R: Read>(r: R) -> io::Result<LayerFacts> {
    scan_layer_tee(r, None)
}

/// [`scan_layer`], also handing every uncompressed block to `sink` (and calling its
/// `done` once the whole tar was read and found well-formed).
///
/// Two threads share the work: this one only decompresses, in [`SCAN_BLOCK`] blocks; a
/// second hashes the uncompressed bytes, walks the tar and feeds the sink. On a one-layer
/// image that halves the critical path of a pull, which verifies the diff ID as it
/// downloads. Without a sink, blocks go back to the decompressing thread for reuse, so
/// it neither allocates nor zeroes a buffer per block.
pub fn scan_layer_tee<R: Read>(r: R, sink: Option<Box<dyn TarSink>>) -> io::Result<LayerFacts> {
    let (compression, mut plain) = decompress(r)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(4);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let recycle = sink.is_none().then_some(back_tx);
    std::thread::scope(|s| {
        let walker = s.spawn(move || {
            let src = ScanSource {
                rx,
                hasher: Digester::default(),
                count: 0,
                sink,
            };
            walk_tar(BlockStream::new(src, recycle), compression)
        });
        let fed = feed_blocks(&mut plain, &tx, &back_rx);
        drop(tx);
        let walked = walker
            .join()
            .map_err(|_| io::Error::other("the layer scan thread panicked"))?;
        // A decompression error explains the walker's truncated tar best.
        fed?;
        walked
    })
}

/// Bytes handed from the decompressing thread to the walking one at a time.
pub const SCAN_BLOCK: usize = 256 << 10;

/// Decompresses `plain` into blocks for the walker, reusing the blocks it sends back;
/// stops quietly when the walker has stopped (its error is the one reported).
fn feed_blocks(
    plain: &mut dyn Read,
    tx: &std::sync::mpsc::SyncSender<Bytes>,
    back: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    loop {
        let mut buf = match back.try_recv() {
            Ok(mut b) => {
                b.resize(SCAN_BLOCK, 0);
                b
            }
            Err(_) => vec![0u8; SCAN_BLOCK],
        };
        let mut n = 0;
        while n < SCAN_BLOCK {
            match plain.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        if tx.send(Bytes::from(buf)).is_err() || n < SCAN_BLOCK {
            return Ok(());
        }
    }
}

/// The walking thread's source of the blocks the decompressing thread sends: hashes and
/// counts each block as it arrives (read or skipped) and hands it to the sink (shared,
/// not copied).
struct ScanSource {
    rx: std::sync::mpsc::Receiver<Bytes>,
    hasher: Digester,
    count: u64,
    sink: Option<Box<dyn TarSink>>,
}

impl BlockSource for ScanSource {
    fn next_block(&mut self) -> io::Result<Option<Bytes>> {
        let Ok(b) = self.rx.recv() else {
            return Ok(None);
        };
        self.hasher.update(&b);
        self.count += b.len() as u64;
        if let Some(s) = &mut self.sink {
            if s.block(b.clone()).is_err() {
                self.sink = None;
            }
        }
        Ok(Some(b))
    }
}

/// Hashes and walks an uncompressed tar, then tells the sink it got all of it.
fn walk_tar(mut r: BlockStream<ScanSource>, compression: Compression) -> io::Result<LayerFacts> {
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    {
        let mut ar = tar::Archive::new(&mut r);
        for e in ar.entries_with_seek()? {
            let e = e?;
            entries += 1;
            let path = clean_path(&e.path_bytes());
            if path.is_empty() {
                continue;
            }
            let base = path.rsplit('/').next().unwrap_or("");
            let size = if base.starts_with(".wh.") {
                0
            } else {
                match e.header().entry_type() {
                    tar::EntryType::Regular
                    | tar::EntryType::Continuous
                    | tar::EntryType::GNUSparse => e.size(),
                    tar::EntryType::Symlink => {
                        e.link_name_bytes().map(|l| l.len() as u64).unwrap_or(0)
                    }
                    _ => 0,
                }
            };
            sizes.insert(path, size);
        }
    }
    // Hash the end-of-archive blocks and any padding too.
    io::copy(&mut r, &mut io::sink())?;
    let src = r.source_mut();
    let facts = LayerFacts {
        compression,
        diff_id: std::mem::take(&mut src.hasher).finish(),
        uncompressed_size: src.count,
        unpacked_size: sizes.values().sum(),
        entries,
    };
    if let Some(s) = src.sink.take() {
        s.done(&facts);
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn docker_size_counts_files_symlinks_once_and_no_whiteouts() {
        let t = tar_with(&[
            ("a.txt", tar::EntryType::Regular, b"hello world\n", None),
            ("dir/", tar::EntryType::Directory, b"", None),
            ("dir/b", tar::EntryType::Regular, &[7u8; 5000], None),
            ("dir/b", tar::EntryType::Regular, &[7u8; 100], None),
            ("hard", tar::EntryType::Link, b"", Some("a.txt")),
            ("sym", tar::EntryType::Symlink, b"", Some("a.txt")),
            ("dir/.wh.gone", tar::EntryType::Regular, b"", None),
        ]);
        let f = scan_layer(&t[..]).unwrap();
        assert_eq!(f.unpacked_size, 12 + 100 + 5);
        assert_eq!(f.diff_id, Digest::sha256_of(&t));
        assert_eq!(f.uncompressed_size, t.len() as u64);
        assert_eq!(f.compression, Compression::None);
        assert_eq!(f.entries, 7);
    }

    #[test]
    fn truncated_tar_is_an_error() {
        let t = tar_with(&[("a", tar::EntryType::Regular, &[1u8; 4000], None)]);
        assert!(scan_layer(&t[..1000]).is_err());
    }

    #[test]
    fn clean_path_strips_dots_and_slashes() {
        assert_eq!(clean_path(b"./a/b/"), "a/b");
        assert_eq!(clean_path(b"/a/../b"), "b");
        assert_eq!(clean_path(b"../../etc"), "etc");
    }
}
