//! The audit export's format, and its verification.
//!
//! An export holds **whole runs**: every event of each run it selects, in order, with its
//! `seq`, `prev_hash` and `hash` exactly as stored, so that each run's hash chain can be
//! checked from the file alone. Filters choose runs, never single events: an export
//! "of what alice did" holds every run in which alice caused an event. The last record
//! is a manifest: per run its event count and head hash, the total, and a SHA-256 over
//! every record before it, so a removed run, a truncated run or a reordered file is found
//! too. `verify` names the first bad record by its line. The service's own records
//! (deliveries, schedule changes, firings: see `service`) follow the runs, covered by
//! the same digest and counted in the manifest.

use std::collections::BTreeMap;
use std::io::Write;

use super::service::{KINDS, ServiceCounts, ServiceRecord};
use crate::keys::PublicKey;
use drctl_core::{RunId, Timestamp};
use drctl_store::chain::{self, ChainBreak};
use drctl_store::ledger::{self, LedgerEntry, LedgerKind};
use drctl_store::{SignedHead, StoredEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format tag in every manifest.
pub(crate) const FORMAT: &str = "drctl-audit/1";

/// One event, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub run: String,
    pub seq: u64,
    /// RFC 3339, for people; `at_ms` is what the hash covers.
    pub at: String,
    pub at_ms: i64,
    pub actor: drctl_core::Actor,
    pub kind: String,
    /// The event's JSON, as stored (a string, so that its bytes, which the hash covers,
    /// survive the export unchanged).
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Record {
    pub(crate) fn from_event(e: &StoredEvent) -> Self {
        Self {
            run: e.run.to_string(),
            seq: e.seq,
            at: e.at.to_rfc3339(),
            at_ms: e.at.as_millis(),
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            body: e.body.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }

    fn to_event(&self) -> Result<StoredEvent, String> {
        Ok(StoredEvent {
            run: self
                .run
                .parse::<RunId>()
                .map_err(|e| format!("bad run id: {e}"))?,
            seq: self.seq,
            at: Timestamp::from_millis(self.at_ms),
            actor: self.actor.clone(),
            kind: self.kind.clone(),
            body: self.body.clone(),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }
}

/// The last record of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: String,
    pub exported_at: String,
    pub exported_by: String,
    pub filters: BTreeMap<String, String>,
    pub runs: Vec<RunHead>,
    pub events: u64,
    /// How many service records of each kind follow the runs.
    #[serde(default, skip_serializing_if = "ServiceCounts::is_empty")]
    pub service: ServiceCounts,
    /// The store-wide ledger's last entry when the export was made: the chain head that
    /// `audit verify` of the database must still reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerHead>,
    /// The store-wide ledger's entries of the exported runs (their creation and end),
    /// and the server's signatures over them: what `audit verify --key` checks each run
    /// against. Empty when no server signed (no `[serve] signing_key`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signed: Vec<SignedHead>,
    /// SHA-256 over the records before the manifest, each as written plus `\n`.
    pub digest: String,
}

/// A ledger entry, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EntryRecord {
    pub seq: u64,
    pub run: String,
    pub kind: String,
    pub version: u64,
    pub head: String,
    pub prev_hash: String,
    pub hash: String,
}

impl EntryRecord {
    pub(crate) fn of(e: &LedgerEntry) -> Self {
        Self {
            seq: e.seq,
            run: e.run.to_string(),
            kind: e.kind.as_str().to_owned(),
            version: e.version,
            head: e.head.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LedgerHead {
    pub seq: u64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunHead {
    pub run: String,
    pub events: u64,
    pub head: String,
}

/// `jsonl` or `csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

const CSV_HEADER: [&str; 9] = [
    "run",
    "seq",
    "at",
    "at_ms",
    "actor",
    "kind",
    "body",
    "prev_hash",
    "hash",
];

/// Writes records and their manifest; the digest covers exactly the bytes written.
pub(crate) struct Writer<W: Write> {
    out: W,
    format: Format,
    digest: Sha256,
    heads: Vec<RunHead>,
    events: u64,
    service: ServiceCounts,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(out: W, format: Format) -> std::io::Result<Self> {
        let mut w = Self {
            out,
            format,
            digest: Sha256::new(),
            heads: Vec::new(),
            events: 0,
            service: ServiceCounts::default(),
        };
        if format == Format::Csv {
            let header = csv_line(&CSV_HEADER.map(str::to_owned))?;
            w.line(&header)?;
        }
        Ok(w)
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.digest.update(text.as_bytes());
        self.digest.update(b"\n");
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// One whole run.
    pub(crate) fn run(&mut self, events: &[StoredEvent]) -> std::io::Result<()> {
        for e in events {
            let r = Record::from_event(e);
            let text = match self.format {
                Format::Jsonl => serde_json::to_string(&r)?,
                Format::Csv => csv_line(&[
                    r.run.clone(),
                    r.seq.to_string(),
                    r.at.clone(),
                    r.at_ms.to_string(),
                    r.actor.to_string(),
                    r.kind.clone(),
                    r.body.clone(),
                    r.prev_hash.clone(),
                    r.hash.clone(),
                ])?,
            };
            self.line(&text)?;
        }
        if let Some(last) = events.last() {
            self.heads.push(RunHead {
                run: last.run.to_string(),
                events: events.len() as u64,
                head: last.hash.clone(),
            });
            self.events += events.len() as u64;
        }
        Ok(())
    }

    /// One service record (after every run).
    pub(crate) fn service(&mut self, r: &ServiceRecord) -> std::io::Result<()> {
        self.service
            .count(&r.record)
            .map_err(std::io::Error::other)?;
        let text = match self.format {
            Format::Jsonl => serde_json::to_string(r)?,
            // The record's kind in the run column, its fields as JSON in the body.
            Format::Csv => csv_line(&[
                r.record.clone(),
                String::new(),
                r.at.clone(),
                r.at_ms.to_string(),
                r.actor.clone(),
                r.kind.clone(),
                r.body.to_string(),
                String::new(),
                String::new(),
            ])?,
        };
        self.line(&text)
    }

    pub(crate) fn finish(
        mut self,
        exported_at: Timestamp,
        exported_by: &drctl_core::Actor,
        filters: BTreeMap<String, String>,
        ledger: Option<LedgerHead>,
        (entries, signed): (Vec<EntryRecord>, Vec<SignedHead>),
    ) -> std::io::Result<(u64, usize, ServiceCounts)> {
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            exported_at: exported_at.to_rfc3339(),
            exported_by: exported_by.to_string(),
            filters,
            runs: std::mem::take(&mut self.heads),
            events: self.events,
            service: self.service,
            ledger,
            entries,
            signed,
            digest: hex(&self.digest.clone().finalize()),
        };
        let json = serde_json::to_string(&serde_json::json!({ "manifest": manifest }))?;
        let text = match self.format {
            Format::Jsonl => json,
            // The manifest row: `manifest` in the run column, its JSON in the body column.
            Format::Csv => {
                let mut row = vec![String::new(); CSV_HEADER.len()];
                row[0] = "manifest".into();
                row[6] = json;
                csv_line(&row)?
            }
        };
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok((manifest.events, manifest.runs.len(), manifest.service))
    }
}

fn csv_line(fields: &[String]) -> std::io::Result<String> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(fields).map_err(std::io::Error::other)?;
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(std::io::Error::other)?;
    Ok(text.trim_end_matches('\n').to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `verify` found wrong, at which line (1-based) of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.line, self.reason)
    }
}

/// What a good export holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub runs: usize,
    pub events: u64,
    pub service: ServiceCounts,
    /// Each run's chain: its events, first hash and last hash, in file order.
    chains: Vec<(RunId, u64, String, String)>,
    manifest: Manifest,
}

impl Verified {
    /// Every exported run against the ledger heads `key` signed: each run's ledger
    /// entries must be the ones its events give, and each must carry a signature of
    /// `key` over that very entry. Returns how many entries held; the first run whose
    /// history no longer matches is named.
    pub fn check_signed(&self, key: &PublicKey) -> Result<usize, String> {
        let fingerprint = key.fingerprint();
        // An export of everything holds every ledger entry up to the head it names: one
        // missing is a run taken out of the file.
        if self.manifest.filters.is_empty()
            && let Some(head) = &self.manifest.ledger
        {
            let seqs: Vec<u64> = self.manifest.entries.iter().map(|e| e.seq).collect();
            if seqs != (1..=head.seq).collect::<Vec<_>>() {
                let missing = (1..=head.seq).find(|s| !seqs.contains(s)).unwrap_or(0);
                return Err(format!(
                    "the export of every run lacks ledger entry {missing} of {}: a run was taken out of it",
                    head.seq
                ));
            }
        }
        let mut held = 0;
        for (run, count, first, last) in &self.chains {
            let entries: Vec<&EntryRecord> = self
                .manifest
                .entries
                .iter()
                .filter(|e| e.run == run.as_str())
                .collect();
            if entries.is_empty() {
                return Err(format!(
                    "run {run}: the export holds no ledger entry of it, so nothing vouches for its history"
                ));
            }
            // Every event exported must be vouched for: the run's last one by an entry
            // of its own (its end). A run exported while in progress has only its start
            // signed, and a run cut short and its end entry dropped looks the same: both
            // are refused, never taken as whole.
            if !entries.iter().any(|e| e.version == *count) {
                return Err(format!(
                    "run {run}: no signed head covers its last {} events (only its start is in the ledger entries exported): it was in progress when exported, or it was cut short; export it again once it has ended",
                    count.saturating_sub(1)
                ));
            }
            for e in entries {
                let head = match e.version {
                    1 => first,
                    v if v == *count => last,
                    v => {
                        return Err(format!(
                            "run {run}: ledger entry {} is at event {v}, which the export does not end or start with",
                            e.seq
                        ));
                    }
                };
                let kind = LedgerKind::parse(&e.kind).ok_or_else(|| {
                    format!("ledger entry {} of unknown kind `{}`", e.seq, e.kind)
                })?;
                let last_entry = (e.seq > 1).then(|| (e.seq - 1, e.prev_hash.as_str()));
                let recomputed = ledger::next(last_entry, run, kind, e.version, head);
                if e.seq == 1 && e.prev_hash != chain::GENESIS || recomputed.hash != e.hash {
                    return Err(format!(
                        "run {run}: ledger entry {} ({}) does not follow from the run's events",
                        e.seq, e.kind
                    ));
                }
                let signed = self
                    .manifest
                    .signed
                    .iter()
                    .find(|s| s.seq == e.seq && s.key == fingerprint);
                match signed {
                    None => {
                        return Err(format!(
                            "run {run}: its ledger entry {} ({}) carries no signature of key {fingerprint}",
                            e.seq, e.kind
                        ));
                    }
                    Some(s) if !key.verifies(s.seq, &s.run.to_string(), &s.hash, &s.signature) => {
                        return Err(format!(
                            "run {run}: the signature of its ledger entry {} is not key {fingerprint}'s",
                            e.seq
                        ));
                    }
                    Some(s) if s.hash != e.hash || s.run.as_str() != e.run => {
                        return Err(format!(
                            "run {run}: its history no longer matches what was signed (ledger entry {}, its {}: signed hash {}, now {})",
                            e.seq, e.kind, s.hash, e.hash
                        ));
                    }
                    Some(_) => held += 1,
                }
            }
        }
        Ok(held)
    }
}

/// Checks an export: every record's hash and link, each run complete from its first
/// event, and the manifest (counts, heads, digest) against the records.
pub fn verify(text: &str) -> Result<Verified, Bad> {
    let format = if text.starts_with("run,seq,") {
        Format::Csv
    } else {
        Format::Jsonl
    };
    let mut digest = Sha256::new();
    // Per run, in file order: how many events, and the last one (each new event is
    // checked against it, so the first bad record is the one named).
    let mut runs: Vec<(u64, StoredEvent)> = Vec::new();
    let mut firsts: Vec<String> = Vec::new();
    let mut manifest: Option<(usize, Manifest)> = None;
    let mut service = ServiceCounts::default();
    let lines: Vec<&str> = text.lines().collect();
    let first = usize::from(format == Format::Csv);
    if format == Format::Csv {
        digest.update(lines[0].as_bytes());
        digest.update(b"\n");
    }
    for (i, raw) in lines.iter().enumerate().skip(first) {
        let line = i + 1;
        if manifest.is_some() {
            return Err(Bad {
                line,
                reason: "a record after the manifest".into(),
            });
        }
        let record = match parse(format, raw).map_err(|reason| Bad { line, reason })? {
            Parsed::Manifest(m) => {
                manifest = Some((line, m));
                continue;
            }
            Parsed::Service(r) => {
                service
                    .count(&r.record)
                    .map_err(|reason| Bad { line, reason })?;
                digest.update(raw.as_bytes());
                digest.update(b"\n");
                continue;
            }
            Parsed::Record(r) => r,
        };
        digest.update(raw.as_bytes());
        digest.update(b"\n");
        let event = record.to_event().map_err(|reason| Bad { line, reason })?;
        let before = match runs.last() {
            Some((_, last)) if last.run == event.run => Some(last),
            _ if runs.iter().any(|(_, last)| last.run == event.run) => {
                return Err(Bad {
                    line,
                    reason: format!("run {} appears twice, apart", event.run),
                });
            }
            _ => None,
        };
        if let Err(ChainBreak { seq, reason }) = chain::verify_next(&event.run, before, &event) {
            return Err(Bad {
                line,
                reason: format!("run {}, event {seq} {reason}", event.run),
            });
        }
        let continues = before.is_some();
        match runs.last_mut() {
            Some((count, last)) if continues => {
                *count += 1;
                *last = event;
            }
            _ => {
                firsts.push(event.hash.clone());
                runs.push((1, event));
            }
        }
    }
    let Some((line, m)) = manifest else {
        return Err(Bad {
            line: lines.len() + 1,
            reason: "the manifest is missing (the file was cut short)".into(),
        });
    };
    let bad = |reason: String| Err(Bad { line, reason });
    if m.format != FORMAT {
        return bad(format!("unknown format `{}`", m.format));
    }
    if m.digest != hex(&digest.finalize()) {
        return bad("the records do not match the manifest's digest (a record was changed, removed, added or moved)".into());
    }
    if m.runs.len() != runs.len() {
        return bad(format!(
            "the manifest lists {} runs, the file holds {}",
            m.runs.len(),
            runs.len()
        ));
    }
    for (head, (count, last)) in m.runs.iter().zip(&runs) {
        if head.run != last.run.as_str() || head.events != *count || head.head != last.hash {
            return bad(format!(
                "run {} does not end where the manifest says (events {}, head {})",
                last.run, head.events, head.head
            ));
        }
    }
    if m.service != service {
        return bad(format!(
            "the manifest counts {:?} service records, the file holds {service:?}",
            m.service
        ));
    }
    let total: u64 = runs.iter().map(|(count, _)| count).sum();
    if m.events != total {
        return bad(format!(
            "the manifest counts {} events, the file holds {total}",
            m.events
        ));
    }
    Ok(Verified {
        runs: runs.len(),
        events: total,
        service,
        chains: runs
            .iter()
            .zip(firsts)
            .map(|((count, last), first)| (last.run.clone(), *count, first, last.hash.clone()))
            .collect(),
        manifest: m,
    })
}

enum Parsed {
    Record(Record),
    Service(ServiceRecord),
    Manifest(Manifest),
}

fn parse(format: Format, raw: &str) -> Result<Parsed, String> {
    match format {
        Format::Jsonl => {
            let value: serde_json::Value =
                serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
            if let Some(m) = value.get("manifest") {
                let m =
                    serde_json::from_value(m.clone()).map_err(|e| format!("bad manifest: {e}"))?;
                return Ok(Parsed::Manifest(m));
            }
            if value.get("record").is_some() {
                return serde_json::from_value(value)
                    .map(Parsed::Service)
                    .map_err(|e| format!("not a service record: {e}"));
            }
            serde_json::from_value(value)
                .map(Parsed::Record)
                .map_err(|e| format!("not an event record: {e}"))
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(raw.as_bytes());
            let row = reader
                .records()
                .next()
                .ok_or("an empty row")?
                .map_err(|e| format!("not CSV: {e}"))?;
            let field = |i: usize| row.get(i).unwrap_or_default().to_owned();
            if row.len() != CSV_HEADER.len() {
                return Err(format!(
                    "{} fields where {} were expected",
                    row.len(),
                    CSV_HEADER.len()
                ));
            }
            if field(0) == "manifest" {
                let value: serde_json::Value =
                    serde_json::from_str(&field(6)).map_err(|e| format!("bad manifest: {e}"))?;
                let m = serde_json::from_value(value["manifest"].clone())
                    .map_err(|e| format!("bad manifest: {e}"))?;
                return Ok(Parsed::Manifest(m));
            }
            let number = |i: usize| {
                field(i)
                    .parse::<i64>()
                    .map_err(|e| format!("{}: {e}", CSV_HEADER[i]))
            };
            if KINDS.contains(&field(0).as_str()) {
                return Ok(Parsed::Service(ServiceRecord {
                    record: field(0),
                    at: field(2),
                    at_ms: number(3)?,
                    actor: field(4),
                    kind: field(5),
                    body: serde_json::from_str(&field(6))
                        .map_err(|e| format!("a service record's body is not JSON: {e}"))?,
                }));
            }
            Ok(Parsed::Record(Record {
                run: field(0),
                seq: u64::try_from(number(1)?).map_err(|e| e.to_string())?,
                at: field(2),
                at_ms: number(3)?,
                actor: drctl_core::Actor::from_stored(&field(4)),
                kind: field(5),
                body: field(6),
                prev_hash: field(7),
                hash: field(8),
            }))
        }
    }
}
