//! Errors as REST answers: the gRPC status a call ended with, mapped to an
//! HTTP status and a JSON body that keeps what a client acts on — the
//! code, the message, and for a write that did not commit whether it may
//! have been applied (`outcome`: `not-applied`, safe to retry; `unknown`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use drover_core::spec::SpecErrors;
use serde_json::{Value, json};
use tonic::Code;

use crate::propose::OUTCOME_KEY;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    /// A request this node refused before calling the API: a parameter,
    /// path segment or body it could not read, named in `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    /// Asked for what this node no longer holds (events before its
    /// oldest kept); the message says from where it can answer.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", message)
    }

    /// A body over [`crate::limits::MAX_REQUEST_BYTES`], refused unread.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            status,
            body: json!({ "error": { "code": code, "message": message } }),
        }
    }

    /// A spec that does not parse or validate: every problem with its
    /// field path and, where known, line and column.
    pub fn invalid_spec(errors: &SpecErrors, file: &str) -> Self {
        let problems = crate::api::spec_problems(errors);
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({
                "error": {
                    "code": "invalid_spec",
                    "message": errors.render(file).trim_end(),
                    "problems": problems,
                }
            }),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let (http, code) = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            Code::FailedPrecondition | Code::Aborted => {
                (StatusCode::CONFLICT, "failed_precondition")
            }
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            // The write may or may not have been applied: no answer came
            // in time, as a gateway's timeout.
            Code::Unknown | Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "unknown"),
            Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "unimplemented"),
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut error = json!({ "code": code, "message": status.message() });
        if let Some(outcome) = status
            .metadata()
            .get(OUTCOME_KEY)
            .and_then(|v| v.to_str().ok())
        {
            error["outcome"] = json!(outcome);
        }
        Self {
            status: http,
            body: json!({ "error": error }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
