//! RDS: promote a read replica, fail a cluster over, restore an instance to a point in
//! time, wait until available.
//!
//! The three calls that change who serves data are not repeated blindly: each first
//! reads the resource, so a call whose effect is already there (a replica already
//! standalone, a cluster already written by the target) does nothing more, and after a
//! crash `reconcile` answers from the same read.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::primitives::{DateTime, DateTimeFormat};
use aws_sdk_rds::types::{DbCluster, DbInstance};
use drctl_connectors::input::{opt_str, str_of};
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use serde_json::{Value, json};

use crate::error::{classify, code};
use drctl_connectors::wait::{Seen, until, wants_wait};

crate::action!(PromoteReadReplica);
crate::action!(FailoverCluster);
crate::action!(RestoreToTime);
crate::action!(WaitAvailable);

/// How long a promotion, failover or restore may take by default.
const LONG: Duration = Duration::from_secs(3600);
/// How long `aws.rds.wait_available` waits by default (its spec says 30m).
const WAIT: Duration = Duration::from_secs(1800);

async fn instance(client: &Client, id: &str) -> Result<Option<DbInstance>, ActionError> {
    match client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e)
            if matches!(
                code(&e),
                Some("DBInstanceNotFound" | "DBInstanceNotFoundFault")
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(classify(&format!("DescribeDBInstances of {id}"), &e)),
    }
}

async fn must_instance(client: &Client, id: &str) -> Result<DbInstance, ActionError> {
    instance(client, id)
        .await?
        .ok_or_else(|| ActionError::Permanent(format!("RDS has no DB instance `{id}`")))
}

async fn cluster(client: &Client, id: &str) -> Result<DbCluster, ActionError> {
    match client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => out
            .db_clusters()
            .first()
            .cloned()
            .ok_or_else(|| ActionError::Permanent(format!("RDS has no DB cluster `{id}`"))),
        Err(e) if code(&e) == Some("DBClusterNotFoundFault") => Err(ActionError::Permanent(
            format!("RDS has no DB cluster `{id}`"),
        )),
        Err(e) => Err(classify(&format!("DescribeDBClusters of {id}"), &e)),
    }
}

fn status(i: &DbInstance) -> &str {
    i.db_instance_status().unwrap_or("unknown")
}

fn source(i: &DbInstance) -> Option<&str> {
    i.read_replica_source_db_instance_identifier()
        .filter(|s| !s.is_empty())
}

fn show_instance(i: &DbInstance) -> Value {
    json!({
        "db_instance_identifier": i.db_instance_identifier(),
        "status": status(i),
        "replica_of": source(i),
        "endpoint": i.endpoint().and_then(|e| e.address()),
        "port": i.endpoint().and_then(|e| e.port()),
        "engine": i.engine(),
        "instance_class": i.db_instance_class(),
    })
}

fn writer(c: &DbCluster) -> Option<&str> {
    c.db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer().unwrap_or(false))
        .and_then(|m| m.db_instance_identifier())
}

fn show_cluster(c: &DbCluster) -> Value {
    json!({
        "db_cluster_identifier": c.db_cluster_identifier(),
        "status": c.status(),
        "writer": writer(c),
        "readers": c.db_cluster_members().iter()
            .filter(|m| !m.is_cluster_writer().unwrap_or(false))
            .filter_map(|m| m.db_instance_identifier())
            .collect::<Vec<_>>(),
        "endpoint": c.endpoint(),
    })
}

/// Waits until the instance is available, and `also` holds of it; `default` is the
/// timeout when the step gives none.
async fn instance_ready(
    ctx: &ActionCtx,
    input: &Value,
    client: &Client,
    id: &str,
    default: Duration,
    also: fn(&DbInstance) -> bool,
) -> Result<DbInstance, ActionError> {
    until(ctx, input, default, &format!("{id} available"), || async {
        let i = must_instance(client, id).await?;
        Ok(if status(&i) == "available" && also(&i) {
            Seen::Ready(i)
        } else {
            Seen::NotYet(status(&i).to_owned())
        })
    })
    .await
}

#[async_trait]
impl Action for PromoteReadReplica {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "db_instance_identifier")?;
        let before = must_instance(&client, id).await?;
        let Some(was) = source(&before).map(str::to_owned) else {
            let mut out = show_instance(&before);
            out["already_standalone"] = json!(true);
            return Ok(out);
        };
        client
            .promote_read_replica()
            .db_instance_identifier(id)
            .set_backup_retention_period(
                input
                    .get("backup_retention_period")
                    .and_then(Value::as_i64)
                    .and_then(|d| i32::try_from(d).ok()),
            )
            .send()
            .await
            .map_err(|e| classify(&format!("PromoteReadReplica of {id}"), &e))?;
        let after = if wants_wait(&input, true) {
            instance_ready(ctx, &input, &client, id, LONG, |i| source(i).is_none()).await?
        } else {
            must_instance(&client, id).await?
        };
        let mut out = show_instance(&after);
        out["was_replica_of"] = json!(was);
        out["already_standalone"] = json!(false);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "db_instance_identifier")?;
        let Some(i) = instance(&client, id).await? else {
            return Ok(Some(Preview::new(
                Outlook::WouldFail,
                format!("no DB instance {id}"),
                Value::Null,
            )));
        };
        Ok(Some(match source(&i) {
            Some(src) => Preview::new(
                Outlook::Change,
                format!("promote {id} (replica of {src}, {})", status(&i)),
                show_instance(&i),
            ),
            None => Preview::new(
                Outlook::NoChange,
                format!("{id} is already standalone"),
                show_instance(&i),
            ),
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "db_instance_identifier")?;
        let i = must_instance(&client, id).await?;
        Ok(match (source(&i), status(&i)) {
            (None, _) => Observed::Done(show_instance(&i)),
            (Some(_), "available") => Observed::NotDone,
            (Some(src), other) => Observed::Unknown(format!(
                "{id} is still a replica of {src} and {other}: a promotion may be under way"
            )),
        })
    }
}

#[async_trait]
impl Action for FailoverCluster {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "db_cluster_identifier")?;
        let target = opt_str(&input, "target_db_instance_identifier");
        let before = cluster(&client, id).await?;
        let was = writer(&before).map(str::to_owned);
        if target.is_some() && was.as_deref() == target {
            let mut out = show_cluster(&before);
            out["previous_writer"] = json!(was);
            out["failed_over"] = json!(false);
            return Ok(out);
        }
        client
            .failover_db_cluster()
            .db_cluster_identifier(id)
            .set_target_db_instance_identifier(target.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(&format!("FailoverDBCluster of {id}"), &e))?;
        let after = if wants_wait(&input, true) {
            until(ctx, &input, LONG, &format!("{id} failed over"), || async {
                let c = cluster(&client, id).await?;
                let moved = match target {
                    Some(t) => writer(&c) == Some(t),
                    None => writer(&c) != was.as_deref(),
                };
                Ok(if moved && c.status() == Some("available") {
                    Seen::Ready(c)
                } else {
                    Seen::NotYet(format!(
                        "{} with writer {}",
                        c.status().unwrap_or("?"),
                        writer(&c).unwrap_or("none")
                    ))
                })
            })
            .await?
        } else {
            cluster(&client, id).await?
        };
        let mut out = show_cluster(&after);
        out["previous_writer"] = json!(was);
        out["failed_over"] = json!(true);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "db_cluster_identifier")?;
        let c = cluster(&client, id).await?;
        let now = writer(&c).unwrap_or("none");
        let target = opt_str(&input, "target_db_instance_identifier");
        let members: Vec<&str> = c
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier())
            .collect();
        Ok(Some(match target {
            Some(t) if t == now => Preview::new(
                Outlook::NoChange,
                format!("{id}: {t} already writes"),
                show_cluster(&c),
            ),
            Some(t) if !members.contains(&t) => Preview::new(
                Outlook::WouldFail,
                format!("{t} is not a member of {id}"),
                show_cluster(&c),
            ),
            Some(t) => Preview::new(
                Outlook::Change,
                format!("{id} writer {now} -> {t}"),
                show_cluster(&c),
            ),
            None => Preview::new(
                Outlook::Change,
                format!("{id} writer {now} -> a reader chosen by RDS"),
                show_cluster(&c),
            ),
        }))
    }

    /// With a target, the writer says whether it happened; without one, a failover that
    /// happened cannot be told from the cluster's normal state.
    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let Some(target) = opt_str(&input, "target_db_instance_identifier") else {
            return Ok(Observed::Unknown(
                "without `target_db_instance_identifier` a failover that happened cannot be \
                 told from one that did not"
                    .into(),
            ));
        };
        let client = Client::new(&self.configs.get(&input).await);
        let c = cluster(&client, str_of(&input, "db_cluster_identifier")?).await?;
        Ok(if writer(&c) == Some(target) {
            Observed::Done(show_cluster(&c))
        } else {
            Observed::NotDone
        })
    }
}

fn restore_time(input: &Value) -> Result<Option<DateTime>, ActionError> {
    opt_str(input, "restore_time")
        .map(|t| {
            DateTime::from_str(t, DateTimeFormat::DateTime).map_err(|e| {
                ActionError::Permanent(format!("`restore_time` {t:?} is not an RFC 3339 time: {e}"))
            })
        })
        .transpose()
}

#[async_trait]
impl Action for RestoreToTime {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let source = str_of(&input, "source_db_instance_identifier")?;
        let target = str_of(&input, "target_db_instance_identifier")?;
        if instance(&client, target).await?.is_some() {
            return Err(ActionError::Permanent(format!(
                "DB instance {target} exists: a restore makes a new instance"
            )));
        }
        client
            .restore_db_instance_to_point_in_time()
            .source_db_instance_identifier(source)
            .target_db_instance_identifier(target)
            .set_restore_time(restore_time(&input)?)
            .set_use_latest_restorable_time(
                input
                    .get("use_latest_restorable_time")
                    .and_then(Value::as_bool),
            )
            .set_db_instance_class(opt_str(&input, "db_instance_class").map(str::to_owned))
            .set_db_subnet_group_name(opt_str(&input, "db_subnet_group_name").map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(&format!("RestoreDBInstanceToPointInTime of {source}"), &e))?;
        let i = if wants_wait(&input, true) {
            instance_ready(ctx, &input, &client, target, LONG, |_| true).await?
        } else {
            must_instance(&client, target).await?
        };
        let mut out = show_instance(&i);
        out["restored_from"] = json!(source);
        out["restore_time"] = json!(opt_str(&input, "restore_time").unwrap_or("latest"));
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let source = str_of(&input, "source_db_instance_identifier")?;
        let target = str_of(&input, "target_db_instance_identifier")?;
        restore_time(&input)?;
        let Some(src) = instance(&client, source).await? else {
            return Ok(Some(Preview::new(
                Outlook::WouldFail,
                format!("no DB instance {source}"),
                Value::Null,
            )));
        };
        let mut observed = show_instance(&src);
        observed["latest_restorable_time"] =
            json!(src.latest_restorable_time().map(ToString::to_string));
        Ok(Some(if instance(&client, target).await?.is_some() {
            Preview::new(Outlook::WouldFail, format!("{target} exists"), observed)
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "new instance {target} from {source} at {}",
                    opt_str(&input, "restore_time").unwrap_or("the latest restorable time")
                ),
                observed,
            )
        }))
    }

    /// The new instance exists: the restore was accepted (its `status` says how far it
    /// is; follow with `aws.rds.wait_available`). Absent: nothing happened.
    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let target = str_of(&input, "target_db_instance_identifier")?;
        Ok(match instance(&client, target).await? {
            Some(i) => {
                let mut out = show_instance(&i);
                out["restored_from"] = json!(str_of(&input, "source_db_instance_identifier")?);
                Observed::Done(out)
            }
            None => Observed::NotDone,
        })
    }
}

#[async_trait]
impl Action for WaitAvailable {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        if let Some(id) = opt_str(&input, "db_cluster_identifier") {
            return until(ctx, &input, WAIT, &format!("{id} available"), || async {
                let c = cluster(&client, id).await?;
                Ok(if c.status() == Some("available") {
                    Seen::Ready(show_cluster(&c))
                } else {
                    Seen::NotYet(c.status().unwrap_or("?").to_owned())
                })
            })
            .await;
        }
        let id = str_of(&input, "db_instance_identifier")?;
        let i = instance_ready(ctx, &input, &client, id, WAIT, |_| true).await?;
        Ok(show_instance(&i))
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let (id, observed, state) = if let Some(id) = opt_str(&input, "db_cluster_identifier") {
            let c = cluster(&client, id).await?;
            (id, show_cluster(&c), c.status().unwrap_or("?").to_owned())
        } else {
            let id = str_of(&input, "db_instance_identifier")?;
            let i = must_instance(&client, id).await?;
            (id, show_instance(&i), status(&i).to_owned())
        };
        Ok(Some(Preview::new(
            Outlook::Reads,
            format!("{id} is {state}"),
            observed,
        )))
    }
}
