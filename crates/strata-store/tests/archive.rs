//! Archive load/save against real files: archives built here with the `tar` crate, and,
//! when the tools are installed, archives written by Docker, skopeo and umoci.
//!
//! Tests that need Docker run when `docker info` works; with `STRATA_REQUIRE_DOCKER=1`
//! a missing or failing Docker is a failure. Likewise skopeo/umoci with
//! `STRATA_REQUIRE_PEERS=1`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use strata_oci::{media, Descriptor, Digest, Document, ImageConfig, Platform};
use strata_store::archive::{self, LoadEvent, LoadOptions, SaveFormat};
use strata_store::Store;

// ----------------------------------------------------------------------------------------
// Building images and archives
// ----------------------------------------------------------------------------------------

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A test image: blobs and documents.
#[derive(Clone)]
struct TestImage {
    /// Layer blobs as stored (maybe gzip), with media types.
    layers: Vec<(Vec<u8>, &'static str)>,
    /// Uncompressed layer tars.
    plain: Vec<Vec<u8>>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

impl TestImage {
    fn new(seed: &str, gzip_first: bool, arch: &str) -> TestImage {
        let a = layer_tar(&[
            ("etc/hello", format!("hello {seed}\n").as_bytes()),
            ("bin/tool", &[7u8; 3000]),
        ]);
        let b = layer_tar(&[("data/file", seed.repeat(50).as_bytes())]);
        let plain = vec![a.clone(), b.clone()];
        let layers = vec![
            if gzip_first {
                (gzip(&a), media::OCI_LAYER_GZIP)
            } else {
                (a.clone(), media::OCI_LAYER_TAR)
            },
            (b.clone(), media::OCI_LAYER_TAR),
        ];
        let diff_ids: Vec<String> = plain
            .iter()
            .map(|p| Digest::sha256_of(p).to_string())
            .collect();
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/bin/tool"], "Env": [format!("SEED={seed}")]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "layer a"}, {"created_by": "layer b"}]
        });
        let config = serde_json::to_vec(&config).unwrap();
        let mut img = TestImage {
            layers,
            plain,
            config,
            manifest: Vec::new(),
        };
        img.manifest = img.build_manifest();
        img
    }

    fn build_manifest(&self) -> Vec<u8> {
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|(b, mt)| serde_json::json!({"mediaType": mt, "digest": Digest::sha256_of(b).to_string(), "size": b.len()}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": Digest::sha256_of(&self.config).to_string(), "size": self.config.len()},
            "layers": layers
        }))
        .unwrap()
    }

    fn manifest_digest(&self) -> Digest {
        Digest::sha256_of(&self.manifest)
    }

    fn config_digest(&self) -> Digest {
        Digest::sha256_of(&self.config)
    }

    fn diff_ids(&self) -> Vec<Digest> {
        self.plain.iter().map(|p| Digest::sha256_of(p)).collect()
    }

    /// Every blob (manifest, config, layers).
    fn blobs(&self) -> Vec<Vec<u8>> {
        let mut v = vec![self.manifest.clone(), self.config.clone()];
        v.extend(self.layers.iter().map(|(b, _)| b.clone()));
        v
    }
}

/// Tar writer that allows any path (including bad ones) and any entry order.
struct RawTar {
    b: tar::Builder<Vec<u8>>,
}

impl RawTar {
    fn new() -> RawTar {
        RawTar {
            b: tar::Builder::new(Vec::new()),
        }
    }
    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_old();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        h
    }
    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        let h = Self::header(path, tar::EntryType::Regular, data.len() as u64);
        self.b.append(&h, data).unwrap();
        self
    }
    fn dir(&mut self, path: &str) -> &mut Self {
        let h = Self::header(path, tar::EntryType::Directory, 0);
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(path, tar::EntryType::Symlink, 0);
        h.set_link_name(target).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

fn blob_path(b: &[u8]) -> String {
    format!("blobs/sha256/{}", Digest::sha256_of(b).hex())
}

/// An OCI layout tar (blobs first, index.json last, as Docker 25 writes).
fn oci_tar(images: &[(&TestImage, Option<&str>)]) -> Vec<u8> {
    let mut t = RawTar::new();
    t.dir("blobs/").dir("blobs/sha256/");
    let mut manifests = Vec::new();
    for (img, name) in images {
        for b in img.blobs() {
            t.file(&blob_path(&b), &b);
        }
        let mut d = serde_json::json!({"mediaType": media::OCI_MANIFEST, "digest": img.manifest_digest().to_string(), "size": img.manifest.len()});
        if let Some(n) = name {
            d["annotations"] = serde_json::json!({"io.containerd.image.name": n, "org.opencontainers.image.ref.name": n.rsplit(':').next().unwrap()});
        }
        manifests.push(d);
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests});
    t.file("index.json", &serde_json::to_vec(&index).unwrap());
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.finish()
}

/// A legacy archive as Docker 20.10 writes it: `<id>/layer.tar`, `<hex>.json`, and
/// manifest.json at the end. With `dup`, the second layer entry is a symlink to the
/// first one's layer.tar (Docker's duplicate-layer form) — requires identical layers.
fn legacy_tar(img: &TestImage, tags: &[&str], dup: bool) -> Vec<u8> {
    let mut t = RawTar::new();
    let mut layer_paths = Vec::new();
    for (i, (blob, _)) in img.layers.iter().enumerate() {
        let id = Digest::sha256_of(format!("v1-{i}-{}", Digest::sha256_of(blob)).as_bytes());
        let dir = format!("{}/", id.hex());
        t.dir(&dir);
        t.file(&format!("{}VERSION", dir), b"1.0");
        t.file(&format!("{}json", dir), br#"{"id":"x"}"#);
        if dup && i > 0 {
            t.symlink(
                &format!("{}layer.tar", dir),
                &format!("../{}", layer_paths[0]),
            );
        } else {
            t.file(&format!("{}layer.tar", dir), blob);
        }
        layer_paths.push(format!("{}layer.tar", dir));
    }
    let cfg_name = format!("{}.json", img.config_digest().hex());
    t.file(&cfg_name, &img.config);
    let manifest =
        serde_json::json!([{"Config": cfg_name, "RepoTags": tags, "Layers": layer_paths}]);
    t.file("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    t.file("repositories", b"{}");
    t.finish()
}

// ----------------------------------------------------------------------------------------
// Store helpers
// ----------------------------------------------------------------------------------------

fn new_store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path().join("store")).unwrap();
    (d, s)
}

/// What a user could observe: names and the blob files.
fn snapshot(s: &Store) -> (Vec<(String, String)>, Vec<String>) {
    let names = s
        .meta()
        .names()
        .unwrap()
        .into_iter()
        .map(|n| (n.name, n.digest.to_string()))
        .collect();
    let mut blobs: Vec<String> = std::fs::read_dir(s.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    blobs.sort();
    (names, blobs)
}

fn load_bytes(s: &Store, bytes: &[u8]) -> strata_store::Result<archive::LoadReport> {
    archive::load(s, bytes, LoadOptions::default())
}

fn target(s: &Store, name: &str) -> Descriptor {
    let r = s
        .meta()
        .name(name)
        .unwrap()
        .unwrap_or_else(|| panic!("{name} not in store"));
    Descriptor::new(&r.media_type, r.digest, r.size)
}

fn save_bytes(s: &Store, images: &[(Option<String>, Descriptor)], f: SaveFormat) -> Vec<u8> {
    archive::save(s, images, Vec::new(), f, None).unwrap()
}

fn tar_listing(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().to_string(),
                e.header().mtime().unwrap(),
                e.header().uid().unwrap(),
            )
        })
        .collect()
}

fn tar_file(bytes: &[u8], path: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == path {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("{path} not in archive");
}

// ----------------------------------------------------------------------------------------
// (a) Round trips
// ----------------------------------------------------------------------------------------

#[test]
fn oci_tar_round_trip_preserves_digests_byte_for_byte() {
    let img = TestImage::new("one", true, "amd64");
    let (_d1, s1) = new_store();
    let rep = load_bytes(
        &s1,
        &oci_tar(&[(&img, Some("docker.io/library/busybox:latest"))]),
    )
    .unwrap();
    assert_eq!(rep.images.len(), 1);
    assert_eq!(rep.images[0].id, img.manifest_digest());
    assert_eq!(
        rep.images[0].names,
        vec!["docker.io/library/busybox:latest".to_string()]
    );
    assert!(rep.images[0].replaced.is_empty());
    for b in img.blobs() {
        assert_eq!(s1.read_blob(&Digest::sha256_of(&b), 1 << 30).unwrap(), b);
    }
    let resolved = s1
        .resolve(&target(&s1, "docker.io/library/busybox:latest"), None)
        .unwrap();
    let diff_ids: Vec<Digest> = resolved
        .layers
        .iter()
        .map(|(_, r)| r.clone().unwrap().diff_id)
        .collect();
    assert_eq!(diff_ids, img.diff_ids());

    let images = vec![(
        Some("docker.io/library/busybox:latest".to_string()),
        target(&s1, "docker.io/library/busybox:latest"),
    )];
    let saved = save_bytes(&s1, &images, SaveFormat::DockerArchive);
    // Deterministic: saving again gives the same bytes; entries sorted, mtime 0, uid 0.
    assert_eq!(saved, save_bytes(&s1, &images, SaveFormat::DockerArchive));
    let listing = tar_listing(&saved);
    let paths: Vec<&str> = listing.iter().map(|(p, _, _)| p.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(listing.iter().all(|(_, m, u)| *m == 0 && *u == 0));
    for want in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    let legacy: serde_json::Value =
        serde_json::from_slice(&tar_file(&saved, "manifest.json")).unwrap();
    assert_eq!(legacy[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(
        legacy[0]["Config"],
        format!("blobs/sha256/{}", img.config_digest().hex())
    );
    assert_eq!(legacy[0]["Layers"].as_array().unwrap().len(), 2);
    let index: serde_json::Value = serde_json::from_slice(&tar_file(&saved, "index.json")).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );

    let (_d2, s2) = new_store();
    let rep2 = load_bytes(&s2, &saved).unwrap();
    assert_eq!(rep2.images[0].id, img.manifest_digest());
    assert_eq!(
        rep2.images[0].names,
        vec!["docker.io/library/busybox:latest".to_string()]
    );
    assert_eq!(snapshot(&s1), snapshot(&s2));
    for b in img.blobs() {
        assert_eq!(s2.read_blob(&Digest::sha256_of(&b), 1 << 30).unwrap(), b);
    }
    // And the second store saves the very same archive.
    let images2 = vec![(
        Some("docker.io/library/busybox:latest".to_string()),
        target(&s2, "docker.io/library/busybox:latest"),
    )];
    assert_eq!(saved, save_bytes(&s2, &images2, SaveFormat::DockerArchive));

    // oci-archive has no legacy files and loads back the same way (untagged image
    // names come from the io.containerd.image.name annotation).
    let oci = save_bytes(&s1, &images, SaveFormat::OciArchive);
    let paths: Vec<String> = tar_listing(&oci).into_iter().map(|(p, _, _)| p).collect();
    assert!(!paths.contains(&"manifest.json".to_string()));
    let (_d3, s3) = new_store();
    assert_eq!(
        load_bytes(&s3, &oci).unwrap().images[0].id,
        img.manifest_digest()
    );
    assert_eq!(snapshot(&s1), snapshot(&s3));
}

#[test]
fn legacy_archive_synthesises_a_deterministic_manifest() {
    let img = TestImage::new("legacy", true, "amd64");
    let bytes = legacy_tar(&img, &["busybox:latest", "example.com/team/app:v1"], false);
    let (_d1, s1) = new_store();
    let (_d2, s2) = new_store();
    let r1 = load_bytes(&s1, &bytes).unwrap();
    let r2 = load_bytes(&s2, &bytes).unwrap();
    assert_eq!(r1.images[0].id, r2.images[0].id);
    assert_eq!(
        r1.images[0].names,
        vec![
            "docker.io/library/busybox:latest".to_string(),
            "example.com/team/app:v1".to_string()
        ]
    );
    let t = target(&s1, "docker.io/library/busybox:latest");
    assert_eq!(t.media_type, media::OCI_MANIFEST);
    let m = match s1.read_document(&t.digest, None).unwrap() {
        Document::Manifest(m) => m,
        Document::Index(_) => panic!("expected a manifest"),
    };
    assert_eq!(m.config.media_type, media::OCI_CONFIG);
    assert_eq!(m.config.digest, img.config_digest());
    // The gzip layer is kept as stored, with the +gzip type; the plain one is its diff ID.
    assert_eq!(m.layers[0].media_type, media::OCI_LAYER_GZIP);
    assert_eq!(m.layers[0].digest, Digest::sha256_of(&img.layers[0].0));
    assert_eq!(m.layers[1].media_type, media::OCI_LAYER_TAR);
    assert_eq!(m.layers[1].digest, img.diff_ids()[1]);
    let resolved = s1.resolve(&t, None).unwrap();
    assert_eq!(
        resolved
            .layers
            .iter()
            .map(|(_, r)| r.clone().unwrap().diff_id)
            .collect::<Vec<_>>(),
        img.diff_ids()
    );
    // Loading the same archive again changes nothing.
    let before = snapshot(&s1);
    let again = load_bytes(&s1, &bytes).unwrap();
    assert!(again.images[0].replaced.is_empty());
    assert_eq!(snapshot(&s1), before);
}

#[test]
fn legacy_duplicate_layer_symlink_is_followed() {
    // Two identical layers: Docker writes the second layer.tar as a symlink.
    let mut img = TestImage::new("dup", false, "amd64");
    img.layers[1] = img.layers[0].clone();
    img.plain[1] = img.plain[0].clone();
    let diff_ids: Vec<String> = img.diff_ids().iter().map(|d| d.to_string()).collect();
    let mut cfg: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    cfg["rootfs"]["diff_ids"] = serde_json::json!(diff_ids);
    img.config = serde_json::to_vec(&cfg).unwrap();
    img.manifest = img.build_manifest();
    let (_d, s) = new_store();
    let rep = load_bytes(&s, &legacy_tar(&img, &["dup:1"], true)).unwrap();
    let resolved = s
        .resolve(&target(&s, "docker.io/library/dup:1"), None)
        .unwrap();
    assert_eq!(resolved.manifest.layers.len(), 2);
    assert_eq!(
        resolved.manifest.layers[0].digest,
        resolved.manifest.layers[1].digest
    );
    assert_eq!(
        rep.images[0].names,
        vec!["docker.io/library/dup:1".to_string()]
    );
}

/// Delivers one byte per read.
struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

#[test]
fn compressed_archives_load() {
    let img = TestImage::new("zip", false, "amd64");
    let plain = oci_tar(&[(&img, Some("docker.io/library/zip:latest"))]);
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&plain).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).unwrap();
    for bytes in [
        gzip(&plain),
        zstd::encode_all(&plain[..], 3).unwrap(),
        xz.finish().unwrap(),
        bz.finish().unwrap(),
    ] {
        let (_d, s) = new_store();
        let rep = load_bytes(&s, &bytes).unwrap();
        assert_eq!(rep.images[0].id, img.manifest_digest());
        // A pipe that delivers one byte at a time is sniffed the same way.
        let (_d2, s2) = new_store();
        let slow = OneByte(&bytes[..]);
        let rep = archive::load(&s2, slow, LoadOptions::default()).unwrap();
        assert_eq!(rep.images[0].id, img.manifest_digest());
    }
}

#[test]
fn oci_dir_round_trip_and_untagged_images() {
    let img = TestImage::new("dir", true, "amd64");
    let (_d1, s1) = new_store();
    load_bytes(&s1, &oci_tar(&[(&img, Some("localhost:5000/x/y:2"))])).unwrap();
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("layout");
    let t = target(&s1, "localhost:5000/x/y:2");
    archive::save_dir(
        &s1,
        &[(Some("localhost:5000/x/y:2".into()), t.clone())],
        &layout,
        None,
    )
    .unwrap();
    assert!(layout.join("oci-layout").is_file());
    for b in img.blobs() {
        assert_eq!(std::fs::read(layout.join(blob_path(&b))).unwrap(), b);
    }
    let (_d2, s2) = new_store();
    let rep = archive::load_dir(&s2, &layout, LoadOptions::default()).unwrap();
    assert_eq!(rep.images[0].id, img.manifest_digest());
    assert_eq!(
        rep.images[0].names,
        vec!["localhost:5000/x/y:2".to_string()]
    );
    // Saved by ID (no name): loads as an untagged (dangling) image.
    let by_id = save_bytes(&s1, &[(None, t)], SaveFormat::DockerArchive);
    let legacy: serde_json::Value =
        serde_json::from_slice(&tar_file(&by_id, "manifest.json")).unwrap();
    assert!(legacy[0]["RepoTags"].is_null());
    let (_d3, s3) = new_store();
    let rep = load_bytes(&s3, &by_id).unwrap();
    assert!(rep.images[0].names.is_empty());
    let names = s3.meta().names().unwrap();
    assert_eq!(names.len(), 1);
    assert!(names[0].is_dangling());
    assert_eq!(names[0].digest, img.manifest_digest());
}

#[test]
fn moved_tag_reports_the_old_id_and_keeps_it_dangling() {
    let a = TestImage::new("a", false, "amd64");
    let b = TestImage::new("b", false, "amd64");
    let (_d, s) = new_store();
    load_bytes(
        &s,
        &oci_tar(&[(&a, Some("docker.io/library/busybox:latest"))]),
    )
    .unwrap();
    let rep = load_bytes(&s, &legacy_tar(&b, &["busybox:latest"], false)).unwrap();
    assert_eq!(
        rep.images[0].replaced,
        vec![(
            "docker.io/library/busybox:latest".to_string(),
            a.manifest_digest()
        )]
    );
    let dangling = s.meta().name(&format!("@{}", a.manifest_digest())).unwrap();
    assert!(dangling.is_some(), "old image kept as dangling");
}

#[test]
fn multi_platform_index_partial_content_and_platform_selection() {
    let amd = TestImage::new("amd", true, "amd64");
    let arm = TestImage::new("arm", true, "arm64");
    // A buildx attestation manifest: an image config whose "layer" is in-toto JSON.
    let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec();
    let att_config = serde_json::to_vec(&serde_json::json!({"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&statement).to_string()]}})).unwrap();
    let att = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": Digest::sha256_of(&att_config).to_string(), "size": att_config.len()},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": Digest::sha256_of(&statement).to_string(), "size": statement.len()}]
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX,
        "manifests": [
            {"mediaType": media::OCI_MANIFEST, "digest": amd.manifest_digest().to_string(), "size": amd.manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": media::OCI_MANIFEST, "digest": arm.manifest_digest().to_string(), "size": arm.manifest.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": media::OCI_MANIFEST, "digest": Digest::sha256_of(&att).to_string(), "size": att.len(), "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd.manifest_digest().to_string()}}
        ]
    }))
    .unwrap();
    let index_digest = Digest::sha256_of(&index);
    // Only the amd64 image's blobs are in the archive.
    let mut t = RawTar::new();
    for b in amd
        .blobs()
        .into_iter()
        .chain([statement.clone(), att_config.clone(), att.clone()])
    {
        t.file(&blob_path(&b), &b);
    }
    t.file(&blob_path(&index), &index);
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": media::OCI_INDEX, "digest": index_digest.to_string(), "size": index.len(), "annotations": {"io.containerd.image.name": "docker.io/library/multi:latest"}}]});
    t.file("index.json", &serde_json::to_vec(&top).unwrap());
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let bytes = t.finish();

    let (_d, s) = new_store();
    let before = snapshot(&s);
    let err = archive::load(
        &s,
        &bytes[..],
        LoadOptions {
            platform: Some(Platform::parse("linux/arm64").unwrap()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("no matching manifest"), "{err}");
    assert_eq!(snapshot(&s), before);
    let rep = archive::load(
        &s,
        &bytes[..],
        LoadOptions {
            platform: Some(Platform::parse("linux/amd64").unwrap()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rep.images[0].id, index_digest);

    let t = target(&s, "docker.io/library/multi:latest");
    // Whole index saved: index.json keeps the index, manifest.json the amd64 image.
    let saved = save_bytes(
        &s,
        &[(Some("docker.io/library/multi:latest".into()), t.clone())],
        SaveFormat::DockerArchive,
    );
    let idx: serde_json::Value = serde_json::from_slice(&tar_file(&saved, "index.json")).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], index_digest.to_string());
    let legacy: serde_json::Value =
        serde_json::from_slice(&tar_file(&saved, "manifest.json")).unwrap();
    assert_eq!(
        legacy[0]["Config"],
        format!("blobs/sha256/{}", amd.config_digest().hex())
    );
    // The attestation travels with the index.
    assert_eq!(tar_file(&saved, &blob_path(&statement)), statement);
    let (_d2, s2) = new_store();
    assert_eq!(load_bytes(&s2, &saved).unwrap().images[0].id, index_digest);
    assert_eq!(snapshot(&s), snapshot(&s2));
    // With a platform, the platform's manifest is what index.json points at.
    let one = archive::save(
        &s,
        &[(Some("docker.io/library/multi:latest".into()), t)],
        Vec::new(),
        SaveFormat::OciArchive,
        Some(&Platform::parse("linux/amd64").unwrap()),
    )
    .unwrap();
    let idx: serde_json::Value = serde_json::from_slice(&tar_file(&one, "index.json")).unwrap();
    assert_eq!(
        idx["manifests"][0]["digest"],
        amd.manifest_digest().to_string()
    );
}

#[test]
fn progress_reports_bytes_and_layers() {
    let img = TestImage::new("progress", false, "amd64");
    let bytes = oci_tar(&[(&img, Some("p:1"))]);
    let (_d, s) = new_store();
    let mut events = Vec::new();
    archive::load(
        &s,
        &bytes[..],
        LoadOptions {
            total_size: Some(bytes.len() as u64),
            progress: Some(Box::new(|e: &LoadEvent| events.push(e.clone()))),
            ..Default::default()
        },
    )
    .unwrap();
    let layers = events
        .iter()
        .filter(|e| matches!(e, LoadEvent::Layer { .. }))
        .count();
    assert_eq!(layers, img.blobs().len());
    match events.last() {
        Some(LoadEvent::Read { consumed, total }) => {
            assert_eq!(*consumed, bytes.len() as u64);
            assert_eq!(*total, Some(bytes.len() as u64));
        }
        other => panic!("last event {other:?}"),
    }
}

// ----------------------------------------------------------------------------------------
// (d) Bad input: a clear error and the store unchanged
// ----------------------------------------------------------------------------------------

fn assert_fails_cleanly(s: &Store, bytes: &[u8], want: &str) {
    let before = snapshot(s);
    let err = load_bytes(s, bytes).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(want),
        "error {msg:?} does not mention {want:?}"
    );
    assert!(!msg.contains('\n'), "multi-line error {msg:?}");
    assert_eq!(snapshot(s), before, "store changed after: {msg}");
}

#[test]
fn bad_archives_fail_with_a_clear_error_and_leave_the_store_unchanged() {
    let (_d, s) = new_store();
    // Something already in the store, which must survive.
    let keep = TestImage::new("keep", false, "amd64");
    load_bytes(&s, &oci_tar(&[(&keep, Some("keep:1"))])).unwrap();

    let img = TestImage::new("bad", true, "amd64");
    let good = oci_tar(&[(&img, Some("bad:1"))]);

    // Truncated in the middle of a layer.
    let cut = good.len() / 2;
    assert_fails_cleanly(&s, &good[..cut], "unexpected EOF");
    // Truncated before index.json (cut at an entry boundary): nothing names an image.
    let mut t = RawTar::new();
    for b in img.blobs() {
        t.file(&blob_path(&b), &b);
    }
    assert_fails_cleanly(&s, &t.finish(), "no manifest.json or index.json");

    // A corrupted byte in a layer blob.
    let mut t = RawTar::new();
    for b in img.blobs() {
        let mut data = b.clone();
        if b == img.layers[1].0 {
            data[600] ^= 0xff;
        }
        t.file(&blob_path(&b), &data);
    }
    let corrupt = {
        let mut raw = t.finish();
        // Drop the end-of-archive blocks and append index.json/oci-layout.
        raw.truncate(raw.len() - 1024);
        let mut rest = RawTar::new();
        rest.file("index.json", &tar_file(&good, "index.json"));
        rest.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        raw.extend(rest.finish());
        raw
    };
    assert_fails_cleanly(&s, &corrupt, "digest mismatch");

    // A blob stored under the wrong name.
    let mut t = RawTar::new();
    t.file(
        &format!("blobs/sha256/{}", "ab".repeat(32)),
        b"not what the name says",
    );
    assert_fails_cleanly(&s, &t.finish(), "digest mismatch");
    // A blob path that is not a digest.
    let mut t = RawTar::new();
    t.file("blobs/sha256/nothex", b"x");
    assert_fails_cleanly(&s, &t.finish(), "not named by a digest");

    // A missing layer (OCI and legacy).
    let mut t = RawTar::new();
    for b in img.blobs().into_iter().filter(|b| *b != img.layers[0].0) {
        t.file(&blob_path(&b), &b);
    }
    t.file("index.json", &tar_file(&good, "index.json"));
    assert_fails_cleanly(&s, &t.finish(), "missing layer");
    let legacy = legacy_tar(&img, &["bad:1"], false);
    let mut t = RawTar::new();
    let mut ar = tar::Archive::new(&legacy[..]);
    let mut dropped = false;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        if p.ends_with("layer.tar") && !dropped {
            dropped = true;
            continue;
        }
        if e.header().entry_type().is_dir() {
            t.dir(&p);
        } else {
            t.file(&p, &v);
        }
    }
    assert_fails_cleanly(&s, &t.finish(), "missing layer");

    // Absolute and escaping paths.
    let mut t = RawTar::new();
    t.file("/etc/passwd", b"root:x:0:0");
    assert_fails_cleanly(&s, &t.finish(), "absolute path");
    let mut t = RawTar::new();
    t.file("a/../../escape", b"x");
    assert_fails_cleanly(&s, &t.finish(), "absolute path or escapes");

    // A layer whose content disagrees with the config's diff ID.
    let mut wrong = img.clone();
    let mut cfg: serde_json::Value = serde_json::from_slice(&wrong.config).unwrap();
    cfg["rootfs"]["diff_ids"][1] = serde_json::json!(Digest::sha256_of(b"other").to_string());
    wrong.config = serde_json::to_vec(&cfg).unwrap();
    wrong.manifest = wrong.build_manifest();
    assert_fails_cleanly(&s, &oci_tar(&[(&wrong, Some("bad:1"))]), "wrong diff id");
    assert_fails_cleanly(&s, &legacy_tar(&wrong, &["bad:1"], false), "wrong diff id");

    // Oversized JSON.
    let mut t = RawTar::new();
    t.file("manifest.json", &vec![b' '; 5 << 20]);
    assert_fails_cleanly(&s, &t.finish(), "too large");

    // Empty input and garbage.
    assert_fails_cleanly(&s, b"", "empty");
    assert!(load_bytes(&s, &[0u8; 1024]).is_err());

    // The image that was there is still complete.
    s.resolve(&target(&s, "docker.io/library/keep:1"), None)
        .unwrap();
}

#[test]
fn too_many_entries_is_refused() {
    let (_d, s) = new_store();
    let mut t = RawTar::new();
    for i in 0..20 {
        t.dir(&format!("d{i}/"));
    }
    let err = archive::load(
        &s,
        &t.finish()[..],
        LoadOptions {
            max_entries: 10,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("too many entries"), "{err}");
}

// ----------------------------------------------------------------------------------------
// Resume
// ----------------------------------------------------------------------------------------

#[test]
fn interrupted_load_resumes_from_the_partial_ingest() {
    let img = TestImage::new("resume", false, "amd64");
    let big = layer_tar(&[("big", &vec![9u8; 3 << 20])]);
    let mut img2 = img.clone();
    img2.layers[1] = (big.clone(), media::OCI_LAYER_TAR);
    img2.plain[1] = big.clone();
    let diff_ids: Vec<String> = img2.diff_ids().iter().map(|d| d.to_string()).collect();
    let mut cfg: serde_json::Value = serde_json::from_slice(&img2.config).unwrap();
    cfg["rootfs"]["diff_ids"] = serde_json::json!(diff_ids);
    img2.config = serde_json::to_vec(&cfg).unwrap();
    img2.manifest = img2.build_manifest();
    let bytes = oci_tar(&[(&img2, Some("resume:1"))]);

    let (_d, s) = new_store();
    // A killed load left a committed layer and half of the big one in its ingest.
    let lease = s.lease(std::time::Duration::from_secs(60)).unwrap();
    s.put_bytes(&img2.layers[0].0, None, &lease).unwrap();
    let d = Digest::sha256_of(&big);
    {
        let mut w = s
            .writer(&format!("load-{d}"), Some((d.clone(), big.len() as u64)))
            .unwrap();
        w.write_all(&big[..big.len() / 2]).unwrap();
    }
    std::mem::forget(lease);
    let rep = load_bytes(&s, &bytes).unwrap();
    assert_eq!(rep.resumed_bytes, (big.len() / 2) as u64);
    assert_eq!(rep.reused_blobs, 1);
    assert_eq!(rep.images[0].id, img2.manifest_digest());
    assert_eq!(s.read_blob(&d, 1 << 30).unwrap(), big);
    assert!(s.ingests().unwrap().is_empty());
}

// ----------------------------------------------------------------------------------------
// (b) Docker, (c) skopeo and umoci
// ----------------------------------------------------------------------------------------

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Whether a peer tool can be used; panics when `require_var` demands it and it fails.
fn available(require_var: &str, probe: &mut Command) -> bool {
    let ok = run(probe);
    let required = std::env::var(require_var).is_ok_and(|v| v == "1");
    match ok {
        Ok(_) => true,
        Err(e) if required => panic!("{require_var}=1 but the tool is not usable: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            false
        }
    }
}

fn docker_available() -> bool {
    available(
        "STRATA_REQUIRE_DOCKER",
        Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]),
    )
}

/// Removes a Docker image when dropped.
struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn docker_build(dir: &Path, tag: &str) -> DockerImage {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(ctx.join("d")).unwrap();
    std::fs::write(ctx.join("a.txt"), format!("hello {tag}\n")).unwrap();
    std::fs::write(ctx.join("d/b.bin"), vec![42u8; 5000]).unwrap();
    std::os::unix::fs::symlink("a.txt", ctx.join("link")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY d /d\nCOPY link /link\nCOPY a.txt /a2.txt\nCMD [\"/a.txt\"]\n",
    )
    .unwrap();
    run(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag])
        .arg(&ctx))
    .unwrap();
    DockerImage(tag.to_string())
}

fn docker_inspect(what: &str, fmt: &str) -> String {
    run(Command::new("docker").args(["image", "inspect", "-f", fmt, what]))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn docker_save_loads_and_our_save_loads_into_docker() {
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("strata-archive-test:{}", std::process::id());
    let _img = docker_build(dir.path(), &tag);
    let saved = dir.path().join("docker.tar");
    run(Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(&tag))
    .unwrap();

    let (_d, s) = new_store();
    let rep = archive::load(
        &s,
        std::fs::File::open(&saved).unwrap(),
        LoadOptions::default(),
    )
    .unwrap();
    let full = strata_oci::Reference::parse_with_default_tag(&tag)
        .unwrap()
        .to_string();
    assert_eq!(rep.images[0].names, vec![full.clone()]);
    let t = target(&s, &full);
    let resolved = s.resolve(&t, None).unwrap();
    let ours: Vec<String> = resolved
        .layers
        .iter()
        .map(|(_, r)| r.clone().unwrap().diff_id.to_string())
        .collect();
    let docker_layers = docker_inspect(&tag, "{{range .RootFS.Layers}}{{.}} {{end}}");
    assert_eq!(ours.join(" "), docker_layers.trim());
    assert_eq!(
        resolved.size().to_string(),
        docker_inspect(&tag, "{{.Size}}")
    );
    // Docker's image ID is the config digest.
    assert_eq!(
        resolved.manifest.config.digest.to_string(),
        docker_inspect(&tag, "{{.Id}}")
    );

    // Our docker-archive, under a new name, loads into Docker with the same layers.
    let tag2 = format!("strata-archive-test:rt{}", std::process::id());
    let _img2 = DockerImage(tag2.clone());
    let full2 = strata_oci::Reference::parse_with_default_tag(&tag2)
        .unwrap()
        .to_string();
    let ours_tar = dir.path().join("ours.tar");
    let f = std::fs::File::create(&ours_tar).unwrap();
    archive::save(&s, &[(Some(full2), t)], f, SaveFormat::DockerArchive, None).unwrap();
    let out = run(Command::new("docker").arg("load").arg("-i").arg(&ours_tar)).unwrap();
    assert!(out.contains(&format!("Loaded image: {tag2}")), "{out}");
    assert_eq!(
        docker_inspect(&tag2, "{{range .RootFS.Layers}}{{.}} {{end}}"),
        docker_layers
    );
    assert_eq!(
        docker_inspect(&tag2, "{{.Id}}"),
        docker_inspect(&tag, "{{.Id}}")
    );

    // An image with a gzip layer (as pulled from a registry), saved by us, loads into
    // Docker 20.10 too, with the config's diff IDs.
    let gz = TestImage::new("docker-gz", true, "amd64");
    let (_d3, s3) = new_store();
    load_bytes(&s3, &oci_tar(&[(&gz, None)])).unwrap();
    let tag3 = format!("strata-archive-test:gz{}", std::process::id());
    let _img3 = DockerImage(tag3.clone());
    let full3 = strata_oci::Reference::parse_with_default_tag(&tag3)
        .unwrap()
        .to_string();
    let gz_tar = dir.path().join("gz.tar");
    let t3 = Descriptor::new(
        media::OCI_MANIFEST,
        gz.manifest_digest(),
        gz.manifest.len() as u64,
    );
    archive::save(
        &s3,
        &[(Some(full3), t3)],
        std::fs::File::create(&gz_tar).unwrap(),
        SaveFormat::DockerArchive,
        None,
    )
    .unwrap();
    let out = run(Command::new("docker").arg("load").arg("-i").arg(&gz_tar)).unwrap();
    assert!(out.contains(&format!("Loaded image: {tag3}")), "{out}");
    let want: Vec<String> = gz.diff_ids().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        docker_inspect(&tag3, "{{range .RootFS.Layers}}{{.}} {{end}}"),
        want.join(" ")
    );
    assert_eq!(
        docker_inspect(&tag3, "{{.Id}}"),
        gz.config_digest().to_string()
    );
}

fn peers_available(tool: &str) -> bool {
    available("STRATA_REQUIRE_PEERS", Command::new(tool).arg("--version"))
}

fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args))
    .unwrap()
}

#[test]
fn skopeo_archives_and_layouts_load_and_read_ours() {
    if !peers_available("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    // Start from one of our archives so no registry is needed.
    let img = TestImage::new("skopeo", true, "amd64");
    let (_d, s) = new_store();
    load_bytes(&s, &oci_tar(&[(&img, Some("docker.io/library/sk:1"))])).unwrap();
    let t = target(&s, "docker.io/library/sk:1");
    let ours = p("ours.tar");
    archive::save(
        &s,
        &[(Some("docker.io/library/sk:1".into()), t.clone())],
        std::fs::File::create(&ours).unwrap(),
        SaveFormat::DockerArchive,
        None,
    )
    .unwrap();
    // skopeo reads our docker-archive and our OCI directory.
    let inspect = skopeo(&["inspect", &format!("docker-archive:{ours}")]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    let layout = dir.path().join("layout");
    archive::save_dir(
        &s,
        &[(Some("docker.io/library/sk:1".into()), t)],
        &layout,
        None,
    )
    .unwrap();
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:1", layout.display()),
        &format!("oci:{}:1", p("layout2")),
    ]);

    // skopeo's own outputs load.
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{ours}"),
        &format!("docker-archive:{}:sk:2", p("sk.tar")),
    ]);
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{ours}"),
        &format!("oci-archive:{}:2", p("sk-oci.tar")),
    ]);
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{ours}"),
        &format!("oci:{}:3", p("skdir")),
    ]);
    let (_d2, s2) = new_store();
    let rep = archive::load(
        &s2,
        std::fs::File::open(p("sk.tar")).unwrap(),
        LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        rep.images[0].names,
        vec!["docker.io/library/sk:2".to_string()]
    );
    let rep = archive::load(
        &s2,
        std::fs::File::open(p("sk-oci.tar")).unwrap(),
        LoadOptions::default(),
    )
    .unwrap();
    assert!(
        rep.images[0].names.is_empty(),
        "a bare ref.name tag names no repository"
    );
    let rep = archive::load_dir(&s2, &dir.path().join("skdir"), LoadOptions::default()).unwrap();
    let diff_ids = |s: &Store, d: &Digest, mt: &str| -> Vec<Digest> {
        s.resolve(
            &Descriptor::new(mt, d.clone(), s.blob_size(d).unwrap()),
            None,
        )
        .unwrap()
        .layers
        .iter()
        .map(|(_, r)| r.clone().unwrap().diff_id)
        .collect()
    };
    assert_eq!(
        diff_ids(&s2, &rep.images[0].id, &rep.images[0].media_type),
        img.diff_ids()
    );
    let rep = archive::load_dir(&s2, &dir.path().join("layout2"), LoadOptions::default()).unwrap();
    assert_eq!(
        diff_ids(&s2, &rep.images[0].id, &rep.images[0].media_type),
        img.diff_ids()
    );
}

#[test]
fn umoci_layout_loads() {
    if !peers_available("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("umoci");
    let l = layout.to_string_lossy().to_string();
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci").args(["init", "--layout", &l])).unwrap();
    run(Command::new("umoci").args(["new", "--image", &format!("{l}:latest")])).unwrap();
    // unpack + repack (umoci 0.4.7's `insert` writes a layer tar without its end blocks,
    // which GNU tar rejects as well).
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image", &format!("{l}:latest")])
        .arg(&bundle))
    .unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/etc")).unwrap();
    std::fs::write(bundle.join("rootfs/etc/motd"), b"made by umoci\n").unwrap();
    run(Command::new("umoci")
        .args(["repack", "--image", &format!("{l}:latest")])
        .arg(&bundle))
    .unwrap();
    run(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{l}:latest"),
        "--config.cmd",
        "/bin/sh",
    ]))
    .unwrap();
    let (_d, s) = new_store();
    let rep = archive::load_dir(&s, &layout, LoadOptions::default()).unwrap();
    assert_eq!(rep.images.len(), 1);
    let img = &rep.images[0];
    let r = s
        .resolve(
            &Descriptor::new(&img.media_type, img.id.clone(), img.size),
            None,
        )
        .unwrap();
    assert_eq!(r.layers.len(), 1);
    let (cfg, _): (ImageConfig, _) = s.read_config(&r.manifest.config.digest).unwrap();
    assert_eq!(
        cfg.rootfs.diff_ids,
        vec![r.layers[0].1.clone().unwrap().diff_id]
    );
    // Saved again and loaded into a fresh store: same ID.
    let out = archive::save(
        &s,
        &[(
            Some("docker.io/library/umoci:latest".into()),
            r.target.clone(),
        )],
        Vec::new(),
        SaveFormat::DockerArchive,
        None,
    )
    .unwrap();
    let (_d2, s2) = new_store();
    assert_eq!(load_bytes(&s2, &out).unwrap().images[0].id, img.id);
}

#[test]
fn interrupted_legacy_load_resumes_and_a_foreign_partial_ingest_is_refused() {
    let img = TestImage::new("legacy-resume", false, "amd64");
    let bytes = legacy_tar(&img, &["lr:1"], false);
    // Cut the stream in the middle of the first layer.tar: an "unexpected EOF" error
    // that leaves the partial ingest behind.
    let first_layer = &img.layers[0].0;
    let pos = bytes
        .windows(64)
        .position(|w| w == &first_layer[..64])
        .unwrap();
    let (_d, s) = new_store();
    let err = load_bytes(&s, &bytes[..pos + 1500]).unwrap_err();
    assert!(err.to_string().contains("unexpected EOF"), "{err}");
    assert!(s.ingests().unwrap().iter().any(|i| i.offset > 0));
    let rep = load_bytes(&s, &bytes).unwrap();
    assert!(rep.resumed_bytes > 0);
    assert_eq!(
        rep.images[0].names,
        vec!["docker.io/library/lr:1".to_string()]
    );
    assert!(s.ingests().unwrap().is_empty());

    // A partial ingest under the same path whose bytes differ is discarded with a clear
    // error, and the next run succeeds.
    let (_d2, s2) = new_store();
    let mut other = bytes[..pos + 1500].to_vec();
    other[pos + 100] ^= 0xff;
    assert!(load_bytes(&s2, &other).is_err());
    let err = load_bytes(&s2, &bytes).unwrap_err();
    assert!(
        err.to_string().contains("does not match this archive"),
        "{err}"
    );
    assert!(s2.meta().names().unwrap().is_empty());
    load_bytes(&s2, &bytes).unwrap();
}

#[test]
fn legacy_xz_layer_is_stored_uncompressed() {
    let mut img = TestImage::new("xz", false, "amd64");
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&img.plain[0]).unwrap();
    img.layers[0] = (xz.finish().unwrap(), media::OCI_LAYER_TAR);
    let (_d, s) = new_store();
    load_bytes(&s, &legacy_tar(&img, &["xz:1"], false)).unwrap();
    let r = s
        .resolve(&target(&s, "docker.io/library/xz:1"), None)
        .unwrap();
    assert_eq!(r.manifest.layers[0].media_type, media::OCI_LAYER_TAR);
    assert_eq!(r.manifest.layers[0].digest, img.diff_ids()[0]);
    assert_eq!(
        s.read_blob(&img.diff_ids()[0], 1 << 20).unwrap(),
        img.plain[0]
    );
}

/// Serves `data[..cut]`, then waits for a signal before serving the rest.
struct GatedReader {
    data: std::sync::Arc<Vec<u8>>,
    pos: usize,
    cut: usize,
    gate: Option<std::sync::mpsc::Receiver<()>>,
}

impl Read for GatedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.cut {
            if let Some(g) = self.gate.take() {
                let _ = g.recv();
            }
        }
        let end = if self.pos < self.cut {
            self.cut
        } else {
            self.data.len()
        };
        let n = buf.len().min(end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_load_waits_for_a_concurrent_load_writing_the_same_blob() {
    let mut img = TestImage::new("concurrent", false, "amd64");
    let big = layer_tar(&[("big", &vec![5u8; 4 << 20])]);
    img.layers[1] = (big.clone(), media::OCI_LAYER_TAR);
    img.plain[1] = big.clone();
    let diff_ids: Vec<String> = img.diff_ids().iter().map(|d| d.to_string()).collect();
    let mut cfg: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    cfg["rootfs"]["diff_ids"] = serde_json::json!(diff_ids);
    img.config = serde_json::to_vec(&cfg).unwrap();
    img.manifest = img.build_manifest();
    let bytes = std::sync::Arc::new(oci_tar(&[(&img, Some("c:1"))]));
    let cut = bytes.windows(64).position(|w| w == &big[..64]).unwrap() + (1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let s = Store::open(&root).unwrap();
    // The first load stops in the middle of the big layer, holding its ingest.
    let (open_gate, gate) = std::sync::mpsc::channel();
    let first = {
        let (bytes, root) = (bytes.clone(), root.clone());
        std::thread::spawn(move || {
            let s = Store::open(&root).unwrap();
            let r = GatedReader {
                data: bytes,
                pos: 0,
                cut,
                gate: Some(gate),
            };
            archive::load(&s, r, LoadOptions::default()).map(|r| r.images[0].id.clone())
        })
    };
    let big_ref = format!("load-{}", Digest::sha256_of(&big));
    while !s
        .ingests()
        .unwrap()
        .iter()
        .any(|i| i.reference == big_ref && i.offset > 0)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The second load of the same archive must wait for the first, not fail.
    let second = {
        let (bytes, root) = (bytes.clone(), root.clone());
        std::thread::spawn(move || {
            let s = Store::open(&root).unwrap();
            archive::load(&s, &bytes[..], LoadOptions::default()).map(|r| r.images[0].id.clone())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !second.is_finished(),
        "the second load did not wait for the first"
    );
    open_gate.send(()).unwrap();
    assert_eq!(first.join().unwrap().unwrap(), img.manifest_digest());
    assert_eq!(second.join().unwrap().unwrap(), img.manifest_digest());
    let r = s
        .resolve(&target(&s, "docker.io/library/c:1"), None)
        .unwrap();
    assert!(r.layers.iter().all(|(_, rec)| rec.is_some()));
    assert!(s.ingests().unwrap().is_empty());
}
