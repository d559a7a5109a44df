//! `log` and `assert`: no system to drive, but real steps: they show in the log and can
//! fail a run.

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec};
use serde_json::{Value, json};

pub(crate) struct Log {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Log {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let level = input.get("level").and_then(Value::as_str).unwrap_or("info");
        Ok(json!({ "level": level, "message": input["message"] }))
    }
}

pub(crate) struct Assert {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Assert {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let that = &input["that"];
        if truthy(that) {
            Ok(json!({ "ok": true }))
        } else {
            let message = input.get("message").and_then(Value::as_str).map_or_else(
                || format!("assertion failed: `that` is {that}"),
                str::to_owned,
            );
            Err(ActionError::Permanent(message))
        }
    }
}

/// Jinja's truthiness, plus the texts `false` and `0` (a `"{{ ... }}"` inside a longer
/// string renders to text).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !matches!(s.trim(), "" | "false" | "False" | "0"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
