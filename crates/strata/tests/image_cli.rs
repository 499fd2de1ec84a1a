//! `strata image ls | history | inspect | tag | rm | prune` and `system df` against golden
//! outputs, on fixture images the tests write into a temporary store.

mod common;

use common::*;
use serde_json::{json, Value};

const DAY: i64 = 24 * 3600;

fn fixture(env: &Env) -> (strata_oci::Descriptor, String) {
    let store = env.store();
    let l1 = layer_tar(&[
        Entry::Dir("etc/"),
        Entry::File("etc/hello.txt", b"hello world\n"),
        Entry::File("bin/tool", &[7u8; 5000]),
        Entry::Symlink("bin/link", "tool"),
    ]);
    let l2 = layer_tar(&[
        Entry::File("app/index.html", &[b'x'; 1234]),
        Entry::Whiteout("etc/.wh.hello.txt"),
    ]);
    let created = ago(3 * DAY + 3600);
    let d = put_image(
        &store,
        Some("example:1"),
        &[
            step(
                "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ",
                Some(l1),
            ),
            step("/bin/sh -c #(nop)  ENV\tFOO=bar", None),
            step("COPY app /app # buildkit", Some(l2)),
            step("CMD [\"/bin/sh\"]", None),
        ],
        &created,
        "amd64",
        json!({"tier": "gold", "org.example.team": "core"}),
    );
    (d, created)
}

#[test]
fn ls_default_table_matches_docker_layout() {
    let env = Env::new();
    let (d, _) = fixture(&env);
    let out = env.ok(&["image", "ls"]);
    // SIZE: 12 + 5000 + len("tool") in layer 1, 1234 in layer 2 = 6250 bytes -> 6.25kB.
    let want = format!(
        "{:<13}{:<10}{:<15}{:<13}{}\n{:<13}{:<10}{:<15}{:<13}{}\n",
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "example",
        "1",
        d.digest.short(),
        "3 days ago",
        "6.25kB"
    );
    assert_eq!(out, want);
    assert_eq!(env.ok(&["images"]), want, "images is an alias of image ls");
    // The default table is laid out directly; the template path must agree with it.
    assert_eq!(env.ok(&["image", "ls", "--format", "table"]), want);
    assert_eq!(
        env.ok(&["image", "ls", "--digests"]),
        env.ok(&[
            "image",
            "ls",
            "--digests",
            "--format",
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        ])
    );
}

#[test]
fn ls_quiet_digests_no_trunc_json_and_templates() {
    let env = Env::new();
    let (d, created) = fixture(&env);
    assert_eq!(
        env.ok(&["image", "ls", "-q"]),
        format!("{}\n", d.digest.short())
    );
    assert_eq!(
        env.ok(&["image", "ls", "-q", "--no-trunc"]),
        format!("{}\n", d.digest)
    );
    let out = env.ok(&["image", "ls", "--digests"]);
    assert!(out.starts_with("REPOSITORY   TAG       DIGEST"), "{out}");
    assert!(out.contains(&d.digest.to_string()));
    let out = env.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.Size}}",
    ]);
    assert_eq!(out, "example:1 6.25kB\n");
    let out = env.ok(&["image", "ls", "--format", "table {{.Repository}}\t{{.ID}}"]);
    assert_eq!(
        out,
        format!(
            "{:<13}{}\n{:<13}{}\n",
            "REPOSITORY",
            "IMAGE ID",
            "example",
            d.digest.short()
        )
    );
    let out = env.ok(&["image", "ls", "--format", "json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["Repository"], "example");
    assert_eq!(v["Tag"], "1");
    assert_eq!(v["ID"], d.digest.short());
    assert_eq!(v["Size"], "6.25kB");
    assert_eq!(v["VirtualSize"], "6.25kB");
    assert_eq!(v["CreatedSince"], "3 days ago");
    assert_eq!(v["Containers"], "N/A");
    assert!(
        v["CreatedAt"].as_str().unwrap().starts_with(&created[..10]),
        "{v}"
    );
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "Docker prints JSON keys sorted");
}

#[test]
fn ls_filters_sort_and_repository_argument() {
    let env = Env::new();
    let store = env.store();
    let small = put_image(
        &store,
        Some("a/small:1"),
        &[step("x", Some(layer_tar(&[Entry::File("f", b"1")])))],
        &ago(10 * DAY),
        "amd64",
        json!({"tier": "bronze"}),
    );
    let big = put_image(
        &store,
        Some("b/big:2"),
        &[step(
            "y",
            Some(layer_tar(&[Entry::File("f", &[1u8; 90_000])])),
        )],
        &ago(2 * DAY),
        "amd64",
        json!({"tier": "gold"}),
    );
    let mid = put_image(
        &store,
        Some("localhost:5000/c/mid:3"),
        &[step(
            "z",
            Some(layer_tar(&[Entry::File("f", &[1u8; 3000])])),
        )],
        &ago(5 * DAY),
        "amd64",
        json!({}),
    );
    drop(store);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        env.ok(&a).lines().map(str::to_string).collect()
    };
    // Default order: newest first, as Docker.
    assert_eq!(
        names(&[]),
        ["b/big:2", "localhost:5000/c/mid:3", "a/small:1"]
    );
    assert_eq!(
        names(&["--sort", "size"]),
        ["b/big:2", "localhost:5000/c/mid:3", "a/small:1"]
    );
    assert_eq!(
        names(&["--sort", "size", "--reverse"]),
        ["a/small:1", "localhost:5000/c/mid:3", "b/big:2"]
    );
    assert_eq!(
        names(&["--sort", "name"]),
        ["a/small:1", "b/big:2", "localhost:5000/c/mid:3"]
    );
    assert_eq!(names(&["--filter", "label=tier=gold"]), ["b/big:2"]);
    assert_eq!(names(&["--filter", "label=tier"]), ["b/big:2", "a/small:1"]);
    assert_eq!(
        names(&["--filter", "before=b/big:2"]),
        ["localhost:5000/c/mid:3", "a/small:1"]
    );
    assert_eq!(
        names(&["--filter", "since=a/small:1"]),
        ["b/big:2", "localhost:5000/c/mid:3"]
    );
    assert_eq!(names(&["--filter", "reference=b/*"]), ["b/big:2"]);
    assert_eq!(
        names(&["--filter", "reference=a/*", "--filter", "reference=b/*"]),
        ["b/big:2", "a/small:1"]
    );
    assert_eq!(names(&["b/big"]), ["b/big:2"]);
    assert_eq!(
        names(&["localhost:5000/c/mid:3"]),
        ["localhost:5000/c/mid:3"]
    );
    assert_eq!(names(&["--filter", "dangling=true"]), Vec::<String>::new());
    let err = env.fails(&["image", "ls", "--format", "{{.Bogus}}"], 1);
    assert_eq!(err.trim(), "template parsing error: template: :1:2: executing \"\" at <.Bogus>: can't evaluate field Bogus in type *formatter.imageContext");
    let err = env.fails(&["image", "ls", "--filter", "bogus=1"], 1);
    assert_eq!(err.trim(), "Error: invalid filter 'bogus'");
    let _ = (small, big, mid);
}

#[test]
fn history_matches_docker_columns() {
    let env = Env::new();
    let (d, created) = fixture(&env);
    let out = env.ok(&["image", "history", "example:1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    // Column widths: IMAGE 12+3, CREATED "3 days ago" 10+3, CREATED BY 45 cells +3, SIZE "5.02kB" 6+3.
    let row = |id: &str, by: &str, size: &str| {
        format!("{:<15}{:<13}{:<48}{:<10}", id, "3 days ago", by, size)
    };
    assert_eq!(
        lines[0],
        format!(
            "{:<15}{:<13}{:<48}{:<10}COMMENT",
            "IMAGE", "CREATED", "CREATED BY", "SIZE"
        )
    );
    assert_eq!(
        lines[1].trim_end(),
        row(d.digest.short(), "CMD [\"/bin/sh\"]", "0B").trim_end()
    );
    assert_eq!(
        lines[2].trim_end(),
        row("<missing>", "COPY app /app # buildkit", "1.23kB").trim_end()
    );
    assert_eq!(
        lines[3].trim_end(),
        row("<missing>", "/bin/sh -c #(nop)  ENV FOO=bar", "0B").trim_end()
    );
    assert_eq!(
        lines[4].trim_end(),
        row(
            "<missing>",
            "/bin/sh -c #(nop) ADD file:0123456789abcdef0…",
            "5.02kB"
        )
        .trim_end()
    );
    let raw = env.ok(&[
        "image",
        "history",
        "-H=false",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedAt}}|{{.Size}}|{{.CreatedBy}}",
        "example:1",
    ]);
    let first = raw.lines().next().unwrap();
    assert_eq!(first.split('|').next().unwrap(), d.digest.to_string());
    assert_eq!(first.split('|').nth(2).unwrap(), "0");
    assert_eq!(
        raw.lines().last().unwrap().split('|').nth(2).unwrap(),
        "5016"
    );
    assert!(raw
        .lines()
        .last()
        .unwrap()
        .ends_with("ADD file:0123456789abcdef0123456789abcdef in / "));
    assert!(first.split('|').nth(1).unwrap().starts_with(&created[..19]));
    assert_eq!(
        env.ok(&["image", "history", "-q", "example:1"])
            .lines()
            .collect::<Vec<_>>(),
        [d.digest.short(), "<missing>", "<missing>", "<missing>"]
    );
}

#[test]
fn inspect_has_docker_shape_and_format() {
    let env = Env::new();
    let (d, created) = fixture(&env);
    let out = env.ok(&["image", "inspect", "example:1"]);
    assert!(
        out.starts_with("[\n    {\n        \"Id\": \"sha256:"),
        "{out}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let o = &v[0];
    let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "GraphDriver",
            "RootFS",
            "Metadata",
            "Descriptor"
        ]
    );
    assert_eq!(o["RepoTags"], json!(["example:1"]));
    assert_eq!(o["RepoDigests"], json!([format!("example@{}", d.digest)]));
    assert_eq!(o["Created"], json!(created));
    assert_eq!(o["Size"], json!(6250));
    assert_eq!(o["Architecture"], "amd64");
    assert_eq!(o["Config"]["Labels"]["tier"], "gold");
    // Docker marshals label maps with sorted keys, whatever order the config has.
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            "example:1"
        ]),
        "{\"org.example.team\":\"core\",\"tier\":\"gold\"}\n"
    );
    assert_eq!(o["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(o["Descriptor"]["digest"], json!(d.digest.to_string()));
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}} {{.Size}}",
            "example:1"
        ]),
        "linux/amd64 6250\n"
    );
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoTags}}",
            d.digest.short()
        ]),
        "[\"example:1\"]\n"
    );
    let err = env.fails(&["image", "inspect", "-f", "{{.Os", "example:1"], 64);
    assert!(err.contains("template parsing error"), "{err}");
    let err = env.fails(&["image", "inspect", "nope"], 1);
    assert_eq!(err.trim(), "Error: No such image: nope:latest");
}

#[test]
fn tag_and_rm_follow_docker_semantics() {
    let env = Env::new();
    let (d, _) = fixture(&env);
    env.ok(&["tag", "example:1", "other/name:2"]);
    env.ok(&["image", "tag", "example:1", "example:latest"]);
    let ls = env.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
        "--sort",
        "name",
    ]);
    assert_eq!(
        ls,
        format!(
            "example:1 {0}\nexample:latest {0}\nother/name:2 {0}\n",
            d.digest.short()
        )
    );
    let err = env.fails(&["tag", "example:1", "Bad:Name"], 1);
    assert_eq!(err.trim(), "Error: Error parsing reference: \"Bad:Name\" is not a valid repository/tag: invalid reference format: repository name (library/Bad) must be lowercase");
    let err = env.fails(&["tag", "example:1", &format!("x@{}", d.digest)], 1);
    assert_eq!(
        err.trim(),
        "Error: refusing to create a tag with a digest reference"
    );
    let err = env.fails(&["tag", "missing:1", "x:1"], 1);
    assert_eq!(err.trim(), "Error: No such image: missing:1");
    // By ID with names in several repositories: refused without -f.
    let err = env.fails(&["image", "rm", d.digest.short()], 1);
    assert_eq!(
        err.trim(),
        format!("Error: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", d.digest.short())
    );
    assert_eq!(
        env.ok(&["image", "rm", "other/name:2"]),
        "Untagged: other/name:2\n"
    );
    let before = blob_files(&env.root());
    assert_eq!(before.len(), 4, "manifest, config, two layers");
    let out = env.ok(&["rmi", "example:1", "example"]);
    assert_eq!(
        out,
        format!(
            "Untagged: example:1\nUntagged: example:latest\nDeleted: {}\n",
            d.digest
        )
    );
    assert!(
        blob_files(&env.root()).is_empty(),
        "rm frees every blob nothing references"
    );
    let err = env.fails(&["image", "rm", "example:1"], 1);
    assert_eq!(err.trim(), "Error: No such image: example:1");
    let o = env.run(&["image", "rm", "-f", "example:1"]);
    assert_eq!(o.status.code(), Some(0), "-f ignores missing images");
}

#[test]
fn moved_tag_leaves_dangling_image_that_prune_removes() {
    let env = Env::new();
    let store = env.store();
    let old = put_image(
        &store,
        Some("app:1"),
        &[step(
            "a",
            Some(layer_tar(&[Entry::File("f", &[1u8; 2000])])),
        )],
        &ago(4 * DAY),
        "amd64",
        json!({}),
    );
    let new = put_image(
        &store,
        Some("app:1"),
        &[step(
            "b",
            Some(layer_tar(&[Entry::File("g", &[2u8; 3000])])),
        )],
        &ago(DAY),
        "amd64",
        json!({}),
    );
    drop(store);
    let ls = env.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}} {{.Tag}} {{.ID}}",
    ]);
    assert_eq!(
        ls,
        format!(
            "app 1 {}\n<none> <none> {}\n",
            new.digest.short(),
            old.digest.short()
        )
    );
    assert_eq!(
        env.ok(&["image", "ls", "-q", "--filter", "dangling=true"]),
        format!("{}\n", old.digest.short())
    );
    let out = env.ok(&["image", "prune", "-f"]);
    assert_eq!(
        blob_files(&env.root()).len(),
        3,
        "the new image's manifest, config and layer remain"
    );
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\ndeleted: {}\n\nTotal reclaimed space: ",
            old.digest
        )),
        "{out}"
    );
    assert!(!out.ends_with("Total reclaimed space: 0B\n"), "{out}");
    assert_eq!(
        env.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    // prune -a removes everything (no containers here), label filters narrow it.
    let out = env.ok(&["image", "prune", "-a", "-f", "--filter", "label=nothing"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.starts_with("Deleted Images:\nuntagged: app:1\n"),
        "{out}"
    );
    assert!(blob_files(&env.root()).is_empty());
}

#[test]
fn prune_without_force_asks_and_no_answer_keeps_everything() {
    let env = Env::new();
    let store = env.store();
    put_image(
        &store,
        Some("app:1"),
        &[step("a", Some(layer_tar(&[Entry::File("f", b"1")])))],
        &ago(DAY),
        "amd64",
        json!({}),
    );
    put_image(
        &store,
        Some("app:1"),
        &[step("b", Some(layer_tar(&[Entry::File("f", b"2")])))],
        &ago(DAY),
        "amd64",
        json!({}),
    );
    drop(store);
    let before = blob_files(&env.root());
    let o = env.run(&["image", "prune"]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N]"), "{err}");
    assert_eq!(blob_files(&env.root()), before);
}

#[test]
fn multi_platform_index_lists_as_tree_and_resolves_platforms() {
    let env = Env::new();
    let store = env.store();
    let amd = put_image(
        &store,
        None,
        &[step(
            "amd",
            Some(layer_tar(&[Entry::File("f", &[1u8; 4000])])),
        )],
        &ago(DAY),
        "amd64",
        json!({}),
    );
    let arm = put_image(
        &store,
        None,
        &[step(
            "arm",
            Some(layer_tar(&[Entry::File("f", &[1u8; 7000])])),
        )],
        &ago(DAY),
        "arm64",
        json!({}),
    );
    let idx = put_index(
        &store,
        "multi:1",
        &[
            (amd.clone(), "linux/amd64"),
            (arm.clone(), "linux/arm64/v8"),
        ],
    );
    drop(store);
    assert_eq!(
        env.ok(&["image", "ls", "--format", "{{.ID}} {{.Size}}"]),
        format!("{} 4kB\n", idx.digest.short())
    );
    let tree = env.ok(&["image", "ls", "--tree"]);
    assert!(tree.contains("multi:1"), "{tree}");
    assert!(
        tree.contains(&format!("├─ linux/amd64      {}", amd.digest.short()))
            || tree.contains("├─ linux/amd64"),
        "{tree}"
    );
    assert!(tree.contains("└─ linux/arm64/v8"), "{tree}");
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Architecture}} {{.Size}}",
            "--platform",
            "linux/arm64",
            "multi:1"
        ]),
        "arm64 7000\n"
    );
    assert_eq!(
        env.ok(&[
            "image",
            "history",
            "-q",
            "--platform",
            "linux/arm64",
            "multi:1"
        ]),
        format!("{}\n", idx.digest.short())
    );
    // Remove the arm64 layer blob: the index stays an image, the platform shows as missing.
    let store = env.store();
    let m = match store.read_document(&arm.digest, None).unwrap() {
        strata_oci::Document::Manifest(m) => m,
        _ => unreachable!(),
    };
    let p = store.blob_path(&m.layers[0].digest);
    let mut perms = std::fs::metadata(&p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&p, perms).unwrap();
    std::fs::remove_file(p).unwrap();
    drop(store);
    let tree = env.ok(&["image", "ls", "--tree"]);
    assert!(
        !tree.contains("arm64"),
        "unavailable platforms are hidden without -a: {tree}"
    );
    let tree = env.ok(&["image", "ls", "--tree", "-a"]);
    assert!(
        tree.contains("└─ linux/arm64/v8") && tree.contains("(not available)"),
        "{tree}"
    );
    let err = env.fails(
        &["image", "inspect", "--platform", "linux/arm64", "multi:1"],
        1,
    );
    assert!(
        err.contains("no matching manifest for linux/arm64/v8"),
        "{err}"
    );
}

#[test]
fn system_df_reports_shared_and_unique_sizes() {
    let env = Env::new();
    let store = env.store();
    let base = layer_tar(&[Entry::File("base", &[1u8; 10_000])]);
    put_image(
        &store,
        Some("one:1"),
        &[
            step("base", Some(base.clone())),
            step("one", Some(layer_tar(&[Entry::File("one", &[2u8; 1000])]))),
        ],
        &ago(DAY),
        "amd64",
        json!({}),
    );
    put_image(
        &store,
        Some("two:1"),
        &[
            step("base", Some(base)),
            step("two", Some(layer_tar(&[Entry::File("two", &[3u8; 2000])]))),
        ],
        &ago(DAY),
        "amd64",
        json!({}),
    );
    drop(store);
    let out = env.ok(&["system", "df"]);
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("TYPE"), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("Images"), "{out}");
    assert!(out.contains("13kB"), "10k shared + 1k + 2k unique: {out}");
    let out = env.ok(&["system", "df", "-v"]);
    let one = out.lines().find(|l| l.starts_with("one ")).unwrap();
    let cells: Vec<&str> = one
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(&cells[4..7], ["11kB", "10kB", "1kB"], "{one}");
}

#[test]
fn usage_errors_exit_125_and_bad_references_exit_1() {
    let env = Env::new();
    let o = env.run(&["image", "ls", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(125));
    let err = env.fails(&["image", "history", "UPPER"], 1);
    assert_eq!(err.trim(), "Error: No such image: UPPER");
}

#[test]
fn save_by_id_keeps_every_tag_through_load() {
    let env = Env::new();
    let (d, _) = fixture(&env);
    env.ok(&["tag", "example:1", "example:2"]);
    let archive = env.dir.path().join("by-id.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), d.digest.short()]);
    let other = Env::new();
    let out = other.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: example:1\nLoaded image: example:2\n");
    let ls = other.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
        "--sort",
        "name",
    ]);
    assert_eq!(
        ls,
        format!("example:1 {0}\nexample:2 {0}\n", d.digest.short())
    );
}
