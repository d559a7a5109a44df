//! YAML nodes as seen by the schema checker: a string holding template syntax is
//! *deferred*, its type known only once rendered (and checked again then).

use drctl_core::{SchemaInput, Shape};

use crate::template::has_template_syntax;
use crate::yaml::{Node, Value};

impl SchemaInput for Node {
    fn shape(&self) -> Shape<'_, Self> {
        match &self.value {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Int(i) => Shape::Int(*i),
            Value::Float(f) => Shape::Float(*f),
            Value::Str(s) if has_template_syntax(s) => Shape::Deferred,
            Value::Str(s) => Shape::Str(s),
            Value::Seq(items) => Shape::Seq(items),
            Value::Map(entries) => Shape::Map(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str()?, Some(k), v)))
                    .collect(),
            ),
        }
    }
}
