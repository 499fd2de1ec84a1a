//! Debugging aid: executes a Go template over JSON read from stdin.
//!
//! `echo '{"A":1}' | cargo run -p strata-format --example render -- '{{.A}}'`
//! prints the output, or the error on stderr with exit status 64 (parse)
//! or 1 (exec), like `docker inspect --format`. With `--missingkey=error`
//! as the first argument, absent map keys are errors (Go's option).

use std::io::Read;
use strata_format::{MissingKey, Template, TemplateErrorKind};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut missing = MissingKey::Default;
    if args.first().map(String::as_str) == Some("--missingkey=error") {
        missing = MissingKey::Error;
        args.remove(0);
    }
    let Some(src) = args.first().cloned() else {
        eprintln!("usage: render TEMPLATE < data.json");
        std::process::exit(2);
    };
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("reading stdin: {e}");
        std::process::exit(2);
    }
    let data: serde_json::Value = if input.trim().is_empty() {
        serde_json::Value::Null
    } else {
        match serde_json::from_str(&input) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("invalid JSON on stdin: {e}");
                std::process::exit(2);
            }
        }
    };
    let result = Template::parse(&src).and_then(|t| t.missing_key(missing).execute(&data));
    match result {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(match e.kind() {
                TemplateErrorKind::Parse => 64,
                TemplateErrorKind::Exec => 1,
            });
        }
    }
}
