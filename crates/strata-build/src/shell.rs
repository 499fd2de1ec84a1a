//! Docker's word processing for Dockerfile instructions: quotes removed, the escape
//! character honoured, and `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
//! `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}` replaced from the build's
//! environment (ENV, then ARG values), as the classic builder does for ADD, COPY, ENV,
//! EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG.

use std::collections::HashMap;

/// The variables visible to substitution.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    map: HashMap<String, String>,
}

impl Vars {
    /// From `KEY=VALUE` strings; the first occurrence of a key wins.
    pub fn from_env<'a>(envs: impl IntoIterator<Item = &'a str>) -> Vars {
        let mut map = HashMap::new();
        for e in envs {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            map.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        Vars { map }
    }

    /// Adds a variable unless one with the same name is there already.
    pub fn add_missing(&mut self, k: &str, v: &str) {
        self.map
            .entry(k.to_string())
            .or_insert_with(|| v.to_string());
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a Vars,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until the end (or `stop`, for the word of `${X:-word}`); with `split`,
    /// unquoted whitespace separates words.
    fn run(&mut self, stop: Option<char>, split: bool) -> Result<Vec<String>, String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                break;
            }
            if split && c.is_whitespace() {
                self.pos += 1;
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            in_word = true;
            if c == self.escape {
                self.pos += 1;
                match self.next() {
                    Some(n) => cur.push(n),
                    None => cur.push(c),
                }
            } else if c == '\'' {
                self.pos += 1;
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        ),
                    }
                }
            } else if c == '"' {
                self.pos += 1;
                loop {
                    match self.peek() {
                        Some('"') => {
                            self.pos += 1;
                            break;
                        }
                        Some('$') => {
                            self.pos += 1;
                            let v = self.dollar()?;
                            cur.push_str(&v);
                        }
                        Some(e) if e == self.escape => {
                            self.pos += 1;
                            match self.next() {
                                Some(n) if n == '"' || n == '$' || n == self.escape => cur.push(n),
                                Some(n) => {
                                    cur.push(e);
                                    cur.push(n);
                                }
                                None => cur.push(e),
                            }
                        }
                        Some(n) => {
                            self.pos += 1;
                            cur.push(n);
                        }
                        None => return Err(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        ),
                    }
                }
            } else if c == '$' {
                self.pos += 1;
                let v = self.dollar()?;
                if split {
                    // An unquoted expansion is split into words too.
                    for ch in v.chars() {
                        if ch.is_whitespace() {
                            if !cur.is_empty() {
                                words.push(std::mem::take(&mut cur));
                            }
                        } else {
                            cur.push(ch);
                        }
                    }
                    in_word = !cur.is_empty();
                } else {
                    cur.push_str(&v);
                }
            } else {
                self.pos += 1;
                cur.push(c);
            }
        }
        if in_word || !split {
            words.push(cur);
        }
        Ok(words)
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                if name.is_empty() {
                    return Err("bad substitution".into());
                }
                match self.next() {
                    Some('}') => Ok(self.vars.get(&name).unwrap_or("").to_string()),
                    Some(':') | Some('-') | Some('+') | Some('?') => {
                        self.pos -= 1;
                        let colon = self.peek() == Some(':');
                        if colon {
                            self.pos += 1;
                        }
                        let op = self.next().unwrap_or('}');
                        if !matches!(op, '-' | '+' | '?') {
                            return Err(format!("unsupported modifier ({op}) in substitution"));
                        }
                        let word = self.run(Some('}'), false)?.concat();
                        if self.next() != Some('}') {
                            return Err("missing '}' in substitution".into());
                        }
                        let val = self.vars.get(&name);
                        let set = match val {
                            Some(v) => !colon || !v.is_empty(),
                            None => false,
                        };
                        Ok(match op {
                            '-' => {
                                if set {
                                    val.unwrap_or("").to_string()
                                } else {
                                    word
                                }
                            }
                            '+' => {
                                if set {
                                    word
                                } else {
                                    String::new()
                                }
                            }
                            _ => {
                                if set {
                                    val.unwrap_or("").to_string()
                                } else if word.is_empty() {
                                    return Err(format!("{name}: is not allowed to be unset"));
                                } else {
                                    return Err(format!("{name}: {word}"));
                                }
                            }
                        })
                    }
                    Some(c) => Err(format!("unsupported modifier ({c}) in substitution")),
                    None => Err("missing '}' in substitution".into()),
                }
            }
            Some(c) if c.is_ascii_digit() => {
                // Positional parameters are always empty.
                self.pos += 1;
                Ok(String::new())
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).unwrap_or("").to_string())
            }
            _ => Ok("$".into()),
        }
    }
}

/// One word: quotes removed, escapes honoured, variables replaced.
pub fn process_word(word: &str, vars: &Vars, escape: char) -> Result<String, String> {
    let mut l = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        vars,
    };
    Ok(l.run(None, false)?.concat())
}

/// Like [`process_word`], then split into words on unquoted whitespace (EXPOSE).
pub fn process_words(word: &str, vars: &Vars, escape: char) -> Result<Vec<String>, String> {
    let mut l = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        vars,
    };
    l.run(None, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::from_env(["A=b", "EMPTY=", "SP=x y"])
    }

    fn w(s: &str) -> String {
        process_word(s, &vars(), '\\').unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(w("$A"), "b");
        assert_eq!(w("${A}c"), "bc");
        assert_eq!(w("$Ac"), "");
        assert_eq!(w("x$NOPE/y"), "x/y");
        assert_eq!(w("a$"), "a$");
        assert_eq!(w("$1x"), "x");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${A:-d}"), "b");
        assert_eq!(w("${NOPE:-d}"), "d");
        assert_eq!(w("${EMPTY:-d}"), "d");
        assert_eq!(w("${EMPTY-d}"), "");
        assert_eq!(w("${NOPE-d}"), "d");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${NOPE:+alt}"), "");
        assert_eq!(w("${NOPE:-$A}"), "b");
        assert_eq!(w("${NOPE:-a b}"), "a b");
        let e = process_word("${NOPE:?must be set}", &vars(), '\\').unwrap_err();
        assert_eq!(e, "NOPE: must be set");
        assert!(process_word("${A", &vars(), '\\').is_err());
        assert!(process_word("${A%x}", &vars(), '\\').is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A c\""), "b c");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"a\\\"b\""), "a\"b");
        assert_eq!(w("\"a\\nb\""), "a\\nb");
        assert_eq!(w("d\\ e"), "d e");
        assert_eq!(process_word("`$A", &vars(), '`').unwrap(), "$A");
        assert_eq!(process_word("c:\\x", &vars(), '`').unwrap(), "c:\\x");
        assert!(process_word("'open", &vars(), '\\').is_err());
    }

    #[test]
    fn words_split_on_unquoted_space() {
        let v = process_words("80 $SP \"1 2\"", &vars(), '\\').unwrap();
        assert_eq!(v, vec!["80", "x", "y", "1 2"]);
        assert!(process_words("  ", &vars(), '\\').unwrap().is_empty());
    }
}
