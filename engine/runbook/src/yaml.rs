//! YAML → a tree of nodes that each know where they came from.
//!
//! serde-saphyr does the parsing (YAML 1.2, duplicate keys rejected, alias bombs bounded).
//! We deserialize into our own [`Node`] tree rather than straight into typed structs
//! because serde stops at the first mistyped field, and `drctl validate` must report every
//! problem of a file in one pass. The typed decoding happens in [`crate::raw`], over this
//! tree, collecting all errors.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, MessageFormatter, Spanned};

use crate::diagnostic::{Code, Diagnostics};
use crate::source::{Source, Span};

/// A YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are nodes too, so errors can point at a key.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// "a string", "a list", ... for type errors.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar key. YAML allows `200:` or `true:` as keys; we read them as
    /// the text the author wrote.
    pub fn key_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Converts to JSON, for literal values. Map keys become their text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses `source` into a node tree. A syntax error is recorded in `diags` with its
/// position, and `None` is returned: past a syntax error the structure is unknowable.
pub fn parse(source: &Source, diags: &mut Diagnostics) -> Option<Node> {
    let options = serde_saphyr::options! {
        // YAML 1.2 booleans only: `n`, `no`, `off` stay strings (the "Norway problem").
        strict_booleans: true,
        duplicate_keys: DuplicateKeyPolicy::Error,
        // A tag such as `!Ref` would otherwise be dropped silently.
        reject_unsupported_tags: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<RawNode>(&source.text, options) {
        Ok(RawNode(node)) => Some(fix_spans(source, node)),
        Err(error) => {
            let message = serde_saphyr::DefaultMessageFormatter.format_message(&error);
            let span = error.location().map_or_else(
                || source.span_at(0, 0),
                |loc| span_from_line_col(source, loc.line(), loc.column()),
            );
            diags.error(Code::YamlSyntax, span, format!("YAML syntax: {message}"));
            None
        }
    }
}

/// serde-saphyr gives line, column and (for string input) byte offsets. We recompute
/// offsets from line and column so that spans are right whatever the parser reports.
fn fix_spans(source: &Source, mut node: Node) -> Node {
    fn walk(source: &Source, node: &mut Node) {
        let len = node.span.len;
        node.span = Span {
            len,
            ..source.span_at_line_col(node.span.line, node.span.col)
        };
        match &mut node.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| walk(source, n)),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                walk(source, k);
                walk(source, v);
            }),
            _ => {}
        }
    }
    walk(source, &mut node);
    node
}

fn span_from_line_col(source: &Source, line: u64, col: u64) -> Span {
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    source.span_at_line_col(clamp(line), clamp(col))
}

/// Deserialization target: a node with its location, via serde-saphyr's `Spanned`.
struct RawNode(Node);

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<ValueDe>::deserialize(d)?;
        let loc = spanned.referenced;
        let span = Span {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            offset: 0,
            len: loc.span().byte_len().map_or(0, |n| n as usize),
        };
        Ok(RawNode(Node {
            span,
            value: spanned.value.0,
        }))
    }
}

struct ValueDe(Value);

impl<'de> Deserialize<'de> for ValueDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(ValueDe)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(RawNode(node)) = seq.next_element()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(RawNode(key)) = map.next_key()? {
            let RawNode(value) = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let source = Source::new("t.yaml", text);
        let mut d = Diagnostics::new();
        let node = parse(&source, &mut d);
        assert!(d.is_empty(), "{:?}", d.sorted());
        node.unwrap()
    }

    #[test]
    fn every_node_knows_its_line_column_and_offset() {
        let text =
            "runbook: x\nsteps:\n  - id: a\n    with: { n: 3, on: yes, w: \"{{ item }}\" }\n";
        let root = parse_ok(text);
        let Value::Map(top) = &root.value else {
            panic!("map")
        };
        let Value::Seq(steps) = &top[1].1.value else {
            panic!("seq")
        };
        let Value::Map(step) = &steps[0].value else {
            panic!("map")
        };
        assert_eq!((step[0].0.span.line, step[0].0.span.col), (3, 5));
        let Value::Map(with) = &step[1].1.value else {
            panic!("map")
        };
        // `n` and `on` are keys, `yes` is a string: YAML 1.2 booleans only.
        assert_eq!(with[0].0.value, Value::Str("n".into()));
        assert_eq!(with[1].1.value, Value::Str("yes".into()));
        let w = &with[2].1;
        assert_eq!((w.span.line, w.span.col), (4, 31));
        assert_eq!(&text[w.span.offset..w.span.offset + 1], "\"");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let source = Source::new("t.yaml", "a: [1, 2\nb: 3\n");
        let mut d = Diagnostics::new();
        assert!(parse(&source, &mut d).is_none());
        let all = d.sorted();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].code, Code::YamlSyntax);
        assert_eq!((all[0].span.line, all[0].span.col), (2, 2));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let source = Source::new("t.yaml", "a: 1\na: 2\n");
        let mut d = Diagnostics::new();
        assert!(parse(&source, &mut d).is_none());
        let all = d.sorted();
        assert!(all[0].message.contains("duplicate"), "{}", all[0].message);
        assert_eq!(all[0].span.line, 2);
    }
}
