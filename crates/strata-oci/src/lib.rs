//! The image model shared by every Strata crate.
//!
//! * [`digest`]: validated content digests (`sha256:…`, `sha512:…`), safe to use in paths,
//!   and chain IDs.
//! * [`reference`]: image references with Docker's grammar and normalisation.
//! * [`media`]: the OCI and Docker media types.
//! * [`manifest`]: manifests, indexes and configs (OCI and Docker schema2), read by
//!   media type or by shape, with the CVE-2021-41190 ambiguity refused.
//! * [`platform`]: platforms (`linux/arm64/v8`) and matching against the host.

pub mod digest;
pub mod manifest;
pub mod media;
pub mod platform;
pub mod reference;

pub use digest::{chain_ids, Digest, DigestError, Digester};
pub use manifest::{Descriptor, Document, ImageConfig, ImageIndex, ImageManifest, ModelError};
pub use platform::Platform;
pub use reference::{Reference, ReferenceError};

/// Largest JSON document (manifest, index, config) Strata will read: 4 MiB, as containerd.
pub const MAX_DOCUMENT_SIZE: usize = 4 * 1024 * 1024;
