//! Does a delivery come from whoever holds one of the hook's secrets? Checked over the
//! raw body bytes, before anything parses them, in constant time, against every secret
//! the hook accepts (two while one is rotated).
//!
//! | scheme | header(s) | signed bytes |
//! | --- | --- | --- |
//! | `standard` | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> …` | `id.timestamp.body`; secret `whsec_<base64>` |
//! | `github` | `X-Hub-Signature-256: sha256=<hex>` (id: `X-GitHub-Delivery`) | body |
//! | `pagerduty` | `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]` (id: `X-Webhook-Id`) | body |
//! | `slack` | `X-Slack-Signature: v0=<hex>`, `X-Slack-Request-Timestamp` | `v0:timestamp:body` |
//! | `grafana` | `X-Grafana-Alerting-Signature: <hex>`, optional `X-Grafana-Alerting-Signature-Timestamp` | body, or `timestamp:body` |
//! | `bearer` | `Authorization: Bearer <token>` | (none: the token itself) |
//!
//! A scheme with a timestamp refuses one more than [`TOLERANCE_SECS`] away from now.
//! Every refusal is one answer to the sender (401, no detail): which part failed stays
//! in the server's own record.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use drctl_core::Timestamp;
use drctl_runbook::model::HookScheme;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// What a verified delivery told about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// The sender's delivery id, when its scheme has one: a second delivery with it is a
    /// replay.
    pub id: Option<String>,
}

/// Why a delivery was refused (for the server's record; the sender only gets 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("header {0} is missing or unreadable")]
    Missing(&'static str),
    #[error("the timestamp is {0} s away from now (at most {TOLERANCE_SECS} s)")]
    Stale(i64),
    #[error("no secret of the hook verifies the signature")]
    Signature,
}

type HmacSha256 = Hmac<Sha256>;

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Refused> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Refused::Missing(name))
}

fn fresh(timestamp: &str, name: &'static str, now: Timestamp) -> Result<(), Refused> {
    let at: i64 = timestamp.parse().map_err(|_| Refused::Missing(name))?;
    // Any i64 may arrive: the difference is taken where it cannot overflow.
    let off = i128::from(at) - i128::from(now.as_millis() / 1000);
    if off.abs() > i128::from(TOLERANCE_SECS) {
        return Err(Refused::Stale(i64::try_from(off).unwrap_or(i64::MAX)));
    }
    Ok(())
}

/// The signatures a header may list: an HMAC-SHA256 is 32 bytes, and a sender rotating
/// its secret sends a few. Anything else is refused before any hash is computed, so a
/// header of a thousand signatures costs nothing.
const MAX_SIGNATURES: usize = 4;
const MAC_LEN: usize = 32;

fn signatures(given: impl Iterator<Item = Option<Vec<u8>>>) -> Result<Vec<Vec<u8>>, Refused> {
    let mut out = Vec::new();
    for g in given {
        let Some(bytes) = g.filter(|b| b.len() == MAC_LEN) else {
            continue;
        };
        if out.len() == MAX_SIGNATURES {
            return Err(Refused::Signature);
        }
        out.push(bytes);
    }
    if out.is_empty() {
        return Err(Refused::Signature);
    }
    Ok(out)
}

/// Whether `given` is the HMAC-SHA256 of `parts` (concatenated) under `key`: compared in
/// constant time by the `hmac` crate.
fn matches(key: &[u8], parts: &[&[u8]], given: &[u8]) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(given).is_ok()
}

/// A Standard Webhooks secret: `whsec_` and base64; a secret without the prefix is used
/// as its bytes.
fn standard_key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => B64
            .decode(b64)
            .unwrap_or_else(|_| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

/// The shortest secret a hook accepts: a shorter one (an empty variable, a stray file)
/// would let anyone who guesses it start the runbook.
pub const MIN_SECRET: usize = 16;

/// Whether `secret` is long enough for `scheme` (a Standard Webhooks secret counts by
/// its decoded key).
pub fn strong_enough(scheme: HookScheme, secret: &str) -> bool {
    match scheme {
        HookScheme::Standard => standard_key(secret).len() >= MIN_SECRET,
        _ => secret.chars().count() >= MIN_SECRET,
    }
}

/// Checks a delivery; `secrets` are the values the hook accepts (a secret shorter than
/// [`MIN_SECRET`] verifies nothing).
pub fn verify(
    scheme: HookScheme,
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<Verified, Refused> {
    let any = |check: &dyn Fn(&str) -> bool| {
        secrets
            .iter()
            .filter(|s| strong_enough(scheme, s))
            .any(|s| check(s))
    };
    match scheme {
        HookScheme::Standard => {
            let id = header(headers, "webhook-id")?;
            let ts = header(headers, "webhook-timestamp")?;
            let sigs = header(headers, "webhook-signature")?;
            fresh(ts, "webhook-timestamp", now)?;
            if sigs.split(' ').count() > MAX_SIGNATURES * 2 {
                return Err(Refused::Signature);
            }
            let given = signatures(
                sigs.split(' ')
                    .filter_map(|s| s.strip_prefix("v1,"))
                    .map(|b| B64.decode(b).ok()),
            )?;
            let ok = any(&|secret| {
                let key = standard_key(secret);
                given
                    .iter()
                    .any(|g| matches(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body], g))
            });
            if !ok {
                return Err(Refused::Signature);
            }
            Ok(Verified {
                id: Some(id.to_owned()),
            })
        }
        HookScheme::Github => {
            let sig = header(headers, "x-hub-signature-256")?;
            let given = sig
                .strip_prefix("sha256=")
                .and_then(|h| hex::decode(h).ok())
                .filter(|b| b.len() == MAC_LEN)
                .ok_or(Refused::Signature)?;
            if !any(&|secret| matches(secret.as_bytes(), &[body], &given)) {
                return Err(Refused::Signature);
            }
            Ok(Verified {
                id: header(headers, "x-github-delivery").ok().map(str::to_owned),
            })
        }
        HookScheme::Pagerduty => {
            let sigs = header(headers, "x-pagerduty-signature")?;
            if sigs.split(',').count() > MAX_SIGNATURES * 2 {
                return Err(Refused::Signature);
            }
            let given = signatures(
                sigs.split(',')
                    .filter_map(|s| s.trim().strip_prefix("v1="))
                    .map(|h| hex::decode(h).ok()),
            )?;
            let ok = any(&|secret| given.iter().any(|g| matches(secret.as_bytes(), &[body], g)));
            if !ok {
                return Err(Refused::Signature);
            }
            Ok(Verified {
                id: header(headers, "x-webhook-id").ok().map(str::to_owned),
            })
        }
        HookScheme::Slack => {
            let ts = header(headers, "x-slack-request-timestamp")?;
            let sig = header(headers, "x-slack-signature")?;
            fresh(ts, "x-slack-request-timestamp", now)?;
            let given = sig
                .strip_prefix("v0=")
                .and_then(|h| hex::decode(h).ok())
                .filter(|b| b.len() == MAC_LEN)
                .ok_or(Refused::Signature)?;
            let ok = any(&|secret| {
                matches(
                    secret.as_bytes(),
                    &[b"v0:", ts.as_bytes(), b":", body],
                    &given,
                )
            });
            if !ok {
                return Err(Refused::Signature);
            }
            Ok(Verified { id: None })
        }
        HookScheme::Grafana => {
            let sig = header(headers, "x-grafana-alerting-signature")?;
            let given = hex::decode(sig)
                .ok()
                .filter(|b| b.len() == MAC_LEN)
                .ok_or(Refused::Signature)?;
            let ts = header(headers, "x-grafana-alerting-signature-timestamp").ok();
            if let Some(ts) = ts {
                fresh(ts, "x-grafana-alerting-signature-timestamp", now)?;
            }
            let ok = any(&|secret| match ts {
                Some(ts) => matches(secret.as_bytes(), &[ts.as_bytes(), b":", body], &given),
                None => matches(secret.as_bytes(), &[body], &given),
            });
            if !ok {
                return Err(Refused::Signature);
            }
            Ok(Verified { id: None })
        }
        HookScheme::Bearer => {
            let auth = header(headers, "authorization")?;
            let token = auth
                .split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .ok_or(Refused::Missing("authorization"))?;
            // Compared as HMACs of the token under a fixed key: equal-length digests,
            // compared in constant time, whatever the token's length.
            let digest = |t: &str| {
                let mut mac = HmacSha256::new_from_slice(b"drctl-bearer").ok()?;
                mac.update(t.as_bytes());
                Some(mac.finalize().into_bytes().to_vec())
            };
            let given = digest(token).ok_or(Refused::Signature)?;
            let ok = any(&|secret| {
                let Ok(mut mac) = HmacSha256::new_from_slice(b"drctl-bearer") else {
                    return false;
                };
                mac.update(secret.as_bytes());
                mac.verify_slice(&given).is_ok()
            });
            if !ok {
                return Err(Refused::Signature);
            }
            Ok(Verified { id: None })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"status":"firing"}"#;

    fn now() -> Timestamp {
        Timestamp::from_millis(NOW * 1000)
    }

    fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn secrets(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn standard_webhooks() {
        let key = b"0123456789abcdef0123456789abcdef";
        let secret = format!("whsec_{}", B64.encode(key));
        let ts = NOW.to_string();
        let sig = B64.encode(hmac(key, &[b"msg_1.", ts.as_bytes(), b".", BODY]));
        let h = |ts: &str, sig: &str| {
            headers(&[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.into()),
                ("webhook-signature", format!("v1,bm90IGl0 v1,{sig}")),
            ])
        };
        let ok = verify(
            HookScheme::Standard,
            &secrets(&[&secret]),
            &h(&ts, &sig),
            BODY,
            now(),
        )
        .unwrap();
        assert_eq!(ok.id.as_deref(), Some("msg_1"));
        // The old secret after rotation, alone: refused; with the new one beside it: taken.
        let old = format!("whsec_{}", B64.encode(b"an old secret, rotated away"));
        assert_eq!(
            verify(
                HookScheme::Standard,
                &secrets(&[&old]),
                &h(&ts, &sig),
                BODY,
                now()
            ),
            Err(Refused::Signature)
        );
        assert!(
            verify(
                HookScheme::Standard,
                &secrets(&[&old, &secret]),
                &h(&ts, &sig),
                BODY,
                now()
            )
            .is_ok()
        );
        // A changed body, a stale timestamp.
        assert_eq!(
            verify(
                HookScheme::Standard,
                &secrets(&[&secret]),
                &h(&ts, &sig),
                b"{}",
                now()
            ),
            Err(Refused::Signature)
        );
        let stale = (NOW - 301).to_string();
        let sig_stale = B64.encode(hmac(key, &[b"msg_1.", stale.as_bytes(), b".", BODY]));
        assert_eq!(
            verify(
                HookScheme::Standard,
                &secrets(&[&secret]),
                &h(&stale, &sig_stale),
                BODY,
                now()
            ),
            Err(Refused::Stale(-301))
        );
        assert_eq!(
            verify(
                HookScheme::Standard,
                &secrets(&[&secret]),
                &HeaderMap::new(),
                BODY,
                now()
            ),
            Err(Refused::Missing("webhook-id"))
        );
    }

    #[test]
    fn github_pagerduty_slack_grafana() {
        let s = secrets(&["It's a Secret to Everybody"]);
        let body_sig = hex::encode(hmac(s[0].as_bytes(), &[BODY]));
        let gh = headers(&[
            ("x-hub-signature-256", format!("sha256={body_sig}")),
            ("x-github-delivery", "d-1".into()),
        ]);
        assert_eq!(
            verify(HookScheme::Github, &s, &gh, BODY, now())
                .unwrap()
                .id
                .as_deref(),
            Some("d-1")
        );
        assert_eq!(
            verify(
                HookScheme::Github,
                &secrets(&["a wrong secret entirely"]),
                &gh,
                BODY,
                now()
            ),
            Err(Refused::Signature)
        );

        // PagerDuty sends one v1= per secret while it rotates.
        let pd = headers(&[
            ("x-pagerduty-signature", format!("v1=00ff, v1={body_sig}")),
            ("x-webhook-id", "pd-1".into()),
        ]);
        assert_eq!(
            verify(HookScheme::Pagerduty, &s, &pd, BODY, now())
                .unwrap()
                .id
                .as_deref(),
            Some("pd-1")
        );
        assert_eq!(
            verify(
                HookScheme::Pagerduty,
                &secrets(&["wrong"]),
                &pd,
                BODY,
                now()
            ),
            Err(Refused::Signature)
        );

        let ts = NOW.to_string();
        let slack_sig = hex::encode(hmac(s[0].as_bytes(), &[b"v0:", ts.as_bytes(), b":", BODY]));
        let sl = |ts: &str| {
            headers(&[
                ("x-slack-request-timestamp", ts.into()),
                ("x-slack-signature", format!("v0={slack_sig}")),
            ])
        };
        assert!(verify(HookScheme::Slack, &s, &sl(&ts), BODY, now()).is_ok());
        assert_eq!(
            verify(
                HookScheme::Slack,
                &s,
                &sl(&(NOW + 400).to_string()),
                BODY,
                now()
            ),
            Err(Refused::Stale(400))
        );

        let gf = headers(&[("x-grafana-alerting-signature", body_sig.clone())]);
        assert!(verify(HookScheme::Grafana, &s, &gf, BODY, now()).is_ok());
        let ts_sig = hex::encode(hmac(s[0].as_bytes(), &[ts.as_bytes(), b":", BODY]));
        let gft = headers(&[
            ("x-grafana-alerting-signature", ts_sig),
            ("x-grafana-alerting-signature-timestamp", ts.clone()),
        ]);
        assert!(verify(HookScheme::Grafana, &s, &gft, BODY, now()).is_ok());
        assert_eq!(
            verify(HookScheme::Grafana, &s, &gf, b"[]", now()),
            Err(Refused::Signature)
        );
    }

    #[test]
    fn hostile_headers_are_refused_cheaply() {
        let key = b"0123456789abcdef0123456789abcdef";
        let secret = format!("whsec_{}", B64.encode(key));
        // The most negative timestamp: refused as stale, no overflow.
        let h = headers(&[
            ("webhook-id", "z".into()),
            ("webhook-timestamp", i64::MIN.to_string()),
            ("webhook-signature", "v1,AA==".into()),
        ]);
        assert!(matches!(
            verify(HookScheme::Standard, &secrets(&[&secret]), &h, BODY, now()),
            Err(Refused::Stale(_))
        ));
        let sl = headers(&[
            ("x-slack-request-timestamp", i64::MIN.to_string()),
            ("x-slack-signature", "v0=00".into()),
        ]);
        assert!(matches!(
            verify(HookScheme::Slack, &secrets(&[&secret]), &sl, BODY, now()),
            Err(Refused::Stale(_))
        ));
        // A thousand signatures: refused before any is computed.
        let many = vec!["v1,AA=="; 1000].join(" ");
        let h = headers(&[
            ("webhook-id", "z".into()),
            ("webhook-timestamp", NOW.to_string()),
            ("webhook-signature", many),
        ]);
        assert_eq!(
            verify(HookScheme::Standard, &secrets(&[&secret]), &h, BODY, now()),
            Err(Refused::Signature)
        );
        // An empty or short secret verifies nothing, even a signature made with it.
        let gh = headers(&[(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(hmac(b"", &[BODY]))),
        )]);
        assert_eq!(
            verify(HookScheme::Github, &secrets(&[""]), &gh, BODY, now()),
            Err(Refused::Signature)
        );
        let short = headers(&[("authorization", "Bearer abc".into())]);
        assert_eq!(
            verify(HookScheme::Bearer, &secrets(&["abc"]), &short, BODY, now()),
            Err(Refused::Signature)
        );
    }

    #[test]
    fn bearer_tokens() {
        let s = secrets(&["old-token-0123456789", "new-token-0123456789"]);
        let h = |v: &str| headers(&[("authorization", v.into())]);
        assert!(
            verify(
                HookScheme::Bearer,
                &s,
                &h("Bearer new-token-0123456789"),
                BODY,
                now()
            )
            .is_ok()
        );
        assert!(
            verify(
                HookScheme::Bearer,
                &s,
                &h("bearer old-token-0123456789"),
                BODY,
                now()
            )
            .is_ok()
        );
        assert_eq!(
            verify(
                HookScheme::Bearer,
                &s,
                &h("Bearer new-token-012345678"),
                BODY,
                now()
            ),
            Err(Refused::Signature)
        );
        assert_eq!(
            verify(HookScheme::Bearer, &s, &h("Basic bmV3"), BODY, now()),
            Err(Refused::Missing("authorization"))
        );
        assert_eq!(
            verify(HookScheme::Bearer, &s, &HeaderMap::new(), BODY, now()),
            Err(Refused::Missing("authorization"))
        );
    }
}
