//! Exact top-k selection with deterministic ties: score descending, then doc id descending
//! (the order `trec_eval` ranks in), so the cut at k is reproducible and the ranks written
//! agree with the ranks an evaluation computes.

use std::cmp::Ordering;

/// Compare `(score, doc id)` pairs: the better one first.
#[inline]
pub fn better(a: (f32, &str), b: (f32, &str)) -> Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| b.1.cmp(a.1))
}

/// Keep the best `k` of `items` (slot, score) in ranked order; `id` names a slot.
pub fn top_k<'a>(items: &mut Vec<(u32, f32)>, k: usize, id: impl Fn(u32) -> &'a str) {
    let cmp = |a: &(u32, f32), b: &(u32, f32)| better((a.1, id(a.0)), (b.1, id(b.0)));
    if items.len() > k {
        items.select_nth_unstable_by(k - 1, cmp);
        items.truncate(k);
    }
    items.sort_unstable_by(cmp);
}
