//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Disaster-recovery runbooks as code.
#[derive(Debug, Parser)]
#[command(name = "drctl", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The database of runs (SQLite). Default: $XDG_DATA_HOME/drctl/drctl.db, or
    /// ~/.local/share/drctl/drctl.db.
    #[arg(long, env = "DRCTL_DB", global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// drctl.toml (groups, who may use --as, approval policies). Default:
    /// /etc/drctl/drctl.toml. A file that grants any of these must not be writable by you.
    #[arg(long, env = "DRCTL_CONFIG", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Send run, ls, show, logs, approvals, approve, reject, cancel, resume and step to
    /// this `drctl serve` (its URL, e.g. http://127.0.0.1:7420) instead of the local
    /// database, with the token in DRCTL_TOKEN.
    #[arg(long, env = "DRCTL_SERVER", global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Act as this name instead of the OS user, where drctl.toml's [identity] act_as
    /// allows it. Every event records who caused it.
    #[arg(long = "as", global = true, value_name = "NAME")]
    pub act_as: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check runbooks: syntax, fields, graph, templates, action inputs. Exit 0 when clean,
    /// 2 on errors, 1 on warnings with --strict.
    Validate {
        /// Runbook files, or folders searched for *.yaml and *.yml.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
        /// Treat warnings as failures (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Draw a runbook's steps and their dependencies.
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Show what a run would do with these params, without doing any of it.
    Plan {
        file: PathBuf,
        /// A parameter, `key=value` (lists and maps as JSON). Repeat for each.
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
        /// Also ask each action whose inputs are known now what it would change, reading
        /// the live systems (read-only; secrets are read for these calls, never shown).
        #[arg(long)]
        live: bool,
        /// With --live: how long each action may take to answer.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration_arg)]
        live_timeout: std::time::Duration,
    },
    /// List the actions of this build, or show one action's parameters.
    Actions {
        /// An action name, such as postgres.promote.
        name: Option<String>,
    },
    /// Run a runbook in the foreground, with live progress. Ctrl-C pauses it durably
    /// (with --server: the server drives it, and Ctrl-C only stops following).
    /// Exit 0 succeeded, 1 failed or cancelled, 3 paused or waiting.
    Run {
        file: PathBuf,
        /// A parameter, `key=value` (lists and maps as JSON). Repeat for each.
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Fail at once if the runbook's lock is held by another run, instead of waiting.
        #[arg(long)]
        no_wait: bool,
        /// Mark the run as a drill (reports, and approval policies with `drills_only`).
        #[arg(long)]
        drill: bool,
        /// Record the run and exit: a `drctl serve` on the same database drives it.
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Host runs: drive every run that needs a driver (detached, or left by a process
    /// that died) until SIGTERM or Ctrl-C, which hands them back for the next start.
    Serve {
        /// Where the HTTP API listens (default: [serve] listen, else 127.0.0.1:7420).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Listen on an address other than loopback without TLS (tokens would cross the
        /// network in clear text).
        #[arg(long)]
        insecure_listen: bool,
        /// Serve the API over TLS with this certificate chain (PEM; default: [serve]
        /// tls_cert). Needed to listen beyond loopback.
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM; default: [serve] tls_key).
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Scheduled runbooks: next and last firing, and each drill's obligation (ok, due,
    /// overdue, failed, waived, stale).
    Schedules {
        #[command(subcommand)]
        command: Option<SchedulesCommand>,
        /// The runbooks folder (default: [serve] runbooks of drctl.toml).
        #[arg(long, value_name = "DIR", global = true)]
        runbooks: Option<PathBuf>,
        /// Print JSON (the API's form) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The operator console: runs, a run's DAG live with its RTO clock, approvals and
    /// schedules, with decisions and steering (locally, or with --server).
    Tui {
        /// Show, never act: every key that would change something is off.
        #[arg(long)]
        read_only: bool,
        /// Plain ASCII symbols, for terminals without Unicode.
        #[arg(long)]
        ascii: bool,
        /// The runbooks folder, for the schedules screen (default: [serve] runbooks).
        #[arg(long, value_name = "DIR")]
        runbooks: Option<PathBuf>,
    },
    /// Runs that webhooks with `confirm: true` proposed: list them, confirm one (it
    /// starts, created by you) or reject it.
    Hooks {
        #[command(subcommand)]
        command: HooksCommand,
    },
    /// The key `drctl serve` signs ledger heads with.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// API tokens for `drctl serve`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Continue a paused or interrupted run.
    Resume {
        run: String,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// List runs, newest first.
    Ls {
        /// Only runs in this state (`interrupted`: the row says running, and nobody
        /// drives the run).
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long)]
        runbook: Option<String>,
        /// Include sub-runs.
        #[arg(long)]
        all: bool,
        /// Only drills.
        #[arg(long)]
        drill: bool,
        /// Only runs created at or after this time (2026-11-22, 2026-11-22T10:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// A run's steps, states, attempts and outputs.
    Show {
        run: String,
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
    },
    /// A run's log, or one step's.
    Logs {
        run: String,
        step: Option<String>,
        /// Keep printing new lines until the run ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a run: running actions are asked to stop, `finally` still runs.
    Cancel {
        run: String,
        #[arg(long, default_value = "cancelled by an operator")]
        reason: String,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Decide about a step that is interrupted (or skip one that has not started).
    Step {
        #[arg(value_enum)]
        decision: StepDecision,
        run: String,
        step: String,
        /// The item of a for_each step.
        #[arg(long)]
        item: Option<u32>,
        /// With `skip`: the step did take effect, and this JSON is its output for the
        /// steps after it. The step then counts as succeeded.
        #[arg(long, value_name = "JSON")]
        output: Option<String>,
    },
    /// Approval gates waiting for a decision: who may decide, how many are needed, time
    /// left, and whether you may.
    Approvals,
    /// Approve a waiting approval step.
    Approve {
        run: String,
        step: String,
        /// Why (recorded in the audit trail).
        #[arg(short = 'm', long = "message", value_name = "TEXT", required = true)]
        message: String,
    },
    /// Reject a waiting approval step: it fails, and so does the run unless the step may.
    Reject {
        run: String,
        step: String,
        /// Why (recorded in the audit trail).
        #[arg(short = 'm', long = "message", value_name = "TEXT", required = true)]
        message: String,
    },
    /// The event log as evidence: export it, or verify an export or the database.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// A run's report (timeline, approvals, RTO and RPO against the objectives, errors),
    /// or with --runbook the trend of its last runs.
    Report {
        #[arg(required_unless_present = "runbook", conflicts_with = "runbook")]
        run: Option<String>,
        /// The trend of this runbook's finished runs (its `runbook:` name).
        #[arg(long)]
        runbook: Option<String>,
        /// How many runs the trend covers, newest last.
        #[arg(long, default_value_t = 10, requires = "runbook")]
        last: usize,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Md,
    Json,
    Html,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a token: it is printed once, with the `[[serve.token]]` entry (its SHA-256,
    /// not the token) to add to drctl.toml.
    Create {
        /// What the token is for (shown in the API's refusals, never the token).
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Who acts with it: the actor of everything done with the token.
        #[arg(long = "identity", value_name = "NAME")]
        identity: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SchedulesCommand {
    /// Stop a schedule firing: its firings are recorded missed, with the reason.
    Pause {
        /// `RUNBOOK`, or `RUNBOOK/NAME` for one of several schedules.
        schedule: String,
        #[arg(long)]
        reason: String,
    },
    /// Let a paused schedule fire again.
    Resume {
        schedule: String,
        #[arg(long)]
        reason: String,
    },
    /// Waive a drill's obligation until a date: it shows `waived`, with who and why.
    Waive {
        schedule: String,
        /// RFC 3339 time or a date (YYYY-MM-DD, midnight UTC).
        #[arg(long)]
        until: String,
        #[arg(long)]
        reason: String,
    },
    /// Fire a schedule now: a run with its params, as a drill if it is one.
    Fire { schedule: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum HooksCommand {
    /// The proposed runs waiting for a person, oldest first.
    Proposals {
        /// Print JSON (the API's form) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Start a proposed run as it was proposed (its runbook's text then, the params
    /// from the alert); locally, it is driven here, in the foreground.
    Confirm {
        /// The run id the delivery was answered with.
        run: String,
        #[arg(long)]
        reason: String,
    },
    /// Discard a proposed run: nothing runs.
    Reject {
        run: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Make a signing key in a new file (readable by you alone), and print its public key.
    Create {
        /// Where to write it (it must not exist).
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Viewer,
    Operator,
    Approver,
    Admin,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Export whole runs with their hash chains, then a manifest. Filters choose runs:
    /// those with an event in [--since, --until), by --actor, of --runbook, or --run.
    Export {
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[arg(long)]
        runbook: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        run: Option<String>,
        #[arg(long, value_enum, default_value_t = AuditFormat::Jsonl)]
        format: AuditFormat,
        /// Write here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check an export (or, without FILE, the database): exit 0 intact, 1 with the first
    /// bad record named.
    Verify {
        file: Option<PathBuf>,
        /// Also check the history against the ledger heads signed by this key (a file
        /// holding `drctl-ed25519 ...`, or that text): a history rewritten with every hash
        /// recomputed passes the plain check, not this one.
        #[arg(long, value_name = "PUBLIC_KEY")]
        key: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuditFormat {
    Jsonl,
    Csv,
}

/// Options of commands that drive runs.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EngineArgs {
    /// Attempts running at once in a run (1-1000).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_parallel: u16,
}

/// A run's state, as `ls --status` filters on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    Created,
    Waiting,
    Running,
    Interrupted,
    Paused,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<StatusArg> for drctl_server::views::StatusArg {
    fn from(s: StatusArg) -> Self {
        use drctl_server::views::StatusArg as V;
        match s {
            StatusArg::Created => V::Created,
            StatusArg::Waiting => V::Waiting,
            StatusArg::Running => V::Running,
            StatusArg::Interrupted => V::Interrupted,
            StatusArg::Paused => V::Paused,
            StatusArg::Succeeded => V::Succeeded,
            StatusArg::Failed => V::Failed,
            StatusArg::Cancelled => V::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StepDecision {
    /// Run a new attempt.
    Retry,
    /// Treat it as done, with no output.
    Skip,
    /// Treat it as failed.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiagFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    Dot,
    Mermaid,
    Text,
}

/// A duration such as `10s` or `1m30s`, in the runbook's syntax.
fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    drctl_core::parse_duration(text).map_err(|e| e.to_string())
}
