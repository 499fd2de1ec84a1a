//! The content store: verified, immutable blobs named by digest, and resumable ingests.
//!
//! A write goes to `ingest/<sha256(ref)>/data`; [`BlobWriter::commit`] checks size and
//! digest, fsyncs, renames into `blobs/<alg>/<hex>`, fsyncs the directory and makes the
//! file read-only. Content is invisible until committed. A writer opened again with the
//! same ref resumes where the last one stopped (the bytes on disk are re-hashed), which is
//! how an interrupted pull or load continues instead of starting over.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use strata_oci::digest::Algorithm;
use strata_oci::{Digest, Digester};

use crate::gc::{GcGuard, Lease};
use crate::{Result, Store, StoreError};

/// Progress of an ingest, as containerd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestStatus {
    /// The writer's ref.
    pub reference: String,
    /// Bytes written so far.
    pub offset: u64,
    /// Expected total, when known.
    pub total: Option<u64>,
}

/// Writes one blob. Dropping it without committing keeps the partial data for a later
/// resume; call [`BlobWriter::abort`] to discard it.
pub struct BlobWriter<'s> {
    store: &'s Store,
    dir: PathBuf,
    file: File,
    _lock: File,
    hasher: Digester,
    offset: u64,
    expected: Option<(Digest, u64)>,
    reference: String,
}

impl Store {
    /// Where a committed blob lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root().join("blobs").join(d.algorithm().as_str()).join(d.hex())
    }

    /// Whether a committed blob exists.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.blob_path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
            _ => StoreError::io(self.blob_path(d), e),
        })
    }

    /// Size of a committed blob.
    pub fn blob_size(&self, d: &Digest) -> Result<u64> {
        let p = self.blob_path(d);
        fs::metadata(&p).map(|m| m.len()).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
            _ => StoreError::io(p, e),
        })
    }

    /// Reads a whole (small) blob, refusing anything over `limit` bytes, and checks that
    /// it still hashes to its name.
    pub fn read_blob(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let mut f = self.open_blob(d)?;
        let size = f.metadata().map_err(|e| StoreError::io(self.blob_path(d), e))?.len();
        if size > limit {
            return Err(StoreError::TooLarge { what: format!("blob {d}"), size, limit });
        }
        let mut buf = Vec::with_capacity(size as usize);
        f.read_to_end(&mut buf).map_err(|e| StoreError::io(self.blob_path(d), e))?;
        let actual = d.same_algorithm_of(&buf);
        if &actual != d {
            return Err(StoreError::DigestMismatch { expected: d.clone(), actual });
        }
        Ok(buf)
    }

    /// Opens (or resumes) the ingest named `reference`. `expected` is the digest and size
    /// the content must have, when known.
    pub fn writer(&self, reference: &str, expected: Option<(Digest, u64)>) -> Result<BlobWriter<'_>> {
        let key = Digest::sha256_of(reference.as_bytes());
        let dir = self.root().join("ingest").join(key.hex());
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(reference.to_string())),
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
        }
        write_small(&dir.join("ref"), reference.as_bytes())?;
        if let Some((_, total)) = &expected {
            write_small(&dir.join("total"), total.to_string().as_bytes())?;
        }
        let data = dir.join("data");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&data)
            .map_err(|e| StoreError::io(&data, e))?;
        let alg = expected.as_ref().map(|(d, _)| d.algorithm()).unwrap_or(Algorithm::Sha256);
        let mut hasher = Digester::new(alg);
        // Resume: re-hash what an earlier writer left behind.
        let mut offset = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(|e| StoreError::io(&data, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        if let Some((_, total)) = &expected {
            if offset > *total {
                // More than the blob can hold: the partial data is garbage; start over.
                file.set_len(0).map_err(|e| StoreError::io(&data, e))?;
                file.seek(SeekFrom::Start(0)).map_err(|e| StoreError::io(&data, e))?;
                hasher = Digester::new(alg);
                offset = 0;
            }
        }
        Ok(BlobWriter {
            store: self,
            dir,
            file,
            _lock: lock,
            hasher,
            offset,
            expected,
            reference: reference.to_string(),
        })
    }

    /// Writes a small blob from memory under `lease`, verifying `expected` if given.
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>, lease: &Lease) -> Result<Digest> {
        let digest = match expected {
            Some(d) => {
                let actual = d.same_algorithm_of(bytes);
                if &actual != d {
                    return Err(StoreError::DigestMismatch { expected: d.clone(), actual });
                }
                d.clone()
            }
            None => Digest::sha256_of(bytes),
        };
        if self.protect_existing(&digest, lease)? {
            return Ok(digest);
        }
        let mut w = self.writer(&format!("bytes-{digest}"), Some((digest.clone(), bytes.len() as u64)))?;
        if w.offset() != 0 {
            w.reset()?;
        }
        w.write_all(bytes)?;
        w.commit(lease)
    }

    /// If the blob is already committed, adds it to `lease` (under the GC lock, so it
    /// cannot be collected in between) and returns true.
    pub fn protect_existing(&self, d: &Digest, lease: &Lease) -> Result<bool> {
        let _g = GcGuard::shared(self)?;
        if self.has_blob(d) {
            let size = self.blob_size(d)?;
            self.meta().record_blob(d, size, lease)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Every in-progress ingest.
    pub fn ingests(&self) -> Result<Vec<IngestStatus>> {
        let dir = self.root().join("ingest");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let e = e.map_err(|e| StoreError::io(&dir, e))?;
            let p = e.path();
            let reference = fs::read_to_string(p.join("ref")).unwrap_or_default();
            let offset = fs::metadata(p.join("data")).map(|m| m.len()).unwrap_or(0);
            let total = fs::read_to_string(p.join("total")).ok().and_then(|t| t.trim().parse().ok());
            out.push(IngestStatus { reference, offset, total });
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }
}

impl BlobWriter<'_> {
    /// Bytes written so far (including resumed bytes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The ref this writer was opened with.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Discards written bytes and starts from zero.
    pub fn reset(&mut self) -> Result<()> {
        let data = self.dir.join("data");
        self.file.set_len(0).map_err(|e| StoreError::io(&data, e))?;
        self.file.seek(SeekFrom::Start(0)).map_err(|e| StoreError::io(&data, e))?;
        let alg = self.expected.as_ref().map(|(d, _)| d.algorithm()).unwrap_or(Algorithm::Sha256);
        self.hasher = Digester::new(alg);
        self.offset = 0;
        Ok(())
    }

    /// Verifies, fsyncs and publishes the blob, recording it under `lease`.
    pub fn commit(mut self, lease: &Lease) -> Result<Digest> {
        let data = self.dir.join("data");
        self.file.flush().map_err(|e| StoreError::io(&data, e))?;
        let actual = std::mem::take(&mut self.hasher).finish();
        if let Some((expected, size)) = &self.expected {
            if self.offset != *size {
                let err = StoreError::SizeMismatch { digest: expected.clone(), expected: *size, actual: self.offset };
                self.discard();
                return Err(err);
            }
            if &actual != expected {
                let err = StoreError::DigestMismatch { expected: expected.clone(), actual };
                self.discard();
                return Err(err);
            }
        }
        self.file.sync_all().map_err(|e| StoreError::io(&data, e))?;
        let target = self.store.blob_path(&actual);
        {
            let _g = GcGuard::shared(self.store)?;
            if target.is_file() {
                fs::remove_file(&data).map_err(|e| StoreError::io(&data, e))?;
            } else {
                let mut perms = self.file.metadata().map_err(|e| StoreError::io(&data, e))?.permissions();
                perms.set_readonly(true);
                fs::set_permissions(&data, perms).map_err(|e| StoreError::io(&data, e))?;
                fs::rename(&data, &target).map_err(|e| StoreError::io(&target, e))?;
                if let Some(parent) = target.parent() {
                    sync_dir(parent)?;
                }
            }
            self.store.meta().record_blob(&actual, self.offset, lease)?;
        }
        let _ = fs::remove_dir_all(&self.dir);
        Ok(actual)
    }

    /// Throws the ingest away.
    pub fn abort(self) {
        self.discard();
    }

    fn discard(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writes a small file atomically: temp file, fsync, rename.
pub fn write_small(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| StoreError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| StoreError::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| StoreError::io(path, e))?;
    tmp.persist(path).map_err(|e| StoreError::io(path, e.error))?;
    Ok(())
}

/// fsyncs a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}
