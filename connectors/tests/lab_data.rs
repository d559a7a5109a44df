//! The Vault and restore actions against real servers: a private copy of the DR lab
//! (`scripts/lab`, ports 264xx) with its OpenBao dev server and its PostgreSQL primary,
//! WAL archive and `db` backend in HAProxy.
//!
//! One test drives them in order, because each step builds on the state the one before
//! left (a rotated key, a dropped table); each assertion says which case failed.

#![allow(clippy::unwrap_used)]

#[path = "support/call.rs"]
mod call;
#[path = "support/lab.rs"]
mod lab;

use call::{permanent, preview, reconcile, run};
use drctl_core::{ActionError, Observed, Outlook};
use lab::Lab;
use serde_json::{Value, json};

/// `input` with more keys.
fn with(mut input: Value, more: Value) -> Value {
    let Value::Object(more) = more else {
        panic!("with() takes a map")
    };
    for (k, v) in more {
        input[k] = v;
    }
    input
}

/// Decrypts one ciphertext as the application does (its own token, its own policy):
/// the HTTP status and Vault's answer.
async fn app_decrypt(lab: &Lab, ciphertext: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/transit/decrypt/app-data",
            lab.get("DRCTL_LAB_BAO")
        ))
        .header("X-Vault-Token", lab.get("DRCTL_LAB_BAO_APP_TOKEN"))
        .json(&json!({ "ciphertext": ciphertext }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_and_restore_drive_the_real_lab() {
    let lab = Lab::up("264");
    vault(&lab).await;
    restore(&lab).await;
}

async fn vault(lab: &Lab) {
    let addr = lab.get("DRCTL_LAB_BAO");
    let token =
        json!({ "address": addr, "token": lab.get("DRCTL_LAB_BAO_TOKEN"), "key": "app-data" });
    let approle = json!({
        "address": addr,
        "role_id": lab.get("DRCTL_LAB_BAO_ROLE_ID"),
        "secret_id": lab.get("DRCTL_LAB_BAO_SECRET_ID"),
        "key": "app-data",
    });
    let pg = lab.get("DRCTL_LAB_PG_A");

    // --- reading and rotating the key --------------------------------------------------
    let k = run("vault.transit.read_key", token.clone()).await.unwrap();
    assert_eq!(k["latest_version"], 1, "{k}");
    assert_eq!(k["min_decryption_version"], 1, "{k}");
    let before = run(
        "postgres.query",
        json!({ "dsn": pg, "sql": "SELECT secret FROM app_secrets ORDER BY id" }),
    )
    .await
    .unwrap();
    let v1: Vec<String> = before["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["secret"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(v1.len(), 50, "the lab seeds 50 secrets");
    assert!(v1.iter().all(|c| c.starts_with("vault:v1:")), "{v1:?}");

    let guarded = with(approle.clone(), json!({ "if_version": 1 }));
    assert_eq!(
        reconcile("vault.transit.rotate", guarded.clone()).await,
        Observed::NotDone,
        "before the rotation"
    );
    let p = preview("vault.transit.rotate", guarded.clone(), Outlook::Change).await;
    assert!(p.contains("v1 -> v2"), "{p}");
    let r = run("vault.transit.rotate", guarded.clone()).await.unwrap();
    assert_eq!(
        (&r["previous_version"], &r["latest_version"], &r["rotated"]),
        (&json!(1), &json!(2), &json!(true)),
        "{r}"
    );
    // Key material never appears: versions and numbers only.
    assert!(r.get("keys").is_none(), "{r}");
    // Repeated with the same guard (a resumed run): no third version.
    let again = run("vault.transit.rotate", guarded.clone()).await.unwrap();
    assert_eq!(again["rotated"], false, "{again}");
    assert_eq!(again["latest_version"], 2, "{again}");
    assert!(matches!(
        reconcile("vault.transit.rotate", guarded.clone()).await,
        Observed::Done(o) if o["latest_version"] == 2
    ));
    assert!(matches!(
        reconcile("vault.transit.rotate", approle.clone()).await,
        Observed::Unknown(why) if why.contains("if_version")
    ));
    preview("vault.transit.rotate", guarded, Outlook::NoChange).await;

    // During the overlap, data encrypted before the rotation still decrypts.
    let (status, answer) = app_decrypt(lab, &v1[0]).await;
    assert_eq!(status, 200, "v1 decrypts during the overlap: {answer}");

    // --- rewrap ------------------------------------------------------------------------
    let input = with(approle.clone(), json!({ "ciphertexts": v1 }));
    let p = preview("vault.transit.rewrap", input.clone(), Outlook::Change).await;
    assert!(p.contains("50 of 50 ciphertexts rewrapped to v2"), "{p}");
    let w = run("vault.transit.rewrap", input).await.unwrap();
    assert_eq!(w["count"], 50, "{w}");
    assert_eq!(w["from_versions"], json!({ "1": 50 }), "{w}");
    assert_eq!(w["to_versions"], json!({ "2": 50 }), "{w}");
    let v2: Vec<String> = serde_json::from_value(w["ciphertexts"].clone()).unwrap();
    let (status, _) = app_decrypt(lab, &v2[0]).await;
    assert_eq!(status, 200);
    preview(
        "vault.transit.rewrap",
        with(approle.clone(), json!({ "ciphertexts": v2 })),
        Outlook::NoChange,
    )
    .await;
    let e = permanent(
        run(
            "vault.transit.rewrap",
            with(
                approle.clone(),
                json!({ "ciphertexts": ["not-a-ciphertext"] }),
            ),
        )
        .await,
        "a malformed ciphertext",
    );
    assert!(e.contains("ciphertexts[0]"), "{e}");

    // --- retiring version 1 --------------------------------------------------------------
    let retire = with(approle.clone(), json!({ "min_decryption_version": 2 }));
    let p = preview(
        "vault.transit.set_min_decryption_version",
        retire.clone(),
        Outlook::Change,
    )
    .await;
    assert!(p.contains("v1 -> v2"), "{p}");
    let m = run("vault.transit.set_min_decryption_version", retire.clone())
        .await
        .unwrap();
    assert_eq!(m["min_decryption_version"], 2, "{m}");
    assert_eq!(m["live_versions"], json!([2]), "{m}");
    let (status, answer) = app_decrypt(lab, &v1[0]).await;
    assert_eq!(status, 400, "v1 is refused once retired: {answer}");
    assert!(answer.to_string().contains("too old"), "{answer}");
    preview(
        "vault.transit.set_min_decryption_version",
        retire,
        Outlook::NoChange,
    )
    .await;
    let e = permanent(
        run(
            "vault.transit.set_min_decryption_version",
            with(token.clone(), json!({ "min_decryption_version": 9 })),
        )
        .await,
        "a version that does not exist",
    );
    assert!(e.contains("no version 9"), "{e}");

    // --- KV v2 ----------------------------------------------------------------------------
    let kv = json!({ "address": addr, "token": lab.get("DRCTL_LAB_BAO_TOKEN"), "path": "app/db" });
    let secret_value = "s3cret-value-7f3a";
    let p = preview(
        "vault.kv.put",
        with(kv.clone(), json!({ "data": { "password": secret_value } })),
        Outlook::Change,
    )
    .await;
    assert!(p.contains("version 0 -> 1"), "{p}");
    let put = run(
        "vault.kv.put",
        with(kv.clone(), json!({ "data": { "password": secret_value } })),
    )
    .await
    .unwrap();
    assert_eq!(put["version"], 1, "{put}");
    let put = run(
        "vault.kv.put",
        with(
            kv.clone(),
            json!({ "data": { "password": "second-value" }, "cas": 1 }),
        ),
    )
    .await
    .unwrap();
    assert_eq!(put["version"], 2, "{put}");
    let e = permanent(
        run(
            "vault.kv.put",
            with(kv.clone(), json!({ "data": { "password": "x" }, "cas": 1 })),
        )
        .await,
        "a stale check-and-set",
    );
    assert!(e.contains("check-and-set"), "{e}");
    let got = run("vault.kv.get", kv.clone()).await.unwrap();
    assert_eq!(got["version"], 2, "{got}");
    assert_eq!(got["fields"], json!(["password"]), "{got}");
    let old = run("vault.kv.get", with(kv.clone(), json!({ "version": 1 })))
        .await
        .unwrap();
    assert!(
        !old.to_string().contains(secret_value) && !got.to_string().contains("second-value"),
        "a value reached an output: {old} {got}"
    );
    // AppRole's policy allows KV too.
    let with_role = json!({
        "address": addr,
        "role_id": lab.get("DRCTL_LAB_BAO_ROLE_ID"),
        "secret_id": lab.get("DRCTL_LAB_BAO_SECRET_ID"),
        "path": "app/db",
    });
    assert_eq!(run("vault.kv.get", with_role).await.unwrap()["version"], 2);

    // --- errors ----------------------------------------------------------------------------
    let bad_token = "hvs.not-a-real-token";
    let e = permanent(
        run(
            "vault.transit.read_key",
            json!({ "address": addr, "token": bad_token, "key": "app-data" }),
        )
        .await,
        "a bad token",
    );
    assert!(e.contains("403") && !e.contains(bad_token), "{e}");
    let e = permanent(
        run(
            "vault.transit.rotate",
            json!({ "address": addr, "role_id": lab.get("DRCTL_LAB_BAO_ROLE_ID"),
                    "secret_id": "wrong-secret-id", "key": "app-data" }),
        )
        .await,
        "a bad AppRole secret id",
    );
    assert!(
        e.contains("AppRole login") && !e.contains("wrong-secret-id"),
        "{e}"
    );
    let e = permanent(
        run(
            "vault.transit.read_key",
            with(token.clone(), json!({ "key": "no-such-key" })),
        )
        .await,
        "a missing key",
    );
    assert!(e.contains("no transit key `no-such-key`"), "{e}");
    let r = run(
        "vault.transit.read_key",
        with(token, json!({ "address": "http://127.0.0.1:26499" })),
    )
    .await;
    assert!(
        matches!(r, Err(ActionError::Retryable(_))),
        "an unreachable Vault may come back: {r:?}"
    );
}

async fn restore(lab: &Lab) {
    let pg = lab.get("DRCTL_LAB_PG_A");
    let dir = lab.dir.display().to_string();
    let backup = format!("{dir}/pg/backups/t1");
    let out = lab.must(&["pg-backup", &backup]);
    assert!(out.contains("\"archive\""), "{out}");
    let sql = |s: &str| json!({ "dsn": pg, "sql": s });
    run(
        "postgres.query",
        sql("CREATE TABLE orders (id int PRIMARY KEY, amount numeric NOT NULL)"),
    )
    .await
    .unwrap();
    run(
        "postgres.query",
        sql("INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 100) g"),
    )
    .await
    .unwrap();
    let before = run(
        "postgres.verify",
        json!({ "dsn": pg, "tables": ["public.orders"] }),
    )
    .await
    .unwrap();
    assert_eq!(before["tables"][0]["rows"], 100, "{before}");
    let target = run(
        "postgres.query",
        sql("SELECT clock_timestamp()::text AS at"),
    )
    .await
    .unwrap()["first"]["at"]
        .as_str()
        .unwrap()
        .to_owned();
    // The fault, and writes after it that a restore to `target` must not bring back.
    run("postgres.query", sql("DROP TABLE orders"))
        .await
        .unwrap();
    run("postgres.query", sql("CREATE TABLE after_fault (id int)"))
        .await
        .unwrap();
    lab.must(&["pg-archive"]);

    let port = lab.get("DRCTL_LAB_PG_RESTORED_PORT");
    let input = json!({
        "base_backup": backup,
        "wal_archive": format!("{dir}/pg/archive"),
        "data_dir": format!("{dir}/pg/restore-t1"),
        "target_time": target,
        "port": port.parse::<u16>().unwrap(),
        "os_user": "postgres",
        "timeout": "2m",
    });
    let e = permanent(
        run(
            "postgres.restore_pitr",
            with(input.clone(), json!({ "os_user": null })),
        )
        .await,
        "root without os_user",
    );
    assert!(e.contains("os_user"), "{e}");
    let p = preview("postgres.restore_pitr", input.clone(), Outlook::Change).await;
    assert!(p.contains("archived WAL files"), "{p}");
    assert_eq!(
        reconcile("postgres.restore_pitr", input.clone()).await,
        Observed::NotDone
    );
    let r = run("postgres.restore_pitr", input.clone()).await.unwrap();
    assert_eq!(r["promoted"], true, "{r}");
    assert_eq!(r["port"].to_string(), port, "{r}");
    assert!(
        r["timeline"].as_i64().unwrap() >= 2,
        "promoted to a new timeline: {r}"
    );
    let restored = format!("postgres://postgres@127.0.0.1:{port}/postgres");

    // Every row from before the fault, none of what came after.
    let v = run(
        "postgres.verify",
        json!({ "dsn": restored, "tables": before["tables"] }),
    )
    .await
    .unwrap();
    assert_eq!(v["checks"][0]["matches"], true, "{v}");
    let e = permanent(
        run(
            "postgres.verify",
            json!({ "dsn": restored, "tables": ["public.after_fault"] }),
        )
        .await,
        "a table created after the target",
    );
    assert!(e.contains("public.after_fault: no such table"), "{e}");
    let e = permanent(
        run(
            "postgres.verify",
            json!({ "dsn": restored, "tables": [{ "name": "public.orders", "rows": 99 }] }),
        )
        .await,
        "a wrong row count",
    );
    assert!(e.contains("100 rows, expected 99"), "{e}");
    // Against another server: the damaged primary no longer has the table.
    let e = permanent(
        run(
            "postgres.verify",
            json!({ "dsn": restored, "tables": ["public.orders"], "compare_dsn": pg }),
        )
        .await,
        "a comparison with the damaged server",
    );
    assert!(e.contains("missing on 127.0.0.1:26431"), "{e}");
    assert!(matches!(
        reconcile("postgres.restore_pitr", input.clone()).await,
        Observed::Done(o) if o["promoted"] == true
    ));
    let e = permanent(
        run("postgres.restore_pitr", input.clone()).await,
        "a data directory that exists",
    );
    assert!(e.contains("exists"), "{e}");
    preview("postgres.restore_pitr", input.clone(), Outlook::WouldFail).await;

    // A target the archive never reaches: the server stops, and the step says why.
    let e = permanent(
        run(
            "postgres.restore_pitr",
            with(
                input,
                json!({ "data_dir": format!("{dir}/pg/restore-t2"), "target_time": null,
                        "target_lsn": "F/FFFFFFFF", "port": null }),
            ),
        )
        .await,
        "a target past the archive",
    );
    assert!(e.contains("recovery target"), "{e}");
}
