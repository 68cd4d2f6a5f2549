//! Query evaluation: exact top-k by summing stored per-posting scores into a dense accumulator
//! (term-at-a-time), queries in parallel.
//!
//! Summing is branch-free: a query whose postings cover much of the index adds into the dense
//! accumulator and scans it (only 8-slot blocks whose maximum reaches the k-th largest block
//! maximum, a lower bound on the k-th score); a query with few postings also records the slots
//! it touches (each posting writes its slot and advances the count only on the slot's first
//! touch). Selection keeps candidates above a rising threshold in a buffer that is cut back to
//! the best k whenever it fills (amortised linear time, one comparison per candidate below the
//! threshold).
//!
//! Safe early termination on large indexes (Turtle & Flood 1995, "Query evaluation:
//! strategies and optimizations"; the bound is MaxScore's): posting lists are taken from the
//! largest possible contribution down. Before a long list, if the k-th best partial score θ
//! already exceeds the sum R of the largest contributions still to come, no unseen document
//! can reach the top k, so the remaining lists are only probed for the candidates whose
//! partial score plus R can still reach θ (each candidate looked up in O(1) through a long
//! list's rank index, or the list walked against a bitmap of the candidates), and θ rises
//! after each list. The result is the same top k as a full evaluation; the bound needs
//! non-negative scores, so it is used only when every list's smallest score is >= 0, no score
//! floor applies (`bm25l`, `bm25+`) and no allow-list is given.

use polars::prelude::*;
use rayon::prelude::*;

use super::postings::TermList;
use super::Bm25;
use crate::cancel::Cancel;
use crate::data::schema::{self, table, QUERY_ID, SCORE, TEXT};
use crate::error::{Error, Result};
use crate::run::{self, order, topk::TopKeys};

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
    /// Touched slots; only the first `n` entries of a query are meaningful.
    touched: Vec<u32>,
    top: TopKeys,
    /// Per block of the dense scan: the largest accumulator value, as i32 bits.
    maxima: Vec<i32>,
    /// Values being selected from (see [`kth_largest`]).
    select: Vec<i32>,
    cands: Vec<u32>,
    /// One bit per slot: the candidates of early termination.
    flags: Vec<u64>,
}

/// Per-thread buffers kept between searches (the accumulator alone is 4 bytes a slot).
#[derive(Default)]
pub(super) struct ScratchPool(std::sync::Mutex<Vec<Scratch>>);

impl std::fmt::Debug for ScratchPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScratchPool")
    }
}

/// A [`Scratch`] taken from a pool, given back when dropped.
struct Pooled<'a> {
    pool: &'a ScratchPool,
    scratch: Scratch,
}

impl ScratchPool {
    fn take(&self) -> Pooled<'_> {
        let scratch = self.lock().pop().unwrap_or_default();
        Pooled {
            pool: self,
            scratch,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Scratch>> {
        // The lock only guards a push or a pop; a panic elsewhere cannot leave the list broken.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        // A search cut short by a panic may leave its accumulator dirty: drop those buffers.
        if !std::thread::panicking() {
            let scratch = std::mem::take(&mut self.scratch);
            self.pool.lock().push(scratch);
        }
    }
}

/// Least relative slack on a document's bound (partial score + the most still to come),
/// covering the f32 rounding of the additions still to come; it grows with the number of
/// lists (a few units of rounding each).
const BOUND_SLACK: f32 = 1e-4;

/// Early termination is tried only on indexes with at least this many slots: below it, a
/// full evaluation is a few microseconds.
const PRUNE_MIN_SLOTS: usize = 16_384;

/// Slots per block of the dense scan.
const BLOCK: usize = 8;

/// One posting list of a query: (field, term, how often the term occurs in the query).
#[derive(Clone, Copy)]
struct List {
    field: usize,
    term: usize,
    times: f32,
    max: f32,
    len: usize,
}

/// Add `list`'s scores (times `times`) to `acc`, recording each slot's first touch in
/// `touched[n..]` (grown as needed); returns the new count.
#[inline]
fn add_touching(
    acc: &mut [f32],
    touched: &mut Vec<u32>,
    mut n: usize,
    list: &TermList,
    times: f32,
) -> usize {
    if touched.len() < n + list.len() {
        touched.resize(n + list.len(), 0);
    }
    for (&slot, &score) in list.docs.iter().zip(&list.scores) {
        let a = &mut acc[slot as usize];
        let v = score * times;
        touched[n] = slot;
        n += usize::from(*a == 0.0 && v != 0.0);
        *a += v;
    }
    n
}

/// The k-th largest of `values`, using `buf`; `None` when there are fewer than `k`. Scores are
/// compared as their bits read as i32, which orders non-negative floats like their values.
fn kth_largest(buf: &mut Vec<i32>, values: impl Iterator<Item = i32>, k: usize) -> Option<i32> {
    buf.clear();
    buf.extend(values);
    if buf.len() < k {
        return None;
    }
    let (_, kth, _) = buf.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    Some(*kth)
}

/// A float's bits read as i32: for non-negative floats, ordered like the values.
#[inline]
fn bits(v: f32) -> i32 {
    v.to_bits() as i32
}

impl Bm25 {
    /// Term ids of a query's terms that the vocabulary knows, repeats kept.
    fn query_terms(&self, text: &str) -> Vec<u32> {
        let mut terms = Vec::new();
        self.analyzer.for_each_term(text, |t| {
            if let Some(&id) = self.vocab.get(t) {
                terms.push(id);
            }
        });
        terms
    }

    fn list(&self, l: &List) -> &TermList {
        &self.fields[l.field].lists[l.term]
    }

    /// Rank documents for one query: `(slot, score)` best first, at most `k`.
    ///
    /// Selection works on `u64` keys (score bits, then the slot's doc-id rank), so ties never
    /// compare strings.
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
        s.top.reset(k);
        let (lists, floor, non_negative) = self.query_lists(terms);
        let total: usize = lists.iter().map(|l| l.len).sum();
        let dense = total * 8 > slots;
        if allow.is_none()
            && floor == 0.0
            && non_negative
            && dense
            && slots >= PRUNE_MIN_SLOTS
            && lists.len() >= 2
        {
            self.rank_pruned(&lists, k, s);
            return self.drain_best(s);
        }
        let allowed = |slot: usize| allow.is_none_or(|mask| mask[slot]);
        let acc = &mut s.acc[..slots];
        let mut n = 0;
        if dense {
            for l in &lists {
                let list = self.list(l);
                let pairs = list.docs.iter().zip(&list.scores);
                // A term given once (the usual case) needs no product: x * 1 is x.
                if l.times == 1.0 {
                    pairs.for_each(|(&slot, &score)| acc[slot as usize] += score);
                } else {
                    pairs.for_each(|(&slot, &score)| acc[slot as usize] += score * l.times);
                }
            }
            // Only positive evidence ranks. Positive floats order like their bits read as
            // i32, and zero or negative ones read as <= 0, so blocks are compared as integers
            // (vectorised). Without an allow-list the k-th largest block maximum is a lower
            // bound on the k-th best score (k blocks reach it), so only blocks and slots at or
            // above it are looked at.
            let maxima = &mut s.maxima;
            maxima.clear();
            maxima.extend(
                acc.chunks(BLOCK)
                    .map(|block| block.iter().map(|&a| bits(a)).fold(0, i32::max)),
            );
            let mut least = 1i32;
            // With a floor, scores are `a + floor` rounded: slots just below the bound could
            // still tie the k-th score, so every positive slot is looked at.
            if allow.is_none() && floor == 0.0 {
                let positive = maxima.iter().copied().filter(|&m| m > 0);
                least = kth_largest(&mut s.select, positive, k).unwrap_or(1);
            }
            for (b, &best) in maxima.iter().enumerate() {
                if best < least {
                    continue;
                }
                let first = b * BLOCK;
                for (j, &a) in acc[first..(first + BLOCK).min(slots)].iter().enumerate() {
                    if bits(a) >= least && allowed(first + j) {
                        s.top.offer(self.key((first + j) as u32, a + floor));
                    }
                }
            }
        } else {
            for l in &lists {
                n = add_touching(acc, &mut s.touched, n, self.list(l), l.times);
            }
            for &slot in &s.touched[..n] {
                let a = &mut acc[slot as usize];
                // Mark the slot as taken so that a second entry for it is not offered again.
                if *a > 0.0 && allowed(slot as usize) {
                    s.top.offer(self.key(slot, *a + floor));
                    *a = -1.0;
                }
            }
        }
        // With bm25l / bm25+ every document scores at least the floor; the unmatched ones
        // (accumulator exactly 0) tie at the floor and rank by doc id descending, so the first
        // k of them in that order are all that can enter.
        if floor > 0.0 {
            let mut added = 0;
            for &slot in &self.order {
                if added == k {
                    break;
                }
                if acc[slot as usize] == 0.0 && allowed(slot as usize) {
                    s.top.offer(self.key(slot, floor));
                    added += 1;
                }
            }
        }
        if dense {
            acc.fill(0.0);
        } else {
            for &slot in &s.touched[..n] {
                acc[slot as usize] = 0.0;
            }
        }
        self.drain_best(s)
    }

    /// The selection key of a slot in run order ([`order::key`]: the score's bits mapped to
    /// an order-preserving integer, then the slot's doc-id rank), so ties never compare
    /// strings.
    #[inline]
    fn key(&self, slot: u32, score: f32) -> u64 {
        order::key(score, self.id_rank[slot as usize])
    }

    /// The best keys of `s` as `(slot, score)` pairs, best first.
    fn drain_best(&self, s: &mut Scratch) -> Vec<(u32, f32)> {
        let n_alive = self.order.len();
        s.top
            .best()
            .iter()
            .map(|&key| {
                let rank = order::key_id_rank(key) as usize;
                (self.order[n_alive - 1 - rank], order::key_score(key))
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
        sorted.sort_unstable_by_key(|t| self.text_rank[*t as usize]);
        for (fi, field) in self.fields.iter().enumerate() {
            for group in sorted.chunk_by(|a, b| a == b) {
                let t = group[0] as usize;
                let times = group.len() as f32;
                let list = &field.lists[t];
                floor += list.absent * times;
                if list.is_empty() {
                    continue;
                }
                non_negative &= list.min >= 0.0;
                lists.push(List {
                    field: fi,
                    term: t,
                    times,
                    max: list.max * times,
                    len: list.len(),
                });
            }
        }
        lists.sort_by(|a, b| {
            b.max
                .total_cmp(&a.max)
                .then(a.len.cmp(&b.len))
                .then(a.field.cmp(&b.field))
                // By the term's text, not its id: ids depend on the order documents came in.
                .then(self.text_rank[a.term].cmp(&self.text_rank[b.term]))
        });
        (lists, floor, non_negative)
    }

    /// [`Bm25::rank`] with safe early termination over a query's `lists` (all scores >= 0,
    /// no floor); the best keys are left in `s.top`.
    fn rank_pruned(&self, lists: &[List], k: usize, s: &mut Scratch) {
        let slack = 1.0 + BOUND_SLACK.max(lists.len() as f32 * 4.0 * f32::EPSILON);
        // rest[i]: the most the lists from i on can add to any document.
        let mut rest = vec![0.0f32; lists.len() + 1];
        for i in (0..lists.len()).rev() {
            rest[i] = rest[i + 1] + lists[i].max;
        }
        let mut n = 0;
        let mut probe_from = None;
        for (i, l) in lists.iter().enumerate() {
            if i > 0 && n >= k && l.len > n {
                // θ: the k-th best partial score so far (n >= k of them).
                let partial = s.touched[..n]
                    .iter()
                    .map(|&slot| bits(s.acc[slot as usize]));
                let theta =
                    f32::from_bits(kth_largest(&mut s.select, partial, k).unwrap_or(0) as u32);
                if rest[i] * slack < theta {
                    probe_from = Some((i, theta));
                    break;
                }
            }
            n = add_touching(&mut s.acc, &mut s.touched, n, self.list(l), l.times);
        }
        let Some((start, mut theta)) = probe_from else {
            for &slot in &s.touched[..n] {
                let a = std::mem::take(&mut s.acc[slot as usize]);
                if a > 0.0 {
                    s.top.offer(self.key(slot, a));
                }
            }
            return;
        };
        // Candidates: documents whose partial score plus what may still come reaches θ, also
        // flagged in a bitmap so that a list can be walked against them.
        let acc = &mut s.acc;
        let cands = &mut s.cands;
        let flags = &mut s.flags;
        flags.resize(acc.len().div_ceil(64), 0);
        cands.clear();
        for &slot in &s.touched[..n] {
            if (acc[slot as usize] + rest[start]) * slack >= theta {
                cands.push(slot);
                flags[slot as usize / 64] |= 1 << (slot % 64);
            }
        }
        for (i, l) in lists.iter().enumerate().skip(start) {
            let list = self.list(l);
            match &list.rank {
                // Few candidates against a long list: look each one up.
                Some(rank) if cands.len() * 4 < list.len() => {
                    for &slot in cands.iter() {
                        if let Some(p) = rank.position(slot) {
                            acc[slot as usize] += list.scores[p] * l.times;
                        }
                    }
                }
                // Otherwise walk the list, adding to flagged documents only (documents no
                // longer candidates may still be flagged: their sums no longer matter).
                _ => {
                    for (&slot, &score) in list.docs.iter().zip(&list.scores) {
                        if flags[slot as usize / 64] >> (slot % 64) & 1 != 0 {
                            acc[slot as usize] += score * l.times;
                        }
                    }
                }
            }
            // The k-th best score so far only rises: tighten θ, then drop the candidates that
            // can no longer reach it.
            let partial = cands.iter().map(|&slot| bits(acc[slot as usize]));
            if let Some(kth) = kth_largest(&mut s.select, partial, k) {
                theta = theta.max(f32::from_bits(kth as u32));
            }
            cands.retain(|&slot| (acc[slot as usize] + rest[i + 1]) * slack >= theta);
        }
        for &slot in cands.iter() {
            let a = acc[slot as usize];
            if a > 0.0 {
                s.top.offer(self.key(slot, a));
            }
        }
        for &slot in &s.touched[..n] {
            acc[slot as usize] = 0.0;
        }
        flags.fill(0);
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
        crate::retrieve::check_search(self.is_empty(), k)?;
        let qids = schema::str_column(queries, table::QUERIES, QUERY_ID)?;
        let texts = schema::str_column(queries, table::QUERIES, TEXT)?;
        let mask = match allow {
            None => None,
            Some(ids) => {
                let mut mask = vec![false; self.doc_ids.len()];
                for slot in crate::retrieve::allowed_slots(ids, |id| self.slots.get(id).copied())? {
                    mask[slot as usize] = true;
                }
                Some(mask)
            }
        };
        let pairs: Vec<(&str, &str)> = schema::str_values(qids)
            .zip(schema::str_values(texts))
            .collect();
        cancel.start("search", pairs.len() as u64);
        let results: Vec<Vec<(u32, f32)>> = pairs
            .par_iter()
            .map_init(
                || self.scratch.take(),
                |pooled, (_, text)| {
                    cancel.check()?;
                    let terms = self.query_terms(text);
                    let hits = self.rank(&terms, k, mask.as_deref(), &mut pooled.scratch);
                    cancel.advance(1);
                    Ok(hits)
                },
            )
            .collect::<Result<_>>()?;
        // The run table is gathered from the query id and doc id columns, so no id is copied
        // string by string.
        let hits: Vec<Vec<(u32, f64)>> = results
            .into_iter()
            .map(|h| h.into_iter().map(|(slot, s)| (slot, s as f64)).collect())
            .collect();
        run::gather(qids, &self.id_column, &hits)
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
                let list = &field.lists[t as usize];
                if list.is_empty() {
                    continue;
                }
                let tf = list.tf(slot);
                let df = list.len() as u32;
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
