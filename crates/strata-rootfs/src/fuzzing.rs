//! The entry point shared by the cargo-fuzz target (`fuzz/fuzz_targets/apply_layer.rs`)
//! and the bounded stable-Rust fuzz test (`tests/fuzz_stable.rs`): arbitrary bytes are
//! applied as a layer (twice, over the first result, so that links planted by one
//! application are written through by the next) under tight bounds, with both
//! resolvers, and a sentinel tree next to the root must not change.

use std::path::Path;

use crate::apply::{Applier, ApplyOptions};
use crate::error::RootfsError;
use crate::limits::Limits;
use crate::root::Resolver;
use crate::tree::{self, Compare};

/// Bounds small enough to keep one fuzz iteration fast.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_layers: 4,
        max_entries: 2_000,
        max_bytes: 8 << 20,
        max_ratio: 200,
        ratio_floor: 1 << 20,
        max_path: 1024,
        max_name: 255,
        max_depth: 64,
        max_metadata: 64 << 10,
        max_xattr_bytes: 16 << 10,
    }
}

fn sentinel(dir: &Path) -> tree::Tree {
    tree::describe(dir, true).unwrap_or_default()
}

/// Applies `data` as a layer, twice, under each resolver. Returns the outcomes; panics
/// if anything outside the root changed (that is the bug a fuzzer looks for).
pub fn apply_bytes(data: &[u8]) -> Vec<Result<(), RootfsError>> {
    let mut out = Vec::new();
    for resolver in [Resolver::Auto, Resolver::Walk] {
        let Ok(t) = tempfile::tempdir() else {
            return out;
        };
        let outside = t.path().join("sentinel");
        let root = t.path().join("a/b/root");
        if std::fs::create_dir_all(outside.join("sub")).is_err()
            || std::fs::create_dir_all(&root).is_err()
        {
            return out;
        }
        let _ = std::fs::write(outside.join("secret"), b"secret");
        let _ = std::fs::write(outside.join("sub/file"), b"file");
        let before = sentinel(&outside);
        let opts = ApplyOptions {
            limits: fuzz_limits(),
            resolver,
            ..Default::default()
        };
        let mut res = Ok(());
        match Applier::new(&root, opts) {
            Ok(mut a) => {
                for i in 0..2 {
                    if let Err(e) = a.apply_layer(&format!("fuzz layer {i}"), data, None) {
                        // Every error renders as one line.
                        assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
                        res = Err(e);
                        break;
                    }
                }
            }
            Err(e) => res = Err(e),
        }
        let after = sentinel(&outside);
        let d = tree::differences(
            &before,
            &after,
            Compare {
                mtimes: true,
                owners: true,
                root: true,
            },
        );
        assert!(
            d.is_empty(),
            "applying a layer changed files outside the root: {d:?}"
        );
        out.push(res);
    }
    out
}
