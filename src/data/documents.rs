//! The text a retriever sees for a document: the title and the text joined by one space, as
//! BEIR's evaluation and Anserini's BEIR indexes do. An empty (or absent) title gives the text
//! alone, an empty text the title alone. BM25's joined field, the encoder and the baselines
//! all read documents through this one rule.

use std::borrow::Cow;

use polars::prelude::*;

use crate::data::schema::{self, table, DOC_ID, TEXT, TITLE};
use crate::error::Result;

/// The document ids and texts of a corpus table (`doc_id`, `text`, optional `title`).
pub struct DocumentTexts<'a> {
    pub ids: &'a StringChunked,
    titles: Option<Vec<&'a str>>,
    texts: Vec<&'a str>,
}

impl<'a> DocumentTexts<'a> {
    /// Read a corpus table; `title` may be missing.
    pub fn new(corpus: &'a DataFrame) -> Result<Self> {
        let ids = schema::str_column(corpus, table::CORPUS, DOC_ID)?;
        let texts = schema::str_values(schema::str_column(corpus, table::CORPUS, TEXT)?).collect();
        let titles = if schema::has_column(corpus, TITLE) {
            Some(schema::str_values(schema::str_column(corpus, table::CORPUS, TITLE)?).collect())
        } else {
            None
        };
        Ok(Self { ids, titles, texts })
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there is no document.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Document `i`'s text: title and text joined.
    pub fn text(&self, i: usize) -> Cow<'a, str> {
        let title = self.titles.as_ref().map_or("", |t| t[i]);
        join(title, self.texts[i])
    }

    /// The length of [`Self::text`] in characters, counted without building it.
    pub fn char_count(&self, i: usize) -> usize {
        let title = self.titles.as_ref().map_or("", |t| t[i]);
        let (a, b) = (title.chars().count(), self.texts[i].chars().count());
        a + b + usize::from(a > 0 && b > 0)
    }
}

/// `title + " " + text`, or the one that is not empty.
pub fn join<'a>(title: &'a str, text: &'a str) -> Cow<'a, str> {
    match (title.is_empty(), text.is_empty()) {
        (true, _) => Cow::Borrowed(text),
        (false, true) => Cow::Borrowed(title),
        (false, false) => Cow::Owned(format!("{title} {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_and_text_joined_by_one_space() {
        assert_eq!(join("T", "body"), "T body");
        assert_eq!(join("", "body"), "body");
        assert_eq!(join("T", ""), "T");
        assert_eq!(join("", ""), "");
        let with = df!(DOC_ID => ["a", "b"], TITLE => ["T", ""], TEXT => ["x", "y"]).unwrap();
        let without = df!(DOC_ID => ["a", "b"], TEXT => ["x", "y"]).unwrap();
        let a = DocumentTexts::new(&with).unwrap();
        let b = DocumentTexts::new(&without).unwrap();
        assert_eq!((a.text(0), a.text(1)), ("T x".into(), "y".into()));
        assert_eq!((b.text(0), b.text(1)), ("x".into(), "y".into()));
        for docs in [&a, &b] {
            for i in 0..docs.len() {
                assert_eq!(docs.char_count(i), docs.text(i).chars().count());
            }
        }
    }
}
