//! From mapped values to a validated payload: clean-up, type coercion and validation, the way
//! the reference runtime does it (sections 2.4 and 2.5 of the action spec).

use serde_json::Value;

use super::field::{FieldKind, FieldSpec};

/// How operations are delivered, which changes one clean-up rule: single mode drops top-level
/// empty strings before validation; batch mode keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One operation per `POST /api/v2/entity`.
    Single,
    /// Operations packed into `POST /api/v2/batch`.
    #[default]
    Batch,
}

/// The cleaned and validated fields of one event for one action, in mapping order. A short
/// list keyed by the fields' static names: an action has at most a dozen fields, so a scan
/// beats hashing, and no key is allocated per event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload(pub Vec<(&'static str, Value)>);

impl Payload {
    /// The value of a field, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The field as a string slice, if it is a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The field if it is a non-empty string (JavaScript truthiness on a string field).
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// Removes a field and returns it.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| *k == key)?;
        Some(self.0.remove(i).1)
    }

    /// Whether a field is present.
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| *k == key)
    }
}

/// Applies clean-up, coercion and validation to the mapped `values` (field index, value; in
/// mapping order). Returns the payload or the reference's validation messages joined by a space.
pub fn validate(
    fields: &[FieldSpec],
    values: Vec<(usize, Value)>,
    mode: Mode,
) -> Result<Payload, String> {
    let mut out = Payload(Vec::with_capacity(values.len()));
    let mut errors: Vec<String> = Vec::new();
    let mut empty_required: Vec<usize> = Vec::new();
    let mut invalid: Vec<usize> = Vec::new();
    for (idx, value) in values {
        let spec = &fields[idx];
        // 2.4: nulls go; empty strings go from non-string fields always and from string fields
        // in single mode only.
        match &value {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => {
                if !is_stringish(spec.kind) || mode == Mode::Single {
                    continue;
                }
                if spec.required {
                    // Batch mode would send an empty required value; cio-relay refuses it like
                    // single mode does (the golden `expected.jsonl` target).
                    empty_required.push(idx);
                    continue;
                }
            }
            _ => {}
        }
        match coerce(spec, value) {
            Ok(v) => {
                // A field mapped twice keeps its last value, as an object would.
                match out.0.iter_mut().find(|(k, _)| *k == spec.key) {
                    Some(slot) => slot.1 = v,
                    None => out.0.push((spec.key, v)),
                }
            }
            Err(e) => {
                errors.push(e);
                invalid.push(idx);
            }
        }
    }
    let mut missing: Vec<String> = fields
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            f.required
                && !invalid.contains(i)
                && (!out.contains(f.key) || empty_required.contains(i))
        })
        .map(|(_, f)| format!("The root value is missing the required field '{}'.", f.key))
        .collect();
    if missing.is_empty() && errors.is_empty() {
        Ok(out)
    } else {
        missing.append(&mut errors);
        Err(missing.join(" "))
    }
}

fn is_stringish(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::String | FieldKind::Choice(_) | FieldKind::Datetime
    )
}

fn a_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn coerce(spec: &FieldSpec, value: Value) -> Result<Value, String> {
    match spec.kind {
        FieldKind::String => coerce_string(value)
            .map_err(|v| format!("{} must be a string but it was {}.", spec.label, a_type(&v))),
        FieldKind::Choice(choices) => {
            let s = coerce_string(value).map_err(|v| {
                format!("{} must be a string but it was {}.", spec.label, a_type(&v))
            })?;
            match &s {
                Value::String(text) if choices.contains(&text.as_str()) => Ok(s),
                _ => Err(format!(
                    "{} must be one of: {}.",
                    spec.label,
                    one_of(choices)
                )),
            }
        }
        FieldKind::Object => match value {
            Value::Object(_) => Ok(value),
            other => Err(format!(
                "{} must be an object but it was {}.",
                spec.label,
                a_type(&other)
            )),
        },
        FieldKind::Boolean => match value {
            Value::Bool(_) => Ok(value),
            Value::String(ref s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(ref s) if s == "false" => Ok(Value::Bool(false)),
            Value::Number(ref n) if n.as_f64() == Some(0.0) => Ok(Value::Bool(false)),
            Value::Number(ref n) if n.as_f64() == Some(1.0) => Ok(Value::Bool(true)),
            other => Err(format!(
                "{} must be a boolean but it was {}.",
                spec.label,
                a_type(&other)
            )),
        },
        FieldKind::Number { min, max } => {
            let n = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                _ => None,
            };
            match n {
                Some(n) if n >= min as f64 && n <= max as f64 => Ok(number(n)),
                Some(_) => Err(format!("{} must be between {min} and {max}.", spec.label)),
                None => Err(format!(
                    "{} must be a number but it was {}.",
                    spec.label,
                    a_type(&value)
                )),
            }
        }
        FieldKind::Datetime => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) if is_date_like(s) => Ok(value),
            _ => Err(format!("{} must be a valid datetime string.", spec.label)),
        },
    }
}

/// Coerces a value to a string field's value; `Err` gives back the value that could not be.
pub fn coerce_string(value: Value) -> Result<Value, Value> {
    match value {
        Value::String(_) => Ok(value),
        Value::Number(n) => Ok(Value::String(js_number(&n))),
        Value::Bool(b) => Ok(Value::String(if b { "true" } else { "false" }.into())),
        Value::Array(mut a) if a.len() == 1 => {
            match coerce_string(a.pop().unwrap_or(Value::Null)) {
                Ok(v) => Ok(v),
                Err(inner) => Err(Value::Array(vec![inner])),
            }
        }
        other => Err(other),
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        2 => format!("{} or {}", quoted[0], quoted[1]),
        n => format!("{}, or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// Whether a string is "date-like" for a datetime field: a number written as text, or a date
/// the lenient timestamp parser understands.
fn is_date_like(s: &str) -> bool {
    if s.trim().parse::<f64>().is_ok() {
        return true;
    }
    matches!(
        super::timestamp::convert_timestamp(&Value::String(s.to_string())),
        Value::Number(_)
    )
}

/// Formats a JSON number the way JavaScript's `String(n)` does (shared with templates).
/// Integers beyond 2^53 come out as JavaScript would print the double it reads them as.
pub fn js_number(n: &serde_json::Number) -> String {
    let mut out = String::new();
    crate::mapping::template::push_js_number(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::field::{string, DefaultMapping, BATCH_SIZE};
    use serde_json::json;

    #[test]
    fn js_numbers_print_like_javascript() {
        let f = |x: f64| js_number(&serde_json::Number::from_f64(x).unwrap());
        assert_eq!(f(42.0), "42");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(1.5e21), "1.5e+21");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(123456789012345680000.0), "123456789012345680000");
        assert_eq!(f(0.000001), "0.000001");
        assert_eq!(f(0.0000001), "1e-7");
        assert_eq!(f(-0.5), "-0.5");
        assert_eq!(js_number(&serde_json::Number::from(12345)), "12345");
    }

    const FIELDS: [FieldSpec; 3] = [
        string("name", "Event Name", true, DefaultMapping::None),
        string("id", "Event ID", false, DefaultMapping::None),
        BATCH_SIZE,
    ];

    #[test]
    fn empty_strings_single_versus_batch() {
        let vals = || vec![(0, json!("")), (1, json!(""))];
        let single = validate(&FIELDS, vals(), Mode::Single).unwrap_err();
        assert_eq!(
            single,
            "The root value is missing the required field 'name'."
        );
        // Batch mode keeps the optional empty id but still refuses the empty required name.
        let batch = validate(&FIELDS, vals(), Mode::Batch).unwrap_err();
        assert_eq!(batch, single);
        let ok = validate(&FIELDS, vec![(0, json!("A")), (1, json!(""))], Mode::Batch).unwrap();
        assert_eq!(ok.0, vec![("name", json!("A")), ("id", json!(""))]);
        let ok = validate(&FIELDS, vec![(0, json!("A")), (1, json!(""))], Mode::Single).unwrap();
        assert_eq!(ok.get("id"), None);
    }

    #[test]
    fn strings_are_coerced() {
        let p = validate(
            &FIELDS,
            vec![(0, json!(12345)), (1, json!([true]))],
            Mode::Single,
        )
        .unwrap();
        assert_eq!(p.str("name"), Some("12345"));
        assert_eq!(p.str("id"), Some("true"));
        let e = validate(&FIELDS, vec![(0, json!({"a": 1}))], Mode::Single).unwrap_err();
        assert_eq!(e, "Event Name must be a string but it was an object.");
    }

    #[test]
    fn batch_size_range() {
        assert!(validate(
            &FIELDS,
            vec![(0, json!("a")), (2, json!("50"))],
            Mode::Batch
        )
        .is_ok());
        assert!(validate(&FIELDS, vec![(0, json!("a")), (2, json!(101))], Mode::Batch).is_err());
    }
}
