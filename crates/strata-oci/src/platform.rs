//! Platforms (`os/arch[/variant]`) and matching them the way containerd does.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A platform as in an index entry or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`, `windows`).
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A platform string that cannot be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("\"{0}\": unknown operating system or architecture: invalid argument")]
pub struct PlatformError(pub String);

impl Platform {
    /// Builds `os/arch[/variant]`.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: variant.map(str::to_string),
            ..Default::default()
        }
        .normalized()
    }

    /// The platform this binary runs on.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform::new(std::env::consts::OS, arch, None)
    }

    /// Parses `os[/arch[/variant]]` (also `arch` alone, meaning linux/arch).
    pub fn parse(s: &str) -> Result<Self, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || PlatformError(s.to_string());
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let known_os = [
            "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos",
            "aix", "plan9", "wasip1", "js",
        ];
        let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        Ok(match lower.len() {
            1 if known_os.contains(&lower[0].as_str()) => {
                let host = Platform::host();
                Platform::new(&lower[0], &host.architecture, None)
            }
            1 => Platform::new("linux", &lower[0], None),
            2 => Platform::new(&lower[0], &lower[1], None),
            _ => Platform::new(&lower[0], &lower[1], Some(&lower[2])),
        })
    }

    /// Normalises architecture aliases and default variants (containerd's rules).
    pub fn normalized(mut self) -> Self {
        let (arch, variant) = match (self.architecture.as_str(), self.variant.as_deref()) {
            ("i386", v) => ("386", v.map(str::to_string)),
            ("x86_64" | "x86-64", _) => ("amd64", None),
            ("amd64", Some("v1")) => ("amd64", None),
            ("aarch64" | "arm64", Some("8" | "v8") | None) => ("arm64", Some("v8".to_string())),
            ("aarch64", v) => ("arm64", v.map(str::to_string)),
            ("armhf", _) => ("arm", Some("v7".to_string())),
            ("armel", _) => ("arm", Some("v6".to_string())),
            ("arm", None | Some("7")) => ("arm", Some("v7".to_string())),
            ("arm", Some("5" | "6" | "8")) => {
                let v = format!("v{}", self.variant.as_deref().unwrap_or_default());
                ("arm", Some(v))
            }
            (a, v) => (a, v.map(str::to_string)),
        };
        self.architecture = arch.to_string();
        self.variant = variant;
        self.os = self.os.to_ascii_lowercase();
        self
    }

    /// Whether an image for `other` satisfies a request for `self`.
    /// An arm64 request without variant accepts v8; an unspecified variant in `other`
    /// matches the default.
    pub fn matches(&self, other: &Platform) -> bool {
        let a = self.clone().normalized();
        let b = other.clone().normalized();
        a.os == b.os && a.architecture == b.architecture && a.variant == b.variant
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(
            Platform::parse("linux/arm64").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!(Platform::parse("linux//x").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn matching_uses_normalised_forms() {
        let want = Platform::parse("linux/arm64").unwrap();
        let have = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            ..Default::default()
        };
        assert!(want.matches(&have));
        assert!(!want.matches(&Platform::new("linux", "amd64", None)));
    }
}
