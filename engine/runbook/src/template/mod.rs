//! Templates and expressions in runbooks (Jinja syntax through minijinja).
//!
//! A string value in a runbook is one of three things, decided by [`classify`]:
//! - plain text without `{{`, `{%` or `{#`: a literal;
//! - exactly one `{{ expr }}`: an expression whose *value* is used, so
//!   `weight: "{{ item }}"` gives the integer 20, not the text "20" (as in Ansible);
//! - anything else: a template rendered to text.
//!
//! `when:` and a string `for_each:` are always expressions; the `{{ }}` around them are
//! optional.
//!
//! # Layout
//! - [`env`]: the configured minijinja environment (strict, unescaped, our filters, fuel).
//! - [`render`]: the values templates see, secrets masked or revealed, and rendering of
//!   whole `with:` trees to JSON.
//! - `scan`: filter and test names used by a template, for static checks.
//! - `locate`: maps an offset inside a template back to a line and column of the file.

mod bounded;
pub mod env;
pub(crate) mod locate;
pub mod render;
pub(crate) mod scan;

use indexmap::IndexMap;

use crate::source::Span;

pub use env::{TemplateEnv, TemplateError};

/// The top-level variables templates see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    Params,
    Secrets,
    Steps,
    Item,
    Index,
    Run,
    Payload,
    /// What a `notify:` subscription is told about.
    Notice,
}

impl Root {
    pub const ALL: [Root; 8] = [
        Root::Params,
        Root::Secrets,
        Root::Steps,
        Root::Item,
        Root::Index,
        Root::Run,
        Root::Payload,
        Root::Notice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Root::Params => "params",
            Root::Secrets => "secrets",
            Root::Steps => "steps",
            Root::Item => "item",
            Root::Index => "index",
            Root::Run => "run",
            Root::Payload => "payload",
            Root::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Option<Root> {
        Root::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a step's outcome exposes to templates as `steps.<id>.<field>`.
pub const STEP_FIELDS: [&str; 3] = ["output", "status", "duration"];

/// What `run.<field>` exposes.
pub const RUN_FIELDS: [&str; 7] = [
    "id",
    "runbook",
    "started_at",
    "elapsed",
    "drill",
    "actor",
    "trigger",
];

/// What `notice.<field>` exposes in a `notify:` subscription. Fields that do not apply
/// to the event are null.
pub const NOTICE_FIELDS: [&str; 10] = [
    "kind",
    "summary",
    "step",
    "error",
    "outcome",
    "approvers",
    "message",
    "deadline",
    "rto",
    "elapsed",
];

/// A variable a template reads, such as `steps.promote_db.output.lsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub root: Root,
    /// The attribute path after the root: `["promote_db", "output", "lsn"]`.
    pub path: Vec<String>,
}

impl Reference {
    /// The first path segment: the param, secret or step name.
    pub fn name(&self) -> Option<&str> {
        self.path.first().map(String::as_str)
    }

    /// The reference as written, `steps.promote_db.output`.
    pub fn dotted(&self) -> String {
        let mut s = self.root.as_str().to_owned();
        for seg in &self.path {
            s.push('.');
            s.push_str(seg);
        }
        s
    }
}

/// A template that renders to text.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub source: String,
    pub refs: Vec<Reference>,
    pub span: Span,
}

/// An expression that evaluates to a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The expression without surrounding `{{ }}`.
    pub source: String,
    pub refs: Vec<Reference>,
    pub span: Span,
}

impl Expr {
    /// True when the expression reads no variable at all: its value never changes.
    pub fn is_constant(&self) -> bool {
        self.refs.is_empty()
    }
}

/// A value that may contain templates: the compiled form of `with:` and friends.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueTemplate {
    /// No template anywhere inside.
    Literal(serde_json::Value),
    Text(Template),
    Expr(Expr),
    List(Vec<ValueTemplate>),
    Map(IndexMap<String, ValueTemplate>),
}

impl ValueTemplate {
    /// Every reference in the tree.
    pub fn refs(&self) -> Vec<&Reference> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a Reference>) {
        match self {
            ValueTemplate::Literal(_) => {}
            ValueTemplate::Text(t) => out.extend(&t.refs),
            ValueTemplate::Expr(e) => out.extend(&e.refs),
            ValueTemplate::List(items) => items.iter().for_each(|v| v.collect_refs(out)),
            ValueTemplate::Map(map) => map.values().for_each(|v| v.collect_refs(out)),
        }
    }

    /// The empty map, for an action called without `with:`.
    pub fn empty_map() -> Self {
        ValueTemplate::Literal(serde_json::Value::Object(serde_json::Map::new()))
    }
}

/// How a string value is to be treated; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Literal,
    /// The inner expression and its byte offset in the string.
    Expr(&'a str, usize),
    Text,
}

/// Whether a string holds any template syntax.
pub fn has_template_syntax(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Classifies a string value.
pub fn classify(s: &str) -> Kind<'_> {
    if !has_template_syntax(s) {
        return Kind::Literal;
    }
    match single_expression(s) {
        Some((inner, offset)) => Kind::Expr(inner, offset),
        None => Kind::Text,
    }
}

/// `Some(inner)` when `s` is exactly one `{{ ... }}` block (surrounding spaces allowed).
pub fn single_expression(s: &str) -> Option<(&str, usize)> {
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.trim();
    let inner = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
    // Whitespace control (`{{-`) or a second block means this is a text template.
    if inner.starts_with('-')
        || inner.ends_with('-')
        || inner.contains("{{")
        || inner.contains("}}")
    {
        return None;
    }
    if inner.contains("{%") || inner.contains("{#") {
        return None;
    }
    Some((inner, lead + 2))
}

/// Splits a dotted variable path into its root and the rest.
pub fn split_reference(dotted: &str) -> (&str, Vec<String>) {
    let mut parts = dotted.split('.');
    let root = parts.next().unwrap_or("");
    (root, parts.map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_classified_by_their_shape() {
        assert_eq!(classify("http://a/health"), Kind::Literal);
        assert_eq!(classify("{{ item }}"), Kind::Expr(" item ", 2));
        assert_eq!(classify("  {{item}} "), Kind::Expr("item", 4));
        assert_eq!(classify("http://{{ params.from }}.lb/health"), Kind::Text);
        assert_eq!(classify("{{ a }}{{ b }}"), Kind::Text);
        assert_eq!(classify("{{- a }}"), Kind::Text);
        assert_eq!(classify("{% if x %}y{% endif %}"), Kind::Text);
        assert_eq!(
            split_reference("steps.a.output"),
            ("steps", vec!["a".into(), "output".into()])
        );
    }
}
