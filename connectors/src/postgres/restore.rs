//! `postgres.restore_pitr`: a base backup plus archived WAL, recovered to a target time or
//! LSN in a new data directory, started on its own port and promoted once the target is
//! reached.
//!
//! The restored server never archives (`archive_mode = off`): it must not write into the
//! archive of the server it was restored from. It listens on TCP only, so no socket path
//! depends on where the data directory is. A file `drctl-restore.json` in the new data
//! directory records the port and the target before the server starts: after a crash,
//! `reconcile` finds the server through it.
//!
//! PostgreSQL refuses to run as root: when drctl does, `os_user` names the owner of the
//! new server and every program runs as that user (`runuser`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use serde_json::{Value, json};

use super::conn::{Pg, connect};
use crate::input::{duration_or, opt_str, str_of};
use crate::wait::{Deadline, cancellable, pause};

const MARKER: &str = "drctl-restore.json";
const LOG: &str = "drctl-restore.log";
const POLL: Duration = Duration::from_millis(200);

pub(crate) struct RestorePitr {
    pub(crate) spec: ActionSpec,
}

/// What the step asks for, checked before anything is copied.
struct Job {
    base_backup: PathBuf,
    archive: PathBuf,
    data_dir: PathBuf,
    target: Target,
    port: Option<u16>,
    os_user: Option<String>,
    user: String,
    bin: PathBuf,
    timeout: Duration,
}

enum Target {
    Time(String),
    Lsn(String),
}

impl Target {
    fn setting(&self) -> (&'static str, &str) {
        match self {
            Target::Time(t) => ("recovery_target_time", t),
            Target::Lsn(l) => ("recovery_target_lsn", l),
        }
    }

    fn json(&self) -> Value {
        match self {
            Target::Time(t) => json!({ "time": t }),
            Target::Lsn(l) => json!({ "lsn": l }),
        }
    }
}

fn permanent(message: impl Into<String>) -> ActionError {
    ActionError::Permanent(message.into())
}

/// A value for postgresql.conf: single-quoted, quotes doubled; no line breaks.
fn conf_value(text: &str) -> Result<String, ActionError> {
    if text.contains(['\n', '\r']) {
        return Err(permanent(format!("{text:?} holds a line break")));
    }
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// The directory of `pg_ctl` for the base backup's major version: `bin_dir`, Debian's
/// /usr/lib/postgresql/MAJOR/bin, or whatever `pg_ctl` is on PATH.
fn bin_dir(input: &Value, major: &str) -> Result<PathBuf, ActionError> {
    if let Some(dir) = opt_str(input, "bin_dir") {
        let dir = PathBuf::from(dir);
        return if dir.join("pg_ctl").is_file() {
            Ok(dir)
        } else {
            Err(permanent(format!(
                "no pg_ctl in `bin_dir` {}",
                dir.display()
            )))
        };
    }
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    if debian.join("pg_ctl").is_file() {
        return Ok(debian);
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|d| d.join("pg_ctl").is_file()))
        .ok_or_else(|| {
            permanent(format!(
                "no pg_ctl for PostgreSQL {major} (looked in {} and PATH); set `bin_dir`",
                debian.display()
            ))
        })
}

fn job(input: &Value) -> Result<Job, ActionError> {
    let base_backup = PathBuf::from(str_of(input, "base_backup")?);
    let major = std::fs::read_to_string(base_backup.join("PG_VERSION"))
        .map_err(|_| {
            permanent(format!(
                "{} is not a PostgreSQL base backup (no PG_VERSION)",
                base_backup.display()
            ))
        })?
        .trim()
        .to_owned();
    if !base_backup.join("backup_label").is_file() {
        return Err(permanent(format!(
            "{} has no backup_label: a data directory, not a base backup",
            base_backup.display()
        )));
    }
    let archive = PathBuf::from(str_of(input, "wal_archive")?);
    if !archive.is_dir() {
        return Err(permanent(format!(
            "the WAL archive {} is not a directory",
            archive.display()
        )));
    }
    if archive.to_string_lossy().contains(['"', '\'', '\n']) {
        return Err(permanent(
            "the WAL archive's path may not hold quotes or line breaks (it goes into restore_command)",
        ));
    }
    let target = match (opt_str(input, "target_time"), opt_str(input, "target_lsn")) {
        (Some(t), None) => Target::Time(t.to_owned()),
        (None, Some(l)) => Target::Lsn(l.to_owned()),
        _ => return Err(permanent("give one of `target_time` and `target_lsn`")),
    };
    let os_user = opt_str(input, "os_user").map(str::to_owned);
    if os_user.is_none() && rustix::process::geteuid().is_root() {
        return Err(permanent(
            "drctl runs as root and PostgreSQL will not: set `os_user` to the account that owns the server",
        ));
    }
    Ok(Job {
        bin: bin_dir(input, &major)?,
        base_backup,
        archive,
        data_dir: PathBuf::from(str_of(input, "data_dir")?),
        target,
        port: input
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok()),
        os_user,
        user: opt_str(input, "user").unwrap_or("postgres").to_owned(),
        timeout: duration_or(input, "timeout", Duration::from_secs(600))?,
    })
}

/// A port nothing listens on now.
fn free_port() -> Result<u16, ActionError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| ActionError::Retryable(format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ActionError::Retryable(format!("cannot find a free port: {e}")))
}

fn port_taken(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn dsn(user: &str, port: u16) -> String {
    format!("host=127.0.0.1 port={port} user={user} dbname=postgres connect_timeout=2")
}

impl Job {
    /// A program, as `os_user` when one is set.
    fn command(&self, program: &Path) -> tokio::process::Command {
        let mut cmd = match &self.os_user {
            Some(user) => {
                let mut c = tokio::process::Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => tokio::process::Command::new(program),
        };
        cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
        cmd
    }

    async fn exec(
        &self,
        ctx: &ActionCtx,
        what: &str,
        mut cmd: tokio::process::Command,
    ) -> Result<(), ActionError> {
        let out = tokio::select! {
            o = cmd.output() => o.map_err(|e| permanent(format!("{what}: cannot start: {e}")))?,
            () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
        };
        if out.status.success() {
            Ok(())
        } else {
            Err(permanent(format!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// The recovery settings, appended to the copy's postgresql.auto.conf (the last
    /// setting of a name wins).
    fn settings(&self) -> Result<String, ActionError> {
        let (name, value) = self.target.setting();
        let restore = format!("cp \"{}/%f\" \"%p\"", self.archive.display());
        Ok(format!(
            "\n# postgres.restore_pitr (drctl)\nrestore_command = {}\n{name} = {}\n\
             recovery_target_action = 'promote'\narchive_mode = 'off'\nprimary_conninfo = ''\n",
            conf_value(&restore)?,
            conf_value(value)?
        ))
    }

    /// Writes a file of the new data directory, owned like the directory.
    fn write(&self, name: &str, text: &str, append: bool) -> Result<(), ActionError> {
        use std::io::Write;
        use std::os::unix::fs::MetadataExt;
        let path = self.data_dir.join(name);
        let fail = |e: std::io::Error| permanent(format!("cannot write {}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        let dir = std::fs::metadata(&self.data_dir).map_err(fail)?;
        std::os::unix::fs::chown(&path, Some(dir.uid()), Some(dir.gid())).map_err(fail)
    }

    /// The last lines of the restored server's log that say why it stopped.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join(LOG)).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("FATAL") || l.contains("PANIC"))
            // Our own connection attempts, refused while the server recovers or stops
            // ("the database system is in recovery mode", "... is shutting down"), log
            // FATAL lines too, and may come last; they never say why it stopped.
            .filter(|l| !l.contains("the database system is"))
            .collect();
        lines.last().map_or_else(
            || "no FATAL line in its log".to_owned(),
            |l| (*l).to_owned(),
        )
    }

    fn server_alive(&self) -> bool {
        let Ok(pid) = std::fs::read_to_string(self.data_dir.join("postmaster.pid")) else {
            return false;
        };
        pid.lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }
}

/// The output of a restore: where the promoted server is, what it was restored to, and
/// what it says about itself.
async fn restored(
    ctx: &ActionCtx,
    pg: &Pg,
    data_dir: &Path,
    port: u16,
    target: Value,
) -> Result<Value, ActionError> {
    let row = cancellable(
        ctx,
        pg.client.query_one(
            "SELECT pg_current_wal_lsn()::text, \
                    (SELECT timeline_id FROM pg_control_checkpoint())::int, \
                    pg_last_xact_replay_timestamp()::text",
            &[],
        ),
    )
    .await?
    .map_err(|e| super::conn::classify(&pg.target, "read the restored server", &e))?;
    Ok(json!({
        "lsn": row.get::<_, Option<String>>(0),
        "timeline": row.get::<_, Option<i32>>(1),
        "last_replayed_commit": row.get::<_, Option<String>>(2),
        "data_dir": data_dir.display().to_string(),
        "port": port,
        "target": target,
        "promoted": true,
    }))
}

#[async_trait]
impl Action for RestorePitr {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let job = job(&input)?;
        if job.data_dir.exists() {
            return Err(permanent(format!(
                "{} exists: a restore goes into a new data directory",
                job.data_dir.display()
            )));
        }
        let port = match job.port {
            Some(p) if port_taken(p) => {
                return Err(permanent(format!("port {p} is taken by another server")));
            }
            Some(p) => p,
            None => free_port()?,
        };
        let clock = Deadline::after(job.timeout);
        let mut cp = job.command(Path::new("cp"));
        cp.arg("-a").arg(&job.base_backup).arg(&job.data_dir);
        job.exec(ctx, "copying the base backup", cp).await?;
        let mut chmod = job.command(Path::new("chmod"));
        chmod.arg("700").arg(&job.data_dir);
        job.exec(ctx, "chmod of the data directory", chmod).await?;
        for stale in ["postmaster.pid", "postmaster.opts", "standby.signal"] {
            let _ = std::fs::remove_file(job.data_dir.join(stale));
        }
        job.write("postgresql.auto.conf", &job.settings()?, true)?;
        job.write("recovery.signal", "", false)?;
        job.write(
            MARKER,
            &json!({ "port": port, "target": job.target.json() }).to_string(),
            false,
        )?;
        let mut start = job.command(&job.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&job.data_dir)
            .arg("-l")
            .arg(job.data_dir.join(LOG))
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            ))
            // No -w: recovery may take longer than pg_ctl waits; the loop below waits
            // for what matters, the promotion, and reads the log if the server stops.
            .arg("-W")
            .arg("start");
        job.exec(ctx, "pg_ctl start", start).await?;

        // Wait until recovery reached the target and the server was promoted.
        let target = dsn(&job.user, port);
        loop {
            // A server that stops at a target past the archive may accept the
            // connection and close it before answering: that is asked again like a
            // refused one, and the liveness check below says why it stopped.
            let promoted = match connect(ctx, &target).await {
                Ok(pg) => match pg.in_recovery(ctx).await {
                    Ok(false) => Some(pg),
                    Err(ActionError::Cancelled) => return Err(ActionError::Cancelled),
                    Ok(true) | Err(_) => None,
                },
                Err(ActionError::Cancelled) => return Err(ActionError::Cancelled),
                // Not yet consistent, or still replaying: ask again.
                Err(_) => None,
            };
            if let Some(pg) = promoted {
                let mut out = restored(ctx, &pg, &job.data_dir, port, job.target.json()).await?;
                out["took_ms"] = json!(clock.elapsed_ms());
                return Ok(out);
            }
            if !job.server_alive() && clock.elapsed_ms() > 2000 {
                return Err(permanent(format!(
                    "the restored server stopped during recovery: {}",
                    job.log_tail()
                )));
            }
            if clock.passed_before(POLL) {
                return Err(permanent(format!(
                    "the restored server on port {port} had not finished recovery after {:?}; \
                     it keeps running in {}",
                    job.timeout,
                    job.data_dir.display()
                )));
            }
            pause(ctx, POLL).await?;
        }
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let job = match job(&input) {
            Ok(job) => job,
            Err(e) => {
                return Ok(Some(Preview::new(
                    Outlook::WouldFail,
                    e.to_string(),
                    Value::Null,
                )));
            }
        };
        let wal_files = std::fs::read_dir(&job.archive)
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0);
        let observed = json!({
            "base_backup": job.base_backup.display().to_string(),
            "archived_files": wal_files,
            "bin_dir": job.bin.display().to_string(),
        });
        if job.data_dir.exists() {
            return Ok(Some(Preview::new(
                Outlook::WouldFail,
                format!("{} exists", job.data_dir.display()),
                observed,
            )));
        }
        if let Some(p) = job.port.filter(|p| port_taken(*p)) {
            return Ok(Some(Preview::new(
                Outlook::WouldFail,
                format!("port {p} is taken"),
                observed,
            )));
        }
        let (_, to) = job.target.setting();
        Ok(Some(Preview::new(
            Outlook::Change,
            format!(
                "restore {} + {wal_files} archived WAL files to {to} into {}",
                job.base_backup.display(),
                job.data_dir.display()
            ),
            observed,
        )))
    }

    /// No data directory: nothing happened. One whose server answers, promoted: done.
    /// Anything in between (a copy cut short, a server still recovering or stopped) is
    /// for an operator to look at.
    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let data_dir = PathBuf::from(str_of(&input, "data_dir")?);
        if !data_dir.exists() {
            return Ok(Observed::NotDone);
        }
        let marker: Option<Value> = std::fs::read_to_string(data_dir.join(MARKER))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let Some(port) = marker
            .as_ref()
            .and_then(|m| m["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
        else {
            return Ok(Observed::Unknown(format!(
                "{} exists without {MARKER}: the copy was cut short; remove it and retry",
                data_dir.display()
            )));
        };
        let user = opt_str(&input, "user").unwrap_or("postgres");
        match connect(ctx, &dsn(user, port)).await {
            Ok(pg) if !pg.in_recovery(ctx).await? => {
                let target = marker.map(|m| m["target"].clone()).unwrap_or_default();
                Ok(Observed::Done(
                    restored(ctx, &pg, &data_dir, port, target).await?,
                ))
            }
            Ok(_) => Ok(Observed::Unknown(format!(
                "the restored server on port {port} is still recovering"
            ))),
            Err(e) => Ok(Observed::Unknown(format!(
                "{} exists and its server does not answer ({e}); look at {LOG} there",
                data_dir.display()
            ))),
        }
    }
}
