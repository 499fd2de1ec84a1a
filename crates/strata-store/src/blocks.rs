//! A byte stream that arrives as blocks, usually from another thread: the shape of every
//! layer pipeline here (a pull's layer scan, the applier's decoding worker). One reader
//! serves them all: it reads across blocks, skips forward without copying (a tar reader
//! seeks over file contents it does not need), and hands finished blocks back to their
//! producer for reuse, so the producer neither allocates nor zeroes a buffer per block.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::mpsc::Sender;

use bytes::Bytes;

/// Where the blocks come from.
pub trait BlockSource {
    /// The next block; None at the end of the stream (not asked again after that).
    fn next_block(&mut self) -> io::Result<Option<Bytes>>;
}

/// `Read` and forward-only `Seek` over the blocks of a [`BlockSource`].
pub struct BlockStream<S> {
    src: S,
    cur: Bytes,
    pos: usize,
    /// Bytes consumed, read or skipped.
    offset: u64,
    ended: bool,
    recycle: Option<Sender<Vec<u8>>>,
}

impl<S: BlockSource> BlockStream<S> {
    /// A stream over `src`'s blocks; finished blocks nothing else holds go to `recycle`.
    pub fn new(src: S, recycle: Option<Sender<Vec<u8>>>) -> BlockStream<S> {
        BlockStream {
            src,
            cur: Bytes::new(),
            pos: 0,
            offset: 0,
            ended: false,
            recycle,
        }
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.src
    }

    /// The source, mutably.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.src
    }

    /// Makes sure unread bytes are at hand; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        while self.pos == self.cur.len() {
            if self.ended {
                return Ok(false);
            }
            self.give_back();
            match self.src.next_block()? {
                Some(b) => self.cur = b,
                None => {
                    self.ended = true;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn give_back(&mut self) {
        let done = std::mem::take(&mut self.cur);
        self.pos = 0;
        if done.is_empty() {
            return;
        }
        if let Some(back) = &self.recycle {
            if let Ok(m) = done.try_into_mut() {
                let _ = back.send(Vec::from(m));
            }
        }
    }
}

impl<S: BlockSource> Read for BlockStream<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || !self.fill()? {
            return Ok(0);
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Forward seeks only (`SeekFrom::Current` with a non-negative offset). A seek past the
/// end of the stream is an error, as reading the skipped bytes would have been.
impl<S: BlockSource> Seek for BlockStream<S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = to else {
            return Err(io::Error::other("block stream: only relative seeks"));
        };
        let mut left =
            u64::try_from(delta).map_err(|_| io::Error::other("block stream: cannot seek back"))?;
        while left > 0 {
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "unexpected EOF during skip",
                ));
            }
            let n = left.min((self.cur.len() - self.pos) as u64);
            self.pos += n as usize;
            self.offset += n;
            left -= n;
        }
        Ok(self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pieces(std::vec::IntoIter<Bytes>);

    impl BlockSource for Pieces {
        fn next_block(&mut self) -> io::Result<Option<Bytes>> {
            Ok(self.0.next())
        }
    }

    fn stream(data: &[u8], size: usize, back: Option<Sender<Vec<u8>>>) -> BlockStream<Pieces> {
        let blocks: Vec<Bytes> = data.chunks(size).map(|c| Bytes::from(c.to_vec())).collect();
        BlockStream::new(Pieces(blocks.into_iter()), back)
    }

    #[test]
    fn reads_and_skips_across_blocks_and_recycles_them() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut s = stream(&data, 1000, Some(tx));
        let mut b = [0u8; 10];
        s.read_exact(&mut b).unwrap();
        assert_eq!(s.seek(SeekFrom::Current(2_500)).unwrap(), 2_510);
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b[..], &data[2_510..2_520]);
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert_eq!(&rest[..], &data[2_520..]);
        let back: Vec<Vec<u8>> = rx.try_iter().collect();
        assert_eq!(back.len(), 10, "every block, once finished");
        assert!(back.iter().all(|v| v.len() == 1000));
    }

    #[test]
    fn seeking_past_the_end_or_backwards_is_an_error() {
        let data = vec![7u8; 3000];
        let mut s = stream(&data, 1000, None);
        let e = s.seek(SeekFrom::Current(3001)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let mut s = stream(&data, 1000, None);
        assert!(s.seek(SeekFrom::Current(-1)).is_err());
        assert!(s.seek(SeekFrom::Start(0)).is_err());
        assert_eq!(s.seek(SeekFrom::Current(3000)).unwrap(), 3000);
        assert_eq!(s.read(&mut [0u8; 4]).unwrap(), 0);
    }
}
