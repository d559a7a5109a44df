//! Filters that can make a text far larger than their input (`replace`, `indent`,
//! `join`, `format`), wrapped so that they refuse to build more than
//! [`MAX_RENDERED`] bytes. The final value of a template is checked too, but a filter can
//! build gigabytes in between (`{{ s | replace('x', big) | length }}` ends small). Each
//! wrapper bounds the size the builtin would produce from its arguments, refuses when
//! that bound is over the cap, and otherwise calls minijinja's own filter.

use std::sync::LazyLock;

use minijinja::value::{Rest, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::env::MAX_RENDERED;

/// The filters wrapped here.
pub(crate) const NAMES: &[&str] = &["replace", "indent", "join", "format"];

/// A plain environment whose builtins do the work once the size is known to be fine.
static BUILTINS: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);

/// Registers the bounded filters in place of the builtins.
pub(crate) fn register(env: &mut Environment<'static>) {
    for name in NAMES {
        env.add_filter(
            *name,
            move |_: &State<'_, '_>, args: Rest<ValueOrKwargs>| bounded(name, &args.into_values()),
        );
    }
}

fn bounded(name: &str, args: &[Value]) -> Result<Value, Error> {
    let bound = bound(name, args);
    if bound > MAX_RENDERED {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "`{name}` would give up to {bound} bytes, over the 1 MiB ({MAX_RENDERED} bytes) a template may build"
            ),
        ));
    }
    BUILTINS.empty_state().apply_filter(name, args)
}

/// The length of a value as text.
fn text_len(v: &Value) -> usize {
    v.as_str().map_or_else(|| v.to_string().len(), str::len)
}

/// The integers among the arguments (widths, counts), keyword arguments included.
fn numbers(args: &[Value]) -> usize {
    let mut n = 0usize;
    for a in args {
        if let Ok(i) = usize::try_from(a.clone()) {
            n = n.saturating_add(i);
        } else if a.kind() == minijinja::value::ValueKind::Map
            && let Ok(values) = a.try_iter()
        {
            for key in values {
                if let Ok(v) = a.get_item(&key)
                    && let Ok(i) = usize::try_from(v)
                {
                    n = n.saturating_add(i);
                }
            }
        }
    }
    n
}

/// An upper bound of the output's size in bytes.
fn bound(name: &str, args: &[Value]) -> usize {
    let input = args.first().map_or(0, text_len);
    let rest = || {
        args.iter()
            .skip(1)
            .map(text_len)
            .fold(0usize, usize::saturating_add)
    };
    match name {
        "replace" => {
            let text = args.first().and_then(Value::as_str).unwrap_or("");
            let from = args.get(1).and_then(Value::as_str).unwrap_or("");
            let to = args.get(2).map_or(0, text_len);
            // An empty pattern matches between every two characters.
            let hits = if from.is_empty() {
                text.chars().count() + 1
            } else {
                text.matches(from).count()
            };
            input.saturating_add(hits.saturating_mul(to))
        }
        // Every line gets the width (or the given indent text) in front of it.
        "indent" => {
            let lines = args
                .first()
                .and_then(Value::as_str)
                .map_or(1, |t| t.lines().count() + 1);
            let width = numbers(args.get(1..).unwrap_or_default()).max(rest());
            input.saturating_add(lines.saturating_mul(width))
        }
        "join" => {
            let sep = args.get(1).map_or(0, text_len);
            match args.first().map(Value::try_iter) {
                Some(Ok(items)) => items.fold(0usize, |acc, item| {
                    acc.saturating_add(text_len(&item)).saturating_add(sep)
                }),
                _ => input,
            }
        }
        // printf widths and precisions are numbers in the format text itself.
        "format" => {
            let fmt = args.first().and_then(Value::as_str).unwrap_or("");
            let widths = fmt
                .split(|c: char| !c.is_ascii_digit())
                .filter(|d| !d.is_empty())
                .map(|d| d.parse::<usize>().unwrap_or(usize::MAX))
                .fold(0usize, usize::saturating_add);
            input.saturating_add(widths).saturating_add(rest())
        }
        _ => input,
    }
}

#[cfg(test)]
mod tests {
    use crate::template::TemplateEnv;
    use minijinja::Value;

    fn eval(expr: &str) -> Result<String, String> {
        TemplateEnv::new()
            .eval(expr, &Value::from(()))
            .map(|v| v.to_string())
            .map_err(|e| e.message)
    }

    #[test]
    fn growth_filters_work_within_the_cap_and_refuse_beyond_it() {
        assert_eq!(eval("'a-b' | replace('-', '+')").unwrap(), "a+b");
        assert_eq!(eval("'l1\\nl2' | indent(2)").unwrap(), "l1\n  l2");
        assert_eq!(eval("'l1\\nl2' | indent(width=2)").unwrap(), "l1\n  l2");
        assert_eq!(eval("[1, 2] | join(',')").unwrap(), "1,2");
        assert_eq!(eval("'%3s' | format('x')").unwrap(), "  x");
        for runaway in [
            "('x' * 1000000) | replace('x', 'x' * 4000) | length",
            "('x\\n' * 500000) | indent(8000) | length",
            "('x' * 1000000) | list | join('y' * 4000) | length",
            "'%2000000000s' | format('x') | length",
        ] {
            let e = eval(runaway).unwrap_err();
            assert!(e.contains("over the 1 MiB"), "{runaway}: {e}");
        }
    }
}
