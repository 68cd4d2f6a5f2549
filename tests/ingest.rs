//! Reading a folder of documents without Python: HTML to Markdown conversions computed by
//! hand, titles by format, the order and ids of the rows, the glob, and every kind of bad
//! input (binary files, invalid UTF-8, dangling symlinks, symlink loops, FIFOs, an empty
//! folder, a missing one, an unsupported extension) under both error modes.

use std::fs;
use std::path::Path;

use ragplay::cancel::{never, Cancel};
use ragplay::data::html::html_to_markdown;
use ragplay::data::ingest::{
    convert, markdown_title, read_document, read_documents, Format, OnError, ReadOptions,
};
use ragplay::data::schema::{str_values, DOC_ID, FORMAT, TEXT, TITLE};
use ragplay::polars::prelude::*;
use ragplay::Error;

fn md(html: &str) -> String {
    html_to_markdown(html).markdown
}

#[test]
fn headings_paragraphs_and_breaks() {
    let html = "<html><head><title> My  Page </title><style>p{color:red}</style>\
                <script>var x = '<h1>no</h1>';</script></head>\
                <body><h1>Intro</h1><p>First   paragraph\n spans lines.</p>\
                <p>Line one<br>line two</p><h2>Setup &amp; use</h2><div>In a div</div>\
                <h6>Deep</h6>tail</body></html>";
    let c = html_to_markdown(html);
    assert_eq!(c.title.as_deref(), Some("My Page"));
    assert_eq!(c.first_heading.as_deref(), Some("Intro"));
    assert_eq!(
        c.markdown,
        "# Intro\n\nFirst paragraph spans lines.\n\nLine one\nline two\n\n\
         ## Setup & use\n\nIn a div\n\n###### Deep\n\ntail"
    );
}

#[test]
fn lists_pre_and_entities() {
    let html = "<p>Steps:</p><ul><li>one</li><li>two<ul><li>two.a</li></ul></li></ul>\
                <ol><li><p>first</p></li></ol>\
                <pre>\nfn main() {\n    x &lt; y;\n}\n</pre><p>&lt;tag&gt; &#39;q&#x27; a&nbsp;b &copy;</p>";
    assert_eq!(
        md(html),
        "Steps:\n\n- one\n- two\n  - two.a\n\n- first\n\n\
         ```\nfn main() {\n    x < y;\n}\n```\n\n<tag> 'q' a b ©"
    );
    // A fence longer than any backtick run in the code; an empty block still fences.
    assert_eq!(md("<pre>a ``` b</pre>"), "````\na ``` b\n````");
    assert_eq!(md("x<pre></pre>y"), "x\n\n```\n```\n\ny");
}

#[test]
fn text_never_becomes_structure() {
    // A `#` or a fence at the start of a line of text is escaped; inline ones are not.
    assert_eq!(
        md("<p># not a heading</p><p>```</p><p>a # b</p>"),
        "\\# not a heading\n\n\\```\n\na # b"
    );
    // Table cells are separated by a space, rows by a newline.
    assert_eq!(
        md("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"),
        "a b\n1 2"
    );
}

#[test]
fn broken_html_still_gives_text() {
    assert_eq!(md("<p>a < b and c<d"), "a < b and c");
    let open = html_to_markdown("<h2>Open heading<p>body");
    assert_eq!(open.markdown, "## Open heading\n\nbody");
    assert_eq!(open.first_heading.as_deref(), Some("Open heading"));
    assert_eq!(md("<div><p>unclosed <b>bold"), "unclosed bold");
    assert_eq!(md("</p></div>stray end tags"), "stray end tags");
    assert_eq!(md("<!-- never closed <h1>x</h1>"), "");
    assert_eq!(md("<a href=\"x>y\">link</a> after"), "link after");
    assert_eq!(md("<script>unclosed script"), "");
    assert_eq!(md("text <p class='a"), "text");
    assert_eq!(
        md("<head><title>t</title><h1>No body tag</h1>"),
        "# No body tag"
    );
    assert_eq!(
        md("<pre>never closed\n  code"),
        "```\nnever closed\n  code\n```"
    );
    assert_eq!(md("<<>>&&;"), "<<>>&&;");
}

#[test]
fn titles_by_format() {
    assert_eq!(
        markdown_title("intro\n\n```\n# not this\n```\n## Sub\n# The  *Title*\n"),
        Some("The Title".to_owned())
    );
    assert_eq!(markdown_title("Setext\n===\n"), Some("Setext".to_owned()));
    assert_eq!(markdown_title("## only level two\n"), None);
    let doc = convert("# Heading\nbody", Format::Text, "notes");
    assert_eq!(
        (doc.title.as_str(), doc.text.as_str()),
        ("notes", "# Heading\nbody")
    );
    let doc = convert("no heading", Format::Markdown, "readme");
    assert_eq!(doc.title, "readme");
    let doc = convert("<h3>Sub</h3><h1>Main</h1>", Format::Html, "page");
    assert_eq!(doc.title, "Sub");
    let doc = convert("<p>plain</p>", Format::Html, "page");
    assert_eq!((doc.title.as_str(), doc.text.as_str()), ("page", "plain"));
}

fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    str_values(df.column(name).unwrap().str().unwrap())
        .map(str::to_owned)
        .collect()
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn options(glob: &str, errors: OnError) -> ReadOptions {
    ReadOptions {
        glob: glob.to_owned(),
        errors,
    }
}

#[test]
fn a_folder_becomes_a_sorted_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "b.txt", b"\xef\xbb\xbfplain text\n");
    write(root, "a/z.md", b"# Zed\n\nbody\n");
    write(
        root,
        "a/page.HTML",
        b"<title>Page</title><h1>H</h1><p>p</p>",
    );
    write(root, "a/deep/x.markdown", b"no title");
    write(root, "notes.pdf", b"%PDF-1.4");
    write(root, ".hidden/h.md", b"# hidden");
    write(root, ".dot.md", b"# hidden");
    let docs = read_documents(root, &ReadOptions::default(), never()).unwrap();
    assert!(docs.skipped.is_empty());
    let df = &docs.corpus;
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    assert_eq!(names, [DOC_ID, TITLE, TEXT, FORMAT]);
    assert_eq!(
        strings(df, DOC_ID),
        ["a/deep/x.markdown", "a/page.HTML", "a/z.md", "b.txt"]
    );
    assert_eq!(strings(df, TITLE), ["x", "Page", "Zed", "b"]);
    assert_eq!(
        strings(df, TEXT),
        ["no title", "# H\n\np", "# Zed\n\nbody\n", "plain text\n"]
    );
    assert_eq!(
        strings(df, FORMAT),
        ["markdown", "html", "markdown", "text"]
    );
    // A narrower glob, with progress counted in files.
    let cancel = Cancel::new();
    let docs = read_documents(root, &options("a/*.{md,html}", OnError::Raise), &cancel).unwrap();
    assert_eq!(strings(&docs.corpus, DOC_ID), ["a/page.HTML", "a/z.md"]);
    assert_eq!(cancel.progress(), (2, 2));
}

#[test]
fn bad_files_are_raised_or_skipped_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "good.md", b"# Good");
    write(root, "bin.txt", b"abc\n\x00\x01\x02");
    write(root, "latin1.txt", b"ok\ncaf\xe9");
    write(root, "weird.xyz", b"text");
    std::os::unix::fs::symlink(root.join("missing.md"), root.join("dangling.md")).unwrap();
    std::os::unix::fs::symlink(".", root.join("sub_loop")).unwrap();
    fs::create_dir(root.join("dir.txt")).unwrap();
    let all = "**/*.{md,txt,xyz}";
    let err = read_documents(root, &options(all, OnError::Raise), never()).unwrap_err();
    // The first bad path in order: "bin.txt".
    let bin = root.join("bin.txt");
    assert_eq!(
        err.to_string(),
        format!("{bin:?}: not a text file: NUL byte at byte 4 (line 2)")
    );
    let docs = read_documents(root, &options(all, OnError::Skip), never()).unwrap();
    assert_eq!(strings(&docs.corpus, DOC_ID), ["good.md"]);
    let reasons: Vec<String> = docs.skipped.iter().map(|s| s.error.to_string()).collect();
    let names: Vec<String> = docs
        .skipped
        .iter()
        .map(|s| s.path.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "bin.txt",
            "dangling.md",
            "latin1.txt",
            "sub_loop",
            "weird.xyz"
        ]
    );
    assert!(reasons[1].contains("No such file"), "{}", reasons[1]);
    assert!(
        reasons[2].ends_with("invalid UTF-8 at byte 6 (line 2)"),
        "{}",
        reasons[2]
    );
    assert!(reasons[3].contains("symlink loop"), "{}", reasons[3]);
    assert!(
        reasons[4].contains("unsupported extension \"xyz\""),
        "{}",
        reasons[4]
    );
}

#[test]
fn a_fifo_is_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.txt");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = read_documents(dir.path(), &ReadOptions::default(), never()).unwrap_err();
    assert_eq!(err.to_string(), format!("{fifo:?}: not a regular file"));
}

#[test]
fn missing_empty_and_misconfigured() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let err = read_documents(&root.join("nope"), &ReadOptions::default(), never()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    let err = read_documents(root, &ReadOptions::default(), never()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{root:?}: no documents match glob \"**/*.{{md,markdown,txt,html,htm}}\"")
    );
    write(root, "a.md", b"x");
    let err = read_documents(&root.join("a.md"), &ReadOptions::default(), never()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotADirectory)
    );
    let err = read_documents(root, &options("{md", OnError::Raise), never()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid glob: \"{md\" has unbalanced braces"
    );
    let err = "ignore".parse::<OnError>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid errors: \"ignore\"; use \"raise\" or \"skip\""
    );
    let cancel = Cancel::new();
    cancel.cancel();
    let err = read_documents(root, &ReadOptions::default(), &cancel).unwrap_err();
    assert!(matches!(err, Error::Interrupted));
}

#[test]
fn read_document_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.md");
    let err = read_document(&path).unwrap_err();
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
}
