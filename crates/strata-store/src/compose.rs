//! Writing a new image into the store from uncompressed layer tars: each layer is
//! gzip-compressed and stored with its facts, then a config (with `rootfs.diff_ids` and a
//! `history` entry per step, empty-layer steps included), an OCI manifest and optionally
//! a name. Tests, the sample image and `build` use it instead of hand-writing JSON.

use std::io::Write;

use serde_json::{json, Value};
use strata_oci::{media, Descriptor, Digest};

use crate::{Result, Store, StoreError};

/// How long a composition's lease protects what it writes.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// One build step: what `history` says, and the layer it made (None for a step that
/// only changed the config, shown by Docker as `0B`).
#[derive(Debug, Clone)]
pub struct Step {
    /// The `created_by` text.
    pub created_by: String,
    /// The layer as an uncompressed tar.
    pub layer: Option<Vec<u8>>,
}

/// An image to write.
#[derive(Debug, Clone)]
pub struct NewImage {
    /// Steps, base first.
    pub steps: Vec<Step>,
    /// Creation time (RFC 3339), also used for every history entry.
    pub created: String,
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// The execution config (`Env`, `Cmd`, `Labels`, …) as Docker writes it.
    pub config: Value,
}

impl Store {
    /// Writes `image` (under a lease released at the end) and, when `name` is given (a
    /// full reference), points the name at it. Returns the manifest descriptor.
    pub fn write_image(&self, image: &NewImage, name: Option<&str>) -> Result<Descriptor> {
        self.with_lease(LEASE_TTL, |lease| {
            self.write_image_leased(image, name, lease)
        })
    }

    fn write_image_leased(
        &self,
        image: &NewImage,
        name: Option<&str>,
        lease: &crate::Lease,
    ) -> Result<Descriptor> {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let mut history = Vec::new();
        for s in &image.steps {
            let mut h = json!({"created": image.created, "created_by": s.created_by});
            match &s.layer {
                Some(tar) => {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(tar)?;
                    let gz = e.finish()?;
                    let d = Digest::sha256_of(&gz);
                    self.put_layer(&gz[..], Some((d.clone(), gz.len() as u64)), lease)?;
                    diff_ids.push(Digest::sha256_of(tar).to_string());
                    layers.push(json!({"mediaType": media::OCI_LAYER_GZIP, "digest": d.to_string(), "size": gz.len()}));
                }
                None => h["empty_layer"] = json!(true),
            }
            history.push(h);
        }
        let config = json!({
            "created": image.created,
            "architecture": image.architecture,
            "os": image.os,
            "config": image.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        let config = serde_json::to_vec(&config).map_err(|e| StoreError::Archive(e.to_string()))?;
        let cd = self.put_bytes(&config, None, lease)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": cd.to_string(), "size": config.len()},
            "layers": layers,
        });
        let bytes =
            serde_json::to_vec(&manifest).map_err(|e| StoreError::Archive(e.to_string()))?;
        let (md, _) = self.put_document(&bytes, None, lease)?;
        let desc = Descriptor::new(media::OCI_MANIFEST, md, bytes.len() as u64);
        if let Some(n) = name {
            self.meta()
                .set_name(n, &desc.digest, &desc.media_type, desc.size, true)?;
        }
        Ok(desc)
    }

    /// Writes an OCI index over `(manifest, platform)` entries and, when `name` is given
    /// (a full reference), points the name at it.
    pub fn write_index(
        &self,
        entries: &[(Descriptor, strata_oci::Platform)],
        name: Option<&str>,
    ) -> Result<Descriptor> {
        let manifests: Vec<Value> = entries
            .iter()
            .map(|(d, p)| {
                let mut d = d.clone();
                d.platform = Some(p.clone());
                serde_json::to_value(d).unwrap_or(Value::Null)
            })
            .collect();
        let idx =
            json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests});
        let bytes = serde_json::to_vec(&idx).map_err(|e| StoreError::Archive(e.to_string()))?;
        self.with_lease(LEASE_TTL, |lease| {
            let (d, _) = self.put_document(&bytes, None, lease)?;
            let desc = Descriptor::new(media::OCI_INDEX, d, bytes.len() as u64);
            if let Some(n) = name {
                self.meta()
                    .set_name(n, &desc.digest, &desc.media_type, desc.size, true)?;
            }
            Ok(desc)
        })
    }
}
