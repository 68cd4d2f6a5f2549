//! Text analysis: turning documents and queries into index terms ([`analyzer`],
//! [`stopwords`]), and finding sentence boundaries (`sentence`) for the chunkers.

pub mod analyzer;
pub(crate) mod sentence;
pub mod stopwords;

pub use analyzer::{Analyzer, AnalyzerConfig, StopWords, STEMMER_LANGUAGES};
