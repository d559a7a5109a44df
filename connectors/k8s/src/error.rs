//! kube's errors sorted into retryable and permanent ones, after the API's documented
//! status codes: 429 (too many requests), 409 (a conflict with a concurrent write: the
//! next attempt reads again), 5xx and no answer at all are retryable; the rest the API
//! server said (401, 403, 404, 422 invalid, 400) are permanent. Messages quote the
//! server's reason and message, which never carry a credential.

use drctl_connectors::input::error_chain;
use drctl_core::ActionError;

/// An error as an [`ActionError`], `what` naming the call ("get of Deployment ns/x").
pub(crate) fn classify(what: &str, err: &kube::Error) -> ActionError {
    match err {
        kube::Error::Api(status) => {
            let text = format!(
                "Kubernetes {what}: {} (HTTP {}): {}",
                if status.reason.is_empty() {
                    "no reason"
                } else {
                    &status.reason
                },
                status.code,
                status.message
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
        | kube::Error::HttpError(_) => {
            ActionError::Permanent(format!("Kubernetes {what}: {}", error_chain(err)))
        }
        // No answer, a broken connection, an unreadable answer: the network may recover.
        _ => ActionError::Retryable(format!("Kubernetes {what}: {}", error_chain(err))),
    }
}

pub(crate) fn not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}
