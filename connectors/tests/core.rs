//! The core actions against real processes and a real (local) HTTP server.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/call.rs"]
mod call;

use call::{ctx, run};
use drctl_connectors::Registry;
use drctl_core::{ActionError, ActionRegistry, Observed, StepId};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn exec_captures_output_and_checks_the_exit_code() {
    let out = run(
        "exec",
        json!({"argv": ["sh", "-c", "echo out; echo err >&2; exit 3"], "exit_codes": [3]}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"exit_code": 3, "stdout": "out\n", "stderr": "err\n", "truncated": false})
    );
    let err = run(
        "exec",
        json!({"argv": ["sh", "-c", "echo boom >&2; exit 2"]}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ActionError::Retryable("exited with code 2; stderr: boom".into())
    );
    let missing = run("exec", json!({"argv": ["/no/such/program"]}))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, ActionError::Permanent(m) if m.contains("cannot run `/no/such/program`"))
    );
}

#[tokio::test]
async fn exec_takes_stdin_env_cwd_and_never_a_shell_string() {
    let out = run(
        "exec",
        json!({"argv": ["sh", "-c", "read x; echo \"$x $GREETING $(pwd)\""], "stdin": "hello\n", "env": {"GREETING": "world"}, "cwd": "/tmp"}),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], "hello world /tmp\n");
    // A rendered value with shell syntax is one argument, not code.
    let out = run("exec", json!({"argv": ["echo", "a; rm -rf / #"]}))
        .await
        .unwrap();
    assert_eq!(out["stdout"], "a; rm -rf / #\n");
}

#[tokio::test]
async fn exec_gives_a_minimal_environment_and_only_what_the_step_passes() {
    // Cargo sets CARGO_MANIFEST_DIR in the environment of tests: it stands for any
    // variable of drctl's own (a secret's source, a cloud credential).
    let outer = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let names = |out: &serde_json::Value| -> Vec<String> {
        out["stdout"]
            .as_str()
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
            .collect()
    };
    let out = run("exec", json!({"argv": ["env"], "env": {"GREETING": "hi"}}))
        .await
        .unwrap();
    let allowed = [
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "GREETING",
        "DRCTL_ATTEMPT",
    ];
    for name in names(&out) {
        assert!(
            allowed.contains(&name.as_str()) || name.starts_with("LC_"),
            "{name} reached the program: {}",
            out["stdout"]
        );
    }
    assert!(names(&out).contains(&"GREETING".to_owned()));
    let out = run(
        "exec",
        json!({"argv": ["env"], "inherit_env": ["CARGO_MANIFEST_DIR"]}),
    )
    .await
    .unwrap();
    assert!(
        out["stdout"]
            .as_str()
            .unwrap()
            .contains(&format!("CARGO_MANIFEST_DIR={outer}")),
        "{out}"
    );
}

#[tokio::test]
async fn exec_parses_json_and_truncates_long_output() {
    let out = run(
        "exec",
        json!({"argv": ["echo", "{\"lag\": 3}"], "output": "json"}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"lag": 3}));
    let bad = run("exec", json!({"argv": ["echo", "nope"], "output": "json"}))
        .await
        .unwrap_err();
    assert!(matches!(bad, ActionError::Permanent(m) if m.contains("not JSON")));
    let out = run(
        "exec",
        json!({"argv": ["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"], "max_output": 10}),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["stdout"].as_str().unwrap().len(), &out["truncated"]),
        (10, &json!(true))
    );
}

#[tokio::test]
async fn exec_stops_its_process_when_cancelled_or_timed_out() {
    let pidfile = std::env::temp_dir().join(format!("drctl-exec-pid-{}", std::process::id()));
    let action = Registry::builtin().action("exec").unwrap();
    let c = ctx();
    let cancel = c.cancel.clone();
    // The shell's child is in the command's process group: it stops with it.
    let input =
        json!({"argv": ["sh", "-c", format!("sleep 30 & echo $! > {}; wait", pidfile.display())]});
    let started = Instant::now();
    let task = tokio::spawn(async move { action.run(&c, input).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    assert_eq!(task.await.unwrap(), Err(ActionError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(gone(pid.trim()).await, "the shell's child is gone");
    let timed = run("exec", json!({"argv": ["sleep", "30"], "timeout": "200ms"}))
        .await
        .unwrap_err();
    assert!(
        matches!(timed, ActionError::Permanent(m) if m.contains("did not finish within 200ms"))
    );
    let _ = std::fs::remove_file(pidfile);
}

/// Whether a process has exited (or is a zombie waiting for init), within two seconds.
async fn gone(pid: &str) -> bool {
    for _ in 0..20 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.contains(") Z") => return true,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    false
}

#[tokio::test]
async fn exec_reconciles_only_with_a_check() {
    let action = Registry::builtin().action("exec").unwrap();
    let ask = |code: i32| json!({"argv": ["false"], "reconcile": {"argv": ["sh", "-c", format!("exit {code}")]}});
    assert!(matches!(
        action.reconcile(&ctx(), ask(0)).await.unwrap(),
        Observed::Done(_)
    ));
    assert_eq!(
        action.reconcile(&ctx(), ask(1)).await.unwrap(),
        Observed::NotDone
    );
    assert!(matches!(
        action.reconcile(&ctx(), ask(7)).await.unwrap(),
        Observed::Unknown(_)
    ));
    assert!(matches!(
        action
            .reconcile(&ctx(), json!({"argv": ["true"]}))
            .await
            .unwrap(),
        Observed::Unknown(_)
    ));
}

/// A local HTTP server answering with the scripted statuses, one per request (the last
/// one repeats), and counting requests.
struct Server {
    url: String,
    hits: Arc<Mutex<u32>>,
}

async fn server(statuses: &[u16]) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let script = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<u16>>(),
    ));
    let hits = Arc::new(Mutex::new(0u32));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let status = {
                let mut s = script.lock().unwrap();
                if s.len() > 1 {
                    s.pop_front().unwrap()
                } else {
                    s[0]
                }
            };
            *counter.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let body = format!("{{\"status\":{status}}}");
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    Server { url, hits }
}

#[tokio::test]
async fn http_request_classes_failures_for_retries() {
    let ok = server(&[200]).await;
    let out = run("http.request", json!({"url": ok.url})).await.unwrap();
    assert_eq!(out, json!({"status": 200, "body": {"status": 200}}));
    let busy = server(&[503]).await;
    assert!(
        matches!(run("http.request", json!({"url": busy.url})).await, Err(ActionError::Retryable(m)) if m.starts_with("HTTP 503"))
    );
    let missing = server(&[404]).await;
    assert!(matches!(
        run("http.request", json!({"url": missing.url})).await,
        Err(ActionError::Permanent(_))
    ));
    assert!(
        run(
            "http.request",
            json!({"url": missing.url, "expect_status": [404]})
        )
        .await
        .is_ok()
    );
    // Nobody listens: retryable.
    let closed = run(
        "http.request",
        json!({"url": "http://127.0.0.1:9/x", "timeout": "2s"}),
    )
    .await;
    assert!(
        matches!(closed, Err(ActionError::Retryable(_))),
        "{closed:?}"
    );
}

#[tokio::test]
async fn http_check_confirms_an_outage_after_consecutive_failures() {
    // Healthy, then down: a blip does not count; three failures in a row do.
    let s = server(&[200, 503, 200, 503, 503, 503]).await;
    let out = run(
        "http.check",
        json!({"url": s.url, "consecutive_failures": 3, "interval": "10ms"}),
    )
    .await
    .unwrap();
    assert_eq!(out["probes"], 6);
    assert_eq!(out["unhealthy"], 4);
    assert_eq!(*s.hits.lock().unwrap(), 6);
}

/// A plan probes once (GET only) and says what it saw; a POST check is not probed.
#[tokio::test]
async fn http_check_plans_with_one_probe_and_never_posts() {
    let check = Registry::builtin().action("http.check").unwrap();
    let s = server(&[503, 200]).await;
    let input = json!({"url": s.url, "consecutive_failures": 3});
    let p = check.plan(&ctx(), input.clone()).await.unwrap().unwrap();
    assert_eq!(p.summary, "one probe now: unhealthy (status 503)");
    let p = check.plan(&ctx(), input).await.unwrap().unwrap();
    assert_eq!(p.summary, "one probe now: healthy (status 200)");
    let p = check
        .plan(&ctx(), json!({"url": s.url, "expect_body": "ready"}))
        .await
        .unwrap()
        .unwrap();
    assert!(
        p.summary.contains("the body must contain `ready`"),
        "{}",
        p.summary
    );
    let posted = check
        .plan(&ctx(), json!({"url": s.url, "method": "POST"}))
        .await
        .unwrap();
    assert!(posted.is_none());
    assert_eq!(*s.hits.lock().unwrap(), 3, "three GETs, no POST");
}

#[tokio::test]
async fn http_check_waits_for_consecutive_successes_within_its_deadline() {
    let s = server(&[503, 200, 200]).await;
    let out = run(
        "http.check",
        json!({"url": s.url, "consecutive_successes": 2, "interval": "10ms"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["probes"].as_u64(), out["healthy"].as_u64()),
        (Some(3), Some(2))
    );
    let down = server(&[503]).await;
    let err = run(
        "http.check",
        json!({"url": down.url, "interval": "10ms", "deadline": "100ms"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ActionError::Permanent(m) if m.contains("no 1 healthy answers in a row before the deadline"))
    );
}

#[tokio::test]
async fn http_check_measures_the_error_rate_over_its_window() {
    // 1 error in 10 probes is 10%: above 5%, below 20%.
    let statuses = [200, 200, 200, 503, 200, 200, 200, 200, 200, 200];
    let s = server(&statuses).await;
    let err = run(
        "http.check",
        json!({"url": s.url, "max_error_rate": 0.05, "window": "95ms", "interval": "10ms"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ActionError::Permanent(m) if m.contains("above 5.0%")),
        "{err:?}"
    );
    let s = server(&statuses).await;
    let out = run(
        "http.check",
        json!({"url": s.url, "max_error_rate": 0.2, "window": "95ms", "interval": "10ms"}),
    )
    .await
    .unwrap();
    assert!(out["error_rate"].as_f64().unwrap() <= 0.2);
}

#[tokio::test]
async fn assert_and_log() {
    assert!(run("assert", json!({"that": true})).await.is_ok());
    for falsy in [
        json!(false),
        json!("false"),
        json!(0),
        json!(""),
        json!(null),
    ] {
        assert!(
            run("assert", json!({"that": falsy})).await.is_err(),
            "{falsy}"
        );
    }
    let err = run("assert", json!({"that": false, "message": "lag too high"}))
        .await
        .unwrap_err();
    assert_eq!(err, ActionError::Permanent("lag too high".into()));
    assert_eq!(
        run("log", json!({"message": "hi"})).await.unwrap(),
        json!({"level": "info", "message": "hi"})
    );
}

#[tokio::test]
async fn exec_waits_for_the_process_of_an_interrupted_attempt() {
    // Attempt 1 is still at work, as the process of a killed drctl would be; a restarted
    // drctl reconciles it meanwhile. Breadcrumbs are keyed by run and step: this test's
    // step is its own, so the other tests' processes are not mistaken for its orphan.
    let dir = std::env::temp_dir().join(format!("drctl-orphan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("effect");
    let action = Registry::builtin().action("exec").unwrap();
    let mut first = ctx();
    first.step = StepId::new("orphan").unwrap();
    let input =
        json!({"argv": ["sh", "-c", format!("sleep 0.6; echo done >> {}", marker.display())]});
    let task = tokio::spawn({
        let (action, input, first) = (action.clone(), input.clone(), first.clone());
        async move { action.run(&first, input).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The breadcrumb of attempt 1 names its live process; the check waits for it.
    let second = first.clone();
    let check = json!({"argv": ["true"], "reconcile": {"argv": ["test", "-s", marker.display().to_string()]}});
    let started = Instant::now();
    let seen = action.reconcile(&second, check).await.unwrap();
    assert!(
        matches!(seen, Observed::Done(_)),
        "the check ran after the effect landed: {seen:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    task.await.unwrap().unwrap();
    // A new attempt waits the same way, so two attempts never run side by side.
    let mut third = first.clone();
    third.attempt = 2;
    let task = tokio::spawn({
        let (action, input, first) = (action.clone(), input.clone(), first.clone());
        async move { action.run(&first, input).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    action.run(&third, json!({"argv": ["true"]})).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
