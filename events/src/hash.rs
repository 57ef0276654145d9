//! 32-byte blake3 digests used for the event hash chain and blob addresses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A blake3 digest, shown and serialised as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

/// The address of a raw payload in the blob store: blake3 of its bytes.
pub type BlobHash = Hash32;

impl Hash32 {
    /// The all-zero hash that precedes the first event of a log.
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// blake3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash32 {
        Hash32(*blake3::hash(bytes).as_bytes())
    }

    /// The lowercase hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }

    /// The first 12 hex characters, for tables meant for people.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// Builds a hash from a 32-byte slice (as stored in SQLite).
    pub fn from_slice(bytes: &[u8]) -> Option<Hash32> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash32)
    }
}

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a blake3 hash (want 64 hex characters): {0:?}")]
pub struct ParseHashError(pub String);

impl FromStr for Hash32 {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(ParseHashError(s.chars().take(80).collect()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out[i] = (hi * 16 + lo) as u8,
                _ => return Err(ParseHashError(s.chars().take(80).collect())),
            }
        }
        Ok(Hash32(out))
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.short())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = Hash32::of(b"powerleague portobello");
        let parsed: Hash32 = h.to_hex().parse().unwrap();
        assert_eq!(parsed, h);
        assert_eq!(
            h.to_hex(),
            blake3::hash(b"powerleague portobello").to_hex().as_str()
        );
        assert!("zz".parse::<Hash32>().is_err());
        assert!("g".repeat(64).parse::<Hash32>().is_err());
    }

    #[test]
    fn serde_as_hex_string() {
        let h = Hash32::of(b"x");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        let back: Hash32 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }
}
