//! Docker reference grammar, normalisation, familiar forms, error texts and the
//! `image ls --filter reference=` glob, checked against the behaviour of Docker's
//! `distribution/reference` (error texts as printed by docker CLI 28).

use proptest::prelude::*;
use strata_oci::reference::{reference_filter_matches, validate_repository_path, validate_tag};
use strata_oci::{Digest, Reference, ReferenceError};

const HEX: &str = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";

fn sha() -> String {
    format!("sha256:{HEX}")
}

/// One case a line: input, domain, path, tag (`-` for none), full string, familiar name,
/// familiar string. `DIGEST` stands for a sha256 digest.
///
/// Notes on some lines: an uppercase first element is a host (`Foo/bar`); `localhost:5000`
/// alone is the Hub image `localhost` with tag `5000`; 64 hex characters are a name once
/// a namespace or tag removes the ambiguity with an image ID, and then keep `library/` in
/// the familiar form; Docker would print `a.b/x` and `localhost/x` for the last two, which
/// name other registries, so the full name is kept.
const NORMALISATION: &str = "
ubuntu docker.io library/ubuntu - docker.io/library/ubuntu ubuntu ubuntu
ubuntu:22.04 docker.io library/ubuntu 22.04 docker.io/library/ubuntu:22.04 ubuntu ubuntu:22.04
docker/docker docker.io docker/docker - docker.io/docker/docker docker/docker docker/docker
library/ubuntu docker.io library/ubuntu - docker.io/library/ubuntu ubuntu ubuntu
docker.io/library/ubuntu docker.io library/ubuntu - docker.io/library/ubuntu ubuntu ubuntu
docker.io/ubuntu docker.io library/ubuntu - docker.io/library/ubuntu ubuntu ubuntu
index.docker.io/x docker.io library/x - docker.io/library/x x x
index.docker.io/fooo/bar docker.io fooo/bar - docker.io/fooo/bar fooo/bar fooo/bar
library/foo/bar docker.io library/foo/bar - docker.io/library/foo/bar library/foo/bar library/foo/bar
store/foo/bar docker.io store/foo/bar - docker.io/store/foo/bar store/foo/bar store/foo/bar
other/library docker.io other/library - docker.io/other/library other/library other/library
localhost/x localhost x - localhost/x localhost/x localhost/x
localhost:5000/x/y:1 localhost:5000 x/y 1 localhost:5000/x/y:1 localhost:5000/x/y localhost:5000/x/y:1
127.0.0.1:5000/foo 127.0.0.1:5000 foo - 127.0.0.1:5000/foo 127.0.0.1:5000/foo 127.0.0.1:5000/foo
[::1]:5000/x [::1]:5000 x - [::1]:5000/x [::1]:5000/x [::1]:5000/x
[fc00:1:2:3:4:5:6:7]:5000/library/debian [fc00:1:2:3:4:5:6:7]:5000 library/debian - [fc00:1:2:3:4:5:6:7]:5000/library/debian [fc00:1:2:3:4:5:6:7]:5000/library/debian [fc00:1:2:3:4:5:6:7]:5000/library/debian
example.com:8000/private/moonbase example.com:8000 private/moonbase - example.com:8000/private/moonbase example.com:8000/private/moonbase example.com:8000/private/moonbase
test-com:8080/foo test-com:8080 foo - test-com:8080/foo test-com:8080/foo test-com:8080/foo
xn--n3h.com:18080/foo xn--n3h.com:18080 foo - xn--n3h.com:18080/foo xn--n3h.com:18080/foo xn--n3h.com:18080/foo
test_com/foo docker.io test_com/foo - docker.io/test_com/foo test_com/foo test_com/foo
Docker.io/x Docker.io x - Docker.io/x Docker.io/x Docker.io/x
Foo/bar Foo bar - Foo/bar Foo/bar Foo/bar
FOO/bar:Tag FOO bar Tag FOO/bar:Tag FOO/bar FOO/bar:Tag
localhost:5000 docker.io library/localhost 5000 docker.io/library/localhost:5000 localhost localhost:5000
192.168.0.1 docker.io library/192.168.0.1 - docker.io/library/192.168.0.1 192.168.0.1 192.168.0.1
a__b docker.io library/a__b - docker.io/library/a__b a__b a__b
docker---rules/docker docker.io docker---rules/docker - docker.io/docker---rules/docker docker---rules/docker docker---rules/docker
thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev docker.io library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev - docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev
docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a docker.io library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a - docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a
1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:v1 docker.io library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a v1 docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:v1 library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:v1
redis@DIGEST docker.io library/redis - docker.io/library/redis@DIGEST redis redis@DIGEST
busybox:latest@DIGEST docker.io library/busybox latest docker.io/library/busybox:latest@DIGEST busybox busybox:latest@DIGEST
gcr.io/a/b:v1@DIGEST gcr.io a/b v1 gcr.io/a/b:v1@DIGEST gcr.io/a/b gcr.io/a/b:v1@DIGEST
docker.io/a.b/x docker.io a.b/x - docker.io/a.b/x docker.io/a.b/x docker.io/a.b/x
docker.io/localhost/x:1 docker.io localhost/x 1 docker.io/localhost/x:1 docker.io/localhost/x docker.io/localhost/x:1
";

#[test]
fn normalises_like_docker() {
    for line in NORMALISATION.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.replace("DIGEST", &sha());
        let f: Vec<&str> = line.split_whitespace().collect();
        let [input, domain, path, tag, full, familiar, familiar_string] = f[..] else {
            panic!("bad table line {line}")
        };
        let tag = (tag != "-").then_some(tag);
        let r = Reference::parse_normalized(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.domain(), domain, "{input}");
        assert_eq!(r.path(), path, "{input}");
        assert_eq!(r.name(), format!("{domain}/{path}"), "{input}");
        assert_eq!(r.tag(), tag, "{input}");
        assert_eq!(r.digest().is_some(), input.contains('@'), "{input}");
        if let Some(d) = r.digest() {
            assert_eq!(d.to_string(), sha());
        }
        assert_eq!(r.to_string(), full, "{input}");
        assert_eq!(r.familiar_name(), familiar, "{input}");
        assert_eq!(r.familiar_string(), familiar_string, "{input}");
        assert_eq!(r.is_docker_hub(), domain == "docker.io", "{input}");
        assert_eq!(input.parse::<Reference>().unwrap(), r, "{input}");
        assert_eq!(Reference::parse_normalized(full).unwrap(), r, "{full}");
        let back = Reference::parse_normalized(familiar_string);
        assert_eq!(back.unwrap(), r, "{familiar_string}");
    }
}

#[test]
fn refuses_like_docker() {
    let hex64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    let long_path = "a".repeat(250);
    let cases: Vec<(String, String)> = vec![
        ("".into(), "invalid reference format".into()),
        (
            "Foo".into(),
            "invalid reference format: repository name (library/Foo) must be lowercase".into(),
        ),
        (
            "Foo:Bar".into(),
            "invalid reference format: repository name (library/Foo) must be lowercase".into(),
        ),
        (
            "x/Y".into(),
            "invalid reference format: repository name (x/Y) must be lowercase".into(),
        ),
        (
            "docker/Docker".into(),
            "invalid reference format: repository name (docker/Docker) must be lowercase".into(),
        ),
        (
            "localhost:5000/Foo".into(),
            "invalid reference format: repository name (Foo) must be lowercase".into(),
        ),
        (
            "Foo@sha256:x".into(),
            "invalid reference format: repository name (library/Foo@sha256) must be lowercase"
                .into(),
        ),
        (
            "ÄÖ".into(),
            "invalid reference format: repository name (library/ÄÖ) must be lowercase".into(),
        ),
        (
            hex64.into(),
            format!(
                "invalid repository name ({hex64}), cannot specify 64-byte hexadecimal strings"
            ),
        ),
        (
            "a".repeat(300),
            "repository name must not be more than 255 characters".into(),
        ),
        // library/ + 248 = 256 path characters, 266 with the domain.
        (
            "a".repeat(248),
            "repository name must not be more than 255 characters".into(),
        ),
        (
            format!("example.com/{long_path}"),
            "repository name must not be more than 255 characters".into(),
        ),
        (
            format!("x:{}", "a".repeat(129)),
            "invalid reference format".into(),
        ),
        ("x:-bad".into(), "invalid reference format".into()),
        ("x:.bad".into(), "invalid reference format".into()),
        ("a:".into(), "invalid reference format".into()),
        (":a".into(), "invalid reference format".into()),
        ("a:b:c".into(), "invalid reference format".into()),
        ("a/b:c:d".into(), "invalid reference format".into()),
        ("a@".into(), "invalid reference format".into()),
        ("a//b".into(), "invalid reference format".into()),
        ("docker///docker".into(), "invalid reference format".into()),
        ("/a".into(), "invalid reference format".into()),
        ("a/".into(), "invalid reference format".into()),
        ("docker.io/".into(), "invalid reference format".into()),
        ("localhost:5000/".into(), "invalid reference format".into()),
        ("-a".into(), "invalid reference format".into()),
        ("a-".into(), "invalid reference format".into()),
        ("-docker/docker".into(), "invalid reference format".into()),
        (
            "-docker.io/docker/docker".into(),
            "invalid reference format".into(),
        ),
        ("a___b".into(), "invalid reference format".into()),
        ("____/____".into(), "invalid reference format".into()),
        ("a..b".into(), "invalid reference format".into()),
        ("a.-b".into(), "invalid reference format".into()),
        ("dock_.er/docker".into(), "invalid reference format".into()),
        ("a b".into(), "invalid reference format".into()),
        ("ä".into(), "invalid reference format".into()),
        (
            "https://github.com/docker/docker".into(),
            "invalid reference format".into(),
        ),
        ("[fc00::1]".into(), "invalid reference format".into()),
        ("[fc00::1]:5000".into(), "invalid reference format".into()),
        (
            "fc00::1:5000/debian".into(),
            "invalid reference format".into(),
        ),
        (
            "[fe80::1%eth0]:5000/debian".into(),
            "invalid reference format".into(),
        ),
        (
            "[2001:db8:3:4::192.0.2.33]:5000/debian".into(),
            "invalid reference format".into(),
        ),
        ("a.com:/x".into(), "invalid reference format".into()),
        // Looks like a host but is not one; Docker accepts it with an empty registry.
        ("a_b.c/x".into(), "invalid reference format".into()),
        ("foo@sha256:ABC".into(), "invalid reference format".into()),
        (
            format!("foo@sha256:{}", "a".repeat(31)),
            "invalid reference format".into(),
        ),
        (
            format!("foo@sha256:{HEX}:x"),
            "invalid reference format".into(),
        ),
        (format!("foo@{HEX}"), "invalid reference format".into()),
        (
            format!("x@sha256:{}", "a".repeat(32)),
            "invalid checksum digest length".into(),
        ),
        (
            format!("x@sha256:{HEX}{HEX}"),
            "invalid checksum digest length".into(),
        ),
        (
            format!("x@sha256:{}", HEX.to_uppercase()),
            "invalid checksum digest format".into(),
        ),
        // Docker checks lowercase up to the first ':', so "@SHA256" counts as the name.
        (
            format!("x@SHA256:{HEX}"),
            "invalid reference format: repository name (library/x@SHA256) must be lowercase".into(),
        ),
        (
            format!("localhost/x@SHA256:{HEX}"),
            "invalid reference format: repository name (x@SHA256) must be lowercase".into(),
        ),
        (
            format!("x:t@SHA256:{HEX}"),
            "invalid checksum digest format".into(),
        ),
        (
            "x@md5:0123456789abcdef0123456789abcdef".into(),
            "unsupported digest algorithm".into(),
        ),
        (
            format!("x@sha256+b64:{HEX}"),
            "unsupported digest algorithm".into(),
        ),
    ];
    for (input, message) in cases {
        let err = Reference::parse_normalized(&input).expect_err(&input);
        assert_eq!(err.to_string(), message, "{input}");
    }
    assert_eq!(
        Reference::parse_normalized(hex64),
        Err(ReferenceError::HexIdentifier(hex64.to_string()))
    );
    assert_eq!(
        Reference::parse_normalized(&"a".repeat(300)),
        Err(ReferenceError::NameTooLong)
    );
}

#[test]
fn name_length_limit_is_255_including_domain() {
    // docker.io/ (10) + library/ (8) + 237 = 255.
    let ok = "a".repeat(237);
    let r = Reference::parse_normalized(&ok).unwrap();
    assert_eq!(r.name().len(), 255);
    assert_eq!(
        Reference::parse_normalized(&"a".repeat(238)),
        Err(ReferenceError::NameTooLong)
    );
    let host = format!("example.com/{}", "b".repeat(243));
    assert_eq!(
        Reference::parse_normalized(&host).unwrap().name().len(),
        255
    );
    let host = format!("example.com/{}", "b".repeat(244));
    assert_eq!(
        Reference::parse_normalized(&host),
        Err(ReferenceError::NameTooLong)
    );
    // The tag does not count.
    let tagged = format!("{ok}:{}", "t".repeat(128));
    assert_eq!(
        Reference::parse_normalized(&tagged)
            .unwrap()
            .tag()
            .unwrap()
            .len(),
        128
    );
}

#[test]
fn default_tag_only_when_nothing_pinned() {
    let r = Reference::parse_with_default_tag("alpine").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
    assert_eq!(r.familiar_string(), "alpine:latest");
    let r = Reference::parse_with_default_tag("alpine:3.20").unwrap();
    assert_eq!(r.tag(), Some("3.20"));
    let d = format!("alpine@{}", sha());
    let r = Reference::parse_with_default_tag(&d).unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.to_string(), format!("docker.io/library/{d}"));
    assert_eq!(
        Reference::parse_with_default_tag("Foo")
            .unwrap_err()
            .to_string(),
        "invalid reference format: repository name (library/Foo) must be lowercase"
    );
    // parse_normalized never adds a tag.
    assert_eq!(Reference::parse_normalized("alpine").unwrap().tag(), None);
}

#[test]
fn with_tag_with_digest_name_only() {
    let digest = Digest::parse(&sha()).unwrap();
    let pinned = Reference::parse_normalized(&format!("localhost:5000/x:1@{}", sha())).unwrap();

    let retagged = pinned.with_tag("2.0_rc-1").unwrap();
    assert_eq!(retagged.to_string(), "localhost:5000/x:2.0_rc-1");
    assert_eq!(retagged.digest(), None);
    for bad in ["", "-x", ".x", "a/b", "a:b", "a@b", &"a".repeat(129)] {
        assert_eq!(
            pinned.with_tag(bad),
            Err(ReferenceError::TagInvalidFormat),
            "{bad}"
        );
    }
    assert_eq!(
        pinned.with_tag("-x").unwrap_err().to_string(),
        "invalid tag format"
    );

    let tagged = Reference::parse_normalized("alpine:3").unwrap();
    let by_digest = tagged.with_digest(digest.clone());
    assert_eq!(
        by_digest.to_string(),
        format!("docker.io/library/alpine@{}", sha())
    );
    assert_eq!(by_digest.tag(), None);
    assert_eq!(by_digest.digest(), Some(&digest));

    let bare = pinned.name_only();
    assert_eq!(bare.to_string(), "localhost:5000/x");
    assert_eq!((bare.tag(), bare.digest()), (None, None));
    assert_eq!(
        bare,
        Reference::parse_normalized("localhost:5000/x").unwrap()
    );
}

#[test]
fn tag_and_repository_path_validation() {
    for ok in ["latest", "v1.2.3", "_x", "A-b.C_d", &"a".repeat(128)] {
        assert_eq!(validate_tag(ok), Ok(()), "{ok}");
    }
    for bad in ["", "-a", ".a", "a/b", "a:b", "a b", "é", &"a".repeat(129)] {
        assert_eq!(
            validate_tag(bad),
            Err(ReferenceError::TagInvalidFormat),
            "{bad}"
        );
    }
    for ok in [
        "library/alpine",
        "a",
        "a/b/c",
        "a__b/c-d",
        "a.b_c/d---e",
        &"a".repeat(255),
    ] {
        assert_eq!(validate_repository_path(ok), Ok(()), "{ok}");
    }
    let cases = [
        ("", ReferenceError::NameEmpty),
        ("Alpine", ReferenceError::NameContainsUppercase),
        ("library/Alpine", ReferenceError::NameContainsUppercase),
        ("a//b", ReferenceError::InvalidFormat),
        ("/a", ReferenceError::InvalidFormat),
        ("a/", ReferenceError::InvalidFormat),
        ("a___b", ReferenceError::InvalidFormat),
        ("localhost:5000/a", ReferenceError::InvalidFormat),
        ("a:tag", ReferenceError::InvalidFormat),
        ("../etc", ReferenceError::InvalidFormat),
    ];
    for (input, err) in cases {
        assert_eq!(validate_repository_path(input), Err(err), "{input}");
    }
    assert_eq!(
        validate_repository_path(&"a".repeat(256)),
        Err(ReferenceError::NameTooLong)
    );
    assert_eq!(
        validate_repository_path(&"a".repeat(256))
            .unwrap_err()
            .to_string(),
        "repository name must not be more than 255 characters"
    );
    assert_eq!(
        validate_repository_path("").unwrap_err().to_string(),
        "repository name must have at least one component"
    );
}

#[test]
fn serde_uses_the_full_string() {
    let r = Reference::parse_normalized("alpine:3").unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, "\"docker.io/library/alpine:3\"");
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    assert_eq!(
        serde_json::from_str::<Reference>("\"alpine:3\"").unwrap(),
        r
    );
    let err = serde_json::from_str::<Reference>("\"Foo\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("repository name (library/Foo) must be lowercase"),
        "{err}"
    );
}

#[test]
fn filter_reference_patterns() {
    let r = |s: &str| Reference::parse_normalized(s).unwrap();
    let cases: &[(&str, &str, bool)] = &[
        ("alpine*", "alpine:latest", true),
        ("alpine*", "alpine-edge:1", true),
        ("alpine*", "user/alpine:1", false),
        ("alpine", "alpine:3.20", true),
        ("alpine:3.20", "alpine:3.20", true),
        ("alpine:3.*", "alpine:3.20", true),
        ("alpine:4*", "alpine:3.20", false),
        ("*", "alpine:1", true),
        ("*", "user/x:1", false),
        ("*/x", "user/x:1", true),
        ("*/x", "x:1", false),
        ("*/x", "localhost:5000/x:1", true),
        ("*/*", "user/x", true),
        ("localhost:5000/*", "localhost:5000/foo:1", true),
        ("localhost:5000/*", "localhost:5000/foo/bar:1", false),
        ("localhost:5000/*/*", "localhost:5000/foo/bar:1", true),
        ("localhost:5000/*", "localhost/foo:1", false),
        ("docker.io/library/alpine", "alpine:1", true),
        ("docker.io/library/alpine:1", "alpine:1", true),
        ("docker.io/library/*", "alpine:1", true),
        ("docker.io/library/*", "user/alpine:1", false),
        ("foo/**/ba[rz]", "foo/a/bar", true),
        ("foo/**/ba[rz]", "foo/b/baz:tag", true),
        ("foo/**/ba[rz]", "foo/any/bat", false),
        ("foo/**/ba[rz]", "foo", false),
        ("foo/*/baz:tag", "foo/c/baz:tag", true),
        ("*/foo/c/baz", "example.com/foo/c/baz:tag", true),
        ("example.com/foo/c/baz", "example.com/foo/c/baz:tag", true),
        ("alp?ne", "alpine", true),
        ("alp?ne", "alpne", false),
        ("[ab]lpine", "alpine", true),
        ("[^a]lpine", "alpine", false),
        ("[-x]", "x", false),
        ("alpine[", "alpine", false),
    ];
    for (pattern, reference, expected) in cases {
        assert_eq!(
            reference_filter_matches(pattern, &r(reference)),
            *expected,
            "{pattern} vs {reference}"
        );
    }
    let pinned = r(&format!("alpine@{}", sha()));
    assert!(reference_filter_matches(
        &format!("alpine@{}", sha()),
        &pinned
    ));
    assert!(reference_filter_matches("alpine", &pinned));
    assert!(reference_filter_matches("alpine@sha256:*", &pinned));
}

// ---------------------------------------------------------------------------------------
// Property tests

fn path_component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,4}(([._]|__|-{1,3})[a-z0-9]{1,4}){0,2}"
}

fn registry() -> impl Strategy<Value = (String, String)> {
    // (as written, as normalised)
    let dotted = "[a-z0-9]([a-z0-9-]{0,3}[a-z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,3}[a-zA-Z0-9])?){1,2}(:[0-9]{1,5})?"
        .prop_filter("index.docker.io is folded", |d| d != "index.docker.io")
        .prop_map(|d| (d.clone(), d));
    prop_oneof![
        Just(("docker.io".to_string(), "docker.io".to_string())),
        Just(("index.docker.io".to_string(), "docker.io".to_string())),
        Just(("localhost".to_string(), "localhost".to_string())),
        "localhost:[0-9]{1,5}".prop_map(|d| (d.clone(), d)),
        "[A-Z][a-zA-Z0-9]{0,5}".prop_map(|d| (d.clone(), d)),
        "\\[[0-9a-f]{0,4}:[0-9a-f:]{0,8}\\](:[0-9]{1,5})?".prop_map(|d| (d.clone(), d)),
        dotted,
    ]
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-f0-9]{64}".prop_map(|h| format!("sha256:{h}")),
        "[a-f0-9]{128}".prop_map(|h| format!("sha512:{h}")),
    ]
}

/// A valid reference as a user may write it, and its normalised full string.
fn valid_reference() -> impl Strategy<Value = (String, String)> {
    (
        proptest::option::of(registry()),
        proptest::collection::vec(path_component(), 1..4),
        proptest::option::of(tag()),
        proptest::option::of(digest()),
    )
        .prop_filter_map(
            "registry-less first component looks like a host",
            |(registry, components, tag, digest)| {
                let path = components.join("/");
                let hub_path = |p: &str| {
                    if components.len() == 1 {
                        format!("library/{p}")
                    } else {
                        p.to_string()
                    }
                };
                let (written, domain, norm_path) = match registry {
                    Some((written, domain)) => {
                        let norm = if domain == "docker.io" {
                            hub_path(&path)
                        } else {
                            path.clone()
                        };
                        (format!("{written}/{path}"), domain, norm)
                    }
                    // "a.b/c" written without a registry names the registry "a.b".
                    None if components.len() > 1 && components[0].contains('.') => return None,
                    None => (path.clone(), "docker.io".to_string(), hub_path(&path)),
                };
                let mut suffix = String::new();
                if let Some(t) = tag {
                    suffix.push(':');
                    suffix.push_str(&t);
                }
                if let Some(d) = digest {
                    suffix.push('@');
                    suffix.push_str(&d);
                }
                Some((
                    format!("{written}{suffix}"),
                    format!("{domain}/{norm_path}{suffix}"),
                ))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_references_round_trip((written, full) in valid_reference()) {
        let r = Reference::parse_normalized(&written).map_err(|e| TestCaseError::fail(format!("{written}: {e}")))?;
        prop_assert_eq!(r.to_string(), full.clone());
        let again = Reference::parse_normalized(&r.to_string()).unwrap();
        prop_assert_eq!(&again, &r);
        prop_assert_eq!(again.to_string(), full);
    }

    #[test]
    fn familiar_string_parses_back((written, _full) in valid_reference()) {
        let r = Reference::parse_normalized(&written).unwrap();
        let familiar = r.familiar_string();
        prop_assert_eq!(Reference::parse_normalized(&familiar).unwrap(), r.clone(), "{}", familiar);
        // As a glob, a name is literal unless it holds a bracketed IPv6 host.
        if !r.domain().starts_with('[') {
            prop_assert!(reference_filter_matches(&r.familiar_name(), &r));
            prop_assert!(reference_filter_matches(&r.to_string(), &r));
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        check_arbitrary(&s)?;
    }

    #[test]
    fn reference_like_strings_never_panic(s in "[a-zA-Z0-9:/@._\\-\\[\\]+]{0,70}") {
        check_arbitrary(&s)?;
    }

    #[test]
    fn arbitrary_patterns_never_panic(p in "[a-z*?\\[\\]\\\\^/:-]{0,16}", s in "[a-z/:]{1,12}") {
        if let Ok(r) = Reference::parse_normalized(&s) {
            let _ = reference_filter_matches(&p, &r);
        }
    }
}

fn check_arbitrary(s: &str) -> Result<(), TestCaseError> {
    let _ = validate_tag(s);
    let _ = validate_repository_path(s);
    let _ = Reference::parse_with_default_tag(s);
    if let Ok(r) = Reference::parse_normalized(s) {
        // Anything accepted has a registry and round-trips through its full string.
        prop_assert!(!r.domain().is_empty());
        prop_assert!(r.name().len() <= 255);
        prop_assert_eq!(&Reference::parse_normalized(&r.to_string()).unwrap(), &r);
        prop_assert_eq!(
            &Reference::parse_normalized(&r.familiar_string()).unwrap(),
            &r
        );
        let _ = reference_filter_matches(s, &r);
    }
    Ok(())
}
