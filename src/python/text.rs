//! Bindings for text analysis.

use std::sync::Arc;

use pyo3::prelude::*;
use rayon::prelude::*;

use super::args::StopWordsArg;
use super::detach::detach;
use crate::text::{Analyzer, AnalyzerConfig};

/// Turns text into index terms: Unicode word segmentation, lower-casing, optional ASCII
/// folding, stop-word removal, Snowball stemming and optional word n-grams, in that order.
/// The same analyzer is applied to documents and queries.
///
/// Args:
///     lowercase: Lower-case every word.
///     ascii_folding: Strip accents ("café" -> "cafe").
///     stopwords: ``"english"`` (Lucene's list), a list of words, or ``None``.
///     stemmer: A Snowball language (``"english"``, ``"french"``, ...) or ``None``.
///     ngram_range: ``(min, max)`` word n-grams; ``(1, 1)`` keeps single words.
///
/// Raises:
///     ConfigError: An unknown stemmer language or stop-word list, or a bad n-gram range.
#[pyclass(
    name = "Analyzer",
    module = "ragplay._ragplay",
    frozen,
    skip_from_py_object
)]
#[derive(Clone)]
pub struct PyAnalyzer {
    pub inner: Arc<Analyzer>,
}

#[pymethods]
impl PyAnalyzer {
    #[new]
    #[pyo3(
        signature = (*, lowercase = true, ascii_folding = false, stopwords = StopWordsArg::default(), stemmer = Some("english".to_owned()), ngram_range = (1, 1)),
        text_signature = "(*, lowercase=True, ascii_folding=False, stopwords='english', stemmer='english', ngram_range=(1, 1))"
    )]
    fn new(
        lowercase: bool,
        ascii_folding: bool,
        stopwords: StopWordsArg,
        stemmer: Option<String>,
        ngram_range: (usize, usize),
    ) -> PyResult<Self> {
        let config = AnalyzerConfig {
            lowercase,
            ascii_folding,
            stopwords: stopwords.0,
            stemmer,
            ngram_range,
        };
        Ok(Self {
            inner: Arc::new(Analyzer::new(config)?),
        })
    }

    /// The terms of each text, in order.
    ///
    /// Args:
    ///     texts: The texts.
    ///
    /// Returns:
    ///     One list of terms per text.
    fn tokenize(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<Vec<String>>> {
        let analyzer = self.inner.clone();
        detach(py, move |_| {
            Ok(texts.par_iter().map(|t| analyzer.tokenize(t)).collect())
        })
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Analyzer(lowercase={}, ascii_folding={}, stopwords={:?}, stemmer={:?}, ngram_range={:?})",
            c.lowercase, c.ascii_folding, c.stopwords, c.stemmer, c.ngram_range
        )
    }
}
