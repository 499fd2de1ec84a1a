//! A small reader for ZIP archives (stored and deflated entries, ZIP64 sizes), enough for
//! OSV's `all.zip` exports and Java archives.

use std::io::Read;

/// One entry of an archive.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    /// Path inside the archive.
    pub name: String,
    /// Compression method (0 stored, 8 deflate).
    pub method: u16,
    /// Compressed size.
    pub compressed_size: u64,
    /// Uncompressed size.
    pub size: u64,
    /// Offset of the local header.
    pub offset: u64,
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64le(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Lists the entries of an archive held in memory; None when it is not a ZIP.
pub fn entries(data: &[u8]) -> Option<Vec<ZipEntry>> {
    // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
    let start = data.len().saturating_sub(65_557);
    let eocd = (start..data.len().saturating_sub(21))
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))?;
    let mut count = u16le(data, eocd + 10)? as u64;
    let mut cd_offset = u32le(data, eocd + 16)? as u64;
    if (count == 0xffff || cd_offset == 0xffff_ffff) && eocd >= 20 {
        // ZIP64 locator right before the EOCD.
        let loc = eocd - 20;
        if data[loc..].starts_with(b"PK\x06\x07") {
            let z64 = u64le(data, loc + 8)? as usize;
            if data.get(z64..)?.starts_with(b"PK\x06\x06") {
                count = u64le(data, z64 + 32)?;
                cd_offset = u64le(data, z64 + 48)?;
            }
        }
    }
    let mut out = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut p = cd_offset as usize;
    for _ in 0..count {
        if !data.get(p..)?.starts_with(b"PK\x01\x02") {
            return None;
        }
        let method = u16le(data, p + 10)?;
        let mut csize = u32le(data, p + 20)? as u64;
        let mut size = u32le(data, p + 24)? as u64;
        let nlen = u16le(data, p + 28)? as usize;
        let xlen = u16le(data, p + 30)? as usize;
        let clen = u16le(data, p + 32)? as usize;
        let mut offset = u32le(data, p + 42)? as u64;
        let name = String::from_utf8_lossy(data.get(p + 46..p + 46 + nlen)?).into_owned();
        // ZIP64 extra field.
        let mut x = p + 46 + nlen;
        let xend = x + xlen;
        while x + 4 <= xend {
            let id = u16le(data, x)?;
            let len = u16le(data, x + 2)? as usize;
            if id == 1 {
                let mut q = x + 4;
                if size == 0xffff_ffff {
                    size = u64le(data, q)?;
                    q += 8;
                }
                if csize == 0xffff_ffff {
                    csize = u64le(data, q)?;
                    q += 8;
                }
                if offset == 0xffff_ffff {
                    offset = u64le(data, q)?;
                }
            }
            x += 4 + len;
        }
        out.push(ZipEntry {
            name,
            method,
            compressed_size: csize,
            size,
            offset,
        });
        p = xend + clen;
    }
    Some(out)
}

/// Reads one entry's content (at most `limit` bytes uncompressed).
pub fn read(data: &[u8], e: &ZipEntry, limit: u64) -> std::io::Result<Vec<u8>> {
    let bad =
        |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {m}", e.name));
    let h = e.offset as usize;
    if !data.get(h..).unwrap_or_default().starts_with(b"PK\x03\x04") {
        return Err(bad("bad local header"));
    }
    let nlen = u16le(data, h + 26).ok_or_else(|| bad("truncated"))? as usize;
    let xlen = u16le(data, h + 28).ok_or_else(|| bad("truncated"))? as usize;
    let start = h + 30 + nlen + xlen;
    let raw = data
        .get(start..start + e.compressed_size as usize)
        .ok_or_else(|| bad("truncated entry"))?;
    let mut out = Vec::new();
    match e.method {
        0 => out.extend_from_slice(&raw[..raw.len().min(limit as usize)]),
        8 => {
            flate2::read::DeflateDecoder::new(raw)
                .take(limit)
                .read_to_end(&mut out)?;
        }
        m => return Err(bad(&format!("unsupported compression method {m}"))),
    }
    Ok(out)
}

/// Writes a ZIP archive of deflated entries (used to build exports and test fixtures).
pub fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in files {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).unwrap();
            let comp = enc.finish().unwrap();
            let off = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&comp);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&off.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let z = build(&[("a.json", b"{\"id\":\"A\"}"), ("dir/b.txt", &[7u8; 5000])]);
        let es = entries(&z).unwrap();
        assert_eq!(es.len(), 2);
        assert_eq!(read(&z, &es[0], 1 << 20).unwrap(), b"{\"id\":\"A\"}");
        assert_eq!(read(&z, &es[1], 1 << 20).unwrap(), vec![7u8; 5000]);
        assert!(entries(b"not a zip").is_none());
    }
}
