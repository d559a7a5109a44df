//! Names that go into an API path, checked before any call: a `/`, `?`, `#` or `%` would
//! move the call to another object, a subresource or another query, and `.` or `..` to
//! another collection.

use drctl_connectors::input::str_of;
use drctl_core::ActionError;
use serde_json::Value;

/// An object's (or a node's) name: up to 253 of the characters Kubernetes names use
/// (letters, digits, `-`, `.`, `_`, and `:` as in RBAC's `system:` names).
pub(crate) fn object<'a>(input: &'a Value, key: &str) -> Result<&'a str, ActionError> {
    let name = str_of(input, key)?;
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().any(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if ok {
        Ok(name)
    } else {
        Err(ActionError::Permanent(format!(
            "{key} {name:?} is not a Kubernetes name (letters, digits, '-', '.', '_', ':')"
        )))
    }
}

/// A namespace: a DNS label (lowercase letters, digits and `-`, at most 63).
pub(crate) fn namespace<'a>(input: &'a Value, key: &str) -> Result<&'a str, ActionError> {
    label(str_of(input, key)?, key)
}

/// A resource's plural (`deployments`) or a namespace: a DNS label.
pub(crate) fn label<'a>(name: &'a str, key: &str) -> Result<&'a str, ActionError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(name)
    } else {
        Err(ActionError::Permanent(format!(
            "{key} {name:?} is not a DNS label (lowercase letters, digits and '-')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_would_move_the_call_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "ingest/status",
            "api#x",
            "api?dryRun=All",
            "a%2Fb",
            "a b",
        ] {
            assert!(object(&json!({ "name": bad }), "name").is_err(), "{bad:?}");
        }
        for good in [
            "api",
            "app-config.v2",
            "system:controller:x",
            "ip-10-0-1-2.ec2.internal",
        ] {
            assert!(object(&json!({ "name": good }), "name").is_ok(), "{good}");
        }
        for bad in ["", "Prod", "a.b", "-x", "..", "a/b"] {
            assert!(namespace(&json!({ "ns": bad }), "ns").is_err(), "{bad:?}");
        }
        assert!(namespace(&json!({ "ns": "prod-2" }), "ns").is_ok());
    }
}
