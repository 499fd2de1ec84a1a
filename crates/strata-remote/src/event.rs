//! Progress as typed events. The pull and push pipelines report everything they do
//! through these; the CLI renders them as Docker's progress lines (or JSON), and other
//! front ends (the dashboard) can reuse them as they are.

use serde::Serialize;
use strata_oci::Digest;

/// What a blob is doing, with Docker's wording available from [`Status::text`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "from")]
pub enum Status {
    /// Pull: the blob is already in the store.
    AlreadyExists,
    /// Pull: the blob will be downloaded.
    PullingFsLayer,
    /// Waiting for a download or upload slot.
    Waiting,
    /// Pull: bytes are arriving.
    Downloading,
    /// Pull: all bytes are in; the digest is being checked.
    VerifyingChecksum,
    /// Pull: verified and stored.
    DownloadComplete,
    /// Pull: the layer's facts (diff ID, unpacked size) are recorded and checked.
    PullComplete,
    /// Push: about to check the blob.
    Preparing,
    /// Push: bytes are being sent.
    Pushing,
    /// Push: uploaded.
    Pushed,
    /// Push: the registry already had it.
    LayerAlreadyExists,
    /// Push: mounted from another repository of the same registry.
    MountedFrom(String),
}

impl Status {
    /// Docker's text for this status.
    pub fn text(&self) -> String {
        match self {
            Status::AlreadyExists => "Already exists".into(),
            Status::PullingFsLayer => "Pulling fs layer".into(),
            Status::Waiting => "Waiting".into(),
            Status::Downloading => "Downloading".into(),
            Status::VerifyingChecksum => "Verifying Checksum".into(),
            Status::DownloadComplete => "Download complete".into(),
            Status::PullComplete => "Pull complete".into(),
            Status::Preparing => "Preparing".into(),
            Status::Pushing => "Pushing".into(),
            Status::Pushed => "Pushed".into(),
            Status::LayerAlreadyExists => "Layer already exists".into(),
            Status::MountedFrom(r) => format!("Mounted from {r}"),
        }
    }

    /// Whether the status carries byte progress.
    pub fn has_progress(&self) -> bool {
        matches!(self, Status::Downloading | Status::Pushing)
    }
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Pull started: `tag: Pulling from repository` (tag is the digest for digest pulls).
    PullingFrom {
        /// Tag or digest.
        tag: String,
        /// Familiar repository path (`library/alpine`).
        repository: String,
    },
    /// Push started: `The push refers to repository [name]`.
    PushRefersTo {
        /// Full repository name.
        repository: String,
    },
    /// The reference resolved to this manifest or index.
    Resolved {
        /// Its digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// What will be transferred: layer count, bytes still to move, and total layer bytes.
    Plan {
        /// Layers in the image.
        layers: usize,
        /// Bytes to download or upload (blobs not already there).
        transfer_bytes: u64,
        /// All layers' compressed bytes.
        total_bytes: u64,
    },
    /// A blob changed status or made progress.
    Blob {
        /// The blob.
        digest: Digest,
        /// Whether it is a layer (configs are reported too, but Docker shows only layers).
        layer: bool,
        /// Its status.
        status: Status,
        /// Bytes done (meaningful for Downloading/Pushing).
        current: u64,
        /// Blob size.
        total: u64,
    },
    /// A transfer failed and will be tried again.
    Retrying {
        /// The blob.
        digest: Digest,
        /// Attempt about to be made (2 = first retry).
        attempt: u32,
        /// Delay before it, in whole seconds.
        delay_secs: u64,
        /// Bytes already held, from which the retry resumes.
        resume_from: u64,
        /// What went wrong.
        error: String,
    },
}
