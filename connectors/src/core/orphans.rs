//! Finding the processes of an earlier attempt, so that a restarted drctl can wait for
//! the process of an interrupted attempt instead of racing it.
//!
//! A SIGKILLed drctl cannot take its children with it: they go on, reparented to init,
//! and may still be doing the dangerous thing. Before a reconcile check or a new attempt
//! of the same step, `exec` waits for them to exit, so the check sees the effect of the
//! old process, and two attempts never run side by side.
//!
//! Each process is marked at its start with the variable `DRCTL_ATTEMPT=run/step/item/n`
//! in its environment, which its own children inherit. Then `/proc/*/environ` names every
//! live process of an attempt, with no window between the start of a process and its
//! record (a file written after `spawn` would miss a drctl killed in between). A command
//! that clears its environment (`env -i`) hides its children from the wait.
//!
//! Linux only: elsewhere nothing is found and nothing is waited for.

use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};
use tokio::process::Command;

/// The variable that marks a process as part of an attempt.
const MARK: &str = "DRCTL_ATTEMPT";

/// How often live processes are looked for again.
const POLL: Duration = Duration::from_millis(100);

/// Marks the process `cmd` will start as part of `ctx`'s attempt.
pub(super) fn mark(cmd: &mut Command, ctx: &ActionCtx) {
    cmd.env(MARK, format!("{}/{}", prefix(ctx), ctx.attempt));
}

/// Waits while a process of an earlier attempt of this step (attempts below `before`)
/// is alive. Returns the ones still alive after `limit`, described for an operator.
pub(super) async fn wait(
    ctx: &ActionCtx,
    before: u32,
    limit: Duration,
) -> Result<Vec<String>, ActionError> {
    if before <= 1 || !cfg!(target_os = "linux") {
        return Ok(Vec::new());
    }
    let prefix = format!("{MARK}={}/", prefix(ctx));
    let mut waited = Duration::ZERO;
    loop {
        let alive = find(&prefix, before);
        if alive.is_empty() || waited >= limit {
            return Ok(alive);
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => waited += POLL,
            () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
        }
    }
}

/// Run, step and item: what the attempts of one step item share.
fn prefix(ctx: &ActionCtx) -> String {
    let item = ctx.item.map_or_else(|| "-".to_owned(), |i| i.to_string());
    format!("{}/{}/{item}", ctx.run, ctx.step)
}

/// Live processes whose mark starts with `prefix` and names an attempt below `before`.
fn find(prefix: &str, before: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut alive = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // Another user's process, or one that just exited: not ours to wait for.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let attempt = environ
            .split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(prefix.as_bytes()))
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u32>().ok());
        if let Some(attempt) = attempt.filter(|&n| n < before)
            && !zombie(pid)
        {
            alive.push(format!("pid {pid} of attempt {attempt}"));
        }
    }
    alive
}

/// A process that exited and waits for its parent to collect it is gone for our purpose.
fn zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        // The command name is in parentheses and may hold anything: the state letter
        // comes after its last `)`.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| matches!(state, 'Z' | 'X'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_unmarked() {
        let me = std::process::id().to_string();
        assert!(!zombie(&me));
        assert!(zombie("0"), "no such process");
        assert!(find(&format!("{MARK}=no-such-run/"), u32::MAX).is_empty());
    }
}
