//! `drctl plan FILE -p key=value...`: a dry run with no side effects. Secrets are shown as
//! `***`. Without `--live` nothing is read but the runbook; with it, [`live`] asks each
//! action what it would do now.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_runbook::params::{parse_assignments, resolve_text};
use drctl_runbook::plan::{plan, render_text};
use drctl_runbook::template::TemplateEnv;

use super::{eprint, load_valid, print};
use crate::cli::DiagFormat;

/// `--live`, and how long each action may take to answer.
#[derive(Clone, Copy)]
pub(crate) struct LiveOptions {
    pub(crate) live: bool,
    pub(crate) timeout: Duration,
}

pub(crate) fn run(
    registry: &Registry,
    file: &Path,
    params: &[String],
    format: DiagFormat,
    options: LiveOptions,
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
    let mut plan = plan(&rb, &resolved, registry, &env);
    // A plan with problems would fail before it reached these calls: asking is pointless.
    if options.live && plan.problems.is_empty() {
        let live = drctl_engine::preview::attach(
            &mut plan,
            &rb,
            &resolved,
            (registry, registry),
            &env,
            options.timeout,
        );
        super::runs::runtime()?.block_on(live);
    }
    plan.mask_credentials(registry);
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
