//! Secrets appear nowhere. A runbook reads four secrets with known values: it notifies
//! Slack, PagerDuty and a signed webhook (a local receiver that checks each provider's
//! documented format and the signature, so the secrets demonstrably did their job), and
//! runs a program that prints its password and fails with it in its error. Then the
//! database file (with its WAL), everything drctl printed, `show`, `logs`, `ls`, `plan`,
//! the audit export in every format, and `audit verify` are searched for each value.

use crate::receiver::{HOOK_SECRET, Receiver};
use crate::support::{drctl_in, finish};
use std::path::PathBuf;

const SLACK_TOKEN: &str = "xoxSlackTokenSecret42";
const PD_KEY: &str = "R0UT1NGKEY0123456789abcdefABCDEF";
const PASSWORD: &str = "pw-Zq8Kx3Lm-hunter2";

const RUNBOOK: &str = r#"runbook: secretive
secrets:
  slack: { env: T_SLACK }
  pd_key: { env: T_PD }
  hook_key: { env: T_HOOK }
  db_password: { file: pw.txt }
notify:
  - on: [step_failed, run_finished]
    action: notify.slack
    with: { webhook: "{{ secrets.slack }}", text: "{{ notice.summary }}" }
  - on: run_finished
    action: notify.pagerduty
    with:
      url: "BASE/v2/enqueue"
      routing_key: "{{ secrets.pd_key }}"
      event_action: trigger
      summary: "{{ notice.summary }}"
      severity: warning
  - on: run_finished
    action: notify.webhook
    with:
      url: "BASE/hook"
      hmac_secret: "{{ secrets.hook_key }}"
      body: { run: "{{ run.id }}", outcome: "{{ notice.outcome }}" }
steps:
  - id: connect
    action: exec
    with:
      argv: [sh, -c, 'echo "using $PW"; echo "auth failed for $PW" >&2; exit 3']
      env: { PW: "{{ secrets.db_password }}" }
    continue_on_failure: true
  - id: after
    needs: [connect]
    action: log
    with: { message: "connect said {{ steps.connect.status }}" }
"#;

struct Lab {
    dir: PathBuf,
    slack_url: String,
    /// Everything drctl printed, in every command.
    printed: String,
}

impl Lab {
    fn drctl(&mut self, args: &[&str]) -> (i32, String) {
        let (code, text) = finish(
            drctl_in(&self.dir, "alice")
                .args(args)
                .env("T_SLACK", &self.slack_url)
                .env("T_PD", PD_KEY)
                .env("T_HOOK", HOOK_SECRET),
        );
        self.printed.push_str(&text);
        (code, text)
    }

    /// Fails naming where a secret was found.
    fn assert_clean(&self, what: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for (name, value) in [
            ("the Slack webhook URL", self.slack_url.as_str()),
            ("the Slack token", SLACK_TOKEN),
            ("the PagerDuty routing key", PD_KEY),
            ("the webhook HMAC key", HOOK_SECRET),
            ("the database password", PASSWORD),
        ] {
            assert!(!text.contains(value), "{name} appears in {what}");
        }
    }
}

#[test]
fn secrets_never_reach_the_database_logs_exports_or_error_messages() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(Receiver::start());
    let dir = std::env::temp_dir().join(format!("drctl-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.yaml"), RUNBOOK.replace("BASE", &receiver.base)).unwrap();
    std::fs::write(dir.join("pw.txt"), format!("{PASSWORD}\n")).unwrap();
    let mut lab = Lab {
        slack_url: format!("{}/services/T0001/B0001/{SLACK_TOKEN}", receiver.base),
        dir,
        printed: String::new(),
    };

    let (code, out) = lab.drctl(&["run", "r.yaml"]);
    assert_eq!(code, 0, "{out}");
    // The secrets were used: every provider accepted what it got, signature included.
    assert!(receiver.refused().is_empty(), "{:?}", receiver.refused());
    let paths: Vec<String> = receiver.accepted().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert_eq!(
        paths.iter().filter(|p| p.starts_with("/services/")).count(),
        2
    );
    assert!(paths.contains(&"/v2/enqueue".to_owned()) && paths.contains(&"/hook".to_owned()));
    let pd = receiver
        .accepted()
        .into_iter()
        .find(|r| r.path == "/v2/enqueue")
        .unwrap();
    assert_eq!(pd.body["routing_key"], PD_KEY);
    // The failing step's message reached Slack, scrubbed.
    let slack_texts: Vec<String> = receiver
        .accepted()
        .iter()
        .filter(|r| r.path.starts_with("/services/"))
        .map(|r| r.body["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        slack_texts
            .iter()
            .any(|t| t.contains("auth failed for ***")),
        "{slack_texts:?}"
    );
    for t in &slack_texts {
        lab.assert_clean("a Slack message", t.as_bytes());
    }

    let run = out
        .split_whitespace()
        .find(|w| w.starts_with("run_"))
        .unwrap()
        .to_owned();
    let (code, ls) = lab.drctl(&["ls"]);
    assert!(code == 0 && ls.contains(&run), "{ls}");
    let (code, show) = lab.drctl(&["show", &run]);
    assert_eq!(code, 0, "{show}");
    assert!(
        show.contains("auth failed for ***"),
        "the error is kept, scrubbed:\n{show}"
    );
    let (code, logs) = lab.drctl(&["logs", &run]);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("notice"), "{logs}");
    let (code, plan) = lab.drctl(&["plan", "r.yaml"]);
    assert_eq!(code, 0, "{plan}");
    for format in ["jsonl", "csv"] {
        let file = format!("export.{format}");
        let (code, out) = lab.drctl(&["audit", "export", "--format", format, "-o", &file]);
        assert_eq!(code, 0, "{out}");
        let exported = std::fs::read(lab.dir.join(&file)).unwrap();
        let text = String::from_utf8_lossy(&exported);
        // The values were there to leak: the program's output and error are kept, scrubbed.
        assert!(
            text.contains("notice_queued") && text.contains("auth failed for ***"),
            "{text}"
        );
        lab.assert_clean(&format!("the {format} export"), &exported);
        let (code, out) = lab.drctl(&["audit", "verify", &file]);
        assert_eq!(code, 0, "{out}");
    }
    // An error that involves a secret: the run again, with the password's file gone. Every
    // declared secret is read before a run exists, so nothing is created.
    std::fs::remove_file(lab.dir.join("pw.txt")).unwrap();
    let (code, out) = lab.drctl(&["run", "r.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("secret `db_password`") && out.contains("pw.txt"),
        "the error names the secret and the missing file: {out}"
    );
    let (_, ls) = lab.drctl(&["ls"]);
    assert_eq!(ls.matches("run_").count(), 1, "no second run: {ls}");

    for file in ["runs.db", "runs.db-wal", "runs.db-shm"] {
        if let Ok(bytes) = std::fs::read(lab.dir.join(file)) {
            lab.assert_clean(file, &bytes);
        }
    }
    lab.assert_clean("drctl's output", lab.printed.as_bytes());
    let _ = std::fs::remove_dir_all(&lab.dir);
}
