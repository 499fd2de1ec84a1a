//! RUN: a command executed inside a root filesystem, isolated without a daemon.
//!
//! The child (forked by `std::process::Command`) enters new namespaces before it execs:
//! a user namespace when not running as root (mapping the caller's uid and gid to 0, so
//! the files the caller owns are root's inside), then mount and pid namespaces. It forks
//! once more so the command runs as PID 1 of the new pid namespace (the intermediate
//! process waits and exits with its status, so everything the command left running is
//! killed when it ends). The command's process makes its mounts private, mounts a fresh
//! `/proc` (when the kernel allows it), bind-mounts `/dev/null`, `/dev/zero`,
//! `/dev/random`, `/dev/urandom` and `/dev/full`, chroots into the root filesystem,
//! changes to the working directory, takes the user, group and supplementary groups, and
//! execs the command with exactly the given environment.
//!
//! Mount points the image does not have are created before and removed after (with the
//! parent directories' times put back), so they never show up in the layer.
//!
//! This is the one module with `unsafe`: between `fork` and `exec` only raw system
//! calls are made (no allocation, no locks), with every string prepared beforehand.

#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The root filesystem.
    pub root: PathBuf,
    /// argv (argv[0] is looked up in the command's `PATH` when it has no `/`).
    pub argv: Vec<String>,
    /// The complete environment (`KEY=VALUE`).
    pub env: Vec<String>,
    /// Working directory inside the root (absolute).
    pub cwd: String,
    /// User.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Send the command's stdout and stderr to /dev/null.
    pub quiet: bool,
}

/// How RUN failed to start (a non-zero exit is not an error here).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Namespaces could not be created.
    #[error("RUN needs Linux user, mount and pid namespaces, which are not available here (run as root, or allow unprivileged user namespaces)")]
    Namespaces,
    /// Anything else on the way to exec.
    #[error("{0}")]
    Start(String),
}

fn cstr(s: &[u8]) -> CString {
    CString::new(s.iter().copied().filter(|b| *b != 0).collect::<Vec<u8>>()).unwrap_or_default()
}

fn cpath(p: &Path) -> CString {
    cstr(p.as_os_str().as_bytes())
}

/// Mount points created for one run (removed afterwards).
struct Mounts {
    created: Vec<PathBuf>,
    /// Directories whose times are put back: (path, atime, mtime).
    times: Vec<(PathBuf, fs::Metadata)>,
    /// (source, target) bind mounts.
    binds: Vec<(CString, CString)>,
    proc: Option<CString>,
}

fn remember(times: &mut Vec<(PathBuf, fs::Metadata)>, dir: &Path) {
    if times.iter().any(|(p, _)| p == dir) {
        return;
    }
    if let Ok(m) = fs::symlink_metadata(dir) {
        times.push((dir.to_path_buf(), m));
    }
}

/// A real (not symlinked) directory `root/name`, made (mode `mode`) when missing.
fn real_dir(root: &Path, name: &str, mode: u32, m: &mut Mounts) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(name);
    match fs::symlink_metadata(&p) {
        Ok(md) if md.is_dir() => Some(p),
        Ok(_) => None,
        Err(_) => {
            remember(&mut m.times, root);
            fs::create_dir(&p).ok()?;
            let _ = fs::set_permissions(&p, fs::Permissions::from_mode(mode));
            m.created.push(p.clone());
            Some(p)
        }
    }
}

impl Mounts {
    fn prepare(root: &Path) -> Mounts {
        let mut m = Mounts {
            created: Vec::new(),
            times: Vec::new(),
            binds: Vec::new(),
            proc: None,
        };
        if let Some(p) = real_dir(root, "proc", 0o555, &mut m) {
            m.proc = Some(cpath(&p));
        }
        if let Some(dev) = real_dir(root, "dev", 0o755, &mut m) {
            for n in ["null", "zero", "random", "urandom", "full"] {
                let host = Path::new("/dev").join(n);
                if fs::metadata(&host).is_err() {
                    continue;
                }
                let t = dev.join(n);
                match fs::symlink_metadata(&t) {
                    Ok(md) if md.file_type().is_symlink() || md.is_dir() => continue,
                    Ok(_) => {}
                    Err(_) => {
                        remember(&mut m.times, &dev);
                        if fs::File::create(&t).is_err() {
                            continue;
                        }
                        m.created.push(t.clone());
                    }
                }
                m.binds.push((cpath(&host), cpath(&t)));
            }
        }
        m
    }

    fn cleanup(self) {
        for p in self.created.iter().rev() {
            let _ = match fs::symlink_metadata(p) {
                Ok(md) if md.is_dir() => fs::remove_dir(p),
                Ok(_) => fs::remove_file(p),
                Err(_) => Ok(()),
            };
        }
        for (p, md) in self.times.iter().rev() {
            let times = fs::FileTimes::new()
                .set_accessed(system_time(md.atime(), md.atime_nsec()))
                .set_modified(system_time(md.mtime(), md.mtime_nsec()));
            if let Ok(f) = fs::File::open(p) {
                let _ = f.set_times(times);
            }
        }
    }
}

fn system_time(secs: i64, nanos: i64) -> std::time::SystemTime {
    let base = std::time::UNIX_EPOCH;
    if secs >= 0 {
        base + std::time::Duration::new(secs as u64, nanos as u32)
    } else {
        base - std::time::Duration::from_secs(secs.unsigned_abs())
            + std::time::Duration::from_nanos(nanos as u64)
    }
}

fn write_file(path: &CString, data: &[u8]) -> io::Result<()> {
    // SAFETY: plain system calls on prepared, NUL-terminated strings.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = io::Error::last_os_error();
        libc::close(fd);
        if n < 0 || n as usize != data.len() {
            return Err(e);
        }
    }
    Ok(())
}

/// Runs the command; returns its exit status (128 + signal when killed).
pub fn run(spec: &RunSpec) -> Result<i32, RunError> {
    let Some(program) = spec.argv.first() else {
        return Err(RunError::Start("empty command".into()));
    };
    let root_user = rustix::process::geteuid().is_root();
    let uid_map = format!("0 {} 1\n", rustix::process::geteuid().as_raw()).into_bytes();
    let gid_map = format!("0 {} 1\n", rustix::process::getegid().as_raw()).into_bytes();
    let (setgroups_p, uid_map_p, gid_map_p) = (
        cstr(b"/proc/self/setgroups"),
        cstr(b"/proc/self/uid_map"),
        cstr(b"/proc/self/gid_map"),
    );
    let root_c = cpath(&spec.root);
    let cwd_c = cstr(spec.cwd.as_bytes());
    let slash = cstr(b"/");
    let proc_fs = cstr(b"proc");
    let (uid, gid) = (spec.uid, spec.gid);
    let groups: Vec<libc::gid_t> = spec.groups.clone();

    let mounts = Mounts::prepare(&spec.root);
    let binds = mounts.binds.clone();
    let proc_target = mounts.proc.clone();

    let mut cmd = Command::new(OsStr::from_bytes(program.as_bytes()));
    cmd.args(&spec.argv[1..]);
    cmd.env_clear();
    for e in &spec.env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    if spec.quiet {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    // SAFETY: the closure runs in the forked child before exec and only makes system
    // calls on data prepared above; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if !root_user {
                if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                    return Err(io::Error::from_raw_os_error(NS_ERRNO_TAG));
                }
                let _ = write_file(&setgroups_p, b"deny");
                write_file(&uid_map_p, &uid_map)?;
                write_file(&gid_map_p, &gid_map)?;
            }
            if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC) != 0 {
                return Err(io::Error::from_raw_os_error(NS_ERRNO_TAG));
            }
            let pid = libc::fork();
            if pid < 0 {
                return Err(io::Error::last_os_error());
            }
            if pid > 0 {
                // The intermediate process: wait for PID 1 of the new namespace.
                let mut status = 0;
                loop {
                    let r = libc::waitpid(pid, &mut status, 0);
                    if r == pid {
                        break;
                    }
                    if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                        libc::_exit(125);
                    }
                }
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else if libc::WIFSIGNALED(status) {
                    128 + libc::WTERMSIG(status)
                } else {
                    125
                };
                libc::_exit(code);
            }
            // PID 1 of the new pid namespace.
            libc::mount(
                std::ptr::null(),
                slash.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            if let Some(p) = &proc_target {
                libc::mount(
                    proc_fs.as_ptr(),
                    p.as_ptr(),
                    proc_fs.as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                );
            }
            for (src, dst) in &binds {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                );
            }
            if libc::chroot(root_c.as_ptr()) != 0 || libc::chdir(slash.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::chdir(cwd_c.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0 && root_user {
                return Err(io::Error::last_os_error());
            }
            if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let result = cmd.status();
    mounts.cleanup();
    match result {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
        }
        Err(e) if e.raw_os_error() == Some(NS_ERRNO_TAG) => Err(RunError::Namespaces),
        Err(e) => Err(RunError::Start(start_error(program, &e))),
    }
}

/// The errno a refused `unshare` is reported with (EPERM, EINVAL and ENOSPC all mean
/// "no namespaces here"; they are folded into one value the parent recognises).
const NS_ERRNO_TAG: i32 = libc::ENOSYS;

fn start_error(program: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!(
            "failed to start {program}: executable file not found in $PATH or no such file or directory"
        ),
        io::ErrorKind::PermissionDenied => format!("failed to start {program}: permission denied"),
        _ => format!("failed to start {program}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_removed_and_times_restored() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("dev")).unwrap();
        let f = fs::File::open(d.path().join("dev")).unwrap();
        let old = fs::FileTimes::new().set_modified(system_time(1_000_000, 5));
        f.set_times(old).unwrap();
        let m = Mounts::prepare(d.path());
        assert!(d.path().join("proc").is_dir());
        assert!(d.path().join("dev/null").exists());
        m.cleanup();
        assert!(!d.path().join("proc").exists());
        assert!(!d.path().join("dev/null").exists());
        let md = fs::symlink_metadata(d.path().join("dev")).unwrap();
        assert_eq!((md.mtime(), md.mtime_nsec()), (1_000_000, 5));
    }
}
