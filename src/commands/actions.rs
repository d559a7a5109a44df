//! `drctl actions [NAME]`

use std::fmt::Write;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::{ActionCatalog, Reconcile, did_you_mean};

use super::{eprint, print};

pub(crate) fn run(registry: &Registry, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    let Some(name) = name else {
        let width = registry
            .specs()
            .map(|s| s.name.as_str().len())
            .max()
            .unwrap_or(0);
        for spec in registry.specs() {
            let flag = if spec.idempotent {
                "idempotent"
            } else {
                "          "
            };
            let _ = writeln!(
                out,
                "{:<width$}  {flag}  {}",
                spec.name.as_str(),
                spec.summary
            );
        }
        print(&out);
        return Ok(ExitCode::SUCCESS);
    };
    let Some(spec) = registry.spec(name) else {
        let hint = did_you_mean(name, registry.names())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprint(&format!("error: unknown action `{name}`{hint}\n"));
        return Ok(ExitCode::from(2));
    };
    let _ = writeln!(out, "{}: {}", spec.name, spec.summary);
    let _ = writeln!(
        out,
        "idempotent: {}",
        if spec.idempotent {
            "yes (retried after a crash)"
        } else {
            "no"
        }
    );
    let reconcile = match spec.reconcile {
        Reconcile::Supported => "yes",
        Reconcile::Unsupported => "no (an interrupted call pauses the run)",
        Reconcile::WithCheck => "when the step gives a `reconcile` check",
    };
    let _ = writeln!(out, "reconcile after a crash: {reconcile}\n\nwith:");
    for f in &spec.params.fields {
        let req = if f.required { "required" } else { "optional" };
        let secret = if f.sensitive { ", a credential" } else { "" };
        let _ = writeln!(
            out,
            "  {}  ({req}{secret}) {}\n      {}",
            f.name, f.ty, f.doc
        );
    }
    for group in &spec.params.exclusive {
        let _ = writeln!(out, "at most one of: {}", group.join(", "));
    }
    for group in &spec.params.at_least_one {
        let _ = writeln!(out, "at least one of: {}", group.join(", "));
    }
    if !spec.outputs.is_empty() {
        let _ = writeln!(out, "\noutput: {}", spec.outputs);
    }
    if !spec.errors.is_empty() {
        let _ = writeln!(out, "\nerrors: {}", spec.errors);
    }
    print(&out);
    Ok(ExitCode::SUCCESS)
}
