//! Hostile and careless input, through the real binary: paths that are not runbooks
//! (FIFOs, devices, symlink loops, huge files), a mistyped or copied database, templates
//! that could run away or leak, arguments that are out of range or enormous, and a
//! reader that closes the pipe early. Some of these once hung drctl, so every child here
//! runs under a watchdog: a regression fails the test instead of hanging it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{config_file, drctl_in, os_user};

/// How long any drctl here may take. Every command below answers in well under a
/// second; the watchdog only turns a hang (a FIFO read blocks forever, `/dev/zero`
/// never ends) into a failure.
const WATCHDOG: Duration = Duration::from_secs(20);

/// A one-step runbook that always succeeds.
const HELLO: &str = "runbook: a\nsteps:\n  - id: hi\n    action: log\n    with: { message: hi }\n";

/// A folder with its own database (`runs.db`, not created until something runs), removed
/// on drop.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `name` and returns it (relative: drctl runs in the lab).
    fn file(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path(name), text).unwrap();
        name.to_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = drctl_in(&self.dir, "alice");
        cmd.args(args);
        cmd
    }

    /// Runs drctl to the end: its exit code and everything it printed.
    fn drctl(&self, args: &[&str]) -> (i32, String) {
        finish_in_time(&mut self.cmd(args))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // remove_dir_all removes symlinks without following them, so the loops below
        // are safe to clean up.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Like `support::finish` (stdout then stderr), but under the watchdog.
fn finish_in_time(cmd: &mut Command) -> (i32, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes while waiting, so a chatty child never blocks on a full pipe.
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let code = wait_in_time(&mut child, &describe(cmd));
    (
        code,
        format!("{}{}", out.join().unwrap(), err.join().unwrap()),
    )
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` to end; kills it and fails the test once `WATCHDOG` has passed.
fn wait_in_time(child: &mut Child, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` was still running after {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The command line, cut short (one argument below is 120 000 bytes).
fn describe(cmd: &Command) -> String {
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    format!("drctl {:.200}", args.join(" "))
}

/// The id of the run the output `text` is about (its first line, `Run <id> of <name>`).
fn run_id(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("Run run_"), "{text}");
    first.split_whitespace().nth(1).unwrap().to_owned()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A folder walk follows no symlink into a folder it has already seen (the old walk
/// went round `loop -> .` until the OS gave up, counting `a.yaml` 123 times), and only
/// regular files are read: a FIFO blocked the read forever, `/dev/zero` never ended,
/// and a huge file was read whole before anything looked at it.
#[test]
fn validate_reads_only_regular_files_and_walks_each_folder_once() {
    let lab = Lab::new("walk");
    lab.file("a.yaml", HELLO);
    std::fs::create_dir(lab.path("sub")).unwrap();
    std::os::unix::fs::symlink(".", lab.path("sub/loop")).unwrap();
    std::os::unix::fs::symlink("..", lab.path("sub/up")).unwrap();
    // A link out of the folder (to its parent, which holds another runbook) is not
    // followed: it leads outside what was asked for.
    std::fs::create_dir(lab.path("inner")).unwrap();
    std::os::unix::fs::symlink("..", lab.path("inner/out")).unwrap();
    let inner = lab.path("inner").display().to_string();
    std::fs::write(lab.path("inner/b.yaml"), HELLO).unwrap();
    let (code, out) = lab.drctl(&["validate", &inner]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().any(|l| l.starts_with("1 runbook:")), "{out}");
    std::fs::remove_dir_all(lab.path("inner")).unwrap();
    let dir = lab.dir.display().to_string();

    let (code, out) = lab.drctl(&["validate", &dir]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("1 runbook:")),
        "a.yaml is counted once: {out}"
    );

    // A FIFO in the folder, and named directly: refused, not opened (opening a FIFO
    // for reading waits for a writer that never comes).
    mkfifo(&lab.path("f.yaml"));
    let (code, out) = lab.drctl(&["validate", &dir]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("f.yaml: not a regular file"), "{out}");
    // One error; the other runbook is still checked and counted.
    assert!(
        out.lines().any(|l| l.starts_with("2 runbooks: 1 error")),
        "{out}"
    );
    let (code, out) = lab.drctl(&["run", "f.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("f.yaml: not a regular file"), "{out}");

    // A symlink is followed, but what it points at must still be a regular file.
    std::os::unix::fs::symlink("/dev/zero", lab.path("z.yaml")).unwrap();
    let (code, out) = lab.drctl(&["validate", "z.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("z.yaml: not a regular file"), "{out}");

    // Over the size limit: refused by its size, before it is read and parsed.
    let big = format!("runbook: big\n# {}\n", "x".repeat(5_000_000));
    lab.file("big.yaml", &big);
    let (code, out) = lab.drctl(&["validate", "big.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("bytes, over the"), "{out}");
}

/// A read-only command on a database that does not exist is a mistake (a typo in
/// DRCTL_DB or --db): it says so instead of creating an empty database and reporting
/// "no runs". Only `run` creates one.
#[test]
fn a_mistyped_database_is_an_error_and_is_never_created() {
    let lab = Lab::new("nodb");
    lab.file("a.yaml", HELLO);
    let missing = lab.path("nosuch.db");
    let shown = missing.display().to_string();

    let reads: [&[&str]; 5] = [
        &["ls"],
        &["audit", "verify"],
        &["show", "run_x"],
        &["logs", "run_x"],
        &["report", "run_x"],
    ];
    for args in reads {
        let (code, out) = finish_in_time(lab.cmd(args).env("DRCTL_DB", &missing));
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains("no database at"), "{args:?}: {out}");
        assert!(out.contains(&shown), "{args:?} names the path: {out}");
        assert!(!missing.exists(), "{args:?} created {shown}");
    }

    let (code, out) = finish_in_time(lab.cmd(&["run", "a.yaml"]).env("DRCTL_DB", &missing));
    assert_eq!(code, 0, "{out}");
    assert!(missing.exists(), "run creates the database: {out}");
}

/// Once drctl has ended, its database is one self-contained file: copying `runs.db`
/// alone (as a backup or a bug report would) keeps every run, with nothing left behind
/// in `-wal`.
#[test]
fn a_copied_database_file_holds_the_runs() {
    let lab = Lab::new("copy");
    lab.file("a.yaml", HELLO);
    let (code, out) = lab.drctl(&["run", "a.yaml"]);
    assert_eq!(code, 0, "{out}");
    let id = run_id(&out);

    std::fs::copy(lab.path("runs.db"), lab.path("copy.db")).unwrap();
    let (code, ls) = finish_in_time(lab.cmd(&["ls"]).env("DRCTL_DB", lab.path("copy.db")));
    assert_eq!(code, 0, "{ls}");
    assert!(ls.lines().any(|l| l.starts_with(&id)), "{id} in:\n{ls}");
}

/// Templates that could run away (`set`, loops) are refused; a parameter pasted into a
/// shell script unquoted, a credential written into a header, and an approval by a
/// group nobody defined are warned about; and a plan never shows the credential.
#[test]
fn risky_templates_are_refused_or_warned_and_plans_hide_credentials() {
    let lab = Lab::new("templates");

    // (a) Only `{% if %}` is allowed inside a template.
    let set = lab.file(
        "set.yaml",
        "runbook: set\nsteps:\n  - id: hi\n    action: log\n\
         \x20   with: { message: \"{% set s = 'ab' %}{{ s }}\" }\n",
    );
    let (code, out) = lab.drctl(&["validate", &set]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("only `{% if %}` conditions"), "{out}");

    // (b) Shell injection through a parameter: a warning (so --strict fails) that
    // points at `| quote`, which silences it.
    let shell = |program: &str, quote: &str| {
        format!(
            "runbook: sh\nparams:\n  x: {{ type: string }}\nsteps:\n  - id: sh\n    action: exec\n\
             \x20   with: {{ argv: [{program}, \"echo {{{{ params.x{quote} }}}}\"] }}\n"
        )
    };
    // A local shell, one behind `env`, and a remote one through ssh.
    for program in ["sh, -c", "env, bash, -ec", "ssh, db1"] {
        let bare = lab.file("bare.yaml", &shell(program, ""));
        let (code, out) = lab.drctl(&["validate", "--strict", &bare]);
        assert_ne!(code, 0, "{program}: {out}");
        assert!(out.contains("| quote"), "{program}: {out}");
        let quoted = lab.file("quoted.yaml", &shell(program, " | quote"));
        let (code, out) = lab.drctl(&["validate", "--strict", &quoted]);
        assert_eq!(code, 0, "{program}: {out}");
    }
    // A param that can only hold plain words (an enum of them, a number) is safe
    // unquoted; an enum with a shell metacharacter is not.
    for (decl, warned) in [
        ("{ type: string, enum: [a, eu-west-1] }", false),
        ("{ type: integer }", false),
        ("{ type: string, enum: [a, 'b;c'] }", true),
    ] {
        let text = shell("ssh, db1", "").replace("{ type: string }", decl);
        let file = lab.file("enum.yaml", &text);
        let (code, out) = lab.drctl(&["validate", "--strict", &file]);
        assert_eq!(code != 0, warned, "{decl}: {out}");
    }

    // (c) A literal credential in a header: warned about, and masked in the plan.
    let cred = lab.file(
        "cred.yaml",
        "runbook: cred\nsteps:\n  - id: call\n    action: http.request\n    with:\n\
         \x20     url: http://ops:pw456literal@127.0.0.1:9/x\n      method: GET\n\
         \x20     headers: { Authorization: \"Bearer abc123literal\", X-Other: \"Basic def789literal\" }\n",
    );
    let (code, out) = lab.drctl(&["validate", "--strict", &cred]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("carries a credential"), "{out}");
    assert!(out.contains("`X-Other` carries a credential"), "{out}");
    assert!(out.contains("carries a password in the URL"), "{out}");
    let (code, plan) = lab.drctl(&["plan", &cred]);
    assert_eq!(code, 0, "{plan}");
    for secret in ["abc123literal", "def789literal", "pw456literal"] {
        assert!(!plan.contains(secret), "{secret}: {plan}");
    }
    assert!(plan.contains("***"), "{plan}");

    // (d) An approver group that drctl.toml does not define: nobody could approve.
    // The configuration must pass drctl's trust check, hence `config_file`; and no
    // `--as`, which this configuration does not allow.
    let groups = config_file("hostile-groups", "[groups]\nsre = [\"alice\"]\n");
    let appr = lab.file(
        "appr.yaml",
        "runbook: appr\nsteps:\n  - id: gate\n    approval: { approvers: [\"group:nosuch\"] }\n",
    );
    let mut cmd = drctl_in(&lab.dir, &os_user());
    cmd.args(["validate", &appr]).env("DRCTL_CONFIG", &groups);
    let (_, out) = finish_in_time(&mut cmd);
    assert!(out.contains("no group `nosuch`"), "{out}");
}

/// Out-of-range options are refused by the parser (`--max-parallel 0` would let no step
/// start); a huge or binary parameter is quoted back short and escaped, not echoed whole
/// or raw to the terminal; an unknown step is named; and a reader that stops early
/// (`| head`) gets no "Broken pipe" error on stderr.
#[test]
fn bad_arguments_are_refused_briefly_and_a_closed_pipe_is_quiet() {
    let lab = Lab::new("args");
    // A runbook of about 1 MiB, so that `audit export` (which carries the source) is
    // far bigger than a pipe's buffer and is still writing when the reader goes away.
    let wide = lab.file(
        "wide.yaml",
        &format!(
            "runbook: wide\n# {}\nsteps:\n  - id: hi\n    action: log\n    with: {{ message: hi }}\n",
            "x".repeat(1 << 20)
        ),
    );
    // Run first, so that the database exists and an exit code 2 below can only come
    // from the argument itself.
    let (code, out) = lab.drctl(&["run", &wide]);
    assert_eq!(code, 0, "{out}");
    let id = run_id(&out);

    let (code, out) = lab.drctl(&["ls", "--status", "bogus"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("bogus"), "{out}");
    let (code, out) = lab.drctl(&["run", &wide, "--max-parallel", "0"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--max-parallel"), "{out}");

    let n = lab.file(
        "n.yaml",
        "runbook: n\nparams:\n  n: { type: integer }\nsteps:\n  - id: hi\n    action: log\n\
         \x20   with: { message: \"{{ params.n }}\" }\n",
    );
    let huge = format!("n={}", "x".repeat(120_000));
    let (code, out) = lab.drctl(&["plan", &n, "-p", &huge]);
    assert_eq!(code, 2, "{out}");
    assert!(out.len() < 1000, "{} bytes: {out:.2000}", out.len());
    assert!(out.contains("bytes in all"), "{out}");
    // A control character is shown escaped, never sent raw to the terminal.
    let (code, out) = lab.drctl(&["plan", &n, "-p", "n=a\u{1}b"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(r"a\u{1}b"), "{out}");
    assert!(!out.contains('\u{1}'), "{out:?}");

    let (code, out) = lab.drctl(&["logs", &id, "no-such-step"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("has no step"), "{out}");

    // `drctl audit export | head -c 10`: stderr is read on its own, stdout closed after
    // ten bytes while drctl still has most of a megabyte to write.
    let mut child = lab
        .cmd(&["audit", "export"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = drain(child.stderr.take().unwrap());
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0_u8; 10];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    wait_in_time(&mut child, "drctl audit export");
    let err = err.join().unwrap();
    assert!(head.starts_with(b"{"), "{head:?}");
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `drctl actions exec` documents what a step can read afterwards and which failures a
/// `retry:` retries.
#[test]
fn exec_documents_its_outputs_and_error_classes() {
    let lab = Lab::new("doc");
    let (code, out) = lab.drctl(&["actions", "exec"]);
    assert_eq!(code, 0, "{out}");
    for expected in ["output:", "errors:", "retryable"] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

/// `audit verify` while runs append: it reads one consistent state of the database, so a
/// run that moved on between two reads is not reported as tampered with.
#[test]
fn audit_verify_during_live_runs_finds_nothing_wrong() {
    let lab = Lab::new("verify-live");
    let file = lab.file("a.yaml", HELLO);
    assert_eq!(lab.drctl(&["run", &file]).0, 0);
    let runner = {
        let dir = lab.dir.clone();
        let file = file.clone();
        std::thread::spawn(move || {
            for _ in 0..12 {
                let (code, out) = finish_in_time(drctl_in(&dir, "alice").args(["run", &file]));
                assert_eq!(code, 0, "{out}");
            }
        })
    };
    let mut checks = 0;
    while !runner.is_finished() || checks < 5 {
        let (code, out) = lab.drctl(&["audit", "verify"]);
        assert_eq!(code, 0, "a live run taken for tampering: {out}");
        checks += 1;
    }
    runner.join().unwrap();
}
