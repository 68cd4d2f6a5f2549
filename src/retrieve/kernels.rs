//! Vector kernels of dense retrieval: the inner product of two `f32` vectors.
//!
//! The approximate index ([`super::hnsw`]) spends most of its time here, one product per
//! visited node, so the product is written for the sizes of sentence embeddings (32 to 1,024
//! values, 384 the common case): several independent accumulators hide the latency of fused
//! multiply-adds, and a tail shorter than a vector is read with a mask (AVX-512) or summed in
//! scalar. Like the encoder's kernels ([`crate::embed::kernels`]), it is compiled three times
//! (AVX-512F, AVX2+FMA, baseline) and the widest one the CPU has is chosen once, at the first
//! call. Summation order differs between the versions, so results agree to rounding, not bit
//! for bit.

use std::sync::OnceLock;

/// The signature of every version of [`dot`].
type DotFn = fn(&[f32], &[f32]) -> f32;

/// `Σ a[i]·b[i]` over the shorter of the two slices (callers pass equal lengths).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    static CHOSEN: OnceLock<DotFn> = OnceLock::new();
    (CHOSEN.get_or_init(choose))(a, b)
}

/// The version of [`dot`] for the running CPU.
fn choose() -> DotFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return x86::dot_avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return x86::dot_avx2;
        }
    }
    dot_portable
}

/// Accumulators of the portable version: enough independent sums for the compiler to keep
/// them in vector registers.
const LANES: usize = 16;

/// [`dot`] without target features: plain multiply-adds the compiler vectorises.
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// [`super::dot`] with AVX-512F; chosen only on CPUs that have it.
    pub(super) fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `choose` returns this function only after detecting AVX-512F.
        unsafe { avx512(a, b) }
    }

    /// [`super::dot`] with AVX2 and FMA; chosen only on CPUs that have both.
    pub(super) fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `choose` returns this function only after detecting AVX2 and FMA.
        unsafe { avx2(a, b) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every unmasked load reads 16 values at `i`, with `i + 16 <= n`; the masked
        // load reads only the `n - i` lanes that exist.
        unsafe {
            while i + 64 <= n {
                for (j, s) in acc.iter_mut().enumerate() {
                    let o = i + 16 * j;
                    *s =
                        _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(o)), _mm512_loadu_ps(pb.add(o)), *s);
                }
                i += 64;
            }
            while i + 16 <= n {
                acc[0] = _mm512_fmadd_ps(
                    _mm512_loadu_ps(pa.add(i)),
                    _mm512_loadu_ps(pb.add(i)),
                    acc[0],
                );
                i += 16;
            }
            if i < n {
                let mask: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
                let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
                let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
                acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every load reads 8 values at `i`, with `i + 8 <= n`.
        unsafe {
            while i + 32 <= n {
                for (j, s) in acc.iter_mut().enumerate() {
                    let o = i + 8 * j;
                    *s =
                        _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)), *s);
                }
                i += 32;
            }
            while i + 8 <= n {
                acc[0] = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i)),
                    _mm256_loadu_ps(pb.add(i)),
                    acc[0],
                );
                i += 8;
            }
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
        let quad = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let one = _mm_add_ss(quad, _mm_shuffle_ps::<0b01>(quad, quad));
        let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
        _mm_cvtss_f32(one) + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version this CPU can run, with its name.
    fn versions() -> Vec<(&'static str, DotFn)> {
        let mut v: Vec<(&'static str, DotFn)> = vec![("portable", dot_portable), ("dot", dot)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(("avx512", x86::dot_avx512));
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(("avx2", x86::dot_avx2));
            }
        }
        v
    }

    #[test]
    fn dot_matches_a_double_precision_sum_at_odd_lengths() {
        for n in [0usize, 1, 7, 17, 64, 100, 383, 384, 1025] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i * 53 % 97) as f32 / 40.0) - 1.2)
                .collect();
            let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            let scale: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (x as f64 * y as f64).abs())
                .sum();
            for (name, f) in versions() {
                let got = f(&a, &b) as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * scale.max(1.0),
                    "{name}, n = {n}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn dot_reads_only_the_shorter_slice() {
        let a = [1.0f32; 20];
        for (name, f) in versions() {
            assert_eq!(f(&a, &a[..19]), 19.0, "{name}");
        }
    }
}
