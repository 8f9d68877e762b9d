//! Who is sending: the write key (from `Authorization: Basic`, `Bearer`, the JSON body or, for
//! webhooks, `?writeKey=`), and webhook signatures (`X-Signature`, HMAC-SHA1 over the raw
//! bytes, compared in constant time).
//!
//! Real clients use every key form (spec §2, trap T3): the Customer.io clients send only the
//! header, Java ≥ 3.4 and Kotlin only the body. A refused request is logged loudly, because
//! every client drops a 401 without telling anyone; the log names the caller, never the key.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{header, request::Parts, HeaderMap, HeaderValue};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::event::Fields;

/// The header Segment's webhook destinations sign with.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// The write key an `Authorization` header carries: `Basic base64(key:)`, `Basic base64(key)`
/// (Segment's backward-compatible form), or `Bearer key` (what the Customer.io Python client
/// sends for `pk_`/`sk_` keys).
pub fn key_from_headers(headers: &HeaderMap) -> Option<String> {
    parse_authorization(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// Parses an `Authorization` value into a write key.
///
/// For Basic, the key is the user name; when the user name is empty and a password is given
/// (`base64(":key")`), the password is taken instead, a mistake that is easy to make and safe
/// to forgive.
pub fn parse_authorization(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(rest)
        .or_else(|_| STANDARD_NO_PAD.decode(rest))
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let key = match decoded.split_once(':') {
        Some(("", password)) => password,
        Some((user, _)) => user,
        None => decoded.as_str(),
    };
    (!key.is_empty()).then(|| key.to_string())
}

/// The `writeKey` field of a JSON object (an event or a batch envelope), when it is a
/// non-empty string.
pub fn key_from_body<'f>(fields: &'f Fields<'_>) -> Option<Cow<'f, str>> {
    fields.str("writeKey").filter(|k| !k.is_empty())
}

/// The source of the first candidate key that some source has. The header comes first: with
/// Segment's OAuth the bearer token is not a key and the body's `writeKey` is.
pub fn find_source<'a>(
    write_keys: &HashMap<String, usize>,
    candidates: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<usize> {
    candidates
        .into_iter()
        .flatten()
        .find_map(|k| write_keys.get(k).copied())
}

/// Whether `presented` is this source's key, compared in constant time.
pub fn key_matches(expected: &Secret, presented: &str) -> bool {
    expected
        .expose()
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// Lowercase hex HMAC-SHA1 of `signed`, as Segment's webhook destinations compute it.
pub fn sign(secret: &Secret, signed: &[u8]) -> String {
    hex::encode(mac(secret, signed))
}

fn mac(secret: &Secret, signed: &[u8]) -> [u8; 20] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

/// Whether `X-Signature` is the HMAC-SHA1 of `signed` (hex, either case), compared in constant
/// time. `signed` must be the raw bytes as received: re-serialized JSON (key order, spacing,
/// escapes) would not match.
pub fn signature_valid(secret: &Secret, signed: &[u8], header: Option<&HeaderValue>) -> bool {
    let Some(given) = header.and_then(|h| hex::decode(h.as_bytes().trim_ascii()).ok()) else {
        return false;
    };
    mac(secret, signed).ct_eq(&given[..]).into()
}

/// A printable hint of a key that cannot be used to recover it: up to four leading characters
/// (never more than a quarter of the key) and the length.
pub fn fingerprint(key: &str) -> String {
    let len = key.chars().count();
    let shown: String = key.chars().take((len / 4).min(4)).collect();
    format!("{shown}…({len} chars)")
}

/// Who sent a request, for logs.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The peer address of the connection.
    pub addr: Option<SocketAddr>,
    /// `X-Forwarded-For`, when a proxy set it.
    pub forwarded_for: Option<&'a str>,
    /// `User-Agent`, which names the client library.
    pub user_agent: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// Reads the caller from a request's parts.
    pub fn from_parts(parts: &'a Parts) -> Caller<'a> {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        Caller {
            addr: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            forwarded_for: header("x-forwarded-for"),
            user_agent: header(header::USER_AGENT.as_str()),
        }
    }

    /// Logs a refused request at WARN: clients drop a 401 silently, so this line is the only
    /// trace a misconfigured key leaves.
    pub fn warn_refused(&self, route: &str, presented: Option<&str>, reason: &str) {
        tracing::warn!(
            route,
            client_ip = %self.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
            forwarded_for = self.forwarded_for.unwrap_or(""),
            user_agent = truncate(self.user_agent.unwrap_or(""), 200),
            key = %presented.map(fingerprint).unwrap_or_else(|| "none".into()),
            reason,
            "Refused a request"
        );
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_with_and_without_colon() {
        assert_eq!(parse_authorization(&basic("wk:")), Some("wk".into()));
        assert_eq!(parse_authorization(&basic("wk")), Some("wk".into()));
        assert_eq!(parse_authorization(&basic("wk:ignored")), Some("wk".into()));
        assert_eq!(parse_authorization(&basic(":wk")), Some("wk".into()));
        assert_eq!(parse_authorization(&basic(":")), None);
        assert_eq!(parse_authorization(&basic("")), None);
        assert_eq!(
            parse_authorization(&format!("basic {}", STANDARD_NO_PAD.encode("wk:"))),
            Some("wk".into())
        );
    }

    #[test]
    fn bearer_carries_the_key_itself() {
        assert_eq!(
            parse_authorization("Bearer pk_us_123"),
            Some("pk_us_123".into())
        );
        assert_eq!(parse_authorization("bearer  k "), Some("k".into()));
        assert_eq!(parse_authorization("Bearer "), None);
    }

    #[test]
    fn other_schemes_and_garbage_give_nothing() {
        for v in ["", "Basic", "Basic !!!", "Digest abc", "wk", "Basic /w=="] {
            assert_eq!(parse_authorization(v), None, "{v}");
        }
    }

    #[test]
    fn header_wins_over_body_when_both_are_known() {
        let keys = HashMap::from([("a".to_string(), 0), ("b".to_string(), 1)]);
        assert_eq!(find_source(&keys, [Some("a"), Some("b")]), Some(0));
        assert_eq!(
            find_source(&keys, [Some("oauth-token"), Some("b")]),
            Some(1)
        );
        assert_eq!(find_source(&keys, [None, Some("b")]), Some(1));
        assert_eq!(find_source(&keys, [Some("x"), None]), None);
    }

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 2202 test case 2.
        let secret = Secret::new("Jefe");
        let sig = sign(&secret, b"what do ya want for nothing?");
        assert_eq!(sig, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        let good = HeaderValue::from_str(&sig).unwrap();
        assert!(signature_valid(
            &secret,
            b"what do ya want for nothing?",
            Some(&good)
        ));
        let upper = HeaderValue::from_str(&sig.to_uppercase()).unwrap();
        assert!(signature_valid(
            &secret,
            b"what do ya want for nothing?",
            Some(&upper)
        ));
        assert!(!signature_valid(
            &secret,
            b"what do ya want for nothing!",
            Some(&good)
        ));
        assert!(!signature_valid(
            &secret,
            b"what do ya want for nothing?",
            None
        ));
        let short = HeaderValue::from_static("effcdf");
        assert!(!signature_valid(
            &secret,
            b"what do ya want for nothing?",
            Some(&short)
        ));
        let junk = HeaderValue::from_static("not hex");
        assert!(!signature_valid(
            &secret,
            b"what do ya want for nothing?",
            Some(&junk)
        ));
    }

    #[test]
    fn fingerprints_never_reveal_short_keys() {
        assert_eq!(fingerprint("abcdefghijklmnopqrstuvwxyz"), "abcd…(26 chars)");
        assert_eq!(fingerprint("abc"), "…(3 chars)");
        assert_eq!(fingerprint("abcdefgh"), "ab…(8 chars)");
    }

    #[test]
    fn keys_compare_exactly() {
        let k = Secret::new("key-1");
        assert!(key_matches(&k, "key-1"));
        assert!(!key_matches(&k, "key-2"));
        assert!(!key_matches(&k, "key-1 "));
    }
}
