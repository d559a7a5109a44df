//! Every AWS action against the AWS API emulator (moto, started here on a free port and
//! seeded by `scripts/lab.d/aws_seed.py`): its run, its read-only plan, its reconcile where
//! it has one, and its failures sorted right: a missing resource is permanent, bad
//! credentials are permanent, an unreachable endpoint is retryable.
//!
//! The requests are the official SDK's, built from AWS's own service models, and moto
//! parses them as AWS documents them. What moto cannot show: Route 53 changes are INSYNC
//! at once, its health checkers always report success, RDS resources are available at
//! once; the waits are still exercised (a health check waited for until a timeout).

#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{
    Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, RunId, StepId, Timestamp,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use moto::Moto;

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

struct Aws {
    actions: Vec<Arc<dyn Action>>,
    base: Value,
}

impl Aws {
    fn new(url: &str, key: &str) -> Aws {
        let specs: Vec<ActionSpec> = drctl_connectors::Registry::builtin()
            .specs()
            .filter(|s| s.name.as_str().starts_with("aws."))
            .cloned()
            .collect();
        let credentials =
            aws_sdk_kms::config::Credentials::new(key, "testing", None, None, "emulator-test");
        Aws {
            actions: drctl_aws::actions_with_credentials(&specs, credentials),
            base: json!({ "region": "us-east-1", "endpoint_url": url }),
        }
    }

    fn action(&self, name: &str) -> &Arc<dyn Action> {
        self.actions
            .iter()
            .find(|a| a.spec().name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} is not implemented"))
    }

    fn input(&self, more: Value) -> Value {
        let mut input = self.base.clone();
        let Value::Object(more) = more else {
            panic!("an input is a map")
        };
        for (k, v) in more {
            input[k] = v;
        }
        input
    }

    /// One call; a call that hangs fails the test with its name instead of hanging it.
    async fn run(&self, name: &str, more: Value) -> Result<Value, ActionError> {
        let ctx = ctx("s");
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

    async fn permanent(&self, name: &str, more: Value, what: &str) -> String {
        match self.run(name, more).await {
            Err(ActionError::Permanent(m)) => m,
            other => panic!("{name}, {what}: expected a permanent error, got {other:?}"),
        }
    }

    async fn plan(&self, name: &str, more: Value, outlook: Outlook) -> String {
        let p = self
            .action(name)
            .plan(&ctx("s"), self.input(more))
            .await
            .unwrap_or_else(|e| panic!("{name} plan: {e:?}"))
            .unwrap();
        assert_eq!(p.outlook, outlook, "{name}: {}", p.summary);
        p.summary
    }

    async fn reconcile(&self, name: &str, more: Value) -> Observed {
        self.action(name)
            .reconcile(&ctx("s"), self.input(more))
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_action_against_the_emulator() {
    let moto = Moto::start(&[]);
    let seed = moto.seed();
    let aws = Aws::new(&moto.url, "testing");
    route53(&aws, &seed).await;
    rds(&aws).await;
    autoscaling(&aws).await;
    kms(&aws, &seed).await;
    secrets(&aws).await;
    failures(&seed).await;
}

async fn route53(aws: &Aws, seed: &Value) {
    let zone = seed["hosted_zone_id"].as_str().unwrap();
    let switch = json!({
        "hosted_zone_id": zone,
        "changes": [
            { "name": "app.dr.example.test", "type": "A", "ttl": 60, "set_identifier": "primary",
              "failover": "PRIMARY", "health_check_id": seed["health_check_b"],
              "records": [seed["address_b"]] },
            { "name": "api.dr.example.test.", "type": "A", "ttl": 60, "set_identifier": "b",
              "weight": 100, "records": ["198.51.100.20"] },
            { "name": "api.dr.example.test.", "type": "A", "ttl": 60, "set_identifier": "a",
              "weight": 0, "records": ["203.0.113.20"] },
        ],
        "interval": "100ms",
    });
    let p = aws
        .plan(
            "aws.route53.change_records",
            switch.clone(),
            Outlook::Change,
        )
        .await;
    assert!(
        p.contains("app.dr.example.test. A [primary] 203.0.113.10 -> 198.51.100.10"),
        "{p}"
    );
    assert!(
        p.contains("[b] 198.51.100.20 weight 0 -> 198.51.100.20 weight 100"),
        "{p}"
    );
    let out = aws.ok("aws.route53.change_records", switch.clone()).await;
    assert_eq!(out["status"], "INSYNC", "{out}");
    assert!(
        out["change_id"].as_str().is_some_and(|c| !c.is_empty()),
        "{out}"
    );
    aws.plan(
        "aws.route53.change_records",
        switch.clone(),
        Outlook::NoChange,
    )
    .await;
    // Sent again (a retry): the same records, no error.
    aws.ok("aws.route53.change_records", switch.clone()).await;
    let mut wrong_zone = switch;
    wrong_zone["hosted_zone_id"] = json!("ZNOSUCHZONE");
    let e = aws
        .permanent("aws.route53.change_records", wrong_zone, "an unknown zone")
        .await;
    assert!(e.contains("NoSuchHostedZone"), "{e}");

    let hc = json!({ "health_check_id": seed["health_check_a"] });
    let out = aws.ok("aws.route53.health_check_status", hc.clone()).await;
    assert_eq!(out["status"], "healthy", "{out}");
    assert!(out["checkers"].as_u64().unwrap() > 0, "{out}");
    let p = aws
        .plan(
            "aws.route53.health_check_status",
            hc.clone(),
            Outlook::Reads,
        )
        .await;
    assert!(p.contains("healthy"), "{p}");
    // Waiting for a verdict the checkers never give: retryable, after the timeout.
    let mut waiting = hc.clone();
    waiting["expect"] = json!("unhealthy");
    let r = aws
        .run("aws.route53.health_check_status", waiting.clone())
        .await;
    assert!(
        matches!(&r, Err(ActionError::Retryable(m)) if m.contains("is healthy")),
        "{r:?}"
    );
    waiting["wait"] = json!(true);
    waiting["interval"] = json!("100ms");
    waiting["timeout"] = json!("500ms");
    let r = aws.run("aws.route53.health_check_status", waiting).await;
    assert!(
        matches!(&r, Err(ActionError::Retryable(m)) if m.contains("not reached")),
        "{r:?}"
    );
    // The engine cancels a call (cancel, pause, step timeout) while AWS has not answered:
    // here an endpoint that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let ctx = ctx("s");
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    let r = aws
        .action("aws.route53.health_check_status")
        .run(
            &ctx,
            aws.input(
                json!({ "health_check_id": seed["health_check_a"], "endpoint_url": silent_url }),
            ),
        )
        .await;
    assert_eq!(r, Err(ActionError::Cancelled));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let e = aws
        .permanent(
            "aws.route53.health_check_status",
            json!({ "health_check_id": "00000000-0000-0000-0000-000000000000" }),
            "an unknown health check",
        )
        .await;
    assert!(e.contains("NoSuchHealthCheck"), "{e}");
}

async fn rds(aws: &Aws) {
    // Promote the read replica. moto accepts PromoteReadReplica but keeps reporting the
    // instance's ReadReplicaSourceDBInstanceIdentifier afterwards (AWS clears it), so the
    // wait for a standalone instance cannot end on the emulator: the call is checked
    // without waiting, and the "already standalone" branch on the primary, which never
    // was a replica.
    let promote = json!({ "db_instance_identifier": "app-db-b", "wait": false });
    assert_eq!(
        aws.reconcile("aws.rds.promote_read_replica", promote.clone())
            .await,
        Observed::NotDone
    );
    let p = aws
        .plan(
            "aws.rds.promote_read_replica",
            promote.clone(),
            Outlook::Change,
        )
        .await;
    assert!(p.contains("replica of app-db-a"), "{p}");
    let out = aws.ok("aws.rds.promote_read_replica", promote).await;
    assert_eq!(out["was_replica_of"], "app-db-a", "{out}");
    assert_eq!(out["already_standalone"], false, "{out}");
    let standalone = json!({ "db_instance_identifier": "app-db-a" });
    assert!(matches!(
        aws.reconcile("aws.rds.promote_read_replica", standalone.clone()).await,
        Observed::Done(o) if o["replica_of"].is_null()
    ));
    let again = aws
        .ok("aws.rds.promote_read_replica", standalone.clone())
        .await;
    assert_eq!(again["already_standalone"], true, "no call: {again}");
    aws.plan(
        "aws.rds.promote_read_replica",
        standalone,
        Outlook::NoChange,
    )
    .await;
    let e = aws
        .permanent(
            "aws.rds.promote_read_replica",
            json!({ "db_instance_identifier": "no-such-db" }),
            "an unknown instance",
        )
        .await;
    assert!(e.contains("no DB instance `no-such-db`"), "{e}");

    // Fail the cluster over to its reader.
    let failover = json!({ "db_cluster_identifier": "app-cluster",
                           "target_db_instance_identifier": "app-cluster-2", "interval": "100ms" });
    let p = aws
        .plan(
            "aws.rds.failover_cluster",
            failover.clone(),
            Outlook::Change,
        )
        .await;
    assert!(p.contains("writer app-cluster-1 -> app-cluster-2"), "{p}");
    assert_eq!(
        aws.reconcile("aws.rds.failover_cluster", failover.clone())
            .await,
        Observed::NotDone
    );
    let out = aws.ok("aws.rds.failover_cluster", failover.clone()).await;
    assert_eq!(
        (&out["previous_writer"], &out["writer"], &out["failed_over"]),
        (
            &json!("app-cluster-1"),
            &json!("app-cluster-2"),
            &json!(true)
        ),
        "{out}"
    );
    assert!(matches!(
        aws.reconcile("aws.rds.failover_cluster", failover.clone()).await,
        Observed::Done(o) if o["writer"] == "app-cluster-2"
    ));
    let again = aws.ok("aws.rds.failover_cluster", failover.clone()).await;
    assert_eq!(again["failed_over"], false, "never moved back: {again}");
    let mut elsewhere = failover;
    elsewhere["target_db_instance_identifier"] = json!("app-db-a");
    aws.plan("aws.rds.failover_cluster", elsewhere, Outlook::WouldFail)
        .await;
    assert!(matches!(
        aws.reconcile(
            "aws.rds.failover_cluster",
            json!({ "db_cluster_identifier": "app-cluster" })
        )
        .await,
        Observed::Unknown(_)
    ));
    let e = aws
        .permanent(
            "aws.rds.failover_cluster",
            json!({ "db_cluster_identifier": "no-such-cluster" }),
            "an unknown cluster",
        )
        .await;
    assert!(e.contains("no DB cluster"), "{e}");

    // Restore to a point in time, as a new instance.
    let restore = json!({ "source_db_instance_identifier": "app-db-a",
                          "target_db_instance_identifier": "app-db-restored",
                          "use_latest_restorable_time": true, "interval": "100ms" });
    assert_eq!(
        aws.reconcile("aws.rds.restore_to_point_in_time", restore.clone())
            .await,
        Observed::NotDone
    );
    let p = aws
        .plan(
            "aws.rds.restore_to_point_in_time",
            restore.clone(),
            Outlook::Change,
        )
        .await;
    assert!(
        p.contains("new instance app-db-restored from app-db-a"),
        "{p}"
    );
    let out = aws
        .ok("aws.rds.restore_to_point_in_time", restore.clone())
        .await;
    assert_eq!(out["status"], "available", "{out}");
    assert!(matches!(
        aws.reconcile("aws.rds.restore_to_point_in_time", restore.clone()).await,
        Observed::Done(o) if o["db_instance_identifier"] == "app-db-restored"
    ));
    let e = aws
        .permanent(
            "aws.rds.restore_to_point_in_time",
            restore.clone(),
            "a target that exists",
        )
        .await;
    assert!(e.contains("exists"), "{e}");
    aws.plan(
        "aws.rds.restore_to_point_in_time",
        restore,
        Outlook::WouldFail,
    )
    .await;
    let e = aws
        .permanent(
            "aws.rds.restore_to_point_in_time",
            json!({ "source_db_instance_identifier": "app-db-a",
                    "target_db_instance_identifier": "app-db-t2", "restore_time": "yesterday" }),
            "a time that is not one",
        )
        .await;
    assert!(e.contains("RFC 3339"), "{e}");
    let e = aws
        .permanent(
            "aws.rds.restore_to_point_in_time",
            json!({ "source_db_instance_identifier": "no-such-db",
                    "target_db_instance_identifier": "app-db-t4", "use_latest_restorable_time": true }),
            "an unknown source",
        )
        .await;
    assert!(e.contains("DBInstanceNotFound"), "{e}");
    let out = aws
        .ok(
            "aws.rds.restore_to_point_in_time",
            json!({ "source_db_instance_identifier": "app-db-a",
                    "target_db_instance_identifier": "app-db-t3",
                    "restore_time": "2026-11-30T12:00:00Z", "wait": false }),
        )
        .await;
    assert_eq!(out["restore_time"], "2026-11-30T12:00:00Z", "{out}");

    // Waiting until available.
    let out = aws
        .ok(
            "aws.rds.wait_available",
            json!({ "db_instance_identifier": "app-db-restored" }),
        )
        .await;
    assert_eq!(out["status"], "available");
    let out = aws
        .ok(
            "aws.rds.wait_available",
            json!({ "db_cluster_identifier": "app-cluster" }),
        )
        .await;
    assert_eq!(out["status"], "available");
    aws.plan(
        "aws.rds.wait_available",
        json!({ "db_cluster_identifier": "app-cluster" }),
        Outlook::Reads,
    )
    .await;
    aws.permanent(
        "aws.rds.wait_available",
        json!({ "db_instance_identifier": "no-such-db" }),
        "an unknown instance",
    )
    .await;
}

async fn autoscaling(aws: &Aws) {
    let up = json!({ "region": "us-west-2", "auto_scaling_group_name": "app-b",
                     "desired_capacity": 3, "wait": true, "interval": "100ms", "timeout": "30s" });
    let p = aws
        .plan(
            "aws.autoscaling.set_desired_capacity",
            up.clone(),
            Outlook::Change,
        )
        .await;
    assert!(p.contains("desired capacity 0 -> 3"), "{p}");
    let out = aws
        .ok("aws.autoscaling.set_desired_capacity", up.clone())
        .await;
    assert_eq!(out["desired_capacity"], 3, "{out}");
    assert_eq!(out["in_service"], 3, "{out}");
    assert_eq!(out["previous_desired_capacity"], 0, "{out}");
    aws.plan(
        "aws.autoscaling.set_desired_capacity",
        up.clone(),
        Outlook::NoChange,
    )
    .await;
    let mut too_many = up.clone();
    too_many["desired_capacity"] = json!(11);
    aws.plan(
        "aws.autoscaling.set_desired_capacity",
        too_many.clone(),
        Outlook::WouldFail,
    )
    .await;
    let e = aws
        .permanent(
            "aws.autoscaling.set_desired_capacity",
            too_many,
            "above the maximum",
        )
        .await;
    assert!(e.contains("allows 0 to 10 instances, not 11"), "{e}");
    let mut other_region = up;
    other_region["region"] = json!("us-east-1");
    let e = aws
        .permanent(
            "aws.autoscaling.set_desired_capacity",
            other_region,
            "a group of another region",
        )
        .await;
    assert!(e.contains("no Auto Scaling group `app-b`"), "{e}");
}

async fn kms(aws: &Aws, seed: &Value) {
    let key = json!({ "key_id": "alias/app-data" });
    let p = aws
        .plan("aws.kms.enable_rotation", key.clone(), Outlook::Change)
        .await;
    assert!(p.contains("off -> on"), "{p}");
    let out = aws.ok("aws.kms.enable_rotation", key.clone()).await;
    assert_eq!(out["rotation_enabled"], true, "{out}");
    assert_eq!(out["key_id"], seed["kms_key"], "{out}");
    let rotations = out["rotations"].as_u64().unwrap();
    aws.plan("aws.kms.enable_rotation", key.clone(), Outlook::NoChange)
        .await;

    let rotate = json!({ "key_id": "alias/app-data", "if_rotations": rotations });
    assert_eq!(
        aws.reconcile("aws.kms.rotate", rotate.clone()).await,
        Observed::NotDone
    );
    aws.plan("aws.kms.rotate", rotate.clone(), Outlook::Change)
        .await;
    let out = aws.ok("aws.kms.rotate", rotate.clone()).await;
    assert_eq!(out["rotated"], true, "{out}");
    assert_eq!(out["rotations"], rotations + 1, "{out}");
    let again = aws.ok("aws.kms.rotate", rotate.clone()).await;
    assert_eq!(again["rotated"], false, "no second rotation: {again}");
    assert!(matches!(
        aws.reconcile("aws.kms.rotate", rotate.clone()).await,
        Observed::Done(_)
    ));
    aws.plan("aws.kms.rotate", rotate, Outlook::NoChange).await;
    assert!(matches!(
        aws.reconcile("aws.kms.rotate", key.clone()).await,
        Observed::Unknown(_)
    ));
    let e = aws
        .permanent(
            "aws.kms.rotate",
            json!({ "key_id": "alias/no-such-key" }),
            "an unknown key",
        )
        .await;
    assert!(e.contains("NotFoundException"), "{e}");

    let reencrypt =
        json!({ "ciphertexts": [seed["ciphertext"]], "destination_key_id": seed["kms_key_2"] });
    aws.plan("aws.kms.re_encrypt", reencrypt.clone(), Outlook::Change)
        .await;
    let out = aws.ok("aws.kms.re_encrypt", reencrypt).await;
    assert_eq!(out["count"], 1, "{out}");
    let new = out["ciphertexts"][0].as_str().unwrap();
    assert!(!new.is_empty() && new != seed["ciphertext"], "{out}");
    let e = aws
        .permanent(
            "aws.kms.re_encrypt",
            json!({ "ciphertexts": ["%%%"], "destination_key_id": seed["kms_key_2"] }),
            "a ciphertext that is not base64",
        )
        .await;
    assert!(e.contains("not base64"), "{e}");

    for (name, input) in [
        (
            "aws.kms.enable_rotation",
            json!({ "key_id": "alias/no-such-key" }),
        ),
        (
            "aws.kms.re_encrypt",
            json!({ "ciphertexts": [seed["ciphertext"]], "destination_key_id": "alias/no-such-key" }),
        ),
        (
            "aws.kms.update_alias",
            json!({ "alias_name": "alias/app-data", "target_key_id": "alias/no-such-key" }),
        ),
    ] {
        let e = aws.permanent(name, input, "an unknown key").await;
        assert!(e.contains("NotFoundException"), "{name}: {e}");
    }

    let alias = json!({ "alias_name": "alias/app-data", "target_key_id": seed["kms_key_2"] });
    let p = aws
        .plan("aws.kms.update_alias", alias.clone(), Outlook::Change)
        .await;
    assert!(p.contains("->"), "{p}");
    let out = aws.ok("aws.kms.update_alias", alias.clone()).await;
    assert_eq!(out["previous_target_key_id"], seed["kms_key"], "{out}");
    aws.plan("aws.kms.update_alias", alias, Outlook::NoChange)
        .await;
    aws.plan(
        "aws.kms.update_alias",
        json!({ "alias_name": "alias/none", "target_key_id": seed["kms_key_2"] }),
        Outlook::WouldFail,
    )
    .await;
}

async fn secrets(aws: &Aws) {
    const VALUE: &str = "new-db-password-4711";
    let put = json!({ "secret_id": "app/db-password", "secret_string": VALUE,
                      "version_stages": ["AWSPENDING"] });
    let p = aws
        .plan(
            "aws.secretsmanager.put_secret_value",
            put.clone(),
            Outlook::Change,
        )
        .await;
    assert!(p.contains("a new version"), "{p}");
    let out = aws
        .ok("aws.secretsmanager.put_secret_value", put.clone())
        .await;
    let version = out["version_id"].as_str().unwrap().to_owned();
    assert_eq!(out["version_stages"], json!(["AWSPENDING"]), "{out}");
    assert!(
        !out.to_string().contains(VALUE),
        "the value in an output: {out}"
    );
    // A retry of the same step sends the same token: the same version, not a second one.
    let again = aws
        .ok("aws.secretsmanager.put_secret_value", put.clone())
        .await;
    assert_eq!(again["version_id"], version.as_str(), "{again}");
    aws.plan(
        "aws.secretsmanager.put_secret_value",
        put,
        Outlook::NoChange,
    )
    .await;

    let promote = json!({ "secret_id": "app/db-password", "version_stage": "AWSCURRENT",
                          "move_to_version_id": version });
    let p = aws
        .plan(
            "aws.secretsmanager.update_version_stage",
            promote.clone(),
            Outlook::Change,
        )
        .await;
    assert!(p.contains(&format!("-> {version}")), "{p}");
    let out = aws
        .ok("aws.secretsmanager.update_version_stage", promote.clone())
        .await;
    assert_eq!(out["version_id"], version.as_str(), "{out}");
    assert!(out["previous_version_id"].is_string(), "{out}");
    aws.plan(
        "aws.secretsmanager.update_version_stage",
        promote,
        Outlook::NoChange,
    )
    .await;
    let e = aws
        .permanent(
            "aws.secretsmanager.update_version_stage",
            json!({ "secret_id": "app/db-password", "version_stage": "AWSCURRENT",
                    "move_to_version_id": "no-such-version" }),
            "an unknown version",
        )
        .await;
    assert!(e.contains("no version no-such-version"), "{e}");

    let rotate = json!({ "secret_id": "app/api-key" });
    aws.plan("aws.secretsmanager.rotate", rotate.clone(), Outlook::Change)
        .await;
    let out = aws.ok("aws.secretsmanager.rotate", rotate.clone()).await;
    assert!(out["version_id"].is_string(), "{out}");
    let again = aws.ok("aws.secretsmanager.rotate", rotate).await;
    assert_eq!(
        again["version_id"], out["version_id"],
        "one rotation per step: {again}"
    );
    let e = aws
        .permanent(
            "aws.secretsmanager.put_secret_value",
            json!({ "secret_id": "no/such-secret", "secret_string": VALUE }),
            "an unknown secret",
        )
        .await;
    assert!(
        e.contains("ResourceNotFoundException") && !e.contains(VALUE),
        "{e}"
    );
}

/// Bad credentials are permanent (no retry makes them good); an endpoint that does not
/// answer is retryable.
async fn failures(seed: &Value) {
    // moto checks signatures against its IAM users from the first request on.
    let strict = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let aws = Aws::new(&strict.url, "AKIANOTAREALKEY00000");
    // Every action, with inputs that would otherwise work: refused, permanently.
    for (name, input) in [
        (
            "aws.route53.change_records",
            json!({ "hosted_zone_id": seed["hosted_zone_id"], "changes": [
                { "name": "x.dr.example.test.", "type": "A", "records": ["192.0.2.1"] }] }),
        ),
        (
            "aws.route53.health_check_status",
            json!({ "health_check_id": seed["health_check_a"] }),
        ),
        (
            "aws.rds.promote_read_replica",
            json!({ "db_instance_identifier": "app-db-b" }),
        ),
        (
            "aws.rds.failover_cluster",
            json!({ "db_cluster_identifier": "app-cluster" }),
        ),
        (
            "aws.rds.restore_to_point_in_time",
            json!({ "source_db_instance_identifier": "app-db-a",
                    "target_db_instance_identifier": "x", "use_latest_restorable_time": true }),
        ),
        (
            "aws.rds.wait_available",
            json!({ "db_instance_identifier": "app-db-a" }),
        ),
        (
            "aws.autoscaling.set_desired_capacity",
            json!({ "auto_scaling_group_name": "app-b", "desired_capacity": 1 }),
        ),
        ("aws.kms.rotate", json!({ "key_id": "alias/app-data" })),
        (
            "aws.kms.enable_rotation",
            json!({ "key_id": "alias/app-data" }),
        ),
        (
            "aws.kms.re_encrypt",
            json!({ "ciphertexts": [seed["ciphertext"]], "destination_key_id": "alias/app-data" }),
        ),
        (
            "aws.kms.update_alias",
            json!({ "alias_name": "alias/app-data", "target_key_id": seed["kms_key_2"] }),
        ),
        (
            "aws.secretsmanager.put_secret_value",
            json!({ "secret_id": "app/db-password", "secret_string": "x" }),
        ),
        (
            "aws.secretsmanager.rotate",
            json!({ "secret_id": "app/api-key" }),
        ),
        (
            "aws.secretsmanager.update_version_stage",
            json!({ "secret_id": "app/db-password", "version_stage": "AWSCURRENT",
                    "move_to_version_id": "v" }),
        ),
    ] {
        let e = aws.permanent(name, input, "bad credentials").await;
        // moto's Route 53 refuses with a bare 403 (no error code the SDK can read).
        assert!(
            e.contains("InvalidClientTokenId")
                || e.contains("UnrecognizedClientException")
                || e.contains("no error code (HTTP 403)"),
            "{name}: {e}"
        );
        assert!(!e.contains("testing"), "the secret key in a message: {e}");
    }
    drop(strict);

    let gone = Aws::new("http://127.0.0.1:9", "testing");
    let r = gone
        .run(
            "aws.kms.enable_rotation",
            json!({ "key_id": "alias/app-data" }),
        )
        .await;
    assert!(
        matches!(&r, Err(ActionError::Retryable(_))),
        "an endpoint that does not answer may come back: {r:?}"
    );
}
