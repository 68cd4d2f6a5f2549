//! Per-query score normalisations applied to each run before fusion (the formulas of ranx's
//! `normalization` module, Bassani, ECIR 2022; the table is in the parent module's docs).

use crate::error::{Error, Result};

/// How one run's scores for one query are rescaled before fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Scores as they are.
    None,
    /// (x − min) / (max − min).
    MinMax,
    /// (x − mean) / population standard deviation (ranx: `zmuv`).
    ZScore,
    /// (x − min) / Σ (x − min).
    Sum,
    /// x / max.
    Max,
    /// 1 − (rank − 1) / n.
    Rank,
}

impl Norm {
    /// The canonical names (aliases: `min_max`, `minmax`; `zscore`, `zmuv`).
    pub const NAMES: [&'static str; 6] = ["none", "min-max", "z-score", "sum", "max", "rank"];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Norm::None => "none",
            Norm::MinMax => "min-max",
            Norm::ZScore => "z-score",
            Norm::Sum => "sum",
            Norm::Max => "max",
            Norm::Rank => "rank",
        }
    }

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

impl std::str::FromStr for Norm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Norm::None),
            "min-max" | "min_max" | "minmax" => Ok(Norm::MinMax),
            "z-score" | "zscore" | "z_score" | "zmuv" => Ok(Norm::ZScore),
            "sum" => Ok(Norm::Sum),
            "max" => Ok(Norm::Max),
            "rank" => Ok(Norm::Rank),
            _ => Err(Error::not_one_of("norm", s, &Self::NAMES)),
        }
    }
}
