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

/// How long a writer waits for another writer of the same ref before giving up.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

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
    /// Up to where writeback to disk was started (see [`WRITEBACK_EVERY`]).
    written_back: u64,
    expected: Option<(Digest, u64)>,
    reference: String,
}

/// Bytes written between two requests to start writing a blob back to disk, so that the
/// fsync at commit has little left to wait for (it was a 30 ms stall at the end of a
/// 53 MB layer's download; spread over the download it overlaps with the transfer).
const WRITEBACK_EVERY: u64 = 8 << 20;

impl Store {
    /// Where a committed blob lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root()
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
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
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
                _ => StoreError::io(p, e),
            })
    }

    /// Reads a whole (small) blob, refusing anything over `limit` bytes, and checks that
    /// it still hashes to its name.
    pub fn read_blob(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let mut f = self.open_blob(d)?;
        let size = f
            .metadata()
            .map_err(|e| StoreError::io(self.blob_path(d), e))?
            .len();
        if size > limit {
            return Err(StoreError::TooLarge {
                what: format!("blob {d}"),
                size,
                limit,
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        f.read_to_end(&mut buf)
            .map_err(|e| StoreError::io(self.blob_path(d), e))?;
        let actual = d.same_algorithm_of(&buf);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        Ok(buf)
    }

    /// Opens (or resumes) the ingest named `reference`. `expected` is the digest and size
    /// the content must have, when known.
    ///
    /// If another writer (in this or another process) holds the same ref, this waits for
    /// it with backoff, as containerd does, up to [`LOCK_WAIT`]. Use [`Store::ingest`] to
    /// learn that the other writer committed the blob meanwhile instead of writing it again.
    pub fn writer(
        &self,
        reference: &str,
        expected: Option<(Digest, u64)>,
    ) -> Result<BlobWriter<'_>> {
        let key = Digest::sha256_of(reference.as_bytes());
        let dir = self.root().join("ingest").join(key.hex());
        let lock = self.lock_ingest(&dir, reference)?;
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
        let alg = expected
            .as_ref()
            .map(|(d, _)| d.algorithm())
            .unwrap_or(Algorithm::Sha256);
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
                file.seek(SeekFrom::Start(0))
                    .map_err(|e| StoreError::io(&data, e))?;
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
            written_back: offset,
            expected,
            reference: reference.to_string(),
        })
    }

    /// Like [`Store::writer`] for a blob of known digest, but returns `None` when the blob
    /// is (or, after waiting for a concurrent writer, has become) present; it is then
    /// recorded under `lease`.
    pub fn ingest(
        &self,
        reference: &str,
        expected: (Digest, u64),
        lease: &Lease,
    ) -> Result<Option<BlobWriter<'_>>> {
        if self.protect_existing(&expected.0, lease)? {
            return Ok(None);
        }
        let digest = expected.0.clone();
        let w = self.writer(reference, Some(expected))?;
        if self.protect_existing(&digest, lease)? {
            w.abort();
            return Ok(None);
        }
        Ok(Some(w))
    }

    /// Takes the ingest directory's lock, waiting for another holder with backoff. The
    /// directory may vanish while we wait (the holder committed and removed it): then the
    /// lock we got is on an unlinked file and we start again.
    fn lock_ingest(&self, dir: &Path, reference: &str) -> Result<File> {
        use std::os::unix::fs::MetadataExt;
        let started = std::time::Instant::now();
        let mut backoff = std::time::Duration::from_millis(16);
        loop {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            let lock_path = dir.join("lock");
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| StoreError::io(&lock_path, e))?;
            match lock.try_lock() {
                Ok(()) => {
                    let held = lock.metadata().map(|m| m.ino()).ok();
                    let current = fs::metadata(&lock_path).map(|m| m.ino()).ok();
                    if held.is_some() && held == current {
                        return Ok(lock);
                    }
                }
                Err(fs::TryLockError::WouldBlock) => {
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StoreError::Locked(reference.to_string()));
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                }
                Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
            }
        }
    }

    /// Writes a small blob from memory under `lease`, verifying `expected` if given.
    pub fn put_bytes(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<Digest> {
        let digest = match expected {
            Some(d) => {
                let actual = d.same_algorithm_of(bytes);
                if &actual != d {
                    return Err(StoreError::DigestMismatch {
                        expected: d.clone(),
                        actual,
                    });
                }
                d.clone()
            }
            None => Digest::sha256_of(bytes),
        };
        if self.protect_existing(&digest, lease)? {
            return Ok(digest);
        }
        let mut w = self.writer(
            &format!("bytes-{digest}"),
            Some((digest.clone(), bytes.len() as u64)),
        )?;
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
            let total = fs::read_to_string(p.join("total"))
                .ok()
                .and_then(|t| t.trim().parse().ok());
            out.push(IngestStatus {
                reference,
                offset,
                total,
            });
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
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| StoreError::io(&data, e))?;
        let alg = self
            .expected
            .as_ref()
            .map(|(d, _)| d.algorithm())
            .unwrap_or(Algorithm::Sha256);
        self.hasher = Digester::new(alg);
        self.offset = 0;
        self.written_back = 0;
        Ok(())
    }

    /// Verifies, fsyncs and publishes the blob, recording it under `lease`.
    pub fn commit(mut self, lease: &Lease) -> Result<Digest> {
        let data = self.dir.join("data");
        self.file.flush().map_err(|e| StoreError::io(&data, e))?;
        let actual = std::mem::take(&mut self.hasher).finish();
        if let Some((expected, size)) = &self.expected {
            if self.offset != *size {
                let err = StoreError::SizeMismatch {
                    digest: expected.clone(),
                    expected: *size,
                    actual: self.offset,
                };
                self.discard();
                return Err(err);
            }
            if &actual != expected {
                let err = StoreError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                };
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
                let mut perms = self
                    .file
                    .metadata()
                    .map_err(|e| StoreError::io(&data, e))?
                    .permissions();
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
        let n = match self.file.write(buf) {
            Ok(n) => n,
            Err(e) => {
                if e.kind() == io::ErrorKind::StorageFull
                    || e.kind() == io::ErrorKind::QuotaExceeded
                {
                    // Keeping a partial blob on a full disk only makes things worse:
                    // give the space back (a later run starts this blob again).
                    let _ = self.reset();
                }
                return Err(e);
            }
        };
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        if self.offset - self.written_back >= WRITEBACK_EVERY {
            // Starts writeback of the range's dirty pages without waiting for it, so the
            // fsync at commit finds little left to write. Only a hint (its result is not
            // needed): the fsync is what makes the blob durable. Unlike
            // POSIX_FADV_DONTNEED, it keeps the pages cached for whoever reads the blob
            // next (`pull --unpack` applies layers from the store).
            start_writeback(
                &self.file,
                self.written_back,
                self.offset - self.written_back,
            );
            self.written_back = self.offset;
        }
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
    tmp.as_file()
        .sync_all()
        .map_err(|e| StoreError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| StoreError::io(path, e.error))?;
    Ok(())
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)` on a range of `file`: asks the kernel to start
/// writing it back and returns at once. Neither std nor rustix wraps this call.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain system call on a descriptor `file` keeps open for its duration; it
    // takes no pointers.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// fsyncs a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn second_writer_of_a_ref_waits_and_then_finds_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
        let data = vec![42u8; 100_000];
        let d = Digest::sha256_of(&data);
        let lease = store.lease(Duration::from_secs(60)).unwrap();
        let mut w = store
            .writer("same-ref", Some((d.clone(), data.len() as u64)))
            .unwrap();
        w.write_all(&data[..50_000]).unwrap();
        let (s2, d2) = (store.clone(), d.clone());
        let waiter = std::thread::spawn(move || {
            let lease = s2.lease(Duration::from_secs(60)).unwrap();
            let got = s2.ingest("same-ref", (d2, 100_000), &lease).unwrap();
            got.is_none()
        });
        std::thread::sleep(Duration::from_millis(100));
        w.write_all(&data[50_000..]).unwrap();
        assert_eq!(w.commit(&lease).unwrap(), d);
        assert!(
            waiter.join().unwrap(),
            "the waiting writer sees the committed blob"
        );
        assert_eq!(store.read_blob(&d, 1 << 20).unwrap(), data);
    }

    #[test]
    fn interrupted_writer_resumes_and_wrong_digest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lease = store.lease(Duration::from_secs(60)).unwrap();
        let data = b"0123456789".repeat(1000);
        let d = Digest::sha256_of(&data);
        {
            let mut w = store
                .writer("r", Some((d.clone(), data.len() as u64)))
                .unwrap();
            w.write_all(&data[..4000]).unwrap();
        }
        let mut w = store
            .writer("r", Some((d.clone(), data.len() as u64)))
            .unwrap();
        assert_eq!(w.offset(), 4000);
        w.write_all(&data[4000..]).unwrap();
        w.commit(&lease).unwrap();
        assert!(store.has_blob(&d));
        let wrong = Digest::sha256_of(b"something else");
        let mut w = store
            .writer("bad", Some((wrong.clone(), data.len() as u64)))
            .unwrap();
        w.write_all(&data).unwrap();
        assert!(matches!(
            w.commit(&lease),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert!(!store.has_blob(&wrong));
        assert!(
            store.ingests().unwrap().is_empty(),
            "a failed commit leaves no ingest behind"
        );
    }
}
