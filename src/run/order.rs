//! The ranking order of a run, defined once: score descending, ties broken by doc id
//! descending.
//!
//! This is the order `trec_eval` sorts a query's documents in before it computes any metric
//! (`trec_eval` 9.x, `form_res_rels.c`: `qsort` on score, then on `docno` with `strcmp`, both
//! descending). Every retriever, the TREC writer and `evaluate` rank with it, so a cut at `k`
//! is reproducible and a written rank agrees with an evaluation's.
//!
//! NaN policy: a NaN score cannot be ranked and is an error that names the query and the
//! document ([`check_score`]); the comparator itself uses `total_cmp`, so it is a total order
//! even on values that bypassed the check. `-0.0` and `0.0` compare equal, as in C.

use std::cmp::Ordering;

use crate::error::{Error, Result};

/// The run order between `(score, doc_id)` pairs: `Less` means `a` ranks ahead of `b`.
#[inline]
pub fn cmp(a_score: f64, a_doc: &str, b_score: f64, b_doc: &str) -> Ordering {
    cmp_by(a_score, b_score).then_with(|| cmp_doc_ids(a_doc, b_doc))
}

/// The tie part of [`cmp`]: the larger doc id first.
#[inline]
pub fn cmp_doc_ids(a_doc: &str, b_doc: &str) -> Ordering {
    b_doc.cmp(a_doc)
}

/// The score part of [`cmp`]: higher first; `-0.0 == 0.0`.
#[inline]
pub fn cmp_by(a_score: f64, b_score: f64) -> Ordering {
    if a_score == b_score {
        Ordering::Equal
    } else {
        b_score.total_cmp(&a_score)
    }
}

/// `Err(NanScore)` naming `table`, the query and the document when `score` is NaN.
#[inline]
pub fn check_score(table: &'static str, query_id: &str, doc_id: &str, score: f64) -> Result<()> {
    if score.is_nan() {
        return Err(Error::NanScore {
            table,
            query_id: query_id.to_owned(),
            doc_id: doc_id.to_owned(),
        });
    }
    Ok(())
}

/// A `u64` whose unsigned order is the order of the scores (`cmp_by` reversed: a larger key
/// ranks first); `-0.0` and `0.0` get the same key. NaN must not occur.
#[inline]
pub fn score_key(score: f64) -> u64 {
    debug_assert!(!score.is_nan(), "NaN has no place in the run order");
    // Adding 0.0 turns -0.0 into 0.0 and leaves every other value as it is.
    let b = (score + 0.0).to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

/// Lists longer than this are sorted by whole keys ([`sort_by_whole_keys`]); shorter ones by
/// packed keys, whose index part then takes at most 16 bits.
const PACKED_MAX: usize = 1 << 16;

/// Sort `items` in the run order ([`cmp`]) of `(score(item), doc(item))`.
///
/// Each item becomes one `u64`: the high bits of its [`score_key`] (all but the `b` bits
/// needed to count the items) with its index in the low `b` bits. Sorting those plain integers
/// orders the items by score up to the dropped bits; items whose kept bits agree (equal
/// scores, or scores less than `2^b` units in the last place apart that fall in the same
/// block of `2^b` keys) lie together, in index order, and each such run is then sorted with
/// [`cmp`], which compares the whole scores and, for tied ones, the doc ids. Sorting 8-byte integers is about twice as fast as
/// sorting the items by key, and the runs are short (pairs of tied scores, mostly).
///
/// Lists that are in run order already (a retriever's output, most run files) are left as
/// they are after one pass, which stops at the first pair out of order.
pub fn sort_in_run_order<'a, T: Copy>(
    items: &mut [T],
    score: impl Fn(&T) -> f64,
    doc: impl Fn(&T) -> &'a str,
) {
    let n = items.len();
    let ordered = |a: &T, b: &T| cmp(score(a), doc(a), score(b), doc(b)) != Ordering::Greater;
    if items.is_sorted_by(ordered) {
        return;
    }
    if n > PACKED_MAX {
        return sort_by_whole_keys(items, score, doc);
    }
    let index_bits = usize::BITS - (n - 1).leading_zeros();
    let low = (1u64 << index_bits) - 1;
    let mut packed: Vec<u64> = items
        .iter()
        .enumerate()
        .map(|(i, x)| (!score_key(score(x)) & !low) | i as u64)
        .collect();
    packed.sort_unstable();
    let item = |p: u64| &items[(p & low) as usize];
    let mut start = 0;
    while start < n {
        let high = packed[start] & !low;
        let mut end = start + 1;
        while end < n && packed[end] & !low == high {
            end += 1;
        }
        if end - start > 1 {
            packed[start..end].sort_unstable_by(|&a, &b| {
                let (a, b) = (item(a), item(b));
                cmp(score(a), doc(a), score(b), doc(b))
            });
        }
        start = end;
    }
    let sorted: Vec<T> = packed.iter().map(|&p| *item(p)).collect();
    items.copy_from_slice(&sorted);
}

/// [`sort_in_run_order`] for long lists: by [`score_key`] (computed once per item), then each
/// run of tied scores by doc id (read only for ties).
fn sort_by_whole_keys<'a, T: Copy>(
    items: &mut [T],
    score: impl Fn(&T) -> f64,
    doc: impl Fn(&T) -> &'a str,
) {
    let mut keyed: Vec<(u64, T)> = items.iter().map(|x| (!score_key(score(x)), *x)).collect();
    keyed.sort_unstable_by_key(|x| x.0);
    let mut start = 0;
    while start < keyed.len() {
        let k = keyed[start].0;
        // Tied runs are short: a linear scan finds their end in one comparison per item.
        let mut end = start + 1;
        while end < keyed.len() && keyed[end].0 == k {
            end += 1;
        }
        if end - start > 1 {
            keyed[start..end].sort_unstable_by(|a, b| cmp_doc_ids(doc(&a.1), doc(&b.1)));
        }
        start = end;
    }
    for (slot, (_, x)) in items.iter_mut().zip(keyed) {
        *slot = x;
    }
}

/// A `u64` whose descending order is the run order of `(score, doc)`, for a score in `f32`
/// and `id_rank` = the document's position in ascending doc-id order (a larger id ranks
/// first on ties). The score's bits are mapped so that unsigned order is float order
/// (negative values inverted, positive ones with the sign bit set); NaN must not occur.
#[inline]
pub fn key(score: f32, id_rank: u32) -> u64 {
    debug_assert!(!score.is_nan(), "NaN has no place in the run order");
    let b = score.to_bits();
    let ordered = if b >> 31 == 1 { !b } else { b | 1 << 31 };
    // -0.0 and 0.0 tie, as in `cmp`.
    let ordered = if score == 0.0 { 1 << 31 } else { ordered };
    ((ordered as u64) << 32) | id_rank as u64
}

/// The score of a [`key`].
#[inline]
pub fn key_score(key: u64) -> f32 {
    let ordered = (key >> 32) as u32;
    f32::from_bits(if ordered >> 31 == 1 {
        ordered & !(1 << 31)
    } else {
        !ordered
    })
}

/// The `id_rank` of a [`key`].
#[inline]
pub fn key_id_rank(key: u64) -> u32 {
    key as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_descending_then_doc_id_descending() {
        let mut rows = [
            (1.0, "a"),
            (2.0, "b"),
            (1.0, "c"),
            (-1.0, "z"),
            (0.0, "m"),
            (-0.0, "n"),
            (f64::INFINITY, "i"),
            (f64::NEG_INFINITY, "j"),
        ];
        rows.sort_by(|a, b| cmp(a.0, a.1, b.0, b.1));
        let docs: Vec<&str> = rows.iter().map(|r| r.1).collect();
        assert_eq!(docs, ["i", "b", "c", "a", "n", "m", "z", "j"]);
    }

    #[test]
    fn a_nan_score_names_query_and_document() {
        let e = check_score("run", "q1", "d7", f64::NAN).unwrap_err();
        assert_eq!(
            e.to_string(),
            "run: score of query \"q1\", document \"d7\" is NaN"
        );
        assert!(check_score("run", "q1", "d7", f64::INFINITY).is_ok());
    }

    #[test]
    fn sorting_by_score_keys_is_the_run_order() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let specials = [
            0.0,
            -0.0,
            1e-300,
            -1e-300,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
        ];
        let ids: Vec<String> = (0..40).map(|i| format!("d{i}")).collect();
        for round in 0..50 {
            // Few distinct scores, so that ties are common.
            let rows: Vec<(f64, &str)> = (0..200)
                .map(|_| {
                    let r = next();
                    let score = match r % 4 {
                        0 => specials[(r >> 8) as usize % specials.len()],
                        1 => -specials[(r >> 8) as usize % specials.len()],
                        _ => ((r >> 8) % 9) as f64 / 4.0 - 1.0,
                    };
                    (score, ids[(r >> 40) as usize % ids.len()].as_str())
                })
                .collect();
            check_against_cmp(rows, &format!("round {round}"));
        }
        assert_eq!(score_key(0.0), score_key(-0.0));
        assert!(score_key(1.0) > score_key(0.5) && score_key(-0.5) > score_key(-1.0));
        assert!(score_key(f64::INFINITY) > score_key(f64::MAX));
    }

    /// `rows` sorted by [`sort_in_run_order`] equal `rows` sorted by [`cmp`].
    fn check_against_cmp(mut rows: Vec<(f64, &str)>, what: &str) {
        let mut expected = rows.clone();
        expected.sort_by(|a, b| cmp(a.0, a.1, b.0, b.1));
        sort_in_run_order(&mut rows, |r| r.0, |r| r.1);
        // Equal under the order: score equal (as C compares) and the same doc id.
        let same = |a: &(f64, &str), b: &(f64, &str)| a.0 == b.0 && a.1 == b.1;
        assert!(
            rows.iter().zip(&expected).all(|(a, b)| same(a, b)),
            "{what}"
        );
    }

    #[test]
    fn scores_a_few_units_in_the_last_place_apart_are_ordered() {
        // Distinct scores that agree in all but their last bits, where the packed keys of a
        // list of 3,000 items hold the index: they must still be ordered by score, and the
        // tied ones by doc id.
        let ids: Vec<String> = (0..3000)
            .map(|i| format!("d{:04}", (i * 7919) % 3000))
            .collect();
        let mut step = 1.0f64;
        let mut rows: Vec<(f64, &str)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            // Runs of neighbouring floats (up and down from 1.0 and 0.25), some repeated.
            step = if i % 5 == 0 { step.next_up() } else { step };
            let score = match i % 3 {
                0 => step,
                1 => 2.0 - step,
                _ => 0.25f64.next_down() + (i % 11) as f64 * f64::EPSILON / 8.0,
            };
            rows.push((score, id.as_str()));
        }
        check_against_cmp(rows, "3,000 near-equal scores");
    }

    #[test]
    fn lists_in_run_order_stay_and_tied_ones_out_of_order_are_sorted() {
        let ids: Vec<String> = (0..500).map(|i| format!("d{i:03}")).collect();
        // Scores descending in runs of 3 ties, each run's doc ids descending: in run order.
        let mut rows: Vec<(f64, &str)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (-((i / 3) as f64), id.as_str()))
            .collect();
        for run in rows.chunks_mut(3) {
            run.reverse();
        }
        let before = rows.clone();
        sort_in_run_order(&mut rows, |r| r.0, |r| r.1);
        assert_eq!(rows, before);
        // Two tied doc ids swapped (scores still descending), and a -0.0 tied with a 0.0
        // out of doc id order: the list is sorted again.
        rows.swap(3, 4);
        check_against_cmp(rows.clone(), "tied ids out of order");
        let zeros = vec![(0.0, "d1"), (-0.0, "d2"), (-1.0, "d3")];
        check_against_cmp(zeros, "-0.0 and 0.0 tied");
        check_against_cmp(before[..1].to_vec(), "one item");
        check_against_cmp(Vec::new(), "no item");
    }

    #[test]
    fn long_lists_are_sorted_by_whole_keys() {
        let n = PACKED_MAX + 10;
        let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
        let rows = ids
            .iter()
            .enumerate()
            .map(|(i, id)| ((i % 977) as f64 / 7.0, id.as_str()))
            .collect();
        check_against_cmp(rows, "a list longer than PACKED_MAX");
    }

    #[test]
    fn keys_sort_as_the_comparator() {
        let scores = [
            3.5f32,
            -2.0,
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            f32::MAX,
            f32::MIN,
            7.25,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let ids = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
        let mut by_key: Vec<(u64, usize)> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (key(s, i as u32), i))
            .collect();
        by_key.sort_by_key(|b| std::cmp::Reverse(b.0));
        let mut by_cmp: Vec<usize> = (0..scores.len()).collect();
        by_cmp.sort_by(|&a, &b| cmp(scores[a] as f64, ids[a], scores[b] as f64, ids[b]));
        assert_eq!(by_key.iter().map(|x| x.1).collect::<Vec<_>>(), by_cmp);
        for (k, i) in by_key {
            assert_eq!(key_score(k), scores[i] + 0.0, "{i}");
            assert_eq!(key_id_rank(k), i as u32);
        }
    }
}
