//! `drctl audit export` and `drctl audit verify` (see `drctl_evidence::audit`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use drctl_core::{Clock as _, Timestamp};
use drctl_engine::clock::SystemClock;
use drctl_evidence::audit::{self, Format};
use drctl_store::RunReader as _;

use super::runs::{actor, open, runtime};
use crate::commands::{eprint, print};

/// Which runs an export holds, as typed.
pub(crate) use drctl_evidence::audit::Given as Filters;

/// `--since` and `--until`, checked: each a time, the first before the second.
pub(crate) fn window(
    since: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<(Option<Timestamp>, Option<Timestamp>)> {
    let (s, u) = (time("--since", since)?, time("--until", until)?);
    if let (Some(a), Some(b)) = (s, u)
        && a >= b
    {
        anyhow::bail!("--since must come before --until");
    }
    Ok((s, u))
}

/// A time given to --since or --until.
pub(crate) fn time(flag: &str, text: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    text.map(|t| {
        Timestamp::parse(t).with_context(|| {
            format!("{flag} `{t}` is not a time: write 2026-11-22 or 2026-11-22T10:00:00Z")
        })
    })
    .transpose()
}

pub(crate) fn export(
    db: Option<&Path>,
    filters: &Filters,
    format: Format,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (since, until) = window(filters.since.as_deref(), filters.until.as_deref())?;
    runtime()?.block_on(async {
        let store = open(db).await?;
        let only = match &filters.run {
            Some(prefix) => Some(drctl_server::ops::runs::audited(store.as_ref(), prefix).await?),
            None => None,
        };
        // One consistent state, oldest run first (an export reads as a history): runs
        // that append meanwhile appear as they were, their manifest entries agreeing.
        let snapshot = store.snapshot(only.as_ref()).await?;
        let sink: Box<dyn std::io::Write> = match out {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        let chosen = audit::Filters {
            since,
            until,
            runbook: filters.runbook.clone(),
            actor: filters.actor.clone(),
            run: only,
            as_given: filters.as_given(),
        };
        let service = audit::ServiceLog::read(store.as_ref(), &chosen).await?;
        let done = audit::export(
            (&snapshot, &service),
            &chosen,
            format,
            sink,
            (&actor(), SystemClock::new().now()),
        )?;
        if out.is_some() {
            eprint(&exported(done.events, done.runs, done.service));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `audit export -o FILE` says when done, locally and with `--server`.
pub(crate) fn exported(events: u64, runs: usize, service: audit::ServiceCounts) -> String {
    format!(
        "Exported {events} events of {runs} runs{}.\n",
        service_counts(service)
    )
}

/// `, and N service records (...)`, when an export holds any.
fn service_counts(c: audit::ServiceCounts) -> String {
    if c.is_empty() {
        return String::new();
    }
    format!(
        ", and {} service records ({} webhook deliveries, {} schedule changes, {} firings)",
        c.total(),
        c.deliveries,
        c.schedule_changes,
        c.firings
    )
}

/// `drctl audit verify FILE`, or the database's chains when no file is given.
pub(crate) fn verify(
    db: Option<&Path>,
    path: Option<&Path>,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let key = key.map(public_key).transpose()?;
    if let Some(path) = path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(match audit::verify_file(&text) {
            Ok(v) => {
                let signed = match &key {
                    None => String::new(),
                    Some(key) => match v.check_signed(key) {
                        Ok(held) => format!(
                            " Every run matches the heads key {} signed ({held} ledger entries).",
                            key.fingerprint()
                        ),
                        Err(why) => {
                            eprint(&format!("{}: {why}\n", path.display()));
                            return Ok(ExitCode::from(1));
                        }
                    },
                };
                print(&format!(
                    "{}: intact: {} events of {} runs{}, every chain and the manifest check out.{signed}\n",
                    path.display(),
                    v.events,
                    v.runs,
                    service_counts(v.service)
                ));
                ExitCode::SUCCESS
            }
            Err(bad) => {
                eprint(&format!("{}:{bad}\n", path.display()));
                ExitCode::from(1)
            }
        });
    }
    runtime()?.block_on(async {
        let store = open(db).await?;
        // One consistent state: runs that append meanwhile are not taken for tampering.
        let snapshot = store.snapshot(None).await?;
        let now = SystemClock::new().now();
        match audit::verify_store(&snapshot, key.as_ref().map(|k| (k, now))) {
            Ok(v) => {
                let signed = match &v.signed {
                    None => String::new(),
                    Some((fingerprint, c)) => {
                        let tail = match c.unsigned_tail {
                            0 => String::new(),
                            n => format!("; the {n} newest are not signed yet"),
                        };
                        format!(
                            " The history matches the {} heads key {fingerprint} signed{tail}.",
                            c.signed
                        )
                    }
                };
                print(&format!(
                    "database: intact: {} events of {} runs, every chain checks out, and so does \
                     the ledger of {} entries.{signed}\n",
                    v.events, v.runs, v.ledger
                ));
                Ok(ExitCode::SUCCESS)
            }
            Err(why) => {
                eprint(&format!("database: {why}\n"));
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// `--key`: a public key's text, or a file holding it. Neither the text nor a file's
/// content is ever repeated in an error: a signing key given by mistake must not be shown.
fn public_key(arg: &str) -> anyhow::Result<drctl_evidence::PublicKey> {
    use std::io::Read as _;
    let inline = arg.trim_start().starts_with("drctl-") || arg.contains(char::is_whitespace);
    let text = if inline {
        arg.to_owned()
    } else {
        // A public key is one short line: read no more than that from whatever the path
        // names (a device would never end).
        let mut text = String::new();
        std::fs::File::open(arg)
            .and_then(|f| f.take(4096).read_to_string(&mut text))
            .with_context(|| format!("--key: cannot read the file {arg}"))?;
        text
    };
    if text.trim_start().starts_with("drctl-ed25519-secret") {
        anyhow::bail!(
            "--key takes the public key (`drctl-ed25519 ...`, as `drctl key create` printed it), not the signing key: keep that one on the server"
        );
    }
    drctl_evidence::PublicKey::parse(&text).map_err(|e| anyhow::anyhow!("--key: {e}"))
}
