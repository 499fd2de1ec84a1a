//! Typed errors of the store.

use std::path::PathBuf;

use strata_oci::{Digest, ModelError};
use thiserror::Error;

/// Everything that can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An I/O error with no single path (streams).
    #[error("{0}")]
    Stream(#[from] std::io::Error),
    /// The SQLite database failed.
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Content did not hash to what was expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the descriptor said.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// Content had the wrong length.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Expected size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A layer's uncompressed digest differs from the config's diff ID.
    #[error("wrong diff id calculated on extraction: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// From the config.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// The blob is not in the store.
    #[error("blob {0} not found in the store")]
    BlobNotFound(Digest),
    /// No image by that name or ID.
    #[error("No such image: {0}")]
    ImageNotFound(String),
    /// A document could not be read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Another process holds the ingest for this ref.
    #[error("ref {0} is locked by another writer")]
    Locked(String),
    /// An archive is malformed.
    #[error("invalid archive: {0}")]
    Archive(String),
    /// An image reference conflict (`rm` of an image with several names, …).
    #[error("{0}")]
    Conflict(String),
    /// A document is too large to read.
    #[error("{what} is too large ({size} bytes; the limit is {limit})")]
    TooLarge {
        /// What it was.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl StoreError {
    /// An I/O error at `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
