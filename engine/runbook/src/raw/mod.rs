//! Raw runbook types: a one-to-one mirror of the YAML, every value with its span.
//!
//! Nothing outside the compiler uses these. They are produced by [`decode`] from the node
//! tree, which rejects unknown fields and wrong YAML types; everything semantic (names,
//! durations, the graph, templates, action schemas) is checked in [`crate::compile`], which
//! turns them into the types of [`crate::model`].

mod decode;
pub(crate) mod reader;
mod step;

pub use decode::decode;
pub use reader::Spanned;

use crate::source::Span;
use crate::yaml::Node;

/// The top level of a runbook file.
#[derive(Debug, Clone, Default)]
pub struct RawRunbook {
    pub span: Span,
    pub runbook: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub params: Vec<RawParam>,
    pub secrets: Vec<RawSecret>,
    pub objectives: Option<RawObjectives>,
    pub lock: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub triggers: Vec<RawTrigger>,
    pub readiness: Option<RawReadiness>,
    pub notify: Vec<RawNotify>,
    pub steps: Vec<RawStep>,
    pub on_failure: Vec<RawStep>,
    pub finally: Vec<RawStep>,
}

/// `params.<name>`.
#[derive(Debug, Clone)]
pub struct RawParam {
    pub name: Spanned<String>,
    pub span: Span,
    pub ty: Option<Spanned<String>>,
    pub required: Option<Spanned<bool>>,
    pub default: Option<Node>,
    /// `enum:`, the allowed values.
    pub allowed: Option<Node>,
    pub description: Option<Spanned<String>>,
}

/// Where a secret's value comes from: `{ env: NAME }` or `{ file: PATH }`.
#[derive(Debug, Clone)]
pub struct RawSecretSource {
    pub span: Span,
    pub env: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
}

/// `secrets.<name>`.
#[derive(Debug, Clone)]
pub struct RawSecret {
    pub name: Spanned<String>,
    pub source: RawSecretSource,
}

/// `objectives: { rto, rpo }`.
#[derive(Debug, Clone)]
pub struct RawObjectives {
    pub span: Span,
    pub rto: Option<Spanned<String>>,
    pub rpo: Option<Spanned<String>>,
}

/// `readiness: { every, params }`.
#[derive(Debug, Clone)]
pub struct RawReadiness {
    pub span: Span,
    pub every: Option<Spanned<String>>,
    pub params: Vec<(Spanned<String>, Node)>,
}

/// One entry of `triggers`.
#[derive(Debug, Clone)]
pub enum RawTrigger {
    Schedule(Box<RawSchedule>),
    Webhook(Box<RawWebhook>),
}

/// `- schedule: { name, cron, timezone, params, drill, overlap, catchup_window, jitter,
/// grace }`.
#[derive(Debug, Clone)]
pub struct RawSchedule {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub cron: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub params: Vec<(Spanned<String>, Node)>,
    pub drill: Option<Spanned<bool>>,
    pub overlap: Option<Spanned<String>>,
    pub catchup_window: Option<Spanned<String>>,
    pub jitter: Option<Spanned<String>>,
    pub grace: Option<Spanned<String>>,
}

/// `- webhook: { name, auth, format, filter, params, dedup_key, dedup_window, cooldown,
/// confirm, confirm_within, drill, rate }` (and the older `hmac_secret`).
#[derive(Debug, Clone)]
pub struct RawWebhook {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub hmac_secret: Option<RawSecretSource>,
    pub auth: Option<RawHookAuth>,
    pub format: Option<Spanned<String>>,
    pub filter: Option<Node>,
    pub params: Vec<(Spanned<String>, Node)>,
    pub dedup_key: Option<Node>,
    pub dedup_window: Option<Spanned<String>>,
    pub cooldown: Option<Spanned<String>>,
    pub confirm: Option<Spanned<bool>>,
    pub confirm_within: Option<Spanned<String>>,
    pub drill: Option<Spanned<bool>>,
    pub rate: Option<Spanned<u64>>,
}

/// `auth: { scheme, secrets }` of a webhook.
#[derive(Debug, Clone)]
pub struct RawHookAuth {
    pub span: Span,
    pub scheme: Option<Spanned<String>>,
    pub secrets: Vec<RawSecretSource>,
}

/// One step, in `steps`, `on_failure` or `finally`.
#[derive(Debug, Clone, Default)]
pub struct RawStep {
    pub span: Span,
    pub id: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub needs: Vec<Spanned<String>>,
    pub when: Option<Node>,
    pub action: Option<Spanned<String>>,
    pub with: Option<Node>,
    pub approval: Option<RawApproval>,
    pub call: Option<RawCall>,
    pub for_each: Option<Node>,
    pub max_parallel: Option<Spanned<u64>>,
    pub retry: Option<RawRetry>,
    pub timeout: Option<Spanned<String>>,
    pub verify: Option<RawActionCall>,
    pub compensate: Option<RawActionCall>,
    pub on_interrupt: Option<Spanned<String>>,
    pub continue_on_failure: Option<Spanned<bool>>,
    pub marks: Vec<Spanned<String>>,
}

/// `verify:` and `compensate:`: an action call; `for` (the soak window) is for verify only.
#[derive(Debug, Clone)]
pub struct RawActionCall {
    pub span: Span,
    pub action: Option<Spanned<String>>,
    pub with: Option<Node>,
    pub soak: Option<Spanned<String>>,
    /// `every`: the interval between checks inside the `for` window (verify only).
    pub every: Option<Spanned<String>>,
}

/// One `notify:` subscription: `{ on, action, with, required, retry }`.
#[derive(Debug, Clone)]
pub struct RawNotify {
    pub span: Span,
    /// `None` when missing (reported as such); may be an empty list.
    pub on: Option<Vec<Spanned<String>>>,
    pub action: Option<Spanned<String>>,
    pub with: Option<Node>,
    pub required: Option<Spanned<bool>>,
    pub retry: Option<RawRetry>,
}

/// `retry: { attempts, backoff, initial, max, on }`.
#[derive(Debug, Clone)]
pub struct RawRetry {
    pub span: Span,
    pub attempts: Option<Spanned<u64>>,
    pub backoff: Option<Spanned<String>>,
    pub initial: Option<Spanned<String>>,
    pub max: Option<Spanned<String>>,
    pub on: Vec<Spanned<String>>,
}

/// `approval: { ... }`.
#[derive(Debug, Clone)]
pub struct RawApproval {
    pub span: Span,
    pub message: Option<Spanned<String>>,
    /// `None` when the field is absent; `Some(empty)` when it is an empty list.
    pub approvers: Option<Spanned<Vec<Spanned<String>>>>,
    pub min: Option<Spanned<u64>>,
    pub distinct_groups: Option<Spanned<bool>>,
    pub allow_self_approval: Option<Spanned<bool>>,
    pub require_comment: Option<Spanned<bool>>,
    pub timeout: Option<Spanned<String>>,
    pub on_timeout: Option<Spanned<String>>,
    pub escalate: Vec<Spanned<Vec<Spanned<String>>>>,
    pub expires: Option<Spanned<String>>,
}

/// `call: { runbook, params }`.
#[derive(Debug, Clone)]
pub struct RawCall {
    pub span: Span,
    pub runbook: Option<Spanned<String>>,
    pub params: Vec<(Spanned<String>, Node)>,
}
