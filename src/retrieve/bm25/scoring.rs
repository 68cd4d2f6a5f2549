//! The five BM25 variants, as defined in Kamphuis, de Vries, Boytsov & Lin, "Which BM25 Do You
//! Mean? A Large-Scale Reproducibility Study of Scoring Variants", ECIR 2020, and as bm25s
//! implements them. With N documents, df the document frequency of a term, tf its frequency in
//! a document of length dl, avgdl the mean document length and L = 1 − b + b·dl/avgdl:
//!
//! | variant     | idf                                  | term-frequency component            |
//! |-------------|--------------------------------------|-------------------------------------|
//! | `lucene`    | ln(1 + (N − df + 0.5)/(df + 0.5))     | tf / (k1·L + tf)                    |
//! | `robertson` | ln((N − df + 0.5)/(df + 0.5)), ≥ 0    | tf / (k1·L + tf)                    |
//! | `atire`     | ln(N / df)                           | tf·(k1 + 1) / (tf + k1·L)           |
//! | `bm25l`     | ln((N + 1)/(df + 0.5))               | (k1 + 1)(c + δ) / (k1 + c + δ), c = tf/L (Lv & Zhai, CIKM 2011) |
//! | `bm25+`     | ln((N + 1)/df)                       | (k1 + 1)·tf / (k1·L + tf) + δ (Lv & Zhai, CIKM 2011) |
//! | `okapi`     | ln((N − df + 0.5)/(df + 0.5)); below 0 → ε · mean idf | tf·(k1 + 1) / (tf + k1·L) (rank_bm25's `BM25Okapi`; Robertson et al., TREC-3 1994) |
//!
//! A document's score is the sum over query terms (repeated terms count again) of
//! idf · tfc. For `bm25l` and `bm25+` a term the document lacks still contributes
//! idf · tfc(0); the index stores idf · (tfc(tf) − tfc(0)) per posting and adds the constant
//! Σ idf · tfc(0) at query time, so every document gets that floor.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::option_enum;

option_enum! {
    /// A BM25 variant, named as bm25s names it.
    #[derive(Serialize, Deserialize)]
    pub enum Variant: "variant" {
        Lucene => "lucene",
        Robertson => "robertson",
        Atire => "atire",
        Bm25L => "bm25l",
        Bm25Plus => "bm25+" | "bm25plus",
        Okapi => "okapi",
    }
}

/// Variant and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub variant: Variant,
    pub k1: f64,
    pub b: f64,
    /// δ of `bm25l` and `bm25+` (ignored by the others).
    pub delta: f64,
    /// ε of `okapi`: negative idfs become ε · the mean idf (ignored by the others).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
}

fn default_epsilon() -> f64 {
    0.25
}

impl Default for Params {
    fn default() -> Self {
        Self {
            variant: Variant::Lucene,
            k1: 0.9,
            b: 0.4,
            delta: 0.5,
            epsilon: default_epsilon(),
        }
    }
}

impl Params {
    /// Reject parameters outside their domain.
    pub fn validate(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(Error::config(
                "k1",
                format!("must be a finite number >= 0, got {}", self.k1),
            ));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(Error::config(
                "b",
                format!("must lie in [0, 1], got {}", self.b),
            ));
        }
        if !(self.delta.is_finite() && self.delta >= 0.0) {
            return Err(Error::config(
                "delta",
                format!("must be a finite number >= 0, got {}", self.delta),
            ));
        }
        if !(self.epsilon.is_finite() && self.epsilon >= 0.0) {
            return Err(Error::config(
                "epsilon",
                format!("must be a finite number >= 0, got {}", self.epsilon),
            ));
        }
        Ok(())
    }

    /// Inverse document frequency of a term in `df` of `n` documents (`df ≥ 1`).
    pub fn idf(&self, df: u32, n: u32) -> f64 {
        let (df, n) = (df as f64, n as f64);
        match self.variant {
            Variant::Lucene => (1.0 + (n - df + 0.5) / (df + 0.5)).ln(),
            Variant::Robertson => ((n - df + 0.5) / (df + 0.5)).max(1.0).ln(),
            Variant::Atire => (n / df).ln(),
            Variant::Bm25L => ((n + 1.0) / (df + 0.5)).ln(),
            Variant::Bm25Plus => ((n + 1.0) / df).ln(),
            // rank_bm25 computes ln(N − df + 0.5) − ln(df + 0.5); the floor is applied by the index.
            Variant::Okapi => (n - df + 0.5).ln() - (df + 0.5).ln(),
        }
    }

    /// Term-frequency component for frequency `tf` in a document of length `dl`.
    pub fn tfc(&self, tf: f64, dl: f64, avgdl: f64) -> f64 {
        let (k1, b, delta) = (self.k1, self.b, self.delta);
        let norm = 1.0 - b + b * dl / avgdl;
        match self.variant {
            Variant::Lucene | Variant::Robertson => tf / (k1 * norm + tf),
            Variant::Atire | Variant::Okapi => tf * (k1 + 1.0) / (tf + k1 * norm),
            Variant::Bm25L => {
                let c = tf / norm;
                (k1 + 1.0) * (c + delta) / (k1 + c + delta)
            }
            Variant::Bm25Plus => (k1 + 1.0) * tf / (k1 * norm + tf) + delta,
        }
    }

    /// Whether absent terms contribute (`bm25l`, `bm25+`).
    pub fn scores_absent_terms(&self) -> bool {
        matches!(self.variant, Variant::Bm25L | Variant::Bm25Plus)
    }
}
