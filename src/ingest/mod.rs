//! The ingest HTTP API, compatible with Segment's Tracking API so that Segment's client
//! libraries (pointed at this host), raw HTTP senders and Segment's webhook destinations work
//! unchanged.
//!
//! | Path | Body |
//! | --- | --- |
//! | `/v1/track` `identify` `page` `screen` `group` `alias`, short `/v1/t` `i` `p` `s` `g` `a` | one event; the path sets its type |
//! | `/v1/batch`, `/v1/import`, `/v1/b` | `{"batch": [...], "context"?, "integrations"?, "sentAt"?, "writeKey"?}` |
//! | `/v1/m` | the browser library's own telemetry: no key, answered 200 and dropped |
//! | `GET /v1/projects/{writeKey}/settings` | the source settings the browser library loads first ([`settings`]) |
//! | `/webhook/{source}` | a Segment webhook: one event (classic) or a bare array (Actions batch) |
//! | `/healthz`, `/readyz`, `/metrics` | liveness, readiness, Prometheus text |
//!
//! Paths match case-insensitively with or without a trailing slash and are never redirected:
//! clients count a 3xx as delivered, and fetch turns a redirected POST into a body-less GET.
//! One fallback handler normalizes the path and dispatches, so there is no router-level
//! redirect to fall into. Every response carries CORS headers (browsers drop and retry an
//! accepted event whose answer lacks them) and an `x-request-id`.
//!
//! A batch answers 200 even when some items are invalid: every client drops a whole request on
//! a 400, so one bad item would lose the good ones (trap T2). The bad ones are dropped, counted,
//! logged and listed in the answer.

pub mod auth;
pub mod body;
pub mod error;
pub mod settings;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::delivery::Incoming;
use crate::event::normalize::merge_envelope;
use crate::event::{Arrival, EventError, EventType, Fields, Origin, Refusal, Rules, SegmentEvent};
use crate::telemetry::metrics::labels;
pub use error::IngestError;

/// Methods the ingest paths take (Segment's edge takes PUT as well as POST).
const INGEST_METHODS: &str = "POST, PUT, OPTIONS";
/// Methods webhook paths take (Webhooks (Actions) can be set to PUT or PATCH).
const WEBHOOK_METHODS: &str = "POST, PUT, PATCH, OPTIONS";
/// Methods the health and metrics paths take.
const READ_METHODS: &str = "GET, HEAD";
/// What a preflight allows when the browser names no headers.
const DEFAULT_ALLOWED_HEADERS: &str = "authorization, content-type, content-encoding";
/// A week, as Segment's edge answers: one preflight per path per browser per week.
const PREFLIGHT_MAX_AGE: &str = "604800";
/// The browser library's telemetry is tiny; read this much of it, at most, before answering.
const TELEMETRY_DRAIN_BYTES: usize = 64 << 10;
/// Refused events logged one by one per request; the rest are summed up in one line, so a
/// batch of thousands of bad items cannot flood the log.
const REFUSALS_LOGGED_PER_REQUEST: usize = 10;

/// The full router: every path goes through one dispatcher, wrapped in request ids and tracing.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .on_failure(
                        // A 5xx from ingest is a 503 under backpressure, already counted in metrics;
                        // one ERROR line per refused request would flood the log exactly when it
                        // matters.
                        tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                    )
                    .make_span_with(|req: &Request| {
                        let request_id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            path = %loggable_path(req.uri().path()),
                            request_id,
                        )
                    }),
            )
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// The path as logged: a settings path carries a write key, which logs never show.
fn loggable_path(path: &str) -> &str {
    let maybe_settings = path
        .as_bytes()
        .windows(10)
        .any(|w| w.eq_ignore_ascii_case(b"/projects/"));
    if maybe_settings {
        if let route @ Route::Settings(_) = Route::classify(path) {
            return route.label();
        }
    }
    path
}

/// What a request path names, after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// A single-event path and the type it implies.
    Single {
        kind: EventType,
        label: &'static str,
    },
    /// A batch path.
    Batch {
        label: &'static str,
    },
    /// `/v1/m`.
    Telemetry,
    /// `/v1/projects/{writeKey}/settings`, with the key as written (keys are case-sensitive).
    Settings(String),
    /// `/webhook/{source}`, with the source name as written (names are case-sensitive).
    Webhook(String),
    Health,
    Ready,
    Metrics,
    NotFound,
}

impl Route {
    /// Classifies a raw path: repeated slashes collapse, trailing slashes go, case is ignored
    /// (except in a webhook's source name).
    fn classify(path: &str) -> Route {
        let mut normalized = String::with_capacity(path.len());
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            normalized.push('/');
            normalized.push_str(segment);
        }
        if let Some(prefix) = normalized.get(..9) {
            if prefix.eq_ignore_ascii_case("/webhook/") {
                let name = &normalized[9..];
                return if name.contains('/') {
                    Route::NotFound
                } else {
                    Route::Webhook(name.to_string())
                };
            }
        }
        if let Some(key) = settings_key(&normalized) {
            return Route::Settings(key.to_string());
        }
        normalized.make_ascii_lowercase();
        let single = |kind, label| Route::Single { kind, label };
        match normalized.as_str() {
            "/v1/track" => single(EventType::Track, "/v1/track"),
            "/v1/identify" => single(EventType::Identify, "/v1/identify"),
            "/v1/page" => single(EventType::Page, "/v1/page"),
            "/v1/screen" => single(EventType::Screen, "/v1/screen"),
            "/v1/group" => single(EventType::Group, "/v1/group"),
            "/v1/alias" => single(EventType::Alias, "/v1/alias"),
            "/v1/t" => single(EventType::Track, "/v1/t"),
            "/v1/i" => single(EventType::Identify, "/v1/i"),
            "/v1/p" => single(EventType::Page, "/v1/p"),
            "/v1/s" => single(EventType::Screen, "/v1/s"),
            "/v1/g" => single(EventType::Group, "/v1/g"),
            "/v1/a" => single(EventType::Alias, "/v1/a"),
            "/v1/batch" => Route::Batch { label: "/v1/batch" },
            "/v1/import" => Route::Batch {
                label: "/v1/import",
            },
            "/v1/b" => Route::Batch { label: "/v1/b" },
            "/v1/m" => Route::Telemetry,
            "/healthz" => Route::Health,
            "/readyz" => Route::Ready,
            "/metrics" => Route::Metrics,
            _ => Route::NotFound,
        }
    }

    /// The `route` label: a fixed set, so an arbitrary path cannot grow the metrics.
    fn label(&self) -> &'static str {
        match self {
            Route::Single { label, .. } | Route::Batch { label } => label,
            Route::Telemetry => "/v1/m",
            Route::Settings(_) => "/v1/projects/{writeKey}/settings",
            Route::Webhook(_) => "/webhook/{source}",
            Route::Health => "/healthz",
            Route::Ready => "/readyz",
            Route::Metrics => "/metrics",
            Route::NotFound => "unmatched",
        }
    }
}

/// The key in `/v1/projects/{key}/settings` (path already normalized; prefix and suffix in any
/// case).
fn settings_key(path: &str) -> Option<&str> {
    const PREFIX: &str = "/v1/projects/";
    const SUFFIX: &str = "/settings";
    let head = path.get(..PREFIX.len())?;
    let tail = path.get(path.len().checked_sub(SUFFIX.len())?..)?;
    if !head.eq_ignore_ascii_case(PREFIX) || !tail.eq_ignore_ascii_case(SUFFIX) {
        return None;
    }
    let key = path.get(PREFIX.len()..path.len() - SUFFIX.len())?;
    (!key.is_empty() && !key.contains('/')).then_some(key)
}

/// Every request lands here: preflight or handler, then CORS headers and the request metric.
async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let received_at = Utc::now();
    let route = Route::classify(req.uri().path());
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut response = if req.method() == Method::OPTIONS {
        preflight(req.headers())
    } else {
        match handle(&state, &route, req, received_at).await {
            Ok(response) => response,
            Err(error) => {
                if error.status().is_server_error() {
                    tracing::warn!(route = route.label(), %error, "Ingest unavailable");
                } else {
                    tracing::debug!(route = route.label(), %error, "Request refused");
                }
                error.into_response()
            }
        }
    };
    allow_origin(response.headers_mut(), origin);
    state
        .metrics
        .http_request_duration
        .get_or_create(&labels([
            ("route", route.label()),
            ("status", response.status().as_str()),
        ]))
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn handle(
    state: &AppState,
    route: &Route,
    req: Request,
    received_at: DateTime<Utc>,
) -> Result<Response, IngestError> {
    let method = req.method();
    if matches!(
        route,
        Route::Single { .. } | Route::Batch { .. } | Route::Webhook(_)
    ) && state.pipeline.is_full()
    {
        // Answer before reading the body: a full relay must stay cheap to refuse, or the
        // refusals themselves take the CPU that delivery needs to drain the spool.
        return Err(IngestError::Unavailable(
            crate::delivery::SubmitError::Overloaded {
                retry_after: std::time::Duration::from_secs(5),
            },
        ));
    }
    match route {
        Route::Single { kind, label } => {
            allow(method, &[Method::POST, Method::PUT], INGEST_METHODS)?;
            single(state, *kind, label, req, received_at).await
        }
        Route::Batch { label } => {
            allow(method, &[Method::POST, Method::PUT], INGEST_METHODS)?;
            batch(state, label, req, received_at).await
        }
        Route::Telemetry => {
            // Not an event and carries no key: accept and drop, so browsers see no errors.
            body::discard(req.into_body(), TELEMETRY_DRAIN_BYTES).await;
            Ok(success(&[]))
        }
        Route::Settings(key) => {
            allow(method, &[Method::GET, Method::HEAD], READ_METHODS)?;
            let (parts, _) = req.into_parts();
            if state.write_keys.contains_key(key.as_str()) {
                Ok(settings::response(key, &parts.headers))
            } else {
                let reason = "Unknown write key";
                auth::Caller::from_parts(&parts).warn_refused(route.label(), Some(key), reason);
                Err(IngestError::Unauthorized(reason))
            }
        }
        Route::Webhook(name) => {
            allow(
                method,
                &[Method::POST, Method::PUT, Method::PATCH],
                WEBHOOK_METHODS,
            )?;
            webhook(state, name, req, received_at).await
        }
        Route::Health => {
            allow(method, &[Method::GET, Method::HEAD], READ_METHODS)?;
            Ok(Json(json!({"status": "ok"})).into_response())
        }
        Route::Ready => {
            allow(method, &[Method::GET, Method::HEAD], READ_METHODS)?;
            let status = if !state.ready.load(Ordering::SeqCst) {
                Some("shutting_down")
            } else if state.pipeline.is_full() {
                // The spool is at its limit: ingest answers 503 until delivery drains it.
                Some("spool_full")
            } else {
                None
            };
            Ok(match status {
                None => Json(json!({"status": "ready"})).into_response(),
                Some(s) => {
                    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": s}))).into_response()
                }
            })
        }
        Route::Metrics => {
            allow(method, &[Method::GET, Method::HEAD], READ_METHODS)?;
            Ok((
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                state.metrics.render(),
            )
                .into_response())
        }
        Route::NotFound => Err(IngestError::NotFound),
    }
}

fn allow(method: &Method, allowed: &[Method], header: &'static str) -> Result<(), IngestError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(IngestError::MethodNotAllowed(header))
    }
}

/// `200 {"success": true}` (Segment's answer), plus `rejected` and `errors` when batch items
/// were dropped; clients ignore the extra fields.
fn success(errors: &[ItemError]) -> Response {
    if errors.is_empty() {
        return Json(json!({"success": true})).into_response();
    }
    Json(json!({
        "success": true,
        "rejected": errors.len(),
        "errors": errors,
    }))
    .into_response()
}

/// A CORS preflight: any origin, the ingest methods, whatever headers the browser asks for.
fn preflight(headers: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(INGEST_METHODS),
    );
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS));
    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    out.append(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Headers"),
    );
    response
}

/// `Access-Control-Allow-Origin` on every response: the Origin echoed (with credentials
/// allowed, which `*` cannot carry), or `*` when there is none.
fn allow_origin(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    match origin {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After, X-Request-Id"),
    );
}

/// One event on `/v1/<type>` or `/v1/<t>`.
async fn single(
    state: &AppState,
    kind: EventType,
    route: &'static str,
    req: Request,
    received_at: DateTime<Utc>,
) -> Result<Response, IngestError> {
    let (parts, body) = req.into_parts();
    let bytes = body::read(&parts.headers, body, state.config.server.max_message_bytes).await?;
    if first_byte(&bytes) != Some(b'{') {
        body::parse_json::<serde::de::IgnoredAny>(&bytes)?;
        return Err(IngestError::InvalidBody(
            "The body must be a JSON object: one event",
        ));
    }
    let fields: Fields = body::parse_json(&bytes)?;
    let source = {
        let body_key = auth::key_from_body(&fields);
        authenticate(state, &parts, route, body_key.as_deref())?
    };
    let mut intake = Intake::new(state, source, route, Origin::Api, Some(kind), received_at);
    match intake.offer(0, fields) {
        Ok(()) => intake.finish().await,
        Err(error) => {
            intake.record();
            Err(error.into())
        }
    }
}

/// The envelope of `/v1/batch`, `/v1/import` and `/v1/b`. Items stay raw until each is looked
/// at, so each one's size is its size as sent.
#[derive(Deserialize)]
struct BatchEnvelope<'a> {
    #[serde(borrow, default)]
    batch: Option<&'a RawValue>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    integrations: Option<Value>,
    #[serde(default, rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(default, rename = "writeKey")]
    write_key: Option<Value>,
}

/// A batch: bad items are dropped and listed, the rest accepted.
async fn batch(
    state: &AppState,
    route: &'static str,
    req: Request,
    received_at: DateTime<Utc>,
) -> Result<Response, IngestError> {
    let (parts, body) = req.into_parts();
    let bytes = body::read(&parts.headers, body, state.config.server.max_batch_bytes).await?;
    if first_byte(&bytes) != Some(b'{') {
        body::parse_json::<serde::de::IgnoredAny>(&bytes)?;
        return Err(IngestError::InvalidBody(
            "The body must be a JSON object with a `batch` array",
        ));
    }
    let envelope: BatchEnvelope = body::parse_json(&bytes)?;
    let body_key = envelope
        .write_key
        .as_ref()
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let source = authenticate(state, &parts, route, body_key)?;
    let Some(raw_batch) = envelope.batch else {
        return Err(IngestError::InvalidBody("`batch` is required"));
    };
    let items: Vec<&RawValue> = serde_json::from_str(raw_batch.get())
        .map_err(|_| IngestError::InvalidBody("`batch` must be an array of events"))?;
    let context = envelope.context.as_ref().and_then(Value::as_object);
    let integrations = envelope.integrations.as_ref().and_then(Value::as_object);
    let sent_at = envelope.sent_at.as_ref();
    let mut intake = Intake::new(state, source, route, Origin::Api, None, received_at);
    for (index, raw) in items.into_iter().enumerate() {
        if let Some(mut fields) = intake.open(index, raw) {
            merge_envelope(&mut fields, context, integrations, sent_at);
            // A refused item is counted and listed by the intake; the batch goes on.
            let _ = intake.offer(index, fields);
        }
    }
    intake.finish().await
}

/// `POST /webhook/{source}`: a classic Webhooks event (one object) or a Webhooks (Actions)
/// batch (a bare array).
async fn webhook(
    state: &AppState,
    name: &str,
    req: Request,
    received_at: DateTime<Utc>,
) -> Result<Response, IngestError> {
    const ROUTE: &str = "/webhook/{source}";
    let source_index = state
        .source_names
        .get(name)
        .copied()
        .ok_or_else(|| IngestError::UnknownSource(name.to_string()))?;
    let source = &state.config.sources[source_index];
    let (parts, body) = req.into_parts();
    let server = &state.config.server;
    let bytes = body::read(&parts.headers, body, server.max_batch_bytes).await?;
    let payload = match first_byte(&bytes) {
        Some(b'[') => WebhookBody::Batch(body::parse_json::<Vec<&RawValue>>(&bytes)?),
        Some(b'{') => {
            if bytes.len() > server.max_message_bytes {
                return Err(IngestError::PayloadTooLarge {
                    limit: server.max_message_bytes,
                });
            }
            WebhookBody::Event(body::parse_json(&bytes)?)
        }
        _ => {
            body::parse_json::<serde::de::IgnoredAny>(&bytes)?;
            return Err(IngestError::InvalidBody(
                "The body must be one event (an object) or an array of events",
            ));
        }
    };

    let caller = auth::Caller::from_parts(&parts);
    if let Some(secret) = &source.webhook_secret {
        // Classic webhooks sign the whole body; Webhooks (Actions) batches sign only the first
        // element, exactly as sent (the destination's code and tests do this).
        let signed: Option<&[u8]> = match &payload {
            WebhookBody::Event(_) => Some(&bytes),
            WebhookBody::Batch(items) => items.first().map(|raw| raw.get().as_bytes()),
        };
        let given = parts.headers.get(auth::SIGNATURE_HEADER);
        if !signed.is_some_and(|signed| auth::signature_valid(secret, signed, given)) {
            let reason = if given.is_none() {
                "Missing X-Signature"
            } else {
                "X-Signature does not match the body"
            };
            caller.warn_refused(ROUTE, None, reason);
            return Err(IngestError::BadSignature(reason));
        }
    } else if let Some(key) = &source.write_key {
        let header_key = auth::key_from_headers(&parts.headers);
        let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri).ok();
        let query_key = query
            .as_ref()
            .and_then(|q| q.get("writeKey"))
            .map(String::as_str);
        let body_key = match &payload {
            WebhookBody::Event(fields) => auth::key_from_body(fields),
            WebhookBody::Batch(_) => None,
        };
        let candidates = [header_key.as_deref(), query_key, body_key.as_deref()];
        if !candidates
            .into_iter()
            .flatten()
            .any(|presented| auth::key_matches(key, presented))
        {
            let presented = candidates.into_iter().flatten().next();
            let reason = if presented.is_some() {
                "Unknown write key"
            } else {
                "Missing write key"
            };
            caller.warn_refused(ROUTE, presented, reason);
            return Err(IngestError::Unauthorized(reason));
        }
    }

    let mut intake = Intake::new(
        state,
        source_index,
        ROUTE,
        Origin::Webhook,
        None,
        received_at,
    );
    match payload {
        WebhookBody::Event(fields) => match intake.offer(0, fields) {
            Ok(()) => intake.finish().await,
            Err(error) => {
                intake.record();
                Err(error.into())
            }
        },
        WebhookBody::Batch(items) => {
            for (index, raw) in items.into_iter().enumerate() {
                if let Some(fields) = intake.open(index, raw) {
                    let _ = intake.offer(index, fields);
                }
            }
            intake.finish().await
        }
    }
}

/// A parsed webhook body.
enum WebhookBody<'a> {
    Event(Fields<'a>),
    Batch(Vec<&'a RawValue>),
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Finds the source for an API request: the `Authorization` header first, then the body's
/// `writeKey`. A refusal is logged at WARN with the caller (never the key).
fn authenticate(
    state: &AppState,
    parts: &Parts,
    route: &'static str,
    body_key: Option<&str>,
) -> Result<usize, IngestError> {
    let header_key = auth::key_from_headers(&parts.headers);
    if let Some(source) = auth::find_source(&state.write_keys, [header_key.as_deref(), body_key]) {
        return Ok(source);
    }
    let presented = header_key.as_deref().or(body_key);
    let reason = if presented.is_some() {
        "Unknown write key"
    } else {
        "Missing write key: send it as the Basic auth user name, a Bearer token, or writeKey in the body"
    };
    auth::Caller::from_parts(parts).warn_refused(route, presented, reason);
    Err(IngestError::Unauthorized(reason))
}

/// One refused batch item, as listed in the answer.
#[derive(Debug, Serialize)]
struct ItemError {
    index: usize,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    message: String,
}

/// What happened to an event, the `outcome` label of `events_received`.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Handed to delivery.
    Accepted = 0,
    /// Invalid: dropped and reported.
    Rejected,
    /// Valid but not for this destination (`integrations`, or a `delete` notice).
    Filtered,
    /// Valid, but delivery could not take it (503; the client retries).
    Unavailable,
}

impl Outcome {
    const ALL: [Outcome; 4] = [
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::Filtered,
        Outcome::Unavailable,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Filtered => "filtered",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Event counts of one request by type (plus "unknown") and outcome, added to the metric once
/// per request rather than once per event.
#[derive(Debug, Default)]
struct Tally {
    counts: [[u64; Outcome::ALL.len()]; EventType::ALL.len() + 1],
}

impl Tally {
    fn add(&mut self, kind: Option<EventType>, outcome: Outcome) {
        let row = kind.map_or(EventType::ALL.len(), EventType::index);
        self.counts[row][outcome as usize] += 1;
    }

    /// What was counted as accepted becomes unavailable (delivery refused the request).
    fn accepted_unavailable(&mut self) {
        for row in &mut self.counts {
            row[Outcome::Unavailable as usize] +=
                std::mem::take(&mut row[Outcome::Accepted as usize]);
        }
    }
}

/// The events of one request, on their way from raw JSON to delivery.
struct Intake<'s> {
    state: &'s AppState,
    source: usize,
    route: &'static str,
    arrival: Arrival,
    events: Vec<Incoming>,
    errors: Vec<ItemError>,
    tally: Tally,
}

impl<'s> Intake<'s> {
    fn new(
        state: &'s AppState,
        source: usize,
        route: &'static str,
        origin: Origin,
        path_type: Option<EventType>,
        received_at: DateTime<Utc>,
    ) -> Intake<'s> {
        let require_ids = state.config.sources[source].require_ids;
        Intake {
            state,
            source,
            route,
            arrival: Arrival {
                rules: Rules {
                    origin,
                    require_ids,
                },
                path_type,
                received_at,
            },
            events: Vec::new(),
            errors: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Parses one raw batch item, refusing it when it is over the per-event limit or not an
    /// object.
    fn open<'r>(&mut self, index: usize, raw: &'r RawValue) -> Option<Fields<'r>> {
        let limit = self.state.config.server.max_message_bytes;
        let size = raw.get().len();
        if size > limit {
            let _ = self.refuse(index, Refusal::new(EventError::TooLarge { size, limit }));
            return None;
        }
        match Fields::parse(raw.get()) {
            Ok(fields) => Some(fields),
            Err(e) => {
                let error = if raw.get().starts_with('{') {
                    EventError::InvalidJson(e.to_string())
                } else {
                    EventError::NotAnObject
                };
                let _ = self.refuse(index, Refusal::new(error));
                None
            }
        }
    }

    /// Checks and normalizes one event; keeps it for delivery, counts it as filtered, or
    /// refuses it (counted, logged, listed; the error is returned for single-event paths).
    fn offer(&mut self, index: usize, fields: Fields<'_>) -> Result<(), EventError> {
        match SegmentEvent::accept(fields, &self.arrival) {
            Ok(event) => {
                if event.is_for_customerio() {
                    self.tally.add(Some(event.kind()), Outcome::Accepted);
                    self.events.push(Incoming {
                        message_id: event.message_id().unwrap_or_default().into_owned(),
                        json: event.to_json().into(),
                    });
                } else {
                    self.tally.add(Some(event.kind()), Outcome::Filtered);
                }
                Ok(())
            }
            Err(refusal) => self.refuse(index, refusal),
        }
    }

    fn refuse(&mut self, index: usize, refusal: Refusal) -> Result<(), EventError> {
        self.tally.add(refusal.kind, Outcome::Rejected);
        if self.errors.len() < REFUSALS_LOGGED_PER_REQUEST {
            tracing::warn!(
                source = %self.state.config.sources[self.source].name,
                route = self.route,
                index,
                message_id = refusal.message_id.as_deref().unwrap_or(""),
                reason = %refusal.error,
                "Refused an event"
            );
        }
        self.errors.push(ItemError {
            index,
            message_id: refusal.message_id,
            message: refusal.error.to_string(),
        });
        Err(refusal.error)
    }

    /// Adds this request's counts to `events_received`.
    fn record(&self) {
        let source = self.state.config.sources[self.source].name.as_str();
        let unlogged = self
            .errors
            .len()
            .saturating_sub(REFUSALS_LOGGED_PER_REQUEST);
        if unlogged > 0 {
            tracing::warn!(
                source,
                route = self.route,
                count = unlogged,
                "Refused more events in the same request (not logged one by one)"
            );
        }
        for (row, counts) in self.tally.counts.iter().enumerate() {
            let kind = EventType::ALL.get(row).map_or("unknown", |k| k.as_str());
            for outcome in Outcome::ALL {
                let n = counts[outcome as usize];
                if n > 0 {
                    self.state
                        .metrics
                        .events_received
                        .get_or_create(&labels([
                            ("source", source),
                            ("type", kind),
                            ("outcome", outcome.as_str()),
                        ]))
                        .inc_by(n);
                }
            }
        }
    }

    /// Hands the accepted events to delivery and answers.
    async fn finish(mut self) -> Result<Response, IngestError> {
        let result = if self.events.is_empty() {
            Ok(())
        } else {
            let events = std::mem::take(&mut self.events);
            self.state.pipeline.submit(self.source, events).await
        };
        if result.is_err() {
            self.tally.accepted_unavailable();
        }
        self.record();
        result?;
        Ok(success(&self.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize() {
        assert_eq!(
            Route::classify("/v1/Track/"),
            Route::Single {
                kind: EventType::Track,
                label: "/v1/track"
            }
        );
        assert_eq!(Route::classify("//V1//B"), Route::Batch { label: "/v1/b" });
        assert_eq!(
            Route::classify("/v1/IMPORT"),
            Route::Batch {
                label: "/v1/import"
            }
        );
        assert_eq!(Route::classify("/v1/m/"), Route::Telemetry);
        assert_eq!(
            Route::classify("/V1/Projects/wk_AbC/Settings/"),
            Route::Settings("wk_AbC".into())
        );
        assert_eq!(Route::classify("/v1/projects//settings"), Route::NotFound);
        assert_eq!(
            Route::classify("/v1/projects/a/b/settings"),
            Route::NotFound
        );
        assert_eq!(Route::classify("/v1/x"), Route::NotFound);
        assert_eq!(Route::classify("/"), Route::NotFound);
        assert_eq!(Route::classify(""), Route::NotFound);
    }

    #[test]
    fn logged_paths_never_show_a_write_key() {
        assert_eq!(
            loggable_path("//v1/Projects/secret-key/settings/"),
            "/v1/projects/{writeKey}/settings"
        );
        assert_eq!(loggable_path("/v1/track"), "/v1/track");
        assert_eq!(loggable_path("/v1/projects/x"), "/v1/projects/x");
    }

    #[test]
    fn webhook_names_keep_their_case() {
        assert_eq!(
            Route::classify("/Webhook/MySource/"),
            Route::Webhook("MySource".into())
        );
        assert_eq!(Route::classify("/webhook/a/b"), Route::NotFound);
        assert_eq!(Route::classify("/webhook/"), Route::NotFound);
    }

    #[test]
    fn tally_moves_accepted_to_unavailable() {
        let mut t = Tally::default();
        t.add(Some(EventType::Track), Outcome::Accepted);
        t.add(None, Outcome::Rejected);
        t.accepted_unavailable();
        assert_eq!(t.counts[0][Outcome::Accepted as usize], 0);
        assert_eq!(t.counts[0][Outcome::Unavailable as usize], 1);
        assert_eq!(
            t.counts[EventType::ALL.len()][Outcome::Rejected as usize],
            1
        );
    }
}
