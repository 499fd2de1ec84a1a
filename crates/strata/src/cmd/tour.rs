//! `strata tour`: a guided run of the real commands against a real registry.
//!
//! The tour starts Strata's registry inside this process on a free loopback port, with
//! its storage in a temporary folder, publishes the sample image (`strata-sample`) to it,
//! and then runs the commands a user would type — search, pull, image ls, history,
//! inspect, sbom, vulns — each printed as `$ strata …` before its output. Each command
//! is this same binary run again with those arguments (and `STRATA_ROOT` set to the
//! store in use), so what is shown is exactly what the command prints.
//!
//! At the end the pulled sample is removed from the store and the temporary folder is
//! deleted, unless `--keep`: then the registry keeps serving (and the sample stays in the
//! store) until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;

use anyhow::{anyhow, Context as _};
use clap::{Args, CommandFactory as _};
use strata_sample::{Sample, REPOSITORY, TAG};

use super::{exit, Ctx};

/// `tour` flags.
#[derive(Args, Debug)]
pub struct TourArgs {
    /// Leave the registry running (until Ctrl-C) and the sample image in the store
    #[arg(long)]
    pub keep: bool,
    /// Address for the tour's registry (default: a free port on 127.0.0.1)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}

/// A folder under the system's temporary directory, deleted when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> anyhow::Result<TempDir> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default();
            let p = base.join(format!(
                "{prefix}-{}-{:08x}",
                std::process::id(),
                nanos.wrapping_add(attempt)
            ));
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating a folder in {}", base.display()))
                }
            }
        }
        Err(anyhow!(
            "cannot create a temporary folder in {}",
            base.display()
        ))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@=,+-%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether `strata WORDS…` is a command of this build.
fn has_command(words: &[&str]) -> bool {
    let mut c = super::Cli::command();
    for w in words {
        match c.find_subcommand(w) {
            Some(s) => c = s.clone(),
            None => return false,
        }
    }
    true
}

/// Why the tour stopped early.
enum Stop {
    /// A command failed.
    Failed(String, i32),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// Runs the commands, printing each first.
struct Runner {
    exe: PathBuf,
    root: PathBuf,
    /// `--root DIR` is shown in the printed commands when the store is not the one a
    /// plain `strata` would use.
    show_root: bool,
    signals: mpsc::Receiver<()>,
    step: usize,
}

impl Runner {
    fn printed(&self, args: &[String]) -> String {
        let mut s = String::from("strata");
        if self.show_root {
            s.push_str(" --root ");
            s.push_str(&shell_word(&self.root.to_string_lossy()));
        }
        for a in args {
            s.push(' ');
            s.push_str(&shell_word(a));
        }
        s
    }

    fn interrupted(&self) -> bool {
        self.signals.try_recv().is_ok()
    }

    fn heading(&mut self, title: &str, text: &str) {
        self.step += 1;
        println!("{}. {title}", self.step);
        for line in text.lines() {
            if line.is_empty() {
                println!();
            } else {
                println!("   {line}");
            }
        }
        println!();
    }

    /// Prints `$ strata ARGS` and runs it with the output going straight to ours.
    fn run(&mut self, args: &[String]) -> Result<(), Stop> {
        if self.interrupted() {
            return Err(Stop::Interrupted);
        }
        println!("$ {}", self.printed(args));
        let _ = std::io::stdout().flush();
        let status = Command::new(&self.exe)
            .args(args)
            .env("STRATA_ROOT", &self.root)
            .stdin(std::process::Stdio::null())
            .status();
        let _ = std::io::stdout().flush();
        println!();
        if self.interrupted() {
            return Err(Stop::Interrupted);
        }
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(Stop::Failed(self.printed(args), s.code().unwrap_or(1))),
            Err(e) => {
                eprintln!("cannot run {}: {e}", self.exe.display());
                Err(Stop::Failed(self.printed(args), 1))
            }
        }
    }

    /// Runs without printing anything (clean-up after a failure).
    fn run_quietly(&self, args: &[&str]) -> bool {
        Command::new(&self.exe)
            .args(args)
            .env("STRATA_ROOT", &self.root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

/// Waits for Ctrl-C or SIGTERM on a thread of its own and reports each on `tx`.
fn watch_signals(tx: mpsc::Sender<()>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal watcher")?;
    // Register the handlers now, so that a signal from here on reaches us.
    let (mut int, mut term) = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("strata-tour-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            })
        })?;
    Ok(())
}

fn platform_flag() -> Vec<String> {
    // The sample has linux/amd64 and linux/arm64; anything else pulls amd64.
    match std::env::consts::ARCH {
        "x86_64" | "aarch64" => Vec::new(),
        _ => vec!["--platform".into(), "linux/amd64".into()],
    }
}

fn s(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Runs `strata tour`.
pub fn run(args: TourArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    if !args.addr.ip().is_loopback() {
        return Err(anyhow!(
            "--addr {}: the tour's registry listens on a loopback address only",
            args.addr
        ));
    }
    let exe = std::env::current_exe().context("finding the strata binary")?;
    let tmp = TempDir::new("strata-tour")?;
    let reg_root = tmp.0.join("registry");
    let sample = Sample::build();
    let index = sample
        .publish(&reg_root, REPOSITORY, TAG)
        .context("publishing the sample image")?;
    let mut cfg = strata_registry::Config::for_tests(&reg_root);
    cfg.addr = args.addr;
    let registry = strata_registry::EmbeddedRegistry::start(cfg)
        .with_context(|| format!("starting the registry on {}", args.addr))?;
    let (tx, rx) = mpsc::channel();
    watch_signals(tx)?;

    let host = registry.host();
    let image = format!("{host}/{REPOSITORY}");
    let plain_root = strata_store::Store::default_root();
    let mut r = Runner {
        exe,
        root: ctx.root.clone(),
        show_root: plain_root != ctx.root,
        signals: rx,
        step: 0,
    };

    println!("Strata tour");
    println!();
    println!("Strata's registry is running inside this process on {host},");
    println!("storing its data in {}.", reg_root.display());
    println!("It holds {REPOSITORY}:{TAG}, a sample image Strata built with its own code:");
    println!(
        "an index ({index}) over {} platforms ({}).",
        sample.images.len(),
        sample
            .images
            .iter()
            .map(|i| i.platform.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "What is pulled goes into your image store, {}.",
        ctx.root.display()
    );
    println!("Each command below is printed, then run.");
    println!();

    let outcome = story(&mut r, &host, &image, &tmp.0, args.keep);
    match outcome {
        Ok(()) => {}
        Err(stop) => {
            // Leave nothing behind: the sample may have been pulled already.
            let removed = r.run_quietly(&["image", "rm", &image]);
            let why = match stop {
                Stop::Failed(cmd, code) => {
                    println!("The tour stopped: `{cmd}` failed (exit status {code}).");
                    1
                }
                Stop::Interrupted => {
                    println!("The tour was interrupted.");
                    130
                }
            };
            if removed {
                println!("Removed {image} from the store.");
            }
            registry.stop();
            drop(tmp);
            println!("Stopped the registry and deleted its storage.");
            return Err(exit(why as u8, ""));
        }
    }

    if args.keep {
        println!(
            "The registry keeps running on {host} (storage: {}).",
            reg_root.display()
        );
        println!("The sample image stays in your store. While the registry runs, try:");
        println!("  strata pull {image}");
        println!("  docker pull {image}     # Docker allows plain HTTP to 127.0.0.0/8");
        println!("Remove the sample later with: strata image rm {image}:{TAG}");
        println!(
            "Press Ctrl-C (or run `kill {}`) to stop the registry; its storage is deleted then.",
            std::process::id()
        );
        let _ = std::io::stdout().flush();
        let _ = r.signals.recv();
        registry.stop();
        drop(tmp);
        println!("Stopped the registry on {host} and deleted its storage.");
    } else {
        registry.stop();
        drop(tmp);
        println!(
            "Stopped the registry on {host} and deleted its storage; the tour left nothing behind."
        );
    }
    Ok(0)
}

/// The steps, in order.
fn story(r: &mut Runner, host: &str, image: &str, tmp: &Path, keep: bool) -> Result<(), Stop> {
    r.heading(
        "Search",
        "Strata's registry answers Docker Hub's search API, so `strata search` (and\n`docker search`) work against it. The description comes from the image's\norg.opencontainers.image.description annotation.",
    );
    r.run(&s(&["search", &format!("{host}/welcome")]))?;

    r.heading(
        "Pull",
        "Without a tag, `latest` is used. The index lists two platforms; the one for\nthis machine is pulled, each layer verified against its digest.",
    );
    let mut pull = s(&["pull"]);
    pull.extend(platform_flag());
    pull.push(image.to_string());
    r.run(&pull)?;

    r.heading(
        "List",
        "IMAGE ID is the digest of the index the name points to, as with Docker's\ncontainerd image store; SIZE is the unpacked size of this platform.",
    );
    r.run(&s(&["image", "ls", image]))?;
    r.run(&s(&["image", "ls", "--tree", image]))?;

    r.heading(
        "History",
        "How the image was made, newest step first. Steps that only change metadata\n(CMD, ENV, WORKDIR, LABEL, EXPOSE) have no layer and show 0B; <missing> is\nDocker's word for steps whose layer has no image ID of its own.",
    );
    let reference = format!("{image}:{TAG}");
    r.run(&s(&["image", "history", &reference]))?;
    r.run(&s(&["image", "history", "--no-trunc", &reference]))?;

    r.heading(
        "Inspect",
        "Docker's JSON shape. --format takes a Go template, as in Docker.",
    );
    r.run(&s(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}} {{.Config.WorkingDir}} {{json .Config.Cmd}}",
        &reference,
    ]))?;
    r.run(&s(&["image", "inspect", &reference]))?;

    if has_command(&["image", "sbom"]) {
        r.heading(
            "Software bill of materials",
            "What is installed, read from the layers: the dpkg database (and language\npackages where a cataloger knows them), with the layer that added each one.\n--format cyclonedx or spdx writes the standard documents.",
        );
        r.run(&s(&["image", "sbom", &reference]))?;
    } else {
        println!("(skipped: this build has no `strata image sbom`)");
        println!();
    }

    if has_command(&["image", "vulns"]) && has_command(&["vulndb", "import"]) {
        let advisories = tmp.join("advisories");
        let db = tmp.join("vulndb").join("osv.db");
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&advisories)?;
            std::fs::create_dir_all(tmp.join("vulndb"))?;
            for (name, data) in strata_sample::demo_advisories() {
                std::fs::write(advisories.join(name), data)?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            eprintln!("cannot write the demonstration records: {e}");
            return Err(Stop::Failed("(writing demonstration records)".into(), 1));
        }
        let real = if has_command(&["vulndb", "update"]) {
            "With a network, `strata vulndb update` downloads OSV's real data into"
        } else {
            "`strata vulndb import` also takes OSV's per-ecosystem all.zip files, into"
        };
        r.heading(
            "Vulnerabilities",
            &format!(
                "Matching is exact, per ecosystem, against OSV records in a local database.\nThe tour needs no network, so a scratch database gets two demonstration\nrecords (made up, and marked as such) for the two packages the sample invented.\n{real}\nthe default database, <store root>/vulndb/osv.db."
            ),
        );
        let db_s = db.to_string_lossy().to_string();
        r.run(&s(&[
            "vulndb",
            "import",
            "--db",
            &db_s,
            &advisories.to_string_lossy(),
        ]))?;
        r.run(&s(&["image", "vulns", "--db", &db_s, &reference]))?;
    } else {
        println!("(skipped: this build has no `strata image vulns`)");
        println!();
    }

    if !keep {
        r.heading(
            "Clean up",
            "The tour removes what it pulled (run with --keep to leave it and the registry).",
        );
        r.run(&s(&["image", "rm", &reference]))?;
    }

    r.heading(
        "Other registries",
        "The same commands work against Docker Hub and any OCI registry:\n\
         \n  strata search nginx                      # Docker Hub's search\
         \n  strata pull alpine                       # docker.io/library/alpine:latest\
         \n  strata login ghcr.io                     # credentials in ~/.config/strata/auth.json\
         \n  strata pull ghcr.io/OWNER/IMAGE:TAG      # (Docker's ~/.docker/config.json is read too)\
         \n  strata push registry.example.com/team/app:1.0\
         \n\
         \nPlain HTTP is used for 127.0.0.0/8 and localhost; list other HTTP registries\
         \nunder \"insecure-registries\" in ~/.config/strata/registries.json.\
         \n`strata registry serve --demo` runs a registry with this sample for a team.",
    );
    Ok(())
}
