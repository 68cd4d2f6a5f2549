//! BEIR folder loader: `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`.
//!
//! Format as defined by BEIR (Thakur et al., "BEIR: A Heterogeneous Benchmark for Zero-shot
//! Evaluation of Information Retrieval Models", NeurIPS 2021 Datasets and Benchmarks):
//! JSON lines `{"_id", "title", "text"}` for documents, `{"_id", "text"}` for queries, and a
//! tab-separated qrels file with the header `query-id corpus-id score`. Ids may be JSON strings
//! or integers; they become strings. As BEIR's loader does, the queries returned are those
//! judged in the split. Errors name the file and the line.

use std::borrow::Cow;
use std::path::Path;

use polars::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::io::TextFile;
use super::schema::{self, table, DOC_ID, QUERY_ID, RELEVANCE, TEXT, TITLE};
use crate::error::{Error, Result};

/// A BEIR collection: three tables with the schemas of [`crate::data::schema`].
#[derive(Debug, Clone)]
pub struct Beir {
    pub corpus: DataFrame,
    pub queries: DataFrame,
    pub qrels: DataFrame,
}

/// A JSON id: string or integer, kept as a string.
struct Id<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Id<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or integer id")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Id(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(rename = "_id", borrow)]
    id: Id<'a>,
    #[serde(default, borrow)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// Parse a BEIR JSON-lines file into `(ids, titles, texts)`, rejecting duplicate ids.
fn read_records(
    path: &Path,
    kind: &'static str,
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let file = TextFile::open(path)?;
    let (mut ids, mut titles, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen: FxHashMap<String, usize> = FxHashMap::default();
    for line in file.lines() {
        let (no, text) = line?;
        let rec: RawRecord =
            serde_json::from_str(text).map_err(|e| file.error(no, e.to_string()))?;
        let id = rec.id.0.into_owned();
        if let Some(first) = seen.insert(id.clone(), no) {
            return Err(Error::DuplicateId {
                kind,
                id,
                location: format!("{} (lines {first} and {no})", path.display()),
            });
        }
        ids.push(id);
        titles.push(rec.title.map(Cow::into_owned).unwrap_or_default());
        texts.push(rec.text.into_owned());
    }
    if ids.is_empty() {
        return Err(Error::Empty {
            what: format!("{} ({kind} file)", path.display()),
        });
    }
    Ok((ids, titles, texts))
}

/// Load a BEIR `corpus.jsonl` as a corpus table.
pub fn load_corpus(path: &Path) -> Result<DataFrame> {
    let (ids, titles, texts) = read_records(path, "document")?;
    schema::frame(vec![
        schema::string_col(DOC_ID, ids),
        schema::string_col(TITLE, titles),
        schema::string_col(TEXT, texts),
    ])
}

/// Load a BEIR `queries.jsonl` as a queries table (all queries of the file).
pub fn load_queries(path: &Path) -> Result<DataFrame> {
    let (ids, _titles, texts) = read_records(path, "query")?;
    schema::frame(vec![
        schema::string_col(QUERY_ID, ids),
        schema::string_col(TEXT, texts),
    ])
}

/// One qrels row with the line it came from.
pub(crate) struct QrelRow {
    pub line: usize,
    pub query_id: String,
    pub doc_id: String,
    pub relevance: i32,
}

/// Build a qrels table from parsed rows, rejecting a repeated (query, document) pair.
pub(crate) fn qrels_frame(path: &Path, rows: &[QrelRow]) -> Result<DataFrame> {
    let mut seen: FxHashMap<(&str, &str), usize> = FxHashMap::default();
    for r in rows {
        if let Some(first) = seen.insert((&r.query_id, &r.doc_id), r.line) {
            return Err(Error::DuplicateId {
                kind: "qrels (query, document)",
                id: format!("{} / {}", r.query_id, r.doc_id),
                location: format!("{} (lines {first} and {})", path.display(), r.line),
            });
        }
    }
    schema::frame(vec![
        schema::string_col(QUERY_ID, rows.iter().map(|r| r.query_id.clone()).collect()),
        schema::string_col(DOC_ID, rows.iter().map(|r| r.doc_id.clone()).collect()),
        Column::new(
            RELEVANCE.into(),
            rows.iter().map(|r| r.relevance).collect::<Vec<i32>>(),
        ),
    ])
}

pub(crate) fn parse_relevance(file: &TextFile, line: usize, field: &str) -> Result<i32> {
    field
        .trim()
        .parse::<i32>()
        .map_err(|_| file.error(line, format!("relevance {field:?} is not an integer")))
}

fn read_qrels_rows(path: &Path) -> Result<Vec<QrelRow>> {
    let file = TextFile::open(path)?;
    let mut rows = Vec::new();
    for line in file.lines() {
        let (no, text) = line?;
        let fields: Vec<&str> = text.split('\t').collect();
        if rows.is_empty() && fields.first().is_some_and(|f| f.trim() == "query-id") {
            continue; // header
        }
        if fields.len() != 3 {
            return Err(file.error(
                no,
                format!(
                    "expected 3 tab-separated fields (query-id, corpus-id, score), got {}",
                    fields.len()
                ),
            ));
        }
        rows.push(QrelRow {
            line: no,
            query_id: fields[0].trim().to_owned(),
            doc_id: fields[1].trim().to_owned(),
            relevance: parse_relevance(&file, no, fields[2])?,
        });
    }
    Ok(rows)
}

/// Load a BEIR qrels file (`query-id<TAB>corpus-id<TAB>score`, header optional).
pub fn load_qrels_tsv(path: &Path) -> Result<DataFrame> {
    let rows = read_qrels_rows(path)?;
    qrels_frame(path, &rows)
}

impl Beir {
    /// A collection from its three tables, checked: the columns of
    /// [`crate::data::schema`] with their types, and every judgement naming a query of the
    /// queries table and a document of the corpus.
    pub fn new(corpus: DataFrame, queries: DataFrame, qrels: DataFrame) -> Result<Self> {
        crate::data::DocumentTexts::new(&corpus)?;
        schema::str_column(&queries, table::QUERIES, TEXT)?;
        let query_ids = schema::str_column(&queries, table::QUERIES, QUERY_ID)?;
        schema::i32_column(&qrels, table::QRELS, RELEVANCE)?;
        let known_docs: FxHashSet<&str> =
            schema::str_values(schema::str_column(&corpus, table::CORPUS, DOC_ID)?).collect();
        let known_queries: FxHashSet<&str> = schema::str_values(query_ids).collect();
        let q = schema::str_column(&qrels, table::QRELS, QUERY_ID)?;
        let d = schema::str_column(&qrels, table::QRELS, DOC_ID)?;
        for (row, (q, d)) in schema::str_values(q).zip(schema::str_values(d)).enumerate() {
            let (kind, id) = if !known_queries.contains(q) {
                ("query", q)
            } else if !known_docs.contains(d) {
                ("document", d)
            } else {
                continue;
            };
            return Err(Error::UnknownId {
                kind,
                id: id.to_owned(),
                location: format!("row {row} of the qrels table"),
            });
        }
        Ok(Self {
            corpus,
            queries,
            qrels,
        })
    }
}

/// Load a BEIR folder. Every qrels row must name a known query and a known document; the
/// queries table keeps the judged queries of `split`, in file order.
pub fn load_beir(dir: &Path, split: &str) -> Result<Beir> {
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such BEIR folder"),
        ));
    }
    let corpus_path = dir.join("corpus.jsonl");
    let queries_path = dir.join("queries.jsonl");
    let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    let corpus = load_corpus(&corpus_path)?;
    let all_queries = load_queries(&queries_path)?;
    let rows = read_qrels_rows(&qrels_path)?;
    let qrels = qrels_frame(&qrels_path, &rows)?;

    let doc_ids: FxHashSet<&str> = schema::str_values(corpus.column(DOC_ID)?.str()?).collect();
    let query_ids: FxHashSet<&str> =
        schema::str_values(all_queries.column(QUERY_ID)?.str()?).collect();
    for r in &rows {
        let location = || format!("{}:{}", qrels_path.display(), r.line);
        if !query_ids.contains(r.query_id.as_str()) {
            return Err(Error::UnknownId {
                kind: "query",
                id: r.query_id.clone(),
                location: location(),
            });
        }
        if !doc_ids.contains(r.doc_id.as_str()) {
            return Err(Error::UnknownId {
                kind: "document",
                id: r.doc_id.clone(),
                location: location(),
            });
        }
    }
    let judged: FxHashSet<&str> = rows.iter().map(|r| r.query_id.as_str()).collect();
    let mask: BooleanChunked = schema::str_values(all_queries.column(QUERY_ID)?.str()?)
        .map(|q| judged.contains(q))
        .collect();
    let queries = all_queries.filter(&mask)?;
    Ok(Beir {
        corpus,
        queries,
        qrels,
    })
}
