//! Six ways a secret leaked, each closed. One secret, `TOK`, with characters that every
//! encoding changes (a quote, a slash, a plus, a space, an accent), is used by a runbook
//! that (1) writes it to a file and, after drctl is SIGKILLed and the run resumed, reads
//! the file back from a step that never names the secret; (2) lists its environment;
//! (3) prints it as a JSON object's key; (4) prints it URL-encoded, JSON-escaped and in
//! base64 (alone and inside `user:secret`), and sends it in a query string that a server
//! quotes back in an error. Then (5) a secret too short to mask is refused before a run
//! exists, and (6) a secret transformed in a `log` message is refused by the compiler.
//! The database (with its WAL), everything drctl printed, `show`, `logs`, every report
//! format, both export formats and the console's screen of every step (in tmux) are
//! searched for the value in every form.

use std::path::PathBuf;
use std::process::{Child, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::receiver::Receiver;
use crate::support::{drctl_in, finish, wait_for_text};

const TOK: &str = "Zq8 \"tok\"/en+é-Kx3";
/// A multi-line secret (its lines come back joined with ` | ` in an error) and a number.
const KEY: &str = "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\nAASCBKcwggSjAgEAAoIBAQC7\n-----END TEST KEY-----";
const PIN: &str = "92837461";

const RUNBOOK: &str = r#"runbook: leaky
secrets:
  tok: { env: TOK }
  key: { env: KEY }
  pin: { env: PIN }
steps:
  - id: write
    action: exec
    with:
      argv: [sh, -c, 'printf %s "$T" > secret.txt']
      env: { T: "{{ secrets.tok }}" }
  - id: nap
    needs: [write]
    action: sleep
    with: { duration: 3s }
  - id: cat
    needs: [nap]
    action: exec
    with: { argv: [cat, secret.txt] }
  - id: inherited
    needs: [nap]
    action: exec
    with: { argv: [sh, -c, 'env | grep TOK; test -z "$TOK"'] }
  - id: keys
    needs: [nap]
    action: exec
    with:
      argv: [python3, -c, 'import json; print(json.dumps({open("secret.txt").read(): 1}))']
      output: json
  - id: encoded
    needs: [nap]
    action: exec
    with:
      argv:
        - python3
        - -c
        - |
          import base64, json, urllib.parse
          s = open("secret.txt").read()
          print(urllib.parse.quote(s), urllib.parse.quote_plus(s), urllib.parse.quote(s, safe=""))
          print(json.dumps(s), json.dumps(s, ensure_ascii=False))
          print(base64.b64encode(s.encode()).decode(), base64.urlsafe_b64encode(s.encode()).decode())
          print("Basic " + base64.b64encode(("user:" + s).encode()).decode())
  - id: key_tail
    needs: [nap]
    action: exec
    with:
      argv: [sh, -c, 'printf "%s\n" "$K" >&2; exit 3']
      env: { K: "{{ secrets.key }}" }
    continue_on_failure: true
  - id: pin_json
    needs: [nap]
    action: exec
    with:
      argv: [sh, -c, 'printf "{\"n\": %s}" "$P"']
      env: { P: "{{ secrets.pin }}" }
      output: json
  - id: quoted_back
    needs: [nap]
    action: http.request
    with: { url: "BASE/echo?token={{ secrets.tok }}&x=1" }
    continue_on_failure: true
"#;

struct Place {
    dir: PathBuf,
    printed: String,
}

impl Place {
    fn drctl(&mut self, args: &[&str], tok: &str) -> (i32, String) {
        let (code, text) = finish(
            drctl_in(&self.dir, "alice")
                .args(args)
                .env("TOK", tok)
                .env("KEY", KEY)
                .env("PIN", PIN),
        );
        self.printed.push_str(&text);
        (code, text)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        let out = std::fs::File::create(self.dir.join("run.out")).unwrap();
        drctl_in(&self.dir, "alice")
            .args(args)
            .env("TOK", TOK)
            .env("KEY", KEY)
            .env("PIN", PIN)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("run.out")).unwrap_or_default()
    }
}

/// Every form of the secret that must appear nowhere.
fn forms() -> Vec<(String, String)> {
    let mut out = vec![("raw".to_owned(), TOK.to_owned())];
    let json = serde_json::to_string(TOK).unwrap();
    out.push(("JSON-escaped".into(), json.trim_matches('"').to_owned()));
    out.push((
        "JSON-escaped ASCII".into(),
        r#"Zq8 \"tok\"/en+\u00e9-Kx3"#.into(),
    ));
    out.push((
        "URL-encoded".into(),
        "Zq8%20%22tok%22/en%2B%C3%A9-Kx3".into(),
    ));
    out.push((
        "form-encoded".into(),
        "Zq8+%22tok%22%2Fen%2B%C3%A9-Kx3".into(),
    ));
    out.push((
        "fully URL-encoded".into(),
        "Zq8%20%22tok%22%2Fen%2B%C3%A9-Kx3".into(),
    ));
    out.push((
        "query as sent".into(),
        "Zq8%20%22tok%22/en+%C3%A9-Kx3".into(),
    ));
    out.push(("base64".into(), STANDARD.encode(TOK)));
    out.push(("base64url".into(), URL_SAFE_NO_PAD.encode(TOK)));
    // Inside `user:<secret>`: the characters that depend only on the secret.
    let basic = STANDARD.encode(format!("user:{TOK}"));
    out.push((
        "base64 in Basic auth".into(),
        basic[8..basic.len() - 4].to_owned(),
    ));
    out.push(("upper-cased".into(), TOK.to_uppercase()));
    out.push(("a key's line".into(), "MIIEvQIBADANBgkqhkiG9w0BAQEF".into()));
    out.push((
        "a key's other line".into(),
        "AASCBKcwggSjAgEAAoIBAQC7".into(),
    ));
    out.push(("the PIN".into(), PIN.into()));
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for (form, value) in forms() {
        assert!(
            !text.contains(&value),
            "the secret ({form}: {value}) appears in {what}:\n{}",
            excerpt(&text, &value)
        );
    }
}

/// Up to 80 characters either side of the first `value`.
fn excerpt(text: &str, value: &str) -> String {
    let at = text.find(value).unwrap_or(0);
    let before: String = text[..at]
        .chars()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = text[at..]
        .chars()
        .take(value.chars().count() + 80)
        .collect();
    format!("{before}{after}")
}

#[test]
fn a_secret_never_reaches_a_record_in_any_form_after_a_crash() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(Receiver::start());
    let dir = std::env::temp_dir().join(format!("drctl-leaks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.yaml"), RUNBOOK.replace("BASE", &receiver.base)).unwrap();
    let mut place = Place {
        dir,
        printed: String::new(),
    };

    // (1) The run writes the secret to a file, then sleeps; drctl dies during the sleep,
    // with nothing else in flight (every other step needs the sleep: an `exec` running
    // at the kill would pause the resumed run for an operator).
    let mut run = place.spawn(&["run", "r.yaml"]);
    wait_for_text(&place.dir.join("run.out"), &["nap sleeping until"]);
    run.kill().unwrap();
    run.wait().unwrap();
    let first = place.output();
    place.printed.push_str(&first);
    let id = first
        .split_whitespace()
        .find(|w| w.starts_with("run_"))
        .unwrap()
        .to_owned();
    // A new process resumes it: the steps after the sleep never name the secret.
    let (code, out) = place.drctl(&["resume", &id], TOK);
    assert_eq!(code, 0, "{out}");
    let (code, show) = place.drctl(&["show", &id], TOK);
    assert_eq!(code, 0, "{show}");
    assert!(
        show.contains("***"),
        "the outputs are there, masked: {show}"
    );
    // (2) The program did not inherit TOK: `test -z "$TOK"` held. (3) The JSON key is
    // masked; (4) so is every encoding, and the server's quote.
    let (_, steps) = place.drctl(&["show", &id, "--format", "json"], TOK);
    let steps: serde_json::Value = serde_json::from_str(&steps).unwrap();
    let step = |id: &str| {
        steps["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(step("inherited")["status"], "succeeded", "{steps}");
    assert_eq!(
        step("keys")["output"],
        serde_json::json!({"***": 1}),
        "{steps}"
    );
    assert_eq!(
        step("encoded")["output"]["stdout"],
        "*** *** ***\n\"***\" \"***\"\n*** ***\nBasic dXNlcjp***\n",
        "every encoding was there to leak, and is masked"
    );
    let quoted = step("quoted_back")["error"].as_str().unwrap().to_owned();
    assert!(
        quoted.contains("bad request: /echo?token=***&x=1"),
        "the server quoted the query back, masked: {quoted}"
    );
    assert_eq!(step("cat")["output"]["stdout"], "***");
    let tail = step("key_tail")["error"].as_str().unwrap().to_owned();
    assert_eq!(tail, "exited with code 3; stderr: *** | *** | *** | ***");
    assert_eq!(step("pin_json")["output"], serde_json::json!({"n": "***"}));
    let (_, logs) = place.drctl(&["logs", &id], TOK);
    assert!(
        logs.contains("bad request"),
        "the server's answer is kept: {logs}"
    );
    for format in ["md", "json", "html"] {
        let (code, report) = place.drctl(&["report", &id, "--format", format], TOK);
        assert_eq!(code, 0, "{report}");
    }
    // (7) The console, on every step of the run (inputs, outputs, errors, stream tails).
    let pane = crate::console::Pane::open(
        "leaks",
        &format!(
            "cd {} && DRCTL_DB={} NO_COLOR=1 {} tui",
            place.dir.display(),
            place.dir.join("runs.db").display(),
            env!("CARGO_BIN_EXE_drctl")
        ),
    );
    pane.until(&["leaky"]);
    pane.keys(&["Enter"]);
    pane.until(&["steps", "succeeded"]);
    let count = steps["steps"].as_array().unwrap().len();
    for _ in 0..count {
        pane.keys(&["Enter"]);
        place.printed.push_str(&pane.until(&["attempt"]));
        pane.keys(&["Escape", "j"]);
    }
    place.printed.push_str(&pane.screen());
    pane.keys(&["q"]);
    pane.until(&["EXITED 0"]);
    for format in ["jsonl", "csv"] {
        let file = format!("export.{format}");
        let (code, out) = place.drctl(&["audit", "export", "--format", format, "-o", &file], TOK);
        assert_eq!(code, 0, "{out}");
        assert_clean(
            &format!("the {format} export"),
            &std::fs::read(place.dir.join(&file)).unwrap(),
        );
    }

    // (5) A secret too short to mask: refused before a run exists.
    let (code, out) = place.drctl(&["run", "r.yaml"], "abc");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("secret `tok` is 3 characters long"), "{out}");
    // (6) A transformed secret in a message: refused by the compiler, with where.
    std::fs::write(
        place.dir.join("upper.yaml"),
        "runbook: upper\nsecrets:\n  tok: { env: TOK }\nsteps:\n  - id: say\n    action: log\n    with: { message: \"{{ secrets.tok | upper }}\" }\n",
    )
    .unwrap();
    for command in ["validate", "run"] {
        let (code, out) = place.drctl(&[command, "upper.yaml"], TOK);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("upper.yaml:7:"), "{out}");
    }
    let (_, ls) = place.drctl(&["ls"], TOK);
    assert_eq!(ls.matches("run_").count(), 1, "no run was created: {ls}");

    for file in ["runs.db", "runs.db-wal", "runs.db-shm"] {
        if let Ok(bytes) = std::fs::read(place.dir.join(file)) {
            assert_clean(file, &bytes);
        }
    }
    assert_clean("drctl's output", place.printed.as_bytes());
    let _ = std::fs::remove_dir_all(&place.dir);
}
