//! The credentials this process has sent to a system (a cloud token, a kubeconfig's
//! password), so that an error that echoes one back (a proxy's page, a gateway that
//! quotes the request) reaches the step's message, the run's events and the console
//! masked, in every form [`Scrubber`] knows.
//!
//! Process-wide, because a connector's credential is obtained deep in its client (a
//! token credential, a kubeconfig) while its errors are sorted elsewhere; masking a
//! credential of another step's system is harmless. Runbook secrets are masked by the
//! engine; these are the ones no runbook declares.

use std::sync::{LazyLock, Mutex};

use drctl_core::scrub::Scrubber;

use crate::input::without_bearer_tokens;

/// Shorter values are not kept: masking every word they are part of would destroy the
/// message (the engine refuses such runbook secrets for the same reason).
const MIN_LEN: usize = 4;

#[derive(Default)]
struct Sent {
    values: Vec<String>,
    scrub: Scrubber,
}

static SENT: LazyLock<Mutex<Sent>> = LazyLock::new(Mutex::default);

/// Keeps `credential` to mask it from every message [`masked`] makes from now on.
pub fn remember(credential: &str) {
    let credential = credential.trim();
    if credential.chars().count() < MIN_LEN {
        return;
    }
    let mut sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    if !sent.values.iter().any(|v| v == credential) {
        sent.values.push(credential.to_owned());
        sent.scrub = Scrubber::new(sent.values.iter().map(String::as_str));
    }
}

/// `text` with every credential [`remember`]ed masked, and the word after `Bearer` (a
/// token the process never saw, such as one an exec plugin made).
pub fn masked(text: &str) -> String {
    let scrubbed = SENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .scrub
        .text(text);
    without_bearer_tokens(&scrubbed)
}

#[cfg(test)]
mod tests {
    use super::{masked, remember};

    #[test]
    fn a_remembered_credential_is_masked_in_its_forms() {
        remember("s3nt/Cr+d=");
        remember("ab");
        assert_eq!(masked("got s3nt%2FCr%2Bd%3D back"), "got *** back");
        assert_eq!(masked("ab and Bearer x"), "ab and Bearer ***");
    }
}
