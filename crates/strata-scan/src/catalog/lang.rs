//! Language package metadata files: Python (`*.dist-info/METADATA`, `*.egg-info`), npm
//! (`node_modules/<name>/package.json`, package roots only) and Ruby gemspecs
//! (`specifications/*.gemspec`).

use crate::fs::ImageFs;
use crate::package::{Package, PkgType};

/// Whether a path is a file one of these catalogers reads.
pub fn wants(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || path.ends_with(".egg-info")
        || is_npm_root(path)
        || (path.ends_with(".gemspec") && path.contains("/specifications/"))
}

/// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`.
pub fn is_npm_root(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let parts: Vec<&str> = dir.split('/').collect();
    let n = parts.len();
    if n >= 2 && parts[n - 2] == "node_modules" && !parts[n - 1].starts_with('@') {
        return true;
    }
    n >= 3 && parts[n - 3] == "node_modules" && parts[n - 2].starts_with('@')
}

fn header_fields(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break; // the body (long description) starts here
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn python(fs: &dyn ImageFs, path: &str) -> Option<Package> {
    let c = fs.read(path)?;
    let f = header_fields(&String::from_utf8_lossy(&c));
    let get = |k: &str| f.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let name = get("name")?;
    let version = get("version")?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let mut p = Package::new(PkgType::Python, &name, &version, path);
    if let Some(l) = get("license-expression").or_else(|| get("license")) {
        if !l.is_empty() && l != "UNKNOWN" && l.len() < 100 {
            p.licenses = vec![l];
        }
    }
    Some(p)
}

fn npm(fs: &dyn ImageFs, path: &str) -> Option<Package> {
    let c = fs.read(path)?;
    let v: serde_json::Value = serde_json::from_slice(&c).ok()?;
    let name = v.get("name")?.as_str()?;
    let version = v.get("version")?.as_str()?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let mut p = Package::new(PkgType::Npm, name, version, path);
    let lic = match v.get("license") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(o) => o.get("type").and_then(|t| t.as_str()).map(str::to_string),
        None => None,
    };
    if let Some(l) = lic {
        p.licenses = vec![l];
    }
    Some(p)
}

/// The string assigned to `<var>.<field> =` in a gemspec (`"x"` or `"x".freeze`).
fn gemspec_string(text: &str, field: &str) -> Option<String> {
    for line in text.lines() {
        let t = line.trim();
        let Some((lhs, rhs)) = t.split_once('=') else {
            continue;
        };
        if !lhs.trim_end().ends_with(&format!(".{field}")) {
            continue;
        }
        let rhs = rhs.trim();
        let rhs = rhs.strip_prefix("Gem::Version.new(").unwrap_or(rhs);
        let q = rhs.chars().next()?;
        if q != '"' && q != '\'' {
            continue;
        }
        let rest = &rhs[1..];
        let end = rest.find(q)?;
        return Some(rest[..end].to_string());
    }
    None
}

fn gem(fs: &dyn ImageFs, path: &str) -> Option<Package> {
    let c = fs.read(path)?;
    let text = String::from_utf8_lossy(&c);
    let name = gemspec_string(&text, "name")?;
    let version = gemspec_string(&text, "version")?;
    let mut p = Package::new(PkgType::Gem, &name, &version, path);
    if let Some(l) = text
        .lines()
        .find(|l| l.contains(".licenses =") || l.contains(".license ="))
        .and_then(|l| l.split('"').nth(1))
    {
        p.licenses = vec![l.to_string()];
    }
    Some(p)
}

/// Finds the language packages described by metadata files.
pub fn catalog(fs: &dyn ImageFs) -> Vec<Package> {
    let mut out = Vec::new();
    for path in fs.files() {
        let p = if path.ends_with(".dist-info/METADATA")
            || path.ends_with(".egg-info/PKG-INFO")
            || path.ends_with(".egg-info")
        {
            python(fs, &path)
        } else if is_npm_root(&path) {
            npm(fs, &path)
        } else if path.ends_with(".gemspec") && path.contains("/specifications/") {
            gem(fs, &path)
        } else {
            None
        };
        out.extend(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_roots_only() {
        assert!(is_npm_root("usr/lib/node_modules/npm/package.json"));
        assert!(is_npm_root("app/node_modules/@babel/core/package.json"));
        assert!(!is_npm_root("app/node_modules/lodash/fp/package.json"));
        assert!(!is_npm_root("app/package.json"));
        assert!(!is_npm_root("app/node_modules/@babel/package.json"));
    }

    #[test]
    fn gemspec_fields() {
        let t = "Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze]\nend\n";
        assert_eq!(gemspec_string(t, "name").as_deref(), Some("rake"));
        assert_eq!(gemspec_string(t, "version").as_deref(), Some("13.0.6"));
    }
}
