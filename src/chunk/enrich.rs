//! Enrichment: the text a retriever indexes for a chunk, made from a template that adds the
//! document's title, the section path or the neighbouring chunks to the chunk's own text.
//!
//! A template is text with placeholders: `{title}` (the document's title from the corpus),
//! `{section}` (the chunk's heading path), `{text}` (the chunk's text), `{prev}` and `{next}`
//! (the text of the chunk before and after it in the same document, by `start`), and
//! `{doc_id}`; `{{` and `}}` are literal braces. A value that is absent (no `title` column, a
//! null title or section, no previous or next chunk) renders as the empty string, and the
//! rendered text is trimmed of leading and trailing whitespace, so `"{title}\n\n{text}"`
//! gives the text alone for a document without a title.
//!
//! The enriched text is no longer the slice `original[start..end]`; `start` and `end` (and
//! every other column) still point to the chunk's original span.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::data::schema::{self, table, DOC_ID, SECTION, START, TEXT, TITLE};
use crate::error::{Error, Result};

/// The template of [`enrich`] when a caller does not say: the title, a blank line, the text.
pub const DEFAULT_TEMPLATE: &str = "{title}\n\n{text}";

/// A value a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Section,
    Text,
    Prev,
    Next,
    DocId,
}

impl Field {
    /// The placeholder names, in [`Field`] order.
    const NAMES: [&'static str; 6] = ["title", "section", "text", "prev", "next", "doc_id"];
    const ALL: [Field; 6] = [
        Field::Title,
        Field::Section,
        Field::Text,
        Field::Prev,
        Field::Next,
        Field::DocId,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(Field),
}

/// A parsed enrichment template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

fn template_error(message: String) -> Error {
    Error::config("template", message)
}

impl std::str::FromStr for Template {
    type Err = Error;

    /// Parse a template. Errors name an unknown placeholder (and list the valid ones), an
    /// unclosed `{` or a single `}`.
    fn from_str(source: &str) -> Result<Self> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &source[i + 1..];
                    let close = rest.find('}').ok_or_else(|| {
                        template_error(format!(
                            "unclosed \"{{\" at byte {i} of {source:?}; write \"{{{{\" for a literal brace"
                        ))
                    })?;
                    let name = &rest[..close];
                    let field = Field::NAMES
                        .iter()
                        .position(|n| *n == name)
                        .map(|p| Field::ALL[p])
                        .ok_or_else(|| {
                            let valid: Vec<String> =
                                Field::NAMES.iter().map(|n| format!("{{{n}}}")).collect();
                            template_error(format!(
                                "unknown placeholder {{{name}}}; use {}",
                                valid.join(", ")
                            ))
                        })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                    while chars.next_if(|&(j, _)| j <= i + 1 + close).is_some() {}
                }
                '}' => {
                    return Err(template_error(format!(
                    "single \"}}\" at byte {i} of {source:?}; write \"}}}}\" for a literal brace"
                )))
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            pieces,
        })
    }
}

/// The values one chunk's placeholders render.
struct Values<'a> {
    title: &'a str,
    section: &'a str,
    text: &'a str,
    prev: &'a str,
    next: &'a str,
    doc_id: &'a str,
}

impl Template {
    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn uses(&self, field: Field) -> bool {
        self.pieces.contains(&Piece::Field(field))
    }

    fn render(&self, v: &Values) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            out.push_str(match piece {
                Piece::Literal(s) => s,
                Piece::Field(Field::Title) => v.title,
                Piece::Field(Field::Section) => v.section,
                Piece::Field(Field::Text) => v.text,
                Piece::Field(Field::Prev) => v.prev,
                Piece::Field(Field::Next) => v.next,
                Piece::Field(Field::DocId) => v.doc_id,
            });
        }
        match out.trim() {
            trimmed if trimmed.len() == out.len() => out,
            trimmed => trimmed.to_owned(),
        }
    }
}

/// A nullable String column's values (nulls as `""`); an absent column or one of dtype
/// Null gives `""` everywhere.
fn nullable_strs<'a>(df: &'a DataFrame, table: &'static str, name: &str) -> Result<Vec<&'a str>> {
    let Ok(c) = df.column(name) else {
        return Ok(vec![""; df.height()]);
    };
    match c.dtype() {
        DataType::String => Ok(c.str()?.iter().map(|v| v.unwrap_or("")).collect()),
        DataType::Null => Ok(vec![""; df.height()]),
        other => Err(Error::schema(
            table,
            format!("column {name:?} must be String, got {other}"),
        )),
    }
}

/// The previous and next chunk (row) of each chunk in its document, by `start` (ties by row).
fn neighbours(docs: &[&str], starts: &[i64]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut by_doc: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (row, d) in docs.iter().enumerate() {
        by_doc.entry(d).or_default().push(row);
    }
    let mut out = vec![(None, None); docs.len()];
    for rows in by_doc.values_mut() {
        rows.sort_by_key(|&r| (starts[r], r));
        for (i, &r) in rows.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| rows[p]);
            out[r] = (prev, rows.get(i + 1).copied());
        }
    }
    out
}

/// The chunks table with `text` replaced by `template` rendered for each chunk, every other
/// column unchanged (see the module documentation for the placeholders). Chunks render in
/// parallel.
///
/// Errors: a missing or mistyped column, a chunk whose document is not in `corpus`
/// ([`Error::UnknownId`]).
pub fn enrich(chunks: &DataFrame, corpus: &DataFrame, template: &Template) -> Result<DataFrame> {
    let docs: Vec<&str> =
        schema::str_values(schema::str_column(chunks, table::CHUNKS, DOC_ID)?).collect();
    let texts: Vec<&str> =
        schema::str_values(schema::str_column(chunks, table::CHUNKS, TEXT)?).collect();
    let starts: Vec<i64> = schema::i64_column(chunks, table::CHUNKS, START)?
        .into_no_null_iter()
        .collect();
    let sections = nullable_strs(chunks, table::CHUNKS, SECTION)?;
    let ids = schema::str_column(corpus, table::CORPUS, DOC_ID)?;
    let titles = nullable_strs(corpus, table::CORPUS, TITLE)?;
    let title_of: FxHashMap<&str, &str> = schema::str_values(ids).zip(titles).collect();
    if let Some(d) = docs.iter().find(|d| !title_of.contains_key(**d)) {
        return Err(Error::UnknownId {
            kind: "document",
            id: (*d).to_owned(),
            location: "the corpus (chunks table)".into(),
        });
    }
    let near = if template.uses(Field::Prev) || template.uses(Field::Next) {
        neighbours(&docs, &starts)
    } else {
        vec![(None, None); docs.len()]
    };
    let enriched: Vec<String> = (0..docs.len())
        .into_par_iter()
        .map(|i| {
            let (prev, next) = near[i];
            template.render(&Values {
                title: title_of[docs[i]],
                section: sections[i],
                text: texts[i],
                prev: prev.map_or("", |p| texts[p]),
                next: next.map_or("", |n| texts[n]),
                doc_id: docs[i],
            })
        })
        .collect();
    let columns = chunks
        .columns()
        .iter()
        .map(|c| match c.name().as_str() {
            TEXT => Column::new(TEXT.into(), &enriched),
            _ => c.clone(),
        })
        .collect();
    schema::frame(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, v: &Values) -> Result<String> {
        Ok(template.parse::<Template>()?.render(v))
    }

    #[test]
    fn placeholders_braces_and_trimming() {
        let v = Values {
            title: "T",
            section: "",
            text: "body",
            prev: "p",
            next: "",
            doc_id: "d",
        };
        assert_eq!(render("{title}\n\n{text}", &v).unwrap(), "T\n\nbody");
        assert_eq!(render("{section}\n{text}", &v).unwrap(), "body");
        assert_eq!(render("{{{doc_id}}} {prev}|{next}", &v).unwrap(), "{d} p|");
        let err = render("{titel} {text}", &v).unwrap_err().to_string();
        assert!(err.contains("{titel}") && err.contains("{doc_id}"), "{err}");
        assert!(render("{text", &v).is_err());
        assert!(render("text}", &v).is_err());
    }
}
