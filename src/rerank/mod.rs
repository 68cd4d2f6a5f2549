//! Re-ranking: functions from a run to a run that reorder each query's top documents.
//!
//! - [`mmr`]: maximal marginal relevance, trading relevance for diversity with the vectors of
//!   a [`VectorLookup`] (a dense index);
//! - [`rerank`]: scores from a [`PairScorer`] that reads the query and the document together:
//!   the [`CrossEncoder`], a bi-encoder ([`BiEncoder`]), or any other implementation.
//!
//! The output is an ordinary run table, ranked in the run order, so it can be evaluated,
//! fused or re-ranked again.

pub mod cross_encoder;
pub mod mmr;
pub mod pairs;

pub use cross_encoder::{Activation, CrossEncoder, CrossEncoderOptions, PairScores};
pub use mmr::{mmr, MmrOptions, VectorLookup};
pub use pairs::{rerank, BiEncoder, PairScorer, RerankOptions};
