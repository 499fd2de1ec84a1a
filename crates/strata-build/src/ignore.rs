//! `.dockerignore`: which context paths COPY and ADD may not see.
//!
//! Docker's rules: one pattern per line, `#` lines are comments, a leading `!` makes an
//! exception, patterns are cleaned (`filepath.Clean`) and a leading `/` dropped. `*`
//! matches within one path element, `?` one character, `[…]` a class, `\` escapes, and
//! `**` any number of elements. A pattern that matches a directory excludes what is
//! under it. The last matching pattern decides.

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    tokens: Vec<Tok>,
    dirs: usize,
    exclusion: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters other than `/`.
    Star,
    /// `?`: one character other than `/`.
    One,
    /// `[…]`: negated?, ranges.
    Class(bool, Vec<(char, char)>),
    /// `**` at the end: anything.
    All,
    /// `**/`: nothing, or anything ending in `/`.
    AllDirs,
}

/// The patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// `filepath.Clean` for slash paths.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let j = out.join("/");
    match (rooted, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

fn compile(p: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    i += 2;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        out.push(Tok::All);
                    } else {
                        out.push(Tok::AllDirs);
                    }
                    continue;
                }
                out.push(Tok::Star);
            }
            '?' => out.push(Tok::One),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(n) => out.push(Tok::Lit(*n)),
                    None => return Err("syntax error in pattern".into()),
                }
            }
            '[' => {
                i += 1;
                let neg = matches!(chars.get(i), Some('^') | Some('!'));
                if neg {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(&a) = chars.get(i) else {
                        return Err("syntax error in pattern".into());
                    };
                    if a == ']' && !first {
                        break;
                    }
                    first = false;
                    let a = if a == '\\' {
                        i += 1;
                        *chars.get(i).ok_or("syntax error in pattern")?
                    } else {
                        a
                    };
                    if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|c| *c != ']')
                    {
                        let b = chars[i + 2];
                        ranges.push((a, b));
                        i += 3;
                    } else {
                        ranges.push((a, a));
                        i += 1;
                    }
                }
                out.push(Tok::Class(neg, ranges));
            }
            c => out.push(Tok::Lit(c)),
        }
        i += 1;
    }
    Ok(out)
}

fn matches(t: &[Tok], s: &[char]) -> bool {
    let Some(first) = t.first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && matches(&t[1..], &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && matches(&t[1..], &s[1..]),
        Tok::Class(neg, ranges) => match s.first() {
            Some(c) if *c != '/' => {
                let inr = ranges.iter().any(|(a, b)| a <= c && c <= b);
                inr != *neg && matches(&t[1..], &s[1..])
            }
            _ => false,
        },
        Tok::Star => {
            let mut n = 0;
            loop {
                if matches(&t[1..], &s[n..]) {
                    return true;
                }
                if n >= s.len() || s[n] == '/' {
                    return false;
                }
                n += 1;
            }
        }
        Tok::All => true,
        Tok::AllDirs => {
            if matches(&t[1..], s) {
                return true;
            }
            (0..s.len()).any(|n| s[n] == '/' && matches(&t[1..], &s[n + 1..]))
        }
    }
}

impl Ignore {
    /// Parses `.dockerignore` text.
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let mut p = line.trim();
            if p.is_empty() || p.starts_with('#') {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err("illegal exclusion pattern: \"!\"".into());
                }
            }
            let mut c = clean(p);
            if c.len() > 1 && c.starts_with('/') {
                c.remove(0);
            }
            let tokens = compile(&c).map_err(|e| format!("{e}: {c}"))?;
            patterns.push(Pattern {
                dirs: c.split('/').count(),
                tokens,
                exclusion,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether the context path `rel` (slash-separated, relative, cleaned) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let chars: Vec<char> = rel.chars().collect();
        let parts: Vec<&str> = rel.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            if p.exclusion == excluded {
                // Only a pattern that could flip the answer needs checking.
                let mut m = matches(&p.tokens, &chars);
                if !m && parts.len() > 1 && p.dirs < parts.len() {
                    let parent: Vec<char> = parts[..p.dirs].join("/").chars().collect();
                    m = matches(&p.tokens, &parent);
                }
                if m {
                    excluded = !p.exclusion;
                }
            }
        }
        excluded
    }

    /// Whether no pattern is an exception (a directory that is excluded then need not
    /// be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean(""), ".");
    }

    #[test]
    fn docker_patterns() {
        let i = Ignore::parse(
            "# comment\n*.log\n!keep.log\n/build\nsecret?\ndocs/**/*.md\n**/tmp\n[ab].txt\n",
        )
        .unwrap();
        assert!(i.excluded("x.log"));
        assert!(!i.excluded("keep.log"));
        assert!(!i.excluded("sub/x.log"), "* does not cross /");
        assert!(i.excluded("build"));
        assert!(
            i.excluded("build/out/bin"),
            "a matched directory excludes its content"
        );
        assert!(i.excluded("secret1"));
        assert!(!i.excluded("secret12"));
        assert!(i.excluded("docs/a.md"));
        assert!(i.excluded("docs/x/y/a.md"));
        assert!(!i.excluded("docs/a.txt"));
        assert!(i.excluded("tmp"));
        assert!(i.excluded("a/b/tmp"));
        assert!(i.excluded("a.txt"));
        assert!(!i.excluded("c.txt"));
        assert!(!i.excluded("Dockerfile"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn last_match_wins() {
        let i = Ignore::parse("dir\n!dir/keep\n").unwrap();
        assert!(i.excluded("dir/x"));
        assert!(!i.excluded("dir/keep"));
        let i = Ignore::parse("!a\n*\n").unwrap();
        assert!(i.excluded("a"));
        assert!(Ignore::parse("!\n").is_err());
    }
}

/// Go's `filepath.Match` on slash paths (`*` and `?` stop at `/`), as COPY's wildcards use.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    match compile(pattern) {
        Ok(t) => {
            let chars: Vec<char> = path.chars().collect();
            matches(&t, &chars)
        }
        Err(_) => false,
    }
}

/// Whether a COPY source has wildcards.
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod glob_tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/*.txt", "d/a.txt"));
        assert!(glob_match("fil?", "file"));
        assert!(!glob_match("fil?", "fil"));
        assert!(has_wildcards("a*"));
        assert!(!has_wildcards("a/b"));
    }
}
