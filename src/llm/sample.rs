//! Choosing the next token from a model's logits.
//!
//! Greedy decoding takes the largest logit (the lowest id on ties). Sampling divides the
//! logits by the temperature, keeps the `top_k` best tokens, then the smallest set whose
//! probability reaches `top_p` (nucleus sampling, Holtzman et al., "The Curious Case of
//! Neural Text Degeneration", ICLR 2020), and draws from what is left with the crate's
//! SplitMix64 seeded per request, so a seed gives the same tokens on every run and thread
//! count. The repetition penalty of Keskar et al. ("CTRL", 2019, §4.1) divides a positive
//! logit of an already generated token by the penalty and multiplies a negative one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// How a completion is decoded: every knob that changes an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// At most this many new tokens.
    pub max_tokens: usize,
    /// 0 is greedy decoding.
    pub temperature: f32,
    /// Nucleus mass kept (1 keeps all).
    pub top_p: f32,
    /// Best tokens kept (0 keeps all).
    pub top_k: usize,
    /// CTRL's penalty on tokens already generated (1 is none).
    pub repetition_penalty: f32,
    /// The sampling seed.
    pub seed: u64,
    /// Texts that end the completion (not included in it).
    pub stop: Vec<String>,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            seed: 42,
            stop: Vec::new(),
        }
    }
}

impl Sampling {
    /// Check every knob's range.
    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(Error::config("max_tokens", "must be at least 1"));
        }
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::config(
                "temperature",
                format!("{} is not a finite number >= 0", self.temperature),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::config(
                "top_p",
                format!("{} is not in (0, 1]", self.top_p),
            ));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(Error::config(
                "repetition_penalty",
                format!("{} is not a finite number > 0", self.repetition_penalty),
            ));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::config("stop", "a stop sequence is empty"));
        }
        Ok(())
    }
}

/// The per-request state of decoding.
#[derive(Debug)]
pub struct Sampler {
    sampling: Sampling,
    rng: SplitMix64,
}

impl Sampler {
    pub fn new(sampling: &Sampling) -> Self {
        Self {
            sampling: sampling.clone(),
            rng: SplitMix64::new(sampling.seed),
        }
    }

    /// The next token given `logits` and the tokens generated so far.
    pub fn next(&mut self, logits: &mut [f32], generated: &[u32]) -> u32 {
        let s = &self.sampling;
        if s.repetition_penalty != 1.0 {
            let mut seen: Vec<u32> = generated.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 {
                        *l / s.repetition_penalty
                    } else {
                        *l * s.repetition_penalty
                    };
                }
            }
        }
        if s.temperature == 0.0 {
            return argmax(logits);
        }
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        order.sort_by(|&a, &b| {
            logits[b as usize]
                .total_cmp(&logits[a as usize])
                .then(a.cmp(&b))
        });
        if s.top_k > 0 && s.top_k < order.len() {
            order.truncate(s.top_k);
        }
        let best = logits[order[0] as usize];
        let mut probs: Vec<f64> = order
            .iter()
            .map(|&i| f64::from((logits[i as usize] - best) / s.temperature).exp())
            .collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if s.top_p < 1.0 {
            let mut mass = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                mass += p;
                if mass >= f64::from(s.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            let total: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= total);
        }
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if u < acc {
                return order[i];
            }
        }
        order[probs.len() - 1]
    }
}

/// The index of the largest value, the lowest on ties.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_logit_and_the_lowest_id_on_ties() {
        let mut s = Sampler::new(&Sampling::default());
        assert_eq!(s.next(&mut [0.0, 3.0, 1.0, 3.0], &[]), 1);
    }

    #[test]
    fn top_k_one_is_greedy_whatever_the_seed() {
        for seed in 0..20 {
            let sampling = Sampling {
                temperature: 1.0,
                top_k: 1,
                seed,
                ..Sampling::default()
            };
            assert_eq!(Sampler::new(&sampling).next(&mut [0.5, 0.1, 2.0], &[]), 2);
        }
    }

    #[test]
    fn sampling_follows_the_softmax() {
        // logits ln(1), ln(3): probabilities 1/4 and 3/4.
        let sampling = Sampling {
            temperature: 1.0,
            seed: 7,
            ..Sampling::default()
        };
        let mut s = Sampler::new(&sampling);
        let n = 20_000;
        let ones = (0..n)
            .filter(|_| s.next(&mut [0.0, 3f32.ln()], &[]) == 1)
            .count();
        let share = ones as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.015, "{share}");
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_the_mass() {
        // probabilities 0.6, 0.3, 0.1: top_p 0.8 keeps the first two.
        let logits = [0.6f32.ln(), 0.3f32.ln(), 0.1f32.ln()];
        let sampling = Sampling {
            temperature: 1.0,
            top_p: 0.8,
            seed: 3,
            ..Sampling::default()
        };
        let mut s = Sampler::new(&sampling);
        let draws: Vec<u32> = (0..5000)
            .map(|_| s.next(&mut logits.clone(), &[]))
            .collect();
        assert!(!draws.contains(&2));
        let share = draws.iter().filter(|&&d| d == 0).count() as f64 / 5000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.03, "{share}");
    }

    #[test]
    fn repetition_penalty_follows_ctrl() {
        let sampling = Sampling {
            repetition_penalty: 2.0,
            ..Sampling::default()
        };
        let mut s = Sampler::new(&sampling);
        let mut logits = [4.0, 3.0, -1.0];
        // token 0 seen: 4 / 2 = 2 < 3.
        assert_eq!(s.next(&mut logits, &[0, 0, 2]), 1);
        assert_eq!(logits, [2.0, 3.0, -2.0]);
    }
}
