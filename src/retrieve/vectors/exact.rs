//! Exact top-k by inner product over a vector store, as blocked matrix products.
//!
//! A block of queries is multiplied with a block of decoded document rows by the GEMM kernel
//! (`Q · Dᵀ`, the way faiss' `IndexFlatIP` calls BLAS for batches of queries), and each score
//! that reaches the floor of the query's top-k buffer (compared sixteen at a time, so most
//! are passed over in a few vector instructions) is offered to it as one `u64` key
//! ([`crate::run::order::key`]), so ties fall to the larger doc id without touching a string.
//! Queries are split into blocks of equal size, and when there are fewer query blocks than
//! twice the threads the documents are split too and the partial results merged. With
//! quantised storage the scan keeps a shortlist, which is rescored with the full-precision
//! vectors.

use rayon::prelude::*;

use super::codes::Codes;
use crate::cancel::Cancel;
use crate::embed::kernels::matmul;
use crate::error::Result;
use crate::retrieve::kernels::dot;
use crate::run::order::{key, key_id_rank, key_score};
use crate::run::topk::TopKeys;

/// Most queries multiplied together. Each product of a block of documents is shared by the
/// block's queries (the documents are packed once for them all), so larger blocks go
/// faster, up to where one thread's scores (`QUERY_BLOCK · DOC_BLOCK` values) fill its L2.
const QUERY_BLOCK: usize = 512;
/// Document rows decoded and multiplied together.
const DOC_BLOCK: usize = 256;

/// What the scan reads.
pub(crate) struct Table<'a> {
    pub dim: usize,
    /// Full-precision vectors, row-major.
    pub vectors: &'a [f32],
    pub codes: &'a Codes,
    /// The position of each row's id in ascending id order.
    pub id_rank: &'a [u32],
    /// The row of each id rank (the inverse of `id_rank`).
    pub row_of_rank: &'a [u32],
    /// Rows deleted but not yet compacted away (`true` = deleted); empty when none.
    pub deleted: &'a [bool],
}

/// The rows a scan considers: all, or an ascending list.
#[derive(Clone, Copy)]
pub(crate) enum Candidates<'a> {
    All(usize),
    Rows(&'a [u32]),
}

impl Candidates<'_> {
    fn len(&self) -> usize {
        match self {
            Candidates::All(n) => *n,
            Candidates::Rows(r) => r.len(),
        }
    }
}

/// The best `k` rows of each query (rows of `dim` values in `queries`) among `candidates`, as
/// `(row, score)` in run order. With quantised codes the best `shortlist` (≥ `k`) by decoded
/// score are rescored with the full-precision vectors.
pub(crate) fn search(
    table: &Table<'_>,
    queries: &[f32],
    candidates: Candidates<'_>,
    k: usize,
    shortlist: usize,
    cancel: &Cancel,
) -> Result<Vec<Vec<(u32, f32)>>> {
    let dim = table.dim;
    let nq = queries.len() / dim;
    let keep = if matches!(table.codes, Codes::F32) {
        k
    } else {
        shortlist.max(k)
    };
    // Blocks of equal size (1,000 queries make two of 500, not 512 and 488).
    let q_blocks = nq.div_ceil(QUERY_BLOCK);
    let q_block = nq.div_ceil(q_blocks.max(1)).max(1);
    let threads = rayon::current_num_threads();
    let per_chunk = candidates
        .len()
        .div_ceil((threads * 2).div_ceil(q_blocks.max(1)).max(1))
        .next_multiple_of(DOC_BLOCK)
        .max(DOC_BLOCK);
    let chunks = candidates.len().div_ceil(per_chunk).max(1);
    cancel.start("search", nq as u64);
    let parts: Vec<Vec<Vec<u64>>> = (0..q_blocks * chunks)
        .into_par_iter()
        .map(|task| {
            let (qb, chunk) = (task / chunks, task % chunks);
            let q = &queries[qb * q_block * dim..((qb + 1) * q_block).min(nq) * dim];
            let span = chunk * per_chunk..((chunk + 1) * per_chunk).min(candidates.len());
            let tops = scan(table, q, candidates, span, keep, cancel)?;
            if chunk == 0 {
                cancel.advance((q.len() / dim) as u64);
            }
            Ok(tops)
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(nq);
    for qb in 0..q_blocks {
        let block = &parts[qb * chunks..(qb + 1) * chunks];
        for i in 0..block[0].len() {
            let mut keys: Vec<u64> = block.iter().flat_map(|p| p[i].iter().copied()).collect();
            if keep > k {
                let q = &queries[(qb * q_block + i) * dim..][..dim];
                keys = rescore(table, q, keys, keep);
            }
            keys.sort_unstable_by(|a, b| b.cmp(a));
            keys.truncate(k);
            out.push(
                keys.into_iter()
                    .map(|key| (table.row_of_rank[key_id_rank(key) as usize], key_score(key)))
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The best `keep` of `keys` (scores of the quantised copy), rescored with the full-precision
/// vectors; the graph search rescores its beam's best rows with it too.
pub(crate) fn rescore(table: &Table<'_>, q: &[f32], mut keys: Vec<u64>, keep: usize) -> Vec<u64> {
    if keys.len() > keep {
        keys.select_nth_unstable_by(keep - 1, |a, b| b.cmp(a));
        keys.truncate(keep);
    }
    let dim = table.dim;
    keys.into_iter()
        .map(|k| {
            let rank = key_id_rank(k);
            let row = table.row_of_rank[rank as usize] as usize;
            key(dot(q, &table.vectors[row * dim..(row + 1) * dim]), rank)
        })
        .collect()
}

/// One task: the queries `q` against the candidates in `span`; the best `keep` keys of each.
fn scan(
    table: &Table<'_>,
    q: &[f32],
    candidates: Candidates<'_>,
    span: std::ops::Range<usize>,
    keep: usize,
    cancel: &Cancel,
) -> Result<Vec<Vec<u64>>> {
    let dim = table.dim;
    let m = q.len() / dim;
    let mut tops: Vec<TopKeys> = (0..m)
        .map(|_| {
            let mut t = TopKeys::default();
            t.reset(keep);
            t
        })
        .collect();
    let mut scores = vec![0.0f32; m * DOC_BLOCK];
    let mut decoded = vec![0.0f32; DOC_BLOCK * dim];
    let mut start = span.start;
    while start < span.end {
        cancel.check()?;
        let n = DOC_BLOCK.min(span.end - start);
        let docs: &[f32] = match (candidates, table.codes) {
            (Candidates::All(_), Codes::F32) => &table.vectors[start * dim..(start + n) * dim],
            (Candidates::All(_), codes) => {
                codes.decode_range(table.vectors, start, n, dim, &mut decoded[..n * dim]);
                &decoded[..n * dim]
            }
            (Candidates::Rows(rows), codes) => {
                let rows = &rows[start..start + n];
                codes.decode(table.vectors, rows, dim, &mut decoded[..n * dim]);
                &decoded[..n * dim]
            }
        };
        // SAFETY: `q` holds m rows of dim, `docs` n rows of dim, `scores` at least m·n values.
        unsafe {
            matmul(
                m,
                n,
                dim,
                scores.as_mut_ptr(),
                n,
                false,
                q.as_ptr(),
                dim,
                docs.as_ptr(),
                dim,
                true,
                1.0,
                1,
            );
        }
        let row_at = |j: usize| match candidates {
            Candidates::All(_) => (start + j) as u32,
            Candidates::Rows(rows) => rows[start + j],
        };
        for (top, s) in tops.iter_mut().zip(scores.chunks_exact(n)) {
            offer_scores(top, s, |j, s| {
                let row = row_at(j);
                (table.deleted.is_empty() || !table.deleted[row as usize])
                    .then(|| key(s, table.id_rank[row as usize]))
            });
        }
        start += n;
    }
    Ok(tops.iter_mut().map(|t| t.best().to_vec()).collect())
}

/// Scores checked together against the top-k buffer's floor.
const LANES: usize = 16;

/// Offer `scores` (of candidates `0..`) to `top`, `key(j, score)` making candidate `j`'s key
/// (`None` for a deleted row). Most scores of a long scan fall below the buffer's floor: a
/// group of [`LANES`] scores is compared with the floor's score in one vectorised pass and
/// skipped whole when none reaches it; keys are made only for the scores that do.
#[inline(always)]
fn offer_scores(top: &mut TopKeys, scores: &[f32], key: impl Fn(usize, f32) -> Option<u64>) {
    let mut min = top.min_score();
    for (c, group) in scores.chunks(LANES).enumerate() {
        if !group.iter().fold(false, |any, &s| any | (s >= min)) {
            continue;
        }
        for (t, &s) in group.iter().enumerate() {
            if s >= min {
                if let Some(key) = key(c * LANES + t, s) {
                    top.offer(key);
                }
            }
        }
        min = top.min_score();
    }
}
