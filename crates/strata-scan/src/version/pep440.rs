//! Python versions (PEP 440), ordered as the `packaging` library orders them.

use std::cmp::Ordering;

/// A pre-release kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pre {
    /// `a`, `alpha`.
    A,
    /// `b`, `beta`.
    B,
    /// `rc`, `c`, `pre`, `preview`.
    Rc,
}

/// One local-version segment: numbers sort above strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Local {
    /// Alphanumeric segment.
    Str(String),
    /// Numeric segment.
    Num(u64),
}

/// A parsed PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Epoch (`N!`).
    pub epoch: u64,
    /// Release numbers.
    pub release: Vec<u64>,
    /// Pre-release.
    pub pre: Option<(Pre, u64)>,
    /// Post-release number.
    pub post: Option<u64>,
    /// Development release number.
    pub dev: Option<u64>,
    /// Local version label.
    pub local: Option<Vec<Local>>,
}

struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn num(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if start == self.i {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn sep(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let rest = &self.s[self.i..];
        for (k, w) in words.iter().enumerate() {
            if rest.starts_with(w.as_bytes()) {
                self.i += w.len();
                return Some(k);
            }
        }
        None
    }
}

/// Parses a version; None when it is not valid PEP 440.
pub fn parse(v: &str) -> Option<Version> {
    let lower = v.trim().to_ascii_lowercase();
    let mut c = Cur {
        s: lower.as_bytes(),
        i: 0,
    };
    if c.peek() == Some(b'v') {
        c.i += 1;
    }
    let first = c.num()?;
    let (epoch, mut release) = if c.peek() == Some(b'!') {
        c.i += 1;
        (first, vec![c.num()?])
    } else {
        (0, vec![first])
    };
    while c.peek() == Some(b'.') && c.s.get(c.i + 1).is_some_and(|d| d.is_ascii_digit()) {
        c.i += 1;
        release.push(c.num()?);
    }
    let mut out = Version {
        epoch,
        release,
        pre: None,
        post: None,
        dev: None,
        local: None,
    };
    // Pre-release.
    let save = c.i;
    c.sep();
    const PRE: [&str; 7] = ["alpha", "a", "beta", "b", "preview", "pre", "rc"];
    let pre = c.word(&PRE).or_else(|| c.word(&["c"]).map(|_| 6));
    match pre {
        Some(k) => {
            let kind = match k {
                0 | 1 => Pre::A,
                2 | 3 => Pre::B,
                _ => Pre::Rc,
            };
            let s2 = c.i;
            c.sep();
            let n = match c.num() {
                Some(n) => n,
                None => {
                    c.i = s2;
                    0
                }
            };
            out.pre = Some((kind, n));
        }
        None => c.i = save,
    }
    // Post-release.
    let save = c.i;
    if c.peek() == Some(b'-') && c.s.get(c.i + 1).is_some_and(|d| d.is_ascii_digit()) {
        c.i += 1;
        out.post = c.num();
    } else {
        c.sep();
        match c.word(&["post", "rev", "r"]) {
            Some(_) => {
                let s2 = c.i;
                c.sep();
                out.post = Some(match c.num() {
                    Some(n) => n,
                    None => {
                        c.i = s2;
                        0
                    }
                });
            }
            None => c.i = save,
        }
    }
    // Development release.
    let save = c.i;
    c.sep();
    match c.word(&["dev"]) {
        Some(_) => {
            let s2 = c.i;
            c.sep();
            out.dev = Some(match c.num() {
                Some(n) => n,
                None => {
                    c.i = s2;
                    0
                }
            });
        }
        None => c.i = save,
    }
    // Local label.
    if c.peek() == Some(b'+') {
        c.i += 1;
        let rest = std::str::from_utf8(&c.s[c.i..]).ok()?;
        let mut segs = Vec::new();
        for seg in rest.split(['.', '-', '_']) {
            if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            segs.push(if seg.bytes().all(|b| b.is_ascii_digit()) {
                Local::Num(seg.parse().ok()?)
            } else {
                Local::Str(seg.to_string())
            });
        }
        out.local = Some(segs);
        c.i = c.s.len();
    }
    if c.i != c.s.len() {
        return None;
    }
    Some(out)
}

/// Sort keys with explicit infinities, as `packaging` builds them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    NegInf,
    Val(T),
    PosInf,
}

impl Version {
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        u64,
        Vec<u64>,
        Bound<(Pre, u64)>,
        Bound<u64>,
        Bound<u64>,
        Bound<Vec<Local>>,
    ) {
        let mut rel = self.release.clone();
        while rel.len() > 1 && rel.last() == Some(&0) {
            rel.pop();
        }
        if rel == [0] {
            rel.clear();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => Bound::NegInf,
            (None, _, _) => Bound::PosInf,
            (Some(p), _, _) => Bound::Val(p),
        };
        let post = self.post.map_or(Bound::NegInf, Bound::Val);
        let dev = self.dev.map_or(Bound::PosInf, Bound::Val);
        let local = self.local.clone().map_or(Bound::NegInf, Bound::Val);
        (self.epoch, rel, pre, post, dev, local)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Compares two Python versions; invalid ones fall back to a generic comparison (and
/// sort below valid ones).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => super::generic_compare(a, b),
    }
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_spec_order() {
        // The ordering example of PEP 440 (ascending).
        let asc = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ];
        for w in asc.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn normalisation_equalities() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0alpha1", "1.0a1"),
            ("1.0-preview-2", "1.0rc2"),
            ("1.0-1", "1.0.post1"),
            ("1.0.rev", "1.0.post0"),
            ("v1.0", "1.0"),
            ("0!1.0", "1.0"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
        ] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} == {b}");
        }
        assert!(parse("1.0-").is_none());
        assert!(parse("not-a-version").is_none());
        assert_eq!(normalize_name("Foo__Bar.baz"), "foo-bar-baz");
    }
}
