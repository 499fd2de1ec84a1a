//! Validation of everything a client sends that ends up in a storage key: repository names,
//! tags, digests, upload session ids. Nothing reaches [`crate::storage`] without passing here.

use strata_oci::Digest;

/// Longest repository name accepted (Distribution's limit).
pub const MAX_NAME_LEN: usize = 255;

/// Whether `name` is a valid repository name: `/`-separated components, each
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`. Checked both by the shared reference grammar
/// (`strata_oci::reference`) and by this module's own component parser, so that a change
/// in one cannot let a path-unsafe name through.
pub fn is_valid_name(name: &str) -> bool {
    check_name(name).is_ok()
}

/// Validates a repository name; the error says what is wrong, in Docker's words.
pub fn check_name(name: &str) -> Result<(), String> {
    strata_oci::reference::validate_repository_path(name).map_err(|e| e.to_string())?;
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.split('/').all(is_valid_component) {
        return Err("invalid repository name".into());
    }
    Ok(())
}

fn is_valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    // First run of alphanumerics.
    if !alnum(b[0]) {
        return false;
    }
    while i < b.len() && alnum(b[i]) {
        i += 1;
    }
    while i < b.len() {
        // A separator: '.', '_', '__' or one or more '-'.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        // Then at least one alphanumeric.
        if i >= b.len() || !alnum(b[i]) {
            return false;
        }
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
    }
    true
}

/// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// Parses a digest (sha256 or sha512, lowercase hex of the right length).
pub fn parse_digest(s: &str) -> Option<Digest> {
    Digest::parse(s).ok()
}

/// Whether `id` looks like an upload session id this server issued (32 lowercase hex).
pub fn is_valid_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

/// Why a manifest reference is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefError {
    /// Looks like a digest (has a ':') but is not a valid one.
    BadDigest,
    /// Not a valid tag.
    BadTag,
}

/// Parses a manifest reference.
pub fn parse_ref(s: &str) -> Result<ManifestRef, RefError> {
    if s.contains(':') {
        parse_digest(s)
            .map(ManifestRef::Digest)
            .ok_or(RefError::BadDigest)
    } else if is_valid_tag(s) {
        Ok(ManifestRef::Tag(s.to_string()))
    } else {
        Err(RefError::BadTag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "library/ubuntu",
            "a/b/c/d/e/f/g/h/i",
            "a.b_c__d---e",
            "0x/y-1",
        ] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "_a", "..", "a/../b", "a/.b",
            "a b", "a%2fb",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(!is_valid_name(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_refs() {
        assert!(is_valid_tag("v1.0_rc-1"));
        assert!(is_valid_tag("_x"));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag("a/b"));
        assert_eq!(parse_ref("sha256:totallywrong"), Err(RefError::BadDigest));
        assert_eq!(parse_ref("../x"), Err(RefError::BadTag));
        assert!(matches!(parse_ref("latest"), Ok(ManifestRef::Tag(_))));
        assert!(is_valid_upload_id(&"ab".repeat(16)));
        assert!(!is_valid_upload_id("../../etc/passwd"));
    }
}
