//! Paired significance tests and confidence intervals over per-query metric values.
//!
//! * Paired Student t-test: t = mean(d) / (sd(d) / √n), two-sided p from the t distribution
//!   with n − 1 degrees of freedom (Student, 1908; as `scipy.stats.ttest_rel`).
//! * Paired randomization (permutation) test: under H0 each query's difference is equally
//!   likely to have either sign; p is the share of sign assignments whose |mean| reaches the
//!   observed |mean| (Fisher, 1935; Smucker, Allan & Carterette, "A Comparison of Statistical
//!   Significance Tests for Information Retrieval Evaluation", CIKM 2007). All 2^n
//!   assignments are enumerated when 2^n ≤ the resample budget (exact p); otherwise random
//!   assignments are drawn and p = (hits + 1) / (resamples + 1) (Phipson & Smyth, 2010).
//! * Percentile bootstrap confidence interval of the mean difference (Efron & Tibshirani, 1993).
//! * Holm (1979) step-down and Bonferroni corrections for multiple comparisons.
//!
//! Random draws come from SplitMix64 (Steele, Lea & Flood, OOPSLA 2014) seeded by the caller,
//! so results are reproducible across platforms and versions.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::cancel::Cancel;
use crate::error::Result;
use crate::rng::SplitMix64;

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Two-sided paired t-test on differences `d`; returns `(t, p)`. With fewer than two
/// differences both are NaN; with zero variance p is 1 when the mean is 0, else 0.
pub fn paired_t_test(d: &[f64]) -> (f64, f64) {
    let n = d.len();
    if n < 2 {
        return (f64::NAN, f64::NAN);
    }
    let m = mean(d);
    let var = d.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
    if var == 0.0 {
        return if m == 0.0 {
            (0.0, 1.0)
        } else {
            (m.signum() * f64::INFINITY, 0.0)
        };
    }
    let t = m / (var / n as f64).sqrt();
    let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n - 1 ≥ 1 degrees of freedom");
    (t, (2.0 * dist.cdf(-t.abs())).min(1.0))
}

/// Relative tolerance under which two permutation statistics count as equal (guards against
/// summation-order rounding).
const TIE_EPS: f64 = 1e-12;

/// Resamples between two checks for Ctrl-C.
const CHECK_EVERY: usize = 4096;

/// Two-sided paired randomization test on differences `d`; exact when `2^n ≤ resamples`.
pub fn randomization_test(d: &[f64], resamples: usize, seed: u64, cancel: &Cancel) -> Result<f64> {
    let n = d.len();
    if n == 0 {
        return Ok(f64::NAN);
    }
    let observed = d.iter().sum::<f64>().abs();
    let threshold = observed - TIE_EPS * observed.max(1.0);
    if n < 63 && (1u64 << n) <= resamples as u64 {
        let total = 1u64 << n;
        let mut hits = 0u64;
        for mask in 0..total {
            if (mask as usize).is_multiple_of(CHECK_EVERY) {
                cancel.check()?;
            }
            let s: f64 = d
                .iter()
                .enumerate()
                .map(|(i, x)| if mask >> i & 1 == 1 { -x } else { *x })
                .sum();
            hits += u64::from(s.abs() >= threshold);
        }
        return Ok(hits as f64 / total as f64);
    }
    let mut rng = SplitMix64::new(seed);
    let mut hits = 0usize;
    for r in 0..resamples {
        if r.is_multiple_of(CHECK_EVERY) {
            cancel.check()?;
        }
        let mut s = 0.0;
        let mut bits = 0u64;
        for (i, x) in d.iter().enumerate() {
            if i % 64 == 0 {
                bits = rng.next_u64();
            }
            s += if bits >> (i % 64) & 1 == 1 { -x } else { *x };
        }
        if s.abs() >= threshold {
            hits += 1;
        }
    }
    Ok((hits + 1) as f64 / (resamples + 1) as f64)
}

/// The `q`-th quantile (0 to 1) of sorted, non-empty values, linearly interpolated between
/// closest ranks (numpy's default method); the one quantile rule of the crate.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Percentile bootstrap confidence interval of the mean of `d`.
pub fn bootstrap_ci(
    d: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
    cancel: &Cancel,
) -> Result<(f64, f64)> {
    let n = d.len();
    if n == 0 || resamples == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    let mut rng = SplitMix64::new(seed ^ 0xB007_57A9);
    let mut means: Vec<f64> = Vec::with_capacity(resamples.min(1 << 20));
    for r in 0..resamples {
        if r.is_multiple_of(CHECK_EVERY) {
            cancel.check()?;
        }
        means.push((0..n).map(|_| d[rng.below(n)]).sum::<f64>() / n as f64);
    }
    means.sort_unstable_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    Ok((
        quantile_sorted(&means, alpha / 2.0),
        quantile_sorted(&means, 1.0 - alpha / 2.0),
    ))
}

/// Bonferroni-adjusted p-values: min(1, m·p). NaN stays NaN.
pub fn bonferroni(p: &[f64]) -> Vec<f64> {
    let m = p.iter().filter(|x| !x.is_nan()).count() as f64;
    p.iter().map(|&x| (x * m).min(1.0)).collect()
}

/// Holm step-down adjusted p-values: sorted ascending, adj(i) = max_{j ≤ i} min(1, (m − j)·p(j)).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_randomization_matches_enumeration_by_hand() {
        // d = [1, 2]: sign sums 3, 1, -1, -3 -> |s| >= 3 in 2 of 4.
        assert_eq!(
            randomization_test(&[1.0, 2.0], 4, 0, crate::cancel::never()).unwrap(),
            0.5
        );
    }

    #[test]
    fn holm_and_bonferroni() {
        let p = [0.01, 0.04, 0.03];
        assert_eq!(bonferroni(&p), vec![0.03, 0.12, 0.09]);
        let h = holm(&p);
        assert!((h[0] - 0.03).abs() < 1e-15);
        assert!((h[2] - 0.06).abs() < 1e-15);
        assert!((h[1] - 0.06).abs() < 1e-15);
    }

    #[test]
    fn t_test_degenerate_cases() {
        assert_eq!(paired_t_test(&[0.0, 0.0, 0.0]).1, 1.0);
        assert_eq!(paired_t_test(&[0.5, 0.5]).1, 0.0);
        assert!(paired_t_test(&[0.5]).1.is_nan());
    }
}
