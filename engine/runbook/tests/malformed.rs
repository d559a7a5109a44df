//! One malformed runbook per row: each must fail with exactly the expected error kind at
//! exactly the expected line and column. Positions were worked out by hand from the text.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use drctl_connectors::Registry;
use drctl_runbook::{Code, NoCalls, Severity, Source, compile};

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    yaml: &'static str,
    line: u32,
    col: u32,
    code: Code,
    /// A fragment the message or hint must contain, when the wording matters.
    says: &'static str,
}

const fn case(name: &'static str, yaml: &'static str, line: u32, col: u32, code: Code) -> Case {
    Case {
        name,
        yaml,
        line,
        col,
        code,
        says: "",
    }
}

const fn says(c: Case, says: &'static str) -> Case {
    Case { says, ..c }
}

const CASES: &[Case] = &[
    // --- YAML and structure -------------------------------------------------------------
    case(
        "yaml_bad_indentation",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n   with: {message: x}\n",
        5,
        4,
        Code::YamlSyntax,
    ),
    says(
        case(
            "yaml_duplicate_key",
            "runbook: t\nrunbook: u\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            2,
            1,
            Code::YamlSyntax,
        ),
        "duplicate",
    ),
    says(
        case(
            "yaml_unclosed_flow",
            "runbook: t\nsteps: [ { id: a\n",
            2,
            10,
            Code::YamlSyntax,
        ),
        "unclosed",
    ),
    case("top_level_is_a_list", "- a\n- b\n", 1, 1, Code::WrongType),
    case("empty_file", "", 1, 1, Code::MissingField),
    says(
        case(
            "missing_runbook_name",
            "steps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            1,
            1,
            Code::MissingField,
        ),
        "`runbook`",
    ),
    says(
        case("missing_steps", "runbook: t\n", 1, 1, Code::MissingField),
        "`steps`",
    ),
    case(
        "empty_steps",
        "runbook: t\nsteps: []\n",
        2,
        8,
        Code::MissingField,
    ),
    says(
        case(
            "unknown_top_field",
            "runbook: t\ndescripton: x\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            2,
            1,
            Code::UnknownField,
        ),
        "did you mean `description`?",
    ),
    says(
        case(
            "unknown_step_field",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    neds: [a]\n",
            6,
            5,
            Code::UnknownField,
        ),
        "did you mean `needs`?",
    ),
    says(
        case(
            "unknown_retry_field",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    retry: { attempts: 2, backof: constant }\n",
            6,
            27,
            Code::UnknownField,
        ),
        "did you mean `backoff`?",
    ),
    case(
        "step_not_a_map",
        "runbook: t\nsteps: [a]\n",
        2,
        9,
        Code::WrongType,
    ),
    says(
        case(
            "step_missing_id",
            "runbook: t\nsteps:\n  - action: log\n    with: { message: hi }\n",
            3,
            5,
            Code::MissingField,
        ),
        "`id`",
    ),
    case(
        "runbook_name_not_a_string",
        "runbook: [x]\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        1,
        10,
        Code::WrongType,
    ),
    says(
        case(
            "yaml11_boolean_is_not_a_boolean",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    continue_on_failure: yes\n",
            6,
            26,
            Code::WrongType,
        ),
        "true or false",
    ),
    case(
        "max_parallel_not_a_number",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    max_parallel: two\n",
        6,
        19,
        Code::WrongType,
    ),
    case(
        "needs_is_a_map",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    needs: { b: 1 }\n",
        6,
        12,
        Code::WrongType,
    ),
    says(
        case(
            "step_does_nothing",
            "runbook: t\nsteps:\n  - id: a\n",
            3,
            5,
            Code::MissingField,
        ),
        "one of `action`, `approval` or `call`",
    ),
    case(
        "action_and_approval",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    approval: { approvers: [bob] }\n",
        6,
        15,
        Code::ConflictingFields,
    ),
    case(
        "with_without_action",
        "runbook: t\nsteps:\n  - id: a\n    approval: { approvers: [bob] }\n    with: { message: hi }\n",
        5,
        11,
        Code::ConflictingFields,
    ),
    case(
        "step_timeout_on_approval",
        "runbook: t\nsteps:\n  - id: a\n    approval: { approvers: [bob], timeout: 5m }\n    timeout: 10m\n",
        5,
        14,
        Code::ConflictingFields,
    ),
    case(
        "retry_on_approval",
        "runbook: t\nsteps:\n  - id: a\n    approval: { approvers: [bob] }\n    retry: { attempts: 2 }\n",
        5,
        12,
        Code::ConflictingFields,
    ),
    says(
        case(
            "invalid_step_id",
            "runbook: t\nsteps:\n  - id: promote-db\n    action: log\n    with: { message: hi }\n",
            3,
            9,
            Code::InvalidName,
        ),
        "write `promote_db`",
    ),
    case(
        "invalid_runbook_name",
        "runbook: My Runbook\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        1,
        10,
        Code::InvalidName,
    ),
    // --- The graph --------------------------------------------------------------------
    says(
        case(
            "duplicate_step_id",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n  - id: a\n    action: log\n    with: { message: hi }\n",
            6,
            9,
            Code::DuplicateStepId,
        ),
        "first defined at line 3",
    ),
    case(
        "duplicate_id_across_blocks",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\nfinally:\n  - id: a\n    action: log\n    with: { message: bye }\n",
        7,
        9,
        Code::DuplicateStepId,
    ),
    says(
        case(
            "unknown_need",
            "runbook: t\nsteps:\n  - id: promote\n    action: log\n    with: { message: hi }\n  - id: b\n    needs: [promte]\n    action: log\n    with: { message: hi }\n",
            7,
            13,
            Code::UnknownNeed,
        ),
        "did you mean `promote`?",
    ),
    says(
        case(
            "need_in_other_block",
            "runbook: t\nsteps:\n  - id: a\n    needs: [z]\n    action: log\n    with: { message: hi }\nfinally:\n  - id: z\n    action: log\n    with: { message: bye }\n",
            4,
            13,
            Code::UnknownNeed,
        ),
        "same block",
    ),
    says(
        case(
            "cycle_of_three",
            "runbook: t\nsteps:\n  - id: a\n    needs: [c]\n    action: log\n    with: { message: hi }\n  - id: b\n    needs: [a]\n    action: log\n    with: { message: hi }\n  - id: c\n    needs: [b]\n    action: log\n    with: { message: hi }\n",
            4,
            13,
            Code::Cycle,
        ),
        "a -> c -> b -> a",
    ),
    says(
        case(
            "self_cycle",
            "runbook: t\nsteps:\n  - id: a\n    needs: [a]\n    action: log\n    with: { message: hi }\n",
            4,
            13,
            Code::Cycle,
        ),
        "a -> a",
    ),
    // --- Actions and their inputs ------------------------------------------------------
    says(
        case(
            "unknown_action",
            "runbook: t\nsteps:\n  - id: a\n    action: postgres.promot\n    with: { message: hi }\n",
            4,
            13,
            Code::UnknownAction,
        ),
        "did you mean `postgres.promote`?",
    ),
    says(
        case(
            "missing_action_param",
            "runbook: t\nsteps:\n  - id: a\n    action: postgres.promote\n    with: { wait: 5s }\n",
            5,
            11,
            Code::ActionParam,
        ),
        "missing required parameter `dsn`",
    ),
    says(
        case(
            "missing_with",
            "runbook: t\nsteps:\n  - id: a\n    action: sleep\n",
            4,
            13,
            Code::ActionParam,
        ),
        "`duration`",
    ),
    says(
        case(
            "unknown_action_param",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi, levl: info }\n",
            5,
            26,
            Code::ActionParam,
        ),
        "did you mean `level`?",
    ),
    says(
        case(
            "mistyped_action_param",
            "runbook: t\nsteps:\n  - id: a\n    action: haproxy.set_weight\n    with: { socket: /run/h.sock, backend: app, server: b, weight: heavy }\n",
            5,
            67,
            Code::ActionParam,
        ),
        "expected an integer from 0 to 256, found a string",
    ),
    says(
        case(
            "action_param_out_of_range",
            "runbook: t\nsteps:\n  - id: a\n    action: haproxy.set_weight\n    with: { socket: /run/h.sock, backend: app, server: b, weight: 300 }\n",
            5,
            67,
            Code::ActionParam,
        ),
        "out of range",
    ),
    says(
        case(
            "action_param_not_in_enum",
            "runbook: t\nsteps:\n  - id: a\n    action: haproxy.set_state\n    with: { socket: /run/h.sock, backend: app, server: b, state: drian }\n",
            5,
            66,
            Code::ActionParam,
        ),
        "did you mean `drain`?",
    ),
    says(
        case(
            "action_duration_without_unit",
            "runbook: t\nsteps:\n  - id: a\n    action: sleep\n    with: { duration: 5 }\n",
            5,
            23,
            Code::ActionParam,
        ),
        "a duration",
    ),
    says(
        case(
            "action_exclusive_params",
            "runbook: t\nsteps:\n  - id: a\n    action: http.request\n    with: { url: \"http://x\", json: { a: 1 }, body: x }\n",
            5,
            11,
            Code::ActionParam,
        ),
        "only one of `json`, `body`",
    ),
    case(
        "unknown_action_in_verify",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    verify: { action: http.chek, with: { url: \"http://x\" } }\n",
        6,
        23,
        Code::UnknownAction,
    ),
    case(
        "unknown_action_in_compensate",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    compensate: { action: log.x, with: {} }\n",
        6,
        27,
        Code::UnknownAction,
    ),
    // --- Templates ----------------------------------------------------------------------
    says(
        case(
            "template_syntax",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ 1 + }}\" }\n",
            5,
            28,
            Code::TemplateSyntax,
        ),
        "expected expression",
    ),
    says(
        case(
            "unknown_param_reference",
            "runbook: t\nparams:\n  region: { type: string, default: a }\nsteps:\n  - id: a\n    action: log\n    with: { message: \"in {{ params.regoin }}\" }\n",
            7,
            29,
            Code::UnknownReference,
        ),
        "did you mean `region`?",
    ),
    says(
        case(
            "unknown_secret_reference",
            "runbook: t\nsecrets:\n  token: { env: T }\nsteps:\n  - id: a\n    action: exec\n    with: { argv: [\"{{ secrets.tokn }}\"] }\n",
            7,
            24,
            Code::UnknownReference,
        ),
        "did you mean `token`?",
    ),
    case(
        "unknown_step_reference",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ steps.zz.output }}\" }\n",
        5,
        26,
        Code::UnknownReference,
    ),
    says(
        case(
            "step_not_upstream",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n  - id: b\n    action: log\n    with: { message: \"{{ steps.a.output }}\" }\n",
            8,
            26,
            Code::NotUpstream,
        ),
        "add `a` to the `needs` of `b`",
    ),
    says(
        case(
            "unknown_step_field",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n  - id: b\n    needs: [a]\n    action: log\n    with: { message: \"{{ steps.a.outptu }}\" }\n",
            9,
            26,
            Code::UnknownReference,
        ),
        "did you mean `output`?",
    ),
    case(
        "secret_in_when",
        "runbook: t\nsecrets:\n  token: { env: T }\nsteps:\n  - id: a\n    when: \"{{ secrets.token == 'x' }}\"\n    action: log\n    with: { message: hi }\n",
        6,
        15,
        Code::SecretNotAllowed,
    ),
    says(
        case(
            "transformed_secret_in_a_log_message",
            "runbook: t\nsecrets:\n  tok: { env: TOK }\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ secrets.tok | upper }}\" }\n",
            7,
            26,
            Code::SecretNotAllowed,
        ),
        "writes its inputs to the run's log",
    ),
    case(
        "secret_in_an_assert_message",
        "runbook: t\nsecrets:\n  tok: { env: TOK }\nsteps:\n  - id: a\n    action: assert\n    with: { that: true, message: \"{{ secrets.tok }}\" }\n",
        7,
        38,
        Code::SecretNotAllowed,
    ),
    says(
        case(
            "secret_read_from_a_variable_every_program_inherits",
            "runbook: t\nsecrets:\n  t: { env: LC_TOKEN }\nsteps:\n  - { id: a, action: exec, with: { argv: [\"{{ secrets.t }}\"] } }\n",
            3,
            13,
            Code::InvalidValue,
        ),
        "every `exec` program inherits it",
    ),
    case(
        "secret_in_approval_message",
        "runbook: t\nsecrets:\n  token: { env: T }\nsteps:\n  - id: a\n    approval: { message: \"key {{ secrets.token }}\", approvers: [bob] }\n",
        6,
        34,
        Code::SecretNotAllowed,
    ),
    says(
        case(
            "item_outside_for_each",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ item }}\" }\n",
            5,
            26,
            Code::UnknownReference,
        ),
        "for_each",
    ),
    says(
        case(
            "unknown_filter",
            "runbook: t\nparams:\n  x: { type: string, default: a }\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ params.x | to_jsn }}\" }\n",
            7,
            37,
            Code::UnknownFilter,
        ),
        "did you mean `to_json`?",
    ),
    says(
        case(
            "unknown_variable",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ parms.x }}\" }\n",
            5,
            26,
            Code::UnknownReference,
        ),
        "did you mean `params`?",
    ),
    case(
        "when_with_two_blocks",
        "runbook: t\nsteps:\n  - id: a\n    when: \"{{ true }} and {{ false }}\"\n    action: log\n    with: { message: hi }\n",
        4,
        11,
        Code::TemplateSyntax,
    ),
    case(
        "lock_reads_steps",
        "runbook: t\nlock: \"x-{{ steps.a.output }}\"\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        2,
        13,
        Code::UnknownReference,
    ),
    case(
        "payload_in_a_step",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ payload.x }}\" }\n",
        5,
        26,
        Code::UnknownReference,
    ),
    // --- Values -------------------------------------------------------------------------
    says(
        case(
            "step_timeout_without_unit",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    timeout: 30\n",
            6,
            14,
            Code::BadDuration,
        ),
        "write `30s`",
    ),
    case(
        "duration_units_out_of_order",
        "runbook: t\ntimeout: 30m1h\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        2,
        10,
        Code::BadDuration,
    ),
    case(
        "zero_timeout",
        "runbook: t\ntimeout: 0s\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        2,
        10,
        Code::BadDuration,
    ),
    says(
        case(
            "template_with_a_loop_or_assignment",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{% set s = 'ab' %}{{ s ~ s }}\" }\n",
            5,
            26,
            Code::TemplateSyntax,
        ),
        "only `{% if %}` conditions",
    ),
    says(
        case(
            "verify_every_without_for",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    verify: { action: log, with: { message: c }, every: 5s }\n",
            6,
            57,
            Code::BadDuration,
        ),
        "`every` needs `for`",
    ),
    case(
        "bad_rto",
        "runbook: t\nobjectives: { rto: 5 minutes }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        2,
        20,
        Code::BadDuration,
    ),
    case(
        "bad_cron_field",
        "runbook: t\ntriggers:\n  - schedule: { cron: \"61 * * * *\" }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        3,
        23,
        Code::BadCron,
    ),
    says(
        case(
            "cron_that_never_fires",
            "runbook: t\ntriggers:\n  - schedule: { cron: \"0 0 30 2 *\" }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            3,
            23,
            Code::BadCron,
        ),
        "never fires",
    ),
    says(
        case(
            "unknown_timezone",
            "runbook: t\ntriggers:\n  - schedule: { cron: \"0 3 1 * *\", timezone: Europe/Brussel }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            3,
            46,
            Code::UnknownTimezone,
        ),
        "did you mean `Europe/Brussels`?",
    ),
    case(
        "approval_without_approvers",
        "runbook: t\nsteps:\n  - id: a\n    approval: { message: ok }\n",
        4,
        15,
        Code::NoApprovers,
    ),
    case(
        "approval_with_empty_approvers",
        "runbook: t\nsteps:\n  - id: a\n    approval: { approvers: [] }\n",
        4,
        28,
        Code::NoApprovers,
    ),
    says(
        case(
            "approval_min_above_approvers",
            "runbook: t\nsteps:\n  - id: a\n    approval: { approvers: [bob], min: 2 }\n",
            4,
            40,
            Code::InvalidValue,
        ),
        "only 1 approver",
    ),
    case(
        "on_timeout_without_timeout",
        "runbook: t\nsteps:\n  - id: a\n    approval: { approvers: [bob], on_timeout: approve }\n",
        4,
        47,
        Code::MissingField,
    ),
    case(
        "max_parallel_zero",
        "runbook: t\nsteps:\n  - id: a\n    for_each: [1, 2]\n    max_parallel: 0\n    action: log\n    with: { message: \"{{ item }}\" }\n",
        5,
        19,
        Code::ZeroMaxParallel,
    ),
    case(
        "for_each_empty",
        "runbook: t\nsteps:\n  - id: a\n    for_each: []\n    action: log\n    with: { message: hi }\n",
        4,
        15,
        Code::InvalidValue,
    ),
    case(
        "unknown_mark",
        "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    marks: [rto_begin]\n",
        6,
        13,
        Code::InvalidValue,
    ),
    says(
        case(
            "retry_zero_attempts",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n    retry: { attempts: 0 }\n",
            6,
            24,
            Code::InvalidValue,
        ),
        "from 1 to 100",
    ),
    says(
        case(
            "unknown_param_type",
            "runbook: t\nparams:\n  x: { type: strng }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            3,
            14,
            Code::InvalidValue,
        ),
        "did you mean `string`?",
    ),
    case(
        "param_default_of_wrong_type",
        "runbook: t\nparams:\n  x: { type: integer, default: many }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        3,
        32,
        Code::WrongType,
    ),
    case(
        "secret_from_env_and_file",
        "runbook: t\nsecrets:\n  t: { env: T, file: /x }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        3,
        22,
        Code::ConflictingFields,
    ),
    says(
        case(
            "schedule_without_required_param",
            "runbook: t\nparams:\n  region: { type: string, required: true }\ntriggers:\n  - schedule: { cron: \"0 3 * * *\" }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            5,
            15,
            Code::MissingField,
        ),
        "`region`",
    ),
    says(
        case(
            "notify_unknown_event",
            "runbook: t\nnotify:\n  - { on: [run_done], action: log, with: { message: x } }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            3,
            12,
            Code::InvalidValue,
        ),
        "run_finished",
    ),
    says(
        case(
            "notify_rto_without_objective",
            "runbook: t\nnotify:\n  - { on: rto_breached, action: log, with: { message: x } }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            3,
            11,
            Code::InvalidValue,
        ),
        "objectives",
    ),
    case(
        "notify_without_on",
        "runbook: t\nnotify:\n  - { action: log, with: { message: x } }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        3,
        5,
        Code::MissingField,
    ),
    says(
        case(
            "notice_outside_notify",
            "runbook: t\nsteps:\n  - id: a\n    action: log\n    with: { message: \"{{ notice.summary }}\" }\n",
            5,
            26,
            Code::UnknownReference,
        ),
        "only in the inputs of a `notify:`",
    ),
    says(
        case(
            "notice_unknown_field",
            "runbook: t\nnotify:\n  - { on: run_finished, action: log, with: { message: \"{{ notice.outcom }}\" } }\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
            3,
            59,
            Code::UnknownReference,
        ),
        "`outcome`",
    ),
    case(
        "call_target_unknown",
        "runbook: t\nsteps:\n  - id: a\n    call: { runbook: other.yaml }\n",
        4,
        22,
        Code::CallTarget,
    ),
];

fn errors_of(yaml: &str) -> Vec<drctl_runbook::Diagnostic> {
    let registry = Registry::builtin();
    let compiled = compile(&Source::new("case.yaml", yaml), &registry, &NoCalls);
    assert_eq!(
        compiled.runbook.is_some(),
        !compiled
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    );
    compiled
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

#[test]
fn every_malformed_runbook_fails_at_the_right_place() {
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for c in CASES {
        let errors = errors_of(c.yaml);
        let summary: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{}:{} {:?} {} {:?}",
                    e.span.line, e.span.col, e.code, e.message, e.hint
                )
            })
            .collect();
        let ok = errors.len() == 1 && {
            let e = &errors[0];
            let text = format!("{} {}", e.message, e.hint.as_deref().unwrap_or(""));
            (e.span.line, e.span.col, e.code) == (c.line, c.col, c.code) && text.contains(c.says)
        };
        if !ok {
            failures.push(format!(
                "{}: expected one {:?} at {}:{} saying {:?}, got {summary:#?}",
                c.name, c.code, c.line, c.col, c.says
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn a_runbook_with_many_problems_reports_all_of_them_in_order() {
    let yaml = "\
runbook: Bad Name
params:
  x: { type: strng }
steps:
  - id: a
    action: postgres.promot
  - id: b
    needs: [a, zz]
    action: sleep
    with: { duration: 5 }
    timeout: 5x
  - id: c
    needs: [c]
    action: log
    with: { message: \"{{ steps.b.output }} {{ params.y }}\" }
    max_parallel: 0
";
    let errors = errors_of(yaml);
    let got: Vec<(u32, u32, Code)> = errors
        .iter()
        .map(|e| (e.span.line, e.span.col, e.code))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 10, Code::InvalidName),
            (3, 14, Code::InvalidValue),
            (6, 13, Code::UnknownAction),
            (8, 16, Code::UnknownNeed),
            (10, 23, Code::ActionParam),
            (11, 14, Code::BadDuration),
            (13, 13, Code::Cycle),
            (15, 47, Code::UnknownReference),
            (16, 19, Code::ConflictingFields),
        ],
        "{errors:#?}"
    );
}
