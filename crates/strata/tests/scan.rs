//! `strata image sbom`, `strata image vulns` and `strata vulndb` end to end, on images
//! written into a temporary store.

mod common;

use common::*;
use serde_json::Value;
use strata_oci::{chain_ids, Descriptor, Digest};
use strata_scan::scan::SCANNER;

const OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

fn status(pkgs: &[(&str, &str, Option<&str>)]) -> String {
    pkgs.iter()
        .map(|(n, v, s)| {
            let src = s.map(|s| format!("Source: {s}\n")).unwrap_or_default();
            format!("Package: {n}\nStatus: install ok installed\nArchitecture: amd64\n{src}Version: {v}\nDescription: d\n\n")
        })
        .collect()
}

/// The steps of a Debian 12 image: base layer with libc6 and libssl3, then curl.
fn debian_steps() -> Vec<Step> {
    let s0 = status(&[
        ("libc6", "2.36-9+deb12u4", Some("glibc")),
        ("libssl3", "3.0.11-1~deb12u2", Some("openssl")),
    ]);
    let s1 = status(&[
        ("libc6", "2.36-9+deb12u4", Some("glibc")),
        ("libssl3", "3.0.11-1~deb12u2", Some("openssl")),
        ("curl", "7.88.1-10+deb12u5", None),
    ]);
    let l0 = layer_tar(&[
        Entry::File("usr/lib/os-release", OS_RELEASE),
        Entry::Symlink("etc/os-release", "../usr/lib/os-release"),
        Entry::File("var/lib/dpkg/status", s0.as_bytes()),
    ]);
    let l1 = layer_tar(&[Entry::File("var/lib/dpkg/status", s1.as_bytes())]);
    vec![
        step("/bin/sh -c #(nop) ADD file:abc in / ", Some(l0)),
        step("/bin/sh -c apt-get install -y curl", Some(l1)),
    ]
}

/// The Debian 12 image of [`debian_steps`] as `scan/debian:12`.
fn debian_image(env: &Env) -> Descriptor {
    put_image(
        &env.store(),
        Some("scan/debian:12"),
        &debian_steps(),
        &ago(3600),
        "amd64",
        serde_json::json!({}),
    )
}

#[test]
fn sbom_table_and_formats() {
    let env = Env::new();
    debian_image(&env);
    let table = env.ok(&["image", "sbom", "scan/debian:12"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[0].contains("VERSION") && lines[0].contains("TYPE") && lines[0].contains("LAYER")
    );
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[1].starts_with("curl ") && lines[1].contains("#1 apt-get install -y curl"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("libc6 ")
            && lines[2].contains("deb")
            && lines[2].contains("#0 ADD file:abc in /"),
        "{table}"
    );

    let j: Value =
        serde_json::from_str(&env.ok(&["image", "sbom", "--format", "json", "scan/debian:12"]))
            .unwrap();
    assert_eq!(j["distro"]["id"], "debian");
    assert_eq!(j["packages"].as_array().unwrap().len(), 3);
    assert_eq!(
        j["packages"][2]["purl"],
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    );
    assert_eq!(j["image"]["name"], "docker.io/scan/debian:12");

    let c: Value = serde_json::from_str(&env.ok(&[
        "image",
        "sbom",
        "--format",
        "cyclonedx",
        "scan/debian:12",
    ]))
    .unwrap();
    assert_eq!(c["bomFormat"], "CycloneDX");
    assert_eq!(c["specVersion"], "1.6");
    let comps = c["components"].as_array().unwrap();
    assert_eq!(comps[0]["type"], "operating-system");
    assert_eq!(comps.len(), 4);
    assert!(comps.iter().any(|x| x["purl"]
        .as_str()
        .unwrap_or("")
        .starts_with("pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5")));

    let s: Value =
        serde_json::from_str(&env.ok(&["image", "sbom", "--format", "spdx", "scan/debian:12"]))
            .unwrap();
    assert_eq!(s["spdxVersion"], "SPDX-2.3");
    assert_eq!(s["packages"].as_array().unwrap().len(), 4);
    assert_eq!(s["relationships"].as_array().unwrap().len(), 4);
    assert_eq!(s["packages"][1]["externalRefs"][0]["referenceType"], "purl");

    let out = env.dir.path().join("sbom.json");
    env.ok(&[
        "image",
        "sbom",
        "--format",
        "spdx",
        "-o",
        out.to_str().unwrap(),
        "scan/debian:12",
    ]);
    let s2: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(s2["spdxVersion"], "SPDX-2.3");

    let err = env.fails(&["image", "sbom", "--format", "xml", "scan/debian:12"], 1);
    assert!(err.contains("unknown SBOM format \"xml\""), "{err}");
    let err = env.fails(&["image", "sbom", "nosuch/image"], 1);
    assert!(err.contains("No such image: nosuch/image"), "{err}");
}

fn osv(id: &str, eco: &str, name: &str, events: Value) -> Value {
    serde_json::json!({
        "id": id, "modified": "2024-05-01T00:00:00Z", "aliases": [id.trim_start_matches("DEBIAN-")],
        "summary": format!("{id} in {name}"),
        "affected": [{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
    })
}

/// Writes OSV records for the Debian fixture and imports them.
fn import_records(env: &Env) -> std::path::PathBuf {
    let dir = env.dir.path().join("osv");
    std::fs::create_dir_all(&dir).unwrap();
    let mut crit = osv(
        "DEBIAN-CVE-2024-0001",
        "Debian:12",
        "openssl",
        serde_json::json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u3"}]),
    );
    crit["severity"] = serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    let mut low = osv(
        "DEBIAN-CVE-2024-0002",
        "Debian:12",
        "curl",
        serde_json::json!([{"introduced": "0"}]),
    );
    low["affected"][0]["ecosystem_specific"] = serde_json::json!({"urgency": "low"});
    let fixed_below = osv(
        "DEBIAN-CVE-2024-0003",
        "Debian:12",
        "glibc",
        serde_json::json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]),
    );
    for r in [crit, low, fixed_below] {
        std::fs::write(
            dir.join(format!("{}.json", r["id"].as_str().unwrap())),
            serde_json::to_vec(&r).unwrap(),
        )
        .unwrap();
    }
    let out = env.ok(&["vulndb", "import", dir.to_str().unwrap()]);
    assert!(out.contains("Imported 3 records"), "{out}");
    dir
}

#[test]
fn vulns_table_formats_filters_and_gates() {
    let env = Env::new();
    debian_image(&env);
    let err = env.fails(&["image", "vulns", "scan/debian:12"], 1);
    assert!(
        err.contains("no vulnerability database") && err.contains("strata vulndb update"),
        "{err}"
    );
    import_records(&env);

    let status = env.ok(&["vulndb", "status"]);
    assert!(status.contains("Records:    3 (0 withdrawn)"), "{status}");
    assert!(
        status.contains("SOURCE") && status.contains("import") && status.contains("Debian:12"),
        "{status}"
    );

    let table = env.ok(&["image", "vulns", "scan/debian:12"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "scan/debian:12 (debian 12)", "{table}");
    let header = lines[2];
    for col in [
        "NAME",
        "INSTALLED",
        "FIXED-IN",
        "TYPE",
        "VULNERABILITY",
        "SEVERITY",
        "LAYER",
    ] {
        assert!(header.contains(col), "{table}");
    }
    let row = lines.iter().find(|l| l.starts_with("libssl3 ")).unwrap();
    assert!(
        row.contains("3.0.11-1~deb12u3")
            && row.contains("DEBIAN-CVE-2024-0001")
            && row.contains("CRITICAL")
            && row.contains("#0"),
        "{table}"
    );
    let curl = lines.iter().find(|l| l.starts_with("curl ")).unwrap();
    assert!(
        curl.contains("LOW") && curl.contains("#1 apt-get install -y curl"),
        "{table}"
    );
    assert!(!table.contains("DEBIAN-CVE-2024-0003"), "{table}");
    assert!(
        table.contains(
            "Total: 2 (UNKNOWN: 0, NEGLIGIBLE: 0, LOW: 1, MEDIUM: 0, HIGH: 0, CRITICAL: 1)"
        ),
        "{table}"
    );

    let only_fixed = env.ok(&["image", "vulns", "--only-fixed", "scan/debian:12"]);
    assert!(
        !only_fixed.contains("DEBIAN-CVE-2024-0002") && only_fixed.contains("Total: 1"),
        "{only_fixed}"
    );
    let sev = env.ok(&[
        "image",
        "vulns",
        "--severity",
        "low,medium",
        "scan/debian:12",
    ]);
    assert!(
        sev.contains("DEBIAN-CVE-2024-0002") && !sev.contains("DEBIAN-CVE-2024-0001"),
        "{sev}"
    );

    let j: Value =
        serde_json::from_str(&env.ok(&["image", "vulns", "--format", "json", "scan/debian:12"]))
            .unwrap();
    assert_eq!(j["summary"]["total"], 2);
    assert_eq!(
        j["matches"][0]["vulnerability"]["id"],
        "DEBIAN-CVE-2024-0002"
    );
    assert_eq!(j["matches"][1]["vulnerability"]["cvss"]["score"], 9.8);
    assert_eq!(j["matches"][1]["matchedBy"]["name"], "openssl");
    assert_eq!(j["database"]["records"], 3);
    // Trivy's spelling of --only-fixed.
    let unfixed = env.ok(&["image", "vulns", "--ignore-unfixed", "scan/debian:12"]);
    assert!(!unfixed.contains("DEBIAN-CVE-2024-0002"), "{unfixed}");

    let s: Value =
        serde_json::from_str(&env.ok(&["image", "vulns", "--format", "sarif", "scan/debian:12"]))
            .unwrap();
    assert_eq!(s["version"], "2.1.0");
    let rules = s["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules
        .iter()
        .any(|r| r["id"] == "DEBIAN-CVE-2024-0001-libssl3"
            && r["properties"]["security-severity"] == "9.8"));
    assert_eq!(s["runs"][0]["results"].as_array().unwrap().len(), 2);

    let c: Value = serde_json::from_str(&env.ok(&[
        "image",
        "vulns",
        "--format",
        "cyclonedx",
        "scan/debian:12",
    ]))
    .unwrap();
    let v = c["vulnerabilities"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    let comp_refs: Vec<&str> = c["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["bom-ref"].as_str())
        .collect();
    assert!(v
        .iter()
        .all(|x| comp_refs.contains(&x["affects"][0]["ref"].as_str().unwrap())));

    // CI gate: exit 2 at or above the threshold, 0 below it.
    let o = env.run(&["image", "vulns", "--fail-on", "high", "scan/debian:12"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("at or above the severity threshold (high)")
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("DEBIAN-CVE-2024-0001"));
    env.ok(&[
        "image",
        "vulns",
        "--fail-on",
        "critical",
        "--only-fixed",
        "--severity",
        "low",
        "scan/debian:12",
    ]);

    // Ignore file: an active rule with a reason hides the critical finding; an expired one warns.
    let ign = env.dir.path().join("ignore");
    std::fs::write(&ign, "CVE-2024-0001 pkg:libssl3 exp:2999-01-01 # mitigated by config\nCVE-2024-0001 pkg:openssl # whole package\nCVE-2024-0002 exp:2000-01-01 # old\n").unwrap();
    let o = env.run(&[
        "image",
        "vulns",
        "--ignore-file",
        ign.to_str().unwrap(),
        "--fail-on",
        "high",
        "scan/debian:12",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("DEBIAN-CVE-2024-0001")
            && out.contains("Total: 1")
            && out.contains("1 ignored"),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("expired on 2000-01-01"));
    let j: Value = serde_json::from_str(&env.ok(&[
        "image",
        "vulns",
        "--format",
        "json",
        "--ignore-file",
        ign.to_str().unwrap(),
        "scan/debian:12",
    ]))
    .unwrap();
    assert_eq!(
        j["ignored"][0]["ignoreRule"]["reason"],
        "mitigated by config"
    );
    std::fs::write(&ign, "CVE-1 when:soon\n").unwrap();
    let err = env.fails(
        &[
            "image",
            "vulns",
            "--ignore-file",
            ign.to_str().unwrap(),
            "scan/debian:12",
        ],
        1,
    );
    assert!(err.contains("ignore file line 1"), "{err}");
    let err = env.fails(
        &["image", "vulns", "--fail-on", "severe", "scan/debian:12"],
        1,
    );
    assert!(err.contains("invalid severity \"severe\""), "{err}");
}

#[test]
fn vulndb_import_is_atomic_from_the_cli() {
    let env = Env::new();
    // An empty database works but says so.
    debian_image(&env);
    let empty = env.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(env
        .ok(&["vulndb", "import", empty.to_str().unwrap()])
        .contains("Imported 0 records"));
    let o = env.run(&["image", "vulns", "scan/debian:12"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is empty"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("No vulnerabilities found"));
    import_records(&env);
    let bad = env.dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("a.json"),
        serde_json::to_vec(&osv(
            "X-1",
            "npm",
            "left-pad",
            serde_json::json!([{"introduced": "0"}]),
        ))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(bad.join("b.json"), b"{not json").unwrap();
    let err = env.fails(&["vulndb", "import", bad.to_str().unwrap()], 1);
    assert!(
        err.contains("b.json") && err.contains("invalid OSV JSON"),
        "{err}"
    );
    let st: Value =
        serde_json::from_str(&env.ok(&["vulndb", "status", "--format", "json"])).unwrap();
    assert_eq!(st["records"], 3);
}

/// A small HTTP/1.1 file server on 127.0.0.1 (real TCP) serving `files` by path.
fn serve(files: Vec<(String, Vec<u8>)>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n", body.len());
                    let _ = s.write_all(body);
                }
                None => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    format!("http://{addr}")
}

#[test]
fn vulndb_update_from_a_local_server() {
    let env = Env::new();
    debian_image(&env);
    let rec = |id: &str, eco: &str, name: &str| {
        serde_json::to_vec(&osv(
            id,
            eco,
            name,
            serde_json::json!([{"introduced": "0"}, {"fixed": "9.9-1"}]),
        ))
        .unwrap()
    };
    let debian = strata_scan::zip::build(&[
        (
            "DEBIAN-CVE-2024-1000.json",
            &rec("DEBIAN-CVE-2024-1000", "Debian:12", "curl"),
        ),
        (
            "DEBIAN-CVE-2024-1001.json",
            &rec("DEBIAN-CVE-2024-1001", "Debian:11", "curl"),
        ),
    ]);
    let rocky = strata_scan::zip::build(&[(
        "RLSA-2024-1.json",
        &rec("RLSA-2024-1", "Rocky Linux:9", "bash"),
    )]);
    let base = serve(vec![
        ("/osv/Debian/all.zip".into(), debian),
        ("/osv/Rocky%20Linux/all.zip".into(), rocky),
    ]);
    let o = env.run(&[
        "vulndb",
        "update",
        "--base-url",
        &format!("{base}/osv"),
        "Debian",
        "Rocky Linux",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Debian: downloaded") && err.contains("imported 2 records"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Updated 2 ecosystems (3 records)"));
    let status = env.ok(&["vulndb", "status"]);
    assert!(
        status.contains("Records:    3")
            && status.contains("Rocky Linux")
            && status.contains("update"),
        "{status}"
    );
    let table = env.ok(&["image", "vulns", "scan/debian:12"]);
    assert!(
        table.contains("DEBIAN-CVE-2024-1000") && !table.contains("DEBIAN-CVE-2024-1001"),
        "{table}"
    );
    // An ecosystem the server does not have: a clear error, the database unchanged.
    let err = env.fails(
        &[
            "vulndb",
            "update",
            "--base-url",
            &format!("{base}/osv"),
            "NoSuch",
        ],
        1,
    );
    assert!(err.contains("NoSuch: GET") && err.contains("404"), "{err}");
    let st: Value =
        serde_json::from_str(&env.ok(&["vulndb", "status", "--format", "json"])).unwrap();
    assert_eq!(st["records"], 3);
    // With no ecosystem named, those fetched before are fetched again.
    let o = env.run(&["vulndb", "update", "--base-url", &format!("{base}/osv")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Updated 2 ecosystems"));
}

/// `--remote` scans an image in a registry (Strata's own, on loopback) without adding
/// anything to the local store.
#[test]
fn sbom_and_vulns_of_a_remote_image() {
    use std::io::BufRead;
    let env = Env::new();
    debian_image(&env);
    let mut child = env
        .cmd(&["registry", "serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut host = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.strip_prefix("strata registry listening on ") {
            host = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    assert!(!host.is_empty(), "registry did not start");
    std::thread::spawn(move || for _ in err.lines() {});
    let remote = format!("{host}/scan/debian:12");
    env.ok(&["tag", "scan/debian:12", &remote]);
    env.ok(&["push", &remote]);

    let other = Env::new();
    let j: Value = serde_json::from_str(
        &other.ok(&["image", "sbom", "--remote", "--format", "json", &remote]),
    )
    .unwrap();
    let names: Vec<&str> = j["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["curl", "libc6", "libssl3"]);
    assert_eq!(
        j["packages"][0]["layer"]["created_by"],
        "/bin/sh -c apt-get install -y curl"
    );
    assert_eq!(j["image"]["name"], remote);
    import_records(&other);
    let table = other.ok(&["image", "vulns", "--remote", &remote]);
    assert!(
        table.contains("DEBIAN-CVE-2024-0001") && table.contains("Total: 2"),
        "{table}"
    );
    // Nothing was added to the local store.
    assert_eq!(other.ok(&["images", "-q"]).trim(), "");
    assert!(blob_files(&other.root()).is_empty());
    let err = other.fails(
        &[
            "image",
            "sbom",
            "--remote",
            &format!("{host}/scan/nosuch:1"),
        ],
        1,
    );
    assert!(!err.is_empty());
    let _ = child.kill();
    let _ = child.wait();
}

/// The chain IDs of a stored image and which of them have a scan-cache result.
fn cached(env: &Env, image: &Descriptor) -> (Vec<Digest>, Vec<bool>) {
    let store = env.store();
    let img = store.resolve(image, None).unwrap();
    let chains = chain_ids(&img.config.rootfs.diff_ids);
    let rows = store.scan_results(SCANNER, &chains).unwrap();
    (chains, rows.iter().map(Option::is_some).collect())
}

#[test]
fn sbom_and_vulns_share_the_layer_cache() {
    let env = Env::new();
    let base = debian_image(&env);
    import_records(&env);
    // --no-cache reads every layer and records nothing.
    let sbom = |args: &[&str]| -> Value {
        let mut a = vec!["image", "sbom", "--format", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&env.ok(&a)).unwrap()
    };
    let uncached = sbom(&["--no-cache", "scan/debian:12"]);
    assert_eq!(cached(&env, &base).1, vec![false, false]);
    assert_eq!(sbom(&["scan/debian:12"]), uncached);
    assert_eq!(cached(&env, &base).1, vec![true, true]);
    assert_eq!(sbom(&["scan/debian:12"]), uncached);

    // An image built on it, scanned after the base was unpacked into the layer cache.
    let dir = env.dir.path().join("rootfs");
    env.ok(&["image", "unpack", "scan/debian:12", dir.to_str().unwrap()]);
    let s2 = status(&[
        ("libc6", "2.36-9+deb12u4", Some("glibc")),
        ("libssl3", "3.0.11-1~deb12u2", Some("openssl")),
        ("curl", "7.88.1-10+deb12u5", None),
        ("jq", "1.6-2.1", None),
    ]);
    let mut steps = debian_steps();
    steps.push(step(
        "/bin/sh -c apt-get install -y jq",
        Some(layer_tar(&[Entry::File(
            "var/lib/dpkg/status",
            s2.as_bytes(),
        )])),
    ));
    let child = put_image(
        &env.store(),
        Some("scan/child:1"),
        &steps,
        &ago(60),
        "amd64",
        serde_json::json!({}),
    );
    let (chains, rows) = cached(&env, &child);
    assert_eq!(chains[..2], cached(&env, &base).0[..]);
    assert_eq!(rows, vec![true, true, false]);
    let vulns = |args: &[&str]| -> Value {
        let mut a = vec!["image", "vulns", "--format", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&env.ok(&a)).unwrap()
    };
    let child_vulns = vulns(&["scan/child:1"]);
    assert_eq!(cached(&env, &child).1, vec![true, true, true]);
    assert_eq!(vulns(&["--no-cache", "scan/child:1"]), child_vulns);
    let child_sbom = sbom(&["scan/child:1"]);
    assert_eq!(sbom(&["--no-cache", "scan/child:1"]), child_sbom);
    let jq = child_sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "jq")
        .unwrap();
    assert_eq!(jq["layer"]["index"], 2);

    // Removing the child collects its own result; the base's stay.
    env.ok(&["image", "rm", "scan/child:1"]);
    let store = env.store();
    let rows: Vec<bool> = store
        .scan_results(SCANNER, &chains)
        .unwrap()
        .iter()
        .map(Option::is_some)
        .collect();
    assert_eq!(rows, vec![true, true, false]);
}
