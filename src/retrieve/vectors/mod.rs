//! A vector store: document ids and their vectors kept together, searched by inner product,
//! exactly (blocked matrix products, [`exact`]) or approximately through an HNSW graph
//! ([`crate::retrieve::hnsw`]). The store knows nothing of models; [`super::DenseIndex`]
//! puts an encoder in front of it.
//!
//! Storage ([`Storage`]): the copy that searches read is `f32`, `f16` or `int8`; a quantised
//! search keeps a shortlist of `rescore · k` rows (the exact scan; the graph's beam holds
//! `ef` rows, of which the best `min(ef, rescore · k)` are kept) that is rescored with the
//! full-precision vectors, which the store always keeps. The graph is built on the same copy
//! (each inserted row's full-precision vector against the copy of the rows it visits).
//!
//! Deletion: without a graph, deleted rows are removed at once (O(rows · dim)); with a graph
//! they are marked (tombstones, as hnswlib's `mark_deleted`), still navigated but never
//! returned, until [`VectorStore::compact`] rebuilds the graph over the live rows.
//!
//! Allow-lists: the exact scan reads only the allowed rows; the graph search skips the rest
//! while it navigates (hnswlib's filter), and falls back to the exact scan over the allowed
//! rows when that is cheaper: when `allowed² ≤ 4 · ef_search · 2m · rows` (a filtered graph
//! search visits about `ef · 2m / selectivity` vectors to find `ef` allowed ones, the scan
//! `allowed` vectors).

pub mod codes;
pub(crate) mod exact;
pub(crate) mod file;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::hnsw::{Hnsw, HnswParams, Space};
use crate::cancel::Cancel;
use crate::data::schema::{self, DOC_ID};
use crate::error::{Error, Result};
use crate::options::option_enum;
use crate::run::order::{key, key_id_rank, key_score};
pub use codes::Storage;
use codes::{Codes, CodesSpace};
use exact::{Candidates, Table};

option_enum! {
    /// How a vector store is searched.
    #[derive(Default)]
    pub enum Backend: "backend" {
        /// Every vector scanned.
        #[default]
        Exact => "exact",
        /// A navigable small-world graph (Malkov & Yashunin 2018).
        Hnsw => "hnsw",
    }
}

/// How a store keeps and searches its vectors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VectorOptions {
    /// The element type the exact scan reads.
    pub storage: Storage,
    /// With quantised storage, rows rescored exactly per result wanted (shortlist = `rescore · k`).
    pub rescore: usize,
    /// Search through an HNSW graph with these parameters; exact search when `None`.
    pub hnsw: Option<HnswParams>,
}

impl Default for VectorOptions {
    fn default() -> Self {
        Self {
            storage: Storage::F32,
            rescore: 4,
            hnsw: None,
        }
    }
}

impl VectorOptions {
    /// The backend names: the exact scan or an HNSW graph.
    /// Check the options.
    pub fn validate(&self) -> Result<()> {
        if self.rescore == 0 {
            return Err(Error::config("rescore", "must be at least 1"));
        }
        self.hnsw.as_ref().map_or(Ok(()), HnswParams::validate)
    }

    /// The backend's name: `"exact"` or `"hnsw"`.
    pub fn backend(&self) -> Backend {
        if self.hnsw.is_some() {
            Backend::Hnsw
        } else {
            Backend::Exact
        }
    }
}

/// Ids and vectors, searched by inner product.
#[derive(Clone)]
pub struct VectorStore {
    dim: usize,
    options: VectorOptions,
    ids: Vec<String>,
    /// Live ids to their rows.
    slots: FxHashMap<String, u32>,
    /// Full precision, row-major `[ids.len(), dim]`.
    vectors: Vec<f32>,
    codes: Codes,
    /// Tombstones (graph only); empty when no row is deleted.
    deleted: Vec<bool>,
    id_rank: Vec<u32>,
    row_of_rank: Vec<u32>,
    /// `ids` as a `doc_id` column, for the run tables searches return.
    id_column: StringChunked,
    graph: Option<Hnsw>,
}

impl VectorStore {
    /// An empty store of `dim`-value vectors.
    pub fn new(dim: usize, options: VectorOptions) -> Result<Self> {
        if dim == 0 {
            return Err(Error::config("dim", "vectors must have at least one value"));
        }
        options.validate()?;
        Ok(Self {
            dim,
            options,
            ids: Vec::new(),
            slots: FxHashMap::default(),
            vectors: Vec::new(),
            codes: Codes::new(options.storage),
            deleted: Vec::new(),
            id_rank: Vec::new(),
            row_of_rank: Vec::new(),
            id_column: StringChunked::from_iter_values(DOC_ID.into(), std::iter::empty::<&str>()),
            graph: options.hnsw.map(Hnsw::new).transpose()?,
        })
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The options.
    pub fn options(&self) -> &VectorOptions {
        &self.options
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no document is live.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Rows held, deleted ones awaiting [`VectorStore::compact`] included.
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// Whether `row` holds a live document.
    fn live(&self, row: usize) -> bool {
        self.deleted.is_empty() || !self.deleted[row]
    }

    /// The live ids, in row order.
    pub fn ids(&self) -> Vec<&str> {
        (0..self.rows())
            .filter(|&r| self.live(r))
            .map(|r| self.ids[r].as_str())
            .collect()
    }

    /// The id of `row`.
    pub fn id(&self, row: u32) -> &str {
        &self.ids[row as usize]
    }

    /// The live vectors, row-major, in the order of [`VectorStore::ids`].
    pub fn vectors(&self) -> Vec<f32> {
        if self.deleted.is_empty() {
            return self.vectors.clone();
        }
        (0..self.rows())
            .filter(|&r| self.live(r))
            .flat_map(|r| self.row(r).iter().copied())
            .collect()
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    /// The row of a live id.
    pub fn slot(&self, id: &str) -> Option<u32> {
        self.slots.get(id).copied()
    }

    /// The vector of a live id.
    pub fn vector(&self, id: &str) -> Option<&[f32]> {
        self.slot(id).map(|s| self.row(s as usize))
    }

    /// Append documents: `vectors` holds one row of [`VectorStore::dim`] finite values per id;
    /// ids must be new. With a graph, the new rows are inserted (in parallel, with progress);
    /// a failed or interrupted call leaves the store as it was.
    pub fn add(&mut self, ids: Vec<String>, vectors: &[f32], cancel: &Cancel) -> Result<()> {
        check_rows(vectors, &ids, self.dim, &DOC_ROWS)?;
        let mut seen = FxHashMap::default();
        for (row, id) in ids.iter().enumerate() {
            if let Some(first) = seen.insert(id.as_str(), row) {
                return Err(Error::DuplicateId {
                    kind: "document",
                    id: id.clone(),
                    location: format!("the documents to add (rows {first} and {row})"),
                });
            }
            if self.slots.contains_key(id) {
                return Err(Error::DuplicateId {
                    kind: "document",
                    id: id.clone(),
                    location: "the index (delete it first to replace it)".into(),
                });
            }
        }
        if let Some(graph) = &self.graph {
            let mut all = self.vectors.clone();
            all.extend_from_slice(vectors);
            let mut graph = graph.clone();
            let mut codes = self.codes.clone();
            codes.push(vectors, self.dim);
            graph.insert(
                &CodesSpace {
                    codes: &codes,
                    vectors: &all,
                    dim: self.dim,
                },
                cancel,
            )?;
            self.vectors = all;
            self.codes = codes;
            self.graph = Some(graph);
        } else {
            self.vectors.extend_from_slice(vectors);
            self.codes.push(vectors, self.dim);
        }
        let first = self.ids.len();
        for (i, id) in ids.into_iter().enumerate() {
            self.slots.insert(id.clone(), (first + i) as u32);
            self.ids.push(id);
        }
        if !self.deleted.is_empty() {
            self.deleted.resize(self.ids.len(), false);
        }
        self.rank_ids();
        Ok(())
    }

    /// Delete documents by id; an unknown id is an error and nothing is deleted.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_ref();
            rows.push(self.slot(id).ok_or_else(|| Error::UnknownId {
                kind: "document",
                id: id.to_owned(),
                location: "the index".into(),
            })?);
        }
        for id in ids {
            self.slots.remove(id.as_ref());
        }
        if self.deleted.is_empty() {
            self.deleted = vec![false; self.rows()];
        }
        for &row in &rows {
            self.deleted[row as usize] = true;
            if let Some(g) = &mut self.graph {
                g.mark_deleted(row);
            }
        }
        if self.graph.is_none() {
            self.retain_live();
        }
        Ok(())
    }

    /// Drop deleted rows for good; with a graph, rebuild it over the live rows (progress and
    /// Ctrl-C as in [`VectorStore::add`]; an interrupted call leaves the store as it was).
    pub fn compact(&mut self, cancel: &Cancel) -> Result<()> {
        if self.deleted.is_empty() {
            return Ok(());
        }
        let mut next = self.clone();
        next.retain_live();
        if let Some(params) = self.options.hnsw {
            let mut graph = Hnsw::new(params)?;
            graph.insert(
                &CodesSpace {
                    codes: &next.codes,
                    vectors: &next.vectors,
                    dim: self.dim,
                },
                cancel,
            )?;
            next.graph = Some(graph);
        }
        *self = next;
        Ok(())
    }

    /// Remove the deleted rows from ids, vectors and codes (not from the graph).
    fn retain_live(&mut self) {
        let keep: Vec<bool> = self.deleted.iter().map(|d| !d).collect();
        let dim = self.dim;
        let mut kept = 0;
        for (row, &k) in keep.iter().enumerate() {
            if k {
                self.vectors
                    .copy_within(row * dim..(row + 1) * dim, kept * dim);
                self.ids.swap(row, kept);
                kept += 1;
            }
        }
        self.vectors.truncate(kept * dim);
        self.ids.truncate(kept);
        self.codes.retain(&keep, dim);
        self.deleted.clear();
        self.slots = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        self.rank_ids();
    }

    /// Number the rows by id, ascending (ties in the scan are broken on these numbers), and
    /// make the id column of result tables.
    fn rank_ids(&mut self) {
        let mut order: Vec<u32> = (0..self.ids.len() as u32).collect();
        order.par_sort_unstable_by(|&a, &b| self.ids[a as usize].cmp(&self.ids[b as usize]));
        self.id_rank = vec![0; order.len()];
        for (rank, &row) in order.iter().enumerate() {
            self.id_rank[row as usize] = rank as u32;
        }
        self.row_of_rank = order;
        self.id_column =
            StringChunked::from_iter_values(DOC_ID.into(), self.ids.iter().map(String::as_str));
    }

    fn table(&self) -> Table<'_> {
        Table {
            dim: self.dim,
            vectors: &self.vectors,
            codes: &self.codes,
            id_rank: &self.id_rank,
            row_of_rank: &self.row_of_rank,
            deleted: &self.deleted,
        }
    }

    /// The rows of an allow-list's ids, ascending and distinct; an id the store does not hold
    /// is an error.
    pub fn allowed_rows(&self, ids: &[String]) -> Result<Vec<u32>> {
        super::allowed_slots(ids, |id| self.slot(id))
    }

    /// The best `k` live rows of each query (rows of [`VectorStore::dim`] values), as
    /// `(row, score)` in run order; only `allow` (ascending rows) compete when given. Exact
    /// without a graph, or when the allow-list makes the scan cheaper.
    pub fn search(
        &self,
        queries: &[f32],
        k: usize,
        allow: Option<&[u32]>,
        cancel: &Cancel,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        let Some(graph) = &self.graph else {
            return self.exact(queries, k, allow, cancel);
        };
        let p = graph.params();
        let ef = p.ef_search.max(k);
        if let Some(rows) = allow {
            let (a, n) = (rows.len() as f64, self.rows() as f64);
            if a * a <= 4.0 * ef as f64 * 2.0 * p.m as f64 * n {
                return self.exact(queries, k, allow, cancel);
            }
        }
        // The beam navigates the quantised copy; its best `wanted` rows are rescored. A
        // graph of at most `ef` rows is scanned whole, and all its rows are rescored, so its
        // results are exact.
        let quantised = !matches!(self.codes, Codes::F32);
        let wanted = if !quantised {
            k
        } else if graph.len() <= ef {
            graph.len().max(k)
        } else {
            ef.min(k.saturating_mul(self.options.rescore)).max(k)
        };
        let space = CodesSpace {
            codes: &self.codes,
            vectors: &self.vectors,
            dim: self.dim,
        };
        let table = self.table();
        let mask: Option<Vec<bool>> = allow.map(|rows| {
            let mut m = vec![false; self.rows()];
            rows.iter().for_each(|&r| m[r as usize] = true);
            m
        });
        let keep = mask.as_ref().map(|m| move |row: u32| m[row as usize]);
        let keep_ref = keep.as_ref().map(|f| f as &(dyn Fn(u32) -> bool + Sync));
        cancel.start("search", (queries.len() / self.dim) as u64);
        queries
            .par_chunks(self.dim)
            .map(|q| {
                cancel.check()?;
                let hits = graph.search(&space, &space.prepare(q), wanted, keep_ref);
                let mut keys: Vec<u64> = hits
                    .into_iter()
                    .map(|(row, s)| key(s, self.id_rank[row as usize]))
                    .collect();
                if quantised {
                    keys = exact::rescore(&table, q, keys, wanted);
                }
                keys.sort_unstable_by(|a, b| b.cmp(a));
                keys.truncate(k);
                cancel.advance(1);
                Ok(keys
                    .into_iter()
                    .map(|k| (self.row_of_rank[key_id_rank(k) as usize], key_score(k)))
                    .collect())
            })
            .collect()
    }

    /// [`VectorStore::search`] by the exact scan, graph or not.
    pub fn exact(
        &self,
        queries: &[f32],
        k: usize,
        allow: Option<&[u32]>,
        cancel: &Cancel,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        let candidates = match allow {
            Some(rows) => Candidates::Rows(rows),
            None => Candidates::All(self.rows()),
        };
        let shortlist = k.saturating_mul(self.options.rescore);
        exact::search(&self.table(), queries, candidates, k, shortlist, cancel)
    }

    /// Set the graph's `ef_search` (an error without a graph).
    pub fn set_ef_search(&mut self, ef_search: usize) -> Result<()> {
        let graph = self.graph.as_mut().ok_or_else(|| {
            Error::config(
                "ef_search",
                "the index has no HNSW graph (backend=\"exact\")",
            )
        })?;
        graph.set_ef_search(ef_search)?;
        if let Some(p) = &mut self.options.hnsw {
            p.ef_search = ef_search;
        }
        Ok(())
    }
}

/// How closely a store's search matches the exact scan: [`VectorStore::recall_report`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecallReport {
    /// Results compared per query.
    pub k: usize,
    /// Queries compared.
    pub queries: usize,
    /// Mean over queries of |search ∩ exact| / |exact|.
    pub recall: f64,
    /// The lowest per-query recall.
    pub recall_min: f64,
    /// Wall time of the exact scan over all queries.
    pub exact_seconds: f64,
    /// Wall time of the store's search over all queries.
    pub search_seconds: f64,
}

impl VectorStore {
    /// Recall@k of [`VectorStore::search`] against [`VectorStore::exact`] on `queries`, with
    /// the wall time of each.
    pub fn recall_report(
        &self,
        queries: &[f32],
        k: usize,
        cancel: &Cancel,
    ) -> Result<RecallReport> {
        crate::run::check_k(k)?;
        let n = queries.len() / self.dim;
        if n == 0 {
            return Err(Error::Empty {
                what: "the queries of the recall report".into(),
            });
        }
        let t = std::time::Instant::now();
        let truth = self.exact(queries, k, None, cancel)?;
        let exact_seconds = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let got = self.search(queries, k, None, cancel)?;
        let search_seconds = t.elapsed().as_secs_f64();
        let per_query: Vec<f64> = truth
            .iter()
            .zip(&got)
            .map(|(t, g)| {
                let want: rustc_hash::FxHashSet<u32> = t.iter().map(|h| h.0).collect();
                let hit = g.iter().filter(|h| want.contains(&h.0)).count();
                if want.is_empty() {
                    1.0
                } else {
                    hit as f64 / want.len() as f64
                }
            })
            .collect();
        Ok(RecallReport {
            k,
            queries: n,
            recall: per_query.iter().sum::<f64>() / n as f64,
            recall_min: per_query.iter().copied().fold(1.0, f64::min),
            exact_seconds,
            search_seconds,
        })
    }
}

impl VectorStore {
    /// [`VectorStore::search`] as a run table: `query_ids` name the query rows, `allow`
    /// holds document ids.
    pub fn search_run(
        &self,
        queries: &[f32],
        query_ids: &[String],
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        super::check_search(self.is_empty(), k)?;
        check_rows(queries, query_ids, self.dim, &QUERY_ROWS)?;
        let rows = allow.map(|ids| self.allowed_rows(ids)).transpose()?;
        if rows.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::Empty {
                what: "the allow list (it allows no document)".into(),
            });
        }
        let hits = self.search(queries, k, rows.as_deref(), cancel)?;
        let qids = StringChunked::from_iter_values("".into(), query_ids.iter().map(String::as_str));
        let hits: Vec<Vec<(u32, f64)>> = hits
            .into_iter()
            .map(|h| h.into_iter().map(|(r, s)| (r, s as f64)).collect())
            .collect();
        crate::run::gather(&qids, &self.id_column, &hits)
    }

    /// [`VectorStore::recall_report`] as one row: `backend`, `storage`, `ef_search`, `k`,
    /// `queries`, `recall`, `recall_min`, `exact_seconds`, `search_seconds`, `speedup`.
    pub fn recall_frame(&self, queries: &[f32], k: usize, cancel: &Cancel) -> Result<DataFrame> {
        super::check_search(self.is_empty(), k)?;
        if !queries.len().is_multiple_of(self.dim) || queries.iter().any(|v| !v.is_finite()) {
            return Err(Error::config(
                "query_vectors",
                format!("must be rows of {} finite values", self.dim),
            ));
        }
        let r = self.recall_report(queries, k, cancel)?;
        let o = &self.options;
        schema::frame(vec![
            Column::new("backend".into(), [o.backend().name()]),
            Column::new("storage".into(), [o.storage.name()]),
            Column::new("ef_search".into(), [o.hnsw.map(|p| p.ef_search as u32)]),
            Column::new("k".into(), [r.k as u32]),
            Column::new("queries".into(), [r.queries as u32]),
            Column::new("recall".into(), [r.recall]),
            Column::new("recall_min".into(), [r.recall_min]),
            Column::new("exact_seconds".into(), [r.exact_seconds]),
            Column::new("search_seconds".into(), [r.search_seconds]),
            Column::new(
                "speedup".into(),
                [r.exact_seconds / r.search_seconds.max(1e-12)],
            ),
        ])
    }
}

/// What a block of vectors is called in errors: the kind of row ("query", "document") and
/// the arguments holding the ids and the values.
#[derive(Clone, Copy)]
pub(crate) struct Rows {
    pub kind: &'static str,
    pub ids_arg: &'static str,
    pub values_arg: &'static str,
}

/// Query vectors passed with `query_ids`.
pub(crate) const QUERY_ROWS: Rows = Rows {
    kind: "query",
    ids_arg: "query_ids",
    values_arg: "query vectors",
};

/// Document vectors passed with `doc_ids`.
pub(crate) const DOC_ROWS: Rows = Rows {
    kind: "document",
    ids_arg: "doc_ids",
    values_arg: "doc vectors",
};

/// Check that `values` holds one row of `dim` finite values per id.
pub(crate) fn check_rows(values: &[f32], ids: &[String], dim: usize, rows: &Rows) -> Result<()> {
    let Rows {
        kind,
        ids_arg,
        values_arg,
    } = *rows;
    if values.len() != ids.len() * dim {
        return Err(Error::config(
            ids_arg,
            format!(
                "{} ids for {} {kind} vectors of {dim} values",
                ids.len(),
                values.len() / dim.max(1)
            ),
        ));
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::config(
            values_arg,
            format!("{kind} {:?} holds a non-finite value", ids[i / dim]),
        )),
        None => Ok(()),
    }
}
