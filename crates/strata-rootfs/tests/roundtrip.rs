//! Diff back to a layer: applying the diff of (parent, child) to the parent reproduces
//! the child exactly, and the same input gives a byte-identical layer twice.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use rustix::fs::{AtFlags, Timespec, Timestamps, XattrFlags, CWD};
use strata_oci::media;
use strata_rootfs::cache::copy_tree;
use strata_rootfs::tree::{self, Compare};
use strata_rootfs::{ApplyOptions, DiffOptions, LayerCompression, UnpackOptions};
use strata_store::Store;

const EXACT: Compare = Compare {
    mtimes: true,
    owners: true,
    root: true,
};

fn set_mtime(p: &Path, secs: i64, nanos: i64) {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: nanos as _,
    };
    rustix::fs::utimensat(
        CWD,
        p,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A parent tree (the realistic image unpacked) and a child made by changing a copy.
fn parent_and_child(t: &Path) -> (PathBuf, PathBuf) {
    let store = Store::open(t.join("store")).unwrap();
    let tars = realistic_layers();
    let img = image(
        "docker.io/library/rt:1",
        &tars
            .iter()
            .map(|l| (gzip(l), media::OCI_LAYER_GZIP, l.clone()))
            .collect::<Vec<_>>(),
    );
    let resolved = img.store(&store);
    let parent = t.join("parent");
    strata_rootfs::unpack(
        &store,
        &resolved,
        &parent,
        &UnpackOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
    let child = t.join("child");
    std::fs::create_dir(&child).unwrap();
    copy_tree(&parent, &child, &ApplyOptions::default()).unwrap();
    let d = tree::differences(
        &tree::describe(&parent, true).unwrap(),
        &tree::describe(&child, true).unwrap(),
        EXACT,
    );
    assert!(d.is_empty(), "copy_tree copies exactly: {d:?}");

    let c = |p: &str| child.join(p);
    // Added, changed content, changed metadata only.
    std::fs::create_dir_all(c("srv/www/static")).unwrap();
    std::fs::write(c("srv/www/static/index.html"), b"<h1>hi</h1>").unwrap();
    std::fs::write(c("etc/passwd"), b"root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::set_permissions(c("etc/group"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::lchown(c("home/app/.profile"), Some(2000), Some(3000)).unwrap();
    }
    rustix::fs::lsetxattr(
        c("usr/bin/ping"),
        "user.note",
        b"changed",
        XattrFlags::empty(),
    )
    .unwrap();
    // Deleted file, deleted tree.
    std::fs::remove_file(c("var/cache/apk/index3")).unwrap();
    std::fs::remove_dir_all(c("home/app")).unwrap();
    // Type changes both ways.
    std::fs::remove_file(c("etc/shadow")).unwrap();
    std::fs::create_dir(c("etc/shadow")).unwrap();
    std::fs::remove_dir_all(c("var/cache/apk/index2")).unwrap();
    std::fs::write(c("var/cache/apk/index2"), b"a file again").unwrap();
    // A directory replaced wholesale: rm -rf + mkdir + new content -> opaque.
    std::fs::remove_dir_all(c("opt/app/data")).unwrap();
    std::fs::create_dir(c("opt/app/data")).unwrap();
    std::fs::write(c("opt/app/data/fresh"), b"fresh").unwrap();
    // Hardlinks: a new link to a lower file, and a new pair.
    std::fs::hard_link(c("bin/busybox"), c("usr/bin/vi")).unwrap();
    std::fs::write(c("usr/bin/tool"), b"tool").unwrap();
    std::fs::hard_link(c("usr/bin/tool"), c("usr/bin/tool-alias")).unwrap();
    // A changed hardlinked file (both names change).
    std::fs::write(c("usr/bin/ping6"), b"ping v2").unwrap();
    // Symlink retarget, a FIFO, precise times, a long name.
    std::fs::remove_file(c("bin/cat")).unwrap();
    std::os::unix::fs::symlink("busybox", c("bin/cat")).unwrap();
    rustix::fs::mknodat(
        CWD,
        c("srv/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    let long = format!("srv/{}/{}", "d".repeat(120), "f".repeat(150));
    std::fs::create_dir_all(c(&long).parent().unwrap()).unwrap();
    std::fs::write(c(&long), b"long").unwrap();
    set_mtime(&c("srv/www/static/index.html"), 1_700_000_000, 123_456_789);
    (parent, child)
}

#[test]
fn diff_then_apply_reproduces_the_child_and_is_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let (parent, child) = parent_and_child(t.path());
    for comp in [
        LayerCompression::Gzip,
        LayerCompression::Zstd,
        LayerCompression::None,
    ] {
        let opts = DiffOptions {
            compression: comp,
            ..Default::default()
        };
        let mut one = Vec::new();
        let out = strata_rootfs::write_layer(Some(&parent), &child, &opts, &mut one).unwrap();
        let mut two = Vec::new();
        strata_rootfs::write_layer(Some(&parent), &child, &opts, &mut two).unwrap();
        assert!(one == two, "{comp:?}: the same input gives the same bytes");
        assert_eq!(out.digest, sha256(&one));
        assert_eq!(out.size, one.len() as u64);

        let applied = t.path().join(format!("applied-{comp:?}"));
        std::fs::create_dir(&applied).unwrap();
        copy_tree(&parent, &applied, &ApplyOptions::default()).unwrap();
        let mut a = strata_rootfs::Applier::new(&applied, ApplyOptions::default()).unwrap();
        let rep = a.apply_layer("diff", &one[..], Some(&out.diff_id)).unwrap();
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        let d = tree::differences(
            &tree::describe(&child, true).unwrap(),
            &tree::describe(&applied, true).unwrap(),
            EXACT,
        );
        assert!(
            d.is_empty(),
            "{comp:?}: applying the diff to the parent reproduces the child:\n{}",
            d.join("\n")
        );
    }
    // The layer holds what it should: whiteouts, an opaque marker, links.
    let mut plain = Vec::new();
    strata_rootfs::write_layer(
        Some(&parent),
        &child,
        &DiffOptions {
            compression: LayerCompression::None,
            ..Default::default()
        },
        &mut plain,
    )
    .unwrap();
    let mut names = Vec::new();
    let mut links = Vec::new();
    for e in tar::Archive::new(&plain[..]).entries().unwrap() {
        let e = e.unwrap();
        let n = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        if e.header().entry_type() == tar::EntryType::Link {
            links.push((
                n.clone(),
                String::from_utf8_lossy(&e.link_name_bytes().unwrap()).into_owned(),
            ));
        }
        assert!(
            e.header().username_bytes().is_none_or(|u| u.is_empty()),
            "numeric owners only"
        );
        names.push(n);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries sorted");
    for want in [
        "var/cache/apk/.wh.index3",
        "home/.wh.app",
        "opt/app/data/.wh..wh..opq",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("home/app/")),
        "nothing under a deleted tree"
    );
    assert!(
        links.contains(&("usr/bin/vi".into(), "bin/busybox".into())),
        "{links:?}"
    );
    assert!(
        links.contains(&("usr/bin/tool-alias".into(), "usr/bin/tool".into())),
        "{links:?}"
    );
    assert!(
        !names.iter().any(|n| n == "bin/busybox"),
        "unchanged lower files are not rewritten"
    );
}

#[test]
fn source_date_epoch_clamps_mtimes() {
    let t = tempfile::tempdir().unwrap();
    let (parent, child) = parent_and_child(t.path());
    let epoch = 1_650_000_000;
    let opts = DiffOptions {
        source_date_epoch: Some(epoch),
        compression: LayerCompression::None,
        root_entry: true,
    };
    let mut out = Vec::new();
    strata_rootfs::write_layer(Some(&parent), &child, &opts, &mut out).unwrap();
    let mut n = 0;
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        let mut e = e.unwrap();
        assert!(e.header().mtime().unwrap() <= epoch as u64);
        if let Some(p) = e.pax_extensions().unwrap() {
            for r in p {
                assert_ne!(
                    r.unwrap().key().unwrap(),
                    "mtime",
                    "no sub-second times once clamped"
                );
            }
        }
        n += 1;
    }
    assert!(n > 10);
}

#[test]
fn export_of_an_empty_parent_is_the_whole_tree() {
    let t = tempfile::tempdir().unwrap();
    let (_parent, child) = parent_and_child(t.path());
    let mut full = Vec::new();
    strata_rootfs::write_layer(
        None,
        &child,
        &DiffOptions {
            compression: LayerCompression::Gzip,
            ..Default::default()
        },
        &mut full,
    )
    .unwrap();
    let again = t.path().join("again");
    std::fs::create_dir(&again).unwrap();
    strata_rootfs::Applier::new(&again, ApplyOptions::default())
        .unwrap()
        .apply_layer("full", &full[..], None)
        .unwrap();
    let d = tree::differences(
        &tree::describe(&child, true).unwrap(),
        &tree::describe(&again, true).unwrap(),
        EXACT,
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn source_date_epoch_from_the_environment() {
    std::env::set_var("SOURCE_DATE_EPOCH", "1234567890");
    assert_eq!(
        DiffOptions::from_env().unwrap().source_date_epoch,
        Some(1_234_567_890)
    );
    std::env::set_var("SOURCE_DATE_EPOCH", "yesterday");
    let e = DiffOptions::from_env().unwrap_err();
    assert!(e.to_string().contains("invalid SOURCE_DATE_EPOCH"), "{e}");
    std::env::remove_var("SOURCE_DATE_EPOCH");
    assert_eq!(DiffOptions::from_env().unwrap().source_date_epoch, None);
}
