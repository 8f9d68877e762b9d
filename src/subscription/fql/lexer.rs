//! Turns trigger text into tokens.
//!
//! Unlike the reference lexer, token boundaries are found properly: `event!="x"`
//! and `properties.total>5` lex as three tokens each. Everything the reference
//! would mis-tokenize or that is a common slip from other languages (`==`,
//! `<>`, `&&`, `||`, single quotes) is rejected here with its position.

use super::ast::CmpOp;
use super::FqlError;

/// A token and where it starts and ends (char offsets into the source).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) start: usize,
    pub(super) end: usize,
    /// The token's source text, for error messages.
    pub(super) raw: String,
}

/// The kinds of token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    /// An identifier or a dotted path (`type`, `and`, `properties.a.b`), with
    /// backslash escapes resolved. `escaped` is set when any backslash was
    /// used; such a word is never a keyword.
    Word { parts: Vec<String>, escaped: bool },
    /// A double-quoted string, without its quotes.
    Str(String),
    /// A number literal (always finite).
    Num(f64),
    /// A comparison operator.
    Op(CmpOp),
    /// `!` not followed by `=`.
    Bang,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `,`.
    Comma,
    /// The end of the input.
    Eof,
}

impl TokenKind {
    /// The word if this is an unescaped single identifier (a keyword
    /// candidate).
    pub(super) fn bare_word(&self) -> Option<&str> {
        match self {
            TokenKind::Word { parts, escaped } if !escaped && parts.len() == 1 => {
                parts.first().map(String::as_str)
            }
            _ => None,
        }
    }
}

/// Whitespace between tokens. Carriage returns are accepted so that triggers
/// written with CRLF line ends work.
pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Characters that may start an identifier (a backslash also may).
pub(super) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Characters that may continue an identifier (a backslash also may).
pub(super) fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Whether `s` is exactly a number literal: `[+-]digits[.digits]`.
pub(super) fn is_number_text(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// Describes a character for an error message.
fn describe(c: char) -> String {
    if c.is_control() || c.is_whitespace() || c == '`' {
        format!("character U+{:04X}", u32::from(c))
    } else {
        format!("character `{c}`")
    }
}

/// Splits `source` into tokens, ending with [`TokenKind::Eof`].
pub(super) fn lex(source: &str) -> Result<Vec<Token>, FqlError> {
    let mut lexer = Lexer {
        source,
        chars: source.chars().collect(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.kind == TokenKind::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    source: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl Lexer<'_> {
    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn error(&self, position: usize, headline: &str, hint: Option<&str>) -> FqlError {
        FqlError::new(self.source, position, headline, hint)
    }

    fn token(&self, kind: TokenKind, start: usize) -> Token {
        Token {
            kind,
            start,
            end: self.pos,
            raw: self.chars[start..self.pos].iter().collect(),
        }
    }

    fn next_token(&mut self) -> Result<Token, FqlError> {
        while self.peek_at(0).is_some_and(is_space) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.peek_at(0) else {
            return Ok(self.token(TokenKind::Eof, start));
        };
        let next = self.peek_at(1);
        let (kind, len) = match (c, next) {
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            (',', _) => (TokenKind::Comma, 1),
            ('=', Some('=')) => {
                return Err(self.error(start, "unexpected `==`", Some("use `=` to compare")))
            }
            ('=', Some('>')) => {
                return Err(self.error(start, "unexpected `=>`", Some("did you mean `>=`?")))
            }
            ('=', Some('<')) => {
                return Err(self.error(start, "unexpected `=<`", Some("did you mean `<=`?")))
            }
            ('=', _) => (TokenKind::Op(CmpOp::Eq), 1),
            ('!', Some('=')) if self.peek_at(2) == Some('=') => {
                return Err(self.error(start, "unexpected `!==`", Some("use `!=`")))
            }
            ('!', Some('=')) => (TokenKind::Op(CmpOp::Ne), 2),
            ('!', _) => (TokenKind::Bang, 1),
            ('<', Some('>')) => {
                return Err(self.error(start, "unexpected `<>`", Some("use `!=`")))
            }
            ('<', Some('=')) => (TokenKind::Op(CmpOp::Le), 2),
            ('<', _) => (TokenKind::Op(CmpOp::Lt), 1),
            ('>', Some('=')) => (TokenKind::Op(CmpOp::Ge), 2),
            ('>', _) => (TokenKind::Op(CmpOp::Gt), 1),
            ('&', Some('&')) => {
                return Err(self.error(start, "unexpected `&&`", Some("use `and`")))
            }
            ('|', Some('|')) => {
                return Err(self.error(start, "unexpected `||`", Some("use `or`")))
            }
            ('"', _) => return self.string(start),
            ('\'', _) => {
                return Err(self.error(
                    start,
                    "single-quoted strings are not supported",
                    Some("use double quotes, e.g. \"track\""),
                ))
            }
            ('+' | '-', _) | ('0'..='9', _) => return self.number(start),
            ('\\', _) => return self.word(start),
            (c, _) if is_ident_start(c) => return self.word(start),
            ('.', _) => {
                return Err(self.error(
                    start,
                    "unexpected `.`",
                    Some("a path starts with `properties`, `traits` or `context`; a number starts with a digit"),
                ))
            }
            (c, _) => {
                return Err(self.error(start, &format!("unexpected {}", describe(c)), None))
            }
        };
        self.pos += len;
        Ok(self.token(kind, start))
    }

    /// A double-quoted string: everything up to the next `"`, with no escapes.
    fn string(&mut self, start: usize) -> Result<Token, FqlError> {
        let body_start = start + 1;
        let Some(len) = self.chars[body_start..].iter().position(|&c| c == '"') else {
            return Err(self.error(
                start,
                "unterminated string",
                Some("add the closing `\"`; strings cannot contain `\"`"),
            ));
        };
        let body: String = self.chars[body_start..body_start + len].iter().collect();
        self.pos = body_start + len + 1;
        Ok(self.token(TokenKind::Str(body), start))
    }

    /// `[+-]digits[.digits]`, which must not run into a word or another dot.
    fn number(&mut self, start: usize) -> Result<Token, FqlError> {
        const HINT: &str = "write numbers like `5`, `-2` or `3.75`";
        if matches!(self.peek_at(0), Some('+' | '-')) {
            self.pos += 1;
        }
        if !self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
            let sign = self.chars[start];
            return Err(self.error(start, &format!("unexpected `{sign}`"), Some(HINT)));
        }
        self.skip_digits();
        if self.peek_at(0) == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.skip_digits();
        }
        if self
            .peek_at(0)
            .is_some_and(|c| c == '.' || c == '\\' || is_ident_continue(c))
        {
            let mut end = self.pos;
            while self
                .chars
                .get(end)
                .is_some_and(|&c| c == '.' || c == '\\' || is_ident_continue(c))
            {
                end += 1;
            }
            let text: String = self.chars[start..end].iter().collect();
            return Err(self.error(start, &format!("invalid number `{text}`"), Some(HINT)));
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(self.token(TokenKind::Num(value), start)),
            _ => Err(self.error(start, "number out of range", None)),
        }
    }

    fn skip_digits(&mut self) {
        while self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// An identifier, or identifiers joined by dots into a path. A backslash
    /// makes the next character part of the identifier, whatever it is.
    fn word(&mut self, start: usize) -> Result<Token, FqlError> {
        let mut parts = Vec::new();
        let mut escaped = false;
        loop {
            let mut part = String::new();
            loop {
                match self.peek_at(0) {
                    Some('\\') => {
                        let Some(c) = self.peek_at(1) else {
                            return Err(self.error(
                                self.pos,
                                "`\\` at the end of the trigger",
                                Some("a backslash escapes the character after it"),
                            ));
                        };
                        part.push(c);
                        escaped = true;
                        self.pos += 2;
                    }
                    Some(c) if is_ident_continue(c) => {
                        part.push(c);
                        self.pos += 1;
                    }
                    _ => break,
                }
            }
            parts.push(part);
            if self.peek_at(0) != Some('.') {
                break;
            }
            let dot = self.pos;
            self.pos += 1;
            if !self
                .peek_at(0)
                .is_some_and(|c| c == '\\' || is_ident_continue(c))
            {
                return Err(self.error(
                    dot,
                    "expected a key after `.`",
                    Some("escape unusual characters in keys with `\\`, e.g. `properties.my\\ key`"),
                ));
            }
        }
        Ok(self.token(TokenKind::Word { parts, escaped }, start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        lex(src)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn word(parts: &[&str]) -> TokenKind {
        TokenKind::Word {
            parts: parts.iter().map(|s| (*s).to_owned()).collect(),
            escaped: false,
        }
    }

    #[test]
    fn glued_tokens_split_properly() {
        assert_eq!(
            kinds("event!=\"x\""),
            vec![
                word(&["event"]),
                TokenKind::Op(CmpOp::Ne),
                TokenKind::Str("x".into()),
                TokenKind::Eof
            ]
        );
        assert_eq!(
            kinds("properties.total>5"),
            vec![
                word(&["properties", "total"]),
                TokenKind::Op(CmpOp::Gt),
                TokenKind::Num(5.0),
                TokenKind::Eof
            ]
        );
        assert_eq!(
            kinds("x >=-5.25"),
            vec![
                word(&["x"]),
                TokenKind::Op(CmpOp::Ge),
                TokenKind::Num(-5.25),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn escapes_and_numeric_keys() {
        assert_eq!(
            kinds(r"properties.my\ key.0.a-b"),
            vec![
                TokenKind::Word {
                    parts: vec![
                        "properties".into(),
                        "my key".into(),
                        "0".into(),
                        "a-b".into()
                    ],
                    escaped: true
                },
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn strings_have_no_escapes() {
        assert_eq!(
            kinds(r#""a\b" "#),
            vec![TokenKind::Str(r"a\b".into()), TokenKind::Eof]
        );
    }

    #[test]
    fn positions_are_char_offsets() {
        let tokens = lex("é = \"ü\" x").unwrap_or_else(|e| panic!("{e}"));
        let starts: Vec<usize> = tokens.iter().map(|t| t.start).collect();
        assert_eq!(starts, vec![0, 2, 4, 8, 9]);
    }

    #[test]
    fn crlf_is_whitespace() {
        assert_eq!(
            kinds("a\r\n=\r\n1"),
            vec![
                word(&["a"]),
                TokenKind::Op(CmpOp::Eq),
                TokenKind::Num(1.0),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn bad_numbers() {
        for (src, pos) in [
            ("x = 5.", 4),
            ("x = 5e3", 4),
            ("x = 1.2.3", 4),
            ("x = 5and", 4),
            ("x = -", 4),
            ("x = .5", 4),
            ("x = - 5", 4),
        ] {
            match lex(src) {
                Ok(tokens) => panic!("{src:?} lexed as {tokens:?}"),
                Err(e) => assert_eq!(e.position, pos, "{src:?}: {e}"),
            }
        }
        let huge = format!("x = {}", "9".repeat(400));
        assert!(lex(&huge).is_err());
    }
}
