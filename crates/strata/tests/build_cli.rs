//! `strata build`: RUN layers (content, whiteouts), Docker's failure message and exit
//! code with the store left as it was, the build cache (` ---> Using cache`,
//! `--no-cache`), the classic builder's config and history, COPY/ADD (.dockerignore,
//! `--chown`, archives, `--from`), multi-stage builds, and an image built by the Docker
//! engine (DOCKER_BUILDKIT=0) from the same Dockerfile compared field by field and file
//! by file. RUN tests copy `busybox-static` into a FROM-scratch base image.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;
use strata_oci::Descriptor;

const BUSYBOX: &str = "/bin/busybox";

/// Whether the statically linked busybox is there (mandatory with STRATA_REQUIRE_PEERS).
fn busybox() -> bool {
    let ok = Path::new(BUSYBOX).is_file();
    if !ok {
        assert!(
            std::env::var_os("STRATA_REQUIRE_PEERS").is_none(),
            "busybox-static is required (STRATA_REQUIRE_PEERS is set) but {BUSYBOX} is missing"
        );
        eprintln!("skipped: {BUSYBOX} (busybox-static) is not installed");
    }
    ok
}

/// A fresh environment whose store holds `base:1` (see [`put_base`]); None (the test
/// skips) where busybox-static is missing.
fn env_with_base() -> Option<Env> {
    if !busybox() {
        return None;
    }
    let env = Env::new();
    put_base(&env);
    Some(env)
}

/// A tar with busybox at /bin/busybox, the applets the tests use as symlinks, /etc/x,
/// /etc/passwd and /etc/group.
fn base_layer() -> Vec<u8> {
    let bb = std::fs::read(BUSYBOX).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        match link {
            Some(l) => b.append_link(&mut h, path, l).unwrap(),
            None => b.append_data(&mut h, path, data).unwrap(),
        }
    };
    add("bin/", tar::EntryType::Directory, 0o755, &[], None);
    add("bin/busybox", tar::EntryType::Regular, 0o755, &bb, None);
    for applet in ["sh", "echo", "rm", "cat", "mkdir", "id", "ls", "touch"] {
        add(
            &format!("bin/{applet}"),
            tar::EntryType::Symlink,
            0o777,
            &[],
            Some("busybox"),
        );
    }
    add("etc/", tar::EntryType::Directory, 0o755, &[], None);
    add("etc/x", tar::EntryType::Regular, 0o644, b"x\n", None);
    add(
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        None,
    );
    add(
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        b"root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        None,
    );
    b.into_inner().unwrap()
}

/// Writes the busybox base image as `base:1`.
fn put_base(env: &Env) {
    put_image(
        &env.store(),
        Some("base:1"),
        &[step(
            "/bin/sh -c #(nop) ADD file:busybox in / ",
            Some(base_layer()),
        )],
        &ago(3600),
        strata_oci::Platform::host().architecture.as_str(),
        serde_json::json!(null),
    );
}

/// A build context with `files` and a Dockerfile.
fn context(env: &Env, dockerfile: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let ctx = env.dir.path().join(format!("ctx-{}", rand_suffix()));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    for (p, data) in files {
        let path = ctx.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    ctx
}

fn rand_suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn build(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    env.ok(&args)
}

fn resolve(env: &Env, name: &str) -> strata_store::ResolvedImage {
    let store = env.store();
    let full = strata_oci::Reference::parse_with_default_tag(name)
        .unwrap()
        .to_string();
    let rec = store.meta().name(&full).unwrap().expect("image is named");
    let d = Descriptor::new(&rec.media_type, rec.digest.clone(), rec.size);
    store.resolve(&d, None).unwrap()
}

/// One entry of a layer: type, mode, owner, content or link target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    data: Vec<u8>,
}

/// The entries of a layer blob by path (no trailing `/`).
fn layer_items(env: &Env, digest: &strata_oci::Digest) -> BTreeMap<String, Item> {
    let f = env.store().open_blob(digest).unwrap();
    let (_, r) = strata_store::compress::decompress(f).unwrap();
    let mut a = tar::Archive::new(r);
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .trim_start_matches("./")
            .to_string();
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'f',
        };
        let mut data = Vec::new();
        if kind == 'l' || kind == 'h' {
            data = e.link_name_bytes().map(|l| l.to_vec()).unwrap_or_default();
        } else {
            e.read_to_end(&mut data).unwrap();
        }
        out.insert(
            path,
            Item {
                kind,
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                data,
            },
        );
    }
    out
}

fn history(img: &strata_store::ResolvedImage) -> Vec<(String, bool)> {
    let v: Value = serde_json::from_slice(&img.config_raw).unwrap();
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap_or("").to_string(),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn exec_config(img: &strata_store::ResolvedImage) -> Value {
    let v: Value = serde_json::from_slice(&img.config_raw).unwrap();
    v["config"].clone()
}

#[test]
fn run_makes_a_layer_with_the_changes_and_whiteouts() {
    let Some(env) = env_with_base() else {
        return;
    };
    let ctx = context(
        &env,
        "FROM base:1\nRUN echo hi > /greeting && rm /etc/x && mkdir -p /made && echo $HOME > /made/home\n",
        &[],
    );
    let out = build(&env, &ctx, &["-t", "ran:1"]);
    assert!(out.contains("Step 2/2 : RUN echo hi > /greeting"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Successfully tagged ran:1"), "{out}");
    let img = resolve(&env, "ran:1");
    assert_eq!(img.manifest.layers.len(), 2);
    let items = layer_items(&env, &img.manifest.layers[1].digest);
    let paths: Vec<&str> = items.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        vec!["etc", "etc/.wh.x", "greeting", "made", "made/home"],
        "the layer holds the changes only (no /proc, /dev mount points)"
    );
    assert_eq!(items["greeting"].data, b"hi\n");
    assert_eq!(items["greeting"].kind, 'f');
    assert_eq!(items["made/home"].data, b"/root\n");
    assert_eq!(items["made"].kind, 'd');
    let h = history(&img);
    assert_eq!(
        h.last().unwrap(),
        &(
            "/bin/sh -c echo hi > /greeting && rm /etc/x && mkdir -p /made && echo $HOME > /made/home".to_string(),
            false
        )
    );
    // The same layer bytes from a rebuild without the cache: reproducible.
    let again = build(&env, &ctx, &["--no-cache", "-t", "ran:2"]);
    assert!(!again.contains("Using cache"), "{again}");
    let img2 = resolve(&env, "ran:2");
    assert_eq!(
        layer_items(&env, &img2.manifest.layers[1].digest)
            .keys()
            .collect::<Vec<_>>(),
        items.keys().collect::<Vec<_>>()
    );
}

#[test]
fn run_sees_env_args_workdir_and_user() {
    let Some(env) = env_with_base() else {
        return;
    };
    let ctx = context(
        &env,
        "FROM base:1\nARG WHO=default\nENV GREETING=hello\nWORKDIR /home/app\nUSER app\nRUN echo \"$GREETING $WHO $(pwd) $(id -u):$(id -g) $(id -G)\"\nUSER root\nRUN [\"/bin/touch\", \"out\"]\n",
        &[],
    );
    let out = build(
        &env,
        &ctx,
        &[
            "--build-arg",
            "WHO=args",
            "--build-arg",
            "UNUSED=1",
            "-t",
            "envs:1",
        ],
    );
    assert!(
        out.contains("hello args /home/app 1000:1000 1000 2000"),
        "{out}"
    );
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{out}"
    );
    let img = resolve(&env, "envs:1");
    let h = history(&img);
    let run = h
        .iter()
        .find(|(c, _)| c.contains("echo \"$GREETING"))
        .unwrap();
    assert!(run.0.starts_with("|1 WHO=args /bin/sh -c echo"), "{run:?}");
    let items = layer_items(&env, &img.manifest.layers.last().unwrap().digest);
    assert_eq!(
        items.keys().collect::<Vec<_>>(),
        vec!["home", "home/app", "home/app/out"],
        "exec form, in the working directory"
    );
}

#[test]
fn a_failing_run_reports_dockers_message_and_leaves_the_store_unchanged() {
    let Some(env) = env_with_base() else {
        return;
    };
    let store = env.store();
    let blobs_before = blob_files(&env.root());
    let names_before: Vec<String> = store
        .meta()
        .names()
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    let ctx = context(
        &env,
        "FROM base:1\nCOPY f /f\nRUN echo partial > /p\nRUN exit 3\n",
        &[("f", b"file")],
    );
    let o = env.run(&["build", "-t", "fails:1", ctx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.trim_end().lines().last().unwrap(),
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    );
    assert_eq!(blob_files(&env.root()), blobs_before, "no blob was added");
    let names_after: Vec<String> = store
        .meta()
        .names()
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names_after, names_before);
    assert!(
        !env.root().join("build-cache").exists(),
        "no cache record for a failed build"
    );
    let tmp: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "scratch trees removed: {tmp:?}");
}

#[test]
fn rebuilds_use_the_cache_and_no_cache_does_not() {
    let Some(env) = env_with_base() else {
        return;
    };
    let df = "FROM base:1\nENV A=1\nCOPY f /f\nRUN cat /f > /copy\nCMD [\"/bin/sh\"]\n";
    let ctx = context(&env, df, &[("f", b"one")]);
    let first = build(&env, &ctx, &["-t", "cached:1"]);
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = resolve(&env, "cached:1").id().clone();
    let second = build(&env, &ctx, &["-t", "cached:2"]);
    assert_eq!(second.matches(" ---> Using cache").count(), 4, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(
        resolve(&env, "cached:2").id(),
        &id1,
        "a fully cached build is the same image"
    );
    // A changed file invalidates its COPY and everything after it.
    std::fs::write(ctx.join("f"), "two").unwrap();
    let third = build(&env, &ctx, &["-t", "cached:3"]);
    assert_eq!(third.matches(" ---> Using cache").count(), 1, "{third}");
    let img3 = resolve(&env, "cached:3");
    let items = layer_items(&env, &img3.manifest.layers[2].digest);
    assert_eq!(items["copy"].data, b"two");
    // --no-cache runs everything again.
    let fourth = build(&env, &ctx, &["--no-cache", "-t", "cached:4"]);
    assert!(!fourth.contains("Using cache"), "{fourth}");
    assert!(fourth.contains("Running in"), "{fourth}");
    let img4 = resolve(&env, "cached:4");
    assert_ne!(img4.id(), img3.id(), "new history times");
    assert_eq!(
        img4.config.rootfs.diff_ids[..2],
        img3.config.rootfs.diff_ids[..2],
        "the same COPY layer (reproducible diffs)"
    );
    // With SOURCE_DATE_EPOCH, two uncached builds are the same image, byte for byte.
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let o = env
                .cmd(&["build", "--no-cache", "-q", ctx.to_str().unwrap()])
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).unwrap()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    // `builder prune`: nothing dangling while every cached layer is in the store; -a
    // removes every record, after which the same build runs every step again.
    let out = env.ok(&["builder", "prune", "-f"]);
    assert_eq!(out.trim(), "Total reclaimed space: 0B", "{out}");
    let out = env.ok(&["builder", "prune", "-a", "-f"]);
    assert!(
        out.starts_with("Total reclaimed space: ") && !out.contains(" 0B"),
        "{out}"
    );
    let again = build(&env, &ctx, &["-t", "cached:5"]);
    assert!(!again.contains("Using cache"), "{again}");
}

#[test]
fn config_and_history_are_the_classic_builders() {
    let env = Env::new();
    let df = "# syntax comment\nFROM scratch\nARG V=1\nENV A=b C=\"d e\"\nLABEL l1=v1 \"l 2\"=\"v 2\"\nCOPY x /etc/x\nCOPY d /dst/\nWORKDIR /work\nWORKDIR /work\nUSER 0\nEXPOSE 80 443/udp\nVOLUME /data /v2\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/busybox\", \"sh\", \"-c\"]\nHEALTHCHECK --interval=5s CMD [\"/bin/busybox\",\"true\"]\nONBUILD RUN echo onbuild\nENTRYPOINT [\"/bin/busybox\"]\nCMD echo $A\nMAINTAINER someone\n";
    let ctx = context(
        &env,
        df,
        &[("x", b"x\n"), ("d/a", b"a\n"), ("d/sub/b", b"b\n")],
    );
    let out = build(&env, &ctx, &["-t", "meta:1", "--label", "from.cli=yes"]);
    assert!(out.contains("Step 1/19 : FROM scratch\n ---> \n"), "{out}");
    assert!(
        out.contains("Step 19/19 : LABEL \"from.cli\"='yes'"),
        "{out}"
    );
    let img = resolve(&env, "meta:1");
    let h: Vec<(String, bool)> = history(&img)
        .into_iter()
        .map(|(c, e)| (normalize_hashes(&c), e))
        .collect();
    let want: Vec<(&str, bool)> = vec![
        ("/bin/sh -c #(nop)  ARG V=1", true),
        ("/bin/sh -c #(nop)  ENV A=b C=d e", true),
        ("/bin/sh -c #(nop)  LABEL l1=v1 l 2=v 2", true),
        ("/bin/sh -c #(nop) COPY file:<hash> in /etc/x ", false),
        ("/bin/sh -c #(nop) COPY dir:<hash> in /dst/ ", false),
        ("/bin/sh -c #(nop) WORKDIR /work", false),
        ("/bin/sh -c #(nop) WORKDIR /work", true),
        ("/bin/sh -c #(nop)  USER 0", true),
        ("/bin/sh -c #(nop)  EXPOSE 443/udp 80", true),
        ("/bin/sh -c #(nop)  VOLUME [/data /v2]", true),
        ("/bin/sh -c #(nop)  STOPSIGNAL SIGTERM", true),
        ("/bin/busybox sh -c #(nop)  SHELL [/bin/busybox sh -c]", true),
        (
            "/bin/busybox sh -c #(nop)  HEALTHCHECK &{[\"CMD\" \"/bin/busybox\" \"true\"] \"5s\" \"0s\" \"0s\" '\\x00'}",
            true,
        ),
        ("/bin/busybox sh -c #(nop)  ONBUILD RUN echo onbuild", true),
        ("/bin/busybox sh -c #(nop)  ENTRYPOINT [\"/bin/busybox\"]", true),
        (
            "/bin/busybox sh -c #(nop)  CMD [\"/bin/busybox\" \"sh\" \"-c\" \"echo $A\"]",
            true,
        ),
        ("/bin/busybox sh -c #(nop)  MAINTAINER someone", true),
        ("/bin/busybox sh -c #(nop)  LABEL from.cli=yes", true),
    ];
    let want: Vec<(String, bool)> = want.into_iter().map(|(c, e)| (c.to_string(), e)).collect();
    assert_eq!(h, want);
    let c = exec_config(&img);
    let want = serde_json::json!({
        "Hostname": "", "Domainname": "", "User": "0",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "ExposedPorts": {"443/udp": {}, "80/tcp": {}},
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=b", "C=d e"],
        "Cmd": ["/bin/busybox", "sh", "-c", "echo $A"],
        "Healthcheck": {"Test": ["CMD", "/bin/busybox", "true"], "Interval": 5000000000u64},
        "Image": "",
        "Volumes": {"/data": {}, "/v2": {}},
        "WorkingDir": "/work",
        "Entrypoint": ["/bin/busybox"],
        "OnBuild": ["RUN echo onbuild"],
        "Labels": {"from.cli": "yes", "l 2": "v 2", "l1": "v1"},
        "StopSignal": "SIGTERM",
        "Shell": ["/bin/busybox", "sh", "-c"],
    });
    assert_eq!(c, want);
    let v: Value = serde_json::from_slice(&img.config_raw).unwrap();
    assert_eq!(v["author"], "someone");
    // Layers: the COPYs and the WORKDIR that made a directory.
    let l: Vec<Vec<String>> = img
        .manifest
        .layers
        .iter()
        .map(|d| layer_items(&env, &d.digest).into_keys().collect())
        .collect();
    assert_eq!(
        l,
        vec![
            vec!["etc".to_string(), "etc/x".into()],
            vec![
                "dst".to_string(),
                "dst/a".into(),
                "dst/sub".into(),
                "dst/sub/b".into()
            ],
            vec!["work".to_string()],
        ]
    );
    // `strata image history` shows it as Docker does.
    let hist = env.ok(&[
        "image",
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "meta:1",
    ]);
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(lines.len(), 18);
    assert_eq!(lines[0], "/bin/busybox sh -c #(nop)  LABEL from.cli=yes|0B");
    assert!(
        lines[16].starts_with("/bin/sh -c #(nop)  ENV A=b C=d e|0B"),
        "{hist}"
    );
    assert!(
        lines[13].starts_with("/bin/sh -c #(nop) COPY dir:") && lines[13].ends_with("|4B"),
        "{hist}"
    );
}

/// `file:<64 hex>` → `file:<hash>` (and `dir:`, `multi:`): the content hashes are
/// Strata's own, not Docker's tarsum.
fn normalize_hashes(s: &str) -> String {
    let mut out = s.to_string();
    for prefix in ["file:", "dir:", "multi:"] {
        while let Some(i) = out.find(prefix) {
            let start = i + prefix.len();
            let end = start + 64;
            if out.len() >= end && out[start..end].chars().all(|c| c.is_ascii_hexdigit()) {
                out.replace_range(start..end, "<hash>");
            } else {
                break;
            }
        }
    }
    out
}

#[test]
fn copy_add_dockerignore_chown_and_archives() {
    let env = Env::new();
    let mut tgz = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tgz, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(5);
        h.set_uid(7);
        h.set_gid(8);
        b.append_data(&mut h, "inner/file", &b"inner"[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    let ctx = context(
        &env,
        "FROM scratch\nCOPY --chown=5:6 a.txt b.txt /two/\nCOPY *.md /docs/\nADD pack.tgz /opt/\nADD a.txt /plain\nCOPY --chmod=700 d /dd\nWORKDIR /w\nCOPY a.txt rel\n",
        &[
            ("a.txt", b"a"),
            ("b.txt", b"b"),
            ("x.md", b"x"),
            ("secret.md", b"s"),
            ("pack.tgz", &tgz),
            ("d/keep", b"k"),
            ("d/skip.log", b"no"),
            (".dockerignore", b"secret.md\n**/*.log\n"),
        ],
    );
    build(&env, &ctx, &["-t", "copies:1"]);
    let img = resolve(&env, "copies:1");
    let layers: Vec<BTreeMap<String, Item>> = img
        .manifest
        .layers
        .iter()
        .map(|d| layer_items(&env, &d.digest))
        .collect();
    assert_eq!(layers.len(), 7);
    let two = &layers[0];
    assert_eq!((two["two/a.txt"].uid, two["two/a.txt"].gid), (5, 6));
    assert_eq!(two["two/b.txt"].data, b"b");
    assert_eq!(
        layers[1].keys().collect::<Vec<_>>(),
        vec!["docs", "docs/x.md"],
        "secret.md is ignored"
    );
    let opt = &layers[2];
    assert_eq!(
        opt["opt/inner/file"].data, b"inner",
        "a local tar is extracted"
    );
    assert_eq!(
        (opt["opt/inner/file"].uid, opt["opt/inner/file"].mode),
        (7, 0o600)
    );
    assert_eq!(
        layers[3]["plain"].data, b"a",
        "a plain file is copied as is"
    );
    assert_eq!(layers[4].keys().collect::<Vec<_>>(), vec!["dd", "dd/keep"]);
    assert_eq!(layers[4]["dd/keep"].mode, 0o700);
    assert_eq!(
        layers[6].keys().collect::<Vec<_>>(),
        vec!["w", "w/rel"],
        "relative to WORKDIR"
    );

    // Errors, with Docker's wording, exit 1.
    let bad = |df: &str| {
        let c = context(&env, df, &[("secret.md", b"s"), ("a", b"a"), ("b", b"b")]);
        std::fs::write(c.join(".dockerignore"), "secret.md\n").unwrap();
        let e = env.fails(&["build", c.to_str().unwrap()], 1);
        e.trim_end().lines().last().unwrap_or("").to_string()
    };
    assert_eq!(
        bad("FROM scratch\nCOPY nope /x\n"),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist"
    );
    assert_eq!(
        bad("FROM scratch\nCOPY secret.md /x\n"),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat secret.md: file does not exist"
    );
    assert_eq!(
        bad("FROM scratch\nCOPY a b /x\n"),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert!(bad("FROM scratch\nADD http://example.invalid/x /x\n")
        .starts_with("ADD failed: remote sources are not supported"));
    assert_eq!(
        bad("FROM scratch\nfoo bar\n"),
        "Error: dockerfile parse error line 2: unknown instruction: FOO"
    );
    assert_eq!(
        bad("FROM scratch\nENV\n"),
        "Error: dockerfile parse error line 2: ENV requires at least one argument"
    );
    assert_eq!(
        bad("FROM scratch\nCOPY --link a /a\n"),
        "Unknown flag: link"
    );
    assert!(bad("FROM nosuch:1\n").starts_with("No such image: nosuch:1"));
    let other = if strata_oci::Platform::host().architecture == "arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let c = context(&env, "FROM scratch\n", &[]);
    let e = env.fails(&["build", "--platform", other, c.to_str().unwrap()], 1);
    assert!(
        e.contains("can only build for this machine's platform"),
        "{e}"
    );
}

#[test]
fn quiet_iidfile_multistage_and_from_image() {
    let Some(env) = env_with_base() else {
        return;
    };
    let ctx = context(
        &env,
        "ARG BASE=base:1\nFROM ${BASE} AS builder\nRUN echo built > /artifact\nFROM scratch\nCOPY --from=builder /artifact /out/artifact\nCOPY --from=base:1 /etc/passwd /passwd\nCOPY --from=0 /bin/busybox /bb\n",
        &[],
    );
    let iid = env.dir.path().join("iid");
    let out = build(
        &env,
        &ctx,
        &["-q", "--iidfile", iid.to_str().unwrap(), "-t", "multi:1"],
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(out, format!("{id}\n"), "-q prints only the ID");
    let img = resolve(&env, "multi:1");
    assert_eq!(img.id().to_string(), id);
    assert_eq!(img.manifest.layers.len(), 3, "only the last stage's layers");
    let l0 = layer_items(&env, &img.manifest.layers[0].digest);
    assert_eq!(l0["out/artifact"].data, b"built\n");
    let l1 = layer_items(&env, &img.manifest.layers[1].digest);
    assert!(l1["passwd"].data.starts_with(b"root:x:0:0"));
    let l2 = layer_items(&env, &img.manifest.layers[2].digest);
    assert_eq!(
        l2["bb"].data.len() as u64,
        std::fs::metadata(BUSYBOX).unwrap().len()
    );
    // The built image can be a base: its snapshot is already in the layer cache.
    let ctx2 = context(&env, "FROM multi:1\nCOPY --from=base:1 /bin/busybox /bin/sh\nRUN [\"/bin/sh\", \"-c\", \"while read l; do echo $l; done < /out/artifact > /again\"]\n", &[]);
    build(&env, &ctx2, &["-t", "multi:2"]);
    let img2 = resolve(&env, "multi:2");
    let last = layer_items(&env, &img2.manifest.layers.last().unwrap().digest);
    assert_eq!(last["again"].data, b"built\n");
}

/// Builds the same Dockerfile with the Docker engine's classic builder and with Strata,
/// then compares config, history, layer count and every layer's files.
#[test]
fn strata_build_matches_the_docker_classic_builder() {
    if !docker_available() || !busybox() {
        return;
    }
    let env = Env::new();
    let links = layer_tar(&[
        Entry::Dir("bin/"),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::Symlink("bin/rm", "busybox"),
        Entry::Symlink("bin/mkdir", "busybox"),
    ]);
    let bb = std::fs::read(BUSYBOX).unwrap();
    let df = "FROM scratch\nARG V=1\nENV A=b C=\"d e\"\nLABEL l1=v1 \"l 2\"=\"v 2\"\nCOPY busybox /bin/busybox\nADD links.tar /\nCOPY --chown=1:2 x /etc/x\nCOPY d /dst/\nWORKDIR /work\nWORKDIR sub\nUSER 0\nEXPOSE 80 443/udp\nVOLUME /data /v2\nSTOPSIGNAL SIGTERM\nRUN echo hi > /greeting && rm /etc/x && mkdir -p /made/deep && echo $V > /made/v\nSHELL [\"/bin/busybox\", \"sh\", \"-c\"]\nHEALTHCHECK --interval=5s --retries=3 CMD [\"/bin/busybox\",\"true\"]\nONBUILD RUN echo onbuild\nENTRYPOINT [\"/bin/busybox\"]\nCMD echo $A\n";
    let ctx = context(
        &env,
        df,
        &[
            ("busybox", &bb),
            ("links.tar", &links),
            ("x", b"x\n"),
            ("d/a", b"a\n"),
            ("d/sub/b", b"b\n"),
        ],
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ctx.join("busybox"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let tag = format!("strata-build-compat-{}:v1", std::process::id());
    let _cleanup = DockerTag(tag.clone());
    let o = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let archive = env.dir.path().join("docker.tar");
    let o = Command::new("docker")
        .args(["save", "-o", archive.to_str().unwrap(), &tag])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker save: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    build(&env, &ctx, &["-t", "ours:1"]);
    let theirs = resolve(&env, &tag);
    let ours = resolve(&env, "ours:1");

    let strip = |mut c: Value| {
        c.as_object_mut().unwrap().remove("Image");
        c
    };
    assert_eq!(
        strip(exec_config(&ours)),
        strip(exec_config(&theirs)),
        "config"
    );
    let norm = |img: &strata_store::ResolvedImage| -> Vec<(String, bool)> {
        history(img)
            .into_iter()
            .map(|(c, e)| (normalize_hashes(&c), e))
            .collect()
    };
    assert_eq!(norm(&ours), norm(&theirs), "history");
    assert_eq!(ours.config.os, theirs.config.os);
    assert_eq!(ours.config.architecture, theirs.config.architecture);
    assert_eq!(
        ours.manifest.layers.len(),
        theirs.manifest.layers.len(),
        "layer count"
    );
    for (i, (a, b)) in ours
        .manifest
        .layers
        .iter()
        .zip(&theirs.manifest.layers)
        .enumerate()
    {
        let (a, b) = (layer_items(&env, &a.digest), layer_items(&env, &b.digest));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "paths of layer {i}"
        );
        for (p, item) in &a {
            let other = &b[p];
            if p.rsplit('/').next().is_some_and(|n| n.starts_with(".wh.")) {
                assert_eq!(item.data, other.data, "whiteout {p}");
                continue;
            }
            assert_eq!(item, other, "layer {i} entry {p}");
        }
    }
}

/// Removes a Docker tag when dropped.
struct DockerTag(String);

impl Drop for DockerTag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// RUN without root: as an unprivileged user (uid 65534, via `setpriv`) the build enters
/// a user namespace where that user is root. Where the kernel refuses unprivileged user
/// namespaces, the build must end with the one-line explanation instead.
#[test]
fn run_works_unprivileged_or_says_why_not() {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if !root || !busybox() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root (to drop to another user) and setpriv");
        return;
    }
    let env = Env::new();
    put_base(&env);
    let ctx = context(
        &env,
        "FROM base:1\nRUN echo unprivileged > /who && id -u >> /who\n",
        &[],
    );
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(env.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let o = Command::new("/usr/bin/setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_strata"))
        .args(["build", "-t", "unpriv:1"])
        .arg(&ctx)
        .env("STRATA_ROOT", env.root())
        .env("HOME", env.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        let img = resolve(&env, "unpriv:1");
        let items = layer_items(&env, &img.manifest.layers[1].digest);
        assert_eq!(
            items["who"].data, b"unprivileged\n0\n",
            "root inside the namespace"
        );
    } else {
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.trim_end().lines().last().unwrap_or("").starts_with(
                "RUN needs Linux user, mount and pid namespaces, which are not available here"
            ),
            "{err}"
        );
    }
}

#[test]
fn variables_are_substituted_where_docker_substitutes_them() {
    let env = Env::new();
    put_image(
        &env.store(),
        Some("plain:1"),
        &[step(
            "/bin/sh -c #(nop) ADD file:x in / ",
            Some(layer_tar(&[
                Entry::Dir("etc/"),
                Entry::File("etc/os", b"plain\n"),
            ])),
        )],
        &ago(60),
        strata_oci::Platform::host().architecture.as_str(),
        serde_json::json!({"base": "yes"}),
    );
    let df = "# escape=`\nARG TAG=1\nFROM plain:${TAG}\nARG D=dst\nENV E=${D:-x} F=${NOPE:-def} G=${D:+alt} H=${NOPE:+alt} `\n    Q=\"a $D\" S='$D'\nWORKDIR /$D\nCOPY a ${F}/\nLABEL l=$E\nEXPOSE ${PORT:-8080}\nUSER ${NOPE:-1000}\nENTRYPOINT [\"/bin/app\"]\nHEALTHCHECK NONE\n";
    let ctx = context(&env, df, &[("a", b"a")]);
    let out = env.ok(&["image", "build", "-t", "vars:1", ctx.to_str().unwrap()]);
    assert!(out.contains("Step 2/11 : FROM plain:${TAG}"), "{out}");
    let img = resolve(&env, "vars:1");
    let c = exec_config(&img);
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "E=dst",
            "F=def",
            "G=alt",
            "H=",
            "Q=a dst",
            "S=$D"
        ])
    );
    assert_eq!(c["WorkingDir"], "/dst");
    assert_eq!(c["Labels"], serde_json::json!({"base": "yes", "l": "dst"}));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["User"], "1000");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/app"]));
    assert_eq!(
        c["Cmd"],
        Value::Null,
        "ENTRYPOINT resets the base image's CMD"
    );
    assert_eq!(c["Healthcheck"], serde_json::json!({"Test": ["NONE"]}));
    // The base image's layer is kept as it was, and COPY went to WORKDIR/def/.
    assert_eq!(img.manifest.layers.len(), 3);
    let base = resolve(&env, "plain:1");
    assert_eq!(img.manifest.layers[0], base.manifest.layers[0]);
    let copied = layer_items(&env, &img.manifest.layers[2].digest);
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        vec!["dst", "dst/def", "dst/def/a"]
    );
    let h = history(&img);
    assert_eq!(
        h[0].0, "/bin/sh -c #(nop) ADD file:x in / ",
        "the base's history first"
    );
    assert!(
        h.iter()
            .any(|(c, _)| c == "/bin/sh -c #(nop)  ENV E=dst F=def G=alt H= Q=a dst S=$D"),
        "{h:?}"
    );
}
