//! The conformance suite: what every store backend must do, checked the same way for
//! each (`MemoryStore` in this crate's tests, SQLite in its own crate, PostgreSQL later).
//! Each check gets a fresh, empty store from the factory.

// A test suite: failing asserts are its way to report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

use drctl_core::{Actor, RunId, Timestamp};
use serde_json::json;

use crate::StoreError;
use crate::chain::{GENESIS, verify};
use crate::deliveries::{Dedup, Holder, Placed, Proposal, Settled, Verdict as DeliveryVerdict};
use crate::ledger::{self, LedgerKind, RunHeads};
use crate::rows::{
    Checked, Claim, Command, CommandOutcome, Lease, LockOutcome, NewEvent, NewRun, Projection,
    RunFilter, SignedHead, StepRow, Taken,
};
use crate::schedules::{Change, ChangeRow, Finding, FiringOutcome, NewFiring, Pause, ReadinessRow};
use crate::traits::{Batch, Store};

const T0: i64 = 1_800_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn run_id(n: u128) -> RunId {
    RunId::from_parts(at(n as i64), n)
}

fn new_run(id: &RunId, parent: Option<&RunId>) -> NewRun {
    NewRun {
        id: id.clone(),
        runbook: "failover".into(),
        source_name: "runbooks/failover.yaml".into(),
        digest: "sha256:abc".into(),
        parent: parent.cloned(),
        parent_step: parent.map(|_| "call".into()),
        actor: drctl_core::Actor::from_stored("alice"),
        created_at: at(0),
        drill: parent.is_some(),
        trigger: drctl_core::Trigger::Manual,
    }
}

fn event(n: i64, kind: &str) -> NewEvent {
    NewEvent {
        at: at(n),
        actor: drctl_core::Actor::from_stored("drctl"),
        kind: kind.into(),
        body: json!({ "type": kind, "n": n }).to_string(),
    }
}

fn claim(run: &RunId, owner: &str, now: Timestamp) -> Claim {
    Claim {
        run: run.clone(),
        owner: owner.into(),
        now,
        ttl: Duration::from_secs(10),
        take_over_from: None,
    }
}

fn projection(status: &str) -> Projection {
    Projection {
        status: crate::rows::RunStatus::parse(status).unwrap(),
        ..Projection::default()
    }
}

/// A fixed batch of events for `append_events`.
#[derive(Debug, Clone)]
struct Append<'a> {
    lease: &'a Lease,
    /// The run's version before these events; the append fails if it moved.
    expected: u64,
    events: &'a [NewEvent],
    projection: &'a Projection,
    now: Timestamp,
}

/// Appends fixed events, settling no command; returns the new version.
async fn append_events(s: &dyn Store, a: Append<'_>) -> Result<u64, StoreError> {
    let mut batch = Some(Batch {
        expected: a.expected,
        events: a.events.to_vec(),
        projection: a.projection.clone(),
        taken: Vec::new(),
    });
    let version = s.append(a.lease, a.now, &mut |_| batch.take()).await?;
    Ok(version.unwrap_or(a.expected))
}

/// Ends a run that has only its first event: it succeeds at `n` ms, its locks released.
async fn finish_created(s: &dyn Store, run: &RunId, n: i64) {
    let lease = s.claim(&claim(run, "w1", at(n - 1))).await.unwrap();
    let finish = Projection {
        status: crate::rows::RunStatus::Succeeded,
        finished_at: Some(at(n)),
        release_locks: true,
        ..Projection::default()
    };
    append_events(
        s,
        Append {
            lease: &lease,
            expected: 1,
            events: &[event(n, "run_finished")],
            projection: &finish,
            now: at(n),
        },
    )
    .await
    .unwrap();
}

/// Runs every check, each on a fresh store from `make`.
pub async fn check_all<S: Store, F: Future<Output = S>>(make: impl Fn() -> F) {
    create_and_read(&make().await).await;
    appends_need_the_version_and_the_lease(&make().await).await;
    appends_are_atomic_and_update_the_projection(&make().await).await;
    leases_expire_renew_release_and_can_be_taken_over(&make().await).await;
    locks_are_exclusive_and_released_with_the_run(&make().await).await;
    commands_are_taken_once_in_order(&make().await).await;
    lists_resolve_and_children(&make().await).await;
    the_ledger_records_each_run_created_and_finished(&make().await).await;
    each_nominal_time_fires_once(&make().await).await;
    schedules_are_made_once_and_paused(&make().await).await;
    a_delivery_id_is_taken_once(&make().await).await;
    one_key_starts_one_run(&make().await).await;
    proposals_are_settled_once(&make().await).await;
    live_output_is_replaced_and_dropped(&make().await).await;
}

async fn live_output_is_replaced_and_dropped(s: &dyn Store) {
    let (a, b) = (run_id(20), run_id(21));
    let row = |step: &str, item: Option<u32>, attempt: u32, out: &str, ms: i64| crate::LiveRow {
        step: step.into(),
        item,
        attempt,
        stdout: out.into(),
        stderr: format!("err {out}"),
        at: at(ms),
    };
    assert_eq!(s.live(&a, "sync").await.unwrap(), []);
    s.put_live(&a, &row("sync", None, 2, "two", 1))
        .await
        .unwrap();
    s.put_live(&a, &row("sync", None, 1, "one", 2))
        .await
        .unwrap();
    s.put_live(&a, &row("other", None, 1, "x", 3))
        .await
        .unwrap();
    s.put_live(&b, &row("sync", None, 1, "b", 4)).await.unwrap();
    // Replaced, not appended: the newest text of an attempt is its row.
    s.put_live(&a, &row("sync", None, 1, "one, then more", 5))
        .await
        .unwrap();
    let got = s.live(&a, "sync").await.unwrap();
    assert_eq!(
        got,
        [
            row("sync", None, 1, "one, then more", 5),
            row("sync", None, 2, "two", 1)
        ],
        "one row per attempt, oldest attempt first, only this run's step"
    );
    s.drop_live(&a, ("sync", None, 1)).await.unwrap();
    s.drop_live(&a, ("sync", None, 9)).await.unwrap();
    assert_eq!(
        s.live(&a, "sync").await.unwrap(),
        [row("sync", None, 2, "two", 1)]
    );
    assert_eq!(s.live(&b, "sync").await.unwrap().len(), 1);
    s.clear_live(&a).await.unwrap();
    assert_eq!(s.live(&a, "sync").await.unwrap(), []);
    assert_eq!(s.live(&a, "other").await.unwrap(), []);
    assert_eq!(
        s.live(&b, "sync").await.unwrap().len(),
        1,
        "only that run's"
    );
}

async fn create_and_read(s: &dyn Store) {
    let id = run_id(1);
    s.create_run(&new_run(&id, None), &event(0, "run_created"))
        .await
        .unwrap();
    let row = s.run(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            row.version,
            row.status.as_str(),
            row.actor.to_string().as_str()
        ),
        (1, "created", "alice")
    );
    let events = s.events(&id, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].seq, events[0].prev_hash.as_str()), (1, GENESIS));
    assert_eq!(row.head_hash, events[0].hash);
    assert!(matches!(
        s.create_run(&new_run(&id, None), &event(0, "run_created"))
            .await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(s.run(&run_id(99)).await.unwrap(), None);
}

async fn appends_need_the_version_and_the_lease(s: &dyn Store) {
    let id = run_id(2);
    s.create_run(&new_run(&id, None), &event(0, "run_created"))
        .await
        .unwrap();
    let lease = s.claim(&claim(&id, "w1", at(1))).await.unwrap();
    let events = [event(2, "run_started"), event(3, "attempt_started")];
    let p = projection("running");
    let v = append_events(
        s,
        Append {
            lease: &lease,
            expected: 1,
            events: &events,
            projection: &p,
            now: at(3),
        },
    )
    .await
    .unwrap();
    assert_eq!(v, 3);
    // A writer that did not see version 3 is refused.
    let stale = append_events(
        s,
        Append {
            lease: &lease,
            expected: 1,
            events: &events,
            projection: &p,
            now: at(4),
        },
    )
    .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::VersionConflict {
                expected: 1,
                actual: 3,
                ..
            })
        ),
        "{stale:?}"
    );
    // A lease that was taken over is refused, even at the right version.
    let later = at(20_000);
    let successor = s.claim(&claim(&id, "w2", later)).await.unwrap();
    assert!(successor.fence > lease.fence);
    let old = append_events(
        s,
        Append {
            lease: &lease,
            expected: 3,
            events: &events,
            projection: &p,
            now: later,
        },
    )
    .await;
    assert!(matches!(old, Err(StoreError::LeaseLost(_))), "{old:?}");
    let v = append_events(
        s,
        Append {
            lease: &successor,
            expected: 3,
            events: &events[..1],
            projection: &p,
            now: later,
        },
    )
    .await;
    assert_eq!(v.unwrap(), 4);
    let all = s.events(&id, 0).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    verify(&id, &all).unwrap();
    assert_eq!(s.events(&id, 2).await.unwrap().len(), 2);
    // The bodies alone: the same, in order, within the bounds.
    let id = &id;
    let bodies = |after: u64, upto: u64| async move {
        let got = s.event_bodies(id, after, upto).await.unwrap();
        got.into_iter().map(|b| (b.seq, b.body)).collect::<Vec<_>>()
    };
    let want = |range: std::ops::Range<usize>| {
        all[range]
            .iter()
            .map(|e| (e.seq, e.body.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bodies(0, u64::MAX).await, want(0..4));
    assert_eq!(bodies(0, 1).await, want(0..1));
    assert_eq!(bodies(1, 3).await, want(1..3));
    assert_eq!(bodies(4, u64::MAX).await, []);
    assert_eq!(s.event_bodies(&run_id(99), 0, u64::MAX).await.unwrap(), []);
}

async fn appends_are_atomic_and_update_the_projection(s: &dyn Store) {
    let id = run_id(3);
    s.create_run(&new_run(&id, None), &event(0, "run_created"))
        .await
        .unwrap();
    let lease = s.claim(&claim(&id, "w1", at(1))).await.unwrap();
    let step = |status: &str, item: Option<u32>, position: u32| StepRow {
        position,
        step: if position == 0 {
            "promote".into()
        } else {
            "shift".into()
        },
        item,
        block: "steps".into(),
        status: status.into(),
        attempts: 1,
        started_at: Some(at(1)),
        finished_at: None,
        output: Some(json!({"lsn": "0/3000060"})),
        error: None,
    };
    let p = Projection {
        status: crate::rows::RunStatus::Running,
        steps: vec![
            step("running", None, 0),
            step("running", Some(1), 1),
            step("running", Some(0), 1),
        ],
        rto: Some(drctl_core::RtoSpan {
            started_at: at(1),
            ended_at: None,
            objective_ms: Some(120_000),
            measured: false,
        }),
        ..Projection::default()
    };
    append_events(
        s,
        Append {
            lease: &lease,
            expected: 1,
            events: &[event(1, "x")],
            projection: &p,
            now: at(1),
        },
    )
    .await
    .unwrap();
    let running = s.run(&id).await.unwrap().unwrap().rto;
    assert_eq!(running, p.rto, "the RTO clock is kept on the row");
    let p2 = Projection {
        status: crate::rows::RunStatus::Failed,
        detail: Some("step `shift` failed".into()),
        finished_at: Some(at(2)),
        steps: vec![step("succeeded", None, 0)],
        rto: Some(drctl_core::RtoSpan {
            started_at: at(1),
            ended_at: Some(at(2)),
            objective_ms: None,
            measured: true,
        }),
        release_locks: true,
    };
    append_events(
        s,
        Append {
            lease: &lease,
            expected: 2,
            events: &[event(2, "y")],
            projection: &p2,
            now: at(2),
        },
    )
    .await
    .unwrap();
    let rows = s.steps(&id).await.unwrap();
    let got: Vec<(String, Option<u32>, String)> = rows
        .iter()
        .map(|r| (r.step.clone(), r.item, r.status.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("promote".into(), None, "succeeded".into()),
            ("shift".into(), Some(0), "running".into()),
            ("shift".into(), Some(1), "running".into()),
        ],
        "rows in runbook order, upserted"
    );
    assert_eq!(rows[0].output, Some(json!({"lsn": "0/3000060"})));
    let row = s.run(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.detail.as_deref(), row.finished_at),
        ("failed", Some("step `shift` failed"), Some(at(2)))
    );
    assert!(row.is_finished());
    assert_eq!(row.rto, p2.rto, "stopped, with no objective");
    // A refused append changes nothing at all.
    let refused = append_events(
        s,
        Append {
            lease: &lease,
            expected: 1,
            events: &[event(3, "z")],
            projection: &projection("paused"),
            now: at(3),
        },
    )
    .await;
    assert!(refused.is_err());
    assert_eq!(s.events(&id, 0).await.unwrap().len(), 3);
    assert_eq!(s.run(&id).await.unwrap().unwrap().status, "failed");
}

async fn leases_expire_renew_release_and_can_be_taken_over(s: &dyn Store) {
    let id = run_id(4);
    s.create_run(&new_run(&id, None), &event(0, "run_created"))
        .await
        .unwrap();
    let first = s.claim(&claim(&id, "w1", at(0))).await.unwrap();
    assert_eq!(first.until, at(10_000));
    // Held: another owner is told who holds it and until when.
    match s.claim(&claim(&id, "w2", at(5_000))).await {
        Err(StoreError::Leased { owner, until, .. }) => {
            assert_eq!((owner.as_str(), until), ("w1", at(10_000)))
        }
        other => panic!("{other:?}"),
    }
    // Renewed, it is still held later.
    let renewed = s
        .renew(&first, at(9_000), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(renewed.until, at(19_000));
    assert!(s.claim(&claim(&id, "w2", at(15_000))).await.is_err());
    // A dead owner can be taken over before its lease expires, by naming it.
    let mut takeover = claim(&id, "w2", at(16_000));
    takeover.take_over_from = Some("w1".into());
    let second = s.claim(&takeover).await.unwrap();
    assert!(second.fence > renewed.fence);
    assert!(matches!(
        s.renew(&renewed, at(16_500), Duration::from_secs(10)).await,
        Err(StoreError::LeaseLost(_))
    ));
    // Released, anyone may claim it.
    s.release(&second).await.unwrap();
    let third = s.claim(&claim(&id, "w3", at(17_000))).await.unwrap();
    assert_eq!(third.owner, "w3");
    assert_eq!(
        s.run(&id).await.unwrap().unwrap().owner.as_deref(),
        Some("w3")
    );
}

async fn locks_are_exclusive_and_released_with_the_run(s: &dyn Store) {
    let (a, b) = (run_id(5), run_id(6));
    for id in [&a, &b] {
        s.create_run(&new_run(id, None), &event(0, "run_created"))
            .await
            .unwrap();
    }
    assert_eq!(
        s.try_lock("failover/a", &a, at(1)).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        s.try_lock("failover/a", &a, at(2)).await.unwrap(),
        LockOutcome::Acquired,
        "re-entrant"
    );
    assert_eq!(
        s.try_lock("failover/a", &b, at(2)).await.unwrap(),
        LockOutcome::HeldBy(a.clone())
    );
    assert_eq!(
        s.try_lock("failover/b", &b, at(2)).await.unwrap(),
        LockOutcome::Acquired
    );
    s.unlock("failover/b", &a).await.unwrap();
    assert_eq!(
        s.try_lock("failover/b", &a, at(3)).await.unwrap(),
        LockOutcome::HeldBy(b.clone()),
        "only the holder unlocks"
    );
    // The run ends: its locks go in the same transaction.
    finish_created(s, &a, 4).await;
    assert_eq!(
        s.try_lock("failover/a", &b, at(5)).await.unwrap(),
        LockOutcome::Acquired
    );
}

async fn commands_are_taken_once_in_order(s: &dyn Store) {
    let (a, b) = (run_id(7), run_id(8));
    for id in [&a, &b] {
        s.create_run(&new_run(id, None), &event(0, "run_created"))
            .await
            .unwrap();
    }
    let first = s
        .push_command(
            &a,
            at(1),
            &Actor::from_stored("bob"),
            &json!({"cancel": "wrong region"}),
            None,
        )
        .await
        .unwrap();
    s.push_command(
        &b,
        at(1),
        &Actor::from_stored("bob"),
        &json!({"other": 1}),
        None,
    )
    .await
    .unwrap();
    // Checked against version 1 without seeing bob's command: refused, to check again.
    let blind = Checked {
        version: 1,
        newest_waiting: 0,
    };
    let unseen = s
        .push_command(
            &a,
            at(2),
            &Actor::from_stored("carol"),
            &json!({"step": "retry"}),
            Some(blind),
        )
        .await;
    assert!(
        matches!(unseen, Err(StoreError::VersionConflict { .. })),
        "{unseen:?}"
    );
    // Checked against version 1 and bob's command: accepted.
    let seen = Checked {
        version: 1,
        newest_waiting: first,
    };
    let second = s
        .push_command(
            &a,
            at(2),
            &Actor::from_stored("carol"),
            &json!({"step": "retry"}),
            Some(seen),
        )
        .await
        .unwrap();
    assert_eq!(
        s.waiting_commands(&a)
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        [first, second]
    );
    assert!(s.has_commands(&a).await.unwrap());
    assert_eq!(s.command_outcome(first).await.unwrap(), None);
    let lease = s.claim(&claim(&a, "w1", at(3))).await.unwrap();

    // A builder that appends nothing takes nothing.
    let mut seen = Vec::new();
    let none = s
        .append(&lease, at(3), &mut |cmds| {
            seen = cmds.iter().map(|c| c.actor.clone()).collect();
            None
        })
        .await
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(seen, ["bob", "carol"]);
    assert!(s.has_commands(&a).await.unwrap());

    // A failed append (stale version) takes nothing either.
    let stale = s
        .append(&lease, at(3), &mut |cmds| Some(settling(5, cmds, at(3))))
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { .. })),
        "{stale:?}"
    );
    assert_eq!(s.command_outcome(first).await.unwrap(), None);

    // The append that records them takes them, in its transaction.
    let v = s
        .append(&lease, at(4), &mut |cmds| {
            assert_eq!(cmds.len(), 2);
            assert_eq!(cmds[0].body, json!({"cancel": "wrong region"}));
            Some(settling(1, cmds, at(4)))
        })
        .await
        .unwrap();
    assert_eq!(v, Some(3));
    assert!(!s.has_commands(&a).await.unwrap());
    assert_eq!(
        s.command_outcome(first).await.unwrap(),
        Some(CommandOutcome::Applied { seq: 2 })
    );
    assert_eq!(
        s.command_outcome(second).await.unwrap(),
        Some(CommandOutcome::Refused {
            seq: 3,
            reason: "not now".into()
        })
    );
    let mut again = 0;
    s.append(&lease, at(5), &mut |cmds| {
        again = cmds.len();
        None
    })
    .await
    .unwrap();
    assert_eq!(again, 0, "a taken command is never seen again");
    assert!(s.has_commands(&b).await.unwrap());

    // Checked against a version that moved: refused, so the sender checks again.
    let moved = s
        .push_command(
            &a,
            at(6),
            &Actor::from_stored("dave"),
            &json!({"cancel": "x"}),
            Some(blind),
        )
        .await;
    assert!(
        matches!(moved, Err(StoreError::VersionConflict { actual: 3, .. })),
        "{moved:?}"
    );
    // A lost lease: the builder is never asked.
    let successor = s.claim(&claim(&a, "w2", at(60_000))).await.unwrap();
    s.push_command(
        &a,
        at(60_001),
        &Actor::from_stored("erin"),
        &json!({"cancel": "y"}),
        None,
    )
    .await
    .unwrap();
    let lost = s
        .append(&lease, at(60_002), &mut |_| {
            panic!("built with a lost lease")
        })
        .await;
    assert!(matches!(lost, Err(StoreError::LeaseLost(_))), "{lost:?}");
    let mut finish = projection("succeeded");
    finish.finished_at = Some(at(60_003));
    s.append(&successor, at(60_003), &mut |cmds| {
        let mut batch = settling(3, cmds, at(60_003));
        batch.projection = finish.clone();
        Some(batch)
    })
    .await
    .unwrap();
    // An ended run takes no command.
    let ended = s
        .push_command(
            &a,
            at(60_004),
            &Actor::from_stored("frank"),
            &json!({"cancel": "z"}),
            None,
        )
        .await;
    assert!(matches!(ended, Err(StoreError::Finished(_))), "{ended:?}");
}

/// A batch that records each command as one event: the first applied, the rest refused.
fn settling(expected: u64, cmds: &[Command], now: Timestamp) -> Batch {
    let events = cmds
        .iter()
        .map(|c| NewEvent {
            at: now,
            actor: c.actor.clone(),
            kind: "command".into(),
            body: c.body.to_string(),
        })
        .collect();
    let taken = cmds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let seq = expected + 1 + i as u64;
            Taken {
                id: c.id,
                body: None,
                outcome: if i == 0 {
                    CommandOutcome::Applied { seq }
                } else {
                    CommandOutcome::Refused {
                        seq,
                        reason: "not now".into(),
                    }
                },
            }
        })
        .collect();
    Batch {
        expected,
        events,
        projection: projection("running"),
        taken,
    }
}

async fn lists_resolve_and_children(s: &dyn Store) {
    let parent = run_id(10);
    let child = RunId::from_parts(at(11), 0xabc);
    let other = RunId::from_parts(at(12), 0xdef);
    s.create_run(&new_run(&parent, None), &event(0, "run_created"))
        .await
        .unwrap();
    let mut c = new_run(&child, Some(&parent));
    c.created_at = at(11);
    s.create_run(&c, &event(0, "run_created")).await.unwrap();
    let mut o = new_run(&other, None);
    o.created_at = at(12);
    o.runbook = "restore".into();
    s.create_run(&o, &event(0, "run_created")).await.unwrap();
    let all = s.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [other.clone(), child.clone(), parent.clone()],
        "newest first"
    );
    let top = s
        .list_runs(&RunFilter {
            top_level: true,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(top.len(), 2);
    let restore = s
        .list_runs(&RunFilter {
            runbook: Some("restore".into()),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(restore.len(), 1);
    let limited = s
        .list_runs(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(
        s.children(&parent)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&child)
    );
    // Drills, a time, and a page's cursor (newest first, so "before" is older).
    let ids = |rows: Vec<crate::rows::RunRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let filtered = |f: RunFilter| async move { ids(s.list_runs(&f).await.unwrap()) };
    assert_eq!(
        filtered(RunFilter {
            drill: Some(true),
            ..RunFilter::default()
        })
        .await,
        std::slice::from_ref(&child)
    );
    assert_eq!(
        filtered(RunFilter {
            drill: Some(false),
            ..RunFilter::default()
        })
        .await,
        [other.clone(), parent.clone()]
    );
    assert_eq!(
        filtered(RunFilter {
            since: Some(at(11)),
            ..RunFilter::default()
        })
        .await,
        [other.clone(), child.clone()]
    );
    assert_eq!(
        filtered(RunFilter {
            before: Some((at(11), child.clone())),
            ..RunFilter::default()
        })
        .await,
        std::slice::from_ref(&parent),
        "the page after `child`"
    );
    let row = s.run(&child).await.unwrap().unwrap();
    assert_eq!(
        (row.drill, row.trigger),
        (true, drctl_core::Trigger::Manual)
    );
    assert_eq!(s.resolve(parent.as_str()).await.unwrap(), parent);
    assert!(matches!(
        s.resolve("run_").await,
        Err(StoreError::Ambiguous { .. })
    ));
    assert!(matches!(
        s.resolve("run_zzz").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn the_ledger_records_each_run_created_and_finished(s: &dyn Store) {
    let (a, b) = (run_id(10), run_id(11));
    for id in [&a, &b] {
        s.create_run(&new_run(id, None), &event(0, "run_created"))
            .await
            .unwrap();
    }
    let lease = s.claim(&claim(&a, "w1", at(1))).await.unwrap();
    let finish = Projection {
        status: crate::rows::RunStatus::Succeeded,
        finished_at: Some(at(2)),
        release_locks: true,
        ..Projection::default()
    };
    for (n, p) in [(1, projection("running")), (2, finish)] {
        append_events(
            s,
            Append {
                lease: &lease,
                expected: n,
                events: &[event(n as i64, "x")],
                projection: &p,
                now: at(n as i64),
            },
        )
        .await
        .unwrap();
    }
    let entries = s.ledger().await.unwrap();
    let got: Vec<(u64, RunId, LedgerKind, u64)> = entries
        .iter()
        .map(|e| (e.seq, e.run.clone(), e.kind, e.version))
        .collect();
    assert_eq!(
        got,
        [
            (1, a.clone(), LedgerKind::Created, 1),
            (2, b.clone(), LedgerKind::Created, 1),
            (3, a.clone(), LedgerKind::Finished, 3),
        ],
        "appends between creation and the end do not touch the ledger"
    );
    let mut heads = Vec::new();
    for id in [&a, &b] {
        let row = s.run(id).await.unwrap().unwrap();
        let events = s.events(id, 0).await.unwrap();
        heads.push(RunHeads {
            run: id.clone(),
            first: events[0].hash.clone(),
            version: row.version,
            head: row.head_hash.clone(),
            finished: row.is_finished(),
        });
    }
    assert_eq!(ledger::verify(&entries, &heads), Ok(()));
    assert!(
        ledger::verify(&entries, &heads[1..]).is_err(),
        "a run removed is found"
    );

    // A snapshot of everything, or of one run (with the whole ledger either way).
    let all = s.snapshot(None).await.unwrap();
    assert_eq!(
        all.runs
            .iter()
            .map(|(r, e)| (r.id.clone(), e.len()))
            .collect::<Vec<_>>(),
        [(a.clone(), 3), (b.clone(), 1)]
    );
    let one = s.snapshot(Some(&b)).await.unwrap();
    assert_eq!(
        one.runs
            .iter()
            .map(|(r, e)| (r.id.clone(), e.len()))
            .collect::<Vec<_>>(),
        [(b.clone(), 1)]
    );
    assert_eq!(one.ledger, all.ledger);

    // Signed heads: the entries after the last signed one, and signatures kept once.
    assert_eq!(s.last_signed("k1").await.unwrap(), None);
    let after: Vec<u64> = s
        .ledger_after(1, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(after, [2, 3]);
    assert_eq!(
        s.ledger_after(1, 1).await.unwrap().len(),
        1,
        "at most `limit`"
    );
    let head = |seq: u64, key: &str, signature: &str| SignedHead {
        seq,
        run: entries[seq as usize - 1].run.clone(),
        hash: entries[seq as usize - 1].hash.clone(),
        key: key.into(),
        signature: signature.into(),
        signed_at: at(5),
    };
    s.add_signed_heads(&[
        head(1, "k1", "s1"),
        head(2, "k1", "s2"),
        head(1, "k2", "t1"),
    ])
    .await
    .unwrap();
    s.add_signed_heads(&[head(2, "k1", "forged")])
        .await
        .unwrap();
    assert_eq!(s.last_signed("k1").await.unwrap(), Some(2));
    assert_eq!(s.last_signed("k2").await.unwrap(), Some(1));
    assert_eq!(
        s.signed_heads().await.unwrap(),
        [
            head(1, "k1", "s1"),
            head(1, "k2", "t1"),
            head(2, "k1", "s2")
        ],
        "in order; the first signature of an entry by a key stays"
    );
}

fn firing(nominal: i64, outcome: FiringOutcome) -> NewFiring {
    NewFiring {
        runbook: "failover".into(),
        trigger: "monthly".into(),
        nominal: at(nominal),
        at: at(nominal + 5),
        outcome,
        reason: None,
    }
}

/// Two schedulers (tasks sharing the store, as two nodes share a database) race over the
/// same 20 nominal times, each creating its own run: each time is recorded once, with
/// exactly one run, and the loser's run is not created.
async fn each_nominal_time_fires_once(s: &dyn Store) {
    let node = |n: u128| async move {
        let mut won = Vec::new();
        for t in 0..20i64 {
            let id = run_id(n * 1000 + t as u128);
            let run = new_run(&id, None);
            let first = event(0, "run_created");
            let fired = s
                .record_firing(
                    &firing(t * 60_000, FiringOutcome::Started),
                    Some((&run, &first)),
                )
                .await
                .unwrap();
            if fired {
                won.push(id);
            }
            tokio::task::yield_now().await;
        }
        won
    };
    let (a, b) = tokio::join!(node(1), node(2));
    assert_eq!(a.len() + b.len(), 20, "a: {a:?}, b: {b:?}");
    let runs = s
        .list_runs(&RunFilter {
            limit: 100,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 20, "only the winners' runs exist");
    for id in a.iter().chain(&b) {
        assert!(runs.iter().any(|r| r.id == *id));
    }
    let fired = s.firings("failover", "monthly", 100).await.unwrap();
    assert_eq!(fired.len(), 20);
    assert!(
        fired.windows(2).all(|w| w[0].nominal > w[1].nominal),
        "newest first"
    );
    assert!(
        fired
            .iter()
            .all(|f| f.outcome == FiringOutcome::Started && f.run.is_some())
    );
    // A firing recorded without a run (skipped) is a key like any other.
    assert!(
        !s.record_firing(&firing(0, FiringOutcome::Skipped), None)
            .await
            .unwrap()
    );
    assert!(s.firings("other", "monthly", 10).await.unwrap().is_empty());

    // A buffered firing is started once.
    assert!(
        s.record_firing(&firing(99 * 60_000, FiringOutcome::Buffered), None)
            .await
            .unwrap()
    );
    let buffered = s.firings("failover", "monthly", 1).await.unwrap().remove(0);
    assert_eq!(buffered.outcome, FiringOutcome::Buffered);
    let (id1, id2) = (run_id(7001), run_id(7002));
    let first = event(0, "run_created");
    assert!(
        s.start_buffered(&buffered, (&new_run(&id1, None), &first))
            .await
            .unwrap()
    );
    assert!(
        !s.start_buffered(&buffered, (&new_run(&id2, None), &first))
            .await
            .unwrap()
    );
    assert!(s.run(&id2).await.unwrap().is_none());
    let started = s.firings("failover", "monthly", 1).await.unwrap().remove(0);
    assert_eq!(
        (started.outcome, started.run),
        (FiringOutcome::Started, Some(id1))
    );
}

async fn schedules_are_made_once_and_paused(s: &dyn Store) {
    let first = s.schedule("failover", "monthly", at(0)).await.unwrap();
    assert_eq!(first.since, at(0));
    assert_eq!((first.paused.clone(), first.waiver.clone()), (None, None));
    // Asked again later, it keeps the time it was first seen.
    assert_eq!(
        s.schedule("failover", "monthly", at(500)).await.unwrap(),
        first
    );
    let change = |n: i64, change: Change| ChangeRow {
        runbook: "failover".into(),
        trigger: "monthly".into(),
        at: at(n),
        by: Actor::from_stored("alice"),
        change,
    };
    let pause = change(
        10,
        Change::Pause {
            reason: "datacenter move".into(),
        },
    );
    s.change_schedule(&pause).await.unwrap();
    let paused = s.schedule("failover", "monthly", at(20)).await.unwrap();
    assert_eq!(
        paused.paused,
        Some(Pause {
            by: Actor::from_stored("alice"),
            at: at(10),
            reason: "datacenter move".into()
        })
    );
    let waive = change(
        30,
        Change::Waive {
            until: at(1_000),
            reason: "freeze".into(),
        },
    );
    s.change_schedule(&waive).await.unwrap();
    let resume = change(
        40,
        Change::Resume {
            reason: "moved".into(),
        },
    );
    s.change_schedule(&resume).await.unwrap();
    let row = s.schedule("failover", "monthly", at(50)).await.unwrap();
    assert_eq!(row.paused, None);
    assert_eq!(
        row.waiver.as_ref().map(|w| (w.until, w.reason.as_str())),
        Some((at(1_000), "freeze"))
    );
    let log = s.schedule_changes("failover", "monthly", 10).await.unwrap();
    assert_eq!(
        log,
        [resume.clone(), waive.clone(), pause.clone()],
        "newest first"
    );
    // The audit export's read: every change (and firing) in a range, oldest first.
    let missed = NewFiring {
        runbook: "failover".into(),
        trigger: "monthly".into(),
        nominal: at(5),
        at: at(35),
        outcome: FiringOutcome::Missed,
        reason: Some("paused".into()),
    };
    assert!(s.record_firing(&missed, None).await.unwrap());
    let (changes, firings) = s.schedule_log(None, None).await.unwrap();
    assert_eq!(changes, [pause, waive.clone(), resume]);
    assert_eq!(
        firings
            .iter()
            .map(|f| (f.nominal, f.at))
            .collect::<Vec<_>>(),
        [(at(5), at(35))]
    );
    let (changes, firings) = s.schedule_log(Some(at(30)), Some(at(35))).await.unwrap();
    assert_eq!((changes, firings.len()), (vec![waive], 0));
    let unknown = ChangeRow {
        runbook: "nothing".into(),
        ..change(
            60,
            Change::Resume {
                reason: String::new(),
            },
        )
    };
    assert!(matches!(
        s.change_schedule(&unknown).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        s.schedule_changes("nothing", "monthly", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A notice's key is claimed once; given back, it can be claimed again.
    assert!(
        s.claim_notice("drill_failed:failover:run_1", at(1))
            .await
            .unwrap()
    );
    assert!(
        !s.claim_notice("drill_failed:failover:run_1", at(2))
            .await
            .unwrap()
    );
    s.release_notice("drill_failed:failover:run_1")
        .await
        .unwrap();
    assert!(
        s.claim_notice("drill_failed:failover:run_1", at(3))
            .await
            .unwrap()
    );
    // Readiness: the newest check of a runbook, with its findings.
    assert_eq!(s.last_readiness("failover").await.unwrap(), None);
    let ready = ReadinessRow {
        runbook: "failover".into(),
        at: at(1),
        ready: true,
        findings: Vec::new(),
    };
    let lost = ReadinessRow {
        at: at(2),
        ready: false,
        findings: vec![Finding {
            step: "promote_db".into(),
            why: "the replica is 9 MB behind".into(),
        }],
        ..ready.clone()
    };
    s.record_readiness(&ready).await.unwrap();
    s.record_readiness(&lost).await.unwrap();
    assert_eq!(s.last_readiness("failover").await.unwrap(), Some(lost));
    assert_eq!(s.last_readiness("other").await.unwrap(), None);
}

async fn a_delivery_id_is_taken_once(s: &dyn Store) {
    let seq = s
        .claim_delivery(
            ("region-down", "failover"),
            Some("d-1"),
            (at(0), "127.0.0.1:5000"),
        )
        .await
        .unwrap()
        .unwrap();
    let run = run_id(1);
    let started = Settled {
        verdict: DeliveryVerdict::Started,
        run: Some(run.clone()),
        key: Some("group-a".into()),
        detail: None,
    };
    s.settle_delivery(seq, &started).await.unwrap();
    // The same id again is a replay: the earlier delivery comes back, nothing is written.
    let earlier = s
        .claim_delivery(
            ("region-down", "failover"),
            Some("d-1"),
            (at(5), "10.0.0.9:1"),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (earlier.seq, earlier.verdict, earlier.run.clone()),
        (seq, DeliveryVerdict::Started, Some(run.clone()))
    );
    // Another hook may use the same id; deliveries without an id never collide.
    assert!(
        s.claim_delivery(("other", "other"), Some("d-1"), (at(6), "p"))
            .await
            .unwrap()
            .is_ok()
    );
    let a = s
        .claim_delivery(("region-down", "failover"), None, (at(7), "p"))
        .await
        .unwrap()
        .unwrap();
    let b = s
        .claim_delivery(("region-down", "failover"), None, (at(8), "p"))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(
        s.holder("region-down", "group-a").await.unwrap(),
        Some(Holder {
            run,
            verdict: DeliveryVerdict::Started,
            expires: None,
            finished: None,
        })
    );
    assert_eq!(s.holder("region-down", "group-b").await.unwrap(), None);
    let listed = s.deliveries("region-down", 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].seq, b, "newest first");
    assert_eq!(listed[2].peer, "127.0.0.1:5000");
    // A delivery's run and its `started` are written together.
    let c = s
        .claim_delivery(("region-down", "failover"), Some("d-2"), (at(9), "p"))
        .await
        .unwrap()
        .unwrap();
    let id2 = run_id(2);
    let placed = s
        .start_delivery(
            c,
            Some(dedup("group-b", 9)),
            (&new_run(&id2, None), &event(0, "run_created")),
        )
        .await
        .unwrap();
    assert_eq!(placed, Placed::New);
    assert_eq!(
        s.holder("region-down", "group-b")
            .await
            .unwrap()
            .map(|h| h.run),
        Some(id2.clone())
    );
    assert!(s.run(&id2).await.unwrap().is_some());
    // A retry takes over a delivery left pending (its handler died), once.
    let p = s
        .claim_delivery(("region-down", "failover"), Some("d-3"), (at(10), "p"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.retake_delivery(p, (DeliveryVerdict::Pending, at(10)), at(70_000))
            .await
            .unwrap()
    );
    assert!(
        !s.retake_delivery(p, (DeliveryVerdict::Pending, at(10)), at(70_001))
            .await
            .unwrap()
    );
    assert!(
        !s.retake_delivery(c, (DeliveryVerdict::Pending, at(9)), at(70_002))
            .await
            .unwrap()
    );
}

/// A dedup key with a 60 s window, at `now` ms.
fn dedup(key: &str, now: i64) -> Dedup<'_> {
    Dedup {
        key,
        window: Duration::from_secs(60),
        now: at(now),
    }
}

/// Two deliveries of one key that each found no run (two servers at one instant): the
/// second to start is attached to the first one's run, and no second run exists. After
/// the first run ended and its window passed, the key starts a run again.
async fn one_key_starts_one_run(s: &dyn Store) {
    let claim_one = |n: i64| async move {
        s.claim_delivery(("region-down", "failover"), None, (at(n), "p"))
            .await
            .unwrap()
            .unwrap()
    };
    let (a, b) = (claim_one(0).await, claim_one(1).await);
    let (ra, rb) = (run_id(1), run_id(2));
    let first = s
        .start_delivery(
            a,
            Some(dedup("k", 2)),
            (&new_run(&ra, None), &event(0, "run_created")),
        )
        .await
        .unwrap();
    let second = s
        .start_delivery(
            b,
            Some(dedup("k", 3)),
            (&new_run(&rb, None), &event(0, "run_created")),
        )
        .await
        .unwrap();
    assert_eq!((first, second), (Placed::New, Placed::Attached(ra.clone())));
    assert!(s.run(&rb).await.unwrap().is_none(), "no second run");
    let listed = s.deliveries("region-down", 10).await.unwrap();
    assert_eq!(
        (listed[0].verdict, listed[0].run.clone()),
        (DeliveryVerdict::Attached, Some(ra.clone()))
    );
    // Another key, or none, starts its own run.
    let c = claim_one(4).await;
    let rc = run_id(3);
    let placed = s
        .start_delivery(c, None, (&new_run(&rc, None), &event(0, "run_created")))
        .await
        .unwrap();
    assert_eq!(placed, Placed::New);
    // The key's run ends at +10 s: within the window the key is still held, after it
    // not.
    finish_created(s, &ra, 10_000).await;
    let held = s.holder("region-down", "k").await.unwrap().unwrap();
    assert_eq!(held.finished, Some(at(10_000)));
    assert!(held.holds(Duration::from_secs(60), at(69_999)));
    assert!(!held.holds(Duration::from_secs(60), at(70_000)));
    let d = claim_one(70_000).await;
    let rd = run_id(4);
    let placed = s
        .start_delivery(
            d,
            Some(dedup("k", 70_000)),
            (&new_run(&rd, None), &event(0, "run_created")),
        )
        .await
        .unwrap();
    assert_eq!(placed, Placed::New);
    // A delivery no longer pending starts nothing.
    let err = s
        .start_delivery(
            d,
            Some(dedup("k", 70_001)),
            (&new_run(&run_id(5), None), &event(0, "run_created")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(s.run(&run_id(5)).await.unwrap().is_none());
    // Every delivery, oldest first, for the audit export.
    let all = s.deliveries_between(None, None).await.unwrap();
    assert_eq!(all.iter().map(|d| d.seq).collect::<Vec<_>>(), [a, b, c, d]);
    let some = s
        .deliveries_between(Some(at(1)), Some(at(4)))
        .await
        .unwrap();
    assert_eq!(some.iter().map(|d| d.seq).collect::<Vec<_>>(), [b]);
}

/// A proposal holds its key until it expires; it is confirmed (its run created then) or
/// rejected once; one past its deadline cannot be confirmed.
async fn proposals_are_settled_once(s: &dyn Store) {
    let claim_one = |n: i64| async move {
        s.claim_delivery(("region-down", "failover"), None, (at(n), "p"))
            .await
            .unwrap()
            .unwrap()
    };
    let proposal = |n: u128, expires: i64| Proposal {
        run: run_id(n),
        body: format!("{{\"n\": {n}}}"),
        expires: at(expires),
    };
    let a = claim_one(0).await;
    let placed = s
        .propose_delivery(a, Some(dedup("k", 0)), &proposal(1, 1_000))
        .await
        .unwrap();
    assert_eq!(placed, Placed::New);
    assert!(s.run(&run_id(1)).await.unwrap().is_none(), "only proposed");
    // The same key meanwhile joins the proposal.
    let b = claim_one(10).await;
    let placed = s
        .propose_delivery(b, Some(dedup("k", 10)), &proposal(2, 1_010))
        .await
        .unwrap();
    assert_eq!(placed, Placed::Attached(run_id(1)));
    let waiting = s.proposals(at(20)).await.unwrap();
    assert_eq!(waiting.iter().map(|(d, _)| d.seq).collect::<Vec<_>>(), [a]);
    assert_eq!(waiting[0].0.expires, Some(at(1_000)));
    assert!(s.proposals(at(1_000)).await.unwrap().is_empty(), "expired");
    let (row, body) = s.proposal(&run_id(1)).await.unwrap().unwrap();
    assert_eq!((row.seq, body.as_str()), (a, "{\"n\": 1}"));
    assert_eq!(s.proposal(&run_id(2)).await.unwrap(), None);
    // Confirmed once: the run exists; a second confirmation or a rejection finds none.
    let id = run_id(1);
    let settled = s
        .settle_proposal(
            &id,
            (at(500), &Actor::from_stored("alice"), "confirmed by alice"),
            Some((&new_run(&id, None), &event(0, "run_created"))),
        )
        .await
        .unwrap();
    assert_eq!(settled, Some(DeliveryVerdict::Started));
    assert!(s.run(&id).await.unwrap().is_some());
    assert_eq!(
        s.settle_proposal(&id, (at(501), &Actor::from_stored("bob"), "no"), None)
            .await
            .unwrap(),
        None
    );
    let (row, _) = s.proposal(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.verdict, row.detail.as_deref(), row.by),
        (
            DeliveryVerdict::Started,
            Some("confirmed by alice"),
            Some(Actor::from_stored("alice"))
        )
    );
    assert_eq!(row.runbook, "failover");
    // Rejected: nothing is created.
    let c = claim_one(600).await;
    s.propose_delivery(c, None, &proposal(3, 2_000))
        .await
        .unwrap();
    assert_eq!(
        s.settle_proposal(
            &run_id(3),
            (at(700), &Actor::from_stored("bob"), "a false alarm"),
            None
        )
        .await
        .unwrap(),
        Some(DeliveryVerdict::Rejected)
    );
    // Past its deadline: expired, and its run is not created.
    let d = claim_one(800).await;
    s.propose_delivery(d, None, &proposal(4, 900))
        .await
        .unwrap();
    let id4 = run_id(4);
    assert_eq!(
        s.settle_proposal(
            &id4,
            (at(900), &Actor::from_stored("alice"), "too late"),
            Some((&new_run(&id4, None), &event(0, "run_created"))),
        )
        .await
        .unwrap(),
        Some(DeliveryVerdict::Expired)
    );
    assert!(s.run(&id4).await.unwrap().is_none());
    // A refused attempt names nobody.
    let (row, _) = s.proposal(&id4).await.unwrap().unwrap();
    assert_eq!(
        (row.verdict, row.by, row.detail.as_deref()),
        (
            DeliveryVerdict::Expired,
            None,
            Some(crate::deliveries::EXPIRED)
        )
    );
    // Proposals past their deadline are swept: they no longer read `proposed`.
    let e = claim_one(1_000).await;
    s.propose_delivery(e, None, &proposal(5, 1_500))
        .await
        .unwrap();
    assert_eq!(s.expire_proposals(at(1_499)).await.unwrap(), 0);
    assert_eq!(s.expire_proposals(at(1_500)).await.unwrap(), 1);
    let (row, _) = s.proposal(&run_id(5)).await.unwrap().unwrap();
    assert_eq!(row.verdict, DeliveryVerdict::Expired);
}
