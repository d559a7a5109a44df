//! Maps a byte offset inside a template back to the file, so that an error about
//! `steps.promte_db` points at that text, not just at the start of the string.
//!
//! The YAML parser gives us where a scalar starts and how many source bytes it spans, not
//! how its text maps to those bytes (quotes, escapes and block indentation get in the way).
//! So we look for the fragment itself inside the scalar's source bytes, and fall back to
//! the scalar's start when it cannot be found unambiguously.

use crate::source::{Source, Span};

/// The span of `template[at..at + len]` in the file, or `scalar` when it cannot be placed.
pub(crate) fn locate(source: &Source, scalar: Span, template: &str, at: usize, len: usize) -> Span {
    let Some(fragment) = template.get(at..(at + len).min(template.len())) else {
        return scalar;
    };
    if fragment.is_empty() {
        return scalar;
    }
    // The scalar's bytes; the parser's length can be 0 for some nodes, so allow for the
    // template's own length plus quotes.
    let reach = scalar.len.max(template.len() + 2);
    let end = (scalar.offset + reach).min(source.text.len());
    let Some(region) = source.text.get(scalar.offset..end) else {
        return scalar;
    };
    // The common case: a plain or quoted one-line scalar holds the template verbatim.
    let quoted = usize::from(region.starts_with(['"', '\'']));
    if region[quoted..].starts_with(template) {
        let offset = scalar.offset + quoted + at;
        return source.span_at(offset, fragment.len());
    }
    // Otherwise find the fragment, choosing the occurrence with the same rank as in the
    // template (the second `steps.a` in the template is the second in the source).
    let rank = template[..at].matches(fragment).count();
    match region.match_indices(fragment).nth(rank) {
        Some((i, _)) => source.span_at(scalar.offset + i, fragment.len()),
        None => scalar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> Span {
        let s = Source::new("t", text);
        let offset = text.find(needle).unwrap();
        s.span_at(offset, 0)
    }

    #[test]
    fn finds_fragments_in_plain_quoted_and_block_scalars() {
        let text = "a: x {{ steps.b }}\nb: \"{{ steps.c }}\"\nc: |\n  line\n  {{ steps.d }}\n";
        let source = Source::new("t", text);
        let plain = Span {
            len: 13,
            ..at(text, "x {{")
        };
        let got = locate(&source, plain, "x {{ steps.b }}", 5, 7);
        assert_eq!((got.line, got.col), (1, 9));
        let quoted = Span {
            len: 17,
            ..at(text, "\"{{")
        };
        let got = locate(&source, quoted, "{{ steps.c }}", 3, 7);
        assert_eq!((got.line, got.col), (2, 8));
        let block = Span {
            len: 22,
            ..at(text, "line")
        };
        let got = locate(&source, block, "line\n{{ steps.d }}\n", 8, 7);
        assert_eq!((got.line, got.col), (5, 6));
    }
}
