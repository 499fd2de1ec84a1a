//! Vulnerability reports: ignore rules (with reasons and expiry dates), filters, the
//! summary by severity, and the JSON, SARIF 2.1.0 and CycloneDX 1.6 renderings.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};

use crate::matcher::Finding;
use crate::package::Package;
use crate::sbom::{self, Subject};
use crate::scan::ScanResult;
use crate::severity::Severity;
use crate::ScanError;

/// One ignore rule: `ID [pkg:NAME] [exp:YYYY-MM-DD] [# reason]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoreRule {
    /// The vulnerability ID (or one of its aliases).
    pub id: String,
    /// Only for this package (its name or its source package's), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The rule stops applying after this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
    /// Why it is ignored.
    pub reason: String,
    /// Line in the file.
    pub line: usize,
}

/// Parses an ignore file. Bad lines are errors naming the line.
pub fn parse_ignore(text: &str) -> Result<Vec<IgnoreRule>, ScanError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let (body, reason) = match raw.split_once('#') {
            Some((b, r)) => (b.trim(), r.trim().to_string()),
            None => (raw.trim(), String::new()),
        };
        if body.is_empty() {
            continue;
        }
        let mut words = body.split_whitespace();
        let id = words.next().unwrap_or_default().to_string();
        let mut rule = IgnoreRule {
            id,
            package: None,
            expires: None,
            reason,
            line: i + 1,
        };
        for w in words {
            if let Some(p) = w.strip_prefix("pkg:") {
                rule.package = Some(p.to_string());
            } else if let Some(d) = w.strip_prefix("exp:") {
                rule.expires = Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    ScanError::Invalid(format!(
                        "ignore file line {}: invalid expiry date {d:?} (want exp:YYYY-MM-DD)",
                        i + 1
                    ))
                })?);
            } else {
                return Err(ScanError::Invalid(format!(
                    "ignore file line {}: unexpected {w:?} (want ID [pkg:NAME] [exp:YYYY-MM-DD] [# reason])",
                    i + 1
                )));
            }
        }
        out.push(rule);
    }
    Ok(out)
}

impl IgnoreRule {
    /// Whether the rule still applies on `today`.
    pub fn active(&self, today: NaiveDate) -> bool {
        self.expires.is_none_or(|e| today <= e)
    }

    /// Whether the rule covers a finding.
    pub fn covers(&self, f: &Finding) -> bool {
        (f.id == self.id || f.aliases.iter().any(|a| a == &self.id))
            && self
                .package
                .as_ref()
                .is_none_or(|p| p == &f.package.name || f.package.source_name.as_ref() == Some(p))
    }
}

/// Options that select what a report shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only findings with a known fix.
    pub only_fixed: bool,
    /// Only these severities (empty = all).
    pub severities: Vec<Severity>,
}

/// A finding that an ignore rule covers.
#[derive(Debug, Clone, Serialize)]
pub struct Ignored {
    /// The finding.
    pub finding: Finding,
    /// The rule.
    pub rule: IgnoreRule,
}

/// Findings split into shown and ignored, with expired rules noted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Shown findings.
    pub findings: Vec<Finding>,
    /// Findings covered by an active ignore rule.
    pub ignored: Vec<Ignored>,
    /// Rules past their expiry date (their findings are shown again).
    pub expired: Vec<IgnoreRule>,
}

/// Applies filters and ignore rules.
pub fn build(all: Vec<Finding>, filter: &Filter, rules: &[IgnoreRule], today: NaiveDate) -> Report {
    let mut r = Report {
        expired: rules.iter().filter(|x| !x.active(today)).cloned().collect(),
        ..Default::default()
    };
    for f in all {
        if filter.only_fixed && f.fixed_in.is_none() {
            continue;
        }
        if !filter.severities.is_empty() && !filter.severities.contains(&f.severity) {
            continue;
        }
        match rules.iter().find(|x| x.active(today) && x.covers(&f)) {
            Some(rule) => r.ignored.push(Ignored {
                finding: f,
                rule: rule.clone(),
            }),
            None => r.findings.push(f),
        }
    }
    r
}

/// Counts per severity, every severity present (least severe first).
pub fn counts(findings: &[Finding]) -> BTreeMap<Severity, usize> {
    let mut m: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for f in findings {
        *m.entry(f.severity).or_default() += 1;
    }
    m
}

/// `Total: N (UNKNOWN: a, NEGLIGIBLE: b, LOW: c, MEDIUM: d, HIGH: e, CRITICAL: f)`.
pub fn summary_line(findings: &[Finding]) -> String {
    let c = counts(findings);
    let parts: Vec<String> = c.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    format!("Total: {} ({})", findings.len(), parts.join(", "))
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "vulnerability": {
            "id": f.id,
            "aliases": f.aliases,
            "severity": f.severity,
            "cvss": f.cvss,
            "summary": f.summary,
            "fixedIn": f.fixed_in,
            "state": if f.fixed_in.is_some() { "fixed" } else { "not-fixed" },
            "ecosystem": f.ecosystem,
        },
        "matchedBy": {"name": f.matched_name, "version": f.matched_version},
        "package": f.package,
    })
}

/// Our JSON report.
pub fn to_json(scan: &ScanResult, s: &Subject, r: &Report) -> Value {
    let c: BTreeMap<String, usize> = counts(&r.findings)
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect();
    json!({
        "image": {"name": s.name, "id": s.id},
        "distro": scan.distro,
        "matches": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "ignored": r.ignored.iter().map(|i| {
            let mut v = finding_json(&i.finding);
            v["ignoreRule"] = json!(i.rule);
            v
        }).collect::<Vec<_>>(),
        "summary": {"total": r.findings.len(), "bySeverity": c, "ignored": r.ignored.len()},
    })
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    }
}

fn security_severity(f: &Finding) -> String {
    match &f.cvss {
        Some(c) => format!("{:.1}", c.score),
        None => match f.severity {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "2.0",
            _ => "0.0",
        }
        .to_string(),
    }
}

/// SARIF 2.1.0 (one rule per vulnerability and package: `<vuln>-<package>`).
pub fn to_sarif(s: &Subject, r: &Report) -> Value {
    let mut rules = Vec::new();
    let mut results = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in &r.findings {
        let rule_id = format!("{}-{}", f.id, f.package.name);
        if seen.insert(rule_id.clone()) {
            let fix = f
                .fixed_in
                .as_ref()
                .map(|v| format!(" Fixed in version {v}."))
                .unwrap_or_else(|| " No fix is available yet.".into());
            rules.push(json!({
                "id": rule_id,
                "name": "OsPackageVulnerability",
                "shortDescription": {"text": format!("{} {} for package {}", f.id, f.severity.as_str().to_lowercase(), f.package.name)},
                "fullDescription": {"text": if f.summary.is_empty() { f.id.clone() } else { f.summary.clone() }},
                "help": {
                    "text": format!("Vulnerability {}\nSeverity: {}\nPackage: {}\nInstalled version: {}\n{}", f.id, f.severity, f.package.name, f.package.version, fix.trim()),
                    "markdown": format!("**Vulnerability {}**\n| Severity | Package | Installed | Fixed in |\n| --- | --- | --- | --- |\n| {} | {} | {} | {} |", f.id, f.severity, f.package.name, f.package.version, f.fixed_in.clone().unwrap_or_default()),
                },
                "defaultConfiguration": {"level": sarif_level(f.severity)},
                "properties": {
                    "security-severity": security_severity(f),
                    "tags": ["vulnerability", "security", f.severity.as_str()],
                },
            }));
        }
        let fix = f
            .fixed_in
            .as_ref()
            .map(|v| format!(", fixed in {v}"))
            .unwrap_or_default();
        results.push(json!({
            "ruleId": rule_id,
            "level": sarif_level(f.severity),
            "message": {"text": format!(
                "Package {} {} in image {} is affected by {} ({}){fix}",
                f.package.name, f.package.version, s.name, f.id, f.severity
            )},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": f.package.location},
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
                },
                "message": {"text": format!("{}: {}@{}", s.name, f.package.name, f.package.version)},
            }],
        }));
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "strata",
                "version": s.tool_version,
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn rating_method(vector: &str) -> &'static str {
    if vector.starts_with("CVSS:4") {
        "CVSSv4"
    } else if vector.starts_with("CVSS:3.1") {
        "CVSSv31"
    } else if vector.starts_with("CVSS:3") {
        "CVSSv3"
    } else {
        "CVSSv2"
    }
}

/// CycloneDX 1.6 with the SBOM's components and a `vulnerabilities` section.
pub fn to_cyclonedx(scan: &ScanResult, s: &Subject, r: &Report) -> Value {
    let mut doc = sbom::to_cyclonedx(scan, s);
    let index_of = |p: &Package| scan.packages.iter().position(|x| x.key() == p.key());
    let mut vulns: Vec<Value> = Vec::new();
    for f in &r.findings {
        let Some(i) = index_of(&f.package) else {
            continue;
        };
        let comp_ref = sbom::bom_ref(&scan.packages[i], i);
        // CycloneDX's severities: critical, high, medium, low, info, none, unknown.
        let sev = match f.severity {
            Severity::Negligible => "info".to_string(),
            other => other.as_str().to_lowercase(),
        };
        let mut rating = json!({"severity": sev});
        if let Some(c) = &f.cvss {
            rating["score"] = json!(c.score);
            rating["method"] = json!(rating_method(&c.vector));
            rating["vector"] = json!(c.vector);
        }
        let mut v = json!({
            "bom-ref": format!("{}#{}", f.id, comp_ref),
            "id": f.id,
            "source": {"name": f.ecosystem},
            "ratings": [rating],
            "description": f.summary,
            "affects": [{"ref": comp_ref}],
        });
        if !f.aliases.is_empty() {
            v["references"] = Value::Array(
                f.aliases
                    .iter()
                    .map(|a| json!({"id": a, "source": {"name": if a.starts_with("CVE-") { "NVD" } else { "OSV" }}}))
                    .collect(),
            );
        }
        if let Some(fx) = &f.fixed_in {
            v["recommendation"] = json!(format!("Upgrade {} to {fx}", f.package.name));
        }
        vulns.push(v);
    }
    doc["vulnerabilities"] = Value::Array(vulns);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_file() {
        let rules = parse_ignore(
            "# header\nCVE-2024-1 # accepted risk\nCVE-2024-2 pkg:curl exp:2025-01-31 # waiting for upstream\n\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].reason, "accepted risk");
        assert_eq!(rules[1].package.as_deref(), Some("curl"));
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(rules[1].active(d("2025-01-31")));
        assert!(!rules[1].active(d("2025-02-01")));
        let err = parse_ignore("CVE-1 exp:tomorrow").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("exp:YYYY-MM-DD"));
        assert!(parse_ignore("CVE-1 what").is_err());
    }
}
