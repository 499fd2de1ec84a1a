//! A full disk in the middle of a load: one clear error line, exit 1, the store exactly
//! as it was (names, blobs), and the partial blob's space given back.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_small_tmpfs(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("STRATA_REQUIRE_PEERS").as_deref() != Ok("1"),
            "STRATA_REQUIRE_PEERS=1 but a tmpfs cannot be mounted for the full-disk test"
        );
        eprintln!("note: skipping: cannot mount a tmpfs here");
        return None;
    }
    Some(Tmpfs(dir.to_path_buf()))
}

#[test]
fn load_on_a_full_disk_fails_cleanly_and_changes_nothing() {
    let seed = Env::new();
    let store = seed.store();
    // Incompressible content so the archive and blobs keep their size.
    let mut noise = vec![0u8; 3_000_000];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    put_image(
        &store,
        Some("small:1"),
        &[step("s", Some(layer_tar(&[Entry::File("s", b"small")])))],
        &ago(60),
        "amd64",
        json!({}),
    );
    put_image(
        &store,
        Some("big:1"),
        &[step("b", Some(layer_tar(&[Entry::File("b", &noise)])))],
        &ago(60),
        "amd64",
        json!({}),
    );
    drop(store);
    let small = seed.dir.path().join("small.tar");
    let big = seed.dir.path().join("big.tar");
    seed.ok(&["save", "-o", small.to_str().unwrap(), "small:1"]);
    seed.ok(&["save", "-o", big.to_str().unwrap(), "big:1"]);

    let env = Env::new();
    let Some(_mount) = mount_small_tmpfs(&env.root(), "2m") else {
        return;
    };
    env.ok(&["load", "-i", small.to_str().unwrap()]);
    let names_before = env.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]);
    let blobs_before = blob_files(&env.root());

    let err = env.fails(&["load", "-i", big.to_str().unwrap()], 1);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{err}"
    );

    assert_eq!(
        env.ok(&[
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}"
        ]),
        names_before
    );
    assert_eq!(blob_files(&env.root()), blobs_before);
    let partial: u64 = std::fs::read_dir(env.root().join("ingest"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
        .map(|m| m.len())
        .sum();
    assert_eq!(partial, 0, "the partial blob's space is given back");
    // The store still works: the small image is intact and removable.
    env.ok(&["image", "inspect", "small:1"]);
    env.ok(&["image", "rm", "small:1"]);
}
