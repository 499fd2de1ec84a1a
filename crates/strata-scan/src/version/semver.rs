//! SemVer 2.0 precedence (npm, crates.io; Go modules after stripping `v`). Build
//! metadata is ignored; missing minor/patch numbers count as 0.

use std::cmp::Ordering;

use super::cmp_digits;

/// A parsed SemVer version (borrowing its identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer<'a> {
    /// major.minor.patch as digit strings.
    pub core: [&'a str; 3],
    /// Pre-release identifiers.
    pub pre: Vec<&'a str>,
}

/// Parses a SemVer version leniently (`v` prefix, missing minor or patch).
pub fn parse(v: &str) -> Option<SemVer<'_>> {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(a, _)| a);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let mut parts = core.split('.');
    let mut out = ["0", "0", "0"];
    for (k, slot) in out.iter_mut().enumerate() {
        match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => *slot = p,
            None if k > 0 => {}
            _ => return None,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    let pre = match pre {
        Some(p) => {
            let ids: Vec<&str> = p.split('.').collect();
            if ids
                .iter()
                .any(|i| i.is_empty() || !i.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
            {
                return None;
            }
            ids
        }
        None => Vec::new(),
    };
    Some(SemVer { core: out, pre })
}

fn cmp_ident(a: &str, b: &str) -> Ordering {
    let an = a.bytes().all(|c| c.is_ascii_digit());
    let bn = b.bytes().all(|c| c.is_ascii_digit());
    match (an, bn) {
        (true, true) => cmp_digits(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// SemVer precedence of two parsed versions.
pub fn precedence(a: &SemVer<'_>, b: &SemVer<'_>) -> Ordering {
    for k in 0..3 {
        match cmp_digits(a.core[k], b.core[k]) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    for (x, y) in a.pre.iter().zip(&b.pre) {
        match cmp_ident(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.pre.len().cmp(&b.pre.len())
}

/// Compares two versions by SemVer precedence; unparsable ones fall back to a generic
/// comparison.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => precedence(&x, &y),
        _ => super::generic_compare(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_spec_precedence() {
        let asc = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for w in asc.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("1.0.0+build.1", "1.0.0+build.2"), Ordering::Equal);
        assert_eq!(compare("v1.2", "1.2.0"), Ordering::Equal);
        assert_eq!(
            compare(
                "0.0.0-20210101000000-abcdef123456",
                "0.0.0-20220101000000-abcdef123456"
            ),
            Ordering::Less
        );
    }
}
