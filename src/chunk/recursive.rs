//! `recursive`: the separator hierarchy of text-splitter (`TextSplitter`) and LangChain's
//! `RecursiveCharacterTextSplitter`, on original offsets.
//!
//! Levels, coarsest first: paragraphs (runs of non-blank lines between blank lines; a blank
//! line holds whitespace only, line breaks are `\n`, `\r\n` or `\r`, so `\n\n` and
//! `\r\n\r\n` both separate paragraphs), lines, sentences and words (the UAX #29 sentence and
//! word boundaries of `unicode-segmentation`), extended grapheme clusters (UAX #29), then
//! characters. Pieces are trimmed and whitespace-only pieces dropped.
//!
//! A text within `size` is one chunk. A larger one is split at the first level that cuts it
//! into two pieces or more (LangChain takes the first separator found in the text); pieces
//! within `size` are packed greedily ([`super::pack`]) and each larger piece is split the
//! same way from the next level down, its chunks standing between those of the pieces
//! around it. One character larger than `size` (possible with tokens) is a chunk of its own.
//!
//! Overlap, in units: the next chunk starts with the longest run of whole trailing pieces of
//! the previous chunk, at the same level, whose text (first piece's start to chunk's end)
//! measures at most `overlap` and leaves room for the next new piece; none when even the
//! last piece is larger (LangChain's rule). Chunks on either side of an oversized piece do
//! not overlap it.

use memchr::memchr2;
use unicode_segmentation::UnicodeSegmentation;

use super::pack::{pack, Overlap};
use super::{sentence, Document, Sink};

/// Separator levels, coarsest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Paragraphs,
    Lines,
    Sentences,
    Words,
    Graphemes,
    Chars,
}

const LEVELS: [Level; 6] = [
    Level::Paragraphs,
    Level::Lines,
    Level::Sentences,
    Level::Words,
    Level::Graphemes,
    Level::Chars,
];

/// The whole document, split recursively.
pub(crate) fn chunk(doc: &Document, size: usize, overlap: usize, sink: &mut Sink) {
    if let Some((start, end)) = doc.trim(0, doc.text().len()) {
        range(doc, start, end, size, overlap, sink);
    }
}

/// The trimmed byte range `[start, end)`, split recursively.
pub(crate) fn range(
    doc: &Document,
    start: usize,
    end: usize,
    size: usize,
    overlap: usize,
    sink: &mut Sink,
) {
    if doc.size(start, end) <= size {
        sink.push(start, end);
    } else {
        split(doc, start, end, 0, size, overlap, sink);
    }
}

/// Split the oversized range `[start, end)` from level `from` down.
fn split(
    doc: &Document,
    start: usize,
    end: usize,
    from: usize,
    size: usize,
    overlap: usize,
    sink: &mut Sink,
) {
    for (level, &kind) in LEVELS.iter().enumerate().skip(from) {
        let pieces = pieces(doc, start, end, kind);
        if pieces.len() < 2 {
            continue;
        }
        let mut run = 0;
        for (i, &(s, e)) in pieces.iter().enumerate() {
            if doc.size(s, e) > size {
                pack(doc, &pieces[run..i], size, Overlap::Units(overlap), sink);
                split(doc, s, e, level + 1, size, overlap, sink);
                run = i + 1;
            }
        }
        pack(doc, &pieces[run..], size, Overlap::Units(overlap), sink);
        return;
    }
    // One character: nothing left to split.
    sink.push(start, end);
}

/// The trimmed, non-empty pieces of `[start, end)` at one level.
fn pieces(doc: &Document, start: usize, end: usize, level: Level) -> Vec<(usize, usize)> {
    let text = &doc.text()[start..end];
    let trimmed = |(i, s): (usize, &str)| doc.trim(start + i, start + i + s.len());
    match level {
        Level::Paragraphs => lines(doc, start, end, true),
        Level::Lines => lines(doc, start, end, false),
        Level::Sentences => sentence::sentences(doc, start, end),
        Level::Words => text
            .split_word_bound_indices()
            .filter_map(trimmed)
            .collect(),
        Level::Graphemes => text.grapheme_indices(true).filter_map(trimmed).collect(),
        Level::Chars => text
            .char_indices()
            .filter(|(_, c)| !c.is_whitespace())
            .map(|(i, c)| (start + i, start + i + c.len_utf8()))
            .collect(),
    }
}

/// Trimmed non-blank lines of `[start, end)`, or (with `paragraphs`) runs of them.
fn lines(doc: &Document, start: usize, end: usize, paragraphs: bool) -> Vec<(usize, usize)> {
    let bytes = doc.text().as_bytes();
    let mut out = Vec::new();
    let mut paragraph: Option<(usize, usize)> = None;
    let mut at = start;
    loop {
        let (line_end, next) = match memchr2(b'\n', b'\r', &bytes[at..end]) {
            Some(i) => {
                let e = at + i;
                let crlf = bytes[e] == b'\r' && e + 1 < end && bytes[e + 1] == b'\n';
                (e, e + 1 + crlf as usize)
            }
            None => (end, end),
        };
        match doc.trim(at, line_end) {
            Some((s, e)) if paragraphs => paragraph = Some((paragraph.map_or(s, |p| p.0), e)),
            Some(line) => out.push(line),
            None => out.extend(paragraph.take()),
        }
        if line_end == end {
            break;
        }
        at = next;
    }
    out.extend(paragraph);
    out
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
    fn paragraphs_and_lines_with_any_line_break() {
        let doc = Document::new("a\r\nb\r\n\r\nc\n \nd\re", Unit::Chars, None).unwrap();
        let n = doc.text().len();
        let text = |v: Vec<(usize, usize)>| -> Vec<&str> {
            v.iter().map(|&(s, e)| &doc.text()[s..e]).collect()
        };
        assert_eq!(text(lines(&doc, 0, n, true)), ["a\r\nb", "c", "d\re"]);
        assert_eq!(text(lines(&doc, 0, n, false)), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn coarsest_level_first_then_finer() {
        let text = "Para one is here.\n\nPara two. It has two sentences.\n\nEnd.";
        assert_eq!(chunks(text, 100, 0), [text]);
        assert_eq!(
            chunks(text, 40, 0),
            [
                "Para one is here.",
                "Para two. It has two sentences.\n\nEnd."
            ]
        );
        assert_eq!(
            chunks(text, 25, 0),
            [
                "Para one is here.",
                "Para two.",
                "It has two sentences.",
                "End."
            ]
        );
        assert_eq!(chunks("abcdefgh", 3, 0), ["abc", "def", "gh"]);
        assert_eq!(
            chunks("one two three four", 9, 4),
            ["one two", "two three", "four"]
        );
    }
}
