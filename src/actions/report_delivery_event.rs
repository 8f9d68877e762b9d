//! Report Delivery Event (`reportDeliveryEvent`): a v1 metric, `POST /api/v1/metrics`, one per
//! request. It does not use the shared builder.

use serde_json::{Map, Value};

use super::field::{
    string, DefaultMapping as D, FieldKind, FieldSpec, BATCH_SIZE, ENABLE_BATCHING,
};
use super::payload::Payload;
use super::timestamp::timestamp_number;

/// The metrics Customer.io accepts.
pub const METRICS: &[&str] = &[
    "delivered",
    "opened",
    "clicked",
    "converted",
    "spammed",
    "bounced",
    "dropped",
    "deferred",
];

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string(
        "delivery_id",
        "Delivery ID",
        true,
        D::Path("$.properties.deliveryId"),
    ),
    FieldSpec::new(
        "metric",
        "Metric",
        FieldKind::Choice(METRICS),
        true,
        D::Path("$.properties.metric"),
    ),
    string(
        "recipient",
        "Recipient",
        false,
        D::Path("$.properties.recipient"),
    ),
    string("reason", "Reason", false, D::Path("$.properties.reason")),
    string("href", "Href", false, D::Path("$.properties.href")),
    string(
        "action_name",
        "Action Name",
        false,
        D::Path("$.properties.actionName"),
    ),
    string(
        "action_value",
        "Action Value",
        false,
        D::Path("$.properties.actionValue"),
    ),
    FieldSpec::new(
        "timestamp",
        "Timestamp",
        FieldKind::Datetime,
        false,
        D::Path("$.timestamp"),
    ),
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the metric body. Without a usable timestamp the current time is used.
pub fn build(mut p: Payload) -> Value {
    let mut body = Map::new();
    for key in ["delivery_id", "metric"] {
        if let Some(v) = p.take(key) {
            body.insert(key.into(), v);
        }
    }
    let ts = p
        .get("timestamp")
        .and_then(timestamp_number)
        .unwrap_or_else(|| Value::from(chrono::Utc::now().timestamp()));
    body.insert("timestamp".into(), ts);
    for key in ["recipient", "reason", "href"] {
        if let Some(v) = p.non_empty(key) {
            body.insert(key.into(), Value::String(v.to_string()));
        }
    }
    let mut metadata = Map::new();
    for key in ["action_name", "action_value"] {
        if let Some(v) = p.non_empty(key) {
            metadata.insert(key.into(), Value::String(v.to_string()));
        }
    }
    if !metadata.is_empty() {
        body.insert("metadata".into(), Value::Object(metadata));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w32_every_optional_field() {
        let ev = json!({"type":"track","event":"Report Delivery Event","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_31","properties":{"deliveryId":"dlv_31","metric":"clicked","recipient":"user31@example.com","href":"https://example.com/x","actionName":"cta","actionValue":"buy","reason":"n/a"}});
        assert_eq!(
            run("reportDeliveryEvent", &ev).unwrap(),
            json!({"delivery_id":"dlv_31","metric":"clicked","timestamp":1717236000,"recipient":"user31@example.com","reason":"n/a","href":"https://example.com/x","metadata":{"action_name":"cta","action_value":"buy"}})
        );
    }

    #[test]
    fn w33_offset_and_w34_bad_metric() {
        let ev = json!({"type":"track","event":"Report Delivery Event","timestamp":"2024-06-01T10:00:00+02:00","anonymousId":"a","properties":{"deliveryId":"dlv_32","metric":"opened"}});
        assert_eq!(
            run("reportDeliveryEvent", &ev).unwrap(),
            json!({"delivery_id":"dlv_32","metric":"opened","timestamp":1717228800})
        );
        let ev = json!({"type":"track","event":"Report Delivery Event","userId":"u","properties":{"deliveryId":"d","metric":"Opened"}});
        assert_eq!(
            run("reportDeliveryEvent", &ev).unwrap_err(),
            "Metric must be one of: \"delivered\", \"opened\", \"clicked\", \"converted\", \"spammed\", \"bounced\", \"dropped\", or \"deferred\"."
        );
    }
}
