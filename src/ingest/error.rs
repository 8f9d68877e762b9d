//! Every way an ingest request can fail, and the one place each becomes a response:
//! `{"success": false, "code": "...", "message": "..."}` with the right status.
//!
//! The body follows Segment's `{"success": …}` shape and adds `code`/`message`, which the
//! Python clients read; the others look only at the status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::delivery::SubmitError;
use crate::event::EventError;

/// Why an ingest request was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No write key, or one no source has (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A webhook's `X-Signature` is missing or wrong (401).
    #[error("{0}")]
    BadSignature(&'static str),
    /// The body is over the limit after decoding, or too big on the wire (400, as Segment).
    #[error(
        "Exceed payload limit: the body is larger than {limit} bytes (measured after decompression)"
    )]
    PayloadTooLarge {
        /// The limit that applied, in decoded bytes.
        limit: usize,
    },
    /// The compressed body could not be decoded (400, Segment's message).
    #[error("Malformed {0} content")]
    BadEncoding(&'static str),
    /// A `Content-Encoding` the relay cannot decode (415).
    #[error("Unsupported Content-Encoding {0:?}: send gzip, deflate or no encoding")]
    UnsupportedEncoding(String),
    /// The body is not JSON; the parser's message says where (400).
    #[error("Invalid JSON: {0}")]
    InvalidJson(String),
    /// The JSON does not have the shape the path needs (400).
    #[error("{0}")]
    InvalidBody(&'static str),
    /// The single event on a single-event path was refused (400).
    #[error("{0}")]
    InvalidEvent(#[from] EventError),
    /// The body could not be read (client went away, bad chunking) (400).
    #[error("Could not read the request body")]
    BodyRead,
    /// No such path (404).
    #[error("No such endpoint")]
    NotFound,
    /// `/webhook/<name>` with a name no source has (404).
    #[error("No source is named {0:?}")]
    UnknownSource(String),
    /// The path exists but not for this method (405, with `Allow`).
    #[error("Method not allowed; allowed: {0}")]
    MethodNotAllowed(&'static str),
    /// Delivery cannot take the events now (503, with `Retry-After` when overloaded).
    #[error("{0}")]
    Unavailable(#[from] SubmitError),
}

impl IngestError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Unauthorized(_) | IngestError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            IngestError::PayloadTooLarge { .. }
            | IngestError::BadEncoding(_)
            | IngestError::InvalidJson(_)
            | IngestError::InvalidBody(_)
            | IngestError::InvalidEvent(_)
            | IngestError::BodyRead => StatusCode::BAD_REQUEST,
            IngestError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::NotFound | IngestError::UnknownSource(_) => StatusCode::NOT_FOUND,
            IngestError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable `code`.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::BadSignature(_) => "invalid_signature",
            IngestError::PayloadTooLarge { .. } => "payload_too_large",
            IngestError::BadEncoding(_) => "bad_encoding",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::InvalidJson(_) => "invalid_json",
            IngestError::InvalidBody(_) => "invalid_body",
            IngestError::InvalidEvent(_) => "invalid_event",
            IngestError::BodyRead => "bad_request",
            IngestError::NotFound => "not_found",
            IngestError::UnknownSource(_) => "unknown_source",
            IngestError::MethodNotAllowed(_) => "method_not_allowed",
            IngestError::Unavailable(SubmitError::Overloaded { .. }) => "overloaded",
            IngestError::Unavailable(SubmitError::ShuttingDown) => "shutting_down",
            IngestError::Unavailable(SubmitError::InFlight) => "in_flight",
            IngestError::Unavailable(SubmitError::Storage(_)) => "storage_unavailable",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({
            "success": false,
            "code": self.code(),
            "message": self.to_string(),
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            IngestError::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            IngestError::Unavailable(SubmitError::Overloaded { retry_after }) => {
                // Whole seconds, at least one: clients cap and floor it, none parse fractions.
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            IngestError::Unavailable(SubmitError::InFlight) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            IngestError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overloaded_carries_retry_after_in_whole_seconds() {
        let r = IngestError::Unavailable(SubmitError::Overloaded {
            retry_after: Duration::from_millis(1500),
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn a_retry_racing_its_first_attempt_is_told_to_come_back_in_a_second() {
        let e = IngestError::Unavailable(SubmitError::InFlight);
        assert_eq!(e.code(), "in_flight");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn bad_gzip_uses_segments_message() {
        assert_eq!(
            IngestError::BadEncoding("gzip").to_string(),
            "Malformed gzip content"
        );
    }
}
