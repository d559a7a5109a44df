//! Actions that need no external system: processes, HTTP, time, logging, assertions.
//!
//! `sleep` has a spec but no implementation here: the engine runs it itself, as a stored
//! deadline (see `drctl_run::SLEEP`), so that a restart neither loses nor restarts it.

mod exec;
pub mod http;
mod orphans;
mod simple;

pub use exec::kill_running_programs;

use std::sync::Arc;

use drctl_core::{Action, ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// The implementations of this family, by name.
pub(crate) fn actions(specs: &[ActionSpec], client: &Arc<http::Client>) -> Vec<Arc<dyn Action>> {
    let find = |name: &str| specs.iter().find(|s| s.name.as_str() == name).cloned();
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    if let Some(spec) = find("exec") {
        out.push(Arc::new(exec::Exec { spec }));
    }
    if let Some(spec) = find("http.request") {
        out.push(Arc::new(http::Request {
            spec,
            client: client.clone(),
        }));
    }
    if let Some(spec) = find("http.check") {
        out.push(Arc::new(http::Check {
            spec,
            client: client.clone(),
        }));
    }
    if let Some(spec) = find("log") {
        out.push(Arc::new(simple::Log { spec }));
    }
    if let Some(spec) = find("assert") {
        out.push(Arc::new(simple::Assert { spec }));
    }
    out
}

/// Where and how a process runs: shared by `exec` and its `reconcile` check.
fn process(argv_doc: &str) -> ObjectSchema {
    ObjectSchema::new()
        .req("argv", Ty::list(Ty::String), argv_doc)
        .opt("env", Ty::map(Ty::String), "extra environment variables")
        .opt(
            "inherit_env",
            Ty::list(Ty::String),
            "variables passed on from drctl's own environment; otherwise the program sees only PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TERM, TMPDIR and `env`",
        )
        .opt("cwd", Ty::String, "working directory")
}

fn status_codes() -> Ty {
    Ty::OneOf(vec![
        Ty::int_range(100, 599),
        Ty::list(Ty::int_range(100, 599)),
    ])
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "exec",
            "Run a program with an argv list (never through a shell)",
            false,
            Reconcile::WithCheck,
            process("program and arguments; no shell is involved")
                .opt(
                    "stdin",
                    Ty::String,
                    "text written to the program's standard input",
                )
                .opt("timeout", Ty::Duration, "kill the program after this long")
                .opt(
                    "exit_codes",
                    Ty::list(Ty::int_range(0, 255)),
                    "exit codes that count as success (default [0])",
                )
                .opt(
                    "output",
                    Ty::one_of_strings(&["text", "json"]),
                    "`json` parses stdout as the step's output",
                )
                .opt(
                    "max_output",
                    Ty::int_range(1, 64 * 1024 * 1024),
                    "bytes of stdout and stderr kept (default 1 MiB)",
                )
                .opt(
                    "reconcile",
                    Ty::Object(process(
                        "check program: exit 0 done, 1 not done, else unknown",
                    )),
                    "a check that tells after a crash whether the command already took effect",
                ),
        )
        .with_outputs(
            "{exit_code, stdout, stderr, truncated}; with `output: json`, stdout parsed as JSON",
        )
        .with_errors(
            "retryable: an exit code not in `exit_codes`, or killed by a signal (a step's `retry:` retries it); \
             permanent: the program cannot be started, stdout is not the JSON `output: json` asks for, \
             an earlier attempt is still running, `with.timeout` passed; timeout: the step's `timeout` passed",
        ),
        spec(
            "http.request",
            "Send one HTTP request and check its status",
            false,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req("url", Ty::String, "absolute http or https URL")
                .opt(
                    "method",
                    Ty::one_of_strings(&["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
                    "default GET",
                )
                .opt_secret("headers", Ty::map(Ty::String), "request headers")
                .opt("json", Ty::Any, "request body, sent as JSON")
                .opt("body", Ty::String, "request body, sent as is")
                .opt(
                    "timeout",
                    Ty::Duration,
                    "give up after this long (default 30s)",
                )
                .opt(
                    "expect_status",
                    status_codes(),
                    "accepted status codes (default any 2xx)",
                )
                .exclusive(&["json", "body"]),
        ),
        spec(
            "http.check",
            "Poll an HTTP endpoint until a condition holds",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("url", Ty::String, "absolute http or https URL")
                .opt(
                    "method",
                    Ty::one_of_strings(&["GET", "HEAD"]),
                    "default GET",
                )
                .opt_secret("headers", Ty::map(Ty::String), "request headers")
                .opt(
                    "expect_status",
                    status_codes(),
                    "what counts as a healthy answer (default 200)",
                )
                .opt(
                    "expect_body",
                    Ty::String,
                    "a healthy answer's body contains this text",
                )
                .opt("timeout", Ty::Duration, "per request (default 5s)")
                .opt("interval", Ty::Duration, "between probes (default 5s)")
                .opt(
                    "deadline",
                    Ty::Duration,
                    "fail if the condition does not hold within this time",
                )
                .opt(
                    "consecutive_successes",
                    Ty::int_range(1, 1000),
                    "succeed after this many healthy answers in a row",
                )
                .opt(
                    "consecutive_failures",
                    Ty::int_range(1, 1000),
                    "succeed after this many unhealthy answers in a row (outage confirmation)",
                )
                .opt(
                    "max_error_rate",
                    Ty::number_range(0.0, 1.0),
                    "fail if the share of unhealthy answers over `window` exceeds this",
                )
                .opt(
                    "window",
                    Ty::Duration,
                    "how long the error rate is measured (default 30s)",
                )
                .exclusive(&[
                    "consecutive_successes",
                    "consecutive_failures",
                    "max_error_rate",
                ]),
        ),
        spec(
            "sleep",
            "Wait; the deadline is stored, so a restart does not restart the wait",
            true,
            Reconcile::Supported,
            ObjectSchema::new().req("duration", Ty::Duration, "how long to wait"),
        )
        .recording_inputs(),
        spec(
            "log",
            "Write a message to the run's log",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("message", Ty::String, "the text")
                .opt(
                    "level",
                    Ty::one_of_strings(&["info", "warn", "error"]),
                    "default info",
                ),
        )
        .recording_inputs(),
        spec(
            "assert",
            "Fail the step unless a condition is true",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("that", Ty::Any, "the condition, usually `{{ expression }}`")
                .opt("message", Ty::String, "the error when it does not hold"),
        )
        .recording_inputs(),
    ]
}
