//! Paths into an event, with the reference runtime's lookup rules (spec 2.2).
//!
//! A path string is split once, when the mapping is parsed, into the property keys it walks.
//! The rules are those of the reference's `get`:
//!
//! * for `@path` and `@arrayPath`, the first occurrence of `$.` is removed (normally the prefix);
//!   `@template` placeholders skip that step;
//! * `""` and `"."` denote the whole event;
//! * the path is cut at every `.`, at every `[` followed by a quote or a digit, and at every run of
//!   `]` preceded by a quote or a digit; empty pieces are dropped and every `"` and `'` is
//!   removed from the rest (so `a[0]`, `a["k"]`, `a['k']` and `a.k` work as expected);
//! * each key is applied in turn, but as soon as the current value is falsy (undefined, `null`,
//!   `false`, `0`, `""`) traversal stops and returns that value itself;
//! * a key looks up an object's own member, an array element (canonical index) or `length`, a
//!   string's UTF-16 code unit (a lone surrogate half comes out as U+FFFD) or `length`.
//!   JavaScript's inherited members (`constructor`, `toString`, ...) are not seen.

use serde_json::Value;

use crate::event::EventKeys;

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// `""` or `"."`: the whole event.
    Whole,
    /// The property keys to walk, in order (never empty).
    Keys(Vec<String>),
}

impl Path {
    /// Adds the top-level event key the path starts from to `out` (every key for the whole
    /// event).
    pub fn event_keys(&self, out: &mut EventKeys) {
        match self {
            Path::Whole => out.add_all(),
            Path::Keys(keys) => out.add(&keys[0]),
        }
    }

    /// Parses the argument of `@path` or the path of `@arrayPath`: removes the first `$.`,
    /// then splits the rest.
    pub fn parse_directive(path: &str) -> Path {
        match path.find("$.") {
            Some(at) => {
                let mut stripped = String::with_capacity(path.len() - 2);
                stripped.push_str(&path[..at]);
                stripped.push_str(&path[at + 2..]);
                Path::parse_plain(&stripped)
            }
            None => Path::parse_plain(path),
        }
    }

    /// Parses a path as written inside a template placeholder (no `$.` handling).
    pub fn parse_plain(path: &str) -> Path {
        if path.is_empty() || path == "." {
            return Path::Whole;
        }
        let mut keys = Vec::new();
        let mut piece_start = 0;
        let mut prev: Option<char> = None;
        let mut iter = path.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            let split_len = match c {
                '.' => Some(1),
                '[' if iter.peek().is_some_and(|&(_, n)| is_quote_or_digit(n)) => Some(1),
                ']' if prev.is_some_and(is_quote_or_digit) => {
                    let mut len = 1;
                    while iter.next_if(|&(_, n)| n == ']').is_some() {
                        len += 1;
                    }
                    Some(len)
                }
                _ => None,
            };
            if let Some(len) = split_len {
                push_key(&mut keys, &path[piece_start..i]);
                piece_start = i + len;
            }
            // After a run of `]` the previous character is still a `]`.
            prev = Some(c);
        }
        push_key(&mut keys, &path[piece_start..]);
        if keys.is_empty() {
            // Only separators (e.g. ".."): the reference reduces over no keys, giving the event.
            Path::Whole
        } else {
            Path::Keys(keys)
        }
    }

    /// Looks the path up in `root`. `None` is JavaScript's `undefined`.
    pub fn get(&self, root: &Value) -> Option<Value> {
        match self {
            Path::Whole => Some(root.clone()),
            Path::Keys(keys) => lookup(root, keys).map(|v| v.into_owned()),
        }
    }
}

fn is_quote_or_digit(c: char) -> bool {
    c == '"' || c == '\'' || c.is_ascii_digit()
}

fn push_key(keys: &mut Vec<String>, piece: &str) {
    if !piece.is_empty() {
        keys.push(piece.chars().filter(|&c| c != '"' && c != '\'').collect());
    }
}

/// A value found by a lookup: borrowed from the event, or made up (a string's character or a
/// length).
enum Found<'a> {
    Borrowed(&'a Value),
    Owned(Value),
}

impl Found<'_> {
    fn into_owned(self) -> Value {
        match self {
            Found::Borrowed(v) => v.clone(),
            Found::Owned(v) => v,
        }
    }

    fn as_value(&self) -> &Value {
        match self {
            Found::Borrowed(v) => v,
            Found::Owned(v) => v,
        }
    }
}

fn lookup<'a>(root: &'a Value, keys: &[String]) -> Option<Found<'a>> {
    let mut current = Found::Borrowed(root);
    for key in keys {
        if is_falsy(current.as_value()) {
            return Some(current);
        }
        current = match current {
            Found::Borrowed(v) => property(v, key)?,
            // Made-up values are strings and numbers: only a string can be indexed further.
            Found::Owned(v) => Found::Owned(property(&v, key)?.into_owned()),
        };
    }
    Some(current)
}

/// JavaScript truthiness of a JSON value (`undefined` is handled by the caller).
pub fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f == 0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// `value[key]` for own data properties of JSON values.
fn property<'a>(value: &'a Value, key: &str) -> Option<Found<'a>> {
    match value {
        Value::Object(map) => map.get(key).map(Found::Borrowed),
        Value::Array(items) => {
            if key == "length" {
                Some(Found::Owned(Value::from(items.len())))
            } else {
                array_index(key)
                    .and_then(|i| items.get(i))
                    .map(Found::Borrowed)
            }
        }
        Value::String(s) => {
            if key == "length" {
                Some(Found::Owned(Value::from(s.encode_utf16().count())))
            } else {
                let i = array_index(key)?;
                let unit = s.encode_utf16().nth(i)?;
                // A lone surrogate half cannot be held in a Rust string.
                let c = char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
                Some(Found::Owned(Value::String(c.to_string())))
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// A canonical array index (`"0"`, `"17"`, not `"017"` or `"-1"`), as JavaScript accepts them.
fn array_index(key: &str) -> Option<usize> {
    let bytes = key.as_bytes();
    if bytes.is_empty()
        || !bytes.iter().all(u8::is_ascii_digit)
        || (bytes.len() > 1 && bytes[0] == b'0')
    {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    // Indices stop at 2^32 - 2; anything larger is an ordinary (absent) property.
    if n >= u64::from(u32::MAX) {
        return None;
    }
    usize::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(p: &str) -> Vec<String> {
        match Path::parse_directive(p) {
            Path::Whole => vec!["<whole>".to_string()],
            Path::Keys(k) => k,
        }
    }

    #[test]
    fn splitting() {
        assert_eq!(keys("$.traits.email"), ["traits", "email"]);
        assert_eq!(keys("traits.email"), ["traits", "email"]);
        assert_eq!(keys("a[0].b"), ["a", "0", "b"]);
        assert_eq!(keys("a[\"k.x\"]"), ["a", "k", "x"]);
        assert_eq!(keys("a['key']"), ["a", "key"]);
        assert_eq!(keys("a[\"key\"]"), ["a", "key"]);
        assert_eq!(keys("a[12]]]"), ["a", "12"]);
        assert_eq!(keys("a[0]b"), ["a", "0", "b"]);
        // `[` not followed by a quote or digit is part of the key.
        assert_eq!(keys("a[key]"), ["a[key]"]);
        assert_eq!(keys("a..b."), ["a", "b"]);
        assert_eq!(keys("[0]"), ["0"]);
        // Quotes are removed anywhere.
        assert_eq!(keys("o'neil"), ["oneil"]);
        // Only the first `$.` goes, wherever it is.
        assert_eq!(keys("a.$.b.$.c"), ["a", "b", "$", "c"]);
        assert_eq!(keys("$"), ["$"]);
        assert_eq!(keys(""), ["<whole>"]);
        assert_eq!(keys("."), ["<whole>"]);
        assert_eq!(keys("$."), ["<whole>"]);
        assert_eq!(keys(".."), ["<whole>"]);
        assert_eq!(keys("a.b"), ["a", "b"]);
        assert_eq!(keys("é.ü[1]"), ["é", "ü", "1"]);
    }

    #[test]
    fn plain_paths_keep_dollar() {
        assert_eq!(
            Path::parse_plain("$.a"),
            Path::Keys(vec!["$".into(), "a".into()])
        );
    }

    #[test]
    fn lookups() {
        let ev = json!({
            "traits": {"email": "a@b.co", "n": 0, "f": false, "s": "", "nul": null, "tags": ["x", "y"]},
            "props": {"word": "h€llo😀", "list": [{"id": 1}, {"id": 2}], "0": "zero"},
            "num": 5
        });
        let get = |p: &str| Path::parse_directive(p).get(&ev);
        assert_eq!(get("$.traits.email"), Some(json!("a@b.co")));
        assert_eq!(get("traits.missing"), None);
        assert_eq!(get("traits.missing.deeper"), None);
        // Falsy short-circuit: the falsy value itself comes back.
        assert_eq!(get("traits.n.deeper"), Some(json!(0)));
        assert_eq!(get("traits.f.x.y"), Some(json!(false)));
        assert_eq!(get("traits.s.length"), Some(json!("")));
        assert_eq!(get("traits.nul.x"), Some(Value::Null));
        assert_eq!(get("traits.tags[1]"), Some(json!("y")));
        assert_eq!(get("traits.tags.0"), Some(json!("x")));
        assert_eq!(get("traits.tags.length"), Some(json!(2)));
        assert_eq!(get("traits.tags[2]"), None);
        assert_eq!(get("traits.tags.01"), None);
        assert_eq!(get("props.list[1].id"), Some(json!(2)));
        assert_eq!(get("props[\"list\"][0]['id']"), Some(json!(1)));
        assert_eq!(get("props.0"), Some(json!("zero")));
        assert_eq!(get("props.word[1]"), Some(json!("€")));
        assert_eq!(get("props.word.length"), Some(json!(7)));
        assert_eq!(get("props.word.5"), Some(json!("\u{fffd}")));
        assert_eq!(get("props.word.length.x"), None);
        assert_eq!(get("num.x"), None);
        assert_eq!(get(""), Some(ev.clone()));
        assert_eq!(get("$."), Some(ev.clone()));
    }

    #[test]
    fn falsy() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(-0.0),
            json!(""),
        ] {
            assert!(is_falsy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(1),
            json!(" "),
            json!("0"),
            json!([]),
            json!({}),
        ] {
            assert!(!is_falsy(&v), "{v}");
        }
    }
}
