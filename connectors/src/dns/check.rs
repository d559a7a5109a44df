//! `dns.check`: asks one DNS server, over UDP, until its answer is exactly the expected
//! records.
//!
//! The question goes straight to `server` (hickory-proto builds and parses the messages),
//! so no resolver cache can hide a change: every query sees what the server holds now.
//! Records are compared as sets; addresses as addresses (so `::1` equals `0:0:0:0:0:0:0:1`)
//! and names without case or trailing dot.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use serde_json::{Value, json};

use crate::input::{duration_or, opt_str, str_of, strings};
use crate::wait::{Deadline, cancellable, pause};

/// How long one query may wait for its answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Check {
    pub(crate) spec: ActionSpec,
}

/// What the server answered to one question.
struct Answer {
    rcode: String,
    records: Vec<String>,
}

impl Answer {
    fn describe(&self) -> String {
        if self.records.is_empty() {
            format!("no records ({})", self.rcode)
        } else {
            self.records.join(" ")
        }
    }
}

/// The question of a step.
struct Question {
    server: SocketAddr,
    name: Name,
    kind: RecordType,
}

async fn question(ctx: &ActionCtx, input: &Value) -> Result<Question, ActionError> {
    let text = str_of(input, "name")?;
    let name = Name::from_ascii(text)
        .map_err(|e| ActionError::Permanent(format!("`name`: `{text}` is not a DNS name: {e}")))?;
    let kind_text = opt_str(input, "type").unwrap_or("A");
    let kind = RecordType::from_str(kind_text)
        .map_err(|_| ActionError::Permanent(format!("`type`: unknown record type {kind_text}")))?;
    let server_text = str_of(input, "server")?;
    let server = match server_text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => match server_text.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, 53),
            Err(_) => cancellable(ctx, tokio::net::lookup_host(server_text))
                .await?
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| {
                    ActionError::Retryable(format!("cannot resolve the server {server_text}"))
                })?,
        },
    };
    Ok(Question { server, name, kind })
}

/// A fresh message id for each query, so a late answer to an earlier one is never taken
/// for this one.
fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() & 0xffff) as u16;
    NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919) ^ seed
}

/// One question, one answer. An unreachable or silent server is retryable.
async fn ask(ctx: &ActionCtx, q: &Question) -> Result<Answer, ActionError> {
    let id = next_id();
    let mut message = Message::new();
    message
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(q.name.clone(), q.kind));
    let bytes = message
        .to_bytes()
        .map_err(|e| ActionError::Permanent(format!("cannot encode the query: {e}")))?;
    let net = |e: std::io::Error| ActionError::Retryable(format!("DNS server {}: {e}", q.server));
    let bind: SocketAddr = if q.server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(|_| ActionError::Permanent("bad bind address".into()))?;
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(net)?;
    socket.connect(q.server).await.map_err(net)?;
    socket.send(&bytes).await.map_err(net)?;
    let mut buf = vec![0u8; 4096];
    let reply = loop {
        let received = cancellable(
            ctx,
            tokio::time::timeout(QUERY_TIMEOUT, socket.recv(&mut buf)),
        )
        .await?
        .map_err(|_| {
            ActionError::Retryable(format!(
                "DNS server {} did not answer within {} ms",
                q.server,
                QUERY_TIMEOUT.as_millis()
            ))
        })?
        .map_err(net)?;
        let reply = Message::from_bytes(&buf[..received]).map_err(|e| {
            ActionError::Retryable(format!("DNS server {}: unreadable answer: {e}", q.server))
        })?;
        if reply.id() == id {
            break reply;
        }
    };
    let records = reply
        .answers()
        .iter()
        .filter(|r| r.record_type() == q.kind)
        .map(|r| r.data().to_string())
        .collect();
    Ok(Answer {
        rcode: reply.response_code().to_string(),
        records,
    })
}

/// A record in a form two spellings of it share.
fn canonical(record: &str) -> String {
    match record.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => record.trim_end_matches('.').to_ascii_lowercase(),
    }
}

fn same(answer: &[String], expect: &[String]) -> bool {
    let mut a: Vec<String> = answer.iter().map(|r| canonical(r)).collect();
    let mut e: Vec<String> = expect.iter().map(|r| canonical(r)).collect();
    a.sort();
    a.dedup();
    e.sort();
    e.dedup();
    a == e
}

#[async_trait]
impl Action for Check {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let q = question(ctx, &input).await?;
        let expect = strings(&input, "expect")?;
        let interval = duration_or(&input, "interval", Duration::from_secs(1))?;
        let deadline = Deadline::after(duration_or(&input, "timeout", Duration::from_secs(120))?);
        let mut queries = 0u64;
        loop {
            queries += 1;
            // A server that does not answer is one more try, until the deadline.
            let last = match ask(ctx, &q).await {
                Ok(answer) if same(&answer.records, &expect) => {
                    return Ok(json!({
                        "server": q.server.to_string(),
                        "name": q.name.to_string(),
                        "type": q.kind.to_string(),
                        "answer": answer.records,
                        "queries": queries,
                        "waited_ms": deadline.elapsed_ms(),
                    }));
                }
                Ok(answer) => answer.describe(),
                Err(ActionError::Retryable(why)) => why,
                Err(e) => return Err(e),
            };
            if deadline.passed_before(interval) {
                return Err(ActionError::Retryable(format!(
                    "{} {} at {}: after {queries} queries in {} ms the answer is {last}, not {}",
                    q.name,
                    q.kind,
                    q.server,
                    deadline.elapsed_ms(),
                    expect.join(" ")
                )));
            }
            pause(ctx, interval).await?;
        }
    }

    /// One query now: whether the server already gives the expected answer.
    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let q = question(ctx, &input).await?;
        let expect = strings(&input, "expect")?;
        let answer = ask(ctx, &q).await?;
        let verdict = if same(&answer.records, &expect) {
            "already the expected answer"
        } else {
            "waits for"
        };
        let summary = format!(
            "{} {} at {} answers {} now; {verdict} {}",
            q.name,
            q.kind,
            q.server,
            answer.describe(),
            expect.join(" ")
        );
        let observed = json!({ "answer": answer.records, "rcode": answer.rcode });
        Ok(Some(Preview::new(Outlook::Reads, summary, observed)))
    }
}
