//! Vector kernels of dense retrieval: the inner product of an `f32` query with an `f32`,
//! `f16` or `int8` row.
//!
//! The approximate index ([`super::hnsw`]) spends most of its time here, one product per
//! visited node, so the products are written for the sizes of sentence embeddings (32 to
//! 1,024 values, 384 the common case): several independent accumulators hide the latency of
//! fused multiply-adds, and a tail shorter than a vector is summed in scalar. One loop serves
//! the three row types ([`Element`]): `f16` and `int8` values are widened to `f32` in
//! registers (`vcvtph2ps`, `vpmovsxbd` + `vcvtdq2ps`) before the multiply-add, so those
//! products read 2× and 4× fewer bytes for the same arithmetic: a graph search whose rows come
//! from memory goes as fast as the bytes arrive. Like the encoder's kernels
//! ([`crate::embed::kernels`]), the loop is compiled three times (AVX-512F, AVX2+FMA+F16C,
//! baseline) and the widest version the CPU has is chosen once per row type, at the first
//! call. Summation order differs between the versions, so results agree to rounding, not bit
//! for bit.

use std::sync::OnceLock;

/// The signature of every version of the products ([`dot`], [`dot_f16`], [`dot_i8`]).
type DotFn<T> = fn(&[f32], &[T]) -> f32;

/// `Σ a[i]·b[i]` over the shorter of the two slices (callers pass equal lengths).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    static CHOSEN: OnceLock<DotFn<f32>> = OnceLock::new();
    (CHOSEN.get_or_init(choose::<f32>))(a, b)
}

/// `Σ q[i]·f16(b[i])` over the shorter of the two slices, `b` holding IEEE half-precision
/// bits.
#[inline]
pub fn dot_f16(q: &[f32], b: &[u16]) -> f32 {
    static CHOSEN: OnceLock<DotFn<u16>> = OnceLock::new();
    (CHOSEN.get_or_init(choose::<u16>))(q, b)
}

/// `Σ q[i]·b[i]` over the shorter of the two slices, `b` holding signed bytes (an `int8`
/// row before its scale is applied).
#[inline]
pub fn dot_i8(q: &[f32], b: &[i8]) -> f32 {
    static CHOSEN: OnceLock<DotFn<i8>> = OnceLock::new();
    (CHOSEN.get_or_init(choose::<i8>))(q, b)
}

/// A row value type: `f32`, half-precision bits (`u16`) or a signed byte, read as `f32`.
trait Element: Copy {
    /// The value as `f32`.
    fn widen(self) -> f32;
    /// 16 values at `p` as `f32`.
    ///
    /// # Safety
    /// 16 values are readable at `p`, and the CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
    /// 8 values at `p` as `f32`.
    ///
    /// # Safety
    /// 8 values are readable at `p`, and the CPU has AVX2 and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

/// The version of the product with rows of `T` for the running CPU.
fn choose<T: Element>() -> DotFn<T> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") {
            return x86::dot_avx512::<T>;
        }
        if has!("avx2") && has!("fma") && has!("f16c") {
            return x86::dot_avx2::<T>;
        }
    }
    dot_portable::<T>
}

/// Accumulators of the portable version: enough independent sums for the compiler to keep
/// them in vector registers.
const LANES: usize = 16;

/// The product without target features: plain multiply-adds the compiler vectorises.
fn dot_portable<T: Element>(q: &[f32], b: &[T]) -> f32 {
    let n = q.len().min(b.len());
    let (q, b) = (&q[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (cq, cb) = (q.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = cq
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y.widen())
        .sum();
    for (x, y) in cq.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i].widen();
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Element for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> std::arch::x86_64::__m512 {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

/// Half-precision bits.
impl Element for u16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        half::f16::from_bits(self).to_f32()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const u16) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const u16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}

impl Element for i8 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from(self)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const i8) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract.
        unsafe { _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast()))) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const i8) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract.
        unsafe { _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast()))) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Element;

    /// The product with AVX-512F; chosen only on CPUs that have it.
    pub(super) fn dot_avx512<T: Element>(q: &[f32], b: &[T]) -> f32 {
        // SAFETY: `choose` returns this function only after detecting AVX-512F.
        unsafe { avx512(q, b) }
    }

    /// The product with AVX2, FMA and F16C; chosen only on CPUs that have all three.
    pub(super) fn dot_avx2<T: Element>(q: &[f32], b: &[T]) -> f32 {
        // SAFETY: `choose` returns this function only after detecting AVX2, FMA and F16C.
        unsafe { avx2(q, b) }
    }

    /// `Σ q[i]·b[i]` with AVX-512F: four accumulators of 16, a scalar tail.
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512<T: Element>(q: &[f32], b: &[T]) -> f32 {
        let n = q.len().min(b.len());
        let (pq, pb) = (q.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every load reads 16 values at `i`, with `i + 16 <= n`.
        unsafe {
            while i + 64 <= n {
                for (j, s) in acc.iter_mut().enumerate() {
                    let o = i + 16 * j;
                    *s = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(o)), T::load16(pb.add(o)), *s);
                }
                i += 64;
            }
            while i + 16 <= n {
                acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(i)), T::load16(pb.add(i)), acc[0]);
                i += 16;
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum) + tail(q, b, i, n)
    }

    /// `Σ q[i]·b[i]` with AVX2, FMA and F16C: four accumulators of 8, a scalar tail.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn avx2<T: Element>(q: &[f32], b: &[T]) -> f32 {
        let n = q.len().min(b.len());
        let (pq, pb) = (q.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every load reads 8 values at `i`, with `i + 8 <= n`.
        unsafe {
            while i + 32 <= n {
                for (j, s) in acc.iter_mut().enumerate() {
                    let o = i + 8 * j;
                    *s = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(o)), T::load8(pb.add(o)), *s);
                }
                i += 32;
            }
            while i + 8 <= n {
                acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), T::load8(pb.add(i)), acc[0]);
                i += 8;
            }
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
        let quad = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let one = _mm_add_ss(quad, _mm_shuffle_ps::<0b01>(quad, quad));
        _mm_cvtss_f32(one) + tail(q, b, i, n)
    }

    /// `Σ q[j]·b[j]` for `j` in `i..n`, in scalar.
    #[inline(always)]
    fn tail<T: Element>(q: &[f32], b: &[T], i: usize, n: usize) -> f32 {
        q[i..n]
            .iter()
            .zip(&b[i..n])
            .map(|(x, y)| x * y.widen())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version of the product with rows of `T` this CPU can run, with its name;
    /// `chosen` is the public function.
    fn versions<T: Element>(chosen: DotFn<T>) -> Vec<(&'static str, DotFn<T>)> {
        let mut v: Vec<(&'static str, DotFn<T>)> =
            vec![("portable", dot_portable::<T>), ("chosen", chosen)];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") {
                v.push(("avx512", x86::dot_avx512::<T>));
            }
            if has!("avx2") && has!("fma") && has!("f16c") {
                v.push(("avx2", x86::dot_avx2::<T>));
            }
        }
        v
    }

    /// Check every version of the product with rows of `T` against a double-precision sum of
    /// the widened values, at odd lengths.
    fn matches_double_sums<T: Element>(chosen: DotFn<T>, row: impl Fn(usize) -> T) {
        for n in [0usize, 1, 7, 15, 17, 64, 100, 383, 384, 1025] {
            let q: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                .collect();
            let b: Vec<T> = (0..n).map(&row).collect();
            let terms: Vec<f64> = q
                .iter()
                .zip(&b)
                .map(|(&x, y)| x as f64 * y.widen() as f64)
                .collect();
            let want: f64 = terms.iter().sum();
            let scale: f64 = terms.iter().map(|t| t.abs()).sum();
            for (name, f) in versions(chosen) {
                let got = f(&q, &b) as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * scale.max(1.0),
                    "{name}, n = {n}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn dot_matches_a_double_precision_sum_at_odd_lengths() {
        matches_double_sums(dot, |i| ((i * 53 % 97) as f32 / 40.0) - 1.2);
    }

    #[test]
    fn half_and_byte_rows_match_a_double_precision_sum_of_their_values() {
        matches_double_sums(dot_i8, |i| ((i * 53 % 255) as i32 - 127) as i8);
        matches_double_sums(dot_f16, |i| {
            half::f16::from_f32((i * 29 % 97) as f32 / 13.0 - 3.5).to_bits()
        });
    }

    #[test]
    fn dot_reads_only_the_shorter_slice() {
        let a = [1.0f32; 20];
        let bytes = [1i8; 20];
        for (name, f) in versions(dot) {
            assert_eq!(f(&a, &a[..19]), 19.0, "{name}");
        }
        for (name, f) in versions(dot_i8) {
            assert_eq!(f(&a, &bytes[..19]), 19.0, "{name}");
            assert_eq!(f(&a[..18], &bytes), 18.0, "{name}");
        }
    }
}
