//! Compute Engine: a backend service's per-backend capacity, the traffic shift of a
//! global load balancer whose backends are regional instance groups or NEGs. Moving
//! traffic in stages is a sequence of steps, each setting the capacity scalers, with
//! health checks between them.
//!
//! The change is a read-modify-write: the service is read, the named backends get their
//! new values (the others keep theirs), and the whole list is patched with the
//! fingerprint that was read, so a change made by someone else in between fails with
//! 412 instead of being overwritten (retryable: the next attempt reads again). The
//! returned Compute operation is polled until `DONE`, and the service is read back to
//! check that the values hold.

use std::time::Duration;

use drctl_connectors::input::{opt_str, str_of};
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use google_cloud_compute_v1::client::{
    BackendServices, GlobalOperations, RegionBackendServices, RegionOperations,
};
use google_cloud_compute_v1::model::operation::Status;
use google_cloud_compute_v1::model::{Backend, BackendService, Operation};
use serde_json::{Value, json};

use crate::error::{classify, classify_write};
use crate::{action, client};

action!(SetBackends);

/// How long a patch may take by default.
const LONG: Duration = Duration::from_secs(600);

/// Global or regional: the two APIs differ only in the region in their paths.
enum Api {
    Global(BackendServices, GlobalOperations),
    Regional(RegionBackendServices, RegionOperations, String),
}

struct Service {
    api: Api,
    project: String,
    name: String,
}

impl Service {
    async fn new(conn: &crate::config::Conn, input: &Value) -> Result<Self, ActionError> {
        let api = match opt_str(input, "region") {
            None => Api::Global(
                client!(BackendServices, conn, input),
                client!(GlobalOperations, conn, input),
            ),
            Some(r) => Api::Regional(
                client!(RegionBackendServices, conn, input),
                client!(RegionOperations, conn, input),
                r.to_owned(),
            ),
        };
        Ok(Self {
            api,
            project: str_of(input, "project")?.to_owned(),
            name: str_of(input, "backend_service")?.to_owned(),
        })
    }

    async fn get(&self) -> Result<BackendService, ActionError> {
        let got = match &self.api {
            Api::Global(c, _) => {
                c.get()
                    .set_project(&self.project)
                    .set_backend_service(&self.name)
                    .send()
                    .await
            }
            Api::Regional(c, _, region) => {
                c.get()
                    .set_project(&self.project)
                    .set_region(region)
                    .set_backend_service(&self.name)
                    .send()
                    .await
            }
        };
        got.map_err(|e| classify(&format!("backendServices.get of {}", self.name), &e))
    }

    async fn patch(&self, body: BackendService) -> Result<Operation, ActionError> {
        let sent = match &self.api {
            Api::Global(c, _) => {
                c.patch()
                    .set_project(&self.project)
                    .set_backend_service(&self.name)
                    .set_body(body)
                    .send()
                    .await
            }
            Api::Regional(c, _, region) => {
                c.patch()
                    .set_project(&self.project)
                    .set_region(region)
                    .set_backend_service(&self.name)
                    .set_body(body)
                    .send()
                    .await
            }
        };
        sent.map_err(|e| classify_write(&format!("backendServices.patch of {}", self.name), &e))
    }

    async fn operation(&self, name: &str) -> Result<Operation, ActionError> {
        let got = match &self.api {
            Api::Global(_, ops) => {
                ops.get()
                    .set_project(&self.project)
                    .set_operation(name)
                    .send()
                    .await
            }
            Api::Regional(_, ops, region) => {
                ops.get()
                    .set_project(&self.project)
                    .set_region(region)
                    .set_operation(name)
                    .send()
                    .await
            }
        };
        got.map_err(|e| classify(&format!("operations.get of {name}"), &e))
    }
}

/// One backend's wanted values, from the step.
struct Want {
    group: String,
    capacity_scaler: Option<f32>,
    max_rate_per_instance: Option<f32>,
    max_utilization: Option<f32>,
}

#[allow(clippy::cast_possible_truncation)] // the schema bounds them well within f32
fn wants(input: &Value) -> Result<Vec<Want>, ActionError> {
    let list = input
        .get("backends")
        .and_then(Value::as_array)
        .ok_or_else(|| ActionError::Permanent("`backends` must be a list".into()))?;
    for b in list {
        // Google takes 0 (drained) or 0.1 to 1; the schema can only say 0 to 1.
        if let Some(c) = b.get("capacity_scaler").and_then(Value::as_f64)
            && c > 0.0
            && c < 0.1
        {
            return Err(ActionError::Permanent(format!(
                "capacity_scaler {c}: Google takes 0 (drained) or 0.1 to 1"
            )));
        }
    }
    list.iter()
        .map(|b| {
            let num = |k: &str| b.get(k).and_then(Value::as_f64).map(|v| v as f32);
            Ok(Want {
                group: str_of(b, "group")?.to_owned(),
                capacity_scaler: num("capacity_scaler"),
                max_rate_per_instance: num("max_rate_per_instance"),
                max_utilization: num("max_utilization"),
            })
        })
        .collect()
}

/// The index of the backend whose group is `group` (a URL, or its end from a `/` on).
fn find(service: &BackendService, group: &str) -> Result<usize, ActionError> {
    let group = group.trim_start_matches('/');
    let hits: Vec<usize> = service
        .backends
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            b.group
                .as_deref()
                .is_some_and(|g| g == group || g.ends_with(&format!("/{group}")))
        })
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(ActionError::Permanent(format!(
            "backend service {} has no backend `{group}`; its backends: {}",
            service.name.as_deref().unwrap_or("?"),
            groups(service).join(", ")
        ))),
        _ => Err(ActionError::Permanent(format!(
            "`{group}` names {} backends of {}: give more of its URL",
            hits.len(),
            service.name.as_deref().unwrap_or("?")
        ))),
    }
}

fn groups(service: &BackendService) -> Vec<&str> {
    service
        .backends
        .iter()
        .filter_map(|b| b.group.as_deref())
        .collect()
}

fn same(a: Option<f32>, b: Option<f32>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-6,
        (a, b) => a == b,
    }
}

/// Whether the backend already has what is wanted.
fn holds(b: &Backend, w: &Want) -> bool {
    (w.capacity_scaler.is_none() || same(b.capacity_scaler, w.capacity_scaler))
        && (w.max_rate_per_instance.is_none()
            || same(b.max_rate_per_instance, w.max_rate_per_instance))
        && (w.max_utilization.is_none() || same(b.max_utilization, w.max_utilization))
}

fn apply(b: &mut Backend, w: &Want) {
    if w.capacity_scaler.is_some() {
        b.capacity_scaler = w.capacity_scaler;
    }
    if w.max_rate_per_instance.is_some() {
        b.max_rate_per_instance = w.max_rate_per_instance;
    }
    if w.max_utilization.is_some() {
        b.max_utilization = w.max_utilization;
    }
}

/// The backends that differ from what is wanted, as (index, want).
fn differing<'a>(
    service: &BackendService,
    wants: &'a [Want],
) -> Result<Vec<(usize, &'a Want)>, ActionError> {
    let mut out = Vec::new();
    for w in wants {
        let i = find(service, &w.group)?;
        if !holds(&service.backends[i], w) {
            out.push((i, w));
        }
    }
    Ok(out)
}

/// A value as the step wrote it: Google keeps these as 32-bit floats, and 0.1 would
/// read back as 0.10000000149011612.
fn decimal(v: Option<f32>) -> Option<f64> {
    v.map(|v| format!("{v}").parse().unwrap_or(f64::from(v)))
}

fn show(service: &BackendService) -> Value {
    json!({
        "backend_service": service.name,
        "backends": service.backends.iter().map(|b| json!({
            "group": b.group,
            "balancing_mode": b.balancing_mode.as_ref().and_then(|m| m.name()),
            "capacity_scaler": decimal(b.capacity_scaler),
            "max_rate_per_instance": decimal(b.max_rate_per_instance),
            "max_utilization": decimal(b.max_utilization),
        })).collect::<Vec<_>>(),
    })
}

fn fmt(v: Option<f32>) -> String {
    v.map_or_else(|| "unset".to_owned(), |v| format!("{v}"))
}

impl SetBackends {
    async fn run_(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let svc = Service::new(&self.conn, input).await?;
        let wants = wants(input)?;
        let current = svc.get().await?;
        let change = differing(&current, &wants)?;
        if change.is_empty() {
            let mut out = show(&current);
            out["changed"] = json!(false);
            return Ok(out);
        }
        let mut body = BackendService::new()
            .set_backends(current.backends.clone())
            .set_or_clear_fingerprint(current.fingerprint.clone());
        for (i, w) in &change {
            apply(&mut body.backends[*i], w);
        }
        let op = svc.patch(body).await?;
        let op_name = op.name.clone().unwrap_or_default();
        if !wants_wait(input, true) {
            let mut out = show(&current);
            out["changed"] = json!(true);
            out["operation"] = json!(op_name);
            return Ok(out);
        }
        let what = format!("Compute operation {op_name}");
        let done = if op.status == Some(Status::Done) {
            op
        } else {
            until(ctx, input, LONG, &what, || async {
                let o = svc.operation(&op_name).await?;
                Ok(if o.status == Some(Status::Done) {
                    Seen::Ready(o)
                } else {
                    Seen::NotYet(
                        o.status
                            .as_ref()
                            .and_then(|s| s.name())
                            .unwrap_or("?")
                            .to_owned(),
                    )
                })
            })
            .await?
        };
        if let Some(err) = done.error.as_ref().filter(|e| !e.errors.is_empty()) {
            let said: Vec<String> = err
                .errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.code.as_deref().unwrap_or("?"),
                        e.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            return Err(ActionError::Permanent(format!(
                "{what} failed: {}",
                said.join("; ")
            )));
        }
        let after = svc.get().await?;
        let left = differing(&after, &wants)?;
        if let Some((i, w)) = left.first() {
            return Err(ActionError::Retryable(format!(
                "{}: read back after the patch, {} has capacity_scaler {}, not {}",
                svc.name,
                w.group,
                fmt(after.backends[*i].capacity_scaler),
                fmt(w.capacity_scaler)
            )));
        }
        let mut out = show(&after);
        out["changed"] = json!(true);
        out["operation"] = json!(op_name);
        Ok(out)
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let svc = Service::new(&self.conn, input).await?;
        let wants = wants(input)?;
        let current = svc.get().await?;
        let change = match differing(&current, &wants) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Preview::new(
                    Outlook::WouldFail,
                    e.to_string(),
                    show(&current),
                ));
            }
        };
        if change.is_empty() {
            return Ok(Preview::new(
                Outlook::NoChange,
                format!("{}: the backends already have these values", svc.name),
                show(&current),
            ));
        }
        let said: Vec<String> = change
            .iter()
            .map(|(i, w)| {
                let b = &current.backends[*i];
                format!(
                    "{} capacity {} -> {}",
                    w.group,
                    fmt(b.capacity_scaler),
                    fmt(w.capacity_scaler.or(b.capacity_scaler))
                )
            })
            .collect();
        Ok(Preview::new(
            Outlook::Change,
            format!("{}: {}", svc.name, said.join(", ")),
            show(&current),
        ))
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let svc = Service::new(&self.conn, input).await?;
        let current = svc.get().await?;
        Ok(if differing(&current, &wants(input)?)?.is_empty() {
            let mut out = show(&current);
            out["changed"] = json!(true);
            Observed::Done(out)
        } else {
            Observed::NotDone
        })
    }
}
