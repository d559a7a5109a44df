//! `redis.role`: what one server says it is (ROLE).

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Preview};
use serde_json::{Value, json};

use super::conn::{Conn, connect, int, items, text};
use super::preview;
use crate::input::{opt_str, str_of};

pub(crate) struct Role {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Role {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::role(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let mut conn =
            connect(ctx, str_of(&input, "address")?, opt_str(&input, "password")).await?;
        role(ctx, &mut conn).await
    }
}

/// ROLE, as `{role: master|replica|sentinel, ...}`.
pub(crate) async fn role(ctx: &ActionCtx, conn: &mut Conn) -> Result<Value, ActionError> {
    let reply = conn.call(ctx, &["ROLE"]).await?;
    let parts = items(&reply);
    let kind = parts.first().and_then(text).unwrap_or_default();
    let at = |i: usize| parts.get(i);
    Ok(match kind.as_str() {
        "master" => {
            let replicas: Vec<Value> = at(2)
                .map(items)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let r = items(r);
                    json!({
                        "address": format!(
                            "{}:{}",
                            r.first().and_then(text).unwrap_or_default(),
                            r.get(1).and_then(text).unwrap_or_default()
                        ),
                        "offset": r.get(2).and_then(int),
                    })
                })
                .collect();
            json!({
                "address": conn.addr,
                "role": "master",
                "offset": at(1).and_then(int),
                "replicas": replicas,
            })
        }
        "slave" | "replica" => json!({
            "address": conn.addr,
            "role": "replica",
            "master": format!(
                "{}:{}",
                at(1).and_then(text).unwrap_or_default(),
                at(2).and_then(text).unwrap_or_default()
            ),
            "link": at(3).and_then(text),
            "offset": at(4).and_then(int),
        }),
        "sentinel" => json!({ "address": conn.addr, "role": "sentinel" }),
        other => {
            return Err(ActionError::Permanent(format!(
                "{}: ROLE answered `{other}`, which drctl does not know",
                conn.addr
            )));
        }
    })
}
