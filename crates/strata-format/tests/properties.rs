//! Property tests for sizes, ellipsis, tabwriter alignment and templates.

use proptest::prelude::*;
use serde_json::Value;
use strata_format::human::{ellipsis, size};
use strata_format::tabwriter::docker_tabwrite;
use strata_format::Template;
use unicode_width::UnicodeWidthChar;

const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

fn significant_digits(number: &str) -> usize {
    let mantissa = number.split('e').next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        1
    } else {
        trimmed.len()
    }
}

/// Docker's Ellipsis width rule: wide/fullwidth = 2, everything else 1.
fn cells(s: &str) -> usize {
    s.chars()
        .map(|c| if c.width() == Some(2) { 2 } else { 1 })
        .sum()
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::char::range('a', 'z'),
            prop::char::range('0', '9'),
            Just(' '),
            prop::char::range('\u{4E00}', '\u{4E80}'),
            prop::char::range('\u{3041}', '\u{3090}'),
            Just('é'),
        ],
        0..40,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z<>&]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // serde_json's default float parser may be one ulp off.
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p == q || (p - q).abs() <= q.abs() * 1e-15,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        _ => a == b,
    }
}

proptest! {
    #[test]
    fn size_has_at_most_three_significant_digits_and_a_unit(bytes in any::<u64>()) {
        let s = size(bytes);
        let unit_start = s.find(|c: char| c.is_ascii_alphabetic() && c != 'e').unwrap();
        let (number, unit) = s.split_at(unit_start);
        prop_assert!(UNITS.contains(&unit), "bad unit in {s}");
        prop_assert!(significant_digits(number) <= 3, "too many digits in {s}");
        if bytes < 1000 {
            prop_assert_eq!(s, format!("{bytes}B"));
        }
    }

    #[test]
    fn ellipsis_never_exceeds_width(s in text_strategy(), max in 3usize..50) {
        let out = ellipsis(&s, max);
        prop_assert!(cells(&out) <= max, "{out:?} wider than {max}");
        if cells(&s) <= max {
            prop_assert_eq!(out, s);
        } else {
            prop_assert!(out.ends_with('…'));
        }
    }

    #[test]
    fn ascii_ellipsis_exact(s in "[ -~]{0,60}", max in 1usize..50) {
        let out = ellipsis(&s, max);
        prop_assert!(out.chars().count() <= max);
        if s.len() > max && max > 1 {
            prop_assert_eq!(out.chars().count(), max);
        }
    }

    #[test]
    fn tabwriter_aligns_uniform_tables(
        rows in prop::collection::vec(prop::collection::vec("[a-z0-9]{0,14}", 3), 1..8)
    ) {
        let input: String = rows.iter().map(|r| format!("{}\n", r.join("\t"))).collect();
        let out = docker_tabwrite(&input);
        let lines: Vec<&str> = out.lines().collect();
        prop_assert_eq!(lines.len(), rows.len());
        // Every column starts at the same offset on every line.
        for col in 1..3 {
            let start: usize = (0..col)
                .map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap().max(10))
                .sum();
            for (line, row) in lines.iter().zip(&rows) {
                prop_assert_eq!(&line[start..start + row[col].len()], row[col].as_str());
            }
        }
    }

    #[test]
    fn plain_text_passes_through(s in "[^{]{0,80}") {
        prop_assert_eq!(Template::parse(&s).unwrap().execute(&Value::Null).unwrap(), s);
    }

    #[test]
    fn json_function_round_trips(v in json_value()) {
        let data = serde_json::json!({"V": v.clone()});
        let out = Template::parse("{{json .V}}").unwrap().execute(&data).unwrap();
        let back: Value = serde_json::from_str(&out).unwrap();
        // Go prints 5.0 as 5: compare numbers by value.
        prop_assert!(same(&back, &v), "{out} does not match {v}");
    }
}
