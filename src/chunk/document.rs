//! A document prepared for chunking: its text, a map from byte offsets to character offsets
//! and, for the token unit, its tokens.
//!
//! The chunkers work on byte offsets into the text and measure every candidate chunk through
//! [`Document::size`], so that no chunk is measured by re-scanning the text from its start:
//!
//! * characters (Unicode scalar values): in an ASCII text a byte offset is a character
//!   offset; otherwise a checkpoint every 64 bytes holds the number of characters before it,
//!   and the count at a byte offset is its checkpoint plus the character starts among at most
//!   63 bytes;
//! * tokens: the document is tokenized once (no special tokens, no truncation) and the size
//!   of a byte range is the number of tokens that start inside it. Sizes are additive over
//!   adjacent ranges, so greedy packing never tokenizes a chunk again. They are the
//!   document's tokens, not those of the chunk tokenized alone (text-splitter re-tokenizes);
//!   the two agree except where a chunk boundary falls inside a word.
//!
//! Long texts are tokenized in segments of about 256 KiB, in parallel, each cut just before
//! an ASCII whitespace byte, so that a whitespace pre-tokenizer (BERT's) sees the same words.

use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::{Span, Unit};
use crate::error::{Error, Result};

/// Bytes between two character-count checkpoints.
const STRIDE: usize = 64;
/// Target length of one tokenizer call, in bytes.
const SEGMENT: usize = 256 * 1024;

/// A text with the index its chunkers measure sizes with.
pub struct Document<'a> {
    text: &'a str,
    unit: Unit,
    /// Every byte is a character: offsets need no conversion.
    ascii: bool,
    /// `checkpoints[i]`: the number of characters in `text[..i * STRIDE]` (empty for ASCII).
    checkpoints: Vec<usize>,
    /// Byte offsets where tokens start, in order (token unit only).
    token_starts: Vec<usize>,
}

impl<'a> Document<'a> {
    /// Prepare `text`; the token unit needs a tokenizer (its truncation and padding are
    /// ignored: a clone without them encodes the text).
    pub fn new(text: &'a str, unit: Unit, tokenizer: Option<&Tokenizer>) -> Result<Self> {
        let ascii = text.is_ascii();
        let mut checkpoints = Vec::new();
        if !ascii {
            checkpoints.reserve(text.len() / STRIDE + 2);
            let mut count = 0;
            for block in text.as_bytes().chunks(STRIDE) {
                checkpoints.push(count);
                count += char_starts(block);
            }
            checkpoints.push(count);
        }
        let token_starts = match unit {
            Unit::Chars => Vec::new(),
            Unit::Tokens => {
                let tokenizer = tokenizer.ok_or_else(|| {
                    Error::config("tokenizer", "the token unit needs a tokenizer")
                })?;
                token_starts(text, &*plain(tokenizer)?)?
            }
        };
        Ok(Self {
            text,
            unit,
            ascii,
            checkpoints,
            token_starts,
        })
    }

    /// The text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Whether the text is ASCII (byte offsets are character offsets).
    pub(crate) fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// The unit sizes are counted in.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The number of characters before byte offset `byte` (a character boundary).
    pub fn char_at(&self, byte: usize) -> usize {
        if self.ascii {
            return byte;
        }
        let base = byte / STRIDE * STRIDE;
        self.checkpoints[byte / STRIDE] + char_starts(&self.text.as_bytes()[base..byte])
    }

    /// The size of the byte range `[start, end)` in the document's unit.
    pub fn size(&self, start: usize, end: usize) -> usize {
        match self.unit {
            Unit::Chars => self.char_at(end) - self.char_at(start),
            Unit::Tokens => self.token_index(end) - self.token_index(start),
        }
    }

    /// The number of tokens starting before byte offset `byte`.
    pub(crate) fn token_index(&self, byte: usize) -> usize {
        self.token_starts.partition_point(|&s| s < byte)
    }

    /// Byte offsets where tokens start, in order (empty for the character unit).
    pub(crate) fn token_starts(&self) -> &[usize] {
        &self.token_starts
    }

    /// `[start, end)` without leading and trailing whitespace, or `None` when nothing is left.
    pub(crate) fn trim(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let s = &self.text[start..end];
        let lead = s.len() - s.trim_start().len();
        let kept = s.trim().len();
        (kept > 0).then(|| (start + lead, start + lead + kept))
    }

    /// Spans in byte offsets turned into character offsets (in place).
    pub(crate) fn to_chars(&self, mut spans: Vec<Span>) -> Vec<Span> {
        for s in &mut spans {
            s.start = self.char_at(s.start);
            s.end = self.char_at(s.end);
        }
        spans
    }
}

/// The number of UTF-8 sequence starts (characters) in `bytes`.
#[inline]
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

/// The tokenizer without truncation or padding (borrowed when it has neither).
pub(crate) fn plain(tokenizer: &Tokenizer) -> Result<std::borrow::Cow<'_, Tokenizer>> {
    if tokenizer.get_truncation().is_none() && tokenizer.get_padding().is_none() {
        return Ok(std::borrow::Cow::Borrowed(tokenizer));
    }
    let mut t = tokenizer.clone();
    t.with_padding(None);
    t.with_truncation(None)
        .map_err(|e| Error::config("tokenizer", format!("cannot turn truncation off: {e}")))?;
    Ok(std::borrow::Cow::Owned(t))
}

/// Segment boundaries of `text`: about `SEGMENT` bytes each, cut before ASCII whitespace
/// where the second half of a segment has some, else at a character boundary.
fn segments(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut cuts = vec![0];
    let mut at = 0;
    while text.len() - at > SEGMENT {
        let target = at + SEGMENT;
        let half = &bytes[at + SEGMENT / 2..target];
        let mut cut = match half.iter().rposition(|b| b.is_ascii_whitespace()) {
            Some(i) => at + SEGMENT / 2 + i,
            None => target,
        };
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        cuts.push(cut);
        at = cut;
    }
    cuts.push(text.len());
    cuts
}

/// The byte offsets where the tokens of `text` start, in order.
fn token_starts(text: &str, tokenizer: &Tokenizer) -> Result<Vec<usize>> {
    let cuts = segments(text);
    let parts: Vec<Vec<usize>> = cuts
        .par_windows(2)
        .map(|w| {
            let enc = tokenizer
                .encode(&text[w[0]..w[1]], false)
                .map_err(|e| Error::config("tokenizer", format!("cannot encode: {e}")))?;
            Ok(enc.get_offsets().iter().map(|&(s, _)| w[0] + s).collect())
        })
        .collect::<Result<_>>()?;
    let mut starts: Vec<usize> = parts.into_iter().flatten().collect();
    // Offsets follow the text; sorting guards the binary searches against a normaliser
    // that would reorder them.
    starts.sort_unstable();
    Ok(starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_offsets_are_byte_offsets() {
        let text = "plain text, long enough to pass a few checkpoints. ".repeat(5);
        let doc = Document::new(&text, Unit::Chars, None).unwrap();
        assert!(doc.is_ascii() && doc.checkpoints.is_empty());
        // The same counts as a text read through checkpoints (one non-ASCII character
        // after the end changes none of them).
        let wider = text.clone() + "é";
        let slow = Document::new(&wider, Unit::Chars, None).unwrap();
        assert!(!slow.is_ascii());
        for b in 0..=text.len() {
            assert_eq!(doc.char_at(b), slow.char_at(b), "{b}");
            assert_eq!(doc.size(0, b), slow.size(0, b), "{b}");
            assert_eq!(doc.size(b / 2, b), b - b / 2);
        }
    }

    #[test]
    fn char_offsets_across_checkpoints() {
        let text = "é".repeat(100) + "abc" + &"😀".repeat(50);
        let doc = Document::new(&text, Unit::Chars, None).unwrap();
        for (ci, (bi, _)) in text.char_indices().enumerate() {
            assert_eq!(doc.char_at(bi), ci);
        }
        assert_eq!(doc.char_at(text.len()), text.chars().count());
        assert_eq!(doc.size(0, text.len()), 153);
    }

    #[test]
    fn segments_cut_before_whitespace_on_char_boundaries() {
        let text = "ab é ".repeat(200_000);
        let cuts = segments(&text);
        assert!(cuts.len() > 2);
        for w in cuts.windows(2) {
            assert!(w[0] < w[1] && text.is_char_boundary(w[1]));
        }
        for &c in &cuts[1..cuts.len() - 1] {
            assert_eq!(text.as_bytes()[c], b' ');
        }
        let solid = "é".repeat(300_000);
        assert!(segments(&solid).iter().all(|&c| solid.is_char_boundary(c)));
    }

    #[test]
    fn trim_drops_whitespace_only_ranges() {
        let doc = Document::new(" \u{3000}a b\n ", Unit::Chars, None).unwrap();
        assert_eq!(doc.trim(0, doc.text().len()), Some((4, 7)));
        assert_eq!(doc.trim(0, 4), None);
    }
}
