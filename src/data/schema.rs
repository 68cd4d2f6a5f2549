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
//! borrow columns without copying them.

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

/// The arrow array behind a String column chunk.
pub type StrArray = <StringType as PolarsDataType>::Array;

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

/// Chunk boundaries of a column: `starts[c]` is the first row of chunk `c`, plus the length.
fn chunk_starts(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut starts = vec![0];
    for len in lengths {
        starts.push(starts.last().copied().unwrap_or(0) + len);
    }
    starts
}

/// Row access to a null-free column across its chunks, without copying them into one: a
/// cursor remembers the chunk it last read, so sequential access costs one bounds check.
pub struct Chunks<'a, T: ?Sized> {
    starts: Vec<usize>,
    parts: Vec<&'a T>,
}

/// A cursor over [`Chunks`]; cheap to create, one per thread or task. It caches the row
/// range `[lo, hi)` and index of the chunk it read last.
pub struct Cursor<'c, 'a, T: ?Sized> {
    chunks: &'c Chunks<'a, T>,
    current: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a, T: ?Sized> Chunks<'a, T> {
    /// A new cursor at the first chunk.
    pub fn cursor(&self) -> Cursor<'_, 'a, T> {
        let hi = self.starts.get(1).copied().unwrap_or(0);
        Cursor {
            chunks: self,
            current: std::cell::Cell::new((0, hi, 0)),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, T: ?Sized> Cursor<'_, 'a, T> {
    /// The chunk holding row `i` and `i`'s offset in it.
    #[inline(always)]
    fn locate(&self, i: usize) -> (&'a T, usize) {
        let (mut lo, mut hi, mut c) = self.current.get();
        if i < lo || i >= hi {
            let starts = &self.chunks.starts;
            c = starts.partition_point(|&s| s <= i) - 1;
            (lo, hi) = (starts[c], starts[c + 1]);
            self.current.set((lo, hi, c));
        }
        (self.chunks.parts[c], i - lo)
    }

    /// The chunk holding row `i`, `i`'s offset in it, and the row after the chunk's last.
    #[inline(always)]
    pub fn chunk_at(&self, i: usize) -> (&'a T, usize, usize) {
        let (part, j) = self.locate(i);
        (part, j, self.current.get().1)
    }
}

/// String chunks.
pub type StrChunks<'a> = Chunks<'a, StrArray>;
/// Float64 chunks.
pub type F64Chunks<'a> = Chunks<'a, [f64]>;

impl<'a> StrChunks<'a> {
    /// View a String column known to hold no nulls.
    pub fn strings(ca: &'a StringChunked) -> Self {
        let parts: Vec<&StrArray> = ca.downcast_iter().collect();
        Self {
            starts: chunk_starts(parts.iter().map(|a| a.len())),
            parts,
        }
    }
}

impl<'a> F64Chunks<'a> {
    /// View a Float64 column known to hold no nulls.
    pub fn floats(ca: &'a Float64Chunked) -> Self {
        let parts: Vec<&[f64]> = ca.downcast_iter().map(|a| a.values().as_slice()).collect();
        Self {
            starts: chunk_starts(parts.iter().map(|a| a.len())),
            parts,
        }
    }
}

impl<'a> Cursor<'_, 'a, StrArray> {
    /// Row `i`.
    #[inline(always)]
    pub fn str(&self, i: usize) -> &'a str {
        let (arr, j) = self.locate(i);
        debug_assert!(j < arr.len());
        // SAFETY: `locate` returns an offset below the chunk's length (`starts` was built
        // from the chunk lengths and `i` lies in `[lo, hi)`).
        unsafe { arr.value_unchecked(j) }
    }
}

/// Ask the processor to bring the cache line at `p` into L1 ahead of a read (a hint: it never
/// faults and has no other effect; nothing on targets other than x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint with no effect on memory, valid for any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// FxHash of a string's bytes: the one hash of doc and query ids in evaluation.
#[inline(always)]
pub fn hash_str(s: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    std::hash::Hasher::write(&mut h, s.as_bytes());
    std::hash::Hasher::finish(&h)
}

impl<'a> Cursor<'_, 'a, StrArray> {
    /// Row `i` and its 16-byte view. A string of at most 12 bytes lies whole in its view
    /// (zero-padded), so two such strings are equal when their views are; a longer string's
    /// view points into its chunk's buffers and says nothing across chunks.
    #[inline(always)]
    pub fn str_view(&self, i: usize) -> (&'a str, u128) {
        let (arr, j) = self.locate(i);
        let view = arr.views()[j].as_u128();
        // SAFETY: `locate` returns an offset below the chunk's length.
        (unsafe { arr.value_unchecked(j) }, view)
    }

    /// Row `i`, the chunk holding it, and its view in that chunk (see [`Cursor::str_view`]).
    #[inline(always)]
    pub fn chunk_view(&self, i: usize) -> (&'a str, usize, polars_arrow::array::View) {
        let (arr, j) = self.locate(i);
        // SAFETY: `locate` returns an offset below the chunk's length.
        let text = unsafe { arr.value_unchecked(j) };
        (text, self.current.get().2, arr.views()[j])
    }

    /// Row `i`, given its view (read before, perhaps with its buffer index moved): a string
    /// of at most 12 bytes is addressed inside the column's view of it, without reading that
    /// view again, so rows visited in any order cost no access to the column until their
    /// bytes are read; a longer one is read as [`Cursor::str`] reads it.
    ///
    /// # Safety
    /// `view` has the length of row `i`'s view.
    #[inline(always)]
    pub(crate) unsafe fn str_with_view(
        &self,
        i: usize,
        view: polars_arrow::array::View,
    ) -> &'a str {
        let (arr, j) = self.locate(i);
        debug_assert_eq!(arr.views()[j].length, view.length);
        if view.length <= polars_arrow::array::View::MAX_INLINE_SIZE {
            // SAFETY: `locate` returns an offset below the chunk's length, and an Arrow view
            // of a string of at most 12 bytes holds the string in the `length` bytes after its
            // 4-byte length (the caller's `view` has that length).
            unsafe {
                let at = arr.views().as_ptr().add(j).cast::<u8>().add(4);
                let bytes = std::slice::from_raw_parts(at, view.length as usize);
                std::str::from_utf8_unchecked(bytes)
            }
        } else {
            // SAFETY: `locate` returns an offset below the chunk's length.
            unsafe { arr.value_unchecked(j) }
        }
    }

    /// Row `i`'s 16-byte view alone (see [`Cursor::str_view`]).
    #[inline(always)]
    pub fn view(&self, i: usize) -> u128 {
        let (arr, j) = self.locate(i);
        arr.views()[j].as_u128()
    }

    /// Ask the processor to fetch row `i`'s view ahead of [`Cursor::str_view`]: callers that
    /// read rows in an order of their own (rows grouped by a counting sort) hide the cache
    /// miss this way. A row past the end is ignored.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if i < self.chunks.len() {
            let (arr, j) = self.locate(i);
            prefetch(&arr.views()[j]);
        }
    }
}

impl Cursor<'_, '_, StrArray> {
    /// Whether rows `i` and `j` hold the same string. Strings of at most 12 bytes live whole
    /// in the 16-byte view, so equal views decide equality without reading any buffer.
    #[inline(always)]
    pub fn same(&self, i: usize, j: usize) -> bool {
        let (a, ai) = self.locate(i);
        let (b, bi) = self.locate(j);
        same_string(
            a.views()[ai].as_u128(),
            b.views()[bi].as_u128(),
            std::ptr::eq(a, b),
            // SAFETY: `locate` returns offsets below the chunks' lengths.
            || unsafe { a.value_unchecked(ai) == b.value_unchecked(bi) },
        )
    }
}

/// Whether two strings are equal, given their Arrow views, whether they lie in one chunk, and
/// `bytes_equal()`, which compares their bytes and is called only when the views cannot
/// tell. A string of at most 12 bytes lies whole in its view, so two such strings are equal
/// exactly when their views are; a longer one's view holds its length and 4-byte prefix
/// (different ones mean different strings) and a place in its chunk's buffers (the same
/// place in one chunk means the same string).
#[inline(always)]
pub(crate) fn same_string(
    va: u128,
    vb: u128,
    one_chunk: bool,
    bytes_equal: impl FnOnce() -> bool,
) -> bool {
    let short = (va as u32) <= 12;
    if va == vb && (short || one_chunk) {
        return true;
    }
    if short || (va as u64) != (vb as u64) {
        return false;
    }
    bytes_equal()
}

impl Cursor<'_, '_, [f64]> {
    /// Row `i`.
    #[inline(always)]
    pub fn f64(&self, i: usize) -> f64 {
        let (arr, j) = self.locate(i);
        arr[j]
    }
}
