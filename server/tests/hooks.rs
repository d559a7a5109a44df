//! `POST /hooks/{name}` on a real listener and the in-memory store: each scheme valid and
//! refused, rotation, stale timestamps, replays, dedup (attached), cooldown, filters,
//! 413, 415, 429; and no secret or signature in any record.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use drctl_connectors::Registry;
use drctl_core::Clock;
use drctl_engine::clock::SystemClock;
use drctl_engine::{DriveOptions, Engine, EngineConfig};
use drctl_server::api::{Api, Parts};
use drctl_server::{ServeConfig, Supervisor};
use drctl_store::{DeliveryVerdict, MemoryStore, Store};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

struct Host {
    url: String,
    store: Arc<dyn Store>,
    engine: Engine,
    _dir: Folder,
    stop: tokio_util::sync::CancellationToken,
}

struct Folder(std::path::PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A server whose folder holds `yaml`, and the hook's secrets as files beside it
/// (`@DIR@` in `yaml` stands for the folder).
async fn host(yaml: &str, secrets: &[(&str, &str)]) -> Host {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = Folder(std::env::temp_dir().join(format!("drctl-hooks-{}-{n}", std::process::id())));
    std::fs::create_dir_all(dir.0.join("secrets")).unwrap();
    for (name, value) in secrets {
        std::fs::write(dir.0.join("secrets").join(name), value).unwrap();
    }
    let yaml = yaml.replace("@DIR@", &dir.0.display().to_string());
    std::fs::write(dir.0.join("hooked.yaml"), yaml).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let registry = Registry::builtin();
    let engine = Engine::new(
        store.clone(),
        Arc::new(registry.clone()),
        clock.clone(),
        EngineConfig::default(),
    );
    let token = |name: &str, role, identity: &str| drctl_server::api::auth::TokenEntry {
        name: name.into(),
        role,
        identity: drctl_core::Actor::person(identity).unwrap(),
        sha256: drctl_server::api::auth::digest(&format!("{name}-token")),
    };
    use drctl_server::api::auth::Role;
    let config = ServeConfig {
        runbooks: Some(dir.0.clone()),
        // `NAME-token` is each one's bearer token.
        token: vec![
            token("olga", Role::Operator, "olga"),
            token("vic", Role::Viewer, "vic"),
        ],
        ..ServeConfig::default()
    };
    // Runs are created, not driven: the supervisor is not running.
    let supervisor = Supervisor::new(
        engine.clone(),
        store.clone(),
        clock.clone(),
        config.clone(),
        |_| {},
    );
    let api = Api::new(Parts {
        engine: engine.clone(),
        store: store.clone(),
        clock,
        registry,
        config,
        groups: Default::default(),
        supervisor: supervisor.handle(),
        metrics: Arc::new(drctl_server::metrics::Metrics::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(api.serve(listener, stop.clone()));
    Host {
        url,
        store,
        engine,
        _dir: dir,
        stop,
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn now_secs() -> i64 {
    SystemClock::new().now().as_millis() / 1000
}

async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Request headers, by name.
type Headers = Vec<(&'static str, String)>;

fn json_type() -> (&'static str, String) {
    ("content-type", "application/json".to_owned())
}

fn hook(name: &str, auth: &str, extra: &str) -> String {
    format!(
        "runbook: hooked\nparams:\n  region: {{ type: string }}\ntriggers:\n  - webhook:\n      name: {name}\n      auth: {auth}\n      params: {{ region: \"{{{{ payload.region }}}}\" }}\n{extra}steps:\n  - {{ id: a, action: log, with: {{ message: \"{{{{ params.region }}}}\" }} }}\n"
    )
}

#[tokio::test]
async fn standard_webhooks_signed_rotated_stale_replayed() {
    let key = b"a standard webhooks secret key!!";
    let secret = format!("whsec_{}", B64.encode(key));
    let h = host(
        &hook(
            "std",
            "{ scheme: standard, secrets: [ { file: @DIR@/secrets/old }, { file: @DIR@/secrets/new } ] }",
            "      dedup_key: \"{{ payload.region }}\"\n",
        ),
        &[("old", "whsec_b2xkIHNlY3JldA=="), ("new", &secret)],
    )
    .await;
    let url = format!("{}/hooks/std", h.url);
    let sign = |id: &str, ts: i64, body: &[u8], k: &[u8]| {
        vec![
            json_type(),
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                format!(
                    "v1,{}",
                    B64.encode(hmac(
                        k,
                        &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body]
                    ))
                ),
            ),
        ]
    };
    let body = br#"{"region":"eu-west-1"}"#;
    let (code, answer) = post(&url, &sign("msg_1", now_secs(), body, key), body).await;
    assert_eq!(
        (code, answer["status"].as_str()),
        (202, Some("started")),
        "{answer}"
    );
    let run = answer["run"].as_str().unwrap().to_owned();
    // The same delivery again: a replay, naming what the first did.
    let (code, problem) = post(&url, &sign("msg_1", now_secs(), body, key), body).await;
    assert_eq!(code, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&run),
        "{problem}"
    );
    // Another delivery with the same key while the run goes on: attached to it.
    let (code, answer) = post(&url, &sign("msg_2", now_secs(), body, key), body).await;
    assert_eq!(
        (code, answer["status"].as_str(), answer["run"].as_str()),
        (202, Some("attached"), Some(run.as_str()))
    );
    // Wrong key, stale timestamp, changed body, no headers: 401, one answer for all.
    for headers in [
        sign("msg_3", now_secs(), body, b"some other key entirely......."),
        sign("msg_4", now_secs() - 400, body, key),
        sign("msg_5", now_secs(), b"{}", key),
        vec![json_type()],
    ] {
        let (code, problem) = post(&url, &headers, body).await;
        assert_eq!(
            (
                code,
                problem["type"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with("unauthorized")
            ),
            (401, true),
            "{problem}"
        );
        assert_eq!(problem["detail"], "the delivery does not verify");
    }
    // Every delivery is on record, refused ones with why; no secret, no signature.
    let records = h.store.deliveries("std", 50).await.unwrap();
    assert_eq!(records.len(), 7, "{records:#?}");
    assert!(
        records
            .iter()
            .any(|r| r.verdict == DeliveryVerdict::Unauthorized
                && r.detail.as_deref().unwrap_or("").contains("timestamp"))
    );
    let all = format!("{records:?}")
        + &format!(
            "{:?}",
            h.store.events(&run.parse().unwrap(), 0).await.unwrap()
        );
    for leak in [
        secret.as_str(),
        "whsec_",
        &B64.encode(hmac(key, &[b"msg_1."])),
    ] {
        assert!(!all.contains(leak), "{leak} leaked");
    }
}

#[tokio::test]
async fn github_pagerduty_slack_grafana_and_bearer() {
    let files = [
        ("hmac", "It's a Secret to Everybody"),
        ("token", "alertmanager-token"),
    ];
    let body = br#"{"region":"us-east-1"}"#;
    let secret = b"It's a Secret to Everybody";
    let hex_sig = hex::encode(hmac(secret, &[body]));
    let ts = now_secs().to_string();
    let cases: Vec<(&str, &str, Headers)> = vec![
        (
            "github",
            "{ scheme: github, secrets: [ { file: @DIR@/secrets/hmac } ] }",
            vec![
                ("x-hub-signature-256", format!("sha256={hex_sig}")),
                ("x-github-delivery", "gh-1".into()),
            ],
        ),
        (
            "pagerduty",
            "{ scheme: pagerduty, secrets: [ { file: @DIR@/secrets/hmac } ] }",
            vec![
                ("x-pagerduty-signature", format!("v1=deadbeef,v1={hex_sig}")),
                ("x-webhook-id", "pd-1".into()),
            ],
        ),
        (
            "slack",
            "{ scheme: slack, secrets: [ { file: @DIR@/secrets/hmac } ] }",
            vec![
                ("x-slack-request-timestamp", ts.clone()),
                (
                    "x-slack-signature",
                    format!(
                        "v0={}",
                        hex::encode(hmac(secret, &[b"v0:", ts.as_bytes(), b":", body]))
                    ),
                ),
            ],
        ),
        (
            "grafana",
            "{ scheme: grafana, secrets: [ { file: @DIR@/secrets/hmac } ] }",
            vec![("x-grafana-alerting-signature", hex_sig.clone())],
        ),
        (
            "bearer",
            "{ scheme: bearer, secrets: [ { file: @DIR@/secrets/token } ] }",
            vec![("authorization", "Bearer alertmanager-token".into())],
        ),
    ];
    for (name, auth, headers) in cases {
        let h = host(&hook(name, auth, ""), &files).await;
        let url = format!("{}/hooks/{name}", h.url);
        let mut with_type = headers.clone();
        with_type.push(json_type());
        let (code, answer) = post(&url, &with_type, body).await;
        assert_eq!(
            (code, answer["status"].as_str()),
            (202, Some("started")),
            "{name}: {answer}"
        );
        // Tampered: the signature's last hex digit (or the token's last letter) changed.
        let mut bad = with_type.clone();
        let last = bad
            .iter()
            .position(|(k, _)| k.contains("signature") || *k == "authorization")
            .unwrap();
        let v = &mut bad[last].1;
        let flipped = if v.ends_with('0') { '1' } else { '0' };
        v.pop();
        v.push(flipped);
        let (code, _) = post(&url, &bad, body).await;
        assert_eq!(code, 401, "{name}");
        // Not JSON: 415, before anything is verified.
        let (code, problem) = post(&url, &headers, body).await;
        assert_eq!(code, 415, "{name}: {problem}");
    }
}

#[tokio::test]
async fn alertmanager_filter_dedup_cooldown_size_and_rate() {
    let h = host(
        &hook(
            "am",
            "{ scheme: bearer, secrets: [ { file: @DIR@/secrets/am } ] }",
            "      format: alertmanager\n      filter: \"{{ payload.commonLabels.severity == 'critical' }}\"\n      cooldown: 15m\n      rate: 20\n",
        ),
        &[("am", "am-token-0123456789")],
    )
    .await;
    // The params template reads payload.region: Alertmanager's payload has it at top
    // level in this test's groups.
    let url = format!("{}/hooks/am", h.url);
    let auth = vec![
        json_type(),
        ("authorization", "Bearer am-token-0123456789".to_owned()),
    ];
    let group = |key: &str, status: &str, severity: &str| {
        json!({
            "version": "4", "groupKey": key, "status": status, "receiver": "drctl",
            "groupLabels": {}, "commonLabels": { "severity": severity }, "commonAnnotations": {},
            "externalURL": "http://am", "truncatedAlerts": 0, "alerts": [], "region": "eu-west-1",
        })
        .to_string()
    };
    let (code, a) = post(
        &url,
        &auth,
        group("{}:{alertname=\"RegionDown\"}", "firing", "critical").as_bytes(),
    )
    .await;
    assert_eq!((code, a["status"].as_str()), (202, Some("started")), "{a}");
    let run: drctl_core::RunId = a["run"].as_str().unwrap().parse().unwrap();
    // The same group again: attached (groupKey is the dedup key of this format).
    let (_, a) = post(
        &url,
        &auth,
        group("{}:{alertname=\"RegionDown\"}", "firing", "critical").as_bytes(),
    )
    .await;
    assert_eq!(a["status"], "attached");
    // Resolved, or not critical: filtered.
    let (_, a) = post(
        &url,
        &auth,
        group("other", "resolved", "critical").as_bytes(),
    )
    .await;
    assert_eq!(a["status"], "filtered");
    let (_, a) = post(&url, &auth, group("other", "firing", "warning").as_bytes()).await;
    assert_eq!(a["status"], "filtered");
    // Not version 4: 422.
    let (code, _) = post(&url, &auth, br#"{"version":"3","status":"firing"}"#).await;
    assert_eq!(code, 422);
    // The run ends; another group within the cooldown: recorded, no run.
    h.engine.drive(&run, DriveOptions::default()).await.unwrap();
    let (_, a) = post(
        &url,
        &auth,
        group("another", "firing", "critical").as_bytes(),
    )
    .await;
    assert_eq!(a["status"], "cooled_down", "{a}");
    assert_eq!(
        h.store
            .list_runs(&drctl_store::RunFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
    // Over 1 MiB: 413.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    let (code, p) = post(&url, &auth, big.as_bytes()).await;
    assert_eq!(code, 413, "{p}");
    // 20 a minute: the rest of the burst, then 429.
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(
            post(&url, &auth, group("x", "resolved", "critical").as_bytes())
                .await
                .0,
        );
    }
    assert!(codes.contains(&429), "{codes:?}");
    assert_eq!(codes.last(), Some(&429));
    // Unknown hooks are 404 and not recorded.
    let (code, _) = post(&format!("{}/hooks/nope", h.url), &auth, b"{}").await;
    assert_eq!(code, 404);
    assert!(h.store.deliveries("nope", 5).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_hook_without_a_usable_secret_is_not_ready_and_a_failed_start_can_be_retried() {
    // The only secret is too short: the server cannot verify anything (503, recorded).
    let h = host(
        &hook(
            "weak",
            "{ scheme: bearer, secrets: [ { file: @DIR@/secrets/t } ] }",
            "",
        ),
        &[("t", "short")],
    )
    .await;
    let url = format!("{}/hooks/weak", h.url);
    let (code, p) = post(
        &url,
        &[json_type(), ("authorization", "Bearer short".into())],
        b"{}",
    )
    .await;
    assert_eq!(code, 503, "{p}");
    let records = h.store.deliveries("weak", 5).await.unwrap();
    assert!(
        records[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("shorter than 16"),
        "{records:?}"
    );
    // A run that cannot start (its step secret is missing) is 503 with nothing of the
    // server's files in the answer; the sender's retry of that delivery is taken again.
    let yaml = "runbook: hooked\nsecrets:\n  db: { file: @DIR@/secrets/db }\ntriggers:\n  - webhook:\n      name: gh\n      auth: { scheme: github, secrets: [ { file: @DIR@/secrets/h } ] }\nsteps:\n  - { id: a, action: postgres.replication_status, with: { dsn: \"{{ secrets.db }}\" } }\n";
    let secret = "a github secret for the test";
    let h = host(yaml, &[("h", secret)]).await;
    let url = format!("{}/hooks/gh", h.url);
    let body = br#"{"x":1}"#;
    let sig = hex::encode(hmac(secret.as_bytes(), &[body]));
    let headers = vec![
        json_type(),
        ("x-hub-signature-256", format!("sha256={sig}")),
        ("x-github-delivery", "gh-77".into()),
    ];
    let (code, p) = post(&url, &headers, body).await;
    assert_eq!(code, 503, "{p}");
    assert!(
        !p.to_string().contains(&h._dir.0.display().to_string()),
        "a server path in the answer: {p}"
    );
    let dir = h._dir.0.clone();
    std::fs::write(dir.join("secrets/db"), "postgres://db.example/app").unwrap();
    let (code, a) = post(&url, &headers, body).await;
    assert_eq!((code, a["status"].as_str()), (202, Some("started")), "{a}");
    // And now it is a replay.
    let (code, _) = post(&url, &headers, body).await;
    assert_eq!(code, 409);
}

#[tokio::test]
async fn replays_and_strangers_do_not_spend_the_rate() {
    let secret = "a github secret for the rate test";
    let h = host(
        &hook(
            "gh",
            "{ scheme: github, secrets: [ { file: @DIR@/secrets/h } ] }",
            "      rate: 3\n",
        ),
        &[("h", secret)],
    )
    .await;
    let url = format!("{}/hooks/gh", h.url);
    let signed = |id: &str, body: &[u8]| {
        vec![
            json_type(),
            (
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body]))),
            ),
            ("x-github-delivery", id.to_owned()),
        ]
    };
    let body = br#"{"region":"cap"}"#;
    assert_eq!(post(&url, &signed("captured-1", body), body).await.0, 202);
    // A captured delivery replayed 20 times, and 20 strangers: none of it is the rate's.
    for _ in 0..20 {
        assert_eq!(post(&url, &signed("captured-1", body), body).await.0, 409);
        assert_eq!(
            post(
                &url,
                &[json_type(), ("x-hub-signature-256", "sha256=00".into())],
                body
            )
            .await
            .0,
            401
        );
    }
    let other = br#"{"region":"b"}"#;
    assert_eq!(post(&url, &signed("legit-2", other), other).await.0, 202);
    // Refusals before proof (and replays) are recorded at the hook's rate at most.
    let records = h.store.deliveries("gh", 100).await.unwrap();
    assert!(records.len() <= 2 + 3, "{} records", records.len());
}

/// `GET`/`POST` to the API as the token `who-token`.
async fn api(url: &str, who: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let req = match body {
        Some(b) => client.post(url).json(&b),
        None => client.get(url),
    };
    let res = req
        .bearer_auth(format!("{who}-token"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn confirm_proposes_a_person_confirms_or_rejects_and_the_audit_holds_every_delivery() {
    let h = host(
        &hook(
            "page",
            "{ scheme: bearer, secrets: [ { file: @DIR@/secrets/page } ] }",
            "      dedup_key: \"{{ payload.incident }}\"\n      confirm: true\n      confirm_within: 10m\n",
        ),
        &[("page", "page-token-0123456789")],
    )
    .await;
    let url = format!("{}/hooks/page", h.url);
    let auth = vec![
        json_type(),
        ("authorization", "Bearer page-token-0123456789".to_owned()),
    ];
    let incident = |id: &str| json!({ "incident": id, "region": "eu-west-1" }).to_string();
    // Proposed: a run id, and no run yet.
    let (code, a) = post(&url, &auth, incident("i-1").as_bytes()).await;
    assert_eq!((code, a["status"].as_str()), (202, Some("proposed")), "{a}");
    let run: drctl_core::RunId = a["run"].as_str().unwrap().parse().unwrap();
    assert!(h.store.run(&run).await.unwrap().is_none());
    // The same incident joins the proposal.
    let (_, b) = post(&url, &auth, incident("i-1").as_bytes()).await;
    assert_eq!(
        (b["status"].as_str(), &b["run"]),
        (Some("attached"), &a["run"])
    );
    // Listed for people, with the params it would start with.
    let proposals = format!("{}/api/v1/proposals", h.url);
    let (code, list) = api(&proposals, "vic", None).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["proposals"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["proposals"][0]["params"]["region"], "eu-west-1");
    assert_eq!(list["proposals"][0]["status"], "proposed");
    // A viewer cannot confirm; a reason is required; an id must be whole.
    let confirm = format!("{proposals}/{run}/confirm");
    let reason = json!({ "reason": "the region is down, checked the dashboards" });
    assert_eq!(api(&confirm, "vic", Some(reason.clone())).await.0, 403);
    assert_eq!(api(&confirm, "olga", Some(json!({}))).await.0, 422);
    let bad = format!("{proposals}/run_nope/confirm");
    assert_eq!(api(&bad, "olga", Some(reason.clone())).await.0, 404);
    let other = drctl_core::RunId::from_parts(drctl_core::Timestamp::from_millis(1), 7);
    let unknown = format!("{proposals}/{other}/confirm");
    assert_eq!(api(&unknown, "olga", Some(reason.clone())).await.0, 404);
    // Confirmed: the run exists, created by the person who confirmed it, once.
    let (code, view) = api(&confirm, "olga", Some(reason.clone())).await;
    assert_eq!(
        (code, view["status"].as_str()),
        (202, Some("started")),
        "{view}"
    );
    let row = h.store.run(&run).await.unwrap().unwrap();
    assert_eq!(
        (row.actor.to_string(), row.trigger.to_string()),
        ("olga".to_owned(), "webhook:page".to_owned())
    );
    let (code, again) = api(&confirm, "olga", Some(reason.clone())).await;
    assert_eq!(code, 409, "{again}");
    // A delivery of the incident while its run goes on joins the run, and its log.
    let (_, c) = post(&url, &auth, incident("i-1").as_bytes()).await;
    assert_eq!(
        (c["status"].as_str(), &c["run"]),
        (Some("attached"), &a["run"])
    );
    h.engine.drive(&run, DriveOptions::default()).await.unwrap();
    let events = h.store.events(&run, 0).await.unwrap();
    let joined: Vec<&drctl_store::StoredEvent> = events
        .iter()
        .filter(|e| e.kind == "delivery_attached")
        .collect();
    assert_eq!(joined.len(), 1, "{events:?}");
    assert!(
        joined[0].body.contains("\"hook\":\"page\""),
        "{}",
        joined[0].body
    );
    // Another incident, rejected: nothing runs, and it cannot be confirmed after.
    let (_, d) = post(&url, &auth, incident("i-2").as_bytes()).await;
    assert_eq!(d["status"], "proposed", "{d}");
    let second: drctl_core::RunId = d["run"].as_str().unwrap().parse().unwrap();
    let reject = format!("{proposals}/{second}/reject");
    let (code, view) = api(&reject, "olga", Some(json!({ "reason": "a false alarm" }))).await;
    assert_eq!(
        (code, view["status"].as_str()),
        (200, Some("rejected")),
        "{view}"
    );
    assert_eq!(view["detail"], "rejected by olga: a false alarm");
    let confirm2 = format!("{proposals}/{second}/confirm");
    assert_eq!(api(&confirm2, "olga", Some(reason)).await.0, 409);
    assert!(h.store.run(&second).await.unwrap().is_none());
    let (_, list) = api(&proposals, "vic", None).await;
    assert!(list["proposals"].as_array().unwrap().is_empty(), "{list}");
    // The audit export holds every delivery (refused ones too), never the token.
    let (code, _) = post(&url, &[json_type()], incident("i-3").as_bytes()).await;
    assert_eq!(code, 401);
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/audit/export", h.url))
        .bearer_auth("vic-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = res.text().await.unwrap();
    let verified = drctl_evidence::audit::verify_file(&text).unwrap();
    let stored = h.store.deliveries("page", 100).await.unwrap();
    assert_eq!(stored.len(), 5);
    assert_eq!(verified.service.deliveries, 5, "{text}");
    let verdicts: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["record"] == "delivery")
        .map(|v| v["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        verdicts,
        [
            "started",
            "attached",
            "attached",
            "rejected",
            "unauthorized"
        ]
    );
    assert!(!text.contains("page-token-0123456789"));
    // A record taken out of the export is found.
    let cut: String = text
        .lines()
        .filter(|l| !l.contains("\"unauthorized\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(drctl_evidence::audit::verify_file(&cut).is_err());
}

#[tokio::test]
async fn a_delivery_that_joins_a_running_run_is_in_its_log_whatever_its_key() {
    let h = host(
        &hook(
            "keyed",
            "{ scheme: bearer, secrets: [ { file: @DIR@/secrets/keyed } ] }",
            "      dedup_key: \"{{ payload.k }}\"\n",
        ),
        &[("keyed", "keyed-token-0123456789")],
    )
    .await;
    let url = format!("{}/hooks/keyed", h.url);
    let auth = vec![
        json_type(),
        ("authorization", "Bearer keyed-token-0123456789".to_owned()),
    ];
    // A key with a newline, an escape sequence and a bidirectional override.
    let body = json!({ "k": "a\nb\u{1b}[2J\u{202e}c", "region": "r" }).to_string();
    let (_, a) = post(&url, &auth, body.as_bytes()).await;
    assert_eq!(a["status"], "started", "{a}");
    let (_, b) = post(&url, &auth, body.as_bytes()).await;
    assert_eq!(
        (b["status"].as_str(), &b["run"]),
        (Some("attached"), &a["run"])
    );
    let run: drctl_core::RunId = a["run"].as_str().unwrap().parse().unwrap();
    h.engine.drive(&run, DriveOptions::default()).await.unwrap();
    let events = h.store.events(&run, 0).await.unwrap();
    let joined: Vec<Value> = events
        .iter()
        .filter(|e| e.kind == "delivery_attached")
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    assert_eq!(joined.len(), 1, "{events:?}");
    assert_eq!(joined[0]["key"], "a\\nb\\u{1b}[2J\\u{202e}c");
}
