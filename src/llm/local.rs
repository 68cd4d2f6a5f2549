//! Language models in-process: GGUF weights run through candle-transformers' quantized
//! graphs (llama family: Llama 2/3, SmolLM, Mistral; Qwen2; Qwen3), the tokenizer and chat
//! template from the same file.
//!
//! Decoding keeps a KV cache: the prompt goes through the model once, then one token per
//! step. Many prompts run at once, one sequence per worker thread (each with its own
//! cache over shared weights), while candle's quantized products split each step's rows
//! across the same threads. The weights are dequantised to float32 when the model loads
//! (see [`dequantized`]), so the logits are those of the dequantised model, as transformers
//! computes them, at four times the memory of the file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use std::io::Cursor;

use candle_core::quantized::gguf_file::{self, Content};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2, quantized_qwen3};
use rayon::prelude::*;

use super::gguf::{file_sha256, GgufFile};
use super::sample::{Sampler, Sampling};
use super::template::{ChatTemplate, Message, CHATML};
use super::tokenizer::LlmTokenizer;
use super::{ChatRequest, Completion, FailureKind, Llm, OnDone};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Prompt tokens per forward pass when filling the KV cache.
const PREFILL_CHUNK: usize = 128;

/// The architectures this backend runs.
pub const ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3"];

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    /// candle's Qwen2 graph cannot be cloned: its sequences run one at a time.
    Qwen2(Mutex<quantized_qwen2::ModelWeights>),
}

/// One sequence's model: a clone with its own KV cache, or the shared Qwen2 graph.
enum Session<'a> {
    Llama(quantized_llama::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Qwen2(std::sync::MutexGuard<'a, quantized_qwen2::ModelWeights>),
}

impl Session<'_> {
    fn forward(&mut self, ids: &[u32], pos: usize) -> candle_core::Result<Vec<f32>> {
        let x = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        let logits = match self {
            Session::Llama(m) => m.forward(&x, pos)?,
            Session::Qwen3(m) => m.forward(&x, pos)?,
            Session::Qwen2(m) => m.forward(&x, pos)?,
        };
        logits.flatten_all()?.to_vec1::<f32>()
    }
}

/// A GGUF model loaded in-process.
pub struct LocalLlm {
    path: PathBuf,
    name: String,
    architecture: String,
    fingerprint: String,
    weights: Weights,
    tokenizer: LlmTokenizer,
    template: ChatTemplate,
    context_length: usize,
}

impl std::fmt::Debug for LocalLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLlm")
            .field("path", &self.path)
            .field("architecture", &self.architecture)
            .finish()
    }
}

fn model_error(path: &Path, e: candle_core::Error) -> Error {
    Error::model(path, format!("cannot load the weights: {e}"))
}

/// The model rewritten in memory as a GGUF of float32 tensors: candle's graphs then
/// multiply float activations by float weights (exactly the dequantised model), instead of
/// quantising activations to 8 bits per block.
fn dequantized(
    content: Content,
    file: &mut std::fs::File,
    path: &Path,
) -> Result<(Content, Cursor<Vec<u8>>)> {
    let cpu = Device::Cpu;
    let fail = |e: candle_core::Error| model_error(path, e);
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let q = content.tensor(file, name, &cpu).map_err(fail)?;
        let t = if q.dtype() == GgmlDType::F32 {
            q
        } else {
            QTensor::quantize(&q.dequantize(&cpu).map_err(fail)?, GgmlDType::F32).map_err(fail)?
        };
        tensors.push((name.as_str(), t));
    }
    // The weights are float32 now; say so, or candle's Qwen3 computes its rotary tables in
    // float16 (a logit error near 1e-3 against transformers on the same file).
    let f32_dtype = gguf_file::Value::U32(0);
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.dtype")
        .map(|(k, v)| (k.as_str(), v))
        .chain([("general.dtype", &f32_dtype)])
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut buf = Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &metadata, &refs).map_err(fail)?;
    drop(tensors);
    buf.set_position(0);
    let content = Content::read(&mut buf).map_err(fail)?;
    Ok((content, buf))
}

impl LocalLlm {
    /// Load the GGUF model at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let (gguf, mut file) = GgufFile::open(path)?;
        let architecture = gguf.architecture()?.to_owned();
        if !ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(Error::model(
                path,
                format!(
                    "architecture {architecture:?} is not supported (supported: {})",
                    ARCHITECTURES.join(", ")
                ),
            ));
        }
        let tokenizer = LlmTokenizer::from_gguf(&gguf)?;
        let source = gguf
            .string("tokenizer.chat_template")
            .unwrap_or(CHATML)
            .to_owned();
        let text =
            |t: &Option<(u32, String)>| t.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
        let template = ChatTemplate::new(&source, &text(&tokenizer.bos), &text(&tokenizer.eos))?;
        let context_length = gguf
            .uint(&format!("{architecture}.context_length"))
            .map(|n| n as usize)
            .unwrap_or(2048);
        let name = gguf
            .string("general.name")
            .map(str::to_owned)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let GgufFile { content, .. } = gguf;
        let (content, mut file) = dequantized(content, &mut file, path)?;
        let device = Device::Cpu;
        let weights = match architecture.as_str() {
            "llama" => Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(|e| model_error(path, e))?,
            ),
            "qwen3" => Weights::Qwen3(
                quantized_qwen3::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(|e| model_error(path, e))?,
            ),
            _ => Weights::Qwen2(Mutex::new(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(|e| model_error(path, e))?,
            )),
        };
        // candle's rotary tables stop at 4096 positions.
        let context_length = context_length.min(quantized_llama::MAX_SEQ_LEN);
        Ok(Self {
            fingerprint: format!("gguf:{}", file_sha256(path)?),
            path: path.to_owned(),
            name,
            architecture,
            weights,
            tokenizer,
            template,
            context_length,
        })
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &LlmTokenizer {
        &self.tokenizer
    }

    /// The longest sequence (prompt and completion) the model runs.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The chat prompt of `messages`, as text.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        self.template.render(messages, add_generation_prompt)
    }

    fn session(&self) -> Result<Session<'_>> {
        Ok(match &self.weights {
            Weights::Llama(m) => Session::Llama(m.clone()),
            Weights::Qwen3(m) => Session::Qwen3(m.clone()),
            Weights::Qwen2(m) => {
                Session::Qwen2(m.lock().map_err(|_| Error::poisoned("the model"))?)
            }
        })
    }

    /// The logits of the token after `ids` (a forward pass without a cache).
    pub fn next_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check_ids(ids)?;
        let mut s = self.session()?;
        s.forward(ids, 0).map_err(|e| Error::Internal {
            message: format!("forward pass: {e}"),
        })
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::config("prompt", "has no tokens"));
        }
        if let Some(bad) = ids
            .iter()
            .find(|&&i| i as usize >= self.tokenizer.vocab_size)
        {
            return Err(Error::config(
                "tokens",
                format!(
                    "id {bad} is outside the vocabulary of {}",
                    self.tokenizer.vocab_size
                ),
            ));
        }
        Ok(())
    }

    /// Decode from prompt token ids: the generated ids, and why decoding stopped.
    pub fn generate_ids(
        &self,
        prompt: &[u32],
        sampling: &Sampling,
        cancel: &Cancel,
    ) -> Result<(Vec<u32>, String, &'static str)> {
        cancel.check()?;
        self.check_ids(prompt)?;
        sampling.validate()?;
        if prompt.len() >= self.context_length {
            return Err(Error::config(
                "prompt",
                format!(
                    "{} tokens do not fit the model's context of {} tokens",
                    prompt.len(),
                    self.context_length
                ),
            ));
        }
        let fail = |e: candle_core::Error| Error::Internal {
            message: format!("forward pass: {e}"),
        };
        let mut s = self.session()?;
        let mut sampler = Sampler::new(sampling);
        // The prompt in chunks through the cache: Ctrl-C is honoured between chunks, and the
        // attention scores of a long prompt stay small.
        let mut logits = Vec::new();
        for (c, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
            cancel.check()?;
            logits = s.forward(chunk, c * PREFILL_CHUNK).map_err(fail)?;
        }
        let room = self.context_length - prompt.len();
        let mut out: Vec<u32> = Vec::new();
        let mut text = String::new();
        loop {
            cancel.check()?;
            let next = sampler.next(&mut logits, &out);
            if self.tokenizer.is_stop(next) {
                return Ok((out, text, "stop"));
            }
            out.push(next);
            text = self.tokenizer.decode(&out, true)?;
            if let Some(cut) = sampling
                .stop
                .iter()
                .filter_map(|s| text.find(s.as_str()))
                .min()
            {
                text.truncate(cut);
                return Ok((out, text, "stop"));
            }
            if out.len() >= sampling.max_tokens || out.len() >= room {
                return Ok((out, text, "length"));
            }
            logits = s
                .forward(&[next], prompt.len() + out.len() - 1)
                .map_err(fail)?;
        }
    }

    fn complete_one(&self, request: &ChatRequest, cancel: &Cancel) -> Result<Completion> {
        cancel.check()?;
        let start = Instant::now();
        let prompt_text = self.render(&request.messages, true)?;
        let ids = self.tokenizer.encode_prompt(&prompt_text)?;
        let done = |c: Completion| Completion {
            latency_ms: start.elapsed().as_secs_f64() * 1e3,
            seed: Some(request.sampling.seed),
            ..c
        };
        if ids.len() >= self.context_length {
            return Ok(done(Completion::failed(
                FailureKind::Context,
                format!(
                    "the prompt has {} tokens; the model's context holds {}",
                    ids.len(),
                    self.context_length
                ),
                Some(ids.len()),
            )));
        }
        let (out, text, finish) = self.generate_ids(&ids, &request.sampling, cancel)?;
        Ok(done(Completion {
            text: Some(text),
            prompt_tokens: Some(ids.len()),
            completion_tokens: Some(out.len()),
            finish_reason: Some(finish.to_owned()),
            ..Completion::default()
        }))
    }
}

impl Llm for LocalLlm {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn count_tokens(&self, text: &str) -> Result<Option<usize>> {
        Ok(Some(self.tokenizer.encode(text)?.len()))
    }

    fn truncate(&self, text: &str, max_tokens: usize) -> Result<Option<String>> {
        let ids = self.tokenizer.encode(text)?;
        if ids.len() <= max_tokens {
            return Ok(Some(text.to_owned()));
        }
        Ok(Some(self.tokenizer.decode(&ids[..max_tokens], false)?))
    }

    fn complete_each(
        &self,
        requests: &[ChatRequest],
        cancel: &Cancel,
        on_done: &OnDone<'_>,
    ) -> Result<Vec<Completion>> {
        for r in requests {
            r.sampling.validate()?;
        }
        let one = |(i, r): (usize, &ChatRequest)| {
            let c = self.complete_one(r, cancel)?;
            on_done(i, &c)?;
            cancel.advance(1);
            Ok(c)
        };
        if matches!(self.weights, Weights::Qwen2(_)) {
            requests.iter().enumerate().map(one).collect()
        } else {
            requests
                .par_iter()
                .enumerate()
                .with_max_len(1)
                .map(one)
                .collect()
        }
    }
}
