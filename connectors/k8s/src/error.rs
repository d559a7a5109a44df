//! kube's errors sorted into retryable and permanent ones, after the API's documented
//! status codes: 429 (too many requests), 409 (a conflict with a concurrent write: the
//! next attempt reads again), 5xx and no answer at all are retryable; the rest the API
//! server said (401, 403, 404, 422 invalid, 400) are permanent. Messages quote the
//! server's reason and message; an API server never puts a credential there, but a proxy
//! in front of it may answer with a page that echoes the request, so the credentials of
//! every kubeconfig this process read ([`remember`], kept in `drctl_connectors::sent`)
//! are masked in every form they take, and every word after `Bearer` (an exec plugin's
//! token, which only kube sees) as a guess.
//!
//! kube's own errors may: a kubeconfig's YAML error quotes the lines around it (a token
//! among them), and a failed exec credential plugin is shown with its command line and
//! environment. [`scrubbed`] keeps the first line of such a text and withholds the
//! plugin's invocation.

use drctl_connectors::input::error_chain;
use drctl_connectors::sent;
use drctl_core::ActionError;
use secrecy::ExposeSecret;

/// Keeps the credentials of `auth` (a token, a token file's content, a password, an
/// auth provider's tokens, a client key) to mask them, in every form they take (a
/// password in a Basic header's base64, a token percent-encoded), from every message.
pub(crate) fn remember(auth: &kube::config::AuthInfo) {
    for secret in [&auth.token, &auth.password, &auth.client_key_data]
        .into_iter()
        .flatten()
    {
        sent::remember(secret.expose_secret());
    }
    if let Some(file) = &auth.token_file
        && let Ok(token) = std::fs::read_to_string(file)
    {
        sent::remember(&token);
    }
    if let Some(provider) = &auth.auth_provider {
        for key in ["access-token", "id-token", "refresh-token", "client-secret"] {
            if let Some(v) = provider.config.get(key) {
                sent::remember(v);
            }
        }
    }
}

/// An error as an [`ActionError`], `what` naming the call ("get of Deployment ns/x").
pub(crate) fn classify(what: &str, err: &kube::Error) -> ActionError {
    match err {
        // JSON that is not a `Status` (a proxy's error) reaches us as a Status without
        // a code: the HTTP status is lost, so it may be a passing one.
        kube::Error::Api(status) if status.code == 0 => ActionError::Retryable(format!(
            "Kubernetes {what}: an error answer that is not a Kubernetes Status (from a \
             proxy in front of the API server?): {}",
            sent::masked(&status.message)
        )),
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
                    sent::masked(&status.reason)
                },
                status.code,
                sent::masked(&status.message)
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
    let first = sent::masked(text.lines().next().unwrap_or(""));
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
    use super::{remember, scrubbed};
    use base64::Engine as _;
    use drctl_connectors::sent;

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
        let m = sent::masked(&echoed);
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
