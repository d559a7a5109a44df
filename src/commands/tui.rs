//! `drctl tui`: the operator console, on the local database or, with `--server`,
//! against `drctl serve` (see the drctl-tui crate).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use drctl_connectors::Registry;
use drctl_server::client::Client;
use drctl_tui::source::{Local, Remote, Source};
use drctl_tui::theme::Theme;

use super::runs::{actor, engine, open, runtime};

/// The console's look: `--ascii`, and `NO_COLOR` (any value but empty).
pub(crate) fn options(read_only: bool, ascii: bool) -> drctl_tui::Options {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    drctl_tui::Options {
        read_only,
        theme: Theme { color, ascii },
    }
}

fn need_terminal() -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("drctl tui needs a terminal: run it in one (over SSH: ssh -t)");
    }
    Ok(())
}

/// On the local database (and the runbooks folder, for the schedules).
pub(crate) fn local(
    registry: &Registry,
    db: Option<&Path>,
    runbooks: Option<&Path>,
    opts: drctl_tui::Options,
) -> anyhow::Result<ExitCode> {
    need_terminal()?;
    let runbooks: Option<PathBuf> = runbooks
        .map(Path::to_path_buf)
        .or_else(|| crate::config::get().serve.runbooks.clone());
    let me = actor();
    let groups = crate::config::get().groups_of(&me);
    // One runtime for the store and the console: the store is closed when it ends.
    runtime()?.block_on(async {
        let store = open(db).await?;
        let source = Local {
            engine: engine(store.clone(), registry, None, false),
            store,
            registry: registry.clone(),
            me,
            groups,
            runbooks,
            cursor: tokio::sync::Mutex::new(None),
        };
        drctl_tui::run(Arc::new(source), registry.clone(), opts).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Against a server.
pub(crate) fn remote(
    client: Client,
    registry: &Registry,
    opts: drctl_tui::Options,
) -> anyhow::Result<ExitCode> {
    need_terminal()?;
    runtime()?.block_on(async {
        let source: Arc<dyn Source> = Arc::new(Remote::connect(client).await?);
        drctl_tui::run(source, registry.clone(), opts).await?;
        Ok(ExitCode::SUCCESS)
    })
}
