//! A fake of `scripts/fakes/` (GCP's APIs, a Kubernetes API server) for one test: started
//! on a free port, killed when dropped, and steered through its `/_fake/` controls.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The bearer token the fake accepts.
pub const TOKEN: &str = "drctl-fake-token";

/// A fake of this test; killed when dropped.
pub struct Fake {
    child: Child,
    pub url: String,
}

impl Fake {
    /// Starts `scripts/fakes/SCRIPT`; an operation is done after `polls` reads.
    pub fn start(script: &str, polls: u32, more: &[&str]) -> Fake {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("scripts/fakes").join(script))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("scripts/fakes/{script} above the crate"));
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                "--port",
                "0",
                "--token",
                TOKEN,
                "--polls",
                &polls.to_string(),
            ])
            .args(more)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 on PATH");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the fake said {line:?}"))
            .to_owned();
        Fake { child, url }
    }

    /// One call to a control (`/_fake/…`); its JSON answer.
    pub fn control(&self, method: &str, path: &str, body: &Value) -> Value {
        let addr = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        let body = body.to_string();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        serde_json::from_str(body).unwrap()
    }

    /// The next `times` calls whose path contains `path` answer `status`.
    pub fn fail(&self, method: &str, path: &str, status: u16, times: u32) {
        self.control(
            "POST",
            "/_fake/fail",
            &json!({ "method": method, "path": path, "status": status, "times": times,
                     "retry_after": "7" }),
        );
    }

    /// The next call whose path contains `path` is done, then left unanswered.
    pub fn drop_answer(&self, method: &str, path: &str) {
        self.control(
            "POST",
            "/_fake/drop",
            &json!({ "method": method, "path": path, "times": 1 }),
        );
    }

    pub fn polls(&self, polls: u32) {
        self.control("POST", "/_fake/polls", &json!({ "polls": polls }));
    }

    /// Changes the fake's state: someone else's change.
    pub fn set(&self, path: &Value, value: &Value) {
        self.control(
            "POST",
            "/_fake/set",
            &json!({ "path": path, "value": value }),
        );
    }

    pub fn requests(&self) -> Vec<Value> {
        match self.control("GET", "/_fake/requests", &Value::Null) {
            Value::Array(a) => a,
            other => panic!("requests: {other}"),
        }
    }

    /// How many calls so far had this method and a path containing `path`.
    pub fn calls(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["method"] == method && r["path"].as_str().unwrap().contains(path))
            .count()
    }

    /// Every call that broke a documented rule.
    pub fn violations(&self) -> Vec<Value> {
        match self.control("GET", "/_fake/violations", &Value::Null) {
            Value::Array(a) => a,
            other => panic!("violations: {other}"),
        }
    }

    pub fn state(&self) -> Value {
        self.control("GET", "/_fake/state", &Value::Null)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
