//! Fault injection between the client and Distribution: a connection cut in the middle
//! of a blob (the pull resumes with a Range request and completes, verified), corrupted
//! bytes (a clear digest mismatch and nothing stored), and a pull interrupted halfway
//! then run again (only the missing bytes cross the wire, counted by the proxy).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use strata_oci::Reference;
use strata_remote::{Client, Event, PullOptions, PushOptions};
use strata_store::Store;

const BIG: usize = 9_000_000;

/// Pushes an image with one big incompressible layer and a small one; returns the
/// repository path and the big layer's compressed size.
async fn seed(reg: &Distribution, tmp: &std::path::Path, repo: &str) -> u64 {
    let src = Arc::new(Store::open(tmp.join("src")).unwrap());
    let name = format!("{}/{repo}:v1", reg.host);
    let big = layer_tar(&[("big.bin", noise(BIG, 42))]);
    let small = layer_tar(&[("small", b"x".to_vec())]);
    let desc = put_image(&src, Some(&name), &[big, small], "amd64");
    let client = Client::new(client_config(tmp));
    strata_remote::push(
        &client,
        src.clone(),
        &Reference::parse_normalized(&name).unwrap(),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let m = src.read_document(&desc.digest, None).unwrap();
    match m {
        strata_oci::Document::Manifest(m) => m.layers[0].size,
        _ => unreachable!(),
    }
}

fn via(proxy: &Proxy, repo: &str) -> Reference {
    Reference::parse_normalized(&format!("{}/{repo}:v1", proxy.host)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_resumes_with_range() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let big = seed(&reg, tmp.path(), "fault/cut").await;
    let proxy = Proxy::start(reg.port, Fault::None);
    let client = Client::new(client_config(tmp.path()));
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    proxy.set_fault(Fault::Cut {
        after: 1_000_000,
        times: 2,
    });
    let mut evs = Vec::new();
    let res = strata_remote::pull(
        &client,
        dst.clone(),
        &via(&proxy, "fault/cut"),
        &PullOptions::default(),
        |e| evs.push(e),
    )
    .await
    .unwrap();
    let retries: Vec<u64> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { resume_from, .. } => Some(*resume_from),
            _ => None,
        })
        .collect();
    assert!(!retries.is_empty(), "the cut forced a retry");
    assert!(
        retries.iter().any(|r| *r > 0),
        "a retry resumed from the bytes already held: {retries:?}"
    );
    // Verified and named.
    let resolved = dst.resolve(&res.target, None).unwrap();
    assert!(resolved.layers.iter().all(|(_, f)| f.is_some()));
    // Resumed, not restarted: little more than the image crossed the proxy.
    assert!(
        proxy.bytes() < big + 300_000,
        "proxy carried {} bytes for a {big}-byte layer",
        proxy.bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_bytes_are_refused_and_nothing_is_stored() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    seed(&reg, tmp.path(), "fault/corrupt").await;
    let proxy = Proxy::start(reg.port, Fault::Corrupt { at: 1_500_000 });
    let client = Client::new(client_config(tmp.path()));
    let root = tmp.path().join("dst");
    let dst = Arc::new(Store::open(&root).unwrap());
    let r = via(&proxy, "fault/corrupt");
    let err = strata_remote::pull(&client, dst.clone(), &r, &PullOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert!(dst.meta().name(&r.to_string()).unwrap().is_none());
    assert_eq!(blob_files(&root), Vec::<String>::new(), "nothing stored");
    assert_eq!(ingest_bytes(&root), 0, "no corrupt partial data kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_pull_fetches_only_missing_bytes() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let big = seed(&reg, tmp.path(), "fault/stall").await;
    let proxy = Proxy::start(reg.port, Fault::Stall { after: 1_500_000 });
    let root = tmp.path().join("dst");
    let dst = Arc::new(Store::open(&root).unwrap());
    let r = via(&proxy, "fault/stall");
    let (c, d, rr) = (
        Client::new(client_config(tmp.path())),
        dst.clone(),
        r.clone(),
    );
    let task = tokio::spawn(async move {
        strata_remote::pull(&c, d, &rr, &PullOptions::default(), |_| {}).await
    });
    // Wait for the download to be well under way, then interrupt it.
    let mut waited = 0;
    while ingest_bytes(&root) < 1_000_000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 3000, "the download never got going");
    }
    task.abort();
    let _ = task.await;
    let partial = ingest_bytes(&root);
    assert!(partial >= 1_000_000 && partial < big);
    proxy.set_fault(Fault::None);
    let before = proxy.bytes();
    let client = Client::new(client_config(tmp.path()));
    let res = strata_remote::pull(&client, dst.clone(), &r, &PullOptions::default(), |_| {})
        .await
        .unwrap();
    assert!(dst
        .resolve(&res.target, None)
        .unwrap()
        .layers
        .iter()
        .all(|(_, f)| f.is_some()));
    let second = proxy.bytes() - before;
    let missing = big - partial;
    assert!(second >= missing, "{second} < {missing}");
    assert!(
        second < missing + 200_000,
        "second pull carried {second} bytes; only {missing} were missing"
    );
    assert_eq!(ingest_bytes(&root), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_ignored_by_the_server_restarts_the_blob() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let big = seed(&reg, tmp.path(), "fault/norange").await;
    let proxy = Proxy::start(
        reg.port,
        Fault::Cut {
            after: 2_000_000,
            times: 1,
        },
    );
    proxy.hide_range(true);
    let client = Client::new(client_config(tmp.path()));
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let res = strata_remote::pull(
        &client,
        dst.clone(),
        &via(&proxy, "fault/norange"),
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(dst
        .resolve(&res.target, None)
        .unwrap()
        .layers
        .iter()
        .all(|(_, f)| f.is_some()));
    // The registry answered the retry with the whole blob (200), so it was fetched again
    // from the start and still verified.
    assert!(proxy.bytes() > big + 1_900_000, "{} bytes", proxy.bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_leftover_partial_data_is_discarded_and_fetched_again() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let big = seed(&reg, tmp.path(), "fault/leftover").await;
    let client = Client::new(client_config(tmp.path()));
    let root = tmp.path().join("dst");
    let dst = Arc::new(Store::open(&root).unwrap());
    let r = Reference::parse_normalized(&format!("{}/fault/leftover:v1", reg.host)).unwrap();
    let m = client.fetch_manifest(&r).await.unwrap();
    let layer = match strata_oci::Document::parse(&m.bytes, Some(&m.media_type)).unwrap() {
        strata_oci::Document::Manifest(m) => m.layers[0].clone(),
        _ => unreachable!(),
    };
    assert_eq!(layer.size, big);
    // An earlier run left garbage where the layer's first megabyte should be.
    {
        use std::io::Write;
        let mut w = dst
            .writer(
                &format!("pull-{}", layer.digest),
                Some((layer.digest.clone(), layer.size)),
            )
            .unwrap();
        w.write_all(&vec![0xAB; 1_000_000]).unwrap();
    }
    assert_eq!(ingest_bytes(&root), 1_000_000);
    let res = strata_remote::pull(&client, dst.clone(), &r, &PullOptions::default(), |_| {})
        .await
        .unwrap();
    assert!(dst
        .resolve(&res.target, None)
        .unwrap()
        .layers
        .iter()
        .all(|(_, f)| f.is_some()));
    assert_eq!(ingest_bytes(&root), 0);
}
