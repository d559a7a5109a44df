//! The one template environment every runbook template goes through.
//!
//! Settings, and why:
//! - strict undefined: `{{ params.tpyo }}` is an error, also inside `{% if %}`, never an
//!   empty string that silently reaches a production system;
//! - no auto-escaping: values go to shells, URLs and JSON bodies, not HTML;
//! - filters for the places values go: `to_json` / `from_json`, and `quote` for a shell
//!   word (Ansible's names, which SREs already know);
//! - a fuel limit, so a runaway loop in a template fails instead of hanging a failover.

use std::collections::HashSet;
use std::sync::Mutex;

use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

/// Instructions a single render may execute. Generous for any sane template.
const FUEL: u64 = 2_000_000;

/// The names templates may use besides their variables: minijinja's global functions.
const GLOBAL_FUNCTIONS: &[&str] = &["range", "dict", "namespace", "debug"];

/// A compile or render failure, with the byte range in the template when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    pub range: Option<std::ops::Range<usize>>,
}

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        let message = match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        };
        Self {
            message,
            range: e.range(),
        }
    }
}

/// The configured environment plus a cache of filter-name lookups.
#[derive(Debug)]
pub struct TemplateEnv {
    env: Environment<'static>,
    known_filters: Mutex<HashSet<String>>,
}

impl Default for TemplateEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateEnv {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_fuel(Some(FUEL));
        env.add_filter("to_json", to_json);
        env.add_filter("from_json", from_json);
        env.add_filter("quote", quote);
        super::bounded::register(&mut env);
        Self {
            env,
            known_filters: Mutex::new(HashSet::new()),
        }
    }

    /// Compiles a template and returns the dotted variable paths it reads
    /// (`steps.a.output.x`), globals excluded. One compile serves both purposes.
    pub fn analyze_template(&self, source: &str) -> Result<Vec<String>, TemplateError> {
        let t = self.env.template_from_str(source)?;
        Ok(without_globals(t.undeclared_variables(true)))
    }

    /// Compiles an expression and returns the dotted variable paths it reads.
    pub fn analyze_expression(&self, source: &str) -> Result<Vec<String>, TemplateError> {
        let e = self.env.compile_expression(source)?;
        Ok(without_globals(e.undeclared_variables(true)))
    }

    /// Whether `name` is a filter of this environment. minijinja resolves filters only
    /// when rendering; we ask it up front so a typo fails `validate`, not a failover.
    pub fn has_filter(&self, name: &str) -> bool {
        if let Ok(known) = self.known_filters.lock()
            && known.contains(name)
        {
            return true;
        }
        let exists = match self.env.empty_state().apply_filter(name, &[]) {
            Ok(_) => true,
            Err(e) => e.kind() != ErrorKind::UnknownFilter,
        };
        if exists && let Ok(mut known) = self.known_filters.lock() {
            known.insert(name.to_owned());
        }
        exists
    }

    /// Whether `name` is a test (`is defined`, `is number`, ...).
    pub fn has_test(&self, name: &str) -> bool {
        match self.env.empty_state().perform_test(name, &[]) {
            Ok(_) => true,
            Err(e) => e.kind() != ErrorKind::UnknownTest,
        }
    }

    /// Renders a template to a string of at most [`MAX_RENDERED`] bytes.
    pub fn render(&self, source: &str, ctx: &Value) -> Result<String, TemplateError> {
        let out = self.env.render_str(source, ctx)?;
        bounded(out.len())?;
        Ok(out)
    }

    /// Evaluates an expression to a value (a text of at most [`MAX_RENDERED`] bytes).
    pub fn eval(&self, source: &str, ctx: &Value) -> Result<Value, TemplateError> {
        let expr = self.env.compile_expression(source)?;
        let value = expr.eval(ctx)?;
        if let Some(text) = value.as_str() {
            bounded(text.len())?;
        }
        Ok(value)
    }
}

/// The largest text a template may render: far above any value an action takes (a URL,
/// a SQL statement, a message), far below what would hurt the process holding a run.
pub const MAX_RENDERED: usize = 1024 * 1024;

fn bounded(len: usize) -> Result<(), TemplateError> {
    if len > MAX_RENDERED {
        return Err(TemplateError {
            message: format!(
                "the rendered value is {len} bytes, over the 1 MiB ({MAX_RENDERED} bytes) a template may give"
            ),
            range: None,
        });
    }
    Ok(())
}

fn without_globals(vars: HashSet<String>) -> Vec<String> {
    let mut out: Vec<String> = vars
        .into_iter()
        .filter(|v| !GLOBAL_FUNCTIONS.contains(&v.split('.').next().unwrap_or(v)))
        .collect();
    out.sort();
    out
}

fn to_json(value: &Value) -> Result<String, minijinja::Error> {
    serde_json::to_string(value).map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot convert to JSON: {e}"),
        )
    })
}

fn from_json(text: &str) -> Result<Value, minijinja::Error> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|v| Value::from(Serde(&v)))
        .map_err(|e| {
            minijinja::Error::new(ErrorKind::InvalidOperation, format!("not valid JSON: {e}"))
        })
}

/// Quotes a value as one POSIX shell word. Only for the rare `exec` that must call a
/// shell; `exec` itself takes an argv list and never needs quoting.
fn quote(value: &Value) -> String {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    shell_words::quote(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_over_the_size_cap_is_an_error_not_a_gigabyte() {
        let env = TemplateEnv::new();
        let ctx = Value::from(());
        let big = "{{ 'x' * 2000000 }}";
        let e = env.render(big, &ctx).unwrap_err();
        assert!(e.message.contains("over the 1 MiB"), "{e}");
        let e = env.eval("'ab' * 600000", &ctx).unwrap_err();
        assert!(e.message.contains("over the 1 MiB"), "{e}");
        assert_eq!(env.render("{{ 'x' * 3 }}", &ctx).unwrap(), "xxx");
    }
    use minijinja::context;

    #[test]
    fn strict_and_unescaped() {
        let env = TemplateEnv::new();
        let ctx = context! { params => context! { url => "http://a/?x=<1>&y" } };
        assert_eq!(
            env.render("{{ params.url }}", &ctx).unwrap(),
            "http://a/?x=<1>&y"
        );
        let err = env.render("{{ params.nope }}", &ctx).unwrap_err();
        assert!(err.message.contains("undefined"), "{}", err.message);
        // Strict also inside `if`.
        assert!(
            env.render("{% if params.nope %}x{% endif %}", &ctx)
                .is_err()
        );
    }

    #[test]
    fn filters_for_json_and_shell() {
        let env = TemplateEnv::new();
        let ctx = context! { v => context! { a => 1, b => "it's" } };
        assert_eq!(
            env.render("{{ v | to_json }}", &ctx).unwrap(),
            r#"{"a":1,"b":"it's"}"#
        );
        assert_eq!(
            env.render("{{ v.b | quote }}", &ctx).unwrap(),
            r#"'it'\''s'"#
        );
        assert_eq!(
            env.eval("'[1,2]' | from_json", &ctx).unwrap().len(),
            Some(2)
        );
        assert!(env.has_filter("to_json") && env.has_filter("default") && env.has_filter("quote"));
        assert!(!env.has_filter("to_jsn"));
        assert!(env.has_test("defined") && !env.has_test("definedd"));
    }

    #[test]
    fn variables_are_reported_as_dotted_paths() {
        let env = TemplateEnv::new();
        let vars = env
            .analyze_template(
                "{{ steps.a.output.x }}{% for i in range(3) %}{{ i }}{% endfor %}{{ params.p }}",
            )
            .unwrap();
        assert_eq!(vars, vec!["params.p", "steps.a.output.x"]);
        let vars = env
            .analyze_expression("steps.lag.output.seconds < 5")
            .unwrap();
        assert_eq!(vars, vec!["steps.lag.output.seconds"]);
        assert!(env.analyze_template("{{ 1 + }}").is_err());
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let env = TemplateEnv::new();
        let err = env
            .render(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                &Value::UNDEFINED,
            )
            .unwrap_err();
        assert!(err.message.contains("fuel"), "{}", err.message);
    }
}
