//! A gradual traffic shift through the binary against a local HTTP service whose error
//! rate rises once 60% of the traffic has moved: stages 1 and 2 hold their verify
//! windows, stage 3's check fails, the weights are restored latest first, and no later
//! stage starts.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{drctl_in, finish};

/// What the service saw: each weight set (with when), and every probe.
#[derive(Default)]
struct Seen {
    weights: Vec<(u64, Instant)>,
    probes: u64,
}

/// A load balancer and its service in one: `POST /weight/N` sets the share of traffic on
/// the new side; `GET /health` answers 200, except that once the weight is 60 or more,
/// every third probe gets a 500 (a 33% error rate).
fn service() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let state = state.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                // Headers end at the empty line; no request here has a body that matters.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let status = {
                    let mut s = state.lock().unwrap();
                    if let Some(w) = path.strip_prefix("/weight/") {
                        match w.parse::<u64>() {
                            Ok(w) => {
                                s.weights.push((w, Instant::now()));
                                200
                            }
                            Err(_) => 400,
                        }
                    } else {
                        s.probes += 1;
                        let weight = s.weights.last().map_or(0, |w| w.0);
                        if weight >= 60 && s.probes % 3 == 0 {
                            500
                        } else {
                            200
                        }
                    }
                };
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            });
        }
    });
    (addr, seen)
}

#[test]
fn a_rollout_holds_each_stage_and_rolls_back_when_the_error_rate_rises() {
    let (addr, seen) = service();
    let dir = std::env::temp_dir().join(format!("drctl-rollout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The environments' rule scaled down: 20% a stage, each verified for 2 s by checks of
    // a 1 s error-rate window, rollback when the error rate passes 5%.
    let runbook = format!(
        r#"runbook: rollout
params:
  service: {{ type: string, default: api }}
objectives: {{ rto: 5m, rpo: 1m }}
steps:
  - id: shift
    marks: [rto_start]
    for_each: [20, 40, 60, 80, 100]
    max_parallel: 1
    action: http.request
    with: {{ url: "http://{addr}/weight/{{{{ item }}}}", method: POST }}
    verify:
      action: http.check
      with: {{ url: "http://{addr}/health", max_error_rate: 0.05, window: 1s, interval: 100ms }}
      for: 2s
      every: 1s
    compensate:
      action: http.request
      with: {{ url: "http://{addr}/weight/{{{{ item - 20 }}}}", method: POST }}
"#
    );
    std::fs::write(dir.join("rollout.yaml"), runbook).unwrap();
    let (code, out) = finish(drctl_in(&dir, "alice").args(["run", "rollout.yaml"]));
    assert_eq!(code, 1, "the rollout fails:\n{out}");
    assert!(
        out.contains("`shift` (item 2)")
            && out.contains("error rate")
            && out.contains("above 5.0%"),
        "the failure names the stage and the measured rate:\n{out}"
    );
    let seen = seen.lock().unwrap();
    let weights: Vec<u64> = seen.weights.iter().map(|w| w.0).collect();
    assert_eq!(
        weights,
        [20, 40, 60, 40, 20, 0],
        "stages 1-3, then the compensations latest first; 80 never starts"
    );
    // Each stage held its 2 s window before the next one started.
    for pair in seen.weights[..3].windows(2) {
        let held = pair[1].1.duration_since(pair[0].1);
        assert!(
            held >= Duration::from_secs(2),
            "stage {} held only {held:?}",
            pair[0].0
        );
    }

    // The report tells what happened: the undone stages, the compensations, the params,
    // and every objective with why it was not measured.
    let id = out
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_owned();
    let (code, report) = finish(drctl_in(&dir, "alice").args(["report", &id]));
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("| shift[0] | succeeded, undone |"),
        "{report}"
    );
    assert!(report.contains("| shift[2] | failed, undone |"), "{report}");
    assert!(report.contains("## Compensations"), "{report}");
    let undo = |i: u32| {
        report
            .find(&format!("| rollout | shift[{i}] | 1 | succeeded |"))
            .unwrap_or_else(|| panic!("no compensation of stage {i}: {report}"))
    };
    assert!(
        undo(2) < undo(1) && undo(1) < undo(0),
        "latest first: {report}"
    );
    assert!(report.contains("| service | api |"), "{report}");
    assert!(
        report.contains("not measured: no step is marked `rto_end`"),
        "{report}"
    );
    assert!(
        report.contains("not measured: no step is marked `rpo`"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
