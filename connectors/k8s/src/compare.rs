//! A patch compared with an object: what it would still change.
//!
//! `k8s.patch` compares twice. Before the patch (run, plan, reconcile), to skip a patch
//! the object holds already: there a mistake would skip a patch that was needed, so
//! anything unsure counts as a change (the patch is then sent again, which is
//! harmless). After the patch (the read-back), to find a patch the server did not keep
//! (a webhook, another controller): there a mistake would fail a patch that landed, so
//! what the API server normalises holds. See [`When`].
//!
//! A map is compared field by field; a null, an empty map or an empty list holds on an
//! absent field (the API server omits empty ones). A strategic merge patch merges the
//! lists the built-in kinds declare with a merge strategy ([`MERGE_LISTS`]) item by
//! item, paired by their merge key; every other list, and every list of a JSON merge
//! patch, is replaced whole, so there the list holds only as the same list (a shorter
//! one, `[]`, another order are changes).

use serde_json::Value;

/// When a patch is compared with the object, which decides how strictly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum When {
    /// Before the patch: a list the patch replaces whole is compared item for item,
    /// field for field (a toleration that loses its `effect` is a change; a field the
    /// API server defaulted inside such an item makes the patch be sent again); scalars
    /// as written.
    Before,
    /// After the patch: a replaced list's items may have fields the server defaulted, an
    /// absent field holds a `false`, `0` or `""` (which the server omits), and a
    /// resource quantity holds in any spelling of its value (`0.5` read back as `500m`).
    After,
}

/// What `patch` would still change in `obj`: (path, what it holds, what the patch says).
pub(crate) fn diff(
    obj: &Value,
    patch: &Value,
    strategic: bool,
    when: When,
) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    differing(obj, patch, "", when, &mut out);
    lists_replaced(obj, patch, "", strategic, when, &mut out);
    out
}

/// The diff as one line: `path: have -> want, ...`.
pub(crate) fn show(diffs: &[(String, Value, Value)]) -> String {
    diffs
        .iter()
        .map(|(p, have, want)| format!("{p}: {have} -> {want}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first key of `patch` that is a strategic merge directive (`$patch`,
/// `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`), by its path.
/// They say how to merge, not what the object holds, so no read-back could check them.
pub(crate) fn directive(patch: &Value, path: &str) -> Option<String> {
    match patch {
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let here = child(path, k);
            if k.starts_with('$') {
                Some(here)
            } else {
                directive(v, &here)
            }
        }),
        Value::Array(items) => items.iter().find_map(|v| directive(v, path)),
        _ => None,
    }
}

/// The fields of `patch` that `obj` does not hold (lists by [`holds`]).
fn differing(
    obj: &Value,
    patch: &Value,
    path: &str,
    when: When,
    out: &mut Vec<(String, Value, Value)>,
) {
    match patch {
        Value::Object(fields) => {
            for (k, want) in fields {
                let here = obj.get(k).cloned().unwrap_or(Value::Null);
                let path = child(path, k);
                if want.is_null() {
                    if !here.is_null() {
                        out.push((path, here, Value::Null));
                    }
                } else if want.is_object() && (here.is_object() || here.is_null()) {
                    // An absent map holds `{}` and any deletion (the API server omits
                    // empty maps), and a field that would be set below it differs.
                    differing(&here, want, &path, when, out);
                } else if here.is_null() && empty_list(want) {
                    // The API server omits an empty list: absent holds `[]`.
                } else if here.is_null() && when == When::After && zero(want) {
                    // It omits a `false`, `0` or `""` too (`spec.paused: false`). Only
                    // after the patch: before it, an absent optional field may mean
                    // something else than its zero value.
                } else if !holds(&here, want, when) {
                    out.push((path, here, want.clone()));
                }
            }
        }
        other if !holds(obj, other, when) => {
            out.push((path.to_owned(), obj.clone(), other.clone()));
        }
        _ => {}
    }
}

/// The lists of the built-in kinds that a strategic merge patch merges, by field name,
/// with the keys that pair their items (`patchMergeKey` in the API's types; `ports` is
/// a container's by `containerPort`, a Service's by `port`). Lists of scalars here
/// (`finalizers`) merge by value.
const MERGE_LISTS: [(&str, &[&str]); 18] = [
    ("containers", &["name"]),
    ("initContainers", &["name"]),
    ("ephemeralContainers", &["name"]),
    ("env", &["name"]),
    ("ports", &["containerPort", "port"]),
    ("volumeMounts", &["mountPath"]),
    ("volumeDevices", &["devicePath"]),
    ("volumes", &["name"]),
    ("imagePullSecrets", &["name"]),
    ("hostAliases", &["ip"]),
    ("topologySpreadConstraints", &["topologyKey"]),
    ("conditions", &["type"]),
    ("ownerReferences", &["uid"]),
    ("schedulingGates", &["name"]),
    ("resourceClaims", &["name"]),
    ("secrets", &["name"]),
    ("finalizers", &[]),
    ("podCIDRs", &[]),
];

/// The lists of `patch` that are replaced whole and that `obj` does not hold as the
/// same list (see [`When`] for their items).
fn lists_replaced(
    obj: &Value,
    patch: &Value,
    path: &str,
    strategic: bool,
    when: When,
    out: &mut Vec<(String, Value, Value)>,
) {
    let Value::Object(fields) = patch else {
        return;
    };
    for (k, want) in fields {
        let here = obj.get(k).cloned().unwrap_or(Value::Null);
        let path = child(path, k);
        let merged = MERGE_LISTS
            .iter()
            .find(|(name, _)| strategic && name == k)
            .map(|(_, keys)| *keys);
        match (want, &here, merged) {
            (Value::Array(w), _, Some(keys)) => {
                for item in w {
                    if let Some(mine) = counterpart(item, &here, keys) {
                        lists_replaced(mine, item, &path, strategic, when, out);
                    } else if when == When::Before
                        && item.is_object()
                        && !keys.is_empty()
                        && !keys.iter().any(|k| item.get(*k).is_some())
                        && !out.iter().any(|(p, _, _)| *p == path)
                    {
                        // An item without its merge key pairs with nothing: before the
                        // patch a change, so that the API server says what is wrong
                        // with it (after it, one the server took holds as a map).
                        out.push((path.clone(), here.clone(), want.clone()));
                    }
                }
            }
            (Value::Array(w), Value::Array(h), None)
                if w.len() == h.len()
                    && w.iter().zip(h).all(|(w, h)| match when {
                        When::Before => same(h, w),
                        When::After => holds(h, w, when),
                    }) => {}
            (Value::Array(w), Value::Null, None) if w.is_empty() => {}
            (Value::Array(_), _, None) if !out.iter().any(|(p, _, _)| *p == path) => {
                out.push((path, here, want.clone()));
            }
            (Value::Object(_), _, _) => {
                lists_replaced(&here, want, &path, strategic, when, out);
            }
            _ => {}
        }
    }
}

/// The item of list `here` that a strategic patch's list item `item` merges into, by
/// the first of `keys` the item has.
fn counterpart<'a>(item: &Value, here: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let key = keys.iter().find(|k| item.get(**k).is_some())?;
    here.as_array()?
        .iter()
        .find(|mine| mine.get(*key).is_some_and(|m| scalar_eq(m, &item[*key])))
}

fn empty_list(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty)
}

/// A value the API server omits from what it stores: `false`, `0`, `""`.
fn zero(v: &Value) -> bool {
    *v == Value::Bool(false) || v.as_f64() == Some(0.0) || v.as_str() == Some("")
}

/// The dotted path of field `k` under `path`.
fn child(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

/// Whether `have` holds `want`: maps field by field, lists item by item (each wanted
/// item held by some item).
fn holds(have: &Value, want: &Value, when: When) -> bool {
    match (have, want) {
        (Value::Object(_), Value::Object(_)) => {
            let mut d = Vec::new();
            differing(have, want, "", when, &mut d);
            d.is_empty()
        }
        (Value::Array(h), Value::Array(w)) => w.iter().all(|x| h.iter().any(|y| holds(y, x, when))),
        (Value::String(a), Value::String(b)) if when == When::After && a != b => quantity(a)
            .zip(quantity(b))
            .is_some_and(|(x, y)| x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())),
        (a, b) => scalar_eq(a, b),
    }
}

/// Whether `have` is what `want` sets, no more and no less: a map has the same fields
/// (an absent one is the same as a null, `{}` or `[]`, which the API server omits), a
/// list the same items in the same order.
fn same(have: &Value, want: &Value) -> bool {
    let blank = |v: Option<&Value>| {
        v.is_none_or(|v| {
            v.is_null() || empty_list(v) || v.as_object().is_some_and(|m| m.is_empty())
        })
    };
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            w.iter().all(|(k, x)| match h.get(k) {
                Some(y) if !blank(Some(x)) => same(y, x),
                y => blank(y) && blank(Some(x)),
            }) && h.iter().all(|(k, y)| w.contains_key(k) || blank(Some(y)))
        }
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(y, x)| same(y, x))
        }
        (a, b) => scalar_eq(a, b),
    }
}

/// Equal scalars, a number however it is written (`1` and `1.0`), whole numbers exactly
/// (two above 2^53 that differ by one are the same `f64`).
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (whole(x), whole(y)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => x.as_f64() == y.as_f64(),
            _ => false,
        },
        (a, b) => a == b,
    }
}

/// A number's value when it is a whole number (`8080`, `8080.0`), exactly.
fn whole(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e38)
                // Exact: a whole f64 below 1e38 fits an i128.
                .map(|f| f as i128)
        })
}

/// The value of a Kubernetes resource quantity (`500m`, `0.5`, `1Gi`, `1e3`, `2k`), or
/// None when `s` is not one.
fn quantity(s: &str) -> Option<f64> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    if !number.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e => {
            let exp = e.strip_prefix(['e', 'E'])?;
            10f64.powi(exp.parse::<i32>().ok()?.clamp(-400, 400))
        }
    };
    Some(n * scale).filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_in_any_spelling() {
        for (a, b) in [
            ("0.5", "500m"),
            ("1Gi", "1024Mi"),
            ("1e3", "1k"),
            ("2", "2000m"),
        ] {
            assert_eq!(
                quantity(a)
                    .zip(quantity(b))
                    .map(|(x, y)| (x - y).abs() < 1e-9),
                Some(true),
                "{a} {b}"
            );
        }
        for bad in ["", "m", "abc", "1x", "1e", "1.2.3", "--1"] {
            assert_eq!(quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn after_the_patch_what_the_server_normalises_holds() {
        let obj = json!({ "spec": { "replicas": 2, "template": { "spec": { "containers": [
            { "name": "a", "resources": { "limits": { "cpu": "500m", "memory": "1Gi" } } }] } } } });
        let patch = json!({ "spec": { "paused": false, "minReadySeconds": 0,
            "template": { "spec": { "containers": [
                { "name": "a", "resources": { "limits": { "cpu": "0.5", "memory": "1024Mi" } } }] } } } });
        assert!(diff(&obj, &patch, true, When::After).is_empty());
        // Before it, each is a change: the patch is sent.
        let before = diff(&obj, &patch, true, When::Before);
        let paths: Vec<&str> = before.iter().map(|(p, _, _)| p.as_str()).collect();
        assert!(paths.contains(&"spec.paused"), "{paths:?}");
        assert!(
            paths.contains(&"spec.template.spec.containers"),
            "{paths:?}"
        );
        // A quantity that is not the same value is not held.
        let less = json!({ "spec": { "template": { "spec": { "containers": [
            { "name": "a", "resources": { "limits": { "cpu": "0.25" } } }] } } } });
        assert_eq!(diff(&obj, &less, true, When::After).len(), 1);
    }

    #[test]
    fn integers_compare_exactly() {
        let big = json!({ "n": 9_007_199_254_740_993_u64 });
        let other = json!({ "n": 9_007_199_254_740_992_u64 });
        assert_eq!(diff(&big, &other, true, When::Before).len(), 1);
        assert!(diff(&json!({ "n": 1 }), &json!({ "n": 1.0 }), true, When::Before).is_empty());
        let float = json!({ "n": 9_007_199_254_740_992.0 });
        assert_eq!(diff(&float, &other, true, When::Before).len(), 0);
        assert_eq!(diff(&float, &big, true, When::Before).len(), 1);
        // A merged list's item without its merge key pairs with nothing: a change.
        let obj = json!({ "containers": [{ "name": "a", "image": "x" }] });
        let keyless = json!({ "containers": [{ "image": "x" }] });
        assert_eq!(diff(&obj, &keyless, true, When::Before).len(), 1);
        // A merged list's items pair by a key written either way.
        let obj = json!({ "ports": [{ "containerPort": 8080, "args": ["a", "b"] }] });
        let patch = json!({ "ports": [{ "containerPort": 8080.0, "args": ["a"] }] });
        let d = diff(&obj, &patch, true, When::Before);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "ports.args");
    }

    #[test]
    fn directives_are_found_wherever_they_are() {
        assert_eq!(directive(&json!({ "a": { "b": 1 } }), ""), None);
        assert_eq!(
            directive(
                &json!({ "spec": { "env": [{ "name": "X", "$patch": "delete" }] } }),
                ""
            ),
            Some("spec.env.$patch".to_owned())
        );
        assert_eq!(
            directive(
                &json!({ "spec": { "strategy": { "$retainKeys": ["type"] } } }),
                ""
            ),
            Some("spec.strategy.$retainKeys".to_owned())
        );
    }
}
