//! Blob downloads redirected to another host (as registries do to object storage) work,
//! and the registry's `Authorization` never follows the redirect. A front server on one
//! port forwards to Distribution (htpasswd) but answers blob GETs with a 307 to a "CDN"
//! server on another port, which records the headers it gets.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use strata_oci::Reference;
use strata_remote::{AuthFiles, Client, Credentials, PullOptions, PushOptions};
use strata_store::Store;

fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            // A TLS hello (the client's HTTPS probe): this server speaks plain HTTP.
            Ok(1) if buf.is_empty() && b[0] == 0x16 => return None,
            Ok(1) => buf.push(b[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).to_string())
}

/// Rewrites a request head for one upstream exchange: `Connection: close`, optional
/// extra header, original Authorization kept unless `drop_auth`.
fn rewrite(head: &str, extra: Option<&str>) -> String {
    let mut out = String::new();
    for (i, l) in head.split("\r\n").enumerate() {
        if l.is_empty() {
            continue;
        }
        let low = l.to_ascii_lowercase();
        if i > 0 && (low.starts_with("connection:") || low.starts_with("keep-alive:")) {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    if let Some(e) = extra {
        out.push_str(e);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn forward(mut client: TcpStream, head: String, upstream: u16) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up.write_all(head.as_bytes()).is_err() {
        return;
    }
    let _ = std::io::copy(&mut up, &mut client);
}

fn serve<F: Fn(TcpStream, String) + Send + Sync + 'static>(f: F) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let f = Arc::new(f);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let f = f.clone();
            std::thread::spawn(move || {
                if let Some(h) = read_head(&mut c) {
                    f(c, h);
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirected_blobs_never_get_the_registry_credentials() {
    let Some(reg) = distribution(RegAuth::Htpasswd("frank", "f-pass")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = client_config(tmp.path());
    let creds = Credentials {
        username: "frank".into(),
        password: "f-pass".into(),
    };
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/redir/app:v1", reg.host);
    let desc = put_image(
        &src,
        Some(&name),
        &[layer_tar(&[("f", noise(300_000, 3))])],
        "amd64",
    );

    let cdn_requests = Arc::new(AtomicUsize::new(0));
    let cdn_with_auth = Arc::new(AtomicUsize::new(0));
    let (cr, ca) = (cdn_requests.clone(), cdn_with_auth.clone());
    let upstream = reg.port;
    let cdn = serve(move |c, head| {
        cr.fetch_add(1, Ordering::SeqCst);
        if head.to_ascii_lowercase().contains("\r\nauthorization:") {
            ca.fetch_add(1, Ordering::SeqCst);
        }
        // The CDN has its own access to the storage.
        forward(c, rewrite(&head, Some(&creds_header())), upstream);
    });
    let front = serve(move |mut c, head| {
        let target = head.split(' ').nth(1).unwrap_or("/").to_string();
        if head.starts_with("GET ") && target.contains("/blobs/sha256:") {
            let _ = write!(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{cdn}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        forward(c, rewrite(&head, None), upstream);
    });

    AuthFiles::from_config(&cfg)
        .store(&reg.host, &creds)
        .unwrap();
    let front_host = format!("127.0.0.1:{front}");
    AuthFiles::from_config(&cfg)
        .store(&front_host, &creds)
        .unwrap();
    let client = Client::new(cfg);
    strata_remote::push(
        &client,
        src.clone(),
        &Reference::parse_normalized(&name).unwrap(),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let via = Reference::parse_normalized(&format!("{front_host}/redir/app:v1")).unwrap();
    let p = strata_remote::pull(&client, dst, &via, &PullOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(p.target.digest, desc.digest);
    assert!(
        cdn_requests.load(Ordering::SeqCst) >= 2,
        "config and layer came from the CDN"
    );
    assert_eq!(
        cdn_with_auth.load(Ordering::SeqCst),
        0,
        "Authorization leaked to another host"
    );
}

fn creds_header() -> String {
    use base64::Engine;
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode("frank:f-pass")
    )
}
