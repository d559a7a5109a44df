//! Live previews for `drctl plan --live`: what the Sentinels and servers say now. Only
//! read-only commands are sent: ROLE, `SENTINEL GET-MASTER-ADDR-BY-NAME`, `SENTINEL
//! CKQUORUM`.

use drctl_core::{ActionCtx, ActionError, Outlook, Preview};
use serde_json::{Value, json};

use super::conn::{connect, text};
use super::role::role as read_role;
use super::sentinel::{Before, ask, before, first_answering, params};
use crate::input::{opt_str, str_of};

/// `redis.role`: the role, read now.
pub(crate) async fn role(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let mut conn = connect(ctx, str_of(input, "address")?, opt_str(input, "password")).await?;
    let seen = read_role(ctx, &mut conn).await?;
    let summary = match seen["role"].as_str() {
        Some("master") => format!(
            "{}: master with {} replicas",
            conn.addr,
            seen["replicas"].as_array().map_or(0, Vec::len)
        ),
        Some("replica") => format!(
            "{}: replica of {}, link {}",
            conn.addr,
            seen["master"].as_str().unwrap_or("?"),
            seen["link"].as_str().unwrap_or("?")
        ),
        _ => format!("{}: {}", conn.addr, seen["role"]),
    };
    Ok(Preview::new(Outlook::Reads, summary, seen))
}

/// `redis.wait_master`: whom the Sentinels name now.
pub(crate) async fn wait_master(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let p = params(input)?;
    let views = ask(ctx, &p.sentinels, p.master, p.password).await?;
    let mut summary = format!("now {}; {} must agree", views.describe(), p.quorum);
    if let Some(expect) = opt_str(input, "expect") {
        summary.push_str(&format!(", on {expect}"));
    }
    let observed = json!({ "votes": views.votes, "unreachable": views.unreachable.len() });
    Ok(Preview::new(Outlook::Reads, summary, observed))
}

/// `redis.sentinel_failover`: which master would move, or why the call would not move
/// it (already moved, quorum lost), the same checks the call makes first.
pub(crate) async fn failover(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let p = params(input)?;
    let views = ask(ctx, &p.sentinels, p.master, p.password).await?;
    let observed = json!({ "votes": views.votes, "unreachable": views.unreachable.len() });
    let old = match before(input, &p, &views) {
        Before::Ready { old } => old,
        Before::Moved { from, now } => {
            let summary = format!("`{}` already moved from {from} to {now}", p.master);
            return Ok(Preview::new(Outlook::NoChange, summary, observed));
        }
        Before::Refused(why) => return Ok(Preview::new(Outlook::WouldFail, why, observed)),
    };
    let checked = match first_answering(ctx, &p).await {
        None => None,
        Some(mut conn) => Some(
            match conn.call(ctx, &["SENTINEL", "CKQUORUM", p.master]).await {
                Ok(reply) => Ok(text(&reply).unwrap_or_default()),
                Err(ActionError::Cancelled) => return Err(ActionError::Cancelled),
                Err(ActionError::Retryable(why) | ActionError::Permanent(why)) => Err(why),
            },
        ),
    };
    Ok(match checked {
        Some(Ok(ok)) => Preview::new(
            Outlook::Change,
            format!(
                "fail `{}` over from {old} to one of its replicas; {}; CKQUORUM: {ok}",
                p.master,
                views.describe()
            ),
            observed,
        ),
        Some(Err(why)) => Preview::new(Outlook::WouldFail, format!("CKQUORUM: {why}"), observed),
        None => Preview::new(
            Outlook::WouldFail,
            format!("no Sentinel answers: {}", views.describe()),
            observed,
        ),
    })
}
