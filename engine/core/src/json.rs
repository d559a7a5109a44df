//! Limits on JSON that people hand drctl (params, an operator's `--output`): every value
//! is stored inside an event, and an event must always be readable back (serde_json
//! stops at 128 levels), so a value may nest at most [`MAX_DEPTH`] levels.

use serde_json::Value;

/// The deepest nesting accepted in a value given by a person.
pub const MAX_DEPTH: usize = 32;

/// How deeply `value` nests: 0 for a scalar, 1 for `[1]`, 2 for `[[1]]`.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_levels() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([1, {"a": [2]}])), 3);
    }
}
