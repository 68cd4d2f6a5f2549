//! File plumbing shared by the loaders and writers: reading a text file line by line with
//! 1-based line numbers and UTF-8 checking, and writing files atomically (write a temporary
//! file beside the target, flush it to disk, rename it over the target) so that an
//! interrupted write never leaves a half-written file behind.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// A whole file in memory, iterated as numbered lines.
pub struct TextFile {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
}

impl TextFile {
    /// Read the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// The file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Non-blank lines as `(line_number, text)`, 1-based, without the line ending; invalid
    /// UTF-8 is an error naming the line.
    pub fn lines(&self) -> impl Iterator<Item = Result<(usize, &str)>> + '_ {
        self.bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .filter_map(move |(i, raw)| {
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                match std::str::from_utf8(raw) {
                    Ok(s) if s.trim().is_empty() => None,
                    Ok(s) => Some(Ok((i + 1, s))),
                    Err(e) => Some(Err(Error::InvalidUtf8 {
                        path: self.path.clone(),
                        line: i + 1,
                        byte: e.valid_up_to(),
                    })),
                }
            })
    }

    /// A parse error at `line` of this file.
    pub fn error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Parse {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }
}

/// Write `path` atomically: the content goes to a temporary file in the same folder, is synced,
/// and is renamed over `path`. Parent folders are created.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::config("path", format!("{} names no file", path.display())))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let result = (|| {
        let file = fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// FNV-1a (64-bit) of `bytes`: the checksum of ragplay's binary files.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}
