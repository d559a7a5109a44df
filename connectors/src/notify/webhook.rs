//! `notify.webhook`: a JSON body POSTed to any URL. With `hmac_secret`, the body is signed:
//! the header (default `X-Drctl-Signature`) carries `sha256=` and the hex HMAC-SHA256 of
//! the exact bytes sent, which the receiver recomputes with the shared secret and compares
//! in constant time. `X-Drctl-Run` names the run.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{encode, json_post, post};
use crate::core::http::Client;
use crate::input::{duration_or, opt_str, str_of};

pub(crate) const SIGNATURE_HEADER: &str = "X-Drctl-Signature";

pub(crate) struct Webhook {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

/// `sha256=<hex>` of `body` under `secret`.
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={:x}", mac.finalize().into_bytes())
}

#[async_trait]
impl Action for Webhook {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let body = encode(&input["body"])?;
        let timeout = duration_or(&input, "timeout", Duration::from_secs(10))?;
        let sig = opt_str(&input, "hmac_secret").map(|s| signature(s.as_bytes(), &body));
        let mut request = json_post(&self.client, str_of(&input, "url")?, body, timeout)?
            .header("X-Drctl-Run", ctx.run.as_str());
        if let Some(headers) = input.get("headers").and_then(Value::as_object) {
            for (k, v) in headers {
                request = request.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        if let Some(sig) = sig {
            let header = opt_str(&input, "signature_header").unwrap_or(SIGNATURE_HEADER);
            request = request.header(header, sig);
        }
        let (status, body) = post(ctx, "the webhook", request, |s| (200..300).contains(&s)).await?;
        Ok(json!({ "status": status, "body": body }))
    }
}
