//! Small decoders over [`Node`]s that record every problem and keep going.
//!
//! [`MapReader`] takes the fields a struct knows, one by one; whatever is left when it
//! finishes is an unknown field, reported with the closest known name as a hint. That is
//! how the raw layer enforces "an unknown field is an error" without serde's
//! stop-at-first-error behaviour.

use drctl_core::did_you_mean;

use crate::diagnostic::{Code, Diagnostics};
use crate::source::Span;
use crate::yaml::{Node, Value};

/// A value and the span of the node it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// Reads the fields of one YAML map.
#[derive(Debug)]
pub(crate) struct MapReader {
    /// What the map is, for messages: "step", "retry", ...
    what: &'static str,
    span: Span,
    entries: Vec<Option<(Node, Node)>>,
    known: Vec<&'static str>,
}

impl MapReader {
    /// Opens `node` as a map. Reports a type error and returns `None` otherwise.
    pub(crate) fn open(node: Node, what: &'static str, d: &mut Diagnostics) -> Option<Self> {
        match node.value {
            Value::Map(entries) => Some(Self {
                what,
                span: node.span,
                entries: entries.into_iter().map(Some).collect(),
                known: Vec::new(),
            }),
            _ => {
                d.error(
                    Code::WrongType,
                    node.span,
                    format!("{what} must be a map, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    pub(crate) fn span(&self) -> Span {
        self.span
    }

    /// Takes field `key` if present. The key's own span comes along for messages that
    /// are about the field rather than its value.
    pub(crate) fn take(&mut self, key: &'static str) -> Option<(Span, Node)> {
        self.known.push(key);
        let slot = self
            .entries
            .iter_mut()
            .find(|e| e.as_ref().is_some_and(|(k, _)| k.as_str() == Some(key)))?;
        slot.take().map(|(k, v)| (k.span, v))
    }

    /// Takes field `key`, reporting it missing when absent.
    pub(crate) fn required(
        &mut self,
        key: &'static str,
        d: &mut Diagnostics,
    ) -> Option<(Span, Node)> {
        let found = self.take(key);
        if found.is_none() {
            d.error(
                Code::MissingField,
                self.span,
                format!("{} is missing required field `{key}`", self.what),
            );
        }
        found
    }

    /// Reports every field not taken as unknown.
    pub(crate) fn finish(self, d: &mut Diagnostics) {
        for (key, _) in self.entries.into_iter().flatten() {
            let text = key.key_text().unwrap_or_else(|| key.kind_name().to_owned());
            let hint = did_you_mean(&text, self.known.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("{} fields: {}", self.what, list(&self.known)));
            d.error(
                Code::UnknownField,
                key.span,
                format!("unknown field `{text}` in {}", self.what),
            )
            .hint(hint);
        }
    }
}

fn list(names: &[&str]) -> String {
    names.join(", ")
}

/// Reads the entries of a free-form map (params, secrets, `with`) whose keys are names.
/// `null` counts as an empty map, so `params:` with nothing under it is accepted.
pub(crate) fn entries(
    node: Node,
    what: &'static str,
    d: &mut Diagnostics,
) -> Vec<(Spanned<String>, Node)> {
    match node.value {
        Value::Null => Vec::new(),
        Value::Map(entries) => entries
            .into_iter()
            .filter_map(|(k, v)| match k.key_text() {
                Some(text) => Some((Spanned::new(text, k.span), v)),
                None => {
                    d.error(
                        Code::WrongType,
                        k.span,
                        format!("keys of {what} must be names, found {}", k.kind_name()),
                    );
                    None
                }
            })
            .collect(),
        _ => {
            d.error(
                Code::WrongType,
                node.span,
                format!("{what} must be a map, found {}", node.kind_name()),
            );
            Vec::new()
        }
    }
}

/// A string field.
pub(crate) fn string(node: Node, what: &str, d: &mut Diagnostics) -> Option<Spanned<String>> {
    match node.value {
        Value::Str(s) => Some(Spanned::new(s, node.span)),
        _ => {
            wrong_type(&node, what, "a string", d);
            None
        }
    }
}

/// A duration field, kept as text for the compiler to parse. A bare number is accepted
/// here so that the compiler can say "`30` has no unit; write `30s`" instead of a type error.
pub(crate) fn duration_text(
    node: Node,
    what: &str,
    d: &mut Diagnostics,
) -> Option<Spanned<String>> {
    match node.value {
        Value::Int(i) => Some(Spanned::new(i.to_string(), node.span)),
        Value::Float(f) => Some(Spanned::new(f.to_string(), node.span)),
        _ => string(node, what, d),
    }
}

/// A boolean field (`true` / `false`).
pub(crate) fn boolean(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Spanned<bool>> {
    match node.value {
        Value::Bool(b) => Some(Spanned::new(b, node.span)),
        _ => {
            wrong_type(node, what, "true or false", d);
            None
        }
    }
}

/// A non-negative whole number.
pub(crate) fn count(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Spanned<u64>> {
    match node.value {
        Value::Int(i) if i >= 0 => Some(Spanned::new(i.unsigned_abs(), node.span)),
        Value::Int(_) => {
            d.error(
                Code::InvalidValue,
                node.span,
                format!("`{what}` must not be negative"),
            );
            None
        }
        _ => {
            wrong_type(node, what, "a whole number", d);
            None
        }
    }
}

/// A list whose items are decoded by `item`. `null` is an empty list.
pub(crate) fn list_of<T>(
    node: Node,
    what: &str,
    d: &mut Diagnostics,
    mut item: impl FnMut(Node, &mut Diagnostics) -> Option<T>,
) -> Vec<T> {
    match node.value {
        Value::Null => Vec::new(),
        Value::Seq(items) => items.into_iter().filter_map(|n| item(n, d)).collect(),
        _ => {
            wrong_type(&node, what, "a list", d);
            Vec::new()
        }
    }
}

/// A list of strings, or a single string meaning a one-item list (`needs: gate`).
pub(crate) fn strings(node: Node, what: &str, d: &mut Diagnostics) -> Vec<Spanned<String>> {
    match node.value {
        Value::Str(s) => vec![Spanned::new(s, node.span)],
        _ => list_of(node, what, d, |n, d| string(n, what, d)),
    }
}

pub(crate) fn wrong_type(node: &Node, what: &str, expected: &str, d: &mut Diagnostics) {
    d.error(
        Code::WrongType,
        node.span,
        format!("`{what}` must be {expected}, found {}", node.kind_name()),
    );
}
