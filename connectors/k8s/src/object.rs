//! Any object, by apiVersion and kind: `patch` with a read-back, and `wait_condition`.
//!
//! A patch is compared with the object before it (to skip one the object holds
//! already) and after it (the read-back), as [`crate::compare`] says. A server that
//! did not keep the patch (a webhook, a field another controller owns) is reported,
//! retryably.

use std::time::Duration;

use drctl_connectors::input::{opt_str, str_of};
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::compare::{When, diff, directive, show};
use crate::config::client;
use crate::error::{classify, not_found};

pub(crate) struct PatchObject(pub(crate) drctl_core::ActionSpec);
pub(crate) struct WaitCondition(pub(crate) drctl_core::ActionSpec);

/// How long `wait_condition` waits by default.
const WAIT: Duration = Duration::from_secs(600);

/// One object of a step: its API and how to name it in messages.
pub(crate) struct Object {
    api: Api<DynamicObject>,
    name: String,
    pub(crate) label: String,
}

impl Object {
    pub(crate) async fn new(input: &Value) -> Result<Self, ActionError> {
        let api_version = str_of(input, "api_version")?;
        let kind = str_of(input, "kind")?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = match opt_str(input, "plural") {
            Some(plural) => {
                ApiResource::from_gvk_with_plural(&gvk, crate::names::label(plural, "plural")?)
            }
            None => ApiResource::from_gvk(&gvk),
        };
        let name = crate::names::object(input, "name")?.to_owned();
        let namespace = match opt_str(input, "namespace") {
            Some(_) => Some(crate::names::namespace(input, "namespace")?),
            None => None,
        };
        let client = client(input).await?;
        let (api, label) = match namespace {
            Some(ns) => (
                Api::namespaced_with(client, ns, &resource),
                format!("{kind} {ns}/{name}"),
            ),
            None => (Api::all_with(client, &resource), format!("{kind} {name}")),
        };
        Ok(Self { api, name, label })
    }

    pub(crate) async fn get(&self) -> Result<Value, ActionError> {
        match self.api.get(&self.name).await {
            Ok(o) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
            Err(e) if not_found(&e) => Err(ActionError::Permanent(format!(
                "Kubernetes has no {}",
                self.label
            ))),
            Err(e) => Err(classify(&format!("get of {}", self.label), &e)),
        }
    }
}

fn patch_of(input: &Value) -> Result<&Value, ActionError> {
    let patch = input
        .get("patch")
        .filter(|p| p.is_object())
        .ok_or_else(|| ActionError::Permanent("`patch` must be a map".into()))?;
    if strategic(input)
        && let Some(at) = directive(patch, "")
    {
        return Err(ActionError::Permanent(format!(
            "`patch` at {at}: strategic merge directives ($patch, $retainKeys, \
             $setElementOrder, $deleteFromPrimitiveList) say how to merge, not what the \
             object holds, so drctl could not check the result; write the fields wanted \
             (a null deletes one), or use `strategy: merge`"
        )));
    }
    Ok(patch)
}

/// Whether the step's patch is a strategic merge patch (the default).
fn strategic(input: &Value) -> bool {
    opt_str(input, "strategy") != Some("merge")
}

fn meta(obj: &Value) -> Value {
    json!({
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"]["namespace"],
        "resource_version": obj["metadata"]["resourceVersion"],
        "generation": obj["metadata"]["generation"],
    })
}

#[async_trait::async_trait]
impl drctl_core::Action for PatchObject {
    fn spec(&self) -> &drctl_core::ActionSpec {
        &self.0
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let obj = Object::new(&input).await?;
        let patch = patch_of(&input)?;
        let before = obj.get().await?;
        let todo = diff(&before, patch, strategic(&input), When::Before);
        if todo.is_empty() {
            let mut out = meta(&before);
            out["changed"] = json!(false);
            return Ok(out);
        }
        let params = PatchParams::default();
        let sent = if strategic(&input) {
            obj.api
                .patch(&obj.name, &params, &Patch::Strategic(patch))
                .await
        } else {
            obj.api
                .patch(&obj.name, &params, &Patch::Merge(patch))
                .await
        };
        sent.map_err(|e| classify(&format!("patch of {}", obj.label), &e))?;
        let after = obj.get().await?;
        let left = diff(&after, patch, strategic(&input), When::After);
        if !left.is_empty() {
            let said = format!("{}: read back after the patch: {}", obj.label, show(&left));
            // A kind with a status subresource ignores `status` on the object itself;
            // another attempt would be ignored the same way.
            return Err(
                if left
                    .iter()
                    .all(|(p, _, _)| p == "status" || p.starts_with("status."))
                {
                    ActionError::Permanent(format!(
                        "{said} (the API server ignores `status` in a patch of the object \
                         when its kind has a status subresource; its controllers own it)"
                    ))
                } else {
                    ActionError::Retryable(said)
                },
            );
        }
        let mut out = meta(&after);
        out["changed"] = json!(true);
        out["fields"] = json!(todo.iter().map(|(p, _, _)| p.clone()).collect::<Vec<_>>());
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let obj = Object::new(&input).await?;
        let patch = patch_of(&input)?;
        let before = match obj.get().await {
            Ok(b) => b,
            Err(ActionError::Permanent(m)) => {
                return Ok(Some(Preview::new(Outlook::WouldFail, m, Value::Null)));
            }
            Err(e) => return Err(e),
        };
        let todo = diff(&before, patch, strategic(&input), When::Before);
        Ok(Some(if todo.is_empty() {
            Preview::new(
                Outlook::NoChange,
                format!("{} holds the patch already", obj.label),
                meta(&before),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!("{}: {}", obj.label, show(&todo)),
                meta(&before),
            )
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let obj = Object::new(&input).await?;
        let now = obj.get().await?;
        let todo = diff(&now, patch_of(&input)?, strategic(&input), When::Before);
        Ok(if todo.is_empty() {
            let mut out = meta(&now);
            out["changed"] = json!(true);
            Observed::Done(out)
        } else {
            Observed::NotDone
        })
    }
}

/// The condition of this type in the object's status, if any.
fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn wanted(input: &Value) -> &str {
    opt_str(input, "status").unwrap_or("True")
}

impl WaitCondition {
    /// The condition if it has the wanted status, else what it is now.
    async fn check(obj: &Object, input: &Value) -> Result<Seen<Value>, ActionError> {
        let kind = str_of(input, "condition")?;
        let now = obj.get().await?;
        Ok(match condition(&now, kind) {
            Some(c) if c["status"] == wanted(input) => Seen::Ready(json!({
                "condition": kind,
                "status": c["status"],
                "reason": c["reason"],
                "message": c["message"],
                "since": c["lastTransitionTime"],
            })),
            Some(c) => Seen::NotYet(format!(
                "{kind} is {} ({})",
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or("no reason")
            )),
            None => Seen::NotYet(format!("no condition {kind}")),
        })
    }
}

#[async_trait::async_trait]
impl drctl_core::Action for WaitCondition {
    fn spec(&self) -> &drctl_core::ActionSpec {
        &self.0
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let obj = Object::new(&input).await?;
        let what = format!(
            "{}: {} {}",
            obj.label,
            str_of(&input, "condition")?,
            wanted(&input)
        );
        if !wants_wait(&input, true) {
            return match Self::check(&obj, &input).await? {
                Seen::Ready(v) => Ok(v),
                Seen::NotYet(seen) => Err(ActionError::Retryable(format!("{what}: {seen}"))),
            };
        }
        until(ctx, &input, WAIT, &what, || Self::check(&obj, &input)).await
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let obj = Object::new(&input).await?;
        Ok(Some(match Self::check(&obj, &input).await {
            Ok(Seen::Ready(v)) => Preview::new(
                Outlook::NoChange,
                format!("{}: {} is {} now", obj.label, v["condition"], v["status"]),
                v,
            ),
            Ok(Seen::NotYet(seen)) => Preview::new(
                Outlook::NoChange,
                format!("{}: {seen} now; the step waits", obj.label),
                Value::Null,
            ),
            Err(ActionError::Permanent(m)) => Preview::new(Outlook::WouldFail, m, Value::Null),
            Err(e) => return Err(e),
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let obj = Object::new(&input).await?;
        Ok(match Self::check(&obj, &input).await? {
            Seen::Ready(v) => Observed::Done(v),
            Seen::NotYet(_) => Observed::NotDone,
        })
    }
}
