//! The matcher's hashes: keys of its maps and blocks. Fast, not cryptographic, and
//! the same in every process (the identity store keeps keys made with them).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast 64-bit hash of a string (FNV-1a then a finaliser): keys of the blocking maps.
/// Not cryptographic and not persisted: it only has to be the same within one process.
pub(crate) fn hash_str(s: &str) -> u64 {
    hash_parts(0, [s])
}

/// [`hash_str`] of several strings at once, as if joined by a separator that cannot occur
/// in them, without building the joined string. `seed` gives independent hashes.
pub(crate) fn hash_parts<'a>(seed: u64, parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            h ^= 0x1f_u64 | 0x100;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fmix64(h)
}

/// A tiny multiplicative hasher for the matcher's maps (keys are integers and short strings
/// made by this module, not chosen by an attacker), finished with a full avalanche so that
/// the low bits a table indexes by depend on every input bit.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A streaming 128-bit hash (two independent multiplicative lanes, each finished with
/// [`fmix64`]) of a sequence of byte strings; each part is length-prefixed, so the parts
/// ("ab", "c") and ("a", "bc") differ. For fingerprints and map keys within one process.
#[derive(Clone, Copy)]
pub(crate) struct Hash128 {
    a: u64,
    b: u64,
}

impl Default for Hash128 {
    fn default() -> Self {
        Hash128 {
            a: 0x243f_6a88_85a3_08d3,
            b: 0x1319_8a2e_0370_7344,
        }
    }
}

impl Hash128 {
    fn word(&mut self, w: u64) {
        self.a = (self.a.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
        self.b = (self.b.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// Adds one part.
    pub(crate) fn part(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    /// Adds a marker that no part can produce (parts start with their length).
    pub(crate) fn tag(&mut self, tag: u8) {
        self.word(u64::MAX - u64::from(tag));
    }

    pub(crate) fn finish(self) -> (u64, u64) {
        (fmix64(self.a), fmix64(self.b ^ 0x5851_f42d_4c95_7f2d))
    }
}

/// MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word.
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}
