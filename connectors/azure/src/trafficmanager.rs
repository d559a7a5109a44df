//! Traffic Manager: an endpoint's status, weight or priority (API version 2022-04-01).
//! A PATCH of the endpoint's properties, then a read-back.

use std::sync::Arc;

use drctl_connectors::input::opt_str;
use drctl_core::{ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::arm::{Arm, name};
use crate::auth::Auth;

pub(crate) struct SetEndpoint(pub(crate) ActionSpec, pub(crate) Arc<Auth>);

const API: &str = "2022-04-01";

struct Target {
    arm: Arm,
    url: String,
    label: String,
    /// The properties wanted, by their ARM names.
    want: Map<String, Value>,
}

impl Target {
    async fn new(auth: &Auth, input: &Value) -> Result<Self, ActionError> {
        let arm = Arm::new(auth, input).await?;
        let profile = name(input, "profile")?;
        let endpoint = name(input, "endpoint_name")?;
        let kind = opt_str(input, "endpoint_type").unwrap_or("AzureEndpoints");
        let url = arm.url(
            &format!("Microsoft.Network/trafficmanagerprofiles/{profile}/{kind}/{endpoint}"),
            API,
        );
        let mut want = Map::new();
        if let Some(s) = opt_str(input, "status") {
            want.insert("endpointStatus".into(), json!(s));
        }
        for (ours, theirs) in [("weight", "weight"), ("priority", "priority")] {
            if let Some(n) = input.get(ours).and_then(Value::as_i64) {
                want.insert(theirs.into(), json!(n));
            }
        }
        Ok(Self {
            arm,
            url,
            label: format!("Traffic Manager endpoint {profile}/{endpoint}"),
            want,
        })
    }

    async fn read(&self) -> Result<Value, ActionError> {
        self.arm
            .get(&self.url, &format!("get of {}", self.label))
            .await?
            .ok_or_else(|| ActionError::Permanent(format!("Azure has no {}", self.label)))
    }

    /// The wanted properties that differ now: (name, now, wanted).
    fn differing(&self, now: &Value) -> Vec<(String, Value, Value)> {
        self.want
            .iter()
            .filter(|(k, v)| &now["properties"][k.as_str()] != *v)
            .map(|(k, v)| (k.clone(), now["properties"][k.as_str()].clone(), v.clone()))
            .collect()
    }
}

fn show(now: &Value) -> Value {
    let p = &now["properties"];
    json!({
        "endpoint": now["name"],
        "status": p["endpointStatus"],
        "monitor_status": p["endpointMonitorStatus"],
        "weight": p["weight"],
        "priority": p["priority"],
        "target": p["target"],
    })
}

#[async_trait::async_trait]
impl drctl_core::Action for SetEndpoint {
    fn spec(&self) -> &ActionSpec {
        &self.0
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let t = Target::new(&self.1, &input).await?;
        let before = t.read().await?;
        let change = t.differing(&before);
        if change.is_empty() {
            let mut out = show(&before);
            out["changed"] = json!(false);
            return Ok(out);
        }
        let body = json!({ "properties": Value::Object(t.want.clone()) });
        t.arm
            .send(
                Method::PATCH,
                &t.url,
                Some(&body),
                &format!("update of {}", t.label),
            )
            .await?;
        let after = t.read().await?;
        if let Some((k, now, want)) = t.differing(&after).first() {
            return Err(ActionError::Retryable(format!(
                "{}: read back after the update, {k} is {now}, not {want}",
                t.label
            )));
        }
        let mut out = show(&after);
        out["changed"] = json!(true);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let t = Target::new(&self.1, &input).await?;
        let now = match t.read().await {
            Ok(n) => n,
            Err(ActionError::Permanent(m)) => {
                return Ok(Some(Preview::new(Outlook::WouldFail, m, Value::Null)));
            }
            Err(e) => return Err(e),
        };
        let change = t.differing(&now);
        Ok(Some(if change.is_empty() {
            Preview::new(
                Outlook::NoChange,
                format!("{} has these values already", t.label),
                show(&now),
            )
        } else {
            let said: Vec<String> = change
                .iter()
                .map(|(k, now, want)| format!("{k} {now} -> {want}"))
                .collect();
            Preview::new(
                Outlook::Change,
                format!("{}: {}", t.label, said.join(", ")),
                show(&now),
            )
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let t = Target::new(&self.1, &input).await?;
        let now = t.read().await?;
        Ok(if t.differing(&now).is_empty() {
            Observed::Done(show(&now))
        } else {
            Observed::NotDone
        })
    }
}
