//! Breadcrumbs for `exec` processes, so that a restarted drctl can tell whether the
//! process of an interrupted attempt is still running.
//!
//! A SIGKILLed drctl cannot take its children with it: they go on, reparented to init,
//! and may still be doing the dangerous thing. Before a reconcile check or a new attempt
//! of the same step, `exec` waits for them to exit, so the check sees the effect of the
//! old process instead of racing it, and two attempts never run side by side.
//!
//! Each started process leaves a file named `{run}.{step}.{item or -}.{attempt}.pid`
//! holding "pid starttime" (the start time from `/proc/PID/stat`, so a recycled pid is not
//! mistaken for our process). The file goes when the process has been waited for. The
//! directory is `$XDG_RUNTIME_DIR/drctl/attempts`, else `drctl-attempts-UID` under the
//! temporary directory: per user, and cleared at reboot, when no orphan can be left.
//!
//! Linux only: elsewhere nothing is recorded and nothing is waited for.

use std::path::PathBuf;
use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};

/// How often a live orphan is looked at.
const POLL: Duration = Duration::from_millis(100);

/// One process of one attempt.
pub(super) struct Breadcrumb {
    path: PathBuf,
}

impl Breadcrumb {
    /// Records that `pid` runs the attempt of `ctx`. Failing to record only loses the
    /// wait after a crash, so it is not an error.
    pub(super) fn leave(ctx: &ActionCtx, pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        let start = start_time(pid)?;
        let dir = dir()?;
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(file_name(ctx, ctx.attempt));
        std::fs::write(&path, format!("{pid} {start}")).ok()?;
        Some(Self { path })
    }
}

impl Drop for Breadcrumb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Waits while a process of an earlier attempt of this step (attempts below `before`)
/// is alive. Returns the ones still alive after `limit`, described for an operator.
pub(super) async fn wait(
    ctx: &ActionCtx,
    before: u32,
    limit: Duration,
) -> Result<Vec<String>, ActionError> {
    let Some(dir) = dir() else {
        return Ok(Vec::new());
    };
    let mut waited = Duration::ZERO;
    loop {
        let mut alive = Vec::new();
        for attempt in 1..before {
            let path = dir.join(file_name(ctx, attempt));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            match parse(&text).filter(|&(pid, start)| running(pid, start)) {
                Some((pid, _)) => alive.push(format!("pid {pid} of attempt {attempt}")),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if alive.is_empty() || waited >= limit {
            return Ok(alive);
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => waited += POLL,
            () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
        }
    }
}

fn file_name(ctx: &ActionCtx, attempt: u32) -> String {
    let item = ctx.item.map_or_else(|| "-".to_owned(), |i| i.to_string());
    format!("{}.{}.{item}.{attempt}.pid", ctx.run, ctx.step)
}

fn dir() -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => Some(PathBuf::from(runtime).join("drctl").join("attempts")),
        None => {
            let uid = std::fs::metadata("/proc/self")
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))?;
            Some(std::env::temp_dir().join(format!("drctl-attempts-{uid}")))
        }
    }
}

fn parse(text: &str) -> Option<(u32, u64)> {
    let (pid, start) = text.trim().split_once(' ')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// Whether `pid` is the same, still running (not zombie) process.
fn running(pid: u32, start: u64) -> bool {
    stat(pid).is_some_and(|(state, s)| s == start && state != 'Z' && state != 'X')
}

fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// The state letter and start time (field 22, in clock ticks since boot) of a process.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses:
    // fields after it are counted from its last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(running(me, start));
        assert!(!running(me, start + 1), "a recycled pid is not ours");
        assert_eq!(parse(&format!("{me} {start}\n")), Some((me, start)));
        assert_eq!(parse("garbage"), None);
    }
}
