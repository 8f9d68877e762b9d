//! The `integrations` object: which destinations an event may reach.
//!
//! Segment's rule: a destination runs when its own key is on (true, or an options object), or
//! when it has no key and `All` is not false. This relay is one destination, the Customer.io
//! (Actions) one, which answers to three catalog names; a sender may use any of them.

use serde_json::{Map, Value};

/// The names the Customer.io (Actions) destination answers to in `integrations` (Segment's
/// destination page lists all three). Names are case-sensitive, as in Segment.
pub const CUSTOMERIO_NAMES: [&str; 3] = [
    "Customer.io (Actions)",
    "Actions Customerio",
    "Customer.io Actions",
];

/// One entry's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// `true`, an options object, or another truthy value.
    On,
    /// `false` (or another falsy value: `0`, `""`).
    Off,
    /// Absent or `null`: the entry says nothing.
    Unset,
}

fn setting(map: &Map<String, Value>, name: &str) -> Setting {
    match map.get(name) {
        None | Some(Value::Null) => Setting::Unset,
        Some(Value::Bool(false)) => Setting::Off,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Setting::Off,
        Some(Value::String(s)) if s.is_empty() => Setting::Off,
        Some(_) => Setting::On,
    }
}

/// Whether an event with this `integrations` value goes to the Customer.io destination.
///
/// Off when any of [`CUSTOMERIO_NAMES`] is turned off (an explicit "no" under any name wins:
/// the sender meant this destination); on when one of them is on; otherwise on unless `All` is
/// off. A missing or non-object `integrations` is Segment's default, everything on.
pub fn delivers_to_customerio(integrations: Option<&Value>) -> bool {
    let Some(Value::Object(map)) = integrations else {
        return true;
    };
    let mut named_on = false;
    for name in CUSTOMERIO_NAMES {
        match setting(map, name) {
            Setting::Off => return false,
            Setting::On => named_on = true,
            Setting::Unset => {}
        }
    }
    named_on || setting(map, "All") != Setting::Off
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivers(v: Value) -> bool {
        delivers_to_customerio(Some(&v))
    }

    #[test]
    fn default_is_on() {
        assert!(delivers_to_customerio(None));
        assert!(delivers(json!({})));
        assert!(delivers(json!(null)));
        assert!(delivers(json!({"Segment.io": true, "Mixpanel": false})));
        assert!(delivers(json!({"All": true})));
        assert!(delivers(json!({"All": null})));
    }

    #[test]
    fn each_name_can_turn_it_off() {
        for name in CUSTOMERIO_NAMES {
            assert!(!delivers(json!({ name: false })), "{name}");
            assert!(!delivers(json!({"All": true, name: false})), "{name}");
        }
        // The classic destination's name is a different destination.
        assert!(delivers(json!({"Customer.io": false})));
        // Names are case-sensitive.
        assert!(delivers(json!({"customer.io (actions)": false})));
    }

    #[test]
    fn all_false_turns_it_off_unless_a_name_turns_it_on() {
        assert!(!delivers(json!({"All": false})));
        assert!(!delivers(json!({"All": false, "Segment.io": true})));
        assert!(!delivers(json!({"All": false, "Customer.io": true})));
        for name in CUSTOMERIO_NAMES {
            assert!(delivers(json!({"All": false, name: true})), "{name}");
            assert!(delivers(json!({"All": false, name: {}})), "{name}");
            assert!(
                delivers(json!({"All": false, name: {"someOption": 1}})),
                "{name}"
            );
        }
    }

    #[test]
    fn an_explicit_off_under_any_name_wins_over_an_on() {
        assert!(!delivers(json!({
            "Customer.io (Actions)": true,
            "Actions Customerio": false,
        })));
    }

    #[test]
    fn falsy_values_are_off_and_null_is_unset() {
        assert!(!delivers(json!({"Customer.io Actions": 0})));
        assert!(!delivers(json!({"Customer.io Actions": ""})));
        assert!(delivers(json!({"Customer.io Actions": null})));
        assert!(!delivers(
            json!({"All": false, "Customer.io Actions": null})
        ));
        assert!(delivers(
            json!({"All": false, "Customer.io Actions": "yes"})
        ));
    }
}
