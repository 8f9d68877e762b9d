//! Create or Update Person (`createUpdatePerson`): `person` / `identify`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::field::{
    object, string, DefaultMapping as D, FieldSpec, BATCH_SIZE, CONVERT_TIMESTAMP, ENABLE_BATCHING,
};
use super::payload::Payload;

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string(
        "id",
        "Person ID",
        false,
        D::ExistsOr("$.userId", "$.traits.email"),
    ),
    string(
        "anonymous_id",
        "Anonymous ID",
        false,
        D::Path("$.anonymousId"),
    ),
    string(
        "email",
        "Email Address",
        false,
        D::Template("{{traits.email}}"),
    ),
    string(
        "created_at",
        "Created At",
        false,
        D::ExistsOr("$.traits.created_at", "$.traits.createdAt"),
    ),
    string("group_id", "Object ID", false, D::Path("$.traits.objectId")),
    object(
        "custom_attributes",
        "Person Attributes",
        D::Path("$.traits"),
    ),
    object(
        "relationship_attributes",
        "Relationship Attributes",
        D::Path("$.traits.relationshipAttributes"),
    ),
    string("timestamp", "Timestamp", false, D::Path("$.timestamp")),
    CONVERT_TIMESTAMP,
    string(
        "object_type_id",
        "Object Type Id",
        false,
        D::ExistsOr("$.traits.object_type_id", "$.traits.objectTypeId"),
    ),
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Keys of the traits that never travel as person attributes.
const STRIPPED: [&str; 5] = [
    "createdAt",
    "created_at",
    "object_type_id",
    "relationshipAttributes",
    "objectTypeId",
];

/// Builds the operation.
pub fn build(mut p: Payload) -> Value {
    let mut attributes = match p.take("custom_attributes") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for key in STRIPPED {
        attributes.shift_remove(key);
    }
    if let Some(created) = p.non_empty("created_at") {
        attributes.insert("created_at".into(), Value::String(created.to_string()));
    }
    if let Some(email) = p.non_empty("email") {
        attributes.insert("email".into(), Value::String(email.to_string()));
    }

    let mut b = Map::new();
    b.insert("attributes".into(), Value::Object(attributes));
    if let Some(group_id) = p.non_empty("group_id") {
        let mut ids = Map::new();
        let type_id = p
            .get("object_type_id")
            .cloned()
            .unwrap_or_else(|| Value::String("1".into()));
        ids.insert("object_type_id".into(), type_id);
        ids.insert("object_id".into(), Value::String(group_id.to_string()));
        let mut rel = Map::new();
        rel.insert("identifiers".into(), Value::Object(ids));
        if let Some(attrs) = p.take("relationship_attributes") {
            rel.insert("relationship_attributes".into(), attrs);
        }
        b.insert(
            "cio_relationships".into(),
            Value::Array(vec![Value::Object(rel)]),
        );
    }
    move_field(&mut p, &mut b, "id", "person_id");
    for key in ["anonymous_id", "email", "timestamp", "convert_timestamp"] {
        move_field(&mut p, &mut b, key, key);
    }
    finish(OpType::Person, "identify", b)
}

/// Moves payload field `from` into `b` as `to`, when present.
pub(super) fn move_field(p: &mut Payload, b: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = p.take(from) {
        b.insert(to.to_string(), v);
    }
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w1_created_at_from_camel_case_and_anonymous_id_appended() {
        let ev = json!({"type":"identify","messageId":"msg-id-1","timestamp":"2024-06-01T10:00:00.123Z","userId":"user_1","anonymousId":"anon_1","traits":{"email":"jane@example.com","name":"Jane Doe","plan":"pro","createdAt":"2024-01-15T08:30:00Z","logins":7}});
        assert_eq!(
            run("createUpdatePerson", &ev).unwrap(),
            json!({"type":"person","action":"identify","attributes":{"email":"jane@example.com","name":"Jane Doe","plan":"pro","logins":7,"created_at":1705307400,"anonymous_id":"anon_1"},"timestamp":1717236000,"identifiers":{"id":"user_1"}})
        );
    }

    #[test]
    fn w7_non_iso_created_at_wins_and_stays_a_string() {
        let ev = json!({"type":"identify","messageId":"msg-id-7","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_7","traits":{"created_at":"01/15/2024","createdAt":"2024-01-15T00:00:00Z","email":"seven@example.com"}});
        assert_eq!(
            run("createUpdatePerson", &ev).unwrap(),
            json!({"type":"person","action":"identify","attributes":{"email":"seven@example.com","created_at":"01/15/2024"},"timestamp":1717236000,"identifiers":{"id":"user_7"}})
        );
    }

    #[test]
    fn w8_relationship_is_not_converted_and_object_id_stays() {
        let ev = json!({"type":"identify","messageId":"msg-id-8","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_8","traits":{"email":"eight@example.com","objectId":"acme","objectTypeId":"2","relationshipAttributes":{"role":"admin","since":"2024-02-01T00:00:00Z"},"title":"CTO"}});
        assert_eq!(
            run("createUpdatePerson", &ev).unwrap(),
            json!({"type":"person","action":"identify","attributes":{"email":"eight@example.com","objectId":"acme","title":"CTO"},"cio_relationships":[{"identifiers":{"object_type_id":"2","object_id":"acme"},"relationship_attributes":{"role":"admin","since":"2024-02-01T00:00:00Z"}}],"timestamp":1717236000,"identifiers":{"id":"user_8"}})
        );
    }

    #[test]
    fn w4_w5_anonymous_identify() {
        let ev = json!({"type":"identify","timestamp":"2024-06-01T10:00:00.000Z","anonymousId":"anon_4","traits":{"email":"anon4@example.com","source":"newsletter"}});
        assert_eq!(
            run("createUpdatePerson", &ev).unwrap(),
            json!({"type":"person","action":"identify","attributes":{"email":"anon4@example.com","source":"newsletter","anonymous_id":"anon_4"},"timestamp":1717236000,"identifiers":{"email":"anon4@example.com"}})
        );
        let ev = json!({"type":"identify","timestamp":"2024-06-01T10:00:00.000Z","anonymousId":"anon_5","traits":{"favorite_color":"teal"}});
        assert_eq!(
            run("createUpdatePerson", &ev).unwrap(),
            json!({"type":"person","action":"identify","attributes":{"favorite_color":"teal"},"timestamp":1717236000,"identifiers":{"anonymous_id":"anon_5"}})
        );
    }

    #[test]
    fn identify_without_any_id_is_sent_without_identifiers() {
        let ev =
            json!({"type":"identify","timestamp":"2024-06-01T10:00:00.000Z","traits":{"plan":"x"}});
        assert_eq!(
            run("createUpdatePerson", &ev).unwrap(),
            json!({"type":"person","action":"identify","attributes":{"plan":"x"},"timestamp":1717236000})
        );
    }
}
