//! The stored form of an [`Hnsw`] graph: little-endian bytes, read back only after every
//! list, level and id has been checked, so a truncated or corrupted file is refused rather
//! than searched.

use std::sync::atomic::Ordering;

use super::{atomics, Entry, Hnsw, HnswParams, Links, MAX_LEVEL};
use crate::data::bytes::{ensure, ByteReader, Corrupt, Decoded};

/// The first bytes of a stored graph: a name and the format version.
const MAGIC: &[u8; 8] = b"RPHNSW\x00\x01";

impl Hnsw {
    /// Append the graph to `out`, little-endian: magic and version, the parameters, the row
    /// count, the entry point, each row's level and deleted flag, then the layer-0 and the
    /// upper-layer link blocks. The vectors are not stored.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let p = &self.params;
        out.extend_from_slice(MAGIC);
        for v in [
            p.m as u64,
            p.ef_construction as u64,
            p.ef_search as u64,
            p.seed,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        let (node, level) = self
            .entry
            .map_or((u32::MAX, 0), |e| (e.node, e.level as u32));
        out.extend_from_slice(&node.to_le_bytes());
        out.extend_from_slice(&level.to_le_bytes());
        out.extend_from_slice(&self.links.levels);
        out.extend(self.deleted.iter().map(|&d| u8::from(d)));
        out.reserve(4 * (self.links.base.len() + self.links.up.len()));
        for a in self.links.base.iter().chain(&self.links.up) {
            out.extend_from_slice(&a.load(Ordering::Relaxed).to_le_bytes());
        }
    }

    /// Read a graph written by [`Hnsw::write_to`] for a space of `rows` rows. `None` unless
    /// the bytes are exactly one well-formed graph of `rows` rows: valid parameters, levels
    /// and flags, an entry point on the top level, list lengths within capacity and every
    /// neighbour a row that exists on that layer.
    pub fn read_from(bytes: &[u8], rows: usize) -> Decoded<Self> {
        let mut r = ByteReader::new(bytes);
        r.magic(MAGIC)?;
        let params = HnswParams {
            m: r.usize()?,
            ef_construction: r.usize()?,
            ef_search: r.usize()?,
            seed: r.u64()?,
        };
        params
            .validate()
            .map_err(|_| Corrupt("invalid graph parameters"))?;
        let n = r.usize()?;
        ensure(
            n == rows && n <= u32::MAX as usize,
            "the graph's row count differs",
        )?;
        let (node, level) = (r.u32()?, r.u32()? as usize);
        let levels = r.take(n)?.to_vec();
        let flags = r.take(n)?;
        ensure(
            flags.iter().all(|&b| b <= 1),
            "a deleted flag is neither 0 nor 1",
        )?;
        let deleted: Vec<bool> = flags.iter().map(|&b| b == 1).collect();
        let m = params.m;
        ensure(
            levels.iter().all(|&l| l as usize <= MAX_LEVEL),
            "a level is out of range",
        )?;
        let mut up_start = Vec::with_capacity(n);
        let mut end = 0usize;
        for &l in &levels {
            up_start.push(end);
            end += l as usize * (m + 1);
        }
        let base_len = n.checked_mul(2 * m + 1).ok_or(Corrupt("truncated"))?;
        let links = Links {
            m,
            base: atomics(r.u32s(base_len)?),
            up: atomics(r.u32s(end)?),
            levels,
            up_start,
        };
        let entry = (n > 0).then_some(Entry { node, level });
        let top = links.levels.iter().copied().max().unwrap_or(0) as usize;
        let entry_ok = match entry {
            None => node == u32::MAX && level == 0,
            Some(e) => {
                (e.node as usize) < n
                    && links.levels[e.node as usize] as usize == level
                    && level == top
            }
        };
        r.finish()?;
        ensure(entry_ok, "the entry point is not on the top level")?;
        ensure(links.well_formed(), "a neighbour list is malformed")?;
        let deleted_count = deleted.iter().filter(|&&d| d).count();
        Ok(Self {
            params,
            links,
            entry,
            deleted,
            deleted_count,
        })
    }
}

impl Links {
    /// Whether every list is within capacity and names rows that exist on its layer.
    fn well_formed(&self) -> bool {
        let n = self.len();
        (0..n).all(|node| {
            (0..=self.levels[node] as usize).all(|layer| {
                let block = self.block(node as u32, layer);
                let count = block[0].load(Ordering::Relaxed) as usize;
                count < block.len()
                    && block[1..=count].iter().all(|a| {
                        let id = a.load(Ordering::Relaxed) as usize;
                        id < n && self.levels[id] as usize >= layer
                    })
            })
        })
    }
}
