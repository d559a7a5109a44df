//! `drctl plan FILE -p key=value...`: a dry run with no side effects. Secrets are never
//! read: they are shown as `***`.

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_runbook::params::{parse_assignments, resolve_text};
use drctl_runbook::plan::{plan, render_text};
use drctl_runbook::template::TemplateEnv;

use super::{eprint, load_valid, print};
use crate::cli::DiagFormat;

pub(crate) fn run(
    registry: &Registry,
    file: &Path,
    params: &[String],
    format: DiagFormat,
) -> anyhow::Result<ExitCode> {
    let (source, rb) = match load_valid(registry, file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let resolved = parse_assignments(params).and_then(|given| resolve_text(&rb.params, &given));
    let resolved = match resolved {
        Ok(r) => r,
        Err(errors) => {
            let mut out = String::new();
            for e in errors {
                out.push_str(&format!("{}: error: {e}\n", source.name));
            }
            eprint(&out);
            return Ok(ExitCode::from(2));
        }
    };
    let env = TemplateEnv::new();
    let plan = plan(&rb, &resolved, registry, &env);
    match format {
        DiagFormat::Text => print(&render_text(&plan)),
        DiagFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&plan)?)),
    }
    Ok(if plan.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
