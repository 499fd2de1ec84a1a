//! Client configuration: where Strata's own files live, which registries may be spoken
//! to over plain HTTP, per-registry mirrors, CA certificates, retries and timeouts.
//!
//! Files under the config directory (`$STRATA_CONFIG`, else `$XDG_CONFIG_HOME/strata`,
//! else `~/.config/strata`):
//!
//! ```text
//! auth.json          credentials written by `strata login` (Docker's `auths` format)
//! registries.json    {"insecure-registries": ["host:port"],
//!                     "registry-mirrors": ["https://mirror"],          (for docker.io)
//!                     "mirrors": {"host:port": ["http://127.0.0.1:5001"]}}
//! certs.d/<host>/ca.crt, *.crt   extra CA roots for one registry (Docker's layout;
//!                    /etc/docker/certs.d is read too)
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{RemoteError, Result};

/// The registry host that serves `docker.io` names.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// The host that serves Docker Hub's v1 search.
pub const DOCKER_HUB_INDEX: &str = "index.docker.io";
/// The key Docker uses for Docker Hub in `config.json`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// How the client behaves. Build it with [`ClientConfig::load`] (files and environment)
/// or [`ClientConfig::in_dir`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Strata's config directory (auth.json, registries.json, certs.d).
    pub config_dir: PathBuf,
    /// Docker's config directory (`$DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config_dir: Option<PathBuf>,
    /// Extra registries (host[:port]) allowed over plain HTTP, besides loopback.
    pub insecure_registries: Vec<String>,
    /// Mirrors (base URLs) per registry domain, tried in order before the origin (pulls only).
    pub mirrors: HashMap<String, Vec<String>>,
    /// Directories holding `<host>/ca.crt` (Docker's `certs.d` layout).
    pub certs_dirs: Vec<PathBuf>,
    /// Attempts per request or blob before giving up (Docker: 5).
    pub max_attempts: u32,
    /// Delay before the second retry; doubled each time after (the first retry is at once).
    pub retry_delay: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response before the connection is given up.
    pub read_timeout: Duration,
    /// User-Agent header.
    pub user_agent: String,
    /// Entries asked for per page of tags or catalog (`?n=`); `Link` pages are followed.
    pub page_size: usize,
}

#[derive(Debug, Default, Deserialize)]
struct RegistriesFile {
    #[serde(default, rename = "insecure-registries")]
    insecure_registries: Vec<String>,
    #[serde(default, rename = "registry-mirrors")]
    registry_mirrors: Vec<String>,
    #[serde(default)]
    mirrors: HashMap<String, Vec<String>>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

impl ClientConfig {
    /// The default config directory.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("STRATA_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(x).join("strata");
        }
        home().join(".config/strata")
    }

    /// Docker's config directory.
    pub fn default_docker_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        home().join(".docker")
    }

    /// Defaults with `dir` as the config directory, reading `dir/registries.json`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Result<ClientConfig> {
        let config_dir: PathBuf = dir.into();
        let mut c = ClientConfig {
            certs_dirs: vec![
                config_dir.join("certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            config_dir,
            docker_config_dir: Some(Self::default_docker_dir()),
            insecure_registries: Vec::new(),
            mirrors: HashMap::new(),
            max_attempts: 5,
            retry_delay: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            user_agent: format!("strata/{}", env!("CARGO_PKG_VERSION")),
            page_size: 1000,
        };
        let p = c.config_dir.join("registries.json");
        match std::fs::read(&p) {
            Ok(bytes) => {
                let f: RegistriesFile = serde_json::from_slice(&bytes)
                    .map_err(|e| RemoteError::Config(format!("{}: {e}", p.display())))?;
                c.insecure_registries = f.insecure_registries;
                c.mirrors = f.mirrors;
                if !f.registry_mirrors.is_empty() {
                    c.mirrors
                        .entry("docker.io".into())
                        .or_default()
                        .extend(f.registry_mirrors);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RemoteError::io(&p, e)),
        }
        Ok(c)
    }

    /// Defaults from the environment and the default config directory.
    pub fn load() -> Result<ClientConfig> {
        Self::in_dir(Self::default_dir())
    }

    /// Whether `host` (host[:port] as in a reference) may be spoken to over plain HTTP:
    /// loopback addresses, `localhost`, and registries named in the config.
    pub fn is_insecure(&self, host: &str) -> bool {
        if self.insecure_registries.iter().any(|h| {
            let h = h
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            h.trim_end_matches('/') == host
        }) {
            return true;
        }
        is_loopback(host)
    }

    /// The host that serves a reference domain (`docker.io` → `registry-1.docker.io`).
    pub fn registry_host(domain: &str) -> &str {
        if domain == "docker.io" || domain == DOCKER_HUB_INDEX {
            DOCKER_HUB_REGISTRY
        } else {
            domain
        }
    }

    /// PEM CA files for `host`.
    pub fn ca_files(&self, host: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in &self.certs_dirs {
            let dir = d.join(host);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().ends_with(".cert"))
                })
                .collect();
            files.sort();
            out.extend(files);
        }
        out
    }
}

/// Whether host[:port] is a loopback name or address.
pub fn is_loopback(host: &str) -> bool {
    let h = strip_port(host);
    if h == "localhost" {
        return true;
    }
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h.parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// host[:port] without the port (IPv6 brackets kept off).
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn registries_file_and_hub_mirrors() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("registries.json"),
            r#"{"insecure-registries":["reg.lan:5000"],"registry-mirrors":["http://m:1"],"mirrors":{"q.io":["http://m:2"]}}"#,
        )
        .unwrap();
        let c = ClientConfig::in_dir(d.path()).unwrap();
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(!c.is_insecure("reg.lan:5001"));
        assert_eq!(c.mirrors["docker.io"], vec!["http://m:1"]);
        assert_eq!(c.mirrors["q.io"], vec!["http://m:2"]);
        assert_eq!(
            ClientConfig::registry_host("docker.io"),
            "registry-1.docker.io"
        );
    }
}
