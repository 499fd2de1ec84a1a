//! Debian packages: `var/lib/dpkg/status` (only packages whose status is `installed`)
//! and distroless `var/lib/dpkg/status.d/*` (one control file per package, no status),
//! with `Source:` names and versions, and the files each package owns (`info/*.list`,
//! `status.d/*.md5sums`).

use std::collections::HashSet;

use crate::fs::ImageFs;
use crate::package::{Package, PkgType};

/// Splits a deb822 text into paragraphs of (lower-cased field, value) pairs;
/// continuation lines are joined with newlines.
pub fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = cur.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn field<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

fn package_of(p: &[(String, String)], location: &str, need_status: bool) -> Option<Package> {
    let name = field(p, "package")?;
    let version = field(p, "version")?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    match field(p, "status") {
        Some(s) if s.split_whitespace().nth(2) != Some("installed") => return None,
        Some(_) => {}
        None if need_status => return None,
        None => {}
    }
    let mut pkg = Package::new(PkgType::Deb, name, version, location);
    pkg.arch = field(p, "architecture").map(str::to_string);
    if let Some(src) = field(p, "source") {
        let (sname, sver) = match src.split_once('(') {
            Some((n, v)) => (n.trim(), Some(v.trim_end_matches(')').trim())),
            None => (src.trim(), None),
        };
        if !sname.is_empty() {
            pkg.source_name = Some(sname.to_string());
        }
        if let Some(v) = sver.filter(|v| !v.is_empty() && *v != version) {
            pkg.source_version = Some(v.to_string());
        }
    }
    Some(pkg)
}

/// Finds the Debian packages and the files they own (paths without a leading `/`).
pub fn catalog(fs: &dyn ImageFs) -> (Vec<Package>, Vec<String>) {
    let mut pkgs = Vec::new();
    let mut owned = Vec::new();
    if let Some(c) = fs.read("var/lib/dpkg/status") {
        let location = fs
            .resolve("var/lib/dpkg/status")
            .unwrap_or_else(|| "var/lib/dpkg/status".into());
        for p in paragraphs(&String::from_utf8_lossy(&c)) {
            if let Some(pkg) = package_of(&p, &location, true) {
                let arch = pkg.arch.clone().unwrap_or_default();
                for list in [
                    format!("var/lib/dpkg/info/{}:{arch}.list", pkg.name),
                    format!("var/lib/dpkg/info/{}.list", pkg.name),
                ] {
                    if let Some(l) = fs.read(&list) {
                        owned.extend(
                            String::from_utf8_lossy(&l)
                                .lines()
                                .map(|x| x.trim_start_matches('/').to_string())
                                .filter(|x| !x.is_empty()),
                        );
                        break;
                    }
                }
                pkgs.push(pkg);
            }
        }
    }
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for path in fs.files_under("var/lib/dpkg/status.d") {
        if path.ends_with(".md5sums") {
            if let Some(c) = fs.read(&path) {
                owned.extend(String::from_utf8_lossy(&c).lines().filter_map(|l| {
                    l.split_once(char::is_whitespace)
                        .map(|(_, f)| f.trim().trim_start_matches('/').to_string())
                }));
            }
            continue;
        }
        let Some(c) = fs.read(&path) else { continue };
        for p in paragraphs(&String::from_utf8_lossy(&c)) {
            if let Some(pkg) = package_of(&p, &path, false) {
                if seen.insert((pkg.name.clone(), pkg.arch.clone().unwrap_or_default())) {
                    pkgs.push(pkg);
                }
            }
        }
    }
    (pkgs, owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_fields() {
        let text = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\nSource: glibc\nArchitecture: amd64\nDescription: x\n more\n\nPackage: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let ps = paragraphs(text);
        let a = package_of(&ps[0], "s", true).unwrap();
        assert_eq!(a.source_name.as_deref(), Some("glibc"));
        assert_eq!(a.source_version, None);
        let b = package_of(&ps[1], "s", true).unwrap();
        assert_eq!(b.source_name.as_deref(), Some("openssl"));
        assert_eq!(b.source_version.as_deref(), Some("3.0.11-1~deb12u2"));
        assert!(package_of(&ps[2], "s", true).is_none());
        assert_eq!(field(&ps[0], "description"), Some("x\nmore"));
    }
}
