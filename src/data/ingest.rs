//! Reading a folder of user documents into a corpus table.
//!
//! The files under a folder whose `/`-separated relative paths match a glob (by default
//! [`DEFAULT_GLOB`]) are read in parallel and become rows `doc_id` (the relative path),
//! `title`, `text` and `format`, sorted by `doc_id`. The format follows the extension:
//!
//! | extension           | `format`     | `text`                         | `title`                                  |
//! |---------------------|--------------|--------------------------------|------------------------------------------|
//! | `.md`, `.markdown`  | `"markdown"` | the file                       | the first level-1 heading, else the stem |
//! | `.txt`              | `"text"`     | the file                       | the file stem                            |
//! | `.html`, `.htm`     | `"html"`     | Markdown ([`super::html`])     | `<title>`, else the first heading, else the stem |
//!
//! PDF is not read: no maintained pure-Rust crate extracts PDF text with its layout (headings,
//! reading order) well enough, so a `.pdf` is not matched by the default glob, and a file of
//! any other extension matched by a caller's glob is reported like an unreadable file.
//!
//! A file that cannot be read (permissions, a dangling symlink, NUL bytes, invalid UTF-8, an
//! unsupported extension, something other than a regular file) and a folder the walk cannot
//! enter (permissions, a symlink loop) are reported by path: [`OnError::Raise`] returns the
//! first in path order as the error, [`OnError::Skip`] lists them all in
//! [`Documents::skipped`]. Symlinks are followed; a loop is reported, never walked twice.
//! Files and folders whose name starts with `.` are not read. A UTF-8 byte order mark is
//! removed.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use super::glob::Glob;
use super::html::html_to_markdown;
use super::schema::{self, DOC_ID, FORMAT, TEXT, TITLE};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::options::option_enum;

/// The files read by default: Markdown, plain text and HTML, in any subfolder.
pub const DEFAULT_GLOB: &str = "**/*.{md,markdown,txt,html,htm}";

option_enum! {
    /// What to do with a file that cannot be read.
    #[derive(Default)]
    pub enum OnError: "errors" {
        /// Fail with the first such file's error.
        #[default]
        Raise => "raise",
        /// Leave it out and report it in [`Documents::skipped`].
        Skip => "skip",
    }
}

option_enum! {
    /// The source format of a document, from its extension; its name is written in the
    /// `format` column.
    pub enum Format: "format" {
        Markdown => "markdown",
        Text => "text",
        Html => "html",
    }
}

impl Format {
    /// The format of a file with this extension (ASCII case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "txt" => Some(Format::Text),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Options of [`read_documents`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Which files to read, relative to the folder (see [`super::glob`]).
    pub glob: String,
    /// What to do with a file that cannot be read.
    pub errors: OnError,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            glob: DEFAULT_GLOB.to_owned(),
            errors: OnError::Raise,
        }
    }
}

/// A file left out under [`OnError::Skip`].
#[derive(Debug)]
pub struct Skipped {
    /// The file or folder.
    pub path: PathBuf,
    /// Why; its `Display` names the path.
    pub error: Error,
}

/// What [`read_documents`] returns.
#[derive(Debug)]
pub struct Documents {
    /// `doc_id`, `title`, `text`, `format` (String), sorted by `doc_id`.
    pub corpus: DataFrame,
    /// The files and folders left out, in path order (empty under [`OnError::Raise`]).
    pub skipped: Vec<Skipped>,
}

/// One document read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub title: String,
    pub text: String,
    pub format: Format,
}

/// A path the walk found: a file to read, or the error that stands for it.
struct Found {
    rel: String,
    path: PathBuf,
    error: Option<Error>,
}

/// Read the documents under `root` (see the module documentation). Progress counts files.
///
/// Errors: [`Error::Io`] if `root` does not exist or is not a folder; [`Error::Config`] for a
/// bad glob; [`Error::Document`] naming `root` and the glob when no file matches; under
/// [`OnError::Raise`], the first file's error in path order.
pub fn read_documents(root: &Path, options: &ReadOptions, cancel: &Cancel) -> Result<Documents> {
    let glob = Glob::new(&options.glob)?;
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        let e = std::io::Error::from_raw_os_error(libc::ENOTDIR);
        return Err(Error::io(root, e));
    }
    let mut found = walk(root, &glob, cancel)?;
    if found.is_empty() {
        return Err(Error::document(
            root,
            format!("no documents match glob {:?}", glob.as_str()),
        ));
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    cancel.start("read", found.len() as u64);
    let read: Vec<Result<Document>> = found
        .par_iter_mut()
        .map(|f| {
            cancel.check()?;
            let out = match f.error.take() {
                Some(e) => Err(e),
                None => read_document(&f.path),
            };
            cancel.advance(1);
            out
        })
        .collect();
    let mut rows = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut skipped = Vec::new();
    for (f, doc) in found.into_iter().zip(read) {
        match doc {
            Ok(d) => {
                rows.0.push(f.rel);
                rows.1.push(d.title);
                rows.2.push(d.text);
                rows.3.push(d.format.name().to_owned());
            }
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) if options.errors == OnError::Raise => return Err(e),
            Err(error) => skipped.push(Skipped {
                path: f.path,
                error,
            }),
        }
    }
    let corpus = schema::frame(vec![
        schema::string_col(DOC_ID, rows.0),
        schema::string_col(TITLE, rows.1),
        schema::string_col(TEXT, rows.2),
        schema::string_col(FORMAT, rows.3),
    ])?;
    Ok(Documents { corpus, skipped })
}

/// The relative path of `path` under `root`, `/`-separated (lossy for names that are not
/// UTF-8).
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// The matching files under `root`, and the walk's errors that concern them: a loop or a
/// folder that cannot be read always, a dangling symlink when its path matches.
fn walk(root: &Path, glob: &Glob, cancel: &Cancel) -> Result<Vec<Found>> {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut found = Vec::new();
    for entry in walker {
        cancel.check()?;
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                if let Some(f) = walk_error(root, glob, err) {
                    found.push(f);
                }
                continue;
            }
        };
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        let rel = relative(root, entry.path());
        if !glob.matches(&rel) {
            continue;
        }
        let path = entry.into_path();
        let error = (!kind.is_file()).then(|| Error::document(&path, "not a regular file"));
        found.push(Found { rel, path, error });
    }
    Ok(found)
}

fn walk_error(root: &Path, glob: &Glob, err: walkdir::Error) -> Option<Found> {
    let path = err.path().unwrap_or(root).to_path_buf();
    let rel = relative(root, &path);
    let error = if let Some(ancestor) = err.loop_ancestor() {
        Error::document(
            &path,
            format!(
                "a symlink loop back to {:?}",
                ancestor.display().to_string()
            ),
        )
    } else {
        let dangling = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
        if dangling && !glob.matches(&rel) {
            return None;
        }
        let source = err
            .into_io_error()
            .unwrap_or_else(|| std::io::Error::other("cannot be walked"));
        Error::io(&path, source)
    };
    Some(Found {
        rel,
        path,
        error: Some(error),
    })
}

/// Read and convert one file.
pub fn read_document(path: &Path) -> Result<Document> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = Format::from_extension(&ext).ok_or_else(|| {
        Error::document(
            path,
            format!("unsupported extension {ext:?}; readable: md, markdown, txt, html, htm"),
        )
    })?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = decode(path, &bytes)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(convert(text, format, &stem))
}

/// The text of a file's bytes: a NUL byte (a binary file) or invalid UTF-8 is an error naming
/// the byte offset and line. A UTF-8 byte order mark is removed.
pub fn decode<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str> {
    let line = |at: usize| 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    if let Some(at) = memchr::memchr(0, bytes) {
        return Err(Error::document(
            path,
            format!("not a text file: NUL byte at byte {at} (line {})", line(at)),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        Error::document(
            path,
            format!("invalid UTF-8 at byte {at} (line {})", line(at)),
        )
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// A document from its text: HTML becomes Markdown; the title as the module documentation
/// says, `stem` when there is none.
pub fn convert(text: &str, format: Format, stem: &str) -> Document {
    let (title, text) = match format {
        Format::Text => (None, text.to_owned()),
        Format::Markdown => (markdown_title(text), text.to_owned()),
        Format::Html => {
            let c = html_to_markdown(text);
            (c.title.or(c.first_heading), c.markdown)
        }
    };
    Document {
        title: title.unwrap_or_else(|| stem.to_owned()),
        text,
        format,
    }
}

/// The text of the first level-1 heading (ATX `# ` or setext `===`) of a Markdown text, with
/// whitespace collapsed; `None` if there is none or it is blank.
pub fn markdown_title(text: &str) -> Option<String> {
    use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
    let mut title: Option<String> = None;
    for event in Parser::new(text) {
        match (&mut title, event) {
            (
                None,
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H1,
                    ..
                }),
            ) => {
                title = Some(String::new());
            }
            (Some(t), Event::Text(s) | Event::Code(s)) => t.push_str(&s),
            (Some(t), Event::SoftBreak | Event::HardBreak) => t.push(' '),
            (Some(t), Event::End(TagEnd::Heading(_))) => {
                let collapsed = t.split_whitespace().collect::<Vec<_>>().join(" ");
                if !collapsed.is_empty() {
                    return Some(collapsed);
                }
                title = None;
            }
            _ => {}
        }
    }
    None
}
