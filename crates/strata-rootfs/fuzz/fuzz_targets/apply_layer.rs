//! Fuzzes the layer reader and applier: arbitrary bytes (plain, gzip or zstd, sniffed)
//! applied as a layer twice under both resolvers with small bounds. A crash, a panic,
//! a multi-line error or any change to the sentinel tree outside the root is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_rootfs::fuzzing::apply_bytes(data);
});
