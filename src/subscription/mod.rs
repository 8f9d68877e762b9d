//! Subscriptions: which events run which action with which mapping. Triggers are parsed once at
//! start-up (the `fql` module); mappings are the action's defaults with the user's overrides.

pub mod fql;
pub mod presets;

use serde_json::Value;

use crate::actions::{self, Action, Built, Mode};
use crate::event::EventKeys;
use crate::mapping::Mapping;
pub use fql::Trigger;

/// One resolved subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Its name (a preset's name, or the user's).
    pub name: String,
    /// The parsed trigger.
    pub trigger: Trigger,
    /// The action it runs.
    pub action: Action,
    /// Field index in the action's table, and the mapping for it; defaults included.
    pub mapping: Vec<(usize, Mapping)>,
    /// Whether it came from the preset table (unchanged or overridden by the user).
    pub preset: bool,
    /// Whether its operations are batched (`enable_batching`, a literal).
    pub batching: bool,
    /// The most operations per batch request (`batch_size`, a literal from 2 to 100).
    pub batch_size: usize,
    /// The top-level event keys the mapping reads (the trigger's are
    /// [`Trigger::event_keys`]).
    pub mapping_keys: EventKeys,
}

impl Subscription {
    /// A subscription; reads `enable_batching` and `batch_size` from the mapping, which must be
    /// literals (they configure delivery, they are not data).
    pub fn new(
        name: String,
        trigger: Trigger,
        action: Action,
        mapping: Vec<(usize, Mapping)>,
        preset: bool,
    ) -> Result<Subscription, (String, String)> {
        let fields = action.fields();
        let literal = |key: &str| {
            mapping
                .iter()
                .find(|(i, _)| fields[*i].key == key)
                .map(|(_, m)| m.resolve(&Value::Null))
        };
        let batching = match literal("enable_batching") {
            None | Some(None) => false,
            Some(Some(Value::Bool(b))) => b,
            Some(Some(Value::String(s))) if s == "true" || s == "false" => s == "true",
            Some(Some(other)) => {
                return Err((
                    "enable_batching".into(),
                    format!("must be true or false, not {other}"),
                ))
            }
        };
        let batch_size = match literal("batch_size") {
            None | Some(None) => 50,
            Some(Some(v)) => match v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(n) if (2.0..=100.0).contains(&n) && n.fract() == 0.0 => n as usize,
                _ => {
                    return Err((
                        "batch_size".into(),
                        format!("must be a whole number from 2 to 100, not {v}"),
                    ))
                }
            },
        };
        // Report Delivery Event has no batch form: one request per event, always.
        let batching = batching && action.endpoint() == actions::Endpoint::V2;
        let mut mapping_keys = EventKeys::none();
        for (_, m) in &mapping {
            m.event_keys(&mut mapping_keys);
        }
        Ok(Subscription {
            name,
            trigger,
            action,
            mapping,
            preset,
            batching,
            batch_size,
            mapping_keys,
        })
    }

    /// The clean-up mode this subscription's operations are built in.
    pub fn mode(&self) -> Mode {
        if self.batching {
            Mode::Batch
        } else {
            Mode::Single
        }
    }

    /// Runs the subscription's action on an event (the trigger is not consulted).
    pub fn run(&self, event: &Value, mode: Mode) -> Result<Built, String> {
        actions::run(self.action, &self.mapping, event, mode)
    }
}
