//! Merge People (`mergePeople`): `person` / `merge`, with `primary` and `secondary` instead of
//! identifiers.

use serde_json::{Map, Value};

use super::builder::{build as finish, OpType};
use super::field::{string, DefaultMapping as D, FieldSpec, BATCH_SIZE, ENABLE_BATCHING};
use super::identifiers;
use super::payload::Payload;

/// The action's fields, in the reference's order.
pub const FIELDS: &[FieldSpec] = &[
    string("primary", "Primary User", true, D::Path("$.userId")),
    string("secondary", "Secondary User", true, D::Path("$.previousId")),
    ENABLE_BATCHING,
    BATCH_SIZE,
];

/// Builds the operation; each side is resolved like a person id alone.
pub fn build(p: Payload) -> Value {
    let mut b = Map::new();
    for side in ["primary", "secondary"] {
        if let Some(ids) = identifiers::person(p.get(side)) {
            b.insert(side.into(), Value::Object(ids));
        }
    }
    finish(OpType::Person, "merge", b)
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w30_w31_merge() {
        let ev = json!({"type":"alias","userId":"user_29","previousId":"anon_29"});
        assert_eq!(
            run("mergePeople", &ev).unwrap(),
            json!({"type":"person","action":"merge","primary":{"id":"user_29"},"secondary":{"id":"anon_29"}})
        );
        let ev = json!({"type":"alias","userId":"primary@example.com","previousId":"cio_0200aaaa"});
        assert_eq!(
            run("mergePeople", &ev).unwrap(),
            json!({"type":"person","action":"merge","primary":{"email":"primary@example.com"},"secondary":{"cio_id":"0200aaaa"}})
        );
        let ev = json!({"type":"alias","previousId":"a"});
        assert!(run("mergePeople", &ev).is_err());
    }
}
