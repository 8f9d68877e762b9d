//! Track Page View (`trackPageView`): `person` / `page`. The page's name is `properties.url`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::field::{
    object, string, DefaultMapping as D, FieldSpec, BATCH_SIZE, CONVERT_TIMESTAMP, ENABLE_BATCHING,
};
use super::payload::Payload;

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
    string("url", "Page URL", true, D::Path("$.properties.url")),
    string("timestamp", "Timestamp", false, D::Path("$.timestamp")),
    object("data", "Event Attributes", D::Path("$.properties")),
    CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation: `name` is the URL; `id` only for a non-empty event id.
pub fn build(p: Payload) -> Value {
    build_view(p, "url", "page")
}

/// Shared by page and screen views: `name`, then `attributes`, then a non-empty `id`.
pub(super) fn build_view(mut p: Payload, name_field: &str, action: &str) -> Value {
    let mut b = Map::new();
    move_field(&mut p, &mut b, name_field, "name");
    move_field(&mut p, &mut b, "data", "attributes");
    if let Some(id) = p.non_empty("event_id") {
        b.insert("id".into(), Value::String(id.to_string()));
    }
    move_field(&mut p, &mut b, "id", "person_id");
    for key in ["anonymous_id", "timestamp", "convert_timestamp"] {
        move_field(&mut p, &mut b, key, key);
    }
    finish(OpType::Person, action, b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w24_name_is_the_url() {
        let ev = json!({"type":"page","name":"Pricing","messageId":"msg-id-23","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_23","anonymousId":"anon_23","properties":{"url":"https://example.com/pricing","title":"Pricing","path":"/pricing"}});
        assert_eq!(
            run("trackPageView", &ev).unwrap(),
            json!({"type":"person","action":"page","name":"https://example.com/pricing","attributes":{"url":"https://example.com/pricing","title":"Pricing","path":"/pricing","anonymous_id":"anon_23"},"id":"msg-id-23","timestamp":1717236000,"identifiers":{"id":"user_23"}})
        );
    }

    #[test]
    fn w25_context_page_url_is_not_a_fallback() {
        let ev = json!({"type":"page","name":"Home","userId":"u","properties":{"title":"Home"},"context":{"page":{"url":"https://example.com/"}}});
        assert_eq!(
            run("trackPageView", &ev).unwrap_err(),
            "The root value is missing the required field 'url'."
        );
    }
}
