//! The forms a secret value takes on its way through the world, so that each can be
//! masked: a token sent in a query string comes back percent-encoded in an HTTP error
//! body, a password printed by a program that writes JSON comes back escaped, a key in a
//! Basic `Authorization` header or a Kubernetes secret comes back as base64.
//!
//! Covered: the value itself; percent-encoded as URL components, query strings, paths
//! and userinfo are by common encoders (upper- and lower-case hex; `+` for spaces in
//! forms); as a JSON string's contents (with and without `\uXXXX` for non-ASCII); and
//! base64 (standard and URL-safe, padded or not), also where the value sits inside a
//! longer encoded text at any of the three byte alignments (`user:password`). Not
//! covered: any other transformation (hashes, case changes, reversals); runbooks cannot
//! apply one to a secret in a recorded input (the compiler refuses secrets there).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 3986's unreserved characters kept, all else encoded (Python's
/// `quote(s, safe="")`, Go's `QueryEscape` before `+`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping `/` (Python's `quote(s)`).
const UNRESERVED_PATH: &AsciiSet = &UNRESERVED.remove(b'/');
/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');
/// A URL's query, as the WHATWG URL parser (the `url` crate, browsers) encodes it.
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\'');
/// A URL's path.
const PATH: &AsciiSet = &QUERY.add(b'?').add(b'`').add(b'{').add(b'}');
/// A URL's user and password.
const USERINFO: &AsciiSet = &PATH
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');
/// `application/x-www-form-urlencoded`, before spaces become `+`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Base64 fragments shorter than this are not masked on their own: they would match
/// unrelated encoded text by chance.
const MIN_FRAGMENT: usize = 6;

/// Every form of `value` worth masking, the value itself first, without duplicates.
pub(crate) fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let mut add = |form: String| {
        if !form.is_empty() && !out.contains(&form) {
            out.push(form);
        }
    };
    for set in [
        NON_ALPHANUMERIC,
        UNRESERVED,
        UNRESERVED_PATH,
        COMPONENT,
        QUERY,
        PATH,
        USERINFO,
        FORM,
    ] {
        let encoded = utf8_percent_encode(value, set).to_string();
        // Forms and `quote_plus` write a space as `+`.
        add(encoded.replace("%20", "+"));
        add(lower_hex(&encoded));
        add(encoded);
    }
    add(json_contents(value, false));
    add(json_contents(value, true));
    let bytes = value.as_bytes();
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        add(engine.encode(bytes));
    }
    for shift in 0..3 {
        let core = aligned_core(bytes, shift);
        if core.len() >= MIN_FRAGMENT {
            add(core.replace('+', "-").replace('/', "_"));
            add(core);
        }
    }
    out
}

/// `%2F` → `%2f`: some encoders write lower-case hex.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut chars = encoded.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for h in chars.by_ref().take(2) {
                out.push(h.to_ascii_lowercase());
            }
        }
    }
    out
}

/// The value as the inside of a JSON string; with `ascii`, non-ASCII as `\uXXXX` (what
/// Python's `json.dumps` writes by default).
fn json_contents(value: &str, ascii: bool) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    if !ascii {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// The base64 characters that depend only on `bytes` when they start `shift` bytes into
/// a longer encoded text (so `user:` before a password, or anything after it, does not
/// change them).
fn aligned_core(bytes: &[u8], shift: usize) -> String {
    let mut padded = vec![0u8; shift];
    padded.extend_from_slice(bytes);
    let encoded = STANDARD_NO_PAD.encode(&padded);
    let (start_bit, end_bit) = (8 * shift, 8 * (shift + bytes.len()));
    encoded
        .chars()
        .enumerate()
        .filter(|(i, _)| 6 * i >= start_bit && 6 * i + 6 <= end_bit)
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_a_secret_takes_in_the_world() {
        let f = forms("p@ss w/\"é\"");
        for expected in [
            "p@ss w/\"é\"",
            "p%40ss%20w%2F%22%C3%A9%22",
            "p%40ss%20w%2f%22%c3%a9%22",
            "p@ss%20w/%22%C3%A9%22",
            "p%40ss+w%2F%22%C3%A9%22",
            "p@ss w/\\\"é\\\"",
            "p@ss w/\\\"\\u00e9\\\"",
            "cEBzcyB3LyLDqSI=",
            "cEBzcyB3LyLDqSI",
        ] {
            assert!(f.iter().any(|x| x == expected), "{expected} in {f:?}");
        }
    }

    #[test]
    fn base64_inside_a_longer_text_is_found_at_any_alignment() {
        let secret = "hunter2-is-long";
        for prefix in ["", "u:", "ab:", "user:"] {
            let text = STANDARD.encode(format!("{prefix}{secret}!"));
            assert!(
                forms(secret)
                    .iter()
                    .skip(1)
                    .any(|f| text.contains(f.as_str())),
                "{prefix}: {text}"
            );
        }
    }
}
