//! Version comparators against published test vectors and against the reference programs
//! installed on this machine (`dpkg --compare-versions`, rpm's `rpm.vercmp`, Python's
//! `packaging`). A reference program that is missing is reported and skipped unless
//! `STRATA_REQUIRE_SCAN_REFS=1`, which turns its absence into a failure.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use strata_scan::version::{apk, Scheme};

fn vectors(name: &str) -> Vec<(String, Ordering, String)> {
    let path = format!("{}/tests/data/versions/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "bad vector line {line:?}");
        let op = match parts[1] {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            o => panic!("bad op {o}"),
        };
        out.push((parts[0].to_string(), op, parts[2].to_string()));
    }
    out
}

fn check_vectors(name: &str, scheme: Scheme, skip: impl Fn(&str) -> bool) -> usize {
    let mut bad = Vec::new();
    let v = vectors(name);
    let mut checked = 0;
    for (a, want, b) in &v {
        if skip(a) || skip(b) {
            continue;
        }
        checked += 1;
        let got = scheme.compare(a, b);
        if got != *want {
            bad.push(format!("{a} {want:?} {b}: got {got:?}"));
        }
        let rev = scheme.compare(b, a);
        if rev != want.reverse() {
            bad.push(format!(
                "{b} {:?} {a} (reversed): got {rev:?}",
                want.reverse()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: {} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    checked
}

#[test]
fn published_vectors_debian() {
    assert!(check_vectors("debian-versions.txt", Scheme::Dpkg, |_| false) > 10);
}

#[test]
fn published_vectors_alpine() {
    assert!(check_vectors("alpine-versions.txt", Scheme::Apk, |v| !apk::is_valid(v)) > 500);
}

#[test]
fn published_vectors_pypi() {
    assert!(check_vectors("pypi-versions.txt", Scheme::Pep440, |_| false) > 20);
}

#[test]
fn published_vectors_semver() {
    assert!(check_vectors("semver-versions.txt", Scheme::Semver, |_| false) > 50);
}

#[test]
fn published_vectors_maven() {
    assert!(check_vectors("maven-versions.txt", Scheme::Maven, |_| false) > 80);
}

#[test]
fn published_vectors_rubygems() {
    assert!(check_vectors("rubygems-versions.txt", Scheme::RubyGems, |_| false) > 20);
}

#[test]
fn published_vectors_redhat() {
    assert!(check_vectors("redhat-versions.txt", Scheme::Rpm, |_| false) > 100);
}

/// Whether a reference program can be run; otherwise says so (or fails when required).
fn have(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let msg = format!(
            "reference program `{program} {}` is not available",
            args.join(" ")
        );
        if std::env::var("STRATA_REQUIRE_SCAN_REFS").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// A deterministic pseudo-random sequence (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

/// Pairs: each version with its sorted neighbour, plus random pairs.
fn pairs(mut versions: Vec<String>, random: usize) -> Vec<(String, String)> {
    versions.sort();
    versions.dedup();
    let mut out: Vec<(String, String)> = versions
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for _ in 0..random {
        let a = &versions[rng.next() % versions.len()];
        let b = &versions[rng.next() % versions.len()];
        out.push((a.clone(), b.clone()));
    }
    for v in versions.iter().take(200) {
        out.push((v.clone(), v.clone()));
    }
    out
}

fn sh(script: &str) -> String {
    let mut child = Command::new("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn machine_deb_versions() -> Vec<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}\\n${source:Version}\\n"])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    // Versions apt knows about (every candidate in the package lists), when lists exist.
    if let Ok(o) = Command::new("apt-cache").arg("dumpavail").output() {
        let text = String::from_utf8_lossy(&o.stdout);
        let mut extra: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Version: "))
            .map(str::to_string)
            .collect();
        extra.sort();
        extra.dedup();
        let step = (extra.len() / 1500).max(1);
        v.extend(extra.into_iter().step_by(step));
    }
    v
}

#[test]
fn dpkg_matches_dpkg_compare_versions() {
    if !have("dpkg", &["--version"]) {
        return;
    }
    let mut versions = machine_deb_versions();
    assert!(
        versions.len() > 50,
        "the machine's package lists gave too few versions"
    );
    // Variants that exercise epochs, tildes and revisions around real versions.
    let base: Vec<String> = versions.iter().take(150).cloned().collect();
    for v in base {
        versions.push(format!("1:{v}"));
        versions.push(format!("{v}~rc1"));
        versions.push(format!("{v}+b1"));
        versions.push(format!("{v}~"));
    }
    let pairs = pairs(versions, 1500);
    let mut script = String::new();
    for (a, b) in &pairs {
        let (a, b) = (sh_quote(a), sh_quote(b));
        script.push_str(&format!(
            "if dpkg --compare-versions {a} lt {b}; then echo L; elif dpkg --compare-versions {a} eq {b}; then echo E; else echo G; fi\n"
        ));
    }
    let out = sh(&script);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), pairs.len());
    let mut bad = Vec::new();
    for ((a, b), r) in pairs.iter().zip(got) {
        let want = match r {
            "L" => Ordering::Less,
            "E" => Ordering::Equal,
            _ => Ordering::Greater,
        };
        if Scheme::Dpkg.compare(a, b) != want {
            bad.push(format!("{a} vs {b}: dpkg says {want:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} disagree:\n{}",
        bad.len(),
        pairs.len(),
        bad.join("\n")
    );
    eprintln!(
        "dpkg: {} pairs agree with dpkg --compare-versions",
        pairs.len()
    );
}

#[test]
fn rpm_matches_rpm_vercmp() {
    if !have("rpm", &["--eval", "%{lua: print(rpm.vercmp('1','2'))}"]) {
        return;
    }
    let mut versions: Vec<String> = machine_deb_versions().into_iter().take(600).collect();
    for v in [
        "1.0",
        "1.0~rc1",
        "1.0^git1",
        "1.0^",
        "1.0^git1~pre",
        "1:1.0",
        "2:0.9",
        "0:1.0",
        "1.0-1.el9",
        "1.0-1.el9_2",
        "1.0-10.el9",
        "3.0.7-27.el9",
        "1:3.0.7-27.el9",
        "2.0.1a",
        "5.5p1",
        "5.5p10",
        "10xyz",
        "10.1xyz",
        "xyz.4",
        "1.0aa",
        "007",
        "7",
        "1.2.3-4.fc39",
        "1.2.3-4.fc39~bootstrap",
        "4.18.0-1",
        "4.18.0",
        "1.0-",
        "1.0.",
    ] {
        versions.push(v.to_string());
    }
    let pairs = pairs(versions, 1500);
    let lua_path =
        std::env::temp_dir().join(format!("strata-rpmvercmp-{}.lua", std::process::id()));
    let mut lua = String::from("local p = {\n");
    for (a, b) in &pairs {
        lua.push_str(&format!("{{[==[{a}]==], [==[{b}]==]}},\n"));
    }
    lua.push_str("}\nfor _, x in ipairs(p) do print(rpm.vercmp(x[1], x[2]) .. \";\") end\n");
    std::fs::write(&lua_path, lua).unwrap();
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: dofile('{}')}}", lua_path.display()))
        .output()
        .unwrap();
    std::fs::remove_file(&lua_path).ok();
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got.len(), pairs.len(), "rpm printed {text}");
    let mut bad = Vec::new();
    for ((a, b), r) in pairs.iter().zip(got) {
        let want = r.trim().parse::<i32>().unwrap().cmp(&0);
        if Scheme::Rpm.compare(a, b) != want {
            bad.push(format!("{a} vs {b}: rpm says {want:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} disagree:\n{}",
        bad.len(),
        pairs.len(),
        bad.join("\n")
    );
    eprintln!("rpm: {} pairs agree with rpm.vercmp", pairs.len());
}

#[test]
fn pep440_matches_python_packaging() {
    // The first Python with `packaging` (PATH's, else the system's).
    let py = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import packaging.version"])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    let Some(py) = py else {
        // Reports the skip (or fails when the reference programs are required).
        let _ = have("python3", &["-c", "import packaging.version"]);
        return;
    };
    let mut versions = Vec::new();
    for epoch in ["", "1!"] {
        for rel in ["0", "1", "1.0", "1.0.0", "1.2", "1.10", "2.0.1", "10.0"] {
            for pre in [
                "", "a1", "b2", "rc1", ".alpha3", "-beta", "c2", "pre1", "preview",
            ] {
                for post in ["", ".post1", "-2", "post", ".rev3", "r4"] {
                    for dev in ["", ".dev1", "dev0", "-dev"] {
                        versions.push(format!("{epoch}{rel}{pre}{post}{dev}"));
                    }
                }
            }
        }
    }
    for local in ["+local.1", "+1", "+abc", "+ubuntu-1", "+1.abc", "+abc.1"] {
        versions.push(format!("1.0{local}"));
        versions.push(format!("1.0a1{local}"));
    }
    // The machine's own installed distributions.
    if let Ok(o) = Command::new(py)
        .args([
            "-c",
            "import importlib.metadata as m\nfor d in m.distributions(): print(d.version)",
        ])
        .output()
    {
        versions.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    let pairs = pairs(versions, 3000);
    let script = "import sys\nfrom packaging.version import Version, InvalidVersion\nfor line in sys.stdin:\n    a, b = line.rstrip('\\n').split('\\t')\n    try:\n        x, y = Version(a), Version(b)\n    except InvalidVersion:\n        print('X'); continue\n    print(-1 if x < y else (0 if x == y else 1))\n";
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), pairs.len());
    let mut bad = Vec::new();
    let mut checked = 0;
    for ((a, b), r) in pairs.iter().zip(got) {
        if r == "X" {
            // packaging rejects it; so must we.
            assert!(
                strata_scan::version::pep440::parse(a).is_none()
                    || strata_scan::version::pep440::parse(b).is_none(),
                "packaging rejects {a:?} or {b:?} but we parse both"
            );
            continue;
        }
        checked += 1;
        let want = r.parse::<i32>().unwrap().cmp(&0);
        if Scheme::Pep440.compare(a, b) != want {
            bad.push(format!("{a} vs {b}: packaging says {want:?}"));
        }
    }
    assert!(checked > 2000);
    assert!(
        bad.is_empty(),
        "{} of {checked} disagree:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("pep440: {checked} pairs agree with packaging");
}
