//! `dns.powerdns.set_records`: `PATCH /api/v1/servers/{server}/zones/{zone}` with one
//! `REPLACE` per record set, then the zone read back.
//!
//! The API key travels in `X-API-Key` and never in a message. Refusals are sorted as the
//! API documents them: 401/403 (key), 404 (no such zone) and 422 (a record PowerDNS
//! rejects, with its reason) are permanent; 5xx and the network are retryable.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use serde_json::{Value, json};

use crate::core::http::{Client, exchange, short, status_error};
use crate::input::{opt_str, str_of, strings};

const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct SetRecords {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

/// One record set as the step asks for it.
struct Wanted {
    name: String,
    kind: String,
    ttl: u64,
    content: Vec<String>,
}

/// A name as PowerDNS stores it: absolute, with its trailing dot.
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

fn wanted(input: &Value) -> Result<Vec<Wanted>, ActionError> {
    let sets = input["records"]
        .as_array()
        .ok_or_else(|| ActionError::Permanent("`records` must be a list".into()))?;
    sets.iter()
        .map(|r| {
            let mut content = strings(r, "content")?;
            content.sort();
            Ok(Wanted {
                name: absolute(str_of(r, "name")?),
                kind: str_of(r, "type")?.to_owned(),
                ttl: r.get("ttl").and_then(Value::as_u64).unwrap_or(60),
                content,
            })
        })
        .collect()
}

struct Zone<'a> {
    url: String,
    key: &'a str,
    name: String,
}

fn zone(input: &Value) -> Result<Zone<'_>, ActionError> {
    let api = str_of(input, "api_url")?.trim_end_matches('/');
    let server = opt_str(input, "server_id").unwrap_or("localhost");
    let name = absolute(str_of(input, "zone")?);
    Ok(Zone {
        url: format!("{api}/api/v1/servers/{server}/zones/{name}"),
        key: str_of(input, "api_key")?,
        name,
    })
}

/// A refusal, with what PowerDNS said (its `error` field) and what it means.
fn refused(zone: &Zone<'_>, what: &str, status: u16, body: &Value) -> ActionError {
    let said = body["error"]
        .as_str()
        .map_or_else(|| short(body), str::to_owned);
    let meaning = match status {
        401 | 403 => "the API key was refused",
        404 => "no such zone or server",
        422 => "PowerDNS rejected the change",
        _ => "unexpected answer",
    };
    status_error(
        status,
        format!(
            "PowerDNS {what} of zone {}: HTTP {status}, {meaning}: {said}",
            zone.name
        ),
    )
}

impl SetRecords {
    /// The zone's record sets now, as (name, type) -> (ttl, sorted contents).
    async fn read(&self, ctx: &ActionCtx, zone: &Zone<'_>) -> Result<Vec<Value>, ActionError> {
        let request = self
            .client
            .get()?
            .get(&zone.url)
            .header("X-API-Key", zone.key)
            .timeout(TIMEOUT);
        let (status, body) = exchange(ctx, request).await?;
        if status != 200 {
            return Err(refused(zone, "read", status, &body));
        }
        Ok(body["rrsets"].as_array().cloned().unwrap_or_default())
    }
}

/// The set named like `w` among `sets`: its TTL and sorted contents (enabled records).
fn current(sets: &[Value], w: &Wanted) -> Option<(u64, Vec<String>)> {
    let set = sets
        .iter()
        .find(|s| s["name"].as_str() == Some(&w.name) && s["type"].as_str() == Some(&w.kind))?;
    let mut content: Vec<String> = set["records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|r| r["disabled"] != true)
        .filter_map(|r| r["content"].as_str().map(str::to_owned))
        .collect();
    content.sort();
    Some((set["ttl"].as_u64().unwrap_or(0), content))
}

#[async_trait]
impl Action for SetRecords {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let zone = zone(&input)?;
        let wanted = wanted(&input)?;
        let before = self.read(ctx, &zone).await?;
        let rrsets: Vec<Value> = wanted
            .iter()
            .map(|w| {
                json!({
                    "name": w.name, "type": w.kind, "ttl": w.ttl, "changetype": "REPLACE",
                    "records": w.content.iter()
                        .map(|c| json!({ "content": c, "disabled": false }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let request = self
            .client
            .get()?
            .patch(&zone.url)
            .header("X-API-Key", zone.key)
            .json(&json!({ "rrsets": rrsets }))
            .timeout(TIMEOUT);
        let (status, body) = exchange(ctx, request).await?;
        if status != 204 && status != 200 {
            return Err(refused(&zone, "change", status, &body));
        }
        let after = self.read(ctx, &zone).await?;
        let sets: Vec<Value> = wanted
            .iter()
            .map(|w| {
                let now = current(&after, w);
                json!({
                    "name": w.name,
                    "type": w.kind,
                    "content": now.as_ref().map(|(_, c)| c.clone()),
                    "ttl": now.map(|(t, _)| t),
                    "previous": current(&before, w).map(|(_, c)| c),
                })
            })
            .collect();
        if let Some(w) = wanted
            .iter()
            .find(|w| current(&after, w).map(|(_, c)| c) != Some(w.content.clone()))
        {
            return Err(ActionError::Retryable(format!(
                "PowerDNS accepted the change of {} {} but does not hold it when read back",
                w.name, w.kind
            )));
        }
        Ok(json!({ "zone": zone.name, "records": sets }))
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let zone = zone(&input)?;
        let now = self.read(ctx, &zone).await?;
        let mut changes = false;
        let mut parts = Vec::new();
        let mut observed = Vec::new();
        for w in wanted(&input)? {
            let (ttl, content) = current(&now, &w).unwrap_or((0, Vec::new()));
            let show = |c: &[String]| {
                if c.is_empty() {
                    "(none)".to_owned()
                } else {
                    c.join(" ")
                }
            };
            changes |= content != w.content || ttl != w.ttl;
            parts.push(format!(
                "{} {} {} -> {}",
                w.name,
                w.kind,
                show(&content),
                show(&w.content)
            ));
            observed
                .push(json!({ "name": w.name, "type": w.kind, "content": content, "ttl": ttl }));
        }
        Ok(Some(Preview::new(
            Outlook::of_change(changes),
            parts.join(", "),
            Value::Array(observed),
        )))
    }
}
