//! Cloud SQL: promote a read replica, fail an HA instance over, restore to a point in time
//! as a clone. Each call returns a Cloud SQL operation, polled until `DONE`.
//!
//! None of the three is repeated blindly. Before calling, each reads the instance and the
//! instance's operations: an effect already there (a replica already standalone, the
//! primary already out of `from_zone`, the clone already made) ends the step, and an
//! operation of the same kind still pending or running, started by an attempt that then
//! crashed, is waited for instead of starting a second one. `reconcile` answers from the
//! same reads.

use std::time::Duration;

use drctl_connectors::input::{opt_str, str_of};
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use google_cloud_sql_v1::client::{SqlInstancesService, SqlOperationsService};
use google_cloud_sql_v1::model::database_instance::SqlInstanceState;
use google_cloud_sql_v1::model::operation::{SqlOperationStatus, SqlOperationType};
use google_cloud_sql_v1::model::{
    CloneContext, DatabaseInstance, FailoverContext, InstancesCloneRequest,
    InstancesFailoverRequest, Operation, SqlInstanceType,
};
use serde_json::{Value, json};

use crate::error::{classify, classify_write, not_found};
use crate::{action, client};

action!(PromoteReplica);
action!(Failover);
action!(CloneToTime);

/// How long an operation may take by default.
const LONG: Duration = Duration::from_secs(3600);

/// The clients of one step.
struct Sql {
    instances: SqlInstancesService,
    operations: SqlOperationsService,
    project: String,
}

impl Sql {
    async fn new(conn: &crate::config::Conn, input: &Value) -> Result<Self, ActionError> {
        Ok(Self {
            instances: client!(SqlInstancesService, conn, input),
            operations: client!(SqlOperationsService, conn, input),
            project: str_of(input, "project")?.to_owned(),
        })
    }

    async fn instance(&self, name: &str) -> Result<Option<DatabaseInstance>, ActionError> {
        match self
            .instances
            .get()
            .set_project(&self.project)
            .set_instance(name)
            .send()
            .await
        {
            Ok(i) => Ok(Some(i)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(classify(&format!("instances.get of {name}"), &e)),
        }
    }

    async fn must(&self, name: &str) -> Result<DatabaseInstance, ActionError> {
        let i = self.instance(name).await?.ok_or_else(|| {
            ActionError::Permanent(format!(
                "Cloud SQL has no instance `{name}` in project {}",
                self.project
            ))
        })?;
        if i.name != name {
            return Err(ActionError::Permanent(format!(
                "asked for Cloud SQL instance `{name}`, the answer was for `{}`",
                i.name
            )));
        }
        Ok(i)
    }

    /// Whether the source's recent operations hold a clone that ended well.
    async fn cloned_before(&self, source: &str) -> Result<bool, ActionError> {
        let list = self
            .operations
            .list()
            .set_project(&self.project)
            .set_instance(source)
            .set_max_results(50_u32)
            .send()
            .await
            .map_err(|e| classify(&format!("operations.list of {source}"), &e))?;
        Ok(list.items.iter().any(|o| {
            o.operation_type == SqlOperationType::Clone
                && o.status == SqlOperationStatus::Done
                && o.error.as_ref().is_none_or(|e| e.errors.is_empty())
        }))
    }

    /// An operation of this kind on the instance that has not ended: one an earlier
    /// attempt started.
    async fn unfinished(
        &self,
        instance: &str,
        kind: &SqlOperationType,
    ) -> Result<Option<Operation>, ActionError> {
        let list = self
            .operations
            .list()
            .set_project(&self.project)
            .set_instance(instance)
            .set_max_results(50_u32)
            .send()
            .await
            .map_err(|e| classify(&format!("operations.list of {instance}"), &e))?;
        Ok(list.items.into_iter().find(|o| {
            &o.operation_type == kind
                && matches!(
                    o.status,
                    SqlOperationStatus::Pending | SqlOperationStatus::Running
                )
        }))
    }

    /// Polls the operation until it is done; an operation that ended with errors is a
    /// permanent failure that quotes them.
    async fn finish(
        &self,
        ctx: &ActionCtx,
        input: &Value,
        op: Operation,
    ) -> Result<Operation, ActionError> {
        let name = op.name.clone();
        let what = format!("Cloud SQL operation {name} ({})", kind(&op));
        let done = if op.status == SqlOperationStatus::Done {
            op
        } else {
            until(ctx, input, LONG, &what, || async {
                let o = self
                    .operations
                    .get()
                    .set_project(&self.project)
                    .set_operation(&name)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("operations.get of {name}"), &e))?;
                Ok(if o.status == SqlOperationStatus::Done {
                    Seen::Ready(o)
                } else {
                    Seen::NotYet(o.status.name().unwrap_or("?").to_owned())
                })
            })
            .await?
        };
        match done.error.as_ref().map(|e| &e.errors) {
            Some(errors) if !errors.is_empty() => {
                let said: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .collect();
                Err(ActionError::Permanent(format!(
                    "{what} failed: {}",
                    said.join("; ")
                )))
            }
            _ => Ok(done),
        }
    }
}

/// Whether `d` could be a clone of `source`: standalone, of the same database version.
fn like_clone(d: &DatabaseInstance, source: &DatabaseInstance) -> bool {
    !is_replica(d) && d.database_version == source.database_version
}

fn kind(op: &Operation) -> &str {
    op.operation_type.name().unwrap_or("?")
}

fn state(i: &DatabaseInstance) -> &str {
    i.state.name().unwrap_or("?")
}

fn is_replica(i: &DatabaseInstance) -> bool {
    i.instance_type == SqlInstanceType::ReadReplicaInstance || !i.master_instance_name.is_empty()
}

fn show(i: &DatabaseInstance) -> Value {
    json!({
        "instance": i.name,
        "state": state(i),
        "instance_type": i.instance_type.name(),
        "replica_of": (!i.master_instance_name.is_empty()).then_some(&i.master_instance_name),
        "region": i.region,
        "zone": i.gce_zone,
        "secondary_zone": (!i.secondary_gce_zone.is_empty()).then_some(&i.secondary_gce_zone),
        "database_version": i.database_version.name(),
    })
}

/// The step's output: the instance as read at the end, and what was done.
fn out(i: &DatabaseInstance, extra: Value) -> Value {
    let mut o = show(i);
    if let (Value::Object(o), Value::Object(extra)) = (&mut o, extra) {
        o.extend(extra);
    }
    o
}

impl PromoteReplica {
    async fn run_(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let name = str_of(input, "instance")?;
        let before = sql.must(name).await?;
        let pending = sql
            .unfinished(name, &SqlOperationType::PromoteReplica)
            .await?;
        if !is_replica(&before) && pending.is_none() {
            return Ok(out(
                &before,
                json!({ "promoted": false, "already_standalone": true }),
            ));
        }
        let was = before.master_instance_name.clone();
        let (op, resumed) = match pending {
            Some(op) => (op, true),
            None => (
                sql.instances
                    .promote_replica()
                    .set_project(&sql.project)
                    .set_instance(name)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("promoteReplica of {name}"), &e))?,
                false,
            ),
        };
        let op = if wants_wait(input, true) {
            sql.finish(ctx, input, op).await?
        } else {
            op
        };
        let after = sql.must(name).await?;
        if op.status == SqlOperationStatus::Done && is_replica(&after) {
            return Err(ActionError::Retryable(format!(
                "{name}: the promotion is done, but the instance still reads as a replica of {}",
                after.master_instance_name
            )));
        }
        Ok(out(
            &after,
            json!({
                "promoted": true,
                "already_standalone": false,
                "was_replica_of": was,
                "operation": op.name,
                "operation_status": op.status.name(),
                "resumed_operation": resumed,
            }),
        ))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let name = str_of(input, "instance")?;
        let Some(i) = sql.instance(name).await? else {
            return Ok(Preview::new(
                Outlook::WouldFail,
                format!("no Cloud SQL instance {name}"),
                Value::Null,
            ));
        };
        Ok(if is_replica(&i) {
            Preview::new(
                Outlook::Change,
                format!(
                    "promote {name} (replica of {}, {})",
                    i.master_instance_name,
                    state(&i)
                ),
                show(&i),
            )
        } else {
            Preview::new(
                Outlook::NoChange,
                format!("{name} is already standalone"),
                show(&i),
            )
        })
    }

    async fn reconcile_(&self, ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let name = str_of(input, "instance")?;
        if let Some(op) = sql
            .unfinished(name, &SqlOperationType::PromoteReplica)
            .await?
        {
            sql.finish(ctx, input, op).await?;
        }
        let i = sql.must(name).await?;
        Ok(if is_replica(&i) {
            Observed::NotDone
        } else {
            Observed::Done(out(&i, json!({ "promoted": true })))
        })
    }
}

/// `from_zone` must be one of the instance's two zones: another is a typo, not a
/// failover already done.
fn zone_of(i: &DatabaseInstance, from: Option<&str>) -> Result<(), ActionError> {
    match from {
        Some(z) if z != i.gce_zone && z != i.secondary_gce_zone => {
            Err(ActionError::Permanent(format!(
                "from_zone {z} is not a zone of {} (it serves from {}, its standby is {})",
                i.name,
                i.gce_zone,
                if i.secondary_gce_zone.is_empty() {
                    "none"
                } else {
                    &i.secondary_gce_zone
                }
            )))
        }
        _ => Ok(()),
    }
}

/// Whether the primary has left `from_zone`; unknown without it.
fn moved(i: &DatabaseInstance, from: Option<&str>) -> Option<bool> {
    from.map(|z| i.gce_zone != z)
}

impl Failover {
    async fn run_(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let name = str_of(input, "instance")?;
        let from = opt_str(input, "from_zone");
        let before = sql.must(name).await?;
        zone_of(&before, from)?;
        let pending = sql.unfinished(name, &SqlOperationType::Failover).await?;
        if pending.is_none() && moved(&before, from) == Some(true) {
            return Ok(out(
                &before,
                json!({ "failed_over": false, "already_away_from": from }),
            ));
        }
        let (op, resumed) = match pending {
            Some(op) => (op, true),
            None => {
                let version = before
                    .settings
                    .as_ref()
                    .and_then(|s| s.settings_version)
                    .unwrap_or_default();
                let body = InstancesFailoverRequest::new().set_failover_context(
                    FailoverContext::new()
                        .set_kind("sql#failoverContext")
                        .set_settings_version(version),
                );
                let op = sql
                    .instances
                    .failover()
                    .set_project(&sql.project)
                    .set_instance(name)
                    .set_body(body)
                    .send()
                    .await
                    .map_err(|e| classify_write(&format!("failover of {name}"), &e))?;
                (op, false)
            }
        };
        let op = if wants_wait(input, true) {
            sql.finish(ctx, input, op).await?
        } else {
            op
        };
        let after = sql.must(name).await?;
        if op.status == SqlOperationStatus::Done && moved(&after, from) == Some(false) {
            return Err(ActionError::Retryable(format!(
                "{name}: the failover is done, but the primary still serves from {}",
                after.gce_zone
            )));
        }
        Ok(out(
            &after,
            json!({
                "failed_over": true,
                "previous_zone": before.gce_zone,
                "operation": op.name,
                "operation_status": op.status.name(),
                "resumed_operation": resumed,
            }),
        ))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let name = str_of(input, "instance")?;
        let from = opt_str(input, "from_zone");
        let Some(i) = sql.instance(name).await? else {
            return Ok(Preview::new(
                Outlook::WouldFail,
                format!("no Cloud SQL instance {name}"),
                Value::Null,
            ));
        };
        if let Err(ActionError::Permanent(m)) = zone_of(&i, from) {
            return Ok(Preview::new(Outlook::WouldFail, m, show(&i)));
        }
        Ok(if i.secondary_gce_zone.is_empty() {
            Preview::new(
                Outlook::WouldFail,
                format!("{name} has no standby zone: it is not highly available"),
                show(&i),
            )
        } else if moved(&i, from) == Some(true) {
            Preview::new(
                Outlook::NoChange,
                format!(
                    "{name} already serves from {}, not {}",
                    i.gce_zone,
                    from.unwrap_or("?")
                ),
                show(&i),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "fail {name} over from {} to {}",
                    i.gce_zone, i.secondary_gce_zone
                ),
                show(&i),
            )
        })
    }

    async fn reconcile_(&self, ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let name = str_of(input, "instance")?;
        if let Some(op) = sql.unfinished(name, &SqlOperationType::Failover).await? {
            sql.finish(ctx, input, op).await?;
            let i = sql.must(name).await?;
            return Ok(Observed::Done(out(&i, json!({ "failed_over": true }))));
        }
        let i = sql.must(name).await?;
        zone_of(&i, opt_str(input, "from_zone"))?;
        Ok(match moved(&i, opt_str(input, "from_zone")) {
            Some(true) => Observed::Done(out(&i, json!({ "failed_over": true }))),
            Some(false) => Observed::NotDone,
            None => Observed::Unknown(format!(
                "{name} serves from {} and no failover is running; without `from_zone` \
                 whether the interrupted call failed it over cannot be told",
                i.gce_zone
            )),
        })
    }
}

impl CloneToTime {
    /// The destination if it exists, after waiting for a clone still running.
    async fn settle(
        &self,
        ctx: &ActionCtx,
        input: &Value,
        sql: &Sql,
    ) -> Result<(Option<DatabaseInstance>, Option<Operation>), ActionError> {
        let source = str_of(input, "instance")?;
        let dest = str_of(input, "destination")?;
        let waited = match sql.unfinished(source, &SqlOperationType::Clone).await? {
            Some(op) => Some(sql.finish(ctx, input, op).await?),
            None => None,
        };
        Ok((sql.instance(dest).await?, waited))
    }

    async fn run_(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let source = str_of(input, "instance")?;
        let dest = str_of(input, "destination")?;
        let at = str_of(input, "point_in_time")?;
        let time: google_cloud_wkt::Timestamp = serde_json::from_value(json!(at)).map_err(|e| {
            ActionError::Permanent(format!("point_in_time `{at}` is not an RFC 3339 time: {e}"))
        })?;
        if source == dest {
            return Err(ActionError::Permanent(format!(
                "the clone's destination must be a new instance, not its source {source}"
            )));
        }
        let src = sql.must(source).await?;
        if let (Some(d), waited) = self.settle(ctx, input, &sql).await? {
            // Ours only if a clone of the source made it: a crashed attempt's clone that
            // just ended, or one that ended before. Cloud SQL records no clone's source on
            // the new instance, so "made by a clone" is judged: a clone of the source
            // ended well, and this instance is a standalone of the source's database
            // version. Any other instance of that name is someone else's, and a restore
            // into it would restore nothing.
            if waited.is_none() && !(like_clone(&d, &src) && sql.cloned_before(source).await?) {
                return Err(ActionError::Permanent(format!(
                    "{dest} exists already and no clone of {source} made it: name a new instance"
                )));
            }
            return Ok(out(
                &d,
                json!({ "cloned": true, "resumed": true, "source": source }),
            ));
        }
        let body = InstancesCloneRequest::new().set_clone_context(
            CloneContext::new()
                .set_kind("sql#cloneContext")
                .set_destination_instance_name(dest)
                .set_point_in_time(time),
        );
        let op = sql
            .instances
            .clone()
            .set_project(&sql.project)
            .set_instance(source)
            .set_body(body)
            .send()
            .await
            .map_err(|e| classify(&format!("clone of {source} to {dest}"), &e))?;
        if !wants_wait(input, true) {
            return Ok(json!({
                "instance": dest, "source": source, "cloned": true,
                "operation": op.name, "operation_status": op.status.name(),
            }));
        }
        let op = sql.finish(ctx, input, op).await?;
        let d = sql.must(dest).await?;
        Ok(out(
            &d,
            json!({
                "cloned": true, "resumed": false, "source": source,
                "point_in_time": at, "operation": op.name,
            }),
        ))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let source = str_of(input, "instance")?;
        let dest = str_of(input, "destination")?;
        let at = str_of(input, "point_in_time")?;
        let Some(s) = sql.instance(source).await? else {
            return Ok(Preview::new(
                Outlook::WouldFail,
                format!("no Cloud SQL instance {source}"),
                Value::Null,
            ));
        };
        Ok(match sql.instance(dest).await? {
            Some(d) if like_clone(&d, &s) && sql.cloned_before(source).await? => Preview::new(
                Outlook::NoChange,
                format!(
                    "{dest} exists already ({}), made by a clone of {source}",
                    state(&d)
                ),
                show(&d),
            ),
            Some(d) => Preview::new(
                Outlook::WouldFail,
                format!("{dest} exists already and no clone of {source} made it"),
                show(&d),
            ),
            None => Preview::new(
                Outlook::Change,
                format!("clone {source} as of {at} to a new instance {dest}"),
                show(&s),
            ),
        })
    }

    async fn reconcile_(&self, ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let sql = Sql::new(&self.conn, input).await?;
        let source = str_of(input, "instance")?;
        let src = sql.must(source).await?;
        Ok(match self.settle(ctx, input, &sql).await? {
            (Some(d), waited)
                if d.state == SqlInstanceState::Runnable
                    && (waited.is_some()
                        || (like_clone(&d, &src) && sql.cloned_before(source).await?)) =>
            {
                Observed::Done(out(&d, json!({ "cloned": true })))
            }
            (Some(d), _) => Observed::Unknown(format!(
                "{} exists but is {} and no clone is running",
                d.name,
                state(&d)
            )),
            (None, _) => Observed::NotDone,
        })
    }
}
