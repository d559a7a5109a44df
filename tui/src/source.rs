//! Where the console's data comes from, and where its actions go: one trait, two
//! implementations with the same answers. [`Local`] calls the library functions the CLI
//! uses on a database (runs driven by other processes show up as the store's event feed
//! moves); [`Remote`] calls `drctl serve`'s API and follows its server-sent events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drctl_connectors::Registry;
use drctl_core::{Actor, Clock as _, RunId, StepId};
use drctl_engine::{Engine, OperatorCommand};
use drctl_run::event::{Decision, Verdict};
use drctl_run::{Event, RunState};
use drctl_server::api::live::LiveView;
use drctl_server::client::Client;
use drctl_server::ops::approvals::{decision, may_decide};
use drctl_server::ops::deliver::{Delivered, WAIT, deliver};
use drctl_server::ops::runs::RunQuery;
use drctl_server::schedule::view::ScheduleList;
use drctl_server::views::{Gate, RunView};
use drctl_store::Store;
use futures_util::StreamExt as _;
use tokio::sync::{Mutex, Notify};

/// How many runs the list shows.
pub const RUNS: usize = 500;

/// The runs the console lists: the newest, sub-runs too.
fn listed() -> RunQuery {
    RunQuery {
        all: true,
        limit: RUNS,
        ..RunQuery::default()
    }
}

/// What the console asks of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Decide {
        run: RunId,
        step: StepId,
        verdict: Verdict,
        comment: String,
    },
    Cancel {
        run: RunId,
        reason: String,
    },
    Resume {
        run: RunId,
    },
    Step {
        run: RunId,
        step: StepId,
        item: Option<u32>,
        decision: Decision,
        output: Option<serde_json::Value>,
    },
}

impl Act {
    pub fn run(&self) -> &RunId {
        match self {
            Act::Decide { run, .. }
            | Act::Cancel { run, .. }
            | Act::Resume { run }
            | Act::Step { run, .. } => run,
        }
    }
}

/// The console's data and actions (see the module doc). Errors are for people: one line.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// Who the console acts as, for its title.
    fn identity(&self) -> String;
    /// The newest runs (sub-runs too).
    async fn runs(&self) -> Result<Vec<RunView>, String>;
    /// A run's events, in order.
    async fn events(&self, run: &RunId) -> Result<Vec<Event>, String>;
    /// Every gate waiting, and whether this console's identity may decide it.
    async fn gates(&self) -> Result<Vec<Gate>, String>;
    /// The schedules and drill obligations, when there is a runbooks folder.
    async fn schedules(&self) -> Result<ScheduleList, String>;
    /// What a step's running attempts printed so far.
    async fn live(&self, run: &RunId, step: &StepId) -> Result<Vec<LiveView>, String>;
    /// Sends an action; what became of it, for the status line.
    async fn act(&self, act: &Act) -> Result<String, String>;
    /// Returns when something may have changed (an event was stored anywhere), or after
    /// `max`.
    async fn changed(&self, max: Duration);
}

/// The local database, through the library functions the CLI uses.
pub struct Local {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    pub me: Actor,
    pub groups: Vec<String>,
    pub runbooks: Option<PathBuf>,
    /// The store's event feed, as far as the console has seen it.
    pub cursor: Mutex<Option<u64>>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("me", &self.me)
            .field("runbooks", &self.runbooks)
            .finish_non_exhaustive()
    }
}

fn said(d: &Delivered) -> Result<String, String> {
    match d {
        Delivered::Applied => Ok("applied by the run's driver".into()),
        Delivered::Refused(why) => Err(format!("refused: {why}")),
        Delivered::Stored { driver: Some(d) } => Ok(format!("stored; {d} has not taken it yet")),
        Delivered::Stored { driver: None } => {
            Ok("stored; nobody drives the run now: its next driver applies it first".into())
        }
    }
}

#[async_trait]
impl Source for Local {
    fn identity(&self) -> String {
        format!("{} (local)", self.me)
    }

    async fn runs(&self) -> Result<Vec<RunView>, String> {
        let now = drctl_engine::clock::SystemClock::new().now();
        drctl_server::ops::runs::list(self.store.as_ref(), &listed(), now)
            .await
            .map_err(|e| e.to_string())
    }

    async fn events(&self, run: &RunId) -> Result<Vec<Event>, String> {
        self.engine.events(run).await.map_err(|e| e.to_string())
    }

    async fn gates(&self) -> Result<Vec<Gate>, String> {
        let now = drctl_engine::clock::SystemClock::new().now();
        drctl_server::ops::approvals::gates(
            &self.engine,
            self.store.as_ref(),
            (&self.me, &self.groups),
            now,
        )
        .await
        .map_err(|e| e.to_string())
    }

    async fn schedules(&self) -> Result<ScheduleList, String> {
        let Some(dir) = &self.runbooks else {
            return Ok(ScheduleList::default());
        };
        let now = drctl_engine::clock::SystemClock::new().now();
        drctl_server::schedule::view::list(dir, &self.registry, self.store.as_ref(), now)
            .await
            .map_err(|e| e.to_string())
    }

    async fn live(&self, run: &RunId, step: &StepId) -> Result<Vec<LiveView>, String> {
        self.store
            .live(run, step.as_str())
            .await
            .map(|rows| rows.into_iter().map(LiveView::from).collect())
            .map_err(|e| e.to_string())
    }

    async fn act(&self, act: &Act) -> Result<String, String> {
        let e = &self.engine;
        let run = act.run();
        let delivered = match act {
            Act::Decide {
                step,
                verdict,
                comment,
                ..
            } => {
                let state = e.state(run).await.map_err(|e| e.to_string())?;
                let me = (&self.me, self.groups.as_slice());
                let clock = drctl_engine::clock::SystemClock::new();
                let check = |s: &RunState| may_decide(s, step, me, *verdict, comment, clock.now());
                check(&state)?;
                let command = decision(&state, step, me, *verdict, comment);
                deliver(e, run, &self.me, &command, &check, WAIT).await
            }
            Act::Cancel { reason, .. } => {
                let command = OperatorCommand::Cancel {
                    reason: reason.clone(),
                };
                deliver(e, run, &self.me, &command, &|_| Ok(()), WAIT).await
            }
            Act::Resume { .. } => {
                return Err(format!(
                    "the local console drives no run: resume it with `drctl resume {run}`"
                ));
            }
            Act::Step {
                step,
                item,
                decision,
                output,
                ..
            } => {
                let command = OperatorCommand::Step {
                    step: step.clone(),
                    item: *item,
                    decision: *decision,
                    output: output.clone(),
                };
                deliver(e, run, &self.me, &command, &|_| Ok(()), WAIT).await
            }
        };
        said(&delivered.map_err(|e| e.to_string())?)
    }

    async fn changed(&self, max: Duration) {
        // The feed's newest cursor, read every quarter second: a cheap read, no busy loop.
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let mut seen = self.cursor.lock().await;
            let after = seen.unwrap_or(0);
            if let Ok(feed) = self.store.feed(after, None, 1000).await
                && let Some((last, _)) = feed.last()
            {
                let first_look = seen.is_none();
                *seen = Some(*last);
                if !first_look {
                    return;
                }
            } else if seen.is_none() {
                *seen = Some(after);
            }
            drop(seen);
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `drctl serve`'s API, with the token in `DRCTL_TOKEN`.
#[derive(Debug)]
pub struct Remote {
    pub client: Arc<Client>,
    /// Whom the token acts as, as the server said (`/api/v1/whoami`).
    who: String,
    /// Rung when the server's event stream says something was stored.
    pub news: Arc<Notify>,
    following: std::sync::Once,
}

impl Remote {
    /// Asks the server who the token is: a token it does not take, or no server, is
    /// said now rather than on an empty screen.
    pub async fn connect(client: Client) -> Result<Self, drctl_server::client::ClientError> {
        let me = client.whoami().await?;
        let who = format!(
            "{} ({}) at {}",
            drctl_runbook::params::shown_within(&me.identity, 64),
            me.role,
            client.base()
        );
        Ok(Self {
            who,
            client: Arc::new(client),
            news: Arc::new(Notify::new()),
            following: std::sync::Once::new(),
        })
    }

    /// Follows the server's events for as long as the console runs, reconnecting after a
    /// second when the stream ends.
    fn follow(&self) {
        let (client, news) = (self.client.clone(), self.news.clone());
        self.following.call_once(|| {
            tokio::spawn(async move {
                let mut cursor = 0;
                loop {
                    if let Ok(stream) = client.follow(None, cursor).await {
                        let mut stream = std::pin::pin!(stream);
                        while let Some(Ok((at, _))) = stream.next().await {
                            cursor = at;
                            news.notify_one();
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        });
    }
}

fn text(e: &drctl_server::client::ClientError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[async_trait]
impl Source for Remote {
    fn identity(&self) -> String {
        self.who.clone()
    }

    async fn runs(&self) -> Result<Vec<RunView>, String> {
        self.client
            .runs(&listed())
            .await
            .map(|l| l.runs)
            .map_err(|e| text(&e))
    }

    async fn events(&self, run: &RunId) -> Result<Vec<Event>, String> {
        let views = self
            .client
            .events(run.as_str())
            .await
            .map_err(|e| text(&e))?;
        views
            .into_iter()
            .map(|v| {
                // The body is the event as stored: who and when included.
                serde_json::from_value(v.body)
                    .map_err(|e| format!("event {} of {run} does not read: {e}", v.seq))
            })
            .collect()
    }

    async fn gates(&self) -> Result<Vec<Gate>, String> {
        self.client
            .approvals()
            .await
            .map(|g| g.approvals)
            .map_err(|e| text(&e))
    }

    async fn schedules(&self) -> Result<ScheduleList, String> {
        self.client.schedules().await.map_err(|e| text(&e))
    }

    async fn live(&self, run: &RunId, step: &StepId) -> Result<Vec<LiveView>, String> {
        self.client
            .live(run.as_str(), step.as_str())
            .await
            .map_err(|e| text(&e))
    }

    async fn act(&self, act: &Act) -> Result<String, String> {
        use drctl_server::api::approvals::VerdictArg;
        use drctl_server::api::runs::DecisionArg;
        let c = &self.client;
        let run = act.run().as_str();
        let result = match act {
            Act::Decide {
                step,
                verdict,
                comment,
                ..
            } => {
                let v = match verdict {
                    Verdict::Approve => VerdictArg::Approve,
                    Verdict::Reject => VerdictArg::Reject,
                };
                c.decide(run, step.as_str(), v, comment).await
            }
            Act::Cancel { reason, .. } => c.cancel(run, reason).await,
            Act::Resume { .. } => c.resume(run).await,
            Act::Step {
                step,
                item,
                decision,
                output,
                ..
            } => {
                let d = match decision {
                    Decision::Retry => DecisionArg::Retry,
                    Decision::Skip => DecisionArg::Skip,
                    Decision::Fail => DecisionArg::Fail,
                };
                c.step(run, step.as_str(), d, *item, output.clone()).await
            }
        };
        result
            .map(|r| format!("{} (as {})", r.outcome, r.actor))
            .map_err(|e| text(&e))
    }

    async fn changed(&self, max: Duration) {
        self.follow();
        let _ = tokio::time::timeout(max, self.news.notified()).await;
    }
}
