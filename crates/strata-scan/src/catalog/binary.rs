//! Executables with embedded dependency information: Go's build info (modules, replaces,
//! the toolchain as `stdlib`) and cargo-auditable's `.dep-v0` section in Rust binaries.
//!
//! While layers stream past, [`summarize`] reduces such a binary to a small JSON summary
//! (the whole binary is never kept); [`catalog`] turns summaries into packages.

use std::io::Read;

use serde_json::{json, Value};

use crate::fs::ImageFs;
use crate::package::{Package, PkgType};

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let off = hay[i..].iter().position(|b| *b == first)?;
        i += off;
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        x |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

/// Go build info: the Go version and the module info text. Go 1.18+ stores the strings
/// inline after the header; Go 1.13–1.17 stores pointers to string headers, read here
/// through the ELF sections' virtual addresses.
pub fn go_buildinfo(data: &[u8]) -> Option<(String, String)> {
    let at = find(data, GO_MAGIC)?;
    let hdr = data.get(at..at + 32)?;
    let ptr_size = hdr[14] as usize;
    let flags = hdr[15];
    let (version, mut modinfo) = if flags & 0x2 != 0 {
        let mut p = at + 32;
        let (n, k) = uvarint(data.get(p..)?)?;
        p += k;
        let version = data.get(p..p + n as usize)?.to_vec();
        p += n as usize;
        let (n, k) = uvarint(data.get(p..)?)?;
        p += k;
        (version, data.get(p..p + n as usize)?.to_vec())
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return None;
        }
        let big = flags & 0x1 != 0;
        let sections = elf_sections(data)?;
        let word = |off: usize| -> Option<u64> {
            let b = data.get(off..off + ptr_size)?;
            let mut v = 0u64;
            for i in 0..ptr_size {
                let byte = if big { b[i] } else { b[ptr_size - 1 - i] };
                v = (v << 8) | byte as u64;
            }
            Some(v)
        };
        let at_va = |va: u64| -> Option<usize> {
            sections
                .iter()
                .find(|s| s.addr != 0 && va >= s.addr && va < s.addr + s.size)
                .map(|s| (s.offset + (va - s.addr)) as usize)
        };
        let read_string = |ptr_off: usize| -> Option<Vec<u8>> {
            let hdr_va = word(ptr_off)?;
            let h = at_va(hdr_va)?;
            let data_va = word(h)?;
            let len = word(h + ptr_size)? as usize;
            if len > 16 << 20 {
                return None;
            }
            let d = at_va(data_va)?;
            Some(data.get(d..d + len)?.to_vec())
        };
        (read_string(at + 16)?, read_string(at + 16 + ptr_size)?)
    };
    // Module info is framed by 16-byte sentinels.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = modinfo[16..modinfo.len() - 16].to_vec();
    }
    Some((
        String::from_utf8_lossy(&version).into_owned(),
        String::from_utf8_lossy(&modinfo).into_owned(),
    ))
}

/// An ELF section header.
#[derive(Debug, Clone)]
pub struct Section {
    /// Name.
    pub name: String,
    /// Virtual address (0 when not loaded).
    pub addr: u64,
    /// File offset.
    pub offset: u64,
    /// Size.
    pub size: u64,
}

/// The section headers of an ELF file.
pub fn elf_sections(data: &[u8]) -> Option<Vec<Section>> {
    if !data.starts_with(b"\x7fELF") {
        return None;
    }
    let is64 = data.get(4)? == &2;
    let le = data.get(5)? == &1;
    let rd = |at: usize, n: usize| -> Option<u64> {
        let b = data.get(at..at + n)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { b[n - 1 - i] } else { b[i] };
            v = (v << 8) | byte as u64;
        }
        Some(v)
    };
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (rd(0x28, 8)?, rd(0x3a, 2)?, rd(0x3c, 2)?, rd(0x3e, 2)?)
    } else {
        (rd(0x20, 4)?, rd(0x2e, 2)?, rd(0x30, 2)?, rd(0x32, 2)?)
    };
    let raw = |i: u64| -> Option<(u64, u64, u64, u64)> {
        let base = (shoff + i * shentsize) as usize;
        if is64 {
            Some((
                rd(base, 4)?,
                rd(base + 0x10, 8)?,
                rd(base + 0x18, 8)?,
                rd(base + 0x20, 8)?,
            ))
        } else {
            Some((
                rd(base, 4)?,
                rd(base + 0x0c, 4)?,
                rd(base + 0x10, 4)?,
                rd(base + 0x14, 4)?,
            ))
        }
    };
    let (_, _, stroff, strsize) = raw(shstrndx)?;
    let strtab = data.get(stroff as usize..(stroff + strsize) as usize)?;
    let mut out = Vec::new();
    for i in 0..shnum.min(4096) {
        let (nameoff, addr, offset, size) = raw(i)?;
        let n = strtab.get(nameoff as usize..).unwrap_or_default();
        let end = n.iter().position(|b| *b == 0).unwrap_or(0);
        out.push(Section {
            name: String::from_utf8_lossy(&n[..end]).into_owned(),
            addr,
            offset,
            size,
        });
    }
    Some(out)
}

/// The content of an ELF section by name.
pub fn elf_section<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let s = elf_sections(data)?.into_iter().find(|s| s.name == name)?;
    data.get(s.offset as usize..(s.offset + s.size) as usize)
}

/// Reduces an executable to a JSON summary of its embedded dependency information.
pub fn summarize(data: &[u8]) -> Option<Vec<u8>> {
    if let Some(dep) = elf_section(data, ".dep-v0") {
        let mut json = Vec::new();
        flate2::read::ZlibDecoder::new(dep)
            .take(64 << 20)
            .read_to_end(&mut json)
            .ok()?;
        let v: Value = serde_json::from_slice(&json).ok()?;
        return serde_json::to_vec(&json!({"kind": "rust", "audit": v})).ok();
    }
    let (version, modinfo) = go_buildinfo(data)?;
    serde_json::to_vec(&json!({"kind": "go", "version": version, "modinfo": modinfo})).ok()
}

fn go_packages(path: &str, version: &str, modinfo: &str) -> Vec<Package> {
    let mut out: Vec<Package> = Vec::new();
    let mut last_dep: Option<usize> = None;
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.first().copied() {
            Some("mod") | Some("dep") if f.len() >= 3 => {
                if f[2] == "(devel)" || f[2].is_empty() {
                    last_dep = None;
                    continue;
                }
                out.push(Package::new(PkgType::GoModule, f[1], f[2], path));
                last_dep = Some(out.len() - 1);
            }
            Some("=>") if f.len() >= 3 => {
                if let Some(i) = last_dep {
                    // A replaced module: report the replacement (a local path has no version).
                    if f[2].is_empty() {
                        out.remove(i);
                        last_dep = None;
                    } else {
                        out[i].name = f[1].to_string();
                        out[i].version = f[2].to_string();
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(v) = version.strip_prefix("go") {
        let v = v.split_whitespace().next().unwrap_or(v);
        out.push(Package::new(
            PkgType::GoModule,
            "stdlib",
            &format!("go{v}"),
            path,
        ));
    }
    out
}

fn rust_packages(path: &str, audit: &Value) -> Vec<Package> {
    let mut out = Vec::new();
    for p in audit
        .get("packages")
        .and_then(|x| x.as_array())
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(version)) = (
            p.get("name").and_then(|x| x.as_str()),
            p.get("version").and_then(|x| x.as_str()),
        ) else {
            continue;
        };
        if p.get("kind").and_then(|x| x.as_str()) == Some("build") {
            continue;
        }
        out.push(Package::new(PkgType::RustCrate, name, version, path));
    }
    out
}

/// Packages from every executable summary.
pub fn catalog(fs: &dyn ImageFs) -> Vec<Package> {
    let mut out = Vec::new();
    for path in fs.files() {
        let Some(s) = fs.summary(&path) else { continue };
        let Ok(v) = serde_json::from_slice::<Value>(&s) else {
            continue;
        };
        match v.get("kind").and_then(|k| k.as_str()) {
            Some("go") => out.extend(go_packages(
                &path,
                v["version"].as_str().unwrap_or(""),
                v["modinfo"].as_str().unwrap_or(""),
            )),
            Some("rust") => out.extend(rust_packages(&path, &v["audit"])),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modinfo_with_replace() {
        let m = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.17.0\th1:x\ndep\tgithub.com/a/b\tv1.0.0\th1:y\n=>\tgithub.com/fork/b\tv1.0.1\th1:z\ndep\tgithub.com/c/d\tv2.0.0\n=>\t../local\t\t\nbuild\t-compiler=gc\n";
        let p = go_packages("bin/app", "go1.21.3", m);
        let got: Vec<(String, String)> = p
            .iter()
            .map(|x| (x.name.clone(), x.version.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("golang.org/x/net".to_string(), "v0.17.0".to_string()),
                ("github.com/fork/b".to_string(), "v1.0.1".to_string()),
                ("stdlib".to_string(), "go1.21.3".to_string()),
            ]
        );
    }
}
