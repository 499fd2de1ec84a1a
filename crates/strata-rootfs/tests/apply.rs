//! Layer application: image-spec semantics, compression, diff IDs.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;
use strata_rootfs::{Applier, ApplyOptions, Resolver, RootfsError};

fn applier(root: &Path, resolver: Resolver) -> Applier {
    std::fs::create_dir_all(root).unwrap();
    Applier::new(
        root,
        ApplyOptions {
            resolver,
            ..Default::default()
        },
    )
    .unwrap()
}

fn lower() -> Vec<u8> {
    let mut t = T::new();
    t.dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .dir("usr", 0o755)
        .dir("usr/lib", 0o755)
        .symlink("lib", "usr/lib")
        .file("usr/lib/libc.so", b"ELF libc")
        .dir("opq", 0o755)
        .file("opq/old1", b"1")
        .dir("opq/sub", 0o700)
        .file("opq/sub/old2", b"2")
        .file("gone", b"bye")
        .dir("gonedir", 0o755)
        .file("gonedir/x", b"x")
        .file("becomes_dir", b"f")
        .dir("becomes_file", 0o755)
        .file("becomes_file/child", b"c")
        .entry(
            tar::EntryType::Regular,
            b"bin/su",
            0o4755,
            (0, 0),
            None,
            b"su",
        )
        .entry(
            tar::EntryType::Regular,
            b"home/user/file",
            0o600,
            (1234, 5678),
            None,
            b"mine",
        );
    t.finish()
}

fn upper() -> Vec<u8> {
    let mut t = T::new();
    t.mtime = 1_700_000_000;
    // New file in the opaque dir before the marker, and after it.
    t.file("opq/new_before", b"nb")
        .file(".wh.gone", b"")
        .file(".wh.gonedir", b"")
        .dir("becomes_dir", 0o750)
        .file("becomes_file", b"now a file")
        .hardlink("etc/passwd.link", "etc/passwd")
        .entry(tar::EntryType::Directory, b"etc", 0o700, (0, 0), None, b"")
        .file("lib/libnew.so", b"through the symlink");
    t.file("opq/.wh..wh..opq", b"").file("opq/new_after", b"na");
    t.pax(&[
        ("SCHILY.xattr.user.test", b"value"),
        (
            "SCHILY.xattr.security.capability",
            &[1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ])
    .file("usr/bin/ping", b"ping");
    t.pax(&[("mtime", b"1700000123.25")]).file("precise", b"p");
    t.entry(tar::EntryType::Fifo, b"run/fifo", 0o644, (0, 0), None, b"");
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Char);
    h.set_path("dev/null").unwrap();
    h.set_mode(0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    t.raw_header(&h, b"");
    t.finish()
}

/// Checks the applied tree. Without root, owners, `security.*` xattrs and device nodes
/// cannot be applied: they must then be reported (recorded owners, warnings) instead.
fn check_tree(root: &Path, reports: &[strata_rootfs::LayerReport]) {
    let as_root = rustix::process::geteuid().is_root();
    let warnings: Vec<&String> = reports.iter().flat_map(|r| r.warnings.iter()).collect();
    assert_eq!(
        std::fs::read(root.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    let m = std::fs::metadata(root.join("etc")).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o700,
        "dir over dir changes metadata"
    );
    assert_eq!(m.mtime(), 1_700_000_000, "directory mtimes are set last");
    assert_eq!(
        std::fs::metadata(root.join("etc/passwd")).unwrap().ino(),
        std::fs::metadata(root.join("etc/passwd.link"))
            .unwrap()
            .ino(),
        "hardlink to a lower layer's file"
    );
    assert!(!root.join("gone").exists() && !root.join("gonedir").exists());
    assert!(root.join("becomes_dir").is_dir());
    assert_eq!(
        std::fs::read(root.join("becomes_file")).unwrap(),
        b"now a file"
    );
    assert_eq!(
        std::fs::read(root.join("usr/lib/libnew.so")).unwrap(),
        b"through the symlink"
    );
    let mut opq: Vec<_> = std::fs::read_dir(root.join("opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    opq.sort();
    assert_eq!(
        opq,
        vec!["new_after", "new_before"],
        "opaque hides lower entries wherever it sits"
    );
    assert_eq!(
        std::fs::read_link(root.join("lib"))
            .unwrap()
            .to_str()
            .unwrap(),
        "usr/lib"
    );
    let su = std::fs::metadata(root.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    let home = std::fs::metadata(root.join("home/user/file")).unwrap();
    assert_eq!(home.permissions().mode() & 0o777, 0o600);
    if as_root {
        assert_eq!((home.uid(), home.gid()), (1234, 5678));
    } else {
        assert!(reports[0]
            .skipped_owners
            .contains(&("home/user/file".to_string(), 1234, 5678)));
    }
    let x = strata_rootfs::tree::xattrs(&root.join("usr/bin/ping"));
    assert_eq!(
        x.get(&b"user.test"[..]).map(|v| v.as_slice()),
        Some(&b"value"[..])
    );
    if as_root {
        assert!(x.contains_key(&b"security.capability"[..]));
    } else {
        assert!(
            warnings.iter().any(|w| w.contains("security.capability")),
            "{warnings:?}"
        );
    }
    let p = std::fs::metadata(root.join("precise")).unwrap();
    assert_eq!((p.mtime(), p.mtime_nsec()), (1_700_000_123, 250_000_000));
    assert!(std::fs::symlink_metadata(root.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    if as_root {
        let dn = std::fs::symlink_metadata(root.join("dev/null")).unwrap();
        assert!(dn.file_type().is_char_device());
        assert_eq!(dn.rdev(), rustix::fs::makedev(1, 3));
    } else {
        assert!(!root.join("dev/null").exists());
        assert!(
            warnings.iter().any(|w| w.contains("skipped device node")),
            "{warnings:?}"
        );
    }
}

#[test]
fn applies_image_spec_semantics_with_both_resolvers() {
    for res in [Resolver::Auto, Resolver::Walk] {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        let mut a = applier(&root, res);
        let l = lower();
        let u = upper();
        let r1 = a
            .apply_layer("layer 1", &gzip(&l)[..], Some(&sha256(&l)))
            .unwrap();
        assert_eq!(r1.compression, strata_store::compress::Compression::Gzip);
        let r2 = a
            .apply_layer("layer 2", &zstd(&u)[..], Some(&sha256(&u)))
            .unwrap();
        assert_eq!(r2.compression, strata_store::compress::Compression::Zstd);
        assert_eq!(r2.diff_id, sha256(&u));
        check_tree(&root, &[r1.clone(), r2.clone()]);
        assert_eq!(a.walking(), res == Resolver::Walk);
    }
}

#[test]
fn uncompressed_layers_and_diff_id_mismatch() {
    let t = tempfile::tempdir().unwrap();
    let mut a = applier(&t.path().join("r"), Resolver::Auto);
    let l = lower();
    let r = a.apply_layer("layer 1", &l[..], Some(&sha256(&l))).unwrap();
    assert_eq!(r.compression, strata_store::compress::Compression::None);
    let e = a
        .apply_layer("layer 2", &gzip(&l)[..], Some(&sha256(b"other")))
        .unwrap_err();
    assert!(matches!(e, RootfsError::DiffIdMismatch { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("wrong diff id calculated on extraction"),
        "{e}"
    );
}

#[test]
fn whiteouts_do_not_remove_what_the_same_layer_wrote() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let mut a = applier(&root, Resolver::Auto);
    let mut l = T::new();
    l.file("keep", b"k").file(".wh.keep", b"");
    let l = l.finish();
    a.apply_layer("layer 1", &l[..], None).unwrap();
    assert_eq!(std::fs::read(root.join("keep")).unwrap(), b"k");
}

#[test]
fn sparse_files_stay_sparse() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("sparse.bin");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&src).unwrap();
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(b"end").unwrap();
    }
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(true);
    b.append_path_with_name(&src, "big.sparse").unwrap();
    let layer = b.into_inner().unwrap();
    assert!(
        layer.len() < 1 << 20,
        "the tar writer stored the file as a GNU sparse entry"
    );
    let root = t.path().join("r");
    let mut a = applier(&root, Resolver::Auto);
    a.apply_layer("layer 1", &layer[..], Some(&sha256(&layer)))
        .unwrap();
    let m = std::fs::metadata(root.join("big.sparse")).unwrap();
    assert_eq!(m.len(), (64 << 20) + 3);
    assert!(
        m.blocks() * 512 < 4 << 20,
        "holes are not written: {} blocks",
        m.blocks()
    );
}

#[test]
fn without_owners_they_are_recorded_and_restrictive_dirs_still_fill() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    std::fs::create_dir(&root).unwrap();
    let mut a = Applier::new(
        &root,
        ApplyOptions {
            owners: strata_rootfs::Owners::Skip,
            ..Default::default()
        },
    )
    .unwrap();
    let mut l = T::new();
    l.entry(tar::EntryType::Directory, b"ro", 0o555, (0, 0), None, b"")
        .entry(
            tar::EntryType::Regular,
            b"ro/inside",
            0o444,
            (1234, 99),
            None,
            b"x",
        )
        .entry(
            tar::EntryType::Directory,
            b"ro/sub",
            0o500,
            (7, 7),
            None,
            b"",
        );
    let l = l.finish();
    let r = a.apply_layer("layer 1", &l[..], None).unwrap();
    assert_eq!(r.skipped_owners.len(), 3);
    assert!(r
        .skipped_owners
        .contains(&("ro/inside".to_string(), 1234, 99)));
    let me = rustix::process::geteuid().as_raw();
    let m = std::fs::metadata(root.join("ro/inside")).unwrap();
    assert_eq!(m.uid(), me, "owners are not applied");
    assert_eq!(
        std::fs::metadata(root.join("ro"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o555
    );
    assert_eq!(
        std::fs::metadata(root.join("ro/sub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o500
    );
}

#[test]
fn repeated_and_nested_opaque_markers() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let mut a = applier(&root, Resolver::Auto);
    let mut l1 = T::new();
    l1.file("d/a", b"a")
        .file("d/sub/b", b"b")
        .file("d/sub/c", b"c");
    let l1 = l1.finish();
    a.apply_layer("layer 1", &l1[..], None).unwrap();
    let mut l2 = T::new();
    l2.file("d/new", b"n")
        .file("d/.wh..wh..opq", b"")
        .file("d/sub/kept", b"k")
        .file("d/sub/.wh..wh..opq", b"")
        .file("d/.wh..wh..opq", b"")
        .file("d/later", b"l");
    let l2 = l2.finish();
    a.apply_layer("layer 2", &l2[..], None).unwrap();
    let d = strata_rootfs::tree::describe(&root.join("d"), false).unwrap();
    let names: Vec<String> = d
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(names, vec!["", "later", "new", "sub", "sub/kept"]);
}

/// Many small files (written by the layer's writer thread) and one large file (written
/// inline) on a file system that fills up: the error names the file and the cause, and
/// the other threads stop cleanly.
#[test]
fn a_full_disk_is_a_clear_error_for_small_and_large_files() {
    let t = tempfile::tempdir().unwrap();
    let mnt = t.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        assert!(
            std::env::var("STRATA_REQUIRE_PEERS").as_deref() != Ok("1"),
            "STRATA_REQUIRE_PEERS=1 but a tmpfs cannot be mounted for the full-disk test"
        );
        eprintln!("note: skipping: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let chunk: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
    for (what, layer) in [
        ("small", {
            let mut l = T::new();
            l.dir("many", 0o755);
            for i in 0..100 {
                l.file(&format!("many/f{i:03}"), &chunk);
            }
            l.finish()
        }),
        ("large", {
            let mut l = T::new();
            l.file("big", &big);
            l.finish()
        }),
    ] {
        let root = mnt.join(what);
        let mut a = applier(&root, Resolver::Auto);
        let err = a
            .apply_layer("layer 1/1", gzip(&layer).as_slice(), None)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("No space left on device") && msg.contains("writing"),
            "{what}: {msg}"
        );
        assert!(
            msg.contains(if what == "small" { "many/f" } else { "big" }),
            "{what}: the error names the file: {msg}"
        );
        assert!(!msg.contains('\n'), "{what}: one line: {msg}");
        drop(a);
        std::fs::remove_dir_all(&root).unwrap();
    }
}

/// Small files are created by the write-behind pool; names a lower layer already holds
/// are handed back and replaced in tar order, before any later entry (a hardlink to the
/// new file, a second entry for the same name) can see them.
#[test]
fn replaced_names_and_links_keep_tar_order_with_queued_files() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let mut a = applier(&root, Resolver::Auto);
    let mut lower = T::new();
    lower
        .dir("a", 0o755)
        .file("a/x", b"old x")
        .dir("a/d", 0o755)
        .file("a/d/f", b"inside")
        .symlink("a/s", "x");
    for i in 0..50 {
        lower.file(&format!("a/many{i}"), b"lower");
    }
    a.apply_layer("layer 1/2", gzip(&lower.finish()).as_slice(), None)
        .unwrap();
    let mut upper = T::new();
    upper
        .file("a/x", b"new x")
        .hardlink("a/y", "a/x")
        .file("a/d", b"was a directory")
        .file("a/s", b"was a symlink")
        .file("a/twice", b"first")
        .file("a/twice", b"second");
    for i in 0..50 {
        upper.file(&format!("a/many{i}"), format!("upper {i}").as_bytes());
    }
    a.apply_layer("layer 2/2", gzip(&upper.finish()).as_slice(), None)
        .unwrap();
    let read = |p: &str| std::fs::read(root.join(p)).unwrap();
    assert_eq!(read("a/x"), b"new x");
    assert_eq!(read("a/y"), b"new x");
    let (mx, my) = (
        std::fs::metadata(root.join("a/x")).unwrap(),
        std::fs::metadata(root.join("a/y")).unwrap(),
    );
    assert_eq!(mx.ino(), my.ino(), "a/y is a hardlink to the new a/x");
    assert_eq!(read("a/d"), b"was a directory");
    assert!(std::fs::symlink_metadata(root.join("a/s"))
        .unwrap()
        .file_type()
        .is_file());
    assert_eq!(read("a/s"), b"was a symlink");
    assert_eq!(read("a/twice"), b"second");
    for i in 0..50 {
        assert_eq!(read(&format!("a/many{i}")), format!("upper {i}").as_bytes());
    }
}
