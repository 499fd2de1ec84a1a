//! Copying a root filesystem (a layer-cache snapshot) into an empty directory, exactly:
//! every type, mode, owner (when running as root), time, xattr and hardlink, with file
//! data moved by `copy_file_range` over the data extents only (holes stay holes).
//!
//! Both trees are walked through directory descriptors, one component at a time with
//! `O_NOFOLLOW`: a symlink in the source is copied as a symlink and never followed, and
//! everything in the destination is created by this walk under the descriptor it
//! opened, so nothing can lead outside either tree. Directory metadata is set after
//! its contents (so a read-only directory can still be filled, and its mtime is the
//! source's).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, SeekFrom, Timestamps};
use rustix::io::Errno;

use crate::apply::{ApplyOptions, Owners};
use crate::error::{Result, RootfsError};
use crate::root::{self, ioe};

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

struct Ctx {
    /// The destination root, for hardlinks made by relative path.
    dst_root: OwnedFd,
    /// (device, inode) of a source file with several links -> its first copy's path.
    links: HashMap<(u64, u64), Vec<u8>>,
    owners: bool,
    euid: u32,
    egid: u32,
    umask: Option<u32>,
}

/// Copies the tree at `src` into the existing empty directory `dst`.
pub fn copy_tree(src: &Path, dst: &Path, opts: &ApplyOptions) -> Result<()> {
    let open_dir = |p: &Path| {
        rfs::open(
            p,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RootfsError::io(p.display().to_string(), ioe(e)))
    };
    let s = open_dir(src)?;
    let d = open_dir(dst)?;
    let mut ctx = Ctx {
        dst_root: d
            .try_clone()
            .map_err(|e| RootfsError::io(dst.display().to_string(), e))?,
        links: HashMap::new(),
        owners: opts.owners == Owners::Auto && rustix::process::geteuid().is_root(),
        euid: rustix::process::geteuid().as_raw(),
        egid: rustix::process::getegid().as_raw(),
        umask: crate::apply::read_umask(),
    };
    let err = |what: &[u8], e: io::Error| {
        RootfsError::io(
            format!(
                "copying {}/{} to {}",
                src.display(),
                String::from_utf8_lossy(what),
                dst.display()
            ),
            e,
        )
    };
    copy_dir(&s, &d, b"", &mut ctx).map_err(|(p, e)| err(&p, e))?;
    // The root's own metadata.
    let st = rfs::fstat(&s).map_err(|e| err(b"", ioe(e)))?;
    finish(&s, &d, u32::MAX, &st, &ctx).map_err(|e| err(b"", e))
}

type CopyError = (Vec<u8>, io::Error);

fn copy_dir(
    s: &OwnedFd,
    d: &OwnedFd,
    rel: &[u8],
    ctx: &mut Ctx,
) -> std::result::Result<(), CopyError> {
    let names = root::list_dir(s).map_err(|e| (rel.to_vec(), e))?;
    for name in names {
        let mut path = rel.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);
        copy_entry(s, d, &name, &path, ctx).map_err(|e| (path.clone(), e))?;
    }
    Ok(())
}

fn copy_entry(s: &OwnedFd, d: &OwnedFd, name: &[u8], path: &[u8], ctx: &mut Ctx) -> io::Result<()> {
    let st = rfs::statat(s, os(name), AtFlags::SYMLINK_NOFOLLOW).map_err(ioe)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            rfs::mkdirat(d, os(name), Mode::from_raw_mode(0o700)).map_err(ioe)?;
            let sub_s = open_nofollow_dir(s, name)?;
            let sub_d = open_nofollow_dir(d, name)?;
            copy_dir(&sub_s, &sub_d, path, ctx).map_err(|(_, e)| e)?;
            finish(&sub_s, &sub_d, u32::MAX, &st, ctx)
        }
        FileType::RegularFile => {
            let key = (st.st_dev, st.st_ino);
            if st.st_nlink > 1 {
                if let Some(first) = ctx.links.get(&key) {
                    return rfs::linkat(&ctx.dst_root, os(first), d, os(name), AtFlags::empty())
                        .map_err(ioe);
                }
                ctx.links.insert(key, path.to_vec());
            }
            let from = rfs::openat(
                s,
                os(name),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(ioe)?;
            // Created with its final bits when the umask strips none and there are no
            // set-ID bits (which must come after the owner).
            let bits = st.st_mode & 0o7777;
            let created = if bits & 0o7000 == 0 && ctx.umask.is_some_and(|m| bits & m == 0) {
                bits
            } else {
                0o600
            };
            let to = rfs::openat(
                d,
                os(name),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(created),
            )
            .map_err(ioe)?;
            copy_data(&from, &to, st.st_size as u64)?;
            finish(&from, &to, created, &st, ctx)
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(s, os(name), Vec::new()).map_err(ioe)?;
            rfs::symlinkat(target.as_c_str(), d, os(name)).map_err(ioe)?;
            finish_at(s, d, name, &st, ctx)
        }
        FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
            let ft = FileType::from_raw_mode(st.st_mode);
            if ft != FileType::Fifo && !ctx.owners {
                // Device nodes need root, as when applying layers.
                return Ok(());
            }
            rfs::mknodat(d, os(name), ft, Mode::from_raw_mode(0o600), st.st_rdev).map_err(ioe)?;
            finish_at(s, d, name, &st, ctx)
        }
        // Sockets and anything else are not part of an image.
        _ => Ok(()),
    }
}

fn open_nofollow_dir(dir: &OwnedFd, name: &[u8]) -> io::Result<OwnedFd> {
    rfs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)
}

/// Copies the data extents of `from` (holes are skipped, then the length is set).
fn copy_data(from: &OwnedFd, to: &OwnedFd, size: u64) -> io::Result<()> {
    if size <= SMALL_FILE && size > 0 {
        // Too small for holes to matter: one call, no extent lookups.
        let (mut off_in, mut off_out) = (0u64, 0u64);
        while off_in < size {
            let want = (size - off_in) as usize;
            match rfs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), want) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(_) => {}
                Err(e) => return Err(ioe(e)),
            }
        }
        return Ok(());
    }
    let mut pos = 0u64;
    while pos < size {
        let data = match rfs::seek(from, SeekFrom::Data(pos)) {
            Ok(p) => p,
            Err(Errno::NXIO) => break,
            Err(e) => return Err(ioe(e)),
        };
        let hole = rfs::seek(from, SeekFrom::Hole(data))
            .map_err(ioe)?
            .min(size);
        let (mut off_in, mut off_out) = (data, data);
        while off_in < hole {
            let want = (hole - off_in).min(1 << 30) as usize;
            match rfs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), want) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(_) => {}
                Err(e) => return Err(ioe(e)),
            }
        }
        pos = hole;
    }
    if pos < size {
        // A trailing hole.
        rfs::ftruncate(to, size).map_err(ioe)?;
    }
    Ok(())
}

/// Files up to this size are copied in one call, holes or not.
const SMALL_FILE: u64 = 64 << 10;

/// Owner, mode, xattrs and times of a file or directory, from its source descriptor
/// `from` to its new descriptor `to` (created with `created_mode`). The owner is set
/// when it differs from the creating user's (the parent is never set-group-ID here:
/// modes are applied after contents, and the copy's directories start as 0700).
fn finish(
    from: &OwnedFd,
    to: &OwnedFd,
    created_mode: u32,
    st: &rfs::Stat,
    ctx: &Ctx,
) -> io::Result<()> {
    if ctx.owners && (st.st_uid != ctx.euid || st.st_gid != ctx.egid || created_mode & 0o6000 != 0)
    {
        rfs::fchown(
            to,
            Some(rfs::Uid::from_raw(st.st_uid)),
            Some(rfs::Gid::from_raw(st.st_gid)),
        )
        .map_err(ioe)?;
    }
    // After chown, which clears set-ID bits; skipped when creation gave the same bits.
    if st.st_mode & 0o7777 != created_mode {
        rfs::fchmod(to, Mode::from_raw_mode(st.st_mode & 0o7777)).map_err(ioe)?;
    }
    copy_xattrs(from, to)?;
    rfs::futimens(to, &times(st)).map_err(ioe)
}

/// Copies every xattr of `from` to `to` (descriptors of the entries themselves).
fn copy_xattrs(from: &OwnedFd, to: &OwnedFd) -> io::Result<()> {
    let n = match rfs::flistxattr_query(from) {
        Ok(0) => return Ok(()),
        Ok(n) => n,
        // No xattr support here: nothing to copy.
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(ioe(e)),
    };
    let mut names = vec![0u8; n];
    let n = rfs::flistxattr(from, &mut names[..]).map_err(ioe)?;
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let vn = rfs::fgetxattr_query(from, os(name)).map_err(ioe)?;
        let mut v = vec![0u8; vn];
        let vn = rfs::fgetxattr(from, os(name), &mut v[..]).map_err(ioe)?;
        // Some names cannot be set here (e.g. security.* without privilege): skipped,
        // as applying a layer skips them with a warning.
        let _ = rfs::fsetxattr(to, os(name), &v[..vn], rfs::XattrFlags::empty());
    }
    Ok(())
}

/// Owner, xattrs and times of a symlink or special file, by name in pinned parents
/// (never opened: opening a device can have effects, and a FIFO can block).
fn finish_at(s: &OwnedFd, d: &OwnedFd, name: &[u8], st: &rfs::Stat, ctx: &Ctx) -> io::Result<()> {
    if ctx.owners {
        rfs::chownat(
            d,
            os(name),
            Some(rfs::Uid::from_raw(st.st_uid)),
            Some(rfs::Gid::from_raw(st.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(ioe)?;
    }
    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
        rfs::chmodat(
            d,
            os(name),
            Mode::from_raw_mode(st.st_mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(ioe)?;
    }
    let target = root::proc_path(d, name);
    for (k, v) in crate::tree::xattrs(&root::proc_path(s, name)) {
        let _ = rfs::lsetxattr(&target, os(&k), &v, rfs::XattrFlags::empty());
    }
    rfs::utimensat(d, os(name), &times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(ioe)
}

fn times(st: &rfs::Stat) -> Timestamps {
    Timestamps {
        last_access: rfs::Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rfs::Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}
