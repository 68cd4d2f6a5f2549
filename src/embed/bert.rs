//! A BERT encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers
//! for Language Understanding") loaded with candle and run on packed token sequences.
//!
//! candle reads the weights (safetensors or PyTorch pickles, any float dtype, converted to
//! f32) and checks their shapes. The forward pass keeps all tokens of a batch in one
//! `[tokens, hidden]` matrix without padding; per layer:
//!
//! ```text
//! qkv = x·Wqkvᵀ + bqkv                          (one product; Q, K, V weights concatenated)
//! a   = LayerNorm(x + attention(qkv)·Woᵀ + bo)  (bias and residual seeded into the output)
//! x'  = LayerNorm(a + GELU(a·W1ᵀ + b1)·W2ᵀ + b2)
//! ```
//!
//! which is the post-LN transformer layer of the reference implementation (Hugging Face
//! `modeling_bert.py`), with absolute positions `0..len` per sequence and token type 0 unless
//! types are given (sentence pairs for a cross-encoder).
//!
//! [`Classifier`] is the head of `BertForSequenceClassification`: the pooler (tanh of a dense
//! layer over the first token's state) and a linear layer to the labels' logits.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::kernels;
use super::model::{BertConfig, ModelFiles, WeightFormat};
use crate::error::{Error, Result};

struct Layer {
    w_qkv: Vec<f32>, // [3·hidden, hidden]
    b_qkv: Vec<f32>,
    w_o: Vec<f32>, // [hidden, hidden]
    b_o: Vec<f32>,
    ln1_g: Vec<f32>,
    ln1_b: Vec<f32>,
    w_1: Vec<f32>, // [inter, hidden]
    b_1: Vec<f32>,
    w_2: Vec<f32>, // [hidden, inter]
    b_2: Vec<f32>,
    ln2_g: Vec<f32>,
    ln2_b: Vec<f32>,
}

/// BERT weights in f32, ready for the packed forward pass.
pub struct Bert {
    pub config: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    /// `[type_vocab_size, hidden]`.
    token_types: Vec<f32>,
    emb_ln_g: Vec<f32>,
    emb_ln_b: Vec<f32>,
    layers: Vec<Layer>,
    tanh_gelu: bool,
}

fn weights_error(path: &Path, e: candle_core::Error) -> Error {
    Error::model(path, format!("cannot read weights: {e}"))
}

struct Loader<'a> {
    vb: VarBuilder<'a>,
    path: &'a Path,
}

impl Loader<'_> {
    fn get(&self, shape: &[usize], name: &str) -> Result<Vec<f32>> {
        let t: Tensor = self
            .vb
            .get(shape, name)
            .map_err(|e| weights_error(self.path, e))?;
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| weights_error(self.path, e))
    }

    /// A LayerNorm's (weight, bias), under either naming (`weight`/`bias` or `gamma`/`beta`).
    fn layer_norm(&self, prefix: &str, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        if self.vb.contains_tensor(&format!("{prefix}.gamma")) {
            Ok((
                self.get(&[n], &format!("{prefix}.gamma"))?,
                self.get(&[n], &format!("{prefix}.beta"))?,
            ))
        } else {
            Ok((
                self.get(&[n], &format!("{prefix}.weight"))?,
                self.get(&[n], &format!("{prefix}.bias"))?,
            ))
        }
    }
}

/// The weights of `files`, f32, with whether the encoder lies under `bert.` (checkpoints of
/// `BertFor*` heads).
fn open(files: &ModelFiles) -> Result<(VarBuilder<'static>, bool)> {
    let path = files.weights.as_path();
    let device = Device::Cpu;
    let vb = match files.weight_format {
        WeightFormat::Safetensors => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
                .map_err(|e| weights_error(path, e))?
        }
        WeightFormat::PyTorch => {
            VarBuilder::from_pth(path, DType::F32, &device).map_err(|e| weights_error(path, e))?
        }
    };
    if vb.contains_tensor("embeddings.word_embeddings.weight") {
        Ok((vb, false))
    } else if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
        Ok((vb, true))
    } else {
        Err(Error::model(
            path,
            "no BERT weights: embeddings.word_embeddings.weight is not in the file",
        ))
    }
}

/// The sequence-classification head: `logits = W·tanh(P·h₀ + p) + b`, h₀ the first token's
/// last hidden state.
pub struct Classifier {
    pooler_w: Vec<f32>, // [hidden, hidden]
    pooler_b: Vec<f32>,
    w: Vec<f32>, // [labels, hidden]
    b: Vec<f32>,
    labels: usize,
}

impl Classifier {
    /// Number of labels (logits per input).
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// The logits of one first-token state `h0`, written to `out` (`labels` values).
    pub fn logits(&self, h0: &[f32], out: &mut [f32]) {
        let h = h0.len();
        let pooled: Vec<f32> = (0..h)
            .map(|i| {
                let row = &self.pooler_w[i * h..(i + 1) * h];
                (self.pooler_b[i] + row.iter().zip(h0).map(|(w, x)| w * x).sum::<f32>()).tanh()
            })
            .collect();
        for (l, o) in out.iter_mut().enumerate() {
            let row = &self.w[l * h..(l + 1) * h];
            *o = self.b[l] + row.iter().zip(&pooled).map(|(w, x)| w * x).sum::<f32>();
        }
    }
}

impl Bert {
    /// Load the encoder weights named by `files`.
    pub fn load(files: &ModelFiles) -> Result<Self> {
        let (vb, prefixed) = open(files)?;
        Self::from_vb(files, if prefixed { vb.pp("bert") } else { vb })
    }

    /// Load a `BertForSequenceClassification` checkpoint with `labels` labels: the encoder
    /// and its [`Classifier`].
    pub fn load_classifier(files: &ModelFiles, labels: usize) -> Result<(Self, Classifier)> {
        let path = files.weights.as_path();
        let (vb, prefixed) = open(files)?;
        let encoder = if prefixed { vb.pp("bert") } else { vb.clone() };
        let h = files.config.hidden_size;
        let l = Loader {
            vb: encoder.clone(),
            path,
        };
        if !encoder.contains_tensor("pooler.dense.weight")
            || !vb.contains_tensor("classifier.weight")
        {
            return Err(Error::model(
                path,
                "not a sequence-classification model: the pooler or classifier weights are \
                 missing (a cross-encoder is saved as BertForSequenceClassification)",
            ));
        }
        let head = Loader { vb, path };
        let classifier = Classifier {
            pooler_w: l.get(&[h, h], "pooler.dense.weight")?,
            pooler_b: l.get(&[h], "pooler.dense.bias")?,
            w: head.get(&[labels, h], "classifier.weight")?,
            b: head.get(&[labels], "classifier.bias")?,
            labels,
        };
        Ok((Self::from_vb(files, encoder)?, classifier))
    }

    fn from_vb(files: &ModelFiles, vb: VarBuilder<'_>) -> Result<Self> {
        let path = files.weights.as_path();
        let l = Loader { vb, path };
        let c = &files.config;
        let h = c.hidden_size;
        let word = l.get(&[c.vocab_size, h], "embeddings.word_embeddings.weight")?;
        let position = l.get(
            &[c.max_position_embeddings, h],
            "embeddings.position_embeddings.weight",
        )?;
        let types = l.get(
            &[c.type_vocab_size, h],
            "embeddings.token_type_embeddings.weight",
        )?;
        let (emb_ln_g, emb_ln_b) = l.layer_norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let mut w_qkv = Vec::with_capacity(3 * h * h);
            let mut b_qkv = Vec::with_capacity(3 * h);
            for part in ["query", "key", "value"] {
                w_qkv.extend(l.get(&[h, h], &format!("{p}.attention.self.{part}.weight"))?);
                b_qkv.extend(l.get(&[h], &format!("{p}.attention.self.{part}.bias"))?);
            }
            let (ln1_g, ln1_b) = l.layer_norm(&format!("{p}.attention.output.LayerNorm"), h)?;
            let (ln2_g, ln2_b) = l.layer_norm(&format!("{p}.output.LayerNorm"), h)?;
            layers.push(Layer {
                w_qkv,
                b_qkv,
                w_o: l.get(&[h, h], &format!("{p}.attention.output.dense.weight"))?,
                b_o: l.get(&[h], &format!("{p}.attention.output.dense.bias"))?,
                ln1_g,
                ln1_b,
                w_1: l.get(
                    &[c.intermediate_size, h],
                    &format!("{p}.intermediate.dense.weight"),
                )?,
                b_1: l.get(
                    &[c.intermediate_size],
                    &format!("{p}.intermediate.dense.bias"),
                )?,
                w_2: l.get(
                    &[h, c.intermediate_size],
                    &format!("{p}.output.dense.weight"),
                )?,
                b_2: l.get(&[h], &format!("{p}.output.dense.bias"))?,
                ln2_g,
                ln2_b,
            });
        }
        Ok(Bert {
            config: c.clone(),
            word,
            position,
            token_types: types,
            emb_ln_g,
            emb_ln_b,
            layers,
            tanh_gelu: c.hidden_act != "gelu",
        })
    }

    /// Hidden size (the embedding dimension before pooling).
    pub fn hidden(&self) -> usize {
        self.config.hidden_size
    }

    /// Run the encoder on packed sequences: `ids` holds every token of every sequence, sequence
    /// `s` being `ids[offsets[s]..offsets[s+1]]`, and `types` each token's type (all 0 when
    /// `None`). Returns the last hidden states, `[ids.len(), hidden]` row-major.
    pub fn forward(
        &self,
        ids: &[u32],
        types: Option<&[u32]>,
        offsets: &[usize],
        threads: usize,
        cancel: &crate::cancel::Cancel,
    ) -> Result<Vec<f32>> {
        let c = &self.config;
        let h = c.hidden_size;
        let n = ids.len();
        let eps = c.layer_norm_eps as f32;
        // Embeddings: word + position + token type, then LayerNorm.
        let mut x = vec![0.0f32; n * h];
        for s in 0..offsets.len() - 1 {
            let (a, b) = (offsets[s], offsets[s + 1]);
            if b - a > c.max_position_embeddings {
                return Err(Error::config(
                    "sequence length",
                    format!(
                        "{} tokens exceed the model's {} positions",
                        b - a,
                        c.max_position_embeddings
                    ),
                ));
            }
            for (p, t) in (a..b).enumerate() {
                let id = ids[t] as usize;
                if id >= c.vocab_size {
                    return Err(Error::config(
                        "token id",
                        format!("{id} is outside the vocabulary of {}", c.vocab_size),
                    ));
                }
                let ty = types.map_or(0, |types| types[t]) as usize;
                if ty >= c.type_vocab_size {
                    return Err(Error::config(
                        "token type",
                        format!("{ty} is outside the model's {} types", c.type_vocab_size),
                    ));
                }
                let row = &mut x[t * h..(t + 1) * h];
                let w = &self.word[id * h..(id + 1) * h];
                let pe = &self.position[p * h..(p + 1) * h];
                let te = &self.token_types[ty * h..(ty + 1) * h];
                for (((o, w), pe), ty) in row.iter_mut().zip(w).zip(pe).zip(te) {
                    *o = w + pe + ty;
                }
            }
        }
        kernels::layer_norm(&mut x, &self.emb_ln_g, &self.emb_ln_b, eps);

        let inter = c.intermediate_size;
        let mut qkv = vec![0.0f32; n * 3 * h];
        let mut ctx = vec![0.0f32; n * h];
        let mut a = vec![0.0f32; n * h];
        let mut f = vec![0.0f32; n * inter];
        for layer in &self.layers {
            // Between layers: Ctrl-C stops a long batch within a fraction of it.
            cancel.check()?;
            kernels::fill_rows(&mut qkv, &layer.b_qkv);
            kernels::linear_acc(&mut qkv, &x, &layer.w_qkv, h, threads);
            kernels::attention(&qkv, &mut ctx, offsets, h, c.num_attention_heads);
            kernels::add_rows(&mut a, &x, &layer.b_o);
            kernels::linear_acc(&mut a, &ctx, &layer.w_o, h, threads);
            kernels::layer_norm(&mut a, &layer.ln1_g, &layer.ln1_b, eps);
            kernels::fill_rows(&mut f, &layer.b_1);
            kernels::linear_acc(&mut f, &a, &layer.w_1, h, threads);
            kernels::gelu(&mut f, self.tanh_gelu);
            kernels::add_rows(&mut x, &a, &layer.b_2);
            kernels::linear_acc(&mut x, &f, &layer.w_2, inter, threads);
            kernels::layer_norm(&mut x, &layer.ln2_g, &layer.ln2_b, eps);
        }
        Ok(x)
    }
}
