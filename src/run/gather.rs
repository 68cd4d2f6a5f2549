//! A run table assembled from id columns by copying 16-byte string views, in parallel.
//!
//! Retrievers and fusion end with, per query, the ranked `(row of an id column, score)` of
//! its hits. The id strings already live in Arrow string-view arrays (`Utf8View`: a 16-byte
//! view per string, holding it whole when it has at most 12 bytes, else pointing into one of
//! the array's data buffers). The run table's `query_id` and `doc_id` columns are built as
//! new view arrays over the same data buffers: each output row copies its source's view,
//! with the buffer index shifted when the source column has several chunks (their buffer
//! lists are laid end to end). No string is copied, no chunk is concatenated first, and no
//! row-index array is built for a `take`. Queries are written in parallel, each into its own
//! slice of the output.

use std::mem::MaybeUninit;

use polars::prelude::*;
use polars_arrow::array::View;
use rayon::prelude::*;

use super::views::{self, first_buffers, shifted, view_column, StrArray, StrChunks};
use crate::data::schema::{self, table, DOC_ID, QUERY_ID, RANK, SCORE};
use crate::error::{Error, Result};

/// The chunks of a String column, whose data buffers are laid end to end in the columns
/// made from it.
struct ViewSource<'a> {
    parts: Vec<&'a StrArray>,
    chunks: StrChunks<'a>,
    first_buffer: Vec<u32>,
}

impl<'a> ViewSource<'a> {
    fn new(column: &'a StringChunked) -> Self {
        Self {
            parts: column.downcast_iter().collect(),
            chunks: StrChunks::strings(column),
            first_buffer: first_buffers(column.downcast_iter(), 0),
        }
    }

    /// Row `i`'s view, pointing into the buffer list.
    #[inline(always)]
    fn view(&self, cursor: &views::Cursor<'_, 'a, StrArray>, i: usize) -> View {
        let (_, chunk, view) = cursor.chunk_view(i);
        shifted(view, &self.first_buffer, chunk)
    }
}

/// Cut `out` into consecutive slices of the given lengths.
fn split<T>(mut out: &mut [T], lengths: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    lengths
        .map(|n| {
            let (head, tail) = std::mem::take(&mut out).split_at_mut(n);
            out = tail;
            head
        })
        .collect()
}

/// The run table whose query `q` is `query_ids[q]` and whose hits for it are `hits[q]`:
/// `(row of doc_ids, score)`, already in run order; ranks count from 1. Queries without hits
/// have no rows. Both id columns must hold no nulls.
pub fn gather(
    query_ids: &StringChunked,
    doc_ids: &StringChunked,
    hits: &[Vec<(u32, f64)>],
) -> Result<DataFrame> {
    let docs = ViewSource::new(doc_ids);
    let cursor = || docs.chunks.cursor();
    let doc_view = |c: &views::Cursor<'_, '_, StrArray>, &row: &u32| docs.view(c, row as usize);
    gather_with(query_ids, &docs.parts, hits, cursor, doc_view)
}

/// [`gather`] with each hit's doc id given as its view, already pointing into the list of
/// the data buffers of `doc_chunks`, in order ([`first_buffers`], [`shifted`]): no doc id is
/// read.
pub(crate) fn gather_views(
    query_ids: &StringChunked,
    doc_chunks: &[&StrArray],
    hits: &[Vec<(View, f64)>],
) -> Result<DataFrame> {
    gather_with(query_ids, doc_chunks, hits, || (), |_, &view| view)
}

/// The run table of `hits`, each hit's doc id made a view into the buffers of `doc_chunks` by
/// `doc_view` (with per-thread state made by `state`).
fn gather_with<H: Sync, S>(
    query_ids: &StringChunked,
    doc_chunks: &[&StrArray],
    hits: &[Vec<(H, f64)>],
    state: impl Fn() -> S + Sync + Send,
    doc_view: impl Fn(&S, &H) -> View + Sync + Send,
) -> Result<DataFrame> {
    if query_ids.len() != hits.len() {
        return Err(Error::schema(
            table::RUN,
            format!(
                "{} query ids for {} queries' hits",
                query_ids.len(),
                hits.len()
            ),
        ));
    }
    let rows: usize = hits.iter().map(Vec::len).sum();
    let queries = ViewSource::new(query_ids);
    let (mut query_views, mut doc_views) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let (mut scores, mut ranks) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let lengths = || hits.iter().map(Vec::len);
    let parts = split(query_views.spare_capacity_mut(), lengths())
        .into_iter()
        .zip(split(doc_views.spare_capacity_mut(), lengths()))
        .zip(split(scores.spare_capacity_mut(), lengths()))
        .zip(split(ranks.spare_capacity_mut(), lengths()))
        .collect::<Vec<_>>();
    parts.into_par_iter().zip(hits).enumerate().for_each_init(
        || (queries.chunks.cursor(), state()),
        |(query_cursor, state), (q, ((((qv, dv), sv), rv), list))| {
            qv.fill(MaybeUninit::new(queries.view(query_cursor, q)));
            for (i, (doc, score)) in list.iter().enumerate() {
                dv[i].write(doc_view(state, doc));
                sv[i].write(*score);
                rv[i].write(i as u32 + 1);
            }
        },
    );
    // SAFETY: the slices above cover each buffer's first `rows` slots, and each slice was
    // written whole (query `q`'s slices have the length of `hits[q]`).
    unsafe {
        query_views.set_len(rows);
        doc_views.set_len(rows);
        scores.set_len(rows);
        ranks.set_len(rows);
    }
    schema::frame(vec![
        view_column(QUERY_ID, &queries.parts, query_views),
        view_column(DOC_ID, doc_chunks, doc_views),
        Column::new(SCORE.into(), scores),
        Column::new(RANK.into(), ranks),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A String column of several chunks, each from its own array (with its own buffers).
    fn chunked(parts: &[&[String]]) -> StringChunked {
        let mut out =
            StringChunked::from_iter_values("".into(), parts[0].iter().map(String::as_str));
        for part in &parts[1..] {
            let next = StringChunked::from_iter_values("".into(), part.iter().map(String::as_str));
            out.append(&next).unwrap();
        }
        out
    }

    #[test]
    fn copies_views_across_chunks_and_buffers() {
        // Short ids lie in their views, long ones in the chunks' buffers.
        let docs: Vec<String> = (0..30)
            .map(|i| match i % 3 {
                0 => format!("d{i}"),
                _ => format!("a-document-id-longer-than-twelve-bytes-{i}"),
            })
            .collect();
        let queries: Vec<String> = (0..4).map(|q| format!("query number {q} (long)")).collect();
        let doc_ids = chunked(&[&docs[..7], &docs[7..20], &docs[20..]]);
        let query_ids = chunked(&[&queries[..1], &queries[1..]]);
        assert_eq!(doc_ids.chunks().len(), 3);
        let hits: Vec<Vec<(u32, f64)>> = vec![
            vec![(29, 3.0), (0, 2.0), (8, 1.0)],
            vec![],
            vec![(6, 0.5), (7, 0.25), (19, 0.125), (20, 0.0), (1, -1.0)],
            vec![(13, 9.0)],
        ];
        let run = gather(&query_ids, &doc_ids, &hits).unwrap();
        let mut expected = Vec::new();
        for (q, list) in hits.iter().enumerate() {
            for (r, &(row, score)) in list.iter().enumerate() {
                expected.push((
                    queries[q].clone(),
                    docs[row as usize].clone(),
                    score,
                    r as u32 + 1,
                ));
            }
        }
        let column = |name: &str| run.column(name).unwrap().as_materialized_series().clone();
        let (q, d) = (column(QUERY_ID), column(DOC_ID));
        let (s, r) = (column(SCORE), column(RANK));
        let got: Vec<(String, String, f64, u32)> = (0..run.height())
            .map(|i| {
                (
                    q.str().unwrap().get(i).unwrap().to_owned(),
                    d.str().unwrap().get(i).unwrap().to_owned(),
                    s.f64().unwrap().get(i).unwrap(),
                    r.u32().unwrap().get(i).unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        // The columns compare and hash by value, as any polars String column.
        let again =
            StringChunked::from_iter_values("".into(), expected.iter().map(|e| e.1.as_str()));
        assert!(d.str().unwrap().equal(&again).all());
        // One query id per list of hits, or an error (not a panic).
        let e = gather(&query_ids, &doc_ids, &hits[..3]).unwrap_err();
        assert_eq!(e.to_string(), "run: 4 query ids for 3 queries' hits");
    }
}
