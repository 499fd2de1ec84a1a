//! `vulndb update`: downloads OSV's per-ecosystem exports (`<base>/<ECOSYSTEM>/all.zip`)
//! and imports each in one transaction.

use futures_util::StreamExt;

use crate::vulndb::{ImportReport, VulnDb};
use crate::ScanError;

/// OSV's public bucket.
pub const DEFAULT_BASE_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// Ecosystems fetched when none are named and none were fetched before.
pub const DEFAULT_ECOSYSTEMS: &[&str] = &[
    "Debian",
    "Ubuntu",
    "Alpine",
    "Rocky Linux",
    "AlmaLinux",
    "PyPI",
    "npm",
    "Go",
    "crates.io",
    "Maven",
    "RubyGems",
];

/// Progress of an update.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Bytes of an ecosystem's archive received so far (and the total when known).
    Downloading {
        /// Ecosystem.
        ecosystem: &'a str,
        /// Bytes so far.
        done: u64,
        /// Content length, when sent.
        total: Option<u64>,
    },
    /// The archive was imported.
    Imported {
        /// Ecosystem.
        ecosystem: &'a str,
        /// Archive size.
        bytes: u64,
        /// What the import did.
        report: ImportReport,
    },
}

fn escape(seg: &str) -> String {
    let mut out = String::new();
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL of an ecosystem's export.
pub fn archive_url(base: &str, ecosystem: &str) -> String {
    format!(
        "{}/{}/all.zip",
        base.trim_end_matches('/'),
        escape(ecosystem)
    )
}

/// Largest archive accepted.
const MAX_ARCHIVE: u64 = 2 << 30;

/// Downloads and imports each ecosystem in turn. An ecosystem that fails leaves its
/// previous records in place and stops the update with an error naming it.
pub async fn update(
    db: &mut VulnDb,
    base: &str,
    ecosystems: &[String],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<(String, ImportReport)>, ScanError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| ScanError::Invalid(format!("HTTP client: {e}")))?;
    let mut out = Vec::new();
    for eco in ecosystems {
        let url = archive_url(base, eco);
        let fail = |e: String| ScanError::Invalid(format!("{eco}: GET {url}: {e}"));
        let resp = client
            .get(&url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(resp.status().to_string()));
        }
        let total = resp.content_length();
        if total.is_some_and(|t| t > MAX_ARCHIVE) {
            return Err(fail("archive too large".into()));
        }
        let mut data: Vec<u8> = Vec::with_capacity(total.unwrap_or(0).min(MAX_ARCHIVE) as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(e.to_string()))?;
            data.extend_from_slice(&chunk);
            if data.len() as u64 > MAX_ARCHIVE {
                return Err(fail("archive too large".into()));
            }
            progress(Progress::Downloading {
                ecosystem: eco,
                done: data.len() as u64,
                total,
            });
        }
        if let Some(t) = total {
            if data.len() as u64 != t {
                return Err(fail(format!("short read: {} of {t} bytes", data.len())));
            }
        }
        let report = db.import_zip(eco, &url, &data)?;
        progress(Progress::Imported {
            ecosystem: eco,
            bytes: data.len() as u64,
            report: report.clone(),
        });
        out.push((eco.clone(), report));
    }
    Ok(out)
}

/// Ecosystems fetched by earlier updates.
pub fn previous_ecosystems(db: &VulnDb) -> Result<Vec<String>, ScanError> {
    Ok(db
        .status()?
        .sources
        .into_iter()
        .filter(|s| s.kind == "update")
        .map(|s| s.name)
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls() {
        assert_eq!(
            super::archive_url("http://h/osv/", "Rocky Linux"),
            "http://h/osv/Rocky%20Linux/all.zip"
        );
        assert_eq!(
            super::archive_url("http://h", "crates.io"),
            "http://h/crates.io/all.zip"
        );
    }
}
