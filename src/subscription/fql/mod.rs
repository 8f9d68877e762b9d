//! Subscription triggers: the subset of Segment's FQL that subscriptions use,
//! e.g. `type = "track" and event != "User Deleted"`.
//!
//! A [`Trigger`] is parsed once (at start-up) and then evaluated against each
//! raw Segment event with [`Trigger::matches`], which never allocates.
//!
//! # Language
//!
//! * **Fields**: `type`, `event`, `name`, `userId`, and paths under
//!   `properties.`, `traits.` (the top-level traits of identify/group calls,
//!   not `context.traits`) and `context.`, with at least one key after the
//!   scope. Keys consist of letters, digits, `_` and `-`; a backslash makes the
//!   next character part of the key (`properties.my\ key`). Keys after the
//!   first dot may start with a digit, so array elements are addressable
//!   (`properties.items.0.sku`), and `length` reads the length of an array or
//!   string. Keys containing `.`, `[` or `]` are rejected, because the
//!   reference would split them.
//! * **Comparisons**: `field op value` with `=`, `!=`, `<`, `<=`, `>`, `>=`;
//!   values are double-quoted strings (no escape sequences: a backslash is
//!   literal, a string cannot contain `"`), numbers (`5`, `-2`, `+3.75`; no
//!   exponent), `true`, `false` and `null`. `<`, `<=`, `>`, `>=` need a number.
//! * **Functions**: `contains(field, "s")`, `match(field, "prefix*")`,
//!   `match(field, "*suffix")` and the negations `!contains(…)`, `!match(…)`
//!   (no space after `!`). The field may not be `type`. A `match` pattern must
//!   contain exactly one `*`, at its start or its end (`"*"` alone matches any
//!   string).
//! * **Connectives**: lowercase `and` and `or`. **`and` binds tighter than
//!   `or`**, and parentheses group to any depth (up to 64 levels). This
//!   deliberately fixes the reference, where every connective in a group takes
//!   the operator of the *last* connective written (`a and b or c` means
//!   `a or b or c` there, and `(a and b) or c` here).
//! * **Whitespace**: space, tab, line feed and carriage return.
//!
//! Anything else is an [`FqlError`] pointing at the offending token: unknown
//! fields, `AND`/`OR`/`NOT`, `not`, `!` before a group or comparison, `&&`,
//! `||`, `==`, `<>`, single quotes, dangling connectives, unbalanced
//! parentheses, trailing tokens, and so on. Tokens written without spaces
//! (`event!="x"`, `properties.total>5`) are read as the obvious separate
//! tokens.
//!
//! # Semantics
//!
//! The semantics are the reference's, including its oddities, so that a
//! trigger selects exactly the events the reference selects:
//!
//! * `type`/`event` `=`/`!=` compare the field, as a string, with the
//!   literal's JavaScript text (`event = 5` matches the event named `"5"`;
//!   `event = null` only the event named `"null"`); `!=` is the negation, so
//!   it is true when the field is absent.
//! * For `name`, `userId` and paths: a string literal tests string equality
//!   (`!=` true when absent); `= N` means a number equal to `N` and `!= N` a
//!   number different from `N` (false when absent); `= true`/`= false` mean
//!   that boolean; `!= true`/`!= false` mean "not the *string* `"true"`/
//!   `"false"`" (so `properties.flag != true` holds when `flag` is `true`);
//!   `= null` means absent or null and `!= null` present and not null.
//! * `<`, `<=`, `>`, `>=` hold when the value is a number and the comparison
//!   holds.
//! * `contains`/`match` and their negations require a string value (a
//!   negation is false when the field is absent).
//! * Paths are walked from the event root with the falsy short-circuit: when a
//!   key is about to be applied to `undefined`, `null`, `false`, `0` or `""`,
//!   that value is the result (`properties.n.x = 0` holds when `n` is `0`).
//!   Object keys, array indices and the `length` of arrays and strings are
//!   looked up; inherited JavaScript properties (`toString`, …) are not.

mod ast;
mod eval;
mod lexer;
mod parser;
mod print;

use std::fmt;

/// A parsed subscription trigger.
///
/// Two triggers are equal when their syntax trees are equal, whatever their
/// spacing or redundant parentheses. [`Display`](fmt::Display) prints the
/// canonical form, which parses back to an equal trigger.
#[derive(Clone)]
pub struct Trigger {
    source: String,
    expr: ast::Expr,
}

impl Trigger {
    /// Parses a trigger, reporting the first problem with its position.
    pub fn parse(src: &str) -> Result<Trigger, FqlError> {
        let expr = parser::parse(src)?;
        Ok(Trigger {
            source: src.to_owned(),
            expr,
        })
    }

    /// Whether the trigger selects `event` (a raw Segment event). Never
    /// allocates.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        eval::eval(&self.expr, event)
    }

    /// Adds the top-level event keys the trigger reads to `out`.
    pub fn event_keys(&self, out: &mut crate::event::EventKeys) {
        self.expr.event_keys(out);
    }

    /// The text the trigger was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Trigger {
    fn eq(&self, other: &Trigger) -> bool {
        self.expr == other.expr
    }
}

impl fmt::Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger")
            .field("source", &self.source)
            .field("expr", &self.expr)
            .finish()
    }
}

impl fmt::Display for Trigger {
    /// The canonical form: single spaces, parentheses only where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

/// Why a trigger does not parse.
///
/// Its [`Display`](fmt::Display) shows the message followed by the offending
/// line of the source with a caret under the position:
///
/// ```text
/// unexpected `AND` at position 15 (did you mean `and`?)
///   type = "track" AND event = "x"
///                  ^
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FqlError {
    /// Char (not byte) offset into the source, 0-based; the source's length
    /// in chars when the problem is the end of the input.
    pub position: usize,
    /// One-line description, including the position and, where there is one,
    /// a hint in parentheses.
    pub message: String,
    /// The whole trigger text.
    pub source: String,
}

impl FqlError {
    fn new(source: &str, position: usize, headline: &str, hint: Option<&str>) -> FqlError {
        let mut message = format!("{headline} at position {position}");
        if let Some(hint) = hint {
            message.push_str(" (");
            message.push_str(hint);
            message.push(')');
        }
        FqlError {
            position,
            message,
            source: source.to_owned(),
        }
    }
}

impl fmt::Display for FqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        // The line holding the position, and the column within it.
        let mut line_start = 0;
        for (i, c) in self.source.chars().enumerate() {
            if i >= self.position {
                break;
            }
            if c == '\n' {
                line_start = i + 1;
            }
        }
        let line: String = self
            .source
            .chars()
            .skip(line_start)
            .take_while(|&c| c != '\n')
            .filter(|&c| c != '\r')
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let column = self.position.saturating_sub(line_start);
        // Keep tabs so that the caret lines up under a tab-indented line.
        let pad: String = line
            .chars()
            .chain(std::iter::repeat(' '))
            .take(column)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "\n  {line}\n  {pad}^")
    }
}

impl std::error::Error for FqlError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn trigger(src: &str) -> Trigger {
        Trigger::parse(src).unwrap_or_else(|e| panic!("{src:?} does not parse:\n{e}"))
    }

    /// Asserts the outcome of `src` on each event.
    fn check(src: &str, cases: &[(Value, bool)]) {
        let t = trigger(src);
        for (event, expected) in cases {
            assert_eq!(t.matches(event), *expected, "{src} on {event}");
        }
    }

    // ---- Table 7.3 -------------------------------------------------------

    #[test]
    fn type_and_event_with_strings() {
        check(
            r#"type = "track""#,
            &[
                (json!({"type": "track"}), true),
                (json!({"type": "Track"}), false),
                (json!({"type": "track "}), false),
                (json!({}), false),
                (json!({"type": null}), false),
            ],
        );
        check(
            r#"event != "X""#,
            &[
                (json!({"type": "identify"}), true),
                (json!({"event": "X"}), false),
                (json!({"event": "x"}), true),
                (json!({"event": null}), true),
                (json!({"event": 5}), true),
            ],
        );
    }

    #[test]
    fn type_and_event_compare_as_text() {
        check(
            "event = 5",
            &[
                (json!({"event": "5"}), true),
                (json!({"event": 5}), false),
                (json!({}), false),
            ],
        );
        check("event = 5.0", &[(json!({"event": "5"}), true)]);
        check("event = -0", &[(json!({"event": "0"}), true)]);
        check("type = 0.10", &[(json!({"type": "0.1"}), true)]);
        check(
            "event = 1000000000000000000000",
            &[(json!({"event": "1e+21"}), true)],
        );
        check(
            "event != 5",
            &[
                (json!({"event": "5"}), false),
                (json!({"event": 5}), true),
                (json!({}), true),
            ],
        );
        check(
            "event = true",
            &[
                (json!({"event": "true"}), true),
                (json!({"event": true}), false),
            ],
        );
        check("event = false", &[(json!({"event": "false"}), true)]);
        check(
            "event = null",
            &[
                (json!({"event": "null"}), true),
                (json!({"event": null}), false),
                (json!({}), false),
            ],
        );
        check(
            "event != null",
            &[
                (json!({}), true),
                (json!({"event": null}), true),
                (json!({"event": "Signed Up"}), true),
                (json!({"event": "null"}), false),
            ],
        );
    }

    #[test]
    fn name_and_user_id() {
        check(
            r#"name = "Home""#,
            &[(json!({"name": "Home"}), true), (json!({}), false)],
        );
        check(
            r#"userId != "u1""#,
            &[
                (json!({}), true),
                (json!({"userId": "u1"}), false),
                (json!({"userId": "u2"}), true),
            ],
        );
        for field in ["userId", "name"] {
            check(
                &format!("{field} = null"),
                &[
                    (json!({}), true),
                    (json!({ field: null }), true),
                    (json!({ field: "a" }), false),
                    (json!({ field: "" }), false),
                    (json!({ field: "null" }), false),
                ],
            );
            check(
                &format!("{field} != null"),
                &[
                    (json!({}), false),
                    (json!({ field: null }), false),
                    (json!({ field: "a" }), true),
                    (json!({ field: 0 }), true),
                ],
            );
        }
        check(
            "userId = true",
            &[
                (json!({"userId": true}), true),
                (json!({"userId": "true"}), false),
                (json!({}), false),
            ],
        );
        check(
            "userId = false",
            &[
                (json!({"userId": false}), true),
                (json!({"userId": 0}), false),
            ],
        );
        // With a number literal, `name`/`userId` behave like paths.
        check(
            "userId = 5",
            &[
                (json!({"userId": 5}), true),
                (json!({"userId": "5"}), false),
            ],
        );
        check(
            "userId != 5",
            &[
                (json!({}), false),
                (json!({"userId": "6"}), false),
                (json!({"userId": 6}), true),
                (json!({"userId": 5}), false),
            ],
        );
    }

    #[test]
    fn scoped_strings_and_numbers() {
        check(
            r#"properties.plan = "pro""#,
            &[
                (json!({"properties": {"plan": "pro"}}), true),
                (json!({"properties": {"plan": "Pro"}}), false),
                (json!({}), false),
            ],
        );
        check(
            r#"properties.total = "5""#,
            &[
                (json!({"properties": {"total": 5}}), false),
                (json!({"properties": {"total": "5"}}), true),
            ],
        );
        check(
            r#"properties.plan != "pro""#,
            &[
                (json!({}), true),
                (json!({"properties": {"plan": "pro"}}), false),
                (json!({"properties": {"plan": 1}}), true),
            ],
        );
        check(
            "properties.total = 5",
            &[
                (json!({"properties": {"total": 5}}), true),
                (json!({"properties": {"total": 5.0}}), true),
                (json!({"properties": {"total": "5"}}), false),
                (json!({}), false),
            ],
        );
        check(
            "properties.total != 6",
            &[
                (json!({"properties": {}}), false),
                (json!({"properties": {"total": "5"}}), false),
                (json!({"properties": {"total": 5}}), true),
                (json!({"properties": {"total": 6}}), false),
            ],
        );
    }

    #[test]
    fn scoped_booleans_and_null() {
        check(
            "properties.flag = true",
            &[
                (json!({"properties": {"flag": true}}), true),
                (json!({"properties": {"flag": "true"}}), false),
                (json!({"properties": {"flag": 1}}), false),
            ],
        );
        check(
            "properties.flag = false",
            &[
                (json!({"properties": {"flag": false}}), true),
                (json!({"properties": {"flag": 0}}), false),
                (json!({}), false),
            ],
        );
        check(
            "properties.flag != true",
            &[
                (json!({"properties": {"flag": true}}), true),
                (json!({"properties": {"flag": false}}), true),
                (json!({"properties": {"flag": "true"}}), false),
                (json!({}), true),
            ],
        );
        check(
            "properties.flag != false",
            &[
                (json!({"properties": {"flag": false}}), true),
                (json!({"properties": {"flag": "false"}}), false),
            ],
        );
        check(
            "properties.missing = null",
            &[
                (json!({"properties": {}}), true),
                (json!({}), true),
                (json!({"properties": {"missing": null}}), true),
                (json!({"properties": {"missing": 0}}), false),
            ],
        );
        check(
            "traits.email != null",
            &[
                (json!({"traits": {"email": "a@b.com"}}), true),
                (json!({"traits": {"email": null}}), false),
                (json!({"traits": {}}), false),
                (json!({"traits": {"email": false}}), true),
            ],
        );
    }

    #[test]
    fn ordering_comparisons() {
        let total = |v: Value| json!({"properties": {"total": v}});
        check(
            "properties.total > 5",
            &[
                (total(json!(6)), true),
                (total(json!(5)), false),
                (total(json!("6")), false),
                (json!({}), false),
            ],
        );
        check(
            "properties.total >= 5.5",
            &[(total(json!(5.5)), true), (total(json!(5.4)), false)],
        );
        check(
            "properties.total < 0",
            &[(total(json!(-1)), true), (total(json!(0)), false)],
        );
        check(
            "properties.total <= -2",
            &[(total(json!(-2)), true), (total(json!(null)), false)],
        );
        check(
            "properties.items.length > 2",
            &[
                (json!({"properties": {"items": [1, 2, 3]}}), true),
                (json!({"properties": {"items": [1, 2]}}), false),
                (json!({"properties": {"items": "abc"}}), true),
            ],
        );
        check(
            "type > 1",
            &[(json!({"type": 2}), true), (json!({"type": "2"}), false)],
        );
    }

    #[test]
    fn contains_and_match() {
        let ev = |name: &str| json!({"event": name});
        check(
            r#"contains(event, "Order")"#,
            &[
                (ev("Order Completed"), true),
                (ev("order completed"), false),
                (json!({}), false),
                (json!({"event": 5}), false),
            ],
        );
        check(
            r#"!contains(event, "Order")"#,
            &[
                (ev("Order Completed"), false),
                (ev("Product Viewed"), true),
                (json!({}), false),
                (json!({"event": null}), false),
            ],
        );
        check(
            r#"match(event, "Order*")"#,
            &[(ev("Order Completed"), true), (ev("An Order"), false)],
        );
        check(
            r#"match(event, "*Completed")"#,
            &[
                (ev("Order Completed"), true),
                (ev("Completed Order"), false),
            ],
        );
        check(
            r#"!match(event, "Order*")"#,
            &[
                (ev("Order Completed"), false),
                (ev("Product Viewed"), true),
                (json!({}), false),
            ],
        );
        check(
            r#"!match(userId, "*@example.com")"#,
            &[
                (json!({"userId": "a@example.com"}), false),
                (json!({"userId": "a@b.com"}), true),
                (json!({"userId": 5}), false),
            ],
        );
        check(
            r#"match(name, "*")"#,
            &[(json!({"name": ""}), true), (json!({}), false)],
        );
        check(
            r#"contains(context.page.url, "/checkout") and contains(properties.tags.0, "vip")"#,
            &[
                (
                    json!({"context": {"page": {"url": "https://x/checkout"}}, "properties": {"tags": ["vip-1"]}}),
                    true,
                ),
                (
                    json!({"context": {"page": {"url": "https://x/checkout"}}, "properties": {"tags": []}}),
                    false,
                ),
            ],
        );
    }

    #[test]
    fn paths_short_circuit_on_falsy_values() {
        check(
            "traits.email = null",
            &[
                (json!({"traits": null}), true),
                (json!({"traits": {}}), true),
            ],
        );
        check(
            "properties.n.deeper = 0",
            &[
                (json!({"properties": {"n": 0}}), true),
                (json!({"properties": {"n": {"deeper": 0}}}), true),
                (json!({"properties": {"n": 1}}), false),
            ],
        );
        check(
            "properties.a.b = false",
            &[(json!({"properties": {"a": false}}), true)],
        );
        check(
            r#"properties.a.b = """#,
            &[(json!({"properties": {"a": ""}}), true)],
        );
        check(
            r#"context.device.type = "ios""#,
            &[
                (json!({"context": {"device": {"type": "ios"}}}), true),
                (json!({"context": {"device": "ios"}}), false),
            ],
        );
        check(
            r#"properties.my\ key = "v""#,
            &[(json!({"properties": {"my key": "v"}}), true)],
        );
    }

    // ---- Table 7.5 ---------------------------------------------------------

    #[test]
    fn tricky_cases() {
        let track = |name: &str| json!({"type": "track", "event": name});
        let identify = json!({"type": "identify", "userId": "u1"});
        check(r#"type = "track""#, &[(json!({"type": "track"}), true)]);
        check(r#"type = "Track""#, &[(json!({"type": "track"}), false)]);
        check(r#"event != "X""#, &[(identify.clone(), true)]);
        check(
            r#"type = "track" and event != "User Deleted""#,
            &[(identify.clone(), false)],
        );
        check(
            "properties.total = 5",
            &[
                (json!({"properties": {"total": 5}}), true),
                (json!({"properties": {"total": "5"}}), false),
            ],
        );
        check(
            "properties.total != 6",
            &[(json!({"properties": {}}), false)],
        );
        check(
            "properties.flag != true",
            &[(json!({"properties": {"flag": true}}), true)],
        );
        check(
            "properties.missing = null",
            &[(json!({"properties": {}}), true)],
        );
        check(
            "userId = null",
            &[(json!({"type": "track", "anonymousId": "a"}), true)],
        );
        check(
            r#"traits.email = "a@b.com""#,
            &[(
                json!({"type": "track", "context": {"traits": {"email": "a@b.com"}}}),
                false,
            )],
        );
        check(
            r#"context.traits.email = "a@b.com""#,
            &[(
                json!({"type": "track", "context": {"traits": {"email": "a@b.com"}}}),
                true,
            )],
        );
        // `match` without `*` is an error here (the reference reads it as
        // ends-with "ompleted").
        assert!(Trigger::parse(r#"match(event, "Completed")"#).is_err());
        check(
            r#"match(event, "*ompleted")"#,
            &[(track("Order Completed"), true)],
        );
        check(
            r#"(event = "A" or event = "B") and type = "track""#,
            &[(track("B"), true), (track("C"), false)],
        );
        // Single quotes are an error here (the reference keeps the quotes in
        // the value, so it never matches).
        assert!(Trigger::parse("type = 'track'").is_err());
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let track = |name: &str| json!({"type": "track", "event": name});
        // a and b or c  ==  (a and b) or c
        let t = trigger(r#"type = "track" and event = "X" or event = "Order Completed""#);
        assert!(t.matches(&track("Order Completed")));
        assert!(t.matches(&json!({"type": "page", "event": "Order Completed"})));
        assert!(t.matches(&track("X")));
        assert!(!t.matches(&track("Y")));
        assert_eq!(
            t,
            trigger(r#"(type = "track" and event = "X") or event = "Order Completed""#)
        );
        // a or b and c  ==  a or (b and c): true for any track event (the
        // reference, which has no precedence, says false).
        let t = trigger(r#"type = "track" or event = "X" and event = "Y""#);
        assert!(t.matches(&track("Order Completed")));
        assert!(!t.matches(&json!({"type": "page", "event": "X"})));
        assert_eq!(
            t,
            trigger(r#"type = "track" or (event = "X" and event = "Y")"#)
        );
        // A call inside a group is an ordinary item of the group (the
        // reference ends the group at the call's own `)`).
        let t = trigger(r#"type = "track" and (contains(event, "a") or event = "Z")"#);
        assert!(t.matches(&track("bar")));
        assert!(t.matches(&track("Z")));
        assert!(!t.matches(&track("Y")));
        assert!(!t.matches(&json!({"type": "page", "event": "bar"})));
        // Explicit parentheses override precedence, at any depth.
        let t = trigger(r#"(type = "track" or event = "X") and event = "Y""#);
        assert!(!t.matches(&track("Order Completed")));
        assert!(t.matches(&track("Y")));
        let t = trigger(
            r#"((type = "track" and (event = "A" or (event = "B" and properties.n > 1))) or type = "page")"#,
        );
        assert!(t.matches(&track("A")));
        assert!(!t.matches(&track("B")));
        assert!(t.matches(&json!({"type": "track", "event": "B", "properties": {"n": 2}})));
        assert!(t.matches(&json!({"type": "page"})));
    }

    // ---- Section 6: presets --------------------------------------------------

    const PRESETS: [(&str, &str); 15] = [
        ("Create or Update Person", r#"type = "identify""#),
        (
            "Create or Update Device",
            r#"event = "Application Installed" or event = "Application Opened" or event = "Device Created or Updated""#,
        ),
        (
            "Delete Device",
            r#"event = "Application Uninstalled" or event = "Device Deleted""#,
        ),
        ("Delete Relationship", r#"event = "Relationship Deleted""#),
        ("Delete Person", r#"event = "User Deleted""#),
        ("Delete Object", r#"event = "Object Deleted""#),
        (
            "Track Event",
            r#"type = "track" and event != "Application Installed" and event != "Application Opened" and event != "Application Uninstalled" and event != "Device Created or Updated" and event != "Device Deleted" and event != "Relationship Deleted" and event != "User Deleted" and event != "User Suppressed" and event != "User Unsuppressed" and event != "Object Deleted" and event != "Report Delivery Event" and event != "Report Content Event""#,
        ),
        ("Track Page View", r#"type = "page""#),
        ("Track Screen View", r#"type = "screen""#),
        ("Create or Update Object", r#"type = "group""#),
        ("Merge People", r#"type = "alias""#),
        ("Suppress Person", r#"event = "User Suppressed""#),
        ("Unsuppress Person", r#"event = "User Unsuppressed""#),
        (
            "Report Delivery Event",
            r#"event = "Report Delivery Event""#,
        ),
        ("Report Content Event", r#"event = "Report Content Event""#),
    ];

    /// The preset names whose trigger selects `event`.
    fn selected(triggers: &[Trigger], event: &Value) -> Vec<&'static str> {
        PRESETS
            .iter()
            .zip(triggers)
            .filter(|(_, t)| t.matches(event))
            .map(|((name, _), _)| *name)
            .collect()
    }

    #[test]
    fn a_trigger_names_exactly_the_top_level_keys_it_reads() {
        let mut out = crate::event::EventKeys::none();
        trigger(r#"type = "track" and (contains(context.app.name, "x") or name = "n" or userId != "u" or event = "e" or traits.plan = "p" or properties.v > 1)"#)
            .event_keys(&mut out);
        assert_eq!(
            out.keys(),
            [
                "context",
                "event",
                "name",
                "properties",
                "traits",
                "type",
                "userId"
            ]
        );
    }

    #[test]
    fn the_relays_preset_table_has_exactly_these_triggers() {
        // The tests below check this list; the table the relay runs must be the same.
        let table: Vec<(&str, String)> = crate::subscription::presets::ACTIONS_PRESETS
            .iter()
            .map(|p| (p.name, trigger(p.trigger).to_string()))
            .collect();
        let expected: Vec<(&str, String)> = PRESETS
            .iter()
            .map(|(name, src)| (*name, src.to_string()))
            .collect();
        assert_eq!(table, expected);
    }

    #[test]
    fn presets_parse_canonically() {
        for (name, src) in PRESETS {
            let t = trigger(src);
            assert_eq!(t.source(), src, "{name}");
            // Every preset is already in canonical form.
            assert_eq!(t.to_string(), src, "{name}");
        }
    }

    #[test]
    fn presets_select_what_the_reference_selects() {
        let triggers: Vec<Trigger> = PRESETS.iter().map(|(_, src)| trigger(src)).collect();
        let track = |name: &str| json!({"type": "track", "event": name, "userId": "u1", "properties": {"revenue": 5}});
        let mut cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"type": "identify", "userId": "u1", "traits": {"email": "a@b.com"}}),
                vec!["Create or Update Person"],
            ),
            (track("Order Completed"), vec!["Track Event"]),
            (track("application installed"), vec!["Track Event"]),
            (track("User Deleted "), vec!["Track Event"]),
            (
                json!({"type": "track", "userId": "u1"}),
                vec!["Track Event"],
            ),
            (
                json!({"type": "page", "properties": {"url": "https://x"}}),
                vec!["Track Page View"],
            ),
            (
                json!({"type": "screen", "name": "Home", "anonymousId": "a"}),
                vec!["Track Screen View"],
            ),
            (
                json!({"type": "group", "groupId": "g", "traits": {"name": "Acme"}}),
                vec!["Create or Update Object"],
            ),
            (
                json!({"type": "alias", "userId": "u2", "previousId": "u1"}),
                vec!["Merge People"],
            ),
            // W36: a screen call named "User Suppressed" runs both.
            (
                json!({"type": "screen", "event": "User Suppressed", "userId": "u1"}),
                vec!["Track Screen View", "Suppress Person"],
            ),
            (
                json!({"type": "identify", "event": "User Deleted", "userId": "u1"}),
                vec!["Create or Update Person", "Delete Person"],
            ),
            (
                json!({"type": "page", "event": "Order Completed"}),
                vec!["Track Page View"],
            ),
            (json!({"type": "Track", "event": "Order Completed"}), vec![]),
            (json!({}), vec![]),
        ];
        for (event_name, preset) in [
            ("Application Installed", "Create or Update Device"),
            ("Application Opened", "Create or Update Device"),
            ("Device Created or Updated", "Create or Update Device"),
            ("Application Uninstalled", "Delete Device"),
            ("Device Deleted", "Delete Device"),
            ("Relationship Deleted", "Delete Relationship"),
            ("User Deleted", "Delete Person"),
            ("Object Deleted", "Delete Object"),
            ("User Suppressed", "Suppress Person"),
            ("User Unsuppressed", "Unsuppress Person"),
            ("Report Delivery Event", "Report Delivery Event"),
            ("Report Content Event", "Report Content Event"),
        ] {
            cases.push((track(event_name), vec![preset]));
        }
        for (event, expected) in cases {
            assert_eq!(selected(&triggers, &event), expected, "{event}");
        }
    }

    #[test]
    fn track_event_preset_over_several_lines() {
        let one_line = trigger(PRESETS[6].1);
        let multi_line = PRESETS[6].1.replace(" and ", "\n    and ");
        let multi_line = format!("\n  {multi_line}\n");
        assert!(multi_line.lines().count() > 10);
        assert_eq!(trigger(&multi_line), one_line);
        let tabbed = PRESETS[6].1.replace(" and ", "\n\tand\t");
        assert_eq!(trigger(&tabbed), one_line);
        let crlf = multi_line.replace('\n', "\r\n");
        let parsed = trigger(&crlf);
        assert_eq!(parsed, one_line);
        assert_eq!(parsed.source(), crlf);
        assert_eq!(parsed.to_string(), PRESETS[6].1);
        let order = json!({"type": "track", "event": "Order Completed"});
        let deleted = json!({"type": "track", "event": "User Deleted"});
        assert!(parsed.matches(&order));
        assert!(!parsed.matches(&deleted));
    }

    // ---- errors through the public API ---------------------------------------

    #[test]
    fn error_display_shows_the_line_and_a_caret() {
        let err = Trigger::parse(r#"type = "track" AND event = "x""#).err();
        let Some(err) = err else {
            panic!("AND must be rejected");
        };
        assert_eq!(err.position, 15);
        assert_eq!(
            err.to_string(),
            "unexpected `AND` at position 15 (did you mean `and`?)\n  type = \"track\" AND event = \"x\"\n                 ^"
        );

        let src = "type = \"track\"\n\tand evnt = \"x\"";
        let Some(err) = Trigger::parse(src).err() else {
            panic!("evnt must be rejected");
        };
        assert_eq!(err.position, 20);
        assert!(err
            .message
            .starts_with("unknown field `evnt` at position 20 ("));
        assert!(err
            .to_string()
            .ends_with("\n  \tand evnt = \"x\"\n  \t    ^"));

        let Some(err) = Trigger::parse("type =").err() else {
            panic!("missing value must be rejected");
        };
        assert_eq!(err.position, 6);
        assert!(err.to_string().ends_with("\n  type =\n        ^"));

        let Some(err) = Trigger::parse("").err() else {
            panic!("empty trigger must be rejected");
        };
        assert_eq!(
            err.to_string(),
            "empty trigger at position 0 (e.g. `type = \"track\"`)\n  \n  ^"
        );
    }

    #[test]
    fn equality_ignores_layout() {
        assert_eq!(
            trigger(r#"type="track"and(event="a")"#),
            trigger("type = \"track\"\n and ((event = \"a\"))")
        );
        assert_ne!(trigger(r#"type = "track""#), trigger(r#"type = "page""#));
        let t = trigger(r#"type="track""#);
        assert!(format!("{t:?}").contains("source"));
        assert_eq!(t.clone(), t);
    }

    // ---- property tests ------------------------------------------------------

    /// Fragments that make random input look like triggers.
    fn token_soup() -> impl Strategy<Value = String> {
        let fragment = prop_oneof![
            Just("type".to_owned()),
            Just("event".to_owned()),
            Just("userId".to_owned()),
            Just("properties.a.b".to_owned()),
            Just("traits.".to_owned()),
            Just("context.x\\".to_owned()),
            Just("and".to_owned()),
            Just("or".to_owned()),
            Just("AND".to_owned()),
            Just("not".to_owned()),
            Just("contains".to_owned()),
            Just("match".to_owned()),
            Just("true".to_owned()),
            Just("null".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just("!".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("\"*x\"".to_owned()),
            Just("\"a b\"".to_owned()),
            Just("=".to_owned()),
            Just("!=".to_owned()),
            Just("<".to_owned()),
            Just(">=".to_owned()),
            Just("&&".to_owned()),
            Just("-".to_owned()),
            Just("5".to_owned()),
            Just("-2.5".to_owned()),
            Just(".".to_owned()),
            Just("\\".to_owned()),
            Just("é".to_owned()),
            Just("\u{1F600}".to_owned()),
            Just("\r\n".to_owned()),
            "[ \t\n]{0,2}",
            any::<char>().prop_map(String::from),
        ];
        let sep = prop_oneof![Just(""), Just(" "), Just("\n  ")];
        prop::collection::vec((fragment, sep), 0..24).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(fragment, sep)| fragment + sep)
                .collect()
        })
    }

    /// Parsing any input never panics; whatever parses prints back to the
    /// same trigger; errors point inside (or just past) the input.
    fn check_arbitrary_input(src: &str) -> Result<(), TestCaseError> {
        match Trigger::parse(src) {
            Ok(t) => {
                let printed = t.to_string();
                match Trigger::parse(&printed) {
                    Ok(reparsed) => prop_assert_eq!(reparsed, t),
                    Err(e) => prop_assert!(false, "{:?} printed as {:?}: {}", src, printed, e),
                }
            }
            Err(e) => {
                prop_assert!(e.position <= src.chars().count());
                prop_assert_eq!(&e.source, src);
                let _ = e.to_string();
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn parse_never_panics_on_arbitrary_strings(src in any::<String>()) {
            check_arbitrary_input(&src)?;
        }

        #[test]
        fn parse_never_panics_on_token_soup(src in token_soup()) {
            check_arbitrary_input(&src)?;
        }

        #[test]
        fn parse_never_panics_on_mutated_presets(
            index in 0..PRESETS.len(),
            cut in any::<prop::sample::Index>(),
            insert in prop_oneof![Just(""), Just("("), Just(")"), Just("\""), Just(" AND "), Just("!")],
        ) {
            let src: Vec<char> = PRESETS[index].1.chars().collect();
            let at = cut.index(src.len() + 1);
            let mutated: String = src[..at].iter().copied().chain(insert.chars()).chain(src[at..].iter().copied()).collect();
            check_arbitrary_input(&mutated)?;
        }
    }
}
