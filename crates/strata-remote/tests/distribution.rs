//! Pull and push against CNCF Distribution over real TCP on loopback: anonymous,
//! htpasswd (bcrypt) and token auth; multi-platform indexes; chunked uploads;
//! cross-repository mounts; Docker's error messages.

mod common;

use std::sync::Arc;

use common::*;
use strata_oci::{Descriptor, Platform, Reference};
use strata_remote::{Client, Credentials, Event, PullOptions, PushOptions, RemoteError, Status};
use strata_store::Store;

fn r(s: &str) -> Reference {
    Reference::parse_with_default_tag(s).unwrap()
}

fn three_layers(seed: u64) -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("big.bin", noise(1_200_000, seed))]),
        layer_tar(&[("mid.bin", noise(300_000, seed + 1))]),
        layer_tar(&[("etc/small", b"hello\n".to_vec())]),
    ]
}

async fn push_collect(
    client: &Client,
    store: &Arc<Store>,
    name: &str,
    opts: &PushOptions,
) -> (strata_remote::PushResult, Vec<Event>) {
    let mut evs = Vec::new();
    let res = strata_remote::push(client, store.clone(), &r(name), opts, |e| evs.push(e))
        .await
        .unwrap();
    (res, evs)
}

async fn pull_collect(
    client: &Client,
    store: &Arc<Store>,
    name: &str,
    opts: &PullOptions,
) -> (strata_remote::Result<strata_remote::PullResult>, Vec<Event>) {
    let mut evs = Vec::new();
    let res = strata_remote::pull(client, store.clone(), &r(name), opts, |e| evs.push(e)).await;
    (res, evs)
}

fn statuses(evs: &[Event]) -> Vec<Status> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Blob {
                status,
                layer: true,
                ..
            } => Some(status.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_anonymous() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/test/app:v1", reg.host);
    let desc = put_image(&src, Some(&name), &three_layers(1), "amd64");
    let client = Client::new(client_config(tmp.path()));

    let (res, evs) = push_collect(&client, &src, &name, &PushOptions::default()).await;
    assert_eq!(res.digest, desc.digest);
    assert_eq!(res.size, desc.size);
    assert_eq!(res.tag, "v1");
    assert!(
        matches!(&evs[0], Event::PushRefersTo { repository } if repository == &format!("{}/test/app", reg.host))
    );
    assert_eq!(
        statuses(&evs)
            .iter()
            .filter(|s| **s == Status::Pushed)
            .count(),
        3
    );
    // Again: every blob is already there.
    let (res2, evs2) = push_collect(&client, &src, &name, &PushOptions::default()).await;
    assert_eq!(res2.digest, desc.digest);
    assert_eq!(res2.uploaded_bytes, 0);
    assert_eq!(
        statuses(&evs2)
            .iter()
            .filter(|s| **s == Status::LayerAlreadyExists)
            .count(),
        3
    );

    // Pull into a fresh store.
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let (res, evs) = pull_collect(&client, &dst, &name, &PullOptions::default()).await;
    let res = res.unwrap();
    assert_eq!(res.target.digest, desc.digest);
    assert!(!res.up_to_date);
    assert!(res.downloaded_bytes > 1_200_000);
    let rec = dst.meta().name(&r(&name).to_string()).unwrap().unwrap();
    assert_eq!(rec.digest, desc.digest);
    let resolved = dst.resolve(&res.target, None).unwrap();
    assert_eq!(resolved.layers.len(), 3);
    for (l, facts) in &resolved.layers {
        let facts = facts.as_ref().expect("layer present with facts");
        assert_eq!(facts.digest, l.digest);
    }
    assert_eq!(resolved.size(), 1_200_000 + 300_000 + 6);
    let st = statuses(&evs);
    assert_eq!(st.iter().filter(|s| **s == Status::PullComplete).count(), 3);
    assert!(st.contains(&Status::PullingFsLayer) && st.contains(&Status::VerifyingChecksum));
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Plan { layers: 3, .. })));

    // Again: up to date, nothing downloaded.
    let (again, evs) = pull_collect(&client, &dst, &name, &PullOptions::default()).await;
    let again = again.unwrap();
    assert!(again.up_to_date);
    assert_eq!(again.downloaded_bytes, 0);
    assert_eq!(
        statuses(&evs)
            .iter()
            .filter(|s| **s == Status::AlreadyExists)
            .count(),
        3
    );

    // By digest.
    let by_digest = format!("{}/test/app@{}", reg.host, desc.digest);
    let dst2 = Arc::new(Store::open(tmp.path().join("dst2")).unwrap());
    let (res, _) = pull_collect(&client, &dst2, &by_digest, &PullOptions::default()).await;
    assert_eq!(res.unwrap().name.to_string(), by_digest);

    // Tags and catalog.
    assert_eq!(client.tags(&r(&name)).await.unwrap(), vec!["v1"]);
    assert_eq!(client.catalog(&reg.host).await.unwrap(), vec!["test/app"]);
    let found = client.search(&reg.host, "app", 25).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "test/app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_error_messages() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/test/err:v1", reg.host);
    put_image(
        &src,
        Some(&name),
        &[layer_tar(&[("a", b"a".to_vec())])],
        "amd64",
    );
    let client = Client::new(client_config(tmp.path()));
    push_collect(&client, &src, &name, &PushOptions::default()).await;

    let (res, _) = pull_collect(
        &client,
        &src,
        &format!("{}/test/err:nope", reg.host),
        &PullOptions::default(),
    )
    .await;
    assert_eq!(
        res.unwrap_err().to_string(),
        format!(
            "manifest for {}/test/err:nope not found: manifest unknown: manifest unknown",
            reg.host
        )
    );
    // Distribution answers MANIFEST_UNKNOWN for a repository it has never seen, and
    // Docker prints the same line for it.
    let (res, _) = pull_collect(
        &client,
        &src,
        &format!("{}/no/such:v1", reg.host),
        &PullOptions::default(),
    )
    .await;
    assert_eq!(
        res.unwrap_err().to_string(),
        format!(
            "manifest for {}/no/such:v1 not found: manifest unknown: manifest unknown",
            reg.host
        )
    );
    let err = strata_remote::push(
        &client,
        src.clone(),
        &r(&format!("{}/test/err:absent", reg.host)),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "An image does not exist locally with the tag: {}/test/err:absent",
            reg.host
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_auth() {
    let Some(reg) = distribution(RegAuth::Htpasswd("alice", "s3cret-pw")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/team/app:1.0", reg.host);
    let desc = put_image(&src, Some(&name), &three_layers(7), "amd64");

    // Anonymous: refused.
    let anon = Client::new(client_config(tmp.path()));
    let err = strata_remote::push(
        &anon,
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RemoteError::PushDenied), "{err}");
    // Wrong password: refused at login, and the message never shows it.
    let bad = Credentials {
        username: "alice".into(),
        password: "wrong-pw".into(),
    };
    let err = anon.check_login(&reg.host, &bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "unauthorized: incorrect username or password"
    );
    assert!(!err.to_string().contains("wrong-pw"));

    // Stored credentials (as `strata login` writes them) are used.
    let cfg = client_config(tmp.path());
    let good = Credentials {
        username: "alice".into(),
        password: "s3cret-pw".into(),
    };
    Client::new(cfg.clone())
        .check_login(&reg.host, &good)
        .await
        .unwrap();
    strata_remote::AuthFiles::from_config(&cfg)
        .store(&reg.host, &good)
        .unwrap();
    let client = Client::new(cfg);
    let (res, _) = push_collect(&client, &src, &name, &PushOptions::default()).await;
    assert_eq!(res.digest, desc.digest);
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let (res, _) = pull_collect(&client, &dst, &name, &PullOptions::default()).await;
    assert_eq!(res.unwrap().target.digest, desc.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth() {
    let Some(ts) = TokenServer::start("bob", "tok-pass") else {
        return;
    };
    let Some(reg) = distribution(RegAuth::Token(ts.clone())) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let private = format!("{}/private/app:v1", reg.host);
    let public = format!("{}/public/app:v1", reg.host);
    let desc = put_image(&src, Some(&private), &three_layers(11), "amd64");
    src.meta()
        .set_name(
            &r(&public).to_string(),
            &desc.digest,
            &desc.media_type,
            desc.size,
            true,
        )
        .unwrap();

    let cfg = client_config(tmp.path());
    strata_remote::AuthFiles::from_config(&cfg)
        .store(
            &reg.host,
            &Credentials {
                username: "bob".into(),
                password: "tok-pass".into(),
            },
        )
        .unwrap();
    let client = Client::new(cfg);
    push_collect(&client, &src, &private, &PushOptions::default()).await;
    // Same registry, other repository: the layers are mounted, not uploaded.
    let (_, evs) = push_collect(&client, &src, &public, &PushOptions::default()).await;
    let st = statuses(&evs);
    assert!(
        st.iter()
            .any(|s| *s == Status::MountedFrom("private/app".into())),
        "{st:?}"
    );

    // Anonymous: the private repository is refused, the public one pulls.
    let anon = Client::new(client_config(&tmp.path().join("anon")));
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let (res, _) = pull_collect(&anon, &dst, &private, &PullOptions::default()).await;
    assert_eq!(
        res.unwrap_err().to_string(),
        format!("pull access denied for {}/private/app, repository does not exist or may require 'docker login'", reg.host)
    );
    // Docker's identity token (OAuth2 refresh token) in config.json.
    let idcfg = client_config(&tmp.path().join("identity"));
    let dc = idcfg.docker_config_dir.clone().unwrap();
    std::fs::create_dir_all(&dc).unwrap();
    std::fs::write(
        dc.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-bob"}}}}}}"#,
            reg.host
        ),
    )
    .unwrap();
    let dst_id = Arc::new(Store::open(tmp.path().join("dst-id")).unwrap());
    let (res, _) = pull_collect(
        &Client::new(idcfg),
        &dst_id,
        &private,
        &PullOptions::default(),
    )
    .await;
    assert_eq!(res.unwrap().target.digest, desc.digest);
    let before = ts.requests.load(std::sync::atomic::Ordering::SeqCst);
    let fresh = Client::new(client_config(&tmp.path().join("anon2")));
    let (res, _) = pull_collect(&fresh, &dst, &public, &PullOptions::default()).await;
    assert_eq!(res.unwrap().target.digest, desc.digest);
    // One token for the pull scope, reused for the manifest, the config and every layer.
    assert_eq!(
        ts.requests.load(std::sync::atomic::Ordering::SeqCst) - before,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_platform_index_and_chunked_upload() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let amd = put_image(
        &src,
        None,
        &[layer_tar(&[("amd", noise(500_000, 3))])],
        "amd64",
    );
    let arm = put_image(
        &src,
        None,
        &[layer_tar(&[("arm", noise(400_000, 4))])],
        "arm64",
    );
    let name = format!("{}/multi/app:latest", reg.host);
    let idx = put_index(
        &src,
        &name,
        &[
            (amd.clone(), "linux/amd64"),
            (arm.clone(), "linux/arm64/v8"),
        ],
    );
    let client = Client::new(client_config(tmp.path()));
    let opts = PushOptions {
        chunk_size: 64 * 1024,
        ..Default::default()
    };
    let (res, _) = push_collect(&client, &src, &name, &opts).await;
    assert_eq!(res.digest, idx.digest);

    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let host = Platform::host();
    let (want_first, other, other_plat) = if host.architecture == "arm64" {
        (&arm, &amd, "linux/amd64")
    } else {
        (&amd, &arm, "linux/arm64")
    };
    let (res, _) = pull_collect(&client, &dst, &name, &PullOptions::default()).await;
    let res = res.unwrap();
    assert_eq!(res.target.digest, idx.digest);
    assert_eq!(&res.manifest.digest, &want_first.digest);
    let opts = PullOptions {
        platform: Some(Platform::parse(other_plat).unwrap()),
        ..Default::default()
    };
    let (res, _) = pull_collect(&client, &dst, &name, &opts).await;
    assert_eq!(&res.unwrap().manifest.digest, &other.digest);
    let plats = dst.platform_images(&idx).unwrap();
    assert_eq!(plats.len(), 2);
    assert!(
        plats.iter().all(|p| p.complete),
        "both platforms are complete after two pulls"
    );

    // A store holding one platform of an index pushes that platform with --platform,
    // and says so without it.
    let partial = Arc::new(Store::open(tmp.path().join("partial")).unwrap());
    pull_collect(&client, &partial, &name, &PullOptions::default())
        .await
        .0
        .unwrap();
    let copy = format!("{}/multi/copy:latest", reg.host);
    let target = partial.meta().name(&r(&name).to_string()).unwrap().unwrap();
    partial
        .meta()
        .set_name(
            &r(&copy).to_string(),
            &target.digest,
            &target.media_type,
            target.size,
            true,
        )
        .unwrap();
    let err = strata_remote::push(
        &client,
        partial.clone(),
        &r(&copy),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--platform"), "{err}");
    let one = PushOptions {
        platform: Some(host.clone()),
        ..Default::default()
    };
    let (res, _) = push_collect(&client, &partial, &copy, &one).await;
    assert_eq!(&res.digest, &want_first.digest);

    let opts = PullOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        ..Default::default()
    };
    let (res, _) = pull_collect(&client, &dst, &name, &opts).await;
    assert_eq!(
        res.unwrap_err().to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_image_share_the_downloads() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/test/shared:v1", reg.host);
    let desc = put_image(&src, Some(&name), &three_layers(21), "amd64");
    let client = Client::new(client_config(tmp.path()));
    push_collect(&client, &src, &name, &PushOptions::default()).await;
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let (c1, c2) = (
        Client::new(client_config(tmp.path())),
        Client::new(client_config(tmp.path())),
    );
    let (d1, d2) = (dst.clone(), dst.clone());
    let (n1, n2) = (r(&name), r(&name));
    let o = PullOptions::default();
    let (a, b) = tokio::join!(
        strata_remote::pull(&c1, d1, &n1, &o, |_| {}),
        strata_remote::pull(&c2, d2, &n2, &o, |_| {})
    );
    assert_eq!(a.unwrap().target.digest, desc.digest);
    assert_eq!(b.unwrap().target.digest, desc.digest);
    let resolved = dst
        .resolve(
            &Descriptor::new(&desc.media_type, desc.digest.clone(), desc.size),
            None,
        )
        .unwrap();
    assert!(resolved.layers.iter().all(|(_, f)| f.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_date_pull_only_asks_with_head() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/test/fresh:v1", reg.host);
    put_image(&src, Some(&name), &three_layers(31), "amd64");
    let client = Client::new(client_config(tmp.path()));
    push_collect(&client, &src, &name, &PushOptions::default()).await;
    let proxy = Proxy::start(reg.port, Fault::None);
    let via = format!("{}/test/fresh:v1", proxy.host);
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let (first, _) = pull_collect(&client, &dst, &via, &PullOptions::default()).await;
    assert!(!first.unwrap().up_to_date);
    let before = proxy.bytes();
    let fresh = Client::new(client_config(tmp.path()));
    let (again, evs) = pull_collect(&fresh, &dst, &via, &PullOptions::default()).await;
    let again = again.unwrap();
    assert!(again.up_to_date);
    assert_eq!(
        statuses(&evs)
            .iter()
            .filter(|s| **s == Status::AlreadyExists)
            .count(),
        3
    );
    // A ping and one HEAD: no manifest body, no blobs.
    let moved = proxy.bytes() - before;
    assert!(moved < 4_000, "{moved} bytes for an up-to-date pull");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_with_non_tar_blobs_round_trip() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let lease = src.lease(std::time::Duration::from_secs(600)).unwrap();
    let cfg = src.put_bytes(b"{}", None, &lease).unwrap();
    let note = b"not a tar at all\n";
    let nd = src.put_bytes(note, None, &lease).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": strata_oci::media::OCI_MANIFEST,
        "artifactType": "application/vnd.example.note",
        "config": {"mediaType": strata_oci::media::OCI_EMPTY, "digest": cfg.to_string(), "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": nd.to_string(), "size": note.len()}],
    });
    let mb = serde_json::to_vec(&manifest).unwrap();
    let (md, _) = src.put_document(&mb, None, &lease).unwrap();
    let name = format!("{}/art/note:v1", reg.host);
    src.meta()
        .set_name(
            &r(&name).to_string(),
            &md,
            strata_oci::media::OCI_MANIFEST,
            mb.len() as u64,
            true,
        )
        .unwrap();
    src.release(lease).unwrap();
    let client = Client::new(client_config(tmp.path()));
    let (res, _) = push_collect(&client, &src, &name, &PushOptions::default()).await;
    assert_eq!(res.digest, md);
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let (pulled, _) = pull_collect(&client, &dst, &name, &PullOptions::default()).await;
    assert_eq!(pulled.unwrap().target.digest, md);
    assert_eq!(dst.read_blob(&nd, 1024).unwrap(), note);
}
