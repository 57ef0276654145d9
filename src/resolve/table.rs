//! The index's maps, built for a million candidates on a machine where a trip to memory
//! costs more than everything a comparison computes.
//!
//! At that size nearly every lookup misses the cache, so the maps are shaped to make one
//! trip where a general-purpose map makes two or three:
//!
//! * [`OpenTable`]: open addressing with linear probing over 16- or 32-byte slots holding
//!   key and value together, so a lookup reads the line it lands on and, rarely, the next one
//!   (a general map reads a control-byte array, then the entry, then the value's heap).
//! * [`Postings`]: a block's candidates, two of them inline in the slot (most keys name one
//!   place, seen by a source or two), more in a shared [`Lists`].
//!
//! (A Bloom filter in front of the maps was tried and removed: at a million candidates its
//! bitmap no longer stays in the cache, so it added a trip instead of saving one.)
//!
//! Keys are 64-bit hashes of what they stand for. Two different things with one hash
//! would only put unrelated candidates in one block, where scoring tells them apart; the
//! identity maps ([`IdMap`]) check a second, independent 64-bit hash as well.

use super::vocab::fmix64;

/// Largest load factor of an [`OpenTable`], in tenths: linear probing stays short below it.
const LOAD_TENTHS_MAX: usize = 7;

/// Smallest table, in slots.
const SLOTS_MIN: usize = 16;

/// One slot: key 0 marks it empty (a real key 0 is stored as 1).
#[derive(Clone, Copy, Default)]
#[repr(align(16))]
struct Slot<V> {
    key: u64,
    value: V,
}

/// A hash table keyed by u64 (see the module docs).
pub(crate) struct OpenTable<V> {
    slots: Vec<Slot<V>>,
    len: usize,
}

impl<V: Copy + Default> Default for OpenTable<V> {
    fn default() -> Self {
        OpenTable {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<V: Copy + Default> OpenTable<V> {
    fn stored(key: u64) -> u64 {
        key.max(1)
    }

    fn home(&self, key: u64) -> usize {
        (fmix64(key) as usize) & (self.slots.len() - 1)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, key: u64) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        let key = Self::stored(key);
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = &self.slots[i];
            if slot.key == key {
                return Some(&slot.value);
            }
            if slot.key == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The value under `key`, inserted as `V::default()` if absent; and whether it was.
    pub(crate) fn entry(&mut self, key: u64) -> (&mut V, bool) {
        if (self.len + 1) * 10 > self.slots.len() * LOAD_TENTHS_MAX {
            self.grow();
        }
        let key = Self::stored(key);
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let k = self.slots[i].key;
            if k == key {
                return (&mut self.slots[i].value, false);
            }
            if k == 0 {
                self.slots[i].key = key;
                self.len += 1;
                return (&mut self.slots[i].value, true);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(SLOTS_MIN);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.key != 0) {
            let mut i = self.home(slot.key);
            while self.slots[i].key != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

/// The candidates filed under one blocking key, in 16 bytes: up to two inline, more in a
/// list of [`Lists`].
///
/// Once more than `common_token_max` candidates are filed under a key, its list is never
/// read again (the key is too common to narrow anything down), so the list is given back
/// and only the count kept: "club" costs a counter, not a list of most of the index.
#[derive(Clone, Copy, Default)]
pub(crate) struct Postings {
    pub n: u32,
    inline: [u32; 2],
    /// 1 + the index of the list in [`Lists`] when `2 < n <= max`, else 0.
    more: u32,
}

impl Postings {
    pub(crate) fn push(&mut self, idx: u32, max: usize, lists: &mut Lists) {
        self.n = self.n.saturating_add(1);
        let n = self.n as usize;
        if n > max {
            if self.more != 0 {
                lists.release(self.more - 1);
                self.more = 0;
            }
            return;
        }
        match n {
            1 => self.inline[0] = idx,
            2 => self.inline[1] = idx,
            3 => self.more = 1 + lists.create(&[self.inline[0], self.inline[1], idx]),
            _ => lists.items[(self.more - 1) as usize].push(idx),
        }
    }

    /// Marks the key as filed under by more than `max` candidates, whoever they are (a
    /// working index learns only that from the store).
    pub(crate) fn overflow(&mut self, max: usize, lists: &mut Lists) {
        self.n = self
            .n
            .max(u32::try_from(max).unwrap_or(u32::MAX).saturating_add(1));
        if self.more != 0 {
            lists.release(self.more - 1);
            self.more = 0;
        }
    }

    /// The candidates, unless more than `max` were filed.
    pub(crate) fn usable<'a>(&'a self, max: usize, lists: &'a Lists) -> Option<&'a [u32]> {
        let n = self.n as usize;
        if n > max {
            None
        } else if n <= 2 {
            Some(&self.inline[..n])
        } else {
            Some(&lists.items[(self.more - 1) as usize])
        }
    }
}

/// A name token's candidates city-wide, each with the hash of its grid cell (0 without
/// coordinates), in 16 bytes: one pair inline, more in a list of [`Lists`] (as
/// [`Postings`], and dropped the same way past `common_token_max`).
///
/// The cell beside each candidate lets a decision find the neighbours sharing a rare word
/// by reading this one list, rather than looking the word up in nine cells.
#[derive(Clone, Copy, Default)]
pub(crate) struct TokenPostings {
    pub n: u32,
    inline: [u32; 2],
    more: u32,
}

impl TokenPostings {
    pub(crate) fn push(&mut self, idx: u32, cell: u32, max: usize, lists: &mut Lists) {
        self.n = self.n.saturating_add(1);
        let n = self.n as usize;
        if n > max {
            if self.more != 0 {
                lists.release(self.more - 1);
                self.more = 0;
            }
            return;
        }
        match n {
            1 => self.inline = [idx, cell],
            2 => self.more = 1 + lists.create(&[self.inline[0], self.inline[1], idx, cell]),
            _ => lists.items[(self.more - 1) as usize].extend_from_slice(&[idx, cell]),
        }
    }

    /// As [`Postings::overflow`].
    pub(crate) fn overflow(&mut self, max: usize, lists: &mut Lists) {
        self.n = self
            .n
            .max(u32::try_from(max).unwrap_or(u32::MAX).saturating_add(1));
        if self.more != 0 {
            lists.release(self.more - 1);
            self.more = 0;
        }
    }

    /// The (candidate, cell) pairs, flattened, unless more than `max` were filed.
    pub(crate) fn usable<'a>(&'a self, max: usize, lists: &'a Lists) -> Option<&'a [u32]> {
        let n = self.n as usize;
        if n > max {
            None
        } else if n <= 1 {
            Some(&self.inline[..2 * n])
        } else {
            Some(&lists.items[(self.more - 1) as usize])
        }
    }
}

/// The lists of keys filed under by more than two candidates, with a free list of the
/// ones given back.
#[derive(Default)]
pub(crate) struct Lists {
    items: Vec<Vec<u32>>,
    free: Vec<u32>,
}

impl Lists {
    fn create(&mut self, first: &[u32]) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize].extend_from_slice(first);
                i
            }
            None => {
                self.items.push(first.to_vec());
                (self.items.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, i: u32) {
        self.items[i as usize] = Vec::new();
        self.free.push(i);
    }
}

/// One kind of block: key (a 64-bit hash of what the candidates share) to candidates.
#[derive(Default)]
pub(crate) struct BlockMap {
    table: OpenTable<Postings>,
}

impl BlockMap {
    pub(crate) fn push(&mut self, key: u64, idx: u32, max: usize, lists: &mut Lists) {
        self.table.entry(key).0.push(idx, max, lists);
    }

    pub(crate) fn get<'a>(&'a self, key: u64, max: usize, lists: &'a Lists) -> Option<&'a [u32]> {
        self.table.get(key)?.usable(max, lists)
    }

    /// Marks `key` as filed under by more than `max` candidates ([`Postings::overflow`]).
    pub(crate) fn overflow(&mut self, key: u64, max: usize, lists: &mut Lists) {
        self.table.entry(key).0.overflow(max, lists);
    }

    /// Keys filed under.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// A map from an identity key (a record, a candidate id, an entity id, a token; 128 bits of
/// hash, of which 96 are kept: 64 to place the slot, 32 checked on lookup, so a million
/// keys collide with odds of about 1 in 10^17) to a u32, in 16-byte slots.
#[derive(Default)]
pub(crate) struct IdMap {
    /// Under the key's first half: 32 bits of its second half, and the value.
    table: OpenTable<(u32, u32)>,
}

impl IdMap {
    pub(crate) fn get(&self, key: (u64, u64)) -> Option<u32> {
        match self.table.get(key.0) {
            Some(&(check, value)) if check == key.1 as u32 => Some(value),
            _ => None,
        }
    }

    /// Inserts unless the key is present (the first value stays); returns the value now
    /// under the key, and whether it was inserted. One probe.
    pub(crate) fn insert(&mut self, key: (u64, u64), value: u32) -> (u32, bool) {
        let (slot, inserted) = self.table.entry(key.0);
        if inserted {
            *slot = (key.1 as u32, value);
            (value, true)
        } else {
            // A different key with the same first half (1 in 2^64) keeps the first value.
            (slot.1, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_table_finds_what_it_holds_through_growth() {
        let mut t: OpenTable<u32> = OpenTable::default();
        for k in 0..10_000u64 {
            let (v, inserted) = t.entry(k * 7919);
            assert!(inserted);
            *v = k as u32;
        }
        assert_eq!(t.len(), 10_000);
        for k in 0..10_000u64 {
            assert_eq!(t.get(k * 7919), Some(&(k as u32)));
        }
        assert_eq!(t.get(3), None);
        assert!(!t.entry(7919).1);
    }

    #[test]
    fn postings_spill_to_lists_and_stop_at_the_limit() {
        let mut lists = Lists::default();
        let mut p = Postings::default();
        for i in 0..5 {
            p.push(i, 5, &mut lists);
        }
        assert_eq!(p.usable(5, &lists), Some(&[0, 1, 2, 3, 4][..]));
        p.push(5, 5, &mut lists);
        assert_eq!(p.usable(5, &lists), None);
        assert_eq!(lists.free.len(), 1);
    }

    #[test]
    fn token_postings_keep_pairs() {
        let mut lists = Lists::default();
        let mut p = TokenPostings::default();
        p.push(7, 70, 10, &mut lists);
        assert_eq!(p.usable(10, &lists), Some(&[7, 70][..]));
        p.push(8, 0, 10, &mut lists);
        p.push(9, 90, 10, &mut lists);
        assert_eq!(p.usable(10, &lists), Some(&[7, 70, 8, 0, 9, 90][..]));
    }

    #[test]
    fn id_map_checks_the_whole_key() {
        let mut m = IdMap::default();
        assert_eq!(m.insert((1, 2), 7), (7, true));
        assert_eq!(m.insert((1, 2), 8), (7, false));
        assert_eq!(m.get((1, 2)), Some(7));
        assert_eq!(m.get((1, 3)), None);
        assert_eq!(m.get((2, 2)), None);
    }
}
