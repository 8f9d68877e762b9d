//! The one path from an event to the requests a destination sends: which subscriptions match,
//! what each builds, and which refuse the event. `cio-relay preview`, the golden tests and
//! delivery all call [`process`], so "preview says X" means "the relay sends X".

use serde_json::{json, Map, Value};

use crate::actions::{Endpoint, Mode};
use crate::config::Destination;
use crate::event::{EventKeys, Fields};

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
    run_matched(dest, event, matching(dest, event), choice)
}

/// The indexes of the subscriptions whose trigger selects `event`, in table order.
fn matching(dest: &Destination, event: &Value) -> Vec<usize> {
    dest.subscriptions
        .iter()
        .enumerate()
        .filter(|(_, sub)| sub.trigger.matches(event))
        .map(|(i, _)| i)
        .collect()
}

/// [`process`] on an event in its stored form, parsing only what is read: first the
/// top-level fields the destination's triggers read, then those the matching subscriptions'
/// mappings read. The outcome is the one [`process`] gives on the whole event, since a trigger
/// or mapping only ever reads the fields it names ([`crate::event::EventKeys`]).
pub fn process_partial(
    dest: &Destination,
    event: &mut PartialEvent<'_, '_>,
    choice: ModeChoice,
) -> Outcome {
    let matched = matching(dest, event.with(&dest.trigger_keys));
    for &i in &matched {
        event.with(&dest.subscriptions[i].mapping_keys);
    }
    run_matched(dest, event.current(), matched, choice)
}

/// Runs the `matched` subscriptions (indexes in `dest`'s table, in order) on `event`.
fn run_matched(
    dest: &Destination,
    event: &Value,
    matched: Vec<usize>,
    choice: ModeChoice,
) -> Outcome {
    let mut out = Outcome::default();
    for &i in &matched {
        let sub = &dest.subscriptions[i];
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
    out.matched = matched;
    out
}

/// An event parsed as far as something has needed: the top-level fields asked for so far,
/// parsed from the stored event's [`Fields`] on first use.
#[derive(Debug)]
pub struct PartialEvent<'f, 'a> {
    fields: &'f Fields<'a>,
    /// An object holding the fields parsed so far (all of them once `all`).
    value: Value,
    all: bool,
}

impl<'f, 'a> PartialEvent<'f, 'a> {
    /// Nothing parsed yet.
    pub fn new(fields: &'f Fields<'a>) -> PartialEvent<'f, 'a> {
        PartialEvent {
            fields,
            value: Value::Object(Map::new()),
            all: false,
        }
    }

    /// The event with (at least) `keys` parsed.
    pub fn with(&mut self, keys: &EventKeys) -> &Value {
        if self.all {
            return &self.value;
        }
        if keys.is_all() {
            self.value = self.fields.to_value();
            self.all = true;
            return &self.value;
        }
        if let Value::Object(map) = &mut self.value {
            for key in keys.keys() {
                if !map.contains_key(key) {
                    if let Some(field) = self.fields.get(key) {
                        map.insert(key.clone(), field.to_value());
                    }
                }
            }
        }
        &self.value
    }

    /// The event as parsed so far.
    pub fn current(&self) -> &Value {
        &self.value
    }
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
