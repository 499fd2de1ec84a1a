//! Java archives (`.jar`, `.war`, `.ear`, `.jpi`, `.hpi`): `META-INF/maven/**/pom.properties`
//! first, else `META-INF/MANIFEST.MF`, else the file name; nested archives
//! (`BOOT-INF/lib/*.jar`, `WEB-INF/lib/*.jar`, …) are read too.

use crate::fs::ImageFs;
use crate::package::{Package, PkgType};
use crate::zip;

/// Whether a path is a Java archive.
pub fn wants(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    [".jar", ".war", ".ear", ".jpi", ".hpi"]
        .iter()
        .any(|e| l.ends_with(e))
}

fn props(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').or_else(|| l.split_once(':')))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// MANIFEST.MF main section, with continuation lines joined.
fn manifest(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(rest.trim_end_matches('\r'));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((
                k.trim().to_string(),
                v.trim().trim_end_matches('\r').to_string(),
            ));
        }
    }
    out
}

/// `commons-lang3-3.12.0.jar` → (`commons-lang3`, `3.12.0`).
fn from_file_name(path: &str) -> Option<(String, String)> {
    let file = path.rsplit('/').next()?;
    let stem = file.rsplit_once('.')?.0;
    let i = stem
        .match_indices('-')
        .find(|(i, _)| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))?
        .0;
    Some((stem[..i].to_string(), stem[i + 1..].to_string()))
}

fn archive(data: &[u8], location: &str, depth: usize, out: &mut Vec<Package>) {
    let Some(entries) = zip::entries(data) else {
        return;
    };
    let mut found = false;
    for e in &entries {
        if e.name.starts_with("META-INF/maven/") && e.name.ends_with("/pom.properties") {
            let Ok(c) = zip::read(data, e, 1 << 20) else {
                continue;
            };
            let p = props(&String::from_utf8_lossy(&c));
            let get = |k: &str| p.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
            if let (Some(g), Some(a), Some(v)) = (get("groupId"), get("artifactId"), get("version"))
            {
                out.push(Package::new(
                    PkgType::JavaArchive,
                    &format!("{g}:{a}"),
                    &v,
                    location,
                ));
                found = true;
            }
        }
    }
    if !found {
        let mf = entries
            .iter()
            .find(|e| e.name == "META-INF/MANIFEST.MF")
            .and_then(|e| zip::read(data, e, 1 << 20).ok())
            .map(|c| manifest(&String::from_utf8_lossy(&c)))
            .unwrap_or_default();
        let get = |k: &str| mf.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        let file = from_file_name(location.rsplit(':').next().unwrap_or(location));
        let name = file.as_ref().map(|f| f.0.clone()).or_else(|| {
            get("Implementation-Title").or_else(|| {
                get("Bundle-SymbolicName").map(|b| b.split(';').next().unwrap_or("").to_string())
            })
        });
        let version = get("Implementation-Version")
            .or_else(|| get("Bundle-Version"))
            .or_else(|| get("Specification-Version"))
            .or_else(|| file.map(|f| f.1));
        if let (Some(n), Some(v)) = (name, version) {
            let group = get("Implementation-Vendor-Id").or_else(|| {
                get("Bundle-SymbolicName")
                    .map(|b| b.split(';').next().unwrap_or("").to_string())
                    .and_then(|b| b.rsplit_once('.').map(|(g, _)| g.to_string()))
            });
            let full = match group {
                Some(g) if !g.is_empty() => format!("{g}:{n}"),
                _ => n,
            };
            out.push(Package::new(PkgType::JavaArchive, &full, &v, location));
        }
    }
    if depth >= 3 {
        return;
    }
    for e in &entries {
        if wants(&e.name) {
            if let Ok(inner) = zip::read(data, e, 256 << 20) {
                archive(&inner, &format!("{location}:{}", e.name), depth + 1, out);
            }
        }
    }
}

/// Finds the Java packages in every archive.
pub fn catalog(fs: &dyn ImageFs) -> Vec<Package> {
    let mut out = Vec::new();
    for path in fs.files() {
        if wants(&path) {
            if let Some(c) = fs.read(&path) {
                archive(&c, &path, 0, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(
            from_file_name("a/commons-lang3-3.12.0.jar"),
            Some(("commons-lang3".into(), "3.12.0".into()))
        );
        assert_eq!(from_file_name("a/app.jar"), None);
    }
}
