//! The HTTP API: OCI Distribution v1.1 under `/v2/`, plus `/token`, `/v1/search`,
//! `/v1/_ping`, `/healthz` and `/metrics`. Repository names may have any number of `/`
//! segments, so `/v2/*` is routed by parsing the path from the right.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use strata_oci::{media, Digest, Document};
use tokio::sync::mpsc;

use crate::auth::{Access, Identity};
use crate::body::{self, FeedError};
use crate::error::ApiError;
use crate::notify::EventTarget;
use crate::repo::subject_of;
use crate::storage::WriteError;
use crate::validate::{self, ManifestRef, RefError};
use crate::RegistryState;

type St = Arc<RegistryState>;
type ApiResult = Result<Response, ApiError>;

const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");
const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");
const RANGE_HDR: HeaderName = header::RANGE;

/// Runs storage work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn with_headers(mut r: Response, headers: &[(HeaderName, String)]) -> Response {
    for (k, v) in headers {
        r.headers_mut().insert(k.clone(), hv(v));
    }
    r
}

/// The `Range` header value describing an upload of `size` bytes.
fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    with_headers(
        empty(status),
        &[
            (header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}")),
            (RANGE_HDR, upload_range(size)),
            (DOCKER_UPLOAD_UUID, id.to_string()),
            (header::CONTENT_LENGTH, "0".into()),
        ],
    )
}

// ---- routing ------------------------------------------------------------------------

enum Route {
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Tags(String),
    Referrers(String, String),
}

fn parse_route(rest: &str) -> Option<Route> {
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..n - k].join("/");
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Some(Route::Tags(name(2)));
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        return Some(if segs[n - 1].is_empty() {
            Route::UploadStart(name(3))
        } else {
            Route::Upload(name(3), segs[n - 1].to_string())
        });
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Some(Route::UploadStart(name(2)));
    }
    if n >= 3 {
        let last = segs[n - 1].to_string();
        match segs[n - 2] {
            "blobs" => return Some(Route::Blob(name(2), last)),
            "manifests" => return Some(Route::Manifest(name(2), last)),
            "referrers" => return Some(Route::Referrers(name(2), last)),
            _ => {}
        }
    }
    None
}

fn check_name(name: &str) -> Result<(), ApiError> {
    validate::check_name(name).map_err(|why| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            format!("invalid repository name: {why}"),
        )
    })
}

fn method_not_allowed() -> ApiError {
    ApiError::unsupported("the operation is unsupported")
}

/// `GET /v2/`.
pub(crate) async fn base(State(st): State<St>, headers: HeaderMap) -> ApiResult {
    st.auth.authorize(&headers, &[])?;
    let mut r = axum::Json(serde_json::json!({})).into_response();
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    Ok(r)
}

/// Everything else under `/v2/`.
pub(crate) async fn dispatch(State(st): State<St>, req: Request) -> ApiResult {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let rest = path.strip_prefix("/v2/").unwrap_or("");
    let route = parse_route(rest)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "no such endpoint"))?;
    let q = query_pairs(parts.uri.query());
    let h = &parts.headers;
    let m = &parts.method;
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ctx = Ctx {
        st: &st,
        headers: h,
        client,
        method: m.clone(),
    };
    let mut resp = match route {
        Route::Manifest(name, reference) => {
            check_name(&name)?;
            match *m {
                Method::GET | Method::HEAD => {
                    st.auth.authorize(h, &[Access::repo(&name, &["pull"])])?;
                    get_manifest(&ctx, &name, &reference, *m == Method::HEAD).await
                }
                Method::PUT => {
                    let id = st
                        .auth
                        .authorize(h, &[Access::repo(&name, &["pull", "push"])])?;
                    put_manifest(&ctx, &id, &name, &reference, &q, body).await
                }
                Method::DELETE => {
                    let id = st.auth.authorize(h, &[Access::repo(&name, &["delete"])])?;
                    delete_manifest(&ctx, &id, &name, &reference).await
                }
                _ => Err(method_not_allowed()),
            }
        }
        Route::Blob(name, digest) => {
            check_name(&name)?;
            match *m {
                Method::GET | Method::HEAD => {
                    st.auth.authorize(h, &[Access::repo(&name, &["pull"])])?;
                    get_blob(&ctx, &name, &digest, *m == Method::HEAD).await
                }
                Method::DELETE => {
                    let id = st.auth.authorize(h, &[Access::repo(&name, &["delete"])])?;
                    delete_blob(&ctx, &id, &name, &digest).await
                }
                _ => Err(method_not_allowed()),
            }
        }
        Route::UploadStart(name) => {
            check_name(&name)?;
            if *m != Method::POST {
                return Err(method_not_allowed());
            }
            let id = st
                .auth
                .authorize(h, &[Access::repo(&name, &["pull", "push"])])?;
            start_upload(&ctx, &id, &name, &q, body).await
        }
        Route::Upload(name, uid) => {
            check_name(&name)?;
            let id = st
                .auth
                .authorize(h, &[Access::repo(&name, &["pull", "push"])])?;
            if !validate::is_valid_upload_id(&uid) {
                return Err(ApiError::upload_unknown());
            }
            match *m {
                Method::GET => upload_status(&ctx, &name, &uid).await,
                Method::PATCH => patch_upload(&ctx, &name, &uid, body).await,
                Method::PUT => put_upload(&ctx, &id, &name, &uid, &q, body).await,
                Method::DELETE => cancel_upload(&ctx, &name, &uid).await,
                _ => Err(method_not_allowed()),
            }
        }
        Route::Tags(name) => {
            check_name(&name)?;
            if *m != Method::GET && *m != Method::HEAD {
                return Err(method_not_allowed());
            }
            st.auth.authorize(h, &[Access::repo(&name, &["pull"])])?;
            tags_list(&ctx, &name, &q).await
        }
        Route::Referrers(name, digest) => {
            check_name(&name)?;
            if *m != Method::GET {
                return Err(method_not_allowed());
            }
            st.auth.authorize(h, &[Access::repo(&name, &["pull"])])?;
            referrers(&ctx, &name, &digest, &q).await
        }
    }?;
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    Ok(resp)
}

struct Ctx<'a> {
    st: &'a St,
    headers: &'a HeaderMap,
    client: Option<SocketAddr>,
    method: Method,
}

impl Ctx<'_> {
    fn idle(&self) -> Duration {
        Duration::from_secs(self.st.config.limits.body_idle_timeout_secs.max(1))
    }
    fn expiry(&self) -> Duration {
        Duration::from_secs(self.st.config.limits.upload_expiry_secs)
    }
    fn notify(&self, id: &Identity, action: &str, target: EventTarget) {
        let host = self
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ua = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        self.st.notifier.publish(
            action,
            target,
            id.user.clone(),
            self.client,
            host,
            self.method.as_str(),
            ua,
        );
    }
}

// ---- manifests ----------------------------------------------------------------------

async fn resolve(
    st: &St,
    name: &str,
    reference: &str,
) -> Result<Option<crate::repo::ManifestMeta>, ApiError> {
    let r = validate::parse_ref(reference).map_err(|e| match e {
        RefError::BadDigest => ApiError::digest_invalid("invalid digest"),
        RefError::BadTag => ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "invalid tag"),
    })?;
    let repo = st.repo.clone();
    let name = name.to_string();
    blocking(move || -> io::Result<_> {
        let d = match r {
            ManifestRef::Digest(d) => d,
            ManifestRef::Tag(t) => match repo.resolve_tag(&name, &t)? {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        repo.manifest_meta(&name, &d)
    })
    .await?
    .map_err(ApiError::from)
}

async fn get_manifest(ctx: &Ctx<'_>, name: &str, reference: &str, head: bool) -> ApiResult {
    let meta = resolve(ctx.st, name, reference)
        .await?
        .ok_or_else(ApiError::manifest_unknown)?;
    let mut headers = vec![
        (header::CONTENT_TYPE, meta.content_type.clone()),
        (header::CONTENT_LENGTH, meta.size.to_string()),
        (DOCKER_CONTENT_DIGEST, meta.digest.to_string()),
        (header::ETAG, format!("\"{}\"", meta.digest)),
    ];
    if head {
        return Ok(with_headers(empty(StatusCode::OK), &headers));
    }
    let repo = ctx.st.repo.clone();
    let d = meta.digest.clone();
    let bytes = blocking(move || repo.read_blob_bytes(&d))
        .await??
        .ok_or_else(ApiError::manifest_unknown)?;
    headers.retain(|(k, _)| k != header::CONTENT_LENGTH);
    let mut r = with_headers(Response::new(Body::from(bytes)), &headers);
    *r.status_mut() = StatusCode::OK;
    Ok(r)
}

fn feed_error(e: FeedError, what: &str) -> ApiError {
    match e {
        FeedError::TooLarge => ApiError::too_large(format!("{what} exceeds the size limit")),
        FeedError::TimedOut => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "BLOB_UPLOAD_INVALID",
            format!("{what}: client stopped sending"),
        ),
        FeedError::Broken => ApiError::new(
            StatusCode::BAD_REQUEST,
            "BLOB_UPLOAD_INVALID",
            format!("{what}: incomplete request body"),
        ),
    }
}

fn declared_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn put_manifest(
    ctx: &Ctx<'_>,
    id: &Identity,
    name: &str,
    reference: &str,
    q: &[(String, String)],
    body: Body,
) -> ApiResult {
    let st = ctx.st;
    let max = st.config.limits.max_manifest_bytes;
    let r = validate::parse_ref(reference).map_err(|e| match e {
        RefError::BadDigest => ApiError::digest_invalid("invalid digest"),
        RefError::BadTag => ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "invalid tag"),
    })?;
    let too_large = || ApiError::too_large(format!("manifest exceeds the {max}-byte limit"));
    if declared_length(ctx.headers).is_some_and(|n| n > max * 2) {
        return Err(too_large());
    }
    let bytes = match body::collect(body, max, ctx.idle()).await {
        Ok(b) => b,
        Err(FeedError::TooLarge) => return Err(too_large()),
        Err(e) => return Err(feed_error(e, "manifest")),
    };
    let content_type = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string());
    let declared = content_type
        .as_deref()
        .map(|s| s.split(';').next().unwrap_or(s).trim());
    let doc =
        Document::parse(&bytes, declared).map_err(|e| ApiError::manifest_invalid(e.to_string()))?;
    let mut tags = Vec::new();
    let digest = match &r {
        ManifestRef::Digest(d) => {
            let actual = d.same_algorithm_of(&bytes);
            if &actual != d {
                return Err(ApiError::digest_invalid(format!(
                    "provided digest did not match uploaded content: computed {actual}"
                )));
            }
            actual
        }
        ManifestRef::Tag(t) => {
            tags.push(t.clone());
            Digest::sha256_of(&bytes)
        }
    };
    for (k, v) in q {
        if k == "tag" {
            if !validate::is_valid_tag(v) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "TAG_INVALID",
                    format!("invalid tag {v:?}"),
                ));
            }
            tags.push(v.clone());
        }
    }
    let content_type = content_type.unwrap_or_else(|| doc.media_type().to_string());
    // Blobs an image manifest needs must be in this repository (foreign layers with URLs
    // excepted); a missing subject or index child is accepted, as the spec allows.
    let needed: Vec<Digest> = match &doc {
        Document::Manifest(m) => std::iter::once(&m.config)
            .chain(
                m.layers
                    .iter()
                    .filter(|l| l.urls.as_ref().is_none_or(|u| u.is_empty())),
            )
            .map(|d| d.digest.clone())
            .collect(),
        Document::Index(_) => Vec::new(),
    };
    let repo = st.repo.clone();
    let (nm, ct, dg, tg) = (
        name.to_string(),
        content_type.clone(),
        digest.clone(),
        tags.clone(),
    );
    let body_bytes = bytes.clone();
    let doc2 = doc.clone();
    let missing = blocking(move || -> io::Result<Option<Digest>> {
        let _no_sweep = repo.sweep_lock.read().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = repo.touch_and_check(&nm, &doc2, &needed)? {
            return Ok(Some(d));
        }
        repo.put_manifest(&nm, &dg, &body_bytes, &ct, &doc2, &tg)?;
        Ok(None)
    })
    .await??;
    if let Some(d) = missing {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            format!("blob unknown to registry: {d}"),
        ));
    }
    st.metrics.manifest_pushed();
    let mut headers = vec![
        (header::LOCATION, format!("/v2/{name}/manifests/{digest}")),
        (DOCKER_CONTENT_DIGEST, digest.to_string()),
        (header::CONTENT_LENGTH, "0".to_string()),
    ];
    if let Some(s) = subject_of(&doc) {
        headers.push((OCI_SUBJECT, s.to_string()));
    }
    for t in &tags {
        ctx.notify(
            id,
            "push",
            EventTarget::manifest(name, &digest, &content_type, bytes.len() as u64, Some(t)),
        );
    }
    if tags.is_empty() {
        ctx.notify(
            id,
            "push",
            EventTarget::manifest(name, &digest, &content_type, bytes.len() as u64, None),
        );
    }
    let mut r = with_headers(empty(StatusCode::CREATED), &headers);
    for t in &tags {
        r.headers_mut().append(OCI_TAG, hv(t));
    }
    Ok(r)
}

async fn delete_manifest(ctx: &Ctx<'_>, id: &Identity, name: &str, reference: &str) -> ApiResult {
    if !ctx.st.config.delete_enabled {
        return Err(ApiError::unsupported("deletion is disabled"));
    }
    let r = validate::parse_ref(reference).map_err(|e| match e {
        RefError::BadDigest => ApiError::digest_invalid("invalid digest"),
        RefError::BadTag => ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "invalid tag"),
    })?;
    let repo = ctx.st.repo.clone();
    let nm = name.to_string();
    let r2 = r.clone();
    let found = blocking(move || match &r2 {
        ManifestRef::Tag(t) => repo.delete_tag(&nm, t),
        ManifestRef::Digest(d) => repo.delete_manifest(&nm, d),
    })
    .await??;
    if !found {
        return Err(ApiError::manifest_unknown());
    }
    let target = match &r {
        ManifestRef::Tag(t) => EventTarget::tag(name, t),
        ManifestRef::Digest(d) => EventTarget::digest(name, d),
    };
    ctx.notify(id, "delete", target);
    Ok(empty(StatusCode::ACCEPTED))
}

// ---- blobs --------------------------------------------------------------------------

enum RangeReq {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

fn parse_range(h: &str, size: u64) -> RangeReq {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeReq::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeReq::Full;
        };
        if n == 0 || size == 0 {
            return RangeReq::Unsatisfiable;
        }
        let n = n.min(size);
        return RangeReq::Partial(size - n, n);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::Full;
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) => e,
            Err(_) => return RangeReq::Full,
        }
    };
    if start >= size || end < start {
        return RangeReq::Unsatisfiable;
    }
    let end = end.min(size - 1);
    RangeReq::Partial(start, end - start + 1)
}

async fn get_blob(ctx: &Ctx<'_>, name: &str, digest: &str, head: bool) -> ApiResult {
    let d =
        validate::parse_digest(digest).ok_or_else(|| ApiError::digest_invalid("invalid digest"))?;
    let repo = ctx.st.repo.clone();
    let (nm, d2) = (name.to_string(), d.clone());
    let info = blocking(move || repo.repo_blob(&nm, &d2))
        .await??
        .ok_or_else(ApiError::blob_unknown)?;
    let size = info.size;
    let mut headers = vec![
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (DOCKER_CONTENT_DIGEST, d.to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::ETAG, format!("\"{d}\"")),
    ];
    let range = match ctx.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if !head => parse_range(r, size),
        _ => RangeReq::Full,
    };
    let (status, rng) = match range {
        RangeReq::Full => (StatusCode::OK, None),
        RangeReq::Partial(s, n) => {
            headers.push((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", s, s + n - 1, size),
            ));
            (StatusCode::PARTIAL_CONTENT, Some((s, n)))
        }
        RangeReq::Unsatisfiable => {
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UNKNOWN",
                "requested range not satisfiable",
            )
            .with_header(header::CONTENT_RANGE, format!("bytes */{size}")));
        }
    };
    let len = rng.map(|r| r.1).unwrap_or(size);
    headers.push((header::CONTENT_LENGTH, len.to_string()));
    if head {
        return Ok(with_headers(empty(StatusCode::OK), &headers));
    }
    let repo = ctx.st.repo.clone();
    let reader = blocking(move || repo.read_blob(&d, rng))
        .await?
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ApiError::blob_unknown()
            } else {
                ApiError::internal(e)
            }
        })?;
    ctx.st.metrics.bytes_served(len);
    let mut r = with_headers(Response::new(body::stream_reader(reader)), &headers);
    *r.status_mut() = status;
    Ok(r)
}

async fn delete_blob(ctx: &Ctx<'_>, id: &Identity, name: &str, digest: &str) -> ApiResult {
    if !ctx.st.config.delete_enabled {
        return Err(ApiError::unsupported("deletion is disabled"));
    }
    let d =
        validate::parse_digest(digest).ok_or_else(|| ApiError::digest_invalid("invalid digest"))?;
    let repo = ctx.st.repo.clone();
    let (nm, d2) = (name.to_string(), d.clone());
    if !blocking(move || repo.unlink_blob(&nm, &d2)).await?? {
        return Err(ApiError::blob_unknown());
    }
    ctx.notify(id, "delete", EventTarget::digest(name, &d));
    Ok(with_headers(
        empty(StatusCode::ACCEPTED),
        &[(DOCKER_CONTENT_DIGEST, d.to_string())],
    ))
}

// ---- uploads ------------------------------------------------------------------------

fn new_upload_id() -> Result<String, ApiError> {
    Ok(hex::encode(
        crate::auth::random_bytes(16).map_err(ApiError::internal)?,
    ))
}

fn blob_created(name: &str, d: &Digest) -> Response {
    with_headers(
        empty(StatusCode::CREATED),
        &[
            (header::LOCATION, format!("/v2/{name}/blobs/{d}")),
            (DOCKER_CONTENT_DIGEST, d.to_string()),
            (header::CONTENT_LENGTH, "0".into()),
        ],
    )
}

/// Streams `body` into upload `uid`, checking the optional Content-Range against the
/// session's size. Returns the new size.
async fn append_body(
    ctx: &Ctx<'_>,
    name: &str,
    uid: &str,
    body: Body,
    check_range: bool,
) -> Result<u64, ApiError> {
    let st = ctx.st;
    let repo = st.repo.clone();
    let (nm, u) = (name.to_string(), uid.to_string());
    let expiry = ctx.expiry();
    let size = blocking(move || repo.upload_size(&nm, &u, expiry))
        .await??
        .ok_or_else(ApiError::upload_unknown)?;
    let mut expected_len = None;
    if check_range {
        if let Some(cr) = ctx
            .headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
        {
            let spec = cr
                .trim()
                .trim_start_matches("bytes")
                .trim_start_matches(['=', ' ']);
            let spec = spec.split('/').next().unwrap_or(spec);
            let parsed = spec.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
            });
            match parsed {
                Some((start, end)) if start == size && end >= start => {
                    expected_len = Some(end - start + 1)
                }
                _ => {
                    return Err(ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "BLOB_UPLOAD_INVALID",
                        format!("content range {cr:?} does not continue the upload at {size}"),
                    )
                    .with_header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{uid}"))
                    .with_header(RANGE_HDR, upload_range(size))
                    .with_header(DOCKER_UPLOAD_UUID, uid.to_string()));
                }
            }
        }
    }
    let max = st.config.limits.max_blob_bytes.saturating_sub(size);
    if declared_length(ctx.headers).is_some_and(|n| n > max) {
        return Err(ApiError::too_large("upload exceeds the blob size limit"));
    }
    if let (Some(exp), Some(cl)) = (expected_len, declared_length(ctx.headers)) {
        if exp != cl {
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                "Content-Range and Content-Length disagree",
            )
            .with_header(RANGE_HDR, upload_range(size)));
        }
    }
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let repo = st.repo.clone();
    let u = uid.to_string();
    let writer = tokio::task::spawn_blocking(move || {
        repo.append_upload(&u, &mut body::ChannelReader::new(rx), expected_len)
    });
    let fed = body::feed(body, tx, max, ctx.idle()).await;
    let written = writer.await.map_err(ApiError::internal)?;
    if let Err(e) = fed {
        return Err(feed_error(e, "upload"));
    }
    match written {
        Ok(n) => {
            st.metrics.bytes_received(n - size);
            Ok(n)
        }
        Err(WriteError::SizeMismatch { expected, actual }) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SIZE_INVALID",
            format!("body has {actual} bytes, Content-Range announced {expected}"),
        )),
        Err(WriteError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(feed_error(FeedError::Broken, "upload"))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn start_upload(
    ctx: &Ctx<'_>,
    id: &Identity,
    name: &str,
    q: &[(String, String)],
    body: Body,
) -> ApiResult {
    let st = ctx.st;
    if let Some(mount) = query_get(q, "mount") {
        let d = validate::parse_digest(mount)
            .ok_or_else(|| ApiError::digest_invalid("invalid digest"))?;
        let from = query_get(q, "from").map(str::to_string);
        if let Some(f) = &from {
            check_name(f)?;
        }
        let repo = st.repo.clone();
        let auth_user = id.user.clone();
        let st2 = st.clone();
        let nm = name.to_string();
        let d2 = d.clone();
        // The caller must be able to read the source repository; otherwise fall back to
        // an ordinary upload without revealing whether the blob exists.
        let readable_from = match &from {
            Some(f) => {
                let from_ok = st
                    .auth
                    .authorize(ctx.headers, &[Access::repo(f, &["pull"])])
                    .is_ok();
                if from_ok {
                    vec![f.clone()]
                } else {
                    Vec::new()
                }
            }
            None => Vec::new(),
        };
        let search_all = from.is_none();
        let mounted = blocking(move || -> io::Result<bool> {
            if repo.blob_stat(&d2)?.is_none() {
                return Ok(false);
            }
            let mut sources = readable_from;
            if search_all {
                if repo.repo_blob(&nm, &d2)?.is_some() {
                    return Ok(true);
                }
                sources = repo
                    .catalog()?
                    .into_iter()
                    .filter(|r| st2.auth.permitted(auth_user.as_deref(), r).contains("pull"))
                    .collect();
            }
            for src in sources {
                if repo.repo_blob(&src, &d2)?.is_some() {
                    repo.link_blob(&nm, &d2)?;
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await??;
        if mounted {
            return Ok(blob_created(name, &d));
        }
    }
    let uid = new_upload_id()?;
    let repo = st.repo.clone();
    let (nm, u) = (name.to_string(), uid.clone());
    blocking(move || repo.start_upload(&nm, &u)).await??;
    if let Some(dg) = query_get(q, "digest") {
        // Monolithic upload: the whole blob in the POST body.
        let d = match validate::parse_digest(dg) {
            Some(d) => d,
            None => {
                let repo = st.repo.clone();
                let _ = blocking(move || repo.cancel_upload(&uid)).await;
                return Err(ApiError::digest_invalid("invalid digest"));
            }
        };
        let _guard = st.lock_upload(&uid).await;
        let res = append_body(ctx, name, &uid, body, false).await;
        if let Err(e) = res {
            let repo = st.repo.clone();
            let _ = blocking(move || repo.cancel_upload(&uid)).await;
            return Err(e);
        }
        return finish(ctx, id, name, &uid, &d).await;
    }
    Ok(upload_response(StatusCode::ACCEPTED, name, &uid, 0))
}

async fn finish(ctx: &Ctx<'_>, id: &Identity, name: &str, uid: &str, d: &Digest) -> ApiResult {
    let repo = ctx.st.repo.clone();
    let (nm, u, d2) = (name.to_string(), uid.to_string(), d.clone());
    match blocking(move || repo.finish_upload(&nm, &u, &d2)).await? {
        Ok(size) => {
            ctx.st.metrics.blob_pushed();
            ctx.notify(id, "push", EventTarget::blob(name, d, size));
            Ok(blob_created(name, d))
        }
        Err(WriteError::DigestMismatch { actual, .. }) => Err(ApiError::digest_invalid(format!(
            "provided digest did not match uploaded content: computed {actual}"
        ))),
        Err(WriteError::SizeMismatch { expected, actual }) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SIZE_INVALID",
            format!("expected {expected} bytes, got {actual}"),
        )),
        Err(WriteError::NotFound) => Err(ApiError::upload_unknown()),
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn upload_status(ctx: &Ctx<'_>, name: &str, uid: &str) -> ApiResult {
    let repo = ctx.st.repo.clone();
    let (nm, u) = (name.to_string(), uid.to_string());
    let expiry = ctx.expiry();
    let size = blocking(move || repo.upload_size(&nm, &u, expiry))
        .await??
        .ok_or_else(ApiError::upload_unknown)?;
    Ok(upload_response(StatusCode::NO_CONTENT, name, uid, size))
}

async fn patch_upload(ctx: &Ctx<'_>, name: &str, uid: &str, body: Body) -> ApiResult {
    let _guard = ctx.st.lock_upload(uid).await;
    let size = append_body(ctx, name, uid, body, true).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, uid, size))
}

async fn put_upload(
    ctx: &Ctx<'_>,
    id: &Identity,
    name: &str,
    uid: &str,
    q: &[(String, String)],
    body: Body,
) -> ApiResult {
    let _guard = ctx.st.lock_upload(uid).await;
    let d = match query_get(q, "digest") {
        Some(s) => {
            validate::parse_digest(s).ok_or_else(|| ApiError::digest_invalid("invalid digest"))?
        }
        None => return Err(ApiError::digest_invalid("digest parameter missing")),
    };
    append_body(ctx, name, uid, body, true).await?;
    finish(ctx, id, name, uid, &d).await
}

async fn cancel_upload(ctx: &Ctx<'_>, name: &str, uid: &str) -> ApiResult {
    let _guard = ctx.st.lock_upload(uid).await;
    let repo = ctx.st.repo.clone();
    let (nm, u) = (name.to_string(), uid.to_string());
    let expiry = ctx.expiry();
    let found = blocking(move || -> io::Result<bool> {
        if repo.upload_size(&nm, &u, expiry)?.is_none() {
            return Ok(false);
        }
        repo.cancel_upload(&u)
    })
    .await??;
    if !found {
        return Err(ApiError::upload_unknown());
    }
    Ok(with_headers(
        empty(StatusCode::NO_CONTENT),
        &[(header::CONTENT_LENGTH, "0".into())],
    ))
}

// ---- listings -----------------------------------------------------------------------

fn page_size(q: &[(String, String)], max: usize) -> Result<Option<usize>, ApiError> {
    match query_get(q, "n") {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                format!("invalid number of results requested: n must be between 0 and {max}"),
            )),
        },
    }
}

/// Applies `last` and `n` to a sorted list; returns the page and whether more follow.
fn paginate(all: Vec<String>, last: Option<&str>, n: Option<usize>) -> (Vec<String>, bool) {
    let start: Vec<String> = match last {
        Some(l) if !l.is_empty() => all.into_iter().filter(|x| x.as_str() > l).collect(),
        _ => all,
    };
    match n {
        Some(n) if start.len() > n => (start[..n].to_vec(), n > 0),
        _ => (start, false),
    }
}

fn link_next(path: &str, n: usize, last: &str) -> String {
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    format!("<{path}?n={n}&last={last}>; rel=\"next\"")
}

async fn tags_list(ctx: &Ctx<'_>, name: &str, q: &[(String, String)]) -> ApiResult {
    let n = page_size(q, ctx.st.config.limits.max_page_entries)?;
    let repo = ctx.st.repo.clone();
    let nm = name.to_string();
    let (exists, tags) =
        blocking(move || -> io::Result<_> { Ok((repo.repo_exists(&nm)?, repo.tags(&nm)?)) })
            .await??;
    if !exists {
        return Err(ApiError::name_unknown());
    }
    let (page, more) = paginate(tags, query_get(q, "last"), n);
    let mut r = axum::Json(serde_json::json!({ "name": name, "tags": page })).into_response();
    if more {
        if let (Some(n), Some(l)) = (n, page.last()) {
            r.headers_mut().insert(
                header::LINK,
                hv(&link_next(&format!("/v2/{name}/tags/list"), n, l)),
            );
        }
    }
    Ok(r)
}

/// `GET /v2/_catalog`.
pub(crate) async fn catalog(State(st): State<St>, req: Request) -> ApiResult {
    let id = st.auth.authorize(req.headers(), &[Access::catalog()])?;
    let q = query_pairs(req.uri().query());
    let n = page_size(&q, st.config.limits.max_page_entries)?;
    let repo = st.repo.clone();
    let all = blocking(move || repo.catalog()).await??;
    let visible: Vec<String> = if st.auth.enabled() {
        all.into_iter()
            .filter(|r| st.auth.permitted(id.user.as_deref(), r).contains("pull"))
            .collect()
    } else {
        all
    };
    let (page, more) = paginate(visible, query_get(&q, "last"), n);
    let mut r = axum::Json(serde_json::json!({ "repositories": page })).into_response();
    if more {
        if let (Some(n), Some(l)) = (n, page.last()) {
            r.headers_mut()
                .insert(header::LINK, hv(&link_next("/v2/_catalog", n, l)));
        }
    }
    Ok(r)
}

async fn referrers(ctx: &Ctx<'_>, name: &str, digest: &str, q: &[(String, String)]) -> ApiResult {
    let d =
        validate::parse_digest(digest).ok_or_else(|| ApiError::digest_invalid("invalid digest"))?;
    let filter = query_get(q, "artifactType")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let repo = ctx.st.repo.clone();
    let (nm, f) = (name.to_string(), filter.clone());
    let list = blocking(move || repo.referrers(&nm, &d, f.as_deref())).await??;
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": list,
    });
    let mut r = Response::new(Body::from(
        serde_json::to_vec(&body).map_err(ApiError::internal)?,
    ));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media::OCI_INDEX),
    );
    if filter.is_some() {
        r.headers_mut().insert(
            OCI_FILTERS_APPLIED,
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}

// ---- token, search, health ----------------------------------------------------------

/// `GET /token` (Docker token spec).
pub(crate) async fn token_get(State(st): State<St>, req: Request) -> ApiResult {
    let q = query_pairs(req.uri().query());
    let scopes: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let tok = st
        .auth
        .issue_token(req.headers(), &scopes, query_get(&q, "service"), None)?;
    Ok(axum::Json(tok).into_response())
}

/// `POST /token` (OAuth2 password grant).
pub(crate) async fn token_post(State(st): State<St>, req: Request) -> ApiResult {
    let (parts, body) = req.into_parts();
    let raw = body::collect(body, 64 * 1024, Duration::from_secs(10))
        .await
        .map_err(|e| feed_error(e, "token request"))?;
    let form = query_pairs(std::str::from_utf8(&raw).ok());
    match query_get(&form, "grant_type") {
        Some("password") => {}
        Some(other) => {
            return Ok((StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "unsupported_grant_type", "error_description": format!("grant type {other:?} is not supported; use password")}))).into_response())
        }
        None => {
            return Ok((StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "invalid_request", "error_description": "grant_type missing"}))).into_response())
        }
    }
    let creds = match (query_get(&form, "username"), query_get(&form, "password")) {
        (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
        _ => None,
    };
    let scopes: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let tok = st
        .auth
        .issue_token(&parts.headers, &scopes, query_get(&form, "service"), creds)?;
    Ok(axum::Json(tok).into_response())
}

/// `GET /v1/_ping`, which `docker search` probes before searching.
pub(crate) async fn ping() -> Response {
    let mut r = axum::Json(serde_json::json!(true)).into_response();
    r.headers_mut().insert(
        "x-docker-registry-standalone",
        HeaderValue::from_static("true"),
    );
    r.headers_mut().insert(
        "x-docker-registry-version",
        HeaderValue::from_static("0.6.0"),
    );
    r
}

/// `GET /v1/search?q=&n=` in Docker Hub's shape.
pub(crate) async fn search(State(st): State<St>, req: Request) -> ApiResult {
    let q = query_pairs(req.uri().query());
    let term = query_get(&q, "q").unwrap_or("").to_string();
    let n = match query_get(&q, "n") {
        None | Some("") => 25,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "PAGINATION_NUMBER_INVALID",
                    "n must be between 1 and 100",
                ))
            }
        },
    };
    // Search shows only what the caller may pull; bad credentials are an error.
    let user = match st.auth.authorize(req.headers(), &[]) {
        Ok(id) => id.user,
        Err(e)
            if e.status == StatusCode::UNAUTHORIZED
                && req.headers().contains_key(header::AUTHORIZATION) =>
        {
            return Err(e)
        }
        Err(_) => None,
    };
    let st2 = st.clone();
    let t2 = term.clone();
    let results = blocking(move || crate::search::search(&st2, &t2, n, user.as_deref())).await??;
    Ok(axum::Json(serde_json::json!({
        "query": term,
        "num_results": results.len(),
        "num_pages": 1,
        "page": 1,
        "page_size": n,
        "results": results,
    }))
    .into_response())
}

/// `GET /healthz`: 200 when the storage answers.
pub(crate) async fn healthz(State(st): State<St>) -> Response {
    let repo = st.repo.clone();
    match blocking(move || repo.storage.list("")).await {
        Ok(Ok(_)) => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "storage unavailable"})),
        )
            .into_response(),
    }
}

/// `GET /metrics` in Prometheus text format.
pub(crate) async fn metrics(State(st): State<St>) -> Response {
    let mut r = Response::new(Body::from(st.metrics.render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Per-upload locks so PATCH/PUT/DELETE on one session are serialised.
#[derive(Default)]
pub(crate) struct UploadLocks {
    map: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl UploadLocks {
    pub(crate) fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 1024 {
            m.retain(|_, v| Arc::strong_count(v) > 1);
        }
        m.entry(id.to_string()).or_default().clone()
    }
}
