//! The AWS runbooks (`runbooks/aws/`) against the AWS API emulator (moto, seeded with the
//! environment they are written for): each is planned live, read-only, then run with
//! credentials and endpoint from the SDK's standard chain (environment variables, as a
//! user's shell would give them), and the result is read back from the emulator.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::moto::Moto;
use crate::support::{drctl_in, finish};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A drill's gates pass through this policy, as the lab's do.
const CONFIG: &str = r#"
[groups]
sre-oncall = ["alice"]
dba = ["carol"]
security = ["erin"]

[[approval_policy]]
name = "aws-drills"
runbooks = ["aws-route53-failover", "aws-rds-failover", "aws-key-rotation"]
drills_only = true
on_behalf_of = "group:sre-oncall"

[[approval_policy]]
name = "aws-drills-dba"
runbooks = ["aws-rds-failover"]
on_behalf_of = "group:dba"

[[approval_policy]]
name = "aws-drills-security"
runbooks = ["aws-key-rotation"]
on_behalf_of = "group:security"
"#;

const NEW_PASSWORD: &str = "rotated-db-password-0815";

struct Env {
    moto: Moto,
    dir: PathBuf,
}

impl Env {
    fn drctl(&self, args: &[&str]) -> Command {
        let mut cmd = drctl_in(&self.dir, "root");
        cmd.env("DRCTL_CONFIG", self.dir.join("drctl.toml"))
            .env("AWS_ENDPOINT_URL", &self.moto.url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("DRCTL_NEW_DB_PASSWORD", NEW_PASSWORD)
            .args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out) = finish(&mut self.drctl(args));
        assert_eq!(code, 0, "drctl {args:?}:\n{out}");
        out
    }

    /// `drctl plan --live` as JSON: each step's live answer by id.
    fn live(&self, runbook: &str, params: &[String]) -> Vec<(String, Value)> {
        let args = command(&["plan"], runbook, params, &["--live", "--format", "json"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let plan: Value = serde_json::from_str(&self.ok(&args)).unwrap();
        plan["blocks"][0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l.as_array().unwrap())
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["live"].clone()))
            .collect()
    }

    /// Runs a runbook as a drill; returns the run's steps as `drctl show` gives them.
    fn run(&self, runbook: &str, params: &[String]) -> Vec<Value> {
        let args = command(&["run", "--drill"], runbook, params, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args);
        let ls = self.ok(&["ls"]);
        let run = ls
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap();
        let shown: Value =
            serde_json::from_str(&self.ok(&["show", run, "--format", "json"])).unwrap();
        assert_eq!(shown["run"]["status"], "succeeded", "{shown}");
        shown["steps"].as_array().unwrap().clone()
    }

    /// What the emulator holds, asked with boto3 (not through drctl).
    fn boto(&self, code: &str) -> Value {
        let script = format!(
            "import boto3, json\n\
             def c(s, r='us-east-1'): return boto3.client(s, region_name=r, endpoint_url='{}', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n{code}",
            self.moto.url
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// drctl's arguments: `head`, the runbook of runbooks/aws/, `-p` for each param, `tail`.
fn command(head: &[&str], runbook: &str, params: &[String], tail: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = head.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("{ROOT}/runbooks/aws/{runbook}"));
    for p in params {
        args.extend(["-p".to_owned(), p.clone()]);
    }
    args.extend(tail.iter().map(|a| (*a).to_owned()));
    args
}

fn live_of<'a>(live: &'a [(String, Value)], id: &str) -> &'a Value {
    &live.iter().find(|(s, _)| s == id).unwrap().1
}

fn output<'a>(steps: &'a [Value], id: &str) -> &'a Value {
    &steps
        .iter()
        .find(|s| s["step"] == id && s["item"].is_null())
        .unwrap_or_else(|| panic!("no step {id}"))["output"]
}

#[test]
fn the_aws_runbooks_plan_and_run_against_the_emulator() {
    let dir = std::env::temp_dir().join(format!("drctl-aws-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("drctl.toml"), CONFIG).unwrap();
    let env = Env {
        moto: Moto::start(&[]),
        dir,
    };
    let seed = env.moto.seed();
    let s = |k: &str| seed[k].as_str().unwrap().to_owned();

    // --- Route 53: a planned switchover (moto's checkers always report success) ---------
    let dns = [
        format!("hosted_zone_id={}", s("hosted_zone_id")),
        format!("primary_health_check={}", s("health_check_a")),
        format!("standby_health_check={}", s("health_check_b")),
        format!("primary_address={}", s("address_a")),
        format!("standby_address={}", s("address_b")),
        "require_unhealthy=false".to_owned(),
    ];
    // Without the primary's check failing, nothing moves: moto's checkers always report
    // success, so the confirmation gives up (retryably) and the run fails untouched.
    let mut unconfirmed = dns.to_vec();
    unconfirmed[5] = "require_unhealthy=true".to_owned();
    unconfirmed.push("confirm_timeout=1s".to_owned());
    let args = command(&["run"], "route53-failover.yaml", &unconfirmed, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = finish(&mut env.drctl(&args));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("primary_down")
            && out.contains("unhealthy: not reached")
            && out.contains("last seen: healthy"),
        "{out}"
    );

    let live = env.live("route53-failover.yaml", &dns);
    let switch = live_of(&live, "switch_records");
    assert_eq!(switch["outlook"], "change", "{switch}");
    assert!(
        switch["summary"]
            .as_str()
            .unwrap()
            .contains("app.dr.example.test. A [primary] 203.0.113.10 -> 198.51.100.10"),
        "{switch}"
    );
    let steps = env.run("route53-failover.yaml", &dns);
    assert_eq!(output(&steps, "switch_records")["status"], "INSYNC");
    let records = env.boto(&format!(
        "r = c('route53').list_resource_record_sets(HostedZoneId='{}')['ResourceRecordSets']\n\
         print(json.dumps({{x.get('SetIdentifier', '') + ' ' + x['Name']: [v['Value'] for v in x.get('ResourceRecords', [])] for x in r}}))",
        s("hosted_zone_id")
    ));
    assert_eq!(
        records["primary app.dr.example.test."][0], "198.51.100.10",
        "{records}"
    );
    assert_eq!(
        records["secondary app.dr.example.test."][0], "203.0.113.10",
        "{records}"
    );
    let live = env.live("route53-failover.yaml", &dns);
    assert_eq!(live_of(&live, "switch_records")["outlook"], "no_change");

    // --- RDS: promote the replica, fail the cluster over ----------------------------------
    let rds = ["wait_for_promotion=false".to_owned()];
    let live = env.live("rds-failover.yaml", &rds);
    assert_eq!(live_of(&live, "promote_replica")["outlook"], "change");
    assert!(
        live_of(&live, "cluster_failover")["summary"]
            .as_str()
            .unwrap()
            .contains("writer app-cluster-1 -> app-cluster-2"),
        "{live:?}"
    );
    let steps = env.run("rds-failover.yaml", &rds);
    assert_eq!(
        output(&steps, "promote_replica")["was_replica_of"],
        "app-db-a"
    );
    assert_eq!(
        output(&steps, "cluster_failover")["writer"],
        "app-cluster-2"
    );
    let writer = env.boto(
        "m = c('rds').describe_db_clusters(DBClusterIdentifier='app-cluster')['DBClusters'][0]['DBClusterMembers']\n\
         print(json.dumps([x['DBInstanceIdentifier'] for x in m if x['IsClusterWriter']]))",
    );
    assert_eq!(writer, serde_json::json!(["app-cluster-2"]));

    // --- Auto Scaling: the standby region scaled up ---------------------------------------
    let live = env.live("standby-scale-up.yaml", &[]);
    assert!(
        live_of(&live, "scale_up")["summary"]
            .as_str()
            .unwrap()
            .contains("desired capacity 0 -> 4"),
        "{live:?}"
    );
    let steps = env.run("standby-scale-up.yaml", &[]);
    assert_eq!(output(&steps, "scale_up")["in_service"], 4);
    let group = env.boto(
        "g = c('autoscaling', 'us-west-2').describe_auto_scaling_groups(AutoScalingGroupNames=['app-b'])['AutoScalingGroups'][0]\n\
         print(json.dumps(g['DesiredCapacity']))",
    );
    assert_eq!(group, 4);

    // --- KMS and Secrets Manager ----------------------------------------------------------
    let keys = [
        format!("replacement_key={}", s("kms_key_2")),
        format!("ciphertexts=[\"{}\"]", s("ciphertext")),
    ];
    let live = env.live("key-rotation.yaml", &keys);
    assert_eq!(live_of(&live, "enable_rotation")["outlook"], "change");
    let steps = env.run("key-rotation.yaml", &keys);
    assert_eq!(output(&steps, "rotate_key")["rotated"], true);
    assert_eq!(output(&steps, "reencrypt")["count"], 1);
    let staged = output(&steps, "stage_password")["version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        output(&steps, "promote_password")["version_id"],
        staged.as_str()
    );
    // AWSCURRENT named: moto's default without it is the first version it stored, not
    // the one AWSCURRENT labels (AWS's default).
    let current = env.boto(
        "print(json.dumps(c('secretsmanager').get_secret_value(SecretId='app/db-password', VersionStage='AWSCURRENT')['SecretString']))",
    );
    assert_eq!(current, NEW_PASSWORD, "the staged password is current");
    let alias = env.boto(
        "a = [x for x in c('kms').list_aliases()['Aliases'] if x['AliasName'] == 'alias/app-data'][0]\n\
         print(json.dumps(a['TargetKeyId']))",
    );
    assert_eq!(alias, seed["kms_key_2"]);

    // The new password reached AWS and nothing else: not the database, not an output.
    let db = std::fs::read(env.dir.join("runs.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(NEW_PASSWORD),
        "the password is in the database"
    );
    let _ = std::fs::remove_dir_all(&env.dir);
}
