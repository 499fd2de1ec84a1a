//! `strata-bench`: the Rust half of `bench/run`. It generates the seeded workloads as OCI
//! layouts, measures the CPU floor of verifying an image, the raw loopback fetch of an
//! image, and drives registries with the same load generator whatever the server.
//! Every command prints one JSON object on stdout for the harness to read.

mod floor;
mod gen;
mod http;
mod layout;
mod load;
mod prng;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use serde_json::json;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "strata-bench",
    about = "Workloads, floors and load for bench/run"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate a workload as an OCI layout in OUT (which must not exist).
    Gen {
        /// big, distro, tiny or many
        kind: String,
        /// Output directory
        #[arg(long)]
        out: PathBuf,
        /// Seed
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Size factor for big (1.0 = 8 x 40 MB)
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Files for distro, images for many
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
    /// CPU floor: inflate + SHA-256 (compressed and uncompressed) of every layer of the
    /// layout's first image, one layer per thread; median of RUNS after one warm-up.
    Floor {
        /// OCI layout
        layout: PathBuf,
        /// Timed runs
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Worker threads (default: all cores)
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Raw loopback fetch of REPO:TAG (manifest, config, all layers in parallel), median of RUNS.
    Fetch {
        /// host:port
        #[arg(long)]
        addr: String,
        /// Repository
        #[arg(long)]
        repo: String,
        /// Tag
        #[arg(long, default_value = "latest")]
        tag: String,
        /// Timed runs (after one warm-up)
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Median manifest round trip on a fresh connection, in ms.
    Rtt {
        /// host:port
        #[arg(long)]
        addr: String,
        /// Repository
        #[arg(long)]
        repo: String,
        /// Tag
        #[arg(long, default_value = "latest")]
        tag: String,
        /// Samples
        #[arg(long, default_value_t = 21)]
        runs: usize,
    },
    /// Closed-loop GETs of PATH on CONNS keep-alive connections.
    Get {
        /// host:port
        #[arg(long)]
        addr: String,
        /// Request path, e.g. /v2/big/manifests/latest
        #[arg(long)]
        path: String,
        /// Connections (one thread each)
        #[arg(long, default_value_t = 16)]
        conns: usize,
        /// Warm-up seconds (not counted)
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Measured seconds
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// CONNS concurrent pushers, each pushing PER_CONN distinct images of one SIZE-byte layer.
    Push {
        /// host:port
        #[arg(long)]
        addr: String,
        /// Repository prefix (pushers use PREFIX-N)
        #[arg(long, default_value = "push")]
        prefix: String,
        /// Concurrent pushers
        #[arg(long, default_value_t = 16)]
        conns: usize,
        /// Images per pusher
        #[arg(long, default_value_t = 1)]
        per_conn: usize,
        /// Layer size in bytes
        #[arg(long, default_value_t = 10_000_000)]
        size: u64,
        /// Seed (use a new one per run so every image is new)
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

fn run(cli: Cli) -> Result<serde_json::Value> {
    Ok(match cli.cmd {
        Cmd::Gen {
            kind,
            out,
            seed,
            scale,
            count,
        } => {
            if out.exists() {
                bail!("{}: already exists", out.display());
            }
            match kind.as_str() {
                "big" => gen::big(&out, seed, scale)?,
                "distro" => gen::distro(&out, seed, if count == 0 { 20_000 } else { count })?,
                "tiny" => gen::tiny(&out, seed)?,
                "many" => gen::many(&out, seed, if count == 0 { 10_000 } else { count })?,
                k => bail!("unknown workload {k:?} (big, distro, tiny, many)"),
            }
        }
        Cmd::Floor {
            layout,
            runs,
            threads,
        } => {
            let jobs = floor::layers_of(&layout)?;
            let threads = if threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                threads
            };
            let (_, raw) = floor::run_once(&jobs, threads)?; // warm-up: page cache
            let mut t = Vec::new();
            for _ in 0..runs.max(1) {
                t.push(floor::run_once(&jobs, threads)?.0);
            }
            let comp: u64 = jobs.iter().map(|j| j.size).sum();
            json!({"seconds": median(t.clone()), "runs": t, "threads": threads,
                   "compressed_bytes": comp, "uncompressed_bytes": raw})
        }
        Cmd::Fetch {
            addr,
            repo,
            tag,
            runs,
        } => {
            load::fetch_image(&addr, &repo, &tag)?;
            let mut t = Vec::new();
            let mut bytes = 0;
            for _ in 0..runs.max(1) {
                let (s, b) = load::fetch_image(&addr, &repo, &tag)?;
                t.push(s);
                bytes = b;
            }
            json!({"seconds": median(t.clone()), "runs": t, "bytes": bytes})
        }
        Cmd::Rtt {
            addr,
            repo,
            tag,
            runs,
        } => {
            json!({"ms": load::manifest_rtt(&addr, &repo, &tag, runs)?})
        }
        Cmd::Get {
            addr,
            path,
            conns,
            warmup,
            seconds,
        } => {
            let s = load::get_load(&addr, &path, conns, warmup, seconds)?;
            json!({"requests": s.requests, "bytes": s.bytes, "seconds": s.seconds,
                   "rps": s.requests as f64 / s.seconds,
                   "mbps": s.bytes as f64 / s.seconds / 1e6,
                   "p50_ms": s.p50_ms, "p99_ms": s.p99_ms, "conns": conns})
        }
        Cmd::Push {
            addr,
            prefix,
            conns,
            per_conn,
            size,
            seed,
        } => {
            let s = load::push_load(&addr, &prefix, conns, per_conn, size, seed)?;
            json!({"images": s.images, "bytes": s.bytes, "seconds": s.seconds,
                   "images_per_s": s.images as f64 / s.seconds,
                   "mbps": s.bytes as f64 / s.seconds / 1e6, "conns": conns})
        }
    })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("strata-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
