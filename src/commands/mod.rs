//! One module per command. Each returns the process exit code.

mod actions;
mod audit;
mod graph;
mod hooks;
mod plan;
mod remote;
mod report;
mod runs;
mod schedules;
mod tui;
mod validate;

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_runbook::fs::{FsCalls, read_source};
use drctl_runbook::{Compiled, Runbook, Source, compile};

use drctl_run::event::Verdict;

use crate::cli::{AuditCommand, AuditFormat, Cli, Command};
use crate::config::Config;

/// The actions of this build: the built-in ones, and those whose features are on (`aws`,
/// `azure`, `gcp`, `k8s`).
fn registry() -> Registry {
    #[allow(unused_mut)]
    let mut registry = Registry::builtin();
    #[allow(unused_variables)]
    let specs: Vec<_> = registry.specs().cloned().collect();
    #[cfg(feature = "aws")]
    for action in drctl_aws::actions(&specs) {
        registry.implement(action);
    }
    #[cfg(feature = "azure")]
    for action in drctl_azure::actions(&specs) {
        registry.implement(action);
    }
    #[cfg(feature = "gcp")]
    for action in drctl_gcp::actions(&specs) {
        registry.implement(action);
    }
    #[cfg(feature = "k8s")]
    for action in drctl_k8s::actions(&specs) {
        registry.implement(action);
    }
    registry
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let registry = registry();
    // With a server, the commands about runs go to its API (and its drctl.toml decides
    // who may do what); the local files are not read for them.
    if let Some(url) = cli.server.as_deref().filter(|u| !u.trim().is_empty())
        && let Some(code) = remote::run(url, &registry, &cli.command, cli.act_as.as_deref())?
    {
        return Ok(code);
    }
    let loaded = Config::load(cli.config.as_deref())?;
    let me = loaded.identity(&crate::identity::os_user(), cli.act_as.as_deref())?;
    crate::config::set_actor(me);
    crate::config::set(loaded);
    let config = crate::config::get();
    match cli.command {
        Command::Validate {
            paths,
            format,
            strict,
        } => validate::run(&registry, &paths, format, strict),
        Command::Graph { file, format } => graph::run(&registry, &file, format),
        Command::Plan {
            file,
            params,
            format,
            live,
            live_timeout,
        } => plan::run(
            &registry,
            &file,
            &params,
            format,
            plan::LiveOptions {
                live,
                timeout: live_timeout,
            },
        ),
        Command::Actions { name } => actions::run(&registry, name.as_deref()),
        Command::Run {
            file,
            params,
            no_wait,
            drill,
            detach,
            engine,
        } => runs::run::run(
            &registry,
            cli.db.as_deref(),
            &file,
            &params,
            runs::run::Flags {
                no_wait,
                drill,
                detach,
            },
            &engine,
        ),
        Command::Serve {
            listen,
            insecure_listen,
            tls_cert,
            tls_key,
            engine,
        } => runs::serve::run(
            &registry,
            cli.db.as_deref(),
            &runs::serve::Listen {
                addr: listen,
                insecure: insecure_listen,
                tls: tls_cert.zip(tls_key),
            },
            &engine,
        ),
        Command::Schedules {
            command,
            runbooks,
            json,
        } => schedules::run(
            &registry,
            cli.db.as_deref(),
            runbooks.as_deref(),
            (command.as_ref(), json),
        ),
        Command::Hooks { command } => hooks::run(&registry, cli.db.as_deref(), &command),
        Command::Tui {
            read_only,
            ascii,
            runbooks,
        } => tui::local(
            &registry,
            cli.db.as_deref(),
            runbooks.as_deref(),
            tui::options(read_only, ascii),
        ),
        Command::Key {
            command: crate::cli::KeyCommand::Create { path },
        } => runs::serve::create_key(&path),
        Command::Token {
            command:
                crate::cli::TokenCommand::Create {
                    name,
                    role,
                    identity,
                },
        } => runs::serve::create_token(&name, role, &identity),
        Command::Resume { run, engine } => {
            runs::resume::run(&registry, cli.db.as_deref(), &run, &engine)
        }
        Command::Ls {
            status,
            runbook,
            all,
            drill,
            since,
            limit,
        } => runs::ls::run(
            cli.db.as_deref(),
            &drctl_server::ops::runs::RunQuery {
                status: status.map(Into::into),
                runbook,
                all,
                limit,
                drill: drill.then_some(true),
                since: audit::time("--since", since.as_deref())?,
                after: None,
            },
        ),
        Command::Show { run, format } => runs::show::run(cli.db.as_deref(), &run, format),
        Command::Report {
            run,
            runbook,
            last,
            format,
        } => report::run(
            &registry,
            cli.db.as_deref(),
            run.as_deref(),
            runbook.as_deref(),
            last,
            format,
        ),
        Command::Logs { run, step, follow } => {
            runs::logs::run(cli.db.as_deref(), &run, step.as_deref(), follow)
        }
        Command::Cancel {
            run,
            reason,
            engine,
        } => runs::cancel::run(&registry, cli.db.as_deref(), &run, &reason, &engine),
        Command::Approvals => runs::approve::list(&registry, cli.db.as_deref(), config),
        Command::Approve { run, step, message } => runs::approve::decide(
            &registry,
            cli.db.as_deref(),
            config,
            (&run, &step),
            Verdict::Approve,
            &message,
        ),
        Command::Reject { run, step, message } => runs::approve::decide(
            &registry,
            cli.db.as_deref(),
            config,
            (&run, &step),
            Verdict::Reject,
            &message,
        ),
        Command::Audit { command } => match command {
            AuditCommand::Export {
                since,
                until,
                runbook,
                actor,
                run,
                format,
                output,
            } => audit::export(
                cli.db.as_deref(),
                &audit::Filters {
                    since,
                    until,
                    runbook,
                    actor,
                    run,
                },
                match format {
                    AuditFormat::Jsonl => drctl_evidence::audit::Format::Jsonl,
                    AuditFormat::Csv => drctl_evidence::audit::Format::Csv,
                },
                output.as_deref(),
            ),
            AuditCommand::Verify { file, key } => {
                audit::verify(cli.db.as_deref(), file.as_deref(), key.as_deref())
            }
        },
        Command::Step {
            decision,
            run,
            step,
            item,
            output,
        } => runs::step::run(
            &registry,
            cli.db.as_deref(),
            runs::step::Request {
                decision,
                run: &run,
                step: &step,
                item,
                output: output.as_deref(),
            },
        ),
    }
}

/// Reads and compiles one runbook file, resolving calls relative to it.
pub(crate) fn load(registry: &Registry, path: &Path) -> anyhow::Result<(Source, Compiled)> {
    let source = read_source(path)?;
    let calls = FsCalls::new(registry);
    let mut compiled = compile(&source, registry, &calls);
    // Approver groups are the configuration's, which the compiler does not read.
    if let Some(runbook) = &compiled.runbook {
        let config = crate::config::get();
        let known = |g: &str| config.groups.contains_key(g);
        // Without a configuration that defines groups there is nothing to check against
        // (a laptop validating production runbooks): only a configured list is checked.
        if !config.groups.is_empty() {
            compiled
                .diagnostics
                .extend(drctl_runbook::compile::unknown_groups(
                    &source, runbook, &known,
                ));
        }
        compiled
            .diagnostics
            .sort_by_key(|d| (d.span.line, d.span.col));
    }
    Ok((source, compiled))
}

/// Compiles one file for `graph` and `plan`; on errors prints them and returns `Err(2)`.
pub(crate) fn load_valid(
    registry: &Registry,
    path: &Path,
) -> anyhow::Result<Result<(Source, Runbook), ExitCode>> {
    let (source, compiled) = load(registry, path)?;
    match compiled.runbook {
        Some(rb) => Ok(Ok((source, rb))),
        None => {
            let color = crate::render::color();
            let mut out = String::new();
            for d in compiled
                .diagnostics
                .iter()
                .filter(|d| d.severity == drctl_runbook::Severity::Error)
            {
                out.push_str(&crate::render::diagnostic(&source, d, color));
            }
            eprint(&out);
            Ok(Err(ExitCode::from(2)))
        }
    }
}

/// Writes to stderr without panicking when it is closed.
pub(crate) fn eprint(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes to stdout; a closed pipe (`drctl plan ... | head`) is not an error worth a panic.
pub(crate) fn print(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
