//! File plumbing shared by the loaders and writers: reading a text file line by line with
//! 1-based line numbers and UTF-8 checking, and writing files atomically (write a temporary
//! file beside the target, flush it to disk, rename it over the target) so that an
//! interrupted write never leaves a half-written file behind. A process killed mid-write
//! leaves its temporary file (never the target) behind; [`remove_stale_temporaries`] clears
//! those of writers that are gone.

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

    /// [`TextFile::lines`] without comment lines: those whose first non-blank character is
    /// `#` (as `trec_eval` skips them in qrels and run files).
    pub fn records(&self) -> impl Iterator<Item = Result<(usize, &str)>> + '_ {
        self.lines()
            .filter(|line| !matches!(line, Ok((_, text)) if text.trim_start().starts_with('#')))
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

/// The writer's process id in the name of one of [`write_atomic`]'s temporary files
/// (`.{name}.tmp-{pid}-{n}`), `None` for any other name.
fn temporary_writer(file_name: &str) -> Option<u32> {
    let (head, tail) = file_name.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (head.starts_with('.') && head.len() > 1 && digits(n))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether process `pid` is running (on other systems than Unix: assumed so).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 sends nothing; it only checks that the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Remove, under `dir` and its subfolders, the temporary files of [`write_atomic`] calls
/// whose process is no longer running (killed mid-write); returns how many. Files of
/// running writers, this process included, are left alone.
pub fn remove_stale_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&folder, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if kind.is_dir() {
                folders.push(entry.path());
                continue;
            }
            let stale = (entry.file_name().to_str())
                .and_then(temporary_writer)
                .is_some_and(|pid| pid != std::process::id() && !process_alive(pid));
            if stale {
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(entry.path(), e)),
                }
            }
        }
    }
    Ok(removed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        assert_eq!(temporary_writer(".manifest.json.tmp-11016-8"), Some(11016));
        assert_eq!(temporary_writer(".a.tmp-7-0"), Some(7));
        for other in [
            "manifest.json",
            "a.tmp-7-0",
            "..tmp-7-0",
            ".a.tmp-7-",
            ".a.tmp-x-1",
        ] {
            assert_eq!(temporary_writer(other), None, "{other}");
        }
    }

    #[test]
    fn stale_temporaries_go_and_live_ones_stay() {
        let dir = std::env::temp_dir().join(format!("ragplay-io-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("runs")).unwrap();
        // A process that has exited (and been waited for) is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let own = std::process::id();
        let files = [
            (format!("runs/.a.arrow.tmp-{dead}-3"), false),
            (format!(".manifest.json.tmp-{dead}-0"), false),
            (format!(".manifest.json.tmp-{own}-1"), true),
            ("manifest.json".to_owned(), true),
        ];
        for (name, _) in &files {
            fs::write(dir.join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 2);
        for (name, kept) in &files {
            assert_eq!(dir.join(name).exists(), *kept, "{name}");
        }
        assert_eq!(remove_stale_temporaries(&dir.join("missing")).unwrap(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
