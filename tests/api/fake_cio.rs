//! An in-process fake of Customer.io's Track API for delivery tests.
//!
//! It serves `POST /api/v2/entity`, `/api/v2/batch` and `/api/v1/metrics` on `127.0.0.1:0`,
//! checks Basic auth and the JSON content type, enforces the documented size limits, and
//! records every request it gets: method, path, headers, parsed body, the answer it gave and
//! when it arrived and was answered. A fault script decides the answers: a status for the next
//! N requests or for a while (HTML bodies for 502/503/504, as Google's front end sends), 429
//! with `Retry-After`, added latency, a connection closed without an answer, a 207 naming the
//! operations that carry a marker, and 400 for any request that carries a "poison" marker.
//!
//! "Delivered" means what Customer.io would have applied: the operations of 2xx answers, minus
//! those a 207 refused.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The golden files' credentials.
pub const SITE_ID: &str = "site_test";
pub const API_KEY: &str = "key_test";

/// Largest `/api/v2/entity` body and largest operation inside a batch (the contract: 32 kb).
pub const MAX_OPERATION_BYTES: usize = 32_000;
/// Largest `/api/v2/batch` body (500 kb).
pub const MAX_BATCH_BYTES: usize = 500_000;

/// How often the `wait_*` helpers look at the records.
const POLL: Duration = Duration::from_millis(10);

/// What the fake did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It answered with this status.
    Status(u16),
    /// It closed the connection without answering.
    Dropped,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Arrival order, from 0.
    pub seq: usize,
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
    pub answer: Answer,
    /// When the request had been read.
    pub arrived: Instant,
    /// When the answer was handed to the server (or the connection closed).
    pub answered: Instant,
    /// The operations applied: all of them for a 2xx, minus those a 207 refused.
    pub accepted: Vec<Value>,
    /// Indexes (into the batch) of the operations a 207 refused.
    pub refused: Vec<usize>,
}

impl Recorded {
    /// The status answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self.answer {
            Answer::Status(s) => Some(s),
            Answer::Dropped => None,
        }
    }

    /// Whether it was answered 2xx (207 included).
    pub fn succeeded(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }

    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// The operations the body carries, whatever the answer: the batch's elements, or the
    /// body itself for an entity or a metric.
    pub fn ops(&self) -> Vec<Value> {
        operations_of(&self.path, &self.body)
    }

    /// Whether any operation of the body contains `marker` in its JSON text.
    pub fn contains(&self, marker: &str) -> bool {
        self.body.to_string().contains(marker)
    }
}

fn operations_of(path: &str, body: &Value) -> Vec<Value> {
    if path == "/api/v2/batch" {
        body.get("batch")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    } else {
        vec![body.clone()]
    }
}

/// One delivered operation and the path it arrived on.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub path: String,
    pub op: Value,
}

/// How long a rule applies.
#[derive(Debug, Clone, Copy)]
enum Span {
    /// To this many more requests.
    Next(usize),
    /// To every request until then.
    Until(Instant),
    /// To every `n`-th request it sees, for ever.
    Every { n: usize, seen: usize },
}

/// What a rule answers.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Status(u16),
    Throttle { retry_after_secs: u64 },
    Drop,
}

#[derive(Debug, Clone)]
struct Rule {
    path: Option<String>,
    span: Span,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Script {
    rules: Vec<Rule>,
    latency: Option<(Duration, Duration)>,
    refuse_markers: Vec<String>,
    poison_markers: Vec<String>,
}

impl Script {
    /// The fault for a request on `path` arriving at `now`, consuming one use of the first rule
    /// that applies.
    fn take(&mut self, path: &str, now: Instant) -> Option<Fault> {
        self.rules.retain(|r| match r.span {
            Span::Next(n) => n > 0,
            Span::Until(t) => t > now,
            Span::Every { .. } => true,
        });
        for rule in &mut self.rules {
            if rule.path.as_deref().is_some_and(|p| p != path) {
                continue;
            }
            match &mut rule.span {
                Span::Next(n) => {
                    *n -= 1;
                    return Some(rule.fault);
                }
                Span::Until(_) => return Some(rule.fault),
                Span::Every { n, seen } => {
                    *seen += 1;
                    if *seen % *n == 0 {
                        return Some(rule.fault);
                    }
                }
            }
        }
        None
    }

    fn latency(&self) -> Duration {
        match self.latency {
            None => Duration::ZERO,
            Some((lo, hi)) if hi <= lo => lo,
            Some((lo, hi)) => {
                let span = (hi - lo).as_micros() as u64;
                lo + Duration::from_micros(fastrand::u64(0..=span))
            }
        }
    }
}

struct Shared {
    authorization: String,
    next_seq: AtomicUsize,
    records: Mutex<Vec<Recorded>>,
    script: Mutex<Script>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake. Dropping it stops the server.
pub struct FakeCio {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCio {
    /// A fake expecting the golden credentials.
    pub async fn start() -> FakeCio {
        FakeCio::with_credentials(SITE_ID, API_KEY).await
    }

    /// A fake expecting these credentials (anything else gets 401).
    pub async fn with_credentials(site_id: &str, api_key: &str) -> FakeCio {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake");
        let addr = listener.local_addr().expect("fake address");
        let shared = Arc::new(Shared {
            authorization: format!("Basic {}", STANDARD.encode(format!("{site_id}:{api_key}"))),
            next_seq: AtomicUsize::new(0),
            records: Mutex::new(Vec::new()),
            script: Mutex::new(Script::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                FakeListener(listener),
                app.into_make_service_with_connect_info::<Conn>(),
            )
            .await;
        });
        FakeCio { addr, shared, task }
    }

    /// `http://127.0.0.1:port`, for a destination's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn rule(&self, path: Option<&str>, span: Span, fault: Fault) {
        lock(&self.shared.script).rules.push(Rule {
            path: path.map(str::to_string),
            span,
            fault,
        });
    }

    /// Answers the next `n` requests to `path` with `status`.
    pub fn fail_next_on(&self, path: &str, n: usize, status: u16) {
        self.rule(Some(path), Span::Next(n), Fault::Status(status));
    }

    /// Answers every request with `status` for `period`, from now.
    pub fn fail_for(&self, period: Duration, status: u16) {
        self.rule(
            None,
            Span::Until(Instant::now() + period),
            Fault::Status(status),
        );
    }

    /// Answers every `n`-th request with `status`, for ever.
    pub fn fail_every(&self, n: usize, status: u16) {
        self.rule(
            None,
            Span::Every {
                n: n.max(1),
                seen: 0,
            },
            Fault::Status(status),
        );
    }

    /// Answers the next `n` requests 429 with `Retry-After: secs`.
    pub fn throttle_next(&self, n: usize, retry_after_secs: u64) {
        self.rule(None, Span::Next(n), Fault::Throttle { retry_after_secs });
    }

    /// Answers every request 429 with `Retry-After: secs` for `period`, from now.
    pub fn throttle_for(&self, period: Duration, retry_after_secs: u64) {
        self.rule(
            None,
            Span::Until(Instant::now() + period),
            Fault::Throttle { retry_after_secs },
        );
    }

    /// Reads the next `n` requests and closes their connections without answering.
    pub fn drop_next(&self, n: usize) {
        self.rule(None, Span::Next(n), Fault::Drop);
    }

    /// Holds every answer for a random time between `min` and `max`.
    pub fn set_latency(&self, min: Duration, max: Duration) {
        lock(&self.shared.script).latency = Some((min, max));
    }

    /// Refuses, with a 207 entry (400 for an entity), every operation whose JSON contains
    /// `marker`; the rest of its batch is accepted.
    pub fn refuse_ops_containing(&self, marker: &str) {
        lock(&self.shared.script)
            .refuse_markers
            .push(marker.to_string());
    }

    /// Answers 400 to any request (entity or whole batch) whose body contains `marker`.
    pub fn poison(&self, marker: &str) {
        lock(&self.shared.script)
            .poison_markers
            .push(marker.to_string());
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        let mut all = lock(&self.shared.records).clone();
        all.sort_by_key(|r| r.seq);
        all
    }

    /// Every delivered operation with its path, in arrival order (batch order within a request).
    pub fn delivered(&self) -> Vec<Delivered> {
        self.requests()
            .into_iter()
            .filter(Recorded::succeeded)
            .flat_map(|r| {
                let path = r.path;
                r.accepted.into_iter().map(move |op| Delivered {
                    path: path.clone(),
                    op,
                })
            })
            .collect()
    }

    /// Every delivered operation, in arrival order.
    pub fn received_ops(&self) -> Vec<Value> {
        self.delivered().into_iter().map(|d| d.op).collect()
    }

    /// Waits until at least `n` operations are delivered, and returns them all.
    pub async fn wait_for_ops(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let ops = self.received_ops();
            if ops.len() >= n {
                return ops;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} of {n} operations delivered after {timeout:?}; requests: {}",
                    ops.len(),
                    self.summary()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `done` holds for the records, or panics naming `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.requests();
            if done(&records) {
                return records;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; requests: {}",
                    self.summary()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One line per request: path, answer, operation count.
    pub fn summary(&self) -> String {
        let records = self.requests();
        let mut s = format!("{} requests", records.len());
        for r in records.iter().take(200) {
            s.push_str(&format!(
                "\n  #{} {} {:?} ops={} accepted={}",
                r.seq,
                r.path,
                r.answer,
                r.ops().len(),
                r.accepted.len()
            ));
        }
        s
    }
}

// ------------------------------------------------------------------ the handler

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().to_string();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut record = Recorded {
        seq,
        method: method.to_string(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: parsed,
        answer: Answer::Status(0),
        arrived,
        answered: arrived,
        accepted: Vec::new(),
        refused: Vec::new(),
    };
    let (fault, latency, refuse, poison) = {
        let mut script = lock(&shared.script);
        let fault = script.take(&path, arrived);
        (
            fault,
            script.latency(),
            script.refuse_markers.clone(),
            script.poison_markers.clone(),
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match fault {
        Some(Fault::Drop) => {
            record.answer = Answer::Dropped;
            record.answered = Instant::now();
            lock(&shared.records).push(record);
            conn.kill.fire();
            // The server notices the closed connection and drops this future; the sleep only
            // bounds it should that ever not happen.
            tokio::time::sleep(Duration::from_secs(300)).await;
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Fault::Status(s)) => error_response(s),
        Some(Fault::Throttle { retry_after_secs }) => {
            let mut r = meta_error(429, "Too many requests");
            r.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after_secs.to_string().parse().expect("a number"),
            );
            r
        }
        None => answer(&mut record, &headers, &body, &shared, &refuse, &poison),
    };
    record.answer = Answer::Status(response.status().as_u16());
    record.answered = Instant::now();
    lock(&shared.records).push(record);
    response
}

/// The fault-free answer: auth, content type, route, shape and limits, then the markers.
fn answer(
    record: &mut Recorded,
    headers: &HeaderMap,
    raw: &Bytes,
    shared: &Shared,
    refuse: &[String],
    poison: &[String],
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(shared.authorization.as_str()) {
        return meta_error(401, "Unauthorized request");
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/json") {
        return meta_error(415, "Content-Type must be application/json");
    }
    let path = record.path.as_str();
    let batch = match (record.method.as_str(), path) {
        ("POST", "/api/v2/batch") => true,
        ("POST", "/api/v2/entity" | "/api/v1/metrics") => false,
        _ => return meta_error(404, "Not found"),
    };
    let limit = if batch {
        MAX_BATCH_BYTES
    } else {
        MAX_OPERATION_BYTES
    };
    if raw.len() > limit {
        return meta_error(413, "Request entity too large");
    }
    let body = &record.body;
    let ops = match (batch, body) {
        (true, Value::Object(m)) => match m.get("batch").and_then(Value::as_array) {
            Some(ops) if !ops.is_empty() => ops.clone(),
            _ => return errors_response(400, &[item(None, "required", "batch", "is required")]),
        },
        (false, Value::Object(_)) => vec![body.clone()],
        _ => {
            return errors_response(
                400,
                &[item(None, "invalid", "body", "is not a JSON object")],
            )
        }
    };
    let text = |op: &Value| op.to_string();
    if poison
        .iter()
        .any(|m| ops.iter().any(|op| text(op).contains(m.as_str())))
    {
        return errors_response(
            400,
            &[item(None, "invalid", "attributes", "poisoned operation")],
        );
    }
    let mut refused = Vec::new();
    let mut entries = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let t = text(op);
        if t.len() > MAX_OPERATION_BYTES {
            refused.push(i);
            entries.push(item(
                Some(i),
                "invalid",
                "",
                "operation is larger than 32kb",
            ));
        } else if refuse.iter().any(|m| t.contains(m.as_str())) {
            refused.push(i);
            entries.push(item(Some(i), "invalid", "name", "refused by the fake"));
        }
    }
    if !batch && !refused.is_empty() {
        return errors_response(400, &[item(None, "invalid", "name", "refused by the fake")]);
    }
    record.accepted = ops
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !refused.contains(i))
        .map(|(_, op)| op)
        .collect();
    record.refused = refused;
    if entries.is_empty() {
        json_response(200, json!({}))
    } else {
        errors_response(207, &entries)
    }
}

fn item(batch_index: Option<usize>, reason: &str, field: &str, message: &str) -> Value {
    let mut e = json!({ "reason": reason, "field": field, "message": message });
    if let Some(i) = batch_index {
        e["batch_index"] = json!(i);
    }
    e
}

fn json_response(status: u16, body: Value) -> Response {
    let mut r = Response::new(Body::from(format!("{body}\n")));
    *r.status_mut() = StatusCode::from_u16(status).expect("valid status");
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json; charset=utf-8".parse().expect("static"),
    );
    r
}

fn errors_response(status: u16, entries: &[Value]) -> Response {
    json_response(status, json!({ "errors": entries }))
}

fn meta_error(status: u16, message: &str) -> Response {
    json_response(status, json!({ "meta": { "error": message } }))
}

/// An injected error: Google's front end answers 502/503/504 with HTML.
fn error_response(status: u16) -> Response {
    if matches!(status, 502..=504) {
        let code = StatusCode::from_u16(status).expect("valid status");
        let html = format!(
            "<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error {status} ({})</title>\
             <p><b>{status}.</b> <ins>That's an error.</ins></p></html>\n",
            code.canonical_reason().unwrap_or("Server Error")
        );
        let mut r = Response::new(Body::from(html));
        *r.status_mut() = code;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            "text/html; charset=UTF-8".parse().expect("static"),
        );
        r
    } else {
        meta_error(status, "injected failure")
    }
}

// ------------------------------------------------------------------ dropping connections

/// Lets a handler close the connection its request came on.
#[derive(Default)]
struct Kill {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Kill {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// A connection's identity, given to handlers as `ConnectInfo`.
#[derive(Clone)]
struct Conn {
    kill: Arc<Kill>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({})", self.peer)
    }
}

impl Connected<IncomingStream<'_, FakeListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections a handler can kill.
struct FakeListener(TcpListener);

impl Listener for FakeListener {
    type Io = KillableIo;
    type Addr = Conn;

    async fn accept(&mut self) -> (KillableIo, Conn) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    let kill = Arc::new(Kill::default());
                    return (
                        KillableIo {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        Conn { kill, peer },
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Conn> {
        Ok(Conn {
            kill: Arc::default(),
            peer: self.0.local_addr()?,
        })
    }
}

/// A TCP stream that fails every read and write once its connection is killed. The server
/// keeps reading a connection while its handler runs (to notice a client going away), so a
/// killed connection errors at once and the server closes the socket: the client sees the
/// connection closed before any answer.
struct KillableIo {
    inner: TcpStream,
    kill: Arc<Kill>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection dropped by the fake",
    )
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.fired() {
            return Poll::Ready(Err(killed()));
        }
        *lock(&self.kill.waker) = Some(cx.waker().clone());
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.fired() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.fired() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ------------------------------------------------------------------ comparing operations

/// A canonical text for a JSON value: object keys sorted, numbers by value (`1` equals `1.0`),
/// arrays in order. Two operations are the same when their canonical texts are equal.
pub fn canonical(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, &Value> = m.iter().collect();
                out.push('{');
                for (k, v) in sorted {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    walk(v, out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for v in a {
                    walk(v, out);
                    out.push(',');
                }
                out.push(']');
            }
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                    out.push_str(&(f as i64).to_string())
                }
                _ => out.push_str(&n.to_string()),
            },
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    walk(v, &mut s);
    s
}
