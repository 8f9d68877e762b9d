//! The field table shared by every action: what a field is called, its type, whether it is
//! required, and the default mapping a preset uses for it.

use crate::mapping::Mapping;

/// The schema type of a field, as the reference declares it (section 2.5 of the action spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string; numbers, booleans and one-element arrays are coerced.
    String,
    /// A JSON object; nothing is coerced.
    Object,
    /// A boolean; `"true"`/`"false"` and `0`/`1` are coerced.
    Boolean,
    /// A whole number within an inclusive range (only `batch_size` uses it).
    Number { min: i64, max: i64 },
    /// A date-like string or a number (Report Delivery Event's timestamp).
    Datetime,
    /// A string that must be one of the listed values, case-sensitively.
    Choice(&'static [&'static str]),
}

/// The default mapping of a field, in the three shapes the destination uses plus literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultMapping {
    /// The field has no default: a preset leaves it unmapped.
    None,
    /// `{"@path": p}`.
    Path(&'static str),
    /// The value at the first path if it is neither null nor absent, else the value at the second.
    ExistsOr(&'static str, &'static str),
    /// `{"@template": t}`.
    Template(&'static str),
    /// A literal boolean.
    Bool(bool),
    /// A literal integer.
    Int(i64),
}

impl DefaultMapping {
    /// The mapping this default stands for, or `None` when the field has no default.
    pub fn to_mapping(self) -> Option<Mapping> {
        match self {
            DefaultMapping::None => None,
            DefaultMapping::Path(p) => Some(Mapping::path(p)),
            DefaultMapping::ExistsOr(a, b) => Some(Mapping::exists_or(a, b)),
            DefaultMapping::Template(t) => Some(Mapping::template(t)),
            DefaultMapping::Bool(b) => Some(Mapping::literal(serde_json::Value::Bool(b))),
            DefaultMapping::Int(n) => Some(Mapping::literal(serde_json::Value::from(n))),
        }
    }
}

/// One field of an action: its key in a mapping, the label the reference shows (used in error
/// messages), its type, whether it is required, and its default mapping.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub default: DefaultMapping,
}

impl FieldSpec {
    /// A field with a default mapping.
    pub const fn new(
        key: &'static str,
        label: &'static str,
        kind: FieldKind,
        required: bool,
        default: DefaultMapping,
    ) -> FieldSpec {
        FieldSpec {
            key,
            label,
            kind,
            required,
            default,
        }
    }
}

/// `enable_batching`: decides between one request per operation and batch requests. Never sent.
pub const ENABLE_BATCHING: FieldSpec = FieldSpec::new(
    "enable_batching",
    "Enable Batching",
    FieldKind::Boolean,
    false,
    DefaultMapping::Bool(true),
);

/// `batch_size`: the most operations one batch request carries (2 to 100). Never sent.
pub const BATCH_SIZE: FieldSpec = FieldSpec::new(
    "batch_size",
    "Batch Size",
    FieldKind::Number { min: 2, max: 100 },
    false,
    DefaultMapping::Int(50),
);

/// `convert_timestamp`: switches ISO-8601 attribute conversion on or off.
pub const CONVERT_TIMESTAMP: FieldSpec = FieldSpec::new(
    "convert_timestamp",
    "Convert Timestamps",
    FieldKind::Boolean,
    false,
    DefaultMapping::Bool(true),
);

/// Shorthand for a string field.
pub const fn string(
    key: &'static str,
    label: &'static str,
    required: bool,
    default: DefaultMapping,
) -> FieldSpec {
    FieldSpec::new(key, label, FieldKind::String, required, default)
}

/// Shorthand for an object field.
pub const fn object(key: &'static str, label: &'static str, default: DefaultMapping) -> FieldSpec {
    FieldSpec::new(key, label, FieldKind::Object, false, default)
}
