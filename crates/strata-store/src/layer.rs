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

use strata_oci::{Digest, Digester};

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

/// Receives a copy of a layer's uncompressed tar while [`scan_layer_tee`] reads it (how
/// `pull --unpack` applies a layer from its download instead of inflating it twice).
pub trait TarSink: Send {
    /// The next bytes. An error stops the copy; the scan itself goes on.
    fn write(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Every byte of the tar was delivered. A sink dropped without this call saw an
    /// incomplete copy (the scan failed, or the download restarted the blob).
    fn done(self: Box<Self>);
}

/// Passes what it reads to a [`TarSink`] until the sink refuses.
struct Tee<R> {
    inner: R,
    sink: Option<Box<dyn TarSink>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Some(s) = &mut self.sink {
                if s.write(&buf[..n]).is_err() {
                    self.sink = None;
                }
            }
        }
        Ok(n)
    }
}

/// Reads a (possibly compressed) layer to its end and returns its facts. Fails on a
/// malformed tar.
pub fn scan_layer<R: Read>(r: R) -> io::Result<LayerFacts> {
    scan_layer_tee(r, None)
}

/// [`scan_layer`], also handing every uncompressed byte to `sink` (and calling its
/// `done` once the whole tar was read and found well-formed).
///
/// Two threads share the work: this one only decompresses, in [`SCAN_BLOCK`] blocks; a
/// second hashes the uncompressed bytes, walks the tar and feeds the sink. On a one-layer
/// image that halves the critical path of a pull, which verifies the diff ID as it
/// downloads.
pub fn scan_layer_tee<R: Read>(r: R, sink: Option<Box<dyn TarSink>>) -> io::Result<LayerFacts> {
    let (compression, mut plain) = decompress(r)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|s| {
        let walker = s.spawn(move || walk_tar(BlockReader::new(rx), sink));
        let fed = feed_blocks(&mut plain, &tx);
        drop(tx);
        let walked = walker
            .join()
            .map_err(|_| io::Error::other("the layer scan thread panicked"))?;
        // A decompression error explains the walker's truncated tar best.
        fed?;
        let (diff_id, uncompressed_size, unpacked_size, entries) = walked?;
        Ok(LayerFacts {
            compression,
            diff_id,
            uncompressed_size,
            unpacked_size,
            entries,
        })
    })
}

/// Bytes handed from the decompressing thread to the walking one at a time.
pub const SCAN_BLOCK: usize = 256 << 10;

/// Decompresses `plain` into blocks for the walker; stops quietly when the walker has
/// stopped (its error is the one reported).
fn feed_blocks(plain: &mut dyn Read, tx: &std::sync::mpsc::SyncSender<Vec<u8>>) -> io::Result<()> {
    loop {
        let mut buf = vec![0u8; SCAN_BLOCK];
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
        if tx.send(buf).is_err() || n < SCAN_BLOCK {
            return Ok(());
        }
    }
}

/// Reads, in order, the byte blocks another thread sends; the channel closing is the
/// end. (Whether the sender finished or gave up is for the two sides to agree on.)
pub struct BlockReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl BlockReader {
    /// A reader of the blocks `rx` receives.
    pub fn new(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> BlockReader {
        BlockReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for BlockReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Hashes and walks an uncompressed tar: (diff ID, tar bytes, Docker's size, entries).
fn walk_tar<R: Read>(
    plain: R,
    sink: Option<Box<dyn TarSink>>,
) -> io::Result<(Digest, u64, u64, u64)> {
    let mut hr = HashingReader {
        inner: Tee { inner: plain, sink },
        hasher: Digester::default(),
        count: 0,
    };
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    {
        let mut ar = tar::Archive::new(&mut hr);
        for e in ar.entries()? {
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
    io::copy(&mut hr, &mut io::sink())?;
    if let Some(s) = hr.inner.sink.take() {
        s.done();
    }
    Ok((hr.hasher.finish(), hr.count, sizes.values().sum(), entries))
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
