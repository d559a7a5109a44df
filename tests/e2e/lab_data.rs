//! The restore and key-rotation runbooks end to end on the lab of `lab.rs` (called from
//! its test, after the failback, so no two labs compete for the cores).
//!
//! Each result is checked twice: by the runbook's own verify steps, and here, from the
//! outside, against the servers themselves (the restored PostgreSQL through HAProxy, and
//! OpenBao asked as the application).

use std::process::Command;

use serde_json::Value;

use crate::lab::Drill;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One step of a run as `drctl show --format json` gives it.
fn step(d: &Drill, run: &str, id: &str) -> Value {
    let shown: Value = serde_json::from_str(&d.run(&["show", run, "--format", "json"])).unwrap();
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == id && s["item"].is_null())
        .unwrap_or_else(|| panic!("no step {id} in {shown}"))
        .clone()
}

/// One value of a query against a lab PostgreSQL server, through psql.
fn psql(port: &str, sql: &str) -> String {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin/psql"))
        .find(|p| p.is_file())
        .expect("psql of the lab's PostgreSQL");
    let out = Command::new(bin)
        .args([
            "-Atq",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql -p {port} -c {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// OpenBao's answer to a POST made as the application (its own token): status and body.
fn as_app(d: &Drill, path: &str, body: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
        .args([
            "-H",
            &format!("X-Vault-Token: {}", d.lab.get("DRCTL_LAB_BAO_APP_TOKEN")),
        ])
        .args(["-d", body])
        .arg(format!("{}/v1/{path}", d.lab.get("DRCTL_LAB_BAO")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

pub(crate) fn restore_and_key_rotation(d: &Drill, lab_ports: &str) {
    restore(d, lab_ports);
    key_rotation(d, lab_ports);
}

/// The restore: a table dropped, the base backup and WAL restored to the moment before.
fn restore(d: &Drill, lab_ports: &str) {
    let lab_dir = d.lab.dir.display().to_string();
    d.run(&[
        "run",
        "--drill",
        &format!("{ROOT}/runbooks/lab/restore.yaml"),
        "-p",
        &format!("lab_ports={lab_ports}"),
        "-p",
        &format!("lab_dir={lab_dir}"),
        "-p",
        &format!("lab_script={ROOT}/scripts/lab"),
        "-p",
        "rows=1000",
    ]);
    let run = d.last_run();
    let report = d.report(&run);
    assert_eq!(report["status"], "succeeded", "{report}");
    let o = &report["objectives"];
    assert_eq!(o["lost_writes"], 0, "{o}");
    assert_eq!(o["rto_met"], true, "{o}");
    assert_eq!(o["rpo_met"], true, "{o}");

    // The verify step compared both tables with what they held before the fault.
    let verify = step(d, &run, "verify_restore");
    let checks = verify["output"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{verify}");
    for c in checks {
        assert_eq!(c["matches"], true, "{c}");
        assert_eq!(c["rows"], 1000, "{c}");
    }

    // From the outside: the damaged primary lost its table, the database backend now
    // serves the restored server, which has every order and none of the later writes.
    let lb = format!("{lab_ports}30");
    let primary = format!("{lab_ports}31");
    assert_eq!(
        psql(&primary, "SELECT to_regclass('public.orders') IS NULL"),
        "t"
    );
    assert_eq!(
        psql(
            &primary,
            "SELECT count(*) FROM ledger WHERE note LIKE 'after-%'"
        ),
        "100"
    );
    assert_eq!(
        psql(&lb, "SELECT inet_server_port()"),
        format!("{lab_ports}33")
    );
    assert_eq!(psql(&lb, "SELECT count(*) FROM orders"), "1000");
    assert_eq!(
        psql(
            &lb,
            "SELECT count(*) FROM ledger WHERE note LIKE 'before-%'"
        ),
        "1000"
    );
    assert_eq!(
        psql(&lb, "SELECT count(*) FROM ledger WHERE note LIKE 'after-%'"),
        "0"
    );
    assert_eq!(psql(&lb, "SELECT pg_is_in_recovery()"), "f");
    let md = d.run(&["report", &run]);
    assert!(md.contains("RPO") && md.contains("PASS"), "{md}");
}

/// The key rotation: rotate, overlap, rewrap, retire; the old version refused at the end.
fn key_rotation(d: &Drill, lab_ports: &str) {
    let before = psql(
        &format!("{lab_ports}31"),
        "SELECT secret FROM app_secrets ORDER BY id LIMIT 1",
    );
    assert!(before.starts_with("vault:v1:"), "{before}");
    d.run(&[
        "run",
        "--drill",
        &format!("{ROOT}/runbooks/lab/key-rotation.yaml"),
        "-p",
        &format!("lab_ports={lab_ports}"),
        "-p",
        "overlap=1s",
    ]);
    let run = d.last_run();
    assert_eq!(d.report(&run)["status"], "succeeded");

    let rotate = step(d, &run, "rotate")["output"].clone();
    assert_eq!(rotate["previous_version"], 1, "{rotate}");
    assert_eq!(rotate["latest_version"], 2, "{rotate}");
    // During the overlap, the 50 secrets from before and the 5 new ones all decrypted.
    let overlap = step(d, &run, "overlap_reads")["output"]["body"].clone();
    assert_eq!(overlap["versions"]["1"], 50, "{overlap}");
    assert_eq!(overlap["versions"]["2"], 5, "{overlap}");
    assert_eq!(overlap["read"], 55, "{overlap}");
    let rewrap = step(d, &run, "rewrap")["output"].clone();
    assert_eq!(rewrap["to_versions"]["2"], 50, "{rewrap}");
    let after = step(d, &run, "app_still_reads")["output"]["body"].clone();
    assert_eq!(after["versions"], serde_json::json!({ "2": 55 }), "{after}");
    assert_eq!(step(d, &run, "old_version_refused")["status"], "succeeded");

    // From the outside: every stored ciphertext is at v2, and a v1 one is refused.
    assert_eq!(
        psql(
            &format!("{lab_ports}31"),
            "SELECT count(*) FROM app_secrets WHERE secret NOT LIKE 'vault:v2:%'"
        ),
        "0"
    );
    let (status, body) = as_app(
        d,
        "transit/decrypt/app-data",
        &format!("{{\"ciphertext\": \"{before}\"}}"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("too old"), "{body}");

    // Versions only: no credential reached the database.
    let db = std::fs::read(d.dir.join("runs.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    for key in [
        "DRCTL_LAB_BAO_SECRET_ID",
        "DRCTL_LAB_BAO_APP_TOKEN",
        "DRCTL_LAB_BAO_TOKEN",
    ] {
        assert!(!db.contains(&d.lab.get(key)), "{key} is in the database");
    }
}
