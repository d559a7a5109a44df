//! Template compilation with scope checks: syntax, filter and test names, and every
//! variable a template reads, against what is visible where the template stands.
//!
//! Scopes, and why:
//! - `secrets` only in the inputs of an action (`with`, `verify`, `compensate`): anywhere
//!   else the value would be shown to someone (a message, a lock name) or leak through a
//!   condition;
//! - `steps.<id>` only for steps that finish before this one (see `Graph::visibility`);
//! - `item` / `index` only in `for_each` steps; `payload` only in webhook params;
//! - `lock` sees only `params`, because it is taken before anything else exists;
//! - `notice` only in `notify:` subscriptions, which see params, secrets and `run` too.

use drctl_core::did_you_mean;

use super::Cx;
use super::graph::{Loc, Visibility};
use crate::diagnostic::Code;
use crate::raw::Spanned;
use crate::source::Span;
use crate::template::locate::locate;
use crate::template::scan::{Name, forbidden_statements, scan, transformed_secrets};
use crate::template::{
    Expr, Kind, NOTICE_FIELDS, RUN_FIELDS, Reference, Root, STEP_FIELDS, Template, ValueTemplate,
    classify, has_template_syntax, single_expression, split_reference,
};
use crate::yaml::{Node, Value};

/// Filter names for "did you mean" hints (existence is asked of minijinja itself).
const KNOWN_FILTERS: &[&str] = &[
    "to_json",
    "from_json",
    "quote",
    "tojson",
    "safe",
    "escape",
    "lower",
    "upper",
    "title",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "format",
    "urlencode",
];
const KNOWN_TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "boolean",
    "odd",
    "even",
    "number",
    "integer",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "lower",
    "upper",
    "sameas",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "in",
    "true",
    "false",
    "filter",
    "test",
];

/// Which steps a template may read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StepsScope {
    None,
    /// Steps upstream of the step at `loc`; with `include_self`, the step itself too.
    From {
        loc: Loc,
        include_self: bool,
    },
}

/// What a template may read, and what to call the place in messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope {
    pub what: &'static str,
    pub params: bool,
    pub secrets: bool,
    /// The inputs of an action that records them as they are (`log`, `assert`, `sleep`):
    /// no secrets, with a hint that says why.
    pub recorded: bool,
    pub steps: StepsScope,
    pub item: bool,
    pub run: bool,
    pub payload: bool,
    pub notice: bool,
}

impl Scope {
    /// Params only (`lock`).
    pub(crate) fn params_only(what: &'static str) -> Self {
        Scope {
            what,
            params: true,
            secrets: false,
            recorded: false,
            steps: StepsScope::None,
            item: false,
            run: false,
            payload: false,
            notice: false,
        }
    }

    /// A step's templates: params, upstream steps and `run`. Widen with the methods below.
    pub(crate) fn step(what: &'static str, loc: Loc) -> Self {
        Scope {
            what,
            params: true,
            secrets: false,
            recorded: false,
            steps: StepsScope::From {
                loc,
                include_self: false,
            },
            item: false,
            run: true,
            payload: false,
            notice: false,
        }
    }

    /// Secrets too: only for the inputs of an action.
    pub(crate) fn and_secrets(self) -> Self {
        Scope {
            secrets: true,
            ..self
        }
    }

    /// The inputs of an action that writes them to the run's log as they are.
    pub(crate) fn recorded(self) -> Self {
        Scope {
            secrets: false,
            recorded: true,
            ..self
        }
    }

    /// `item` and `index` too, when the step has a `for_each`.
    pub(crate) fn and_item(self, for_each: bool) -> Self {
        Scope {
            item: for_each,
            ..self
        }
    }

    /// The step's own output too: for its `verify` and `compensate`, which run after it.
    pub(crate) fn and_own_output(self) -> Self {
        match self.steps {
            StepsScope::From { loc, .. } => Scope {
                steps: StepsScope::From {
                    loc,
                    include_self: true,
                },
                ..self
            },
            StepsScope::None => self,
        }
    }

    /// Webhook params: the payload only.
    pub(crate) fn payload(what: &'static str) -> Self {
        Scope {
            what,
            params: false,
            secrets: false,
            recorded: false,
            steps: StepsScope::None,
            item: false,
            run: false,
            payload: true,
            notice: false,
        }
    }

    /// A `notify:` subscription's inputs: params, secrets, `run` and `notice`.
    pub(crate) fn notice(what: &'static str) -> Self {
        Scope {
            what,
            params: true,
            secrets: true,
            recorded: false,
            steps: StepsScope::None,
            item: false,
            run: true,
            payload: false,
            notice: true,
        }
    }
}

impl Cx<'_> {
    /// A string that renders to text (messages, lock names). Plain text is a template too.
    pub(crate) fn text_template(&mut self, s: &Spanned<String>, scope: &Scope) -> Option<Template> {
        let refs = self.check_template(&s.value, s.span, None, scope)?;
        Some(Template {
            source: s.value.clone(),
            refs,
            span: s.span,
        })
    }

    /// An expression (`when`, a string `for_each`): `{{ }}` optional; `true`/`false` allowed.
    pub(crate) fn expression(&mut self, node: &Node, scope: &Scope) -> Option<Expr> {
        match &node.value {
            Value::Bool(b) => Some(Expr {
                source: b.to_string(),
                refs: Vec::new(),
                span: node.span,
            }),
            Value::Str(s) => {
                let (inner, offset) = match single_expression(s) {
                    Some(found) => found,
                    None if has_template_syntax(s) => {
                        self.d
                            .error(
                                Code::TemplateSyntax,
                                node.span,
                                format!("`{}` must be a single expression", scope.what),
                            )
                            .hint("write it as one expression, e.g. `{{ steps.lag.output.seconds < 5 }}`");
                        return None;
                    }
                    None => (s.as_str(), 0),
                };
                let refs = self.check_template(s, node.span, Some((inner, offset)), scope)?;
                Some(Expr {
                    source: inner.to_owned(),
                    refs,
                    span: node.span,
                })
            }
            _ => {
                self.d.error(
                    Code::WrongType,
                    node.span,
                    format!(
                        "`{}` must be an expression or true/false, found {}",
                        scope.what,
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    /// A value tree that may hold templates (`with:`, call params, for_each items).
    pub(crate) fn value(&mut self, node: &Node, scope: &Scope) -> ValueTemplate {
        match &node.value {
            Value::Str(s) => match classify(s) {
                Kind::Literal => ValueTemplate::Literal(serde_json::Value::String(s.clone())),
                Kind::Expr(inner, offset) => {
                    match self.check_template(s, node.span, Some((inner, offset)), scope) {
                        Some(refs) => ValueTemplate::Expr(Expr {
                            source: inner.to_owned(),
                            refs,
                            span: node.span,
                        }),
                        None => ValueTemplate::Literal(serde_json::Value::Null),
                    }
                }
                Kind::Text => match self.check_template(s, node.span, None, scope) {
                    Some(refs) => ValueTemplate::Text(Template {
                        source: s.clone(),
                        refs,
                        span: node.span,
                    }),
                    None => ValueTemplate::Literal(serde_json::Value::Null),
                },
            },
            Value::Seq(items) => {
                let items: Vec<ValueTemplate> =
                    items.iter().map(|n| self.value(n, scope)).collect();
                if items.iter().all(|v| matches!(v, ValueTemplate::Literal(_))) {
                    ValueTemplate::Literal(serde_json::Value::Array(
                        items.into_iter().filter_map(literal).collect(),
                    ))
                } else {
                    ValueTemplate::List(items)
                }
            }
            Value::Map(entries) => {
                let mut map = indexmap::IndexMap::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = k.key_text().unwrap_or_default();
                    if has_template_syntax(&key) {
                        self.d
                            .error(Code::TemplateSyntax, k.span, "map keys cannot be templates");
                    }
                    map.insert(key, self.value(v, scope));
                }
                if map.values().all(|v| matches!(v, ValueTemplate::Literal(_))) {
                    ValueTemplate::Literal(serde_json::Value::Object(
                        map.into_iter()
                            .filter_map(|(k, v)| literal(v).map(|v| (k, v)))
                            .collect(),
                    ))
                } else {
                    ValueTemplate::Map(map)
                }
            }
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                ValueTemplate::Literal(node.to_json())
            }
        }
    }

    /// Checks one template string. `expr` is the inner expression and its offset when the
    /// string is evaluated as an expression. Returns the references when it compiles.
    fn check_template(
        &mut self,
        text: &str,
        span: Span,
        expr: Option<(&str, usize)>,
        scope: &Scope,
    ) -> Option<Vec<Reference>> {
        let (code, base) = expr.unwrap_or((text, 0));
        let analyzed = match expr {
            Some(_) => self.env.analyze_expression(code),
            None => self.env.analyze_template(code),
        };
        let variables = match analyzed {
            Ok(v) => v,
            Err(e) => {
                let (at, len) = e.range.map_or((base, 0), |r| {
                    (base + r.start, r.end.saturating_sub(r.start).max(1))
                });
                let at_span = locate(self.source, span, text, at.min(text.len()), len);
                self.d.error(
                    Code::TemplateSyntax,
                    at_span,
                    format!("template {}", e.message),
                );
                return None;
            }
        };
        if expr.is_none() {
            for stmt in forbidden_statements(code) {
                let at = locate(
                    self.source,
                    span,
                    text,
                    base + stmt.offset,
                    stmt.text.len().max(1),
                );
                self.d
                    .error(
                        Code::TemplateSyntax,
                        at,
                        format!(
                            "`{{% {} %}}` is not allowed in a runbook template: only `{{% if %}}` conditions are",
                            stmt.text
                        ),
                    )
                    .hint("repeat with `for_each`, compute in an `exec` step; a loop or `set` can build a value of any size");
            }
        }
        let names = scan(code, expr.is_some());
        let env = self.env;
        let at = (span, text, base);
        self.unknown_names(
            &names.filters,
            "filter",
            KNOWN_FILTERS,
            |n| env.has_filter(n),
            at,
        );
        self.unknown_names(&names.tests, "test", KNOWN_TESTS, |n| env.has_test(n), at);
        if scope.secrets {
            for offset in transformed_secrets(code, expr.is_some()) {
                let at = locate(self.source, span, text, base + offset, "secrets".len());
                self.d
                    .warning(
                        Code::SecretTransformed,
                        at,
                        "a secret is transformed here: drctl masks a secret's value and its common encodings, not what a filter or slice makes of it",
                    )
                    .hint("pass the secret as it is; the action's output, an error or a live plan may repeat what it receives");
            }
        }
        let mut refs = Vec::with_capacity(variables.len());
        for dotted in variables {
            let (root, path) = split_reference(&dotted);
            // Points at the reference as written, or at the whole string when it is written
            // another way (`steps['a']`).
            let place = |cx: &Cx<'_>, prefix: &str| match text.find(prefix) {
                Some(at) => locate(cx.source, span, text, at, prefix.len()),
                None => span,
            };
            let Some(root) = Root::parse(root) else {
                let at = place(self, root);
                let hint = did_you_mean(root, Root::ALL.iter().map(|r| r.as_str()))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "templates see params, secrets, steps, run, item and index (in for_each steps), payload (in webhook params)".to_owned());
                self.d
                    .error(
                        Code::UnknownReference,
                        at,
                        format!("unknown variable `{root}`"),
                    )
                    .hint(hint);
                continue;
            };
            let reference = Reference { root, path };
            if self.check_reference(&reference, scope, &|cx, prefix| place(cx, prefix)) {
                refs.push(reference);
            }
        }
        Some(refs)
    }

    /// Reports the filter or test names that `exists` does not know. `at` is the template's
    /// span, text and the offset of the code within the text.
    fn unknown_names(
        &mut self,
        found: &[Name],
        kind: &str,
        known: &[&str],
        exists: impl Fn(&str) -> bool,
        (span, text, base): (Span, &str, usize),
    ) {
        for name in found.iter().filter(|n| !exists(&n.text)) {
            let at = locate(self.source, span, text, base + name.offset, name.text.len());
            let hint = did_you_mean(&name.text, known.iter().copied())
                .map(|s| format!("did you mean `{s}`?"));
            self.d
                .error(
                    Code::UnknownFilter,
                    at,
                    format!("unknown {kind} `{}`", name.text),
                )
                .maybe_hint(hint);
        }
    }

    /// Checks one reference against the scope; reports and returns false when it is bad.
    fn check_reference(
        &mut self,
        r: &Reference,
        scope: &Scope,
        place: &dyn Fn(&Cx<'_>, &str) -> Span,
    ) -> bool {
        let root = r.root.as_str();
        let allowed = match r.root {
            Root::Params => scope.params,
            Root::Secrets => scope.secrets,
            Root::Steps => !matches!(scope.steps, StepsScope::None),
            Root::Item | Root::Index => scope.item,
            Root::Run => scope.run,
            Root::Payload => scope.payload,
            Root::Notice => scope.notice,
        };
        if !allowed {
            // Used, if in the wrong place: one error is enough, no "never used" warning.
            if let (Root::Secrets, Some(name)) = (r.root, r.name()) {
                self.used_secrets.insert(name.to_owned());
            }
            let at = place(self, root);
            let (code, message, hint) = match r.root {
                Root::Secrets if scope.recorded => (
                    Code::SecretNotAllowed,
                    format!(
                        "secrets cannot be used in `{}` of this action: it writes its inputs to the run's log",
                        scope.what
                    ),
                    "`log`, `assert` and `sleep` record their inputs as they are; a secret there, plain or transformed (`| upper`), would be stored. Pass secrets only to actions that use them",
                ),
                Root::Secrets => (
                    Code::SecretNotAllowed,
                    format!("secrets cannot be used in `{}`", scope.what),
                    "secrets may only be passed to actions, in `with`, `verify` and `compensate`; anywhere else their value would be shown or leak",
                ),
                Root::Item | Root::Index => (
                    Code::UnknownReference,
                    format!("`{root}` is not defined in `{}`", scope.what),
                    "`item` and `index` exist only in the inputs of steps with `for_each`",
                ),
                Root::Payload => (
                    Code::UnknownReference,
                    format!("`payload` is not defined in `{}`", scope.what),
                    "`payload` exists only in the params of a webhook trigger",
                ),
                Root::Notice => (
                    Code::UnknownReference,
                    format!("`notice` is not defined in `{}`", scope.what),
                    "`notice` exists only in the inputs of a `notify:` subscription",
                ),
                Root::Params | Root::Steps | Root::Run => (
                    Code::UnknownReference,
                    format!("`{root}` is not defined in `{}`", scope.what),
                    "this template is rendered before the run starts, so it can only read what is known then",
                ),
            };
            self.d.error(code, at, message).hint(hint);
            return false;
        }
        let Some(name) = r.name() else {
            return true;
        };
        match r.root {
            Root::Params => {
                if !self.params.keys().any(|p| p.as_str() == name) {
                    let at = place(self, &format!("params.{name}"));
                    let hint = did_you_mean(name, self.params.keys().map(|p| p.as_str()))
                        .map_or_else(
                            || {
                                format!(
                                    "declare it under `params:`, e.g. `{name}: {{ type: string }}`"
                                )
                            },
                            |s| format!("did you mean `{s}`?"),
                        );
                    self.d
                        .error(
                            Code::UnknownReference,
                            at,
                            format!("unknown parameter `{name}`"),
                        )
                        .hint(hint);
                    return false;
                }
            }
            Root::Secrets => {
                if !self.secret_names.iter().any(|s| s == name) {
                    let at = place(self, &format!("secrets.{name}"));
                    let hint = did_you_mean(name, self.secret_names.iter().map(String::as_str))
                        .map_or_else(
                            || format!("declare it under `secrets:`, e.g. `{name}: {{ env: VARIABLE }}`"),
                            |s| format!("did you mean `{s}`?"),
                        );
                    self.d
                        .error(
                            Code::UnknownReference,
                            at,
                            format!("unknown secret `{name}`"),
                        )
                        .hint(hint);
                    return false;
                }
                self.used_secrets.insert(name.to_owned());
            }
            Root::Steps => return self.check_step_reference(r, name, scope, place),
            Root::Run => {
                if !RUN_FIELDS.contains(&name) {
                    let at = place(self, &format!("run.{name}"));
                    let hint = did_you_mean(name, RUN_FIELDS.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("`run` has {}", RUN_FIELDS.join(", ")));
                    self.d
                        .error(
                            Code::UnknownReference,
                            at,
                            format!("`run` has no field `{name}`"),
                        )
                        .hint(hint);
                    return false;
                }
            }
            Root::Notice => {
                if !NOTICE_FIELDS.contains(&name) {
                    let at = place(self, &format!("notice.{name}"));
                    let hint = did_you_mean(name, NOTICE_FIELDS.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("`notice` has {}", NOTICE_FIELDS.join(", ")));
                    self.d
                        .error(
                            Code::UnknownReference,
                            at,
                            format!("`notice` has no field `{name}`"),
                        )
                        .hint(hint);
                    return false;
                }
            }
            Root::Item | Root::Index | Root::Payload => {}
        }
        true
    }

    fn check_step_reference(
        &mut self,
        r: &Reference,
        name: &str,
        scope: &Scope,
        place: &dyn Fn(&Cx<'_>, &str) -> Span,
    ) -> bool {
        let StepsScope::From {
            loc: from,
            include_self,
        } = scope.steps
        else {
            return false;
        };
        let prefix = format!("steps.{name}");
        let Some(graph) = self.graph.as_ref() else {
            return true;
        };
        let Some(&target) = graph.index.get(name) else {
            let at = place(self, &prefix);
            let hint = did_you_mean(name, graph.index.keys().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            self.d
                .error(Code::UnknownReference, at, format!("unknown step `{name}`"))
                .maybe_hint(hint);
            return false;
        };
        if graph.visibility(from, include_self, target) == Visibility::NotUpstream {
            let at = place(self, &prefix);
            let here = graph
                .block(from.block)
                .ids
                .get(from.index)
                .cloned()
                .flatten();
            let (message, hint) = if from.block == target.block {
                let here = here.map_or_else(|| "this step".to_owned(), |id| format!("`{id}`"));
                if from.index == target.index {
                    (
                        format!(
                            "step `{name}` cannot read its own output in `{}`",
                            scope.what
                        ),
                        "a step's own output is available in its `verify` and `compensate`"
                            .to_owned(),
                    )
                } else {
                    (
                        format!(
                            "step `{name}` is not upstream of {here}, so its output may not exist yet"
                        ),
                        format!("add `{name}` to the `needs` of {here}"),
                    )
                }
            } else {
                (
                    format!(
                        "step `{name}` is in `{}`, which runs after `{}`",
                        target.block.as_str(),
                        from.block.as_str()
                    ),
                    "a block can read the steps of the blocks that run before it".to_owned(),
                )
            };
            self.d.error(Code::NotUpstream, at, message).hint(hint);
            return false;
        }
        if let Some(field) = r.path.get(1)
            && !STEP_FIELDS.contains(&field.as_str())
        {
            let at = place(self, &format!("{prefix}.{field}"));
            let hint = did_you_mean(field, STEP_FIELDS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("steps have {}", STEP_FIELDS.join(", ")));
            self.d
                .error(
                    Code::UnknownReference,
                    at,
                    format!("steps have no field `{field}`"),
                )
                .hint(hint);
            return false;
        }
        true
    }
}

fn literal(v: ValueTemplate) -> Option<serde_json::Value> {
    match v {
        ValueTemplate::Literal(v) => Some(v),
        _ => None,
    }
}
