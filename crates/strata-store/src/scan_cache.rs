//! The scan cache: what an image scanner found in the filesystem state named by each
//! chain ID, so that scanning an image whose lower layers were scanned before (as part of
//! any image) only reads the layers above them.
//!
//! Two tables (see `docs/STORE.md`):
//!
//! * `scan_layers(chain_id, scanner, result)`: the scanner's opaque result (JSON written
//!   by `strata-scan`) for the filesystem of layers `0..=i` of an image whose layer `i`
//!   has this chain ID. `scanner` names the cataloger set and its version; a row written by
//!   another version is never read, and recording a result drops the rows other versions
//!   wrote for the same chain ID, so an upgrade does not leave stale rows behind.
//! * `scan_layer_users(chain_id, config)`: which image configs use which chain ID. The
//!   store's garbage collector drops the users whose config is no longer live, then every
//!   result no user is left for, as it does for the snapshots of the layer cache.
//!
//! A result is a cache: a row that cannot be parsed is the scanner's to ignore (it scans
//! the layers again and records a fresh row over it).

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};
use strata_oci::Digest;

use crate::{Result, Store};

impl Store {
    /// The recorded results of `scanner` for each of `chains`, in order (None where there
    /// is none).
    pub fn scan_results(&self, scanner: &str, chains: &[Digest]) -> Result<Vec<Option<Vec<u8>>>> {
        let c = self.meta().conn();
        let mut st = c.prepare_cached(
            "SELECT result FROM scan_layers WHERE chain_id = ?1 AND scanner = ?2",
        )?;
        let mut out = Vec::with_capacity(chains.len());
        for chain in chains {
            let row: Option<Vec<u8>> = st
                .query_row(params![chain.to_string(), scanner], |r| r.get(0))
                .optional()?;
            out.push(row);
        }
        Ok(out)
    }

    /// Records, in one transaction, that the image with config `config` uses every chain
    /// ID in `used`, and the `results` of `scanner` for some chain IDs (replacing what any
    /// scanner recorded for them before).
    pub fn record_scan_results(
        &self,
        scanner: &str,
        config: &Digest,
        used: &[Digest],
        results: &[(Digest, Vec<u8>)],
    ) -> Result<()> {
        let mut c = self.meta().conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut user = tx.prepare_cached(
                "INSERT OR IGNORE INTO scan_layer_users(chain_id, config) VALUES (?1, ?2)",
            )?;
            for chain in used {
                user.execute(params![chain.to_string(), config.to_string()])?;
            }
            let mut clear = tx.prepare_cached("DELETE FROM scan_layers WHERE chain_id = ?1")?;
            let mut put = tx.prepare_cached(
                "INSERT INTO scan_layers(chain_id, scanner, result) VALUES (?1, ?2, ?3)",
            )?;
            for (chain, result) in results {
                clear.execute([chain.to_string()])?;
                put.execute(params![chain.to_string(), scanner, result])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Drops the users whose config is not in `live` and every result no user is left
    /// for; returns how many results went.
    pub(crate) fn collect_scan_results(&self, live: &HashSet<Digest>) -> Result<usize> {
        let mut c = self.meta().conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let users: Vec<(String, String)> = {
            let mut st = tx.prepare("SELECT chain_id, config FROM scan_layer_users")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (chain, config) in users {
            if !Digest::parse(&config).is_ok_and(|d| live.contains(&d)) {
                tx.execute(
                    "DELETE FROM scan_layer_users WHERE chain_id = ?1 AND config = ?2",
                    params![chain, config],
                )?;
            }
        }
        let removed = tx.execute(
            "DELETE FROM scan_layers WHERE chain_id NOT IN (SELECT chain_id FROM scan_layer_users)",
            [],
        )?;
        tx.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    #[test]
    fn results_are_per_scanner_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = chain(100);
        let (a, b) = (chain(1), chain(2));
        store
            .record_scan_results(
                "v1",
                &config,
                &[a.clone(), b.clone()],
                &[(a.clone(), b"A1".to_vec())],
            )
            .unwrap();
        assert_eq!(
            store.scan_results("v1", &[a.clone(), b.clone()]).unwrap(),
            vec![Some(b"A1".to_vec()), None]
        );
        // Another scanner version does not read v1's rows, and its rows replace them.
        assert_eq!(
            store.scan_results("v2", std::slice::from_ref(&a)).unwrap(),
            vec![None]
        );
        store
            .record_scan_results(
                "v2",
                &config,
                std::slice::from_ref(&a),
                &[(a.clone(), b"A2".to_vec())],
            )
            .unwrap();
        assert_eq!(
            store.scan_results("v1", std::slice::from_ref(&a)).unwrap(),
            vec![None]
        );
        assert_eq!(
            store.scan_results("v2", std::slice::from_ref(&a)).unwrap(),
            vec![Some(b"A2".to_vec())]
        );
    }

    #[test]
    fn collection_keeps_results_a_live_config_uses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (base, top_x, top_y) = (chain(1), chain(2), chain(3));
        let (x, y) = (chain(10), chain(11));
        store
            .record_scan_results(
                "v",
                &x,
                &[base.clone(), top_x.clone()],
                &[
                    (base.clone(), b"B".to_vec()),
                    (top_x.clone(), b"X".to_vec()),
                ],
            )
            .unwrap();
        store
            .record_scan_results(
                "v",
                &y,
                &[base.clone(), top_y.clone()],
                &[(top_y.clone(), b"Y".to_vec())],
            )
            .unwrap();
        // Only y is live: x's own top goes, the shared base stays.
        let removed = store
            .collect_scan_results(&HashSet::from([y.clone()]))
            .unwrap();
        assert_eq!(removed, 1);
        let chains = [base.clone(), top_x.clone(), top_y.clone()];
        assert_eq!(
            store.scan_results("v", &chains).unwrap(),
            vec![Some(b"B".to_vec()), None, Some(b"Y".to_vec())]
        );
        assert_eq!(store.collect_scan_results(&HashSet::new()).unwrap(), 2);
        assert_eq!(
            store.scan_results("v", &chains).unwrap(),
            vec![None, None, None]
        );
    }
}
