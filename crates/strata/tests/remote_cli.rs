//! The registry commands end to end: `strata push/pull/login/logout/search/copy`,
//! `image tags`, `manifest inspect`, `image inspect --remote`, against CNCF Distribution
//! started on a free loopback port; a pull killed halfway and resumed (bytes counted by a
//! proxy); and, where a Docker engine runs, Docker and Strata pulling what the other
//! pushed.

mod common;
#[path = "../../strata-remote/tests/common/mod.rs"]
mod rc;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{layer_tar, put_image, put_index, step, Entry, Env};
use rc::{distribution, Fault, Proxy, RegAuth};

/// A store plus isolated config directories for the registry commands.
struct REnv {
    env: Env,
}

impl REnv {
    fn new() -> REnv {
        REnv { env: Env::new() }
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        let d = self.env.dir.path();
        c.env("HOME", d.join("home"))
            .env("STRATA_CONFIG", d.join("strata-config"))
            .env("DOCKER_CONFIG", d.join("docker-config"))
            .env_remove("DOCKER_DEFAULT_PLATFORM");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "strata {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "strata {args:?}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stderr).unwrap()
    }
    fn with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut ch = c.spawn().unwrap();
        ch.stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        ch.wait_with_output().unwrap()
    }
}

fn image(env: &Env, name: &str, seed: u8) -> strata_oci::Descriptor {
    let big = rc::noise(400_000, seed as u64);
    put_image(
        &env.store(),
        Some(name),
        &[
            step("ADD big", Some(rc::layer_tar(&[("big.bin", big)]))),
            step(
                "ADD small",
                Some(layer_tar(&[Entry::File("etc/hello", &[b'h', seed])])),
            ),
            step("CMD", None),
        ],
        "2024-01-02T03:04:05Z",
        "amd64",
        serde_json::json!({}),
    )
}

#[test]
fn push_pull_output_and_errors() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = REnv::new();
    let name = format!("{}/cli/app:v1", reg.host);
    let desc = image(&a.env, &name, 1);
    let out = a.ok(&["push", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{}/cli/app]", reg.host)
    );
    assert!(lines.iter().any(|l| l.ends_with(": Pushed")), "{out}");
    assert_eq!(
        *lines.last().unwrap(),
        format!("v1: digest: {} size: {}", desc.digest, desc.size)
    );
    let again = a.ok(&["push", &name]);
    assert_eq!(
        again
            .lines()
            .filter(|l| l.ends_with(": Layer already exists"))
            .count(),
        2,
        "{again}"
    );

    let b = REnv::new();
    let out = b.ok(&["pull", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from cli/app");
    assert!(
        lines.iter().any(|l| l.ends_with(": Pulling fs layer")),
        "{out}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with(": Pull complete"))
            .count(),
        2,
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Downloading ") && l.ends_with(" in 2 layers")),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no cursor movement when not a TTY");
    assert!(lines.contains(&format!("Digest: {}", desc.digest).as_str()));
    assert!(lines.contains(&format!("Status: Downloaded newer image for {name}").as_str()));
    assert_eq!(*lines.last().unwrap(), name);
    let out = b.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with(": Already exists"))
            .count(),
        2
    );
    assert_eq!(b.ok(&["pull", "-q", &name]), format!("{name}\n"));
    let json = b.ok(&["pull", "--progress", "json", &name]);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert!(v["event"].is_string());
    }
    let last: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "pulled");
    assert_eq!(last["digest"], desc.digest.to_string());
    assert_eq!(last["up_to_date"], true);
    // On a TTY (forced here) lines are redrawn in place with a progress bar.
    let t = REnv::new();
    let tty = t.ok(&["pull", "--progress", "tty", &name]);
    assert!(
        tty.contains("\x1b[") && tty.contains("Downloading [") && tty.contains("=>]"),
        "{tty:?}"
    );
    assert!(tty.contains("Pull complete"));
    let ls = b.ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(ls.lines().any(|l| l == name), "{ls}");

    // Default tag and Docker's messages.
    let repo = format!("{}/cli/app", reg.host);
    let o = b.run(&["pull", &repo]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Using default tag: latest\n"));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!(
        "manifest for {repo}:latest not found: manifest unknown: manifest unknown"
    )));
    let err = b.fails(&["pull", "-a", &name]);
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
    let err = b.fails(&["push", &format!("{}/cli/none:v9", reg.host)]);
    assert!(
        err.contains(&format!(
            "An image does not exist locally with the tag: {}/cli/none:v9",
            reg.host
        )),
        "{err}"
    );

    // -a pulls every tag.
    let v2 = format!("{}/cli/app:v2", reg.host);
    image(&a.env, &v2, 2);
    // push -a: every local tag of the repository.
    let all = a.ok(&["push", "-a", &repo]);
    assert!(
        all.contains("v1: digest: ") && all.contains("v2: digest: "),
        "{all}"
    );
    let err = a.fails(&["push", "-a", &name]);
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
    let c = REnv::new();
    let out = c.ok(&["pull", "-a", &repo]);
    assert!(
        out.contains("v1: Pulling from cli/app") && out.contains("v2: Pulling from cli/app"),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), repo);
}

#[test]
fn tags_manifest_inspect_remote_inspect_search() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = REnv::new();
    let name = format!("{}/look/app:v1", reg.host);
    let desc = image(&a.env, &name, 3);
    a.ok(&["push", &name]);
    image(&a.env, &format!("{}/look/app:v2", reg.host), 4);
    a.ok(&["push", &format!("{}/look/app:v2", reg.host)]);
    let b = REnv::new();
    assert_eq!(
        b.ok(&["image", "tags", &format!("{}/look/app", reg.host)]),
        "v1\nv2\n"
    );
    let m = b.ok(&["manifest", "inspect", &name]);
    assert!(m.starts_with("{\n\t\"schemaVersion\": 2,"), "{m}");
    let v: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 2);
    let err = b.fails(&[
        "manifest",
        "inspect",
        &format!("{}/look/app:nope", reg.host),
    ]);
    assert!(
        err.contains(&format!("no such manifest: {}/look/app:nope", reg.host)),
        "{err}"
    );
    let verbose: serde_json::Value =
        serde_json::from_str(&b.ok(&["manifest", "inspect", "-v", &name])).unwrap();
    assert_eq!(verbose["Descriptor"]["digest"], desc.digest.to_string());

    let ins: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "--remote", &name])).unwrap();
    assert_eq!(ins[0]["Architecture"], "amd64");
    assert_eq!(ins[0]["RepoTags"][0], name);
    assert_eq!(
        b.ok(&["image", "inspect", "--remote", "-f", "{{.Os}}", &name]),
        "linux\n"
    );
    // Nothing was pulled.
    assert_eq!(b.ok(&["image", "ls", "-q"]), "");

    // Distribution has no /v1/search: the catalog is searched instead.
    let s = b.ok(&["search", &format!("{}/look", reg.host)]);
    let lines: Vec<&str> = s.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("DESCRIPTION")
            && lines[0].contains("STARS")
            && lines[0].contains("OFFICIAL"),
        "{s}"
    );
    assert!(lines[1].starts_with("look/app"), "{s}");
    assert_eq!(
        b.ok(&[
            "search",
            "--format",
            "{{.Name}}",
            &format!("{}/app", reg.host)
        ]),
        "look/app\n"
    );
    let err = b.fails(&["search", "--limit", "101", "x"]);
    assert!(
        err.contains("limit 101 is outside the range of [1, 100]"),
        "{err}"
    );
    let err = b.fails(&["search", "--filter", "stars=x", "x"]);
    assert!(err.contains("invalid filter 'stars=x'"), "{err}");
}

#[test]
fn login_logout_with_htpasswd() {
    let Some(reg) = distribution(RegAuth::Htpasswd("carol", "pa55-word")) else {
        return;
    };
    let a = REnv::new();
    let name = format!("{}/priv/app:v1", reg.host);
    image(&a.env, &name, 5);
    let err = a.fails(&["push", &name]);
    assert!(err.contains("denied"), "{err}");
    let err = a.fails(&["login", &reg.host]);
    assert!(
        err.contains("Cannot perform an interactive login from a non TTY device"),
        "{err}"
    );
    let err = a.fails(&["login", "--password-stdin", &reg.host]);
    assert!(
        err.contains("Must provide --username with --password-stdin"),
        "{err}"
    );
    let o = a.with_stdin(
        &["login", "-u", "carol", "--password-stdin", &reg.host],
        "wrong-one\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        all.contains("unauthorized: incorrect username or password"),
        "{all}"
    );
    assert!(!all.contains("wrong-one"));
    let o = a.with_stdin(
        &["login", "-u", "carol", "--password-stdin", &reg.host],
        "pa55-word\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Login Succeeded\n");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("pa55-word"));
    let auth = std::fs::read_to_string(a.env.dir.path().join("strata-config/auth.json")).unwrap();
    assert!(auth.contains(&reg.host));
    a.ok(&["push", &name]);
    let b = REnv::new();
    let err = b.fails(&["pull", &name]);
    assert!(
        err.contains(&format!("pull access denied for {}/priv/app", reg.host)),
        "{err}"
    );
    assert_eq!(
        a.ok(&["logout", &reg.host]),
        format!("Removing login credentials for {}\n", reg.host)
    );
    assert_eq!(
        a.ok(&["logout", &reg.host]),
        format!("Not logged in to {}\n", reg.host)
    );
    let err = a.fails(&["pull", &name]);
    assert!(
        err.contains("pull access denied") || err.contains("unauthorized"),
        "{err}"
    );
    // Docker's config.json is read too.
    use base64::Engine;
    let enc = base64::engine::general_purpose::STANDARD.encode("carol:pa55-word");
    let dc = a.env.dir.path().join("docker-config");
    std::fs::create_dir_all(&dc).unwrap();
    std::fs::write(
        dc.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{enc}"}}}}}}"#, reg.host),
    )
    .unwrap();
    a.ok(&["pull", &name]);
}

#[test]
fn multi_platform_pull_and_tree() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = REnv::new();
    let st = a.env.store();
    let mk = |arch: &str, seed: u8| {
        put_image(
            &st,
            None,
            &[step(
                "ADD",
                Some(rc::layer_tar(&[("f", rc::noise(50_000, seed as u64))])),
            )],
            "2024-01-02T03:04:05Z",
            arch,
            serde_json::json!({}),
        )
    };
    let amd = mk("amd64", 7);
    let arm = mk("arm64", 8);
    let name = format!("{}/multi/app:v1", reg.host);
    put_index(&st, &name, &[(amd, "linux/amd64"), (arm, "linux/arm64")]);
    drop(st);
    a.ok(&["push", &name]);
    let b = REnv::new();
    b.ok(&["pull", &name]);
    b.ok(&["pull", "--platform", "linux/arm64", &name]);
    let tree = b.ok(&["image", "ls", "--tree"]);
    assert!(
        tree.contains("linux/amd64") && tree.contains("linux/arm64"),
        "{tree}"
    );
    let err = b.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{err}"
    );
}

#[test]
fn copy_between_registry_layout_and_archive() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = REnv::new();
    let name = format!("{}/copy/src:v1", reg.host);
    let desc = image(&a.env, &name, 9);
    a.ok(&["push", &name]);
    let b = REnv::new();
    let dir = b.env.dir.path().join("layout");
    let tarf = b.env.dir.path().join("img.tar");
    b.ok(&[
        "copy",
        &format!("docker://{name}"),
        &format!("oci:{}:v1", dir.display()),
    ]);
    assert!(dir.join("index.json").is_file() && dir.join("oci-layout").is_file());
    b.ok(&[
        "copy",
        &format!("oci:{}:v1", dir.display()),
        &format!("oci-archive:{}:v1", tarf.display()),
    ]);
    let back = format!("{}/copy/back:v2", reg.host);
    b.ok(&["copy", &format!("oci-archive:{}:v1", tarf.display()), &back]);
    let m: serde_json::Value =
        serde_json::from_str(&b.ok(&["manifest", "inspect", "-v", &back])).unwrap();
    assert_eq!(m["Descriptor"]["digest"], desc.digest.to_string());
    // Registry to registry.
    let other = format!("{}/copy/other:v3", reg.host);
    b.ok(&["copy", &name, &format!("docker://{other}")]);
    let m: serde_json::Value =
        serde_json::from_str(&b.ok(&["manifest", "inspect", "-v", &other])).unwrap();
    assert_eq!(m["Descriptor"]["digest"], desc.digest.to_string());
    // The local store was never touched.
    assert_eq!(b.ok(&["image", "ls", "-q"]), "");
    // Strata's layout is one skopeo reads.
    if rc::have_tool("skopeo", rc::require_peers()) {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", &format!("oci:{}:v1", dir.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn killed_pull_resumes_fetching_only_missing_bytes() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = REnv::new();
    let name = format!("{}/kill/app:v1", reg.host);
    let big = rc::noise(4_000_000, 77);
    let desc = put_image(
        &a.env.store(),
        Some(&name),
        &[step("ADD", Some(rc::layer_tar(&[("big", big)])))],
        "2024-01-02T03:04:05Z",
        "amd64",
        serde_json::json!({}),
    );
    let total = match a.env.store().read_document(&desc.digest, None).unwrap() {
        strata_oci::Document::Manifest(m) => m.layers[0].size,
        _ => unreachable!(),
    };
    a.ok(&["push", &name]);
    let proxy = Proxy::start(reg.port, Fault::Stall { after: 2_000_000 });
    let via = format!("{}/kill/app:v1", proxy.host);
    let b = REnv::new();
    let mut child = b
        .cmd(&["pull", &via])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let root = b.env.root();
    let mut n = 0;
    while rc::ingest_bytes(&root) < 1_500_000 {
        std::thread::sleep(Duration::from_millis(20));
        n += 1;
        assert!(n < 3000, "download never got going");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = rc::ingest_bytes(&root);
    proxy.set_fault(Fault::None);
    let before = proxy.bytes();
    let out = b.ok(&["pull", &via]);
    assert!(out.contains("Pull complete"), "{out}");
    let second = proxy.bytes() - before;
    let missing = total - partial;
    assert!(
        second < missing + 100_000,
        "second pull moved {second} bytes; about {missing} were missing"
    );
    assert!(
        second + 1_000_000 < total,
        "the second pull did not start over ({second} bytes)"
    );
    assert_eq!(rc::ingest_bytes(&root), 0);
}

fn docker_ok() -> bool {
    let required = std::env::var("STRATA_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let works = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(!required, "STRATA_REQUIRE_DOCKER=1 but `docker info` fails");
        eprintln!("note: no working Docker engine; skipping");
    }
    works
}

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn docker_and_strata_pull_what_the_other_pushed() {
    if !docker_ok() {
        return;
    }
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let a = REnv::new();
    // Docker builds and pushes; Strata pulls.
    let ctxdir = a.env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctxdir).unwrap();
    std::fs::write(ctxdir.join("hello.txt"), "hello from docker\n").unwrap();
    std::fs::write(
        ctxdir.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    let dname = format!("{}/interop/docker-built:v1", reg.host);
    docker(&["build", "-q", "-t", &dname, ctxdir.to_str().unwrap()]);
    docker(&["push", &dname]);
    let out = a.ok(&["pull", &dname]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {dname}")),
        "{out}"
    );
    let ins: serde_json::Value =
        serde_json::from_str(&a.ok(&["image", "inspect", &dname])).unwrap();
    assert_eq!(ins[0]["Config"]["Cmd"][0], "/hello");
    // `docker save` (legacy format) into a registry with `strata copy`.
    let saved = a.env.dir.path().join("docker-saved.tar");
    docker(&["save", "-o", saved.to_str().unwrap(), &dname]);
    let _ = Command::new("docker").args(["rmi", "-f", &dname]).output();
    let from_save = format!("{}/interop/from-docker-save:v1", reg.host);
    a.ok(&[
        "copy",
        &format!("docker-archive:{}", saved.display()),
        &from_save,
    ]);
    let b = REnv::new();
    b.ok(&["pull", &from_save]);
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", &from_save]),
        "[\"/hello\"]\n"
    );

    // Strata pushes; Docker pulls.
    let sname = format!("{}/interop/strata-pushed:v1", reg.host);
    image(&a.env, &sname, 11);
    a.ok(&["push", &sname]);
    docker(&["pull", "-q", &sname]);
    let arch = docker(&["image", "inspect", "-f", "{{.Architecture}}", &sname]);
    assert_eq!(arch.trim(), "amd64");
    let _ = Command::new("docker").args(["rmi", "-f", &sname]).output();

    // `strata copy` to a docker-archive that `docker load` reads.
    let tarf = a.env.dir.path().join("for-docker-load.tar");
    a.ok(&[
        "copy",
        &sname,
        &format!("docker-archive:{}:{sname}", tarf.display()),
    ]);
    let loaded = docker(&["load", "-i", tarf.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image: {sname}")),
        "{loaded}"
    );
    let arch = docker(&["image", "inspect", "-f", "{{.Architecture}}", &sname]);
    assert_eq!(arch.trim(), "amd64");
    let _ = Command::new("docker").args(["rmi", "-f", &sname]).output();
}

#[test]
fn search_against_strata_registry() {
    let dir = tempfile::tempdir().unwrap();
    let reg = strata_registry::EmbeddedRegistry::start(strata_registry::Config::for_tests(
        dir.path().join("reg"),
    ))
    .unwrap();
    let host = reg.url().trim_start_matches("http://").to_string();
    let a = REnv::new();
    let name = format!("{host}/tools/searchable:v1");
    let long =
        "A deliberately long description of this image,\nwhich goes on well past forty-five cells";
    put_image(
        &a.env.store(),
        Some(&name),
        &[step("ADD", Some(layer_tar(&[Entry::File("x", b"x")])))],
        "2024-01-02T03:04:05Z",
        "amd64",
        serde_json::json!({"org.opencontainers.image.description": long}),
    );
    a.ok(&["push", &name]);
    let out = a.ok(&["search", &format!("{host}/searchable")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with("tools/searchable"), "{out}");
    let flat = long.replace('\n', " ");
    let truncated: String = flat.chars().take(44).collect::<String>() + "…";
    assert!(lines[1].contains(&truncated), "{out}");
    let full = a.ok(&[
        "search",
        "--no-trunc",
        "--format",
        "{{.Description}}",
        &format!("{host}/searchable"),
    ]);
    assert_eq!(full, format!("{flat}\n"));
    let none = a.ok(&[
        "search",
        "--filter",
        "is-official=true",
        &format!("{host}/searchable"),
    ]);
    assert_eq!(none.lines().count(), 1, "only the header: {none}");
    let json = a.ok(&["search", "--format", "json", &format!("{host}/searchable")]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], "tools/searchable");
}
