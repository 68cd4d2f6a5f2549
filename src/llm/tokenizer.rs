//! A language model's tokenizer, built from its GGUF metadata with the tokenizers crate.
//!
//! GGUF stores no `tokenizer.json`: it stores the vocabulary (`tokenizer.ggml.tokens`), the
//! merges, token types and special-token ids under llama.cpp's key names. For byte-level BPE
//! (`tokenizer.ggml.model = "gpt2"`: SmolLM, Llama 3, Qwen, Mistral Nemo) this module builds
//! the GPT-2 scheme (Radford et al. 2019, §2.2: BPE over bytes spelled as printable
//! characters) with the pre-tokenizer split that `tokenizer.ggml.pre` names, as llama.cpp's
//! `llama-vocab.cpp` does; for SentencePiece vocabularies (`"llama"`: Llama 2, Mistral 7B) a
//! BPE with byte fallback over `▁`-marked text (Kudo & Richardson 2018), its merges taken
//! from the file or derived from the token scores. Tokens marked control (type 3) are special
//! tokens matched whole in text; user-defined ones (type 4) are matched whole too.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, NormalizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::gguf::GgufFile;
use crate::error::{Error, Result};

/// Llama 3's split (llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: digits one at a time (llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The texts models use to end a turn, stopped on when the vocabulary has them as tokens.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
];

/// A tokenizer with the special tokens a chat model needs.
#[derive(Debug, Clone)]
pub struct LlmTokenizer {
    inner: Tokenizer,
    /// Beginning-of-sequence token, and whether the model wants it prepended.
    pub bos: Option<(u32, String)>,
    pub add_bos: bool,
    /// End-of-sequence token.
    pub eos: Option<(u32, String)>,
    /// Every token that ends a generation (end of sequence, end of turn).
    pub stop_ids: Vec<u32>,
    /// The vocabulary's size.
    pub vocab_size: usize,
}

/// The byte-to-character map of GPT-2's byte-level BPE: printable bytes stand for
/// themselves, the others are shifted past 255.
fn byte_alphabet() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        out[b as usize] = if printable {
            char::from(b)
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('\u{FFFD}')
        };
    }
    out
}

impl LlmTokenizer {
    /// Build the tokenizer a GGUF file describes.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let kind = gguf
            .string("tokenizer.ggml.model")
            .ok_or_else(|| gguf.missing("tokenizer.ggml.model"))?
            .to_owned();
        let tokens = gguf.strings("tokenizer.ggml.tokens")?;
        let types = gguf.ints("tokenizer.ggml.token_type");
        let (mut inner, byte_level) = match kind.as_str() {
            "gpt2" => (byte_level_bpe(gguf, &tokens)?, true),
            "llama" => (sentencepiece_bpe(gguf, &tokens)?, false),
            other => {
                return Err(Error::model(
                    &gguf.path,
                    format!(
                        "tokenizer {other:?} is not supported (byte-level BPE \"gpt2\" and \
                         SentencePiece \"llama\" are)"
                    ),
                ))
            }
        };
        let alphabet: std::collections::HashSet<char> = byte_alphabet().into_iter().collect();
        let mut special = Vec::new();
        let mut user = Vec::new();
        for (token, ty) in tokens.iter().zip(types.iter()) {
            let spelled = !byte_level || token.chars().all(|c| alphabet.contains(&c));
            match ty {
                3 if spelled => special.push(AddedToken::from(token.clone(), true)),
                4 => user.push(AddedToken::from(token.clone(), false).normalized(false)),
                _ => {}
            }
        }
        inner.add_special_tokens(special).map_err(internal)?;
        inner.add_tokens(user).map_err(internal)?;
        let id_of = |key: &str| -> Option<(u32, String)> {
            let id = gguf.uint(key)? as usize;
            tokens.get(id).map(|t| (id as u32, t.clone()))
        };
        let bos = id_of("tokenizer.ggml.bos_token_id");
        let eos = id_of("tokenizer.ggml.eos_token_id");
        let add_bos = gguf
            .boolean("tokenizer.ggml.add_bos_token")
            .unwrap_or(kind == "llama");
        let mut stop_ids: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"]
            .iter()
            .filter_map(|k| id_of(k).map(|(id, _)| id))
            .collect();
        let index: HashMap<&str, usize> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        for text in END_OF_TURN {
            if let Some(&i) = index.get(text) {
                if types.get(i).is_none_or(|t| *t == 3) {
                    stop_ids.push(i as u32);
                }
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        Ok(Self {
            inner,
            bos,
            add_bos,
            eos,
            stop_ids,
            vocab_size: tokens.len(),
        })
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) are matched
    /// whole, as in a rendered chat prompt; no BOS is added here.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| Error::Internal {
                message: format!("tokenizer: {e}"),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of a prompt: `text`, with the BOS token first when the model asks for one
    /// and the text does not already start with it.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(text)?;
        if let (true, Some((bos, _))) = (self.add_bos, &self.bos) {
            if ids.first() != Some(bos) {
                ids.insert(0, *bos);
            }
        }
        Ok(ids)
    }

    /// The text of `ids`; special tokens are left out when `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| Error::Internal {
                message: format!("tokenizer: {e}"),
            })
    }

    /// Whether `id` ends a generation.
    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.binary_search(&id).is_ok()
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("tokenizer: {e}"),
    }
}

/// Merges as the file lists them (`"a b"`).
fn file_merges(gguf: &GgufFile) -> Option<Vec<(String, String)>> {
    let merges = gguf.strings("tokenizer.ggml.merges").ok()?;
    Some(
        merges
            .iter()
            .filter_map(|m| {
                let (a, b) = m.split_once(' ')?;
                Some((a.to_owned(), b.to_owned()))
            })
            .collect(),
    )
}

/// Byte-level BPE (`"gpt2"`), with the split named by `tokenizer.ggml.pre`.
fn byte_level_bpe(gguf: &GgufFile, tokens: &[String]) -> Result<Tokenizer> {
    let spelling = byte_alphabet();
    let alphabet: std::collections::HashSet<char> = spelling.iter().copied().collect();
    // A token outside the byte alphabet (a mislabelled special token) is respelled byte by
    // byte, so that the vocabulary stays the file's size.
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let key = if t.chars().all(|c| alphabet.contains(&c)) {
                t.clone()
            } else {
                t.bytes().map(|b| spelling[b as usize]).collect()
            };
            (key, i as u32)
        })
        .collect();
    let merges = file_merges(gguf).ok_or_else(|| gguf.missing("tokenizer.ggml.merges"))?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(internal)?;
    let mut tk = Tokenizer::new(bpe);
    let pre = gguf.string("tokenizer.ggml.pre").unwrap_or("default");
    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        // SmolLM's published tokenizer: digits one by one, then GPT-2's split.
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" | "dbrx" | "pixtral" => {
            split_then_bytes(LLAMA3_SPLIT)?
        }
        "qwen2" | "deepseek-r1-qwen" | "megrez" => split_then_bytes(QWEN2_SPLIT)?,
        "default" | "gpt2" | "gpt-2" => byte_level.into(),
        other => {
            return Err(Error::model(
                &gguf.path,
                format!(
                    "pre-tokenizer {other:?} is not supported (smollm, llama3, qwen2 and gpt2 \
                     are)"
                ),
            ))
        }
    };
    tk.with_pre_tokenizer(Some(pre_tokenizer));
    tk.with_decoder(Some(ByteLevel::default()));
    Ok(tk)
}

/// A regex split (isolating each match), then the byte spelling without GPT-2's own split.
fn split_then_bytes(pattern: &str) -> Result<PreTokenizerWrapper> {
    let split = Split::new(
        SplitPattern::Regex(pattern.to_owned()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(internal)?;
    Ok(Sequence::new(vec![
        split.into(),
        ByteLevel::new(false, true, false).into(),
    ])
    .into())
}

/// SentencePiece BPE (`"llama"`): `▁` for spaces, one prepended, bytes as `<0xNN>` tokens.
fn sentencepiece_bpe(gguf: &GgufFile, tokens: &[String]) -> Result<Tokenizer> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges = match file_merges(gguf) {
        Some(m) => m,
        None => merges_from_scores(tokens, &gguf.floats("tokenizer.ggml.scores"), &vocab),
    };
    let unk = gguf
        .uint("tokenizer.ggml.unknown_token_id")
        .and_then(|i| tokens.get(i as usize).cloned())
        .unwrap_or_else(|| "<unk>".to_owned());
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .unk_token(unk)
        .byte_fallback(true)
        .fuse_unk(true)
        .build()
        .map_err(internal)?;
    let mut tk = Tokenizer::new(bpe);
    let add_space = gguf
        .boolean("tokenizer.ggml.add_space_prefix")
        .unwrap_or(true);
    let mut norm: Vec<NormalizerWrapper> = Vec::new();
    if add_space {
        norm.push(Prepend::new("▁".to_owned()).into());
    }
    norm.push(Replace::new(" ", "▁").map_err(internal)?.into());
    tk.with_normalizer(Some(tokenizers::normalizers::Sequence::new(norm)))
        .map_err(internal)?;
    let mut dec: Vec<DecoderWrapper> = vec![
        tokenizers::decoders::DecoderWrapper::Replace(Replace::new("▁", " ").map_err(internal)?),
        ByteFallback::default().into(),
        Fuse::default().into(),
    ];
    if add_space {
        dec.push(Strip::new(' ', 1, 0).into());
    }
    tk.with_decoder(Some(DecoderSequence::new(dec)));
    Ok(tk)
}

/// Merges implied by a vocabulary and its scores: every split of a token into two tokens,
/// ranked by the merged token's score (best first), as SentencePiece's BPE applies them.
fn merges_from_scores(tokens: &[String], scores: &[f32], vocab: &Vocab) -> Vec<(String, String)> {
    let mut ranked: Vec<(f32, u32, u32, String, String)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let score = scores.get(i).copied().unwrap_or(0.0);
        for (cut, _) in t.char_indices().skip(1) {
            let (a, b) = t.split_at(cut);
            if let (Some(&ia), Some(&ib)) = (vocab.get(a), vocab.get(b)) {
                ranked.push((score, ia, ib, a.to_owned(), b.to_owned()));
            }
        }
    }
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    ranked.into_iter().map(|(_, _, _, a, b)| (a, b)).collect()
}
