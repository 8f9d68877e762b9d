//! Delete Relationship (`deleteRelationship`): `object` / `delete_relationships`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::delete_object::object_type;
use super::field::{string, DefaultMapping as D, FieldSpec, BATCH_SIZE, ENABLE_BATCHING};
use super::identifiers::{self, IdInputs};
use super::payload::Payload;

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string("person_id", "Person ID", true, D::Path("$.userId")),
    string(
        "anonymous_id",
        "Anonymous ID",
        false,
        D::Path("$.anonymousId"),
    ),
    string(
        "object_id",
        "Object ID",
        true,
        D::Path("$.properties.objectId"),
    ),
    string(
        "object_type_id",
        "Object Type ID",
        false,
        D::ExistsOr("$.properties.object_type_id", "$.properties.objectTypeId"),
    ),
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation: the person side is a relationship, the identifiers are the object's,
/// and an anonymous id lands in a top-level `attributes`.
pub fn build(mut p: Payload) -> Value {
    let person = identifiers::resolve(IdInputs {
        person_id: p.get("person_id"),
        anonymous_id: p.get("anonymous_id"),
        ..IdInputs::default()
    });
    let mut rel = Map::new();
    if let Some(ids) = person {
        rel.insert("identifiers".into(), Value::Object(ids));
    }
    let mut b = Map::new();
    b.insert(
        "cio_relationships".into(),
        Value::Array(vec![Value::Object(rel)]),
    );
    move_field(&mut p, &mut b, "anonymous_id", "anonymous_id");
    move_field(&mut p, &mut b, "object_id", "object_id");
    object_type(&mut p, &mut b);
    finish(OpType::Object, "delete_relationships", b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w19_anonymous_id_in_top_level_attributes() {
        let ev = json!({"type":"track","event":"Relationship Deleted","userId":"user_18","anonymousId":"anon_18","properties":{"objectId":"acme","objectTypeId":"2"}});
        assert_eq!(
            run("deleteRelationship", &ev).unwrap(),
            json!({"type":"object","action":"delete_relationships","cio_relationships":[{"identifiers":{"id":"user_18"}}],"attributes":{"anonymous_id":"anon_18"},"identifiers":{"object_id":"acme","object_type_id":"2"}})
        );
    }
}
