//! Top-k selection in the run order, for the retrievers.
//!
//! Two forms: [`top_k_in_run_order`] cuts a list of candidates to its best `k` in linear
//! expected time (`select_nth_unstable`, then [`order::sort_in_run_order`] of the `k` kept),
//! and [`TopKeys`] keeps the best `k` of a stream of distinct `u64` keys
//! ([`super::order::key`]) for the hot loops of an index.

use super::order;

/// The best `k` of `items` in the run order of `(score(item), doc(item))`, best first: a
/// selection under [`order::cmp`] when `k` cuts the list, then [`order::sort_in_run_order`],
/// which compares doc ids only between tied scores.
pub fn top_k_in_run_order<'a, T: Copy>(
    mut items: Vec<T>,
    k: usize,
    score: impl Fn(&T) -> f64,
    doc: impl Fn(&T) -> &'a str,
) -> Vec<T> {
    if k == 0 {
        return Vec::new();
    }
    if k < items.len() {
        items.select_nth_unstable_by(k - 1, |a, b| order::cmp(score(a), doc(a), score(b), doc(b)));
        items.truncate(k);
    }
    order::sort_in_run_order(&mut items, score, doc);
    items
}

/// The best `k` of a stream of distinct `u64` keys (larger is better): keys above the current
/// floor are buffered, and the buffer is cut back to the best `k` (selection, linear time)
/// whenever it fills, so each key below the floor costs one comparison.
#[derive(Debug, Default)]
pub struct TopKeys {
    k: usize,
    keys: Vec<u64>,
    /// The k-th best key kept so far (0 until k keys were cut to): only larger keys enter.
    floor: u64,
}

impl TopKeys {
    /// Start over, keeping the best `k` (at least 1).
    pub fn reset(&mut self, k: usize) {
        self.k = k.max(1);
        self.keys.clear();
        self.floor = 0;
    }

    /// Offer a key.
    #[inline]
    pub fn offer(&mut self, key: u64) {
        if key > self.floor {
            self.keys.push(key);
            if self.keys.len() >= self.k.saturating_mul(2).max(64) {
                self.cut();
            }
        }
    }

    /// The score ([`order::key_score`]) of the current floor, `-inf` before the first cut:
    /// a key whose score is below it cannot enter, so hot loops can skip such scores with a
    /// float comparison before making their keys (a score equal to it may still enter).
    #[inline]
    pub fn min_score(&self) -> f32 {
        if self.floor == 0 {
            f32::NEG_INFINITY
        } else {
            order::key_score(self.floor)
        }
    }

    fn cut(&mut self) {
        let k = self.k;
        if self.keys.len() > k {
            self.keys.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
            self.keys.truncate(k);
            self.floor = self.keys[k - 1];
        }
    }

    /// The kept keys, best first.
    pub fn best(&mut self) -> &[u64] {
        self.cut();
        self.keys.sort_unstable_by(|a, b| b.cmp(a));
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_in_run_order_equals_the_comparators_sort_cut() {
        // Few distinct scores (ties at every cut) and signed zeros, which tie.
        let ids: Vec<String> = (0..300).map(|i| format!("d{}", (i * 37) % 300)).collect();
        let items: Vec<(&str, f64)> = ids
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let score = match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    r => (r as f64 - 3.0) / 2.0,
                };
                (d.as_str(), score)
            })
            .collect();
        for k in [0, 1, 7, 42, 299, 300, 301] {
            let mut full = items.clone();
            full.sort_by(|a, b| order::cmp(a.1, a.0, b.1, b.0));
            full.truncate(k);
            let got = top_k_in_run_order(items.clone(), k, |h| h.1, |h| h.0);
            let ids = |v: &[(&str, f64)]| v.iter().map(|h| h.0.to_owned()).collect::<Vec<_>>();
            assert_eq!(ids(&got), ids(&full), "k={k}");
        }
    }

    #[test]
    fn the_floor_score_passes_over_only_keys_that_cannot_enter() {
        let mut top = TopKeys::default();
        top.reset(5);
        assert_eq!(top.min_score(), f32::NEG_INFINITY);
        // Scores from -3 to 3 in steps of 0.5 with signed zeros, ids 0..: many ties.
        let scores: Vec<f32> = (0..200)
            .map(|i| match i % 13 {
                6 => -0.0,
                r => (r as f32 - 6.0) / 2.0,
            })
            .collect();
        for (i, &s) in scores.iter().enumerate() {
            let floor = top.min_score();
            let key = order::key(s, i as u32);
            if s < floor {
                // A key of a score below the floor's score would not have entered.
                let mut probe = TopKeys {
                    keys: Vec::new(),
                    ..top
                };
                probe.offer(key);
                assert!(probe.keys.is_empty(), "score {s} below {floor}");
            }
            top.offer(key);
        }
        let best = top.best().to_vec();
        assert_eq!(top.min_score(), order::key_score(best[4]));
        assert_eq!(top.min_score(), 3.0);
    }

    #[test]
    fn top_keys_keeps_the_largest() {
        let mut top = TopKeys::default();
        for k in [1, 3, 100] {
            top.reset(k);
            let keys: Vec<u64> = (1..=500u64).map(|i| (i * 104_729) % 100_003 + 1).collect();
            for &key in &keys {
                top.offer(key);
            }
            let mut expected = keys.clone();
            expected.sort_by(|a, b| b.cmp(a));
            expected.truncate(k);
            assert_eq!(top.best(), expected.as_slice());
        }
    }
}
