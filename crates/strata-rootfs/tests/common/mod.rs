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

/// An image made of layer blobs (already compressed or not), as stored.
pub struct TestImage {
    pub name: String,
    pub layers: Vec<(Vec<u8>, &'static str, strata_oci::Digest)>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

/// Builds an OCI image from (blob, media type, uncompressed tar) triples.
pub fn image(name: &str, layers: &[(Vec<u8>, &'static str, Vec<u8>)]) -> TestImage {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(_, _, t)| sha256(t).to_string())
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().enumerate().map(|(i, _)| serde_json::json!({"created_by": format!("step {i}")})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": strata_oci::media::OCI_MANIFEST,
        "config": {"mediaType": strata_oci::media::OCI_CONFIG, "digest": sha256(&config).to_string(), "size": config.len()},
        "layers": layers.iter().map(|(b, mt, _)| serde_json::json!({"mediaType": mt, "digest": sha256(b).to_string(), "size": b.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    TestImage {
        name: name.to_string(),
        layers: layers
            .iter()
            .map(|(b, mt, t)| (b.clone(), *mt, sha256(t)))
            .collect(),
        config,
        manifest,
    }
}

impl TestImage {
    /// Puts the image into `store` under its name; returns it resolved.
    pub fn store(&self, store: &strata_store::Store) -> strata_store::ResolvedImage {
        let lease = store.lease(std::time::Duration::from_secs(600)).unwrap();
        for (b, _, _) in &self.layers {
            store
                .put_layer(&b[..], Some((sha256(b), b.len() as u64)), &lease)
                .unwrap();
        }
        store
            .put_bytes(&self.config, Some(&sha256(&self.config)), &lease)
            .unwrap();
        let (d, _) = store
            .put_document(&self.manifest, Some(&sha256(&self.manifest)), &lease)
            .unwrap();
        store
            .meta()
            .set_name(
                &self.name,
                &d,
                strata_oci::media::OCI_MANIFEST,
                self.manifest.len() as u64,
                false,
            )
            .unwrap();
        store.release(lease).unwrap();
        self.resolve(store)
    }

    pub fn resolve(&self, store: &strata_store::Store) -> strata_store::ResolvedImage {
        let desc = strata_oci::Descriptor::new(
            strata_oci::media::OCI_MANIFEST,
            sha256(&self.manifest),
            self.manifest.len() as u64,
        );
        store.resolve(&desc, None).unwrap()
    }

    /// Writes an OCI image layout with the image tagged `tag`.
    pub fn write_layout(&self, dir: &Path, tag: &str) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        for b in self
            .layers
            .iter()
            .map(|(b, _, _)| b)
            .chain([&self.config, &self.manifest])
        {
            std::fs::write(blobs.join(sha256(b).hex()), b).unwrap();
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": strata_oci::media::OCI_MANIFEST, "digest": sha256(&self.manifest).to_string(), "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag}}],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// A realistic three-layer image: a small distribution base, a package-install layer
/// (new files, changed files, hardlinks, setuid, capabilities, owners), and a cleanup
/// layer (whiteouts, an opaque directory, type changes).
pub fn realistic_layers() -> Vec<Vec<u8>> {
    let mut base = T::new();
    base.dir("bin", 0o755)
        .dir("etc", 0o755)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .dir("usr/lib", 0o755)
        .dir("var", 0o755)
        .dir("var/cache", 0o755)
        .dir("var/cache/apk", 0o755)
        .dir("tmp", 0o1777)
        .dir("root", 0o700)
        .dir("home", 0o755)
        .symlink("lib", "usr/lib")
        .symlink("sbin", "bin")
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n",
        )
        .file("etc/group", b"root:x:0:\n")
        .file("etc/os-release", b"NAME=\"Strata Test Linux\"\nID=strata\n")
        .entry(
            tar::EntryType::Regular,
            b"bin/busybox",
            0o755,
            (0, 0),
            None,
            &vec![0x7fu8; 70_000],
        )
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("bin/ls", "bin/busybox")
        .symlink("bin/cat", "/bin/busybox")
        .file(
            "usr/lib/libc.so.6",
            &(0..50_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        )
        .symlink("usr/lib/libc.so", "libc.so.6")
        .file("var/cache/apk/index1", b"i1")
        .file("var/cache/apk/index2", b"i2")
        .entry(
            tar::EntryType::Regular,
            b"etc/shadow",
            0o640,
            (0, 42),
            None,
            b"root:*:19000::::::\n",
        );
    let mut pkg = T::new();
    pkg.mtime = 1_650_000_000;
    pkg.dir("usr/bin", 0o755)
        .entry(tar::EntryType::Regular, b"usr/bin/passwd", 0o4755, (0, 0), None, b"passwd binary")
        .pax(&[("SCHILY.xattr.security.capability", &[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])])
        .file("usr/bin/ping", b"ping binary")
        .hardlink("usr/bin/ping6", "usr/bin/ping")
        .hardlink("usr/bin/sh-again", "bin/busybox")
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n")
        .entry(tar::EntryType::Directory, b"home/app", 0o750, (1000, 1000), None, b"")
        .entry(tar::EntryType::Regular, b"home/app/.profile", 0o644, (1000, 1000), None, b"export PS1='$ '\n")
        .file("var/cache/apk/index3", b"i3")
        .file("lib/libz.so.1", b"zlib through the lib symlink")
        .entry(tar::EntryType::Fifo, b"tmp/fifo", 0o600, (0, 0), None, b"")
        .dir("opt", 0o755)
        .dir("opt/app", 0o755)
        .dir("opt/app/data", 0o755)
        .file("opt/app/data/old", b"old data")
        .file("opt/app/data/keep-name", b"lower");
    let mut cleanup = T::new();
    cleanup.mtime = 1_660_000_000;
    cleanup
        .file("var/cache/apk/.wh.index1", b"")
        .file("opt/app/data/new", b"new data")
        .file("etc/.wh.os-release", b"")
        .file("opt/app/data/.wh..wh..opq", b"")
        .file("opt/app/data/keep-name", b"upper")
        .dir("var/cache/apk/index2", 0o755)
        .file("usr/lib/libc.so", b"no longer a symlink")
        .entry(tar::EntryType::Directory, b"etc", 0o755, (0, 0), None, b"");
    vec![base.finish(), pkg.finish(), cleanup.finish()]
}
