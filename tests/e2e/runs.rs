//! run, resume, ls, show, logs, cancel and step, through the real binary on a SQLite
//! database of its own: exit codes, progress, Ctrl-C, locks, operator decisions.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::support::drctl_in;

/// A folder with its own database, removed on drop.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-runs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn file(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.join(name), text).unwrap();
        name.to_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = drctl_in(&self.dir, "alice");
        cmd.args(args);
        cmd
    }

    fn drctl(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Starts drctl in the background, its output going to `name`.
    fn spawn(&self, name: &str, args: &[&str]) -> Child {
        let out = File::create(self.dir.join(name)).unwrap();
        self.cmd(args)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Waits until the file `name` contains `text`; returns the file.
    fn wait_for(&self, name: &str, text: &str) -> String {
        let start = Instant::now();
        loop {
            let got = self.read(name);
            if got.contains(text) {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "`{text}` never appeared in {name}:\n{got}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The id of the run the output `text` is about (its first line, `Run <id> of <name>`).
    fn run_id(text: &str) -> String {
        let first = text.lines().next().unwrap_or_default();
        assert!(first.starts_with("Run run_"), "{text}");
        first.split_whitespace().nth(1).unwrap().to_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn signal(pid: u32, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

fn wait(child: &mut Child) -> i32 {
    child.wait().unwrap().code().unwrap_or(-1)
}

const HELLO: &str = r#"runbook: hello
params:
  who: { type: string, default: world }
steps:
  - id: greet
    action: exec
    with: { argv: [echo, "hello {{ params.who }}"] }
  - id: check
    needs: [greet]
    action: assert
    with: { that: "{{ 'hello sre' in steps.greet.output.stdout }}" }
"#;

#[test]
fn a_run_shows_its_steps_in_ls_show_and_logs_and_exits_0() {
    let lab = Lab::new("ok");
    let file = lab.file("hello.yaml", HELLO);
    let out = lab.drctl(&["run", &file, "-p", "who=sre"]);
    let shown = text(&out);
    assert_eq!(code(&out), 0, "{shown}");
    assert!(shown.contains("✓ greet"), "{shown}");
    assert!(shown.contains("✓ check"), "{shown}");
    assert!(shown.contains("run succeeded after"), "{shown}");
    let id = Lab::run_id(&shown);

    let ls = text(&lab.drctl(&["ls"]));
    let row = ls.lines().find(|l| l.starts_with(&id)).expect(&ls);
    assert!(row.contains("hello") && row.contains("succeeded") && row.contains("alice"));

    // A unique prefix names the run.
    let show = lab.drctl(&["show", &id[..id.len() - 4]]);
    let show_text = text(&show);
    assert_eq!(code(&show), 0, "{show_text}");
    let greet = show_text.lines().find(|l| l.starts_with("greet")).unwrap();
    assert!(greet.contains("succeeded") && greet.contains(r#""stdout":"hello sre\n""#));
    assert!(show_text.contains("hello.yaml, sha256:"), "{show_text}");

    let logs = text(&lab.drctl(&["logs", &id, "greet"]));
    assert!(logs.contains("stdout | hello sre"), "{logs}");
    assert!(!logs.contains("check"), "only the step asked for: {logs}");
}

#[test]
fn a_failed_step_shows_its_error_in_place_and_the_run_exits_1() {
    let lab = Lab::new("fail");
    let file = lab.file(
        "bad.yaml",
        "runbook: bad\nsteps:\n  - id: boom\n    action: exec\n    with: { argv: [sh, -c, \"echo oops >&2; exit 7\"] }\n    retry: { attempts: 2, backoff: constant, initial: 100ms }\n  - id: after\n    needs: [boom]\n    action: log\n    with: { message: never }\n",
    );
    let out = lab.drctl(&["run", &file]);
    let shown = text(&out);
    assert_eq!(code(&out), 1, "{shown}");
    let lines: Vec<&str> = shown.lines().filter(|l| l.contains("✗ boom")).collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(
        lines[0].ends_with("retrying in 0.10s (attempt 2 of 2)"),
        "{shown}"
    );
    assert!(
        lines[1].contains("exited with code 7") && lines[1].contains("oops"),
        "{shown}"
    );
    assert!(!lines[1].contains("retrying"), "{shown}");
    assert!(!shown.contains("• after"), "{shown}");
    let show = text(&lab.drctl(&["show", &Lab::run_id(&shown)]));
    let after = show.lines().find(|l| l.starts_with("after")).expect(&show);
    assert!(
        after.contains("skipped") && after.contains("the run failed"),
        "{after}"
    );
}

#[test]
fn bad_params_and_unknown_runs_exit_2_and_store_nothing() {
    let lab = Lab::new("bad");
    let file = lab.file("hello.yaml", HELLO);
    let out = lab.drctl(&["run", &file, "-p", "nope=1"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("nope"), "{}", text(&out));
    // Nothing was stored: not even a database was created, and commands that read one
    // say there is none instead of showing an empty history.
    assert!(!lab.dir.join("runs.db").exists());
    let ls = lab.drctl(&["ls"]);
    assert_eq!(code(&ls), 2, "{}", text(&ls));
    assert!(text(&ls).contains("no database at"), "{}", text(&ls));
    // Once a database exists, an unknown run is named as such.
    assert_eq!(code(&lab.drctl(&["run", &file, "-p", "who=sre"])), 0);
    let out = lab.drctl(&["show", "run_nothing"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).contains("no run `run_nothing`"),
        "{}",
        text(&out)
    );
}

const NAP: &str = r#"runbook: nap
lock: "db-{{ params.region }}"
params:
  region: { type: string, default: eu }
  nap: { type: string, default: 6s }
steps:
  - id: first
    action: log
    with: { message: start }
  - id: nap
    needs: [first]
    action: sleep
    with: { duration: "{{ params.nap }}" }
  - id: last
    needs: [nap]
    action: log
    with: { message: done }
"#;

#[test]
fn ctrl_c_pauses_durably_and_resume_finishes_the_run() {
    let lab = Lab::new("sigint");
    let file = lab.file("nap.yaml", NAP);
    let mut child = lab.spawn("a.out", &["run", &file]);
    lab.wait_for("a.out", "• nap sleeping until");
    signal(child.id(), Signal::INT);
    assert_eq!(wait(&mut child), 3, "{}", lab.read("a.out"));
    let out = lab.read("a.out");
    let id = Lab::run_id(&out);
    assert!(out.contains("paused"), "{out}");
    assert!(out.contains(&format!("drctl resume {id}")), "{out}");
    let ls = text(&lab.drctl(&["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with(&id) && l.contains("paused")),
        "{ls}"
    );

    // The run carries its own copy of the runbook: editing the file changes nothing.
    lab.file("nap.yaml", &NAP.replace("message: done", "message: edited"));
    let resumed = lab.drctl(&["resume", &id]);
    let shown = text(&resumed);
    assert_eq!(code(&resumed), 0, "{shown}");
    assert!(
        shown.contains("✓ nap") && shown.contains("✓ last"),
        "{shown}"
    );
    assert!(!shown.contains("• first"), "first ran once: {shown}");
    let logs = text(&lab.drctl(&["logs", &id, "last"]));
    assert!(logs.contains(r#""message":"done""#), "{logs}");
    assert!(!logs.contains("edited"), "{logs}");
}

#[test]
fn a_held_lock_names_its_holder_and_cancel_releases_it() {
    let lab = Lab::new("lock");
    let file = lab.file("nap.yaml", NAP);
    let mut holder = lab.spawn("a.out", &["run", &file, "-p", "nap=60s"]);
    let holder_id = Lab::run_id(&lab.wait_for("a.out", "• nap sleeping until"));

    let refused = lab.drctl(&["run", "--no-wait", &file]);
    assert_eq!(code(&refused), 1, "{}", text(&refused));
    assert!(
        text(&refused).contains(&format!("held by run {holder_id}")),
        "{}",
        text(&refused)
    );

    // Another region's lock is free.
    let other = lab.drctl(&["run", "--no-wait", &file, "-p", "region=us", "-p", "nap=0s"]);
    assert_eq!(code(&other), 0, "{}", text(&other));

    let mut waiter = lab.spawn("b.out", &["run", &file, "-p", "nap=0s"]);
    lab.wait_for("b.out", &format!("held by run {holder_id}"));

    let cancel = lab.drctl(&["cancel", &holder_id]);
    assert_eq!(code(&cancel), 0, "{}", text(&cancel));
    assert_eq!(wait(&mut holder), 1, "{}", lab.read("a.out"));
    assert!(lab.read("a.out").contains("run cancelled"));
    assert_eq!(wait(&mut waiter), 0, "{}", lab.read("b.out"));
    assert!(lab.read("b.out").contains("lock `db-eu` taken"));
}

#[test]
fn logs_follow_a_live_run_until_it_ends() {
    let lab = Lab::new("follow");
    let file = lab.file("nap.yaml", NAP);
    let mut child = lab.spawn("a.out", &["run", &file, "-p", "nap=1s"]);
    let id = Lab::run_id(&lab.wait_for("a.out", "Run run_"));
    let follow = lab.drctl(&["logs", &id, "-f"]);
    let shown = text(&follow);
    assert_eq!(code(&follow), 0, "{shown}");
    assert_eq!(wait(&mut child), 0);
    assert!(shown.contains("✓ last"), "{shown}");
    assert!(shown.trim_end().ends_with("run succeeded"), "{shown}");
}

#[test]
fn an_interrupted_dangerous_step_pauses_until_an_operator_decides() {
    let lab = Lab::new("decide");
    let file = lab.file(
        "cut.yaml",
        "runbook: cut\nsteps:\n  - id: cut\n    action: exec\n    with: { argv: [sh, -c, \"echo $$ > pid; exec sleep 30\"] }\n  - id: after\n    needs: [cut]\n    action: log\n    with: { message: after }\n",
    );
    let mut child = lab.spawn("a.out", &["run", &file]);
    lab.wait_for("a.out", "• cut");
    let start = Instant::now();
    while lab.read("pid").trim().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The step's process outlives drctl, as after a real crash; end it as an operator would.
    signal(lab.read("pid").trim().parse().unwrap(), Signal::TERM);
    let id = Lab::run_id(&lab.read("a.out"));

    let resumed = lab.drctl(&["resume", &id]);
    let shown = text(&resumed);
    assert_eq!(code(&resumed), 3, "{shown}");
    assert!(shown.contains("`exec` is not idempotent"), "{shown}");
    assert!(
        shown.contains(&format!("drctl step retry|skip|fail {id} cut")),
        "{shown}"
    );
    // Nothing changed, so nothing is written: no resume/pause pair in the log.
    let again = lab.drctl(&["resume", &id]);
    assert_eq!(code(&again), 3, "{}", text(&again));
    let logs = text(&lab.drctl(&["logs", &id]));
    assert!(!logs.contains("resumed"), "{logs}");
    assert_eq!(logs.matches("⏸ paused").count(), 1, "{logs}");

    let bad = lab.drctl(&["step", "retry", &id, "cut", "--output", "{}"]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    let bad = lab.drctl(&["step", "skip", &id, "cut", "--output", "not json"]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));

    let decided = lab.drctl(&["step", "fail", &id, "cut"]);
    assert_eq!(code(&decided), 0, "{}", text(&decided));
    let end = lab.drctl(&["resume", &id]);
    let shown = text(&end);
    assert_eq!(code(&end), 1, "{shown}");
    assert!(shown.contains("alice decided: fail cut"), "{shown}");
    assert!(!shown.contains("• after"), "{shown}");
    let logs = text(&lab.drctl(&["logs", &id]));
    assert_eq!(logs.matches("• cut").count(), 1, "one attempt only: {logs}");
}

/// The pid a step's program wrote to the file `name`, once it has.
fn pid_in(lab: &Lab, name: &str) -> i32 {
    let text = lab.wait_for(name, "\n");
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name}: {text}"))
}

/// Whether a process runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Waits up to `secs` for `pid` to be gone.
fn gone_within(pid: i32, secs: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

const LONG: &str = r#"runbook: long
steps:
  - id: work
    action: exec
    with: { argv: [sh, -c, "echo $$ > pid; exec sleep 300"] }
"#;

/// What systemd, Kubernetes and `kill` send: the run pauses as on Ctrl-C, and the step's
/// program is stopped with it instead of running on unseen.
#[test]
fn sigterm_pauses_the_run_like_ctrl_c_and_stops_its_program() {
    let lab = Lab::new("sigterm");
    let file = lab.file("long.yaml", LONG);
    let mut child = lab.spawn("a.out", &["run", &file]);
    let program = pid_in(&lab, "pid");
    signal(child.id(), Signal::TERM);
    assert_eq!(wait(&mut child), 3, "{}", lab.read("a.out"));
    let out = lab.read("a.out");
    assert!(out.contains("SIGTERM: pausing"), "{out}");
    let id = Lab::run_id(&out);
    assert!(
        gone_within(program, 15),
        "the step's sleep {program} survived"
    );
    let ls = text(&lab.drctl(&["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with(&id) && l.contains("paused")),
        "{ls}"
    );
}

/// A second Ctrl-C quits at once, taking the programs of running steps along; the run,
/// which nobody drives any more, reads `interrupted` everywhere, and `logs -f` ends.
#[test]
fn a_run_nobody_drives_reads_interrupted_and_logs_follow_ends() {
    let lab = Lab::new("quit");
    // The program ignores SIGTERM, so the first Ctrl-C's pause waits for it.
    let file = lab.file(
        "stubborn.yaml",
        "runbook: stubborn\nsteps:\n  - id: work\n    action: exec\n    with: { argv: [sh, -c, \"trap '' TERM; echo $$ > pid; exec sleep 300\"] }\n",
    );
    let mut child = lab.spawn("a.out", &["run", &file]);
    let program = pid_in(&lab, "pid");
    signal(child.id(), Signal::INT);
    lab.wait_for("a.out", "pausing");
    signal(child.id(), Signal::INT);
    assert_eq!(wait(&mut child), 130, "{}", lab.read("a.out"));
    let id = Lab::run_id(&lab.read("a.out"));
    assert!(
        gone_within(program, 5),
        "the step's sleep {program} survived"
    );

    let ls = text(&lab.drctl(&["ls"]));
    let row = ls.lines().find(|l| l.starts_with(&id)).expect(&ls);
    assert!(row.contains("interrupted"), "{ls}");
    let only = text(&lab.drctl(&["ls", "--status", "interrupted"]));
    assert!(only.contains(&id), "{only}");
    let running = text(&lab.drctl(&["ls", "--status", "running"]));
    assert!(!running.contains(&id), "{running}");
    let show = text(&lab.drctl(&["show", &id]));
    assert!(
        show.contains("Status   interrupted") && show.contains(&format!("drctl resume {id}")),
        "{show}"
    );
    let report = text(&lab.drctl(&["report", &id]));
    assert!(report.contains("interrupted"), "{report}");
    // `logs -f` says so and ends instead of waiting for ever.
    let mut follow = lab.spawn("logs.out", &["logs", "-f", &id]);
    let start = Instant::now();
    let code = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = follow.kill();
            panic!("logs -f hangs: {}", lab.read("logs.out"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, 3, "{}", lab.read("logs.out"));
    assert!(lab.read("logs.out").contains("is interrupted"));
}

/// A step's timeout ends its whole process group after the grace period, children that
/// ignore SIGTERM included (the engine's grace and the program's used to race, and the
/// losing side killed only the group's leader).
#[test]
fn a_step_timeout_kills_children_that_ignore_sigterm() {
    let lab = Lab::new("timeout-group");
    let file = lab.file(
        "t.yaml",
        "runbook: t\nsteps:\n  - id: work\n    timeout: 1s\n    action: exec\n    with: { argv: [sh, -c, \"trap '' TERM; sleep 300 & echo $! > pid; wait\"] }\n",
    );
    let out = lab.drctl(&["run", &file]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let program = pid_in(&lab, "pid");
    assert!(
        gone_within(program, 3),
        "the child {program} outlived the step"
    );
}

/// Ctrl-C during a fan-out of fast steps stops new attempts at once: the stream of
/// finished attempts no longer drowns the request.
#[test]
fn ctrl_c_during_a_fast_fan_out_stops_new_attempts() {
    let lab = Lab::new("fanout");
    let mut yaml = String::from("runbook: wide\nsteps:\n");
    for i in 0..2000 {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, action: log, with: {{ message: hi }} }}\n"
        ));
    }
    let file = lab.file("wide.yaml", &yaml);
    let mut child = lab.spawn("a.out", &["run", &file]);
    lab.wait_for("a.out", "✓ s");
    signal(child.id(), Signal::INT);
    assert_eq!(wait(&mut child), 3, "{}", lab.read("a.out"));
    let out = lab.read("a.out");
    let started = out.lines().filter(|l| l.contains("• s")).count();
    assert!(started < 2000, "every step started after Ctrl-C: {started}");
}

/// A signal that arrives while a run is being set up pauses it once it exists (or ends
/// drctl before anything is recorded): never "cannot make progress", never a run left
/// `created` for ever.
#[test]
fn a_signal_at_startup_pauses_the_new_run_or_records_nothing() {
    let lab = Lab::new("early-signal");
    // A short step: a pause lets a running step finish, and this one does at once.
    let file = lab.file("short.yaml", &LONG.replace("sleep 300", "sleep 0.3"));
    for i in 0..8u64 {
        let mut child = lab.spawn("a.out", &["run", &file]);
        std::thread::sleep(Duration::from_millis(5 * i));
        signal(child.id(), Signal::TERM);
        // 3: paused; -1: killed by the signal itself, before drctl watched for it.
        let code = wait(&mut child);
        let out = lab.read("a.out");
        assert!(matches!(code, 3 | -1), "exit {code}: {out}");
        assert!(!out.contains("cannot make progress"), "{out}");
        if let Ok(pid) = std::fs::read_to_string(lab.dir.join("pid"))
            .unwrap_or_default()
            .trim()
            .parse::<i32>()
        {
            assert!(gone_within(pid, 15), "the step's sleep {pid} survived");
        }
        let _ = std::fs::remove_file(lab.dir.join("pid"));
    }
    let ls = lab.drctl(&["ls"]);
    let listed = text(&ls);
    assert!(
        !listed.contains("created") && !listed.contains("running"),
        "{listed}"
    );
}
