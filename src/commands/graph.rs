//! `drctl graph FILE --format dot|mermaid|text`

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_runbook::diagram;

use super::{load_valid, print};
use crate::cli::GraphFormat;

pub(crate) fn run(
    registry: &Registry,
    file: &Path,
    format: GraphFormat,
) -> anyhow::Result<ExitCode> {
    let (_, rb) = match load_valid(registry, file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    print(&match format {
        GraphFormat::Dot => diagram::to_dot(&rb),
        GraphFormat::Mermaid => diagram::to_mermaid(&rb),
        GraphFormat::Text => diagram::to_text(&rb),
    });
    Ok(ExitCode::SUCCESS)
}
