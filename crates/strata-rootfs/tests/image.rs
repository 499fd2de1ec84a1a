//! Whole images from a real store: unpack compared with `umoci unpack`, export, the
//! layer cache and its garbage collection, and per-layer change lists.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use strata_oci::media;
use strata_rootfs::tree::{self, Compare};
use strata_rootfs::{ApplyOptions, Change, RootfsError, UnpackOptions};
use strata_store::Store;

fn realistic(name: &str) -> TestImage {
    let tars = realistic_layers();
    let layers = vec![
        (gzip(&tars[0]), media::OCI_LAYER_GZIP, tars[0].clone()),
        (zstd(&tars[1]), media::OCI_LAYER_ZSTD, tars[1].clone()),
        // Media type says gzip, bytes are plain: the bytes win.
        (tars[2].clone(), media::OCI_LAYER_GZIP, tars[2].clone()),
    ];
    image(name, &layers)
}

fn have(tool: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        // umoci without root needs --rootless and maps owners differently.
        eprintln!("not running as root: {tool} comparison skipped");
        return false;
    }
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("STRATA_REQUIRE_PEERS").is_some() {
        panic!("{tool} is required (STRATA_REQUIRE_PEERS is set) but is not installed");
    }
    if !ok {
        eprintln!("{tool} not installed: comparison skipped");
    }
    ok
}

const ALL: Compare = Compare {
    mtimes: true,
    owners: true,
    root: false,
};

#[test]
fn unpack_matches_umoci_unpack() {
    if !have("umoci") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    // umoci 0.4 reads only gzip and plain layers, and trusts media types.
    let tars = realistic_layers();
    let img = image(
        "docker.io/library/realistic:1",
        &[
            (gzip(&tars[0]), media::OCI_LAYER_GZIP, tars[0].clone()),
            (gzip(&tars[1]), media::OCI_LAYER_GZIP, tars[1].clone()),
            (tars[2].clone(), media::OCI_LAYER_TAR, tars[2].clone()),
        ],
    );
    let resolved = img.store(&store);
    let ours = t.path().join("ours");
    let rep = strata_rootfs::unpack(&store, &resolved, &ours, &UnpackOptions::default()).unwrap();
    assert_eq!(rep.applied.len(), 3);

    let layout = t.path().join("layout");
    img.write_layout(&layout, "v1");
    let bundle = t.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:v1", layout.display())])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let a = tree::describe(&ours, true).unwrap();
    let b = tree::describe(&bundle.join("rootfs"), true).unwrap();
    let d = tree::differences(&a, &b, ALL);
    assert!(d.is_empty(), "strata and umoci disagree:\n{}", d.join("\n"));
    assert!(
        a.len() > 30,
        "the image is not trivial: {} entries",
        a.len()
    );
    // Spot checks of semantics both agree on.
    assert!(!ours.join("etc/os-release").exists());
    assert_eq!(
        std::fs::read(ours.join("opt/app/data/keep-name")).unwrap(),
        b"upper"
    );
    assert!(!ours.join("opt/app/data/old").exists());
}

#[test]
fn unpack_refuses_a_non_empty_destination_and_a_bad_diff_id() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let resolved = realistic("docker.io/library/realistic:1").store(&store);
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("x"), b"").unwrap();
    let e = strata_rootfs::unpack(&store, &resolved, &dest, &UnpackOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");

    // A config whose diff ID does not match its layer.
    let tars = realistic_layers();
    let mut bad = image(
        "docker.io/library/bad:1",
        &[(gzip(&tars[0]), media::OCI_LAYER_GZIP, tars[1].clone())],
    );
    bad.name = "docker.io/library/bad:1".into();
    let resolved = bad.store(&store);
    let dest = t.path().join("bad");
    let e = strata_rootfs::unpack(
        &store,
        &resolved,
        &dest,
        &UnpackOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, RootfsError::DiffIdMismatch { .. }), "{e}");
    assert!(!dest.exists(), "nothing half-written at the destination");
    let e = strata_rootfs::unpack(&store, &resolved, &dest, &UnpackOptions::default()).unwrap_err();
    assert!(matches!(e, RootfsError::DiffIdMismatch { .. }), "{e}");
    assert!(!dest.exists());
}

#[test]
fn export_is_the_flattened_tree() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let resolved = realistic("docker.io/library/realistic:1").store(&store);
    let mut tar1 = Vec::new();
    let (out, _) =
        strata_rootfs::export(&store, &resolved, &ApplyOptions::default(), &mut tar1).unwrap();
    assert_eq!(out.size, tar1.len() as u64);
    let mut tar2 = Vec::new();
    strata_rootfs::export(&store, &resolved, &ApplyOptions::default(), &mut tar2).unwrap();
    assert!(tar1 == tar2, "export is reproducible");
    // No whiteouts in a flattened tar, and applying it gives the unpacked tree.
    let names: Vec<String> = tar::Archive::new(&tar1[..])
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".wh.")), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted");
    let flat = t.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    strata_rootfs::Applier::new(&flat, ApplyOptions::default())
        .unwrap()
        .apply_layer("export", &tar1[..], None)
        .unwrap();
    let unpacked = t.path().join("unpacked");
    strata_rootfs::unpack(
        &store,
        &resolved,
        &unpacked,
        &UnpackOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
    let d = tree::differences(
        &tree::describe(&flat, true).unwrap(),
        &tree::describe(&unpacked, true).unwrap(),
        ALL,
    );
    assert!(d.is_empty(), "{d:?}");
}

fn snapshot_count(store: &Store) -> usize {
    std::fs::read_dir(store.snapshots_dir())
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn layer_cache_applies_only_new_layers_and_is_collected() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let tars = realistic_layers();
    let base = image(
        "docker.io/library/base:1",
        &[
            (gzip(&tars[0]), media::OCI_LAYER_GZIP, tars[0].clone()),
            (gzip(&tars[1]), media::OCI_LAYER_GZIP, tars[1].clone()),
        ],
    );
    let child = image(
        "docker.io/library/child:1",
        &[
            (gzip(&tars[0]), media::OCI_LAYER_GZIP, tars[0].clone()),
            (gzip(&tars[1]), media::OCI_LAYER_GZIP, tars[1].clone()),
            (zstd(&tars[2]), media::OCI_LAYER_ZSTD, tars[2].clone()),
        ],
    );
    let rb = base.store(&store);
    let rc = child.store(&store);
    let r1 = strata_rootfs::unpack(&store, &rb, &t.path().join("b1"), &UnpackOptions::default())
        .unwrap();
    assert_eq!((r1.cached_layers, r1.applied.len()), (0, 2));
    let r2 = strata_rootfs::unpack(&store, &rb, &t.path().join("b2"), &UnpackOptions::default())
        .unwrap();
    assert_eq!(
        (r2.cached_layers, r2.applied.len()),
        (2, 0),
        "a second unpack applies nothing"
    );
    let r3 = strata_rootfs::unpack(&store, &rc, &t.path().join("c1"), &UnpackOptions::default())
        .unwrap();
    assert_eq!(
        (r3.cached_layers, r3.applied.len()),
        (2, 1),
        "the child applies only its new layer"
    );
    let direct = t.path().join("c2");
    strata_rootfs::unpack(
        &store,
        &rc,
        &direct,
        &UnpackOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
    let d = tree::differences(
        &tree::describe(&t.path().join("c1"), true).unwrap(),
        &tree::describe(&direct, true).unwrap(),
        ALL,
    );
    assert!(d.is_empty(), "cached and direct unpacks agree: {d:?}");
    assert_eq!(snapshot_count(&store), 2);

    // GC keeps snapshots of named images and removes the others.
    assert_eq!(store.gc().unwrap().snapshots_removed, 0);
    store
        .meta()
        .remove_name("docker.io/library/child:1")
        .unwrap();
    let rep = store.gc().unwrap();
    assert_eq!(rep.snapshots_removed, 1);
    assert_eq!(snapshot_count(&store), 1);
    store
        .meta()
        .remove_name("docker.io/library/base:1")
        .unwrap();
    assert_eq!(store.gc().unwrap().snapshots_removed, 1);
    assert_eq!(snapshot_count(&store), 0);
}

#[test]
fn layer_changes_lists_adds_changes_and_deletes() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let resolved = realistic("docker.io/library/realistic:1").store(&store);
    let ch = strata_rootfs::layer_changes(&store, &resolved, &ApplyOptions::default()).unwrap();
    assert_eq!(ch.len(), 3);
    let get = |i: usize, p: &str| ch[i].changes.get(p).copied();
    assert_eq!(get(0, "/etc/passwd"), Some(Change::Added));
    assert_eq!(get(1, "/etc/passwd"), Some(Change::Changed));
    assert_eq!(
        get(1, "/usr/bin"),
        None,
        "an unchanged directory entry is not a change"
    );
    assert_eq!(get(2, "/var/cache/apk/index1"), Some(Change::Deleted));
    assert_eq!(get(2, "/etc/os-release"), Some(Change::Deleted));
    assert_eq!(get(2, "/opt/app/data/old"), Some(Change::Deleted));
    assert_eq!(get(2, "/opt/app/data/keep-name"), Some(Change::Changed));
    assert_eq!(get(2, "/opt/app/data/new"), Some(Change::Added));
    assert_eq!(get(2, "/var/cache/apk/index2"), Some(Change::Changed));
    assert!(ch[0].bytes > 100_000);
    // Layer 2 replaced /etc/passwd (68 bytes); layer 3 removed index1 (2), os-release (35),
    // opt/app/data/old (8) and keep-name (5) by whiteout and opaque dir, and replaced the
    // libc.so symlink (0 bytes) and index2 (2).
    assert_eq!(ch[0].wasted, 0);
    assert_eq!(ch[1].wasted, 68);
    assert_eq!(ch[2].wasted, 2 + 35 + 8 + 5 + 2);
}

#[allow(dead_code)]
fn unused(_: &Path) {}

#[test]
fn snapshot_for_build_and_scan() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let resolved = realistic("docker.io/library/realistic:1").store(&store);
    let s1 = strata_rootfs::snapshot(&store, &resolved, &ApplyOptions::default()).unwrap();
    assert_eq!((s1.cached_layers, s1.applied.len()), (0, 3));
    assert!(s1.path.join("usr/bin/passwd").is_file());
    assert!(s1.path.starts_with(store.snapshots_dir()));
    let s2 = strata_rootfs::snapshot(&store, &resolved, &ApplyOptions::default()).unwrap();
    assert_eq!(
        (s2.cached_layers, s2.applied.len(), s2.path),
        (3, 0, s1.path)
    );
}
