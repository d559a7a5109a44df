//! The compiled runbook: the only form the engine accepts. Built solely by
//! [`crate::compile`], so every value here has been checked: names are well formed, the
//! graph is acyclic, every template parses and reads only what is in scope, and every
//! action call matches its action's schema as far as can be known before rendering.

mod step;

use std::collections::HashMap;
use std::time::Duration;

use drctl_core::{ParamName, RunbookName, SecretName};
use indexmap::IndexMap;

use crate::source::Span;
use crate::template::Template;

pub use step::{
    ActionCall, Approval, Approver, Backoff, DEFAULT_VERIFY_EVERY, ErrorClass, ForEach,
    ForEachItems, Mark, OnInterrupt, OnTimeout, RetryPolicy, Step, StepKind, SubRunbook, Verify,
};

/// A compiled runbook.
#[derive(Debug, Clone)]
pub struct Runbook {
    pub name: RunbookName,
    pub description: Option<String>,
    pub params: IndexMap<ParamName, ParamSpec>,
    pub secrets: IndexMap<SecretName, SecretSource>,
    pub objectives: Objectives,
    /// Lock name template (params only), taken before the first step.
    pub lock: Option<Template>,
    pub timeout: Option<Duration>,
    pub triggers: Vec<Trigger>,
    /// `readiness:`: how often a server checks that a run could start and its actions
    /// would work now (`plan --live`), with which params.
    pub readiness: Option<Readiness>,
    /// `notify:` subscriptions, in file order (their index is their id in events).
    pub notify: Vec<Subscription>,
    pub steps: Block,
    pub on_failure: Block,
    pub finally: Block,
    /// Where it came from, and the digest of the exact text compiled.
    pub source: SourceInfo,
}

impl Runbook {
    /// The three blocks in execution order.
    pub fn blocks(&self) -> [&Block; 3] {
        [&self.steps, &self.on_failure, &self.finally]
    }

    /// Finds a step in any block.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.blocks().into_iter().find_map(|b| b.get(id))
    }

    /// Every action call of every step, with its step: the step's own action, its
    /// `verify` check and its `compensate` action.
    pub fn action_calls(&self) -> impl Iterator<Item = (&Step, &ActionCall)> {
        self.blocks()
            .into_iter()
            .flat_map(|b| b.steps.iter())
            .flat_map(|step| {
                step.action()
                    .into_iter()
                    .chain(step.verify.as_ref().map(|v| &v.call))
                    .chain(step.compensate.as_ref())
                    .map(move |call| (step, call))
            })
    }

    /// Secret names, in declaration order.
    pub fn secret_names(&self) -> Vec<String> {
        self.secrets.keys().map(|k| k.to_string()).collect()
    }
}

/// The file a runbook was compiled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub name: String,
    /// `sha256:<hex>` of the source text.
    pub digest: String,
}

/// Which block a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// `steps`: the runbook proper.
    Main,
    /// `on_failure`: runs when the main block failed, after compensations.
    OnFailure,
    /// `finally`: always runs last.
    Finally,
}

impl BlockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Main => "steps",
            BlockKind::OnFailure => "on_failure",
            BlockKind::Finally => "finally",
        }
    }
}

/// The steps of one block and their execution layers.
#[derive(Debug, Clone)]
pub struct Block {
    pub kind: BlockKind,
    /// In file order.
    pub steps: Vec<Step>,
    /// Indexes into `steps`, layer by layer: a step's layer is one more than the deepest of
    /// its `needs`. Steps of one layer can run in parallel.
    pub layers: Vec<Vec<usize>>,
    /// Each step's index in `steps`: the engine looks steps up by name on every event.
    positions: HashMap<String, usize>,
}

impl Block {
    pub fn new(kind: BlockKind, steps: Vec<Step>, layers: Vec<Vec<usize>>) -> Self {
        let positions = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str().to_owned(), i))
            .collect();
        Self {
            kind,
            steps,
            layers,
            positions,
        }
    }

    pub fn empty(kind: BlockKind) -> Self {
        Self::new(kind, Vec::new(), Vec::new())
    }

    pub fn get(&self, id: &str) -> Option<&Step> {
        self.position(id).map(|i| &self.steps[i])
    }

    /// The index in `steps` of the step named `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.positions.get(id).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The type of a runbook parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    List,
    Map,
}

impl ParamType {
    pub const ALL: [ParamType; 6] = [
        ParamType::String,
        ParamType::Integer,
        ParamType::Number,
        ParamType::Boolean,
        ParamType::List,
        ParamType::Map,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::List => "list",
            ParamType::Map => "map",
        }
    }

    /// Whether a JSON value has this type.
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match self {
            ParamType::String => value.is_string(),
            ParamType::Integer => value.is_i64() || value.is_u64(),
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::List => matches!(value, J::Array(_)),
            ParamType::Map => matches!(value, J::Object(_)),
        }
    }
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub ty: ParamType,
    /// Must be given: `required: true` and no default.
    pub required: bool,
    pub default: Option<serde_json::Value>,
    /// `enum:`, the only values allowed.
    pub allowed: Option<Vec<serde_json::Value>>,
    pub description: Option<String>,
    pub span: Span,
}

/// Where a secret's value is read from when a run needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(String),
}

/// Recovery objectives, measured and reported for every run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Objectives {
    pub rto: Option<Duration>,
    pub rpo: Option<Duration>,
}

/// A `notify:` subscription: when one of `on` happens, call `call` (usually a
/// `notify.*` action). Deliveries are retried by `retry`; one that still fails fails the
/// run only when `required`.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub on: Vec<NoticeOn>,
    pub call: ActionCall,
    pub required: bool,
    pub retry: RetryPolicy,
}

/// The events a runbook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeOn {
    /// An approval step starts waiting, or escalates to its next level.
    ApprovalRequested,
    /// A step (of any block) fails for good.
    StepFailed,
    /// The run is about to finish: the notice carries its outcome.
    RunFinished,
    /// `objectives.rto` has passed since the `rto_start` step started, and the `rto_end`
    /// step has not succeeded.
    RtoBreached,
}

impl NoticeOn {
    pub const ALL: [(&'static str, NoticeOn); 4] = [
        ("approval_requested", NoticeOn::ApprovalRequested),
        ("step_failed", NoticeOn::StepFailed),
        ("run_finished", NoticeOn::RunFinished),
        ("rto_breached", NoticeOn::RtoBreached),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, on)| *on == self)
            .map_or("", |(name, _)| name)
    }
}

/// What starts a run besides a person.
#[derive(Debug, Clone)]
pub enum Trigger {
    Schedule(Schedule),
    Webhook(Webhook),
}

/// A readiness check: the live plan, every `every`, with literal `params`.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub every: Duration,
    pub params: IndexMap<ParamName, serde_json::Value>,
    pub span: Span,
}

/// A cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its name among the runbook's schedules; empty for the one unnamed schedule.
    pub name: String,
    /// Five-field cron, validated.
    pub cron: String,
    pub timezone: chrono_tz::Tz,
    /// Literal params, checked against the param specs.
    pub params: IndexMap<ParamName, serde_json::Value>,
    /// Runs fired by this schedule are drills (reported as such).
    pub drill: bool,
    /// What a firing does while the schedule's previous run is still going.
    pub overlap: Overlap,
    /// After downtime, how old a missed firing may be and still run (the latest only).
    pub catchup_window: std::time::Duration,
    /// Each firing is delayed by up to this much, the same for a given nominal time.
    pub jitter: Option<std::time::Duration>,
    /// How long past its period a drill may be late before it is overdue.
    pub grace: std::time::Duration,
    pub span: Span,
}

/// A schedule's overlap policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// A firing while the previous run goes on is recorded as skipped.
    Skip,
    /// One firing waits for the previous run to end; any further one is skipped.
    BufferOne,
    /// Every firing starts a run.
    Allow,
}

impl Overlap {
    pub const ALL: [(&'static str, Overlap); 3] = [
        ("skip", Overlap::Skip),
        ("buffer_one", Overlap::BufferOne),
        ("allow", Overlap::Allow),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map_or("", |(name, _)| name)
    }
}

/// The catch-up window of a schedule that names none.
pub const DEFAULT_CATCHUP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// The grace of a drill obligation that names none.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A signed webhook that starts a run: `POST /hooks/<name>` of `drctl serve`.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    /// How a delivery proves its sender.
    pub auth: HookAuth,
    /// What the payload is (a preset filter and dedup key).
    pub format: HookFormat,
    /// Only deliveries for which this holds start or attach to a run.
    pub filter: Option<crate::template::Expr>,
    /// Param values rendered from the webhook's JSON `payload`.
    pub params: IndexMap<ParamName, crate::template::ValueTemplate>,
    /// Deliveries with one key while its run goes on, or within `dedup_window` of its
    /// end, attach to that run instead of starting another.
    pub dedup_key: Option<crate::template::ValueTemplate>,
    pub dedup_window: Duration,
    /// After a run this hook started ended, deliveries within this are refused.
    pub cooldown: Option<Duration>,
    /// `confirm: true`: a delivery only proposes its run, which starts when a person
    /// confirms it within this time (`confirm_within`), and never otherwise.
    pub confirm: Option<Duration>,
    pub drill: bool,
    /// Deliveries a minute, at most, before 429.
    pub rate: u32,
    pub span: Span,
}

/// A webhook's verification: a scheme and the secrets it accepts (several at once while
/// one is rotated).
#[derive(Debug, Clone)]
pub struct HookAuth {
    pub scheme: HookScheme,
    pub secrets: Vec<SecretSource>,
}

/// How a sender signs (or, for Alertmanager, authenticates) a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookScheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64>`.
    Standard,
    /// `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github,
    /// `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]` over the body.
    Pagerduty,
    /// `X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<body>`.
    Slack,
    /// `X-Grafana-Alerting-Signature: <hex>` over the body (or `<timestamp>:<body>`).
    Grafana,
    /// `Authorization: Bearer <token>` (Prometheus Alertmanager cannot sign).
    Bearer,
}

impl HookScheme {
    pub const ALL: [(&'static str, HookScheme); 6] = [
        ("standard", HookScheme::Standard),
        ("github", HookScheme::Github),
        ("pagerduty", HookScheme::Pagerduty),
        ("slack", HookScheme::Slack),
        ("grafana", HookScheme::Grafana),
        ("bearer", HookScheme::Bearer),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("", |(n, _)| n)
    }
}

/// What a webhook's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookFormat {
    /// Any JSON object.
    Json,
    /// Prometheus Alertmanager's webhook payload, version 4: one delivery per alert
    /// group; only `firing` groups start runs; the dedup key defaults to `groupKey`.
    Alertmanager,
    /// PagerDuty webhooks v3: only `incident.triggered` starts runs; the dedup key
    /// defaults to the incident's id.
    Pagerduty,
}

impl HookFormat {
    pub const ALL: [(&'static str, HookFormat); 3] = [
        ("json", HookFormat::Json),
        ("alertmanager", HookFormat::Alertmanager),
        ("pagerduty", HookFormat::Pagerduty),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("", |(n, _)| n)
    }
}

/// The deliveries a minute a webhook takes when it names no `rate`.
pub const DEFAULT_HOOK_RATE: u32 = 60;
/// How long after its run ended a delivery with the same key still attaches to it, when
/// the webhook names no `dedup_window`.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(3600);
/// How long a proposed run waits for a person to confirm it, by default.
pub const DEFAULT_CONFIRM_WITHIN: Duration = Duration::from_secs(3600);
/// The shortest and longest `confirm_within`.
pub const MIN_CONFIRM_WITHIN: Duration = Duration::from_secs(30);
pub const MAX_CONFIRM_WITHIN: Duration = Duration::from_secs(7 * 24 * 3600);
