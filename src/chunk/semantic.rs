//! `semantic`: a document cut where the meaning of consecutive sentences changes most, as Greg
//! Kamradt's "5 Levels of Text Splitting" (2024), LangChain's `SemanticChunker`
//! (`langchain_experimental`, `breakpoint_threshold_type="percentile"`) and chonkie's
//! `SemanticChunker` do.
//!
//! 1. Sentences are the trimmed UAX #29 sentences of [`super::sentence`].
//! 2. Every sentence is embedded on its own (no window of neighbours); the sentences of all
//!    documents go through the encoder together, in its batches.
//! 3. Between consecutive sentences `i` and `i + 1` of a document, the cosine distance is
//!    `d_i = 1 - cos(v_i, v_{i+1})`.
//! 4. The threshold is the `percentile`-th percentile of the document's distances, with
//!    linear interpolation between closest ranks (numpy's default `method="linear"`: at
//!    position `p / 100 * (n - 1)` of the sorted distances). A breakpoint follows sentence `i`
//!    when `d_i` is strictly above the threshold (LangChain's rule), so the default 95 splits
//!    at the largest 5% of the drops in similarity, and a document of one or two sentences
//!    (at most one distance) is never split.
//! 5. The sentences between two breakpoints form a group, packed as `sentence` packs a
//!    document: whole sentences up to `size` units, `overlap` whole sentences repeated within
//!    a group (never across a breakpoint), a sentence longer than `size` cut into `fixed`
//!    windows.
//!
//! The embedding step is the [`Embedder`] trait, so tests can supply vectors of their own;
//! [`crate::embed::Encoder`] implements it, and [`CachedEmbedder`] through an embedding cache.

use std::sync::Arc;

use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::{sentence, Document, Rows, Sink, Span, Unit};
use crate::cancel::Cancel;
use crate::embed::{EmbeddingCache, Embeddings, EncodeOptions, Encoder};
use crate::error::{Error, Result};

/// What turns sentences into vectors for the `semantic` strategy.
pub trait Embedder: Sync {
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str], cancel: &Cancel) -> Result<Embeddings>;

    /// The model the vectors come from, for a configuration's description: an
    /// [`Encoder`]'s model folder; `None` when the embedder has no model to name.
    fn model(&self) -> Option<String> {
        None
    }
}

impl Embedder for Encoder {
    /// The texts as they are (no prefix), the model's normalisation, batches of 32; progress
    /// counts sentences.
    fn embed(&self, texts: &[&str], cancel: &Cancel) -> Result<Embeddings> {
        self.encode(texts, &EncodeOptions::default(), cancel)
    }

    fn model(&self) -> Option<String> {
        Some(self.source())
    }
}

/// An encoder whose vectors go through an embedding cache: sentences embedded before, by
/// this or an earlier build, are read back instead of embedded again.
pub struct CachedEmbedder {
    pub encoder: Arc<Encoder>,
    pub cache: Arc<EmbeddingCache>,
}

impl Embedder for CachedEmbedder {
    /// As the encoder's own [`Embedder`], through the cache.
    fn embed(&self, texts: &[&str], cancel: &Cancel) -> Result<Embeddings> {
        self.encoder
            .encode_cached(texts, &EncodeOptions::default(), &self.cache, cancel)
    }

    fn model(&self) -> Option<String> {
        Embedder::model(self.encoder.as_ref())
    }
}

/// The Config error for a semantic chunking without an embedder.
pub(crate) fn missing_encoder() -> Error {
    Error::config(
        "encoder",
        "the semantic strategy needs an encoder to embed sentences",
    )
}

/// Cosine distances between consecutive rows `first..first + n` of `vectors`.
pub fn distances(vectors: &Embeddings, first: usize, n: usize) -> Vec<f64> {
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    (first..first + n.saturating_sub(1))
        .map(|i| {
            let (a, b) = (vectors.row(i), vectors.row(i + 1));
            let dot: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            let denom = (norm(a) * norm(b)).max(1e-12);
            1.0 - dot / denom
        })
        .collect()
}

/// The `q`-th percentile (0 to 100) of `values` with linear interpolation, as numpy's
/// `percentile` by default; `None` for no values.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (!sorted.is_empty()).then(|| crate::eval::stats::quantile_sorted(&sorted, q / 100.0))
}

/// The sentences a breakpoint follows: every `i` whose distance `d_i` is strictly above the
/// `q`-th percentile of `distances`.
pub fn breakpoints(distances: &[f64], q: f64) -> Vec<usize> {
    let Some(threshold) = percentile(distances, q) else {
        return Vec::new();
    };
    (0..distances.len())
        .filter(|&i| distances[i] > threshold)
        .collect()
}

/// Pack the sentence groups between `breaks` into `sink`.
fn pack_groups(
    doc: &Document,
    sentences: &[(usize, usize)],
    breaks: &[usize],
    size: usize,
    overlap: usize,
    sink: &mut Sink,
) {
    let mut from = 0;
    for &b in breaks.iter().chain(std::iter::once(&(sentences.len() - 1))) {
        sentence::pack_sentences(doc, &sentences[from..=b], size, overlap, sink);
        from = b + 1;
    }
}

/// The `semantic` chunks of one document embedded by `embedder`, in character offsets.
pub fn chunk_document(
    doc: &Document,
    size: usize,
    overlap: usize,
    percentile: f64,
    embedder: &dyn Embedder,
    cancel: &Cancel,
) -> Result<Vec<Span>> {
    let sentences = sentence::sentences(doc, 0, doc.text().len());
    let mut sink = Sink::new(doc);
    if !sentences.is_empty() {
        let texts: Vec<&str> = sentences.iter().map(|&(s, e)| &doc.text()[s..e]).collect();
        let vectors = embedder.embed(&texts, cancel)?;
        let breaks = breakpoints(&distances(&vectors, 0, texts.len()), percentile);
        pack_groups(doc, &sentences, &breaks, size, overlap, &mut sink);
    }
    Ok(doc.to_chars(sink.spans))
}

/// The rows of every text of a corpus: documents and sentences prepared in parallel, all
/// sentences embedded in one call, then each document's groups packed in parallel.
pub(super) fn corpus_rows(
    texts: &[&str],
    options: &super::ChunkOptions,
    tokenizer: Option<&Tokenizer>,
    embedder: &dyn Embedder,
    cancel: &Cancel,
) -> Result<Vec<Rows>> {
    let prepared: Vec<(Document, Vec<(usize, usize)>)> = texts
        .par_iter()
        .map(|&text| {
            cancel.check()?;
            let unit = options.unit;
            let doc = Document::new(text, unit, tokenizer.filter(|_| unit == Unit::Tokens))?;
            let sentences = sentence::sentences(&doc, 0, text.len());
            Ok((doc, sentences))
        })
        .collect::<Result<_>>()?;
    let all: Vec<&str> = prepared
        .iter()
        .flat_map(|(doc, ss)| ss.iter().map(|&(s, e)| &doc.text()[s..e]))
        .collect();
    let vectors = if all.is_empty() {
        None
    } else {
        Some(embedder.embed(&all, cancel)?)
    };
    let mut firsts = Vec::with_capacity(prepared.len());
    let mut first = 0;
    for (_, ss) in &prepared {
        firsts.push(first);
        first += ss.len();
    }
    prepared
        .par_iter()
        .zip(firsts)
        .map(|((doc, sentences), first)| {
            cancel.check()?;
            let mut sink = Sink::new(doc);
            if let Some(v) = vectors.as_ref().filter(|_| !sentences.is_empty()) {
                let breaks = breakpoints(&distances(v, first, sentences.len()), options.percentile);
                pack_groups(
                    doc,
                    sentences,
                    &breaks,
                    options.size,
                    options.overlap,
                    &mut sink,
                );
            }
            Ok(super::rows_of(doc, sink.spans))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::never;

    /// Sentences starting with the same letter share a direction; each letter another axis.
    struct ByFirstLetter;

    impl Embedder for ByFirstLetter {
        fn embed(&self, texts: &[&str], _: &Cancel) -> Result<Embeddings> {
            let dim = 26;
            let mut data = vec![0.0; texts.len() * dim];
            for (i, t) in texts.iter().enumerate() {
                let c = t.bytes().next().unwrap_or(b'a').to_ascii_lowercase();
                data[i * dim + usize::from(c.saturating_sub(b'a')).min(25)] = 1.0;
                data[i * dim] += 0.1;
            }
            Ok(Embeddings {
                data,
                rows: texts.len(),
                dim,
                truncated: Vec::new(),
            })
        }
    }

    fn chunks(text: &str, size: usize, overlap: usize, q: f64) -> Vec<&str> {
        let doc = Document::new(text, Unit::Chars, None).unwrap();
        let spans = chunk_document(&doc, size, overlap, q, &ByFirstLetter, never()).unwrap();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let byte = |c: usize| chars.get(c).map_or(text.len(), |&(b, _)| b);
        spans
            .iter()
            .map(|s| &text[byte(s.start)..byte(s.end)])
            .collect()
    }

    #[test]
    fn percentile_interpolates_linearly_as_numpy() {
        // numpy.percentile([1, 2, 3, 4], q) for q = 0, 50, 95, 100.
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert!((percentile(&v, 95.0).unwrap() - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(breakpoints(&[0.1, 0.9, 0.2, 0.8], 50.0), [1, 3]);
        assert_eq!(breakpoints(&[0.5], 0.0), Vec::<usize>::new());
    }

    #[test]
    fn splits_exactly_at_topic_changes() {
        let text = "Apples are red. Apricots are sweet. Avocados are green. \
                    Beets are purple. Beans are long. Bananas are yellow. \
                    Cherries are small. Citrus is sour.";
        // Seven distances, two of them (the topic changes) large: the 70th percentile lies
        // among the small ones.
        assert_eq!(
            chunks(text, 1000, 0, 70.0),
            [
                "Apples are red. Apricots are sweet. Avocados are green.",
                "Beets are purple. Beans are long. Bananas are yellow.",
                "Cherries are small. Citrus is sour.",
            ]
        );
        // The drop into the third topic (a distance of 0.99) is larger than the one into the
        // second (0.90): the 95th percentile lies between them.
        assert_eq!(
            chunks(text, 1000, 0, 95.0),
            [
                "Apples are red. Apricots are sweet. Avocados are green. \
                 Beets are purple. Beans are long. Bananas are yellow.",
                "Cherries are small. Citrus is sour.",
            ]
        );
        assert_eq!(chunks(text, 1000, 0, 100.0), [text]);
    }

    #[test]
    fn groups_are_packed_within_the_size_without_crossing_a_breakpoint() {
        let text = "Aa. Ab. Ac. Ba. Bb.";
        assert_eq!(chunks(text, 7, 0, 50.0), ["Aa. Ab.", "Ac.", "Ba. Bb."]);
        assert_eq!(chunks(text, 7, 1, 50.0), ["Aa. Ab.", "Ab. Ac.", "Ba. Bb."]);
        // A sentence longer than the size becomes fixed windows.
        assert_eq!(chunks("Abcdef. Bb.", 3, 0, 0.0), ["Abc", "def", ".", "Bb."]);
        assert!(chunks("  \n ", 3, 0, 95.0).is_empty());
        assert_eq!(
            chunks("One sentence only.", 100, 0, 0.0),
            ["One sentence only."]
        );
    }
}
