//! Content digests: `algorithm:encoded`, validated so that a digest is always safe to use
//! as a path component (lowercase hex of the exact length for the algorithm).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};
use thiserror::Error;

/// A digest algorithm Strata can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// The name used in the digest string.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// Why a string is not a digest.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// The string has no `algorithm:` part or is otherwise malformed.
    #[error("invalid checksum digest format")]
    Format,
    /// The algorithm is not sha256 or sha512.
    #[error("unsupported digest algorithm")]
    Unsupported,
    /// The encoded part has the wrong length or characters.
    #[error("invalid checksum digest length")]
    Length,
}

/// A validated content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (alg, enc) = s.split_once(':').ok_or(DigestError::Format)?;
        if alg.is_empty() || enc.is_empty() {
            return Err(DigestError::Format);
        }
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            a if a
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c)) =>
            {
                return Err(DigestError::Unsupported)
            }
            _ => return Err(DigestError::Format),
        };
        if enc.len() != algorithm.hex_len() {
            return Err(DigestError::Length);
        }
        if !enc
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Format);
        }
        Ok(Digest {
            algorithm,
            hex: enc.to_string(),
        })
    }

    /// Builds a sha256 digest from 64 lowercase hex characters.
    pub fn sha256_hex(hex: &str) -> Result<Self, DigestError> {
        Self::parse(&format!("sha256:{hex}"))
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(Sha256::digest(data)),
        }
    }

    /// The digest of `data` with the same algorithm as `self`.
    pub fn same_algorithm_of(&self, data: &[u8]) -> Self {
        let mut d = Digester::new(self.algorithm);
        d.update(data);
        d.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded (hex) part.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as Docker shows IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher producing a [`Digest`].
#[derive(Clone)]
pub enum Digester {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Digester {
    /// A new hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Digester::Sha256(Sha256::new()),
            Algorithm::Sha512 => Digester::Sha512(Sha512::new()),
        }
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digester::Sha256(h) => h.update(data),
            Digester::Sha512(h) => h.update(data),
        }
    }
    /// Finishes and returns the digest.
    pub fn finish(self) -> Digest {
        match self {
            Digester::Sha256(h) => Digest {
                algorithm: Algorithm::Sha256,
                hex: hex::encode(h.finalize()),
            },
            Digester::Sha512(h) => Digest {
                algorithm: Algorithm::Sha512,
                hex: hex::encode(h.finalize()),
            },
        }
    }
}

impl Default for Digester {
    fn default() -> Self {
        Digester::new(Algorithm::Sha256)
    }
}

impl std::io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Chain IDs of a list of layer diff IDs (OCI image spec, "ChainID"): `chain(0) =
/// diff(0)`, `chain(n) = sha256(chain(n-1) + " " + diff(n))`. A chain ID names the
/// filesystem state after a layer together with every layer below it, so the layer caches
/// (unpacked snapshots, scan results) are keyed by it.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                let mut h = Digester::default();
                h.update(format!("{prev} {d}").as_bytes());
                h.finish()
            }
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let c = Digest::sha256_of(b"c");
        let chains = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(chains[0], a);
        let ab = Digest::sha256_of(format!("{a} {b}").as_bytes());
        assert_eq!(chains[1], ab);
        assert_eq!(chains[2], Digest::sha256_of(format!("{ab} {c}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
        // A prefix of layers has a prefix of chain IDs.
        assert_eq!(chain_ids(&[a, b]), chains[..2].to_vec());
    }

    #[test]
    fn parses_valid_and_rejects_invalid() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Digest::parse(empty).unwrap().to_string(), empty);
        assert_eq!(Digest::sha256_of(b""), Digest::parse(empty).unwrap());
        assert_eq!(Digest::parse("sha256:abc"), Err(DigestError::Length));
        assert_eq!(Digest::parse("nocolon"), Err(DigestError::Format));
        assert_eq!(Digest::parse("md5:abcd"), Err(DigestError::Unsupported));
        let upper = empty.to_uppercase().replace("SHA256", "sha256");
        assert_eq!(Digest::parse(&upper), Err(DigestError::Format));
        let traversal = format!("sha256:../../{}", &empty[13..]);
        assert!(Digest::parse(&traversal).is_err());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(128))).is_ok());
    }

    #[test]
    fn short_is_twelve_chars() {
        assert_eq!(Digest::sha256_of(b"").short(), "e3b0c44298fc");
    }
}
