//! Delete Device (`deleteDevice`): `person` / `delete_device`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::field::{string, DefaultMapping as D, FieldSpec, BATCH_SIZE, ENABLE_BATCHING};
use super::payload::Payload;

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string("person_id", "Person ID", true, D::Path("$.userId")),
    string(
        "device_id",
        "Device ID",
        true,
        D::Path("$.context.device.token"),
    ),
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation.
pub fn build(mut p: Payload) -> Value {
    let mut device = Map::new();
    move_field(&mut p, &mut device, "device_id", "token");
    let mut b = Map::new();
    b.insert("device".into(), Value::Object(device));
    move_field(&mut p, &mut b, "person_id", "person_id");
    finish(OpType::Person, "delete_device", b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn deletes_the_context_token() {
        let ev = json!({"type":"track","event":"Device Deleted","userId":"u","context":{"device":{"token":"t1"}}});
        assert_eq!(
            run("deleteDevice", &ev).unwrap(),
            json!({"type":"person","action":"delete_device","device":{"token":"t1"},"identifiers":{"id":"u"}})
        );
    }
}
