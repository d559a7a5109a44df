//! Errors as RFC 9457 problem details: `application/problem+json` with a stable `type`,
//! so that a client can tell one refusal from another without reading prose.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as Documented, ResponseBuilder};

/// One problem. `type` is `urn:drctl:problem:<kind>`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Each thing wrong, with where (a runbook's `file:line:col`, a field's path).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:drctl:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", what)
    }

    pub fn invalid(detail: impl Into<String>, errors: Vec<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail).with_errors(errors)
    }

    pub fn refused(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "refused", detail)
    }

    /// A failure of the server itself (the store unreachable), never of the input.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// A body that is not the JSON an operation takes: 413 when too large, 415 without a
/// JSON content type, 400 when not JSON at all, 422 when JSON of the wrong shape (with
/// where: serde names the field and the position).
impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let kind = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            _ => "malformed",
        };
        let detail = match &rejection {
            JsonRejection::JsonDataError(e) => e.body_text(),
            JsonRejection::JsonSyntaxError(e) => e.body_text(),
            other => other.body_text(),
        };
        Problem::new(status, kind, detail)
    }
}

/// Each status in `codes`, documented as a problem JSON answer.
fn problems(codes: &[u16]) -> BTreeMap<String, RefOr<Documented>> {
    codes
        .iter()
        .map(|code| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let response = ResponseBuilder::new()
                .content("application/problem+json", content)
                .build();
            (code.to_string(), RefOr::T(response))
        })
        .collect()
}

/// The refusals an operation documents (`responses(...)` of `#[utoipa::path]`), one type
/// per set of status codes, each answered as problem JSON.
macro_rules! refusals {
    ($($(#[$doc:meta])* $name:ident: $($code:literal),+;)+) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Documented>> {
                problems(&[$($code),+])
            }
        }
    )+};
}

refusals! {
    /// No token.
    TokenRefusals: 401;
    /// One thing read: no token, not found, a bad id or query.
    ReadRefusals: 401, 404, 422;
    /// A runbook by name: also two files claiming the name.
    RunbookRefusals: 401, 404, 409;
    /// A live stream: also too many streams.
    FollowRefusals: 401, 404, 422, 429;
    /// The audit export: also an export already under way.
    ExportRefusals: 401, 404, 422, 429;
    /// An action without a body: also a role too low, or refused by the run's state.
    ActRefusals: 401, 403, 404, 409, 422;
    /// An action with a JSON body: also malformed, too large, or not JSON.
    BodyRefusals: 400, 401, 403, 404, 409, 413, 415, 422;
    /// A webhook delivery: no token of ours (its own auth), also over the hook's rate,
    /// and not ready (the hook cannot verify, or its runbook cannot start, now).
    HookRefusals: 400, 401, 404, 409, 413, 415, 422, 429, 503;
}
