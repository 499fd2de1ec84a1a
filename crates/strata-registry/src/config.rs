//! Server configuration, read from TOML (`strata registry serve --config FILE`). Every field
//! has a default, so an empty file (or none) gives an open registry on 127.0.0.1:5000.
//!
//! ```toml
//! addr = "127.0.0.1:5000"
//! root = "/var/lib/strata/registry"
//! delete_enabled = true
//!
//! [limits]
//! max_manifest_bytes = 4194304   # larger manifest bodies get 413
//! max_blob_bytes = 17179869184   # larger upload bodies get 413
//! max_header_bytes = 65536       # request head size bound
//! body_idle_timeout_secs = 60    # a request body that stalls this long is dropped
//! upload_expiry_secs = 3600      # idle upload sessions expire and are purged
//! rate_limit_per_second = 0      # per client address; 0 = off
//! rate_limit_burst = 100
//!
//! [auth]
//! htpasswd = "/etc/strata/htpasswd"  # bcrypt entries; enables authentication
//! anonymous_pull = false
//! open = false                       # allow an unauthenticated registry on a non-loopback address
//! catalog_users = ["*"]              # who may list the catalog ("*" = any signed-in user)
//! [auth.token]                       # present = Docker token auth via /token, else Basic
//! service = "strata-registry"
//! issuer = "strata-registry"
//! expiry_secs = 300
//! [[auth.access]]
//! repository = "team/*"              # '*' matches any characters, '/' included
//! users = ["alice", "bob"]           # "*" = any signed-in user, "anonymous" = no credentials
//! actions = ["pull", "push", "delete"]
//!
//! [gc]
//! interval_secs = 0                  # periodic online GC; 0 = off
//! grace_secs = 3600                  # blobs younger than this are never collected
//! delete_untagged = false
//!
//! [tls]
//! cert = "/etc/strata/cert.pem"
//! key = "/etc/strata/key.pem"
//!
//! [[notifications]]
//! url = "http://127.0.0.1:9000/events"
//! timeout_secs = 5
//! max_attempts = 5
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::RegistryError;

/// The whole server configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listen address.
    pub addr: SocketAddr,
    /// Storage root (filesystem driver).
    pub root: PathBuf,
    /// Whether manifests, tags and blobs may be deleted (otherwise 405 UNSUPPORTED).
    pub delete_enabled: bool,
    /// Size and time limits.
    pub limits: Limits,
    /// Authentication and authorisation.
    pub auth: AuthConfig,
    /// Garbage collection.
    pub gc: GcConfig,
    /// TLS (both set = HTTPS).
    pub tls: Option<TlsConfig>,
    /// Webhook endpoints.
    pub notifications: Vec<NotificationConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 5000)),
            root: PathBuf::from("registry"),
            delete_enabled: true,
            limits: Limits::default(),
            auth: AuthConfig::default(),
            gc: GcConfig::default(),
            tls: None,
            notifications: Vec::new(),
        }
    }
}

impl Config {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, RegistryError> {
        toml::from_str(text).map_err(|e| RegistryError::Config(describe_toml_error(text, &e)))
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, RegistryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RegistryError::Config(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| {
            RegistryError::Config(format!(
                "{}: {}",
                path.display(),
                describe_toml_error(&text, &e)
            ))
        })
    }

    /// A default configuration storing under `root`, listening on 127.0.0.1 on a free port.
    pub fn for_tests(root: impl Into<PathBuf>) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root: root.into(),
            ..Config::default()
        }
    }
}

/// A one-line description of a TOML error: `line L, column C: message`.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

/// Size and time limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest manifest body (413 above).
    pub max_manifest_bytes: u64,
    /// Largest upload body (413 above).
    pub max_blob_bytes: u64,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// A request body that sends nothing for this long is abandoned.
    pub body_idle_timeout_secs: u64,
    /// Time for a client to send its request head.
    pub header_timeout_secs: u64,
    /// Idle upload sessions expire after this long.
    pub upload_expiry_secs: u64,
    /// How often expired sessions are purged.
    pub purge_interval_secs: u64,
    /// Requests per second per client address (0 = unlimited).
    pub rate_limit_per_second: f64,
    /// Burst size of the per-client bucket.
    pub rate_limit_burst: f64,
    /// Largest `n` accepted by `_catalog` and tags list.
    pub max_page_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_blob_bytes: 16 * 1024 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            body_idle_timeout_secs: 60,
            header_timeout_secs: 30,
            upload_expiry_secs: 3600,
            purge_interval_secs: 600,
            rate_limit_per_second: 0.0,
            rate_limit_burst: 100.0,
            max_page_entries: 1000,
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// htpasswd file with bcrypt entries; setting it turns authentication on.
    pub htpasswd: Option<PathBuf>,
    /// Anonymous clients may pull everything.
    pub anonymous_pull: bool,
    /// Allows serving without authentication on a non-loopback address.
    pub open: bool,
    /// Users allowed `registry:catalog:*` ("*" = any authenticated user).
    pub catalog_users: Vec<String>,
    /// Token server settings; absent = HTTP Basic.
    pub token: Option<TokenConfig>,
    /// Access rules; when empty, every authenticated user may do everything.
    pub access: Vec<AccessRule>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            htpasswd: None,
            anonymous_pull: false,
            open: false,
            catalog_users: vec!["*".into()],
            token: None,
            access: Vec::new(),
        }
    }
}

/// Built-in token server settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Realm URL announced in challenges; default `<scheme>://<Host>/token`.
    pub realm: Option<String>,
    /// The `service` (token audience).
    pub service: String,
    /// The token issuer.
    pub issuer: String,
    /// Token lifetime.
    pub expiry_secs: u64,
    /// HMAC key file; default `<root>/_auth/token.key`, generated on first start.
    pub key_file: Option<PathBuf>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            realm: None,
            service: "strata-registry".into(),
            issuer: "strata-registry".into(),
            expiry_secs: 300,
            key_file: None,
        }
    }
}

/// One access rule: `users` may do `actions` on repositories matching `repository`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// Repository pattern; `*` matches any run of characters including `/`.
    pub repository: String,
    /// User names; `*` = any authenticated user; `anonymous` = unauthenticated clients.
    pub users: Vec<String>,
    /// Any of `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

/// Garbage collection settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcConfig {
    /// Run GC every this many seconds while serving (0 = never).
    pub interval_secs: u64,
    /// Blobs modified within this window are kept.
    pub grace_secs: u64,
    /// Also delete manifests no tag reaches.
    pub delete_untagged: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval_secs: 0,
            grace_secs: 3600,
            delete_untagged: false,
        }
    }
}

/// TLS certificate and key (PEM).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain PEM.
    pub cert: PathBuf,
    /// Private key PEM.
    pub key: PathBuf,
}

/// A webhook endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationConfig {
    /// `http://` URL receiving POSTed envelopes.
    pub url: String,
    /// Per-attempt timeout.
    pub timeout_secs: u64,
    /// Attempts before an event is dropped (backoff doubles from 250 ms).
    pub max_attempts: u32,
    /// Extra headers sent with every request.
    pub headers: std::collections::BTreeMap<String, String>,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            url: String::new(),
            timeout_secs: 5,
            max_attempts: 5,
            headers: Default::default(),
        }
    }
}
