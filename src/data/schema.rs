//! Column names and dtypes of every table ragplay reads or returns, defined once.
//!
//! | table   | columns                                                   |
//! |---------|-----------------------------------------------------------|
//! | corpus  | `doc_id` String, `title` String, `text` String            |
//! | documents | the corpus columns, then `format` String (`"markdown"`, `"text"` or `"html"`) |
//! | queries | `query_id` String, `text` String                          |
//! | qrels   | `query_id` String, `doc_id` String, `relevance` Int32     |
//! | run     | `query_id` String, `doc_id` String, `score` Float64, `rank` UInt32, optional `run` String |
//! | chunks  | `doc_id` String, `chunk_id` String, `start` UInt32, `end` UInt32, `text` String, `section` String (nullable) |
//! | span qrels | `query_id` String, `doc_id` String, `start` integer, `end` integer, `relevance` integer |
//!
//! Inputs are checked here with errors that name the table and the column; the accessors
//! borrow columns without copying them. How the fast paths read a column's Arrow views
//! is the run module's ([`crate::run::views`]).

use polars::prelude::*;

use crate::error::{Error, Result};

/// Document id column (corpus, qrels, run).
pub const DOC_ID: &str = "doc_id";
/// Query id column (queries, qrels, run, evaluation tables).
pub const QUERY_ID: &str = "query_id";
/// Document title column.
pub const TITLE: &str = "title";
/// Document or query text column.
pub const TEXT: &str = "text";
/// Source format of a document read from a file (documents read by `read_documents`).
pub const FORMAT: &str = "format";
/// Graded relevance judgement column (qrels).
pub const RELEVANCE: &str = "relevance";
/// Retrieval score column (run).
pub const SCORE: &str = "score";
/// 1-based rank column (run).
pub const RANK: &str = "rank";
/// Run name column (multi-run tables, evaluation and comparison output).
pub const RUN: &str = "run";
/// Number of evaluated queries (evaluation summary).
pub const NUM_QUERIES: &str = "num_queries";
/// Chunk id column (chunks): `"{doc_id}#{n}"`, `n` counted from 0 per document.
pub const CHUNK_ID: &str = "chunk_id";
/// First character of a chunk in its document's text (chunks; Unicode scalar values).
pub const START: &str = "start";
/// One past the last character of a chunk in its document's text (chunks).
pub const END: &str = "end";
/// Markdown heading path of a chunk, such as `"Intro > Setup"` (chunks; nullable).
pub const SECTION: &str = "section";

/// The columns of every statistics table, one scheme for all: `compare` and `check` (one
/// row per metric and run: these names), the sweep's results (one row per configuration:
/// each name after the metric and `_`, as `ndcg@10_ci_low`, made by [`stat::of`]) and
/// fusion tuning's held-out table.
pub mod stat {
    /// A mean over queries.
    pub const MEAN: &str = "mean";
    /// The baseline's mean over the same queries.
    pub const BASELINE_MEAN: &str = "baseline_mean";
    /// Mean minus the baseline's.
    pub const DELTA: &str = "delta";
    /// The paired test's p-value.
    pub const P_VALUE: &str = "p_value";
    /// The p-value corrected for multiple comparisons (Holm or Bonferroni).
    pub const P_ADJUSTED: &str = "p_adjusted";
    /// The lower end of a bootstrap confidence interval.
    pub const CI_LOW: &str = "ci_low";
    /// The upper end of a bootstrap confidence interval.
    pub const CI_HIGH: &str = "ci_high";
    /// Whether the adjusted p-value is below the level.
    pub const SIGNIFICANT: &str = "significant";
    /// Queries better, equal, worse than the baseline.
    pub const WINS: &str = "wins";
    pub const TIES: &str = "ties";
    pub const LOSSES: &str = "losses";

    /// The column of a wide table holding `column` for `metric`: `{metric}_{column}`.
    pub fn of(metric: &str, column: &str) -> String {
        format!("{metric}_{column}")
    }
}

/// Table names used in error messages.
pub mod table {
    pub const CORPUS: &str = "corpus";
    pub const QUERIES: &str = "queries";
    pub const QRELS: &str = "qrels";
    pub const RUN: &str = "run";
    pub const CHUNKS: &str = "chunks";
    pub const SPAN_QRELS: &str = "span qrels";
    pub const RESULTS: &str = "results";
}

/// Schema of a corpus table.
pub fn corpus_schema() -> Schema {
    Schema::from_iter([
        Field::new(DOC_ID.into(), DataType::String),
        Field::new(TITLE.into(), DataType::String),
        Field::new(TEXT.into(), DataType::String),
    ])
}

/// Schema of a queries table.
pub fn queries_schema() -> Schema {
    Schema::from_iter([
        Field::new(QUERY_ID.into(), DataType::String),
        Field::new(TEXT.into(), DataType::String),
    ])
}

/// Schema of a qrels table.
pub fn qrels_schema() -> Schema {
    Schema::from_iter([
        Field::new(QUERY_ID.into(), DataType::String),
        Field::new(DOC_ID.into(), DataType::String),
        Field::new(RELEVANCE.into(), DataType::Int32),
    ])
}

/// Schema of a run table (without the optional `run` column).
pub fn run_schema() -> Schema {
    Schema::from_iter([
        Field::new(QUERY_ID.into(), DataType::String),
        Field::new(DOC_ID.into(), DataType::String),
        Field::new(SCORE.into(), DataType::Float64),
        Field::new(RANK.into(), DataType::UInt32),
    ])
}

/// Schema of a chunks table. Offsets are UInt32: a polars string holds at most 2^32 bytes.
pub fn chunks_schema() -> Schema {
    Schema::from_iter([
        Field::new(DOC_ID.into(), DataType::String),
        Field::new(CHUNK_ID.into(), DataType::String),
        Field::new(START.into(), DataType::UInt32),
        Field::new(END.into(), DataType::UInt32),
        Field::new(TEXT.into(), DataType::String),
        Field::new(SECTION.into(), DataType::String),
    ])
}

pub fn column<'a>(df: &'a DataFrame, table: &'static str, name: &str) -> Result<&'a Column> {
    df.column(name).map_err(|_| {
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        Error::schema(
            table,
            format!("missing column {name:?} (columns: {names:?})"),
        )
    })
}

fn no_nulls(c: &Column, table: &'static str, name: &str) -> Result<()> {
    let nulls = c.null_count();
    if nulls > 0 {
        return Err(Error::schema(
            table,
            format!("column {name:?} holds {nulls} null value(s)"),
        ));
    }
    Ok(())
}

/// Borrow a String column without nulls.
pub fn str_column<'a>(
    df: &'a DataFrame,
    table: &'static str,
    name: &str,
) -> Result<&'a StringChunked> {
    let c = column(df, table, name)?;
    if c.dtype() != &DataType::String {
        return Err(Error::schema(
            table,
            format!("column {name:?} must be String, got {}", c.dtype()),
        ));
    }
    no_nulls(c, table, name)?;
    Ok(c.str()?)
}

/// The values of a String column known to hold no nulls.
pub fn str_values(ca: &StringChunked) -> impl Iterator<Item = &str> + '_ {
    ca.downcast_iter().flat_map(|arr| arr.values_iter())
}

/// Whether the table has a column of this name.
pub fn has_column(df: &DataFrame, name: &str) -> bool {
    df.column(name).is_ok()
}

/// A numeric column as Float64 without nulls (integers and Float32 are widened).
pub fn f64_column(df: &DataFrame, table: &'static str, name: &str) -> Result<Float64Chunked> {
    let c = column(df, table, name)?;
    if !c.dtype().is_primitive_numeric() {
        return Err(Error::schema(
            table,
            format!("column {name:?} must be numeric, got {}", c.dtype()),
        ));
    }
    no_nulls(c, table, name)?;
    Ok(c.cast(&DataType::Float64)?.f64()?.clone())
}

/// An integer column cast to `to` without nulls: the checks of [`i32_column`] and
/// [`i64_column`].
fn integer_column(df: &DataFrame, table: &'static str, name: &str, to: DataType) -> Result<Column> {
    let c = column(df, table, name)?;
    if !c.dtype().is_integer() {
        return Err(Error::schema(
            table,
            format!(
                "column {name:?} must be an integer column, got {}",
                c.dtype()
            ),
        ));
    }
    no_nulls(c, table, name)?;
    c.strict_cast(&to)
        .map_err(|_| Error::schema(table, format!("column {name:?} has values outside {to:?}")))
}

/// An integer column as Int32 without nulls.
pub fn i32_column(df: &DataFrame, table: &'static str, name: &str) -> Result<Int32Chunked> {
    Ok(integer_column(df, table, name, DataType::Int32)?
        .i32()?
        .clone())
}

/// An integer column as Int64 without nulls.
pub fn i64_column(df: &DataFrame, table: &'static str, name: &str) -> Result<Int64Chunked> {
    Ok(integer_column(df, table, name, DataType::Int64)?
        .i64()?
        .clone())
}

/// Build a String column.
pub fn string_col(name: &str, values: Vec<String>) -> Column {
    Column::new(name.into(), values)
}

/// Build a DataFrame from equal-length columns.
pub fn frame(columns: Vec<Column>) -> Result<DataFrame> {
    let height = columns.first().map_or(0, |c| c.len());
    Ok(DataFrame::new(height, columns)?)
}
