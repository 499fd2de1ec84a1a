//! Authentication and authorisation: htpasswd (bcrypt) users, per-repository access rules,
//! HTTP Basic, and a built-in Docker token server (`/token`) issuing HS256 JWTs with
//! `access` claims. Tokens are verified with a fixed algorithm and a server-held key; no
//! key material is ever taken from a token (CVE-2025-24976).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Mutex;

use axum::http::{header, HeaderMap, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::{AuthConfig, TokenConfig};
use crate::error::{ApiError, RegistryError};

type HmacSha256 = Hmac<Sha256>;

/// Clock skew tolerated on `exp`/`nbf`, as Docker's token spec suggests.
const LEEWAY_SECS: i64 = 60;

/// One access request or grant: `type:name:actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Actions (`pull`, `push`, `delete`, `*`).
    pub actions: Vec<String>,
}

impl Access {
    /// A repository scope.
    pub fn repo(name: &str, actions: &[&str]) -> Self {
        Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
        }
    }
    /// The catalog scope.
    pub fn catalog() -> Self {
        Access {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }
    }
    /// Parses `type[(class)]:name:actions`; the name may itself contain a ':'.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        let kind = kind.split('(').next().unwrap_or(kind);
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Access {
            kind: kind.into(),
            name: name.into(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect(),
        })
    }
    fn scope_string(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: Vec<Access>,
}

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name, `None` for anonymous.
    pub user: Option<String>,
}

/// The authenticator built from [`AuthConfig`].
pub struct Auth {
    cfg: AuthConfig,
    users: BTreeMap<String, String>,
    token: Option<(TokenConfig, Vec<u8>)>,
    tls: bool,
    verified: Mutex<HashSet<[u8; 32]>>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Random bytes from the kernel.
pub(crate) fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// Whether `pattern` (with `*` wildcards matching anything, '/' included) matches `s`.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Reads an htpasswd file: `user:$2y$…` lines (bcrypt only).
pub fn load_htpasswd(path: &Path) -> Result<BTreeMap<String, String>, RegistryError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RegistryError::Config(format!("reading htpasswd {}: {e}", path.display())))?;
    let mut users = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(RegistryError::Config(format!(
                "{}:{}: expected user:hash",
                path.display(),
                i + 1
            )));
        };
        if !hash.starts_with("$2") {
            return Err(RegistryError::Config(format!(
                "{}:{}: only bcrypt entries are supported (htpasswd -B)",
                path.display(),
                i + 1
            )));
        }
        users.insert(user.to_string(), hash.to_string());
    }
    Ok(users)
}

fn load_or_create_key(path: &Path) -> Result<Vec<u8>, RegistryError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(k) = hex::decode(text.trim()) {
            if k.len() >= 32 {
                return Ok(k);
            }
        }
        return Err(RegistryError::Config(format!(
            "{}: not a hex key of at least 32 bytes",
            path.display()
        )));
    }
    let key = random_bytes(32)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    std::io::Write::write_all(&mut tmp, hex::encode(&key).as_bytes())?;
    tmp.persist(path).map_err(|e| RegistryError::Io(e.error))?;
    Ok(key)
}

impl Auth {
    /// Builds the authenticator; `root` is where a generated token key is kept.
    pub fn new(cfg: &AuthConfig, root: &Path, tls: bool) -> Result<Self, RegistryError> {
        let users = match &cfg.htpasswd {
            Some(p) => load_htpasswd(p)?,
            None => BTreeMap::new(),
        };
        let token = match &cfg.token {
            Some(t) => {
                let key_path = t
                    .key_file
                    .clone()
                    .unwrap_or_else(|| root.join("_auth").join("token.key"));
                Some((t.clone(), load_or_create_key(&key_path)?))
            }
            None => None,
        };
        for rule in &cfg.access {
            for a in &rule.actions {
                if !matches!(a.as_str(), "pull" | "push" | "delete" | "*") {
                    return Err(RegistryError::Config(format!(
                        "access rule action {a:?}: expected pull, push, delete or *"
                    )));
                }
            }
        }
        Ok(Auth {
            cfg: cfg.clone(),
            users,
            token,
            tls,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether authentication is on (an htpasswd file is configured).
    pub fn enabled(&self) -> bool {
        self.cfg.htpasswd.is_some()
    }

    /// Whether the token server is on.
    pub fn token_enabled(&self) -> bool {
        self.enabled() && self.token.is_some()
    }

    /// Checks a user name and password against the htpasswd entries.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.update([0]);
        h.update(hash.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if self
            .verified
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 10_000 {
                    s.clear();
                }
                s.insert(key);
            }
        }
        ok
    }

    /// The actions `user` may perform on repository `repo`.
    pub fn permitted(&self, user: Option<&str>, repo: &str) -> BTreeSet<String> {
        let all = || {
            ["pull", "push", "delete"]
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        };
        if !self.enabled() {
            return all();
        }
        let mut out = BTreeSet::new();
        if user.is_none() && self.cfg.anonymous_pull {
            out.insert("pull".to_string());
        }
        if self.cfg.access.is_empty() {
            if user.is_some() {
                return all();
            }
            return out;
        }
        for rule in &self.cfg.access {
            let who = rule.users.iter().any(|u| match (u.as_str(), user) {
                ("anonymous", None) => true,
                ("*", Some(_)) => true,
                (name, Some(us)) => name == us,
                _ => false,
            });
            if who && glob_match(&rule.repository, repo) {
                for a in &rule.actions {
                    if a == "*" {
                        out.extend(all());
                    } else {
                        out.insert(a.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether `user` may list the catalog.
    pub fn catalog_allowed(&self, user: Option<&str>) -> bool {
        if !self.enabled() {
            return true;
        }
        self.cfg
            .catalog_users
            .iter()
            .any(|u| match (u.as_str(), user) {
                ("anonymous", None) => true,
                ("*", Some(_)) => true,
                (name, Some(us)) => name == us,
                _ => false,
            })
    }

    fn grants(&self, user: Option<&str>, want: &Access) -> Vec<String> {
        match want.kind.as_str() {
            "repository" => {
                if !crate::validate::is_valid_name(&want.name) {
                    return Vec::new();
                }
                let allowed = self.permitted(user, &want.name);
                let mut out: Vec<String> = Vec::new();
                for a in &want.actions {
                    let expanded: Vec<&str> = if a == "*" {
                        vec!["pull", "push", "delete"]
                    } else {
                        vec![a.as_str()]
                    };
                    for e in expanded {
                        if allowed.contains(e) && !out.iter().any(|x| x == e) {
                            out.push(e.to_string());
                        }
                    }
                }
                out
            }
            "registry" if want.name == "catalog" && self.catalog_allowed(user) => vec!["*".into()],
            _ => Vec::new(),
        }
    }

    fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let Ok(raw) = STANDARD.decode(rest.trim()) else {
            return Some(Err(()));
        };
        let Ok(text) = String::from_utf8(raw) else {
            return Some(Err(()));
        };
        match text.split_once(':') {
            Some((u, p)) => Some(Ok((u.to_string(), p.to_string()))),
            None => Some(Err(())),
        }
    }

    fn bearer(headers: &HeaderMap) -> Option<&str> {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }

    fn realm(&self, headers: &HeaderMap) -> String {
        if let Some((t, _)) = &self.token {
            if let Some(r) = &t.realm {
                return r.clone();
            }
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!("{}://{host}/token", if self.tls { "https" } else { "http" })
    }

    /// The 401 answer for a request needing `needs`.
    fn challenge(&self, headers: &HeaderMap, needs: &[Access], error: Option<&str>) -> ApiError {
        let value = match &self.token {
            Some((t, _)) => {
                let mut v = format!(
                    "Bearer realm=\"{}\",service=\"{}\"",
                    self.realm(headers),
                    t.service
                );
                if !needs.is_empty() {
                    let scopes: Vec<String> = needs.iter().map(Access::scope_string).collect();
                    v.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
                }
                if let Some(e) = error {
                    v.push_str(&format!(",error=\"{e}\""));
                }
                v
            }
            None => "Basic realm=\"strata-registry\"".to_string(),
        };
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        )
        .with_header(header::WWW_AUTHENTICATE, value)
    }

    /// Authorises a request that needs every access in `needs` (empty = any valid
    /// credentials, as for `GET /v2/`).
    pub fn authorize(&self, headers: &HeaderMap, needs: &[Access]) -> Result<Identity, ApiError> {
        if !self.enabled() {
            return Ok(Identity { user: None });
        }
        if let (Some(tok), Some(_)) = (Self::bearer(headers), &self.token) {
            let claims = match self.verify_token(tok) {
                Some(c) => c,
                None => return Err(self.challenge(headers, needs, Some("invalid_token"))),
            };
            let user = if claims.sub.is_empty() {
                None
            } else {
                Some(claims.sub.clone())
            };
            let mut missing = false;
            for need in needs {
                for a in &need.actions {
                    let granted = claims.access.iter().any(|g| {
                        g.kind == need.kind
                            && g.name == need.name
                            && g.actions.iter().any(|x| x == a || x == "*")
                    });
                    if !granted {
                        missing = true;
                    }
                }
            }
            if !missing {
                return Ok(Identity { user });
            }
            // Would a fresh token carry the rights? Then ask the client to get one.
            let could = needs.iter().all(|n| {
                let g = self.grants(user.as_deref(), n);
                n.actions
                    .iter()
                    .all(|a| g.iter().any(|x| x == a || x == "*"))
            });
            if could || user.is_none() {
                return Err(self.challenge(headers, needs, Some("insufficient_scope")));
            }
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "DENIED",
                "requested access to the resource is denied",
            ));
        }
        let user = match Self::basic_credentials(headers) {
            Some(Ok((u, p))) if self.check_password(&u, &p) => Some(u),
            Some(_) => return Err(self.challenge(headers, needs, None)),
            None => None,
        };
        if needs.is_empty() {
            if user.is_none() && !self.cfg.anonymous_pull {
                return Err(self.challenge(headers, needs, None));
            }
            if user.is_none() && self.token.is_some() {
                // Token clients learn the realm from /v2/ and fetch an anonymous token.
                return Err(self.challenge(headers, needs, None));
            }
            return Ok(Identity { user });
        }
        let ok = needs.iter().all(|n| {
            let g = self.grants(user.as_deref(), n);
            n.actions
                .iter()
                .all(|a| g.iter().any(|x| x == a || x == "*"))
        });
        if ok {
            Ok(Identity { user })
        } else if user.is_none() {
            Err(self.challenge(headers, needs, None))
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "DENIED",
                "requested access to the resource is denied",
            ))
        }
    }

    fn sign(&self, claims: &Claims) -> Option<String> {
        let (_, key) = self.token.as_ref()?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).ok()?);
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        mac.update(format!("{header}.{payload}").as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Some(format!("{header}.{payload}.{sig}"))
    }

    fn verify_token(&self, tok: &str) -> Option<Claims> {
        let (cfg, key) = self.token.as_ref()?;
        let mut parts = tok.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        mac.update(format!("{h}.{p}").as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let t = now();
        if claims.iss != cfg.issuer
            || claims.aud != cfg.service
            || claims.exp + LEEWAY_SECS < t
            || claims.nbf - LEEWAY_SECS > t
        {
            return None;
        }
        Some(claims)
    }

    /// Answers a token request: authenticates (Basic or anonymous) and grants the
    /// intersection of the requested scopes and the user's rights.
    pub fn issue_token(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
        service: Option<&str>,
        creds: Option<(String, String)>,
    ) -> Result<serde_json::Value, ApiError> {
        let Some((cfg, _)) = &self.token else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "UNSUPPORTED",
                "token authentication is not enabled",
            ));
        };
        if let Some(s) = service {
            if s != cfg.service {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UNSUPPORTED",
                    format!("unknown service {s:?}"),
                ));
            }
        }
        let creds = match creds {
            Some(c) => Some(Ok(c)),
            None => Self::basic_credentials(headers),
        };
        let user = match creds {
            Some(Ok((u, p))) if self.check_password(&u, &p) => Some(u),
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "incorrect username or password",
                )
                .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"strata-registry\""))
            }
            None => None,
        };
        let mut access = Vec::new();
        for scope in scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty())
        {
            let Some(want) = Access::parse(scope) else {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UNSUPPORTED",
                    format!("invalid scope {scope:?}"),
                ));
            };
            let granted = self.grants(user.as_deref(), &want);
            access.push(Access {
                kind: want.kind,
                name: want.name,
                actions: granted,
            });
        }
        let t = now();
        let jti = hex::encode(random_bytes(16).map_err(ApiError::internal)?);
        let claims = Claims {
            iss: cfg.issuer.clone(),
            sub: user.clone().unwrap_or_default(),
            aud: cfg.service.clone(),
            exp: t + cfg.expiry_secs as i64,
            nbf: t,
            iat: t,
            jti,
            access: access.clone(),
        };
        let token = self
            .sign(&claims)
            .ok_or_else(|| ApiError::internal("signing failed"))?;
        let issued = chrono::DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let scope: Vec<String> = access
            .iter()
            .filter(|a| !a.actions.is_empty())
            .map(Access::scope_string)
            .collect();
        Ok(serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": cfg.expiry_secs,
            "issued_at": issued,
            "scope": scope.join(" "),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "a/b/c"));
        assert!(glob_match("team/*", "team/x/y"));
        assert!(!glob_match("team/*", "other/x"));
        assert!(glob_match("a*c", "abbbc"));
        assert!(!glob_match("a*c", "abbbd"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn scopes() {
        let a = Access::parse("repository:localhost:5000/foo:pull,push").unwrap();
        assert_eq!(a.name, "localhost:5000/foo");
        assert_eq!(a.actions, vec!["pull", "push"]);
        let c = Access::parse("registry:catalog:*").unwrap();
        assert_eq!(c, Access::catalog());
        assert!(Access::parse("nonsense").is_none());
    }
}
