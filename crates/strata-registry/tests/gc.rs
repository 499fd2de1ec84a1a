//! Garbage collection while the registry serves: an interrupted push survives, unreferenced
//! old blobs go, dry runs change nothing, untagged manifests go on request (their referrers
//! follow their subject), and the periodic option runs.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{bytes_of, manifest, sha256, Client, OCI_MANIFEST};
use strata_registry::{gc, Config, EmbeddedRegistry, GcOptions};

fn age_all(dir: &Path, by: Duration) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            age_all(&p, by);
        } else {
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() - by).unwrap();
        }
    }
}

fn blob_exists(root: &Path, d: &str) -> bool {
    root.join("blobs/sha256").join(&d[7..]).exists()
}

fn opts() -> GcOptions {
    GcOptions {
        grace: Duration::from_secs(3600),
        ..GcOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_push_survives_a_concurrent_gc() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let reg = EmbeddedRegistry::start(Config::for_tests(&root)).unwrap();
    let c = Client::new(&reg.url());
    let layer = bytes_of(1, 50_000);
    let config = br#"{"os":"linux","architecture":"amd64"}"#.to_vec();
    // Blobs uploaded, a second layer half-way through a chunked upload, no manifest yet.
    assert_eq!(c.push_blob("gc/app", &layer).await.1.status, 201);
    assert_eq!(c.push_blob("gc/app", &config).await.1.status, 201);
    let layer2 = bytes_of(2, 20_000);
    let r = c
        .req("POST", "/v2/gc/app/blobs/uploads/", &[], vec![])
        .await;
    let loc = r.header("location").unwrap();
    let r = c
        .req(
            "PATCH",
            &loc,
            &[("content-range", "0-9999")],
            layer2[..10_000].to_vec(),
        )
        .await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap();

    let report = gc(&root, opts()).await.unwrap();
    assert!(report.blobs_deleted.is_empty(), "{report:?}");
    assert!(report.blobs_in_grace >= 2);
    assert_eq!(report.uploads_purged, 0);

    let r = c
        .req(
            "PUT",
            &format!("{loc}?digest={}", sha256(&layer2)),
            &[("content-range", "10000-19999")],
            layer2[10_000..].to_vec(),
        )
        .await;
    assert_eq!(r.status, 201);
    let m = manifest(&config, &[&layer, &layer2], None);
    assert_eq!(
        c.put_manifest("gc/app", "v1", OCI_MANIFEST, &m)
            .await
            .status,
        201
    );
    for b in [&layer, &layer2, &config] {
        let g = c.get(&format!("/v2/gc/app/blobs/{}", sha256(b))).await;
        assert_eq!(g.status, 200);
        assert_eq!(&g.body, b);
    }
    // Referenced blobs are kept even once old.
    age_all(&root.join("blobs"), Duration::from_secs(7200));
    let report = gc(&root, opts()).await.unwrap();
    assert!(report.blobs_deleted.is_empty(), "{report:?}");
    assert_eq!(c.get("/v2/gc/app/manifests/v1").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_old_blobs_are_collected_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let reg = EmbeddedRegistry::start(Config::for_tests(&root)).unwrap();
    let c = Client::new(&reg.url());
    let keep = bytes_of(3, 1000);
    let drop_layer = bytes_of(4, 1000);
    let config = br#"{"os":"linux"}"#.to_vec();
    for b in [&keep, &drop_layer, &config] {
        assert_eq!(c.push_blob("gc/two", b).await.1.status, 201);
    }
    let m_keep = manifest(&config, &[&keep], None);
    let m_drop = manifest(&config, &[&drop_layer], None);
    assert_eq!(
        c.put_manifest("gc/two", "keep", OCI_MANIFEST, &m_keep)
            .await
            .status,
        201
    );
    assert_eq!(
        c.put_manifest("gc/two", "drop", OCI_MANIFEST, &m_drop)
            .await
            .status,
        201
    );
    let r = c
        .req(
            "DELETE",
            &format!("/v2/gc/two/manifests/{}", sha256(&m_drop)),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    age_all(&root.join("blobs"), Duration::from_secs(7200));

    let dry = gc(
        &root,
        GcOptions {
            dry_run: true,
            ..opts()
        },
    )
    .await
    .unwrap();
    let mut want = vec![sha256(&drop_layer), sha256(&m_drop)];
    want.sort();
    let mut got = dry.blobs_deleted.clone();
    got.sort();
    assert_eq!(got, want);
    assert!(blob_exists(&root, &sha256(&drop_layer)), "dry run deleted");

    let real = gc(&root, opts()).await.unwrap();
    assert_eq!(real.blobs_deleted.len(), 2);
    assert_eq!(real.bytes_freed, (drop_layer.len() + m_drop.len()) as u64);
    assert!(!blob_exists(&root, &sha256(&drop_layer)));
    assert_eq!(
        c.head(&format!("/v2/gc/two/blobs/{}", sha256(&drop_layer)))
            .await
            .status,
        404
    );
    let g = c.get("/v2/gc/two/manifests/keep").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, m_keep);
    assert_eq!(
        c.get(&format!("/v2/gc/two/blobs/{}", sha256(&keep)))
            .await
            .body,
        keep
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_untagged_removes_unreachable_manifests_but_keeps_referrers_of_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let reg = EmbeddedRegistry::start(Config::for_tests(&root)).unwrap();
    let c = Client::new(&reg.url());
    let config = br#"{"os":"linux"}"#.to_vec();
    let la = bytes_of(5, 500);
    let lb = bytes_of(6, 500);
    for b in [&config, &la, &lb, &b"{}".to_vec()] {
        assert_eq!(c.push_blob("gc/untag", b).await.1.status, 201);
    }
    let tagged = manifest(&config, &[&la], None);
    let untagged = manifest(&config, &[&lb], None);
    assert_eq!(
        c.put_manifest("gc/untag", "v1", OCI_MANIFEST, &tagged)
            .await
            .status,
        201
    );
    assert_eq!(
        c.put_manifest("gc/untag", &sha256(&untagged), OCI_MANIFEST, &untagged)
            .await
            .status,
        201
    );
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": sha256(&tagged), "size": tagged.len()},
    }))
    .unwrap();
    assert_eq!(
        c.put_manifest("gc/untag", &sha256(&sig), OCI_MANIFEST, &sig)
            .await
            .status,
        201
    );
    age_all(&root, Duration::from_secs(7200));

    let report = gc(
        &root,
        GcOptions {
            delete_untagged: true,
            ..opts()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        report.manifests_deleted,
        vec![format!("gc/untag@{}", sha256(&untagged))]
    );
    assert!(report.blobs_deleted.contains(&sha256(&lb)));
    assert!(!report.blobs_deleted.contains(&sha256(&la)));
    assert_eq!(
        c.get(&format!("/v2/gc/untag/manifests/{}", sha256(&untagged)))
            .await
            .status,
        404
    );
    assert_eq!(
        c.get(&format!("/v2/gc/untag/manifests/{}", sha256(&sig)))
            .await
            .status,
        200
    );
    let refs = c
        .get(&format!("/v2/gc/untag/referrers/{}", sha256(&tagged)))
        .await;
    assert_eq!(refs.json()["manifests"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_gc_runs_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::for_tests(dir.path());
    cfg.gc.interval_secs = 1;
    cfg.gc.grace_secs = 0;
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    let c = Client::new(&reg.url());
    let orphan = bytes_of(7, 100);
    assert_eq!(c.push_blob("gc/periodic", &orphan).await.1.status, 201);
    age_all(&dir.path().join("blobs"), Duration::from_secs(10));
    let mut gone = false;
    for _ in 0..100 {
        if !blob_exists(dir.path(), &sha256(&orphan)) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "periodic gc did not collect the orphan blob");
    let metrics = String::from_utf8(c.get("/metrics").await.body).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("registry_gc_runs_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_upload_sessions_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let reg = EmbeddedRegistry::start(Config::for_tests(&root)).unwrap();
    let c = Client::new(&reg.url());
    let old = c
        .req("POST", "/v2/gc/uploads/blobs/uploads/", &[], vec![])
        .await
        .header("location")
        .unwrap();
    assert_eq!(
        c.req("PATCH", &old, &[], bytes_of(8, 100)).await.status,
        202
    );
    age_all(&root.join("_uploads"), Duration::from_secs(7200));
    let fresh = c
        .req("POST", "/v2/gc/uploads/blobs/uploads/", &[], vec![])
        .await
        .header("location")
        .unwrap();
    let report = gc(
        &root,
        GcOptions {
            upload_expiry: Duration::from_secs(3600),
            ..opts()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.uploads_purged, 1);
    assert_eq!(c.get(&old).await.status, 404);
    assert_eq!(c.get(&fresh).await.status, 204);
}
