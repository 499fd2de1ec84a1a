//! RPM packages from the three rpmdb formats: `rpmdb.sqlite` (rpm ≥ 4.16), NDB
//! `Packages.db` (SUSE) and Berkeley DB hash `Packages` (older RHEL/CentOS), under
//! `var/lib/rpm`, `usr/lib/sysimage/rpm` or `usr/share/rpm`.
//!
//! Every format stores the same thing: one header blob per package (an index of
//! `(tag, type, offset, count)` entries followed by a data store), read here into name,
//! epoch, version, release, arch, `SOURCERPM`, license and the files the package owns.

use std::io::Write;

use crate::fs::ImageFs;
use crate::package::{Package, PkgType};

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Directories that may hold an rpmdb.
pub const DB_DIRS: &[&str] = &["var/lib/rpm", "usr/lib/sysimage/rpm", "usr/share/rpm"];
/// The database file names, newest format first.
pub const DB_FILES: &[&str] = &["rpmdb.sqlite", "Packages.db", "Packages"];

/// Whether a path is an rpmdb file.
pub fn wants(path: &str) -> bool {
    DB_DIRS.iter().any(|d| {
        DB_FILES.iter().any(|f| {
            path.len() == d.len() + 1 + f.len() && path.starts_with(d) && path.ends_with(f)
        })
    })
}

/// The fields of one header blob that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// NAME.
    pub name: String,
    /// EPOCH, when set.
    pub epoch: Option<u32>,
    /// VERSION.
    pub version: String,
    /// RELEASE.
    pub release: String,
    /// ARCH.
    pub arch: String,
    /// SOURCERPM.
    pub source_rpm: String,
    /// LICENSE.
    pub license: String,
    /// Files owned (absolute paths).
    pub files: Vec<String>,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a header blob (`il`, `dl`, index entries, data store).
pub fn parse_header(blob: &[u8]) -> Option<Header> {
    let il = be32(blob, 0)? as usize;
    let dl = be32(blob, 4)? as usize;
    if il == 0 || il > 100_000 {
        return None;
    }
    let data_start = 8 + il * 16;
    let data = blob.get(data_start..data_start + dl)?;
    let mut h = Header::default();
    let mut dirs: Vec<String> = Vec::new();
    let mut bases: Vec<String> = Vec::new();
    let mut idx: Vec<u32> = Vec::new();
    let cstr = |off: usize| -> Option<String> {
        let s = data.get(off..)?;
        let end = s.iter().position(|b| *b == 0)?;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    };
    let strs = |off: usize, count: usize| -> Option<Vec<String>> {
        let mut out = Vec::with_capacity(count.min(100_000));
        let mut p = off;
        for _ in 0..count {
            let s = data.get(p..)?;
            let end = s.iter().position(|b| *b == 0)?;
            out.push(String::from_utf8_lossy(&s[..end]).into_owned());
            p += end + 1;
        }
        Some(out)
    };
    for i in 0..il {
        let e = 8 + i * 16;
        let tag = be32(blob, e)?;
        let ty = be32(blob, e + 4)?;
        let off = be32(blob, e + 8)? as usize;
        let count = be32(blob, e + 12)? as usize;
        let string = matches!(ty, TYPE_STRING | TYPE_I18NSTRING);
        match tag {
            TAG_NAME if string => h.name = cstr(off)?,
            TAG_VERSION if string => h.version = cstr(off)?,
            TAG_RELEASE if string => h.release = cstr(off)?,
            TAG_ARCH if string => h.arch = cstr(off)?,
            TAG_SOURCERPM if string => h.source_rpm = cstr(off)?,
            TAG_LICENSE if string => h.license = cstr(off)?,
            TAG_EPOCH if ty == TYPE_INT32 => h.epoch = be32(data, off),
            TAG_BASENAMES if ty == TYPE_STRING_ARRAY => bases = strs(off, count)?,
            TAG_DIRNAMES if ty == TYPE_STRING_ARRAY => dirs = strs(off, count)?,
            TAG_DIRINDEXES if ty == TYPE_INT32 => {
                idx = (0..count.min(1_000_000))
                    .map(|k| be32(data, off + 4 * k))
                    .collect::<Option<Vec<u32>>>()?
            }
            _ => {}
        }
    }
    if h.name.is_empty() {
        return None;
    }
    for (b, d) in bases.iter().zip(idx.iter()) {
        if let Some(dir) = dirs.get(*d as usize) {
            h.files.push(format!("{dir}{b}"));
        }
    }
    Some(h)
}

/// `openssl-3.0.7-27.el9.src.rpm` → (`openssl`, `3.0.7-27.el9`).
pub fn split_source_rpm(s: &str) -> Option<(String, String)> {
    let stem = s
        .strip_suffix(".src.rpm")
        .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some((name.to_string(), format!("{version}-{release}")))
}

/// Header blobs of an `rpmdb.sqlite` (`Packages(hnum, blob)`).
pub fn sqlite_blobs(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut tmp = tempfile::NamedTempFile::new().ok()?;
    tmp.write_all(data).ok()?;
    tmp.flush().ok()?;
    let conn = rusqlite::Connection::open_with_flags(
        tmp.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let mut st = conn.prepare("SELECT blob FROM Packages").ok()?;
    let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).ok()?;
    Some(rows.flatten().collect())
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

const NDB_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const NDB_SLOT: u32 = u32::from_le_bytes(*b"Slot");
const NDB_BLOB: u32 = u32::from_le_bytes(*b"BlbS");

/// Header blobs of an NDB `Packages.db`: a 32-byte header, slot pages of 16-byte slots
/// (`Slot`, package index, block offset, block count), blobs at 16-byte blocks.
pub fn ndb_blobs(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    if le32(data, 0)? != NDB_MAGIC || le32(data, 4)? != 0 {
        return None;
    }
    let slot_pages = le32(data, 12)? as usize;
    let nslots = (slot_pages * 4096 / 16).saturating_sub(2);
    let mut out = Vec::new();
    for i in 0..nslots {
        let s = 32 + i * 16;
        if le32(data, s)? != NDB_SLOT {
            continue;
        }
        let pkg = le32(data, s + 4)?;
        let blk = le32(data, s + 8)? as usize;
        if pkg == 0 || blk == 0 {
            continue;
        }
        let b = blk * 16;
        if le32(data, b)? != NDB_BLOB || le32(data, b + 4)? != pkg {
            continue;
        }
        let len = le32(data, b + 12)? as usize;
        out.push(data.get(b + 16..b + 16 + len)?.to_vec());
    }
    Some(out)
}

const BDB_HASH_MAGIC: u32 = 0x061561;
const P_HASH: u8 = 13;
const P_HASH_UNSORTED: u8 = 2;
const H_OFFPAGE: u8 = 3;

/// Header blobs of a Berkeley DB hash `Packages`: every value stored off-page (the
/// header blobs) is read by following its overflow page chain.
pub fn bdb_blobs(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let le = match le32(data, 12)? {
        BDB_HASH_MAGIC => true,
        _ if be32(data, 12)? == BDB_HASH_MAGIC => false,
        _ => return None,
    };
    let u32at = |at: usize| if le { le32(data, at) } else { be32(data, at) };
    let u16at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = data.get(at..at + 2)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let page_size = u32at(20)? as usize;
    if !(512..=65536).contains(&page_size) {
        return None;
    }
    let last_page = u32at(32)? as usize;
    let mut out = Vec::new();
    for pg in 0..=last_page.min(data.len() / page_size) {
        let base = pg * page_size;
        let Some(ptype) = data.get(base + 25) else {
            break;
        };
        if *ptype != P_HASH && *ptype != P_HASH_UNSORTED {
            continue;
        }
        let entries = u16at(base + 20)? as usize;
        // Entries are key/value pairs; values are the odd ones.
        let mut i = 1;
        while i < entries {
            let off = u16at(base + 26 + i * 2)? as usize;
            i += 2;
            let e = base + off;
            if data.get(e) != Some(&H_OFFPAGE) {
                continue;
            }
            let mut next = u32at(e + 4)? as usize;
            let total = u32at(e + 8)? as usize;
            let mut blob = Vec::with_capacity(total.min(64 << 20));
            let mut hops = 0;
            while next != 0 && blob.len() < total && hops < 100_000 {
                let p = next * page_size;
                let used = u16at(p + 22)? as usize;
                blob.extend_from_slice(data.get(p + 26..p + 26 + used)?);
                next = u32at(p + 16)? as usize;
                hops += 1;
            }
            blob.truncate(total);
            out.push(blob);
        }
    }
    Some(out)
}

/// Finds the RPM packages and the files they own.
pub fn catalog(fs: &dyn ImageFs) -> (Vec<Package>, Vec<String>) {
    let mut pkgs = Vec::new();
    let mut owned = Vec::new();
    let mut seen_locations: Vec<String> = Vec::new();
    for dir in DB_DIRS {
        for file in DB_FILES {
            let path = format!("{dir}/{file}");
            let Some(data) = fs.read(&path) else { continue };
            let location = fs.resolve(&path).unwrap_or(path.clone());
            if seen_locations.contains(&location) {
                continue;
            }
            let blobs = match *file {
                "rpmdb.sqlite" => sqlite_blobs(&data),
                "Packages.db" => ndb_blobs(&data),
                _ => bdb_blobs(&data),
            };
            let Some(blobs) = blobs else { continue };
            seen_locations.push(location.clone());
            for b in blobs {
                let Some(h) = parse_header(&b) else { continue };
                if h.name == "gpg-pubkey" {
                    continue;
                }
                let mut version = format!("{}-{}", h.version, h.release);
                if let Some(e) = h.epoch.filter(|e| *e > 0) {
                    version = format!("{e}:{version}");
                }
                let mut p = Package::new(PkgType::Rpm, &h.name, &version, &location);
                if !h.arch.is_empty() {
                    p.arch = Some(h.arch.clone());
                }
                if let Some((sn, sv)) = split_source_rpm(&h.source_rpm) {
                    let sv = match h.epoch.filter(|e| *e > 0) {
                        Some(e) => format!("{e}:{sv}"),
                        None => sv,
                    };
                    p.source_name = Some(sn);
                    if sv != version {
                        p.source_version = Some(sv);
                    }
                }
                if !h.license.is_empty() {
                    p.licenses = vec![h.license.clone()];
                }
                owned.extend(
                    h.files
                        .iter()
                        .map(|f| f.trim_start_matches('/').to_string()),
                );
                pkgs.push(p);
            }
            // One database per directory: the newest format present wins.
            break;
        }
    }
    (pkgs, owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            split_source_rpm("openssl-3.0.7-27.el9.src.rpm"),
            Some(("openssl".into(), "3.0.7-27.el9".into()))
        );
        assert_eq!(
            split_source_rpm("python3.11-3.11.5-1.el9.src.rpm"),
            Some(("python3.11".into(), "3.11.5-1.el9".into()))
        );
        assert_eq!(split_source_rpm("(none)"), None);
    }
}
