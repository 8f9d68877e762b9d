//! Create or Update Device (`createUpdateDevice`): `person` / `add_device`.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::create_update_person::move_field;
use super::field::{
    object, string, DefaultMapping as D, FieldSpec, BATCH_SIZE, CONVERT_TIMESTAMP, ENABLE_BATCHING,
};
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
    string(
        "app_version",
        "App Version",
        false,
        D::Path("$.context.app.version"),
    ),
    string(
        "platform",
        "Platform",
        true,
        D::Path("$.context.device.type"),
    ),
    string("last_used", "Last Used", false, D::Path("$.timestamp")),
    object("attributes", "Event Attributes", D::Path("$.properties")),
    CONVERT_TIMESTAMP,
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation. `device.last_used` goes through attribute conversion, not the lenient
/// timestamp parser, and `platform` is sent as given.
pub fn build(mut p: Payload) -> Value {
    let mut device = Map::new();
    move_field(&mut p, &mut device, "device_id", "token");
    move_field(&mut p, &mut device, "platform", "platform");
    move_field(&mut p, &mut device, "last_used", "last_used");
    let mut attributes = match p.take("attributes") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(version) = p.non_empty("app_version") {
        attributes.insert("app_version".into(), Value::String(version.to_string()));
    }
    device.insert("attributes".into(), Value::Object(attributes));

    let mut b = Map::new();
    b.insert("device".into(), Value::Object(device));
    move_field(&mut p, &mut b, "person_id", "person_id");
    move_field(&mut p, &mut b, "convert_timestamp", "convert_timestamp");
    finish(OpType::Person, "add_device", b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn device_from_context() {
        let ev = json!({"type":"track","event":"Application Installed","timestamp":"2024-06-01T10:00:00.000Z","userId":"u1","properties":{"build":"7","app_version":"0.9"},"context":{"device":{"token":"tok","type":"ios"},"app":{"version":"1.2.3"}}});
        assert_eq!(
            run("createUpdateDevice", &ev).unwrap(),
            json!({"type":"person","action":"add_device","device":{"token":"tok","platform":"ios","last_used":1717236000,"attributes":{"build":"7","app_version":"1.2.3"}},"identifiers":{"id":"u1"}})
        );
    }

    #[test]
    fn anonymous_or_tokenless_devices_are_refused() {
        let ev = json!({"type":"track","event":"Application Opened","anonymousId":"a","context":{"device":{"type":"android"}}});
        assert_eq!(
            run("createUpdateDevice", &ev).unwrap_err(),
            "The root value is missing the required field 'person_id'. The root value is missing the required field 'device_id'."
        );
    }
}
