//! Route 53: UPSERT record sets (simple, failover, weighted, alias) and wait until the
//! change is INSYNC; read what the health checkers say about a health check.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use drctl_connectors::input::{opt_str, str_of, strings};
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use serde_json::{Value, json};

use crate::error::classify;
use drctl_connectors::wait::{Seen, until, wants_wait};

crate::action!(ChangeRecords);
crate::action!(HealthCheckStatus);

fn built<T>(
    what: &str,
    r: Result<T, aws_sdk_route53::error::BuildError>,
) -> Result<T, ActionError> {
    r.map_err(|e| ActionError::Permanent(format!("{what}: {e}")))
}

/// A name as Route 53 keeps it: absolute, with its trailing dot.
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// One record set of the step, as the SDK's type.
fn record_set(r: &Value) -> Result<ResourceRecordSet, ActionError> {
    let name = absolute(str_of(r, "name")?);
    let mut set = ResourceRecordSet::builder()
        .name(&name)
        .r#type(RrType::from(str_of(r, "type")?))
        .set_set_identifier(opt_str(r, "set_identifier").map(str::to_owned))
        .set_health_check_id(opt_str(r, "health_check_id").map(str::to_owned))
        .set_failover(opt_str(r, "failover").map(ResourceRecordSetFailover::from))
        .set_weight(r.get("weight").and_then(Value::as_i64));
    if let Some(alias) = r.get("alias").filter(|a| a.is_object()) {
        set = set.alias_target(built(
            "alias",
            AliasTarget::builder()
                .hosted_zone_id(str_of(alias, "hosted_zone_id")?)
                .dns_name(str_of(alias, "dns_name")?)
                .evaluate_target_health(
                    alias
                        .get("evaluate_target_health")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                )
                .build(),
        )?);
    } else {
        set = set.ttl(r.get("ttl").and_then(Value::as_i64).unwrap_or(60));
        for value in strings(r, "records")? {
            set = set.resource_records(built(
                "record",
                ResourceRecord::builder().value(value).build(),
            )?);
        }
    }
    built(&name, set.build())
}

/// A record set as outputs and previews show it.
fn show(set: &ResourceRecordSet) -> Value {
    let mut records: Vec<&str> = set
        .resource_records()
        .iter()
        .map(ResourceRecord::value)
        .collect();
    records.sort_unstable();
    json!({
        "name": set.name(),
        "type": set.r#type().as_str(),
        "set_identifier": set.set_identifier(),
        "failover": set.failover().map(ResourceRecordSetFailover::as_str),
        "weight": set.weight(),
        "ttl": set.ttl(),
        "records": records,
        "alias": set.alias_target().map(|a| json!({
            "hosted_zone_id": a.hosted_zone_id(),
            "dns_name": a.dns_name(),
            "evaluate_target_health": a.evaluate_target_health(),
        })),
        "health_check_id": set.health_check_id(),
    })
}

/// The same record set: name, type and set identifier.
fn same(a: &ResourceRecordSet, b: &ResourceRecordSet) -> bool {
    a.name().eq_ignore_ascii_case(b.name())
        && a.r#type() == b.r#type()
        && a.set_identifier() == b.set_identifier()
}

fn wanted(input: &Value) -> Result<Vec<ResourceRecordSet>, ActionError> {
    input["changes"]
        .as_array()
        .ok_or_else(|| ActionError::Permanent("`changes` must be a list".into()))?
        .iter()
        .map(record_set)
        .collect()
}

/// The zone's current record set like `w`, if any.
async fn current(
    client: &Client,
    zone: &str,
    w: &ResourceRecordSet,
) -> Result<Option<ResourceRecordSet>, ActionError> {
    let mut request = client
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(w.name())
        .start_record_type(w.r#type().clone());
    if let Some(id) = w.set_identifier() {
        request = request.start_record_identifier(id);
    }
    let out = request
        .send()
        .await
        .map_err(|e| classify(&format!("ListResourceRecordSets of {zone}"), &e))?;
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|s| same(s, w))
        .cloned())
}

#[async_trait]
impl Action for ChangeRecords {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let zone = str_of(&input, "hosted_zone_id")?;
        let sets = wanted(&input)?;
        let mut batch =
            ChangeBatch::builder().set_comment(opt_str(&input, "comment").map(str::to_owned));
        for set in &sets {
            batch = batch.changes(built(
                "change",
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set.clone())
                    .build(),
            )?);
        }
        let out = client
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(built("change batch", batch.build())?)
            .send()
            .await
            .map_err(|e| classify(&format!("ChangeResourceRecordSets of {zone}"), &e))?;
        let info = out
            .change_info()
            .ok_or_else(|| ActionError::Retryable("Route 53 answered without ChangeInfo".into()))?;
        let id = info.id().to_owned();
        let mut status = info.status().as_str().to_owned();
        if wants_wait(&input, true) && *info.status() != ChangeStatus::Insync {
            status = until(ctx, &input, Duration::from_secs(300), "INSYNC", || async {
                let c = client
                    .get_change()
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GetChange {id}"), &e))?;
                Ok(match c.change_info() {
                    Some(i) if *i.status() == ChangeStatus::Insync => {
                        Seen::Ready(i.status().as_str().to_owned())
                    }
                    Some(i) => Seen::NotYet(i.status().as_str().to_owned()),
                    None => Seen::NotYet("no ChangeInfo".into()),
                })
            })
            .await?;
        }
        Ok(json!({
            "hosted_zone_id": zone,
            "change_id": id,
            "status": status,
            "changes": sets.iter().map(show).collect::<Vec<_>>(),
        }))
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let zone = str_of(&input, "hosted_zone_id")?;
        let mut changes = false;
        let mut parts = Vec::new();
        let mut observed = Vec::new();
        for w in wanted(&input)? {
            let now = current(&client, zone, &w).await?;
            let (was, will) = (now.as_ref().map(show), show(&w));
            let label = match w.set_identifier() {
                Some(id) => format!("{} {} [{id}]", w.name(), w.r#type().as_str()),
                None => format!("{} {}", w.name(), w.r#type().as_str()),
            };
            let brief = |v: &Value| -> String {
                let mut text = match v["alias"].as_object() {
                    Some(a) => format!("alias {}", a["dns_name"].as_str().unwrap_or("?")),
                    None => v["records"]
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default(),
                };
                if let Some(weight) = v["weight"].as_i64() {
                    text.push_str(&format!(" weight {weight}"));
                }
                text
            };
            match &was {
                Some(was) if *was == will => parts.push(format!("{label} already {}", brief(was))),
                Some(was) => {
                    changes = true;
                    parts.push(format!("{label} {} -> {}", brief(was), brief(&will)));
                }
                None => {
                    changes = true;
                    parts.push(format!("{label} (none) -> {}", brief(&will)));
                }
            }
            observed.push(was.unwrap_or(Value::Null));
        }
        Ok(Some(Preview::new(
            Outlook::of_change(changes),
            parts.join(", "),
            Value::Array(observed),
        )))
    }
}

/// What the checkers report now: (healthy ones, all of them, the report).
async fn checkers(client: &Client, id: &str) -> Result<(usize, usize, Value), ActionError> {
    let out = client
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| classify(&format!("GetHealthCheckStatus of {id}"), &e))?;
    let observations = out.health_check_observations();
    let healthy = observations
        .iter()
        .filter(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        })
        .count();
    let report: Vec<Value> = observations
        .iter()
        .map(|o| {
            json!({
                "region": o.region().map(|r| r.as_str()),
                "ip_address": o.ip_address(),
                "status": o.status_report().and_then(|r| r.status()),
            })
        })
        .collect();
    Ok((healthy, observations.len(), Value::Array(report)))
}

/// Route 53 counts an endpoint healthy when more than 18% of its checkers say so.
fn verdict(healthy: usize, total: usize) -> &'static str {
    if total > 0 && healthy * 100 > total * 18 {
        "healthy"
    } else {
        "unhealthy"
    }
}

#[async_trait]
impl Action for HealthCheckStatus {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "health_check_id")?.to_owned();
        let expect = opt_str(&input, "expect").map(str::to_owned);
        let read = || async {
            let (healthy, total, report) = checkers(&client, &id).await?;
            let status = verdict(healthy, total);
            let out = json!({
                "health_check_id": id,
                "status": status,
                "healthy_checkers": healthy,
                "checkers": total,
                "observations": report,
            });
            Ok(match &expect {
                Some(e) if e != status => {
                    Seen::NotYet(format!("{status} ({healthy} of {total} checkers)"))
                }
                _ => Seen::Ready(out),
            })
        };
        if wants_wait(&input, false) {
            return until(
                ctx,
                &input,
                Duration::from_secs(600),
                &format!(
                    "health check {id} {}",
                    expect.as_deref().unwrap_or("answering")
                ),
                read,
            )
            .await;
        }
        match read().await? {
            Seen::Ready(out) => Ok(out),
            Seen::NotYet(seen) => Err(ActionError::Retryable(format!(
                "health check {id} is {seen}, not {}",
                expect.as_deref().unwrap_or("?")
            ))),
        }
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "health_check_id")?;
        let (healthy, total, report) = checkers(&client, id).await?;
        Ok(Some(Preview::new(
            Outlook::Reads,
            format!(
                "{id}: {} ({healthy} of {total} checkers)",
                verdict(healthy, total)
            ),
            report,
        )))
    }
}
