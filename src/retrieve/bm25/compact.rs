//! Compaction: reclaiming the space of deleted documents.
//!
//! [`Bm25::delete`] drops a document's postings but leaves its slot behind, dead: its entry in
//! `doc_ids`, `alive` and every field's `doc_len`, and its place in everything sized by slot
//! count (`id_rank`, the rank-index bitmaps, the id column, each search thread's accumulator).
//! Compaction renumbers the alive slots densely in their old order, so posting lists stay
//! ascending, and drops the terms left without a posting in any field; the derived state is
//! then recomputed by `refresh`. Scores do not depend on slot numbers or term ids (sums run in
//! term-text order, ties rank by doc id), so a compacted index answers exactly like a fresh
//! index of its documents.
//!
//! The renumbering is a [`Renumber`] plan, which `save` also uses to write only the live part
//! of an index without changing it.

use rayon::prelude::*;

use super::postings::TermList;
use super::Bm25;

/// [`Bm25::delete`] compacts once more than this share of the slots is dead. Compaction costs
/// about what the rescoring after every `delete` already costs (one pass over the postings),
/// so it can be frequent; waiting for a quarter bounds the dead space at a third of the live
/// size, and each compaction is paid for by at least a quarter of the slots' worth of deletes.
pub const AUTO_COMPACT_DEAD_SHARE: f64 = 0.25;

/// Marks a slot or term that a [`Renumber`] drops.
const DROPPED: u32 = u32::MAX;

/// Which slots and terms survive a renumbering, and their new numbers.
pub(super) struct Renumber {
    /// Per old slot: its new slot, or [`DROPPED`].
    pub new_slot: Vec<u32>,
    /// The kept old slots, in new-slot order.
    pub old_slots: Vec<u32>,
    /// Per old term id: its new id, or [`DROPPED`].
    pub new_term: Vec<u32>,
    /// The kept old term ids, in new-id order.
    pub old_terms: Vec<u32>,
}

/// Numbers the items `keep` accepts densely in their order: (old → new or [`DROPPED`], the
/// kept old numbers).
fn dense(n: usize, keep: impl Fn(usize) -> bool) -> (Vec<u32>, Vec<u32>) {
    let mut new = vec![DROPPED; n];
    let mut old = Vec::new();
    for (i, slot) in new.iter_mut().enumerate() {
        if keep(i) {
            *slot = old.len() as u32;
            old.push(i as u32);
        }
    }
    (new, old)
}

impl Renumber {
    /// Alive slots and terms with a posting in some field, numbered densely in their order.
    pub fn compacting(index: &Bm25) -> Self {
        let (new_slot, old_slots) = dense(index.alive.len(), |s| index.alive[s]);
        let (new_term, old_terms) = dense(index.terms.len(), |t| {
            index.fields.iter().any(|f| !f.lists[t].is_empty())
        });
        Self {
            new_slot,
            old_slots,
            new_term,
            old_terms,
        }
    }

    /// Every slot and term kept under its own number (dead slots included).
    #[cfg(test)]
    pub fn identity(index: &Bm25) -> Self {
        let (new_slot, old_slots) = dense(index.alive.len(), |_| true);
        let (new_term, old_terms) = dense(index.terms.len(), |_| true);
        Self {
            new_slot,
            old_slots,
            new_term,
            old_terms,
        }
    }

    /// `list`'s slots renumbered. Postings only name alive slots (`delete` drops the others),
    /// and the numbering keeps their order, so the result ascends too.
    pub fn slots<'a>(&'a self, list: &'a TermList) -> impl Iterator<Item = u32> + 'a {
        list.docs.iter().map(|&s| self.new_slot[s as usize])
    }
}

impl Bm25 {
    /// Number of document slots, deleted ones included: the size of the per-document arrays
    /// and of each search's accumulator. Equals [`Bm25::len`] right after [`Bm25::compact`].
    pub fn num_slots(&self) -> usize {
        self.doc_ids.len()
    }

    /// Reclaim the space of deleted documents: the alive documents are renumbered densely
    /// (in the order they were added), terms no document has any more are forgotten, and
    /// statistics and stored scores are recomputed. Search results are unchanged and equal
    /// those of a fresh index of the same documents. Costs one pass over the postings, about
    /// as much as a `delete`; does nothing when no slot is dead.
    ///
    /// [`Bm25::delete`] calls it by itself once more than [`AUTO_COMPACT_DEAD_SHARE`] of the
    /// slots is dead, and [`Bm25::save`] writes only the live part anyway, so calling it is
    /// only needed to free memory sooner.
    pub fn compact(&mut self) {
        if self.has_dead_slots() {
            self.renumber();
            self.refresh();
        }
    }

    /// Whether some slot belongs to a deleted document.
    pub(super) fn has_dead_slots(&self) -> bool {
        self.alive.iter().any(|a| !a)
    }

    /// Whether [`Bm25::delete`] should compact now (see [`AUTO_COMPACT_DEAD_SHARE`]).
    pub(super) fn wants_compaction(&self) -> bool {
        let dead = self.alive.iter().filter(|a| !**a).count();
        dead as f64 > AUTO_COMPACT_DEAD_SHARE * self.alive.len() as f64
    }

    /// Apply [`Renumber::compacting`] to the slots, terms and postings, and drop the pooled
    /// search buffers; derived state (scores, order, ranks, id column) is left for `refresh`.
    pub(super) fn renumber(&mut self) {
        let plan = Renumber::compacting(self);
        // Search buffers are sized by the slot count seen: let them go with the slots.
        self.scratch = Default::default();
        let mut doc_ids = std::mem::take(&mut self.doc_ids);
        self.doc_ids = plan
            .old_slots
            .iter()
            .map(|&s| std::mem::take(&mut doc_ids[s as usize]))
            .collect();
        self.alive = vec![true; plan.old_slots.len()];
        for slot in self.slots.values_mut() {
            *slot = plan.new_slot[*slot as usize];
        }
        self.slots.shrink_to_fit();
        let mut terms = std::mem::take(&mut self.terms);
        self.terms = plan
            .old_terms
            .iter()
            .map(|&t| std::mem::take(&mut terms[t as usize]))
            .collect();
        self.vocab.retain(|_, id| {
            *id = plan.new_term[*id as usize];
            *id != DROPPED
        });
        self.vocab.shrink_to_fit();
        for field in &mut self.fields {
            field.doc_len = plan
                .old_slots
                .iter()
                .map(|&s| field.doc_len[s as usize])
                .collect();
            let lists = std::mem::take(&mut field.lists);
            field.lists = lists
                .into_par_iter()
                .enumerate()
                .filter(|(t, _)| plan.new_term[*t] != DROPPED)
                .map(|(_, mut list)| {
                    let docs = plan.slots(&list).collect();
                    list.docs = docs;
                    list
                })
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::never;
    use crate::data::schema::{DOC_ID, TEXT, TITLE};
    use crate::retrieve::bm25::{Bm25Config, Params, Variant};
    use polars::prelude::*;

    const DOCS: [(&str, &str); 8] = [
        ("a", "red apple fruit"),
        ("b", "green pear"),
        ("c", "red kiwi kiwi"),
        ("d", "blue plum fruit"),
        ("e", "yellow banana"),
        ("f", "green apple pie"),
        ("g", "purple grape fruit fruit"),
        ("h", "orange orange"),
    ];

    fn corpus(keep: impl Fn(&str) -> bool) -> DataFrame {
        let (ids, texts): (Vec<&str>, Vec<&str>) =
            DOCS.iter().copied().filter(|d| keep(d.0)).unzip();
        df!(DOC_ID => ids.clone(), TITLE => vec![""; ids.len()], TEXT => texts).unwrap()
    }

    #[test]
    fn compaction_renumbers_slots_and_terms_like_a_fresh_index() {
        let doomed = ["b", "e", "h"];
        for variant in [Variant::Lucene, Variant::Bm25L, Variant::Okapi] {
            let config = Bm25Config {
                params: Params {
                    variant,
                    ..Default::default()
                },
                ..Default::default()
            };
            let mut index = Bm25::build(config.clone(), &corpus(|_| true), never()).unwrap();
            index.delete(&doomed[..1]).unwrap();
            assert_eq!(index.num_slots(), DOCS.len(), "one in eight: not compacted");
            index.delete(&doomed[1..]).unwrap();
            // Three in eight dead: past the automatic threshold.
            assert_eq!(index.num_slots(), index.len());
            let fresh = Bm25::build(config, &corpus(|id| !doomed.contains(&id)), never()).unwrap();
            // Documents were added in the same order, so slots agree one to one.
            assert_eq!(index.doc_ids, fresh.doc_ids);
            assert_eq!(index.fields[0].doc_len, fresh.fields[0].doc_len);
            assert_eq!(index.id_rank, fresh.id_rank);
            assert_eq!(index.order, fresh.order);
            // Terms of deleted documents only ("pear", "yellow", ...) are gone.
            assert_eq!(index.num_terms(), fresh.num_terms());
            for (term, &id) in &fresh.vocab {
                let ours = &index.fields[0].lists[index.vocab[term] as usize];
                let theirs = &fresh.fields[0].lists[id as usize];
                assert_eq!(index.terms[index.vocab[term] as usize], *term);
                assert_eq!(ours.docs, theirs.docs, "{term}");
                assert_eq!(ours.tfs, theirs.tfs, "{term}");
                let bits = |l: &TermList| l.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(ours), bits(theirs), "{term}");
                assert_eq!(ours.absent.to_bits(), theirs.absent.to_bits(), "{term}");
            }
        }
    }

    #[test]
    fn compact_without_dead_slots_changes_nothing() {
        let mut index = Bm25::build(Bm25Config::default(), &corpus(|_| true), never()).unwrap();
        let (ids, terms) = (index.doc_ids.clone(), index.terms.clone());
        index.compact();
        assert_eq!((index.doc_ids.clone(), index.terms.clone()), (ids, terms));
        // Everything deleted: an empty index that still takes documents.
        let all: Vec<&str> = DOCS.iter().map(|d| d.0).collect();
        index.delete(&all).unwrap();
        assert_eq!((index.num_slots(), index.num_terms()), (0, 0));
        index.add(&corpus(|id| id == "c"), never()).unwrap();
        assert_eq!((index.len(), index.num_slots()), (1, 1));
    }
}
