//! The registry load generator: closed-loop GETs on a fixed number of keep-alive
//! connections (manifests, blobs), concurrent pushes of distinct images, and the raw
//! fetch of an image's blobs (the network floor of a pull). The same code drives every
//! server measured.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::http::{location_path, Body, Conn};
use crate::layout::{CONFIG, LAYER_GZIP, MANIFEST};
use crate::prng::Rng;

/// Accept header for manifests.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Result of a closed-loop GET run.
#[derive(Debug)]
pub struct GetStats {
    /// Requests completed in the measured window.
    pub requests: u64,
    /// Body bytes received in the window.
    pub bytes: u64,
    /// Length of the window in seconds.
    pub seconds: f64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
}

/// `conns` connections each GET `path` back to back for `warmup` then `secs` seconds;
/// only the second window is counted. Every response must be 200.
pub fn get_load(addr: &str, path: &str, conns: usize, warmup: f64, secs: f64) -> Result<GetStats> {
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let reqs = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let lat = std::sync::Mutex::new(Vec::<f64>::new());
    let mut window = 0.0;
    thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..conns)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut c = Conn::connect(addr)?;
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let r = c.request("GET", path, &[("Accept", ACCEPT)], Body::None, false)?;
                        if r.status != 200 {
                            bail!("GET {path}: status {}", r.status);
                        }
                        if measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                            reqs.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(r.body_len, Ordering::Relaxed);
                            mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    lat.lock().expect("lock").extend(mine);
                    Ok(())
                })
            })
            .collect();
        thread::sleep(Duration::from_secs_f64(warmup));
        let t0 = Instant::now();
        measuring.store(true, Ordering::SeqCst);
        thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::SeqCst);
        window = t0.elapsed().as_secs_f64();
        for h in hs {
            h.join().expect("load thread panicked")?;
        }
        Ok(())
    })?;
    let mut l = lat.into_inner().expect("lock");
    l.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if l.is_empty() {
            0.0
        } else {
            l[((l.len() - 1) as f64 * p) as usize]
        }
    };
    Ok(GetStats {
        requests: reqs.load(Ordering::SeqCst),
        bytes: bytes.load(Ordering::SeqCst),
        seconds: window,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

/// Deterministic pseudo-random blob content for push `(seed, conn, i)`.
fn blob_stream(
    seed: u64,
    stream: u64,
    size: u64,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut rng = Rng::new(seed, stream);
    let mut buf = vec![0u8; 256 << 10];
    let mut left = size;
    while left > 0 {
        let k = (left as usize).min(buf.len());
        rng.fill(&mut buf[..k]);
        sink(&buf[..k])?;
        left -= k as u64;
    }
    Ok(())
}

fn upload_blob(c: &mut Conn, repo: &str, digest: &str, body: Body<'_>) -> Result<()> {
    let r = c.request(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        Body::None,
        false,
    )?;
    if r.status != 202 {
        bail!("POST upload for {repo}: status {}", r.status);
    }
    let loc = location_path(
        r.header("location")
            .ok_or_else(|| anyhow!("upload without Location"))?,
    );
    let sep = if loc.contains('?') { '&' } else { '?' };
    let url = format!("{loc}{sep}digest={digest}");
    let r = c.request(
        "PUT",
        &url,
        &[("Content-Type", "application/octet-stream")],
        body,
        false,
    )?;
    if r.status != 201 {
        bail!("PUT blob {digest} to {repo}: status {}", r.status);
    }
    Ok(())
}

/// Result of a push run.
#[derive(Debug)]
pub struct PushStats {
    /// Images pushed.
    pub images: u64,
    /// Layer bytes sent.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// `conns` workers each push `per_conn` distinct images (one `size`-byte layer, a config
/// and a manifest) to `prefix-<conn>:<i>`, all at once.
pub fn push_load(
    addr: &str,
    prefix: &str,
    conns: usize,
    per_conn: usize,
    size: u64,
    seed: u64,
) -> Result<PushStats> {
    // Digests first (not timed), so the timed part streams the bytes once.
    let mut digests = vec![vec![String::new(); per_conn]; conns];
    thread::scope(|s| {
        for (ci, row) in digests.iter_mut().enumerate() {
            s.spawn(move || {
                for (i, d) in row.iter_mut().enumerate() {
                    let mut h = Sha256::new();
                    blob_stream(seed, (ci * 100_000 + i) as u64, size, |b| {
                        h.update(b);
                        Ok(())
                    })
                    .expect("hashing cannot fail");
                    *d = format!("sha256:{}", hex::encode(h.finalize()));
                }
            });
        }
    });
    let start = Instant::now();
    thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = digests
            .iter()
            .enumerate()
            .map(|(ci, row)| {
                s.spawn(move || -> Result<()> {
                    let mut c = Conn::connect(addr)?;
                    let repo = format!("{prefix}-{ci}");
                    for (i, digest) in row.iter().enumerate() {
                        let stream = (ci * 100_000 + i) as u64;
                        let mut f = |w: &mut dyn Write| blob_stream(seed, stream, size, |b| w.write_all(b));
                        upload_blob(&mut c, &repo, digest, Body::Stream(size, &mut f))?;
                        let config = serde_json::to_vec(&json!({
                            "architecture": "amd64", "os": "linux",
                            "config": {"Labels": {"bench.push": format!("{seed}-{ci}-{i}")}},
                            "rootfs": {"type": "layers", "diff_ids": [digest]},
                        }))?;
                        let cdigest = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
                        upload_blob(&mut c, &repo, &cdigest, Body::Bytes(&config))?;
                        let manifest = serde_json::to_vec(&json!({
                            "schemaVersion": 2, "mediaType": MANIFEST,
                            "config": {"mediaType": CONFIG, "digest": cdigest, "size": config.len()},
                            "layers": [{"mediaType": LAYER_GZIP, "digest": digest, "size": size}],
                        }))?;
                        let r = c.request(
                            "PUT",
                            &format!("/v2/{repo}/manifests/t{i}"),
                            &[("Content-Type", MANIFEST)],
                            Body::Bytes(&manifest),
                            false,
                        )?;
                        if r.status != 201 {
                            bail!("PUT manifest {repo}:t{i}: status {}", r.status);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().expect("push thread panicked")?;
        }
        Ok(())
    })?;
    Ok(PushStats {
        images: (conns * per_conn) as u64,
        bytes: (conns * per_conn) as u64 * size,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Fetches `repo:tag`'s manifest, config and layers (each layer on its own connection,
/// all at once), discarding the bytes. Returns (seconds, bytes).
pub fn fetch_image(addr: &str, repo: &str, tag: &str) -> Result<(f64, u64)> {
    let start = Instant::now();
    let mut c = Conn::connect(addr)?;
    let r = c.request(
        "GET",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", ACCEPT)],
        Body::None,
        true,
    )?;
    if r.status != 200 {
        bail!("GET manifest {repo}:{tag}: status {}", r.status);
    }
    let m: Value = serde_json::from_slice(&r.body)?;
    let mut digests = vec![m["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()];
    for l in m["layers"].as_array().into_iter().flatten() {
        digests.push(l["digest"].as_str().unwrap_or_default().to_string());
    }
    let total = AtomicU64::new(r.body_len);
    thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = digests
            .iter()
            .map(|d| {
                let total = &total;
                s.spawn(move || -> Result<()> {
                    let mut c = Conn::connect(addr)?;
                    let r = c.request(
                        "GET",
                        &format!("/v2/{repo}/blobs/{d}"),
                        &[],
                        Body::None,
                        false,
                    )?;
                    if r.status != 200 {
                        bail!("GET blob {d}: status {}", r.status);
                    }
                    total.fetch_add(r.body_len, Ordering::Relaxed);
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().expect("fetch thread panicked")?;
        }
        Ok(())
    })?;
    Ok((start.elapsed().as_secs_f64(), total.load(Ordering::SeqCst)))
}

/// Times one manifest GET round trip on a fresh connection (ms), median of `n`.
pub fn manifest_rtt(addr: &str, repo: &str, tag: &str, n: usize) -> Result<f64> {
    let mut v = Vec::new();
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let mut c = Conn::connect(addr)?;
        let r = c.request(
            "GET",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", ACCEPT)],
            Body::None,
            false,
        )?;
        if r.status != 200 {
            bail!("GET manifest {repo}:{tag}: status {}", r.status);
        }
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Ok(v[v.len() / 2])
}
