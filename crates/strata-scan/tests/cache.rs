//! The scan cache: results per chain ID in the store, shared with the layer cache's
//! unpacked snapshots, collected with the images that use them, and never trusted over a
//! fresh scan when a row is damaged.

mod common;

use common::*;
use strata_oci::{chain_ids, Digest};
use strata_scan::scan::SCANNER;
use strata_scan::{scan_image, scan_image_with, ScanOptions, ScanResult};
use strata_store::{ResolvedImage, Store};

/// A fake Go executable: not ELF, so it is read (as the streaming path reads it) but
/// yields no summary; what matters is that it is kept or dropped the same way.
const NOT_ELF: &[u8] = b"#!/bin/sh\necho hi\n";

fn base_layers() -> Vec<(&'static str, Option<Vec<u8>>)> {
    let s0 = [
        deb("libc6", "2.36-9", Some("glibc")),
        deb("zlib1g", "1:1.2.13", None),
    ]
    .concat();
    vec![
        (
            "ADD rootfs /",
            Some(layer(&[
                E::D("usr/"),
                E::D("usr/lib/"),
                E::F("usr/lib/os-release", DEBIAN_OS_RELEASE),
                E::D("etc/"),
                E::L("etc/os-release", "../usr/lib/os-release"),
                E::L("lib", "usr/lib"),
                E::D("var/lib/dpkg/"),
                E::F("var/lib/dpkg/status", s0.as_bytes()),
                E::X("usr/bin/tool", NOT_ELF),
            ])),
        ),
        ("ENV A=1", None),
        (
            "RUN pip install requests",
            Some(layer(&[
                E::D("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/"),
                E::F(
                    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                    b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
                ),
                E::D("usr/lib/python3/dist-packages/idna-3.6.dist-info/"),
                E::F(
                    "usr/lib/python3/dist-packages/idna-3.6.dist-info/METADATA",
                    b"Metadata-Version: 2.1\nName: idna\nVersion: 3.6\n",
                ),
            ])),
        ),
    ]
}

/// The base image plus a layer that installs curl, removes idna and hides the old
/// dist-packages entries behind an opaque directory holding requests again.
fn child_layers() -> Vec<(&'static str, Option<Vec<u8>>)> {
    let s1 = [
        deb("libc6", "2.36-9", Some("glibc")),
        deb("zlib1g", "1:1.2.13", None),
        deb("curl", "7.88.1-10", None),
    ]
    .concat();
    let mut steps = base_layers();
    steps.push((
        "RUN apt-get install curl && pip uninstall idna",
        Some(layer(&[
            E::F("var/lib/dpkg/status", s1.as_bytes()),
            E::O("usr/lib/python3/dist-packages"),
            E::D("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/"),
            E::F(
                "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
            ),
        ])),
    ));
    steps
}

fn chains(img: &ResolvedImage) -> Vec<Digest> {
    chain_ids(&img.config.rootfs.diff_ids)
}

/// The SBOM as our JSON document (packages with layers and purls, distro, layers).
fn doc(r: &ScanResult) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

fn fresh(store: &Store, img: &ResolvedImage) -> ScanResult {
    let r = scan_image_with(store, img, ScanOptions { no_cache: true }).unwrap();
    assert_eq!(r.layers_read, img.layers.len());
    r
}

/// Which of `chains` have a stored scan result.
fn present(store: &Store, chains: &[Digest]) -> Vec<bool> {
    store
        .scan_results(SCANNER, chains)
        .unwrap()
        .iter()
        .map(Option::is_some)
        .collect()
}

/// Removes the name `name` and collects garbage: the scan results removed.
fn remove_and_collect(store: &Store, name: &str) -> usize {
    store.meta().remove_name(name).unwrap().unwrap();
    store.gc().unwrap().scan_results_removed
}

fn names(r: &ScanResult) -> Vec<(String, usize)> {
    r.packages
        .iter()
        .map(|p| (p.name.clone(), p.layer.as_ref().unwrap().index))
        .collect()
}

#[test]
fn a_child_image_reads_only_its_new_layer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = put_image(&store, "test/base:1", &base_layers());
    let child = put_image(&store, "test/child:1", &child_layers());
    assert_eq!(chains(&child)[..2], chains(&base)[..]);

    // The first scan reads every layer and records a result per chain ID.
    let b1 = scan_image(&store, &base).unwrap();
    assert_eq!(b1.layers_read, 2);
    assert_eq!(doc(&b1), doc(&fresh(&store, &base)));
    assert!(store
        .scan_results(SCANNER, &chains(&base))
        .unwrap()
        .iter()
        .all(Option::is_some));
    // Scanning it again reads nothing.
    let b2 = scan_image(&store, &base).unwrap();
    assert_eq!(b2.layers_read, 0);
    assert_eq!(doc(&b2), doc(&b1));

    // With the base unpacked into the layer cache, the child reads only its own layer,
    // starting from the snapshot, and finds what a scan of every layer finds.
    let snap = strata_rootfs::snapshot(&store, &base, &Default::default()).unwrap();
    assert_eq!(snap.path, store.snapshot_path(&chains(&base)[1]));
    let c1 = scan_image(&store, &child).unwrap();
    assert_eq!(c1.layers_read, 1);
    let expected = fresh(&store, &child);
    assert_eq!(doc(&c1), doc(&expected));
    assert_eq!(
        names(&c1),
        vec![
            ("curl".to_string(), 2),
            ("libc6".to_string(), 0),
            ("requests".to_string(), 1),
            ("zlib1g".to_string(), 0),
        ]
    );
    assert_eq!(c1.distro.as_ref().unwrap().id, "debian");
    let c2 = scan_image(&store, &child).unwrap();
    assert_eq!(c2.layers_read, 0);
    assert_eq!(doc(&c2), doc(&expected));
}

#[test]
fn without_a_snapshot_the_layers_are_read_from_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = put_image(&store, "test/base:1", &base_layers());
    let child = put_image(&store, "test/child:1", &child_layers());
    scan_image(&store, &base).unwrap();
    // The base's results are cached but nothing is unpacked: every layer is read again
    // (the lower ones without running the catalogers), and the result is the same.
    let c = scan_image(&store, &child).unwrap();
    assert_eq!(c.layers_read, 3);
    assert_eq!(doc(&c), doc(&fresh(&store, &child)));
    assert_eq!(scan_image(&store, &child).unwrap().layers_read, 0);
}

#[test]
fn an_unpacked_image_never_scanned_is_scanned_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let child = put_image(&store, "test/child:1", &child_layers());
    // The top snapshot exists but no result: the snapshot alone cannot say which layer
    // each package came from, so every layer is read, then recorded.
    strata_rootfs::snapshot(&store, &child, &Default::default()).unwrap();
    let c = scan_image(&store, &child).unwrap();
    assert_eq!(c.layers_read, 3);
    assert_eq!(doc(&c), doc(&fresh(&store, &child)));
    assert_eq!(scan_image(&store, &child).unwrap().layers_read, 0);
}

#[test]
fn no_cache_neither_reads_nor_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = put_image(&store, "test/base:1", &base_layers());
    fresh(&store, &base);
    assert_eq!(
        store.scan_results(SCANNER, &chains(&base)).unwrap(),
        vec![None, None]
    );
    scan_image(&store, &base).unwrap();
    fresh(&store, &base);
}

#[test]
fn a_damaged_row_means_a_fresh_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let child = put_image(&store, "test/child:1", &child_layers());
    let expected = fresh(&store, &child);
    scan_image(&store, &child).unwrap();
    let c = chains(&child);
    let config = &child.manifest.config.digest;
    for bad in [&b"{not json"[..], b"[1, 2]", b"{\"packages\": 7}"] {
        store
            .record_scan_results(SCANNER, config, &c, &[(c[1].clone(), bad.to_vec())])
            .unwrap();
        // Layer 1's row is unusable: layers 1 and 2 are scanned again (from the base, as
        // nothing is unpacked) and the row is written afresh.
        let r = scan_image(&store, &child).unwrap();
        assert_eq!(r.layers_read, 3);
        assert_eq!(doc(&r), doc(&expected));
        assert_eq!(scan_image(&store, &child).unwrap().layers_read, 0);
    }
    // A damaged top row alone, with the layer below unpacked: only the top is read.
    strata_rootfs::snapshot(&store, &child, &Default::default()).unwrap();
    let below = put_image(&store, "test/base:1", &base_layers());
    strata_rootfs::snapshot(&store, &below, &Default::default()).unwrap();
    store
        .record_scan_results(SCANNER, config, &c, &[(c[2].clone(), b"".to_vec())])
        .unwrap();
    let r = scan_image(&store, &child).unwrap();
    assert_eq!(r.layers_read, 1);
    assert_eq!(doc(&r), doc(&expected));
}

#[test]
fn an_image_scanned_from_the_cache_alone_keeps_its_results_alive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = put_image(&store, "test/base:1", &base_layers());
    let child = put_image(&store, "test/child:1", &child_layers());
    scan_image(&store, &base).unwrap();
    scan_image(&store, &child).unwrap();
    let all = chains(&child);
    assert_eq!(present(&store, &all), vec![true, true, true]);

    // An image with the base's layers but another config, scanned from the cache alone,
    // keeps the base's results once the base is gone.
    let twin = strata_store::NewImage {
        steps: base_layers()
            .into_iter()
            .map(|(by, layer)| strata_store::Step {
                created_by: by.to_string(),
                layer,
            })
            .collect(),
        created: "2025-01-01T00:00:00Z".into(),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: serde_json::json!({"Cmd": ["/bin/bash"]}),
    };
    let twin = store
        .write_image(&twin, Some("docker.io/test/twin:1"))
        .unwrap();
    let twin = store.resolve(&twin, None).unwrap();
    assert_ne!(twin.manifest.config.digest, base.manifest.config.digest);
    assert_eq!(scan_image(&store, &twin).unwrap().layers_read, 0);
    store
        .meta()
        .remove_name("docker.io/test/child:1")
        .unwrap()
        .unwrap();
    assert_eq!(remove_and_collect(&store, "docker.io/test/base:1"), 1);
    assert_eq!(present(&store, &all), vec![true, true, false]);
    assert_eq!(scan_image(&store, &twin).unwrap().layers_read, 0);
    assert_eq!(remove_and_collect(&store, "docker.io/test/twin:1"), 2);
    assert_eq!(present(&store, &all), vec![false, false, false]);
}

#[test]
fn collection_drops_the_results_of_removed_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = put_image(&store, "test/base:1", &base_layers());
    let child = put_image(&store, "test/child:1", &child_layers());
    scan_image(&store, &base).unwrap();
    scan_image(&store, &child).unwrap();
    let all = chains(&child);
    // The base is removed: the child still uses every one of its chain IDs.
    assert_eq!(remove_and_collect(&store, "docker.io/test/base:1"), 0);
    assert_eq!(present(&store, &all), vec![true, true, true]);

    // The child goes too: nothing uses them any more.
    assert_eq!(remove_and_collect(&store, "docker.io/test/child:1"), 3);
    assert_eq!(present(&store, &all), vec![false, false, false]);
}

#[test]
fn a_snapshot_symlink_out_of_the_tree_is_kept_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = put_image(&store, "test/base:1", &base_layers());
    let child = put_image(&store, "test/child:1", &child_layers());
    scan_image(&store, &base).unwrap();
    let snap = strata_rootfs::snapshot(&store, &base, &Default::default()).unwrap();
    // Outside the snapshot, a distroless dpkg database that must never be read; the
    // snapshot gets `var/lib/dpkg/status.d` as a symlink to it (an absolute symlink means
    // the image's own root, where there is nothing).
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil"), deb("evil", "6.6.6", None)).unwrap();
    std::os::unix::fs::symlink(outside.path(), snap.path.join("var/lib/dpkg/status.d")).unwrap();
    // A symlinked directory inside the tree is kept as a symlink too, not walked.
    std::os::unix::fs::symlink("/usr/lib", snap.path.join("usr/lib2")).unwrap();
    let c = scan_image(&store, &child).unwrap();
    assert_eq!(c.layers_read, 1);
    assert!(
        c.packages.iter().all(|p| p.name != "evil"),
        "{:?}",
        names(&c)
    );
    assert_eq!(
        names(&c),
        vec![
            ("curl".to_string(), 2),
            ("libc6".to_string(), 0),
            ("requests".to_string(), 1),
            ("zlib1g".to_string(), 0),
        ]
    );
    // Following the symlink would have found it.
    std::fs::remove_file(snap.path.join("var/lib/dpkg/status.d")).unwrap();
    std::fs::create_dir(snap.path.join("var/lib/dpkg/status.d")).unwrap();
    std::fs::copy(
        outside.path().join("evil"),
        snap.path.join("var/lib/dpkg/status.d/evil"),
    )
    .unwrap();
    store
        .record_scan_results(
            SCANNER,
            &child.manifest.config.digest,
            &[],
            &[(chains(&child)[2].clone(), Vec::new())],
        )
        .unwrap();
    let c = scan_image(&store, &child).unwrap();
    assert_eq!(c.layers_read, 1);
    assert!(
        c.packages.iter().any(|p| p.name == "evil"),
        "{:?}",
        names(&c)
    );
}
