//! kube's errors sorted into retryable and permanent ones, after the API's documented
//! status codes: 429 (too many requests), 409 (a conflict with a concurrent write: the
//! next attempt reads again), 5xx and no answer at all are retryable; the rest the API
//! server said (401, 403, 404, 422 invalid, 400) are permanent. Messages quote the
//! server's reason and message; an API server never puts a credential there, but a proxy
//! in front of it may answer with a page that echoes the request, so the credentials of
//! every kubeconfig this process read ([`remember`]) are masked in every form they take,
//! and every word after `Bearer` (an exec plugin's token, which only kube sees) as a
//! guess.
//!
//! kube's own errors may: a kubeconfig's YAML error quotes the lines around it (a token
//! among them), and a failed exec credential plugin is shown with its command line and
//! environment. [`scrubbed`] keeps the first line of such a text and withholds the
//! plugin's invocation.

use std::sync::{LazyLock, Mutex};

use drctl_connectors::input::{error_chain, without_bearer_tokens};
use drctl_core::ActionError;
use drctl_core::scrub::Scrubber;
use secrecy::ExposeSecret;

/// The credentials of the kubeconfigs this process has read (a token, a token file's
/// content, a password, an auth provider's tokens, a client key) and their scrubber.
/// Process-wide, because a client is made per step and its errors are sorted far from
/// where it was made; masking a credential of another step's cluster is harmless.
static KNOWN: LazyLock<Mutex<Known>> = LazyLock::new(Mutex::default);

#[derive(Default)]
struct Known {
    values: Vec<String>,
    scrub: Scrubber,
}

/// Keeps the credentials of `auth` to mask them, in every form they take (a password
/// in a Basic header's base64, a token percent-encoded), from every message.
pub(crate) fn remember(auth: &kube::config::AuthInfo) {
    let mut found: Vec<String> = [&auth.token, &auth.password, &auth.client_key_data]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().trim().to_owned())
        .collect();
    if let Some(file) = &auth.token_file
        && let Ok(token) = std::fs::read_to_string(file)
    {
        found.push(token.trim().to_owned());
    }
    if let Some(provider) = &auth.auth_provider {
        for key in ["access-token", "id-token", "refresh-token", "client-secret"] {
            found.extend(provider.config.get(key).map(|v| v.trim().to_owned()));
        }
    }
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let before = known.values.len();
    for secret in found {
        // As the engine's secrets: a shorter value cannot be masked without masking
        // every word it is part of.
        if secret.chars().count() >= 4 && !known.values.contains(&secret) {
            known.values.push(secret);
        }
    }
    if known.values.len() > before {
        known.scrub = Scrubber::new(known.values.iter().map(String::as_str));
    }
}

/// `text` without the credentials [`remember`]ed and the words after `Bearer`.
pub(crate) fn withheld(text: &str) -> String {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    without_bearer_tokens(&known.scrub.text(text))
}

/// An error as an [`ActionError`], `what` naming the call ("get of Deployment ns/x").
pub(crate) fn classify(what: &str, err: &kube::Error) -> ActionError {
    match err {
        kube::Error::Api(status) => {
            // A throttled call quotes how long the server asked to back off.
            let after = status
                .details
                .as_ref()
                .filter(|d| d.retry_after_seconds > 0)
                .map(|d| format!(" (Retry-After: {} s)", d.retry_after_seconds))
                .unwrap_or_default();
            let text = format!(
                "Kubernetes {what}: {} (HTTP {}): {}{after}",
                if status.reason.is_empty() {
                    "no reason".to_owned()
                } else {
                    withheld(&status.reason)
                },
                status.code,
                withheld(&status.message)
            );
            if status.code == 429 || status.code == 409 || status.code >= 500 {
                ActionError::Retryable(text)
            } else {
                ActionError::Permanent(text)
            }
        }
        kube::Error::Auth(_)
        | kube::Error::InferConfig(_)
        | kube::Error::BuildRequest(_)
        | kube::Error::HttpError(_) => ActionError::Permanent(format!(
            "Kubernetes {what}: {}",
            scrubbed(&error_chain(err))
        )),
        // No answer, a broken connection, an unreadable answer: the network may recover.
        _ => ActionError::Retryable(format!(
            "Kubernetes {what}: {}",
            scrubbed(&error_chain(err))
        )),
    }
}

/// An error of kube's without what may hold a secret: only its first line (a YAML
/// error's quoted lines follow it), and no exec plugin invocation.
pub(crate) fn scrubbed(text: &str) -> String {
    let first = withheld(text.lines().next().unwrap_or(""));
    let first = first.as_str();
    match first.find("auth exec command") {
        Some(at) => format!(
            "{}the kubeconfig's exec credential plugin failed (its command line, \
             environment and output are withheld: they may hold secrets; run it by hand)",
            &first[..at]
        ),
        None => first.to_owned(),
    }
}

pub(crate) fn not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod tests {
    use super::{remember, scrubbed, withheld};
    use base64::Engine as _;

    #[test]
    fn a_kubeconfigs_password_is_masked_in_a_basic_header_and_a_token_overlapping_it() {
        let auth = kube::config::AuthInfo {
            username: Some("ops".into()),
            password: Some("pa55-w0rd-long".to_owned().into()),
            token: Some("tok-pa55-w0rd-long-and-more".to_owned().into()),
            ..Default::default()
        };
        remember(&auth);
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:pa55-w0rd-long");
        let echoed = format!("Authorization: Basic {basic}; token tok-pa55-w0rd-long-and-more");
        let m = withheld(&echoed);
        assert!(
            !m.contains("w0rd") && !m.contains("more") && !m.contains(&basic[8..]),
            "{m}"
        );
    }

    #[test]
    fn kube_errors_lose_quoted_yaml_and_exec_invocations() {
        let yaml = "failed to parse kubeconfig YAML: error: line 6 column 1: bad\n 5 |   user: {token: \"SECRET\"";
        assert_eq!(
            scrubbed(yaml),
            "failed to parse kubeconfig YAML: error: line 6 column 1: bad"
        );
        let exec =
            "auth error: auth exec command 'VAULT_TOKEN=\"SECRET\" \"sh\"' failed with status 1";
        let s = scrubbed(exec);
        assert!(
            !s.contains("SECRET") && s.starts_with("auth error: the kubeconfig's exec"),
            "{s}"
        );
    }
}
