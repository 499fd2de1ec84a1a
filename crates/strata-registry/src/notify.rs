//! Webhook notifications on push and delete, in CNCF Distribution's envelope
//! (`application/vnd.docker.distribution.events.v1+json`), delivered by background tasks
//! that retry with exponential backoff.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use strata_oci::Digest;
use tokio::sync::Semaphore;

use crate::config::NotificationConfig;

/// Media type of the event envelope.
pub const EVENTS_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// What an event is about.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventTarget {
    /// Media type of the manifest or blob.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Same as `size` (Distribution sends both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Digest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Repository.
    pub repository: String,
    /// Path of the object on this registry.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Tag, when the event concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl EventTarget {
    /// A pushed manifest.
    pub fn manifest(
        repo: &str,
        d: &Digest,
        media_type: &str,
        size: u64,
        tag: Option<&str>,
    ) -> Self {
        EventTarget {
            media_type: media_type.to_string(),
            size: Some(size),
            length: Some(size),
            digest: d.to_string(),
            repository: repo.to_string(),
            url: format!("/v2/{repo}/manifests/{d}"),
            tag: tag.map(str::to_string),
        }
    }
    /// A pushed blob.
    pub fn blob(repo: &str, d: &Digest, size: u64) -> Self {
        EventTarget {
            media_type: "application/octet-stream".to_string(),
            size: Some(size),
            length: Some(size),
            digest: d.to_string(),
            repository: repo.to_string(),
            url: format!("/v2/{repo}/blobs/{d}"),
            tag: None,
        }
    }
    /// A deleted manifest or blob.
    pub fn digest(repo: &str, d: &Digest) -> Self {
        EventTarget {
            digest: d.to_string(),
            repository: repo.to_string(),
            ..Default::default()
        }
    }
    /// A deleted tag.
    pub fn tag(repo: &str, tag: &str) -> Self {
        EventTarget {
            repository: repo.to_string(),
            tag: Some(tag.to_string()),
            ..Default::default()
        }
    }
}

/// Sends events to the configured endpoints.
pub struct Notifier {
    endpoints: Vec<NotificationConfig>,
    instance: String,
    source_addr: String,
    permits: Arc<Semaphore>,
}

impl Notifier {
    /// A notifier for `endpoints`; `source_addr` is this registry's listen address.
    pub fn new(endpoints: Vec<NotificationConfig>, source_addr: String) -> Self {
        let instance = crate::auth::random_bytes(16)
            .map(hex::encode)
            .unwrap_or_default();
        Notifier {
            endpoints,
            instance,
            source_addr,
            permits: Arc::new(Semaphore::new(32)),
        }
    }

    /// Queues one event for every endpoint (no-op without endpoints).
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        action: &str,
        target: EventTarget,
        actor: Option<String>,
        client: Option<SocketAddr>,
        host: String,
        method: &str,
        useragent: String,
    ) {
        if self.endpoints.is_empty() {
            return;
        }
        let id = crate::auth::random_bytes(16)
            .map(hex::encode)
            .unwrap_or_default();
        let envelope = serde_json::json!({
            "events": [{
                "id": id,
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "action": action,
                "target": target,
                "request": {
                    "id": id,
                    "addr": client.map(|c| c.to_string()).unwrap_or_default(),
                    "host": host,
                    "method": method,
                    "useragent": useragent,
                },
                "actor": { "name": actor.unwrap_or_default() },
                "source": { "addr": self.source_addr, "instanceID": self.instance },
            }]
        });
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        for ep in &self.endpoints {
            let ep = ep.clone();
            let body = body.clone();
            let permits = self.permits.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                let mut delay = Duration::from_millis(250);
                for attempt in 1..=ep.max_attempts.max(1) {
                    let timeout = Duration::from_secs(ep.timeout_secs.max(1));
                    match tokio::time::timeout(timeout, post(&ep, body.clone())).await {
                        Ok(Ok(status)) if (200..300).contains(&status) => return,
                        Ok(Ok(status)) => {
                            tracing::warn!(url = %ep.url, status, attempt, "webhook refused")
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(url = %ep.url, error = %e, attempt, "webhook failed")
                        }
                        Err(_) => tracing::warn!(url = %ep.url, attempt, "webhook timed out"),
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
                tracing::error!(url = %ep.url, "webhook event dropped after retries");
            });
        }
    }
}

async fn post(ep: &NotificationConfig, body: Vec<u8>) -> Result<u16, String> {
    let rest = ep
        .url
        .strip_prefix("http://")
        .ok_or("only http:// webhook URLs are supported")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = Request::post(path)
        .header("host", hostport)
        .header("content-type", EVENTS_MEDIA_TYPE)
        .header("content-length", body.len());
    for (k, v) in &ep.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Ok(status)
}
