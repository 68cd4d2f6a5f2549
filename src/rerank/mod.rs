//! Re-ranking: functions from a run to a run that reorder each query's top documents.
//!
//! [`mmr`] trades relevance for diversity with the vectors a [`crate::retrieve::DenseIndex`]
//! holds. The output is an ordinary run table, ranked in the run order, so it can be
//! evaluated, fused or re-ranked again.

pub mod mmr;

pub use mmr::{mmr, MmrOptions};
