//! Parameter schemas: what an action accepts in `with`, and the one checker that enforces it.
//!
//! The checker runs twice on every value. At compile time it walks the YAML nodes of a
//! runbook, where a string holding a template is *deferred* (its type is known only once
//! rendered) and every problem is reported with the node it came from. At run time, and in
//! `drctl plan`, it walks the rendered JSON, where nothing is deferred. Both go through
//! [`SchemaInput`], so the two checks cannot drift apart.

use std::fmt;

use crate::duration::{DurationError, parse_duration};
use crate::suggest::did_you_mean;

/// The type of a parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// Anything, including null.
    Any,
    /// Any string.
    String,
    /// A string from a fixed set, such as `ready | drain | maint`.
    Enum(Vec<String>),
    /// A whole number, optionally bounded (inclusive).
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A number, optionally bounded (inclusive). Whole numbers are accepted.
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    /// A duration string such as `30s` (see [`crate::duration`]).
    Duration,
    /// A list whose items all have one type.
    List(Box<Ty>),
    /// A map from string keys to values of one type (headers, environment variables).
    Map(Box<Ty>),
    /// A map with known keys.
    Object(ObjectSchema),
    /// Any one of these types, such as "an integer or a list of integers".
    OneOf(Vec<Ty>),
}

impl Ty {
    /// A whole number between `min` and `max` inclusive.
    pub fn int_range(min: i64, max: i64) -> Ty {
        Ty::Integer {
            min: Some(min),
            max: Some(max),
        }
    }

    /// A whole number of at least `min`.
    pub fn int_min(min: i64) -> Ty {
        Ty::Integer {
            min: Some(min),
            max: None,
        }
    }

    /// Any whole number.
    pub fn int() -> Ty {
        Ty::Integer {
            min: None,
            max: None,
        }
    }

    /// A number between `min` and `max` inclusive.
    pub fn number_range(min: f64, max: f64) -> Ty {
        Ty::Number {
            min: Some(min),
            max: Some(max),
        }
    }

    /// A string from `values`.
    pub fn one_of_strings(values: &[&str]) -> Ty {
        Ty::Enum(values.iter().map(|v| (*v).to_owned()).collect())
    }

    /// A list of `item`.
    pub fn list(item: Ty) -> Ty {
        Ty::List(Box::new(item))
    }

    /// A string-keyed map of `value`.
    pub fn map(value: Ty) -> Ty {
        Ty::Map(Box::new(value))
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Any => f.write_str("any value"),
            Ty::String => f.write_str("a string"),
            Ty::Enum(values) => {
                f.write_str("one of ")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{v}`")?;
                }
                Ok(())
            }
            Ty::Integer { min, max } => match (min, max) {
                (Some(lo), Some(hi)) => write!(f, "an integer from {lo} to {hi}"),
                (Some(lo), None) => write!(f, "an integer of at least {lo}"),
                (None, Some(hi)) => write!(f, "an integer of at most {hi}"),
                (None, None) => f.write_str("an integer"),
            },
            Ty::Number { min, max } => match (min, max) {
                (Some(lo), Some(hi)) => write!(f, "a number from {lo} to {hi}"),
                (Some(lo), None) => write!(f, "a number of at least {lo}"),
                (None, Some(hi)) => write!(f, "a number of at most {hi}"),
                (None, None) => f.write_str("a number"),
            },
            Ty::Boolean => f.write_str("true or false"),
            Ty::Duration => f.write_str("a duration such as `30s` or `5m`"),
            Ty::List(item) => write!(f, "a list of {}", strip_article(&item.to_string())),
            Ty::Map(value) => write!(f, "a map of {}", strip_article(&value.to_string())),
            Ty::Object(_) => f.write_str("a map"),
            Ty::OneOf(types) => {
                for (i, t) in types.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{t}")?;
                }
                Ok(())
            }
        }
    }
}

fn strip_article(s: &str) -> String {
    let s = s
        .strip_prefix("a ")
        .or_else(|| s.strip_prefix("an "))
        .unwrap_or(s);
    // "a list of string" reads badly; pluralise the simple cases.
    match s {
        "string" | "integer" | "number" | "map" | "list" => format!("{s}s"),
        _ => s.to_owned(),
    }
}

/// One key of an [`ObjectSchema`].
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub required: bool,
    /// One sentence for `drctl actions` and error hints.
    pub doc: String,
    /// The value is a credential (a DSN with a password, a token, a webhook URL): the
    /// compiler warns when it is written literally instead of coming from `secrets`.
    pub sensitive: bool,
}

/// The keys a map accepts, which are required, and which exclude each other.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectSchema {
    pub fields: Vec<Field>,
    /// Groups of keys of which at most one may be given (`json` or `body`).
    pub exclusive: Vec<Vec<String>>,
    /// Groups of keys of which at least one must be given.
    pub at_least_one: Vec<Vec<String>>,
}

impl ObjectSchema {
    /// An empty schema: a map that accepts no keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a required key.
    pub fn req(self, name: &str, ty: Ty, doc: &str) -> Self {
        self.field(name, ty, true, false, doc)
    }

    /// Adds an optional key.
    pub fn opt(self, name: &str, ty: Ty, doc: &str) -> Self {
        self.field(name, ty, false, false, doc)
    }

    /// Adds a required key that carries a credential.
    pub fn req_secret(self, name: &str, ty: Ty, doc: &str) -> Self {
        self.field(name, ty, true, true, doc)
    }

    /// Adds an optional key that carries a credential.
    pub fn opt_secret(self, name: &str, ty: Ty, doc: &str) -> Self {
        self.field(name, ty, false, true, doc)
    }

    fn field(mut self, name: &str, ty: Ty, required: bool, sensitive: bool, doc: &str) -> Self {
        self.fields.push(Field {
            name: name.to_owned(),
            ty,
            required,
            doc: doc.to_owned(),
            sensitive,
        });
        self
    }

    /// At most one of `names` may be given.
    pub fn exclusive(mut self, names: &[&str]) -> Self {
        self.exclusive
            .push(names.iter().map(|n| (*n).to_owned()).collect());
        self
    }

    /// At least one of `names` must be given.
    pub fn at_least_one(mut self, names: &[&str]) -> Self {
        self.at_least_one
            .push(names.iter().map(|n| (*n).to_owned()).collect());
        self
    }

    /// Looks a key up.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// How a value looks to the checker.
#[derive(Debug)]
pub enum Shape<'a, N> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    /// A template whose type is known only once rendered; accepted by every type.
    Deferred,
    Seq(&'a [N]),
    /// Entries as (key, the key's own node when the input has one, value).
    Map(Vec<(&'a str, Option<&'a N>, &'a N)>),
}

impl<N> Shape<'_, N> {
    /// The kind of value, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Shape::Null => "null",
            Shape::Bool(_) => "a boolean",
            Shape::Int(_) => "an integer",
            Shape::Float(_) => "a number",
            Shape::Str(_) => "a string",
            Shape::Deferred => "a template",
            Shape::Seq(_) => "a list",
            Shape::Map(_) => "a map",
        }
    }
}

/// Anything the checker can walk: YAML nodes at compile time, JSON at run time.
pub trait SchemaInput: Sized {
    fn shape(&self) -> Shape<'_, Self>;
}

impl SchemaInput for serde_json::Value {
    fn shape(&self) -> Shape<'_, Self> {
        use serde_json::Value;
        match self {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Shape::Int(i),
                None => Shape::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Shape::Str(s),
            Value::Array(items) => Shape::Seq(items),
            Value::Object(map) => {
                Shape::Map(map.iter().map(|(k, v)| (k.as_str(), None, v)).collect())
            }
        }
    }
}

/// One step of the path from the top of `with` to a value: a key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A dotted path such as `records[0].ttl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub Vec<PathSeg>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => f.write_str(k)?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaErrorKind {
    UnknownKey {
        key: String,
        suggestion: Option<String>,
    },
    MissingKey {
        key: String,
    },
    WrongType {
        expected: String,
        found: &'static str,
    },
    NotInEnum {
        value: String,
        expected: String,
        suggestion: Option<String>,
    },
    OutOfRange {
        value: String,
        expected: String,
    },
    BadDuration(DurationError),
    Exclusive {
        keys: Vec<String>,
    },
    NeedOneOf {
        keys: Vec<String>,
    },
}

/// A problem found by [`check`], with the path to the offending value.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    pub path: Path,
    pub kind: SchemaErrorKind,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.0.is_empty() {
            String::new()
        } else {
            format!("`{}`: ", self.path)
        };
        match &self.kind {
            SchemaErrorKind::UnknownKey { key, .. } => write!(f, "{at}unknown parameter `{key}`"),
            SchemaErrorKind::MissingKey { key } => {
                write!(f, "{at}missing required parameter `{key}`")
            }
            SchemaErrorKind::WrongType { expected, found } => {
                write!(f, "{at}expected {expected}, found {found}")
            }
            SchemaErrorKind::NotInEnum {
                value, expected, ..
            } => {
                write!(f, "{at}`{value}` is not {expected}")
            }
            SchemaErrorKind::OutOfRange { value, expected } => {
                write!(f, "{at}{value} is out of range: expected {expected}")
            }
            SchemaErrorKind::BadDuration(e) => write!(f, "{at}{e}"),
            SchemaErrorKind::Exclusive { keys } => {
                write!(f, "{at}give only one of {}", backticked(keys))
            }
            SchemaErrorKind::NeedOneOf { keys } => {
                write!(f, "{at}give one of {}", backticked(keys))
            }
        }
    }
}

impl SchemaError {
    /// A "did you mean" hint, when the error has one.
    pub fn hint(&self) -> Option<String> {
        match &self.kind {
            SchemaErrorKind::UnknownKey {
                suggestion: Some(s),
                ..
            }
            | SchemaErrorKind::NotInEnum {
                suggestion: Some(s),
                ..
            } => Some(format!("did you mean `{s}`?")),
            _ => None,
        }
    }
}

fn backticked(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `value` against `ty`, calling `report` with the node at fault for every problem.
/// A missing key is reported at the map that lacks it; an unknown key at the key itself.
pub fn check<'a, N: SchemaInput>(
    ty: &Ty,
    value: &'a N,
    report: &mut dyn FnMut(&'a N, SchemaError),
) {
    let mut path = Vec::new();
    check_at(ty, value, &mut path, report);
}

/// Turns rendered scalars into text where the schema wants text: `"{{ steps.x.output.n }}"`
/// keeps the number's type, and a `message` or `url` field should still accept it. Only
/// numbers and booleans bound for a string field are changed; nothing else is guessed.
pub fn coerce_to_schema(schema: &ObjectSchema, value: &mut serde_json::Value) {
    let serde_json::Value::Object(map) = value else {
        return;
    };
    for (key, v) in map.iter_mut() {
        if let Some(field) = schema.get(key) {
            coerce(&field.ty, v);
        }
    }
}

fn coerce(ty: &Ty, value: &mut serde_json::Value) {
    use serde_json::Value as J;
    match (ty, &mut *value) {
        (Ty::String | Ty::Enum(_), J::Number(n)) => *value = J::String(n.to_string()),
        (Ty::String | Ty::Enum(_), J::Bool(b)) => *value = J::String(b.to_string()),
        (Ty::List(item), J::Array(items)) => items.iter_mut().for_each(|v| coerce(item, v)),
        (Ty::Map(inner), J::Object(map)) => map.values_mut().for_each(|v| coerce(inner, v)),
        (Ty::Object(schema), J::Object(_)) => coerce_to_schema(schema, value),
        _ => {}
    }
}

/// Checks a map against an object schema (an action's `with:`), as [`check`] does with
/// `Ty::Object`, without building that `Ty`.
pub fn check_object<'a, N: SchemaInput>(
    schema: &ObjectSchema,
    value: &'a N,
    report: &mut dyn FnMut(&'a N, SchemaError),
) {
    let mut path = Vec::new();
    match value.shape() {
        Shape::Map(entries) => check_object_entries(schema, value, &entries, &mut path, report),
        Shape::Deferred => {}
        other => report(
            value,
            SchemaError {
                path: Path::default(),
                kind: SchemaErrorKind::WrongType {
                    expected: "a map".to_owned(),
                    found: other.kind_name(),
                },
            },
        ),
    }
}

fn check_at<'a, N: SchemaInput>(
    ty: &Ty,
    value: &'a N,
    path: &mut Vec<PathSeg>,
    report: &mut dyn FnMut(&'a N, SchemaError),
) {
    let shape = value.shape();
    let mut fail = |kind: SchemaErrorKind| {
        report(
            value,
            SchemaError {
                path: Path(path.clone()),
                kind,
            },
        );
    };
    let wrong_type = |shape: &Shape<'_, N>| SchemaErrorKind::WrongType {
        expected: ty.to_string(),
        found: shape.kind_name(),
    };
    match (ty, &shape) {
        (_, Shape::Deferred) | (Ty::Any, _) => {}
        (Ty::String, Shape::Str(_)) | (Ty::Boolean, Shape::Bool(_)) => {}
        (Ty::Enum(values), Shape::Str(s)) => {
            if !values.iter().any(|v| v == s) {
                fail(SchemaErrorKind::NotInEnum {
                    value: (*s).to_owned(),
                    expected: ty.to_string(),
                    suggestion: did_you_mean(s, values.iter().map(String::as_str))
                        .map(str::to_owned),
                });
            }
        }
        (Ty::Integer { min, max }, Shape::Int(i)) => {
            if min.is_some_and(|lo| *i < lo) || max.is_some_and(|hi| *i > hi) {
                fail(SchemaErrorKind::OutOfRange {
                    value: i.to_string(),
                    expected: ty.to_string(),
                });
            }
        }
        (Ty::Number { min, max }, Shape::Int(_) | Shape::Float(_)) => {
            let x = match shape {
                Shape::Int(i) => i as f64,
                Shape::Float(x) => x,
                _ => unreachable_number(),
            };
            if x.is_nan() || min.is_some_and(|lo| x < lo) || max.is_some_and(|hi| x > hi) {
                fail(SchemaErrorKind::OutOfRange {
                    value: x.to_string(),
                    expected: ty.to_string(),
                });
            }
        }
        (Ty::Duration, Shape::Str(s)) => {
            if let Err(e) = parse_duration(s) {
                fail(SchemaErrorKind::BadDuration(e));
            }
        }
        (Ty::List(item), Shape::Seq(items)) => {
            for (i, node) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                check_at(item, node, path, report);
                path.pop();
            }
        }
        (Ty::Map(value_ty), Shape::Map(entries)) => {
            for (key, _, node) in entries {
                path.push(PathSeg::Key((*key).to_owned()));
                check_at(value_ty, *node, path, report);
                path.pop();
            }
        }
        (Ty::Object(schema), Shape::Map(entries)) => {
            check_object_entries(schema, value, entries, path, report);
        }
        (Ty::OneOf(types), _) => {
            // Pick the alternative whose outer kind matches, so that nested problems are
            // reported against the type the author evidently meant.
            match types.iter().find(|t| kind_matches(t, &shape)) {
                Some(t) => check_at(t, value, path, report),
                None => fail(wrong_type(&shape)),
            }
        }
        _ => fail(wrong_type(&shape)),
    }
}

// Only reached from the `Shape::Int | Shape::Float` arm above; kept as a function so the
// match stays exhaustive without a panic in library code.
fn unreachable_number() -> f64 {
    f64::NAN
}

fn kind_matches<N>(ty: &Ty, shape: &Shape<'_, N>) -> bool {
    matches!(
        (ty, shape),
        (Ty::Any, _)
            | (Ty::String | Ty::Enum(_) | Ty::Duration, Shape::Str(_))
            | (Ty::Integer { .. }, Shape::Int(_))
            | (Ty::Number { .. }, Shape::Int(_) | Shape::Float(_))
            | (Ty::Boolean, Shape::Bool(_))
            | (Ty::List(_), Shape::Seq(_))
            | (Ty::Map(_) | Ty::Object(_), Shape::Map(_))
    ) || matches!(ty, Ty::OneOf(inner) if inner.iter().any(|t| kind_matches(t, shape)))
}

fn check_object_entries<'a, N: SchemaInput>(
    schema: &ObjectSchema,
    map: &'a N,
    entries: &[(&'a str, Option<&'a N>, &'a N)],
    path: &mut Vec<PathSeg>,
    report: &mut dyn FnMut(&'a N, SchemaError),
) {
    for (key, key_node, node) in entries {
        match schema.get(key) {
            Some(field) => {
                path.push(PathSeg::Key((*key).to_owned()));
                check_at(&field.ty, *node, path, report);
                path.pop();
            }
            None => report(
                key_node.unwrap_or(map),
                SchemaError {
                    path: Path(path.clone()),
                    kind: SchemaErrorKind::UnknownKey {
                        key: (*key).to_owned(),
                        suggestion: did_you_mean(
                            key,
                            schema.fields.iter().map(|f| f.name.as_str()),
                        )
                        .map(str::to_owned),
                    },
                },
            ),
        }
    }
    let present = |name: &str| entries.iter().any(|(k, _, _)| *k == name);
    let mut fail = |kind| {
        report(
            map,
            SchemaError {
                path: Path(path.clone()),
                kind,
            },
        )
    };
    for field in schema.fields.iter().filter(|f| f.required) {
        if !present(&field.name) {
            fail(SchemaErrorKind::MissingKey {
                key: field.name.clone(),
            });
        }
    }
    for group in &schema.exclusive {
        let given: Vec<String> = group.iter().filter(|k| present(k)).cloned().collect();
        if given.len() > 1 {
            fail(SchemaErrorKind::Exclusive { keys: given });
        }
    }
    for group in &schema.at_least_one {
        if !group.iter().any(|k| present(k)) {
            fail(SchemaErrorKind::NeedOneOf {
                keys: group.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(ty: &Ty, v: &serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        check(ty, v, &mut |_, e| out.push(e.to_string()));
        out
    }

    fn weight_schema() -> Ty {
        Ty::Object(
            ObjectSchema::new()
                .req("server", Ty::String, "server name")
                .req("weight", Ty::int_range(0, 256), "new weight")
                .opt(
                    "state",
                    Ty::one_of_strings(&["ready", "drain", "maint"]),
                    "state",
                )
                .opt("wait", Ty::Duration, "how long")
                .opt(
                    "expect",
                    Ty::OneOf(vec![Ty::int(), Ty::list(Ty::int())]),
                    "codes",
                )
                .opt("json", Ty::Any, "body as json")
                .opt("body", Ty::String, "raw body")
                .exclusive(&["json", "body"]),
        )
    }

    #[test]
    fn accepts_a_valid_value() {
        let v = json!({"server": "b", "weight": 20, "state": "drain", "wait": "5s", "expect": [200, 204]});
        assert!(errors(&weight_schema(), &v).is_empty());
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let v = json!({"weight": 300, "state": "drian", "wait": "5", "expect": ["x"], "json": {}, "body": "", "extra": 1});
        let got = errors(&weight_schema(), &v);
        assert_eq!(
            got,
            vec![
                "`weight`: 300 is out of range: expected an integer from 0 to 256",
                "`state`: `drian` is not one of `ready`, `drain`, `maint`",
                "`wait`: `5` has no unit; write `5s` for seconds or `5m` for minutes",
                "`expect[0]`: expected an integer, found a string",
                "unknown parameter `extra`",
                "missing required parameter `server`",
                "give only one of `json`, `body`",
            ]
        );
    }

    #[test]
    fn numbers_become_text_only_where_text_is_wanted() {
        let schema = ObjectSchema::new()
            .req("message", Ty::String, "text")
            .req("weight", Ty::int(), "a number")
            .opt("tags", Ty::list(Ty::String), "texts");
        let mut v = json!({"message": 20, "weight": 20, "tags": [1, true, "x"]});
        coerce_to_schema(&schema, &mut v);
        assert_eq!(
            v,
            json!({"message": "20", "weight": 20, "tags": ["1", "true", "x"]})
        );
    }

    #[test]
    fn types_describe_themselves() {
        assert_eq!(Ty::list(Ty::String).to_string(), "a list of strings");
        assert_eq!(
            Ty::OneOf(vec![Ty::int(), Ty::list(Ty::int())]).to_string(),
            "an integer or a list of integers"
        );
        assert_eq!(
            errors(&Ty::Boolean, &json!("yes")),
            vec!["expected true or false, found a string"]
        );
    }
}
