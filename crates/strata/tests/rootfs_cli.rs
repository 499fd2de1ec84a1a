//! `strata image unpack | export | diff` and `strata pull --unpack`, end to end through
//! the binary (the pull against CNCF Distribution on a free loopback port).

mod common;
#[path = "../../strata-remote/tests/common/mod.rs"]
mod rc;

use std::process::Output;

use common::{layer_tar, put_image, step, Entry, Env};
use rc::{distribution, RegAuth};

/// Runs strata with config directories isolated inside the env.
fn run_iso(env: &Env, args: &[&str]) -> Output {
    let d = env.dir.path();
    env.cmd(args)
        .env("HOME", d.join("home"))
        .env("STRATA_CONFIG", d.join("strata-config"))
        .env("DOCKER_CONFIG", d.join("docker-config"))
        .env_remove("DOCKER_DEFAULT_PLATFORM")
        .output()
        .unwrap()
}

fn ok_iso(env: &Env, args: &[&str]) -> Output {
    let o = run_iso(env, args);
    assert!(
        o.status.success(),
        "strata {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn image(env: &Env, name: &str) {
    put_image(
        &env.store(),
        Some(name),
        &[
            step(
                "ADD base",
                Some(layer_tar(&[
                    Entry::Dir("etc"),
                    Entry::File("etc/os-release", b"ID=test\n"),
                    Entry::File("etc/hosts", b"127.0.0.1 localhost\n"),
                    Entry::Symlink("hosts", "etc/hosts"),
                ])),
            ),
            step("ENV A=1", None),
            step(
                "RUN rm /etc/hosts && echo hi > /etc/motd",
                Some(layer_tar(&[
                    Entry::Whiteout("etc/.wh.hosts"),
                    Entry::File("etc/motd", b"hi\n"),
                ])),
            ),
        ],
        "2024-01-02T03:04:05Z",
        "amd64",
        serde_json::json!({}),
    );
}

#[test]
fn unpack_export_and_diff() {
    let env = Env::new();
    image(&env, "docker.io/library/rootfs-cli:1");
    let dir = env.dir.path().join("rootfs");
    let out = env.ok(&["image", "unpack", "rootfs-cli:1", dir.to_str().unwrap()]);
    assert!(
        out.starts_with("Unpacked docker.io/library/rootfs-cli:1 (2 layers, 0 from cache) to "),
        "{out}"
    );
    assert_eq!(std::fs::read(dir.join("etc/motd")).unwrap(), b"hi\n");
    assert!(!dir.join("etc/hosts").exists());
    assert_eq!(
        std::fs::read_link(dir.join("hosts"))
            .unwrap()
            .to_str()
            .unwrap(),
        "etc/hosts"
    );

    // A second unpack comes from the layer cache; a non-empty destination is refused.
    let dir2 = env.dir.path().join("rootfs2");
    let out = env.ok(&["image", "unpack", "rootfs-cli:1", dir2.to_str().unwrap()]);
    assert!(out.contains("(2 layers, 2 from cache)"), "{out}");
    let err = env.fails(
        &["image", "unpack", "rootfs-cli:1", dir.to_str().unwrap()],
        1,
    );
    assert!(
        err.trim_end()
            .ends_with("destination directory is not empty"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // export -o FILE: one flattened tar without whiteouts.
    let tarf = env.dir.path().join("flat.tar");
    env.ok(&[
        "image",
        "export",
        "rootfs-cli:1",
        "-o",
        tarf.to_str().unwrap(),
    ]);
    let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&tarf).unwrap())
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["etc/", "etc/motd", "etc/os-release", "hosts"]);

    // diff: per layer, docker diff's letters.
    let out = env.ok(&["image", "diff", "rootfs-cli:1"]);
    assert!(out.contains("LAYER 1/2"), "{out}");
    assert!(out.contains("A /etc/hosts\n"), "{out}");
    assert!(
        out.contains("LAYER 2/2")
            && out.contains("D /etc/hosts\n")
            && out.contains("A /etc/motd\n"),
        "{out}"
    );
    assert!(out.contains("RUN rm /etc/hosts"), "history shown: {out}");
    assert!(
        out.contains("(20B of lower layers' files replaced or removed)"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("Potential wasted space: 20B  Image efficiency: 35.5%"),
        "{out}"
    );
    let json = env.ok(&[
        "image",
        "diff",
        "--format",
        "json",
        "--layer",
        "2",
        "rootfs-cli:1",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["Layer"], 2);
    let err = env.fails(&["image", "diff", "--layer", "3", "rootfs-cli:1"], 1);
    assert!(err.contains("layer 3 does not exist"), "{err}");
    let err = env.fails(&["image", "unpack", "nosuch:1", dir2.to_str().unwrap()], 1);
    assert!(err.contains("No such image: nosuch:1"), "{err}");
}

#[test]
fn pull_unpack_unpacks_while_pulling() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = Env::new();
    let name = format!("{}/rootfs/app:v1", reg.host);
    image(&a, &name);
    ok_iso(&a, &["push", &name]);
    let b = Env::new();
    let dir = b.dir.path().join("unpacked");
    let o = ok_iso(&b, &["pull", "--unpack", dir.to_str().unwrap(), &name]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("Unpacked to {}", dir.display())),
        "{err}"
    );
    // The first layer starts downloading when it is next: applied from its download.
    let live: usize = err
        .split(" straight from the download")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of layers from the download: {err}"));
    assert!(live >= 1, "{err}");
    assert_eq!(std::fs::read(dir.join("etc/motd")).unwrap(), b"hi\n");
    assert!(!dir.join("etc/hosts").exists());
    // The same tree as unpacking the pulled image afterwards.
    let again = b.dir.path().join("again");
    b.ok(&["image", "unpack", &name, again.to_str().unwrap()]);
    let d = strata_rootfs::tree::differences(
        &strata_rootfs::tree::describe(&dir, true).unwrap(),
        &strata_rootfs::tree::describe(&again, true).unwrap(),
        strata_rootfs::tree::Compare {
            mtimes: true,
            owners: true,
            root: false,
        },
    );
    assert!(d.is_empty(), "{d:?}");
    // A destination that is not empty fails before anything is downloaded.
    let c = Env::new();
    let o = run_iso(&c, &["pull", "--unpack", dir.to_str().unwrap(), &name]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not empty"), "{err}");
    assert!(
        c.store().meta().names().unwrap().is_empty(),
        "nothing was pulled"
    );
}
