//! The plan as text for a terminal.

use std::fmt::Write;

use super::{Condition, Live, Plan, PlanAction, PlanStep, PlanText, PlanValue};
use crate::params::Origin;

/// Renders a plan for people. Values known only at run time are shown as their template
/// with `(at run time)`.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let short = plan.digest.get(..19).unwrap_or(&plan.digest);
    let _ = writeln!(out, "Plan for {} ({}, {short}…)", plan.runbook, plan.source);
    if !plan.params.is_empty() {
        out.push_str("\nParams\n");
        let width = plan.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &plan.params {
            let origin = if p.origin == Origin::Default {
                "  (default)"
            } else {
                ""
            };
            let _ = writeln!(out, "  {:<width$} = {}{origin}", p.name, p.value);
        }
    }
    let mut facts = Vec::new();
    if let Some(lock) = &plan.lock {
        facts.push(format!("lock {}", text(lock)));
    }
    if let Some(t) = &plan.timeout {
        facts.push(format!("timeout {t}"));
    }
    if let Some(r) = &plan.rto {
        facts.push(format!("RTO objective {r}"));
    }
    if let Some(r) = &plan.rpo {
        facts.push(format!("RPO objective {r}"));
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "\n{}", facts.join(" · "));
    }
    for block in &plan.blocks {
        let _ = writeln!(out, "\n{}", block.block.as_str());
        for (n, layer) in block.layers.iter().enumerate() {
            for (k, step) in layer.iter().enumerate() {
                let number = if k == 0 {
                    format!("{:>3}", n + 1)
                } else {
                    "   ".to_owned()
                };
                render_step(&mut out, &number, step);
            }
        }
    }
    if !plan.notify.is_empty() {
        out.push_str("\nnotify\n");
        for n in &plan.notify {
            let required = if n.required { " (required)" } else { "" };
            let _ = writeln!(out, "  {} → {}{required}", n.on.join(", "), n.action);
        }
    }
    if !plan.problems.is_empty() {
        out.push_str("\nProblems: the run would fail on these\n");
        for p in &plan.problems {
            let _ = writeln!(out, "  error: {p}");
        }
    }
    out
}

fn render_step(out: &mut String, number: &str, s: &PlanStep) {
    let mut head = format!("{number}  {}  {}", s.id, s.does);
    if s.idempotent == Some(false) {
        head.push_str("  [not idempotent]");
    }
    if !s.needs.is_empty() {
        let _ = write!(head, "  <- {}", s.needs.join(", "));
    }
    let _ = writeln!(out, "{head}");
    let pad = "       ";
    if let Some(name) = &s.name {
        let _ = writeln!(out, "{pad}\"{name}\"");
    }
    match &s.condition {
        Condition::Always => {}
        Condition::Runs { when } => {
            let _ = writeln!(out, "{pad}when {when}: true, runs");
        }
        Condition::Skipped { when } => {
            let _ = writeln!(out, "{pad}when {when}: false, SKIPPED");
        }
        Condition::AtRunTime { when } => {
            let _ = writeln!(out, "{pad}when {when}: decided at run time");
        }
    }
    for note in &s.notes {
        let _ = writeln!(out, "{pad}{note}");
    }
    if let Some(a) = &s.approval {
        if let Some(m) = &a.message {
            let _ = writeln!(out, "{pad}message: {}", text(m));
        }
        let mut who = format!(
            "{pad}approvers: {} (at least {}",
            a.approvers.join(", "),
            a.min
        );
        if a.distinct_groups {
            who.push_str(", from distinct groups");
        }
        if a.allow_self_approval {
            who.push_str(", self-approval allowed");
        }
        who.push(')');
        let _ = writeln!(out, "{who}");
        if let Some(t) = &a.timeout {
            let _ = writeln!(out, "{pad}timeout {t}, then {}", a.on_timeout);
        }
        for (i, level) in a.escalate.iter().enumerate() {
            let _ = writeln!(out, "{pad}escalation {}: {}", i + 1, level.join(", "));
        }
    }
    if let Some(c) = &s.call {
        let _ = writeln!(out, "{pad}sub-run of {}", c.runbook);
        for (k, v) in &c.params {
            value(out, &format!("{pad}  {k}: "), v, 9);
        }
    }
    if let Some(with) = &s.with {
        if let Some(items) = &s.items_at_run_time {
            let _ = writeln!(
                out,
                "{pad}for each item of {items} (at run time){}",
                parallel(s)
            );
        }
        fields(out, with, 7);
    }
    if let Some(l) = &s.live {
        live(out, l, 7);
    }
    if let Some(items) = &s.items {
        let _ = writeln!(out, "{pad}for each of {} items{}", items.len(), parallel(s));
        for item in items {
            let mut label = String::new();
            value_inline(&mut label, &item.item);
            let _ = writeln!(out, "{pad}[{}] item = {label}", item.index);
            if let Some(with) = &item.with {
                fields(out, with, 11);
            }
            if let Some(l) = &item.live {
                live(out, l, 11);
            }
        }
    }
    if let Some(v) = &s.verify {
        action(out, "verify", v);
    }
    if let Some(c) = &s.compensate {
        action(out, "compensate", c);
    }
}

/// What `--live` found, on one line.
fn live(out: &mut String, l: &Live, indent: usize) {
    let line = match l {
        Live::Preview(p) => format!("{}: {}", p.outlook.as_str(), p.summary),
        Live::Error {
            error,
            permanent: true,
        } => format!("would fail: {error}"),
        Live::Error { error, .. } => format!("cannot read now: {error}"),
        Live::NotAsked { why } => format!("not asked: {why}"),
    };
    let _ = writeln!(out, "{:indent$}live: {line}", "");
}

fn parallel(s: &PlanStep) -> String {
    match s.max_parallel {
        Some(1) => ", one at a time".to_owned(),
        Some(n) => format!(", {n} at a time"),
        None => String::new(),
    }
}

fn action(out: &mut String, what: &str, a: &PlanAction) {
    let soak = a
        .soak
        .as_ref()
        .map(|s| {
            let every = a.every.as_deref().unwrap_or("?");
            format!(", holding for {s} (checked every {every})")
        })
        .unwrap_or_default();
    let _ = writeln!(out, "       {what}: {}{soak}", a.action);
    fields(out, &a.with, 9);
}

fn text(t: &PlanText) -> String {
    match t {
        PlanText::Rendered(s) => s.trim().to_owned(),
        PlanText::AtRunTime { at_run_time } => format!("{} (at run time)", at_run_time.trim()),
    }
}

/// A map's fields one per line; other values on one line.
fn fields(out: &mut String, v: &PlanValue, indent: usize) {
    match v {
        PlanValue::Map(map) => {
            for (k, v) in map {
                value(out, &format!("{:indent$}{k}: ", ""), v, indent + 2);
            }
        }
        other => value(out, &" ".repeat(indent), other, indent + 2),
    }
}

fn value(out: &mut String, prefix: &str, v: &PlanValue, indent: usize) {
    match v {
        PlanValue::Map(map) if !map.is_empty() && !is_small(v) => {
            let _ = writeln!(out, "{}", prefix.trim_end());
            fields(out, v, indent);
        }
        _ => {
            let mut line = String::new();
            value_inline(&mut line, v);
            let _ = writeln!(out, "{prefix}{line}");
        }
    }
}

fn is_small(v: &PlanValue) -> bool {
    let mut s = String::new();
    value_inline(&mut s, v);
    s.len() <= 60
}

fn value_inline(out: &mut String, v: &PlanValue) {
    match v {
        PlanValue::Value(serde_json::Value::String(s)) if !s.is_empty() && !s.contains('\n') => {
            out.push_str(s)
        }
        PlanValue::Value(j) => out.push_str(&j.to_string()),
        PlanValue::AtRunTime { at_run_time } => {
            let _ = write!(out, "{} (at run time)", at_run_time.trim());
        }
        PlanValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                value_inline(out, item);
            }
            out.push(']');
        }
        PlanValue::Map(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{k}: ");
                value_inline(out, item);
            }
            out.push('}');
        }
    }
}
