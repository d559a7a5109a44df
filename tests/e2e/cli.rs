//! validate, graph, plan and actions, driven through the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn drctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run drctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BROKEN: &str = "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n  - id: b\n    needs: [aa]\n    action: log\n    with: { message: hi }\n";
const WARNS: &str = "runbook: t\nsecrets:\n  unused: { env: X }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n";

#[test]
fn validate_the_shipped_runbooks_exits_0() {
    let o = drctl(&["validate", "runbooks/"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("runbooks: 0 errors, 0 warnings"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn validate_reports_file_line_col_with_a_snippet_and_exits_2() {
    let s = Scratch::new("broken");
    let path = s.file("broken.yaml", BROKEN);
    let o = drctl(&["validate", &path]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{path}:7:13: error: unknown step `aa` in `needs`")),
        "{out}"
    );
    assert!(
        out.contains("    needs: [aa]"),
        "the source line is shown: {out}"
    );
    assert!(out.contains("did you mean `a`?"), "{out}");
    assert!(out.contains("1 runbook: 1 error, 0 warnings"), "{out}");
}

#[test]
fn validate_json_is_machine_readable() {
    let s = Scratch::new("json");
    let path = s.file("broken.yaml", BROKEN);
    let o = drctl(&["validate", "--format", "json", &path]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["errors"], 1);
    let d = &v["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "unknown-need");
    assert_eq!(d["severity"], "error");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(7), Some(13))
    );
    assert_eq!(d["hint"], "did you mean `a`?");
}

#[test]
fn warnings_fail_only_under_strict() {
    let s = Scratch::new("warn");
    let path = s.file("warn.yaml", WARNS);
    let o = drctl(&["validate", &path]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(":3:3: warning: secret `unused` is never used"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        drctl(&["validate", "--strict", &path]).status.code(),
        Some(1)
    );
}

#[test]
fn validate_walks_folders_and_reports_every_file() {
    let s = Scratch::new("folder");
    s.file("a.yaml", BROKEN);
    s.file("b.yml", WARNS);
    s.file("notes.txt", "not a runbook");
    let dir = s.0.display().to_string();
    let o = drctl(&["validate", &dir]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("2 runbooks: 1 error, 1 warning"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn unreadable_paths_are_errors_not_panics() {
    let o = drctl(&["validate", "no/such/file.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/file.yaml"), "{}", stderr(&o));
    let s = Scratch::new("empty");
    let o = drctl(&["validate", &s.0.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no runbooks"), "{}", stderr(&o));
}

#[test]
fn graph_in_three_formats() {
    let dot = drctl(&["graph", "runbooks/failover.yaml", "--format", "dot"]);
    assert_eq!(dot.status.code(), Some(0));
    let dot = stdout(&dot);
    assert!(dot.starts_with("digraph \"region-failover\" {"), "{dot}");
    assert!(dot.contains("\"gate\" -> \"fence_old_primary\";"), "{dot}");
    assert!(dot.contains("shape=diamond"), "{dot}");
    let mermaid = stdout(&drctl(&[
        "graph",
        "runbooks/failover.yaml",
        "--format",
        "mermaid",
    ]));
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    assert!(
        mermaid.contains("  promote_db --> shift_traffic"),
        "{mermaid}"
    );
    let text = stdout(&drctl(&["graph", "runbooks/failover.yaml"]));
    assert!(text.contains("  5  shift_traffic"), "{text}");
    assert!(text.contains("<- promote_db, cache_settled"), "{text}");
}

#[test]
fn graph_of_a_broken_runbook_shows_its_errors() {
    let s = Scratch::new("graph");
    let path = s.file("broken.yaml", BROKEN);
    let o = drctl(&["graph", &path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(":7:13: error:"), "{}", stderr(&o));
}

#[test]
fn plan_of_the_failover_runbook_is_readable() {
    let o = drctl(&[
        "plan",
        "runbooks/failover.yaml",
        "-p",
        "from=a",
        "-p",
        "to=b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for expected in [
        "Plan for region-failover (runbooks/failover.yaml, sha256:",
        "step_percent    = 20  (default)",
        "lock failover/a-b",
        "url: https://a.app.example.com/healthz",
        "dsn: ***",
        "weights: [{server: b, weight: 40}, {server: a, weight: 60}]",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn plan_rejects_bad_params_with_every_reason() {
    let o = drctl(&[
        "plan",
        "runbooks/failover.yaml",
        "-p",
        "form=a",
        "-p",
        "to=c",
        "-p",
        "step_percent=x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("unknown parameter `form` (did you mean `from`?)"),
        "{err}"
    );
    assert!(err.contains("missing required parameter `from`"), "{err}");
    assert!(
        err.contains("`step_percent`: `x` is not an integer"),
        "{err}"
    );
    assert!(err.contains("\"c\" is not one of \"a\", \"b\""), "{err}");
}

/// `--live` without a lab: a refused connection is "cannot read now", a missing socket
/// "would fail", an action without a preview says so; the exit code stays 0 (the runbook
/// is fine, the world is what it is) and the secret's value is never shown.
#[test]
fn live_plan_reports_what_it_cannot_read_without_showing_secrets() {
    let scratch = Scratch::new("live-plan");
    let rb = scratch.file(
        "live.yaml",
        "runbook: live\nsecrets:\n  dsn: { env: LIVE_PLAN_DSN }\nsteps:\n\
         \x20 - id: status\n    action: postgres.replication_status\n    with: { dsn: \"{{ secrets.dsn }}\" }\n\
         \x20 - id: weights\n    action: haproxy.set_weight\n\
         \x20   with: { socket: \"unix:/nonexistent/drctl.sock\", backend: app, server: b, weight: 10 }\n\
         \x20 - id: hello\n    action: log\n    with: { message: hi }\n",
    );
    let o = Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["plan", &rb, "--live", "--live-timeout", "5s"])
        .env(
            "LIVE_PLAN_DSN",
            "postgres://drctl:live-plan-hunter2@127.0.0.1:1/postgres",
        )
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(!out.contains("live-plan-hunter2"), "{out}");
    for expected in [
        "live: cannot read now: 127.0.0.1:1: cannot connect",
        "live: would fail: ",
        "/nonexistent/drctl.sock",
        "live: not asked: this action has no live plan",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn plan_json_has_the_layers() {
    let o = drctl(&["plan", "runbooks/dr-drill.yaml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["runbook"], "dr-drill");
    assert_eq!(v["blocks"][0]["layers"].as_array().unwrap().len(), 11);
    assert_eq!(v["blocks"][1]["block"], "finally");
}

#[test]
fn actions_are_listed_and_described() {
    let list = stdout(&drctl(&["actions"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("postgres.fence") && l.contains("idempotent")),
        "{list}"
    );
    // A promotion is never repeated blindly after a crash: it reconciles.
    assert!(
        list.lines()
            .any(|l| l.starts_with("postgres.promote") && !l.contains("idempotent")),
        "{list}"
    );
    let one = drctl(&["actions", "haproxy.set_state"]);
    assert_eq!(one.status.code(), Some(0));
    assert!(
        stdout(&one).contains("state  (required) one of `ready`, `drain`, `maint`"),
        "{}",
        stdout(&one)
    );
    let bad = drctl(&["actions", "haproxy.set_stat"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("did you mean `haproxy.set_state`?"));
}

#[test]
fn the_readme_example_validates_strictly() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("README has a yaml example") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let s = Scratch::new("readme");
    let path = s.file("readme.yaml", &readme[start..end]);
    let o = drctl(&["validate", "--strict", &path]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}
