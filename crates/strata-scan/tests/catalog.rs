//! OS catalogers and layer attribution on images written into a real store.

mod common;

use common::*;
use strata_scan::{scan_image, PkgType, ScanResult};

fn find<'a>(r: &'a ScanResult, name: &str) -> Option<&'a strata_scan::Package> {
    r.packages.iter().find(|p| p.name == name)
}

fn layer_of(r: &ScanResult, name: &str) -> usize {
    find(r, name)
        .unwrap_or_else(|| panic!("{name} not found"))
        .layer
        .as_ref()
        .unwrap()
        .index
}

#[test]
fn dpkg_layers_removal_and_reinstall() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let s0 = [
        deb("libc6", "2.36-9+deb12u4", Some("glibc")),
        deb("bash", "5.2.15-2+b2", Some("bash (5.2.15-2)")),
        deb("tzdata", "2024a-0+deb12u1", None),
    ]
    .concat();
    let s1 = [
        s0.clone(),
        deb("curl", "7.88.1-10+deb12u5", None),
        deb("libcurl4", "7.88.1-10+deb12u5", Some("curl")),
    ]
    .concat();
    let s2 = [
        deb("libc6", "2.36-9+deb12u4", Some("glibc")),
        deb("curl", "7.88.1-10+deb12u5", None),
        deb("libcurl4", "7.88.1-10+deb12u5", Some("curl")),
    ]
    .concat();
    let s3 = [
        s2.clone(),
        deb("bash", "5.2.15-2+b2", Some("bash (5.2.15-2)")),
    ]
    .concat();
    let img = put_image(
        &store,
        "test/dpkg:1",
        &[
            (
                "/bin/sh -c #(nop) ADD file:base in /",
                Some(layer(&[
                    E::F("usr/lib/os-release", DEBIAN_OS_RELEASE),
                    E::L("etc/os-release", "../usr/lib/os-release"),
                    E::F("var/lib/dpkg/status", s0.as_bytes()),
                    E::F("var/lib/dpkg/info/bash.list", b"/bin/bash\n"),
                ])),
            ),
            ("/bin/sh -c #(nop) CMD [\"bash\"]", None),
            (
                "RUN apt-get install -y curl",
                Some(layer(&[E::F("var/lib/dpkg/status", s1.as_bytes())])),
            ),
            (
                "RUN apt-get purge -y tzdata bash",
                Some(layer(&[
                    E::F("var/lib/dpkg/status", s2.as_bytes()),
                    E::W("var/lib/dpkg/info/bash.list"),
                ])),
            ),
            (
                "RUN apt-get install -y bash",
                Some(layer(&[E::F("var/lib/dpkg/status", s3.as_bytes())])),
            ),
            (
                "RUN echo unrelated",
                Some(layer(&[E::F("etc/motd", b"hi")])),
            ),
        ],
    );
    let r = scan_image(&store, &img).unwrap();
    let d = r.distro.as_ref().unwrap();
    assert_eq!((d.id.as_str(), d.version_id.as_str()), ("debian", "12"));
    let names: Vec<&str> = r.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["bash", "curl", "libc6", "libcurl4"]);
    assert_eq!(layer_of(&r, "libc6"), 0);
    assert_eq!(layer_of(&r, "curl"), 1);
    assert_eq!(layer_of(&r, "libcurl4"), 1);
    // Removed in layer 2 and installed again in layer 3: it belongs to layer 3.
    assert_eq!(layer_of(&r, "bash"), 3);
    assert!(find(&r, "tzdata").is_none());
    let bash = find(&r, "bash").unwrap();
    assert_eq!(bash.source_name.as_deref(), Some("bash"));
    assert_eq!(bash.source_version.as_deref(), Some("5.2.15-2"));
    assert_eq!(
        bash.layer.as_ref().unwrap().created_by,
        "RUN apt-get install -y bash"
    );
    assert_eq!(
        find(&r, "curl").unwrap().layer.as_ref().unwrap().created_by,
        "RUN apt-get install -y curl"
    );
    let libcurl = find(&r, "libcurl4").unwrap();
    assert_eq!(libcurl.ptype, PkgType::Deb);
    assert_eq!(
        libcurl.purl,
        "pkg:deb/debian/libcurl4@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12&upstream=curl"
    );
    assert_eq!(r.layers.len(), 5);
    assert_eq!(
        r.layers[0].diff_id,
        img.config.rootfs.diff_ids[0].to_string()
    );
}

#[test]
fn distroless_status_d_with_whiteout() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let img = put_image(
        &store,
        "test/distroless:1",
        &[
            ("bazel build //base", Some(layer(&[
                E::D("etc/"),
                E::L("etc/os-release", "../usr/lib/os-release"),
                E::F("usr/lib/os-release", b"PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\nVERSION=\"Debian GNU/Linux 12 (bookworm)\"\nHOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\n"),
                E::F("var/lib/dpkg/status.d/base-files", b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nMaintainer: x\n"),
                E::F("var/lib/dpkg/status.d/libc6", b"Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n"),
                E::F("var/lib/dpkg/status.d/libc6.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  lib/x86_64-linux-gnu/libc.so.6\n"),
            ]))),
            ("bazel build //ssl", Some(layer(&[
                E::F("var/lib/dpkg/status.d/libssl3", b"Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n"),
            ]))),
            ("bazel build //strip", Some(layer(&[E::W("var/lib/dpkg/status.d/base-files")]))),
        ],
    );
    let r = scan_image(&store, &img).unwrap();
    assert_eq!(r.distro.as_ref().unwrap().version_id, "12");
    let names: Vec<&str> = r.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["libc6", "libssl3"]);
    assert_eq!(layer_of(&r, "libc6"), 0);
    assert_eq!(layer_of(&r, "libssl3"), 1);
    assert_eq!(
        find(&r, "libssl3").unwrap().location,
        "var/lib/dpkg/status.d/libssl3"
    );
    assert_eq!(
        find(&r, "libssl3").unwrap().source_name.as_deref(),
        Some("openssl")
    );
}

#[test]
fn opaque_directory_hides_lower_packages() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let img = put_image(
        &store,
        "test/opaque:1",
        &[
            (
                "base",
                Some(layer(&[
                    E::F("etc/os-release", DEBIAN_OS_RELEASE),
                    E::F("var/lib/dpkg/status.d/a", b"Package: a\nVersion: 1\n"),
                    E::F("var/lib/dpkg/status.d/b", b"Package: b\nVersion: 1\n"),
                ])),
            ),
            (
                "replace",
                Some(layer(&[
                    E::O("var/lib/dpkg/status.d"),
                    E::F("var/lib/dpkg/status.d/b", b"Package: b\nVersion: 2\n"),
                ])),
            ),
        ],
    );
    let r = scan_image(&store, &img).unwrap();
    let got: Vec<(String, String, usize)> = r
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.layer.as_ref().unwrap().index,
            )
        })
        .collect();
    assert_eq!(got, vec![("b".to_string(), "2".to_string(), 1)]);
}

#[test]
fn apk_with_origins() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let db0 = "C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:383152\nI:622592\nT:the musl c library\nL:MIT\no:musl\nm:Timo\nt:1705331393\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:bin\nR:busybox\n\n";
    let db1 = format!("{db0}P:ssl_client\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:usr/bin\nR:ssl_client\n\n");
    let img = put_image(
        &store,
        "test/alpine:3.19",
        &[
            (
                "ADD alpine-minirootfs.tar.gz /",
                Some(layer(&[
                    E::F("etc/os-release", ALPINE_OS_RELEASE),
                    E::F("etc/alpine-release", b"3.19.1\n"),
                    E::F("lib/apk/db/installed", db0.as_bytes()),
                ])),
            ),
            (
                "RUN apk add ssl_client",
                Some(layer(&[E::F("lib/apk/db/installed", db1.as_bytes())])),
            ),
        ],
    );
    let r = scan_image(&store, &img).unwrap();
    assert_eq!(r.distro.as_ref().unwrap().id, "alpine");
    let names: Vec<&str> = r.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["busybox", "musl", "ssl_client"]);
    let ssl = find(&r, "ssl_client").unwrap();
    assert_eq!(ssl.source_name.as_deref(), Some("busybox"));
    assert_eq!(layer_of(&r, "ssl_client"), 1);
    assert_eq!(layer_of(&r, "musl"), 0);
    assert_eq!(find(&r, "musl").unwrap().licenses, vec!["MIT".to_string()]);
    assert_eq!(
        ssl.purl,
        "pkg:apk/alpine/ssl_client@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox"
    );
}

/// The machine's own dpkg database, packed as an image, must give exactly what
/// `dpkg-query` reports here.
#[test]
fn real_debian_dpkg_database_matches_dpkg_query() {
    let status = match std::fs::read("/var/lib/dpkg/status") {
        Ok(s) => s,
        Err(_) => {
            assert!(
                std::env::var("STRATA_REQUIRE_SCAN_REFS").as_deref() != Ok("1"),
                "no /var/lib/dpkg/status"
            );
            eprintln!("SKIPPED: this machine has no dpkg database");
            return;
        }
    };
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}\t${Package}\t${Architecture}\t${Version}\t${source:Package}\t${source:Version}\n"])
        .output()
        .unwrap();
    let mut want: Vec<(String, String, String, String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0] == "installed").then(|| {
                (
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].to_string(),
                    f[4].to_string(),
                    f[5].to_string(),
                )
            })
        })
        .collect();
    want.sort();
    assert!(want.len() > 50);
    let os_release = std::fs::read("/etc/os-release").unwrap();
    let mut entries = vec![
        E::F("etc/os-release", &os_release),
        E::F("var/lib/dpkg/status", &status),
    ];
    let lists: Vec<(String, Vec<u8>)> = std::fs::read_dir("/var/lib/dpkg/info")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".list"))
        .map(|e| {
            (
                format!("var/lib/dpkg/info/{}", e.file_name().to_string_lossy()),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    for (p, c) in &lists {
        entries.push(E::F(p, c));
    }
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let img = put_image(
        &store,
        "test/host:latest",
        &[("ADD rootfs /", Some(layer(&entries)))],
    );
    let r = scan_image(&store, &img).unwrap();
    let mut got: Vec<(String, String, String, String, String)> = r
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.arch.clone().unwrap_or_default(),
                p.version.clone(),
                p.source_or_name().to_string(),
                p.source_or_version().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    eprintln!(
        "dpkg cataloger: {} packages identical to dpkg-query",
        got.len()
    );
}
