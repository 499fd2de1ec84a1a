//! An adversarial corpus, generated here: every attack ends in a clear error or a
//! neutralised entry, and a sentinel tree outside the root is byte-for-byte unchanged.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use strata_rootfs::{Applier, ApplyOptions, Limits, Resolver, RootfsError};

struct Case {
    _t: tempfile::TempDir,
    root: PathBuf,
    sentinel: Sentinel,
    outside: String,
}

fn case() -> Case {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("a/b/rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let sentinel = Sentinel::new(t.path());
    let outside = sentinel.dir.to_str().unwrap().to_string();
    Case {
        _t: t,
        root,
        sentinel,
        outside,
    }
}

/// Applies `layers` in order with `limits` under both resolvers; returns the outcome
/// of the first failing layer (or Ok) for each, after checking the sentinel.
fn run(layers: &[Vec<u8>], limits: Limits) -> Vec<(Case, Result<(), RootfsError>)> {
    let mut out = Vec::new();
    for res in [Resolver::Auto, Resolver::Walk] {
        let c = case();
        let mut a = Applier::new(
            &c.root,
            ApplyOptions {
                limits,
                resolver: res,
                ..Default::default()
            },
        )
        .unwrap();
        let mut r = Ok(());
        for (i, l) in layers.iter().enumerate() {
            if let Err(e) = a.apply_layer(&format!("layer {}", i + 1), &l[..], None) {
                r = Err(e);
                break;
            }
        }
        c.sentinel.assert_unchanged();
        out.push((c, r));
    }
    out
}

fn with_outside(f: impl Fn(&str) -> Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    // The sentinel's absolute path is the same shape in every case; build with a
    // placeholder resolved per case by the caller.
    f("")
}

fn expect_unsafe(r: &Result<(), RootfsError>, needle: &str) {
    match r {
        Err(e @ RootfsError::Unsafe { .. }) => assert!(e.to_string().contains(needle), "{e}"),
        other => panic!("expected a refused entry mentioning {needle:?}, got {other:?}"),
    }
}

fn expect_limit(r: &Result<(), RootfsError>, needle: &str) {
    match r {
        Err(e @ RootfsError::Limit { .. }) => {
            let s = e.to_string();
            assert!(s.contains(needle) && s.contains("exceeds the limit"), "{s}");
            assert!(!s.contains('\n'));
        }
        other => panic!("expected a limit error about {needle:?}, got {other:?}"),
    }
}

/// Runs a two-layer attack whose layers need the absolute sentinel path.
fn run_abs(
    build: impl Fn(&str) -> Vec<Vec<u8>>,
    limits: Limits,
) -> Vec<(Case, Result<(), RootfsError>)> {
    let mut out = Vec::new();
    for res in [Resolver::Auto, Resolver::Walk] {
        let c = case();
        let layers = build(&c.outside);
        let mut a = Applier::new(
            &c.root,
            ApplyOptions {
                limits,
                resolver: res,
                ..Default::default()
            },
        )
        .unwrap();
        let mut r = Ok(());
        for (i, l) in layers.iter().enumerate() {
            if let Err(e) = a.apply_layer(&format!("layer {}", i + 1), &l[..], None) {
                r = Err(e);
                break;
            }
        }
        c.sentinel.assert_unchanged();
        out.push((c, r));
    }
    out
}

fn inside(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

#[test]
fn absolute_names_are_neutralised_into_the_root() {
    for (c, r) in run_abs(
        |o| {
            let mut t = T::new();
            t.file(&format!("{o}/secret"), b"pwned")
                .file("/etc/evil", b"e");
            vec![t.finish()]
        },
        Limits::default(),
    ) {
        r.unwrap();
        assert_eq!(
            std::fs::read(inside(&c.root, &format!("{}/secret", &c.outside[1..]))).unwrap(),
            b"pwned"
        );
        assert!(c.root.join("etc/evil").is_file());
    }
}

#[test]
fn dotdot_names_are_refused() {
    for (_c, r) in run(
        &with_outside(|_| {
            let mut t = T::new();
            t.file("../../../sentinel/secret", b"pwned");
            vec![t.finish()]
        }),
        Limits::default(),
    ) {
        expect_unsafe(&r, "'..'");
    }
}

#[test]
fn symlink_planted_then_written_through_cve_2025_45582() {
    for (c, r) in run_abs(
        |o| {
            let mut l1 = T::new();
            l1.symlink("up", "../../../..")
                .symlink("abs", o)
                .symlink("up2", "../../../sentinel");
            let mut l2 = T::new();
            l2.file("up/sentinel/secret", b"pwned")
                .file("abs/secret", b"pwned")
                .file("up2/secret", b"pwned")
                .file("abs/sub/file", b"pwned")
                .dir("abs/sub", 0o777);
            vec![l1.finish(), l2.finish()]
        },
        Limits::default(),
    ) {
        r.unwrap();
        // Each write landed inside the root, where the symlink resolves when the root is '/'.
        assert_eq!(
            std::fs::read(c.root.join("sentinel/secret")).unwrap(),
            b"pwned"
        );
        assert_eq!(
            std::fs::read(inside(&c.root, &format!("{}/secret", &c.outside[1..]))).unwrap(),
            b"pwned"
        );
    }
}

#[test]
fn same_layer_symlink_and_write_through() {
    for (c, r) in run_abs(
        |o| {
            let mut t = T::new();
            t.symlink("x", o)
                .file("x/secret", b"pwned")
                .symlink("s", &format!("{o}/secret"))
                .file("s", b"replaced");
            vec![t.finish()]
        },
        Limits::default(),
    ) {
        r.unwrap();
        assert_eq!(
            std::fs::read(c.root.join("s")).unwrap(),
            b"replaced",
            "a file over a symlink replaces the link"
        );
        assert!(!std::fs::symlink_metadata(c.root.join("s"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn chmod_through_symlink_cve_2026_33056_pattern() {
    for (c, r) in run_abs(
        |o| {
            let mut t = T::new();
            t.symlink("foo", o).dir("foo", 0o777).dir("foo/.", 0o777);
            vec![t.finish()]
        },
        Limits::default(),
    ) {
        r.unwrap();
        assert!(
            c.root.join("foo").is_dir()
                && !std::fs::symlink_metadata(c.root.join("foo"))
                    .unwrap()
                    .file_type()
                    .is_symlink()
        );
    }
}

#[test]
fn hardlinks_pointing_outside() {
    for (_c, r) in run(
        &[{
            let mut t = T::new();
            t.hardlink("h", "../../../sentinel/secret");
            t.finish()
        }],
        Limits::default(),
    ) {
        expect_unsafe(&r, "hardlink target");
    }
    for (_c, r) in run_abs(
        |o| {
            let mut t = T::new();
            t.hardlink("h", &format!("{o}/secret"));
            vec![t.finish()]
        },
        Limits::default(),
    ) {
        expect_unsafe(&r, "does not exist");
    }
    // Through a symlink planted by a lower layer.
    for (_c, r) in run_abs(
        |o| {
            let mut l1 = T::new();
            l1.symlink("d", o);
            let mut l2 = T::new();
            l2.hardlink("h", "d/secret");
            vec![l1.finish(), l2.finish()]
        },
        Limits::default(),
    ) {
        expect_unsafe(&r, "does not exist");
    }
}

#[test]
fn whiteouts_naming_dotdot_or_the_root_or_through_symlinks() {
    for name in [".wh..", "a/.wh..", ".wh.", ".wh..."] {
        for (_c, r) in run(
            &[{
                let mut t = T::new();
                t.dir("a", 0o755).file(name, b"");
                t.finish()
            }],
            Limits::default(),
        ) {
            let e = r.expect_err(name);
            assert!(matches!(e, RootfsError::Unsafe { .. }), "{name}: {e}");
        }
    }
    for (_c, r) in run_abs(
        |o| {
            let mut l1 = T::new();
            l1.symlink("x", o).symlink("y", "../../../sentinel");
            let mut l2 = T::new();
            l2.file("x/.wh.secret", b"")
                .file("y/.wh.sub", b"")
                .file("x/.wh..wh..opq", b"")
                .file("y/.wh..wh..opq", b"");
            vec![l1.finish(), l2.finish()]
        },
        Limits::default(),
    ) {
        r.unwrap();
    }
}

#[test]
fn pax_size_smuggling_is_refused() {
    // The header says 512 bytes, the PAX record says 0: a reader honouring one sees a
    // hidden entry the other does not (CVE-2025-62518 class).
    let mut t = T::new();
    t.pax(&[("size", b"0")]);
    let mut inner = T::new();
    inner.file("smuggled", b"hidden");
    let hidden = inner.finish();
    t.entry(
        tar::EntryType::Regular,
        b"carrier",
        0o644,
        (0, 0),
        None,
        &hidden[..1024],
    );
    for (_c, r) in run(&[t.finish()], Limits::default()) {
        expect_unsafe(&r, "PAX size record disagrees");
    }
}

#[test]
fn over_long_names_are_refused() {
    let long = "a/".repeat(3000) + "f";
    let mut t = T::new();
    t.pax(&[("path", long.as_bytes())]).file("short", b"x");
    for (_c, r) in run(&[t.finish()], Limits::default()) {
        expect_unsafe(&r, "bytes long");
    }
    let comp = "c".repeat(300);
    let mut t = T::new();
    t.pax(&[("path", comp.as_bytes())]).file("short", b"x");
    for (_c, r) in run(&[t.finish()], Limits::default()) {
        expect_unsafe(&r, "component");
    }
}

#[test]
fn deep_names_are_refused() {
    let deep = "d/".repeat(300) + "f";
    let mut t = T::new();
    t.pax(&[("path", deep.as_bytes())]).file("short", b"x");
    for (_c, r) in run(&[t.finish()], Limits::default()) {
        expect_unsafe(&r, "components");
    }
}

#[test]
fn metadata_bomb_is_bounded() {
    let big = vec![b'x'; 3 << 20];
    let mut t = T::new();
    t.pax(&[("comment", &big[..])]).file("f", b"x");
    for (_c, r) in run(&[gzip(&t.finish())], Limits::default()) {
        expect_limit(&r, "tar metadata");
    }
}

#[test]
fn bounds_on_entries_bytes_ratio_and_layers() {
    let mut t = T::new();
    for i in 0..11 {
        t.file(&format!("f{i}"), b"x");
    }
    let many = t.finish();
    for (_c, r) in run(
        std::slice::from_ref(&many),
        Limits {
            max_entries: 10,
            ..Limits::default()
        },
    ) {
        expect_limit(&r, "entry count");
    }
    let mut t = T::new();
    t.file("big", &vec![7u8; 2 << 20]);
    for (_c, r) in run(
        &[t.finish()],
        Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        },
    ) {
        expect_limit(&r, "uncompressed size");
    }
    let mut t = T::new();
    t.file("zeros", &vec![0u8; 32 << 20]);
    let bomb = gzip(&t.finish());
    for (_c, r) in run(
        &[bomb],
        Limits {
            max_ratio: 100,
            ratio_floor: 1 << 20,
            ..Limits::default()
        },
    ) {
        expect_limit(&r, "expansion ratio");
    }
    for (_c, r) in run(
        &[many.clone(), many.clone(), many],
        Limits {
            max_layers: 2,
            ..Limits::default()
        },
    ) {
        expect_limit(&r, "layer count");
    }
}

#[test]
fn garbage_and_truncation_are_clear_errors() {
    let mut t = T::new();
    t.file("a", &[1u8; 5000]);
    let full = t.finish();
    for (_c, r) in run(&[full[..3000].to_vec()], Limits::default()) {
        assert!(matches!(r, Err(RootfsError::Tar { .. })), "{r:?}");
    }
    let mut gz = gzip(&full);
    let n = gz.len();
    gz[n / 2] ^= 0xff;
    for (_c, r) in run(&[gz], Limits::default()) {
        assert!(matches!(r, Err(RootfsError::Tar { .. })), "{r:?}");
    }
}
