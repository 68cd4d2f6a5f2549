//! An in-process BM25 index: build from a corpus table in parallel, search exactly (no
//! approximation), add and delete documents, compact, save and load.
//!
//! Layout: one vocabulary shared by the fields; per field and term a posting list of document
//! slots and tfs and, derived from them, the per-posting score `w · idf · tfc` in `f32`
//! (computed eagerly, as bm25s does, so a query only sums; see [`postings`]). Fields are
//! either the title and text joined into one field (the default, as Anserini indexes BEIR) or
//! separate fields with weights (score = Σ w_f · BM25_f). Scoring formulas are in [`scoring`].
//!
//! Building analyses a batch of documents in parallel (known terms are resolved to ids there,
//! no string is allocated per term), then appends the batch's postings in slot order.
//!
//! Updates: `add` analyses only the new documents and appends slots; `delete` drops the
//! deleted documents' postings and leaves their slots dead. Either then recomputes the
//! statistics (N, df, avgdl) and every stored score, since N and avgdl change with any update
//! and every score depends on them: scores always equal a fresh index of the same documents,
//! and an update costs a pass over all postings, O(total postings), whatever its size. On
//! SciFact (5,183 documents; dev profile, where ragplay is built at opt-level 3; 2 busy
//! cores; `examples/bm25_update.rs`) a build took 0.3–0.5 s, `add` of 1 document 15–21 ms and
//! of 100 23–55 ms, `delete` of 1 or of 100 16–36 ms. [`Bm25::compact`] renumbers the alive
//! slots densely and reclaims the dead ones (see [`compact`]), at about the cost of one more
//! update (23–48 ms with a quarter of the slots dead); `delete` compacts by itself past
//! [`AUTO_COMPACT_DEAD_SHARE`] dead, and `save` writes only the live slots.

mod compact;
mod persist;
mod postings;
pub mod scoring;
mod search;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::data::schema::{self, table, DOC_ID};
use crate::data::DocumentTexts;
use crate::error::{Error, Result};
use crate::text::{Analyzer, AnalyzerConfig};
pub use compact::AUTO_COMPACT_DEAD_SHARE;
use postings::TermList;
pub use scoring::{Params, Variant};

/// How the corpus columns become index fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fields {
    /// `title` (optional) and `text` joined by a space into one field.
    Joined,
    /// Each named column is its own field with a weight.
    Separate(Vec<(String, f64)>),
}

/// Everything that defines an index besides its documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bm25Config {
    pub params: Params,
    pub analyzer: AnalyzerConfig,
    pub fields: Fields,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Self {
            params: Params::default(),
            analyzer: AnalyzerConfig::default(),
            fields: Fields::Joined,
        }
    }
}

/// One field's postings and statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldIndex {
    pub weight: f64,
    /// Length (terms) of every document slot; dead slots keep theirs until compaction
    /// ([`Bm25::compact`]).
    pub doc_len: Vec<u32>,
    /// Per term id: its postings with their stored scores.
    pub lists: Vec<TermList>,
    pub avgdl: f64,
    /// `okapi` only: what negative idfs are raised to.
    pub idf_floor: Option<f64>,
}

/// For `okapi`: the value negative idfs are raised to, ε · the mean idf over the terms
/// present (rank_bm25's rule).
pub(crate) fn okapi_floor(params: &Params, lists: &[TermList], n: u32) -> Option<f64> {
    if params.variant != Variant::Okapi {
        return None;
    }
    let idfs: Vec<f64> = lists
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| params.idf(l.len() as u32, n))
        .collect();
    if idfs.is_empty() {
        return Some(0.0);
    }
    Some(params.epsilon * idfs.iter().sum::<f64>() / idfs.len() as f64)
}

/// A term's idf, with `okapi`'s floor applied to negative values.
pub(crate) fn term_idf(params: &Params, floor: Option<f64>, df: u32, n: u32) -> f64 {
    let idf = params.idf(df, n);
    match floor {
        Some(f) if idf < 0.0 => f,
        _ => idf,
    }
}

/// Documents analysed per parallel batch in [`Bm25::add`].
const BATCH: usize = 1_024;

/// Where a field's text comes from.
enum Source<'a> {
    /// Title and text joined ([`crate::data::documents`]).
    Joined(DocumentTexts<'a>),
    Column(Vec<&'a str>),
}

impl Source<'_> {
    fn text(&self, i: usize) -> std::borrow::Cow<'_, str> {
        match self {
            Source::Joined(documents) => documents.text(i),
            Source::Column(texts) => std::borrow::Cow::Borrowed(texts[i]),
        }
    }
}

/// One analysed document: its distinct terms, first occurrence first, split into those the
/// vocabulary knew when the batch was analysed (id, tf) and those it did not (their text in
/// `new_text`, each `(end, tf)`), and its length. No string is allocated per term.
#[derive(Default)]
struct AnalysedDoc {
    known: Vec<(u32, u32)>,
    new_text: String,
    new_terms: Vec<(usize, u32)>,
    len: u32,
}

impl AnalysedDoc {
    fn new(analyzer: &Analyzer, vocab: &FxHashMap<String, u32>, text: &str) -> Result<Self> {
        let mut all = String::new();
        let mut ends: Vec<usize> = Vec::new();
        analyzer.for_each_term(text, |t| {
            all.push_str(t);
            ends.push(all.len());
        });
        let len = u32::try_from(ends.len())
            .map_err(|_| Error::config("document", "more than 4 billion terms"))?;
        // Distinct terms with their frequencies, first occurrence first; one hash lookup a term.
        let mut position: FxHashMap<&str, usize> =
            FxHashMap::with_capacity_and_hasher(ends.len(), Default::default());
        let mut distinct: Vec<(&str, u32)> = Vec::new();
        let mut start = 0;
        for &end in &ends {
            let term = &all[start..end];
            start = end;
            match position.entry(term) {
                std::collections::hash_map::Entry::Occupied(e) => distinct[*e.get()].1 += 1,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(distinct.len());
                    distinct.push((term, 1));
                }
            }
        }
        let mut doc = AnalysedDoc {
            len,
            ..Default::default()
        };
        for (term, tf) in distinct {
            match vocab.get(term) {
                Some(&id) => doc.known.push((id, tf)),
                None => {
                    doc.new_text.push_str(term);
                    doc.new_terms.push((doc.new_text.len(), tf));
                }
            }
        }
        Ok(doc)
    }
}

/// A BM25 index.
#[derive(Debug)]
pub struct Bm25 {
    config: Bm25Config,
    analyzer: Analyzer,
    vocab: FxHashMap<String, u32>,
    terms: Vec<String>,
    doc_ids: Vec<String>,
    alive: Vec<bool>,
    slots: FxHashMap<String, u32>,
    fields: Vec<FieldIndex>,
    /// Alive slots by doc id descending: the tie order used to fill results.
    order: Vec<u32>,
    /// Per slot: its position in ascending doc-id order (ties rank the larger id first).
    id_rank: Vec<u32>,
    /// Per term id: its position in the terms sorted by text, so that a query's sums run in
    /// an order that does not depend on the order documents came in.
    text_rank: Vec<u32>,
    /// `doc_ids` as a string column, gathered from when a run table is built.
    id_column: StringChunked,
    /// Search buffers kept between searches.
    scratch: search::ScratchPool,
}

impl Bm25 {
    /// An empty index.
    pub fn new(config: Bm25Config) -> Result<Self> {
        config.params.validate()?;
        let analyzer = Analyzer::new(config.analyzer.clone())?;
        let fields = match &config.fields {
            Fields::Joined => vec![FieldIndex {
                weight: 1.0,
                ..Default::default()
            }],
            Fields::Separate(list) => {
                if list.is_empty() {
                    return Err(Error::config("fields", "give at least one field"));
                }
                for (name, w) in list {
                    if !(w.is_finite() && *w >= 0.0) {
                        return Err(Error::config(
                            "fields",
                            format!("weight of {name:?} must be >= 0, got {w}"),
                        ));
                    }
                }
                list.iter()
                    .map(|(_, w)| FieldIndex {
                        weight: *w,
                        ..Default::default()
                    })
                    .collect()
            }
        };
        Ok(Self {
            config,
            analyzer,
            vocab: FxHashMap::default(),
            terms: Vec::new(),
            doc_ids: Vec::new(),
            alive: Vec::new(),
            slots: FxHashMap::default(),
            fields,
            order: Vec::new(),
            id_rank: Vec::new(),
            text_rank: Vec::new(),
            id_column: StringChunked::default(),
            scratch: Default::default(),
        })
    }

    /// Build an index of `corpus` (`doc_id`, and `title` / `text` or the configured fields).
    pub fn build(config: Bm25Config, corpus: &DataFrame, cancel: &Cancel) -> Result<Self> {
        let mut index = Self::new(config)?;
        if corpus.height() == 0 {
            return Err(Error::Empty {
                what: "corpus table".into(),
            });
        }
        index.add(corpus, cancel)?;
        Ok(index)
    }

    /// The configuration.
    pub fn config(&self) -> &Bm25Config {
        &self.config
    }

    /// The analyzer applied to documents and queries.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Number of documents in the index (deleted ones not counted; see [`Bm25::num_slots`]).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the index holds no document.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of distinct terms in the vocabulary: every term indexed since the last
    /// compaction, including those only deleted documents had.
    pub fn num_terms(&self) -> usize {
        self.terms.len()
    }

    /// Where each field's text comes from, for every row of `corpus`.
    fn field_sources<'a>(&self, corpus: &'a DataFrame) -> Result<Vec<Source<'a>>> {
        let column = |name: &str| -> Result<Vec<&'a str>> {
            Ok(schema::str_values(schema::str_column(corpus, table::CORPUS, name)?).collect())
        };
        match &self.config.fields {
            Fields::Joined => Ok(vec![Source::Joined(DocumentTexts::new(corpus)?)]),
            Fields::Separate(list) => list
                .iter()
                .map(|(name, _)| Ok(Source::Column(column(name)?)))
                .collect(),
        }
    }

    /// Add the documents of `corpus`; their ids must be new.
    pub fn add(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        let ids = schema::str_column(corpus, table::CORPUS, DOC_ID)?;
        let fields = self.field_sources(corpus)?;
        super::check_new_ids(ids, |id| self.slots.contains_key(id))?;
        let n = corpus.height();
        cancel.start("index", n as u64 * fields.len() as u64);
        let first_slot = self.doc_ids.len() as u32;
        let known_terms = self.terms.len();
        if let Err(e) = self.append_postings(&fields, n, first_slot, cancel) {
            // Interrupted or failed part-way: take back what was appended, so the index is
            // exactly what it was before the call.
            self.truncate(first_slot, known_terms);
            return Err(e);
        }
        for (i, id) in schema::str_values(ids).enumerate() {
            self.slots.insert(id.to_owned(), first_slot + i as u32);
            self.doc_ids.push(id.to_owned());
            self.alive.push(true);
        }
        self.refresh();
        Ok(())
    }

    /// Analyse the `n` rows of `fields` and append their postings at slots from `first_slot`.
    fn append_postings(
        &mut self,
        fields: &[Source<'_>],
        n: usize,
        first_slot: u32,
        cancel: &Cancel,
    ) -> Result<()> {
        // Analyse a batch of documents in parallel, merge it into the postings, free it: the
        // memory held for analysed text stays bounded by the batch.
        for (f, source) in fields.iter().enumerate() {
            for start in (0..n).step_by(BATCH) {
                let end = (start + BATCH).min(n);
                let (analyzer, vocab) = (&self.analyzer, &self.vocab);
                let analysed: Vec<AnalysedDoc> = (start..end)
                    .into_par_iter()
                    .map(|i| {
                        cancel.check()?;
                        let doc = AnalysedDoc::new(analyzer, vocab, &source.text(i))?;
                        cancel.advance(1);
                        Ok(doc)
                    })
                    .collect::<Result<_>>()?;
                for (i, doc) in analysed.into_iter().enumerate() {
                    let slot = first_slot + (start + i) as u32;
                    for &(id, tf) in &doc.known {
                        self.fields[f].lists[id as usize].push(slot, tf);
                    }
                    let mut from = 0;
                    for &(to, tf) in &doc.new_terms {
                        let term = &doc.new_text[from..to];
                        from = to;
                        let id = match self.vocab.get(term) {
                            Some(&id) => id,
                            None => {
                                let id = self.terms.len() as u32;
                                self.vocab.insert(term.to_owned(), id);
                                self.terms.push(term.to_owned());
                                for field in &mut self.fields {
                                    field.lists.push(TermList::default());
                                }
                                id
                            }
                        };
                        self.fields[f].lists[id as usize].push(slot, tf);
                    }
                    self.fields[f].doc_len.push(doc.len);
                }
            }
        }
        Ok(())
    }

    /// Drop postings at slots from `first_slot` and terms from id `known_terms` on: undo an
    /// [`Bm25::append_postings`] that did not finish.
    fn truncate(&mut self, first_slot: u32, known_terms: usize) {
        for field in &mut self.fields {
            field.doc_len.truncate(first_slot as usize);
            field.lists.truncate(known_terms);
            for list in &mut field.lists {
                // Slots ascend, so the appended postings are at the end.
                let keep = list.docs.partition_point(|&slot| slot < first_slot);
                list.docs.truncate(keep);
                list.tfs.truncate(keep);
            }
        }
        for term in self.terms.drain(known_terms..) {
            self.vocab.remove(&term);
        }
    }

    /// Delete documents by id; an unknown id is an error and nothing is deleted. Their slots
    /// stay, dead, until more than [`AUTO_COMPACT_DEAD_SHARE`] of the slots is dead; then the
    /// index compacts itself (see [`Bm25::compact`]).
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        let mut slots = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_ref();
            match self.slots.get(id) {
                Some(&s) => slots.push(s),
                None => {
                    return Err(Error::UnknownId {
                        kind: "document",
                        id: id.to_owned(),
                        location: "the index".into(),
                    })
                }
            }
        }
        for (id, slot) in ids.iter().zip(slots) {
            self.slots.remove(id.as_ref());
            self.alive[slot as usize] = false;
        }
        let alive = &self.alive;
        for field in &mut self.fields {
            field
                .lists
                .par_iter_mut()
                .for_each(|l| l.retain(|slot| alive[slot as usize]));
        }
        if self.wants_compaction() {
            self.renumber();
        }
        self.refresh();
        Ok(())
    }

    /// Recompute statistics and stored scores from the postings, then the alive-slot order,
    /// doc-id ranks, term-text ranks and id column: O(total postings + slots log slots + terms
    /// log terms), the cost of every `add`, `delete` and `compact`.
    fn refresh(&mut self) {
        let n = self.slots.len() as u32;
        let params = self.config.params;
        for field in &mut self.fields {
            let total: u64 = field
                .doc_len
                .iter()
                .zip(&self.alive)
                .filter(|(_, a)| **a)
                .map(|(l, _)| *l as u64)
                .sum();
            let avgdl = if n == 0 || total == 0 {
                1.0
            } else {
                total as f64 / n as f64
            };
            field.avgdl = avgdl;
            field.idf_floor = okapi_floor(&params, &field.lists, n);
            let (weight, doc_len) = (field.weight, &field.doc_len);
            let (idf_floor, slots) = (field.idf_floor, doc_len.len());
            field.lists.par_iter_mut().for_each(|list| {
                if list.is_empty() {
                    list.set_scores(Vec::new(), 0.0, slots);
                    return;
                }
                let idf = term_idf(&params, idf_floor, list.len() as u32, n);
                let absent = if params.scores_absent_terms() {
                    idf * params.tfc(0.0, 0.0, avgdl)
                } else {
                    0.0
                };
                let scores = list
                    .docs
                    .iter()
                    .zip(&list.tfs)
                    .map(|(&slot, &tf)| {
                        let full =
                            idf * params.tfc(tf as f64, doc_len[slot as usize] as f64, avgdl);
                        (weight * (full - absent)) as f32
                    })
                    .collect();
                list.set_scores(scores, (weight * absent) as f32, slots);
            });
        }
        let mut order: Vec<u32> = self.slots.values().copied().collect();
        let ids = &self.doc_ids;
        order.par_sort_unstable_by(|a, b| {
            crate::run::order::cmp_doc_ids(&ids[*a as usize], &ids[*b as usize])
        });
        let mut id_rank = vec![0u32; self.doc_ids.len()];
        let n_alive = order.len();
        for (pos, &slot) in order.iter().enumerate() {
            id_rank[slot as usize] = (n_alive - 1 - pos) as u32;
        }
        self.order = order;
        self.id_rank = id_rank;
        let mut by_text: Vec<u32> = (0..self.terms.len() as u32).collect();
        let terms = &self.terms;
        by_text.par_sort_unstable_by(|a, b| terms[*a as usize].cmp(&terms[*b as usize]));
        let mut text_rank = vec![0u32; terms.len()];
        for (pos, &t) in by_text.iter().enumerate() {
            text_rank[t as usize] = pos as u32;
        }
        self.text_rank = text_rank;
        self.id_column =
            StringChunked::from_iter_values(DOC_ID.into(), self.doc_ids.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::never;
    use crate::data::schema::{TEXT, TITLE};

    fn corpus(ids: &[&str], texts: &[&str]) -> DataFrame {
        df!(
            DOC_ID => ids.to_vec(),
            TITLE => vec![""; ids.len()],
            TEXT => texts.to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn an_unfinished_add_is_taken_back_whole() {
        let queries =
            df!("query_id" => ["q1", "q2"], "text" => ["red fruit", "blue kiwi"]).unwrap();
        let first = corpus(&["a", "b"], &["red apple fruit", "green pear"]);
        let extra = corpus(&["c", "d"], &["red kiwi", "blue plum fruit"]);
        let mut index = Bm25::build(Bm25Config::default(), &first, never()).unwrap();
        let before = index.search(&queries, 10, None, never()).unwrap();
        let terms = index.num_terms();

        // Postings appended, then taken back as `add` does when interrupted part-way.
        let fields = index.field_sources(&extra).unwrap();
        index.append_postings(&fields, 2, 2, never()).unwrap();
        assert!(index.num_terms() > terms);
        index.truncate(2, terms);
        assert_eq!(index.num_terms(), terms);
        assert!(index.vocab.len() == terms && index.fields[0].doc_len.len() == 2);
        assert!(index
            .search(&queries, 10, None, never())
            .unwrap()
            .equals(&before));

        // An interrupted `add` leaves the index as it was.
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(
            index.add(&extra, &cancel),
            Err(Error::Interrupted)
        ));
        assert!(index
            .search(&queries, 10, None, never())
            .unwrap()
            .equals(&before));

        // And the index still takes the documents, equal to a fresh index of all four.
        index.add(&extra, never()).unwrap();
        let all = corpus(
            &["a", "b", "c", "d"],
            &[
                "red apple fruit",
                "green pear",
                "red kiwi",
                "blue plum fruit",
            ],
        );
        let fresh = Bm25::build(Bm25Config::default(), &all, never()).unwrap();
        let expected = fresh.search(&queries, 10, None, never()).unwrap();
        assert!(index
            .search(&queries, 10, None, never())
            .unwrap()
            .equals(&expected));
    }
}
