//! `drctl audit export` and `drctl audit verify`: the event log as evidence.
//!
//! - `file`: the export format (whole runs, then a manifest) and its verification.
//! - here: choosing runs for an export, and checking the database's own chains.

mod file;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use drctl_core::{Clock as _, Timestamp};
use drctl_engine::clock::SystemClock;
use drctl_store::chain;
use drctl_store::ledger::{self, RunHeads};
use drctl_store::{RunRow, StoredEvent};

use super::runs::{actor, open, resolve, runtime};
use crate::commands::{eprint, print};
pub(crate) use file::Format;

/// Which runs an export holds (whole runs: see `file`).
#[derive(Debug, Default)]
pub(crate) struct Filters {
    pub since: Option<String>,
    pub until: Option<String>,
    pub runbook: Option<String>,
    pub actor: Option<String>,
    pub run: Option<String>,
}

fn time(flag: &str, text: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
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
    let since = time("--since", filters.since.as_deref())?;
    let until = time("--until", filters.until.as_deref())?;
    runtime()?.block_on(async {
        let store = open(db).await?;
        let only = match &filters.run {
            Some(prefix) => Some(resolve(&store, prefix).await?),
            None => None,
        };
        // One consistent state, oldest run first (an export reads as a history): runs
        // that append meanwhile appear as they were, their manifest entries agreeing.
        let snapshot = store.snapshot().await?;
        let sink: Box<dyn std::io::Write> = match out {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        let mut writer = file::Writer::new(sink, format)?;
        let mut exported = std::collections::HashSet::new();
        for (row, events) in &snapshot.runs {
            if only.as_ref().is_some_and(|id| *id != row.id)
                || filters.runbook.as_ref().is_some_and(|r| *r != row.runbook)
            {
                continue;
            }
            let chosen = events.iter().any(|e| {
                since.is_none_or(|t| e.at >= t)
                    && until.is_none_or(|t| e.at < t)
                    && filters.actor.as_ref().is_none_or(|a| e.actor == *a)
            });
            if chosen {
                writer.run(events)?;
                exported.insert(row.id.clone());
            }
        }
        let mut applied = BTreeMap::new();
        for (name, value) in [
            ("since", &filters.since),
            ("until", &filters.until),
            ("runbook", &filters.runbook),
            ("actor", &filters.actor),
            ("run", &filters.run),
        ] {
            if let Some(v) = value {
                applied.insert(name.to_owned(), v.clone());
            }
        }
        let ledger = snapshot.ledger.last().map(|e| file::LedgerHead {
            seq: e.seq,
            hash: e.hash.clone(),
        });
        // The exported runs' ledger entries, with whatever signatures a server made
        // over them: what `audit verify --key` checks the file against.
        let entries: Vec<file::EntryRecord> = snapshot
            .ledger
            .iter()
            .filter(|e| exported.contains(&e.run))
            .map(file::EntryRecord::of)
            .collect();
        let signed = snapshot
            .signed
            .iter()
            .filter(|s| entries.iter().any(|e| e.seq == s.seq))
            .cloned()
            .collect();
        let (events, runs) = writer.finish(
            SystemClock::new().now(),
            &actor(),
            applied,
            ledger,
            (entries, signed),
        )?;
        if out.is_some() {
            eprint(&format!("Exported {events} events of {runs} runs.\n"));
        }
        Ok(ExitCode::SUCCESS)
    })
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
        return Ok(match file::verify(&text) {
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
                    "{}: intact: {} events of {} runs, every chain and the manifest check out.{signed}\n",
                    path.display(),
                    v.events,
                    v.runs
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
        let snapshot = store.snapshot().await?;
        let mut events = 0;
        let mut heads = Vec::with_capacity(snapshot.runs.len());
        for (row, log) in &snapshot.runs {
            if let Err(reason) = check_run(row, log) {
                eprint(&format!("database: run {}: {reason}\n", row.id));
                return Ok(ExitCode::from(1));
            }
            events += log.len();
            heads.push(RunHeads {
                run: row.id.clone(),
                first: log.first().map(|e| e.hash.clone()).unwrap_or_default(),
                version: row.version,
                head: row.head_hash.clone(),
                finished: row.is_finished(),
            });
        }
        let entries = &snapshot.ledger;
        if let Err(bad) = ledger::verify(entries, &heads) {
            eprint(&format!("database: {bad}\n"));
            return Ok(ExitCode::from(1));
        }
        let signed = match &key {
            None => String::new(),
            Some(key) => match drctl_evidence::check(entries, &snapshot.signed, key) {
                Ok(c) => {
                    let tail = match c.unsigned_tail {
                        0 => String::new(),
                        n => format!("; the {n} newest are not signed yet"),
                    };
                    format!(
                        " The history matches the {} heads key {} signed{tail}.",
                        c.signed,
                        key.fingerprint()
                    )
                }
                Err(why) => {
                    eprint(&format!("database: {why}\n"));
                    return Ok(ExitCode::from(1));
                }
            },
        };
        print(&format!(
            "database: intact: {events} events of {} runs, every chain checks out, and so does \
             the ledger of {} entries.{signed}\n",
            snapshot.runs.len(),
            entries.len()
        ));
        Ok(ExitCode::SUCCESS)
    })
}

/// A run's chain, and that it ends where the run's row says it does.
fn check_run(row: &RunRow, log: &[StoredEvent]) -> Result<(), String> {
    chain::verify(&row.id, log).map_err(|b| b.to_string())?;
    let head = log.last().map_or(chain::GENESIS, |e| e.hash.as_str());
    if head != row.head_hash || log.len() as u64 != row.version {
        return Err(format!(
            "its last event is {} (hash {head}), but the run records {} events ending in {} \
             (an event was removed from its end, or added)",
            log.len(),
            row.version,
            row.head_hash
        ));
    }
    Ok(())
}

/// `--key`: a public key's text, or a file holding it.
fn public_key(arg: &str) -> anyhow::Result<drctl_evidence::PublicKey> {
    let text = if arg.trim_start().starts_with("drctl-ed25519 ") {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg).with_context(|| format!("--key: cannot read {arg}"))?
    };
    drctl_evidence::PublicKey::parse(&text).with_context(|| format!("--key {arg}"))
}
