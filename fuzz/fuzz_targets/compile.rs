//! Parse + compile arbitrary bytes; when a runbook compiles, plan it with its defaults too,
//! which renders every template that depends only on params.
//!
//! Run: `scripts/fuzz 600` (ten minutes), or `cargo fuzz run compile` from `fuzz/`.
#![no_main]

use drctl_connectors::Registry;
use drctl_runbook::params::resolve_json;
use drctl_runbook::plan::plan;
use drctl_runbook::{NoCalls, Source, compile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let registry = Registry::builtin();
    let source = Source::new("fuzz.yaml", text.as_ref());
    let compiled = compile(&source, &registry, &NoCalls);
    for d in &compiled.diagnostics {
        assert!(d.span.line >= 1 && d.span.line as usize <= source.line_count());
    }
    if let Some(rb) = compiled.runbook
        && let Ok(params) = resolve_json(&rb.params, &Default::default())
    {
        let env = drctl_runbook::template::TemplateEnv::new();
        let _ = plan(&rb, &params, &registry, &env);
    }
});
