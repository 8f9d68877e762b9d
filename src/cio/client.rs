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

    /// POSTs a JSON body to `path` under the destination's origin.
    pub async fn post(&self, path: &str, body: Bytes) -> Result<Response, SendError> {
        let url = format!("{}{}", self.origin, path);
        let resp = self
            .http
            .post(url)
            .body(body)
            .send()
            .await
            .map_err(map_err)?;
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

fn map_err(e: reqwest::Error) -> SendError {
    if e.is_timeout() {
        SendError::Timeout
    } else {
        // Strip the URL: it is harmless, but the error chain is what helps.
        SendError::Connect(e.without_url().to_string())
    }
}
