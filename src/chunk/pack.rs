//! Greedy packing of consecutive pieces into chunks, the merge step that text-splitter and
//! LangChain's `RecursiveCharacterTextSplitter` share, with their overlap rule.
//!
//! Pieces are trimmed, ordered, non-overlapping byte ranges, each no larger than the size.
//! A chunk runs from its first piece's start to its last piece's end (the text between them
//! included) and takes pieces while its size stays within `size`. The next chunk starts with
//! the longest run of the previous chunk's trailing pieces that stays within the overlap
//! ([`Overlap`]) and leaves room for the next new piece; it always starts after the previous
//! chunk's first piece, so every chunk brings at least one new piece.

use std::borrow::Cow;

use super::{Document, Sink};

/// How much of a chunk the next one repeats.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Overlap {
    /// At most this many units of text (from the first repeated piece's start to the
    /// chunk's end).
    Units(usize),
    /// At most this many whole pieces.
    Pieces(usize),
}

/// The unit positions of the pieces' starts and ends, in one pass over the text (the byte
/// offsets themselves in an ASCII text counted in characters).
fn positions<'p>(doc: &Document, pieces: &'p [(usize, usize)]) -> Cow<'p, [(usize, usize)]> {
    let Some(&(first, _)) = pieces.first() else {
        return Cow::Borrowed(pieces);
    };
    if doc.unit() == super::Unit::Chars && doc.is_ascii() {
        return Cow::Borrowed(pieces);
    }
    let mut out = Vec::with_capacity(pieces.len());
    match doc.unit() {
        super::Unit::Chars => {
            let bytes = doc.text().as_bytes();
            let (mut at, mut pos) = (first, doc.char_at(first));
            let mut advance = |to: usize| {
                pos += bytes[at..to]
                    .iter()
                    .filter(|&&b| (b as i8) >= -0x40)
                    .count();
                at = to;
                pos
            };
            for &(s, e) in pieces {
                out.push((advance(s), advance(e)));
            }
        }
        super::Unit::Tokens => {
            out.extend(
                pieces
                    .iter()
                    .map(|&(s, e)| (doc.token_index(s), doc.token_index(e))),
            );
        }
    }
    Cow::Owned(out)
}

/// Pack `pieces` (each within `size`) into chunks pushed to `sink`.
pub(crate) fn pack(
    doc: &Document,
    pieces: &[(usize, usize)],
    size: usize,
    overlap: Overlap,
    sink: &mut Sink,
) {
    let u = positions(doc, pieces);
    let n = pieces.len();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && u[j + 1].1 - u[i].0 <= size {
            j += 1;
        }
        sink.push(pieces[i].0, pieces[j].1);
        if j + 1 == n {
            break;
        }
        // Step back from the next new piece over the pieces the next chunk repeats.
        let mut k = j + 1;
        let fits = |k: usize| u[j + 1].1 - u[k].0 <= size;
        match overlap {
            Overlap::Units(o) if o > 0 => {
                while k - 1 > i && u[j].1 - u[k - 1].0 <= o && fits(k - 1) {
                    k -= 1;
                }
            }
            Overlap::Pieces(o) => {
                while k - 1 > i && j + 2 - k <= o && fits(k - 1) {
                    k -= 1;
                }
            }
            Overlap::Units(_) => {}
        }
        i = k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Unit;

    fn packed(text: &str, size: usize, overlap: Overlap) -> Vec<&str> {
        let doc = Document::new(text, Unit::Chars, None).unwrap();
        let pieces: Vec<(usize, usize)> = text
            .split_whitespace()
            .map(|w| {
                let i = w.as_ptr() as usize - text.as_ptr() as usize;
                (i, i + w.len())
            })
            .collect();
        let mut sink = Sink::new(&doc);
        pack(&doc, &pieces, size, overlap, &mut sink);
        sink.spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn greedy_with_overlap_in_units_and_pieces() {
        assert_eq!(
            packed("a b c d e", 3, Overlap::Units(0)),
            ["a b", "c d", "e"]
        );
        assert_eq!(
            packed("a b c d e", 5, Overlap::Units(1)),
            ["a b c", "c d e"]
        );
        assert_eq!(
            packed("a b c d e", 5, Overlap::Units(3)),
            ["a b c", "b c d", "c d e"]
        );
        assert_eq!(
            packed("a b c d e f", 5, Overlap::Pieces(1)),
            ["a b c", "c d e", "e f"]
        );
        // The repeated pieces leave room for the next one.
        assert_eq!(packed("aa bb cc", 5, Overlap::Units(2)), ["aa bb", "bb cc"]);
        assert_eq!(
            packed("aa bb cccc", 6, Overlap::Units(2)),
            ["aa bb", "cccc"]
        );
    }
}
