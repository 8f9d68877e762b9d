//! Recursive-descent parser from tokens to [`Expr`].
//!
//! Grammar (`and` binds tighter than `or`):
//!
//! ```text
//! trigger    = or-expr EOF
//! or-expr    = and-expr { "or" and-expr }
//! and-expr   = unary { "and" unary }
//! unary      = "(" or-expr ")" | comparison | call | "!" call
//! comparison = field op value
//! call       = ("contains" | "match") "(" call-field "," string ")"
//! ```

use super::ast::{Comparison, Expr, Field, Func, Literal, Number, Scope};
use super::lexer::{is_number_text, lex, Token, TokenKind};
use super::FqlError;

/// How deeply parentheses may nest. Deeper input is rejected rather than
/// risking the stack in the recursive parser, printer and evaluator.
pub(super) const MAX_DEPTH: usize = 64;

const ALLOWED_FIELDS: &str =
    "fields are `type`, `event`, `name`, `userId`, `properties.…`, `traits.…` and `context.…`";

/// Parses a whole trigger.
pub(super) fn parse(source: &str) -> Result<Expr, FqlError> {
    let tokens = lex(source)?;
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        depth: 0,
    };
    if parser.peek().kind == TokenKind::Eof {
        return Err(parser.error(0, "empty trigger", Some("e.g. `type = \"track\"`")));
    }
    let expr = parser.or_expr()?;
    if parser.peek().kind == TokenKind::Eof {
        Ok(expr)
    } else {
        Err(parser.after_condition_error(false))
    }
}

struct Parser<'a> {
    source: &'a str,
    /// Never empty: the lexer always ends it with `Eof`.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Describes a token for an error message.
fn describe(token: &Token) -> String {
    match token.kind {
        TokenKind::Eof => "the end of the trigger".to_owned(),
        TokenKind::Str(_) => format!("string `{}`", token.raw),
        TokenKind::Num(_) => format!("number `{}`", token.raw),
        _ => format!("`{}`", token.raw),
    }
}

/// The lowercase keyword or field a mis-cased word was probably meant to be.
fn case_suggestion(word: &str) -> Option<&'static str> {
    [
        "and",
        "or",
        "true",
        "false",
        "null",
        "contains",
        "match",
        "type",
        "event",
        "name",
        "userId",
        "properties",
        "traits",
        "context",
    ]
    .into_iter()
    .find(|k| k.eq_ignore_ascii_case(word) && *k != word)
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn peek_bare_word(&self) -> Option<&str> {
        self.peek().kind.bare_word()
    }

    fn error(&self, position: usize, headline: &str, hint: Option<&str>) -> FqlError {
        FqlError::new(self.source, position, headline, hint)
    }

    /// "expected …, found …" at the next token.
    fn expected(&self, what: &str, hint: Option<&str>) -> FqlError {
        let token = self.peek();
        self.error(
            token.start,
            &format!("expected {what}, found {}", describe(token)),
            hint,
        )
    }

    fn or_expr(&mut self) -> Result<Expr, FqlError> {
        let mut items = vec![self.and_expr()?];
        while self.peek_bare_word() == Some("or") {
            let connective = self.bump();
            self.check_not_dangling(&connective)?;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, FqlError> {
        let mut items = vec![self.unary()?];
        while self.peek_bare_word() == Some("and") {
            let connective = self.bump();
            self.check_not_dangling(&connective)?;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    /// A connective at the end of the trigger or of a group.
    fn check_not_dangling(&self, connective: &Token) -> Result<(), FqlError> {
        if matches!(self.peek().kind, TokenKind::Eof | TokenKind::RParen) {
            return Err(self.error(
                connective.start,
                &format!("dangling `{}`", connective.raw),
                Some("it must be followed by a condition"),
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, FqlError> {
        let token = self.peek().clone();
        match &token.kind {
            TokenKind::LParen => self.group(&token),
            TokenKind::Bang => self.negated_call(&token),
            TokenKind::Word { .. } => {
                if let Some(word) = token.kind.bare_word() {
                    match word {
                        "and" | "or" => {
                            return Err(self.expected(
                                "a condition",
                                Some("`and`/`or` go between two conditions"),
                            ))
                        }
                        "contains" | "match" => {
                            self.bump();
                            return self.call(false, &token);
                        }
                        _ => {}
                    }
                    if word.eq_ignore_ascii_case("not") {
                        return Err(self.error(
                            token.start,
                            &format!("`{word}` is not supported"),
                            Some("negate with `!=`, `!contains(…)` or `!match(…)`"),
                        ));
                    }
                    if let Some(keyword @ ("and" | "or")) = case_suggestion(word) {
                        return Err(self.error(
                            token.start,
                            &format!("unexpected `{word}`"),
                            Some(&format!("did you mean `{keyword}`?")),
                        ));
                    }
                    if matches!(word, "true" | "false" | "null") {
                        return Err(self.expected(
                            "a field",
                            Some(
                                "a condition starts with the field, e.g. `properties.flag = true`",
                            ),
                        ));
                    }
                }
                self.comparison()
            }
            TokenKind::RParen
            | TokenKind::Eof
            | TokenKind::Str(_)
            | TokenKind::Num(_)
            | TokenKind::Op(_)
            | TokenKind::Comma => Err(self.expected(
                "a condition",
                Some("e.g. `type = \"track\"` or `contains(event, \"Order\")`"),
            )),
        }
    }

    /// `( or-expr )`; the opening parenthesis is the next token.
    fn group(&mut self, open: &Token) -> Result<Expr, FqlError> {
        self.bump();
        if self.depth >= MAX_DEPTH {
            return Err(self.error(
                open.start,
                &format!("parentheses nested more than {MAX_DEPTH} deep"),
                None,
            ));
        }
        if self.peek().kind == TokenKind::RParen {
            return Err(self.error(open.start, "empty parentheses", None));
        }
        self.depth += 1;
        let expr = self.or_expr()?;
        self.depth -= 1;
        match self.peek().kind {
            TokenKind::RParen => {
                self.bump();
                Ok(expr)
            }
            TokenKind::Eof => {
                Err(self.error(open.start, "unclosed `(`", Some("add the matching `)`")))
            }
            _ => Err(self.after_condition_error(true)),
        }
    }

    /// `!contains(…)` / `!match(…)`; the `!` is the next token.
    fn negated_call(&mut self, bang: &Token) -> Result<Expr, FqlError> {
        self.bump();
        let next = self.peek().clone();
        match (&next.kind, next.kind.bare_word()) {
            (_, Some("contains" | "match")) if next.start == bang.end => {
                self.bump();
                self.call(true, &next)
            }
            (_, Some(name @ ("contains" | "match"))) => Err(self.error(
                bang.start,
                "space after `!`",
                Some(&format!("write `!{name}(…)` with no space")),
            )),
            (TokenKind::LParen, _) => Err(self.error(
                bang.start,
                "`!` cannot negate a group",
                Some("only `contains(…)` and `match(…)` can be negated with `!`; negate each condition with `!=` and swap `and`/`or`"),
            )),
            (TokenKind::Word { .. }, _) => Err(self.error(
                bang.start,
                "`!` cannot negate a comparison",
                Some("use `!=`, e.g. `event != \"x\"`; `!` only negates `contains(…)` and `match(…)`"),
            )),
            _ => Err(self.error(
                bang.start,
                "unexpected `!`",
                Some("`!` only negates `contains(…)` and `match(…)`, written `!contains(…)`"),
            )),
        }
    }

    /// The rest of `contains(field, "s")` / `match(field, "p*")` after the
    /// function name.
    fn call(&mut self, negated: bool, name: &Token) -> Result<Expr, FqlError> {
        let fname = name.raw.as_str();
        if self.peek().kind != TokenKind::LParen {
            return Err(self.expected(&format!("`(` after `{fname}`"), None));
        }
        self.bump();
        let field = match self.peek().kind {
            TokenKind::Word { .. } => {
                let token = self.bump();
                self.field(&token, Some(fname))?
            }
            _ => {
                return Err(
                    self.expected(&format!("a field as the first argument of `{fname}`"), None)
                )
            }
        };
        if self.peek().kind != TokenKind::Comma {
            return Err(self.expected(&format!("`,` after the field in `{fname}(…)`"), None));
        }
        self.bump();
        let pattern_token = self.peek().clone();
        let TokenKind::Str(pattern) = pattern_token.kind else {
            return Err(self.expected(
                &format!("a double-quoted string as the second argument of `{fname}`"),
                None,
            ));
        };
        self.bump();
        if self.peek().kind != TokenKind::RParen {
            return Err(self.expected(&format!("`)` to close `{fname}(`"), None));
        }
        self.bump();
        let func = if fname == "contains" {
            Func::Contains(pattern)
        } else {
            self.match_pattern(pattern, pattern_token.start)?
        };
        Ok(Expr::Call(super::ast::Call {
            negated,
            func,
            field,
        }))
    }

    /// `"p*"` → starts with `p`; `"*s"` → ends with `s`; `"*"` → any string.
    fn match_pattern(&self, pattern: String, position: usize) -> Result<Func, FqlError> {
        let stars = pattern.matches('*').count();
        if pattern == "*" {
            return Ok(Func::StartsWith(String::new()));
        }
        if stars == 1 {
            if let Some(prefix) = pattern.strip_suffix('*') {
                return Ok(Func::StartsWith(prefix.to_owned()));
            }
            if let Some(suffix) = pattern.strip_prefix('*') {
                return Ok(Func::EndsWith(suffix.to_owned()));
            }
        }
        let hint = "use \"text*\" for starts-with, \"*text\" for ends-with, or `contains(…)`";
        let headline = if stars == 0 {
            "`match` pattern has no `*`"
        } else {
            "`match` pattern must have exactly one `*`, at its start or its end"
        };
        Err(self.error(position, headline, Some(hint)))
    }

    /// Resolves a word to a field; `call` names the function when the field is
    /// a call's argument.
    fn field(&self, token: &Token, call: Option<&str>) -> Result<Field, FqlError> {
        let TokenKind::Word { parts, .. } = &token.kind else {
            return Err(self.error(token.start, "expected a field", None));
        };
        let (head, keys) = match parts.split_first() {
            Some((head, keys)) => (head.as_str(), keys),
            None => return Err(self.error(token.start, "expected a field", None)),
        };
        let simple = match head {
            "type" => Some(Field::Type),
            "event" => Some(Field::Event),
            "name" => Some(Field::Name),
            "userId" => Some(Field::UserId),
            _ => None,
        };
        if let Some(field) = simple {
            if !keys.is_empty() {
                return Err(self.error(
                    token.start,
                    &format!("`{head}` has no sub-fields"),
                    Some("only `properties`, `traits` and `context` take a path"),
                ));
            }
            if let (Some(fname), Field::Type) = (call, &field) {
                return Err(self.error(
                    token.start,
                    &format!("`type` cannot be used in `{fname}(…)`"),
                    Some("compare it with `=`, e.g. `type = \"track\"`"),
                ));
            }
            return Ok(field);
        }
        let scope = match head {
            "properties" => Scope::Properties,
            "traits" => Scope::Traits,
            "context" => Scope::Context,
            _ => {
                let hint = match case_suggestion(head) {
                    Some(s) if !matches!(s, "and" | "or" | "true" | "false" | "null") => {
                        format!("did you mean `{s}`?")
                    }
                    _ => ALLOWED_FIELDS.to_owned(),
                };
                return Err(self.error(
                    token.start,
                    &format!("unknown field `{}`", token.raw),
                    Some(&hint),
                ));
            }
        };
        if keys.is_empty() {
            return Err(self.error(
                token.start,
                &format!("`{head}` needs a key after it"),
                Some(&format!("e.g. `{head}.plan`")),
            ));
        }
        if keys.iter().any(|k| k.contains(['.', '[', ']'])) {
            return Err(self.error(
                token.start,
                "keys containing `.`, `[` or `]` cannot be addressed",
                None,
            ));
        }
        Ok(Field::Path {
            scope,
            keys: keys.to_vec(),
        })
    }

    fn comparison(&mut self) -> Result<Expr, FqlError> {
        let field_token = self.bump();
        if self.peek().kind == TokenKind::LParen {
            if let Some(word) = field_token.kind.bare_word() {
                if self.field(&field_token, None).is_err() {
                    let hint = match case_suggestion(word) {
                        Some(s @ ("contains" | "match")) => format!("did you mean `{s}`?"),
                        _ => "the functions are `contains(…)` and `match(…)`".to_owned(),
                    };
                    return Err(self.error(
                        field_token.start,
                        &format!("unknown function `{word}`"),
                        Some(&hint),
                    ));
                }
            }
        }
        let field = self.field(&field_token, None)?;
        let op = match self.peek().kind {
            TokenKind::Op(op) => op,
            _ => {
                return Err(self.expected(
                    &format!(
                        "an operator (`=`, `!=`, `<`, `<=`, `>`, `>=`) after `{}`",
                        field_token.raw
                    ),
                    None,
                ))
            }
        };
        self.bump();
        let value_token = self.peek().clone();
        let value = match &value_token.kind {
            TokenKind::Str(s) => Literal::String(s.clone()),
            TokenKind::Num(v) => Literal::Number(Number::new(*v)),
            kind => {
                match kind.bare_word() {
                    Some("true") => Literal::Bool(true),
                    Some("false") => Literal::Bool(false),
                    Some("null") => Literal::Null,
                    word => {
                        let hint = match word.and_then(case_suggestion) {
                        Some(s @ ("true" | "false" | "null")) => format!("did you mean `{s}`?"),
                        _ if matches!(kind, TokenKind::Word { .. }) => {
                            "text values are written in double quotes, e.g. \"Signed Up\"".to_owned()
                        }
                        _ => "a value is a double-quoted string, a number, `true`, `false` or `null`"
                            .to_owned(),
                    };
                        return Err(
                            self.expected(&format!("a value after `{}`", op.symbol()), Some(&hint))
                        );
                    }
                }
            }
        };
        if op.is_ordering() && !matches!(value, Literal::Number(_)) {
            let hint = match &value {
                Literal::String(s) if is_number_text(s.trim()) => {
                    format!("remove the quotes: {}", s.trim())
                }
                _ => "`<`, `<=`, `>` and `>=` compare numbers only".to_owned(),
            };
            return Err(self.error(
                value_token.start,
                &format!(
                    "`{}` needs a number, found {}",
                    op.symbol(),
                    describe(&value_token)
                ),
                Some(&hint),
            ));
        }
        self.bump();
        Ok(Expr::Compare(Comparison { field, op, value }))
    }

    /// The error for a token that follows a complete condition but is not a
    /// connective (or `)` in a group).
    fn after_condition_error(&self, in_group: bool) -> FqlError {
        let token = self.peek();
        let expected = if in_group {
            "expected `and`, `or` or `)`"
        } else {
            "expected `and`, `or` or the end of the trigger"
        };
        if let Some(word) = token.kind.bare_word() {
            if let Some(keyword @ ("and" | "or")) = case_suggestion(word) {
                return self.error(
                    token.start,
                    &format!("unexpected `{word}`"),
                    Some(&format!("did you mean `{keyword}`?")),
                );
            }
            if word.eq_ignore_ascii_case("not") {
                return self.error(
                    token.start,
                    &format!("`{word}` is not supported"),
                    Some("negate with `!=`, `!contains(…)` or `!match(…)`"),
                );
            }
        }
        match token.kind {
            TokenKind::RParen => self.error(token.start, "unmatched `)`", None),
            TokenKind::Op(_) => self.error(
                token.start,
                &format!("unexpected {}", describe(token)),
                Some("a condition is one field, one operator and one value"),
            ),
            _ => self.error(
                token.start,
                &format!("unexpected {} after a condition", describe(token)),
                Some(expected),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error class, with the char offset it must point at and a piece of
    /// its message.
    #[test]
    fn errors_point_at_the_offending_token() {
        let cases: &[(&str, usize, &str)] = &[
            // empty
            ("", 0, "empty trigger"),
            ("  \n\t ", 0, "empty trigger"),
            // unknown fields
            (
                "anonymousId = \"a\" and type = \"track\"",
                0,
                "unknown field `anonymousId`",
            ),
            (
                "type = \"track\" and messageId = \"m\"",
                19,
                "unknown field `messageId`",
            ),
            ("foo = 1", 0, "fields are `type`"),
            ("userid = \"u\"", 0, "did you mean `userId`?"),
            ("Type = \"track\"", 0, "did you mean `type`?"),
            ("event.x = \"a\"", 0, "`event` has no sub-fields"),
            ("type.x = \"a\"", 0, "`type` has no sub-fields"),
            ("properties = 1", 0, "`properties` needs a key"),
            ("traits. = 1", 6, "expected a key after `.`"),
            ("properties.a\\.b = 1", 0, "cannot be addressed"),
            (
                "contains(type, \"x\")",
                9,
                "`type` cannot be used in `contains(…)`",
            ),
            ("match(anonymousId, \"x*\")", 6, "unknown field"),
            // upper-case keywords and `not`
            (
                "type = \"track\" AND event = \"x\"",
                15,
                "did you mean `and`?",
            ),
            ("type = \"a\" OR type = \"b\"", 11, "did you mean `or`?"),
            ("NOT type = \"a\"", 0, "`NOT` is not supported"),
            ("not type = \"a\"", 0, "`not` is not supported"),
            (
                "type = \"a\" and not event = \"b\"",
                15,
                "`not` is not supported",
            ),
            (
                "type = \"a\" NOT event = \"b\"",
                11,
                "`NOT` is not supported",
            ),
            ("type = TRUE", 7, "did you mean `true`?"),
            ("Contains(event, \"a\")", 0, "unknown function `Contains`"),
            ("Contains(event, \"a\")", 0, "did you mean `contains`?"),
            (
                "startsWith(event, \"a\")",
                0,
                "the functions are `contains(…)` and `match(…)`",
            ),
            ("TRUE = 1", 0, "fields are `type`"),
            ("properties.x > \"inf\"", 15, "compare numbers only"),
            // `!` misuse
            ("!(type = \"a\")", 0, "`!` cannot negate a group"),
            ("!type = \"a\"", 0, "`!` cannot negate a comparison"),
            ("! contains(event, \"a\")", 0, "space after `!`"),
            ("type = \"a\" and !", 15, "unexpected `!`"),
            ("event ! = \"a\"", 6, "expected an operator"),
            // operators from other languages
            ("a = 1 && b = 2", 6, "use `and`"),
            ("a = 1 || b = 2", 6, "use `or`"),
            ("type == \"track\"", 5, "use `=`"),
            ("type <> \"track\"", 5, "use `!=`"),
            ("type !== \"track\"", 5, "use `!=`"),
            ("properties.n => 5", 13, "did you mean `>=`?"),
            ("a = 1 & b = 2", 6, "unexpected character `&`"),
            // strings
            ("type = 'track'", 7, "use double quotes"),
            ("type = \"track", 7, "unterminated string"),
            ("event = \"a\" and name = \"b", 23, "unterminated string"),
            ("type = track", 7, "double quotes"),
            // connectives
            ("type = \"a\" and", 11, "dangling `and`"),
            ("type = \"a\" or", 11, "dangling `or`"),
            ("(type = \"a\" or) and event = \"b\"", 12, "dangling `or`"),
            ("and type = \"a\"", 0, "expected a condition, found `and`"),
            ("or type = \"a\"", 0, "expected a condition, found `or`"),
            ("type = \"a\" and or event = \"b\"", 15, "found `or`"),
            (
                "type = \"a\" event = \"b\"",
                11,
                "expected `and`, `or` or the end",
            ),
            // missing pieces
            ("type", 4, "expected an operator"),
            ("type \"track\"", 5, "expected an operator"),
            ("type =", 6, "expected a value after `=`"),
            ("type = and event = \"x\"", 7, "expected a value"),
            ("= \"track\"", 0, "expected a condition"),
            ("\"track\" = type", 0, "expected a condition"),
            ("true = type", 0, "expected a field"),
            ("type = \"a\" = \"b\"", 11, "unexpected `=`"),
            // parentheses
            ("(type = \"a\"", 0, "unclosed `(`"),
            ("(type = \"a\" and (event = \"b\")", 0, "unclosed `(`"),
            ("type = \"a\")", 10, "unmatched `)`"),
            ("()", 0, "empty parentheses"),
            ("type = \"a\" and ()", 15, "empty parentheses"),
            (
                "(type = \"a\" event = \"b\")",
                12,
                "expected `and`, `or` or `)`",
            ),
            (")", 0, "expected a condition, found `)`"),
            // functions
            ("contains(event \"a\")", 15, "expected `,`"),
            ("contains event, \"a\"", 9, "expected `(` after `contains`"),
            ("contains(event, a)", 16, "double-quoted string"),
            ("contains(event, 5)", 16, "double-quoted string"),
            ("contains(event, \"a\"", 19, "expected `)` to close"),
            ("contains(, \"a\")", 9, "expected a field"),
            ("match(event, \"Completed\")", 13, "has no `*`"),
            ("match(event, \"*mid*\")", 13, "exactly one `*`"),
            ("match(event, \"a*b*\")", 13, "exactly one `*`"),
            ("!match(event, \"**\")", 14, "exactly one `*`"),
            // ordering comparisons need numbers
            ("properties.total > \"5\"", 19, "remove the quotes: 5"),
            ("properties.total < true", 19, "`<` needs a number"),
            ("properties.total >= null", 20, "`>=` needs a number"),
            // lexical junk and trailing garbage
            ("type = \"a\" \"b\"", 11, "unexpected string `\"b\"`"),
            ("type = \"a\" 5", 11, "unexpected number `5`"),
            ("type = \"a\" #", 11, "unexpected character `#`"),
            ("type = \"a\"\u{a0}", 10, "U+00A0"),
            ("event = 5x", 8, "invalid number `5x`"),
            ("properties.a\\", 12, "`\\` at the end"),
            ("properties.a = 1e400", 15, "invalid number"),
        ];
        for (src, position, needle) in cases {
            match parse(src) {
                Ok(expr) => panic!("{src:?} parsed as {expr:?}"),
                Err(e) => {
                    assert_eq!(e.position, *position, "position for {src:?}: {e}");
                    assert!(
                        e.message.contains(needle),
                        "message for {src:?} lacks {needle:?}: {e}"
                    );
                    assert_eq!(e.source, *src);
                }
            }
        }
    }

    #[test]
    fn nesting_limit() {
        let ok = format!(
            "{}type = \"a\"{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}type = \"a\"{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let err = parse(&deep).err().map(|e| e.position);
        assert_eq!(err, Some(MAX_DEPTH));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let parsed = parse("type = \"a\" or type = \"b\" and event = \"c\" or name = \"d\"");
        let Ok(Expr::Or(items)) = parsed else {
            panic!("expected an `or` at the top: {parsed:?}");
        };
        assert_eq!(items.len(), 3);
        assert!(matches!(items[0], Expr::Compare(_)));
        assert!(matches!(&items[1], Expr::And(v) if v.len() == 2));
        assert!(matches!(items[2], Expr::Compare(_)));
    }

    #[test]
    fn redundant_parentheses_vanish() {
        assert_eq!(parse("((type = \"a\"))"), parse("type = \"a\""));
        assert_ne!(
            parse("(type = \"a\" and event = \"b\") and name = \"c\""),
            parse("type = \"a\" and event = \"b\" and name = \"c\"")
        );
    }

    #[test]
    fn match_patterns() {
        let func = |src: &str| match parse(src) {
            Ok(Expr::Call(call)) => call.func,
            other => panic!("{src:?}: {other:?}"),
        };
        assert_eq!(
            func("match(event, \"Order*\")"),
            Func::StartsWith("Order".into())
        );
        assert_eq!(func("match(event, \"*ed\")"), Func::EndsWith("ed".into()));
        assert_eq!(func("match(event, \"*\")"), Func::StartsWith(String::new()));
    }

    #[test]
    fn glued_tokens_mean_the_obvious_thing() {
        let pairs = [
            ("event !=\"x\"", "event != \"x\""),
            ("properties.total>5", "properties.total > 5"),
            ("properties.x >=5", "properties.x >= 5"),
            (
                "event=\"a\"and(type=\"b\"or type=\"c\")",
                "event = \"a\" and (type = \"b\" or type = \"c\")",
            ),
            ("!contains(event,\"a\")", "!contains(event, \"a\")"),
        ];
        for (glued, spaced) in pairs {
            assert_eq!(parse(glued), parse(spaced), "{glued:?}");
            assert!(parse(glued).is_ok(), "{glued:?}");
        }
    }
}
