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
//! `modeling_bert.py`), token type 0 and absolute positions `0..len` per sequence.

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
    token_type0: Vec<f32>,
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

impl Bert {
    /// Load the weights named by `files`.
    pub fn load(files: &ModelFiles) -> Result<Self> {
        let path = files.weights.as_path();
        let device = Device::Cpu;
        let vb = match files.weight_format {
            WeightFormat::Safetensors => {
                let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
                    .map_err(|e| weights_error(path, e))?
            }
            WeightFormat::PyTorch => VarBuilder::from_pth(path, DType::F32, &device)
                .map_err(|e| weights_error(path, e))?,
        };
        // Checkpoints of `BertFor*` heads put the encoder under `bert.`.
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            return Err(Error::model(
                path,
                "no BERT weights: embeddings.word_embeddings.weight is not in the file",
            ));
        };
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
            token_type0: types[..h].to_vec(),
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
    /// `s` being `ids[offsets[s]..offsets[s+1]]`. Returns the last hidden states,
    /// `[ids.len(), hidden]` row-major.
    pub fn forward(
        &self,
        ids: &[u32],
        offsets: &[usize],
        threads: usize,
        cancel: &crate::cancel::Cancel,
    ) -> Result<Vec<f32>> {
        let c = &self.config;
        let h = c.hidden_size;
        let n = ids.len();
        let eps = c.layer_norm_eps as f32;
        // Embeddings: word + position + token type 0, then LayerNorm.
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
                let row = &mut x[t * h..(t + 1) * h];
                let w = &self.word[id * h..(id + 1) * h];
                let pe = &self.position[p * h..(p + 1) * h];
                for (((o, w), pe), ty) in row.iter_mut().zip(w).zip(pe).zip(&self.token_type0) {
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
