//! A cross-encoder: a BERT sequence classifier that reads a query and a document together and
//! scores their relevance (Nogueira & Cho, "Passage Re-ranking with BERT", 2019), as
//! sentence-transformers' `CrossEncoder` runs the `cross-encoder/ms-marco-*` models.
//!
//! The model is a `BertForSequenceClassification` checkpoint (`config.json`, `tokenizer.json`,
//! weights), found like the [`crate::embed::Encoder`]'s (a folder, the hub cache). A pair is
//! tokenized as `[CLS] query [SEP] document [SEP]` with token types 0 and 1, cut to
//! `max_length` tokens by removing tokens from the longer of the two first (the tokenizers
//! library's `longest_first`, as transformers and sentence-transformers do). The score is the
//! classifier's logits passed through the activation: the one the model's config names
//! (`sentence_transformers.activation_fn`, or the older `sbert_ce_default_activation_function`),
//! else sigmoid for one label and none for several (sentence-transformers' default).
//!
//! Pairs are sorted by token length and run in batches of similar lengths on all cores
//! (the encoder's packed forward pass); Ctrl-C is checked between layers.

use std::path::Path;

use serde::Deserialize;
use tokenizers::{
    EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::cancel::Cancel;
use crate::embed::bert::{Bert, Classifier};
use crate::embed::model::{self, ModelFiles};
use crate::error::{Error, Result};
use crate::options::option_enum;

option_enum! {
    /// The function applied to the logits.
    pub enum Activation: "activation" {
        Identity => "identity" | "none",
        Sigmoid => "sigmoid",
        Tanh => "tanh",
        Softmax => "softmax",
    }
}

impl Activation {
    /// From a PyTorch module path as sentence-transformers stores it
    /// (`torch.nn.modules.activation.Sigmoid`) or a plain name.
    fn from_config(path: &Path, value: &str) -> Result<Self> {
        let last = value.rsplit('.').next().unwrap_or(value);
        last.parse().map_err(|_| {
            Error::model(
                path,
                format!("unsupported activation {value:?}; ragplay knows Identity, Sigmoid, Tanh and Softmax"),
            )
        })
    }

    fn apply(self, logits: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Sigmoid => logits
                .iter_mut()
                .for_each(|x| *x = 1.0 / (1.0 + (-*x).exp())),
            Activation::Tanh => logits.iter_mut().for_each(|x| *x = x.tanh()),
            Activation::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                logits.iter_mut().for_each(|x| *x = (*x - max).exp());
                let sum: f32 = logits.iter().sum();
                logits.iter_mut().for_each(|x| *x /= sum);
            }
        }
    }
}

/// How to load a cross-encoder; every field defaults to the model's own files.
#[derive(Debug, Clone)]
pub struct CrossEncoderOptions {
    /// Hub revision when the name is a repo id.
    pub revision: String,
    /// Tokens per pair, special tokens included (default: the tokenizer's `model_max_length`,
    /// at most the model's positions).
    pub max_length: Option<usize>,
    /// Override the activation.
    pub activation: Option<Activation>,
}

impl Default for CrossEncoderOptions {
    fn default() -> Self {
        Self {
            revision: "main".into(),
            max_length: None,
            activation: None,
        }
    }
}

/// The parts of `config.json` a classifier adds to the encoder's.
#[derive(Debug, Default, Deserialize)]
struct HeadConfig {
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default)]
    id2label: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    sentence_transformers: Option<StSection>,
    #[serde(default)]
    sbert_ce_default_activation_function: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct StSection {
    #[serde(default)]
    activation_fn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    model_max_length: Option<f64>,
}

/// Scores per pair: row-major `[rows, labels]`.
#[derive(Debug, Clone)]
pub struct PairScores {
    pub data: Vec<f32>,
    pub rows: usize,
    pub labels: usize,
    /// Indices of the pairs cut at `max_length`.
    pub truncated: Vec<usize>,
}

/// A BERT cross-encoder.
pub struct CrossEncoder {
    files: ModelFiles,
    bert: Bert,
    head: Classifier,
    tokenizer: Tokenizer,
    max_length: usize,
    activation: Activation,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CrossEncoder(model_dir={:?}, labels={}, max_seq_length={}, activation={:?})",
            self.files.dir.display().to_string(),
            self.head.labels(),
            self.max_length,
            self.activation.name()
        )
    }
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T> {
    if !path.is_file() {
        return Ok(T::default());
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::model(path, format!("invalid JSON: {e}")))
}

impl CrossEncoder {
    /// Load a cross-encoder by folder or hub repo id; nothing is downloaded.
    pub fn from_pretrained(name_or_path: &str, options: &CrossEncoderOptions) -> Result<Self> {
        let files = model::resolve(name_or_path, &options.revision, &[])?;
        Self::from_files(files, options)
    }

    /// Load from resolved files.
    pub fn from_files(files: ModelFiles, options: &CrossEncoderOptions) -> Result<Self> {
        let config_path = files.dir.join("config.json");
        let head: HeadConfig = read_json(&config_path)?;
        let labels = head
            .num_labels
            .or(head.id2label.as_ref().map(|m| m.len()))
            .unwrap_or(2)
            .max(1);
        let activation = match options.activation {
            Some(a) => a,
            None => match head
                .sentence_transformers
                .and_then(|s| s.activation_fn)
                .or(head.sbert_ce_default_activation_function)
            {
                Some(name) => Activation::from_config(&config_path, &name)?,
                None if labels == 1 => Activation::Sigmoid,
                None => Activation::Identity,
            },
        };
        let positions = files.config.max_position_embeddings;
        let tokenizer_max = read_json::<TokenizerConfig>(&files.dir.join("tokenizer_config.json"))?
            .model_max_length
            .filter(|m| (1.0..1e9).contains(m))
            .map(|m| m as usize);
        let max_length = match options.max_length {
            Some(0) => return Err(Error::config("max_seq_length", "must be at least 1")),
            Some(n) if n > positions => {
                return Err(Error::config(
                    "max_seq_length",
                    format!("{n} exceeds the model's {positions} positions"),
                ))
            }
            Some(n) => n,
            None => tokenizer_max.unwrap_or(positions).min(positions),
        };
        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| Error::model(&files.tokenizer, format!("cannot read tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::model(&files.tokenizer, format!("truncation: {e}")))?;
        let (bert, head) = Bert::load_classifier(&files, labels)?;
        Ok(Self {
            files,
            bert,
            head,
            tokenizer,
            max_length,
            activation,
        })
    }

    /// Number of labels (scores per pair).
    pub fn labels(&self) -> usize {
        self.head.labels()
    }

    /// Tokens per pair, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The activation applied to the logits.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The model files.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Score `(query, document)` pairs; progress counts pairs.
    pub fn predict(
        &self,
        pairs: &[(&str, &str)],
        batch_size: usize,
        cancel: &Cancel,
    ) -> Result<PairScores> {
        if batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        cancel.start("cross-encoder", pairs.len() as u64);
        let inputs: Vec<EncodeInput> = pairs
            .iter()
            .map(|&(q, d)| (q.to_owned(), d.to_owned()).into())
            .collect();
        let encodings = self.tokenizer.encode_batch(inputs, true).map_err(|e| {
            Error::model(&self.files.tokenizer, format!("tokenization failed: {e}"))
        })?;
        let truncated = (0..encodings.len())
            .filter(|&i| !encodings[i].get_overflowing().is_empty())
            .collect();
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let labels = self.labels();
        let mut data = vec![0.0f32; pairs.len() * labels];
        let threads = rayon::current_num_threads();
        let hidden_size = self.bert.hidden();
        for batch in order.chunks(batch_size) {
            cancel.check()?;
            let (mut ids, mut types, mut offsets) = (Vec::new(), Vec::new(), vec![0usize]);
            for &i in batch {
                ids.extend_from_slice(encodings[i].get_ids());
                types.extend_from_slice(encodings[i].get_type_ids());
                offsets.push(ids.len());
            }
            let hidden = self
                .bert
                .forward(&ids, Some(&types), &offsets, threads, cancel)?;
            for (s, &i) in batch.iter().enumerate() {
                let first = &hidden[offsets[s] * hidden_size..(offsets[s] + 1) * hidden_size];
                let out = &mut data[i * labels..(i + 1) * labels];
                self.head.logits(first, out);
                self.activation.apply(out);
            }
            cancel.advance(batch.len() as u64);
        }
        Ok(PairScores {
            data,
            rows: pairs.len(),
            labels,
            truncated,
        })
    }
}
