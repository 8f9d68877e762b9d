//! What to do with an answer from Customer.io: one classification, used for every request.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::cio::{Response, SendError};

/// One failed operation inside a batch answer (`207`, or `2xx` with `errors`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ItemError {
    pub batch_index: usize,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryAction {
    /// Every operation was accepted.
    Delivered,
    /// The listed operations failed permanently; the others were accepted.
    Partial(Vec<ItemError>),
    /// Try again later. `after` is the server's `Retry-After`; `throttled` marks a 429, which
    /// pauses the whole destination.
    Retry {
        after: Option<Duration>,
        throttled: bool,
        reason: String,
    },
    /// A multi-operation batch was refused as a whole (400/413): split it to find the bad ones.
    Split { status: u16, body: String },
    /// Will never succeed: dead-letter.
    Permanent { status: Option<u16>, body: String },
}

#[derive(Deserialize)]
struct ErrorsBody {
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Whether a status is worth retrying (Segment's published policy).
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 410 | 429 | 460)
        || (500..600).contains(&status) && status != 501 && status != 505
}

/// Classifies an HTTP answer to a request that carried `ops` operations (`batch` = it went to
/// `/api/v2/batch`).
pub fn classify(resp: &Response, ops: usize, batch: bool, now: SystemTime) -> RetryAction {
    let status = resp.status;
    let body_text =
        || String::from_utf8_lossy(&resp.body[..resp.body.len().min(4096)]).into_owned();
    if (200..300).contains(&status) {
        if batch {
            if let Ok(parsed) = serde_json::from_slice::<ErrorsBody>(&resp.body) {
                let items: Vec<ItemError> = parsed
                    .errors
                    .into_iter()
                    .filter_map(|e| serde_json::from_value(e).ok())
                    .filter(|e: &ItemError| e.batch_index < ops)
                    .collect();
                if !items.is_empty() {
                    return RetryAction::Partial(items);
                }
            }
        }
        return RetryAction::Delivered;
    }
    if retryable_status(status) {
        return RetryAction::Retry {
            after: resp
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now)),
            throttled: status == 429,
            reason: format!("HTTP {status}"),
        };
    }
    if batch && ops > 1 && matches!(status, 400 | 413) {
        return RetryAction::Split {
            status,
            body: body_text(),
        };
    }
    RetryAction::Permanent {
        status: Some(status),
        body: body_text(),
    }
}

/// Timeouts and connection errors are always retried.
pub fn classify_error(err: &SendError) -> RetryAction {
    RetryAction::Retry {
        after: None,
        throttled: false,
        reason: err.to_string(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with full jitter: a random delay between half and all of
/// `initial * 2^attempt`, capped at `max`.
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.min(20));
    let cap = exp.min(max);
    let half = cap / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn resp(status: u16, retry_after: Option<&str>, body: &str) -> Response {
        Response {
            status,
            retry_after: retry_after.map(str::to_string),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn statuses() {
        let now = SystemTime::now();
        assert_eq!(
            classify(&resp(200, None, "{}"), 3, true, now),
            RetryAction::Delivered
        );
        for s in [408, 429, 500, 502, 503, 504, 522] {
            assert!(
                matches!(
                    classify(&resp(s, None, ""), 1, false, now),
                    RetryAction::Retry { .. }
                ),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 413, 415, 501, 505] {
            assert!(
                matches!(
                    classify(&resp(s, None, ""), 1, false, now),
                    RetryAction::Permanent { .. }
                ),
                "{s}"
            );
        }
        assert!(matches!(
            classify(&resp(400, None, ""), 2, true, now),
            RetryAction::Split { .. }
        ));
        assert!(matches!(
            classify(&resp(413, None, ""), 2, true, now),
            RetryAction::Split { .. }
        ));
        assert!(matches!(
            classify(&resp(400, None, ""), 1, true, now),
            RetryAction::Permanent { .. }
        ));
    }

    #[test]
    fn partial_batches() {
        let now = SystemTime::now();
        let body = r#"{"errors":[{"batch_index":1,"reason":"required","field":"name","message":"is required"},{"batch_index":9}]}"#;
        match classify(&resp(207, None, body), 3, true, now) {
            RetryAction::Partial(items) => {
                assert_eq!(items.len(), 1);
                assert_eq!(items[0].batch_index, 1);
                assert_eq!(items[0].field.as_deref(), Some("name"));
            }
            other => panic!("{other:?}"),
        }
        // A 2xx with errors counts too.
        assert!(matches!(
            classify(
                &resp(200, None, r#"{"errors":[{"batch_index":0}]}"#),
                2,
                true,
                now
            ),
            RetryAction::Partial(_)
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("soon", now), None);
        match classify(&resp(429, Some("7"), ""), 1, false, now) {
            RetryAction::Retry {
                after, throttled, ..
            } => {
                assert_eq!(after, Some(Duration::from_secs(7)));
                assert!(throttled);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(5);
        for attempt in 0..30 {
            let d = backoff(attempt, i, m);
            assert!(d <= m);
            let full = i.saturating_mul(1 << attempt.min(20)).min(m);
            assert!(d >= full / 2);
        }
    }
}
