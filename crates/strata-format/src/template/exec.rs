//! Template execution: walks the parsed tree against JSON data with Go's
//! semantics for missing keys, truthiness, variables, pipelines and builtins.

use super::parse::{
    arg_string, cmd_string, pipe_string, Arg, Branch, Cmd, Node, NumLit, Pipe, Pos,
};
use super::{MissingKey, Template, TemplateError};
use crate::gofmt::{self, go_type_name, num, Num};
use crate::gojson::{to_go_json_with, GoJsonOptions};
use serde_json::Value;
use std::rc::Rc;

/// Which function set is active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum FuncMode {
    /// Docker's normal functions.
    #[default]
    Normal,
    /// Docker's `HeaderFunctions`: `json`, `split`, `join`, `title`, `lower`,
    /// `upper` and `truncate` return their first (string) argument unchanged.
    Header,
}

/// Execution options.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExecOpts<'a> {
    pub mode: FuncMode,
    /// A value that marshals like a Docker formatter context: `json` of this
    /// exact value sorts keys and HTML-escapes (`json.Marshal` of a map).
    pub context_root: Option<&'a Value>,
    /// When set, `context_root` behaves like a Go struct of this type
    /// (Docker's formatter contexts): unknown fields are errors
    /// (`can't evaluate field X in type *formatter.imageContext`), and a
    /// `Label` object member backs the `.Label "key"` method.
    pub context_type: Option<&'a str>,
}

const MAX_DEPTH: usize = 1000;

/// A runtime value: Go's invalid `reflect.Value` (`Missing`), a borrowed
/// part of the input, or a computed value. The flag is true while the value
/// is still boxed in an `interface{}` (fresh out of a map or slice element),
/// which changes the type Go names in field errors.
#[derive(Debug, Clone)]
enum Val<'a> {
    Missing,
    Ref(&'a Value, bool),
    Own(Rc<Value>, bool),
}

static NULL: Value = Value::Null;

impl<'a> Val<'a> {
    fn own(v: Value) -> Val<'a> {
        Val::Own(Rc::new(v), false)
    }

    fn get(&self) -> Option<&Value> {
        match self {
            Val::Missing => None,
            Val::Ref(v, _) => Some(v),
            Val::Own(v, _) => Some(v),
        }
    }

    /// The value as a function argument of type `interface{}`: invalid
    /// becomes nil.
    fn as_any(&self) -> &Value {
        self.get().unwrap_or(&NULL)
    }

    fn child_key(&self, key: &str) -> Option<Val<'a>> {
        match self {
            Val::Ref(Value::Object(m), _) => m.get(key).map(|c| Val::Ref(c, true)),
            Val::Own(v, _) => v
                .as_object()?
                .get(key)
                .map(|c| Val::Own(Rc::new(c.clone()), true)),
            _ => None,
        }
    }

    fn child_index(&self, i: usize) -> Option<Val<'a>> {
        match self {
            Val::Ref(Value::Array(a), _) => a.get(i).map(|c| Val::Ref(c, true)),
            Val::Own(v, _) => v
                .as_array()?
                .get(i)
                .map(|c| Val::Own(Rc::new(c.clone()), true)),
            _ => None,
        }
    }

    /// Go's interface unwrapping after each pipeline stage: nil → invalid,
    /// anything else loses its interface box.
    fn unwrap_nil(self) -> Val<'a> {
        match self {
            Val::Ref(Value::Null, _) => Val::Missing,
            Val::Own(v, _) if v.is_null() => Val::Missing,
            Val::Ref(v, _) => Val::Ref(v, false),
            Val::Own(v, _) => Val::Own(v, false),
            Val::Missing => Val::Missing,
        }
    }

    fn is_boxed(&self) -> bool {
        matches!(self, Val::Ref(_, true) | Val::Own(_, true))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, TemplateError>;

struct State<'a, 't> {
    tmpl: &'t Template,
    name: String,
    opts: &'t ExecOpts<'a>,
    out: String,
    vars: Vec<(String, Val<'a>)>,
    depth: usize,
    /// The operand evaluated last (Go's `state.node`), used as the error
    /// context for `range` failures.
    at: Option<&'t Arg>,
}

/// Runs the template; returns output so far and the error, if any.
pub(crate) fn run(
    tmpl: &Template,
    data: &Value,
    opts: &ExecOpts<'_>,
) -> (String, Option<TemplateError>) {
    let dot = if data.is_null() {
        Val::Missing
    } else {
        Val::Ref(data, false)
    };
    let mut st = State {
        tmpl,
        name: String::new(),
        opts,
        out: String::new(),
        vars: vec![("$".to_string(), dot.clone())],
        depth: 0,
        at: None,
    };
    let res = st.walk(&dot, &tmpl.root);
    (st.out, res.err())
}

/// Parameter types of builtin functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PT {
    Any,
    Str,
    Int,
    StrSlice,
}

impl PT {
    fn go_name(self) -> &'static str {
        match self {
            PT::Any => "interface {}",
            PT::Str => "string",
            PT::Int => "int",
            PT::StrSlice => "[]string",
        }
    }
}

/// (fixed parameter types, variadic element type)
fn signature(name: &str, mode: FuncMode) -> (&'static [PT], Option<PT>) {
    use PT::*;
    if mode == FuncMode::Header {
        match name {
            "json" | "title" | "lower" | "upper" => return (&[Str], None),
            "split" | "join" => return (&[Str, Str], None),
            "truncate" => return (&[Str, Int], None),
            _ => {}
        }
    }
    match name {
        "and" | "or" | "index" | "slice" | "call" | "eq" => (&[Any], Some(Any)),
        "not" | "len" | "json" => (&[Any], None),
        "print" | "println" | "html" | "js" | "urlquery" => (&[], Some(Any)),
        "printf" => (&[Str], Some(Any)),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None),
        "split" => (&[Str, Str], None),
        "join" => (&[StrSlice, Str], None),
        "title" | "lower" | "upper" => (&[Str], None),
        "pad" => (&[Str, Int, Int], None),
        "truncate" => (&[Str, Int], None),
        _ => (&[], None),
    }
}

fn truth(v: &Val<'_>) -> bool {
    match v.get() {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => match num(n) {
            Num::I(i) => i != 0,
            Num::U(u) => u != 0,
            Num::F(f) => f != 0.0,
        },
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

impl<'a, 't> State<'a, 't> {
    fn err<T>(&self, pos: Pos, context: String, message: impl Into<String>) -> R<T> {
        let src = &self.tmpl.src;
        let pos = pos.min(src.len());
        let before = &src[..pos];
        let (line, column) = match before.rfind('\n') {
            None => (1, pos),
            Some(nl) => (1 + before.matches('\n').count(), pos - (nl + 1)),
        };
        Err(TemplateError::Exec {
            line,
            column,
            template: self.name.clone(),
            context,
            message: message.into(),
        })
    }

    fn walk(&mut self, dot: &Val<'a>, nodes: &'t [Node]) -> R<Flow> {
        for node in nodes {
            let flow = match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        match v.get() {
                            None => self.out.push_str("<no value>"),
                            Some(x) => self.out.push_str(&gofmt::sprint_value(x)),
                        }
                    }
                    Flow::Normal
                }
                Node::If(b) => self.walk_if_with(dot, b, false)?,
                Node::With(b) => self.walk_if_with(dot, b, true)?,
                Node::Range(b) => self.walk_range(dot, b)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref())?;
                    Flow::Normal
                }
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_template(
        &mut self,
        dot: &Val<'a>,
        pos: Pos,
        name: &str,
        pipe: Option<&'t Pipe>,
    ) -> R<()> {
        let context = match pipe {
            Some(p) => format!(
                "{{{{template {} {}}}}}",
                gofmt::go_quote(name, false),
                pipe_string(p)
            ),
            None => format!("{{{{template {}}}}}", gofmt::go_quote(name, false)),
        };
        let Some(body) = self.tmpl.defs.get(name) else {
            return self.err(
                pos,
                context,
                format!("template {} not defined", gofmt::go_quote(name, false)),
            );
        };
        if self.depth >= MAX_DEPTH {
            return self.err(
                pos,
                context,
                format!("exceeded maximum template depth ({MAX_DEPTH})"),
            );
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Val::Missing,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.name, name.to_string());
        self.depth += 1;
        let r = self.walk(&new_dot, body);
        self.depth -= 1;
        self.name = saved_name;
        self.vars = saved_vars;
        r.map(|_| ())
    }

    fn walk_if_with(&mut self, dot: &Val<'a>, b: &'t Branch, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if truth(&val) {
            if with {
                self.walk(&val, &b.list)?
            } else {
                self.walk(dot, &b.list)?
            }
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn set_top_var(&mut self, n: usize, v: Val<'a>) {
        let len = self.vars.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            slot.1 = v;
        }
    }

    fn set_var(&mut self, name: &str, v: Val<'a>) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
        }
    }

    /// One range iteration; returns false when the loop must stop.
    fn range_iteration(
        &mut self,
        b: &'t Branch,
        mark: usize,
        index: Val<'a>,
        elem: Val<'a>,
    ) -> R<bool> {
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0], index.clone());
                } else {
                    self.set_var(&decl[0], elem.clone());
                }
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if b.pipe.is_assign {
                self.set_var(&decl[1], elem.clone());
            } else {
                self.set_top_var(2, index);
            }
        }
        let flow = self.walk(&elem, &b.list);
        self.vars.truncate(mark);
        Ok(flow? != Flow::Break)
    }

    fn range_at(&self, b: &Branch) -> (Pos, String) {
        match self.at {
            Some(a) => (a.pos(), arg_string(a)),
            None => (b.pipe.pos, pipe_string(&b.pipe)),
        }
    }

    fn walk_range(&mut self, dot: &Val<'a>, b: &'t Branch) -> R<Flow> {
        let outer = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let mut ran = false;
        match &val {
            Val::Missing => {}
            Val::Ref(..) | Val::Own(..) => match val.as_any() {
                Value::Array(items) => {
                    for i in 0..items.len() {
                        ran = true;
                        let elem = val.child_index(i).unwrap_or(Val::Missing);
                        if !self.range_iteration(b, mark, Val::own(Value::from(i)), elem)? {
                            break;
                        }
                    }
                }
                Value::Object(m) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    let keys: Vec<String> = keys.into_iter().cloned().collect();
                    for k in keys {
                        ran = true;
                        let elem = val.child_key(&k).unwrap_or(Val::Missing);
                        if !self.range_iteration(b, mark, Val::own(Value::String(k)), elem)? {
                            break;
                        }
                    }
                }
                Value::Number(n) if !matches!(num(n), Num::F(_)) => {
                    if b.pipe.decl.len() > 1 {
                        let (p, ctx) = self.range_at(b);
                        return self.err(
                            p,
                            ctx,
                            format!(
                                "can't use {} to iterate over more than one variable",
                                gofmt::sprint_value(val.as_any())
                            ),
                        );
                    }
                    let count: u64 = match num(n) {
                        Num::I(i) => i.max(0) as u64,
                        Num::U(u) => u,
                        Num::F(_) => 0,
                    };
                    for i in 0..count {
                        ran = true;
                        let v = Val::own(Value::from(i));
                        if !self.range_iteration(b, mark, Val::Missing, v)? {
                            break;
                        }
                    }
                }
                Value::Null => {}
                other => {
                    let (p, ctx) = self.range_at(b);
                    return self.err(
                        p,
                        ctx,
                        format!("range can't iterate over {}", gofmt::sprint_value(other)),
                    );
                }
            },
        }
        if !ran {
            if let Some(e) = &b.else_list {
                let f = self.walk(dot, e)?;
                self.vars.truncate(outer);
                return Ok(f);
            }
        }
        self.vars.truncate(outer);
        Ok(Flow::Normal)
    }

    fn eval_pipeline(&mut self, dot: &Val<'a>, pipe: &'t Pipe) -> R<Val<'a>> {
        let mut value: Option<Val<'a>> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.unwrap_nil());
        }
        let value = value.unwrap_or(Val::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Val<'a>>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            return self.err(
                args[0].pos(),
                arg_string(&args[0]),
                format!(
                    "can't give argument to non-function {}",
                    arg_string(&args[0])
                ),
            );
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Val<'a>, cmd: &'t Cmd, final_: Option<Val<'a>>) -> R<Val<'a>> {
        let first = &cmd.args[0];
        self.at = Some(first);
        match first {
            Arg::Field { pos, idents } => {
                let ctx = arg_string(first);
                return self.eval_field_chain(dot.clone(), idents, *pos, &ctx, &cmd.args, final_);
            }
            Arg::Chain { pos, node, fields } => {
                let ctx = arg_string(first);
                if let Arg::Nil(_) = node.as_ref() {
                    return self.err(
                        *pos,
                        ctx.clone(),
                        format!("indirection through explicit nil in {ctx}"),
                    );
                }
                let base = self.eval_arg_raw(dot, node)?;
                return self.eval_field_chain(base, fields, *pos, &ctx, &cmd.args, final_);
            }
            Arg::Ident(pos, name) => {
                return self.eval_function(dot, *pos, name, &cmd.args[1..], Some(cmd), final_)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable { pos, name, fields } => {
                let value = self.var_value(*pos, name)?;
                if fields.is_empty() {
                    self.not_a_function(&cmd.args, &final_)?;
                    return Ok(value);
                }
                let ctx = arg_string(first);
                return self.eval_field_chain(value, fields, *pos, &ctx, &cmd.args, final_);
            }
            _ => {}
        }
        self.not_a_function(&cmd.args, &final_)?;
        match first {
            Arg::Bool(_, b) => Ok(Val::own(Value::Bool(*b))),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(p) => self.err(*p, "nil".into(), "nil is not a command"),
            Arg::Number(p, n) => self.ideal_constant(*p, n),
            Arg::Str { text, .. } => Ok(Val::own(Value::String(text.clone()))),
            other => self.err(
                other.pos(),
                arg_string(other),
                format!(
                    "can't evaluate command {}",
                    gofmt::go_quote(&arg_string(other), false)
                ),
            ),
        }
    }

    fn var_value(&self, pos: Pos, name: &str) -> R<Val<'a>> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.err(pos, name.to_string(), format!("undefined variable: {name}")),
        }
    }

    fn ideal_constant(&self, pos: Pos, n: &NumLit) -> R<Val<'a>> {
        let is_hex = {
            let t = n.text.trim_start_matches(['+', '-']);
            t.len() > 1 && t.starts_with('0') && matches!(t.as_bytes()[1], b'x' | b'X')
        };
        if n.float.is_some() && !is_hex && !n.is_char && n.text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            let f = n.float.unwrap_or(0.0);
            return Ok(Val::own(
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            ));
        }
        if let Some(i) = n.int {
            return Ok(Val::own(Value::from(i)));
        }
        if n.uint.is_some() {
            return self.err(pos, n.text.clone(), format!("{} overflows int", n.text));
        }
        Ok(Val::Missing)
    }

    fn eval_field_chain(
        &mut self,
        mut receiver: Val<'a>,
        idents: &[String],
        pos: Pos,
        ctx: &str,
        args: &'t [Arg],
        final_: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let n = idents.len();
        let has_args = args.len() > 1 || final_.is_some();
        let mut start = 0;
        if let (Some(ty), true) = (self.opts.context_type, self.is_context_root(&receiver)) {
            // The row is a Docker formatter context: its fields are methods.
            let name = idents[0].as_str();
            let label_map = receiver
                .child_key("Label")
                .filter(|l| l.as_any().is_object());
            if let (Some(labels), "Label") = (label_map, name) {
                // `.Label "key"`: the one method taking an argument.
                let mut keys = Vec::new();
                if n == 1 {
                    for a in &args[1..] {
                        keys.push(self.eval_arg(&receiver, PT::Str, a)?);
                    }
                    if let Some(f) = final_ {
                        keys.push(self.validate(f, PT::Str, pos, ctx)?);
                    }
                }
                if keys.len() != 1 {
                    return self.err(
                        pos,
                        ctx.to_string(),
                        format!("wrong number of args for Label: want 1 got {}", keys.len()),
                    );
                }
                let key = keys[0].as_any().as_str().unwrap_or("");
                let value = labels.child_key(key).map(|v| v.as_any().clone());
                let text = match value {
                    Some(Value::String(s)) => s,
                    Some(other) => gofmt::sprint_value(&other),
                    None => String::new(),
                };
                return Ok(Val::own(Value::String(text)));
            }
            match receiver.child_key(name) {
                None => {
                    return self.err(
                        pos,
                        ctx.to_string(),
                        format!("can't evaluate field {name} in type {ty}"),
                    )
                }
                Some(v) => {
                    if n == 1 && has_args {
                        let got = args.len() - 1 + usize::from(final_.is_some());
                        return self.err(
                            pos,
                            ctx.to_string(),
                            format!("wrong number of args for {name}: want 0 got {got}"),
                        );
                    }
                    // Method results are concrete values, not interfaces.
                    receiver = v.unwrap_nil();
                    start = 1;
                }
            }
        }
        if start == n {
            return Ok(receiver);
        }
        for ident in &idents[start..n - 1] {
            receiver = self.eval_field(ident, receiver, false)?;
        }
        self.eval_field(&idents[n - 1], receiver, has_args)
    }

    /// An error located at the operand evaluated last, like Go's
    /// `state.errorf` after `state.at(node)`.
    fn fail_at<T>(&self, message: impl Into<String>) -> R<T> {
        match self.at {
            Some(a) => self.err(a.pos(), arg_string(a), message),
            None => self.err(0, String::new(), message),
        }
    }

    fn is_context_root(&self, v: &Val<'a>) -> bool {
        match (v, self.opts.context_root) {
            (Val::Ref(r, _), Some(root)) => std::ptr::eq(*r, root),
            _ => false,
        }
    }

    fn eval_field(&self, name: &str, receiver: Val<'a>, has_args: bool) -> R<Val<'a>> {
        let Some(v) = receiver.get() else {
            if self.tmpl.missing_key == MissingKey::Error {
                return self.fail_at(format!(
                    "nil data; no entry for key {}",
                    gofmt::go_quote(name, false)
                ));
            }
            return Ok(Val::Missing);
        };
        match v {
            Value::Null => self.fail_at(format!("nil pointer evaluating interface {{}}.{name}")),
            Value::Object(_) => {
                if has_args {
                    return self.fail_at(format!("{name} is not a method but has arguments"));
                }
                match receiver.child_key(name) {
                    Some(v) => Ok(v),
                    None if self.tmpl.missing_key == MissingKey::Error => self.fail_at(format!(
                        "map has no entry for key {}",
                        gofmt::go_quote(name, false)
                    )),
                    None => Ok(Val::Missing),
                }
            }
            other => {
                let ty = if receiver.is_boxed() {
                    "interface {}"
                } else {
                    go_type_name(other)
                };
                self.fail_at(format!("can't evaluate field {name} in type {ty}"))
            }
        }
    }

    /// Evaluates an operand with no type expectation (Go's `evalArg(dot, nil, n)`).
    fn eval_arg_raw(&mut self, dot: &Val<'a>, arg: &'t Arg) -> R<Val<'a>> {
        self.at = Some(arg);
        match arg {
            Arg::Field { pos, idents } => {
                let ctx = arg_string(arg);
                self.eval_field_chain(
                    dot.clone(),
                    idents,
                    *pos,
                    &ctx,
                    std::slice::from_ref(arg),
                    None,
                )
            }
            Arg::Variable { pos, name, fields } => {
                let v = self.var_value(*pos, name)?;
                if fields.is_empty() {
                    return Ok(v);
                }
                let ctx = arg_string(arg);
                self.eval_field_chain(v, fields, *pos, &ctx, std::slice::from_ref(arg), None)
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            // An identifier operand is a call with no arguments.
            Arg::Ident(pos, name) => self.eval_function(dot, *pos, name, &[], None, None),
            Arg::Chain { pos, node, fields } => {
                let ctx = arg_string(arg);
                if let Arg::Nil(_) = node.as_ref() {
                    return self.err(
                        *pos,
                        ctx.clone(),
                        format!("indirection through explicit nil in {ctx}"),
                    );
                }
                let base = self.eval_arg_raw(dot, node)?;
                self.eval_field_chain(base, fields, *pos, &ctx, std::slice::from_ref(arg), None)
            }
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Val::own(Value::Null)),
            Arg::Bool(_, b) => Ok(Val::own(Value::Bool(*b))),
            Arg::Number(p, n) => self.ideal_constant(*p, n),
            Arg::Str { text, .. } => Ok(Val::own(Value::String(text.clone()))),
        }
    }

    /// Evaluates an argument for a parameter of type `pt`.
    fn eval_arg(&mut self, dot: &Val<'a>, pt: PT, arg: &'t Arg) -> R<Val<'a>> {
        self.at = Some(arg);
        let node = || arg_string(arg);
        match (pt, arg) {
            (PT::Any, _) => {
                let v = self.eval_arg_raw(dot, arg)?;
                Ok(match v {
                    Val::Missing => Val::own(Value::Null),
                    v => v,
                })
            }
            (PT::Str, Arg::Str { text, .. }) => Ok(Val::own(Value::String(text.clone()))),
            (PT::Str, Arg::Bool(..) | Arg::Number(..)) => self.err(
                arg.pos(),
                node(),
                format!("expected string; found {}", node()),
            ),
            (PT::Int, Arg::Number(p, n)) => match n.int {
                Some(i) if !n.text.contains(['.', 'e', 'E']) || n.is_char => {
                    Ok(Val::own(Value::from(i)))
                }
                _ => {
                    let _ = p;
                    self.err(
                        arg.pos(),
                        node(),
                        format!("expected integer; found {}", node()),
                    )
                }
            },
            (PT::Int, Arg::Bool(..) | Arg::Str { .. }) => self.err(
                arg.pos(),
                node(),
                format!("expected integer; found {}", node()),
            ),
            (PT::StrSlice, Arg::Bool(..) | Arg::Str { .. } | Arg::Number(..)) => self.err(
                arg.pos(),
                node(),
                format!("can't handle {} for arg of type []string", node()),
            ),
            (_, Arg::Nil(_)) => self.err(
                arg.pos(),
                node(),
                format!("cannot assign nil to {}", pt.go_name()),
            ),
            _ => {
                let v = self.eval_arg_raw(dot, arg)?;
                self.validate(v, pt, arg.pos(), &node())
            }
        }
    }

    fn validate(&self, v: Val<'a>, pt: PT, pos: Pos, ctx: &str) -> R<Val<'a>> {
        let Some(x) = v.get() else {
            return self.err(
                pos,
                ctx.to_string(),
                format!("invalid value; expected {}", pt.go_name()),
            );
        };
        let ok = match (pt, x) {
            (PT::Any, _) => true,
            (PT::Str, Value::String(_)) => true,
            (PT::Int, Value::Number(n)) => matches!(num(n), Num::I(_)),
            (PT::StrSlice, Value::Array(a)) => a.iter().all(Value::is_string),
            _ => false,
        };
        if ok {
            return Ok(v);
        }
        let got = if x.is_null() {
            "interface {}"
        } else {
            go_type_name(x)
        };
        self.err(
            pos,
            ctx.to_string(),
            format!(
                "wrong type for value; expected {}; got {}",
                pt.go_name(),
                got
            ),
        )
    }

    fn validate_final(&self, v: Val<'a>, pt: PT, at: (Pos, String)) -> R<Val<'a>> {
        match (pt, &v) {
            (PT::Any, Val::Missing) => Ok(Val::own(Value::Null)),
            _ => self.validate(v, pt, at.0, &at.1),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Val<'a>,
        pos: Pos,
        name: &str,
        args: &'t [Arg],
        cmd: Option<&'t Cmd>,
        final_: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let (fixed, variadic) = signature(name, self.opts.mode);
        let at = || match cmd {
            Some(c) => (c.pos, cmd_string(c)),
            None => (pos, name.to_string()),
        };
        let num_in = args.len() + usize::from(final_.is_some());
        if variadic.is_some() {
            if num_in < fixed.len() {
                return self.err(
                    pos,
                    name.to_string(),
                    format!(
                        "wrong number of args for {name}: want at least {} got {}",
                        fixed.len(),
                        args.len()
                    ),
                );
            }
        } else if num_in != fixed.len() {
            return self.err(
                pos,
                name.to_string(),
                format!(
                    "wrong number of args for {name}: want {} got {}",
                    fixed.len(),
                    num_in
                ),
            );
        }
        let pt_at = |i: usize| -> PT { fixed.get(i).copied().or(variadic).unwrap_or(PT::Any) };

        if name == "and" || name == "or" {
            let want = name == "or";
            let mut v = Val::own(Value::Null);
            for a in args {
                v = self.eval_arg(dot, PT::Any, a)?;
                if truth(&v) == want {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = self.validate_final(f, PT::Any, at())?;
            }
            return Ok(v);
        }

        let mut argv: Vec<Val<'a>> = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, pt_at(i), a)?);
        }
        if let Some(f) = final_ {
            let pt = pt_at(args.len());
            argv.push(self.validate_final(f, pt, at())?);
        }
        if name == "call" {
            // Go names the callee by its source text, e.g. `"x"` or `.F`.
            let callee = args.first().map(arg_string).unwrap_or_default();
            let msg = match argv[0].as_any() {
                Value::Null => "call of nil".to_string(),
                v => format!("non-function {callee} of type {}", go_type_name(v)),
            };
            let (p, ctx) = at();
            return self.err(p, ctx, format!("error calling call: {msg}"));
        }
        match self.call(name, &argv) {
            Ok(v) => Ok(v),
            Err(msg) => {
                let (p, ctx) = at();
                self.err(p, ctx, format!("error calling {name}: {msg}"))
            }
        }
    }

    fn call(&self, name: &str, argv: &[Val<'a>]) -> Result<Val<'a>, String> {
        let s = |i: usize| -> &str { argv[i].as_any().as_str().unwrap_or("") };
        let int = |i: usize| -> i64 { argv[i].as_any().as_i64().unwrap_or(0) };
        let strv = |v: String| Ok(Val::own(Value::String(v)));
        if self.opts.mode == FuncMode::Header
            && matches!(
                name,
                "json" | "split" | "join" | "title" | "lower" | "upper" | "truncate"
            )
        {
            return strv(s(0).to_string());
        }
        let values: Vec<&Value> = argv.iter().map(Val::as_any).collect();
        match name {
            "print" => strv(gofmt::sprint(&values)),
            "println" => strv(gofmt::sprintln(&values)),
            "printf" => strv(gofmt::sprintf(s(0), &values[1..])),
            "len" => length(argv[0].as_any()).map(|n| Val::own(Value::from(n))),
            "not" => Ok(Val::own(Value::Bool(!truth(&argv[0])))),
            "index" => index(&argv[0], &argv[1..]),
            "slice" => slice(&argv[0], &argv[1..]),
            "html" => strv(html_escape(&eval_args_string(&values))),
            "js" => strv(js_escape(&eval_args_string(&values))),
            "urlquery" => strv(query_escape(&eval_args_string(&values))),
            "eq" => {
                if argv.len() < 2 {
                    return Err("missing argument for comparison".into());
                }
                for b in &argv[1..] {
                    if eq(argv[0].as_any(), b.as_any())? {
                        return Ok(Val::own(Value::Bool(true)));
                    }
                }
                Ok(Val::own(Value::Bool(false)))
            }
            "ne" => Ok(Val::own(Value::Bool(!eq(values[0], values[1])?))),
            "lt" => Ok(Val::own(Value::Bool(lt(values[0], values[1])?))),
            "le" => Ok(Val::own(Value::Bool(le(values[0], values[1])?))),
            "gt" => Ok(Val::own(Value::Bool(!le(values[0], values[1])?))),
            "ge" => Ok(Val::own(Value::Bool(!lt(values[0], values[1])?))),
            "json" => {
                let v = values[0];
                let is_ctx = self.opts.context_root.is_some_and(|r| std::ptr::eq(r, v));
                let opts = GoJsonOptions {
                    escape_html: is_ctx,
                    sort_keys: is_ctx,
                };
                // Docker marshals only argument-less methods: no `Label`.
                if let (true, Value::Object(m)) = (is_ctx, v) {
                    if m.get("Label").is_some_and(Value::is_object) {
                        let mut m = m.clone();
                        m.remove("Label");
                        return strv(to_go_json_with(&Value::Object(m), opts));
                    }
                }
                strv(to_go_json_with(v, opts))
            }
            "split" => {
                let (src, sep) = (s(0), s(1));
                let parts: Vec<Value> = if sep.is_empty() {
                    src.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    src.split(sep)
                        .map(|p| Value::String(p.to_string()))
                        .collect()
                };
                Ok(Val::own(Value::Array(parts)))
            }
            "join" => {
                let items: Vec<&str> = values[0]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                strv(items.join(s(1)))
            }
            "title" => strv(go_title(s(0))),
            "lower" => strv(s(0).chars().map(go_lower).collect()),
            "upper" => strv(s(0).chars().map(go_upper).collect()),
            "pad" => {
                let src = s(0);
                if src.is_empty() {
                    return strv(String::new());
                }
                let (l, r) = (int(1), int(2));
                if l < 0 || r < 0 {
                    return Err("strings: negative Repeat count".into());
                }
                strv(format!(
                    "{}{}{}",
                    " ".repeat(l as usize),
                    src,
                    " ".repeat(r as usize)
                ))
            }
            "truncate" => {
                let (src, n) = (s(0), int(1));
                if n < 0 {
                    return Err(format!("runtime error: slice bounds out of range [:{n}]"));
                }
                let n = n as usize;
                if src.chars().count() < n {
                    return strv(src.to_string());
                }
                strv(src.chars().take(n).collect())
            }
            other => Err(format!(
                "{} is not a defined function",
                gofmt::go_quote(other, false)
            )),
        }
    }
}

fn length(v: &Value) -> Result<usize, String> {
    match v {
        Value::Null => Err("len of nil pointer".into()),
        Value::String(s) => Ok(s.len()),
        Value::Array(a) => Ok(a.len()),
        Value::Object(m) => Ok(m.len()),
        other => Err(format!("len of type {}", go_type_name(other))),
    }
}

fn index_arg(v: &Value, cap: usize) -> Result<usize, String> {
    let x: i128 = match v {
        Value::Number(n) => match num(n) {
            Num::I(i) => i as i128,
            Num::U(u) => u as i128,
            Num::F(_) => return Err("cannot index slice/array with type float64".into()),
        },
        Value::Null => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                go_type_name(other)
            ))
        }
    };
    if x < 0 || x > cap as i128 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index<'a>(item: &Val<'a>, idx: &[Val<'a>]) -> Result<Val<'a>, String> {
    if item.as_any().is_null() {
        return Err("index of untyped nil".into());
    }
    let mut cur = item.clone();
    for i in idx {
        let key = i.as_any();
        cur = match cur.as_any() {
            Value::Null => return Err("index of nil pointer".into()),
            Value::Array(a) => {
                let x = index_arg(key, a.len())?;
                if x >= a.len() {
                    return Err(format!("index out of range: {x}"));
                }
                cur.child_index(x).unwrap_or(Val::Missing)
            }
            Value::String(s) => {
                let x = index_arg(key, s.len())?;
                if x >= s.len() {
                    return Err(format!("index out of range: {x}"));
                }
                Val::own(Value::from(s.as_bytes()[x]))
            }
            Value::Object(_) => match key {
                Value::String(k) => cur.child_key(k).unwrap_or_else(|| Val::own(Value::Null)),
                Value::Null => return Err("value is nil; should be of type string".into()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        go_type_name(other)
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", go_type_name(other))),
        };
    }
    Ok(cur)
}

fn slice<'a>(item: &Val<'a>, idx: &[Val<'a>]) -> Result<Val<'a>, String> {
    let v = item.as_any();
    if v.is_null() {
        return Err("slice of untyped nil".into());
    }
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match v {
        Value::String(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Array(a) => a.len(),
        other => return Err(format!("can't slice item of type {}", go_type_name(other))),
    };
    let mut ix = [0usize, len, len];
    for (i, x) in idx.iter().enumerate() {
        ix[i] = index_arg(x.as_any(), len)?;
    }
    if idx.len() < 3 {
        ix[2] = len;
    }
    if idx.len() < 2 {
        ix[1] = len;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    Ok(match v {
        Value::String(s) => match s.get(ix[0]..ix[1]) {
            Some(sub) => Val::own(Value::String(sub.to_string())),
            None => Val::own(Value::String(
                String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into_owned(),
            )),
        },
        Value::Array(a) => Val::own(Value::Array(a[ix[0]..ix[1]].to_vec())),
        _ => Val::Missing,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind<'v> {
    Invalid,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'v str),
    Composite,
}

fn kind(v: &Value) -> Kind<'_> {
    match v {
        Value::Null => Kind::Invalid,
        Value::Bool(b) => Kind::Bool(*b),
        Value::Number(n) => match num(n) {
            Num::I(i) => Kind::Int(i),
            Num::U(u) => Kind::Uint(u),
            Num::F(f) => Kind::Float(f),
        },
        Value::String(s) => Kind::Str(s),
        _ => Kind::Composite,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn eq(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (kind(a), kind(b)) {
        (Kind::Int(x), Kind::Uint(y)) => x >= 0 && x as u64 == y,
        (Kind::Uint(x), Kind::Int(y)) => y >= 0 && x == y as u64,
        (Kind::Bool(x), Kind::Bool(y)) => x == y,
        (Kind::Int(x), Kind::Int(y)) => x == y,
        (Kind::Uint(x), Kind::Uint(y)) => x == y,
        (Kind::Float(x), Kind::Float(y)) => x == y,
        (Kind::Str(x), Kind::Str(y)) => x == y,
        (Kind::Invalid, Kind::Invalid) => true,
        (Kind::Invalid, _) | (_, Kind::Invalid) => false,
        (Kind::Composite, Kind::Composite) => {
            return Err(format!(
                "non-comparable type {}: {}",
                gofmt::sprint_value(b),
                go_type_name(b)
            ))
        }
        _ => return Err(BAD_COMPARISON.into()),
    })
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    for k in [ka, kb] {
        if matches!(k, Kind::Invalid | Kind::Composite) {
            return Err(BAD_COMPARISON_TYPE.into());
        }
    }
    Ok(match (ka, kb) {
        (Kind::Int(x), Kind::Uint(y)) => x < 0 || (x as u64) < y,
        (Kind::Uint(x), Kind::Int(y)) => y >= 0 && x < y as u64,
        (Kind::Bool(_), Kind::Bool(_)) => return Err(BAD_COMPARISON_TYPE.into()),
        (Kind::Int(x), Kind::Int(y)) => x < y,
        (Kind::Uint(x), Kind::Uint(y)) => x < y,
        (Kind::Float(x), Kind::Float(y)) => x < y,
        (Kind::Str(x), Kind::Str(y)) => x < y,
        _ => return Err(BAD_COMPARISON.into()),
    })
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, b)
}

/// Go's `evalArgs`: a lone string argument is used as is, otherwise Sprint.
fn eval_args_string(values: &[&Value]) -> String {
    if let [Value::String(s)] = values {
        return s.clone();
    }
    gofmt::sprint(values)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `unicode.ToUpper`: simple one-to-one mapping (ß stays ß).
fn go_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower`: simple one-to-one mapping (İ becomes i).
fn go_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `unicode.ToTitle`: like upper case except for the four Latin
/// digraphs, which have distinct title-case forms.
fn go_to_title(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        c => go_upper(c),
    }
}

/// Go's deprecated `strings.Title`: upper-cases letters that begin words.
fn go_title(s: &str) -> String {
    let is_sep = |c: char| -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphabetic() || c.is_numeric() {
            return false;
        }
        c.is_whitespace()
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_sep(prev) {
            out.push(go_to_title(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}
