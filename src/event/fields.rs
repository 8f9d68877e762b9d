//! An event's top-level fields with their values left as sent.
//!
//! Ingest reads and changes only top-level fields (type, ids, messageId, timestamps, the
//! `integrations` and `context` objects), then stores the event as JSON. Parsing every nested
//! object into a [`Value`] tree only to write it back out was most of ingest's cost per event,
//! so [`Fields`] keeps each value as the JSON text it was in the request (borrowed from the
//! body) until something reads or replaces it; [`Fields::to_json`] writes the untouched ones
//! back verbatim. Whatever the consumer parses from the stored JSON is the same value a full
//! parse at ingest would have given.
//!
//! Keys keep their order; a repeated key keeps its first place and its last value, as
//! `JSON.parse` and [`serde_json::Map`] (in insertion order) do.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// Keys up to which a repeated key is found by scanning (events have a dozen or so).
const SCAN_KEYS: usize = 32;

/// One top-level value: the text as sent, or a value the relay set.
#[derive(Debug, Clone)]
pub enum Field<'a> {
    /// As sent (valid JSON, checked when the event was parsed).
    Raw(&'a RawValue),
    /// Set or changed by the relay.
    Owned(Value),
}

impl Field<'_> {
    /// The value, parsed (a copy).
    pub fn to_value(&self) -> Value {
        match self {
            // Valid JSON by construction; `Null` only if that ever failed.
            Field::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
            Field::Owned(v) => v.clone(),
        }
    }

    /// The string, when the value is one (unescaped; borrowed when it has no escapes).
    pub fn as_str(&self) -> Option<Cow<'_, str>> {
        match self {
            Field::Raw(raw) => {
                let text = raw.get();
                let inner = text.strip_prefix('"')?.strip_suffix('"')?;
                if inner.contains('\\') {
                    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
                } else {
                    Some(Cow::Borrowed(inner))
                }
            }
            Field::Owned(Value::String(s)) => Some(Cow::Borrowed(s)),
            Field::Owned(_) => None,
        }
    }

    /// The number, when the value is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Field::Raw(raw) => {
                let first = *raw.get().as_bytes().first()?;
                if first == b'-' || first.is_ascii_digit() {
                    serde_json::from_str(raw.get()).ok()
                } else {
                    None
                }
            }
            Field::Owned(Value::Number(n)) => Some(n.clone()),
            Field::Owned(_) => None,
        }
    }

    /// Whether it is JSON `null`.
    pub fn is_null(&self) -> bool {
        match self {
            Field::Raw(raw) => raw.get() == "null",
            Field::Owned(v) => v.is_null(),
        }
    }

    /// Whether it is a JSON object.
    pub fn is_object(&self) -> bool {
        match self {
            Field::Raw(raw) => raw.get().starts_with('{'),
            Field::Owned(v) => v.is_object(),
        }
    }

    /// Present in Segment's sense: not `null` and not `""`.
    pub fn is_present(&self) -> bool {
        !self.is_null() && self.as_str().is_none_or(|s| !s.is_empty())
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Field::Raw(raw) => out.extend_from_slice(raw.get().as_bytes()),
            // Writing a Value to a Vec cannot fail.
            Field::Owned(v) => {
                let _ = serde_json::to_writer(&mut *out, v);
            }
        }
    }
}

/// An event's top-level fields, in order (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, Field<'a>)>,
}

impl<'a> Fields<'a> {
    /// Parses an event: a JSON object whose values all parse as [`Value`]s (a lone surrogate
    /// in a string or a number out of `f64`'s range does not, anywhere in it).
    pub fn parse(json: &'a str) -> Result<Fields<'a>, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Parses an event the relay stored itself (checked when it was accepted): the same as
    /// [`Fields::parse`] without walking the values again.
    pub fn parse_stored(json: &'a [u8]) -> Result<Fields<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let fields = de.deserialize_map(FieldsVisitor { check: false })?;
        de.end()?;
        Ok(fields)
    }

    /// A field.
    pub fn get(&self, key: &str) -> Option<&Field<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A field's string value (`None` when absent or not a string).
    pub fn str(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).and_then(Field::as_str)
    }

    /// A field's value, parsed (a copy).
    pub fn value(&self, key: &str) -> Option<Value> {
        self.get(key).map(Field::to_value)
    }

    /// Whether a field is present in Segment's sense: absent, `null` and `""` are not.
    pub fn is_present(&self, key: &str) -> bool {
        self.get(key).is_some_and(Field::is_present)
    }

    /// Sets a field: in its place when it exists, at the end otherwise.
    pub fn insert(&mut self, key: &'static str, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = Field::Owned(value),
            None => self.entries.push((Cow::Borrowed(key), Field::Owned(value))),
        }
    }

    /// Removes a field, keeping the others in order.
    pub fn remove(&mut self, key: &str) -> Option<Field<'a>> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// How many fields there are.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The event as compact JSON (values the relay did not touch as sent).
    pub fn to_json(&self) -> Vec<u8> {
        let size: usize = self
            .entries
            .iter()
            .map(|(k, v)| {
                k.len()
                    + 4
                    + match v {
                        Field::Raw(raw) => raw.get().len(),
                        Field::Owned(_) => 32,
                    }
            })
            .sum();
        let mut out = Vec::with_capacity(size + 2);
        out.push(b'{');
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // A string always serializes.
            let _ = serde_json::to_writer(&mut out, key.as_ref());
            out.push(b':');
            value.write_json(&mut out);
        }
        out.push(b'}');
        out
    }

    /// The fields as one parsed object (tests and diagnostics).
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_value()))
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor { check: true })
    }
}

/// Builds [`Fields`]; `check` walks each kept value as a full parse would (see [`Checked`]).
struct FieldsVisitor {
    check: bool,
}

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Field<'de>)> = Vec::with_capacity(16);
        // Past a few dozen keys, repeats are found by hash rather than by scanning, so an
        // event of thousands of keys costs linear time, not quadratic.
        let mut index: Option<HashMap<Cow<'de, str>, usize>> = None;
        while let Some(Key(key)) = map.next_key()? {
            let raw = map.next_value::<&'de RawValue>()?;
            if self.check {
                // Kept as text, the value must still be one the consumer can parse, or an
                // acknowledged event would fail there.
                serde_json::from_str::<Checked>(raw.get()).map_err(|e| {
                    de::Error::custom(format_args!("the value of {key:?} is invalid: {e}"))
                })?;
            }
            let value = Field::Raw(raw);
            if index.is_none() && entries.len() >= SCAN_KEYS {
                index = Some(
                    entries
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect(),
                );
            }
            let found = match &mut index {
                Some(index) => match index.get(&key) {
                    Some(&i) => Some(i),
                    None => {
                        index.insert(key.clone(), entries.len());
                        None
                    }
                },
                None => entries.iter().position(|(k, _)| *k == key),
            };
            match found {
                Some(i) => entries[i].1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(Fields { entries })
    }
}

/// A JSON value walked the way a full parse into [`Value`] walks it, building nothing:
/// strings are decoded (a lone surrogate is an error) and numbers converted (`1e999` is an
/// error). Skipping a value, as [`RawValue`] does, checks neither.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CheckedVisitor;

        impl<'de> Visitor<'de> for CheckedVisitor {
            type Value = Checked;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
                Ok(Checked)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Checked)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
                while map.next_key::<Checked>()?.is_some() {
                    map.next_value::<Checked>()?;
                }
                Ok(Checked)
            }
        }

        deserializer.deserialize_any(CheckedVisitor)
    }
}

/// An object key, borrowed from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn untouched_values_are_written_back_as_sent() {
        let json = r#"{"type":"track","properties":{"b": 1, "a":[1.50,"x\u00e9"]},"n":1e2}"#;
        let fields = Fields::parse(json).unwrap();
        assert_eq!(
            String::from_utf8(fields.to_json()).unwrap(),
            r#"{"type":"track","properties":{"b": 1, "a":[1.50,"x\u00e9"]},"n":1e2}"#
        );
        // What a consumer parses from it is what a full parse of the input gives.
        let reparsed: Value = serde_json::from_slice(&fields.to_json()).unwrap();
        assert_eq!(reparsed, serde_json::from_str::<Value>(json).unwrap());
    }

    #[test]
    fn set_fields_replace_in_place_or_go_last_and_removal_keeps_order() {
        let mut fields = Fields::parse(r#"{"a":1,"writeKey":"k","b":2}"#).unwrap();
        fields.insert("a", json!("one"));
        fields.insert("c", json!({"x": null}));
        assert!(matches!(fields.remove("writeKey"), Some(Field::Raw(_))));
        assert!(fields.remove("writeKey").is_none());
        assert_eq!(
            String::from_utf8(fields.to_json()).unwrap(),
            r#"{"a":"one","b":2,"c":{"x":null}}"#
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        let json = r#"{"a":1,"b":2,"a":3}"#;
        let fields = Fields::parse(json).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(
            fields.to_value(),
            serde_json::from_str::<Value>(json).unwrap()
        );
        assert_eq!(
            String::from_utf8(fields.to_json()).unwrap(),
            r#"{"a":3,"b":2}"#
        );
    }

    #[test]
    fn repeats_among_thousands_of_keys_are_found_as_among_a_few() {
        let mut json = String::from("{");
        for i in 0..5000 {
            json.push_str(&format!("\"k{i}\":{i},"));
        }
        // Repeats of a key from before and from after the switch to hashing.
        json.push_str("\"k3\":\"again\",\"k4000\":\"again\",\"last\":true}");
        let fields = Fields::parse(&json).unwrap();
        assert_eq!(fields.len(), 5001);
        assert_eq!(
            fields.to_value(),
            serde_json::from_str::<Value>(&json).unwrap()
        );
        assert_eq!(fields.str("k3").as_deref(), Some("again"));
        assert_eq!(fields.str("k4000").as_deref(), Some("again"));
    }

    #[test]
    fn escaped_keys_and_strings_are_read_unescaped() {
        let fields = Fields::parse(r#"{"us\u0065rId":"a\"b","anonymousId":"plain"}"#).unwrap();
        assert_eq!(fields.str("userId").as_deref(), Some("a\"b"));
        assert!(matches!(
            fields.str("anonymousId"),
            Some(Cow::Borrowed("plain"))
        ));
        assert_eq!(
            String::from_utf8(fields.to_json()).unwrap(),
            r#"{"userId":"a\"b","anonymousId":"plain"}"#
        );
    }

    #[test]
    fn presence_numbers_and_kinds() {
        let fields =
            Fields::parse(r#"{"n":null,"e":"","s":"x","z":0,"neg":-12.5,"o":{},"t":true,"a":[]}"#)
                .unwrap();
        assert!(!fields.is_present("n"));
        assert!(!fields.is_present("e"));
        assert!(!fields.is_present("missing"));
        for key in ["s", "z", "o", "t", "a"] {
            assert!(fields.is_present(key), "{key}");
        }
        assert_eq!(fields.get("z").unwrap().as_number(), Some(Number::from(0)));
        assert_eq!(
            fields
                .get("neg")
                .unwrap()
                .as_number()
                .map(|n| n.to_string()),
            Some("-12.5".into())
        );
        assert!(fields.get("s").unwrap().as_number().is_none());
        assert!(fields.get("s").unwrap().as_str().is_some());
        assert!(fields.get("z").unwrap().as_str().is_none());
        assert!(fields.get("o").unwrap().is_object());
        assert!(fields.get("n").unwrap().is_null());
        assert_eq!(fields.value("o"), Some(json!({})));
    }

    #[test]
    fn stored_events_parse_the_same_without_the_check() {
        let json = r#"{"type":"track","properties":{"a":[1,"x"]},"type":"page"}"#;
        let stored = Fields::parse_stored(json.as_bytes()).unwrap();
        assert_eq!(stored.to_value(), Fields::parse(json).unwrap().to_value());
        assert!(Fields::parse_stored(b"[1]").is_err());
        assert!(Fields::parse_stored(b"{} x").is_err());
    }

    #[test]
    fn only_objects_parse() {
        for json in ["[]", "1", "\"x\"", "null", "{", "{\"a\":}", ""] {
            assert!(Fields::parse(json).is_err(), "{json}");
        }
        assert!(Fields::parse(" { } ").unwrap().is_empty());
    }

    #[test]
    fn values_a_full_parse_refuses_are_refused_however_deep() {
        for json in [
            r#"{"a":"\ud800"}"#,
            r#"{"p":{"x":["ok","\udc00"]}}"#,
            r#"{"p":{"\ud800":1}}"#,
            r#"{"n":1e999}"#,
            r#"{"p":[{"n":-1e400}]}"#,
        ] {
            assert!(serde_json::from_str::<Value>(json).is_err(), "{json}");
            let err = Fields::parse(json).unwrap_err().to_string();
            assert!(err.contains("is invalid"), "{json}: {err}");
        }
        // What a full parse takes, this takes.
        for json in [
            r#"{"a":"\ud83d\ude00","b":[1,-2,3.5e10,true,null,{"c":{}}],"d":1e308}"#,
            r#"{"big":123456789012345678901234567890}"#,
        ] {
            let fields = Fields::parse(json).unwrap();
            assert_eq!(
                fields.to_value(),
                serde_json::from_str::<Value>(json).unwrap()
            );
        }
    }
}
