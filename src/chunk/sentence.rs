//! `sentence`: sentences packed greedily up to the size, as chonkie's `SentenceChunker`.
//!
//! Sentences are the Unicode sentence segments of UAX #29 (those of `unicode-segmentation`'s
//! `split_sentence_bound_indices`, found faster by [`crate::text::sentence`]), trimmed. A
//! chunk takes whole sentences while its size stays within `size`; the next chunk starts
//! with up to `overlap` whole sentences ending the previous one, fewer when they would leave
//! no room for a new sentence (so `overlap` counts sentences here, not units). A sentence
//! longer than `size` becomes `fixed` windows of `size` units without overlap, between the
//! chunks before and after it.

use super::pack::{pack, Overlap};
use super::{fixed, Document, Sink};
use crate::text::sentence::sentence_ranges;

/// The trimmed UAX #29 sentences of the byte range `[start, end)`.
pub(crate) fn sentences(doc: &Document, start: usize, end: usize) -> Vec<(usize, usize)> {
    sentence_ranges(&doc.text()[start..end])
        .into_iter()
        .filter_map(|(s, e)| doc.trim(start + s, start + e))
        .collect()
}

/// Sentences packed into chunks.
pub(crate) fn chunk(doc: &Document, size: usize, overlap: usize, sink: &mut Sink) {
    let all = sentences(doc, 0, doc.text().len());
    pack_sentences(doc, &all, size, overlap, sink);
}

/// Consecutive sentences packed into chunks, those longer than `size` cut into windows.
pub(crate) fn pack_sentences(
    doc: &Document,
    all: &[(usize, usize)],
    size: usize,
    overlap: usize,
    sink: &mut Sink,
) {
    let mut run = 0;
    for (i, &(s, e)) in all.iter().enumerate() {
        if doc.size(s, e) > size {
            pack(doc, &all[run..i], size, Overlap::Pieces(overlap), sink);
            fixed::windows(doc, s, e, size, 0, sink);
            run = i + 1;
        }
    }
    pack(doc, &all[run..], size, Overlap::Pieces(overlap), sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Unit;

    fn chunks(text: &str, size: usize, overlap: usize) -> Vec<&str> {
        let doc = Document::new(text, Unit::Chars, None).unwrap();
        let mut sink = Sink::new(&doc);
        chunk(&doc, size, overlap, &mut sink);
        sink.spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn sentences_packed_with_overlap_in_sentences() {
        let text = "One. Two two. Three! Four?";
        assert_eq!(chunks(text, 13, 0), ["One. Two two.", "Three! Four?"]);
        assert_eq!(chunks(text, 13, 1), ["One. Two two.", "Three! Four?"]);
        assert_eq!(
            chunks(text, 15, 1),
            ["One. Two two.", "Two two. Three!", "Three! Four?"]
        );
        assert_eq!(
            chunks(text, 20, 1),
            ["One. Two two. Three!", "Three! Four?"]
        );
        assert_eq!(
            chunks("Hi. Abcdefgh. Yo.", 4, 0),
            ["Hi.", "Abcd", "efgh", ".", "Yo."]
        );
    }
}
