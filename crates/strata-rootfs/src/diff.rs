//! A directory compared with its parent state, written as a layer tar: what `build` and
//! `commit` produce, what `export` writes (against no parent), and how the layer cache
//! copies trees.
//!
//! * Added and changed entries are written in full (every ancestor directory of one too,
//!   so directory metadata survives); deletions become `.wh.NAME`; a directory whose
//!   lower entries are all gone and that holds new ones becomes an opaque directory (`.wh..wh..opq`) with its
//!   whole new content.
//! * Hardlinks: the second path of an inode is written as a link to the first; a new
//!   link to a file the parent already had is written as a link to that lower path.
//! * Reproducible: entries sorted by path bytes, numeric owners only (no user or group
//!   names), PAX records sorted, mtimes clamped to `SOURCE_DATE_EPOCH` when asked, gzip
//!   with a zero header time, single-threaded zstd. The same trees give the same bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use strata_oci::{Digest, Digester};

use crate::error::{Result, RootfsError};
use crate::tree::{self, Kind, Node, Tree};

/// Compression of a written layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    /// A plain tar.
    None,
    /// gzip (level 6, no name, zero mtime).
    Gzip,
    /// zstd (level 3, single-threaded).
    Zstd,
}

/// Options of [`write_layer`].
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Clamp every mtime to at most this Unix time (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: Option<i64>,
    /// Compression.
    pub compression: LayerCompression,
    /// Write a `./` entry for the root directory (always when there is no parent and
    /// this is set; with a parent, only when the root's metadata changed).
    pub root_entry: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            source_date_epoch: None,
            compression: LayerCompression::Gzip,
            root_entry: true,
        }
    }
}

impl DiffOptions {
    /// The defaults, with `source_date_epoch` taken from `$SOURCE_DATE_EPOCH` when it is
    /// set to a whole number of seconds (an invalid value is an error, as in BuildKit).
    pub fn from_env() -> Result<DiffOptions> {
        let mut o = DiffOptions::default();
        if let Some(v) = std::env::var_os("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
            let v = v.to_string_lossy();
            o.source_date_epoch = Some(v.trim().parse().map_err(|_| {
                RootfsError::Target(format!(
                    "invalid SOURCE_DATE_EPOCH {v:?}: expected a Unix time in seconds"
                ))
            })?);
        }
        Ok(o)
    }
}

/// What [`write_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOutput {
    /// Digest of the bytes written (the layer blob's digest).
    pub digest: Digest,
    /// Bytes written.
    pub size: u64,
    /// Digest of the uncompressed tar (the diff ID).
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Entries written (whiteouts included).
    pub entries: u64,
}

struct HashWriter<W> {
    inner: W,
    h: Digester,
    n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn files_equal(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

fn same_meta(a: &Node, b: &Node) -> bool {
    a.kind == b.kind
        && a.mode == b.mode
        && a.uid == b.uid
        && a.gid == b.gid
        && a.mtime == b.mtime
        && a.size == b.size
        && a.link == b.link
        && a.rdev == b.rdev
        && a.xattrs == b.xattrs
}

fn parent_of(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => &p[..i],
        None => b"",
    }
}

fn child_of(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn names_in(t: &Tree, dir: &[u8]) -> Vec<Vec<u8>> {
    let prefix = if dir.is_empty() {
        Vec::new()
    } else {
        child_of(dir, b"")
    };
    t.range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| {
            !k.is_empty() && k.len() > prefix.len() && !k[prefix.len()..].contains(&b'/')
        })
        .map(|(k, _)| k[prefix.len()..].to_vec())
        .collect()
}

/// One planned tar entry.
enum Planned {
    Whiteout,
    Opaque,
    Node,
}

/// Writes the layer that turns `parent` (None: an empty tree) into `child` to `out`.
pub fn write_layer<W: Write>(
    parent: Option<&Path>,
    child: &Path,
    opts: &DiffOptions,
    out: W,
) -> Result<LayerOutput> {
    let ctree = tree::describe(child, false)
        .map_err(|e| RootfsError::io(format!("reading {}", child.display()), e))?;
    let ptree = match parent {
        Some(p) => tree::describe(p, false)
            .map_err(|e| RootfsError::io(format!("reading {}", p.display()), e))?,
        None => Tree::new(),
    };
    let mut plan: BTreeMap<Vec<u8>, Planned> = BTreeMap::new();
    let mut opaque: BTreeSet<Vec<u8>> = BTreeSet::new();
    // Pass 1: added and changed.
    for (p, cn) in &ctree {
        if p.is_empty() {
            let changed = match ptree.get(p) {
                Some(pn) => !same_meta(pn, cn),
                None => parent.is_none(),
            };
            if opts.root_entry && changed {
                plan.insert(p.clone(), Planned::Node);
            }
            continue;
        }
        let under_opaque = opaque
            .iter()
            .any(|o| p.starts_with(o) && (o.is_empty() || p.get(o.len()) == Some(&b'/')));
        let emit = under_opaque
            || match ptree.get(p) {
                None => true,
                Some(pn) => {
                    if !same_meta(pn, cn) {
                        true
                    } else if cn.kind == Kind::File {
                        !files_equal(
                            &tree::host(parent.unwrap_or(child), p),
                            &tree::host(child, p),
                        )
                        .map_err(|e| {
                            RootfsError::io(format!("comparing /{}", String::from_utf8_lossy(p)), e)
                        })?
                    } else {
                        false
                    }
                }
            };
        if emit {
            plan.insert(p.clone(), Planned::Node);
        }
        if cn.kind == Kind::Dir && !under_opaque {
            if let Some(pn) = ptree.get(p) {
                if pn.kind == Kind::Dir {
                    let lower = names_in(&ptree, p);
                    let kept = lower.iter().any(|n| ctree.contains_key(&child_of(p, n)));
                    if !lower.is_empty() && !kept && !names_in(&ctree, p).is_empty() {
                        opaque.insert(p.clone());
                        plan.insert(p.clone(), Planned::Node);
                        plan.insert(child_of(p, b".wh..wh..opq"), Planned::Opaque);
                    }
                }
            }
        }
    }
    // Deletions.
    for (p, pn) in &ptree {
        if p.is_empty() || ctree.contains_key(p) {
            continue;
        }
        let dir = parent_of(p);
        // Only the topmost deleted path; nothing under an opaque or replaced directory.
        let dir_gone = !dir.is_empty()
            && ctree.get(dir).is_none_or(|d| {
                d.kind != Kind::Dir || ptree.get(dir).is_none_or(|x| x.kind != Kind::Dir)
            });
        if dir_gone || opaque.contains(dir) {
            continue;
        }
        let _ = pn;
        let name = &p[dir.len() + usize::from(!dir.is_empty())..];
        let mut wh = b".wh.".to_vec();
        wh.extend_from_slice(name);
        plan.insert(child_of(dir, &wh), Planned::Whiteout);
    }
    // Every ancestor directory of a written entry.
    let keys: Vec<Vec<u8>> = plan.keys().cloned().collect();
    for k in keys {
        let mut d = parent_of(&k);
        while !d.is_empty() {
            if ctree.get(d).is_some_and(|n| n.kind == Kind::Dir) {
                plan.entry(d.to_vec()).or_insert(Planned::Node);
            }
            d = parent_of(d);
        }
    }
    // Hardlink groups in the child.
    let mut by_ino: HashMap<(u64, u64), Vec<Vec<u8>>> = HashMap::new();
    for (p, n) in &ctree {
        if n.kind != Kind::Dir && !p.is_empty() {
            by_ino.entry(n.ino).or_default().push(p.clone());
        }
    }

    let plain = HashWriter {
        inner: out,
        h: Digester::default(),
        n: 0,
    };
    let mut tw = TarOut::new(plain, opts.compression)?;
    let mut written: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut entries = 0u64;
    for (p, what) in &plan {
        entries += 1;
        match what {
            Planned::Whiteout | Planned::Opaque => tw.whiteout(p, opts)?,
            Planned::Node => {
                let n = &ctree[p];
                let mut link_to = None;
                if n.kind != Kind::Dir && !p.is_empty() {
                    if let Some(first) = written.get(&n.ino) {
                        link_to = Some(first.clone());
                    } else if let Some(group) = by_ino.get(&n.ino).filter(|g| g.len() > 1) {
                        link_to = group
                            .iter()
                            .find(|q| *q != p && !plan.contains_key(*q) && ptree.contains_key(*q))
                            .cloned();
                    }
                }
                match link_to {
                    Some(t) => tw.hardlink(p, n, &t, opts)?,
                    None => {
                        tw.node(child, p, n, opts)?;
                        if n.kind != Kind::Dir {
                            written.insert(n.ino, p.clone());
                        }
                    }
                }
            }
        }
    }
    let (plain_h, plain_n, comp) = tw.finish()?;
    Ok(LayerOutput {
        digest: comp.0,
        size: comp.1,
        diff_id: plain_h,
        uncompressed_size: plain_n,
        entries,
    })
}

/// The compressed (outer) writer hashing what goes to the caller.
enum Outer<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Outer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Outer::None(w) => w.write(buf),
            Outer::Gzip(w) => w.write(buf),
            Outer::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Outer::None(w) => w.flush(),
            Outer::Gzip(w) => w.flush(),
            Outer::Zstd(w) => w.flush(),
        }
    }
}

struct TarOut<W: Write> {
    b: tar::Builder<HashWriter<Outer<HashWriter<W>>>>,
}

type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

fn pax_record(out: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    let body = k.len() + v.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(k);
    out.push(b'=');
    out.extend_from_slice(v);
    out.push(b'\n');
}

fn set_field(field: &mut [u8], v: &[u8]) {
    field.iter_mut().for_each(|b| *b = 0);
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

impl<W: Write> TarOut<W> {
    fn new(plain: HashWriter<W>, c: LayerCompression) -> Result<Self> {
        let _ = &plain;
        // `plain` hashes the final (possibly compressed) bytes; the inner HashWriter
        // hashes the tar itself.
        let outer = match c {
            LayerCompression::None => Outer::None(plain),
            LayerCompression::Gzip => Outer::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(plain, flate2::Compression::default()),
            ),
            LayerCompression::Zstd => Outer::Zstd(
                zstd::stream::write::Encoder::new(plain, 3)
                    .map_err(|e| RootfsError::io("starting zstd", e))?,
            ),
        };
        let mut b = tar::Builder::new(HashWriter {
            inner: outer,
            h: Digester::default(),
            n: 0,
        });
        b.mode(tar::HeaderMode::Deterministic);
        Ok(TarOut { b })
    }

    fn finish(self) -> Result<(Digest, u64, (Digest, u64))> {
        let hw = self
            .b
            .into_inner()
            .map_err(|e| RootfsError::io("finishing the layer tar", e))?;
        let (diff_id, n) = (hw.h.finish(), hw.n);
        let inner = match hw.inner {
            Outer::None(w) => w,
            Outer::Gzip(w) => w
                .finish()
                .map_err(|e| RootfsError::io("finishing gzip", e))?,
            Outer::Zstd(w) => w
                .finish()
                .map_err(|e| RootfsError::io("finishing zstd", e))?,
        };
        let mut inner = inner;
        inner
            .flush()
            .map_err(|e| RootfsError::io("flushing the layer", e))?;
        Ok((diff_id, n, (inner.h.finish(), inner.n)))
    }

    fn append(
        &mut self,
        name: &[u8],
        mut h: tar::Header,
        mut pax: Vec<(Vec<u8>, Vec<u8>)>,
        link: Option<&[u8]>,
        data: &mut dyn Read,
    ) -> Result<()> {
        if name.len() > 100 {
            pax.push((b"path".to_vec(), name.to_vec()));
        }
        if let Some(l) = link {
            if l.len() > 100 {
                pax.push((b"linkpath".to_vec(), l.to_vec()));
            }
            set_field(&mut h.as_old_mut().linkname, l);
        }
        set_field(&mut h.as_old_mut().name, name);
        if !pax.is_empty() {
            pax.sort();
            let mut body = Vec::new();
            for (k, v) in &pax {
                pax_record(&mut body, k, v);
            }
            let mut ph = tar::Header::new_ustar();
            ph.set_entry_type(tar::EntryType::XHeader);
            let base = name
                .rsplit(|b| *b == b'/')
                .find(|c| !c.is_empty())
                .unwrap_or(b"root");
            let mut pn = b"PaxHeaders/".to_vec();
            pn.extend_from_slice(base);
            set_field(&mut ph.as_old_mut().name, &pn);
            ph.set_mode(0o644);
            ph.set_size(body.len() as u64);
            ph.set_mtime(0);
            ph.set_cksum();
            self.b
                .append(&ph, &body[..])
                .map_err(|e| RootfsError::io("writing the layer tar", e))?;
        }
        h.set_cksum();
        self.b
            .append(&h, data)
            .map_err(|e| RootfsError::io("writing the layer tar", e))
    }

    fn base_header(
        kind: tar::EntryType,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: (i64, i64),
        opts: &DiffOptions,
    ) -> (tar::Header, PaxRecords) {
        let mut pax = Vec::new();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        let (mut secs, mut nanos) = mtime;
        if let Some(epoch) = opts.source_date_epoch {
            if secs >= epoch {
                secs = epoch;
                nanos = 0;
            }
        }
        h.set_mtime(secs.max(0) as u64);
        if nanos != 0 || secs < 0 {
            let v = if nanos != 0 {
                let f = format!("{nanos:09}");
                format!("{secs}.{}", f.trim_end_matches('0'))
            } else {
                secs.to_string()
            };
            pax.push((b"mtime".to_vec(), v.into_bytes()));
        }
        h.set_size(0);
        (h, pax)
    }

    fn whiteout(&mut self, p: &[u8], opts: &DiffOptions) -> Result<()> {
        let (h, pax) = Self::base_header(tar::EntryType::Regular, 0o644, 0, 0, (0, 0), opts);
        self.append(p, h, pax, None, &mut io::empty())
    }

    fn hardlink(&mut self, p: &[u8], n: &Node, target: &[u8], opts: &DiffOptions) -> Result<()> {
        let (h, pax) = Self::base_header(tar::EntryType::Link, n.mode, n.uid, n.gid, n.mtime, opts);
        self.append(p, h, pax, Some(target), &mut io::empty())
    }

    fn node(&mut self, root: &Path, p: &[u8], n: &Node, opts: &DiffOptions) -> Result<()> {
        let kind = match n.kind {
            Kind::Dir => tar::EntryType::Directory,
            Kind::File => tar::EntryType::Regular,
            Kind::Symlink => tar::EntryType::Symlink,
            Kind::Char => tar::EntryType::Char,
            Kind::Block => tar::EntryType::Block,
            Kind::Fifo => tar::EntryType::Fifo,
            Kind::Socket => return Ok(()),
        };
        let (mut h, mut pax) = Self::base_header(kind, n.mode, n.uid, n.gid, n.mtime, opts);
        for (k, v) in &n.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k);
            pax.push((key, v.clone()));
        }
        if matches!(n.kind, Kind::Char | Kind::Block) {
            h.set_device_major(n.rdev.0)
                .map_err(|e| RootfsError::io("device number", e))?;
            h.set_device_minor(n.rdev.1)
                .map_err(|e| RootfsError::io("device number", e))?;
        }
        let mut name = if p.is_empty() {
            b".".to_vec()
        } else {
            p.to_vec()
        };
        if n.kind == Kind::Dir {
            name.push(b'/');
        }
        let host = tree::host(root, p);
        match n.kind {
            Kind::File => {
                let f = File::open(&host)
                    .map_err(|e| RootfsError::io(format!("reading {}", host.display()), e))?;
                let len = f
                    .metadata()
                    .map_err(|e| RootfsError::io(format!("reading {}", host.display()), e))?
                    .len();
                h.set_size(len);
                // A file that changes while being written must not desynchronise the tar.
                let mut r = f.take(len).chain(io::repeat(0).take(len));
                let mut limited = (&mut r).take(len);
                self.append(&name, h, pax, None, &mut limited)
            }
            Kind::Symlink => {
                let l = n.link.clone().unwrap_or_default();
                self.append(&name, h, pax, Some(&l), &mut io::empty())
            }
            _ => self.append(&name, h, pax, None, &mut io::empty()),
        }
    }
}

/// Writes `src` as a plain tar (with its root entry) into `w`: the stream the layer cache
/// applies to copy a tree.
pub fn tar_tree<W: Write>(src: &Path, w: W) -> Result<LayerOutput> {
    write_layer(
        None,
        src,
        &DiffOptions {
            source_date_epoch: None,
            compression: LayerCompression::None,
            root_entry: true,
        },
        w,
    )
}
