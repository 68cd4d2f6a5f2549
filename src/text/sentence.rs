//! Sentence boundaries of Unicode Standard Annex #29 (rules SB1 to SB998,
//! <https://unicode.org/reports/tr29/#Sentence_Boundary_Rules>): the boundaries that
//! `unicode-segmentation`'s `split_sentence_bound_indices` finds, found at the speed of a byte
//! scan.
//!
//! Why: the crate looks every character up in a range table (a binary search) and runs the
//! rule chain on it, about 50 MB/s on one core on SciFact's abstracts; the `sentence`,
//! `recursive` and `semantic` chunkers spent most of their time there.
//!
//! How: a boundary falls only after a paragraph separator (SB4) or after a sentence terminator with
//! its closing punctuation and spaces (SB11). Once the last part is no separator and no terminator
//! stands before the trailing run of `Close` and `Sp` parts (the window may still hold an earlier
//! one, as after "a. b"), ASCII bytes other than `.`, `!`, `?`, CR and LF cannot end a sentence and
//! are skipped: by SIMD searches (`memchr`) in an ASCII text, else with one table lookup each.
//! Every other character runs through the rules in order with a window of the last four parts, runs
//! of `Close` and of `Sp` counting as one part, as in the crate.
//!
//! Classes (Sentence_Break values): ASCII characters from a table. The crate does not export
//! its property table, so any other character's class is read off the crate itself, from
//! where it breaks ten short probe strings (each class breaks them differently), once per
//! character of the first three planes and of the tags and variation selectors (cached), at
//! each use elsewhere (private use and rare CJK extensions). A character
//! whose breaks match no class (none is known) sends the whole text to the crate. Either
//! way the boundaries are the crate's (tested against it with proptest on random Unicode).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use memchr::{memchr2, memchr3};
use unicode_segmentation::UnicodeSegmentation;

/// Sentence_Break classes as the rules use them (`Extend` and `Format` are both skipped by
/// SB5 and behave alike: `Ignored`). 0 stands for "not known yet" in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    Other = 1,
    Cr,
    Lf,
    Sep,
    Sp,
    Lower,
    Upper,
    OLetter,
    Numeric,
    ATerm,
    SContinue,
    STerm,
    Close,
    Ignored,
}

const CLASSES: [Class; 14] = [
    Class::Other,
    Class::Cr,
    Class::Lf,
    Class::Sep,
    Class::Sp,
    Class::Lower,
    Class::Upper,
    Class::OLetter,
    Class::Numeric,
    Class::ATerm,
    Class::SContinue,
    Class::STerm,
    Class::Close,
    Class::Ignored,
];

/// UAX #29's Sentence_Break value of an ASCII byte.
const fn ascii_class(b: u8) -> Class {
    match b {
        b'\t' | 0x0b | 0x0c | b' ' => Class::Sp,
        b'\r' => Class::Cr,
        b'\n' => Class::Lf,
        b'a'..=b'z' => Class::Lower,
        b'A'..=b'Z' => Class::Upper,
        b'0'..=b'9' => Class::Numeric,
        b'.' => Class::ATerm,
        b'!' | b'?' => Class::STerm,
        b',' | b'-' | b':' | b';' => Class::SContinue,
        b'"' | b'\'' | b'(' | b')' | b'[' | b']' | b'{' | b'}' => Class::Close,
        _ => Class::Other,
    }
}

const ASCII: [Class; 128] = {
    let mut table = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = ascii_class(b as u8);
        b += 1;
    }
    table
};

/// Bytes that stop the skip: sentence terminators, line breaks and the lead bytes of
/// non-ASCII characters (continuation bytes never start a scan).
const STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b >= 0x80 || matches!(b as u8, b'.' | b'!' | b'?' | b'\r' | b'\n');
        b += 1;
    }
    table
};

/// Probe strings: the character goes between the two halves.
const PROBES: [(&str, &str); 10] = [
    ("a", "a"),
    ("a", " a"),
    ("a.", ""),
    ("a. ", ""),
    ("a. ", "a"),
    ("a!", ""),
    ("a! ", ""),
    ("a!", "a"),
    ("a!", "A"),
    ("a.", "A"),
];

/// One character of each class that can lie outside ASCII.
const REPRESENTATIVES: [(Class, char); 12] = [
    (Class::Sep, '\u{2029}'),
    (Class::Sp, '\u{a0}'),
    (Class::Lower, 'a'),
    (Class::Upper, 'A'),
    (Class::OLetter, '\u{5d0}'),
    (Class::Numeric, '0'),
    (Class::ATerm, '.'),
    (Class::SContinue, ','),
    (Class::STerm, '!'),
    (Class::Close, '"'),
    (Class::Ignored, '\u{301}'),
    (Class::Other, '#'),
];

/// Where the crate breaks the probe strings around `c`: for each probe, a bit per character
/// position (1 to 5) that starts a sentence.
fn signature(c: char) -> u64 {
    let mut buf = String::with_capacity(12);
    let mut sig = 0u64;
    for (i, (before, after)) in PROBES.iter().enumerate() {
        buf.clear();
        buf.push_str(before);
        buf.push(c);
        buf.push_str(after);
        for (at, _) in buf.split_sentence_bound_indices().skip(1) {
            let chars = buf[..at].chars().count();
            sig |= 1 << (i * 6 + chars);
        }
    }
    sig
}

/// The class the crate gives `c`, from its probe signature; `None` if it matches no class.
fn probe_class(c: char) -> Option<Class> {
    static KNOWN: OnceLock<Vec<(u64, Class)>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        REPRESENTATIVES
            .iter()
            .map(|&(class, r)| (signature(r), class))
            .collect()
    });
    let sig = signature(c);
    known
        .iter()
        .find(|(s, _)| *s == sig)
        .map(|&(_, class)| class)
}

/// Classes learned so far (0: not yet) of the first three planes (U+0000 to U+2FFFF: every
/// script, emoji, CJK) and of U+E0000 to U+E01FF (tags and variation selectors, which follow
/// emoji and CJK), stored from `TABLE_PLANE14` on.
static LEARNED: [AtomicU8; TABLE_LEN] = [const { AtomicU8::new(0) }; TABLE_LEN];
const TABLE_PLANE14: usize = 0x30000;
const TABLE_LEN: usize = TABLE_PLANE14 + 0x200;

/// Where `c`'s class is kept in `LEARNED`, if it is.
fn slot(c: char) -> Option<usize> {
    match c as usize {
        u if u < TABLE_PLANE14 => Some(u),
        u if (0xE0000..0xE0200).contains(&u) => Some(TABLE_PLANE14 + (u - 0xE0000)),
        _ => None,
    }
}

/// The class of `c`; `None` when the crate's breaks around it match no class.
fn class(c: char) -> Option<Class> {
    let u = c as usize;
    if u < 128 {
        return Some(ASCII[u]);
    }
    let Some(at) = slot(c) else {
        return probe_class(c);
    };
    let cached = LEARNED[at].load(Ordering::Relaxed);
    if cached != 0 {
        return Some(CLASSES[cached as usize - 1]);
    }
    let found = probe_class(c)?;
    LEARNED[at].store(found as u8, Ordering::Relaxed);
    Some(found)
}

/// A part of the rule window: one character's class, or a run of `Close` or of `Sp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Sot,
    Other,
    Cr,
    Lf,
    Sep,
    ATerm,
    UpperLower,
    Close,
    Sp,
    STerm,
}

fn part(c: Class) -> Part {
    match c {
        Class::Cr => Part::Cr,
        Class::Lf => Part::Lf,
        Class::Sep => Part::Sep,
        Class::ATerm => Part::ATerm,
        Class::Upper | Class::Lower => Part::UpperLower,
        Class::Close => Part::Close,
        Class::Sp => Part::Sp,
        Class::STerm => Part::STerm,
        _ => Part::Other,
    }
}

fn para_sep(p: Part) -> bool {
    matches!(p, Part::Sep | Part::Cr | Part::Lf)
}

fn sa_term(p: Part) -> bool {
    matches!(p, Part::ATerm | Part::STerm)
}

/// The last four parts before the current character, oldest first.
#[derive(Debug, Clone, Copy)]
struct Window([Part; 4]);

impl Window {
    const START: Window = Window([Part::Sot; 4]);

    fn head(&self) -> Part {
        self.0[3]
    }

    fn push(self, c: Class) -> Window {
        let p = self.0;
        match (p[3], c) {
            (Part::Close, Class::Close) | (Part::Sp, Class::Sp) => self,
            _ => Window([p[1], p[2], p[3], part(c)]),
        }
    }

    /// The part before a trailing `Sp+` and then `Close+` (`SATerm Close* Sp*`'s first).
    fn before_close_sp(&self) -> Part {
        let p = self.0;
        let mut i = if p[3] == Part::Sp { 2 } else { 3 };
        if p[i] == Part::Close {
            i -= 1;
        }
        p[i]
    }

    /// `SATerm Close*` ends here (SB9).
    fn sb9(&self) -> bool {
        let p = self.0;
        sa_term(p[if p[3] == Part::Close { 2 } else { 3 }])
    }

    /// `SATerm Close* Sp* ParaSep?` ends here (SB11).
    fn sb11(&self) -> bool {
        let p = self.0;
        let mut i = if para_sep(p[3]) { 2 } else { 3 };
        if p[i] == Part::Sp {
            i -= 1;
        }
        if p[i] == Part::Close {
            i -= 1;
        }
        sa_term(p[i])
    }

    /// No rule can break before the next character or look back past the head: the head is
    /// no paragraph separator and no terminator ends the window behind its trailing `Close`
    /// and `Sp` runs (the rules look back only through those runs, and SB7 only from a
    /// terminator at the head).
    fn quiet(&self) -> bool {
        !para_sep(self.head()) && !sa_term(self.before_close_sp())
    }
}

/// SB8's look-ahead from the current character: `(¬(OLetter | Upper | Lower | ParaSep |
/// SATerm))* Lower`.
fn lower_ahead(ahead: &str) -> Option<bool> {
    for c in ahead.chars() {
        match class(c)? {
            Class::Lower => return Some(true),
            Class::OLetter
            | Class::Upper
            | Class::Sep
            | Class::Cr
            | Class::Lf
            | Class::STerm
            | Class::ATerm => return Some(false),
            _ => {}
        }
    }
    Some(false)
}

/// Whether a sentence starts at the current character (class `c`, the text from it
/// `ahead`) after the window `w`, and the window after it.
fn step(w: Window, c: Class, ahead: &str) -> Option<(bool, Window)> {
    let next = w.push(c);
    let head = w.head();
    let joined = |w| Some((false, w));
    // SB1 (the text's start is not reported), SB3, SB4.
    if head == Part::Sot || (c == Class::Lf && head == Part::Cr) {
        return joined(next);
    }
    if para_sep(head) {
        return Some((true, next));
    }
    // SB5: Extend and Format take the class of what precedes them.
    if c == Class::Ignored {
        return joined(w);
    }
    // SB6, SB7.
    if (c == Class::Numeric && head == Part::ATerm)
        || (c == Class::Upper && w.0[2] == Part::UpperLower && head == Part::ATerm)
    {
        return joined(next);
    }
    // SB8.
    if w.before_close_sp() == Part::ATerm && lower_ahead(ahead)? {
        return joined(next);
    }
    // SB8a, SB9, SB10.
    let sb8a = sa_term(w.before_close_sp());
    let sp_or_sep = matches!(c, Class::Sp | Class::Sep | Class::Cr | Class::Lf);
    if (matches!(c, Class::SContinue | Class::STerm | Class::ATerm) && sb8a)
        || ((c == Class::Close || sp_or_sep) && w.sb9())
        || (sp_or_sep && sb8a)
    {
        return joined(next);
    }
    // SB11, then SB998.
    Some((w.sb11(), next))
}

/// In an ASCII text, the first `.`, `!`, `?`, CR or LF at or after `i` (the text's length
/// if none), found with SIMD searches; `next_line` caches the next CR or LF.
fn next_terminator(bytes: &[u8], i: usize, next_line: &mut Option<usize>) -> usize {
    let line = match *next_line {
        Some(l) if l >= i => l,
        _ => {
            let l = memchr2(b'\r', b'\n', &bytes[i..]).map_or(bytes.len(), |p| i + p);
            *next_line = Some(l);
            l
        }
    };
    memchr3(b'.', b'!', b'?', &bytes[i..line]).map_or(line, |p| i + p)
}

/// The sentences of a non-empty `text` as byte ranges; `None` when a character's class could
/// not be read off the crate.
fn ranges(text: &str) -> Option<Vec<(usize, usize)>> {
    let bytes = text.as_bytes();
    let ascii = text.is_ascii();
    let mut next_line = None;
    let mut out = Vec::new();
    let mut from = 0;
    let mut w = Window::START;
    let mut i = 0;
    while i < bytes.len() {
        if w.quiet() {
            let run = i;
            if ascii {
                i = next_terminator(bytes, i, &mut next_line);
            } else {
                while i < bytes.len() && !STOP[bytes[i] as usize] {
                    i += 1;
                }
            }
            if i > run {
                // Only the last part can matter to the rules from here (see `quiet`).
                let last = part(ASCII[bytes[i - 1] as usize]);
                w = Window([Part::Other, Part::Other, Part::Other, last]);
            }
            if i == bytes.len() {
                break;
            }
        }
        let (c, len) = match bytes[i] {
            b if b < 0x80 => (ASCII[b as usize], 1),
            _ => {
                let ch = text[i..].chars().next()?;
                (class(ch)?, ch.len_utf8())
            }
        };
        let (starts, next) = step(w, c, &text[i..])?;
        if starts {
            out.push((from, i));
            from = i;
        }
        w = next;
        i += len;
    }
    out.push((from, bytes.len()));
    Some(out)
}

/// The sentences of `text` (UAX #29) as byte ranges `[start, end)`, untrimmed, covering the
/// text in order: the segments of `split_sentence_bound_indices`.
pub(crate) fn sentence_ranges(text: &str) -> Vec<(usize, usize)> {
    if text.is_empty() {
        return Vec::new();
    }
    ranges(text).unwrap_or_else(|| {
        text.split_sentence_bound_indices()
            .map(|(i, s)| (i, i + s.len()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn crate_ranges(text: &str) -> Vec<(usize, usize)> {
        text.split_sentence_bound_indices()
            .map(|(i, s)| (i, i + s.len()))
            .collect()
    }

    #[test]
    fn every_class_breaks_the_probes_differently() {
        let sigs: Vec<u64> = REPRESENTATIVES.iter().map(|&(_, c)| signature(c)).collect();
        for (i, a) in sigs.iter().enumerate() {
            for b in &sigs[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_ascii_table_agrees_with_the_crate() {
        for b in 0u8..128 {
            let c = b as char;
            let want = match ASCII[b as usize] {
                // Line breaks behave as paragraph separators in every probe.
                Class::Cr | Class::Lf => Class::Sep,
                other => other,
            };
            assert_eq!(probe_class(c), Some(want), "{c:?}");
        }
    }

    #[test]
    fn the_cache_stores_and_restores_every_class() {
        for (i, &c) in CLASSES.iter().enumerate() {
            assert_eq!(c as usize, i + 1, "{c:?}");
        }
        for (want, c) in REPRESENTATIVES {
            let learned = class(c);
            assert_eq!(learned, Some(want), "{c:?} learned");
            assert_eq!(class(c), learned, "{c:?} read back");
        }
        for c in ['\u{1F600}', '\u{2000B}', '\u{E0067}', '\u{E0100}'] {
            let at = slot(c).unwrap();
            let learned = class(c).unwrap();
            assert_eq!(LEARNED[at].load(Ordering::Relaxed), learned as u8, "{c:?}");
            assert_eq!(class(c), Some(learned), "{c:?} read back");
        }
        assert_eq!(slot('\u{F0000}'), None);
    }

    #[test]
    fn hand_cases() {
        for text in [
            "",
            "One. Two two. Three! Four?",
            "Dr. Smith went to Washington. He arrived at 3.15 p.m. on the U.S.A. tour.",
            "He said \"Stop.\" Then left.  (Really?) yes. \r\n\r\nNew para\u{2029}x",
            "etc. and so on. E.g. this. 1.5 million. end...Next",
            "\u{301}a.\u{301} B", // marks at the start and after a terminator
            "Ünïcödé. Ärger! 日本語。次の文。 Русский текст. Ещё.",
            "a.\n\rb.\r\nc.\rd.\n\ne", // CR and LF in either order
            "Wow 😀. Next 𠀋. 🇫🇷\u{e0067} end. 󠄀x", // above the first plane
        ] {
            assert_eq!(sentence_ranges(text), crate_ranges(text), "{text:?}");
        }
    }

    #[test]
    fn equal_to_the_crate_on_the_test_collections() {
        let root = std::env::var("RAGPLAY_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
            });
        let mut collections = vec![crate::data::demo::collection().unwrap()];
        for name in ["scifact", "cranfield", "adi"] {
            collections.push(crate::data::load_beir(&root.join(name), "test").unwrap());
        }
        let mut documents = 0;
        for c in &collections {
            let texts = crate::data::schema::str_column(&c.corpus, "corpus", "text").unwrap();
            for text in crate::data::schema::str_values(texts) {
                assert_eq!(sentence_ranges(text), crate_ranges(text), "{text:?}");
                documents += 1;
            }
        }
        assert_eq!(documents, 100 + 5183 + 1400 + 82);
    }

    const ASCII_PIECES: [&str; 21] = [
        "a", "Z", "x", "7", ".", "!", "?", " ", "\t", "\r", "\n", "\r\n", ",", "-", ";", "\"", "'",
        "(", ")", "]", "#",
    ];

    const OTHER_PIECES: [&str; 17] = [
        "\u{a0}",
        "\u{2029}",
        "\u{85}",
        "\u{301}",
        "\u{ad}",
        "é",
        "É",
        "\u{5d0}",
        "\u{663}",
        "。",
        "」",
        "、",
        "…",
        "\u{1f600}",
        "\u{1d400}",
        "\u{e000}",
        "\u{ff0e}",
    ];

    fn text_of(pieces: Vec<&'static str>, max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(pieces), 0..max).prop_map(|v| v.concat())
    }

    fn alphabet() -> impl Strategy<Value = String> {
        text_of([&ASCII_PIECES[..], &OTHER_PIECES[..]].concat(), 40)
    }

    fn ascii() -> impl Strategy<Value = String> {
        text_of(ASCII_PIECES.to_vec(), 60)
    }

    proptest! {
        #[test]
        fn equal_to_the_crate_on_mixed_text(text in alphabet()) {
            prop_assert_eq!(sentence_ranges(&text), crate_ranges(&text));
        }

        #[test]
        fn equal_to_the_crate_on_ascii_text(text in ascii()) {
            prop_assert_eq!(sentence_ranges(&text), crate_ranges(&text));
        }

        #[test]
        fn equal_to_the_crate_on_any_text(text in any::<String>()) {
            prop_assert_eq!(sentence_ranges(&text), crate_ranges(&text));
        }
    }
}
