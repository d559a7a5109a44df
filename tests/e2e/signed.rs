//! Audit evidence that holds against whoever can write the database: a server with a
//! signing key signs every ledger head; the database is then rewritten consistently (an
//! approval's comment changed, every hash after it recomputed, in the run's chain and in
//! the ledger), which plain `audit verify` cannot tell, and `audit verify --key` names
//! the run, in the database and in an export.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drctl_core::{RunId, Timestamp};
use drctl_store::NewEvent;
use drctl_store::ledger::{LedgerKind, next};
use sqlx::Row as _;

use crate::api::{serve_with, token};
use crate::receiver::{HOOK_SECRET, Receiver};
use crate::support::{config_file, drctl_in, finish, os_user};

const GATE: &str = "runbook: gated\nsteps:\n  - id: gate\n    approval: { message: \"Fail over?\", approvers: [group:sre] }\n  - { id: after, needs: [gate], action: log, with: { message: done } }\n";
const QUICK: &str =
    "runbook: quick\nsteps:\n  - { id: hello, action: log, with: { message: hi } }\n";

fn remote(dir: &Path, url: &str, token: &str, args: &[&str]) -> (i32, String) {
    finish(
        Command::new(env!("CARGO_BIN_EXE_drctl"))
            .current_dir(dir)
            .env("DRCTL_SERVER", url)
            .env("DRCTL_TOKEN", token)
            .args(args),
    )
}

fn local(dir: &Path, args: &[&str]) -> (i32, String) {
    finish(drctl_in(dir, &os_user()).args(args))
}

#[test]
fn a_consistently_rewritten_database_passes_plain_verify_and_fails_against_the_signed_heads() {
    let dir: PathBuf = std::env::temp_dir().join(format!("drctl-signed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    std::fs::write(dir.join("runbooks/gated.yaml"), GATE).unwrap();
    std::fs::write(dir.join("runbooks/quick.yaml"), QUICK).unwrap();

    // The key: a new file, readable by its owner alone; never overwritten.
    let key_file = dir.join("signing.key");
    let (code, out) = local(&dir, &["key", "create", key_file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let public = out
        .lines()
        .find(|l| l.starts_with("drctl-ed25519 "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let secret = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !out.contains(secret.split_whitespace().nth(1).unwrap()),
        "{out}"
    );
    let (code, out) = local(&dir, &["key", "create", key_file.to_str().unwrap()]);
    assert_eq!(code, 2, "an existing key is not overwritten: {out}");
    std::fs::write(dir.join("public.key"), &public).unwrap();

    let (alice, a) = token("alice-signed", "admin", "alice");
    let (bob, b) = token("bob-signed", "approver", "bob");
    let text = |key: &Path| {
        format!(
            "[groups]\nsre = [\"alice\", \"bob\"]\n\n[serve]\nrunbooks = {:?}\nsigning_key = {key:?}\n\n{a}\n{b}",
            dir.join("runbooks")
        )
    };
    // A key others may read is refused: whoever reads it can sign a forged history.
    let exposed = dir.join("exposed.key");
    std::fs::copy(&key_file, &exposed).unwrap();
    std::fs::set_permissions(
        &exposed,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (code, out) = finish(
        drctl_in(&dir, &os_user())
            .env(
                "DRCTL_CONFIG",
                config_file("signed-exposed", &text(&exposed)),
            )
            .args(["serve", "--listen", "127.0.0.1:0"]),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("chmod 600"), "{out}");

    // Each batch of signed heads goes to a sink outside the database first (HMAC-signed;
    // the sink refuses the first one, so the batch is sent again).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = rt.block_on(Receiver::start());
    sink.fail_next(1);
    let config = config_file(
        "signed",
        &format!(
            "{}\n[serve.publish_heads]\nurl = \"{}/hook\"\nhmac_secret_env = \"DRCTL_TEST_HEADS_SECRET\"\n",
            text(&key_file),
            sink.base
        ),
    );
    let (mut server, http) = serve_with(&dir, &config, &[("DRCTL_TEST_HEADS_SECRET", HOOK_SECRET)]);
    let url = format!("http://{}", http.addr);
    let r = |token: &str, args: &[&str]| remote(&dir, &url, token, args);
    assert_eq!(r(&alice, &["run", "runbooks/quick.yaml"]).0, 0);
    let (code, out) = r(&alice, &["run", "runbooks/gated.yaml", "--detach"]);
    assert_eq!(code, 0, "{out}");
    let gated: RunId = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !r(&bob, &["approvals"]).1.contains(gated.as_str()) {
        assert!(Instant::now() < deadline, "no gate");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out) = r(
        &bob,
        &[
            "approve",
            gated.as_str(),
            "gate",
            "-m",
            "checked the replica",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(r(&alice, &["logs", "-f", gated.as_str()]).0, 0);
    assert_eq!(r(&alice, &["run", "runbooks/quick.yaml"]).0, 0);
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let served = std::fs::read_to_string(dir.join("serve.out")).unwrap();
    assert!(
        served.contains("signing ledger heads with key sha256:"),
        "{served}"
    );

    // Every signature stored was published, as stored.
    let mut published: Vec<serde_json::Value> = sink
        .accepted()
        .into_iter()
        .filter(|r| r.path == "/hook")
        .flat_map(|r| r.body["heads"].as_array().cloned().unwrap_or_default())
        .collect();
    published.sort_by_key(|h| h["seq"].as_u64());
    published.dedup_by_key(|h| h["seq"].as_u64());
    let seqs: Vec<u64> = published.iter().filter_map(|h| h["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "{published:?}");

    // As signed: both checks pass, on the database and on an export.
    let key = dir.join("public.key");
    let key = key.to_str().unwrap();
    let (code, out) = local(&dir, &["audit", "verify", "--key", key]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("matches the 6 heads key sha256:"), "{out}");
    assert_eq!(local(&dir, &["audit", "export", "-o", "before.jsonl"]).0, 0);
    let (code, out) = local(&dir, &["audit", "verify", "before.jsonl", "--key", &public]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 ledger entries"), "{out}");

    // An export cut short: the gated run's events after its approval request removed,
    // its end's ledger entry and signature dropped, the manifest made consistent again.
    let text = std::fs::read_to_string(dir.join("before.jsonl")).unwrap();
    let cut = cut_export(&text, &gated);
    std::fs::write(dir.join("cut.jsonl"), &cut).unwrap();
    let (code, out) = local(&dir, &["audit", "verify", "cut.jsonl"]);
    assert_eq!(code, 0, "consistent without the key: {out}");
    let (code, out) = local(&dir, &["audit", "verify", "cut.jsonl", "--key", &public]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("run {gated}: no signed head covers")),
        "{out}"
    );

    rewrite(&dir.join("runs.db"), &gated);

    // Plain verify cannot tell; against the signed heads, the run is named.
    let (code, out) = local(&dir, &["audit", "verify"]);
    assert_eq!(
        code, 0,
        "a consistent rewrite passes the unkeyed check: {out}"
    );
    let (code, out) = local(&dir, &["audit", "verify", "--key", key]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "run {gated}: its history no longer matches what was signed"
        )),
        "{out}"
    );
    assert_eq!(local(&dir, &["audit", "export", "-o", "after.jsonl"]).0, 0);
    let (code, out) = local(&dir, &["audit", "verify", "after.jsonl"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = local(&dir, &["audit", "verify", "after.jsonl", "--key", key]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "run {gated}: its history no longer matches what was signed"
        )),
        "{out}"
    );
    // Another key vouches for nothing here.
    let (code, out) = local(&dir, &["key", "create", "other.key"]);
    assert_eq!(code, 0, "{out}");
    let other = out
        .lines()
        .find(|l| l.starts_with("drctl-ed25519 "))
        .unwrap();
    let (code, out) = local(&dir, &["audit", "verify", "--key", other]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no head is signed by key"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What someone who can write the database file does: the approval's comment changed,
/// then every hash after it recomputed (the run's chain, its row, the ledger) with the
/// project's own hash functions, so that every unkeyed check holds.
fn rewrite(db: &Path, run: &RunId) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows = sqlx::query(
            "SELECT seq, at, actor, kind, body, prev_hash FROM events WHERE run_id = ? ORDER BY seq",
        )
        .bind(run.as_str())
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut prev: Option<String> = None;
        let mut changed = false;
        for r in &rows {
            let seq: i64 = r.get("seq");
            let mut body: String = r.get("body");
            let kind: String = r.get("kind");
            if kind == "approval_decided" {
                assert!(body.contains("checked the replica"), "{body}");
                body = body.replace("checked the replica", "nobody checked anything");
                changed = true;
            }
            let before = prev.clone().unwrap_or_else(|| r.get("prev_hash"));
            let event = NewEvent {
                at: Timestamp::from_millis(r.get("at")),
                actor: drctl_core::Actor::from_stored(r.get("actor")),
                kind,
                body: body.clone(),
            };
            let hash = drctl_store::chain::hash(&before, run, seq as u64, &event);
            sqlx::query("UPDATE events SET body = ?, prev_hash = ?, hash = ? WHERE run_id = ? AND seq = ?")
                .bind(&body)
                .bind(&before)
                .bind(&hash)
                .bind(run.as_str())
                .bind(seq)
                .execute(&mut conn)
                .await
                .unwrap();
            prev = Some(hash);
        }
        assert!(changed, "no approval to change");
        let head = prev.unwrap();
        sqlx::query("UPDATE runs SET head_hash = ? WHERE id = ?")
            .bind(&head)
            .bind(run.as_str())
            .execute(&mut conn)
            .await
            .unwrap();
        // The ledger, from the run's end on: each entry's head and hash anew.
        let entries = sqlx::query("SELECT seq, run_id, kind, version, head, hash FROM ledger ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let mut last: Option<(u64, String)> = None;
        for e in &entries {
            let seq = e.get::<i64, _>("seq") as u64;
            let id: RunId = e.get::<String, _>("run_id").parse().unwrap();
            let kind: String = e.get("kind");
            let mut entry_head: String = e.get("head");
            if id == *run && kind == "finished" {
                entry_head = head.clone();
            }
            let kind = LedgerKind::parse(&kind).unwrap();
            let version = e.get::<i64, _>("version") as u64;
            let entry = next(
                last.as_ref().map(|(s, h)| (*s, h.as_str())),
                &id,
                kind,
                version,
                &entry_head,
            );
            assert_eq!(entry.seq, seq);
            sqlx::query("UPDATE ledger SET head = ?, prev_hash = ?, hash = ? WHERE seq = ?")
                .bind(&entry.head)
                .bind(&entry.prev_hash)
                .bind(&entry.hash)
                .bind(seq as i64)
                .execute(&mut conn)
                .await
                .unwrap();
            last = Some((seq, entry.hash));
        }
    });
}

/// `text` (a JSONL export) with `run` cut after its third event, and the manifest
/// rewritten to agree: counts, head, digest, and the run's end entry and its signature
/// left out, as a forger would.
fn cut_export(text: &str, run: &RunId) -> String {
    use sha2::Digest as _;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut manifest: serde_json::Value = serde_json::from_str(&lines.pop().unwrap()).unwrap();
    let mut kept = Vec::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        if v["run"] == run.as_str() && v["seq"].as_u64().unwrap() > 3 {
            continue;
        }
        kept.push(l);
    }
    let last = kept
        .iter()
        .rev()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["run"] == run.as_str())
        .unwrap();
    let m = &mut manifest["manifest"];
    for head in m["runs"].as_array_mut().unwrap() {
        if head["run"] == run.as_str() {
            head["events"] = 3.into();
            head["head"] = last["hash"].clone();
        }
    }
    m["events"] = (kept.len() as u64).into();
    let ends: Vec<u64> = m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["run"] == run.as_str() && e["kind"] == "finished")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    m["entries"]
        .as_array_mut()
        .unwrap()
        .retain(|e| !(e["run"] == run.as_str() && e["kind"] == "finished"));
    m["signed"]
        .as_array_mut()
        .unwrap()
        .retain(|s| !ends.contains(&s["seq"].as_u64().unwrap()));
    // Filtered, so that the entries need not run without a gap.
    m["filters"] = serde_json::json!({ "runbook": "any" });
    let mut digest = sha2::Sha256::new();
    for l in &kept {
        digest.update(l.as_bytes());
        digest.update(b"\n");
    }
    m["digest"] = hex::encode(digest.finalize()).into();
    kept.push(manifest.to_string());
    kept.join("\n") + "\n"
}
