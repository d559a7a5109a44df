//! An incident webhook end to end with a real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager`, started here on 127.0.0.1): an alert posted to its API
//! reaches `drctl serve`'s hook with a bearer token, starts the lab failover, whose gate
//! an approval policy for that hook passes; the run finishes; Alertmanager sending the
//! same group again attaches to that run instead of failing over twice.
//!
//! Before the alert, on the same lab: the failover's readiness check (every 10 s) finds
//! the lab ready, then not ready when the replica stops (naming the step and why), then
//! ready again when it returns, each change sent once as a service notice.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{Http, serve_with};
use crate::lablib::Lab;
use crate::support::{config_file, drctl_in, finish, os_user};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TOKEN: &str = "lab-hook-token-for-the-test";

/// A free port on loopback (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alertmanager(dir: &Path, hook: &str) -> (Killed, Http) {
    let bin = ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .find(|b| Path::new(b).exists())
        .expect("Prometheus Alertmanager is not installed: apt-get install prometheus-alertmanager (.ci/run does)");
    let port = free_port();
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: drctl\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 2s\n\
             receivers:\n  - name: drctl\n    webhook_configs:\n      - url: {hook}\n        send_resolved: false\n\
             \x20       http_config:\n          authorization: {{ type: Bearer, credentials: {TOKEN} }}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let http = Http {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(http.addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Alertmanager did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Killed(child), http)
}

/// The rows `sql` (with `bind` for its one `?`, if any) reads from the database, read
/// only; none while the database does not exist yet.
fn rows<T>(db: &Path, sql: &'static str, bind: Option<&str>) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let Ok(pool) = sqlx::SqlitePool::connect(&url).await else {
            return Vec::new();
        };
        let mut query = sqlx::query_as::<_, T>(sql);
        if let Some(b) = bind {
            query = query.bind(b.to_owned());
        }
        let found = query.fetch_all(&pool).await.unwrap_or_default();
        pool.close().await;
        found
    })
}

/// The deliveries of `hook` so far: (verdict, run).
fn deliveries(db: &Path, hook: &str) -> Vec<(String, Option<String>)> {
    rows(
        db,
        "SELECT verdict, run_id FROM deliveries WHERE hook = ? ORDER BY seq",
        Some(hook),
    )
}

/// The readiness checks so far, newest first: (ready, findings as JSON text).
fn checks(db: &Path) -> Vec<(bool, String)> {
    let found: Vec<(i64, String)> = rows(
        db,
        "SELECT ready, findings FROM readiness ORDER BY id DESC",
        None,
    );
    found.into_iter().map(|(r, f)| (r != 0, f)).collect()
}

fn wait_until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn an_alertmanager_alert_fails_the_lab_over_once_through_a_policy_for_its_hook() {
    let lab = Lab::up("266");
    let dir: PathBuf = lab.dir.join("drctl-hooks");
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    // The lab failover, with a readiness check every 10 s (a planned switchover a -> b:
    // no outage to confirm, so a healthy lab is ready).
    let failover = std::fs::read_to_string(format!("{ROOT}/runbooks/lab/failover.yaml")).unwrap();
    let failover = failover.replacen(
        "\nsteps:\n",
        "\nreadiness:\n  every: 10s\n  params: { from: a, to: b, planned: true, lab_ports: \"266\" }\n\nsteps:\n",
        1,
    );
    assert!(failover.contains("readiness:"));
    std::fs::write(dir.join("runbooks/failover.yaml"), failover).unwrap();
    // Where the service notices go: a receiver that checks notify.webhook's signature.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let notices = rt.block_on(crate::receiver::Receiver::start());
    let config = config_file(
        "hooks",
        &format!(
            "[groups]\nsre-oncall = [\"alice\"]\n\n\
             [[approval_policy]]\nname = \"lab-auto-failover\"\nrunbooks = [\"lab-failover\"]\n\
             drills_only = false\ntriggers = [\"webhook:lab-region-down\"]\non_behalf_of = \"group:sre-oncall\"\n\n\
             [serve]\nrunbooks = {:?}\nschedule_ms = 1000\n\n\
             [[serve.notify]]\non = [\"readiness_lost\", \"readiness_restored\"]\nvia = \"webhook\"\n\
             url = \"{}/hook\"\nsecret_env = \"DRCTL_NOTIFY_SECRET\"\n",
            dir.join("runbooks"),
            notices.base
        ),
    );
    let mut envs: Vec<(String, String)> = lab.vars();
    envs.push(("DRCTL_LAB_HOOK_TOKEN".into(), TOKEN.into()));
    envs.push((
        "DRCTL_NOTIFY_SECRET".into(),
        crate::receiver::HOOK_SECRET.into(),
    ));
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (server, api) = serve_with(&dir, &config, &env_refs);
    let _server = Killed(server);
    let db = dir.join("runs.db");

    // --- Readiness: ready; the replica stops: not ready, naming the step and why, and a
    // notice; the replica back: ready again, and a notice ---------------------------------
    let first = wait_until("a first readiness check", Duration::from_secs(60), || {
        checks(&db).into_iter().next()
    });
    assert!(first.0, "a healthy lab is ready: {}", first.1);
    let pid = std::fs::read_to_string(lab.dir.join("pg/b/postmaster.pid")).unwrap();
    let pid = pid.lines().next().unwrap().trim().to_owned();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let lost = wait_until("readiness to be lost", Duration::from_secs(60), || {
        checks(&db).into_iter().find(|(ready, _)| !ready)
    });
    assert!(
        lost.1.contains("replica_status") || lost.1.contains("promote_db"),
        "the finding names the step: {}",
        lost.1
    );
    assert!(
        lost.1.to_lowercase().contains("connect"),
        "and why: {}",
        lost.1
    );
    let (_, shown) = finish(
        drctl_in(&dir, &os_user())
            .env("DRCTL_CONFIG", &config)
            .args(["schedules"]),
    );
    assert!(
        shown.contains("lab-failover readiness, every 10s: NOT READY"),
        "{shown}"
    );
    lab.must(&["pg-rejoin", "b"]);
    wait_until("readiness to come back", Duration::from_secs(60), || {
        let all = checks(&db);
        let lost_at = all.iter().position(|(ready, _)| !ready)?;
        all[..lost_at].iter().any(|(ready, _)| *ready).then_some(())
    });
    let events: Vec<String> = wait_until("both notices", Duration::from_secs(30), || {
        let got: Vec<String> = notices
            .accepted()
            .iter()
            .filter_map(|r| r.body["event"].as_str().map(str::to_owned))
            .collect();
        (got.len() >= 2).then_some(got)
    });
    assert_eq!(
        events,
        ["readiness_lost", "readiness_restored"],
        "{:?}",
        notices.refused()
    );

    // --- The alert ----------------------------------------------------------------------
    // Region a goes down: the runbook's first step confirms it.
    lab.must(&["stop-region", "a"]);
    let hook = format!("http://{}/hooks/lab-region-down", api.addr);
    let (_am, am) = alertmanager(&dir, &hook);
    let alert = r#"[{"labels":{"alertname":"RegionDown","region":"a","lab_ports":"266","severity":"critical"},"annotations":{"summary":"region a is down"}}]"#;
    let posted = am.call("POST", "/api/v2/alerts", None, Some(alert.as_bytes()));
    assert_eq!(posted.status, 200, "{posted:?}");

    let run = wait_until(
        "Alertmanager's delivery to start a run",
        Duration::from_secs(60),
        || {
            deliveries(&db, "lab-region-down")
                .into_iter()
                .find(|(v, _)| v == "started")
                .and_then(|(_, r)| r)
        },
    );
    // The run goes to its end by itself: the policy passes the gate.
    let report = wait_until("the failover to finish", Duration::from_secs(180), || {
        let (code, out) =
            finish(drctl_in(&dir, &os_user()).args(["report", &run, "--format", "json"]));
        let r: Value = serde_json::from_str(&out).ok()?;
        (code == 0 && r["status"] != "running" && r["finished_at"].is_string()).then_some(r)
    });
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["trigger"], "webhook:lab-region-down", "{report}");
    // The chain alert -> run -> decision: the delivery that started it, then the policy.
    assert_eq!(report["delivery"]["hook"], "lab-region-down", "{report}");
    assert!(
        report["delivery"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{report}"
    );
    let approvals = report["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["by"], "policy:lab-auto-failover");
    assert_eq!(lab.must(&["pg-role", "b"]).trim(), "primary");
    // Alertmanager sends the group again (repeat_interval 2 s): attached, not a second
    // failover.
    wait_until(
        "the repeated delivery to attach",
        Duration::from_secs(30),
        || {
            deliveries(&db, "lab-region-down")
                .iter()
                .any(|(v, r)| v == "attached" && r.as_deref() == Some(run.as_str()))
                .then_some(())
        },
    );
    let (_, ls) = finish(drctl_in(&dir, &os_user()).args(["ls"]));
    assert_eq!(ls.matches("lab-failover").count(), 1, "{ls}");
    let all = deliveries(&db, "lab-region-down");
    assert_eq!(
        all.iter().filter(|(v, _)| v == "started").count(),
        1,
        "{all:?}"
    );
    // The token is in no record, no log line.
    let serve_log = std::fs::read_to_string(dir.join("serve.out")).unwrap();
    assert!(!serve_log.contains(TOKEN));
    let (_, export) = finish(drctl_in(&dir, &os_user()).args(["audit", "export"]));
    assert!(!export.contains(TOKEN));
}
