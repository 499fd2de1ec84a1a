//! Shared test support: a minimal HTTP/1.1 client over real TCP (hyper), and image
//! fixtures. Each request opens its own connection so that headers are exactly as written.
#![allow(dead_code)]

pub mod suite;

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, k: &str) -> Option<String> {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The first error code in a spec error body.
    pub fn error_code(&self) -> Option<String> {
        self.json()["errors"][0]["code"]
            .as_str()
            .map(str::to_string)
    }
}

/// A client for one registry.
#[derive(Clone)]
pub struct Client {
    /// `host:port`.
    pub host: String,
    /// Authorization header value.
    pub auth: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let host = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Client { host, auth: None }
    }

    pub fn with_auth(&self, value: Option<String>) -> Self {
        Client {
            host: self.host.clone(),
            auth: value,
        }
    }

    /// Resolves an absolute or relative Location into a path.
    pub fn path_of(&self, location: &str) -> String {
        if let Some(rest) = location
            .strip_prefix("http://")
            .or_else(|| location.strip_prefix("https://"))
        {
            match rest.find('/') {
                Some(i) => rest[i..].to_string(),
                None => "/".into(),
            }
        } else {
            location.to_string()
        }
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let path = self.path_of(path);
        let Ok(stream) = tokio::net::TcpStream::connect(&self.host).await else {
            return Resp {
                status: 0,
                headers: Default::default(),
                body: b"connect failed".to_vec(),
            };
        };
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            return Resp {
                status: 0,
                headers: Default::default(),
                body: b"handshake failed".to_vec(),
            };
        };
        tokio::spawn(conn);
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(&path)
            .header("host", &self.host);
        let mut has_len = false;
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("content-length") {
                has_len = true;
            }
            b = b.header(*k, *v);
        }
        if path.contains("/manifests/")
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            b = b.header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, application/vnd.docker.distribution.manifest.list.v2+json"));
        }
        if let Some(a) = &self.auth {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            {
                b = b.header("authorization", a);
            }
        }
        if !has_len && (matches!(method, "PUT" | "POST" | "PATCH") || !body.is_empty()) {
            b = b.header("content-length", body.len());
        }
        let req = match b.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(e) => {
                return Resp {
                    status: 0,
                    headers: Default::default(),
                    body: format!("bad request: {e}").into_bytes(),
                }
            }
        };
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                return Resp {
                    status: 0,
                    headers: Default::default(),
                    body: format!("transport error: {e}").into_bytes(),
                }
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], vec![]).await
    }
    pub async fn head(&self, path: &str) -> Resp {
        self.req("HEAD", path, &[], vec![]).await
    }

    /// POST then PUT a blob; returns the final response.
    pub async fn push_blob(&self, name: &str, data: &[u8]) -> (String, Resp) {
        let d = sha256(data);
        let r = self
            .req("POST", &format!("/v2/{name}/blobs/uploads/"), &[], vec![])
            .await;
        let loc = r.header("location").unwrap_or_default();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = self
            .req(
                "PUT",
                &format!("{loc}{sep}digest={d}"),
                &[("content-type", "application/octet-stream")],
                data.to_vec(),
            )
            .await;
        (d, r)
    }

    pub async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Resp {
        self.req(
            "PUT",
            &format!("/v2/{name}/manifests/{reference}"),
            &[("content-type", media_type)],
            body.to_vec(),
        )
        .await
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Deterministic pseudo-random bytes.
pub fn bytes_of(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub fn descriptor(media_type: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": sha256(data), "size": data.len()})
}

/// An image manifest JSON for config + layers.
pub fn manifest(
    config: &[u8],
    layers: &[&[u8]],
    annotations: Option<BTreeMap<String, String>>,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers.iter().map(|l| descriptor(OCI_LAYER, l)).collect::<Vec<_>>(),
    });
    if let Some(a) = annotations {
        m["annotations"] = serde_json::to_value(a).unwrap();
    }
    serde_json::to_vec_pretty(&m).unwrap()
}
