//! Parser for Go `text/template`: builds the node tree from lexer tokens,
//! checking function names and variable scopes the way Go's parser does.

use super::lex::{lex, Item, Kw, Tok};
use std::collections::HashMap;

/// Byte offset into the template source.
pub(crate) type Pos = usize;

/// A template node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
    Template {
        pos: Pos,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: Pos,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub pos: Pos,
    pub args: Vec<Arg>,
}

/// A numeric literal with all the interpretations Go computes.
#[derive(Debug, Clone)]
pub(crate) struct NumLit {
    pub text: String,
    pub int: Option<i64>,
    pub uint: Option<u64>,
    pub float: Option<f64>,
    pub is_char: bool,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Field {
        pos: Pos,
        idents: Vec<String>,
    },
    Variable {
        pos: Pos,
        name: String,
        fields: Vec<String>,
    },
    Dot(Pos),
    Nil(Pos),
    Bool(Pos, bool),
    Number(Pos, NumLit),
    Str {
        pos: Pos,
        quoted: String,
        text: String,
    },
    Ident(Pos, String),
    Pipe(Box<Pipe>),
    Chain {
        pos: Pos,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    pub(crate) fn pos(&self) -> Pos {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number(pos, _)
            | Arg::Str { pos, .. }
            | Arg::Ident(pos, _)
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

/// Go's `Node.String()` for operands.
pub(crate) fn arg_string(a: &Arg) -> String {
    match a {
        Arg::Field { idents, .. } => idents.iter().map(|i| format!(".{i}")).collect(),
        Arg::Variable { name, fields, .. } => {
            let mut s = name.clone();
            for f in fields {
                s.push('.');
                s.push_str(f);
            }
            s
        }
        Arg::Dot(_) => ".".into(),
        Arg::Nil(_) => "nil".into(),
        Arg::Bool(_, b) => b.to_string(),
        Arg::Number(_, n) => n.text.clone(),
        Arg::Str { quoted, .. } => quoted.clone(),
        Arg::Ident(_, n) => n.clone(),
        Arg::Pipe(p) => pipe_string(p),
        Arg::Chain { node, fields, .. } => {
            let mut s = match node.as_ref() {
                Arg::Pipe(p) => format!("({})", pipe_string(p)),
                other => arg_string(other),
            };
            for f in fields {
                s.push('.');
                s.push_str(f);
            }
            s
        }
    }
}

/// Go's `CommandNode.String()`.
pub(crate) fn cmd_string(c: &Cmd) -> String {
    c.args
        .iter()
        .map(|a| match a {
            Arg::Pipe(p) => format!("({})", pipe_string(p)),
            other => arg_string(other),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `PipeNode.String()`.
pub(crate) fn pipe_string(p: &Pipe) -> String {
    let mut s = String::new();
    if !p.decl.is_empty() {
        s.push_str(&p.decl.join(", "));
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    s.push_str(
        &p.cmds
            .iter()
            .map(cmd_string)
            .collect::<Vec<_>>()
            .join(" | "),
    );
    s
}

/// A parse failure: 1-based line and Go's message.
#[derive(Debug, Clone)]
pub(crate) struct ParseFail {
    pub line: usize,
    pub msg: String,
}

/// The parsed template: the main tree plus `define`d / `block` trees.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defs: HashMap<String, Vec<Node>>,
}

enum Elem {
    Node(Node),
    End,
    Else,
}

struct Parser<'f> {
    items: Vec<Item>,
    i: usize,
    hi: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    defs: HashMap<String, Vec<Node>>,
    has_func: &'f dyn Fn(&str) -> bool,
}

type PResult<T> = Result<T, ParseFail>;

/// Parses `src`; `has_func` says which function names are defined.
pub(crate) fn parse(src: &str, has_func: &dyn Fn(&str) -> bool) -> PResult<Parsed> {
    let mut p = Parser {
        items: lex(src),
        i: 0,
        hi: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        action_line: 0,
        defs: HashMap::new(),
        has_func,
    };
    let root = p.parse_top()?;
    Ok(Parsed { root, defs: p.defs })
}

impl Parser<'_> {
    fn fail<T>(&self, msg: impl Into<String>) -> PResult<T> {
        let line = self.items[self.hi.min(self.items.len() - 1)].line;
        Err(ParseFail {
            line,
            msg: msg.into(),
        })
    }

    fn raw_next(&mut self) -> Item {
        let idx = self.i.min(self.items.len() - 1);
        let it = self.items[idx].clone();
        if self.i < self.items.len() {
            self.i += 1;
        }
        self.hi = self.hi.max(idx);
        it
    }

    fn next(&mut self) -> PResult<Item> {
        let it = self.raw_next();
        if let Tok::Error(msg) = &it.tok {
            let mut m = msg.clone();
            if self.action_line != 0 && self.action_line != it.line {
                m.push_str(&format!(" in action started at :{}", self.action_line));
            }
            self.hi = self.i.saturating_sub(1);
            return Err(ParseFail {
                line: it.line,
                msg: m,
            });
        }
        Ok(it)
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn peek(&mut self) -> PResult<Item> {
        let it = self.next()?;
        self.backup();
        Ok(it)
    }

    fn next_non_space(&mut self) -> PResult<Item> {
        loop {
            let it = self.next()?;
            if it.tok != Tok::Space {
                return Ok(it);
            }
        }
    }

    fn peek_non_space(&mut self) -> PResult<Item> {
        let it = self.next_non_space()?;
        self.backup();
        Ok(it)
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        self.fail(format!("unexpected {} in {}", it.describe(), context))
    }

    fn expect_right_delim(&mut self, context: &str) -> PResult<Item> {
        let it = self.next_non_space()?;
        if it.tok != Tok::RightDelim {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        loop {
            let it = self.peek()?;
            if it.tok == Tok::Eof {
                break;
            }
            if it.tok == Tok::LeftDelim {
                let save = self.i;
                self.next()?;
                let kw = self.next_non_space()?;
                if kw.tok == Tok::Keyword(Kw::Define) {
                    self.action_line = it.line;
                    self.parse_definition()?;
                    self.action_line = 0;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Elem::Node(n) => root.push(n),
                Elem::End => return self.fail("unexpected {{end}}"),
                Elem::Else => return self.fail("unexpected {{else}}"),
            }
        }
        Ok(root)
    }

    fn string_lit(&self, it: &Item, context: &str) -> PResult<String> {
        match &it.tok {
            Tok::Str(q) | Tok::RawStr(q) => match unquote(q) {
                Some(s) => Ok(s),
                None => self.fail("invalid syntax"),
            },
            _ => self.unexpected(it, context),
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let name_tok = self.next_non_space()?;
        let name = self.string_lit(&name_tok, CONTEXT)?;
        self.expect_right_delim(CONTEXT)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if !matches!(end, Elem::End) {
            return self.fail(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.add_def(name, list);
        Ok(())
    }

    fn add_def(&mut self, name: String, list: Vec<Node>) {
        let empty = list
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        if empty && self.defs.contains_key(&name) {
            return;
        }
        self.defs.insert(name, list);
    }

    fn text_or_action(&mut self) -> PResult<Elem> {
        let it = self.next_non_space()?;
        match it.tok {
            Tok::Text(t) => Ok(Elem::Node(Node::Text(t))),
            Tok::LeftDelim => {
                let saved = self.action_line;
                self.action_line = it.line;
                let r = self.action();
                self.action_line = saved;
                r
            }
            _ => self.unexpected(&it, "input"),
        }
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Elem)> {
        let mut list = Vec::new();
        while self.peek_non_space()?.tok != Tok::Eof {
            match self.text_or_action()? {
                Elem::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        self.fail("unexpected EOF")
    }

    fn action(&mut self) -> PResult<Elem> {
        let it = self.next_non_space()?;
        match it.tok {
            Tok::Keyword(Kw::Block) => return self.block_control().map(Elem::Node),
            Tok::Keyword(Kw::Break) => {
                self.loop_control("{{break}}")?;
                return Ok(Elem::Node(Node::Break));
            }
            Tok::Keyword(Kw::Continue) => {
                self.loop_control("{{continue}}")?;
                return Ok(Elem::Node(Node::Continue));
            }
            Tok::Keyword(Kw::Else) => {
                let p = self.peek_non_space()?;
                if matches!(p.tok, Tok::Keyword(Kw::If) | Tok::Keyword(Kw::With)) {
                    return Ok(Elem::Else);
                }
                self.expect_right_delim("else")?;
                return Ok(Elem::Else);
            }
            Tok::Keyword(Kw::End) => {
                self.expect_right_delim("end")?;
                return Ok(Elem::End);
            }
            Tok::Keyword(Kw::If) => return self.control("if").map(|b| Elem::Node(Node::If(b))),
            Tok::Keyword(Kw::Range) => {
                return self.control("range").map(|b| Elem::Node(Node::Range(b)))
            }
            Tok::Keyword(Kw::With) => {
                return self.control("with").map(|b| Elem::Node(Node::With(b)))
            }
            Tok::Keyword(Kw::Template) => return self.template_control().map(Elem::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", &Tok::RightDelim)?;
        Ok(Elem::Node(Node::Action(pipe)))
    }

    fn loop_control(&mut self, name: &str) -> PResult<()> {
        let it = self.next_non_space()?;
        if it.tok != Tok::RightDelim {
            return self.unexpected(&it, name);
        }
        if self.range_depth == 0 {
            return self.fail(format!("{name} outside {{{{range}}}}"));
        }
        Ok(())
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let tok = self.next_non_space()?;
        let name = self.string_lit(&tok, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space()?.tok != Tok::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, &Tok::RightDelim)?);
        }
        Ok(Node::Template {
            pos: tok.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let tok = self.next_non_space()?;
        let name = self.string_lit(&tok, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, &Tok::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        if !matches!(end, Elem::End) {
            return self.fail(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.add_def(name.clone(), list);
        Ok(Node::Template {
            pos: tok.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Elem::Else = next {
            let p = self.peek()?;
            if context == "if" && p.tok == Tok::Keyword(Kw::If) {
                self.next()?;
                else_list = Some(vec![Node::If(self.control("if")?)]);
            } else if context == "with" && p.tok == Tok::Keyword(Kw::With) {
                self.next()?;
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (l, n) = self.item_list()?;
                if !matches!(n, Elem::End) {
                    return self.fail("expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(mark);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let start = self.peek_non_space()?;
        let mut pipe = Pipe {
            pos: start.pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        'decls: loop {
            let v = self.peek_non_space()?;
            let Tok::Variable(name) = &v.tok else {
                break;
            };
            let save = self.i;
            self.next_non_space()?;
            let after = self.peek()?;
            let next = self.peek_non_space()?;
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space()?;
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                }
                Tok::Char(',') => {
                    self.next_non_space()?;
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        let p = self.peek_non_space()?;
                        match p.tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RParen => continue 'decls,
                            _ => return self.fail("range can only initialize variables"),
                        }
                    }
                    return self.fail(format!("too many declarations in {context}"));
                }
                _ => {
                    let _ = after;
                    self.i = save;
                }
            }
            break;
        }
        loop {
            let it = self.next_non_space()?;
            if &it.tok == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match it.tok {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&it, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.fail(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str { .. }
            ) {
                return self.fail(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space()?.pos;
        let mut cmd = Cmd {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space()?;
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let it = self.next()?;
            match it.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.fail("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let p = self.peek()?;
        if !matches!(p.tok, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let chain_pos = p.pos;
        let mut fields = Vec::new();
        while let Tok::Field(f) = self.peek()?.tok {
            self.next()?;
            fields.push(f[1..].to_string());
        }
        Ok(Some(match node {
            // Like Go, a chained field or variable takes the position of
            // the first chained field.
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field {
                    pos: chain_pos,
                    idents,
                }
            }
            Arg::Variable {
                name,
                fields: mut fs,
                ..
            } => {
                fs.extend(fields);
                Arg::Variable {
                    pos: chain_pos,
                    name,
                    fields: fs,
                }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return self.fail(format!(
                    "unexpected . after term {}",
                    crate::gofmt::go_quote(&arg_string(&node), false)
                ));
            }
            other => Arg::Chain {
                pos: chain_pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space()?;
        let pos = it.pos;
        Ok(Some(match it.tok {
            Tok::Ident(name) => {
                if !(self.has_func)(&name) {
                    return self.fail(format!(
                        "function {} not defined",
                        crate::gofmt::go_quote(&name, false)
                    ));
                }
                Arg::Ident(pos, name)
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(name) => {
                if !self.vars.iter().any(|v| v == &name) {
                    return self.fail(format!(
                        "undefined variable {}",
                        crate::gofmt::go_quote(&name, false)
                    ));
                }
                Arg::Variable {
                    pos,
                    name,
                    fields: Vec::new(),
                }
            }
            Tok::Field(f) => Arg::Field {
                pos,
                idents: vec![f[1..].to_string()],
            },
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::CharConst(t) => Arg::Number(pos, self.char_number(&t)?),
            Tok::Number(t) => Arg::Number(pos, self.number(&t)?),
            Tok::LParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", &Tok::RParen)?,
            )),
            Tok::Str(q) | Tok::RawStr(q) => match unquote(&q) {
                Some(text) => Arg::Str {
                    pos,
                    quoted: q,
                    text,
                },
                None => return self.fail("invalid syntax"),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn char_number(&self, text: &str) -> PResult<NumLit> {
        let inner = &text[1..text.len() - 1];
        let mut chars = inner.chars().peekable();
        let c = match unescape_one(&mut chars, '\'') {
            Some(c) if chars.peek().is_none() => c,
            Some(_) => return self.fail(format!("malformed character constant: {text}")),
            None => return self.fail("invalid syntax"),
        };
        Ok(NumLit {
            text: text.to_string(),
            int: Some(c as i64),
            uint: Some(c as u64),
            float: Some(c as u32 as f64),
            is_char: true,
        })
    }

    fn number(&self, text: &str) -> PResult<NumLit> {
        let mut n = NumLit {
            text: text.to_string(),
            int: None,
            uint: None,
            float: None,
            is_char: false,
        };
        if text.ends_with('i') {
            return self.fail(format!(
                "illegal number syntax: {} (complex numbers are not supported)",
                crate::gofmt::go_quote(text, false)
            ));
        }
        if text.contains('_') && !underscore_ok(text) {
            return self.fail(format!(
                "illegal number syntax: {}",
                crate::gofmt::go_quote(text, false)
            ));
        }
        n.uint = parse_go_uint(text);
        n.int = parse_go_int(text);
        if let Some(i) = n.int {
            n.float = Some(i as f64);
        } else if let Some(u) = n.uint {
            n.float = Some(u as f64);
        } else {
            let cleaned: String = text.chars().filter(|&c| c != '_').collect();
            if let Ok(f) = cleaned.parse::<f64>() {
                if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                    return self.fail(format!(
                        "integer overflow: {}",
                        crate::gofmt::go_quote(text, false)
                    ));
                }
                n.float = Some(f);
                if f.fract() == 0.0 && f.abs() < 9.2e18 {
                    n.int = Some(f as i64);
                }
                if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
                    n.uint = Some(f as u64);
                }
            }
        }
        if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
            return self.fail(format!(
                "illegal number syntax: {}",
                crate::gofmt::go_quote(text, false)
            ));
        }
        Ok(n)
    }
}

/// Go's `strconv` rule: underscores only between digits (or after a base
/// prefix).
fn underscore_ok(text: &str) -> bool {
    let s = text.strip_prefix(['+', '-']).unwrap_or(text).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn split_sign(text: &str) -> (bool, &str) {
    if let Some(r) = text.strip_prefix('-') {
        (true, r)
    } else if let Some(r) = text.strip_prefix('+') {
        (false, r)
    } else {
        (false, text)
    }
}

/// Go `strconv.ParseUint(s, 0, 64)` magnitude (no sign allowed).
fn parse_go_magnitude(body: &str) -> Option<u64> {
    let b = body.as_bytes();
    let (radix, digits) = if b.len() > 1 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => (16, &body[2..]),
            b'o' | b'O' => (8, &body[2..]),
            b'b' | b'B' => (2, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else {
        (10, body)
    };
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if cleaned.is_empty() {
        return None;
    }
    u64::from_str_radix(&cleaned, radix).ok()
}

fn parse_go_uint(text: &str) -> Option<u64> {
    if text.starts_with(['+', '-']) {
        return None;
    }
    parse_go_magnitude(text)
}

fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = split_sign(text);
    let m = parse_go_magnitude(body)?;
    if neg {
        if m <= i64::MAX as u64 + 1 {
            Some((m as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(m).ok()
    }
}

/// Decodes one (possibly escaped) character; `quote` is the enclosing quote.
fn unescape_one(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char) -> Option<char> {
    let c = chars.next()?;
    if c == quote && quote == '\'' {
        return None;
    }
    if c != '\\' {
        return Some(c);
    }
    let e = chars.next()?;
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Option<char> {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.to_digit(16)?;
        }
        char::from_u32(v)
    };
    Some(match e {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        '\'' if quote == '\'' => '\'',
        '"' if quote == '"' => '"',
        'x' => hex(chars, 2)?,
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        '0'..='7' => {
            let mut v = e.to_digit(8)?;
            for _ in 0..2 {
                v = v * 8 + chars.next()?.to_digit(8)?;
            }
            if v > 255 {
                return None;
            }
            char::from_u32(v)?
        }
        _ => return None,
    })
}

/// Go `strconv.Unquote` for `"…"` and `` `…` `` literals.
pub(crate) fn unquote(q: &str) -> Option<String> {
    if let Some(inner) = q.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Some(inner.chars().filter(|&c| c != '\r').collect());
    }
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        out.push(unescape_one(&mut chars, '"')?);
    }
    Some(out)
}
