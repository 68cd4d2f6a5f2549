//! Bindings for the data model: BEIR folders, TREC files, the sample collection, and
//! `read_documents` (a folder of Markdown, text and HTML files into a corpus table; a file
//! skipped under `errors="skip"` becomes a `RagplayWarning`).

use std::path::PathBuf;

use pyo3::prelude::*;

use super::errors::{detach, detach_with_progress, frame_arg, progress, to_py};
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
    fn new(
        corpus: &Bound<'_, PyAny>,
        queries: &Bound<'_, PyAny>,
        qrels: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let inner = data::Beir::new(
            frame_arg(corpus, "corpus")?,
            frame_arg(queries, "queries")?,
            frame_arg(qrels, "qrels")?,
        )
        .map_err(to_py)?;
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
        inner: data::sample::sample().map_err(to_py)?,
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
        inner: data::demo::collection().map_err(to_py)?,
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
    data::demo::span_qrels().map(PyDataFrame).map_err(to_py)
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
        errors: errors.parse::<OnError>().map_err(to_py)?,
    };
    let desc = progress(py, show_progress, "read")?;
    let docs = detach_with_progress(py, desc, move |cancel| {
        data::read_documents(&path, &options, cancel)
    })?;
    let category = py.import("ragplay.exceptions")?.getattr("RagplayWarning")?;
    for skipped in &docs.skipped {
        let message = format!("skipped {}", skipped.error).replace('\0', "");
        let message = std::ffi::CString::new(message).unwrap_or_default();
        PyErr::warn(py, &category, &message, 1)?;
    }
    Ok(PyDataFrame(docs.corpus))
}

/// Read a TREC run file (``query_id Q0 doc_id rank score tag``).
///
/// Returns:
///     A run table: ``query_id``, ``doc_id`` (String), ``score`` (Float64), ``rank`` (UInt32,
///     as in the file).
///
/// Raises:
///     DataError: A malformed line (with file and line), or a NaN score.
#[pyfunction]
pub fn read_trec_run(py: Python<'_>, path: PathBuf) -> PyResult<PyDataFrame> {
    detach(py, move |_| data::read_trec_run(&path)).map(PyDataFrame)
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
pub fn write_trec_run(
    py: Python<'_>,
    run: &Bound<'_, PyAny>,
    path: PathBuf,
    tag: &str,
) -> PyResult<()> {
    let run = frame_arg(run, "run")?;
    let tag = tag.to_owned();
    detach(py, move |_| data::write_trec_run(&run, &path, &tag))
}

/// Read a TREC qrels file (``query_id iteration doc_id relevance``).
#[pyfunction]
pub fn read_trec_qrels(py: Python<'_>, path: PathBuf) -> PyResult<PyDataFrame> {
    detach(py, move |_| data::read_trec_qrels(&path)).map(PyDataFrame)
}

/// Write a qrels table as a TREC qrels file, atomically.
#[pyfunction]
pub fn write_trec_qrels(py: Python<'_>, qrels: &Bound<'_, PyAny>, path: PathBuf) -> PyResult<()> {
    let qrels = frame_arg(qrels, "qrels")?;
    detach(py, move |_| data::write_trec_qrels(&qrels, &path))
}

/// Rank a run as ``trec_eval`` does: per query by score descending, ties by doc id
/// descending, with ``rank`` recomputed from 1.
#[pyfunction]
pub fn rank_run(py: Python<'_>, run: &Bound<'_, PyAny>) -> PyResult<PyDataFrame> {
    let run = frame_arg(run, "run")?;
    detach(py, move |_| data::rank_run(&run)).map(PyDataFrame)
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
///     runs: Run name to run table, in the order the runs should appear.
#[pyfunction]
pub fn stack_runs(py: Python<'_>, runs: &Bound<'_, pyo3::types::PyDict>) -> PyResult<PyDataFrame> {
    stack(py, runs).map(PyDataFrame)
}

fn stack(
    py: Python<'_>,
    runs: &Bound<'_, pyo3::types::PyDict>,
) -> PyResult<polars::prelude::DataFrame> {
    let mut frames: Vec<(String, polars::prelude::DataFrame)> = Vec::with_capacity(runs.len());
    for (name, frame) in runs.iter() {
        let name: String = name.extract()?;
        let frame = frame_arg(&frame, &format!("run {name:?}"))?;
        frames.push((name, frame));
    }
    detach(py, move |_| {
        let refs: Vec<(&str, &polars::prelude::DataFrame)> =
            frames.iter().map(|(n, f)| (n.as_str(), f)).collect();
        data::stack_runs(&refs)
    })
}

/// A runs argument: a run table (stacked or single) or a dict of run name to run table.
pub fn runs_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<polars::prelude::DataFrame> {
    if let Ok(dict) = obj.cast::<pyo3::types::PyDict>() {
        return stack(obj.py(), dict);
    }
    let frame = obj.py().import("polars")?.getattr("DataFrame")?;
    if !obj.is_instance(&frame)? {
        let got = obj.get_type().name()?;
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{name} must be a polars.DataFrame or a dict of run name to DataFrame, got {got}"
        )));
    }
    frame_arg(obj, name)
}
