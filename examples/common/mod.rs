//! What the timing examples share: a seeded row shuffle, clustered vectors, the command line
//! and the timing loop.

use std::time::Instant;

use ragplay::polars::prelude::*;
use ragplay::rng::SplitMix64;

/// The rows of `df` in a seeded random order (Fisher-Yates).
#[allow(dead_code)] // not every example shuffles
pub fn shuffled(df: &DataFrame, rng: &mut SplitMix64) -> PolarsResult<DataFrame> {
    let mut order: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
    rng.shuffle(&mut order);
    df.take(&IdxCa::from_vec("order".into(), order))
}

/// The first three numbers of the command line (QUERIES, DOCS and REPEATS, or what an
/// example names), each defaulting to `defaults`; later arguments are left to the example.
pub fn sizes(defaults: [usize; 3]) -> Result<[usize; 3], std::num::ParseIntError> {
    let given: Vec<usize> = std::env::args()
        .skip(1)
        .take(3)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    Ok(std::array::from_fn(|i| {
        given.get(i).copied().unwrap_or(defaults[i])
    }))
}

/// Call `f` `repeats` times (at least once): the milliseconds of each call and the last
/// result.
pub fn timed<T>(
    repeats: usize,
    mut f: impl FnMut() -> ragplay::Result<T>,
) -> ragplay::Result<(Vec<f64>, T)> {
    let mut ms = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        let out = f()?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    Ok((ms, last.expect("at least one call")))
}

/// "first, best, median" of a list of milliseconds.
pub fn summary(mut ms: Vec<f64>) -> String {
    let first = ms[0];
    ms.sort_by(f64::total_cmp);
    format!(
        "first {first:>7.1} ms  best {:>7.1} ms  median {:>7.1} ms  ({} calls)",
        ms[0],
        ms[ms.len() / 2],
        ms.len()
    )
}

/// A standard normal value (Box-Muller).
#[allow(dead_code)] // not every example draws vectors
fn normal(rng: &mut SplitMix64) -> f32 {
    let u = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// Scale a vector to unit length.
#[allow(dead_code)]
fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// `docs` and then `queries` unit vectors of `dim` values around 1,000 gaussian cluster
/// centres (seed 0), drawn as `benches/bench_vectors.py` draws them; row-major.
#[allow(dead_code)]
pub fn clustered(docs: usize, queries: usize, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64::new(0);
    let mut centres: Vec<f32> = (0..1000 * dim).map(|_| normal(&mut rng)).collect();
    centres.chunks_mut(dim).for_each(normalise);
    let noise = 0.35 / (dim as f32).sqrt();
    let mut draw = |n: usize| {
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let c = rng.below(1000);
            let start = out.len();
            for j in 0..dim {
                out.push(centres[c * dim + j] + noise * normal(&mut rng));
            }
            normalise(&mut out[start..]);
        }
        out
    };
    let docs = draw(docs);
    let queries = draw(queries);
    (docs, queries)
}
