//! The mapping directives a field mapping may use (spec 2.1–2.3).
//!
//! A field mapping is a JSON value: a plain literal, a *directive* (an object with exactly one
//! `@`-key, optionally beside `_metadata`), or an object/array literal with directives nested
//! inside. [`Mapping::parse`] checks it and compiles every path and template once;
//! [`Mapping::resolve`] evaluates it against an event, the way Segment's mapping runtime does.
//!
//! Supported: `@path`, `@if` (`exists` or `blank`, optional `then`/`else`), `@template`,
//! `@arrayPath`, `@literal`. The runtime's other directives (`@case`, `@replace`, `@json`,
//! `@flatten`, `@merge`, `@transform`, `@excludeWhenNull`, `@liquid`) are refused with an error
//! saying so, as is any unknown `@` name or an object that mixes an `@` key with other keys.
//!
//! Resolution yields `None` for JavaScript's `undefined`. Inside object literals such keys are
//! dropped (at every depth); inside array literals they become `null`, as the reference's JSON
//! serialization does.
//!
//! Checked against `@segment/actions-core` 3.170.0 on generated mappings and events. Where this
//! module deliberately differs, it is stricter at parse time or cannot fail at run time:
//!
//! * every directive is checked when the mapping is parsed, wherever it sits (the reference
//!   skips the inside of array literals and only fails such an event when it gets there), and
//!   `@if` takes no keys besides `exists`, `blank`, `then`, `else` and `_metadata`;
//! * an `@path` or `@template` whose argument is a directive that does not resolve to a string
//!   resolves to undefined, where the reference fails the event.

pub mod path;
pub mod template;

use std::fmt;

use serde_json::{Map, Value};

use self::path::{is_falsy, Path};
use self::template::{js_string, Template};
use crate::event::EventKeys;

/// A parsed field mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping {
    /// A value without any directive, taken as is.
    Literal(Value),
    /// `@path`: the value at a path in the event.
    Path(Arg<Path>),
    /// `@template`: a string with placeholders.
    Template(Arg<Template>),
    /// `@if`: a conditional.
    If(Box<IfMapping>),
    /// `@arrayPath`: a value at a path, optionally reshaped element by element.
    ArrayPath(Box<ArrayPathMapping>),
    /// An object literal with directives somewhere inside, keys in their original order.
    Object(Vec<(String, Mapping)>),
    /// An array literal with directives somewhere inside.
    Array(Vec<Mapping>),
}

/// The argument of `@path` or `@template`: known when the mapping is parsed, or computed by a
/// nested directive when it is resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<T> {
    /// A string argument, compiled at parse time.
    Static(T),
    /// A directive that must resolve to a string; anything else resolves the whole directive to
    /// `undefined` (the reference fails the event with "expected string").
    Dynamic(Box<Mapping>),
}

/// The parts of an `@if`.
#[derive(Debug, Clone, PartialEq)]
pub struct IfMapping {
    /// What is tested.
    pub condition: Condition,
    /// Resolved when the condition holds.
    pub then: Option<Mapping>,
    /// Resolved when it does not. Only kept when the configured `else` is truthy, as the
    /// reference ignores an `else` of `""`, `0`, `false` or `null`.
    pub otherwise: Option<Mapping>,
}

/// The condition of an `@if`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Holds when the value is neither undefined nor `null`.
    Exists(Mapping),
    /// Holds when the value is not undefined or `null` and is loosely unequal to `""` (so `0`,
    /// `false`, `""` and arrays whose text is empty are blank).
    Blank(Mapping),
}

/// The parts of an `@arrayPath`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayPathMapping {
    /// Where the value comes from.
    pub root: ArrayRoot,
    /// The shape each element is resolved with; only present when the configured shape is a
    /// non-empty object (any other shape is ignored, as in the reference).
    pub shape: Option<Mapping>,
}

/// The first element of an `@arrayPath`.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayRoot {
    /// A path string.
    Path(Path),
    /// A directive, whose value is used as is.
    Mapping(Mapping),
}

/// A mapping that cannot be used, with where in the mapping value the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    /// Where, as keys from the mapping value's root joined by `.` (array elements as `[n]`),
    /// e.g. `data.@if.then`; empty for the root itself.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at {}: {}", self.location, self.message)
        }
    }
}

impl std::error::Error for MappingError {}

/// The directives cio-relay implements.
const SUPPORTED: &str = "@path, @if, @template, @arrayPath, @literal";

/// Directives the reference runtime knows but cio-relay does not implement.
const UNSUPPORTED: &[&str] = &[
    "@case",
    "@replace",
    "@json",
    "@flatten",
    "@merge",
    "@transform",
    "@excludeWhenNull",
    "@liquid",
];

impl Mapping {
    /// Parses a mapping value given as JSON (from TOML config or the built-in defaults).
    pub fn parse(v: &Value) -> Result<Mapping, MappingError> {
        parse_at(v, "")
    }

    /// Adds the top-level event keys resolving this mapping can read to `out`: resolving it
    /// against an event holding only those keys gives what resolving it against the whole
    /// event gives. A path computed at resolve time could read any key.
    pub fn event_keys(&self, out: &mut EventKeys) {
        match self {
            Mapping::Literal(_) => {}
            Mapping::Path(Arg::Static(path)) => path.event_keys(out),
            Mapping::Template(Arg::Static(t)) => t.event_keys(out),
            Mapping::Path(Arg::Dynamic(_)) | Mapping::Template(Arg::Dynamic(_)) => out.add_all(),
            Mapping::If(m) => {
                match &m.condition {
                    Condition::Exists(c) | Condition::Blank(c) => c.event_keys(out),
                }
                for branch in [&m.then, &m.otherwise].into_iter().flatten() {
                    branch.event_keys(out);
                }
            }
            // The shape is resolved against each element, not the event.
            Mapping::ArrayPath(m) => match &m.root {
                ArrayRoot::Path(path) => path.event_keys(out),
                ArrayRoot::Mapping(root) => root.event_keys(out),
            },
            Mapping::Object(fields) => {
                for (_, m) in fields {
                    m.event_keys(out);
                }
            }
            Mapping::Array(items) => {
                for m in items {
                    m.event_keys(out);
                }
            }
        }
    }

    /// Resolves the mapping against `event`. `None` means undefined (absent); `Some(Null)` is a
    /// real `null`.
    pub fn resolve(&self, event: &Value) -> Option<Value> {
        match self {
            Mapping::Literal(v) => Some(v.clone()),
            Mapping::Path(Arg::Static(path)) => path.get(event),
            Mapping::Path(Arg::Dynamic(m)) => match m.resolve(event)? {
                Value::String(p) => Path::parse_directive(&p).get(event),
                _ => None,
            },
            Mapping::Template(Arg::Static(t)) => Some(Value::String(t.render(event))),
            Mapping::Template(Arg::Dynamic(m)) => match m.resolve(event)? {
                Value::String(t) => Some(Value::String(Template::parse(&t).render(event))),
                _ => None,
            },
            Mapping::If(i) => i.resolve(event),
            Mapping::ArrayPath(a) => a.resolve(event),
            Mapping::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (key, m) in fields {
                    if let Some(v) = m.resolve(event) {
                        out.insert(key.clone(), v);
                    }
                }
                Some(Value::Object(out))
            }
            Mapping::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .map(|m| m.resolve(event).unwrap_or(Value::Null))
                    .collect(),
            )),
        }
    }

    /// `{"@path": p}`.
    pub fn path(p: &str) -> Mapping {
        Mapping::Path(Arg::Static(Path::parse_directive(p)))
    }

    /// `{"@if": {"exists": {"@path": a}, "then": {"@path": a}, "else": {"@path": b}}}`: the value
    /// at `a` unless it is null or absent, else the value at `b`.
    pub fn exists_or(a: &str, b: &str) -> Mapping {
        Mapping::If(Box::new(IfMapping {
            condition: Condition::Exists(Mapping::path(a)),
            then: Some(Mapping::path(a)),
            otherwise: Some(Mapping::path(b)),
        }))
    }

    /// `{"@template": t}`.
    pub fn template(t: &str) -> Mapping {
        Mapping::Template(Arg::Static(Template::parse(t)))
    }

    /// A literal value, taken verbatim (even if it looks like a directive).
    pub fn literal(v: Value) -> Mapping {
        Mapping::Literal(v)
    }

    /// True when this mapping is a plain literal (no directive anywhere).
    pub fn is_literal(&self) -> bool {
        matches!(self, Mapping::Literal(_))
    }

    /// The value of a [`Mapping::Literal`] (only called on literals; anything else gives null).
    fn into_literal(self) -> Value {
        match self {
            Mapping::Literal(v) => v,
            _ => Value::Null,
        }
    }
}

impl IfMapping {
    fn resolve(&self, event: &Value) -> Option<Value> {
        let holds = match &self.condition {
            Condition::Exists(m) => m.resolve(event).is_some_and(|v| !v.is_null()),
            Condition::Blank(m) => m.resolve(event).is_some_and(|v| !is_blank(&v)),
        };
        let branch = if holds { &self.then } else { &self.otherwise };
        branch.as_ref().and_then(|m| m.resolve(event))
    }
}

/// `v === null || v == ''` in JavaScript.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f == 0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) => js_string(Some(v)).is_empty(),
        Value::Object(_) => false,
    }
}

impl ArrayPathMapping {
    fn resolve(&self, event: &Value) -> Option<Value> {
        let root = match &self.root {
            ArrayRoot::Path(p) => p.get(event),
            ArrayRoot::Mapping(m) => m.resolve(event),
        };
        let Some(shape) = &self.shape else {
            return root;
        };
        let each = |item: &Value| shape.resolve(item).unwrap_or(Value::Null);
        match root {
            Some(Value::Array(items)) => Some(Value::Array(items.iter().map(each).collect())),
            Some(obj @ Value::Object(_)) => Some(Value::Array(vec![each(&obj)])),
            other => other,
        }
    }
}

fn err(location: &str, message: impl Into<String>) -> MappingError {
    MappingError {
        location: location.to_string(),
        message: message.into(),
    }
}

fn child(location: &str, key: &str) -> String {
    if location.is_empty() {
        key.to_string()
    } else {
        format!("{location}.{key}")
    }
}

/// "a string", "an object", ... for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(o) if o.keys().any(|k| k.starts_with('@')) => "a directive",
        Value::Object(_) => "an object",
    }
}

fn is_directive_object(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.keys().any(|k| k.starts_with('@')))
}

fn parse_at(v: &Value, location: &str) -> Result<Mapping, MappingError> {
    match v {
        Value::Object(obj) => {
            let mut directive: Option<(&str, &Value)> = None;
            for (key, arg) in obj.iter().filter(|(k, _)| k.starts_with('@')) {
                if let Some((first, _)) = directive {
                    return Err(err(
                        location,
                        format!(
                            "an object can hold only one directive, found \"{first}\" and \"{key}\""
                        ),
                    ));
                }
                directive = Some((key.as_str(), arg));
            }
            match directive {
                Some((name, arg)) => {
                    let other = obj
                        .keys()
                        .find(|k| !k.starts_with('@') && *k != "_metadata");
                    if let Some(other) = other {
                        return Err(err(
                            location,
                            format!(
                                "the directive \"{name}\" cannot share its object with other \
                                 keys (found \"{other}\")"
                            ),
                        ));
                    }
                    parse_directive(name, arg, location)
                }
                None => {
                    let mut fields = Vec::with_capacity(obj.len());
                    for (key, value) in obj {
                        fields.push((key.clone(), parse_at(value, &child(location, key))?));
                    }
                    Ok(if fields.iter().all(|(_, m)| m.is_literal()) {
                        // Rebuilt from the parsed parts: an `@literal` inside is unwrapped.
                        Mapping::Literal(Value::Object(
                            fields
                                .into_iter()
                                .map(|(k, m)| (k, m.into_literal()))
                                .collect(),
                        ))
                    } else {
                        Mapping::Object(fields)
                    })
                }
            }
        }
        Value::Array(items) => {
            let mut parsed = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                parsed.push(parse_at(item, &format!("{location}[{i}]"))?);
            }
            Ok(if parsed.iter().all(Mapping::is_literal) {
                Mapping::Literal(Value::Array(
                    parsed.into_iter().map(Mapping::into_literal).collect(),
                ))
            } else {
                Mapping::Array(parsed)
            })
        }
        _ => Ok(Mapping::Literal(v.clone())),
    }
}

fn parse_directive(name: &str, arg: &Value, location: &str) -> Result<Mapping, MappingError> {
    let here = child(location, name);
    match name {
        "@path" => Ok(Mapping::Path(parse_string_arg(
            name,
            arg,
            &here,
            Path::parse_directive,
        )?)),
        "@template" => Ok(Mapping::Template(parse_string_arg(
            name,
            arg,
            &here,
            Template::parse,
        )?)),
        "@literal" => parse_at(arg, &here),
        "@if" => parse_if(arg, &here),
        "@arrayPath" => parse_array_path(arg, &here),
        _ if UNSUPPORTED.contains(&name) => Err(err(
            location,
            format!("the {name} directive is not supported by cio-relay (supported: {SUPPORTED})"),
        )),
        _ => Err(err(
            location,
            format!("unknown directive \"{name}\" (supported: {SUPPORTED})"),
        )),
    }
}

fn parse_string_arg<T>(
    name: &str,
    arg: &Value,
    location: &str,
    compile: impl FnOnce(&str) -> T,
) -> Result<Arg<T>, MappingError> {
    match arg {
        Value::String(s) => Ok(Arg::Static(compile(s))),
        _ if is_directive_object(arg) => Ok(Arg::Dynamic(Box::new(parse_at(arg, location)?))),
        _ => Err(err(
            location,
            format!("{name} expects a string or a directive, got {}", kind(arg)),
        )),
    }
}

fn parse_if(arg: &Value, location: &str) -> Result<Mapping, MappingError> {
    let Value::Object(opts) = arg else {
        return Err(err(
            location,
            format!(
                "@if expects an object with \"exists\" or \"blank\", got {}",
                kind(arg)
            ),
        ));
    };
    let mut exists = None;
    let mut blank = None;
    let mut then = None;
    let mut otherwise = None;
    for (key, value) in opts {
        let slot = match key.as_str() {
            "exists" => &mut exists,
            "blank" => &mut blank,
            "then" => &mut then,
            "else" => &mut otherwise,
            "_metadata" => continue,
            _ => {
                return Err(err(
                    location,
                    format!(
                        "@if does not take the key \"{key}\" (it takes exists, blank, then, else)"
                    ),
                ))
            }
        };
        *slot = Some((value, parse_at(value, &child(location, key))?));
    }
    let truthy =
        |slot: &Option<(&Value, Mapping)>| slot.as_ref().is_some_and(|(raw, _)| !is_falsy(raw));
    let missing = || {
        err(
            location,
            "@if needs a non-empty \"exists\" or \"blank\" condition",
        )
    };
    if !truthy(&exists) && !truthy(&blank) {
        return Err(missing());
    }
    // As in the reference, a present "exists" wins over "blank", even when it is falsy.
    let condition = match (exists, blank) {
        (Some((_, m)), _) => Condition::Exists(m),
        (None, Some((_, m))) => Condition::Blank(m),
        (None, None) => return Err(missing()),
    };
    Ok(Mapping::If(Box::new(IfMapping {
        condition,
        then: then.map(|(_, m)| m),
        otherwise: otherwise.and_then(|(raw, m)| (!is_falsy(raw)).then_some(m)),
    })))
}

fn parse_array_path(arg: &Value, location: &str) -> Result<Mapping, MappingError> {
    let Value::Array(items) = arg else {
        return Err(err(
            location,
            format!(
                "@arrayPath expects an array [path, shape], got {}",
                kind(arg)
            ),
        ));
    };
    let root = match items.first() {
        Some(Value::String(p)) => ArrayRoot::Path(Path::parse_directive(p)),
        Some(d) if is_directive_object(d) => {
            ArrayRoot::Mapping(parse_at(d, &format!("{location}[0]"))?)
        }
        other => {
            return Err(err(
                &format!("{location}[0]"),
                format!(
                    "@arrayPath's path must be a string or a directive, got {}",
                    other.map_or("nothing", kind)
                ),
            ))
        }
    };
    let shape = match items.get(1) {
        Some(raw) => {
            let parsed = parse_at(raw, &format!("{location}[1]"))?;
            matches!(raw, Value::Object(o) if !o.is_empty()).then_some(parsed)
        }
        None => None,
    };
    Ok(Mapping::ArrayPath(Box::new(ArrayPathMapping {
        root,
        shape,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(v: Value) -> Mapping {
        Mapping::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn resolve(mapping: Value, event: &Value) -> Option<Value> {
        parse(mapping).resolve(event)
    }

    fn error(v: Value) -> MappingError {
        match Mapping::parse(&v) {
            Ok(m) => panic!("{v} parsed as {m:?}"),
            Err(e) => e,
        }
    }

    /// The top-level keys a mapping reads: `None` for all of them.
    fn keys(v: Value) -> Option<Vec<String>> {
        let mut out = EventKeys::none();
        parse(v).event_keys(&mut out);
        (!out.is_all()).then(|| out.keys().to_vec())
    }

    #[test]
    fn a_mapping_names_exactly_the_top_level_keys_it_reads() {
        let some = |k: &[&str]| Some(k.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(keys(json!("literal")), some(&[]));
        assert_eq!(
            keys(json!({"@path": "$.properties.total"})),
            some(&["properties"])
        );
        assert_eq!(
            keys(
                json!({"@if": {"exists": {"@path": "$.userId"}, "then": {"@path": "$.userId"},
                "else": {"@path": "$.traits.email"}}})
            ),
            some(&["traits", "userId"])
        );
        assert_eq!(
            keys(json!({"@template": "{{traits.first}} {{context.ip}}"})),
            some(&["context", "traits"])
        );
        // The shape reads each element, not the event.
        assert_eq!(
            keys(json!({"@arrayPath": ["$.properties.products", {"sku": {"@path": "$.sku"}}]})),
            some(&["properties"])
        );
        assert_eq!(
            keys(json!({"a": {"@path": "$.event"}, "b": [{"@path": "$.name"}]})),
            some(&["event", "name"])
        );
        // Whole-event paths, paths computed from the event and two-pass templates read all.
        assert_eq!(keys(json!({"@path": "$."})), None);
        assert_eq!(
            keys(json!({"@path": {"@template": "traits.{{type}}"}})),
            None
        );
        assert_eq!(keys(json!({"@template": "{{{properties.tpl}}}"})), None);
    }

    fn event() -> Value {
        json!({
            "type": "identify",
            "userId": "user_1",
            "anonymousId": null,
            "traits": {
                "email": "jane@example.com",
                "name": "Jane",
                "zero": 0,
                "no": false,
                "empty": "",
                "nothing": null,
                "tags": ["a", "b"],
                "nested": {"deep": {"er": 1.5}},
                "items": [{"id": 1, "n": "x"}, {"id": 2}, 7]
            }
        })
    }

    #[test]
    fn literals() {
        for v in [
            json!(1),
            json!("s"),
            json!(null),
            json!(true),
            json!([1, {"a": 2}]),
            json!({"a": {"b": [1]}}),
        ] {
            let m = parse(v.clone());
            assert!(m.is_literal(), "{v}");
            assert_eq!(m.resolve(&event()), Some(v));
        }
        // A `_metadata` key alone is plain data.
        assert!(parse(json!({"_metadata": 1})).is_literal());
        // `@literal` is unwrapped, also inside literals.
        let m = parse(json!({"a": {"@literal": [1]}, "b": [{"@literal": "x"}]}));
        assert_eq!(m, Mapping::literal(json!({"a": [1], "b": ["x"]})));
        assert_eq!(
            resolve(
                json!({"@literal": {"e": {"@path": "$.traits.email"}}}),
                &event()
            ),
            Some(json!({"e": "jane@example.com"}))
        );
        // The constructor takes its value verbatim.
        let raw = json!({"@path": "$.userId"});
        assert_eq!(Mapping::literal(raw.clone()).resolve(&event()), Some(raw));
        assert!(!parse(json!({"@path": "a"})).is_literal());
        assert!(!parse(json!({"x": [{"@path": "a"}]})).is_literal());
    }

    #[test]
    fn paths() {
        let ev = event();
        let get = |p: &str| resolve(json!({"@path": p}), &ev);
        assert_eq!(get("$.traits.email"), Some(json!("jane@example.com")));
        assert_eq!(get("traits.email"), Some(json!("jane@example.com")));
        assert_eq!(get("$.traits.tags[1]"), Some(json!("b")));
        assert_eq!(get("$.traits[\"nested\"]['deep'].er"), Some(json!(1.5)));
        assert_eq!(get("$.traits.items.0.id"), Some(json!(1)));
        assert_eq!(get("$.traits.email.length"), Some(json!(16)));
        assert_eq!(get("$.traits.email[0]"), Some(json!("j")));
        assert_eq!(get("$.traits.missing"), None);
        assert_eq!(get("$.missing.deeper"), None);
        // Falsy short-circuit.
        assert_eq!(get("$.traits.nothing"), Some(Value::Null));
        assert_eq!(get("$.anonymousId.x"), Some(Value::Null));
        assert_eq!(get("$.traits.zero.deeper"), Some(json!(0)));
        assert_eq!(get("$.traits.no.x.y"), Some(json!(false)));
        assert_eq!(get("$.traits.empty.length"), Some(json!("")));
        assert_eq!(get(""), Some(ev.clone()));
        assert_eq!(get("."), Some(ev.clone()));
        assert_eq!(get("$."), Some(ev.clone()));
        // Constructors match parsing.
        assert_eq!(
            Mapping::path("$.traits.email"),
            parse(json!({"@path": "$.traits.email"}))
        );
        assert_eq!(
            Mapping::path("$.a").resolve(&json!({"a": [1]})),
            Some(json!([1]))
        );
    }

    #[test]
    fn dynamic_path_argument() {
        let ev = json!({"key": "email", "traits": {"email": "e@x.io"}, "n": 5});
        let m = json!({"@path": {"@template": "$.traits.{{key}}"}});
        assert_eq!(resolve(m, &ev), Some(json!("e@x.io")));
        // A non-string argument resolves to undefined (the reference fails the event).
        assert_eq!(resolve(json!({"@path": {"@path": "$.n"}}), &ev), None);
        assert_eq!(resolve(json!({"@template": {"@path": "$.n"}}), &ev), None);
        assert_eq!(
            resolve(json!({"@template": {"@literal": "{{key}}!"}}), &ev),
            Some(json!("email!"))
        );
    }

    #[test]
    fn exists_or_default_shape() {
        let m = Mapping::exists_or("$.userId", "$.traits.email");
        let parsed = parse(json!({"@if": {
            "exists": {"@path": "$.userId"},
            "then": {"@path": "$.userId"},
            "else": {"@path": "$.traits.email"}
        }}));
        assert_eq!(m, parsed);
        let with = |user: Value| json!({"userId": user, "traits": {"email": "e@x.io"}});
        assert_eq!(m.resolve(&with(json!("u1"))), Some(json!("u1")));
        // An empty string exists.
        assert_eq!(m.resolve(&with(json!(""))), Some(json!("")));
        assert_eq!(m.resolve(&with(json!(0))), Some(json!(0)));
        assert_eq!(m.resolve(&with(json!(null))), Some(json!("e@x.io")));
        assert_eq!(
            m.resolve(&json!({"traits": {"email": "e@x.io"}})),
            Some(json!("e@x.io"))
        );
        assert_eq!(m.resolve(&json!({})), None);
    }

    #[test]
    fn if_exists_and_blank() {
        let ev = event();
        let cond = |kind: &str, path: &str| {
            resolve(
                json!({"@if": {kind: {"@path": path}, "then": "yes", "else": "no"}}),
                &ev,
            )
            .unwrap()
        };
        assert_eq!(cond("exists", "$.traits.email"), "yes");
        assert_eq!(cond("exists", "$.traits.empty"), "yes");
        assert_eq!(cond("exists", "$.traits.zero"), "yes");
        assert_eq!(cond("exists", "$.traits.nothing"), "no");
        assert_eq!(cond("exists", "$.traits.missing"), "no");
        assert_eq!(cond("blank", "$.traits.email"), "yes");
        assert_eq!(cond("blank", "$.traits.empty"), "no");
        assert_eq!(cond("blank", "$.traits.zero"), "no");
        assert_eq!(cond("blank", "$.traits.no"), "no");
        assert_eq!(cond("blank", "$.traits.nothing"), "no");
        assert_eq!(cond("blank", "$.traits.missing"), "no");
        assert_eq!(cond("blank", "$.traits.tags"), "yes");
        assert_eq!(cond("blank", "$.traits.nested"), "yes");
        // Arrays whose text is empty are blank ([] == '' in JavaScript), "0" is not.
        for (value, holds) in [
            (json!([]), false),
            (json!([null]), false),
            (json!([[]]), false),
            (json!([0]), true),
            (json!("0"), true),
            (json!(" "), true),
            (json!({}), true),
            (json!(0.0), false),
        ] {
            let ev = json!({ "v": value });
            let got = resolve(
                json!({"@if": {"blank": {"@path": "$.v"}, "then": 1, "else": 2}}),
                &ev,
            );
            assert_eq!(got, Some(json!(if holds { 1 } else { 2 })), "{ev}");
        }
        // Missing branches resolve to undefined.
        assert_eq!(
            resolve(json!({"@if": {"exists": {"@path": "$.userId"}}}), &ev),
            None
        );
        assert_eq!(
            resolve(
                json!({"@if": {"exists": {"@path": "$.nope"}, "then": 1}}),
                &ev
            ),
            None
        );
        // `then: null` is a real null; a falsy `else` is ignored, as in the reference.
        assert_eq!(
            resolve(
                json!({"@if": {"exists": {"@path": "$.userId"}, "then": null}}),
                &ev
            ),
            Some(Value::Null)
        );
        for falsy in [json!(""), json!(0), json!(false), json!(null)] {
            let m = json!({"@if": {"exists": {"@path": "$.nope"}, "then": 1, "else": falsy}});
            assert_eq!(resolve(m, &ev), None);
        }
        // A literal condition, and "exists" winning over "blank" when both are given.
        assert_eq!(
            resolve(json!({"@if": {"exists": "x", "then": 1}}), &ev),
            Some(json!(1))
        );
        assert_eq!(
            resolve(
                json!({"@if": {"exists": null, "blank": "x", "then": 1, "else": 2}}),
                &ev
            ),
            Some(json!(2))
        );
        // Nested.
        let nested = json!({"@if": {
            "exists": {"@path": "$.traits.missing"},
            "then": "a",
            "else": {"@if": {"blank": {"@path": "$.traits.name"}, "then": {"@template": "hi {{traits.name}}"}}}
        }});
        assert_eq!(resolve(nested, &ev), Some(json!("hi Jane")));
    }

    #[test]
    fn templates() {
        let ev = event();
        let t = |s: &str| resolve(json!({"@template": s}), &ev).unwrap();
        assert_eq!(t("{{traits.email}}"), "jane@example.com");
        assert_eq!(t("{{traits.missing}}"), "");
        assert_eq!(t("{{traits.nothing}}"), "");
        assert_eq!(
            t("{{ traits.name }} <{{{traits.email}}}>"),
            "Jane <jane@example.com>"
        );
        assert_eq!(
            t("{{traits.zero}}|{{traits.no}}|{{traits.nested.deep.er}}"),
            "0|false|1.5"
        );
        assert_eq!(
            t("{{traits.tags}}|{{traits.nested}}|{{traits.items}}"),
            "a,b|[object Object]|[object Object],[object Object],7"
        );
        // No `$.` handling inside placeholders.
        assert_eq!(t("{{$.traits.email}}"), "");
        assert_eq!(
            Mapping::template("{{traits.email}}"),
            parse(json!({"@template": "{{traits.email}}"}))
        );
        assert_eq!(
            Mapping::template("{{traits.email}}").resolve(&json!({})),
            Some(json!(""))
        );
    }

    #[test]
    fn array_path() {
        let ev = event();
        let shape = json!({"ident": {"@path": "$.id"}, "name": {"@path": "n"}, "fixed": 1});
        assert_eq!(
            resolve(
                json!({"@arrayPath": ["$.traits.items", shape.clone()]}),
                &ev
            ),
            Some(
                json!([{"ident": 1, "name": "x", "fixed": 1}, {"ident": 2, "fixed": 1}, {"fixed": 1}])
            )
        );
        // An object counts as a one-element array.
        assert_eq!(
            resolve(
                json!({"@arrayPath": ["$.traits.nested", {"x": {"@path": "deep.er"}}]}),
                &ev
            ),
            Some(json!([{"x": 1.5}]))
        );
        // Without a (non-empty object) shape, or for a scalar, the value itself.
        assert_eq!(
            resolve(json!({"@arrayPath": ["$.traits.tags"]}), &ev),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            resolve(json!({"@arrayPath": ["$.traits.tags", {}]}), &ev),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            resolve(json!({"@arrayPath": ["$.traits.tags", [1]]}), &ev),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            resolve(json!({"@arrayPath": ["$.traits.name", shape.clone()]}), &ev),
            Some(json!("Jane"))
        );
        assert_eq!(
            resolve(json!({"@arrayPath": ["$.nope", shape.clone()]}), &ev),
            None
        );
        // A directive shape is resolved per element; undefined elements become null.
        assert_eq!(
            resolve(
                json!({"@arrayPath": ["$.traits.items", {"@path": "$.n"}]}),
                &ev
            ),
            Some(json!(["x", null, null]))
        );
        // The path may be a directive, whose value is used as is.
        assert_eq!(
            resolve(
                json!({"@arrayPath": [{"@path": "$.traits.items"}, {"i": {"@path": "id"}}]}),
                &ev
            ),
            Some(json!([{"i": 1}, {"i": 2}, {}]))
        );
    }

    #[test]
    fn undefined_is_dropped_from_objects_and_null_in_arrays() {
        let ev = event();
        let m = json!({
            "email": {"@path": "$.traits.email"},
            "missing": {"@path": "$.nope"},
            "null": {"@path": "$.traits.nothing"},
            "deep": {"a": {"@path": "$.nope"}, "b": {"c": {"@path": "$.nope"}}, "d": 1},
            "list": [{"@path": "$.nope"}, {"@path": "$.userId"}, {"x": {"@path": "$.nope"}}]
        });
        assert_eq!(
            resolve(m, &ev),
            Some(json!({
                "email": "jane@example.com",
                "null": null,
                "deep": {"b": {}, "d": 1},
                "list": [null, "user_1", {}]
            }))
        );
        assert_eq!(resolve(json!({"@path": "$.nope"}), &ev), None);
        // Key order is kept.
        let out = resolve(json!({"z": 1, "a": {"@path": "$.userId"}, "m": 2}), &ev).unwrap();
        assert_eq!(out.to_string(), r#"{"z":1,"a":"user_1","m":2}"#);
    }

    #[test]
    fn metadata_beside_a_directive_is_ignored() {
        let m = parse(json!({"@path": "$.userId", "_metadata": {"label": "x"}}));
        assert_eq!(m, Mapping::path("$.userId"));
    }

    #[test]
    fn errors_with_locations() {
        let cases = [
            (json!({"@path": "a", "b": 1}), "", "cannot share"),
            (
                json!({"@path": "a", "@template": "b"}),
                "",
                "only one directive",
            ),
            (json!({"@foo": 1}), "", "unknown directive \"@foo\""),
            (
                json!({"@path": 5}),
                "@path",
                "@path expects a string or a directive, got a number",
            ),
            (json!({"@path": {"a": 1}}), "@path", "got an object"),
            (json!({"@template": ["x"]}), "@template", "got an array"),
            (json!({"@if": "x"}), "@if", "expects an object"),
            (
                json!({"@if": {"then": 1}}),
                "@if",
                "needs a non-empty \"exists\" or \"blank\"",
            ),
            (
                json!({"@if": {"exists": "", "then": 1}}),
                "@if",
                "needs a non-empty",
            ),
            (
                json!({"@if": {"exists": 1, "thne": 1}}),
                "@if",
                "does not take the key \"thne\"",
            ),
            (json!({"@arrayPath": "a"}), "@arrayPath", "expects an array"),
            (json!({"@arrayPath": []}), "@arrayPath[0]", "got nothing"),
            (json!({"@arrayPath": [5]}), "@arrayPath[0]", "got a number"),
            (
                json!({"@arrayPath": ["a", {"x": {"@nope": 1}}]}),
                "@arrayPath[1].x",
                "unknown directive",
            ),
            (
                json!({"data": {"@if": {"exists": {"@path": "a"}, "then": {"@bogus": 1}}}}),
                "data.@if.then",
                "unknown directive \"@bogus\"",
            ),
            (
                json!({"items": [1, {"@path": 2}]}),
                "items[1].@path",
                "got a number",
            ),
            (
                json!({"a": {"@literal": {"b": {"@x": 1, "y": 2}}}}),
                "a.@literal.b",
                "cannot share",
            ),
        ];
        for (v, location, message) in cases {
            let e = error(v.clone());
            assert_eq!(e.location, location, "{v}: {e}");
            assert!(e.message.contains(message), "{v}: {e}");
        }
        for name in UNSUPPORTED {
            let e = error(json!({"x": {*name: {}}}));
            assert_eq!(e.location, "x");
            assert!(e.message.contains("not supported by cio-relay"), "{e}");
            assert!(e.message.contains(name), "{e}");
        }
        let e = error(json!({"data": {"@if": {"exists": 1, "then": {"@case": {}}}}}));
        assert_eq!(
            e.to_string(),
            "at data.@if.then: the @case directive is not supported by cio-relay \
             (supported: @path, @if, @template, @arrayPath, @literal)"
        );
        assert_eq!(
            error(json!({"@nope": 1})).to_string(),
            "unknown directive \"@nope\" (supported: @path, @if, @template, @arrayPath, @literal)"
        );
    }

    #[test]
    fn golden_default_mappings() {
        // Identify without userId takes traits.email (README "Identifiers").
        let person = Mapping::exists_or("$.userId", "$.traits.email");
        let anon = json!({"type": "identify", "anonymousId": "a1", "traits": {"email": "x@y.io"}});
        assert_eq!(person.resolve(&anon), Some(json!("x@y.io")));
        // A numeric groupId is mapped as is (coercion happens later).
        let group = json!({"type": "group", "groupId": 987654, "traits": {"objectTypeId": "1"}});
        assert_eq!(
            Mapping::path("$.groupId").resolve(&group),
            Some(json!(987654))
        );
        // The Email field template is always a string.
        let email = Mapping::template("{{traits.email}}");
        assert_eq!(email.resolve(&anon), Some(json!("x@y.io")));
        assert_eq!(email.resolve(&json!({"traits": null})), Some(json!("")));
        // traits.created_at null falls back to createdAt.
        let created = Mapping::exists_or("$.traits.created_at", "$.traits.createdAt");
        let ev = json!({"traits": {"created_at": null, "createdAt": "2020-01-01T00:00:00Z"}});
        assert_eq!(created.resolve(&ev), Some(json!("2020-01-01T00:00:00Z")));
        let ev = json!({"traits": {"created_at": "", "createdAt": "2020-01-01T00:00:00Z"}});
        assert_eq!(created.resolve(&ev), Some(json!("")));
        // `properties` that is not an object: paths into it are undefined, the value itself maps.
        let ev = json!({"properties": "oops"});
        assert_eq!(
            Mapping::path("$.properties").resolve(&ev),
            Some(json!("oops"))
        );
        assert_eq!(Mapping::path("$.properties.url").resolve(&ev), None);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[@$a-c0-9.\\[\\]'\"{} ]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("@path".to_string()),
                            Just("@if".to_string()),
                            Just("@template".to_string()),
                            Just("@arrayPath".to_string()),
                            Just("@literal".to_string()),
                            Just("exists".to_string()),
                            Just("blank".to_string()),
                            Just("then".to_string()),
                            Just("else".to_string()),
                            "[a-c0-9]{1,3}",
                        ],
                        inner
                    ),
                    0..4
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parse_and_resolve_never_panic(mapping in json_value(), event in json_value()) {
            if let Ok(m) = Mapping::parse(&mapping) {
                let _ = m.resolve(&event);
                if m.is_literal() {
                    prop_assert_eq!(m.resolve(&event), Some(m.resolve(&Value::Null).unwrap()));
                }
            }
        }

        #[test]
        fn paths_never_panic(path in "\\PC{0,30}", event in json_value()) {
            let _ = Mapping::path(&path).resolve(&event);
            let _ = Mapping::template(&path).resolve(&event);
        }
    }
}
