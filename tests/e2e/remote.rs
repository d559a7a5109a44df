//! `--server`: the CLI's commands about runs sent to a live `drctl serve`, compared with
//! the same commands on the same database locally (same output, same exit codes), and
//! the refusals a remote user meets (four-eyes, a runbook that is not the server's, a
//! wrong token) with the token never shown.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::api::{serve, serve_args, token};
use crate::support::{config_file, drctl_in, finish, os_user};

const GATE: &str = r#"runbook: gated
steps:
  - { id: check, action: log, with: { message: "checking" } }
  - id: gate
    needs: [check]
    approval:
      message: "Fail over?"
      approvers: [group:sre]
  - { id: promote, needs: [gate], action: log, with: { message: promoted } }
"#;

const QUICK: &str =
    "runbook: quick\nsteps:\n  - { id: hello, action: exec, with: { argv: [echo, hi] } }\n";

const BROKEN: &str =
    "runbook: broken\nsteps:\n  - { id: nope, action: exec, with: { argv: [sh, -c, 'exit 3'] } }\n";

/// drctl pointed at the server with `token`; its local database path does not exist
/// and must stay so.
fn remote(dir: &Path, url: &str, token: &str, args: &[&str]) -> (i32, String) {
    let (code, out) = finish(
        Command::new(env!("CARGO_BIN_EXE_drctl"))
            .current_dir(dir)
            .env("DRCTL_SERVER", url)
            .env("DRCTL_TOKEN", token)
            .env("DRCTL_DB", dir.join("not-here.db"))
            .env("NO_COLOR", "1")
            .args(args),
    );
    assert!(
        token.is_empty() || !out.contains(token),
        "the token is shown by {args:?}:\n{out}"
    );
    (code, out)
}

fn local(dir: &Path, args: &[&str]) -> (i32, String) {
    finish(drctl_in(dir, &os_user()).args(args))
}

#[test]
fn the_cli_with_server_prints_what_it_prints_locally() {
    let dir: PathBuf = std::env::temp_dir().join(format!("drctl-remote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    for (name, text) in [("gated", GATE), ("quick", QUICK), ("broken", BROKEN)] {
        std::fs::write(dir.join(format!("runbooks/{name}.yaml")), text).unwrap();
    }
    let (alice, a) = token("alice-ops", "admin", "alice");
    let (bob, b) = token("bob-approver", "approver", "bob");
    let config = config_file(
        "remote",
        &format!(
            "[groups]\nsre = [\"alice\", \"bob\"]\n\n[serve]\nrunbooks = {:?}\n\n{a}\n{b}",
            dir.join("runbooks")
        ),
    );
    let (mut server, http) = serve(&dir, &config);
    let url = format!("http://{}", http.addr);
    let r = |token: &str, args: &[&str]| remote(&dir, &url, token, args);

    // A run in the foreground: followed to its end, with the exit code a local run has.
    let (code, out) = r(&alice, &["run", "runbooks/quick.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("Run run_") && out.contains("• hello"),
        "{out}"
    );
    assert!(
        out.contains("hello: ok") || out.contains("✓ hello"),
        "{out}"
    );
    let (code, out) = r(&alice, &["run", "runbooks/broken.yaml"]);
    assert_eq!(code, 1, "a failed run exits 1, as locally:\n{out}");
    let (code, out) = local(&dir, &["run", "runbooks/broken.yaml"]);
    assert_eq!(code, 1, "{out}");

    // The server starts only its own text of a runbook.
    std::fs::write(dir.join("edited.yaml"), GATE.replace("checking", "changed")).unwrap();
    let (code, out) = r(&alice, &["run", "edited.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not the text of edited.yaml"), "{out}");
    // Params are checked before anything is sent, as locally.
    let (code, out) = r(&alice, &["run", "runbooks/quick.yaml", "-p", "nope=1"]);
    let (lcode, lout) = local(&dir, &["run", "runbooks/quick.yaml", "-p", "nope=1"]);
    assert_eq!((code, out.as_str()), (lcode, lout.as_str()));

    // Detached: recorded, and the gate waits.
    let (code, out) = r(&alice, &["run", "runbooks/gated.yaml", "--detach"]);
    assert_eq!(code, 0, "{out}");
    let id = out
        .split_whitespace()
        .nth(1)
        .filter(|w| w.starts_with("run_"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let gates = loop {
        let (code, out) = r(&bob, &["approvals"]);
        assert_eq!(code, 0, "{out}");
        if out.contains(&id) {
            break out;
        }
        assert!(Instant::now() < deadline, "no gate: {out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        gates.contains("gate: 0 of 1 approvals, from group:sre; no timeout; you may approve"),
        "{gates}"
    );
    let (_, theirs) = r(&alice, &["approvals"]);
    assert!(
        theirs.contains("not you:"),
        "four-eyes, in the list: {theirs}"
    );

    // The same text as locally, while nothing moves (the run waits at its gate).
    for args in [
        vec!["ls"],
        vec!["ls", "--status", "waiting"],
        vec!["ls", "--runbook", "quick", "--limit", "1"],
        vec!["show", &id],
        vec!["show", &id[..12], "--format", "json"],
        vec!["logs", &id],
        vec!["logs", &id, "check"],
        vec!["show", "run_nosuch"],
        vec!["show", ".."],
        vec!["ls", "--limit", "0"],
        vec!["ls", "--drill"],
        vec!["ls", "--since", "2020-01-01", "--limit", "2"],
        vec!["logs", &id, "chek"],
    ] {
        let (code, out) = r(&alice, &args);
        let (lcode, lout) = local(&dir, &args);
        assert_eq!(
            (lcode, lout.as_str()),
            (code, out.as_str()),
            "drctl {args:?}: locally (left) and with --server (right)"
        );
    }

    // Pages: a list cut at its limit says where the next page starts.
    let two = http.call("GET", "/api/v1/runs?limit=2", Some(&alice), None);
    let one = http.call("GET", "/api/v1/runs?limit=1", Some(&alice), None);
    let next = one.body["next"]
        .as_str()
        .unwrap_or_else(|| panic!("{one:?}"));
    let page = http.call(
        "GET",
        &format!("/api/v1/runs?limit=1&cursor={next}"),
        Some(&alice),
        None,
    );
    assert_eq!(
        page.body["runs"][0]["id"], two.body["runs"][1]["id"],
        "{page:?}"
    );

    // Four-eyes: the starter's own approval is refused, printed as locally (exit 2).
    let (code, out) = r(&alice, &["approve", &id, "gate", "-m", "mine"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("error: ") && out.contains("alice"), "{out}");
    // Another identity decides; `logs -f` follows the run to its end.
    let (code, out) = r(&bob, &["approve", &id, "gate", "-m", "checked the replica"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("bob approved `gate` of run {id} (as group:sre)"))
            || out.contains(&format!(
                "bob's approval of `gate` of run {id} (as group:sre)"
            )),
        "{out}"
    );
    let (code, out) = r(&alice, &["logs", "-f", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("promoted") && out.contains("succeeded"),
        "{out}"
    );
    let (_, lout) = local(&dir, &["logs", &id]);
    assert_eq!(out, lout, "logs -f over the API ends with the same log");
    for args in [vec!["resume", &id], vec!["cancel", &id], vec!["show", &id]] {
        let (code, out) = r(&alice, &args);
        let (lcode, lout) = local(&dir, &args);
        assert_eq!(
            (lcode, lout.as_str()),
            (code, out.as_str()),
            "drctl {args:?}"
        );
    }

    // Reports and trends: the same text, in every format.
    for args in [
        vec!["report", &id],
        vec!["report", &id, "--format", "json"],
        vec!["report", &id, "--format", "html"],
        vec!["report", "--runbook", "quick", "--last", "3"],
        vec!["report", "--runbook", "nosuch"],
    ] {
        let (code, out) = r(&alice, &args);
        let (lcode, lout) = local(&dir, &args);
        assert_eq!(
            (lcode, lout.as_str()),
            (code, out.as_str()),
            "drctl {args:?}"
        );
    }
    // The audit export, streamed: the same records, a manifest naming who exported, and
    // a file that verifies.
    for format in ["jsonl", "csv"] {
        let (code, out) = r(
            &alice,
            &["audit", "export", "--format", format, "-o", "remote.out"],
        );
        assert_eq!(code, 0, "{out}");
        let (lcode, lout) = local(
            &dir,
            &["audit", "export", "--format", format, "-o", "local.out"],
        );
        assert_eq!((lcode, lout.as_str()), (code, out.as_str()), "{format}");
        assert!(out.starts_with("Exported "), "{out}");
        let records = |name: &str| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let manifest = lines.pop().unwrap();
            (lines, manifest)
        };
        let (theirs, manifest) = records("remote.out");
        assert_eq!(theirs, records("local.out").0, "{format}");
        assert!(
            manifest.contains("alice"),
            "exported by the token's identity: {manifest}"
        );
        assert_eq!(local(&dir, &["audit", "verify", "remote.out"]).0, 0);
    }
    let (code, out) = r(&alice, &["audit", "export", "--run", &id]);
    assert_eq!(code, 0);
    assert!(out.lines().count() > 2, "{out}");
    assert!(
        out.lines().all(|l| l.contains(&id)),
        "only the run's records, and the manifest naming it: {out}"
    );
    let (code, out) = r(&alice, &["audit", "export", "--since", "yesterday"]);
    assert_eq!(code, 2, "{out}");

    // Cancel a waiting run: the server's driver applies it.
    let (_, out) = r(&alice, &["run", "runbooks/gated.yaml", "--detach"]);
    let second = out.split_whitespace().nth(1).unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !r(&bob, &["approvals"]).1.contains(&second) {
        assert!(Instant::now() < deadline, "no gate");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out) = r(&alice, &["cancel", &second, "--reason", "drill over"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&second), "{out}");
    let (code, out) = r(&alice, &["logs", "-f", &second]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cancelled"), "{out}");
    // A viewer-level refusal, a wrong token and no token: errors that say so, exit 2.
    let (code, out) = r(&bob, &["cancel", &second]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = r("drctl_not-a-real-token", &["ls"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("token"), "{out}");
    // An address with a path or a user is refused before anything is sent.
    let (code, out) = remote(&dir, &format!("{url}/api"), &alice, &["ls"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no user, path, query or fragment"), "{out}");
    let (code, out) = remote(
        &dir,
        &url.replace("http://", "http://me:s3cret@"),
        &alice,
        &["ls"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    let (code, out) = r("", &["ls"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("DRCTL_TOKEN"), "{out}");
    assert!(
        !dir.join("not-here.db").exists(),
        "--server made a local database"
    );

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    // No server: said plainly.
    let (code, out) = r(&alice, &["ls"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot reach the server"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cli_reaches_a_server_over_tls_and_only_with_a_certificate_it_trusts() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("drctl-remote-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runbooks")).unwrap();
    std::fs::write(dir.join("runbooks/quick.yaml"), QUICK).unwrap();
    // A private CA, and a certificate for 127.0.0.1 it issued.
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=drctl test CA",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    ] {
        let (code, out) = finish(Command::new("openssl").current_dir(&dir).args(&args));
        assert_eq!(code, 0, "openssl {args:?}: {out}");
    }
    let (alice, a) = token("alice-tls", "admin", "alice");
    let config = config_file(
        "remote-tls",
        &format!("[serve]\nrunbooks = {:?}\n\n{a}", dir.join("runbooks")),
    );
    // A certificate without its key (or the other way round) is refused by clap; a key
    // that is not one is refused by name.
    let (code, out) = finish(
        drctl_in(&dir, &os_user())
            .env("DRCTL_CONFIG", &config)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "cert.pem",
                "--tls-key",
                "cert.pem",
            ]),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--tls-key cert.pem"), "{out}");
    let (mut server, http) = serve_args(
        &dir,
        &config,
        &[],
        &["--tls-cert", "cert.pem", "--tls-key", "key.pem"],
    );
    let url = format!("https://{}", http.addr);
    let trusted = |args: &[&str]| {
        finish(
            Command::new(env!("CARGO_BIN_EXE_drctl"))
                .current_dir(&dir)
                .env("DRCTL_SERVER", &url)
                .env("DRCTL_TOKEN", &alice)
                .env("DRCTL_CA_CERT", dir.join("ca.pem"))
                .args(args),
        )
    };
    let (code, out) = trusted(&["run", "runbooks/quick.yaml"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = trusted(&["ls"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("succeeded"), "{out}");
    // Without the CA the certificate is not trusted; plain http is not answered.
    let (code, out) = remote(&dir, &url, &alice, &["ls"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot reach the server"), "{out}");
    let (code, out) = remote(&dir, &format!("http://{}", http.addr), &alice, &["ls"]);
    assert_eq!(code, 2, "{out}");
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}
