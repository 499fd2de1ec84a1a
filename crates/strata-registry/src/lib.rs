//! Strata's registry server: the whole OCI Distribution Specification v1.1 (plus Docker
//! schema2 media types), a Docker token server, Docker Hub-style search, online garbage
//! collection, webhooks, metrics and rate limiting, served by axum over hyper.
//!
//! # Using it
//!
//! * `strata registry serve` calls [`serve`] with a [`Config`] (TOML, every field defaulted).
//! * Tests and other crates start an embedded registry on a free port with
//!   [`EmbeddedRegistry::start`] (its own thread and runtime; works from sync and async
//!   tests; stops when dropped):
//!   ```no_run
//!   let dir = tempfile::tempdir().unwrap();
//!   let reg = strata_registry::EmbeddedRegistry::start(
//!       strata_registry::Config::for_tests(dir.path())).unwrap();
//!   let base = reg.url(); // "http://127.0.0.1:PORT"
//!   ```
//!   or, inside a tokio runtime, with [`bind`] which returns the bound address and the
//!   serving future.
//! * [`router`] gives the bare axum router over a [`RegistryState`].
//! * [`gc()`] collects garbage in a registry root (`strata registry gc`).
//!
//! # Storage layout
//!
//! Everything goes through the [`storage::Storage`] trait (stat, ranged read, atomic put,
//! append, verified commit, touch, delete, list); [`storage::FsStorage`] is the default
//! driver. Keys, under the root:
//! ```text
//! blobs/<alg>/<hex>                                        content, one copy per digest
//! repositories/<name>/_layers/<alg>/<hex>                  blob readable in <name>
//! repositories/<name>/_manifests/revisions/<alg>/<hex>     manifest in <name>; holds its Content-Type
//! repositories/<name>/_manifests/tags/<tag>                holds the tagged digest
//! repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   referrer descriptor (JSON) per subject
//! _uploads/<id>/{info,data}                                upload session, bound to its repository
//! _auth/token.key                                          generated token signing key
//! ```
//! A manifest GET is two small reads plus the body; a blob GET is one link stat, one blob
//! stat and a streamed read. Uploads are appended to `_uploads/<id>/data`, then hashed and
//! renamed into `blobs/` only when size and digest match.
//!
//! Names, tags, digests and upload ids are validated ([`validate`]) before any key is
//! built from them.
//!
//! # Tests
//!
//! `tests/common/suite.rs` is a conformance suite written from the OCI Distribution spec
//! v1.1 (one case per behaviour in shared/reference/registry.md). `tests/conformance.rs`
//! runs it over TCP against this server (open and behind Basic auth) and against CNCF
//! Distribution (`/usr/bin/docker-registry`, started on a free port), asserting that the
//! suite catches Distribution's known gaps (no referrers API, no `?tag=` multi-tagging).
//! `tests/interop.rs` drives skopeo and the Docker engine; `auth.rs`, `gc.rs`,
//! `limits.rs` and `ops.rs` cover the rest.

pub mod auth;
mod body;
pub mod config;
pub mod error;
pub mod gc;
mod handlers;
pub mod metrics;
pub mod notify;
pub mod repo;
pub mod search;
pub mod storage;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::{any, get};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::Config;
pub use error::RegistryError;
pub use gc::{gc, GcOptions, GcReport};

use crate::auth::Auth;
use crate::metrics::{Metrics, RateLimiter};
use crate::notify::Notifier;
use crate::repo::Repo;
use crate::storage::{FsStorage, Storage};

/// Shared state of a running registry.
pub struct RegistryState {
    pub(crate) repo: Repo,
    pub(crate) config: Config,
    pub(crate) auth: Auth,
    pub(crate) metrics: Metrics,
    pub(crate) limiter: RateLimiter,
    pub(crate) notifier: Notifier,
    locks: handlers::UploadLocks,
}

impl RegistryState {
    /// State over the filesystem driver at `config.root`.
    pub fn new(config: Config) -> Result<Arc<Self>, RegistryError> {
        let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(&config.root)?);
        Self::with_storage(config, storage)
    }

    /// State over any storage driver.
    pub fn with_storage(
        config: Config,
        storage: Arc<dyn Storage>,
    ) -> Result<Arc<Self>, RegistryError> {
        let auth = Auth::new(&config.auth, &config.root, config.tls.is_some())?;
        for n in &config.notifications {
            if !n.url.starts_with("http://") {
                return Err(RegistryError::Config(format!(
                    "notification url {:?}: only http:// is supported",
                    n.url
                )));
            }
        }
        Ok(Arc::new(RegistryState {
            repo: Repo::new(storage),
            limiter: RateLimiter::new(
                config.limits.rate_limit_per_second,
                config.limits.rate_limit_burst,
            ),
            notifier: Notifier::new(config.notifications.clone(), config.addr.to_string()),
            metrics: Metrics::default(),
            auth,
            config,
            locks: Default::default(),
        }))
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) async fn lock_upload(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.locks.get(id).lock_owned().await
    }
}

/// The HTTP router over `state`.
pub fn router(state: Arc<RegistryState>) -> Router {
    Router::new()
        .route("/v2/", any(handlers::base))
        .route("/v2", any(handlers::base))
        .route("/v2/_catalog", get(handlers::catalog))
        .route("/v2/{*rest}", any(handlers::dispatch))
        .route(
            "/token",
            get(handlers::token_get).post(handlers::token_post),
        )
        .route("/v1/search", get(handlers::search))
        .route("/v1/_ping", get(handlers::ping))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::observe,
        ))
        .with_state(state)
}

/// Binds `config.addr` and returns the bound address and the future that serves until
/// `shutdown` completes, then stops accepting and waits for in-flight requests.
pub async fn bind(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<
    (
        SocketAddr,
        impl Future<Output = Result<(), RegistryError>> + Send + 'static,
    ),
    RegistryError,
> {
    if config.auth.htpasswd.is_none() && !config.addr.ip().is_loopback() && !config.auth.open {
        return Err(RegistryError::Config(format!(
            "refusing to serve without authentication on {}: set auth.htpasswd, or auth.open = true",
            config.addr
        )));
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| RegistryError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    let mut config = config;
    config.addr = addr;
    let tls = match &config.tls {
        Some(t) => Some(tls::acceptor(t)?),
        None => None,
    };
    let state = RegistryState::new(config)?;
    let app = router(state.clone());
    Ok((addr, run(listener, app, state, tls, shutdown)))
}

/// Serves until `shutdown` completes (for the CLI: SIGINT/SIGTERM), finishing in-flight
/// requests before returning.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let (addr, fut) = bind(config, shutdown).await?;
    tracing::info!(%addr, "registry listening");
    fut.await
}

async fn run(
    listener: TcpListener,
    app: Router,
    state: Arc<RegistryState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = JoinSet::new();
    spawn_maintenance(&mut background, state.clone());
    let limits = state.config.limits.clone();
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            acc = listener.accept() => {
                let (stream, peer) = match acc {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let stop = stop_rx.clone();
                let limits = limits.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(Duration::from_secs(limits.header_timeout_secs.max(1)), acceptor.accept(stream)).await;
                            match handshake {
                                Ok(Ok(s)) => serve_conn(TokioIo::new(s), peer, app, stop, &limits).await,
                                _ => tracing::debug!(%peer, "TLS handshake failed"),
                            }
                        }
                        None => serve_conn(TokioIo::new(stream), peer, app, stop, &limits).await,
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    background.abort_all();
    while background.join_next().await.is_some() {}
    Ok(())
}

async fn serve_conn<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    app: Router,
    mut stop: watch::Receiver<bool>,
    limits: &config::Limits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs.max(1)))
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

fn spawn_maintenance(set: &mut JoinSet<()>, state: Arc<RegistryState>) {
    let purge_every = Duration::from_secs(state.config.limits.purge_interval_secs.max(1));
    let expiry = Duration::from_secs(state.config.limits.upload_expiry_secs);
    let st = state.clone();
    set.spawn(async move {
        let mut tick = tokio::time::interval(purge_every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let repo = st.repo.clone();
            match tokio::task::spawn_blocking(move || repo.purge_uploads(expiry)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(purged = n, "expired upload sessions purged"),
                Ok(Err(e)) => tracing::warn!(error = %e, "purging upload sessions failed"),
                _ => {}
            }
        }
    });
    if state.config.gc.interval_secs > 0 {
        let every = Duration::from_secs(state.config.gc.interval_secs);
        let opts = GcOptions {
            dry_run: false,
            delete_untagged: state.config.gc.delete_untagged,
            grace: Duration::from_secs(state.config.gc.grace_secs),
            upload_expiry: expiry,
        };
        set.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let repo = state.repo.clone();
                let o = opts.clone();
                match tokio::task::spawn_blocking(move || gc::collect(&repo, &o)).await {
                    Ok(Ok(r)) => {
                        state.metrics.gc_ran(r.blobs_deleted.len() as u64);
                        tracing::info!(
                            deleted = r.blobs_deleted.len(),
                            freed = r.bytes_freed,
                            "garbage collection done"
                        );
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
                    Err(e) => tracing::warn!(error = %e, "garbage collection panicked"),
                }
            }
        });
    }
}

mod tls {
    //! TLS with rustls from PEM certificate and key files.
    use std::io::BufReader;
    use std::sync::Arc;

    use crate::config::TlsConfig;
    use crate::error::RegistryError;

    pub(crate) fn acceptor(cfg: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor, RegistryError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p)
                .map_err(|e| RegistryError::Tls(format!("reading {}: {e}", p.display())))
        };
        let cert_pem = read(&cfg.cert)?;
        let key_pem = read(&cfg.key)?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(&cert_pem[..]))
            .collect::<Result<_, _>>()
            .map_err(|e| RegistryError::Tls(format!("{}: {e}", cfg.cert.display())))?;
        if certs.is_empty() {
            return Err(RegistryError::Tls(format!(
                "{}: no certificate found",
                cfg.cert.display()
            )));
        }
        let key = rustls_pemfile::private_key(&mut BufReader::new(&key_pem[..]))
            .map_err(|e| RegistryError::Tls(format!("{}: {e}", cfg.key.display())))?
            .ok_or_else(|| {
                RegistryError::Tls(format!("{}: no private key found", cfg.key.display()))
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RegistryError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| RegistryError::Tls(e.to_string()))?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
    }
}

/// A registry served from its own thread and runtime, for tests and embedding; it stops
/// (finishing in-flight requests) when dropped.
pub struct EmbeddedRegistry {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedRegistry {
    /// Starts a registry with `config` (use [`Config::for_tests`] for a free port).
    pub fn start(config: Config) -> Result<Self, RegistryError> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("strata-registry".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(RegistryError::Io(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match bind(config, async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    {
                        Ok((addr, fut)) => {
                            let _ = ready_tx.send(Ok(addr));
                            if let Err(e) = fut.await {
                                tracing::error!(error = %e, "embedded registry failed");
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let addr = ready_rx
            .recv()
            .map_err(|_| RegistryError::Io(std::io::Error::other("registry thread exited")))??;
        Ok(EmbeddedRegistry {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as used in image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` (`https://` when TLS is configured is the caller's business).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the registry and waits for it to finish in-flight requests.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmbeddedRegistry {
    fn drop(&mut self) {
        self.shutdown();
    }
}
