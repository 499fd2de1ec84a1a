//! SBOM documents for a scan: our own JSON, CycloneDX 1.6 JSON and SPDX 2.3 JSON.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::package::{Package, PkgType};
use crate::scan::ScanResult;

/// What was scanned, for the documents' headers.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The name the user gave (e.g. `docker.io/library/debian:12`).
    pub name: String,
    /// The image ID or manifest digest.
    pub id: String,
    /// The tool's version (for `creators`/`tools`).
    pub tool_version: String,
    /// Creation time (RFC 3339); now when empty.
    pub timestamp: String,
}

fn timestamp(s: &Subject) -> String {
    if s.timestamp.is_empty() {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    } else {
        s.timestamp.clone()
    }
}

/// A UUID (version 4 layout) derived from the document's content and time.
fn uuid(seed: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Our JSON: the subject, the distribution, the layers and every package.
pub fn to_json(r: &ScanResult, s: &Subject) -> Value {
    json!({
        "image": {"name": s.name, "id": s.id},
        "distro": r.distro,
        "layers": r.layers,
        "packages": r.packages,
    })
}

/// Whether a license string reads as an SPDX expression: identifiers (letters first)
/// joined by AND, OR or WITH, parentheses allowed.
fn is_spdx_expression(l: &str) -> bool {
    let mut want_id = true;
    let mut any = false;
    for w in l.split_whitespace() {
        let w = w.trim_matches(|c| c == '(' || c == ')');
        if w.is_empty() {
            continue;
        }
        let op = matches!(w, "AND" | "OR" | "WITH");
        if op == want_id {
            return false;
        }
        let id_ok = w.starts_with(|c: char| c.is_ascii_alphabetic())
            && w.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+'));
        if !op && !id_ok {
            return false;
        }
        want_id = op;
        any = true;
    }
    any && !want_id
}

fn properties(p: &Package) -> Vec<Value> {
    let mut props = vec![
        json!({"name": "strata:package:type", "value": p.ptype.as_str()}),
        json!({"name": "strata:location:0:path", "value": format!("/{}", p.location)}),
    ];
    if let Some(l) = &p.layer {
        props.push(json!({"name": "strata:layer:digest", "value": l.digest}));
        if !l.diff_id.is_empty() {
            props.push(json!({"name": "strata:layer:diffID", "value": l.diff_id}));
        }
        if !l.created_by.is_empty() {
            props.push(json!({"name": "strata:layer:createdBy", "value": l.created_by}));
        }
    }
    if let Some(n) = &p.source_name {
        props.push(json!({"name": "strata:package:sourceName", "value": n}));
    }
    if p.source_name.is_some() || p.source_version.is_some() {
        props.push(json!({"name": "strata:package:sourceVersion", "value": p.source_or_version()}));
    }
    if let Some(a) = &p.arch {
        props.push(json!({"name": "strata:package:arch", "value": a}));
    }
    props
}

/// A stable reference for a package inside one document.
pub fn bom_ref(p: &Package, i: usize) -> String {
    format!("{}#{i}", p.purl)
}

/// CycloneDX 1.6 JSON.
pub fn to_cyclonedx(r: &ScanResult, s: &Subject) -> Value {
    let mut components: Vec<Value> = Vec::new();
    if let Some(d) = &r.distro {
        components.push(json!({
            "bom-ref": format!("os:{}@{}", d.id, d.version_id),
            "type": "operating-system",
            "name": d.id,
            "version": d.version_id,
            "description": d.pretty_name,
        }));
    }
    for (i, p) in r.packages.iter().enumerate() {
        let mut c = json!({
            "bom-ref": bom_ref(p, i),
            "type": "library",
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
            "properties": properties(p),
        });
        if p.ptype == PkgType::JavaArchive {
            if let Some((g, a)) = p.name.split_once(':') {
                c["group"] = json!(g);
                c["name"] = json!(a);
            }
        }
        if !p.licenses.is_empty() {
            c["licenses"] = Value::Array(
                p.licenses
                    .iter()
                    .map(|l| {
                        if is_spdx_expression(l) && !l.contains(' ') {
                            json!({"license": {"id": l}})
                        } else if is_spdx_expression(l) {
                            json!({"expression": l})
                        } else {
                            json!({"license": {"name": l}})
                        }
                    })
                    .collect(),
            );
        }
        components.push(c);
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid(&s.name)),
        "version": 1,
        "metadata": {
            "timestamp": timestamp(s),
            "tools": {"components": [{"type": "application", "author": "strata", "name": "strata", "version": s.tool_version}]},
            "component": {"bom-ref": s.id, "type": "container", "name": s.name, "version": s.id},
        },
        "components": components,
    })
}

fn spdx_id(kind: &str, name: &str, i: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-Package-{kind}-{clean}-{i}")
}

/// SPDX 2.3 JSON.
pub fn to_spdx(r: &ScanResult, s: &Subject) -> Value {
    let image_id = "SPDXRef-DocumentRoot-Image".to_string();
    let mut packages = vec![json!({
        "name": s.name,
        "SPDXID": image_id,
        "versionInfo": s.id,
        "supplier": "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    for (i, p) in r.packages.iter().enumerate() {
        let id = spdx_id(p.ptype.as_str(), &p.name, i);
        let lic = p
            .licenses
            .first()
            .filter(|l| is_spdx_expression(l))
            .cloned()
            .unwrap_or_else(|| "NOASSERTION".into());
        let mut source = format!("acquired package info from {} at /{}", p.ptype, p.location);
        if let Some(l) = &p.layer {
            source.push_str(&format!(" in layer {}", l.digest));
        }
        let mut pkg = json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "supplier": "NOASSERTION",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": source,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": lic,
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        });
        pkg["primaryPackagePurpose"] = json!("LIBRARY");
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let safe_name: String = s
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": s.name,
        "documentNamespace": format!("https://strata.invalid/spdx/{safe_name}-{}", uuid(&s.name)),
        "creationInfo": {
            "created": timestamp(s),
            "creators": [format!("Tool: strata-{}", s.tool_version), "Organization: Strata"],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(is_spdx_expression("GPL-2.0-only OR MIT"));
        assert!(!is_spdx_expression("custom:weird/license"));
        assert!(!is_spdx_expression("Apache 2.0"));
        assert!(!is_spdx_expression("MIT AND"));
        assert!(is_spdx_expression(
            "(MIT OR Apache-2.0) AND GPL-2.0-only WITH Classpath-exception-2.0"
        ));
    }
}
