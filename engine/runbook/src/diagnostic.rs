//! Problems found in a runbook. Every check adds to one [`Diagnostics`] list instead of
//! stopping at the first problem, so `drctl validate` shows everything in one pass.

use serde::Serialize;

use crate::source::Span;

/// Error, or warning (exit 0 unless `--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// The kind of a problem: stable, machine-readable (`--format json`), and what tests assert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // Structure.
    YamlSyntax,
    UnknownField,
    MissingField,
    WrongType,
    InvalidValue,
    InvalidName,
    ConflictingFields,
    // The graph.
    DuplicateStepId,
    UnknownNeed,
    Cycle,
    // Actions.
    UnknownAction,
    ActionParam,
    // Templates.
    TemplateSyntax,
    UnknownFilter,
    UnknownReference,
    NotUpstream,
    SecretNotAllowed,
    // Values.
    BadDuration,
    BadCron,
    UnknownTimezone,
    NoApprovers,
    ZeroMaxParallel,
    CallTarget,
    // Warnings.
    NonIdempotentRetry,
    RtoUnmarked,
    ConstantCondition,
    UnusedSecret,
    LiteralCredential,
    SecretTransformed,
    UnknownGroup,
    UnquotedShell,
    Deprecated,
    UngatedWebhook,
}

impl Code {
    /// The kebab-case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::UnknownField => "unknown-field",
            Code::MissingField => "missing-field",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::InvalidName => "invalid-name",
            Code::ConflictingFields => "conflicting-fields",
            Code::DuplicateStepId => "duplicate-step-id",
            Code::UnknownNeed => "unknown-need",
            Code::Cycle => "cycle",
            Code::UnknownAction => "unknown-action",
            Code::ActionParam => "action-param",
            Code::TemplateSyntax => "template-syntax",
            Code::UnknownFilter => "unknown-filter",
            Code::UnknownReference => "unknown-reference",
            Code::NotUpstream => "not-upstream",
            Code::SecretNotAllowed => "secret-not-allowed",
            Code::BadDuration => "bad-duration",
            Code::BadCron => "bad-cron",
            Code::UnknownTimezone => "unknown-timezone",
            Code::NoApprovers => "no-approvers",
            Code::ZeroMaxParallel => "zero-max-parallel",
            Code::CallTarget => "call-target",
            Code::NonIdempotentRetry => "non-idempotent-retry",
            Code::RtoUnmarked => "rto-unmarked",
            Code::ConstantCondition => "constant-condition",
            Code::UnusedSecret => "unused-secret",
            Code::LiteralCredential => "literal-credential",
            Code::SecretTransformed => "secret-transformed",
            Code::UnknownGroup => "unknown-group",
            Code::UnquotedShell => "unquoted-shell",
            Code::Deprecated => "deprecated",
            Code::UngatedWebhook => "ungated-webhook",
        }
    }
}

/// One problem, at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    #[serde(flatten)]
    pub span: Span,
    /// A suggestion such as "did you mean `promote_db`?".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The problems of one source, in the order found; [`Diagnostics::sorted`] orders them by
/// position for display.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error and returns it for an optional hint.
    pub fn error(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, code, span, message.into())
    }

    /// Records a warning.
    pub fn warning(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, code, span, message.into())
    }

    fn push(
        &mut self,
        severity: Severity,
        code: Code,
        span: Span,
        message: String,
    ) -> &mut Diagnostic {
        self.items.push(Diagnostic {
            severity,
            code,
            message,
            span,
            hint: None,
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All problems ordered by position, errors before warnings at the same place.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items
            .sort_by_key(|d| (d.span.line, d.span.col, d.severity, d.code.as_str()));
        self.items.dedup();
        self.items
    }
}

impl Diagnostic {
    /// Attaches a hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches a hint when there is one.
    pub fn maybe_hint(&mut self, hint: Option<String>) -> &mut Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}
