//! `drctl validate PATH...`

use std::path::PathBuf;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_runbook::fs::collect;
use drctl_runbook::{Diagnostic, Severity};
use serde::Serialize;

use super::{load, print};
use crate::cli::DiagFormat;

#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
struct Report<'a> {
    files: Vec<FileReport<'a>>,
    /// Files that could not be read (not a regular file, too large, not UTF-8).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    unreadable: &'a [String],
    errors: usize,
    warnings: usize,
}

pub(crate) fn run(
    registry: &Registry,
    paths: &[PathBuf],
    format: DiagFormat,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    let files = collect(paths)?;
    let mut results = Vec::with_capacity(files.len());
    // A file that cannot be read is one error; the others are still checked.
    let mut unreadable = Vec::new();
    for path in &files {
        match load(registry, path) {
            Ok(loaded) => results.push(loaded),
            Err(e) => unreadable.push(format!("{e:#}")),
        }
    }
    same_hooks(&mut results);
    let count = |severity| {
        results
            .iter()
            .flat_map(|(_, c)| &c.diagnostics)
            .filter(|d| d.severity == severity)
            .count()
    };
    let (errors, warnings) = (
        count(Severity::Error) + unreadable.len(),
        count(Severity::Warning),
    );
    match format {
        DiagFormat::Json => {
            let report = Report {
                files: results
                    .iter()
                    .map(|(s, c)| FileReport {
                        file: s.name.clone(),
                        diagnostics: &c.diagnostics,
                    })
                    .collect(),
                unreadable: &unreadable,
                errors,
                warnings,
            };
            print(&format!("{}\n", serde_json::to_string_pretty(&report)?));
        }
        DiagFormat::Text => {
            let color = crate::render::color();
            let mut out = String::new();
            for (source, compiled) in &results {
                for d in &compiled.diagnostics {
                    out.push_str(&crate::render::diagnostic(source, d, color));
                }
            }
            for e in &unreadable {
                out.push_str(&format!("error: {e}\n"));
            }
            let plural =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            out.push_str(&format!(
                "{}: {}, {}\n",
                plural(files.len(), "runbook"),
                plural(errors, "error"),
                plural(warnings, "warning")
            ));
            print(&out);
        }
    }
    Ok(ExitCode::from(if errors > 0 {
        2
    } else if strict && warnings > 0 {
        1
    } else {
        0
    }))
}

/// A webhook name is one URL (`/hooks/NAME`) and a runbook name is what the API and the
/// scheduler start: two files claiming either would both be refused by a server. The
/// second claim is an error.
fn same_hooks(results: &mut [(drctl_runbook::Source, drctl_runbook::Compiled)]) {
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (source, compiled) in results.iter_mut() {
        let Some(rb) = &compiled.runbook else {
            continue;
        };
        let mut found = Vec::new();
        match names.get(rb.name.as_str()) {
            Some(first) => found.push(Diagnostic {
                severity: Severity::Error,
                code: drctl_runbook::Code::InvalidName,
                message: format!(
                    "runbook `{}` is also the name of {first}: a server would start neither",
                    rb.name
                ),
                span: name_line(&source.text),
                hint: Some("give each file its own `runbook:` name".into()),
            }),
            None => {
                names.insert(rb.name.to_string(), source.name.clone());
            }
        }
        for t in &rb.triggers {
            if let drctl_runbook::model::Trigger::Webhook(w) = t {
                match seen.get(&w.name) {
                    Some(first) => found.push(Diagnostic {
                        severity: Severity::Error,
                        code: drctl_runbook::Code::InvalidValue,
                        message: format!(
                            "webhook `{}` is also declared by {first}: /hooks/{} can start one runbook",
                            w.name, w.name
                        ),
                        span: w.span,
                        hint: Some("give each runbook's webhook its own name".into()),
                    }),
                    None => {
                        seen.insert(w.name.clone(), source.name.clone());
                    }
                }
            }
        }
        compiled.diagnostics.extend(found);
    }
}

/// Where a file's `runbook:` line is (line 1 if it has none at the start of a line).
fn name_line(text: &str) -> drctl_runbook::Span {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.starts_with("runbook:") {
            return drctl_runbook::Span {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                col: 1,
                offset,
                len: line.trim_end().len(),
            };
        }
        offset += line.len();
    }
    drctl_runbook::Span {
        line: 1,
        col: 1,
        offset: 0,
        len: 0,
    }
}
