//! Debian package versions: `[epoch:]upstream[-revision]`, ordered as `dpkg
//! --compare-versions` orders them (`~` sorts before everything, even the end).

use std::cmp::Ordering;

/// A parsed Debian version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebVersion<'a> {
    /// The epoch (0 when absent).
    pub epoch: u64,
    /// The upstream part.
    pub upstream: &'a str,
    /// The Debian revision ("" when absent).
    pub revision: &'a str,
}

/// Splits a version into epoch, upstream version and revision as dpkg does.
pub fn parse(v: &str) -> DebVersion<'_> {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    let (upstream, revision) = match rest.rfind('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    DebVersion {
        epoch,
        upstream,
        revision,
    }
}

/// Compares two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let a = parse(a);
    let b = parse(b);
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
        .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes()))
}

fn order(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => *c as i32,
        Some(c) => *c as i32 + 256,
    }
}

fn is_digit(c: Option<&u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// dpkg's comparison of one part (upstream or revision): alternating non-digit runs
/// (compared character by character with `order`) and digit runs (numerically).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = 0i32;
        while is_digit(a.get(i)) && is_digit(b.get(j)) {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if is_digit(a.get(i)) {
            return Ordering::Greater;
        }
        if is_digit(b.get(j)) {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn debian_policy_examples() {
        for (a, b, want) in [
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0~", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-1", Equal),
            ("1.0", "1.0-0", Equal),
            ("2.30-1", "2.4-1", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1~deb12u1", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("1.2a", "1.2", Greater),
            ("1.2a", "1.2+", Less),
            ("0:1.0", "1.0", Equal),
            ("1.001", "1.1", Equal),
            ("7.6p2-4", "7.6-0", Greater),
            ("1.0.4-2", "1.0pre7-2", Greater),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn parses_epoch_and_revision() {
        let v = parse("2:1.2-3-4");
        assert_eq!((v.epoch, v.upstream, v.revision), (2, "1.2-3", "4"));
        let v = parse("1.2");
        assert_eq!((v.epoch, v.upstream, v.revision), (0, "1.2", ""));
    }
}
