//! The console's one state: what it shows, what is selected, what is being typed. The
//! screens render it and nothing else; keys and loaded data change it (see `keys`).

use drctl_core::{RunId, StepId, Timestamp};
use drctl_run::event::Verdict;
use drctl_server::api::live::LiveView;
use drctl_server::schedule::view::ScheduleList;
use drctl_server::views::{Gate, RunView};

use crate::runmodel::RunModel;
use crate::source::Act;
use crate::theme::Theme;

/// A screen; the console keeps a stack of them (Esc goes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Runs,
    Run(RunId),
    Step(RunId, StepId),
    Approvals,
    Schedules,
    Help,
}

impl Screen {
    pub fn title(&self) -> String {
        match self {
            Screen::Runs => "Runs".into(),
            Screen::Run(id) => format!("Run {id}"),
            Screen::Step(id, step) => format!("Run {id} › {step}"),
            Screen::Approvals => "Approvals".into(),
            Screen::Schedules => "Schedules".into(),
            Screen::Help => "Keys".into(),
        }
    }
}

/// A box over the screen that takes the keys until it is closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    /// Approve or reject a gate, with a comment.
    Decide {
        run: RunId,
        step: StepId,
        verdict: Verdict,
        comment: String,
        /// Why it cannot be sent (the entitlement or four-eyes check, or the server's
        /// refusal), shown in place.
        refused: Option<String>,
    },
    /// The output a skipped step is to give the steps after it (it took effect), typed
    /// as JSON before the skip is confirmed.
    Output {
        run: RunId,
        step: StepId,
        json: String,
        /// Why the text is not JSON yet.
        invalid: Option<String>,
    },
    /// An action, said in words, sent on `y` (or, when `typed` expects a step id, once
    /// it is typed).
    Confirm {
        says: String,
        act: Act,
        typed: Option<(String, String)>,
    },
}

/// Everything the screens show (see the module doc).
#[derive(Debug)]
pub struct App {
    pub theme: Theme,
    pub read_only: bool,
    /// Who the console acts as.
    pub who: String,
    pub stack: Vec<Screen>,
    pub now: Timestamp,
    pub runs: Vec<RunView>,
    /// The runs list's filter (`/`): words that must all appear in a row.
    pub filter: String,
    pub filtering: bool,
    pub run_sel: usize,
    /// The run the run and step screens show.
    pub run: Option<RunModel>,
    /// What the open step's running attempts printed so far.
    pub live: Vec<LiveView>,
    pub step_sel: usize,
    /// How far the step screen is scrolled.
    pub scroll: usize,
    pub gates: Vec<Gate>,
    pub gate_sel: usize,
    pub schedules: ScheduleList,
    pub popup: Option<Popup>,
    /// The `:` command line, while it is open.
    pub command: Option<String>,
    /// The last thing said to the person: an action's outcome, a load that failed.
    pub status: String,
    pub quit: bool,
}

impl App {
    pub fn new(theme: Theme, read_only: bool, who: String) -> Self {
        Self {
            theme,
            read_only,
            who,
            stack: vec![Screen::Runs],
            now: Timestamp::from_millis(0),
            runs: Vec::new(),
            filter: String::new(),
            filtering: false,
            run_sel: 0,
            run: None,
            live: Vec::new(),
            step_sel: 0,
            scroll: 0,
            gates: Vec::new(),
            gate_sel: 0,
            schedules: ScheduleList::default(),
            popup: None,
            command: None,
            status: String::new(),
            quit: false,
        }
    }

    pub fn screen(&self) -> &Screen {
        self.stack.last().unwrap_or(&Screen::Runs)
    }

    /// The run the current screen is about.
    pub fn open_run(&self) -> Option<&RunId> {
        match self.screen() {
            Screen::Run(id) | Screen::Step(id, _) => Some(id),
            _ => None,
        }
    }

    /// The step the current screen is about, with its run.
    pub fn open_step(&self) -> Option<(&RunId, &StepId)> {
        match self.screen() {
            Screen::Step(id, step) => Some((id, step)),
            _ => None,
        }
    }

    /// Whether the runs list says nobody drives `run` any more (its log alone cannot).
    pub fn interrupted(&self, run: &RunId) -> bool {
        self.runs
            .iter()
            .any(|r| &r.id == run && r.status == drctl_server::views::StatusArg::Interrupted)
    }

    /// A step's status as shown: `running` reads `interrupted` when nobody drives the
    /// run any more (its program is gone; the log cannot say so until a driver returns).
    pub fn step_status(&self, m: &RunModel, step: &StepId) -> &'static str {
        match m.status(step) {
            "running" if self.interrupted(&m.state.id) => "interrupted",
            s => s,
        }
    }

    /// The runs the filter keeps, in list order.
    pub fn shown_runs(&self) -> Vec<&RunView> {
        let words: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.runs
            .iter()
            .filter(|r| {
                let row = format!(
                    "{} {} {} {} {}{}",
                    r.id,
                    r.runbook,
                    r.status,
                    r.trigger,
                    r.actor,
                    if r.drill { " drill" } else { "" }
                )
                .to_lowercase();
                words.iter().all(|w| row.contains(w.as_str()))
            })
            .collect()
    }

    /// The selected step of the open run.
    pub fn selected_step(&self) -> Option<StepId> {
        match self.screen() {
            Screen::Step(_, step) => Some(step.clone()),
            _ => self
                .run
                .as_ref()
                .and_then(|m| m.order().get(self.step_sel))
                .map(|(_, _, id)| id.clone()),
        }
    }

    /// How many steps the open run has.
    pub fn step_count(&self) -> usize {
        self.run.as_ref().map_or(0, |m| m.order().len())
    }
}
