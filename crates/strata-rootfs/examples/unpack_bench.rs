//! Measures unpacking a synthetic image (many small files plus some large ones, gzip
//! layers) with strata (direct, through the cache, cached again) and with `umoci unpack`
//! when it is installed. Run: `cargo run -p strata-rootfs --release --example unpack_bench`.
//! Optional arguments: number of layers, files per layer, large-file MiB per layer.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use strata_oci::Digest;
use strata_rootfs::UnpackOptions;
use strata_store::Store;

fn layer(i: usize, files: usize, big_mib: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut seed = (i as u64 + 1) * 0x9e37_79b9_7f4a_7c15;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|k| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Half text-like (compressible), half noise.
                if k % 2 == 0 {
                    b'a' + (seed % 26) as u8
                } else {
                    seed as u8
                }
            })
            .collect()
    };
    for f in 0..files {
        let data = noise(512 + (f * 37) % 8192);
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(
            &mut h,
            format!("usr/share/l{i}/d{}/f{f}", f % 64),
            &data[..],
        )
        .unwrap();
    }
    let big = noise(big_mib << 20);
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o755);
    h.set_size(big.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, format!("opt/big{i}.bin"), &big[..])
        .unwrap();
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, files, big) = (
        args.first().copied().unwrap_or(4),
        args.get(1).copied().unwrap_or(5000),
        args.get(2).copied().unwrap_or(32),
    );
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let lease = store.lease(std::time::Duration::from_secs(3600)).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut blobs = Vec::new();
    let mut raw_total = 0u64;
    for i in 0..n {
        let raw = layer(i, files, big);
        raw_total += raw.len() as u64;
        diff_ids.push(Digest::sha256_of(&raw).to_string());
        let gz = gzip(&raw);
        store
            .put_layer(
                &gz[..],
                Some((Digest::sha256_of(&gz), gz.len() as u64)),
                &lease,
            )
            .unwrap();
        descs.push(serde_json::json!({"mediaType": strata_oci::media::OCI_LAYER_GZIP, "digest": Digest::sha256_of(&gz).to_string(), "size": gz.len()}));
        blobs.push(gz);
    }
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})).unwrap();
    store.put_bytes(&config, None, &lease).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": strata_oci::media::OCI_MANIFEST,
        "config": {"mediaType": strata_oci::media::OCI_CONFIG, "digest": Digest::sha256_of(&config).to_string(), "size": config.len()},
        "layers": descs})).unwrap();
    let (md, _) = store.put_document(&manifest, None, &lease).unwrap();
    store
        .meta()
        .set_name(
            "docker.io/library/bench:1",
            &md,
            strata_oci::media::OCI_MANIFEST,
            manifest.len() as u64,
            false,
        )
        .unwrap();
    let desc = strata_oci::Descriptor::new(
        strata_oci::media::OCI_MANIFEST,
        md.clone(),
        manifest.len() as u64,
    );
    let img = store.resolve(&desc, None).unwrap();
    let compressed: u64 = blobs.iter().map(|b| b.len() as u64).sum();
    println!(
        "image: {n} layers, {} files, {:.0} MiB uncompressed, {:.0} MiB gzip",
        n * (files + 1),
        raw_total as f64 / 1048576.0,
        compressed as f64 / 1048576.0
    );

    let s = Instant::now();
    strata_rootfs::unpack(
        &store,
        &img,
        &t.path().join("direct"),
        &UnpackOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
    println!("strata unpack --no-cache:          {:.2} s", secs(s));
    let s = Instant::now();
    strata_rootfs::unpack(
        &store,
        &img,
        &t.path().join("cache1"),
        &UnpackOptions::default(),
    )
    .unwrap();
    println!("strata unpack (builds the cache):  {:.2} s", secs(s));
    let s = Instant::now();
    strata_rootfs::unpack(
        &store,
        &img,
        &t.path().join("cache2"),
        &UnpackOptions::default(),
    )
    .unwrap();
    println!("strata unpack (from the cache):    {:.2} s", secs(s));
    let s = Instant::now();
    let mut sink = std::io::sink();
    strata_rootfs::export(&store, &img, &Default::default(), &mut sink).unwrap();
    println!("strata export (cached snapshot):   {:.2} s", secs(s));

    if Command::new("umoci")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let layout = t.path().join("layout");
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(
            layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        for b in blobs.iter().chain([&config, &manifest]) {
            std::fs::write(
                layout.join("blobs/sha256").join(Digest::sha256_of(b).hex()),
                b,
            )
            .unwrap();
        }
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": strata_oci::media::OCI_MANIFEST, "digest": md.to_string(), "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "b"}}]});
        std::fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        let s = Instant::now();
        let o = Command::new("umoci")
            .args(["unpack", "--image", &format!("{}:b", layout.display())])
            .arg(t.path().join("bundle"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        println!("umoci unpack:                      {:.2} s", secs(s));
    }
    let _ = Path::new("");
}
