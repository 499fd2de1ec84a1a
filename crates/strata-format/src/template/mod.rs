//! A Go `text/template` engine evaluating over `serde_json::Value`, with
//! Docker's extra functions (`json`, `split`, `join`, `title`, `lower`,
//! `upper`, `pad`, `truncate`).
//!
//! Data is seen the way Go sees JSON decoded into `interface{}`: objects are
//! maps (so `{{.Missing}}` prints `<no value>` and `range` visits keys in
//! sorted order), arrays are slices, integers are `int`, other numbers
//! `float64`. Output of values follows Go's `fmt` `%v` rules.
//!
//! Supported syntax: text, `{{.Field}}`, `{{.A.B}}`, `{{.}}`, `$`, variables
//! (`$x := …`, `$x = …`), pipelines, parenthesised pipelines, `if`/`else
//! if`/`else`, `with`/`else with`, `range` (one or two variables, `else`,
//! `break`, `continue`, over arrays, maps and integers), `define`,
//! `template`, `block`, comments, trim markers, and all Go builtins except
//! calling function values (`call` always reports a non-function).
//!
//! Error messages reproduce Go's, prefixed with Docker's
//! `template parsing error: `.

mod exec;
mod lex;
mod parse;

use std::collections::HashMap;

pub(crate) use exec::ExecOpts;
pub(crate) use exec::FuncMode;

/// Which phase a template error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template text is malformed (Docker's inspect exits 64 for these).
    Parse,
    /// The template failed while executing against data (exit 1).
    Exec,
}

/// A template parse or execution error, displayed exactly like Docker
/// prints it: `template parsing error: template: :1: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Malformed template text.
    #[error("template parsing error: template: :{line}: {message}")]
    Parse {
        /// 1-based line of the offending token.
        line: usize,
        /// Go's message, e.g. `function "foo" not defined`.
        message: String,
    },
    /// Failure while executing.
    #[error("template parsing error: template: :{line}:{column}: executing \"{template}\" at <{context}>: {message}")]
    Exec {
        /// 1-based line of the failing node.
        line: usize,
        /// Byte column of the failing node (Go counts from 0 on line 1).
        column: usize,
        /// Name of the (sub)template executing; empty for the main one.
        template: String,
        /// The failing node as Go prints it, e.g. `.Foo` or `index .X 5`.
        context: String,
        /// Go's message, e.g. `error calling index: index out of range: 5`.
        message: String,
    },
}

impl TemplateError {
    /// Parse or exec.
    pub fn kind(&self) -> TemplateErrorKind {
        match self {
            TemplateError::Parse { .. } => TemplateErrorKind::Parse,
            TemplateError::Exec { .. } => TemplateErrorKind::Exec,
        }
    }

    /// The message as Go's `text/template` returns it, without Docker's
    /// `template parsing error: ` prefix.
    pub fn go_message(&self) -> String {
        let s = self.to_string();
        s.strip_prefix("template parsing error: ")
            .map(str::to_string)
            .unwrap_or(s)
    }
}

/// Names of every function callable from a template.
const FUNCS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne", "json", "split", "join", "title",
    "lower", "upper", "pad", "truncate",
];

/// Go's `missingkey` option: what a field lookup of an absent map key does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: the result is "no value" (printed as `<no value>`).
    #[default]
    Default,
    /// `missingkey=error`: execution fails with
    /// `map has no entry for key "X"`. Docker uses this when `inspect`
    /// falls back to executing on the raw JSON.
    Error,
}

/// A parsed template, ready to execute any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    root: Vec<parse::Node>,
    defs: HashMap<String, Vec<parse::Node>>,
    missing_key: MissingKey,
}

impl Template {
    /// Parses Go template text (delimiters `{{` and `}}`).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let has_func = |name: &str| FUNCS.contains(&name);
        match parse::parse(src, &has_func) {
            Ok(p) => Ok(Template {
                src: src.to_string(),
                root: p.root,
                defs: p.defs,
                missing_key: MissingKey::Default,
            }),
            Err(f) => Err(TemplateError::Parse {
                line: f.line,
                message: f.msg,
            }),
        }
    }

    /// Sets Go's `missingkey` option (like `tmpl.Option("missingkey=error")`).
    pub fn missing_key(mut self, mode: MissingKey) -> Template {
        self.missing_key = mode;
        self
    }

    /// The original template text.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Executes against `data`, returning the produced text.
    pub fn execute(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        let (out, err) = self.execute_with(data, &ExecOpts::default());
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Executes with options, returning the output produced so far even when
    /// an error stops execution (Docker keeps partial table headers).
    pub(crate) fn execute_with(
        &self,
        data: &serde_json::Value,
        opts: &ExecOpts<'_>,
    ) -> (String, Option<TemplateError>) {
        exec::run(self, data, opts)
    }
}

#[cfg(test)]
mod tests;
