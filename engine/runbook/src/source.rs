//! Runbook source text and positions in it.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A runbook file as read: its display name (usually the path given on the command line)
/// and its full text. Everything the compiler reports points into one of these.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
    lines: LineIndex,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let lines = LineIndex::new(&text);
        Self {
            name: name.into(),
            text,
            lines,
        }
    }

    /// `sha256:<hex>` of the text: pinned to every run so an edited file is detectable.
    pub fn digest(&self) -> String {
        let hash = Sha256::digest(self.text.as_bytes());
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for byte in hash {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// The span of `len` bytes at byte `offset`, with its 1-based line and column.
    pub fn span_at(&self, offset: usize, len: usize) -> Span {
        let offset = offset.min(self.text.len());
        let (line, col) = self.lines.position(&self.text, offset);
        Span {
            line,
            col,
            offset,
            len,
        }
    }

    /// The span at 1-based `line` and character column `col` (empty when past the end).
    pub fn span_at_line_col(&self, line: u32, col: u32) -> Span {
        let line = line.max(1);
        let col = col.max(1);
        let start = self.lines.line_start(line).unwrap_or(self.text.len());
        let line_text = self.line_text(line);
        let within = line_text
            .char_indices()
            .nth((col - 1) as usize)
            .map_or(line_text.len(), |(i, _)| i);
        Span {
            line,
            col,
            offset: start + within,
            len: 0,
        }
    }

    /// How many lines the text has (a final line break opens an empty last line).
    pub fn line_count(&self) -> usize {
        self.lines.count()
    }

    /// The text of line `line` (1-based), without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        self.lines.line_text(&self.text, line)
    }
}

/// A place in a source: 1-based line and column (in characters, as editors count), and the
/// byte range for snippets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    pub line: u32,
    #[serde(rename = "column")]
    pub col: u32,
    #[serde(skip)]
    pub offset: usize,
    #[serde(skip)]
    pub len: usize,
}

impl Span {
    /// The byte just past the span.
    pub fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// Byte offsets of line starts, for offset → line/column.
#[derive(Debug, Clone)]
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Line breaks as YAML 1.2 counts them: `\n`, `\r\n`, and a lone `\r`, so that the
    /// parser's line numbers and ours always agree.
    fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let lone_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
            if b == b'\n' || lone_cr {
                starts.push(i + 1);
            }
        }
        Self { starts }
    }

    fn count(&self) -> usize {
        self.starts.len()
    }

    fn position(&self, text: &str, offset: usize) -> (u32, u32) {
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts[line];
        let col = text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }

    fn line_start(&self, line: u32) -> Option<usize> {
        self.starts.get((line as usize).checked_sub(1)?).copied()
    }

    fn line_text<'t>(&self, text: &'t str, line: u32) -> &'t str {
        let index = (line as usize).saturating_sub(1);
        let Some(&start) = self.starts.get(index) else {
            return "";
        };
        let end = self.starts.get(index + 1).map_or(text.len(), |&e| e);
        text.get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\r', '\n'])
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_not_bytes() {
        let s = Source::new("x.yaml", "a: 1\nb: \"é\" # x\n");
        let span = s.span_at(s.text.find('#').unwrap(), 1);
        assert_eq!((span.line, span.col), (2, 8));
        assert_eq!(s.line_text(2), "b: \"é\" # x");
        assert_eq!(s.line_text(9), "");
        // A lone CR is a line break for YAML, so it is one for us too.
        let s = Source::new("x.yaml", "a: 1\rb: 2\r\nc: 3\n");
        assert_eq!(s.line_count(), 4);
        assert_eq!(s.line_text(2), "b: 2");
        let span = s.span_at(s.text.find('c').unwrap(), 1);
        assert_eq!((span.line, span.col), (3, 1));
        assert!(s.digest().starts_with("sha256:"));
        assert_eq!(s.digest().len(), 71);
    }
}
