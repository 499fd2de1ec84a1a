//! Limits and validation over real TCP: oversized heads, short and stalled bodies, lying
//! digests, upload sessions bound to their repository and expiring, path-traversal names
//! and digests, concurrent pushes of one blob, and the per-client rate limit.

mod common;

use common::{bytes_of, sha256, Client};
use strata_registry::{Config, EmbeddedRegistry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn start(f: impl FnOnce(&mut Config)) -> (tempfile::TempDir, EmbeddedRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::for_tests(dir.path());
    f(&mut cfg);
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    (dir, reg)
}

/// Sends raw bytes, optionally half-closes, and returns the raw response text.
async fn raw(host: &str, data: &[u8], half_close: bool) -> String {
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(data).await.unwrap();
    if half_close {
        s.shutdown().await.unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).to_string()
}

fn blob_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("blobs/sha256"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_body_gets_400_and_nothing_is_stored() {
    let (dir, reg) = start(|_| {});
    let c = Client::new(&reg.url());
    let r = c
        .req("POST", "/v2/lim/short/blobs/uploads/", &[], vec![])
        .await;
    let loc = r.header("location").unwrap();
    let data = bytes_of(1, 1000);
    let d = sha256(&data);
    let mut req = format!(
        "PUT {loc}?digest={d} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\n",
        reg.host()
    )
    .into_bytes();
    req.extend_from_slice(&data[..500]);
    let resp = raw(&reg.host(), &req, true).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("BLOB_UPLOAD_INVALID"), "{resp}");
    assert_eq!(
        c.head(&format!("/v2/lim/short/blobs/{d}")).await.status,
        404
    );
    // The session was rolled back to its previous size.
    let s = c.get(&loc).await;
    assert_eq!(s.status, 204);
    assert_eq!(s.header("range").as_deref(), Some("0-0"));
    assert_eq!(blob_files(dir.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_digest_on_monolithic_post_gets_400_and_nothing_is_stored() {
    let (dir, reg) = start(|_| {});
    let c = Client::new(&reg.url());
    let data = bytes_of(2, 4000);
    let lie = sha256(b"not the data");
    let r = c
        .req(
            "POST",
            &format!("/v2/lim/lie/blobs/uploads/?digest={lie}"),
            &[],
            data.clone(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"));
    assert_eq!(blob_files(dir.path()), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("_uploads"))
            .map(|r| r.count())
            .unwrap_or(0),
        0,
        "session left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_times_out_and_is_rolled_back() {
    let (_dir, reg) = start(|c| c.limits.body_idle_timeout_secs = 1);
    let c = Client::new(&reg.url());
    let r = c
        .req("POST", "/v2/lim/slow/blobs/uploads/", &[], vec![])
        .await;
    let loc = r.header("location").unwrap();
    let mut s = tokio::net::TcpStream::connect(reg.host()).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\n0123456789",
        reg.host()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let resp = String::from_utf8_lossy(&out);
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    let st = c.get(&loc).await;
    assert_eq!(st.status, 204);
    assert_eq!(st.header("range").as_deref(), Some("0-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_head_is_refused() {
    let (_dir, reg) = start(|c| c.limits.max_header_bytes = 16 * 1024);
    let big = "a".repeat(64 * 1024);
    let req = format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let resp = raw(&reg.host(), req.as_bytes(), false).await;
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 431"),
        "{resp}"
    );
    // The server is still fine.
    assert_eq!(Client::new(&reg.url()).get("/v2/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_sessions_are_bound_to_their_repository() {
    let (_dir, reg) = start(|_| {});
    let c = Client::new(&reg.url());
    let r = c
        .req("POST", "/v2/team-a/app/blobs/uploads/", &[], vec![])
        .await;
    let loc = r.header("location").unwrap();
    let id = loc.rsplit('/').next().unwrap().to_string();
    let other = format!("/v2/team-b/app/blobs/uploads/{id}");
    let data = bytes_of(3, 100);
    for (m, body) in [("GET", vec![]), ("PATCH", data.clone()), ("DELETE", vec![])] {
        let r = c.req(m, &other, &[], body).await;
        assert_eq!(r.status, 404, "{m} from another repository");
        assert_eq!(r.error_code().as_deref(), Some("BLOB_UPLOAD_UNKNOWN"));
    }
    let r = c
        .req(
            "PUT",
            &format!("{other}?digest={}", sha256(&data)),
            &[],
            data.clone(),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(c.get(&loc).await.status, 204, "the owner still sees it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_upload_sessions_expire() {
    let (dir, reg) = start(|c| c.limits.upload_expiry_secs = 0);
    let c = Client::new(&reg.url());
    let r = c
        .req("POST", "/v2/lim/expire/blobs/uploads/", &[], vec![])
        .await;
    let loc = r.header("location").unwrap();
    // Age the session's data past the (zero) expiry.
    let id = loc.rsplit('/').next().unwrap();
    let data = dir.path().join("_uploads").join(id).join("data");
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(5))
        .unwrap();
    let r = c.get(&loc).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code().as_deref(), Some("BLOB_UPLOAD_UNKNOWN"));
    assert!(
        !dir.path().join("_uploads").join(id).exists(),
        "expired session purged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_digests_are_validated_before_any_path_is_built() {
    let (dir, reg) = start(|_| {});
    let c = Client::new(&reg.url());
    for path in [
        "/v2/a/../../etc/manifests/latest",
        "/v2/UPPER/manifests/latest",
        "/v2/a//b/manifests/latest",
        "/v2/_uploads/blobs/uploads/",
    ] {
        let r = c.get(path).await;
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
        if r.status == 400 {
            assert_eq!(r.error_code().as_deref(), Some("NAME_INVALID"), "{path}");
        }
    }
    // With slashes the path does not even match a route.
    assert_eq!(
        c.get("/v2/ok/blobs/sha256:../../../etc/passwd")
            .await
            .status,
        404
    );
    for d in [
        "sha256:..%2F..%2Fetc%2Fpasswd",
        "sha256:ABCDEF",
        "md5:abc",
        "sha256:%2e%2e",
    ] {
        let r = c.get(&format!("/v2/ok/blobs/{d}")).await;
        assert_eq!(r.status, 400, "{d}");
        assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"), "{d}");
    }
    let r = c
        .req(
            "PATCH",
            "/v2/ok/blobs/uploads/..%2F..%2Fblobs",
            &[],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(!dir.path().join("etc").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_pushing_the_same_blob_leave_one_good_copy() {
    let (dir, reg) = start(|_| {});
    let data = bytes_of(4, 3 * 1024 * 1024);
    let d = sha256(&data);
    let mut tasks = Vec::new();
    for i in 0..2 {
        let c = Client::new(&reg.url());
        let data = data.clone();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("race/r{i}");
            let r = c
                .req("POST", &format!("/v2/{name}/blobs/uploads/"), &[], vec![])
                .await;
            let loc = r.header("location").unwrap();
            let r = c
                .req("PATCH", &loc, &[], data[..1024 * 1024].to_vec())
                .await;
            assert_eq!(r.status, 202);
            let loc = r.header("location").unwrap();
            let r = c
                .req(
                    "PUT",
                    &format!("{loc}?digest={d}"),
                    &[],
                    data[1024 * 1024..].to_vec(),
                )
                .await;
            assert_eq!(r.status, 201);
            name
        }));
    }
    let names: Vec<String> = futures_join(tasks).await;
    assert_eq!(blob_files(dir.path()), 1);
    let stored = std::fs::read(dir.path().join("blobs/sha256").join(&d[7..])).unwrap();
    assert_eq!(sha256(&stored), d);
    let c = Client::new(&reg.url());
    for n in names {
        let g = c.get(&format!("/v2/{n}/blobs/{d}")).await;
        assert_eq!(g.status, 200);
        assert_eq!(g.body.len(), data.len());
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("_uploads"))
            .unwrap()
            .count(),
        0
    );
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let (_dir, reg) = start(|c| {
        c.limits.rate_limit_per_second = 0.001;
        c.limits.rate_limit_burst = 3.0;
    });
    let c = Client::new(&reg.url());
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..5 {
        let r = c.get("/v2/").await;
        if r.status == 429 {
            retry = r.header("retry-after");
            assert_eq!(r.error_code().as_deref(), Some("TOOMANYREQUESTS"));
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // Health checks are not limited.
    assert_eq!(c.get("/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_blob_upload_gets_413() {
    let (dir, reg) = start(|c| c.limits.max_blob_bytes = 1000);
    let c = Client::new(&reg.url());
    let data = bytes_of(5, 1500);
    let r = c
        .req("POST", "/v2/lim/big/blobs/uploads/", &[], vec![])
        .await;
    let loc = r.header("location").unwrap();
    let r = c
        .req("PUT", &format!("{loc}?digest={}", sha256(&data)), &[], data)
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(blob_files(dir.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_can_be_disabled() {
    let (_dir, reg) = start(|c| c.delete_enabled = false);
    let c = Client::new(&reg.url());
    let data = bytes_of(6, 10);
    let (d, r) = c.push_blob("lim/nodelete", &data).await;
    assert_eq!(r.status, 201);
    for path in [
        format!("/v2/lim/nodelete/blobs/{d}"),
        "/v2/lim/nodelete/manifests/v1".to_string(),
    ] {
        let r = c.req("DELETE", &path, &[], vec![]).await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.error_code().as_deref(), Some("UNSUPPORTED"));
    }
    assert_eq!(
        c.get(&format!("/v2/lim/nodelete/blobs/{d}")).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_path_is_not_a_repository() {
    let (_dir, reg) = start(|_| {});
    let c = Client::new(&reg.url());
    assert_eq!(c.push_blob("deep/nested/repo", b"x").await.1.status, 201);
    assert_eq!(c.get("/v2/deep/nested/repo/tags/list").await.status, 200);
    let r = c.get("/v2/deep/nested/tags/list").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code().as_deref(), Some("NAME_UNKNOWN"));
    assert_eq!(
        c.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!(["deep/nested/repo"])
    );
}
