//! Evaluates a trigger against an event without allocating.
//!
//! Values are read the way the reference reads them: `type`, `event`, `name`
//! and `userId` straight off the event; scoped paths by walking from the event
//! root with the falsy short-circuit (a falsy value — absent, `null`, `false`,
//! `0`, `""` — met before a key is applied is itself the result).

use serde_json::Value;

use super::ast::{Call, CmpOp, Comparison, Expr, Field, Func, Literal};

/// Whether `expr` selects `event`.
pub(super) fn eval(expr: &Expr, event: &Value) -> bool {
    match expr {
        Expr::Or(items) => items.iter().any(|item| eval(item, event)),
        Expr::And(items) => items.iter().all(|item| eval(item, event)),
        Expr::Compare(comparison) => compare(comparison, event),
        Expr::Call(call) => call_matches(call, event),
    }
}

/// A value read from the event: a JSON value, or one of the values that
/// JavaScript property access conjures up (`length`, one character of a
/// string).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Actual<'a> {
    /// `undefined`: nothing there.
    Undefined,
    Json(&'a Value),
    /// The `length` of an array or string.
    Number(f64),
    /// One UTF-16 code unit of a string that is a whole character.
    Char(&'a str),
    /// One half of a surrogate pair: a string that equals no literal.
    LoneSurrogate,
}

/// A string-valued [`Actual`].
enum Text<'a> {
    Str(&'a str),
    LoneSurrogate,
}

impl<'a> Actual<'a> {
    fn text(self) -> Option<Text<'a>> {
        match self {
            Actual::Json(Value::String(s)) => Some(Text::Str(s)),
            Actual::Char(s) => Some(Text::Str(s)),
            Actual::LoneSurrogate => Some(Text::LoneSurrogate),
            _ => None,
        }
    }

    fn is_string_equal_to(self, expected: &str) -> bool {
        matches!(self.text(), Some(Text::Str(s)) if s == expected)
    }

    fn number(self) -> Option<f64> {
        match self {
            Actual::Json(Value::Number(n)) => n.as_f64(),
            Actual::Number(n) => Some(n),
            _ => None,
        }
    }

    fn is_absent_or_null(self) -> bool {
        matches!(self, Actual::Undefined | Actual::Json(Value::Null))
    }

    fn is_falsy(self) -> bool {
        match self {
            Actual::Undefined => true,
            Actual::Json(value) => crate::mapping::path::is_falsy(value),
            Actual::Number(n) => n == 0.0,
            Actual::Char(_) | Actual::LoneSurrogate => false,
        }
    }

    /// JavaScript's `value[key]` for a truthy value, limited to own keys,
    /// array indices and the `length` of arrays and strings (inherited
    /// properties such as `toString` are not emulated).
    fn get(self, key: &str) -> Actual<'a> {
        match self {
            Actual::Json(Value::Object(map)) => {
                map.get(key).map_or(Actual::Undefined, Actual::Json)
            }
            Actual::Json(Value::Array(items)) => {
                if key == "length" {
                    Actual::Number(items.len() as f64)
                } else {
                    array_index(key)
                        .and_then(|i| items.get(i))
                        .map_or(Actual::Undefined, Actual::Json)
                }
            }
            Actual::Json(Value::String(s)) => string_get(s, key),
            Actual::Char(s) => string_get(s, key),
            Actual::LoneSurrogate => match key {
                "length" => Actual::Number(1.0),
                "0" => Actual::LoneSurrogate,
                _ => Actual::Undefined,
            },
            _ => Actual::Undefined,
        }
    }
}

/// A canonical array index (`0`, `1`, `17`, not `01` or `+1`).
fn array_index(key: &str) -> Option<usize> {
    let canonical = key == "0"
        || (!key.starts_with('0') && !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()));
    if canonical {
        key.parse().ok()
    } else {
        None
    }
}

/// `s[key]` on a JavaScript string, which is indexed by UTF-16 code units.
fn string_get<'a>(s: &'a str, key: &str) -> Actual<'a> {
    if key == "length" {
        let units: usize = s.chars().map(char::len_utf16).sum();
        return Actual::Number(units as f64);
    }
    let Some(index) = array_index(key) else {
        return Actual::Undefined;
    };
    let mut unit = 0usize;
    for (byte, c) in s.char_indices() {
        let width = c.len_utf16();
        if index < unit + width {
            return if width == 1 {
                Actual::Char(&s[byte..byte + c.len_utf8()])
            } else {
                Actual::LoneSurrogate
            };
        }
        unit += width;
    }
    Actual::Undefined
}

/// Reads a field of the event.
fn read<'a>(field: &Field, event: &'a Value) -> Actual<'a> {
    let root = Actual::Json(event);
    let top = |key: &str| match event {
        Value::Object(map) => map.get(key).map_or(Actual::Undefined, Actual::Json),
        _ => Actual::Undefined,
    };
    match field {
        Field::Type => top("type"),
        Field::Event => top("event"),
        Field::Name => top("name"),
        Field::UserId => top("userId"),
        Field::Path { scope, keys } => std::iter::once(scope.key())
            .chain(keys.iter().map(String::as_str))
            .try_fold(root, |current, key| {
                if current.is_falsy() {
                    Err(current)
                } else {
                    Ok(current.get(key))
                }
            })
            .unwrap_or_else(|falsy| falsy),
    }
}

fn compare(comparison: &Comparison, event: &Value) -> bool {
    let Comparison { field, op, value } = comparison;
    let actual = read(field, event);
    if op.is_ordering() {
        let (Some(actual), Literal::Number(expected)) = (actual.number(), value) else {
            return false;
        };
        let expected = expected.value();
        return match op {
            CmpOp::Lt => actual < expected,
            CmpOp::Le => actual <= expected,
            CmpOp::Gt => actual > expected,
            CmpOp::Ge => actual >= expected,
            CmpOp::Eq | CmpOp::Ne => false,
        };
    }
    let equal = *op == CmpOp::Eq;
    match (field, value) {
        // `type` and `event` compare as text with the literal's text.
        (Field::Type | Field::Event, literal) => actual.is_string_equal_to(literal.text()) == equal,
        (_, Literal::String(s)) => actual.is_string_equal_to(s) == equal,
        (_, Literal::Number(n)) => actual.number().is_some_and(|a| (a == n.value()) == equal),
        (_, Literal::Bool(b)) => {
            if equal {
                matches!(actual, Actual::Json(Value::Bool(a)) if a == b)
            } else {
                // The reference compares `!= true` against the text "true".
                !actual.is_string_equal_to(if *b { "true" } else { "false" })
            }
        }
        (_, Literal::Null) => actual.is_absent_or_null() == equal,
    }
}

fn call_matches(call: &Call, event: &Value) -> bool {
    let Some(text) = read(&call.field, event).text() else {
        return false;
    };
    let hit = match (text, &call.func) {
        (Text::Str(s), Func::Contains(needle)) => s.contains(needle.as_str()),
        (Text::Str(s), Func::StartsWith(prefix)) => s.starts_with(prefix.as_str()),
        (Text::Str(s), Func::EndsWith(suffix)) => s.ends_with(suffix.as_str()),
        // A lone surrogate contains, starts and ends with only "".
        (
            Text::LoneSurrogate,
            Func::Contains(needle) | Func::StartsWith(needle) | Func::EndsWith(needle),
        ) => needle.is_empty(),
    };
    hit != call.negated
}

#[cfg(test)]
mod tests {
    use super::super::ast::{arb, Scope};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn path(scope: Scope, keys: &[&str]) -> Field {
        Field::Path {
            scope,
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    #[test]
    fn falsy_short_circuit() {
        let event = json!({
            "traits": null,
            "properties": { "n": 0, "f": false, "e": "", "o": { "deep": 1 } },
        });
        let null = Value::Null;
        assert_eq!(
            read(&path(Scope::Traits, &["email"]), &event),
            Actual::Json(&null)
        );
        assert_eq!(
            read(&path(Scope::Properties, &["n", "deeper"]), &event),
            Actual::Json(&json!(0))
        );
        assert_eq!(
            read(&path(Scope::Properties, &["f", "x", "y"]), &event),
            Actual::Json(&json!(false))
        );
        assert_eq!(
            read(&path(Scope::Properties, &["e", "x"]), &event),
            Actual::Json(&json!(""))
        );
        assert_eq!(
            read(&path(Scope::Properties, &["o", "missing", "x"]), &event),
            Actual::Undefined
        );
        assert_eq!(
            read(&path(Scope::Context, &["x"]), &event),
            Actual::Undefined
        );
    }

    #[test]
    fn arrays_and_strings() {
        let event = json!({
            "properties": { "items": [{ "sku": "a" }, "b"], "s": "h\u{e9}\u{1F600}!" },
        });
        let sku = json!("a");
        assert_eq!(
            read(&path(Scope::Properties, &["items", "0", "sku"]), &event),
            Actual::Json(&sku)
        );
        assert_eq!(
            read(&path(Scope::Properties, &["items", "length"]), &event),
            Actual::Number(2.0)
        );
        assert_eq!(
            read(&path(Scope::Properties, &["items", "01"]), &event),
            Actual::Undefined
        );
        assert_eq!(
            read(&path(Scope::Properties, &["items", "2"]), &event),
            Actual::Undefined
        );
        let s = |k: &str| read(&path(Scope::Properties, &["s", k]), &event);
        assert_eq!(s("length"), Actual::Number(5.0));
        assert_eq!(s("1"), Actual::Char("\u{e9}"));
        assert_eq!(s("2"), Actual::LoneSurrogate);
        assert_eq!(s("3"), Actual::LoneSurrogate);
        assert_eq!(s("4"), Actual::Char("!"));
        assert_eq!(s("5"), Actual::Undefined);
        assert_eq!(
            read(&path(Scope::Properties, &["s", "0", "length"]), &event),
            Actual::Number(1.0)
        );
    }

    #[test]
    fn top_level_fields_on_non_objects() {
        for event in [json!(null), json!([1]), json!("track"), json!(5)] {
            assert_eq!(read(&Field::Type, &event), Actual::Undefined);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Evaluation never panics, whatever the event looks like.
        #[test]
        fn eval_never_panics(expr in arb::expr(), event in arb_event()) {
            let _ = eval(&expr, &event);
        }
    }

    /// Random JSON whose keys often coincide with what triggers read.
    fn arb_event() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("type".to_owned()),
            Just("event".to_owned()),
            Just("name".to_owned()),
            Just("userId".to_owned()),
            Just("properties".to_owned()),
            Just("traits".to_owned()),
            Just("context".to_owned()),
            Just("length".to_owned()),
            Just("0".to_owned()),
            "[a-z]{1,3}",
            any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            (-3i32..3).prop_map(Value::from),
            prop_oneof![
                Just("track"),
                Just("true"),
                Just(""),
                Just("5"),
                Just("Order Completed")
            ]
            .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }
}
