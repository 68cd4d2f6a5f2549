//! The analyzer: text in, index terms out. The same analyzer is applied to documents and
//! queries, so what a query matches is exactly what the index holds.
//!
//! Steps, in order:
//! 1. Unicode word segmentation (UAX #29 word boundaries, as Lucene's StandardTokenizer);
//!    punctuation and whitespace are dropped.
//! 2. Lower-casing (Unicode, optional).
//! 3. ASCII folding (optional): canonical decomposition (NFKD) with combining marks removed,
//!    so "café" becomes "cafe" (close to Lucene's ASCIIFoldingFilter for Latin scripts).
//! 4. Stop-word removal (a built-in list or a custom one), compared after steps 2-3.
//! 5. Snowball stemming (Porter, "Snowball: A language for stemming algorithms", 2001) for the
//!    languages rust-stemmers offers.
//! 6. Word n-grams (optional): terms `min..=max` words long, joined by a space (shingles).

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use super::stopwords;
use crate::error::{Error, Result};

/// Stop words to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopWords {
    None,
    /// A built-in list by name (`"english"`).
    Builtin(String),
    Custom(Vec<String>),
}

/// What an [`Analyzer`] does; see the module docs for the order of the steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    pub lowercase: bool,
    pub ascii_folding: bool,
    pub stopwords: StopWords,
    /// A Snowball stemmer by language name (`"english"`, `"french"`, ...), or none.
    pub stemmer: Option<String>,
    /// Word n-gram range; `(1, 1)` keeps single words.
    pub ngram_range: (usize, usize),
}

impl Default for AnalyzerConfig {
    /// Lucene's English setup: lower-case, English stop words, English Snowball stemmer.
    fn default() -> Self {
        Self {
            lowercase: true,
            ascii_folding: false,
            stopwords: StopWords::Builtin("english".into()),
            stemmer: Some("english".into()),
            ngram_range: (1, 1),
        }
    }
}

/// The languages with a Snowball stemmer.
pub const STEMMER_LANGUAGES: &[&str] = &[
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
];

fn algorithm(name: &str) -> Result<Algorithm> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "arabic" => Algorithm::Arabic,
        "danish" => Algorithm::Danish,
        "dutch" => Algorithm::Dutch,
        "english" | "en" | "porter2" => Algorithm::English,
        "finnish" => Algorithm::Finnish,
        "french" => Algorithm::French,
        "german" => Algorithm::German,
        "greek" => Algorithm::Greek,
        "hungarian" => Algorithm::Hungarian,
        "italian" => Algorithm::Italian,
        "norwegian" => Algorithm::Norwegian,
        "portuguese" => Algorithm::Portuguese,
        "romanian" => Algorithm::Romanian,
        "russian" => Algorithm::Russian,
        "spanish" => Algorithm::Spanish,
        "swedish" => Algorithm::Swedish,
        "tamil" => Algorithm::Tamil,
        "turkish" => Algorithm::Turkish,
        _ => {
            return Err(Error::config(
                "stemmer",
                format!(
                    "no Snowball stemmer for {name:?}; available: {}",
                    STEMMER_LANGUAGES.join(", ")
                ),
            ))
        }
    })
}

/// A configured analyzer. Cheap to share between threads.
pub struct Analyzer {
    config: AnalyzerConfig,
    stopwords: FxHashSet<String>,
    stemmer: Option<Stemmer>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("config", &self.config)
            .finish()
    }
}

impl Analyzer {
    /// Build an analyzer, validating the configuration.
    pub fn new(config: AnalyzerConfig) -> Result<Self> {
        let (lo, hi) = config.ngram_range;
        if lo == 0 || hi < lo {
            return Err(Error::config(
                "ngram_range",
                format!("need 1 <= min <= max, got ({lo}, {hi})"),
            ));
        }
        let stemmer = config
            .stemmer
            .as_deref()
            .map(algorithm)
            .transpose()?
            .map(Stemmer::create);
        let mut analyzer = Self {
            config,
            stopwords: FxHashSet::default(),
            stemmer: None,
        };
        let words: Vec<String> = match &analyzer.config.stopwords {
            StopWords::None => vec![],
            StopWords::Builtin(name) => stopwords::builtin(name)
                .ok_or_else(|| {
                    Error::config(
                        "stopwords",
                        format!("no built-in list {name:?}; use \"english\" or a list"),
                    )
                })?
                .iter()
                .map(|w| (*w).to_owned())
                .collect(),
            StopWords::Custom(list) => list.clone(),
        };
        // Stop words are normalised like the text, so "The" in a custom list matches "the".
        analyzer.stopwords = words.iter().map(|w| analyzer.normalise(w)).collect();
        analyzer.stemmer = stemmer;
        Ok(analyzer)
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    fn normalise(&self, word: &str) -> String {
        let lowered = if self.config.lowercase {
            word.to_lowercase()
        } else {
            word.to_owned()
        };
        if self.config.ascii_folding && !lowered.is_ascii() {
            lowered.nfkd().filter(|c| !is_combining_mark(*c)).collect()
        } else {
            lowered
        }
    }

    /// The terms of `text`, in order.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for raw in text.unicode_words() {
            let word = self.normalise(raw);
            if word.is_empty() || self.stopwords.contains(&word) {
                continue;
            }
            words.push(match &self.stemmer {
                Some(s) => stem_cached(s, self.config.stemmer.as_deref().unwrap_or(""), word),
                None => word,
            });
        }
        let (lo, hi) = self.config.ngram_range;
        if (lo, hi) == (1, 1) {
            return words;
        }
        let mut out = Vec::new();
        for start in 0..words.len() {
            for n in lo..=hi {
                if start + n <= words.len() {
                    out.push(words[start..start + n].join(" "));
                }
            }
        }
        out
    }
}

/// Distinct words stemmed per thread before the cache is emptied.
const STEM_CACHE_LIMIT: usize = 1 << 20;

thread_local! {
    /// Per-thread memo of word -> stem for one stemmer language: text repeats words, and
    /// Snowball stemming costs more than a hash lookup.
    static STEMS: std::cell::RefCell<(String, rustc_hash::FxHashMap<String, String>)> =
        std::cell::RefCell::new((String::new(), rustc_hash::FxHashMap::default()));
}

fn stem_cached(stemmer: &Stemmer, language: &str, word: String) -> String {
    STEMS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.0 != language || cache.1.len() >= STEM_CACHE_LIMIT {
            cache.0 = language.to_owned();
            cache.1.clear();
        }
        if let Some(stem) = cache.1.get(&word) {
            return stem.clone();
        }
        let stem = stemmer.stem(&word).into_owned();
        cache.1.insert(word, stem.clone());
        stem
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pipeline() {
        let a = Analyzer::new(AnalyzerConfig::default()).unwrap();
        assert_eq!(
            a.tokenize("The Cats are running, quickly!"),
            vec!["cat", "run", "quick"]
        );
        assert!(a.tokenize("the of and").is_empty());
        assert!(a.tokenize("!!! ... ---").is_empty());
    }

    #[test]
    fn folding_custom_stopwords_and_ngrams() {
        let a = Analyzer::new(AnalyzerConfig {
            ascii_folding: true,
            stopwords: StopWords::Custom(vec!["Über".into()]),
            stemmer: None,
            ngram_range: (1, 2),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            a.tokenize("über Café Crème"),
            vec!["cafe", "cafe creme", "creme"]
        );
        assert!(Analyzer::new(AnalyzerConfig {
            stemmer: Some("klingon".into()),
            ..Default::default()
        })
        .is_err());
        assert!(Analyzer::new(AnalyzerConfig {
            ngram_range: (2, 1),
            ..Default::default()
        })
        .is_err());
    }
}
