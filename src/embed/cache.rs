//! An on-disk cache of text embeddings, safe to share between processes.
//!
//! Layout: `{dir}/{namespace}/{segment}.emb`. The namespace is a hash of everything that
//! changes a vector except the text: the model fingerprint (SHA-256 of its config, tokenizer
//! and weight files), pooling, normalisation, prefix and max_seq_length. Inside a namespace a
//! vector is keyed by the first 16 bytes of the SHA-256 of its text, so a changed model or a
//! changed text is a miss and a stale vector is never served.
//!
//! Segments are immutable: each `store` writes one new file under a unique name (process id,
//! time, counter) through a temporary file and a rename, so readers never see half a file and
//! two processes never write the same file. Readers pick up segments other processes wrote on
//! their next lookup. A segment that fails its checks (magic, sizes, FNV-1a checksum) is
//! skipped and counted in [`CacheStats::corrupt_segments`], never served.
//!
//! [`EmbeddingCache::in_memory`] keeps vectors in memory only, for work within one process
//! (a sweep without a store).
//!
//! Segment format (little-endian): `b"RPEMB001"`, `dim: u32`, `count: u64`, `count` 16-byte
//! keys, `count·dim` f32 values, FNV-1a 64 of all preceding bytes.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::data::io::{fnv1a64, write_atomic};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"RPEMB001";

/// A text's key inside a namespace.
pub type TextKey = [u8; 16];

/// The key of `text`.
pub fn text_key(text: &str) -> TextKey {
    let d = Sha256::digest(text.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// Counters of a cache since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Vectors written.
    pub written: u64,
    /// Segment files written.
    pub segments_written: u64,
    /// Segment files skipped because they failed their checks.
    pub corrupt_segments: u64,
}

#[derive(Default)]
struct Namespace {
    dim: usize,
    seen: HashSet<PathBuf>,
    vectors: HashMap<TextKey, Box<[f32]>>,
}

/// An embedding cache in a folder (or in memory only).
pub struct EmbeddingCache {
    dir: Option<PathBuf>,
    spaces: Mutex<HashMap<String, Namespace>>,
    hits: AtomicU64,
    misses: AtomicU64,
    written: AtomicU64,
    segments_written: AtomicU64,
    corrupt: AtomicU64,
}

/// Parse one segment; `None` when it fails a check.
fn parse_segment(bytes: &[u8], dim: usize) -> Option<Vec<(TextKey, Box<[f32]>)>> {
    if bytes.len() < 8 + 4 + 8 + 8 || &bytes[..8] != MAGIC {
        return None;
    }
    let body = &bytes[..bytes.len() - 8];
    let sum = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().ok()?);
    if fnv1a64(body) != sum {
        return None;
    }
    let seg_dim = u32::from_le_bytes(bytes[8..12].try_into().ok()?) as usize;
    let count = u64::from_le_bytes(bytes[12..20].try_into().ok()?) as usize;
    if seg_dim != dim || body.len() != 20 + count * (16 + 4 * dim) {
        return None;
    }
    let keys = &body[20..20 + 16 * count];
    let vals = &body[20 + 16 * count..];
    Some(
        (0..count)
            .map(|i| {
                let mut k = [0u8; 16];
                k.copy_from_slice(&keys[16 * i..16 * (i + 1)]);
                let v: Box<[f32]> = vals[4 * dim * i..4 * dim * (i + 1)]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                (k, v)
            })
            .collect(),
    )
}

impl EmbeddingCache {
    /// Open (creating if needed) a cache in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self::with_dir(Some(dir)))
    }

    /// A cache that keeps its vectors in memory only, for as long as it lives.
    pub fn in_memory() -> Self {
        Self::with_dir(None)
    }

    fn with_dir(dir: Option<PathBuf>) -> Self {
        EmbeddingCache {
            dir,
            spaces: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            written: AtomicU64::new(0),
            segments_written: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        }
    }

    /// The cache folder; `None` in memory.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Counters since the cache was opened.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            segments_written: self.segments_written.load(Ordering::Relaxed),
            corrupt_segments: self.corrupt.load(Ordering::Relaxed),
        }
    }

    /// The in-memory state of `namespace`, created empty on first use.
    fn space<'a>(
        spaces: &'a mut HashMap<String, Namespace>,
        namespace: &str,
        dim: usize,
    ) -> &'a mut Namespace {
        spaces
            .entry(namespace.to_owned())
            .or_insert_with(|| Namespace {
                dim,
                ..Default::default()
            })
    }

    /// Read the segments of `namespace` not read yet.
    fn refresh(&self, namespace: &str, space: &mut Namespace) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let dir = dir.join(namespace);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "emb") && !space.seen.contains(p))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                // Removed by someone else between listing and reading.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path, e)),
            };
            match parse_segment(&bytes, space.dim) {
                Some(rows) => space.vectors.extend(rows),
                None => {
                    self.corrupt.fetch_add(1, Ordering::Relaxed);
                }
            }
            space.seen.insert(path);
        }
        Ok(())
    }

    /// Look up `keys` in `namespace` (vectors of `dim` values); a hit copies the vector into
    /// the matching row of `out` (`keys.len()·dim` values) and sets `found[i]`.
    pub fn lookup(
        &self,
        namespace: &str,
        dim: usize,
        keys: &[TextKey],
        out: &mut [f32],
        found: &mut [bool],
    ) -> Result<usize> {
        let mut spaces = self.spaces.lock().unwrap_or_else(|p| p.into_inner());
        let space = Self::space(&mut spaces, namespace, dim);
        self.refresh(namespace, space)?;
        let mut hits = 0;
        for (i, key) in keys.iter().enumerate() {
            if let Some(v) = space.vectors.get(key) {
                out[i * dim..(i + 1) * dim].copy_from_slice(v);
                found[i] = true;
                hits += 1;
            }
        }
        self.hits.fetch_add(hits as u64, Ordering::Relaxed);
        self.misses
            .fetch_add((keys.len() - hits) as u64, Ordering::Relaxed);
        Ok(hits)
    }

    /// Store vectors (`keys.len()·dim` values) in `namespace` as one new segment (in memory
    /// only for an in-memory cache).
    pub fn store(
        &self,
        namespace: &str,
        dim: usize,
        keys: &[TextKey],
        vectors: &[f32],
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        assert_eq!(vectors.len(), keys.len() * dim);
        let path = match &self.dir {
            Some(dir) => Some(write_segment(&dir.join(namespace), dim, keys, vectors)?),
            None => None,
        };
        let mut spaces = self.spaces.lock().unwrap_or_else(|p| p.into_inner());
        let space = Self::space(&mut spaces, namespace, dim);
        space.seen.extend(path);
        for (i, k) in keys.iter().enumerate() {
            space
                .vectors
                .insert(*k, vectors[i * dim..(i + 1) * dim].into());
        }
        self.written.fetch_add(keys.len() as u64, Ordering::Relaxed);
        self.segments_written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Write one segment file into `dir` under a name no other writer uses; its path.
fn write_segment(dir: &Path, dim: usize, keys: &[TextKey], vectors: &[f32]) -> Result<PathBuf> {
    let mut bytes = Vec::with_capacity(28 + keys.len() * (16 + 4 * dim));
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(dim as u32).to_le_bytes());
    bytes.extend_from_slice(&(keys.len() as u64).to_le_bytes());
    for k in keys {
        bytes.extend_from_slice(k);
    }
    for v in vectors {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let sum = fnv1a64(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!(
        "{nanos:032}-{}-{}.emb",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    write_atomic(&path, |w: &mut dyn Write| w.write_all(&bytes))?;
    Ok(path)
}
