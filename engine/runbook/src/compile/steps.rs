//! One raw step → a compiled [`Step`].

use std::num::NonZeroU32;

use drctl_core::schema::check_object;
use drctl_core::{ActionName, ActionSpec, StepId, did_you_mean, parse_duration};

use super::Cx;
use super::graph::Loc;
use super::header::positive_duration;
use super::templates::Scope;
use crate::diagnostic::Code;
use crate::model::{
    ActionCall, Approval, Approver, Backoff, BlockKind, DEFAULT_VERIFY_EVERY, ErrorClass, ForEach,
    ForEachItems, Mark, OnInterrupt, OnTimeout, ParamType, RetryPolicy, Step, StepKind, Verify,
};
use crate::raw::{RawApproval, RawRetry, RawStep, Spanned};
use crate::source::Span;
use crate::template::has_template_syntax;
use crate::yaml::{Node, Value};

/// Compiles one step. Returns `None` when the step is too broken to represent; its
/// problems are in `cx.d` either way.
pub(crate) fn compile(
    cx: &mut Cx<'_>,
    block: BlockKind,
    index: usize,
    raw: RawStep,
) -> Option<Step> {
    let loc = Loc { block, index };
    let (id, needs) = match cx.graph.as_ref() {
        Some(g) => {
            let b = g.block(block);
            let id = b.ids.get(index).cloned().flatten();
            let needs: Vec<StepId> = b.needs.get(index).map_or_else(Vec::new, |n| {
                n.iter()
                    .filter_map(|&i| b.ids.get(i).cloned().flatten())
                    .collect()
            });
            (id, needs)
        }
        None => (None, Vec::new()),
    };
    let has_for_each = raw.for_each.is_some();
    let when = raw
        .when
        .as_ref()
        .and_then(|n| cx.expression(n, &Scope::step("when", loc)));
    if let Some(w) = &when
        && w.is_constant()
    {
        cx.d.warning(
            Code::ConstantCondition,
            w.span,
            format!("`when: {}` never changes", w.source.trim()),
        )
        .hint("a condition should read params or step outputs; remove it or the step");
    }
    let kind = step_kind(cx, &raw, loc, has_for_each);
    let for_each = for_each(cx, &raw, loc);
    if let Some(mp) = &raw.max_parallel
        && !has_for_each
    {
        cx.d.error(
            Code::ConflictingFields,
            mp.span,
            "`max_parallel` only applies to a step with `for_each`",
        );
    }
    let retry = raw.retry.as_ref().and_then(|r| retry(cx, r));
    let timeout = raw
        .timeout
        .as_ref()
        .and_then(|t| positive_duration(cx, t, "timeout"));
    let verify = raw.verify.as_ref().and_then(|v| {
        let call = action_call(
            cx,
            v.action.as_ref()?,
            v.with.as_ref(),
            Scope::step("verify", loc)
                .and_secrets()
                .and_item(has_for_each)
                .and_own_output(),
        )?;
        let soak = v
            .soak
            .as_ref()
            .and_then(|s| positive_duration(cx, s, "for"));
        let every = v
            .every
            .as_ref()
            .and_then(|e| positive_duration(cx, e, "every"));
        if let (Some(e), None) = (&v.every, &v.soak) {
            cx.d.error(
                Code::BadDuration,
                e.span,
                "`every` needs `for`: it is the interval between checks inside the `for` window",
            );
        }
        Some(Verify {
            call,
            soak,
            every: every.unwrap_or(DEFAULT_VERIFY_EVERY),
        })
    });
    let compensate = raw.compensate.as_ref().and_then(|c| {
        action_call(
            cx,
            c.action.as_ref()?,
            c.with.as_ref(),
            Scope::step("compensate", loc)
                .and_secrets()
                .and_item(has_for_each)
                .and_own_output(),
        )
    });
    let on_interrupt = raw.on_interrupt.as_ref().and_then(|o| on_interrupt(cx, o));
    if let (Some(OnInterrupt::Retry), Some(StepKind::Action(call)), Some(raw_oi)) =
        (on_interrupt, &kind, &raw.on_interrupt)
        && cx
            .catalog
            .spec(call.action.as_str())
            .is_some_and(|s| !s.idempotent)
    {
        cx.d.warning(
            Code::NonIdempotentRetry,
            raw_oi.span,
            format!(
                "`{}` is not idempotent: `on_interrupt: retry` may run it twice after a crash",
                call.action
            ),
        )
        .hint(
            "remove it to let drctl reconcile (or pause) instead, unless repeating is truly safe",
        );
    }
    restrict(cx, &raw, &kind);
    let marks = marks(cx, &raw.marks);
    let kind = kind?;
    Some(Step {
        id: id?,
        name: raw.name.map(|n| n.value),
        needs,
        when,
        kind,
        for_each,
        retry,
        timeout,
        verify,
        compensate,
        on_interrupt,
        continue_on_failure: raw.continue_on_failure.is_some_and(|c| c.value),
        marks,
        span: raw.span,
    })
}

fn step_kind(cx: &mut Cx<'_>, raw: &RawStep, loc: Loc, has_for_each: bool) -> Option<StepKind> {
    let given: Vec<(&str, Span)> = [
        raw.action.as_ref().map(|a| ("action", a.span)),
        raw.approval.as_ref().map(|a| ("approval", a.span)),
        raw.call.as_ref().map(|c| ("call", c.span)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        cx.d.error(
            Code::ConflictingFields,
            given[1].1,
            format!(
                "a step does one thing: `{}` and `{}` cannot be combined",
                given[0].0, given[1].0
            ),
        );
        return None;
    }
    if let (Some(with), None) = (&raw.with, &raw.action) {
        cx.d.error(
            Code::ConflictingFields,
            with.span,
            "`with` gives the inputs of an `action`, and this step has none",
        );
    }
    if let Some(action) = &raw.action {
        let scope = Scope::step("with", loc)
            .and_secrets()
            .and_item(has_for_each);
        return action_call(cx, action, raw.with.as_ref(), scope).map(StepKind::Action);
    }
    if let Some(a) = &raw.approval {
        return approval(cx, a, loc).map(StepKind::Approval);
    }
    if let Some(c) = &raw.call {
        return super::calls::compile(
            cx,
            c,
            Scope::step("call params", loc).and_item(has_for_each),
        )
        .map(StepKind::Call);
    }
    if given.is_empty() && raw.with.is_none() {
        cx.d.error(
            Code::MissingField,
            raw.span,
            "a step needs one of `action`, `approval` or `call`",
        );
    }
    None
}

/// Fields that make no sense for approval or call steps.
fn restrict(cx: &mut Cx<'_>, raw: &RawStep, kind: &Option<StepKind>) {
    let what = match kind {
        Some(StepKind::Approval(_)) => "an approval",
        Some(StepKind::Call(_)) => "a call",
        Some(StepKind::Action(_)) | None => return,
    };
    let mut deny = |field: &str, span: Option<Span>| {
        if let Some(span) = span {
            cx.d.error(
                Code::ConflictingFields,
                span,
                format!("`{field}` does not apply to {what} step"),
            );
        }
    };
    if matches!(kind, Some(StepKind::Approval(_))) {
        deny("for_each", raw.for_each.as_ref().map(|n| n.span));
        deny("retry", raw.retry.as_ref().map(|r| r.span));
        deny("verify", raw.verify.as_ref().map(|v| v.span));
        deny("on_interrupt", raw.on_interrupt.as_ref().map(|o| o.span));
        // An approval has its own `approval.timeout` with an `on_timeout` policy; a second,
        // step-level timeout would leave it unclear which one wins.
        deny("timeout", raw.timeout.as_ref().map(|t| t.span));
    }
    deny("compensate", raw.compensate.as_ref().map(|c| c.span));
}

/// An action call: the action must exist and `with` must fit its schema.
pub(crate) fn action_call(
    cx: &mut Cx<'_>,
    name: &Spanned<String>,
    with: Option<&Node>,
    scope: Scope,
) -> Option<ActionCall> {
    // The catalog outlives `cx`'s borrow, so the spec is borrowed, not cloned.
    let catalog = cx.catalog;
    let Some(spec) = catalog.spec(&name.value) else {
        let names = cx.catalog.names();
        let hint = did_you_mean(&name.value, names.iter().copied()).map_or_else(
            || "`drctl actions` lists the actions of this build".to_owned(),
            |s| format!("did you mean `{s}`?"),
        );
        cx.d.error(
            Code::UnknownAction,
            name.span,
            format!("unknown action `{}`", name.value),
        )
        .hint(hint);
        // Still check the templates in `with`, so their problems show up now too.
        if let Some(with) = with {
            cx.value(with, &scope);
        }
        return None;
    };
    let action = ActionName::new(name.value.clone()).ok()?;
    let scope = if spec.records_inputs {
        scope.recorded()
    } else {
        scope
    };
    let empty = Node {
        span: name.span,
        value: Value::Map(Vec::new()),
    };
    let with_node = with.unwrap_or(&empty);
    check_params(cx, spec, with_node);
    let with = match &with_node.value {
        Value::Null => crate::template::ValueTemplate::empty_map(),
        _ => cx.value(with_node, &scope),
    };
    Some(ActionCall {
        action,
        with,
        span: name.span,
    })
}

fn check_params(cx: &mut Cx<'_>, spec: &ActionSpec, with: &Node) {
    let empty = Node {
        span: with.span,
        value: Value::Map(Vec::new()),
    };
    let with = if with.value == Value::Null {
        &empty
    } else {
        with
    };
    let mut found = Vec::new();
    check_object(&spec.params, with, &mut |node: &Node, e| {
        found.push((node.span, e))
    });
    for (span, e) in found {
        let hint = e.hint();
        cx.d.error(Code::ActionParam, span, format!("{}: {e}", spec.name))
            .maybe_hint(hint);
    }
    if spec.name.as_str() == "exec" {
        shell_scripts(cx, with);
    }
    if let Value::Map(entries) = &with.value {
        for (k, v) in entries {
            let sensitive = k
                .as_str()
                .and_then(|k| spec.params.get(k))
                .is_some_and(|f| f.sensitive);
            let literal = |v: &Node| v.as_str().is_some_and(|s| !has_template_syntax(s));
            if sensitive && literal(v) {
                cx.d.warning(
                    Code::LiteralCredential,
                    v.span,
                    format!("`{}` carries a credential but is written literally", k.as_str().unwrap_or_default()),
                )
                .hint("declare it under `secrets:` and write `{{ secrets.<name> }}`, so it never reaches logs or exports");
            }
            if let Some(url) = v.as_str().filter(|_| literal(v))
                && url_password(url).is_some()
            {
                cx.d.warning(
                    Code::LiteralCredential,
                    v.span,
                    format!("`{}` carries a password in the URL, written literally", k.as_str().unwrap_or_default()),
                )
                .hint("declare it under `secrets:` and write the URL with `{{ secrets.<name> }}` in its place");
            }
            // A map of them (`headers`): the entries whose name or value says credential.
            if let (true, Value::Map(inner)) = (sensitive, &v.value) {
                for (name, value) in inner {
                    let name = name.as_str().unwrap_or_default();
                    let says =
                        credential_name(name) || value.as_str().is_some_and(credential_value);
                    if says && literal(value) {
                        cx.d.warning(
                            Code::LiteralCredential,
                            value.span,
                            format!("`{name}` carries a credential but is written literally"),
                        )
                        .hint("declare it under `secrets:` and write `{{ secrets.<name> }}` (e.g. `Bearer {{ secrets.api_token }}`), so it never reaches logs, plans or exports");
                    }
                }
            }
        }
    }
}

/// `exec` of `sh -c SCRIPT`: a template in the script that is not `| quote`d lets a
/// value with `;`, `$( )` or a quote run as commands.
fn shell_scripts(cx: &mut Cx<'_>, with: &Node) {
    let Value::Map(entries) = &with.value else {
        return;
    };
    let Some(Value::Seq(argv)) = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("argv"))
        .map(|(_, v)| &v.value)
    else {
        return;
    };
    let base = |n: &Node| {
        n.as_str()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
    };
    // The program may come after a wrapper (`env`, `sudo`, `timeout 5`, `VAR=x`).
    let Some(shell_at) = argv.iter().take(4).position(|n| {
        base(n).is_some_and(|b| {
            matches!(
                b.as_str(),
                "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "busybox" | "ssh"
            )
        })
    }) else {
        return;
    };
    // `ssh HOST WORDS...`: the remote shell runs the words joined. A local shell:
    // `-c`, or flags that end with it (`-ec`, `-euc`), then the script.
    let scripts: Vec<&Node> = if base(&argv[shell_at]).as_deref() == Some("ssh") {
        argv.iter().skip(shell_at + 2).collect()
    } else {
        let flag = argv.iter().skip(shell_at + 1).position(|n| {
            n.as_str()
                .is_some_and(|s| s.starts_with('-') && !s.starts_with("--") && s.ends_with('c'))
        });
        flag.and_then(|f| argv.get(shell_at + 1 + f + 1))
            .into_iter()
            .collect()
    };
    for script in scripts {
        if let Some(text) = script.as_str() {
            unquoted_templates(cx, script, text);
        }
    }
}

/// Warns about each `{{ }}` of a shell script that does not end in `| quote`.
fn unquoted_templates(cx: &mut Cx<'_>, script: &Node, text: &str) {
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        let inner =
            after[..close].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        if !inner.ends_with("quote") && !shell_safe(cx, inner) {
            cx.d.warning(
                Code::UnquotedShell,
                script.span,
                format!("`{{{{ {inner} }}}}` is pasted into a shell script unquoted: a value with `;` or `$(...)` would run as commands"),
            )
            .hint(format!("write `{{{{ {inner} | quote }}}}`, or pass it as an argument: argv: [sh, -c, 'echo \"$1\"', sh, \"{{{{ {inner} }}}}\"]"));
        }
        rest = &after[close + 2..];
    }
}

/// Whether a template is a param that can only hold shell-safe words: a number, a
/// boolean, or an `enum:` of plain words (`a`, `eu-west-1`). Warning about those would
/// teach authors to ignore the warning.
fn shell_safe(cx: &Cx<'_>, inner: &str) -> bool {
    let Some(name) = inner.strip_prefix("params.") else {
        return false;
    };
    let Some((_, spec)) = cx.params.iter().find(|(n, _)| n.as_str() == name) else {
        return false;
    };
    let plain = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
        }
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => true,
        _ => false,
    };
    match (&spec.ty, &spec.allowed) {
        (ParamType::Integer | ParamType::Number | ParamType::Boolean, _) => true,
        (_, Some(allowed)) => allowed.iter().all(plain),
        _ => false,
    }
}

/// Whether a value reads as a credential whatever its name (`Bearer …`, `Basic …`).
pub(crate) fn credential_value(value: &str) -> bool {
    let lower = value.trim_start().to_ascii_lowercase();
    ["bearer ", "basic ", "token ", "digest "]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// The byte range of the password in a URL's `user:password@`, if it has one.
pub(crate) fn url_password(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    let colon = url[start..at].find(':')? + start;
    (colon + 1 < at).then_some(colon + 1..at)
}

/// Whether a header (or similar entry) name says its value is a credential.
pub(crate) fn credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "password",
        "api-key",
        "apikey",
        "api_key",
        "x-auth",
    ]
    .iter()
    .any(|word| name.contains(word))
}

fn for_each(cx: &mut Cx<'_>, raw: &RawStep, loc: Loc) -> Option<ForEach> {
    let node = raw.for_each.as_ref()?;
    let scope = Scope::step("for_each", loc);
    let items = match &node.value {
        Value::Seq(items) if items.is_empty() => {
            cx.d.error(Code::InvalidValue, node.span, "`for_each` has no items");
            return None;
        }
        Value::Seq(items) => {
            ForEachItems::List(items.iter().map(|n| cx.value(n, &scope)).collect())
        }
        Value::Str(_) => ForEachItems::Expr(cx.expression(node, &scope)?),
        _ => {
            cx.d.error(
                Code::WrongType,
                node.span,
                format!(
                    "`for_each` must be a list or an expression, found {}",
                    node.kind_name()
                ),
            );
            return None;
        }
    };
    let max_parallel = match &raw.max_parallel {
        Some(mp) => match u32::try_from(mp.value).ok().and_then(NonZeroU32::new) {
            Some(n) => Some(n),
            None if mp.value == 0 => {
                cx.d.error(
                    Code::ZeroMaxParallel,
                    mp.span,
                    "`max_parallel: 0` would never run an item",
                )
                .hint("use 1 to run the items one at a time");
                None
            }
            None => {
                cx.d.error(Code::InvalidValue, mp.span, "`max_parallel` is too large");
                None
            }
        },
        None => None,
    };
    Some(ForEach {
        items,
        max_parallel,
    })
}

pub(crate) fn retry(cx: &mut Cx<'_>, r: &RawRetry) -> Option<RetryPolicy> {
    let attempts = r.attempts.as_ref().and_then(|a| {
        match u32::try_from(a.value).ok().and_then(NonZeroU32::new) {
            Some(n) if n.get() <= 100 => Some(n),
            _ => {
                cx.d.error(
                    Code::InvalidValue,
                    a.span,
                    "`attempts` must be from 1 to 100 (the first attempt included)",
                );
                None
            }
        }
    });
    let backoff = match &r.backoff {
        None => Some(Backoff::Exponential),
        Some(b) => choose(
            cx,
            b,
            "backoff",
            &[
                ("constant", Backoff::Constant),
                ("exponential", Backoff::Exponential),
            ],
        ),
    };
    let initial = match &r.initial {
        Some(i) => duration(cx, i, "initial"),
        None => Some(std::time::Duration::from_secs(1)),
    };
    let max = r.max.as_ref().and_then(|m| positive_duration(cx, m, "max"));
    if let (Some(i), Some(m), Some(raw_max)) = (initial, max, &r.max)
        && m < i
    {
        cx.d.error(
            Code::InvalidValue,
            raw_max.span,
            "`max` is shorter than `initial`",
        );
    }
    let classes = [
        ("retryable", ErrorClass::Retryable),
        ("timeout", ErrorClass::Timeout),
        ("permanent", ErrorClass::Permanent),
    ];
    let mut on = Vec::new();
    for o in &r.on {
        if o.value == "any" {
            on.extend(classes.iter().map(|(_, c)| *c));
        } else if let Some(class) = choose(cx, o, "on", &classes) {
            on.push(class);
        }
    }
    if r.on.is_empty() {
        on.push(ErrorClass::Retryable);
    }
    on.dedup();
    Some(RetryPolicy {
        attempts: attempts?,
        backoff: backoff?,
        initial: initial?,
        max,
        on,
    })
}

pub(crate) fn duration(
    cx: &mut Cx<'_>,
    d: &Spanned<String>,
    what: &str,
) -> Option<std::time::Duration> {
    parse_duration(&d.value)
        .map_err(|e| {
            cx.d.error(Code::BadDuration, d.span, format!("`{what}`: {e}"))
        })
        .ok()
}

fn on_interrupt(cx: &mut Cx<'_>, o: &Spanned<String>) -> Option<OnInterrupt> {
    choose(
        cx,
        o,
        "on_interrupt",
        &[("retry", OnInterrupt::Retry), ("pause", OnInterrupt::Pause)],
    )
}

fn marks(cx: &mut Cx<'_>, raw: &[Spanned<String>]) -> Vec<Mark> {
    let options: Vec<(&str, Mark)> = Mark::ALL.iter().map(|m| (m.as_str(), *m)).collect();
    let mut out = Vec::new();
    for m in raw {
        if let Some(mark) = choose(cx, m, "marks", &options)
            && !out.contains(&mark)
        {
            out.push(mark);
        }
    }
    out
}

/// One of a fixed set of words, with a hint when it is not.
pub(crate) fn choose<T: Copy>(
    cx: &mut Cx<'_>,
    s: &Spanned<String>,
    what: &str,
    options: &[(&str, T)],
) -> Option<T> {
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == s.value) {
        return Some(*v);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let hint = did_you_mean(&s.value, names.iter().copied()).map_or_else(
        || format!("use one of {}", names.join(", ")),
        |x| format!("did you mean `{x}`?"),
    );
    cx.d.error(
        Code::InvalidValue,
        s.span,
        format!("`{}` is not a valid `{what}`", s.value),
    )
    .hint(hint);
    None
}

fn approval(cx: &mut Cx<'_>, a: &RawApproval, loc: Loc) -> Option<Approval> {
    let message = a
        .message
        .as_ref()
        .and_then(|m| cx.text_template(m, &Scope::step("approval message", loc)));
    let approvers = match &a.approvers {
        None => {
            cx.d.error(Code::NoApprovers, a.span, "an approval needs `approvers`")
                .hint("list users and `group:<name>` entries that may approve");
            None
        }
        Some(list) if list.value.is_empty() => {
            cx.d.error(
                Code::NoApprovers,
                list.span,
                "`approvers` is empty: nobody could approve this gate",
            );
            None
        }
        Some(list) => approver_list(cx, &list.value),
    };
    let min = match &a.min {
        None => NonZeroU32::new(1),
        Some(m) => match u32::try_from(m.value).ok().and_then(NonZeroU32::new) {
            Some(n) => Some(n),
            None => {
                cx.d.error(Code::InvalidValue, m.span, "`min` must be at least 1");
                None
            }
        },
    };
    if let (Some(list), Some(min), Some(raw_min)) = (&approvers, min, &a.min) {
        let users_only = list.iter().all(|x| matches!(x, Approver::User(_)));
        if users_only && (min.get() as usize) > list.len() {
            cx.d.error(
                Code::InvalidValue,
                raw_min.span,
                format!(
                    "`min: {min}` but only {} approver(s) are listed",
                    list.len()
                ),
            );
        }
    }
    let distinct_groups = a.distinct_groups.as_ref().is_some_and(|d| d.value);
    if let (true, Some(list), Some(min), Some(raw)) =
        (distinct_groups, &approvers, min, &a.distinct_groups)
    {
        let groups = list
            .iter()
            .filter(|x| matches!(x, Approver::Group(_)))
            .count();
        if groups < min.get() as usize {
            cx.d.error(
                Code::InvalidValue,
                raw.span,
                format!("`distinct_groups` needs at least {min} groups among the approvers, found {groups}"),
            );
        }
    }
    let timeout = a
        .timeout
        .as_ref()
        .and_then(|t| positive_duration(cx, t, "timeout"));
    let options = [
        ("reject", OnTimeout::Reject),
        ("approve", OnTimeout::Approve),
        ("escalate", OnTimeout::Escalate),
    ];
    let on_timeout = match &a.on_timeout {
        None => Some(OnTimeout::Reject),
        Some(o) => {
            let choice = choose(cx, o, "on_timeout", &options);
            if a.timeout.is_none() {
                cx.d.error(Code::MissingField, o.span, "`on_timeout` needs a `timeout`");
            }
            choice
        }
    };
    let escalate: Vec<Vec<Approver>> = a
        .escalate
        .iter()
        .filter_map(|level| {
            if level.value.is_empty() {
                cx.d.error(
                    Code::NoApprovers,
                    level.span,
                    "an escalation level needs at least one approver",
                );
                return None;
            }
            approver_list(cx, &level.value)
        })
        .collect();
    match (on_timeout, a.escalate.is_empty()) {
        (Some(OnTimeout::Escalate), true) => {
            cx.d.error(
                Code::MissingField,
                a.span,
                "`on_timeout: escalate` needs `escalate`, the approvers to ask next",
            );
        }
        (Some(OnTimeout::Reject | OnTimeout::Approve), false) => {
            if let Some(first) = a.escalate.first() {
                cx.d.error(
                    Code::ConflictingFields,
                    first.span,
                    "`escalate` is only used with `on_timeout: escalate`",
                );
            }
        }
        _ => {}
    }
    let expires = a
        .expires
        .as_ref()
        .and_then(|e| positive_duration(cx, e, "expires"));
    Some(Approval {
        message,
        approvers: approvers?,
        min: min?,
        distinct_groups,
        allow_self_approval: a.allow_self_approval.as_ref().is_some_and(|x| x.value),
        require_comment: a.require_comment.as_ref().is_none_or(|x| x.value),
        timeout,
        on_timeout: on_timeout?,
        escalate,
        expires,
    })
}

fn approver_list(cx: &mut Cx<'_>, names: &[Spanned<String>]) -> Option<Vec<Approver>> {
    let mut out = Vec::with_capacity(names.len());
    let mut ok = true;
    for n in names {
        let (approver, bare) = match n.value.strip_prefix("group:") {
            Some(g) => (Approver::Group(g.to_owned()), g),
            None => (Approver::User(n.value.clone()), n.value.as_str()),
        };
        let valid = !bare.is_empty()
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
        if !valid {
            cx.d.error(
                Code::InvalidName,
                n.span,
                format!("`{}` is not a user or `group:<name>`", n.value),
            );
            ok = false;
        } else if !out.contains(&approver) {
            out.push(approver);
        }
    }
    ok.then_some(out)
}
