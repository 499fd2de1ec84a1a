//! OSV records (schema 1.7): the parts matching needs, and range evaluation.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::version::Scheme;

/// One OSV record.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Record {
    /// `DEBIAN-CVE-2024-1234`, `GHSA-…`, `CVE-…`.
    pub id: String,
    /// Last modification time.
    #[serde(default)]
    pub modified: String,
    /// Publication time.
    #[serde(default)]
    pub published: Option<String>,
    /// Set when the record was withdrawn (such records match nothing).
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Other IDs of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// IDs of the upstream vulnerabilities this record is derived from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
    /// One-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Longer details.
    #[serde(default)]
    pub details: Option<String>,
    /// Severities of the whole record.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Source-specific data (GitHub puts `severity` here).
    #[serde(default)]
    pub database_specific: Option<Value>,
}

/// A `severity` entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SeverityEntry {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or rating.
    pub score: String,
}

/// An `affected` entry.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Affected {
    /// The package.
    #[serde(default)]
    pub package: Option<AffectedPackage>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Explicit affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severities.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// Ecosystem-specific data (e.g. Debian urgency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<Value>,
    /// Database-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// The package of an `affected` entry.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct AffectedPackage {
    /// `Debian:12`, `Alpine:v3.19`, `PyPI`, `npm`, …
    #[serde(default)]
    pub ecosystem: String,
    /// Package name in that ecosystem.
    #[serde(default)]
    pub name: String,
    /// Package URL, when given.
    #[serde(default)]
    pub purl: Option<String>,
}

/// A range.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT` (GIT ranges are not evaluated).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Events.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
pub struct Event {
    /// Affected from this version on (`0` = from the beginning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// Fixed in this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The last affected version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// Versions at or above this are outside the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Event {
    fn version(&self) -> &str {
        self.introduced
            .as_deref()
            .or(self.fixed.as_deref())
            .or(self.last_affected.as_deref())
            .or(self.limit.as_deref())
            .unwrap_or("")
    }
}

/// The outcome of evaluating an `affected` entry against a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The version is affected.
    pub affected: bool,
    /// The nearest fixed version above it, when one is known.
    pub fixed: Option<String>,
}

fn cmp_event(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match (a == "0", b == "0") {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => scheme.compare(a, b),
    }
}

/// Whether `version` is inside one range (OSV's evaluation: events in version order,
/// introduced opens, fixed and last_affected close; limits bound the range).
pub fn range_affects(range: &Range, version: &str, scheme: Scheme) -> Verdict {
    let mut events: Vec<&Event> = range.events.iter().filter(|e| e.limit.is_none()).collect();
    events.sort_by(|a, b| cmp_event(scheme, a.version(), b.version()));
    let mut affected = false;
    for e in &events {
        if let Some(i) = &e.introduced {
            if i == "0" || scheme.compare(version, i) != Ordering::Less {
                affected = true;
            }
        } else if let Some(f) = &e.fixed {
            if scheme.compare(version, f) != Ordering::Less {
                affected = false;
            }
        } else if let Some(l) = &e.last_affected {
            if scheme.compare(version, l) == Ordering::Greater {
                affected = false;
            }
        }
    }
    let limits: Vec<&str> = range
        .events
        .iter()
        .filter_map(|e| e.limit.as_deref())
        .collect();
    if !limits.is_empty()
        && !limits
            .iter()
            .any(|l| *l == "*" || scheme.compare(version, l) == Ordering::Less)
    {
        affected = false;
    }
    let fixed = if affected {
        events
            .iter()
            .filter_map(|e| e.fixed.as_deref())
            .filter(|f| scheme.compare(f, version) == Ordering::Greater)
            .min_by(|a, b| scheme.compare(a, b))
            .map(str::to_string)
    } else {
        None
    };
    Verdict { affected, fixed }
}

/// Evaluates an `affected` entry: explicit versions, then ECOSYSTEM/SEMVER ranges.
pub fn affects(a: &Affected, version: &str, scheme: Scheme) -> Verdict {
    let mut out = Verdict {
        affected: false,
        fixed: None,
    };
    for r in &a.ranges {
        if r.kind != "ECOSYSTEM" && r.kind != "SEMVER" {
            continue;
        }
        let v = range_affects(r, version, scheme);
        if v.affected {
            out.affected = true;
            if out.fixed.is_none() {
                out.fixed = v.fixed;
            }
        }
    }
    if !out.affected
        && a.versions
            .iter()
            .any(|x| x == version || scheme.compare(x, version) == Ordering::Equal)
    {
        out.affected = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: Option<&str>, f: Option<&str>, l: Option<&str>) -> Event {
        Event {
            introduced: i.map(str::to_string),
            fixed: f.map(str::to_string),
            last_affected: l.map(str::to_string),
            limit: None,
        }
    }

    #[test]
    fn ranges() {
        let r = Range {
            kind: "ECOSYSTEM".into(),
            events: vec![ev(Some("0"), None, None), ev(None, Some("1.2-3"), None)],
        };
        let s = Scheme::Dpkg;
        assert!(range_affects(&r, "1.2-2", s).affected);
        assert_eq!(
            range_affects(&r, "1.2-2", s).fixed.as_deref(),
            Some("1.2-3")
        );
        assert!(!range_affects(&r, "1.2-3", s).affected);
        assert!(!range_affects(&r, "1:1.0", s).affected);
        let two = Range {
            kind: "SEMVER".into(),
            events: vec![
                ev(Some("1.0.0"), None, None),
                ev(None, Some("1.0.5"), None),
                ev(Some("2.0.0"), None, None),
                ev(None, None, Some("2.1.0")),
            ],
        };
        let s = Scheme::Semver;
        assert!(!range_affects(&two, "0.9.0", s).affected);
        assert!(range_affects(&two, "1.0.4", s).affected);
        assert!(!range_affects(&two, "1.5.0", s).affected);
        assert!(range_affects(&two, "2.1.0", s).affected);
        assert_eq!(range_affects(&two, "2.1.0", s).fixed, None);
        assert!(!range_affects(&two, "2.1.1", s).affected);
        let mut lim = two.clone();
        lim.events.push(Event {
            limit: Some("2.0.5".into()),
            ..Default::default()
        });
        assert!(!range_affects(&lim, "2.0.7", s).affected);
        assert!(range_affects(&lim, "2.0.1", s).affected);
    }
}
