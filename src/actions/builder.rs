//! The shared payload builder (section 3.1 of the action spec): every action except Report
//! Delivery Event ends here. It adds `type` and `action`, converts timestamps, places
//! `anonymous_id` and resolves `identifiers`.

use serde_json::{Map, Value};

use super::identifiers::{self, truthy, IdInputs};
use super::timestamp;

/// The operation `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    Person,
    Object,
}

impl OpType {
    fn as_str(self) -> &'static str {
        match self {
            OpType::Person => "person",
            OpType::Object => "object",
        }
    }
}

/// Builds the operation from the action's intermediate object `b`.
pub fn build(op_type: OpType, action: &str, mut b: Map<String, Value>) -> Value {
    let convert = b.shift_remove("convert_timestamp");
    let person_id = b.shift_remove("person_id");
    let anonymous_id = b.shift_remove("anonymous_id");
    let email = b.shift_remove("email");
    let object_id = b.shift_remove("object_id");
    let object_type_id = b.shift_remove("object_type_id");
    let ts = b.shift_remove("timestamp");
    b.shift_remove("enable_batching");
    b.shift_remove("batch_size");
    let mut rest = b;

    if convert.is_some_and(|c| c != Value::Bool(false)) {
        timestamp::convert_attributes(&mut rest);
    }
    if let Some(ts) = ts.filter(|t| truthy(Some(t))) {
        rest.insert("timestamp".into(), timestamp::convert_timestamp(&ts));
    }

    let mut op = Map::with_capacity(rest.len() + 4);
    op.insert("type".into(), Value::String(op_type.as_str().into()));
    op.insert("action".into(), Value::String(action.into()));
    op.extend(rest);

    if let Some(anon) = anonymous_id.as_ref().filter(|a| truthy(Some(a))) {
        match op.get_mut("attributes") {
            Some(Value::Object(attrs)) => {
                attrs.insert("anonymous_id".into(), anon.clone());
            }
            Some(other) => {
                // `{...attributes}` of a non-object spreads nothing.
                let mut attrs = Map::new();
                attrs.insert("anonymous_id".into(), anon.clone());
                *other = Value::Object(attrs);
            }
            None => {
                let mut attrs = Map::new();
                attrs.insert("anonymous_id".into(), anon.clone());
                op.insert("attributes".into(), Value::Object(attrs));
            }
        }
    }

    if action != "merge" {
        let ids = identifiers::resolve(IdInputs {
            object_id: object_id.as_ref(),
            object_type_id: object_type_id.as_ref(),
            person_id: person_id.as_ref(),
            email: email.as_ref(),
            anonymous_id: anonymous_id.as_ref(),
        });
        if let Some(ids) = ids {
            let anonymous_identified = ids.len() == 1 && ids.contains_key("anonymous_id");
            op.insert("identifiers".into(), Value::Object(ids));
            if anonymous_identified {
                if let Some(Value::Object(attrs)) = op.get_mut("attributes") {
                    attrs.shift_remove("anonymous_id");
                }
            }
        }
    }
    Value::Object(op)
}
