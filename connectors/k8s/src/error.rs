//! kube's errors sorted into retryable and permanent ones, after the API's documented
//! status codes: 429 (too many requests), 409 (a conflict with a concurrent write: the
//! next attempt reads again), 5xx and no answer at all are retryable; the rest the API
//! server said (401, 403, 404, 422 invalid, 400) are permanent. Messages quote the
//! server's reason and message; an API server never puts a credential there, but a proxy
//! in front of it may answer with a page that echoes the request, so every word after
//! `Bearer` is withheld.
//!
//! kube's own errors may: a kubeconfig's YAML error quotes the lines around it (a token
//! among them), and a failed exec credential plugin is shown with its command line and
//! environment. [`scrubbed`] keeps the first line of such a text and withholds the
//! plugin's invocation.

use drctl_connectors::input::{error_chain, without_bearer_tokens};
use drctl_core::ActionError;

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
                    without_bearer_tokens(&status.reason)
                },
                status.code,
                without_bearer_tokens(&status.message)
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
    let first = text.lines().next().unwrap_or("");
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
    use super::scrubbed;

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
