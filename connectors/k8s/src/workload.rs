//! Deployments and StatefulSets: `scale` through the `/scale` subresource, and
//! `rollout_restart`, each waiting for the rollout to complete as `kubectl rollout
//! status` judges it: the controller has seen the latest generation, and every wanted
//! replica is updated, ready (and, for a Deployment, available) with no old one left.
//!
//! A rollout restart changes an annotation of the pod template, as kubectl does, but
//! with the run, step and item that asked for it (`drctl.io/restart`) instead of the
//! time: a retry, or a run resumed after a crash, finds its own mark and only waits.

use std::time::Duration;

use drctl_connectors::input::str_of;
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::config::client;
use crate::error::{classify, not_found};

pub(crate) struct Scale(pub(crate) drctl_core::ActionSpec);
pub(crate) struct RolloutRestart(pub(crate) drctl_core::ActionSpec);

/// How long a rollout may take by default.
const ROLLOUT: Duration = Duration::from_secs(900);
/// The pod template annotation that marks a restart.
const MARK: &str = "drctl.io/restart";

struct Workload {
    api: Api<DynamicObject>,
    kind: String,
    name: String,
    label: String,
}

impl Workload {
    async fn new(input: &Value) -> Result<Self, ActionError> {
        let kind = str_of(input, "kind")?;
        let plural = match kind {
            "Deployment" => "deployments",
            "StatefulSet" => "statefulsets",
            other => {
                return Err(ActionError::Permanent(format!(
                    "kind must be Deployment or StatefulSet, not {other}"
                )));
            }
        };
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", kind), plural);
        let ns = crate::names::namespace(input, "namespace")?;
        let name = crate::names::object(input, "name")?;
        Ok(Self {
            api: Api::namespaced_with(client(input).await?, ns, &resource),
            kind: kind.to_owned(),
            name: name.to_owned(),
            label: format!("{kind} {ns}/{name}"),
        })
    }

    async fn get(&self) -> Result<Value, ActionError> {
        match self.api.get(&self.name).await {
            Ok(o) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
            Err(e) if not_found(&e) => Err(ActionError::Permanent(format!(
                "Kubernetes has no {}",
                self.label
            ))),
            Err(e) => Err(classify(&format!("get of {}", self.label), &e)),
        }
    }

    /// Waits until the rollout is complete; the workload as it is then.
    async fn rolled_out(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        until(
            ctx,
            input,
            ROLLOUT,
            &format!("{} rolled out", self.label),
            || async {
                let now = self.get().await?;
                Ok(match pending(&self.kind, &now) {
                    None => Seen::Ready(now),
                    Some(why) => Seen::NotYet(why),
                })
            },
        )
        .await
    }
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The replicas wanted: `spec.replicas`, 1 when unset (the API's default).
fn wanted(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// What the rollout still waits for, or None when it is complete.
fn pending(kind: &str, obj: &Value) -> Option<String> {
    let s = &obj["status"];
    let want = wanted(obj);
    if num(&s["observedGeneration"]) < num(&obj["metadata"]["generation"]) {
        return Some("the controller has not seen the latest generation".into());
    }
    let updated = num(&s["updatedReplicas"]);
    let ready = num(&s["readyReplicas"]);
    if updated < want {
        return Some(format!("{updated} of {want} replicas updated"));
    }
    if kind == "Deployment" {
        let total = num(&s["replicas"]);
        if total > updated {
            return Some(format!("{} old replicas still running", total - updated));
        }
        let available = num(&s["availableReplicas"]);
        if available < want {
            return Some(format!("{available} of {want} updated replicas available"));
        }
    } else {
        if ready < want {
            return Some(format!("{ready} of {want} replicas ready"));
        }
        let (current, update) = (&s["currentRevision"], &s["updateRevision"]);
        if !update.is_null() && current != update {
            return Some(format!(
                "revision {current} is still being replaced by {update}"
            ));
        }
    }
    None
}

fn show(w: &Workload, obj: &Value) -> Value {
    let s = &obj["status"];
    json!({
        "kind": w.kind,
        "namespace": obj["metadata"]["namespace"],
        "name": w.name,
        "replicas": wanted(obj),
        "ready": num(&s["readyReplicas"]),
        "updated": num(&s["updatedReplicas"]),
        "available": num(&s["availableReplicas"]),
        "generation": obj["metadata"]["generation"],
    })
}

fn replicas(input: &Value) -> Result<i64, ActionError> {
    input
        .get("replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ActionError::Permanent("`replicas` must be a whole number, 0 or more".into())
        })
}

#[async_trait::async_trait]
impl drctl_core::Action for Scale {
    fn spec(&self) -> &drctl_core::ActionSpec {
        &self.0
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let w = Workload::new(&input).await?;
        let want = replicas(&input)?;
        let before = w.get().await?;
        let was = wanted(&before);
        if was != want {
            w.api
                .patch_scale(
                    &w.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": { "replicas": want } })),
                )
                .await
                .map_err(|e| classify(&format!("scale of {}", w.label), &e))?;
        }
        let after = if wants_wait(&input, true) {
            w.rolled_out(ctx, &input).await?
        } else {
            w.get().await?
        };
        if wanted(&after) != want {
            return Err(ActionError::Retryable(format!(
                "{}: read back after scaling, it wants {} replicas, not {want}",
                w.label,
                wanted(&after)
            )));
        }
        let mut out = show(&w, &after);
        out["previous_replicas"] = json!(was);
        out["changed"] = json!(was != want);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let w = Workload::new(&input).await?;
        let want = replicas(&input)?;
        let now = match w.get().await {
            Ok(n) => n,
            Err(ActionError::Permanent(m)) => {
                return Ok(Some(Preview::new(Outlook::WouldFail, m, Value::Null)));
            }
            Err(e) => return Err(e),
        };
        let was = wanted(&now);
        Ok(Some(if was == want {
            Preview::new(
                Outlook::NoChange,
                format!("{} wants {want} replicas already", w.label),
                show(&w, &now),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "{} replicas {was} -> {want} ({} ready now)",
                    w.label,
                    num(&now["status"]["readyReplicas"])
                ),
                show(&w, &now),
            )
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let w = Workload::new(&input).await?;
        let now = w.get().await?;
        Ok(
            if wanted(&now) == replicas(&input)? && pending(&w.kind, &now).is_none() {
                Observed::Done(show(&w, &now))
            } else {
                Observed::NotDone
            },
        )
    }
}

/// The mark of this run, step and item.
fn mark(ctx: &ActionCtx) -> String {
    match ctx.item {
        Some(i) => format!("{}/{}/{i}", ctx.run, ctx.step),
        None => format!("{}/{}", ctx.run, ctx.step),
    }
}

fn marked(obj: &Value) -> Option<&str> {
    obj["spec"]["template"]["metadata"]["annotations"][MARK].as_str()
}

#[async_trait::async_trait]
impl drctl_core::Action for RolloutRestart {
    fn spec(&self) -> &drctl_core::ActionSpec {
        &self.0
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let w = Workload::new(&input).await?;
        let mark = mark(ctx);
        let before = w.get().await?;
        let again = marked(&before) == Some(mark.as_str());
        if !again {
            let patch = json!({ "spec": { "template": { "metadata": {
                "annotations": { MARK: mark } } } } });
            w.api
                .patch(&w.name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
                .map_err(|e| classify(&format!("rollout restart of {}", w.label), &e))?;
        }
        let after = if wants_wait(&input, true) {
            w.rolled_out(ctx, &input).await?
        } else {
            w.get().await?
        };
        let mut out = show(&w, &after);
        out["restart"] = json!(mark);
        out["already_requested"] = json!(again);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let w = Workload::new(&input).await?;
        Ok(Some(match w.get().await {
            Ok(now) => Preview::new(
                Outlook::Change,
                format!(
                    "restart the {} pods of {}{}",
                    wanted(&now),
                    w.label,
                    pending(&w.kind, &now)
                        .map(|p| format!(" (a rollout is under way: {p})"))
                        .unwrap_or_default()
                ),
                show(&w, &now),
            ),
            Err(ActionError::Permanent(m)) => Preview::new(Outlook::WouldFail, m, Value::Null),
            Err(e) => return Err(e),
        }))
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let w = Workload::new(&input).await?;
        let now = w.get().await?;
        if marked(&now) != Some(mark(ctx).as_str()) {
            return Ok(Observed::NotDone);
        }
        let done = w.rolled_out(ctx, &input).await?;
        let mut out = show(&w, &done);
        out["restart"] = json!(mark(ctx));
        Ok(Observed::Done(out))
    }
}
