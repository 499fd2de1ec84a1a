//! Matching packages against the vulnerability database, exactly per ecosystem.
//!
//! OS packages are looked up in their distribution release's ecosystem: Debian and
//! Ubuntu by source package and source version, Alpine by origin, RPM distributions by
//! name. Language packages in PyPI, npm, Go, crates.io, Maven and RubyGems. Versions are
//! compared with the ecosystem's own ordering ([`crate::version`]).

use serde::Serialize;

use crate::osv::{self, Affected, Record, SeverityEntry};
use crate::package::{Distro, Package, PkgType};
use crate::scan::ScanResult;
use crate::severity::{cvss_score, Severity};
use crate::version::Scheme;
use crate::vulndb::VulnDb;
use crate::ScanError;

/// One vulnerability affecting one package.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The package.
    pub package: Package,
    /// The record's ID.
    pub id: String,
    /// Its aliases (CVE IDs).
    pub aliases: Vec<String>,
    /// One-line summary (or the start of the details).
    pub summary: String,
    /// Severity.
    pub severity: Severity,
    /// CVSS score and vector, when one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    /// The nearest version that fixes it, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
    /// The ecosystem it was matched in.
    pub ecosystem: String,
    /// The name looked up (the source package for Debian/Ubuntu, origin for Alpine).
    pub matched_name: String,
    /// The version compared.
    pub matched_version: String,
}

/// A CVSS rating.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cvss {
    /// Base score.
    pub score: f64,
    /// The vector.
    pub vector: String,
}

/// How a package is looked up: ecosystems, names, version, version scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Ecosystems (an entry ending in `*` is a prefix).
    pub ecosystems: Vec<String>,
    /// Names to look up.
    pub names: Vec<String>,
    /// The version to compare.
    pub version: String,
    /// The version ordering.
    pub scheme: Scheme,
}

fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
}

/// Debian's release number for a codename.
pub fn debian_release(codename: &str) -> Option<u32> {
    Some(match codename {
        "stretch" => 9,
        "buster" => 10,
        "bullseye" => 11,
        "bookworm" => 12,
        "trixie" => 13,
        "forky" => 14,
        "duke" => 15,
        _ => return None,
    })
}

/// The lookup for a package in an image of `distro`.
pub fn query_for(p: &Package, distro: Option<&Distro>) -> Option<Query> {
    let q = |ecos: Vec<String>, names: Vec<String>, version: &str, scheme| {
        Some(Query {
            ecosystems: ecos,
            names,
            version: version.to_string(),
            scheme,
        })
    };
    match p.ptype {
        PkgType::Deb => {
            let d = distro?;
            let ecos = match d.id.as_str() {
                "ubuntu" => vec![
                    format!("Ubuntu:{}", d.version_id),
                    format!("Ubuntu:{}:LTS", d.version_id),
                ],
                _ => {
                    let m = major(&d.version_id);
                    let m = if !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()) {
                        m.to_string()
                    } else {
                        // Testing and unstable: the codename (`trixie`, or
                        // debian_version's `trixie/sid`) names the next release.
                        let name = if d.codename.is_empty() {
                            d.version_id.split('/').next().unwrap_or("")
                        } else {
                            d.codename.as_str()
                        };
                        debian_release(name)?.to_string()
                    };
                    vec![format!("Debian:{m}")]
                }
            };
            q(
                ecos,
                vec![p.source_or_name().to_string()],
                p.source_or_version(),
                Scheme::Dpkg,
            )
        }
        PkgType::Apk => {
            let d = distro?;
            let mut parts = d.version_id.split('.');
            let eco = match d.id.as_str() {
                "wolfi" => "Wolfi".to_string(),
                "chainguard" => "Chainguard".to_string(),
                _ => format!("Alpine:v{}.{}", parts.next()?, parts.next()?),
            };
            q(
                vec![eco],
                vec![p.source_or_name().to_string()],
                &p.version,
                Scheme::Apk,
            )
        }
        PkgType::Rpm => {
            let d = distro?;
            let m = major(&d.version_id);
            let eco = match d.id.as_str() {
                "rocky" => format!("Rocky Linux:{m}"),
                "almalinux" => format!("AlmaLinux:{m}"),
                "rhel" | "centos" => format!("Red Hat:enterprise_linux:{m}*"),
                "mageia" => format!("Mageia:{}", d.version_id),
                "opensuse-leap" => format!("openSUSE:Leap {}", d.version_id),
                "sles" => format!("SUSE:Linux Enterprise Server {m}*"),
                "openeuler" => format!("openEuler:{}*", d.version_id),
                _ => return None,
            };
            let mut names = vec![p.name.clone()];
            if let Some(s) = &p.source_name {
                if s != &p.name {
                    names.push(s.clone());
                }
            }
            q(vec![eco], names, &p.version, Scheme::Rpm)
        }
        PkgType::Python => q(
            vec!["PyPI".into()],
            vec![p.name.clone()],
            &p.version,
            Scheme::Pep440,
        ),
        PkgType::Npm => q(
            vec!["npm".into()],
            vec![p.name.clone()],
            &p.version,
            Scheme::Semver,
        ),
        PkgType::GoModule => {
            let v = if p.name == "stdlib" {
                p.version.trim_start_matches("go")
            } else {
                p.version.trim_start_matches('v')
            };
            q(vec!["Go".into()], vec![p.name.clone()], v, Scheme::Go)
        }
        PkgType::RustCrate => q(
            vec!["crates.io".into()],
            vec![p.name.clone()],
            &p.version,
            Scheme::Semver,
        ),
        PkgType::JavaArchive => {
            if !p.name.contains(':') {
                return None;
            }
            q(
                vec!["Maven".into()],
                vec![p.name.clone()],
                &p.version,
                Scheme::Maven,
            )
        }
        PkgType::Gem => q(
            vec!["RubyGems".into()],
            vec![p.name.clone()],
            &p.version,
            Scheme::RubyGems,
        ),
    }
}

fn best_cvss(entries: &[SeverityEntry]) -> Option<(Cvss, Severity)> {
    let mut best: Option<(u8, Cvss, Severity)> = None;
    for e in entries {
        let rank = match e.kind.as_str() {
            "CVSS_V4" => 3,
            "CVSS_V3" => 2,
            "CVSS_V2" => 1,
            _ => continue,
        };
        if let Some((score, sev)) = cvss_score(&e.score) {
            if best.as_ref().is_none_or(|b| rank > b.0) {
                best = Some((
                    rank,
                    Cvss {
                        score,
                        vector: e.score.clone(),
                    },
                    sev,
                ));
            }
        }
    }
    best.map(|(_, c, s)| (c, s))
}

fn word_in(v: Option<&serde_json::Value>, keys: &[&str]) -> Option<Severity> {
    let v = v?;
    keys.iter().find_map(|k| {
        v.get(*k)
            .and_then(|x| x.as_str())
            .and_then(Severity::from_word)
    })
}

/// The severity of a record for one affected entry: CVSS (newest version given), else
/// the source's own rating.
pub fn severity_of(r: &Record, a: &Affected) -> (Severity, Option<Cvss>) {
    if let Some((c, s)) = best_cvss(&a.severity).or_else(|| best_cvss(&r.severity)) {
        return (s, Some(c));
    }
    let own = a
        .severity
        .iter()
        .chain(&r.severity)
        .filter(|e| !e.kind.starts_with("CVSS"))
        .find_map(|e| Severity::from_word(&e.score))
        .or_else(|| word_in(a.ecosystem_specific.as_ref(), &["severity", "urgency"]))
        .or_else(|| word_in(a.database_specific.as_ref(), &["severity", "urgency"]))
        .or_else(|| word_in(r.database_specific.as_ref(), &["severity"]));
    (own.unwrap_or(Severity::Unknown), None)
}

/// Matches every package of a scan.
pub fn match_scan(db: &VulnDb, scan: &ScanResult) -> Result<Vec<Finding>, ScanError> {
    let mut out: Vec<Finding> = Vec::new();
    for p in &scan.packages {
        let Some(q) = query_for(p, scan.distro.as_ref()) else {
            continue;
        };
        for name in &q.names {
            for c in db.candidates(&q.ecosystems, name)? {
                let v = osv::affects(&c.affected, &q.version, q.scheme);
                if !v.affected {
                    continue;
                }
                let (mut severity, mut cvss) = severity_of(&c.record, &c.affected);
                if severity == Severity::Unknown {
                    // No rating of its own (OSV's Debian records have none): use the
                    // records of the same vulnerability, CVSS first.
                    let ids: Vec<String> = c
                        .record
                        .aliases
                        .iter()
                        .chain(&c.record.upstream)
                        .chain(std::iter::once(&c.record.id))
                        .cloned()
                        .collect();
                    let rated: Vec<(Severity, Option<Cvss>)> = db
                        .related(&ids, &c.record.id)?
                        .iter()
                        .map(|r| severity_of(r, &Affected::default()))
                        .filter(|(s, _)| *s != Severity::Unknown)
                        .collect();
                    if let Some(best) = rated
                        .iter()
                        .find(|(_, c)| c.is_some())
                        .or_else(|| rated.first())
                    {
                        severity = best.0;
                        cvss = best.1.clone();
                    }
                }
                let ecosystem = c
                    .affected
                    .package
                    .as_ref()
                    .map(|x| x.ecosystem.clone())
                    .unwrap_or_default();
                if let Some(f) = out
                    .iter_mut()
                    .find(|f| f.id == c.record.id && f.package.key() == p.key())
                {
                    // Several affected entries name the package: keep the nearest fix.
                    if f.fixed_in.is_none() {
                        f.fixed_in = v.fixed;
                    }
                    continue;
                }
                let summary = c
                    .record
                    .summary
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| {
                        c.record
                            .details
                            .as_ref()
                            .map(|d| d.lines().next().unwrap_or("").chars().take(160).collect())
                    })
                    .unwrap_or_default();
                out.push(Finding {
                    package: p.clone(),
                    id: c.record.id.clone(),
                    aliases: c.record.aliases.clone(),
                    summary,
                    severity,
                    cvss,
                    fixed_in: v.fixed,
                    ecosystem,
                    matched_name: name.clone(),
                    matched_version: q.version.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        a.package
            .name
            .cmp(&b.package.name)
            .then_with(|| a.package.version.cmp(&b.package.version))
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_testing_by_codename() {
        let p = Package::new(PkgType::Deb, "libc6", "2.40-1", "var/lib/dpkg/status");
        let d = Distro {
            id: "debian".into(),
            version_id: "trixie/sid".into(),
            ..Default::default()
        };
        assert_eq!(query_for(&p, Some(&d)).unwrap().ecosystems, ["Debian:13"]);
        let d = Distro {
            id: "debian".into(),
            version_id: "12".into(),
            ..Default::default()
        };
        assert_eq!(query_for(&p, Some(&d)).unwrap().ecosystems, ["Debian:12"]);
        let d = Distro {
            id: "alpine".into(),
            version_id: "3.19.1".into(),
            ..Default::default()
        };
        let a = Package::new(PkgType::Apk, "musl", "1.2.4-r2", "lib/apk/db/installed");
        assert_eq!(
            query_for(&a, Some(&d)).unwrap().ecosystems,
            ["Alpine:v3.19"]
        );
    }
}
