//! Bindings for chunking: `chunk` (a corpus table into a chunks table) and `to_documents`
//! (a run over chunks back to documents).

use pyo3::prelude::*;
use pyo3_polars::PyDataFrame;

use super::embed::PyEncoder;
use super::errors::{detach, detach_with_progress, frame_arg, progress, to_py};
use crate::chunk::{Aggregate, ChunkOptions, Embedder, Strategy, Unit};

/// Cut every document of a corpus table into chunks.
///
/// Strategies: ``"fixed"`` (windows of ``size`` units, each ``size - overlap`` after the
/// last), ``"sentence"`` (Unicode sentences packed up to ``size``; ``overlap`` in sentences),
/// ``"recursive"`` (paragraphs, lines, sentences, words, then characters: the first level
/// that splits, pieces merged up to ``size``, as text-splitter and LangChain do) and
/// ``"markdown"`` (CommonMark blocks packed within heading sections; code blocks and tables
/// never split; the heading path in ``section``) and ``"semantic"`` (sentences embedded by
/// ``encoder``, a break after each sentence whose cosine distance to the next is above the
/// ``percentile``-th percentile of the document's distances, the groups packed as
/// ``"sentence"`` packs; Kamradt's and LangChain's ``SemanticChunker``). Chunks are trimmed of
/// surrounding whitespace, so ``text`` is always exactly the original characters
/// ``start:end``.
///
/// Args:
///     corpus: A corpus table (``doc_id``, ``text``; ``title`` is not chunked).
///     strategy: The chunking strategy.
///     size: The largest chunk, in ``unit`` s.
///     overlap: Units (sentences for ``"sentence"`` and ``"semantic"``) a chunk repeats from
///         the previous one (``"semantic"``: within a group).
///     unit: ``"chars"`` (Unicode characters) or ``"tokens"`` (of ``tokenizer``).
///     tokenizer: An ``Encoder`` whose tokenizer counts tokens (``unit="tokens"``), so chunks
///         fit the model.
///     encoder: The ``Encoder`` that embeds sentences for ``"semantic"`` (required there; all
///         sentences of the corpus in one batched call, progress counting sentences).
///     percentile: ``"semantic"`` only: the percentile (0 to 100, numpy's linear
///         interpolation) of a document's distances between consecutive sentences that a
///         distance must exceed to start a new group; 95 splits at the largest 5% of drops.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A chunks table: ``doc_id``, ``chunk_id`` (``"{doc_id}#{n}"``), ``start``, ``end``
///     (character offsets into the document's text, end exclusive), ``text``, ``section``.
#[pyfunction]
#[pyo3(signature = (corpus, *, strategy = "recursive", size = 1000, overlap = 0, unit = "chars", tokenizer = None, encoder = None, percentile = 95.0, show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn chunk(
    py: Python<'_>,
    corpus: &Bound<'_, PyAny>,
    strategy: &str,
    size: usize,
    overlap: usize,
    unit: &str,
    tokenizer: Option<PyRef<'_, PyEncoder>>,
    encoder: Option<PyRef<'_, PyEncoder>>,
    percentile: f64,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let corpus = frame_arg(corpus, "corpus")?;
    let options = ChunkOptions {
        strategy: strategy.parse::<Strategy>().map_err(to_py)?,
        size,
        overlap,
        unit: unit.parse::<Unit>().map_err(to_py)?,
        percentile,
    };
    let counter = tokenizer.map(|e| std::sync::Arc::clone(&e.inner));
    let embedder = encoder.map(|e| std::sync::Arc::clone(&e.inner));
    let desc = progress(py, show_progress, "chunk")?;
    detach_with_progress(py, desc, move |cancel| {
        crate::chunk::chunk_with(
            &corpus,
            &options,
            counter.as_ref().map(|e| e.tokenizer()),
            embedder.as_deref().map(|e| e as &dyn Embedder),
            cancel,
        )
    })
    .map(PyDataFrame)
}

/// Map a run over chunks back to documents, so that it can be evaluated with document
/// qrels: each (query, document) gets ``"maxp"`` its best chunk's score, ``"firstp"`` the
/// score of its earliest retrieved chunk (smallest ``start``), or ``"sump"`` the sum of its
/// chunks' scores (Dai & Callan, SIGIR 2019).
///
/// Args:
///     run: A run table whose ``doc_id`` column holds chunk ids.
///     chunks: The chunks table the chunk ids come from.
///     aggregate: ``"maxp"``, ``"firstp"`` or ``"sump"``.
///     k: Documents kept per query; all if ``None``.
///
/// Returns:
///     A run table over documents.
#[pyfunction]
#[pyo3(
    signature = (run, chunks, *, aggregate = "maxp", k = Some(100)),
    text_signature = "(run, chunks, *, aggregate='maxp', k=100)"
)]
pub fn to_documents(
    py: Python<'_>,
    run: &Bound<'_, PyAny>,
    chunks: &Bound<'_, PyAny>,
    aggregate: &str,
    k: Option<usize>,
) -> PyResult<PyDataFrame> {
    let run = frame_arg(run, "run")?;
    let chunks = frame_arg(chunks, "chunks")?;
    let method = aggregate.parse::<Aggregate>().map_err(to_py)?;
    detach(py, move |_| {
        crate::chunk::to_documents(&run, &chunks, method, k)
    })
    .map(PyDataFrame)
}
