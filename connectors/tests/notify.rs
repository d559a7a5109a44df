//! The notification actions against a local receiver that checks each provider's
//! documented format and verifies webhook signatures (see `support/receiver.rs`).

#![allow(clippy::unwrap_used)]

#[path = "support/call.rs"]
mod call;
#[path = "support/receiver.rs"]
mod receiver;

use call::{ctx, run};
use drctl_core::ActionError;
use receiver::{HOOK_SECRET, Receiver};
use serde_json::json;

/// A Slack webhook path has the shape of a real one: the token is the credential.
const SLACK_PATH: &str = "/services/T0001/B0001/SlackTokenSecret42";
const ROUTING_KEY: &str = "R0UT1NGKEY0123456789abcdefABCDEF";

fn message(e: &ActionError) -> String {
    match e {
        ActionError::Retryable(m) | ActionError::Permanent(m) => m.clone(),
        ActionError::Cancelled => "cancelled".into(),
    }
}

#[tokio::test]
async fn slack_posts_the_documented_message_and_keeps_its_webhook_out_of_errors() {
    let r = Receiver::start().await;
    let webhook = format!("{}{SLACK_PATH}", r.base);
    let out = run(
        "notify.slack",
        json!({"webhook": webhook, "text": "Failover *done* in 4m", "channel": "#dr"}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"status": 200}));
    let got = r.accepted();
    assert_eq!(got.len(), 1, "refused: {:?}", r.refused());
    assert_eq!(got[0].path, SLACK_PATH);
    assert_eq!(
        got[0].body,
        json!({"text": "Failover *done* in 4m", "channel": "#dr"})
    );

    // Slack in trouble: retryable, and the message carries neither URL nor token.
    r.fail_next(1);
    let e = run("notify.slack", json!({"webhook": webhook, "text": "x"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::Retryable(_)), "{e:?}");
    assert!(message(&e).contains("Slack answered HTTP 503"), "{e:?}");
    assert!(!message(&e).contains("SlackTokenSecret42"), "{e:?}");

    // Nobody listening: retryable, still no token.
    let e = run(
        "notify.slack",
        json!({"webhook": format!("http://127.0.0.1:9{SLACK_PATH}"), "text": "x"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ActionError::Retryable(_)), "{e:?}");
    assert!(!message(&e).contains("SlackTokenSecret42"), "{e:?}");

    // An empty message is refused before anything is sent.
    let before = r.requests();
    let e = run("notify.slack", json!({"webhook": webhook, "text": "  "}))
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::Permanent(_)), "{e:?}");
    assert_eq!(r.requests(), before);
}

#[tokio::test]
async fn slack_refusing_the_payload_is_permanent() {
    let r = Receiver::start().await;
    // A webhook URL that is not Slack's shape: the receiver answers 400 as Slack does for
    // a payload it cannot use, and the action must not retry that.
    let e = run(
        "notify.slack",
        json!({"webhook": format!("{}/not-a-slack-path", r.base), "text": "hello"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ActionError::Permanent(_)), "{e:?}");
}

#[tokio::test]
async fn pagerduty_triggers_acknowledges_and_resolves_one_incident_keyed_by_the_run() {
    let r = Receiver::start().await;
    let url = format!("{}/v2/enqueue", r.base);
    let run_id = ctx().run.to_string();
    let trigger = run(
        "notify.pagerduty",
        json!({
            "url": url, "routing_key": ROUTING_KEY, "event_action": "trigger",
            "summary": "region a is down; failover started", "severity": "critical",
            "component": "postgres", "custom_details": {"from": "a", "to": "b"},
        }),
    )
    .await
    .unwrap();
    assert_eq!(trigger, json!({"status": 202, "dedup_key": run_id}));
    for action in ["acknowledge", "resolve"] {
        let out = run(
            "notify.pagerduty",
            json!({"url": url, "routing_key": ROUTING_KEY, "event_action": action}),
        )
        .await
        .unwrap();
        assert_eq!(out["dedup_key"], json!(run_id));
    }
    assert!(r.refused().is_empty(), "{:?}", r.refused());
    let got = r.accepted();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].body,
        json!({
            "routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": run_id,
            "payload": {
                "summary": "region a is down; failover started", "source": "drctl",
                "severity": "critical", "component": "postgres",
                "custom_details": {"from": "a", "to": "b"},
            },
            "client": "drctl",
        })
    );
    assert_eq!(
        got[2].body,
        json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": run_id})
    );

    // A long summary is cut to PagerDuty's 1024 characters rather than refused.
    let long = "x".repeat(5000);
    run(
        "notify.pagerduty",
        json!({"url": url, "routing_key": ROUTING_KEY, "event_action": "trigger", "summary": long, "dedup_key": "k"}),
    )
    .await
    .unwrap();
    let last = r.accepted().pop().unwrap();
    assert_eq!(
        last.body["payload"]["summary"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1024
    );
}

#[tokio::test]
async fn pagerduty_errors_are_classed_for_retries() {
    let r = Receiver::start().await;
    let url = format!("{}/v2/enqueue", r.base);
    // A trigger without a summary never leaves drctl.
    let e = run(
        "notify.pagerduty",
        json!({"url": url, "routing_key": ROUTING_KEY, "event_action": "trigger"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ActionError::Permanent(m) if m.contains("summary")),
        "{e:?}"
    );
    assert_eq!(r.requests(), 0);
    // An invalid key: PagerDuty's 400 is permanent, and its reason is in the message.
    let e = run(
        "notify.pagerduty",
        json!({"url": url, "routing_key": "short", "event_action": "resolve"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ActionError::Permanent(m) if m.contains("HTTP 400") && m.contains("routing_key")),
        "{e:?}"
    );
    // Overloaded: retryable.
    r.fail_next(1);
    let e = run(
        "notify.pagerduty",
        json!({"url": url, "routing_key": ROUTING_KEY, "event_action": "resolve"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ActionError::Retryable(_)), "{e:?}");
}

#[tokio::test]
async fn a_webhook_body_is_signed_and_the_receiver_verifies_it() {
    let r = Receiver::start().await;
    let url = format!("{}/hook", r.base);
    let body = json!({"event": "run_finished", "outcome": "succeeded", "nested": {"list": [1, 2]}});
    let out = run(
        "notify.webhook",
        json!({"url": url, "body": body, "hmac_secret": HOOK_SECRET, "headers": {"X-Team": "dr"}}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"status": 200, "body": {"received": true}}));
    let got = r.accepted();
    assert_eq!(got.len(), 1, "{:?}", r.refused());
    assert_eq!(got[0].body, body);
    assert_eq!(got[0].headers["x-team"], "dr");
    assert_eq!(
        got[0].headers["x-drctl-run"],
        ctx().run.to_string().as_str()
    );

    // The wrong key: the receiver's check fails, and a 401 is not retried.
    let e = run(
        "notify.webhook",
        json!({"url": url, "body": body, "hmac_secret": "not-the-key"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ActionError::Permanent(_)), "{e:?}");
    // No key, no signature: refused too.
    let e = run("notify.webhook", json!({"url": url, "body": body}))
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::Permanent(_)), "{e:?}");
    assert_eq!(r.refused().len(), 2, "{:?}", r.refused());
    assert!(r.refused()[0].contains("does not match"));
}
