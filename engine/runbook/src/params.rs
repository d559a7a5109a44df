//! Parameter values for a run: parsed from `-p key=value` or taken as JSON, checked
//! against the runbook's declarations, defaults applied.

use drctl_core::{ParamName, did_you_mean};
use indexmap::IndexMap;
use serde::Serialize;

use crate::model::{ParamSpec, ParamType};

/// Where a param's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Given,
    Default,
}

/// The value of every param that has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedParams {
    pub values: IndexMap<ParamName, (serde_json::Value, Origin)>,
}

impl ResolvedParams {
    /// As the `params` object templates see.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.clone()))
            .collect()
    }
}

/// A problem with a param value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("`{}` is not of the form key=value", shown(.0))]
    Malformed(String),
    #[error("unknown parameter `{}`{}", shown(.name), hint(.suggestion))]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("parameter `{}` is given twice", shown(.0))]
    Duplicate(String),
    #[error("missing required parameter `{0}`")]
    Missing(String),
    #[error("parameter `{name}`: `{}` is not {expected}", shown(.text))]
    Parse {
        name: String,
        text: String,
        expected: String,
    },
    #[error("parameter `{name}` nests {depth} levels deep; at most {max} are accepted", max = drctl_core::json::MAX_DEPTH)]
    TooDeep { name: String, depth: usize },
    #[error("parameter `{name}`: {} is not one of {allowed}", shown(.value))]
    NotAllowed {
        name: String,
        value: String,
        allowed: String,
    },
}

/// A value as an error message may show it: control characters escaped (a NUL or an
/// escape sequence never reaches the terminal raw) and at most 80 characters.
pub fn shown(text: &str) -> String {
    shown_within(text, 80)
}

/// Text from outside (a payload, a sender) as a terminal may show it: control characters
/// and bidirectional overrides escaped, so that it can neither forge nor hide a line, and
/// at most `max` characters.
pub fn shown_within(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push_str(&format!("… ({} bytes in all)", text.len()));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else if matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        ) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}

/// Splits `key=value` arguments.
pub fn parse_assignments(args: &[String]) -> Result<Vec<(String, String)>, Vec<ParamError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        match arg.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_owned(), v.to_owned())),
            _ => errors.push(ParamError::Malformed(arg.clone())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Resolves params given as text (the command line): each value is read according to
/// its declared type; lists and maps are written as JSON.
pub fn resolve_text(
    specs: &IndexMap<ParamName, ParamSpec>,
    given: &[(String, String)],
) -> Result<ResolvedParams, Vec<ParamError>> {
    let mut errors = Vec::new();
    let mut values = IndexMap::new();
    for (name, text) in given {
        let Some(spec) = specs.get(name.as_str()) else {
            errors.push(unknown(specs, name));
            continue;
        };
        if values.contains_key(name) {
            errors.push(ParamError::Duplicate(name.clone()));
            continue;
        }
        match parse_text(spec.ty, text) {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None => errors.push(ParamError::Parse {
                name: name.clone(),
                text: text.clone(),
                expected: expected(spec.ty).to_owned(),
            }),
        }
    }
    finish(specs, values, errors)
}

/// Resolves params given as JSON values (triggers, the API).
pub fn resolve_json(
    specs: &IndexMap<ParamName, ParamSpec>,
    given: &serde_json::Map<String, serde_json::Value>,
) -> Result<ResolvedParams, Vec<ParamError>> {
    let mut errors = Vec::new();
    let mut values = IndexMap::new();
    for (name, value) in given {
        match specs.get(name.as_str()) {
            None => errors.push(unknown(specs, name)),
            Some(spec) if spec.ty.accepts(value) => {
                values.insert(name.clone(), value.clone());
            }
            Some(spec) => errors.push(ParamError::Parse {
                name: name.clone(),
                text: value.to_string(),
                expected: expected(spec.ty).to_owned(),
            }),
        }
    }
    finish(specs, values, errors)
}

fn unknown(specs: &IndexMap<ParamName, ParamSpec>, name: &str) -> ParamError {
    ParamError::Unknown {
        name: name.to_owned(),
        suggestion: did_you_mean(name, specs.keys().map(|k| k.as_str())).map(str::to_owned),
    }
}

fn finish(
    specs: &IndexMap<ParamName, ParamSpec>,
    mut given: IndexMap<String, serde_json::Value>,
    mut errors: Vec<ParamError>,
) -> Result<ResolvedParams, Vec<ParamError>> {
    let mut out = ResolvedParams::default();
    for (name, spec) in specs {
        let (value, origin) = match given.shift_remove(name.as_str()) {
            Some(v) => (v, Origin::Given),
            None => match &spec.default {
                Some(d) => (d.clone(), Origin::Default),
                None if spec.required => {
                    errors.push(ParamError::Missing(name.to_string()));
                    continue;
                }
                None => continue,
            },
        };
        let depth = drctl_core::json::depth(&value);
        if depth > drctl_core::json::MAX_DEPTH {
            errors.push(ParamError::TooDeep {
                name: name.to_string(),
                depth,
            });
            continue;
        }
        if let Some(allowed) = &spec.allowed
            && !allowed.contains(&value)
        {
            errors.push(ParamError::NotAllowed {
                name: name.to_string(),
                value: value.to_string(),
                allowed: allowed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
            continue;
        }
        out.values.insert(name.clone(), (value, origin));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn parse_text(ty: ParamType, text: &str) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    match ty {
        ParamType::String => Some(J::String(text.to_owned())),
        ParamType::Integer => text.trim().parse::<i64>().ok().map(J::from),
        ParamType::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(J::Number),
        ParamType::Boolean => match text.trim() {
            "true" => Some(J::Bool(true)),
            "false" => Some(J::Bool(false)),
            _ => None,
        },
        ParamType::List => serde_json::from_str::<J>(text).ok().filter(J::is_array),
        ParamType::Map => serde_json::from_str::<J>(text).ok().filter(J::is_object),
    }
}

fn expected(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "a string",
        ParamType::Integer => "an integer",
        ParamType::Number => "a number",
        ParamType::Boolean => "true or false",
        ParamType::List => "a JSON list, e.g. [\"a\",\"b\"]",
        ParamType::Map => "a JSON map, e.g. {\"k\":\"v\"}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;
    use serde_json::json;

    fn spec(ty: ParamType, required: bool, default: Option<serde_json::Value>) -> ParamSpec {
        ParamSpec {
            ty,
            required,
            default,
            allowed: None,
            description: None,
            span: Span::default(),
        }
    }

    fn specs() -> IndexMap<ParamName, ParamSpec> {
        let mut m = IndexMap::new();
        m.insert(
            ParamName::new("from").unwrap(),
            spec(ParamType::String, true, None),
        );
        m.insert(
            ParamName::new("step_percent").unwrap(),
            spec(ParamType::Integer, false, Some(json!(20))),
        );
        let mut region = spec(ParamType::String, false, None);
        region.allowed = Some(vec![json!("a"), json!("b")]);
        m.insert(ParamName::new("region").unwrap(), region);
        m
    }

    #[test]
    fn text_values_follow_their_types_and_defaults_fill_in() {
        let given = parse_assignments(&["from=a".into(), "region=b".into()]).unwrap();
        let r = resolve_text(&specs(), &given).unwrap();
        assert_eq!(r.values["from"], (json!("a"), Origin::Given));
        assert_eq!(r.values["step_percent"], (json!(20), Origin::Default));
        assert_eq!(r.values["region"], (json!("b"), Origin::Given));
    }

    #[test]
    fn every_problem_is_reported() {
        let given = parse_assignments(&[
            "step_percent=lots".into(),
            "form=a".into(),
            "region=c".into(),
        ])
        .unwrap();
        let errors = resolve_text(&specs(), &given).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "parameter `step_percent`: `lots` is not an integer",
                "unknown parameter `form` (did you mean `from`?)",
                "missing required parameter `from`",
                "parameter `region`: \"c\" is not one of \"a\", \"b\"",
            ]
        );
        assert!(parse_assignments(&["novalue".into()]).is_err());
    }
}
