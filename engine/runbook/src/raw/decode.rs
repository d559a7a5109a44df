//! Node tree → [`RawRunbook`]: the top level, params, secrets, objectives and triggers.

use super::reader::{
    MapReader, Spanned, boolean, count, duration_text, entries, list_of, string, strings,
};
use super::step::{retry, steps};
use super::{
    RawHookAuth, RawNotify, RawObjectives, RawParam, RawReadiness, RawRunbook, RawSchedule,
    RawSecret, RawSecretSource, RawTrigger, RawWebhook,
};
use crate::diagnostic::{Code, Diagnostics};
use crate::yaml::{Node, Value};

/// Decodes a whole runbook. Always returns what could be read; problems go to `d`.
pub fn decode(root: Node, d: &mut Diagnostics) -> RawRunbook {
    if root.value == Value::Null {
        d.error(Code::MissingField, root.span, "the runbook is empty")
            .hint("a runbook needs at least `runbook:` and `steps:`");
        return RawRunbook {
            span: root.span,
            ..RawRunbook::default()
        };
    }
    let Some(mut m) = MapReader::open(root, "runbook", d) else {
        return RawRunbook::default();
    };
    let mut raw = RawRunbook {
        span: m.span(),
        ..RawRunbook::default()
    };
    raw.runbook = m
        .required("runbook", d)
        .and_then(|(_, n)| string(n, "runbook", d));
    raw.description = m
        .take("description")
        .and_then(|(_, n)| string(n, "description", d));
    raw.params = m
        .take("params")
        .map(|(_, n)| params(n, d))
        .unwrap_or_default();
    raw.secrets = m
        .take("secrets")
        .map(|(_, n)| secrets(n, d))
        .unwrap_or_default();
    raw.objectives = m.take("objectives").and_then(|(_, n)| objectives(n, d));
    raw.lock = m.take("lock").and_then(|(_, n)| string(n, "lock", d));
    raw.timeout = m
        .take("timeout")
        .and_then(|(_, n)| duration_text(n, "timeout", d));
    raw.triggers = m
        .take("triggers")
        .map(|(_, n)| list_of(n, "triggers", d, trigger))
        .unwrap_or_default();
    raw.readiness = m.take("readiness").and_then(|(_, n)| readiness(n, d));
    raw.notify = m
        .take("notify")
        .map(|(_, n)| list_of(n, "notify", d, notify))
        .unwrap_or_default();
    if let Some((_, n)) = m.required("steps", d) {
        let empty = matches!(&n.value, Value::Null)
            || matches!(&n.value, Value::Seq(items) if items.is_empty());
        if empty {
            d.error(Code::MissingField, n.span, "`steps` is empty")
                .hint("a runbook needs at least one step");
        }
        raw.steps = steps(n, "steps", d);
    }
    raw.on_failure = m
        .take("on_failure")
        .map(|(_, n)| steps(n, "on_failure", d))
        .unwrap_or_default();
    raw.finally = m
        .take("finally")
        .map(|(_, n)| steps(n, "finally", d))
        .unwrap_or_default();
    m.finish(d);
    raw
}

fn notify(node: Node, d: &mut Diagnostics) -> Option<RawNotify> {
    let mut m = MapReader::open(node, "notify", d)?;
    let n = RawNotify {
        span: m.span(),
        on: m.required("on", d).map(|(_, n)| strings(n, "on", d)),
        action: m
            .required("action", d)
            .and_then(|(_, n)| string(n, "action", d)),
        with: m.take("with").map(|(_, n)| n),
        required: m
            .take("required")
            .and_then(|(_, n)| boolean(&n, "required", d)),
        retry: m.take("retry").and_then(|(_, n)| retry(n, d)),
    };
    m.finish(d);
    Some(n)
}

fn params(node: Node, d: &mut Diagnostics) -> Vec<RawParam> {
    entries(node, "params", d)
        .into_iter()
        .filter_map(|(name, value)| {
            let mut m = MapReader::open(value, "parameter", d)?;
            let param = RawParam {
                span: name.span,
                ty: m
                    .required("type", d)
                    .and_then(|(_, n)| string(n, "type", d)),
                required: m
                    .take("required")
                    .and_then(|(_, n)| boolean(&n, "required", d)),
                default: m.take("default").map(|(_, n)| n),
                allowed: m.take("enum").map(|(_, n)| n),
                description: m
                    .take("description")
                    .and_then(|(_, n)| string(n, "description", d)),
                name,
            };
            m.finish(d);
            Some(param)
        })
        .collect()
}

fn secrets(node: Node, d: &mut Diagnostics) -> Vec<RawSecret> {
    entries(node, "secrets", d)
        .into_iter()
        .filter_map(|(name, value)| {
            Some(RawSecret {
                source: secret_source(value, "secret", d)?,
                name,
            })
        })
        .collect()
}

pub(super) fn secret_source(
    node: Node,
    what: &'static str,
    d: &mut Diagnostics,
) -> Option<RawSecretSource> {
    let mut m = MapReader::open(node, what, d)?;
    let source = RawSecretSource {
        span: m.span(),
        env: m.take("env").and_then(|(_, n)| string(n, "env", d)),
        file: m.take("file").and_then(|(_, n)| string(n, "file", d)),
    };
    m.finish(d);
    Some(source)
}

fn objectives(node: Node, d: &mut Diagnostics) -> Option<RawObjectives> {
    let mut m = MapReader::open(node, "objectives", d)?;
    let o = RawObjectives {
        span: m.span(),
        rto: m.take("rto").and_then(|(_, n)| duration_text(n, "rto", d)),
        rpo: m.take("rpo").and_then(|(_, n)| duration_text(n, "rpo", d)),
    };
    m.finish(d);
    Some(o)
}

fn trigger(node: Node, d: &mut Diagnostics) -> Option<RawTrigger> {
    let mut m = MapReader::open(node, "trigger", d)?;
    let span = m.span();
    let schedule = m.take("schedule");
    let webhook = m.take("webhook");
    m.finish(d);
    match (schedule, webhook) {
        (Some((_, n)), None) => schedule_trigger(n, d).map(|s| RawTrigger::Schedule(Box::new(s))),
        (None, Some((_, n))) => webhook_trigger(n, d).map(|w| RawTrigger::Webhook(Box::new(w))),
        (Some(_), Some((key, _))) => {
            d.error(
                Code::ConflictingFields,
                key,
                "a trigger is either `schedule` or `webhook`, not both",
            );
            None
        }
        (None, None) => {
            d.error(
                Code::MissingField,
                span,
                "a trigger needs `schedule` or `webhook`",
            );
            None
        }
    }
}

fn schedule_trigger(node: Node, d: &mut Diagnostics) -> Option<RawSchedule> {
    let mut m = MapReader::open(node, "schedule", d)?;
    let s = RawSchedule {
        span: m.span(),
        name: m.take("name").and_then(|(_, n)| string(n, "name", d)),
        cron: m
            .required("cron", d)
            .and_then(|(_, n)| string(n, "cron", d)),
        timezone: m
            .take("timezone")
            .and_then(|(_, n)| string(n, "timezone", d)),
        params: m
            .take("params")
            .map(|(_, n)| entries(n, "params", d))
            .unwrap_or_default(),
        drill: m.take("drill").and_then(|(_, n)| boolean(&n, "drill", d)),
        overlap: m.take("overlap").and_then(|(_, n)| string(n, "overlap", d)),
        catchup_window: m
            .take("catchup_window")
            .and_then(|(_, n)| duration_text(n, "catchup_window", d)),
        jitter: m
            .take("jitter")
            .and_then(|(_, n)| duration_text(n, "jitter", d)),
        grace: m
            .take("grace")
            .and_then(|(_, n)| duration_text(n, "grace", d)),
    };
    m.finish(d);
    Some(s)
}

fn webhook_trigger(node: Node, d: &mut Diagnostics) -> Option<RawWebhook> {
    let mut m = MapReader::open(node, "webhook", d)?;
    let w = RawWebhook {
        span: m.span(),
        name: m
            .required("name", d)
            .and_then(|(_, n)| string(n, "name", d)),
        hmac_secret: m
            .take("hmac_secret")
            .and_then(|(_, n)| secret_source(n, "hmac_secret", d)),
        auth: m.take("auth").and_then(|(_, n)| hook_auth(n, d)),
        format: m.take("format").and_then(|(_, n)| string(n, "format", d)),
        filter: m.take("filter").map(|(_, n)| n),
        params: m
            .take("params")
            .map(|(_, n)| entries(n, "params", d))
            .unwrap_or_default(),
        dedup_key: m.take("dedup_key").map(|(_, n)| n),
        dedup_window: m
            .take("dedup_window")
            .and_then(|(_, n)| duration_text(n, "dedup_window", d)),
        cooldown: m
            .take("cooldown")
            .and_then(|(_, n)| duration_text(n, "cooldown", d)),
        confirm: m
            .take("confirm")
            .and_then(|(_, n)| boolean(&n, "confirm", d)),
        confirm_within: m
            .take("confirm_within")
            .and_then(|(_, n)| duration_text(n, "confirm_within", d)),
        drill: m.take("drill").and_then(|(_, n)| boolean(&n, "drill", d)),
        rate: m.take("rate").and_then(|(_, n)| count(&n, "rate", d)),
    };
    m.finish(d);
    Some(w)
}

fn readiness(node: Node, d: &mut Diagnostics) -> Option<RawReadiness> {
    let mut m = MapReader::open(node, "readiness", d)?;
    let r = RawReadiness {
        span: m.span(),
        every: m
            .required("every", d)
            .and_then(|(_, n)| duration_text(n, "every", d)),
        params: m
            .take("params")
            .map(|(_, n)| entries(n, "params", d))
            .unwrap_or_default(),
    };
    m.finish(d);
    Some(r)
}

fn hook_auth(node: Node, d: &mut Diagnostics) -> Option<RawHookAuth> {
    let mut m = MapReader::open(node, "auth", d)?;
    let auth = RawHookAuth {
        span: m.span(),
        scheme: m
            .required("scheme", d)
            .and_then(|(_, n)| string(n, "scheme", d)),
        secrets: m
            .take("secrets")
            .map(|(_, n)| list_of(n, "secrets", d, |n, d| secret_source(n, "secrets", d)))
            .unwrap_or_default(),
    };
    m.finish(d);
    Some(auth)
}

/// A list of strings with the list's own span (an empty list can then be pointed at).
pub(super) fn spanned_strings(
    node: Node,
    what: &str,
    d: &mut Diagnostics,
) -> Spanned<Vec<Spanned<String>>> {
    let span = node.span;
    Spanned::new(super::reader::strings(node, what, d), span)
}
