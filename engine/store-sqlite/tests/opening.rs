//! Opening a database: a fresh file opened by several processes at once is migrated once
//! (not "table runs already exists"), and a missing file is created only when asked.

use std::sync::{Arc, Barrier};

use drctl_store::StoreError;
use drctl_store_sqlite::{Create, SqliteStore};

#[test]
fn a_fresh_database_opened_at_once_from_many_places_migrates_once() {
    let dir = std::env::temp_dir().join(format!("drctl-sqlite-open-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for round in 0..40 {
        let path = dir.join(format!("{round}.db"));
        let start = Arc::new(Barrier::new(4));
        // One runtime and one pool per thread, as separate processes have.
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    start.wait();
                    rt.block_on(async {
                        let store = SqliteStore::open(&path).await?;
                        store.close().await;
                        Ok::<_, StoreError>(())
                    })
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                failures.push(format!("round {round}: {e}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_missing_database_is_created_only_when_asked() {
    let dir = std::env::temp_dir().join(format!("drctl-sqlite-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("typo.db");
    let e = SqliteStore::open_with(&path, Create::Never)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NoDatabase(_)), "{e}");
    assert!(e.to_string().contains("typo.db"), "{e}");
    assert!(!path.exists() && !dir.exists(), "nothing is created");
    let store = SqliteStore::open_with(&path, Create::IfMissing)
        .await
        .unwrap();
    store.close().await;
    assert!(path.exists());
    // Closing moved the write-ahead log into the file.
    let wal = dir.join("typo.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the WAL is checkpointed on close"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_database_a_newer_drctl_migrated_is_refused_with_why() {
    let dir = std::env::temp_dir().join(format!("drctl-sqlite-newer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("runs.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    // As a newer build would leave it: one migration more than this one knows.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let before = std::fs::read(&path).unwrap();
    let e = SqliteStore::open(&path).await.unwrap_err();
    assert!(e.to_string().contains("newer drctl"), "{e}");
    assert!(e.to_string().contains("9999"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "left as it was");
    let _ = std::fs::remove_dir_all(&dir);
}
