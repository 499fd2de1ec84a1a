//! RubyGems versions, ordered as `Gem::Version#<=>`: segments of digits or letters,
//! a letter making a prerelease (`1.0.a < 1.0`), trailing zeros ignored.

use std::cmp::Ordering;

use super::cmp_digits;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Num(String),
    Str(String),
}

fn segments(v: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let b: Vec<char> = v.trim().chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n: String = b[s..i].iter().collect();
            let t = n.trim_start_matches('0');
            out.push(Seg::Num(if t.is_empty() { "0".into() } else { t.into() }));
        } else if b[i].is_ascii_alphabetic() {
            let s = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Seg::Str(b[s..i].iter().collect()));
        } else {
            i += 1;
        }
    }
    out
}

/// Release segments and prerelease segments, each without trailing zeros.
fn canonical(v: &str) -> Vec<Seg> {
    let segs = segments(v);
    let split = segs
        .iter()
        .position(|s| matches!(s, Seg::Str(_)))
        .unwrap_or(segs.len());
    let (rel, pre) = segs.split_at(split);
    let trim = |p: &[Seg]| -> Vec<Seg> {
        let mut v = p.to_vec();
        while matches!(v.last(), Some(Seg::Num(n)) if n == "0") {
            v.pop();
        }
        v
    };
    let mut out = trim(rel);
    out.extend(trim(pre));
    out
}

/// Compares two gem versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let x = canonical(a);
    let y = canonical(b);
    let zero = Seg::Num("0".into());
    for i in 0..x.len().max(y.len()) {
        let l = x.get(i).unwrap_or(&zero);
        let r = y.get(i).unwrap_or(&zero);
        let o = match (l, r) {
            (Seg::Num(p), Seg::Num(q)) => cmp_digits(p, q),
            (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
            (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
            (Seg::Str(p), Seg::Str(q)) => p.cmp(q),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prereleases() {
        assert_eq!(compare("1.0.a", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0.0", "1.0"), Ordering::Equal);
        assert_eq!(compare("13.0.6", "13.0.10"), Ordering::Less);
        assert_eq!(compare("1.0.b1", "1.0.a.2"), Ordering::Greater);
    }
}
