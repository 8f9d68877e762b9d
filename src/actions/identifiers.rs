//! Identifier resolution (section 3.2 of the action spec): which key addresses the person or
//! object an operation is about. Every action resolves identifiers here, once.

use serde_json::{Map, Value};

/// The inputs to identifier resolution; each may be absent.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdInputs<'a> {
    pub object_id: Option<&'a Value>,
    pub object_type_id: Option<&'a Value>,
    pub person_id: Option<&'a Value>,
    pub email: Option<&'a Value>,
    pub anonymous_id: Option<&'a Value>,
}

/// JavaScript truthiness for the values these inputs can hold (JSON has no NaN).
pub fn truthy(v: Option<&Value>) -> bool {
    v.is_some_and(|v| !crate::mapping::path::is_falsy(v))
}

/// Resolves identifiers by the first rule that applies; `None` when nothing identifies the
/// operation (it is still sent, without an `identifiers` key).
pub fn resolve(inputs: IdInputs<'_>) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let default_type = Value::String("1".into());
    let type_id = inputs.object_type_id.unwrap_or(&default_type);
    if truthy(inputs.object_id) && truthy(Some(type_id)) {
        out.insert("object_id".into(), inputs.object_id.cloned()?);
        out.insert("object_type_id".into(), type_id.clone());
        return Some(out);
    }
    if let Some(person) = person(inputs.person_id) {
        return Some(person);
    }
    if truthy(inputs.email) {
        out.insert("email".into(), inputs.email.cloned()?);
        return Some(out);
    }
    if truthy(inputs.anonymous_id) {
        out.insert("anonymous_id".into(), inputs.anonymous_id.cloned()?);
        return Some(out);
    }
    None
}

/// Rules 2 to 4 on a person id alone: `cio_` prefix, email-shaped, plain id. Used for
/// relationships and both sides of a merge too.
pub fn person(person_id: Option<&Value>) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    match person_id {
        Some(Value::String(s)) if s.starts_with("cio_") => {
            out.insert("cio_id".into(), Value::String(s[4..].to_string()));
        }
        Some(Value::String(s)) if is_email(s) => {
            out.insert("email".into(), Value::String(s.clone()));
        }
        Some(v) if truthy(Some(v)) => {
            out.insert("id".into(), v.clone());
        }
        _ => return None,
    }
    Some(out)
}

/// The strict email test of the reference (case-insensitive, ASCII only, dotted domain whose
/// labels start and end with a letter or digit).
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    const LOCAL_SPECIAL: &[u8] = b"!#$%&'*+/=?^_`{|}~-";
    let local_ok = !local.is_empty()
        && local.split('.').all(|run| {
            !run.is_empty()
                && run
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || LOCAL_SPECIAL.contains(&b))
        });
    if !local_ok {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn email_test_matches_the_reference_pattern() {
        for ok in [
            "a@b.c",
            "Jane.Doe@Example.com",
            "X@Y.IO",
            "a+b@x-y.example.org",
            "o'neil@a.io",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "foo@bar",
            " a@b.com",
            "a@b.com ",
            "\"a\"@b.com",
            "a@[1.2.3.4]",
            "Üser@example.com",
            "ops@localhost",
            "a..b@c.com",
            ".a@c.com",
            "a@-b.com",
            "a@b-.com",
            "a@b..com",
            "a@@b.com",
            "@b.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn precedence() {
        let obj = json!("acme");
        let person = json!("cio_abc");
        let email = json!("e@x.io");
        let anon = json!("anon");
        let all = IdInputs {
            object_id: Some(&obj),
            object_type_id: None,
            person_id: Some(&person),
            email: Some(&email),
            anonymous_id: Some(&anon),
        };
        assert_eq!(
            Value::Object(resolve(all).unwrap()),
            json!({"object_id": "acme", "object_type_id": "1"})
        );
        let no_obj = IdInputs {
            object_id: None,
            ..all
        };
        assert_eq!(
            Value::Object(resolve(no_obj).unwrap()),
            json!({"cio_id": "abc"})
        );
        let cio_only = json!("cio_");
        let r = resolve(IdInputs {
            person_id: Some(&cio_only),
            ..no_obj
        })
        .unwrap();
        assert_eq!(Value::Object(r), json!({"cio_id": ""}));
        let empty = json!("");
        let r = resolve(IdInputs {
            person_id: Some(&empty),
            ..no_obj
        })
        .unwrap();
        assert_eq!(Value::Object(r), json!({"email": "e@x.io"}));
        let r = resolve(IdInputs {
            person_id: None,
            email: None,
            ..no_obj
        })
        .unwrap();
        assert_eq!(Value::Object(r), json!({"anonymous_id": "anon"}));
        assert!(resolve(IdInputs::default()).is_none());
        let spaced = json!(" a@b.com");
        let r = resolve(IdInputs {
            person_id: Some(&spaced),
            ..IdInputs::default()
        })
        .unwrap();
        assert_eq!(Value::Object(r), json!({"id": " a@b.com"}));
    }
}
