//! Numbering string keys (query ids, doc ids) in order of first appearance, by hash.
//!
//! [`KeyTable`] is an open-addressing table (linear probing, at most half full) of 8-byte
//! slots, each a key's id (indexing the caller's list of keys) and 32 bits of its hash, with
//! the keys' tags beside them in id order: ten thousand keys take 256 KiB of slots, which an
//! L2 cache holds, and a probe reads a tag only when the 32 bits match. A key's [`Tag`] is its 16-byte
//! Arrow view when the key is one string of at most 12 bytes (the view holds such a string
//! whole, so equal tags are equal keys and the key list is never read), and its 64-bit hash
//! otherwise (equal tags are then confirmed by comparing the keys). Forgetting every key
//! ([`KeyTable::reset`]) zeroes the slots, at most 32 bytes per key it makes room for. The
//! table is written out rather than taken from `hashbrown` so that the whole lookup, the key
//! comparison included, inlines into the per-row loops that call it (hashbrown calls its
//! comparison through a function pointer).
//! Evaluation numbers (run, query) keys with it; fusion numbers each query's documents.

use super::views::{prefetch, Tag};

/// A key a [`KeyTable`] can number: its tag, computed once, and equality (asked only when
/// the tags are equal and not complete).
pub(crate) trait TableKey {
    fn tag(&self) -> Tag;
    fn same(&self, other: &Self) -> bool;
}

/// A string with its tag, as a [`TableKey`].
#[derive(Clone, Copy)]
pub(crate) struct StrKey<'a> {
    pub tag: Tag,
    pub text: &'a str,
}

impl<'a> StrKey<'a> {
    #[inline(always)]
    pub fn new((text, view): (&'a str, u128)) -> Self {
        StrKey {
            tag: Tag::of((text, view)),
            text,
        }
    }
}

impl TableKey for StrKey<'_> {
    #[inline(always)]
    fn tag(&self) -> Tag {
        self.tag
    }

    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// Key numbers by tag (see the module docs).
pub(crate) struct KeyTable {
    /// `fingerprint << 32 | (id + 1)`, 0 for an empty slot.
    slots: Vec<u64>,
    /// The tag of each id.
    tags: Vec<Tag>,
    /// `64 - log2(slots.len())`: a slot index is the top bits of the mixed tag.
    shift: u32,
}

impl Default for KeyTable {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyTable {
    pub fn new() -> Self {
        KeyTable {
            slots: vec![0; 64],
            tags: Vec::new(),
            shift: 64 - 6,
        }
    }

    /// Forget every key, keeping room for `keys` of them without growing.
    pub fn reset(&mut self, keys: usize) {
        let size = (2 * keys).next_power_of_two().max(64);
        if size == self.slots.len() {
            self.slots.fill(0);
        } else {
            self.slots = vec![0; size];
            self.shift = 64 - size.trailing_zeros();
        }
        self.tags.clear();
    }

    /// The home slot and the fingerprint of a key tagged `tag`.
    #[inline(always)]
    fn place(&self, tag: Tag) -> (usize, u64) {
        let mixed = tag.mixed();
        let home = (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        (home, mixed << 32)
    }

    /// Ask the processor to fetch the slot where a key tagged `tag` starts its probe, ahead
    /// of the lookup: callers numbering many keys in a loop hide the cache miss this way.
    #[inline(always)]
    pub fn prefetch(&self, tag: Tag) {
        prefetch(&self.slots[self.place(tag).0]);
    }

    /// The id of `key` (ids indexing `keys`), giving it the next id and listing it if it
    /// is new.
    #[inline(always)]
    pub fn number<K: TableKey + Copy>(&mut self, keys: &mut Vec<K>, key: K) -> u32 {
        self.number_lazy(keys, key.tag(), || key)
    }

    /// [`KeyTable::number`] for a key tagged `tag` that `key()` makes, called only when the
    /// key is new or must be compared (equal tags that are not complete).
    #[inline(always)]
    pub fn number_lazy<K: TableKey>(
        &mut self,
        keys: &mut Vec<K>,
        tag: Tag,
        key: impl Fn() -> K,
    ) -> u32 {
        let next = keys.len() as u32;
        let id = self.find_or_insert(tag, next, |id| keys[id as usize].same(&key()));
        if id == next {
            keys.push(key());
        }
        id
    }

    /// The id under which a key tagged `tag` was inserted, `same(id)` telling whether it is
    /// the key asked for when the tags are equal but not complete; a key not found is
    /// inserted with id `next` (the number of keys so far), which is returned.
    #[inline(always)]
    fn find_or_insert(&mut self, tag: Tag, next: u32, same: impl Fn(u32) -> bool) -> u32 {
        debug_assert_eq!(next as usize, self.tags.len(), "ids are given in order");
        let mask = self.slots.len() - 1;
        let (mut at, fingerprint) = self.place(tag);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            let id = (slot as u32).wrapping_sub(1);
            if slot & !0xFFFF_FFFF == fingerprint
                && self.tags[id as usize] == tag
                && (tag.complete() || same(id))
            {
                return id;
            }
            at = (at + 1) & mask;
        }
        self.slots[at] = fingerprint | (u64::from(next) + 1);
        self.tags.push(tag);
        if self.tags.len() * 2 > self.slots.len() {
            self.grow();
        }
        next
    }

    /// Double the slots and place every key again.
    #[cold]
    fn grow(&mut self) {
        self.slots = vec![0; self.slots.len() * 2];
        self.shift -= 1;
        let mask = self.slots.len() - 1;
        for (id, &tag) in self.tags.iter().enumerate() {
            let (mut at, fingerprint) = self.place(tag);
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = fingerprint | (id as u64 + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(hash: u64, text: &str) -> StrKey<'_> {
        StrKey {
            tag: Tag::hashed(hash),
            text,
        }
    }

    /// The Arrow view of an inline string.
    fn view(text: &str) -> u128 {
        crate::run::views::inline_view(text).unwrap()
    }

    #[test]
    fn the_key_table_numbers_keys_in_order_through_collisions_and_growth() {
        let names: Vec<String> = (0..1000)
            .map(|i| format!("query-{i:05}-long-name"))
            .collect();
        let mut table = KeyTable::new();
        let mut keys = Vec::new();
        // Ten hashes for a thousand keys: every probe runs past equal tags of other keys,
        // and only the bytes tell the keys apart.
        for round in 0..3 {
            for (i, name) in names.iter().enumerate() {
                let id = table.number(&mut keys, hashed(i as u64 % 10, name));
                assert_eq!(id as usize, i, "round {round}");
            }
        }
        assert_eq!(keys.len(), 1000);
        assert!(table.slots.len() >= 2000);
        // Short strings lie whole in their view: equal tags decide, the text is not read.
        let mut keys = Vec::new();
        table.reset(2);
        assert_eq!(table.slots.len(), 64);
        let short = |text, v| StrKey {
            tag: Tag::of((text, v)),
            text: "never compared",
        };
        assert_eq!(table.number(&mut keys, short("a", view("a"))), 0);
        assert_eq!(table.number(&mut keys, short("b", view("b"))), 1);
        assert_eq!(table.number(&mut keys, short("a", view("a"))), 0);
        // A long string's tag is its hash, never equal to a short string's view.
        let long = "a doc id longer than twelve bytes";
        assert_eq!(table.number(&mut keys, StrKey::new((long, 7))), 2);
        assert_eq!(table.number(&mut keys, StrKey::new((long, 8))), 2);
        // A reset forgets every key (zeroing the slots at the same size), and sizes the table.
        let mut keys = Vec::new();
        table.reset(20);
        assert_eq!(table.slots.len(), 64);
        assert_eq!(table.number(&mut keys, short("b", view("b"))), 0);
        assert_eq!(table.number(&mut keys, short("a", view("a"))), 1);
        let mut keys = Vec::new();
        table.reset(100);
        assert_eq!(table.slots.len(), 256);
        assert_eq!(table.number(&mut keys, short("a", view("a"))), 0);
    }
}
