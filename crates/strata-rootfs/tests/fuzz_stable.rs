//! The layer reader's fuzz target run as a bounded, deterministic property test on
//! stable Rust: random hostile tars built entry by entry (escaping names, planted
//! symlinks, whiteouts, hardlinks, PAX records) and random mutations of valid layers.
//! Every input must end in Ok or a clear one-line error, never a panic, and the sentinel
//! tree next to the root must not change (checked inside `fuzzing::apply_bytes`).

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "..",
    ".",
    "",
    "/",
    ".wh.a",
    ".wh..wh..opq",
    ".wh..",
    ".wh.",
    "sentinel",
    "etc",
    "x y",
    "\u{e9}",
];
const TARGETS: &[&str] = &[
    "a",
    "a/b",
    "../../../sentinel",
    "/",
    "/a",
    "../..",
    "..",
    "b/../../..",
    "/sentinel/secret",
    "c",
];

#[derive(Debug, Clone)]
struct E {
    kind: u8,
    name: Vec<usize>,
    target: usize,
    data: Vec<u8>,
    mode: u32,
    pax: u8,
}

fn entry() -> impl Strategy<Value = E> {
    (
        0u8..9,
        prop::collection::vec(0..NAMES.len(), 1..4),
        0..TARGETS.len(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<u32>(),
        0u8..6,
    )
        .prop_map(|(kind, name, target, data, mode, pax)| E {
            kind,
            name,
            target,
            data,
            mode,
            pax,
        })
}

fn build(es: &[E], gz: bool) -> Vec<u8> {
    let mut t = T::new();
    for e in es {
        let name: Vec<&str> = e.name.iter().map(|i| NAMES[*i]).collect();
        let name = name.join("/");
        let target = TARGETS[e.target].as_bytes();
        match e.pax {
            1 => {
                t.pax(&[("size", b"7")]);
            }
            2 => {
                t.pax(&[("path", target)]);
            }
            3 => {
                t.pax(&[
                    ("SCHILY.xattr.user.k", &e.data[..e.data.len().min(8)]),
                    ("mtime", b"12.5"),
                ]);
            }
            4 => {
                t.pax(&[("linkpath", b"../../../sentinel/secret")]);
            }
            _ => {}
        }
        let mode = e.mode & 0o7777;
        match e.kind {
            0 => t.entry(
                tar::EntryType::Regular,
                name.as_bytes(),
                mode,
                (0, 0),
                None,
                &e.data,
            ),
            1 => t.entry(
                tar::EntryType::Directory,
                name.as_bytes(),
                mode,
                (0, 0),
                None,
                b"",
            ),
            2 => t.entry(
                tar::EntryType::Symlink,
                name.as_bytes(),
                0o777,
                (0, 0),
                Some(target),
                b"",
            ),
            3 => t.entry(
                tar::EntryType::Link,
                name.as_bytes(),
                0o644,
                (0, 0),
                Some(target),
                b"",
            ),
            4 => t.entry(
                tar::EntryType::Fifo,
                name.as_bytes(),
                mode,
                (0, 0),
                None,
                b"",
            ),
            5 => t.entry(
                tar::EntryType::Regular,
                format!("{name}/.wh.a").as_bytes(),
                0o644,
                (0, 0),
                None,
                b"",
            ),
            6 => t.entry(
                tar::EntryType::Regular,
                format!("{name}/.wh..wh..opq").as_bytes(),
                0o644,
                (0, 0),
                None,
                b"",
            ),
            7 => t.entry(
                tar::EntryType::Regular,
                format!("{name}/file").as_bytes(),
                mode,
                (1000, 1000),
                None,
                &e.data,
            ),
            _ => t.entry(
                tar::EntryType::Regular,
                name.as_bytes(),
                mode,
                (0, 0),
                None,
                &e.data,
            ),
        };
    }
    let raw = t.finish();
    if gz {
        gzip(&raw)
    } else {
        raw
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

#[test]
fn random_hostile_layers() {
    let ok = std::cell::Cell::new(0);
    let err = std::cell::Cell::new(0);
    runner(300)
        .run(
            &(prop::collection::vec(entry(), 1..14), any::<bool>()),
            |(es, gz)| {
                for r in strata_rootfs::fuzzing::apply_bytes(&build(&es, gz)) {
                    let c = if r.is_ok() { &ok } else { &err };
                    c.set(c.get() + 1);
                }
                Ok(())
            },
        )
        .unwrap();
    // Both outcomes occur: the corpus is neither all-valid nor all-rejected.
    let (ok, err) = (ok.get(), err.get());
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
}

#[test]
fn mutated_valid_layers() {
    let base = realistic_layers();
    let seeds: Vec<Vec<u8>> = base
        .iter()
        .flat_map(|l| [l.clone(), gzip(l), zstd(l)])
        .collect();
    runner(300)
        .run(
            &(
                0..seeds.len(),
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
                any::<Option<prop::sample::Index>>(),
            ),
            |(which, flips, cut)| {
                let mut data = seeds[which].clone();
                for (i, b) in flips {
                    let i = i.index(data.len());
                    data[i] ^= b | 1;
                }
                if let Some(c) = cut {
                    data.truncate(c.index(data.len()));
                }
                strata_rootfs::fuzzing::apply_bytes(&data);
                Ok(())
            },
        )
        .unwrap();
}
