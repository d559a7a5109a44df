//! Every Azure action against the Resource Manager fake (`scripts/fakes/azure.py`, which
//! checks paths, `api-version`, the bearer token and bodies against the ARM references,
//! and answers long-running operations with `Azure-AsyncOperation`, `Location` and
//! `Retry-After`): run, read-only plan, reconcile after a lost answer, every error class.
//! Key Vault keys the same way, against the fake's TLS vault, through the challenge.

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
    vault: Option<String>,
}

impl Azure {
    fn start(polls: u32) -> Azure {
        Self::with_token(polls, TOKEN)
    }

    /// A fake that takes `token`, and actions that send it.
    fn taking(token: &str) -> Azure {
        let mut a = Self::with_token(1, token);
        a.fake = Fake::start("azure.py", 1, &["--token", token]);
        a
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
            vault: None,
        }
    }

    /// With the fake's Key Vault, over TLS, trusting the fake's certificate authority.
    fn with_vault(token: &str) -> Azure {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "drctl-azure-vault-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let fake = Fake::start("azure.py", 1, &["--vault-dir", dir.to_str().unwrap()]);
        let vault = fake.control("GET", "/_fake/vault", &Value::Null);
        let pem = std::fs::read(vault["ca"].as_str().unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_merge([reqwest::Certificate::from_pem(&pem).unwrap()])
            .build()
            .unwrap();
        let specs: Vec<ActionSpec> = drctl_connectors::Registry::builtin()
            .specs()
            .filter(|s| s.name.as_str().starts_with("azure.keyvault."))
            .cloned()
            .collect();
        Azure {
            fake,
            actions: drctl_azure::actions_with_client(&specs, token, http),
            vault: vault["url"].as_str().map(str::to_owned),
        }
    }

    fn action(&self, name: &str) -> &Arc<dyn Action> {
        self.actions
            .iter()
            .find(|a| a.spec().name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} is not implemented"))
    }

    fn input(&self, more: &Value) -> Value {
        let mut input = match &self.vault {
            Some(url) => json!({ "vault_url": url, "key": "mantissa-cmk" }),
            None => json!({
                "subscription_id": SUB, "resource_group": "mantissa-dr",
                "endpoint": self.fake.url, "interval": "10ms", "timeout": "20s",
            }),
        };
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
    // An endpoint as the URL parser reads it (a stray space, an upper-case scheme): the
    // operation's status URL on it is followed; one without a host is refused.
    let odd = json!({ "endpoint": format!(" {}", a.fake.url.replace("http://", "HTTP://")),
                      "failover_policies": to_west()["failover_policies"],
                      "account": "mantissa-logs" });
    assert_eq!(
        a.ok("azure.cosmosdb.failover_priority_change", &odd).await["write_region"],
        "West US 2"
    );
    let m = a
        .permanent(
            "azure.cosmosdb.failover_priority_change",
            &json!({ "endpoint": "http://", "account": "mantissa-logs",
                     "failover_policies": to_west()["failover_policies"] }),
        )
        .await;
    assert!(m.contains("endpoint `http://`"), "{m}");
    // One with a password is refused without quoting it back.
    let m = a
        .permanent(
            "azure.cosmosdb.failover_priority_change",
            &json!({ "endpoint": a.fake.url.replace("http://", "http://u:s3cret@"),
                     "account": "mantissa-logs",
                     "failover_policies": to_west()["failover_policies"] }),
        )
        .await;
    assert!(m.contains("takes no user") && !m.contains("s3cret"), "{m}");
    let m = a
        .permanent(
            "azure.cosmosdb.failover_priority_change",
            &json!({ "endpoint": format!("{}/?subscription-key=s3cret", a.fake.url),
                     "account": "mantissa-logs",
                     "failover_policies": to_west()["failover_policies"] }),
        )
        .await;
    assert!(m.contains("no user, query") && !m.contains("s3cret"), "{m}");
    let back = json!({ "account": "mantissa-logs", "failover_policies": [
        { "location_name": "East US", "failover_priority": 0 },
        { "location_name": "West US 2", "failover_priority": 1 }] });
    a.ok("azure.cosmosdb.failover_priority_change", &back).await;
    // A region twice, a region the account lacks, one of its regions left out: refused
    // before anything is sent, and plan says so.
    for (policies, why) in [
        (
            json!([{ "location_name": "West US 2", "failover_priority": 0 },
                   { "location_name": "westus2", "failover_priority": 1 }]),
            "names region westus2 twice",
        ),
        (
            json!([{ "location_name": "West US 2", "failover_priority": 0 },
                   { "location_name": "North Europe", "failover_priority": 1 },
                   { "location_name": "East US", "failover_priority": 2 }]),
            "has no region North Europe",
        ),
        (
            json!([{ "location_name": "West US 2", "failover_priority": 0 }]),
            "also has region East US",
        ),
    ] {
        let input = json!({ "account": "mantissa-logs", "failover_policies": policies });
        let m = a
            .permanent("azure.cosmosdb.failover_priority_change", &input)
            .await;
        assert!(m.contains(why), "{m}");
        let p = a
            .plan(
                "azure.cosmosdb.failover_priority_change",
                &input,
                Outlook::WouldFail,
            )
            .await;
        assert!(p.contains(why), "{p}");
    }
    assert_eq!(a.fake.calls("POST", "failoverPriorityChange"), 4);
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
async fn a_retry_after_past_the_timeout_still_polls_once_then_says_so() {
    let a = Azure::start(5);
    a.fake
        .control("POST", "/_fake/retry_after", &json!({ "seconds": 30 }));
    let mut input = to_west();
    input["timeout"] = json!("1s");
    let began = Instant::now();
    let m = a
        .retryable("azure.cosmosdb.failover_priority_change", &input)
        .await;
    assert!(m.contains("still running after"), "{m}");
    // One poll at the deadline, not 30 s later and not none.
    assert_eq!(a.fake.calls("GET", "/operationsStatus/"), 1);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    a.no_violations();
}

#[tokio::test]
async fn an_interval_of_zero_still_pauses_between_reads() {
    let a = Azure::start(1);
    a.fake.set(
        &json!(["cosmos", "mantissa-logs", "properties", "provisioningState"]),
        &json!("Updating"),
    );
    let mut input = to_west();
    input["interval"] = json!("0s");
    input["timeout"] = json!("1s");
    let m = a
        .retryable("azure.cosmosdb.failover_priority_change", &input)
        .await;
    assert!(m.contains("not reached"), "{m}");
    // About five reads a second, not as many as the loopback carries.
    let reads = a.fake.calls("GET", "databaseAccounts/mantissa-logs");
    assert!((2..=8).contains(&reads), "{reads} reads in 1 s");
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
    let arm = a
        .actions
        .iter()
        .filter(|x| !x.spec().name.as_str().starts_with("azure.keyvault."))
        .count();
    assert_eq!(every_action().len(), arm, "an action is untested");
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
        for bad in ["../x", ".", "..", "%2E%2E", ".%2e", "a%2Fb"] {
            let mut evil = input.clone();
            evil["resource_group"] = json!(bad);
            let m = a.permanent(name, &evil).await;
            assert!(m.contains("is not a name Azure takes"), "{name} {bad}: {m}");
        }
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
    // An error that echoes the request back (a proxy's page, a verbose gateway): the
    // token is withheld from the step's message.
    for (name, input) in every_action() {
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 403, "code": "Echo",
                     "message": format!("you sent Authorization: Bearer {TOKEN}") }),
        );
        let m = a.permanent(name, &input).await;
        assert!(
            m.contains("Bearer ***") && !m.contains(TOKEN),
            "{name}: {m}"
        );
    }
    // A gateway's page that is not JSON, the token across the 500 characters kept.
    for (name, input) in every_action() {
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 403, "plain": true,
                     "message": format!("{}Bearer {TOKEN} trailing", "x".repeat(480)) }),
        );
        let m = a.permanent(name, &input).await;
        assert!(m.contains("Bearer ***"), "{name}: {m}");
        assert!(!m.contains(&TOKEN[..3]), "{name}: {m}");
    }
    a.no_violations();
    // A token with characters JSON escapes is withheld all the same.
    let odd = "q\"b\\s\tt";
    let a = Azure::taking(odd);
    for (name, input) in every_action() {
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 403, "code": format!("Echo {odd}"),
                     "message": format!("you sent Authorization: Bearer {odd}") }),
        );
        let m = a.permanent(name, &input).await;
        assert!(m.contains("Bearer ***") && !m.contains(odd), "{name}: {m}");
        assert!(m.contains("Echo ***"), "{name}: {m}");
        // JSON cut short by a gateway: not parsed, the token escaped in its text.
        let escaped = serde_json::to_string(odd).unwrap();
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 403, "plain": true,
                     "message": format!("{{\"echo\": \"Bearer {}", escaped.trim_matches('"')) }),
        );
        let m = a.permanent(name, &input).await;
        assert!(m.contains("Bearer ***"), "{name}: {m}");
        assert!(!m.contains("q\\\"b"), "{name}: {m}");
        // Percent-encoded, in a gateway's JSON that is not ARM's error shape (quoted).
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/", "status": 502, "raw": {
                "detail": "access_token=q%22b%5Cs%09t&x=1" } }),
        );
        let m = a.retryable(name, &input).await;
        assert!(m.contains("access_token=***&x=1"), "{name}: {m}");
    }
    // A token that cannot go in a header is refused at once, naming where to look.
    let a = Azure::with_token(1, "line\nbreak");
    for (name, input) in every_action() {
        let m = a.permanent(name, &input).await;
        assert!(m.contains("Azure token in the environment"), "{name}: {m}");
        assert!(!m.contains("break"), "{name}: {m}");
    }
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

fn current(a_read: &Value) -> String {
    a_read["current_version"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn key_vault_key_read_and_rotated_once_through_the_challenge() {
    let a = Azure::with_vault(TOKEN);
    let read = a.ok("azure.keyvault.get_key", &json!({})).await;
    let versions = read["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{read}");
    // The current version is the newest; times come back as RFC 3339.
    assert_eq!(versions[1]["version"], read["current_version"], "{read}");
    assert!(
        versions[0]["created"].as_str().unwrap().ends_with('Z'),
        "{read}"
    );
    let from = current(&read);
    // The client's first call carries no token; the vault's challenge names its audience.
    let first = &a.fake.requests()[0];
    assert_eq!(first["authorized"], false, "{first}");
    assert!(
        a.fake.requests()[1..]
            .iter()
            .all(|r| r["authorized"] == true),
        "only the first call is unauthenticated"
    );

    let s = a
        .plan("azure.keyvault.get_key", &json!({}), Outlook::NoChange)
        .await;
    assert!(
        s.contains(&format!("current version {from}, 2 versions")),
        "{s}"
    );
    let rotate = json!({ "from_version": from });
    let s = a
        .plan("azure.keyvault.rotate_key", &rotate, Outlook::Change)
        .await;
    assert!(s.contains(&format!("a new version replaces {from}")), "{s}");
    assert!(matches!(
        a.reconcile("azure.keyvault.rotate_key", &rotate).await,
        Observed::NotDone
    ));

    let out = a.ok("azure.keyvault.rotate_key", &rotate).await;
    assert_eq!(out["already_rotated"], false, "{out}");
    let new = out["current_version"].as_str().unwrap().to_owned();
    assert_ne!(new, from);
    assert_eq!(a.fake.calls("POST", "/rotate"), 1);
    let rotate_call = a
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r["method"] == "POST")
        .unwrap();
    assert_eq!(rotate_call["query"]["api-version"], "2025-07-01");

    // Three versions: the fake pages two at a time, so the list follows nextLink.
    let read = a.ok("azure.keyvault.get_key", &json!({})).await;
    assert_eq!(current(&read), new);
    assert_eq!(read["versions"].as_array().unwrap().len(), 3, "{read}");
    assert!(
        a.fake
            .requests()
            .iter()
            .any(|r| r["query"]["$skiptoken"].is_string()),
        "the second page was not read"
    );

    // Again with the same guard: done already, nothing sent.
    let out = a.ok("azure.keyvault.rotate_key", &rotate).await;
    assert_eq!(
        (
            out["already_rotated"].clone(),
            out["current_version"].clone()
        ),
        (json!(true), json!(new))
    );
    assert_eq!(a.fake.calls("POST", "/rotate"), 1);
    let s = a
        .plan("azure.keyvault.rotate_key", &rotate, Outlook::NoChange)
        .await;
    assert!(s.contains("rotated already"), "{s}");
    assert_eq!(
        done(a.reconcile("azure.keyvault.rotate_key", &rotate).await)["current_version"],
        json!(new)
    );

    // A version the key never had turns the guard into a refusal, not a rotation.
    let unknown = json!({ "from_version": "0123456789abcdef0123456789abcdef" });
    let m = a.permanent("azure.keyvault.rotate_key", &unknown).await;
    assert!(m.contains("has no version 0123456789abcdef"), "{m}");
    a.plan("azure.keyvault.rotate_key", &unknown, Outlook::WouldFail)
        .await;
    assert!(matches!(
        a.reconcile("azure.keyvault.rotate_key", &unknown).await,
        Observed::Unknown(_)
    ));
    assert_eq!(a.fake.calls("POST", "/rotate"), 1);
    a.no_violations();
}

#[tokio::test]
async fn key_vault_rotation_whose_answer_was_lost_is_not_repeated() {
    let a = Azure::with_vault(TOKEN);
    let from = current(&a.ok("azure.keyvault.get_key", &json!({})).await);
    let rotate = json!({ "from_version": from });
    a.fake.drop_answer("POST", "/rotate");
    a.retryable("azure.keyvault.rotate_key", &rotate).await;
    assert_eq!(a.fake.calls("POST", "/rotate"), 1, "the rotation landed");
    let seen = done(a.reconcile("azure.keyvault.rotate_key", &rotate).await);
    assert_ne!(seen["current_version"], json!(from), "{seen}");
    let out = a.ok("azure.keyvault.rotate_key", &rotate).await;
    assert_eq!(out["already_rotated"], true, "{out}");
    assert_eq!(a.fake.calls("POST", "/rotate"), 1, "rotated twice");
    a.no_violations();
}

#[tokio::test]
async fn key_vault_errors_are_sorted_and_bad_input_is_refused_before_any_call() {
    let a = Azure::with_vault(TOKEN);
    let from = current(&a.ok("azure.keyvault.get_key", &json!({})).await);
    let rotate = json!({ "from_version": from });
    for (name, input) in [
        ("azure.keyvault.get_key", json!({})),
        ("azure.keyvault.rotate_key", rotate.clone()),
    ] {
        a.fake.fail("*", "/keys/", 429, 1);
        let m = a.retryable(name, &input).await;
        assert!(
            m.contains("(HTTP 429)") && m.contains("Retry-After: 7 s"),
            "{name}: {m}"
        );
        for status in [500, 503] {
            a.fake.fail("*", "/keys/", status, 1);
            let m = a.retryable(name, &input).await;
            assert!(m.contains(&format!("(HTTP {status})")), "{name}: {m}");
        }
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/keys/", "status": 403, "code": "Forbidden" }),
        );
        let m = a.permanent(name, &input).await;
        assert!(m.contains("Forbidden (HTTP 403)"), "{name}: {m}");
        // An answer that echoes the token it was sent, anywhere: masked.
        a.fake.control(
            "POST",
            "/_fake/fail",
            &json!({ "path": "/keys/", "status": 403, "code": format!("Echo-{TOKEN}"),
                     "message": format!("you sent token={TOKEN}") }),
        );
        let m = a.permanent(name, &input).await;
        assert!(
            m.contains("Echo-*** (HTTP 403): you sent token=***") && !m.contains(TOKEN),
            "{name}: {m}"
        );
        let mut gone = input.clone();
        gone["key"] = json!("no-such-key");
        let m = a.permanent(name, &gone).await;
        assert!(m.contains("KeyNotFound (HTTP 404)"), "{name}: {m}");
        let before = a.fake.requests().len();
        for (field, bad) in [
            ("key", "../keys/other"),
            ("key", "a?b"),
            ("vault_url", "http://127.0.0.1:1"),
            ("vault_url", "https://kv.vault.azure.net/keys"),
        ] {
            let mut evil = input.clone();
            evil[field] = json!(bad);
            let m = a.permanent(name, &evil).await;
            assert!(m.contains(field), "{name} {field}={bad}: {m}");
        }
        assert_eq!(
            a.fake.requests().len(),
            before,
            "{name} called with bad input"
        );
        let mut closed = input.clone();
        closed["vault_url"] = json!("https://127.0.0.1:9");
        a.retryable(name, &closed).await;
    }
    let m = a
        .permanent(
            "azure.keyvault.rotate_key",
            &json!({ "from_version": "../x" }),
        )
        .await;
    assert!(m.contains("from_version"), "{m}");
    assert_eq!(a.fake.calls("POST", "/rotate"), 0);
    a.no_violations();

    let a = Azure::with_vault("not-the-token");
    let m = a.permanent("azure.keyvault.get_key", &json!({})).await;
    assert!(m.contains("(HTTP 401)"), "{m}");
    assert!(!m.contains("not-the-token"), "{m}");
}
