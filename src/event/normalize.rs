//! What the relay fills in on every event, as Segment's API does: a messageId when the sender
//! gave none, `receivedAt`, `originalTimestamp`, and a `timestamp` corrected for the client's
//! clock; plus the batch envelope merge (top-level `context`, `integrations` and `sentAt`).
//!
//! Timestamps are parsed leniently (offsets, 1–9 fraction digits, unpadded fields such as
//! Segment's own `2015-2-02T00:30:08.276Z`), and an unparseable one never costs the event: it
//! is kept as sent and the skew correction is skipped.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::{Field, Fields, Origin};

/// Fills in messageId, receivedAt, originalTimestamp and timestamp.
///
/// For [`Origin::Api`]: `receivedAt` is the arrival time; `originalTimestamp` is the client's
/// `timestamp` when it sent one; `timestamp` is `receivedAt − (sentAt − originalTimestamp)`
/// when both `sentAt` and the client timestamp parse, the client's value as sent when only it
/// exists, and `receivedAt` when the client sent none.
///
/// For [`Origin::Webhook`] the event was already normalized by Segment: only missing fields are
/// filled, because correcting again against this relay's clock would shift `timestamp` by the
/// webhook's delivery delay (Segment retries webhooks for hours).
pub fn normalize(fields: &mut Fields<'_>, received_at: DateTime<Utc>, origin: Origin) {
    fill_message_id(fields);
    let received = format_timestamp(received_at);
    match origin {
        Origin::Api => {
            match fields.get("timestamp").filter(|v| !v.is_null()) {
                Some(timestamp) => {
                    let corrected = timestamp
                        .as_str()
                        .and_then(|t| parse_timestamp(&t))
                        .zip(fields.str("sentAt").and_then(|s| parse_timestamp(&s)))
                        .and_then(|(original, sent)| correct_skew(original, sent, received_at));
                    // The client's value becomes originalTimestamp; it stays as timestamp too
                    // unless it could be corrected.
                    let original = timestamp.to_value();
                    if let Some(t) = corrected {
                        fields.insert("timestamp", Value::String(format_timestamp(t)));
                    }
                    fields.insert("originalTimestamp", original);
                }
                None => {
                    fields.insert("timestamp", Value::String(received.clone()));
                }
            }
            fields.insert("receivedAt", Value::String(received));
        }
        Origin::Webhook => {
            if fields.get("receivedAt").is_none_or(Field::is_null) {
                fields.insert("receivedAt", Value::String(received));
            }
            if fields.get("timestamp").is_none_or(Field::is_null) {
                let at = fields.value("receivedAt").unwrap_or(Value::Null);
                fields.insert("timestamp", at);
            }
        }
    }
}

/// Keeps a non-empty messageId (numbers become strings); generates a UUID v4 otherwise, as
/// Segment does for raw HTTP senders. Deduplication keys on it.
fn fill_message_id(fields: &mut Fields<'_>) {
    let id = match fields.get("messageId") {
        Some(field) => match (field.as_str(), field.as_number()) {
            (Some(s), _) if !s.is_empty() => return,
            (_, Some(n)) => n.to_string(),
            _ => uuid::Uuid::new_v4().to_string(),
        },
        None => uuid::Uuid::new_v4().to_string(),
    };
    fields.insert("messageId", Value::String(id));
}

/// `receivedAt − (sentAt − originalTimestamp)`: the client's clock error cancels out.
/// `None` when the arithmetic overflows (absurd dates), so the caller keeps the value as sent.
pub fn correct_skew(
    original: DateTime<Utc>,
    sent_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let in_client_queue: TimeDelta = sent_at.signed_duration_since(original);
    received_at.checked_sub_signed(in_client_queue)
}

/// Merges a batch's top-level `context` and `integrations` into one item, one level deep, the
/// item's own keys winning (Segment documents the merge, not the clash; the item is the more
/// specific). The batch's `sentAt`, when it has one, becomes the item's: it is the request's
/// send time, the one the skew correction needs.
pub fn merge_envelope(
    item: &mut Fields<'_>,
    context: Option<&Map<String, Value>>,
    integrations: Option<&Map<String, Value>>,
    sent_at: Option<&Value>,
) {
    for (key, shared) in [("context", context), ("integrations", integrations)] {
        let Some(shared) = shared.filter(|m| !m.is_empty()) else {
            continue;
        };
        match item.get(key) {
            Some(field) if field.is_object() => {
                let Value::Object(mut own) = field.to_value() else {
                    continue;
                };
                for (k, v) in shared {
                    if !own.contains_key(k) {
                        own.insert(k.clone(), v.clone());
                    }
                }
                item.insert(key, Value::Object(own));
            }
            None => item.insert(key, Value::Object(shared.clone())),
            Some(field) if field.is_null() => item.insert(key, Value::Object(shared.clone())),
            // A non-object is the item's own (odd) value; leave it alone.
            Some(_) => {}
        }
    }
    if let Some(sent_at) = sent_at.filter(|v| !v.is_null()) {
        item.insert("sentAt", sent_at.clone());
    }
}

/// RFC 3339 in UTC with milliseconds and `Z`, the form Segment stores.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an ISO-8601 / RFC 3339 date-time leniently: `T`, `t` or a space between date and
/// time; one or two digits for month, day, hour, minute and second; optional seconds; 1–9
/// fraction digits after `.` or `,` (more are truncated); `Z`, `±HH:MM`, `±HHMM`, `±HH` or no
/// offset (read as UTC); a date alone is midnight UTC.
///
/// Fractions are decimal fractions as ISO 8601 says: the Kotlin library's unpadded
/// milliseconds (`.5` meaning 5 ms) read as 500 ms, an error under a second that cannot be
/// told apart from a correct `.5`.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let mut p = Cursor::new(s.trim());
    let year = i32::try_from(p.digits(4, 4)?).ok()?;
    p.expect(b'-')?;
    let month = p.digits(1, 2)?;
    p.expect(b'-')?;
    let day = p.digits(1, 2)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if p.done() {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    match p.next()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = p.digits(1, 2)?;
    p.expect(b':')?;
    let minute = p.digits(1, 2)?;
    let mut second = 0;
    let mut nanos = 0;
    if p.eat(b':') {
        second = p.digits(1, 2)?;
        if p.eat(b'.') || p.eat(b',') {
            nanos = p.fraction()?;
        }
    }
    let offset_secs: i32 = match p.next() {
        None | Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = i32::try_from(p.digits(2, 2)?).ok()?;
            let minutes = if p.done() {
                0
            } else {
                p.eat(b':');
                i32::try_from(p.digits(2, 2)?).ok()?
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        Some(_) => return None,
    };
    if !p.done() {
        return None;
    }
    let local = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    local
        .checked_sub_signed(TimeDelta::seconds(i64::from(offset_secs)))
        .map(|t| t.and_utc())
}

/// A byte cursor for [`parse_timestamp`].
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Cursor<'a> {
        Cursor {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&want) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        self.eat(want).then_some(())
    }

    /// Between `min` and `max` ASCII digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut value = 0u32;
        let mut n = 0;
        while n < max {
            match self.bytes.get(self.pos) {
                Some(b) if b.is_ascii_digit() => {
                    value = value * 10 + u32::from(b - b'0');
                    self.pos += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        (n >= min).then_some(value)
    }

    /// A decimal fraction of a second, in nanoseconds; digits past the ninth are dropped.
    fn fraction(&mut self) -> Option<u32> {
        let mut nanos = 0u32;
        let mut n = 0;
        while let Some(b) = self.bytes.get(self.pos).filter(|b| b.is_ascii_digit()) {
            if n < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
            n += 1;
            self.pos += 1;
        }
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
        Some(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// Normalizes `raw` and returns the event as it would be stored, parsed back.
    fn normalized(raw: Value, received_at: DateTime<Utc>, origin: Origin) -> Value {
        let json = raw.to_string();
        let mut fields = Fields::parse(&json).unwrap();
        normalize(&mut fields, received_at, origin);
        serde_json::from_slice(&fields.to_json()).unwrap()
    }

    fn merged(
        item: Value,
        context: Option<&Map<String, Value>>,
        integrations: Option<&Map<String, Value>>,
        sent_at: Option<&Value>,
    ) -> Value {
        let json = item.to_string();
        let mut fields = Fields::parse(&json).unwrap();
        merge_envelope(&mut fields, context, integrations, sent_at);
        serde_json::from_slice(&fields.to_json()).unwrap()
    }

    #[test]
    fn parses_the_formats_clients_send() {
        for (input, expected) in [
            ("2026-11-23T00:13:50.363Z", "2026-11-23T00:13:50.363Z"),
            (
                "2026-11-23T00:13:42.162184+00:00",
                "2026-11-23T00:13:42.162184Z",
            ),
            ("2026-11-23T00:13:42.411+00:00", "2026-11-23T00:13:42.411Z"),
            ("2015-2-02T00:30:08.276Z", "2015-02-02T00:30:08.276Z"),
            ("2015-02-02T01:30:08+01:00", "2015-02-02T00:30:08Z"),
            ("2015-02-01T19:30:08.5-0500", "2015-02-02T00:30:08.5Z"),
            ("2015-02-02T05:30:08+05", "2015-02-02T00:30:08Z"),
            (
                "2015-02-02 00:30:08.123456789",
                "2015-02-02T00:30:08.123456789Z",
            ),
            ("2015-02-02t00:30:08,1z", "2015-02-02T00:30:08.1Z"),
            ("2015-02-02T00:30Z", "2015-02-02T00:30:00Z"),
            ("2015-02-02", "2015-02-02T00:00:00Z"),
            (
                "2015-02-02T00:30:08.1234567891234Z",
                "2015-02-02T00:30:08.123456789Z",
            ),
        ] {
            assert_eq!(parse_timestamp(input), Some(at(expected)), "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for input in [
            "",
            "yesterday",
            "1700000000",
            "2015-13-01T00:00:00Z",
            "2015-02-30T00:00:00Z",
            "2015-02-02T25:00:00Z",
            "2015-02-02T00:00:00.Z",
            "2015-02-02T00:00:00Zjunk",
            "2015-02-02T00:00:00+99:00",
            "15-02-02T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp(input), None, "{input}");
        }
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(
            format_timestamp(at("2015-02-02T01:30:08.123456+01:00")),
            "2015-02-02T00:30:08.123Z"
        );
        assert_eq!(
            format_timestamp(at("2015-02-02T00:30:08Z")),
            "2015-02-02T00:30:08.000Z"
        );
    }

    #[test]
    fn skew_correction_matches_segments_stored_example() {
        // A stored Segment event quoted in circleci/analytics-clj#13.
        let corrected = correct_skew(
            at("2026-01-01T06:33:31.593Z"),
            at("2026-01-01T06:33:32.900Z"),
            at("2026-01-01T06:33:36.745Z"),
        )
        .unwrap();
        assert_eq!(format_timestamp(corrected), "2026-01-01T06:33:35.438Z");
    }

    #[test]
    fn api_events_get_the_corrected_timestamp_when_sent_at_and_timestamp_exist() {
        let e = normalized(
            json!({
                "timestamp": "2026-01-01T07:33:31.593+01:00",
                "sentAt": "2026-01-01T06:33:32.9Z",
            }),
            at("2026-01-01T06:33:36.745Z"),
            Origin::Api,
        );
        assert_eq!(e["timestamp"], json!("2026-01-01T06:33:35.438Z"));
        assert_eq!(
            e["originalTimestamp"],
            json!("2026-01-01T07:33:31.593+01:00")
        );
        assert_eq!(e["receivedAt"], json!("2026-01-01T06:33:36.745Z"));
        assert_eq!(e["sentAt"], json!("2026-01-01T06:33:32.9Z"));
    }

    #[test]
    fn without_sent_at_the_client_timestamp_stands_as_sent() {
        let e = normalized(
            json!({"timestamp": "2015-2-02T00:30:08.276Z"}),
            at("2026-01-01T00:00:00Z"),
            Origin::Api,
        );
        assert_eq!(e["timestamp"], json!("2015-2-02T00:30:08.276Z"));
        assert_eq!(e["originalTimestamp"], json!("2015-2-02T00:30:08.276Z"));
        assert_eq!(e["receivedAt"], json!("2026-01-01T00:00:00.000Z"));
    }

    #[test]
    fn an_unparseable_timestamp_is_kept_and_not_corrected() {
        let e = normalized(
            json!({"timestamp": "last tuesday", "sentAt": "2026-01-01T00:00:00Z"}),
            at("2026-01-01T00:00:05Z"),
            Origin::Api,
        );
        assert_eq!(e["timestamp"], json!("last tuesday"));
        assert_eq!(e["originalTimestamp"], json!("last tuesday"));
        let e = normalized(
            json!({"timestamp": "2026-01-01T00:00:00Z", "sentAt": "soon"}),
            at("2026-01-01T00:00:05Z"),
            Origin::Api,
        );
        assert_eq!(e["timestamp"], json!("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn without_a_client_timestamp_received_at_is_used() {
        for raw in [
            json!({}),
            json!({"timestamp": null, "sentAt": "2026-01-01T00:00:00Z"}),
        ] {
            let e = normalized(raw, at("2026-01-01T00:00:05Z"), Origin::Api);
            assert_eq!(e["timestamp"], json!("2026-01-01T00:00:05.000Z"));
            assert_eq!(e["receivedAt"], json!("2026-01-01T00:00:05.000Z"));
            assert!(e.get("originalTimestamp").is_none());
        }
    }

    #[test]
    fn message_ids_are_kept_or_generated() {
        let e = normalized(json!({"messageId": "m-1"}), Utc::now(), Origin::Api);
        assert_eq!(e["messageId"], json!("m-1"));
        let e = normalized(json!({"messageId": 12}), Utc::now(), Origin::Api);
        assert_eq!(e["messageId"], json!("12"));
        for raw in [
            json!({}),
            json!({"messageId": null}),
            json!({"messageId": ""}),
        ] {
            let e = normalized(raw, Utc::now(), Origin::Api);
            let id = e["messageId"].as_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn webhook_events_keep_segments_timestamps() {
        let before = json!({
            "messageId": "m",
            "timestamp": "2026-01-01T00:00:01.000Z",
            "sentAt": "2026-01-01T00:00:02.000Z",
            "receivedAt": "2026-01-01T00:00:03.000Z",
        });
        let e = normalized(before.clone(), at("2026-01-02T00:00:00Z"), Origin::Webhook);
        assert_eq!(e, before);
        let e = normalized(json!({}), at("2026-01-02T00:00:00Z"), Origin::Webhook);
        assert_eq!(e["receivedAt"], json!("2026-01-02T00:00:00.000Z"));
        assert_eq!(e["timestamp"], json!("2026-01-02T00:00:00.000Z"));
    }

    #[test]
    fn batch_envelope_merges_one_level_deep_with_item_keys_winning() {
        let item = json!({
            "context": {"ip": "1.1.1.1"},
            "integrations": {"All": true},
            "sentAt": "2020-01-01T00:00:00Z",
        });
        let context = obj(json!({"ip": "2.2.2.2", "library": {"name": "x"}}));
        let integrations = obj(json!({"All": false, "Customer.io (Actions)": true}));
        let sent = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            merged(item, Some(&context), Some(&integrations), Some(&sent)),
            json!({
                "context": {"ip": "1.1.1.1", "library": {"name": "x"}},
                "integrations": {"All": true, "Customer.io (Actions)": true},
                "sentAt": "2026-01-01T00:00:00Z",
            })
        );
        let bare = merged(json!({"context": null}), Some(&context), None, None);
        assert_eq!(bare["context"], Value::Object(context.clone()));
        assert!(bare.get("sentAt").is_none());
        // A non-object context is the item's own, and stays.
        let odd = merged(json!({"context": "x"}), Some(&context), None, None);
        assert_eq!(odd, json!({"context": "x"}));
    }
}
