//! Request metrics in Prometheus text format, the per-client rate limiter, and the
//! middleware that applies both and writes one structured log line per request.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::RegistryState;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    in_flight: AtomicI64,
    bytes_served: AtomicU64,
    bytes_received: AtomicU64,
    blobs_pushed: AtomicU64,
    manifests_pushed: AtomicU64,
    rate_limited: AtomicU64,
    gc_runs: AtomicU64,
    gc_blobs_deleted: AtomicU64,
}

/// The route family of a path, used as a metric label.
pub fn route_label(path: &str) -> &'static str {
    if path == "/v2/" || path == "/v2" {
        "base"
    } else if path == "/v2/_catalog" {
        "catalog"
    } else if path.starts_with("/v2/") {
        if path.contains("/blobs/uploads") {
            "upload"
        } else if path.contains("/blobs/") {
            "blob"
        } else if path.contains("/manifests/") {
            "manifest"
        } else if path.ends_with("/tags/list") {
            "tags"
        } else if path.contains("/referrers/") {
            "referrers"
        } else {
            "other"
        }
    } else {
        match path {
            "/token" => "token",
            "/v1/search" => "search",
            "/metrics" => "metrics",
            "/healthz" => "healthz",
            _ => "other",
        }
    }
}

impl Metrics {
    fn observe(&self, method: &str, route: &'static str, status: u16, secs: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_string(), route, status)).or_default() += 1;
        }
        if let Ok(mut d) = self.durations.lock() {
            let h = d.entry(route).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }
    /// Counts bytes sent from blobs.
    pub fn bytes_served(&self, n: u64) {
        self.bytes_served.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts bytes received into uploads.
    pub fn bytes_received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts a completed blob upload.
    pub fn blob_pushed(&self) {
        self.blobs_pushed.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a stored manifest.
    pub fn manifest_pushed(&self) {
        self.manifests_pushed.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a garbage collection run.
    pub fn gc_ran(&self, deleted: u64) {
        self.gc_runs.fetch_add(1, Ordering::Relaxed);
        self.gc_blobs_deleted.fetch_add(deleted, Ordering::Relaxed);
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "# HELP registry_http_requests_total HTTP requests by method, route and status.\n",
        );
        s.push_str("# TYPE registry_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(s, "registry_http_requests_total{{method=\"{method}\",route=\"{route}\",code=\"{status}\"}} {n}");
            }
        }
        s.push_str("# HELP registry_http_request_duration_seconds Request latency by route.\n");
        s.push_str("# TYPE registry_http_request_duration_seconds histogram\n");
        if let Ok(d) = self.durations.lock() {
            for (route, h) in d.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(s, "registry_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(s, "registry_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(
                    s,
                    "registry_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    s,
                    "registry_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        let gauges: [(&str, &str, &str, i64); 8] = [
            (
                "registry_http_in_flight_requests",
                "gauge",
                "Requests being served.",
                self.in_flight.load(Ordering::Relaxed),
            ),
            (
                "registry_blob_bytes_served_total",
                "counter",
                "Blob bytes sent.",
                self.bytes_served.load(Ordering::Relaxed) as i64,
            ),
            (
                "registry_upload_bytes_received_total",
                "counter",
                "Upload bytes received.",
                self.bytes_received.load(Ordering::Relaxed) as i64,
            ),
            (
                "registry_blobs_pushed_total",
                "counter",
                "Completed blob uploads.",
                self.blobs_pushed.load(Ordering::Relaxed) as i64,
            ),
            (
                "registry_manifests_pushed_total",
                "counter",
                "Stored manifests.",
                self.manifests_pushed.load(Ordering::Relaxed) as i64,
            ),
            (
                "registry_rate_limited_total",
                "counter",
                "Requests answered 429.",
                self.rate_limited.load(Ordering::Relaxed) as i64,
            ),
            (
                "registry_gc_runs_total",
                "counter",
                "Garbage collection runs.",
                self.gc_runs.load(Ordering::Relaxed) as i64,
            ),
            (
                "registry_gc_blobs_deleted_total",
                "counter",
                "Blobs deleted by garbage collection.",
                self.gc_blobs_deleted.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        s
    }
}

/// A token bucket per client address.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` requests per second with bursts of `burst`; a rate of 0 disables limiting.
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; on refusal returns the seconds until one is available.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() > 100_000 {
            let (rate, burst) = (self.rate, self.burst);
            b.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * rate < burst
            });
        }
        let (tokens, last) = b.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware: rate limit, count, time and log every request.
pub(crate) async fn observe(
    State(st): State<Arc<RegistryState>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let route = route_label(&path);
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let limited = match client {
        Some(addr) if route != "healthz" && route != "metrics" => st.limiter.check(addr.ip()).err(),
        _ => None,
    };
    let resp = if let Some(wait) = limited {
        st.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many requests",
        )
        .with_header(header::RETRY_AFTER, wait.to_string())
        .into_response()
    } else {
        st.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let r = next.run(req).await;
        st.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        r
    };
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    st.metrics.observe(&method, route, status, secs);
    tracing::info!(
        target: "strata_registry::access",
        method = %method,
        path = %path,
        status,
        route,
        client = %client.map(|c| c.to_string()).unwrap_or_default(),
        user_agent = %ua,
        duration_ms = (secs * 1000.0) as u64,
        "request"
    );
    resp
}
