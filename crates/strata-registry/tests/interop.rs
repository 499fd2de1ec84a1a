//! Real clients against the registry: skopeo copies an OCI layout in and out (open, with
//! htpasswd Basic auth and with token auth), and the Docker engine pushes, pulls and
//! searches through it. Each test prints why and returns when its tool is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{sha256, OCI_CONFIG, OCI_MANIFEST};
use strata_registry::config::{AuthConfig, TokenConfig};
use strata_registry::{Config, EmbeddedRegistry};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("spawn");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Writes an htpasswd file with bcrypt entries.
pub fn write_htpasswd(path: &Path, users: &[(&str, &str)]) {
    let mut text = String::new();
    for (i, (u, p)) in users.iter().enumerate() {
        let h = bcrypt::hash_with_salt(p, 4, [i as u8 + 7; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        text.push_str(&format!("{u}:{h}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// Builds a one-layer OCI image layout at `dir` tagged `v1`; returns the manifest bytes.
fn make_layout(dir: &Path) -> Vec<u8> {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hello.txt"), "hello from strata\n").unwrap();
    let tar = dir.join("layer.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let raw = std::fs::read(&tar).unwrap();
    let gz = Command::new("gzip")
        .arg("-n")
        .arg("-c")
        .arg(&tar)
        .output()
        .unwrap()
        .stdout;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.description": "label description"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&raw)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&gz), "size": gz.len()}],
        "annotations": {"org.opencontainers.image.description": "A skopeo interop image"},
    }))
    .unwrap();
    let blobs = dir.join("layout/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for b in [&config, &gz, &manifest] {
        std::fs::write(blobs.join(&sha256(b)[7..]), b).unwrap();
    }
    std::fs::write(
        dir.join("layout/oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": sha256(&manifest), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(
        dir.join("layout/index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    manifest
}

fn skopeo_round_trip(reg: &EmbeddedRegistry, creds: Option<&str>, work: &Path) {
    let manifest = make_layout(work);
    let layout = work.join("layout");
    let dest = format!("docker://{}/interop/skopeo:v1", reg.host());
    let mut push = Command::new("skopeo");
    push.args(["copy", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        push.args(["--dest-creds", c]);
    }
    push.arg(format!("oci:{}:v1", layout.display())).arg(&dest);
    let (ok, out) = run(&mut push);
    assert!(ok, "skopeo copy in failed: {out}");

    let mut inspect = Command::new("skopeo");
    inspect.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        inspect.args(["--creds", c]);
    }
    let (ok, out) = run(inspect.arg(&dest));
    assert!(ok, "skopeo inspect failed: {out}");
    assert_eq!(
        out.trim().as_bytes(),
        &manifest[..],
        "manifest bytes changed in transit"
    );

    let out_dir = work.join("out");
    let mut pull = Command::new("skopeo");
    pull.args(["copy", "--src-tls-verify=false"]);
    if let Some(c) = creds {
        pull.args(["--src-creds", c]);
    }
    let (ok, out) = run(pull
        .arg(&dest)
        .arg(format!("oci:{}:copy", out_dir.display())));
    assert!(ok, "skopeo copy out failed: {out}");
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            out_dir.join("blobs/sha256").join(&name).exists(),
            "blob {name:?} missing after copy out"
        );
    }
}

#[test]
fn skopeo_copies_in_and_out_without_auth() {
    if !have("skopeo") {
        eprintln!("skopeo not installed: test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path().join("root"))).unwrap();
    skopeo_round_trip(&reg, None, dir.path());
}

fn auth_config(dir: &Path, token: bool) -> Config {
    let ht = dir.join("htpasswd");
    write_htpasswd(&ht, &[("alice", "wonderland"), ("mallory", "evil")]);
    let mut cfg = Config::for_tests(dir.join("root"));
    cfg.auth = AuthConfig {
        htpasswd: Some(ht),
        token: token.then(TokenConfig::default),
        access: vec![strata_registry::config::AccessRule {
            repository: "interop/*".into(),
            users: vec!["alice".into()],
            actions: vec!["*".into()],
        }],
        ..AuthConfig::default()
    };
    cfg
}

#[test]
fn skopeo_copies_with_basic_auth_and_refuses_bad_credentials() {
    if !have("skopeo") {
        eprintln!("skopeo not installed: test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(auth_config(dir.path(), false)).unwrap();
    skopeo_round_trip(&reg, Some("alice:wonderland"), dir.path());
    let (ok, out) = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", "mallory:evil"])
        .arg(format!("docker://{}/interop/skopeo:v1", reg.host())));
    assert!(!ok, "mallory must not read interop/skopeo: {out}");
    let (ok, _) = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{}/interop/skopeo:v1", reg.host())));
    assert!(!ok, "anonymous must not read");
}

#[test]
fn skopeo_copies_with_token_auth() {
    if !have("skopeo") {
        eprintln!("skopeo not installed: test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(auth_config(dir.path(), true)).unwrap();
    skopeo_round_trip(&reg, Some("alice:wonderland"), dir.path());
    let (ok, out) = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", "mallory:evil"])
        .arg(format!("docker://{}/interop/skopeo:v1", reg.host())));
    assert!(!ok, "mallory must not read interop/skopeo: {out}");
}

fn docker_works() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

struct DockerTags(Vec<String>);
impl Drop for DockerTags {
    fn drop(&mut self) {
        for t in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", t]).output();
        }
    }
}

fn docker_image(work: &Path, tag: &str) -> String {
    let root = work.join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), format!("hello {tag}\n")).unwrap();
    let tar: PathBuf = work.join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let (ok, out) = run(Command::new("docker")
        .args([
            "import",
            "--change",
            "LABEL org.opencontainers.image.description=\"Strata docker interop\"",
        ])
        .arg(&tar)
        .arg(tag));
    assert!(ok, "docker import: {out}");
    out.trim().to_string()
}

#[test]
fn docker_pushes_pulls_and_searches() {
    if !docker_works() {
        eprintln!("docker engine not available: test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path().join("root"))).unwrap();
    let repo = format!("interop/dockerpush{}", std::process::id());
    let tag = format!("{}/{repo}:v1", reg.host());
    let _cleanup = DockerTags(vec![tag.clone()]);
    let id = docker_image(dir.path(), &tag);
    let (ok, out) = run(Command::new("docker").args(["push", &tag]));
    assert!(ok, "docker push: {out}");
    let (ok, out) = run(Command::new("docker").args(["rmi", &tag]));
    assert!(ok, "docker rmi: {out}");
    let (ok, out) = run(Command::new("docker").args(["pull", &tag]));
    assert!(ok, "docker pull: {out}");
    let (ok, out) =
        run(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", &tag]));
    assert!(ok, "inspect: {out}");
    assert_eq!(out.trim(), id, "pulled image differs from pushed");
    let (ok, out) = run(Command::new("docker").args([
        "search",
        "--no-trunc",
        &format!("{}/dockerpush", reg.host()),
    ]));
    assert!(ok, "docker search: {out}");
    assert!(out.contains(&repo), "search output lacks {repo}: {out}");
    assert!(
        out.contains("Strata docker interop"),
        "search output lacks the description: {out}"
    );
    println!("docker search output:\n{out}");
}

#[test]
fn docker_pushes_and_pulls_with_token_auth() {
    if !docker_works() {
        eprintln!("docker engine not available: test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(auth_config(dir.path(), true)).unwrap();
    let cfg_dir = dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.arg("--config").arg(&cfg_dir).args(args);
        run(&mut c)
    };
    let repo = format!("interop/dockertoken{}", std::process::id());
    let tag = format!("{}/{repo}:v1", reg.host());
    let _cleanup = DockerTags(vec![tag.clone()]);
    docker_image(dir.path(), &tag);
    let (ok, out) = docker(&["push", &tag]);
    assert!(!ok, "push without login must fail: {out}");
    let (ok, out) = docker(&["login", "-u", "mallory", "-p", "wrong", &reg.host()]);
    assert!(!ok, "login with a wrong password must fail: {out}");
    let (ok, out) = docker(&["login", "-u", "alice", "-p", "wonderland", &reg.host()]);
    assert!(ok, "docker login: {out}");
    let (ok, out) = docker(&["push", &tag]);
    assert!(ok, "docker push: {out}");
    let (ok, out) = docker(&["rmi", &tag]);
    assert!(ok, "rmi: {out}");
    let (ok, out) = docker(&["pull", &tag]);
    assert!(ok, "docker pull: {out}");
    let (ok, out) = docker(&["search", &format!("{}/dockertoken", reg.host())]);
    assert!(ok && out.contains(&repo), "docker search with login: {out}");
    // Logged out, the private repository is not listed.
    let (ok, out) = docker(&["logout", &reg.host()]);
    assert!(ok, "logout: {out}");
    let (_, out) = docker(&["search", &format!("{}/dockertoken", reg.host())]);
    assert!(
        !out.contains(&repo),
        "anonymous search must not list {repo}: {out}"
    );
}
