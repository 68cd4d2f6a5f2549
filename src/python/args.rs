//! The argument layer of the bindings: one `FromPyObject` type per kind of input, so class
//! files hold classes and every function reads the same input the same way (as polars'
//! `conversion/` and pydantic-core's `src/input/` do).
//!
//! | type | accepts |
//! |---|---|
//! | [`Frame`] | a `polars.DataFrame` |
//! | [`Ids`] | an id set: a list or tuple of str, a `polars.Series`, a 1-D numpy array of str, or a frame with the id column |
//! | [`Runs`] | one run table, a stacked table with a `run` column, a dict of name to run table, or a list of run tables |
//! | [`Matrix`] | a C-contiguous 2-D numpy float32 array, borrowed |
//! | [`Texts`] | a sequence of str (not a single str) |
//! | [`Opt`] | an option string, parsed by the core's vocabulary (a `ConfigError` lists the valid ones) |
//! | [`Weights`], [`StopWordsArg`] | fusion weights (a list or a dict by run name); a stop-word list |
//!
//! Arguments that are objects of ragplay's own classes are read next to those classes, so
//! that this module depends on none of them: `RetrieverArg` (`retriever.rs`), `Reranker`
//! (`rerank.rs`), `Cache` (`embed.rs`), `ExperimentArg` (`sweep.rs`).
//!
//! Messages say what was expected and what came; pyo3 adds the argument's name as a note of
//! the exception (`expected a polars.DataFrame, got dict` / `while processing 'corpus'`).

use std::marker::PhantomData;

use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use polars::prelude::DataFrame;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use super::errors::{warn_as, DataError};
use super::frame::import_frame;
use crate::data::schema::{self, DOC_ID, QUERY_ID, RUN};
use crate::error::Error;
use crate::text::StopWords;

/// The type name of an object, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

fn is_instance(obj: &Bound<'_, PyAny>, module: &str, class: &str) -> PyResult<bool> {
    let cls = obj.py().import(module)?.getattr(class)?;
    obj.is_instance(&cls)
}

/// A `polars.DataFrame` argument, read without copying its buffers.
pub struct Frame(pub DataFrame);

impl Frame {
    /// The frame of `obj`, read by hand, with a `TypeError` that names `what` otherwise.
    pub fn named(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<DataFrame> {
        if !is_instance(obj, "polars", "DataFrame")? {
            return Err(PyTypeError::new_err(format!(
                "{what} must be a polars.DataFrame, got {}",
                type_name(obj)
            )));
        }
        import_frame(obj)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Frame {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !is_instance(&obj, "polars", "DataFrame")? {
            return Err(PyTypeError::new_err(format!(
                "expected a polars.DataFrame, got {}",
                type_name(&obj)
            )));
        }
        Ok(Frame(import_frame(&obj)?))
    }
}

/// The column an id set names when it is given as a frame.
pub trait IdColumn {
    const COLUMN: &'static str;
}

/// Document ids (`doc_id`).
pub struct DocId;
/// Query ids (`query_id`).
pub struct QueryId;

impl IdColumn for DocId {
    const COLUMN: &'static str = DOC_ID;
}

impl IdColumn for QueryId {
    const COLUMN: &'static str = QUERY_ID;
}

/// An id set argument (see the module docs); a single str, a mapping or a set is a
/// `TypeError`, a frame without the id column a `DataError`.
pub struct Ids<C> {
    pub ids: Vec<String>,
    column: PhantomData<C>,
}

impl<C> Ids<C> {
    pub fn into_vec(self) -> Vec<String> {
        self.ids
    }
}

impl<'a, 'py, C: IdColumn> FromPyObject<'a, 'py> for Ids<C> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let column = C::COLUMN;
        let values = if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "expected a sequence of ids, got a single str",
            ));
        } else if is_instance(&obj, "polars", "DataFrame")? {
            let columns: Vec<String> = obj.getattr("columns")?.extract()?;
            if !columns.iter().any(|c| c == column) {
                return Err(DataError::new_err(format!(
                    "expected a DataFrame of ids with a {column:?} column, got columns {columns:?}"
                )));
            }
            obj.get_item(column)?.call_method0("to_list")?
        } else if is_instance(&obj, "polars", "Series")? {
            obj.call_method0("to_list")?
        } else if is_instance(&obj, "numpy", "ndarray")? {
            obj.call_method0("tolist")?
        } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            obj.to_owned()
        } else {
            return Err(PyTypeError::new_err(format!(
                "expected a list of str, a polars Series, a numpy array or a DataFrame with a \
                 {column:?} column, got {}",
                type_name(&obj)
            )));
        };
        Ok(Ids {
            ids: str_items("", values.try_iter()?)?,
            column: PhantomData,
        })
    }
}

/// Document ids.
pub type DocIds = Ids<DocId>;
/// Query ids.
pub type QueryIds = Ids<QueryId>;

/// The items of a sequence as owned strings; a non-str item is a `TypeError` and a string
/// that is not valid UTF-8 (a lone surrogate) a `DataError`, both naming `name[i]` (`[i]`
/// alone when `name` is empty: pyo3 puts the argument's name before a `TypeError`).
pub fn str_items<'py>(
    name: &str,
    items: impl IntoIterator<Item = PyResult<Bound<'py, PyAny>>>,
) -> PyResult<Vec<String>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            let s = item.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{name}[{i}]: expected str, got {}",
                    type_name(&item)
                ))
            })?;
            let text = s.to_cow().map_err(|e| {
                DataError::new_err(format!("{name}[{i}]: not valid UTF-8 text: {e}"))
            })?;
            Ok(text.into_owned())
        })
        .collect()
}

/// A sequence of str (texts to embed); a single str is a `TypeError`.
pub struct Texts(pub Vec<String>);

impl<'a, 'py> FromPyObject<'a, 'py> for Texts {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "expected a sequence of str, got a single str",
            ));
        }
        Ok(Texts(str_items("", obj.try_iter()?)?))
    }
}

/// `(query, document)` string pairs.
pub struct Pairs(pub Vec<(String, String)>);

impl<'a, 'py> FromPyObject<'a, 'py> for Pairs {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        obj.try_iter()?
            .enumerate()
            .map(|(i, item)| {
                let item = item?;
                let parts = str_items(&format!("[{i}]"), item.try_iter()?)?;
                match <[String; 2]>::try_from(parts) {
                    Ok([q, d]) => Ok((q, d)),
                    Err(parts) => Err(PyTypeError::new_err(format!(
                        "[{i}]: expected a (query, document) pair, got {} items",
                        parts.len()
                    ))),
                }
            })
            .collect::<PyResult<_>>()
            .map(Pairs)
    }
}

/// Several runs: a dict of run name to run table (in its order), a list or tuple of run
/// tables (named `run1`, `run2`, ...), or one table, which may stack several runs in a `run`
/// column.
pub enum Runs {
    Named(Vec<(String, DataFrame)>),
    Table(DataFrame),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Runs {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(dict) = obj.cast::<PyDict>() {
            return dict
                .iter()
                .map(|(name, frame)| {
                    let name: String = name.extract()?;
                    let frame = Frame::named(&frame, &format!("run {name:?}"))?;
                    Ok((name, frame))
                })
                .collect::<PyResult<_>>()
                .map(Runs::Named);
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            return obj
                .try_iter()?
                .enumerate()
                .map(|(i, frame)| {
                    let frame = Frame::named(&frame?, &format!("runs[{i}]"))?;
                    Ok((format!("run{}", i + 1), frame))
                })
                .collect::<PyResult<_>>()
                .map(Runs::Named);
        }
        if is_instance(&obj, "polars", "DataFrame")? {
            return Ok(Runs::Table(import_frame(&obj)?));
        }
        Err(PyTypeError::new_err(format!(
            "expected a polars.DataFrame, a dict of run name to DataFrame or a list of \
             DataFrames, got {}",
            type_name(&obj)
        )))
    }
}

impl Runs {
    /// One table for `evaluate`, `compare` and the charts: named runs stacked with a `run`
    /// column; a table as it is.
    pub fn into_table(self) -> crate::Result<DataFrame> {
        match self {
            Runs::Table(frame) => Ok(frame),
            Runs::Named(runs) => {
                let refs: Vec<(&str, &DataFrame)> =
                    runs.iter().map(|(n, f)| (n.as_str(), f)).collect();
                crate::run::stack_runs(&refs)
            }
        }
    }

    /// Named runs for fusion: a stacked table split by its `run` column; a single run table
    /// is a `ConfigError` (nothing to fuse).
    pub fn into_named(self) -> crate::Result<Vec<(String, DataFrame)>> {
        match self {
            Runs::Named(runs) => Ok(runs),
            Runs::Table(frame) if schema::has_column(&frame, RUN) => crate::run::split_runs(&frame),
            Runs::Table(_) => Err(Error::config(
                "runs",
                "a single run table has nothing to fuse; give a dict or list of runs, or a \
                 stacked table with a \"run\" column",
            )),
        }
    }
}

/// A 2-D float32 numpy array, borrowed (C-contiguous).
pub struct Matrix<'py>(pub PyReadonlyArray2<'py, f32>);

impl<'a, 'py> FromPyObject<'a, 'py> for Matrix<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let arr = obj
            .cast::<PyArray2<f32>>()
            .map_err(|_| {
                PyTypeError::new_err(
                    "expected a 2-D numpy float32 array (np.asarray(x, dtype=np.float32))",
                )
            })?
            .readonly();
        if !arr.is_c_contiguous() {
            return Err(PyTypeError::new_err(
                "expected a C-contiguous array (np.ascontiguousarray)",
            ));
        }
        Ok(Matrix(arr))
    }
}

impl Matrix<'_> {
    /// Values per row.
    pub fn dim(&self) -> usize {
        self.0.shape()[1]
    }

    /// The values, row-major.
    pub fn values(&self) -> PyResult<&[f32]> {
        Ok(self.0.as_slice()?)
    }

    /// A `ConfigError` naming `name` unless rows have `want` values.
    pub fn check_dim(&self, want: usize, name: &'static str) -> PyResult<()> {
        let got = self.dim();
        if got != want {
            return Err(Error::config(
                name,
                format!("vectors have {got} values, the index {want}"),
            )
            .into());
        }
        Ok(())
    }
}

/// An option string parsed by the core's vocabulary: an unknown value is a `ConfigError`
/// that names the option and lists the valid values.
pub struct Opt<T>(pub T);

impl<'a, 'py, T> FromPyObject<'a, 'py> for Opt<T>
where
    T: std::str::FromStr<Err = Error>,
{
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let text = obj
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("expected str, got {}", type_name(&obj))))?;
        Ok(Opt(text.to_cow()?.parse::<T>()?))
    }
}

/// The `stopwords` argument: `None`, a built-in list name, or a list of words.
pub struct StopWordsArg(pub StopWords);

impl<'a, 'py> FromPyObject<'a, 'py> for StopWordsArg {
    type Error = PyErr;

    fn extract(o: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if o.is_none() {
            Ok(StopWordsArg(StopWords::None))
        } else if o.is_instance_of::<PyString>() {
            Ok(StopWordsArg(StopWords::Builtin(o.extract()?)))
        } else {
            o.extract::<Vec<String>>()
                .map(|w| StopWordsArg(StopWords::Custom(w)))
                .map_err(|_| {
                    PyTypeError::new_err(
                        "expected None, a list name such as \"english\", or a list of words",
                    )
                })
        }
    }
}

impl Default for StopWordsArg {
    fn default() -> Self {
        StopWordsArg(StopWords::Builtin("english".into()))
    }
}

/// Fusion weights: a list in the order of the runs, or a dict of run name to weight.
pub enum Weights {
    List(Vec<f64>),
    ByName(Vec<(String, f64)>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Weights {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(dict) = obj.cast::<PyDict>() {
            return dict
                .iter()
                .map(|(k, v)| Ok((k.extract::<String>()?, v.extract::<f64>()?)))
                .collect::<PyResult<_>>()
                .map(Weights::ByName);
        }
        Ok(Weights::List(obj.extract()?))
    }
}

impl Weights {
    /// One weight per run of `names`, in their order.
    pub fn resolve(self, names: &[String]) -> crate::Result<Vec<f64>> {
        match self {
            Weights::List(w) => Ok(w),
            Weights::ByName(pairs) => {
                if let Some((key, _)) = pairs.iter().find(|(k, _)| !names.contains(k)) {
                    return Err(Error::config(
                        "weights",
                        format!("{key:?} is not one of the runs {names:?}"),
                    ));
                }
                names
                    .iter()
                    .map(|name| {
                        pairs
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, w)| *w)
                            .ok_or_else(|| {
                                Error::config("weights", format!("no weight for run {name:?}"))
                            })
                    })
                    .collect()
            }
        }
    }
}

/// A JSON value as the Python object `json.loads` makes of it.
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?
        .call_method1("loads", (value.to_string(),))
}

/// Keyword arguments renamed in this release, read from a function's `**kwargs`: an old
/// name is taken for its new one with a `DeprecationWarning` (the old names keep working for
/// one release); any other keyword is a `TypeError`, as Python raises for an unknown one.
/// Returns `(new name, value)` pairs.
pub fn renamed<'py>(
    py: Python<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
    renames: &[(&str, &'static str)],
) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
    let Some(kwargs) = kwargs else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, value) in kwargs.iter() {
        let key: String = key.extract()?;
        let Some(&(old, new)) = renames.iter().find(|(old, _)| *old == key) else {
            return Err(PyTypeError::new_err(format!(
                "got an unexpected keyword argument '{key}'"
            )));
        };
        deprecated(py, &format!("{old}= is deprecated; use {new}="))?;
        out.push((new, value));
    }
    Ok(out)
}

/// The `TypeError` for a call that gives a renamed argument under both its names.
pub fn given_twice(old: &str, new: &str) -> PyErr {
    PyTypeError::new_err(format!("give {new}= or its old name {old}=, not both"))
}

/// Emit a `DeprecationWarning` with `message`.
pub fn deprecated(py: Python<'_>, message: &str) -> PyResult<()> {
    let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
    warn_as(category.as_any(), message)
}
