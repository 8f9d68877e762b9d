//! The syntax tree of a parsed trigger.
//!
//! The tree is what [`super::Trigger`] compares for equality, what the
//! evaluator walks and what the printer renders. It is built only by the
//! parser (and by tests), so its invariants are the parser's: `And`/`Or` have
//! at least two children, a call never reads `type`, a path has at least one
//! key and no key contains `.`, `[` or `]`, ordering comparisons always carry a
//! number literal, and number literals are finite.

/// A boolean expression over conditions.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    /// True when any child is true.
    Or(Vec<Expr>),
    /// True when every child is true.
    And(Vec<Expr>),
    /// `field op literal`.
    Compare(Comparison),
    /// `contains(…)`, `match(…)` or their negations.
    Call(Call),
}

impl Expr {
    /// Adds the top-level event keys the expression reads to `out`.
    pub(super) fn event_keys(&self, out: &mut crate::event::EventKeys) {
        match self {
            Expr::Or(children) | Expr::And(children) => {
                for c in children {
                    c.event_keys(out);
                }
            }
            Expr::Compare(c) => out.add(c.field.event_key()),
            Expr::Call(c) => out.add(c.field.event_key()),
        }
    }
}

/// `field op literal`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Comparison {
    pub(super) field: Field,
    pub(super) op: CmpOp,
    pub(super) value: Literal,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as written in a trigger.
    pub(super) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether this is one of `<`, `<=`, `>`, `>=`.
    pub(super) fn is_ordering(self) -> bool {
        matches!(self, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge)
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

impl Literal {
    /// The literal's text as JavaScript's `String(value)` renders it; this is
    /// what `type` and `event` are compared with.
    pub(super) fn text(&self) -> &str {
        match self {
            Literal::String(s) => s,
            Literal::Number(n) => &n.text,
            Literal::Bool(true) => "true",
            Literal::Bool(false) => "false",
            Literal::Null => "null",
        }
    }
}

/// A finite number literal, with its JavaScript text computed once at parse
/// time so that evaluation never has to format it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Number {
    value: f64,
    text: String,
}

impl Number {
    /// Wraps a finite value.
    pub(super) fn new(value: f64) -> Number {
        Number {
            value,
            text: js_number_text(value),
        }
    }

    /// The numeric value.
    pub(super) fn value(&self) -> f64 {
        self.value
    }
}

/// `contains(field, "s")` / `match(field, pattern)`, possibly negated.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Call {
    pub(super) negated: bool,
    pub(super) func: Func,
    pub(super) field: Field,
}

/// What a call tests on a string value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Func {
    /// `contains(f, "s")`.
    Contains(String),
    /// `match(f, "p*")`, holding `p`.
    StartsWith(String),
    /// `match(f, "*s")`, holding `s`.
    EndsWith(String),
}

impl Func {
    /// The function's name as written in a trigger.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Func::Contains(_) => "contains",
            Func::StartsWith(_) | Func::EndsWith(_) => "match",
        }
    }
}

/// A field of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    /// `type`: the call type.
    Type,
    /// `event`: the track event name.
    Event,
    /// `name`: the page or screen name.
    Name,
    /// `userId`.
    UserId,
    /// `properties.a.b`, `traits.a`, `context.a.b`: the keys after the scope.
    Path { scope: Scope, keys: Vec<String> },
}

impl Field {
    /// The top-level event key the field is read from.
    pub(super) fn event_key(&self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::Event => "event",
            Field::Name => "name",
            Field::UserId => "userId",
            Field::Path { scope, .. } => scope.key(),
        }
    }
}

/// The object a scoped path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Properties,
    Traits,
    Context,
}

impl Scope {
    /// The top-level event key the scope reads.
    pub(super) fn key(self) -> &'static str {
        match self {
            Scope::Properties => "properties",
            Scope::Traits => "traits",
            Scope::Context => "context",
        }
    }
}

/// Formats a number the way JavaScript's `Number.prototype.toString()` does (the mapping
/// engine's formatter: one implementation of the rule for the whole relay).
pub(super) fn js_number_text(value: f64) -> String {
    let mut out = String::new();
    crate::mapping::template::push_js_f64(&mut out, value);
    out
}

#[cfg(test)]
pub(super) mod arb {
    //! proptest strategies for well-formed trees.

    use super::*;
    use proptest::prelude::*;

    /// A path key: any characters except `.`, `[`, `]`, biased towards
    /// characters the printer has to escape.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-zA-Z0-9_-]{0,6}",
            "[0-9]{1,3}",
            "[a-zA-Zé_ \\\\\"'()!=<>,*&|\t\n\r\u{1F600}-]{1,6}",
            any::<String>().prop_filter("no path separators", |s| {
                !s.is_empty() && !s.contains(['.', '[', ']'])
            }),
        ]
    }

    /// Any field.
    pub(in super::super) fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Type),
            Just(Field::Event),
            Just(Field::Name),
            Just(Field::UserId),
            call_field(),
        ]
    }

    /// A field allowed as the first argument of a call.
    fn call_field() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Event),
            Just(Field::Name),
            Just(Field::UserId),
            (
                prop_oneof![
                    Just(Scope::Properties),
                    Just(Scope::Traits),
                    Just(Scope::Context)
                ],
                prop::collection::vec(key(), 1..4),
            )
                .prop_map(|(scope, keys)| Field::Path { scope, keys }),
        ]
    }

    /// A string literal body: anything but a double quote.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z ]{0,8}",
            "[^\"]{0,8}",
            Just("track".to_owned()),
            Just("5".to_owned()),
        ]
    }

    fn number() -> impl Strategy<Value = Number> {
        prop_oneof![
            (-1000i32..1000).prop_map(f64::from),
            (-100_000i32..100_000).prop_map(|n| f64::from(n) / 100.0),
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
        ]
        .prop_map(Number::new)
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            text().prop_map(Literal::String),
            number().prop_map(Literal::Number),
            any::<bool>().prop_map(Literal::Bool),
            Just(Literal::Null),
        ]
    }

    fn comparison() -> impl Strategy<Value = Comparison> {
        let equality = (
            field(),
            prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)],
            literal(),
        );
        let ordering = (
            field(),
            prop_oneof![
                Just(CmpOp::Lt),
                Just(CmpOp::Le),
                Just(CmpOp::Gt),
                Just(CmpOp::Ge)
            ],
            number().prop_map(Literal::Number),
        );
        prop_oneof![equality, ordering].prop_map(|(field, op, value)| Comparison {
            field,
            op,
            value,
        })
    }

    fn func() -> impl Strategy<Value = Func> {
        let stem = "[^\"*]{0,6}";
        prop_oneof![
            text().prop_map(Func::Contains),
            stem.prop_map(Func::StartsWith),
            "[^\"*]{1,6}".prop_map(Func::EndsWith),
        ]
    }

    fn call() -> impl Strategy<Value = Call> {
        (any::<bool>(), func(), call_field()).prop_map(|(negated, func, field)| Call {
            negated,
            func,
            field,
        })
    }

    /// Any well-formed expression tree.
    pub(in super::super) fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            comparison().prop_map(Expr::Compare),
            call().prop_map(Expr::Call)
        ];
        leaf.prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::And),
                prop::collection::vec(inner, 2..5).prop_map(Expr::Or),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::js_number_text;

    #[test]
    fn numbers_print_like_javascript() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (5.0, "5"),
            (-5.0, "-5"),
            (5.5, "5.5"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123e20, "1.23e+22"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (-0.00001234, "-0.00001234"),
            (9007199254740993.0, "9007199254740992"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "Infinity"),
        ];
        for (value, text) in cases {
            assert_eq!(js_number_text(*value), *text, "{value:?}");
        }
    }
}
