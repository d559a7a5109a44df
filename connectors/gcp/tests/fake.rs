//! Every GCP action against the GCP fake (`scripts/fakes/gcp.py`, which checks each call
//! against Google's REST references and answers in their shapes): its run, its
//! read-only plan, its reconcile after a crash (the operation already started, or
//! already done), and every error class sorted right.
//!
//! The requests are those of Google's official client libraries; the fake refuses, and
//! lists as a violation, any call its reference does not document. Each test ends by
//! checking that there were none.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/support/fake.rs"]
mod fake;

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{
    Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, RunId, StepId, Timestamp,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use fake::{Fake, TOKEN};

const KEY: &str = "projects/ggen-prod/locations/us-central1/keyRings/ggen/cryptoKeys/app-data";

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

struct Gcp {
    fake: Fake,
    actions: Vec<Arc<dyn Action>>,
}

impl Gcp {
    fn start(polls: u32) -> Gcp {
        Self::with_token(polls, TOKEN)
    }

    fn with_token(polls: u32, token: &str) -> Gcp {
        let specs: Vec<ActionSpec> = drctl_connectors::Registry::builtin()
            .specs()
            .filter(|s| s.name.as_str().starts_with("gcp."))
            .cloned()
            .collect();
        Gcp {
            fake: Fake::start("gcp.py", polls, &[]),
            actions: drctl_gcp::actions_with_token(&specs, token),
        }
    }

    fn action(&self, name: &str) -> &Arc<dyn Action> {
        self.actions
            .iter()
            .find(|a| a.spec().name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} is not implemented"))
    }

    /// The step's input: project, the fake as endpoint, quick polls, and `more`.
    fn input(&self, more: Value) -> Value {
        let mut input = json!({
            "project": "ggen-prod", "endpoint": self.fake.url,
            "interval": "10ms", "timeout": "20s",
        });
        let Value::Object(more) = more else {
            panic!("an input is a map")
        };
        for (k, v) in more {
            input[k] = v;
        }
        input
    }

    async fn run(&self, name: &str, more: Value) -> Result<Value, ActionError> {
        let ctx = ctx();
        let call = self.action(name).run(&ctx, self.input(more));
        tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .unwrap_or_else(|_| panic!("{name} did not answer within 60 s"))
    }

    async fn ok(&self, name: &str, more: Value) -> Value {
        self.run(name, more)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    async fn permanent(&self, name: &str, more: Value) -> String {
        match self.run(name, more).await {
            Err(ActionError::Permanent(m)) => m,
            other => panic!("{name}: expected a permanent error, got {other:?}"),
        }
    }

    async fn retryable(&self, name: &str, more: Value) -> String {
        match self.run(name, more).await {
            Err(ActionError::Retryable(m)) => m,
            other => panic!("{name}: expected a retryable error, got {other:?}"),
        }
    }

    /// A plan, checked to be read-only: no call but GETs.
    async fn plan(&self, name: &str, more: Value, outlook: Outlook) -> String {
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

    async fn reconcile(&self, name: &str, more: Value) -> Observed {
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

#[tokio::test]
async fn sql_promote_replica_waits_for_its_operation_and_is_not_repeated() {
    let g = Gcp::start(3);
    let replica = json!({ "instance": "ggen-db-east" });
    let summary = g
        .plan("gcp.sql.promote_replica", replica.clone(), Outlook::Change)
        .await;
    assert!(
        summary.contains("replica of ggen-prod:ggen-db-central"),
        "{summary}"
    );
    assert!(matches!(
        g.reconcile("gcp.sql.promote_replica", replica.clone())
            .await,
        Observed::NotDone
    ));

    let out = g.ok("gcp.sql.promote_replica", replica.clone()).await;
    assert_eq!(out["promoted"], true);
    assert_eq!(out["instance_type"], "CLOUD_SQL_INSTANCE");
    assert_eq!(out["operation_status"], "DONE");
    assert_eq!(out["was_replica_of"], "ggen-prod:ggen-db-central");
    // Three reads of the operation before it was done.
    assert_eq!(g.fake.calls("GET", "/operations/op-"), 3);

    // Done: the plan says so, and a second run calls nothing.
    g.plan(
        "gcp.sql.promote_replica",
        replica.clone(),
        Outlook::NoChange,
    )
    .await;
    let again = g.ok("gcp.sql.promote_replica", replica.clone()).await;
    assert_eq!(again["already_standalone"], true);
    assert_eq!(g.fake.calls("POST", "promoteReplica"), 1);
    done(g.reconcile("gcp.sql.promote_replica", replica).await);

    let m = g
        .permanent("gcp.sql.promote_replica", json!({ "instance": "nope" }))
        .await;
    assert!(m.contains("no instance `nope`"), "{m}");
    g.no_violations();
}

#[tokio::test]
async fn sql_promote_after_a_crash_finds_the_operation_already_started() {
    let g = Gcp::start(3);
    let replica = json!({ "instance": "ggen-db-east" });
    // The call lands and starts the operation, but its answer is lost.
    g.fake.drop_answer("POST", "promoteReplica");
    let m = g
        .retryable("gcp.sql.promote_replica", replica.clone())
        .await;
    assert!(m.contains("promoteReplica of ggen-db-east"), "{m}");
    // Reconcile finds the running operation, waits for it, and says done.
    let out = done(
        g.reconcile("gcp.sql.promote_replica", replica.clone())
            .await,
    );
    assert_eq!(out["instance_type"], "CLOUD_SQL_INSTANCE");
    assert_eq!(g.fake.calls("POST", "promoteReplica"), 1);

    // A retry instead of reconcile also waits for the started operation.
    let g = Gcp::start(3);
    g.fake.drop_answer("POST", "promoteReplica");
    g.retryable("gcp.sql.promote_replica", replica.clone())
        .await;
    let out = g.ok("gcp.sql.promote_replica", replica).await;
    assert_eq!(out["resumed_operation"], true);
    assert_eq!(g.fake.calls("POST", "promoteReplica"), 1);
    g.no_violations();
}

#[tokio::test]
async fn sql_failover_moves_the_primary_once() {
    let g = Gcp::start(2);
    let ha = json!({ "instance": "ggen-db-central", "from_zone": "us-central1-a" });
    let s = g
        .plan("gcp.sql.failover", ha.clone(), Outlook::Change)
        .await;
    assert!(s.contains("from us-central1-a to us-central1-b"), "{s}");
    assert!(matches!(
        g.reconcile("gcp.sql.failover", ha.clone()).await,
        Observed::NotDone
    ));
    let out = g.ok("gcp.sql.failover", ha.clone()).await;
    assert_eq!(out["zone"], "us-central1-b");
    assert_eq!(out["previous_zone"], "us-central1-a");
    // The fake checked the settings version it was sent against the instance's.
    let sent = g
        .fake
        .requests()
        .into_iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/failover"))
        .unwrap();
    assert_eq!(sent["body"]["failoverContext"]["settingsVersion"], "7");

    g.plan("gcp.sql.failover", ha.clone(), Outlook::NoChange)
        .await;
    let again = g.ok("gcp.sql.failover", ha.clone()).await;
    assert_eq!(again["failed_over"], false);
    assert_eq!(g.fake.calls("POST", "/failover"), 1);
    done(g.reconcile("gcp.sql.failover", ha).await);

    // A zone the instance does not have is a typo, not a failover already done.
    let m = g
        .permanent(
            "gcp.sql.failover",
            json!({ "instance": "ggen-db-central", "from_zone": "us-central1-q" }),
        )
        .await;
    assert!(
        m.contains("from_zone us-central1-q is not a zone of"),
        "{m}"
    );
    // Without from_zone, and nothing running, reconcile cannot tell.
    assert!(matches!(
        g.reconcile("gcp.sql.failover", json!({ "instance": "ggen-db-central" }))
            .await,
        Observed::Unknown(_)
    ));
    // A zonal instance has no standby: the plan says so, and Google refuses (400).
    g.plan(
        "gcp.sql.failover",
        json!({ "instance": "ggen-db-east" }),
        Outlook::WouldFail,
    )
    .await;
    let m = g
        .permanent("gcp.sql.failover", json!({ "instance": "ggen-db-east" }))
        .await;
    assert!(m.contains("INVALID_ARGUMENT (HTTP 400)"), "{m}");
    g.no_violations();
}

#[tokio::test]
async fn sql_failover_after_a_crash_waits_for_the_running_operation() {
    let g = Gcp::start(4);
    let ha = json!({ "instance": "ggen-db-central", "from_zone": "us-central1-a" });
    g.fake.drop_answer("POST", "/failover");
    g.retryable("gcp.sql.failover", ha.clone()).await;
    let out = done(g.reconcile("gcp.sql.failover", ha).await);
    assert_eq!(out["zone"], "us-central1-b");
    assert_eq!(g.fake.calls("POST", "/failover"), 1);
    g.no_violations();
}

#[tokio::test]
async fn sql_clone_to_time_makes_the_instance_once() {
    let g = Gcp::start(2);
    let clone = json!({
        "instance": "ggen-db-central", "destination": "ggen-db-restore",
        "point_in_time": "2026-12-01T09:30:00Z",
    });
    g.plan("gcp.sql.clone_to_time", clone.clone(), Outlook::Change)
        .await;
    g.fake.drop_answer("POST", "/clone");
    g.retryable("gcp.sql.clone_to_time", clone.clone()).await;
    let out = done(g.reconcile("gcp.sql.clone_to_time", clone.clone()).await);
    assert_eq!(out["instance"], "ggen-db-restore");
    let again = g.ok("gcp.sql.clone_to_time", clone.clone()).await;
    assert_eq!(again["resumed"], true);
    // Another instance of that name is not a restore: refused, as is the source itself.
    let m = g
        .permanent(
            "gcp.sql.clone_to_time",
            json!({ "instance": "ggen-db-central", "destination": "ggen-db-east",
                    "point_in_time": "2026-12-01T09:30:00Z" }),
        )
        .await;
    assert!(m.contains("no clone of ggen-db-central made it"), "{m}");
    let m = g
        .permanent(
            "gcp.sql.clone_to_time",
            json!({ "instance": "ggen-db-central", "destination": "ggen-db-central",
                    "point_in_time": "2026-12-01T09:30:00Z" }),
        )
        .await;
    assert!(m.contains("not its source"), "{m}");
    assert_eq!(g.fake.calls("POST", "/clone"), 1);
    let requests = g.fake.requests();
    let sent = &requests
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/clone"))
        .unwrap()["body"]["cloneContext"];
    assert_eq!(sent["pointInTime"], "2026-12-01T09:30:00Z");
    assert_eq!(sent["destinationInstanceName"], "ggen-db-restore");

    // A fresh clone runs to the end in one call.
    let out = g
        .ok(
            "gcp.sql.clone_to_time",
            json!({ "instance": "ggen-db-central", "destination": "ggen-db-restore-2",
                    "point_in_time": "2026-12-01T10:00:00+01:00" }),
        )
        .await;
    assert_eq!(out["cloned"], true);
    let m = g
        .permanent(
            "gcp.sql.clone_to_time",
            json!({ "instance": "ggen-db-central", "destination": "x", "point_in_time": "yesterday" }),
        )
        .await;
    assert!(m.contains("not an RFC 3339 time"), "{m}");
    g.no_violations();
}

#[tokio::test]
async fn memorystore_failover_and_its_reconcile() {
    let g = Gcp::start(3);
    let cache = json!({ "region": "us-east1", "instance": "ggen-cache-east",
                        "from_zone": "us-east1-c" });
    g.plan("gcp.redis.failover", cache.clone(), Outlook::Change)
        .await;
    let out = g.ok("gcp.redis.failover", cache.clone()).await;
    assert_eq!(out["zone"], "us-east1-b");
    assert_eq!(out["state"], "READY");
    let sent = g
        .fake
        .requests()
        .into_iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(":failover"))
        .unwrap();
    // LIMITED_DATA_LOSS, as a number: the libraries ask for `$alt=json;enum-encoding=int`.
    assert_eq!(sent["body"]["dataProtectionMode"], 1);
    g.plan("gcp.redis.failover", cache.clone(), Outlook::NoChange)
        .await;
    assert_eq!(
        g.ok("gcp.redis.failover", cache.clone()).await["failed_over"],
        false
    );
    done(g.reconcile("gcp.redis.failover", cache).await);

    // Crash after the call: the instance is FAILING_OVER; reconcile waits it out.
    let back = json!({ "region": "us-east1", "instance": "ggen-cache-east",
                       "from_zone": "us-east1-b" });
    g.fake.drop_answer("POST", ":failover");
    g.retryable("gcp.redis.failover", back.clone()).await;
    let out = done(g.reconcile("gcp.redis.failover", back).await);
    assert_eq!(out["zone"], "us-east1-c");
    assert_eq!(g.fake.calls("POST", ":failover"), 2);

    let m = g
        .permanent(
            "gcp.redis.failover",
            json!({ "region": "us-east1", "instance": "ggen-cache-east", "from_zone": "us-east1-z" }),
        )
        .await;
    assert!(m.contains("from_zone us-east1-z is not a zone of"), "{m}");
    // Basic tier: no replica.
    let basic = json!({ "region": "us-east1", "instance": "ggen-cache-basic" });
    g.plan("gcp.redis.failover", basic.clone(), Outlook::WouldFail)
        .await;
    let m = g.permanent("gcp.redis.failover", basic).await;
    assert!(m.contains("STANDARD_HA"), "{m}");
    g.no_violations();
}

#[tokio::test]
async fn backend_capacity_moves_in_stages_and_is_read_back() {
    let g = Gcp::start(2);
    let stage = |a: f64, b: f64| {
        json!({ "backend_service": "ggen-web", "backends": [
            { "group": "zones/us-central1-a/instanceGroups/ggen-web-central", "capacity_scaler": a },
            { "group": "instanceGroups/ggen-web-east", "capacity_scaler": b },
        ]})
    };
    let s = g
        .plan("gcp.compute.set_backends", stage(0.5, 0.5), Outlook::Change)
        .await;
    assert!(
        s.contains("capacity 1 -> 0.5") && s.contains("capacity 0 -> 0.5"),
        "{s}"
    );
    let out = g.ok("gcp.compute.set_backends", stage(0.5, 0.5)).await;
    assert_eq!(out["changed"], true);
    assert_eq!(out["backends"][1]["capacity_scaler"], 0.5);
    // The whole list went back with the fingerprint read, as the reference asks.
    let patch = g
        .fake
        .requests()
        .into_iter()
        .find(|r| r["method"] == "PATCH")
        .unwrap();
    assert_eq!(patch["body"]["fingerprint"], "ZnAtMQ==");
    assert_eq!(patch["body"]["backends"].as_array().unwrap().len(), 2);

    let out = g.ok("gcp.compute.set_backends", stage(0.5, 0.5)).await;
    assert_eq!(out["changed"], false);
    done(
        g.reconcile("gcp.compute.set_backends", stage(0.5, 0.5))
            .await,
    );
    assert!(matches!(
        g.reconcile("gcp.compute.set_backends", stage(0.0, 1.0))
            .await,
        Observed::NotDone
    ));
    let out = g.ok("gcp.compute.set_backends", stage(0.0, 1.0)).await;
    assert_eq!(out["backends"][0]["capacity_scaler"], 0.0);

    // Someone else changed the service between our read and write: 412, retryable.
    g.fake.fail("PATCH", "backendServices/ggen-web", 412, 1);
    let m = g
        .retryable("gcp.compute.set_backends", stage(1.0, 1.0))
        .await;
    assert!(m.contains("412"), "{m}");
    // A group the service does not have.
    let m = g
        .permanent(
            "gcp.compute.set_backends",
            json!({ "backend_service": "ggen-web", "backends": [
                { "group": "instanceGroups/ggen-web-west", "capacity_scaler": 1.0 }]}),
        )
        .await;
    assert!(
        m.contains("no backend `instanceGroups/ggen-web-west`"),
        "{m}"
    );
    g.no_violations();
}

#[tokio::test]
async fn dns_changes_only_from_the_expected_values() {
    let g = Gcp::start(2);
    let to_b = json!({ "managed_zone": "ggen", "changes": [
        { "name": "app.ggen.example.", "type": "A", "ttl": 30,
          "rrdatas": ["198.51.100.10"], "expect": ["203.0.113.10"] }]});
    let s = g
        .plan("gcp.dns.change_records", to_b.clone(), Outlook::Change)
        .await;
    assert!(
        s.contains("[\"203.0.113.10\"] -> [\"198.51.100.10\"]"),
        "{s}"
    );
    let out = g.ok("gcp.dns.change_records", to_b.clone()).await;
    assert_eq!(out["status"], "done");
    assert_eq!(g.fake.calls("GET", "/changes/"), 2);
    let again = g.ok("gcp.dns.change_records", to_b.clone()).await;
    assert_eq!(again["changed"], false);
    done(g.reconcile("gcp.dns.change_records", to_b).await);

    // Someone else pointed it elsewhere: the precondition refuses, nothing changes.
    let back = json!({ "managed_zone": "ggen", "changes": [
        { "name": "app.ggen.example.", "type": "A", "ttl": 60,
          "rrdatas": ["203.0.113.10"], "expect": ["192.0.2.99"] }]});
    g.plan("gcp.dns.change_records", back.clone(), Outlook::WouldFail)
        .await;
    let m = g.permanent("gcp.dns.change_records", back).await;
    assert!(m.contains("nothing was changed"), "{m}");
    assert_eq!(g.fake.calls("POST", "/changes"), 1);
    // A new record, expected absent.
    let new = json!({ "managed_zone": "ggen", "changes": [
        { "name": "status.ggen.example.", "type": "CNAME", "rrdatas": ["app.ggen.example."],
          "expect": [] }]});
    assert_eq!(g.ok("gcp.dns.change_records", new).await["changed"], true);

    // The answer to a change is lost: the retry finds the records changed, and still
    // waits until Cloud DNS says the change is done.
    let back = json!({ "managed_zone": "ggen", "changes": [
        { "name": "app.ggen.example.", "type": "A", "ttl": 60,
          "rrdatas": ["203.0.113.10"], "expect": ["198.51.100.10"] }]});
    g.fake.drop_answer("POST", "/changes");
    g.retryable("gcp.dns.change_records", back.clone()).await;
    let out = g.ok("gcp.dns.change_records", back).await;
    assert_eq!(out["changed"], false);
    assert_eq!(out["waited_for_change"], "3");
    assert_eq!(g.fake.state()["dns_changes"]["ggen/3"]["status"], "done");
    // Names Cloud DNS would refuse are refused before any call.
    let m = g
        .permanent(
            "gcp.dns.change_records",
            json!({ "managed_zone": "ggen", "changes": [
                { "name": "app.ggen.example", "type": "A", "rrdatas": ["192.0.2.1"] }]}),
        )
        .await;
    assert!(m.contains("ending in a dot"), "{m}");
    g.no_violations();
}

#[tokio::test]
async fn kms_rotation_with_rewrap_and_retirement() {
    let g = Gcp::start(1);
    let key = json!({ "location": "us-central1", "key_ring": "ggen", "key": "app-data" });
    let with = |more: Value| {
        let mut k = key.clone();
        for (a, b) in more.as_object().unwrap() {
            k[a] = b.clone();
        }
        k
    };
    // A ciphertext of the old version, made through the fake's own encrypt.
    let old = g.ok(
        "gcp.kms.rewrap",
        with(json!({ "ciphertext": "ZmFrZS1rbXMtdjE6Pj8+" })),
    );
    let old = old.await;
    assert_eq!(old["version"], 1);

    let read = g.ok("gcp.kms.get_key", key.clone()).await;
    assert_eq!(read["primary"], 1);
    assert_eq!(
        read["versions"],
        json!([{ "version": 1, "state": "ENABLED",
        "name": format!("{KEY}/cryptoKeyVersions/1") }])
    );
    g.plan(
        "gcp.kms.create_version",
        with(json!({ "newer_than": 1 })),
        Outlook::Change,
    )
    .await;
    let out = g
        .ok("gcp.kms.create_version", with(json!({ "newer_than": 1 })))
        .await;
    assert_eq!(out["version"], 2);
    assert_eq!(out["primary"], 2);
    assert_eq!(out["previous_primary"], 1);
    // A retry after a crash finds version 2 and makes no third.
    let again = g
        .ok("gcp.kms.create_version", with(json!({ "newer_than": 1 })))
        .await;
    assert_eq!(
        (again["version"].clone(), again["created"].clone()),
        (json!(2), json!(false))
    );
    assert_eq!(g.fake.calls("POST", "/cryptoKeyVersions"), 1);
    // A version the key does not have would turn the guard off: refused.
    let m = g
        .permanent("gcp.kms.create_version", with(json!({ "newer_than": 5 })))
        .await;
    assert!(m.contains("which the key does not have"), "{m}");
    done(
        g.reconcile("gcp.kms.create_version", with(json!({ "newer_than": 1 })))
            .await,
    );
    assert!(matches!(
        g.reconcile("gcp.kms.create_version", key.clone()).await,
        Observed::Unknown(_)
    ));

    // Rewrap moves the old ciphertext to version 2, without returning the plaintext.
    let new = g
        .ok(
            "gcp.kms.rewrap",
            with(json!({ "ciphertext": old["ciphertext"] })),
        )
        .await;
    assert_eq!(new["version"], 2);
    assert!(new.get("plaintext").is_none());

    // The primary is never retired; the old version is.
    let m = g
        .permanent("gcp.kms.destroy_version", with(json!({ "version": 2 })))
        .await;
    assert!(m.contains("is the primary"), "{m}");
    g.plan(
        "gcp.kms.disable_version",
        with(json!({ "version": "1" })),
        Outlook::Change,
    )
    .await;
    let out = g
        .ok("gcp.kms.disable_version", with(json!({ "version": 1 })))
        .await;
    assert_eq!(out["state"], "DISABLED");
    done(
        g.reconcile("gcp.kms.disable_version", with(json!({ "version": 1 })))
            .await,
    );
    let out = g
        .ok("gcp.kms.destroy_version", with(json!({ "version": 1 })))
        .await;
    assert_eq!(out["state"], "DESTROY_SCHEDULED");
    g.plan(
        "gcp.kms.destroy_version",
        with(json!({ "version": 1 })),
        Outlook::NoChange,
    )
    .await;
    // set_primary back to a destroyed version: the plan and Google both refuse.
    g.plan(
        "gcp.kms.set_primary",
        with(json!({ "version": 1 })),
        Outlook::WouldFail,
    )
    .await;
    g.permanent("gcp.kms.set_primary", with(json!({ "version": 1 })))
        .await;
    assert_eq!(
        g.fake.state()["kms"][KEY]["primary"],
        2,
        "the primary stays"
    );
    g.no_violations();
}

/// One valid input per action, for the error classes.
fn every_action() -> Vec<(&'static str, Value)> {
    let key = |more: Value| {
        let mut k = json!({ "location": "us-central1", "key_ring": "ggen", "key": "app-data" });
        for (a, b) in more.as_object().unwrap() {
            k[a] = b.clone();
        }
        k
    };
    vec![
        (
            "gcp.sql.promote_replica",
            json!({ "instance": "ggen-db-east" }),
        ),
        (
            "gcp.sql.failover",
            json!({ "instance": "ggen-db-central", "from_zone": "us-central1-a" }),
        ),
        (
            "gcp.sql.clone_to_time",
            json!({ "instance": "ggen-db-central", "destination": "c",
                    "point_in_time": "2026-12-01T09:30:00Z" }),
        ),
        (
            "gcp.redis.failover",
            json!({ "region": "us-east1", "instance": "ggen-cache-east",
                    "from_zone": "us-east1-c" }),
        ),
        (
            "gcp.compute.set_backends",
            json!({ "backend_service": "ggen-web", "backends": [
                { "group": "instanceGroups/ggen-web-east", "capacity_scaler": 0.5 }]}),
        ),
        (
            "gcp.dns.change_records",
            json!({ "managed_zone": "ggen", "changes": [
                { "name": "app.ggen.example.", "type": "A", "rrdatas": ["198.51.100.10"] }]}),
        ),
        ("gcp.kms.get_key", key(json!({}))),
        ("gcp.kms.create_version", key(json!({ "newer_than": 1 }))),
        ("gcp.kms.set_primary", key(json!({ "version": 1 }))),
        ("gcp.kms.disable_version", key(json!({ "version": 1 }))),
        ("gcp.kms.destroy_version", key(json!({ "version": 1 }))),
        (
            "gcp.kms.rewrap",
            key(json!({ "ciphertext": "ZmFrZS1rbXMtdjE6Pj8+" })),
        ),
    ]
}

#[tokio::test]
async fn every_action_sorts_throttling_outages_and_refusals() {
    let g = Gcp::start(1);
    assert_eq!(
        every_action().len(),
        g.actions.len(),
        "an action is untested"
    );
    for (name, input) in every_action() {
        // Throttled, with Google's Retry-After: retryable, and the wait is quoted.
        g.fake.fail("*", "/", 429, 1);
        let m = g.retryable(name, input.clone()).await;
        assert!(
            m.contains("RESOURCE_EXHAUSTED (HTTP 429)") && m.contains("Retry-After: 7"),
            "{name}: {m}"
        );
        for status in [500, 503] {
            g.fake.fail("*", "/", status, 1);
            let m = g.retryable(name, input.clone()).await;
            assert!(m.contains(&format!("HTTP {status}")), "{name}: {m}");
        }
        g.fake.fail("*", "/", 403, 1);
        let m = g.permanent(name, input.clone()).await;
        assert!(m.contains("PERMISSION_DENIED (HTTP 403)"), "{name}: {m}");
        // Nothing there: a missing project.
        let mut missing = input.clone();
        missing["project"] = json!("gone-project");
        let m = g.permanent(name, missing).await;
        assert!(m.contains("NOT_FOUND") || m.contains("no "), "{name}: {m}");
    }
    // Nothing answers: retryable.
    for (name, mut input) in every_action() {
        input["endpoint"] = json!("http://127.0.0.1:9");
        let ctx = ctx();
        let call = g.action(name).run(&ctx, {
            let mut i = g.input(json!({}));
            for (k, v) in input.as_object().unwrap() {
                i[k] = v.clone();
            }
            i
        });
        assert!(
            matches!(call.await, Err(ActionError::Retryable(_))),
            "{name} against a closed port"
        );
    }
    g.no_violations();

    // A token Google does not take: permanent, and the token is not in the message.
    let g = Gcp::with_token(1, "not-the-token");
    for (name, input) in every_action() {
        let m = g.permanent(name, input).await;
        assert!(m.contains("UNAUTHENTICATED (HTTP 401)"), "{name}: {m}");
        assert!(!m.contains("not-the-token"), "{name}: {m}");
    }
}
