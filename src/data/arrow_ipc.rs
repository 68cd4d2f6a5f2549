//! Tables as Arrow IPC files (the Feather v2 format,
//! <https://arrow.apache.org/docs/format/Columnar.html#ipc-file-format>): what the experiment
//! store keeps. polars (`polars.read_ipc`, `polars.scan_ipc` over a glob), pyarrow and DuckDB
//! read them. Strings are written as Arrow `large_utf8` (the oldest polars compatibility level)
//! so that readers without the newer view types read them too. Files are written atomically.

use std::fs;
use std::path::Path;

use polars::prelude::*;
use polars_arrow::io::ipc::{read, write};

use super::io::write_atomic;
use crate::error::{Error, Result};

fn ipc_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Write `frame` to `path` as one Arrow IPC file, atomically.
pub fn write_ipc(path: &Path, frame: &DataFrame) -> Result<()> {
    let mut frame = frame.clone();
    frame.rechunk_mut_par();
    let compat = CompatLevel::oldest();
    let schema = Arc::new(frame.schema().to_arrow(compat));
    // write_atomic reports a failure as an I/O error on `path`.
    write_atomic(path, |w| {
        let run = || -> PolarsResult<()> {
            let options = write::WriteOptions { compression: None };
            let mut writer = write::FileWriter::try_new(w, schema.clone(), None, options)?;
            for batch in frame.iter_chunks(compat, false) {
                writer.write(&batch, None)?;
            }
            writer.finish()
        };
        run().map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// Read the Arrow IPC file at `path` into one frame.
pub fn read_ipc(path: &Path) -> Result<DataFrame> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let metadata = read::read_file_metadata(&mut file).map_err(|e| ipc_error(path, e))?;
    let schema = metadata.schema.clone();
    let reader = read::FileReader::new(file, metadata, None, None);
    let mut frame = DataFrame::empty_with_schema(&Schema::from_arrow_schema(&schema));
    for batch in reader {
        let batch = batch.map_err(|e| ipc_error(path, e))?;
        let height = batch.height();
        let columns = batch
            .into_arrays()
            .into_iter()
            .zip(schema.iter_values())
            .map(|(array, field)| Series::try_from((field, vec![array])).map(Column::from))
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(|e| ipc_error(path, e))?;
        let part = DataFrame::new(height, columns).map_err(|e| ipc_error(path, e))?;
        frame.vstack_mut(&part).map_err(|e| ipc_error(path, e))?;
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_columns_types_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let a = df!("id" => ["q1", "q2", "é"], "score" => [1.5f64, -0.0, 2.5],
            "rank" => [1u32, 2, 3], "hit" => [Some(true), None, Some(false)])
        .unwrap();
        let b = df!("id" => ["q4"], "score" => [2.0f64], "rank" => [4u32], "hit" => [Some(true)])
            .unwrap();
        let mut stacked = a.clone();
        stacked.vstack_mut(&b).unwrap();
        write_ipc(&path, &stacked).unwrap();
        let back = read_ipc(&path).unwrap();
        assert_eq!(back.schema(), stacked.schema());
        assert!(back.equals_missing(&stacked));
        let empty = a.head(Some(0));
        write_ipc(&path, &empty).unwrap();
        let back = read_ipc(&path).unwrap();
        assert_eq!((back.height(), back.schema()), (0, empty.schema()));
    }

    #[test]
    fn a_file_that_is_not_arrow_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.arrow");
        std::fs::write(&path, b"not an arrow file").unwrap();
        let err = read_ipc(&path).unwrap_err().to_string();
        assert!(err.contains("bad.arrow"), "{err}");
    }
}
