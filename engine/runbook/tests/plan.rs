//! `plan`: rendering with masked secrets, decided conditions, expanded items, and the
//! schema check of rendered values.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use drctl_connectors::Registry;
use drctl_runbook::params::{parse_assignments, resolve_text};
use drctl_runbook::plan::{Condition, Plan, PlanValue, plan, render_text};
use drctl_runbook::template::TemplateEnv;
use drctl_runbook::{NoCalls, Source, compile};

fn plan_of(yaml: &str, params: &[&str]) -> Plan {
    let registry = Registry::builtin();
    let c = compile(&Source::new("p.yaml", yaml), &registry, &NoCalls);
    let rb = c.runbook.unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
    let given =
        parse_assignments(&params.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
    let resolved = resolve_text(&rb.params, &given).unwrap();
    plan(&rb, &resolved, &registry, &TemplateEnv::new())
}

const RUNBOOK: &str = r#"runbook: shift
params:
  to: { type: string, required: true }
  drill: { type: boolean, default: false }
  pct: { type: integer, default: 50 }
secrets:
  db: { env: DRCTL_TEST_PLAN_SECRET }
steps:
  - id: promote
    action: postgres.promote
    with: { dsn: "postgres://app:{{ secrets.db }}@{{ params.to }}/app" }
  - id: drill_only
    when: params.drill
    action: log
    with: { message: drill }
  - id: shift
    needs: [promote]
    for_each: [25, "{{ params.pct }}"]
    max_parallel: 1
    action: haproxy.set_weight
    with: { socket: "h:9999", backend: app, server: "{{ params.to }}", weight: "{{ item }}" }
  - id: after
    needs: [shift]
    when: "{{ steps.promote.output.lsn != '' }}"
    action: log
    with: { message: "{{ steps.promote.output.lsn }}" }
"#;

#[test]
fn secrets_are_masked_and_never_read() {
    // The secret's variable is not even set: planning must never need its value.
    assert!(std::env::var_os("DRCTL_TEST_PLAN_SECRET").is_none());
    let p = plan_of(RUNBOOK, &["to=b"]);
    let json = serde_json::to_string(&p).unwrap();
    let text = render_text(&p);
    assert!(json.contains("postgres://app:***@b/app"), "{json}");
    assert!(text.contains("postgres://app:***@b/app"), "{text}");
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn conditions_on_params_are_decided_and_others_wait() {
    let p = plan_of(RUNBOOK, &["to=b"]);
    let steps: Vec<_> = p.blocks[0].layers.iter().flatten().collect();
    let by_id = |id: &str| steps.iter().find(|s| s.id == id).unwrap();
    assert_eq!(by_id("promote").condition, Condition::Always);
    assert!(matches!(
        by_id("drill_only").condition,
        Condition::Skipped { .. }
    ));
    assert!(matches!(
        by_id("after").condition,
        Condition::AtRunTime { .. }
    ));
    let p = plan_of(RUNBOOK, &["to=b", "drill=true"]);
    let steps: Vec<_> = p.blocks[0].layers.iter().flatten().collect();
    assert!(matches!(
        steps
            .iter()
            .find(|s| s.id == "drill_only")
            .unwrap()
            .condition,
        Condition::Runs { .. }
    ));
}

#[test]
fn items_known_at_plan_time_are_expanded_with_their_types() {
    let p = plan_of(RUNBOOK, &["to=b", "pct=75"]);
    let shift = p.blocks[0]
        .layers
        .iter()
        .flatten()
        .find(|s| s.id == "shift")
        .unwrap();
    let items = shift.items.as_ref().unwrap();
    let weights: Vec<&PlanValue> = items
        .iter()
        .map(|i| match i.with.as_ref().unwrap() {
            PlanValue::Map(m) => &m["weight"],
            other => panic!("{other:?}"),
        })
        .collect();
    // `"{{ item }}"` keeps the item's type: integers, not the strings "25" and "75".
    assert_eq!(
        weights,
        vec![
            &PlanValue::Value(serde_json::json!(25)),
            &PlanValue::Value(serde_json::json!(75))
        ]
    );
    assert_eq!(shift.max_parallel, Some(1));
}

#[test]
fn rendered_values_that_break_a_schema_are_problems() {
    let p = plan_of(RUNBOOK, &["to=b", "pct=300"]);
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    assert!(
        p.problems[0].contains("step `shift[1]`"),
        "{}",
        p.problems[0]
    );
    assert!(
        p.problems[0].contains("300 is out of range"),
        "{}",
        p.problems[0]
    );
}

#[test]
fn numbers_bound_for_text_fields_become_text_as_at_run_time() {
    let yaml = "runbook: t\nparams:\n  n: { type: integer, default: 3 }\nsteps:\n  - { id: a, action: log, with: { message: \"{{ params.n }}\" } }\n";
    let p = plan_of(yaml, &[]);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let Some(PlanValue::Map(with)) = &p.blocks[0].layers[0][0].with else {
        panic!("map")
    };
    assert_eq!(with["message"], PlanValue::Value(serde_json::json!("3")));
}

#[test]
fn values_from_step_outputs_stay_templates() {
    let p = plan_of(RUNBOOK, &["to=b"]);
    let after = p.blocks[0]
        .layers
        .iter()
        .flatten()
        .find(|s| s.id == "after")
        .unwrap();
    let Some(PlanValue::Map(with)) = &after.with else {
        panic!("map")
    };
    assert_eq!(
        with["message"],
        PlanValue::AtRunTime {
            at_run_time: "{{ steps.promote.output.lsn }}".into()
        }
    );
    assert!(render_text(&p).contains("{{ steps.promote.output.lsn }} (at run time)"));
}

#[test]
fn the_plan_says_who_is_told_what() {
    let p = plan_of(
        "runbook: t\nsecrets:\n  hook: { env: H }\nnotify:\n  - { on: [step_failed, run_finished], action: notify.slack, with: { webhook: \"{{ secrets.hook }}\", text: \"{{ notice.summary }}\" }, required: true }\nsteps:\n  - { id: a, action: log, with: { message: hi } }\n",
        &[],
    );
    assert!(
        render_text(&p).contains("notify\n  step_failed, run_finished → notify.slack (required)\n"),
        "{}",
        render_text(&p)
    );
}
