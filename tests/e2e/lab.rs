//! The lab runbooks end to end on a private copy of the DR lab (`scripts/lab`, ports
//! 265xx): the DR drill, then a failover and a failback during which drctl is SIGKILLed
//! in the middle of `postgres.promote` and of `haproxy.set_weight`, and resumed.
//!
//! After a kill, the interrupted call is never repeated blindly: the resumed run asks the
//! action to reconcile, and either it found the effect (no second call) or it found none
//! and called once more. Which of the two happens depends on where the kill landed; both
//! are correct, and the test checks that one of them did.
//!
//! First, `drctl plan --live` reads the lab without changing it, and shows no secret.
//! Last, the restore and key-rotation runbooks run on the same lab (`lab_data.rs`).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Row;

use crate::lablib::Lab;
use crate::support::{drctl_in, finish};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub(crate) struct Drill {
    pub(crate) lab: Lab,
    pub(crate) dir: PathBuf,
}

impl Drill {
    fn drctl(&self, args: &[&str]) -> Command {
        let mut cmd = drctl_in(&self.dir, "root");
        cmd.env("DRCTL_CONFIG", format!("{ROOT}/runbooks/lab/drctl.toml"))
            .envs(self.lab.vars())
            .args(args);
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> String {
        let (code, out) = finish(&mut self.drctl(args));
        assert_eq!(code, 0, "drctl {args:?}:\n{out}");
        out
    }

    pub(crate) fn report(&self, run: &str) -> Value {
        serde_json::from_str(&self.run(&["report", run, "--format", "json"])).unwrap()
    }

    /// The newest top-level run's id.
    pub(crate) fn last_run(&self) -> String {
        let out = self.run(&["ls"]);
        out.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned()
    }
}

/// The failover runbook's arguments on this lab.
fn failover_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--drill",
        concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/lab/failover.yaml"),
        "-p",
        "lab_ports=265",
    ];
    args.extend_from_slice(extra);
    args
}

/// Starts drctl and SIGKILLs it as soon as the attempt of `step` is recorded as started,
/// that is while its action runs ("write before act"). One connection polls the
/// database every 2 ms, so the kill follows the record closely.
fn kill_during(d: &Drill, args: &[&str], step: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}?mode=ro", d.dir.join("runs.db").display());
    let pool = rt.block_on(sqlx::SqlitePool::connect(&url)).unwrap();
    let pattern = format!("%\"step\":\"{step}\",%\"phase\":\"action\"%");
    let started = || -> i64 {
        rt.block_on(
            sqlx::query_scalar(
                "SELECT count(*) FROM events WHERE kind = 'attempt_started' AND body LIKE ?",
            )
            .bind(&pattern)
            .fetch_one(&pool),
        )
        .unwrap()
    };
    let before = started();
    let mut child: Child = d
        .drctl(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if started() > before {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("drctl ended ({status}) before `{step}` started");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "`{step}` never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    rt.block_on(pool.close());
}

/// How many attempts of `step` were started, in all runs of the database.
fn attempts(db: &std::path::Path, step: &str) -> usize {
    kinds_of(db, None, step)
        .iter()
        .filter(|k| *k == "attempt_started")
        .count()
}

/// The event kinds about `step` (main phase), in order, in one run or in all.
fn kinds_of(db: &std::path::Path, run: Option<&str>, step: &str) -> Vec<String> {
    events_of(db, run, step)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// The event kinds about `step` (main phase) with their `for_each` item.
fn events_of(db: &std::path::Path, run: Option<&str>, step: &str) -> Vec<(String, Value)> {
    if !db.exists() {
        return Vec::new();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let Ok(pool) = sqlx::SqlitePool::connect(&url).await else {
            return Vec::new();
        };
        let rows = sqlx::query(
            "SELECT kind, body FROM events WHERE run_id = ?1 OR ?1 IS NULL ORDER BY at, seq",
        )
        .bind(run)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        pool.close().await;
        rows.iter()
            .filter(|r| {
                let body: Value = serde_json::from_str(r.get::<&str, _>("body")).unwrap();
                body["step"] == step && body["phase"].as_str().is_none_or(|p| p == "action")
            })
            .map(|r| {
                let body: Value = serde_json::from_str(r.get::<&str, _>("body")).unwrap();
                (r.get::<String, _>("kind"), body["item"].clone())
            })
            .filter(|(k, _)| k != "step_succeeded")
            .collect()
    })
}

/// After a kill during `step` and a resume: reconciled, then either done (one call in
/// all) or not done and called once more (two in all). Returns what reconcile found.
fn reconciled_once(db: &std::path::Path, run: &str, step: &str) -> String {
    let all = events_of(db, Some(run), step);
    let item = all
        .iter()
        .find(|(k, _)| k == "attempt_interrupted")
        .map(|(_, item)| item.clone())
        .unwrap_or_else(|| panic!("{step} was not interrupted: {all:?}"));
    // The interrupted item's events only (a `for_each` step has one sequence per item).
    let kinds: Vec<String> = all
        .into_iter()
        .filter(|(_, i)| *i == item)
        .map(|(k, _)| k)
        .collect();
    let calls = kinds.iter().filter(|k| *k == "attempt_started").count();
    let at = kinds
        .iter()
        .position(|k| k == "attempt_interrupted")
        .unwrap_or_else(|| panic!("{step}: {kinds:?}"));
    assert_eq!(
        kinds.get(at + 1).map(String::as_str),
        Some("reconciled"),
        "{step}: {kinds:?}"
    );
    match calls {
        1 => "done: the effect was there, no second call".into(),
        2 => "not done: called once more".into(),
        n => panic!("{step} was called {n} times: {kinds:?}"),
    }
}

#[test]
fn the_lab_runbooks_run_end_to_end_and_survive_a_kill_during_promote_and_set_weight() {
    let lab = Lab::up("265");
    let dir = lab.dir.join("drctl");
    std::fs::create_dir_all(&dir).unwrap();
    let d = Drill { lab, dir };
    let lab_dir = d.lab.dir.display().to_string();

    live_plan_reads_the_lab_and_changes_nothing(&d);

    // --- The DR drill, with its failover and failback sub-runs -----------------------------
    let script = format!("lab_script={ROOT}/scripts/lab");
    let dir_param = format!("lab_dir={lab_dir}");
    d.run(&[
        "run",
        "--drill",
        &format!("{ROOT}/runbooks/lab/dr-drill.yaml"),
        "-p",
        "lab_ports=265",
        "-p",
        &dir_param,
        "-p",
        &script,
    ]);
    let drill = d.last_run();
    let r = d.report(&drill);
    assert_eq!(r["status"], "succeeded");
    let o = &r["objectives"];
    assert!(o["rto_ms"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["rto_met"], true, "{o}");
    assert!(
        o["healthy_ms"].as_u64().unwrap() <= o["rto_ms"].as_u64().unwrap(),
        "{o}"
    );
    assert_eq!(o["rpo_met"], true, "{o}");
    assert!(o["lost_writes"].is_u64(), "{o}");
    let approvals = r["approvals"].as_array().unwrap();
    assert_eq!(
        approvals.len(),
        2,
        "failover and failback gates: {approvals:?}"
    );
    assert!(approvals.iter().all(|a| a["by"] == "policy:lab-drills"));
    let b = r["rto_breakdown"].clone();
    assert!(b["drctl_percent"].as_f64().unwrap() < 100.0, "{b}");
    // The original topology is back.
    assert_eq!(d.lab.must(&["pg-role", "a"]).trim(), "primary");
    assert_eq!(d.lab.must(&["pg-role", "b"]).trim(), "replica");
    let md = d.run(&["report", &drill]);
    assert!(
        md.contains("| RTO (rto_start to rto_end) |") && md.contains("PASS"),
        "{md}"
    );
    let trend = d.run(&["report", "--runbook", "lab-dr-drill", "--format", "html"]);
    assert!(trend.contains("<svg") && trend.contains(&drill), "{trend}");

    // --- A failover, killed while it promotes the replica ------------------------------
    let db = d.dir.join("runs.db");
    d.lab.must(&["stop-region", "a"]);
    kill_during(&d, &failover_args(&[]), "promote_db");
    let failover = d.last_run();
    d.run(&["resume", &failover]);
    let promote = reconciled_once(&db, &failover, "promote_db");
    assert_eq!(d.lab.must(&["pg-role", "b"]).trim(), "primary");
    assert_eq!(d.report(&failover)["status"], "succeeded");
    // The DNS step: PowerDNS holds b's address, and the run's own query saw it.
    assert!(
        d.lab
            .must(&["status"])
            .contains("app.lab.drctl.test. A 127.0.10.2"),
        "DNS moved to b"
    );
    let answered: String = d
        .run(&["show", &failover, "--format", "json"])
        .split_whitespace()
        .collect();
    assert!(
        answered.contains("\"answer\":[\"127.0.10.2\"]"),
        "dns_answers saw b's address: {answered}"
    );

    // --- The failback, killed while it shifts traffic ------------------------------------
    d.lab.must(&["pg-rejoin", "a"]);
    d.lab.must(&["start-app", "a"]);
    // A set_weight takes a few milliseconds: the failback reaches HAProxy through a relay
    // that holds each command 300 ms, so that the kill lands inside the call.
    let relay = slow_relay(
        d.lab.get("DRCTL_LAB_HAPROXY_TCP"),
        Duration::from_millis(300),
    );
    let api = format!("haproxy_api={relay}");
    let before = attempts(&db, "shift_traffic");
    kill_during(
        &d,
        &failover_args(&[
            "-p",
            "from=b",
            "-p",
            "to=a",
            "-p",
            "planned=true",
            "-p",
            &api,
        ]),
        "shift_traffic",
    );
    assert_eq!(attempts(&db, "shift_traffic"), before + 1);
    let failback = d.last_run();
    d.run(&["resume", &failback]);
    let shift = reconciled_once(&db, &failback, "shift_traffic");
    assert_eq!(d.report(&failback)["status"], "succeeded");
    let stats = d.lab.must(&["status"]);
    assert!(
        stats.contains("\"region\": \"a\""),
        "traffic is back on a: {stats}"
    );
    assert!(
        stats.contains("app.lab.drctl.test. A 127.0.10.1"),
        "DNS is back on a: {stats}"
    );
    println!("kill during promote: {promote}; kill during set_weight: {shift}");

    // --- The restore and the key rotation, on the same lab ---------------------------------
    crate::lab_data::restore_and_key_rotation(&d, "265");
}

/// `drctl plan --live` of the failover: every action step that can be asked says what it
/// would change, from the lab as it is; afterwards the lab is as it was, and a password in
/// a connection string is nowhere in the output.
fn live_plan_reads_the_lab_and_changes_nothing(d: &Drill) {
    const PASSWORD: &str = "plan-secret-4711";
    let failover = format!("{ROOT}/runbooks/lab/failover.yaml");
    let args = ["plan", &failover, "-p", "lab_ports=265", "--live"];
    let with_password = d
        .lab
        .get("DRCTL_LAB_PG_A")
        .replace("postgres@", &format!("postgres:{PASSWORD}@"));
    let mut cmd = d.drctl(&args);
    cmd.args(["--format", "json"])
        .env("DRCTL_LAB_PG_A", &with_password);
    let (code, out) = finish(&mut cmd);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(PASSWORD), "a secret in the plan: {out}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let steps: Vec<&Value> = plan["blocks"][0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l.as_array().unwrap())
        .collect();
    let live = |id: &str| -> Value {
        let step = steps.iter().find(|s| s["id"] == id).unwrap();
        step["live"].clone()
    };
    let fence = live("fence_old_primary");
    assert_eq!(fence["outlook"], "change", "{fence}");
    assert!(
        fence["summary"]
            .as_str()
            .unwrap()
            .starts_with("make 127.0.0.1:26531 (primary) read-only"),
        "{fence}"
    );
    let promote = live("promote_db");
    assert_eq!(promote["outlook"], "change", "{promote}");
    assert!(
        promote["summary"]
            .as_str()
            .unwrap()
            .starts_with("promote 127.0.0.1:26532: a replica"),
        "{promote}"
    );
    let cache = live("promote_cache");
    assert_eq!(cache["outlook"], "change", "{cache}");
    assert_eq!(
        live("caught_up")["live"],
        "not_asked",
        "skipped when not planned"
    );
    let shift = steps.iter().find(|s| s["id"] == "shift_traffic").unwrap();
    let first = &shift["items"][0]["live"];
    assert_eq!(
        first["summary"], "app/b weight 0 -> 20, app/a weight 100 -> 80",
        "{first}"
    );
    assert_eq!(live("announce")["live"], "not_asked");

    // Nothing moved: a still primary, b still a replica, the Sentinels still on a.
    assert_eq!(d.lab.must(&["pg-role", "a"]).trim(), "primary");
    assert_eq!(d.lab.must(&["pg-role", "b"]).trim(), "replica");
    let again = d.run(&args);
    assert!(
        again.contains("live: would change: app/b weight 0 -> 20, app/a weight 100 -> 80"),
        "{again}"
    );

    // A secret that cannot be read: the steps that need it are not asked, and say why.
    let mut cmd = d.drctl(&args);
    cmd.env_remove("DRCTL_LAB_PG_B");
    let (code, out) = finish(&mut cmd);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "live: not asked: secret `pg_b`: environment variable DRCTL_LAB_PG_B is not set"
        ),
        "{out}"
    );
}

/// A TCP relay to HAProxy's runtime API that holds each command for `delay` before it
/// passes it on (and passes it on even if the client is gone by then). Returns its address.
fn slow_relay(to: String, delay: Duration) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let to = to.clone();
            std::thread::spawn(move || {
                let mut client = client;
                let mut command = Vec::new();
                let mut byte = [0u8; 1];
                while client.read(&mut byte).is_ok_and(|n| n == 1) {
                    command.push(byte[0]);
                    if byte[0] == b'\n' {
                        break;
                    }
                }
                std::thread::sleep(delay);
                let Ok(mut upstream) = std::net::TcpStream::connect(&to) else {
                    return;
                };
                let _ = upstream.write_all(&command);
                let mut reply = Vec::new();
                let _ = upstream.read_to_end(&mut reply);
                let _ = client.write_all(&reply);
            });
        }
    });
    addr
}
