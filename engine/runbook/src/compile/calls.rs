//! `call:` steps: another runbook as a sub-run. The callee is found and compiled through a
//! [`CallResolver`], which keeps the compiler free of IO; the filesystem one lives in
//! [`crate::fs`].

use drctl_core::{ParamName, did_you_mean};
use indexmap::IndexMap;

use super::Cx;
use super::header::typed_literal;
use super::templates::Scope;
use crate::diagnostic::Code;
use crate::model::{ParamSpec, SubRunbook};
use crate::raw::RawCall;
use crate::template::ValueTemplate;

/// Finds the runbook a `call:` names and tells its parameters.
pub trait CallResolver {
    /// `target` as written in the runbook `caller` (a source name). Returns the callee's
    /// params, or a message saying why it cannot be used.
    fn resolve(&self, caller: &str, target: &str)
    -> Result<IndexMap<ParamName, ParamSpec>, String>;
}

/// For compiling without a filesystem: every call is reported as unresolvable.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCalls;

impl CallResolver for NoCalls {
    fn resolve(
        &self,
        _caller: &str,
        target: &str,
    ) -> Result<IndexMap<ParamName, ParamSpec>, String> {
        Err(format!(
            "cannot look up `{target}` here: runbook calls need the runbook's folder"
        ))
    }
}

pub(crate) fn compile(cx: &mut Cx<'_>, c: &RawCall, scope: Scope) -> Option<SubRunbook> {
    let target = c.runbook.as_ref()?;
    let callee = match cx.calls.resolve(&cx.source.name, &target.value) {
        Ok(params) => Some(params),
        Err(message) => {
            cx.d.error(Code::CallTarget, target.span, message);
            None
        }
    };
    let mut params = IndexMap::new();
    for (name, node) in &c.params {
        let value = cx.value(node, &scope);
        let Some(callee) = &callee else { continue };
        let Some((param_name, spec)) = callee.get_key_value(name.value.as_str()) else {
            let hint = did_you_mean(&name.value, callee.keys().map(|k| k.as_str()))
                .map(|s| format!("did you mean `{s}`?"));
            cx.d.error(
                Code::UnknownReference,
                name.span,
                format!("`{}` has no parameter `{}`", target.value, name.value),
            )
            .maybe_hint(hint);
            continue;
        };
        if let ValueTemplate::Literal(_) = &value
            && let Some(v) = typed_literal(cx, node, spec.ty, "this parameter")
            && let Some(allowed) = &spec.allowed
            && !allowed.contains(&v)
        {
            cx.d.error(
                Code::InvalidValue,
                node.span,
                format!("{v} is not an allowed value of `{}`", name.value),
            );
        }
        params.insert(param_name.clone(), value);
    }
    if let Some(callee) = &callee {
        for (name, spec) in callee {
            if spec.required && !params.contains_key(name) {
                cx.d.error(
                    Code::MissingField,
                    c.span,
                    format!("`{}` requires parameter `{name}`", target.value),
                );
            }
        }
    }
    callee?;
    Some(SubRunbook {
        runbook: target.value.clone(),
        params,
    })
}
