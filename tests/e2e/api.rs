//! The HTTP API of `drctl serve`, through the real binary: tokens made with `drctl token
//! create`; a run started through the API and its approval gate decided by another
//! identity while the starter's own token is refused (four-eyes); 401, 403, 404, 413
//! and 422 answered as problem JSON; the run finishes with the approver's name in its log.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{config_file, drctl_in, finish, os_user, wait_for_text};

const GATE: &str = r#"runbook: gated
params:
  region: { type: string, default: eu-west-1 }
steps:
  - { id: check, action: log, with: { message: "checking {{ params.region }}" } }
  - id: gate
    needs: [check]
    approval:
      message: "Fail over?"
      approvers: [group:sre]
  - { id: promote, needs: [gate], action: log, with: { message: promoted } }
"#;

/// A token made by `drctl token create`, and its `[[serve.token]]` entry.
pub(crate) fn token(name: &str, role: &str, identity: &str) -> (String, String) {
    let (code, out) = finish(Command::new(env!("CARGO_BIN_EXE_drctl")).args([
        "token",
        "create",
        name,
        "--role",
        role,
        "--identity",
        identity,
    ]));
    assert_eq!(code, 0, "{out}");
    let token = out.lines().next().unwrap().to_owned();
    assert!(token.starts_with("drctl_") && token.len() > 60, "{out}");
    let entry = out[out.find("[[serve.token]]").unwrap()..].to_owned();
    assert!(
        !entry.contains(&token),
        "the entry holds the token itself:\n{entry}"
    );
    (token, entry)
}

pub(crate) struct Http {
    pub(crate) addr: SocketAddr,
}

/// One response: status, content type, body as JSON (or `null`).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

impl Http {
    /// A request over a fresh connection (HTTP/1.1, `Connection: close`).
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Answer {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A server may answer (413) before reading a large body, and close.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        Answer {
            status,
            content_type,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        }
    }

    fn json(&self, method: &str, path: &str, token: &str, body: &Value) -> Answer {
        self.call(method, path, Some(token), Some(body.to_string().as_bytes()))
    }
}

/// Server-sent events read from `path` until one of kind `until` arrives: each event's
/// id and kind. HTTP/1.0, so that the body is not chunked.
fn follow(
    http: &Http,
    path: &str,
    token: &str,
    last_id: Option<u64>,
    until: &str,
) -> Vec<(u64, String)> {
    let mut s = TcpStream::connect(http.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut head = format!(
        "GET {path} HTTP/1.0\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
    );
    if let Some(id) = last_id {
        head.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        let events: Vec<(u64, String)> = text
            .split("\n\n")
            .filter_map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(str::to_owned))
                };
                Some((field("id: ")?.parse().ok()?, field("event: ")?))
            })
            .collect();
        if events.iter().any(|(_, k)| k == until) {
            assert!(text.contains("content-type: text/event-stream"), "{text}");
            return events;
        }
        assert!(Instant::now() < deadline, "no `{until}` in:\n{text}");
        match s.read(&mut buf) {
            Ok(0) => panic!("the stream ended:\n{text}"),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// `/metrics`, which needs no token.
fn metrics(http: &Http) -> String {
    let mut s = TcpStream::connect(http.addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    text
}

/// A problem answer: the status, `application/problem+json`, and its `type`.
fn problem(a: &Answer, status: u16, kind: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(a.content_type, "application/problem+json", "{a:?}");
    assert_eq!(a.body["type"], format!("urn:drctl:problem:{kind}"), "{a:?}");
    assert_eq!(a.body["status"], status, "{a:?}");
}

pub(crate) fn serve(dir: &Path, config: &Path) -> (Child, Http) {
    serve_with(dir, config, &[])
}

/// `serve` with these environment variables set for the server.
pub(crate) fn serve_with(dir: &Path, config: &Path, envs: &[(&str, &str)]) -> (Child, Http) {
    serve_args(dir, config, envs, &[])
}

/// `serve` with these environment variables and extra arguments (`--tls-cert ...`); the
/// address it listens on, whether over http or https.
pub(crate) fn serve_args(
    dir: &Path,
    config: &Path,
    envs: &[(&str, &str)],
    args: &[&str],
) -> (Child, Http) {
    let out = std::fs::File::create(dir.join("serve.out")).unwrap();
    let child = drctl_in(dir, &os_user())
        .env("DRCTL_CONFIG", config)
        .envs(envs.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let text = wait_for_text(&dir.join("serve.out"), &["API on http", "error"]);
    let addr = text
        .split("API on ")
        .nth(1)
        .and_then(|t| t.split("://").nth(1))
        .and_then(|t| t.split([',', ' ']).next())
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap();
    (child, Http { addr })
}

#[test]
fn a_run_started_and_approved_through_the_api_with_every_refusal_as_problem_json() {
    let dir: PathBuf = std::env::temp_dir().join(format!("drctl-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    std::fs::write(dir.join("runbooks/gated.yaml"), GATE).unwrap();
    let (alice, a) = token("alice-ops", "admin", "alice");
    let (bob, b) = token("bob-approver", "approver", "bob");
    let (carol, c) = token("carol-viewer", "viewer", "carol");
    let config = config_file(
        "api",
        &format!(
            "[groups]\nsre = [\"alice\", \"bob\"]\n\n[serve]\nrunbooks = {:?}\n\n{a}\n{b}\n{c}",
            dir.join("runbooks")
        ),
    );
    let (mut server, http) = serve(&dir, &config);

    // No token needed for health; every other endpoint needs one.
    assert_eq!(http.call("GET", "/healthz", None, None).status, 200);
    assert_eq!(http.call("GET", "/readyz", None, None).status, 200);
    problem(
        &http.call("GET", "/api/v1/runs", None, None),
        401,
        "unauthorized",
    );
    problem(
        &http.call("GET", "/api/v1/runs", Some("drctl_wrong"), None),
        401,
        "unauthorized",
    );
    // A viewer reads but does not start.
    assert_eq!(
        http.call("GET", "/api/v1/runs", Some(&carol), None).status,
        200
    );
    let start = json!({ "runbook": "gated" });
    problem(
        &http.json("POST", "/api/v1/runs", &carol, &start),
        403,
        "forbidden",
    );
    problem(
        &http.call("GET", "/api/v1/runs/run_01JD3NOSUCHRUN", Some(&carol), None),
        404,
        "not-found",
    );
    problem(
        &http.call("GET", "/api/v1/nothing", Some(&carol), None),
        404,
        "not-found",
    );
    // Bodies: too large, unknown fields (with which), params that do not fit, no such runbook.
    let big = vec![b' '; (1 << 20) + 10];
    problem(
        &http.call("POST", "/api/v1/runs", Some(&alice), Some(&big)),
        413,
        "too-large",
    );
    let a1 = http.json(
        "POST",
        "/api/v1/runs",
        &alice,
        &json!({ "runbook": "gated", "paramz": {} }),
    );
    problem(&a1, 422, "invalid");
    assert!(
        a1.body["detail"].as_str().unwrap().contains("paramz"),
        "{a1:?}"
    );
    let a2 = http.json(
        "POST",
        "/api/v1/runs",
        &alice,
        &json!({ "runbook": "gated", "params": { "region": 3, "zone": "x" } }),
    );
    problem(&a2, 422, "invalid");
    assert_eq!(a2.body["errors"].as_array().unwrap().len(), 2, "{a2:?}");
    problem(
        &http.json(
            "POST",
            "/api/v1/runs",
            &alice,
            &json!({ "runbook": "nope" }),
        ),
        404,
        "not-found",
    );
    problem(
        &http.call("POST", "/api/v1/runs", Some(&alice), Some(b"{not json")),
        400,
        "malformed",
    );
    // What the server may start.
    let books = http.call("GET", "/api/v1/runbooks", Some(&carol), None);
    assert_eq!(books.body["runbooks"][0]["name"], "gated", "{books:?}");
    assert_eq!(books.body["runbooks"][0]["valid"], true, "{books:?}");
    assert_eq!(
        books.body["runbooks"][0]["params"],
        json!(["region"]),
        "{books:?}"
    );
    let book = http.call("GET", "/api/v1/runbooks/gated", Some(&carol), None);
    assert_eq!(book.body["text"], GATE, "{book:?}");
    problem(
        &http.call("GET", "/api/v1/runbooks/nope", Some(&carol), None),
        404,
        "not-found",
    );
    // Without a known token, a body is not even read: 401, whatever it holds.
    problem(
        &http.call("POST", "/api/v1/runs", Some("drctl_wrong"), Some(&big)),
        401,
        "unauthorized",
    );
    problem(
        &http.call("POST", "/api/v1/runs", None, Some(b"{")),
        401,
        "unauthorized",
    );
    // The scheme is case-insensitive; an id no run could have is simply not found; a
    // status that is none is refused.
    let mut s = TcpStream::connect(http.addr).unwrap();
    s.write_all(
        format!("GET /api/v1/runs HTTP/1.0\r\nAuthorization: bearer {carol}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    let long = format!("/api/v1/runs/{}", "a".repeat(60_000));
    problem(
        &http.call("GET", &long, Some(&carol), None),
        404,
        "not-found",
    );
    problem(
        &http.call("GET", "/api/v1/runs?status=weird", Some(&carol), None),
        422,
        "invalid",
    );
    // Two files that say they are the same runbook: refused, never one picked by name.
    std::fs::write(
        dir.join("runbooks/a-copy.yaml"),
        GATE.replace("promoted", "the copy"),
    )
    .unwrap();
    let twice = http.json(
        "POST",
        "/api/v1/runs",
        &alice,
        &json!({ "runbook": "gated" }),
    );
    problem(&twice, 409, "refused");
    assert!(
        twice.body["detail"]
            .as_str()
            .unwrap()
            .contains("a-copy.yaml"),
        "{twice:?}"
    );
    std::fs::remove_file(dir.join("runbooks/a-copy.yaml")).unwrap();
    // A runbook that calls a file outside the folder: refused (whoever can write that
    // file would decide what the API runs).
    std::fs::write(
        dir.join("outside.yaml"),
        "runbook: outside\nsteps:\n  - { id: a, action: log, with: { message: hi } }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("runbooks/caller.yaml"),
        "runbook: caller\nsteps:\n  - { id: c, call: { runbook: ../outside.yaml } }\n",
    )
    .unwrap();
    let out = http.json(
        "POST",
        "/api/v1/runs",
        &alice,
        &json!({ "runbook": "caller" }),
    );
    problem(&out, 409, "refused");
    assert!(
        out.body["detail"]
            .as_str()
            .unwrap()
            .contains("outside.yaml"),
        "{out:?}"
    );
    std::fs::remove_file(dir.join("runbooks/caller.yaml")).unwrap();
    // Nothing above created a run.
    let listed = http.call("GET", "/api/v1/runs", Some(&carol), None);
    assert_eq!(
        listed.body["runs"].as_array().unwrap().len(),
        0,
        "{listed:?}"
    );

    // Alice starts it.
    let started = http.json(
        "POST",
        "/api/v1/runs",
        &alice,
        &json!({ "runbook": "gated", "params": { "region": "eu-central-1" } }),
    );
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["id"].as_str().unwrap().to_owned();
    // The gate waits; bob may decide, alice (who started the run) may not.
    let deadline = Instant::now() + Duration::from_secs(30);
    let gates = loop {
        let g = http.call("GET", "/api/v1/approvals", Some(&bob), None);
        if g.body["approvals"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break g;
        }
        assert!(Instant::now() < deadline, "no gate: {g:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(gates.body["approvals"][0]["run"], id.as_str(), "{gates:?}");
    assert_eq!(gates.body["approvals"][0]["may_decide"], true, "{gates:?}");
    let scrape = metrics(&http);
    assert!(scrape.contains("drctl_approvals_waiting 1\n"), "{scrape}");
    let mine = http.call("GET", "/api/v1/approvals", Some(&alice), None);
    assert_eq!(mine.body["approvals"][0]["may_decide"], false, "{mine:?}");
    let path = format!("/api/v1/runs/{id}/approvals/gate");
    let decide = json!({ "verdict": "approve", "comment": "looks right" });
    let refused = http.json("POST", &path, &alice, &decide);
    problem(&refused, 403, "not-allowed");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("four-eyes"),
        "{refused:?}"
    );
    // A viewer's role is too low to decide at all.
    problem(&http.json("POST", &path, &carol, &decide), 403, "forbidden");
    let approved = http.json("POST", &path, &bob, &decide);
    assert!(matches!(approved.status, 200 | 202), "{approved:?}");
    // Its events, live, until it finishes; then again from the third event on.
    let stream = format!("/api/v1/events?run={id}");
    let events = follow(&http, &stream, &carol, None, "run_finished");
    assert_eq!(events[0].1, "run_created", "{events:?}");
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "{events:?}");
    let again = follow(&http, &stream, &carol, Some(events[2].0), "run_finished");
    assert_eq!(again, events[3..], "resumed after the third event");
    let log = http.call(
        "GET",
        &format!("/api/v1/runs/{id}/events"),
        Some(&carol),
        None,
    );
    assert_eq!(
        log.body["events"].as_array().unwrap().len(),
        events.len(),
        "{log:?}"
    );
    // The run ends; bob is the actor of the approval in its log.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = http.call("GET", &format!("/api/v1/runs/{id}"), Some(&carol), None);
        if shown.body["run"]["status"] == "succeeded" {
            assert_eq!(shown.body["run"]["actor"], "alice", "{shown:?}");
            assert_eq!(
                shown.body["steps"].as_array().unwrap().len(),
                3,
                "{shown:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not finished: {shown:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, log) = finish(
        drctl_in(&dir, &os_user())
            .env("DRCTL_CONFIG", &config)
            .args(["logs", &id]),
    );
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("bob") && log.contains("looks right"), "{log}");
    let scrape = metrics(&http);
    for line in [
        "drctl_runs{status=\"succeeded\"} 1\n",
        "drctl_runs_started_total{trigger=\"api\"} 1\n",
        "drctl_attempt_duration_seconds_count{action=\"log\",phase=\"action\",result=\"succeeded\"} 2\n",
        "drctl_approvals_waiting 0\n",
        "drctl_drives_ended_total{how=\"succeeded\"} 1\n",
    ] {
        assert!(scrape.contains(line), "no {line} in:\n{scrape}");
    }
    assert!(
        scrape.contains("process_resident_memory_bytes "),
        "{scrape}"
    );
    // The run's appends were timed: at least one per event batch of its drive.
    let appends: u64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("drctl_store_append_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drctl_store_append_seconds in:\n{scrape}"));
    assert!(appends >= 3, "{appends} appends timed");
    // A step that does not exist: 404; the run is over: 409 for a step decision, and a
    // cancel (no body needed) is refused as well.
    problem(
        &http.json(
            "POST",
            &format!("/api/v1/runs/{id}/approvals/nope"),
            &bob,
            &decide,
        ),
        404,
        "not-found",
    );
    problem(
        &http.json(
            "POST",
            &format!("/api/v1/runs/{id}/steps/check"),
            &alice,
            &json!({ "decision": "retry" }),
        ),
        409,
        "refused",
    );
    problem(
        &http.call(
            "POST",
            &format!("/api/v1/runs/{id}/cancel"),
            Some(&alice),
            None,
        ),
        409,
        "refused",
    );
    // Deciding again: the gate no longer waits.
    problem(&http.json("POST", &path, &bob, &decide), 403, "not-allowed");

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    // No token reached the server's output.
    let out = std::fs::read_to_string(dir.join("serve.out")).unwrap();
    for t in [&alice, &bob, &carol] {
        assert!(!out.contains(t.as_str()), "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run paused on a step nobody can vouch for (a server killed during a plain `exec`):
/// resuming is refused until the step is decided; decided and resumed through the API,
/// the run finishes without running the step again.
#[test]
fn an_interrupted_step_is_decided_and_the_run_resumed_through_the_api() {
    let dir: PathBuf = std::env::temp_dir().join(format!("drctl-api-step-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    std::fs::write(
        dir.join("runbooks/blind.yaml"),
        "runbook: blind\nsteps:\n  - id: mark\n    action: exec\n    with: { argv: [sh, -c, 'echo mark >> effects; sleep 1'] }\n  - { id: after, needs: [mark], action: log, with: { message: done } }\n",
    )
    .unwrap();
    let (ops, entry) = token("ops", "operator", "alice");
    let config = config_file(
        "api-step",
        &format!("[serve]\nrunbooks = {:?}\n\n{entry}", dir.join("runbooks")),
    );
    let (mut first, http) = serve(&dir, &config);
    let started = http.json("POST", "/api/v1/runs", &ops, &json!({ "runbook": "blind" }));
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    while !std::fs::read_to_string(dir.join("effects"))
        .unwrap_or_default()
        .contains("mark")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the step never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    std::fs::remove_file(dir.join("serve.out")).unwrap();
    let (mut second, http) = serve(&dir, &config);
    let run = format!("/api/v1/runs/{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = http.call("GET", &run, Some(&ops), None);
        if shown.body["run"]["status"] == "paused" {
            break;
        }
        assert!(Instant::now() < deadline, "not paused: {shown:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = http.call("POST", &format!("{run}/resume"), Some(&ops), None);
    problem(&refused, 409, "refused");
    assert!(
        refused.body["detail"].as_str().unwrap().contains("mark"),
        "{refused:?}"
    );
    let skip = json!({ "decision": "skip", "output": { "checked": "by hand" } });
    let decided = http.json("POST", &format!("{run}/steps/mark"), &ops, &skip);
    assert!(matches!(decided.status, 200 | 202), "{decided:?}");
    let resumed = http.call("POST", &format!("{run}/resume"), Some(&ops), None);
    assert_eq!(resumed.status, 202, "{resumed:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = http.call("GET", &run, Some(&ops), None);
        if shown.body["run"]["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "not finished: {shown:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("effects")).unwrap(),
        "mark\n",
        "`mark` ran once"
    );
    // The resume is the caller's, not the server's OS user's.
    let events = http.call("GET", &format!("{run}/events"), Some(&ops), None);
    let resumed: Vec<&Value> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "resumed")
        .collect();
    assert!(
        !resumed.is_empty() && resumed.iter().all(|e| e["actor"] == "alice"),
        "{resumed:?}"
    );
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(second.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clients_that_connect_and_say_nothing_are_closed_and_do_not_block_others() {
    let dir: PathBuf = std::env::temp_dir().join(format!("drctl-api-idle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = config_file("api-idle", "[serve]\n");
    let (mut server, http) = serve(&dir, &config);
    // Idle connections, and one that sends half a request head and stops.
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(http.addr).unwrap())
        .collect();
    let mut slow = TcpStream::connect(http.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let asked = Instant::now();
    assert_eq!(http.call("GET", "/healthz", None, None).status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    // The half-sent head is cut off after the server's 10 s.
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(20),
        "closed after {waited:?}"
    );
    drop(idle);
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}
