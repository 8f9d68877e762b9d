//! Delete Object (`deleteObject`): `object` / `delete`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::field::{string, DefaultMapping as D, FieldSpec, BATCH_SIZE, ENABLE_BATCHING};
use super::payload::Payload;

/// The action's fields. The object id is not required: without it the operation is sent with
/// no identifiers at all, as the reference does.
pub const FIELDS: &[FieldSpec] = &[
    string(
        "object_id",
        "Object ID",
        false,
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

/// Builds the operation.
pub fn build(mut p: Payload) -> Value {
    let mut b = Map::new();
    move_field(&mut p, &mut b, "object_id", "object_id");
    object_type(&mut p, &mut b);
    finish(OpType::Object, "delete", b)
}

/// Copies `object_type_id` into `b`, defaulting to `"1"`.
pub(super) fn object_type(p: &mut Payload, b: &mut Map<String, Value>) {
    let type_id = p
        .take("object_type_id")
        .unwrap_or_else(|| Value::String("1".into()));
    b.insert("object_type_id".into(), type_id);
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn with_and_without_object_id() {
        let ev = json!({"type":"track","event":"Object Deleted","userId":"u","properties":{"objectId":"o1","objectTypeId":"2"}});
        assert_eq!(
            run("deleteObject", &ev).unwrap(),
            json!({"type":"object","action":"delete","identifiers":{"object_id":"o1","object_type_id":"2"}})
        );
        let ev = json!({"type":"track","event":"Object Deleted","userId":"u"});
        assert_eq!(
            run("deleteObject", &ev).unwrap(),
            json!({"type":"object","action":"delete"})
        );
    }
}
