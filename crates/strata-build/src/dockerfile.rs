//! The Dockerfile parser: parser directives (`# escape=`), comments, line continuations,
//! instructions with their `--flags`, and each instruction's argument forms (JSON or
//! shell form, `key=value` lists, whitespace-separated words), as Docker's parser reads
//! them. Variable substitution happens later, when the builder dispatches an
//! instruction (see [`crate::shell`]), because it depends on the build's state.

use std::fmt;

/// A parse error, reported as Docker does: `dockerfile parse error line N: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the instruction.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dockerfile parse error line {}: {}",
            self.line, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// The arguments of an instruction, in the form Docker's parser gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// RUN, CMD, ENTRYPOINT, SHELL written as a JSON array.
    Json(Vec<String>),
    /// RUN, CMD, ENTRYPOINT written as a command line (the raw text).
    Shell(String),
    /// Whitespace-separated words (FROM, EXPOSE, COPY/ADD/VOLUME not in JSON form).
    Words(Vec<String>),
    /// `key=value` pairs (ENV, LABEL), quotes still in place.
    Pairs(Vec<(String, String)>),
    /// ARG: name and optional default, quotes still in place.
    Arg(Vec<(String, Option<String>)>),
    /// The whole rest of the line (USER, WORKDIR, STOPSIGNAL, MAINTAINER).
    Text(String),
    /// HEALTHCHECK: `NONE`, or the command (`CMD` then JSON or shell form).
    Health(Option<Box<Args>>),
    /// ONBUILD: the trigger instruction and its text.
    OnBuild(Box<Instruction>, String),
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Lower-case name (`from`, `run`, …).
    pub cmd: String,
    /// `--name=value` flags before the arguments (`--name` alone has an empty value).
    pub flags: Vec<(String, String)>,
    /// The arguments.
    pub args: Args,
    /// The instruction as written (continuations joined), for `Step N/M : …`.
    pub original: String,
    /// 1-based line where it starts.
    pub line: usize,
}

impl Instruction {
    /// The value of flag `name`, if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// The escape character (`\` or `` ` ``).
    pub escape: char,
    /// Instructions in order.
    pub instructions: Vec<Instruction>,
}

const KNOWN: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// A line ending in the escape character (then optional blanks) continues.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(rest) => (rest.to_string(), true),
        None => (line.to_string(), false),
    }
}

fn parse_directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?.trim_start();
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut i = 0;
    // Parser directives: only at the very top, before any other line.
    let mut seen = std::collections::HashSet::new();
    while i < lines.len() {
        match parse_directive(lines[i]) {
            Some((k, v)) => {
                if !seen.insert(k.clone()) {
                    return Err(ParseError {
                        line: i + 1,
                        message: format!("only one {k} parser directive can be used"),
                    });
                }
                if k == "escape" {
                    escape = match v.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(ParseError {
                                line: i + 1,
                                message: format!("invalid ESCAPE '{v}'. Must be ` or \\"),
                            })
                        }
                    };
                }
                i += 1;
            }
            None => break,
        }
    }
    let mut out = Vec::new();
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.trim().is_empty() || is_comment(first) {
            continue;
        }
        let (mut line, mut cont) = trim_continuation(first, escape);
        while cont && i < lines.len() {
            let l = lines[i];
            i += 1;
            if is_comment(l) || l.trim().is_empty() {
                continue;
            }
            let (part, c) = trim_continuation(l, escape);
            line.push_str(&part);
            cont = c;
        }
        let inst = parse_line(line.trim(), start + 1, escape)?;
        out.push(inst);
    }
    Ok(Dockerfile {
        escape,
        instructions: out,
    })
}

fn split_first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(|c: char| c.is_whitespace()) {
        Some(n) => (&s[..n], s[n..].trim_start()),
        None => (s, ""),
    }
}

/// Parses one (joined) instruction line.
pub fn parse_line(line: &str, lineno: usize, escape: char) -> Result<Instruction, ParseError> {
    let err = |m: String| ParseError {
        line: lineno,
        message: m,
    };
    let (word, mut rest) = split_first_word(line);
    let cmd = word.to_ascii_lowercase();
    if !KNOWN.contains(&cmd.as_str()) {
        return Err(err(format!("unknown instruction: {}", word.to_uppercase())));
    }
    let upper = cmd.to_uppercase();
    // Flags: leading `--name[=value]` words.
    let mut flags = Vec::new();
    if cmd != "onbuild" {
        loop {
            let (w, r) = split_first_word(rest);
            if !w.starts_with("--") || w == "--" {
                break;
            }
            let body = &w[2..];
            let (k, v) = body.split_once('=').unwrap_or((body, ""));
            flags.push((k.to_string(), v.to_string()));
            rest = r;
        }
    }
    let rest = rest.trim();
    let args = match cmd.as_str() {
        "run" | "cmd" | "entrypoint" => maybe_json(rest),
        "shell" => match maybe_json(rest) {
            Args::Json(v) => Args::Json(v),
            _ => return Err(err("SHELL requires the arguments to be in JSON form".into())),
        },
        "copy" | "add" | "volume" => match maybe_json(rest) {
            Args::Json(v) => Args::Json(v),
            Args::Shell(s) => Args::Words(split_words(&s, escape)),
            other => other,
        },
        "from" | "expose" => Args::Words(rest.split_whitespace().map(String::from).collect()),
        "env" | "label" => Args::Pairs(name_values(rest, &upper, escape).map_err(err)?),
        "arg" => {
            let mut v = Vec::new();
            for w in split_words(rest, escape) {
                match w.split_once('=') {
                    Some((k, d)) => v.push((k.to_string(), Some(d.to_string()))),
                    None => v.push((w, None)),
                }
            }
            Args::Arg(v)
        }
        "user" | "workdir" | "stopsignal" | "maintainer" => Args::Text(rest.to_string()),
        "healthcheck" => {
            let (w, r) = split_first_word(rest);
            match w.to_ascii_uppercase().as_str() {
                "NONE" => {
                    if !r.trim().is_empty() {
                        return Err(err("HEALTHCHECK NONE takes no arguments".into()));
                    }
                    Args::Health(None)
                }
                "CMD" => {
                    if r.trim().is_empty() {
                        return Err(err("Missing command after HEALTHCHECK CMD".into()));
                    }
                    Args::Health(Some(Box::new(maybe_json(r.trim()))))
                }
                _ => {
                    return Err(err(format!(
                        "Unknown type \"{}\" in HEALTHCHECK (try CMD)",
                        w.to_uppercase()
                    )))
                }
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                return Err(err("ONBUILD requires at least one argument".into()));
            }
            let (w, _) = split_first_word(rest);
            match w.to_ascii_uppercase().as_str() {
                "ONBUILD" => {
                    return Err(err(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                    ))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        w.to_uppercase()
                    )))
                }
                _ => {}
            }
            let inner = parse_line(rest, lineno, escape)?;
            Args::OnBuild(Box::new(inner), rest.to_string())
        }
        _ => unreachable!("checked against KNOWN"),
    };
    let empty = match &args {
        Args::Words(v) => v.is_empty(),
        Args::Pairs(v) => v.is_empty(),
        Args::Arg(v) => v.is_empty(),
        Args::Text(s) | Args::Shell(s) => s.is_empty(),
        Args::Json(_) | Args::Health(_) | Args::OnBuild(..) => false,
    };
    if empty && !matches!(cmd.as_str(), "cmd" | "entrypoint" | "run") {
        return Err(err(format!("{upper} requires at least one argument")));
    }
    if empty && cmd == "run" {
        return Err(err("RUN requires at least one argument".into()));
    }
    if matches!(cmd.as_str(), "copy" | "add") {
        let n = match &args {
            Args::Json(v) | Args::Words(v) => v.len(),
            _ => 0,
        };
        if n < 2 {
            return Err(err(format!("{upper} requires at least two arguments")));
        }
    }
    if cmd == "from" {
        if let Args::Words(w) = &args {
            let ok = w.len() == 1 || (w.len() == 3 && w[1].eq_ignore_ascii_case("as"));
            if !ok {
                return Err(err(
                    "FROM requires either one or three arguments".to_string()
                ));
            }
        }
    }
    Ok(Instruction {
        cmd,
        flags,
        args,
        original: line.to_string(),
        line: lineno,
    })
}

/// JSON form when the text is a JSON array of strings, else the shell form.
fn maybe_json(rest: &str) -> Args {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return Args::Json(v);
        }
    }
    Args::Shell(rest.to_string())
}

/// Splits on whitespace outside quotes; quotes and escapes are kept (removed later by
/// word processing).
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
            continue;
        }
        in_word = true;
        cur.push(c);
        if c == escape {
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ => {}
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// ENV and LABEL arguments: `k=v …`, or the legacy `k v` (one pair, the value is the rest).
fn name_values(rest: &str, cmd: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let words = split_words(rest, escape);
    if !words.first().is_some_and(|w| w.contains('=')) {
        let (first, tail) = split_first_word(rest);
        if tail.is_empty() {
            return Err(format!("{cmd} must have two arguments"));
        }
        return Ok(vec![(first.to_string(), tail.to_string())]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            Some(_) => return Err(format!("{cmd} names can not be blank")),
            None => {
                return Err(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Instruction {
        let d = parse(s).unwrap();
        assert_eq!(d.instructions.len(), 1, "{s}");
        d.instructions.into_iter().next().unwrap()
    }

    #[test]
    fn comments_blank_lines_and_continuations() {
        let d = parse(
            "# a comment\n\nFROM scratch\n  # indented comment\nRUN echo a \\\n  # inside\n\n  && echo b\nenv A=1\n",
        )
        .unwrap();
        let i = &d.instructions;
        assert_eq!(i.len(), 3);
        assert_eq!(i[0].cmd, "from");
        assert_eq!(i[0].line, 3);
        assert_eq!(i[1].args, Args::Shell("echo a   && echo b".into()));
        assert_eq!(i[1].original, "RUN echo a   && echo b");
        assert_eq!(i[1].line, 5);
        assert_eq!(i[2].cmd, "env");
        assert_eq!(i[2].args, Args::Pairs(vec![("A".into(), "1".into())]));
    }

    #[test]
    fn escape_directive() {
        let d = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(
            d.instructions[1].args,
            Args::Shell("dir c:\\   && echo".into())
        );
        // A directive after an instruction is a comment.
        let d = parse("FROM scratch\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.instructions[1].args, Args::Shell("a  b".into()));
        assert!(parse("# escape=x\nFROM scratch\n").is_err());
    }

    #[test]
    fn json_and_shell_forms() {
        assert_eq!(
            one("CMD [\"a\", \"b c\"]").args,
            Args::Json(vec!["a".into(), "b c".into()])
        );
        assert_eq!(one("CMD [not json").args, Args::Shell("[not json".into()));
        assert_eq!(one("ENTRYPOINT top -b").args, Args::Shell("top -b".into()));
        assert_eq!(
            one("COPY [\"a b\", \"/d/\"]").args,
            Args::Json(vec!["a b".into(), "/d/".into()])
        );
        assert_eq!(
            one("COPY --chown=1:2 --from=base a b /d/").args,
            Args::Words(vec!["a".into(), "b".into(), "/d/".into()])
        );
        let c = one("COPY --chown=1:2 --from=base a /d/");
        assert_eq!(c.flag("chown"), Some("1:2"));
        assert_eq!(c.flag("from"), Some("base"));
        assert_eq!(c.flag("chmod"), None);
        let e = parse("SHELL /bin/sh -c").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 1: SHELL requires the arguments to be in JSON form"
        );
    }

    #[test]
    fn env_label_arg_forms() {
        assert_eq!(
            one("ENV A=b C=\"d e\" F=g\\ h").args,
            Args::Pairs(vec![
                ("A".into(), "b".into()),
                ("C".into(), "\"d e\"".into()),
                ("F".into(), "g\\ h".into())
            ])
        );
        assert_eq!(
            one("ENV LEGACY a value with spaces").args,
            Args::Pairs(vec![("LEGACY".into(), "a value with spaces".into())])
        );
        assert_eq!(
            one("LABEL \"l 2\"=\"v 2\"").args,
            Args::Pairs(vec![("\"l 2\"".into(), "\"v 2\"".into())])
        );
        assert_eq!(
            one("ARG V=1 W").args,
            Args::Arg(vec![("V".into(), Some("1".into())), ("W".into(), None)])
        );
        assert_eq!(
            parse("ENV\n").unwrap_err().to_string(),
            "dockerfile parse error line 1: ENV requires at least one argument"
        );
        assert!(parse("ENV A\n").is_err());
        assert!(parse("LABEL a=b c\n").is_err());
    }

    #[test]
    fn unknown_instruction_and_arity() {
        let e = parse("FROM scratch\nfoo bar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: unknown instruction: FOO"
        );
        assert!(parse("COPY a\n").is_err());
        assert!(parse("FROM a b\n").is_err());
        assert!(parse("FROM a AS b\n").is_ok());
    }

    #[test]
    fn healthcheck_and_onbuild() {
        assert_eq!(one("HEALTHCHECK NONE").args, Args::Health(None));
        let h = one("HEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]");
        assert_eq!(h.flag("interval"), Some("5s"));
        assert_eq!(
            h.args,
            Args::Health(Some(Box::new(Args::Json(vec!["true".into()]))))
        );
        let o = one("ONBUILD RUN echo hi");
        match o.args {
            Args::OnBuild(inner, text) => {
                assert_eq!(inner.cmd, "run");
                assert_eq!(text, "RUN echo hi");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("ONBUILD FROM x\n").is_err());
        assert!(parse("ONBUILD ONBUILD RUN x\n").is_err());
        assert!(parse("HEALTHCHECK WAT\n").is_err());
    }
}
