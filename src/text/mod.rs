//! Text analysis: turning documents and queries into index terms.

pub mod analyzer;
pub(crate) mod sentence;
pub mod stopwords;

pub use analyzer::{Analyzer, AnalyzerConfig, StopWords, STEMMER_LANGUAGES};
