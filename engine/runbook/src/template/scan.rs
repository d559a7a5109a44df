//! Finds the filter and test names a template uses, with their byte offsets, so that
//! `validate` can reject `| to_jsn` before a run does. minijinja only looks filters up when
//! rendering, and its tokenizer is not a stable API, so this is a small scanner of our own:
//! it walks the code inside `{{ }}` and `{% %}`, skips string literals, and reports the
//! identifier after each `|` (a filter) and after `is` / `is not` (a test).

/// A filter or test name and its byte offset in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    pub text: String,
    pub offset: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub filters: Vec<Name>,
    pub tests: Vec<Name>,
}

/// Scans a template (`expression == false`) or a bare expression.
pub(crate) fn scan(source: &str, expression: bool) -> Names {
    let mut names = Names::default();
    if expression {
        scan_code(source, 0, &mut names);
        return names;
    }
    let mut rest = 0;
    while let Some(found) = next_block(source, rest) {
        let (open, close_tag) = found;
        let code_start = open + 2;
        let code_end = source[code_start..]
            .find(close_tag)
            .map_or(source.len(), |i| code_start + i);
        if close_tag != "#}" {
            scan_code(&source[code_start..code_end], code_start, &mut names);
        }
        rest = (code_end + 2).min(source.len());
    }
    names
}

/// Offsets of the `secrets` references that an expression transforms: the same `{{ }}`
/// (or bare expression) passes something through a filter, or the reference is sliced
/// or has a method called (`secrets.tok[0:3]`, `secrets.tok.upper()`). Choosing between
/// secrets (`a if x else b`) is not a transformation.
pub(crate) fn transformed_secrets(source: &str, expression: bool) -> Vec<usize> {
    let mut out = Vec::new();
    let mut check = |code: &str, base: usize| {
        let mut names = Names::default();
        scan_code(code, base, &mut names);
        let filtered = !names.filters.is_empty();
        for at in secret_refs(code) {
            let after = &code[at + "secrets".len()..];
            let ident = after
                .strip_prefix('.')
                .map_or(0, |rest| 1 + skip_ident(rest.as_bytes(), 0));
            let next = after[ident..].trim_start();
            if filtered || next.starts_with('[') || next.starts_with('.') {
                out.push(base + at);
            }
        }
    };
    if expression {
        check(source, 0);
        return out;
    }
    let mut rest = 0;
    while let Some((open, close_tag)) = next_block(source, rest) {
        let code_start = open + 2;
        let code_end = source[code_start..]
            .find(close_tag)
            .map_or(source.len(), |i| code_start + i);
        if close_tag != "#}" {
            check(&source[code_start..code_end], code_start);
        }
        rest = (code_end + 2).min(source.len());
    }
    out
}

/// Offsets of the identifier `secrets` in code, outside string literals.
fn secret_refs(code: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            i = skip_string(bytes, i);
            continue;
        }
        if is_ident_start(c) {
            let start = i;
            i = skip_ident(bytes, i);
            let attribute = start > 0 && bytes[start - 1] == b'.';
            if &code[start..i] == "secrets" && !attribute {
                out.push(start);
            }
            continue;
        }
        i += 1;
    }
    out
}

/// The statements a runbook template may hold: conditions. Loops, assignments and
/// macros are what let a short template build a value of gigabytes (a string doubled in a
/// loop or a chain of `set`); a runbook repeats with `for_each`, and computes in programs.
pub(crate) const ALLOWED_STATEMENTS: &[&str] = &["if", "elif", "else", "endif"];

/// Statements (`{% for %}`, `{% set %}`, ...) other than [`ALLOWED_STATEMENTS`], with the
/// byte offset of their keyword.
pub(crate) fn forbidden_statements(source: &str) -> Vec<Name> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some((open, close_tag)) = next_block(source, rest) {
        let code_start = open + 2;
        let code_end = source[code_start..]
            .find(close_tag)
            .map_or(source.len(), |i| code_start + i);
        if close_tag == "%}" {
            let code = &source[code_start..code_end];
            let trimmed = code.trim_start_matches(['-', '+', '~']).trim_start();
            let offset = code_start + (code.len() - trimmed.len());
            let keyword: String = trimmed
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !ALLOWED_STATEMENTS.contains(&keyword.as_str()) {
                out.push(Name {
                    text: keyword,
                    offset,
                });
            }
        }
        rest = (code_end + 2).min(source.len());
    }
    out
}

fn next_block(source: &str, from: usize) -> Option<(usize, &'static str)> {
    let tail = source.get(from..)?;
    [("{{", "}}"), ("{%", "%}"), ("{#", "#}")]
        .iter()
        .filter_map(|(open, close)| tail.find(open).map(|i| (from + i, *close)))
        .min_by_key(|(i, _)| *i)
}

fn scan_code(code: &str, base: usize, names: &mut Names) {
    let bytes = code.as_bytes();
    let mut i = 0;
    let mut after_is = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            i = skip_string(bytes, i);
            continue;
        }
        if c == b'|' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            i = skip_ident(bytes, i);
            if i > start {
                names.filters.push(Name {
                    text: code[start..i].to_owned(),
                    offset: base + start,
                });
            }
            continue;
        }
        if is_ident_start(c) {
            let start = i;
            i = skip_ident(bytes, i);
            let word = &code[start..i];
            if after_is && word != "not" {
                names.tests.push(Name {
                    text: word.to_owned(),
                    offset: base + start,
                });
                after_is = false;
            } else {
                after_is = word == "is" || (after_is && word == "not");
            }
            // `.is` is an attribute, not the operator.
            if word == "is" && start > 0 && bytes[start - 1] == b'.' {
                after_is = false;
            }
            continue;
        }
        if !c.is_ascii_whitespace() {
            after_is = false;
        }
        i += 1;
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn skip_ident(bytes: &[u8], mut i: usize) -> usize {
    if i < bytes.len() && is_ident_start(bytes[i]) {
        i += 1;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
    }
    i
}

fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(names: &[Name]) -> Vec<&str> {
        names.iter().map(|n| n.text.as_str()).collect()
    }

    #[test]
    fn finds_secrets_that_an_expression_transforms() {
        let src = "a {{ secrets.tok | upper }} {{ secrets.b if x else secrets.c }} {{ secrets.d[0:3] }} {{ 'secrets.e' | quote }} {{ secrets.f.upper() }} {{ steps.secrets }}";
        let found: Vec<&str> = transformed_secrets(src, false)
            .into_iter()
            .map(|at| &src[at..at + 9])
            .collect();
        assert_eq!(found, ["secrets.t", "secrets.d", "secrets.f"]);
        assert_eq!(transformed_secrets("secrets.x | b64", true), [0]);
        assert!(transformed_secrets("secrets.x ~ '@' ~ params.h", true).is_empty());
    }

    #[test]
    fn finds_filters_and_tests_outside_strings() {
        let src = "a {{ x | to_json }} {# y | nope #} {% if v is not defined and w.is %}{{ '|fake' | quote(1) }}{% endif %}";
        let names = scan(src, false);
        assert_eq!(texts(&names.filters), ["to_json", "quote"]);
        assert_eq!(texts(&names.tests), ["defined"]);
        assert_eq!(
            &src[names.filters[0].offset..names.filters[0].offset + 7],
            "to_json"
        );
        let expr = scan("steps.a.output | length > 3 and x is number", true);
        assert_eq!(texts(&expr.filters), ["length"]);
        assert_eq!(texts(&expr.tests), ["number"]);
    }
}
