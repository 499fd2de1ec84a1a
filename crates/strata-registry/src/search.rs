//! `GET /v1/search`: Docker Hub's search API over this registry's repositories, so that
//! `docker search HOST:PORT/term` works. Descriptions come from the newest-looking tag's
//! `org.opencontainers.image.description` annotation (manifest or index), else the image
//! config's label of the same name.

use std::io;

use serde::Serialize;
use strata_oci::{media, Digest, Document, ImageConfig};

use crate::RegistryState;

const DESCRIPTION: &str = "org.opencontainers.image.description";

/// One search hit, in Docker Hub's shape.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Description from annotations or labels (may be empty).
    pub description: String,
    /// Always 0 (no stars here).
    pub star_count: u64,
    /// Always false.
    pub is_official: bool,
    /// Always false.
    pub is_automated: bool,
}

/// Searches repository names containing `term` (case-insensitive) that `user` may pull.
pub fn search(
    st: &RegistryState,
    term: &str,
    n: usize,
    user: Option<&str>,
) -> io::Result<Vec<SearchResult>> {
    let term = term.to_lowercase();
    let mut out = Vec::new();
    for name in st.repo.catalog()? {
        if out.len() >= n {
            break;
        }
        if !name.to_lowercase().contains(&term) || !st.auth.permitted(user, &name).contains("pull")
        {
            continue;
        }
        let description = describe(st, &name).unwrap_or_default();
        out.push(SearchResult {
            name,
            description,
            star_count: 0,
            is_official: false,
            is_automated: false,
        });
    }
    Ok(out)
}

fn describe(st: &RegistryState, name: &str) -> Option<String> {
    let tags = st.repo.tags(name).ok()?;
    let tag = if tags.iter().any(|t| t == "latest") {
        "latest".to_string()
    } else {
        tags.last()?.clone()
    };
    let d = st.repo.resolve_tag(name, &tag).ok()??;
    describe_manifest(st, &d, 0)
}

fn describe_manifest(st: &RegistryState, d: &Digest, depth: u32) -> Option<String> {
    let bytes = st.repo.read_blob_bytes(d).ok()??;
    let doc = Document::parse(&bytes, None).ok()?;
    match doc {
        Document::Manifest(m) => {
            if let Some(s) = m.annotations.as_ref().and_then(|a| a.get(DESCRIPTION)) {
                return Some(s.clone());
            }
            if !media::is_config(&m.config.media_type) {
                return None;
            }
            let cfg = ImageConfig::parse(&st.repo.read_blob_bytes(&m.config.digest).ok()??).ok()?;
            cfg.labels().get(DESCRIPTION).cloned()
        }
        Document::Index(i) => {
            if let Some(s) = i.annotations.as_ref().and_then(|a| a.get(DESCRIPTION)) {
                return Some(s.clone());
            }
            if depth > 2 {
                return None;
            }
            i.manifests
                .iter()
                .find_map(|c| describe_manifest(st, &c.digest, depth + 1))
        }
    }
}
