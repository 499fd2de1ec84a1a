//! Typed errors of the registry client. Messages follow Docker's wording where Docker
//! has one, because the CLI prints them as they are.

use strata_oci::{Digest, ModelError, ReferenceError};
use strata_store::StoreError;
use thiserror::Error;

/// Everything that can go wrong talking to a registry or moving content.
#[derive(Debug, Error)]
pub enum RemoteError {
    /// The connection failed or broke (retryable).
    #[error("{0}")]
    Transport(String),
    /// The manifest does not exist (Docker: `manifest for X not found: manifest unknown: …`).
    #[error("manifest for {0} not found: manifest unknown: manifest unknown")]
    ManifestUnknown(String),
    /// `docker manifest inspect` wording for a missing manifest.
    #[error("no such manifest: {0}")]
    NoSuchManifest(String),
    /// The registry refused access for pulling (or the repository does not exist).
    #[error("pull access denied for {0}, repository does not exist or may require 'docker login'")]
    PullDenied(String),
    /// The registry refused access for pushing.
    #[error("denied: requested access to the resource is denied")]
    PushDenied,
    /// Credentials were rejected.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// No index entry matched the wanted platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    /// Content did not hash to its descriptor's digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being fetched.
        what: String,
        /// The descriptor's digest.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// Content had another size than its descriptor said.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// A layer's uncompressed digest differs from the config's diff ID.
    #[error(
        "wrong diff id calculated on extraction: layer {layer}: expected {expected}, got {actual}"
    )]
    DiffIdMismatch {
        /// The layer blob.
        layer: Digest,
        /// From the config.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// The registry answered with an error document or an unexpected status.
    #[error("{message}")]
    Registry {
        /// HTTP status.
        status: u16,
        /// The first error code (`MANIFEST_UNKNOWN`, …), if any.
        code: String,
        /// Docker-style text.
        message: String,
    },
    /// A local image is missing (push).
    #[error("An image does not exist locally with the tag: {0}")]
    NotLocal(String),
    /// Bad configuration or credentials files.
    #[error("{0}")]
    Config(String),
    /// A credential helper failed.
    #[error("error getting credentials - {0}")]
    CredentialHelper(String),
    /// Invalid input (flags, transports).
    #[error("{0}")]
    Invalid(String),
    /// A document is malformed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A reference is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl RemoteError {
    /// An I/O error at `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        RemoteError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// Whether retrying the same request may succeed (network trouble, 5xx, 429).
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteError::Transport(_) => true,
            RemoteError::Registry { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            _ => false,
        }
    }
}

impl From<reqwest::Error> for RemoteError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display omits the cause chain; keep one line with the root cause.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            let t = s.to_string();
            if !msg.contains(&t) {
                msg.push_str(": ");
                msg.push_str(&t);
            }
            src = s.source();
        }
        RemoteError::Transport(msg)
    }
}

/// Result type of this crate.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
