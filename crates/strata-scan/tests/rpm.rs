//! RPM databases in all three formats (SQLite, NDB, Berkeley DB hash), built here from
//! header blobs; and, where rpm and rpmbuild are installed, databases written by rpm
//! itself compared with `rpm -qa`.

mod common;

use common::*;
use strata_scan::{scan_image, PkgType, ScanResult};

const RHEL_OS_RELEASE: &[u8] = b"NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n";

/// A header blob: index entries then the data store (big-endian).
fn header(
    name: &str,
    epoch: Option<u32>,
    version: &str,
    release: &str,
    arch: &str,
    srpm: &str,
    files: &[(&str, &str)],
) -> Vec<u8> {
    let mut entries: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let string =
        |tag: u32, s: &str, entries: &mut Vec<(u32, u32, u32, u32)>, data: &mut Vec<u8>| {
            entries.push((tag, 6, data.len() as u32, 1));
            data.extend_from_slice(s.as_bytes());
            data.push(0);
        };
    string(1000, name, &mut entries, &mut data);
    string(1001, version, &mut entries, &mut data);
    string(1002, release, &mut entries, &mut data);
    string(1022, arch, &mut entries, &mut data);
    string(1044, srpm, &mut entries, &mut data);
    string(1014, "MIT", &mut entries, &mut data);
    if let Some(e) = epoch {
        while !data.len().is_multiple_of(4) {
            data.push(0);
        }
        entries.push((1003, 4, data.len() as u32, 1));
        data.extend_from_slice(&e.to_be_bytes());
    }
    if !files.is_empty() {
        let dirs: Vec<&str> = files.iter().map(|f| f.0).collect();
        while !data.len().is_multiple_of(4) {
            data.push(0);
        }
        entries.push((1116, 4, data.len() as u32, files.len() as u32));
        for i in 0..files.len() {
            data.extend_from_slice(&(i as u32).to_be_bytes());
        }
        entries.push((1117, 8, data.len() as u32, files.len() as u32));
        for f in files {
            data.extend_from_slice(f.1.as_bytes());
            data.push(0);
        }
        entries.push((1118, 8, data.len() as u32, dirs.len() as u32));
        for d in dirs {
            data.extend_from_slice(d.as_bytes());
            data.push(0);
        }
    }
    let mut b = Vec::new();
    b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    for (t, ty, off, c) in entries {
        for v in [t, ty, off, c] {
            b.extend_from_slice(&v.to_be_bytes());
        }
    }
    b.extend_from_slice(&data);
    b
}

fn blobs() -> Vec<Vec<u8>> {
    vec![
        header(
            "openssl-libs",
            Some(1),
            "3.0.7",
            "27.el9",
            "x86_64",
            "openssl-3.0.7-27.el9.src.rpm",
            &[("/usr/lib64/", "libssl.so.3")],
        ),
        header(
            "bash",
            None,
            "5.1.8",
            "9.el9",
            "x86_64",
            "bash-5.1.8-9.el9.src.rpm",
            &[("/usr/bin/", "bash")],
        ),
        header(
            "python3-six",
            None,
            "1.15.0",
            "9.el9",
            "noarch",
            "python-six-1.15.0-9.el9.src.rpm",
            &[(
                "/usr/lib/python3.9/site-packages/six-1.15.0.dist-info/",
                "METADATA",
            )],
        ),
        header(
            "gpg-pubkey",
            None,
            "5a6340b3",
            "6229229e",
            "(none)",
            "(none)",
            &[],
        ),
    ]
}

fn sqlite_db(blobs: &[Vec<u8>]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rpmdb.sqlite");
    let c = rusqlite::Connection::open(&p).unwrap();
    c.execute_batch(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
    )
    .unwrap();
    for b in blobs {
        c.execute("INSERT INTO Packages(blob) VALUES (?1)", [b])
            .unwrap();
    }
    drop(c);
    std::fs::read(&p).unwrap()
}

/// NDB: 32-byte header, one page of slots, blobs in 16-byte blocks after it.
fn ndb_db(blobs: &[Vec<u8>]) -> Vec<u8> {
    let mut d = vec![0u8; 4096];
    d[0..4].copy_from_slice(b"RpmP");
    d[12..16].copy_from_slice(&1u32.to_le_bytes());
    for (i, b) in blobs.iter().enumerate() {
        while !d.len().is_multiple_of(16) {
            d.push(0);
        }
        let blk = d.len() / 16;
        let s = 32 + i * 16;
        d[s..s + 4].copy_from_slice(b"Slot");
        d[s + 4..s + 8].copy_from_slice(&(i as u32 + 1).to_le_bytes());
        d[s + 8..s + 12].copy_from_slice(&(blk as u32).to_le_bytes());
        d[s + 12..s + 16].copy_from_slice(&(((b.len() + 32) / 16) as u32).to_le_bytes());
        d.extend_from_slice(b"BlbS");
        d.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&(b.len() as u32).to_le_bytes());
        d.extend_from_slice(b);
    }
    while !d.len().is_multiple_of(16) {
        d.push(0);
    }
    d
}

/// Berkeley DB hash: meta page, one hash page of key/off-page-value pairs, overflow
/// page chains holding the blobs (little-endian, 4096-byte pages).
fn bdb_db(blobs: &[Vec<u8>]) -> Vec<u8> {
    const PS: usize = 4096;
    let mut pages: Vec<Vec<u8>> = vec![vec![0u8; PS], vec![0u8; PS]];
    let mut offpage: Vec<(u32, u32)> = Vec::new();
    for b in blobs {
        let chunks: Vec<&[u8]> = b.chunks(PS - 26).collect();
        let first = pages.len();
        for (k, c) in chunks.iter().enumerate() {
            let mut p = vec![0u8; PS];
            let no = (first + k) as u32;
            p[8..12].copy_from_slice(&no.to_le_bytes());
            let next = if k + 1 < chunks.len() { no + 1 } else { 0 };
            p[16..20].copy_from_slice(&next.to_le_bytes());
            p[22..24].copy_from_slice(&(c.len() as u16).to_le_bytes());
            p[25] = 7; // P_OVERFLOW
            p[26..26 + c.len()].copy_from_slice(c);
            pages.push(p);
        }
        offpage.push((first as u32, b.len() as u32));
    }
    let meta = &mut pages[0];
    meta[12..16].copy_from_slice(&0x061561u32.to_le_bytes());
    meta[16..20].copy_from_slice(&9u32.to_le_bytes());
    meta[20..24].copy_from_slice(&(PS as u32).to_le_bytes());
    meta[25] = 8; // P_HASHMETA
    let last = (pages.len() - 1) as u32;
    pages[0][32..36].copy_from_slice(&last.to_le_bytes());
    let hp = &mut pages[1];
    hp[8..12].copy_from_slice(&1u32.to_le_bytes());
    hp[25] = 13; // P_HASH
    hp[20..22].copy_from_slice(&((offpage.len() * 2) as u16).to_le_bytes());
    let mut top = PS;
    for (i, (pg, len)) in offpage.iter().enumerate() {
        // Value: H_OFFPAGE entry (12 bytes); key: H_KEYDATA with a 4-byte record number.
        top -= 12;
        hp[top] = 3;
        hp[top + 4..top + 8].copy_from_slice(&pg.to_le_bytes());
        hp[top + 8..top + 12].copy_from_slice(&len.to_le_bytes());
        let val = top;
        top -= 5;
        hp[top] = 1;
        hp[top + 1..top + 5].copy_from_slice(&(i as u32 + 1).to_le_bytes());
        let key = top;
        hp[26 + i * 4..28 + i * 4].copy_from_slice(&(key as u16).to_le_bytes());
        hp[28 + i * 4..30 + i * 4].copy_from_slice(&(val as u16).to_le_bytes());
    }
    hp[22..24].copy_from_slice(&(top as u16).to_le_bytes());
    pages.concat()
}

fn scan_with(db_path: &str, db: &[u8]) -> ScanResult {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_store::Store::open(dir.path()).unwrap();
    let img = put_image(
        &store,
        "test/rpm:1",
        &[(
            "ADD rootfs /",
            Some(layer(&[
                E::F("etc/os-release", RHEL_OS_RELEASE),
                E::F(db_path, db),
                E::F(
                    "usr/lib/python3.9/site-packages/six-1.15.0.dist-info/METADATA",
                    b"Name: six\nVersion: 1.15.0\n",
                ),
                E::F(
                    "usr/local/lib/python3.9/site-packages/pip-23.0.dist-info/METADATA",
                    b"Name: pip\nVersion: 23.0\n",
                ),
            ])),
        )],
    );
    scan_image(&store, &img).unwrap()
}

fn check(r: &ScanResult, location: &str) {
    let rpms: Vec<(String, String, String, String)> = r
        .packages
        .iter()
        .filter(|p| p.ptype == PkgType::Rpm)
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.source_or_name().to_string(),
                p.source_or_version().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rpms,
        vec![
            (
                "bash".to_string(),
                "5.1.8-9.el9".to_string(),
                "bash".to_string(),
                "5.1.8-9.el9".to_string()
            ),
            (
                "openssl-libs".into(),
                "1:3.0.7-27.el9".into(),
                "openssl".into(),
                "1:3.0.7-27.el9".into()
            ),
            (
                "python3-six".into(),
                "1.15.0-9.el9".into(),
                "python-six".into(),
                "1.15.0-9.el9".into()
            ),
        ]
    );
    let ssl = r
        .packages
        .iter()
        .find(|p| p.name == "openssl-libs")
        .unwrap();
    assert_eq!(ssl.location, location);
    assert_eq!(
        ssl.purl,
        "pkg:rpm/rocky/openssl-libs@1%3A3.0.7-27.el9?arch=x86_64&distro=rocky-9.3&upstream=openssl"
    );
    // The rpm owns six's metadata: reported once, as the rpm. pip is not owned.
    assert!(!r
        .packages
        .iter()
        .any(|p| p.ptype == PkgType::Python && p.name == "six"));
    assert!(r
        .packages
        .iter()
        .any(|p| p.ptype == PkgType::Python && p.name == "pip"));
}

#[test]
fn sqlite_ndb_and_bdb_databases() {
    let b = blobs();
    check(
        &scan_with("var/lib/rpm/rpmdb.sqlite", &sqlite_db(&b)),
        "var/lib/rpm/rpmdb.sqlite",
    );
    check(
        &scan_with("usr/lib/sysimage/rpm/Packages.db", &ndb_db(&b)),
        "usr/lib/sysimage/rpm/Packages.db",
    );
    check(
        &scan_with("var/lib/rpm/Packages", &bdb_db(&b)),
        "var/lib/rpm/Packages",
    );
    // A large header spanning several overflow pages.
    let many: Vec<(String, String)> = (0..800)
        .map(|i| {
            (
                "/usr/share/doc/big/".to_string(),
                format!("file-{i:04}.txt"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(d, f)| (d.as_str(), f.as_str())).collect();
    let big = header(
        "big",
        None,
        "1.0",
        "1",
        "noarch",
        "big-1.0-1.src.rpm",
        &refs,
    );
    assert!(big.len() > 8192);
    let got = strata_scan::catalog::rpm::bdb_blobs(&bdb_db(std::slice::from_ref(&big))).unwrap();
    assert_eq!(got, vec![big]);
    let h = strata_scan::catalog::rpm::parse_header(&got[0]).unwrap();
    assert_eq!(h.files.len(), 800);
    assert_eq!(h.files[799], "/usr/share/doc/big/file-0799.txt");
}

/// Databases written by rpm itself (sqlite and ndb backends) give what `rpm -qa` gives.
#[test]
fn rpm_written_databases_match_rpm_qa() {
    let ok = |c: &str| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !ok("rpm") || !ok("rpmbuild") {
        assert!(
            std::env::var("STRATA_REQUIRE_SCAN_REFS").as_deref() != Ok("1"),
            "rpm/rpmbuild missing"
        );
        eprintln!("SKIPPED: rpm and rpmbuild are not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("build");
    let mut rpms = Vec::new();
    for (name, epoch, version, release) in [
        ("strata-alpha", "", "1.2.3", "4"),
        ("strata-beta", "Epoch: 2\n", "0.9~rc1", "1^git5"),
        ("strata-gamma", "", "10.0", "1.el9_2"),
    ] {
        std::fs::create_dir_all(top.join("SPECS")).unwrap();
        let spec = top.join(format!("SPECS/{name}.spec"));
        std::fs::write(
            &spec,
            format!("Name: {name}\n{epoch}Version: {version}\nRelease: {release}\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\necho hi > %{{buildroot}}/usr/share/{name}/README\n%files\n/usr/share/{name}/README\n"),
        )
        .unwrap();
        let o = std::process::Command::new("rpmbuild")
            .args([
                "-bb",
                "--quiet",
                "--define",
                &format!("_topdir {}", top.display()),
                spec.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "rpmbuild: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for e in walk(&top.join("RPMS")) {
        if e.extension().is_some_and(|x| x == "rpm") {
            rpms.push(e);
        }
    }
    assert_eq!(rpms.len(), 3);
    let mut checked = 0;
    for (backend, file) in [("sqlite", "rpmdb.sqlite"), ("ndb", "Packages.db")] {
        let dbpath = dir.path().join(format!("db-{backend}"));
        std::fs::create_dir_all(&dbpath).unwrap();
        let mut args: Vec<String> = vec![
            "--dbpath".into(),
            dbpath.display().to_string(),
            "--define".into(),
            format!("_db_backend {backend}"),
            "-i".into(),
            "--justdb".into(),
            "--nodeps".into(),
            "--noscripts".into(),
            "--nosignature".into(),
        ];
        args.extend(rpms.iter().map(|p| p.display().to_string()));
        let o = std::process::Command::new("rpm")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if err.contains("invalid %_db_backend") {
            // This rpm was built without the backend (Debian's has no ndb).
            eprintln!("SKIPPED: rpm here cannot write {backend} databases");
            continue;
        }
        assert!(o.status.success(), "rpm -i: {err}");
        checked += 1;
        let q = std::process::Command::new("rpm")
            .args([
                "-qa",
                "--dbpath",
                dbpath.to_str().unwrap(),
                "--define",
                &format!("_db_backend {backend}"),
                "--qf",
                "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{SOURCERPM}\\n",
            ])
            .output()
            .unwrap();
        let mut want: Vec<String> = String::from_utf8(q.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        want.sort();
        assert_eq!(want.len(), 3, "{want:?}");
        let data = std::fs::read(dbpath.join(file)).unwrap();
        let r = scan_with(&format!("usr/lib/sysimage/rpm/{file}"), &data);
        let mut got: Vec<String> = r
            .packages
            .iter()
            .filter(|p| p.ptype == PkgType::Rpm)
            .map(|p| {
                format!(
                    "{}\t{}\t{}-{}.src.rpm",
                    p.name,
                    p.version,
                    p.source_or_name(),
                    p.source_or_version().rsplit(':').next().unwrap()
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "{backend}");
    }
    assert!(checked >= 1, "rpm wrote no database");
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
