//! Top-k selection in the run order, for the retrievers.
//!
//! Two forms: [`top_k_by`] cuts a list of candidates to its best `k` in linear expected time
//! (`select_nth_unstable`, then a sort of the `k` kept), and [`TopKeys`] keeps the best `k`
//! of a stream of distinct `u64` keys ([`super::order::key`]) for the hot loops of an index.

use std::cmp::Ordering;

/// The best `k` of `items` under `order` (`Less` = ranks ahead), best first.
pub fn top_k_by<T>(mut items: Vec<T>, k: usize, order: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if k == 0 {
        return Vec::new();
    }
    if k < items.len() {
        items.select_nth_unstable_by(k - 1, &order);
        items.truncate(k);
    }
    items.sort_unstable_by(order);
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
    fn top_k_by_equals_a_full_sort_cut() {
        let items: Vec<u32> = (0..1000).map(|i| (i * 7919) % 1009).collect();
        for k in [0, 1, 5, 999, 1000, 2000] {
            let mut full = items.clone();
            full.sort_by(|a, b| b.cmp(a));
            full.truncate(k);
            assert_eq!(top_k_by(items.clone(), k, |a, b| b.cmp(a)), full, "k={k}");
        }
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
