//! The same image seen by the Docker engine and by Strata: `image ls`, `history` and
//! `inspect` must agree on sizes (per layer and total), history, names and platform.
//! Runs where `docker info` works; mandatory in CI when it does.

mod common;

use std::process::Command;

use common::*;

/// Builds a FROM-scratch image with several layer kinds (files, a directory tree, a
/// symlink kept as a symlink by ADD of a tar, empty-layer steps) and returns its name.
fn build_fixture(dir: &std::path::Path, tag: &str) {
    std::fs::create_dir_all(dir.join("ctx/tree/sub")).unwrap();
    std::fs::write(dir.join("ctx/hello.txt"), "hello world\n").unwrap();
    std::fs::write(dir.join("ctx/tree/a.bin"), vec![3u8; 12_345]).unwrap();
    std::fs::write(dir.join("ctx/tree/sub/b.txt"), "b".repeat(777)).unwrap();
    // A tar ADDed by Docker is extracted: symlinks and hardlinks survive as such.
    let layer = layer_tar(&[
        Entry::Dir("opt/"),
        Entry::File("opt/data", &[9u8; 4321]),
        Entry::Symlink("opt/link", "data"),
    ]);
    std::fs::write(dir.join("ctx/extra.tar"), layer).unwrap();
    std::fs::write(
        dir.join("ctx/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nENV GREETING=hello\nCOPY tree /tree\nADD extra.tar /\nLABEL org.example.team=core\nEXPOSE 8080\nCMD [\"/hello.txt\"]\n",
    )
    .unwrap();
    let o = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(dir.join("ctx"))
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Removes a Docker tag when dropped, so a failed assertion leaves no image behind.
struct DockerTag(String);

impl Drop for DockerTag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn docker_and_strata_agree_on_sizes_history_and_config() {
    if !docker_available() {
        return;
    }
    let env = Env::new();
    let tag = format!("strata-compat-{}:v1", std::process::id());
    let _cleanup = DockerTag(tag.clone());
    build_fixture(env.dir.path(), &tag);
    let archive = env.dir.path().join("image.tar");
    docker(&["save", "-o", archive.to_str().unwrap(), &tag]);
    env.ok(&["load", "-i", archive.to_str().unwrap()]);

    // Total size: Docker's number, byte for byte.
    let docker_size = docker(&["image", "inspect", "-f", "{{.Size}}", &tag]);
    let strata_size = env.ok(&["image", "inspect", "-f", "{{.Size}}", &tag]);
    assert_eq!(strata_size.trim(), docker_size.trim());

    // History: every row, raw sizes and the full command.
    let fmt = "{{.CreatedBy}}|{{.Size}}|{{.Comment}}";
    let d = docker(&["history", "-H=false", "--no-trunc", "--format", fmt, &tag]);
    let s = env.ok(&[
        "image",
        "history",
        "-H=false",
        "--no-trunc",
        "--format",
        fmt,
        &tag,
    ]);
    assert_eq!(s, d);
    // Human history columns (sizes and truncated commands) too.
    let fmt = "{{.CreatedBy}}|{{.Size}}";
    assert_eq!(
        env.ok(&["image", "history", "--format", fmt, &tag]),
        docker(&["history", "--format", fmt, &tag])
    );

    // image ls: the same repository, tag and size (IDs differ by design: Strata's ID is
    // the manifest digest, as Docker's containerd store; ages are checked by the golden
    // tests, since a just-built image's age changes while this test runs).
    let fmt = "{{.Repository}}|{{.Tag}}|{{.Size}}|{{.CreatedAt}}";
    let repo = tag.split(':').next().unwrap();
    assert_eq!(
        env.ok(&["image", "ls", "--format", fmt, repo]),
        docker(&["image", "ls", "--format", fmt, repo])
    );

    // inspect: config, platform, diff IDs and the config digest as Id.
    for f in [
        "{{json .Config.Env}}",
        "{{json .Config.Cmd}}",
        "{{json .Config.Labels}}",
        "{{json .Config.ExposedPorts}}",
        "{{.Os}}/{{.Architecture}}",
        "{{json .RootFS.Layers}}",
        "{{.Id}}",
        "{{json .RepoTags}}",
        "{{.Created}}",
    ] {
        assert_eq!(
            env.ok(&["image", "inspect", "-f", f, &tag]),
            docker(&["image", "inspect", "-f", f, &tag]),
            "field {f}"
        );
    }
}

#[test]
fn docker_loads_what_strata_saves_with_the_same_layers() {
    if !docker_available() {
        return;
    }
    let env = Env::new();
    let tag = format!("strata-roundtrip-{}:v1", std::process::id());
    let _cleanup = DockerTag(tag.clone());
    build_fixture(env.dir.path(), &tag);
    let archive = env.dir.path().join("from-docker.tar");
    docker(&["save", "-o", archive.to_str().unwrap(), &tag]);
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    let layers = docker(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &tag]);
    let size = docker(&["image", "inspect", "-f", "{{.Size}}", &tag]);
    docker(&["rmi", "-f", &tag]);
    let ours = env.dir.path().join("from-strata.tar");
    env.ok(&["save", "-o", ours.to_str().unwrap(), &tag]);
    let out = docker(&["load", "-i", ours.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &tag]),
        layers
    );
    assert_eq!(docker(&["image", "inspect", "-f", "{{.Size}}", &tag]), size);
}
