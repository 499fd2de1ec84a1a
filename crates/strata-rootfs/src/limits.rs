//! Bounds on what one layer (and one image) may make the applier do.
//!
//! Every bound is configurable (the CLI exposes them as `--max-*` flags) and every one
//! ends in [`crate::RootfsError::Limit`] naming the layer, what was counted and the limit.

/// Bounds applied while reading and applying layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most layers an image may have (moby's maxLayerDepth is 125).
    pub max_layers: usize,
    /// Most tar entries in one layer.
    pub max_entries: u64,
    /// Most uncompressed bytes in one layer's tar stream.
    pub max_bytes: u64,
    /// Largest uncompressed/compressed ratio of one layer (decompression bombs), checked
    /// once the layer has produced more than [`Limits::ratio_floor`] bytes.
    pub max_ratio: u64,
    /// Uncompressed bytes a layer may produce before the ratio is checked, so that tiny
    /// layers of zeros are not refused.
    pub ratio_floor: u64,
    /// Longest entry name or link target, in bytes.
    pub max_path: usize,
    /// Longest single path component, in bytes (NAME_MAX).
    pub max_name: usize,
    /// Most components in one entry name or link target (resolution cost grows with it).
    pub max_depth: usize,
    /// Most bytes of tar metadata (headers, PAX records, GNU long names, sparse maps)
    /// for one entry; these are held in memory by the tar reader.
    pub max_metadata: u64,
    /// Most bytes of extended attributes (names and values) on one entry.
    pub max_xattr_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layers: 125,
            max_entries: 1_000_000,
            max_bytes: 64 << 30,
            max_ratio: 1000,
            ratio_floor: 64 << 20,
            max_path: 4096,
            max_name: 255,
            max_depth: 256,
            max_metadata: 1 << 20,
            max_xattr_bytes: 256 << 10,
        }
    }
}

impl Limits {
    /// No practical bounds: for re-reading trees this crate wrote itself (cache copies).
    pub fn unbounded() -> Self {
        Limits {
            max_layers: usize::MAX,
            max_entries: u64::MAX,
            max_bytes: u64::MAX,
            max_ratio: u64::MAX,
            ratio_floor: u64::MAX,
            max_path: 1 << 20,
            max_name: 1 << 16,
            max_depth: 1 << 16,
            max_metadata: 64 << 20,
            max_xattr_bytes: 64 << 20,
        }
    }
}
