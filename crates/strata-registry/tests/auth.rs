//! Authentication and authorisation over TCP: htpasswd Basic, the token server (Docker
//! token spec), access rules per repository pattern, anonymous pull, catalog filtering,
//! and mount authorisation (no mounting from a repository the caller cannot read).

mod common;

use std::path::Path;

use base64::Engine;
use common::{bytes_of, manifest, sha256, Client, OCI_MANIFEST};
use strata_registry::config::{AccessRule, AuthConfig, TokenConfig};
use strata_registry::{Config, EmbeddedRegistry};

fn htpasswd(path: &Path) {
    let mut text = String::new();
    for (i, (u, p)) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("mallory", "evil"),
    ]
    .iter()
    .enumerate()
    {
        let h = bcrypt::hash_with_salt(p, 4, [i as u8 + 1; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        text.push_str(&format!("{u}:{h}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn start(token: bool, anonymous_pull: bool) -> (tempfile::TempDir, EmbeddedRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let ht = dir.path().join("htpasswd");
    htpasswd(&ht);
    let mut cfg = Config::for_tests(dir.path().join("root"));
    cfg.auth = AuthConfig {
        htpasswd: Some(ht),
        anonymous_pull,
        token: token.then(TokenConfig::default),
        access: vec![
            AccessRule {
                repository: "team/*".into(),
                users: vec!["alice".into()],
                actions: vec!["*".into()],
            },
            AccessRule {
                repository: "bob/*".into(),
                users: vec!["bob".into()],
                actions: vec!["pull".into(), "push".into()],
            },
            AccessRule {
                repository: "public/*".into(),
                users: vec!["*".into()],
                actions: vec!["pull".into()],
            },
        ],
        ..AuthConfig::default()
    };
    let reg = EmbeddedRegistry::start(cfg).unwrap();
    (dir, reg)
}

fn basic(u: &str, p: &str) -> Option<String> {
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    ))
}

async fn token(
    c: &Client,
    user: Option<(&str, &str)>,
    scopes: &[&str],
) -> (u16, serde_json::Value) {
    let q: Vec<String> = scopes
        .iter()
        .map(|s| format!("scope={}", s.replace(':', "%3A").replace(',', "%2C")))
        .collect();
    let path = format!("/token?service=strata-registry&{}", q.join("&"));
    let cl = c.with_auth(user.and_then(|(u, p)| basic(u, p)));
    let r = cl.get(&path).await;
    (r.status, r.json())
}

async fn bearer(c: &Client, user: Option<(&str, &str)>, scopes: &[&str]) -> Client {
    let (status, v) = token(c, user, scopes).await;
    assert_eq!(status, 200, "token: {v}");
    c.with_auth(Some(format!("Bearer {}", v["token"].as_str().unwrap())))
}

/// Pushes a one-layer image to `name:v1`; returns (layer digest, manifest digest).
async fn push_image(c: &Client, name: &str, seed: u64) -> (String, String) {
    let layer = bytes_of(seed, 1000);
    let config = format!(r#"{{"os":"linux","architecture":"amd64","seed":{seed}}}"#).into_bytes();
    assert_eq!(c.push_blob(name, &layer).await.1.status, 201);
    assert_eq!(c.push_blob(name, &config).await.1.status, 201);
    let m = manifest(&config, &[&layer], None);
    let r = c.put_manifest(name, "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    (sha256(&layer), sha256(&m))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_enforces_access_rules() {
    let (_dir, reg) = start(false, false);
    let anon = Client::new(&reg.url());
    let alice = anon.with_auth(basic("alice", "wonderland"));
    let mallory = anon.with_auth(basic("mallory", "evil"));
    let r = anon.get("/v2/").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));
    assert_eq!(
        anon.with_auth(basic("alice", "wrong"))
            .get("/v2/")
            .await
            .status,
        401
    );
    assert_eq!(alice.get("/v2/").await.status, 200);
    let (layer, mdig) = push_image(&alice, "team/app", 1).await;

    // mallory: signed in, but no rule for team/*.
    for (m, path) in [
        ("GET", "/v2/team/app/manifests/v1".to_string()),
        ("GET", format!("/v2/team/app/blobs/{layer}")),
        ("POST", "/v2/team/app/blobs/uploads/".to_string()),
        ("DELETE", format!("/v2/team/app/manifests/{mdig}")),
        ("GET", "/v2/team/app/tags/list".to_string()),
    ] {
        let r = mallory.req(m, &path, &[], vec![]).await;
        assert_eq!(r.status, 403, "{m} {path}");
        assert_eq!(r.error_code().as_deref(), Some("DENIED"));
        let r = anon.req(m, &path, &[], vec![]).await;
        assert_eq!(r.status, 401, "anonymous {m} {path}");
    }
    // Catalog: signed-in users see only what they can pull.
    let cat = mallory.get("/v2/_catalog").await;
    assert_eq!(cat.status, 200);
    assert_eq!(cat.json()["repositories"], serde_json::json!([]));
    assert_eq!(
        alice.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!(["team/app"])
    );
    // Search hides it too.
    let s = mallory.get("/v1/search?q=app").await;
    assert_eq!(s.json()["num_results"], 0);
    assert_eq!(alice.get("/v1/search?q=app").await.json()["num_results"], 1);
    // bob may pull and push bob/* but not delete.
    let bob = anon.with_auth(basic("bob", "builder"));
    let (_, bm) = push_image(&bob, "bob/tool", 2).await;
    assert_eq!(
        bob.req(
            "DELETE",
            &format!("/v2/bob/tool/manifests/{bm}"),
            &[],
            vec![]
        )
        .await
        .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_requires_read_access_to_the_source() {
    let (_dir, reg) = start(false, false);
    let anon = Client::new(&reg.url());
    let alice = anon.with_auth(basic("alice", "wonderland"));
    let bob = anon.with_auth(basic("bob", "builder"));
    let (layer, _) = push_image(&alice, "team/secret", 3).await;
    // With from: bob cannot read team/secret, so no mount happens.
    let r = bob
        .req(
            "POST",
            &format!("/v2/bob/stolen/blobs/uploads/?mount={layer}&from=team/secret"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202, "must fall back to an upload");
    assert_eq!(
        bob.head(&format!("/v2/bob/stolen/blobs/{layer}"))
            .await
            .status,
        404
    );
    // Without from: the blob exists, but in no repository bob can read.
    let r = bob
        .req(
            "POST",
            &format!("/v2/bob/stolen/blobs/uploads/?mount={layer}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        bob.head(&format!("/v2/bob/stolen/blobs/{layer}"))
            .await
            .status,
        404
    );
    // alice can mount between her own repositories, with and without from.
    let r = alice
        .req(
            "POST",
            &format!("/v2/team/copy/blobs/uploads/?mount={layer}&from=team/secret"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    let r = alice
        .req(
            "POST",
            &format!("/v2/team/copy2/blobs/uploads/?mount={layer}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        alice
            .head(&format!("/v2/team/copy2/blobs/{layer}"))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_server_grants_the_intersection_of_requested_and_allowed() {
    let (_dir, reg) = start(true, false);
    let anon = Client::new(&reg.url());
    // The challenge names the realm, service and scope.
    let r = anon.get("/v2/team/app/manifests/v1").await;
    assert_eq!(r.status, 401);
    let ch = r.header("www-authenticate").unwrap();
    assert!(
        ch.starts_with(&format!(
            "Bearer realm=\"http://{}/token\",service=\"strata-registry\"",
            reg.host()
        )),
        "{ch}"
    );
    assert!(ch.contains("scope=\"repository:team/app:pull\""), "{ch}");

    let (status, v) = token(
        &anon,
        Some(("alice", "wrong")),
        &["repository:team/app:pull"],
    )
    .await;
    assert_eq!(status, 401, "{v}");
    let (status, v) = token(
        &anon,
        Some(("mallory", "evil")),
        &["repository:team/app:pull,push", "registry:catalog:*"],
    )
    .await;
    assert_eq!(status, 200);
    let payload = v["token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "mallory");
    assert_eq!(claims["aud"], "strata-registry");
    assert_eq!(claims["access"][0]["actions"], serde_json::json!([]));
    assert_eq!(claims["access"][1]["actions"], serde_json::json!(["*"]));
    assert!(v["expires_in"].as_u64().unwrap() > 0 && v["issued_at"].is_string());

    let alice = bearer(
        &anon,
        Some(("alice", "wonderland")),
        &["repository:team/app:pull,push"],
    )
    .await;
    let (layer, mdig) = push_image(&alice, "team/app", 4).await;
    assert_eq!(alice.get("/v2/team/app/manifests/v1").await.status, 200);
    // The token does not carry delete: 401 insufficient_scope (alice could get it).
    let r = alice
        .req(
            "DELETE",
            &format!("/v2/team/app/manifests/{mdig}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    // Mallory's token grants nothing on team/app: denied outright.
    let mallory = bearer(
        &anon,
        Some(("mallory", "evil")),
        &["repository:team/app:pull"],
    )
    .await;
    let r = mallory.get(&format!("/v2/team/app/blobs/{layer}")).await;
    assert_eq!(r.status, 403);
    // Tampered and unsigned tokens are refused.
    let good = alice.auth.clone().unwrap();
    let parts: Vec<&str> = good.trim_start_matches("Bearer ").split('.').collect();
    let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&serde_json::json!({"iss":"strata-registry","sub":"mallory","aud":"strata-registry","exp":9999999999i64,"nbf":0,"iat":0,"jti":"x","access":[{"type":"repository","name":"team/app","actions":["pull"]}]})).unwrap(),
    );
    let forged = format!("Bearer {}.{}.{}", parts[0], forged_claims, parts[2]);
    let none_hdr =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("Bearer {none_hdr}.{forged_claims}.");
    for bad in [forged, unsigned] {
        let r = anon
            .with_auth(Some(bad))
            .get("/v2/team/app/manifests/v1")
            .await;
        assert_eq!(r.status, 401);
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token"));
    }
    // OAuth2 password grant.
    let r = anon
        .req(
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"grant_type=password&username=alice&password=wonderland&service=strata-registry&scope=repository%3Ateam%2Fapp%3Apull&client_id=test".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        anon.with_auth(Some(format!("Bearer {t}")))
            .get("/v2/team/app/manifests/v1")
            .await
            .status,
        200
    );
    // Catalog needs registry:catalog:*.
    assert_eq!(alice.get("/v2/_catalog").await.status, 401);
    let cat = bearer(
        &anon,
        Some(("alice", "wonderland")),
        &["registry:catalog:*"],
    )
    .await;
    assert_eq!(
        cat.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!(["team/app"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pull_allows_reads_only() {
    let (_dir, reg) = start(true, true);
    let anon = Client::new(&reg.url());
    let alice = bearer(
        &anon,
        Some(("alice", "wonderland")),
        &["repository:team/pub:pull,push"],
    )
    .await;
    push_image(&alice, "team/pub", 5).await;
    let reader = bearer(&anon, None, &["repository:team/pub:pull,push"]).await;
    assert_eq!(reader.get("/v2/team/pub/manifests/v1").await.status, 200);
    let r = reader
        .req("POST", "/v2/team/pub/blobs/uploads/", &[], vec![])
        .await;
    assert_eq!(r.status, 401, "anonymous push must be refused");
    // Without any token, pulls work too.
    assert_eq!(anon.get("/v2/team/pub/manifests/v1").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_registry_refuses_non_loopback_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::for_tests(dir.path());
    cfg.addr = "0.0.0.0:0".parse().unwrap();
    let err = strata_registry::EmbeddedRegistry::start(cfg)
        .err()
        .expect("must refuse");
    assert!(
        err.to_string()
            .contains("refusing to serve without authentication"),
        "{err}"
    );
}
