//! Per-query score normalisations applied to each run before fusion (the formulas of ranx's
//! `normalization` module, Bassani, ECIR 2022; the table is in the parent module's docs).

use crate::options::option_enum;

option_enum! {
    /// How one run's scores for one query are rescaled before fusion.
    pub enum Norm: "norm" {
        /// Scores as they are.
        None => "none",
        /// (x − min) / (max − min).
        MinMax => "min-max" | "min_max" | "minmax",
        /// (x − mean) / population standard deviation (ranx: `zmuv`).
        ZScore => "z-score" | "zscore" | "z_score" | "zmuv",
        /// (x − min) / Σ (x − min).
        Sum => "sum",
        /// x / max.
        Max => "max",
        /// 1 − (rank − 1) / n.
        Rank => "rank",
    }
}

impl Norm {
    /// Whether the normalised scores do not depend on the order the run lists them in:
    /// neither ranks nor sums (whose rounding depends on the order) are read.
    pub fn order_free(self) -> bool {
        matches!(self, Norm::None | Norm::MinMax | Norm::Max)
    }

    /// Write the normalised scores of `list` (`(document, score)` in run order) to `out`;
    /// `Err` with the reason when the normalisation is undefined for these scores.
    pub(super) fn apply<D>(
        self,
        list: &[(D, f64)],
        out: &mut Vec<f64>,
    ) -> std::result::Result<(), &'static str> {
        out.clear();
        let n = list.len() as f64;
        let scores = list.iter().map(|&(_, x)| x);
        let (min, max) = scores
            .clone()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        match self {
            Norm::None => out.extend(scores),
            Norm::MinMax if max > min => out.extend(scores.map(|x| (x - min) / (max - min))),
            Norm::MinMax => out.extend(scores.map(|_| 1.0)),
            Norm::ZScore => {
                let mean = scores.clone().sum::<f64>() / n;
                let var = scores.clone().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                let std = var.sqrt();
                if std > 0.0 {
                    out.extend(scores.map(|x| (x - mean) / std));
                } else {
                    out.extend(scores.map(|_| 0.0));
                }
            }
            Norm::Sum => {
                let total = scores.clone().sum::<f64>() - min * n;
                if total > 0.0 {
                    out.extend(scores.map(|x| (x - min) / total));
                } else {
                    out.extend(scores.map(|_| 1.0 / n));
                }
            }
            Norm::Max if max > 0.0 => out.extend(scores.map(|x| x / max)),
            Norm::Max => return Err("its largest score is not positive"),
            Norm::Rank => out.extend((0..list.len()).map(|r| 1.0 - r as f64 / n)),
        }
        if out.iter().any(|x| !x.is_finite()) {
            return Err("a score is infinite");
        }
        Ok(())
    }
}
