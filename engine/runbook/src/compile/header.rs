//! The top of a runbook: name, description, params, secrets, objectives, timeout, lock.

use std::time::Duration;

use drctl_core::{ParamName, RunbookName, SecretName, did_you_mean, parse_duration};
use indexmap::IndexMap;

use super::Cx;
use super::templates::Scope;
use crate::diagnostic::Code;
use crate::model::{Objectives, ParamSpec, ParamType, SecretSource};
use crate::raw::{RawParam, RawRunbook, RawSecretSource, Spanned};
use crate::source::Span;
use crate::template::Template;
use crate::yaml::{Node, Value};

/// What the header pass produced.
pub(crate) struct Header {
    pub name: RunbookName,
    pub description: Option<String>,
    pub secrets: IndexMap<SecretName, SecretSource>,
    pub objectives: Objectives,
    pub timeout: Option<Duration>,
    pub lock: Option<Template>,
    pub spans: HeaderSpans,
}

/// Places the linter points at.
#[derive(Debug, Default)]
pub(crate) struct HeaderSpans {
    pub rto: Option<Span>,
    pub secrets: Vec<(String, Span)>,
}

/// Compiles the header. Params and secret names go into `cx` for the later passes even when
/// the name is bad, so that one mistake does not cascade.
pub(crate) fn compile(cx: &mut Cx<'_>, raw: &RawRunbook) -> Option<Header> {
    let name = raw
        .runbook
        .as_ref()
        .and_then(|n| match RunbookName::new(n.value.clone()) {
            Ok(name) => Some(name),
            Err(e) => {
                cx.d.error(Code::InvalidName, n.span, e.to_string());
                None
            }
        });
    for p in &raw.params {
        if let Some((name, spec)) = param(cx, p) {
            cx.params.insert(name, spec);
        }
    }
    let mut spans = HeaderSpans::default();
    let mut secrets = IndexMap::new();
    for s in &raw.secrets {
        cx.secret_names.push(s.name.value.clone());
        spans.secrets.push((s.name.value.clone(), s.name.span));
        let name = cx.identifier(&s.name, SecretName::new);
        let source = secret_source(cx, &s.source, "secret");
        if let (Some(name), Some(source)) = (name, source) {
            secrets.insert(name, source);
        }
    }
    let mut objectives = Objectives::default();
    if let Some(o) = &raw.objectives {
        objectives.rto = o.rto.as_ref().and_then(|d| positive_duration(cx, d, "rto"));
        objectives.rpo = o.rpo.as_ref().and_then(|d| positive_duration(cx, d, "rpo"));
        spans.rto = o.rto.as_ref().map(|r| r.span);
    }
    let timeout = raw
        .timeout
        .as_ref()
        .and_then(|d| positive_duration(cx, d, "timeout"));
    let lock = raw
        .lock
        .as_ref()
        .and_then(|l| cx.text_template(l, &Scope::params_only("lock")));
    Some(Header {
        name: name?,
        description: raw.description.as_ref().map(|d| d.value.clone()),
        secrets,
        objectives,
        timeout,
        lock,
        spans,
    })
}

fn param(cx: &mut Cx<'_>, p: &RawParam) -> Option<(ParamName, ParamSpec)> {
    let name = cx.identifier(&p.name, ParamName::new);
    let ty = p.ty.as_ref().and_then(|t| param_type(cx, t))?;
    let default = p
        .default
        .as_ref()
        .and_then(|n| typed_literal(cx, n, ty, "default"));
    let allowed = p.allowed.as_ref().and_then(|n| match &n.value {
        Value::Seq(items) if !items.is_empty() => {
            let values: Vec<_> = items
                .iter()
                .filter_map(|i| typed_literal(cx, i, ty, "enum value"))
                .collect();
            (values.len() == items.len()).then_some(values)
        }
        _ => {
            cx.d.error(
                Code::WrongType,
                n.span,
                "`enum` must be a non-empty list of allowed values",
            );
            None
        }
    });
    if let (Some(default), Some(allowed), Some(node)) = (&default, &allowed, &p.default)
        && !allowed.contains(default)
    {
        cx.d.error(
            Code::InvalidValue,
            node.span,
            format!("the default {default} is not one of the `enum` values"),
        );
    }
    if let (Some(required), Some(node)) = (&p.required, &p.default)
        && required.value
    {
        cx.d.error(
            Code::ConflictingFields,
            node.span,
            "a parameter with a `default` is never required",
        )
        .hint("drop `required: true` or the `default`");
    }
    let spec = ParamSpec {
        ty,
        required: p.required.as_ref().is_some_and(|r| r.value) && default.is_none(),
        default,
        allowed,
        description: p.description.as_ref().map(|d| d.value.clone()),
        span: p.span,
    };
    Some((name?, spec))
}

fn param_type(cx: &mut Cx<'_>, t: &Spanned<String>) -> Option<ParamType> {
    if let Some(ty) = ParamType::ALL.into_iter().find(|ty| ty.as_str() == t.value) {
        return Some(ty);
    }
    let alias = match t.value.as_str() {
        "int" => Some("integer"),
        "str" => Some("string"),
        "bool" => Some("boolean"),
        "float" => Some("number"),
        "array" => Some("list"),
        "object" | "dict" => Some("map"),
        _ => None,
    };
    let names = ParamType::ALL.map(ParamType::as_str);
    let hint = alias.or_else(|| did_you_mean(&t.value, names)).map_or_else(
        || format!("types are {}", names.join(", ")),
        |s| format!("did you mean `{s}`?"),
    );
    cx.d.error(
        Code::InvalidValue,
        t.span,
        format!("unknown parameter type `{}`", t.value),
    )
    .hint(hint);
    None
}

/// A literal value that must have type `ty`.
pub(crate) fn typed_literal(
    cx: &mut Cx<'_>,
    node: &Node,
    ty: ParamType,
    what: &str,
) -> Option<serde_json::Value> {
    let value = node.to_json();
    if ty.accepts(&value) {
        Some(value)
    } else {
        cx.d.error(
            Code::WrongType,
            node.span,
            format!(
                "{what} must be {} {}, found {}",
                article(ty),
                ty.as_str(),
                node.kind_name()
            ),
        );
        None
    }
}

fn article(ty: ParamType) -> &'static str {
    if ty == ParamType::Integer { "an" } else { "a" }
}

pub(crate) fn secret_source(
    cx: &mut Cx<'_>,
    s: &RawSecretSource,
    what: &str,
) -> Option<SecretSource> {
    match (&s.env, &s.file) {
        (Some(env), None) => {
            let valid = env
                .value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && env
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid && drctl_core::inherited_by_programs(&env.value) {
                cx.d.error(
                    Code::InvalidValue,
                    env.span,
                    format!(
                        "a secret cannot be read from `{}`: every `exec` program inherits it",
                        env.value
                    ),
                )
                .hint("read it from a variable of its own (e.g. `DB_PASSWORD`)");
                None
            } else if valid {
                Some(SecretSource::Env(env.value.clone()))
            } else {
                cx.d.error(
                    Code::InvalidValue,
                    env.span,
                    format!("`{}` is not an environment variable name", env.value),
                );
                None
            }
        }
        (None, Some(file)) if !file.value.is_empty() => {
            Some(SecretSource::File(file.value.clone()))
        }
        (None, Some(file)) => {
            cx.d.error(Code::InvalidValue, file.span, "`file` is empty");
            None
        }
        (Some(_), Some(file)) => {
            cx.d.error(
                Code::ConflictingFields,
                file.span,
                format!("a {what} comes from `env` or `file`, not both"),
            );
            None
        }
        (None, None) => {
            cx.d.error(
                Code::MissingField,
                s.span,
                format!("a {what} needs `env` or `file`"),
            );
            None
        }
    }
}

/// A duration field that must be longer than zero.
pub(crate) fn positive_duration(
    cx: &mut Cx<'_>,
    d: &Spanned<String>,
    what: &str,
) -> Option<Duration> {
    match parse_duration(&d.value) {
        Ok(v) if v.is_zero() => {
            cx.d.error(
                Code::BadDuration,
                d.span,
                format!("`{what}` must be longer than zero"),
            );
            None
        }
        Ok(v) => Some(v),
        Err(e) => {
            cx.d.error(Code::BadDuration, d.span, format!("`{what}`: {e}"));
            None
        }
    }
}
