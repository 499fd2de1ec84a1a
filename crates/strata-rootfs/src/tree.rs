//! A directory tree read into a comparable description: every path with its type, mode,
//! owner, times, size, content digest, link target, device numbers, xattrs and hardlink
//! group. Used to diff a directory against its parent state and by the tests that
//! compare unpacked trees (with `umoci unpack`, and diff/apply round trips).
//!
//! Trees read here are ones Strata owns (snapshots, build directories); nothing is
//! followed: `lstat`, `readlink`, `llistxattr`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use strata_oci::{Digest, Digester};

/// The type of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A FIFO.
    Fifo,
    /// A socket (never written to layers).
    Socket,
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Type.
    pub kind: Kind,
    /// Permission bits, set-id and sticky bits (mode & 0o7777).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Size in bytes (regular files).
    pub size: u64,
    /// SHA-256 of a regular file's content.
    pub content: Option<Digest>,
    /// A symlink's target.
    pub link: Option<Vec<u8>>,
    /// Device major and minor numbers.
    pub rdev: (u32, u32),
    /// Extended attributes.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// For files with several links inside the tree: the first path (in sorted order)
    /// of the same inode; None for the first one itself and for single-link files.
    pub hardlink_of: Option<Vec<u8>>,
    /// (device, inode), to find hardlinks.
    pub ino: (u64, u64),
}

/// A tree: relative path (bytes, `/`-separated, `""` for the root) to node, sorted.
pub type Tree = BTreeMap<Vec<u8>, Node>;

/// Host path of a relative tree path.
pub fn host(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// Reads the xattrs of `p` without following a symlink.
pub fn xattrs(p: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(n) = rustix::fs::llistxattr_query(p) else {
        return out;
    };
    if n == 0 {
        return out;
    }
    let mut names = vec![0u8; n];
    let Ok(n) = rustix::fs::llistxattr(p, &mut names[..]) else {
        return out;
    };
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let Ok(vn) = rustix::fs::lgetxattr_query(p, OsStr::from_bytes(name)) else {
            continue;
        };
        let mut v = vec![0u8; vn];
        if let Ok(vn) = rustix::fs::lgetxattr(p, OsStr::from_bytes(name), &mut v[..]) {
            v.truncate(vn);
            out.insert(name.to_vec(), v);
        }
    }
    out
}

/// The node of one path (no hardlink group).
pub fn node(p: &Path, with_content: bool) -> io::Result<Node> {
    let m = fs::symlink_metadata(p)?;
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_char_device() {
        Kind::Char
    } else if ft.is_block_device() {
        Kind::Block
    } else if ft.is_fifo() {
        Kind::Fifo
    } else {
        Kind::Socket
    };
    let content = if kind == Kind::File && with_content {
        let mut f = File::open(p)?;
        let mut h = Digester::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Some(h.finish())
    } else {
        None
    };
    let link = if kind == Kind::Symlink {
        Some(fs::read_link(p)?.as_os_str().as_bytes().to_vec())
    } else {
        None
    };
    let rdev = m.rdev();
    Ok(Node {
        kind,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
        size: if kind == Kind::File { m.len() } else { 0 },
        content,
        link,
        rdev: if matches!(kind, Kind::Char | Kind::Block) {
            (rustix::fs::major(rdev), rustix::fs::minor(rdev))
        } else {
            (0, 0)
        },
        xattrs: xattrs(p),
        hardlink_of: None,
        ino: (m.dev(), m.ino()),
    })
}

/// Reads the whole tree under `root` (the root itself as `""`). `with_content` hashes
/// regular files.
pub fn describe(root: &Path, with_content: bool) -> io::Result<Tree> {
    let mut out = Tree::new();
    let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(rel) = stack.pop() {
        let p = host(root, &rel);
        let n = node(&p, with_content)?;
        if n.kind == Kind::Dir {
            for e in fs::read_dir(&p)? {
                let e = e?;
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(e.file_name().as_bytes());
                stack.push(child);
            }
        }
        out.insert(rel, n);
    }
    let mut first: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    for (path, n) in out.iter_mut() {
        if n.kind == Kind::Dir {
            continue;
        }
        match first.get(&n.ino) {
            Some(f) => n.hardlink_of = Some(f.clone()),
            None => {
                first.insert(n.ino, path.clone());
            }
        }
    }
    Ok(out)
}

/// What two trees' entries are compared on.
#[derive(Debug, Clone, Copy)]
pub struct Compare {
    /// Compare modification times (seconds and nanoseconds).
    pub mtimes: bool,
    /// Compare owners.
    pub owners: bool,
    /// Compare the root entry's own metadata.
    pub root: bool,
}

/// Lists every difference between two trees, one line each (empty when equal).
pub fn differences(a: &Tree, b: &Tree, c: Compare) -> Vec<String> {
    let mut out = Vec::new();
    let show = |p: &[u8]| format!("/{}", String::from_utf8_lossy(p));
    for (p, na) in a {
        if p.is_empty() && !c.root {
            continue;
        }
        let Some(nb) = b.get(p) else {
            out.push(format!("only in first: {}", show(p)));
            continue;
        };
        let mut d = Vec::new();
        if na.kind != nb.kind {
            d.push(format!("type {:?} vs {:?}", na.kind, nb.kind));
        }
        if na.mode != nb.mode && na.kind != Kind::Symlink {
            d.push(format!("mode {:o} vs {:o}", na.mode, nb.mode));
        }
        if c.owners && (na.uid, na.gid) != (nb.uid, nb.gid) {
            d.push(format!(
                "owner {}:{} vs {}:{}",
                na.uid, na.gid, nb.uid, nb.gid
            ));
        }
        if c.mtimes && na.mtime != nb.mtime {
            d.push(format!("mtime {:?} vs {:?}", na.mtime, nb.mtime));
        }
        if na.size != nb.size || na.content != nb.content {
            d.push("content".into());
        }
        if na.link != nb.link {
            d.push(format!(
                "link {:?} vs {:?}",
                na.link.as_deref().map(String::from_utf8_lossy),
                nb.link.as_deref().map(String::from_utf8_lossy)
            ));
        }
        if na.rdev != nb.rdev {
            d.push(format!("rdev {:?} vs {:?}", na.rdev, nb.rdev));
        }
        if na.xattrs != nb.xattrs {
            d.push("xattrs".into());
        }
        if na.hardlink_of != nb.hardlink_of {
            d.push(format!(
                "hardlink group {:?} vs {:?}",
                na.hardlink_of.as_deref().map(String::from_utf8_lossy),
                nb.hardlink_of.as_deref().map(String::from_utf8_lossy)
            ));
        }
        if !d.is_empty() {
            out.push(format!("{}: {}", show(p), d.join(", ")));
        }
    }
    for p in b.keys() {
        if !a.contains_key(p) && (c.root || !p.is_empty()) {
            out.push(format!("only in second: {}", show(p)));
        }
    }
    out
}
