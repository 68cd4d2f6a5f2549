//! Glob patterns over `/`-separated relative paths, for choosing the files of a folder to read.
//!
//! Syntax: `*` matches any run of characters within one path segment, `?` one character,
//! `**` as a whole segment any number of segments (zero included), and `{a,b,c}` any of its
//! comma-separated alternatives (which may nest and may hold the other wildcards). Every other
//! character matches itself, ASCII letters case-insensitively (`*.md` matches `NOTES.MD`).
//! A pattern is expanded once into its brace-free alternatives; a path matches when one of
//! them does.

use crate::error::{Error, Result};

/// Alternatives beyond this many are a configuration error (a pattern such as
/// `{a,b}{a,b}...` doubles them with every brace group).
const MAX_ALTERNATIVES: usize = 1024;

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    /// Each alternative as its segments; `None` is a `**` segment.
    alternatives: Vec<Vec<Option<Vec<char>>>>,
}

impl Glob {
    /// Compile `pattern`; an empty pattern, an absolute one or unbalanced braces are an
    /// [`Error::Config`] about `glob`.
    pub fn new(pattern: &str) -> Result<Self> {
        if pattern.is_empty() {
            return Err(Error::config("glob", "the pattern is empty"));
        }
        if pattern.starts_with('/') {
            return Err(Error::config(
                "glob",
                format!("{pattern:?} is absolute; patterns are relative to the folder"),
            ));
        }
        let alternatives = expand(pattern)?
            .into_iter()
            .map(|alt| {
                alt.split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| (s != "**").then(|| s.chars().collect()))
                    .collect()
            })
            .collect();
        Ok(Self {
            pattern: pattern.to_owned(),
            alternatives,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the `/`-separated relative path matches.
    pub fn matches(&self, path: &str) -> bool {
        let segments: Vec<Vec<char>> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().collect())
            .collect();
        self.alternatives
            .iter()
            .any(|alt| match_segments(alt, &segments))
    }
}

/// Expand the brace groups of `pattern` into brace-free alternatives.
fn expand(pattern: &str) -> Result<Vec<String>> {
    let unbalanced = || Error::config("glob", format!("{pattern:?} has unbalanced braces"));
    let Some(open) = pattern.find('{') else {
        if pattern.contains('}') {
            return Err(unbalanced());
        }
        return Ok(vec![pattern.to_owned()]);
    };
    // The matching `}` and the top-level commas between.
    let mut depth = 0;
    let mut commas = Vec::new();
    let mut close = None;
    for (i, c) in pattern[open..].char_indices().map(|(i, c)| (open + i, c)) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let close = close.ok_or_else(unbalanced)?;
    if pattern[..open].contains('}') {
        return Err(unbalanced());
    }
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let tails = expand(&pattern[close + 1..])?;
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        for choice in expand(&pattern[pair[0] + 1..pair[1]])? {
            for tail in &tails {
                out.push(format!("{}{choice}{tail}", &pattern[..open]));
                if out.len() > MAX_ALTERNATIVES {
                    return Err(Error::config(
                        "glob",
                        format!("{pattern:?} expands to more than {MAX_ALTERNATIVES} alternatives"),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Whether the path segments match the pattern segments (`None`: `**`).
fn match_segments(pattern: &[Option<Vec<char>>], path: &[Vec<char>]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((None, rest)) => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..])),
        Some((Some(seg), rest)) => {
            !path.is_empty() && match_segment(seg, &path[0]) && match_segments(rest, &path[1..])
        }
    }
}

/// Whether one segment matches a pattern of literals, `*` and `?` (the classic greedy match
/// with backtracking to the last `*`).
fn match_segment(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let g = Glob::new("**/*.{md,txt}").unwrap();
        for yes in ["a.md", "x/y/b.TXT", "x/.md"] {
            assert!(g.matches(yes), "{yes}");
        }
        for no in ["a.html", "md", "x/a.mdx"] {
            assert!(!g.matches(no), "{no}");
        }
        let g = Glob::new("docs/?.{m{d,arkdown},t*t}").unwrap();
        assert!(g.matches("docs/a.markdown") && g.matches("docs/b.text"));
        assert!(!g.matches("docs/ab.md") && !g.matches("a.md"));
        assert!(Glob::new("a/**").unwrap().matches("a/b/c"));
        assert!(Glob::new("*a*b").unwrap().matches("xaybab"));
    }

    #[test]
    fn bad_patterns() {
        for bad in ["", "/x", "{a,b", "a}", "}{"] {
            let err = Glob::new(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid glob: "), "{bad}: {err}");
        }
        let many = "{a,b}".repeat(11);
        assert!(Glob::new(&many).unwrap_err().to_string().contains("1024"));
    }
}
