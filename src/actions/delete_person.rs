//! Delete Person (`deletePerson`): `person` / `delete`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::field::{string, DefaultMapping as D, FieldSpec, BATCH_SIZE, ENABLE_BATCHING};
use super::payload::Payload;

/// The action's fields. Suppress and Unsuppress Person have the same table.
pub const FIELDS: &[FieldSpec] = &[
    string("person_id", "Person ID", true, D::Path("$.userId")),
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation.
pub fn build(p: Payload) -> Value {
    person_only(p, "delete")
}

/// An operation that carries nothing but the person's identifiers.
pub(super) fn person_only(mut p: Payload, action: &str) -> Value {
    let mut b = Map::new();
    move_field(&mut p, &mut b, "person_id", "person_id");
    finish(OpType::Person, action, b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w20_delete_person() {
        let ev = json!({"type":"track","event":"User Deleted","userId":"user_19"});
        assert_eq!(
            run("deletePerson", &ev).unwrap(),
            json!({"type":"person","action":"delete","identifiers":{"id":"user_19"}})
        );
        let anon = json!({"type":"track","event":"User Deleted","anonymousId":"a"});
        assert!(run("deletePerson", &anon).is_err());
    }
}
