//! Any object, by apiVersion and kind: `patch` with a read-back, and `wait_condition`.
//!
//! A patch is compared with the object before it (to skip one the object holds
//! already) and after it (the read-back): every field the patch sets holds that value (a
//! map field by field, a merged list's item by its counterpart, a list the patch
//! replaces whole item for item, a null, an empty map or an empty list by the field's
//! absence, since the API server omits empty ones). A server that changed the patch (a
//! defaulting webhook, a field another controller owns) is reported, retryably.

use std::time::Duration;

use drctl_connectors::input::{opt_str, str_of};
use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

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

/// The fields of `patch` that `obj` does not hold: (path, what it holds, what the patch
/// says).
pub(crate) fn differing(
    obj: &Value,
    patch: &Value,
    path: &str,
    out: &mut Vec<(String, Value, Value)>,
) {
    match patch {
        Value::Object(fields) => {
            for (k, want) in fields {
                let here = obj.get(k).cloned().unwrap_or(Value::Null);
                let path = child(path, k);
                if want.is_null() {
                    if !here.is_null() {
                        out.push((path, here, Value::Null));
                    }
                } else if want.is_object() && (here.is_object() || here.is_null()) {
                    // An absent map holds `{}` and any deletion (the API server omits
                    // empty maps), and a field that would be set below it differs.
                    differing(&here, want, &path, out);
                } else if here.is_null() && empty_list(want) {
                    // The API server omits an empty list: absent holds `[]`.
                } else if !holds(&here, want) {
                    out.push((path, here, want.clone()));
                }
            }
        }
        other if !holds(obj, other) => out.push((path.to_owned(), obj.clone(), other.clone())),
        _ => {}
    }
}

/// How a list the patch replaces whole is compared with the object's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lists {
    /// Before the patch (run, plan, reconcile): item by item, field for field, so that
    /// a field the patch drops from an item (a toleration's `effect`) is a change. A
    /// field the API server defaults inside such an item makes it a change too: the
    /// patch is then sent again, which is harmless, where the other mistake would skip
    /// a patch that was needed.
    Exact,
    /// After the patch (the read-back): each item holds its wanted one, so that the
    /// fields the API server defaults are not taken for a patch it changed.
    Held,
}

/// What a patch step still has to change. A JSON merge patch replaces lists whole, so
/// there a list holds only when it is the same list (a shorter one, `[]`, another
/// order, an item with another set of fields are changes; see [`Lists`]). A strategic
/// merge patch merges the lists the built-in kinds declare with a merge strategy
/// ([`MERGE_LISTS`]): each wanted item must be present, lists inside it are compared
/// the same way, and an empty one changes nothing. It replaces every other list whole
/// (`args`, `command`, `tolerations`, RBAC `rules`).
fn diff(obj: &Value, patch: &Value, input: &Value, lists: Lists) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    differing(obj, patch, "", &mut out);
    let strategic = opt_str(input, "strategy") != Some("merge");
    lists_replaced(obj, patch, "", strategic, lists, &mut out);
    out
}

/// The lists of the built-in kinds that a strategic merge patch merges, by field name,
/// with the keys that pair their items (`patchMergeKey` in the API's types; `ports` is
/// a container's by `containerPort`, a Service's by `port`). Lists of scalars here
/// (`finalizers`) merge by value.
const MERGE_LISTS: [(&str, &[&str]); 14] = [
    ("containers", &["name"]),
    ("initContainers", &["name"]),
    ("ephemeralContainers", &["name"]),
    ("env", &["name"]),
    ("ports", &["containerPort", "port"]),
    ("volumeMounts", &["mountPath"]),
    ("volumeDevices", &["devicePath"]),
    ("volumes", &["name"]),
    ("imagePullSecrets", &["name"]),
    ("hostAliases", &["ip"]),
    ("topologySpreadConstraints", &["topologyKey"]),
    ("conditions", &["type"]),
    ("finalizers", &[]),
    ("podCIDRs", &[]),
];

fn lists_replaced(
    obj: &Value,
    patch: &Value,
    path: &str,
    strategic: bool,
    lists: Lists,
    out: &mut Vec<(String, Value, Value)>,
) {
    let Value::Object(fields) = patch else {
        return;
    };
    for (k, want) in fields {
        let here = obj.get(k).cloned().unwrap_or(Value::Null);
        let path = child(path, k);
        let merged = MERGE_LISTS
            .iter()
            .find(|(name, _)| strategic && name == k)
            .map(|(_, keys)| *keys);
        match (want, &here, merged) {
            (Value::Array(w), _, Some(keys)) => {
                for item in w {
                    if let Some(mine) = counterpart(item, &here, keys) {
                        lists_replaced(mine, item, &path, strategic, lists, out);
                    }
                }
            }
            (Value::Array(w), Value::Array(h), None)
                if w.len() == h.len()
                    && w.iter().zip(h).all(|(w, h)| match lists {
                        Lists::Exact => same(h, w),
                        Lists::Held => holds(h, w),
                    }) => {}
            (Value::Array(w), Value::Null, None) if w.is_empty() => {}
            (Value::Array(_), _, None) if !out.iter().any(|(p, _, _)| *p == path) => {
                out.push((path, here, want.clone()));
            }
            (Value::Object(_), _, _) => {
                lists_replaced(&here, want, &path, strategic, lists, out);
            }
            _ => {}
        }
    }
}

/// The item of list `here` that a strategic patch's list item `item` merges into, by
/// the first of `keys` the item has.
fn counterpart<'a>(item: &Value, here: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let key = keys.iter().find(|k| item.get(**k).is_some())?;
    here.as_array()?
        .iter()
        .find(|mine| mine.get(*key) == item.get(*key))
}

fn empty_list(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty)
}

/// The dotted path of field `k` under `path`.
fn child(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

/// Whether `have` holds `want`: maps field by field, lists item by item.
fn holds(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(_), Value::Object(_)) => {
            let mut d = Vec::new();
            differing(have, want, "", &mut d);
            d.is_empty()
        }
        (Value::Array(h), Value::Array(w)) => w.iter().all(|x| h.iter().any(|y| holds(y, x))),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// Whether `have` is what `want` sets, no more and no less: a map has the same fields
/// (an absent one is the same as a null, `{}` or `[]`, which the API server omits), a
/// list the same items in the same order.
fn same(have: &Value, want: &Value) -> bool {
    let blank = |v: Option<&Value>| {
        v.is_none_or(|v| {
            v.is_null() || empty_list(v) || v.as_object().is_some_and(|m| m.is_empty())
        })
    };
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            w.iter().all(|(k, x)| match h.get(k) {
                Some(y) if !blank(Some(x)) => same(y, x),
                y => blank(y) && blank(Some(x)),
            }) && h.iter().all(|(k, y)| w.contains_key(k) || blank(Some(y)))
        }
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(y, x)| same(y, x))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn show(diffs: &[(String, Value, Value)]) -> String {
    diffs
        .iter()
        .map(|(p, have, want)| format!("{p}: {have} -> {want}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn patch_of(input: &Value) -> Result<&Value, ActionError> {
    input
        .get("patch")
        .filter(|p| p.is_object())
        .ok_or_else(|| ActionError::Permanent("`patch` must be a map".into()))
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
        let todo = diff(&before, patch, &input, Lists::Exact);
        if todo.is_empty() {
            let mut out = meta(&before);
            out["changed"] = json!(false);
            return Ok(out);
        }
        let params = PatchParams::default();
        let sent = match opt_str(&input, "strategy") {
            Some("merge") => {
                obj.api
                    .patch(&obj.name, &params, &Patch::Merge(patch))
                    .await
            }
            _ => {
                obj.api
                    .patch(&obj.name, &params, &Patch::Strategic(patch))
                    .await
            }
        };
        sent.map_err(|e| classify(&format!("patch of {}", obj.label), &e))?;
        let after = obj.get().await?;
        let left = diff(&after, patch, &input, Lists::Held);
        if !left.is_empty() {
            return Err(ActionError::Retryable(format!(
                "{}: read back after the patch: {}",
                obj.label,
                show(&left)
            )));
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
        let todo = diff(&before, patch, &input, Lists::Exact);
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
        let todo = diff(&now, patch_of(&input)?, &input, Lists::Exact);
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
