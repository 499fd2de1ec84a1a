//! Test harness: CNCF Distribution started on a free loopback port (anonymous,
//! htpasswd or token auth), a token server, a fault-injecting TCP proxy, and fixture
//! images written into a store with the store's own API.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use strata_oci::Descriptor;
use strata_remote::ClientConfig;
use strata_store::Store;

/// Whether a peer tool is required (CI): then a missing tool fails the test.
pub fn require_peers() -> bool {
    std::env::var("STRATA_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Returns false (after a note) when `tool` is missing and not required; panics when required.
pub fn have_tool(tool: &str, required: bool) -> bool {
    if Path::new(tool).exists() || which(tool) {
        return true;
    }
    if required {
        panic!("{tool} is required (STRATA_REQUIRE_PEERS/STRATA_REQUIRE_DOCKER=1) but missing");
    }
    eprintln!("note: {tool} not found; skipping");
    false
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts HTTP on `port`.
pub fn wait_http(port: u16) {
    for _ in 0..400 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing answered on port {port}");
}

/// Registry auth modes.
pub enum RegAuth {
    /// Anonymous.
    None,
    /// htpasswd (bcrypt) with one user.
    Htpasswd(&'static str, &'static str),
    /// Token auth against a [`TokenServer`].
    Token(Arc<TokenServer>),
}

/// A running Distribution.
pub struct Distribution {
    child: Child,
    /// 127.0.0.1:PORT
    pub host: String,
    /// Port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Distribution, or None (with a note) when it is not installed and not required.
pub fn distribution(auth: RegAuth) -> Option<Distribution> {
    distribution_tls(auth, None)
}

/// Starts Distribution serving TLS with `(cert, key)` PEM files when given.
pub fn distribution_tls(auth: RegAuth, tls: Option<(&Path, &Path)>) -> Option<Distribution> {
    if !have_tool("/usr/bin/docker-registry", require_peers()) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let auth_yaml = match &auth {
        RegAuth::None => String::new(),
        RegAuth::Htpasswd(u, p) => {
            if !have_tool("htpasswd", require_peers()) {
                return None;
            }
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("htpasswd (apache2-utils)");
            assert!(out.status.success());
            let f = dir.path().join("htpasswd");
            std::fs::write(&f, &out.stdout).unwrap();
            format!("auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n", f.display())
        }
        RegAuth::Token(t) => format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
            t.port,
            t.cert_pem.display()
        ),
    };
    let tls_yaml = match tls {
        Some((c, k)) => format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            c.display(),
            k.display()
        ),
        None => String::new(),
    };
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: strata-test-secret\n{tls_yaml}{auth_yaml}",
        dir.path().join("data").display()
    );
    let cfg_path = dir.path().join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    wait_http(port);
    Some(Distribution {
        child,
        host: format!("127.0.0.1:{port}"),
        port,
        _dir: dir,
    })
}

/// A client config in a fresh directory (no Docker config), with quick retries.
pub fn client_config(dir: &Path) -> ClientConfig {
    let mut c = ClientConfig::in_dir(dir.join("strata-config")).unwrap();
    c.docker_config_dir = Some(dir.join("docker-config"));
    c.retry_delay = Duration::from_millis(10);
    c.read_timeout = Duration::from_secs(120);
    c
}

// ---------------------------------------------------------------- token server

/// A Docker token-spec server: Basic auth for one user gets pull+push on anything;
/// anonymous requests get pull on `public/*` and nothing else.
pub struct TokenServer {
    /// Its port.
    pub port: u16,
    /// The certificate Distribution trusts.
    pub cert_pem: PathBuf,
    /// Token requests served.
    pub requests: AtomicUsize,
    _dir: tempfile::TempDir,
}

fn b64url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl TokenServer {
    /// Starts one (None when openssl is missing).
    pub fn start(user: &'static str, pass: &'static str) -> Option<Arc<TokenServer>> {
        if !have_tool("openssl", require_peers()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let o = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        run(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "key.pem",
        ]);
        run(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.p8",
        ]);
        run(&[
            "req",
            "-new",
            "-x509",
            "-key",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=strata-test-token",
        ]);
        run(&[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ]);
        let pkcs8 = std::fs::read(d.join("key.p8")).unwrap();
        let cert_der = std::fs::read(d.join("cert.der")).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &rng,
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ts = Arc::new(TokenServer {
            port,
            cert_pem: d.join("cert.pem"),
            requests: AtomicUsize::new(0),
            _dir: dir,
        });
        let ts2 = ts.clone();
        let key = Arc::new(key);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let (key, ts, cert_der) = (key.clone(), ts2.clone(), cert_der.clone());
                std::thread::spawn(move || {
                    let req = read_head(&mut s);
                    ts.requests.fetch_add(1, Ordering::SeqCst);
                    let line = req.lines().next().unwrap_or("").to_string();
                    let target = line.split(' ').nth(1).unwrap_or("/");
                    let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
                    let mut scopes: Vec<String> = url
                        .query_pairs()
                        .filter(|(k, _)| k == "scope")
                        .map(|(_, v)| v.to_string())
                        .collect();
                    // OAuth2 (Docker's identity tokens): POST grant_type=refresh_token.
                    let mut refresh_ok = None;
                    if line.starts_with("POST ") {
                        let len: usize = req
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        let mut body = vec![0u8; len];
                        let _ = s.read_exact(&mut body);
                        let form = reqwest::Url::parse(&format!(
                            "http://x/?{}",
                            String::from_utf8_lossy(&body)
                        ))
                        .unwrap();
                        for (k, v) in form.query_pairs() {
                            match k.as_ref() {
                                "scope" => scopes.extend(v.split(' ').map(str::to_string)),
                                "refresh_token" => {
                                    refresh_ok = Some(v == format!("refresh-{user}"))
                                }
                                _ => {}
                            }
                        }
                    }
                    let auth = req
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                        .map(|l| l.split_once(':').unwrap().1.trim().to_string());
                    let user_ok = match &auth {
                        None => None,
                        Some(a) => {
                            use base64::Engine;
                            let raw = a.strip_prefix("Basic ").map(|b| {
                                base64::engine::general_purpose::STANDARD
                                    .decode(b)
                                    .unwrap_or_default()
                            });
                            let s = String::from_utf8(raw.unwrap_or_default()).unwrap_or_default();
                            Some(s == format!("{user}:{pass}"))
                        }
                    };
                    let user_ok = refresh_ok.or(user_ok);
                    if user_ok == Some(false) {
                        let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        return;
                    }
                    let mut access = Vec::new();
                    for sc in &scopes {
                        let parts: Vec<&str> = sc.splitn(3, ':').collect();
                        if parts.len() != 3 {
                            continue;
                        }
                        let (typ, name, actions) = (parts[0], parts[1], parts[2]);
                        let granted: Vec<&str> = actions
                            .split(',')
                            .filter(|a| {
                                user_ok == Some(true)
                                    || (*a == "pull" && name.starts_with("public/"))
                            })
                            .collect();
                        access.push(json!({"type": typ, "name": name, "actions": granted}));
                    }
                    let now = chrono::Utc::now().timestamp();
                    let x5c = {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.encode(&cert_der)
                    };
                    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
                    let claims = json!({"iss": "test-issuer", "sub": if user_ok == Some(true) { user } else { "" },
                        "aud": "test-registry", "exp": now + 300, "nbf": now - 10, "iat": now - 10,
                        "jti": format!("{now}-{}", ts.requests.load(Ordering::SeqCst)), "access": access});
                    let signing_input = format!(
                        "{}.{}",
                        b64url(header.to_string().as_bytes()),
                        b64url(claims.to_string().as_bytes())
                    );
                    let sig = key
                        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
                        .unwrap();
                    let token = format!("{signing_input}.{}", b64url(sig.as_ref()));
                    let body = if refresh_ok.is_some() {
                        json!({"access_token": token, "expires_in": 300})
                    } else {
                        json!({"token": token, "expires_in": 300})
                    }
                    .to_string();
                    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                });
            }
        });
        Some(ts)
    }
}

fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

// ---------------------------------------------------------------- fault proxy

/// What the proxy does to traffic from the registry to the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Pass everything.
    None,
    /// Close a connection once it has carried `after` bytes (`times` connections).
    Cut { after: u64, times: usize },
    /// Flip one byte at offset `at` of the first connection that gets that far.
    Corrupt { at: u64 },
    /// Stop forwarding (keep the connection open) once a connection carried `after` bytes.
    Stall { after: u64 },
}

/// A TCP proxy on loopback in front of a registry, counting bytes sent to the client.
pub struct Proxy {
    /// Its port.
    pub port: u16,
    /// 127.0.0.1:PORT
    pub host: String,
    /// Bytes forwarded to clients.
    pub down_bytes: Arc<AtomicU64>,
    fault: Arc<Mutex<Fault>>,
    stop: Arc<AtomicBool>,
    hide_range: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts a proxy to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicU64::new(0));
        let fault = Arc::new(Mutex::new(fault));
        let stop = Arc::new(AtomicBool::new(false));
        let hide_range = Arc::new(AtomicBool::new(false));
        let (d2, f2, s2, h2) = (
            down.clone(),
            fault.clone(),
            stop.clone(),
            hide_range.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (c2, s_2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // client -> server: a copy that can hide Range headers from the server
                // (which then answers 200 with the whole blob).
                let hide = h2.clone();
                std::thread::spawn(move || {
                    let (mut c, mut s) = (c2, s_2);
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match c.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if hide.load(Ordering::SeqCst) {
                            let pat = b"range: bytes=";
                            let mut i = 0;
                            while i + pat.len() <= n {
                                if buf[i..i + pat.len()].eq_ignore_ascii_case(pat) {
                                    buf[i] = b'X';
                                }
                                i += 1;
                            }
                        }
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s.shutdown(Shutdown::Write);
                });
                let (down, fault, stop) = (d2.clone(), f2.clone(), s2.clone());
                std::thread::spawn(move || pump_down(server, client, down, fault, stop));
            }
        });
        Proxy {
            port,
            host: format!("127.0.0.1:{port}"),
            down_bytes: down,
            fault,
            stop,
            hide_range,
        }
    }

    /// Changes the fault.
    pub fn set_fault(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }

    /// Hides (or not) `Range` request headers from the registry.
    pub fn hide_range(&self, on: bool) {
        self.hide_range.store(on, Ordering::SeqCst);
    }

    /// Bytes forwarded to clients so far.
    pub fn bytes(&self) -> u64 {
        self.down_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump_down(
    mut server: TcpStream,
    mut client: TcpStream,
    down: Arc<AtomicU64>,
    fault: Arc<Mutex<Fault>>,
    stop: Arc<AtomicBool>,
) {
    let mut conn_bytes = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n;
        let f = *fault.lock().unwrap();
        match f {
            Fault::Cut { after, times } if times > 0 && conn_bytes + n as u64 > after => {
                let keep = (after.saturating_sub(conn_bytes)) as usize;
                let _ = client.write_all(&buf[..keep]);
                down.fetch_add(keep as u64, Ordering::SeqCst);
                *fault.lock().unwrap() = if times > 1 {
                    Fault::Cut {
                        after,
                        times: times - 1,
                    }
                } else {
                    Fault::None
                };
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            Fault::Corrupt { at } if conn_bytes <= at && conn_bytes + n as u64 > at => {
                buf[(at - conn_bytes) as usize] ^= 0x5a;
                *fault.lock().unwrap() = Fault::None;
            }
            Fault::Stall { after } if conn_bytes + n as u64 > after => {
                n = (after.saturating_sub(conn_bytes)) as usize;
                let _ = client.write_all(&buf[..n]);
                down.fetch_add(n as u64, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) && *fault.lock().unwrap() != Fault::None {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            _ => {}
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        conn_bytes += n as u64;
        down.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = client.shutdown(Shutdown::Write);
}

// ---------------------------------------------------------------- fixtures

/// Deterministic pseudo-random bytes (incompressible, so layer sizes are predictable).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An uncompressed layer tar holding `files`.
pub fn layer_tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, p, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// gzip.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes an image with the given layer tars (gzip-compressed) into `store` under
/// `name` (if any). Returns the manifest descriptor.
pub fn put_image(store: &Store, name: Option<&str>, layers: &[Vec<u8>], arch: &str) -> Descriptor {
    let image = strata_store::NewImage {
        steps: layers
            .iter()
            .map(|t| strata_store::Step {
                created_by: "test".into(),
                layer: Some(t.clone()),
            })
            .collect(),
        created: "2024-01-02T03:04:05Z".into(),
        architecture: arch.into(),
        os: "linux".into(),
        config: json!({"Cmd": ["/bin/sh"]}),
    };
    let full = name.map(|n| {
        strata_oci::Reference::parse_with_default_tag(n)
            .unwrap()
            .to_string()
    });
    store.write_image(&image, full.as_deref()).unwrap()
}

/// Writes an index over `(manifest, "os/arch")` entries and names it.
pub fn put_index(store: &Store, name: &str, entries: &[(Descriptor, &str)]) -> Descriptor {
    let entries: Vec<_> = entries
        .iter()
        .map(|(d, p)| (d.clone(), strata_oci::Platform::parse(p).unwrap()))
        .collect();
    let full = strata_oci::Reference::parse_with_default_tag(name)
        .unwrap()
        .to_string();
    store.write_index(&entries, Some(&full)).unwrap()
}

/// Committed blob files in a store.
pub fn blob_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Bytes held by in-progress ingests of a store.
pub fn ingest_bytes(root: &Path) -> u64 {
    std::fs::read_dir(root.join("ingest"))
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    std::fs::metadata(e.path().join("data"))
                        .map(|m| m.len())
                        .unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0)
}
