//! The catalogers: each reads the merged filesystem through [`ImageFs`] and reports
//! packages. [`Catalogers`] is also the [`Selector`] telling the filesystem which files
//! to keep while layers stream past.

pub mod apk;
pub mod binary;
pub mod dpkg;
pub mod java;
pub mod lang;
pub mod os;
pub mod rpm;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::fs::{ImageFs, Selector, Want};
use crate::package::{Distro, Package};

/// The full set of catalogers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Catalogers;

/// Files the OS catalogers read, exactly.
const OS_FILES: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/lsb-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
    "etc/system-release",
    "etc/centos-release",
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "usr/lib/apk/db/installed",
];

impl Selector for Catalogers {
    fn want(&self, path: &str, _size: u64, mode: u32) -> Want {
        if OS_FILES.contains(&path)
            || path.starts_with("var/lib/dpkg/status.d/")
            || (path.starts_with("var/lib/dpkg/info/") && path.ends_with(".list"))
            || rpm::wants(path)
        {
            return Want::Content;
        }
        if lang::wants(path) || java::wants(path) {
            return Want::Content;
        }
        if mode & 0o111 != 0 {
            return Want::Executable;
        }
        Want::Nothing
    }

    fn summarize(&self, _path: &str, data: &[u8]) -> Option<Vec<u8>> {
        binary::summarize(data)
    }
}

/// Everything found in one filesystem state (also what the scan cache keeps per chain
/// ID, as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Found {
    /// The distribution.
    pub distro: Option<Distro>,
    /// Packages (purls not yet computed, no layers).
    pub packages: Vec<Package>,
}

/// Runs every cataloger. Language packages whose metadata or binary an OS package owns
/// are dropped (they are the OS package's files).
pub fn catalog(fs: &dyn ImageFs) -> Found {
    let distro = os::detect(fs);
    let mut packages = Vec::new();
    let mut owned_raw = Vec::new();
    for (p, o) in [dpkg::catalog(fs), apk::catalog(fs), rpm::catalog(fs)] {
        packages.extend(p);
        owned_raw.extend(o);
    }
    let mut lang: Vec<Package> = lang::catalog(fs);
    lang.extend(binary::catalog(fs));
    lang.extend(java::catalog(fs));
    if !lang.is_empty() {
        // A nested archive's location is `outer.jar:inner.jar`; ownership is of the file.
        let file_of = |l: &str| l.split(':').next().unwrap_or(l).to_string();
        let wanted: HashSet<String> = lang.iter().map(|p| file_of(&p.location)).collect();
        let owned: HashSet<String> = owned_raw
            .iter()
            .filter_map(|o| {
                if wanted.contains(o.as_str()) {
                    Some(o.clone())
                } else {
                    fs.resolve(o).filter(|r| wanted.contains(r.as_str()))
                }
            })
            .collect();
        packages.extend(
            lang.into_iter()
                .filter(|p| !owned.contains(&file_of(&p.location))),
        );
    }
    Found { distro, packages }
}
