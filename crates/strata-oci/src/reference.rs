//! Image references (`docker.io/library/alpine:3.20@sha256:…`) with Docker's grammar,
//! normalisation, familiar forms and error messages.
//!
//! This is a hand-written parser for the grammar of `github.com/distribution/reference`:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] remote-name
//! domain           := host [ ":" port-number ]
//! host             := domain-name | "[" ipv6 "]"
//! domain-name      := domain-component [ "." domain-component ]*
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! remote-name      := path-component [ "/" path-component ]*
//! path-component   := [a-z0-9]+ [ separator [a-z0-9]+ ]*
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [\w][\w.-]{0,127}
//! digest           := algorithm ":" hex{32,}     (then validated as a [`Digest`])
//! ```
//!
//! [`Reference::parse_normalized`] follows Docker's `ParseNormalizedNamed`: a first path
//! element is a registry host when it is `localhost`, contains `.` or `:`, or has an
//! uppercase letter; otherwise the reference lives on Docker Hub (`docker.io`), where a
//! single-element name gets the `library/` namespace. `index.docker.io` is folded into
//! `docker.io`. The error texts are Docker's, since the CLI prints them verbatim.
//!
//! Two deliberate differences from Docker, both for names Docker itself cannot use:
//! * a name whose first element looks like a host but is not a valid one, while the whole
//!   is a valid path (`a_b.c/x`), is refused; Docker accepts it with an empty registry
//!   and then fails with `Get "https:/v2/": http: no Host in request URL`.
//! * the familiar form keeps `docker.io/` (or `library/`) when dropping it would change
//!   the meaning: `docker.io/a.b/x` stays as is (Docker prints `a.b/x`, which names
//!   registry `a.b`), and `docker.io/library/<64 hex>` becomes `library/<64 hex>` (Docker
//!   prints the bare hex, which reads back as an image ID).
//!
//! The total name length (`domain/path`) is limited to 255 characters, as the OCI
//! distribution specification advises clients.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::digest::{Digest, DigestError};

/// The registry of Docker Hub in normalised references.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The legacy Docker Hub host, folded into [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Largest total length of a name (`domain/path`).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Largest length of a tag.
pub const TAG_MAX_LENGTH: usize = 128;

/// Why a string is not an image reference. The messages are Docker's.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    /// The string does not follow the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository name (after normalisation, e.g. `library/Foo`) has uppercase letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    NotLowercase(String),
    /// The reference would be valid if lowercased (Docker's `ErrNameContainsUppercase`).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The repository name is empty.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The repository name is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// The tag does not match `[\w][\w.-]{0,127}`.
    #[error("invalid tag format")]
    TagInvalidFormat,
    /// The digest has the reference shape but is not a valid digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The whole reference is 64 lowercase hex characters, which would be an image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
}

/// A parsed, normalised image reference: registry domain, repository path, optional tag
/// and optional digest. The domain is never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Docker's `ParseNormalizedNamed`: `alpine` becomes `docker.io/library/alpine`,
    /// `user/x:1` becomes `docker.io/user/x:1`. No default tag is added.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if is_hex_identifier(s) {
            return Err(ReferenceError::HexIdentifier(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::NotLowercase(remote.to_string()));
        }
        let full = format!("{domain}/{remainder}");
        let parsed = parse_grammar(&full)?;
        match parsed.domain {
            // Only possible when the first element was taken for a host that is not one
            // (e.g. `a_b.c/x`); such a reference has no usable registry.
            None => Err(ReferenceError::InvalidFormat),
            Some(domain) => Ok(Reference {
                domain: domain.to_string(),
                path: parsed.path.to_string(),
                tag: parsed.tag.map(str::to_string),
                digest: parsed.digest,
            }),
        }
    }

    /// [`Reference::parse_normalized`] followed by Docker's `TagNameOnly`: `:latest` is
    /// added when the reference names neither a tag nor a digest.
    pub fn parse_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_normalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// The registry domain, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry: `library/alpine`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full name, `domain/path`: `docker.io/library/alpine`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The name as Docker shows it: `alpine`, `user/x`, `localhost:5000/x/y`.
    ///
    /// `docker.io/` is dropped, and `library/` too when one element follows it, unless
    /// the shortened name would parse as a different repository.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // A bare 64-hex name would read back as an image ID: keep `library/`.
            if !rest.contains('/') && !is_hex_identifier(rest) {
                return rest.to_string();
            }
        }
        match self.path.split_once('/') {
            // A single element is read back under `library/`; keep the full name.
            None => self.name(),
            Some((first, _)) if first_element_is_domain(first) => self.name(),
            Some(_) => self.path.clone(),
        }
    }

    /// The familiar name with `:tag` and `@digest` as present: `alpine:latest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same name with `tag` and no digest; the tag is validated.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same name with digest `d` and no tag: `name@digest`.
    pub fn with_digest(&self, d: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(d),
        }
    }

    /// The same name without tag or digest.
    pub fn name_only(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Whether the reference names a Docker Hub repository (domain `docker.io`).
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for Reference {
    /// The full reference: `docker.io/library/alpine:latest`, `x@sha256:…`, `x:t@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    /// Same as [`Reference::parse_normalized`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_normalized(&s).map_err(serde::de::Error::custom)
    }
}

/// Validates a tag alone: `[\w][\w.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    if is_tag(tag) {
        Ok(())
    } else {
        Err(ReferenceError::TagInvalidFormat)
    }
}

/// Validates a repository path without domain (`library/alpine`) against the OCI
/// distribution name grammar, as a registry server receives it; at most 255 characters.
pub fn validate_repository_path(path: &str) -> Result<(), ReferenceError> {
    if path.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    if !is_remote_name(path) {
        let lower = path.to_lowercase();
        if lower != path && is_remote_name(&lower) {
            return Err(ReferenceError::NameContainsUppercase);
        }
        return Err(ReferenceError::InvalidFormat);
    }
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    Ok(())
}

/// Docker's `image ls --filter reference=PATTERN` matching.
///
/// The pattern is a Go `path.Match` glob (`*` does not cross `/`, `?`, `[...]` classes,
/// `\` escapes). It is tried, as Docker does, against the familiar string (`alpine:3`)
/// and the familiar name (`alpine`), then against the full string
/// (`docker.io/library/alpine:3`) and the full name. A malformed pattern matches nothing.
pub fn reference_filter_matches(pattern: &str, reference: &Reference) -> bool {
    let candidates = [
        reference.familiar_string(),
        reference.familiar_name(),
        reference.to_string(),
        reference.name(),
    ];
    candidates
        .iter()
        .any(|c| path_match(pattern, c).unwrap_or(false))
}

// ---------------------------------------------------------------------------------------
// Normalisation

/// Docker's `splitDockerDomain`: chooses the registry for a familiar reference and returns
/// it with the rest of the string (path, tag and digest).
fn split_docker_domain(s: &str) -> (String, String) {
    let Some((first, rest)) = s.split_once('/') else {
        return (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{s}"),
        );
    };
    let (domain, remote) = if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first_element_is_domain(first) {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, s)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (
            domain.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{remote}"),
        )
    } else {
        (domain.to_string(), remote.to_string())
    }
}

/// Whether Docker takes the first element of a name for a registry host.
fn first_element_is_domain(first: &str) -> bool {
    first == "localhost" || first.contains(['.', ':']) || first.to_lowercase() != first
}

/// `^[a-f0-9]{64}$`: an image ID, refused as a repository name.
fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---------------------------------------------------------------------------------------
// Grammar (Docker's `Parse`)

struct Parsed<'a> {
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<Digest>,
}

/// Docker's `Parse` for a string that must carry a name.
fn parse_grammar(s: &str) -> Result<Parsed<'_>, ReferenceError> {
    if s.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    let Some((name, tag, digest)) = match_reference(s) else {
        let lower = s.to_lowercase();
        if lower != s && match_reference(&lower).is_some() {
            return Err(ReferenceError::NameContainsUppercase);
        }
        return Err(ReferenceError::InvalidFormat);
    };
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    let digest = digest.map(Digest::parse).transpose()?;
    let (domain, path) = split_name(name);
    Ok(Parsed {
        domain,
        path,
        tag,
        digest,
    })
}

/// Matches the whole reference grammar; returns the name, tag and digest parts.
fn match_reference(s: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (before_digest, digest) = match s.split_once('@') {
        Some((b, d)) => {
            if !is_digest_shape(d) {
                return None;
            }
            (b, Some(d))
        }
        None => (s, None),
    };
    // A tag holds neither '/' nor ':', a name holds ':' only in its domain, which is
    // always followed by '/'. So the tag separator is the last ':' with no '/' after it.
    let (name, tag) = match before_digest.rfind(':') {
        Some(i) if !before_digest[i..].contains('/') => {
            let tag = &before_digest[i + 1..];
            if !is_tag(tag) {
                return None;
            }
            (&before_digest[..i], Some(tag))
        }
        _ => (before_digest, None),
    };
    if !is_name(name) {
        return None;
    }
    Some((name, tag, digest))
}

/// `[domain "/"] remote-name`.
fn is_name(name: &str) -> bool {
    if is_remote_name(name) {
        return true;
    }
    match name.split_once('/') {
        Some((domain, rest)) => is_domain_and_port(domain) && is_remote_name(rest),
        None => false,
    }
}

/// Splits a valid name into domain and path, preferring a domain when the first element
/// can be one (the capture of Docker's anchored name expression).
fn split_name(name: &str) -> (Option<&str>, &str) {
    if let Some((domain, rest)) = name.split_once('/') {
        if is_domain_and_port(domain) && is_remote_name(rest) {
            return (Some(domain), rest);
        }
    }
    (None, name)
}

/// `path-component ("/" path-component)*`.
fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separator `.`, `_`, `__` or `-`+.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host [":" port]` with host a domain name or a bracketed IPv6 address.
fn is_domain_and_port(s: &str) -> bool {
    let (host, port) = if s.starts_with('[') {
        let Some(close) = s.find(']') else {
            return false;
        };
        let inner = &s[1..close];
        if inner.is_empty() || !inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        (None, &s[close + 1..])
    } else {
        match s.find(':') {
            Some(i) => (Some(&s[..i]), &s[i..]),
            None => (Some(s), ""),
        }
    };
    if let Some(host) = host {
        if !host.split('.').all(is_domain_component) {
            return false;
        }
    }
    match port.strip_prefix(':') {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()),
        None => port.is_empty(),
    }
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

/// `[\w][\w.-]{0,127}` (ASCII `\w`).
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= TAG_MAX_LENGTH
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
fn is_digest_shape(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------
// Go `path.Match`

/// A malformed glob pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BadPattern;

/// Go's `path.Match`: the whole `name` against `pattern`, `*` and `?` never matching `/`.
fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern;
    let mut name = name;
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star takes the rest of the name if it holds no '/'.
            return Ok(!name.contains('/'));
        }
        // The chunk right here; the last chunk must use up the name.
        let here = match_chunk(chunk, name)?;
        if let Some(t) = here {
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        if star {
            // Let the star take one more character at a time, never a '/'.
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                let after = &name[i + c.len_utf8()..];
                if let Some(t) = match_chunk(chunk, after)? {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'chunks;
                }
            }
        }
        // No match: still report a malformed remainder of the pattern.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, "")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the following chunk (up to the next unbracketed,
/// unescaped `*`). Returns (had stars, chunk, rest of pattern).
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let trimmed = pattern.trim_start_matches('*');
    let star = trimmed.len() != pattern.len();
    let b = trimmed.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // Skip the escaped character (if any).
            b'\\' if i + 1 < b.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    // `i` only ever stops on an ASCII byte or the end, so it is a char boundary, except
    // after an escape of a multibyte character, which the skip above lands inside of.
    let mut end = i.min(b.len());
    while !trimmed.is_char_boundary(end) {
        end += 1;
    }
    (star, &trimmed[..end], &trimmed[end..])
}

/// Matches one chunk (no `*`) at the start of `s`; returns what is left of `s` on a
/// match. After a mismatch the chunk is still read to the end to report bad syntax.
fn match_chunk<'a>(chunk: &str, s: &'a str) -> Result<Option<&'a str>, BadPattern> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while let Some(p) = chunk.chars().next() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match p {
            '[' => {
                let mut r = '\0';
                if !failed {
                    let c = s.chars().next().unwrap_or('\0');
                    s = &s[c.len_utf8()..];
                    r = c;
                }
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chunk.starts_with(']') {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        let (h, rest) = class_char(rest)?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    let c = s.chars().next().unwrap_or('\0');
                    if c == '/' {
                        failed = true;
                    }
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                let literal = if p == '\\' {
                    chunk = &chunk[1..];
                    chunk.chars().next().ok_or(BadPattern)?
                } else {
                    p
                };
                if !failed {
                    let c = s.chars().next().unwrap_or('\0');
                    if c != literal {
                        failed = true;
                    }
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[literal.len_utf8()..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// One (possibly escaped) character of a `[...]` class; the class must go on after it.
fn class_char(chunk: &str) -> Result<(char, &str), BadPattern> {
    let mut chunk = chunk;
    match chunk.chars().next() {
        None | Some('-') | Some(']') => return Err(BadPattern),
        Some('\\') => {
            chunk = &chunk[1..];
        }
        Some(_) => {}
    }
    let c = chunk.chars().next().ok_or(BadPattern)?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        for ok in ["a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "a.b_c-d"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", "a___b", "a..b", "a.-b", "a-.b", "a_.b", "A", "a/b", ".a",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        for ok in [
            "localhost",
            "localhost:5000",
            "example.com",
            "Docker.io",
            "a-b.c",
            "127.0.0.1:5000",
            "[::1]",
            "[::1]:5000",
            "[fc00:1:2:3:4:5:6:7]:5000",
            "xn--n3h.com:18080",
        ] {
            assert!(is_domain_and_port(ok), "{ok}");
        }
        for bad in [
            "",
            "-a.com",
            "a-.com",
            "a..b",
            "a.com:",
            "a.com:x",
            "[]",
            "[::1",
            "[fe80::1%eth0]",
            "[::1]x",
            "a_b.c",
            "fc00::1:5000",
        ] {
            assert!(!is_domain_and_port(bad), "{bad}");
        }
    }

    #[test]
    fn tags_and_digest_shapes() {
        assert!(is_tag("latest") && is_tag("_x") && is_tag("A.b-c_d") && is_tag(&"a".repeat(128)));
        assert!(!is_tag("") && !is_tag(".a") && !is_tag("-a") && !is_tag(&"a".repeat(129)));
        assert!(!is_tag("a/b") && !is_tag("a:b") && !is_tag("é"));
        assert!(is_digest_shape(&format!(
            "sha256+b64.x-y_z:{}",
            "A".repeat(32)
        )));
        assert!(!is_digest_shape(&format!("sha256:{}", "a".repeat(31))));
        assert!(!is_digest_shape(&format!("1sha:{}", "a".repeat(32))));
        assert!(!is_digest_shape(&format!("sha--256:{}", "a".repeat(32))));
    }

    #[test]
    fn reference_grammar_split() {
        assert_eq!(
            match_reference("localhost:5000"),
            Some(("localhost", Some("5000"), None))
        );
        assert_eq!(match_reference("a:1/b:2"), Some(("a:1/b", Some("2"), None)));
        assert_eq!(match_reference("a:1/b"), Some(("a:1/b", None, None)));
        assert_eq!(match_reference("a@b@c"), None);
        assert_eq!(split_name("a_b.c/x"), (None, "a_b.c/x"));
        assert_eq!(split_name("foo/bar"), (Some("foo"), "bar"));
    }

    #[test]
    fn go_path_match() {
        let m = |p: &str, n: &str| path_match(p, n);
        assert_eq!(m("abc", "abc"), Ok(true));
        assert_eq!(m("*", "abc"), Ok(true));
        assert_eq!(m("*c", "abc"), Ok(true));
        assert_eq!(m("a*", "a"), Ok(true));
        assert_eq!(m("a*", "ab/c"), Ok(false));
        assert_eq!(m("a*/b", "abc/b"), Ok(true));
        assert_eq!(m("a*b*c*d*e*/f", "axbxcxdxe/f"), Ok(true));
        assert_eq!(m("a*b*c*d*e*/f", "axbxcxdxexxx/f"), Ok(true));
        assert_eq!(m("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"), Ok(false));
        assert_eq!(m("a*b?c*x", "abxbbxdbxebxczzx"), Ok(true));
        assert_eq!(m("a*b?c*x", "abxbbxdbxebxczzy"), Ok(false));
        assert_eq!(m("ab[c]", "abc"), Ok(true));
        assert_eq!(m("ab[b-d]", "abc"), Ok(true));
        assert_eq!(m("ab[e-g]", "abc"), Ok(false));
        assert_eq!(m("ab[^c]", "abc"), Ok(false));
        assert_eq!(m("ab[^b-d]", "abe"), Ok(true));
        assert_eq!(m("a\\*b", "a*b"), Ok(true));
        assert_eq!(m("a\\*b", "ab"), Ok(false));
        assert_eq!(m("a?b", "a☺b"), Ok(true));
        assert_eq!(m("a[^a]b", "a☺b"), Ok(true));
        assert_eq!(m("a???b", "a☺b"), Ok(false));
        assert_eq!(m("[a-ζ]*", "α"), Ok(true));
        assert_eq!(m("*[a-ζ]", "A"), Ok(false));
        assert_eq!(m("a?b", "a/b"), Ok(false));
        assert_eq!(m("a*b", "a/b"), Ok(false));
        assert_eq!(m("[\\]a]", "]"), Ok(true));
        assert_eq!(m("[\\-]", "-"), Ok(true));
        assert_eq!(m("[x\\-]", "z"), Ok(false));
        assert_eq!(m("[\\-x]", "a"), Ok(false));
        assert_eq!(m("[]a]", "]"), Err(BadPattern));
        assert_eq!(m("[-]", "-"), Err(BadPattern));
        assert_eq!(m("[x-]", "x"), Err(BadPattern));
        assert_eq!(m("\\", "a"), Err(BadPattern));
        assert_eq!(m("[a-b-c]", "a"), Err(BadPattern));
        assert_eq!(m("[^bc", "a"), Err(BadPattern));
        assert_eq!(m("a[", "a"), Err(BadPattern));
        assert_eq!(m("[", "a"), Err(BadPattern));
        assert_eq!(m("[^", "a"), Err(BadPattern));
        assert_eq!(m("*x", "xxx"), Ok(true));
        assert_eq!(m("a[", "x"), Err(BadPattern));
        assert_eq!(m("a/b[", "x"), Err(BadPattern));
        assert_eq!(m("*x", "a/x"), Ok(false));
        // The star never backtracks into an earlier chunk (Go's algorithm, not a full
        // backtracking glob): the class could take the '/', but the first chunk already
        // matched at the earliest place.
        assert_eq!(m("*[a/]*x", "aa/x"), Ok(false));
        assert_eq!(m("\\é", "é"), Ok(true));
    }
}
