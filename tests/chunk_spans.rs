//! Span qrels, enrichment and chunked retrieval without Python: chunk qrels against a naive
//! reference over random Unicode texts and spans for every strategy, bad spans named,
//! enriched text against a naive rendering with offsets unchanged, and `Chunked` against the
//! same calls made by hand.

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use ragplay::cancel::never;
use ragplay::chunk::{self, chunk_qrels, enrich, Aggregate, ChunkOptions, Strategy, Template};
use ragplay::data::schema::{
    str_values, CHUNK_ID, DOC_ID, END, QUERY_ID, RELEVANCE, START, TEXT, TITLE,
};
use ragplay::pipeline::Chunked;
use ragplay::polars::prelude::*;
use ragplay::retrieve::shared;
use ragplay::retrieve::{Bm25, Bm25Config, Retriever};
use ragplay::Error;

const PIECES: [&str; 8] = [
    "word ",
    "e\u{301} ",
    "日本語の文章です。",
    "A sentence ends here. ",
    "\n\n",
    "# Heading\n",
    "xxxxxxxxxxxxxxxxx",
    "👩‍👩‍👧 ",
];

fn texts() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
    let text = proptest::collection::vec(0..PIECES.len(), 1..40)
        .prop_map(|ix| ix.into_iter().map(|i| PIECES[i]).collect::<String>());
    proptest::collection::vec(text, 1..4)
}

fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    str_values(df.column(name).unwrap().str().unwrap())
        .map(str::to_owned)
        .collect()
}

fn ints(df: &DataFrame, name: &str) -> Vec<i64> {
    let c = df.column(name).unwrap().cast(&DataType::Int64).unwrap();
    c.i64().unwrap().into_no_null_iter().collect()
}

fn corpus_of(texts: &[String]) -> DataFrame {
    let ids: Vec<String> = (0..texts.len()).map(|i| format!("d{i}")).collect();
    df!(DOC_ID => ids, TEXT => texts.to_vec()).unwrap()
}

/// The rule of `chunk_qrels`, with overlaps counted as sets of character positions.
fn reference(
    spans: &[(String, String, i64, i64, i32)],
    chunks: &DataFrame,
    min_overlap: f64,
) -> Vec<(String, String, i32)> {
    let (docs, ids) = (strings(chunks, DOC_ID), strings(chunks, CHUNK_ID));
    let (starts, ends) = (ints(chunks, START), ints(chunks, END));
    let mut queries: Vec<&str> = Vec::new();
    let mut best = std::collections::BTreeMap::new();
    for (q, d, s, e, r) in spans {
        if !queries.contains(&q.as_str()) {
            queries.push(q);
        }
        let qi = queries.iter().position(|x| x == q).unwrap();
        for i in 0..ids.len() {
            if &docs[i] != d {
                continue;
            }
            let shared = (*s..*e)
                .filter(|p| (starts[i]..ends[i]).contains(p))
                .count() as f64;
            let shorter = (e - s).min(ends[i] - starts[i]) as f64;
            if shared > 0.0 && shared >= min_overlap * shorter {
                let v = best.entry((qi, i)).or_insert(*r);
                *v = (*v).max(*r);
            }
        }
    }
    best.into_iter()
        .map(|((q, i), r)| (queries[q].to_owned(), ids[i].clone(), r))
        .collect()
}

fn span_frame(spans: &[(String, String, i64, i64, i32)]) -> DataFrame {
    df!(
        QUERY_ID => spans.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        DOC_ID => spans.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
        START => spans.iter().map(|s| s.2).collect::<Vec<_>>(),
        END => spans.iter().map(|s| s.3).collect::<Vec<_>>(),
        RELEVANCE => spans.iter().map(|s| s.4).collect::<Vec<_>>(),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chunk_qrels_follow_the_rule(
        texts in texts(),
        strategy in prop_oneof![
            Just(Strategy::Fixed),
            Just(Strategy::Sentence),
            Just(Strategy::Recursive),
            Just(Strategy::Markdown),
        ],
        size in 8usize..60,
        min_overlap in prop_oneof![Just(0.0), Just(0.5), Just(1.0)],
        draws in proptest::collection::vec((0usize..3, any::<u32>(), any::<u32>(), 0i32..3), 0..8),
    ) {
        let corpus = corpus_of(&texts);
        let options = ChunkOptions { strategy, size, ..Default::default() };
        let chunks = chunk::chunk(&corpus, &options, None, never()).unwrap();
        let spans: Vec<_> = draws
            .into_iter()
            .map(|(q, a, b, r)| {
                let doc = a as usize % texts.len();
                let len = texts[doc].chars().count() as i64;
                let start = i64::from(a) % len;
                let end = start + 1 + i64::from(b) % (len - start);
                (format!("q{q}"), format!("d{doc}"), start, end, r)
            })
            .collect();
        let got = chunk_qrels(&span_frame(&spans), &chunks, &corpus, min_overlap).unwrap();
        let rows: Vec<(String, String, i32)> = strings(&got, QUERY_ID)
            .into_iter()
            .zip(strings(&got, DOC_ID))
            .zip(ints(&got, RELEVANCE))
            .map(|((q, d), r)| (q, d, r as i32))
            .collect();
        prop_assert_eq!(rows, reference(&spans, &chunks, min_overlap));
    }
}

#[test]
fn bad_spans_name_query_document_and_range() {
    let corpus = corpus_of(&["héllo world".to_owned()]);
    let chunks = chunk::chunk(&corpus, &ChunkOptions::default(), None, never()).unwrap();
    let err = |s: (&str, &str, i64, i64, i32)| {
        let spans = [(s.0.to_owned(), s.1.to_owned(), s.2, s.3, s.4)];
        chunk_qrels(&span_frame(&spans), &chunks, &corpus, 0.5).unwrap_err()
    };
    assert!(matches!(
        err(("q", "d0", 2, 12, 1)),
        Error::Span { ref query_id, start: 2, end: 12, .. } if query_id == "q"
    ));
    assert!(err(("q", "d0", 4, 4, 1)).to_string().contains("[4, 4)"));
    assert!(err(("q", "d0", 0, 1, -2)).to_string().contains("negative"));
    assert!(matches!(err(("q", "zz", 0, 1, 1)), Error::UnknownId { .. }));
    assert!(chunk_qrels(&span_frame(&[]), &chunks, &corpus, 1.5).is_err());
}

#[test]
fn enriched_text_renders_the_template_and_keeps_offsets() {
    let corpus = df!(
        DOC_ID => ["a", "b"],
        TITLE => [Some("Title A"), None],
        TEXT => ["One two three. Four five six. Seven.", "Alone."],
    )
    .unwrap();
    let options = ChunkOptions {
        strategy: Strategy::Sentence,
        size: 16,
        ..Default::default()
    };
    let chunks = chunk::chunk(&corpus, &options, None, never()).unwrap();
    let template: Template = "{title}\n{prev}|{text}|{next} {{{doc_id}}}"
        .parse()
        .unwrap();
    let out = enrich(&chunks, &corpus, &template).unwrap();
    let texts = strings(&chunks, TEXT);
    let expected = [
        format!("Title A\n|{}|{} {{a}}", texts[0], texts[1]),
        format!("Title A\n{}|{}|{} {{a}}", texts[0], texts[1], texts[2]),
        format!("Title A\n{}|{}| {{a}}", texts[1], texts[2]),
        "|Alone.| {b}".to_owned(),
    ];
    assert_eq!(strings(&out, TEXT), expected);
    assert!(out
        .drop(TEXT)
        .unwrap()
        .equals_missing(&chunks.drop(TEXT).unwrap()));
    let bad = "{text} {body}".parse::<Template>().unwrap_err().to_string();
    assert!(bad.contains("{body}") && bad.contains("{next}"), "{bad}");
}

#[test]
fn chunked_equals_the_calls_by_hand() {
    let corpus = df!(
        DOC_ID => ["a", "b", "c"],
        TITLE => ["Cats", "Dogs", "Birds"],
        TEXT => [
            "Cats sleep a lot. They purr when happy. Cats hunt mice at night.",
            "Dogs bark at strangers. Dogs love long walks in the park.",
            "Birds sing in the morning. Some birds migrate south for winter.",
        ],
    )
    .unwrap();
    let queries = df!(QUERY_ID => ["1", "2"], TEXT => ["cats hunt", "walks in the park"]).unwrap();
    let options = ChunkOptions {
        strategy: Strategy::Sentence,
        size: 30,
        ..Default::default()
    };
    let template: Template = "{title}\n\n{text}".parse().unwrap();
    let inner = shared(Bm25::new(Bm25Config::default()).unwrap());
    let mut chunked = Chunked::new(
        inner,
        options.clone(),
        None,
        Some(template.clone()),
        Aggregate::MaxP,
        None,
    )
    .unwrap();
    chunked.index(&corpus, never()).unwrap();
    let run = chunked.search(&queries, 2, None, never()).unwrap();

    let chunks = enrich(
        &chunk::chunk(&corpus, &options, None, never()).unwrap(),
        &corpus,
        &template,
    )
    .unwrap();
    let chunk_corpus =
        df!(DOC_ID => strings(&chunks, CHUNK_ID), TEXT => strings(&chunks, TEXT)).unwrap();
    let bm25 = Bm25::build(Bm25Config::default(), &chunk_corpus, never()).unwrap();
    let chunk_run = bm25.search(&queries, 20, None, never()).unwrap();
    let by_hand = chunk::to_documents(&chunk_run, &chunks, Aggregate::MaxP, Some(2)).unwrap();
    assert!(run.equals(&by_hand), "{run}\n{by_hand}");
    assert_eq!(strings(&run, DOC_ID)[0], "a");
    let allowed = chunked
        .search(&queries, 2, Some(&["b".to_owned()]), never())
        .unwrap();
    assert!(strings(&allowed, DOC_ID).iter().all(|d| d == "b"));
}
