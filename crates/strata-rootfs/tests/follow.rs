//! `pull --unpack`: layers applied as they arrive, strictly in order, while the rest of
//! the image is still being fetched.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use strata_oci::media;
use strata_rootfs::follow::PullUnpacker;
use strata_rootfs::tree::{self, Compare};
use strata_rootfs::UnpackOptions;
use strata_store::layer::scan_layer;
use strata_store::Store;

/// An unpack into `dest` with the config known, and a live copy of layer 1 opened (its
/// blob `len` bytes): what the pull's scanner holds when layer 1 starts downloading.
fn live_first_layer(
    store: &Arc<Store>,
    resolved: &strata_store::ResolvedImage,
    dest: &std::path::Path,
    opts: UnpackOptions,
    len: usize,
) -> (PullUnpacker, Box<dyn strata_store::layer::TarSink>) {
    let u = PullUnpacker::start(store.clone(), dest.to_path_buf(), opts).unwrap();
    let tap = u.live_tap();
    u.config(&resolved.manifest.config.digest);
    let diff_id = &resolved.config.rootfs.diff_ids[0];
    let sink = tap.open_live(0, Some(diff_id), len as u64).unwrap();
    (u, sink)
}

/// A store in `dir` holding the realistic three-layer image as `name`, its layers zstd
/// or gzip: (store, the layer tars, the resolved image, its layer blob digests).
fn stored_image(
    dir: &std::path::Path,
    name: &str,
    zstd_layers: bool,
) -> (
    Arc<Store>,
    Vec<Vec<u8>>,
    strata_store::ResolvedImage,
    Vec<strata_oci::Digest>,
) {
    let store = Arc::new(Store::open(dir.join("store")).unwrap());
    let tars = realistic_layers();
    let img = image(
        name,
        &tars
            .iter()
            .map(|l| {
                if zstd_layers {
                    (zstd(l), media::OCI_LAYER_ZSTD, l.clone())
                } else {
                    (gzip(l), media::OCI_LAYER_GZIP, l.clone())
                }
            })
            .collect::<Vec<_>>(),
    );
    let resolved = img.store(&store);
    let blobs = resolved
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    (store, tars, resolved, blobs)
}

/// `a` and `b` are the same tree: paths, types, modes, owners, times, contents.
fn assert_same_tree(a: &std::path::Path, b: &std::path::Path) {
    let d = tree::differences(
        &tree::describe(a, true).unwrap(),
        &tree::describe(b, true).unwrap(),
        Compare {
            mtimes: true,
            owners: true,
            root: false,
        },
    );
    assert!(d.is_empty(), "{d:?}");
}

/// `image unpack --no-cache` of `img` into `dest`.
fn plain_unpack(store: &Store, img: &strata_store::ResolvedImage, dest: &std::path::Path) {
    strata_rootfs::unpack(
        store,
        img,
        dest,
        &UnpackOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn applies_layers_as_they_arrive_and_matches_a_plain_unpack() {
    let t = tempfile::tempdir().unwrap();
    let (store, _, resolved, blobs) = stored_image(t.path(), "docker.io/library/follow:1", true);

    let dest = t.path().join("followed");
    let u = PullUnpacker::start(store.clone(), dest.clone(), UnpackOptions::default()).unwrap();
    // Arrival order as concurrent downloads produce it: the last layer first. Layers 1
    // and 3 were downloaded by this pull (applied without hashing them again), layer 2
    // was in the store already (hashed and checked).
    u.layer_verified(&blobs[2]);
    u.config(&resolved.manifest.config.digest);
    u.layer_verified(&blobs[0]);
    u.layer(&blobs[1]);
    assert!(!dest.exists(), "nothing at the destination before the end");
    let rep = u.finish(&resolved.manifest_descriptor).unwrap();
    let applied: Vec<_> = rep.applied.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(applied, resolved.config.rootfs.diff_ids);
    assert_eq!(rep.applied.len(), 3);
    assert_eq!(
        rep.applied_before_end, 3,
        "every layer was applied before the pull ended"
    );

    let plain = t.path().join("plain");
    plain_unpack(&store, &resolved, &plain);
    assert_same_tree(&dest, &plain);
}

#[test]
fn a_partial_order_waits_and_the_end_finishes() {
    let t = tempfile::tempdir().unwrap();
    let (store, _, resolved, blobs) = stored_image(t.path(), "docker.io/library/follow:2", false);
    let dest = t.path().join("d");
    let u = PullUnpacker::start(store.clone(), dest.clone(), UnpackOptions::default()).unwrap();
    u.config(&resolved.manifest.config.digest);
    u.layer(&blobs[1]);
    u.layer(&blobs[0]);
    let rep = u.finish(&resolved.manifest_descriptor).unwrap();
    assert_eq!(
        (rep.applied_before_end, rep.applied.len()),
        (2, 3),
        "layer 3 came only with the manifest"
    );
    assert!(dest.join("usr/bin/passwd").is_file());

    // An aborted pull leaves nothing behind.
    let dest2 = t.path().join("aborted");
    let u = PullUnpacker::start(store.clone(), dest2.clone(), UnpackOptions::default()).unwrap();
    u.config(&resolved.manifest.config.digest);
    u.layer(&blobs[0]);
    u.abort();
    assert!(!dest2.exists());
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".strata-unpack-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A destination that is not empty is refused before anything is fetched.
    let e = PullUnpacker::start(
        store.clone(),
        t.path().join("store"),
        UnpackOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("not empty"), "{e}");
}

/// A layer applied from its download (the pull's scanner hands over the uncompressed
/// tar): one copy that ends properly is used as is; one that breaks off makes the unpack
/// start over from the store; either way the tree equals a plain unpack, and a live copy
/// is only accepted for the next layer while nothing is being applied.
#[test]
fn layers_from_their_download_and_a_broken_copy_starts_over() {
    let t = tempfile::tempdir().unwrap();
    let (store, tars, resolved, blobs) =
        stored_image(t.path(), "docker.io/library/follow:3", false);
    let diff_ids = resolved.config.rootfs.diff_ids.clone();
    let plain = t.path().join("plain");
    plain_unpack(&store, &resolved, &plain);
    let same_as_plain = |dir: &std::path::Path| assert_same_tree(dir, &plain);

    // Layer 1 whole from its download, in odd-sized pieces.
    let dest = t.path().join("live");
    let u = PullUnpacker::start(store.clone(), dest.clone(), UnpackOptions::default()).unwrap();
    let tap = u.live_tap();
    u.config(&resolved.manifest.config.digest);
    assert!(
        tap.open_live(1, Some(&diff_ids[1]), 1).is_none(),
        "layer 2 is not next"
    );
    let mut sink = tap
        .open_live(0, Some(&diff_ids[0]), tars[0].len() as u64)
        .expect("layer 1 is next");
    assert!(
        tap.open_live(0, Some(&diff_ids[0]), 1).is_none(),
        "one copy at a time"
    );
    for piece in tars[0].chunks(7_777) {
        sink.block(Bytes::copy_from_slice(piece)).unwrap();
    }
    sink.done(&scan_layer(&tars[0][..]).unwrap());
    for b in &blobs {
        u.layer(b);
    }
    let rep = u.finish(&resolved.manifest_descriptor).unwrap();
    assert_eq!(rep.applied.len(), 3);
    assert_eq!(rep.applied_from_download, 1);
    same_as_plain(&dest);

    // A copy that breaks off halfway: everything is applied again from the store.
    let dest = t.path().join("broken");
    let (u, mut sink) = live_first_layer(
        &store,
        &resolved,
        &dest,
        UnpackOptions::default(),
        tars[0].len(),
    );
    sink.block(Bytes::copy_from_slice(&tars[0][..tars[0].len() / 2]))
        .unwrap();
    drop(sink);
    for b in &blobs {
        u.layer(b);
    }
    let rep = u.finish(&resolved.manifest_descriptor).unwrap();
    assert_eq!(rep.applied.len(), 3);
    assert_eq!(rep.applied_from_download, 0);
    same_as_plain(&dest);

    // A copy whose bytes are not the layer the config names: the unpack fails and
    // nothing is published.
    let dest = t.path().join("wrong");
    let (u, mut sink) = live_first_layer(
        &store,
        &resolved,
        &dest,
        UnpackOptions::default(),
        tars[0].len(),
    );
    let mut other = T::new();
    other.file("not-the-layer", b"x");
    let other = other.finish();
    sink.block(Bytes::from(other.clone())).unwrap();
    // The facts are the scan's own of the bytes it handed on: their diff ID is not the
    // one the config names.
    sink.done(&scan_layer(&other[..]).unwrap());
    for b in &blobs {
        u.layer(b);
    }
    let e = u.finish(&resolved.manifest_descriptor).unwrap_err();
    assert!(
        matches!(e, strata_rootfs::RootfsError::DiffIdMismatch { .. }),
        "{e}"
    );
    assert!(!dest.exists());
}

/// A layer applied from its download is bound like one read from the store: the pull's
/// scan has already inflated it, so the bound is checked on the blocks it hands over.
#[test]
fn a_layer_from_its_download_over_the_size_bound_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (store, tars, resolved, _blobs) =
        stored_image(t.path(), "docker.io/library/follow:4", false);
    let dest = t.path().join("bounded");
    let mut opts = UnpackOptions::default();
    opts.apply.limits.max_bytes = (tars[0].len() / 2) as u64;
    let (u, mut sink) = live_first_layer(&store, &resolved, &dest, opts, tars[0].len());
    let refused = tars[0]
        .chunks(4096)
        .map(|piece| sink.block(Bytes::copy_from_slice(piece)))
        .any(|r| r.is_err());
    assert!(refused, "the copy must stop at the bound");
    sink.done(&scan_layer(&tars[0][..]).unwrap());
    let e = u.finish(&resolved.manifest_descriptor).unwrap_err();
    assert!(matches!(e, strata_rootfs::RootfsError::Limit { .. }), "{e}");
    assert!(!dest.exists());
}
