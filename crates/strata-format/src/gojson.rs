//! JSON encoding with Go `encoding/json` output rules.
//!
//! Differences from `serde_json`'s writer that matter for byte-identical
//! output with Docker: floats use Go's format (`5` not `5.0`, `1e+21`,
//! `1e-7`), `\b`/`\f` short escapes, optional HTML escaping of `<`, `>`, `&`
//! as `\u003c` `\u003e` `\u0026`, and U+2028/U+2029 always escaped.

use crate::gofmt::{format_float_e, format_float_f, num, Num};
use serde_json::Value;
use std::fmt::Write as _;

/// Options for [`to_go_json_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoJsonOptions {
    /// Escape `<`, `>`, `&` like `json.Marshal` (true) or not, like an
    /// `Encoder` with `SetEscapeHTML(false)` (false).
    pub escape_html: bool,
    /// Sort object keys (Go encodes `map`s with sorted keys; structs keep
    /// field order, which `serde_json`'s `preserve_order` maps mirror).
    pub sort_keys: bool,
}

/// Compact Go-style JSON of `v`, object keys in insertion order.
pub fn to_go_json(v: &Value, escape_html: bool) -> String {
    to_go_json_with(
        v,
        GoJsonOptions {
            escape_html,
            sort_keys: false,
        },
    )
}

/// Compact Go-style JSON of `v` with explicit options.
pub fn to_go_json_with(v: &Value, opts: GoJsonOptions) -> String {
    let mut out = String::new();
    write_value(&mut out, v, opts, None, 0);
    out
}

/// Go `json.MarshalIndent(v, prefix, indent)`-style output (no trailing newline).
pub fn to_go_json_indent(v: &Value, prefix: &str, indent: &str, opts: GoJsonOptions) -> String {
    let mut out = String::new();
    write_value(&mut out, v, opts, Some((prefix, indent)), 0);
    out
}

/// Go's float encoding in `encoding/json`.
pub(crate) fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = format_float_e(f, -1, false);
        // Go cleans up e-09 to e-9.
        let n = s.len();
        if n >= 4 && &s[n - 4..n - 2] == "e-" && &s[n - 2..n - 1] == "0" {
            s.remove(n - 2);
        }
        s
    } else {
        format_float_f(f, -1)
    }
}

/// Writes a JSON string literal with Go's escaping rules.
pub(crate) fn write_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline(out: &mut String, ind: Option<(&str, &str)>, depth: usize) {
    if let Some((prefix, indent)) = ind {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn write_value(
    out: &mut String,
    v: &Value,
    opts: GoJsonOptions,
    ind: Option<(&str, &str)>,
    depth: usize,
) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::I(i) => {
                let _ = write!(out, "{i}");
            }
            Num::U(u) => {
                let _ = write!(out, "{u}");
            }
            Num::F(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => write_string(out, s, opts.escape_html),
        Value::Array(items) => {
            out.push('[');
            if items.is_empty() {
                out.push(']');
                return;
            }
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, ind, depth + 1);
                write_value(out, it, opts, ind, depth + 1);
            }
            newline(out, ind, depth);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            if map.is_empty() {
                out.push('}');
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            if opts.sort_keys {
                keys.sort();
            }
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, ind, depth + 1);
                write_string(out, k, opts.escape_html);
                out.push(':');
                if ind.is_some() {
                    out.push(' ');
                }
                write_value(out, &map[k.as_str()], opts, ind, depth + 1);
            }
            newline(out, ind, depth);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_escaping() {
        let v = json!({"Repository": "<none>", "Q": "a&b"});
        assert_eq!(
            to_go_json(&v, true),
            r#"{"Repository":"\u003cnone\u003e","Q":"a\u0026b"}"#
        );
        assert_eq!(
            to_go_json(&v, false),
            r#"{"Repository":"<none>","Q":"a&b"}"#
        );
    }

    #[test]
    fn sorted_and_ordered_keys() {
        let v = json!({"b": 1, "a": [true, null]});
        assert_eq!(to_go_json(&v, false), r#"{"b":1,"a":[true,null]}"#);
        let sorted = to_go_json_with(
            &v,
            GoJsonOptions {
                escape_html: false,
                sort_keys: true,
            },
        );
        assert_eq!(sorted, r#"{"a":[true,null],"b":1}"#);
    }

    #[test]
    fn control_chars_and_separators() {
        let v = json!("a\u{1}\u{8}\u{c}\n\t\"\\\u{2028}é");
        assert_eq!(
            to_go_json(&v, false),
            "\"a\\u0001\\b\\f\\n\\t\\\"\\\\\\u2028é\""
        );
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(to_go_json(&json!(5.0), false), "5");
        assert_eq!(to_go_json(&json!(1.5), false), "1.5");
        assert_eq!(to_go_json(&json!(1e21), false), "1e+21");
        assert_eq!(to_go_json(&json!(1e20), false), "100000000000000000000");
        assert_eq!(to_go_json(&json!(0.0000001), false), "1e-7");
        assert_eq!(to_go_json(&json!(-0.000001), false), "-0.000001");
        assert_eq!(to_go_json(&json!(u64::MAX), false), "18446744073709551615");
    }

    #[test]
    fn indent() {
        let v = json!([{"Id": "x", "Tags": [], "M": {}}]);
        let opts = GoJsonOptions::default();
        assert_eq!(
            to_go_json_indent(&v, "", "    ", opts),
            "[\n    {\n        \"Id\": \"x\",\n        \"Tags\": [],\n        \"M\": {}\n    }\n]"
        );
    }
}
