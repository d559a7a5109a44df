//! `triggers`: cron schedules in a time zone, and signed webhooks.

use std::collections::HashSet;
use std::str::FromStr;

use chrono::NaiveDate;
use croner::parser::{CronParser, Seconds, Year};
use drctl_core::{ParamName, RunbookName, did_you_mean};
use indexmap::IndexMap;

use super::Cx;
use super::header::{secret_source, typed_literal};
use super::steps::{choose, duration};
use super::templates::Scope;
use crate::diagnostic::Code;
use crate::model::{
    DEFAULT_CATCHUP, DEFAULT_CONFIRM_WITHIN, DEFAULT_DEDUP_WINDOW, DEFAULT_GRACE,
    DEFAULT_HOOK_RATE, HookAuth, HookFormat, HookScheme, MAX_CONFIRM_WITHIN, MIN_CONFIRM_WITHIN,
    Overlap, Readiness, Schedule, SecretSource, Trigger, Webhook,
};
use crate::raw::{RawReadiness, RawSchedule, RawTrigger, RawWebhook, Spanned};
use crate::source::Span;
use crate::yaml::Node;

pub(crate) fn compile(cx: &mut Cx<'_>, raw: Vec<RawTrigger>) -> Vec<Trigger> {
    let mut hook_names = HashSet::new();
    let mut schedule_names = HashSet::new();
    raw.into_iter()
        .filter_map(|t| match t {
            RawTrigger::Schedule(s) => schedule(cx, *s, &mut schedule_names).map(Trigger::Schedule),
            RawTrigger::Webhook(w) => webhook(cx, &w, &mut hook_names).map(Trigger::Webhook),
        })
        .collect()
}

/// Parses five-field cron (minute hour day-of-month month day-of-week, with `L`, `#`, `W`).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(expr).map_err(|e| e.to_string())?;
    // A pattern such as `0 0 30 2 *` parses but never fires; search from a fixed date
    // (the compiler reads no clock) far enough to cover leap years.
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    if let Some(start) = start
        && cron.find_next_occurrence(&start, false).is_err()
    {
        return Err("it never fires".to_owned());
    }
    Ok(cron)
}

/// A schedule's name: a firing is recorded under it, so it must be unique in the runbook
/// (one schedule may go unnamed).
fn schedule_name(cx: &mut Cx<'_>, s: &RawSchedule, names: &mut HashSet<String>) -> Option<String> {
    let (name, span) = match &s.name {
        None => (String::new(), s.span),
        Some(n) => {
            if RunbookName::new(n.value.clone()).is_err() {
                cx.d.error(
                    Code::InvalidName,
                    n.span,
                    format!("`{}` is not a valid schedule name", n.value),
                )
                .hint("use lowercase letters, digits, `-`, `_` and `.`");
                return None;
            }
            (n.value.clone(), n.span)
        }
    };
    if !names.insert(name.clone()) {
        let what = if name.is_empty() {
            "two schedules have no `name`: give each a name".to_owned()
        } else {
            format!("schedule `{name}` is declared twice")
        };
        cx.d.error(Code::InvalidValue, span, what);
        return None;
    }
    Some(name)
}

fn schedule(cx: &mut Cx<'_>, s: RawSchedule, names: &mut HashSet<String>) -> Option<Schedule> {
    let name = schedule_name(cx, &s, names);
    let overlap = match &s.overlap {
        None => Some(Overlap::Skip),
        Some(o) => choose(cx, o, "overlap", &Overlap::ALL),
    };
    let catchup_window = s
        .catchup_window
        .as_ref()
        .map_or(Some(DEFAULT_CATCHUP), |c| duration(cx, c, "catchup_window"));
    let jitter = match &s.jitter {
        None => Some(None),
        Some(j) => duration(cx, j, "jitter").map(Some),
    };
    let grace = s
        .grace
        .as_ref()
        .map_or(Some(DEFAULT_GRACE), |g| duration(cx, g, "grace"));
    let cron = s.cron.as_ref().and_then(|c| match parse_cron(&c.value) {
        Ok(_) => Some(c.value.clone()),
        Err(e) => {
            cx.d.error(
                Code::BadCron,
                c.span,
                format!("bad cron expression `{}`: {e}", c.value),
            )
            .hint("five fields: minute hour day-of-month month day-of-week, e.g. `0 3 1 * *`");
            None
        }
    });
    let timezone = match &s.timezone {
        None => Some(chrono_tz::UTC),
        Some(tz) => match chrono_tz::Tz::from_str(&tz.value) {
            Ok(z) => Some(z),
            Err(_) => {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name());
                let hint = did_you_mean(&tz.value, names).map(|s| format!("did you mean `{s}`?"));
                cx.d.error(
                    Code::UnknownTimezone,
                    tz.span,
                    format!("unknown time zone `{}`", tz.value),
                )
                .maybe_hint(
                    hint.or_else(|| Some("use an IANA name such as `Europe/Brussels`".to_owned())),
                );
                None
            }
        },
    };
    let mut params = IndexMap::new();
    for (name, node) in &s.params {
        if let Some((param, value)) = literal_param(cx, name, node) {
            params.insert(param, value);
        }
    }
    let given: Vec<&str> = s.params.iter().map(|(n, _)| n.value.as_str()).collect();
    require_params(cx, &given, s.span, "this schedule");
    Some(Schedule {
        name: name?,
        cron: cron?,
        timezone: timezone?,
        params,
        drill: s.drill.is_some_and(|d| d.value),
        overlap: overlap?,
        catchup_window: catchup_window?,
        jitter: jitter?,
        grace: grace?,
        span: s.span,
    })
}

fn webhook(cx: &mut Cx<'_>, w: &RawWebhook, names: &mut HashSet<String>) -> Option<Webhook> {
    let name = w.name.as_ref().and_then(|n| {
        if RunbookName::new(n.value.clone()).is_err() {
            cx.d.error(Code::InvalidName, n.span, format!("`{}` is not a valid webhook name", n.value))
                .hint("it becomes the URL path /hooks/<name>: use lowercase letters, digits, `-`, `_` and `.`");
            return None;
        }
        if !names.insert(n.value.clone()) {
            cx.d.error(Code::InvalidValue, n.span, format!("webhook `{}` is declared twice", n.value));
            return None;
        }
        Some(n.value.clone())
    });
    let auth = hook_auth(cx, w);
    let format = match &w.format {
        None => Some(HookFormat::Json),
        Some(f) => choose(cx, f, "format", &HookFormat::ALL),
    };
    let payload = Scope::payload("webhook params");
    let filter = w
        .filter
        .as_ref()
        .and_then(|n| cx.expression(n, &Scope::payload("filter")));
    let mut params = IndexMap::new();
    for (pname, node) in &w.params {
        let Some(param) = declared_param(cx, pname) else {
            continue;
        };
        params.insert(param, cx.value(node, &payload));
    }
    let given: Vec<&str> = w.params.iter().map(|(n, _)| n.value.as_str()).collect();
    require_params(cx, &given, w.span, "this webhook");
    let dedup_key = w
        .dedup_key
        .as_ref()
        .map(|n| cx.value(n, &Scope::payload("dedup_key")));
    let dedup_window = w
        .dedup_window
        .as_ref()
        .map_or(Some(DEFAULT_DEDUP_WINDOW), |d| {
            duration(cx, d, "dedup_window")
        });
    let cooldown = match &w.cooldown {
        None => Some(None),
        Some(c) => duration(cx, c, "cooldown").map(Some),
    };
    let confirm = match (&w.confirm, &w.confirm_within) {
        (Some(c), within) if c.value => match within {
            None => Some(Some(DEFAULT_CONFIRM_WITHIN)),
            Some(d) => match duration(cx, d, "confirm_within") {
                // Shorter, nobody could confirm in time; longer, the alert is history.
                Some(t) if !(MIN_CONFIRM_WITHIN..=MAX_CONFIRM_WITHIN).contains(&t) => {
                    cx.d.error(
                        Code::InvalidValue,
                        d.span,
                        "`confirm_within` is how long a person has to confirm: 30s to 7d",
                    );
                    None
                }
                t => t.map(Some),
            },
        },
        (_, Some(within)) => {
            cx.d.error(
                Code::InvalidValue,
                within.span,
                "`confirm_within` is how long a proposed run waits: it needs `confirm: true`",
            );
            None
        }
        _ => Some(None),
    };
    let rate = match &w.rate {
        None => Some(DEFAULT_HOOK_RATE),
        Some(r) if r.value == 0 || r.value > 100_000 => {
            cx.d.error(
                Code::InvalidValue,
                r.span,
                "`rate` is deliveries a minute: 1 to 100000",
            );
            None
        }
        Some(r) => u32::try_from(r.value).ok(),
    };
    Some(Webhook {
        name: name?,
        auth: auth?,
        format: format?,
        filter,
        params,
        dedup_key,
        dedup_window: dedup_window?,
        cooldown: cooldown?,
        confirm: confirm?,
        drill: w.drill.as_ref().is_some_and(|d| d.value),
        rate: rate?,
        span: w.span,
    })
}

/// `auth: { scheme, secrets }`, or the older `hmac_secret` (read as `github`: an
/// HMAC-SHA256 of the body, `X-Hub-Signature-256: sha256=<hex>`).
fn hook_auth(cx: &mut Cx<'_>, w: &RawWebhook) -> Option<HookAuth> {
    match (&w.auth, &w.hmac_secret) {
        (Some(_), Some(old)) => {
            cx.d.error(
                Code::ConflictingFields,
                old.span,
                "give `auth` or `hmac_secret`, not both",
            )
            .hint(
                "`auth: { scheme: github, secrets: [ { env: ... } ] }` is what `hmac_secret` means",
            );
            None
        }
        (None, None) => {
            cx.d.error(Code::MissingField, w.span, "a webhook needs `auth`: how a delivery proves who sent it")
                .hint("e.g. `auth: { scheme: standard, secrets: [ { env: HOOK_SECRET } ] }`; schemes: standard, github, pagerduty, slack, grafana, bearer");
            None
        }
        (None, Some(old)) => {
            let secret = secret_source(cx, old, "hmac_secret")?;
            cx.d.warning(Code::Deprecated, old.span, "`hmac_secret` is read as `auth: { scheme: github }` (X-Hub-Signature-256 over the body)")
                .hint("write `auth: { scheme: github, secrets: [ ... ] }`, or name the scheme your sender uses");
            Some(HookAuth {
                scheme: HookScheme::Github,
                secrets: vec![secret],
            })
        }
        (Some(a), None) => {
            let scheme = a
                .scheme
                .as_ref()
                .and_then(|s| choose(cx, s, "scheme", &HookScheme::ALL));
            if a.secrets.is_empty() {
                cx.d.error(
                    Code::MissingField,
                    a.span,
                    "`auth` needs `secrets`: at least one, two while one is rotated",
                );
                return None;
            }
            let secrets: Vec<SecretSource> = a
                .secrets
                .iter()
                .filter_map(|s| secret_source(cx, s, "secrets"))
                .collect();
            (secrets.len() == a.secrets.len()).then_some(())?;
            Some(HookAuth {
                scheme: scheme?,
                secrets,
            })
        }
    }
}

/// `readiness: { every, params }`: at least 10 s apart (each check calls every
/// action's live plan), with literal params checked like a schedule's.
pub(crate) fn readiness(cx: &mut Cx<'_>, r: &RawReadiness) -> Option<Readiness> {
    let every = r.every.as_ref().and_then(|e| {
        let d = duration(cx, e, "every")?;
        if d < std::time::Duration::from_secs(10) {
            cx.d.error(
                Code::InvalidValue,
                e.span,
                "`every` is at least 10s: each check asks every action of the runbook",
            );
            return None;
        }
        Some(d)
    });
    let mut params = IndexMap::new();
    for (name, node) in &r.params {
        if let Some((param, value)) = literal_param(cx, name, node) {
            params.insert(param, value);
        }
    }
    let given: Vec<&str> = r.params.iter().map(|(n, _)| n.value.as_str()).collect();
    require_params(cx, &given, r.span, "the readiness check");
    Some(Readiness {
        every: every?,
        params,
        span: r.span,
    })
}

fn declared_param(cx: &mut Cx<'_>, name: &Spanned<String>) -> Option<ParamName> {
    match cx.params.get_key_value(name.value.as_str()) {
        Some((p, _)) => Some(p.clone()),
        None => {
            let hint = did_you_mean(&name.value, cx.params.keys().map(|k| k.as_str()))
                .map(|s| format!("did you mean `{s}`?"));
            cx.d.error(
                Code::UnknownReference,
                name.span,
                format!("unknown parameter `{}`", name.value),
            )
            .maybe_hint(hint);
            None
        }
    }
}

fn literal_param(
    cx: &mut Cx<'_>,
    name: &Spanned<String>,
    node: &Node,
) -> Option<(ParamName, serde_json::Value)> {
    let param = declared_param(cx, name)?;
    let spec = cx.params.get(&param)?.clone();
    let value = typed_literal(cx, node, spec.ty, &format!("`{param}`"))?;
    if let Some(allowed) = &spec.allowed
        && !allowed.contains(&value)
    {
        cx.d.error(
            Code::InvalidValue,
            node.span,
            format!("{value} is not an allowed value of `{param}`"),
        );
        return None;
    }
    Some((param, value))
}

/// Every required param must be given by a trigger: nobody is there to type it in.
fn require_params(cx: &mut Cx<'_>, given: &[&str], span: Span, what: &str) {
    let missing: Vec<String> = cx
        .params
        .iter()
        .filter(|(name, spec)| spec.required && !given.contains(&name.as_str()))
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if !missing.is_empty() {
        cx.d.error(
            Code::MissingField,
            span,
            format!(
                "{what} does not set required parameter(s) {}",
                missing.join(", ")
            ),
        );
    }
}
