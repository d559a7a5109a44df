//! Every Kubernetes action against the API server fake (`scripts/fakes/k8s.py`, which
//! checks paths, verbs, patch media types, subresources and the Status error shape
//! against the API reference): its run, its read-only plan, its reconcile after a crash,
//! and every error class sorted right. The cluster comes from a kubeconfig file, as a
//! user's would.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/support/fake.rs"]
mod fake;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drctl_core::{
    Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, RunId, StepId, Timestamp,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use fake::Fake;

fn ctx(step: &str) -> ActionCtx {
    ActionCtx {
        run: RunId::from_parts(Timestamp::from_millis(1), 7),
        step: StepId::new(step).unwrap(),
        item: None,
        attempt: 1,
        cancel: CancellationToken::new(),
        live: None,
    }
}

struct K8s {
    fake: Fake,
    kubeconfig: PathBuf,
    actions: Vec<Arc<dyn Action>>,
}

impl K8s {
    fn start(polls: u32) -> K8s {
        let dir = std::env::temp_dir().join(format!(
            "drctl-k8s-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        let fake = Fake::start(
            "k8s.py",
            polls,
            &["--kubeconfig", kubeconfig.to_str().unwrap()],
        );
        let specs: Vec<ActionSpec> = drctl_connectors::Registry::builtin()
            .specs()
            .filter(|s| s.name.as_str().starts_with("k8s."))
            .cloned()
            .collect();
        K8s {
            fake,
            kubeconfig,
            actions: drctl_k8s::actions(&specs),
        }
    }

    fn action(&self, name: &str) -> &Arc<dyn Action> {
        self.actions
            .iter()
            .find(|a| a.spec().name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} is not implemented"))
    }

    fn input(&self, more: &Value) -> Value {
        let mut input = json!({
            "kubeconfig": self.kubeconfig, "interval": "10ms", "timeout": "20s",
        });
        for (k, v) in more.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    }

    async fn run_as(&self, step: &str, name: &str, more: &Value) -> Result<Value, ActionError> {
        let ctx = ctx(step);
        let call = self.action(name).run(&ctx, self.input(more));
        tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .unwrap_or_else(|_| panic!("{name} did not answer within 60 s"))
    }

    async fn ok(&self, name: &str, more: &Value) -> Value {
        self.run_as("s", name, more)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    async fn permanent(&self, name: &str, more: &Value) -> String {
        match self.run_as("s", name, more).await {
            Err(ActionError::Permanent(m)) => m,
            other => panic!("{name}: expected a permanent error, got {other:?}"),
        }
    }

    async fn retryable(&self, name: &str, more: &Value) -> String {
        match self.run_as("s", name, more).await {
            Err(ActionError::Retryable(m)) => m,
            other => panic!("{name}: expected a retryable error, got {other:?}"),
        }
    }

    async fn plan(&self, name: &str, more: &Value, outlook: Outlook) -> String {
        let before = self.fake.requests().len();
        let p = self
            .action(name)
            .plan(&ctx("s"), self.input(more))
            .await
            .unwrap_or_else(|e| panic!("{name} plan: {e:?}"))
            .unwrap();
        assert_eq!(p.outlook, outlook, "{name}: {}", p.summary);
        for r in &self.fake.requests()[before..] {
            assert_eq!(r["method"], "GET", "{name}'s plan wrote: {r}");
        }
        p.summary
    }

    async fn reconcile(&self, step: &str, name: &str, more: &Value) -> Observed {
        self.action(name)
            .reconcile(&ctx(step), self.input(more))
            .await
            .unwrap_or_else(|e| panic!("{name} reconcile: {e:?}"))
    }

    fn object(&self, key: &str) -> Value {
        self.fake.state()["objects"][key].clone()
    }

    fn no_violations(&self) {
        assert_eq!(self.fake.violations(), Vec::<Value>::new());
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn done(o: Observed) -> Value {
    match o {
        Observed::Done(v) => v,
        other => panic!("expected done, got {other:?}"),
    }
}

fn api(replicas: i64) -> Value {
    json!({ "kind": "Deployment", "namespace": "prod", "name": "api", "replicas": replicas })
}

#[tokio::test]
async fn scale_through_the_subresource_and_wait_until_ready() {
    let k = K8s::start(3);
    let s = k.plan("k8s.scale", &api(6), Outlook::Change).await;
    assert!(s.contains("Deployment prod/api replicas 0 -> 6"), "{s}");
    assert!(matches!(
        k.reconcile("s", "k8s.scale", &api(6)).await,
        Observed::NotDone
    ));
    let out = k.ok("k8s.scale", &api(6)).await;
    assert_eq!(
        (out["replicas"].clone(), out["ready"].clone()),
        (json!(6), json!(6))
    );
    assert_eq!(out["previous_replicas"], 0);
    let patch = k
        .fake
        .requests()
        .into_iter()
        .find(|r| r["method"] == "PATCH")
        .unwrap();
    assert_eq!(
        patch["path"],
        "/apis/apps/v1/namespaces/prod/deployments/api/scale"
    );
    assert_eq!(patch["content_type"], "application/merge-patch+json");
    assert_eq!(patch["body"], json!({ "spec": { "replicas": 6 } }));

    k.plan("k8s.scale", &api(6), Outlook::NoChange).await;
    assert_eq!(k.ok("k8s.scale", &api(6)).await["changed"], false);
    done(k.reconcile("s", "k8s.scale", &api(6)).await);
    assert_eq!(k.fake.calls("PATCH", "/scale"), 1);

    let workers = json!({ "kind": "StatefulSet", "namespace": "prod", "name": "workers",
                          "replicas": 3 });
    let out = k.ok("k8s.scale", &workers).await;
    assert_eq!(out["ready"], 3);
    let m = k
        .permanent(
            "k8s.scale",
            &json!({ "kind": "Deployment", "namespace": "prod", "name": "nope", "replicas": 1 }),
        )
        .await;
    assert!(m.contains("has no Deployment prod/nope"), "{m}");
    k.no_violations();
}

#[tokio::test]
async fn rollout_restart_is_marked_and_never_repeated() {
    let k = K8s::start(3);
    let ingest = json!({ "kind": "Deployment", "namespace": "prod", "name": "ingest" });
    let s = k
        .plan("k8s.rollout_restart", &ingest, Outlook::Change)
        .await;
    assert!(
        s.contains("restart the 2 pods of Deployment prod/ingest"),
        "{s}"
    );
    let out = k.ok("k8s.rollout_restart", &ingest).await;
    assert_eq!(out["already_requested"], false);
    assert_eq!(out["ready"], 2);
    let mark = out["restart"].as_str().unwrap().to_owned();
    let obj = k.object("deployments/prod/ingest");
    assert_eq!(
        obj["spec"]["template"]["metadata"]["annotations"]["drctl.io/restart"],
        mark
    );
    assert_eq!(obj["metadata"]["generation"], 2);
    let patch = k
        .fake
        .requests()
        .into_iter()
        .find(|r| r["method"] == "PATCH")
        .unwrap();
    assert_eq!(
        patch["content_type"],
        "application/strategic-merge-patch+json"
    );

    // The same step again (a retry, a resumed run): it finds its mark and only waits.
    let again = k.ok("k8s.rollout_restart", &ingest).await;
    assert_eq!(again["already_requested"], true);
    assert_eq!(k.fake.calls("PATCH", "/ingest"), 1);
    done(k.reconcile("s", "k8s.rollout_restart", &ingest).await);
    // Another step's restart is another restart.
    assert!(matches!(
        k.reconcile("other", "k8s.rollout_restart", &ingest).await,
        Observed::NotDone
    ));

    // A crash after the patch landed: reconcile finds the mark and waits for the rollout.
    k.fake.drop_answer("PATCH", "/ingest");
    match k.run_as("crash", "k8s.rollout_restart", &ingest).await {
        Err(ActionError::Retryable(_)) => {}
        other => panic!("expected a lost answer, got {other:?}"),
    }
    let out = done(k.reconcile("crash", "k8s.rollout_restart", &ingest).await);
    assert_eq!(out["ready"], 2);
    assert_eq!(k.fake.calls("PATCH", "/ingest"), 2);
    k.no_violations();
}

#[tokio::test]
async fn patch_merges_and_reads_back() {
    let k = K8s::start(2);
    let config = json!({
        "api_version": "v1", "kind": "ConfigMap", "namespace": "prod", "name": "app-config",
        "patch": { "data": { "DB_HOST": "db.eu-central-1.internal", "REGION_ROLE": "active" } },
    });
    let s = k.plan("k8s.patch", &config, Outlook::Change).await;
    assert!(
        s.contains("data.DB_HOST: \"db.eu-west-1.internal\" -> \"db.eu-central-1.internal\""),
        "{s}"
    );
    let out = k.ok("k8s.patch", &config).await;
    assert_eq!(out["changed"], true);
    assert_eq!(
        k.object("configmaps/prod/app-config")["data"]["REGION_ROLE"],
        "active"
    );
    assert_eq!(k.ok("k8s.patch", &config).await["changed"], false);
    done(k.reconcile("s", "k8s.patch", &config).await);
    k.plan("k8s.patch", &config, Outlook::NoChange).await;

    // A strategic merge of a container's env by name, in a Deployment.
    let env = json!({
        "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod", "name": "ingest",
        "patch": { "spec": { "template": { "spec": { "containers": [
            { "name": "ingest", "env": [{ "name": "ROLE", "value": "active" }] }] } } } },
    });
    k.ok("k8s.patch", &env).await;
    let c = &k.object("deployments/prod/ingest")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["image"], "registry.example/ingest:4.2",
        "the rest of the container stays"
    );
    assert_eq!(c["env"], json!([{ "name": "ROLE", "value": "active" }]));
    // Inside the merged container, a list of scalars is replaced whole: a shorter `args`
    // is a change, not a subset already held.
    let args = |a: Value| {
        json!({
            "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod", "name": "ingest",
            "patch": { "spec": { "template": { "spec": { "containers": [
                { "name": "ingest", "args": a }] } } } },
        })
    };
    k.ok("k8s.patch", &args(json!(["--region=eu", "--standby"])))
        .await;
    let fewer = args(json!(["--region=eu"]));
    let s = k.plan("k8s.patch", &fewer, Outlook::Change).await;
    assert!(s.contains("containers.args"), "{s}");
    assert_eq!(k.ok("k8s.patch", &fewer).await["changed"], true);
    let c = &k.object("deployments/prod/ingest")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"], json!(["--region=eu"]));
    k.plan("k8s.patch", &fewer, Outlook::NoChange).await;
    // A list replaced whole is compared item for item: a toleration that loses its
    // `effect` is a change, not one the object holds already.
    let tolerations = |t: Value| {
        json!({
            "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod", "name": "ingest",
            "patch": { "spec": { "template": { "spec": { "tolerations": [t] } } } },
        })
    };
    let with_effect = json!({ "key": "standby", "operator": "Exists", "effect": "NoSchedule" });
    k.ok("k8s.patch", &tolerations(with_effect)).await;
    let without = tolerations(json!({ "key": "standby", "operator": "Exists" }));
    let s = k.plan("k8s.patch", &without, Outlook::Change).await;
    assert!(s.contains("tolerations"), "{s}");
    assert!(matches!(
        k.reconcile("s", "k8s.patch", &without).await,
        Observed::NotDone
    ));
    assert_eq!(k.ok("k8s.patch", &without).await["changed"], true);
    let spec = &k.object("deployments/prod/ingest")["spec"]["template"]["spec"];
    assert_eq!(
        spec["tolerations"],
        json!([{ "key": "standby", "operator": "Exists" }])
    );
    k.plan("k8s.patch", &without, Outlook::NoChange).await;
    // `status` in a patch of the object is ignored by the server: said, not retried.
    let m = k
        .permanent(
            "k8s.patch",
            &json!({ "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod",
                     "name": "ingest", "patch": { "status": { "readyReplicas": 5 } } }),
        )
        .await;
    assert!(m.contains("ignores `status`"), "{m}");
    // The API server omits empty maps and lists: an absent field holds `{}`, `[]` and a
    // deletion below it, so such a patch is no change (not a patch that never reads back).
    for patch in [
        json!({ "metadata": { "labels": { "old": null } } }),
        json!({ "binaryData": {} }),
    ] {
        let input = json!({ "api_version": "v1", "kind": "ConfigMap", "namespace": "prod",
                            "name": "app-config", "patch": patch });
        k.plan("k8s.patch", &input, Outlook::NoChange).await;
    }
    let mounts = json!({
        "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod", "name": "api",
        "patch": { "spec": { "template": { "spec": { "containers": [
            { "name": "api", "volumeMounts": [] }] } } } },
    });
    k.plan("k8s.patch", &mounts, Outlook::NoChange).await;
    assert_eq!(k.ok("k8s.patch", &mounts).await["changed"], false);

    // A custom resource takes no strategic merge (415), but a JSON merge.
    let mut widget = json!({
        "api_version": "example.com/v1", "kind": "Widget", "namespace": "prod", "name": "w",
        "patch": { "spec": { "size": 3 } },
    });
    let m = k.permanent("k8s.patch", &widget).await;
    assert!(m.contains("UnsupportedMediaType (HTTP 415)"), "{m}");
    widget["strategy"] = json!("merge");
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], true);
    // A JSON merge patch replaces a list whole: a shorter or empty one is a change.
    widget["patch"] = json!({ "metadata": { "finalizers": ["example.com/a", "example.com/b"] } });
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], true);
    widget["patch"] = json!({ "metadata": { "finalizers": [] } });
    k.plan("k8s.patch", &widget, Outlook::Change).await;
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], true);
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], false);
    // Its list items too: an item without a field the object's item has is a change.
    widget["patch"] = json!({ "spec": { "pools": [{ "name": "a", "zones": ["x", "y"] }] } });
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], true);
    widget["patch"] = json!({ "spec": { "pools": [{ "name": "a" }] } });
    k.plan("k8s.patch", &widget, Outlook::Change).await;
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], true);
    let w = k.object("widgets/prod/w");
    assert_eq!(w["spec"]["pools"], json!([{ "name": "a" }]), "{w}");
    assert_eq!(k.ok("k8s.patch", &widget).await["changed"], false);

    // Strategic merge directives say how to merge, not what the object holds: refused
    // before any call, as no read-back could check them.
    let before = k.fake.requests().len();
    let m = k
        .permanent(
            "k8s.patch",
            &json!({ "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod",
                     "name": "ingest", "patch": { "spec": { "template": { "spec": {
                         "containers": [{ "name": "ingest",
                             "env": [{ "name": "ROLE", "$patch": "delete" }] }] } } } } }),
        )
        .await;
    assert!(
        m.contains("spec.template.spec.containers.env.$patch"),
        "{m}"
    );
    assert_eq!(k.fake.requests().len(), before);

    // Names that would move the call elsewhere are refused before any call.
    let before = k.fake.requests().len();
    for bad in ["w/status", "w#x", "w?dryRun=All", "..", "%2e%2e"] {
        let mut evil = widget.clone();
        evil["name"] = json!(bad);
        let m = k.permanent("k8s.patch", &evil).await;
        assert!(m.contains("is not a Kubernetes name"), "{bad}: {m}");
    }
    assert_eq!(k.fake.requests().len(), before);

    // A cluster-scoped object, and one that is not there.
    let m = k
        .permanent(
            "k8s.patch",
            &json!({ "api_version": "v1", "kind": "ConfigMap", "namespace": "prod",
                     "name": "gone", "patch": { "data": { "a": "b" } } }),
        )
        .await;
    assert!(m.contains("has no ConfigMap prod/gone"), "{m}");
    k.no_violations();
}

#[tokio::test]
async fn wait_condition_waits_for_available() {
    let k = K8s::start(3);
    let available = |name: &str| {
        json!({ "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod",
                "name": name, "condition": "Available" })
    };
    let out = k.ok("k8s.wait_condition", &available("ingest")).await;
    assert_eq!(out["status"], "True");
    done(
        k.reconcile("s", "k8s.wait_condition", &available("ingest"))
            .await,
    );
    // api has no replicas: not available, and without waiting that is retryable.
    let mut once = available("api");
    once["wait"] = json!(false);
    let m = k.retryable("k8s.wait_condition", &once).await;
    assert!(m.contains("Available is False"), "{m}");
    k.ok("k8s.scale", &api(2)).await;
    let out = k.ok("k8s.wait_condition", &available("api")).await;
    assert_eq!(out["status"], "True");
    k.no_violations();
}

#[tokio::test]
async fn cordon_and_uncordon() {
    let k = K8s::start(1);
    let node = json!({ "node": "standby-node-1" });
    k.plan("k8s.cordon", &node, Outlook::Change).await;
    assert_eq!(k.ok("k8s.cordon", &node).await["unschedulable"], true);
    assert_eq!(k.ok("k8s.cordon", &node).await["changed"], false);
    done(k.reconcile("s", "k8s.cordon", &node).await);
    k.plan("k8s.uncordon", &node, Outlook::Change).await;
    assert!(matches!(
        k.reconcile("s", "k8s.uncordon", &node).await,
        Observed::NotDone
    ));
    assert_eq!(k.ok("k8s.uncordon", &node).await["unschedulable"], false);
    assert_eq!(
        k.object("nodes//standby-node-1")["spec"]["unschedulable"],
        false
    );
    let m = k
        .permanent("k8s.cordon", &json!({ "node": "standby-node-9" }))
        .await;
    assert!(m.contains("no node standby-node-9"), "{m}");
    k.no_violations();
}

fn every_action() -> Vec<(&'static str, Value)> {
    vec![
        ("k8s.scale", api(3)),
        (
            "k8s.rollout_restart",
            json!({ "kind": "Deployment", "namespace": "prod", "name": "ingest" }),
        ),
        (
            "k8s.patch",
            json!({ "api_version": "v1", "kind": "ConfigMap", "namespace": "prod",
                    "name": "app-config", "patch": { "data": { "X": "y" } } }),
        ),
        (
            "k8s.wait_condition",
            json!({ "api_version": "apps/v1", "kind": "Deployment", "namespace": "prod",
                    "name": "ingest", "condition": "Available" }),
        ),
        ("k8s.cordon", json!({ "node": "standby-node-2" })),
        ("k8s.uncordon", json!({ "node": "standby-node-2" })),
    ]
}

#[tokio::test]
async fn every_action_sorts_throttling_conflicts_outages_and_refusals() {
    let k = K8s::start(1);
    assert_eq!(
        every_action().len(),
        k.actions.len(),
        "an action is untested"
    );
    for (name, input) in every_action() {
        for (status, reason) in [
            (429, "TooManyRequests"),
            (409, "Conflict"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
        ] {
            k.fake.fail("*", "/", status, 1);
            let m = k.retryable(name, &input).await;
            assert!(
                m.contains(&format!("{reason} (HTTP {status})")),
                "{name}: {m}"
            );
            assert_eq!(
                m.contains("(Retry-After: 7 s)"),
                status == 429,
                "{name}: {m}"
            );
        }
        k.fake.fail("*", "/", 403, 1);
        let m = k.permanent(name, &input).await;
        assert!(m.contains("Forbidden (HTTP 403)"), "{name}: {m}");
    }
    // A proxy's page that echoes the request: the kubeconfig's token is withheld in
    // whatever words surround it.
    for (name, input) in every_action() {
        for echo in [
            format!(r#"forbidden: {{"Authorization":"Bearer {}"}}"#, fake::TOKEN),
            format!("Authorization:Bearer {}", fake::TOKEN),
            format!("invalid bearer token {}", fake::TOKEN),
            format!("token={}&x=1", fake::TOKEN),
        ] {
            k.fake.control(
                "POST",
                "/_fake/fail",
                &json!({ "method": "*", "path": "/", "status": 403, "times": 1,
                         "message": echo }),
            );
            let m = k.permanent(name, &input).await;
            assert!(m.contains("Forbidden (HTTP 403)"), "{name}: {m}");
            assert!(!m.contains(fake::TOKEN), "{name}: {m}");
        }
    }
    // A proxy's JSON that is not a Status: its HTTP status is lost in kube, so it is
    // said as such, and may be retried.
    for (name, input) in every_action() {
        k.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "method": "*", "path": "/", "status": 403, "times": 1,
                     "raw": { "error": { "message": "denied by the proxy" } } }),
        );
        let m = k.retryable(name, &input).await;
        assert!(m.contains("not a Kubernetes Status"), "{name}: {m}");
    }
    // Nothing answers: retryable.
    let dir = k.kubeconfig.parent().unwrap();
    let closed = dir.join("closed");
    std::fs::write(
        &closed,
        std::fs::read_to_string(&k.kubeconfig)
            .unwrap()
            .replace(&k.fake.url, "http://127.0.0.1:9"),
    )
    .unwrap();
    for (name, mut input) in every_action() {
        input["kubeconfig"] = json!(closed);
        let ctx = ctx("s");
        let mut full = k.input(&json!({}));
        for (a, b) in input.as_object().unwrap() {
            full[a] = b.clone();
        }
        assert!(
            matches!(
                k.action(name).run(&ctx, full).await,
                Err(ActionError::Retryable(_))
            ),
            "{name} against a closed port"
        );
    }
    // A token the server does not take: permanent, and not in the message.
    let wrong = dir.join("wrong");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&k.kubeconfig)
            .unwrap()
            .replace(fake::TOKEN, "not-the-token"),
    )
    .unwrap();
    for (name, mut input) in every_action() {
        input["kubeconfig"] = json!(wrong);
        let m = k.permanent(name, &input).await;
        assert!(m.contains("Unauthorized (HTTP 401)"), "{name}: {m}");
        assert!(!m.contains("not-the-token"), "{name}: {m}");
    }
    // A kubeconfig that is not there.
    let m = k
        .permanent(
            "k8s.cordon",
            &json!({ "node": "n", "kubeconfig": "/nonexistent/kc" }),
        )
        .await;
    assert!(m.contains("kubeconfig /nonexistent/kc"), "{m}");
    k.no_violations();
}
