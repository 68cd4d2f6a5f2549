//! `markdown`: structure-aware chunks of a CommonMark document (with GitHub tables,
//! strikethrough and task lists), parsed by `pulldown-cmark` with source offsets.
//!
//! The document is cut into leaf blocks: paragraphs, headings, code blocks (fenced or
//! indented), tables, HTML blocks, thematic breaks, and the bare text of tight list items,
//! at any depth of lists and block quotes. Block `i` runs from the end of block `i − 1` to
//! its own end (the first from the text's start, the last to the text's end), so that list
//! markers, quote markers and link reference definitions travel with the block after them
//! and no text falls between blocks; each block is trimmed.
//!
//! * Headings make the section path: the heading's text (inline markup dropped, whitespace
//!   collapsed), nested by level and joined with `" > "`, such as `"Intro > Setup"`; a
//!   heading closes the sections of its level and deeper. A chunk never spans two sections;
//!   the heading starts its section's first chunk. Text before any heading has no section.
//! * Code blocks and tables are never split: one larger than `size` is a chunk of its own,
//!   the one overflow this strategy allows.
//! * Other blocks are packed greedily up to `size` ([`super::pack`], overlap in units as in
//!   `recursive`); one larger than `size` is split by the `recursive` rule.

use pulldown_cmark::{Event, Options, Parser, Tag};

use super::pack::{pack, Overlap};
use super::{recursive, Document, Sink};

/// What a leaf block is, for packing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A heading: its level (1 to 6) and text.
    Heading(usize, String),
    /// A code block or table: never split.
    Atomic,
    /// Anything else.
    Other,
}

/// A leaf block: where it ends and what it is.
#[derive(Debug)]
struct Block {
    end: usize,
    kind: Kind,
}

fn is_leaf(tag: &Tag) -> bool {
    matches!(
        tag,
        Tag::Paragraph
            | Tag::Heading { .. }
            | Tag::CodeBlock(_)
            | Tag::HtmlBlock
            | Tag::Table(_)
            | Tag::MetadataBlock(_)
    )
}

/// Append a block, its end kept monotone.
fn push(out: &mut Vec<Block>, end: usize, kind: Kind) {
    let end = out.last().map_or(end, |b| b.end.max(end));
    out.push(Block { end, kind });
}

/// The leaf blocks of the document, in order.
fn blocks(text: &str) -> Vec<Block> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut out: Vec<Block> = Vec::new();
    // The leaf being read: its nesting depth, end and kind.
    let mut leaf: Option<(usize, usize, Kind)> = None;
    // The end of bare inline content outside any leaf (tight list items).
    let mut loose: Option<usize> = None;
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        if let Some((depth, _, kind)) = &mut leaf {
            match event {
                Event::Start(_) => *depth += 1,
                Event::End(_) => *depth -= 1,
                Event::Text(t) | Event::Code(t) => {
                    if let Kind::Heading(_, title) = kind {
                        title.push_str(&t);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Kind::Heading(_, title) = kind {
                        title.push(' ');
                    }
                }
                _ => {}
            }
            if let Some((0, end, kind)) = &leaf {
                push(&mut out, *end, kind.clone());
                leaf = None;
            }
            continue;
        }
        let bare = !matches!(event, Event::Start(_) | Event::End(_) | Event::Rule);
        if bare {
            loose = Some(loose.map_or(range.end, |e| e.max(range.end)));
            continue;
        }
        if let Some(end) = loose.take() {
            push(&mut out, end, Kind::Other);
        }
        match event {
            Event::Start(tag) if is_leaf(&tag) => {
                let kind = match tag {
                    Tag::Heading { level, .. } => Kind::Heading(level as usize, String::new()),
                    Tag::CodeBlock(_) | Tag::Table(_) => Kind::Atomic,
                    _ => Kind::Other,
                };
                leaf = Some((1, range.end, kind));
            }
            Event::Rule => push(&mut out, range.end, Kind::Other),
            _ => {}
        }
    }
    if let Some(end) = loose {
        push(&mut out, end, Kind::Other);
    }
    out
}

/// The section path after a heading of `level` titled `title`.
fn enter(path: &mut Vec<(usize, String)>, level: usize, title: &str) -> String {
    while path.last().is_some_and(|(l, _)| *l >= level) {
        path.pop();
    }
    path.push((
        level,
        title.split_whitespace().collect::<Vec<_>>().join(" "),
    ));
    let titles: Vec<&str> = path.iter().map(|(_, t)| t.as_str()).collect();
    titles.join(" > ")
}

/// The document's chunks.
pub(crate) fn chunk(doc: &Document, size: usize, overlap: usize, sink: &mut Sink) {
    let text = doc.text();
    let mut blocks = blocks(text);
    match blocks.last_mut() {
        Some(last) => last.end = text.len(),
        None => blocks.push(Block {
            end: text.len(),
            kind: Kind::Other,
        }),
    }
    let units = overlap;
    let overlap = Overlap::Units(units);
    let mut path = Vec::new();
    // Blocks waiting to be packed, all in the current section.
    let mut run: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    for block in blocks {
        let range = doc.trim(at, block.end);
        at = block.end;
        if let Kind::Heading(level, title) = &block.kind {
            pack(doc, &run, size, overlap, sink);
            run.clear();
            sink.section = Some(enter(&mut path, *level, title));
        }
        let Some((s, e)) = range else { continue };
        if doc.size(s, e) <= size {
            run.push((s, e));
            continue;
        }
        pack(doc, &run, size, overlap, sink);
        run.clear();
        match block.kind {
            Kind::Atomic => sink.push(s, e),
            _ => recursive::range(doc, s, e, size, units, sink),
        }
    }
    pack(doc, &run, size, overlap, sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Unit;

    fn chunks(text: &str, size: usize) -> Vec<(&str, Option<String>)> {
        let doc = Document::new(text, Unit::Chars, None).unwrap();
        let mut sink = Sink::new(&doc);
        chunk(&doc, size, 0, &mut sink);
        sink.spans
            .into_iter()
            .map(|s| (&text[s.start..s.end], s.section))
            .collect()
    }

    #[test]
    fn leaf_blocks_at_any_depth() {
        let text = "# T\n\npara\n\n- a\n- b\n\n> q\n\n```\ncode\n```\n\n---\n";
        let kinds: Vec<Kind> = blocks(text).into_iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Heading(1, "T".into()),
                Kind::Other,
                Kind::Other,
                Kind::Other,
                Kind::Other,
                Kind::Atomic,
                Kind::Other
            ]
        );
    }

    #[test]
    fn sections_nest_by_level() {
        let text = "Lead.\n\n# Intro\n\nHello.\n\n## *Setup* `x`\n\nSteps.\n\n# Next\nEnd.";
        let got = chunks(text, 30);
        let sec = |s: &str| Some(s.to_owned());
        assert_eq!(
            got,
            [
                ("Lead.", None),
                ("# Intro\n\nHello.", sec("Intro")),
                ("## *Setup* `x`\n\nSteps.", sec("Intro > Setup x")),
                ("# Next\nEnd.", sec("Next")),
            ]
        );
    }

    #[test]
    fn code_blocks_and_tables_stay_whole() {
        let code = "```rust\nfn main() {\n    println!(\"hi\");\n}\n```";
        let table = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |";
        let text = format!("Intro text here.\n\n{code}\n\n{table}\n\nA long paragraph of words.");
        let got: Vec<&str> = chunks(&text, 20).into_iter().map(|c| c.0).collect();
        assert_eq!(
            got,
            [
                "Intro text here.",
                code,
                table,
                "A long paragraph of",
                "words."
            ]
        );
    }
}
