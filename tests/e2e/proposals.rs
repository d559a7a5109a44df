//! `confirm: true` end to end with the binary: a delivery to `drctl serve`'s hook only
//! proposes its run; `drctl hooks proposals` lists it the same with `--server` and
//! locally; `drctl hooks confirm` starts it (through the server, which drives it, or
//! locally, in the foreground), `drctl hooks reject` discards one; and the audit export
//! holds every delivery.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::api::{serve_with, token};
use crate::support::{config_file, drctl_in, finish};

const SECRET: &str = "page-hook-bearer-0123456789";

const PAGED: &str = r#"runbook: paged
params:
  region: { type: string }
triggers:
  - webhook:
      name: page
      auth: { scheme: bearer, secrets: [ { env: PAGE_HOOK_TOKEN } ] }
      params: { region: "{{ payload.region }}" }
      dedup_key: "{{ payload.incident }}"
      confirm: true
      confirm_within: 30m
steps:
  - { id: failover, action: log, with: { message: "failing {{ params.region }} over" } }
"#;

fn remote(dir: &Path, url: &str, token: &str, args: &[&str]) -> (i32, String) {
    finish(
        Command::new(env!("CARGO_BIN_EXE_drctl"))
            .current_dir(dir)
            .env("DRCTL_SERVER", url)
            .env("DRCTL_TOKEN", token)
            .env("NO_COLOR", "1")
            .args(args),
    )
}

/// The run id a delivery of `incident` was answered with, and its status.
fn deliver(http: &crate::api::Http, incident: &str) -> (String, String) {
    let body = serde_json::json!({ "incident": incident, "region": "eu-west-1" }).to_string();
    let a = http.call("POST", "/hooks/page", Some(SECRET), Some(body.as_bytes()));
    assert_eq!(a.status, 202, "{:?}", a.body);
    (
        a.body["run"].as_str().unwrap_or_default().to_owned(),
        a.body["status"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_proposed_run_starts_only_when_a_person_confirms_it() {
    let dir: PathBuf = std::env::temp_dir().join(format!("drctl-proposals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    std::fs::write(dir.join("runbooks/paged.yaml"), PAGED).unwrap();
    let (olga, entry) = token("olga-ops", "operator", "olga");
    let config = config_file(
        "proposals",
        &format!("[serve]\nrunbooks = {:?}\n\n{entry}", dir.join("runbooks")),
    );
    let (mut server, http) = serve_with(&dir, &config, &[("PAGE_HOOK_TOKEN", SECRET)]);
    let url = format!("http://{}", http.addr);
    let local = |args: &[&str]| finish(drctl_in(&dir, "carol").args(args));

    // Proposed: listed the same through the server and locally.
    let (first, status) = deliver(&http, "inc-1");
    assert_eq!(status, "proposed");
    let (code, listed) = remote(&dir, &url, &olga, &["hooks", "proposals"]);
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed.contains(&first) && listed.contains("eu-west-1"),
        "{listed}"
    );
    let (_, here) = local(&["hooks", "proposals"]);
    assert_eq!(here, listed);
    // The same incident again joins the proposal.
    assert_eq!(
        deliver(&http, "inc-1"),
        (first.clone(), "attached".to_owned())
    );

    // Confirmed through the server: it drives the run to its end.
    let (code, out) = remote(
        &dir,
        &url,
        &olga,
        &[
            "hooks",
            "confirm",
            &first,
            "--reason",
            "region confirmed down",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Confirmed: run started"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, shown) = local(&["show", &first]);
        if shown.contains("succeeded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the confirmed run did not end:\n{shown}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The report tells the chain: the alert, the delivery that joined, who confirmed.
    let (_, report) = local(&["report", &first]);
    assert!(
        report.contains("1 later deliveries attached")
            && report.contains("proposed, then confirmed by olga: region confirmed down"),
        "{report}"
    );
    let (code, again) = remote(
        &dir,
        &url,
        &olga,
        &["hooks", "confirm", &first, "--reason", "x"],
    );
    assert_ne!(code, 0, "{again}");
    assert!(again.contains("no longer proposed"), "{again}");

    // Rejected locally: nothing runs, and it cannot be confirmed after.
    let (second, _) = deliver(&http, "inc-2");
    let (code, out) = local(&["hooks", "reject", &second, "--reason", "a false alarm"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rejected by carol: a false alarm"), "{out}");
    let (code, out) = remote(
        &dir,
        &url,
        &olga,
        &["hooks", "confirm", &second, "--reason", "x"],
    );
    assert_ne!(code, 0, "{out}");
    let (code, _) = local(&["show", &second]);
    assert_ne!(code, 0, "a rejected proposal has no run");

    // Confirmed locally: driven here, in the foreground, by carol.
    let (third, _) = deliver(&http, "inc-3");
    let (code, out) = local(&["hooks", "confirm", &third, "--reason", "paged and checked"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("failover"), "{out}");
    let (_, shown) = local(&["show", &third]);
    assert!(
        shown.contains("succeeded") && shown.contains("carol"),
        "{shown}"
    );
    // Garbage is refused with what was wrong.
    let (code, out) = local(&["hooks", "confirm", "run_nope", "--reason", "x"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not a run id"), "{out}");
    let (_, none) = local(&["hooks", "proposals"]);
    assert!(none.contains("No proposed runs wait."), "{none}");

    // A payload cannot forge or hide the lines a person reads before confirming: its key
    // is shown escaped, on its own line.
    let (forged, _) = deliver(
        &http,
        "inc-4\n  params:  {\"region\":\"staging\"}\n\u{1b}[8m",
    );
    let (_, listed) = local(&["hooks", "proposals"]);
    assert!(!listed.contains('\u{1b}'), "{listed:?}");
    assert!(
        !listed.contains("\n  params:  {\"region\":\"staging\"}"),
        "{listed}"
    );
    assert!(listed.contains(r#"inc-4\n"#), "{listed}");
    let (code, out) = local(&["hooks", "reject", &forged, "--reason", "\u{200b}\u{2060}"]);
    assert_ne!(
        code, 0,
        "a reason of invisible characters says nothing:\n{out}"
    );
    let (code, out) = local(&["hooks", "reject", &forged, "--reason", "ok \u{202e}gnp.exe"]);
    assert_ne!(code, 0, "{out}");
    let (code, out) = local(&["hooks", "reject", &forged, "--reason", "forged"]);
    assert_eq!(code, 0, "{out}");

    // The audit export holds the five deliveries, and never the hook's token; one of a
    // proposal that never ran is exported by its id, with who rejected it.
    let export = dir.join("audit.jsonl");
    let (code, out) = local(&["audit", "export", "-o", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("5 webhook deliveries"), "{out}");
    let (code, out) = local(&["audit", "export", "--run", &second]);
    assert_eq!(code, 0, "{out}");
    let records: Vec<&str> = out.lines().filter(|l| l.contains("\"record\"")).collect();
    assert_eq!(records.len(), 1, "{out}");
    assert!(records[0].contains("\"actor\":\"carol\""), "{out}");
    let (code, out) = local(&["audit", "export", "--actor", "olga"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&first) && !out.contains(&second), "{out}");
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(!text.contains(SECRET));
    let (code, out) = local(&["audit", "verify", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let log = std::fs::read_to_string(dir.join("serve.out")).unwrap();
    assert!(!log.contains(SECRET) && !log.contains(&olga));
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
