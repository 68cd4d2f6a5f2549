//! Bindings for chunked retrieval: `Chunked`, a retriever that chunks the corpus, indexes the
//! (enriched) chunks in another retriever and returns documents (`index`, `search`, `name`
//! and `config` from the retriever base class).

use std::sync::Arc;

use pyo3::prelude::*;

use super::embed::PyEncoder;
use super::frame::PyDataFrame;
use super::retriever::{PyRetriever, RetrieverArg, Shared};
use crate::chunk::{Aggregate, ChunkOptions, Strategy, Template, Unit};
use crate::error::Error;
use crate::pipeline::Chunked;
use crate::retrieve::Retriever;

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
#[pyclass(name = "Chunked", module = "ragplay._ragplay", extends = PyRetriever, frozen)]
pub struct PyChunked {
    inner: Shared<Chunked>,
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
        retriever: RetrieverArg,
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
    ) -> PyResult<PyClassInitializer<Self>> {
        let options = ChunkOptions {
            strategy: strategy.parse::<Strategy>()?,
            size,
            overlap,
            unit: unit.parse::<Unit>()?,
            percentile,
        };
        let template = template.map(str::parse::<Template>).transpose()?;
        let tokenizer = tokenizer
            .map(|e| e.inner.tokenizer("tokenizer=").cloned().map(Arc::new))
            .transpose()?;
        let semantic = options.strategy == Strategy::Semantic;
        let mut chunked = Chunked::new(
            retriever.shared,
            options,
            tokenizer,
            template,
            aggregate.parse::<Aggregate>()?,
            depth,
        )?;
        match encoder {
            Some(e) if semantic => chunked = chunked.with_embedder(Arc::clone(&e.inner) as _),
            Some(_) => {
                return Err(Error::config(
                    "encoder",
                    format!(
                        "embeds sentences for the semantic strategy only, not {:?}",
                        strategy
                    ),
                )
                .into())
            }
            None if semantic => return Err(crate::chunk::semantic::missing_encoder().into()),
            None => {}
        }
        let inner = Shared::new(chunked);
        Ok(PyClassInitializer::from(PyRetriever::of(&inner)).add_subclass(Self { inner }))
    }

    /// The chunks table of the last ``index`` (``text`` enriched by the template), or
    /// ``None`` before the first.
    #[getter]
    fn chunks(&self) -> PyResult<Option<PyDataFrame>> {
        Ok(self.inner.read()?.chunks().cloned().map(PyDataFrame))
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "Chunked({})",
            Retriever::config(&*self.inner.read()?)
        ))
    }
}
