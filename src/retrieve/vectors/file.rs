//! The byte layout of a saved [`VectorStore`], little-endian:
//! magic `RPVECS\0\x02`, row count (u64), each id (u32 length + UTF-8), one byte per row
//! (1 = deleted), the full-precision vectors (f32), the scanned codes (`f16` bits, or `int8`
//! codes then one f32 scale per row; nothing for `f32`), and the graph (u64 length + its own
//! layout, length 0 without one). Decoding checks every length and never trusts a count.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::codes::{Codes, Storage};
use super::{VectorOptions, VectorStore};
use crate::data::bytes::{ensure, ByteReader, Corrupt, Decoded};
use crate::data::io::{fnv1a64, write_atomic};
use crate::error::{Error, Result};
use crate::retrieve::hnsw::{Hnsw, HnswParams};

const MAGIC: &[u8; 8] = b"RPVECS\x00\x02";
const FORMAT: &str = "ragplay-vectors";
const FORMAT_VERSION: u32 = 1;

/// `meta.json` of a saved store.
#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    dim: usize,
    rows: usize,
    storage: String,
    rescore: usize,
    hnsw: Option<HnswParams>,
    data_bytes: u64,
    data_fnv1a64: String,
}

/// A malformed saved file, named.
pub(crate) fn corrupt(path: &Path, message: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line: 0,
        message: message.into(),
    }
}

impl VectorStore {
    /// Save to a folder: `vectors.bin` ([`VectorStore::to_bytes`]) and `meta.json` (format,
    /// dimension, options, size and checksum of `vectors.bin`), each written atomically,
    /// data first; a save torn between the two is detected on load.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let out = self.to_bytes();
        let meta = Meta {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            dim: self.dim,
            rows: self.rows(),
            storage: self.options.storage.name().into(),
            rescore: self.options.rescore,
            hnsw: self.options.hnsw,
            data_bytes: out.len() as u64,
            data_fnv1a64: format!("{:016x}", fnv1a64(&out)),
        };
        write_atomic(&dir.join("vectors.bin"), |w| w.write_all(&out))?;
        let json =
            serde_json::to_vec_pretty(&meta).map_err(|e| Error::config("index", e.to_string()))?;
        write_atomic(&dir.join("meta.json"), |w| w.write_all(&json))
    }

    /// Load a store saved with [`VectorStore::save`], checked: format, size, checksum, layout.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("meta.json");
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let meta: Meta = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(&path, format!("not a ragplay vector index: {e}")))?;
        if meta.format != FORMAT || meta.version != FORMAT_VERSION {
            return Err(corrupt(
                &path,
                format!(
                    "format {:?} version {}, this ragplay reads {FORMAT:?} version {FORMAT_VERSION}",
                    meta.format, meta.version
                ),
            ));
        }
        let options = VectorOptions {
            storage: meta
                .storage
                .parse::<Storage>()
                .map_err(|e| corrupt(&path, e.to_string()))?,
            rescore: meta.rescore,
            hnsw: meta.hnsw,
        };
        options
            .validate()
            .map_err(|e| corrupt(&path, e.to_string()))?;
        let store = read_store(
            &dir.join("vectors.bin"),
            meta.data_bytes,
            &meta.data_fnv1a64,
            meta.dim,
            options,
        )?;
        if store.rows() != meta.rows {
            return Err(corrupt(
                dir,
                "corrupt index: row count differs from meta.json",
            ));
        }
        Ok(store)
    }

    /// The store as bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.vectors.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.ids.len() as u64).to_le_bytes());
        for id in &self.ids {
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        out.extend((0..self.rows()).map(|r| u8::from(!self.live(r))));
        for v in &self.vectors {
            out.extend_from_slice(&v.to_le_bytes());
        }
        self.codes.to_bytes(&mut out);
        let mut graph = Vec::new();
        if let Some(g) = &self.graph {
            g.write_to(&mut graph);
        }
        out.extend_from_slice(&(graph.len() as u64).to_le_bytes());
        out.extend_from_slice(&graph);
        out
    }

    /// A store from [`VectorStore::to_bytes`]; bytes that are malformed or do not fit `dim`
    /// and `options` are [`Corrupt`], with the reason.
    pub(crate) fn from_bytes(bytes: &[u8], dim: usize, options: VectorOptions) -> Decoded<Self> {
        let mut r = ByteReader::new(bytes);
        r.magic(MAGIC)?;
        let n = r.count(4)?;
        let ids = (0..n)
            .map(|_| r.string())
            .collect::<Decoded<Vec<String>>>()?;
        let flags = r.take(n)?;
        ensure(
            flags.iter().all(|&f| f <= 1),
            "a deleted flag is neither 0 nor 1",
        )?;
        let values = n.checked_mul(dim).ok_or(Corrupt("truncated"))?;
        let vectors = r.f32s(values)?;
        let codes = match options.storage {
            Storage::F32 => Codes::F32,
            Storage::F16 => Codes::F16(r.u16s(values)?),
            Storage::Int8 => Codes::Int8 {
                codes: r.take(values)?.iter().map(|&b| b as i8).collect(),
                scales: r.f32s(n)?,
            },
        };
        let graph_len = r.count(1)?;
        let graph_bytes = r.take(graph_len)?;
        r.finish()?;
        ensure(
            options.hnsw.is_some() == (graph_len > 0),
            "the graph does not match the backend",
        )?;
        let graph = match options.hnsw {
            Some(params) => {
                let g = Hnsw::read_from(graph_bytes, n)?;
                ensure(*g.params() == params, "the graph's parameters differ")?;
                Some(g)
            }
            None => None,
        };
        let deleted: Vec<bool> = flags.iter().map(|&f| f == 1).collect();
        ensure(
            graph.is_some() || !deleted.iter().any(|&d| d),
            "deleted rows without a graph",
        )?;
        let mut slots = FxHashMap::default();
        for (row, id) in ids.iter().enumerate() {
            let fresh = deleted[row] || slots.insert(id.clone(), row as u32).is_none();
            ensure(fresh, "a document id appears twice")?;
        }
        ensure(
            vectors.iter().all(|v| v.is_finite()),
            "a vector value is not finite",
        )?;
        let mut store = VectorStore::new(dim, options).map_err(|_| Corrupt("invalid options"))?;
        store.deleted = if deleted.iter().any(|&d| d) {
            deleted
        } else {
            Vec::new()
        };
        store.ids = ids;
        store.slots = slots;
        store.vectors = vectors;
        store.codes = codes;
        store.graph = graph;
        store.rank_ids();
        Ok(store)
    }
}

/// The store saved in the file at `path`, checked against the size and FNV-1a checksum its
/// metadata recorded, then decoded ([`VectorStore::from_bytes`]).
pub(crate) fn read_store(
    path: &Path,
    size: u64,
    fnv1a: &str,
    dim: usize,
    options: VectorOptions,
) -> Result<VectorStore> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 != size || format!("{:016x}", fnv1a64(&bytes)) != fnv1a {
        return Err(corrupt(
            path,
            "corrupt index file: size or checksum differs (truncated?)",
        ));
    }
    VectorStore::from_bytes(&bytes, dim, options).map_err(|c| c.at(path))
}
