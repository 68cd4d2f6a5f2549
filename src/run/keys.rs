//! Numbering string keys (query ids, doc ids) in order of first appearance, by hash.
//!
//! [`KeyTable`] is an open-addressing table (linear probing, at most half full) of
//! `(hash, id + 1)` slots, 0 marking an empty one, the ids indexing the caller's list of
//! keys. It is written out rather than taken from `hashbrown` so that the whole lookup, the
//! key comparison included, inlines into the per-row loops that call it (hashbrown calls its
//! comparison through a function pointer). Keys compare by their 16-byte Arrow views where
//! the strings are short enough to lie whole in them ([`same`]), by their bytes otherwise.
//! Evaluation numbers (run, query) keys with it; fusion numbers each query's documents.

/// A key a [`KeyTable`] can number: its hash, computed once, and equality.
pub(crate) trait TableKey {
    fn hash(&self) -> u64;
    fn same(&self, other: &Self) -> bool;
}

/// Whether two `(string, view)` pairs hold the same string: equal views of strings of at
/// most 12 bytes (held whole in the view) decide without reading the bytes.
#[inline(always)]
pub(crate) fn same((a, va): (&str, u128), (b, vb): (&str, u128)) -> bool {
    (va == vb && a.len() <= 12) || a == b
}

/// A string with its view and hash, as a [`TableKey`].
#[derive(Clone, Copy)]
pub(crate) struct StrKey<'a> {
    pub hash: u64,
    pub text: (&'a str, u128),
}

impl TableKey for StrKey<'_> {
    #[inline(always)]
    fn hash(&self) -> u64 {
        self.hash
    }

    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        same(self.text, other.text)
    }
}

/// Key numbers by hash (see the module docs).
pub(crate) struct KeyTable {
    slots: Vec<(u64, u32)>,
    /// `64 - log2(slots.len())`: a slot index is the top bits of the mixed hash.
    shift: u32,
}

impl KeyTable {
    pub fn new() -> Self {
        KeyTable {
            slots: vec![(0, 0); 64],
            shift: 64 - 6,
        }
    }

    /// Forget every key, keeping room for `keys` of them without growing.
    pub fn reset(&mut self, keys: usize) {
        let size = (2 * keys).next_power_of_two().max(64);
        if size == self.slots.len() {
            self.slots.fill((0, 0));
        } else {
            self.slots = vec![(0, 0); size];
            self.shift = 64 - size.trailing_zeros();
        }
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The id of `key` (ids indexing `keys`), giving it the next id and listing it if it
    /// is new.
    #[inline(always)]
    pub fn number<K: TableKey>(&mut self, keys: &mut Vec<K>, key: K) -> u32 {
        let mask = self.slots.len() - 1;
        let hash = key.hash();
        let mut at = self.home(hash);
        loop {
            let (h, id) = self.slots[at];
            if id == 0 {
                break;
            }
            if h == hash && keys[id as usize - 1].same(&key) {
                return id - 1;
            }
            at = (at + 1) & mask;
        }
        let id = keys.len() as u32;
        self.slots[at] = (hash, id + 1);
        keys.push(key);
        if keys.len() * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    /// Double the slots and place every key again.
    #[cold]
    fn grow(&mut self) {
        let doubled = vec![(0, 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        let mask = self.slots.len() - 1;
        for (h, id) in old.into_iter().filter(|&(_, id)| id != 0) {
            let mut at = self.home(h);
            while self.slots[at].1 != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = (h, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: u64, text: &str, view: u128) -> StrKey<'_> {
        StrKey {
            hash,
            text: (text, view),
        }
    }

    #[test]
    fn the_key_table_numbers_keys_in_order_through_collisions_and_growth() {
        let names: Vec<String> = (0..1000)
            .map(|i| format!("query-{i:05}-long-name"))
            .collect();
        let mut table = KeyTable::new();
        let mut keys = Vec::new();
        // Ten hashes for a thousand keys: every probe runs past equal hashes of other keys;
        // views are equal too, so only the bytes tell the keys apart.
        for round in 0..3 {
            for (i, name) in names.iter().enumerate() {
                let id = table.number(&mut keys, key(i as u64 % 10, name, 7));
                assert_eq!(id as usize, i, "round {round}");
            }
        }
        assert_eq!(keys.len(), 1000);
        assert!(table.slots.len() >= 2000);
        // Short strings lie whole in their view: equal views decide.
        let mut keys = Vec::new();
        table.reset(2);
        assert_eq!(table.slots.len(), 64);
        assert_eq!(table.number(&mut keys, key(1, "a", 1)), 0);
        assert_eq!(table.number(&mut keys, key(1, "b", 2)), 1);
        assert_eq!(table.number(&mut keys, key(1, "a", 1)), 0);
        // A reset forgets every key, and sizes the table for what is to come.
        let mut keys = Vec::new();
        table.reset(100);
        assert_eq!(table.slots.len(), 256);
        assert_eq!(table.number(&mut keys, key(1, "b", 2)), 0);
    }
}
