//! Create or Update Object (`createUpdateObject`): `object` / `identify` or `identify_anonymous`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::field::{
    object, string, DefaultMapping as D, FieldSpec, BATCH_SIZE, CONVERT_TIMESTAMP, ENABLE_BATCHING,
};
use super::identifiers::{self, truthy};
use super::payload::Payload;
use super::timestamp::convert_attributes;

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string("id", "Object ID", true, D::Path("$.groupId")),
    string(
        "created_at",
        "Created At",
        false,
        D::ExistsOr("$.traits.created_at", "$.traits.createdAt"),
    ),
    object(
        "custom_attributes",
        "Object Attributes",
        D::Path("$.traits.objectAttributes"),
    ),
    object(
        "relationship_attributes",
        "Relationship Attributes",
        D::Path("$.traits.relationshipAttributes"),
    ),
    string("user_id", "User ID", false, D::Path("$.userId")),
    string(
        "anonymous_id",
        "Anonymous ID",
        false,
        D::Path("$.anonymousId"),
    ),
    string(
        "object_type_id",
        "Object Type Id",
        false,
        D::ExistsOr("$.traits.object_type_id", "$.traits.objectTypeId"),
    ),
    CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation. Only `traits.objectAttributes` become attributes; `created_at` is a
/// top-level key; conversion runs over the whole intermediate object (ids included, as the
/// reference does) and separately over the relationship attributes.
pub fn build(mut p: Payload) -> Value {
    let convert = p
        .take("convert_timestamp")
        .is_some_and(|c| c != Value::Bool(false));
    let mut relationship_attributes = p.take("relationship_attributes");
    let created_at = p.take("created_at");
    let created_mapped = created_at.is_some();

    let mut b = Map::new();
    if let Some(c) = created_at {
        b.insert("created_at".into(), c);
    }
    if let Some(anon) = p.take("anonymous_id") {
        b.insert("anonymous_id".into(), anon);
    }
    if let Some(user) = p.take("user_id") {
        b.insert("person_id".into(), user);
    }
    let attributes = p.take("custom_attributes");
    let anon_truthy = truthy(b.get("anonymous_id"));
    match attributes {
        Some(Value::Object(mut attrs)) => {
            for key in ["object_type_id", "objectTypeId", "relationshipAttributes"] {
                attrs.shift_remove(key);
            }
            b.insert("attributes".into(), Value::Object(attrs));
        }
        // The reference keeps an `attributes` key (undefined) here, so the anonymous id the
        // builder adds sits at this position.
        _ if anon_truthy => {
            b.insert("attributes".into(), Value::Object(Map::new()));
        }
        _ => {}
    }
    let type_id = p
        .take("object_type_id")
        .unwrap_or_else(|| Value::String("1".into()));
    b.insert("object_type_id".into(), type_id);
    if let Some(id) = p.take("id") {
        b.insert("object_id".into(), id);
    }

    if convert {
        convert_attributes(&mut b);
        if let Some(Value::Object(rel)) = relationship_attributes.as_mut() {
            convert_attributes(rel);
        }
    }
    if created_mapped && !truthy(b.get("created_at")) {
        b.shift_remove("created_at");
    }

    let relationship = |ids: Map<String, Value>| {
        let mut rel = Map::new();
        rel.insert("identifiers".into(), Value::Object(ids));
        if let Some(attrs) = relationship_attributes.clone() {
            rel.insert("relationship_attributes".into(), attrs);
        }
        Value::Array(vec![Value::Object(rel)])
    };
    let person = b.shift_remove("person_id");
    let action = if truthy(person.as_ref()) {
        if let Some(ids) = identifiers::person(person.as_ref()) {
            b.insert("cio_relationships".into(), relationship(ids));
        }
        "identify"
    } else if anon_truthy {
        let mut ids = Map::new();
        ids.insert(
            "anonymous_id".into(),
            b.get("anonymous_id").cloned().unwrap_or(Value::Null),
        );
        b.insert("cio_relationships".into(), relationship(ids));
        "identify_anonymous"
    } else {
        "identify"
    };
    finish(OpType::Object, action, b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w27_object_with_relationship_dates_converted() {
        let ev = json!({"type":"group","groupId":"acme","timestamp":"2024-06-01T10:00:00.000Z","userId":"user_26","anonymousId":"anon_26","traits":{"name":"Acme Inc","objectTypeId":"3","created_at":"2020-05-01T00:00:00Z","objectAttributes":{"industry":"Retail","founded":"1999-01-01","object_type_id":"9"},"relationshipAttributes":{"role":"owner","joined":"2024-05-01T12:00:00Z"}}});
        assert_eq!(
            run("createUpdateObject", &ev).unwrap(),
            json!({"type":"object","action":"identify","created_at":1588291200,"attributes":{"industry":"Retail","founded":915148800,"anonymous_id":"anon_26"},"cio_relationships":[{"identifiers":{"id":"user_26"},"relationship_attributes":{"role":"owner","joined":1714564800}}],"identifiers":{"object_id":"acme","object_type_id":"3"}})
        );
    }

    #[test]
    fn w28_anonymous_group() {
        let ev = json!({"type":"group","groupId":"globex","anonymousId":"anon_27","traits":{"objectAttributes":{"name":"Globex"}}});
        assert_eq!(
            run("createUpdateObject", &ev).unwrap(),
            json!({"type":"object","action":"identify_anonymous","attributes":{"name":"Globex","anonymous_id":"anon_27"},"cio_relationships":[{"identifiers":{"anonymous_id":"anon_27"}}],"identifiers":{"object_id":"globex","object_type_id":"1"}})
        );
    }

    #[test]
    fn w29_no_person_non_iso_created_at() {
        let ev = json!({"type":"group","groupId":"initech","traits":{"createdAt":"May 1, 2020"}});
        assert_eq!(
            run("createUpdateObject", &ev).unwrap(),
            json!({"type":"object","action":"identify","created_at":"May 1, 2020","identifiers":{"object_id":"initech","object_type_id":"1"}})
        );
    }

    #[test]
    fn date_shaped_group_id_travels_as_a_number() {
        let ev = json!({"type":"group","groupId":"2024-01-01","userId":"u"});
        assert_eq!(
            run("createUpdateObject", &ev).unwrap(),
            json!({"type":"object","action":"identify","cio_relationships":[{"identifiers":{"id":"u"}}],"identifiers":{"object_id":1704067200,"object_type_id":"1"}})
        );
    }
}
