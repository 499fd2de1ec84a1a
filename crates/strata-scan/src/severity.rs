//! Severities: from CVSS vectors (v2 computed here, v3.x and v4.0 through the `cvss`
//! crate) or from the source's own rating (Ubuntu priorities, GitHub's
//! `database_specific.severity`, Debian urgencies).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// No rating known.
    Unknown,
    /// Negligible (Ubuntu, Debian "unimportant").
    Negligible,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Upper-case name (UNKNOWN, LOW, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Negligible => "NEGLIGIBLE",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Every severity, least severe first.
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::Negligible,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Parses a rating word as sources write it (case-insensitive; `moderate` and
    /// `important` as GitHub and Red Hat use them; Debian urgencies).
    pub fn from_word(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "minor" => Severity::Low,
            "negligible" | "unimportant" | "not yet assigned" => Severity::Negligible,
            "unknown" | "none" => Severity::Unknown,
            _ => return None,
        })
    }

    /// The rating of a CVSS score (v3/v4 bands; v2 has no critical band).
    pub fn from_score(score: f64, v2: bool) -> Severity {
        if score <= 0.0 {
            Severity::Unknown
        } else if score < 4.0 {
            Severity::Low
        } else if score < 7.0 {
            Severity::Medium
        } else if score < 9.0 || v2 {
            Severity::High
        } else {
            Severity::Critical
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::from_word(s).ok_or_else(|| {
            format!(
                "invalid severity {s:?}: use unknown, negligible, low, medium, high or critical"
            )
        })
    }
}

/// The base score of a CVSS vector (v2, v3.0, v3.1 or v4.0), when it parses.
pub fn cvss_score(vector: &str) -> Option<(f64, Severity)> {
    let v = vector.trim();
    if v.starts_with("CVSS:3") || v.starts_with("CVSS:4") {
        let c = cvss::Cvss::from_str(v).ok()?;
        let score = c.score();
        return Some((score, Severity::from_score(score, false)));
    }
    let score = cvss2_base(v.strip_prefix("CVSS:2.0/").unwrap_or(v))?;
    Some((score, Severity::from_score(score, true)))
}

/// CVSS v2 base score (`AV:N/AC:L/Au:N/C:P/I:P/A:P`).
pub fn cvss2_base(v: &str) -> Option<f64> {
    let (mut av, mut ac, mut au, mut c, mut i, mut a) = (None, None, None, None, None, None);
    for part in v.split('/') {
        let (k, val) = part.split_once(':')?;
        let imp = |x: &str| match x {
            "N" => Some(0.0),
            "P" => Some(0.275),
            "C" => Some(0.660),
            _ => None,
        };
        match k {
            "AV" => {
                av = match val {
                    "L" => Some(0.395),
                    "A" => Some(0.646),
                    "N" => Some(1.0),
                    _ => None,
                }
            }
            "AC" => {
                ac = match val {
                    "H" => Some(0.35),
                    "M" => Some(0.61),
                    "L" => Some(0.71),
                    _ => None,
                }
            }
            "Au" => {
                au = match val {
                    "M" => Some(0.45),
                    "S" => Some(0.56),
                    "N" => Some(0.704),
                    _ => None,
                }
            }
            "C" => c = imp(val),
            "I" => i = imp(val),
            "A" => a = imp(val),
            _ => {}
        }
    }
    let (av, ac, au, c, i, a): (f64, f64, f64, f64, f64, f64) = (av?, ac?, au?, c?, i?, a?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let expl = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let base = ((0.6 * impact) + (0.4 * expl) - 1.5) * f;
    Some((base * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_vectors() {
        assert_eq!(
            cvss_score("AV:N/AC:L/Au:N/C:C/I:C/A:C"),
            Some((10.0, Severity::High))
        );
        assert_eq!(
            cvss_score("AV:N/AC:M/Au:N/C:P/I:N/A:N"),
            Some((4.3, Severity::Medium))
        );
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some((9.8, Severity::Critical))
        );
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            Some((6.1, Severity::Medium))
        );
        assert_eq!(
            cvss_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            Some((9.3, Severity::Critical))
        );
        assert!(cvss_score("garbage").is_none());
        assert!(Severity::Critical > Severity::High);
        assert_eq!("moderate".parse::<Severity>(), Ok(Severity::Medium));
    }
}
