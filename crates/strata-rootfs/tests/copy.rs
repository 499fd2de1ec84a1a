//! `cache::copy_tree`: an exact copy (types, modes, owners, times, xattrs, hardlinks,
//! holes), never following a symlink out of either tree.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use strata_rootfs::cache::copy_tree;
use strata_rootfs::tree::{self, Compare};
use strata_rootfs::ApplyOptions;

#[test]
fn copies_every_kind_of_entry_exactly_and_keeps_holes() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"not to be copied").unwrap();

    std::fs::create_dir_all(src.join("etc/ro")).unwrap();
    std::fs::write(src.join("etc/ro/file"), b"in a read-only dir").unwrap();
    std::fs::write(src.join("etc/a"), b"linked").unwrap();
    std::fs::hard_link(src.join("etc/a"), src.join("etc/b")).unwrap();
    std::fs::hard_link(src.join("etc/a"), src.join("etc/ro/c")).unwrap();
    std::os::unix::fs::symlink("../outside/secret", src.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside, src.join("outdir")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    // A sparse file: 8 MiB with 4 KiB of data in the middle.
    let f = std::fs::File::create(src.join("sparse")).unwrap();
    f.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &[7u8; 4096], 4 << 20).unwrap();
    drop(f);
    std::fs::write(src.join("suid"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(src.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let xattr_ok = rustix::fs::setxattr(
        src.join("etc/a").as_path(),
        "user.strata",
        b"value",
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();
    let _ = rustix::fs::setxattr(
        src.join("etc").as_path(),
        "user.dir",
        b"d",
        rustix::fs::XattrFlags::empty(),
    );
    std::fs::set_permissions(src.join("etc/ro"), std::fs::Permissions::from_mode(0o555)).unwrap();

    let dst = t.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    copy_tree(&src, &dst, &ApplyOptions::default()).unwrap();

    let d = tree::differences(
        &tree::describe(&src, true).unwrap(),
        &tree::describe(&dst, true).unwrap(),
        Compare {
            mtimes: true,
            owners: true,
            root: true,
        },
    );
    assert!(d.is_empty(), "{d:?}");
    let (a, b, c) = (
        std::fs::metadata(dst.join("etc/a")).unwrap(),
        std::fs::metadata(dst.join("etc/b")).unwrap(),
        std::fs::metadata(dst.join("etc/ro/c")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 3));
    assert_eq!(a.ino(), c.ino());
    let sp = std::fs::metadata(dst.join("sparse")).unwrap();
    assert_eq!(sp.len(), 8 << 20);
    assert!(
        sp.blocks() * 512 < 1 << 20,
        "holes stay holes: {} bytes allocated",
        sp.blocks() * 512
    );
    assert_eq!(
        std::fs::read(dst.join("sparse")).unwrap()[4 << 20],
        7,
        "the data extent is copied"
    );
    assert_eq!(
        std::fs::metadata(dst.join("suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        std::fs::read_link(dst.join("escape")).unwrap(),
        std::path::Path::new("../outside/secret"),
        "symlinks are copied as symlinks"
    );
    assert!(
        !dst.join("outdir").is_dir()
            || std::fs::symlink_metadata(dst.join("outdir"))
                .unwrap()
                .file_type()
                .is_symlink()
    );
    if xattr_ok {
        let mut v = [0u8; 16];
        let n =
            rustix::fs::getxattr(dst.join("etc/a").as_path(), "user.strata", &mut v[..]).unwrap();
        assert_eq!(&v[..n], b"value");
    }
    assert_eq!(
        std::fs::read(outside.join("secret")).unwrap(),
        b"not to be copied"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
}
