//! Cloud DNS: replace record sets, optionally only if they hold the values the step
//! expects, and wait until the change is `done`.
//!
//! A change is sent as one `changes.create` whose deletions are the record sets exactly
//! as they were read and whose additions are the new ones: Cloud DNS refuses a deletion
//! that does not match what it holds (412), so a record changed by someone else between
//! the read and the write is never overwritten (retryable: the next attempt reads again
//! and checks `expect` again). Record sets that already hold the new values are left
//! alone, so a repeated step changes nothing.

use std::time::Duration;

use drctl_connectors::input::str_of;
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use google_cloud_dns_v1::client::{Changes, ResourceRecordSets};
use google_cloud_dns_v1::model::change::Status;
use google_cloud_dns_v1::model::{Change, ResourceRecordSet};
use serde_json::{Value, json};

use crate::error::{classify, classify_write, not_found};
use crate::{action, client};

action!(ChangeRecords);

/// How long a change may take to be done by default.
const LONG: Duration = Duration::from_secs(600);

/// One record set the step asks for.
struct Want {
    name: String,
    kind: String,
    ttl: i32,
    rrdatas: Vec<String>,
    /// The values it must hold now (empty: it must not exist), when the step says.
    expect: Option<Vec<String>>,
}

/// The step's record sets, checked as Cloud DNS would check them, before any call.
fn wants(input: &Value) -> Result<Vec<Want>, ActionError> {
    let wants = parse(input)?;
    let mut seen = std::collections::HashSet::new();
    for w in &wants {
        if !w.name.ends_with('.') {
            return Err(ActionError::Permanent(format!(
                "record name `{}` must be fully qualified, ending in a dot",
                w.name
            )));
        }
        if w.rrdatas.is_empty() {
            return Err(ActionError::Permanent(format!(
                "{} {}: `rrdatas` is empty",
                w.name, w.kind
            )));
        }
        if !seen.insert((w.name.clone(), w.kind.clone())) {
            return Err(ActionError::Permanent(format!(
                "{} {} is named twice in one change",
                w.name, w.kind
            )));
        }
    }
    Ok(wants)
}

fn parse(input: &Value) -> Result<Vec<Want>, ActionError> {
    let list = input
        .get("changes")
        .and_then(Value::as_array)
        .ok_or_else(|| ActionError::Permanent("`changes` must be a list".into()))?;
    let strings = |v: &Value, k: &str| -> Option<Vec<String>> {
        v.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    list.iter()
        .map(|c| {
            Ok(Want {
                name: str_of(c, "name")?.to_owned(),
                kind: str_of(c, "type")?.to_owned(),
                ttl: c
                    .get("ttl")
                    .and_then(Value::as_i64)
                    .and_then(|t| i32::try_from(t).ok())
                    .unwrap_or(60),
                rrdatas: strings(c, "rrdatas").unwrap_or_default(),
                expect: strings(c, "expect"),
            })
        })
        .collect()
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

struct Zone {
    records: ResourceRecordSets,
    changes: Changes,
    project: String,
    zone: String,
}

/// What one wanted record set needs.
enum Need {
    /// It holds the new values already.
    Nothing,
    /// Replace what is there (if anything) with the new values.
    Replace(Option<Box<ResourceRecordSet>>),
    /// The step's precondition does not hold: what is there instead.
    Refused(Vec<String>),
}

impl Zone {
    async fn new(conn: &crate::config::Conn, input: &Value) -> Result<Self, ActionError> {
        Ok(Self {
            records: client!(ResourceRecordSets, conn, input),
            changes: client!(Changes, conn, input),
            project: str_of(input, "project")?.to_owned(),
            zone: str_of(input, "managed_zone")?.to_owned(),
        })
    }

    async fn current(&self, w: &Want) -> Result<Option<ResourceRecordSet>, ActionError> {
        match self
            .records
            .get()
            .set_project(&self.project)
            .set_managed_zone(&self.zone)
            .set_name(&w.name)
            .set_type(&w.kind)
            .send()
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(classify(
                &format!("resourceRecordSets.get of {} {}", w.name, w.kind),
                &e,
            )),
        }
    }

    /// The zone's latest change, if it is still pending.
    async fn latest_pending(&self) -> Result<Option<String>, ActionError> {
        let list = self
            .changes
            .list()
            .set_project(&self.project)
            .set_managed_zone(&self.zone)
            .set_sort_by("changeSequence")
            .set_sort_order("descending")
            .set_max_results(1)
            .send()
            .await
            .map_err(|e| classify(&format!("changes.list of {}", self.zone), &e))?;
        Ok(list
            .changes
            .into_iter()
            .next()
            .filter(|c| c.status != Some(Status::Done))
            .and_then(|c| c.id))
    }

    async fn wait_done(
        &self,
        ctx: &ActionCtx,
        input: &Value,
        id: &str,
    ) -> Result<Option<Status>, ActionError> {
        until(
            ctx,
            input,
            LONG,
            &format!("Cloud DNS change {id} done"),
            || async {
                let c = self
                    .changes
                    .get()
                    .set_project(&self.project)
                    .set_managed_zone(&self.zone)
                    .set_change_id(id)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("changes.get of {id}"), &e))?;
                Ok(if c.status == Some(Status::Done) {
                    Seen::Ready(c.status)
                } else {
                    Seen::NotYet(
                        c.status
                            .as_ref()
                            .and_then(|s| s.name())
                            .unwrap_or("?")
                            .to_owned(),
                    )
                })
            },
        )
        .await
    }

    async fn need(&self, w: &Want) -> Result<Need, ActionError> {
        let now = self.current(w).await?;
        let values = now.as_ref().map(|r| sorted(&r.rrdatas)).unwrap_or_default();
        let ttl = now.as_ref().and_then(|r| r.ttl);
        if now.is_some() && values == sorted(&w.rrdatas) && ttl == Some(w.ttl) {
            return Ok(Need::Nothing);
        }
        match &w.expect {
            Some(expect) if sorted(expect) != values => Ok(Need::Refused(values)),
            _ => Ok(Need::Replace(now.map(Box::new))),
        }
    }
}

fn show(w: &Want) -> Value {
    json!({ "name": w.name, "type": w.kind, "ttl": w.ttl, "rrdatas": w.rrdatas })
}

impl ChangeRecords {
    async fn run_(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let zone = Zone::new(&self.conn, input).await?;
        let wants = wants(input)?;
        let mut change = Change::new().set_kind("dns#change");
        let mut unchanged = Vec::new();
        for w in &wants {
            match zone.need(w).await? {
                Need::Nothing => unchanged.push(w.name.clone()),
                Need::Refused(now) => {
                    return Err(ActionError::Permanent(format!(
                        "{} {} holds {now:?}, not the expected {:?}: nothing was changed",
                        w.name,
                        w.kind,
                        w.expect.as_deref().unwrap_or_default()
                    )));
                }
                Need::Replace(old) => {
                    change.deletions.extend(old.map(|o| *o));
                    change.additions.push(
                        ResourceRecordSet::new()
                            .set_kind("dns#resourceRecordSet")
                            .set_name(&w.name)
                            .set_type(&w.kind)
                            .set_ttl(w.ttl)
                            .set_rrdatas(w.rrdatas.clone()),
                    );
                }
            }
        }
        let records: Vec<Value> = wants.iter().map(show).collect();
        if change.additions.is_empty() {
            // The records hold already, maybe by an earlier attempt whose answer was
            // lost: the step still waits until the zone's latest change is done.
            let pending = zone.latest_pending().await?;
            if let Some(id) = &pending
                && wants_wait(input, true)
            {
                zone.wait_done(ctx, input, id).await?;
            }
            return Ok(json!({
                "changed": false, "records": records, "unchanged": unchanged,
                "waited_for_change": pending,
            }));
        }
        let made = zone
            .changes
            .create()
            .set_project(&zone.project)
            .set_managed_zone(&zone.zone)
            .set_body(change)
            .send()
            .await
            .map_err(|e| classify_write(&format!("changes.create in {}", zone.zone), &e))?;
        let id = made.id.clone().unwrap_or_default();
        let status = if made.status == Some(Status::Done) || !wants_wait(input, true) {
            made.status
        } else {
            zone.wait_done(ctx, input, &id).await?
        };
        Ok(json!({
            "changed": true,
            "change_id": id,
            "status": status.as_ref().and_then(|s| s.name()),
            "records": records,
            "unchanged": unchanged,
        }))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let zone = Zone::new(&self.conn, input).await?;
        let mut lines = Vec::new();
        let mut outlook = Outlook::NoChange;
        for w in wants(input)? {
            match zone.need(&w).await? {
                Need::Nothing => {}
                Need::Refused(now) => {
                    outlook = Outlook::WouldFail;
                    lines.push(format!(
                        "{} {} holds {now:?}, not the expected {:?}",
                        w.name,
                        w.kind,
                        w.expect.as_deref().unwrap_or_default()
                    ));
                }
                Need::Replace(old) => {
                    if outlook == Outlook::NoChange {
                        outlook = Outlook::Change;
                    }
                    lines.push(format!(
                        "{} {}: {:?} -> {:?}",
                        w.name,
                        w.kind,
                        old.map(|r| r.rrdatas).unwrap_or_default(),
                        w.rrdatas
                    ));
                }
            }
        }
        let summary = if lines.is_empty() {
            format!("{}: the records already hold these values", zone.zone)
        } else {
            lines.join("; ")
        };
        Ok(Preview::new(outlook, summary, Value::Null))
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let zone = Zone::new(&self.conn, input).await?;
        let wants = wants(input)?;
        for w in &wants {
            if !matches!(zone.need(w).await?, Need::Nothing) {
                return Ok(Observed::NotDone);
            }
        }
        Ok(Observed::Done(json!({
            "changed": true,
            "records": wants.iter().map(show).collect::<Vec<_>>(),
        })))
    }
}
