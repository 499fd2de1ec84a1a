//! Exact version orderings, one per packaging ecosystem.
//!
//! Every comparator follows its reference program: `dpkg --compare-versions`, apk-tools'
//! `apk_version_compare`, rpm's `rpmvercmp` with epochs, Python's `packaging` (PEP 440),
//! SemVer 2.0 precedence (npm, crates.io), Go module versions, Maven's
//! `ComparableVersion` and RubyGems' `Gem::Version`.

pub mod apk;
pub mod dpkg;
pub mod gem;
pub mod maven;
pub mod pep440;
pub mod rpm;
pub mod semver;

use std::cmp::Ordering;

/// A version scheme: how the versions of one ecosystem are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg`).
    Dpkg,
    /// Alpine (`apk`).
    Apk,
    /// RPM distributions.
    Rpm,
    /// Python (PEP 440).
    Pep440,
    /// SemVer 2.0 (npm, crates.io, NuGet).
    Semver,
    /// Go modules (SemVer with a leading `v`, which is optional here).
    Go,
    /// Maven (`ComparableVersion`).
    Maven,
    /// RubyGems (`Gem::Version`).
    RubyGems,
    /// Others, compared segment by segment (numbers numerically).
    Generic,
}

impl Scheme {
    /// Compares two versions of this scheme.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
            Scheme::Rpm => rpm::compare(a, b),
            Scheme::Pep440 => pep440::compare(a, b),
            Scheme::Semver => semver::compare(a, b),
            Scheme::Go => semver::compare(a.trim_start_matches('v'), b.trim_start_matches('v')),
            Scheme::Maven => maven::compare(a, b),
            Scheme::RubyGems => gem::compare(a, b),
            Scheme::Generic => generic_compare(a, b),
        }
    }
}

/// Splits into runs of digits and of other characters; digit runs compare numerically,
/// others lexically, and a missing run is the smallest. Used where no exact scheme is
/// known (Maven, RubyGems release versions).
pub fn generic_compare(a: &str, b: &str) -> Ordering {
    let ta = runs(a);
    let tb = runs(b);
    for i in 0..ta.len().max(tb.len()) {
        let o = match (ta.get(i), tb.get(i)) {
            (Some(x), Some(y)) => {
                let xd = x.bytes().all(|c| c.is_ascii_digit());
                let yd = y.bytes().all(|c| c.is_ascii_digit());
                match (xd, yd) {
                    (true, true) => cmp_digits(x, y),
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => x.cmp(y),
                }
            }
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn runs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let digit = b[i].is_ascii_digit();
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        out.push(&s[start..i]);
    }
    out
}

/// Compares two strings of ASCII digits numerically, whatever their length.
pub fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_orders_numbers_numerically() {
        assert_eq!(generic_compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(generic_compare("2.0", "2.0.1"), Ordering::Less);
        assert_eq!(generic_compare("1.0.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp_digits("0010", "9"), Ordering::Greater);
    }
}
