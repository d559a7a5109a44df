//! Memorystore for Redis: fail a Standard-tier instance over to its replica. The call
//! returns a long-running operation (`google.longrunning.Operation`), polled until done.
//!
//! A failover is not repeated blindly: an instance already `FAILING_OVER` (an earlier
//! attempt's failover) is waited for, and a primary no longer in `from_zone` ends the
//! step; `reconcile` answers from the same reads.

use std::time::Duration;

use drctl_connectors::input::{opt_str, str_of};
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use google_cloud_longrunning::model::operation::Result as OpResult;
use google_cloud_redis_v1::client::CloudRedis;
use google_cloud_redis_v1::model::Instance;
use google_cloud_redis_v1::model::failover_instance_request::DataProtectionMode;
use google_cloud_redis_v1::model::instance::{State, Tier};
use serde_json::{Value, json};

use crate::error::{classify, not_found};
use crate::{action, client};

action!(Failover);

/// How long a failover may take by default.
const LONG: Duration = Duration::from_secs(1800);

struct Redis {
    client: CloudRedis,
    name: String,
}

impl Redis {
    async fn new(conn: &crate::config::Conn, input: &Value) -> Result<Self, ActionError> {
        Ok(Self {
            client: client!(CloudRedis, conn, input),
            name: format!(
                "projects/{}/locations/{}/instances/{}",
                str_of(input, "project")?,
                str_of(input, "region")?,
                str_of(input, "instance")?
            ),
        })
    }

    async fn get(&self) -> Result<Option<Instance>, ActionError> {
        match self.client.get_instance().set_name(&self.name).send().await {
            Ok(i) => Ok(Some(i)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(classify(&format!("getInstance of {}", self.name), &e)),
        }
    }

    async fn must(&self) -> Result<Instance, ActionError> {
        let i = self.get().await?.ok_or_else(|| {
            ActionError::Permanent(format!("Memorystore has no instance {}", self.name))
        })?;
        if i.name != self.name {
            return Err(ActionError::Permanent(format!(
                "asked for {}, the answer was for `{}`",
                self.name, i.name
            )));
        }
        Ok(i)
    }

    /// Waits while the instance is failing over (an operation of ours or of an
    /// earlier attempt), and returns it once it is not.
    async fn settled(&self, ctx: &ActionCtx, input: &Value) -> Result<Instance, ActionError> {
        until(
            ctx,
            input,
            LONG,
            &format!("{} ready", self.name),
            || async {
                let i = self.must().await?;
                Ok(if i.state == State::FailingOver {
                    Seen::NotYet(state(&i).to_owned())
                } else {
                    Seen::Ready(i)
                })
            },
        )
        .await
    }
}

fn state(i: &Instance) -> &str {
    i.state.name().unwrap_or("?")
}

fn show(i: &Instance) -> Value {
    json!({
        "name": i.name,
        "state": state(i),
        "tier": i.tier.name(),
        "zone": i.current_location_id,
        "location_id": i.location_id,
        "alternative_location_id": i.alternative_location_id,
        "host": i.host,
        "port": i.port,
    })
}

fn out(i: &Instance, extra: Value) -> Value {
    let mut o = show(i);
    if let (Value::Object(o), Value::Object(extra)) = (&mut o, extra) {
        o.extend(extra);
    }
    o
}

/// `from_zone` must be one of the instance's zones: another is a typo, not a failover
/// already done.
fn zone_of(i: &Instance, from: Option<&str>) -> Result<(), ActionError> {
    match from {
        Some(z)
            if z != i.location_id
                && z != i.alternative_location_id
                && z != i.current_location_id =>
        {
            Err(ActionError::Permanent(format!(
                "from_zone {z} is not a zone of {} (its zones: {}, {})",
                i.name, i.location_id, i.alternative_location_id
            )))
        }
        _ => Ok(()),
    }
}

fn moved(i: &Instance, from: Option<&str>) -> Option<bool> {
    from.map(|z| i.current_location_id != z)
}

impl Failover {
    async fn run_(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let redis = Redis::new(&self.conn, input).await?;
        let from = opt_str(input, "from_zone");
        let before = redis.must().await?;
        zone_of(&before, from)?;
        if before.state == State::FailingOver {
            let after = redis.settled(ctx, input).await?;
            return Ok(out(
                &after,
                json!({ "failed_over": true, "resumed": true, "previous_zone": before.current_location_id }),
            ));
        }
        if moved(&before, from) == Some(true) {
            return Ok(out(
                &before,
                json!({ "failed_over": false, "already_away_from": from }),
            ));
        }
        let mode = match opt_str(input, "data_protection_mode") {
            Some("FORCE_DATA_LOSS") => DataProtectionMode::ForceDataLoss,
            _ => DataProtectionMode::LimitedDataLoss,
        };
        let op = redis
            .client
            .failover_instance()
            .set_name(&redis.name)
            .set_data_protection_mode(mode)
            .send()
            .await
            .map_err(|e| classify(&format!("failover of {}", redis.name), &e))?;
        if !wants_wait(input, true) {
            return Ok(out(
                &before,
                json!({ "failed_over": true, "operation": op.name, "done": op.done }),
            ));
        }
        let what = format!("Memorystore operation {}", op.name);
        let done = if op.done {
            op
        } else {
            until(ctx, input, LONG, &what, || async {
                let o = redis
                    .client
                    .get_operation()
                    .set_name(&op.name)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("getOperation of {}", op.name), &e))?;
                Ok(if o.done {
                    Seen::Ready(o)
                } else {
                    Seen::NotYet("not done".to_owned())
                })
            })
            .await?
        };
        if let Some(OpResult::Error(status)) = &done.result {
            return Err(ActionError::Permanent(format!(
                "{what} failed: code {}: {}",
                status.code, status.message
            )));
        }
        let after = redis.must().await?;
        if moved(&after, from) == Some(false) {
            return Err(ActionError::Retryable(format!(
                "{what} is done, but the primary still serves from {}",
                after.current_location_id
            )));
        }
        Ok(out(
            &after,
            json!({
                "failed_over": true, "resumed": false,
                "previous_zone": before.current_location_id, "operation": done.name,
            }),
        ))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let redis = Redis::new(&self.conn, input).await?;
        let Some(i) = redis.get().await? else {
            return Ok(Preview::new(
                Outlook::WouldFail,
                format!("no Memorystore instance {}", redis.name),
                Value::Null,
            ));
        };
        let from = opt_str(input, "from_zone");
        if let Err(ActionError::Permanent(m)) = zone_of(&i, from) {
            return Ok(Preview::new(Outlook::WouldFail, m, show(&i)));
        }
        Ok(if i.tier != Tier::StandardHa {
            Preview::new(
                Outlook::WouldFail,
                format!("{} is not Standard tier: it has no replica", redis.name),
                show(&i),
            )
        } else if moved(&i, from) == Some(true) {
            Preview::new(
                Outlook::NoChange,
                format!(
                    "{} already serves from {}, not {}",
                    redis.name,
                    i.current_location_id,
                    from.unwrap_or("?")
                ),
                show(&i),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "fail {} over from {} ({})",
                    redis.name,
                    i.current_location_id,
                    state(&i)
                ),
                show(&i),
            )
        })
    }

    async fn reconcile_(&self, ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let redis = Redis::new(&self.conn, input).await?;
        let before = redis.must().await?;
        zone_of(&before, opt_str(input, "from_zone"))?;
        if before.state == State::FailingOver {
            let after = redis.settled(ctx, input).await?;
            return Ok(Observed::Done(out(&after, json!({ "failed_over": true }))));
        }
        Ok(match moved(&before, opt_str(input, "from_zone")) {
            Some(true) => Observed::Done(out(&before, json!({ "failed_over": true }))),
            Some(false) => Observed::NotDone,
            None => Observed::Unknown(format!(
                "{} serves from {} and is not failing over; without `from_zone` whether \
                 the interrupted call failed it over cannot be told",
                redis.name, before.current_location_id
            )),
        })
    }
}
