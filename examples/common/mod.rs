//! What the timing examples share: a seeded row shuffle, the command line and the timing
//! loop.

use std::time::Instant;

use ragplay::eval::stats::SplitMix64;
use ragplay::polars::prelude::*;

/// The rows of `df` in a seeded random order (Fisher-Yates).
#[allow(dead_code)] // not every example shuffles
pub fn shuffled(df: &DataFrame, rng: &mut SplitMix64) -> PolarsResult<DataFrame> {
    let mut order: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
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
