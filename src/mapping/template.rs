//! `@template`: `{{path}}` / `{{{path}}}` placeholders, rendered the way the reference does.
//!
//! The reference makes two passes with regular expressions: first every `{{{…}}}` is replaced,
//! then every `{{…}}` in the result (so text produced by the first pass can form placeholders
//! for the second). A placeholder's inner text is one or more characters other than `}`, trimmed
//! of JavaScript white space, and is looked up as a plain path (no `$.` handling, see
//! [`Path::parse_plain`]). Values are converted to text as JavaScript's `String()` would, except
//! that `undefined` and `null` become the empty string.
//!
//! Templates without `{{{` (the usual case) are compiled once, at parse time; the rare template
//! with triple braces has its second pass scanned when it is rendered, because that pass works
//! on text that depends on the event.

use serde_json::{Number, Value};

use super::path::Path;
use crate::event::EventKeys;

/// A parsed `@template` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The parts of the first pass when the template has triple-brace placeholders; otherwise
    /// the parts of the (only meaningful) second pass.
    parts: Vec<Part>,
    /// Whether `parts` is the first pass (then the second pass runs at render time).
    two_pass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(Path),
}

const TRIPLE: (&str, &str) = ("{{{", "}}}");
const DOUBLE: (&str, &str) = ("{{", "}}");

impl Template {
    /// Parses a template string.
    pub fn parse(template: &str) -> Template {
        let mut triple = Vec::new();
        let found = scan(template, TRIPLE, |piece| triple.push(piece.into_part()));
        if found {
            Template {
                parts: triple,
                two_pass: true,
            }
        } else {
            let mut parts = Vec::new();
            scan(template, DOUBLE, |piece| parts.push(piece.into_part()));
            Template {
                parts,
                two_pass: false,
            }
        }
    }

    /// Adds the top-level event keys rendering reads to `out`. A two-pass template reads
    /// paths that come out of the event's own data, so it reads every key.
    pub fn event_keys(&self, out: &mut EventKeys) {
        if self.two_pass {
            out.add_all();
            return;
        }
        for part in &self.parts {
            if let Part::Placeholder(p) = part {
                p.event_keys(out);
            }
        }
    }

    /// Renders the template against `event`. Always yields a string.
    pub fn render(&self, event: &Value) -> String {
        let mut first = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => first.push_str(t),
                Part::Placeholder(p) => push_js_string(&mut first, p.get(event).as_ref()),
            }
        }
        if !self.two_pass {
            return first;
        }
        let mut out = String::with_capacity(first.len());
        scan(&first, DOUBLE, |piece| match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(inner) => push_js_string(
                &mut out,
                Path::parse_plain(js_trim(inner)).get(event).as_ref(),
            ),
        });
        out
    }
}

enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

impl Piece<'_> {
    fn into_part(self) -> Part {
        match self {
            Piece::Text(t) => Part::Text(t.to_string()),
            Piece::Placeholder(inner) => Part::Placeholder(Path::parse_plain(js_trim(inner))),
        }
    }
}

/// Cuts `s` into text and placeholders `open [^}]+ close`, leftmost first, as a global regular
/// expression replace would find them. Returns whether any placeholder was found.
fn scan<'a>(s: &'a str, (open, close): (&str, &str), mut emit: impl FnMut(Piece<'a>)) -> bool {
    let mut found = false;
    let mut text_start = 0;
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(open) {
            let inner_start = i + open.len();
            let inner_end = s[inner_start..]
                .find('}')
                .map_or(s.len(), |off| inner_start + off);
            if inner_end > inner_start && s[inner_end..].starts_with(close) {
                if text_start < i {
                    emit(Piece::Text(&s[text_start..i]));
                }
                emit(Piece::Placeholder(&s[inner_start..inner_end]));
                found = true;
                i = inner_end + close.len();
                text_start = i;
                continue;
            }
        }
        // Advance one character (all delimiters are ASCII, so byte steps over ASCII are safe).
        i += s[i..].chars().next().map_or(1, char::len_utf8);
    }
    if text_start < s.len() {
        emit(Piece::Text(&s[text_start..]));
    }
    found
}

/// JavaScript's white space and line terminators (what `String.prototype.trim` removes).
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0B}'
            | '\u{0C}'
            | '\r'
            | ' '
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '\u{FEFF}'
    ) || ('\u{2000}'..='\u{200A}').contains(&c)
}

fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// Appends the JavaScript string form of a value (`String(v)`), with `undefined` and `null` as
/// the empty string: numbers in shortest form, arrays joined with `,` (recursively, their
/// `null` elements empty), objects as `[object Object]`.
pub fn push_js_string(out: &mut String, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => push_js_number(out, n),
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_js_string(out, Some(item));
            }
        }
        Some(Value::Object(_)) => out.push_str("[object Object]"),
    }
}

/// The JavaScript string form of a value, see [`push_js_string`].
pub fn js_string(value: Option<&Value>) -> String {
    let mut out = String::new();
    push_js_string(&mut out, value);
    out
}

/// Appends a JSON number as JavaScript's `Number.prototype.toString()` writes it (the number is
/// first read as a double, as JavaScript's JSON parser would have).
pub fn push_js_number(out: &mut String, n: &Number) {
    let x = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i as f64,
        (None, Some(u)) => u as f64,
        _ => n.as_f64().unwrap_or(f64::NAN),
    };
    push_js_f64(out, x);
}

/// Appends a double as ECMAScript's Number::toString(10) writes it.
pub fn push_js_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    let x = x.abs();
    if x.is_infinite() {
        out.push_str("Infinity");
        return;
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: "d.ddde±x".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (first, rest) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let k = (first.len() + rest.len()) as i32;
    let n = exp + 1;
    let digit_at = |i: usize| -> &str {
        if i < first.len() {
            &first[i..=i]
        } else {
            &rest[i - first.len()..=i - first.len()]
        }
    };
    if k <= n && n <= 21 {
        out.push_str(first);
        out.push_str(rest);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        for i in 0..n as usize {
            out.push_str(digit_at(i));
        }
        out.push('.');
        for i in n as usize..k as usize {
            out.push_str(digit_at(i));
        }
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(first);
        out.push_str(rest);
    } else {
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.unsigned_abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(x: f64) -> String {
        let mut s = String::new();
        push_js_f64(&mut s, x);
        s
    }

    #[test]
    fn js_numbers() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(42.0), "42");
        assert_eq!(num(-42.5), "-42.5");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(num(1e21), "1e+21");
        assert_eq!(num(1.5e21), "1.5e+21");
        assert_eq!(num(123456789012345680000.0), "123456789012345680000");
        assert_eq!(num(1e-6), "0.000001");
        assert_eq!(num(1e-7), "1e-7");
        assert_eq!(num(1.25e-7), "1.25e-7");
        assert_eq!(num(0.000123), "0.000123");
        assert_eq!(num(1717236000.0), "1717236000");
        assert_eq!(num(5e-324), "5e-324");
        assert_eq!(num(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(num(f64::INFINITY), "Infinity");
        let mut s = String::new();
        push_js_number(&mut s, &Number::from(u64::MAX));
        assert_eq!(s, "18446744073709552000");
    }

    #[test]
    fn js_strings() {
        assert_eq!(js_string(None), "");
        assert_eq!(js_string(Some(&json!(null))), "");
        assert_eq!(js_string(Some(&json!(true))), "true");
        assert_eq!(js_string(Some(&json!(false))), "false");
        assert_eq!(js_string(Some(&json!(12.0))), "12");
        assert_eq!(js_string(Some(&json!("x"))), "x");
        assert_eq!(
            js_string(Some(&json!([1, "a", null, [2, [3, {}]], true]))),
            "1,a,,2,3,[object Object],true"
        );
        assert_eq!(js_string(Some(&json!([]))), "");
        assert_eq!(js_string(Some(&json!({"a": 1}))), "[object Object]");
    }

    #[test]
    fn render() {
        let ev = json!({
            "traits": {"email": "a@b.co", "n": 1.50, "b": false, "arr": [1, [2, 3]], "o": {}, "nul": null,
                       "brace": "{{traits.email}}"},
            "$": {"x": "dollar"}
        });
        let r = |t: &str| Template::parse(t).render(&ev);
        assert_eq!(r("{{traits.email}}"), "a@b.co");
        assert_eq!(r("{{ traits.email }}!"), "a@b.co!");
        assert_eq!(r("{{{traits.email}}}"), "a@b.co");
        assert_eq!(r("<{{traits.n}}|{{traits.b}}|{{traits.arr}}|{{traits.o}}|{{traits.nul}}|{{traits.none}}>"),
                   "<1.5|false|1,2,3|[object Object]||>");
        assert_eq!(r("{{$.x}}"), "dollar");
        assert_eq!(r("no placeholders"), "no placeholders");
        assert_eq!(r("{{}}"), "{{}}");
        assert_eq!(r("{{ }}"), "[object Object]");
        assert_eq!(r("{{traits.email}"), "{{traits.email}");
        assert_eq!(r("{{{traits.email}}"), "");
        assert_eq!(r("é{{traits.email}}ü{{"), "éa@b.coü{{");
        // The second pass sees what the first produced.
        assert_eq!(r("{{{traits.brace}}}"), "a@b.co");
        assert_eq!(r("{{x{{{traits.n}}}}}"), "");
        // Double-brace values are not expanded again.
        assert_eq!(r("{{traits.brace}}"), "{{traits.email}}");
        assert_eq!(r("{{\u{FEFF}traits.email\u{3000}}}"), "a@b.co");
    }
}
