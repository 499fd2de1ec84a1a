//! Compression sniffed from the bytes (never trusted from a media type or file name).

use std::io::{self, BufRead, BufReader, Read};

/// A compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
    /// xz.
    Xz,
    /// bzip2.
    Bzip2,
}

impl Compression {
    /// Detects the format from the first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(1 << 16, r);
    let head = br.fill_buf()?;
    let c = Compression::sniff(head);
    let out: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(Gunzip::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(br)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(br)),
    };
    Ok((c, out))
}

/// A multi-member gzip reader that inflates raw deflate (zlib-rs) and checks each member's
/// length trailer (ISIZE), but not its CRC-32.
///
/// Every layer Strata inflates is also hashed with SHA-256 and compared with its diff ID,
/// a far stronger check of the same bytes, so the CRC would be paid for twice; on a pull it
/// is about a tenth of the inflating thread's time. Headers are parsed as RFC 1952 says
/// (FEXTRA, FNAME, FCOMMENT, FHCRC); anything after a member must be another member.
pub struct Gunzip<R> {
    r: R,
    d: flate2::Decompress,
    state: GzState,
    /// Bytes the current member produced (its ISIZE is this modulo 2^32).
    member_out: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GzState {
    /// Before the first member: a header must follow.
    First,
    /// After a member: another header, or the end.
    Between,
    Body,
    Done,
}

fn gz_err(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {msg}"))
}

impl<R: BufRead> Gunzip<R> {
    /// A reader of the gzip stream `r`.
    pub fn new(r: R) -> Gunzip<R> {
        Gunzip {
            r,
            d: flate2::Decompress::new(false),
            state: GzState::First,
            member_out: 0,
        }
    }

    /// The underlying reader, positioned after what was read.
    pub fn into_inner(self) -> R {
        self.r
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.r
            .read_exact(&mut b)
            .map_err(|_| gz_err("truncated header or trailer"))?;
        Ok(b[0])
    }

    fn skip_zero_terminated(&mut self) -> io::Result<()> {
        while self.byte()? != 0 {}
        Ok(())
    }

    /// Reads a member header; false at a clean end of stream between members.
    fn header(&mut self) -> io::Result<bool> {
        if self.state == GzState::Between && self.r.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut h = [0u8; 10];
        self.r
            .read_exact(&mut h)
            .map_err(|_| gz_err("truncated header"))?;
        if h[0] != 0x1f || h[1] != 0x8b {
            return Err(gz_err("invalid header (bad magic)"));
        }
        if h[2] != 8 {
            return Err(gz_err("unsupported compression method"));
        }
        let flags = h[3];
        if flags & 0xe0 != 0 {
            return Err(gz_err("reserved header flags set"));
        }
        if flags & 0x04 != 0 {
            let len = u16::from_le_bytes([self.byte()?, self.byte()?]);
            for _ in 0..len {
                self.byte()?;
            }
        }
        if flags & 0x08 != 0 {
            self.skip_zero_terminated()?;
        }
        if flags & 0x10 != 0 {
            self.skip_zero_terminated()?;
        }
        if flags & 0x02 != 0 {
            self.byte()?;
            self.byte()?;
        }
        Ok(true)
    }

    fn trailer(&mut self) -> io::Result<()> {
        let mut t = [0u8; 8];
        self.r
            .read_exact(&mut t)
            .map_err(|_| gz_err("truncated trailer"))?;
        let isize = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if isize != self.member_out as u32 {
            return Err(gz_err("length in the trailer does not match the data"));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                GzState::Done => return Ok(0),
                GzState::First | GzState::Between => {
                    if !self.header()? {
                        self.state = GzState::Done;
                        return Ok(0);
                    }
                    self.d.reset(false);
                    self.member_out = 0;
                    self.state = GzState::Body;
                }
                GzState::Body => {
                    let input = self.r.fill_buf()?;
                    let eof = input.is_empty();
                    let (in0, out0) = (self.d.total_in(), self.d.total_out());
                    let status = self
                        .d
                        .decompress(input, out, flate2::FlushDecompress::None)
                        .map_err(|e| gz_err(&format!("corrupt deflate data ({e})")))?;
                    let used = (self.d.total_in() - in0) as usize;
                    let made = (self.d.total_out() - out0) as usize;
                    self.r.consume(used);
                    self.member_out += made as u64;
                    if status == flate2::Status::StreamEnd {
                        self.trailer()?;
                        self.state = GzState::Between;
                        if made > 0 {
                            return Ok(made);
                        }
                        continue;
                    }
                    if made > 0 {
                        return Ok(made);
                    }
                    if eof {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "gzip: the stream ends inside a member",
                        ));
                    }
                    if used == 0 {
                        return Err(gz_err("the inflater made no progress"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Gunzip::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gunzip_reads_members_in_turn_and_header_fields() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut two = gz(&a);
        two.extend(gz(b"second member"));
        let mut want = a.clone();
        want.extend_from_slice(b"second member");
        assert_eq!(gunzip(&two).unwrap(), want);
        // A header with FEXTRA, FNAME, FCOMMENT and FHCRC (flate2's builder writes them).
        let mut e = flate2::GzBuilder::new()
            .extra(vec![1, 2, 3])
            .filename("layer.tar")
            .comment("c")
            .write(Vec::new(), flate2::Compression::best());
        e.write_all(&a).unwrap();
        let with_fields = e.finish().unwrap();
        assert_eq!(gunzip(&with_fields).unwrap(), a);
        // Reading in one-byte steps gives the same bytes.
        let mut r = Gunzip::new(BufReader::with_capacity(7, &two[..]));
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while r.read(&mut b).unwrap() == 1 {
            got.push(b[0]);
        }
        assert_eq!(got, want);
        assert!(gunzip(&gz(b"")).unwrap().is_empty());
    }

    #[test]
    fn gunzip_rejects_truncation_garbage_and_bad_lengths() {
        let data = b"some layer bytes ".repeat(1000);
        let z = gz(&data);
        for cut in [5, 20, z.len() / 2, z.len() - 6, z.len() - 1] {
            assert!(gunzip(&z[..cut]).is_err(), "cut at {cut}");
        }
        let mut garbage = z.clone();
        garbage.extend_from_slice(b"not gzip");
        assert!(gunzip(&garbage).is_err());
        let mut bad_len = z.clone();
        let n = bad_len.len();
        bad_len[n - 1] ^= 0x40;
        let e = gunzip(&bad_len).unwrap_err();
        assert!(e.to_string().contains("length"), "{e}");
        let mut corrupt = z.clone();
        corrupt[12] ^= 0xff;
        corrupt[13] ^= 0xff;
        assert!(gunzip(&corrupt).map(|o| o != data).unwrap_or(true));
    }

    #[test]
    fn sniffs_and_round_trips_every_format() {
        let data = b"hello strata".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 3).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        let xz = xz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let bz = bz.finish().unwrap();
        for (bytes, want) in [
            (data.clone(), Compression::None),
            (gz, Compression::Gzip),
            (zs, Compression::Zstd),
            (xz, Compression::Xz),
            (bz, Compression::Bzip2),
        ] {
            let (c, mut r) = decompress(&bytes[..]).unwrap();
            assert_eq!(c, want);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
