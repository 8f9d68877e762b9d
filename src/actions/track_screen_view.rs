//! Track Screen View (`trackScreenView`): `person` / `screen`.

use serde_json::Value;

use super::field::{
    object, string, DefaultMapping as D, FieldSpec, BATCH_SIZE, CONVERT_TIMESTAMP, ENABLE_BATCHING,
};
use super::payload::Payload;
use super::track_page_view::build_view;

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string("id", "Person ID", false, D::Path("$.userId")),
    string(
        "anonymous_id",
        "Anonymous ID",
        false,
        D::Path("$.anonymousId"),
    ),
    string("event_id", "Event ID", false, D::Path("$.messageId")),
    string("name", "Screen name", true, D::Path("$.name")),
    string("timestamp", "Timestamp", false, D::Path("$.timestamp")),
    object("data", "Event Attributes", D::Path("$.properties")),
    CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation: the screen call's top-level `name` is required.
pub fn build(p: Payload) -> Value {
    build_view(p, "name", "screen")
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w26_anonymous_screen() {
        let ev = json!({"type":"screen","name":"Checkout","messageId":"msg-id-25","timestamp":"2024-06-01T10:00:00.000Z","anonymousId":"anon_25","properties":{"step":2}});
        assert_eq!(
            run("trackScreenView", &ev).unwrap(),
            json!({"type":"person","action":"screen","name":"Checkout","attributes":{"step":2},"id":"msg-id-25","timestamp":1717236000,"identifiers":{"anonymous_id":"anon_25"}})
        );
    }

    #[test]
    fn properties_name_is_not_consulted() {
        let ev = json!({"type":"screen","userId":"u","properties":{"name":"Home"}});
        assert_eq!(
            run("trackScreenView", &ev).unwrap_err(),
            "The root value is missing the required field 'name'."
        );
    }
}
