//! Property tests: parse + compile never panic, on arbitrary bytes, on random edits of
//! the real runbooks, and on generated structures made of real field names; every
//! diagnostic points inside the file; a runbook is returned exactly when there is no error.
//! (The cargo-fuzz target in `fuzz/` runs the same entry point for much longer.)

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use drctl_connectors::Registry;
use drctl_runbook::{NoCalls, Severity, Source, compile};
use proptest::prelude::*;

fn check(text: &str) {
    let registry = Registry::builtin();
    let source = Source::new("prop.yaml", text);
    let c = compile(&source, &registry, &NoCalls);
    let has_error = c.diagnostics.iter().any(|d| d.severity == Severity::Error);
    assert_eq!(c.runbook.is_some(), !has_error);
    // Lines as YAML counts them (a lone CR is a break too), which is what positions use.
    let lines = source.line_count() as u32;
    for d in &c.diagnostics {
        assert!(
            d.span.line >= 1 && d.span.line <= lines,
            "{d:?} outside {lines} lines"
        );
        assert!(d.span.col >= 1, "{d:?}");
        assert!(d.span.offset <= text.len(), "{d:?}");
        assert!(!d.message.is_empty());
    }
}

fn shipped() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    out.sort();
    out
}

/// Field names and fragments the compiler cares about, so that generated documents reach
/// deep into it instead of failing at the first level.
const WORDS: &[&str] = &[
    "runbook",
    "steps",
    "id",
    "needs",
    "action",
    "with",
    "approval",
    "approvers",
    "when",
    "for_each",
    "max_parallel",
    "retry",
    "attempts",
    "backoff",
    "timeout",
    "verify",
    "compensate",
    "call",
    "params",
    "secrets",
    "env",
    "triggers",
    "schedule",
    "cron",
    "timezone",
    "webhook",
    "marks",
    "on_failure",
    "finally",
    "log",
    "message",
    "http.check",
    "url",
    "sleep",
    "duration",
    "a",
    "b",
    "rto_start",
    "{{ item }}",
    "{{ steps.a.output }}",
    "{{ params.x | to_json }}",
    "{% if x %}",
    "30s",
    "0 3 * * *",
    "Europe/Brussels",
    "group:dba",
    "type",
    "string",
    "default",
    "lock",
    "objectives",
    "rto",
    "}}",
];

fn value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        prop::sample::select(WORDS).prop_map(|w| serde_json::Value::String(w.to_owned())),
        ".{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::vec((prop::sample::select(WORDS), inner), 0..6).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn generated_documents_never_panic(doc in value()) {
        // JSON is YAML: this reaches the typed layers with every kind of wrong shape.
        check(&serde_json::to_string(&doc).unwrap());
    }

    #[test]
    fn edited_real_runbooks_never_panic(
        pick in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, ".{0,3}"), 1..6),
    ) {
        let runbooks = shipped();
        let mut text: Vec<char> = runbooks[pick % runbooks.len()].chars().collect();
        for (at, kind, insert) in edits {
            if text.is_empty() { break; }
            let i = at.index(text.len());
            match kind {
                0 => { text.remove(i); }
                1 => text.splice(i..i, insert.chars()).for_each(drop),
                2 => text[i] = insert.chars().next().unwrap_or(' '),
                _ => { let end = (i + 8).min(text.len()); text.drain(i..end); }
            }
        }
        check(&text.into_iter().collect::<String>());
    }
}

/// Found by `arbitrary_bytes_never_panic`: YAML counts a lone CR as a line break.
#[test]
fn lone_carriage_returns_count_as_line_breaks() {
    check("\r\r!");
    check("runbook: t\rsteps: x\r");
}
