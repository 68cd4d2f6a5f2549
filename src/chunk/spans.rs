//! Span qrels to chunk qrels: judgements on character ranges of documents, turned into
//! judgements on the chunks of any chunker, so a judgement stays valid when the chunker
//! changes.
//!
//! A span qrels table (`query_id`, `doc_id`, `start`, `end`, `relevance`) says which
//! character ranges `[start, end)` of a document's text (Unicode scalar values, as the chunks
//! table counts them) answer a query. The rule that makes chunk qrels of it:
//!
//! > chunk `c` is judged for query `q` when a span `s` of `q` in `c`'s document shares
//! > `overlap(s, c) > 0` characters with it and `overlap(s, c) >= min_overlap × min(|s|, |c|)`;
//! > its relevance is the largest relevance of those spans.
//!
//! Measuring against the shorter of the two makes the rule symmetric: a short answer inside
//! a long chunk counts whole (the chunk holds the answer), and a chunk inside a long
//! relevant passage counts too (the chunk is part of the answer), while a chunk that only
//! grazes a span's edge does not. `min_overlap = 0` judges every chunk that shares a
//! character; `1` asks that the shorter one lie wholly inside the other. A span of
//! relevance 0 makes the chunks it covers judged non-relevant, as in a qrels file.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::data::schema::{self, table, CHUNK_ID, DOC_ID, END, QUERY_ID, RELEVANCE, START, TEXT};
use crate::error::{Error, Result};

/// The `min_overlap` of [`chunk_qrels`] when a caller does not say: half the shorter range.
pub const DEFAULT_MIN_OVERLAP: f64 = 0.5;

/// One judged span: the query's number, the range, the relevance.
#[derive(Debug, Clone, Copy)]
struct Judged {
    query: u32,
    start: usize,
    end: usize,
    relevance: i32,
}

/// Whether a chunk `[cs, ce)` is judged by a span `[ss, se)` under `min_overlap`.
pub fn overlaps(span: (usize, usize), chunk: (usize, usize), min_overlap: f64) -> bool {
    let shared = span.1.min(chunk.1).saturating_sub(span.0.max(chunk.0));
    let shorter = (span.1 - span.0).min(chunk.1.saturating_sub(chunk.0));
    shared > 0 && shared as f64 >= min_overlap * shorter as f64
}

/// The span qrels, checked against the corpus, grouped by document; and the query ids in
/// order of first appearance.
struct Spans<'a> {
    by_doc: FxHashMap<&'a str, Vec<Judged>>,
    queries: Vec<&'a str>,
}

fn span_error(q: &str, d: &str, start: i64, end: i64, reason: String) -> Error {
    Error::Span {
        query_id: q.to_owned(),
        doc_id: d.to_owned(),
        start,
        end,
        reason,
    }
}

/// Read and check the span qrels: known documents, `0 <= start < end <= length`, relevance
/// at least 0.
fn read_spans<'a>(span_qrels: &'a DataFrame, corpus: &'a DataFrame) -> Result<Spans<'a>> {
    let t = table::SPAN_QRELS;
    let qs = schema::str_column(span_qrels, t, QUERY_ID)?;
    let ds = schema::str_column(span_qrels, t, DOC_ID)?;
    let starts = schema::i64_column(span_qrels, t, START)?;
    let ends = schema::i64_column(span_qrels, t, END)?;
    let rels = schema::i32_column(span_qrels, t, RELEVANCE)?;
    let ids = schema::str_column(corpus, table::CORPUS, DOC_ID)?;
    let texts: Vec<&str> =
        schema::str_values(schema::str_column(corpus, table::CORPUS, TEXT)?).collect();
    let rows: FxHashMap<&str, usize> = schema::str_values(ids)
        .enumerate()
        .map(|(i, d)| (d, i))
        .collect();
    let mut lengths: FxHashMap<usize, usize> = FxHashMap::default();
    let mut numbers: FxHashMap<&str, u32> = FxHashMap::default();
    let mut spans = Spans {
        by_doc: FxHashMap::default(),
        queries: Vec::new(),
    };
    let values = schema::str_values(qs)
        .zip(schema::str_values(ds))
        .zip(starts.into_no_null_iter().zip(ends.into_no_null_iter()))
        .zip(rels.into_no_null_iter());
    for (((q, d), (start, end)), relevance) in values {
        let row = *rows.get(d).ok_or_else(|| Error::UnknownId {
            kind: "document",
            id: d.to_owned(),
            location: format!("the corpus (span qrels, query {q:?})"),
        })?;
        if relevance < 0 {
            let reason = format!("has a negative relevance ({relevance})");
            return Err(span_error(q, d, start, end, reason));
        }
        if start < 0 || start >= end {
            let reason = "is empty or reversed (0 <= start < end must hold)".to_owned();
            return Err(span_error(q, d, start, end, reason));
        }
        let length = *lengths
            .entry(row)
            .or_insert_with(|| texts[row].chars().count());
        if end as u64 > length as u64 {
            let reason = format!("ends past the document's text ({length} characters)");
            return Err(span_error(q, d, start, end, reason));
        }
        let next = spans.queries.len() as u32;
        let query = *numbers.entry(q).or_insert(next);
        if query == next {
            spans.queries.push(q);
        }
        spans.by_doc.entry(d).or_default().push(Judged {
            query,
            start: start as usize,
            end: end as usize,
            relevance,
        });
    }
    Ok(spans)
}

/// Chunk qrels from span qrels: every chunk of `chunks` that the rule of this module judges,
/// with the largest relevance of the spans that judge it. Rows come per query (in order of
/// first appearance in `span_qrels`), chunks in the order of `chunks`; a query none of whose
/// spans judges a chunk (a span over whitespace between chunks) has no row.
///
/// Errors: `min_overlap` outside [0, 1]; missing or mistyped columns; a span whose document
/// is not in `corpus` ([`Error::UnknownId`]); a span with `start >= end`, `start < 0`, `end`
/// past the document's text, or a negative relevance ([`Error::Span`], naming the query,
/// the document and the range).
pub fn chunk_qrels(
    span_qrels: &DataFrame,
    chunks: &DataFrame,
    corpus: &DataFrame,
    min_overlap: f64,
) -> Result<DataFrame> {
    if !(0.0..=1.0).contains(&min_overlap) {
        return Err(Error::config(
            "min_overlap",
            format!("{min_overlap} must lie in [0, 1]"),
        ));
    }
    let spans = read_spans(span_qrels, corpus)?;
    let ids = schema::str_column(chunks, table::CHUNKS, CHUNK_ID)?;
    let docs = schema::str_column(chunks, table::CHUNKS, DOC_ID)?;
    let starts = schema::i64_column(chunks, table::CHUNKS, START)?;
    let ends = schema::i64_column(chunks, table::CHUNKS, END)?;
    let chunk_ids: Vec<&str> = schema::str_values(ids).collect();
    // The chunks of the judged documents: (row, start, end).
    let mut by_doc: FxHashMap<&str, Vec<(u32, usize, usize)>> = FxHashMap::default();
    let rows =
        schema::str_values(docs).zip(starts.into_no_null_iter().zip(ends.into_no_null_iter()));
    for (row, (d, (s, e))) in rows.enumerate() {
        if spans.by_doc.contains_key(d) {
            let (s, e) = (s.max(0) as usize, e.max(0) as usize);
            by_doc.entry(d).or_default().push((row as u32, s, e));
        }
    }
    let judged: Vec<(u32, u32, i32)> = spans
        .by_doc
        .par_iter()
        .flat_map_iter(|(doc, judged)| {
            let mut best: FxHashMap<(u32, u32), i32> = FxHashMap::default();
            for &(row, cs, ce) in by_doc.get(doc).map_or(&[][..], Vec::as_slice) {
                for j in judged {
                    if overlaps((j.start, j.end), (cs, ce), min_overlap) {
                        let r = best.entry((j.query, row)).or_insert(j.relevance);
                        *r = (*r).max(j.relevance);
                    }
                }
            }
            best.into_iter().map(|((q, row), r)| (q, row, r))
        })
        .collect();
    let mut judged = judged;
    judged.sort_unstable();
    schema::frame(vec![
        Column::new(
            QUERY_ID.into(),
            judged
                .iter()
                .map(|&(q, _, _)| spans.queries[q as usize])
                .collect::<Vec<&str>>(),
        ),
        Column::new(
            DOC_ID.into(),
            judged
                .iter()
                .map(|&(_, row, _)| chunk_ids[row as usize])
                .collect::<Vec<&str>>(),
        ),
        Column::new(
            RELEVANCE.into(),
            judged.iter().map(|&(_, _, r)| r).collect::<Vec<i32>>(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorter_range_sets_the_bar() {
        // A 2-character answer inside a 100-character chunk counts whole.
        assert!(overlaps((10, 12), (0, 100), 1.0));
        // A chunk grazing a span's edge by 1 of 10 characters does not at 0.5.
        assert!(!overlaps((0, 10), (9, 30), 0.5));
        assert!(overlaps((0, 10), (9, 30), 0.0));
        // Touching ranges share nothing.
        assert!(!overlaps((0, 10), (10, 20), 0.0));
    }
}
