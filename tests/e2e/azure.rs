//! The Azure runbook (`runbooks/azure/`) against the Resource Manager fake
//! (`scripts/fakes/azure.py`, seeded with Mantissa's account, profile and servers):
//! validated, planned live (read-only), run with the token from the environment, and read
//! back from the fake, which also checked every call against the ARM references.

use serde_json::{Value, json};

use crate::fake::{Fake, TOKEN};
use crate::support::{drctl_in, finish};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SUB: &str = "00000000-0000-4000-8000-00000000c0de";

#[test]
fn the_azure_runbook_validates_plans_and_runs_against_the_fake() {
    let dir = std::env::temp_dir().join(format!("drctl-azure-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fake = Fake::start("azure.py", 2, &[]);
    let runbook = format!("{ROOT}/runbooks/azure/failover.yaml");
    let mut params = Vec::new();
    for p in [
        format!("subscription_id={SUB}"),
        format!("endpoint={}", fake.url),
        format!("primary_health_url={}/_fake/health/eastus", fake.url),
        format!("standby_health_url={}/_fake/health/westus2", fake.url),
        "check_interval=20ms".to_owned(),
    ] {
        params.extend(["-p".to_owned(), p]);
    }
    let ok = |args: Vec<String>| {
        let mut cmd = drctl_in(&dir, "root");
        cmd.env("AZURE_ACCESS_TOKEN", TOKEN).args(&args);
        let (code, out) = finish(&mut cmd);
        assert_eq!(code, 0, "drctl {args:?}:\n{out}");
        out
    };
    ok(vec!["validate".into(), "--strict".into(), runbook.clone()]);

    let before = fake.requests().len();
    let mut args = vec!["plan".to_owned(), runbook.clone()];
    args.extend(params.iter().cloned());
    args.extend([
        "--live".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ]);
    let plan: Value = serde_json::from_str(&ok(args)).unwrap();
    for r in &fake.requests()[before..] {
        assert_eq!(r["method"], "GET", "the plan wrote: {r}");
    }
    let live = |id: &str| {
        plan["blocks"][0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l.as_array().unwrap().clone())
            .find(|s| s["id"] == id)
            .unwrap()["live"]
            .clone()
    };
    assert!(
        live("cosmos_writes_to_standby")["summary"]
            .as_str()
            .unwrap()
            .contains("writes move East US -> West US 2"),
        "{plan}"
    );
    assert_eq!(live("traffic_off_primary")["outlook"], "change");

    fake.set(&json!(["health", "eastus"]), &json!(503));
    let mut run = vec!["run".to_owned(), runbook];
    run.extend(params);
    ok(run);
    let state = fake.state();
    assert_eq!(
        state["cosmos"]["mantissa-logs"]["properties"]["writeLocations"][0]["locationName"],
        "West US 2"
    );
    assert_eq!(
        state["endpoints"]["mantissa-api"]["eastus"]["properties"]["endpointStatus"],
        "Disabled"
    );
    // The Cosmos operation was followed through Azure-AsyncOperation.
    assert!(fake.calls("GET", "/operationsStatus/") >= 1);
    let ls = ok(vec!["ls".into()]);
    let id = ls
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let shown: Value = serde_json::from_str(&ok(vec![
        "show".into(),
        id,
        "--format".into(),
        "json".into(),
    ]))
    .unwrap();
    assert_eq!(shown["run"]["status"], "succeeded", "{shown}");
    assert_eq!(shown["run"]["rto"]["measured"], true, "{shown}");
    assert!(!shown.to_string().contains(TOKEN));
    assert_eq!(fake.violations(), Vec::<Value>::new());
}

#[test]
fn the_key_vault_rotation_runbook_runs_against_the_fakes_vault_over_tls() {
    let dir = std::env::temp_dir().join(format!("drctl-azure-kv-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fake = Fake::start(
        "azure.py",
        1,
        &["--vault-dir", dir.join("tls").to_str().unwrap()],
    );
    let vault = fake.control("GET", "/_fake/vault", &Value::Null);
    let runbook = format!("{ROOT}/runbooks/azure/key-rotation.yaml");
    let params = vec![
        "-p".to_owned(),
        format!("vault_url={}", vault["url"].as_str().unwrap()),
    ];
    // The vault's certificate is of the fake's own authority: trusted the way a user
    // trusts a private one, through SSL_CERT_FILE.
    let ok = |args: Vec<String>| {
        let mut cmd = drctl_in(&dir, "root");
        cmd.env("AZURE_KEYVAULT_ACCESS_TOKEN", TOKEN)
            .env("SSL_CERT_FILE", vault["ca"].as_str().unwrap())
            .args(&args);
        let (code, out) = finish(&mut cmd);
        assert_eq!(code, 0, "drctl {args:?}:\n{out}");
        out
    };
    ok(vec!["validate".into(), "--strict".into(), runbook.clone()]);
    let before = fake.state()["keys"]["mantissa-cmk"].clone();
    let mut args = vec!["plan".to_owned(), runbook.clone()];
    args.extend(params.iter().cloned());
    args.extend([
        "--live".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ]);
    let plan = ok(args);
    assert!(plan.contains("2 versions"), "{plan}");
    assert_eq!(fake.calls("POST", "/rotate"), 0, "the plan rotated");

    let mut run = vec!["run".to_owned(), runbook];
    run.extend(params);
    ok(run);
    let after = fake.state()["keys"]["mantissa-cmk"].clone();
    assert_eq!(
        after.as_array().unwrap().len(),
        before.as_array().unwrap().len() + 1
    );
    assert_eq!(fake.calls("POST", "/rotate"), 1);
    let ls = ok(vec!["ls".into()]);
    let id = ls
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let shown = ok(vec!["show".into(), id, "--format".into(), "json".into()]);
    assert!(shown.contains("\"succeeded\""), "{shown}");
    assert!(!shown.contains(TOKEN));
    assert_eq!(fake.violations(), Vec::<Value>::new());
}
