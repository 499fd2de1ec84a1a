//! Debugging aid: renders JSON rows (one object per stdin line) with a
//! Docker `--format` value.
//!
//! `docker network ls --format json | cargo run -p strata-format --example table -- 'table {{.Name}}' Name=NAME`
//! Arguments after the format are `Field=HEADER` pairs for table headers.
//! A leading `--as=GOTYPE` renders rows as Docker formatter contexts.

use std::collections::HashMap;
use std::io::BufRead;
use strata_format::{render, render_as, OutputFormat};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut go_type = None;
    if let Some(t) = args.first().and_then(|a| a.strip_prefix("--as=")) {
        go_type = Some(t.to_string());
        args.remove(0);
    }
    let Some(format) = args.first() else {
        eprintln!("usage: table FORMAT [Field=HEADER ...] < rows.jsonl");
        std::process::exit(2);
    };
    let headers: HashMap<&str, &str> = args[1..].iter().filter_map(|a| a.split_once('=')).collect();
    let mut rows = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("reading stdin: {e}");
                std::process::exit(2);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(v) => rows.push(v),
            Err(e) => {
                eprintln!("invalid JSON row: {e}");
                std::process::exit(2);
            }
        }
    }
    let format = OutputFormat::parse(Some(format.as_str()), "table {{.ID}}\t{{.Name}}");
    let result = match &go_type {
        Some(t) => render_as(&format, &rows, &headers, t),
        None => render(&format, &rows, &headers),
    };
    match result {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
