//! Suppress Person (`suppressPerson`): `person` / `suppress`.

use serde_json::Value;

use super::delete_person::person_only;
use super::payload::Payload;

pub use super::delete_person::FIELDS;

/// Builds the operation.
pub fn build(p: Payload) -> Value {
    person_only(p, "suppress")
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w22_email_user_id() {
        let ev = json!({"type":"track","event":"User Suppressed","userId":"user_21@example.com"});
        assert_eq!(
            run("suppressPerson", &ev).unwrap(),
            json!({"type":"person","action":"suppress","identifiers":{"email":"user_21@example.com"}})
        );
    }
}
