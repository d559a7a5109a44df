//! The forms a secret value takes on its way through the world, so that each can be
//! masked: a token sent in a query string comes back percent-encoded in an HTTP error
//! body, a password printed by a program that writes JSON comes back escaped, a key in a
//! Basic `Authorization` header or a Kubernetes secret comes back as base64.
//!
//! Covered: the value itself, trimmed, and as a URL parser reads it (tabs and newlines
//! dropped, `\` as `/`); percent-encoded as URL components, `encodeURI`, query strings,
//! paths and userinfo are by common encoders (upper- and lower-case hex; `+` for spaces
//! in forms); as a JSON string's contents (as is; `\uXXXX` in either case; `\/`; Go's
//! `\u003c`; Gson's `\u003d`; every character as `\uXXXX`; escaped twice);
//! HTML-escaped (`&quot;`/`&#34;`, `&#39;`/`&#x27;`; or every character but letters and
//! digits as a numeric entity); percent-encoded twice; hex (either case); base64 (standard and URL-safe, padded or
//! not), also where the value sits inside longer encoded data at any of the three byte
//! alignments (`user:password`); and each line of a multi-line value. Not covered: any
//! other transformation (hashes, case changes, base64 wrapped across lines, a charset
//! mix-up, a value split by other characters), nor a part of the value but a start or
//! an end cut off at the end or start of a text ([`super::Scrubber`]); runbooks cannot apply one to a secret in a recorded input (the compiler
//! refuses secrets there).

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
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');
/// The query of an `http(s)` URL (a special scheme): `'` too.
const SPECIAL_QUERY: &AsciiSet = &QUERY.add(b'\'');
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
/// JavaScript's `encodeURI`: `encodeURIComponent` keeping the URL's delimiters.
const URI: &AsciiSet = &COMPONENT
    .remove(b';')
    .remove(b',')
    .remove(b'/')
    .remove(b'?')
    .remove(b':')
    .remove(b'@')
    .remove(b'&')
    .remove(b'=')
    .remove(b'+')
    .remove(b'$')
    .remove(b'#');
/// `application/x-www-form-urlencoded`, before spaces become `+`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Fragments shorter than this (a line of a multi-line value, a base64 run inside longer
/// data, a cut-off start) are not masked on their own: they would match unrelated text.
/// Four, the shortest secret: its base64 inside longer data is four or five characters.
const MIN_FRAGMENT: usize = 4;

/// Every form of `value` worth masking, the value itself first, without duplicates.
pub(crate) fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let mut add = |form: String| {
        if form.chars().count() >= MIN_FRAGMENT && !out.contains(&form) {
            out.push(form);
        }
    };
    // What a URL parser makes of the value before encoding it: tabs and newlines
    // dropped, leading and trailing spaces and controls trimmed, `\` read as `/`.
    let trimmed = value.trim_matches(|c: char| c.is_ascii_control() || c == ' ');
    let in_url: String = trimmed
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let variants = [
        value.to_owned(),
        trimmed.to_owned(),
        in_url.clone(),
        in_url.replace('\\', "/"),
    ];
    for v in &variants {
        add(v.clone());
        // Encoded twice (a proxy that re-encodes a URL): `%2F` as `%252F`.
        for set in [UNRESERVED, COMPONENT] {
            let once = utf8_percent_encode(v, set).to_string();
            add(utf8_percent_encode(&once, set).to_string());
        }
        for set in [
            NON_ALPHANUMERIC,
            UNRESERVED,
            UNRESERVED_PATH,
            COMPONENT,
            URI,
            QUERY,
            SPECIAL_QUERY,
            PATH,
            USERINFO,
            FORM,
        ] {
            let encoded = utf8_percent_encode(v, set).to_string();
            // Forms and `quote_plus` write a space as `+`.
            add(encoded.replace("%20", "+"));
            add(lower_hex(&encoded));
            add(encoded);
        }
    }
    for json in json_forms(value) {
        for escaped in html_escapes(&json) {
            add(escaped);
        }
        add(json);
    }
    for escaped in html_escapes(value) {
        add(escaped);
    }
    for entity in numeric_entities(value) {
        add(entity);
    }
    let hex = hex_of(value.as_bytes());
    add(hex.to_ascii_uppercase());
    add(hex);
    let bytes = value.as_bytes();
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        add(engine.encode(bytes));
    }
    for shift in 0..3 {
        let core = aligned_core(bytes, shift);
        add(core.replace('+', "-").replace('/', "_"));
        add(core);
    }
    // A multi-line value (a PEM key) may come back a line at a time, or its lines joined
    // differently (`a | b`): each line is masked on its own.
    if value.contains('\n') {
        for line in value.lines() {
            add(line.trim().to_owned());
        }
    }
    out
}

/// The inside of a JSON string as the common encoders write it: as is, with non-ASCII as
/// `\uXXXX` (lower- or upper-case hex), with `/` as `\/` (PHP), with `<`, `>`, `&` as
/// `\u003c`... (Go), with `=` and `'` too (Gson), and escaped twice (JSON inside a JSON
/// string).
fn json_forms(value: &str) -> Vec<String> {
    let plain = json_contents(value, false);
    let ascii = json_contents(value, true);
    let upper = upper_unicode_escapes(&ascii);
    let slashes = ascii.replace('/', "\\/");
    let go = plain
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let gson = go.replace('=', "\\u003d").replace('\'', "\\u0027");
    let twice = json_contents(&plain, false);
    // Every character escaped (some serializers' "ASCII-safe" modes), either case.
    let every: String = value
        .encode_utf16()
        .map(|u| format!("\\u{u:04x}"))
        .collect();
    let every_upper = upper_unicode_escapes(&every);
    vec![
        plain,
        ascii,
        upper,
        slashes,
        go,
        gson,
        twice,
        every,
        every_upper,
    ]
}

/// `\u00e9` → `\u00E9`.
fn upper_unicode_escapes(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at + 2]);
        let hex: String = rest[at + 2..].chars().take(4).collect();
        out.push_str(&hex.to_ascii_uppercase());
        rest = &rest[at + 2 + hex.len()..];
    }
    out.push_str(rest);
    out
}

/// The bytes in lower-case hex (`xxd -p`, `od`, a digest printed raw).
fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HTML's escapes of `&`, `<`, `>`, `"` and `'` as the common escapers write them:
/// `&quot;` and `&#39;` (Jinja, MarkupSafe), `&quot;` and `&#x27;` (Python's
/// `html.escape`), `&#34;` and `&#39;` (Go's `html.EscapeString`).
fn html_escapes(value: &str) -> Vec<String> {
    let base = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    [
        ("&quot;", "&#39;"),
        ("&quot;", "&#x27;"),
        ("&#34;", "&#39;"),
    ]
    .into_iter()
    .map(|(quot, apos)| base.replace('"', quot).replace('\'', apos))
    .collect()
}

/// Every character but letters and digits as an HTML numeric entity: `&#x2f;`,
/// `&#x2F;` and `&#47;` (what HTML encoders that escape more than the five do).
fn numeric_entities(value: &str) -> Vec<String> {
    let each = |f: &dyn Fn(u32) -> String| -> String {
        value
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    f(u32::from(c))
                }
            })
            .collect()
    };
    vec![
        each(&|n| format!("&#x{n:x};")),
        each(&|n| format!("&#x{n:X};")),
        each(&|n| format!("&#{n};")),
    ]
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
    fn what_url_parsers_encoders_and_multi_line_values_make_of_it() {
        let f = forms("envsecret-1\n");
        assert!(f.iter().any(|x| x == "envsecret-1"), "{f:?}");
        let f = forms("S3cr\"et/+ é x'q");
        // A path keeps `'`; a special scheme's query encodes it.
        assert!(f.iter().any(|x| x == "S3cr%22et/+%20%C3%A9%20x'q"), "{f:?}");
        assert!(
            f.iter().any(|x| x == "S3cr%22et/+%20%C3%A9%20x%27q"),
            "{f:?}"
        );
        assert!(f.iter().any(|x| x == "S3cr\\\"et\\/+ \\u00e9 x'q"), "{f:?}");
        assert!(f.iter().any(|x| x == "S3cr\\\"et/+ \\u00E9 x'q"), "{f:?}");
        assert!(f.iter().any(|x| x == "S3cr&quot;et/+ é x&#39;q"), "{f:?}");
        assert!(f.iter().any(|x| x == "S3cr&quot;et/+ é x&#x27;q"), "{f:?}");
        assert!(f.iter().any(|x| x == "S3cr&#34;et/+ é x&#39;q"), "{f:?}");
        let f = forms("Se/Cr+Et'q=x");
        assert!(
            f.iter().any(|x| x == "Se%252FCr%252BEt%2527q%253Dx"),
            "{f:?}"
        );
        assert!(
            f.iter().any(|x| x == "Se&#x2f;Cr&#x2b;Et&#x27;q&#x3d;x"),
            "{f:?}"
        );
        assert!(
            f.iter().any(|x| x == "Se&#47;Cr&#43;Et&#39;q&#61;x"),
            "{f:?}"
        );
        assert!(
            f.iter().any(|x| x.starts_with("\\u0053\\u0065\\u002f")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|x| x.starts_with("\\u0053\\u0065\\u002F")),
            "{f:?}"
        );
        assert!(f.iter().any(|x| x == "Se/Cr+Et\\u0027q\\u003dx"), "{f:?}");
        let f = forms("wxyz\\é");
        assert!(f.iter().any(|x| x == "wxyz/%C3%A9"), "{f:?}");
        let f = forms("-----BEGIN KEY-----\nMIIEabcdefghijkl\n-----END KEY-----");
        assert!(f.iter().any(|x| x == "MIIEabcdefghijkl"), "{f:?}");
        assert!(forms("Secr3t").iter().any(|x| x == "536563723374"));
        let f = forms("a<b>&c");
        assert!(f.iter().any(|x| x == "a\\u003cb\\u003e\\u0026c"), "{f:?}");
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
