//! Saving an index to a folder and loading it back.
//!
//! A folder holds `index.bin` (the vocabulary, document ids with an alive flag, and per field
//! the document lengths and posting lists, little-endian) and `meta.json` (format name and
//! version, the configuration, counts, and the FNV-1a 64 checksum and size of `index.bin`).
//! Both are written atomically, data first: a reader that finds the checksum or size off
//! reports a truncated or foreign file instead of loading garbage. Derived scores are
//! recomputed on load.
//!
//! Only the live part is written: dead slots and terms left without postings are skipped and
//! the rest renumbered as compaction would (see [`super::compact`]), so a file has exactly the
//! size of a fresh index's over the same documents. Files written before that keep dead slots
//! (flagged not alive); they are read the same way and compacted on load.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compact::Renumber;
use super::{Bm25, Bm25Config, FieldIndex, TermList};
use crate::data::bytes::{ensure, ByteReader, Corrupt, Decoded};
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

impl Bm25 {
    /// Save the index into folder `dir` (created if needed), atomically. Deleted documents'
    /// slots are not written (the index itself is left as it is).
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_renumbered(dir, &Renumber::compacting(self))
    }

    /// Save the slots and terms `plan` keeps, under their new numbers.
    pub(super) fn save_renumbered(&self, dir: &Path, plan: &Renumber) -> Result<()> {
        let out = self.encode(plan);
        let meta = Meta {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            config: self.config.clone(),
            documents: self.len() as u64,
            terms: plan.old_terms.len() as u64,
            data_bytes: out.len() as u64,
            data_fnv1a64: format!("{:016x}", fnv1a64(&out)),
        };
        let meta_json =
            serde_json::to_vec_pretty(&meta).map_err(|e| Error::config("index", e.to_string()))?;
        write_atomic(&dir.join("index.bin"), |w| w.write_all(&out))?;
        write_atomic(&dir.join("meta.json"), |w| w.write_all(&meta_json))
    }

    /// The contents of `index.bin` for the slots and terms `plan` keeps.
    fn encode(&self, plan: &Renumber) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(plan.old_terms.len() as u64).to_le_bytes());
        for &t in &plan.old_terms {
            let t = &self.terms[t as usize];
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        out.extend_from_slice(&(plan.old_slots.len() as u64).to_le_bytes());
        for &s in &plan.old_slots {
            let id = &self.doc_ids[s as usize];
            out.push(u8::from(self.alive[s as usize]));
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&(self.fields.len() as u64).to_le_bytes());
        for field in &self.fields {
            for &s in &plan.old_slots {
                out.extend_from_slice(&field.doc_len[s as usize].to_le_bytes());
            }
            for &t in &plan.old_terms {
                let list = &field.lists[t as usize];
                out.extend_from_slice(&(list.len() as u64).to_le_bytes());
                for (slot, &tf) in plan.slots(list).zip(&list.tfs) {
                    out.extend_from_slice(&slot.to_le_bytes());
                    out.extend_from_slice(&tf.to_le_bytes());
                }
            }
        }
        out
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
        let mut index = Bm25::new(meta.config.clone())?;
        index.decode(&bytes, &meta).map_err(|c| c.at(&data_path))?;
        // A file of an earlier build may hold dead slots: drop them now.
        if index.has_dead_slots() {
            index.renumber();
        }
        index.refresh();
        Ok(index)
    }

    /// Fill an empty index from the bytes of `index.bin`, checked against `meta`.
    fn decode(&mut self, bytes: &[u8], meta: &Meta) -> Decoded<()> {
        if bytes.len() as u64 != meta.data_bytes {
            return Err(Corrupt("size differs from the metadata (truncated?)"));
        }
        ensure(
            format!("{:016x}", fnv1a64(bytes)) == meta.data_fnv1a64,
            "checksum mismatch",
        )?;
        let mut r = ByteReader::new(bytes);
        r.magic(MAGIC)?;
        let n_terms = r.count(4)?;
        for i in 0..n_terms {
            let t = r.string()?;
            self.vocab.insert(t.clone(), i as u32);
            self.terms.push(t);
        }
        let n_slots = r.count(5)?;
        for i in 0..n_slots {
            let alive = r.u8()? == 1;
            let id = r.string()?;
            let fresh = !alive || self.slots.insert(id.clone(), i as u32).is_none();
            ensure(fresh, "a document id appears twice")?;
            self.doc_ids.push(id);
            self.alive.push(alive);
        }
        let n_fields = r.count(0)?;
        ensure(
            n_fields == self.fields.len(),
            "field count differs from the configuration",
        )?;
        let alive = std::mem::take(&mut self.alive);
        for field in self.fields.iter_mut() {
            *field = decode_field(&mut r, field.weight, n_slots, n_terms, &alive)?;
        }
        self.alive = alive;
        r.finish()
    }
}

/// One field's document lengths and posting lists.
fn decode_field(
    r: &mut ByteReader<'_>,
    weight: f64,
    n_slots: usize,
    n_terms: usize,
    alive: &[bool],
) -> Decoded<FieldIndex> {
    let mut f = FieldIndex {
        weight,
        ..Default::default()
    };
    f.doc_len = r.u32s(n_slots)?.collect();
    for _ in 0..n_terms {
        let n = r.count(8)?;
        let mut list = TermList::default();
        for _ in 0..n {
            let (slot, tf) = (r.u32()?, r.u32()?);
            ensure(
                (slot as usize) < n_slots,
                "posting names a document out of range",
            )?;
            ensure(alive[slot as usize], "posting names a deleted document")?;
            let ordered = list.docs.last().is_none_or(|&last| last < slot);
            ensure(ordered, "postings out of order")?;
            list.push(slot, tf);
        }
        f.lists.push(list);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::never;
    use crate::data::schema::{DOC_ID, TEXT, TITLE};
    use polars::prelude::*;

    #[test]
    fn a_file_with_dead_slots_loads_compacted() {
        let texts = [
            "red apple fruit",
            "green pear",
            "red kiwi kiwi",
            "blue plum fruit",
            "yellow banana",
            "green apple pie",
            "purple grape fruit fruit",
            "orange orange",
        ];
        let ids: Vec<String> = (0..texts.len()).map(|i| format!("d{i}")).collect();
        let corpus = df!(DOC_ID => ids, TITLE => vec![""; texts.len()], TEXT => texts).unwrap();
        let queries = df!(
            "query_id" => ["q1", "q2", "q3"],
            "text" => ["red fruit", "green pear", "orange kiwi"],
        )
        .unwrap();
        let mut index = Bm25::build(Default::default(), &corpus, never()).unwrap();
        index.delete(&["d1"]).unwrap();
        assert_eq!(
            index.num_slots(),
            texts.len(),
            "one in eight dead: not compacted"
        );
        let expected = index.search(&queries, 10, None, never()).unwrap();

        // Written as earlier builds did: every slot and term, the dead one flagged.
        let old = tempfile::tempdir().unwrap();
        index
            .save_renumbered(old.path(), &Renumber::identity(&index))
            .unwrap();
        let back = Bm25::load(old.path()).unwrap();
        assert_eq!((back.len(), back.num_slots()), (index.len(), index.len()));
        assert!(back
            .search(&queries, 10, None, never())
            .unwrap()
            .equals(&expected));

        // Saved now: smaller, and loads to the same index.
        let new = tempfile::tempdir().unwrap();
        index.save(new.path()).unwrap();
        let size =
            |d: &tempfile::TempDir| std::fs::metadata(d.path().join("index.bin")).unwrap().len();
        assert!(size(&new) < size(&old));
        let back = Bm25::load(new.path()).unwrap();
        assert!(back
            .search(&queries, 10, None, never())
            .unwrap()
            .equals(&expected));
    }
}
