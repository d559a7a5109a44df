//! approvals, approve, reject, `--as` and drctl.toml, through the real binary: a gate
//! waits in a foreground `drctl run` while other "people" decide from other processes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::support::{config_file, drctl_in, finish, os_user, wait_for_text};

/// Groups, and the tests' OS user allowed to act as anyone.
fn config() -> String {
    format!(
        "[groups]\nsre = [\"alice\", \"bob\"]\ndba = [\"carol\"]\n\n[identity]\nact_as = {{ {} = [\"*\"] }}\n",
        os_user()
    )
}

const GATE: &str = r#"runbook: gated
steps:
  - { id: check, action: log, with: { message: ok } }
  - id: gate
    needs: [check]
    approval:
      message: "Fail over?"
      approvers: [group:sre, group:dba]
      min: 2
      distinct_groups: true
      timeout: 10m
  - { id: promote, needs: [gate], action: log, with: { message: "by {{ steps.gate.output.approved_by | map(attribute='by') | join(',') }}" } }
"#;

struct Lab {
    dir: PathBuf,
    config: PathBuf,
}

impl Lab {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-approve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("gate.yaml"), GATE).unwrap();
        let config = config_file(&format!("approve-{name}"), &config());
        Self { dir, config }
    }

    /// drctl as `who` (the OS user acts as anyone under this lab's configuration).
    fn cmd(&self, who: &str, args: &[&str]) -> Command {
        let mut cmd = drctl_in(&self.dir, who);
        cmd.env("DRCTL_CONFIG", &self.config).args(args);
        cmd
    }

    fn drctl(&self, who: &str, args: &[&str]) -> (i32, String) {
        finish(&mut self.cmd(who, args))
    }

    fn start(&self, who: &str) -> (Child, String) {
        let out = std::fs::File::create(self.dir.join("run.out")).unwrap();
        let child = self
            .cmd(who, &["run", "gate.yaml"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let text = self.wait_for("waits for approval");
        let id = text.split_whitespace().nth(1).unwrap().to_owned();
        (child, id)
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("run.out")).unwrap_or_default()
    }

    fn wait_for(&self, text: &str) -> String {
        wait_for_text(&self.dir.join("run.out"), &[text])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn a_gate_passes_with_two_groups_and_refuses_who_may_not_decide() {
    let lab = Lab::new("pass");
    let (mut run, id) = lab.start("alice");
    assert!(
        lab.output()
            .contains(&format!("drctl approve|reject {id} gate"))
    );

    let (code, list) = lab.drctl("bob", &["approvals"]);
    assert_eq!(code, 0, "{list}");
    assert!(
        list.contains(&id) && list.contains("gate: 0 of 2 approvals"),
        "{list}"
    );
    assert!(list.contains("you may approve"), "{list}");
    let (_, list) = lab.drctl("alice", &["approvals"]);
    assert!(list.contains("four-eyes"), "{list}");

    let (code, err) = lab.drctl("alice", &["approve", &id, "gate", "-m", "mine"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("alice started this run"), "{err}");
    let (code, err) = lab.drctl("mallory", &["approve", &id, "gate", "-m", "hi"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mallory is not among the approvers"), "{err}");
    let (code, err) = lab.drctl("bob", &["approve", &id, "gate"]);
    assert_eq!(code, 2, "-m is required: {err}");

    let (code, said) = lab.drctl("bob", &["approve", &id, "gate", "-m", "lag is 0"]);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("bob approved `gate`") && said.contains("group:sre"),
        "{said}"
    );
    lab.wait_for("bob approved gate");
    let (code, said) = lab.drctl("carol", &["approve", &id, "gate", "-m", "dba ok"]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(run.wait().unwrap().code(), Some(0), "{}", lab.output());
    let (_, logs) = lab.drctl("bob", &["logs", &id, "promote"]);
    assert!(logs.contains(r#""message":"by bob,carol""#), "{logs}");
    let (_, logs) = lab.drctl("bob", &["logs", &id]);
    assert!(
        logs.contains("carol approved gate (group:dba): dba ok"),
        "{logs}"
    );
}

#[test]
fn a_rejection_fails_the_run_with_the_reason() {
    let lab = Lab::new("reject");
    let (mut run, id) = lab.start("alice");
    let (code, said) = lab.drctl("carol", &["reject", &id, "gate", "-m", "replica is behind"]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(run.wait().unwrap().code(), Some(1), "{}", lab.output());
    assert!(
        lab.output()
            .contains("rejected by carol: replica is behind"),
        "{}",
        lab.output()
    );
    let (_, list) = lab.drctl("bob", &["approvals"]);
    assert!(list.contains("No approval is waiting"), "{list}");
}

#[test]
fn as_needs_the_configuration_and_a_bad_configuration_says_where() {
    let lab = Lab::new("identity");
    let me = os_user();
    std::fs::write(
        &lab.config,
        format!("[groups]\nsre = [\"alice\"]\n\n[identity]\nact_as = {{ {me} = [\"alice\"] }}\n"),
    )
    .unwrap();
    let (code, err) = lab.drctl("bob", &["ls"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{me} may not act as bob")), "{err}");
    let (code, out) = lab.drctl("alice", &["validate", "gate.yaml"]);
    assert_eq!(code, 0, "{out}");

    std::fs::write(&lab.config, "[groups]\nsre = \"alice\"\n").unwrap();
    let (code, err) = lab.drctl(&me, &["ls"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("drctl.toml:2:7"), "{err}");
}
