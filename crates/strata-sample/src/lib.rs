//! Strata's sample image, `welcome-to-strata`, built by code rather than checked in as a
//! blob, and a way to publish it into a registry's storage.
//!
//! `strata tour` publishes it to a registry embedded in the process and walks through
//! the commands against it; `strata registry serve --demo` serves the same content for
//! the dashboard and for trying Docker against Strata.
//!
//! What the image holds (see [`Sample::build`]):
//! * an OCI index with two platforms, `linux/amd64` and `linux/arm64/v8`, annotated with
//!   an `org.opencontainers.image.description` that `strata search` shows;
//! * per platform, an OCI manifest and config with labels, `Env`, `Cmd`, `WorkingDir`,
//!   `ExposedPorts`, and Docker-style history: `ADD`, `RUN`, `COPY`, and the
//!   metadata-only steps (`CMD`, `ENV`, `WORKDIR`, `LABEL`, `EXPOSE`) that `image history`
//!   shows as `0B`;
//! * four gzip layers: a small Debian 12-style base (os-release, a dpkg database listing
//!   a few packages, their `info/*.list` files), a `RUN` layer that adds packages
//!   (among them `strata-welcome-page`), a static web page under `/srv/www`, and the
//!   installed metadata (`.dist-info`) of a Python package, `strata-welcome`.
//!
//! The filesystem is synthetic: the dpkg database lists packages whose files are not
//! included, and there are no executables, so the image is for pulling, listing,
//! inspecting and scanning, not for running. Everything is deterministic (fixed times,
//! sorted tar entries), so the digests are the same on every machine for a given
//! compressor.
//!
//! [`demo_advisories`] gives OSV records, clearly marked as demonstration records, for
//! the two packages the sample made up (`strata-welcome-page` and `strata-welcome`), so
//! that `strata image vulns` has something to find without a real database.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use strata_oci::{media, Digest, Document};
use strata_registry::repo::Repo;
use strata_registry::storage::FsStorage;

/// The repository name the sample is published under.
pub const REPOSITORY: &str = "welcome-to-strata";
/// The tag it is published under.
pub const TAG: &str = "latest";
/// The description `strata search` shows (the index's and configs'
/// `org.opencontainers.image.description`).
pub const DESCRIPTION: &str =
    "Strata's sample image: a static welcome page, a dpkg database and a Python package for sbom and vulns";
/// The version label of the sample.
pub const VERSION: &str = "1.0";

/// When the base layer was made.
const BASE_CREATED: &str = "2025-06-10T00:00:00Z";
/// When the application steps were made.
const APP_CREATED: &str = "2025-06-12T09:41:07Z";
/// Modification time of every tar entry (2025-06-12T09:41:07Z).
const MTIME: u64 = 1_749_721_267;
const BUILDKIT: &str = "buildkit.dockerfile.v0";

/// Errors publishing the sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The registry storage failed.
    #[error("registry storage {path}: {source}")]
    Io {
        /// The storage root.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The registry refused to store a blob.
    #[error("storing blob {digest}: {message}")]
    Blob {
        /// The blob.
        digest: String,
        /// Why.
        message: String,
    },
}

/// One piece of content: a layer, a config, a manifest or the index.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: Digest::sha256_of(&data),
            data,
        }
    }

    fn json(media_type: &str, v: &Value) -> Blob {
        Blob::new(
            media_type,
            serde_json::to_vec(v).expect("JSON values serialize"),
        )
    }

    /// The OCI descriptor of this blob (`mediaType`, `digest`, `size`).
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.data.len(),
        })
    }
}

/// The image for one platform.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The manifest.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers, bottom first (gzip).
    pub layers: Vec<Blob>,
}

/// The whole sample: an index over two platform images.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The OCI index.
    pub index: Blob,
    /// One image per platform, in index order.
    pub images: Vec<PlatformImage>,
}

// ------------------------------------------------------------------------ layers

enum Entry {
    Dir(String, u32),
    File(String, Vec<u8>),
    Symlink(String, String),
}

fn file(path: &str, data: impl Into<Vec<u8>>) -> Entry {
    Entry::File(path.to_string(), data.into())
}

fn dir(path: &str, mode: u32) -> Entry {
    Entry::Dir(path.to_string(), mode)
}

fn link(path: &str, target: &str) -> Entry {
    Entry::Symlink(path.to_string(), target.to_string())
}

/// An uncompressed tar with fixed owners and times, entries in the given order.
fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        let _ = h.set_username("root");
        let _ = h.set_groupname("root");
        match e {
            Entry::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..])
                    .expect("writing to a Vec does not fail");
            }
            Entry::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..])
                    .expect("writing to a Vec does not fail");
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target)
                    .expect("writing to a Vec does not fail");
            }
        }
    }
    b.into_inner().expect("writing to a Vec does not fail")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("writing to a Vec does not fail");
    e.finish().expect("writing to a Vec does not fail")
}

/// A dpkg package as the sample lists it.
struct Deb {
    name: &'static str,
    version: &'static str,
    source: Option<&'static str>,
    arch_all: bool,
    section: &'static str,
    priority: &'static str,
    size_kb: u32,
    depends: &'static str,
    description: &'static str,
    files: &'static [&'static str],
}

const BASE_DEBS: &[Deb] = &[
    Deb {
        name: "base-files",
        version: "12.4+deb12u7",
        source: None,
        arch_all: false,
        section: "admin",
        priority: "required",
        size_kb: 340,
        depends: "",
        description: "Debian base system miscellaneous files",
        files: &[
            "/etc/debian_version",
            "/usr/lib/os-release",
            "/etc/os-release",
        ],
    },
    Deb {
        name: "libc6",
        version: "2.36-9+deb12u8",
        source: Some("glibc"),
        arch_all: false,
        section: "libs",
        priority: "optional",
        size_kb: 12984,
        depends: "libgcc-s1",
        description: "GNU C Library: Shared libraries",
        files: &["/usr/share/doc/libc6/copyright"],
    },
    Deb {
        name: "tzdata",
        version: "2024a-0+deb12u1",
        source: None,
        arch_all: true,
        section: "localization",
        priority: "required",
        size_kb: 2763,
        depends: "debconf (>= 0.5) | debconf-2.0",
        description: "time zone and daylight-saving time data",
        files: &["/usr/share/doc/tzdata/copyright"],
    },
    Deb {
        name: "zlib1g",
        version: "1:1.2.13.dfsg-1",
        source: Some("zlib"),
        arch_all: false,
        section: "libs",
        priority: "optional",
        size_kb: 164,
        depends: "libc6 (>= 2.14)",
        description: "compression library - runtime",
        files: &["/usr/share/doc/zlib1g/copyright"],
    },
];

const RUN_DEBS: &[Deb] = &[
    Deb {
        name: "ca-certificates",
        version: "20230311",
        source: None,
        arch_all: true,
        section: "misc",
        priority: "optional",
        size_kb: 384,
        depends: "openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0",
        description: "Common CA certificates",
        files: &["/usr/share/doc/ca-certificates/copyright"],
    },
    Deb {
        name: "libpython3.11-minimal",
        version: "3.11.2-6+deb12u3",
        source: Some("python3.11"),
        arch_all: false,
        section: "python",
        priority: "optional",
        size_kb: 5059,
        depends: "libc6 (>= 2.14), libssl3 (>= 3.0.0)",
        description: "Minimal subset of the Python language (version 3.11)",
        files: &["/usr/share/doc/libpython3.11-minimal/copyright"],
    },
    Deb {
        name: "python3.11-minimal",
        version: "3.11.2-6+deb12u3",
        source: Some("python3.11"),
        arch_all: false,
        section: "python",
        priority: "optional",
        size_kb: 5920,
        depends: "libpython3.11-minimal (= 3.11.2-6+deb12u3), libexpat1 (>= 2.1~beta3), zlib1g (>= 1:1.2.0)",
        description: "Minimal subset of the Python language (version 3.11)",
        files: &["/usr/share/doc/python3.11-minimal/copyright"],
    },
    Deb {
        name: "python3-minimal",
        version: "3.11.2-1+b1",
        source: Some("python3-defaults (3.11.2-1)"),
        arch_all: false,
        section: "python",
        priority: "optional",
        size_kb: 128,
        depends: "dpkg (>= 1.13.20)",
        description: "minimal subset of the Python language (default version)",
        files: &["/usr/share/doc/python3-minimal/copyright"],
    },
    Deb {
        name: "strata-welcome-page",
        version: "0.9.0-1",
        source: Some("strata-welcome"),
        arch_all: true,
        section: "web",
        priority: "optional",
        size_kb: 12,
        depends: "",
        description: "Strata's sample welcome page (made up for the tour)",
        files: &["/usr/share/strata-welcome/README"],
    },
];

fn dpkg_status(debs: &[&Deb], arch: &str) -> String {
    let mut s = String::new();
    for d in debs {
        s.push_str(&format!("Package: {}\n", d.name));
        s.push_str("Status: install ok installed\n");
        s.push_str(&format!("Priority: {}\n", d.priority));
        s.push_str(&format!("Section: {}\n", d.section));
        s.push_str(&format!("Installed-Size: {}\n", d.size_kb));
        s.push_str("Maintainer: Debian Developers <debian-devel@lists.debian.org>\n");
        s.push_str(&format!(
            "Architecture: {}\n",
            if d.arch_all { "all" } else { arch }
        ));
        if let Some(src) = d.source {
            s.push_str(&format!("Source: {src}\n"));
        }
        s.push_str(&format!("Version: {}\n", d.version));
        if !d.depends.is_empty() {
            s.push_str(&format!("Depends: {}\n", d.depends));
        }
        s.push_str(&format!("Description: {}\n\n", d.description));
    }
    s
}

fn dpkg_list(d: &Deb) -> (String, Vec<u8>) {
    let mut text = String::from("/.\n");
    for f in d.files {
        text.push_str(f);
        text.push('\n');
    }
    (
        format!("var/lib/dpkg/info/{}.list", d.name),
        text.into_bytes(),
    )
}

const OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

fn base_layer(arch: &str) -> Vec<u8> {
    let mut e = vec![
        link("bin", "usr/bin"),
        dir("etc/", 0o755),
        file("etc/debian_version", "12.7\n"),
        file(
            "etc/group",
            "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n",
        ),
        file("etc/hostname", "welcome\n"),
        link("etc/os-release", "../usr/lib/os-release"),
        file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        ),
        link("lib", "usr/lib"),
        dir("root/", 0o700),
        link("sbin", "usr/sbin"),
        dir("srv/", 0o755),
        dir("tmp/", 0o1777),
        dir("usr/", 0o755),
        dir("usr/bin/", 0o755),
        dir("usr/lib/", 0o755),
        file("usr/lib/os-release", OS_RELEASE),
        dir("usr/local/", 0o755),
        dir("usr/sbin/", 0o755),
        dir("usr/share/", 0o755),
        dir("usr/share/doc/", 0o755),
        dir("var/", 0o755),
        dir("var/lib/", 0o755),
        dir("var/lib/dpkg/", 0o755),
        dir("var/lib/dpkg/info/", 0o755),
    ];
    for d in BASE_DEBS {
        let (p, data) = dpkg_list(d);
        e.push(Entry::File(p, data));
    }
    let debs: Vec<&Deb> = BASE_DEBS.iter().collect();
    e.push(file("var/lib/dpkg/status", dpkg_status(&debs, arch)));
    tar_of(&e)
}

fn run_layer(arch: &str) -> Vec<u8> {
    let mut e = vec![
        dir("usr/share/strata-welcome/", 0o755),
        file(
            "usr/share/strata-welcome/README",
            "strata-welcome-page: the page under /srv/www of Strata's sample image.\nIt exists so that `strata image sbom` and `strata image vulns` have a package to show.\n",
        ),
        dir("var/lib/dpkg/", 0o755),
        dir("var/lib/dpkg/info/", 0o755),
    ];
    for d in RUN_DEBS {
        let (p, data) = dpkg_list(d);
        e.push(Entry::File(p, data));
    }
    let mut debs: Vec<&Deb> = BASE_DEBS.iter().chain(RUN_DEBS).collect();
    debs.sort_by_key(|d| d.name);
    e.push(file("var/lib/dpkg/status", dpkg_status(&debs, arch)));
    tar_of(&e)
}

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Welcome to Strata</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <main>
    <h1>Welcome to Strata</h1>
    <p>This page lives in the third layer of <code>welcome-to-strata</code>, Strata's
    sample image. Strata built the image with its own code, published it to its own
    registry, and pulled it back into its image store.</p>
    <p>Try <code>strata image history welcome-to-strata</code> to see how it was made,
    and <code>strata image sbom</code> to see what is inside.</p>
  </main>
</body>
</html>
"#;

const STYLE_CSS: &str = "body { font-family: system-ui, sans-serif; margin: 4rem auto; max-width: 40rem; color: #1d2b36; }\nh1 { color: #2a6f97; }\ncode { background: #eef3f7; padding: 0 .2em; }\n";

fn site_layer() -> Vec<u8> {
    tar_of(&[
        dir("srv/www/", 0o755),
        file("srv/www/index.html", INDEX_HTML),
        file("srv/www/style.css", STYLE_CSS),
    ])
}

/// Unpadded URL-safe base64, as pip writes hashes into `RECORD`.
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

const PY_METADATA: &str = "Metadata-Version: 2.1
Name: strata-welcome
Version: 0.9.0
Summary: The welcome page helper of Strata's sample image (made up for the tour)
Author: Strata developers
License: Apache-2.0
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.9

Serves /srv/www of the welcome-to-strata sample image.
";

const PY_INIT: &str = "\"\"\"Strata's sample package: serves the welcome page.\"\"\"\n\n__version__ = \"0.9.0\"\n\nROOT = \"/srv/www\"\n";

fn python_layer() -> Vec<u8> {
    let site = "usr/local/lib/python3.11/site-packages";
    let info = format!("{site}/strata_welcome-0.9.0.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{info}/INSTALLER"), b"pip\n".to_vec()),
        (format!("{info}/METADATA"), PY_METADATA.as_bytes().to_vec()),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
        (format!("{info}/top_level.txt"), b"strata_welcome\n".to_vec()),
        (
            format!("{site}/strata_welcome/__init__.py"),
            PY_INIT.as_bytes().to_vec(),
        ),
    ];
    let mut record = String::new();
    for (p, data) in &files {
        let rel = p.strip_prefix(&format!("{site}/")).unwrap_or(p);
        let d = Digest::sha256_of(data);
        let raw: Vec<u8> = (0..d.hex().len() / 2)
            .map(|i| u8::from_str_radix(&d.hex()[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        record.push_str(&format!("{rel},sha256={},{}\n", b64url(&raw), data.len()));
    }
    record.push_str("strata_welcome-0.9.0.dist-info/RECORD,,\n");
    let mut e = vec![
        dir("usr/local/lib/", 0o755),
        dir("usr/local/lib/python3.11/", 0o755),
        dir("usr/local/lib/python3.11/site-packages/", 0o755),
    ];
    let mut all = files;
    all.push((format!("{info}/RECORD"), record.into_bytes()));
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dirs_done = std::collections::BTreeSet::new();
    for (p, data) in all {
        let parent = p.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
        if dirs_done.insert(parent.to_string()) {
            e.push(dir(&format!("{parent}/"), 0o755));
        }
        e.push(Entry::File(p, data));
    }
    tar_of(&e)
}

// ------------------------------------------------------------------------ image

/// A step of the build: what `docker history` shows.
struct Step {
    created: &'static str,
    created_by: String,
    comment: Option<&'static str>,
    layer: Option<Vec<u8>>,
}

/// The labels, keys sorted as Go's JSON encoder (and so every Docker-built config) has them.
fn labels() -> Value {
    json!({
        "org.opencontainers.image.created": APP_CREATED,
        "org.opencontainers.image.description": DESCRIPTION,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.title": REPOSITORY,
        "org.opencontainers.image.vendor": "Strata",
        "org.opencontainers.image.version": VERSION,
    })
}

fn platform_image(arch: &str, variant: Option<&str>) -> PlatformImage {
    let base = base_layer(arch);
    let base_id = Digest::sha256_of(&base);
    // The LABEL instruction as the Dockerfile would have it (the config's keys are sorted).
    let label_step = [
        "title",
        "description",
        "version",
        "licenses",
        "vendor",
        "created",
    ]
    .iter()
    .map(|k| {
        let key = format!("org.opencontainers.image.{k}");
        let v = labels()[&key].as_str().unwrap_or_default().to_string();
        format!("{key}={v}")
    })
    .collect::<Vec<_>>()
    .join(" ");
    let steps = vec![
        Step {
            created: BASE_CREATED,
            created_by: format!("/bin/sh -c #(nop) ADD file:{} in / ", base_id.hex()),
            comment: None,
            layer: Some(base),
        },
        Step {
            created: BASE_CREATED,
            created_by: "/bin/sh -c #(nop)  CMD [\"bash\"]".into(),
            comment: None,
            layer: None,
        },
        Step {
            created: APP_CREATED,
            created_by: "ENV LANG=C.UTF-8".into(),
            comment: Some(BUILDKIT),
            layer: None,
        },
        Step {
            created: APP_CREATED,
            created_by: "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates python3-minimal && dpkg -i /tmp/strata-welcome-page_0.9.0-1_all.deb && rm -rf /var/lib/apt/lists/* /tmp/*.deb # buildkit".into(),
            comment: Some(BUILDKIT),
            layer: Some(run_layer(arch)),
        },
        Step {
            created: APP_CREATED,
            created_by: "WORKDIR /srv/www".into(),
            comment: Some(BUILDKIT),
            layer: None,
        },
        Step {
            created: APP_CREATED,
            created_by: "COPY site/ /srv/www/ # buildkit".into(),
            comment: Some(BUILDKIT),
            layer: Some(site_layer()),
        },
        Step {
            created: APP_CREATED,
            created_by: "COPY --from=wheels /usr/local/lib/python3.11/site-packages/ /usr/local/lib/python3.11/site-packages/ # buildkit".into(),
            comment: Some(BUILDKIT),
            layer: Some(python_layer()),
        },
        Step {
            created: APP_CREATED,
            created_by: format!("LABEL {label_step}"),
            comment: Some(BUILDKIT),
            layer: None,
        },
        Step {
            created: APP_CREATED,
            created_by: "EXPOSE map[8080/tcp:{}]".into(),
            comment: Some(BUILDKIT),
            layer: None,
        },
        Step {
            created: APP_CREATED,
            created_by: "CMD [\"python3\" \"-m\" \"http.server\" \"8080\" \"--directory\" \"/srv/www\"]".into(),
            comment: Some(BUILDKIT),
            layer: None,
        },
    ];
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for s in &steps {
        let mut h = json!({"created": s.created, "created_by": s.created_by});
        if let Some(c) = s.comment {
            h["comment"] = json!(c);
        }
        match &s.layer {
            Some(tar) => {
                diff_ids.push(Digest::sha256_of(tar).to_string());
                layers.push(Blob::new(media::OCI_LAYER_GZIP, gzip(tar)));
            }
            None => h["empty_layer"] = json!(true),
        }
        history.push(h);
    }
    let mut config = json!({
        "created": APP_CREATED,
        "architecture": arch,
        "os": "linux",
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    config["config"] = json!({
        "ExposedPorts": {"8080/tcp": {}},
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
        ],
        "Cmd": ["python3", "-m", "http.server", "8080", "--directory", "/srv/www"],
        "WorkingDir": "/srv/www",
        "Labels": labels(),
    });
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    config["history"] = json!(history);
    let config = Blob::json(media::OCI_CONFIG, &config);
    let manifest = Blob::json(
        media::OCI_MANIFEST,
        &json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
            "annotations": {
                "org.opencontainers.image.created": APP_CREATED,
                "org.opencontainers.image.description": DESCRIPTION,
            },
        }),
    );
    let platform = match variant {
        Some(v) => format!("linux/{arch}/{v}"),
        None => format!("linux/{arch}"),
    };
    PlatformImage {
        platform,
        manifest,
        config,
        layers,
    }
}

impl Sample {
    /// Builds the sample (deterministic; takes a few milliseconds).
    pub fn build() -> Sample {
        let images = vec![
            platform_image("amd64", None),
            platform_image("arm64", Some("v8")),
        ];
        let manifests: Vec<Value> = images
            .iter()
            .map(|i| {
                let mut d = i.manifest.descriptor();
                let mut parts = i.platform.split('/');
                let os = parts.next().unwrap_or_default();
                let arch = parts.next().unwrap_or_default();
                d["platform"] = json!({"architecture": arch, "os": os});
                if let Some(v) = parts.next() {
                    d["platform"]["variant"] = json!(v);
                }
                d
            })
            .collect();
        let index = Blob::json(
            media::OCI_INDEX,
            &json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": manifests,
                "annotations": {
                    "org.opencontainers.image.created": APP_CREATED,
                    "org.opencontainers.image.description": DESCRIPTION,
                    "org.opencontainers.image.title": REPOSITORY,
                    "org.opencontainers.image.version": VERSION,
                },
            }),
        );
        Sample { index, images }
    }

    /// Every config and layer blob, each once (platforms share layers).
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut out: Vec<&Blob> = Vec::new();
        for i in &self.images {
            for b in std::iter::once(&i.config).chain(&i.layers) {
                if !out.iter().any(|x| x.digest == b.digest) {
                    out.push(b);
                }
            }
        }
        out
    }

    /// Writes the sample into the registry storage at `root` (Strata's registry layout)
    /// as `repository:tag`, the way a push would: blobs through upload sessions that
    /// verify their digests, then the platform manifests, then the tagged index. Blobs
    /// already present are only linked. Safe while a registry serves `root`. Returns the
    /// index digest.
    pub fn publish(&self, root: &Path, repository: &str, tag: &str) -> Result<Digest, SampleError> {
        let io = |e: std::io::Error| SampleError::Io {
            path: root.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(root).map_err(io)?;
        let repo = Repo::new(Arc::new(FsStorage::new(root).map_err(io)?));
        for (n, b) in self.blobs().into_iter().enumerate() {
            if repo.blob_stat(&b.digest).map_err(io)?.is_some() {
                repo.link_blob(repository, &b.digest).map_err(io)?;
                continue;
            }
            let id = upload_id(&b.digest, n);
            repo.start_upload(repository, &id).map_err(io)?;
            repo.append_upload(&id, &mut &b.data[..], Some(b.data.len() as u64))
                .map_err(|e| SampleError::Blob {
                    digest: b.digest.to_string(),
                    message: e.to_string(),
                })?;
            repo.finish_upload(repository, &id, &b.digest)
                .map_err(|e| SampleError::Blob {
                    digest: b.digest.to_string(),
                    message: e.to_string(),
                })?;
        }
        let put = |b: &Blob, tags: &[String]| -> Result<(), SampleError> {
            let doc =
                Document::parse(&b.data, Some(&b.media_type)).map_err(|e| SampleError::Blob {
                    digest: b.digest.to_string(),
                    message: e.to_string(),
                })?;
            repo.put_manifest(repository, &b.digest, &b.data, &b.media_type, &doc, tags)
                .map_err(io)
        };
        for i in &self.images {
            put(&i.manifest, &[])?;
        }
        put(&self.index, &[tag.to_string()])?;
        Ok(self.index.digest.clone())
    }
}

/// A fresh upload session id (32 lowercase hex, as the registry issues them).
fn upload_id(d: &Digest, n: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default();
    let seed = format!("{d}-{n}-{}-{nanos}", std::process::id());
    Digest::sha256_of(seed.as_bytes()).hex()[..32].to_string()
}

/// OSV records for the two packages the sample made up, `strata-welcome-page` (Debian 12)
/// and `strata-welcome` (PyPI), as `(file name, JSON bytes)`. They are demonstration
/// records, marked as such in their IDs and summaries: importing them into a scratch
/// database lets `strata image vulns` show a finding without network access.
pub fn demo_advisories() -> Vec<(String, Vec<u8>)> {
    let records = [
        json!({
            "schema_version": "1.6.0",
            "id": "STRATA-TOUR-2025-0001",
            "modified": APP_CREATED,
            "published": APP_CREATED,
            "summary": "Demonstration record for the Strata tour (not a real vulnerability): strata-welcome before 1.0.0",
            "details": "This record exists only so that `strata image vulns` has something to find in the welcome-to-strata sample image. The package and the problem are made up.",
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "strata-welcome"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}],
                "database_specific": {"severity": "MEDIUM"},
            }],
        }),
        json!({
            "schema_version": "1.6.0",
            "id": "STRATA-TOUR-2025-0002",
            "modified": APP_CREATED,
            "published": APP_CREATED,
            "summary": "Demonstration record for the Strata tour (not a real vulnerability): strata-welcome-page before 1.0.0-1",
            "details": "This record exists only so that `strata image vulns` has something to find in the welcome-to-strata sample image. The package and the problem are made up.",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "strata-welcome"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0.0-1"}]}],
                "ecosystem_specific": {"urgency": "low"},
            }],
        }),
    ];
    records
        .iter()
        .map(|r| {
            (
                format!("{}.json", r["id"].as_str().unwrap_or("record")),
                serde_json::to_vec_pretty(r).expect("JSON values serialize"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_matches_rfc4648_vectors() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(b"foob"), "Zm9vYg");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }
}
