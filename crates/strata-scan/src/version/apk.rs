//! Alpine package versions: `digit{.digit}...{letter}{_suffix{digits}}...{~hash}{-r#}`,
//! ordered as apk-tools orders them (`_alpha < _beta < _pre < _rc < (none) < _cvs < _svn <
//! _git < _hg < _p`; a component with a leading zero compares as a string).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` (a release) sits between `rc` and `cvs`.
const SUFFIX_NONE: i32 = 4;

fn suffix_rank(s: &str) -> Option<i32> {
    Some(match s {
        "alpha" => 0,
        "beta" => 1,
        "pre" => 2,
        "rc" => 3,
        "cvs" => 5,
        "svn" => 6,
        "git" => 7,
        "hg" => 8,
        "p" => 9,
        _ => return None,
    })
}

struct State<'a> {
    s: &'a str,
    pos: usize,
    tok: Tok,
    value: &'a str,
    number: u64,
    suffix: i32,
}

impl<'a> State<'a> {
    fn new(s: &'a str) -> State<'a> {
        let mut st = State {
            s,
            pos: 0,
            tok: Tok::InitialDigit,
            value: "",
            number: 0,
            suffix: -1,
        };
        st.digits();
        st
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn digits(&mut self) {
        let r = self.rest();
        let n = r.bytes().take_while(|c| c.is_ascii_digit()).count();
        self.value = &r[..n];
        self.number = self.value.bytes().fold(0u64, |acc, c| {
            acc.saturating_mul(10).saturating_add((c - b'0') as u64)
        });
        self.pos += n;
        if n == 0 {
            self.tok = Tok::Invalid;
        }
    }

    fn next(&mut self) {
        let r = self.rest();
        let Some(c) = r.bytes().next() else {
            self.tok = Tok::End;
            return;
        };
        match c {
            b'a'..=b'z' => {
                if self.tok > Tok::Digit {
                    self.tok = Tok::Invalid;
                    return;
                }
                self.value = &r[..1];
                self.tok = Tok::Letter;
                self.pos += 1;
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if self.tok > Tok::Digit {
                        self.tok = Tok::Invalid;
                        return;
                    }
                    self.pos += 1;
                }
                self.tok = match self.tok {
                    Tok::InitialDigit | Tok::Digit => Tok::Digit,
                    Tok::Suffix => Tok::SuffixNo,
                    _ => {
                        self.tok = Tok::Invalid;
                        return;
                    }
                };
                self.digits();
            }
            b'_' => {
                if self.tok > Tok::SuffixNo {
                    self.tok = Tok::Invalid;
                    return;
                }
                self.pos += 1;
                let r = self.rest();
                let n = r.bytes().take_while(|c| c.is_ascii_lowercase()).count();
                self.value = &r[..n];
                self.pos += n;
                match suffix_rank(self.value) {
                    Some(v) => {
                        self.suffix = v;
                        self.tok = Tok::Suffix;
                    }
                    None => self.tok = Tok::Invalid,
                }
            }
            b'~' => {
                if self.tok >= Tok::CommitHash {
                    self.tok = Tok::Invalid;
                    return;
                }
                self.pos += 1;
                let r = self.rest();
                let n = r.bytes().take_while(|c| c.is_ascii_hexdigit()).count();
                self.value = &r[..n];
                self.pos += n;
                self.tok = if n == 0 {
                    Tok::Invalid
                } else {
                    Tok::CommitHash
                };
            }
            b'-' => {
                if self.tok >= Tok::RevisionNo || !r.starts_with("-r") {
                    self.tok = Tok::Invalid;
                    return;
                }
                self.pos += 2;
                self.tok = Tok::RevisionNo;
                self.digits();
            }
            _ => self.tok = Tok::Invalid,
        }
    }
}

fn blob_sort(a: &str, b: &str) -> Ordering {
    let n = a.len().min(b.len());
    a.as_bytes()[..n]
        .cmp(&b.as_bytes()[..n])
        .then(a.len().cmp(&b.len()))
}

fn token_cmp(a: &State<'_>, b: &State<'_>) -> Ordering {
    match a.tok {
        Tok::Digit if a.value.starts_with('0') || b.value.starts_with('0') => {
            blob_sort(a.value, b.value)
        }
        Tok::Digit | Tok::InitialDigit | Tok::SuffixNo | Tok::RevisionNo => a.number.cmp(&b.number),
        Tok::Letter => a.value.cmp(b.value),
        Tok::Suffix => a.suffix.cmp(&b.suffix),
        _ => blob_sort(a.value, b.value),
    }
}

/// Whether apk-tools accepts the version.
pub fn is_valid(v: &str) -> bool {
    let mut s = State::new(v);
    while s.tok < Tok::End {
        s.next();
    }
    s.tok == Tok::End
}

/// Compares two apk versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut ta = State::new(a);
    let mut tb = State::new(b);
    while ta.tok == tb.tok && ta.tok < Tok::End {
        let r = token_cmp(&ta, &tb);
        if r != Ordering::Equal {
            return r;
        }
        ta.next();
        tb.next();
    }
    if ta.tok == tb.tok {
        return Ordering::Equal;
    }
    if ta.tok == Tok::Suffix && ta.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.tok == Tok::Suffix && tb.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    if ta.tok > tb.tok {
        return Ordering::Less;
    }
    if tb.tok > ta.tok {
        return Ordering::Greater;
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn apk_orderings() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-r0", Less),
            ("1.0-r9", "1.0-r10", Less),
            ("1.0_rc1", "1.0", Less),
            ("1.0_alpha", "1.0_beta", Less),
            ("1.0_beta2", "1.0_pre1", Less),
            ("1.0_pre1", "1.0_rc1", Less),
            ("1.0", "1.0_cvs", Less),
            ("1.0_cvs", "1.0_svn", Less),
            ("1.0_git", "1.0_hg", Less),
            ("1.0_hg", "1.0_p1", Less),
            ("1.0a", "1.0b", Less),
            ("1.0", "1.0a", Less),
            ("1.0", "1.0.1", Less),
            ("1.2.10", "1.2.9", Greater),
            ("1.01", "1.1", Less),
            ("3.1.4-r5", "3.1.4_p1-r0", Less),
            ("1.36.1-r15", "1.36.1-r2", Greater),
            ("2.0_rc1-r0", "2.0-r0", Less),
            ("1.0~abc", "1.0~abd", Less),
            ("1.0~abc-r1", "1.0-r1", Greater),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn validity() {
        assert!(is_valid("1.2.3_rc1-r0"));
        assert!(is_valid("1.0a_p2~beef-r3"));
        assert!(!is_valid("1.0-1"));
        assert!(!is_valid("abc"));
    }
}
