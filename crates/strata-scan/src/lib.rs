//! Image scanning: what is installed in an image and which known vulnerabilities affect it.
//!
//! * [`version`]: exact version orderings per ecosystem (dpkg, apk, rpm, PEP 440, SemVer, Go).
//! * [`fs`]: the merged filesystem the catalogers read (whiteouts applied, symlinks
//!   resolved inside the image, per-path layer of origin).
//! * [`catalog`]: the catalogers (OS packages, language packages, the distribution).
//! * [`scan`]: scanning an image layer by layer, with layer attribution, through a scan
//!   cache keyed by chain ID.
//! * [`package`]: packages, distributions, package URLs.
//! * [`sbom`]: SBOM documents (our JSON, CycloneDX 1.6, SPDX 2.3).
//! * [`osv`], [`vulndb`], [`matcher`], [`severity`]: OSV records in a local SQLite
//!   database and exact matching against them.
//! * [`report`]: vulnerability reports (ignore rules, filters, JSON, SARIF, CycloneDX).
//! * [`update`]: downloading OSV's per-ecosystem exports into the database.
//! * [`zip`]: a small ZIP reader (OSV exports, Java archives).

pub mod catalog;
pub mod fs;
pub mod matcher;
pub mod osv;
pub mod package;
pub mod report;
pub mod sbom;
pub mod scan;
pub mod severity;
pub mod update;
pub mod version;
pub mod vulndb;
pub mod zip;

pub use package::{Distro, LayerRef, Package, PkgType};
pub use scan::{scan_image, scan_image_with, scan_layers, ScanOptions, ScanResult};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A layer could not be read.
    #[error("{0}")]
    Layer(String),
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    /// Bad input (a file, an argument).
    #[error("{0}")]
    Invalid(String),
    /// The vulnerability database failed.
    #[error("vulnerability database: {0}")]
    Db(#[from] rusqlite::Error),
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
