//! The indexes `apply` keeps beside the state so that `decide`, `next_wake` and the
//! stage checks look only at the steps that can act, not at every step of the run.
//!
//! Without them every event walked all steps (to sum items up, to find ready steps, to
//! count attempts in flight), so a run of n steps cost O(n²). Now `apply` refreshes the
//! one step an event is about and moves it between the sets below, and the steps that
//! need it when it settles; `decide` reads the sets. The sets are derived data: a full
//! rebuild (`RunState::reindex`) gives the same result, which debug builds check after
//! every event.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use drctl_runbook::Runbook;
use drctl_runbook::model::{BlockKind, Mark, Step, StepKind};

use crate::state::{Compensation, ItemState, ItemStatus, StepState, StepStatus};

/// What does not change during a run: where each step is defined and who needs whom.
#[derive(Debug)]
pub(crate) struct Shape {
    /// For each step position (the order of `RunState::steps`): its block's index in
    /// `Runbook::blocks()` and its index in that block.
    defs: Vec<(usize, usize)>,
    /// The positions each step's `needs` name.
    needs: Vec<Vec<usize>>,
    /// The positions of the steps that need each step.
    dependents: Vec<Vec<usize>>,
    /// The positions of each block's steps, blocks in `Runbook::blocks()` order.
    blocks: [Range<usize>; 3],
    /// The marked steps (approval steps never measure anything), with their mark: the
    /// RTO clock is read on every append, and must not walk every step to find them.
    marks: Vec<(Mark, usize)>,
}

impl Shape {
    pub(crate) fn new(runbook: &Runbook) -> Self {
        let mut defs = Vec::new();
        let mut blocks = [0..0, 0..0, 0..0];
        for (b, block) in runbook.blocks().into_iter().enumerate() {
            let start = defs.len();
            defs.extend((0..block.steps.len()).map(|i| (b, i)));
            blocks[b] = start..defs.len();
        }
        let position = |b: usize, id: &str| {
            let block = runbook.blocks()[b];
            block.position(id).map(|i| blocks[b].start + i)
        };
        let mut needs = Vec::with_capacity(defs.len());
        let mut dependents = vec![Vec::new(); defs.len()];
        let mut marks = Vec::new();
        for (p, &(b, i)) in defs.iter().enumerate() {
            let step = &runbook.blocks()[b].steps[i];
            if !matches!(step.kind, StepKind::Approval(_)) {
                marks.extend(step.marks.iter().map(|m| (*m, p)));
            }
            let mine: Vec<usize> = step
                .needs
                .iter()
                .filter_map(|n| position(b, n.as_str()))
                .collect();
            for &n in &mine {
                dependents[n].push(p);
            }
            needs.push(mine);
        }
        Self {
            defs,
            needs,
            dependents,
            blocks,
            marks,
        }
    }

    /// The positions of the steps marked `mark`, in file order.
    pub(crate) fn marked(&self, mark: Mark) -> impl Iterator<Item = usize> + '_ {
        self.marks
            .iter()
            .filter(move |(m, _)| *m == mark)
            .map(|(_, p)| *p)
    }

    pub(crate) fn def<'r>(&self, runbook: &'r Runbook, position: usize) -> &'r Step {
        let (b, i) = self.defs[position];
        &runbook.blocks()[b].steps[i]
    }

    pub(crate) fn block_range(&self, block: BlockKind) -> Range<usize> {
        self.blocks[block_index(block)].clone()
    }

    pub(crate) fn needs(&self, position: usize) -> &[usize] {
        &self.needs[position]
    }

    pub(crate) fn len(&self) -> usize {
        self.defs.len()
    }
}

fn block_index(block: BlockKind) -> usize {
    match block {
        BlockKind::Main => 0,
        BlockKind::OnFailure => 1,
        BlockKind::Finally => 2,
    }
}

/// The sets, by step position. Kept by `apply`; read by `decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    /// How many of each step's `needs` are not settled (succeeded, failed or skipped).
    pub unsettled: Vec<usize>,
    /// Steps not settled yet.
    pub open: BTreeSet<usize>,
    /// Steps with an item started and not finished.
    pub active: BTreeSet<usize>,
    /// Steps not started whose `needs` are all settled: they may start now.
    pub ready: BTreeSet<usize>,
    /// Ready steps that act without taking a slot (a `when`, an approval, items to
    /// expand, an operator's skip, a need that failed), so `decide` visits them even when
    /// every slot is taken; the other ready steps wait for a slot, first come first.
    pub gated: BTreeSet<usize>,
    /// Steps with an attempt in flight or interrupted (compensations included).
    pub busy: BTreeSet<usize>,
}

impl Index {
    pub(crate) fn empty(len: usize) -> Self {
        Self {
            unsettled: vec![0; len],
            open: BTreeSet::new(),
            active: BTreeSet::new(),
            ready: BTreeSet::new(),
            gated: BTreeSet::new(),
            busy: BTreeSet::new(),
        }
    }
}

/// Puts `x` in `set` or takes it out.
pub(crate) fn put(set: &mut BTreeSet<usize>, x: usize, member: bool) {
    if member {
        set.insert(x);
    } else {
        set.remove(&x);
    }
}

/// An attempt is out in the world, or was when the run was interrupted.
pub(crate) fn busy(st: &StepState) -> bool {
    st.items.iter().any(|i| i.in_flight() || interrupted(i))
}

pub(crate) fn interrupted(i: &ItemState) -> bool {
    matches!(i.status, ItemStatus::Interrupted { .. })
        || matches!(i.compensation, Compensation::Interrupted { .. })
}

/// Whether a ready step acts without a free slot (see [`Index::gated`]).
pub(crate) fn gated(def: &Step, st: &StepState, a_need_failed: bool) -> bool {
    def.when.is_some()
        || matches!(def.kind, StepKind::Approval(_))
        || (def.for_each.is_some() && !st.expanded)
        || st.skip_order.is_some()
        || a_need_failed
}

/// A step's status, summed up from its items.
pub(crate) fn summed(st: &StepState) -> StepStatus {
    if matches!(st.status, StepStatus::Skipped { .. }) || !st.expanded {
        return st.status.clone();
    }
    let failed = st.items.iter().find_map(|i| match &i.status {
        ItemStatus::Failed { error } => Some(error.clone()),
        _ => None,
    });
    let started = st
        .items
        .iter()
        .any(|i| i.attempts > 0 || i.is_terminal() || i.in_flight());
    if let Some(reason) = failed {
        StepStatus::Failed { reason }
    } else if !st.items.is_empty()
        && st
            .items
            .iter()
            .all(|i| matches!(i.status, ItemStatus::Skipped { .. }))
    {
        let reason = match &st.items[0].status {
            ItemStatus::Skipped { reason } => reason.clone(),
            _ => String::new(),
        };
        StepStatus::Skipped { reason }
    } else if st.items.iter().all(ItemState::is_terminal) {
        StepStatus::Succeeded
    } else if started || st.status == StepStatus::Active {
        StepStatus::Active
    } else {
        StepStatus::Pending
    }
}

/// Keeps `Arc<Shape>` cheap to clone with the state.
pub(crate) type SharedShape = Arc<Shape>;

impl crate::RunState {
    /// Sums up the step at `position` after an event about it, and moves it between the
    /// sets; when it settles (or an operator's retry unsettles it), so may the steps that
    /// need it.
    pub(crate) fn refresh(&mut self, position: usize) {
        let Some((_, st)) = self.steps.get_index_mut(position) else {
            return;
        };
        // From the sets, not from `st.status`: `apply` may have set that already.
        let was_settled = !self.index.open.contains(&position);
        st.status = summed(st);
        let settled = st.status.is_terminal();
        if settled != was_settled {
            let shape = self.shape.clone();
            for &d in &shape.dependents[position] {
                let n = &mut self.index.unsettled[d];
                *n = if settled { n.saturating_sub(1) } else { *n + 1 };
                self.classify(d);
            }
        }
        self.classify(position);
    }

    /// Sums up every step and rebuilds the sets: at creation, after a cancel (which
    /// touches every step) and when a block is abandoned.
    pub(crate) fn reindex(&mut self) {
        for st in self.steps.values_mut() {
            st.status = summed(st);
        }
        let mut index = Index::empty(self.shape.len());
        for (p, n) in index.unsettled.iter_mut().enumerate() {
            *n = self
                .shape
                .needs(p)
                .iter()
                .filter(|&&need| !self.steps[need].status.is_terminal())
                .count();
        }
        self.index = index;
        for p in 0..self.shape.len() {
            self.classify(p);
        }
    }

    /// Puts one step in the sets it belongs to, given its status and `unsettled`.
    fn classify(&mut self, p: usize) {
        let st = &self.steps[p];
        let def = self.shape.def(&self.runbook, p);
        let ready = st.status == StepStatus::Pending && self.index.unsettled[p] == 0;
        let need_failed = ready
            && self
                .shape
                .needs(p)
                .iter()
                .any(|&n| matches!(self.steps[n].status, StepStatus::Failed { .. }));
        let is_gated = ready && gated(def, st, need_failed);
        let (open, active, is_busy) = (
            !st.status.is_terminal(),
            st.status == StepStatus::Active,
            busy(st),
        );
        let index = &mut self.index;
        put(&mut index.open, p, open);
        put(&mut index.active, p, active);
        put(&mut index.ready, p, ready);
        put(&mut index.gated, p, is_gated);
        put(&mut index.busy, p, is_busy);
    }

    /// Debug builds: the kept sets equal a rebuild from scratch. O(steps) per event, so
    /// only for runs small enough that tests stay fast.
    pub(crate) fn check_index(&self) {
        if cfg!(debug_assertions) && self.steps.len() <= 2_000 {
            let mut fresh = self.clone();
            fresh.reindex();
            assert_eq!(fresh.steps, self.steps, "a step's status was not refreshed");
            assert_eq!(
                fresh.index, self.index,
                "the kept index differs from a rebuild"
            );
        }
    }

    /// Steps with an item started and not finished, in file order: the only ones that
    /// can hold a timer, an approval or an attempt in flight.
    pub fn active_steps(&self) -> impl Iterator<Item = (&drctl_core::StepId, &StepState)> + '_ {
        self.index
            .active
            .iter()
            .filter_map(|&p| self.steps.get_index(p))
    }

    /// Steps with an attempt in flight or interrupted, compensations included.
    pub(crate) fn busy_steps(&self) -> impl Iterator<Item = (usize, &StepState)> + '_ {
        self.index
            .busy
            .iter()
            .filter_map(|&p| self.steps.get_index(p).map(|(_, st)| (p, st)))
    }
}
