//! CPU kernels of the encoder's forward pass, written for the shapes of sentence encoders.
//!
//! Why not candle's stock ops: profiling candle 0.11's `BertModel` on MiniLM showed the time
//! outside the matrix products going to (a) padded attention: a `[batch, heads, len, len]`
//! score tensor materialised and swept four times (scale, mask add, softmax, copy), padding
//! included; (b) the erf GELU evaluated element by element through libm; (c) transposes made
//! contiguous before every batched product. Here tokens are packed without padding, attention
//! runs per (sequence, head) on tiles that stay in cache, and the element-wise work uses
//! polynomial `exp`/`erf` that the compiler vectorises.
//!
//! Each element-wise kernel is compiled three times (AVX-512, AVX2+FMA, baseline) and picked
//! at run time, so one binary uses the widest vectors the machine has.
//!
//! Formulas: `exp` by range reduction to `[-ln2/2, ln2/2]` and Cephes' degree-6 polynomial
//! (relative error < 2e-7); `erf` by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7);
//! GELU(x) = x/2 · (1 + erf(x/√2)) (Hendrycks & Gimpel 2016), or its tanh form for
//! `gelu_new`; layer normalisation (Ba et al. 2016) with a two-pass variance.

use rayon::prelude::*;

/// The widest vector extension the running CPU has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Avx512,
    Avx2,
    Base,
}

fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx2;
        }
    }
    Level::Base
}

/// Defines `pub fn $name(args)` that runs `$body` compiled for the best available level.
macro_rules! multiversion {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident : $ty:ty),*) $body:block) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn imp($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) { imp($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) { imp($($arg),*) }
            match level() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the level was detected on this CPU.
                Level::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the level was detected on this CPU.
                Level::Avx2 => unsafe { avx2($($arg),*) },
                _ => imp($($arg),*),
            }
        }
    };
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x` for `x` in f32 range, branch-free so that loops over it vectorise.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits, without the
    // saturating (and scalar) float-to-int conversion.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1_f64 as f32;
    let e = p * r * r + r + 1.0;
    let k = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    e * f32::from_bits(k.wrapping_add(127) << 23)
}

/// erf(x), Abramowitz & Stegun 7.1.26.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_7) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// Lanes of the manual reductions: floating-point sums and maxima vectorise only when the
/// code itself keeps independent partial results.
const LANES: usize = 16;

#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.max(*v);
        }
    }
    let mut m = acc.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for &v in chunks.remainder() {
        m = m.max(v);
    }
    m
}

#[inline(always)]
fn sum_of(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += *v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

multiversion! {
    /// Softmax of each row of `s` (rows of `n` values), in place.
    pub fn softmax_rows(s: &mut [f32], n: usize) {
        for row in s.chunks_exact_mut(n) {
            let max = max_of(row);
            for v in row.iter_mut() {
                *v = exp(*v - max);
            }
            let inv = 1.0 / sum_of(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

multiversion! {
    /// `x = gelu(x)` (erf form) over a slice.
    pub fn gelu_erf_slice(x: &mut [f32]) {
        for v in x.iter_mut() {
            let a = *v;
            *v = 0.5 * a * (1.0 + erf(a * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

multiversion! {
    /// `x = gelu(x)` (tanh form, `gelu_new`) over a slice.
    pub fn gelu_tanh_slice(x: &mut [f32]) {
        const C: f32 = 0.797_884_6; // sqrt(2/pi)
        for v in x.iter_mut() {
            let a = *v;
            let u = C * (a + 0.044_715 * a * a * a);
            // tanh(u) = 1 - 2 / (e^{2u} + 1)
            let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
            *v = 0.5 * a * (1.0 + t);
        }
    }
}

multiversion! {
    /// Layer-normalise each row of `x` (rows of `gamma.len()` values) in place.
    pub fn layer_norm_rows(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = gamma.len();
        let mut centred = vec![0.0f32; n];
        for row in x.chunks_exact_mut(n) {
            let mean = sum_of(row) / n as f32;
            for (c, v) in centred.iter_mut().zip(row.iter()) {
                *c = (v - mean) * (v - mean);
            }
            let var = sum_of(&centred) / n as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

multiversion! {
    /// `dst[i] = a[i] + b[i % b.len()]` (a row-broadcast add, used to seed bias and residual).
    pub fn add_broadcast(dst: &mut [f32], a: &[f32], b: &[f32]) {
        let n = b.len();
        for (drow, arow) in dst.chunks_exact_mut(n).zip(a.chunks_exact(n)) {
            for ((d, x), y) in drow.iter_mut().zip(arow).zip(b) {
                *d = x + y;
            }
        }
    }
}

/// Rows per parallel task in the element-wise kernels.
const ROWS_PER_TASK: usize = 64;

/// [`layer_norm_rows`] over all rows, in parallel.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = gamma.len();
    x.par_chunks_mut(n * ROWS_PER_TASK)
        .for_each(|c| layer_norm_rows(c, gamma, beta, eps));
}

/// Fill every row of `dst` with `bias`.
pub fn fill_rows(dst: &mut [f32], bias: &[f32]) {
    let n = bias.len();
    dst.par_chunks_mut(n * ROWS_PER_TASK).for_each(|c| {
        for row in c.chunks_exact_mut(n) {
            row.copy_from_slice(bias);
        }
    });
}

/// `dst = a + bias` row by row, in parallel.
pub fn add_rows(dst: &mut [f32], a: &[f32], bias: &[f32]) {
    let n = bias.len();
    dst.par_chunks_mut(n * ROWS_PER_TASK)
        .zip(a.par_chunks(n * ROWS_PER_TASK))
        .for_each(|(d, a)| add_broadcast(d, a, bias));
}

/// GELU over a buffer, in parallel (`tanh` selects the `gelu_new` form).
pub fn gelu(x: &mut [f32], tanh: bool) {
    x.par_chunks_mut(16 * 1024).for_each(|c| {
        if tanh {
            gelu_tanh_slice(c)
        } else {
            gelu_erf_slice(c)
        }
    });
}

/// `C (m×n) = [C +] beta·A·B` for row-major buffers with explicit row strides, through the
/// `gemm` crate (candle's CPU matmul). `b_t` says that `b` holds `Bᵀ` (n rows of k).
///
/// # Safety
/// `c`, `a` and `b` must point to buffers holding the stated shapes with the stated row
/// strides, and `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    b_t: bool,
    beta: f32,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let (rhs_cs, rhs_rs) = if b_t {
        (ldb as isize, 1)
    } else {
        (1, ldb as isize)
    };
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller guarantees the shapes and strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a,
            1,
            lda as isize,
            b,
            rhs_cs,
            rhs_rs,
            1.0,
            beta,
            false,
            false,
            false,
            par,
        );
    }
}

/// At most this many input rows (tokens), a linear layer streams its weight rows once and
/// dots each with every input row ([`dot_block`]): for a query of a dozen tokens the GEMM's
/// packing of the whole weight matrix into panels costs several times the product itself.
const STREAM_ROWS: usize = 32;
/// Weight rows per parallel task of the streaming path.
const STREAM_BLOCK: usize = 64;

multiversion! {
    /// `out[j * rows + r] = x_r · w_j` for the weight rows `w_j` of `w` (each `k` values) and
    /// the `rows` rows of `x`: a block of a small product, transposed. Four weight rows at a
    /// time share each load of `x` and keep four independent chains of partial sums, so the
    /// additions do not wait on one another (eight chains, or two input rows at a time, were
    /// slower here).
    pub fn dot_block(out: &mut [f32], x: &[f32], w: &[f32], k: usize) {
        let rows = x.len() / k;
        let n16 = k / 16 * 16;
        let dot = |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(p, v)| p * v).sum() };
        let mut o = out.chunks_exact_mut(4 * rows);
        let mut quads = w.chunks_exact(4 * k);
        for (o4, w4) in (&mut o).zip(&mut quads) {
            let (w0, rest) = w4.split_at(k);
            let (w1, rest) = rest.split_at(k);
            let (w2, w3) = rest.split_at(k);
            for (r, xr) in x.chunks_exact(k).enumerate() {
                let mut acc = [[0.0f32; 16]; 4];
                for c in (0..n16).step_by(16) {
                    let xs = &xr[c..c + 16];
                    for (a, wr) in acc.iter_mut().zip([w0, w1, w2, w3]) {
                        let ws = &wr[c..c + 16];
                        for l in 0..16 {
                            a[l] += xs[l] * ws[l];
                        }
                    }
                }
                for (q, (a, wr)) in acc.iter().zip([w0, w1, w2, w3]).enumerate() {
                    o4[q * rows + r] = sum_of(a) + dot(&xr[n16..], &wr[n16..]);
                }
            }
        }
        let rest = o.into_remainder().chunks_exact_mut(rows);
        for (o1, wj) in rest.zip(quads.remainder().chunks_exact(k)) {
            for (slot, xr) in o1.iter_mut().zip(x.chunks_exact(k)) {
                *slot = dot(xr, wj);
            }
        }
    }
}

/// `out (rows×n) += x (rows×k) · wᵀ` for few rows: weight rows in parallel blocks, each
/// streamed once ([`STREAM_ROWS`]).
fn linear_acc_streamed(out: &mut [f32], x: &[f32], w: &[f32], k: usize) {
    let rows = x.len() / k;
    let n = w.len() / k;
    let blocks: Vec<Vec<f32>> = w
        .par_chunks(STREAM_BLOCK * k)
        .map(|wb| {
            let mut t = vec![0.0f32; (wb.len() / k) * rows];
            dot_block(&mut t, x, wb, k);
            t
        })
        .collect();
    for (b, t) in blocks.iter().enumerate() {
        let j0 = b * STREAM_BLOCK;
        for (dj, col) in t.chunks_exact(rows).enumerate() {
            for (r, v) in col.iter().enumerate() {
                out[r * n + j0 + dj] += v;
            }
        }
    }
}

/// `out (rows×n) += x (rows×k) · wᵀ` with `w` given as n rows of k (a linear layer's weight).
pub fn linear_acc(out: &mut [f32], x: &[f32], w: &[f32], k: usize, threads: usize) {
    let rows = x.len() / k;
    let n = w.len() / k;
    assert!(x.len() == rows * k && w.len() == n * k && out.len() == rows * n);
    if rows <= STREAM_ROWS {
        return linear_acc_streamed(out, x, w, k);
    }
    // SAFETY: the sizes were checked; `out` is borrowed mutably, so it overlaps nothing.
    unsafe {
        matmul(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            n,
            true,
            x.as_ptr(),
            k,
            w.as_ptr(),
            k,
            true,
            1.0,
            threads,
        );
    }
}

/// Multi-head self-attention over packed sequences, without padding or masks.
///
/// `qkv` holds one row of `3·hidden` values per token (queries, keys, values side by side);
/// sequence `s` is rows `offsets[s]..offsets[s+1]`. Writes `softmax(QKᵀ/√d)·V` for every head
/// into `out` (one row of `hidden` values per token). Parallel over (sequence, head) pairs.
pub fn attention(qkv: &[f32], out: &mut [f32], offsets: &[usize], hidden: usize, heads: usize) {
    let d = hidden / heads;
    let ld = 3 * hidden;
    let scale = 1.0 / (d as f32).sqrt();
    assert_eq!(qkv.len(), offsets[offsets.len() - 1] * ld);
    assert_eq!(out.len(), offsets[offsets.len() - 1] * hidden);
    // The address travels as an integer so the parallel tasks may share it; each task writes a
    // disjoint block.
    let dst = out.as_mut_ptr() as usize;
    let tasks: Vec<(usize, usize)> = (0..offsets.len() - 1)
        .flat_map(|s| (0..heads).map(move |h| (s, h)))
        .collect();
    tasks.par_iter().for_each_init(Vec::new, |scores, &(s, h)| {
        let start = offsets[s];
        let len = offsets[s + 1] - start;
        if len == 0 {
            return;
        }
        scores.clear();
        scores.resize(len * len, 0.0);
        let base = start * ld + h * d;
        let q = qkv[base..].as_ptr();
        let k = qkv[base + hidden..].as_ptr();
        let v = qkv[base + 2 * hidden..].as_ptr();
        // SAFETY: Q and K are `len` rows `ld` apart inside `qkv`, whose size was checked above;
        // `scores` holds len × len values. (s, h) pairs own disjoint (row range, column range)
        // blocks of `out`, so the tasks never write the same value.
        unsafe {
            // scores = scale · Q Kᵀ  (len × len)
            matmul(
                len,
                len,
                d,
                scores.as_mut_ptr(),
                len,
                false,
                q,
                ld,
                k,
                ld,
                true,
                scale,
                1,
            );
            softmax_rows(scores, len);
            // out[rows, head cols] = P V  (len × d), rows `hidden` apart.
            let o = (dst as *mut f32).add(start * hidden + h * d);
            matmul(
                len,
                d,
                len,
                o,
                hidden,
                false,
                scores.as_ptr(),
                len,
                v,
                ld,
                false,
                1.0,
                1,
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_layer_equals_a_float64_product_on_both_paths() {
        let mut rng = crate::rng::SplitMix64::new(7);
        let mut value = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        // Few rows (streamed weights) and many (the GEMM); widths off every block size.
        for (rows, n, k) in [
            (1, 13, 37),
            (15, 1152, 384),
            (32, 70, 33),
            (33, 21, 50),
            (90, 384, 1536),
        ] {
            let x: Vec<f32> = (0..rows * k).map(|_| value()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| value()).collect();
            let base: Vec<f32> = (0..rows * n).map(|_| value()).collect();
            let mut out = base.clone();
            linear_acc(&mut out, &x, &w, k, 2);
            for r in 0..rows {
                for j in 0..n {
                    let want = base[r * n + j] as f64
                        + (0..k)
                            .map(|i| x[r * k + i] as f64 * w[j * k + i] as f64)
                            .sum::<f64>();
                    let got = out[r * n + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{rows}x{n}x{k} at {r},{j}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0.0f64;
        let mut worst_erf = 0.0f64;
        for i in -20000..20000 {
            let x = i as f32 * 0.004;
            let e = exp(x) as f64;
            let r = (x as f64).exp();
            worst_exp = worst_exp.max(((e - r) / r).abs());
            let r = statrs::function::erf::erf(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - r).abs());
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 5e-7, "erf absolute error {worst_erf}");
    }

    #[test]
    fn softmax_and_layer_norm_match_direct_formulas() {
        let mut s: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).sin() * 5.0).collect();
        let orig = s.clone();
        softmax_rows(&mut s, 4);
        for (row, o) in s.chunks(4).zip(orig.chunks(4)) {
            let m = o.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let z: f64 = o.iter().map(|&v| (v as f64 - m).exp()).sum();
            for (a, &v) in row.iter().zip(o) {
                assert!((*a as f64 - (v as f64 - m).exp() / z).abs() < 1e-6);
            }
        }
        let mut x: Vec<f32> = (0..8).map(|i| i as f32 * 1.5 - 2.0).collect();
        let g = [1.0, 2.0, 0.5, 1.0];
        let b = [0.0, 1.0, -1.0, 0.5];
        let orig = x.clone();
        layer_norm(&mut x, &g, &b, 1e-12);
        for (row, o) in x.chunks(4).zip(orig.chunks(4)) {
            let mean: f64 = o.iter().map(|&v| v as f64).sum::<f64>() / 4.0;
            let var: f64 = o.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 4.0;
            for i in 0..4 {
                let want = (o[i] as f64 - mean) / var.sqrt() * g[i] as f64 + b[i] as f64;
                assert!((row[i] as f64 - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn attention_matches_a_direct_computation() {
        let (hidden, heads) = (8, 2);
        let d = hidden / heads;
        let offsets = [0usize, 3, 8];
        let tokens = 8;
        let qkv: Vec<f32> = (0..tokens * 3 * hidden)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let mut out = vec![0.0; tokens * hidden];
        attention(&qkv, &mut out, &offsets, hidden, heads);
        for s in 0..2 {
            let (a, b) = (offsets[s], offsets[s + 1]);
            for h in 0..heads {
                for i in a..b {
                    let q = &qkv[i * 3 * hidden + h * d..][..d];
                    let w: Vec<f64> = (a..b)
                        .map(|j| {
                            let k = &qkv[j * 3 * hidden + hidden + h * d..][..d];
                            let dot: f64 = q.iter().zip(k).map(|(x, y)| (x * y) as f64).sum();
                            (dot / (d as f64).sqrt()).exp()
                        })
                        .collect();
                    let z: f64 = w.iter().sum();
                    for c in 0..d {
                        let want: f64 = (a..b)
                            .map(|j| {
                                w[j - a] / z * qkv[j * 3 * hidden + 2 * hidden + h * d + c] as f64
                            })
                            .sum();
                        let got = out[i * hidden + h * d + c] as f64;
                        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                    }
                }
            }
        }
    }
}
