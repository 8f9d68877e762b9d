//! `GET /v1/projects/{writeKey}/settings`: the source settings Segment's CDN serves, which the
//! browser library (`@segment/analytics-next`) fetches before it sends anything, and the mobile
//! libraries fetch at start-up.
//!
//! The browser library refuses to load when that fetch fails, and Segment's CDN answers 404 for
//! a write key Segment does not know: a page set up with only a relay `apiHost` sends nothing
//! at all (and hands its key to Segment's CDN on every page view). With
//! `AnalyticsBrowser.load({ writeKey, cdnURL: "https://relay.example.com" })` the library reads
//! its settings here instead, and they point it back at this relay.
//!
//! The answer names where the relay is reached from the browser's side: the host from
//! `X-Forwarded-Host`, `Forwarded` or `Host`, the scheme from `X-Forwarded-Proto`, `Forwarded`,
//! or the page's own scheme (an `https` page cannot call an `http` API anyway). What the page
//! sets in its load options (`integrations["Segment.io"].apiHost` / `protocol`) still wins.
//! The library's telemetry is turned off (`sampleRate: 0`): the relay would only drop it.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Browsers may keep the settings a few minutes; shared caches must not, since the answer
/// depends on forwarding headers.
const CACHE_CONTROL: &str = "private, max-age=300";
/// The request headers the answer depends on.
const VARY: &str = "Host, X-Forwarded-Host, X-Forwarded-Proto, Forwarded, Origin";

/// The settings document for a source's write key.
pub fn response(write_key: &str, headers: &HeaderMap) -> Response {
    let (host, protocol) = public_address(headers);
    let body = json!({
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": format!("{host}/v1"),
                "protocol": protocol,
            }
        },
        "metrics": {"sampleRate": 0},
    });
    let mut response = Json(body).into_response();
    let out = response.headers_mut();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    out.append(header::VARY, HeaderValue::from_static(VARY));
    response
}

/// The host (with port) and scheme the client reached the relay at.
pub fn public_address(headers: &HeaderMap) -> (String, &'static str) {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Proxies that append give a comma-separated list; the first is the client's view.
    let first = |v: &str| v.split(',').next().unwrap_or("").trim().to_string();
    let forwarded = |key: &str| text("forwarded").and_then(|v| forwarded_param(v, key));

    let host = [
        text("x-forwarded-host").map(first),
        forwarded("host"),
        text(header::HOST.as_str()).map(first),
    ]
    .into_iter()
    .flatten()
    .find(|h| is_host(h))
    .unwrap_or_else(|| "localhost".to_string());

    let scheme = [text("x-forwarded-proto").map(first), forwarded("proto")]
        .into_iter()
        .flatten()
        .find_map(|p| scheme_of(&p))
        .or_else(|| {
            text(header::ORIGIN.as_str())
                .filter(|o| o.starts_with("https://"))
                .map(|_| "https")
        })
        .unwrap_or("http");
    (host, scheme)
}

/// A parameter of the first element of a `Forwarded` header (RFC 7239), unquoted.
fn forwarded_param(value: &str, key: &str) -> Option<String> {
    let element = value.split(',').next()?;
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn scheme_of(value: &str) -> Option<&'static str> {
    if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// A host name or address with an optional port: nothing that could add a path or a scheme.
fn is_host(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 260
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn host_header_and_plain_http_by_default() {
        let h = headers(&[("host", "relay.internal:8080")]);
        assert_eq!(public_address(&h), ("relay.internal:8080".into(), "http"));
    }

    #[test]
    fn forwarding_headers_name_the_public_side() {
        let h = headers(&[
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "relay.example.com, proxy.internal"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(public_address(&h), ("relay.example.com".into(), "https"));
        let h = headers(&[
            ("host", "10.0.0.5:8080"),
            (
                "forwarded",
                "for=192.0.2.60;proto=https;host=\"relay.example.com\", for=10.0.0.1",
            ),
        ]);
        assert_eq!(public_address(&h), ("relay.example.com".into(), "https"));
    }

    #[test]
    fn an_https_page_implies_https() {
        let h = headers(&[
            ("host", "relay.example.com"),
            ("origin", "https://shop.example"),
        ]);
        assert_eq!(public_address(&h).1, "https");
        let h = headers(&[
            ("host", "relay.example.com"),
            ("origin", "https://shop.example"),
            ("x-forwarded-proto", "http"),
        ]);
        assert_eq!(public_address(&h).1, "http");
    }

    #[test]
    fn junk_hosts_are_skipped() {
        let h = headers(&[
            ("host", "relay.example.com"),
            ("x-forwarded-host", "evil.example/path"),
        ]);
        assert_eq!(public_address(&h).0, "relay.example.com");
        assert_eq!(public_address(&HeaderMap::new()).0, "localhost");
    }
}
