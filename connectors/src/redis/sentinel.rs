//! `redis.sentinel_failover` and `redis.wait_master`: asking the Sentinels, and waiting
//! until enough of them agree.
//!
//! `SENTINEL FAILOVER` does not itself ask the other Sentinels for agreement, so the
//! failover checks `SENTINEL CKQUORUM` first: drctl does not move a master that the
//! Sentinels could not elect themselves.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Preview};
use serde_json::{Value, json};

use super::conn::{Conn, connect, items, text};
use super::preview;
use super::role::role;
use crate::input::{duration_or, opt_str, str_of, strings};
use crate::wait::{Deadline, pause};

const POLL: Duration = Duration::from_millis(200);

/// What the Sentinels say about one master, at one moment.
pub(super) struct Views {
    /// Master address -> how many Sentinels name it.
    pub(super) votes: BTreeMap<String, usize>,
    /// Sentinels that did not answer, with why.
    pub(super) unreachable: Vec<String>,
    pub(super) total: usize,
}

impl Views {
    /// The address most Sentinels name, and how many do.
    pub(super) fn leader(&self) -> Option<(&str, usize)> {
        self.votes
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(a, n)| (a.as_str(), *n))
    }

    pub(super) fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .votes
            .iter()
            .map(|(addr, n)| format!("{n} of {} name {addr}", self.total))
            .collect();
        if !self.unreachable.is_empty() {
            parts.push(format!(
                "{} unreachable ({})",
                self.unreachable.len(),
                self.unreachable.join("; ")
            ));
        }
        parts.join(", ")
    }
}

pub(super) async fn ask(
    ctx: &ActionCtx,
    sentinels: &[String],
    master: &str,
    password: Option<&str>,
) -> Result<Views, ActionError> {
    let mut views = Views {
        votes: BTreeMap::new(),
        unreachable: Vec::new(),
        total: sentinels.len(),
    };
    for addr in sentinels {
        let answer = async {
            let mut conn = connect(ctx, addr, password).await?;
            conn.call(ctx, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", master])
                .await
        }
        .await;
        match answer {
            Ok(reply) => {
                let parts = items(&reply);
                match (parts.first().and_then(text), parts.get(1).and_then(text)) {
                    (Some(host), Some(port)) => {
                        *views.votes.entry(format!("{host}:{port}")).or_default() += 1
                    }
                    _ => {
                        return Err(ActionError::Permanent(format!(
                            "{addr}: no master named `{master}` is monitored"
                        )));
                    }
                }
            }
            Err(ActionError::Cancelled) => return Err(ActionError::Cancelled),
            Err(ActionError::Permanent(e)) => return Err(ActionError::Permanent(e)),
            Err(ActionError::Retryable(e)) => views.unreachable.push(e),
        }
    }
    Ok(views)
}

/// Whether the server at `addr` says it is a master.
async fn is_master(ctx: &ActionCtx, addr: &str, password: Option<&str>) -> bool {
    match connect(ctx, addr, password).await {
        Ok(mut conn) => role(ctx, &mut conn)
            .await
            .is_ok_and(|r| r["role"] == "master"),
        Err(_) => false,
    }
}

pub(super) struct Params<'a> {
    pub(super) sentinels: Vec<String>,
    pub(super) master: &'a str,
    pub(super) password: Option<&'a str>,
    pub(super) quorum: usize,
}

pub(super) fn params(input: &Value) -> Result<Params<'_>, ActionError> {
    let sentinels = strings(input, "sentinels")?;
    if sentinels.is_empty() {
        return Err(ActionError::Permanent("`sentinels` is empty".into()));
    }
    let majority = sentinels.len() / 2 + 1;
    let quorum = input
        .get("quorum")
        .and_then(Value::as_u64)
        .map_or(majority, |q| usize::try_from(q).unwrap_or(usize::MAX));
    Ok(Params {
        master: str_of(input, "master")?,
        password: opt_str(input, "password"),
        sentinels,
        quorum,
    })
}

/// Waits until `quorum` Sentinels name one master that is not `old` (and is `expect`,
/// when given) and that master says it is one.
async fn agree(
    ctx: &ActionCtx,
    p: &Params<'_>,
    old: Option<&str>,
    expect: Option<&str>,
    deadline: &Deadline,
) -> Result<(String, usize), ActionError> {
    loop {
        let views = ask(ctx, &p.sentinels, p.master, p.password).await?;
        if let Some((addr, n)) = views.leader()
            && n >= p.quorum
            && old != Some(addr)
            && expect.is_none_or(|e| e == addr)
            && is_master(ctx, addr, p.password).await
        {
            return Ok((addr.to_owned(), n));
        }
        if deadline.passed_before(POLL) {
            let want = match (old, expect) {
                (_, Some(e)) => format!("{} Sentinels naming {e}", p.quorum),
                (Some(o), None) => format!("{} Sentinels naming a master other than {o}", p.quorum),
                (None, None) => format!("{} Sentinels in agreement", p.quorum),
            };
            return Err(ActionError::Retryable(format!(
                "no {want} after {} ms: {}",
                deadline.elapsed_ms(),
                views.describe()
            )));
        }
        pause(ctx, POLL).await?;
    }
}

/// Where a failover stands before `SENTINEL FAILOVER` is sent: the checks the call and its
/// preview share.
pub(super) enum Before {
    /// The master named by the Sentinels, which the failover would move.
    Ready { old: String },
    /// With `from`: the master already moved (an earlier call, or the Sentinels on their
    /// own), so the call does not move it again.
    Moved { from: String, now: String },
    /// No failover now: no Sentinel answers, or too few for the quorum.
    Refused(String),
}

pub(super) fn before(input: &Value, p: &Params<'_>, views: &Views) -> Before {
    let Some((old, _)) = views.leader() else {
        return Before::Refused(format!("no Sentinel answers: {}", views.describe()));
    };
    if let Some(from) = opt_str(input, "from")
        && from != old
    {
        return Before::Moved {
            from: from.to_owned(),
            now: old.to_owned(),
        };
    }
    // Counted here as well as by CKQUORUM: a Sentinel counts its peers as usable until
    // `down-after` passes, and SENTINEL FAILOVER itself asks nobody.
    let answering = p.sentinels.len() - views.unreachable.len();
    if answering < p.quorum {
        return Before::Refused(format!(
            "Sentinel quorum lost: {answering} of {} answer and {} must, no failover ({})",
            p.sentinels.len(),
            p.quorum,
            views.describe()
        ));
    }
    Before::Ready {
        old: old.to_owned(),
    }
}

/// A connection to the first Sentinel, in the step's order, that accepts one.
pub(super) async fn first_answering(ctx: &ActionCtx, p: &Params<'_>) -> Option<Conn> {
    for addr in &p.sentinels {
        if let Ok(conn) = connect(ctx, addr, p.password).await {
            return Some(conn);
        }
    }
    None
}

pub(crate) struct Failover {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Failover {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::failover(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let p = params(&input)?;
        let deadline = Deadline::after(duration_or(&input, "timeout", Duration::from_secs(30))?);
        let views = ask(ctx, &p.sentinels, p.master, p.password).await?;
        let old = match before(&input, &p, &views) {
            Before::Ready { old } => old,
            Before::Moved { from, now } => {
                return Ok(json!({ "old_master": from, "new_master": now, "already_moved": true }));
            }
            Before::Refused(why) => return Err(ActionError::Retryable(why)),
        };
        let Some(mut conn) = first_answering(ctx, &p).await else {
            return Err(ActionError::Retryable(format!(
                "no Sentinel answers: {}",
                views.describe()
            )));
        };
        conn.call(ctx, &["SENTINEL", "CKQUORUM", p.master])
            .await
            .map_err(|e| match e {
                ActionError::Retryable(why) | ActionError::Permanent(why)
                    if why.contains("NOQUORUM") =>
                {
                    ActionError::Retryable(format!("Sentinel quorum lost, no failover: {why}"))
                }
                other => other,
            })?;
        match conn.call(ctx, &["SENTINEL", "FAILOVER", p.master]).await {
            // Already under way: wait for it like for ours.
            Err(ActionError::Retryable(why)) if why.contains("INPROG") => {}
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let asked = conn.addr.clone();
        let (new, agreed) = agree(ctx, &p, Some(&old), None, &deadline).await?;
        Ok(json!({
            "old_master": old,
            "new_master": new,
            "agreed": agreed,
            "asked": asked,
            "took_ms": deadline.elapsed_ms(),
        }))
    }

    /// With `from` (the master before the call): done when a quorum names another
    /// master; a failover still under way is waited for; otherwise not done. Without
    /// `from` drctl cannot tell a moved master from one that was always there.
    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let Some(from) = opt_str(&input, "from") else {
            return Ok(Observed::Unknown(
                "`redis.sentinel_failover` needs `from` (the master before the call) to tell \
                 whether an interrupted failover happened"
                    .into(),
            ));
        };
        let p = params(&input)?;
        let deadline = Deadline::after(duration_or(&input, "timeout", Duration::from_secs(30))?);
        let views = ask(ctx, &p.sentinels, p.master, p.password).await?;
        let moved = views
            .leader()
            .is_some_and(|(addr, n)| addr != from && n >= p.quorum);
        // A failover the Sentinels started before the crash is waited for.
        if !moved && !failover_in_progress(ctx, &p).await {
            return Ok(Observed::NotDone);
        }
        let (new, agreed) = agree(ctx, &p, Some(from), None, &deadline).await?;
        Ok(Observed::Done(json!({
            "old_master": from, "new_master": new, "agreed": agreed, "observed": true,
        })))
    }
}

/// Whether the first Sentinel that answers flags the master `failover_in_progress`.
async fn failover_in_progress(ctx: &ActionCtx, p: &Params<'_>) -> bool {
    for addr in &p.sentinels {
        let Ok(mut conn) = connect(ctx, addr, p.password).await else {
            continue;
        };
        if let Ok(reply) = conn.call(ctx, &["SENTINEL", "MASTER", p.master]).await {
            return items(&reply).chunks(2).any(|kv| {
                kv.first().and_then(text).as_deref() == Some("flags")
                    && kv
                        .get(1)
                        .and_then(text)
                        .is_some_and(|f| f.contains("failover_in_progress"))
            });
        }
    }
    false
}

pub(crate) struct WaitMaster {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for WaitMaster {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::wait_master(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let p = params(&input)?;
        let deadline = Deadline::after(duration_or(&input, "timeout", Duration::from_secs(60))?);
        let (master, agreed) = agree(ctx, &p, None, opt_str(&input, "expect"), &deadline).await?;
        Ok(json!({
            "master": master,
            "agreed": agreed,
            "sentinels": p.sentinels.len(),
            "waited_ms": deadline.elapsed_ms(),
        }))
    }
}
