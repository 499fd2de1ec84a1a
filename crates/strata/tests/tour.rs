//! `strata tour` and `strata registry serve --demo`, run as a user would: the real
//! binary, a real registry on a loopback port, a temporary store.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use common::Env;
use strata_sample::{Sample, DESCRIPTION};

/// The commands the tour prints, with the output that follows each, in order.
fn sections(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for line in out.lines() {
        let heading = line
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if let Some(cmd) = line.strip_prefix("$ ") {
            v.push((cmd.to_string(), String::new()));
            open = true;
        } else if heading || line.starts_with("Stopped the registry") {
            open = false;
        } else if let (true, Some(last)) = (open, v.last_mut()) {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    v
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// The registry storage folder the tour announced.
fn storage_of(out: &str) -> std::path::PathBuf {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("storing its data in "))
        .expect("the tour names its storage");
    std::path::PathBuf::from(line.trim_end_matches('.'))
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn tour_runs_every_step_and_leaves_nothing_behind() {
    let env = Env::new();
    let out = env.run(&["tour"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tour failed: {stderr}\n{stdout}");
    let index = Sample::build().index.digest.to_string();
    let secs = sections(&stdout);
    let cmds: Vec<String> = secs
        .iter()
        .map(|(c, _)| {
            // Drop quoted words (templates), scratch paths and the registry address.
            let unquoted: String = c.split('\'').step_by(2).collect();
            unquoted
                .split_whitespace()
                .filter(|w| !w.starts_with('/'))
                .map(|w| match w.split_once('/') {
                    Some((h, rest)) if h.starts_with("127.0.0.1:") => format!("HOST/{rest}"),
                    _ => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        cmds,
        [
            "strata search HOST/welcome",
            "strata pull HOST/welcome-to-strata",
            "strata image ls HOST/welcome-to-strata",
            "strata image ls --tree HOST/welcome-to-strata",
            "strata image history HOST/welcome-to-strata:latest",
            "strata image history --no-trunc HOST/welcome-to-strata:latest",
            "strata image inspect --format HOST/welcome-to-strata:latest",
            "strata image inspect HOST/welcome-to-strata:latest",
            "strata image sbom HOST/welcome-to-strata:latest",
            "strata vulndb import --db",
            "strata image vulns --db HOST/welcome-to-strata:latest",
            "strata image rm HOST/welcome-to-strata:latest",
        ]
        .map(String::from)
        .to_vec(),
        "{stdout}"
    );
    let out_of = |i: usize| secs[i].1.as_str();
    // search: Docker's columns, the description from the index annotation, truncated.
    assert!(out_of(0).starts_with("NAME "), "{}", out_of(0));
    assert!(out_of(0).contains(&format!("welcome-to-strata   {}…", &DESCRIPTION[..44])));
    // pull
    assert!(out_of(1)
        .starts_with("Using default tag: latest\nlatest: Pulling from welcome-to-strata\n"));
    assert!(out_of(1).contains(&format!("Digest: {index}\n")));
    assert!(out_of(1).contains("Status: Downloaded newer image for 127.0.0.1:"));
    assert_eq!(
        out_of(1).matches(": Pull complete").count(),
        4,
        "{}",
        out_of(1)
    );
    // ls: the index digest is the image ID.
    let ls: Vec<&str> = out_of(2).lines().collect();
    assert!(ls[0].starts_with("REPOSITORY "), "{}", out_of(2));
    assert!(
        ls[1].contains(&format!("latest    {}", &index[7..19])),
        "{}",
        out_of(2)
    );
    assert!(
        out_of(3).contains(&format!("└─ linux/{}", host_arch())),
        "{}",
        out_of(3)
    );
    // history: ten steps, metadata-only ones as 0B, newest first.
    let h: Vec<&str> = out_of(4).lines().collect();
    assert!(h[0].starts_with("IMAGE          CREATED "), "{}", out_of(4));
    assert_eq!(h.len(), 1 + 10 + 1, "{}", out_of(4));
    assert!(h[1].starts_with(&index[7..19]) && h[1].contains("CMD [\"python3\""));
    assert!(h[10].contains("/bin/sh -c #(nop) ADD file:"));
    assert_eq!(out_of(4).matches("   0B ").count(), 6, "{}", out_of(4));
    assert!(out_of(5).contains(&index) && out_of(5).contains("/tmp/*.deb # buildkit"));
    // inspect
    assert_eq!(out_of(6), format!("linux/{} /srv/www [\"python3\",\"-m\",\"http.server\",\"8080\",\"--directory\",\"/srv/www\"]\n\n", host_arch()));
    let inspect: serde_json::Value = serde_json::from_str(out_of(7).trim()).unwrap();
    assert_eq!(
        inspect[0]["Config"]["Labels"]["org.opencontainers.image.description"],
        DESCRIPTION
    );
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 4);
    // sbom: dpkg packages with the layer that added them.
    let sbom = out_of(8);
    assert!(sbom.starts_with("NAME "), "{sbom}");
    for line in ["libc6 ", "zlib1g ", "strata-welcome-page "] {
        assert!(
            sbom.lines()
                .any(|l| l.starts_with(line) && l.contains(" deb ")),
            "{line}: {sbom}"
        );
    }
    assert!(sbom
        .lines()
        .any(|l| l.starts_with("strata-welcome-page ") && l.contains("#1 RUN")));
    // vulns: the demonstration records match the made-up packages only.
    assert!(
        out_of(9).starts_with("Imported 2 records from "),
        "{}",
        out_of(9)
    );
    let vulns = out_of(10);
    assert!(vulns.contains("(debian 12)"), "{vulns}");
    assert!(
        vulns.lines().any(|l| l.starts_with("strata-welcome-page ")
            && l.contains("STRATA-TOUR-2025-0002")
            && l.contains("1.0.0-1")),
        "{vulns}"
    );
    for l in vulns.lines().filter(|l| l.contains("STRATA-TOUR")) {
        assert!(l.starts_with("strata-welcome"), "{l}");
    }
    // clean-up
    assert!(
        out_of(11).starts_with("Untagged: 127.0.0.1:"),
        "{}",
        out_of(11)
    );
    assert!(out_of(11).contains(&format!("Deleted: {index}")));
    assert!(
        stdout.contains("strata pull alpine"),
        "the ending names Docker Hub"
    );
    assert!(stdout.trim_end().ends_with("the tour left nothing behind."));
    assert_eq!(env.ok(&["image", "ls", "-q"]), "");
    assert!(
        common::blob_files(&env.root()).is_empty(),
        "blobs left: {:?}",
        common::blob_files(&env.root())
    );
    assert!(
        !storage_of(&stdout).exists(),
        "registry storage left behind"
    );
}

#[test]
fn tour_with_root_shows_and_uses_it() {
    let env = Env::new();
    let other = env.dir.path().join("other store");
    let out = env.run(&["--root", other.to_str().unwrap(), "tour"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let quoted = format!("$ strata --root '{}' pull 127.0.0.1:", other.display());
    assert!(stdout.contains(&quoted), "{stdout}");
    // Only the --root store was touched, and it was cleaned.
    assert!(!env.root().join("meta.db").exists());
    assert!(other.join("meta.db").exists());
    assert!(common::blob_files(&other).is_empty());
}

/// Reads lines from `child`'s stdout until one starts with `prefix`; returns all read.
fn read_until(r: &mut impl BufRead, prefix: &str) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap();
        assert!(n > 0, "output ended before {prefix:?}:\n{all}");
        all.push_str(&line);
        if line.starts_with(prefix) {
            return all;
        }
    }
}

fn spawn(env: &Env, args: &[&str]) -> Child {
    env.cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn tour_keep_leaves_the_registry_running_until_interrupted() {
    let env = Env::new();
    let mut child = spawn(&env, &["tour", "--keep"]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let text = read_until(&mut out, "Press Ctrl-C");
    assert!(
        !text.contains("$ strata image rm"),
        "--keep must not remove the image"
    );
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("The registry keeps running on "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    // The registry still serves: another store pulls from it.
    let other = Env::new();
    let pulled = other.ok(&[
        "pull",
        "--progress",
        "plain",
        &format!("{host}/welcome-to-strata"),
    ]);
    assert!(
        pulled.contains("Status: Downloaded newer image"),
        "{pulled}"
    );
    // The sample stays in the tour's store.
    let ls = env.ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(ls, format!("{host}/welcome-to-strata:latest\n"));
    kill(child.id(), "-INT");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status:?}: {rest}");
    assert!(
        rest.contains(&format!("Stopped the registry on {host}")),
        "{rest}"
    );
    assert!(!storage_of(&text).exists());
    assert!(
        std::net::TcpStream::connect(&host).is_err(),
        "registry still listening"
    );
}

#[test]
fn tour_refuses_a_non_loopback_address() {
    let env = Env::new();
    let err = env.fails(&["tour", "--addr", "0.0.0.0:0"], 1);
    assert_eq!(
        err,
        "Error: --addr 0.0.0.0:0: the tour's registry listens on a loopback address only\n"
    );
}

#[test]
fn registry_serve_demo_serves_the_sample() {
    let env = Env::new();
    let mut child = env
        .cmd(&["registry", "serve", "--demo", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let text = read_until(&mut err, "strata registry listening on ");
    let index = Sample::build().index.digest.to_string();
    assert!(
        text.contains(&format!("published welcome-to-strata:latest ({index})")),
        "{text}"
    );
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("strata registry listening on "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    // Its storage is the store root's registry folder.
    assert!(env
        .root()
        .join("registry/repositories/welcome-to-strata")
        .is_dir());
    let other = Env::new();
    let found = other.ok(&["search", &format!("{host}/welcome")]);
    assert!(found.contains("welcome-to-strata"), "{found}");
    let pulled = other.ok(&[
        "pull",
        "--progress",
        "plain",
        &format!("{host}/welcome-to-strata"),
    ]);
    assert!(pulled.contains(&format!("Digest: {index}")), "{pulled}");
    let arm = other.ok(&[
        "pull",
        "--progress",
        "plain",
        "--platform",
        "linux/arm64",
        &format!("{host}/welcome-to-strata"),
    ]);
    assert!(arm.contains(&format!("Digest: {index}")), "{arm}");
    kill(child.id(), "-TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn docker_pulls_and_searches_the_demo_registry_like_strata() {
    if !common::docker_available() {
        return;
    }
    let env = Env::new();
    let mut child = env
        .cmd(&["registry", "serve", "--demo", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let text = read_until(&mut err, "strata registry listening on ");
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("strata registry listening on "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    });
    let image = format!("{host}/welcome-to-strata");
    // search: the same table, byte for byte.
    let theirs = common::docker(&["search", &format!("{host}/welcome")]);
    let ours = env.ok(&["search", &format!("{host}/welcome")]);
    assert_eq!(ours, theirs);
    // pull: Docker accepts the sample, and history and size agree with Strata's.
    common::docker(&["pull", "-q", &image]);
    env.ok(&["pull", "-q", &image]);
    let fmt = "{{.CreatedBy}}|{{.Size}}|{{.Comment}}";
    let theirs = common::docker(&["history", "--no-trunc", "--format", fmt, &image]);
    let ours = env.ok(&["image", "history", "--no-trunc", "--format", fmt, &image]);
    let size_fmt = "{{.Size}}";
    let their_size = common::docker(&["image", "ls", "--format", size_fmt, &image]);
    let our_size = env.ok(&["image", "ls", "--format", size_fmt, &image]);
    let labels = "{{json .Config.Labels}}";
    let their_labels = common::docker(&["image", "inspect", "--format", labels, &image]);
    let our_labels = env.ok(&["image", "inspect", "--format", labels, &image]);
    common::docker(&["rmi", &image]);
    kill(child.id(), "-TERM");
    assert!(child.wait().unwrap().success());
    assert_eq!(ours, theirs);
    assert_eq!(our_size, their_size);
    assert_eq!(our_labels, their_labels);
}

#[test]
fn interrupted_tour_stops_and_cleans_up() {
    let env = Env::new();
    let mut child = spawn(&env, &["tour"]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let text = read_until(&mut out, "$ strata pull ");
    // Interrupt the tour itself while (or just after) the pull runs: it finishes the
    // step in hand, then stops, removes what it pulled and deletes its storage.
    kill(child.id(), "-INT");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("The tour was interrupted."), "{rest}");
    assert!(!rest.contains("$ strata image ls"), "{rest}");
    assert!(rest.contains("Stopped the registry and deleted its storage."));
    assert!(!storage_of(&text).exists());
    assert_eq!(env.ok(&["image", "ls", "-q"]), "");
}
