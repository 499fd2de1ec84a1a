//! Seeded workload generators. Every byte comes from [`Rng`] streams derived from the
//! seed, so the same seed and scale give the same blobs (and digests) on every machine.
//!
//! - `big`: 8 layers of ~40 MB each, mixed compressibility (~280 MB of gzip);
//! - `distro`: one layer of ~20,000 small files in a Debian-like tree (~120 MB);
//! - `tiny`: one layer holding one 1 MiB file of random bytes;
//! - `many`: N small images sharing one layer, named `bench/many:NNNNN`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::thread;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::layout::{add_dir, add_file, add_symlink, Layer, Layout};
use crate::prng::Rng;

/// Kinds of generated file content.
#[derive(Clone, Copy, Debug)]
enum Content {
    /// Incompressible bytes (already-compressed files: .gz, .png, .jar).
    Random,
    /// Text from a small vocabulary (gzip ratio ~0.3).
    Text,
    /// Machine-code-like mix of zero runs, random runs and repeats (ratio ~0.5).
    Binary,
}

const SYLLABLES: &[&str] = &[
    "ab", "ac", "al", "an", "ar", "at", "ba", "be", "bi", "bo", "ca", "ce", "ch", "co", "cu", "da",
    "de", "di", "do", "du", "el", "en", "er", "es", "ex", "fa", "fi", "fo", "ga", "ge", "gi", "go",
    "ha", "he", "hi", "ho", "id", "il", "im", "in", "io", "is", "it", "ka", "ke", "la", "le", "li",
    "lo", "lu", "ma", "me", "mi", "mo", "mu", "na", "ne", "ni", "no", "nu", "ob", "od", "ol", "om",
    "on", "op", "or", "os", "pa", "pe", "pi", "po", "pu", "qu", "ra", "re", "ri", "ro", "ru", "sa",
    "se", "si", "so", "su", "ta", "te", "ti", "to", "tu", "ul", "um", "un", "ur", "us", "va", "ve",
    "vi", "vo", "xa", "xe", "ya", "yo", "za", "ze", "zo",
];

fn word(rng: &mut Rng, syllables: u64) -> String {
    let mut s = String::new();
    for _ in 0..syllables {
        s.push_str(SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]);
    }
    s
}

/// A fixed vocabulary for text content (same for every seed, like a language).
fn vocabulary() -> Vec<String> {
    let mut rng = Rng::new(0x5EED_7E47, 0);
    (0..600)
        .map(|_| {
            let n = rng.range(1, 4);
            word(&mut rng, n)
        })
        .collect()
}

fn fill_content(rng: &mut Rng, vocab: &[String], kind: Content, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    match kind {
        Content::Random => {
            out.resize(size, 0);
            rng.fill(&mut out);
        }
        Content::Text => {
            let mut col = 0;
            while out.len() < size {
                let w = &vocab[rng.below(vocab.len() as u64) as usize];
                out.extend_from_slice(w.as_bytes());
                col += w.len() + 1;
                if col > 72 {
                    out.push(b'\n');
                    col = 0;
                } else {
                    out.push(b' ');
                }
            }
            out.truncate(size);
        }
        Content::Binary => {
            while out.len() < size {
                let run = rng.range(16, 2048) as usize;
                let start = out.len();
                match rng.below(10) {
                    0..=2 => out.resize(start + run, 0),
                    3..=6 => {
                        out.resize(start + run, 0);
                        rng.fill(&mut out[start..]);
                    }
                    _ => {
                        // A short pattern repeated (tables, padding, instruction idioms).
                        let mut pat = [0u8; 8];
                        rng.fill(&mut pat);
                        let plen = rng.range(2, 8) as usize;
                        for i in 0..run {
                            out.push(pat[i % plen]);
                        }
                    }
                }
            }
            out.truncate(size);
        }
    }
    out
}

/// Summary of a generated layout, written to `bench-info.json` beside it.
fn info(kind: &str, layers: &[Layer], files: u64, images: u64) -> Value {
    let comp: u64 = layers.iter().map(|l| l.desc.size).sum();
    let raw: u64 = layers.iter().map(|l| l.raw_size).sum();
    json!({
        "kind": kind,
        "layers": layers.len(),
        "compressed_bytes": comp,
        "uncompressed_bytes": raw,
        "files": files,
        "images": images,
    })
}

fn write_info(dir: &Path, v: &Value) -> Result<()> {
    std::fs::write(dir.join("bench-info.json"), serde_json::to_vec_pretty(v)?)?;
    Ok(())
}

fn single_image(layout: &Layout, layers: &[Layer], kind: &str) -> Result<()> {
    let m = layout.put_image(
        layers,
        "2024-01-01T00:00:00Z",
        json!({"org.strata.bench": kind}),
    )?;
    layout.finish(&[(
        m,
        json!({"org.opencontainers.image.ref.name": "latest",
               "io.containerd.image.name": format!("bench/{kind}:latest")}),
    )])
}

/// `big`: 8 layers of `40 MB * scale`, each with a different share of random files.
pub fn big(dir: &Path, seed: u64, scale: f64) -> Result<Value> {
    let layout = Layout::create(dir)?;
    let vocab = vocabulary();
    // Share of incompressible files per layer; the rest is text. Averages ~0.78.
    let shares = [0.92, 0.88, 0.84, 0.8, 0.76, 0.72, 0.68, 0.64];
    let layer_bytes = (40_000_000.0 * scale) as u64;
    let threads = thread::available_parallelism().map_or(2, |n| n.get());
    let mut layers: Vec<Option<Layer>> = vec![None; shares.len()];
    let next = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..threads.min(shares.len()) {
            handles.push(s.spawn(|| -> Result<Vec<(usize, Layer)>> {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= shares.len() {
                        return Ok(done);
                    }
                    let mut rng = Rng::new(seed, 100 + i as u64);
                    let layer = layout.write_layer(&format!("big{i}"), |tar| {
                        add_dir(tar, "opt")?;
                        add_dir(tar, "opt/big")?;
                        let base = format!("opt/big/layer{i}");
                        add_dir(tar, &base)?;
                        let mut written = 0u64;
                        let mut j = 0;
                        while written < layer_bytes {
                            let size = rng
                                .range(256 << 10, 2 << 20)
                                .min(layer_bytes - written)
                                .max(1);
                            let kind = if rng.unit() < shares[i] {
                                Content::Random
                            } else {
                                Content::Text
                            };
                            let data = fill_content(&mut rng, &vocab, kind, size as usize);
                            add_file(tar, &format!("{base}/f{j:04}.dat"), 0o644, &data)?;
                            written += size;
                            j += 1;
                        }
                        Ok(())
                    })?;
                    done.push((i, layer));
                }
            }));
        }
        for h in handles {
            for (i, l) in h.join().expect("generator thread panicked")? {
                layers[i] = Some(l);
            }
        }
        Ok(())
    })?;
    let layers: Vec<Layer> = layers.into_iter().map(|l| l.expect("layer")).collect();
    single_image(&layout, &layers, "big")?;
    let v = info("big", &layers, 0, 1);
    write_info(dir, &v)?;
    Ok(v)
}

/// One generated entry of the distro tree.
enum Entry {
    File(Content, u64, u32),
    Link(String),
}

/// `distro`: one layer of `files` small files laid out like a Debian root filesystem.
pub fn distro(dir: &Path, seed: u64, files: u64) -> Result<Value> {
    let layout = Layout::create(dir)?;
    let vocab = vocabulary();
    let mut rng = Rng::new(seed, 200);
    // Plan the tree first (paths, kinds, sizes), then write it sorted.
    let mut plan: std::collections::BTreeMap<String, Entry> = Default::default();
    let size_of = |rng: &mut Rng| -> u64 {
        let r = rng.unit();
        if r < 0.70 {
            rng.range(100, 3_000)
        } else if r < 0.92 {
            rng.range(3_000, 12_000)
        } else if r < 0.99 {
            rng.range(12_000, 40_000)
        } else {
            rng.range(40_000, 200_000)
        }
    };
    let langs = ["de", "fr", "es", "it", "ja", "pt_BR", "ru", "zh_CN"];
    let mut pkgno = 0u64;
    while (plan.len() as u64) < files {
        let n = rng.range(1, 3);
        let pkg = format!("{}{}", word(&mut rng, n), pkgno % 97);
        pkgno += 1;
        let add = |plan: &mut std::collections::BTreeMap<String, Entry>, p: String, e: Entry| {
            plan.insert(p, e);
        };
        let s = size_of(&mut rng);
        add(
            &mut plan,
            format!("usr/share/doc/{pkg}/copyright"),
            Entry::File(Content::Text, s, 0o644),
        );
        let s = size_of(&mut rng);
        add(
            &mut plan,
            format!("usr/share/doc/{pkg}/changelog.Debian.gz"),
            Entry::File(Content::Random, s, 0o644),
        );
        let s = size_of(&mut rng);
        add(
            &mut plan,
            format!("var/lib/dpkg/info/{pkg}.list"),
            Entry::File(Content::Text, s, 0o644),
        );
        let s = size_of(&mut rng);
        add(
            &mut plan,
            format!("var/lib/dpkg/info/{pkg}.md5sums"),
            Entry::File(Content::Text, s, 0o644),
        );
        let k = rng.range(4, 60);
        for _ in 0..k {
            let n = rng.range(1, 3);
            let name = word(&mut rng, n);
            let size = size_of(&mut rng);
            match rng.below(10) {
                0 => add(
                    &mut plan,
                    format!("usr/bin/{name}"),
                    Entry::File(Content::Binary, size, 0o755),
                ),
                1 | 2 => {
                    let so = format!("usr/lib/x86_64-linux-gnu/lib{name}.so.{}", rng.range(0, 9));
                    add(
                        &mut plan,
                        format!("usr/lib/x86_64-linux-gnu/lib{name}.so"),
                        Entry::Link(so.rsplit('/').next().unwrap_or("").to_string()),
                    );
                    add(&mut plan, so, Entry::File(Content::Binary, size, 0o644));
                }
                3 => add(
                    &mut plan,
                    format!("usr/share/man/man1/{name}.1.gz"),
                    Entry::File(Content::Random, size, 0o644),
                ),
                4 => {
                    let lang = langs[rng.below(langs.len() as u64) as usize];
                    add(
                        &mut plan,
                        format!("usr/share/locale/{lang}/LC_MESSAGES/{name}.mo"),
                        Entry::File(Content::Binary, size, 0o644),
                    );
                }
                5 => add(
                    &mut plan,
                    format!("usr/lib/python3/dist-packages/{pkg}/{name}.py"),
                    Entry::File(Content::Text, size, 0o644),
                ),
                6 => add(
                    &mut plan,
                    format!("usr/share/{pkg}/{name}.png"),
                    Entry::File(Content::Random, size, 0o644),
                ),
                7 => add(
                    &mut plan,
                    format!("etc/{pkg}/{name}.conf"),
                    Entry::File(Content::Text, size, 0o644),
                ),
                _ => add(
                    &mut plan,
                    format!("usr/share/{pkg}/data/{name}.txt"),
                    Entry::File(Content::Text, size, 0o644),
                ),
            }
        }
    }
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for p in plan.keys() {
        let mut d = p.as_str();
        while let Some(i) = d.rfind('/') {
            d = &d[..i];
            dirs.insert(d.to_string());
        }
    }
    for d in [
        "bin", "boot", "dev", "home", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "var/tmp",
    ] {
        dirs.insert(d.to_string());
    }
    let nfiles = plan.len() as u64;
    let layer = layout.write_layer("distro", |tar| {
        for d in &dirs {
            add_dir(tar, d)?;
        }
        for (path, e) in &plan {
            match e {
                Entry::File(kind, size, mode) => {
                    let data = fill_content(&mut rng, &vocab, *kind, *size as usize);
                    add_file(tar, path, *mode, &data)?;
                }
                Entry::Link(target) => add_symlink(tar, path, target)?,
            }
        }
        tar.get_mut().flush()?;
        Ok(())
    })?;
    let layers = vec![layer];
    single_image(&layout, &layers, "distro")?;
    let v = info("distro", &layers, nfiles, 1);
    write_info(dir, &v)?;
    Ok(v)
}

/// `tiny`: one layer with one file of 1 MiB random bytes.
pub fn tiny(dir: &Path, seed: u64) -> Result<Value> {
    let layout = Layout::create(dir)?;
    let mut rng = Rng::new(seed, 300);
    let mut data = vec![0u8; 1 << 20];
    rng.fill(&mut data);
    let layer = layout.write_layer("tiny", |tar| add_file(tar, "tiny.bin", 0o644, &data))?;
    let layers = vec![layer];
    single_image(&layout, &layers, "tiny")?;
    let v = info("tiny", &layers, 1, 1);
    write_info(dir, &v)?;
    Ok(v)
}

/// `many`: `count` images (distinct configs, one shared small layer) named
/// `bench/many:NNNNN`, for listing.
pub fn many(dir: &Path, seed: u64, count: u64) -> Result<Value> {
    if count == 0 {
        bail!("many: --count must be at least 1");
    }
    let layout = Layout::create(dir)?;
    let layer = layout.write_layer("many", |tar| {
        add_dir(tar, "etc")?;
        add_file(
            tar,
            "etc/bench-many",
            0o644,
            format!("seed {seed}\n").as_bytes(),
        )
    })?;
    let layers = vec![layer];
    let mut images = Vec::with_capacity(count as usize);
    for i in 0..count {
        // One image per minute of 2024, so `created` differs and sorts.
        let t = 1_704_067_200 + i * 60;
        let created = format!(
            "2024-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + (t - 1_704_067_200) / (28 * 86400) % 12,
            1 + (t / 86400) % 28,
            (t / 3600) % 24,
            (t / 60) % 60
        );
        let m = layout.put_image(&layers, &created, json!({"bench.index": i.to_string()}))?;
        images.push((
            m,
            json!({"io.containerd.image.name": format!("bench/many:{i:05}"),
                   "org.opencontainers.image.ref.name": format!("bench/many:{i:05}")}),
        ));
    }
    layout.finish(&images)?;
    let v = info("many", &layers, 1, count);
    write_info(dir, &v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("strata-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn index(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("index.json")).unwrap()
    }

    #[test]
    fn same_seed_same_image_and_the_layout_verifies() {
        let (a, b, c) = (scratch("d1"), scratch("d2"), scratch("d3"));
        let ia = distro(&a, 7, 300).unwrap();
        distro(&b, 7, 300).unwrap();
        distro(&c, 8, 300).unwrap();
        assert_eq!(index(&a), index(&b));
        assert_ne!(index(&a), index(&c));
        assert!(ia["files"].as_u64().unwrap() >= 300);
        // The floor re-derives every digest and diff_id from the blobs.
        let jobs = crate::floor::layers_of(&a).unwrap();
        let (_, raw) = crate::floor::run_once(&jobs, 2).unwrap();
        assert_eq!(raw, ia["uncompressed_bytes"].as_u64().unwrap());
        for d in [a, b, c] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn big_has_eight_layers_and_many_names_every_image() {
        let (a, m) = (scratch("big"), scratch("many"));
        let info = big(&a, 1, 0.005).unwrap();
        assert_eq!(info["layers"], 8);
        let jobs = crate::floor::layers_of(&a).unwrap();
        assert_eq!(jobs.len(), 8);
        crate::floor::run_once(&jobs, 1).unwrap();
        many(&m, 1, 25).unwrap();
        let idx: Value = serde_json::from_str(&index(&m)).unwrap();
        let names: BTreeSet<&str> = idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d["annotations"]["io.containerd.image.name"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(names.len(), 25);
        assert!(names.contains("bench/many:00024"));
        for d in [a, m] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }
}
