//! The values templates see, and rendering of [`ValueTemplate`] trees to JSON.
//!
//! Secrets have two faces. [`Secrets::Masked`] renders every secret as `***`: that is the
//! context for anything shown to a person (plans, approval messages, logs). Only
//! [`Secrets::Revealed`], built at the moment an action is called, carries values. A
//! [`SecretValues`] never prints its values, not even with `{:?}`.

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::Serde;

use super::{TemplateEnv, ValueTemplate};
use crate::source::Span;

/// What a masked secret renders as.
pub use drctl_core::scrub::MASK;

/// Resolved secret values, by secret name.
#[derive(Clone, Default)]
pub struct SecretValues(IndexMap<String, String>);

impl SecretValues {
    pub fn new(values: IndexMap<String, String>) -> Self {
        Self(values)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The values, for scrubbing them out of text that is about to be shown.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }
}

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, MASK)))
            .finish()
    }
}

/// How secrets appear in a render.
#[derive(Debug, Clone, Copy)]
pub enum Secrets<'a> {
    /// Every declared secret renders as `***`.
    Masked(&'a [String]),
    /// Real values: only for the inputs of an action about to be called.
    Revealed(&'a SecretValues),
}

/// Builds the root object templates see: `params`, `secrets`, `steps`, `item`, `index`,
/// `run`, `payload`. Roots not set are absent, so strict mode rejects their use.
#[derive(Debug, Default, Clone)]
pub struct Context {
    roots: BTreeMap<&'static str, Value>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn params(mut self, params: &serde_json::Map<String, serde_json::Value>) -> Self {
        self.roots.insert("params", Value::from(Serde(params)));
        self
    }

    pub fn secrets(mut self, secrets: Secrets<'_>) -> Self {
        let map: BTreeMap<String, Value> = match secrets {
            Secrets::Masked(names) => names
                .iter()
                .map(|n| (n.clone(), Value::from(MASK)))
                .collect(),
            Secrets::Revealed(values) => values
                .0
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        };
        self.roots.insert("secrets", Value::from(map));
        self
    }

    /// `steps`: step id → `{ output, status, duration }`.
    pub fn steps(mut self, steps: &serde_json::Map<String, serde_json::Value>) -> Self {
        self.roots.insert("steps", Value::from(Serde(steps)));
        self
    }

    /// `item` and `index` inside a `for_each` step.
    pub fn item(mut self, item: &serde_json::Value, index: usize) -> Self {
        self.roots.insert("item", Value::from(Serde(item)));
        self.roots.insert("index", Value::from(index));
        self
    }

    pub fn run(mut self, run: &serde_json::Value) -> Self {
        self.roots.insert("run", Value::from(Serde(run)));
        self
    }

    /// `notice` in a `notify:` subscription.
    pub fn notice(mut self, notice: &serde_json::Value) -> Self {
        self.roots.insert("notice", Value::from(Serde(notice)));
        self
    }

    pub fn payload(mut self, payload: &serde_json::Value) -> Self {
        self.roots.insert("payload", Value::from(Serde(payload)));
        self
    }

    pub fn build(&self) -> Value {
        let map: BTreeMap<String, Value> = self
            .roots
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        Value::from(map)
    }
}

/// A render failure at a place in the runbook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RenderError {
    pub span: Span,
    pub message: String,
}

/// Renders a value tree to JSON.
pub fn render_value(
    env: &TemplateEnv,
    value: &ValueTemplate,
    ctx: &Value,
) -> Result<serde_json::Value, RenderError> {
    match value {
        ValueTemplate::Literal(v) => Ok(v.clone()),
        ValueTemplate::Text(t) => env
            .render(&t.source, ctx)
            .map(serde_json::Value::String)
            .map_err(|e| RenderError {
                span: t.span,
                message: e.message,
            }),
        ValueTemplate::Expr(e) => {
            let value = env.eval(&e.source, ctx).map_err(|err| RenderError {
                span: e.span,
                message: err.message,
            })?;
            to_json(&value).map_err(|message| RenderError {
                span: e.span,
                message,
            })
        }
        ValueTemplate::List(items) => items
            .iter()
            .map(|v| render_value(env, v, ctx))
            .collect::<Result<Vec<_>, _>>()
            .map(serde_json::Value::Array),
        ValueTemplate::Map(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_value(env, v, ctx)?)))
            .collect::<Result<serde_json::Map<_, _>, _>>()
            .map(serde_json::Value::Object),
    }
}

/// Converts a template value to JSON. Undefined cannot occur in strict mode; a value that
/// has no JSON form (a macro, a function) is an error.
pub fn to_json(value: &Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(value).map_err(|e| format!("the expression's value has no JSON form: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Expr, Template};
    use serde_json::json;

    #[test]
    fn secrets_render_masked_unless_revealed() {
        let env = TemplateEnv::new();
        let names = vec!["db_password".to_owned()];
        let values = SecretValues::new(IndexMap::from([(
            "db_password".to_owned(),
            "hunter2".to_owned(),
        )]));
        let t = ValueTemplate::Text(Template {
            source: "postgres://app:{{ secrets.db_password }}@db/app".into(),
            refs: vec![],
            span: Span::default(),
        });
        let masked = Context::new().secrets(Secrets::Masked(&names)).build();
        assert_eq!(
            render_value(&env, &t, &masked).unwrap(),
            json!("postgres://app:***@db/app")
        );
        let revealed = Context::new().secrets(Secrets::Revealed(&values)).build();
        assert_eq!(
            render_value(&env, &t, &revealed).unwrap(),
            json!("postgres://app:hunter2@db/app")
        );
        assert_eq!(format!("{values:?}"), r#"{"db_password": "***"}"#);
    }

    #[test]
    fn expressions_keep_their_type() {
        let env = TemplateEnv::new();
        let e = ValueTemplate::Expr(Expr {
            source: "item * 2".into(),
            refs: vec![],
            span: Span::default(),
        });
        let ctx = Context::new().item(&json!(20), 0).build();
        assert_eq!(render_value(&env, &e, &ctx).unwrap(), json!(40));
        let missing = Context::new().build();
        let err = render_value(&env, &e, &missing).unwrap_err();
        assert!(err.message.contains("undefined"), "{}", err.message);
    }
}
