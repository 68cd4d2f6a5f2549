//! HTML to Markdown, for ingesting user documents: a small tolerant tokenizer and a converter
//! that keeps the structure the Markdown chunker reads.
//!
//! `<h1>`..`<h6>` become ATX headings (`# `..`###### `); paragraphs and other block elements
//! are separated by a blank line, `<br>` and table rows by a newline; `<li>` becomes a `- `
//! item (indented two spaces per nested list); `<pre>` becomes a fenced code block whose fence
//! is longer than any backtick run inside it. The content of `<head>`, `<script>`, `<style>`,
//! `<template>`, `<noscript>` and `<svg>` is dropped; `<title>` is kept apart as the title.
//! Outside `<pre>`, whitespace runs collapse to one space. Character references are decoded
//! (named ones from a common subset, `&nbsp;` as a plain space; numeric ones in decimal or
//! hex, invalid code points as U+FFFD; an unknown name stays as written). A `#`, `` ` `` or
//! `~` that would start a line of text is escaped with `\`, so that text never turns into a
//! heading or a code fence.
//!
//! Broken input never fails: an unclosed tag or comment runs to the end of the input, a `<`
//! not followed by a letter, `/`, `!` or `?` is text, and end tags without a start tag are
//! ignored.

/// An HTML document converted to Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The text of `<title>` (whitespace collapsed), if present and not blank.
    pub title: Option<String>,
    /// The text of the first heading (`<h1>`..`<h6>`), if any.
    pub first_heading: Option<String>,
    /// The body as Markdown, without leading or trailing whitespace.
    pub markdown: String,
}

/// Convert an HTML document to Markdown.
pub fn html_to_markdown(html: &str) -> Converted {
    let mut w = Writer::default();
    let mut tokens = Tokenizer { src: html, pos: 0 };
    while let Some(token) = tokens.next_token() {
        match token {
            Token::Text(t) => w.text(t),
            Token::Start { name, self_closing } => {
                if let Some(raw) = raw_text_end(&name) {
                    let content = tokens.raw_text(raw);
                    if name == "title" && w.title.is_none() {
                        let title = collapse(&decode_entities(content));
                        w.title = (!title.is_empty()).then_some(title);
                    }
                } else {
                    w.start(&name, self_closing);
                }
            }
            Token::End(name) => w.end(&name),
        }
    }
    w.finish()
}

/// Collapse whitespace runs to one space and trim.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Elements whose content is raw text up to their end tag: skipped, except `<title>`.
fn raw_text_end(name: &str) -> Option<&'static str> {
    match name {
        "script" => Some("</script"),
        "style" => Some("</style"),
        "title" => Some("</title"),
        "textarea" => Some("</textarea"),
        "xmp" => Some("</xmp"),
        _ => None,
    }
}

enum Token<'a> {
    Text(&'a str),
    Start { name: String, self_closing: bool },
    End(String),
}

struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Tokenizer<'a> {
    fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = &self.src[self.pos..];
            if rest.is_empty() {
                return None;
            }
            let bytes = rest.as_bytes();
            if bytes[0] != b'<' {
                let len = memchr::memchr(b'<', bytes).unwrap_or(bytes.len());
                self.pos += len;
                return Some(Token::Text(&rest[..len]));
            }
            let next = bytes.get(1).copied();
            match next {
                Some(b'!') | Some(b'?') => {
                    // A comment, doctype, CDATA or processing instruction: dropped.
                    let end = if let Some(comment) = rest.strip_prefix("<!--") {
                        comment.find("-->").map_or(rest.len(), |i| i + 4 + 3)
                    } else {
                        rest.find('>').map_or(rest.len(), |i| i + 1)
                    };
                    self.pos += end;
                }
                Some(b'/') if bytes.get(2).is_some_and(u8::is_ascii_alphabetic) => {
                    let (name, len) = self.tag(2);
                    self.pos += len;
                    return Some(Token::End(name));
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let (name, len) = self.tag(1);
                    let self_closing = rest[..len].ends_with("/>");
                    self.pos += len;
                    return Some(Token::Start { name, self_closing });
                }
                _ => {
                    self.pos += 1;
                    return Some(Token::Text("<"));
                }
            }
        }
    }

    /// The lower-cased name of the tag at `pos` (name starting at `skip`) and the length of
    /// the whole tag up to and including `>`, skipping quoted attribute values.
    fn tag(&self, skip: usize) -> (String, usize) {
        let rest = &self.src[self.pos..];
        let bytes = rest.as_bytes();
        let mut i = skip;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"/>".contains(&bytes[i]) {
            i += 1;
        }
        let name = rest[skip..i].to_ascii_lowercase();
        let mut quote = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b'>') => return (name, i + 1),
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        (name, bytes.len())
    }

    /// The raw content up to the end tag starting with `end` (ASCII case-insensitive), which
    /// is consumed too; the rest of the input if there is none.
    fn raw_text(&mut self, end: &str) -> &'a str {
        let rest = &self.src[self.pos..];
        let found = rest
            .as_bytes()
            .windows(end.len())
            .position(|w| w.eq_ignore_ascii_case(end.as_bytes()));
        match found {
            Some(at) => {
                let after = rest[at..].find('>').map_or(rest.len(), |i| at + i + 1);
                self.pos += after;
                &rest[..at]
            }
            None => {
                self.pos = self.src.len();
                rest
            }
        }
    }
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "nav"
            | "aside"
            | "main"
            | "blockquote"
            | "figure"
            | "figcaption"
            | "table"
            | "thead"
            | "tbody"
            | "tfoot"
            | "caption"
            | "dl"
            | "dt"
            | "dd"
            | "form"
            | "fieldset"
            | "address"
            | "hr"
            | "details"
            | "summary"
            | "body"
            | "html"
            | "center"
    )
}

/// Elements whose content is dropped (besides the raw-text ones).
fn is_dropped(name: &str) -> bool {
    matches!(name, "head" | "template" | "noscript" | "svg")
}

/// Elements that may appear in `<head>`; any other start tag ends an unclosed `<head>`.
fn in_head_ok(name: &str) -> bool {
    matches!(
        name,
        "title" | "meta" | "link" | "style" | "script" | "base" | "noscript" | "template"
    )
}

fn heading_level(name: &str) -> Option<usize> {
    match name.as_bytes() {
        [b'h', d @ b'1'..=b'6'] => Some(usize::from(d - b'0')),
        _ => None,
    }
}

#[derive(Default)]
struct Writer {
    out: String,
    title: Option<String>,
    first_heading: Option<String>,
    /// Newlines owed before the next text (1: a line break, 2: a blank line).
    breaks: usize,
    space: bool,
    /// Written at the start of the next text: `- ` or `## `.
    prefix: String,
    /// The text so far of the heading being written.
    heading: Option<String>,
    lists: usize,
    /// Open dropped elements (`<head>`, `<svg>`...) by name.
    dropped: Vec<String>,
    /// The content of an open `<pre>`.
    pre: Option<String>,
}

impl Writer {
    fn start(&mut self, name: &str, self_closing: bool) {
        if self.dropped.last().is_some_and(|d| d == "head") && !in_head_ok(name) {
            self.dropped.pop();
        }
        if !self.dropped.is_empty() {
            if is_dropped(name) && !self_closing {
                self.dropped.push(name.to_owned());
            }
            return;
        }
        if let Some(pre) = &mut self.pre {
            if name == "br" {
                pre.push('\n');
            }
            return;
        }
        match name {
            _ if is_dropped(name) => {
                if !self_closing {
                    self.dropped.push(name.to_owned());
                }
            }
            "br" => self.brk(1),
            "tr" => self.brk(1),
            "td" | "th" => self.space = true,
            "ul" | "ol" | "menu" => {
                self.brk(if self.lists == 0 { 2 } else { 1 });
                self.lists += 1;
            }
            "li" => {
                self.brk(1);
                let depth = self.lists.max(1) - 1;
                self.prefix = format!("{}- ", "  ".repeat(depth));
            }
            "pre" => {
                self.brk(2);
                self.pre = Some(String::new());
            }
            _ => {
                if let Some(level) = heading_level(name) {
                    self.brk(2);
                    self.prefix = format!("{} ", "#".repeat(level));
                    self.heading = Some(String::new());
                } else if is_block(name) {
                    self.brk(2);
                }
            }
        }
    }

    fn end(&mut self, name: &str) {
        if let Some(open) = self.dropped.iter().rposition(|d| d == name) {
            self.dropped.truncate(open);
            return;
        }
        if !self.dropped.is_empty() {
            return;
        }
        if self.pre.is_some() {
            if name == "pre" {
                self.close_pre();
            }
            return;
        }
        match name {
            "ul" | "ol" | "menu" if self.lists > 0 => {
                self.lists -= 1;
                self.prefix.clear();
                self.brk(if self.lists == 0 { 2 } else { 1 });
            }
            "li" => {
                self.prefix.clear();
                self.brk(1);
            }
            "tr" => self.brk(1),
            "td" | "th" => self.space = true,
            _ => {
                if heading_level(name).is_some() {
                    self.brk(2);
                    self.prefix.clear();
                } else if is_block(name) {
                    self.brk(2);
                }
            }
        }
    }

    /// Ask for `n` newlines before the next text (at most two; one inside a list item, so
    /// that the item's paragraphs stay in the item).
    fn brk(&mut self, n: usize) {
        if n == 2 {
            self.end_heading();
        }
        let n = if self.lists > 0 { n.min(1) } else { n };
        self.breaks = self.breaks.max(n);
    }

    fn text(&mut self, raw: &str) {
        // Text in an unclosed `<head>` starts the body, as in browsers.
        if self.dropped.len() == 1 && self.dropped[0] == "head" && !raw.trim().is_empty() {
            self.dropped.clear();
        }
        if !self.dropped.is_empty() {
            return;
        }
        let decoded = decode_entities(raw);
        if let Some(pre) = &mut self.pre {
            // A newline right after `<pre>` is not content.
            let text = if pre.is_empty() {
                decoded.strip_prefix('\n').unwrap_or(&decoded)
            } else {
                &decoded
            };
            pre.push_str(text);
            return;
        }
        for c in decoded.chars() {
            if c.is_whitespace() {
                self.space = true;
            } else {
                self.char(c);
            }
        }
    }

    /// Write one non-space character, with the breaks, space and prefix owed before it.
    fn char(&mut self, c: char) {
        let line_start = if self.out.is_empty() {
            true
        } else if self.breaks > 0 {
            let pad = self.breaks - usize::from(self.out.ends_with('\n'));
            self.out.extend(std::iter::repeat_n('\n', pad));
            true
        } else {
            self.out.ends_with('\n')
        };
        if line_start {
            self.out.push_str(&self.prefix);
            if matches!(c, '#' | '`' | '~') {
                self.out.push('\\');
            }
            self.prefix.clear();
        } else if self.space {
            self.out.push(' ');
            if let Some(h) = self.heading.as_mut().filter(|h| !h.is_empty()) {
                h.push(' ');
            }
        }
        self.breaks = 0;
        self.space = false;
        self.out.push(c);
        if let Some(h) = &mut self.heading {
            h.push(c);
        }
    }

    /// End the heading being written (at its end tag or at the next block, if unclosed).
    fn end_heading(&mut self) {
        if let Some(text) = self.heading.take() {
            if self.first_heading.is_none() && !text.is_empty() {
                self.first_heading = Some(text);
            }
        }
    }

    fn close_pre(&mut self) {
        let Some(code) = self.pre.take() else {
            return;
        };
        let code = code.trim_end_matches(['\n', ' ', '\t', '\r']);
        let mut longest = 0;
        let mut run = 0;
        for c in code.chars() {
            run = if c == '`' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        let fence = "`".repeat((longest + 1).max(3));
        if !self.out.is_empty() {
            let pad = 2 - usize::from(self.out.ends_with('\n'));
            self.out.extend(std::iter::repeat_n('\n', pad));
        }
        self.out.push_str(&fence);
        self.out.push('\n');
        if !code.is_empty() {
            self.out.push_str(code);
            self.out.push('\n');
        }
        self.out.push_str(&fence);
        self.breaks = 0;
        self.space = false;
        self.brk(2);
    }

    fn finish(mut self) -> Converted {
        self.close_pre();
        self.end_heading();
        let markdown = self.out.trim().to_owned();
        Converted {
            title: self.title,
            first_heading: self.first_heading,
            markdown,
        }
    }
}

/// Named character references decoded (a common subset of HTML's list).
const NAMED: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", " "),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("hellip", "…"),
    ("mdash", "—"),
    ("ndash", "–"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("bull", "•"),
    ("middot", "·"),
    ("deg", "°"),
    ("times", "×"),
    ("divide", "÷"),
    ("euro", "€"),
    ("pound", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("sect", "§"),
    ("para", "¶"),
    ("shy", ""),
    ("zwj", "\u{200d}"),
    ("zwnj", "\u{200c}"),
];

/// Decode character references: `&name;` from `NAMED`, `&#39;`, `&#x27;` (the `;` optional
/// after a number). Anything else is kept as written.
pub fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference(rest) {
            Some((decoded, len)) => {
                out.push_str(&decoded);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The reference at the start of `s` (which starts with `&`): its text and length.
fn reference(s: &str) -> Option<(String, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 3),
            None => (num, 10, 2),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len.min(8)], radix).unwrap_or(u32::MAX);
        let c = match code {
            0 => '\u{fffd}',
            _ => char::from_u32(code).unwrap_or('\u{fffd}'),
        };
        let semi = usize::from(digits[len..].starts_with(';'));
        return Some((c.to_string(), skip + len + semi));
    }
    let len = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if len == 0 || !body[len..].starts_with(';') {
        return None;
    }
    let name = &body[..len];
    NAMED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| ((*text).to_owned(), len + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a &amp; b"), "a & b");
        assert_eq!(decode_entities("&#39;&#x27;&#X27;&#65"), "''\'A");
        assert_eq!(
            decode_entities("&bogus; & &#xZZ; &#0;"),
            "&bogus; & &#xZZ; \u{fffd}"
        );
        assert_eq!(decode_entities("&#99999999999;"), "\u{fffd}");
    }

    #[test]
    fn tokenizer_survives_truncation_everywhere() {
        let html = "<html><head><title>T</title></head><body><h1 class=\"x>y\">A</h1>\
                    <!-- c --><p>b &amp; <b>c</b><pre>x\n y</pre><ul><li>i</ul></body>";
        for end in 0..=html.len() {
            if html.is_char_boundary(end) {
                let _ = html_to_markdown(&html[..end]);
            }
        }
    }
}
