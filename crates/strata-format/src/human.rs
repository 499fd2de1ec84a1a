//! Human-readable values exactly as Docker prints them: sizes
//! (`go-units.HumanSizeWithPrecision`), ages (`go-units.HumanDuration`),
//! `formatter.Ellipsis`, `stringid.TruncateID` and Go's `Time.String()`.

use crate::gofmt::format_float_g;
use crate::zone::Location;
use chrono::{DateTime, Datelike, FixedOffset, Offset, TimeZone, Timelike, Utc};
use std::sync::OnceLock;
use std::time::Duration;
use unicode_width::UnicodeWidthChar;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn size_and_unit(
    mut size: f64,
    base: f64,
    units: &'static [&'static str; 9],
) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// Docker's image size: `HumanSizeWithPrecision(bytes, 3)` — `%.3g` of the
/// value in base-1000 units, no space: `0B`, `5.02kB`, `72.9MB`, `124MB`,
/// and Go's quirk `1e+03kB` for 999 500 bytes.
pub fn size(bytes: u64) -> String {
    size_precision(bytes, 3)
}

/// `HumanSizeWithPrecision(bytes, precision)`; prune totals use 4
/// (`16.43MB`).
pub fn size_precision(bytes: u64, precision: usize) -> String {
    human_size_with_precision(bytes as f64, precision)
}

/// `go-units.HumanSizeWithPrecision` for any float size.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (v, unit) = size_and_unit(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{}", format_float_g(v, precision as i32, false), unit)
}

/// `go-units.BytesSize`: `%.4g` in base-1024 units (`1.5KiB`, `4MiB`).
pub fn bytes_size(size: f64) -> String {
    let (v, unit) = size_and_unit(size, 1024.0, &BINARY_UNITS);
    format!("{}{}", format_float_g(v, 4, false), unit)
}

/// `go-units.HumanDuration`: "Less than a second", "1 second", "N seconds",
/// "About a minute", "N minutes", "About an hour", "N hours" (< 48h),
/// "N days" (< 14d), "N weeks" (< 60d), "N months" (< 730d), "N years".
/// Hours are rounded to nearest; other units truncate.
pub fn duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go's d.Hours(): whole hours plus the fractional remainder.
    let nanos = d.as_nanos();
    const HOUR_NS: u128 = 3_600_000_000_000;
    let float_hours = (nanos / HOUR_NS) as f64 + (nanos % HOUR_NS) as f64 / HOUR_NS as f64;
    let hours = (float_hours + 0.5) as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (float_hours as u64) / 24 / 365)
}

/// Docker's "CREATED" column: `duration(now - created) + " ago"`
/// (a creation time in the future counts as "Less than a second ago").
pub fn since(created: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = (now - created).to_std().unwrap_or(Duration::ZERO);
    format!("{} ago", duration(d))
}

/// Display width of a character for `Ellipsis`: East Asian Wide and
/// Fullwidth characters take 2 cells, everything else 1.
fn char_width(c: char) -> usize {
    if c.width() == Some(2) {
        2
    } else {
        1
    }
}

/// Docker's `formatter.Ellipsis(s, maxDisplayWidth)`: `s` unchanged when it
/// fits, otherwise cut to `max_width - 1` cells and `…` appended.
///
/// Docker's edge cases are kept: width 0 gives "", width 1 gives the first
/// character, and if not even the first character fits in `max_width - 1`
/// cells (a wide character with `max_width` 2) the string is returned as is.
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    if max_width == 1 {
        return s.chars().next().map(String::from).unwrap_or_default();
    }
    let chars: Vec<char> = s.chars().collect();
    if s.is_ascii() {
        if s.len() <= max_width {
            return s.to_string();
        }
        let mut out: String = chars[..max_width - 1].iter().collect();
        out.push('…');
        return out;
    }
    let mut cum = Vec::with_capacity(chars.len());
    let mut total = 0usize;
    for &c in &chars {
        total += char_width(c);
        cum.push(total);
    }
    if total <= max_width {
        return s.to_string();
    }
    let limit = max_width - 1;
    for i in 0..cum.len() {
        if cum[i] <= limit && cum.get(i + 1).is_some_and(|&next| next > limit) {
            let mut out: String = chars[..=i].iter().collect();
            out.push('…');
            return out;
        }
    }
    s.to_string()
}

/// Docker's `stringid.TruncateID`: drop everything up to the first `:`,
/// keep 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = match id.find(':') {
        Some(i) => &id[i + 1..],
        None => id,
    };
    id.chars().take(12).collect()
}

/// Go's `Time.String()` layout, `2006-01-02 15:04:05.999999999 -0700 MST`:
/// fractional seconds only when non-zero (trailing zeros dropped), numeric
/// offset, then the zone abbreviation — or, when `zone_abbrev` is `None`,
/// the offset again (Go's rendering of an unnamed zone).
pub fn go_time_string<Tz: TimeZone>(t: &DateTime<Tz>, zone_abbrev: Option<&str>) -> String {
    let offset = t.offset().fix().local_minus_utc();
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let mins = offset.unsigned_abs() / 60;
    let numeric = format!("{sign}{:02}{:02}", mins / 60, mins % 60);
    out.push(' ');
    out.push_str(&numeric);
    out.push(' ');
    out.push_str(zone_abbrev.unwrap_or(&numeric));
    out
}

/// Go's `Time.String()` of a UTC time: `2026-11-28 21:58:36 +0000 UTC`.
pub fn go_time_string_utc(t: &DateTime<Utc>) -> String {
    go_time_string(t, Some("UTC"))
}

fn local_location() -> &'static Location {
    static LOCAL: OnceLock<Location> = OnceLock::new();
    LOCAL.get_or_init(Location::local)
}

/// Go's `Time.String()` of `t` in Go's local zone (`TZ` unset →
/// `/etc/localtime`; `TZ=""` or unloadable → UTC; otherwise the named
/// zoneinfo file), with the zone's abbreviation: what Docker prints in
/// `docker images`' CREATED AT column, e.g. `2021-03-04 03:24:42 +0100 CET`.
pub fn go_time_string_local(t: &DateTime<Utc>) -> String {
    go_time_string_in(t, local_location())
}

fn go_time_string_in(t: &DateTime<Utc>, loc: &Location) -> String {
    let zone = loc.lookup(t.timestamp());
    let Some(offset) = FixedOffset::east_opt(zone.offset) else {
        return go_time_string_utc(t);
    };
    let name = (!zone.name.is_empty()).then_some(zone.name.as_str());
    go_time_string(&t.with_timezone(&offset), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(12), "12B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1000), "1kB");
        assert_eq!(size(1500), "1.5kB");
        assert_eq!(size(5024), "5.02kB");
        assert_eq!(size(999_500), "1e+03kB");
        assert_eq!(size(999_499), "999kB");
        assert_eq!(size(72_900_000), "72.9MB");
        assert_eq!(size(124_000_000), "124MB");
        assert_eq!(size(4_261_234), "4.26MB");
        assert_eq!(size(1_000_000_000_000), "1TB");
        assert_eq!(size(u64::MAX), "18.4EB");
        assert_eq!(size_precision(16_434_567, 4), "16.43MB");
        assert_eq!(size_precision(0, 4), "0B");
        assert_eq!(human_size_with_precision(1e27, 3), "1e+03YB");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(4.0 * 1024.0 * 1024.0), "4MiB");
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_at_each_boundary() {
        assert_eq!(duration(Duration::from_millis(999)), "Less than a second");
        assert_eq!(duration(secs(1)), "1 second");
        assert_eq!(duration(Duration::from_millis(1999)), "1 second");
        assert_eq!(duration(secs(2)), "2 seconds");
        assert_eq!(duration(secs(59)), "59 seconds");
        assert_eq!(duration(secs(60)), "About a minute");
        assert_eq!(duration(secs(119)), "About a minute");
        assert_eq!(duration(secs(120)), "2 minutes");
        assert_eq!(duration(secs(59 * 60 + 59)), "59 minutes");
        assert_eq!(duration(secs(3600)), "About an hour");
        assert_eq!(duration(secs(3600 + 29 * 60)), "About an hour");
        assert_eq!(duration(secs(3600 + 30 * 60)), "2 hours");
        assert_eq!(duration(secs(47 * 3600)), "47 hours");
        assert_eq!(duration(secs(47 * 3600 + 30 * 60)), "2 days");
        assert_eq!(duration(secs(13 * 86400 + 23 * 3600)), "13 days");
        assert_eq!(duration(secs(14 * 86400)), "2 weeks");
        assert_eq!(duration(secs(59 * 86400)), "8 weeks");
        assert_eq!(duration(secs(60 * 86400)), "2 months");
        assert_eq!(duration(secs(729 * 86400)), "24 months");
        assert_eq!(duration(secs(730 * 86400)), "2 years");
        assert_eq!(duration(secs(3 * 365 * 86400 + 100)), "3 years");
    }

    #[test]
    fn since_adds_ago() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 21, 0, 0).unwrap();
        let created = Utc.with_ymd_and_hms(2026, 11, 14, 21, 0, 0).unwrap();
        assert_eq!(since(created, now), "2 weeks ago");
        assert_eq!(since(now, created), "Less than a second ago");
    }

    #[test]
    fn ellipsis_cases() {
        assert_eq!(ellipsis("short", 45), "short");
        assert_eq!(ellipsis("abcdef", 6), "abcdef");
        assert_eq!(ellipsis("abcdefg", 6), "abcde…");
        assert_eq!(ellipsis("abc", 0), "");
        assert_eq!(ellipsis("abc", 1), "a");
        assert_eq!(ellipsis("", 1), "");
        // CJK: each character is 2 cells.
        assert_eq!(ellipsis("你好世界", 8), "你好世界");
        assert_eq!(ellipsis("你好世界", 7), "你好世…");
        assert_eq!(ellipsis("你好世界", 6), "你好…");
        assert_eq!(ellipsis("a你好世界", 6), "a你好…");
        assert_eq!(ellipsis("ab你好", 4), "ab…");
        // Docker quirk: nothing fits in one cell, string returned unchanged.
        assert_eq!(ellipsis("你好", 2), "你好");
        let long = "/bin/sh -c #(nop) ADD file:1234567890abcdef1234567890 in / ";
        let cut = ellipsis(long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn ids() {
        assert_eq!(
            truncate_id("sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"),
            "a416a98b71e2"
        );
        assert_eq!(truncate_id("a416a98b71e2"), "a416a98b71e2");
        assert_eq!(truncate_id("abc"), "abc");
        assert_eq!(truncate_id("x:y:z"), "y:z");
    }

    #[test]
    fn local_time_uses_zone_rules() {
        let t = Utc.with_ymd_and_hms(2021, 3, 4, 2, 24, 42).unwrap();
        assert_eq!(
            go_time_string_in(&t, &Location::utc()),
            "2021-03-04 02:24:42 +0000 UTC"
        );
        let hour = |h| {
            Utc.with_ymd_and_hms(2000, 1, 1, h, 0, 0)
                .unwrap()
                .timestamp()
        };
        let blob = crate::zone::tzif(
            &[(3600, false, "CET"), (7200, true, "CEST")],
            &[(hour(0), 0)],
            "CET-1CEST,M3.5.0,M10.5.0/3",
        );
        let berlin = Location::from_tzif(&blob).unwrap();
        assert_eq!(
            go_time_string_in(&t, &berlin),
            "2021-03-04 03:24:42 +0100 CET"
        );
        let summer = Utc.with_ymd_and_hms(2021, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(
            go_time_string_in(&summer, &berlin),
            "2021-07-01 14:00:00 +0200 CEST"
        );
    }

    #[test]
    fn go_time_strings() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 21, 58, 36).unwrap();
        assert_eq!(go_time_string_utc(&t), "2026-11-28 21:58:36 +0000 UTC");
        let cet = FixedOffset::east_opt(3600).unwrap();
        let t2 = cet.with_ymd_and_hms(2021, 3, 4, 3, 24, 42).unwrap();
        assert_eq!(
            go_time_string(&t2, Some("CET")),
            "2021-03-04 03:24:42 +0100 CET"
        );
        assert_eq!(go_time_string(&t2, None), "2021-03-04 03:24:42 +0100 +0100");
        let ist = FixedOffset::west_opt(2 * 3600 + 30 * 60).unwrap();
        let t3 = ist.with_ymd_and_hms(2000, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(120_000_000);
        assert_eq!(
            go_time_string(&t3, None),
            "2000-01-02 03:04:05.12 -0230 -0230"
        );
    }
}
