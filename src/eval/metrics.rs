//! Ranking metrics, defined exactly as `trec_eval` 9.x defines them.
//!
//! Each metric is computed from one query's judged documents in rank order (see
//! [`QueryRanking`]); unjudged documents matter only through the ranks they push judged ones
//! to. A document is relevant when its judgement is at least the relevance threshold `L`
//! (`trec_eval -l`, default 1); `R` is the number of relevant judgements of the query.
//!
//! The metrics, their aliases, cut-off rules, definitions and references are one table,
//! [`REGISTRY`]: the parser, the unknown-metric error, `ragplay.metrics()` and the README's
//! metric table all come from it. Each definition there is `trec_eval`'s (the measure named in
//! the reference column) unless it says otherwise.
//!
//! As in `trec_eval`, nDCG's gains ignore the threshold (every positive judgement counts with
//! its value) and judgements below zero mean "in the pool but unjudged".

use crate::error::{Error, Result};

/// The metric families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Precision,
    Recall,
    ReciprocalRank,
    AveragePrecision,
    Ndcg,
    NdcgBurges,
    RPrecision,
    HitRate,
    Bpref,
}

/// Whether a metric takes a cut-off `@k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutoff {
    Required,
    Optional,
    Forbidden,
}

impl Cutoff {
    /// `"required"`, `"optional"` or `"none"`.
    pub fn name(self) -> &'static str {
        match self {
            Cutoff::Required => "required",
            Cutoff::Optional => "optional",
            Cutoff::Forbidden => "none",
        }
    }
}

/// One metric family: its canonical name, aliases, cut-off rule, definition and reference.
#[derive(Debug, Clone, Copy)]
pub struct MetricInfo {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub cutoff: Cutoff,
    pub description: &'static str,
    pub reference: &'static str,
}

impl MetricInfo {
    /// How the name is written: `p@k`, `recall[@k]`, `bpref`.
    pub fn pattern(&self) -> String {
        match self.cutoff {
            Cutoff::Required => format!("{}@k", self.name),
            Cutoff::Optional => format!("{}[@k]", self.name),
            Cutoff::Forbidden => self.name.to_owned(),
        }
    }
}

/// Every metric ragplay computes; the one place where names and definitions live.
pub const REGISTRY: &[MetricInfo] = &[
    MetricInfo {
        name: "p",
        aliases: &["precision"],
        kind: Kind::Precision,
        cutoff: Cutoff::Required,
        description: "relevant documents in the top k / k (k, not the run length)",
        reference: "trec_eval P",
    },
    MetricInfo {
        name: "recall",
        aliases: &["r"],
        kind: Kind::Recall,
        cutoff: Cutoff::Optional,
        description: "relevant documents in the top k (or the whole run) / all relevant",
        reference: "trec_eval recall",
    },
    MetricInfo {
        name: "mrr",
        aliases: &["rr", "recip_rank"],
        kind: Kind::ReciprocalRank,
        cutoff: Cutoff::Optional,
        description: "1 / rank of the first relevant document (0 if none within k)",
        reference: "Voorhees, TREC-8 QA report (1999); trec_eval recip_rank",
    },
    MetricInfo {
        name: "map",
        aliases: &["ap"],
        kind: Kind::AveragePrecision,
        cutoff: Cutoff::Optional,
        description: "sum of precision@r over relevant documents at rank r <= k, / all relevant",
        reference: "Buckley & Voorhees, Retrieval System Evaluation (2005); trec_eval map, map_cut",
    },
    MetricInfo {
        name: "ndcg",
        aliases: &[],
        kind: Kind::Ndcg,
        cutoff: Cutoff::Optional,
        description: "DCG / ideal DCG, gain = judgement value, discount log2(rank + 1)",
        reference: "Jarvelin & Kekalainen, TOIS 2002; trec_eval ndcg, ndcg_cut",
    },
    MetricInfo {
        name: "ndcg_burges",
        aliases: &[],
        kind: Kind::NdcgBurges,
        cutoff: Cutoff::Optional,
        description: "nDCG with gain 2^rel - 1",
        reference: "Burges et al., Learning to Rank using Gradient Descent, ICML 2005",
    },
    MetricInfo {
        name: "rprec",
        aliases: &["r_precision", "r-precision"],
        kind: Kind::RPrecision,
        cutoff: Cutoff::Forbidden,
        description: "relevant documents in the top R / R, R = number of relevant",
        reference: "trec_eval Rprec",
    },
    MetricInfo {
        name: "hit_rate",
        aliases: &["success"],
        kind: Kind::HitRate,
        cutoff: Cutoff::Required,
        description: "1 if a relevant document is in the top k, else 0",
        reference: "trec_eval success",
    },
    MetricInfo {
        name: "bpref",
        aliases: &[],
        kind: Kind::Bpref,
        cutoff: Cutoff::Forbidden,
        description: "1/R * sum over relevant of (1 - min(n above, R) / min(N, R)), n and N judged non-relevant",
        reference: "Buckley & Voorhees, SIGIR 2004; trec_eval bpref",
    },
];

/// The registry entry of a base name or alias (lower case).
pub fn lookup(base: &str) -> Option<&'static MetricInfo> {
    REGISTRY
        .iter()
        .find(|m| m.name == base || m.aliases.contains(&base))
}

/// `p@k, recall[@k], ...`: the names as the error for an unknown metric lists them.
pub fn known_names() -> String {
    REGISTRY
        .iter()
        .map(|m| match m.aliases.first() {
            Some(a) if m.cutoff == Cutoff::Required => format!("{} ({a}@k)", m.pattern()),
            Some(a) if m.cutoff == Cutoff::Optional => format!("{} ({a}[@k])", m.pattern()),
            Some(a) => format!("{} ({a})", m.pattern()),
            None => m.pattern(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A parsed metric: a family and an optional cut-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub kind: Kind,
    pub k: Option<usize>,
    /// The name as the user wrote it (trimmed); used as the output column name.
    pub name: String,
}

impl Metric {
    /// Parse a metric name such as `"ndcg@10"`, `"recall@100"`, `"mrr"` or `"bpref"`.
    pub fn parse(name: &str) -> Result<Metric> {
        let trimmed = name.trim();
        let lower = trimmed.to_ascii_lowercase();
        let unknown = |reason: String| Error::UnknownMetric {
            name: name.to_owned(),
            reason,
        };
        let (base, k) = match lower.split_once('@') {
            Some((b, k)) => {
                let k: i64 = k
                    .parse()
                    .map_err(|_| unknown(format!("cut-off {k:?} is not an integer")))?;
                if k < 1 {
                    return Err(unknown(format!("cut-off k must be at least 1, got {k}")));
                }
                (b, Some(k as usize))
            }
            None => (lower.as_str(), None),
        };
        let info =
            lookup(base).ok_or_else(|| unknown(format!("known metrics: {}", known_names())))?;
        match (info.cutoff, k) {
            (Cutoff::Required, None) => {
                Err(unknown(format!("{base} needs a cut-off, e.g. {base}@10")))
            }
            (Cutoff::Forbidden, Some(_)) => Err(unknown(format!("{base} takes no cut-off"))),
            _ => Ok(Metric {
                kind: info.kind,
                k,
                name: trimmed.to_owned(),
            }),
        }
    }

    /// Parse a list of names; names must be distinct.
    pub fn parse_all<S: AsRef<str>>(names: &[S]) -> Result<Vec<Metric>> {
        if names.is_empty() {
            return Err(Error::config("metrics", "no metric given"));
        }
        let mut out: Vec<Metric> = Vec::with_capacity(names.len());
        for n in names {
            let m = Metric::parse(n.as_ref())?;
            if out.iter().any(|o| o.name == m.name) {
                return Err(Error::config(
                    "metrics",
                    format!("{:?} is listed twice", m.name),
                ));
            }
            out.push(m);
        }
        Ok(out)
    }
}

/// One query's facts needed by every metric.
#[derive(Debug, Default, Clone)]
pub struct QueryRanking {
    /// `(rank, judgement)` of the run's judged documents (judgement from the qrels, may be
    /// negative), ascending by rank; ranks are 1-based.
    pub judged: Vec<(u32, i32)>,
    /// Number of documents the run returned for the query.
    pub num_ret: usize,
}

/// A query's judgements summarised for the metrics.
#[derive(Debug, Default, Clone)]
pub struct QueryJudgements {
    /// Judgements ≥ threshold.
    pub num_rel: usize,
    /// Judgements in `[0, threshold)`.
    pub num_nonrel: usize,
    /// Positive judgements, descending (the ideal ranking for nDCG).
    pub ideal: Vec<i32>,
}

impl QueryJudgements {
    /// Summarise a query's judgements for threshold `level`.
    pub fn new(rels: impl Iterator<Item = i32>, level: i32) -> Self {
        let mut s = QueryJudgements::default();
        for r in rels {
            if r >= level {
                s.num_rel += 1;
            } else if r >= 0 {
                s.num_nonrel += 1;
            }
            if r > 0 {
                s.ideal.push(r);
            }
        }
        s.ideal.sort_unstable_by(|a, b| b.cmp(a));
        s
    }
}

fn linear_gain(rel: i32) -> f64 {
    if rel > 0 {
        rel as f64
    } else {
        0.0
    }
}

fn burges_gain(rel: i32) -> f64 {
    if rel > 0 {
        (rel as f64).exp2() - 1.0
    } else {
        0.0
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Compute `metric` for one query.
pub fn compute(metric: &Metric, run: &QueryRanking, qrels: &QueryJudgements, level: i32) -> f64 {
    let k = metric.k.unwrap_or(usize::MAX);
    let within = |rank: u32| (rank as usize) <= k;
    let relevant = || run.judged.iter().filter(|&&(_, rel)| rel >= level);
    match metric.kind {
        Kind::Precision => ratio(relevant().filter(|&&(r, _)| within(r)).count(), k),
        Kind::Recall => ratio(
            relevant().filter(|&&(r, _)| within(r)).count(),
            qrels.num_rel,
        ),
        Kind::HitRate => f64::from(u8::from(relevant().any(|&(r, _)| within(r)))),
        Kind::ReciprocalRank => match relevant().next() {
            Some(&(r, _)) if within(r) => 1.0 / r as f64,
            _ => 0.0,
        },
        Kind::AveragePrecision => {
            let sum: f64 = relevant()
                .filter(|&&(r, _)| within(r))
                .enumerate()
                .map(|(i, &(r, _))| (i + 1) as f64 / r as f64)
                .fold(0.0, |a, b| a + b);
            if qrels.num_rel == 0 {
                0.0
            } else {
                sum / qrels.num_rel as f64
            }
        }
        Kind::RPrecision => {
            let limit = run.num_ret.min(qrels.num_rel);
            if limit == 0 {
                return 0.0;
            }
            let hits = relevant().filter(|&&(r, _)| (r as usize) <= limit).count();
            ratio(hits, qrels.num_rel)
        }
        Kind::Ndcg | Kind::NdcgBurges => {
            let gain = if metric.kind == Kind::Ndcg {
                linear_gain
            } else {
                burges_gain
            };
            let dcg: f64 = run
                .judged
                .iter()
                .filter(|&&(r, rel)| rel > 0 && within(r))
                .map(|&(r, rel)| gain(rel) / ((r + 1) as f64).log2())
                .fold(0.0, |a, b| a + b);
            let idcg: f64 = qrels
                .ideal
                .iter()
                .take(k)
                .enumerate()
                .map(|(i, &rel)| gain(rel) / ((i + 2) as f64).log2())
                .fold(0.0, |a, b| a + b);
            if idcg > 0.0 {
                dcg / idcg
            } else {
                0.0
            }
        }
        Kind::Bpref => {
            let big_r = qrels.num_rel;
            let bound = qrels.num_nonrel.min(big_r);
            let mut nonrel_so_far = 0usize;
            let mut sum = 0.0;
            for &(_, rel) in &run.judged {
                if rel < 0 {
                    continue;
                }
                if rel < level {
                    nonrel_so_far += 1;
                } else if nonrel_so_far > 0 {
                    sum += 1.0 - nonrel_so_far.min(big_r) as f64 / bound as f64;
                } else {
                    sum += 1.0;
                }
            }
            if big_r > 0 {
                sum / big_r as f64
            } else {
                sum
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str) -> Metric {
        Metric::parse(name).unwrap()
    }

    #[test]
    fn parses_names_and_rejects_bad_ones() {
        assert_eq!(m("nDCG@10").kind, Kind::Ndcg);
        assert_eq!(m("ndcg@10").k, Some(10));
        assert_eq!(m("mrr").k, None);
        assert!(Metric::parse("ndcg@0").is_err());
        assert!(Metric::parse("ndcg@-3").is_err());
        assert!(Metric::parse("p").is_err());
        assert!(Metric::parse("bpref@5").is_err());
        assert!(Metric::parse("f1").is_err());
        assert!(Metric::parse_all(&["map", "map"]).is_err());
    }

    #[test]
    fn hand_computed_query() {
        // Ranking: rel(2) at 1, nonrel(0) at 2, unjudged at 3, rel(1) at 4; qrels also hold an
        // unretrieved rel(1) doc and one more nonrel.
        let run = QueryRanking {
            judged: vec![(1, 2), (2, 0), (4, 1)],
            num_ret: 4,
        };
        let q = QueryJudgements::new([2, 0, 1, 1, 0].into_iter(), 1);
        assert_eq!((q.num_rel, q.num_nonrel), (3, 2));
        let v = |name: &str| compute(&m(name), &run, &q, 1);
        assert_eq!(v("p@2"), 0.5);
        assert_eq!(v("p@10"), 0.2);
        assert!((v("recall@4") - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(v("mrr"), 1.0);
        assert!((v("map") - (1.0 + 2.0 / 4.0) / 3.0).abs() < 1e-15);
        assert!((v("map@2") - 1.0 / 3.0).abs() < 1e-15);
        assert!((v("rprec") - 1.0 / 3.0).abs() < 1e-15);
        let dcg = 2.0 + 1.0 / 5f64.log2();
        let idcg = 2.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((v("ndcg") - dcg / idcg).abs() < 1e-15);
        let dcg_b = 3.0 + 1.0 / 5f64.log2();
        let idcg_b = 3.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((v("ndcg_burges") - dcg_b / idcg_b).abs() < 1e-15);
        // bpref: first rel has no nonrel above (1), second has 1 of min(2,3)=2 above (0.5).
        assert!((v("bpref") - 1.5 / 3.0).abs() < 1e-15);
        assert_eq!(v("hit_rate@1"), 1.0);
    }
}
