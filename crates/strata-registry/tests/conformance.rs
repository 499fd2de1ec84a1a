//! Runs the conformance suite (tests/common/suite.rs) over TCP against our server, and
//! against CNCF Distribution (`/usr/bin/docker-registry`) when installed, to show the suite
//! detects what that server lacks.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use strata_registry::{Config, EmbeddedRegistry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_registry_passes_the_whole_suite() {
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path())).unwrap();
    let report = common::suite::run(&reg.url(), "conformance/deep/ns", "conformance/cross").await;
    println!("{}", report.summary());
    assert!(
        report.results.len() >= 40,
        "suite ran {} cases",
        report.results.len()
    );
    assert!(
        report.failed().is_empty(),
        "failed cases:\n{}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_registry_passes_the_suite_behind_basic_auth() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let ht = dir.path().join("htpasswd");
    let hash = bcrypt::hash_with_salt("s3cret", 4, [3; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(&ht, format!("ci:{hash}\n")).unwrap();
    let mut cfg = Config::for_tests(dir.path().join("root"));
    cfg.auth.htpasswd = Some(ht);
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci:s3cret")
    );
    let report = common::suite::run_as(
        &reg.url(),
        "conformance/deep/ns",
        "conformance/cross",
        Some(basic),
    )
    .await;
    assert!(
        report.failed().is_empty(),
        "failed cases:\n{}",
        report.summary()
    );
    // Without credentials everything is refused.
    let anon = common::suite::run(&reg.url(), "conformance/deep/ns", "conformance/cross").await;
    assert!(
        anon.failed().len() + 2 >= anon.results.len(),
        "{}",
        anon.summary()
    );
}

struct Distribution {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_distribution() -> Option<(Distribution, String)> {
    let bin = "/usr/bin/docker-registry";
    if !std::path::Path::new(bin).exists() {
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.path().join("data").display()
    );
    let cfg_path = dir.path().join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Distribution { child, _dir: dir };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((d, format!("http://127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("docker-registry did not start on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_detects_distribution_gaps() {
    let Some((_dist, base)) = start_distribution() else {
        eprintln!("/usr/bin/docker-registry not installed: comparison skipped");
        return;
    };
    let report = common::suite::run(&base, "conformance/deep/ns", "conformance/cross").await;
    println!("CNCF Distribution results:\n{}", report.summary());
    let failed = report.failed();
    // Distribution 2.8 has no referrers API and no multi-tag manifest PUT.
    for gap in [
        "discovery: referrers of an unknown digest answer 200 with an empty index",
        "discovery: referrers list, OCI-Subject on PUT, artifactType filter",
        "push: PUT manifest by digest with ?tag=a&tag=b tags both",
    ] {
        assert!(
            failed.contains(&gap),
            "suite should have caught Distribution failing {gap:?}; failed: {failed:?}"
        );
    }
    // ...while the basics pass there, so the suite is not failing everything.
    for basic in [
        "base: GET /v2/ answers 200",
        "push: POST then PUT with body (monolithic) 201 + Location",
        "pull: blob GET exact bytes, HEAD Content-Length and Docker-Content-Digest",
    ] {
        assert!(
            !failed.contains(&basic),
            "Distribution should pass {basic:?}"
        );
    }
}
