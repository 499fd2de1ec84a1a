//! Typed errors of layer application, diffing and the layer cache.

use std::io;

use strata_oci::Digest;
use strata_store::StoreError;
use thiserror::Error;

/// Everything that can go wrong here. Every variant renders as one line that names the
/// layer (when there is one) and the problem.
#[derive(Debug, Error)]
pub enum RootfsError {
    /// A file-system operation failed.
    #[error("{context}: {}", one_line(source))]
    Io {
        /// What was being done, and to what.
        context: String,
        /// The cause.
        source: io::Error,
    },
    /// The layer stream is not a valid (compressed) tar.
    #[error("{layer}: invalid layer tar: {}", one_line(source))]
    Tar {
        /// Which layer.
        layer: String,
        /// The cause.
        source: io::Error,
    },
    /// An entry was refused because applying it could escape the root or is ambiguous.
    #[error("{layer}: refusing entry {path:?}: {reason}")]
    Unsafe {
        /// Which layer.
        layer: String,
        /// The entry's name as written in the tar.
        path: String,
        /// Why.
        reason: String,
    },
    /// A configurable bound was exceeded.
    #[error("{layer}: {what} exceeds the limit of {limit} ({hint})")]
    Limit {
        /// Which layer (or "image").
        layer: String,
        /// What was counted.
        what: String,
        /// The limit.
        limit: u64,
        /// How to raise it.
        hint: &'static str,
    },
    /// A layer's uncompressed digest differs from the config's diff ID.
    #[error("{layer}: wrong diff id calculated on extraction: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// Which layer.
        layer: String,
        /// From the config.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// The image itself is unusable for unpacking (layers missing, diff IDs inconsistent).
    #[error("{0}")]
    Image(String),
    /// The destination cannot be used.
    #[error("{0}")]
    Target(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RootfsError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        RootfsError::Io {
            context: context.into(),
            source,
        }
    }
}

/// An error's message with control characters (newlines from names inside a tar,
/// terminal escapes) shown escaped, so that every error stays one harmless line.
fn one_line(e: &io::Error) -> String {
    e.to_string()
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Result type of this crate.
pub type Result<T, E = RootfsError> = std::result::Result<T, E>;
