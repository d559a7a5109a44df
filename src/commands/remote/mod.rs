//! `--server URL` (or `DRCTL_SERVER`): the commands about runs sent to a `drctl serve`
//! through its API instead of to the local database, with the token in `DRCTL_TOKEN`
//! (and, for a server whose certificate comes from a private CA, that CA's PEM file in
//! `DRCTL_CA_CERT`).
//!
//! Each command renders with the same function as its local twin, from the same view
//! types (`drctl_server::views`), and exits with the same code. What differs is where a
//! run is driven: `run`, `resume` and a `cancel` nobody drives are driven by the server,
//! and this process follows the run's events until it ends or pauses (Ctrl-C stops
//! following, not the run).
//!
//! - [`follow`]: following a run's events to its end over server-sent events.

mod follow;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use drctl_connectors::Registry;
use drctl_core::Clock as _;
use drctl_engine::clock::SystemClock;
use drctl_run::event::Verdict;
use drctl_server::api::approvals::VerdictArg;
use drctl_server::api::runs::{DecisionArg, StartRequest};
use drctl_server::client::{Client, ClientError};
use drctl_server::ops::deliver::Delivered;
use drctl_server::ops::runs::RunQuery;
use drctl_server::views::{CommandResult, StatusArg};

use crate::cli::{AuditCommand, AuditFormat, Command, StepDecision};
use crate::commands::runs::{approve, cancel, ls, show, step};
use crate::commands::{eprint, print};

/// Runs `command` against the server at `url`; `None` for a command that does not go
/// through a server (validate, graph, plan, actions: they read local files only).
pub(crate) fn run(
    url: &str,
    registry: &Registry,
    command: &Command,
    act_as: Option<&str>,
) -> anyhow::Result<Option<ExitCode>> {
    if matches!(
        command,
        Command::Validate { .. }
            | Command::Graph { .. }
            | Command::Plan { .. }
            | Command::Actions { .. }
            | Command::Token { .. }
            | Command::Key { .. }
    ) {
        return Ok(None);
    }
    if act_as.is_some() {
        anyhow::bail!(
            "--as does not go with --server: the server acts as the identity of your token"
        );
    }
    let token = std::env::var("DRCTL_TOKEN").unwrap_or_default();
    // A server with a certificate of its own CA: DRCTL_CA_CERT names the CA's PEM file.
    let ca = std::env::var_os("DRCTL_CA_CERT").filter(|v| !v.is_empty());
    let client = Client::new(url, token.trim(), ca.as_deref().map(Path::new))?;
    if let Command::Tui {
        read_only, ascii, ..
    } = command
    {
        let opts = crate::commands::tui::options(*read_only, *ascii);
        return crate::commands::tui::remote(client, registry, opts).map(Some);
    }
    let runtime = crate::commands::runs::runtime()?;
    runtime
        .block_on(dispatch(&client, registry, command))
        .map(Some)
}

async fn dispatch(
    client: &Client,
    registry: &Registry,
    command: &Command,
) -> anyhow::Result<ExitCode> {
    match command {
        // As locally: no runs asked for, none shown (the API takes 1 to 1,000).
        Command::Ls { limit: 0, .. } => {
            print(&ls::render(&[]));
            Ok(ExitCode::SUCCESS)
        }
        Command::Ls {
            status,
            runbook,
            all,
            drill,
            since,
            limit,
        } => {
            let list = client
                .runs(&RunQuery {
                    status: status.map(Into::into),
                    runbook: runbook.clone(),
                    all: *all,
                    limit: *limit,
                    drill: drill.then_some(true),
                    since: crate::commands::audit::time("--since", since.as_deref())?,
                    after: None,
                })
                .await?;
            print(&ls::render(&list.runs));
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { run, format } => {
            let detail = client.run(run).await?;
            print(&show::render(&detail, *format)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { run, step, follow } => {
            follow::logs(client, run, step.as_deref(), *follow).await
        }
        Command::Schedules { command, json, .. } => match command {
            None => {
                let list = client.schedules().await?;
                print(&crate::commands::schedules::render(
                    &list,
                    SystemClock::new().now(),
                    *json,
                )?);
                Ok(ExitCode::SUCCESS)
            }
            Some(crate::cli::SchedulesCommand::Fire { schedule }) => {
                let started = client.fire_schedule(schedule).await?;
                print(&format!(
                    "Fired {schedule}: run {}. The server drives it.\n",
                    started.id
                ));
                Ok(ExitCode::SUCCESS)
            }
            Some(other) => {
                let Some((id, change)) = crate::commands::schedules::change(other)? else {
                    return Ok(ExitCode::SUCCESS);
                };
                client.change_schedule(id, &change).await?;
                // The server recorded it as the token's identity.
                print(&format!(
                    "{}\n",
                    crate::commands::schedules::describe_change(
                        id,
                        &change,
                        "as your token's identity"
                    )
                ));
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Hooks { command } => {
            let Some((decision, run, reason)) = crate::commands::hooks::decision(command) else {
                let json = matches!(command, crate::cli::HooksCommand::Proposals { json: true });
                let list = client.proposals().await?;
                print(&crate::commands::hooks::render(&list.proposals, json)?);
                return Ok(ExitCode::SUCCESS);
            };
            let view = client.decide_proposal(run, decision, reason).await?;
            // The server recorded it as the token's identity, and drives a confirmed run.
            print(&crate::commands::hooks::decided(&view));
            Ok(ExitCode::SUCCESS)
        }
        Command::Approvals => {
            let gates = client.approvals().await?;
            print(&approve::render_gates(
                &gates.approvals,
                SystemClock::new().now(),
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve { run, step, message } => {
            decide(client, run, step, Verdict::Approve, message).await
        }
        Command::Reject { run, step, message } => {
            decide(client, run, step, Verdict::Reject, message).await
        }
        Command::Step {
            decision,
            run,
            step: name,
            item,
            output,
        } => {
            let (parsed, output) = match step::parse(*decision, output.as_deref()) {
                Ok(p) => p,
                Err(why) => {
                    eprint(&format!("error: {why}\n"));
                    return Ok(ExitCode::from(2));
                }
            };
            let arg = match decision {
                StepDecision::Retry => DecisionArg::Retry,
                StepDecision::Skip => DecisionArg::Skip,
                StepDecision::Fail => DecisionArg::Fail,
            };
            let detail = client.run(run).await?;
            let answer = client.step(run, name, arg, *item, output).await;
            Ok(step::render(
                parsed,
                name,
                &detail.run.id,
                delivered(answer)?,
            ))
        }
        Command::Cancel { run, reason, .. } => {
            let detail = client.run(run).await?;
            let id = detail.run.id.clone();
            if detail.run.is_finished() {
                return Ok(cancel::ended(&id, detail.run.status.as_str()));
            }
            match delivered(client.cancel(run, reason).await)? {
                Delivered::Stored { driver: None } => {
                    print(&format!(
                        "Cancelling run {id}; the server runs its `finally` steps.\n"
                    ));
                    follow::to_end(client, registry, &id, detail.run.version).await
                }
                other => Ok(cancel::render(&id, other)),
            }
        }
        Command::Resume { run, .. } => {
            let detail = client.run(run).await?;
            let id = detail.run.id.clone();
            if detail.run.is_finished() {
                print(&format!("Run {id} already ended: {}.\n", detail.run.status));
                let code = if detail.run.status == StatusArg::Succeeded {
                    0
                } else {
                    1
                };
                return Ok(ExitCode::from(code));
            }
            let answer = client.resume(run).await;
            match answer {
                // Paused for a step nobody decided: resuming would only pause again. As
                // locally, the run's pause is told with the decision it waits for.
                Err(ClientError::Problem { status: 409, .. }) => {
                    if let Some(reason) = follow::last_pause(client, &id).await? {
                        print(&format!("Resuming run {id}\n"));
                        return Ok(crate::commands::runs::paused(&id, &reason));
                    }
                    answer?;
                }
                // Driven already, by this server or another process: as locally, nothing
                // to resume.
                Ok(CommandResult {
                    driver: Some(owner),
                    ..
                }) => {
                    eprint(&format!(
                        "error: run {id} is driven by {owner}: it needs no resume\n"
                    ));
                    return Ok(ExitCode::from(2));
                }
                other => {
                    other?;
                }
            }
            print(&format!("Resuming run {id}\n"));
            follow::to_end(client, registry, &id, detail.run.version).await
        }
        Command::Run {
            file,
            params,
            no_wait,
            drill,
            detach,
            ..
        } => start_run(client, registry, file, params, (*no_wait, *drill, *detach)).await,
        Command::Serve { .. } => {
            anyhow::bail!("`drctl serve` hosts runs itself: it does not go with --server")
        }
        Command::Report {
            run,
            runbook,
            last,
            format,
        } => {
            let format = (*format).into();
            let text = match (run, runbook) {
                (Some(run), None) => client.report(run, format).await?,
                (None, Some(name)) => match client.trend(name, *last, format).await {
                    // As locally: no finished run is an answer about the input.
                    Err(ClientError::Problem {
                        status: 404,
                        detail,
                        ..
                    }) => {
                        eprint(&format!("error: {detail}\n"));
                        return Ok(ExitCode::from(2));
                    }
                    other => other?,
                },
                _ => {
                    eprint("error: give a run, or --runbook NAME (with --last N)\n");
                    return Ok(ExitCode::from(2));
                }
            };
            print(&text);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Export {
                    since,
                    until,
                    runbook,
                    actor,
                    run,
                    format,
                    output,
                },
        } => {
            // Bad times are refused here, as locally, before anything is asked.
            crate::commands::audit::window(since.as_deref(), until.as_deref())?;
            let mut query: Vec<(&str, String)> = vec![(
                "format",
                match format {
                    AuditFormat::Jsonl => "jsonl",
                    AuditFormat::Csv => "csv",
                }
                .to_owned(),
            )];
            let given = crate::commands::audit::Filters {
                since: since.clone(),
                until: until.clone(),
                runbook: runbook.clone(),
                actor: actor.clone(),
                run: run.clone(),
            }
            .as_given();
            query.extend(given.iter().map(|(name, v)| (name.as_str(), v.clone())));
            export(client, &query, output.as_deref()).await
        }
        Command::Audit {
            command: AuditCommand::Verify { .. },
        } => anyhow::bail!(
            "`audit verify` checks a file or a local database: with --server, export (`drctl audit export -o FILE`) and verify the file"
        ),
        Command::Validate { .. }
        | Command::Graph { .. }
        | Command::Plan { .. }
        | Command::Actions { .. }
        | Command::Token { .. }
        | Command::Key { .. } => unreachable!("handled locally before any call"),
        Command::Tui { .. } => unreachable!("the console is started before any call"),
    }
}

/// `approve` and `reject`: the server checks the same things `drctl approve` checks
/// locally (entitled, four-eyes, comment, still waiting); a refusal is printed the same.
async fn decide(
    client: &Client,
    run: &str,
    step: &str,
    verdict: Verdict,
    message: &str,
) -> anyhow::Result<ExitCode> {
    let arg = match verdict {
        Verdict::Approve => VerdictArg::Approve,
        Verdict::Reject => VerdictArg::Reject,
    };
    let answer = client.decide(run, step, arg, message).await;
    let (me, counts_as, id) = match &answer {
        Ok(r) => (r.actor.to_string(), r.counts_as.clone(), r.run.clone()),
        Err(_) => (String::new(), Vec::new(), client.run(run).await?.run.id),
    };
    Ok(approve::render_decision(
        &approve::Decided {
            me: &me,
            verdict,
            step,
            run: &id,
            counts_as: &counts_as,
        },
        delivered(answer)?,
    ))
}

/// What became of a command, as the local commands know it: a refusal of the command
/// itself (403, 409) is `Refused`, printed and exited with as locally; any other
/// problem is an error.
fn delivered(answer: Result<CommandResult, ClientError>) -> anyhow::Result<Delivered> {
    match answer {
        Ok(r) if r.outcome == "applied" => Ok(Delivered::Applied),
        Ok(r) => Ok(Delivered::Stored { driver: r.driver }),
        Err(ClientError::Problem {
            status: 403 | 409,
            kind,
            detail,
            ..
        }) if kind != "forbidden" => Ok(Delivered::Refused(detail)),
        Err(e) => Err(e.into()),
    }
}

/// `drctl run FILE --server URL`: the server starts the runbook of the same name from
/// its own runbooks folder, and only if that is the very text of FILE (same digest), so
/// what runs is what the operator read.
async fn start_run(
    client: &Client,
    registry: &Registry,
    file: &Path,
    params: &[String],
    (no_wait, drill, detach): (bool, bool, bool),
) -> anyhow::Result<ExitCode> {
    if no_wait {
        anyhow::bail!("--no-wait does not go with --server: the server's run waits for its lock");
    }
    let (source, runbook, resolved) =
        match crate::commands::runs::run::prepare(registry, file, params)? {
            Ok(ready) => ready,
            Err(code) => return Ok(code),
        };
    let name = runbook.name.to_string();
    let theirs = client
        .runbook(&name)
        .await
        .with_context(|| format!("the server has no runbook `{name}` to start"))?;
    let ours = source.digest();
    if theirs.runbook.digest != ours {
        eprint(&format!(
            "error: the server's runbook `{name}` ({}, {}) is not the text of {} ({}): the server runs what its runbooks folder holds; update one or the other\n",
            theirs.runbook.file,
            short(&theirs.runbook.digest),
            source.name,
            short(&ours)
        ));
        return Ok(ExitCode::from(2));
    }
    // The server checks the whole text again when it starts the run (its folder may
    // change meanwhile), the runbooks it calls included.
    let callees = drctl_runbook::fs::callee_sources(&runbook, &source.name, registry)?;
    let started = client
        .start(&StartRequest {
            runbook: name.clone(),
            params: resolved.to_map(),
            drill,
            digests: Some(drctl_server::api::runs::digests(&source, &callees)),
        })
        .await;
    let started = match started {
        Err(ClientError::Problem {
            status: 409,
            detail,
            ..
        }) => {
            eprint(&format!("error: {detail}\n"));
            return Ok(ExitCode::from(2));
        }
        other => other?,
    };
    print(&format!("Run {} of {}\n", started.id, started.runbook));
    if detach {
        print(&format!(
            "Started on the server; follow it with `drctl logs -f {}`.\n",
            started.id
        ));
        return Ok(ExitCode::SUCCESS);
    }
    // The first event (created) is not a line of a local run's progress either.
    follow::to_end(client, registry, &started.id, 1).await
}

/// `audit export --server`: the server's export, streamed to the file (or stdout); with
/// `-o`, the file is checked as `audit verify` would before its counts are printed, so a
/// cut transfer is an error, not a short file taken for a whole one.
async fn export(
    client: &Client,
    query: &[(&str, String)],
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let Some(path) = output else {
        let mut out = std::io::BufWriter::new(std::io::stdout());
        client.export(query, &mut out).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    if let Err(e) = client.export(query, &mut file).await {
        // A part of an export is no export: nothing is left to be taken for one.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    drop(file);
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match drctl_evidence::audit::verify_file(&text) {
        Ok(v) => {
            eprint(&crate::commands::audit::exported(
                v.events, v.runs, v.service,
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(bad) => {
            eprint(&format!(
                "{}:{bad}\nThe export does not verify: it was cut short on the way, or the server's database is damaged (`drctl audit verify` where it is tells).\n",
                path.display()
            ));
            Ok(ExitCode::from(1))
        }
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}
