//! audit export and verify through the real binary, and tampering: a row of the database
//! or a line of an export edited, deleted or moved is found, at the first bad event.

use std::path::PathBuf;

use crate::support::{drctl_in, finish};

const RUNBOOK: &str = "runbook: audited\nsteps:\n  - { id: a, action: log, with: { message: one } }\n  - { id: b, needs: [a], action: log, with: { message: two } }\n  - { id: c, needs: [b], action: log, with: { message: three } }\n";

struct Lab {
    dir: PathBuf,
}

impl Lab {
    /// A database with two finished runs, by alice and by bob.
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-audit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("r.yaml"), RUNBOOK).unwrap();
        let lab = Self { dir };
        for who in ["alice", "bob"] {
            let (code, out) = lab.drctl(who, &["run", "r.yaml"]);
            assert_eq!(code, 0, "{out}");
        }
        lab
    }

    fn drctl(&self, user: &str, args: &[&str]) -> (i32, String) {
        finish(drctl_in(&self.dir, user).args(args))
    }

    fn db(&self) -> PathBuf {
        self.dir.join("runs.db")
    }

    fn export(&self, format: &str) -> String {
        let file = format!("export.{format}");
        let (code, out) = self.drctl(
            "auditor",
            &["audit", "export", "--format", format, "-o", &file],
        );
        assert_eq!(code, 0, "{out}");
        std::fs::read_to_string(self.dir.join(&file)).unwrap()
    }

    /// Verifies `text` as an export file: the exit code and what drctl said.
    fn verify_text(&self, name: &str, text: &str) -> (i32, String) {
        std::fs::write(self.dir.join(name), text).unwrap();
        self.drctl("auditor", &["audit", "verify", name])
    }

    fn sql(&self, statements: &[&'static str]) {
        let url = format!("sqlite://{}", self.db().display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for s in statements {
                sqlx::query(*s).execute(&mut conn).await.unwrap();
            }
        });
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lines_with(text: &str, edit: impl FnOnce(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    lines.join("\n") + "\n"
}

#[test]
fn exports_verify_and_filters_choose_whole_runs() {
    let lab = Lab::new("ok");
    for format in ["jsonl", "csv"] {
        let text = lab.export(format);
        let (code, out) = lab.verify_text(&format!("copy.{format}"), &text);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("intact") && out.contains("of 2 runs"), "{out}");
    }
    let (code, out) = lab.drctl("auditor", &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("database: intact"), "{out}");

    let (code, only_bob) = lab.drctl("auditor", &["audit", "export", "--actor", "bob"]);
    assert_eq!(code, 0);
    assert!(
        only_bob.lines().all(|l| !l.contains("\"actor\":\"alice\"")),
        "{only_bob}"
    );
    let (_, out) = lab.verify_text("bob.jsonl", &only_bob);
    assert!(out.contains("of 1 runs"), "{out}");
    let (_, none) = lab.drctl("auditor", &["audit", "export", "--since", "2999-01-01"]);
    assert_eq!(none.lines().count(), 1, "the manifest only: {none}");
    let (code, err) = lab.drctl("auditor", &["audit", "export", "--since", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since `yesterday` is not a time"), "{err}");
}

#[test]
fn a_changed_removed_or_moved_line_of_an_export_is_named() {
    let lab = Lab::new("file");
    let text = lab.export("jsonl");
    // Line 3 is the second event of the first run.
    // Its time changed (a digit added): "it happened at another time" is an edit too.
    let edited = lines_with(&text, |l| {
        l[2] = l[2].replacen("\"at_ms\":", "\"at_ms\":1", 1)
    });
    assert_ne!(edited, text);
    let (code, out) = lab.verify_text("edited.jsonl", &edited);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("edited.jsonl:3: ") && out.contains("changed"),
        "{out}"
    );

    let removed = lines_with(&text, |l| {
        l.remove(2);
    });
    let (code, out) = lab.verify_text("removed.jsonl", &removed);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("removed.jsonl:3: ") && out.contains("removed or moved"),
        "{out}"
    );

    let moved = lines_with(&text, |l| l.swap(2, 3));
    let (code, out) = lab.verify_text("moved.jsonl", &moved);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("moved.jsonl:3: "), "{out}");

    // A whole run removed: every chain left is fine; the manifest is not.
    let runs: Vec<String> = text.lines().map(|l| l[8..38].to_owned()).collect();
    let first = runs[0].clone();
    let cut = lines_with(&text, |l| {
        l.retain(|line| line.starts_with("{\"manifest\"") || !line.contains(&first));
    });
    let (code, out) = lab.verify_text("cut.jsonl", &cut);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest"), "{out}");

    let csv = lab.export("csv");
    // The actor column of line 3 rewritten.
    let edited = lines_with(&csv, |l| {
        let mut fields: Vec<&str> = l[2].splitn(6, ',').collect();
        fields[4] = "mallory";
        l[2] = fields.join(",");
    });
    assert_ne!(edited, csv);
    let (code, out) = lab.verify_text("edited.csv", &edited);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("edited.csv:3: ") && out.contains("changed"),
        "{out}"
    );
}

#[test]
fn a_changed_removed_or_moved_row_of_the_database_is_named() {
    let cases: [(&str, &[&'static str], &str); 7] = [
        (
            "edit",
            &[
                "UPDATE events SET body = replace(body, 'two', 'TWO') WHERE kind = 'attempt_started' AND body LIKE '%two%'",
            ],
            "was changed after it was written",
        ),
        (
            "delete",
            &["DELETE FROM events WHERE seq = 3 AND run_id = (SELECT MIN(run_id) FROM events)"],
            "event 4 is numbered",
        ),
        (
            "reorder",
            &[
                "UPDATE events SET seq = 1000 WHERE seq = 3 AND run_id = (SELECT MIN(run_id) FROM events)",
                "UPDATE events SET seq = 3 WHERE seq = 4 AND run_id = (SELECT MIN(run_id) FROM events)",
                "UPDATE events SET seq = 4 WHERE seq = 1000",
            ],
            "event 3 ",
        ),
        (
            "truncate",
            &[
                "DELETE FROM events WHERE run_id = (SELECT MIN(run_id) FROM events) AND seq = (SELECT MAX(seq) FROM events WHERE run_id = (SELECT MIN(run_id) FROM events))",
            ],
            "removed from its end",
        ),
        (
            "run_removed",
            &[
                "DELETE FROM steps WHERE run_id = (SELECT MIN(id) FROM runs)",
                "DELETE FROM events WHERE run_id = (SELECT MIN(id) FROM runs)",
                "DELETE FROM runs WHERE id = (SELECT MIN(id) FROM runs)",
            ],
            "but not in the database: it was deleted",
        ),
        (
            // Its last event removed and its row made to agree: only the ledger knows.
            "run_cut_and_row_rewritten",
            &[
                "DELETE FROM events WHERE run_id = (SELECT MIN(id) FROM runs) AND seq = (SELECT MAX(seq) FROM events WHERE run_id = (SELECT MIN(id) FROM runs))",
                "UPDATE runs SET version = version - 1, head_hash = (SELECT hash FROM events e WHERE e.run_id = runs.id ORDER BY seq DESC LIMIT 1) WHERE id = (SELECT MIN(id) FROM runs)",
            ],
            "does not match its `finished` ledger entry 2",
        ),
        (
            "ledger_entry_removed",
            &["DELETE FROM ledger WHERE seq = 2"],
            "ledger entry 3 is numbered",
        ),
    ];
    let intact = Lab::new("intact");
    let (code, out) = intact.drctl("auditor", &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the ledger of 4 entries"),
        "created and finished, twice: {out}"
    );
    assert!(
        intact
            .export("jsonl")
            .lines()
            .last()
            .unwrap()
            .contains("\"ledger\":{\"seq\":4,"),
        "the manifest carries the ledger's head"
    );
    for (name, statements, expected) in cases {
        let lab = Lab::new(name);
        lab.sql(statements);
        let (code, out) = lab.drctl("auditor", &["audit", "verify"]);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(expected), "{name}: {out}");
    }
}
