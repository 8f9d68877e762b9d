//! Segment events: the closed set of event types, the checks an event must pass before the
//! relay accepts it, and [`SegmentEvent`], the checked and normalized event that goes on to
//! delivery.
//!
//! Every event goes through [`SegmentEvent::accept`] once, at the edge: it strips the write
//! key, settles the type, coerces numeric ids to strings, checks the required fields
//! ([`EventError`] names the missing one) and fills in messageId and the timestamps
//! ([`normalize`]). Whether the Customer.io destination should see it at all is the
//! `integrations` object's business ([`integrations`]).

pub mod fields;
pub mod integrations;
pub mod keys;
pub mod normalize;

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use fields::{Field, Fields};
pub use keys::EventKeys;

/// A Segment call type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `track`: a named action with properties.
    Track,
    /// `identify`: who the user is, with traits.
    Identify,
    /// `page`: a web page view.
    Page,
    /// `screen`: a mobile screen view.
    Screen,
    /// `group`: the user joins a group (account, company).
    Group,
    /// `alias`: one identity merged into another.
    Alias,
    /// `delete`: a user-deletion notice; arrives only through webhooks.
    Delete,
}

impl EventType {
    /// Every type, in a fixed order (index with [`EventType::index`]).
    pub const ALL: [EventType; 7] = [
        EventType::Track,
        EventType::Identify,
        EventType::Page,
        EventType::Screen,
        EventType::Group,
        EventType::Alias,
        EventType::Delete,
    ];

    /// The wire name, as in `"type": "track"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Identify => "identify",
            EventType::Page => "page",
            EventType::Screen => "screen",
            EventType::Group => "group",
            EventType::Alias => "alias",
            EventType::Delete => "delete",
        }
    }

    /// Position in [`EventType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a wire name. Case is ignored (`"Track"` is a track) because a raw sender's
    /// capitalisation is no reason to lose the event; the stored name is always lower case.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an event came from, which decides how much is checked and filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Segment's Tracking API paths: a client library or a raw sender.
    Api,
    /// A Segment webhook destination: Segment already validated and normalized the event, so
    /// the id rule is not applied, `delete` is a known type and timestamps are kept as stored.
    Webhook,
}

/// The per-source rules an event is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Where the event came from.
    pub origin: Origin,
    /// Refuse events with neither userId nor anonymousId (the source's `require_ids`; never
    /// applied to webhooks).
    pub require_ids: bool,
}

/// Why an event was refused. The message names the field, so a sender can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The event is not a JSON object.
    #[error("the event is not a JSON object")]
    NotAnObject,
    /// The event is an object, but holds something that is not valid JSON (a lone surrogate
    /// in a string, a number out of range).
    #[error("the event is not valid JSON: {0}")]
    InvalidJson(String),
    /// No `type` (batch items and webhooks must carry one).
    #[error("`type` is required")]
    MissingType,
    /// A `type` the relay does not know (or `delete` outside a webhook).
    #[error("`type` {0:?} is not one of track, identify, page, screen, group, alias")]
    UnknownType(String),
    /// Neither `userId` nor `anonymousId` (Segment's `no_user_anon_id`).
    #[error("`userId` or `anonymousId` is required")]
    MissingId,
    /// A field the type requires is absent, null or empty.
    #[error("`{field}` is required for {kind} events")]
    MissingField {
        /// The event's type.
        kind: EventType,
        /// The missing field.
        field: &'static str,
    },
    /// The event alone is bigger than the per-event limit.
    #[error("the event is {size} bytes, more than the {limit}-byte limit per event")]
    TooLarge {
        /// The event's size in bytes, as sent.
        size: usize,
        /// `server.max_message_bytes`.
        limit: usize,
    },
}

/// A refused event: why, and what logs and metrics need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why it was refused.
    pub error: EventError,
    /// Its type, when that could be told (for the metric's `type` label).
    pub kind: Option<EventType>,
    /// The sender's messageId, when it sent one (for the log and the answer).
    pub message_id: Option<String>,
}

impl Refusal {
    /// A refusal of an event nothing is known about.
    pub fn new(error: EventError) -> Refusal {
        Refusal {
            error,
            kind: None,
            message_id: None,
        }
    }

    /// A refusal of a parsed event; only a refusal copies anything out of the event.
    fn of(error: EventError, kind: Option<EventType>, fields: &Fields<'_>) -> Refusal {
        Refusal {
            error,
            kind,
            message_id: raw_message_id(fields),
        }
    }
}

/// A checked, normalized event: a known type and the event's top-level fields, with
/// messageId, receivedAt and timestamp filled in (nested values stay as sent; see [`Fields`]).
#[derive(Debug, Clone)]
pub struct SegmentEvent<'a> {
    kind: EventType,
    fields: Fields<'a>,
}

/// The context an event is accepted in.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The rules of the source it came through.
    pub rules: Rules,
    /// The type the request path implies (`/v1/track`, `/v1/t`); `None` for batches and
    /// webhooks, where each event carries its own.
    pub path_type: Option<EventType>,
    /// When the request arrived (the event's `receivedAt`).
    pub received_at: DateTime<Utc>,
}

impl<'a> SegmentEvent<'a> {
    /// Checks a raw event and normalizes it. On success the event is ready for delivery; on
    /// failure the error names what is wrong.
    pub fn accept(mut fields: Fields<'a>, at: &Arrival) -> Result<SegmentEvent<'a>, Refusal> {
        // The key authenticated the request; it must not travel further (logs, dead letters).
        fields.remove("writeKey");
        let kind = settle_type(&mut fields, at).map_err(|e| Refusal::of(e, None, &fields))?;
        for key in ["userId", "anonymousId", "groupId", "previousId"] {
            coerce_id(&mut fields, key);
        }
        check_required(&fields, kind, at.rules).map_err(|e| Refusal::of(e, Some(kind), &fields))?;
        normalize::normalize(&mut fields, at.received_at, at.rules.origin);
        Ok(SegmentEvent { kind, fields })
    }

    /// The event's type.
    pub fn kind(&self) -> EventType {
        self.kind
    }

    /// The messageId (always present after [`SegmentEvent::accept`]).
    pub fn message_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.fields.str("messageId")
    }

    /// Whether the Customer.io (Actions) destination should receive it, per its
    /// `integrations` object. `delete` notices are never delivered: no action handles them.
    pub fn is_for_customerio(&self) -> bool {
        if self.kind == EventType::Delete {
            return false;
        }
        match self.fields.get("integrations") {
            Some(field) if field.is_object() => {
                integrations::delivers_to_customerio(Some(&field.to_value()))
            }
            _ => true,
        }
    }

    /// The event as JSON, for delivery.
    pub fn to_json(&self) -> Vec<u8> {
        self.fields.to_json()
    }
}

/// The client's own messageId of a raw event, for logging a refusal (before one is generated).
pub fn raw_message_id(fields: &Fields<'_>) -> Option<String> {
    fields
        .str("messageId")
        .filter(|s| !s.is_empty())
        .map(|s| s.into_owned())
}

/// Decides the type: the path's when the path implies one (a single-event path says what the
/// event is, whatever the body claims), otherwise the event's own `type`.
fn settle_type(fields: &mut Fields<'_>, at: &Arrival) -> Result<EventType, EventError> {
    let kind = match at.path_type {
        Some(kind) => kind,
        None => {
            let field = match fields.get("type") {
                Some(field) if !field.is_null() => field,
                _ => return Err(EventError::MissingType),
            };
            let Some(name) = field.as_str() else {
                return Err(EventError::UnknownType(field.to_value().to_string()));
            };
            if name.is_empty() {
                return Err(EventError::MissingType);
            }
            match EventType::parse(&name) {
                Some(EventType::Delete) if at.rules.origin == Origin::Api => {
                    return Err(EventError::UnknownType(name.into_owned()))
                }
                Some(kind) => kind,
                None => return Err(EventError::UnknownType(name.into_owned())),
            }
        }
    };
    if fields.str("type").as_deref() != Some(kind.as_str()) {
        fields.insert("type", Value::String(kind.as_str().into()));
    }
    Ok(kind)
}

/// Raw senders send numeric ids; Segment's own libraries stringify them, so the relay does too
/// (triggers and mappings compare strings).
fn coerce_id(fields: &mut Fields<'_>, key: &'static str) {
    if let Some(n) = fields.get(key).and_then(Field::as_number) {
        fields.insert(key, Value::String(n.to_string()));
    }
}

fn check_required(fields: &Fields<'_>, kind: EventType, rules: Rules) -> Result<(), EventError> {
    if rules.origin == Origin::Api
        && rules.require_ids
        && !fields.is_present("userId")
        && !fields.is_present("anonymousId")
    {
        return Err(EventError::MissingId);
    }
    let field = match kind {
        EventType::Track => "event",
        EventType::Group => "groupId",
        EventType::Alias => "previousId",
        EventType::Identify | EventType::Page | EventType::Screen | EventType::Delete => {
            return Ok(())
        }
    };
    if fields.is_present(field) {
        Ok(())
    } else {
        Err(EventError::MissingField { kind, field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arrival(origin: Origin, path_type: Option<EventType>) -> Arrival {
        Arrival {
            rules: Rules {
                origin,
                require_ids: true,
            },
            path_type,
            received_at: Utc::now(),
        }
    }

    fn api(path_type: Option<EventType>) -> Arrival {
        arrival(Origin::Api, path_type)
    }

    /// Accepts `raw` and returns the stored event, parsed back.
    fn check(raw: Value, at: &Arrival) -> Result<Accepted, EventError> {
        let json = raw.to_string();
        let fields = Fields::parse(&json).expect("an object");
        let event = SegmentEvent::accept(fields, at).map_err(|r| r.error)?;
        Ok(Accepted {
            kind: event.kind(),
            for_customerio: event.is_for_customerio(),
            message_id: event.message_id().map(|m| m.into_owned()),
            stored: serde_json::from_slice(&event.to_json()).unwrap(),
        })
    }

    #[derive(Debug, PartialEq)]
    struct Accepted {
        kind: EventType,
        for_customerio: bool,
        message_id: Option<String>,
        stored: Value,
    }

    impl Accepted {
        fn kind(&self) -> EventType {
            self.kind
        }
        fn get(&self, key: &str) -> Option<&Value> {
            self.stored.get(key)
        }
        fn is_for_customerio(&self) -> bool {
            self.for_customerio
        }
        fn message_id(&self) -> Option<&str> {
            self.message_id.as_deref()
        }
    }

    #[test]
    fn path_type_wins_and_is_written() {
        let e = check(
            json!({"type": "identify", "userId": "u", "event": "E"}),
            &api(Some(EventType::Track)),
        )
        .unwrap();
        assert_eq!(e.kind(), EventType::Track);
        assert_eq!(e.get("type"), Some(&json!("track")));
    }

    #[test]
    fn type_is_read_from_the_event_without_a_path_type() {
        let e = check(json!({"type": "Page", "anonymousId": "a"}), &api(None)).unwrap();
        assert_eq!(e.kind(), EventType::Page);
        assert_eq!(e.get("type"), Some(&json!("page")));
        assert_eq!(
            check(json!({"userId": "u"}), &api(None)),
            Err(EventError::MissingType)
        );
        assert!(matches!(
            check(json!({"type": "bogus", "userId": "u"}), &api(None)),
            Err(EventError::UnknownType(t)) if t == "bogus"
        ));
    }

    #[test]
    fn delete_is_known_only_from_webhooks() {
        let raw = json!({"type": "delete", "userId": "u"});
        assert!(matches!(
            check(raw.clone(), &api(None)),
            Err(EventError::UnknownType(_))
        ));
        let e = check(raw, &arrival(Origin::Webhook, None)).unwrap();
        assert_eq!(e.kind(), EventType::Delete);
        assert!(!e.is_for_customerio());
    }

    #[test]
    fn null_and_empty_ids_count_as_absent() {
        for raw in [
            json!({"type": "identify"}),
            json!({"type": "identify", "userId": null, "anonymousId": null}),
            json!({"type": "identify", "userId": "", "anonymousId": ""}),
        ] {
            assert_eq!(check(raw, &api(None)), Err(EventError::MissingId));
        }
        assert!(check(
            json!({"type": "identify", "userId": null, "anonymousId": "a"}),
            &api(None)
        )
        .is_ok());
    }

    #[test]
    fn ids_are_not_required_when_the_source_says_so_or_from_webhooks() {
        let raw = json!({"type": "identify", "traits": {"email": "a@b.c"}});
        let mut lenient = api(None);
        lenient.rules.require_ids = false;
        assert!(check(raw.clone(), &lenient).is_ok());
        assert!(check(raw, &arrival(Origin::Webhook, None)).is_ok());
    }

    #[test]
    fn required_fields_per_type_are_named() {
        for (raw, field) in [
            (json!({"type": "track", "userId": "u"}), "event"),
            (
                json!({"type": "track", "userId": "u", "event": ""}),
                "event",
            ),
            (json!({"type": "group", "userId": "u"}), "groupId"),
            (
                json!({"type": "alias", "userId": "u", "previousId": null}),
                "previousId",
            ),
        ] {
            let err = check(raw, &api(None)).unwrap_err();
            assert!(
                matches!(err, EventError::MissingField { field: f, .. } if f == field),
                "{err}"
            );
            assert!(err.to_string().contains(field));
        }
    }

    #[test]
    fn numeric_ids_become_strings_and_the_write_key_goes() {
        let e = check(
            json!({"type": "group", "userId": 42, "groupId": 7, "writeKey": "k"}),
            &api(None),
        )
        .unwrap();
        assert_eq!(e.get("userId"), Some(&json!("42")));
        assert_eq!(e.get("groupId"), Some(&json!("7")));
        assert_eq!(e.get("writeKey"), None);
        assert!(e.message_id().is_some());
    }
}
