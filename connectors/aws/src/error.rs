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
            let code = e.code().unwrap_or("unknown");
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
            chain(err)
        )),
        // Timeouts, connection failures, an unreadable answer: the network may recover.
        _ => ActionError::Retryable(format!("AWS {what}: {}", chain(err))),
    }
}

/// AWS's error code of a service error, to tell "not found" from other failures.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// An error and its causes on one line: the SDK's top-level message alone ("dispatch
/// failure") does not say what failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
