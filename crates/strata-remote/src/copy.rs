//! `copy`: an image from one place to another without the local store. Places are a
//! registry (`docker://REF` or a bare reference), an OCI image layout directory
//! (`oci:DIR[:TAG]`) or a tar of one (`oci-archive:FILE[:TAG]`).
//!
//! The image travels through an OCI layout: a registry source is downloaded (verified
//! blob by blob) into a temporary layout, an archive is unpacked into one, a directory is
//! used as it is; the layout is then pushed (HEAD first, so existing blobs are skipped),
//! merged into the destination directory, or packed into the archive. Digests never
//! change: manifests are copied byte for byte.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use strata_oci::{media, Descriptor, Digest, Digester, Document, Platform, Reference};

use crate::client::Client;
use crate::error::{RemoteError, Result};
use crate::event::{Event, Status};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where an image is.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// In a registry.
    Registry(Reference),
    /// In an OCI layout directory, optionally under a tag.
    OciDir(PathBuf, Option<String>),
    /// In a tar of an OCI layout, optionally under a tag.
    OciArchive(PathBuf, Option<String>),
    /// In a `docker save` archive, optionally under a reference (`name:tag`).
    DockerArchive(PathBuf, Option<String>),
}

fn split_tag(s: &str) -> (PathBuf, Option<String>) {
    match s.rsplit_once(':') {
        Some((p, t))
            if !t.is_empty()
                && !t.contains('/')
                && strata_oci::reference::validate_tag(t).is_ok() =>
        {
            (PathBuf::from(p), Some(t.to_string()))
        }
        _ => (PathBuf::from(s), None),
    }
}

impl Location {
    /// Parses `docker://REF`, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
    /// `docker-archive:FILE[:REF]` or a bare reference.
    pub fn parse(s: &str) -> Result<Location> {
        if let Some(p) = s.strip_prefix("docker-archive:") {
            // As skopeo: the path ends at the first ':'; the rest is a reference.
            return Ok(match p.split_once(':') {
                Some((p, r)) if !r.is_empty() => {
                    let r = Reference::parse_with_default_tag(r)?;
                    Location::DockerArchive(PathBuf::from(p), Some(r.to_string()))
                }
                _ => Location::DockerArchive(PathBuf::from(p), None),
            });
        }
        if let Some(p) = s.strip_prefix("oci-archive:") {
            let (p, t) = split_tag(p);
            return Ok(Location::OciArchive(p, t));
        }
        if let Some(p) = s.strip_prefix("oci:") {
            let (p, t) = split_tag(p);
            return Ok(Location::OciDir(p, t));
        }
        let r = s.strip_prefix("docker://").unwrap_or(s);
        if r.contains("://") {
            return Err(RemoteError::Invalid(format!(
                "unknown transport in {s}: use docker://, oci:, oci-archive: or docker-archive:"
            )));
        }
        Ok(Location::Registry(Reference::parse_with_default_tag(r)?))
    }
}

/// A layout on disk being read or written.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn init(&self) -> Result<()> {
        for d in ["blobs/sha256", "blobs/sha512"] {
            let p = self.dir.join(d);
            fs::create_dir_all(&p).map_err(|e| RemoteError::io(&p, e))?;
        }
        let ol = self.dir.join("oci-layout");
        if !ol.exists() {
            write_atomic(&ol, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(())
    }

    fn read_blob(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let meta = fs::metadata(&p).map_err(|e| RemoteError::io(&p, e))?;
        if meta.len() > limit {
            return Err(RemoteError::Invalid(format!(
                "{} is too large ({} bytes)",
                p.display(),
                meta.len()
            )));
        }
        let b = fs::read(&p).map_err(|e| RemoteError::io(&p, e))?;
        let actual = d.same_algorithm_of(&b);
        if &actual != d {
            return Err(RemoteError::DigestMismatch {
                what: format!("blob {d} in {}", self.dir.display()),
                expected: d.clone(),
                actual,
            });
        }
        Ok(b)
    }

    fn write_blob(&self, d: &Digest, bytes: &[u8]) -> Result<()> {
        let p = self.blob_path(d);
        if p.exists() {
            return Ok(());
        }
        write_atomic(&p, bytes)
    }

    fn index(&self) -> Result<Value> {
        let p = self.dir.join("index.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| RemoteError::Invalid(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": []}))
            }
            Err(e) => Err(RemoteError::io(&p, e)),
        }
    }

    /// The top descriptor for `tag` (or the only one).
    fn find(&self, tag: Option<&str>) -> Result<Descriptor> {
        let idx = self.index()?;
        let entries: Vec<Descriptor> = serde_json::from_value(idx["manifests"].clone())
            .map_err(|e| RemoteError::Invalid(format!("{}/index.json: {e}", self.dir.display())))?;
        match tag {
            Some(t) => entries
                .into_iter()
                .find(|d| d.annotation(REF_NAME) == Some(t))
                .ok_or_else(|| {
                    RemoteError::Invalid(format!("no image tagged {t} in {}", self.dir.display()))
                }),
            None if entries.len() == 1 => Ok(entries.into_iter().next().expect("one")),
            None => Err(RemoteError::Invalid(format!(
                "{} holds {} images: name one with :TAG",
                self.dir.display(),
                entries.len()
            ))),
        }
    }

    fn add(&self, desc: &Descriptor, tag: Option<&str>) -> Result<()> {
        let mut idx = self.index()?;
        let mut d = desc.clone();
        d.platform = None;
        if let Some(t) = tag {
            d.annotations
                .get_or_insert_with(Default::default)
                .insert(REF_NAME.into(), t.into());
        }
        let arr = idx["manifests"]
            .as_array_mut()
            .ok_or_else(|| RemoteError::Invalid("index.json without manifests".into()))?;
        arr.retain(|e| match tag {
            Some(t) => e["annotations"][REF_NAME].as_str() != Some(t),
            None => e["digest"].as_str() != Some(&desc.digest.to_string()),
        });
        arr.push(serde_json::to_value(&d).map_err(|e| RemoteError::Invalid(e.to_string()))?);
        let bytes = serde_json::to_vec(&idx).map_err(|e| RemoteError::Invalid(e.to_string()))?;
        write_atomic(&self.dir.join("index.json"), &bytes)
    }
}

fn write_atomic(p: &Path, bytes: &[u8]) -> Result<()> {
    let dir = p.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| RemoteError::io(dir, e))?;
    let mut t = tempfile::NamedTempFile::new_in(dir).map_err(|e| RemoteError::io(dir, e))?;
    t.write_all(bytes).map_err(|e| RemoteError::io(p, e))?;
    t.as_file().sync_all().map_err(|e| RemoteError::io(p, e))?;
    t.persist(p).map_err(|e| RemoteError::io(p, e.error))?;
    Ok(())
}

/// The platform manifests of a top document, honouring `platform` for an index.
/// Returns (what the destination tag names, manifests to copy).
fn select(
    top: &Descriptor,
    bytes: &[u8],
    platform: Option<&Platform>,
) -> Result<(Descriptor, Vec<Descriptor>)> {
    match Document::parse(bytes, Some(&top.media_type))? {
        Document::Manifest(_) => Ok((top.clone(), vec![top.clone()])),
        Document::Index(idx) => match platform {
            Some(p) => {
                let d = crate::pull::choose_platform(&idx, p)?;
                Ok((d.clone(), vec![d]))
            }
            None => Ok((top.clone(), idx.manifests.clone())),
        },
    }
}

/// Downloads an image from a registry into a layout. Returns the top descriptor.
async fn registry_to_layout<F: FnMut(Event)>(
    client: &Client,
    r: &Reference,
    lay: &Layout,
    platform: Option<&Platform>,
    progress: &mut F,
) -> Result<Descriptor> {
    let top = client.fetch_manifest(r).await?;
    let top_desc = top.descriptor();
    let (tagged, manifests) = select(&top_desc, &top.bytes, platform)?;
    if tagged.digest == top_desc.digest {
        lay.write_blob(&top.digest, &top.bytes)?;
    }
    for m in &manifests {
        let mb = if m.digest == top.digest {
            top.bytes.clone()
        } else {
            client
                .fetch_manifest(&r.with_digest(m.digest.clone()))
                .await?
                .bytes
        };
        let doc = Document::parse(&mb, Some(&m.media_type))?;
        lay.write_blob(&m.digest, &mb)?;
        for b in doc.children() {
            if b.urls.is_some() || lay.blob_path(&b.digest).exists() {
                continue;
            }
            download_to(client, r, b, &lay.blob_path(&b.digest)).await?;
            progress(Event::Blob {
                digest: b.digest.clone(),
                layer: media::is_layer(&b.media_type),
                status: Status::DownloadComplete,
                current: b.size,
                total: b.size,
            });
        }
    }
    Ok(Descriptor {
        platform: None,
        ..tagged
    })
}

async fn download_to(client: &Client, r: &Reference, d: &Descriptor, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| RemoteError::io(dir, e))?;
    let mut t = tempfile::NamedTempFile::new_in(dir).map_err(|e| RemoteError::io(dir, e))?;
    let mut h = Digester::new(d.digest.algorithm());
    let mut n = 0u64;
    let mut s = client.fetch_blob(r, d, 0).await?;
    while let Some(c) = s.chunk().await? {
        n += c.len() as u64;
        if n > d.size {
            return Err(RemoteError::SizeMismatch {
                digest: d.digest.clone(),
                expected: d.size,
                actual: n,
            });
        }
        h.update(&c);
        t.write_all(&c).map_err(|e| RemoteError::io(path, e))?;
    }
    if n != d.size {
        return Err(RemoteError::SizeMismatch {
            digest: d.digest.clone(),
            expected: d.size,
            actual: n,
        });
    }
    let actual = h.finish();
    if actual != d.digest {
        return Err(RemoteError::DigestMismatch {
            what: format!("blob {}", d.digest),
            expected: d.digest.clone(),
            actual,
        });
    }
    t.as_file()
        .sync_all()
        .map_err(|e| RemoteError::io(path, e))?;
    t.persist(path)
        .map_err(|e| RemoteError::io(path, e.error))?;
    Ok(())
}

/// Pushes the image `top` of a layout to a registry under `r`'s tag.
async fn layout_to_registry<F: FnMut(Event)>(
    client: &Client,
    lay: &Layout,
    top: &Descriptor,
    r: &Reference,
    progress: &mut F,
) -> Result<Digest> {
    let top_bytes = lay.read_blob(&top.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
    let manifests = match Document::parse(&top_bytes, Some(&top.media_type))? {
        Document::Manifest(_) => vec![(top.clone(), top_bytes.clone())],
        Document::Index(i) => {
            let mut v = Vec::new();
            for d in i.manifests {
                let b = lay.read_blob(&d.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
                v.push((d, b));
            }
            v
        }
    };
    for (d, b) in &manifests {
        let doc = Document::parse(b, Some(&d.media_type))?;
        for blob in doc.children() {
            let p = lay.blob_path(&blob.digest);
            if blob.urls.is_some() && !p.exists() {
                continue;
            }
            let layer = media::is_layer(&blob.media_type);
            if client.blob_exists(r, &blob.digest).await? {
                progress(Event::Blob {
                    digest: blob.digest.clone(),
                    layer,
                    status: Status::LayerAlreadyExists,
                    current: blob.size,
                    total: blob.size,
                });
                continue;
            }
            client.push_blob(r, blob, &p, 0, |_| {}).await?;
            progress(Event::Blob {
                digest: blob.digest.clone(),
                layer,
                status: Status::Pushed,
                current: blob.size,
                total: blob.size,
            });
        }
        if d.digest != top.digest {
            client
                .push_manifest(r, &d.digest.to_string(), &d.media_type, b.clone())
                .await?;
        }
    }
    let tag = r
        .tag()
        .map(str::to_string)
        .unwrap_or_else(|| top.digest.to_string());
    client
        .push_manifest(r, &tag, &top.media_type, top_bytes)
        .await
}

/// Copies every blob a top descriptor reaches from one layout to another.
fn layout_to_layout(src: &Layout, top: &Descriptor, dst: &Layout) -> Result<()> {
    let mut stack = vec![top.clone()];
    while let Some(d) = stack.pop() {
        let from = src.blob_path(&d.digest);
        let to = dst.blob_path(&d.digest);
        if media::is_manifest(&d.media_type) || media::is_index(&d.media_type) {
            let b = src.read_blob(&d.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
            stack.extend(
                Document::parse(&b, Some(&d.media_type))?
                    .children()
                    .into_iter()
                    .cloned(),
            );
        }
        if to.exists() || (d.urls.is_some() && !from.exists()) {
            continue;
        }
        let dir = to.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| RemoteError::io(dir, e))?;
        let mut t = tempfile::NamedTempFile::new_in(dir).map_err(|e| RemoteError::io(dir, e))?;
        let mut f = File::open(&from).map_err(|e| RemoteError::io(&from, e))?;
        std::io::copy(&mut f, &mut t).map_err(|e| RemoteError::io(&to, e))?;
        t.as_file()
            .sync_all()
            .map_err(|e| RemoteError::io(&to, e))?;
        t.persist(&to).map_err(|e| RemoteError::io(&to, e.error))?;
    }
    Ok(())
}

fn unpack_archive(file: &Path, into: &Path) -> Result<()> {
    let f = File::open(file).map_err(|e| RemoteError::io(file, e))?;
    let mut ar = tar::Archive::new(f);
    for e in ar.entries().map_err(|e| RemoteError::io(file, e))? {
        let mut e = e.map_err(|e| RemoteError::io(file, e))?;
        let path = e
            .path()
            .map_err(|e| RemoteError::io(file, e))?
            .to_path_buf();
        // Only the layout's own files, never anything that climbs out.
        if path.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        }) {
            return Err(RemoteError::Invalid(format!(
                "{}: unsafe path {} in archive",
                file.display(),
                path.display()
            )));
        }
        if !e.header().entry_type().is_file() {
            continue;
        }
        let to = into.join(&path);
        let dir = to.parent().unwrap_or(into);
        fs::create_dir_all(dir).map_err(|e| RemoteError::io(dir, e))?;
        let mut out = File::create(&to).map_err(|e| RemoteError::io(&to, e))?;
        std::io::copy(&mut e, &mut out).map_err(|e| RemoteError::io(&to, e))?;
    }
    Ok(())
}

fn pack_archive(dir: &Path, file: &Path) -> Result<()> {
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let t = tempfile::NamedTempFile::new_in(parent).map_err(|e| RemoteError::io(parent, e))?;
    let mut b = tar::Builder::new(t);
    b.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    for top in ["oci-layout", "index.json", "manifest.json"] {
        if dir.join(top).is_file() {
            files.push(PathBuf::from(top));
        }
    }
    for alg in ["sha256", "sha512"] {
        let d = dir.join("blobs").join(alg);
        if let Ok(rd) = fs::read_dir(&d) {
            let mut v: Vec<PathBuf> = rd
                .flatten()
                .map(|e| PathBuf::from("blobs").join(alg).join(e.file_name()))
                .collect();
            v.sort();
            files.extend(v);
        }
    }
    for f in files {
        let full = dir.join(&f);
        b.append_path_with_name(&full, &f)
            .map_err(|e| RemoteError::io(&full, e))?;
    }
    let t = b.into_inner().map_err(|e| RemoteError::io(file, e))?;
    t.as_file()
        .sync_all()
        .map_err(|e| RemoteError::io(file, e))?;
    t.persist(file)
        .map_err(|e| RemoteError::io(file, e.error))?;
    Ok(())
}

/// The image of an unpacked `docker save` archive, as a descriptor in its layout.
/// Archives from Docker 25+ carry an OCI layout (`index.json`) and are read as one;
/// older ones (`manifest.json` with `Config` and `Layers` paths) get a Docker schema2
/// manifest written for them.
fn docker_archive_top(
    lay: &Layout,
    want: Option<&str>,
    platform: Option<&Platform>,
) -> Result<Descriptor> {
    lay.init()?;
    let mpath = lay.dir.join("manifest.json");
    let entries: Vec<Value> = match fs::read(&mpath) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| RemoteError::Invalid(format!("manifest.json: {e}")))?,
        Err(_) => Vec::new(),
    };
    let familiar = want
        .and_then(|w| Reference::parse_normalized(w).ok())
        .map(|r| r.familiar_string());
    let entry = match &familiar {
        Some(f) => entries.iter().find(|e| {
            e["RepoTags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x.as_str() == Some(f)))
        }),
        None if entries.len() <= 1 => entries.first(),
        None => {
            return Err(RemoteError::Invalid(format!(
                "the archive holds {} images: name one with docker-archive:FILE:REF",
                entries.len()
            )))
        }
    };
    if lay.dir.join("index.json").is_file() {
        // OCI layout inside: find the entry for the reference, else the only one.
        let idx = lay.index()?;
        let descs: Vec<Descriptor> = serde_json::from_value(idx["manifests"].clone())
            .map_err(|e| RemoteError::Invalid(format!("index.json: {e}")))?;
        let by_name = want.and_then(|w| {
            descs
                .iter()
                .find(|d| d.annotation("io.containerd.image.name") == Some(w))
        });
        let found = match (by_name, descs.len()) {
            (Some(d), _) => d.clone(),
            (None, 1) => descs[0].clone(),
            _ => {
                return Err(RemoteError::Invalid(
                    "cannot tell which image of the archive to copy".into(),
                ))
            }
        };
        let bytes = lay.read_blob(&found.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
        let (tagged, _) = select(&found, &bytes, platform)?;
        return Ok(Descriptor {
            platform: None,
            annotations: None,
            ..tagged
        });
    }
    let entry = entry.ok_or_else(|| RemoteError::Invalid("no such image in the archive".into()))?;
    let rel = |v: &Value| -> Result<PathBuf> {
        let s = v
            .as_str()
            .ok_or_else(|| RemoteError::Invalid("manifest.json: bad path".into()))?;
        let p = PathBuf::from(s);
        if p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(RemoteError::Invalid(format!(
                "manifest.json: unsafe path {s}"
            )));
        }
        Ok(lay.dir.join(p))
    };
    let cfg_path = rel(&entry["Config"])?;
    let cfg = fs::read(&cfg_path).map_err(|e| RemoteError::io(&cfg_path, e))?;
    let cfg_d = Digest::sha256_of(&cfg);
    lay.write_blob(&cfg_d, &cfg)?;
    let mut layers = Vec::new();
    for l in entry["Layers"].as_array().into_iter().flatten() {
        let p = rel(l)?;
        let mut f = File::open(&p).map_err(|e| RemoteError::io(&p, e))?;
        let mut h = Digester::default();
        let mut magic = [0u8; 2];
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = std::io::Read::read(&mut f, &mut buf).map_err(|e| RemoteError::io(&p, e))?;
            if k == 0 {
                break;
            }
            if n == 0 && k >= 2 {
                magic.copy_from_slice(&buf[..2]);
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        let d = h.finish();
        let to = lay.blob_path(&d);
        if !to.exists() {
            fs::copy(&p, &to).map_err(|e| RemoteError::io(&to, e))?;
        }
        let mt = if magic == [0x1f, 0x8b] {
            media::DOCKER_LAYER_GZIP
        } else {
            media::DOCKER_LAYER_TAR
        };
        layers.push(json!({"mediaType": mt, "size": n, "digest": d.to_string()}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_MANIFEST,
        "config": {"mediaType": media::DOCKER_CONFIG, "size": cfg.len(), "digest": cfg_d.to_string()},
        "layers": layers,
    });
    let mb = serde_json::to_vec(&manifest).map_err(|e| RemoteError::Invalid(e.to_string()))?;
    let md = Digest::sha256_of(&mb);
    lay.write_blob(&md, &mb)?;
    Ok(Descriptor::new(media::DOCKER_MANIFEST, md, mb.len() as u64))
}

/// Writes a `docker save` archive's files into `out`: an OCI layout for one platform
/// manifest plus the legacy `manifest.json` that every `docker load` reads.
fn write_docker_archive(
    src: &Layout,
    top: &Descriptor,
    out: &Layout,
    name: Option<&str>,
    platform: Option<&Platform>,
) -> Result<Digest> {
    let bytes = src.read_blob(&top.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
    let mdesc = match Document::parse(&bytes, Some(&top.media_type))? {
        Document::Manifest(_) => top.clone(),
        Document::Index(idx) => {
            let want = platform.cloned().unwrap_or_else(Platform::host);
            crate::pull::choose_platform(&idx, &want)?
        }
    };
    let mbytes = src.read_blob(&mdesc.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
    let m = match Document::parse(&mbytes, Some(&mdesc.media_type))? {
        Document::Manifest(m) => m,
        Document::Index(_) => {
            return Err(RemoteError::Invalid(
                "nested index entries are not images".into(),
            ))
        }
    };
    let mdesc = Descriptor {
        platform: None,
        annotations: None,
        ..mdesc
    };
    layout_to_layout(src, &mdesc, out)?;
    let mut entry = mdesc.clone();
    let mut tags = Vec::new();
    if let Some(n) = name {
        let r = Reference::parse_with_default_tag(n)?;
        let ann = entry.annotations.get_or_insert_with(Default::default);
        ann.insert("io.containerd.image.name".into(), r.to_string());
        if let Some(t) = r.tag() {
            ann.insert(REF_NAME.into(), t.to_string());
            tags.push(r.familiar_string());
        }
    }
    out.add(&entry, None)?;
    let p = |d: &Digest| format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
    let legacy = json!([{
        "Config": p(&m.config.digest),
        "RepoTags": tags,
        "Layers": m.layers.iter().map(|l| p(&l.digest)).collect::<Vec<_>>(),
    }]);
    let lb = serde_json::to_vec(&legacy).map_err(|e| RemoteError::Invalid(e.to_string()))?;
    write_atomic(&out.dir.join("manifest.json"), &lb)?;
    Ok(mdesc.digest)
}

/// Copies the image at `src` to `dst` (only `platform` of an index, when given).
/// Returns the digest the destination names.
pub async fn copy<F: FnMut(Event)>(
    client: &Client,
    src: &Location,
    dst: &Location,
    platform: Option<&Platform>,
    mut progress: F,
) -> Result<Digest> {
    let scratch = tempfile::tempdir().map_err(|e| RemoteError::io(std::env::temp_dir(), e))?;
    // Stage the source as a layout.
    let (lay, top) = match src {
        Location::Registry(r) => {
            let lay = Layout {
                dir: scratch.path().join("stage"),
            };
            lay.init()?;
            let top = registry_to_layout(client, r, &lay, platform, &mut progress).await?;
            (lay, top)
        }
        Location::OciDir(d, t) => {
            let lay = Layout { dir: d.clone() };
            let found = lay.find(t.as_deref())?;
            let bytes = lay.read_blob(&found.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
            let (tagged, _) = select(&found, &bytes, platform)?;
            (
                lay,
                Descriptor {
                    platform: None,
                    ..tagged
                },
            )
        }
        Location::DockerArchive(f, want) => {
            let dir = scratch.path().join("unpacked");
            unpack_archive(f, &dir)?;
            let lay = Layout { dir };
            let top = docker_archive_top(&lay, want.as_deref(), platform)?;
            (lay, top)
        }
        Location::OciArchive(f, t) => {
            let dir = scratch.path().join("unpacked");
            unpack_archive(f, &dir)?;
            let lay = Layout { dir };
            let found = lay.find(t.as_deref())?;
            let bytes = lay.read_blob(&found.digest, strata_oci::MAX_DOCUMENT_SIZE as u64)?;
            let (tagged, _) = select(&found, &bytes, platform)?;
            (
                lay,
                Descriptor {
                    platform: None,
                    ..tagged
                },
            )
        }
    };
    match dst {
        Location::Registry(r) => layout_to_registry(client, &lay, &top, r, &mut progress).await,
        Location::OciDir(d, t) => {
            let out = Layout { dir: d.clone() };
            out.init()?;
            layout_to_layout(&lay, &top, &out)?;
            out.add(&top, t.as_deref())?;
            Ok(top.digest)
        }
        Location::DockerArchive(f, name) => {
            let out = Layout {
                dir: scratch.path().join("out"),
            };
            out.init()?;
            let d = write_docker_archive(&lay, &top, &out, name.as_deref(), platform)?;
            pack_archive(&out.dir, f)?;
            Ok(d)
        }
        Location::OciArchive(f, t) => {
            let out = Layout {
                dir: scratch.path().join("out"),
            };
            out.init()?;
            layout_to_layout(&lay, &top, &out)?;
            out.add(&top, t.as_deref())?;
            pack_archive(&out.dir, f)?;
            Ok(top.digest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("oci:/tmp/x:v1").unwrap(),
            Location::OciDir("/tmp/x".into(), Some("v1".into()))
        );
        assert_eq!(
            Location::parse("oci:/tmp/x").unwrap(),
            Location::OciDir("/tmp/x".into(), None)
        );
        assert_eq!(
            Location::parse("oci-archive:a.tar").unwrap(),
            Location::OciArchive("a.tar".into(), None)
        );
        match Location::parse("docker://localhost:5000/a").unwrap() {
            Location::Registry(r) => assert_eq!(r.to_string(), "localhost:5000/a:latest"),
            l => panic!("{l:?}"),
        }
        assert!(Location::parse("ftp://x").is_err());
    }
}
