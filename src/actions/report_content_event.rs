//! Report Content Event (`reportContentEvent`): `person` / `viewed_content` or
//! `clicked_content`. It has no person id field: only the anonymous id identifies.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::field::{
    object, string, DefaultMapping as D, FieldKind, FieldSpec, BATCH_SIZE, CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
};
use super::payload::Payload;

/// The two content actions.
pub const ACTION_TYPES: &[&str] = &["viewed_content", "clicked_content"];

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string(
        "anonymous_id",
        "Anonymous ID",
        false,
        D::Path("$.anonymousId"),
    ),
    FieldSpec::new(
        "actionType",
        "Action Type",
        FieldKind::Choice(ACTION_TYPES),
        true,
        D::Path("$.properties.actionType"),
    ),
    string("timestamp", "Timestamp", false, D::Path("$.timestamp")),
    object("data", "Event Attributes", D::Path("$.properties")),
    CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation: `actionType` leaves the attributes and becomes action and name.
pub fn build(mut p: Payload) -> Value {
    let action = p.str("actionType").unwrap_or_default().to_string();
    let mut b = Map::new();
    b.insert("name".into(), Value::String(action.clone()));
    if let Some(mut data) = p.take("data") {
        if let Value::Object(m) = &mut data {
            m.shift_remove("actionType");
        }
        b.insert("attributes".into(), data);
    }
    for key in ["anonymous_id", "timestamp", "convert_timestamp"] {
        move_field(&mut p, &mut b, key, key);
    }
    finish(OpType::Person, &action, b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w35_user_id_ignored() {
        let ev = json!({"type":"track","event":"Report Content Event","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_34","anonymousId":"anon_34","properties":{"actionType":"viewed_content","content_id":"c-9","viewed_at":"2024-06-01T09:59:59Z"}});
        assert_eq!(
            run("reportContentEvent", &ev).unwrap(),
            json!({"type":"person","action":"viewed_content","name":"viewed_content","attributes":{"content_id":"c-9","viewed_at":1717235999},"timestamp":1717236000,"identifiers":{"anonymous_id":"anon_34"}})
        );
    }
}
