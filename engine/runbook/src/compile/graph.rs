//! Step ids, `needs`, cycles, layers and upstream sets.
//!
//! Steps are addressed by (block, index in file order). Step ids are unique across all three
//! blocks so that `steps.<id>` is never ambiguous; `needs` may only name steps of the same
//! block, because blocks run one after another.

use std::collections::HashMap;

use drctl_core::{StepId, did_you_mean};
use fixedbitset::FixedBitSet;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::Cx;
use crate::diagnostic::Code;
use crate::model::BlockKind;
use crate::raw::RawStep;

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub block: BlockKind,
    pub index: usize,
}

/// The graph of one block.
#[derive(Debug)]
pub(crate) struct BlockGraph {
    /// The valid id of each step, `None` where the id was missing or malformed.
    pub ids: Vec<Option<StepId>>,
    /// Resolved `needs` of each step, deduplicated, in the order written.
    pub needs: Vec<Vec<usize>>,
    /// Execution layers, when the block is acyclic.
    pub layers: Vec<Vec<usize>>,
    /// Each step's layer, `None` when the block has a cycle, in which case "upstream" has
    /// no meaning and is not checked. Whether a step is upstream of another is answered
    /// by a walk of the needs (`is_upstream`), not a table: a table of every pair is
    /// O(steps²) in time and memory (1.25 GB at 100,000 steps).
    pub depth: Option<Vec<usize>>,
}

impl BlockGraph {
    /// Whether step `target` finishes before step `from` starts: reachable from `from`
    /// through `needs`. A step in `target`'s layer or an earlier one cannot lead to it, so
    /// the walk skips those: a reference to the step just before costs one hop.
    fn is_upstream(&self, depth: &[usize], from: usize, target: usize) -> bool {
        let floor = depth[target];
        if depth[from] <= floor {
            return false;
        }
        let mut seen = FixedBitSet::with_capacity(self.needs.len());
        let mut stack = vec![from];
        while let Some(step) = stack.pop() {
            for &need in &self.needs[step] {
                if need == target {
                    return true;
                }
                if depth[need] > floor && !seen.put(need) {
                    stack.push(need);
                }
            }
        }
        false
    }
}

/// All blocks plus the id → location index.
#[derive(Debug)]
pub(crate) struct Graph {
    pub index: HashMap<String, Loc>,
    pub blocks: [BlockGraph; 3],
}

impl Graph {
    pub(crate) fn block(&self, kind: BlockKind) -> &BlockGraph {
        match kind {
            BlockKind::Main => &self.blocks[0],
            BlockKind::OnFailure => &self.blocks[1],
            BlockKind::Finally => &self.blocks[2],
        }
    }
}

/// Whether step `target` may be read from a template of step `from`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Visibility {
    Visible,
    NotUpstream,
}

impl Graph {
    /// Main-block steps are visible from `on_failure` and `finally` (they ran earlier, even
    /// if they did not succeed: templates there should look at `status`); `on_failure` steps
    /// from `finally`. Within a block, only upstream steps are visible, plus the step itself
    /// where `include_self` (its own `verify` and `compensate`).
    pub(crate) fn visibility(&self, from: Loc, include_self: bool, target: Loc) -> Visibility {
        use BlockKind::{Finally, Main, OnFailure};
        if from.block != target.block {
            return match (from.block, target.block) {
                (OnFailure | Finally, Main) | (Finally, OnFailure) => Visibility::Visible,
                _ => Visibility::NotUpstream,
            };
        }
        if include_self && from.index == target.index {
            return Visibility::Visible;
        }
        let block = self.block(from.block);
        match &block.depth {
            None => Visibility::Visible,
            Some(depth) if block.is_upstream(depth, from.index, target.index) => {
                Visibility::Visible
            }
            Some(_) => Visibility::NotUpstream,
        }
    }
}

/// Builds the graph of all three blocks, reporting id, `needs` and cycle problems.
pub(crate) fn build(cx: &mut Cx<'_>, blocks: [(BlockKind, &[RawStep]); 3]) -> Graph {
    let mut index: HashMap<String, Loc> = HashMap::new();
    // Ids first, across all blocks, so that `needs` can tell "unknown" from "in another
    // block" and duplicates across blocks are caught.
    let mut ids = blocks
        .map(|(kind, steps)| {
            steps
                .iter()
                .enumerate()
                .map(|(i, step)| {
                    step_id(
                        cx,
                        step,
                        Loc {
                            block: kind,
                            index: i,
                        },
                        &mut index,
                        blocks,
                    )
                })
                .collect::<Vec<_>>()
        })
        .into_iter();
    let graphs = blocks.map(|(kind, steps)| {
        let ids = ids.next().unwrap_or_default();
        let needs = resolve_needs(cx, kind, steps, &index);
        let (layers, depth) = if find_cycles(cx, steps, &ids, &needs) {
            (Vec::new(), None)
        } else {
            let layers = layers(&needs);
            let depth = depth(needs.len(), &layers);
            (layers, Some(depth))
        };
        BlockGraph {
            ids,
            needs,
            layers,
            depth,
        }
    });
    Graph {
        index,
        blocks: graphs,
    }
}

fn step_id(
    cx: &mut Cx<'_>,
    step: &RawStep,
    loc: Loc,
    index: &mut HashMap<String, Loc>,
    blocks: [(BlockKind, &[RawStep]); 3],
) -> Option<StepId> {
    let raw = step.id.as_ref()?;
    let Some(id) = cx.identifier(raw, StepId::new) else {
        // Still index it, so that `needs` naming it is not reported twice.
        index.entry(raw.value.clone()).or_insert(loc);
        return None;
    };
    if let Some(first) = index.get(id.as_str()) {
        let first_span = blocks
            .iter()
            .find(|(k, _)| *k == first.block)
            .and_then(|(_, steps)| steps.get(first.index))
            .and_then(|s| s.id.as_ref())
            .map(|s| s.span);
        let hint = first_span.map(|s| format!("first defined at line {}; step ids are unique across steps, on_failure and finally", s.line));
        cx.d.error(
            Code::DuplicateStepId,
            raw.span,
            format!("duplicate step id `{id}`"),
        )
        .maybe_hint(hint);
        return None;
    }
    index.insert(id.to_string(), loc);
    Some(id)
}

fn resolve_needs(
    cx: &mut Cx<'_>,
    kind: BlockKind,
    steps: &[RawStep],
    index: &HashMap<String, Loc>,
) -> Vec<Vec<usize>> {
    let same_block: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.id.as_ref().map(|id| id.value.as_str()))
        .collect();
    steps
        .iter()
        .map(|step| {
            let mut resolved = Vec::new();
            for need in &step.needs {
                match index.get(need.value.as_str()) {
                    Some(loc) if loc.block == kind => {
                        if !resolved.contains(&loc.index) {
                            resolved.push(loc.index);
                        }
                    }
                    Some(loc) => {
                        cx.d.error(
                            Code::UnknownNeed,
                            need.span,
                            format!(
                                "`{}` is a step of `{}`; `needs` in `{}` may only name steps of the same block",
                                need.value,
                                loc.block.as_str(),
                                kind.as_str()
                            ),
                        );
                    }
                    None => {
                        let hint = did_you_mean(&need.value, same_block.iter().copied())
                            .map(|s| format!("did you mean `{s}`?"));
                        cx.d.error(Code::UnknownNeed, need.span, format!("unknown step `{}` in `needs`", need.value))
                            .maybe_hint(hint);
                    }
                }
            }
            resolved
        })
        .collect()
}

/// Reports each cycle once, with its whole path. Returns whether there was any.
fn find_cycles(
    cx: &mut Cx<'_>,
    steps: &[RawStep],
    ids: &[Option<StepId>],
    needs: &[Vec<usize>],
) -> bool {
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(steps.len(), steps.len());
    let nodes: Vec<NodeIndex> = (0..steps.len()).map(|_| graph.add_node(())).collect();
    for (step, step_needs) in needs.iter().enumerate() {
        for &need in step_needs {
            graph.add_edge(nodes[step], nodes[need], ());
        }
    }
    let name = |i: usize| {
        ids[i]
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| steps[i].id.as_ref().map(|s| s.value.clone()))
            .unwrap_or_else(|| format!("#{}", i + 1))
    };
    let mut any = false;
    for scc in tarjan_scc(&graph) {
        let members: Vec<usize> = scc.iter().map(|n| n.index()).collect();
        let self_loop = members.len() == 1 && needs[members[0]].contains(&members[0]);
        if members.len() < 2 && !self_loop {
            continue;
        }
        any = true;
        let start = members.iter().copied().min().unwrap_or(0);
        let path = cycle_path(start, &members, needs);
        let text = path
            .iter()
            .map(|&i| name(i))
            .collect::<Vec<_>>()
            .join(" -> ");
        let next = path.get(1).copied().unwrap_or(start);
        let span = steps[start]
            .needs
            .iter()
            .find(|n| n.value == name(next))
            .map_or(steps[start].span, |n| n.span);
        cx.d.error(Code::Cycle, span, format!("dependency cycle: {text}"))
            .hint("each step needs the next one; remove one of these `needs`");
    }
    any
}

/// A path start → ... → start along `needs` inside one strongly connected component.
fn cycle_path(start: usize, members: &[usize], needs: &[Vec<usize>]) -> Vec<usize> {
    // Breadth-first from `start` over needs-edges within the component, until an edge
    // leads back to `start`; then unwind the parents.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for &next in &needs[at] {
            if next == start {
                // Unwind at → ... → start, then turn it around and close the loop.
                let mut path = vec![at];
                let mut cur = at;
                while let Some(&p) = parent.get(&cur) {
                    path.push(p);
                    cur = p;
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if members.contains(&next) && next != start && !parent.contains_key(&next) {
                parent.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    vec![start, start]
}

/// Layer of each step = 1 + deepest layer among its needs (Kahn's algorithm).
fn layers(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = needs.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
    for (step, step_needs) in needs.iter().enumerate() {
        for &need in step_needs {
            dependents[need].push(step);
        }
    }
    let mut layers = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &step in &current {
            for &d in &dependents[step] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    next.push(d);
                }
            }
        }
        next.sort_unstable();
        layers.push(current);
        current = next;
    }
    layers
}

/// Each step's layer number.
fn depth(steps: usize, layers: &[Vec<usize>]) -> Vec<usize> {
    let mut depth = vec![0; steps];
    for (n, layer) in layers.iter().enumerate() {
        for &step in layer {
            depth[step] = n;
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_paths_walk_the_needs() {
        // a needs b, b needs c, c needs a.
        let needs = vec![vec![1], vec![2], vec![0]];
        assert_eq!(cycle_path(0, &[0, 1, 2], &needs), vec![0, 1, 2, 0]);
        let needs = vec![vec![0]];
        assert_eq!(cycle_path(0, &[0], &needs), vec![0, 0]);
        // a needs b and c; c needs a: the cycle is a -> c -> a.
        let needs = vec![vec![1, 2], vec![], vec![0]];
        assert_eq!(cycle_path(0, &[0, 2], &needs), vec![0, 2, 0]);
    }

    #[test]
    fn layers_and_upstream() {
        // 0 <- 1 <- 3, 0 <- 2
        let needs = vec![vec![], vec![0], vec![0], vec![1]];
        let l = layers(&needs);
        assert_eq!(l, vec![vec![0], vec![1, 2], vec![3]]);
        let depth = depth(needs.len(), &l);
        assert_eq!(depth, vec![0, 1, 1, 2]);
        let block = BlockGraph {
            ids: Vec::new(),
            needs,
            layers: l,
            depth: None,
        };
        assert!(block.is_upstream(&depth, 3, 0) && block.is_upstream(&depth, 3, 1));
        assert!(!block.is_upstream(&depth, 3, 2) && !block.is_upstream(&depth, 3, 3));
        assert!(!block.is_upstream(&depth, 0, 3) && !block.is_upstream(&depth, 1, 2));
    }
}
