//! Metadata in SQLite (WAL mode, so several `strata` processes can share one store).
//!
//! Schema (see `docs/STORE.md`):
//!
//! * `images(name, digest, media_type, size, created_at, updated_at)`: a name (a full
//!   reference such as `docker.io/library/alpine:latest`, or `@sha256:…` for a dangling
//!   image) points at a manifest or index descriptor.
//! * `blobs(digest, size, added_at)`: committed blobs.
//! * `edges(parent, child)`: manifest → config/layers, index → manifests; what GC follows.
//! * `layers(digest, diff_id, uncompressed_size, unpacked_size)`: facts about each layer
//!   computed once when it enters the store.
//! * `summaries(digest, manifest, config, created, size)`: what `image ls` shows for a
//!   name's target (the chosen platform's manifest, its config, creation time and
//!   Docker size), cached so that listing never reads blobs; dropped when a name is
//!   (re)pointed at the digest or the digest is collected.
//! * `leases(id, pid, expires_at)` and `lease_blobs(lease, digest)`: work in progress that
//!   GC must not touch.
//! * `snapshots(chain_id, config)`: which image configs use which layer-cache snapshot
//!   (see [`crate::snapshots`]).
//! * `scan_layers(chain_id, scanner, result)` and `scan_layer_users(chain_id, config)`:
//!   what the scanner's catalogers found in the filesystem of each chain ID, and which
//!   image configs use it (see [`crate::scan_cache`]).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use strata_oci::Digest;

use crate::gc::Lease;
use crate::Result;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS images (
    name        TEXT PRIMARY KEY,
    digest      TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_digest ON images(digest);
CREATE TABLE IF NOT EXISTS blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    added_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS edges (
    parent      TEXT NOT NULL,
    child       TEXT NOT NULL,
    PRIMARY KEY (parent, child)
);
CREATE INDEX IF NOT EXISTS edges_by_child ON edges(child);
CREATE TABLE IF NOT EXISTS layers (
    digest            TEXT PRIMARY KEY,
    diff_id           TEXT NOT NULL,
    uncompressed_size INTEGER NOT NULL,
    unpacked_size     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layers_by_diff_id ON layers(diff_id);
CREATE TABLE IF NOT EXISTS leases (
    id          TEXT PRIMARY KEY,
    pid         INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    chain_id    TEXT NOT NULL,
    config      TEXT NOT NULL,
    PRIMARY KEY (chain_id, config)
);
CREATE TABLE IF NOT EXISTS scan_layers (
    chain_id    TEXT NOT NULL,
    scanner     TEXT NOT NULL,
    result      BLOB NOT NULL,
    PRIMARY KEY (chain_id, scanner)
);
CREATE TABLE IF NOT EXISTS scan_layer_users (
    chain_id    TEXT NOT NULL,
    config      TEXT NOT NULL,
    PRIMARY KEY (chain_id, config)
);
CREATE TABLE IF NOT EXISTS summaries (
    digest        TEXT PRIMARY KEY,
    manifest      TEXT NOT NULL,
    config        TEXT NOT NULL,
    created       TEXT,
    size          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lease_blobs (
    lease       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    PRIMARY KEY (lease, digest)
);
"#;

/// One name → descriptor row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRecord {
    /// The full reference, or `@sha256:…` for a dangling image.
    pub name: String,
    /// Manifest or index digest (the image ID).
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// When the name was first set (Unix nanoseconds).
    pub created_at: i64,
    /// When the name was last moved (Unix nanoseconds): Docker's `LastTagTime`.
    pub updated_at: i64,
}

impl NameRecord {
    /// Whether this is a dangling (untagged) record.
    pub fn is_dangling(&self) -> bool {
        self.name.starts_with('@')
    }
}

/// What `image ls` needs about a name's target, cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The chosen platform's manifest (the target itself for a single manifest).
    pub manifest: Digest,
    /// Its config blob.
    pub config: Digest,
    /// The config's `created` (RFC 3339).
    pub created: Option<String>,
    /// Docker's size: the sum of the present layers' unpacked sizes.
    pub size: u64,
}

/// Facts about a layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// The blob digest (compressed or not, as stored).
    pub digest: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Docker's size for the layer: the bytes its files take once unpacked.
    pub unpacked_size: u64,
}

/// The metadata database.
pub struct Meta {
    conn: Mutex<Connection>,
}

/// Current time in Unix nanoseconds.
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

fn digest_col(s: String) -> rusqlite::Result<Digest> {
    Digest::parse(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Runs `f` again while SQLite answers BUSY without having waited (its deadlock
/// avoidance, and journal-mode changes, skip the busy handler), for up to 30 s.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// A 31-bit fingerprint of the schema text, kept in `PRAGMA user_version`: any change to
/// [`SCHEMA`] (a new table or index) makes stores apply it once more on their next open.
fn schema_version() -> i64 {
    let h = SCHEMA.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    });
    i64::from(h & 0x7fff_ffff)
}

impl Meta {
    /// Opens or creates the database.
    pub fn open(path: &Path) -> Result<Meta> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // Several processes may create the same store at once: switching a new database
        // to WAL takes an exclusive lock, and SQLite answers BUSY there without waiting.
        retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The schema is created (or completed) in one transaction, one fsync, and only
        // when `user_version` says this schema text was not applied yet: opening an
        // existing store takes no write lock at all.
        let version = schema_version();
        let current: i64 = retry_busy(|| conn.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        if current != version {
            let batch =
                format!("BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {version};\nCOMMIT;");
            retry_busy(|| {
                let r = conn.execute_batch(&batch);
                if r.is_err() {
                    let _ = conn.execute_batch("ROLLBACK;");
                }
                r
            })?;
        }
        Ok(Meta {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a committed blob and protects it with `lease`.
    pub fn record_blob(&self, d: &Digest, size: u64, lease: &Lease) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO blobs(digest, size, added_at) VALUES (?1, ?2, ?3)",
            params![d.to_string(), size as i64, now_nanos()],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO lease_blobs(lease, digest) VALUES (?1, ?2)",
            params![lease.id(), d.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every name joined with its cached summary, if any, sorted by name.
    pub fn names_with_summaries(&self) -> Result<Vec<(NameRecord, Option<Summary>)>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT i.name, i.digest, i.media_type, i.size, i.created_at, i.updated_at,
                    s.manifest, s.config, s.created, s.size
             FROM images i LEFT JOIN summaries s ON s.digest = i.digest ORDER BY i.name",
        )?;
        let rows = st
            .query_map([], |r| {
                let name = row_to_name(r)?;
                let summary = match r.get::<_, Option<String>>(6)? {
                    Some(m) => Some(Summary {
                        manifest: digest_col(m)?,
                        config: digest_col(r.get(7)?)?,
                        created: r.get(8)?,
                        size: r.get::<_, i64>(9)? as u64,
                    }),
                    None => None,
                };
                Ok((name, summary))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Caches the summaries of target digests, in one transaction.
    pub fn record_summaries(&self, items: &[(Digest, Summary)]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO summaries(digest, manifest, config, created, size) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (d, s) in items {
                st.execute(params![
                    d.to_string(),
                    s.manifest.to_string(),
                    s.config.to_string(),
                    s.created,
                    s.size as i64
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that `parent` references `children`.
    pub fn record_edges(&self, parent: &Digest, children: &[Digest]) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for ch in children {
            tx.execute(
                "INSERT OR IGNORE INTO edges(parent, child) VALUES (?1, ?2)",
                params![parent.to_string(), ch.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a layer's facts.
    pub fn record_layer(&self, l: &LayerRecord) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO layers(digest, diff_id, uncompressed_size, unpacked_size) VALUES (?1, ?2, ?3, ?4)",
            params![l.digest.to_string(), l.diff_id.to_string(), l.uncompressed_size as i64, l.unpacked_size as i64],
        )?;
        Ok(())
    }

    /// A layer's facts, if known.
    pub fn layer(&self, d: &Digest) -> Result<Option<LayerRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT digest, diff_id, uncompressed_size, unpacked_size FROM layers WHERE digest = ?1",
                [d.to_string()],
                |r| {
                    Ok(LayerRecord {
                        digest: digest_col(r.get(0)?)?,
                        diff_id: digest_col(r.get(1)?)?,
                        uncompressed_size: r.get::<_, i64>(2)? as u64,
                        unpacked_size: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Points `name` at a descriptor. Returns the digest it pointed at before, if any
    /// and different. When `dangle_old` and no other name keeps the old digest, the old
    /// image stays as a dangling record (Docker's "renaming the old one … to empty string").
    pub fn set_name(
        &self,
        name: &str,
        digest: &Digest,
        media_type: &str,
        size: u64,
        dangle_old: bool,
    ) -> Result<Option<Digest>> {
        let now = now_nanos();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let old: Option<String> = tx
            .query_row("SELECT digest FROM images WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let old = old.map(digest_col).transpose()?;
        match &old {
            Some(o) if o == digest => {
                tx.commit()?;
                return Ok(None);
            }
            Some(o) => {
                let others: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM images WHERE digest = ?1 AND name != ?2 AND name NOT LIKE '@%'",
                    params![o.to_string(), name],
                    |r| r.get(0),
                )?;
                if dangle_old && others == 0 {
                    tx.execute(
                        "INSERT OR IGNORE INTO images(name, digest, media_type, size, created_at, updated_at)
                         SELECT '@' || digest, digest, media_type, size, created_at, ?2 FROM images WHERE name = ?1",
                        params![name, now],
                    )?;
                }
                tx.execute(
                    "UPDATE images SET digest = ?2, media_type = ?3, size = ?4, updated_at = ?5 WHERE name = ?1",
                    params![name, digest.to_string(), media_type, size as i64, now],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO images(name, digest, media_type, size, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![name, digest.to_string(), media_type, size as i64, now],
                )?;
            }
        }
        // A tagged image is no longer dangling (setting the dangling name itself keeps it).
        if !name.starts_with('@') {
            tx.execute("DELETE FROM images WHERE name = ?1", [format!("@{digest}")])?;
        }
        tx.commit()?;
        Ok(old)
    }

    /// Removes a name. Returns the record that was removed.
    pub fn remove_name(&self, name: &str) -> Result<Option<NameRecord>> {
        let rec = self.name(name)?;
        if rec.is_some() {
            self.conn()
                .execute("DELETE FROM images WHERE name = ?1", [name])?;
        }
        Ok(rec)
    }

    /// One name's record.
    pub fn name(&self, name: &str) -> Result<Option<NameRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, digest, media_type, size, created_at, updated_at FROM images WHERE name = ?1",
                [name],
                row_to_name,
            )
            .optional()?)
    }

    /// Every name, sorted.
    pub fn names(&self) -> Result<Vec<NameRecord>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT name, digest, media_type, size, created_at, updated_at FROM images ORDER BY name",
        )?;
        let rows = st
            .query_map([], row_to_name)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every name pointing at `digest`.
    pub fn names_for(&self, digest: &Digest) -> Result<Vec<NameRecord>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT name, digest, media_type, size, created_at, updated_at FROM images WHERE digest = ?1 ORDER BY name",
        )?;
        let rows = st
            .query_map([digest.to_string()], row_to_name)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Children of a blob, from the edges table.
    pub fn children(&self, parent: &Digest) -> Result<Vec<Digest>> {
        let c = self.conn();
        let mut st = c.prepare_cached("SELECT child FROM edges WHERE parent = ?1")?;
        let rows = st
            .query_map([parent.to_string()], |r| digest_col(r.get(0)?))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every recorded blob with its size.
    pub fn blobs(&self) -> Result<Vec<(Digest, u64)>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT digest, size FROM blobs")?;
        let rows = st
            .query_map([], |r| {
                Ok((digest_col(r.get(0)?)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

fn row_to_name(r: &rusqlite::Row<'_>) -> rusqlite::Result<NameRecord> {
    Ok(NameRecord {
        name: r.get(0)?,
        digest: digest_col(r.get(1)?)?,
        media_type: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}
