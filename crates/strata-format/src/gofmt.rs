//! Go `fmt` emulation over JSON values: `%v` printing, `Sprint`/`Sprintln`,
//! `Sprintf` with the common verbs and flags, Go float formatting (`%g`, `%e`,
//! `%f`) and `strconv.Quote`.
//!
//! Values are `serde_json::Value`s viewed the way Go sees the result of
//! decoding JSON into `interface{}`: objects are `map[string]interface {}`
//! (printed with sorted keys), arrays are `[]interface {}`, integers are `int`,
//! other numbers are `float64`, and `null` is a nil interface.

use serde_json::{Number, Value};
use std::fmt::Write as _;

/// A JSON number classified the way Go would type it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// Fits in an `int`.
    I(i64),
    /// Unsigned integer larger than `i64::MAX`.
    U(u64),
    /// Anything with a fraction or exponent.
    F(f64),
}

/// Classifies a JSON number.
pub(crate) fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::I(i)
    } else if let Some(u) = n.as_u64() {
        Num::U(u)
    } else {
        Num::F(n.as_f64().unwrap_or(0.0))
    }
}

/// The Go type name of a value, as used in `%!verb(type=value)` and errors.
pub(crate) fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) => match num(n) {
            Num::I(_) => "int",
            Num::U(_) => "uint64",
            Num::F(_) => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

// ---------------------------------------------------------------------------
// Float formatting (strconv.FormatFloat equivalents)

/// Decimal digits of a non-negative finite float: `0.d1d2d3… × 10^dp`.
/// `d` has no trailing zeros; zero is represented by an empty `d`.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

fn parse_exp_repr(s: &str) -> Digits {
    // s looks like "1.2345e-7" or "5e0".
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

/// Shortest digits that round-trip.
fn shortest_digits(f: f64) -> Digits {
    if f == 0.0 {
        return Digits { d: vec![], dp: 0 };
    }
    parse_exp_repr(&format!("{:e}", f))
}

/// `n` significant digits, correctly rounded (ties to even), trailing zeros removed.
fn prec_digits(f: f64, n: usize) -> Digits {
    if f == 0.0 {
        return Digits { d: vec![], dp: 0 };
    }
    parse_exp_repr(&format!("{:.*e}", n.saturating_sub(1), f))
}

fn push_exponent(out: &mut String, exp: i32, e: char) {
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    let _ = write!(out, "{a}");
}

/// Go's fmtE: `prec` digits after the point.
fn fmt_e_digits(out: &mut String, digs: &Digits, prec: usize, e: char) {
    let first = digs.d.first().copied().unwrap_or(b'0');
    out.push(first as char);
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digs.d.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    let exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    push_exponent(out, exp, e);
}

/// Go's fmtF: `prec` digits after the point.
fn fmt_f_digits(out: &mut String, digs: &Digits, prec: usize) {
    if digs.dp > 0 {
        for i in 0..digs.dp as usize {
            out.push(digs.d.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            let j = digs.dp + i - 1;
            let c = if j >= 0 && (j as usize) < digs.d.len() {
                digs.d[j as usize]
            } else {
                b'0'
            };
            out.push(c as char);
        }
    }
}

fn special_float(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go `strconv.FormatFloat(f, 'g', prec, 64)`; `prec < 0` means shortest.
pub fn format_float_g(f: f64, prec: i32, upper: bool) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let a = f.abs();
    let shortest = prec < 0;
    let (digs, mut p) = if shortest {
        let d = shortest_digits(a);
        let n = d.d.len() as i32;
        (d, n)
    } else {
        let p = prec.max(1);
        (prec_digits(a, p as usize), p)
    };
    let nd = digs.d.len() as i32;
    let mut eprec = p;
    if eprec > nd && nd >= digs.dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = digs.dp - 1;
    let e = if upper { 'E' } else { 'e' };
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        fmt_e_digits(&mut out, &digs, (p - 1).max(0) as usize, e);
        return out;
    }
    if p > digs.dp {
        p = nd;
    }
    fmt_f_digits(&mut out, &digs, (p - digs.dp).max(0) as usize);
    out
}

/// Go `strconv.FormatFloat(f, 'e', prec, 64)`; `prec < 0` means shortest.
pub fn format_float_e(f: f64, prec: i32, upper: bool) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let a = f.abs();
    let e = if upper { 'E' } else { 'e' };
    if prec < 0 {
        let d = shortest_digits(a);
        let p = d.d.len().saturating_sub(1);
        fmt_e_digits(&mut out, &d, p, e);
    } else {
        let d = prec_digits(a, prec as usize + 1);
        fmt_e_digits(&mut out, &d, prec as usize, e);
    }
    out
}

/// Go `strconv.FormatFloat(f, 'f', prec, 64)`; `prec < 0` means shortest.
pub fn format_float_f(f: f64, prec: i32) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let a = f.abs();
    if prec < 0 {
        let d = shortest_digits(a);
        let p = (d.d.len() as i32 - d.dp).max(0) as usize;
        fmt_f_digits(&mut out, &d, p);
    } else {
        // Rust's fixed formatting is exact with ties to even, like Go.
        let _ = write!(out, "{:.*}", prec as usize, a);
    }
    out
}

/// Go `strconv.FormatFloat(f, 'x', -1, 64)`: `0x1.cp+01`.
pub fn format_float_hex(f: f64, upper: bool) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let bits = f.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp;
    if raw_exp == 0 && mant == 0 {
        out.push_str("0x0p+00");
    } else {
        if raw_exp == 0 {
            // Subnormal: shift until the implicit leading bit appears.
            exp = -1022;
            while mant & (1u64 << 52) == 0 {
                mant <<= 1;
                exp -= 1;
            }
            mant &= (1u64 << 52) - 1;
        } else {
            exp = raw_exp - 1023;
        }
        let mut digits = format!("{mant:013x}");
        while digits.ends_with('0') {
            digits.pop();
        }
        out.push_str("0x1");
        if !digits.is_empty() {
            out.push('.');
            out.push_str(&digits);
        }
        out.push('p');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        let _ = write!(out, "{a}");
    }
    if upper {
        out = out.to_uppercase();
    }
    out
}

// ---------------------------------------------------------------------------
// Quoting

fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
        || ('\u{E000}'..='\u{F8FF}').contains(&c))
}

fn push_escaped_rune(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if (c.is_ascii() || !ascii_only) && is_go_printable(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) <= 0xFFFF => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go `strconv.Quote` (or `QuoteToASCII` when `ascii_only`).
pub fn go_quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped_rune(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

fn go_quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped_rune(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

// ---------------------------------------------------------------------------
// %v printing

/// Go `fmt.Sprint(v)` for one value: strings raw, maps `map[k:v]` with sorted
/// keys, arrays `[a b]`, nil `<nil>`.
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    let spec = Spec::plain('v');
    fmt_value(&mut out, v, &spec, true);
    out
}

/// Go `fmt.Sprint(args...)`: spaces between operands when neither is a string.
pub fn sprint(args: &[&Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&sprint_value(a));
        prev_string = is_string;
    }
    out
}

/// Go `fmt.Sprintln(args...)`: always spaces, trailing newline.
pub fn sprintln(args: &[&Value]) -> String {
    let parts: Vec<String> = args.iter().map(|a| sprint_value(a)).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    s
}

/// A parsed `%` directive.
#[derive(Debug, Clone)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
    verb: char,
}

impl Spec {
    fn plain(verb: char) -> Spec {
        Spec {
            minus: false,
            plus: false,
            sharp: false,
            space: false,
            zero: false,
            width: None,
            prec: None,
            verb,
        }
    }
}

fn pad_with(out: &mut String, s: &str, spec: &Spec, allow_zero: bool) {
    let w = s.chars().count();
    let width = spec.width.unwrap_or(0);
    if width <= w {
        out.push_str(s);
        return;
    }
    let n = width - w;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', n));
    } else {
        let c = if spec.zero && allow_zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, n));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match v {
        Value::Null => out.push_str("<nil>"),
        _ => {
            out.push_str(go_type_name(v));
            out.push('=');
            fmt_value(out, v, &Spec::plain('v'), false);
        }
    }
    out.push(')');
}

fn fmt_integer(out: &mut String, neg: bool, mag: u64, spec: &Spec) {
    let (base, upper) = match spec.verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        _ => (10, false),
    };
    if spec.prec == Some(0) && mag == 0 {
        let blank = Spec {
            zero: false,
            ..spec.clone()
        };
        pad_with(out, "", &blank, false);
        return;
    }
    let mut digits = match base {
        2 => format!("{mag:b}"),
        8 => format!("{mag:o}"),
        16 if upper => format!("{mag:X}"),
        16 => format!("{mag:x}"),
        _ => format!("{mag}"),
    };
    let mut prec = spec.prec.unwrap_or(0);
    if spec.prec.is_none() && spec.zero && !spec.minus {
        if let Some(w) = spec.width {
            prec = w;
            if neg || spec.plus || spec.space {
                prec = prec.saturating_sub(1);
            }
        }
    }
    if digits.len() < prec {
        digits = "0".repeat(prec - digits.len()) + &digits;
    }
    let mut prefix = String::new();
    if spec.sharp {
        match spec.verb {
            'b' => prefix.push_str("0b"),
            'o' if !digits.starts_with('0') => prefix.push('0'),
            'x' => prefix.push_str("0x"),
            'X' => prefix.push_str("0X"),
            _ => {}
        }
    }
    if spec.verb == 'O' {
        prefix.push_str("0o");
    }
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    pad_with(out, &s, spec, false);
}

fn fmt_float(out: &mut String, f: f64, spec: &Spec) {
    let prec = spec.prec.map(|p| p as i32);
    let mut num = match spec.verb {
        'v' | 'g' => format_float_g(f, prec.unwrap_or(-1), false),
        'G' => format_float_g(f, prec.unwrap_or(-1), true),
        'e' => format_float_e(f, prec.unwrap_or(6), false),
        'E' => format_float_e(f, prec.unwrap_or(6), true),
        'f' | 'F' => format_float_f(f, prec.unwrap_or(6)),
        _ => unreachable_verb(),
    };
    if !num.starts_with('-') && !num.starts_with('+') {
        num.insert(0, '+');
    }
    if spec.space && num.starts_with('+') && !spec.plus {
        num.replace_range(0..1, " ");
    }
    if f.is_nan() || f.is_infinite() {
        // Go never zero-pads infinities or NaN; +Inf keeps its sign.
        let no_zero = Spec {
            zero: false,
            ..spec.clone()
        };
        let s = if f.is_nan() { "NaN" } else { num.as_str() };
        pad_with(out, s, &no_zero, false);
        return;
    }
    if spec.plus || !num.starts_with('+') {
        let width = spec.width.unwrap_or(0);
        if spec.zero && !spec.minus && width > num.chars().count() {
            out.push_str(&num[..1]);
            out.extend(std::iter::repeat_n('0', width - num.chars().count()));
            out.push_str(&num[1..]);
            return;
        }
        pad_with(out, &num, spec, true);
        return;
    }
    pad_with(out, &num[1..], spec, true);
}

fn unreachable_verb() -> String {
    // Callers only pass float verbs; keep a harmless fallback.
    String::new()
}

fn fmt_string(out: &mut String, s: &str, spec: &Spec) {
    match spec.verb {
        'v' | 's' => {
            let t: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad_with(out, &t, spec, true);
        }
        'q' => {
            let t: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            let q = if spec.sharp
                && !t.contains('`')
                && t.chars().all(|c| c == '\t' || is_go_printable(c))
            {
                format!("`{t}`")
            } else {
                go_quote(&t, spec.plus)
            };
            pad_with(out, &q, spec, true);
        }
        'x' | 'X' => {
            let bytes: Vec<u8> = match spec.prec {
                Some(p) => s.bytes().take(p).collect(),
                None => s.bytes().collect(),
            };
            let mut h = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if spec.verb == 'x' { "0x" } else { "0X" });
                }
                if spec.verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            pad_with(out, &h, spec, true);
        }
        _ => bad_verb(out, &Value::String(s.to_string()), spec.verb),
    }
}

/// Formats one value for one directive (Go's printArg/printValue).
/// `top` is true for an operand itself (nil prints `%!v(<nil>)`-style for
/// non-`v` verbs), false for elements inside containers (nil prints `<nil>`).
fn fmt_value(out: &mut String, v: &Value, spec: &Spec, top: bool) {
    if spec.verb == 'T' {
        pad_with(out, go_type_name(v), spec, false);
        return;
    }
    match v {
        Value::Null => {
            if top && spec.verb != 'v' {
                bad_verb(out, v, spec.verb);
            } else {
                pad_with(out, "<nil>", spec, false);
            }
        }
        Value::Bool(b) => match spec.verb {
            'v' | 't' => pad_with(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, v, spec.verb),
        },
        Value::Number(n) => match num(n) {
            Num::I(i) => fmt_int_verb(out, i < 0, i.unsigned_abs(), v, spec),
            Num::U(u) => fmt_int_verb(out, false, u, v, spec),
            Num::F(f) => match spec.verb {
                'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F' => fmt_float(out, f, spec),
                'x' | 'X' if spec.prec.is_none() => {
                    let mut h = format_float_hex(f, spec.verb == 'X');
                    if spec.plus && !h.starts_with('-') {
                        h.insert(0, '+');
                    }
                    pad_with(out, &h, spec, false);
                }
                _ => bad_verb(out, v, spec.verb),
            },
        },
        Value::String(s) => fmt_string(out, s, spec),
        Value::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_value(out, it, spec, false);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, spec);
                out.push(':');
                fmt_value(out, &map[k.as_str()], spec, false);
            }
            out.push(']');
        }
    }
}

fn fmt_int_verb(out: &mut String, neg: bool, mag: u64, v: &Value, spec: &Spec) {
    match spec.verb {
        'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' => fmt_integer(out, neg, mag, spec),
        'c' | 'q' | 'U' => {
            let c = if neg {
                None
            } else {
                u32::try_from(mag).ok().and_then(char::from_u32)
            };
            let c = c.unwrap_or('\u{FFFD}');
            let s = match spec.verb {
                'c' => c.to_string(),
                'q' => go_quote_rune(c, spec.plus),
                _ => {
                    let mut s = format!("U+{:04X}", c as u32);
                    if spec.sharp && is_go_printable(c) {
                        let _ = write!(s, " '{c}'");
                    }
                    s
                }
            };
            pad_with(out, &s, spec, false);
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => bad_verb(out, v, spec.verb),
        _ => bad_verb(out, v, spec.verb),
    }
}

/// Go `fmt.Sprintf(format, args...)` over JSON values (`Value::Null` = nil).
pub fn sprintf(format: &str, args: &[&Value]) -> String {
    let mut out = String::new();
    let mut argi = 0usize;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec::plain('v');
        // flags
        while i < chars.len() {
            match chars[i] {
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        // width
        if i < chars.len() && chars[i] == '*' {
            i += 1;
            match args.get(argi) {
                Some(Value::Number(n)) if matches!(num(n), Num::I(_)) => {
                    let Num::I(w) = num(n) else { unreachable!() };
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            argi += 1;
        } else {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i > start {
                let s: String = chars[start..i].iter().collect();
                spec.width = s.parse().ok();
            }
        }
        // precision
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                i += 1;
                match args.get(argi) {
                    Some(Value::Number(n)) if matches!(num(n), Num::I(p) if p >= 0) => {
                        let Num::I(p) = num(n) else { unreachable!() };
                        spec.prec = Some(p as usize);
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                argi += 1;
            } else {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                spec.prec = Some(s.parse().unwrap_or(0));
            }
        }
        if i >= chars.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        spec.verb = chars[i];
        i += 1;
        if spec.verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str("%!");
            out.push(spec.verb);
            out.push_str("(MISSING)");
            continue;
        };
        argi += 1;
        fmt_value(&mut out, arg, &spec, true);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argi..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if matches!(a, Value::Null) {
                out.push_str("<nil>");
            } else {
                out.push_str(go_type_name(a));
                out.push('=');
                out.push_str(&sprint_value(a));
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_g_shortest() {
        assert_eq!(format_float_g(5.0, -1, false), "5");
        assert_eq!(format_float_g(1.5, -1, false), "1.5");
        assert_eq!(format_float_g(1e6, -1, false), "1e+06");
        assert_eq!(format_float_g(123456.0, -1, false), "123456");
        assert_eq!(format_float_g(1234567.0, -1, false), "1.234567e+06");
        assert_eq!(format_float_g(0.0001, -1, false), "0.0001");
        assert_eq!(format_float_g(0.00001, -1, false), "1e-05");
        assert_eq!(format_float_g(0.0, -1, false), "0");
        assert_eq!(format_float_g(-2.5, -1, false), "-2.5");
    }

    #[test]
    fn float_g_precision() {
        assert_eq!(format_float_g(999.5, 3, false), "1e+03");
        assert_eq!(format_float_g(5.024, 3, false), "5.02");
        assert_eq!(format_float_g(124.0, 3, false), "124");
        assert_eq!(format_float_g(12.0, 3, false), "12");
        assert_eq!(format_float_g(100.0, 3, false), "100");
        assert_eq!(format_float_g(5.0, 3, false), "5");
        assert_eq!(format_float_g(0.0, 3, false), "0");
        assert_eq!(format_float_g(16.4321, 4, false), "16.43");
        assert_eq!(format_float_g(1.0005, 4, false), "1");
        assert_eq!(format_float_g(0.5, 3, false), "0.5");
    }

    #[test]
    fn float_e_f() {
        assert_eq!(format_float_e(1234.5678, 6, false), "1.234568e+03");
        assert_eq!(format_float_e(0.0, 2, false), "0.00e+00");
        assert_eq!(format_float_e(1.5e-7, -1, false), "1.5e-07");
        assert_eq!(format_float_f(1.23456, 2), "1.23");
        assert_eq!(format_float_f(2.5, 0), "2");
        assert_eq!(format_float_f(1e21, -1), "1000000000000000000000");
        assert_eq!(format_float_f(0.1, -1), "0.1");
    }

    #[test]
    fn sprint_values() {
        assert_eq!(sprint_value(&json!("abc")), "abc");
        assert_eq!(sprint_value(&json!(42)), "42");
        assert_eq!(sprint_value(&json!(4.0)), "4");
        assert_eq!(sprint_value(&json!(true)), "true");
        assert_eq!(sprint_value(&json!(null)), "<nil>");
        assert_eq!(sprint_value(&json!(["a", 1, null])), "[a 1 <nil>]");
        assert_eq!(
            sprint_value(&json!({"b": 2, "a": {"z": [1, 2]}})),
            "map[a:map[z:[1 2]] b:2]"
        );
        assert_eq!(
            sprint(&[&json!(1), &json!(2), &json!("x"), &json!(3)]),
            "1 2x3"
        );
        assert_eq!(sprintln(&[&json!(1), &json!("x")]), "1 x\n");
    }

    #[test]
    fn sprintf_verbs() {
        let f = |fmt: &str, a: &[Value]| sprintf(fmt, &a.iter().collect::<Vec<_>>());
        assert_eq!(f("%s-%d", &[json!("a"), json!(5)]), "a-5");
        assert_eq!(f("%-10s|", &[json!("abc")]), "abc       |");
        assert_eq!(f("%10s|", &[json!("abc")]), "       abc|");
        assert_eq!(f("%.2s", &[json!("abcdef")]), "ab");
        assert_eq!(f("%q", &[json!("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(f("%t %v", &[json!(true), json!(false)]), "true false");
        assert_eq!(f("%f", &[json!(3.5)]), "3.500000");
        assert_eq!(f("%.1f", &[json!(0.25)]), "0.2");
        assert_eq!(f("%5.1f|", &[json!(1.23456)]), "  1.2|");
        assert_eq!(f("%05d", &[json!(-42)]), "-0042");
        assert_eq!(f("%+d", &[json!(7)]), "+7");
        assert_eq!(
            f("%x %X %o %b", &[json!(255), json!(255), json!(8), json!(5)]),
            "ff FF 10 101"
        );
        assert_eq!(f("%#x", &[json!(255)]), "0xff");
        assert_eq!(f("%x", &[json!("hi")]), "6869");
        assert_eq!(f("%c%c", &[json!(72), json!(105)]), "Hi");
        assert_eq!(f("%U", &[json!(65)]), "U+0041");
        assert_eq!(f("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(f("%s", &[json!(5)]), "%!s(int=5)");
        assert_eq!(f("%d", &[json!(1.5)]), "%!d(float64=1.5)");
        assert_eq!(f("%s", &[json!(null)]), "%!s(<nil>)");
        assert_eq!(f("%v", &[json!(null)]), "<nil>");
        assert_eq!(f("%d %d", &[json!(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[json!(1), json!("a")]), "1%!(EXTRA string=a)");
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("%s", &[json!(["a", "b"])]), "[a b]");
        assert_eq!(f("%q", &[json!(["a", "b"])]), "[\"a\" \"b\"]");
        assert_eq!(f("%T", &[json!("a")]), "string");
        assert_eq!(f("%*d|", &[json!(4), json!(7)]), "   7|");
        assert_eq!(f("%v", &[json!({"k": "v"})]), "map[k:v]");
        assert_eq!(f("%6.2f%%", &[json!(12.5)]), " 12.50%");
        assert_eq!(f("%e", &[json!(123456.0)]), "1.234560e+05");
        assert_eq!(f("%g", &[json!(0.000012)]), "1.2e-05");
        assert_eq!(f("abc%", &[]), "abc%!(NOVERB)");
        assert_eq!(f("%z", &[json!(1)]), "%!z(int=1)");
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("héllo\t\u{1}", false), "\"héllo\\t\\x01\"");
        assert_eq!(go_quote("héllo", true), "\"h\\u00e9llo\"");
        assert_eq!(go_quote("\u{1F600}", true), "\"\\U0001f600\"");
    }
}
