//! Manifests, indexes and configs, OCI and Docker schema2.
//!
//! [`Document::parse`] reads a JSON document by its declared media type, by its own
//! `mediaType` field, or by its shape, and refuses what is ambiguous (CVE-2021-41190),
//! schema1, and anything over [`crate::MAX_DOCUMENT_SIZE`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::digest::Digest;
use crate::media;
use crate::platform::Platform;

/// Errors reading image documents.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The document is larger than the 4 MiB limit.
    #[error("manifest too large: {0} bytes exceeds the 4 MiB limit")]
    TooLarge(usize),
    /// Not valid JSON or missing required fields.
    #[error("invalid {kind}: {source}")]
    Json {
        /// What was being read.
        kind: &'static str,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Has both `manifests` and `layers`/`config`.
    #[error(
        "ambiguous document: it has both manifests and layers/config (refused, CVE-2021-41190)"
    )]
    Ambiguous,
    /// The `mediaType` field disagrees with the declared type.
    #[error("media type mismatch: declared {declared}, document says {found}")]
    MediaTypeMismatch {
        /// Declared (e.g. Content-Type or descriptor) media type.
        declared: String,
        /// The document's own `mediaType`.
        found: String,
    },
    /// Docker schema1.
    #[error("Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of the image to upgrade it to Docker Image manifest version 2, schema 2")]
    Schema1,
    /// An unsupported media type.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    /// Neither a manifest nor an index.
    #[error("unrecognised document: neither an image manifest nor an index")]
    Unrecognised,
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Alternate URLs (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with just the three required fields.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// One annotation value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// An image manifest (OCI or Docker schema2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Subject (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The entries.
    pub manifests: Vec<Descriptor>,
    /// Subject (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A parsed manifest-like document. (Both variants are a few hundred bytes and short
/// lived; boxing would only add an allocation.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A single-platform image manifest.
    Manifest(ImageManifest),
    /// An index of manifests.
    Index(ImageIndex),
}

impl Document {
    /// Reads a manifest or index. `declared` is the media type the caller was told
    /// (a descriptor's or a Content-Type); it must agree with the document's own.
    pub fn parse(bytes: &[u8], declared: Option<&str>) -> Result<Document, ModelError> {
        if bytes.len() > crate::MAX_DOCUMENT_SIZE {
            return Err(ModelError::TooLarge(bytes.len()));
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|source| ModelError::Json {
            kind: "manifest",
            source,
        })?;
        let obj = v.as_object().ok_or(ModelError::Unrecognised)?;
        let own = obj.get("mediaType").and_then(Value::as_str);
        let has_manifests = obj.contains_key("manifests");
        let has_layers = obj.contains_key("layers") || obj.contains_key("config");
        if has_manifests && has_layers {
            return Err(ModelError::Ambiguous);
        }
        if obj.get("schemaVersion").and_then(Value::as_u64) == Some(1)
            || own.is_some_and(media::is_schema1)
            || declared.is_some_and(media::is_schema1)
        {
            return Err(ModelError::Schema1);
        }
        let generic =
            |m: &str| m.is_empty() || m == "application/json" || m == "application/octet-stream";
        if let (Some(d), Some(o)) = (declared, own) {
            if !generic(d) && d != o {
                return Err(ModelError::MediaTypeMismatch {
                    declared: d.into(),
                    found: o.into(),
                });
            }
        }
        let mt = own.or(declared.filter(|d| !generic(d)));
        let as_index = match mt {
            Some(m) if media::is_index(m) => true,
            Some(m) if media::is_manifest(m) => false,
            Some(m) => return Err(ModelError::UnsupportedMediaType(m.to_string())),
            None if has_manifests => true,
            None if has_layers => false,
            None => return Err(ModelError::Unrecognised),
        };
        if as_index {
            if has_layers {
                return Err(ModelError::Ambiguous);
            }
            serde_json::from_value(v)
                .map(Document::Index)
                .map_err(|source| ModelError::Json {
                    kind: "index",
                    source,
                })
        } else {
            if has_manifests {
                return Err(ModelError::Ambiguous);
            }
            serde_json::from_value(v)
                .map(Document::Manifest)
                .map_err(|source| ModelError::Json {
                    kind: "manifest",
                    source,
                })
        }
    }

    /// The effective media type (own, else inferred as OCI).
    pub fn media_type(&self) -> &str {
        match self {
            Document::Manifest(m) => m.media_type.as_deref().unwrap_or(media::OCI_MANIFEST),
            Document::Index(i) => i.media_type.as_deref().unwrap_or(media::OCI_INDEX),
        }
    }

    /// Every descriptor this document points to (config, layers, children, subject).
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Document::Manifest(m) => std::iter::once(&m.config)
                .chain(m.layers.iter())
                .chain(m.subject.iter())
                .collect(),
            Document::Index(i) => i.manifests.iter().chain(i.subject.iter()).collect(),
        }
    }
}

/// The `rootfs` section of a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Uncompressed layer digests, base first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One `history` entry of a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct History {
    /// When the step ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

impl History {
    /// Whether this entry has no layer.
    pub fn is_empty_layer(&self) -> bool {
        self.empty_layer.unwrap_or(false)
    }
}

/// An image config (OCI or Docker). The execution parameters are kept as raw JSON
/// (`config`) so that every field Docker knows survives a round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// OS.
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Execution parameters (Env, Cmd, Labels, …) as Docker writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Layers' diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Build history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Docker's comment field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Docker version that built it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

impl ImageConfig {
    /// Parses a config, refusing documents over the size limit.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ModelError> {
        if bytes.len() > crate::MAX_DOCUMENT_SIZE {
            return Err(ModelError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|source| ModelError::Json {
            kind: "image config",
            source,
        })
    }

    /// The platform this config describes.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            os_version: self.os_version.clone(),
            os_features: None,
            variant: self.variant.clone(),
        }
    }

    /// Labels from the execution config.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.get("Labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest_json(mt: Option<&str>) -> String {
        let mt = mt
            .map(|m| format!("\"mediaType\":\"{m}\","))
            .unwrap_or_default();
        format!(
            "{{\"schemaVersion\":2,{mt}\"config\":{{\"mediaType\":\"{}\",\"digest\":\"{D}\",\"size\":0}},\"layers\":[]}}",
            media::OCI_CONFIG
        )
    }

    #[test]
    fn reads_by_type_and_by_shape() {
        let m = Document::parse(manifest_json(Some(media::OCI_MANIFEST)).as_bytes(), None).unwrap();
        assert!(matches!(m, Document::Manifest(_)));
        let m = Document::parse(manifest_json(None).as_bytes(), None).unwrap();
        assert_eq!(m.media_type(), media::OCI_MANIFEST);
        let idx = format!("{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"{}\",\"digest\":\"{D}\",\"size\":1}}]}}", media::OCI_MANIFEST);
        assert!(matches!(
            Document::parse(idx.as_bytes(), None).unwrap(),
            Document::Index(_)
        ));
    }

    #[test]
    fn refuses_ambiguous_schema1_mismatch_and_oversize() {
        let amb = format!("{{\"schemaVersion\":2,\"manifests\":[],\"layers\":[],\"config\":{{\"mediaType\":\"x\",\"digest\":\"{D}\",\"size\":0}}}}");
        assert!(matches!(
            Document::parse(amb.as_bytes(), None),
            Err(ModelError::Ambiguous)
        ));
        assert!(matches!(
            Document::parse(b"{\"schemaVersion\":1,\"fsLayers\":[]}", None),
            Err(ModelError::Schema1)
        ));
        let m = manifest_json(Some(media::OCI_MANIFEST));
        assert!(matches!(
            Document::parse(m.as_bytes(), Some(media::OCI_INDEX)),
            Err(ModelError::MediaTypeMismatch { .. })
        ));
        let big = vec![b' '; crate::MAX_DOCUMENT_SIZE + 1];
        assert!(matches!(
            Document::parse(&big, None),
            Err(ModelError::TooLarge(_))
        ));
        assert!(matches!(
            Document::parse(b"{}", None),
            Err(ModelError::Unrecognised)
        ));
    }
}
