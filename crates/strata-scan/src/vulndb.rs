//! The local vulnerability database: OSV records in SQLite, indexed by ecosystem and
//! package.
//!
//! Imports run in one transaction: a file that fails to parse (or any other error)
//! rolls everything back, leaving the previous database as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::osv::{Affected, Record};
use crate::version::pep440::normalize_name;
use crate::ScanError;

/// Largest single OSV file accepted.
const MAX_RECORD: u64 = 64 << 20;

/// An open vulnerability database.
pub struct VulnDb {
    conn: Connection,
    path: PathBuf,
}

/// One source (an import path or an updated ecosystem) as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// Name: the ecosystem for updates, the path for imports.
    pub name: String,
    /// `import` or `update`.
    pub kind: String,
    /// Where it came from (path or URL).
    pub location: String,
    /// When it was last loaded (RFC 3339).
    pub updated_at: String,
    /// Records it brought in.
    pub records: i64,
}

/// The database's state.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The database file.
    pub path: String,
    /// Records, withdrawn ones included.
    pub records: i64,
    /// Withdrawn records.
    pub withdrawn: i64,
    /// Affected-package rows per ecosystem.
    pub ecosystems: Vec<(String, i64)>,
    /// Sources.
    pub sources: Vec<SourceStatus>,
}

/// A candidate from the database: a record and one of its affected entries.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The record (without its `affected` list).
    pub record: Record,
    /// The affected entry that names the package.
    pub affected: Affected,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Records written.
    pub records: usize,
    /// Files read.
    pub files: usize,
}

/// The name under which a package is stored and looked up for an ecosystem.
pub fn normalize_package(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "PyPI" => normalize_name(name),
        _ => name.to_string(),
    }
}

impl VulnDb {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<VulnDb, ScanError> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS vulns(
                id TEXT PRIMARY KEY, modified TEXT NOT NULL, withdrawn TEXT, source TEXT NOT NULL,
                record TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS affected(
                vuln_id TEXT NOT NULL, ecosystem TEXT NOT NULL, package TEXT NOT NULL,
                data TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS affected_pkg ON affected(ecosystem, package);
             CREATE INDEX IF NOT EXISTS affected_vuln ON affected(vuln_id);
             CREATE TABLE IF NOT EXISTS aliases(alias TEXT NOT NULL, vuln_id TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS aliases_alias ON aliases(alias);
             CREATE INDEX IF NOT EXISTS aliases_vuln ON aliases(vuln_id);
             CREATE TABLE IF NOT EXISTS sources(
                name TEXT PRIMARY KEY, kind TEXT NOT NULL, location TEXT NOT NULL,
                updated_at TEXT NOT NULL, records INTEGER NOT NULL);",
        )?;
        Ok(VulnDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Imports OSV JSON from `path`: one file (a record or an array of records), a folder
    /// of them (recursively), or a ZIP of them (an ecosystem's `all.zip`). All or nothing.
    /// Files are read and parsed one at a time, inside the transaction.
    pub fn import_path(&mut self, path: &Path) -> Result<ImportReport, ScanError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ScanError::Invalid(format!("{}: {e}", path.display())))?;
        let mut items: Vec<Item> = Vec::new();
        if meta.is_dir() {
            collect_dir(path, &mut items)?;
        } else {
            push_file(path, &mut items)?;
        }
        let location = std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string();
        self.import_items(&items, &location, "import", &location)
    }

    /// Imports the JSON files of a ZIP held in memory as source `name`.
    pub fn import_zip(
        &mut self,
        name: &str,
        location: &str,
        data: &[u8],
    ) -> Result<ImportReport, ScanError> {
        let mut items = Vec::new();
        zip_items(location, Arc::new(data.to_vec()), &mut items)?;
        self.import_items(&items, name, "update", location)
    }

    fn import_items(
        &mut self,
        items: &[Item],
        source: &str,
        kind: &str,
        location: &str,
    ) -> Result<ImportReport, ScanError> {
        let mut count = 0usize;
        let tx = self.conn.transaction()?;
        {
            // Loading a source again replaces what it brought before (records it no
            // longer has go away).
            tx.execute(
                "DELETE FROM affected WHERE vuln_id IN (SELECT id FROM vulns WHERE source = ?1)",
                params![source],
            )?;
            tx.execute(
                "DELETE FROM aliases WHERE vuln_id IN (SELECT id FROM vulns WHERE source = ?1)",
                params![source],
            )?;
            tx.execute("DELETE FROM vulns WHERE source = ?1", params![source])?;
            let mut del_alias = tx.prepare("DELETE FROM aliases WHERE vuln_id = ?1")?;
            let mut ins_alias =
                tx.prepare("INSERT INTO aliases(alias, vuln_id) VALUES (?1, ?2)")?;
            let mut del = tx.prepare("DELETE FROM affected WHERE vuln_id = ?1")?;
            let mut ins = tx.prepare(
                "INSERT OR REPLACE INTO vulns(id, modified, withdrawn, source, record) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut aff = tx.prepare(
                "INSERT INTO affected(vuln_id, ecosystem, package, data) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for item in items {
                let (name, data) = item.load()?;
                for r in parse_records(&name, &data)? {
                    let mut slim = r.clone();
                    slim.affected.clear();
                    del.execute(params![r.id])?;
                    del_alias.execute(params![r.id])?;
                    for a in r.aliases.iter().chain(&r.upstream) {
                        ins_alias.execute(params![a, r.id])?;
                    }
                    ins.execute(params![
                        r.id,
                        r.modified,
                        r.withdrawn,
                        source,
                        serde_json::to_string(&slim).unwrap_or_default()
                    ])?;
                    for a in &r.affected {
                        let Some(p) = &a.package else { continue };
                        if p.ecosystem.is_empty() || p.name.is_empty() {
                            continue;
                        }
                        aff.execute(params![
                            r.id,
                            p.ecosystem,
                            normalize_package(&p.ecosystem, &p.name),
                            serde_json::to_string(a).unwrap_or_default()
                        ])?;
                    }
                    count += 1;
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO sources(name, kind, location, updated_at, records) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    source,
                    kind,
                    location,
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    count as i64
                ],
            )?;
        }
        tx.commit()?;
        Ok(ImportReport {
            records: count,
            files: items.len(),
        })
    }

    /// Candidates for a package: affected entries of non-withdrawn records naming it in
    /// one of `ecosystems` (an entry ending in `*` matches ecosystems by prefix).
    pub fn candidates(
        &self,
        ecosystems: &[String],
        package: &str,
    ) -> Result<Vec<Candidate>, ScanError> {
        let mut out = Vec::new();
        for eco in ecosystems {
            let (sql, pat) = match eco.strip_suffix('*') {
                Some(prefix) => (
                    "SELECT v.record, a.data FROM affected a JOIN vulns v ON v.id = a.vuln_id
                     WHERE a.ecosystem LIKE ?1 ESCAPE '\\' AND a.package = ?2 AND v.withdrawn IS NULL",
                    format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")),
                ),
                None => (
                    "SELECT v.record, a.data FROM affected a JOIN vulns v ON v.id = a.vuln_id
                     WHERE a.ecosystem = ?1 AND a.package = ?2 AND v.withdrawn IS NULL",
                    eco.clone(),
                ),
            };
            let base = eco.trim_end_matches('*');
            let mut st = self.conn.prepare_cached(sql)?;
            let rows = st.query_map(params![pat, normalize_package(base, package)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (rec, data) = row?;
                let record: Record = serde_json::from_str(&rec)
                    .map_err(|e| ScanError::Invalid(format!("stored record: {e}")))?;
                let affected: Affected = serde_json::from_str(&data)
                    .map_err(|e| ScanError::Invalid(format!("stored record: {e}")))?;
                out.push(Candidate { record, affected });
            }
        }
        Ok(out)
    }

    /// Records describing the same vulnerability as `ids` (an ID or alias of one of
    /// them), withdrawn ones excluded: where a severity can come from when a record has
    /// none of its own.
    pub fn related(&self, ids: &[String], except: &str) -> Result<Vec<Record>, ScanError> {
        let mut out: Vec<Record> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        seen.insert(except.to_string());
        let mut by_id = self.conn.prepare_cached(
            "SELECT id, record FROM vulns WHERE id = ?1 AND withdrawn IS NULL
             UNION SELECT v.id, v.record FROM aliases a JOIN vulns v ON v.id = a.vuln_id
             WHERE a.alias = ?1 AND v.withdrawn IS NULL",
        )?;
        for id in ids {
            let rows = by_id.query_map(params![id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (vid, rec) = row?;
                if seen.insert(vid) {
                    if let Ok(r) = serde_json::from_str::<Record>(&rec) {
                        out.push(r);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether any record is loaded.
    pub fn is_empty(&self) -> Result<bool, ScanError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM vulns", [], |r| r.get(0))?;
        Ok(n == 0)
    }

    /// A record by ID.
    pub fn record(&self, id: &str) -> Result<Option<Record>, ScanError> {
        let rec: Option<String> = self
            .conn
            .query_row("SELECT record FROM vulns WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        Ok(rec.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// The database's state.
    pub fn status(&self) -> Result<Status, ScanError> {
        let records: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM vulns", [], |r| r.get(0))?;
        let withdrawn: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM vulns WHERE withdrawn IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        let mut st = self
            .conn
            .prepare("SELECT ecosystem, COUNT(DISTINCT vuln_id) FROM affected GROUP BY ecosystem ORDER BY ecosystem")?;
        let ecosystems = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = self.conn.prepare(
            "SELECT name, kind, location, updated_at, records FROM sources ORDER BY name",
        )?;
        let sources = st
            .query_map([], |r| {
                Ok(SourceStatus {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    location: r.get(2)?,
                    updated_at: r.get(3)?,
                    records: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Status {
            path: self.path.display().to_string(),
            records,
            withdrawn,
            ecosystems,
            sources,
        })
    }
}

/// One input of an import, read when its turn comes.
enum Item {
    /// A JSON file.
    File(PathBuf),
    /// A JSON entry of a ZIP held in memory.
    Zip {
        name: String,
        data: Arc<Vec<u8>>,
        entry: crate::zip::ZipEntry,
    },
}

impl Item {
    fn load(&self) -> Result<(String, Vec<u8>), ScanError> {
        match self {
            Item::File(p) => Ok((p.display().to_string(), std::fs::read(p)?)),
            Item::Zip { name, data, entry } => {
                let content = crate::zip::read(data, entry, MAX_RECORD)
                    .map_err(|err| ScanError::Invalid(format!("{name}: {err}")))?;
                Ok((format!("{name}:{}", entry.name), content))
            }
        }
    }
}

fn parse_records(name: &str, data: &[u8]) -> Result<Vec<Record>, ScanError> {
    let v: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| ScanError::Invalid(format!("{name}: invalid OSV JSON: {e}")))?;
    let items = match v {
        serde_json::Value::Array(a) => a,
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let r: Record = serde_json::from_value(item)
            .map_err(|e| ScanError::Invalid(format!("{name}: invalid OSV record: {e}")))?;
        if r.id.is_empty() {
            return Err(ScanError::Invalid(format!(
                "{name}: OSV record without an id"
            )));
        }
        out.push(r);
    }
    Ok(out)
}

fn push_file(p: &Path, out: &mut Vec<Item>) -> Result<(), ScanError> {
    let mut head = [0u8; 4];
    let n = std::fs::File::open(p).and_then(|mut f| {
        use std::io::Read;
        f.read(&mut head)
    })?;
    if n == 4 && (&head == b"PK\x03\x04" || &head == b"PK\x05\x06") {
        let data = std::fs::read(p)?;
        zip_items(&p.display().to_string(), Arc::new(data), out)
    } else {
        out.push(Item::File(p.to_path_buf()));
        Ok(())
    }
}

fn collect_dir(dir: &Path, out: &mut Vec<Item>) -> Result<(), ScanError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_type()?.is_dir() {
            collect_dir(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "json" || x == "zip") {
            push_file(&p, out)?;
        }
    }
    Ok(())
}

fn zip_items(name: &str, data: Arc<Vec<u8>>, out: &mut Vec<Item>) -> Result<(), ScanError> {
    let entries = crate::zip::entries(&data)
        .ok_or_else(|| ScanError::Invalid(format!("{name}: not a valid ZIP archive")))?;
    for entry in entries {
        if entry.name.ends_with(".json") {
            out.push(Item::Zip {
                name: name.to_string(),
                data: data.clone(),
                entry,
            });
        }
    }
    Ok(())
}
