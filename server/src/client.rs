//! A client of the API: what `drctl --server URL` and the console use to talk to a
//! `drctl serve`. Each method is one operation of `/api/v1` and answers with the same
//! view types the server serializes ([`crate::views`]), so a remote command renders
//! exactly what the local one does.
//!
//! The token travels only in the `Authorization` header: no error this module builds
//! contains it (a request's URL, a problem's detail and the transport's error do not).

use std::time::Duration;

use drctl_core::RunId;
use eventsource_stream::Eventsource as _;
use futures_util::{Stream, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::approvals::{DecideRequest, VerdictArg};
use crate::api::events::{EventList, EventView};
use crate::api::proposals::ProposalList;
use crate::api::runbooks::RunbookDetail;
use crate::api::runs::{CancelRequest, DecisionArg, StartRequest, StepRequest};
use crate::api::schedules::ChangeRequest;
use crate::hooks::propose::{Decision, ProposalView};
use crate::ops::runs::RunQuery;
use crate::schedule::view::{ScheduleList, ScheduleView};
use crate::views::{CommandResult, Gates, RunDetail, RunList, Started};
use drctl_evidence::report::Format as ReportFormat;

/// How long one call may take: longer than the server's wait for a driver to take a
/// command, so a slow answer is the server's, not a cut connection.
const CALL: Duration = Duration::from_secs(60);

/// The largest answer read whole (a run's events, a report): far above any real one.
const MAX_ANSWER: usize = 256 << 20;

/// A connection to one server, with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem (RFC 9457).
    #[error("{detail}{}", errors.iter().map(|e| format!("\n  {e}")).collect::<String>())]
    Problem {
        status: u16,
        /// The problem's kind: the end of its `type` (`not-found`, `refused`, ...).
        kind: String,
        detail: String,
        errors: Vec<String>,
    },
    /// No answer: the server is down, the address wrong, the connection cut.
    #[error("cannot reach the server at {base}: {why}")]
    Unreachable { base: String, why: String },
    /// An answer this client does not understand (another version of drctl?).
    #[error("the server at {base} answered {what} with something this drctl cannot read: {why}")]
    Unreadable {
        base: String,
        what: String,
        why: String,
    },
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// Whether the server refused what was asked (as opposed to being unreachable).
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An event of a followed stream and its store-wide cursor.
pub type Followed = (u64, EventView);

impl Client {
    /// A client of the server at `base` (`http://host:port` or `https://...`); with
    /// `ca`, a PEM file of the certificate authority (or self-signed certificate) the
    /// server's certificate is checked against, besides the system's.
    pub fn new(base: &str, token: &str, ca: Option<&std::path::Path>) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        let Some(authority) = rest else {
            return Err(ClientError::Config(format!(
                "the server's address must start with http:// or https://, not `{}`",
                base.chars().take(200).collect::<String>()
            )));
        };
        // Only scheme, host and port: a path, query or fragment would change every call,
        // and a password in it would be shown in errors.
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(ClientError::Config(
                "the server's address is a scheme, a host and a port (http://host:7420), with no user, path, query or fragment".into(),
            ));
        }
        if token.is_empty() {
            return Err(ClientError::Config(
                "no token: set DRCTL_TOKEN to a token of the server (`drctl token create`)".into(),
            ));
        }
        if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ClientError::Config(
                "DRCTL_TOKEN holds spaces or control characters: it is not a drctl token".into(),
            ));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        if let Some(path) = ca {
            let pem = std::fs::read(path).map_err(|e| {
                ClientError::Config(format!("DRCTL_CA_CERT {}: {e}", path.display()))
            })?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(ClientError::Config(format!(
                    "DRCTL_CA_CERT {}: holds no PEM certificate",
                    path.display()
                )));
            }
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                ClientError::Config(format!(
                    "DRCTL_CA_CERT {}: not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token: token.to_owned(),
        })
    }

    /// The server's address, as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn runs(&self, q: &RunQuery) -> Result<RunList, ClientError> {
        let mut query: Vec<(&str, String)> = vec![("limit", q.limit.clamp(1, 1000).to_string())];
        if let Some(s) = q.status {
            query.push(("status", s.as_str().to_owned()));
        }
        if let Some(r) = &q.runbook {
            query.push(("runbook", r.clone()));
        }
        if q.all {
            query.push(("all", "true".into()));
        }
        if let Some(d) = q.drill {
            query.push(("drill", d.to_string()));
        }
        if let Some(t) = q.since {
            query.push(("since", t.to_rfc3339()));
        }
        if let Some(after) = &q.after {
            query.push(("cursor", after.to_string()));
        }
        self.call(Method::GET, "/api/v1/runs", &query, None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    pub async fn run(&self, id: &str) -> Result<RunDetail, ClientError> {
        let path = format!("/api/v1/runs/{}", run_segment(id)?);
        self.call(Method::GET, &path, &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    pub async fn runbook(&self, name: &str) -> Result<RunbookDetail, ClientError> {
        let path = format!("/api/v1/runbooks/{}", name_segment(name)?);
        self.call(Method::GET, &path, &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    pub async fn start(&self, req: &StartRequest) -> Result<Started, ClientError> {
        self.call(Method::POST, "/api/v1/runs", &[], Some(req))
            .await
            .map(|(_, v)| v)
    }

    pub async fn cancel(&self, id: &str, reason: &str) -> Result<CommandResult, ClientError> {
        let path = format!("/api/v1/runs/{}/cancel", run_segment(id)?);
        let body = CancelRequest {
            reason: reason.to_owned(),
        };
        self.call(Method::POST, &path, &[], Some(&body))
            .await
            .map(|(_, v)| v)
    }

    pub async fn resume(&self, id: &str) -> Result<CommandResult, ClientError> {
        let path = format!("/api/v1/runs/{}/resume", run_segment(id)?);
        self.call(Method::POST, &path, &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    pub async fn step(
        &self,
        id: &str,
        step: &str,
        decision: DecisionArg,
        item: Option<u32>,
        output: Option<serde_json::Value>,
    ) -> Result<CommandResult, ClientError> {
        let path = format!(
            "/api/v1/runs/{}/steps/{}",
            run_segment(id)?,
            step_segment(step)?
        );
        let body = StepRequest {
            decision,
            item,
            output,
        };
        self.call(Method::POST, &path, &[], Some(&body))
            .await
            .map(|(_, v)| v)
    }

    pub async fn schedules(&self) -> Result<ScheduleList, ClientError> {
        self.call(Method::GET, "/api/v1/schedules", &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    /// Pauses, resumes or waives the schedule `id` (`RUNBOOK` or `RUNBOOK/NAME`).
    pub async fn change_schedule(
        &self,
        id: &str,
        change: &drctl_store::Change,
    ) -> Result<ScheduleView, ClientError> {
        let segment = whole(id, || format!("no schedule `{id}`"))?;
        let (what, body) = match change {
            drctl_store::Change::Pause { reason } => {
                ("pause", serde_json::json!({ "reason": reason }))
            }
            drctl_store::Change::Resume { reason } => {
                ("resume", serde_json::json!({ "reason": reason }))
            }
            drctl_store::Change::Waive { until, reason } => (
                "waive",
                serde_json::json!({ "until": until.to_rfc3339(), "reason": reason }),
            ),
        };
        // `/` cannot stand in a segment: the API reads `RUNBOOK:NAME` for it.
        let path = format!("/api/v1/schedules/{}/{what}", segment.replace("%2F", ":"));
        self.call(Method::POST, &path, &[], Some(&body))
            .await
            .map(|(_, v)| v)
    }

    /// Fires the schedule `id` now.
    pub async fn fire_schedule(&self, id: &str) -> Result<Started, ClientError> {
        let segment = whole(id, || format!("no schedule `{id}`"))?;
        let path = format!("/api/v1/schedules/{}/fire", segment.replace("%2F", ":"));
        self.call(Method::POST, &path, &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    /// The runs hooks proposed that wait for a person.
    pub async fn proposals(&self) -> Result<ProposalList, ClientError> {
        self.call(Method::GET, "/api/v1/proposals", &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    /// Confirms or rejects the proposal of run `id`, with a reason.
    pub async fn decide_proposal(
        &self,
        id: &str,
        decision: Decision,
        reason: &str,
    ) -> Result<ProposalView, ClientError> {
        let what = match decision {
            Decision::Confirm => "confirm",
            Decision::Reject => "reject",
        };
        let path = format!("/api/v1/proposals/{}/{what}", run_segment(id)?);
        let body = ChangeRequest {
            reason: reason.to_owned(),
        };
        self.call(Method::POST, &path, &[], Some(&body))
            .await
            .map(|(_, v)| v)
    }

    pub async fn approvals(&self) -> Result<Gates, ClientError> {
        self.call(Method::GET, "/api/v1/approvals", &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    pub async fn decide(
        &self,
        id: &str,
        step: &str,
        verdict: VerdictArg,
        comment: &str,
    ) -> Result<CommandResult, ClientError> {
        let path = format!(
            "/api/v1/runs/{}/approvals/{}",
            run_segment(id)?,
            step_segment(step)?
        );
        let body = DecideRequest {
            verdict,
            comment: comment.to_owned(),
        };
        self.call(Method::POST, &path, &[], Some(&body))
            .await
            .map(|(_, v)| v)
    }

    /// A run's report, as text in the format asked.
    pub async fn report(&self, id: &str, format: ReportFormat) -> Result<String, ClientError> {
        let path = format!("/api/v1/runs/{}/report", run_segment(id)?);
        self.text(&path, &[("format", format.as_str().to_owned())])
            .await
    }

    /// A runbook's trend over its last `last` finished runs.
    pub async fn trend(
        &self,
        runbook: &str,
        last: usize,
        format: ReportFormat,
    ) -> Result<String, ClientError> {
        let path = format!("/api/v1/runbooks/{}/trend", name_segment(runbook)?);
        let last = last.clamp(1, 1000).to_string();
        self.text(
            &path,
            &[("format", format.as_str().to_owned()), ("last", last)],
        )
        .await
    }

    /// The audit export, written to `out` as it arrives; `query` holds the filters
    /// (`since`, `until`, `runbook`, `actor`, `run`, `format`).
    pub async fn export(
        &self,
        query: &[(&str, String)],
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<(), ClientError> {
        let url = format!("{}/api/v1/audit/export", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(e))?;
            out.write_all(&chunk)
                .map_err(|e| ClientError::Config(format!("cannot write the export: {e}")))?;
        }
        out.flush()
            .map_err(|e| ClientError::Config(format!("cannot write the export: {e}")))
    }

    /// A text answer (a report), as it came.
    async fn text(&self, path: &str, query: &[(&str, String)]) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .query(query)
            .timeout(CALL)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        let bytes = self.limited(response, path).await?;
        String::from_utf8(bytes).map_err(|e| ClientError::Unreadable {
            base: self.base.clone(),
            what: path.to_owned(),
            why: e.to_string(),
        })
    }

    /// A run's events so far.
    pub async fn events(&self, id: &str) -> Result<Vec<EventView>, ClientError> {
        let path = format!("/api/v1/runs/{}/events", run_segment(id)?);
        self.call::<EventList>(Method::GET, &path, &[], None::<&()>)
            .await
            .map(|(_, v)| v.events)
    }

    /// Who the token is.
    pub async fn whoami(&self) -> Result<crate::api::whoami::Whoami, ClientError> {
        self.call::<crate::api::whoami::Whoami>(Method::GET, "/api/v1/whoami", &[], None::<&()>)
            .await
            .map(|(_, v)| v)
    }

    /// What a running step printed so far.
    pub async fn live(
        &self,
        id: &str,
        step: &str,
    ) -> Result<Vec<crate::api::live::LiveView>, ClientError> {
        let path = format!(
            "/api/v1/runs/{}/steps/{}/live",
            run_segment(id)?,
            step_segment(step)?
        );
        self.call::<crate::api::live::LiveList>(Method::GET, &path, &[], None::<&()>)
            .await
            .map(|(_, v)| v.attempts)
    }

    /// Events as they are stored, after `after`, for ever (or one run's): the server's
    /// keep-alive comments are skipped. The stream ends when the connection does; resume
    /// with the last cursor seen.
    pub async fn follow(
        &self,
        run: Option<&RunId>,
        after: u64,
    ) -> Result<impl Stream<Item = Result<Followed, ClientError>> + use<>, ClientError> {
        let mut query = vec![("after", after.to_string())];
        if let Some(r) = run {
            query.push(("run", r.to_string()));
        }
        let url = format!("{}/api/v1/events", self.base);
        // The stream has no end, but its answer's head must come within a call's time.
        let sent = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .query(&query)
            .header("accept", "text/event-stream")
            .send();
        let response = tokio::time::timeout(CALL, sent)
            .await
            .map_err(|_| ClientError::Unreachable {
                base: self.base.clone(),
                why: format!("no answer within {} s", CALL.as_secs()),
            })?
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        let base = self.base.clone();
        Ok(response.bytes_stream().eventsource().filter_map(move |e| {
            let base = base.clone();
            async move {
                let e = match e {
                    Ok(e) => e,
                    Err(why) => {
                        return Some(Err(ClientError::Unreachable {
                            base,
                            why: why.to_string(),
                        }));
                    }
                };
                if e.event == "error" {
                    return Some(Err(ClientError::Problem {
                        status: 503,
                        kind: "unavailable".into(),
                        detail: e.data,
                        errors: Vec::new(),
                    }));
                }
                let unreadable = |why: String| ClientError::Unreadable {
                    base: base.clone(),
                    what: "an event".into(),
                    why,
                };
                let cursor = match e.id.parse::<u64>() {
                    Ok(c) => c,
                    Err(_) => return Some(Err(unreadable(format!("cursor `{}`", e.id)))),
                };
                Some(
                    serde_json::from_str::<EventView>(&e.data)
                        .map(|v| (cursor, v))
                        .map_err(|why| unreadable(why.to_string())),
                )
            }
        }))
    }

    /// One call: the answer's status and body, or the problem the server answered.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<(StatusCode, T), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .timeout(CALL);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        let status = response.status();
        let bytes = self.limited(response, path).await?;
        serde_json::from_slice(&bytes)
            .map(|v| (status, v))
            .map_err(|e| ClientError::Unreadable {
                base: self.base.clone(),
                what: path.to_owned(),
                why: e.to_string(),
            })
    }

    /// A whole answer, at most [`MAX_ANSWER`] bytes: a broken server (or a proxy) that
    /// sends without end must not take this process's memory.
    async fn limited(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let mut body = response.bytes_stream();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(e))?;
            if out.len() + chunk.len() > MAX_ANSWER {
                return Err(ClientError::Unreadable {
                    base: self.base.clone(),
                    what: what.to_owned(),
                    why: format!("an answer over {} MiB", MAX_ANSWER >> 20),
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The response when it is a success, else its problem.
    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = self.limited(response, "an error").await.unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "type", default)]
            kind: String,
            #[serde(default)]
            detail: String,
            #[serde(default)]
            errors: Vec<String>,
        }
        // Not a problem of drctl's (a proxy's page, say): its status, and its first words.
        let answer: Answer = serde_json::from_slice(&bytes).unwrap_or_else(|_| Answer {
            kind: String::new(),
            detail: format!(
                "the server answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
            ),
            errors: Vec::new(),
        });
        let detail = if answer.detail.is_empty() {
            format!("the server answered {status}")
        } else {
            answer.detail
        };
        Err(ClientError::Problem {
            status: status.as_u16(),
            kind: answer
                .kind
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_owned(),
            detail,
            errors: answer.errors,
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        // The transport's error, without the URL (which has no secret, but says twice
        // what `base` says) and with its causes.
        let e = e.without_url();
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why.push_str(": ");
            why.push_str(&s.to_string());
            source = s.source();
        }
        ClientError::Unreachable {
            base: self.base.clone(),
            why,
        }
    }
}

/// A run id as a path segment; `""`, `.` and `..` are no run (and a URL would drop
/// them, calling another operation), answered here as the server would.
fn run_segment(id: &str) -> Result<String, ClientError> {
    whole(id, || format!("no run `{id}`"))
}

fn step_segment(step: &str) -> Result<String, ClientError> {
    whole(step, || format!("the run has no step `{step}`"))
}

fn name_segment(name: &str) -> Result<String, ClientError> {
    whole(name, || format!("no runbook named `{name}`"))
}

fn whole(text: &str, missing: impl FnOnce() -> String) -> Result<String, ClientError> {
    if matches!(text, "" | "." | "..") {
        return Err(ClientError::Problem {
            status: 404,
            kind: "not-found".into(),
            detail: missing(),
            errors: Vec::new(),
        });
    }
    Ok(segment(text))
}

/// One path segment, percent-encoded: a run id or step typed by a person may hold
/// anything, and must not change which operation is called.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn a_segment_cannot_reach_another_operation() {
        assert_eq!(segment("run_01"), "run_01");
        assert_eq!(segment("../approvals"), "..%2Fapprovals");
        assert_eq!(segment("a b?c#d"), "a%20b%3Fc%23d");
        for dots in ["", ".", ".."] {
            assert!(super::run_segment(dots).is_err(), "{dots:?}");
        }
    }
}
