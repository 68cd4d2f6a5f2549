//! Bindings for chunked retrieval: `Chunked`, a retriever that chunks the corpus, indexes the
//! (enriched) chunks in another retriever and returns documents.

use std::sync::Arc;

use pyo3::prelude::*;

use super::embed::PyEncoder;
use super::errors::{
    detach_with_progress, frame_arg, ids_arg, json_to_py, progress, to_py, Shared,
};
use super::frame::PyDataFrame;
use super::pipeline::retriever_arg;
use crate::chunk::{Aggregate, ChunkOptions, Strategy, Template, Unit};
use crate::data::schema::DOC_ID;
use crate::error::Error;
use crate::retrieve::{Chunked, Retriever};

/// A retriever that searches chunks and returns documents: ``index`` cuts the corpus into
/// chunks (as ``ragplay.chunk``), renders ``template`` over them (as ``ragplay.enrich``)
/// and indexes them in ``retriever`` (``doc_id`` = chunk id, ``text`` = the enriched text,
/// no title: the template places it); ``search`` asks ``retriever`` for ``depth`` chunks per
/// query and maps them to the top ``k`` documents (as ``ragplay.to_documents``). The result
/// equals those calls made by hand. Usable wherever a retriever is, e.g. in ``Pipeline``.
///
/// The inner retriever is shared, not copied: after ``index`` it holds the chunks.
///
/// Args:
///     retriever: The retriever of the chunks: ``BM25``, ``DenseIndex``, ``Pipeline`` or
///         ``Chunked``.
///     strategy: The chunking strategy (as ``ragplay.chunk``).
///     size: The largest chunk, in ``unit`` s.
///     overlap: Units (sentences for ``"sentence"``) a chunk repeats from the previous one.
///     unit: ``"chars"`` or ``"tokens"`` (of ``tokenizer``).
///     tokenizer: An ``Encoder`` whose tokenizer counts tokens (``unit="tokens"``).
///     encoder: The ``Encoder`` that embeds sentences for ``strategy="semantic"`` (required
///         there, an error with any other strategy).
///     percentile: ``"semantic"`` only: the percentile of a document's distances between
///         consecutive sentences that starts a new group (as ``ragplay.chunk``).
///     template: The text indexed for each chunk (placeholders as ``ragplay.enrich``);
///         ``None`` indexes the chunk text alone.
///     aggregate: How chunk scores make a document's: ``"maxp"``, ``"firstp"`` or ``"sump"``.
///     depth: Chunks searched per query; 10 x ``k`` if omitted.
#[pyclass(name = "Chunked", module = "ragplay._ragplay", frozen)]
pub struct PyChunked {
    pub(super) inner: Shared<Chunked>,
}

#[pymethods]
impl PyChunked {
    #[new]
    #[pyo3(
        signature = (retriever, *, strategy = "recursive", size = 1000, overlap = 0, unit = "chars", tokenizer = None, encoder = None, percentile = 95.0, template = Some(crate::chunk::DEFAULT_TEMPLATE), aggregate = "maxp", depth = None),
        text_signature = "(retriever, *, strategy='recursive', size=1000, overlap=0, unit='chars', tokenizer=None, encoder=None, percentile=95.0, template='{title}\\n\\n{text}', aggregate='maxp', depth=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        retriever: &Bound<'_, PyAny>,
        strategy: &str,
        size: usize,
        overlap: usize,
        unit: &str,
        tokenizer: Option<PyRef<'_, PyEncoder>>,
        encoder: Option<PyRef<'_, PyEncoder>>,
        percentile: f64,
        template: Option<&str>,
        aggregate: &str,
        depth: Option<usize>,
    ) -> PyResult<Self> {
        let (inner, _) = retriever_arg(retriever)?;
        let options = ChunkOptions {
            strategy: strategy.parse::<Strategy>().map_err(to_py)?,
            size,
            overlap,
            unit: unit.parse::<Unit>().map_err(to_py)?,
            percentile,
        };
        let template = template
            .map(str::parse::<Template>)
            .transpose()
            .map_err(to_py)?;
        let tokenizer = tokenizer.map(|e| Arc::new(e.inner.tokenizer().clone()));
        let aggregate = aggregate.parse::<Aggregate>().map_err(to_py)?;
        let semantic = options.strategy == Strategy::Semantic;
        let mut chunked =
            Chunked::new(inner, options, tokenizer, template, aggregate, depth).map_err(to_py)?;
        match encoder {
            Some(e) if semantic => chunked = chunked.with_embedder(Arc::clone(&e.inner) as _),
            Some(_) => {
                return Err(to_py(Error::config(
                    "encoder",
                    format!("embeds sentences for the semantic strategy only, not {strategy:?}"),
                )))
            }
            None if semantic => return Err(to_py(crate::chunk::semantic::missing_encoder())),
            None => {}
        }
        Ok(Self {
            inner: Shared::new(chunked),
        })
    }

    /// Chunk a corpus table, enrich the chunks and index them in the inner retriever,
    /// replacing what it held.
    ///
    /// Args:
    ///     corpus: A corpus table (``doc_id``, ``text``, optional ``title``).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn index(
        &self,
        py: Python<'_>,
        corpus: &Bound<'_, PyAny>,
        show_progress: Option<bool>,
    ) -> PyResult<()> {
        let corpus = frame_arg(corpus, "corpus")?;
        let desc = progress(py, show_progress, "chunked index")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            Retriever::index(&mut *self.inner.write(), &corpus, cancel)
        })
    }

    /// Search the chunks and return the best documents.
    ///
    /// Args:
    ///     queries: A queries table (``query_id``, ``text``).
    ///     k: Documents per query.
    ///     allow: If given, only these document ids can be returned (their chunks only are
    ///         searched).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A run table over documents (``query_id``, ``doc_id``, ``score``, ``rank``).
    #[pyo3(signature = (queries, *, k = 100, allow = None, show_progress = None))]
    fn search(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: usize,
        allow: Option<&Bound<'_, PyAny>>,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let queries = frame_arg(queries, "queries")?;
        let allow = allow.map(|a| ids_arg(a, "allow", DOC_ID)).transpose()?;
        let desc = progress(py, show_progress, "chunked search")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            Retriever::search(
                &*self.inner.read_checked(),
                &queries,
                k,
                allow.as_deref(),
                cancel,
            )
        })
        .map(PyDataFrame)
    }

    /// The chunks table of the last ``index`` (``text`` enriched by the template), or
    /// ``None`` before the first.
    #[getter]
    fn chunks(&self) -> PyResult<Option<PyDataFrame>> {
        Ok(self.inner.read()?.chunks().cloned().map(PyDataFrame))
    }

    /// The retriever's name in runs and the lab: ``"chunked-"`` and the inner retriever's.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(Retriever::name(&*self.inner.read()?))
    }

    /// The configuration (chunker, template, aggregation, depth, inner retriever) as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &Retriever::config(&*self.inner.read()?))
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "Chunked({})",
            Retriever::config(&*self.inner.read()?)
        ))
    }
}
