//! `drctl graph`: a runbook's DAG as Graphviz dot, Mermaid, or text.

use std::fmt::Write;

use crate::model::{Block, BlockKind, Runbook, Step, StepKind};

/// Graphviz dot. Approvals are diamonds, sub-runs are boxes with double sides, and the
/// `on_failure` / `finally` blocks are clusters below the main block.
pub fn to_dot(rb: &Runbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(rb.name.as_str()));
    out.push_str("  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for block in rb.blocks() {
        if block.is_empty() {
            continue;
        }
        let indent = if block.kind == BlockKind::Main {
            "  "
        } else {
            let _ = writeln!(
                out,
                "  subgraph cluster_{} {{\n    label={};\n    style=dashed;",
                block.kind.as_str(),
                quote(block.kind.as_str())
            );
            "    "
        };
        for step in &block.steps {
            let shape = match step.kind {
                StepKind::Action(_) => "box",
                StepKind::Approval(_) => "diamond",
                StepKind::Call(_) => "box3d",
            };
            let label = format!("{}\n{}", step.id, step.kind_label());
            let _ = writeln!(
                out,
                "{indent}{} [label={}, shape={shape}];",
                quote(step.id.as_str()),
                quote(&label)
            );
        }
        for step in &block.steps {
            for need in &step.needs {
                let _ = writeln!(
                    out,
                    "{indent}{} -> {};",
                    quote(need.as_str()),
                    quote(step.id.as_str())
                );
            }
        }
        if block.kind != BlockKind::Main {
            out.push_str("  }\n");
        }
    }
    out.push_str("}\n");
    out
}

fn quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

/// A Mermaid flowchart.
pub fn to_mermaid(rb: &Runbook) -> String {
    let mut out = String::from("flowchart TD\n");
    for block in rb.blocks() {
        if block.is_empty() {
            continue;
        }
        let nested = block.kind != BlockKind::Main;
        if nested {
            let _ = writeln!(out, "  subgraph {}", block.kind.as_str());
        }
        for step in &block.steps {
            let label = format!("{}<br/>{}", step.id, mermaid_escape(&step.kind_label()));
            let node = match step.kind {
                StepKind::Action(_) => format!("{}[\"{label}\"]", step.id),
                StepKind::Approval(_) => format!("{}{{\"{label}\"}}", step.id),
                StepKind::Call(_) => format!("{}[[\"{label}\"]]", step.id),
            };
            let _ = writeln!(out, "  {node}");
        }
        for step in &block.steps {
            for need in &step.needs {
                let _ = writeln!(out, "  {need} --> {}", step.id);
            }
        }
        if nested {
            out.push_str("  end\n");
        }
    }
    out
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// The layers as text: one line per step, with what it needs.
pub fn to_text(rb: &Runbook) -> String {
    let mut out = String::new();
    let steps: usize = rb.blocks().iter().map(|b| b.steps.len()).sum();
    let _ = writeln!(out, "{}: {steps} steps", rb.name);
    for block in rb.blocks() {
        if block.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}:", block.kind.as_str());
        text_block(&mut out, block);
    }
    out
}

fn text_block(out: &mut String, block: &Block) {
    let width = block
        .steps
        .iter()
        .map(|s| s.id.as_str().len())
        .max()
        .unwrap_or(0);
    for (n, layer) in block.layers.iter().enumerate() {
        for (k, &i) in layer.iter().enumerate() {
            let Some(step) = block.steps.get(i) else {
                continue;
            };
            let number = if k == 0 {
                format!("{:>3}", n + 1)
            } else {
                "   ".to_owned()
            };
            let _ = writeln!(
                out,
                "{number}  {:<width$}  {}{}",
                step.id.as_str(),
                step.kind_label(),
                needs(step)
            );
        }
    }
}

fn needs(step: &Step) -> String {
    if step.needs.is_empty() {
        String::new()
    } else {
        format!(
            "  <- {}",
            step.needs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
