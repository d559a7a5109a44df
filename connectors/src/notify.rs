//! Telling people: Slack, PagerDuty, any webhook.

use drctl_core::{ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "notify.slack",
            "Post a message through a Slack incoming webhook",
            false,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req_secret(
                    "webhook",
                    Ty::String,
                    "the incoming-webhook URL; it is a credential",
                )
                .req("text", Ty::String, "message text (Slack mrkdwn)")
                .opt("channel", Ty::String, "override the webhook's channel"),
        ),
        spec(
            "notify.pagerduty",
            "Send a PagerDuty Events API v2 event (trigger, acknowledge, resolve)",
            // Events with the same dedup key collapse into one incident.
            true,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req_secret("routing_key", Ty::String, "integration key of the service")
                .req(
                    "event_action",
                    Ty::one_of_strings(&["trigger", "acknowledge", "resolve"]),
                    "what to do",
                )
                .opt(
                    "dedup_key",
                    Ty::String,
                    "identifies the incident across events (default: the run id)",
                )
                .opt(
                    "summary",
                    Ty::String,
                    "one-line description, required to trigger",
                )
                .opt("source", Ty::String, "affected system (default drctl)")
                .opt(
                    "severity",
                    Ty::one_of_strings(&["critical", "error", "warning", "info"]),
                    "default error",
                )
                .opt("component", Ty::String, "component of the source")
                .opt("group", Ty::String, "logical grouping")
                .opt("class", Ty::String, "class or type of the event")
                .opt("custom_details", Ty::Any, "free-form details"),
        ),
        spec(
            "notify.webhook",
            "POST a JSON body to a URL, signed with HMAC-SHA256",
            false,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req("url", Ty::String, "absolute http or https URL")
                .req("body", Ty::Any, "JSON body")
                .opt_secret("hmac_secret", Ty::String, "key for the signature header")
                .opt("signature_header", Ty::String, "default X-Drctl-Signature")
                .opt_secret("headers", Ty::map(Ty::String), "extra headers")
                .opt("timeout", Ty::Duration, "default 10s"),
        ),
    ]
}
