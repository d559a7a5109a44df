//! The Kubernetes runbook (`runbooks/k8s/`) against the API server fake
//! (`scripts/fakes/k8s.py`, seeded with a standby region at zero replicas): validated,
//! planned live (read-only), run with the cluster from KUBECONFIG as a user's shell would
//! give it, run again (nothing changes), and read back from the fake, which also checked
//! every call against the API reference.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::fake::Fake;
use crate::support::{drctl_in, finish};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn drctl(dir: &Path, kubeconfig: &Path, args: &[String]) -> (i32, String) {
    let mut cmd: Command = drctl_in(dir, "root");
    cmd.env("KUBECONFIG", kubeconfig).args(args);
    finish(&mut cmd)
}

#[test]
fn the_k8s_runbook_validates_plans_and_runs_against_the_fake() {
    let dir = std::env::temp_dir().join(format!("drctl-k8s-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let fake = Fake::start("k8s.py", 2, &["--kubeconfig", kubeconfig.to_str().unwrap()]);
    let runbook = format!("{ROOT}/runbooks/k8s/standby-scale-up.yaml");
    let params = [
        "-p".to_owned(),
        format!("health_url={}/_fake/health/standby", fake.url),
        "-p".to_owned(),
        "check_interval=20ms".to_owned(),
    ];
    let ok = |args: Vec<String>| {
        let (code, out) = drctl(&dir, &kubeconfig, &args);
        assert_eq!(code, 0, "drctl {args:?}:\n{out}");
        out
    };
    ok(vec!["validate".into(), "--strict".into(), runbook.clone()]);

    let plan_live = || {
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
        plan["blocks"][0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l.as_array().unwrap().clone())
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["live"].clone()))
            .collect::<Vec<_>>()
    };
    let live =
        |plan: &[(String, Value)], id: &str| plan.iter().find(|(s, _)| s == id).unwrap().1.clone();
    let plan = plan_live();
    assert!(
        live(&plan, "scale_api")["summary"]
            .as_str()
            .unwrap()
            .contains("Deployment prod/api replicas 0 -> 6"),
        "{plan:?}"
    );
    assert!(
        live(&plan, "point_config")["summary"]
            .as_str()
            .unwrap()
            .contains("data.REGION_ROLE: \"standby\" -> \"active\""),
        "{plan:?}"
    );

    let mut run = vec!["run".to_owned(), runbook.clone()];
    run.extend(params.iter().cloned());
    ok(run.clone());
    let state = fake.state();
    let obj = |k: &str| state["objects"][k].clone();
    assert_eq!(obj("deployments/prod/api")["status"]["readyReplicas"], 6);
    assert_eq!(
        obj("statefulsets/prod/workers")["status"]["readyReplicas"],
        3
    );
    assert_eq!(
        obj("configmaps/prod/app-config")["data"],
        json!({ "DB_HOST": "db.eu-central-1.internal", "REGION_ROLE": "active" })
    );
    assert!(
        obj("deployments/prod/ingest")["spec"]["template"]["metadata"]["annotations"]
            ["drctl.io/restart"]
            .is_string()
    );
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

    // Again: a new run changes nothing but its own restart of ingest.
    let patches = fake.calls("PATCH", "/");
    ok(run);
    assert_eq!(fake.calls("PATCH", "/"), patches + 1);
    assert_eq!(fake.calls("PATCH", "/scale"), 2);
    assert_eq!(fake.violations(), Vec::<Value>::new());
}
