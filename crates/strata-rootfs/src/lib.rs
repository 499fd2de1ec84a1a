//! Root filesystems from image layers, and layers from root filesystems.
//!
//! * [`apply`]: applies layers in order to a directory with the OCI image-spec semantics
//!   (whiteouts, opaque directories, hardlinks to lower layers, owners, modes, mtimes,
//!   xattrs, devices, FIFOs, sparse files), streaming: it takes a `Read` per layer, so it
//!   can run while a pull is still fetching later layers.
//! * [`root`]: the fd-relative resolution every write goes through (`openat2` with
//!   `RESOLVE_IN_ROOT`, or a user-space `O_NOFOLLOW` walk where `openat2` is missing).
//! * [`stream`]: decompression sniffed from the bytes, diff-ID hashing and the byte and
//!   ratio bounds, on a worker thread per layer.
//! * [`limits`]: every bound (entries, bytes, ratio, layers, names, metadata, xattrs).
//! * [`tree`]: reading a directory tree into a comparable description.
//! * [`diff`]: a directory compared with its parent state, written as a reproducible
//!   layer tar (whiteouts, opaque markers, sorted entries, numeric owners, optional
//!   `SOURCE_DATE_EPOCH` clamping), plain, gzip or zstd.
//! * [`image`]: whole images from the store: chain IDs, unpack, export (one flattened
//!   tar) and the per-layer change lists behind `strata image diff`.
//! * [`cache`]: the layer cache under `<store>/snapshots/<chainID>`, so that an image whose
//!   lower layers were already unpacked only applies its new layers ([`image::snapshot`]
//!   is the entry point for build and scan; the store's GC removes unused snapshots).
//! * [`follow`]: `pull --unpack`, applying layers as a pull stores them.
//! * [`fuzzing`]: the fuzz target's entry point (`fuzz/`, and `tests/fuzz_stable.rs`).
//!
//! # The tar reader
//!
//! Layers are parsed with the `tar` crate, 0.4.46 (the lockfile's version). Its open
//! advisories were checked when it was chosen: RUSTSEC-2026-0067 (CVE-2026-33056,
//! `unpack_in` chmod-ing a directory through a symlink) and RUSTSEC-2026-0068
//! (CVE-2026-33055, PAX `size` ignored when the header size is non-zero) were fixed in
//! 0.4.45; the older RUSTSEC-2018-0002 and RUSTSEC-2021-0080 (CVE-2021-38511) long before.
//! The same bug classes in the async forks (tokio-tar's CVE-2025-62518 "TARmageddon",
//! astral-tokio-tar's RUSTSEC-2026-0112/0113) do not apply to it. Two further reasons it
//! is safe here regardless: this crate never calls the reader's own `unpack` (only its
//! entry iterator; every file-system write is ours, fd-relative), which removes the whole
//! `unpack_in` class; and a PAX `size` record that disagrees with a non-zero header size
//! is refused outright, so no two parsers can see different entries in a layer this
//! crate accepted. The reader buffers PAX records and GNU long names in memory; a
//! budget on the bytes it reads between entries ([`limits::Limits::max_metadata`]) bounds
//! that.

pub mod apply;
pub mod cache;
pub mod copy;
pub mod diff;
pub mod error;
pub mod follow;
pub mod fuzzing;
pub mod image;
pub mod limits;
pub mod root;
pub mod stream;
pub mod tree;
mod writer;

pub use apply::{Applier, ApplyOptions, LayerReport, Owners};
pub use diff::{write_layer, DiffOptions, LayerCompression, LayerOutput};
pub use error::{Result, RootfsError};
pub use image::{
    chain_ids, export, layer_changes, snapshot, unpack, Change, UnpackOptions, UnpackReport,
};
pub use limits::Limits;
pub use root::Resolver;
