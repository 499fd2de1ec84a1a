//! Layers written by other tools: umoci (`umoci repack`, with its whiteouts) and the
//! Docker engine (`docker build`, `docker save`, converted by skopeo), unpacked by
//! strata and by `umoci unpack`, and the trees compared.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use strata_oci::media;
use strata_rootfs::tree::{self, Compare};
use strata_rootfs::UnpackOptions;
use strata_store::Store;

fn have(tool: &str, env: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("not running as root: {tool} comparison skipped");
        return false;
    }
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os(env).is_some() {
        panic!("{tool} is required ({env} is set) but is not usable");
    }
    if !ok {
        eprintln!("{tool} not available: test skipped");
    }
    ok
}

fn docker_ok() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("STRATA_REQUIRE_DOCKER").is_some() {
        panic!("a Docker engine is required (STRATA_REQUIRE_DOCKER is set) but does not answer");
    }
    if !ok {
        eprintln!("no Docker engine: test skipped");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn manifest_for(layout: &Path, tag: &str) -> strata_oci::Descriptor {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("tag {tag} not in {index}"));
    serde_json::from_value(m.clone()).unwrap()
}

fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> tree::Tree {
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:{tag}", layout.display())])
        .arg(bundle));
    tree::describe(&bundle.join("rootfs"), true).unwrap()
}

fn strata_unpack(store: &Store, layout: &Path, tag: &str, dest: &Path) -> tree::Tree {
    let resolved = store.resolve(&manifest_for(layout, tag), None).unwrap();
    strata_rootfs::unpack(store, &resolved, dest, &UnpackOptions::default()).unwrap();
    tree::describe(dest, true).unwrap()
}

const ALL: Compare = Compare {
    mtimes: true,
    owners: true,
    root: false,
};

#[test]
fn layers_written_by_umoci_repack() {
    if !have("umoci", "STRATA_REQUIRE_PEERS") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let tars = realistic_layers();
    let img = image(
        "v1",
        &tars
            .iter()
            .map(|l| (gzip(l), media::OCI_LAYER_GZIP, l.clone()))
            .collect::<Vec<_>>(),
    );
    let layout = t.path().join("layout");
    img.write_layout(&layout, "v1");
    let bundle = t.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:v1", layout.display())])
        .arg(&bundle));
    let r = bundle.join("rootfs");
    // Changes umoci turns into a layer: deletions, a replaced directory, new files,
    // a mode change, a new hardlink to a lower file.
    std::fs::remove_file(r.join("etc/passwd")).unwrap();
    std::fs::remove_dir_all(r.join("usr/lib")).unwrap();
    std::fs::create_dir(r.join("usr/lib")).unwrap();
    std::fs::write(r.join("usr/lib/libnew.so"), b"new").unwrap();
    std::fs::write(r.join("etc/motd"), b"welcome").unwrap();
    std::fs::set_permissions(
        r.join("etc/group"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::hard_link(r.join("bin/busybox"), r.join("usr/lib/busybox-link")).unwrap();
    run(Command::new("umoci")
        .args(["repack", "--image", &format!("{}:v2", layout.display())])
        .arg(&bundle));

    // The new top layer really has whiteouts written by umoci.
    let m: serde_json::Value = {
        let d = manifest_for(&layout, "v2").digest;
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(d.hex())).unwrap())
            .unwrap()
    };
    let top = m["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(top.trim_start_matches("sha256:")),
    )
    .unwrap();
    let (_, plain) = strata_store::compress::decompress(&blob[..]).unwrap();
    let names: Vec<String> = tar::Archive::new(plain)
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.contains(".wh.")),
        "umoci wrote whiteouts: {names:?}"
    );

    let store = Store::open(t.path().join("store")).unwrap();
    strata_store::archive::load_dir(&store, &layout, Default::default()).unwrap();
    let ours = strata_unpack(&store, &layout, "v2", &t.path().join("ours"));
    let theirs = umoci_unpack(&layout, "v2", &t.path().join("bundle2"));
    let d = tree::differences(&ours, &theirs, ALL);
    assert!(
        d.is_empty(),
        "strata and umoci disagree on umoci's own layer:\n{}",
        d.join("\n")
    );
    assert!(!t.path().join("ours/etc/passwd").exists());
    assert!(
        t.path().join("ours/usr/lib/libnew.so").exists()
            && !t.path().join("ours/usr/lib/libc.so.6").exists()
    );
}

#[test]
fn layers_written_by_the_docker_engine() {
    if !docker_ok()
        || !have("skopeo", "STRATA_REQUIRE_PEERS")
        || !have("umoci", "STRATA_REQUIRE_PEERS")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(ctx.join("root/etc/app")).unwrap();
    std::fs::create_dir_all(ctx.join("root/usr/local/bin")).unwrap();
    std::fs::write(
        ctx.join("root/etc/app/config.toml"),
        b"[server]\nport = 8080\n",
    )
    .unwrap();
    std::fs::write(ctx.join("root/usr/local/bin/app"), vec![0x7fu8; 20_000]).unwrap();
    std::fs::set_permissions(
        ctx.join("root/usr/local/bin/app"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("app", ctx.join("root/usr/local/bin/app-link")).unwrap();
    std::fs::create_dir_all(ctx.join("data/deep/er")).unwrap();
    std::fs::write(ctx.join("data/deep/er/file"), b"deep").unwrap();
    std::fs::write(ctx.join("over"), b"second layer replaces the config").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY root/ /\nCOPY data/ /var/lib/data/\nCOPY --chown=1000:1000 data/ /home/user/\nCOPY over /etc/app/config.toml\n",
    )
    .unwrap();
    let tag = format!("strata-rootfs-peer:{}", std::process::id());
    run(Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0"));
    let archive = t.path().join("img.tar");
    let saved = Command::new("docker")
        .args(["save", "-o"])
        .arg(&archive)
        .arg(&tag)
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(
        saved.status.success(),
        "docker save: {}",
        String::from_utf8_lossy(&saved.stderr)
    );

    let store = Store::open(t.path().join("store")).unwrap();
    let rep = strata_store::archive::load(
        &store,
        std::fs::File::open(&archive).unwrap(),
        Default::default(),
    )
    .unwrap();
    let id = &rep.images[0];
    let resolved = store
        .resolve(
            &strata_oci::Descriptor::new(&id.media_type, id.id.clone(), id.size),
            None,
        )
        .unwrap();
    assert_eq!(resolved.manifest.layers.len(), 4);
    let ours = t.path().join("ours");
    strata_rootfs::unpack(&store, &resolved, &ours, &UnpackOptions::default()).unwrap();

    let layout = t.path().join("layout");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:t", layout.display())));
    let theirs = umoci_unpack(&layout, "t", &t.path().join("bundle"));
    let d = tree::differences(&tree::describe(&ours, true).unwrap(), &theirs, ALL);
    assert!(
        d.is_empty(),
        "strata and umoci disagree on Docker's layers:\n{}",
        d.join("\n")
    );
    assert_eq!(
        std::fs::read(ours.join("etc/app/config.toml")).unwrap(),
        b"second layer replaces the config"
    );
    let m = std::fs::metadata(ours.join("home/user/deep/er/file")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&m), 1000);
}
