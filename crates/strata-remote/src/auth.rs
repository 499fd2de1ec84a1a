//! Credentials and registry authentication.
//!
//! * Credentials come from Strata's own `auth.json` (written by `strata login`) first,
//!   then Docker's `config.json`: `credHelpers[host]`, `auths[host]`, then `credsStore`.
//!   Helpers are run as `docker-credential-<name> get` with the server URL on stdin, as
//!   Docker does.
//! * `WWW-Authenticate` challenges are parsed into [`Challenge`]s; Bearer tokens are
//!   fetched from the realm with `service` and `scope` (Docker's token spec) and cached
//!   per scope until they expire (the client keeps the cache).
//!
//! Passwords never appear in `Debug` output, logs or errors.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{ClientConfig, DOCKER_HUB_AUTH_KEY};
use crate::error::{RemoteError, Result};

/// A user name and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token. Never printed.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic …` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic` (lowercased).
    pub scheme: String,
    /// Parameters (`realm`, `service`, `scope`, `error`), keys lowercased.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses one challenge header value (`Bearer realm="…",service="…"`).
    pub fn parse(value: &str) -> Option<Challenge> {
        let value = value.trim();
        let (scheme, rest) = match value.find(char::is_whitespace) {
            Some(i) => (&value[..i], value[i..].trim_start()),
            None => (value, ""),
        };
        if scheme.is_empty() {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut s = rest;
        while !s.is_empty() {
            let Some(eq) = s.find('=') else { break };
            let key = s[..eq]
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            s = &s[eq + 1..];
            let val;
            if let Some(q) = s.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                out.push(n);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => out.push(c),
                    }
                }
                val = out;
                s = &q[end.min(q.len())..];
            } else {
                let end = s.find(',').unwrap_or(s.len());
                val = s[..end].trim().to_string();
                s = &s[end..];
            }
            s = s.trim_start().trim_start_matches(',').trim_start();
            if !key.is_empty() {
                params.insert(key, val);
            }
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    /// A parameter.
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }
}

/// A token endpoint's answer (`token` or `access_token`, `expires_in`).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The token.
    #[serde(default)]
    pub token: Option<String>,
    /// OAuth2 spelling of the token.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Lifetime in seconds (default 60).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token, whichever field carries it.
    pub fn bearer(&self) -> Option<&str> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(self.access_token.as_deref())
    }
}

/// Where credentials are read from and written to.
#[derive(Debug, Clone)]
pub struct AuthFiles {
    /// Strata's own file (`<config>/auth.json`).
    pub strata_file: PathBuf,
    /// Docker's `config.json`, if any.
    pub docker_file: Option<PathBuf>,
}

/// The key under which credentials for a registry domain are stored (Docker's: the v1
/// index URL for Docker Hub, the bare host otherwise).
pub fn auth_key(domain: &str) -> String {
    if domain == "docker.io" || domain == "index.docker.io" || domain == "registry-1.docker.io" {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// The bare host of a config key (`https://host/v1/` → `host`).
fn key_host(k: &str) -> &str {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    k.split('/').next().unwrap_or(k)
}

fn read_json(p: &Path) -> Result<Option<Value>> {
    match std::fs::read(p) {
        Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(None),
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| RemoteError::Config(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RemoteError::io(p, e)),
    }
}

fn decode_entry(v: &Value) -> Option<Credentials> {
    if let Some(a) = v
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        return Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    if let Some(t) = v
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Some(Credentials {
            username: "<token>".into(),
            password: t.to_string(),
        });
    }
    let u = v.get("username").and_then(Value::as_str)?;
    let p = v.get("password").and_then(Value::as_str)?;
    Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

fn find_entry<'a>(auths: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = auths.get(key) {
        return Some(v);
    }
    let host = key_host(key);
    auths
        .iter()
        .find(|(k, _)| key_host(k) == host)
        .map(|(_, v)| v)
}

/// Runs `docker-credential-<helper> get` for `server`.
pub fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RemoteError::CredentialHelper(format!("{prog}: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| RemoteError::CredentialHelper(format!("{prog}: {e}")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(RemoteError::CredentialHelper(format!("{prog}: {text}")));
    }
    #[derive(Deserialize)]
    struct HelperOut {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let h: HelperOut = serde_json::from_slice(&out.stdout)
        .map_err(|e| RemoteError::CredentialHelper(format!("{prog}: invalid output: {e}")))?;
    if h.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: h.username,
        password: h.secret,
    }))
}

impl AuthFiles {
    /// The files of a client configuration.
    pub fn from_config(c: &ClientConfig) -> AuthFiles {
        AuthFiles {
            strata_file: c.config_dir.join("auth.json"),
            docker_file: c.docker_config_dir.as_ref().map(|d| d.join("config.json")),
        }
    }

    /// Credentials for a registry domain, or None for anonymous access.
    pub fn get(&self, domain: &str) -> Result<Option<Credentials>> {
        let key = auth_key(domain);
        if let Some(v) = read_json(&self.strata_file)? {
            if let Some(e) = v
                .get("auths")
                .and_then(Value::as_object)
                .and_then(|a| find_entry(a, &key))
            {
                if let Some(c) = decode_entry(e) {
                    return Ok(Some(c));
                }
            }
        }
        let Some(df) = &self.docker_file else {
            return Ok(None);
        };
        let Some(v) = read_json(df)? else {
            return Ok(None);
        };
        let host = key_host(&key).to_string();
        if let Some(h) = v
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| m.get(&key).or_else(|| m.get(&host)))
            .and_then(Value::as_str)
        {
            return helper_get(h, &key);
        }
        if let Some(e) = v
            .get("auths")
            .and_then(Value::as_object)
            .and_then(|a| find_entry(a, &key))
        {
            if let Some(c) = decode_entry(e) {
                return Ok(Some(c));
            }
        }
        if let Some(s) = v
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return helper_get(s, &key);
        }
        Ok(None)
    }

    /// Stores credentials for `domain` in Strata's file (0600, atomically).
    pub fn store(&self, domain: &str, c: &Credentials) -> Result<()> {
        let mut v = read_json(&self.strata_file)?.unwrap_or_else(|| json!({}));
        if !v.is_object() {
            v = json!({});
        }
        let raw = format!("{}:{}", c.username, c.password);
        let enc = base64::engine::general_purpose::STANDARD.encode(raw);
        let auths = v
            .as_object_mut()
            .expect("object")
            .entry("auths")
            .or_insert_with(|| json!({}));
        if !auths.is_object() {
            *auths = json!({});
        }
        auths
            .as_object_mut()
            .expect("object")
            .insert(auth_key(domain), json!({ "auth": enc }));
        self.write(&v)
    }

    /// Removes credentials for `domain` from Strata's file. Returns whether any were there.
    pub fn remove(&self, domain: &str) -> Result<bool> {
        let Some(mut v) = read_json(&self.strata_file)? else {
            return Ok(false);
        };
        let key = auth_key(domain);
        let host = key_host(&key).to_string();
        let removed = match v.get_mut("auths").and_then(Value::as_object_mut) {
            Some(a) => {
                let keys: Vec<String> = a.keys().filter(|k| key_host(k) == host).cloned().collect();
                for k in &keys {
                    a.remove(k);
                }
                !keys.is_empty()
            }
            None => false,
        };
        if removed {
            self.write(&v)?;
        }
        Ok(removed)
    }

    fn write(&self, v: &Value) -> Result<()> {
        let p = &self.strata_file;
        let dir = p.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| RemoteError::io(dir, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| RemoteError::io(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600));
        }
        let bytes = serde_json::to_vec_pretty(v).map_err(|e| RemoteError::Config(e.to_string()))?;
        tmp.write_all(&bytes).map_err(|e| RemoteError::io(p, e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| RemoteError::io(p, e))?;
        tmp.persist(p).map_err(|e| RemoteError::io(p, e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(
            c.param("scope"),
            Some("repository:samalba/my-app:pull,push")
        );
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        let b = Challenge::parse(r#"Basic realm="basic-realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.param("realm"), Some("basic-realm"));
    }

    #[test]
    fn files_round_trip_and_docker_config_fallback() {
        let d = tempfile::tempdir().unwrap();
        let docker = d.path().join("docker/config.json");
        std::fs::create_dir_all(docker.parent().unwrap()).unwrap();
        std::fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"https://reg.lan:5000":{"username":"a","password":"b"}}}"#,
        )
        .unwrap();
        let f = AuthFiles {
            strata_file: d.path().join("s/auth.json"),
            docker_file: Some(docker),
        };
        assert_eq!(f.get("docker.io").unwrap().unwrap().username, "u");
        assert_eq!(f.get("reg.lan:5000").unwrap().unwrap().password, "b");
        assert!(f.get("other:1").unwrap().is_none());
        let c = Credentials {
            username: "x".into(),
            password: "secret".into(),
        };
        f.store("reg.lan:5000", &c).unwrap();
        assert_eq!(f.get("reg.lan:5000").unwrap().unwrap(), c);
        assert!(!format!("{c:?}").contains("secret"));
        assert!(f.remove("reg.lan:5000").unwrap());
        assert!(!f.remove("reg.lan:5000").unwrap());
        assert_eq!(f.get("reg.lan:5000").unwrap().unwrap().username, "a");
    }
}
