//! What a scan finds: packages (with their layer and package URL) and the distribution.

use serde::{Deserialize, Serialize};

/// The kind of a package (Syft's type names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PkgType {
    /// Debian package.
    #[serde(rename = "deb")]
    Deb,
    /// Alpine package.
    #[serde(rename = "apk")]
    Apk,
    /// RPM package.
    #[serde(rename = "rpm")]
    Rpm,
    /// Python distribution.
    #[serde(rename = "python")]
    Python,
    /// npm package.
    #[serde(rename = "npm")]
    Npm,
    /// Go module (from a binary's build information).
    #[serde(rename = "go-module")]
    GoModule,
    /// Rust crate (from a cargo-auditable binary).
    #[serde(rename = "rust-crate")]
    RustCrate,
    /// Java archive.
    #[serde(rename = "java-archive")]
    JavaArchive,
    /// Ruby gem.
    #[serde(rename = "gem")]
    Gem,
}

impl PkgType {
    /// Syft's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            PkgType::Deb => "deb",
            PkgType::Apk => "apk",
            PkgType::Rpm => "rpm",
            PkgType::Python => "python",
            PkgType::Npm => "npm",
            PkgType::GoModule => "go-module",
            PkgType::RustCrate => "rust-crate",
            PkgType::JavaArchive => "java-archive",
            PkgType::Gem => "gem",
        }
    }

    /// Whether this is an OS package manager's package.
    pub fn is_os(self) -> bool {
        matches!(self, PkgType::Deb | PkgType::Apk | PkgType::Rpm)
    }
}

impl std::fmt::Display for PkgType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operating system of an image (from os-release and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID` (debian, ubuntu, alpine, rhel, ...).
    pub id: String,
    /// `VERSION_ID` (12, 22.04, 3.19.1).
    pub version_id: String,
    /// `VERSION_CODENAME`, when given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub codename: String,
    /// `PRETTY_NAME`, when given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
    /// `ID_LIKE` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
}

/// The layer a package came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Index among the image's layers (0 = base).
    pub index: usize,
    /// The layer blob's digest.
    pub digest: String,
    /// The layer's diff ID, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff_id: String,
    /// The history step that made it (`CREATED BY`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

/// One package found in an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Name (Maven: `group:artifact`; Go: module path).
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Kind.
    #[serde(rename = "type")]
    pub ptype: PkgType,
    /// Source package name (Debian `Source:`, Alpine origin, RPM source RPM name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Source package version, when it differs from the binary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Architecture, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Licenses, when recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Where the package was found (the database or metadata file), no leading `/`.
    pub location: String,
    /// The layer it belongs to: the earliest from which it is present continuously up
    /// to the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerRef>,
    /// Package URL.
    pub purl: String,
}

impl Package {
    /// A package with the given identity and everything else empty.
    pub fn new(ptype: PkgType, name: &str, version: &str, location: &str) -> Package {
        Package {
            name: name.to_string(),
            version: version.to_string(),
            ptype,
            source_name: None,
            source_version: None,
            arch: None,
            licenses: Vec::new(),
            location: location.to_string(),
            layer: None,
            purl: String::new(),
        }
    }

    /// The source package's name (the binary's own when there is none).
    pub fn source_or_name(&self) -> &str {
        self.source_name.as_deref().unwrap_or(&self.name)
    }

    /// The source package's version (the binary's own when there is none).
    pub fn source_or_version(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }

    /// The identity used to follow a package across layers.
    pub fn key(&self) -> (PkgType, String, String, String) {
        (
            self.ptype,
            self.name.clone(),
            self.version.clone(),
            self.location.clone(),
        )
    }

    /// Computes the package URL (purl spec) for this package in `distro`.
    pub fn make_purl(&self, distro: Option<&Distro>) -> String {
        let enc = |s: &str| purl_encode(s, false);
        let distro_q = distro.map(|d| format!("{}-{}", d.id, d.version_id));
        let mut q: Vec<(String, String)> = Vec::new();
        let (ty, ns, name) = match self.ptype {
            PkgType::Deb | PkgType::Apk | PkgType::Rpm => {
                let ty = match self.ptype {
                    PkgType::Deb => "deb",
                    PkgType::Apk => "apk",
                    _ => "rpm",
                };
                let ns = distro.map(|d| d.id.clone()).unwrap_or_else(|| {
                    match self.ptype {
                        PkgType::Deb => "debian",
                        PkgType::Apk => "alpine",
                        _ => "redhat",
                    }
                    .to_string()
                });
                if let Some(a) = &self.arch {
                    q.push(("arch".into(), a.clone()));
                }
                if let Some(d) = &distro_q {
                    q.push(("distro".into(), d.clone()));
                }
                if let Some(s) = &self.source_name {
                    let up = match &self.source_version {
                        Some(v) if v != &self.version => format!("{s}@{v}"),
                        _ => s.clone(),
                    };
                    if s != &self.name || up.contains('@') {
                        q.push(("upstream".into(), up));
                    }
                }
                (ty, Some(ns), self.name.clone())
            }
            PkgType::Python => (
                "pypi",
                None,
                crate::version::pep440::normalize_name(&self.name),
            ),
            PkgType::Npm => match self.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, n)) => ("npm", Some(format!("@{scope}")), n.to_string()),
                None => ("npm", None, self.name.clone()),
            },
            PkgType::GoModule => match self.name.rsplit_once('/') {
                Some((ns, n)) => ("golang", Some(ns.to_string()), n.to_string()),
                None => ("golang", None, self.name.clone()),
            },
            PkgType::RustCrate => ("cargo", None, self.name.clone()),
            PkgType::JavaArchive => match self.name.split_once(':') {
                Some((g, a)) => ("maven", Some(g.to_string()), a.to_string()),
                None => ("maven", None, self.name.clone()),
            },
            PkgType::Gem => ("gem", None, self.name.clone()),
        };
        let mut s = format!("pkg:{ty}/");
        if let Some(ns) = ns {
            for seg in ns.split('/') {
                s.push_str(&enc(seg));
                s.push('/');
            }
        }
        s.push_str(&enc(&name));
        if !self.version.is_empty() {
            s.push('@');
            s.push_str(&purl_encode(&self.version, true));
        }
        if !q.is_empty() {
            s.push('?');
            let parts: Vec<String> = q
                .iter()
                .map(|(k, v)| format!("{k}={}", purl_encode(v, false)))
                .collect();
            s.push_str(&parts.join("&"));
        }
        s
    }
}

/// Percent-encodes a purl component: everything but RFC 3986 unreserved characters
/// (and `:`, except in versions, where an epoch colon becomes `%3A`).
pub fn purl_encode(s: &str, version: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (b == b':' && !version);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        let d = Distro {
            id: "debian".into(),
            version_id: "12".into(),
            ..Default::default()
        };
        let mut p = Package::new(
            PkgType::Deb,
            "libssl3",
            "3.0.11-1~deb12u2",
            "var/lib/dpkg/status",
        );
        p.arch = Some("amd64".into());
        p.source_name = Some("openssl".into());
        assert_eq!(
            p.make_purl(Some(&d)),
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
        );
        p.source_version = Some("3.0.11-1".into());
        assert!(p
            .make_purl(Some(&d))
            .ends_with("upstream=openssl%403.0.11-1"));
        let p = Package::new(PkgType::Deb, "bash", "1:5.2-2", "x");
        assert_eq!(
            p.make_purl(Some(&d)),
            "pkg:deb/debian/bash@1%3A5.2-2?distro=debian-12"
        );
        let p = Package::new(PkgType::Npm, "@babel/core", "7.0.0", "x");
        assert_eq!(p.make_purl(None), "pkg:npm/%40babel/core@7.0.0");
        let p = Package::new(PkgType::GoModule, "github.com/a/b", "v1.2.3", "x");
        assert_eq!(p.make_purl(None), "pkg:golang/github.com/a/b@v1.2.3");
        let p = Package::new(PkgType::JavaArchive, "org.apache:commons", "1.0", "x");
        assert_eq!(p.make_purl(None), "pkg:maven/org.apache/commons@1.0");
        let p = Package::new(PkgType::Python, "Foo_Bar", "1.0+local", "x");
        assert_eq!(p.make_purl(None), "pkg:pypi/foo-bar@1.0%2Blocal");
    }
}
