//! What the compiler must accept, and the warnings it gives: the other half of
//! `malformed.rs`. A checker that rejects everything would pass that file; not this one.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use drctl_connectors::Registry;
use drctl_runbook::fs::{FsCalls, collect, read_source};
use drctl_runbook::model::{ForEachItems, StepKind};
use drctl_runbook::{Code, Diagnostic, NoCalls, Runbook, Severity, Source, compile};

fn compiled(yaml: &str) -> (Option<Runbook>, Vec<Diagnostic>) {
    let registry = Registry::builtin();
    let c = compile(&Source::new("t.yaml", yaml), &registry, &NoCalls);
    (c.runbook, c.diagnostics)
}

fn clean(yaml: &str) -> Runbook {
    let (rb, diags) = compiled(yaml);
    assert!(diags.is_empty(), "{diags:#?}");
    rb.expect("compiles")
}

fn warnings(yaml: &str) -> Vec<(u32, u32, Code)> {
    let (rb, diags) = compiled(yaml);
    assert!(rb.is_some(), "warnings must not block: {diags:#?}");
    diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| (d.span.line, d.span.col, d.code))
        .collect()
}

#[test]
fn scopes_allow_what_is_upstream_or_owned() {
    let rb = clean(
        r#"
runbook: scopes
params:
  hosts: { type: list, default: [a, b] }
secrets:
  token: { env: TOKEN }
steps:
  - id: first
    action: http.request
    with: { url: "http://x/{{ params.hosts[0] }}", headers: { Authorization: "Bearer {{ secrets.token }}" } }
  - id: second
    needs: [first]
    for_each: "{{ params.hosts }}"
    max_parallel: 2
    when: "steps.first.output.status == 200 and run.drill == false"
    action: http.request
    with: { url: "http://{{ item }}/{{ index }}/{{ steps.first.output.body }}" }
    verify: { action: assert, with: { that: "{{ steps.second.output is defined and item is string }}" } }
    compensate: { action: log, with: { message: "undo {{ item }} after {{ steps.second.status }}" } }
  - id: third
    needs: [second]
    action: log
    with: { message: "{{ steps.first.output | to_json }} {{ 'a b' | quote }}" }
on_failure:
  - id: cleanup
    action: log
    with: { message: "{{ steps.third.status }}" }
finally:
  - id: last
    action: log
    with: { message: "{{ steps.cleanup.status }} {{ steps.first.status }} {{ run.elapsed }}" }
"#,
    );
    assert_eq!(rb.steps.steps.len(), 3);
    assert_eq!(rb.steps.layers, vec![vec![0], vec![1], vec![2]]);
    let second = rb.step("second").unwrap();
    assert!(matches!(
        second.for_each.as_ref().unwrap().items,
        ForEachItems::Expr(_)
    ));
    assert_eq!(
        second
            .for_each
            .as_ref()
            .unwrap()
            .max_parallel
            .unwrap()
            .get(),
        2
    );
    assert!(second.verify.is_some() && second.compensate.is_some());
    assert!(matches!(second.kind, StepKind::Action(_)));
}

#[test]
fn warnings_do_not_block_and_point_at_the_cause() {
    let yaml = r#"runbook: w
secrets:
  unused: { env: UNUSED }
objectives: { rto: 5m }
steps:
  - id: promote
    action: redis.sentinel_failover
    with: { sentinels: ["s:26379"], master: m, password: hunter2 }
    on_interrupt: retry
  - id: maybe
    when: "{{ 1 == 1 }}"
    action: log
    with: { message: hi }
"#;
    assert_eq!(
        warnings(yaml),
        vec![
            (3, 3, Code::UnusedSecret),
            (4, 20, Code::RtoUnmarked),
            (8, 58, Code::LiteralCredential),
            (9, 19, Code::NonIdempotentRetry),
            (11, 11, Code::ConstantCondition),
        ]
    );
}

#[test]
fn a_webhook_without_a_gate_is_a_warning() {
    let hooked = |steps: &str| {
        format!(
            "runbook: w\ntriggers:\n  - webhook: {{ name: down, auth: {{ scheme: bearer, secrets: [ {{ env: T }} ] }} }}\nsteps:\n{steps}"
        )
    };
    let act = "  - { id: a, action: log, with: { message: hi } }\n";
    assert_eq!(warnings(&hooked(act)), vec![(3, 14, Code::UngatedWebhook)]);
    let gated = format!("  - id: gate\n    approval: {{ approvers: [alice] }}\n{act}");
    assert_eq!(warnings(&hooked(&gated)), vec![]);
}

#[test]
fn a_webhook_that_only_proposes_needs_no_gate_and_waits_an_hour_by_default() {
    use drctl_runbook::model::Trigger;
    let hooked = |extra: &str| {
        format!(
            "runbook: w\ntriggers:\n  - webhook: {{ name: down, auth: {{ scheme: bearer, secrets: [ {{ env: T }} ] }}{extra} }}\nsteps:\n  - {{ id: a, action: log, with: {{ message: hi }} }}\n"
        )
    };
    let confirm_of = |yaml: &str| {
        let (rb, _) = compiled(yaml);
        match rb.unwrap().triggers.first() {
            Some(Trigger::Webhook(w)) => w.confirm,
            other => panic!("{other:?}"),
        }
    };
    let proposed = hooked(", confirm: true");
    assert_eq!(warnings(&proposed), vec![]);
    assert_eq!(
        confirm_of(&proposed),
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(
        confirm_of(&hooked(", confirm: true, confirm_within: 15m")),
        Some(std::time::Duration::from_secs(900))
    );
    assert_eq!(confirm_of(&hooked(", confirm: false")), None);
    // A deadline without `confirm` is a mistake, named where it is.
    let (rb, diags) = compiled(&hooked(", confirm_within: 15m"));
    assert!(rb.is_none());
    let errors: Vec<(u32, u32)> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.span.line, d.span.col))
        .collect();
    assert_eq!(errors, vec![(3, 95)], "{diags:#?}");
    // Too short to confirm in time, or so long the alert is history.
    for bad in ["10s", "8d"] {
        let (rb, diags) = compiled(&hooked(&format!(", confirm: true, confirm_within: {bad}")));
        assert!(rb.is_none(), "{bad}: {diags:#?}");
        assert!(
            diags.iter().any(|d| d.message.contains("30s to 7d")),
            "{diags:#?}"
        );
    }
}

#[test]
fn a_transformed_secret_is_a_warning_a_chosen_one_is_not() {
    let yaml = r#"runbook: w
params:
  to: { type: string, default: a }
secrets:
  a: { env: A_TOKEN }
  b: { env: B_TOKEN }
steps:
  - id: shout
    action: http.request
    with: { url: "https://x.example/?t={{ secrets.a | upper }}" }
  - id: pick
    action: http.request
    with: { url: "https://x.example/", headers: { t: "{{ secrets.a if params.to == 'a' else secrets.b }}" } }
"#;
    assert_eq!(warnings(yaml), vec![(10, 43, Code::SecretTransformed)]);
}

#[test]
fn idempotent_retry_and_marked_rto_give_no_warning() {
    let yaml = r#"runbook: w
objectives: { rto: 5m }
steps:
  - id: fence
    action: postgres.fence
    with: { dsn: "{{ params.dsn }}" }
    on_interrupt: retry
    marks: [rto_start, rto_end]
params:
  dsn: { type: string, required: true }
"#;
    assert!(warnings(yaml).is_empty());
}

#[test]
fn approvals_keep_their_policy() {
    let rb = clean(
        r#"runbook: gates
steps:
  - id: gate
    approval:
      message: "go?"
      approvers: [alice, group:dba, group:sre]
      min: 2
      distinct_groups: true
      timeout: 15m
      on_timeout: escalate
      escalate: [[group:leads], [cto]]
      expires: 1h
"#,
    );
    let StepKind::Approval(a) = &rb.step("gate").unwrap().kind else {
        panic!("approval")
    };
    assert_eq!(a.approvers.len(), 3);
    assert_eq!(a.min.get(), 2);
    assert!(a.distinct_groups && a.require_comment && !a.allow_self_approval);
    assert_eq!(a.escalate.len(), 2);
    assert_eq!(a.timeout, Some(std::time::Duration::from_secs(900)));
}

#[test]
fn every_shipped_runbook_compiles_without_problems() {
    let registry = Registry::builtin();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
    let files = collect(&[root]).unwrap();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let source = read_source(&file).unwrap();
        let calls = FsCalls::new(&registry);
        let c = compile(&source, &registry, &calls);
        assert!(
            c.diagnostics.is_empty(),
            "{}: {:#?}",
            file.display(),
            c.diagnostics
        );
        assert!(c.runbook.is_some());
    }
}

#[test]
fn calls_are_checked_against_the_callee_and_cycles_are_found() {
    let dir = std::env::temp_dir().join(format!("drctl-calls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "child.yaml",
        "runbook: child\nparams:\n  region: { type: string, required: true }\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ params.region }}\" }\n",
    );
    write(
        "parent.yaml",
        "runbook: parent\nsteps:\n  - id: a\n    call: { runbook: child.yaml, params: { regoin: x } }\n",
    );
    write(
        "loop_a.yaml",
        "runbook: a\nsteps:\n  - id: a\n    call: { runbook: loop_b.yaml }\n",
    );
    write(
        "loop_b.yaml",
        "runbook: b\nsteps:\n  - id: b\n    call: { runbook: loop_a.yaml }\n",
    );
    let registry = Registry::builtin();
    let run = |name: &str| {
        let source = read_source(&dir.join(name)).unwrap();
        let calls = FsCalls::new(&registry);
        compile(&source, &registry, &calls).diagnostics
    };
    let parent = run("parent.yaml");
    let codes: Vec<(u32, u32, Code)> = parent
        .iter()
        .map(|d| (d.span.line, d.span.col, d.code))
        .collect();
    assert_eq!(
        codes,
        vec![(4, 11, Code::MissingField), (4, 44, Code::UnknownReference)],
        "{parent:#?}"
    );
    assert_eq!(parent[1].hint.as_deref(), Some("did you mean `region`?"));
    let looped = run("loop_a.yaml");
    assert_eq!(looped.len(), 1, "{looped:#?}");
    assert_eq!(looped[0].code, Code::CallTarget);
    assert!(looped[0].message.contains("error"), "{}", looped[0].message);
    let inner = run("loop_b.yaml");
    assert!(inner[0].message.contains("error(s)"), "{inner:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn notify_subscriptions_see_params_secrets_run_and_notice() {
    let rb = clean(
        r#"runbook: t
params:
  region: { type: string, default: a }
secrets:
  hook: { env: HOOK }
objectives: { rto: 5m }
notify:
  - on: [approval_requested, step_failed, run_finished, rto_breached, run_finished]
    action: notify.slack
    with:
      webhook: "{{ secrets.hook }}"
      text: "{{ params.region }}: {{ notice.summary }} ({{ run.id }}, {{ notice.outcome }})"
  - on: run_finished
    action: notify.pagerduty
    with: { routing_key: "{{ secrets.hook }}", event_action: resolve }
    required: true
    retry: { attempts: 2, initial: 1s }
steps:
  - { id: a, action: log, with: { message: hi }, marks: [rto_start, rto_end] }
"#,
    );
    assert_eq!(rb.notify.len(), 2);
    let first = &rb.notify[0];
    assert_eq!(first.on.len(), 4, "a repeated event counts once");
    assert!(!first.required);
    assert_eq!(
        first.retry.attempts.get(),
        5,
        "deliveries are retried by default"
    );
    assert!(rb.notify[1].required);
    assert_eq!(rb.notify[1].retry.attempts.get(), 2);
}
