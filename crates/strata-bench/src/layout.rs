//! Writing OCI image layouts: blobs written through a hashing writer to a temp file and
//! renamed to their digest, gzip layers built from a tar stream with their diff_id, and
//! configs, manifests and `index.json`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Media type of OCI image manifests.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of OCI image configs.
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of gzip layers.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A writer that hashes and counts what passes through it.
pub struct HashCount<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W> HashCount<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashCount {
            inner,
            hasher: Sha256::new(),
            n: 0,
        }
    }

    /// Returns the inner writer, the `sha256:` digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        let d = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, d, self.n)
    }
}

impl<W: Write> Write for HashCount<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A content descriptor (digest and size of a blob).
#[derive(Clone, Debug)]
pub struct Desc {
    /// Media type.
    pub media_type: String,
    /// `sha256:…`
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Desc {
    /// The descriptor as OCI JSON.
    pub fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// A layer written to a layout: its descriptor and uncompressed digest and size.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The compressed blob.
    pub desc: Desc,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    /// Uncompressed size.
    pub raw_size: u64,
}

/// Tar builder writing into a gzip layer being hashed on both sides.
pub type LayerTar = tar::Builder<HashCount<GzEncoder<HashCount<BufWriter<File>>>>>;

/// An OCI image layout being written.
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Creates `dir` (which must not exist yet) with `oci-layout` and `blobs/sha256`.
    pub fn create(dir: &Path) -> Result<Layout> {
        fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("creating {}", dir.display()))?;
        fs::write(
            dir.join("oci-layout"),
            b"{\"imageLayoutVersion\":\"1.0.0\"}",
        )?;
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Stores `bytes` as a blob.
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Desc> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        let path = self.blob_path(&digest);
        if !path.exists() {
            fs::write(&path, bytes)?;
        }
        Ok(Desc {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
        })
    }

    /// Writes a gzip (level 6) layer whose tar is produced by `fill`; `tag` names the
    /// temporary file, so layers can be written from several threads at once.
    pub fn write_layer(
        &self,
        tag: &str,
        fill: impl FnOnce(&mut LayerTar) -> Result<()>,
    ) -> Result<Layer> {
        let tmp = self.dir.join(format!("blobs/sha256/.tmp-{tag}"));
        let file = File::create(&tmp)?;
        let gz = GzEncoder::new(
            HashCount::new(BufWriter::with_capacity(1 << 20, file)),
            Compression::new(6),
        );
        let mut tar = tar::Builder::new(HashCount::new(gz));
        tar.mode(tar::HeaderMode::Deterministic);
        fill(&mut tar)?;
        let raw = tar.into_inner()?;
        let (gz, diff_id, raw_size) = raw.finish();
        let comp = gz.finish()?;
        let (mut w, digest, size) = comp.finish();
        w.flush()?;
        drop(w);
        fs::rename(&tmp, self.blob_path(&digest))?;
        Ok(Layer {
            desc: Desc {
                media_type: LAYER_GZIP.to_string(),
                digest,
                size,
            },
            diff_id,
            raw_size,
        })
    }

    /// Writes the config and manifest of an image made of `layers`; returns the manifest
    /// descriptor. `created` is an RFC 3339 time, `labels` go into the config.
    pub fn put_image(&self, layers: &[Layer], created: &str, labels: Value) -> Result<Desc> {
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let history: Vec<Value> = layers
            .iter()
            .enumerate()
            .map(|(i, _)| json!({"created": created, "created_by": format!("bench layer {i}")}))
            .collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        let config = self.put_blob(CONFIG, &serde_json::to_vec(&config)?)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.json(),
            "layers": layers.iter().map(|l| l.desc.json()).collect::<Vec<_>>(),
        });
        self.put_blob(MANIFEST, &serde_json::to_vec(&manifest)?)
    }

    /// Writes `index.json` listing `images` as (manifest, annotations).
    pub fn finish(&self, images: &[(Desc, Value)]) -> Result<()> {
        let manifests: Vec<Value> = images
            .iter()
            .map(|(d, ann)| {
                let mut v = d.json();
                v["annotations"] = ann.clone();
                v["platform"] = json!({"architecture": "amd64", "os": "linux"});
                v
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        fs::write(self.dir.join("index.json"), serde_json::to_vec(&index)?)?;
        Ok(())
    }
}

/// Appends a regular file.
pub fn add_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    tar.append_data(&mut h, path, data)?;
    Ok(())
}

/// Appends a directory.
pub fn add_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    tar.append_data(&mut h, path, io::empty())?;
    Ok(())
}

/// Appends a symbolic link.
pub fn add_symlink<W: Write>(tar: &mut tar::Builder<W>, path: &str, target: &str) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    tar.append_link(&mut h, path, target)?;
    Ok(())
}
