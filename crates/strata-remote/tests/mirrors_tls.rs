//! Registry configuration in action: per-registry mirrors tried before the origin (and
//! skipped when down), and TLS with a per-registry CA from `certs.d/<host>/ca.crt`.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use strata_oci::Reference;
use strata_remote::{Client, PullOptions, PushOptions};
use strata_store::Store;

fn r(s: &str) -> Reference {
    Reference::parse_with_default_tag(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_first_then_origin() {
    let Some(reg) = distribution(RegAuth::None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/mir/app:v1", reg.host);
    put_image(
        &src,
        Some(&name),
        &[layer_tar(&[("f", noise(500_000, 21))])],
        "amd64",
    );
    strata_remote::push(
        &Client::new(client_config(tmp.path())),
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();

    let origin = Proxy::start(reg.port, Fault::None);
    let mirror = Proxy::start(reg.port, Fault::None);
    let mut cfg = client_config(tmp.path());
    cfg.mirrors
        .insert(origin.host.clone(), vec![format!("http://{}", mirror.host)]);
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let via_origin = r(&format!("{}/mir/app:v1", origin.host));
    strata_remote::pull(
        &Client::new(cfg),
        dst.clone(),
        &via_origin,
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(
        mirror.bytes() > 500_000,
        "the mirror served the content ({} bytes)",
        mirror.bytes()
    );
    assert!(
        origin.bytes() < 10_000,
        "the origin was only pinged ({} bytes)",
        origin.bytes()
    );

    // A mirror that is down is skipped.
    let mut cfg = client_config(tmp.path());
    cfg.mirrors.insert(
        origin.host.clone(),
        vec![format!("http://127.0.0.1:{}", free_port())],
    );
    let dst2 = Arc::new(Store::open(tmp.path().join("dst2")).unwrap());
    let before = origin.bytes();
    strata_remote::pull(
        &Client::new(cfg),
        dst2.clone(),
        &via_origin,
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(origin.bytes() - before > 500_000);

    // An origin that cannot be reached at all: the mirror alone serves the pull.
    let dead_origin = format!("127.0.0.1:{}", free_port());
    let mut cfg = client_config(tmp.path());
    cfg.mirrors
        .insert(dead_origin.clone(), vec![format!("http://{}", mirror.host)]);
    let dst3 = Arc::new(Store::open(tmp.path().join("dst3")).unwrap());
    let before = mirror.bytes();
    strata_remote::pull(
        &Client::new(cfg),
        dst3.clone(),
        &r(&format!("{dead_origin}/mir/app:v1")),
        &PullOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(
        mirror.bytes() - before > 500_000,
        "the mirror served the pull"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_per_registry_ca() {
    if !have_tool("openssl", require_peers()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Strata Test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let Some(reg) = distribution_tls(
        RegAuth::None,
        Some((&d.join("srv.crt"), &d.join("srv.key"))),
    ) else {
        return;
    };

    let src = Arc::new(Store::open(d.join("src")).unwrap());
    let name = format!("{}/tls/app:v1", reg.host);
    let desc = put_image(
        &src,
        Some(&name),
        &[layer_tar(&[("f", noise(50_000, 2))])],
        "amd64",
    );

    // Without the CA the registry cannot be trusted.
    let plain = Client::new(client_config(&d.join("noca")));
    assert!(strata_remote::push(
        &plain,
        src.clone(),
        &r(&name),
        &PushOptions::default(),
        |_| {}
    )
    .await
    .is_err());

    let cfg = client_config(d);
    let certs = cfg.config_dir.join("certs.d").join(&reg.host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(d.join("ca.crt"), certs.join("ca.crt")).unwrap();
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
    assert_eq!(
        client.endpoint(&reg.host).await.unwrap().base.scheme(),
        "https"
    );
    let dst = Arc::new(Store::open(d.join("dst")).unwrap());
    let p = strata_remote::pull(&client, dst, &r(&name), &PullOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(p.target.digest, desc.digest);
}
