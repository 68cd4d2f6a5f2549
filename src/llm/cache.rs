//! A response cache that cannot go stale: completions on disk, content-addressed by
//! everything that can change them.
//!
//! The key is the SHA-256 of a canonical JSON document holding the cache format version,
//! the backend's fingerprint (the GGUF file's SHA-256, or the endpoint, model and server
//! fingerprint), the full messages as sent and every sampling parameter with the seed. A
//! new library version that changes how answers are made bumps [`FORMAT`]; a changed
//! prompt, model or knob is a different key, so nothing stale is ever served.
//!
//! Layout: `{dir}/{key[..2]}/{key}.json`, one file per completion, written through a
//! temporary file and a rename: two processes writing the same key write the same bytes,
//! readers never see half a file, and nothing finished is lost when a run is interrupted.
//! Failed requests are not cached (a rate limit is not an answer). A file that does not
//! parse is a miss, counted in [`ResponseCacheStats::corrupt`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::{ChatRequest, Completion};
use crate::data::io::write_atomic;
use crate::error::{Error, Result};

/// The cache format; part of every key.
pub const FORMAT: u32 = 1;

/// Counters since the cache was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub written: u64,
    pub corrupt: u64,
}

/// An on-disk response cache.
#[derive(Debug)]
pub struct ResponseCache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
    written: AtomicU64,
    corrupt: AtomicU64,
}

/// The cache key of `request` sent to the backend with `fingerprint`.
pub fn key(fingerprint: &str, request: &ChatRequest) -> String {
    let doc = serde_json::json!({
        "format": FORMAT,
        "backend": fingerprint,
        "messages": request.messages,
        "sampling": request.sampling,
    });
    format!("{:x}", Sha256::digest(doc.to_string().as_bytes()))
}

impl ResponseCache {
    /// Open (creating) the cache in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self {
            dir,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            written: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counters since opening.
    pub fn stats(&self) -> ResponseCacheStats {
        ResponseCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The cached completion under `key`, marked `cached`.
    pub fn get(&self, key: &str) -> Option<Completion> {
        let found = std::fs::read(self.path(key)).ok().and_then(|bytes| {
            let parsed = serde_json::from_slice::<Completion>(&bytes);
            if parsed.is_err() {
                self.corrupt.fetch_add(1, Ordering::Relaxed);
            }
            parsed.ok()
        });
        match found {
            Some(c) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(Completion { cached: true, ..c })
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keep `completion` under `key`; failed completions are not kept.
    pub fn put(&self, key: &str, completion: &Completion) -> Result<()> {
        if completion.failure.is_some() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(completion).map_err(|e| Error::Internal {
            message: format!("response cache: {e}"),
        })?;
        write_atomic(&self.path(key), |w| w.write_all(&bytes))?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Complete `requests` through `llm`, answering from `cache` where it can and keeping each
/// new completion as soon as it is finished.
pub fn complete_cached(
    llm: &dyn super::Llm,
    requests: &[ChatRequest],
    cache: Option<&ResponseCache>,
    cancel: &crate::cancel::Cancel,
) -> Result<Vec<Completion>> {
    let Some(cache) = cache else {
        return llm.complete(requests, cancel);
    };
    let fingerprint = llm.fingerprint();
    let keys: Vec<String> = requests.iter().map(|r| key(&fingerprint, r)).collect();
    let mut out: Vec<Option<Completion>> = keys.iter().map(|k| cache.get(k)).collect();
    let todo: Vec<usize> = (0..requests.len()).filter(|&i| out[i].is_none()).collect();
    cancel.advance((requests.len() - todo.len()) as u64);
    // Each new completion is kept as soon as it is finished: an interrupted call loses
    // nothing it finished.
    let batch: Vec<ChatRequest> = todo.iter().map(|&i| requests[i].clone()).collect();
    let done = llm.complete_each(&batch, cancel, &|j, c| cache.put(&keys[todo[j]], c))?;
    for (&i, c) in todo.iter().zip(done) {
        out[i] = Some(c);
    }
    Ok(out.into_iter().map(|c| c.unwrap_or_default()).collect())
}
