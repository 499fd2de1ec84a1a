//! Pull and push against Strata's own registry (in-process, on a free loopback port):
//! anonymous, htpasswd + its built-in token server, Hub-style `/v1/search`, multi-platform
//! indexes and a connection cut mid-blob.

mod common;

use std::sync::Arc;

use common::*;
use strata_oci::{Platform, Reference};
use strata_registry::{Config, EmbeddedRegistry};
use strata_remote::{Client, Credentials, Event, PullOptions, PushOptions, Status};
use strata_store::Store;

fn r(s: &str) -> Reference {
    Reference::parse_with_default_tag(s).unwrap()
}

fn host(reg: &EmbeddedRegistry) -> String {
    reg.url().trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_search_index_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path().join("reg"))).unwrap();
    let h = host(&reg);
    let src = Arc::new(Store::open(dir.path().join("src")).unwrap());
    let name = format!("{h}/ours/app:v1");
    let desc = put_image(
        &src,
        Some(&name),
        &[
            layer_tar(&[("big", noise(2_000_000, 5))]),
            layer_tar(&[("s", b"s".to_vec())]),
        ],
        "amd64",
    );
    let client = Client::new(client_config(dir.path()));
    let mut evs = Vec::new();
    let res = strata_remote::push(
        &client,
        src.clone(),
        &r(&name),
        &PushOptions {
            chunk_size: 512 * 1024,
            ..Default::default()
        },
        |e| evs.push(e),
    )
    .await
    .unwrap();
    assert_eq!(res.digest, desc.digest);
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::Blob {
            status: Status::Pushed,
            ..
        }
    )));

    // Through a proxy that cuts the first connection mid-blob.
    let proxy = Proxy::start(
        reg.addr().port(),
        Fault::Cut {
            after: 700_000,
            times: 1,
        },
    );
    let dst = Arc::new(Store::open(dir.path().join("dst")).unwrap());
    let via = r(&format!("{}/ours/app:v1", proxy.host));
    let mut evs = Vec::new();
    let pulled = strata_remote::pull(&client, dst.clone(), &via, &PullOptions::default(), |e| {
        evs.push(e)
    })
    .await
    .unwrap();
    assert_eq!(pulled.target.digest, desc.digest);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Retrying { resume_from, .. } if *resume_from > 0)),
        "{evs:?}"
    );
    assert!(dst
        .resolve(&pulled.target, None)
        .unwrap()
        .layers
        .iter()
        .all(|(_, f)| f.is_some()));

    // Hub-style search and tags.
    let found = client.search(&h, "app", 10).await.unwrap();
    assert_eq!(
        found.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        vec!["ours/app"]
    );
    assert_eq!(client.tags(&r(&name)).await.unwrap(), vec!["v1"]);
    // Pages of two, followed through `Link: rel="next"`.
    for t in ["v2", "v3", "v4", "v5"] {
        let tr = r(&format!("{h}/ours/app:{t}"));
        src.meta()
            .set_name(
                &tr.to_string(),
                &desc.digest,
                &desc.media_type,
                desc.size,
                true,
            )
            .unwrap();
        strata_remote::push(&client, src.clone(), &tr, &PushOptions::default(), |_| {})
            .await
            .unwrap();
    }
    let mut small = client_config(dir.path());
    small.page_size = 2;
    let paged = Client::new(small);
    assert_eq!(
        paged.tags(&r(&name)).await.unwrap(),
        vec!["v1", "v2", "v3", "v4", "v5"]
    );

    // A two-platform index.
    let amd = put_image(
        &src,
        None,
        &[layer_tar(&[("a", noise(10_000, 1))])],
        "amd64",
    );
    let arm = put_image(
        &src,
        None,
        &[layer_tar(&[("b", noise(10_000, 2))])],
        "arm64",
    );
    let multi = format!("{h}/ours/multi:v1");
    let idx = put_index(
        &src,
        &multi,
        &[(amd.clone(), "linux/amd64"), (arm.clone(), "linux/arm64")],
    );
    strata_remote::push(
        &client,
        src.clone(),
        &r(&multi),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let opts = PullOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..Default::default()
    };
    let p = strata_remote::pull(&client, dst.clone(), &r(&multi), &opts, |_| {})
        .await
        .unwrap();
    assert_eq!(p.target.digest, idx.digest);
    assert_eq!(p.manifest.digest, arm.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_of_strata_registry() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("htpasswd")
        .args(["-Bbn", "dave", "d-pass"])
        .output();
    let Ok(out) = out else {
        assert!(!require_peers(), "htpasswd missing");
        return;
    };
    let hp = dir.path().join("htpasswd");
    std::fs::write(&hp, &out.stdout).unwrap();
    let mut cfg = Config::for_tests(dir.path().join("reg"));
    cfg.auth.htpasswd = Some(hp);
    cfg.auth.token = Some(Default::default());
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    let h = host(&reg);
    let src = Arc::new(Store::open(dir.path().join("src")).unwrap());
    let name = format!("{h}/secure/app:v1");
    let desc = put_image(
        &src,
        Some(&name),
        &[layer_tar(&[("f", noise(100_000, 9))])],
        "amd64",
    );

    let anon = Client::new(client_config(&dir.path().join("anon")));
    assert!(strata_remote::push(
        &anon,
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {}
    )
    .await
    .is_err());
    let cfg = client_config(dir.path());
    let creds = Credentials {
        username: "dave".into(),
        password: "d-pass".into(),
    };
    Client::new(cfg.clone())
        .check_login(&h, &creds)
        .await
        .unwrap();
    let bad = Credentials {
        username: "dave".into(),
        password: "nope".into(),
    };
    assert!(Client::new(cfg.clone())
        .check_login(&h, &bad)
        .await
        .is_err());
    strata_remote::AuthFiles::from_config(&cfg)
        .store(&h, &creds)
        .unwrap();
    let client = Client::new(cfg);
    let res = strata_remote::push(
        &client,
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(res.digest, desc.digest);
    let dst = Arc::new(Store::open(dir.path().join("dst")).unwrap());
    let err = strata_remote::pull(
        &anon,
        dst.clone(),
        &r(&name),
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with("pull access denied for"),
        "{err}"
    );
    let p = strata_remote::pull(
        &client,
        dst.clone(),
        &r(&name),
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(p.target.digest, desc.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_registry_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::for_tests(dir.path().join("reg"));
    cfg.limits.rate_limit_per_second = 10.0;
    cfg.limits.rate_limit_burst = 3.0;
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    let h = host(&reg);
    let src = Arc::new(Store::open(dir.path().join("src")).unwrap());
    let name = format!("{h}/limited/app:v1");
    let layers: Vec<Vec<u8>> = (0..4)
        .map(|i| layer_tar(&[("f", noise(1000, i))]))
        .collect();
    let desc = put_image(&src, Some(&name), &layers, "amd64");
    let client = Client::new(client_config(dir.path()));
    strata_remote::push(
        &client,
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let dst = Arc::new(Store::open(dir.path().join("dst")).unwrap());
    let p = strata_remote::pull(&client, dst, &r(&name), &PullOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(p.target.digest, desc.digest);
    // The registry did refuse some requests (429 + Retry-After), and the client waited.
    let metrics = reqwest::get(format!("{}/metrics", reg.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let limited: f64 = metrics
        .lines()
        .find(|l| l.starts_with("registry_rate_limited_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(limited > 0.0, "{metrics}");
}

/// A config whose diff ID does not match its layer: the layer's facts are computed while
/// it downloads, the mismatch is reported, and the destination store keeps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_diff_id_is_refused_and_nothing_is_kept() {
    use serde_json::json;
    use strata_oci::{media, Descriptor, Digest};
    let dir = tempfile::tempdir().unwrap();
    let reg = EmbeddedRegistry::start(Config::for_tests(dir.path().join("reg"))).unwrap();
    let h = host(&reg);
    let src = Arc::new(Store::open(dir.path().join("src")).unwrap());
    let name = format!("{h}/bad/diffid:v1");
    let lease = src.lease(std::time::Duration::from_secs(600)).unwrap();
    let tar = layer_tar(&[("f", noise(300_000, 9))]);
    let gz = gzip(&tar);
    let ld = Digest::sha256_of(&gz);
    src.put_layer(&gz[..], Some((ld.clone(), gz.len() as u64)), &lease)
        .unwrap();
    let wrong = Digest::sha256_of(b"not the layer");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [wrong.to_string()]},
    }))
    .unwrap();
    let cd = src.put_bytes(&config, None, &lease).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": ld.to_string(), "size": gz.len()}],
    }))
    .unwrap();
    let (md, _) = src.put_document(&manifest, None, &lease).unwrap();
    let desc = Descriptor::new(media::OCI_MANIFEST, md, manifest.len() as u64);
    src.meta()
        .set_name(
            &r(&name).to_string(),
            &desc.digest,
            &desc.media_type,
            desc.size,
            true,
        )
        .unwrap();
    src.release(lease).unwrap();
    let client = Client::new(client_config(dir.path()));
    strata_remote::push(
        &client,
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();

    let dst = Arc::new(Store::open(dir.path().join("dst")).unwrap());
    let err = strata_remote::pull(
        &client,
        dst.clone(),
        &r(&name),
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains(&wrong.to_string()), "{err}");
    assert!(dst.meta().names().unwrap().is_empty());
    dst.gc().unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path().join("dst/blobs/sha256"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "nothing of the refused image is kept");
}
