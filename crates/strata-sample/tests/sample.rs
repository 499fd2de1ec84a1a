//! The sample image: well-formed OCI content, deterministic, and published into a
//! registry root that Strata's registry then serves.

use std::io::Read;

use strata_oci::{Digest, Document};
use strata_sample::{demo_advisories, Sample, DESCRIPTION, REPOSITORY, TAG};

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn tar_paths(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
        .collect()
}

fn tar_file(tar: &[u8], path: &str) -> Option<String> {
    let mut a = tar::Archive::new(tar);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == path {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            return Some(s);
        }
    }
    None
}

#[test]
fn build_is_deterministic() {
    let a = Sample::build();
    let b = Sample::build();
    assert_eq!(a.index.digest, b.index.digest);
    assert_eq!(a.index.data, b.index.data);
}

#[test]
fn index_has_two_platforms_and_a_description() {
    let s = Sample::build();
    let Document::Index(idx) = Document::parse(&s.index.data, None).unwrap() else {
        panic!("not an index");
    };
    let plats: Vec<String> = idx
        .manifests
        .iter()
        .map(|d| {
            let p = d.platform.as_ref().unwrap();
            match &p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            }
        })
        .collect();
    assert_eq!(plats, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(
        idx.annotations.as_ref().unwrap()["org.opencontainers.image.description"],
        DESCRIPTION
    );
    for (d, img) in idx.manifests.iter().zip(&s.images) {
        assert_eq!(d.digest, img.manifest.digest);
        assert_eq!(d.size, img.manifest.data.len() as u64);
    }
}

#[test]
fn configs_match_layers_and_history() {
    let s = Sample::build();
    for img in &s.images {
        let Document::Manifest(m) = Document::parse(&img.manifest.data, None).unwrap() else {
            panic!("not a manifest");
        };
        assert_eq!(m.config.digest, img.config.digest);
        assert_eq!(m.layers.len(), img.layers.len());
        let cfg: serde_json::Value = serde_json::from_slice(&img.config.data).unwrap();
        let diff_ids = cfg["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(diff_ids.len(), img.layers.len());
        for ((desc, blob), diff) in m.layers.iter().zip(&img.layers).zip(diff_ids) {
            assert_eq!(desc.digest, Digest::sha256_of(&blob.data));
            assert_eq!(
                diff.as_str().unwrap(),
                Digest::sha256_of(&gunzip(&blob.data)).to_string()
            );
        }
        let history = cfg["history"].as_array().unwrap();
        let non_empty = history
            .iter()
            .filter(|h| h.get("empty_layer") != Some(&serde_json::json!(true)))
            .count();
        assert_eq!(non_empty, img.layers.len());
        let by: Vec<&str> = history
            .iter()
            .map(|h| h["created_by"].as_str().unwrap())
            .collect();
        for word in [
            "ADD file:",
            "CMD [",
            "ENV LANG",
            "RUN ",
            "WORKDIR",
            "COPY ",
            "LABEL ",
            "EXPOSE ",
        ] {
            assert!(
                by.iter().any(|b| b.contains(word)),
                "no {word} step in {by:?}"
            );
        }
        let arch = cfg["architecture"].as_str().unwrap();
        let status = tar_file(&gunzip(&img.layers[1].data), "var/lib/dpkg/status").unwrap();
        assert!(status.contains(&format!("Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12984\nMaintainer: Debian Developers <debian-devel@lists.debian.org>\nArchitecture: {arch}\n")));
        assert!(status.contains("Package: strata-welcome-page\n"));
        assert_eq!(
            cfg["config"]["Labels"]["org.opencontainers.image.description"],
            DESCRIPTION
        );
    }
    // The platform-independent layers are shared.
    assert_eq!(s.images[0].layers[2].digest, s.images[1].layers[2].digest);
    assert_ne!(s.images[0].layers[0].digest, s.images[1].layers[0].digest);
}

#[test]
fn layers_hold_the_page_and_the_python_metadata() {
    let s = Sample::build();
    let img = &s.images[0];
    let site = gunzip(&img.layers[2].data);
    assert!(tar_file(&site, "srv/www/index.html")
        .unwrap()
        .contains("<h1>Welcome to Strata</h1>"));
    let py = gunzip(&img.layers[3].data);
    let paths = tar_paths(&py);
    let info = "usr/local/lib/python3.11/site-packages/strata_welcome-0.9.0.dist-info";
    assert!(paths.contains(&format!("{info}/METADATA")), "{paths:?}");
    let meta = tar_file(&py, &format!("{info}/METADATA")).unwrap();
    assert!(meta.contains("Name: strata-welcome\nVersion: 0.9.0\n"));
    // RECORD's hashes are those of the files (pip's unpadded URL-safe base64 of SHA-256).
    let record = tar_file(&py, &format!("{info}/RECORD")).unwrap();
    let line = record
        .lines()
        .find(|l| l.starts_with("strata_welcome-0.9.0.dist-info/METADATA,"))
        .unwrap();
    assert!(line.ends_with(&format!(",{}", meta.len())));
    let base = gunzip(&img.layers[0].data);
    assert!(tar_file(&base, "usr/lib/os-release")
        .unwrap()
        .contains("VERSION_ID=\"12\""));
}

#[test]
fn publish_then_serve() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let s = Sample::build();
    let d = s.publish(&root, REPOSITORY, TAG).unwrap();
    assert_eq!(d, s.index.digest);
    // Publishing again (blobs present) is fine and changes nothing.
    assert_eq!(s.publish(&root, REPOSITORY, TAG).unwrap(), d);

    let reg = strata_registry::EmbeddedRegistry::start(strata_registry::Config::for_tests(&root))
        .unwrap();
    let get = |path: &str, accept: &str| -> (String, Vec<u8>) {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(reg.addr()).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
            reg.host()
        )
        .unwrap();
        let mut raw = Vec::new();
        c.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&raw[..split]).to_string(),
            raw[split + 4..].to_vec(),
        )
    };
    let (head, body) = get(
        &format!("/v2/{REPOSITORY}/manifests/{TAG}"),
        "application/vnd.oci.image.index.v1+json",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(&format!("{d}")), "{head}");
    assert_eq!(body, s.index.data);
    for b in s.blobs() {
        let (head, _) = get(&format!("/v2/{REPOSITORY}/blobs/{}", b.digest), "*/*");
        assert!(head.starts_with("HTTP/1.1 200"), "{}: {head}", b.digest);
    }
    let (head, body) = get("/v1/search?q=welcome&n=25", "*/*");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["results"][0]["name"], REPOSITORY);
    assert_eq!(v["results"][0]["description"], DESCRIPTION);
    reg.stop();
}

#[test]
fn demo_advisories_are_marked_and_name_the_made_up_packages() {
    let recs = demo_advisories();
    assert_eq!(recs.len(), 2);
    for (name, data) in recs {
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(format!("{}.json", v["id"].as_str().unwrap()), name);
        assert!(v["summary"]
            .as_str()
            .unwrap()
            .contains("not a real vulnerability"));
        let pkg = v["affected"][0]["package"]["name"].as_str().unwrap();
        assert!(pkg.starts_with("strata-welcome"), "{pkg}");
    }
}
