//! The generation stage: a run, its queries and corpus, and a model in; one answer row per
//! query out.
//!
//! For each query of the queries table, the best `context_k` documents of the run become
//! the numbered context of the prompt; the model answers all queries at once (in-process on
//! all cores, or concurrently over HTTP), through the response cache when one is given.
//! The table has a row for every query, also for those that failed (with the cause) or have
//! no retrieved documents (`failure = "no_context"`), so that answer metrics, statistics
//! and gates apply to it like to any per-query table.

use std::collections::HashMap;

use polars::prelude::*;

use super::cache::{complete_cached, ResponseCache};
use super::prompt::{ContextOptions, Prompt};
use super::{ChatRequest, Completion, FailureKind, Llm, Sampling};
use crate::cancel::Cancel;
use crate::data::documents::{join, DocumentTexts};
use crate::data::schema::{self, table, QUERY_ID, TEXT, TITLE};
use crate::error::{Error, Result};

/// Column names of an answers table.
pub mod columns {
    pub const ANSWER: &str = "answer";
    pub const CONTEXT_DOC_IDS: &str = "context_doc_ids";
    pub const PROMPT_TOKENS: &str = "prompt_tokens";
    pub const COMPLETION_TOKENS: &str = "completion_tokens";
    pub const LATENCY_MS: &str = "latency_ms";
    pub const COST_USD: &str = "cost_usd";
    pub const FINISH_REASON: &str = "finish_reason";
    pub const CACHED: &str = "cached";
    pub const FAILURE: &str = "failure";
    pub const ERROR: &str = "error";
    pub const PASSAGES_TRUNCATED: &str = "passages_truncated";
}

/// US dollars per million tokens, prompt and completion.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrices {
    pub prompt: f64,
    pub completion: f64,
}

/// Everything that shapes the answers.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub prompt: Prompt,
    pub context: ContextOptions,
    pub sampling: Sampling,
    pub prices: TokenPrices,
}

impl GenerateOptions {
    /// Reject a prompt, context or sampling setting outside its domain.
    pub fn validate(&self) -> Result<()> {
        self.prompt.validate()?;
        self.context.validate()?;
        self.sampling.validate()
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            prompt: Prompt::default(),
            context: ContextOptions::default(),
            sampling: Sampling::default(),
            prices: TokenPrices {
                prompt: 0.15,
                completion: 0.60,
            },
        }
    }
}

/// A corpus' passages by document id (title and text joined, as the retrievers read them),
/// indexed once for many calls (a pipeline answers one query at a time).
pub struct Passages {
    index: HashMap<String, usize>,
    titles: Option<StringChunked>,
    texts: StringChunked,
}

impl Passages {
    pub fn new(corpus: &DataFrame) -> Result<Self> {
        let docs = DocumentTexts::new(corpus)?;
        let index = schema::str_values(docs.ids)
            .enumerate()
            .map(|(i, d)| (d.to_owned(), i))
            .collect();
        let column = |name| -> Result<StringChunked> {
            let mut c = schema::str_column(corpus, table::CORPUS, name)?.clone();
            c.rechunk_mut();
            Ok(c)
        };
        Ok(Self {
            index,
            titles: schema::has_column(corpus, TITLE)
                .then(|| column(TITLE))
                .transpose()?,
            texts: column(TEXT)?,
        })
    }

    /// The passage of document `doc_id`, `None` when the corpus does not hold it.
    pub fn get(&self, doc_id: &str) -> Option<String> {
        let &i = self.index.get(doc_id)?;
        let title = self.titles.as_ref().and_then(|t| t.get(i)).unwrap_or("");
        let text = self.texts.get(i).unwrap_or("");
        Some(join(title, text).into_owned())
    }
}

/// One query's request, or the reason there is none.
enum Planned {
    Ask(ChatRequest, Vec<String>, usize),
    NoContext,
}

/// Answer every query of `queries` from the documents `run` retrieved for it.
pub fn generate(
    run: &DataFrame,
    queries: &DataFrame,
    corpus: &DataFrame,
    llm: &dyn Llm,
    options: &GenerateOptions,
    cache: Option<&ResponseCache>,
    cancel: &Cancel,
) -> Result<DataFrame> {
    if run.height() == 0 {
        return Err(Error::Empty {
            what: "the run".into(),
        });
    }
    let passages = Passages::new(corpus)?;
    generate_rows(run, queries, &passages, llm, options, cache, cancel)
}

/// [`generate`] for a run that may be empty (a pipeline that found nothing for a query):
/// every query without documents is a `no_context` row.
pub fn generate_rows(
    run: &DataFrame,
    queries: &DataFrame,
    passages: &Passages,
    llm: &dyn Llm,
    options: &GenerateOptions,
    cache: Option<&ResponseCache>,
    cancel: &Cancel,
) -> Result<DataFrame> {
    options.validate()?;
    let view = crate::run::validate(run)?;
    let groups = crate::run::ranked_groups(&view)?;
    let by_query: HashMap<&str, &[(&str, f64)]> = groups
        .iter()
        .map(|(q, rows)| (*q, rows.as_slice()))
        .collect();
    let qids: Vec<&str> =
        schema::str_values(schema::str_column(queries, table::QUERIES, QUERY_ID)?).collect();
    let qtexts: Vec<&str> =
        schema::str_values(schema::str_column(queries, table::QUERIES, TEXT)?).collect();
    let mut planned = Vec::with_capacity(qids.len());
    for (qid, question) in qids.iter().zip(&qtexts) {
        let Some(rows) = by_query.get(qid).filter(|r| !r.is_empty()) else {
            planned.push(Planned::NoContext);
            continue;
        };
        let mut ranked = Vec::new();
        for (doc, _) in rows.iter().take(options.context.context_k * 2 + 8) {
            let text = passages.get(doc).ok_or_else(|| Error::UnknownId {
                kind: "document",
                id: (*doc).to_owned(),
                location: format!("the run (query {qid:?}); it is not in the corpus"),
            })?;
            ranked.push((*doc, text));
        }
        let context = options.context.build(&ranked, llm)?;
        let messages = options.prompt.messages(question, &context.text)?;
        let request = ChatRequest {
            messages,
            sampling: options.sampling.clone(),
        };
        planned.push(Planned::Ask(request, context.doc_ids, context.truncated));
    }
    let requests: Vec<ChatRequest> = planned
        .iter()
        .filter_map(|p| match p {
            Planned::Ask(r, _, _) => Some(r.clone()),
            Planned::NoContext => None,
        })
        .collect();
    cancel.start("answer", requests.len() as u64);
    let mut done = complete_cached(llm, &requests, cache, cancel)?.into_iter();
    let mut rows: Vec<(Completion, Vec<String>, usize)> = Vec::with_capacity(planned.len());
    for (p, qid) in planned.into_iter().zip(&qids) {
        rows.push(match p {
            Planned::Ask(_, ids, cut) => (done.next().unwrap_or_default(), ids, cut),
            Planned::NoContext => (
                Completion::failed(
                    FailureKind::NoContext,
                    format!("query {qid:?} has no retrieved documents in the run"),
                    None,
                ),
                Vec::new(),
                0,
            ),
        });
    }
    answers_table(&qids, &rows, options.prices)
}

fn answers_table(
    qids: &[&str],
    rows: &[(Completion, Vec<String>, usize)],
    prices: TokenPrices,
) -> Result<DataFrame> {
    use columns::*;
    let c = |f: &dyn Fn(&Completion) -> Option<u32>| -> Vec<Option<u32>> {
        rows.iter().map(|(c, _, _)| f(c)).collect()
    };
    let lists: Vec<Series> = rows
        .iter()
        .map(|(_, ids, _)| Series::new("".into(), ids.as_slice()))
        .collect();
    let cost: Vec<Option<f64>> = rows
        .iter()
        .map(|(c, _, _)| {
            Some(
                c.prompt_tokens? as f64 * prices.prompt / 1e6
                    + c.completion_tokens.unwrap_or(0) as f64 * prices.completion / 1e6,
            )
        })
        .collect();
    let mut context_ids = Series::new(CONTEXT_DOC_IDS.into(), lists.as_slice());
    if rows.iter().all(|(_, ids, _)| ids.is_empty()) {
        context_ids = context_ids.cast(&DataType::List(Box::new(DataType::String)))?;
    }
    let df = DataFrame::new(
        qids.len(),
        vec![
            Column::new(QUERY_ID.into(), qids),
            Column::new(
                ANSWER.into(),
                rows.iter()
                    .map(|(c, _, _)| c.text.clone())
                    .collect::<Vec<_>>(),
            ),
            context_ids.into(),
            Column::new(
                PROMPT_TOKENS.into(),
                c(&|c| c.prompt_tokens.map(|n| n as u32)),
            ),
            Column::new(
                COMPLETION_TOKENS.into(),
                c(&|c| c.completion_tokens.map(|n| n as u32)),
            ),
            Column::new(
                LATENCY_MS.into(),
                rows.iter()
                    .map(|(c, _, _)| c.latency_ms)
                    .collect::<Vec<_>>(),
            ),
            Column::new(COST_USD.into(), cost),
            Column::new(
                FINISH_REASON.into(),
                rows.iter()
                    .map(|(c, _, _)| c.finish_reason.clone())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                CACHED.into(),
                rows.iter().map(|(c, _, _)| c.cached).collect::<Vec<_>>(),
            ),
            Column::new(
                FAILURE.into(),
                rows.iter()
                    .map(|(c, _, _)| c.failure.map(|f| f.name()))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                ERROR.into(),
                rows.iter()
                    .map(|(c, _, _)| c.error.clone())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                PASSAGES_TRUNCATED.into(),
                rows.iter().map(|(_, _, n)| *n as u32).collect::<Vec<_>>(),
            ),
        ],
    )?;
    Ok(df)
}
