//! `strata save` / `strata load` through the real binary with a temporary store.
//!
//! Archives are made with the system's `tar` from an OCI layout written here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strata_oci::Digest;

fn strata(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.env("STRATA_ROOT", root);
    c
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn run_with_stdin(mut c: Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Writes an OCI layout for a one-layer image whose layer holds `payload` bytes, and
/// tars it to `<dir>/<name>.tar`. Returns the archive path and the manifest digest.
fn make_archive(
    dir: &Path,
    name: &str,
    image: &str,
    seed: &str,
    payload: usize,
) -> (PathBuf, Digest) {
    let work = dir.join(format!("{name}-work"));
    let files = work.join("files");
    std::fs::create_dir_all(files.join("etc")).unwrap();
    std::fs::write(files.join("etc/id"), seed).unwrap();
    // Incompressible-ish but deterministic content.
    let mut data = Vec::with_capacity(payload);
    let mut x: u64 = 0x9e3779b97f4a7c15 ^ seed.len() as u64;
    while data.len() < payload {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(payload);
    std::fs::write(files.join("payload.bin"), &data).unwrap();
    let layer_path = work.join("layer.tar");
    let st = Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-cf",
        ])
        .arg(&layer_path)
        .arg("-C")
        .arg(&files)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let layer = std::fs::read(&layer_path).unwrap();
    let layer_digest = Digest::sha256_of(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/payload.bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer.len()}]
    }))
    .unwrap();
    let manifest_digest = Digest::sha256_of(&manifest);
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for b in [&layer, &config, &manifest] {
        std::fs::write(blobs.join(Digest::sha256_of(b).hex()), b).unwrap();
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest.to_string(), "size": manifest.len(),
        "annotations": {"io.containerd.image.name": image, "org.opencontainers.image.ref.name": image.rsplit(':').next().unwrap()}
    }]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join(format!("{name}.tar"));
    // Blobs first, index.json and oci-layout last (the order Docker writes).
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .args(["blobs", "index.json", "oci-layout"])
        .status()
        .unwrap();
    assert!(st.success());
    // The same image as Docker 20.10 writes it: <id>/layer.tar, <config>.json, manifest.json.
    let legacy = work.join("legacy");
    let id_dir = legacy.join(Digest::sha256_of(format!("v1-{seed}").as_bytes()).hex());
    std::fs::create_dir_all(&id_dir).unwrap();
    std::fs::write(id_dir.join("layer.tar"), &layer).unwrap();
    std::fs::write(id_dir.join("VERSION"), b"1.0").unwrap();
    let cfg_name = format!("{}.json", Digest::sha256_of(&config).hex());
    std::fs::write(legacy.join(&cfg_name), &config).unwrap();
    let familiar = strata_oci::Reference::parse_normalized(image)
        .unwrap()
        .familiar_string();
    let legacy_manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": [familiar],
        "Layers": [format!("{}/layer.tar", id_dir.file_name().unwrap().to_string_lossy())]}]);
    std::fs::write(
        legacy.join("manifest.json"),
        serde_json::to_vec(&legacy_manifest).unwrap(),
    )
    .unwrap();
    let st = Command::new("tar")
        .arg("-cf")
        .arg(dir.join(format!("{name}-legacy.tar")))
        .arg("-C")
        .arg(&legacy)
        .arg(id_dir.file_name().unwrap())
        .args([cfg_name.as_str(), "manifest.json"])
        .status()
        .unwrap();
    assert!(st.success());
    (archive, manifest_digest)
}

#[test]
fn load_save_round_trip_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (archive, id) = make_archive(
        dir.path(),
        "a",
        "docker.io/library/busybox:latest",
        "a",
        10_000,
    );
    let out = ok(&strata(&root)
        .args(["load", "-i"])
        .arg(&archive)
        .output()
        .unwrap());
    assert_eq!(out, "Loaded image: busybox:latest\n");

    // save to a file (-o) and to a redirected stdout: the same bytes.
    let saved = dir.path().join("saved.tar");
    ok(&strata(&root)
        .args(["save", "-o"])
        .arg(&saved)
        .arg("busybox")
        .output()
        .unwrap());
    let piped = strata(&root)
        .args(["save", "busybox:latest"])
        .output()
        .unwrap();
    ok(&piped);
    assert_eq!(std::fs::read(&saved).unwrap(), piped.stdout);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("strata-tmp")));

    // Loaded from stdin into a fresh store: same ID.
    let root2 = dir.path().join("root2");
    let out = ok(&run_with_stdin(
        {
            let mut c = strata(&root2);
            c.arg("load");
            c
        },
        &piped.stdout,
    ));
    assert_eq!(out, "Loaded image: busybox:latest\n");
    let store2 = strata_store::Store::open(&root2).unwrap();
    assert_eq!(
        store2
            .meta()
            .name("docker.io/library/busybox:latest")
            .unwrap()
            .unwrap()
            .digest,
        id
    );

    // Saved by ID: the image keeps its tag (Docker drops it: moby#10592).
    let by_id = strata(&root).args(["save", id.hex()]).output().unwrap();
    ok(&by_id);
    let root3 = dir.path().join("root3");
    let out = ok(&run_with_stdin(
        {
            let mut c = strata(&root3);
            c.args(["load", "-q"]);
            c
        },
        &by_id.stdout,
    ));
    assert_eq!(out, "Loaded image: busybox:latest\n");
    assert_eq!(
        ok(&strata(&root3)
            .args([
                "image",
                "inspect",
                "-f",
                "{{.Descriptor.digest}}",
                "busybox"
            ])
            .output()
            .unwrap()),
        format!("{id}\n")
    );

    // oci-dir and oci-archive.
    let layout = dir.path().join("layout");
    ok(&strata(&root)
        .args(["save", "--format", "oci-dir", "-o"])
        .arg(&layout)
        .arg("busybox")
        .output()
        .unwrap());
    assert!(layout.join("index.json").is_file());
    let root4 = dir.path().join("root4");
    let out = ok(&strata(&root4)
        .args(["load", "-i"])
        .arg(&layout)
        .output()
        .unwrap());
    assert_eq!(out, "Loaded image: busybox:latest\n");

    // Loading another image under the same tag moves it.
    let (other, _) = make_archive(
        dir.path(),
        "b",
        "docker.io/library/busybox:latest",
        "b",
        1000,
    );
    let out = ok(&strata(&root)
        .args(["load", "-i"])
        .arg(&other)
        .output()
        .unwrap());
    assert_eq!(
        out,
        format!(
            "The image busybox:latest already exists, renaming the old one with ID {id} to empty string\nLoaded image: busybox:latest\n"
        )
    );
}

#[test]
fn load_errors_are_docker_like_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let o = run_with_stdin(
        {
            let mut c = strata(&root);
            c.arg("load");
            c
        },
        b"",
    );
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "requested load from stdin, but stdin is empty"
    );

    let bad = dir.path().join("bad.tar");
    std::fs::write(&bad, vec![7u8; 3000]).unwrap();
    let o = strata(&root)
        .args(["load", "-i"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");

    let o = strata(&root)
        .args(["save", "-o"])
        .arg(dir.path().join("x.tar"))
        .arg("nothere")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!dir.path().join("x.tar").exists());
}

#[test]
fn save_refuses_to_write_to_a_terminal() {
    // `script` gives the command a pseudo-terminal as stdout.
    if Command::new("script")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("skipping: no script(1) to provide a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "STRATA_ROOT={} {} save busybox",
        dir.path().join("root").display(),
        env!("CARGO_BIN_EXE_strata")
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success());
    assert!(
        text.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{text}"
    );
}

fn ingest_bytes(root: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(root.join("ingest")) {
        for e in rd.flatten() {
            n += std::fs::metadata(e.path().join("data"))
                .map(|m| m.len())
                .unwrap_or(0);
        }
    }
    n
}

fn killed_load_completes_on_the_next_run(legacy: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (archive, id) = make_archive(
        dir.path(),
        "big",
        "docker.io/library/big:1",
        "big",
        24 << 20,
    );
    let archive = if legacy {
        dir.path().join("big-legacy.tar")
    } else {
        archive
    };
    let bytes = std::fs::read(&archive).unwrap();
    // Feed part of the archive through stdin, wait until the layer ingest has started,
    // then kill the process while it waits for the rest.
    let mut child = strata(&root)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    while ingest_bytes(&root) < (4 << 20) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the load never started ingesting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let partial = ingest_bytes(&root);
    assert!(partial > 0, "the killed load left its partial ingest");

    let o = strata(&root)
        .args(["load", "-i"])
        .arg(&archive)
        .output()
        .unwrap();
    assert_eq!(ok(&o), "Loaded image: big:1\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Resumed an interrupted load"),
        "the partial ingest was not continued: {err}"
    );
    assert_eq!(ingest_bytes(&root), 0);
    let store = strata_store::Store::open(&root).unwrap();
    let rec = store
        .meta()
        .name("docker.io/library/big:1")
        .unwrap()
        .unwrap();
    assert_eq!(rec.digest, id);
    let resolved = store
        .resolve(
            &strata_oci::Descriptor::new(&rec.media_type, rec.digest, rec.size),
            None,
        )
        .unwrap();
    assert!(resolved.layers.iter().all(|(_, r)| r.is_some()));
}

#[test]
fn a_killed_load_of_an_oci_archive_completes_on_the_next_run() {
    killed_load_completes_on_the_next_run(false);
}

#[test]
fn a_killed_load_of_a_legacy_archive_completes_on_the_next_run() {
    killed_load_completes_on_the_next_run(true);
}

#[test]
fn load_shows_progress_on_a_terminal_unless_quiet() {
    if Command::new("script")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("skipping: no script(1) to provide a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = make_archive(
        dir.path(),
        "p",
        "docker.io/library/progress:1",
        "p",
        2 << 20,
    );
    for (quiet, root) in [(false, "r1"), (true, "r2")] {
        let cmd = format!(
            "STRATA_ROOT={} {} load {} -i {}",
            dir.path().join(root).display(),
            env!("CARGO_BIN_EXE_strata"),
            if quiet { "-q" } else { "" },
            archive.display()
        );
        let o = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{text}");
        assert!(text.contains("Loaded image: progress:1"), "{text}");
        assert_eq!(text.contains("Loading layer"), !quiet, "{text}");
    }
}
