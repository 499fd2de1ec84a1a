//! The conformance suite, written from the OCI Distribution Specification v1.1 (and the
//! cases listed in shared/reference/registry.md). [`run`] drives any registry at a base URL
//! over TCP and reports each case's outcome; it asserts nothing itself so it can also be
//! pointed at other servers to show what they fail.

use std::collections::BTreeMap;
use std::future::Future;

use super::{
    bytes_of, descriptor, manifest, sha256, Client, Resp, DOCKER_CONFIG, DOCKER_LAYER,
    DOCKER_MANIFEST, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

/// Outcome of every case.
#[derive(Debug, Default)]
pub struct Report {
    pub results: Vec<(String, Result<(), String>)>,
}

impl Report {
    async fn case<F: Future<Output = Result<(), String>>>(&mut self, name: &str, f: F) {
        let r = f.await;
        self.results.push((name.to_string(), r));
    }
    pub fn failed(&self) -> Vec<&str> {
        self.results
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(n, _)| n.as_str())
            .collect()
    }
    pub fn summary(&self) -> String {
        self.results
            .iter()
            .map(|(n, r)| match r {
                Ok(()) => format!("ok   {n}\n"),
                Err(e) => format!("FAIL {n}: {e}\n"),
            })
            .collect()
    }
}

fn ensure(cond: bool, msg: impl Into<String>) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg.into())
    }
}

fn status(r: &Resp, want: &[u16], what: &str) -> Result<(), String> {
    ensure(
        want.contains(&r.status),
        format!(
            "{what}: status {} (want {:?}) body {}",
            r.status,
            want,
            String::from_utf8_lossy(&r.body)
                .chars()
                .take(200)
                .collect::<String>()
        ),
    )
}

fn has_code(r: &Resp, code: &str) -> Result<(), String> {
    ensure(
        r.error_code().as_deref() == Some(code),
        format!("error code {:?}, want {code}", r.error_code()),
    )
}

/// Runs every case against the registry at `base` (`http://host:port`), using repository
/// `ns` and cross-mount repository `cross`.
pub async fn run(base: &str, ns: &str, cross: &str) -> Report {
    run_as(base, ns, cross, None).await
}

/// Like [`run`], sending `authorization` (e.g. a Basic header) with every request.
pub async fn run_as(base: &str, ns: &str, cross: &str, authorization: Option<String>) -> Report {
    let c = Client::new(base).with_auth(authorization);
    let mut rep = Report::default();
    let layer_a = bytes_of(1, 2048);
    let layer_b = bytes_of(2, 4096);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let empty_json = b"{}".to_vec();
    let da = sha256(&layer_a);

    // ---- base ---------------------------------------------------------------------------
    rep.case("base: GET /v2/ answers 200", async {
        let r = c.get("/v2/").await;
        status(&r, &[200], "GET /v2/")
    })
    .await;

    // ---- push ---------------------------------------------------------------------------
    rep.case(
        "push: POST then PUT with body (monolithic) 201 + Location",
        async {
            let (_, r) = c.push_blob(ns, &layer_a).await;
            status(&r, &[201], "PUT")?;
            ensure(r.header("location").is_some(), "no Location")
        },
    )
    .await;
    rep.case("push: config and empty {} blob POST+PUT 201", async {
        status(&c.push_blob(ns, &config).await.1, &[201], "config")?;
        status(&c.push_blob(ns, &empty_json).await.1, &[201], "{}")
    })
    .await;
    rep.case(
        "push: single POST ?digest= with body gives 201 (then GET 200) or 202",
        async {
            let data = bytes_of(3, 700);
            let d = sha256(&data);
            let r = c
                .req(
                    "POST",
                    &format!("/v2/{ns}/blobs/uploads/?digest={d}"),
                    &[("content-type", "application/octet-stream")],
                    data.clone(),
                )
                .await;
            status(&r, &[201, 202], "POST")?;
            ensure(r.header("location").is_some(), "no Location")?;
            if r.status == 201 {
                let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
                status(&g, &[200], "GET after 201")?;
                ensure(g.body == data, "content differs")?;
            }
            Ok(())
        },
    )
    .await;
    rep.case(
        "push: streamed PATCH without Content-Range, PUT empty body 201",
        async {
            let data = bytes_of(4, 5000);
            let d = sha256(&data);
            let r = c
                .req("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], vec![])
                .await;
            status(&r, &[202], "POST")?;
            let loc = r.header("location").ok_or("no Location")?;
            let r = c
                .req(
                    "PATCH",
                    &loc,
                    &[("content-type", "application/octet-stream")],
                    data.clone(),
                )
                .await;
            status(&r, &[202], "PATCH")?;
            let loc = r.header("location").ok_or("no Location after PATCH")?;
            let sep = if loc.contains('?') { '&' } else { '?' };
            let r = c
                .req("PUT", &format!("{loc}{sep}digest={d}"), &[], vec![])
                .await;
            status(&r, &[201], "PUT")?;
            ensure(r.header("location").is_some(), "no Location")?;
            let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
            ensure(
                g.status == 200 && g.body == data,
                "GET after streamed upload",
            )
        },
    )
    .await;
    rep.case(
        "push: chunked upload with out-of-order 416, resume by GET, final PUT 201",
        async {
            let data = bytes_of(5, 2048);
            let d = sha256(&data);
            let r = c
                .req("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], vec![])
                .await;
            status(&r, &[202], "POST")?;
            let loc0 = r.header("location").ok_or("no Location")?;
            let ct = ("content-type", "application/octet-stream");
            let r = c
                .req(
                    "PATCH",
                    &loc0,
                    &[ct, ("content-range", "1024-2047")],
                    data[1024..].to_vec(),
                )
                .await;
            status(&r, &[416], "chunk 2 first")?;
            let r = c
                .req(
                    "PATCH",
                    &loc0,
                    &[ct, ("content-range", "0-1023")],
                    data[..1024].to_vec(),
                )
                .await;
            status(&r, &[202], "chunk 1")?;
            ensure(
                r.header("range").as_deref() == Some("0-1023"),
                format!("Range {:?}", r.header("range")),
            )?;
            let loc1 = r.header("location").ok_or("no Location")?;
            let r = c
                .req(
                    "PATCH",
                    &loc0,
                    &[ct, ("content-range", "0-1023")],
                    data[..1024].to_vec(),
                )
                .await;
            status(&r, &[416], "chunk 1 again at old location")?;
            let r = c.get(&loc0).await;
            status(&r, &[204], "GET upload")?;
            ensure(
                r.header("range").as_deref() == Some("0-1023"),
                format!("GET Range {:?}", r.header("range")),
            )?;
            let loc = r.header("location").unwrap_or(loc1);
            let r = c
                .req(
                    "PATCH",
                    &loc,
                    &[ct, ("content-range", "1024-2047")],
                    data[1024..].to_vec(),
                )
                .await;
            status(&r, &[202], "chunk 2")?;
            let loc = r.header("location").ok_or("no Location")?;
            let sep = if loc.contains('?') { '&' } else { '?' };
            let r = c
                .req(
                    "PUT",
                    &format!("{loc}{sep}digest={d}"),
                    &[("content-length", "0")],
                    vec![],
                )
                .await;
            status(&r, &[201], "PUT")?;
            let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
            ensure(
                g.status == 200 && g.body == data,
                "GET after chunked upload",
            )
        },
    )
    .await;
    rep.case(
        "push: chunked upload with the last chunk in the PUT",
        async {
            let data = bytes_of(6, 3000);
            let d = sha256(&data);
            let r = c
                .req("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], vec![])
                .await;
            let loc = r.header("location").ok_or("no Location")?;
            let ct = ("content-type", "application/octet-stream");
            let r = c
                .req(
                    "PATCH",
                    &loc,
                    &[ct, ("content-range", "0-1499")],
                    data[..1500].to_vec(),
                )
                .await;
            status(&r, &[202], "chunk 1")?;
            let loc = r.header("location").ok_or("no Location")?;
            let sep = if loc.contains('?') { '&' } else { '?' };
            let r = c
                .req(
                    "PUT",
                    &format!("{loc}{sep}digest={d}"),
                    &[ct, ("content-range", "1500-2999")],
                    data[1500..].to_vec(),
                )
                .await;
            status(&r, &[201], "PUT with last chunk")?;
            let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
            ensure(g.status == 200 && g.body == data, "GET after upload")
        },
    )
    .await;
    rep.case("push: DELETE an upload cancels it (204, then 404)", async {
        let r = c
            .req("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], vec![])
            .await;
        let loc = r.header("location").ok_or("no Location")?;
        status(
            &c.req("DELETE", &loc, &[], vec![]).await,
            &[204],
            "DELETE upload",
        )?;
        let r = c.get(&loc).await;
        status(&r, &[404], "GET cancelled upload")?;
        has_code(&r, "BLOB_UPLOAD_UNKNOWN")
    })
    .await;
    rep.case(
        "push: wrong digest on PUT gives 400 DIGEST_INVALID and stores nothing",
        async {
            let data = bytes_of(7, 1000);
            let wrong = sha256(b"something else entirely");
            let r = c
                .req("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], vec![])
                .await;
            let loc = r.header("location").ok_or("no Location")?;
            let sep = if loc.contains('?') { '&' } else { '?' };
            let r = c
                .req(
                    "PUT",
                    &format!("{loc}{sep}digest={wrong}"),
                    &[("content-type", "application/octet-stream")],
                    data.clone(),
                )
                .await;
            status(&r, &[400], "PUT with lying digest")?;
            has_code(&r, "DIGEST_INVALID")?;
            status(
                &c.head(&format!("/v2/{ns}/blobs/{wrong}")).await,
                &[404],
                "HEAD claimed digest",
            )?;
            status(
                &c.head(&format!("/v2/{ns}/blobs/{}", sha256(&data))).await,
                &[404],
                "HEAD real digest",
            )
        },
    )
    .await;
    rep.case("push: zero-byte blob", async {
        let (d, r) = c.push_blob(ns, b"").await;
        status(&r, &[201], "PUT")?;
        let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
        ensure(
            g.status == 200 && g.body.is_empty(),
            format!("GET zero-byte blob: {}", g.status),
        )
    })
    .await;
    rep.case("push: sha512 blob upload and GET", async {
        use sha2::Digest as _;
        let data = bytes_of(8, 777);
        let d = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&data)));
        let r = c
            .req("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], vec![])
            .await;
        let loc = r.header("location").ok_or("no Location")?;
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = c
            .req("PUT", &format!("{loc}{sep}digest={d}"), &[], data.clone())
            .await;
        status(&r, &[201], "PUT sha512")?;
        let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
        ensure(
            g.status == 200 && g.body == data,
            format!("GET sha512 blob: {}", g.status),
        )
    })
    .await;
    rep.case(
        "push: POST ?digest-algorithm=sha512 then PUT with a sha512 digest",
        async {
            use sha2::Digest as _;
            let data = bytes_of(10, 1500);
            let d = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&data)));
            let r = c
                .req(
                    "POST",
                    &format!("/v2/{ns}/blobs/uploads/?digest-algorithm=sha512"),
                    &[],
                    vec![],
                )
                .await;
            status(&r, &[202], "POST")?;
            let loc = r.header("location").ok_or("no Location")?;
            let sep = if loc.contains('?') { '&' } else { '?' };
            status(
                &c.req("PUT", &format!("{loc}{sep}digest={d}"), &[], data.clone())
                    .await,
                &[201],
                "PUT",
            )?;
            let g = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
            ensure(g.status == 200 && g.body == data, "GET")
        },
    )
    .await;
    rep.case(
        "push: mount without from of a missing blob gives 202 + Location",
        async {
            let missing = sha256(b"never pushed anywhere 1");
            let r = c
                .req(
                    "POST",
                    &format!("/v2/{cross}/blobs/uploads/?mount={missing}"),
                    &[],
                    vec![],
                )
                .await;
            status(&r, &[202], "POST mount")?;
            ensure(r.header("location").is_some(), "no Location")
        },
    )
    .await;
    rep.case(
        "push: mount with from gives 201 Location /v2/<cross>/blobs/<d> (or 202)",
        async {
            let r = c
                .req(
                    "POST",
                    &format!("/v2/{cross}/blobs/uploads/?mount={da}&from={ns}"),
                    &[],
                    vec![],
                )
                .await;
            status(&r, &[201, 202], "POST mount")?;
            let loc = c.path_of(&r.header("location").ok_or("no Location")?);
            if r.status == 201 {
                ensure(
                    loc == format!("/v2/{cross}/blobs/{da}"),
                    format!("Location {loc}"),
                )?;
                status(
                    &c.head(&format!("/v2/{cross}/blobs/{da}")).await,
                    &[200],
                    "HEAD mounted",
                )
            } else {
                ensure(
                    loc.starts_with(&format!("/v2/{cross}/blobs/uploads/")),
                    format!("Location {loc}"),
                )
            }
        },
    )
    .await;
    rep.case(
        "push: mount of a missing blob with from must not succeed",
        async {
            let missing = sha256(b"never pushed anywhere 2");
            let r = c
                .req(
                    "POST",
                    &format!("/v2/{cross}/blobs/uploads/?mount={missing}&from={ns}"),
                    &[],
                    vec![],
                )
                .await;
            status(&r, &[202], "POST mount")?;
            status(
                &c.head(&format!("/v2/{cross}/blobs/{missing}")).await,
                &[404],
                "HEAD",
            )
        },
    )
    .await;

    // Manifests.
    let m1 = manifest(&config, &[&layer_a], None);
    let d1 = sha256(&m1);
    rep.case(
        "push: manifest PUT to tags test0..test3 201 with Docker-Content-Digest",
        async {
            for t in ["test0", "test1", "test2", "test3"] {
                let r = c.put_manifest(ns, t, OCI_MANIFEST, &m1).await;
                status(&r, &[201], &format!("PUT {t}"))?;
                ensure(r.header("location").is_some(), "no Location")?;
                ensure(
                    r.header("docker-content-digest").as_deref() == Some(&d1),
                    format!("digest {:?}", r.header("docker-content-digest")),
                )?;
            }
            Ok(())
        },
    )
    .await;
    rep.case("push: manifest without layers 201", async {
        let m = manifest(&config, &[], None);
        status(
            &c.put_manifest(ns, "nolayers", OCI_MANIFEST, &m).await,
            &[201],
            "PUT",
        )
    })
    .await;
    rep.case(
        "push: manifest PUT by digest 201, GET by digest 200",
        async {
            let m = manifest(
                &config,
                &[&layer_a],
                Some(BTreeMap::from([("k".to_string(), "by-digest".to_string())])),
            );
            let d = sha256(&m);
            status(
                &c.put_manifest(ns, &d, OCI_MANIFEST, &m).await,
                &[201],
                "PUT",
            )?;
            let g = c.get(&format!("/v2/{ns}/manifests/{d}")).await;
            ensure(g.status == 200 && g.body == m, "GET by digest")
        },
    )
    .await;
    rep.case(
        "push: manifest PUT to sha256:baddigeststring gives 400",
        async {
            status(
                &c.put_manifest(ns, "sha256:baddigeststring", OCI_MANIFEST, &m1)
                    .await,
                &[400],
                "PUT",
            )
        },
    )
    .await;
    rep.case(
        "push: manifest body with trailing whitespace PUT to the digest without it gives 400",
        async {
            let mut body = m1.clone();
            body.extend_from_slice(b"\n  ");
            status(
                &c.put_manifest(ns, &d1, OCI_MANIFEST, &body).await,
                &[400],
                "PUT",
            )
        },
    )
    .await;
    rep.case(
        "push: corrupted manifest body gives 400 MANIFEST_INVALID",
        async {
            let r = c
                .put_manifest(
                    ns,
                    "corrupt",
                    OCI_MANIFEST,
                    b"{\"schemaVersion\": 2, \"config\": ",
                )
                .await;
            status(&r, &[400], "PUT")?;
            has_code(&r, "MANIFEST_INVALID")
        },
    )
    .await;
    rep.case(
        "push: ambiguous manifest/index refused (CVE-2021-41190)",
        async {
            // Content-Type says index, the document is a manifest.
            let r = c.put_manifest(ns, "ambiguous1", OCI_INDEX, &m1).await;
            status(&r, &[400], "mismatched Content-Type")?;
            // A document with both manifests and layers.
            let mut v: serde_json::Value = serde_json::from_slice(&m1).unwrap();
            v["manifests"] = serde_json::json!([]);
            v.as_object_mut().unwrap().remove("mediaType");
            let r = c
                .put_manifest(
                    ns,
                    "ambiguous2",
                    OCI_MANIFEST,
                    &serde_json::to_vec(&v).unwrap(),
                )
                .await;
            status(&r, &[400], "manifests and layers")
        },
    )
    .await;
    rep.case("push: manifest over 4 MiB gives 413", async {
        let big = "x".repeat(4 * 1024 * 1024 + 100);
        let m = manifest(
            &config,
            &[&layer_a],
            Some(BTreeMap::from([("big".to_string(), big)])),
        );
        status(
            &c.put_manifest(ns, "toolarge", OCI_MANIFEST, &m).await,
            &[413],
            "PUT",
        )
    })
    .await;
    rep.case("push: 3.9 MB manifest accepted", async {
        let big = "y".repeat(3_900_000);
        let m = manifest(
            &config,
            &[&layer_a],
            Some(BTreeMap::from([("big".to_string(), big)])),
        );
        status(
            &c.put_manifest(ns, "large", OCI_MANIFEST, &m).await,
            &[201],
            "PUT",
        )?;
        let g = c.get(&format!("/v2/{ns}/manifests/large")).await;
        ensure(g.status == 200 && g.body == m, "GET large")
    })
    .await;
    rep.case(
        "push: manifest referencing an unknown blob gives 400 MANIFEST_BLOB_UNKNOWN",
        async {
            let ghost = bytes_of(99, 100);
            let m = manifest(&config, &[&ghost], None);
            let r = c.put_manifest(ns, "ghost", OCI_MANIFEST, &m).await;
            status(&r, &[400], "PUT")?;
            has_code(&r, "MANIFEST_BLOB_UNKNOWN")
        },
    )
    .await;
    rep.case(
        "push: non-distributable layer with urls, never pushed, accepted",
        async {
            let foreign = bytes_of(100, 10);
            let mut m: serde_json::Value =
                serde_json::from_slice(&manifest(&config, &[&layer_a], None)).unwrap();
            let mut fd = descriptor(
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                &foreign,
            );
            fd["urls"] = serde_json::json!(["https://example.com/layer.tar.gz"]);
            m["layers"].as_array_mut().unwrap().push(fd);
            let body = serde_json::to_vec(&m).unwrap();
            status(
                &c.put_manifest(ns, "foreign", OCI_MANIFEST, &body).await,
                &[201],
                "PUT",
            )
        },
    )
    .await;
    rep.case("push: image index, nested index and empty index 201", async {
        let idx = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len(),
                           "platform": {"architecture": "amd64", "os": "linux"}}]
        })).unwrap();
        status(&c.put_manifest(ns, "index", OCI_INDEX, &idx).await, &[201], "index")?;
        let nested = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_INDEX, "digest": sha256(&idx), "size": idx.len()}]
        })).unwrap();
        status(&c.put_manifest(ns, "nested", OCI_INDEX, &nested).await, &[201], "nested")?;
        let empty = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        status(&c.put_manifest(ns, "emptyindex", OCI_INDEX, empty).await, &[201], "empty index")?;
        let g = c.get(&format!("/v2/{ns}/manifests/nested")).await;
        ensure(g.status == 200 && g.body == nested, "GET nested")
    })
    .await;
    rep.case(
        "push: PUT manifest by digest with ?tag=a&tag=b tags both",
        async {
            let m = manifest(
                &config,
                &[&layer_a],
                Some(BTreeMap::from([("k".to_string(), "multi-tag".to_string())])),
            );
            let d = sha256(&m);
            status(
                &c.put_manifest(
                    ns,
                    &format!("{d}?tag=multi-a&tag=multi-b"),
                    OCI_MANIFEST,
                    &m,
                )
                .await,
                &[201],
                "PUT",
            )?;
            for t in ["multi-a", "multi-b"] {
                let g = c.get(&format!("/v2/{ns}/manifests/{t}")).await;
                ensure(
                    g.status == 200 && g.body == m,
                    format!("GET {t}: {}", g.status),
                )?;
            }
            Ok(())
        },
    )
    .await;
    rep.case("push: Docker schema2 manifest stored and served with its media type", async {
        let dc = br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
        status(&c.push_blob(ns, &dc).await.1, &[201], "config")?;
        status(&c.push_blob(ns, &layer_b).await.1, &[201], "layer")?;
        let m = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": descriptor(DOCKER_CONFIG, &dc),
            "layers": [descriptor(DOCKER_LAYER, &layer_b)],
        })).unwrap();
        status(&c.put_manifest(ns, "docker", DOCKER_MANIFEST, &m).await, &[201], "PUT")?;
        let g = c.get(&format!("/v2/{ns}/manifests/docker")).await;
        ensure(g.status == 200 && g.body == m, "GET")?;
        ensure(g.header("content-type").as_deref() == Some(DOCKER_MANIFEST), format!("Content-Type {:?}", g.header("content-type")))
    })
    .await;

    // ---- pull ---------------------------------------------------------------------------
    rep.case(
        "pull: missing blob and manifest answer 404 (HEAD and GET)",
        async {
            let missing = sha256(b"missing-pull");
            status(
                &c.head(&format!("/v2/{ns}/blobs/{missing}")).await,
                &[404],
                "HEAD blob",
            )?;
            let r = c.get(&format!("/v2/{ns}/blobs/{missing}")).await;
            status(&r, &[404], "GET blob")?;
            has_code(&r, "BLOB_UNKNOWN")?;
            status(
                &c.head(&format!("/v2/{ns}/manifests/nosuchtag")).await,
                &[404],
                "HEAD manifest",
            )?;
            let r = c.get(&format!("/v2/{ns}/manifests/nosuchtag")).await;
            status(&r, &[404], "GET manifest")?;
            has_code(&r, "MANIFEST_UNKNOWN")
        },
    )
    .await;
    rep.case(
        "pull: manifest by tag and digest, exact bytes, Content-Type and Docker-Content-Digest",
        async {
            for reference in ["test0", d1.as_str()] {
                let g = c.get(&format!("/v2/{ns}/manifests/{reference}")).await;
                status(&g, &[200], reference)?;
                ensure(g.body == m1, "bytes differ")?;
                ensure(
                    g.header("content-type").as_deref() == Some(OCI_MANIFEST),
                    "Content-Type",
                )?;
                ensure(
                    g.header("docker-content-digest").as_deref() == Some(&d1),
                    "Docker-Content-Digest",
                )?;
            }
            let h = c.head(&format!("/v2/{ns}/manifests/test0")).await;
            status(&h, &[200], "HEAD")?;
            ensure(
                h.header("docker-content-digest").as_deref() == Some(&d1),
                "HEAD Docker-Content-Digest",
            )?;
            ensure(
                h.header("content-length") == Some(m1.len().to_string()),
                format!("HEAD Content-Length {:?}", h.header("content-length")),
            )
        },
    )
    .await;
    rep.case(
        "pull: GET manifests/sha256:totallywrong gives 400 (with spec code) or 404",
        async {
            let r = c
                .get(&format!("/v2/{ns}/manifests/sha256:totallywrong"))
                .await;
            status(&r, &[400, 404], "GET")?;
            if r.status == 400 {
                ensure(r.error_code().is_some(), "400 without error code")?;
            }
            Ok(())
        },
    )
    .await;
    rep.case(
        "pull: blob GET exact bytes, HEAD Content-Length and Docker-Content-Digest",
        async {
            let g = c.get(&format!("/v2/{ns}/blobs/{da}")).await;
            ensure(g.status == 200 && g.body == layer_a, "GET")?;
            let h = c.head(&format!("/v2/{ns}/blobs/{da}")).await;
            status(&h, &[200], "HEAD")?;
            ensure(
                h.header("content-length").as_deref() == Some("2048"),
                format!("Content-Length {:?}", h.header("content-length")),
            )?;
            ensure(
                h.header("docker-content-digest").as_deref() == Some(&da),
                "Docker-Content-Digest",
            )
        },
    )
    .await;
    rep.case(
        "pull: blob Range requests give 206 with exact Content-Range, bad ranges 416",
        async {
            let path = format!("/v2/{ns}/blobs/{da}");
            for (range, start, end) in [
                ("bytes=500-1499", 500, 1499),
                ("bytes=500-", 500, 2047),
                ("bytes=-500", 1548, 2047),
                ("bytes=2000-5000", 2000, 2047),
            ] {
                let r = c.req("GET", &path, &[("range", range)], vec![]).await;
                status(&r, &[206], range)?;
                ensure(
                    r.body == layer_a[start..=end],
                    format!("{range}: bytes differ"),
                )?;
                ensure(
                    r.header("content-length") == Some((end - start + 1).to_string()),
                    format!("{range}: Content-Length"),
                )?;
                ensure(
                    r.header("content-range") == Some(format!("bytes {start}-{end}/2048")),
                    format!("{range}: Content-Range {:?}", r.header("content-range")),
                )?;
            }
            for range in ["bytes=500-0", "bytes=5000-10000"] {
                status(
                    &c.req("GET", &path, &[("range", range)], vec![]).await,
                    &[416],
                    range,
                )?;
            }
            Ok(())
        },
    )
    .await;
    rep.case(
        "pull: invalid repository name gives 400 NAME_INVALID or 404",
        async {
            let r = c.get("/v2/Invalid_Name/manifests/latest").await;
            status(&r, &[400, 404], "GET")
        },
    )
    .await;

    // ---- discovery ----------------------------------------------------------------------
    rep.case(
        "discovery: tags list sorted, n exact with Link, last exclusive, n=0 empty",
        async {
            let r = c.get(&format!("/v2/{ns}/tags/list")).await;
            status(&r, &[200], "list")?;
            let tags: Vec<String> =
                serde_json::from_value(r.json()["tags"].clone()).map_err(|e| e.to_string())?;
            let mut sorted = tags.clone();
            sorted.sort();
            ensure(tags == sorted, "not sorted")?;
            ensure(tags.len() >= 4, "too few tags")?;
            let half = tags.len() / 2;
            let r = c.get(&format!("/v2/{ns}/tags/list?n={half}")).await;
            let page: Vec<String> =
                serde_json::from_value(r.json()["tags"].clone()).map_err(|e| e.to_string())?;
            ensure(page == tags[..half], format!("page {page:?}"))?;
            ensure(
                r.header("link").is_some_and(|l| l.contains("rel=\"next\"")),
                "no Link rel=next",
            )?;
            let r = c
                .get(&format!("/v2/{ns}/tags/list?n=100&last={}", tags[half - 1]))
                .await;
            let rest: Vec<String> =
                serde_json::from_value(r.json()["tags"].clone()).map_err(|e| e.to_string())?;
            ensure(rest == tags[half..], format!("after last {rest:?}"))?;
            let r = c.get(&format!("/v2/{ns}/tags/list?n=0")).await;
            status(&r, &[200], "n=0")?;
            ensure(
                r.json()["tags"].as_array().is_none_or(|a| a.is_empty()),
                "n=0 not empty",
            )
        },
    )
    .await;
    rep.case(
        "discovery: tags list of an unknown repository gives 404",
        async {
            status(
                &c.get("/v2/no/such/repository/tags/list").await,
                &[404],
                "GET",
            )
        },
    )
    .await;
    rep.case(
        "discovery: _catalog lists repositories with n/last paging",
        async {
            let r = c.get("/v2/_catalog").await;
            status(&r, &[200], "catalog")?;
            let repos: Vec<String> = serde_json::from_value(r.json()["repositories"].clone())
                .map_err(|e| e.to_string())?;
            ensure(
                repos.iter().any(|x| x == ns),
                format!("{ns} missing from {repos:?}"),
            )?;
            let r = c.get("/v2/_catalog?n=1").await;
            let page: Vec<String> = serde_json::from_value(r.json()["repositories"].clone())
                .map_err(|e| e.to_string())?;
            ensure(page.len() == 1, "n=1")?;
            if repos.len() > 1 {
                ensure(r.header("link").is_some(), "no Link")?;
            }
            Ok(())
        },
    )
    .await;
    rep.case(
        "discovery: _catalog and tags list refuse a huge n with 400 PAGINATION_NUMBER_INVALID",
        async {
            let r = c.get("/v2/_catalog?n=100000000").await;
            status(&r, &[400], "catalog")?;
            has_code(&r, "PAGINATION_NUMBER_INVALID")?;
            let r = c.get(&format!("/v2/{ns}/tags/list?n=100000000")).await;
            status(&r, &[400], "tags")?;
            has_code(&r, "PAGINATION_NUMBER_INVALID")
        },
    )
    .await;
    rep.case(
        "discovery: referrers of an unknown digest answer 200 with an empty index",
        async {
            let r = c
                .get(&format!(
                    "/v2/{ns}/referrers/{}",
                    sha256(b"nothing refers to this")
                ))
                .await;
            status(&r, &[200], "GET")?;
            ensure(
                r.header("content-type").as_deref() == Some(OCI_INDEX),
                format!("Content-Type {:?}", r.header("content-type")),
            )?;
            ensure(
                r.json()["manifests"]
                    .as_array()
                    .is_some_and(|a| a.is_empty()),
                "not an empty index",
            )
        },
    )
    .await;
    rep.case("discovery: referrers with invalid digest give 400", async {
        status(
            &c.get(&format!("/v2/{ns}/referrers/sha256:nothex")).await,
            &[400],
            "GET",
        )
    })
    .await;
    rep.case("discovery: referrers list, OCI-Subject on PUT, artifactType filter", async {
        let subject = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len()});
        let mut pushed = Vec::new();
        for (i, at) in ["application/vnd.example.sbom", "application/vnd.example.sig", "application/vnd.example.sig"].iter().enumerate() {
            let m = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": at,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
                "layers": [descriptor("application/vnd.oci.empty.v1+json", b"{}")],
                "subject": subject,
                "annotations": {"org.example.n": i.to_string()},
            })).unwrap();
            let d = sha256(&m);
            let r = c.put_manifest(ns, &d, OCI_MANIFEST, &m).await;
            status(&r, &[201], "PUT referrer")?;
            ensure(r.header("oci-subject").as_deref() == Some(&d1), format!("OCI-Subject {:?}", r.header("oci-subject")))?;
            pushed.push(d);
        }
        // A referrer index.
        let ri = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example.bundle",
            "manifests": [], "subject": subject, "annotations": {"org.example.n": "idx"},
        })).unwrap();
        let r = c.put_manifest(ns, &sha256(&ri), OCI_INDEX, &ri).await;
        status(&r, &[201], "PUT referrer index")?;
        ensure(r.header("oci-subject").as_deref() == Some(&d1), "OCI-Subject on index")?;
        // A referrer without artifactType: the config media type stands in.
        let cfg_at = br#"{"kind":"attestation"}"#.to_vec();
        status(&c.push_blob(ns, &cfg_at).await.1, &[201], "config blob")?;
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.example.attestation.config", &cfg_at),
            "layers": [], "subject": subject, "annotations": {"org.example.n": "cfg"},
        })).unwrap();
        status(&c.put_manifest(ns, &sha256(&m), OCI_MANIFEST, &m).await, &[201], "PUT config-typed referrer")?;

        let r = c.get(&format!("/v2/{ns}/referrers/{d1}")).await;
        status(&r, &[200], "GET referrers")?;
        ensure(r.header("content-type").as_deref() == Some(OCI_INDEX), "Content-Type")?;
        let list = r.json()["manifests"].as_array().cloned().unwrap_or_default();
        ensure(list.len() == 5, format!("{} descriptors, want 5", list.len()))?;
        for d in &list {
            ensure(d["annotations"].as_object().is_some_and(|a| a.len() == 1), "each descriptor carries its annotation")?;
            ensure(d["artifactType"].is_string(), "artifactType missing")?;
        }
        ensure(list.iter().any(|d| d["artifactType"] == "application/vnd.example.attestation.config"), "config mediaType fallback")?;
        let r = c.get(&format!("/v2/{ns}/referrers/{d1}?artifactType=application/vnd.example.sig")).await;
        status(&r, &[200], "filtered")?;
        ensure(r.header("oci-filters-applied").as_deref() == Some("artifactType"), "OCI-Filters-Applied")?;
        let list = r.json()["manifests"].as_array().cloned().unwrap_or_default();
        ensure(list.len() == 2, format!("filtered: {} descriptors, want 2", list.len()))
    })
    .await;
    rep.case("discovery: referrer pushed before its subject exists", async {
        let ghost_subject = sha256(b"subject pushed later");
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.early",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": [descriptor("application/vnd.oci.empty.v1+json", b"{}")],
            "subject": {"mediaType": OCI_MANIFEST, "digest": ghost_subject, "size": 123},
        })).unwrap();
        let r = c.put_manifest(ns, &sha256(&m), OCI_MANIFEST, &m).await;
        status(&r, &[201], "PUT")?;
        ensure(r.header("oci-subject").as_deref() == Some(&ghost_subject), "OCI-Subject")?;
        let r = c.get(&format!("/v2/{ns}/referrers/{ghost_subject}")).await;
        status(&r, &[200], "GET")?;
        ensure(r.json()["manifests"].as_array().is_some_and(|a| a.len() == 1), "one descriptor")
    })
    .await;

    // ---- management ---------------------------------------------------------------------
    rep.case(
        "management: DELETE tag 202 (or 400/405 UNSUPPORTED), then tag 404",
        async {
            let r = c
                .req("DELETE", &format!("/v2/{ns}/manifests/test3"), &[], vec![])
                .await;
            status(&r, &[202, 400, 405], "DELETE tag")?;
            if r.status == 202 {
                status(
                    &c.get(&format!("/v2/{ns}/manifests/test3")).await,
                    &[404],
                    "GET deleted tag",
                )?;
            } else {
                has_code(&r, "UNSUPPORTED")?;
            }
            Ok(())
        },
    )
    .await;
    rep.case(
        "management: DELETE manifest by digest 202, then 404 and its tags gone",
        async {
            let m = manifest(
                &config,
                &[&layer_a],
                Some(BTreeMap::from([("k".to_string(), "delete-me".to_string())])),
            );
            let d = sha256(&m);
            status(
                &c.put_manifest(ns, "deleteme", OCI_MANIFEST, &m).await,
                &[201],
                "PUT",
            )?;
            let before = c.get(&format!("/v2/{ns}/tags/list")).await.json()["tags"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0);
            status(
                &c.req("DELETE", &format!("/v2/{ns}/manifests/{d}"), &[], vec![])
                    .await,
                &[202],
                "DELETE",
            )?;
            status(
                &c.get(&format!("/v2/{ns}/manifests/{d}")).await,
                &[404],
                "GET by digest",
            )?;
            status(
                &c.get(&format!("/v2/{ns}/manifests/deleteme")).await,
                &[404],
                "GET by tag",
            )?;
            let after = c.get(&format!("/v2/{ns}/tags/list")).await.json()["tags"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0);
            ensure(after + 1 == before, format!("tags {before} -> {after}"))
        },
    )
    .await;
    rep.case("management: DELETE blob 202, then GET 404", async {
        let data = bytes_of(9, 333);
        let (d, r) = c.push_blob(ns, &data).await;
        status(&r, &[201], "push")?;
        status(
            &c.req("DELETE", &format!("/v2/{ns}/blobs/{d}"), &[], vec![])
                .await,
            &[202],
            "DELETE",
        )?;
        status(&c.get(&format!("/v2/{ns}/blobs/{d}")).await, &[404], "GET")
    })
    .await;
    rep.case("errors: 4xx bodies use the spec's errors JSON", async {
        let r = c.get(&format!("/v2/{ns}/manifests/nosuchtag")).await;
        let v = r.json();
        ensure(
            v["errors"][0]["code"].is_string() && v["errors"][0]["message"].is_string(),
            format!("body {v}"),
        )
    })
    .await;
    let _ = (OCI_LAYER,);
    rep
}
