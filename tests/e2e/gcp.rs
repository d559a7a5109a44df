//! The GCP runbooks (`runbooks/gcp/`) against the GCP fake (`scripts/fakes/gcp.py`, seeded
//! with ggen's environment): each is validated, planned live (read-only), run with the
//! access token from the environment as a user's shell would give it, and the result is
//! read back from the fake, which also checked every call against Google's references.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::fake::{Fake, TOKEN};
use crate::support::{drctl_in, finish};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Env {
    fake: Fake,
    dir: PathBuf,
}

impl Env {
    fn drctl(&self, args: &[String]) -> Command {
        let mut cmd = drctl_in(&self.dir, "root");
        cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env("GGEN_SECURITY_PAGERDUTY_KEY", "pd-routing-key-for-the-test")
            .args(args);
        cmd
    }

    fn ok(&self, args: &[String]) -> String {
        let (code, out) = finish(&mut self.drctl(args));
        assert_eq!(code, 0, "drctl {args:?}:\n{out}");
        out
    }

    /// `head`, the runbook, the fake as endpoint, `-p` for each param, then `tail`.
    fn args(&self, head: &[&str], runbook: &str, params: &[String], tail: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = head.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("{ROOT}/runbooks/gcp/{runbook}"));
        args.extend(["-p".to_owned(), format!("endpoint={}", self.fake.url)]);
        for p in params {
            args.extend(["-p".to_owned(), p.clone()]);
        }
        args.extend(tail.iter().map(|a| (*a).to_owned()));
        args
    }

    /// `drctl plan --live` as JSON: each step's live answer by id.
    fn live(&self, runbook: &str, params: &[String]) -> Vec<(String, Value)> {
        let before = self.fake.requests().len();
        let plan: Value = serde_json::from_str(&self.ok(&self.args(
            &["plan"],
            runbook,
            params,
            &["--live", "--format", "json"],
        )))
        .unwrap();
        for r in &self.fake.requests()[before..] {
            assert_eq!(r["method"], "GET", "the plan of {runbook} wrote: {r}");
        }
        plan["blocks"][0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l.as_array().unwrap())
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["live"].clone()))
            .collect()
    }

    /// Runs a runbook; returns the run as `drctl show` gives it.
    fn run(&self, runbook: &str, params: &[String]) -> Value {
        self.ok(&self.args(&["run"], runbook, params, &[]));
        let ls = self.ok(&["ls".to_owned()]);
        let run = ls
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned();
        let shown: Value = serde_json::from_str(&self.ok(&[
            "show".to_owned(),
            run,
            "--format".to_owned(),
            "json".to_owned(),
        ]))
        .unwrap();
        assert_eq!(shown["run"]["status"], "succeeded", "{shown}");
        shown
    }
}

fn live<'a>(live: &'a [(String, Value)], id: &str) -> &'a Value {
    &live.iter().find(|(s, _)| s == id).unwrap().1
}

fn summary<'a>(live: &'a [(String, Value)], id: &str) -> &'a str {
    self::live(live, id)["summary"].as_str().unwrap_or("")
}

fn output<'a>(shown: &'a Value, id: &str) -> &'a Value {
    &shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == id && s["item"].is_null())
        .unwrap_or_else(|| panic!("no step {id}"))["output"]
}

/// A ciphertext of version `n` of the fake's key, as its encrypt makes them.
fn sealed(n: u32, plain: &[u8]) -> String {
    let mut bytes = format!("fake-kms-v{n}:").into_bytes();
    bytes.extend(plain.iter().map(|b| b ^ 0x5A));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_gcp_runbooks_validate_plan_and_run_against_the_fake() {
    let dir = std::env::temp_dir().join(format!("drctl-gcp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let env = Env {
        fake: Fake::start("gcp.py", 2, &[]),
        dir,
    };
    env.ok(&[
        "validate".to_owned(),
        "--strict".to_owned(),
        format!("{ROOT}/runbooks/gcp"),
    ]);
    let actions = env.ok(&["actions".to_owned()]);
    for name in [
        "gcp.sql.promote_replica",
        "gcp.redis.failover",
        "gcp.compute.set_backends",
        "gcp.dns.change_records",
        "gcp.kms.rewrap",
    ] {
        assert!(actions.contains(name), "{actions}");
    }

    // --- ggen's regional failover: us-central1 down, everything moves to us-east1 -------
    let health = format!("{}/_fake/health", env.fake.url);
    let params = [
        format!("primary_health_url={health}/us-central1"),
        format!("standby_health_url={health}/us-east1"),
        "check_interval=20ms".to_owned(),
    ];
    let plan = env.live("regional-failover.yaml", &params);
    assert!(
        summary(&plan, "promote_db")
            .contains("promote ggen-db-east (replica of ggen-prod:ggen-db-central"),
        "{plan:?}"
    );
    assert_eq!(live(&plan, "cache_failover")["outlook"], "change");
    let half = summary(&plan, "shift_half");
    assert!(
        half.contains("ggen-web-east capacity 0 -> 1")
            && half.contains("ggen-web-central capacity 1 -> 0.5"),
        "{half}"
    );
    assert!(
        summary(&plan, "dns").contains("[\"203.0.113.10\"] -> [\"198.51.100.10\"]"),
        "{plan:?}"
    );

    // us-central1 is healthy: the outage check never sees three failures, nothing moves.
    let (code, out) = finish(&mut env.drctl(&env.args(
        &["run"],
        "regional-failover.yaml",
        &params,
        &["-p", "check_interval=1ms"],
    )));
    assert_ne!(code, 0, "{out}");
    assert_eq!(env.fake.calls("POST", "promoteReplica"), 0);

    env.fake.set(&json!(["health", "us-central1"]), &json!(503));
    let shown = env.run("regional-failover.yaml", &params);
    assert_eq!(output(&shown, "promote_db")["promoted"], true);
    assert_eq!(output(&shown, "cache_failover")["zone"], "us-east1-b");
    assert_eq!(output(&shown, "dns")["status"], "done");
    let state = env.fake.state();
    assert_eq!(
        state["sql"]["ggen-db-east"]["instanceType"],
        "CLOUD_SQL_INSTANCE"
    );
    let caps: Vec<Value> = state["backend_services"]["global/ggen-web"]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["capacityScaler"].clone())
        .collect();
    assert_eq!(caps, vec![json!(0.0), json!(1.0)]);
    assert_eq!(
        state["dns"]["ggen"]["app.ggen.example. A"]["rrdatas"],
        json!(["198.51.100.10"])
    );
    // The stages went in order, each after a health check of us-east1.
    let patches: Vec<Value> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    // The RTO was measured, from the outage check to us-east1 serving.
    let rto = &shown["run"]["rto"];
    assert_eq!(rto["measured"], true, "{shown}");
    assert_eq!(rto["objective_ms"], 300_000);

    // Done: a second plan finds nothing to change but the first stage, which would
    // give us-central1 half its capacity back.
    let plan = env.live("regional-failover.yaml", &params);
    for id in ["promote_db", "cache_failover", "shift_all", "dns"] {
        assert_eq!(live(&plan, id)["outlook"], "no_change", "{id}: {plan:?}");
    }
    assert!(
        summary(&plan, "shift_half").contains("ggen-web-central capacity 0 -> 0.5"),
        "{plan:?}"
    );

    // --- ggen's quarterly key rotation, with rewrap ----------------------------------------
    let ciphertexts = [sealed(1, b"card-token-1"), sealed(1, b"card-token-2")];
    let params = [format!("ciphertexts={}", json!(ciphertexts))];
    // The plan reads the key; the steps after it depend on what the run reads.
    let plan = env.live("kms-rotation.yaml", &params);
    assert!(
        summary(&plan, "key_before").ends_with("primary version 1"),
        "{plan:?}"
    );
    assert_eq!(live(&plan, "new_version")["live"], "not_asked");
    let shown = env.run("kms-rotation.yaml", &params);
    assert_eq!(output(&shown, "new_version")["version"], 2);
    let rewrapped: Vec<Value> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "rewrap" && !s["item"].is_null())
        .map(|s| s["output"]["version"].clone())
        .collect();
    assert_eq!(rewrapped, vec![json!(2), json!(2)]);
    let disabled: Vec<Value> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "disable_old" && !s["item"].is_null())
        .map(|s| json!([s["output"]["version"], s["output"]["state"]]))
        .collect();
    assert_eq!(disabled, vec![json!([1, "DISABLED"])]);
    let key = &env.fake.state()["kms"]["projects/ggen-prod/locations/us-central1/keyRings/ggen/cryptoKeys/app-data"];
    assert_eq!(key["primary"], 2);
    assert_eq!(key["versions"], json!({ "1": "DISABLED", "2": "ENABLED" }));
    // Nothing of the plaintexts in the run's record.
    let all = env.ok(&[
        "show".to_owned(),
        shown["run"]["id"].as_str().unwrap().to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ]);
    assert!(!all.contains("card-token"), "{all}");
    assert_eq!(env.fake.violations(), Vec::<Value>::new());
}
