//! One term's posting list in one field, laid out for the search loops: document slots,
//! stored scores and term frequencies in separate arrays (structure of arrays), so that
//! summing a list reads 8 bytes per posting and the term frequencies, needed only when scores
//! are recomputed or explained, stay out of the cache.
//!
//! Long lists also carry a rank index (a bitmap of the slots with a running count per 64-bit
//! word, the rank/select layout of Jacobson 1989, "Space-efficient static trees and graphs"):
//! it answers "is slot s in this list, and at which position" in O(1), which is what safe
//! early termination asks of the long lists it no longer scans.

/// Lists at least this fraction (1 / `RANK_EVERY`) of the slots long get a rank index; its
/// size (16 bytes per 64 slots) is then at most a third of the list's own 12 bytes per posting.
const RANK_EVERY: usize = 16;

/// Membership and position of slots in an ascending list, in O(1).
#[derive(Debug, Clone)]
pub(crate) struct RankIndex {
    /// Per 64 slots: the bitmap word, and how many listed slots come before it.
    words: Vec<(u64, u32)>,
}

impl RankIndex {
    fn new(docs: &[u32], slots: usize) -> Self {
        let mut words = vec![(0u64, 0u32); slots.div_ceil(64)];
        for &d in docs {
            words[d as usize / 64].0 |= 1 << (d % 64);
        }
        let mut before = 0u32;
        for w in &mut words {
            w.1 = before;
            before += w.0.count_ones();
        }
        Self { words }
    }

    /// The position of `slot` in the list, if it is listed.
    #[inline]
    pub fn position(&self, slot: u32) -> Option<usize> {
        let (bits, before) = *self.words.get(slot as usize / 64)?;
        let bit = 1u64 << (slot % 64);
        (bits & bit != 0).then(|| before as usize + (bits & (bit - 1)).count_ones() as usize)
    }
}

/// A term's postings in one field.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermList {
    /// Document slots, ascending.
    pub docs: Vec<u32>,
    /// Term frequency of each posting.
    pub tfs: Vec<u32>,
    /// The stored score contribution of each posting.
    pub scores: Vec<f32>,
    /// The largest and smallest stored score: the bounds that let a search skip documents
    /// that cannot reach the top k.
    pub max: f32,
    pub min: f32,
    /// w · idf · tfc(0): what the term adds to a document without it (`bm25l`, `bm25+`).
    pub absent: f32,
    /// For long lists, O(1) positions (see the module docs).
    pub rank: Option<Box<RankIndex>>,
}

impl TermList {
    /// Number of postings.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether the term occurs in no document of this field.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Append a posting; slots must come in ascending order.
    pub fn push(&mut self, slot: u32, tf: u32) {
        self.docs.push(slot);
        self.tfs.push(tf);
    }

    /// The term frequency of `slot` (0 when the term is absent from it).
    pub fn tf(&self, slot: u32) -> u32 {
        self.docs.binary_search(&slot).map_or(0, |i| self.tfs[i])
    }

    /// Keep the postings whose slot `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        let mut n = 0;
        for i in 0..self.docs.len() {
            if keep(self.docs[i]) {
                self.docs[n] = self.docs[i];
                self.tfs[n] = self.tfs[i];
                n += 1;
            }
        }
        self.docs.truncate(n);
        self.tfs.truncate(n);
    }

    /// Set the stored scores (one per posting) and derive the bounds and the rank index for
    /// an index of `slots` slots.
    pub fn set_scores(&mut self, scores: Vec<f32>, absent: f32, slots: usize) {
        let (max, min) = scores
            .iter()
            .fold((f32::NEG_INFINITY, f32::INFINITY), |(hi, lo), &v| {
                (hi.max(v), lo.min(v))
            });
        self.scores = scores;
        self.max = max;
        self.min = min;
        self.absent = absent;
        self.docs.shrink_to_fit();
        self.tfs.shrink_to_fit();
        self.rank = (!self.docs.is_empty() && self.docs.len() * RANK_EVERY >= slots)
            .then(|| Box::new(RankIndex::new(&self.docs, slots)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_index_finds_positions() {
        let docs: Vec<u32> = (0..1000).filter(|d| d % 3 == 0 || d % 7 == 0).collect();
        let index = RankIndex::new(&docs, 1000);
        for slot in 0..1100u32 {
            assert_eq!(
                index.position(slot),
                docs.binary_search(&slot).ok(),
                "{slot}"
            );
        }
    }
}
