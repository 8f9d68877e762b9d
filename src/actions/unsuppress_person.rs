//! Unsuppress Person (`unsuppressPerson`): `person` / `unsuppress`.

use serde_json::Value;

use super::delete_person::person_only;
use super::payload::Payload;

pub use super::delete_person::FIELDS;

/// Builds the operation.
pub fn build(p: Payload) -> Value {
    person_only(p, "unsuppress")
}

#[cfg(test)]
mod tests {
    use crate::actions::test_support::run;
    use serde_json::json;

    #[test]
    fn w23_unsuppress() {
        let ev = json!({"type":"track","event":"User Unsuppressed","userId":"user_22"});
        assert_eq!(
            run("unsuppressPerson", &ev).unwrap(),
            json!({"type":"person","action":"unsuppress","identifiers":{"id":"user_22"}})
        );
    }
}
