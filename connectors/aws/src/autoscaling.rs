//! Auto Scaling: set a group's desired capacity, e.g. to scale the standby region up
//! before traffic moves there, and optionally wait until the instances are in service.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use drctl_connectors::input::str_of;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use serde_json::{Value, json};

use crate::error::classify;
use drctl_connectors::wait::{Seen, until, wants_wait};

crate::action!(SetDesiredCapacity);

async fn group(client: &Client, name: &str) -> Result<AutoScalingGroup, ActionError> {
    let out = client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| classify(&format!("DescribeAutoScalingGroups of {name}"), &e))?;
    out.auto_scaling_groups()
        .first()
        .cloned()
        .ok_or_else(|| ActionError::Permanent(format!("no Auto Scaling group `{name}`")))
}

fn in_service(g: &AutoScalingGroup) -> usize {
    g.instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count()
}

fn show(g: &AutoScalingGroup) -> Value {
    json!({
        "auto_scaling_group_name": g.auto_scaling_group_name(),
        "desired_capacity": g.desired_capacity(),
        "min_size": g.min_size(),
        "max_size": g.max_size(),
        "in_service": in_service(g),
        "instances": g.instances().len(),
    })
}

fn wanted(input: &Value) -> Result<i32, ActionError> {
    input
        .get("desired_capacity")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| ActionError::Permanent("`desired_capacity` must be a number".into()))
}

/// AWS refuses a capacity outside the group's bounds; saying so here names them.
fn within(g: &AutoScalingGroup, n: i32) -> Result<(), String> {
    let (min, max) = (g.min_size().unwrap_or(0), g.max_size().unwrap_or(i32::MAX));
    if n < min || n > max {
        Err(format!(
            "{} allows {min} to {max} instances, not {n}",
            g.auto_scaling_group_name().unwrap_or("the group")
        ))
    } else {
        Ok(())
    }
}

#[async_trait]
impl Action for SetDesiredCapacity {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let name = str_of(&input, "auto_scaling_group_name")?;
        let n = wanted(&input)?;
        let before = group(&client, name).await?;
        within(&before, n).map_err(ActionError::Permanent)?;
        client
            .set_desired_capacity()
            .auto_scaling_group_name(name)
            .desired_capacity(n)
            .honor_cooldown(
                input
                    .get("honor_cooldown")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
            .send()
            .await
            .map_err(|e| classify(&format!("SetDesiredCapacity of {name}"), &e))?;
        let after = if wants_wait(&input, false) {
            until(
                ctx,
                &input,
                Duration::from_secs(900),
                &format!("{n} instances in service"),
                || async {
                    let g = group(&client, name).await?;
                    let up = in_service(&g);
                    Ok(if i32::try_from(up).unwrap_or(i32::MAX) >= n {
                        Seen::Ready(g)
                    } else {
                        Seen::NotYet(format!("{up} of {n} in service"))
                    })
                },
            )
            .await?
        } else {
            group(&client, name).await?
        };
        let mut out = show(&after);
        out["previous_desired_capacity"] = json!(before.desired_capacity());
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let name = str_of(&input, "auto_scaling_group_name")?;
        let n = wanted(&input)?;
        let g = group(&client, name).await?;
        let now = g.desired_capacity().unwrap_or(0);
        Ok(Some(match within(&g, n) {
            Err(why) => Preview::new(Outlook::WouldFail, why, show(&g)),
            Ok(()) if now == n => Preview::new(
                Outlook::NoChange,
                format!("{name} already wants {n} ({} in service)", in_service(&g)),
                show(&g),
            ),
            Ok(()) => Preview::new(
                Outlook::Change,
                format!("{name} desired capacity {now} -> {n}"),
                show(&g),
            ),
        }))
    }
}
