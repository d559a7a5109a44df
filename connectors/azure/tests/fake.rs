//! Every Azure action against the Resource Manager fake (`scripts/fakes/azure.py`, which
//! checks paths, `api-version`, the bearer token and bodies against the ARM references,
//! and answers long-running operations with `Azure-AsyncOperation`, `Location` and
//! `Retry-After`): run, read-only plan, reconcile after a lost answer, every error class.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/support/fake.rs"]
mod fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use drctl_core::{
    Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, RunId, StepId, Timestamp,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use fake::{Fake, TOKEN};

const SUB: &str = "00000000-0000-4000-8000-00000000c0de";

fn ctx() -> ActionCtx {
    ActionCtx {
        run: RunId::from_parts(Timestamp::from_millis(1), 7),
        step: StepId::new("s").unwrap(),
        item: None,
        attempt: 1,
        cancel: CancellationToken::new(),
        live: None,
    }
}

struct Azure {
    fake: Fake,
    actions: Vec<Arc<dyn Action>>,
}

impl Azure {
    fn start(polls: u32) -> Azure {
        Self::with_token(polls, TOKEN)
    }

    fn with_token(polls: u32, token: &str) -> Azure {
        let specs: Vec<ActionSpec> = drctl_connectors::Registry::builtin()
            .specs()
            .filter(|s| s.name.as_str().starts_with("azure."))
            .cloned()
            .collect();
        Azure {
            fake: Fake::start("azure.py", polls, &[]),
            actions: drctl_azure::actions_with_token(&specs, token),
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
            "subscription_id": SUB, "resource_group": "mantissa-dr",
            "endpoint": self.fake.url, "interval": "10ms", "timeout": "20s",
        });
        for (k, v) in more.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    }

    async fn run(&self, name: &str, more: &Value) -> Result<Value, ActionError> {
        let ctx = ctx();
        let call = self.action(name).run(&ctx, self.input(more));
        tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .unwrap_or_else(|_| panic!("{name} did not answer within 60 s"))
    }

    async fn ok(&self, name: &str, more: &Value) -> Value {
        self.run(name, more)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    async fn permanent(&self, name: &str, more: &Value) -> String {
        match self.run(name, more).await {
            Err(ActionError::Permanent(m)) => m,
            other => panic!("{name}: expected a permanent error, got {other:?}"),
        }
    }

    async fn retryable(&self, name: &str, more: &Value) -> String {
        match self.run(name, more).await {
            Err(ActionError::Retryable(m)) => m,
            other => panic!("{name}: expected a retryable error, got {other:?}"),
        }
    }

    async fn plan(&self, name: &str, more: &Value, outlook: Outlook) -> String {
        let before = self.fake.requests().len();
        let p = self
            .action(name)
            .plan(&ctx(), self.input(more))
            .await
            .unwrap_or_else(|e| panic!("{name} plan: {e:?}"))
            .unwrap();
        assert_eq!(p.outlook, outlook, "{name}: {}", p.summary);
        for r in &self.fake.requests()[before..] {
            assert_eq!(r["method"], "GET", "{name}'s plan wrote: {r}");
        }
        p.summary
    }

    async fn reconcile(&self, name: &str, more: &Value) -> Observed {
        self.action(name)
            .reconcile(&ctx(), self.input(more))
            .await
            .unwrap_or_else(|e| panic!("{name} reconcile: {e:?}"))
    }

    fn no_violations(&self) {
        assert_eq!(self.fake.violations(), Vec::<Value>::new());
    }
}

fn done(o: Observed) -> Value {
    match o {
        Observed::Done(v) => v,
        other => panic!("expected done, got {other:?}"),
    }
}

fn to_west() -> Value {
    json!({ "account": "mantissa-logs", "failover_policies": [
        { "location_name": "West US 2", "failover_priority": 0 },
        { "location_name": "East US", "failover_priority": 1 }] })
}

#[tokio::test]
async fn traffic_manager_endpoint_disabled_and_read_back() {
    let a = Azure::start(1);
    let off = json!({ "profile": "mantissa-api", "endpoint_name": "eastus", "status": "Disabled" });
    let s = a
        .plan("azure.trafficmanager.set_endpoint", &off, Outlook::Change)
        .await;
    assert!(
        s.contains("endpointStatus \"Enabled\" -> \"Disabled\""),
        "{s}"
    );
    let out = a.ok("azure.trafficmanager.set_endpoint", &off).await;
    assert_eq!(
        (out["status"].clone(), out["changed"].clone()),
        (json!("Disabled"), json!(true))
    );
    let patch = a
        .fake
        .requests()
        .into_iter()
        .find(|r| r["method"] == "PATCH")
        .unwrap();
    assert_eq!(patch["query"]["api-version"], "2022-04-01");
    assert_eq!(
        patch["body"],
        json!({ "properties": { "endpointStatus": "Disabled" } })
    );
    assert_eq!(
        a.ok("azure.trafficmanager.set_endpoint", &off).await["changed"],
        false
    );
    done(a.reconcile("azure.trafficmanager.set_endpoint", &off).await);
    let weight = json!({ "profile": "mantissa-api", "endpoint_name": "westus2",
                         "weight": 100, "priority": 1 });
    assert!(matches!(
        a.reconcile("azure.trafficmanager.set_endpoint", &weight)
            .await,
        Observed::NotDone
    ));
    let out = a.ok("azure.trafficmanager.set_endpoint", &weight).await;
    assert_eq!(
        (out["weight"].clone(), out["priority"].clone()),
        (json!(100), json!(1))
    );
    let m = a
        .permanent(
            "azure.trafficmanager.set_endpoint",
            &json!({ "profile": "mantissa-api", "endpoint_name": "nope", "status": "Enabled" }),
        )
        .await;
    assert!(
        m.contains("no Traffic Manager endpoint mantissa-api/nope"),
        "{m}"
    );
    a.no_violations();
}

#[tokio::test]
async fn cosmos_failover_priority_follows_the_operation_and_settles() {
    let a = Azure::start(3);
    let s = a
        .plan(
            "azure.cosmosdb.failover_priority_change",
            &to_west(),
            Outlook::Change,
        )
        .await;
    assert!(s.contains("writes move East US -> West US 2"), "{s}");
    let out = a
        .ok("azure.cosmosdb.failover_priority_change", &to_west())
        .await;
    assert_eq!(out["write_region"], "West US 2");
    assert_eq!(out["previous_write_region"], "East US");
    // The operation was polled through Azure-AsyncOperation until it succeeded.
    assert_eq!(a.fake.calls("GET", "/operationsStatus/"), 3);
    let post = a
        .fake
        .requests()
        .into_iter()
        .find(|r| r["method"] == "POST")
        .unwrap();
    assert_eq!(post["query"]["api-version"], "2024-11-15");
    assert_eq!(
        post["body"]["failoverPolicies"][0],
        json!({ "locationName": "West US 2", "failoverPriority": 0 })
    );
    a.plan(
        "azure.cosmosdb.failover_priority_change",
        &to_west(),
        Outlook::NoChange,
    )
    .await;
    assert_eq!(
        a.ok("azure.cosmosdb.failover_priority_change", &to_west())
            .await["changed"],
        false
    );
    assert_eq!(a.fake.calls("POST", "failoverPriorityChange"), 1);
    done(
        a.reconcile("azure.cosmosdb.failover_priority_change", &to_west())
            .await,
    );

    // A lost answer: the account is Updating; the retry waits for it, sends nothing.
    let back = json!({ "account": "mantissa-logs", "failover_policies": [
        { "location_name": "East US", "failover_priority": 0 },
        { "location_name": "West US 2", "failover_priority": 1 }] });
    a.fake.drop_answer("POST", "failoverPriorityChange");
    a.retryable("azure.cosmosdb.failover_priority_change", &back)
        .await;
    let out = done(
        a.reconcile("azure.cosmosdb.failover_priority_change", &back)
            .await,
    );
    assert_eq!(out["write_region"], "East US");
    assert_eq!(a.fake.calls("POST", "failoverPriorityChange"), 2);

    // A region the account does not have, and no write region.
    let m = a
        .permanent(
            "azure.cosmosdb.failover_priority_change",
            &json!({ "account": "mantissa-logs", "failover_policies": [
                { "location_name": "East US", "failover_priority": 1 }] }),
        )
        .await;
    assert!(m.contains("priority 0"), "{m}");
    a.no_violations();
}

#[tokio::test]
async fn retry_after_is_honoured_between_polls() {
    let a = Azure::start(2);
    a.fake
        .control("POST", "/_fake/retry_after", &json!({ "seconds": 1 }));
    let began = Instant::now();
    a.ok("azure.cosmosdb.failover_priority_change", &to_west())
        .await;
    // Two polls, each after the one second the operation asked for, not 10 ms.
    assert!(
        began.elapsed() >= Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    a.no_violations();
}

#[tokio::test]
async fn postgres_replica_promoted_once() {
    let a = Azure::start(3);
    let replica = json!({ "server": "mantissa-pg-westus2" });
    let s = a
        .plan("azure.postgres.promote_replica", &replica, Outlook::Change)
        .await;
    assert!(s.contains("AsyncReplica"), "{s}");
    assert!(matches!(
        a.reconcile("azure.postgres.promote_replica", &replica)
            .await,
        Observed::NotDone
    ));
    // The answer is lost after the promotion started: reconcile waits it out.
    a.fake.drop_answer("PATCH", "flexibleServers");
    a.retryable("azure.postgres.promote_replica", &replica)
        .await;
    let out = done(
        a.reconcile("azure.postgres.promote_replica", &replica)
            .await,
    );
    assert_eq!(out["role"], "Primary");
    let again = a.ok("azure.postgres.promote_replica", &replica).await;
    assert_eq!(again["already_standalone"], true);
    assert_eq!(a.fake.calls("PATCH", "flexibleServers"), 1);
    let sent = a
        .fake
        .requests()
        .into_iter()
        .find(|r| r["method"] == "PATCH")
        .unwrap();
    assert_eq!(sent["query"]["api-version"], "2024-08-01");
    assert_eq!(
        sent["body"],
        json!({ "properties": { "replica": { "promoteMode": "standalone", "promoteOption": "planned" } } })
    );
    // The primary is no replica: nothing to do, and a fresh promotion runs to the end.
    a.plan(
        "azure.postgres.promote_replica",
        &json!({ "server": "mantissa-pg-eastus" }),
        Outlook::NoChange,
    )
    .await;
    a.no_violations();
}

fn every_action() -> Vec<(&'static str, Value)> {
    vec![
        (
            "azure.trafficmanager.set_endpoint",
            json!({ "profile": "mantissa-api", "endpoint_name": "eastus", "status": "Disabled" }),
        ),
        ("azure.cosmosdb.failover_priority_change", to_west()),
        (
            "azure.postgres.promote_replica",
            json!({ "server": "mantissa-pg-westus2" }),
        ),
    ]
}

#[tokio::test]
async fn every_action_sorts_throttling_conflicts_outages_and_refusals() {
    let a = Azure::start(1);
    assert_eq!(
        every_action().len(),
        a.actions.len(),
        "an action is untested"
    );
    for (name, input) in every_action() {
        a.fake.fail("*", "/", 429, 1);
        let m = a.retryable(name, &input).await;
        assert!(
            m.contains("(HTTP 429)") && m.contains("Retry-After: 7 s"),
            "{name}: {m}"
        );
        for status in [500, 503] {
            a.fake.fail("*", "/", status, 1);
            let m = a.retryable(name, &input).await;
            assert!(m.contains(&format!("(HTTP {status})")), "{name}: {m}");
        }
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 409, "code": "AnotherOperationInProgress" }),
        );
        a.retryable(name, &input).await;
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 403, "code": "AuthorizationFailed" }),
        );
        let m = a.permanent(name, &input).await;
        assert!(m.contains("AuthorizationFailed (HTTP 403)"), "{name}: {m}");
        let mut gone = input.clone();
        gone["resource_group"] = json!("gone");
        let m = a.permanent(name, &gone).await;
        assert!(
            m.contains("ResourceGroupNotFound (HTTP 404)"),
            "{name}: {m}"
        );
        let mut evil = input.clone();
        evil["resource_group"] = json!("../x");
        a.permanent(name, &evil).await;
    }
    for (name, mut input) in every_action() {
        input["endpoint"] = json!("http://127.0.0.1:9");
        let ctx = ctx();
        let mut full = a.input(&json!({}));
        for (k, v) in input.as_object().unwrap() {
            full[k] = v.clone();
        }
        assert!(
            matches!(
                a.action(name).run(&ctx, full).await,
                Err(ActionError::Retryable(_))
            ),
            "{name} against a closed port"
        );
    }
    a.no_violations();
    let a = Azure::with_token(1, "not-the-token");
    for (name, input) in every_action() {
        let m = a.permanent(name, &input).await;
        assert!(
            m.contains("InvalidAuthenticationToken (HTTP 401)"),
            "{name}: {m}"
        );
        assert!(!m.contains("not-the-token"), "{name}: {m}");
    }
}
