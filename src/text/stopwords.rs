//! Built-in stop-word lists.
//!
//! `english` is Lucene's classic English list (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`, the
//! list Anserini and bm25s use by default): 33 function words.

/// Lucene's English stop words.
pub const ENGLISH: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// A built-in list by name.
pub fn builtin(name: &str) -> Option<&'static [&'static str]> {
    match name.to_ascii_lowercase().as_str() {
        "english" | "en" => Some(ENGLISH),
        _ => None,
    }
}
