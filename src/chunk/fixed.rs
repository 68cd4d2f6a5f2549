//! `fixed`: windows of `size` units, each starting `size - overlap` units after the previous
//! one, the last one possibly shorter; the simplest baseline (LangChain's
//! `CharacterTextSplitter` without a separator, chonkie's `TokenChunker`).
//!
//! With characters, window `k` holds characters `[k·step, k·step + size)`, `step = size −
//! overlap`, and the windows stop at the first one that reaches the end. With tokens, window
//! `k` holds tokens `[k·step, k·step + size)` and runs from its first token's start to the
//! start of the token after its last one, so that characters no token covers (a tokenizer
//! drops some control and format characters) stay in the window before them; after trimming
//! it ends at its last token's end whenever whitespace follows. The first window starts at
//! the text's start and the last ends at its end, for the same reason. Every window is
//! trimmed (see [`super`]), so consecutive windows share exactly `overlap` units when no
//! whitespace lies at their edges.

use super::{Document, Sink, Unit};

/// Windows over the whole document.
pub(crate) fn chunk(doc: &Document, size: usize, overlap: usize, sink: &mut Sink) {
    windows(doc, 0, doc.text().len(), size, overlap, sink);
}

/// Windows over the byte range `[start, end)` of the document.
pub(crate) fn windows(
    doc: &Document,
    start: usize,
    end: usize,
    size: usize,
    overlap: usize,
    sink: &mut Sink,
) {
    match doc.unit() {
        Unit::Chars => char_windows(doc, start, end, size, size - overlap, sink),
        Unit::Tokens => token_windows(doc, start, end, size, size - overlap, sink),
    }
}

fn char_windows(
    doc: &Document,
    start: usize,
    end: usize,
    size: usize,
    step: usize,
    sink: &mut Sink,
) {
    let text = &doc.text()[start..end];
    // Byte offsets of window starts (characters k·step) and of window ends (k·step + size),
    // gathered in one pass over the characters.
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let (mut next_start, mut next_end) = (0, size);
    for (ci, (bi, _)) in text.char_indices().enumerate() {
        if ci == next_start {
            starts.push(start + bi);
            next_start += step;
        }
        if ci == next_end {
            ends.push(start + bi);
            next_end += step;
        }
    }
    for (k, &s) in starts.iter().enumerate() {
        // A window without a recorded end reaches the end of the range.
        let e = ends.get(k).copied().unwrap_or(end);
        sink.push(s, e);
        if e == end {
            break;
        }
    }
}

fn token_windows(
    doc: &Document,
    start: usize,
    end: usize,
    size: usize,
    step: usize,
    sink: &mut Sink,
) {
    let (lo, hi) = (doc.token_index(start), doc.token_index(end));
    let tokens = doc.token_starts();
    let mut i = lo;
    loop {
        let s = if i == lo { start } else { tokens[i] };
        let last = i + size >= hi;
        let e = if last { end } else { tokens[i + size] };
        sink.push(s, e);
        if last {
            break;
        }
        i += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str, size: usize, overlap: usize) -> Vec<&str> {
        let doc = Document::new(text, Unit::Chars, None).unwrap();
        let mut sink = Sink::new(&doc);
        chunk(&doc, size, overlap, &mut sink);
        sink.spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn windows_of_chars() {
        assert_eq!(fixed("abcdefg", 3, 0), ["abc", "def", "g"]);
        assert_eq!(fixed("abcdef", 3, 0), ["abc", "def"]);
        assert_eq!(fixed("abcdefg", 4, 2), ["abcd", "cdef", "efg"]);
        assert_eq!(fixed("abcdef", 4, 2), ["abcd", "cdef"]);
        assert_eq!(fixed("ab", 4, 3), ["ab"]);
        assert_eq!(fixed("ééé😀😀", 2, 1), ["éé", "éé", "é😀", "😀😀"]);
        assert_eq!(fixed("ab   cd", 3, 0), ["ab", "c", "d"]);
        assert!(fixed("", 3, 0).is_empty());
        assert!(fixed(" \n ", 1, 0).is_empty());
    }
}
