//! `drctl tui` end to end in tmux, as an operator would use it: a run waits at its
//! gate; the console, as a second identity, reaches the gate with keystrokes, approves
//! it with a comment, and shows the run finish; `q` restores the terminal. Once against
//! `drctl serve` (`--server`, with a token), once on the local database while another
//! process drives the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::api::{serve, token};
use crate::support::{config_file, drctl_in, finish};

const GATED: &str = r#"runbook: region-failover
objectives: { rto: 5m }
steps:
  - { id: check_replica, action: log, with: { message: "replica ok" }, marks: [rto_start] }
  - id: approve_failover
    needs: [check_replica]
    approval: { approvers: [alice, bob], message: "Fail over?" }
  - { id: promote, needs: [approve_failover], action: log, with: { message: "promoted" } }
  - id: sync_data
    needs: [promote]
    action: exec
    with: { argv: [bash, -c, 'echo "synced part 1 of 2"; sleep 8; echo "synced part 2 of 2"'] }
  - { id: switch_dns, needs: [sync_data], action: log, with: { message: "dns" }, marks: [rto_end] }
"#;

/// A tmux session, killed when dropped.
pub(crate) struct Pane(String);

impl Pane {
    /// Starts `command` (a shell line) in a 100x30 pane; the line after it says how it
    /// exited, so that the test can tell the console is gone and the shell is back.
    pub(crate) fn open(name: &str, command: &str) -> Self {
        let tmux = Path::new("/usr/bin/tmux");
        assert!(
            tmux.exists(),
            "tmux is not installed: apt-get install tmux (.ci/run does)"
        );
        let session = format!("drctl-{name}-{}", std::process::id());
        let line = format!("{command}; echo \"EXITED $?\"; sleep 60");
        let (code, out) = finish(Command::new("tmux").args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "100",
            "-y",
            "30",
            &line,
        ]));
        assert_eq!(code, 0, "{out}");
        Self(session)
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        for k in keys {
            let (code, out) = finish(Command::new("tmux").args(["send-keys", "-t", &self.0, k]));
            assert_eq!(code, 0, "{out}");
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub(crate) fn text(&self, text: &str) {
        let (code, out) =
            finish(Command::new("tmux").args(["send-keys", "-t", &self.0, "-l", text]));
        assert_eq!(code, 0, "{out}");
    }

    pub(crate) fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until every one of `all` is on screen.
    pub(crate) fn until(&self, all: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if all.iter().all(|t| s.contains(t)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "not all of {all:?} on screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

/// The keystrokes of an operator: to the approvals, approve with a comment, then to the
/// run's `exec` step, whose output shows while it runs, and back to the run, which
/// finishes on screen; then quit.
fn approve_and_watch(pane: &Pane) {
    pane.until(&["region-failover", "Runs"]);
    pane.keys(&["2"]);
    pane.until(&["approve_failover", "you may decide it"]);
    pane.keys(&["a"]);
    pane.until(&["Approve approve_failover", "comment:"]);
    pane.text("replica checked, failing over");
    pane.keys(&["Enter"]);
    pane.until(&["No gate is waiting"]);
    pane.keys(&["1", "Enter"]);
    pane.until(&["sync_data"]);
    pane.keys(&["j", "j", "j", "Enter"]);
    pane.until(&["› sync_data", "stdout so far", "synced part 1 of 2"]);
    pane.keys(&["Escape"]);
    let done = pane.until(&["succeeded", "5/5 steps", "RTO"]);
    assert!(done.contains("✓ switch_dns"), "{done}");
    pane.keys(&["q"]);
    let after = pane.until(&["EXITED 0"]);
    // The console's screen is gone: the terminal is the shell's again.
    assert!(!after.contains("drctl ·"), "{after}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drctl-console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    std::fs::write(dir.join("runbooks/gated.yaml"), GATED).unwrap();
    dir
}

#[test]
fn an_operator_approves_through_the_console_against_a_server() {
    let dir = scratch("server");
    let (alice, a) = token("alice-ops", "operator", "alice");
    let (bob, b) = token("bob-approver", "approver", "bob");
    let config = config_file(
        "console",
        &format!("[serve]\nrunbooks = {:?}\n\n{a}\n{b}", dir.join("runbooks")),
    );
    let (mut server, http) = serve(&dir, &config);
    let url = format!("http://{}", http.addr);
    let (code, out) = finish(
        Command::new(env!("CARGO_BIN_EXE_drctl"))
            .current_dir(&dir)
            .env("DRCTL_SERVER", &url)
            .env("DRCTL_TOKEN", &alice)
            .args(["run", "runbooks/gated.yaml", "--detach"]),
    );
    assert_eq!(code, 0, "{out}");
    let pane = Pane::open(
        "server",
        &format!(
            "cd {} && DRCTL_SERVER={url} DRCTL_TOKEN={bob} NO_COLOR=1 {} tui",
            dir.display(),
            env!("CARGO_BIN_EXE_drctl")
        ),
    );
    // The title says whom the token acts as, as the server knows it.
    pane.until(&["bob (approver) at http://"]);
    approve_and_watch(&pane);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_operator_approves_through_the_console_on_the_local_database() {
    let dir = scratch("local");
    // Another process drives the run, as `drctl run` in another terminal would.
    let mut driver = drctl_in(&dir, "alice")
        .args(["run", "runbooks/gated.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("runs.db").exists() {
        assert!(Instant::now() < deadline, "the run did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = crate::support::act_as_anyone();
    let pane = Pane::open(
        "local",
        &format!(
            "cd {} && DRCTL_DB={} DRCTL_CONFIG={} NO_COLOR=1 {} --as bob tui",
            dir.display(),
            dir.join("runs.db").display(),
            config.display(),
            env!("CARGO_BIN_EXE_drctl")
        ),
    );
    approve_and_watch(&pane);
    let status = driver.wait().unwrap();
    assert!(
        status.success(),
        "the run's own process saw it end: {status}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
