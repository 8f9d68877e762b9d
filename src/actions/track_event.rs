//! Track Event (`trackEvent`): `person` / `event`.

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
    string("name", "Event Name", true, D::Path("$.event")),
    string("event_id", "Event ID", false, D::Path("$.messageId")),
    string("timestamp", "Timestamp", false, D::Path("$.timestamp")),
    object("data", "Event Attributes", D::Path("$.properties")),
    CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation. The event id is sent whenever it is mapped, even empty (batch mode).
pub fn build(mut p: Payload) -> Value {
    let mut b = Map::new();
    move_field(&mut p, &mut b, "name", "name");
    move_field(&mut p, &mut b, "event_id", "id");
    move_field(&mut p, &mut b, "data", "attributes");
    move_field(&mut p, &mut b, "id", "person_id");
    for key in ["anonymous_id", "timestamp", "convert_timestamp"] {
        move_field(&mut p, &mut b, key, key);
    }
    finish(OpType::Person, "event", b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::{run, run_mode};
    use crate::actions::Mode;
    use serde_json::json;

    #[test]
    fn w10_properties_become_attributes_arrays_untouched() {
        let ev = json!({"type":"track","event":"Order Completed","messageId":"msg-id-9","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_9","anonymousId":"anon_9","properties":{"order_id":"o-1","total":99.5,"shipped_at":"2024-06-02T08:00:00Z","items":[{"sku":"A","added_at":"2024-06-01T09:00:00Z"}]}});
        assert_eq!(
            run("trackEvent", &ev).unwrap(),
            json!({"type":"person","action":"event","name":"Order Completed","id":"msg-id-9","attributes":{"order_id":"o-1","total":99.5,"shipped_at":1717315200,"items":[{"sku":"A","added_at":"2024-06-01T09:00:00Z"}],"anonymous_id":"anon_9"},"timestamp":1717236000,"identifiers":{"id":"user_9"}})
        );
    }

    #[test]
    fn w11_anonymous_leaves_empty_attributes() {
        let ev = json!({"type":"track","event":"Signed Up","messageId":"m","timestamp":"2024-06-01T10:00:00.000Z","anonymousId":"a1"});
        assert_eq!(
            run("trackEvent", &ev).unwrap(),
            json!({"type":"person","action":"event","name":"Signed Up","id":"m","attributes":{},"timestamp":1717236000,"identifiers":{"anonymous_id":"a1"}})
        );
    }

    #[test]
    fn w40_empty_id_kept_in_batch_dropped_in_single() {
        let ev = json!({"type":"track","timestamp":"2024-06-01T10:00:00.000Z","event":"E","userId":"u4","messageId":""});
        assert_eq!(
            run_mode("trackEvent", &ev, Mode::Batch).unwrap(),
            json!({"type":"person","action":"event","name":"E","id":"","timestamp":1717236000,"identifiers":{"id":"u4"}})
        );
        assert_eq!(
            run_mode("trackEvent", &ev, Mode::Single).unwrap(),
            json!({"type":"person","action":"event","name":"E","timestamp":1717236000,"identifiers":{"id":"u4"}})
        );
        let empty_name =
            json!({"type":"track","timestamp":"2024-06-01T10:00:00.000Z","event":"","userId":"u4"});
        for mode in [Mode::Batch, Mode::Single] {
            assert_eq!(
                run_mode("trackEvent", &empty_name, mode).unwrap_err(),
                "The root value is missing the required field 'name'."
            );
        }
    }

    #[test]
    fn date_shaped_name_is_converted_and_numeric_timestamp_kept_as_string() {
        let ev = json!({"type":"track","event":"2024-05-01","timestamp":1717236000,"userId":"u"});
        assert_eq!(
            run("trackEvent", &ev).unwrap(),
            json!({"type":"person","action":"event","name":1714521600,"timestamp":"1717236000","identifiers":{"id":"u"}})
        );
    }

    #[test]
    fn properties_must_be_an_object() {
        let ev = json!({"type":"track","event":"E","userId":"u","properties":"x"});
        assert_eq!(
            run("trackEvent", &ev).unwrap_err(),
            "Event Attributes must be an object but it was a string."
        );
    }
}
