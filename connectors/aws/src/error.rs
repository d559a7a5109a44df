//! The SDK's errors sorted into retryable and permanent ones, as AWS documents them.
//!
//! Retryable: no answer (timeouts, connection failures), an answer that could not be read,
//! HTTP 5xx, 429, and the throttling and "try again" codes. Permanent: everything else AWS
//! said, e.g. bad credentials (InvalidClientTokenId, UnrecognizedClientException,
//! SignatureDoesNotMatch), access denied, a resource that does not exist, a state that
//! does not allow the call. Messages quote AWS's code and message: AWS never echoes a
//! secret value or a credential in them.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use drctl_connectors::input::error_chain;
use drctl_core::ActionError;

/// Codes that mean "later": throttling and transient conflicts.
const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "InternalServiceError",
    "KMSInternalException",
    "InternalServiceErrorException",
    "DependencyTimeoutException",
];

/// An SDK error as an [`ActionError`], `what` naming the call ("RotateKeyOnDemand of
/// alias/app").
pub(crate) fn classify<E>(what: &str, err: &SdkError<E, HttpResponse>) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            let code = e.code().unwrap_or("no error code");
            let message = e.message().unwrap_or("");
            let text = format!("AWS {what}: {code} (HTTP {status}): {message}");
            if status >= 500 || status == 429 || TRANSIENT.contains(&code) {
                ActionError::Retryable(text)
            } else {
                ActionError::Permanent(text)
            }
        }
        SdkError::ConstructionFailure(_) => ActionError::Permanent(format!(
            "AWS {what}: the request could not be built: {}",
            error_chain(err)
        )),
        // Timeouts, connection failures, an unreadable answer: the network may recover.
        _ => ActionError::Retryable(format!("AWS {what}: {}", error_chain(err))),
    }
}

/// AWS's error code of a service error, to tell "not found" from other failures.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_kms::operation::describe_key::DescribeKeyError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// A service error as AWS would send it: status and code.
    fn answer(status: u16, code: &str) -> ActionError {
        let err = DescribeKeyError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("said by AWS")
                .build(),
        );
        let raw = Response::new(
            StatusCode::try_from(status).unwrap_or_else(|_| panic!("{status}")),
            SdkBody::empty(),
        );
        classify("DescribeKey of k", &SdkError::service_error(err, raw))
    }

    /// What the emulator never answers: throttling and AWS's own failures.
    #[test]
    fn throttling_and_server_errors_are_retryable_the_rest_permanent() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (400, "Throttling"),
            (400, "PriorRequestNotComplete"),
            (429, "TooManyRequestsException"),
            (500, "KMSInternalException"),
            (503, "ServiceUnavailable"),
        ] {
            assert!(
                matches!(answer(status, code), ActionError::Retryable(m) if m.contains(code)),
                "{status} {code}"
            );
        }
        for (status, code) in [
            (403, "InvalidClientTokenId"),
            (400, "UnrecognizedClientException"),
            (403, "AccessDeniedException"),
            (400, "NotFoundException"),
            (400, "KMSInvalidStateException"),
        ] {
            assert!(
                matches!(answer(status, code), ActionError::Permanent(m) if m.contains(code)),
                "{status} {code}"
            );
        }
        let built = SdkError::<DescribeKeyError, HttpResponse>::construction_failure("no region");
        assert!(matches!(
            classify("DescribeKey of k", &built),
            ActionError::Permanent(_)
        ));
    }
}
