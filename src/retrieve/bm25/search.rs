//! Query evaluation: exact top-k by summing stored per-posting scores into a dense accumulator
//! (term-at-a-time), touching only the documents that match; queries run in parallel.
//!
//! Safe early termination (Turtle & Flood 1995, "Query evaluation: strategies and
//! optimizations"; the bound is MaxScore's): posting lists are taken from the largest possible
//! contribution down. Before a long list, if the k-th best partial score θ already exceeds the
//! sum R of the largest contributions still to come, no unseen document can reach the top k,
//! so the remaining lists are only probed (binary search) for the candidates whose partial
//! score plus R can still reach θ. The result is the same top k as a full evaluation; the
//! bound needs non-negative scores, so it is used only when every list's smallest score is
//! >= 0 and no score floor applies (`bm25l`, `bm25+`) and no allow-list is given.

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
    partial: Vec<f32>,
}

/// Relative slack on the bound, covering f32 rounding of sums taken in another order.
const BOUND_SLACK: f32 = 1e-4;

/// One posting list of a query: (field, term, how often the term occurs in the query).
#[derive(Clone, Copy)]
struct List {
    field: usize,
    term: usize,
    times: f32,
    max: f32,
    len: usize,
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
        let (lists, floor, non_negative) = self.query_lists(terms);
        if allow.is_none() && floor == 0.0 && non_negative {
            if let Some(hits) = self.rank_pruned(&lists, k, s) {
                return hits;
            }
        }
        let postings: usize = lists.iter().map(|l| l.len).sum();
        let dense = postings * 8 > slots;
        for l in &lists {
            let field = &self.fields[l.field];
            let pairs = field.postings[l.term].iter().zip(&field.scores[l.term]);
            if dense {
                for (&(slot, _), &score) in pairs {
                    s.acc[slot as usize] += score * l.times;
                }
            } else {
                for (&(slot, _), &score) in pairs {
                    let a = &mut s.acc[slot as usize];
                    if *a == 0.0 {
                        s.touched.push(slot);
                    }
                    *a += score * l.times;
                }
            }
        }
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
                        offer(heap, k, self.key(slot, *a + floor));
                    }
                }
            }
            s.acc[..slots].fill(0.0);
        } else {
            for &slot in &s.touched {
                let score = std::mem::take(&mut s.acc[slot as usize]);
                // Only positive evidence ranks (a slot touched twice reads 0 the second time).
                if (score > 0.0 || floor > 0.0) && allowed(slot) {
                    matched += 1;
                    offer(heap, k, self.key(slot, score + floor));
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
                    offer(heap, k, self.key(slot, floor));
                    added += 1;
                }
            }
        }
        self.drain_best(s)
    }

    /// The selection key of a slot: score bits (scores ranked here are > 0, so their bits
    /// order like the values), then the slot's doc-id rank, so ties never compare strings.
    fn key(&self, slot: u32, score: f32) -> u64 {
        ((score.to_bits() as u64) << 32) | self.id_rank[slot as usize] as u64
    }

    /// Empty the heap of `s` into `(slot, score)` pairs, best first.
    fn drain_best(&self, s: &mut Scratch) -> Vec<(u32, f32)> {
        s.keys.clear();
        s.keys.extend(s.heap.drain().map(|r| r.0));
        s.keys.sort_unstable_by(|a, b| b.cmp(a));
        let n_alive = self.order.len();
        s.keys
            .iter()
            .map(|&key| {
                let rank = (key & 0xffff_ffff) as usize;
                (
                    self.order[n_alive - 1 - rank],
                    f32::from_bits((key >> 32) as u32),
                )
            })
            .collect()
    }

    /// The posting lists of a query, each (field, term) once with the number of times the
    /// term occurs, largest possible contribution first: both ways of ranking add scores in
    /// this order, so they agree to the bit. Also returns the score floor (the sum of
    /// `absent` contributions) and whether every stored score is >= 0.
    fn query_lists(&self, terms: &[u32]) -> (Vec<List>, f32, bool) {
        let mut lists: Vec<List> = Vec::new();
        let mut floor = 0.0f32;
        let mut non_negative = true;
        // By text, so that sums run in the same order whatever ids the terms got.
        let mut sorted = terms.to_vec();
        sorted.sort_unstable_by(|a, b| self.terms[*a as usize].cmp(&self.terms[*b as usize]));
        for (fi, field) in self.fields.iter().enumerate() {
            for group in sorted.chunk_by(|a, b| a == b) {
                let t = group[0] as usize;
                let times = group.len() as f32;
                floor += field.absent[t] * times;
                let len = field.postings[t].len();
                if len == 0 {
                    continue;
                }
                let (max, min) = field.bounds[t];
                non_negative &= min >= 0.0;
                lists.push(List {
                    field: fi,
                    term: t,
                    times,
                    max: max * times,
                    len,
                });
            }
        }
        lists.sort_by(|a, b| {
            b.max
                .total_cmp(&a.max)
                .then(a.len.cmp(&b.len))
                .then(a.field.cmp(&b.field))
                // By the term's text, not its id: ids depend on the order documents came in.
                .then_with(|| self.terms[a.term].cmp(&self.terms[b.term]))
        });
        (lists, floor, non_negative)
    }

    /// [`Bm25::rank`] with safe early termination over a query's `lists` (all scores >= 0,
    /// no floor); `None` when the query is too small for it to pay.
    fn rank_pruned(&self, lists: &[List], k: usize, s: &mut Scratch) -> Option<Vec<(u32, f32)>> {
        let total: usize = lists.iter().map(|l| l.len).sum();
        let slots = self.doc_ids.len();
        // Worth it only for queries whose postings cover much of the index.
        if total * 8 <= slots || lists.len() < 2 {
            return None;
        }
        // rest[i]: the most the lists from i on can add to any document.
        let mut rest = vec![0.0f32; lists.len() + 1];
        for i in (0..lists.len()).rev() {
            rest[i] = rest[i + 1] + lists[i].max;
        }
        let add = |s: &mut Scratch, l: &List| {
            let field = &self.fields[l.field];
            for (&(slot, _), &score) in field.postings[l.term].iter().zip(&field.scores[l.term]) {
                let a = &mut s.acc[slot as usize];
                let v = score * l.times;
                // Scores are >= 0 here: a slot is listed once, when it first turns positive.
                if *a == 0.0 && v > 0.0 {
                    s.touched.push(slot);
                }
                *a += v;
            }
        };
        let mut probe_from = None;
        for (i, l) in lists.iter().enumerate() {
            if i > 0 && s.touched.len() >= k && l.len > s.touched.len() {
                // θ: the k-th best partial score so far.
                s.partial.clear();
                s.partial
                    .extend(s.touched.iter().map(|&slot| s.acc[slot as usize]));
                let (_, theta, _) = s
                    .partial
                    .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
                let theta = *theta;
                if rest[i] * (1.0 + BOUND_SLACK) < theta {
                    probe_from = Some((i, theta));
                    break;
                }
            }
            add(s, l);
        }
        let mut cands: Vec<u32> = Vec::new();
        if let Some((start, mut theta)) = probe_from {
            // Candidates: documents whose partial score plus what may still come reaches θ.
            let reach = |acc: f32, rest: f32| acc + rest * (1.0 + BOUND_SLACK) >= theta;
            cands.extend(
                s.touched
                    .iter()
                    .copied()
                    .filter(|&slot| reach(s.acc[slot as usize], rest[start])),
            );
            cands.sort_unstable();
            for (i, l) in lists.iter().enumerate().skip(start) {
                let field = &self.fields[l.field];
                let postings = &field.postings[l.term];
                let scores = &field.scores[l.term];
                let mut lo = 0usize;
                for &slot in &cands {
                    // Candidates ascend, so each search gallops on from where the last one
                    // ended: steps grow as the log of the gap, not of the list.
                    let mut step = 1usize;
                    let mut hi = lo;
                    while hi < postings.len() && postings[hi].0 < slot {
                        lo = hi + 1;
                        hi += step;
                        step *= 2;
                    }
                    let hi = hi.min(postings.len() - 1) + 1;
                    match postings[lo..hi].binary_search_by_key(&slot, |p| p.0) {
                        Ok(j) => {
                            s.acc[slot as usize] += scores[lo + j] * l.times;
                            lo += j + 1;
                        }
                        Err(j) => lo += j,
                    }
                    if lo >= postings.len() {
                        break;
                    }
                }
                // The k-th best score so far only rises: tighten θ, then drop the candidates
                // that can no longer reach it.
                if cands.len() > k {
                    s.partial.clear();
                    s.partial
                        .extend(cands.iter().map(|&slot| s.acc[slot as usize]));
                    let (_, kth, _) = s
                        .partial
                        .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
                    theta = theta.max(*kth);
                }
                let reach = |acc: f32, rest: f32| acc + rest * (1.0 + BOUND_SLACK) >= theta;
                cands.retain(|&slot| reach(s.acc[slot as usize], rest[i + 1]));
            }
        }
        let heap = &mut s.heap;
        heap.clear();
        let pool: &[u32] = if probe_from.is_some() {
            &cands
        } else {
            &s.touched
        };
        for &slot in pool {
            let score = s.acc[slot as usize];
            if score > 0.0 {
                offer(heap, k, self.key(slot, score));
            }
        }
        for &slot in &s.touched {
            s.acc[slot as usize] = 0.0;
        }
        s.touched.clear();
        Some(self.drain_best(s))
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
