//! `exec`: runs a program from an argv list. No shell is involved, so nothing rendered
//! from a template can become shell syntax.
//!
//! The program's environment is minimal: PATH, HOME, USER, LOGNAME, SHELL, LANG,
//! LANGUAGE, LC_*, TZ, TERM and TMPDIR from drctl's, the variables the step lists in
//! `inherit_env`, and the step's `env` (where secrets are passed, masked in whatever comes
//! back). Never the rest of drctl's environment, which holds secrets' source variables.
//!
//! Output: `{exit_code, stdout, stderr, truncated}`, or with `output: json` the parsed
//! stdout itself. stdout and stderr are each kept up to `max_output` bytes (1 MiB); the
//! rest is read and dropped so the program never blocks on a full pipe.
//! While it runs, the latest of what it printed (8 KiB a stream, past `max_output` too) is
//! reported every quarter second to the context's `live` sink, for people watching (the
//! engine masks and stores its tail).
//!
//! Not idempotent. After a crash it can reconcile only with the step's `reconcile` check:
//! a program whose exit status says whether the command already took effect: 0 done,
//! 1 not done, anything else unknown.
//!
//! A process outlives a killed drctl. Before the check, and before a new attempt, `exec`
//! waits (up to ten minutes) for the processes of earlier attempts of the step to exit;
//! see [`super::orphans`].

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed};
use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::orphans;
use crate::input::{duration_or, opt_str, strings, u64_or};

/// Default cap on captured stdout and stderr, each.
const MAX_OUTPUT: u64 = 1024 * 1024;

/// How long a cancelled command has between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a new attempt or a reconcile check waits for the process of an interrupted
/// attempt to exit. Longer than most commands; an operator can always intervene.
const ORPHAN_WAIT: Duration = Duration::from_secs(600);

pub(crate) struct Exec {
    pub(crate) spec: ActionSpec,
}

/// What a process did.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    truncated: bool,
}

#[async_trait]
impl Action for Exec {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let alive = orphans::wait(ctx, ctx.attempt, ORPHAN_WAIT).await?;
        if !alive.is_empty() {
            return Err(ActionError::Permanent(format!(
                "an earlier attempt is still running ({}); not starting another beside it",
                alive.join(", ")
            )));
        }
        let done = execute(ctx, &input, true).await?;
        let accepted: Vec<i64> = match input.get("exit_codes").and_then(Value::as_array) {
            Some(codes) => codes.iter().filter_map(Value::as_i64).collect(),
            None => vec![0],
        };
        // A program that ran and failed may succeed next time (a lock, the network): its
        // failure is retryable, so a step's `retry:` (default `on: [retryable]`) retries
        // it. A program that cannot be started, or output that is not what the step
        // asked for, will not change by itself: permanent.
        let Some(code) = done.code else {
            return Err(ActionError::Retryable(format!(
                "killed by a signal; stderr: {}",
                tail(&done.stderr)
            )));
        };
        if !accepted.contains(&i64::from(code)) {
            return Err(ActionError::Retryable(format!(
                "exited with code {code}; stderr: {}",
                tail(&done.stderr)
            )));
        }
        if opt_str(&input, "output") == Some("json") {
            return serde_json::from_str(&done.stdout).map_err(|e| {
                ActionError::Permanent(format!("`output: json` but stdout is not JSON: {e}"))
            });
        }
        Ok(
            json!({ "exit_code": code, "stdout": done.stdout, "stderr": done.stderr, "truncated": done.truncated }),
        )
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let Some(check) = input.get("reconcile") else {
            return Ok(Observed::Unknown(
                "the step gives no `reconcile` check".into(),
            ));
        };
        // The interrupted attempt's own process may still be at work.
        let alive = orphans::wait(ctx, ctx.attempt + 1, ORPHAN_WAIT).await?;
        if !alive.is_empty() {
            return Ok(Observed::Unknown(format!(
                "the interrupted attempt is still running ({})",
                alive.join(", ")
            )));
        }
        let mut check = check.clone();
        if let Some(obj) = check.as_object_mut() {
            obj.entry("timeout").or_insert_with(|| json!("1m"));
        }
        let done = execute(ctx, &check, false).await?;
        Ok(match done.code {
            // A step whose output is JSON records the check's JSON: a read-only step can
            // give its own command as the check, and the output keeps its shape.
            Some(0) if opt_str(&input, "output") == Some("json") => {
                match serde_json::from_str(&done.stdout) {
                    Ok(v) => Observed::Done(v),
                    Err(e) => Observed::Unknown(format!(
                        "the reconcile check succeeded but its stdout is not JSON: {e}"
                    )),
                }
            }
            Some(0) => Observed::Done(json!({ "reconciled": true, "stdout": done.stdout })),
            Some(1) => Observed::NotDone,
            other => Observed::Unknown(format!(
                "the reconcile check {}: {}",
                other.map_or_else(
                    || "was killed by a signal".to_owned(),
                    |c| format!("exited with {c}")
                ),
                tail(&done.stderr)
            )),
        })
    }
}

/// Runs argv with the input's env, cwd, stdin and timeout; stops on cancel. An attempt's
/// process is marked (`track`) so a later drctl can find it; a reconcile check is not.
async fn execute(ctx: &ActionCtx, input: &Value, track: bool) -> Result<Finished, ActionError> {
    let argv = strings(input, "argv")?;
    let Some((program, args)) = argv.split_first() else {
        return Err(ActionError::Permanent("`argv` is empty".into()));
    };
    let timeout = duration_or(input, "timeout", Duration::from_secs(3600))?;
    let max = u64_or(input, "max_output", MAX_OUTPUT);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if input.get("stdin").is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // An aborted task (pause grace over, engine shut down) takes its process with it.
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C in drctl's terminal reaches drctl, which decides
        // what happens to the command, instead of killing it behind drctl's back.
        .process_group(0);
    // A minimal environment: drctl's own holds the variables secrets are read from (and
    // cloud credentials); a program gets only what it needs to run, what the step names
    // in `inherit_env`, and the step's `env`.
    cmd.env_clear();
    let inherit = match input.get("inherit_env") {
        Some(_) => strings(input, "inherit_env")?,
        None => Vec::new(),
    };
    for (k, v) in std::env::vars_os() {
        let name = k.to_string_lossy();
        if drctl_core::inherited_by_programs(&name) || inherit.iter().any(|i| *i == name) {
            cmd.env(&k, &v);
        }
    }
    if let Some(env) = input.get("env").and_then(Value::as_object) {
        for (k, v) in env {
            cmd.env(k, v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
    }
    if track {
        orphans::mark(&mut cmd, ctx);
    }
    if let Some(cwd) = opt_str(input, "cwd") {
        cmd.current_dir(cwd);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ActionError::Permanent(format!("cannot run `{program}`: {e}")))?;
    let mut group = Group::new(child.id());
    if let (Some(text), Some(mut stdin)) = (
        opt_str(input, "stdin").map(str::to_owned),
        child.stdin.take(),
    ) {
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    let (out_piped, err_piped) = (Shared::default(), Shared::default());
    let stdout = tokio::spawn(capture(child.stdout.take(), max, out_piped.clone()));
    let stderr = tokio::spawn(capture(child.stderr.take(), max, err_piped.clone()));
    // Stops with this function, however it returns.
    let _reporter = ctx
        .live
        .clone()
        .map(|live| Reporter(tokio::spawn(report(live, out_piped, err_piped))));
    let status = tokio::select! {
        status = child.wait() => status.map_err(|e| ActionError::Retryable(format!("waiting for `{program}`: {e}")))?,
        () = ctx.cancel.cancelled() => {
            // Asked to stop: the whole group gets SIGTERM and a moment to clean up.
            signal_group(child.id(), Signal::TERM);
            if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                signal_group(child.id(), Signal::KILL);
                let _ = child.wait().await;
            }
            return Err(ActionError::Cancelled);
        }
        () = tokio::time::sleep(timeout) => {
            signal_group(child.id(), Signal::KILL);
            let _ = child.wait().await;
            return Err(ActionError::Permanent(format!("`{program}` did not finish within {}", drctl_core::format_duration(timeout))));
        }
    };
    group.ended();
    let (out, out_cut) = stdout.await.unwrap_or_default();
    let (err, err_cut) = stderr.await.unwrap_or_default();
    Ok(Finished {
        code: status.code(),
        stdout: out,
        stderr: err,
        truncated: out_cut || err_cut,
    })
}

/// The process groups of the programs running now in this process.
static RUNNING: std::sync::Mutex<BTreeSet<i32>> = std::sync::Mutex::new(BTreeSet::new());

/// Kills (SIGKILL) the process group of every program that a step runs now: for a drctl
/// that quits at once (a second Ctrl-C), so that nothing it started runs on unseen.
pub fn kill_running_programs() {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    for pid in running.iter() {
        signal_group(u32::try_from(*pid).ok(), Signal::KILL);
    }
}

/// A running program's process group. Dropped before its leader ended (the attempt's
/// task aborted when a grace period ran out, or drctl shutting down), it kills the whole
/// group: `kill_on_drop` alone reaches only the leader, and a child that ignores SIGTERM
/// would outlive the step.
struct Group {
    pid: Option<i32>,
    ended: bool,
}

impl Group {
    fn new(pid: Option<u32>) -> Self {
        let pid = pid.and_then(|p| i32::try_from(p).ok());
        if let Some(pid) = pid {
            RUNNING
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pid);
        }
        Self { pid, ended: false }
    }

    /// The leader exited (and was waited for) on its own.
    fn ended(&mut self) {
        self.ended = true;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            return;
        };
        if !self.ended {
            signal_group(u32::try_from(pid).ok(), Signal::KILL);
        }
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
    }
}

/// Signals the process group led by `pid` (each command leads its own): a shell's
/// children stop with it instead of lingering.
fn signal_group(pid: Option<u32>, signal: Signal) {
    let pid = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw);
    if let Some(pid) = pid {
        // It may have exited meanwhile: nothing to do then.
        let _ = kill_process_group(pid, signal);
    }
}

/// What a pipe gave so far: its first `max` bytes (the step's output) and its latest
/// bytes (what people watching see, whatever `max` is), shared with the reporter.
#[derive(Debug, Default)]
struct Piped {
    kept: Vec<u8>,
    recent: Vec<u8>,
    total: u64,
}

type Shared = std::sync::Arc<std::sync::Mutex<Piped>>;

/// How much of a pipe's latest output the reporter hands on (the engine keeps less).
const RECENT: usize = 8 * 1024;

/// How often what a program printed is reported while it runs.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Reads a pipe to its end, keeping the first `max` bytes.
async fn capture(pipe: Option<impl AsyncRead + Unpin>, max: u64, shared: Shared) -> (String, bool) {
    let Some(mut pipe) = pipe else {
        return (String::new(), false);
    };
    let mut buf = [0u8; 8192];
    let mut cut = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let Ok(mut p) = shared.lock() else { break };
                let room = usize::try_from(max)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(p.kept.len());
                p.kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
                p.recent.extend_from_slice(&buf[..n]);
                if p.recent.len() > 2 * RECENT {
                    let old = p.recent.len() - RECENT;
                    p.recent.drain(..old);
                }
                p.total += n as u64;
            }
        }
    }
    let kept = shared
        .lock()
        .map(|mut p| std::mem::take(&mut p.kept))
        .unwrap_or_default();
    (text(&kept), cut)
}

/// Bytes as text. A character cut in two (by `max`, or by a read that ended inside it)
/// is dropped, not turned into `\u{FFFD}`: a secret's start right before it must stay
/// recognisable, to be masked.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(whole_chars(bytes)).into_owned()
}

/// `bytes` without the parts of a character a cut left at either end.
fn whole_chars(bytes: &[u8]) -> &[u8] {
    let continuation = |b: &u8| b & 0xC0 == 0x80;
    let start = bytes.iter().take(3).take_while(|b| continuation(b)).count();
    let bytes = &bytes[start..];
    for back in 1..=bytes.len().min(4) {
        let b = bytes[bytes.len() - back];
        if continuation(&b) {
            continue;
        }
        let need = match b {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if need > back {
            &bytes[..bytes.len() - back]
        } else {
            bytes
        };
    }
    bytes
}

/// Reports the latest of what the program printed, whenever it printed more, until
/// aborted. Only [`RECENT`] bytes a stream are copied, however much it printed.
async fn report(live: std::sync::Arc<dyn drctl_core::LiveOutput>, out: Shared, err: Shared) {
    let latest = |s: &Shared| {
        s.lock()
            .map(|p| (p.total, text(&p.recent)))
            .unwrap_or_default()
    };
    let total = |s: &Shared| s.lock().map_or(0, |p| p.total);
    let mut seen = (0, 0);
    loop {
        tokio::time::sleep(REPORT_EVERY).await;
        if (total(&out), total(&err)) == seen {
            continue;
        }
        let ((o, stdout), (e, stderr)) = (latest(&out), latest(&err));
        seen = (o, e);
        live.printed(&stdout, &stderr);
    }
}

/// The reporter's task, aborted when the command is over.
struct Reporter(tokio::task::JoinHandle<()>);

impl Drop for Reporter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The last lines of stderr, for an error message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(5);
    let tail = lines[start..].join(" | ");
    if tail.is_empty() {
        "(empty)".to_owned()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_in_two_is_dropped_not_replaced() {
        let secret = "token=pässwörd\n".as_bytes();
        let cut = secret.iter().position(|&b| b == 0xC3).unwrap() + 1;
        // `max` ended inside `ä`: the text ends before it, so the secret's start stays
        // recognisable to the masking.
        assert_eq!(text(&secret[..cut]), "token=p");
        assert_eq!(
            text(&secret[cut..]),
            "sswörd\n",
            "the rest of `ä` at the start"
        );
        assert_eq!(text("a€".as_bytes()), "a€");
        assert_eq!(text(&"a€".as_bytes()[..3]), "a");
        assert_eq!(text(&[0xF0, 0x9F, 0x98]), "");
        assert_eq!(text(b"plain"), "plain");
    }
}
