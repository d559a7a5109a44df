//! YAML → a tree of nodes that each know where they came from.
//!
//! We build the tree from the event stream of granit-parser, the YAML 1.2 parser under
//! serde-saphyr (re-exported by it), rather than through serde: serde stops at the first
//! mistyped field, and `drctl validate` must report every problem of a file in one pass;
//! and going through serde's `Spanned` protocol for every node cost 5x the parse itself
//! (measured: 200 ms against 40 ms for a 2 MiB runbook). The typed decoding happens in
//! [`crate::raw`], over this tree, collecting all errors.
//!
//! What this layer decides, and why:
//! - YAML 1.2 core schema: only `true`/`false` are booleans, so `on`, `no` and `n` stay
//!   strings (the "Norway problem" of YAML 1.1);
//! - a duplicate key is an error, reported with both places, and parsing goes on;
//! - anchors, aliases and `<<` merge keys work, with a budget on what aliases expand to so
//!   that a "billion laughs" document fails fast instead of eating memory;
//! - nesting deeper than [`MAX_DEPTH`] is refused: no runbook needs it, and every later
//!   pass may then recurse without risk of a stack overflow;
//! - tags other than the core ones (`!!str`, `!!int`, ...) are errors: a CloudFormation
//!   habit such as `!Ref` would otherwise be silently dropped;
//! - one document per file.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span as ParserSpan, Tag};

use crate::diagnostic::{Code, Diagnostics};
use crate::source::{Source, Span};

/// Deepest nesting of lists and maps accepted.
pub const MAX_DEPTH: usize = 64;

/// Most nodes a document may hold once aliases are expanded.
pub const MAX_NODES: usize = 2_000_000;

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

    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.count() + v.count()).sum(),
            _ => 0,
        }
    }
}

/// Parses `source` into a node tree. A syntax error is recorded in `diags` with its
/// position and `None` is returned: past a syntax error the structure is unknowable.
/// Semantic YAML problems (duplicate keys, unknown tags) are recorded and parsing goes on.
pub fn parse(source: &Source, diags: &mut Diagnostics) -> Option<Node> {
    let mut builder = Builder {
        source,
        diags,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(&source.text);
    for event in &mut parser {
        let (event, span) = match event {
            Ok(e) => e,
            Err(e) => {
                let at = source
                    .span_at_line_col(to_u32(e.marker().line()), to_u32(e.marker().col() + 1));
                builder
                    .diags
                    .error(Code::YamlSyntax, at, format!("YAML syntax: {}", e.info()));
                return None;
            }
        };
        if let Err(Stop) = builder.event(event, span) {
            return None;
        }
    }
    Some(builder.root.unwrap_or(Node {
        span: source.span_at(0, 0),
        value: Value::Null,
    }))
}

/// Parsing cannot go on (the problem is already recorded).
struct Stop;

enum Frame {
    Seq {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder<'a> {
    source: &'a Source,
    diags: &'a mut Diagnostics,
    stack: Vec<Frame>,
    /// Anchored nodes by parser id, with their node counts for the alias budget.
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: ParserSpan) -> Result<(), Stop> {
        let at = self.span(&span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.diags.error(
                        Code::YamlSyntax,
                        at,
                        "a runbook file holds one YAML document; this is a second one",
                    );
                    return Err(Stop);
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let mut value = self.scalar(&text, style, tag.as_deref(), at);
                if matches!(value, Value::Float(f) if !f.is_finite()) {
                    // Values go on as JSON, which has no such number: it would become a
                    // null, and a null in a patch deletes the field.
                    self.diags
                        .error(
                            Code::YamlSyntax,
                            at,
                            format!("`{text}` is a number JSON cannot hold (infinite, not a number, or beyond ±1.8e308)"),
                        )
                        .hint("quote it to pass the text");
                    value = Value::Str(text.to_string());
                }
                let node = Node { span: at, value };
                self.remember(anchor, &node, 1);
                self.push(node)
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.collection_tag(tag.as_deref(), "seq", at);
                self.open(
                    Frame::Seq {
                        span: at,
                        anchor,
                        items: Vec::new(),
                    },
                    at,
                )
            }
            Event::MappingStart(_, anchor, tag) => {
                self.collection_tag(tag.as_deref(), "map", at);
                self.open(
                    Frame::Map {
                        span: at,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    },
                    at,
                )
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        span,
                        anchor,
                        items,
                    } => (
                        Node {
                            span,
                            value: Value::Seq(items),
                        },
                        anchor,
                    ),
                    Frame::Map {
                        span,
                        anchor,
                        entries,
                        ..
                    } => (
                        Node {
                            span,
                            value: Value::Map(self.merge(entries)),
                        },
                        anchor,
                    ),
                };
                // Sizes matter only for what aliases may copy; counting every collection
                // would walk each subtree once per level above it.
                if anchor != 0 {
                    let size = node.count();
                    self.remember(anchor, &node, size);
                }
                self.push(node)
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id).cloned() else {
                    self.diags
                        .error(Code::YamlSyntax, at, "alias to an unknown anchor");
                    return Err(Stop);
                };
                self.nodes += size;
                if self.nodes > MAX_NODES {
                    self.diags.error(
                        Code::YamlSyntax,
                        at,
                        format!(
                            "the document expands to more than {MAX_NODES} values through aliases"
                        ),
                    );
                    return Err(Stop);
                }
                self.push(node)
            }
            // Only emitted with parser options we do not set.
            _ => Ok(()),
        }
    }

    fn span(&self, span: &ParserSpan) -> Span {
        let (start, end) = (span.start, span.end);
        match (start.byte_offset(), end.byte_offset()) {
            (Some(from), Some(to)) => Span {
                line: to_u32(start.line()),
                col: to_u32(start.col() + 1),
                offset: from,
                len: to.saturating_sub(from),
            },
            _ => self
                .source
                .span_at_line_col(to_u32(start.line()), to_u32(start.col() + 1)),
        }
    }

    fn open(&mut self, frame: Frame, at: Span) -> Result<(), Stop> {
        if self.stack.len() >= MAX_DEPTH {
            self.diags.error(
                Code::YamlSyntax,
                at,
                format!("lists and maps are nested more than {MAX_DEPTH} deep"),
            );
            return Err(Stop);
        }
        self.nodes += 1;
        self.stack.push(frame);
        Ok(())
    }

    fn push(&mut self, node: Node) -> Result<(), Stop> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.diags.error(
                Code::YamlSyntax,
                node.span,
                format!("the document holds more than {MAX_NODES} values"),
            );
            return Err(Stop);
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
    }

    /// Applies `<<` merge keys (explicit keys win, earlier merge sources win over later
    /// ones) and reports duplicate keys, keeping the first.
    fn merge(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let mut explicit: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
        let mut merged: Vec<(Node, Node)> = Vec::new();
        for (key, value) in entries {
            if key.as_str() == Some("<<") {
                match value.value {
                    Value::Map(m) => merged.extend(m),
                    Value::Seq(items) => {
                        for item in items {
                            match item.value {
                                Value::Map(m) => merged.extend(m),
                                _ => {
                                    self.diags.error(
                                        Code::YamlSyntax,
                                        item.span,
                                        "`<<` merges maps only",
                                    );
                                }
                            }
                        }
                    }
                    _ => {
                        self.diags.error(
                            Code::YamlSyntax,
                            value.span,
                            "`<<` merges a map or a list of maps",
                        );
                    }
                }
                continue;
            }
            if let Some((first, _)) = explicit.iter().find(|(k, _)| same_key(k, &key)) {
                let line = first.span.line;
                let text = key.key_text().unwrap_or_default();
                self.diags
                    .error(
                        Code::YamlSyntax,
                        key.span,
                        format!("duplicate key `{text}`"),
                    )
                    .hint(format!("first given at line {line}"));
                continue;
            }
            explicit.push((key, value));
        }
        for (key, value) in merged {
            if !explicit.iter().any(|(k, _)| same_key(k, &key)) {
                explicit.push((key, value));
            }
        }
        explicit
    }

    fn collection_tag(&mut self, tag: Option<&Tag>, expected: &str, at: Span) {
        if let Some(tag) = tag
            && !tag.is_yaml_core_schema_tag(expected)
        {
            self.unsupported_tag(tag, at);
        }
    }

    fn unsupported_tag(&mut self, tag: &Tag, at: Span) {
        self.diags
            .error(
                Code::YamlSyntax,
                at,
                format!("unsupported YAML tag `{}{}`", tag.handle(), tag.suffix()),
            )
            .hint("runbooks use plain YAML; tags such as `!Ref` have no meaning here");
    }

    fn scalar(&mut self, text: &str, style: ScalarStyle, tag: Option<&Tag>, at: Span) -> Value {
        if let Some(tag) = tag {
            let core = ["str", "int", "float", "bool", "null"]
                .into_iter()
                .find(|s| tag.is_yaml_core_schema_tag(s));
            let value = match core {
                Some("str") => Some(Value::Str(text.to_owned())),
                Some("null") => Some(Value::Null),
                Some(kind) => match resolve_plain(text) {
                    v @ Value::Int(_) if kind == "int" => Some(v),
                    Value::Int(i) if kind == "float" => Some(Value::Float(i as f64)),
                    v @ Value::Float(_) if kind == "float" => Some(v),
                    v @ Value::Bool(_) if kind == "bool" => Some(v),
                    _ => {
                        self.diags.error(
                            Code::YamlSyntax,
                            at,
                            format!("`{text}` is not a valid !!{kind}"),
                        );
                        Some(Value::Str(text.to_owned()))
                    }
                },
                None => None,
            };
            return value.unwrap_or_else(|| {
                self.unsupported_tag(tag, at);
                Value::Str(text.to_owned())
            });
        }
        match style {
            ScalarStyle::Plain => resolve_plain(text),
            _ => Value::Str(text.to_owned()),
        }
    }
}

/// Whether two keys are the same key. Maps in runbooks are small (a dozen keys at most),
/// so a linear scan with this beats hashing every key.
fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => false,
        _ => a.key_text() == b.key_text(),
    }
}

/// The YAML 1.2 core schema for plain scalars.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_or_else(
            |_| {
                text.parse::<f64>()
                    .map_or(Value::Str(text.to_owned()), Value::Float)
            },
            Value::Int,
        );
    }
    if let Some(hex) = text.strip_prefix("0x")
        && !hex.is_empty()
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && !oct.is_empty()
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(i);
    }
    let is_float_text = unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && !unsigned.starts_with(['e', 'E']);
    if is_float_text && let Ok(f) = text.parse::<f64>() {
        return Value::Float(f);
    }
    Value::Str(text.to_owned())
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
    fn duplicate_keys_are_reported_and_parsing_goes_on() {
        let source = Source::new("t.yaml", "a: 1\na: 2\nb: [x, x]\n");
        let mut d = Diagnostics::new();
        let node = parse(&source, &mut d).unwrap();
        let all = d.sorted();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].message, "duplicate key `a`");
        assert_eq!((all[0].span.line, all[0].span.col), (2, 1));
        assert_eq!(all[0].hint.as_deref(), Some("first given at line 1"));
        let Value::Map(entries) = node.value else {
            panic!("map")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn numbers_json_cannot_hold_are_errors_where_they_are() {
        let source = Source::new(
            "t.yaml",
            "a: .inf\nb: [1, -.Inf, .nan, 1e400, !!float .inf]\n",
        );
        let mut d = Diagnostics::new();
        parse(&source, &mut d).unwrap();
        let at: Vec<(u32, u32)> = d
            .sorted()
            .iter()
            .map(|x| (x.span.line, x.span.col))
            .collect();
        assert_eq!(at, vec![(1, 4), (2, 8), (2, 15), (2, 21), (2, 36)]);
    }

    #[test]
    fn core_schema_scalars() {
        let root = parse_ok(
            "[1, -2, 0x1f, 0o17, 1.5, 1e3, '.inf', true, False, null, ~, '', on, n, yes, 1_000, 12:30, .5.]",
        );
        let Value::Seq(items) = root.value else {
            panic!("seq")
        };
        let values: Vec<Value> = items.into_iter().map(|n| n.value).collect();
        assert_eq!(
            values,
            vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Int(31),
                Value::Int(15),
                Value::Float(1.5),
                Value::Float(1000.0),
                Value::Str(".inf".into()),
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Null,
                Value::Str(String::new()),
                Value::Str("on".into()),
                Value::Str("n".into()),
                Value::Str("yes".into()),
                Value::Str("1_000".into()),
                Value::Str("12:30".into()),
                Value::Str(".5.".into()),
            ]
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let root = parse_ok("base: &b { x: 1, y: 2 }\nuse: { <<: *b, y: 3 }\nlist: [*b]\n");
        assert_eq!(
            root.to_json(),
            serde_json::json!({"base": {"x": 1, "y": 2}, "use": {"y": 3, "x": 1}, "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn hostile_documents_fail_fast() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        let mut d = Diagnostics::new();
        assert!(parse(&Source::new("t", bomb), &mut d).is_none());
        assert!(d.sorted()[0].message.contains("aliases"));
        // Far too deep: the parser's own limit stops it.
        let mut d = Diagnostics::new();
        assert!(parse(&Source::new("t", "[".repeat(100_000)), &mut d).is_none());
        assert!(d.sorted()[0].message.contains("recursion limit"));
        // Just past ours: later passes recurse over the tree, so we stop earlier.
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let mut d = Diagnostics::new();
        assert!(parse(&Source::new("t", deep), &mut d).is_none());
        assert!(d.sorted()[0].message.contains("nested more than 64"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let mut d = Diagnostics::new();
        assert!(parse(&Source::new("t", ok), &mut d).is_some());
        let mut d = Diagnostics::new();
        assert!(parse(&Source::new("t", "a: 1\n---\nb: 2\n"), &mut d).is_none());
        let mut d = Diagnostics::new();
        parse(&Source::new("t", "a: !Ref x\n"), &mut d);
        assert!(d.sorted()[0].message.contains("unsupported YAML tag"));
    }
}
