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
pub fn build(op_type: OpType, action: &str, b: Map<String, Value>) -> Value {
    // One pass: the shared inputs come out, everything else goes straight into the operation
    // after `type` and `action`, in its order.
    let mut op = Map::with_capacity(b.len() + 4);
    op.insert("type".into(), Value::String(op_type.as_str().into()));
    op.insert("action".into(), Value::String(action.into()));
    let (mut convert, mut person_id, mut anonymous_id, mut email) = (None, None, None, None);
    let (mut object_id, mut object_type_id, mut ts) = (None, None, None);
    for (key, value) in b {
        match key.as_str() {
            "convert_timestamp" => convert = Some(value),
            "person_id" => person_id = Some(value),
            "anonymous_id" => anonymous_id = Some(value),
            "email" => email = Some(value),
            "object_id" => object_id = Some(value),
            "object_type_id" => object_type_id = Some(value),
            "timestamp" => ts = Some(value),
            // Delivery settings, never sent.
            "enable_batching" | "batch_size" => {}
            _ => {
                op.insert(key, value);
            }
        }
    }

    if convert.is_some_and(|c| c != Value::Bool(false)) {
        // `type` and `action` are never date-shaped, so converting them with the rest is safe.
        timestamp::convert_attributes(&mut op);
    }
    if let Some(ts) = ts.filter(|t| truthy(Some(t))) {
        op.insert("timestamp".into(), timestamp::convert_timestamp(&ts));
    }

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
