//! Chunking: documents cut into passages that a retriever indexes on their own.
//!
//! A chunks table (columns in [`crate::data::schema`]) has one row per chunk: `doc_id`,
//! `chunk_id` (`"{doc_id}#{n}"`, `n` from 0 per document), `start` and `end` (character
//! offsets, i.e. Unicode scalar values, into the document's `text`, end exclusive), `text`
//! (exactly those characters of the original) and `section` (the Markdown heading path, null
//! for the other strategies).
//!
//! Strategies ([`Strategy`]), each bounded by `size` units ([`Unit`]: characters or tokens of
//! a `tokenizers` tokenizer, see [`Document`] for how tokens are counted):
//!
//! * `fixed`: windows of `size` units, each starting `size - overlap` units after the last;
//! * `sentence`: Unicode sentences (UAX #29) packed greedily ([`sentence`]);
//! * `recursive`: paragraphs, lines, sentences, words, graphemes, then characters, the first
//!   level that splits the text, pieces merged greedily, as text-splitter and LangChain's
//!   `RecursiveCharacterTextSplitter` do ([`recursive`]);
//! * `markdown`: CommonMark blocks packed within heading sections ([`markdown`]);
//! * `semantic`: sentences grouped where the embeddings of consecutive sentences differ most,
//!   groups packed as `sentence` packs ([`semantic`](mod@semantic)); needs an [`Embedder`].
//!
//! Choices that hold for every strategy:
//!
//! * **Trimming.** Every chunk is trimmed of leading and trailing whitespace (Unicode
//!   `White_Space`) and a chunk left empty is dropped, so no chunk is whitespace-only and an
//!   empty or whitespace-only text yields no chunk. Offsets are those of the trimmed chunk, so
//!   `text == original[start..end]` always holds, and the chunks together cover every
//!   non-whitespace character of the text.
//! * **Sizes.** A chunk's size is measured after trimming and never exceeds `size`, except a
//!   unit that cannot be broken (one character over a token budget, a Markdown code block or
//!   table).
//! * **Overlap** is counted in units for `fixed`, `recursive` and `markdown`, in sentences for
//!   `sentence` and `semantic`; each strategy documents how.

mod aggregate;
mod document;
mod enrich;
mod fixed;
mod markdown;
mod pack;
mod recursive;
pub mod semantic;
mod sentence;
mod spans;

use polars::prelude::*;
use rayon::prelude::*;
use tokenizers::Tokenizer;

use crate::cancel::Cancel;
use crate::data::schema::{self, table, CHUNK_ID, DOC_ID, END, SECTION, START, TEXT};
use crate::error::{Error, Result};
use crate::options::option_enum;
pub use aggregate::{to_documents, Aggregate};
pub use document::Document;
pub use enrich::{enrich, Template, DEFAULT_TEMPLATE};
pub use semantic::{CachedEmbedder, Embedder};
pub use spans::{chunk_qrels, DEFAULT_MIN_OVERLAP};

option_enum! {
    /// How a text is cut.
    pub enum Strategy: "strategy" {
        /// Windows of a fixed size.
        Fixed => "fixed",
        /// Sentences packed up to the size.
        Sentence => "sentence",
        /// The coarsest separators that fit, pieces merged up to the size.
        Recursive => "recursive",
        /// Markdown blocks packed within heading sections.
        Markdown => "markdown",
        /// Sentences grouped by embedding similarity, groups packed up to the size.
        Semantic => "semantic",
    }
}

option_enum! {
    /// What sizes are counted in.
    pub enum Unit: "unit" {
        /// Unicode scalar values (Rust `char`s, Python `str` positions).
        Chars => "chars",
        /// Tokens of a tokenizer (no special tokens).
        Tokens => "tokens",
    }
}

/// Options of [`chunk`] and [`chunk_text`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkOptions {
    /// The strategy; `recursive` by default.
    pub strategy: Strategy,
    /// The largest chunk, in `unit`s; 1000 by default.
    pub size: usize,
    /// What consecutive chunks share, below `size` (units, or sentences for `sentence`);
    /// 0 by default.
    pub overlap: usize,
    /// What `size` and `overlap` count; characters by default.
    pub unit: Unit,
    /// `semantic` only: a breakpoint follows a sentence whose distance to the next one is
    /// above this percentile (0 to 100) of the document's distances; 95 by default.
    pub percentile: f64,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Recursive,
            size: 1000,
            overlap: 0,
            unit: Unit::Chars,
            percentile: 95.0,
        }
    }
}

impl ChunkOptions {
    /// Check the options; `has_tokenizer` says whether a tokenizer comes with them.
    pub fn validate(&self, has_tokenizer: bool) -> Result<()> {
        check_size(self.size, self.overlap)?;
        if !(0.0..=100.0).contains(&self.percentile) {
            return Err(Error::config(
                "percentile",
                format!("{} must be between 0 and 100", self.percentile),
            ));
        }
        if self.unit == Unit::Tokens && !has_tokenizer {
            return Err(Error::config(
                "tokenizer",
                "the token unit needs a tokenizer (the encoder's)",
            ));
        }
        Ok(())
    }
}

fn check_size(size: usize, overlap: usize) -> Result<()> {
    if size == 0 {
        return Err(Error::config("size", "must be at least 1"));
    }
    if overlap >= size {
        return Err(Error::config(
            "overlap",
            format!("{overlap} must be below the size ({size})"),
        ));
    }
    Ok(())
}

/// One chunk of a text: `[start, end)` in characters, and its Markdown heading path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// Heading path such as `"Intro > Setup"` (`markdown` only; `None` before any heading).
    pub section: Option<String>,
}

/// Collects a strategy's chunks in byte offsets, trimmed, whitespace-only ones dropped.
pub(crate) struct Sink<'d, 'a> {
    doc: &'d Document<'a>,
    /// The chunks so far, in byte offsets.
    pub spans: Vec<Span>,
    /// The section of the chunks pushed next.
    pub section: Option<String>,
}

impl<'d, 'a> Sink<'d, 'a> {
    pub(crate) fn new(doc: &'d Document<'a>) -> Self {
        Self {
            doc,
            spans: Vec::new(),
            section: None,
        }
    }

    /// Add the byte range `[start, end)`, trimmed; nothing if it is whitespace only or inside
    /// the previous chunk.
    pub(crate) fn push(&mut self, start: usize, end: usize) {
        if let Some((start, end)) = self.doc.trim(start, end) {
            // Trimming can make a window repeat or merely extend the previous chunk: a chunk
            // inside the previous one adds nothing, one from the same start replaces it.
            if let Some(last) = self.spans.last_mut() {
                if start >= last.start && end <= last.end {
                    return;
                }
                if start == last.start {
                    last.end = end;
                    return;
                }
            }
            self.spans.push(Span {
                start,
                end,
                section: self.section.clone(),
            });
        }
    }
}

/// The chunks of a prepared document by strategy, in byte offsets.
fn spans_in_bytes(doc: &Document, strategy: Strategy, size: usize, overlap: usize) -> Vec<Span> {
    let mut sink = Sink::new(doc);
    match strategy {
        Strategy::Fixed => fixed::chunk(doc, size, overlap, &mut sink),
        Strategy::Sentence => sentence::chunk(doc, size, overlap, &mut sink),
        Strategy::Recursive => recursive::chunk(doc, size, overlap, &mut sink),
        Strategy::Markdown => markdown::chunk(doc, size, overlap, &mut sink),
        // Without sentence vectors (see `semantic::corpus_rows`) a document is one group.
        Strategy::Semantic => sentence::chunk(doc, size, overlap, &mut sink),
    }
    sink.spans
}

/// `fixed`: windows of `size` units, the next starting `size - overlap` units later; the
/// last may be shorter. With tokens, a window runs from its first token's start to the next
/// window's first token (trimmed: to its last token's end when whitespace follows).
pub fn fixed(doc: &Document, size: usize, overlap: usize) -> Result<Vec<Span>> {
    check_size(size, overlap)?;
    Ok(doc.to_chars(spans_in_bytes(doc, Strategy::Fixed, size, overlap)))
}

/// `sentence`: UAX #29 sentences packed greedily up to `size`; a chunk starts with up to
/// `overlap` whole sentences that end the previous one; a sentence longer than `size` is cut
/// into `fixed` windows without overlap.
pub fn sentence(doc: &Document, size: usize, overlap: usize) -> Result<Vec<Span>> {
    check_size(size, overlap)?;
    Ok(doc.to_chars(spans_in_bytes(doc, Strategy::Sentence, size, overlap)))
}

/// `recursive`: the coarsest separator level that splits the text, pieces merged greedily up
/// to `size`, oversized pieces split at finer levels; `overlap` in units.
pub fn recursive(doc: &Document, size: usize, overlap: usize) -> Result<Vec<Span>> {
    check_size(size, overlap)?;
    Ok(doc.to_chars(spans_in_bytes(doc, Strategy::Recursive, size, overlap)))
}

/// `markdown`: CommonMark blocks packed up to `size` within heading sections; code blocks and
/// tables are never split; `overlap` in units.
pub fn markdown(doc: &Document, size: usize, overlap: usize) -> Result<Vec<Span>> {
    check_size(size, overlap)?;
    Ok(doc.to_chars(spans_in_bytes(doc, Strategy::Markdown, size, overlap)))
}

/// `semantic`: UAX #29 sentences embedded by `embedder`, a breakpoint after every sentence
/// whose cosine distance to the next is above the `percentile`-th percentile (numpy's linear
/// interpolation) of the document's distances, each group packed as `sentence` packs.
pub fn semantic(
    doc: &Document,
    size: usize,
    overlap: usize,
    percentile: f64,
    embedder: &dyn Embedder,
    cancel: &Cancel,
) -> Result<Vec<Span>> {
    check_size(size, overlap)?;
    semantic::chunk_document(doc, size, overlap, percentile, embedder, cancel)
}

/// The chunks of one text under `options`, in character offsets; `semantic` needs
/// [`chunk_text_with`].
pub fn chunk_text(
    text: &str,
    options: &ChunkOptions,
    tokenizer: Option<&Tokenizer>,
) -> Result<Vec<Span>> {
    chunk_text_with(text, options, tokenizer, None, crate::cancel::never())
}

/// [`chunk_text`] with an embedder for `semantic`.
pub fn chunk_text_with(
    text: &str,
    options: &ChunkOptions,
    tokenizer: Option<&Tokenizer>,
    embedder: Option<&dyn Embedder>,
    cancel: &Cancel,
) -> Result<Vec<Span>> {
    options.validate(tokenizer.is_some())?;
    let doc = Document::new(text, options.unit, tokenizer)?;
    if options.strategy == Strategy::Semantic {
        let embedder = embedder.ok_or_else(semantic::missing_encoder)?;
        let o = options;
        return semantic::chunk_document(&doc, o.size, o.overlap, o.percentile, embedder, cancel);
    }
    let spans = spans_in_bytes(&doc, options.strategy, options.size, options.overlap);
    Ok(doc.to_chars(spans))
}

/// One document's chunks as rows: character offsets, byte ranges and sections.
struct Rows {
    chars: Vec<(u32, u32)>,
    spans: Vec<Span>,
}

/// A [`Error::Schema`] naming the first document whose `text` is null.
fn check_null_text(corpus: &DataFrame, ids: &[&str]) -> Result<()> {
    let Ok(c) = corpus.column(TEXT) else {
        return Ok(());
    };
    // A column of another dtype is reported by `str_column`.
    let Ok(ca) = c.str() else {
        return Ok(());
    };
    if ca.null_count() == 0 {
        return Ok(());
    }
    let first = ca
        .downcast_iter()
        .flat_map(|arr| arr.iter())
        .position(|v| v.is_none());
    let id = first.and_then(|i| ids.get(i)).copied().unwrap_or_default();
    Err(Error::schema(
        table::CORPUS,
        format!("column \"{TEXT}\" is null for document \"{id}\""),
    ))
}

/// One document's rows from its spans in byte offsets.
fn rows_of(doc: &Document, spans: Vec<Span>) -> Rows {
    let chars = spans
        .iter()
        .map(|s| (doc.char_at(s.start) as u32, doc.char_at(s.end) as u32))
        .collect();
    Rows { chars, spans }
}

/// Chunk every document of a corpus table (`doc_id`, `text`; a `title` is ignored) into a
/// chunks table, in corpus order, documents in parallel. Progress counts documents;
/// `semantic` needs [`chunk_with`].
///
/// Errors: invalid options, a missing or mistyped column, a corpus without rows
/// ([`Error::Empty`]), a document id twice (chunk ids would clash), a tokenizer failure, or
/// [`Error::Interrupted`].
pub fn chunk(
    corpus: &DataFrame,
    options: &ChunkOptions,
    tokenizer: Option<&Tokenizer>,
    cancel: &Cancel,
) -> Result<DataFrame> {
    chunk_with(corpus, options, tokenizer, None, cancel)
}

/// [`chunk`] with an embedder for `semantic`: the sentences of all documents are embedded in
/// one call (progress then counts sentences). Without one, `semantic` is an
/// [`Error::Config`] naming `encoder`.
pub fn chunk_with(
    corpus: &DataFrame,
    options: &ChunkOptions,
    tokenizer: Option<&Tokenizer>,
    embedder: Option<&dyn Embedder>,
    cancel: &Cancel,
) -> Result<DataFrame> {
    options.validate(tokenizer.is_some())?;
    if options.strategy == Strategy::Semantic && embedder.is_none() {
        return Err(semantic::missing_encoder());
    }
    let ids: Vec<&str> =
        schema::str_values(schema::str_column(corpus, table::CORPUS, DOC_ID)?).collect();
    check_null_text(corpus, &ids)?;
    let texts: Vec<&str> =
        schema::str_values(schema::str_column(corpus, table::CORPUS, TEXT)?).collect();
    if texts.is_empty() {
        return Err(Error::Empty {
            what: "the corpus".into(),
        });
    }
    let mut seen = rustc_hash::FxHashSet::default();
    if let Some(id) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(Error::DuplicateId {
            kind: "document",
            id: (*id).to_owned(),
            location: "the corpus".into(),
        });
    }
    let tokenizer = match tokenizer {
        Some(t) if options.unit == Unit::Tokens => Some(document::plain(t)?),
        _ => None,
    };
    if let (Strategy::Semantic, Some(e)) = (options.strategy, embedder) {
        let rows = semantic::corpus_rows(&texts, options, tokenizer.as_deref(), e, cancel)?;
        return table_of(&ids, &texts, &rows);
    }
    cancel.start("chunk", texts.len() as u64);
    let rows: Vec<Rows> = texts
        .par_iter()
        .map(|&text| {
            cancel.check()?;
            let doc = Document::new(text, options.unit, tokenizer.as_deref())?;
            let spans = spans_in_bytes(&doc, options.strategy, options.size, options.overlap);
            cancel.advance(1);
            Ok(rows_of(&doc, spans))
        })
        .collect::<Result<_>>()?;
    table_of(&ids, &texts, &rows)
}

/// The chunks table of the documents' rows, built in parts in parallel and stacked.
fn table_of(ids: &[&str], texts: &[&str], rows: &[Rows]) -> Result<DataFrame> {
    let per = ids.len().div_ceil(rayon::current_num_threads()).max(1);
    let parts: Vec<DataFrame> = (0..ids.len())
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|from| {
            let to = (from + per).min(ids.len());
            part_table(&ids[from..to], &texts[from..to], &rows[from..to])
        })
        .collect::<Result<_>>()?;
    let mut parts = parts.into_iter();
    let mut table = parts.next().map_or_else(|| part_table(&[], &[], &[]), Ok)?;
    for part in parts {
        table.vstack_mut_owned(part)?;
    }
    Ok(table)
}

/// The chunks table of some documents' rows.
fn part_table(ids: &[&str], texts: &[&str], rows: &[Rows]) -> Result<DataFrame> {
    use std::fmt::Write;
    let n: usize = rows.iter().map(|r| r.spans.len()).sum();
    let mut doc_ids = Vec::with_capacity(n);
    let mut chunk_ids = StringChunkedBuilder::new(CHUNK_ID.into(), n);
    let (mut starts, mut ends) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut chunk_texts = Vec::with_capacity(n);
    let mut sections = Vec::with_capacity(n);
    let mut id_buf = String::new();
    for ((&id, &text), r) in ids.iter().zip(texts).zip(rows) {
        for (i, (span, &(s, e))) in r.spans.iter().zip(&r.chars).enumerate() {
            doc_ids.push(id);
            id_buf.clear();
            // Writing to a String cannot fail.
            let _ = write!(id_buf, "{id}#{i}");
            chunk_ids.append_value(&id_buf);
            starts.push(s);
            ends.push(e);
            chunk_texts.push(&text[span.start..span.end]);
            sections.push(span.section.as_deref());
        }
    }
    schema::frame(vec![
        Column::new(DOC_ID.into(), doc_ids),
        chunk_ids.finish().into_column(),
        Column::new(START.into(), starts),
        Column::new(END.into(), ends),
        Column::new(TEXT.into(), chunk_texts),
        Column::new(SECTION.into(), sections),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for &name in Strategy::NAMES {
            assert_eq!(name.parse::<Strategy>().unwrap().name(), name);
        }
        for &name in Unit::NAMES {
            assert_eq!(name.parse::<Unit>().unwrap().name(), name);
        }
        let err = "semantik".parse::<Strategy>().unwrap_err().to_string();
        assert!(err.contains("\"recursive\""), "{err}");
    }

    #[test]
    fn validate_names_the_bad_option() {
        let o = |size, overlap, unit| ChunkOptions {
            size,
            overlap,
            unit,
            ..Default::default()
        };
        let name = |r: Result<()>| match r {
            Err(Error::Config { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name(o(0, 0, Unit::Chars).validate(false)), "size");
        assert_eq!(name(o(5, 5, Unit::Chars).validate(false)), "overlap");
        assert_eq!(name(o(5, 1, Unit::Tokens).validate(false)), "tokenizer");
        let far = ChunkOptions {
            percentile: 101.0,
            ..Default::default()
        };
        assert_eq!(name(far.validate(false)), "percentile");
        let df = df!(DOC_ID => ["a"], TEXT => ["Hello."]).unwrap();
        let semantic = ChunkOptions {
            strategy: Strategy::Semantic,
            ..Default::default()
        };
        let missing = chunk(&df, &semantic, None, crate::cancel::never());
        assert_eq!(name(missing.map(|_| ())), "encoder");
        assert!(o(5, 4, Unit::Tokens).validate(true).is_ok());
    }
}
