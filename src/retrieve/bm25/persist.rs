//! Saving an index to a folder and loading it back.
//!
//! A folder holds `index.bin` (the vocabulary, document ids, and per field the document
//! lengths and posting lists, little-endian) and `meta.json` (format name and version, the
//! configuration, counts, and the FNV-1a 64 checksum and size of `index.bin`). Both are
//! written atomically, data first: a reader that finds the checksum or size off reports a
//! truncated or foreign file instead of loading garbage. Derived scores are recomputed on load.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Bm25, Bm25Config, FieldIndex, TermList};
use crate::data::io::{fnv1a64, write_atomic};
use crate::error::{Error, Result};

const FORMAT: &str = "ragplay-bm25";
/// Version of the on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"RPBM25\0\x01";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    config: Bm25Config,
    documents: u64,
    terms: u64,
    data_bytes: u64,
    data_fnv1a64: String,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> Error {
        Error::Parse {
            path: self.path.to_path_buf(),
            line: 0,
            message: format!("corrupt index file: {what}"),
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.corrupt("truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn count(&mut self, limit: usize) -> Result<usize> {
        let n = self.u64()? as usize;
        if n > limit {
            return Err(self.corrupt("a count exceeds the file size"));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.corrupt("invalid UTF-8 in a string"))
    }
}

impl Bm25 {
    /// Save the index into folder `dir` (created if needed), atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut out: Vec<u8> = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.terms.len() as u64).to_le_bytes());
        for t in &self.terms {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        out.extend_from_slice(&(self.doc_ids.len() as u64).to_le_bytes());
        for (id, alive) in self.doc_ids.iter().zip(&self.alive) {
            out.push(u8::from(*alive));
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&(self.fields.len() as u64).to_le_bytes());
        for field in &self.fields {
            for &l in &field.doc_len {
                out.extend_from_slice(&l.to_le_bytes());
            }
            for list in &field.lists {
                out.extend_from_slice(&(list.len() as u64).to_le_bytes());
                for (&slot, &tf) in list.docs.iter().zip(&list.tfs) {
                    out.extend_from_slice(&slot.to_le_bytes());
                    out.extend_from_slice(&tf.to_le_bytes());
                }
            }
        }
        let meta = Meta {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            config: self.config.clone(),
            documents: self.len() as u64,
            terms: self.terms.len() as u64,
            data_bytes: out.len() as u64,
            data_fnv1a64: format!("{:016x}", fnv1a64(&out)),
        };
        let meta_json =
            serde_json::to_vec_pretty(&meta).map_err(|e| Error::config("index", e.to_string()))?;
        write_atomic(&dir.join("index.bin"), |w| w.write_all(&out))?;
        write_atomic(&dir.join("meta.json"), |w| w.write_all(&meta_json))
    }

    /// Load an index saved by [`Bm25::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("meta.json");
        let data_path = dir.join("index.bin");
        let meta_bytes = std::fs::read(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        let probe: serde_json::Value =
            serde_json::from_slice(&meta_bytes).map_err(|e| Error::Parse {
                path: meta_path.clone(),
                line: e.line(),
                message: format!("not a ragplay index: {e}"),
            })?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(Error::Parse {
                path: meta_path,
                line: 0,
                message: format!("not a ragplay index (format is not {FORMAT:?})"),
            });
        }
        let version = probe.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != FORMAT_VERSION as u64 {
            return Err(Error::Parse {
                path: meta_path,
                line: 0,
                message: format!(
                    "index format version {version}, this ragplay reads version {FORMAT_VERSION}"
                ),
            });
        }
        let meta: Meta = serde_json::from_value(probe).map_err(|e| Error::Parse {
            path: meta_path.clone(),
            line: 0,
            message: format!("invalid index metadata: {e}"),
        })?;
        let bytes = std::fs::read(&data_path).map_err(|e| Error::io(&data_path, e))?;
        let reader_err = |m: &str| Error::Parse {
            path: data_path.clone(),
            line: 0,
            message: format!("corrupt index file: {m}"),
        };
        if bytes.len() as u64 != meta.data_bytes {
            return Err(reader_err(&format!(
                "{} bytes, expected {} (truncated?)",
                bytes.len(),
                meta.data_bytes
            )));
        }
        if format!("{:016x}", fnv1a64(&bytes)) != meta.data_fnv1a64 {
            return Err(reader_err("checksum mismatch"));
        }
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
            path: &data_path,
        };
        if r.take(8)? != MAGIC {
            return Err(reader_err("bad magic bytes"));
        }
        let mut index = Bm25::new(meta.config)?;
        let limit = bytes.len();
        let n_terms = r.count(limit)?;
        for i in 0..n_terms {
            let t = r.string()?;
            index.vocab.insert(t.clone(), i as u32);
            index.terms.push(t);
        }
        let n_slots = r.count(limit)?;
        for i in 0..n_slots {
            let alive = r.take(1)?[0] == 1;
            let id = r.string()?;
            if alive {
                index.slots.insert(id.clone(), i as u32);
            }
            index.doc_ids.push(id);
            index.alive.push(alive);
        }
        let n_fields = r.count(limit)?;
        if n_fields != index.fields.len() {
            return Err(reader_err("field count differs from the configuration"));
        }
        for field in index.fields.iter_mut() {
            let mut f = FieldIndex {
                weight: field.weight,
                ..Default::default()
            };
            f.doc_len = (0..n_slots).map(|_| r.u32()).collect::<Result<_>>()?;
            for _ in 0..n_terms {
                let n = r.count(limit)?;
                let mut list = TermList::default();
                for _ in 0..n {
                    let slot = r.u32()?;
                    let tf = r.u32()?;
                    if slot as usize >= n_slots {
                        return Err(reader_err("posting names a document out of range"));
                    }
                    if list.docs.last().is_some_and(|&last| last >= slot) {
                        return Err(reader_err("postings out of order"));
                    }
                    list.push(slot, tf);
                }
                f.lists.push(list);
            }
            *field = f;
        }
        if r.pos != bytes.len() {
            return Err(reader_err("trailing bytes"));
        }
        index.refresh();
        Ok(index)
    }
}
