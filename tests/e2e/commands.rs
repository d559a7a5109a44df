//! An acknowledged command is carried out exactly once. `drctl run` is started with
//! `DRCTL_FAULT=abort-after-inbox-read`, so it dies (SIGABRT) exactly between reading an
//! operator's command inside its append's transaction and recording it; the command was
//! acknowledged (exit 0) by `cancel`, `approve`, `reject` or `step skip`. After `drctl
//! resume`, the command is in the log exactly once, and its effect holds: a cancelled or
//! rejected run never reaches its dangerous step, a skipped step never runs.
//!
//! `DRCTL_COMMAND_KILLS` sets the number of kills (default 100, spread over the four
//! commands). Also here: a skip sent while the step before it runs (the defect where the
//! step ran anyway), and the inline prompt on a terminal.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{config_file, drctl_in, finish, os_user, wait_for_text};

/// `long` (a stored 30 s sleep) or `gate` stand before `danger`, which leaves a file.
const LONG: &str = "runbook: long\nsteps:\n  - { id: long, action: sleep, with: { duration: 30s } }\n  - { id: danger, needs: [long], action: exec, with: { argv: [touch, danger] } }\n";
const GATE: &str = "runbook: gated\nsteps:\n  - id: gate\n    approval: { approvers: [group:sre], timeout: 1h }\n  - { id: danger, needs: [gate], action: exec, with: { argv: [touch, danger] } }\n";

#[derive(Debug, Clone, Copy)]
enum Kind {
    Cancel,
    Approve,
    Reject,
    Skip,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Cancel, Kind::Approve, Kind::Reject, Kind::Skip];

    fn runbook(self) -> &'static str {
        match self {
            Kind::Cancel => LONG,
            _ => GATE,
        }
    }

    /// The command, as bob would type it.
    fn args(self, run: &str) -> Vec<String> {
        let v: &[&str] = match self {
            Kind::Cancel => &["cancel", run],
            Kind::Approve => &["approve", run, "gate", "-m", "checked"],
            Kind::Reject => &["reject", run, "gate", "-m", "replica behind"],
            Kind::Skip => &["step", "skip", run, "danger"],
        };
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The event that records it.
    fn event(self) -> &'static str {
        match self {
            Kind::Cancel => "cancel_requested",
            Kind::Approve | Kind::Reject => "approval_decided",
            Kind::Skip => "operator_decision",
        }
    }

    /// The run's exit code once resumed, and whether `danger` ran.
    fn end(self) -> (i32, bool) {
        match self {
            Kind::Cancel | Kind::Reject => (1, false),
            Kind::Approve => (0, true),
            Kind::Skip => (0, false),
        }
    }
}

struct Place {
    dir: PathBuf,
    config: PathBuf,
}

impl Place {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("drctl-commands-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = config_file(
            &format!("commands-{name}"),
            &format!(
                "[groups]\nsre = [\"bob\", \"alice\", \"carol\"]\n\n[identity]\nact_as = {{ {} = [\"*\"] }}\n",
                os_user()
            ),
        );
        Self { dir, config }
    }

    fn cmd(&self, who: &str, args: &[String]) -> Command {
        let mut cmd = drctl_in(&self.dir, who);
        cmd.env("DRCTL_CONFIG", &self.config).args(args);
        cmd
    }

    fn drctl(&self, who: &str, args: &[&str]) -> (i32, String) {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        finish(&mut self.cmd(who, &args))
    }

    /// `drctl run` as alice, with the fault armed; returns it and the run's id once the
    /// run waits (for its sleep or its gate).
    fn start(&self, file: &str, fault: bool) -> (Child, String) {
        let out = std::fs::File::create(self.dir.join("run.out")).unwrap();
        let mut cmd = self.cmd("alice", &["run".into(), file.into()]);
        if fault {
            cmd.env("DRCTL_FAULT", "abort-after-inbox-read");
        }
        let child = cmd
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let text = self.wait_for(&["sleeping until", "waits for approval", "• "]);
        let id = text
            .split_whitespace()
            .find(|w| w.starts_with("run_"))
            .unwrap()
            .to_owned();
        (child, id)
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("run.out")).unwrap_or_default()
    }

    fn wait_for(&self, any: &[&str]) -> String {
        wait_for_text(&self.dir.join("run.out"), any)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn an_acknowledged_command_survives_a_driver_killed_between_reading_and_recording_it() {
    let kills: usize = std::env::var("DRCTL_COMMAND_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let place = Place::new("kill");
    for (name, kind) in Kind::ALL.iter().enumerate() {
        std::fs::write(place.dir.join(format!("{name}.yaml")), kind.runbook()).unwrap();
    }
    let started = Instant::now();
    for i in 0..kills {
        let kind = Kind::ALL[i % 4];
        let _ = std::fs::remove_file(place.dir.join("danger"));
        let (mut run, id) = place.start(&format!("{}.yaml", i % 4), true);
        let (code, said) = finish(&mut place.cmd("bob", &kind.args(&id)));
        // Acknowledged: the cancel drives the run to its end itself once it finds the
        // driver dead (exit 1, cancelled); every other command says it is recorded.
        let acknowledged = match kind {
            Kind::Cancel => code == 1 && said.contains("cancel requested by bob"),
            _ => code == 0 && (said.contains("Recorded") || said.contains("recorded")),
        };
        assert!(acknowledged, "#{i} {kind:?}: exit {code}\n{said}");
        let status = run.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(6),
            "#{i} {kind:?}: the driver died at the fault\n{}",
            place.output()
        );
        if matches!(kind, Kind::Skip) {
            // The gate before `danger` still waits: approving it lets the run end.
            let (code, said) = place.drctl("bob", &["approve", &id, "gate", "-m", "ok"]);
            assert_eq!(code, 0, "{said}");
        }
        let (code, said) = place.drctl("alice", &["resume", &id]);
        let (exit, danger) = kind.end();
        assert_eq!(code, exit, "#{i} {kind:?}: resume\n{said}");
        assert_eq!(
            place.dir.join("danger").exists(),
            danger,
            "#{i} {kind:?}: danger ran: {}",
            !danger
        );
        let (_, logs) = place.drctl("bob", &["logs", &id]);
        let events = event_kinds(&place, &id);
        let recorded = events.iter().filter(|k| *k == kind.event()).count();
        assert_eq!(recorded, 1, "#{i} {kind:?}: recorded once\n{logs}");
        assert!(!events.iter().any(|k| k == "command_refused"), "{logs}");
    }
    println!(
        "{kills} drivers killed between reading and recording a command, every command applied once, in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The kinds of a run's events, from the JSON export.
fn event_kinds(place: &Place, run: &str) -> Vec<String> {
    let (code, text) = place.drctl(
        "bob",
        &["audit", "export", "--run", run, "--format", "jsonl"],
    );
    assert_eq!(code, 0, "{text}");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["kind"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_gate_is_decided_only_by_its_approvers_and_a_command_is_checked_behind_the_waiting_ones() {
    let place = Place::new("queue");
    std::fs::write(place.dir.join("g.yaml"), GATE).unwrap();
    let (mut run, id) = place.start("g.yaml", false);
    run.kill().unwrap();
    run.wait().unwrap();
    // Nobody drives the run: commands wait for the next driver.
    let (code, said) = place.drctl("mallory", &["step", "skip", &id, "gate"]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("only its approvers decide it"), "{said}");
    let (code, said) = place.drctl("bob", &["reject", &id, "gate", "-m", "replica behind"]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("Recorded"), "{said}");
    // bob's rejection waits ahead of carol's approval: carol is told at once.
    let (code, said) = place.drctl("carol", &["approve", &id, "gate", "-m", "looks fine"]);
    assert_eq!(code, 2, "carol's approval would be refused later: {said}");
    let (code, said) = place.drctl(
        "carol",
        &["reject", &id, "gate", "-m", "ok\rFAKE: alice approved"],
    );
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("control character"), "{said}");
    let (code, said) = place.drctl("alice", &["resume", &id]);
    assert_eq!(code, 1, "rejected: {said}");
    let (_, logs) = place.drctl("bob", &["logs", &id]);
    assert!(
        logs.contains("bob rejected gate") && !logs.contains("refused") && !logs.contains("FAKE"),
        "{logs}"
    );
    assert!(!place.dir.join("danger").exists());
    let (code, said) = place.drctl("bob", &["cancel", &id]);
    assert_eq!(code, 2, "nothing to cancel: {said}");
}

#[test]
fn a_skip_sent_while_the_step_before_runs_is_carried_out() {
    let place = Place::new("skip");
    // `first` takes 0.3 s; the skip arrives while it runs, before the inbox's next poll.
    std::fs::write(
        place.dir.join("r.yaml"),
        "runbook: r\nsteps:\n  - { id: first, action: exec, with: { argv: [sleep, \"0.3\"] } }\n  - { id: danger, needs: [first], action: exec, with: { argv: [touch, danger] } }\n",
    )
    .unwrap();
    let mut held = 0;
    for round in 0..5 {
        let _ = std::fs::remove_file(place.dir.join("danger"));
        let (mut run, id) = place.start("r.yaml", false);
        let (code, said) = place.drctl("bob", &["step", "skip", &id, "danger"]);
        if code == 2 {
            // Too late (the machine was slow): refused at once, and the step ran.
            assert!(said.contains("step `danger` is"), "{said}");
            assert_eq!(run.wait().unwrap().code(), Some(0));
            continue;
        }
        assert_eq!(code, 0, "#{round}: {said}");
        assert_eq!(run.wait().unwrap().code(), Some(0), "{}", place.output());
        assert!(
            !place.dir.join("danger").exists(),
            "#{round}: a skip that was acknowledged must hold\n{said}\n{}",
            place.output()
        );
        let (_, shown) = place.drctl("bob", &["show", &id]);
        assert!(shown.contains("skipped by bob"), "{shown}");
        held += 1;
    }
    assert!(
        held >= 3,
        "only {held} of 5 skips arrived in time to test anything"
    );
}

#[test]
fn the_inline_prompt_approves_only_when_told_and_holds_progress_while_open() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed to give drctl a terminal");
    }
    let place = Place::new("inline");
    let me = os_user();
    std::fs::write(
        place.dir.join("r.yaml"),
        format!(
            "runbook: r\nsteps:\n  - id: gate\n    approval: {{ approvers: [{me}], allow_self_approval: true, timeout: 1h }}\n  - {{ id: after, needs: [gate], action: log, with: {{ message: through }} }}\n  - {{ id: side, action: exec, with: {{ argv: [sleep, \"0.5\"] }} }}\n"
        ),
    )
    .unwrap();
    // `script` gives drctl a terminal on stdin and stdout; we type into its stdin.
    let line = format!(
        "exec {} run r.yaml",
        shell_words(env!("CARGO_BIN_EXE_drctl"))
    );
    let out = std::fs::File::create(place.dir.join("run.out")).unwrap();
    let mut child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &line, "/dev/null"])
        .current_dir(&place.dir)
        .env("DRCTL_DB", place.dir.join("runs.db"))
        .env("DRCTL_CONFIG", &place.config)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let prompt = format!("You ({me}) may decide `gate`");
    place.wait_for(&[prompt.as_str()]);
    // `side` ends 0.5 s in: its line is held while the prompt is open.
    std::thread::sleep(Duration::from_millis(1200));
    let before = place.output();
    let after_prompt = &before[before.find(&prompt).unwrap()..];
    assert!(
        !after_prompt.contains("side"),
        "a progress line was printed over the prompt:\n{before}"
    );
    use std::io::Write as _;
    stdin.write_all(b"no\n").unwrap();
    place.wait_for(&["Not understood"]);
    std::thread::sleep(Duration::from_millis(300));
    let (_, list) = place.drctl(&me, &["approvals"]);
    assert!(
        list.contains("0 of 1 approvals"),
        "`no` approved nothing: {list}"
    );
    stdin.write_all(b"approve: replica checked\n").unwrap();
    let status = child.wait().unwrap();
    let text = place.output();
    assert_eq!(status.code(), Some(0), "{text}");
    let held = &text[text.find("approve: replica checked").unwrap()..];
    assert!(
        held.contains("side"),
        "held lines are printed after: {text}"
    );
    let (_, logs) = place.drctl(&me, &["logs", &run_id(&text)]);
    assert!(
        logs.contains(&format!("{me} approved gate ({me}): replica checked")),
        "{logs}"
    );
}

fn run_id(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("run_"))
        .unwrap()
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .to_owned()
}

fn shell_words(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The same through `drctl serve`: the server's driver dies (SIGABRT, and the whole
/// server with it) between reading a command sent through the API and recording it; the
/// restarted server applies it exactly once, by itself.
#[test]
fn a_server_killed_between_reading_and_recording_a_command_applies_it_once_after_restart() {
    use crate::api::{serve_args, token};
    let place = Place::new("serve-kill");
    std::fs::create_dir_all(place.dir.join("runbooks")).unwrap();
    std::fs::write(place.dir.join("runbooks/long.yaml"), LONG).unwrap();
    std::fs::write(place.dir.join("runbooks/gated.yaml"), GATE).unwrap();
    let (alice, a) = token("alice-kill", "admin", "alice");
    let (bob, b) = token("bob-kill", "approver", "bob");
    let config = config_file(
        "serve-kill-tokens",
        &format!(
            "[groups]\nsre = [\"bob\", \"alice\"]\n\n[serve]\nrunbooks = {:?}\n\n{a}\n{b}",
            place.dir.join("runbooks")
        ),
    );
    let remote = |url: &str, token: &str, args: &[String]| {
        finish(
            Command::new(env!("CARGO_BIN_EXE_drctl"))
                .current_dir(&place.dir)
                .env("DRCTL_SERVER", url)
                .env("DRCTL_TOKEN", token)
                .args(args),
        )
    };
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for kind in Kind::ALL {
        let _ = std::fs::remove_file(place.dir.join("danger"));
        let fault = [("DRCTL_FAULT", "abort-after-inbox-read")];
        let (mut server, http) = serve_args(&place.dir, &config, &fault, &[]);
        let url = format!("http://{}", http.addr);
        let file = match kind {
            Kind::Cancel => "runbooks/long.yaml",
            _ => "runbooks/gated.yaml",
        };
        let (code, out) = remote(&url, &alice, &strings(&["run", file, "--detach"]));
        assert_eq!(code, 0, "{out}");
        let id = out.split_whitespace().nth(1).unwrap().to_owned();
        // The run waits: at its gate, or in its 30 s sleep.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, logs) = remote(&url, &alice, &strings(&["logs", &id]));
            if logs.contains("waits for approval") || logs.contains("sleeping until") {
                break;
            }
            assert!(Instant::now() < deadline, "{kind:?}: never waited\n{logs}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let who = match kind {
            Kind::Approve | Kind::Reject => &bob,
            Kind::Cancel | Kind::Skip => &alice,
        };
        // The server dies answering: the command is stored, its answer lost.
        let _ = remote(&url, who, &kind.args(&id));
        let status = server.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(6),
            "{kind:?}: the server died at the fault\n{}",
            std::fs::read_to_string(place.dir.join("serve.out")).unwrap_or_default()
        );
        let (mut server, http) = serve_args(&place.dir, &config, &[], &[]);
        let url = format!("http://{}", http.addr);
        if matches!(kind, Kind::Skip) {
            // The gate before `danger` still waits: approving it lets the run end.
            let (code, said) = remote(&url, &bob, &strings(&["approve", &id, "gate", "-m", "ok"]));
            assert_eq!(code, 0, "{said}");
        }
        let (code, logs) = remote(&url, &alice, &strings(&["logs", "-f", &id]));
        assert_eq!(code, 0, "{kind:?}: {logs}");
        let (exit, danger) = kind.end();
        let (_, shown) = remote(&url, &alice, &strings(&["show", &id]));
        assert!(
            shown.contains(if exit == 0 { "succeeded" } else { "Status   " }),
            "{shown}"
        );
        assert_eq!(
            place.dir.join("danger").exists(),
            danger,
            "{kind:?}\n{logs}"
        );
        let events = event_kinds(&place, &id);
        let recorded = events.iter().filter(|k| *k == kind.event()).count();
        assert_eq!(recorded, 1, "{kind:?}: recorded once\n{logs}");
        assert!(!events.iter().any(|k| k == "command_refused"), "{logs}");
        Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(server.wait().unwrap().success());
    }
}
