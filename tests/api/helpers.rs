//! `spawn_app()`: the real server, built with `App::build` on `127.0.0.1:0` from a test
//! configuration whose only destination is a dry run, and a [`TestApp`] with typed helpers to
//! talk to it over HTTP.
//!
//! What reached delivery is read back from `GET /metrics` (`events_received` by source, type
//! and outcome), so the tests stay black-box.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cio_relay::app::{App, AppState};
use cio_relay::config::{self, RawConfig};
use flate2::write::GzEncoder;
use flate2::Compression;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use sha1::Sha1;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The `web` source's write key (ids required, as Segment's API).
pub const WRITE_KEY: &str = "wk_web_0123456789abcdef";
/// The `lenient` source's write key (`require_ids = false`).
pub const LENIENT_KEY: &str = "wk_lenient_0123456789abcdef";
/// The `hooks` source's webhook secret (it has no write key).
pub const HOOK_SECRET: &str = "hook-secret-0123456789";

/// A running relay.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client that never follows redirects (a redirect is a failure here).
    pub client: reqwest::Client,
    state: Arc<AppState>,
    _data_dir: TempDir,
}

/// How a request carries the write key in its headers.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// No `Authorization` header.
    None,
    /// `Basic base64(key:)`, what current libraries send.
    Basic(&'a str),
    /// `Basic base64(key)`, the legacy form without the colon.
    BasicNoColon(&'a str),
    /// `Bearer key`.
    Bearer(&'a str),
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// The value of a header, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts `200 {"success": true}` with nothing refused.
    #[track_caller]
    pub fn assert_success(&self) {
        assert_eq!(self.status, 200, "{}", self.text);
        assert_eq!(
            self.json,
            serde_json::json!({"success": true}),
            "{}",
            self.text
        );
    }

    /// Asserts an error answer: the status and `{"success": false, "code": code}`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.json["success"], false, "{}", self.text);
        assert_eq!(self.json["code"], code, "{}", self.text);
        assert!(self.json["message"].is_string(), "{}", self.text);
    }
}

fn test_config(data_dir: &std::path::Path) -> config::Config {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{dir}"
durability = "memory"

[[sources]]
name = "web"
write_key = "{WRITE_KEY}"

[[sources]]
name = "lenient"
write_key = "{LENIENT_KEY}"
require_ids = false

[[sources]]
name = "hooks"
webhook_secret = "{HOOK_SECRET}"

[[destinations]]
name = "dry"
dry_run = true
"#,
        dir = data_dir.display()
    );
    let raw: RawConfig = toml::from_str(&toml).expect("test config parses");
    config::resolve(raw).expect("test config resolves")
}

/// Starts the relay on a free port.
pub async fn spawn_app() -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let app = App::build(test_config(data_dir.path()))
        .await
        .expect("app builds");
    let addr = app.addr();
    let state = app.state();
    tokio::spawn(app.run(std::future::pending()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        addr,
        client,
        state,
        _data_dir: data_dir,
    }
}

impl TestApp {
    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A POST with the given header auth and no body yet.
    pub fn post(&self, path: &str, auth: Auth<'_>) -> reqwest::RequestBuilder {
        with_auth(self.client.post(self.url(path)), auth)
    }

    /// POSTs JSON (`application/json`) with the given header auth.
    pub async fn post_json(&self, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        let req = self
            .post(path, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        read(req).await
    }

    /// POSTs JSON with Basic auth for the `web` source: the common case.
    pub async fn track(&self, path: &str, body: &Value) -> Reply {
        self.post_json(path, Auth::Basic(WRITE_KEY), body).await
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Reply {
        read(self.client.get(self.url(path))).await
    }

    /// Sends any prepared request.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        read(req).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200);
        reply.text
    }

    /// `events_received` for a source, type and outcome (accepted, rejected, filtered).
    pub async fn events(&self, source: &str, kind: &str, outcome: &str) -> u64 {
        let want = [
            format!("source=\"{source}\""),
            format!("type=\"{kind}\""),
            format!("outcome=\"{outcome}\""),
        ];
        sum_metric(
            &self.metrics().await,
            "cio_relay_events_received_total{",
            &want,
        )
    }

    /// Every `events_received` count of a source, whatever the type and outcome.
    pub async fn all_events(&self, source: &str) -> u64 {
        let want = [format!("source=\"{source}\"")];
        sum_metric(
            &self.metrics().await,
            "cio_relay_events_received_total{",
            &want,
        )
    }

    /// Requests recorded by `http_request_duration` for a route and status.
    pub async fn requests(&self, route: &str, status: u16) -> u64 {
        let want = [format!("route=\"{route}\""), format!("status=\"{status}\"")];
        sum_metric(
            &self.metrics().await,
            "cio_relay_http_request_duration_seconds_count{",
            &want,
        )
    }

    /// Turns readiness off, as the start of a shutdown does.
    pub fn set_not_ready(&self) {
        self.state.ready.store(false, Ordering::SeqCst);
    }

    /// Sends raw bytes over a fresh connection and reads until the server closes it: for
    /// requests reqwest will not make (chunked uploads with no Content-Length). The request
    /// should carry `Connection: close`.
    pub async fn raw_http(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }
}

/// The sum of a metric's series in Prometheus text whose lines start with `prefix` and
/// contain every string of `want`.
pub fn sum_metric(text: &str, prefix: &str, want: &[String]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter(|l| want.iter().all(|w| l.contains(w.as_str())))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn with_auth(req: reqwest::RequestBuilder, auth: Auth<'_>) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => req,
        Auth::Basic(key) => req.header(
            AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{key}:"))),
        ),
        Auth::BasicNoColon(key) => {
            req.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(key)))
        }
        Auth::Bearer(key) => req.header(AUTHORIZATION, format!("Bearer {key}")),
    }
}

async fn read(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request reaches the server");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
        text,
    }
}

/// Gzips bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// Lowercase hex HMAC-SHA1, computed here independently of the relay's code.
pub fn hmac_hex(secret: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// The relay binary, with nothing in its environment that could change what a test's
/// configuration says: no `CIO_RELAY*` overrides, no `RUST_LOG`.
pub fn relay_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cio-relay"));
    cmd.env_remove("RUST_LOG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CIO_RELAY") {
            cmd.env_remove(key);
        }
    }
    cmd
}
