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
        let mut out = String::new();
        self.normalise_into(word, &mut out);
        out
    }

    /// Steps 2-3 for one word, written into `out` (cleared first).
    fn normalise_into(&self, word: &str, out: &mut String) {
        out.clear();
        if word.is_ascii() {
            out.push_str(word);
            if self.config.lowercase {
                out.make_ascii_lowercase();
            }
        } else {
            let lowered = if self.config.lowercase {
                word.to_lowercase()
            } else {
                word.to_owned()
            };
            if self.config.ascii_folding {
                out.extend(lowered.nfkd().filter(|c| !is_combining_mark(*c)));
            } else {
                out.push_str(&lowered);
            }
        }
    }

    /// Call `f` with each single-word term of `text` in order (steps 1-5), without
    /// allocating per word.
    fn each_word(&self, text: &str, f: &mut impl FnMut(&str)) {
        let mut buf = String::new();
        let language = self.config.stemmer.as_deref().unwrap_or("");
        words(text, |raw| {
            self.normalise_into(raw, &mut buf);
            if buf.is_empty() || self.stopwords.contains(buf.as_str()) {
                return;
            }
            match &self.stemmer {
                Some(s) => with_stem(s, language, &buf, &mut *f),
                None => f(&buf),
            }
        });
    }

    /// Call `f` with each term of `text` in order: what [`Analyzer::tokenize`] returns,
    /// without building the list.
    pub fn for_each_term(&self, text: &str, mut f: impl FnMut(&str)) {
        if self.config.ngram_range == (1, 1) {
            self.each_word(text, &mut f);
        } else {
            for term in self.tokenize(text) {
                f(&term);
            }
        }
    }

    /// The terms of `text`, in order.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        self.each_word(text, &mut |w: &str| words.push(w.to_owned()));
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

/// Call `f` with each word of `text` (UAX #29 word segments holding a letter or digit), the
/// same words as `unicode_words`.
///
/// Runs of ASCII between ASCII whitespace take a byte-level path: for ASCII, UAX #29 joins
/// letters, digits and `_` (WB5, WB8-WB10, WB13a-b), and one `:` `.` `'` between two
/// letters (WB6-7) or one `,` `;` `.` `'` between two digits (WB11-12); everything else
/// breaks. Whitespace followed by an ASCII character other than whitespace is a break that no
/// rule looks across (WB3d joins runs of spaces, WB4 attaches combining marks to them), so the
/// text is cut there and only the pieces holding other characters go through `unicode_words`.
pub fn words<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let mut piece = |piece: &'a str, ascii: bool| {
        if ascii {
            ascii_words(piece, &mut f);
        } else {
            piece.unicode_words().for_each(&mut f);
        }
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut ascii = true;
    for (i, &b) in bytes.iter().enumerate() {
        if !b.is_ascii() {
            ascii = false;
        } else if b.is_ascii_whitespace()
            && bytes
                .get(i + 1)
                .is_none_or(|n| n.is_ascii() && !n.is_ascii_whitespace())
        {
            piece(&text[start..i], ascii);
            start = i + 1;
            ascii = true;
        }
    }
    piece(&text[start..], ascii);
}

/// [`words`] for ASCII text.
fn ascii_words<'a>(text: &'a str, f: &mut impl FnMut(&'a str)) {
    let b = text.as_bytes();
    let joins = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if !joins(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut alnum = b[i] != b'_';
        i += 1;
        loop {
            if i < b.len() && joins(b[i]) {
                alnum |= b[i] != b'_';
                i += 1;
            } else if i + 1 < b.len() && {
                let (prev, mid, next) = (b[i - 1], b[i], b[i + 1]);
                (prev.is_ascii_alphabetic()
                    && next.is_ascii_alphabetic()
                    && matches!(mid, b':' | b'.' | b'\''))
                    || (prev.is_ascii_digit()
                        && next.is_ascii_digit()
                        && matches!(mid, b',' | b';' | b'.' | b'\''))
            } {
                i += 2;
            } else {
                break;
            }
        }
        if alnum {
            f(&text[start..i]);
        }
    }
}

/// Bytes of words and stems a thread's stem cache holds before it is emptied.
const STEM_CACHE_BYTES: usize = 32 << 20;

/// A memo of word -> stem for one stemmer language: text repeats words, and Snowball stemming
/// costs more than a hash lookup. Words and stems live in one string; the table holds only
/// offsets (12 bytes an entry), so a cache of a corpus's vocabulary stays a few megabytes.
#[derive(Default)]
struct StemCache {
    language: String,
    /// Word then stem, entry after entry.
    arena: String,
    /// (word start, stem start = word end, stem end) in `arena`.
    table: hashbrown::HashTable<(u32, u32, u32)>,
}

fn hash_word(word: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(word)
}

thread_local! {
    static STEMS: std::cell::RefCell<StemCache> = std::cell::RefCell::new(StemCache::default());
}

/// Call `f` with the stem of `word`, memoised per thread.
fn with_stem(stemmer: &Stemmer, language: &str, word: &str, f: &mut impl FnMut(&str)) {
    STEMS.with(|cell| {
        // `f` runs while the cache is borrowed; should it analyse text on this thread again,
        // that inner call stems without the cache.
        let Ok(mut guard) = cell.try_borrow_mut() else {
            f(&stemmer.stem(word));
            return;
        };
        let cache = &mut *guard;
        if cache.language != language || cache.arena.len() >= STEM_CACHE_BYTES {
            cache.language.clear();
            cache.language.push_str(language);
            cache.arena.clear();
            cache.table.clear();
        }
        let hash = hash_word(word);
        let arena = &cache.arena;
        let found = cache
            .table
            .find(hash, |&(w, s, _)| &arena[w as usize..s as usize] == word);
        if let Some(&(_, s, e)) = found {
            f(&arena[s as usize..e as usize]);
            return;
        }
        let stem = stemmer.stem(word);
        f(&stem);
        let w = cache.arena.len() as u32;
        cache.arena.push_str(word);
        let s = cache.arena.len() as u32;
        cache.arena.push_str(&stem);
        let e = cache.arena.len() as u32;
        let arena = &cache.arena;
        cache.table.insert_unique(hash, (w, s, e), |&(w, s, _)| {
            hash_word(&arena[w as usize..s as usize])
        });
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

    fn segmented(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        words(text, |w| out.push(w));
        out
    }

    #[test]
    fn words_equal_unicode_words() {
        let cases = [
            "e.g. 3.14, 1,000;5 can't a:b a.b.c 1.a a1.b x_y __ _a a__ 'a' a''b 1''2",
            "end. a.\n\tb 3. .5 a:1 1:a a,b 1,2, co-op U.S.A. \"q\" a'1 1'a",
            "naïve café β-cell 10\u{2009}000 \u{301}abc x \u{93E}ab é.a a.é",
            " a\u{301}b  \u{200d}x y\u{2019}s ",
        ];
        for text in cases {
            assert_eq!(
                segmented(text),
                text.unicode_words().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
        // Random strings over the characters the rules treat specially.
        let alphabet: Vec<char> = "aZq09_.,;:'\" \t\n\r-/éβ\u{301}\u{93E}\u{2019}\u{200d}"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let len = (state >> 60) as usize + 1;
            let text: String = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(
                segmented(&text),
                text.unicode_words().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn terms_can_be_analysed_inside_a_term_callback() {
        let a = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let mut nested = Vec::new();
        a.for_each_term("running cats", |t| {
            nested.push((t.to_owned(), a.tokenize("jumping dogs")));
        });
        let dogs = vec!["jump".to_owned(), "dog".to_owned()];
        assert_eq!(
            nested,
            vec![("run".to_owned(), dogs.clone()), ("cat".to_owned(), dogs)]
        );
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
