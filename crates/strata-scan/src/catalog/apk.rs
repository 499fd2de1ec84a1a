//! Alpine packages from `lib/apk/db/installed` (or apk 3's `usr/lib/apk/db/installed`):
//! `P` name, `V` version, `A` arch, `L` license, `o` origin (the source package), and
//! `F`/`R` for the files each package owns.

use crate::fs::ImageFs;
use crate::package::{Package, PkgType};

/// Finds the Alpine packages and the files they own.
pub fn catalog(fs: &dyn ImageFs) -> (Vec<Package>, Vec<String>) {
    let mut pkgs = Vec::new();
    let mut owned = Vec::new();
    for db in ["lib/apk/db/installed", "usr/lib/apk/db/installed"] {
        let Some(c) = fs.read(db) else { continue };
        let location = fs.resolve(db).unwrap_or_else(|| db.to_string());
        if pkgs.iter().any(|p: &Package| p.location == location) {
            continue;
        }
        let text = String::from_utf8_lossy(&c);
        for para in text.split("\n\n") {
            let (mut name, mut version, mut arch, mut origin, mut license) =
                (None, None, None, None, None);
            let mut dir = String::new();
            let mut files = Vec::new();
            for line in para.lines() {
                let Some((k, v)) = line.split_once(':') else {
                    continue;
                };
                match k {
                    "P" => name = Some(v.to_string()),
                    "V" => version = Some(v.to_string()),
                    "A" => arch = Some(v.to_string()),
                    "o" => origin = Some(v.to_string()),
                    "L" => license = Some(v.to_string()),
                    "F" => dir = v.to_string(),
                    "R" => files.push(if dir.is_empty() {
                        v.to_string()
                    } else {
                        format!("{dir}/{v}")
                    }),
                    _ => {}
                }
            }
            let (Some(name), Some(version)) = (name, version) else {
                continue;
            };
            let mut p = Package::new(PkgType::Apk, &name, &version, &location);
            p.arch = arch;
            p.source_name = origin;
            if let Some(l) = license {
                p.licenses = vec![l];
            }
            owned.extend(files);
            pkgs.push(p);
        }
    }
    (pkgs, owned)
}
