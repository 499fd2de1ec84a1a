//! Maven versions, ordered as Maven's `ComparableVersion` orders them: items split on
//! `.`, `-` and digit/letter transitions (a new sub-list at `-` and at transitions),
//! trailing "null" items dropped, qualifiers `alpha < beta < milestone < rc = cr <
//! snapshot < (release) = ga = final = release < sp < others`, numbers above qualifiers.

use std::cmp::Ordering;

use super::cmp_digits;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Int(String),
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn comparable(q: &str) -> String {
    match QUALIFIERS.iter().position(|x| *x == q) {
        Some(i) => i.to_string(),
        None => format!("7-{q}"),
    }
}

fn string_item(s: &str, followed_by_digit: bool) -> Item {
    let s = if followed_by_digit && s.len() == 1 {
        match s {
            "a" => "alpha",
            "b" => "beta",
            "m" => "milestone",
            other => other,
        }
    } else {
        s
    };
    let s = match s {
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        other => other,
    };
    Item::Str(s.to_string())
}

fn int_item(s: &str) -> Item {
    let t = s.trim_start_matches('0');
    Item::Int(if t.is_empty() { "0".into() } else { t.into() })
}

fn is_null(i: &Item) -> bool {
    match i {
        Item::Int(v) => v == "0",
        Item::Str(s) => s.is_empty(),
        Item::List(l) => l.is_empty(),
    }
}

fn normalize(list: &mut Vec<Item>, root: bool) {
    for item in list.iter_mut() {
        if let Item::List(l) = item {
            normalize(l, false);
        }
    }
    // Remove null items from the end, looking past (non-null) sub-lists.
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
    // A release qualifier in front of a sub-list (`1-ga-1`) leaves a list holding only
    // that sub-list: it orders like the sub-list itself (`1-1`).
    if !root && list.len() == 1 {
        if let Item::List(inner) = &list[0] {
            let inner = inner.clone();
            *list = inner;
        }
    }
}

/// Parses into nested item lists.
fn parse(v: &str) -> Vec<Item> {
    let v = v.trim().to_lowercase();
    let chars: Vec<char> = v.chars().collect();
    // A path of indices into nested lists; the innermost is where items go.
    let mut root: Vec<Item> = Vec::new();
    let mut depth_path: Vec<usize> = Vec::new();
    fn current<'a>(root: &'a mut Vec<Item>, path: &[usize]) -> &'a mut Vec<Item> {
        let mut cur = root;
        for &i in path {
            cur = match &mut cur[i] {
                Item::List(l) => l,
                _ => unreachable!("path points at lists"),
            };
        }
        cur
    }
    let push_list = |root: &mut Vec<Item>, path: &mut Vec<usize>| {
        let cur = current(root, path);
        cur.push(Item::List(Vec::new()));
        let idx = cur.len() - 1;
        path.push(idx);
    };
    let mut is_digit = false;
    let mut start = 0;
    for i in 0..chars.len() {
        let c = chars[i];
        let piece: String = chars[start..i].iter().collect();
        if c == '.' || c == '-' {
            let cur = current(&mut root, &depth_path);
            if i == start {
                cur.push(Item::Int("0".into()));
            } else if is_digit {
                cur.push(int_item(&piece));
            } else {
                cur.push(string_item(&piece, false));
            }
            start = i + 1;
            if c == '-' {
                push_list(&mut root, &mut depth_path);
            }
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                // `1.0.0.X1` < `1.0.0-X2`: a qualifier after `.` starts a sub-list.
                if !current(&mut root, &depth_path).is_empty() {
                    push_list(&mut root, &mut depth_path);
                }
                current(&mut root, &depth_path).push(string_item(&piece, true));
                start = i;
                push_list(&mut root, &mut depth_path);
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                current(&mut root, &depth_path).push(int_item(&piece));
                start = i;
                push_list(&mut root, &mut depth_path);
            }
            is_digit = false;
        }
    }
    if chars.len() > start {
        let piece: String = chars[start..].iter().collect();
        if !is_digit && !current(&mut root, &depth_path).is_empty() {
            push_list(&mut root, &mut depth_path);
        }
        let cur = current(&mut root, &depth_path);
        if is_digit {
            cur.push(int_item(&piece));
        } else {
            cur.push(string_item(&piece, false));
        }
    }
    normalize(&mut root, true);
    root
}

/// Compares an item with a missing one.
fn cmp_null(a: &Item) -> Ordering {
    match a {
        Item::Int(v) => {
            if v == "0" {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        Item::Str(s) => comparable(s).cmp(&comparable("")),
        Item::List(l) => match l.first() {
            None => Ordering::Equal,
            Some(f) => cmp_null(f),
        },
    }
}

fn cmp_item(a: &Item, b: &Item) -> Ordering {
    match (a, b) {
        (Item::Int(x), Item::Int(y)) => cmp_digits(x, y),
        (Item::Int(_), _) => Ordering::Greater,
        (Item::Str(_), Item::Int(_)) => Ordering::Less,
        (Item::Str(x), Item::Str(y)) => comparable(x).cmp(&comparable(y)),
        (Item::Str(_), Item::List(_)) => Ordering::Less,
        (Item::List(_), Item::Int(_)) => Ordering::Less,
        (Item::List(_), Item::Str(_)) => Ordering::Greater,
        (Item::List(x), Item::List(y)) => cmp_lists(x, y),
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let o = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => cmp_item(x, y),
            (Some(x), None) => cmp_null(x),
            (None, Some(y)) => cmp_null(y).reverse(),
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Compares two Maven versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    cmp_lists(&parse(a), &parse(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers() {
        assert_eq!(compare("1.0-alpha-1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0-sp"), Ordering::Less);
        assert_eq!(compare("1-0", "1"), Ordering::Equal);
        assert_eq!(compare("2.17.1", "2.17.0"), Ordering::Greater);
    }
}
