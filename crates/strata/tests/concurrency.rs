//! Several `strata` processes on one store at once: loads, listings, tags and removals
//! running together must each succeed or fail cleanly, and leave a consistent store.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::json;

fn verify_store(env: &Env) {
    // Every blob still hashes to its name.
    let root = env.root();
    for name in blob_files(&root) {
        let bytes = std::fs::read(root.join("blobs/sha256").join(&name)).unwrap();
        assert_eq!(
            strata_oci::Digest::sha256_of(&bytes).hex(),
            name,
            "blob {name} is corrupt"
        );
    }
    // The database is intact and every name resolves to a complete image.
    let o = Command::new("sqlite3")
        .arg(root.join("meta.db"))
        .arg("PRAGMA integrity_check;")
        .output();
    if let Ok(o) = o {
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
        }
    }
    let ids = env.ok(&["image", "ls", "-q", "--no-trunc"]);
    for id in ids.lines() {
        env.ok(&["image", "inspect", "-f", "{{.Size}}", id]);
    }
}

#[test]
fn concurrent_loads_listings_tags_and_removals_keep_the_store_consistent() {
    let env = Env::new();
    // Make four archives with a seed store, sharing a base layer.
    let seed = Env::new();
    let store = seed.store();
    let base = layer_tar(&[Entry::File("base.bin", &vec![5u8; 300_000])]);
    let mut archives = Vec::new();
    for i in 0..4 {
        let own = layer_tar(&[Entry::File("own.bin", &vec![i as u8; 50_000 + i * 1000])]);
        put_image(
            &store,
            Some(&format!("app{i}:1")),
            &[step("base", Some(base.clone())), step("own", Some(own))],
            &ago(3600),
            "amd64",
            json!({}),
        );
        let path = seed.dir.path().join(format!("app{i}.tar"));
        seed.ok(&["save", "-o", path.to_str().unwrap(), &format!("app{i}:1")]);
        archives.push(path);
    }
    drop(store);

    for round in 0..3 {
        let mut children = Vec::new();
        for (i, a) in archives.iter().enumerate() {
            children.push((
                "load",
                env.cmd(&["load", "-q", "-i", a.to_str().unwrap()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
            children.push((
                "ls",
                env.cmd(&["image", "ls"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
            let tag = format!("app{i}:r{round}");
            children.push((
                "tag",
                env.cmd(&["tag", &format!("app{i}:1"), &tag])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
            if round > 0 {
                let old = format!("app{i}:r{}", round - 1);
                children.push((
                    "rm",
                    env.cmd(&["image", "rm", &old])
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap(),
                ));
            }
        }
        children.push((
            "prune",
            env.cmd(&["image", "prune", "-f"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        for (what, c) in children {
            let o = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            match what {
                // Loads, listings and prunes never fail because of each other.
                "load" | "ls" | "prune" => assert!(o.status.success(), "{what} failed: {err}"),
                // A tag or rm may race with the load that creates its source: then it
                // fails cleanly with Docker's message, never anything else.
                _ => assert!(
                    o.status.success()
                        || (o.status.code() == Some(1)
                            && err.lines().count() == 1
                            && err.contains("No such image")),
                    "{what}: unexpected failure {:?}: {err}",
                    o.status
                ),
            }
        }
        verify_store(&env);
    }
    let names = env.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--sort",
        "name",
    ]);
    for i in 0..4 {
        assert!(names.contains(&format!("app{i}:1\n")), "{names}");
    }
    // Everything loaded is removable and the store ends empty.
    env.ok(&["image", "prune", "-a", "-f"]);
    assert!(blob_files(&env.root()).is_empty());
}
