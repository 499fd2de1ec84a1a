//! Test fixtures: layer tars built in memory and images written into a temporary store
//! the way a pull or load would write them.

#![allow(dead_code)]

use serde_json::json;
use strata_store::{ResolvedImage, Store};

/// One entry of a layer.
pub enum E<'a> {
    /// A regular file (mode 0644).
    F(&'a str, &'a [u8]),
    /// An executable file (mode 0755).
    X(&'a str, &'a [u8]),
    /// A directory.
    D(&'a str),
    /// A symlink.
    L(&'a str, &'a str),
    /// A whiteout of a path (`dir/.wh.name`).
    W(&'a str),
    /// An opaque-directory marker in a directory.
    O(&'a str),
}

/// Builds an uncompressed layer tar.
pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        let file =
            |b: &mut tar::Builder<Vec<u8>>, h: &mut tar::Header, p: &str, d: &[u8], m: u32| {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(m);
                h.set_size(d.len() as u64);
                b.append_data(h, p, d).unwrap();
            };
        match e {
            E::F(p, d) => file(&mut b, &mut h, p, d, 0o644),
            E::X(p, d) => file(&mut b, &mut h, p, d, 0o755),
            E::D(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::L(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::W(p) => {
                let (dir, name) = p.rsplit_once('/').unwrap_or(("", p));
                let wp = if dir.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{dir}/.wh.{name}")
                };
                file(&mut b, &mut h, &wp, b"", 0o644);
            }
            E::O(dir) => file(&mut b, &mut h, &format!("{dir}/.wh..wh..opq"), b"", 0o644),
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes an image made of `steps` (CREATED BY, layer or None for an empty layer) into
/// the store under `name` and returns it resolved.
pub fn put_image(store: &Store, name: &str, steps: &[(&str, Option<Vec<u8>>)]) -> ResolvedImage {
    let image = strata_store::NewImage {
        steps: steps
            .iter()
            .map(|(by, t)| strata_store::Step {
                created_by: by.to_string(),
                layer: t.clone(),
            })
            .collect(),
        created: "2024-01-01T00:00:00Z".into(),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: json!({"Cmd": ["/bin/sh"]}),
    };
    let full = strata_oci::Reference::parse_with_default_tag(name)
        .unwrap()
        .to_string();
    let desc = store.write_image(&image, Some(&full)).unwrap();
    store.resolve(&desc, None).unwrap()
}

/// A dpkg status paragraph for an installed package.
pub fn deb(name: &str, version: &str, source: Option<&str>) -> String {
    let mut s = format!("Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: {version}\n");
    if let Some(src) = source {
        s.push_str(&format!("Source: {src}\n"));
    }
    s.push_str("Description: test package\n a longer description\n\n");
    s
}

/// Debian 12 os-release.
pub const DEBIAN_OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
/// Alpine 3.19 os-release.
pub const ALPINE_OS_RELEASE: &[u8] =
    b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";
