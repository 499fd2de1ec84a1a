//! The storage abstraction every handler goes through, and its filesystem driver.
//!
//! A [`Storage`] is a flat key/value object store with `/`-separated keys (like an object
//! store bucket). The registry's layout (see the crate docs) is built on top of it by
//! [`crate::repo`]; handlers never touch files. The trait is synchronous and object-safe:
//! handlers call it from `spawn_blocking`, so a driver may block (a filesystem, or an
//! object-store SDK used through a blocking client). An object-storage driver implements
//! the same eight methods: `append` maps to multipart parts and `commit` to a verified
//! copy/complete.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use strata_oci::digest::Algorithm;
use strata_oci::{Digest, Digester};
use thiserror::Error;

/// What [`Storage::stat`] reports about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// Last modification (write, append or touch).
    pub modified: SystemTime,
}

/// Why [`Storage::commit`] or [`Storage::append`] refused the data.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The staged object does not exist.
    #[error("staged object not found")]
    NotFound,
    /// The content's digest is not the one the client claimed.
    #[error("digest mismatch: expected {expected}, computed {actual}")]
    DigestMismatch {
        /// Claimed digest.
        expected: String,
        /// Computed digest.
        actual: String,
    },
    /// The content's size is not the one the client claimed.
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// Claimed size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// Storage failure (includes a client body that broke off mid-stream).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A blob/object store. Keys are relative, `/`-separated, built only from validated names,
/// tags and digests; drivers must still refuse keys with empty, `.` or `..` segments.
pub trait Storage: Send + Sync + 'static {
    /// Size and modification time, or `None` when the object does not exist.
    fn stat(&self, key: &str) -> io::Result<Option<ObjectInfo>>;
    /// A reader over the object, or over `len` bytes from `offset` when `range` is given.
    /// A missing object is an `io::ErrorKind::NotFound` error.
    fn read(&self, key: &str, range: Option<(u64, u64)>) -> io::Result<Box<dyn Read + Send>>;
    /// Atomically replaces the object with `data` (readers see the old or the new bytes).
    fn put(&self, key: &str, data: &[u8]) -> io::Result<()>;
    /// [`Storage::put`] for bookkeeping that a crash may lose (an upload session's state:
    /// after a crash the client starts the upload again, as it must anyway), so the driver
    /// need not make it durable.
    fn put_scratch(&self, key: &str, data: &[u8]) -> io::Result<()> {
        self.put(key, data)
    }
    /// Appends a stream to a staging object (created when missing) and returns its new size.
    /// When `expected_len` is given and the stream has a different length, or when reading
    /// the stream fails, the object is left exactly as it was and an error is returned.
    fn append(
        &self,
        key: &str,
        data: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<u64, WriteError>;
    /// Verifies the staging object against `expected` (digest, and size when given) and moves
    /// it to `target`. On mismatch the staging object is deleted and nothing is stored. When
    /// `target` already exists (same digest, same bytes) the staging object is dropped and
    /// the target touched. Returns the size.
    fn commit(
        &self,
        staging: &str,
        target: &str,
        expected: &Digest,
        size: Option<u64>,
    ) -> Result<u64, WriteError>;
    /// Sets the modification time to now (used by garbage collection's grace window).
    fn touch(&self, key: &str) -> io::Result<()>;
    /// Deletes an object, or everything under a prefix. Returns whether anything existed.
    fn delete(&self, key: &str) -> io::Result<bool>;
    /// The names directly under `prefix` (objects and sub-prefixes), sorted bytewise.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
}

/// The filesystem driver: each key is a file under the root directory. Writes go to a
/// temporary file in the destination directory, are fsynced and renamed into place.
///
/// Staging objects are hashed (SHA-256) as they are appended, so committing a large upload
/// does not read it again; the running state is only trusted when its length equals the
/// file's, otherwise (e.g. after a restart) the file is hashed at commit.
#[derive(Clone)]
pub struct FsStorage {
    root: PathBuf,
    running: Arc<Mutex<HashMap<String, (u64, Digester)>>>,
}

impl std::fmt::Debug for FsStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStorage")
            .field("root", &self.root)
            .finish()
    }
}

impl FsStorage {
    /// A driver rooted at `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(FsStorage {
            root,
            running: Default::default(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        if key.is_empty() {
            return Ok(self.root.clone());
        }
        if key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
            || key.contains('\0')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid storage key {key:?}"),
            ));
        }
        Ok(self.root.join(key))
    }
}

impl FsStorage {
    /// Writes `data` to a temporary file beside `key`'s and renames it into place; with
    /// `durable`, fsyncs the file before and its directory after.
    fn replace(&self, key: &str, data: &[u8], durable: bool) -> io::Result<()> {
        let path = self.path(key)?;
        let dir = parent_dir(&path)?;
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        tmp.write_all(data)?;
        if durable {
            tmp.as_file().sync_all()?;
        }
        tmp.persist(&path).map_err(|e| e.error)?;
        if durable {
            sync_dir(dir);
        }
        Ok(())
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Digester)>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parent_dir(p: &Path) -> io::Result<&Path> {
    p.parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "key has no parent"))
}

fn sync_dir(dir: &Path) {
    // Durability of the rename; failures (e.g. on filesystems that refuse it) are not fatal.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Storage for FsStorage {
    fn stat(&self, key: &str) -> io::Result<Option<ObjectInfo>> {
        match fs::metadata(self.path(key)?) {
            Ok(m) if m.is_file() => Ok(Some(ObjectInfo {
                size: m.len(),
                modified: m.modified()?,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read(&self, key: &str, range: Option<(u64, u64)>) -> io::Result<Box<dyn Read + Send>> {
        let mut f = File::open(self.path(key)?)?;
        match range {
            None => Ok(Box::new(f)),
            Some((offset, len)) => {
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(f.take(len)))
            }
        }
    }

    fn put(&self, key: &str, data: &[u8]) -> io::Result<()> {
        self.replace(key, data, true)
    }

    /// Still atomic (a temporary file renamed into place), but without the two fsyncs: on
    /// a journaled file system each is a journal commit, and starting an upload made four.
    fn put_scratch(&self, key: &str, data: &[u8]) -> io::Result<()> {
        self.replace(key, data, false)
    }

    fn append(
        &self,
        key: &str,
        data: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<u64, WriteError> {
        let path = self.path(key)?;
        fs::create_dir_all(parent_dir(&path)?)?;
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        let before = f.seek(SeekFrom::End(0))?;
        let mut hasher = match self.lock_running().get(key) {
            Some((len, h)) if *len == before => Some(h.clone()),
            _ if before == 0 => Some(Digester::new(Algorithm::Sha256)),
            _ => None,
        };
        let mut n: u64 = 0;
        let mut buf = vec![0u8; 256 * 1024];
        let copied: io::Result<()> = loop {
            // Whole buffers: a request body arrives in chunks of tens of KiB, and a write
            // (and a hash update) per chunk made five times the system calls.
            let mut r = 0;
            let mut eof = false;
            let mut err = None;
            while r < buf.len() {
                match data.read(&mut buf[r..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(k) => r += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            // A failed read rolls the whole append back below, bytes already read or not.
            if let Some(e) = err {
                break Err(e);
            }
            if r > 0 {
                if let Err(e) = f.write_all(&buf[..r]) {
                    break Err(e);
                }
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..r]);
                }
                n += r as u64;
            }
            if eof {
                break Ok(());
            }
        };
        let failure = match copied {
            Err(e) => Some(WriteError::Io(e)),
            Ok(()) => match expected_len {
                Some(exp) if exp != n => Some(WriteError::SizeMismatch {
                    expected: exp,
                    actual: n,
                }),
                _ => None,
            },
        };
        if let Some(err) = failure {
            // Back to exactly the previous content; the running hash (for `before`) stays valid.
            f.set_len(before)?;
            return Err(err);
        }
        // No fsync per chunk: an upload is made durable once, when it is committed
        // (`commit` fsyncs the file before renaming it into place). Should the server
        // stop before then, the upload resumes from the length found on disk, and a
        // commit without the running hash re-reads and verifies every byte.
        let mut running = self.lock_running();
        match hasher {
            Some(h) => running.insert(key.to_string(), (before + n, h)),
            None => running.remove(key),
        };
        Ok(before + n)
    }

    fn commit(
        &self,
        staging: &str,
        target: &str,
        expected: &Digest,
        size: Option<u64>,
    ) -> Result<u64, WriteError> {
        let src = self.path(staging)?;
        let dst = self.path(target)?;
        let running = self.lock_running().remove(staging);
        let mut f = match File::open(&src) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(WriteError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let file_len = f.metadata()?.len();
        let (n, actual) = match running {
            Some((len, h)) if len == file_len && expected.algorithm() == Algorithm::Sha256 => {
                (len, h.finish())
            }
            _ => {
                let mut hasher = Digester::new(expected.algorithm());
                let n = io::copy(&mut f, &mut hasher)?;
                (n, hasher.finish())
            }
        };
        let refuse = |err: WriteError| {
            let _ = fs::remove_file(&src);
            Err(err)
        };
        if let Some(exp) = size {
            if exp != n {
                return refuse(WriteError::SizeMismatch {
                    expected: exp,
                    actual: n,
                });
            }
        }
        if &actual != expected {
            return refuse(WriteError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        f.sync_all()?;
        drop(f);
        let dir = parent_dir(&dst)?;
        fs::create_dir_all(dir)?;
        if dst.exists() {
            fs::remove_file(&src)?;
            self.touch(target)?;
        } else {
            // rename(2) replaces atomically: two racing commits of the same digest both
            // succeed and leave one complete copy with identical bytes.
            fs::rename(&src, &dst)?;
            sync_dir(dir);
        }
        Ok(n)
    }

    fn touch(&self, key: &str) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.path(key)?)?;
        f.set_modified(SystemTime::now())
    }

    fn delete(&self, key: &str) -> io::Result<bool> {
        let path = self.path(key)?;
        {
            let prefix = format!("{key}/");
            self.lock_running()
                .retain(|k, _| k != key && !k.starts_with(&prefix));
        }
        let res = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let rd = match fs::read_dir(self.path(prefix)?) {
            Ok(rd) => rd,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in rd {
            let name = entry?.file_name();
            if let Some(s) = name.to_str() {
                if !s.starts_with(".tmp-") {
                    names.push(s.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_puts_replace_whole_objects_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::new(dir.path()).unwrap();
        s.put_scratch("_uploads/x/info", b"first").unwrap();
        s.put_scratch("_uploads/x/info", b"2nd").unwrap();
        let mut out = String::new();
        s.read("_uploads/x/info", None)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "2nd");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("_uploads/x"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("info")]);
        assert!(s.put_scratch("a/../b", b"x").is_err());
    }

    #[test]
    fn put_read_append_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::new(dir.path()).unwrap();
        s.put("a/b", b"hello").unwrap();
        let mut out = String::new();
        s.read("a/b", Some((1, 3)))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "ell");
        assert_eq!(s.list("a").unwrap(), vec!["b"]);
        assert!(s.path("a/../b").is_err());

        assert_eq!(s.append("up/x", &mut &b"abc"[..], None).unwrap(), 3);
        assert!(matches!(
            s.append("up/x", &mut &b"de"[..], Some(5)),
            Err(WriteError::SizeMismatch { .. })
        ));
        assert_eq!(s.stat("up/x").unwrap().unwrap().size, 3);
        let d = Digest::sha256_of(b"abc");
        let wrong = Digest::sha256_of(b"abd");
        assert!(matches!(
            s.commit("up/x", "blobs/x", &wrong, None),
            Err(WriteError::DigestMismatch { .. })
        ));
        assert!(s.stat("up/x").unwrap().is_none());
        assert!(s.stat("blobs/x").unwrap().is_none());
        s.append("up/y", &mut &b"abc"[..], None).unwrap();
        assert_eq!(s.commit("up/y", "blobs/y", &d, Some(3)).unwrap(), 3);
        assert_eq!(s.stat("blobs/y").unwrap().unwrap().size, 3);
        assert!(s.delete("up").unwrap());
        assert!(!s.delete("up").unwrap());

        // Incremental hashing across appends, surviving a rolled-back append.
        s.append("up/z", &mut &b"hello "[..], None).unwrap();
        assert!(s.append("up/z", &mut &b"xx"[..], Some(3)).is_err());
        s.append("up/z", &mut &b"world"[..], None).unwrap();
        assert!(s.lock_running().contains_key("up/z"));
        let hw = Digest::sha256_of(b"hello world");
        assert_eq!(s.commit("up/z", "blobs/hw", &hw, None).unwrap(), 11);
        assert!(s.lock_running().is_empty());
        // A staging file changed behind the driver's back is hashed from disk.
        s.append("up/w", &mut &b"abc"[..], None).unwrap();
        std::fs::write(dir.path().join("up/w"), b"abcd").unwrap();
        assert!(matches!(
            s.commit("up/w", "blobs/w", &d, None),
            Err(WriteError::DigestMismatch { .. })
        ));
    }
}
