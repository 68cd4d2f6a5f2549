//! Bindings for chunking: `chunk` (a corpus table into a chunks table), `to_documents`
//! (a run over chunks back to documents), `chunk_qrels` (span qrels to chunk qrels) and
//! `enrich` (templated chunk text).

use pyo3::prelude::*;

use super::args::Frame;
use super::detach::{detach, detach_with_progress, progress};
use super::embed::PyEncoder;
use super::frame::PyDataFrame;
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
    corpus: Frame,
    strategy: &str,
    size: usize,
    overlap: usize,
    unit: &str,
    tokenizer: Option<PyRef<'_, PyEncoder>>,
    encoder: Option<PyRef<'_, PyEncoder>>,
    percentile: f64,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let corpus = corpus.0;
    let options = ChunkOptions {
        strategy: strategy.parse::<Strategy>()?,
        size,
        overlap,
        unit: unit.parse::<Unit>()?,
        percentile,
    };
    let counter = tokenizer
        .map(|e| e.inner.tokenizer("tokenizer=").cloned())
        .transpose()?;
    let embedder = encoder.map(|e| std::sync::Arc::clone(&e.inner));
    let desc = progress(py, show_progress, "chunk")?;
    detach_with_progress(py, desc, move |cancel| {
        crate::chunk::chunk_with(
            &corpus,
            &options,
            counter.as_ref(),
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
    run: Frame,
    chunks: Frame,
    aggregate: &str,
    k: Option<usize>,
) -> PyResult<PyDataFrame> {
    let run = run.0;
    let chunks = chunks.0;
    let method = aggregate.parse::<Aggregate>()?;
    detach(py, move |_| {
        crate::chunk::to_documents(&run, &chunks, method, k)
    })
    .map(PyDataFrame)
}

/// Chunk-level qrels from span qrels, so that judgements made once on character ranges of
/// the documents hold for any chunker. A chunk is judged for a query when one of the query's
/// spans in its document shares at least one character with it and at least
/// ``min_overlap`` x the length of the shorter of the two (span or chunk); its relevance is
/// the largest relevance of those spans. So a short answer inside a long chunk counts whole,
/// a chunk inside a long relevant passage counts, and a chunk that grazes a span's edge does
/// not. ``min_overlap=0`` judges every chunk that shares a character; ``1`` asks that the
/// shorter lie wholly inside the other. A span of relevance 0 marks its chunks judged
/// non-relevant; a chunk no span judges gets no row.
///
/// Args:
///     span_qrels: A table of ``query_id``, ``doc_id``, ``start``, ``end`` (integer
///         character offsets into the document's text, end exclusive, as the chunks table
///         counts them) and ``relevance`` (integer, at least 0).
///     chunks: A chunks table (from ``ragplay.chunk``) of the same corpus.
///     corpus: The corpus table, against which the spans are checked.
///     min_overlap: The shared fraction of the shorter range, in [0, 1].
///
/// Returns:
///     A qrels table (``query_id``, ``doc_id`` holding chunk ids, ``relevance``), per query
///     in the order of ``span_qrels``, chunks in the order of ``chunks``; it evaluates chunk
///     runs with ``ragplay.evaluate``.
///
/// Raises:
///     DataError: A span whose document is not in ``corpus``, or with ``start >= end``,
///         ``start < 0``, ``end`` past the document's text, or a negative relevance (the
///         message names the query, the document and the range).
///     ConfigError: ``min_overlap`` outside [0, 1].
#[pyfunction]
#[pyo3(
    signature = (span_qrels, chunks, corpus, *, min_overlap = crate::chunk::DEFAULT_MIN_OVERLAP),
    text_signature = "(span_qrels, chunks, corpus, *, min_overlap=0.5)"
)]
pub fn chunk_qrels(
    py: Python<'_>,
    span_qrels: Frame,
    chunks: Frame,
    corpus: Frame,
    min_overlap: f64,
) -> PyResult<PyDataFrame> {
    let span_qrels = span_qrels.0;
    let chunks = chunks.0;
    let corpus = corpus.0;
    detach(py, move |_| {
        crate::chunk::chunk_qrels(&span_qrels, &chunks, &corpus, min_overlap)
    })
    .map(PyDataFrame)
}

/// Enrich chunks for indexing: each chunk's ``text`` becomes ``template`` rendered with
/// ``{title}`` (its document's title in ``corpus``), ``{section}`` (its heading path),
/// ``{text}`` (its own text), ``{prev}`` and ``{next}`` (the text of the chunk before and
/// after it in the same document, by ``start``) and ``{doc_id}``; ``{{`` and ``}}`` are
/// literal braces. An absent value (no title, a null section, no neighbour) renders as
/// ``""``, and the result is stripped of leading and trailing whitespace, so the default
/// gives the text alone for a document without a title.
///
/// The enriched text is no longer the original slice: ``start``, ``end``, ``section`` and
/// every other column still point to the chunk's original span. The input is not modified.
///
/// Args:
///     chunks: A chunks table (from ``ragplay.chunk``).
///     corpus: The corpus table (``doc_id``, optional ``title``).
///     template: The text to index for each chunk.
///
/// Returns:
///     The chunks table with ``text`` replaced.
///
/// Raises:
///     ConfigError: An unknown placeholder (the message lists the valid ones) or an
///         unmatched brace.
///     DataError: A chunk whose document is not in ``corpus``.
#[pyfunction]
#[pyo3(
    signature = (chunks, corpus, *, template = crate::chunk::DEFAULT_TEMPLATE),
    text_signature = "(chunks, corpus, *, template='{title}\\n\\n{text}')"
)]
pub fn enrich(
    py: Python<'_>,
    chunks: Frame,
    corpus: Frame,
    template: &str,
) -> PyResult<PyDataFrame> {
    let chunks = chunks.0;
    let corpus = corpus.0;
    let template = template.parse::<crate::chunk::Template>()?;
    detach(py, move |_| {
        crate::chunk::enrich(&chunks, &corpus, &template)
    })
    .map(PyDataFrame)
}
