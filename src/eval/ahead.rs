//! Counting, for each judged document of a query, the unjudged scores above and equal to its
//! own: the inner loop of ranking a query's judged documents (see [`super::prepare`]).
//!
//! Every judged score is compared with every unjudged one, O(n·m) for n unjudged and m
//! judged documents, without a branch: the unjudged scores lie in one contiguous slice, which
//! stays in the L1 cache while the judged scores are compared with it in turn, and each
//! comparison adds its outcome (0 or 1) to a count. The loop is compiled three times
//! (AVX-512F, AVX2, baseline x86-64, whose SSE2 compares two doubles at a time) and the widest
//! version the CPU has is chosen once, at the first call, as the dense-retrieval kernels
//! ([`crate::retrieve::kernels`]) are. Counts are integers, so every version gives the same
//! result.

use std::sync::OnceLock;

/// The signature of every version: for each `judged[j]`, `out[j]` = (unjudged scores
/// greater, unjudged scores equal).
type CountFn = fn(&[f64], &[f64], &mut [(u32, u32)]);

/// For each judged score `judged[j]`, the number of `unjudged` scores greater than it and
/// equal to it, written to `out[j]` (`out` is as long as `judged`).
#[inline]
pub(crate) fn count_ahead(judged: &[f64], unjudged: &[f64], out: &mut [(u32, u32)]) {
    static CHOSEN: OnceLock<CountFn> = OnceLock::new();
    (CHOSEN.get_or_init(choose))(judged, unjudged, out)
}

/// The version for the running CPU.
fn choose() -> CountFn {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") {
            return x86::count_avx512;
        }
        if has!("avx2") {
            return x86::count_avx2;
        }
    }
    count_portable
}

/// The baseline version: one judged score at a time, the comparisons' outcomes added up
/// (SSE2 compares two doubles at a time).
fn count_portable(judged: &[f64], unjudged: &[f64], out: &mut [(u32, u32)]) {
    for (o, &s) in out.iter_mut().zip(judged) {
        *o = unjudged.iter().fold((0u32, 0u32), |(g, e), &x| {
            (g + u32::from(x > s), e + u32::from(x == s))
        });
    }
}

/// The vector versions: four judged scores at a time, so that each vector of unjudged
/// scores loaded feeds eight comparisons, each counted by a masked add of one (AVX-512) or by
/// subtracting its all-ones mask (AVX2) into a vector of 64-bit counts; the unjudged scores
/// left over after the last whole vector, and judged ones after the last four, are compared
/// in scalar.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Judged scores compared per pass over the unjudged ones.
    const BLOCK: usize = 4;

    /// The AVX-512F version; chosen only on CPUs that have it.
    pub(super) fn count_avx512(judged: &[f64], unjudged: &[f64], out: &mut [(u32, u32)]) {
        // SAFETY: `choose` returns this function only after detecting AVX-512F.
        unsafe { avx512(judged, unjudged, out) }
    }

    /// The AVX2 version; chosen only on CPUs that have it.
    pub(super) fn count_avx2(judged: &[f64], unjudged: &[f64], out: &mut [(u32, u32)]) {
        // SAFETY: `choose` returns this function only after detecting AVX2.
        unsafe { avx2(judged, unjudged, out) }
    }

    /// The scalar counts of `unjudged[from..]` added to `counts`.
    #[inline(always)]
    fn tail(s: f64, unjudged: &[f64], from: usize, counts: (u64, u64)) -> (u32, u32) {
        let (g, e) = unjudged[from..].iter().fold(counts, |(g, e), &x| {
            (g + u64::from(x > s), e + u64::from(x == s))
        });
        (g as u32, e as u32)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(judged: &[f64], unjudged: &[f64], out: &mut [(u32, u32)]) {
        let n = unjudged.len() / 8 * 8;
        let p = unjudged.as_ptr();
        let one = _mm512_set1_epi64(1);
        for (js, os) in judged.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            let mut s = [_mm512_setzero_pd(); BLOCK];
            for (v, &x) in s.iter_mut().zip(js) {
                *v = _mm512_set1_pd(x);
            }
            let (mut gt, mut eq) = (
                [_mm512_setzero_si512(); BLOCK],
                [_mm512_setzero_si512(); BLOCK],
            );
            let mut i = 0;
            while i < n {
                // SAFETY: `i + 8 <= n <= unjudged.len()`.
                let x = unsafe { _mm512_loadu_pd(p.add(i)) };
                for k in 0..BLOCK {
                    let g = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(s[k], x);
                    let e = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(s[k], x);
                    gt[k] = _mm512_mask_add_epi64(gt[k], g, gt[k], one);
                    eq[k] = _mm512_mask_add_epi64(eq[k], e, eq[k], one);
                }
                i += 8;
            }
            for (k, (o, &x)) in os.iter_mut().zip(js).enumerate() {
                let counts = (
                    _mm512_reduce_add_epi64(gt[k]) as u64,
                    _mm512_reduce_add_epi64(eq[k]) as u64,
                );
                *o = tail(x, unjudged, n, counts);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn avx2(judged: &[f64], unjudged: &[f64], out: &mut [(u32, u32)]) {
        let n = unjudged.len() / 4 * 4;
        let p = unjudged.as_ptr();
        for (js, os) in judged.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            let mut s = [_mm256_setzero_pd(); BLOCK];
            for (v, &x) in s.iter_mut().zip(js) {
                *v = _mm256_set1_pd(x);
            }
            let (mut gt, mut eq) = (
                [_mm256_setzero_si256(); BLOCK],
                [_mm256_setzero_si256(); BLOCK],
            );
            let mut i = 0;
            while i < n {
                // SAFETY: `i + 4 <= n <= unjudged.len()`.
                let x = unsafe { _mm256_loadu_pd(p.add(i)) };
                for k in 0..BLOCK {
                    let g = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_LT_OQ>(s[k], x));
                    let e = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_EQ_OQ>(s[k], x));
                    gt[k] = _mm256_sub_epi64(gt[k], g);
                    eq[k] = _mm256_sub_epi64(eq[k], e);
                }
                i += 4;
            }
            for (k, (o, &x)) in os.iter_mut().zip(js).enumerate() {
                let sum = |v: __m256i| {
                    let mut lanes = [0u64; 4];
                    // SAFETY: `lanes` is 32 bytes.
                    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
                    lanes.iter().sum::<u64>()
                };
                *o = tail(x, unjudged, n, (sum(gt[k]), sum(eq[k])));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version of the count this CPU can run, with its name.
    fn versions() -> Vec<(&'static str, CountFn)> {
        let mut v: Vec<(&'static str, CountFn)> =
            vec![("portable", count_portable), ("chosen", choose())];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") {
                v.push(("avx512", x86::count_avx512));
            }
            if has!("avx2") {
                v.push(("avx2", x86::count_avx2));
            }
        }
        v
    }

    #[test]
    fn every_version_counts_like_a_plain_loop() {
        // Scores on a coarse grid (many ties), signed zeros and infinities, at lengths that
        // leave tails of every size for both loops.
        let value = |i: usize| match i % 11 {
            0 => 0.0,
            1 => -0.0,
            2 => f64::INFINITY,
            3 => f64::NEG_INFINITY,
            _ => ((i * 7919) % 13) as f64 / 4.0 - 1.5,
        };
        for (name, count) in versions() {
            for m in [0usize, 1, 3, 4, 5, 8, 31] {
                for n in [0usize, 1, 7, 8, 9, 63, 1000] {
                    let judged: Vec<f64> = (0..m).map(|i| value(i * 3 + 1)).collect();
                    let unjudged: Vec<f64> = (0..n).map(|i| value(i + 5)).collect();
                    let mut out = vec![(u32::MAX, u32::MAX); m];
                    count(&judged, &unjudged, &mut out);
                    for (j, &s) in judged.iter().enumerate() {
                        let gt = unjudged.iter().filter(|&&x| x > s).count() as u32;
                        let eq = unjudged.iter().filter(|&&x| x == s).count() as u32;
                        assert_eq!(out[j], (gt, eq), "{name}: m {m}, n {n}, judged {j}");
                    }
                }
            }
        }
    }
}
