//! Operations: /healthz, /metrics, webhooks (Distribution's envelope, retried after a
//! failure), TLS with a certificate and key, and graceful shutdown finishing an in-flight
//! upload.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bytes_of, manifest, sha256, Client, OCI_MANIFEST};
use strata_registry::config::{NotificationConfig, TlsConfig};
use strata_registry::{Config, EmbeddedRegistry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path())).unwrap();
    let c = Client::new(&reg.url());
    let h = c.get("/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    let data = bytes_of(1, 1234);
    assert_eq!(c.push_blob("ops/m", &data).await.1.status, 201);
    assert_eq!(
        c.get(&format!("/v2/ops/m/blobs/{}", sha256(&data)))
            .await
            .status,
        200
    );
    assert_eq!(c.get("/v2/ops/m/manifests/nope").await.status, 404);
    let m = c.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(m.body).unwrap();
    for want in [
        "registry_http_requests_total{method=\"GET\",route=\"blob\",code=\"200\"} 1",
        "registry_http_requests_total{method=\"GET\",route=\"manifest\",code=\"404\"} 1",
        "registry_http_requests_total{method=\"PUT\",route=\"upload\",code=\"201\"} 1",
        "registry_blob_bytes_served_total 1234",
        "registry_upload_bytes_received_total 1234",
        "registry_blobs_pushed_total 1",
        "# TYPE registry_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

/// Deliveries received: (request head, JSON body).
type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A webhook receiver that fails the first delivery and records the rest.
fn receiver() -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        let mut first = true;
        for s in l.incoming() {
            let mut s = s.unwrap();
            let mut buf = Vec::new();
            let mut tmp = [0u8; 8192];
            let (head, body) = loop {
                let n = s.read(&mut tmp).unwrap();
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&tmp[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while buf.len() < i + 4 + len {
                        let n = s.read(&mut tmp).unwrap();
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    break (head, buf[i + 4..i + 4 + len].to_vec());
                }
            };
            if first {
                first = false;
                let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                continue;
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_slice(&body) {
                g.lock().unwrap().push((head, v));
            }
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_on_push_and_delete_with_retry() {
    let (url, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::for_tests(dir.path());
    cfg.notifications = vec![NotificationConfig {
        url,
        max_attempts: 5,
        ..Default::default()
    }];
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    let c = Client::new(&reg.url());
    let config = br#"{"os":"linux"}"#.to_vec();
    assert_eq!(c.push_blob("ops/hook", &config).await.1.status, 201);
    let m = manifest(&config, &[], None);
    assert_eq!(
        c.put_manifest("ops/hook", "v1", OCI_MANIFEST, &m)
            .await
            .status,
        201
    );
    // Wait for the manifest push event (whichever delivery came first was refused and
    // retried), then delete and wait for that event.
    let find = |action: &'static str, want_tag: bool| {
        let got = got.clone();
        move || {
            got.lock().unwrap().iter().find_map(|(h, v)| {
                let e = &v["events"][0];
                (e["action"] == action && e["target"]["tag"].is_string() == want_tag)
                    .then(|| (h.clone(), e.clone()))
            })
        }
    };
    let wait = |f: &dyn Fn() -> Option<(String, serde_json::Value)>| {
        for _ in 0..200 {
            if let Some(x) = f() {
                return x;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("event not delivered");
    };
    let (head, e) = wait(&find("push", true));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.distribution.events.v1+json"),
        "{head}"
    );
    assert_eq!(e["target"]["repository"], "ops/hook");
    assert_eq!(e["target"]["digest"], sha256(&m));
    assert_eq!(e["target"]["tag"], "v1");
    assert_eq!(e["target"]["mediaType"], OCI_MANIFEST);
    assert_eq!(e["target"]["size"], m.len());
    assert!(e["id"].is_string() && e["timestamp"].is_string() && e["source"]["addr"].is_string());
    assert_eq!(e["request"]["method"], "PUT");
    let (_, b) = wait(&find("push", false));
    assert_eq!(b["target"]["digest"], sha256(&config));
    assert_eq!(b["target"]["size"], config.len());
    assert_eq!(
        c.req("DELETE", "/v2/ops/hook/manifests/v1", &[], vec![])
            .await
            .status,
        202
    );
    let (_, d) = wait(&find("delete", true));
    assert_eq!(d["target"]["repository"], "ops/hook");
    assert_eq!(d["target"]["tag"], "v1");
}

#[test]
fn tls_with_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("openssl not available: test skipped");
        return;
    }
    let mut cfg = Config::for_tests(dir.path().join("root"));
    cfg.tls = Some(TlsConfig {
        cert: cert.clone(),
        key,
    });
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .args(["-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}"])
        .arg(format!("https://{}/v2/", reg.host()))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain HTTP to the TLS port does not get an answer.
    let plain = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/v2/", reg.host()))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
    // skopeo trusts it through --cert-dir.
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(&cert, certs.join("ca.crt")).unwrap();
        let out = Command::new("skopeo")
            .args(["inspect", "--cert-dir"])
            .arg(&certs)
            .arg(format!("docker://{}/none/such:tag", reg.host()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("manifest unknown")
                || text.contains("MANIFEST_UNKNOWN")
                || text.contains("not found"),
            "{text}"
        );
    }
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path())).unwrap();
    let host = reg.host();
    let post = |s: &mut std::net::TcpStream| {
        s.write_all(format!("POST /v2/ops/shutdown/blobs/uploads/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    let resp = post(&mut s);
    let loc = resp
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .trim()
        .to_string();
    let data = bytes_of(9, 2000);
    let mut up = std::net::TcpStream::connect(&host).unwrap();
    up.write_all(
        format!("PATCH {loc} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2000\r\n\r\n").as_bytes(),
    )
    .unwrap();
    up.write_all(&data[..1000]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Shut down while the upload is in flight.
    let stopper = std::thread::spawn(move || reg.stop());
    std::thread::sleep(Duration::from_millis(200));
    up.write_all(&data[1000..]).unwrap();
    let mut out = Vec::new();
    up.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = up.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 202"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("range: 0-1999"),
        "{text}"
    );
    drop(up);
    stopper.join().unwrap();
    assert!(
        std::net::TcpStream::connect(&host).is_err(),
        "still accepting after shutdown"
    );
    let data_file = dir
        .path()
        .join("_uploads")
        .join(loc.rsplit('/').next().unwrap())
        .join("data");
    assert_eq!(std::fs::metadata(data_file).unwrap().len(), 2000);
}
