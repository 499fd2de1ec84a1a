//! A root directory held open as a file descriptor, and every path operation done
//! relative to it so that nothing can resolve outside it.
//!
//! Directories are reached with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV)`: the kernel resolves `..` and symlinks (absolute ones included) as if
//! the root were `/`, so a symlink planted by one layer (`x -> ../../..`) and written
//! through by a later one (`x/file`, GNU tar CVE-2025-45582) lands inside the root.
//! Where `openat2` is missing (Linux before 5.6, or a seccomp filter returning ENOSYS),
//! [`Resolver::Walk`] does the same resolution in user space one component at a time,
//! opening each with `O_NOFOLLOW` and following symlinks by reading them and restarting
//! from the root's own descriptor. Never is a path checked as a string and then used.
//!
//! The last component of a path is never followed: files are created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` after the old entry is unlinked, metadata is set with
//! `AT_SYMLINK_NOFOLLOW` or on a descriptor opened with `O_NOFOLLOW`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How directories are resolved inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// `openat2` with `RESOLVE_IN_ROOT`, falling back to [`Resolver::Walk`] on ENOSYS.
    Auto,
    /// The user-space component-by-component `O_NOFOLLOW` walk.
    Walk,
}

/// Most symlinks followed while resolving one path (the kernel's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// An open root directory.
pub struct Root {
    fd: OwnedFd,
    walk: Cell<bool>,
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// Converts a rustix errno to `io::Error`.
pub fn ioe(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

impl Root {
    /// Opens `dir` (which must be a directory, not a symlink) as the root.
    pub fn open(dir: &Path, resolver: Resolver) -> io::Result<Root> {
        let fd = rfs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(ioe)?;
        Ok(Root {
            fd,
            walk: Cell::new(resolver == Resolver::Walk),
        })
    }

    /// The root's own descriptor.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Whether the user-space walk is in use (openat2 missing or [`Resolver::Walk`]).
    pub fn walking(&self) -> bool {
        self.walk.get()
    }

    /// Opens the directory at `comps` (resolved inside the root, symlinks in any component
    /// followed within the root).
    pub fn open_dir(&self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        if comps.is_empty() {
            return self.fd.try_clone();
        }
        if !self.walk.get() {
            let path = join(comps);
            let mut tries = 0;
            loop {
                match rfs::openat2(
                    &self.fd,
                    os(&path),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
                ) {
                    Ok(fd) => return Ok(fd),
                    Err(Errno::NOSYS) | Err(Errno::PERM)
                        if tries == 0 && self.probe_no_openat2() =>
                    {
                        self.walk.set(true);
                        break;
                    }
                    Err(Errno::AGAIN) if tries < 8 => tries += 1,
                    Err(e) => return Err(ioe(e)),
                }
            }
        }
        self.walk_dir(comps)
    }

    /// Whether openat2 is unusable here (a trivial call fails with ENOSYS or EPERM).
    fn probe_no_openat2(&self) -> bool {
        matches!(
            rfs::openat2(
                &self.fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT
            ),
            Err(Errno::NOSYS) | Err(Errno::PERM)
        )
    }

    /// Opens the directory at `comps`, creating missing components (mode 0755) on the way.
    /// A missing component reached through a symlink is created where the symlink
    /// resolves inside the root (a dangling `x -> /a/b` makes `<root>/a/b`), as
    /// containerd's scoped resolution does.
    pub fn ensure_dir(&self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        match self.open_dir(comps) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.walk(comps, true),
            other => other,
        }
    }

    fn walk_dir(&self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        self.walk(comps, false)
    }

    /// The user-space equivalent of `RESOLVE_IN_ROOT`: one component at a time with
    /// `O_NOFOLLOW`, symlinks read and resolved against the root, `..` never above it.
    /// With `create`, missing directories are made (0755) in the directory reached so far.
    fn walk(&self, comps: &[&[u8]], create: bool) -> io::Result<OwnedFd> {
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut queue: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
        let mut links = 0usize;
        while let Some(c) = queue.pop_front() {
            if c.is_empty() || c == b"." {
                continue;
            }
            if c == b".." {
                stack.pop();
                continue;
            }
            let cur: &OwnedFd = stack.last().unwrap_or(&self.fd);
            let fd = match rfs::openat(
                cur,
                os(&c),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(cur, os(&c), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ioe(e)),
                    }
                    rfs::openat(
                        cur,
                        os(&c),
                        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(ioe)?
                }
                Err(e) => return Err(ioe(e)),
            };
            let st = rfs::fstat(&fd).map_err(ioe)?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => stack.push(fd),
                FileType::Symlink => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(ioe(Errno::LOOP));
                    }
                    let target = rfs::readlinkat(cur, os(&c), Vec::new())
                        .map_err(ioe)?
                        .into_bytes();
                    if target.first() == Some(&b'/') {
                        stack.clear();
                    }
                    for part in target.split(|b| *b == b'/').rev() {
                        queue.push_front(part.to_vec());
                    }
                }
                _ => return Err(ioe(Errno::NOTDIR)),
            }
        }
        let last: &OwnedFd = stack.last().unwrap_or(&self.fd);
        rfs::openat(
            last,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(ioe)
    }
}

/// `lstat` of `name` in `dir`, None when absent.
pub fn lstat_at(dir: &OwnedFd, name: &[u8]) -> io::Result<Option<rfs::Stat>> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(ioe(e)),
    }
}

/// The file type of a stat.
pub fn kind(st: &rfs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Removes `name` in `dir` and, when it is a directory, everything below it, without
/// following any symlink.
pub fn remove_all_at(dir: &OwnedFd, name: &[u8], make_writable: bool) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if kind(&st) != FileType::Directory {
        return match rfs::unlinkat(dir, os(name), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(ioe(e)),
        };
    }
    let sub = rfs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)?;
    if make_writable {
        let _ = rfs::fchmod(&sub, Mode::from_raw_mode(0o700));
    }
    for child in list_dir(&sub)? {
        remove_all_at(&sub, &child, make_writable)?;
    }
    match rfs::unlinkat(dir, os(name), AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(ioe(e)),
    }
}

/// The names in a directory (without `.` and `..`), sorted by bytes.
pub fn list_dir(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let d = rfs::Dir::read_from(dir).map_err(ioe)?;
    for e in d {
        let e = e.map_err(ioe)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    out.sort();
    Ok(out)
}

/// Opens `name` in `dir` (not following a symlink) for metadata changes.
pub fn open_nofollow(dir: &OwnedFd, name: &[u8], directory: bool) -> io::Result<File> {
    let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    rfs::openat(dir, os(name), flags, Mode::empty())
        .map(File::from)
        .map_err(ioe)
}

/// Creates a new regular file `name` in `dir` with permission bits `mode` (less the
/// umask); None when the name is taken (never follows, never opens what is there).
pub fn create_file(dir: &OwnedFd, name: &[u8], mode: u32) -> io::Result<Option<File>> {
    match rfs::openat(
        dir,
        os(name),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::EXIST) => Ok(None),
        Err(e) => Err(ioe(e)),
    }
}

/// A `/proc/self/fd/N/name` path for calls that have no `*at` form (`lsetxattr` on a
/// symlink). `dir` pins the parent, and the final component is not followed by `l*` calls.
pub fn proc_path(dir: &impl AsFd, name: &[u8]) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    std::path::PathBuf::from(OsStr::from_bytes(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        (t, root)
    }

    fn ino(fd: &OwnedFd) -> u64 {
        rfs::fstat(fd).unwrap().st_ino
    }

    #[test]
    fn both_resolvers_keep_symlinks_inside_the_root() {
        let (_t, root) = setup();
        for res in [Resolver::Auto, Resolver::Walk] {
            let r = Root::open(&root, res).unwrap();
            let usr_lib = r.open_dir(&[b"usr", b"lib"]).unwrap();
            assert_eq!(ino(&r.open_dir(&[b"lib"]).unwrap()), ino(&usr_lib));
            assert_eq!(ino(&r.open_dir(&[b"up"]).unwrap()), ino(r.fd()));
            assert_eq!(
                ino(&r.open_dir(&[b"abs", b"usr", b"lib"]).unwrap()),
                ino(&usr_lib)
            );
            assert_eq!(
                ino(&r.open_dir(&[b"up", b"..", b"..", b"usr"]).unwrap()),
                ino(&r.open_dir(&[b"usr"]).unwrap())
            );
            // ensure_dir through an escaping symlink creates inside the root.
            r.ensure_dir(&[b"up", b"outside", b"new"]).unwrap();
            assert!(root.join("outside/new").is_dir());
            std::fs::remove_dir_all(root.join("outside")).unwrap();
        }
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let (_t, root) = setup();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        for res in [Resolver::Auto, Resolver::Walk] {
            let r = Root::open(&root, res).unwrap();
            assert!(r.open_dir(&[b"loop"]).is_err());
        }
    }
}
