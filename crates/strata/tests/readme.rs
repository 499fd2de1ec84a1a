//! Runs every command in the README, so that it cannot drift from the code.
//!
//! The rules (also stated at the end of the README):
//! * each ```` ```sh ```` block is a bash script (`set -e`), run in order in one scratch
//!   folder, with `strata` (the binary under test) first on the PATH and a scratch store,
//!   config folder and home;
//! * `cargo run --release --` means `strata`; the `cargo test` line is what runs this
//!   test (CI runs it through `.ci/run`) and is the only line not run;
//! * a `strata registry serve` line is started in the background on a free port (its
//!   `--addr` replaced); from then on the address it was meant to have (its `--addr`,
//!   its config's `addr`, else 127.0.0.1:5000) stands for the real one;
//! * a block whose first line is `# needs network access` runs each command, which must
//!   succeed, or fail because the network is unreachable (at the host the command names,
//!   Docker Hub's when it names none), or because that registry refused the placeholder
//!   credentials of a `login`;
//! * in ```` ```console ```` blocks each `$ ` line is run and every line shown after it
//!   must appear in its output, apart from ages, digests and other long hex strings,
//!   column padding, and pull progress lines that depend on timing.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fenced block of the README.
struct Block {
    info: String,
    lines: Vec<String>,
    line_no: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => {
                    cur = Some(Block {
                        info: rest.trim().to_string(),
                        lines: Vec::new(),
                        line_no: i + 1,
                    })
                }
            }
        } else if let Some(b) = cur.as_mut() {
            b.lines.push(line.to_string());
        }
    }
    assert!(cur.is_none(), "README has an unclosed code block");
    out
}

/// The scratch world the README's commands run in.
struct World {
    _dir: tempfile::TempDir,
    cwd: PathBuf,
    envs: Vec<(String, String)>,
    /// README address -> real address.
    addrs: Vec<(String, String)>,
    servers: Vec<Child>,
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &str| {
            let d = dir.path().join(s);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let bin = p("bin");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_strata"), bin.join("strata")).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let envs = vec![
            ("PATH".to_string(), path),
            ("STRATA_ROOT".into(), p("store").display().to_string()),
            ("STRATA_CONFIG".into(), p("config").display().to_string()),
            ("HOME".into(), p("home").display().to_string()),
            ("DOCKER_CONFIG".into(), p("docker").display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                p("xdg-config").display().to_string(),
            ),
            ("XDG_DATA_HOME".into(), p("xdg-data").display().to_string()),
            ("TZ".into(), "UTC".into()),
        ];
        World {
            cwd: p("work"),
            _dir: dir,
            envs,
            addrs: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// The README's text with its addresses replaced by the real ones.
    fn map(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.addrs {
            s = s.replace(from, to);
            if let Some(port) = from.strip_prefix("127.0.0.1:") {
                s = s.replace(&format!("localhost:{port}"), to);
            }
        }
        s
    }

    /// Output with the real addresses put back to the README's.
    fn unmap(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.addrs {
            s = s.replace(to, from);
        }
        s
    }

    fn bash(&self, script: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(script)
            .current_dir(&self.cwd)
            .env_remove("STRATA_VULNDB")
            .env_remove("DOCKER_DEFAULT_PLATFORM")
            .stdin(Stdio::null());
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    fn run(&self, script: &str) -> Output {
        self.bash(script).output().unwrap()
    }

    fn run_ok(&self, script: &str, at: usize) -> Output {
        let full = format!("set -euo pipefail\n{}", self.map(script));
        let o = self.run(&full);
        assert!(
            o.status.success(),
            "README block at line {at} failed ({}):\n{full}\n--- stdout\n{}\n--- stderr\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// Starts a `strata registry serve` line in the background on a free port.
    fn serve(&mut self, line: &str, at: usize) {
        let line = line.trim().trim_end_matches('&').trim().to_string();
        let words: Vec<&str> = line.split_whitespace().collect();
        let flag = |name: &str| {
            words
                .iter()
                .position(|w| *w == name)
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string())
        };
        let meant = match (flag("--addr"), flag("--config")) {
            (Some(a), _) => a,
            (None, Some(cfg)) => {
                let text = std::fs::read_to_string(self.cwd.join(&cfg)).unwrap();
                text.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once('=')?;
                        (k.trim() == "addr").then(|| {
                            v.split('#')
                                .next()
                                .unwrap()
                                .trim()
                                .trim_matches('"')
                                .to_string()
                        })
                    })
                    .unwrap_or_else(|| "127.0.0.1:5000".into())
            }
            (None, None) => "127.0.0.1:5000".into(),
        };
        let port = meant.rsplit(':').next().unwrap().to_string();
        let real = format!("127.0.0.1:{}", free_port());
        let cmd = match flag("--addr") {
            Some(a) => line.replacen(&format!("--addr {a}"), &format!("--addr {real}"), 1),
            None => format!("{line} --addr {real}"),
        };
        let mut child = self
            .bash(&format!("exec {}", self.map(&cmd)))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(&real).is_ok() {
                break;
            }
            if let Some(st) = child.try_wait().unwrap() {
                panic!("README line {at}: `{line}` exited ({st}) before listening");
            }
            assert!(
                Instant::now() < deadline,
                "README line {at}: `{line}` never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.servers.push(child);
        self.addrs.push((format!("127.0.0.1:{port}"), real));
    }

    fn sh_block(&mut self, b: &Block) {
        let first = b.lines.iter().find(|l| !l.trim().is_empty());
        if first.map(|l| l.trim()) == Some("# needs network access") {
            return self.network_block(b);
        }
        let mut script = String::new();
        let mut heredoc: Option<String> = None;
        for (i, raw) in b.lines.iter().enumerate() {
            let at = b.line_no + 1 + i;
            let line = raw.trim_start();
            if let Some(end) = &heredoc {
                if raw.trim() == end {
                    heredoc = None;
                }
                script.push_str(raw);
                script.push('\n');
                continue;
            }
            if let Some(rest) = line.strip_prefix("cargo run --release --") {
                script.push_str(&format!("strata{rest}\n"));
                continue;
            }
            if line.starts_with("cargo ") {
                assert!(
                    line.starts_with("cargo test"),
                    "README line {at}: a cargo command the test cannot run: {line}"
                );
                continue;
            }
            if line.starts_with("strata registry serve") {
                if !script.trim().is_empty() {
                    self.run_ok(&script, b.line_no);
                }
                script.clear();
                self.serve(line, at);
                continue;
            }
            if let Some(i) = line.find("<<'") {
                let end = line[i + 3..].split('\'').next().unwrap().to_string();
                heredoc = Some(end);
            }
            script.push_str(raw);
            script.push('\n');
        }
        if !script.trim().is_empty() {
            self.run_ok(&script, b.line_no);
        }
    }

    fn network_block(&mut self, b: &Block) {
        for (i, line) in b.lines.iter().enumerate() {
            let at = b.line_no + 1 + i;
            let cmd = line.split(" #").next().unwrap().trim();
            if cmd.is_empty() || cmd.starts_with('#') {
                continue;
            }
            let o = self.run(&format!("set -o pipefail\n{}", self.map(cmd)));
            if o.status.success() {
                continue;
            }
            let err = String::from_utf8_lossy(&o.stderr);
            let host = err
                .split("error sending request for url (")
                .nth(1)
                .and_then(|u| u.split("://").nth(1))
                .and_then(|u| u.split('/').next());
            let Some(host) = host else {
                // Reached the registry, which refused (placeholder credentials): the error
                // must come from the registry the command names.
                let named = cmd
                    .split_whitespace()
                    .filter_map(|w| w.split('/').next())
                    .any(|h| h.contains('.') && err.contains(&format!("{h} failed")));
                assert!(
                    named && o.status.code() == Some(1),
                    "README line {at}: `{cmd}` failed, not for want of a network or credentials:\n{err}"
                );
                continue;
            };
            let names_host = cmd.contains(host);
            let hub = host.ends_with("docker.io")
                && !cmd
                    .split_whitespace()
                    .skip(2)
                    .any(|w| w.split('/').next().unwrap().contains('.') && w.contains('/'));
            assert!(
                names_host || hub,
                "README line {at}: `{cmd}` went to {host}:\n{err}"
            );
        }
    }

    fn console_block(&mut self, b: &Block) {
        let mut items: Vec<(String, Vec<String>, usize)> = Vec::new();
        for (i, line) in b.lines.iter().enumerate() {
            if let Some(cmd) = line.strip_prefix("$ ") {
                items.push((cmd.to_string(), Vec::new(), b.line_no + 1 + i));
            } else if let Some(last) = items.last_mut() {
                last.1.push(line.clone());
            } else {
                panic!(
                    "README console block at line {}: output before any `$ ` line",
                    b.line_no
                );
            }
        }
        for (cmd, expected, at) in items {
            let o = self.run(&self.map(&cmd));
            let stdout = String::from_utf8_lossy(&o.stdout).to_string();
            assert!(
                o.status.success(),
                "README line {at}: `{cmd}` failed:\n{}\n{stdout}",
                String::from_utf8_lossy(&o.stderr)
            );
            let actual: Vec<String> = self.unmap(&stdout).lines().map(normalize).collect();
            let expected: Vec<String> = expected.iter().map(|l| normalize(l)).collect::<Vec<_>>();
            let expected: Vec<String> = {
                let mut e = expected;
                while e.last().is_some_and(|l| l.is_empty()) {
                    e.pop();
                }
                e
            };
            let show = || format!("README line {at}: `{cmd}` printed:\n{stdout}");
            assert_eq!(actual.first(), expected.first(), "{}", show());
            let have: HashSet<&String> = actual.iter().collect();
            for e in &expected {
                if e == "HEX: Waiting" {
                    continue;
                }
                assert!(
                    have.contains(e),
                    "README line {at}: missing {e:?}\n{}",
                    show()
                );
            }
            let count = |v: &[String], s: &str| v.iter().filter(|l| l.ends_with(s)).count();
            assert_eq!(
                count(&actual, ": Pull complete"),
                count(&expected, ": Pull complete"),
                "{}",
                show()
            );
        }
    }
}

/// Collapses whitespace, and replaces ages with AGO and hex runs of 12 or more with HEX.
fn normalize(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let units = [
        "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
        "month", "months", "year", "years",
    ];
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let is_unit = |j: usize| words.get(j).is_some_and(|u| units.contains(u));
        let is_ago = |j: usize| words.get(j) == Some(&"ago");
        if w.bytes().all(|b| b.is_ascii_digit()) && is_unit(i + 1) && is_ago(i + 2) {
            out.push("AGO".into());
            i += 3;
        } else if w == "About"
            && matches!(words.get(i + 1), Some(&"a") | Some(&"an"))
            && is_unit(i + 2)
            && is_ago(i + 3)
        {
            out.push("AGO".into());
            i += 4;
        } else if w == "Less"
            && words.get(i + 1..i + 5) == Some(&["than", "a", "second", "ago"][..])
        {
            out.push("AGO".into());
            i += 5;
        } else {
            out.push(hex_runs(w));
            i += 1;
        }
    }
    out.join(" ")
}

fn hex_runs(w: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 12 {
            out.push_str("HEX");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in w.chars() {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn readme() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let mut s = String::new();
    std::fs::File::open(&p)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn normalize_hides_ages_hex_and_padding() {
    assert_eq!(
        normalize("59b769d13dfd   17 months ago   6.95kB"),
        "HEX AGO 6.95kB"
    );
    assert_eq!(normalize("x   About an hour ago  y"), "x AGO y");
    assert_eq!(
        normalize("Digest: sha256:0b376e266ae9"),
        "Digest: sha256:HEX"
    );
    assert_eq!(normalize("abc 2024a-0+deb12u1"), "abc 2024a-0+deb12u1");
}

#[test]
fn every_readme_command_runs() {
    let text = readme();
    let bs = blocks(&text);
    // The first block holds the two commands: the main job, then the tests.
    let first = &bs[0];
    assert_eq!(first.info, "sh");
    assert!(first.lines[0].starts_with("cargo run --release -- tour "));
    assert!(first.lines[1].starts_with("cargo test --workspace "));
    // `cargo run` picks the strata binary although other members have binaries too.
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
            .unwrap();
    assert!(
        manifest
            .lines()
            .any(|l| l.replace(' ', "") == "default-members=[\"crates/strata\"]"),
        "the workspace must keep default-members = [\"crates/strata\"] for `cargo run`"
    );
    let mut world = World::new();
    let mut ran = 0;
    for b in &bs {
        match b.info.as_str() {
            "sh" => world.sh_block(b),
            "console" => world.console_block(b),
            // Not commands: file contents.
            "json" | "toml" | "text" => continue,
            other => panic!("README block at line {}: unknown kind {other:?}", b.line_no),
        }
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} blocks ran");
    // The tour cleaned up after itself, and the README's own registries answered.
    assert!(world.addrs.len() >= 2, "{:?}", world.addrs);
}
