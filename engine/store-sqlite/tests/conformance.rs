//! The SQLite store passes the conformance suite, each check on a fresh database file.

use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = std::env::temp_dir().join(format!("drctl-sqlite-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    drctl_store::conformance::check_all(|| {
        let path = dir.join(format!("{}.db", N.fetch_add(1, Ordering::SeqCst)));
        async move {
            drctl_store_sqlite::SqliteStore::open(&path)
                .await
                .expect("open")
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reopening_keeps_everything() {
    use drctl_core::{RunId, Timestamp};
    use drctl_store::{NewEvent, NewRun, RunReader, RunWriter};
    let path = std::env::temp_dir().join(format!("drctl-sqlite-reopen-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let id = RunId::from_parts(Timestamp::from_millis(1), 1);
    {
        let s = drctl_store_sqlite::SqliteStore::open(&path).await.unwrap();
        let run = NewRun {
            id: id.clone(),
            runbook: "r".into(),
            source_name: "r.yaml".into(),
            digest: "d".into(),
            parent: None,
            parent_step: None,
            actor: drctl_core::Actor::from_stored("a"),
            created_at: Timestamp::from_millis(1),
            drill: false,
            trigger: drctl_core::Trigger::Manual,
        };
        let first = NewEvent {
            at: Timestamp::from_millis(1),
            actor: drctl_core::Actor::from_stored("a"),
            kind: "run_created".into(),
            body: "{}".into(),
        };
        s.create_run(&run, &first).await.unwrap();
        s.close().await;
    }
    let s = drctl_store_sqlite::SqliteStore::open(&path).await.unwrap();
    assert_eq!(s.events(&id, 0).await.unwrap().len(), 1);
    s.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
