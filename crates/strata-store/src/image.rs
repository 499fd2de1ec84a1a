//! Images as the commands see them: a name's target resolved to a platform manifest,
//! its config and its layers with their recorded facts; writing documents and layers.

use std::io::Read;

use strata_oci::manifest::History;
use strata_oci::{
    media, Descriptor, Digest, Document, ImageConfig, ImageManifest, Platform, MAX_DOCUMENT_SIZE,
};

use crate::gc::Lease;
use crate::layer::scan_layer;
use crate::meta::{LayerRecord, NameRecord, Summary};
use crate::{Result, Store, StoreError};

/// One platform entry of a (possibly multi-platform) image.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The manifest descriptor.
    pub descriptor: Descriptor,
    /// Its platform (from the index entry, else from the config).
    pub platform: Option<Platform>,
    /// Whether the manifest, config and every layer are in the store.
    pub complete: bool,
    /// Docker's unpacked size of the layers present.
    pub unpacked_size: u64,
    /// Bytes of content (manifest + config + layer blobs) present in the store.
    pub content_size: u64,
}

/// A name's target resolved to one platform.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The descriptor the name points at (manifest or index): its digest is the image ID.
    pub target: Descriptor,
    /// The chosen manifest's descriptor.
    pub manifest_descriptor: Descriptor,
    /// The chosen manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: ImageConfig,
    /// The config's raw bytes.
    pub config_raw: Vec<u8>,
    /// Each layer with its facts when the layer is present.
    pub layers: Vec<LayerEntry>,
}

impl ResolvedImage {
    /// The image ID: the digest the name points at.
    pub fn id(&self) -> &Digest {
        &self.target.digest
    }

    /// Docker's size: the sum of the layers' unpacked sizes.
    pub fn size(&self) -> u64 {
        self.layers
            .iter()
            .filter_map(|(_, r)| r.as_ref().map(|r| r.unpacked_size))
            .sum()
    }

    /// History entries paired with the layer each made (None for empty layers).
    /// When the config has no history, one synthetic entry per layer.
    pub fn history(&self) -> Vec<(History, Option<&LayerEntry>)> {
        if self.config.history.is_empty() {
            return self
                .layers
                .iter()
                .map(|l| (History::default(), Some(l)))
                .collect();
        }
        let mut layers = self.layers.iter();
        self.config
            .history
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    if h.is_empty_layer() {
                        None
                    } else {
                        layers.next()
                    },
                )
            })
            .collect()
    }
}

/// A layer descriptor with its recorded facts (None when the blob is absent).
pub type LayerEntry = (Descriptor, Option<LayerRecord>);

/// An image record for listing: a name and what it resolves to.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// The name row.
    pub name: NameRecord,
    /// Resolution, or the error that prevented it.
    pub resolved: Result<ResolvedImage, String>,
}

impl Store {
    /// Reads and parses a manifest or index blob.
    pub fn read_document(&self, d: &Digest, media_type: Option<&str>) -> Result<Document> {
        let bytes = self.read_blob(d, MAX_DOCUMENT_SIZE as u64)?;
        Ok(Document::parse(&bytes, media_type)?)
    }

    /// Reads and parses a config blob.
    pub fn read_config(&self, d: &Digest) -> Result<(ImageConfig, Vec<u8>)> {
        let bytes = self.read_blob(d, MAX_DOCUMENT_SIZE as u64)?;
        Ok((ImageConfig::parse(&bytes)?, bytes))
    }

    /// Stores a manifest or index (verifying `expected`) and records its edges.
    pub fn put_document(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<(Digest, Document)> {
        let doc = Document::parse(bytes, None)?;
        let d = self.put_bytes(bytes, expected, lease)?;
        let children: Vec<Digest> = doc.children().iter().map(|c| c.digest.clone()).collect();
        self.meta().record_edges(&d, &children)?;
        Ok((d, doc))
    }

    /// Streams a layer blob into the store (verifying digest and size when given), then
    /// records its facts (diff ID, sizes). A layer already present is not rewritten.
    pub fn put_layer<R: Read>(
        &self,
        mut r: R,
        expected: Option<(Digest, u64)>,
        lease: &Lease,
    ) -> Result<LayerRecord> {
        let digest = match expected {
            Some((d, size)) => {
                match self.ingest(&format!("layer-{d}"), (d.clone(), size), lease)? {
                    None => d,
                    Some(mut w) => {
                        if w.offset() > 0 {
                            w.reset()?;
                        }
                        std::io::copy(&mut r, &mut w)?;
                        w.commit(lease)?
                    }
                }
            }
            None => {
                let reference =
                    format!("layer-{}-{}", std::process::id(), crate::meta::now_nanos());
                let mut w = self.writer(&reference, None)?;
                std::io::copy(&mut r, &mut w)?;
                w.commit(lease)?
            }
        };
        self.layer_facts(&digest)
    }

    /// The recorded facts of a present layer, computing and recording them if missing.
    pub fn layer_facts(&self, digest: &Digest) -> Result<LayerRecord> {
        if let Some(rec) = self.meta().layer(digest)? {
            return Ok(rec);
        }
        let f = self.open_blob(digest)?;
        let facts = scan_layer(std::io::BufReader::with_capacity(1 << 16, f))
            .map_err(|e| StoreError::Archive(format!("layer {digest}: {e}")))?;
        let rec = LayerRecord {
            digest: digest.clone(),
            diff_id: facts.diff_id,
            uncompressed_size: facts.uncompressed_size,
            unpacked_size: facts.unpacked_size,
        };
        self.meta().record_layer(&rec)?;
        Ok(rec)
    }

    /// The platform entries of an index (or the single manifest), with presence and sizes.
    pub fn platform_images(&self, target: &Descriptor) -> Result<Vec<PlatformImage>> {
        let descs = match self.read_document(&target.digest, Some(&target.media_type))? {
            Document::Index(i) => i.manifests,
            Document::Manifest(_) => vec![target.clone()],
        };
        let mut out = Vec::new();
        for d in descs {
            if !media::is_manifest(&d.media_type) {
                continue;
            }
            let mut p = PlatformImage {
                platform: d.platform.clone(),
                descriptor: d.clone(),
                complete: false,
                unpacked_size: 0,
                content_size: 0,
            };
            if let Ok(Document::Manifest(m)) = self.read_document(&d.digest, Some(&d.media_type)) {
                p.content_size += d.size;
                let mut complete = self.has_blob(&m.config.digest);
                if complete {
                    p.content_size += m.config.size;
                    if p.platform.is_none() {
                        p.platform = self
                            .read_config(&m.config.digest)
                            .ok()
                            .map(|(c, _)| c.platform());
                    }
                }
                for l in &m.layers {
                    if self.has_blob(&l.digest) {
                        p.content_size += l.size;
                        p.unpacked_size += self
                            .layer_facts(&l.digest)
                            .map(|r| r.unpacked_size)
                            .unwrap_or(0);
                    } else {
                        complete = false;
                    }
                }
                p.complete = complete;
            }
            out.push(p);
        }
        Ok(out)
    }

    /// Resolves a target to one platform: `platform` if given, else the host's, else the
    /// first complete entry.
    pub fn resolve(
        &self,
        target: &Descriptor,
        platform: Option<&Platform>,
    ) -> Result<ResolvedImage> {
        let (manifest_descriptor, manifest) =
            match self.read_document(&target.digest, Some(&target.media_type))? {
                Document::Manifest(m) => (target.clone(), m),
                Document::Index(_) => {
                    let entries = self.platform_images(target)?;
                    let want = platform.cloned().unwrap_or_else(Platform::host);
                    let matching =
                        |p: &PlatformImage| p.platform.as_ref().is_some_and(|pp| want.matches(pp));
                    let chosen = entries
                        .iter()
                        .find(|p| p.complete && matching(p))
                        .or_else(|| {
                            if platform.is_none() {
                                entries.iter().find(|p| p.complete)
                            } else {
                                None
                            }
                        })
                        .ok_or_else(|| {
                            StoreError::ImageNotFound(format!(
                                "{}: no matching manifest for {want} in the manifest list entries",
                                target.digest
                            ))
                        })?;
                    match self.read_document(
                        &chosen.descriptor.digest,
                        Some(&chosen.descriptor.media_type),
                    )? {
                        Document::Manifest(m) => (chosen.descriptor.clone(), m),
                        Document::Index(_) => {
                            return Err(StoreError::Archive(
                                "nested index entries are not images".into(),
                            ))
                        }
                    }
                }
            };
        let (config, config_raw) = self.read_config(&manifest.config.digest)?;
        if let Some(p) = platform {
            if manifest_descriptor.platform.is_none() && !p.matches(&config.platform()) {
                return Err(StoreError::ImageNotFound(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {p}, actual: {}",
                    target.digest,
                    config.platform()
                )));
            }
        }
        let mut layers = Vec::new();
        for l in &manifest.layers {
            let rec = if self.has_blob(&l.digest) {
                Some(self.layer_facts(&l.digest)?)
            } else {
                None
            };
            layers.push((l.clone(), rec));
        }
        Ok(ResolvedImage {
            target: target.clone(),
            manifest_descriptor,
            manifest,
            config,
            config_raw,
            layers,
        })
    }

    /// Every name with its summary (what `image ls` shows), computed from the blobs only
    /// the first time and cached in SQLite after that, so listing reads no blobs.
    pub fn summaries(&self) -> Result<Vec<(NameRecord, Result<Summary, String>)>> {
        let mut out = Vec::new();
        let mut fresh = Vec::new();
        for (n, cached) in self.meta().names_with_summaries()? {
            let s = match cached {
                Some(s) => Ok(s),
                None => {
                    let desc = Descriptor::new(&n.media_type, n.digest.clone(), n.size);
                    match self.resolve(&desc, None) {
                        Ok(r) => {
                            let s = Summary {
                                manifest: r.manifest_descriptor.digest.clone(),
                                config: r.manifest.config.digest.clone(),
                                created: r.config.created.clone(),
                                size: r.size(),
                            };
                            // Only a complete image's summary is final.
                            if r.layers.iter().all(|(_, l)| l.is_some()) {
                                fresh.push((n.digest.clone(), s.clone()));
                            }
                            Ok(s)
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            out.push((n, s));
        }
        // Caching is an optimisation: a busy database must not fail a listing.
        let _ = self.meta().record_summaries(&fresh);
        Ok(out)
    }

    /// Every name with its resolution.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let mut out = Vec::new();
        for n in self.meta().names()? {
            let desc = Descriptor::new(&n.media_type, n.digest.clone(), n.size);
            let resolved = self.resolve(&desc, None).map_err(|e| e.to_string());
            out.push(ImageRecord { name: n, resolved });
        }
        Ok(out)
    }

    /// Finds the names a user's word refers to: a reference (already normalised by the
    /// caller, `full_name`), a full digest, or a unique ID prefix. Returns the matching
    /// names' records (several when an ID is shared by several names).
    pub fn lookup(&self, word: &str, full_name: Option<&str>) -> Result<Vec<NameRecord>> {
        if let Some(n) = full_name {
            if let Some(r) = self.meta().name(n)? {
                return Ok(vec![r]);
            }
        }
        let hex = word.strip_prefix("sha256:").unwrap_or(word);
        if !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let mut digests: Vec<Digest> = Vec::new();
            for n in self.meta().names()? {
                if n.digest.hex().starts_with(hex) && !digests.contains(&n.digest) {
                    digests.push(n.digest.clone());
                }
            }
            if digests.len() == 1 {
                return self.meta().names_for(&digests[0]);
            }
            if digests.len() > 1 {
                return Err(StoreError::Conflict(format!(
                    "Error response from daemon: multiple IDs found with provided prefix: {hex}"
                )));
            }
        }
        Err(StoreError::ImageNotFound(word.to_string()))
    }
}
