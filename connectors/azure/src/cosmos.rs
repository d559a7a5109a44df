//! Cosmos DB: a database account's failover priorities (API version 2024-11-15). The
//! region at priority 0 takes the writes. The change is a long-running operation
//! (`failoverPriorityChange`, 202 with `Azure-AsyncOperation`); after it the step waits
//! until the account reads back settled: provisioning `Succeeded`, the priorities as
//! asked, and the priority-0 region writing.
//!
//! The regions asked must be the account's regions, each once: Azure takes a priority
//! list only whole, and the step says which region is missing or extra before it sends
//! anything (and `plan` says it would fail).
//!
//! An account already `Updating` (an earlier attempt's change, or someone else's) is
//! waited for before anything is sent; an account that already has the priorities is
//! left alone, so the step can be repeated.

use std::sync::Arc;
use std::time::Duration;

use drctl_connectors::wait::{Seen, until, wants_wait};
use drctl_core::{ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use reqwest::Method;
use serde_json::{Value, json};

use crate::arm::{Arm, name};
use crate::auth::Auth;

pub(crate) struct FailoverPriorityChange(pub(crate) ActionSpec, pub(crate) Arc<Auth>);

const API: &str = "2024-11-15";
/// How long a failover and the account's settling may take by default.
const LONG: Duration = Duration::from_secs(1800);

/// A region's name as Azure compares them: `West US 2` is `westus2`.
fn region(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

struct Account {
    arm: Arm,
    url: String,
    label: String,
    /// (region, priority) as asked, sorted by priority.
    want: Vec<(String, i64)>,
}

impl Account {
    async fn new(auth: &Auth, input: &Value) -> Result<Self, ActionError> {
        let arm = Arm::new(auth, input).await?;
        let account = name(input, "account")?;
        let url = arm.url(
            &format!("Microsoft.DocumentDB/databaseAccounts/{account}"),
            API,
        );
        let mut want: Vec<(String, i64)> = Vec::new();
        for p in input["failover_policies"].as_array().into_iter().flatten() {
            let loc = p["location_name"].as_str().unwrap_or_default().to_owned();
            let pri = p["failover_priority"].as_i64().unwrap_or(-1);
            if region(&loc).is_empty() {
                return Err(ActionError::Permanent(
                    "each entry of failover_policies needs a location_name".into(),
                ));
            }
            if want.iter().any(|(l, _)| region(l) == region(&loc)) {
                return Err(ActionError::Permanent(format!(
                    "failover_policies names region {loc} twice"
                )));
            }
            want.push((loc, pri));
        }
        want.sort_by_key(|(_, p)| *p);
        if want.first().map(|(_, p)| *p) != Some(0) {
            return Err(ActionError::Permanent(
                "failover_policies must give one region priority 0 (the write region)".into(),
            ));
        }
        let mut priorities: Vec<i64> = want.iter().map(|(_, p)| *p).collect();
        priorities.dedup();
        if priorities.len() != want.len() {
            return Err(ActionError::Permanent(
                "each region of failover_policies needs its own priority".into(),
            ));
        }
        Ok(Self {
            arm,
            url,
            label: format!("Cosmos DB account {account}"),
            want,
        })
    }

    async fn read(&self) -> Result<Value, ActionError> {
        self.arm
            .get(&self.url, &format!("get of {}", self.label))
            .await?
            .ok_or_else(|| ActionError::Permanent(format!("Azure has no {}", self.label)))
    }

    /// What the account says now: (region, priority) sorted by priority.
    fn now(account: &Value) -> Vec<(String, i64)> {
        let mut now: Vec<(String, i64)> = account["properties"]["failoverPolicies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["locationName"].as_str().unwrap_or_default().to_owned(),
                    p["failoverPriority"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        now.sort_by_key(|(_, p)| *p);
        now
    }

    fn writer(account: &Value) -> String {
        account["properties"]["writeLocations"][0]["locationName"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    }

    fn busy(account: &Value) -> bool {
        account["properties"]["provisioningState"] != "Succeeded"
    }

    /// Whether the account has the priorities asked, and its writer is priority 0.
    fn holds(&self, account: &Value) -> bool {
        let now = Self::now(account);
        now.len() == self.want.len()
            && now
                .iter()
                .zip(&self.want)
                .all(|((a, p), (b, q))| region(a) == region(b) && p == q)
            && region(&Self::writer(account)) == region(&self.want[0].0)
    }

    /// Why the priorities asked cannot apply to the account as it is: a region it does
    /// not have, or one of its regions left out.
    fn misfit(&self, account: &Value) -> Option<String> {
        let have = Self::now(account);
        if let Some((l, _)) = self
            .want
            .iter()
            .find(|(l, _)| !have.iter().any(|(h, _)| region(h) == region(l)))
        {
            return Some(format!("{} has no region {l}", self.label));
        }
        have.iter()
            .find(|(h, _)| !self.want.iter().any(|(l, _)| region(l) == region(h)))
            .map(|(h, _)| {
                format!(
                    "{} also has region {h}: failover_policies must list every region of \
                     the account",
                    self.label
                )
            })
    }

    /// Waits until the account is not updating; it as it is then.
    async fn settled(&self, ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        until(
            ctx,
            input,
            LONG,
            &format!("{} settled", self.label),
            || async {
                let a = self.read().await?;
                Ok(if Self::busy(&a) {
                    Seen::NotYet(
                        a["properties"]["provisioningState"]
                            .as_str()
                            .unwrap_or("?")
                            .to_owned(),
                    )
                } else {
                    Seen::Ready(a)
                })
            },
        )
        .await
    }
}

fn show(account: &Value) -> Value {
    json!({
        "account": account["name"],
        "write_region": Account::writer(account),
        "failover_policies": Account::now(account).iter()
            .map(|(l, p)| json!({ "location_name": l, "failover_priority": p }))
            .collect::<Vec<_>>(),
        "provisioning_state": account["properties"]["provisioningState"],
    })
}

#[async_trait::async_trait]
impl drctl_core::Action for FailoverPriorityChange {
    fn spec(&self) -> &ActionSpec {
        &self.0
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let acct = Account::new(&self.1, &input).await?;
        // Priorities that cannot apply are refused before waiting for a busy account.
        let first = acct.read().await?;
        if let Some(why) = acct.misfit(&first) {
            return Err(ActionError::Permanent(why));
        }
        let before = if Account::busy(&first) {
            acct.settled(ctx, &input).await?
        } else {
            first
        };
        let was = Account::writer(&before);
        if acct.holds(&before) {
            let mut out = show(&before);
            out["changed"] = json!(false);
            return Ok(out);
        }
        if let Some(why) = acct.misfit(&before) {
            return Err(ActionError::Permanent(why));
        }
        let body = json!({ "failoverPolicies": acct.want.iter()
            .map(|(l, p)| json!({ "locationName": l, "failoverPriority": p }))
            .collect::<Vec<_>>() });
        let url = acct
            .url
            .replacen("?api-version", "/failoverPriorityChange?api-version", 1);
        let what = format!("failover priority change of {}", acct.label);
        let answer = acct
            .arm
            .send(Method::POST, &url, Some(&body), &what)
            .await?;
        if !wants_wait(&input, true) {
            let mut out = show(&before);
            out["changed"] = json!(true);
            return Ok(out);
        }
        acct.arm.follow(ctx, &input, &answer, LONG, &what).await?;
        let after = until(
            ctx,
            &input,
            LONG,
            &format!("{} failed over", acct.label),
            || async {
                let a = acct.read().await?;
                Ok(if !Account::busy(&a) && acct.holds(&a) {
                    Seen::Ready(a)
                } else {
                    Seen::NotYet(format!("writing in {}", Account::writer(&a)))
                })
            },
        )
        .await?;
        let mut out = show(&after);
        out["changed"] = json!(true);
        out["previous_write_region"] = json!(was);
        Ok(out)
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let acct = match Account::new(&self.1, &input).await {
            Ok(a) => a,
            Err(ActionError::Permanent(m)) => {
                return Ok(Some(Preview::new(Outlook::WouldFail, m, Value::Null)));
            }
            Err(e) => return Err(e),
        };
        let now = match acct.read().await {
            Ok(n) => n,
            Err(ActionError::Permanent(m)) => {
                return Ok(Some(Preview::new(Outlook::WouldFail, m, Value::Null)));
            }
            Err(e) => return Err(e),
        };
        if let Some(why) = acct.misfit(&now) {
            return Ok(Some(Preview::new(Outlook::WouldFail, why, show(&now))));
        }
        Ok(Some(if acct.holds(&now) {
            Preview::new(
                Outlook::NoChange,
                format!("{} has these priorities already", acct.label),
                show(&now),
            )
        } else {
            let writer = Account::writer(&now);
            let summary = if region(&writer) == region(&acct.want[0].0) {
                format!(
                    "{}: the read regions' priorities change; writes stay in {writer}",
                    acct.label
                )
            } else {
                format!("{}: writes move {writer} -> {}", acct.label, acct.want[0].0)
            };
            Preview::new(Outlook::Change, summary, show(&now))
        }))
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let acct = Account::new(&self.1, &input).await?;
        let now = acct.settled(ctx, &input).await?;
        Ok(if acct.holds(&now) {
            Observed::Done(show(&now))
        } else {
            Observed::NotDone
        })
    }
}
