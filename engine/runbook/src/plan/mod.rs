//! `drctl plan`: what a run would do with these params, without doing any of it.
//!
//! Everything that depends only on params is rendered (secrets as `***`); what depends on
//! step outputs or the run itself stays as its template text, marked "at run time".
//! Conditions that read only params are decided. Rendered inputs are checked against the
//! action schemas again, so a param of the wrong shape shows up here, not mid-failover.
//! Nothing here reads a clock, the environment, a file or the network: `drctl plan --live`
//! asks the actions themselves and fills in [`Live`] (see the binary's `plan` command).

mod text;

pub use text::render as render_text;

use drctl_core::{ActionCatalog, Preview, SchemaInput, Shape, Ty, format_duration, schema::check};
use indexmap::IndexMap;
use minijinja::Value;
use serde::Serialize;

use crate::model::{ActionCall, BlockKind, ForEachItems, Runbook, Step, StepKind};
use crate::params::{Origin, ResolvedParams};
use crate::template::render::{Context, Secrets, render_value};
use crate::template::{Expr, Reference, Root, Template, TemplateEnv, ValueTemplate};

/// The plan of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub source: String,
    pub digest: String,
    pub params: Vec<PlanParam>,
    pub lock: Option<PlanText>,
    pub timeout: Option<String>,
    pub rto: Option<String>,
    pub rpo: Option<String>,
    pub blocks: Vec<PlanBlock>,
    /// `notify:` subscriptions: who is told what. Their inputs depend on the notice, so
    /// only the events and the action are shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<PlanNotify>,
    /// Problems found while rendering: the run would fail on these.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanNotify {
    pub on: Vec<String>,
    pub action: String,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanParam {
    pub name: String,
    pub value: serde_json::Value,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanBlock {
    pub block: BlockKind,
    /// Steps layer by layer; the steps of one layer may run in parallel.
    pub layers: Vec<Vec<PlanStep>>,
}

/// A step as it would run.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action name, `approval` or `call <runbook>`.
    pub does: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    pub condition: Condition,
    /// Inputs of an action step without `for_each`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<PlanValue>,
    /// One entry per item of a `for_each` known at plan time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<PlanItem>>,
    /// A `for_each` whose items are only known at run time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_at_run_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<PlanApproval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<PlanCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<PlanAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensate: Option<PlanAction>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// With `--live`: what the action would do now (for a step without `for_each`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

/// What `plan --live` found for one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "live", rename_all = "snake_case")]
pub enum Live {
    /// The action read the live system.
    Preview(Preview),
    /// Reading failed. A permanent error means the call would fail the same way.
    Error { error: String, permanent: bool },
    /// The action was not asked, and why: skipped, inputs known only at run time, a
    /// secret that cannot be read, or an action without a live plan.
    NotAsked { why: String },
}

/// Whether a step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Condition {
    /// No `when`.
    Always,
    /// `when` reads only params and is true.
    Runs { when: String },
    /// `when` reads only params and is false: the step will be skipped.
    Skipped { when: String },
    /// `when` reads step outputs or the run: decided when the step is reached.
    AtRunTime { when: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub index: usize,
    pub item: PlanValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<PlanValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanAction {
    pub action: String,
    pub with: PlanValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanApproval {
    pub message: Option<PlanText>,
    pub approvers: Vec<String>,
    pub min: u32,
    pub distinct_groups: bool,
    pub allow_self_approval: bool,
    pub timeout: Option<String>,
    pub on_timeout: String,
    pub escalate: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanCall {
    pub runbook: String,
    pub params: IndexMap<String, PlanValue>,
}

/// Text that is either rendered or only known at run time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PlanText {
    Rendered(String),
    AtRunTime { at_run_time: String },
}

/// A value with the parts known at plan time rendered. Lists and maps are always
/// `List` / `Map`, so `Value` holds only scalars and the schema check sees every level.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PlanValue {
    Value(serde_json::Value),
    AtRunTime { at_run_time: String },
    List(Vec<PlanValue>),
    Map(IndexMap<String, PlanValue>),
}

impl PlanValue {
    /// Decomposes JSON so that containers become `List` / `Map`.
    pub fn from_json(j: serde_json::Value) -> Self {
        match j {
            serde_json::Value::Array(items) => {
                PlanValue::List(items.into_iter().map(PlanValue::from_json).collect())
            }
            serde_json::Value::Object(map) => PlanValue::Map(
                map.into_iter()
                    .map(|(k, v)| (k, PlanValue::from_json(v)))
                    .collect(),
            ),
            scalar => PlanValue::Value(scalar),
        }
    }

    /// The value as JSON, when every part of it is known.
    pub fn known_json(&self) -> Option<serde_json::Value> {
        self.is_complete().then(|| to_json(self))
    }

    /// Whether any part waits for run time.
    pub fn is_complete(&self) -> bool {
        match self {
            PlanValue::Value(_) => true,
            PlanValue::AtRunTime { .. } => false,
            PlanValue::List(items) => items.iter().all(PlanValue::is_complete),
            PlanValue::Map(map) => map.values().all(PlanValue::is_complete),
        }
    }
}

impl SchemaInput for PlanValue {
    fn shape(&self) -> Shape<'_, Self> {
        match self {
            PlanValue::AtRunTime { .. } => Shape::Deferred,
            PlanValue::List(items) => Shape::Seq(items),
            PlanValue::Map(map) => {
                Shape::Map(map.iter().map(|(k, v)| (k.as_str(), None, v)).collect())
            }
            PlanValue::Value(v) => match v {
                serde_json::Value::Null => Shape::Null,
                serde_json::Value::Bool(b) => Shape::Bool(*b),
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .map_or_else(|| Shape::Float(n.as_f64().unwrap_or(f64::NAN)), Shape::Int),
                serde_json::Value::String(s) => Shape::Str(s),
                // Never built: `from_json` turns containers into `List` / `Map`.
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => Shape::Deferred,
            },
        }
    }
}

/// Builds the plan of `runbook` with `params`, secrets masked.
pub fn plan(
    runbook: &Runbook,
    params: &ResolvedParams,
    catalog: &dyn ActionCatalog,
    env: &TemplateEnv,
) -> Plan {
    let secret_names = runbook.secret_names();
    plan_with(
        runbook,
        params,
        catalog,
        env,
        Secrets::Masked(&secret_names),
    )
}

/// The plan with `secrets` as given. With [`Secrets::Revealed`] it holds real values: it
/// exists only to hand `plan --live` the inputs to call actions with, and must never be
/// shown, stored or logged. Its steps are in the same order as [`plan`]'s.
pub fn plan_with(
    runbook: &Runbook,
    params: &ResolvedParams,
    catalog: &dyn ActionCatalog,
    env: &TemplateEnv,
    secrets: Secrets<'_>,
) -> Plan {
    let base = Context::new().params(&params.to_map()).secrets(secrets);
    let mut p = Planner {
        env,
        catalog,
        base,
        problems: Vec::new(),
        at: String::new(),
    };
    let blocks = runbook
        .blocks()
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| PlanBlock {
            block: b.kind,
            layers: b
                .layers
                .iter()
                .map(|layer| {
                    layer
                        .iter()
                        .filter_map(|&i| b.steps.get(i))
                        .map(|s| p.step(s))
                        .collect()
                })
                .collect(),
        })
        .collect();
    p.at = "lock".to_owned();
    let lock = runbook.lock.as_ref().map(|t| p.text(t));
    Plan {
        runbook: runbook.name.to_string(),
        source: runbook.source.name.clone(),
        digest: runbook.source.digest.clone(),
        params: params
            .values
            .iter()
            .map(|(k, (v, origin))| PlanParam {
                name: k.to_string(),
                value: v.clone(),
                origin: *origin,
            })
            .collect(),
        lock,
        timeout: runbook.timeout.map(format_duration),
        rto: runbook.objectives.rto.map(format_duration),
        rpo: runbook.objectives.rpo.map(format_duration),
        blocks,
        notify: runbook
            .notify
            .iter()
            .map(|n| PlanNotify {
                on: n.on.iter().map(|o| o.as_str().to_owned()).collect(),
                action: n.call.action.to_string(),
                required: n.required,
            })
            .collect(),
        problems: p.problems,
    }
}

struct Planner<'a> {
    env: &'a TemplateEnv,
    catalog: &'a dyn ActionCatalog,
    base: Context,
    problems: Vec<String>,
    /// What is being planned, for problem messages: "step `gate`", "lock".
    at: String,
}

/// Roots known at plan time: params, masked secrets, and item/index when the items are.
fn known(r: &Reference, with_item: bool) -> bool {
    match r.root {
        Root::Params | Root::Secrets => true,
        Root::Item | Root::Index => with_item,
        Root::Steps | Root::Run | Root::Payload | Root::Notice => false,
    }
}

impl Planner<'_> {
    fn step(&mut self, step: &Step) -> PlanStep {
        self.at = format!("step `{}`", step.id);
        let condition = self.condition(step);
        let mut out = PlanStep {
            id: step.id.to_string(),
            name: step.name.clone(),
            does: step.kind_label(),
            idempotent: step
                .action()
                .and_then(|c| self.catalog.spec(c.action.as_str()))
                .map(|s| s.idempotent),
            needs: step.needs.iter().map(ToString::to_string).collect(),
            condition,
            with: None,
            items: None,
            items_at_run_time: None,
            max_parallel: step
                .for_each
                .as_ref()
                .and_then(|f| f.max_parallel)
                .map(|n| n.get()),
            approval: None,
            call: None,
            verify: None,
            compensate: None,
            notes: notes(step),
            live: None,
        };
        let ctx = self.base.clone();
        match &step.kind {
            StepKind::Action(call) => match &step.for_each {
                None => {
                    out.with = Some(self.inputs(&format!("step `{}`", step.id), call, &ctx, false))
                }
                Some(fe) => match self.items(&fe.items, &ctx) {
                    Some(items) => {
                        out.items = Some(
                            items
                                .into_iter()
                                .enumerate()
                                .map(|(index, item)| {
                                    let with = item.is_complete().then(|| {
                                        let c = ctx.clone().item(&to_json(&item), index);
                                        self.inputs(
                                            &format!("step `{}[{index}]`", step.id),
                                            call,
                                            &c,
                                            true,
                                        )
                                    });
                                    PlanItem {
                                        index,
                                        item,
                                        with,
                                        live: None,
                                    }
                                })
                                .collect(),
                        );
                    }
                    None => {
                        out.items_at_run_time = Some(describe_items(&fe.items));
                        out.with =
                            Some(self.inputs(&format!("step `{}`", step.id), call, &ctx, false));
                    }
                },
            },
            StepKind::Approval(a) => {
                out.approval = Some(PlanApproval {
                    message: a.message.as_ref().map(|m| self.text(m)),
                    approvers: a.approvers.iter().map(ToString::to_string).collect(),
                    min: a.min.get(),
                    distinct_groups: a.distinct_groups,
                    allow_self_approval: a.allow_self_approval,
                    timeout: a.timeout.map(format_duration),
                    on_timeout: a.on_timeout.as_str().to_owned(),
                    escalate: a
                        .escalate
                        .iter()
                        .map(|l| l.iter().map(ToString::to_string).collect())
                        .collect(),
                });
            }
            StepKind::Call(sub) => {
                out.call = Some(PlanCall {
                    runbook: sub.runbook.clone(),
                    params: sub
                        .params
                        .iter()
                        .map(|(k, v)| (k.to_string(), self.value(v, &ctx, false)))
                        .collect(),
                });
            }
        }
        out.verify = step.verify.as_ref().map(|v| PlanAction {
            action: v.call.action.to_string(),
            with: self.inputs(&format!("step `{}` verify", step.id), &v.call, &ctx, false),
            soak: v.soak.map(format_duration),
            every: v.soak.map(|_| format_duration(v.every)),
        });
        out.compensate = step.compensate.as_ref().map(|c| PlanAction {
            action: c.action.to_string(),
            with: self.inputs(&format!("step `{}` compensate", step.id), c, &ctx, false),
            soak: None,
            every: None,
        });
        out
    }

    fn condition(&mut self, step: &Step) -> Condition {
        let Some(when) = &step.when else {
            return Condition::Always;
        };
        let text = when.source.trim().to_owned();
        if !when.refs.iter().all(|r| r.root == Root::Params) {
            return Condition::AtRunTime { when: text };
        }
        match self.env.eval(&when.source, &self.base.build()) {
            Ok(v) if v.is_true() => Condition::Runs { when: text },
            Ok(_) => Condition::Skipped { when: text },
            Err(e) => {
                self.problems.push(format!("{}: `when`: {e}", self.at));
                Condition::AtRunTime { when: text }
            }
        }
    }

    /// An action's inputs, rendered and checked against its schema.
    fn inputs(
        &mut self,
        label: &str,
        call: &ActionCall,
        ctx: &Context,
        with_item: bool,
    ) -> PlanValue {
        let mut value = self.value(&call.with, ctx, with_item);
        if let Some(spec) = self.catalog.spec(call.action.as_str()) {
            let ty = Ty::Object(spec.params.clone());
            // As the engine does: numbers bound for text fields become text.
            coerce(&ty, &mut value);
            let mut errors = Vec::new();
            check(&ty, &value, &mut |_, e| errors.push(e));
            for e in errors {
                self.problems.push(format!("{label}: {}: {e}", call.action));
            }
        }
        value
    }

    fn items(&mut self, items: &ForEachItems, ctx: &Context) -> Option<Vec<PlanValue>> {
        match items {
            ForEachItems::List(list) => {
                Some(list.iter().map(|v| self.value(v, ctx, false)).collect())
            }
            ForEachItems::Expr(e) if e.refs.iter().all(|r| r.root == Root::Params) => {
                match self
                    .env
                    .eval(&e.source, &ctx.build())
                    .map_err(|e| e.message)
                    .and_then(|v| expr_list(&v))
                {
                    Ok(list) => Some(list.into_iter().map(PlanValue::from_json).collect()),
                    Err(message) => {
                        self.problems
                            .push(format!("{}: `for_each`: {message}", self.at));
                        None
                    }
                }
            }
            ForEachItems::Expr(_) => None,
        }
    }

    fn value(&mut self, v: &ValueTemplate, ctx: &Context, with_item: bool) -> PlanValue {
        match v {
            ValueTemplate::Literal(j) => PlanValue::from_json(j.clone()),
            ValueTemplate::Text(Template { refs, .. }) | ValueTemplate::Expr(Expr { refs, .. })
                if !refs.iter().all(|r| known(r, with_item)) =>
            {
                PlanValue::AtRunTime {
                    at_run_time: template_text(v),
                }
            }
            ValueTemplate::Text(_) | ValueTemplate::Expr(_) => {
                match render_value(self.env, v, &ctx.build()) {
                    Ok(j) => PlanValue::from_json(j),
                    Err(e) => {
                        self.problems
                            .push(format!("{} (line {}): {}", self.at, e.span.line, e.message));
                        // Reported once here; deferring keeps the schema check from adding
                        // a second, derived complaint about the same value.
                        PlanValue::AtRunTime {
                            at_run_time: template_text(v),
                        }
                    }
                }
            }
            ValueTemplate::List(items) => PlanValue::List(
                items
                    .iter()
                    .map(|i| self.value(i, ctx, with_item))
                    .collect(),
            ),
            ValueTemplate::Map(map) => PlanValue::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(v, ctx, with_item)))
                    .collect(),
            ),
        }
    }

    fn text(&mut self, t: &Template) -> PlanText {
        if !t.refs.iter().all(|r| known(r, false)) {
            return PlanText::AtRunTime {
                at_run_time: t.source.clone(),
            };
        }
        match self.env.render(&t.source, &self.base.build()) {
            Ok(s) => PlanText::Rendered(s),
            Err(e) => {
                self.problems
                    .push(format!("{} (line {}): {}", self.at, t.span.line, e.message));
                PlanText::AtRunTime {
                    at_run_time: t.source.clone(),
                }
            }
        }
    }
}

impl Plan {
    /// The plan as it may be shown: never a credential. The known values of sensitive
    /// fields, and of the entries of sensitive maps (`headers`) whose name says
    /// credential, become `***`. Only for display: `--live` reads with the real values.
    pub fn mask_credentials(&mut self, catalog: &dyn ActionCatalog) {
        let params = |action: &str| catalog.spec(action).map(|s| &s.params);
        for step in self
            .blocks
            .iter_mut()
            .flat_map(|b| b.layers.iter_mut().flatten())
        {
            if let Some(p) = params(&step.does) {
                if let Some(with) = &mut step.with {
                    mask_credentials(p, with);
                }
                for item in step.items.iter_mut().flatten() {
                    if let Some(with) = &mut item.with {
                        mask_credentials(p, with);
                    }
                }
            }
            for call in [&mut step.verify, &mut step.compensate]
                .into_iter()
                .flatten()
            {
                if let Some(p) = params(&call.action) {
                    mask_credentials(p, &mut call.with);
                }
            }
        }
    }
}

fn mask_credentials(params: &drctl_core::ObjectSchema, value: &mut PlanValue) {
    let PlanValue::Map(map) = value else {
        return;
    };
    for (k, v) in map.iter_mut() {
        // A password in any URL: `https://user:***@host/`.
        if let PlanValue::Value(serde_json::Value::String(text)) = v
            && let Some(range) = crate::compile::url_password(text)
        {
            text.replace_range(range, "***");
        }
        if !params.get(k).is_some_and(|f| f.sensitive) {
            continue;
        }
        match v {
            PlanValue::Value(serde_json::Value::String(_)) => {
                *v = PlanValue::Value(serde_json::Value::String("***".into()));
            }
            PlanValue::Map(inner) => {
                for (name, entry) in inner.iter_mut() {
                    let says = crate::compile::credential_name(name)
                        || matches!(entry, PlanValue::Value(serde_json::Value::String(t)) if crate::compile::credential_value(t));
                    if says && matches!(entry, PlanValue::Value(_)) {
                        *entry = PlanValue::Value(serde_json::Value::String("***".into()));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The plan's side of `drctl_core::schema::coerce_to_schema`, over partly rendered values.
fn coerce(ty: &Ty, value: &mut PlanValue) {
    match (ty, value) {
        (
            Ty::String | Ty::Enum(_),
            v @ PlanValue::Value(serde_json::Value::Number(_) | serde_json::Value::Bool(_)),
        ) => {
            if let PlanValue::Value(j) = v {
                *v = PlanValue::Value(serde_json::Value::String(j.to_string()));
            }
        }
        (Ty::List(item), PlanValue::List(items)) => items.iter_mut().for_each(|v| coerce(item, v)),
        (Ty::Map(inner), PlanValue::Map(map)) => map.values_mut().for_each(|v| coerce(inner, v)),
        (Ty::Object(schema), PlanValue::Map(map)) => {
            for (k, v) in map.iter_mut() {
                if let Some(field) = schema.get(k) {
                    coerce(&field.ty, v);
                }
            }
        }
        _ => {}
    }
}

/// How a template is shown when its value is not known: as written.
fn template_text(v: &ValueTemplate) -> String {
    match v {
        ValueTemplate::Expr(e) => format!("{{{{{}}}}}", e.source),
        ValueTemplate::Text(t) => t.source.clone(),
        ValueTemplate::Literal(_) | ValueTemplate::List(_) | ValueTemplate::Map(_) => String::new(),
    }
}

fn expr_list(v: &Value) -> Result<Vec<serde_json::Value>, String> {
    match crate::template::render::to_json(v)? {
        serde_json::Value::Array(items) => Ok(items),
        other => Err(format!("expected a list, got {other}")),
    }
}

fn to_json(v: &PlanValue) -> serde_json::Value {
    match v {
        PlanValue::Value(j) => j.clone(),
        PlanValue::AtRunTime { .. } => serde_json::Value::Null,
        PlanValue::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        PlanValue::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn describe_items(items: &ForEachItems) -> String {
    match items {
        ForEachItems::Expr(e) => format!("{{{{{}}}}}", e.source),
        ForEachItems::List(list) => format!("{} items", list.len()),
    }
}

fn notes(step: &Step) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(r) = &step.retry {
        let on: Vec<&str> = r.on.iter().map(|c| c.as_str()).collect();
        notes.push(format!(
            "retry: {} attempts, {} backoff from {}{} on {}",
            r.attempts,
            match r.backoff {
                crate::model::Backoff::Constant => "constant",
                crate::model::Backoff::Exponential => "exponential",
            },
            format_duration(r.initial),
            r.max
                .map(|m| format!(" up to {}", format_duration(m)))
                .unwrap_or_default(),
            on.join(", ")
        ));
    }
    if let Some(t) = step.timeout {
        notes.push(format!("timeout: {}", format_duration(t)));
    }
    if let Some(o) = step.on_interrupt {
        let o = match o {
            crate::model::OnInterrupt::Retry => "retry",
            crate::model::OnInterrupt::Pause => "pause",
        };
        notes.push(format!("on_interrupt: {o}"));
    }
    if step.continue_on_failure {
        notes.push("continue_on_failure".to_owned());
    }
    if !step.marks.is_empty() {
        notes.push(format!(
            "marks: {}",
            step.marks
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    notes
}
