//! Lexer for Go `text/template` source with `{{` `}}` delimiters, trim
//! markers (`{{- ` and ` -}}`) and comments (`{{/* … */}}`).

/// Keywords recognised inside actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Kw {
    fn from_word(w: &str) -> Option<Kw> {
        Some(match w {
            "block" => Kw::Block,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "define" => Kw::Define,
            "else" => Kw::Else,
            "end" => Kw::End,
            "if" => Kw::If,
            "range" => Kw::Range,
            "template" => Kw::Template,
            "with" => Kw::With,
            _ => return None,
        })
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            Kw::Block => "block",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::If => "if",
            Kw::Range => "range",
            Kw::Template => "template",
            Kw::With => "with",
        }
    }
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Field(String),
    Variable(String),
    Ident(String),
    Str(String),
    RawStr(String),
    CharConst(String),
    Number(String),
    Bool(bool),
    Nil,
    Dot,
    Declare,
    Assign,
    Pipe,
    LParen,
    RParen,
    Char(char),
    Keyword(Kw),
    Error(String),
    Eof,
}

/// A token with its byte offset and 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub tok: Tok,
    pub pos: usize,
    pub line: usize,
}

impl Item {
    /// Go's `item.String()` used in "unexpected …" messages.
    pub(crate) fn describe(&self) -> String {
        let quoted = |s: &str| {
            if s.chars().count() > 10 {
                let head: String = s.chars().take(10).collect();
                format!("{}...", crate::gofmt::go_quote(&head, false))
            } else {
                crate::gofmt::go_quote(s, false)
            }
        };
        match &self.tok {
            Tok::Eof => "EOF".into(),
            Tok::Error(e) => e.clone(),
            Tok::Keyword(k) => format!("<{}>", k.word()),
            Tok::Nil => "<nil>".into(),
            Tok::Dot => "<.>".into(),
            Tok::Text(s)
            | Tok::Field(s)
            | Tok::Variable(s)
            | Tok::Ident(s)
            | Tok::Str(s)
            | Tok::RawStr(s)
            | Tok::CharConst(s)
            | Tok::Number(s) => quoted(s),
            Tok::Bool(b) => quoted(if *b { "true" } else { "false" }),
            Tok::LeftDelim => quoted("{{"),
            Tok::RightDelim => quoted("}}"),
            Tok::Space => quoted(" "),
            Tok::Declare => quoted(":="),
            Tok::Assign => quoted("="),
            Tok::Pipe => quoted("|"),
            Tok::LParen => quoted("("),
            Tok::RParen => quoted(")"),
            Tok::Char(c) => quoted(&c.to_string()),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Go's `%#U` rendering of a rune.
pub(crate) fn sharp_u(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: usize,
    items: Vec<Item>,
}

/// Tokenises the whole source. The result always ends with `Eof` or `Error`.
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut l = Lexer {
        src,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        items: Vec::new(),
    };
    l.run();
    l.items
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn emit(&mut self, tok: Tok) {
        self.items.push(Item {
            tok,
            pos: self.start,
            line: self.start_line,
        });
        self.ignore();
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.start_line = self.line;
    }

    /// Advances over `n` bytes, counting newlines.
    fn skip(&mut self, n: usize) {
        let s = &self.src[self.pos..self.pos + n];
        self.line += s.matches('\n').count();
        self.pos += n;
    }

    fn error(&mut self, msg: String) {
        self.items.push(Item {
            tok: Tok::Error(msg),
            pos: self.start,
            line: self.start_line,
        });
    }

    fn run(&mut self) {
        loop {
            // Text up to the next left delimiter.
            let rest = self.rest();
            let Some(idx) = rest.find("{{") else {
                if !rest.is_empty() {
                    let t = rest.to_string();
                    self.skip(rest.len());
                    self.emit(Tok::Text(t));
                }
                self.emit(Tok::Eof);
                return;
            };
            let after = &rest[idx + 2..];
            let trim_left = has_left_trim(after);
            let mut text = &rest[..idx];
            if trim_left {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                let t = text.to_string();
                self.skip(text.len());
                self.emit(Tok::Text(t));
            }
            self.skip(idx - text.len());
            self.ignore();
            // Left delimiter.
            let marker = if trim_left { 2 } else { 0 };
            if after[marker..].starts_with("/*") {
                self.skip(2 + marker + 2);
                if !self.comment() {
                    return;
                }
                continue;
            }
            self.skip(2);
            self.emit(Tok::LeftDelim);
            self.skip(marker);
            self.ignore();
            if !self.inside_action() {
                return;
            }
        }
    }

    /// Just after `/*`; consumes the comment and its closing delimiter.
    fn comment(&mut self) -> bool {
        let rest = self.rest();
        let Some(end) = rest.find("*/") else {
            self.error("unclosed comment".into());
            return false;
        };
        self.skip(end + 2);
        match self.at_right_delim() {
            Some(trim) => {
                self.skip(if trim { 4 } else { 2 });
                if trim {
                    self.skip_leading_space();
                }
                self.ignore();
                true
            }
            None => {
                self.error("comment ends before closing delimiter".into());
                false
            }
        }
    }

    fn at_right_delim(&self) -> Option<bool> {
        let r = self.rest();
        let mut cs = r.chars();
        if let (Some(a), Some('-')) = (cs.next(), cs.next()) {
            if is_space(a) && r[a.len_utf8() + 1..].starts_with("}}") {
                return Some(true);
            }
        }
        if r.starts_with("}}") {
            return Some(false);
        }
        None
    }

    fn skip_leading_space(&mut self) {
        let n = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        self.skip(n);
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with("}}"),
        }
    }

    /// Lexes the inside of one action, through its right delimiter.
    fn inside_action(&mut self) -> bool {
        loop {
            if let Some(trim) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    self.error("unclosed left paren".into());
                    return false;
                }
                if trim {
                    self.skip(2);
                    self.ignore();
                }
                self.skip(2);
                self.emit(Tok::RightDelim);
                if trim {
                    self.skip_leading_space();
                    self.ignore();
                }
                return true;
            }
            let Some(c) = self.next() else {
                self.error("unclosed action".into());
                return false;
            };
            match c {
                c if is_space(c) => {
                    let mut n = 1;
                    while self.peek().is_some_and(is_space) {
                        self.next();
                        n += 1;
                    }
                    // A trim-marked right delimiter starts with a space.
                    let last = self.src[..self.pos].chars().next_back().unwrap_or(' ');
                    let back = &self.src[self.pos - last.len_utf8()..];
                    let at_trim =
                        back.len() > last.len_utf8() && back[last.len_utf8()..].starts_with("-}}");
                    if at_trim {
                        self.pos -= last.len_utf8();
                        if last == '\n' {
                            self.line -= 1;
                        }
                        if n == 1 {
                            continue;
                        }
                    }
                    self.emit(Tok::Space);
                }
                '=' => self.emit(Tok::Assign),
                ':' => {
                    if self.peek() != Some('=') {
                        self.error("expected :=".into());
                        return false;
                    }
                    self.next();
                    self.emit(Tok::Declare);
                }
                '|' => self.emit(Tok::Pipe),
                '"' => {
                    if !self.quote() {
                        return false;
                    }
                }
                '`' => {
                    let Some(end) = self.rest().find('`') else {
                        self.error("unterminated raw quoted string".into());
                        return false;
                    };
                    self.skip(end + 1);
                    let t = self.src[self.start..self.pos].to_string();
                    self.emit(Tok::RawStr(t));
                }
                '$' => {
                    if !self.field_or_var(true) {
                        return false;
                    }
                }
                '\'' => {
                    if !self.char_const() {
                        return false;
                    }
                }
                '.' => {
                    if self.peek().is_some_and(|d| d.is_ascii_digit()) {
                        if !self.number() {
                            return false;
                        }
                    } else if !self.field_or_var(false) {
                        return false;
                    }
                }
                '+' | '-' | '0'..='9' => {
                    if !self.number() {
                        return false;
                    }
                }
                c if is_alnum(c) => {
                    if !self.identifier() {
                        return false;
                    }
                }
                '(' => {
                    self.paren_depth += 1;
                    self.emit(Tok::LParen);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        self.error("unexpected right paren".into());
                        return false;
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RParen);
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Char(c)),
                c => {
                    self.error(format!("unrecognized character in action: {}", sharp_u(c)));
                    return false;
                }
            }
        }
    }

    fn quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        self.error("unterminated quoted string".into());
                        return false;
                    }
                    Some(_) => {}
                },
                Some('\n') | None => {
                    self.error("unterminated quoted string".into());
                    return false;
                }
                Some('"') => break,
                Some(_) => {}
            }
        }
        let t = self.src[self.start..self.pos].to_string();
        self.emit(Tok::Str(t));
        true
    }

    fn char_const(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        self.error("unterminated character constant".into());
                        return false;
                    }
                    Some(_) => {}
                },
                Some('\n') | None => {
                    self.error("unterminated character constant".into());
                    return false;
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        let t = self.src[self.start..self.pos].to_string();
        self.emit(Tok::CharConst(t));
        true
    }

    /// After `.` or `$`.
    fn field_or_var(&mut self, var: bool) -> bool {
        if self.at_terminator() {
            if var {
                self.emit(Tok::Variable("$".into()));
            } else {
                self.emit(Tok::Dot);
            }
            return true;
        }
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(format!("bad character {}", sharp_u(c)));
            return false;
        }
        let t = self.src[self.start..self.pos].to_string();
        if var {
            self.emit(Tok::Variable(t));
        } else {
            self.emit(Tok::Field(t));
        }
        true
    }

    fn identifier(&mut self) -> bool {
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(format!("bad character {}", sharp_u(c)));
            return false;
        }
        let word = &self.src[self.start..self.pos];
        let tok = if let Some(k) = Kw::from_word(word) {
            Tok::Keyword(k)
        } else {
            match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                w => Tok::Ident(w.to_string()),
            }
        };
        self.emit(tok);
        true
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    /// The first character of the number has already been consumed.
    fn number(&mut self) -> bool {
        // Restart scanning from the token start for simplicity.
        self.pos = self.start;
        self.line = self.start_line;
        self.accept("+-");
        let mut digits = "0123456789_";
        let mut decimal = true;
        let mut hex = false;
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
                decimal = false;
                hex = true;
            } else if self.accept("oO") {
                digits = "01234567_";
                decimal = false;
            } else if self.accept("bB") {
                digits = "01_";
                decimal = false;
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if decimal && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if hex && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            let t = self.src[self.start..self.pos].to_string();
            self.error(format!(
                "bad number syntax: {}",
                crate::gofmt::go_quote(&t, false)
            ));
            return false;
        }
        let t = self.src[self.start..self.pos].to_string();
        self.emit(Tok::Number(t));
        true
    }
}

fn has_left_trim(after: &str) -> bool {
    let mut cs = after.chars();
    matches!((cs.next(), cs.next()), (Some('-'), Some(c)) if is_space(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).into_iter().map(|i| i.tok).collect()
    }

    #[test]
    fn basic_action() {
        assert_eq!(
            toks("a {{.Name}} b"),
            vec![
                Tok::Text("a ".into()),
                Tok::LeftDelim,
                Tok::Field(".Name".into()),
                Tok::RightDelim,
                Tok::Text(" b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn trim_markers() {
        assert_eq!(
            toks("a  \n{{- .X -}}\n  b"),
            vec![
                Tok::Text("a".into()),
                Tok::LeftDelim,
                Tok::Field(".X".into()),
                Tok::RightDelim,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
        // "{{-3}}" is a number, not a trim marker.
        assert_eq!(
            toks("{{-3}}"),
            vec![
                Tok::LeftDelim,
                Tok::Number("-3".into()),
                Tok::RightDelim,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            toks("a {{- /* hi */ -}} b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into()), Tok::Eof]
        );
        assert_eq!(
            toks("{{/* x */ .Y}}").last().unwrap(),
            &Tok::Error("comment ends before closing delimiter".into())
        );
    }

    #[test]
    fn declarations_and_pipes() {
        assert_eq!(
            toks("{{$x := .A | len}}"),
            vec![
                Tok::LeftDelim,
                Tok::Variable("$x".into()),
                Tok::Space,
                Tok::Declare,
                Tok::Space,
                Tok::Field(".A".into()),
                Tok::Space,
                Tok::Pipe,
                Tok::Space,
                Tok::Ident("len".into()),
                Tok::RightDelim,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            toks("{{.A").last().unwrap(),
            &Tok::Error("unclosed action".into())
        );
        assert_eq!(
            toks("{{\"abc}}").last().unwrap(),
            &Tok::Error("unterminated quoted string".into())
        );
        assert_eq!(
            toks("{{3x}}").last().unwrap(),
            &Tok::Error("bad number syntax: \"3x\"".into())
        );
        assert_eq!(
            toks("{{(.A}}").last().unwrap(),
            &Tok::Error("unclosed left paren".into())
        );
    }
}
