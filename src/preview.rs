//! The one path from an event to the requests a destination sends: which subscriptions match,
//! what each builds, and which refuse the event. `cio-relay preview`, the golden tests and
//! delivery all call [`process`], so "preview says X" means "the relay sends X".

use serde_json::{json, Map, Value};

use crate::actions::{Endpoint, Mode};
use crate::config::Destination;

/// How to choose single or batch mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeChoice {
    /// Each subscription's own `enable_batching` (the presets batch).
    #[default]
    Auto,
    /// Force single mode (one `/api/v2/entity` request per operation).
    Single,
    /// Force batch mode.
    Batch,
}

/// One operation built for an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Index of the subscription in the destination's table.
    pub subscription: usize,
    /// The operation (v2) or metric (v1) body.
    pub body: Value,
    /// Where it goes.
    pub endpoint: Endpoint,
    /// Whether it is sent inside `/api/v2/batch`.
    pub batched: bool,
}

/// A subscription that refused the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub subscription: usize,
    pub status: u16,
    pub message: String,
}

/// What one event becomes for one destination.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Indexes of the matching subscriptions, in table order.
    pub matched: Vec<usize>,
    pub ops: Vec<Op>,
    pub refusals: Vec<Refusal>,
}

/// Runs every matching subscription of `dest` on `event`.
pub fn process(dest: &Destination, event: &Value, choice: ModeChoice) -> Outcome {
    let mut out = Outcome::default();
    for (i, sub) in dest.subscriptions.iter().enumerate() {
        if !sub.trigger.matches(event) {
            continue;
        }
        out.matched.push(i);
        let mode = match choice {
            ModeChoice::Auto => sub.mode(),
            ModeChoice::Single => Mode::Single,
            ModeChoice::Batch => Mode::Batch,
        };
        match sub.run(event, mode) {
            Ok(built) => out.ops.push(Op {
                subscription: i,
                batched: mode == Mode::Batch && built.endpoint == Endpoint::V2,
                body: built.body,
                endpoint: built.endpoint,
            }),
            Err(message) => out.refusals.push(Refusal {
                subscription: i,
                status: 400,
                message,
            }),
        }
    }
    out
}

/// The path of a request for an operation.
pub fn request_path(endpoint: Endpoint, batched: bool) -> &'static str {
    crate::delivery::batcher::Kind::of(endpoint, batched).path()
}

/// One preview line in the golden files' format: `messageId`, `matched`, `requests` (this
/// event's share of each request, with method, URL, headers and body), `error` and, when more
/// than one subscription refused, `errors`.
pub fn preview_line(dest: &Destination, event: &Value, choice: ModeChoice) -> Value {
    let outcome = process(dest, event, choice);
    let name = |i: usize| dest.subscriptions[i].name.as_str();
    let mut headers = Map::new();
    if let Some(c) = &dest.credentials {
        headers.insert("authorization".into(), Value::String(c.basic_auth()));
    }
    headers.insert("content-type".into(), json!("application/json"));
    let requests: Vec<Value> = outcome
        .ops
        .iter()
        .map(|op| {
            let body = if op.batched {
                json!({ "batch": [op.body] })
            } else {
                op.body.clone()
            };
            json!({
                "preset": name(op.subscription),
                "method": "POST",
                "url": format!("{}{}", dest.origin, request_path(op.endpoint, op.batched)),
                "headers": headers,
                "body": body,
            })
        })
        .collect();
    let errors: Vec<Value> = outcome
        .refusals
        .iter()
        .map(|r| {
            json!({
                "status": r.status,
                "message": r.message,
                "type": "PAYLOAD_VALIDATION_FAILED",
                "preset": name(r.subscription),
            })
        })
        .collect();
    let mut line = Map::new();
    line.insert(
        "messageId".into(),
        event.get("messageId").cloned().unwrap_or(Value::Null),
    );
    line.insert(
        "matched".into(),
        Value::Array(outcome.matched.iter().map(|i| json!(name(*i))).collect()),
    );
    line.insert("requests".into(), Value::Array(requests));
    line.insert(
        "error".into(),
        errors.first().cloned().unwrap_or(Value::Null),
    );
    if errors.len() > 1 {
        line.insert("errors".into(), Value::Array(errors));
    }
    Value::Object(line)
}
