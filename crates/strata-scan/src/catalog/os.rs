//! The distribution, from os-release (`etc/os-release`, else `usr/lib/os-release`, which
//! distroless images reach through a symlink) and older release files.

use crate::fs::ImageFs;
use crate::package::Distro;

/// Parses `KEY=value` lines with shell-style quotes.
pub fn parse_kv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\$", "$")
                .replace("\\\\", "\\")
        } else {
            v.to_string()
        };
        out.push((k.trim().to_string(), v));
    }
    out
}

/// Reads the distribution of the image, if any file tells.
pub fn detect(fs: &dyn ImageFs) -> Option<Distro> {
    for p in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(c) = fs.read(p) {
            let kv = parse_kv(&String::from_utf8_lossy(&c));
            let get = |k: &str| {
                kv.iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let mut d = Distro {
                id: get("ID").to_lowercase(),
                version_id: get("VERSION_ID"),
                codename: get("VERSION_CODENAME"),
                pretty_name: get("PRETTY_NAME"),
                id_like: get("ID_LIKE")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            };
            if d.id.is_empty() {
                continue;
            }
            if d.version_id.is_empty() && d.id == "debian" {
                // Testing and unstable have no VERSION_ID; debian_version says e.g. trixie/sid.
                if let Some(v) = fs.read("etc/debian_version") {
                    d.version_id = String::from_utf8_lossy(&v).trim().to_string();
                }
            }
            return Some(d);
        }
    }
    if let Some(v) = fs.read("etc/alpine-release") {
        return Some(Distro {
            id: "alpine".into(),
            version_id: String::from_utf8_lossy(&v).trim().to_string(),
            ..Default::default()
        });
    }
    if let Some(c) = fs.read("etc/lsb-release") {
        let kv = parse_kv(&String::from_utf8_lossy(&c));
        let get = |k: &str| kv.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        if let Some(id) = get("DISTRIB_ID") {
            return Some(Distro {
                id: id.to_lowercase(),
                version_id: get("DISTRIB_RELEASE").unwrap_or_default(),
                codename: get("DISTRIB_CODENAME").unwrap_or_default(),
                pretty_name: get("DISTRIB_DESCRIPTION").unwrap_or_default(),
                ..Default::default()
            });
        }
    }
    if let Some(v) = fs.read("etc/debian_version") {
        let v = String::from_utf8_lossy(&v).trim().to_string();
        let major = v.split('.').next().unwrap_or("").to_string();
        return Some(Distro {
            id: "debian".into(),
            version_id: if major.bytes().all(|c| c.is_ascii_digit()) && !major.is_empty() {
                major
            } else {
                v
            },
            ..Default::default()
        });
    }
    for p in [
        "etc/redhat-release",
        "etc/system-release",
        "etc/centos-release",
    ] {
        if let Some(v) = fs.read(p) {
            let text = String::from_utf8_lossy(&v).trim().to_string();
            let lower = text.to_lowercase();
            let id = if lower.starts_with("centos") {
                "centos"
            } else if lower.starts_with("fedora") {
                "fedora"
            } else if lower.starts_with("rocky") {
                "rocky"
            } else if lower.starts_with("almalinux") {
                "almalinux"
            } else {
                "rhel"
            };
            let version = text
                .split_whitespace()
                .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
                .unwrap_or("")
                .to_string();
            return Some(Distro {
                id: id.into(),
                version_id: version,
                pretty_name: text,
                ..Default::default()
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        let kv =
            parse_kv("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nX='a b'\n# c\n");
        assert_eq!(kv[0], ("ID".into(), "debian".into()));
        assert_eq!(kv[1].1, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(kv[2].1, "a b");
    }
}
