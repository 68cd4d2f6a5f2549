//! The demo collection: the manual of a fictional home server, "Cairn", written by ragplay
//! itself, with questions and span-level judgements. It is built so that the choices a
//! retrieval lab compares change the outcome, as they do on real documentation:
//!
//! * **Pages are long and multi-section.** Each of the 100 pages (25 features × 4 page kinds:
//!   getting started, configuration, reference, troubleshooting) is Markdown: a `#` title,
//!   an overview, four topic sections and a list of messages, about 1,500 characters, so an
//!   encoder that reads 256 tokens never sees the last sections of a whole page.
//! * **Sections do not repeat the feature's name.** Every feature has the same kinds of
//!   topics (retention period, retries, network port, …), written the same way; a section's
//!   own text says which topic it covers, only the page title and heading path say which
//!   feature. A chunk without its title or section path matches the same topic of 24 other
//!   features; enrichment (`{title}`, `{section}`) tells them apart.
//! * **Half of the topic questions are paraphrases** ("how long does … keep old copies")
//!   that share few words with the section; the other half use its words. Error-code
//!   questions ("what does error CRN-4412 mean") name a code that only one line of the
//!   corpus holds. Lexical and dense retrieval each miss what the other finds, which is what
//!   fusion is for.
//!
//! 200 questions: 150 about a topic section (one per page, and a second on every other page)
//! and 50 about an error code (two per troubleshooting page). A span judgement marks the
//! characters that answer: the whole topic section (heading included) or the code's line.
//! Document qrels (relevance 1) are the documents of the spans. Text is ASCII, so character
//! and byte offsets agree. Everything is drawn from a fixed-seed generator: the collection
//! is the same on every machine and in every version that does not change this file.

use polars::prelude::*;

use super::beir::Beir;
use super::schema::{self, DOC_ID, END, QUERY_ID, RELEVANCE, START, TEXT, TITLE};
use crate::error::Result;
use crate::rng::SplitMix64;

/// A feature of the product: its name in titles, and in questions (lower case).
const FEATURES: [(&str, &str); 25] = [
    ("Snapshots", "snapshots"),
    ("Cloud backup", "cloud backup"),
    ("Replication", "replication"),
    ("Storage pools", "storage pools"),
    ("Disk health", "disk health checks"),
    ("User accounts", "user accounts"),
    ("Shared folders", "shared folders"),
    ("Quotas", "quotas"),
    ("Single sign-on", "single sign-on"),
    ("API tokens", "API tokens"),
    ("Alerts", "alerts"),
    ("Webhooks", "webhooks"),
    ("Audit log", "the audit log"),
    ("Task scheduler", "the task scheduler"),
    ("Firmware updates", "firmware updates"),
    ("Power schedule", "the power schedule"),
    ("Fan control", "fan control"),
    ("Network bonding", "network bonding"),
    ("VPN server", "the VPN server"),
    ("Remote access", "remote access"),
    ("Media server", "the media server"),
    ("Photo library", "the photo library"),
    ("Antivirus", "the antivirus scanner"),
    ("Volume encryption", "volume encryption"),
    ("Mobile app", "the mobile app"),
];

/// The kinds of page every feature has.
const PAGES: [&str; 4] = [
    "getting started",
    "configuration",
    "reference",
    "troubleshooting",
];

/// A topic every feature's pages cover: the heading, the section's sentences (`{v}` is a
/// drawn value), the question that uses the section's words and the paraphrase (`{f}` is
/// the feature's name).
struct Topic {
    heading: &'static str,
    body: &'static [&'static str],
    values: &'static [&'static str],
    lexical: &'static str,
    paraphrase: &'static str,
}

const TOPICS: [Topic; 16] = [
    Topic {
        heading: "Retention period",
        body: &["Copies older than the retention period are deleted automatically during the nightly cleanup.", "The default retention period is {v} days; any value from 1 to 3650 days is accepted."],
        values: &["7", "14", "30", "60", "90", "180"],
        lexical: "What is the default retention period for {f}?",
        paraphrase: "How long does {f} keep old copies before removing them?",
    },
    Topic {
        heading: "Run schedule",
        body: &["Jobs start at {v}:00 every night unless the run schedule says otherwise.", "The run schedule accepts cron expressions, so hourly or weekly runs are possible as well."],
        values: &["1", "2", "3", "4", "22", "23"],
        lexical: "How do I change the run schedule of {f}?",
        paraphrase: "Can {f} be set to begin at a different hour of the day?",
    },
    Topic {
        heading: "Email notifications",
        body: &["An email notification is sent to the administrator whenever a job fails.", "Add further recipients under Settings, one address per line, up to {v} recipients."],
        values: &["5", "10", "20", "25"],
        lexical: "How many recipients can receive email notifications from {f}?",
        paraphrase: "Who gets told by mail when {f} goes wrong, and can I add more people?",
    },
    Topic {
        heading: "Bandwidth limit",
        body: &["Transfers are throttled to {v} Mbit/s by default so that other traffic is not starved.", "Set the bandwidth limit to 0 to remove the throttle entirely."],
        values: &["20", "50", "100", "250"],
        lexical: "What is the default bandwidth limit of {f}?",
        paraphrase: "Why is {f} so slow when copying data across the network?",
    },
    Topic {
        heading: "Connection timeout",
        body: &["Connections that stay silent for {v} seconds are closed.", "Raise the connection timeout on slow or congested links."],
        values: &["15", "30", "60", "120"],
        lexical: "What is the connection timeout of {f}?",
        paraphrase: "{F} keeps dropping the link on my slow line; what can I change?",
    },
    Topic {
        heading: "Log files",
        body: &["Diagnostic log files are written to the logs folder and rotated when they reach {v} MB.", "Attach the log files when you contact support."],
        values: &["10", "25", "50", "100"],
        lexical: "Where are the log files of {f} kept?",
        paraphrase: "What should I send to the help desk when {f} misbehaves?",
    },
    Topic {
        heading: "Required permissions",
        body: &["Only members of the {v} group have the permissions required to change these settings.", "Other users see the page read-only."],
        values: &["administrators", "operators", "storage-admins", "owners"],
        lexical: "Which permissions are required to configure {f}?",
        paraphrase: "Why is my colleague unable to edit the {f} settings?",
    },
    Topic {
        heading: "Free disk space",
        body: &["Keep at least {v} percent of the pool free.", "Below that, new jobs are postponed until disk space is reclaimed."],
        values: &["5", "10", "15", "20"],
        lexical: "How much free disk space does {f} need?",
        paraphrase: "{F} stopped starting new jobs after the drives filled up. Why?",
    },
    Topic {
        heading: "Network port",
        body: &["The service listens on TCP port {v}.", "Open this network port in your firewall when clients connect from another subnet."],
        values: &["5443", "6080", "7010", "8443", "9091"],
        lexical: "Which network port does {f} listen on?",
        paraphrase: "What must the firewall let through so that devices on another subnet reach {f}?",
    },
    Topic {
        heading: "Concurrent jobs",
        body: &["At most {v} concurrent jobs run at the same time.", "Further jobs wait in a queue and start as others finish."],
        values: &["2", "3", "4", "8"],
        lexical: "How many concurrent jobs can {f} run?",
        paraphrase: "Why do some {f} tasks sit waiting instead of starting right away?",
    },
    Topic {
        heading: "Factory reset",
        body: &["A factory reset returns every setting on this page to its default value.", "Data already stored is kept; the reset takes about {v} seconds."],
        values: &["10", "20", "30", "45"],
        lexical: "How do I factory reset the settings of {f}?",
        paraphrase: "I broke the {f} setup; how do I go back to how it was out of the box?",
    },
    Topic {
        heading: "Export and import",
        body: &["The configuration can be exported as a JSON file.", "Import it on another unit running firmware {v} or later."],
        values: &["3.2", "3.4", "4.0", "4.1"],
        lexical: "How can I export the configuration of {f}?",
        paraphrase: "Is there a way to copy my {f} setup over to a second box?",
    },
    Topic {
        heading: "Pausing",
        body: &["Pausing stops new jobs without cancelling the one that is running.", "A paused job resumes automatically after {v} hours unless it is resumed by hand."],
        values: &["2", "6", "12", "24"],
        lexical: "How long does {f} stay paused?",
        paraphrase: "If I put {f} on hold, when does it carry on by itself?",
    },
    Topic {
        heading: "Retries",
        body: &["A failed job is retried up to {v} times before it is marked as failed.", "Retries wait five minutes between attempts."],
        values: &["3", "5", "7", "10"],
        lexical: "How many times does {f} retry a failed job?",
        paraphrase: "Does {f} try again on its own after something breaks?",
    },
    Topic {
        heading: "Supported clients",
        body: &["Supported clients are Windows 10 or later, macOS 12 or later, and Linux with kernel {v} or later.", "Older clients may connect but are not tested."],
        values: &["4.19", "5.4", "5.10", "5.15"],
        lexical: "Which clients are supported by {f}?",
        paraphrase: "Will {f} work with my old laptop?",
    },
    Topic {
        heading: "Processor usage",
        body: &["Jobs run at low priority and use at most {v} percent of the processor.", "The unit stays responsive while they run."],
        values: &["25", "40", "50", "75"],
        lexical: "How much processor does {f} use?",
        paraphrase: "Will {f} make my server sluggish while it works?",
    },
];

/// Sentences any section may carry, to vary length and wording.
const FILLER: [&str; 8] = [
    "Changes are saved as soon as you press Apply.",
    "The same setting is available from the command line with cairnctl.",
    "Most installations never need to change this.",
    "The value is checked when you save the page and refused when it is out of range.",
    "Every change is recorded in the event history with the name of the user who made it.",
    "The web console shows the current value next to the default.",
    "After an upgrade the previous value is kept.",
    "Settings made here apply to the whole unit, not to a single user.",
];

/// What each kind of page says first, after the feature's name.
const OVERVIEW: [&str; 4] = [
    "This page walks you through the first steps and the settings most people look at on day one.",
    "This page describes each setting, what it does and when to change it.",
    "This page lists every option with its default value and its range.",
    "This page explains the usual problems, how to recognise them and how to fix them.",
];

/// What the error codes of a troubleshooting page report.
const CAUSES: [&str; 12] = [
    "the target pool is read-only; remount it or free space before retrying",
    "the remote host refused the certificate; renew it under Security",
    "the job was stopped by a power event; it restarts at the next window",
    "a disk in the pool stopped answering; check the cable and the drive's health",
    "the configured user no longer exists; pick another account",
    "the license for this feature has expired; renew it in the account portal",
    "the clock differs from the time server by more than five minutes",
    "the destination folder was renamed or removed while the job ran",
    "too many sign-in attempts; the account is locked for fifteen minutes",
    "the update package is damaged; download it again",
    "the network address is already in use by another device",
    "memory ran low and the job was postponed; close other apps and retry",
];

/// A fixed-seed [`SplitMix64`] stream, enough here. `below` takes the remainder rather than
/// [`SplitMix64::below`]'s multiply-shift: the demo collection's texts, ids and qrels are
/// these exact draws.
struct Rng(SplitMix64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A judged span of a page and the question it answers.
struct Question {
    text: String,
    doc: usize,
    start: usize,
    end: usize,
}

/// The manual: pages (id, title, text) and questions.
struct Manual {
    pages: Vec<(String, String, String)>,
    questions: Vec<Question>,
}

/// `text` with `{f}` (and `{F}`, capitalised) replaced by `feature`, `{v}` by `value`.
fn fill(text: &str, feature: &str, value: &str) -> String {
    let mut capital = feature.to_owned();
    if let Some(first) = capital.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    text.replace("{f}", feature)
        .replace("{F}", &capital)
        .replace("{v}", value)
}

impl Manual {
    fn generate() -> Self {
        let mut rng = Rng(SplitMix64::new(0x00CA_1A4E));
        let mut manual = Manual {
            pages: Vec::with_capacity(FEATURES.len() * PAGES.len()),
            questions: Vec::new(),
        };
        let mut code = 4100;
        for &(feature, named) in &FEATURES {
            let mut topics: Vec<usize> = (0..TOPICS.len()).collect();
            rng.shuffle(&mut topics);
            for (p, page) in PAGES.iter().enumerate() {
                let four = &topics[p * 4..p * 4 + 4];
                code += 1 + rng.below(40);
                manual.page(&mut rng, (feature, named), p, page, four, &mut code);
            }
        }
        manual
    }

    /// Writes one page and its questions.
    fn page(
        &mut self,
        rng: &mut Rng,
        (feature, named): (&str, &str),
        kind: usize,
        page: &str,
        topics: &[usize],
        code: &mut usize,
    ) {
        let doc = self.pages.len();
        let title = format!("{feature}: {page}");
        let mut text = format!("# {title}\n\n## Overview\n\n");
        let covered: Vec<String> = topics
            .iter()
            .map(|&t| TOPICS[t].heading.to_ascii_lowercase())
            .collect();
        text += &format!(
            "{feature} is part of every Cairn home server. {} It covers the {}, the {}, the {} and the {}. {}\n\n",
            OVERVIEW[kind], covered[0], covered[1], covered[2], covered[3], rng.pick(&FILLER)
        );
        let mut sections = Vec::with_capacity(4);
        for &t in topics {
            let topic = &TOPICS[t];
            let start = text.len();
            let value = rng.pick(topic.values);
            text += &format!("## {}\n\n", topic.heading);
            let mut sentences: Vec<String> =
                topic.body.iter().map(|s| fill(s, named, value)).collect();
            sentences.push(rng.pick(&FILLER).to_owned());
            if rng.below(2) == 0 {
                sentences.insert(1, rng.pick(&FILLER).to_owned());
            }
            text += &sentences.join(" ");
            sections.push((t, start, text.len()));
            text += "\n\n";
        }
        text += "## Messages\n\n";
        let mut codes = Vec::new();
        for _ in 0..if kind == 3 { 4 } else { 2 } {
            *code += 1 + rng.below(9);
            let start = text.len();
            text += &format!("- CRN-{code}: {}.", rng.pick(&CAUSES));
            codes.push((*code, start, text.len()));
            text += "\n";
        }
        text.truncate(text.trim_end().len());

        // One topic question per page, two on every other page; error codes on
        // troubleshooting pages.
        let asked = if doc.is_multiple_of(2) { 2 } else { 1 };
        for (i, &(t, start, end)) in sections.iter().take(asked).enumerate() {
            let topic = &TOPICS[t];
            let form = if (doc + i).is_multiple_of(2) {
                topic.lexical
            } else {
                topic.paraphrase
            };
            self.ask(fill(form, named, ""), doc, start, end);
        }
        if kind == 3 {
            for &(c, start, end) in codes.iter().take(2) {
                self.ask(format!("What does error CRN-{c} mean?"), doc, start, end);
            }
        }
        self.pages
            .push((format!("cairn-{:03}", doc + 1), title, text));
    }

    fn ask(&mut self, text: String, doc: usize, start: usize, end: usize) {
        self.questions.push(Question {
            text,
            doc,
            start,
            end,
        });
    }

    fn question_ids(&self) -> Vec<String> {
        (1..=self.questions.len())
            .map(|i| format!("q{i:03}"))
            .collect()
    }

    fn doc_ids(&self) -> Vec<&str> {
        self.questions
            .iter()
            .map(|q| self.pages[q.doc].0.as_str())
            .collect()
    }
}

/// The demo collection: corpus (`doc_id`, `title`, `text` in Markdown), queries and
/// document qrels (relevance 1 for the page that answers).
pub fn collection() -> Result<Beir> {
    let m = Manual::generate();
    let corpus = schema::frame(vec![
        Column::new(
            DOC_ID.into(),
            m.pages.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            TITLE.into(),
            m.pages.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            TEXT.into(),
            m.pages.iter().map(|p| p.2.as_str()).collect::<Vec<_>>(),
        ),
    ])?;
    let ids = m.question_ids();
    let queries = schema::frame(vec![
        Column::new(QUERY_ID.into(), &ids),
        Column::new(
            TEXT.into(),
            m.questions
                .iter()
                .map(|q| q.text.as_str())
                .collect::<Vec<_>>(),
        ),
    ])?;
    let qrels = schema::frame(vec![
        Column::new(QUERY_ID.into(), &ids),
        Column::new(DOC_ID.into(), m.doc_ids()),
        Column::new(RELEVANCE.into(), vec![1i32; ids.len()]),
    ])?;
    Ok(Beir {
        corpus,
        queries,
        qrels,
    })
}

/// The span judgements of the demo collection: `query_id`, `doc_id`, `start`, `end` (Int64,
/// character offsets into the page's text) and `relevance` (1), one span per question.
pub fn span_qrels() -> Result<DataFrame> {
    let m = Manual::generate();
    let ids = m.question_ids();
    schema::frame(vec![
        Column::new(QUERY_ID.into(), &ids),
        Column::new(DOC_ID.into(), m.doc_ids()),
        Column::new(
            START.into(),
            m.questions
                .iter()
                .map(|q| q.start as i64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            END.into(),
            m.questions.iter().map(|q| q.end as i64).collect::<Vec<_>>(),
        ),
        Column::new(RELEVANCE.into(), vec![1i32; ids.len()]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_spans() {
        let m = Manual::generate();
        assert_eq!(m.pages.len(), 100);
        assert_eq!(m.questions.len(), 200);
        for q in &m.questions {
            let text = &m.pages[q.doc].2;
            assert!(text.is_ascii());
            let span = &text[q.start..q.end];
            assert!(
                span.starts_with("## ") || span.starts_with("- CRN-"),
                "{span}"
            );
            if let Some(code) = q.text.strip_prefix("What does error ") {
                let code = code.trim_end_matches(" mean?");
                assert_eq!(text.matches(code).count(), 1);
                assert!(span.contains(code));
            }
        }
    }

    #[test]
    fn the_same_every_time() {
        let (a, b) = (Manual::generate(), Manual::generate());
        assert_eq!(a.pages, b.pages);
    }
}
