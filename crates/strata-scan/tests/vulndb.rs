//! The vulnerability database and matching, on OSV records written for the fixtures.

mod common;

use common::*;
use serde_json::json;
use strata_scan::matcher::{match_scan, Finding};
use strata_scan::severity::Severity;
use strata_scan::vulndb::VulnDb;
use strata_scan::{scan_image, ScanResult};

fn rec(id: &str, eco: &str, name: &str, events: serde_json::Value) -> serde_json::Value {
    json!({
        "schema_version": "1.7.0", "id": id, "modified": "2024-05-01T00:00:00Z",
        "aliases": [id.trim_start_matches("DEBIAN-")], "summary": format!("{id} summary"),
        "affected": [{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
    })
}

fn write_records(dir: &std::path::Path, recs: &[serde_json::Value]) {
    std::fs::create_dir_all(dir).unwrap();
    for r in recs {
        let id = r["id"].as_str().unwrap();
        std::fs::write(
            dir.join(format!("{id}.json")),
            serde_json::to_vec_pretty(r).unwrap(),
        )
        .unwrap();
    }
}

fn debian_scan(store: &strata_store::Store) -> ScanResult {
    let status = [
        deb("libssl3", "3.0.11-1~deb12u2", Some("openssl")),
        deb("openssl", "3.0.11-1~deb12u2", None),
        deb("bash", "5.2.15-2+b2", Some("bash (5.2.15-2)")),
        deb("libpam0g", "1.5.2-6+deb12u1", Some("pam")),
        deb("tar", "1.34+dfsg-1.2+deb12u1", None),
        deb("libsystemd0", "252.22-1~deb12u1", Some("systemd")),
        deb("perl-base", "5.36.0-7+deb12u1", Some("perl")),
        deb("zlib1g", "1:1.2.13.dfsg-1", Some("zlib")),
    ]
    .concat();
    let img = put_image(
        store,
        "test/vulns:1",
        &[(
            "ADD rootfs /",
            Some(layer(&[
                E::F("etc/os-release", DEBIAN_OS_RELEASE),
                E::F("var/lib/dpkg/status", status.as_bytes()),
            ])),
        )],
    );
    scan_image(store, &img).unwrap()
}

fn ids(f: &[Finding], pkg: &str) -> Vec<String> {
    let mut v: Vec<String> = f
        .iter()
        .filter(|x| x.package.name == pkg)
        .map(|x| x.id.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn debian_matching_by_source_with_edges() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path().join("store")).unwrap();
    let scan = debian_scan(&store);
    let osv = dir.path().join("osv");
    write_records(
        &osv,
        &[
            // Fixed just above the installed source version: affected, fix shown.
            rec(
                "DEBIAN-CVE-2024-0001",
                "Debian:12",
                "openssl",
                json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u3"}]),
            ),
            // Fixed exactly at / just below the installed version: not affected.
            rec(
                "DEBIAN-CVE-2024-0002",
                "Debian:12",
                "openssl",
                json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]),
            ),
            rec(
                "DEBIAN-CVE-2024-0003",
                "Debian:12",
                "openssl",
                json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]),
            ),
            // Named by the binary package: Debian records name source packages, so no match.
            rec(
                "DEBIAN-CVE-2024-0004",
                "Debian:12",
                "libssl3",
                json!([{"introduced": "0"}, {"fixed": "9.9-1"}]),
            ),
            // Another release: no match.
            rec(
                "DEBIAN-CVE-2024-0005",
                "Debian:11",
                "openssl",
                json!([{"introduced": "0"}, {"fixed": "9.9-1"}]),
            ),
            // Epochs: a fix with epoch 1 is above 5.2.15-2; zlib's epoch 1 is above a fix without one.
            rec(
                "DEBIAN-CVE-2024-0006",
                "Debian:12",
                "bash",
                json!([{"introduced": "0"}, {"fixed": "1:5.0-1"}]),
            ),
            rec(
                "DEBIAN-CVE-2024-0007",
                "Debian:12",
                "zlib",
                json!([{"introduced": "0"}, {"fixed": "1.3-1"}]),
            ),
            // Unfixed: introduced 0 only.
            rec(
                "DEBIAN-CVE-2024-0008",
                "Debian:12",
                "pam",
                json!([{"introduced": "0"}]),
            ),
            // last_affected equal to the installed version, and just below it.
            rec(
                "DEBIAN-CVE-2024-0009",
                "Debian:12",
                "tar",
                json!([{"introduced": "0"}, {"last_affected": "1.34+dfsg-1.2+deb12u1"}]),
            ),
            rec(
                "DEBIAN-CVE-2024-0010",
                "Debian:12",
                "tar",
                json!([{"introduced": "0"}, {"last_affected": "1.34+dfsg-1.2"}]),
            ),
            // Tilde: 252.22-1~deb12u1 is below 252.22-1, so a fix at 252.22-1 applies.
            rec(
                "DEBIAN-CVE-2024-0011",
                "Debian:12",
                "systemd",
                json!([{"introduced": "0"}, {"fixed": "252.22-1"}]),
            ),
            // Introduced above the installed version: not affected.
            rec(
                "DEBIAN-CVE-2024-0012",
                "Debian:12",
                "perl",
                json!([{"introduced": "5.38.0-1"}, {"fixed": "5.38.2-1"}]),
            ),
        ],
    );
    // A withdrawn record that would otherwise match.
    let mut withdrawn = rec(
        "DEBIAN-CVE-2024-0013",
        "Debian:12",
        "openssl",
        json!([{"introduced": "0"}]),
    );
    withdrawn["withdrawn"] = json!("2024-06-01T00:00:00Z");
    // Severities: a CVSS v3.1 vector, and a source rating.
    let mut cvss = rec(
        "DEBIAN-CVE-2024-0014",
        "Debian:12",
        "perl",
        json!([{"introduced": "0"}, {"fixed": "5.36.0-8"}]),
    );
    cvss["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    let mut rated = rec(
        "DEBIAN-CVE-2024-0015",
        "Debian:12",
        "perl",
        json!([{"introduced": "0"}, {"fixed": "5.36.0-9"}]),
    );
    rated["affected"][0]["ecosystem_specific"] = json!({"urgency": "low"});
    let mut explicit = rec("DEBIAN-CVE-2024-0016", "Debian:12", "perl", json!([]));
    explicit["affected"][0]["ranges"] = json!([]);
    explicit["affected"][0]["versions"] = json!(["5.36.0-7+deb12u1"]);
    write_records(&osv, &[withdrawn, cvss, rated, explicit]);

    let mut db = VulnDb::open(&dir.path().join("db/osv.db")).unwrap();
    let rep = db.import_path(&osv).unwrap();
    assert_eq!(rep.records, 16);
    let f = match_scan(&db, &scan).unwrap();
    assert_eq!(ids(&f, "libssl3"), ["DEBIAN-CVE-2024-0001"]);
    assert_eq!(ids(&f, "openssl"), ["DEBIAN-CVE-2024-0001"]);
    let fixed = f.iter().find(|x| x.package.name == "libssl3").unwrap();
    assert_eq!(fixed.fixed_in.as_deref(), Some("3.0.11-1~deb12u3"));
    assert_eq!(fixed.matched_name, "openssl");
    assert_eq!(ids(&f, "bash"), ["DEBIAN-CVE-2024-0006"]);
    assert!(ids(&f, "zlib1g").is_empty());
    assert_eq!(ids(&f, "libpam0g"), ["DEBIAN-CVE-2024-0008"]);
    assert_eq!(
        f.iter()
            .find(|x| x.id == "DEBIAN-CVE-2024-0008")
            .unwrap()
            .fixed_in,
        None
    );
    assert_eq!(ids(&f, "tar"), ["DEBIAN-CVE-2024-0009"]);
    assert_eq!(ids(&f, "libsystemd0"), ["DEBIAN-CVE-2024-0011"]);
    assert_eq!(
        ids(&f, "perl-base"),
        [
            "DEBIAN-CVE-2024-0014",
            "DEBIAN-CVE-2024-0015",
            "DEBIAN-CVE-2024-0016"
        ]
    );
    let sev = |id: &str| f.iter().find(|x| x.id == id).unwrap().severity;
    assert_eq!(sev("DEBIAN-CVE-2024-0014"), Severity::Critical);
    assert_eq!(
        f.iter()
            .find(|x| x.id == "DEBIAN-CVE-2024-0014")
            .unwrap()
            .cvss
            .as_ref()
            .unwrap()
            .score,
        9.8
    );
    assert_eq!(sev("DEBIAN-CVE-2024-0015"), Severity::Low);
    assert_eq!(sev("DEBIAN-CVE-2024-0001"), Severity::Unknown);
    assert!(!f.iter().any(|x| x.id == "DEBIAN-CVE-2024-0013"));

    let st = db.status().unwrap();
    assert_eq!(st.records, 16);
    assert_eq!(st.withdrawn, 1);
    assert!(st
        .ecosystems
        .iter()
        .any(|(e, n)| e == "Debian:12" && *n == 15));
}

#[test]
fn failed_import_leaves_the_database_intact_and_zip_imports() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(&dir.path().join("osv.db")).unwrap();
    let good = dir.path().join("good");
    write_records(
        &good,
        &[rec(
            "ALPINE-CVE-2024-1",
            "Alpine:v3.19",
            "busybox",
            json!([{"introduced": "0"}, {"fixed": "1.36.1-r16"}]),
        )],
    );
    db.import_path(&good).unwrap();
    let bad = dir.path().join("bad");
    write_records(
        &bad,
        &[rec(
            "ALPINE-CVE-2024-2",
            "Alpine:v3.19",
            "musl",
            json!([{"introduced": "0"}]),
        )],
    );
    std::fs::write(
        bad.join("zzz-broken.json"),
        b"{\"id\": \"X\", \"affected\": [",
    )
    .unwrap();
    let err = db.import_path(&bad).unwrap_err().to_string();
    assert!(
        err.contains("zzz-broken.json") && err.contains("invalid OSV JSON"),
        "{err}"
    );
    let st = db.status().unwrap();
    assert_eq!(st.records, 1);
    assert!(db.record("ALPINE-CVE-2024-2").unwrap().is_none());
    // An ecosystem's all.zip.
    let r2 = serde_json::to_vec(&rec(
        "ALPINE-CVE-2024-2",
        "Alpine:v3.19",
        "musl",
        json!([{"introduced": "0"}]),
    ))
    .unwrap();
    let r3 = serde_json::to_vec(&rec(
        "ALPINE-CVE-2024-3",
        "Alpine:v3.18",
        "musl",
        json!([{"introduced": "0"}]),
    ))
    .unwrap();
    let zip = strata_scan::zip::build(&[
        ("ALPINE-CVE-2024-2.json", &r2),
        ("ALPINE-CVE-2024-3.json", &r3),
    ]);
    let zp = dir.path().join("all.zip");
    std::fs::write(&zp, zip).unwrap();
    assert_eq!(db.import_path(&zp).unwrap().records, 2);
    assert_eq!(db.status().unwrap().records, 3);
    // A missing path is a clear error.
    let err = db
        .import_path(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn alpine_matches_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path().join("store")).unwrap();
    let db_text = "P:busybox\nV:1.36.1-r15\nA:x86_64\no:busybox\n\nP:ssl_client\nV:1.36.1-r15\nA:x86_64\no:busybox\n\nP:musl\nV:1.2.4_git20230717-r4\no:musl\n\n";
    let img = put_image(
        &store,
        "test/alp:1",
        &[(
            "ADD x /",
            Some(layer(&[
                E::F("etc/os-release", ALPINE_OS_RELEASE),
                E::F("lib/apk/db/installed", db_text.as_bytes()),
            ])),
        )],
    );
    let scan = scan_image(&store, &img).unwrap();
    let osv = dir.path().join("osv");
    let mut suffix = rec(
        "ALPINE-CVE-2024-9",
        "Alpine:v3.19",
        "musl",
        json!([{"introduced": "0"}, {"fixed": "1.2.4_git20230717-r5"}]),
    );
    suffix["severity"] = json!([{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]);
    write_records(
        &osv,
        &[
            rec(
                "ALPINE-CVE-2024-1",
                "Alpine:v3.19",
                "busybox",
                json!([{"introduced": "0"}, {"fixed": "1.36.1-r16"}]),
            ),
            // -r9 < -r15 numerically: fixed below the installed version.
            rec(
                "ALPINE-CVE-2024-2",
                "Alpine:v3.19",
                "busybox",
                json!([{"introduced": "0"}, {"fixed": "1.36.1-r9"}]),
            ),
            suffix,
        ],
    );
    let mut db = VulnDb::open(&dir.path().join("osv.db")).unwrap();
    db.import_path(&osv).unwrap();
    let f = match_scan(&db, &scan).unwrap();
    assert_eq!(ids(&f, "busybox"), ["ALPINE-CVE-2024-1"]);
    assert_eq!(ids(&f, "ssl_client"), ["ALPINE-CVE-2024-1"]);
    assert_eq!(ids(&f, "musl"), ["ALPINE-CVE-2024-9"]);
    let m = f.iter().find(|x| x.package.name == "musl").unwrap();
    assert_eq!(m.severity, Severity::High);
    assert_eq!(m.cvss.as_ref().unwrap().score, 7.5);
}

#[test]
fn severity_from_related_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path().join("store")).unwrap();
    let scan = debian_scan(&store);
    let osv = dir.path().join("osv");
    // Debian's records carry no severity; the same CVE elsewhere does.
    let nvd = json!({"id": "CVE-2024-0101", "modified": "2024-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N"}], "affected": []});
    let ubuntu = json!({"id": "UBUNTU-CVE-2024-0102", "modified": "2024-01-01T00:00:00Z", "upstream": ["CVE-2024-0102"],
        "severity": [{"type": "Ubuntu", "score": "medium"}],
        "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "tar"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]});
    let mut withdrawn = json!({"id": "CVE-2024-0103", "modified": "2024-01-01T00:00:00Z", "withdrawn": "2024-02-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]});
    withdrawn["affected"] = json!([]);
    write_records(
        &osv,
        &[
            rec(
                "DEBIAN-CVE-2024-0101",
                "Debian:12",
                "openssl",
                json!([{"introduced": "0"}]),
            ),
            rec(
                "DEBIAN-CVE-2024-0102",
                "Debian:12",
                "tar",
                json!([{"introduced": "0"}]),
            ),
            rec(
                "DEBIAN-CVE-2024-0103",
                "Debian:12",
                "pam",
                json!([{"introduced": "0"}]),
            ),
            nvd,
            ubuntu,
            withdrawn,
        ],
    );
    let mut db = VulnDb::open(&dir.path().join("osv.db")).unwrap();
    db.import_path(&osv).unwrap();
    let f = match_scan(&db, &scan).unwrap();
    let get = |id: &str| f.iter().find(|x| x.id == id).unwrap();
    assert_eq!(get("DEBIAN-CVE-2024-0101").severity, Severity::Medium);
    assert_eq!(
        get("DEBIAN-CVE-2024-0101").cvss.as_ref().unwrap().score,
        6.5
    );
    assert_eq!(get("DEBIAN-CVE-2024-0102").severity, Severity::Medium);
    assert_eq!(get("DEBIAN-CVE-2024-0103").severity, Severity::Unknown);
}
