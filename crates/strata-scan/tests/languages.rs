//! Language catalogers on fixture images: Python, npm, Go and Rust binaries, Java
//! archives (nested too), Ruby gems, and ownership by dpkg.

mod common;

use common::*;
use strata_scan::{scan_image, PkgType, ScanResult};

fn have(r: &ScanResult, t: PkgType, name: &str, version: &str) -> bool {
    r.packages
        .iter()
        .any(|p| p.ptype == t && p.name == name && p.version == version)
}

/// A fake Go 1.18+ executable: an ELF header, padding, then the build-info blob.
fn go_binary(version: &str, modinfo: &str) -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01".to_vec();
    b.resize(4096, 0);
    b.extend_from_slice(b"\xff Go buildinf:");
    b.push(8); // pointer size
    b.push(2); // flags: inline strings
    b.resize(4096 + 32, 0);
    let framed = format!("0123456789abcdef{modinfo}\n0123456789abcde").into_bytes();
    for s in [version.as_bytes(), &framed[..]] {
        let mut n = s.len();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                b.push(byte);
                break;
            }
            b.push(byte | 0x80);
        }
        b.extend_from_slice(s);
    }
    b.resize(b.len() + 512, 0);
    b
}

/// A Go 1.13–1.17 executable: `.go.buildinfo` holds pointers to string headers, found
/// through the section's virtual address.
fn old_go_binary(version: &str, modinfo: &str) -> Vec<u8> {
    const OFF: usize = 0x1000;
    const VA: u64 = 0x40_1000;
    let framed = format!("0123456789abcdef{modinfo}\n0123456789abcde").into_bytes();
    let mut sec = Vec::new();
    sec.extend_from_slice(b"\xff Go buildinf:");
    sec.push(8);
    sec.push(0);
    sec.extend_from_slice(&(VA + 32).to_le_bytes());
    sec.extend_from_slice(&(VA + 48).to_le_bytes());
    let vdata = VA + 64;
    let mdata = vdata + version.len() as u64;
    sec.extend_from_slice(&vdata.to_le_bytes());
    sec.extend_from_slice(&(version.len() as u64).to_le_bytes());
    sec.extend_from_slice(&mdata.to_le_bytes());
    sec.extend_from_slice(&(framed.len() as u64).to_le_bytes());
    sec.extend_from_slice(version.as_bytes());
    sec.extend_from_slice(&framed);
    let strtab = b"\0.go.buildinfo\0.shstrtab\0".to_vec();
    let mut b = vec![0u8; OFF];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    b.extend_from_slice(&sec);
    let str_off = b.len();
    b.extend_from_slice(&strtab);
    while !b.len().is_multiple_of(8) {
        b.push(0);
    }
    let shoff = b.len();
    let sh = |name: u32, addr: u64, off: usize, size: usize| {
        let mut s = vec![0u8; 64];
        s[0..4].copy_from_slice(&name.to_le_bytes());
        s[0x10..0x18].copy_from_slice(&addr.to_le_bytes());
        s[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
        s[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
        s
    };
    b.extend(sh(0, 0, 0, 0));
    b.extend(sh(1, VA, OFF, sec.len()));
    b.extend(sh(15, 0, str_off, strtab.len()));
    b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
    b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    b[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
    b[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
    b
}

/// A minimal ELF64 with a `.dep-v0` section holding zlib-compressed cargo-auditable JSON.
fn rust_binary(json: &str) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(json.as_bytes()).unwrap();
    let dep = z.finish().unwrap();
    let strtab = b"\0.dep-v0\0.shstrtab\0".to_vec();
    let mut b = vec![0u8; 64];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    let dep_off = b.len();
    b.extend_from_slice(&dep);
    let str_off = b.len();
    b.extend_from_slice(&strtab);
    while !b.len().is_multiple_of(8) {
        b.push(0);
    }
    let shoff = b.len();
    let sh = |name: u32, off: usize, size: usize| {
        let mut s = vec![0u8; 64];
        s[0..4].copy_from_slice(&name.to_le_bytes());
        s[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
        s[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
        s
    };
    b.extend(sh(0, 0, 0));
    b.extend(sh(1, dep_off, dep.len()));
    b.extend(sh(9, str_off, strtab.len()));
    b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
    b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    b[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
    b[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
    b
}

#[test]
fn every_language_cataloger() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let go = go_binary(
        "go1.21.3",
        "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.17.0\th1:a=\ndep\tgithub.com/old/lib\tv1.0.0\th1:b=\n=>\tgithub.com/new/lib\tv1.2.0\th1:c=\nbuild\tGOOS=linux",
    );
    let old_go = old_go_binary(
        "go1.16.15",
        "path\texample.com/old\nmod\texample.com/old\tv0.3.0\th1:m=\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:e=\n",
    );
    let rust = rust_binary(
        r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true},{"name":"serde","version":"1.0.190","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#,
    );
    let inner = strata_scan::zip::build(&[(
        "META-INF/maven/org.yaml/snakeyaml/pom.properties",
        b"groupId=org.yaml\nartifactId=snakeyaml\nversion=1.33\n",
    )]);
    let fat = strata_scan::zip::build(&[
        (
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nImplementation-Title: app\n",
        ),
        (
            "META-INF/maven/com.example/app/pom.properties",
            b"groupId=com.example\nartifactId=app\nversion=2.0.0\n",
        ),
        ("BOOT-INF/lib/snakeyaml-1.33.jar", &inner),
    ]);
    let plain = strata_scan::zip::build(&[(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\nImplementation-Version: 3.12.0\n",
    )]);
    let status = "Package: python3-six\nStatus: install ok installed\nArchitecture: all\nVersion: 1.16.0-4\nSource: six\n\n";
    let img = put_image(
        &store,
        "test/lang:1",
        &[
            ("base", Some(layer(&[
                E::F("etc/os-release", DEBIAN_OS_RELEASE),
                E::F("var/lib/dpkg/status", status.as_bytes()),
                E::F("var/lib/dpkg/info/python3-six.list", b"/.\n/usr\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA\n"),
                E::F("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"),
            ]))),
            ("RUN pip install requests", Some(layer(&[
                E::F("usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n\nlong description: Name: fake\n"),
                E::F("usr/local/lib/python3.11/site-packages/Old_Pkg-0.9.egg-info", b"Metadata-Version: 1.0\nName: Old_Pkg\nVersion: 0.9\n"),
            ]))),
            ("RUN npm install", Some(layer(&[
                E::F("app/package.json", br#"{"name":"myapp","version":"1.0.0"}"#),
                E::F("app/node_modules/lodash/package.json", br#"{"name":"lodash","version":"4.17.21","license":"MIT"}"#),
                E::F("app/node_modules/lodash/fp/package.json", br#"{"name":"lodash-fp","version":"0.0.1"}"#),
                E::F("app/node_modules/@babel/core/package.json", br#"{"name":"@babel/core","version":"7.23.2"}"#),
            ]))),
            ("COPY app /usr/local/bin/", Some(layer(&[
                E::X("usr/local/bin/goapp", &go),
                E::X("usr/local/bin/rustapp", &rust),
                E::X("usr/local/bin/oldgo", &old_go),
                E::X("usr/local/bin/script", b"#!/bin/sh\necho hi\n"),
            ]))),
            ("COPY jars /opt/", Some(layer(&[
                E::F("opt/app.jar", &fat),
                E::F("opt/lib/commons-lang3-3.12.0.jar", &plain),
                E::F("usr/local/bundle/specifications/rake-13.0.6.gemspec", b"# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze]\nend\n"),
            ]))),
        ],
    );
    let r = scan_image(&store, &img).unwrap();
    let all: Vec<String> = r
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} #{}",
                p.ptype,
                p.name,
                p.version,
                p.layer.as_ref().unwrap().index
            )
        })
        .collect();
    // The dpkg-owned Python package is reported once, as the deb.
    assert!(
        have(&r, PkgType::Deb, "python3-six", "1.16.0-4"),
        "{all:#?}"
    );
    assert!(
        !r.packages
            .iter()
            .any(|p| p.ptype == PkgType::Python && p.name == "six"),
        "{all:#?}"
    );
    assert!(have(&r, PkgType::Python, "requests", "2.31.0"), "{all:#?}");
    assert!(have(&r, PkgType::Python, "Old_Pkg", "0.9"), "{all:#?}");
    assert!(have(&r, PkgType::Npm, "lodash", "4.17.21"));
    assert!(have(&r, PkgType::Npm, "@babel/core", "7.23.2"));
    assert!(
        !r.packages
            .iter()
            .any(|p| p.name == "lodash-fp" || p.name == "myapp"),
        "{all:#?}"
    );
    assert!(
        have(&r, PkgType::GoModule, "golang.org/x/net", "v0.17.0"),
        "{all:#?}"
    );
    assert!(
        have(&r, PkgType::GoModule, "github.com/new/lib", "v1.2.0"),
        "{all:#?}"
    );
    assert!(have(&r, PkgType::GoModule, "stdlib", "go1.21.3"));
    // The pre-1.18 pointer format.
    assert!(
        have(&r, PkgType::GoModule, "github.com/pkg/errors", "v0.9.1"),
        "{all:#?}"
    );
    assert!(
        have(&r, PkgType::GoModule, "example.com/old", "v0.3.0"),
        "{all:#?}"
    );
    assert!(
        have(&r, PkgType::GoModule, "stdlib", "go1.16.15"),
        "{all:#?}"
    );
    assert!(!r
        .packages
        .iter()
        .any(|p| p.name == "example.com/app" || p.name == "github.com/old/lib"));
    assert!(have(&r, PkgType::RustCrate, "serde", "1.0.190"), "{all:#?}");
    assert!(have(&r, PkgType::RustCrate, "app", "0.1.0"));
    assert!(!r.packages.iter().any(|p| p.name == "cc"));
    assert!(
        have(&r, PkgType::JavaArchive, "com.example:app", "2.0.0"),
        "{all:#?}"
    );
    assert!(
        have(&r, PkgType::JavaArchive, "org.yaml:snakeyaml", "1.33"),
        "{all:#?}"
    );
    assert!(
        have(&r, PkgType::JavaArchive, "commons-lang3", "3.12.0"),
        "{all:#?}"
    );
    assert!(have(&r, PkgType::Gem, "rake", "13.0.6"), "{all:#?}");
    let nested = r
        .packages
        .iter()
        .find(|p| p.name == "org.yaml:snakeyaml")
        .unwrap();
    assert_eq!(
        nested.location,
        "opt/app.jar:BOOT-INF/lib/snakeyaml-1.33.jar"
    );
    assert_eq!(nested.purl, "pkg:maven/org.yaml/snakeyaml@1.33");
    let req = r.packages.iter().find(|p| p.name == "requests").unwrap();
    assert_eq!(
        req.layer.as_ref().unwrap().created_by,
        "RUN pip install requests"
    );
    assert_eq!(req.purl, "pkg:pypi/requests@2.31.0");
    let go = r
        .packages
        .iter()
        .find(|p| p.name == "golang.org/x/net")
        .unwrap();
    assert_eq!(go.location, "usr/local/bin/goapp");
    assert_eq!(go.layer.as_ref().unwrap().index, 3);
    assert_eq!(go.purl, "pkg:golang/golang.org/x/net@v0.17.0");

    // Matching in the language ecosystems: PyPI names are normalised, npm and crates.io
    // use SemVer, Go's stdlib is matched without the "go" prefix.
    let rec = |id: &str, eco: &str, name: &str, fixed: &str| {
        serde_json::json!({"id": id, "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": if eco == "PyPI" || eco == "Maven" { "ECOSYSTEM" } else { "SEMVER" }, "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})
    };
    let recs = serde_json::json!([
        rec("PYSEC-1", "PyPI", "Requests", "2.32.0"),
        rec("GHSA-npm-1", "npm", "lodash", "4.17.21"),
        rec("GHSA-npm-2", "npm", "@babel/core", "7.23.3"),
        rec("GO-2023-1", "Go", "stdlib", "1.21.4"),
        rec("GO-2023-2", "Go", "golang.org/x/net", "0.17.0"),
        rec("RUSTSEC-1", "crates.io", "serde", "1.0.191"),
        rec("GHSA-mvn-1", "Maven", "org.yaml:snakeyaml", "2.0"),
    ]);
    let f = dir.path().join("osv.json");
    std::fs::write(&f, serde_json::to_vec(&recs).unwrap()).unwrap();
    let mut db = strata_scan::vulndb::VulnDb::open(&dir.path().join("osv.db")).unwrap();
    db.import_path(&f).unwrap();
    let found = strata_scan::matcher::match_scan(&db, &r).unwrap();
    let mut ids: Vec<&str> = found.iter().map(|x| x.id.as_str()).collect();
    ids.sort();
    // Both executables' standard libraries (go1.21.3, go1.16.15) are below the fix.
    assert_eq!(
        ids,
        [
            "GHSA-mvn-1",
            "GHSA-npm-2",
            "GO-2023-1",
            "GO-2023-1",
            "PYSEC-1",
            "RUSTSEC-1"
        ]
    );
}
