//! `drctl serve` and `drctl run --detach`: a detached run is driven by the server; a
//! server killed with SIGKILL mid-step is replaced by one that settles the run by itself
//! (no `resume` typed, no effect doubled, the hash chain intact); SIGTERM lets the step
//! under way finish and hands the run back for the next start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{drctl_in, finish, os_user, wait_for_text};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn detach(&self, runbook: &str, text: &str) -> String {
        std::fs::write(self.0.join(runbook), text).unwrap();
        let (code, out) = finish(drctl_in(&self.0, &os_user()).args(["run", "--detach", runbook]));
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("drctl serve"), "{out}");
        out.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// `drctl serve`, its output in `name`.
    fn serve(&self, name: &str) -> Child {
        let out = std::fs::File::create(self.0.join(name)).unwrap();
        drctl_in(&self.0, &os_user())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap_or_default()
    }

    fn wait_for(&self, file: &str, any: &[&str]) -> String {
        wait_for_text(&self.0.join(file), any)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn term(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

/// Waits until the file's text says the step began, polling the file (what the step
/// wrote), not drctl's output.
fn wait_file(path: &Path, what: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(what)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} never came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_killed_server_is_replaced_by_one_that_settles_its_runs_by_itself() {
    let d = Dir::new("kill");
    // `mark` is not idempotent; its check says whether it took effect.
    let run = d.detach(
        "served.yaml",
        r#"runbook: served
steps:
  - id: mark
    action: exec
    with:
      argv: [sh, -c, 'echo mark >> effects; sleep 1']
      reconcile: { argv: [sh, -c, 'test -s effects'] }
  - id: after
    needs: [mark]
    action: exec
    with: { argv: [sh, -c, 'echo after >> effects'] }
"#,
    );
    let mut first = d.serve("serve-1.out");
    wait_file(&d.0.join("effects"), "mark");
    first.kill().unwrap();
    first.wait().unwrap();
    let started = Instant::now();
    let mut second = d.serve("serve-2.out");
    let out = d.wait_for("serve-2.out", &[&format!("{run}: succeeded")]);
    let settled = started.elapsed();
    println!("serve: the restarted server settled the killed run in {settled:.2?}:\n{out}");
    // The dead server's lease (30 s) was not waited out: its process is gone.
    assert!(settled < Duration::from_secs(20), "{settled:?}\n{out}");
    assert!(out.contains("is gone"), "{out}");
    term(&second);
    assert!(second.wait().unwrap().success());
    assert_eq!(d.read("effects"), "mark\nafter\n", "no effect doubled");
    let (code, log) = finish(drctl_in(&d.0, &os_user()).args(["logs", &run]));
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("reconcil"), "{log}");
    let (code, out) = finish(drctl_in(&d.0, &os_user()).args(["audit", "verify"]));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn sigterm_lets_the_step_finish_and_the_next_start_continues() {
    let d = Dir::new("term");
    let run = d.detach(
        "served.yaml",
        r#"runbook: served
steps:
  - id: slow
    action: exec
    with: { argv: [sh, -c, 'echo started >> effects; sleep 1; echo slow >> effects'] }
  - id: after
    needs: [slow]
    action: exec
    with: { argv: [sh, -c, 'echo after >> effects'] }
"#,
    );
    let mut first = d.serve("serve-1.out");
    wait_file(&d.0.join("effects"), "started");
    term(&first);
    assert!(first.wait().unwrap().success());
    let out = d.read("serve-1.out");
    assert!(out.contains(&format!("{run}: handed back")), "{out}");
    // The step under way finished; the one after it did not start.
    assert_eq!(d.read("effects"), "started\nslow\n");
    let (_, shown) = finish(drctl_in(&d.0, &os_user()).args(["ls"]));
    assert!(!shown.contains("paused"), "{shown}");
    let mut second = d.serve("serve-2.out");
    d.wait_for("serve-2.out", &[&format!("{run}: succeeded")]);
    term(&second);
    assert!(second.wait().unwrap().success());
    assert_eq!(d.read("effects"), "started\nslow\nafter\n");
}
