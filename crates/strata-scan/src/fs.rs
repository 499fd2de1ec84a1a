//! The image's merged filesystem as the catalogers see it.
//!
//! [`ImageFs`] is the small interface the catalogers read through. [`MergedFs`] builds it
//! by streaming each layer tar in order and applying it the way a container runtime
//! would (whiteouts and opaque directories remove what lower layers wrote), while
//! keeping only what some cataloger wants: package databases, metadata files, archives,
//! every symlink (so paths resolve inside the image), and for executables only a small
//! summary of their embedded build information. Each kept entry remembers the layer
//! that last wrote it.
//!
//! [`MergedFs::seed_dir`] starts the view from an unpacked root filesystem instead (a
//! snapshot of the store's layer cache), keeping the same things, so a scan can continue
//! with only the layers above it.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_store::layer::clean_path;

use crate::ScanError;

/// What the filesystem keeps for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Nothing (the path is not interesting).
    Nothing,
    /// The whole content.
    Content,
    /// An executable: keep a summary if [`Selector::summarize`] makes one.
    Executable,
}

/// Decides what is kept: implemented by the cataloger set.
pub trait Selector {
    /// What to keep of a regular file at `path` (no leading `/`) of `size` bytes with
    /// permission bits `mode`.
    fn want(&self, path: &str, size: u64, mode: u32) -> Want;
    /// A small summary of an executable's content, or None when it has nothing of
    /// interest (e.g. not a Go or cargo-auditable binary).
    fn summarize(&self, path: &str, data: &[u8]) -> Option<Vec<u8>>;
}

/// Read access to an image's merged filesystem.
pub trait ImageFs {
    /// The content of a regular file, following symlinks inside the image.
    fn read(&self, path: &str) -> Option<Arc<Vec<u8>>>;
    /// The summary kept for an executable (see [`Selector::summarize`]).
    fn summary(&self, path: &str) -> Option<Arc<Vec<u8>>>;
    /// Every kept regular file (content or summary), in path order, without a leading `/`.
    fn files(&self) -> Vec<String>;
    /// Kept files directly or indirectly under `dir`.
    fn files_under(&self, dir: &str) -> Vec<String>;
    /// The index of the layer that last wrote `path` (after following symlinks).
    fn layer_of(&self, path: &str) -> Option<usize>;
    /// `path` with every symlink in it resolved, when it leads somewhere kept.
    fn resolve(&self, path: &str) -> Option<String>;
}

/// A kept entry.
#[derive(Debug, Clone)]
enum Kind {
    File(Arc<Vec<u8>>),
    Summary(Arc<Vec<u8>>),
    Symlink(String),
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    layer: usize,
}

/// The merged view built layer by layer.
#[derive(Debug, Default, Clone)]
pub struct MergedFs {
    nodes: BTreeMap<String, Node>,
    /// Largest file content kept, in bytes.
    max_file: u64,
}

/// Largest executable read to look for build information.
const MAX_EXECUTABLE: u64 = 512 << 20;
/// Largest file kept whole.
const MAX_CONTENT: u64 = 256 << 20;

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

impl MergedFs {
    /// An empty filesystem.
    pub fn new() -> MergedFs {
        MergedFs::default()
    }

    fn remove_tree(&mut self, path: &str, below_layer: Option<usize>, include_self: bool) -> bool {
        let prefix = format!("{path}/");
        let mut doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| below_layer.is_none_or(|l| n.layer < l))
            .map(|(k, _)| k.clone())
            .collect();
        if include_self && self.nodes.contains_key(path) {
            doomed.push(path.to_string());
        }
        let changed = !doomed.is_empty();
        for k in doomed {
            self.nodes.remove(&k);
        }
        changed
    }

    /// Applies one (possibly compressed) layer tar. Returns whether anything kept changed.
    pub fn apply_layer<R: Read>(
        &mut self,
        r: R,
        layer: usize,
        sel: &dyn Selector,
    ) -> Result<bool, ScanError> {
        let (_, plain) = strata_store::compress::decompress(r)
            .map_err(|e| ScanError::Layer(format!("layer {layer}: {e}")))?;
        let mut ar = tar::Archive::new(plain);
        let mut changed = false;
        let bad = |e: std::io::Error| ScanError::Layer(format!("layer {layer}: {e}"));
        for entry in ar.entries().map_err(bad)? {
            let mut e = entry.map_err(bad)?;
            let path = clean_path(&e.path_bytes());
            if path.is_empty() {
                continue;
            }
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (d.to_string(), b.to_string()),
                None => (String::new(), path.clone()),
            };
            if base == ".wh..wh..opq" {
                changed |= self.remove_tree(&dir, Some(layer), false);
                continue;
            }
            if let Some(name) = base.strip_prefix(".wh.") {
                changed |= self.remove_tree(&join(&dir, name), None, true);
                continue;
            }
            let kind = e.header().entry_type();
            // Whatever was at this path is replaced; a file or link replacing a directory
            // also hides what the directory held. A directory replaces a file or symlink.
            changed |= self.nodes.remove(&path).is_some();
            if kind != tar::EntryType::Directory {
                changed |= self.remove_tree(&path, Some(layer), false);
            }
            match kind {
                tar::EntryType::Symlink => {
                    let target = e
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default();
                    self.nodes.insert(
                        path,
                        Node {
                            kind: Kind::Symlink(target),
                            layer,
                        },
                    );
                    changed = true;
                }
                tar::EntryType::Link => {
                    let target = e
                        .link_name_bytes()
                        .map(|l| clean_path(&l))
                        .unwrap_or_default();
                    if let Some(n) = self.nodes.get(&target).cloned() {
                        if !matches!(n.kind, Kind::Symlink(_)) {
                            self.nodes.insert(
                                path,
                                Node {
                                    kind: n.kind,
                                    layer,
                                },
                            );
                            changed = true;
                        }
                    }
                }
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    let size = e.size();
                    let mode = e.header().mode().unwrap_or(0o644);
                    match sel.want(&path, size, mode) {
                        Want::Nothing => {}
                        Want::Content if size <= MAX_CONTENT => {
                            let mut buf = Vec::with_capacity(size as usize);
                            e.read_to_end(&mut buf).map_err(bad)?;
                            self.max_file = self.max_file.max(size);
                            self.nodes.insert(
                                path,
                                Node {
                                    kind: Kind::File(Arc::new(buf)),
                                    layer,
                                },
                            );
                            changed = true;
                        }
                        Want::Content => {}
                        Want::Executable if size <= MAX_EXECUTABLE => {
                            let mut head = [0u8; 4];
                            let n = read_full(&mut e, &mut head).map_err(bad)?;
                            if n == 4 && &head == b"\x7fELF" {
                                let mut buf = Vec::with_capacity(size as usize);
                                buf.extend_from_slice(&head);
                                e.read_to_end(&mut buf).map_err(bad)?;
                                if let Some(s) = sel.summarize(&path, &buf) {
                                    self.nodes.insert(
                                        path,
                                        Node {
                                            kind: Kind::Summary(Arc::new(s)),
                                            layer,
                                        },
                                    );
                                    changed = true;
                                }
                            }
                        }
                        Want::Executable => {}
                    }
                }
                _ => {}
            }
        }
        // Read to the end so a streamed layer is consumed (and checked) whole.
        std::io::copy(&mut ar.into_inner(), &mut std::io::sink()).map_err(bad)?;
        Ok(changed)
    }

    /// Fills the view from the unpacked root filesystem at `root`, as if all of it had
    /// been written by layer `layer`: keeps what `sel` wants and every symlink, exactly as
    /// [`MergedFs::apply_layer`] would for a layer holding the same tree. The walk never
    /// follows a symlink (symlinks are recorded, directories are entered only when they
    /// are real directories) and a file is read only when the opened file is the very
    /// inode that was listed, so nothing outside `root` is read. Any entry that cannot be
    /// read is an error: a partial view would give a wrong answer.
    pub fn seed_dir(
        &mut self,
        root: &Path,
        layer: usize,
        sel: &dyn Selector,
    ) -> Result<(), ScanError> {
        let bad = |p: &Path, e: std::io::Error| {
            ScanError::Layer(format!("snapshot {}: {}: {e}", root.display(), p.display()))
        };
        let mut dirs: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| bad(&dir, e))? {
                let entry = entry.map_err(|e| bad(&dir, e))?;
                let p = entry.path();
                let name = entry.file_name();
                let path = join(&rel, &String::from_utf8_lossy(name.as_encoded_bytes()));
                // Neither of these follows a symlink.
                let ft = entry.file_type().map_err(|e| bad(&p, e))?;
                if ft.is_dir() {
                    dirs.push((p, path));
                } else if ft.is_symlink() {
                    let target = std::fs::read_link(&p).map_err(|e| bad(&p, e))?;
                    let target = String::from_utf8_lossy(target.as_os_str().as_encoded_bytes());
                    self.nodes.insert(
                        path,
                        Node {
                            kind: Kind::Symlink(target.into_owned()),
                            layer,
                        },
                    );
                } else if ft.is_file() {
                    let meta = entry.metadata().map_err(|e| bad(&p, e))?;
                    let size = meta.len();
                    let kind = match sel.want(&path, size, meta.mode() & 0o7777) {
                        Want::Content if size <= MAX_CONTENT => {
                            let data = read_listed(&p, &meta, None).map_err(|e| bad(&p, e))?;
                            self.max_file = self.max_file.max(size);
                            data.map(|d| Kind::File(Arc::new(d)))
                        }
                        Want::Executable if size <= MAX_EXECUTABLE => {
                            read_listed(&p, &meta, Some(b"\x7fELF"))
                                .map_err(|e| bad(&p, e))?
                                .and_then(|d| sel.summarize(&path, &d))
                                .map(|s| Kind::Summary(Arc::new(s)))
                        }
                        _ => None,
                    };
                    if let Some(kind) = kind {
                        self.nodes.insert(path, Node { kind, layer });
                    }
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, path: &str) -> Option<(String, &Node)> {
        let resolved = self.resolve_path(path)?;
        let n = self.nodes.get(&resolved)?;
        Some((resolved, n))
    }

    /// Resolves symlinks component by component (at most 40 hops).
    fn resolve_path(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = clean_path(path.as_bytes())
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let cur = done.join("/");
            if let Some(Node {
                kind: Kind::Symlink(target),
                ..
            }) = self.nodes.get(&cur)
            {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                for t in target.split('/').rev().filter(|t| !t.is_empty()) {
                    pending.push(t.to_string());
                }
            }
        }
        Some(done.join("/"))
    }

    /// Number of entries kept (files, summaries and symlinks).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Reads the regular file at `p` whole, checking that the file opened is the inode
/// `listed` describes, with its size. With `magic`, returns None (having read no more)
/// when the file does not start with it.
fn read_listed(
    p: &Path,
    listed: &std::fs::Metadata,
    magic: Option<&[u8]>,
) -> std::io::Result<Option<Vec<u8>>> {
    let changed = || std::io::Error::other("changed while it was read");
    let mut f = std::fs::File::open(p)?;
    let m = f.metadata()?;
    if !m.is_file() || m.dev() != listed.dev() || m.ino() != listed.ino() || m.len() != listed.len()
    {
        return Err(changed());
    }
    let size = listed.len();
    let mut head = Vec::new();
    if let Some(magic) = magic {
        head.resize(magic.len(), 0);
        let n = read_full(&mut f, &mut head)?;
        if n < magic.len() || head != magic {
            return Ok(None);
        }
    }
    let mut buf = Vec::with_capacity(size as usize);
    buf.extend_from_slice(&head);
    (&mut f)
        .take(size - head.len() as u64)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 != size {
        return Err(changed());
    }
    Ok(Some(buf))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl ImageFs for MergedFs {
    fn read(&self, path: &str) -> Option<Arc<Vec<u8>>> {
        match self.lookup(path)? {
            (
                _,
                Node {
                    kind: Kind::File(c),
                    ..
                },
            ) => Some(c.clone()),
            _ => None,
        }
    }

    fn summary(&self, path: &str) -> Option<Arc<Vec<u8>>> {
        match self.lookup(path)? {
            (
                _,
                Node {
                    kind: Kind::Summary(c),
                    ..
                },
            ) => Some(c.clone()),
            _ => None,
        }
    }

    fn files(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| !matches!(n.kind, Kind::Symlink(_)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        let Some(real) = self.resolve_path(dir) else {
            return Vec::new();
        };
        let prefix = if real.is_empty() {
            String::new()
        } else {
            format!("{real}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| !matches!(n.kind, Kind::Symlink(_)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn layer_of(&self, path: &str) -> Option<usize> {
        self.lookup(path).map(|(_, n)| n.layer)
    }

    fn resolve(&self, path: &str) -> Option<String> {
        let r = self.resolve_path(path)?;
        self.nodes.contains_key(&r).then_some(r)
    }
}

/// The directory part of a path (used by catalogers).
pub fn dir_of(path: &str) -> &str {
    parent(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct All;
    impl Selector for All {
        fn want(&self, _: &str, _: u64, _: u32) -> Want {
            Want::Content
        }
        fn summarize(&self, _: &str, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
    }

    fn tar(entries: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            match link {
                Some(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, p, t).unwrap();
                }
                None if p.ends_with('/') => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, p, &[][..]).unwrap();
                }
                None => {
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, p, *data).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_opaque_dirs_and_symlinks() {
        let mut fs = MergedFs::new();
        let l0 = tar(&[
            ("etc/", None, b""),
            ("etc/a", None, b"A0"),
            ("etc/b", None, b"B0"),
            ("usr/lib/os-release", None, b"ID=debian"),
            ("etc/os-release", Some("../usr/lib/os-release"), b""),
            ("lib", Some("usr/lib"), b""),
            ("d/x", None, b"x"),
            ("d/y", None, b"y"),
        ]);
        assert!(fs.apply_layer(&l0[..], 0, &All).unwrap());
        assert_eq!(fs.read("/etc/os-release").unwrap().as_slice(), b"ID=debian");
        assert_eq!(fs.read("lib/os-release").unwrap().as_slice(), b"ID=debian");
        assert_eq!(fs.layer_of("etc/os-release"), Some(0));
        let l1 = tar(&[
            ("etc/.wh.a", None, b""),
            ("etc/b", None, b"B1"),
            ("d/.wh..wh..opq", None, b""),
            ("d/z", None, b"z"),
        ]);
        assert!(fs.apply_layer(&l1[..], 1, &All).unwrap());
        assert!(fs.read("etc/a").is_none());
        assert_eq!(fs.read("etc/b").unwrap().as_slice(), b"B1");
        assert_eq!(fs.layer_of("etc/b"), Some(1));
        assert_eq!(fs.files_under("d"), vec!["d/z".to_string()]);
        let l2 = tar(&[("usr/.wh.lib", None, b"")]);
        assert!(fs.apply_layer(&l2[..], 2, &All).unwrap());
        assert!(fs.read("etc/os-release").is_none());
    }

    #[test]
    fn zstd_layers_and_long_names() {
        let deep = format!("app/{}/node_modules/x/package.json", "d".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(2);
        b.append_data(&mut h, &deep, &b"{}"[..]).unwrap();
        let t = b.into_inner().unwrap();
        let z = zstd::encode_all(&t[..], 3).unwrap();
        let mut fs = MergedFs::new();
        assert!(fs.apply_layer(&z[..], 0, &All).unwrap());
        assert_eq!(fs.read(&deep).unwrap().as_slice(), b"{}");
        // A truncated layer is an error naming the layer.
        let err = MergedFs::new()
            .apply_layer(&z[..z.len() / 2], 3, &All)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 3"), "{err}");
    }

    #[test]
    fn seeding_from_a_directory_keeps_what_a_layer_would() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::create_dir_all(r.join("d")).unwrap();
        std::fs::write(r.join("usr/lib/os-release"), b"ID=debian").unwrap();
        std::fs::write(r.join("d/x"), b"x").unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        // A symlink to a directory outside the tree is recorded, never walked.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("out")).unwrap();
        let mut fs = MergedFs::new();
        fs.seed_dir(r, 4, &All).unwrap();
        assert_eq!(fs.read("etc/os-release").unwrap().as_slice(), b"ID=debian");
        assert_eq!(fs.read("lib/os-release").unwrap().as_slice(), b"ID=debian");
        assert_eq!(fs.layer_of("d/x"), Some(4));
        assert_eq!(
            fs.files(),
            vec!["d/x".to_string(), "usr/lib/os-release".to_string()]
        );
        assert!(fs.read("out/secret").is_none());
        // The same tree as a layer gives the same view.
        let mut streamed = MergedFs::new();
        let l = tar(&[
            ("usr/lib/os-release", None, b"ID=debian"),
            ("d/x", None, b"x"),
            ("etc/os-release", Some("../usr/lib/os-release"), b""),
            ("lib", Some("usr/lib"), b""),
        ]);
        streamed.apply_layer(&l[..], 4, &All).unwrap();
        assert_eq!(streamed.files(), fs.files());
        // Layers above see the seeded entries as lower ones.
        let l5 = tar(&[("d/.wh..wh..opq", None, b""), ("d/y", None, b"y")]);
        assert!(fs.apply_layer(&l5[..], 5, &All).unwrap());
        assert_eq!(fs.files_under("d"), vec!["d/y".to_string()]);
        // A tree that cannot be read is an error, not an empty view.
        let missing = MergedFs::new().seed_dir(&r.join("nope"), 0, &All);
        assert!(missing.is_err());
    }

    #[test]
    fn symlink_loops_do_not_hang() {
        let mut fs = MergedFs::new();
        let l0 = tar(&[("a", Some("b"), b""), ("b", Some("a"), b"")]);
        fs.apply_layer(&l0[..], 0, &All).unwrap();
        assert!(fs.read("a").is_none());
    }
}
