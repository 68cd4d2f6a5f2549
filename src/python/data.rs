//! Bindings for the data model: BEIR folders, TREC files, the sample collection, and
//! `read_documents` (a folder of Markdown, text and HTML files into a corpus table; a file
//! skipped under `errors="skip"` becomes a `RagplayWarning`).

use std::path::PathBuf;

use pyo3::prelude::*;

use super::args::{Frame, Runs};
use super::detach::{detach, detach_with_progress, progress};
use super::errors::warn;
use super::frame::PyDataFrame;
use crate::data;
use crate::data::ingest::{OnError, ReadOptions};

/// A test collection: corpus, queries and qrels tables.
#[pyclass(name = "Collection", module = "ragplay._ragplay", frozen)]
pub struct PyCollection {
    pub(crate) inner: data::Beir,
}

#[pymethods]
impl PyCollection {
    /// A collection from a corpus, a queries and a qrels table; every judgement must name
    /// a query and a document of the other two.
    #[new]
    fn new(corpus: Frame, queries: Frame, qrels: Frame) -> PyResult<Self> {
        let inner = data::Beir::new(corpus.0, queries.0, qrels.0)?;
        Ok(Self { inner })
    }

    /// Corpus table: ``doc_id``, ``title``, ``text`` (String).
    #[getter]
    fn corpus(&self) -> PyDataFrame {
        PyDataFrame(self.inner.corpus.clone())
    }

    /// Queries table: ``query_id``, ``text`` (String).
    #[getter]
    fn queries(&self) -> PyDataFrame {
        PyDataFrame(self.inner.queries.clone())
    }

    /// Qrels table: ``query_id``, ``doc_id`` (String), ``relevance`` (Int32).
    #[getter]
    fn qrels(&self) -> PyDataFrame {
        PyDataFrame(self.inner.qrels.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "Collection(documents={}, queries={}, judgements={})",
            self.inner.corpus.height(),
            self.inner.queries.height(),
            self.inner.qrels.height()
        )
    }
}

/// Load a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
///
/// Ids may be JSON strings or integers and become strings. The queries kept are those judged
/// in ``split``. Every qrels row must name a known query and document.
///
/// Args:
///     path: The folder.
///     split: The qrels file to read, without ``.tsv``.
///
/// Returns:
///     A ``Collection`` of corpus, queries and qrels tables.
///
/// Raises:
///     FileNotFoundError: A file is missing.
///     DataError: Malformed JSON (with file and line), a missing ``_id``, a duplicate id,
///         invalid UTF-8, or a qrels row naming an unknown query or document.
#[pyfunction]
#[pyo3(signature = (path, *, split = "test"))]
pub fn load_beir(py: Python<'_>, path: PathBuf, split: &str) -> PyResult<PyCollection> {
    let split = split.to_owned();
    let inner = detach(py, move |_| data::load_beir(&path, &split))?;
    Ok(PyCollection { inner })
}

/// The small sample collection that ships with ragplay (16 documents, 6 queries, graded qrels).
#[pyfunction]
pub fn sample_collection() -> PyResult<PyCollection> {
    Ok(PyCollection {
        inner: data::sample::sample()?,
    })
}

/// The demo collection: the manual of a fictional home server, written by ragplay.
///
/// 100 Markdown pages (25 features × getting started, configuration, reference,
/// troubleshooting; a title, an overview, four topic sections and a list of error messages
/// each), 200 questions (topic questions, half of them paraphrased, and error-code questions)
/// and one relevant page per question. Sections do not repeat their feature's name, so
/// chunks need their title or heading path; pages are longer than an encoder's 256 tokens.
/// The same on every machine.
///
/// Returns:
///     A ``Collection``; ``demo_span_qrels()`` has the spans that answer each question.
#[pyfunction]
pub fn demo_collection() -> PyResult<PyCollection> {
    Ok(PyCollection {
        inner: data::demo::collection()?,
    })
}

/// The span judgements of the demo collection: the characters of each page that answer
/// each question (the topic's section, heading included, or the error code's line).
///
/// Returns:
///     A span qrels table: ``query_id``, ``doc_id``, ``start``, ``end`` (Int64, character
///     offsets into the page's ``text``, end exclusive), ``relevance`` (Int32, 1); it turns
///     into chunk qrels for any chunker with ``chunk_qrels``.
#[pyfunction]
pub fn demo_span_qrels() -> PyResult<PyDataFrame> {
    Ok(PyDataFrame(data::demo::span_qrels()?))
}

/// Read a folder of documents into a corpus table.
///
/// The files whose path relative to ``path`` matches ``glob`` are read in parallel: Markdown
/// (``.md``, ``.markdown``) and text (``.txt``) as they are, HTML (``.html``, ``.htm``)
/// converted to Markdown (``<h1>``..``<h6>`` become ``#``..``######`` headings, ``<pre>`` a
/// fenced code block, list items ``- `` lines, blocks separated by blank lines; ``<head>``,
/// ``<script>`` and ``<style>`` dropped; entities decoded), so that
/// ``chunk(corpus, strategy="markdown")`` finds their sections. PDF is not read (no
/// maintained Rust library extracts its text with headings and reading order well enough):
/// the default glob does not match it, and a file of an unsupported extension matched by
/// another glob is reported like an unreadable file. Symlinks are followed (a loop is
/// reported); files and folders whose name starts with ``.`` are not read; a UTF-8 byte order
/// mark is removed.
///
/// Titles: Markdown, the first level-1 heading; HTML, ``<title>``, else the first heading;
/// text, none; in each case the file name without extension when there is none.
///
/// Args:
///     path: The folder.
///     glob: Which files to read, relative to ``path``: ``*`` and ``?`` within a name,
///         ``**`` any number of folders, ``{a,b}`` alternatives; ASCII case-insensitive.
///     errors: What to do with a file that cannot be read (permissions, a dangling symlink,
///         NUL bytes or invalid UTF-8, an unsupported extension) or a folder that cannot be
///         walked (a symlink loop): ``"raise"`` raises the first one's error (in path order);
///         ``"skip"`` leaves them out with one ``RagplayWarning`` each, naming the path and
///         the reason.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A corpus table sorted by ``doc_id``: ``doc_id`` (the relative path, ``/``-separated),
///     ``title``, ``text``, ``format`` (``"markdown"``, ``"text"`` or ``"html"``).
///
/// Raises:
///     FileNotFoundError: ``path`` does not exist.
///     NotADirectoryError: ``path`` is not a folder.
///     OSError: With ``errors="raise"``, a file or folder that cannot be read.
///     DataError: No file matches ``glob`` (naming the folder and the glob); with
///         ``errors="raise"``, a binary file or invalid UTF-8 (naming the file and the byte
///         offset), an unsupported extension or a symlink loop.
///     ConfigError: A malformed ``glob`` or an unknown ``errors`` value.
#[pyfunction]
#[pyo3(signature = (path, *, glob = "**/*.{md,markdown,txt,html,htm}", errors = "raise", show_progress = None))]
pub fn read_documents(
    py: Python<'_>,
    path: PathBuf,
    glob: &str,
    errors: &str,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let options = ReadOptions {
        glob: glob.to_owned(),
        errors: errors.parse::<OnError>()?,
    };
    let desc = progress(py, show_progress, "read")?;
    let docs = detach_with_progress(py, desc, move |cancel| {
        data::read_documents(&path, &options, cancel)
    })?;
    for skipped in &docs.skipped {
        warn(py, "RagplayWarning", &format!("skipped {}", skipped.error))?;
    }
    Ok(PyDataFrame(docs.corpus))
}

/// Read a TREC run file (``query_id Q0 doc_id rank score tag``), as ``trec_eval`` reads it:
/// lines whose first non-blank character is ``#`` are comments, and fields after the sixth
/// are ignored.
///
/// Returns:
///     A run table: ``query_id``, ``doc_id`` (String), ``score`` (Float64), ``rank`` (UInt32,
///     as in the file).
///
/// Raises:
///     DataError: A malformed line (with file and line), or a NaN score.
#[pyfunction]
pub fn read_trec_run(py: Python<'_>, path: PathBuf) -> PyResult<PyDataFrame> {
    detach(py, move |_| crate::run::read_trec_run(&path)).map(PyDataFrame)
}

/// Write a run table as a TREC run file, atomically.
///
/// Rows are written per query by score descending, ties by doc id descending (the order
/// ``trec_eval`` uses), with ranks recomputed.
///
/// Args:
///     run: A run table (``query_id``, ``doc_id``, ``score``).
///     path: The file to write.
///     tag: The run tag written in the last column.
#[pyfunction]
#[pyo3(signature = (run, path, *, tag = "ragplay"))]
pub fn write_trec_run(py: Python<'_>, run: Frame, path: PathBuf, tag: &str) -> PyResult<()> {
    let tag = tag.to_owned();
    detach(py, move |_| crate::run::write_trec_run(&run.0, &path, &tag))
}

/// Read a TREC qrels file (``query_id iteration doc_id relevance``), as ``trec_eval`` reads
/// it: lines whose first non-blank character is ``#`` are comments.
#[pyfunction]
pub fn read_trec_qrels(py: Python<'_>, path: PathBuf) -> PyResult<PyDataFrame> {
    detach(py, move |_| data::read_trec_qrels(&path)).map(PyDataFrame)
}

/// Write a qrels table as a TREC qrels file, atomically.
#[pyfunction]
pub fn write_trec_qrels(py: Python<'_>, qrels: Frame, path: PathBuf) -> PyResult<()> {
    detach(py, move |_| data::write_trec_qrels(&qrels.0, &path))
}

/// Rank a run as ``trec_eval`` does: per query by score descending, ties by doc id
/// descending, with ``rank`` recomputed from 1.
#[pyfunction]
pub fn rank_run(py: Python<'_>, run: Frame) -> PyResult<PyDataFrame> {
    detach(py, move |_| crate::run::rank(&run.0)).map(PyDataFrame)
}

/// Read a BEIR qrels file (``query-id<TAB>corpus-id<TAB>score``, header optional).
#[pyfunction]
pub fn read_beir_qrels(py: Python<'_>, path: PathBuf) -> PyResult<PyDataFrame> {
    detach(py, move |_| data::load_qrels_tsv(&path)).map(PyDataFrame)
}

/// Stack named run tables into one multi-run table with a ``run`` column.
///
/// The inputs are not modified. The result (``run``, ``query_id``, ``doc_id``, ``score``) is
/// what ``evaluate`` and ``compare`` take to handle several runs at once.
///
/// Args:
///     runs: Run name to run table, in the order the runs should appear, or a list of run
///         tables (named ``run1``, ``run2``, ...).
#[pyfunction]
pub fn stack_runs(py: Python<'_>, runs: Runs) -> PyResult<PyDataFrame> {
    if let Runs::Table(_) = runs {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "argument 'runs': must be a dict of run name to DataFrame or a list of DataFrames",
        ));
    }
    detach(py, move |_| runs.into_table()).map(PyDataFrame)
}
