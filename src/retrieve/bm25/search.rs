//! Query evaluation: exact top-k by summing stored per-posting scores into a dense accumulator
//! (term-at-a-time), touching only the documents that match; queries run in parallel.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::Bm25;
use crate::cancel::Cancel;
use crate::data::schema::{self, table, QUERY_ID, SCORE, TEXT};
use crate::error::{Error, Result};

/// Keep `candidate` if it is among the best `k` keys seen.
#[inline]
fn offer(heap: &mut BinaryHeap<Reverse<u64>>, k: usize, candidate: u64) {
    if heap.len() < k {
        heap.push(Reverse(candidate));
    } else if candidate > heap.peek().map_or(0, |r| r.0) {
        heap.pop();
        heap.push(Reverse(candidate));
    }
}

/// Columns of an explanation.
#[derive(Default)]
struct ExplainRows {
    field: Vec<String>,
    term: Vec<String>,
    tf: Vec<u32>,
    df: Vec<u32>,
    idf: Vec<f64>,
    doc_len: Vec<u32>,
    avgdl: Vec<f64>,
    score: Vec<f64>,
}

/// Reusable per-thread buffers.
#[derive(Default)]
struct Scratch {
    acc: Vec<f32>,
    touched: Vec<u32>,
    heap: BinaryHeap<Reverse<u64>>,
    keys: Vec<u64>,
}

impl Bm25 {
    /// Term ids of a query's terms that the vocabulary knows, repeats kept.
    fn query_terms(&self, text: &str) -> Vec<u32> {
        self.analyzer
            .tokenize(text)
            .iter()
            .filter_map(|t| self.vocab.get(t).copied())
            .collect()
    }

    /// Rank documents for one query: `(slot, score)` best first, at most `k`.
    ///
    /// Scores are summed into a dense `f32` accumulator. When the query's postings are few
    /// the touched slots are tracked; when they cover much of the index the whole
    /// accumulator is scanned instead. Selection works on `u64` keys (score bits, then the
    /// slot's doc-id rank), so ties never compare strings.
    fn rank(
        &self,
        terms: &[u32],
        k: usize,
        allow: Option<&[bool]>,
        s: &mut Scratch,
    ) -> Vec<(u32, f32)> {
        if terms.is_empty() {
            return Vec::new();
        }
        let slots = self.doc_ids.len();
        if s.acc.len() < slots {
            s.acc.resize(slots, 0.0);
        }
        let postings: usize = self
            .fields
            .iter()
            .map(|f| {
                terms
                    .iter()
                    .map(|&t| f.postings[t as usize].len())
                    .sum::<usize>()
            })
            .sum();
        let dense = postings * 8 > slots;
        let mut floor = 0.0f32;
        for field in &self.fields {
            for &t in terms {
                let t = t as usize;
                floor += field.absent[t];
                let pairs = field.postings[t].iter().zip(&field.scores[t]);
                if dense {
                    for (&(slot, _), &score) in pairs {
                        s.acc[slot as usize] += score;
                    }
                } else {
                    for (&(slot, _), &score) in pairs {
                        let a = &mut s.acc[slot as usize];
                        if *a == 0.0 {
                            s.touched.push(slot);
                        }
                        *a += score;
                    }
                }
            }
        }
        // Scores are >= 0, so their bit patterns order like the values.
        let key = |slot: u32, score: f32| {
            ((score.to_bits() as u64) << 32) | self.id_rank[slot as usize] as u64
        };
        let allowed = |slot: u32| allow.is_none_or(|mask| mask[slot as usize]);
        // Best k keys in a bounded min-heap: after the first k, a candidate costs one
        // comparison with the smallest key kept.
        let heap = &mut s.heap;
        heap.clear();
        let mut matched = 0usize;
        if dense {
            for (slot, a) in s.acc[..slots].iter().enumerate() {
                if *a > 0.0 {
                    let slot = slot as u32;
                    if allowed(slot) {
                        matched += 1;
                        offer(heap, k, key(slot, *a + floor));
                    }
                }
            }
            s.acc[..slots].fill(0.0);
        } else {
            for &slot in &s.touched {
                let score = std::mem::take(&mut s.acc[slot as usize]);
                if allowed(slot) {
                    matched += 1;
                    offer(heap, k, key(slot, score + floor));
                }
            }
            s.touched.clear();
        }
        // With bm25l / bm25+ every document scores at least the floor: when fewer than k
        // matched, fill with the best unmatched ones (doc id descending among equals).
        if floor > 0.0 && matched < k {
            let kept: FxHashSet<u32> = heap.iter().map(|r| r.0 as u32).collect();
            let mut added = 0;
            for &slot in &self.order {
                if added == k - matched {
                    break;
                }
                if !kept.contains(&self.id_rank[slot as usize]) && allowed(slot) {
                    offer(heap, k, key(slot, floor));
                    added += 1;
                }
            }
        }
        s.keys.clear();
        s.keys.extend(heap.drain().map(|r| r.0));
        s.keys.sort_unstable_by(|a, b| b.cmp(a));
        let n_alive = self.order.len();
        s.keys
            .iter()
            .map(|&k| {
                let rank = (k & 0xffff_ffff) as usize;
                (
                    self.order[n_alive - 1 - rank],
                    f32::from_bits((k >> 32) as u32),
                )
            })
            .collect()
    }

    /// Search every query of `queries` (`query_id`, `text`); returns a run table with at most
    /// `k` documents per query. `allow` restricts results to those document ids.
    pub fn search(
        &self,
        queries: &DataFrame,
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        if k == 0 {
            return Err(Error::config("k", "must be at least 1"));
        }
        if self.is_empty() {
            return Err(Error::Empty {
                what: "the index (index a corpus first)".into(),
            });
        }
        let qids = schema::str_column(queries, table::QUERIES, QUERY_ID)?;
        let texts = schema::str_column(queries, table::QUERIES, TEXT)?;
        let mask = match allow {
            None => None,
            Some(ids) => {
                let mut mask = vec![false; self.doc_ids.len()];
                for id in ids {
                    match self.slots.get(id.as_str()) {
                        Some(&slot) => mask[slot as usize] = true,
                        None => {
                            return Err(Error::UnknownId {
                                kind: "document",
                                id: id.clone(),
                                location: "the allow list".into(),
                            })
                        }
                    }
                }
                Some(mask)
            }
        };
        let pairs: Vec<(&str, &str)> = schema::str_values(qids)
            .zip(schema::str_values(texts))
            .collect();
        cancel.start(pairs.len() as u64);
        let results: Vec<Vec<(u32, f32)>> = pairs
            .par_iter()
            .map_init(Scratch::default, |scratch, (_, text)| {
                cancel.check()?;
                let terms = self.query_terms(text);
                let hits = self.rank(&terms, k, mask.as_deref(), scratch);
                cancel.advance(1);
                Ok(hits)
            })
            .collect::<Result<_>>()?;
        schema::ranked_run_frame(pairs.iter().zip(&results).map(|((qid, _), hits)| {
            (
                *qid,
                hits.iter()
                    .map(|&(slot, score)| (self.doc_ids[slot as usize].as_str(), score as f64)),
            )
        }))
    }

    /// Each query term's contribution to `doc_id`'s score for `query`: one row per (field,
    /// query term occurrence known to the index) with `field`, `term`, `tf`, `df`, `idf`,
    /// `doc_len`, `avg_doc_len` and `score`; the scores sum to the document's search score.
    pub fn explain(&self, query: &str, doc_id: &str) -> Result<DataFrame> {
        let slot = *self.slots.get(doc_id).ok_or_else(|| Error::UnknownId {
            kind: "document",
            id: doc_id.to_owned(),
            location: "the index".into(),
        })?;
        let params = self.config.params;
        let n = self.slots.len() as u32;
        let names: Vec<String> = match &self.config.fields {
            super::Fields::Joined => vec!["title+text".into()],
            super::Fields::Separate(list) => list.iter().map(|(n, _)| n.clone()).collect(),
        };
        let mut rows = ExplainRows::default();
        for (field, name) in self.fields.iter().zip(&names) {
            for t in self.query_terms(query) {
                let postings = &field.postings[t as usize];
                if postings.is_empty() {
                    continue;
                }
                let tf = postings
                    .binary_search_by_key(&slot, |p| p.0)
                    .map_or(0, |i| postings[i].1);
                let df = postings.len() as u32;
                let idf = super::term_idf(&params, field.idf_floor, df, n);
                let dl = field.doc_len[slot as usize];
                let contribution =
                    field.weight * idf * params.tfc(tf as f64, dl as f64, field.avgdl);
                let contribution = if tf == 0 && !params.scores_absent_terms() {
                    0.0
                } else {
                    contribution
                };
                rows.field.push(name.clone());
                rows.term.push(self.terms[t as usize].clone());
                rows.tf.push(tf);
                rows.df.push(df);
                rows.idf.push(idf);
                rows.doc_len.push(dl);
                rows.avgdl.push(field.avgdl);
                rows.score.push(contribution);
            }
        }
        schema::frame(vec![
            Column::new("field".into(), rows.field),
            Column::new("term".into(), rows.term),
            Column::new("tf".into(), rows.tf),
            Column::new("df".into(), rows.df),
            Column::new("idf".into(), rows.idf),
            Column::new("doc_len".into(), rows.doc_len),
            Column::new("avg_doc_len".into(), rows.avgdl),
            Column::new(SCORE.into(), rows.score),
        ])
    }
}
