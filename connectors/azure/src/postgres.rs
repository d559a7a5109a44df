//! Azure Database for PostgreSQL flexible server: promote a read replica to a
//! standalone server (API version 2024-08-01: a PATCH of `properties.replica` with
//! `promoteMode: standalone`), a long-running operation followed to its end.
//!
//! Never asked twice: the step reads the server first. A server that is no longer a
//! replica is done; one `Updating` (a promotion an earlier attempt started) is waited
//! for; `reconcile` answers from the same reads.

use std::sync::Arc;
use std::time::Duration;

use drctl_connectors::input::opt_str;
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use reqwest::Method;
use serde_json::{Value, json};

use crate::arm::{Arm, name};
use crate::auth::Auth;

pub(crate) struct PromoteReplica(pub(crate) ActionSpec, pub(crate) Arc<Auth>);

const API: &str = "2024-08-01";
const LONG: Duration = Duration::from_secs(3600);

struct Server {
    arm: Arm,
    url: String,
    label: String,
}

impl Server {
    async fn new(auth: &Auth, input: &Value) -> Result<Self, ActionError> {
        let arm = Arm::new(auth, input).await?;
        let server = name(input, "server")?;
        let url = arm.url(
            &format!("Microsoft.DBforPostgreSQL/flexibleServers/{server}"),
            API,
        );
        Ok(Self {
            arm,
            url,
            label: format!("PostgreSQL flexible server {server}"),
        })
    }

    async fn read(&self) -> Result<Value, ActionError> {
        self.arm
            .get(&self.url, &format!("get of {}", self.label))
            .await?
            .ok_or_else(|| ActionError::Permanent(format!("Azure has no {}", self.label)))
    }

    /// Waits while the server is updating; it as it is then.
    async fn settled(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        until(
            ctx,
            input,
            LONG,
            &format!("{} settled", self.label),
            || async {
                let s = self.read().await?;
                Ok(if state(&s) == "Updating" {
                    Seen::NotYet("Updating".into())
                } else {
                    Seen::Ready(s)
                })
            },
        )
        .await
    }
}

fn state(s: &Value) -> &str {
    s["properties"]["state"].as_str().unwrap_or("?")
}

fn role(s: &Value) -> &str {
    s["properties"]["replica"]["role"]
        .as_str()
        .or_else(|| s["properties"]["replicationRole"].as_str())
        .unwrap_or("None")
}

fn is_replica(s: &Value) -> bool {
    matches!(role(s), "AsyncReplica" | "GeoAsyncReplica")
}

fn show(s: &Value) -> Value {
    json!({
        "server": s["name"],
        "state": state(s),
        "role": role(s),
        "replica_of": s["properties"]["sourceServerResourceId"],
        "location": s["location"],
    })
}

#[async_trait::async_trait]
impl drctl_core::Action for PromoteReplica {
    fn spec(&self) -> &ActionSpec {
        &self.0
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let server = Server::new(&self.1, &input).await?;
        let first = server.read().await?;
        let resumed = state(&first) == "Updating";
        let before = if resumed {
            server.settled(ctx, &input).await?
        } else {
            first
        };
        if !is_replica(&before) {
            let mut out = show(&before);
            out["promoted"] = json!(resumed);
            out["already_standalone"] = json!(!resumed);
            return Ok(out);
        }
        let option = opt_str(&input, "promote_option").unwrap_or("planned");
        let body = json!({ "properties": { "replica": {
            "promoteMode": "standalone", "promoteOption": option } } });
        let what = format!("promotion of {}", server.label);
        let answer = server
            .arm
            .send(Method::PATCH, &server.url, Some(&body), &what)
            .await?;
        if !wants_wait(&input, true) {
            let mut out = show(&before);
            out["promoted"] = json!(true);
            return Ok(out);
        }
        server.arm.follow(ctx, &input, &answer, LONG, &what).await?;
        let after = server.settled(ctx, &input).await?;
        if is_replica(&after) {
            return Err(ActionError::Retryable(format!(
                "{what} ended, but the server still reads as {}",
                role(&after)
            )));
        }
        let mut out = show(&after);
        out["promoted"] = json!(true);
        out["already_standalone"] = json!(false);
        out["was_replica_of"] = before["properties"]["sourceServerResourceId"].clone();
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let server = Server::new(&self.1, &input).await?;
        Ok(Some(match server.read().await {
            Ok(s) if is_replica(&s) => Preview::new(
                Outlook::Change,
                format!("promote {} ({}, {})", server.label, role(&s), state(&s)),
                show(&s),
            ),
            Ok(s) => Preview::new(
                Outlook::NoChange,
                format!("{} is standalone already ({})", server.label, role(&s)),
                show(&s),
            ),
            Err(ActionError::Permanent(m)) => Preview::new(Outlook::WouldFail, m, Value::Null),
            Err(e) => return Err(e),
        }))
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let server = Server::new(&self.1, &input).await?;
        let now = server.settled(ctx, &input).await?;
        Ok(if is_replica(&now) {
            Observed::NotDone
        } else {
            let mut out = show(&now);
            out["promoted"] = json!(true);
            Observed::Done(out)
        })
    }
}
