//! Go's local time zone: which zone `time.Local` is (`TZ`, `/etc/localtime`,
//! the zoneinfo directories), TZif parsing and POSIX `TZ` rule evaluation,
//! so that times print with the same offset and abbreviation ("CET",
//! "CEST") as Docker's `Time.String()`.

use chrono::{Datelike, NaiveDate};
use std::path::Path;

/// A zone in effect: abbreviation and offset east of UTC in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneInfo {
    pub name: String,
    pub offset: i32,
}

#[derive(Debug, Clone)]
struct TType {
    offset: i32,
    is_dst: bool,
    name: String,
}

/// A loaded location (Go's `time.Location`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Location {
    types: Vec<TType>,
    /// (transition time, type index), ascending.
    tx: Vec<(i64, usize)>,
    extend: String,
}

const ZONE_DIRS: [&str; 4] = [
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
    "/etc/zoneinfo/",
];

impl Location {
    /// UTC (Go's fallback when no local zone can be loaded).
    pub(crate) fn utc() -> Location {
        Location::default()
    }

    /// Go's `time.Local` initialisation.
    pub(crate) fn local() -> Location {
        match std::env::var_os("TZ") {
            None => Location::from_file(Path::new("/etc/localtime")).unwrap_or_else(Location::utc),
            Some(tz) => {
                let tz = tz.to_string_lossy().into_owned();
                let tz = tz.strip_prefix(':').unwrap_or(&tz).to_string();
                if tz.is_empty() || tz == "UTC" {
                    return Location::utc();
                }
                if tz.starts_with('/') {
                    return Location::from_file(Path::new(&tz)).unwrap_or_else(Location::utc);
                }
                if tz.split('/').any(|part| part == "..") {
                    return Location::utc();
                }
                let mut dirs: Vec<String> = Vec::new();
                if let Some(z) = std::env::var_os("ZONEINFO").filter(|z| !z.is_empty()) {
                    dirs.push(format!("{}/", z.to_string_lossy()));
                }
                dirs.extend(ZONE_DIRS.iter().map(|d| d.to_string()));
                dirs.iter()
                    .find_map(|d| Location::from_file(&Path::new(d).join(&tz)))
                    .unwrap_or_else(Location::utc)
            }
        }
    }

    fn from_file(path: &Path) -> Option<Location> {
        let data = std::fs::read(path).ok()?;
        Location::from_tzif(&data)
    }

    /// Parses TZif data (versions 1–4), preferring the 64-bit section.
    pub(crate) fn from_tzif(data: &[u8]) -> Option<Location> {
        let header = |d: &[u8]| -> Option<(u8, [usize; 6])> {
            if d.len() < 44 || &d[..4] != b"TZif" {
                return None;
            }
            let mut counts = [0usize; 6];
            for (i, c) in counts.iter_mut().enumerate() {
                let b = &d[20 + 4 * i..24 + 4 * i];
                *c = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            }
            Some((d[4], counts))
        };
        let (version, c) = header(data)?;
        // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        let v1_len = c[3] * 4 + c[3] + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
        if version >= b'2' {
            let rest = data.get(44 + v1_len..)?;
            let (_, c2) = header(rest)?;
            let body = &rest[44..];
            let v2_len = c2[3] * 8 + c2[3] + c2[4] * 6 + c2[5] + c2[2] * 12 + c2[1] + c2[0];
            let mut loc = parse_body(body, c2, 8)?;
            let footer = body.get(v2_len..).unwrap_or_default();
            if let Some(s) = footer.strip_prefix(b"\n") {
                if let Some(end) = s.iter().position(|&b| b == b'\n') {
                    loc.extend = String::from_utf8_lossy(&s[..end]).into_owned();
                }
            }
            return Some(loc);
        }
        parse_body(&data[44..], c, 4)
    }

    /// Go's `Location.lookup`: the zone in effect at Unix time `sec`.
    pub(crate) fn lookup(&self, sec: i64) -> ZoneInfo {
        if self.types.is_empty() {
            return ZoneInfo {
                name: "UTC".into(),
                offset: 0,
            };
        }
        if self.tx.is_empty() || sec < self.tx[0].0 {
            let t = &self.types[self.first_zone()];
            return ZoneInfo {
                name: t.name.clone(),
                offset: t.offset,
            };
        }
        let idx = self.tx.partition_point(|&(when, _)| when <= sec) - 1;
        let t = &self.types[self.tx[idx].1];
        if idx == self.tx.len() - 1 && !self.extend.is_empty() {
            if let Some(z) = tzset(&self.extend, sec) {
                return z;
            }
        }
        ZoneInfo {
            name: t.name.clone(),
            offset: t.offset,
        }
    }

    /// Go's `lookupFirstZone`: the zone for times before the first transition.
    fn first_zone(&self) -> usize {
        if !self.tx.iter().any(|&(_, i)| i == 0) {
            return 0;
        }
        if let Some(&(_, first)) = self.tx.first() {
            if self.types[first].is_dst {
                if let Some(zi) = (0..first).rev().find(|&zi| !self.types[zi].is_dst) {
                    return zi;
                }
            }
        }
        self.types.iter().position(|t| !t.is_dst).unwrap_or(0)
    }
}

fn parse_body(body: &[u8], c: [usize; 6], time_size: usize) -> Option<Location> {
    let (timecnt, typecnt, charcnt) = (c[3], c[4], c[5]);
    let mut p = 0usize;
    let mut times = Vec::with_capacity(timecnt);
    for _ in 0..timecnt {
        let b = body.get(p..p + time_size)?;
        let t = if time_size == 8 {
            i64::from_be_bytes(b.try_into().ok()?)
        } else {
            i32::from_be_bytes(b.try_into().ok()?) as i64
        };
        times.push(t);
        p += time_size;
    }
    let idx = body.get(p..p + timecnt)?.to_vec();
    p += timecnt;
    let raw_types = body.get(p..p + typecnt * 6)?.to_vec();
    p += typecnt * 6;
    let chars = body.get(p..p + charcnt)?;
    let mut types = Vec::with_capacity(typecnt);
    for t in raw_types.chunks(6) {
        let offset = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
        let start = t[5] as usize;
        let name_bytes = chars.get(start..).unwrap_or_default();
        let end = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_bytes.len());
        types.push(TType {
            offset,
            is_dst: t[4] != 0,
            name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
        });
    }
    if types.is_empty() {
        return None;
    }
    let mut tx = Vec::with_capacity(timecnt);
    for (t, i) in times.into_iter().zip(idx) {
        if (i as usize) >= types.len() {
            return None;
        }
        tx.push((t, i as usize));
    }
    Some(Location {
        types,
        tx,
        extend: String::new(),
    })
}

// ---------------------------------------------------------------------------
// POSIX TZ strings (the TZif footer), as Go's `tzset`.

fn tzset_name(s: &str) -> Option<(String, &str)> {
    if let Some(rest) = s.strip_prefix('<') {
        let end = rest.find('>')?;
        return Some((rest[..end].to_string(), &rest[end + 1..]));
    }
    let end = s
        .find(|c: char| c.is_ascii_digit() || matches!(c, ',' | '-' | '+'))
        .unwrap_or(s.len());
    if end < 3 {
        return None;
    }
    Some((s[..end].to_string(), &s[end..]))
}

/// `[+-]hh[:mm[:ss]]` in seconds.
fn tzset_offset(s: &str) -> Option<(i32, &str)> {
    let (neg, mut s) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let num = |s: &str| -> Option<(i32, usize)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        Some((s[..n].parse().ok()?, n))
    };
    let (hours, n) = num(s)?;
    if hours > 24 * 7 {
        return None;
    }
    s = &s[n..];
    let mut off = hours * 3600;
    for mult in [60, 1] {
        let Some(rest) = s.strip_prefix(':') else {
            break;
        };
        let (v, n) = num(rest)?;
        if v >= 60 {
            return None;
        }
        off += v * mult;
        s = &rest[n..];
    }
    Some((if neg { -off } else { off }, s))
}

#[derive(Debug, Clone, Copy)]
enum RuleKind {
    Julian,
    Doy,
    MonthWeekDay,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    kind: RuleKind,
    day: i32,
    week: i32,
    mon: i32,
    time: i32,
}

fn tzset_rule(s: &str) -> Option<(Rule, &str)> {
    let digits = |s: &str| -> Option<(i32, usize)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        Some((s[..n].parse().ok()?, n))
    };
    let (mut r, mut s) = if let Some(rest) = s.strip_prefix('J') {
        let (day, n) = digits(rest)?;
        if !(1..=365).contains(&day) {
            return None;
        }
        (
            Rule {
                kind: RuleKind::Julian,
                day,
                week: 0,
                mon: 0,
                time: 0,
            },
            &rest[n..],
        )
    } else if let Some(rest) = s.strip_prefix('M') {
        let (mon, n) = digits(rest)?;
        let rest = rest[n..].strip_prefix('.')?;
        let (week, n) = digits(rest)?;
        let rest = rest[n..].strip_prefix('.')?;
        let (day, n) = digits(rest)?;
        if !(1..=12).contains(&mon) || !(1..=5).contains(&week) || !(0..=6).contains(&day) {
            return None;
        }
        (
            Rule {
                kind: RuleKind::MonthWeekDay,
                day,
                week,
                mon,
                time: 0,
            },
            &rest[n..],
        )
    } else {
        let (day, n) = digits(s)?;
        if !(0..=365).contains(&day) {
            return None;
        }
        (
            Rule {
                kind: RuleKind::Doy,
                day,
                week: 0,
                mon: 0,
                time: 0,
            },
            &s[n..],
        )
    };
    r.time = 2 * 3600;
    if let Some(rest) = s.strip_prefix('/') {
        let (t, rest) = tzset_offset(rest)?;
        r.time = t;
        s = rest;
    }
    Some((r, s))
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(mon: i32, year: i32) -> i32 {
    match mon {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the start of `year` (UTC) at which `r` fires, for a zone
/// currently at offset `off`.
fn rule_time(year: i32, r: Rule, off: i32) -> i64 {
    let day: i32 = match r.kind {
        RuleKind::Julian => {
            let mut d = r.day - 1;
            if is_leap(year) && r.day >= 60 {
                d += 1;
            }
            d
        }
        RuleKind::Doy => r.day,
        RuleKind::MonthWeekDay => {
            let first = NaiveDate::from_ymd_opt(year, r.mon as u32, 1)
                .map(|d| d.weekday().num_days_from_sunday() as i32)
                .unwrap_or(0);
            let mut d = r.day - first;
            if d < 0 {
                d += 7;
            }
            for _ in 1..r.week {
                if d + 7 >= days_in_month(r.mon, year) {
                    break;
                }
                d += 7;
            }
            let before: i32 = (1..r.mon).map(|m| days_in_month(m, year)).sum();
            d + before
        }
    };
    day as i64 * 86400 + r.time as i64 - off as i64
}

/// Go's `tzset`: the zone a POSIX TZ string gives at Unix time `sec`.
pub(crate) fn tzset(s: &str, sec: i64) -> Option<ZoneInfo> {
    let (mut std_name, s) = tzset_name(s)?;
    let (std_off, s) = tzset_offset(s)?;
    let mut std_offset = -std_off;
    if s.is_empty() || s.starts_with(',') {
        return Some(ZoneInfo {
            name: std_name,
            offset: std_offset,
        });
    }
    let (mut dst_name, mut s) = tzset_name(s)?;
    let mut dst_offset = if s.is_empty() || s.starts_with(',') {
        std_offset + 3600
    } else {
        let (o, rest) = tzset_offset(s)?;
        s = rest;
        -o
    };
    if s.is_empty() {
        s = ",M3.2.0,M11.1.0";
    }
    let s = s.strip_prefix([',', ';'])?;
    let (start_rule, s) = tzset_rule(s)?;
    let s = s.strip_prefix(',')?;
    let (end_rule, s) = tzset_rule(s)?;
    if !s.is_empty() {
        return None;
    }
    let date = chrono::DateTime::from_timestamp(sec, 0)?.date_naive();
    let year = date.year();
    let year_start = NaiveDate::from_ymd_opt(year, 1, 1)?
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        .timestamp();
    let ysec = sec - year_start;
    let mut start = rule_time(year, start_rule, std_offset);
    let mut end = rule_time(year, end_rule, dst_offset);
    if end < start {
        std::mem::swap(&mut start, &mut end);
        std::mem::swap(&mut std_name, &mut dst_name);
        std::mem::swap(&mut std_offset, &mut dst_offset);
    }
    Some(if ysec < start || ysec >= end {
        ZoneInfo {
            name: std_name,
            offset: std_offset,
        }
    } else {
        ZoneInfo {
            name: dst_name,
            offset: dst_offset,
        }
    })
}

/// Test helper: builds a v2 TZif blob with the given types (offset, is
/// DST, abbreviation), transitions (time, type index) and footer.
#[cfg(test)]
pub(crate) fn tzif(types: &[(i32, bool, &str)], tx: &[(i64, u8)], footer: &str) -> Vec<u8> {
    let mut chars = Vec::new();
    let mut idx = Vec::new();
    for (_, _, name) in types {
        idx.push(chars.len() as u8);
        chars.extend_from_slice(name.as_bytes());
        chars.push(0);
    }
    let section = |time_size: usize| -> Vec<u8> {
        let mut out = b"TZif2".to_vec();
        out.extend_from_slice(&[0u8; 15]);
        for n in [0, 0, 0, tx.len(), types.len(), chars.len()] {
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        for (t, _) in tx {
            if time_size == 8 {
                out.extend_from_slice(&t.to_be_bytes());
            } else {
                out.extend_from_slice(&(*t as i32).to_be_bytes());
            }
        }
        for (_, i) in tx {
            out.push(*i);
        }
        for (k, (off, dst, _)) in types.iter().enumerate() {
            out.extend_from_slice(&off.to_be_bytes());
            out.push(u8::from(*dst));
            out.push(idx[k]);
        }
        out.extend_from_slice(&chars);
        out
    };
    let mut data = section(4);
    data.extend(section(8));
    data.push(b'\n');
    data.extend_from_slice(footer.as_bytes());
    data.push(b'\n');
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp()
    }

    fn zone(name: &str, offset: i32) -> ZoneInfo {
        ZoneInfo {
            name: name.into(),
            offset,
        }
    }

    #[test]
    fn posix_rules_northern() {
        let tz = "CET-1CEST,M3.5.0,M10.5.0/3";
        assert_eq!(tzset(tz, at(2021, 3, 4, 2)), Some(zone("CET", 3600)));
        assert_eq!(tzset(tz, at(2021, 7, 1, 0)), Some(zone("CEST", 7200)));
        // 2021-03-28 01:00 UTC is 02:00 CET: DST starts exactly then.
        assert_eq!(tzset(tz, at(2021, 3, 28, 0)), Some(zone("CET", 3600)));
        assert_eq!(tzset(tz, at(2021, 3, 28, 1)), Some(zone("CEST", 7200)));
        // Ends 2021-10-31 01:00 UTC (03:00 CEST).
        assert_eq!(tzset(tz, at(2021, 10, 31, 0)), Some(zone("CEST", 7200)));
        assert_eq!(tzset(tz, at(2021, 10, 31, 1)), Some(zone("CET", 3600)));
    }

    #[test]
    fn posix_rules_defaults_and_southern() {
        assert_eq!(
            tzset("EST5EDT", at(2021, 7, 1, 12)),
            Some(zone("EDT", -4 * 3600))
        );
        assert_eq!(
            tzset("EST5EDT", at(2021, 1, 1, 12)),
            Some(zone("EST", -5 * 3600))
        );
        let syd = "AEST-10AEDT,M10.1.0,M4.1.0/3";
        assert_eq!(
            tzset(syd, at(2021, 1, 15, 0)),
            Some(zone("AEDT", 11 * 3600))
        );
        assert_eq!(
            tzset(syd, at(2021, 7, 15, 0)),
            Some(zone("AEST", 10 * 3600))
        );
        assert_eq!(
            tzset("<+0530>-5:30", at(2021, 7, 15, 0)),
            Some(zone("+0530", 5 * 3600 + 1800))
        );
        assert_eq!(tzset("UTC0", 0), Some(zone("UTC", 0)));
        assert_eq!(tzset("X", 0), None);
    }

    #[test]
    fn tzif_transitions_and_footer() {
        let data = tzif(
            &[
                (3208, false, "LMT"),
                (3600, false, "CET"),
                (7200, true, "CEST"),
            ],
            &[
                (at(1900, 1, 1, 0), 1),
                (at(2000, 3, 26, 1), 2),
                (at(2000, 10, 29, 1), 1),
            ],
            "CET-1CEST,M3.5.0,M10.5.0/3",
        );
        let loc = Location::from_tzif(&data).unwrap();
        assert_eq!(loc.lookup(at(1850, 1, 1, 0)), zone("LMT", 3208));
        assert_eq!(loc.lookup(at(2000, 5, 1, 0)), zone("CEST", 7200));
        // After the last transition the footer rule decides.
        assert_eq!(loc.lookup(at(2021, 3, 4, 2)), zone("CET", 3600));
        assert_eq!(loc.lookup(at(2040, 7, 1, 0)), zone("CEST", 7200));
    }

    #[test]
    fn utc_and_garbage() {
        assert_eq!(Location::utc().lookup(12345), zone("UTC", 0));
        assert!(Location::from_tzif(b"not a tzif file at all, definitely not").is_none());
    }
}
