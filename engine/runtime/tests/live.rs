//! Live output: a real `exec` step's output is in the store while it runs, with its
//! secret masked (whole, and the start of it the program is still printing, even cut
//! inside a character), an earlier driver's rows cleared, and gone when the attempt
//! ends.

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{Actor, Trigger};
use drctl_engine::clock::SystemClock;
use drctl_engine::secrets::SecretReader;
use drctl_engine::{DriveOptions, Engine, EngineConfig, NewRunRequest};
use drctl_runbook::Source;
use drctl_runbook::model::SecretSource;
use drctl_store::{MemoryStore, Store};

struct Fixed;

impl SecretReader for Fixed {
    fn read(&self, _: &str, _: &SecretSource) -> Result<String, String> {
        Ok("s3cr3t-tökén-xyz".into())
    }
}

const RUNBOOK: &str = r#"runbook: live
secrets: { tok: { env: TOK } }
steps:
  - id: sync
    action: exec
    with:
      argv: [bash, -c, 'echo "using $TOK"; echo progress 1 >&2; printf "next s3cr3t-t\303"; sleep 3; echo; echo done']
      env: { TOK: "{{ secrets.tok }}" }
"#;

#[tokio::test]
async fn a_running_exec_step_shows_its_output_masked_then_drops_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = drctl_connectors::Registry::builtin();
    let engine = Engine::new(
        store.clone(),
        Arc::new(registry),
        Arc::new(SystemClock::new()),
        EngineConfig::default(),
    )
    .with_secrets(Arc::new(Fixed));
    let run = engine
        .create_run(NewRunRequest {
            source: Source::new("live.yaml", RUNBOOK),
            callees: Vec::new(),
            params: serde_json::Map::new(),
            actor: Actor::from_stored("alice"),
            trigger: Trigger::Manual,
            drill: false,
            parent: None,
        })
        .await
        .unwrap();
    // A row an earlier driver left (it died): gone once a driver takes the run.
    let ghost = drctl_store::LiveRow {
        step: "sync".into(),
        item: None,
        attempt: 9,
        stdout: "printed before a crash".into(),
        stderr: String::new(),
        at: drctl_core::Timestamp::from_millis(0),
    };
    store.put_live(&run, &ghost).await.unwrap();
    let (e, id) = (engine.clone(), run.clone());
    let driving = tokio::spawn(async move { e.drive(&id, DriveOptions::default()).await });
    // The program prints at once, then sleeps: its output shows within a second or so.
    let mut seen = None;
    for _ in 0..100 {
        let rows = store.live(&run, "sync").await.unwrap();
        if let Some(r) = rows.first()
            && r.stdout.contains("next")
            && r.stderr.contains("progress 1")
        {
            seen = Some(r.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = seen.expect("the running step's output reached the store");
    assert_eq!((row.attempt, row.item), (1, None));
    assert_eq!(
        row.stdout, "using ***\nnext ***",
        "whole and partial secret masked, the partial one cut inside `ö`"
    );
    assert_eq!(
        store.live(&run, "sync").await.unwrap().len(),
        1,
        "the ghost is gone"
    );
    assert_eq!(row.stderr, "progress 1\n");
    driving.await.unwrap().unwrap();
    // Ended: the events hold the output; the live row is gone.
    for _ in 0..40 {
        if store.live(&run, "sync").await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.live(&run, "sync").await.unwrap(), []);
    let events = engine.events(&run).await.unwrap();
    let text = serde_json::to_string(&events).unwrap();
    // (The final output keeps the program's half-printed `next s3cr3t-t`: a record
    // masks whole secrets, and that text is not one.)
    assert!(text.contains("done") && !text.contains("s3cr3t-tökén-xyz"));
}
