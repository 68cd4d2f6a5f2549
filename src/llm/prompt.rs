//! Prompts and context engineering as values.
//!
//! A [`Prompt`] is a system text and a user text with `{question}` and `{context}`
//! placeholders (`{{` and `}}` stand for literal braces; any other placeholder is an error
//! that names it). [`ContextOptions`] say which retrieved passages go into `{context}` and
//! how: how many (`context_k`), in which order (as ranked, reversed, or best at both ends
//! against the "lost in the middle" effect of Liu et al., TACL 2024), duplicates removed, and
//! token budgets per passage and in total, counted with the model's own tokenizer. Passages
//! are numbered `[1]`, `[2]`, … in the order the model sees them, for citation.

use serde::{Deserialize, Serialize};

use super::template::Message;
use super::Llm;
use crate::error::{Error, Result};
use crate::options::option_enum;

/// The placeholders a prompt may use.
pub const PLACEHOLDERS: &[&str] = &["question", "context"];

/// The default system text.
pub const DEFAULT_SYSTEM: &str = "Answer the question using only the numbered passages. \
Cite the passages you use as [n]. If the passages do not contain the answer, say that you \
do not know.";

/// The default user text.
pub const DEFAULT_USER: &str = "Passages:\n{context}\n\nQuestion: {question}";

/// A system and a user message with placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prompt {
    pub system: Option<String>,
    pub user: String,
}

impl Default for Prompt {
    fn default() -> Self {
        Self {
            system: Some(DEFAULT_SYSTEM.to_owned()),
            user: DEFAULT_USER.to_owned(),
        }
    }
}

/// One piece of a template: literal text or a placeholder.
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Slot(&'a str),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push(Piece::Text(&rest[..i]));
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(Piece::Brace(tail.as_bytes()[0] as char));
            rest = &tail[2..];
        } else if let Some(stripped) = tail.strip_prefix('{') {
            let end = stripped
                .find('}')
                .ok_or_else(|| Error::config("prompt", format!("unclosed '{{' in {template:?}")))?;
            out.push(Piece::Slot(&stripped[..end]));
            rest = &stripped[end + 1..];
        } else {
            return Err(Error::config(
                "prompt",
                format!("a single '}}' in {template:?}; write '}}}}' for a literal brace"),
            ));
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

impl Prompt {
    /// A prompt, checked: unknown placeholders are an error naming them.
    pub fn new(system: Option<String>, user: String) -> Result<Self> {
        let p = Self { system, user };
        p.validate()?;
        Ok(p)
    }

    /// Check both texts' placeholders.
    pub fn validate(&self) -> Result<()> {
        let mut unknown = Vec::new();
        for t in self.system.iter().chain([&self.user]) {
            for piece in parse(t)? {
                if let Piece::Slot(name) = piece {
                    if !PLACEHOLDERS.contains(&name) && !unknown.contains(&name.to_owned()) {
                        unknown.push(name.to_owned());
                    }
                }
            }
        }
        if !unknown.is_empty() {
            return Err(Error::config(
                "prompt",
                format!(
                    "unknown placeholder(s) {}; use {{question}} and {{context}}",
                    unknown
                        .iter()
                        .map(|u| format!("{{{u}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The chat messages for one question and its context text.
    pub fn messages(&self, question: &str, context: &str) -> Result<Vec<Message>> {
        let fill = |t: &str| -> Result<String> {
            let mut s = String::with_capacity(t.len() + context.len() + question.len());
            for piece in parse(t)? {
                match piece {
                    Piece::Text(x) => s.push_str(x),
                    Piece::Brace(c) => s.push(c),
                    Piece::Slot("question") => s.push_str(question),
                    Piece::Slot("context") => s.push_str(context),
                    Piece::Slot(other) => {
                        return Err(Error::config(
                            "prompt",
                            format!("unknown placeholder {{{other}}}"),
                        ))
                    }
                }
            }
            Ok(s)
        };
        let mut out = Vec::new();
        if let Some(system) = &self.system {
            out.push(Message::new("system", &fill(system)?));
        }
        out.push(Message::new("user", &fill(&self.user)?));
        Ok(out)
    }
}

option_enum! {
    /// The order of passages in the context.
    pub enum ContextOrder: "context_order" {
        /// Best first, as retrieved.
        Ranked => "ranked",
        /// Best last, next to the question.
        Reversed => "reversed",
        /// Best at both ends, weakest in the middle (1st, 3rd, 5th, …, 6th, 4th, 2nd).
        Ends => "ends",
    }
}

/// Which passages go into `{context}`, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextOptions {
    /// Passages taken from the top of the ranking.
    pub context_k: usize,
    /// Their order in the prompt.
    #[serde(with = "order_name")]
    pub order: ContextOrder,
    /// Cut each passage to this many tokens.
    pub passage_tokens: Option<usize>,
    /// Stop adding passages before the context would exceed this many tokens.
    pub context_tokens: Option<usize>,
    /// Leave out passages whose text repeats an earlier one's.
    pub dedup: bool,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self {
            context_k: 5,
            order: ContextOrder::Ranked,
            passage_tokens: None,
            context_tokens: None,
            dedup: true,
        }
    }
}

mod order_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::ContextOrder;

    pub fn serialize<S: Serializer>(o: &ContextOrder, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(o.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ContextOrder, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The context of one question: its text, and which documents went in, in prompt order.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub text: String,
    pub doc_ids: Vec<String>,
    /// Passages cut to `passage_tokens`.
    pub truncated: usize,
}

/// Positions `0..n` in `order`.
pub fn arrange(n: usize, order: ContextOrder) -> Vec<usize> {
    match order {
        ContextOrder::Ranked => (0..n).collect(),
        ContextOrder::Reversed => (0..n).rev().collect(),
        ContextOrder::Ends => {
            let front = (0..n).step_by(2);
            let back: Vec<usize> = (1..n).step_by(2).collect();
            front.chain(back.into_iter().rev()).collect()
        }
    }
}

impl ContextOptions {
    /// Check the options.
    pub fn validate(&self) -> Result<()> {
        if self.context_k == 0 {
            return Err(Error::config("context_k", "must be at least 1"));
        }
        if self.passage_tokens == Some(0) || self.context_tokens == Some(0) {
            return Err(Error::config(
                "context budget",
                "a token budget must be at least 1",
            ));
        }
        Ok(())
    }

    /// Build the context from ranked `(doc_id, text)` passages, best first.
    pub fn build(&self, ranked: &[(&str, String)], llm: &dyn Llm) -> Result<Context> {
        let mut chosen: Vec<(&str, String, bool)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (id, text) in ranked {
            if chosen.len() == self.context_k {
                break;
            }
            let norm: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if self.dedup && !seen.insert(norm) {
                continue;
            }
            let (text, cut) = match self.passage_tokens {
                Some(n) => match llm.truncate(text, n)? {
                    Some(t) => {
                        let cut = t.len() < text.len();
                        (t, cut)
                    }
                    None => return Err(no_tokenizer("passage_tokens")),
                },
                None => (text.clone(), false),
            };
            chosen.push((id, text, cut));
        }
        if let Some(budget) = self.context_tokens {
            let mut used = 0usize;
            let mut keep = 0;
            for (i, (_, text, _)) in chosen.iter().enumerate() {
                let n = llm
                    .count_tokens(&passage(i + 1, text))?
                    .ok_or_else(|| no_tokenizer("context_tokens"))?;
                if used + n > budget {
                    break;
                }
                used += n;
                keep = i + 1;
            }
            chosen.truncate(keep);
        }
        let order = arrange(chosen.len(), self.order);
        let mut text = String::new();
        let mut doc_ids = Vec::with_capacity(order.len());
        for (n, &i) in order.iter().enumerate() {
            if n > 0 {
                text.push_str("\n\n");
            }
            text.push_str(&passage(n + 1, &chosen[i].1));
            doc_ids.push(chosen[i].0.to_owned());
        }
        Ok(Context {
            text,
            doc_ids,
            truncated: chosen.iter().filter(|c| c.2).count(),
        })
    }
}

/// A numbered passage.
fn passage(n: usize, text: &str) -> String {
    format!("[{n}] {text}")
}

fn no_tokenizer(option: &'static str) -> Error {
    Error::config(
        option,
        "counting tokens needs the model's tokenizer, which this backend does not have here",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_puts_the_best_at_both_ends() {
        assert_eq!(arrange(5, ContextOrder::Ends), [0, 2, 4, 3, 1]);
        assert_eq!(arrange(4, ContextOrder::Ends), [0, 2, 3, 1]);
        assert_eq!(arrange(3, ContextOrder::Reversed), [2, 1, 0]);
    }

    #[test]
    fn placeholders_are_filled_and_braces_escaped() {
        let p = Prompt::new(None, "Q: {question} {{x}} C: {context}".into()).unwrap();
        let m = p.messages("why?", "[1] a").unwrap();
        assert_eq!(m[0].content, "Q: why? {x} C: [1] a");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let e = Prompt::new(Some("{persona}".into()), "{question} {docs}".into()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("{persona}") && msg.contains("{docs}"), "{msg}");
    }
}
