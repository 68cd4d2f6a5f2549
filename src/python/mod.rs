//! The `ragplay._ragplay` extension module: thin pyo3 wrappers over the core, one file per
//! Python class family. Built by maturin with the `python` feature.
//!
//! The plumbing every class file uses: `args` (the argument layer: one `FromPyObject` type per
//! kind of input), `errors` (the one map from core errors to exceptions), `detach` (core work
//! with the GIL released, progress and Ctrl-C), `frame` (DataFrames across the boundary) and
//! `retriever` (the retriever base class and the shared index lock).

mod answers;
mod args;
mod bm25;
mod chunk;
mod chunked;
mod data;
mod dense;
mod detach;
mod embed;
mod errors;
mod eval;
mod frame;
mod fuse;
mod lab;
mod llm;
mod pipeline;
mod plot;
mod rerank;
mod retriever;
mod store;
mod sweep;
mod text;
mod vectors;

use pyo3::prelude::*;

use crate::data::schema;

#[pymodule]
fn _ragplay(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::check_hierarchy(m.py())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<data::PyCollection>()?;
    m.add_class::<eval::PyEvaluation>()?;
    m.add_class::<text::PyAnalyzer>()?;
    m.add_class::<retriever::PyRetriever>()?;
    m.add_class::<bm25::PyBm25>()?;
    m.add_class::<embed::PyEncoder>()?;
    m.add_class::<embed::PyEmbeddingCache>()?;
    m.add_class::<embed::PyCacheStats>()?;
    m.add_class::<dense::PyDenseIndex>()?;
    m.add_class::<vectors::PyVectorIndex>()?;
    m.add_class::<pipeline::PyPipeline>()?;
    m.add_class::<pipeline::PyPipelineTrace>()?;
    m.add_class::<fuse::PyFusionTuning>()?;
    m.add_class::<rerank::PyCrossEncoder>()?;
    m.add_class::<rerank::PyBiEncoderReranker>()?;
    m.add_class::<rerank::PyCallableReranker>()?;
    m.add_class::<chunked::PyChunked>()?;
    m.add_class::<lab::PyGateReport>()?;
    m.add_class::<lab::PyLatencyCheck>()?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<llm::PyLlm>()?;
    m.add_class::<answers::PyPrompt>()?;
    m.add_class::<answers::PyGeneration>()?;
    m.add_class::<llm::PyResponseCache>()?;
    m.add_function(wrap_pyfunction!(answers::generate, m)?)?;
    m.add_class::<plot::PyChart>()?;
    m.add_function(wrap_pyfunction!(plot::pareto, m)?)?;
    m.add_function(wrap_pyfunction!(plot::wins, m)?)?;
    m.add_function(wrap_pyfunction!(plot::metric_at_k, m)?)?;
    m.add_function(wrap_pyfunction!(plot::heatmap, m)?)?;
    m.add_function(wrap_pyfunction!(plot::score_histogram, m)?)?;
    m.add_class::<sweep::PyExperiment>()?;
    m.add_class::<sweep::PySweepResult>()?;
    m.add_function(wrap_pyfunction!(data::load_beir, m)?)?;
    m.add_function(wrap_pyfunction!(data::sample_collection, m)?)?;
    m.add_function(wrap_pyfunction!(data::demo_collection, m)?)?;
    m.add_function(wrap_pyfunction!(data::demo_span_qrels, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_trec_run, m)?)?;
    m.add_function(wrap_pyfunction!(data::write_trec_run, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_trec_qrels, m)?)?;
    m.add_function(wrap_pyfunction!(data::write_trec_qrels, m)?)?;
    m.add_function(wrap_pyfunction!(data::rank_run, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_beir_qrels, m)?)?;
    m.add_function(wrap_pyfunction!(data::stack_runs, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_documents, m)?)?;
    m.add_function(wrap_pyfunction!(eval::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(eval::compare, m)?)?;
    m.add_function(wrap_pyfunction!(eval::compare_per_query, m)?)?;
    m.add_function(wrap_pyfunction!(eval::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(lab::overlap_run, m)?)?;
    m.add_function(wrap_pyfunction!(lab::check, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(dense::exact_search, m)?)?;
    m.add_function(wrap_pyfunction!(fuse::fuse, m)?)?;
    m.add_function(wrap_pyfunction!(fuse::optimize_fusion, m)?)?;
    m.add_function(wrap_pyfunction!(fuse::mmr, m)?)?;
    m.add_function(wrap_pyfunction!(rerank::rerank, m)?)?;
    m.add_function(wrap_pyfunction!(chunk::chunk, m)?)?;
    m.add_function(wrap_pyfunction!(chunk::to_documents, m)?)?;
    m.add_function(wrap_pyfunction!(chunk::chunk_qrels, m)?)?;
    m.add_function(wrap_pyfunction!(chunk::enrich, m)?)?;
    let columns = pyo3::types::PyDict::new(m.py());
    for (key, value) in [
        ("DOC_ID", schema::DOC_ID),
        ("QUERY_ID", schema::QUERY_ID),
        ("TITLE", schema::TITLE),
        ("TEXT", schema::TEXT),
        ("RELEVANCE", schema::RELEVANCE),
        ("SCORE", schema::SCORE),
        ("RANK", schema::RANK),
        ("RUN", schema::RUN),
        ("NUM_QUERIES", schema::NUM_QUERIES),
        ("FORMAT", schema::FORMAT),
    ] {
        columns.set_item(key, value)?;
    }
    m.add("COLUMNS", columns)?;
    // The option vocabularies, from the core; the stubs' `Literal` types are checked against
    // them by the tests.
    let options = pyo3::types::PyDict::new(m.py());
    let vocabularies: [(&str, &[&str]); 16] = [
        ("variant", crate::retrieve::Variant::ACCEPTED),
        ("pooling", crate::embed::Pooling::ACCEPTED),
        ("test", crate::eval::Test::ACCEPTED),
        ("correction", crate::eval::Correction::ACCEPTED),
        ("method", crate::fuse::Method::ACCEPTED),
        ("norm", crate::fuse::Norm::ACCEPTED),
        ("activation", crate::rerank::Activation::ACCEPTED),
        ("backend", crate::retrieve::Backend::ACCEPTED),
        ("storage", crate::retrieve::Storage::ACCEPTED),
        ("strategy", crate::chunk::Strategy::ACCEPTED),
        ("unit", crate::chunk::Unit::ACCEPTED),
        ("aggregate", crate::chunk::Aggregate::ACCEPTED),
        ("errors", crate::data::ingest::OnError::ACCEPTED),
        ("stemmer", crate::text::analyzer::STEMMER_LANGUAGES),
        ("mode", crate::lab::Mode::ACCEPTED),
        ("context_order", crate::llm::prompt::ContextOrder::ACCEPTED),
    ];
    for (name, values) in vocabularies {
        options.set_item(name, values.to_vec())?;
    }
    m.add("OPTIONS", options)?;
    Ok(())
}
