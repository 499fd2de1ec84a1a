//! Credentials from Docker's `config.json` through the `docker-credential-*` helper
//! protocol (`credHelpers` per registry and `credsStore` for all), against Distribution
//! with htpasswd auth. One test per binary: it sets PATH for the helper.

mod common;

use std::sync::Arc;

use common::*;
use strata_oci::Reference;
use strata_remote::{Client, PullOptions, PushOptions};
use strata_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpers_supply_credentials() {
    let Some(reg) = distribution(RegAuth::Htpasswd("erin", "helper-pw")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A helper that answers `get` for this registry and logs the server it was asked for.
    let log = tmp.path().join("helper.log");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> {}\nif [ \"$server\" = \"{}\" ]; then echo '{{\"ServerURL\":\"{}\",\"Username\":\"erin\",\"Secret\":\"helper-pw\"}}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        log.display(),
        reg.host,
        reg.host
    );
    for name in [
        "docker-credential-stratatest",
        "docker-credential-stratastore",
    ] {
        let p = bin.join(name);
        std::fs::write(&p, &script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::env::set_var("PATH", path);

    let src = Arc::new(Store::open(tmp.path().join("src")).unwrap());
    let name = format!("{}/helped/app:v1", reg.host);
    let desc = put_image(
        &src,
        Some(&name),
        &[layer_tar(&[("f", noise(20_000, 1))])],
        "amd64",
    );
    let rf = Reference::parse_normalized(&name).unwrap();

    // credHelpers for this host.
    let cfg = client_config(tmp.path());
    let dc = cfg.docker_config_dir.clone().unwrap();
    std::fs::create_dir_all(&dc).unwrap();
    std::fs::write(
        dc.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"stratatest"}}}}"#, reg.host),
    )
    .unwrap();
    let res = strata_remote::push(
        &Client::new(cfg),
        src.clone(),
        &rf,
        &PushOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(res.digest, desc.digest);
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .any(|l| l == reg.host));

    // credsStore for everything.
    let cfg = client_config(&tmp.path().join("second"));
    let dc = cfg.docker_config_dir.clone().unwrap();
    std::fs::create_dir_all(&dc).unwrap();
    std::fs::write(dc.join("config.json"), r#"{"credsStore":"stratastore"}"#).unwrap();
    let dst = Arc::new(Store::open(tmp.path().join("dst")).unwrap());
    let p = strata_remote::pull(&Client::new(cfg), dst, &rf, &PullOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(p.target.digest, desc.digest);
}
