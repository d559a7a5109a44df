//! Nodes: `cordon` and `uncordon`, the node's `spec.unschedulable`, read back. Its pods
//! keep running: draining them is a runbook's `exec` of `kubectl drain`, which honours
//! disruption budgets.

use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::config::client;
use crate::error::{classify, not_found};

/// Cordon (`true`) or uncordon (`false`).
pub(crate) struct Cordon(pub(crate) drctl_core::ActionSpec, pub(crate) bool);

fn unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

async fn get(api: &Api<Node>, name: &str) -> Result<Node, ActionError> {
    match api.get(name).await {
        Ok(n) => Ok(n),
        Err(e) if not_found(&e) => Err(ActionError::Permanent(format!(
            "Kubernetes has no node {name}"
        ))),
        Err(e) => Err(classify(&format!("get of node {name}"), &e)),
    }
}

fn show(name: &str, n: &Node) -> Value {
    json!({ "node": name, "unschedulable": unschedulable(n) })
}

#[async_trait::async_trait]
impl drctl_core::Action for Cordon {
    fn spec(&self) -> &drctl_core::ActionSpec {
        &self.0
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let api: Api<Node> = Api::all(client(&input).await?);
        let name = crate::names::object(&input, "node")?;
        let before = get(&api, name).await?;
        let changed = unschedulable(&before) != self.1;
        if changed {
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Strategic(json!({ "spec": { "unschedulable": self.1 } })),
            )
            .await
            .map_err(|e| classify(&format!("patch of node {name}"), &e))?;
        }
        let after = get(&api, name).await?;
        if unschedulable(&after) != self.1 {
            return Err(ActionError::Retryable(format!(
                "node {name}: read back, unschedulable is {}",
                unschedulable(&after)
            )));
        }
        let mut out = show(name, &after);
        out["changed"] = json!(changed);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let api: Api<Node> = Api::all(client(&input).await?);
        let name = crate::names::object(&input, "node")?;
        let verb = if self.1 { "cordon" } else { "uncordon" };
        Ok(Some(match get(&api, name).await {
            Ok(n) if unschedulable(&n) == self.1 => Preview::new(
                Outlook::NoChange,
                format!("node {name} is {verb}ed already"),
                show(name, &n),
            ),
            Ok(n) => Preview::new(
                Outlook::Change,
                format!("{verb} node {name}"),
                show(name, &n),
            ),
            Err(ActionError::Permanent(m)) => Preview::new(Outlook::WouldFail, m, Value::Null),
            Err(e) => return Err(e),
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let api: Api<Node> = Api::all(client(&input).await?);
        let name = crate::names::object(&input, "node")?;
        let n = get(&api, name).await?;
        Ok(if unschedulable(&n) == self.1 {
            Observed::Done(show(name, &n))
        } else {
            Observed::NotDone
        })
    }
}
