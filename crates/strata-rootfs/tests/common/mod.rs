//! Test helpers: a tar writer that can produce any header (hostile ones included).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use strata_rootfs::tree::{self, Compare, Tree};

/// Builds tars entry by entry with full control of names and headers.
pub struct T {
    b: tar::Builder<Vec<u8>>,
    pub mtime: u64,
}

fn raw_name(h: &mut tar::Header, name: &[u8]) {
    let old = h.as_old_mut();
    old.name = [0; 100];
    let n = name.len().min(100);
    old.name[..n].copy_from_slice(&name[..n]);
}

fn raw_link(h: &mut tar::Header, name: &[u8]) {
    let old = h.as_old_mut();
    old.linkname = [0; 100];
    let n = name.len().min(100);
    old.linkname[..n].copy_from_slice(&name[..n]);
}

pub fn pax_records(recs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in recs {
        let body = k.len() + v.len() + 3;
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

impl Default for T {
    fn default() -> Self {
        T::new()
    }
}

impl T {
    pub fn new() -> T {
        T {
            b: tar::Builder::new(Vec::new()),
            mtime: 1_600_000_000,
        }
    }
    fn header(&self, kind: tar::EntryType, name: &[u8], mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        raw_name(&mut h, name);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }
    pub fn pax(&mut self, recs: &[(&str, &[u8])]) -> &mut Self {
        let data = pax_records(recs);
        let mut h = self.header(
            tar::EntryType::XHeader,
            b"PaxHeader",
            0o644,
            data.len() as u64,
        );
        h.set_cksum();
        self.b.append(&h, &data[..]).unwrap();
        self
    }
    pub fn entry(
        &mut self,
        kind: tar::EntryType,
        name: &[u8],
        mode: u32,
        owner: (u64, u64),
        link: Option<&[u8]>,
        data: &[u8],
    ) -> &mut Self {
        let mut h = self.header(kind, name, mode, data.len() as u64);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        if let Some(l) = link {
            raw_link(&mut h, l);
        }
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(
            tar::EntryType::Directory,
            name.as_bytes(),
            mode,
            (0, 0),
            None,
            b"",
        )
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(
            tar::EntryType::Regular,
            name.as_bytes(),
            0o644,
            (0, 0),
            None,
            data,
        )
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(
            tar::EntryType::Symlink,
            name.as_bytes(),
            0o777,
            (0, 0),
            Some(target.as_bytes()),
            b"",
        )
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(
            tar::EntryType::Link,
            name.as_bytes(),
            0o644,
            (0, 0),
            Some(target.as_bytes()),
            b"",
        )
    }
    pub fn raw_header(&mut self, h: &tar::Header, data: &[u8]) -> &mut Self {
        self.b.append(h, data).unwrap();
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

pub fn sha256(data: &[u8]) -> strata_oci::Digest {
    strata_oci::Digest::sha256_of(data)
}

/// A tree outside the root that no test may change.
pub struct Sentinel {
    pub dir: std::path::PathBuf,
    before: Tree,
}

impl Sentinel {
    pub fn new(parent: &Path) -> Sentinel {
        let dir = parent.join("sentinel");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("secret"), b"do not touch").unwrap();
        std::fs::write(dir.join("sub/file"), b"nor this").unwrap();
        std::os::unix::fs::symlink("secret", dir.join("link")).unwrap();
        let before = tree::describe(&dir, true).unwrap();
        Sentinel { dir, before }
    }
    pub fn assert_unchanged(&self) {
        let after = tree::describe(&self.dir, true).unwrap();
        let d = tree::differences(
            &self.before,
            &after,
            Compare {
                mtimes: true,
                owners: true,
                root: true,
            },
        );
        assert!(
            d.is_empty(),
            "the sentinel tree outside the root changed: {d:?}"
        );
    }
}
