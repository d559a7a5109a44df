//! A shorthand for declaring specs.

use drctl_core::{ActionName, ActionSpec, ObjectSchema, Reconcile};

/// Builds a spec. Names are literals in this crate, checked by the registry test.
pub(crate) fn spec(
    name: &str,
    summary: &str,
    idempotent: bool,
    reconcile: Reconcile,
    params: ObjectSchema,
) -> ActionSpec {
    ActionSpec {
        name: ActionName::new(name).unwrap_or_else(|e| panic!("builtin action name: {e}")),
        summary: summary.to_owned(),
        idempotent,
        reconcile,
        params,
        records_inputs: false,
        outputs: String::new(),
        errors: String::new(),
    }
}
