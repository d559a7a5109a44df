//! The PostgreSQL, Redis Sentinel and HAProxy actions against real servers: a private
//! copy of the DR lab (`scripts/lab`, ports 263xx), started and taken down by this test.
//!
//! One test drives the systems in order, because the steps change the topology (a fence,
//! a promotion, a Sentinel failover) the way a failover would; each step's assertion
//! says which case failed.

#![allow(clippy::unwrap_used)]

#[path = "support/call.rs"]
mod call;
#[path = "support/lab.rs"]
mod lab;

use call::{permanent, plan, preview, reconcile, retryable, run};
use drctl_core::{ActionError, Observed, Outlook};
use lab::Lab;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_drive_the_real_lab() {
    let lab = Lab::up("263");
    let a = lab.get("DRCTL_LAB_PG_A");
    let b = lab.get("DRCTL_LAB_PG_B");

    // --- PostgreSQL: status, queries, lag ------------------------------------------------
    let st = run("postgres.replication_status", json!({ "dsn": a }))
        .await
        .unwrap();
    assert_eq!(st["role"], "primary", "{st}");
    assert_eq!(
        st["replicas"].as_array().unwrap().len(),
        1,
        "a streams to b: {st}"
    );
    let st = run("postgres.replication_status", json!({ "dsn": b }))
        .await
        .unwrap();
    assert_eq!(st["role"], "replica", "{st}");
    assert_eq!(st["wal_receiver"], "streaming", "{st}");
    let p = preview(
        "postgres.replication_status",
        json!({ "dsn": a }),
        Outlook::Reads,
    )
    .await;
    assert!(p.contains("primary, 1 replicas"), "{p}");

    let q = run(
        "postgres.query",
        json!({ "dsn": a, "sql": "SELECT $1::int + 1 AS n, $2::text AS t, now() > $3::text::timestamptz AS later",
                "args": [41, "x", "2020-01-01T00:00:00Z"] }),
    )
    .await
    .unwrap();
    assert_eq!(
        q["first"],
        json!({ "n": 42, "t": "x", "later": true }),
        "{q}"
    );
    let q = run(
        "postgres.query",
        json!({ "dsn": a, "sql": "CREATE TABLE IF NOT EXISTS t (id int)" }),
    )
    .await
    .unwrap();
    assert_eq!(q["row_count"], 0);
    let e = permanent(
        run(
            "postgres.query",
            json!({ "dsn": a, "sql": "SELECT * FROM missing_table" }),
        )
        .await,
        "a missing table",
    );
    assert!(e.contains("42P01") && e.contains("127.0.0.1:26331"), "{e}");
    let e = permanent(
        run(
            "postgres.query",
            json!({ "dsn": a, "sql": "SELECT now() AS t" }),
        )
        .await,
        "an unconverted type",
    );
    assert!(e.contains("t::text"), "{e}");

    // A query's plan prepares the statement and never runs it.
    let p = plan(
        "postgres.query",
        json!({ "dsn": a, "sql": "SELECT * FROM missing_table" }),
    )
    .await;
    assert!(
        matches!(&p, Err(ActionError::Permanent(e)) if e.contains("42P01")),
        "{p:?}"
    );
    let p = preview(
        "postgres.query",
        json!({ "dsn": a, "sql": "SELECT count(*)::int AS n FROM t" }),
        Outlook::Reads,
    )
    .await;
    assert!(p.contains("(primary)") && p.contains("1 columns"), "{p}");
    let insert = json!({ "dsn": a, "sql": "INSERT INTO t VALUES ($1)", "args": [7] });
    preview("postgres.query", insert, Outlook::Change).await;
    let p = preview(
        "postgres.query",
        json!({ "dsn": a, "sql": "INSERT INTO t VALUES ($1)" }),
        Outlook::WouldFail,
    )
    .await;
    assert!(p.contains("1 parameters and `args` has 0"), "{p}");
    let n = run(
        "postgres.query",
        json!({ "dsn": a, "sql": "SELECT count(*)::int AS n FROM t WHERE id = 7" }),
    )
    .await
    .unwrap();
    assert_eq!(n["first"]["n"], 0, "the planned insert was not executed");

    let caught = run(
        "postgres.wait_caught_up",
        json!({ "dsn": b, "primary_dsn": a, "interval": "100ms", "timeout": "10s" }),
    )
    .await
    .unwrap();
    assert_eq!(caught["lag_bytes"], 0, "{caught}");

    // A lagging replica: replay paused while the primary writes.
    run(
        "postgres.query",
        json!({ "dsn": b, "sql": "SELECT pg_wal_replay_pause()::text" }),
    )
    .await
    .unwrap();
    run(
        "postgres.query",
        json!({ "dsn": a, "sql": "INSERT INTO t SELECT generate_series(1, 1000)" }),
    )
    .await
    .unwrap();
    let e = retryable(
        run(
            "postgres.wait_caught_up",
            json!({ "dsn": b, "primary_dsn": a, "interval": "100ms", "timeout": "1s" }),
        )
        .await,
        "a lagging replica",
    );
    assert!(e.contains("bytes") && e.contains("behind"), "{e}");
    let p = preview(
        "postgres.wait_caught_up",
        json!({ "dsn": b, "primary_dsn": a }),
        Outlook::Reads,
    )
    .await;
    assert!(
        p.contains("127.0.0.1:26332 is") && p.contains("behind"),
        "{p}"
    );
    run(
        "postgres.query",
        json!({ "dsn": b, "sql": "SELECT pg_wal_replay_resume()::text" }),
    )
    .await
    .unwrap();
    run(
        "postgres.wait_caught_up",
        json!({ "dsn": b, "primary_dsn": a, "interval": "100ms", "timeout": "10s" }),
    )
    .await
    .unwrap();

    // Unreachable and malformed.
    let down = "postgres://postgres@127.0.0.1:26339/postgres?connect_timeout=1";
    let e = retryable(
        run("postgres.replication_status", json!({ "dsn": down })).await,
        "an unreachable server",
    );
    assert!(
        e.contains("127.0.0.1:26339") && e.contains("cannot connect"),
        "{e}"
    );
    let e = permanent(
        run(
            "postgres.replication_status",
            json!({ "dsn": "host=x port=notaport password=hunter2" }),
        )
        .await,
        "a malformed string",
    );
    assert!(!e.contains("hunter2"), "{e}");

    // --- Redis and Sentinel ----------------------------------------------------------------
    let ra = lab.get("DRCTL_LAB_REDIS_A");
    let rb = lab.get("DRCTL_LAB_REDIS_B");
    let sentinels: Vec<String> = lab
        .get("DRCTL_LAB_SENTINELS")
        .split(',')
        .map(str::to_owned)
        .collect();
    let role = run("redis.role", json!({ "address": ra })).await.unwrap();
    assert_eq!(role["role"], "master", "{role}");
    let role = run("redis.role", json!({ "address": rb })).await.unwrap();
    assert_eq!(role["role"], "replica", "{role}");
    assert_eq!(role["master"], ra, "{role}");
    let agreed = run(
        "redis.wait_master",
        json!({ "sentinels": sentinels, "master": "lab", "expect": ra, "timeout": "20s" }),
    )
    .await
    .unwrap();
    assert_eq!(agreed["agreed"], 3, "{agreed}");
    let p = preview(
        "redis.wait_master",
        json!({ "sentinels": sentinels, "master": "lab" }),
        Outlook::Reads,
    )
    .await;
    assert!(p.contains(&format!("3 of 3 name {ra}")), "{p}");
    let p = preview("redis.role", json!({ "address": rb }), Outlook::Reads).await;
    assert!(p.contains(&format!("replica of {ra}")), "{p}");

    let input = json!({ "sentinels": sentinels, "master": "lab", "from": ra, "timeout": "30s" });
    assert_eq!(
        reconcile("redis.sentinel_failover", input.clone()).await,
        Observed::NotDone
    );
    let p = preview("redis.sentinel_failover", input.clone(), Outlook::Change).await;
    assert!(
        p.contains(&format!("from {ra}")) && p.contains("CKQUORUM: OK"),
        "{p}"
    );
    let role = run("redis.role", json!({ "address": ra })).await.unwrap();
    assert_eq!(role["role"], "master", "the plan moved nothing: {role}");
    let moved = run("redis.sentinel_failover", input.clone()).await.unwrap();
    assert_eq!(moved["old_master"], ra, "{moved}");
    assert_eq!(moved["new_master"], rb, "{moved}");
    let Observed::Done(seen) = reconcile("redis.sentinel_failover", input.clone()).await else {
        panic!("reconcile after the failover did not find it");
    };
    assert_eq!(seen["new_master"], rb);
    let p = preview("redis.sentinel_failover", input.clone(), Outlook::NoChange).await;
    assert!(
        p.contains(&format!("already moved from {ra} to {rb}")),
        "{p}"
    );
    // Asked again with the same `from`, it does not move the master back.
    let again = run("redis.sentinel_failover", input).await.unwrap();
    assert_eq!(again["already_moved"], true, "{again}");
    let role = run("redis.role", json!({ "address": rb })).await.unwrap();
    assert_eq!(role["role"], "master", "{role}");

    // --- HAProxy ---------------------------------------------------------------------------
    let socket = lab.get("DRCTL_LAB_HAPROXY");
    let tcp = lab.get("DRCTL_LAB_HAPROXY_TCP");
    let stats = run(
        "haproxy.stats",
        json!({ "socket": socket, "backend": "app" }),
    )
    .await
    .unwrap();
    assert_eq!(stats["servers"]["a"]["weight"], 100, "{stats}");
    assert_eq!(stats["servers"]["b"]["weight"], 0, "{stats}");
    let shift = json!({ "socket": tcp, "backend": "app",
                        "weights": [{ "server": "b", "weight": 20 }, { "server": "a", "weight": 80 }] });
    let p = preview("haproxy.set_weight", shift.clone(), Outlook::Change).await;
    assert_eq!(p, "app/b weight 0 -> 20, app/a weight 100 -> 80");
    assert_eq!(
        reconcile("haproxy.set_weight", shift.clone()).await,
        Observed::NotDone,
        "the plan set no weight"
    );
    let set = run("haproxy.set_weight", shift.clone()).await.unwrap();
    assert_eq!(
        set["weights"][0],
        json!({ "server": "b", "weight": 20, "previous": 0 }),
        "{set}"
    );
    assert!(matches!(
        reconcile("haproxy.set_weight", shift.clone()).await,
        Observed::Done(_)
    ));
    preview("haproxy.set_weight", shift, Outlook::NoChange).await;
    let stats = run(
        "haproxy.stats",
        json!({ "socket": socket, "backend": "app", "server": "a" }),
    )
    .await
    .unwrap();
    assert_eq!(stats["servers"]["a"]["weight"], 80, "{stats}");

    let drain = json!({ "socket": socket, "backend": "app", "server": "a", "state": "drain" });
    let p = preview("haproxy.set_state", drain.clone(), Outlook::Change).await;
    assert!(p.starts_with("app/a ready -> drain (status UP"), "{p}");
    assert_eq!(
        reconcile("haproxy.set_state", drain.clone()).await,
        Observed::NotDone,
        "the plan set no state"
    );
    let st = run("haproxy.set_state", drain.clone()).await.unwrap();
    assert_eq!(
        (st["previous"].as_str(), st["state"].as_str()),
        (Some("ready"), Some("drain")),
        "{st}"
    );
    assert!(matches!(
        reconcile("haproxy.set_state", drain).await,
        Observed::Done(_)
    ));
    run(
        "haproxy.set_state",
        json!({ "socket": socket, "backend": "app", "server": "a", "state": "ready" }),
    )
    .await
    .unwrap();

    let e = permanent(
        run(
            "haproxy.set_weight",
            json!({ "socket": socket, "backend": "app", "server": "zz", "weight": 1 }),
        )
        .await,
        "an unknown server",
    );
    assert!(e.contains("zz"), "{e}");
    let p = plan(
        "haproxy.set_weight",
        json!({ "socket": socket, "backend": "app", "server": "zz", "weight": 1 }),
    )
    .await;
    assert!(
        matches!(&p, Err(ActionError::Permanent(e)) if e.contains("zz")),
        "{p:?}"
    );
    let p = preview(
        "haproxy.stats",
        json!({ "socket": socket, "backend": "app" }),
        Outlook::Reads,
    )
    .await;
    assert!(
        p.contains("app/a UP weight 80") && p.contains("app/b UP weight 20"),
        "{p}"
    );
    let missing = format!("unix:{}/no-such.sock", lab.dir.display());
    let e = permanent(
        run("haproxy.stats", json!({ "socket": missing })).await,
        "a missing socket",
    );
    assert!(e.contains("does not exist"), "{e}");
    let e = retryable(
        run("haproxy.stats", json!({ "socket": "127.0.0.1:26399" })).await,
        "a refused TCP connection",
    );
    assert!(e.contains("127.0.0.1:26399"), "{e}");

    // --- Fence and promote: the PostgreSQL failover ----------------------------------------
    let fence = json!({ "dsn": a });
    let p = preview("postgres.fence", fence.clone(), Outlook::Change).await;
    assert!(
        p.starts_with("make 127.0.0.1:26331 (primary) read-only and end its"),
        "{p}"
    );
    assert_eq!(
        reconcile("postgres.fence", fence.clone()).await,
        Observed::NotDone
    );
    let fenced = run("postgres.fence", fence.clone()).await.unwrap();
    assert_eq!(
        (fenced["fenced"].as_bool(), fenced["role"].as_str()),
        (Some(true), Some("primary")),
        "{fenced}"
    );
    assert!(matches!(
        reconcile("postgres.fence", fence.clone()).await,
        Observed::Done(_)
    ));
    preview("postgres.fence", fence, Outlook::NoChange).await;
    let e = permanent(
        run(
            "postgres.query",
            json!({ "dsn": a, "sql": "INSERT INTO t VALUES (1)" }),
        )
        .await,
        "a write to a fenced primary",
    );
    assert!(e.contains("25006"), "read-only transaction: {e}");
    run(
        "postgres.wait_caught_up",
        json!({ "dsn": b, "primary_dsn": a, "interval": "100ms", "timeout": "10s" }),
    )
    .await
    .unwrap();

    let promote = json!({ "dsn": b, "wait": "30s" });
    let p = preview("postgres.promote", promote.clone(), Outlook::Change).await;
    assert!(p.starts_with("promote 127.0.0.1:26332: a replica"), "{p}");
    assert_eq!(
        reconcile("postgres.promote", promote.clone()).await,
        Observed::NotDone
    );
    let promoted = run("postgres.promote", promote.clone()).await.unwrap();
    assert_eq!(promoted["promoted"], true, "{promoted}");
    let Observed::Done(seen) = reconcile("postgres.promote", promote.clone()).await else {
        panic!("reconcile after the promotion did not find it");
    };
    assert_eq!(seen["promoted"], true);
    let p = preview("postgres.promote", promote.clone(), Outlook::NoChange).await;
    assert!(p.contains("already primary"), "{p}");
    let again = run("postgres.promote", promote).await.unwrap();
    assert_eq!(again["already_primary"], true, "{again}");
    let st = run("postgres.replication_status", json!({ "dsn": b }))
        .await
        .unwrap();
    assert_eq!(st["role"], "primary", "{st}");
    // The apps write through whichever server takes writes: now b.
    let q = run(
        "postgres.query",
        json!({ "dsn": b, "sql": "INSERT INTO t VALUES (2) RETURNING id" }),
    )
    .await
    .unwrap();
    assert_eq!(q["first"]["id"], 2);

    // The old primary crashes: fencing it is an error, unless the step takes it as down.
    lab.must(&["stop-region", "a"]);
    let e = retryable(
        run("postgres.fence", json!({ "dsn": a })).await,
        "fencing a crashed server",
    );
    assert!(e.contains("cannot connect"), "{e}");
    let out = run(
        "postgres.fence",
        json!({ "dsn": a, "if_unreachable": "assume_down" }),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["fenced"].as_bool(), out["assumed_down"].as_bool()),
        (Some(false), Some(true))
    );
    let p = plan("postgres.fence", json!({ "dsn": a })).await;
    assert!(matches!(p, Err(ActionError::Retryable(_))), "{p:?}");
    let p = preview(
        "postgres.fence",
        json!({ "dsn": a, "if_unreachable": "assume_down" }),
        Outlook::NoChange,
    )
    .await;
    assert!(p.contains("taken as down"), "{p}");

    // --- PowerDNS and DNS answers ----------------------------------------------------------
    let dns = lab.get("DRCTL_LAB_DNS");
    let api = lab.get("DRCTL_LAB_PDNS_API");
    let key = lab.get("DRCTL_LAB_PDNS_KEY");
    let check = |expect: &str, timeout: &str| {
        json!({ "name": "app.lab.drctl.test.", "server": dns, "expect": [expect],
                "interval": "50ms", "timeout": timeout })
    };
    let seen = run("dns.check", check("127.0.10.1", "2s")).await.unwrap();
    assert_eq!(seen["answer"], json!(["127.0.10.1"]), "{seen}");
    let switch = |key: &str, zone: &str| {
        json!({ "api_url": api, "api_key": key, "zone": zone,
                "records": [{ "name": "app.lab.drctl.test", "type": "A", "ttl": 5,
                              "content": ["127.0.10.2"] }] })
    };
    let p = preview(
        "dns.powerdns.set_records",
        switch(&key, "lab.drctl.test"),
        Outlook::Change,
    )
    .await;
    assert_eq!(p, "app.lab.drctl.test. A 127.0.10.1 -> 127.0.10.2");
    let e = retryable(
        run("dns.check", check("127.0.10.2", "300ms")).await,
        "an answer that has not changed",
    );
    assert!(
        e.contains("the answer is 127.0.10.1, not 127.0.10.2"),
        "{e}"
    );
    let out = run("dns.powerdns.set_records", switch(&key, "lab.drctl.test"))
        .await
        .unwrap();
    assert_eq!(
        out["records"][0],
        json!({ "name": "app.lab.drctl.test.", "type": "A", "ttl": 5,
                "content": ["127.0.10.2"], "previous": ["127.0.10.1"] }),
        "{out}"
    );
    // A real query, straight to the server, sees the new address.
    let seen = run("dns.check", check("127.0.10.2", "5s")).await.unwrap();
    assert_eq!(seen["answer"], json!(["127.0.10.2"]), "{seen}");
    preview(
        "dns.powerdns.set_records",
        switch(&key, "lab.drctl.test"),
        Outlook::NoChange,
    )
    .await;
    let p = preview("dns.check", check("127.0.10.2", "1s"), Outlook::Reads).await;
    assert!(p.contains("already the expected answer"), "{p}");
    let e = permanent(
        run(
            "dns.powerdns.set_records",
            switch("wrong-key", "lab.drctl.test"),
        )
        .await,
        "a wrong API key",
    );
    assert!(
        e.contains("API key was refused") && !e.contains(&key),
        "{e}"
    );
    let e = permanent(
        run("dns.powerdns.set_records", switch(&key, "nowhere.test")).await,
        "an unknown zone",
    );
    assert!(e.contains("nowhere.test.") && e.contains("HTTP 404"), "{e}");
    let mut down = switch(&key, "lab.drctl.test");
    down["api_url"] = json!("http://127.0.0.1:26359");
    retryable(
        run("dns.powerdns.set_records", down).await,
        "an unreachable API",
    );
    let mut silent = check("127.0.10.2", "300ms");
    silent["server"] = json!("127.0.0.1:26359");
    let e = retryable(run("dns.check", silent).await, "a DNS server that is down");
    assert!(e.contains("127.0.0.1:26359"), "{e}");

    // --- Sentinel quorum lost ------------------------------------------------------------
    lab.kill("redis/sentinel-1.pid");
    lab.kill("redis/sentinel-2.pid");
    let e = retryable(
        run(
            "redis.sentinel_failover",
            json!({ "sentinels": sentinels, "master": "lab", "timeout": "5s" }),
        )
        .await,
        "a failover without quorum",
    );
    assert!(e.contains("quorum"), "{e}");
    let p = preview(
        "redis.sentinel_failover",
        json!({ "sentinels": sentinels, "master": "lab" }),
        Outlook::WouldFail,
    )
    .await;
    assert!(p.contains("quorum lost: 1 of 3 answer and 2 must"), "{p}");
    let e = retryable(
        run(
            "redis.wait_master",
            json!({ "sentinels": sentinels, "master": "lab", "timeout": "1s" }),
        )
        .await,
        "agreement without quorum",
    );
    assert!(e.contains("unreachable"), "{e}");
}
