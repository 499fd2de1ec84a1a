//! Shared helpers for the CLI tests: a temporary store, fixture images written with the
//! store's own API, and running the `strata` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;
use strata_oci::Descriptor;
use strata_store::Store;

/// A temporary store root.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    pub fn store(&self) -> Store {
        Store::open(self.root()).unwrap()
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
        c.args(args)
            .env("STRATA_ROOT", self.root())
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        c
    }
    /// Runs strata and returns the output (any exit code).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    /// Runs strata, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "strata {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    /// Runs strata, asserts failure with `code`, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "strata {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stderr).unwrap()
    }
}

/// One file in a layer.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Whiteout(&'a str),
}

/// Builds an uncompressed layer tar.
pub fn layer_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
            Entry::Whiteout(p) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// gzip-compresses bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A history step: (created_by, layer tar or None for an empty layer).
pub struct Step {
    pub created_by: String,
    pub layer: Option<Vec<u8>>,
}

pub fn step(by: &str, layer: Option<Vec<u8>>) -> Step {
    Step {
        created_by: by.to_string(),
        layer,
    }
}

/// Writes an image into the store directly (the way a pull or load would) and names it.
/// `created` is RFC 3339. Returns the manifest descriptor.
pub fn put_image(
    store: &Store,
    name: Option<&str>,
    steps: &[Step],
    created: &str,
    arch: &str,
    labels: serde_json::Value,
) -> Descriptor {
    let image = strata_store::NewImage {
        steps: steps
            .iter()
            .map(|s| strata_store::Step {
                created_by: s.created_by.clone(),
                layer: s.layer.clone(),
            })
            .collect(),
        created: created.to_string(),
        architecture: arch.to_string(),
        os: "linux".to_string(),
        config: json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"], "Labels": labels}),
    };
    let full = name.map(|n| {
        strata_oci::Reference::parse_with_default_tag(n)
            .unwrap()
            .to_string()
    });
    store.write_image(&image, full.as_deref()).unwrap()
}

/// Writes an index over `entries` (descriptor + platform) and names it.
pub fn put_index(store: &Store, name: &str, entries: &[(Descriptor, &str)]) -> Descriptor {
    let entries: Vec<_> = entries
        .iter()
        .map(|(d, p)| (d.clone(), strata_oci::Platform::parse(p).unwrap()))
        .collect();
    let full = strata_oci::Reference::parse_with_default_tag(name)
        .unwrap()
        .to_string();
    store.write_index(&entries, Some(&full)).unwrap()
}

/// An RFC 3339 time `secs` seconds before now.
pub fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn blob_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether the Docker engine answers. With STRATA_REQUIRE_DOCKER=1 (set by CI when the
/// engine is present) a missing engine is a failure, not a skip.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("STRATA_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "STRATA_REQUIRE_DOCKER=1 but `docker info` fails"
        );
        eprintln!("note: skipping: no Docker engine");
    }
    ok
}

/// Runs docker and returns stdout, asserting success.
pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}
