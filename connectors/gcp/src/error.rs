//! The client libraries' errors sorted into retryable and permanent ones, after Google's
//! error model (AIP-193) and its retry guidance (AIP-194).
//!
//! Retryable: no answer (timeouts, connection failures), HTTP 429 and 5xx, and the codes
//! `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`, `INTERNAL` and `ABORTED`
//! (a concurrent change: read again and retry). Permanent: everything else Google said
//! (`PERMISSION_DENIED`, `UNAUTHENTICATED`, `NOT_FOUND`, `INVALID_ARGUMENT`,
//! `FAILED_PRECONDITION`, …), a request that could not be built, an answer that could
//! not be read. Messages quote Google's code and message, and the `Retry-After` it sent;
//! Google's messages never echo a credential.

use drctl_core::ActionError;
use google_cloud_gax::error::Error;
use google_cloud_gax::error::rpc::Code;

/// An error as an [`ActionError`], `what` naming the call ("promoteReplica of db-b").
pub(crate) fn classify(what: &str, err: &Error) -> ActionError {
    let http = err.http_status_code();
    let after = err
        .http_headers()
        .and_then(|h| h.get(http::header::RETRY_AFTER))
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" (Retry-After: {v})"))
        .unwrap_or_default();
    if let Some(status) = err.status() {
        let text = format!(
            "GCP {what}: {} (HTTP {}): {}{after}",
            status.code.name(),
            http.map_or_else(|| "-".to_owned(), |h| h.to_string()),
            status.message
        );
        let transient = matches!(
            status.code,
            Code::Unavailable
                | Code::ResourceExhausted
                | Code::DeadlineExceeded
                | Code::Internal
                | Code::Aborted
        ) || http.is_some_and(|h| h == 429 || h >= 500);
        return if transient {
            ActionError::Retryable(text)
        } else {
            ActionError::Permanent(text)
        };
    }
    let chain = drctl_connectors::input::error_chain(err);
    if let Some(h) = http {
        let text = format!("GCP {what}: HTTP {h}{after}: {chain}");
        return if h == 429 || h >= 500 {
            ActionError::Retryable(text)
        } else {
            ActionError::Permanent(text)
        };
    }
    if err.is_serialization() || err.is_binding() || err.is_deserialization() {
        return ActionError::Permanent(format!("GCP {what}: {chain}"));
    }
    if err.is_authentication() {
        return ActionError::Permanent(format!("GCP {what}: credentials: {chain}"));
    }
    // Timeouts, connection failures, a broken transfer: the network may recover.
    ActionError::Retryable(format!("GCP {what}: {chain}"))
}

/// Like [`classify`], for a write made with a precondition on what was read (a
/// fingerprint, a record set's values): 412 means someone changed the resource since,
/// and the next attempt reads it again, so it is retryable.
pub(crate) fn classify_write(what: &str, err: &Error) -> ActionError {
    match classify(what, err) {
        ActionError::Permanent(m) if err.http_status_code() == Some(412) => ActionError::Retryable(
            format!("{m}: changed since it was read; the next attempt reads it again"),
        ),
        other => other,
    }
}

/// Whether Google said the resource does not exist.
pub(crate) fn not_found(err: &Error) -> bool {
    err.status().is_some_and(|s| s.code == Code::NotFound) || err.http_status_code() == Some(404)
}

#[cfg(test)]
mod tests {
    use google_cloud_gax::error::rpc::Status;

    use super::*;

    fn service(code: Code) -> ActionError {
        classify(
            "get of x",
            &Error::service(
                Status::default()
                    .set_code(code)
                    .set_message("said by Google"),
            ),
        )
    }

    #[test]
    fn transient_codes_are_retryable_the_rest_permanent() {
        for code in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
            Code::Internal,
            Code::Aborted,
        ] {
            assert!(
                matches!(service(code), ActionError::Retryable(m) if m.contains(code.name())),
                "{code:?}"
            );
        }
        for code in [
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::NotFound,
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::AlreadyExists,
        ] {
            assert!(
                matches!(service(code), ActionError::Permanent(m) if m.contains(code.name())),
                "{code:?}"
            );
        }
        let timeout = Error::timeout("no answer");
        assert!(matches!(
            classify("get of x", &timeout),
            ActionError::Retryable(_)
        ));
    }
}
