//! Canonical printing of a syntax tree.
//!
//! The output parses back to the same tree: one space around operators and
//! connectives, parentheses exactly where the tree nests (an `or` inside an
//! `and`, or any group directly inside a group of the same kind), and path
//! keys escaped with `\` wherever a character is not an identifier character.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{Call, Comparison, Expr, Field, Func, Literal};
use super::lexer::is_ident_continue;

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items) => write_joined(f, items, " or ", |item| matches!(item, Expr::Or(_))),
            Expr::And(items) => write_joined(f, items, " and ", |item| {
                matches!(item, Expr::Or(_) | Expr::And(_))
            }),
            Expr::Compare(comparison) => comparison.fmt(f),
            Expr::Call(call) => call.fmt(f),
        }
    }
}

fn write_joined(
    f: &mut Formatter<'_>,
    items: &[Expr],
    separator: &str,
    needs_parens: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

impl Display for Comparison {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.field, self.op.symbol(), self.value)
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_char('!')?;
        }
        write!(f, "{}({}, \"", self.func.name(), self.field)?;
        match &self.func {
            Func::Contains(s) => f.write_str(s)?,
            Func::StartsWith(prefix) => write!(f, "{prefix}*")?,
            Func::EndsWith(suffix) => write!(f, "*{suffix}")?,
        }
        f.write_char('"')?;
        f.write_char(')')
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "\"{s}\""),
            // Rust prints the shortest round-trip digits without an exponent,
            // which the lexer reads back to the same value.
            Literal::Number(n) => write!(f, "{}", n.value()),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Field::Type => f.write_str("type"),
            Field::Event => f.write_str("event"),
            Field::Name => f.write_str("name"),
            Field::UserId => f.write_str("userId"),
            Field::Path { scope, keys } => {
                f.write_str(scope.key())?;
                for key in keys {
                    f.write_char('.')?;
                    for c in key.chars() {
                        if !is_ident_continue(c) {
                            f.write_char('\\')?;
                        }
                        f.write_char(c)?;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::arb;
    use super::super::parser::parse;
    use proptest::prelude::*;

    #[test]
    fn canonical_form() {
        let cases = [
            ("type=\"track\"", "type = \"track\""),
            (
                "a.b = 1", "", // unknown field: checked below to be an error
            ),
            (
                "(event = \"A\" or event = \"B\") and type = \"track\"",
                "(event = \"A\" or event = \"B\") and type = \"track\"",
            ),
            (
                "type = \"a\" or (event = \"b\" and name = \"c\")",
                "type = \"a\" or event = \"b\" and name = \"c\"",
            ),
            (
                "(type = \"a\" or event = \"b\") or name = \"c\"",
                "(type = \"a\" or event = \"b\") or name = \"c\"",
            ),
            (
                "properties.my\\ key.0 >= -2.50",
                "properties.my\\ key.0 >= -2.5",
            ),
            ("properties.é\\\"x = +5.0", "properties.é\\\"x = 5"),
            (
                "!match(context.page.path,\"*/x\")",
                "!match(context.page.path, \"*/x\")",
            ),
            ("match(userId, \"cio_*\")", "match(userId, \"cio_*\")"),
            (
                "traits.flag != true and userId = null",
                "traits.flag != true and userId = null",
            ),
            ("contains(name, \"a\\b\")", "contains(name, \"a\\b\")"),
        ];
        for (src, printed) in cases {
            match parse(src) {
                Ok(expr) => assert_eq!(expr.to_string(), printed, "{src:?}"),
                Err(e) => assert!(printed.is_empty(), "{src:?}: {e}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Printing and re-parsing gives back the same tree.
        #[test]
        fn print_then_parse_round_trips(expr in arb::expr()) {
            let printed = expr.to_string();
            match parse(&printed) {
                Ok(parsed) => prop_assert_eq!(parsed, expr, "printed as {}", printed),
                Err(e) => prop_assert!(false, "printed as {} which fails: {}", printed, e),
            }
        }
    }
}
