//! A thin reqwest client for one Customer.io workspace: connection reuse, HTTP Basic auth from
//! the site id and API key, the region's origin (or `base_url`), a timeout, and a User-Agent
//! naming cio-relay and its version.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};

use crate::config::Destination;

/// The `User-Agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("cio-relay/", env!("CARGO_PKG_VERSION"));

/// A response: its status, the headers that matter to retries, and the body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
    pub body: Bytes,
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// Connection refused, reset or closed before an answer.
    #[error("connection failed: {0}")]
    Connect(String),
}

/// A client for one destination.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    origin: String,
}

impl Client {
    /// Builds the client; the credentials go into default headers, never into logs.
    pub fn new(dest: &Destination) -> Result<Client, String> {
        let mut headers = HeaderMap::new();
        if let Some(c) = &dest.credentials {
            let mut v = HeaderValue::from_str(&c.basic_auth()).map_err(|_| {
                "credentials contain characters not allowed in a header".to_string()
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(dest.delivery.request_timeout_secs))
            .connect_timeout(Duration::from_secs(
                dest.delivery.request_timeout_secs.min(5),
            ))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(dest.delivery.max_in_flight.max(1))
            // A redirect would turn the POST into a GET and lose the body; Customer.io's
            // region redirect is avoided by configuring the region.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            origin: dest.origin.clone(),
        })
    }

    /// POSTs a JSON body to `path` under the destination's origin. A redirect (an EU workspace
    /// addressed on the US host, a proxy) is followed up to five times as the same POST with
    /// the same body: an HTTP client's own redirect handling would turn a 301/302/303 into a
    /// body-less GET and lose the operations.
    pub async fn post(&self, path: &str, body: Bytes) -> Result<Response, SendError> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.origin, path))
            .map_err(|e| SendError::Connect(format!("bad URL: {e}")))?;
        let mut hops = 0;
        let resp = loop {
            let resp = self
                .http
                .post(url.clone())
                .body(body.clone())
                .send()
                .await
                .map_err(map_err)?;
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            match location {
                Some(next)
                    if resp.status().is_redirection() && hops < 5 && may_follow(&url, &next) =>
                {
                    if next.host_str() != url.host_str() {
                        tracing::warn!(
                            from = %url.origin().ascii_serialization(),
                            to = %next.origin().ascii_serialization(),
                            "Customer.io redirected to another host; check the destination's region"
                        );
                    }
                    hops += 1;
                    url = next;
                }
                _ => break resp,
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(map_err)?;
        Ok(Response {
            status,
            retry_after,
            body,
        })
    }
}

/// The credentials travel with a followed redirect, so only follow one to the same host or to
/// another Customer.io host (the region redirect); anything else is answered as it came.
fn may_follow(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    match (from.host_str(), to.host_str()) {
        (Some(a), Some(b)) if a == b => true,
        (_, Some(b)) => {
            to.scheme() == "https" && (b == "customer.io" || b.ends_with(".customer.io"))
        }
        _ => false,
    }
}

fn map_err(e: reqwest::Error) -> SendError {
    if e.is_timeout() {
        SendError::Timeout
    } else {
        // Strip the URL: it is harmless, but the error chain is what helps.
        SendError::Connect(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(Method, String, Vec<u8>)>>>;

    /// A server that redirects the first request of each path with `status`, then answers 200.
    async fn redirecting(status: StatusCode) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, _h: HeaderMap, body: bytes::Bytes| {
                let log = log.clone();
                async move {
                    log.lock()
                        .unwrap()
                        .push((method, uri.to_string(), body.to_vec()));
                    if uri.query().is_none() {
                        let to = format!("{}?moved=1", uri.path());
                        (status, [(reqwest::header::LOCATION, to)], "").into_response()
                    } else {
                        (StatusCode::OK, "{}").into_response()
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn destination(base: &str) -> Destination {
        let toml = format!(
            "[[sources]]\nname = \"s\"\nwrite_key = \"k\"\n[[destinations]]\nname = \"d\"\nsite_id = \"a\"\napi_key = \"b\"\nbase_url = \"{base}\"\n"
        );
        let raw: crate::config::RawConfig = toml::from_str(&toml).unwrap();
        crate::config::resolve(raw).unwrap().destinations.remove(0)
    }

    #[tokio::test]
    async fn redirects_are_followed_as_the_same_post_with_the_same_body() {
        for status in [
            StatusCode::MOVED_PERMANENTLY,
            StatusCode::FOUND,
            StatusCode::SEE_OTHER,
            StatusCode::TEMPORARY_REDIRECT,
            StatusCode::PERMANENT_REDIRECT,
        ] {
            let (base, seen) = redirecting(status).await;
            let client = Client::new(&destination(&base)).unwrap();
            let resp = client
                .post("/api/v2/batch", Bytes::from_static(b"{\"batch\":[]}"))
                .await
                .unwrap();
            assert_eq!(resp.status, 200, "{status}");
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2, "{status}");
            assert_eq!(seen[1].0, Method::POST, "{status}");
            assert_eq!(seen[1].1, "/api/v2/batch?moved=1");
            assert_eq!(seen[1].2, b"{\"batch\":[]}".to_vec(), "{status}: body kept");
        }
    }

    #[test]
    fn credentials_follow_only_to_the_same_host_or_customer_io() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(may_follow(
            &u("https://track.customer.io/a"),
            &u("https://track-eu.customer.io/a")
        ));
        assert!(may_follow(
            &u("http://127.0.0.1:9/a"),
            &u("http://127.0.0.1:9/b")
        ));
        assert!(!may_follow(
            &u("https://track.customer.io/a"),
            &u("https://evil.example/a")
        ));
        assert!(!may_follow(
            &u("https://track.customer.io/a"),
            &u("http://track-eu.customer.io/a")
        ));
    }
}
