//! The registry client: endpoints, the `/v2/` ping, authentication, redirects, retries,
//! and the distribution API calls (manifests, blobs, uploads, tags, catalog, search).
//!
//! One [`Client`] is shared by a whole operation (it is cheap to clone). It pings each
//! registry once, remembers its challenge, caches Bearer tokens per scope until they
//! expire, and keeps one HTTP connection pool per host (each with that host's CAs).
//! Redirects are followed by hand so that `Authorization` is only ever sent to the host
//! it was meant for.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use strata_oci::{media, Descriptor, Digest, Reference, MAX_DOCUMENT_SIZE};

use crate::auth::{AuthFiles, Challenge, Credentials, TokenResponse};
use crate::config::{ClientConfig, DOCKER_HUB_INDEX};
use crate::error::{RemoteError, Result};

/// Largest error body read from a registry.
const MAX_ERROR_BODY: usize = 1 << 20;

/// A registry endpoint after its `/v2/` ping.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `scheme://host[:port]`.
    pub base: Url,
    /// The reference domain this endpoint serves (credentials are looked up for it).
    pub domain: String,
    /// The challenge of the ping, None when the registry needs no auth.
    pub challenge: Option<Challenge>,
    /// Whether this is a mirror rather than the origin.
    pub mirror: bool,
}

impl Endpoint {
    /// The host[:port] of the endpoint.
    pub fn host(&self) -> String {
        host_port(&self.base)
    }
}

fn host_port(u: &Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) if h.contains(':') => format!("[{h}]:{p}"),
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// A request body that can be sent again on a retry: bytes in memory, or a range of a
/// file streamed from disk (counting what went out in `sent`).
#[derive(Debug, Clone)]
pub enum Body {
    /// Bytes in memory.
    Bytes(Bytes),
    /// `len` bytes of `path` from `offset`.
    File {
        /// The file.
        path: PathBuf,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// Bytes handed to the connection so far (reset on each attempt).
        sent: Arc<AtomicU64>,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    fn to_reqwest(&self) -> Result<reqwest::Body> {
        match self {
            Body::Bytes(b) => Ok(reqwest::Body::from(b.clone())),
            Body::File {
                path,
                offset,
                len,
                sent,
            } => {
                let mut f = std::fs::File::open(path).map_err(|e| RemoteError::io(path, e))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| RemoteError::io(path, e))?;
                sent.store(0, Ordering::SeqCst);
                let stream = futures_util::stream::unfold(
                    (f, *len, sent.clone()),
                    |(mut f, rem, sent)| async move {
                        if rem == 0 {
                            return None;
                        }
                        let n = rem.min(256 * 1024) as usize;
                        let mut buf = vec![0u8; n];
                        match f.read_exact(&mut buf) {
                            Ok(()) => {
                                sent.fetch_add(n as u64, Ordering::SeqCst);
                                Some((
                                    Ok::<Bytes, std::io::Error>(Bytes::from(buf)),
                                    (f, rem - n as u64, sent),
                                ))
                            }
                            Err(e) => Some((Err(e), (f, 0, sent))),
                        }
                    },
                );
                Ok(reqwest::Body::wrap_stream(stream))
            }
        }
    }
}

/// Blobs up to this size are uploaded with a single PUT from memory.
const MONOLITHIC_MAX: u64 = 8 << 20;

/// A manifest or index as fetched: exact bytes, media type and digest (verified).
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The bytes as served.
    pub bytes: Vec<u8>,
    /// Media type (Content-Type, else the document's own).
    pub media_type: String,
    /// Digest of the bytes.
    pub digest: Digest,
}

impl FetchedManifest {
    /// A descriptor for it.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            &self.media_type,
            self.digest.clone(),
            self.bytes.len() as u64,
        )
    }
}

/// A blob body being streamed.
pub struct BlobStream {
    resp: reqwest::Response,
    /// Offset in the blob at which this body starts (0 unless a Range was honoured).
    pub offset: u64,
}

impl BlobStream {
    /// The next chunk of the body, None at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        Ok(self.resp.chunk().await?)
    }
}

/// One Docker Hub-style search result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// Official image.
    #[serde(default)]
    pub is_official: bool,
    /// Automated build (deprecated).
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    results: Vec<SearchResult>,
}

struct CachedToken {
    token: String,
    expires: Instant,
}

struct Inner {
    config: ClientConfig,
    auth: AuthFiles,
    http: Mutex<HashMap<String, reqwest::Client>>,
    endpoints: tokio::sync::Mutex<HashMap<String, Arc<Endpoint>>>,
    origins: tokio::sync::Mutex<HashMap<String, Arc<Endpoint>>>,
    dead_mirrors: Mutex<std::collections::HashSet<String>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
    creds: Mutex<HashMap<String, Option<Credentials>>>,
}

/// The registry client. Clones share connections, endpoints and tokens.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What a request needs from the auth layer: the token scopes.
pub type Scopes = Vec<String>;

/// `repository:NAME:ACTIONS`.
pub fn repo_scope(path: &str, actions: &str) -> String {
    format!("repository:{path}:{actions}")
}

/// Docker's text for a registry error document: `code lowercased: message`.
fn error_text(body: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(Deserialize)]
    struct Es {
        errors: Vec<E>,
    }
    let es: Es = serde_json::from_slice(body).ok()?;
    let e = es.errors.into_iter().next()?;
    let code_text = e.code.to_lowercase().replace('_', " ");
    let text = if e.message.is_empty() {
        code_text.clone()
    } else {
        format!("{code_text}: {}", e.message)
    };
    Some((e.code, text))
}

impl Client {
    /// A client with `config`.
    pub fn new(config: ClientConfig) -> Client {
        let auth = AuthFiles::from_config(&config);
        Client {
            inner: Arc::new(Inner {
                config,
                auth,
                http: Mutex::new(HashMap::new()),
                endpoints: tokio::sync::Mutex::new(HashMap::new()),
                origins: tokio::sync::Mutex::new(HashMap::new()),
                dead_mirrors: Mutex::new(Default::default()),
                tokens: Mutex::new(HashMap::new()),
                creds: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The credential files.
    pub fn auth_files(&self) -> &AuthFiles {
        &self.inner.auth
    }

    /// Uses `creds` for `domain` in this client (instead of the files) — `login` checks
    /// credentials this way before storing them.
    pub fn set_credentials(&self, domain: &str, creds: Option<Credentials>) {
        self.inner
            .creds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(domain.to_string(), creds);
    }

    fn credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        if let Some(c) = self
            .inner
            .creds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain)
        {
            return Ok(c.clone());
        }
        let c = self.inner.auth.get(domain)?;
        self.inner
            .creds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(domain.to_string(), c.clone());
        Ok(c)
    }

    fn http_for(&self, host: &str) -> Result<reqwest::Client> {
        let mut m = self.inner.http.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = m.get(host) {
            return Ok(c.clone());
        }
        let cfg = &self.inner.config;
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(cfg.user_agent.clone());
        for f in cfg.ca_files(host) {
            let pem = std::fs::read(&f).map_err(|e| RemoteError::io(&f, e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| RemoteError::Config(format!("{}: {e}", f.display())))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let c = b.build().map_err(RemoteError::from)?;
        m.insert(host.to_string(), c.clone());
        Ok(c)
    }

    /// Pings `base` (`scheme://host`) and records the endpoint.
    async fn ping_base(
        &self,
        base: Url,
        domain: &str,
        mirror: bool,
        timeout: Option<Duration>,
    ) -> Result<Arc<Endpoint>> {
        let key = format!("{base}|{domain}");
        if let Some(e) = self.inner.endpoints.lock().await.get(&key) {
            return Ok(e.clone());
        }
        let http = self.http_for(&host_port(&base))?;
        let url = base
            .join("/v2/")
            .map_err(|e| RemoteError::Invalid(e.to_string()))?;
        let mut req = http.get(url.clone());
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await?;
        let challenge = match resp.status() {
            s if s.is_success() => None,
            StatusCode::UNAUTHORIZED => resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(Challenge::parse)
                .find(|c| c.scheme == "bearer" || c.scheme == "basic"),
            s => {
                return Err(RemoteError::Registry {
                    status: s.as_u16(),
                    code: String::new(),
                    message: format!("Get \"{url}\": unexpected status {s}"),
                })
            }
        };
        let ep = Arc::new(Endpoint {
            base,
            domain: domain.to_string(),
            challenge,
            mirror,
        });
        self.inner.endpoints.lock().await.insert(key, ep.clone());
        Ok(ep)
    }

    /// The origin endpoint of a registry domain, pinged: HTTPS, or for insecure
    /// registries HTTPS falling back to plain HTTP.
    pub async fn endpoint(&self, domain: &str) -> Result<Arc<Endpoint>> {
        // Held across the probe so that concurrent callers wait for one answer.
        let mut origins = self.inner.origins.lock().await;
        if let Some(e) = origins.get(domain) {
            return Ok(e.clone());
        }
        let host = ClientConfig::registry_host(domain);
        let https = Url::parse(&format!("https://{host}/"))
            .map_err(|e| RemoteError::Invalid(format!("invalid registry {host}: {e}")))?;
        let ep = if !self.inner.config.is_insecure(host) {
            self.ping_base(https, domain, false, None).await?
        } else {
            // Docker's order for insecure registries: HTTPS first, then plain HTTP. The
            // probe is bounded so a plain-HTTP server that never answers a TLS hello
            // does not stall every pull.
            match self
                .ping_base(https, domain, false, Some(Duration::from_secs(10)))
                .await
            {
                Ok(e) => e,
                Err(RemoteError::Transport(_)) => {
                    let http = Url::parse(&format!("http://{host}/"))
                        .map_err(|e| RemoteError::Invalid(e.to_string()))?;
                    self.ping_base(http, domain, false, None).await?
                }
                Err(e) => return Err(e),
            }
        };
        origins.insert(domain.to_string(), ep.clone());
        Ok(ep)
    }

    /// Endpoints to pull from: the configured mirrors that answer, then the origin.
    pub async fn pull_endpoints(&self, domain: &str) -> Result<Vec<Arc<Endpoint>>> {
        let mut out = Vec::new();
        if let Some(ms) = self.inner.config.mirrors.get(domain) {
            for m in ms {
                let Ok(mut u) = Url::parse(m) else { continue };
                u.set_path("/");
                if self
                    .inner
                    .dead_mirrors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(m)
                {
                    continue;
                }
                match self
                    .ping_base(
                        u.clone(),
                        &host_port(&u),
                        true,
                        Some(Duration::from_secs(10)),
                    )
                    .await
                {
                    Ok(e) => out.push(e),
                    Err(e) => {
                        tracing::warn!("mirror {m} unavailable: {e}");
                        self.inner
                            .dead_mirrors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(m.clone());
                    }
                }
            }
        }
        // With a live mirror, an unreachable origin is not fatal (Docker Hub offline,
        // a mirror on the LAN): the mirrors serve, and the origin stays the fallback
        // only when it answers.
        match self.endpoint(domain).await {
            Ok(e) => out.push(e),
            Err(e) if !out.is_empty() => {
                tracing::warn!("registry {domain} unavailable, using its mirrors: {e}");
            }
            Err(e) => return Err(e),
        }
        Ok(out)
    }

    async fn token(
        &self,
        ep: &Endpoint,
        ch: &Challenge,
        scopes: &[String],
        fresh: bool,
    ) -> Result<String> {
        let realm = ch
            .param("realm")
            .ok_or_else(|| RemoteError::Invalid("auth challenge without realm".into()))?;
        let service = ch.param("service").unwrap_or_default();
        let key = format!("{realm}|{service}|{}|{}", ep.domain, scopes.join(" "));
        if !fresh {
            if let Some(t) = self
                .inner
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
            {
                if t.expires > Instant::now() {
                    return Ok(t.token.clone());
                }
            }
        }
        let mut url = Url::parse(realm)
            .map_err(|e| RemoteError::Invalid(format!("invalid token realm {realm}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if !service.is_empty() {
                q.append_pair("service", service);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let creds = self.credentials(&ep.domain)?;
        let http = self.http_for(&host_port(&url))?;
        let req = match &creds {
            // An identity token (Docker's `<token>` user) is an OAuth2 refresh token:
            // exchange it with a POST to the realm, as Docker does.
            Some(c) if c.username == "<token>" => {
                let mut form = Url::parse("http://form.invalid/").expect("static url");
                {
                    let mut q = form.query_pairs_mut();
                    q.append_pair("grant_type", "refresh_token")
                        .append_pair("refresh_token", &c.password)
                        .append_pair("client_id", "strata");
                    if !service.is_empty() {
                        q.append_pair("service", service);
                    }
                    if !scopes.is_empty() {
                        q.append_pair("scope", &scopes.join(" "));
                    }
                }
                let body = form.query().unwrap_or_default().to_string();
                let mut post = Url::parse(realm).map_err(|e| {
                    RemoteError::Invalid(format!("invalid token realm {realm}: {e}"))
                })?;
                post.set_query(None);
                http.post(post)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            Some(c) => http
                .get(url.clone())
                .header(AUTHORIZATION, c.basic_header()),
            None => http.get(url.clone()),
        };
        let resp = req.send().await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(if creds.is_some() {
                RemoteError::Unauthorized("incorrect username or password".into())
            } else {
                RemoteError::Unauthorized("authentication required".into())
            });
        }
        if !status.is_success() {
            return Err(RemoteError::Registry {
                status: status.as_u16(),
                code: String::new(),
                message: format!(
                    "fetching token from {}: unexpected status {status}",
                    host_port(&url)
                ),
            });
        }
        let body = read_limited(resp, MAX_ERROR_BODY).await?;
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            RemoteError::Invalid(format!(
                "invalid token response from {}: {e}",
                host_port(&url)
            ))
        })?;
        let token = t
            .bearer()
            .ok_or_else(|| RemoteError::Invalid("token response without a token".into()))?
            .to_string();
        let ttl = t.expires_in.unwrap_or(60).max(1);
        // Renew a little early so a token never expires in flight.
        let expires = Instant::now()
            + Duration::from_secs(ttl).saturating_sub(Duration::from_secs(ttl.min(10) / 2));
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key,
                CachedToken {
                    token: token.clone(),
                    expires,
                },
            );
        Ok(token)
    }

    async fn auth_header(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        fresh: bool,
    ) -> Result<Option<String>> {
        match &ep.challenge {
            None => Ok(None),
            Some(ch) if ch.scheme == "basic" => {
                Ok(self.credentials(&ep.domain)?.map(|c| c.basic_header()))
            }
            Some(ch) => Ok(Some(format!(
                "Bearer {}",
                self.token(ep, ch, scopes, fresh).await?
            ))),
        }
    }

    /// Sends one request to `ep` with auth, following redirects (auth only to the same
    /// host), answering one 401 with a fresh token, and retrying transport errors, 5xx
    /// and 429 with backoff. `body` must be re-sendable, hence `Bytes`.
    pub async fn send(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Body>,
    ) -> Result<reqwest::Response> {
        let attempts = self.inner.config.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = self
                .send_once(
                    ep,
                    scopes,
                    method.clone(),
                    url.clone(),
                    headers.clone(),
                    body.clone(),
                )
                .await;
            let retry = match &r {
                Err(e) => e.is_retryable(),
                Ok(resp) => {
                    resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS
                }
            };
            if !retry || attempt >= attempts {
                return r;
            }
            // A registry's Retry-After (seconds) wins over our backoff, within reason.
            let retry_after = r
                .as_ref()
                .ok()
                .and_then(|resp| resp.headers().get(reqwest::header::RETRY_AFTER))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|secs| Duration::from_secs(secs.min(60)));
            let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
            tracing::debug!("retrying {method} {url} in {delay:?}");
            tokio::time::sleep(delay).await;
        }
    }

    /// The delay before retry number `attempt` (1-based): none for the first, then
    /// `retry_delay` doubling.
    pub fn backoff(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        self.inner
            .config
            .retry_delay
            .saturating_mul(1 << (attempt - 2).min(6))
    }

    async fn send_once(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Body>,
    ) -> Result<reqwest::Response> {
        let mut retried = false;
        let mut scopes: Vec<String> = scopes.to_vec();
        let mut auth = self.auth_header(ep, &scopes, false).await?;
        loop {
            let mut cur = url.clone();
            let mut redirects = 0;
            let resp = loop {
                let same_host = cur.scheme() == ep.base.scheme() && host_port(&cur) == ep.host();
                let http = self.http_for(&host_port(&cur))?;
                let mut req = http
                    .request(method.clone(), cur.clone())
                    .headers(headers.clone());
                if same_host {
                    if let Some(a) = &auth {
                        req = req.header(AUTHORIZATION, a);
                    }
                }
                match &body {
                    Some(b) => req = req.header(CONTENT_LENGTH, b.len()).body(b.to_reqwest()?),
                    None if method == Method::PUT
                        || method == Method::POST
                        || method == Method::PATCH =>
                    {
                        req = req.header(CONTENT_LENGTH, 0)
                    }
                    None => {}
                }
                let resp = req.send().await?;
                if resp.status().is_redirection()
                    && (method == Method::GET || method == Method::HEAD)
                    && redirects < 10
                {
                    if let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) {
                        cur = cur.join(loc).map_err(|e| {
                            RemoteError::Invalid(format!("bad redirect {loc}: {e}"))
                        })?;
                        redirects += 1;
                        continue;
                    }
                }
                break resp;
            };
            if resp.status() == StatusCode::UNAUTHORIZED && !retried {
                // The token may have expired or lack a scope the registry names, or a
                // registry open at /v2/ may want credentials for this repository: answer
                // the challenge of this response once.
                let challenges: Vec<Challenge> = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(Challenge::parse)
                    .collect();
                let ch = challenges
                    .iter()
                    .find(|c| c.scheme == "bearer")
                    .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
                    .cloned()
                    .or_else(|| ep.challenge.clone());
                if let Some(ch) = ch {
                    if let Some(s) = ch.param("scope") {
                        for part in s.split(' ') {
                            if !scopes.iter().any(|x| x == part) {
                                scopes.push(part.to_string());
                            }
                        }
                    }
                    retried = true;
                    let next = if ch.scheme == "bearer" {
                        Some(format!(
                            "Bearer {}",
                            self.token(ep, &ch, &scopes, true).await?
                        ))
                    } else {
                        self.credentials(&ep.domain)?.map(|c| c.basic_header())
                    };
                    if next.is_some() && next != auth {
                        auth = next;
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
    }

    /// Builds `base` + `path` (path already escaped).
    fn url(ep: &Endpoint, path: &str) -> Result<Url> {
        ep.base
            .join(path)
            .map_err(|e| RemoteError::Invalid(format!("{path}: {e}")))
    }

    /// Turns a non-success response into an error with Docker's wording.
    pub async fn error(resp: reqwest::Response, what: &str) -> RemoteError {
        let status = resp.status();
        let body = read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
        match error_text(&body) {
            Some((code, text)) => RemoteError::Registry {
                status: status.as_u16(),
                code,
                message: text,
            },
            None => RemoteError::Registry {
                status: status.as_u16(),
                code: String::new(),
                message: format!("{what}: unexpected status {status}"),
            },
        }
    }

    fn accept_manifests() -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = media::ACCEPT_MANIFESTS.join(", ");
        h.insert(ACCEPT, HeaderValue::from_str(&v).expect("ascii"));
        h
    }

    fn manifest_ref(r: &Reference) -> String {
        match (r.digest(), r.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => strata_oci::reference::DEFAULT_TAG.to_string(),
        }
    }

    async fn fetch_manifest_at(
        &self,
        ep: &Endpoint,
        r: &Reference,
        scopes: &[String],
    ) -> Result<FetchedManifest> {
        let url = Self::url(
            ep,
            &format!("/v2/{}/manifests/{}", r.path(), Self::manifest_ref(r)),
        )?;
        let resp = self
            .send(ep, scopes, Method::GET, url, Self::accept_manifests(), None)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.map_pull_error(resp, r).await);
        }
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| Digest::parse(s).ok());
        let bytes = read_limited(resp, MAX_DOCUMENT_SIZE).await?;
        let digest = match r.digest() {
            Some(d) => {
                let actual = d.same_algorithm_of(&bytes);
                if &actual != d {
                    return Err(RemoteError::DigestMismatch {
                        what: format!("manifest {r}"),
                        expected: d.clone(),
                        actual,
                    });
                }
                d.clone()
            }
            None => {
                let actual = Digest::sha256_of(&bytes);
                if let Some(h) = header_digest.filter(|h| h.algorithm() == actual.algorithm()) {
                    if h != actual {
                        return Err(RemoteError::DigestMismatch {
                            what: format!("manifest {r}"),
                            expected: h,
                            actual,
                        });
                    }
                }
                actual
            }
        };
        let doc = strata_oci::Document::parse(&bytes, ct.as_deref())?;
        let media_type = match ct {
            Some(c) if media::is_manifest(&c) || media::is_index(&c) => c,
            _ => doc.media_type().to_string(),
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    async fn map_pull_error(&self, resp: reqwest::Response, r: &Reference) -> RemoteError {
        let status = resp.status();
        let e = Self::error(resp, &format!("fetching manifest {r}")).await;
        match (status, &e) {
            (StatusCode::NOT_FOUND, RemoteError::Registry { code, .. })
                if code == "MANIFEST_UNKNOWN" || code.is_empty() =>
            {
                RemoteError::ManifestUnknown(r.familiar_string())
            }
            (StatusCode::NOT_FOUND, RemoteError::Registry { code, .. })
                if code == "NAME_UNKNOWN" =>
            {
                RemoteError::PullDenied(r.familiar_name())
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                RemoteError::PullDenied(r.familiar_name())
            }
            _ => e,
        }
    }

    /// Fetches a manifest or index by tag or digest, verified against its digest,
    /// trying mirrors first.
    pub async fn fetch_manifest(&self, r: &Reference) -> Result<FetchedManifest> {
        let scopes = vec![repo_scope(r.path(), "pull")];
        let eps = self.pull_endpoints(r.domain()).await?;
        let mut last = None;
        for ep in &eps {
            match self.fetch_manifest_at(ep, r, &scopes).await {
                Ok(m) => return Ok(m),
                Err(RemoteError::Unauthorized(_)) if !ep.mirror => {
                    return Err(RemoteError::PullDenied(r.familiar_name()))
                }
                Err(e) if ep.mirror => {
                    tracing::warn!("mirror {} failed for {r}: {e}", ep.base);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RemoteError::ManifestUnknown(r.familiar_string())))
    }

    /// Resolves a reference to the descriptor it names (HEAD, else GET).
    pub async fn resolve(&self, r: &Reference) -> Result<Descriptor> {
        let ep = self.endpoint(r.domain()).await?;
        let scopes = vec![repo_scope(r.path(), "pull")];
        let url = Self::url(
            &ep,
            &format!("/v2/{}/manifests/{}", r.path(), Self::manifest_ref(r)),
        )?;
        if let Ok(resp) = self
            .send(
                &ep,
                &scopes,
                Method::HEAD,
                url,
                Self::accept_manifests(),
                None,
            )
            .await
        {
            let h = resp.headers();
            let d = h
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| Digest::parse(s).ok());
            let ct = h
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
            let len = h
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok());
            if let (true, Some(d), Some(ct), Some(len)) = (resp.status().is_success(), d, ct, len) {
                if media::is_manifest(&ct) || media::is_index(&ct) {
                    return Ok(Descriptor::new(&ct, d, len));
                }
            }
        }
        Ok(self.fetch_manifest(r).await?.descriptor())
    }

    /// Starts a blob download at `offset` (a `Range` request when > 0). The returned
    /// stream's `offset` says where its body starts: `offset` when the registry honoured
    /// the range with a 206 and a matching `Content-Range`, else 0 (start over).
    pub async fn fetch_blob(
        &self,
        repo: &Reference,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream> {
        let scopes = vec![repo_scope(repo.path(), "pull")];
        let eps = self.pull_endpoints(repo.domain()).await?;
        let mut last = None;
        for ep in &eps {
            match self.fetch_blob_at(ep, &scopes, repo, desc, offset).await {
                Ok(s) => return Ok(s),
                Err(e) if ep.mirror => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RemoteError::Transport("no endpoint".into())))
    }

    async fn fetch_blob_at(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        repo: &Reference,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream> {
        let url = Self::url(ep, &format!("/v2/{}/blobs/{}", repo.path(), desc.digest))?;
        let mut headers = HeaderMap::new();
        if offset > 0 {
            headers.insert(
                reqwest::header::RANGE,
                HeaderValue::from_str(&format!("bytes={offset}-")).expect("ascii"),
            );
        }
        let resp = self
            .send(ep, scopes, Method::GET, url.clone(), headers, None)
            .await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                let cr = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if content_range_start(cr) == Some(offset) {
                    return Ok(BlobStream { resp, offset });
                }
                // A range we did not ask for: start over without one.
                drop(resp);
                let resp = self
                    .send(ep, scopes, Method::GET, url, HeaderMap::new(), None)
                    .await?;
                if !resp.status().is_success() {
                    return Err(Self::error(resp, &format!("fetching blob {}", desc.digest)).await);
                }
                Ok(BlobStream { resp, offset: 0 })
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let resp = self
                    .send(ep, scopes, Method::GET, url, HeaderMap::new(), None)
                    .await?;
                if !resp.status().is_success() {
                    return Err(Self::error(resp, &format!("fetching blob {}", desc.digest)).await);
                }
                Ok(BlobStream { resp, offset: 0 })
            }
            s if s.is_success() => Ok(BlobStream { resp, offset: 0 }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(RemoteError::PullDenied(repo.familiar_name()))
            }
            _ => Err(Self::error(resp, &format!("fetching blob {}", desc.digest)).await),
        }
    }

    /// Fetches a small blob (a config) whole, verifying digest and size.
    pub async fn fetch_blob_bytes(&self, repo: &Reference, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > MAX_DOCUMENT_SIZE as u64 {
            return Err(RemoteError::Invalid(format!(
                "blob {} is too large to read into memory ({} bytes)",
                desc.digest, desc.size
            )));
        }
        let mut s = self.fetch_blob(repo, desc, 0).await?;
        let mut buf = Vec::with_capacity(desc.size as usize);
        while let Some(c) = s.chunk().await? {
            buf.extend_from_slice(&c);
            if buf.len() as u64 > desc.size {
                return Err(RemoteError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: buf.len() as u64,
                });
            }
        }
        if buf.len() as u64 != desc.size {
            return Err(RemoteError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: buf.len() as u64,
            });
        }
        let actual = desc.digest.same_algorithm_of(&buf);
        if actual != desc.digest {
            return Err(RemoteError::DigestMismatch {
                what: format!("blob {}", desc.digest),
                expected: desc.digest.clone(),
                actual,
            });
        }
        Ok(buf)
    }

    /// Whether `repo` has blob `d` (HEAD).
    pub async fn blob_exists(&self, repo: &Reference, d: &Digest) -> Result<bool> {
        let ep = self.endpoint(repo.domain()).await?;
        let scopes = vec![repo_scope(repo.path(), "pull,push")];
        let url = Self::url(&ep, &format!("/v2/{}/blobs/{d}", repo.path()))?;
        let resp = self
            .send(&ep, &scopes, Method::HEAD, url, HeaderMap::new(), None)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RemoteError::PushDenied),
            s => Err(RemoteError::Registry {
                status: s.as_u16(),
                code: String::new(),
                message: format!("checking blob {d}: unexpected status {s}"),
            }),
        }
    }

    /// Tries a cross-repository mount of `d` from `from` (a path on the same registry).
    /// Returns true when the registry mounted it (201); false when it did not (202: the
    /// upload session it opened instead is left to expire).
    pub async fn mount_blob(&self, repo: &Reference, d: &Digest, from: &str) -> Result<bool> {
        let ep = self.endpoint(repo.domain()).await?;
        let scopes = vec![
            repo_scope(repo.path(), "pull,push"),
            repo_scope(from, "pull"),
        ];
        let mut url = Self::url(&ep, &format!("/v2/{}/blobs/uploads/", repo.path()))?;
        url.query_pairs_mut()
            .append_pair("mount", &d.to_string())
            .append_pair("from", from);
        let resp = self
            .send(&ep, &scopes, Method::POST, url, HeaderMap::new(), None)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => Ok(false),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RemoteError::PushDenied),
            _ => Err(Self::error(resp, &format!("mounting blob {d}")).await),
        }
    }

    async fn start_upload(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        repo: &Reference,
    ) -> Result<Url> {
        let url = Self::url(ep, &format!("/v2/{}/blobs/uploads/", repo.path()))?;
        let resp = self
            .send(
                ep,
                scopes,
                Method::POST,
                url.clone(),
                HeaderMap::new(),
                None,
            )
            .await?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::CREATED => location(&resp, &url),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RemoteError::PushDenied),
            _ => Err(Self::error(resp, "starting upload").await),
        }
    }

    /// Uploads the blob in file `path`: one PUT from memory when it is small; else, when
    /// `chunk_size` is 0, one streamed PATCH (Docker's way) then a closing PUT; else
    /// PATCH chunks of `chunk_size` with `Content-Range`, then the PUT. `progress` gets
    /// the bytes sent so far.
    pub async fn push_blob<P: FnMut(u64)>(
        &self,
        repo: &Reference,
        desc: &Descriptor,
        path: &Path,
        chunk_size: u64,
        mut progress: P,
    ) -> Result<()> {
        let ep = self.endpoint(repo.domain()).await?;
        let scopes = vec![repo_scope(repo.path(), "pull,push")];
        let mut loc = self.start_upload(&ep, &scopes, repo).await?;
        let octets = || {
            let mut h = HeaderMap::new();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h
        };
        let mut put_body = None;
        if desc.size <= MONOLITHIC_MAX && (chunk_size == 0 || desc.size <= chunk_size) {
            let mut f = std::fs::File::open(path).map_err(|e| RemoteError::io(path, e))?;
            let mut buf = Vec::with_capacity(desc.size as usize);
            (&mut f)
                .take(desc.size + 1)
                .read_to_end(&mut buf)
                .map_err(|e| RemoteError::io(path, e))?;
            if buf.len() as u64 != desc.size {
                return Err(RemoteError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: buf.len() as u64,
                });
            }
            put_body = Some(Body::Bytes(Bytes::from(buf)));
        } else {
            let chunk = if chunk_size == 0 {
                desc.size
            } else {
                chunk_size
            };
            let mut off = 0u64;
            while off < desc.size {
                let n = chunk.min(desc.size - off);
                let mut h = octets();
                if chunk < desc.size {
                    h.insert(
                        reqwest::header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("{}-{}", off, off + n - 1)).expect("ascii"),
                    );
                }
                let sent = Arc::new(AtomicU64::new(0));
                let body = Body::File {
                    path: path.to_path_buf(),
                    offset: off,
                    len: n,
                    sent: sent.clone(),
                };
                let fut = self.send(&ep, &scopes, Method::PATCH, loc.clone(), h, Some(body));
                tokio::pin!(fut);
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                let resp = loop {
                    tokio::select! {
                        r = &mut fut => break r?,
                        _ = tick.tick() => progress(off + sent.load(Ordering::SeqCst)),
                    }
                };
                if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
                    return Err(match resp.status() {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RemoteError::PushDenied,
                        _ => Self::error(resp, &format!("uploading blob {}", desc.digest)).await,
                    });
                }
                loc = location(&resp, &loc)?;
                off += n;
                progress(off);
            }
        }
        let mut put = loc.clone();
        put.query_pairs_mut()
            .append_pair("digest", &desc.digest.to_string());
        let resp = self
            .send(&ep, &scopes, Method::PUT, put, octets(), put_body)
            .await?;
        match resp.status() {
            StatusCode::CREATED
            | StatusCode::NO_CONTENT
            | StatusCode::OK
            | StatusCode::ACCEPTED => {
                progress(desc.size);
                Ok(())
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RemoteError::PushDenied),
            _ => Err(Self::error(resp, &format!("uploading blob {}", desc.digest)).await),
        }
    }

    /// Uploads a manifest or index under `reference` (a tag or its digest). Returns the
    /// digest the registry reports (else the bytes').
    pub async fn push_manifest(
        &self,
        repo: &Reference,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest> {
        let ep = self.endpoint(repo.domain()).await?;
        let scopes = vec![repo_scope(repo.path(), "pull,push")];
        let url = Self::url(&ep, &format!("/v2/{}/manifests/{reference}", repo.path()))?;
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|e| RemoteError::Invalid(e.to_string()))?,
        );
        let digest = Digest::sha256_of(&bytes);
        let resp = self
            .send(
                &ep,
                &scopes,
                Method::PUT,
                url,
                h,
                Some(Body::Bytes(Bytes::from(bytes))),
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| Digest::parse(s).ok())
                .unwrap_or(digest)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RemoteError::PushDenied),
            _ => Err(Self::error(resp, &format!("pushing manifest {reference}")).await),
        }
    }

    async fn paginate(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        first: Url,
        field: &str,
        what: &str,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 100_000 {
                break;
            }
            let resp = self
                .send(ep, scopes, Method::GET, url.clone(), HeaderMap::new(), None)
                .await?;
            if !resp.status().is_success() {
                return Err(match resp.status() {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        RemoteError::Unauthorized(format!("access to {what} denied"))
                    }
                    _ => Self::error(resp, what).await,
                });
            }
            next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|l| l.to_str().ok())
                .and_then(link_next)
                .and_then(|l| url.join(&l).ok());
            let body = read_limited(resp, 64 << 20).await?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| RemoteError::Invalid(format!("{what}: {e}")))?;
            if let Some(a) = v.get(field).and_then(|t| t.as_array()) {
                out.extend(a.iter().filter_map(|t| t.as_str().map(str::to_string)));
            }
        }
        Ok(out)
    }

    /// Every tag of a repository (following `Link: rel="next"` pages).
    pub async fn tags(&self, repo: &Reference) -> Result<Vec<String>> {
        let scopes = vec![repo_scope(repo.path(), "pull")];
        let ep = self.endpoint(repo.domain()).await?;
        let mut url = Self::url(&ep, &format!("/v2/{}/tags/list", repo.path()))?;
        url.query_pairs_mut()
            .append_pair("n", &self.inner.config.page_size.max(1).to_string());
        self.paginate(
            &ep,
            &scopes,
            url,
            "tags",
            &format!("tags of {}", repo.familiar_name()),
        )
        .await
        .map_err(|e| match e {
            RemoteError::Unauthorized(_) => RemoteError::PullDenied(repo.familiar_name()),
            RemoteError::Registry { status: 404, .. } => {
                RemoteError::PullDenied(repo.familiar_name())
            }
            e => e,
        })
    }

    /// Every repository of a registry (`/v2/_catalog`, paginated).
    pub async fn catalog(&self, domain: &str) -> Result<Vec<String>> {
        let scopes = vec!["registry:catalog:*".to_string()];
        let ep = self.endpoint(domain).await?;
        let mut url = Self::url(&ep, "/v2/_catalog")?;
        url.query_pairs_mut()
            .append_pair("n", &self.inner.config.page_size.max(1).to_string());
        self.paginate(
            &ep,
            &scopes,
            url,
            "repositories",
            &format!("catalog of {domain}"),
        )
        .await
    }

    /// Searches a registry: Docker Hub's `/v1/search` for `docker.io`; elsewhere
    /// `/v1/search` when the registry has it, else the catalog filtered by `term`.
    pub async fn search(
        &self,
        domain: &str,
        term: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>> {
        let (ep, base) = if domain == "docker.io" {
            let base = Url::parse(&format!("https://{DOCKER_HUB_INDEX}/")).expect("static url");
            (
                Arc::new(Endpoint {
                    base: base.clone(),
                    domain: domain.into(),
                    challenge: None,
                    mirror: false,
                }),
                base,
            )
        } else {
            let ep = self.endpoint(domain).await?;
            let b = ep.base.clone();
            (ep, b)
        };
        let mut url = base.join("/v1/search").expect("static path");
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        let mut h = HeaderMap::new();
        h.insert("X-Docker-Token", HeaderValue::from_static("true"));
        let resp = self.send(&ep, &[], Method::GET, url, h, None).await?;
        let status = resp.status();
        if status.is_success() {
            let body = read_limited(resp, 16 << 20).await?;
            let r: SearchResponse = serde_json::from_slice(&body)
                .map_err(|e| RemoteError::Invalid(format!("invalid search response: {e}")))?;
            return Ok(r.results.into_iter().take(limit).collect());
        }
        if domain == "docker.io"
            || !(status == StatusCode::NOT_FOUND
                || status == StatusCode::METHOD_NOT_ALLOWED
                || status == StatusCode::UNAUTHORIZED)
        {
            return Err(Self::error(resp, "search").await);
        }
        drop(resp);
        let term_l = term.to_lowercase();
        Ok(self
            .catalog(domain)
            .await?
            .into_iter()
            .filter(|n| n.contains(&term_l))
            .take(limit)
            .map(|name| SearchResult {
                name,
                description: String::new(),
                star_count: 0,
                is_official: false,
                is_automated: false,
            })
            .collect())
    }

    /// Checks credentials against a registry: pings it and obtains a token (or sends
    /// Basic auth to `/v2/`). Errors with `unauthorized: …` when they are refused.
    pub async fn check_login(&self, domain: &str, creds: &Credentials) -> Result<()> {
        self.set_credentials(domain, Some(creds.clone()));
        let ep = self.endpoint(domain).await?;
        match &ep.challenge {
            None => Ok(()),
            Some(ch) if ch.scheme == "bearer" => {
                self.token(&ep, ch, &[], true).await?;
                Ok(())
            }
            Some(_) => {
                let url = Self::url(&ep, "/v2/")?;
                let resp = self
                    .send(&ep, &[], Method::GET, url, HeaderMap::new(), None)
                    .await?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(RemoteError::Unauthorized(
                        "incorrect username or password".into(),
                    ))
                }
            }
        }
    }
}

/// The `Location` of an upload response, resolved against the request URL.
fn location(resp: &reqwest::Response, base: &Url) -> Result<Url> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| RemoteError::Invalid("registry sent no upload Location".into()))?;
    base.join(loc)
        .map_err(|e| RemoteError::Invalid(format!("bad upload Location {loc}: {e}")))
}

/// The start of `bytes START-END/TOTAL`.
pub fn content_range_start(v: &str) -> Option<u64> {
    let r = v.trim().strip_prefix("bytes")?.trim_start();
    let (start, _) = r.split_once('-')?;
    start.trim().parse().ok()
}

/// The target of `Link: <url>; rel="next"`.
pub fn link_next(v: &str) -> Option<String> {
    for part in v.split(',') {
        let part = part.trim();
        if !part.contains("rel=\"next\"") && !part.contains("rel=next") {
            continue;
        }
        let start = part.find('<')?;
        let end = part[start..].find('>')? + start;
        return Some(part[start + 1..end].to_string());
    }
    None
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(c) = resp.chunk().await? {
        if buf.len() + c.len() > limit {
            return Err(RemoteError::Invalid(format!(
                "response body exceeds {limit} bytes"
            )));
        }
        buf.extend_from_slice(&c);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_link_and_content_range() {
        assert_eq!(
            link_next(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(link_next(r#"</x>; rel="prev""#), None);
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
    }

    #[test]
    fn docker_error_text() {
        let (code, text) =
            error_text(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#)
                .unwrap();
        assert_eq!(code, "MANIFEST_UNKNOWN");
        assert_eq!(text, "manifest unknown: manifest unknown");
    }
}
