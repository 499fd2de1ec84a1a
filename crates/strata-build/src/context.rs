//! What COPY and ADD read: the build context (minus `.dockerignore`), another stage's
//! root filesystem or an image's; the sources an instruction names (wildcards
//! included) resolved inside that tree; the content hash that keys the build cache and
//! appears in history (`file:<hash>`, `dir:<hash>`, `multi:<hash>`); and the tar stream
//! of the copied entries under their destination names, which the builder applies to
//! the working root filesystem with the layer applier (so every write resolves inside
//! the root, as a layer's do).

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use strata_oci::{Digest, Digester};

use crate::ignore::{clean, glob_match, has_wildcards, Ignore};

/// A tree sources are taken from.
#[derive(Debug, Clone)]
pub struct SourceTree {
    /// Its directory.
    pub root: PathBuf,
    /// `.dockerignore` (the build context only).
    pub ignore: Option<Ignore>,
}

/// One resolved source.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its path on the host.
    pub host: PathBuf,
    /// Its path relative to the tree.
    pub rel: String,
    /// Whether it is a directory (its content is copied).
    pub is_dir: bool,
}

/// One entry to write: a destination name (relative to the root filesystem) and where
/// its content comes from.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Destination path, relative, no leading `/`.
    pub name: String,
    /// Source on the host.
    pub host: PathBuf,
    /// Its metadata (not followed).
    pub meta: fs::Metadata,
}

const MAX_LINKS: usize = 40;

/// Resolves `rel` inside `root`, following symlinks as if `root` were `/`.
pub fn resolve_in(root: &Path, rel: &str) -> io::Result<PathBuf> {
    let mut parts: Vec<String> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect();
    parts.reverse();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = parts.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let mut p = root.to_path_buf();
        for x in &cur {
            p.push(x);
        }
        p.push(&c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let t = fs::read_link(&p)?;
                let t = t.to_string_lossy().to_string();
                if t.starts_with('/') {
                    cur.clear();
                }
                for x in t.split('/').rev() {
                    if !x.is_empty() && x != "." {
                        parts.push(x.to_string());
                    }
                }
            }
            Ok(_) => cur.push(c),
            Err(e) => return Err(e),
        }
    }
    let mut p = root.to_path_buf();
    for x in &cur {
        p.push(x);
    }
    Ok(p)
}

fn not_found(cmd: &str, src: &str) -> String {
    format!(
        "{cmd} failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
    )
}

impl SourceTree {
    fn excluded(&self, rel: &str) -> bool {
        self.ignore.as_ref().is_some_and(|i| i.excluded(rel))
    }

    /// Excluded itself, or under an excluded directory the context walk would skip.
    fn excluded_path(&self, rel: &str) -> bool {
        let Some(i) = &self.ignore else { return false };
        if i.excluded(rel) {
            return true;
        }
        if i.has_exceptions() {
            return false;
        }
        let mut p = String::new();
        for c in rel.split('/') {
            if !p.is_empty() {
                p.push('/');
            }
            p.push_str(c);
            if i.excluded(&p) {
                return true;
            }
        }
        false
    }

    /// Resolves the sources an instruction names.
    pub fn sources(&self, srcs: &[String], cmd: &str) -> Result<Vec<Source>, String> {
        let mut out = Vec::new();
        for s in srcs {
            let c = clean(s.trim_start_matches('/'));
            if c == ".." || c.starts_with("../") {
                return Err(format!("forbidden path outside the build context: {s} ()"));
            }
            let rel = if c == "." { String::new() } else { c };
            if has_wildcards(&rel) {
                let mut found = Vec::new();
                let depth = rel.split('/').count();
                self.walk_matching(Path::new(""), depth, &rel, &mut found)
                    .map_err(|e| format!("{cmd} failed: {e}"))?;
                if found.is_empty() {
                    return Err(format!("{cmd} failed: no source files were specified"));
                }
                found.sort();
                for r in found {
                    out.push(self.source(&r, cmd, s)?);
                }
            } else {
                out.push(self.source(&rel, cmd, s)?);
            }
        }
        Ok(out)
    }

    fn walk_matching(
        &self,
        dir: &Path,
        depth: usize,
        pattern: &str,
        found: &mut Vec<String>,
    ) -> io::Result<()> {
        if depth == 0 {
            return Ok(());
        }
        let host = self.root.join(dir);
        for e in fs::read_dir(&host)? {
            let e = e?;
            let rel = dir.join(e.file_name()).to_string_lossy().to_string();
            if glob_match(pattern, &rel) && !self.excluded(&rel) {
                found.push(rel.clone());
            }
            if e.file_type()?.is_dir() {
                self.walk_matching(Path::new(&rel), depth - 1, pattern, found)?;
            }
        }
        Ok(())
    }

    fn source(&self, rel: &str, cmd: &str, shown: &str) -> Result<Source, String> {
        if !rel.is_empty() && self.excluded_path(rel) {
            return Err(not_found(cmd, shown));
        }
        let host = resolve_in(&self.root, rel).map_err(|_| not_found(cmd, shown))?;
        let m = fs::metadata(&host).map_err(|_| not_found(cmd, shown))?;
        Ok(Source {
            host,
            rel: rel.to_string(),
            is_dir: m.is_dir(),
        })
    }

    /// The entries of a directory source, below `dest` (relative), excluded paths
    /// skipped, sorted.
    pub fn dir_entries(&self, src: &Source, dest: &str, out: &mut Vec<Entry>) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(&src.host)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            let n = n.to_string_lossy().to_string();
            let rel = if src.rel.is_empty() {
                n.clone()
            } else {
                format!("{}/{n}", src.rel)
            };
            if self.excluded(&rel) {
                // An excluded directory may still hold an exception.
                let host = src.host.join(&n);
                let is_dir = fs::symlink_metadata(&host)?.is_dir();
                if !(is_dir && self.ignore.as_ref().is_some_and(|i| i.has_exceptions())) {
                    continue;
                }
                let mut inner = Vec::new();
                let sub = Source {
                    host,
                    rel,
                    is_dir: true,
                };
                let name = join(dest, &n);
                self.dir_entries(&sub, &name, &mut inner)?;
                if !inner.is_empty() {
                    out.push(Entry {
                        name,
                        meta: fs::symlink_metadata(&sub.host)?,
                        host: sub.host.clone(),
                    });
                    out.extend(inner);
                }
                continue;
            }
            let host = src.host.join(&n);
            let meta = fs::symlink_metadata(&host)?;
            let name = join(dest, &n);
            let is_dir = meta.is_dir();
            out.push(Entry {
                name: name.clone(),
                host: host.clone(),
                meta,
            });
            if is_dir {
                let sub = Source {
                    host,
                    rel,
                    is_dir: true,
                };
                self.dir_entries(&sub, &name, out)?;
            }
        }
        Ok(())
    }
}

/// `a` + `/` + `b`, with no leading `/`.
pub fn join(a: &str, b: &str) -> String {
    let a = a.trim_matches('/');
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Owner and mode overrides of COPY/ADD (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// uid and gid (default 0:0, as Docker).
    pub owner: Option<(u32, u32)>,
    /// Permission bits for files and directories.
    pub mode: Option<u32>,
}

/// The content hash of entries (paths relative to the copy, types, permission bits,
/// link targets, contents; no times or owners): keys the cache, named in history.
pub fn content_hash(entries: &[Entry], strip: &str) -> io::Result<Digest> {
    let mut h = Digester::default();
    for e in entries {
        let name = e.name.strip_prefix(strip).unwrap_or(&e.name);
        let ft = e.meta.file_type();
        let kind = if ft.is_dir() {
            "d"
        } else if ft.is_symlink() {
            "l"
        } else if ft.is_file() {
            "f"
        } else {
            "o"
        };
        h.update(
            format!(
                "{name}\0{kind}\0{:o}\0{}\0",
                e.meta.mode() & 0o7777,
                e.meta.len()
            )
            .as_bytes(),
        );
        if ft.is_symlink() {
            h.update(fs::read_link(&e.host)?.as_os_str().as_encoded_bytes());
        } else if ft.is_file() {
            let mut f = fs::File::open(&e.host)?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        h.update(b"\n");
    }
    Ok(h.finish())
}

/// Writes `entries` as a tar (sorted as given) with the overrides applied; special
/// files (devices, sockets, FIFOs) are skipped.
/// `dirs` (created first, mode 0755, owned like the entries) are the missing parents.
pub fn write_tar<W: Write>(
    dirs: &[String],
    entries: &[Entry],
    ov: Overrides,
    w: W,
) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    b.mode(tar::HeaderMode::Complete);
    let (uid, gid) = ov.owner.unwrap_or((0, 0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(now);
        h.set_size(0);
        b.append_data(&mut h, format!("{d}/"), io::empty())?;
    }
    for e in entries {
        let ft = e.meta.file_type();
        let mut h = tar::Header::new_gnu();
        let perm = e.meta.permissions().mode() & 0o7777;
        let mode = match ov.mode {
            Some(m) if !ft.is_symlink() => m,
            _ => perm,
        };
        h.set_mode(mode);
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(e.meta.mtime().max(0) as u64);
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, format!("{}/", e.name), io::empty())?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            let target = fs::read_link(&e.host)?;
            b.append_link(&mut h, &e.name, target)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            let f = fs::File::open(&e.host)?;
            let len = f.metadata()?.len();
            h.set_size(len);
            b.append_data(&mut h, &e.name, f.take(len))?;
        }
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("d/sub")).unwrap();
        fs::write(p.join("d/a"), "a").unwrap();
        fs::write(p.join("d/sub/b"), "b").unwrap();
        fs::write(p.join("x.txt"), "x").unwrap();
        fs::write(p.join("y.txt"), "y").unwrap();
        fs::write(p.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("d/a", p.join("link")).unwrap();
        std::os::unix::fs::symlink("../../etc/passwd", p.join("escape")).unwrap();
        d
    }

    #[test]
    fn sources_wildcards_ignore_and_escape() {
        let d = tree();
        let t = SourceTree {
            root: d.path().to_path_buf(),
            ignore: Some(Ignore::parse("secret\nd/sub\n").unwrap()),
        };
        let s = t.sources(&["*.txt".into()], "COPY").unwrap();
        let rels: Vec<_> = s.iter().map(|s| s.rel.as_str()).collect();
        assert_eq!(rels, vec!["x.txt", "y.txt"]);
        let e = t.sources(&["secret".into()], "COPY").unwrap_err();
        assert_eq!(e, "COPY failed: file not found in build context or excluded by .dockerignore: stat secret: file does not exist");
        assert!(t
            .sources(&["../x".into()], "COPY")
            .unwrap_err()
            .starts_with("forbidden path outside the build context"));
        // A symlink is followed inside the context only.
        let s = t.sources(&["link".into()], "COPY").unwrap();
        assert_eq!(s[0].host, d.path().join("d/a"));
        assert!(t.sources(&["escape".into()], "COPY").is_err());
        // Directory content without the excluded subdirectory.
        let s = t.sources(&["d".into()], "COPY").unwrap();
        let mut entries = Vec::new();
        t.dir_entries(&s[0], "dst", &mut entries).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["dst/a"]);
    }

    #[test]
    fn hash_ignores_times_but_not_content() {
        let d = tree();
        let t = SourceTree {
            root: d.path().to_path_buf(),
            ignore: None,
        };
        let s = t.sources(&["d".into()], "COPY").unwrap();
        let mut e1 = Vec::new();
        t.dir_entries(&s[0], "x", &mut e1).unwrap();
        let h1 = content_hash(&e1, "x/").unwrap();
        let f = fs::File::options()
            .write(true)
            .open(d.path().join("d/a"))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH).unwrap();
        let mut e2 = Vec::new();
        t.dir_entries(&s[0], "y", &mut e2).unwrap();
        assert_eq!(content_hash(&e2, "y/").unwrap(), h1);
        fs::write(d.path().join("d/a"), "changed").unwrap();
        let mut e3 = Vec::new();
        t.dir_entries(&s[0], "x", &mut e3).unwrap();
        assert_ne!(content_hash(&e3, "x/").unwrap(), h1);
    }

    #[test]
    fn tar_applies_overrides() {
        let d = tree();
        let t = SourceTree {
            root: d.path().to_path_buf(),
            ignore: None,
        };
        let s = t.sources(&["d".into()], "COPY").unwrap();
        let mut e = Vec::new();
        t.dir_entries(&s[0], "dst", &mut e).unwrap();
        let tar = write_tar(
            &["dst".to_string()],
            &e,
            Overrides {
                owner: Some((7, 8)),
                mode: Some(0o700),
            },
            Vec::new(),
        )
        .unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for x in a.entries().unwrap() {
            let x = x.unwrap();
            let h = x.header();
            seen.push((
                x.path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            ));
        }
        assert_eq!(
            seen,
            vec![
                ("dst".to_string(), 0o755, 7, 8),
                ("dst/a".to_string(), 0o700, 7, 8),
                ("dst/sub".to_string(), 0o700, 7, 8),
                ("dst/sub/b".to_string(), 0o700, 7, 8)
            ]
        );
    }
}
