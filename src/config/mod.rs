//! Configuration: one TOML file (or the embedded default), read with the `config` crate into
//! raw structs, then validated once into the resolved [`Config`] by [`resolve`]. `check` and
//! `serve` share that one path, so runtime code never sees an unparsed trigger.
//!
//! Secrets can also come from the environment, by the source's or destination's name:
//! `CIO_RELAY_SOURCE_<NAME>_WRITE_KEY`, `CIO_RELAY_SOURCE_<NAME>_WEBHOOK_SECRET`,
//! `CIO_RELAY_DESTINATION_<NAME>_SITE_ID`, `CIO_RELAY_DESTINATION_<NAME>_API_KEY` (the name
//! upper-cased, every other character than a letter or digit turned into `_`). Any other key
//! can be set as `CIO_RELAY__SECTION__KEY` (for example `CIO_RELAY__SERVER__LISTEN`).

mod error;
mod resolve;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use error::{ConfigError, ConfigErrors};
pub use resolve::{resolve, Config, Credentials, Destination, Region, Source};

/// The embedded default configuration (a dry-run destination with every preset on).
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The HTTP server and process settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Who may send events.
    #[serde(default)]
    pub sources: Vec<RawSource>,
    /// The Customer.io workspaces events go to.
    #[serde(default)]
    pub destinations: Vec<RawDestination>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// How an accepted event is kept until it is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written to the spool and synced to disk before the client gets its 200.
    #[default]
    Sync,
    /// Written to the spool before the 200; synced in the background.
    Buffered,
    /// Kept in memory only: lost on a crash.
    Memory,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter: `info`, `cio_relay=debug`, ...
    pub log_level: String,
    /// Where the spool, dead letters and other state live.
    pub data_dir: PathBuf,
    /// How accepted events are kept: `sync`, `buffered` or `memory`.
    pub durability: Durability,
    /// Largest single event, after decompression (Segment: 32 KB).
    pub max_message_bytes: usize,
    /// Largest batch body, after decompression (Segment: 500 KB).
    pub max_batch_bytes: usize,
    /// Seconds a graceful shutdown waits for in-flight work before exiting.
    pub shutdown_timeout_secs: u64,
    /// Most events waiting in the spool before ingest answers 503.
    pub spool_max_events: usize,
    /// Hours a messageId is remembered for de-duplication (0 turns it off).
    pub dedup_window_hours: u64,
    /// Most messageIds remembered (the map is sized for this many up front: about 21 bytes
    /// each); past it the oldest are forgotten early and the window shrinks to what fits.
    pub dedup_max_ids: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8080".into(),
            log_format: LogFormat::Human,
            log_level: "info".into(),
            data_dir: PathBuf::from("data"),
            durability: Durability::Sync,
            max_message_bytes: 32 << 10,
            max_batch_bytes: 500 << 10,
            shutdown_timeout_secs: 30,
            spool_max_events: 1_000_000,
            dedup_window_hours: 24,
            dedup_max_ids: 500_000,
        }
    }
}

/// `[[sources]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// The source's name; also its webhook path, `/webhook/<name>`.
    pub name: String,
    /// The write key clients send.
    #[serde(default)]
    pub write_key: Option<Secret>,
    /// When set, `/webhook/<name>` verifies `X-Signature` with it.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Destination names this source's events go to (default: all).
    #[serde(default)]
    pub destinations: Option<Vec<String>>,
    /// Refuse events with neither userId nor anonymousId, as Segment's API does. The reference
    /// destination itself accepts such events (an identify with only traits.email, a delivery
    /// metric); set false to pass them on.
    #[serde(default = "yes")]
    pub require_ids: bool,
}

/// Which preset table a destination starts from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PresetsSetting {
    /// `true`: the Customer.io (Actions) presets; `false`: none.
    Flag(bool),
    /// `"actions"`, `"classic"` or `"none"`.
    Named(String),
}

impl Default for PresetsSetting {
    fn default() -> Self {
        PresetsSetting::Flag(true)
    }
}

/// `[[destinations]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    /// The destination's name.
    pub name: String,
    /// Customer.io site id (Track API credentials).
    #[serde(default)]
    pub site_id: Option<Secret>,
    /// Customer.io Track API key.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// `us` or `eu` (the reference's own values `US 🇺🇸` / `EU 🇪🇺` work too).
    #[serde(default = "default_region")]
    pub region: String,
    /// Overrides the region's origin (tests, proxies); paths are kept.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Log requests instead of sending them. Default: on when there are no credentials.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// `true`/`"actions"`, `"classic"`, or `false`/`"none"`.
    #[serde(default)]
    pub presets: PresetsSetting,
    /// Preset names to leave out.
    #[serde(default)]
    pub disabled_presets: Vec<String>,
    /// The user's subscriptions; one named like a preset overrides it.
    #[serde(default)]
    pub subscriptions: Vec<RawSubscription>,
    /// Delivery tuning.
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

fn default_region() -> String {
    "us".into()
}

/// `[[destinations.subscriptions]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscription {
    /// Its name (a preset's name to override that preset).
    pub name: String,
    /// The FQL trigger (inherited when overriding a preset).
    #[serde(default)]
    pub trigger: Option<String>,
    /// The action key, e.g. `trackEvent` (inherited when overriding a preset).
    #[serde(default)]
    pub action: Option<String>,
    /// `false` turns it (or the preset of that name) off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Field mappings that replace the action's defaults, field by field.
    #[serde(default)]
    pub mapping: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

/// `[destinations.delivery]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How long a partly filled batch waits for more operations, in milliseconds.
    pub linger_ms: u64,
    /// Most requests per second to this workspace (Customer.io documents 1000).
    pub max_requests_per_second: u32,
    /// Most requests in flight to this workspace at once.
    pub max_in_flight: usize,
    /// Seconds before a request is abandoned as timed out (and retried).
    pub request_timeout_secs: u64,
    /// How long an operation is retried before it is dead-lettered, in seconds.
    pub max_retry_age_secs: u64,
    /// Largest batch request body in bytes (Customer.io: 500 kb).
    pub max_batch_bytes: usize,
    /// Largest single operation in bytes (Customer.io: 32 kb); larger ones are dead-lettered.
    pub max_operation_bytes: usize,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    pub initial_backoff_ms: u64,
    /// Longest retry delay in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            linger_ms: 200,
            max_requests_per_second: 1000,
            max_in_flight: 16,
            request_timeout_secs: 10,
            max_retry_age_secs: 4 * 3600,
            max_batch_bytes: 500_000,
            max_operation_bytes: 32_000,
            initial_backoff_ms: 500,
            max_backoff_ms: 60_000,
        }
    }
}

/// Reads the configuration: the file at `path`, or the embedded default; then environment
/// overrides. Does not validate beyond the shape (see [`resolve`]).
pub fn load(path: Option<&Path>) -> Result<RawConfig, ConfigErrors> {
    use config::{Environment, File, FileFormat};
    let mut builder = config::Config::builder();
    builder = match path {
        Some(p) => builder.add_source(File::from(p).format(FileFormat::Toml).required(true)),
        None => builder.add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml)),
    };
    builder = builder.add_source(
        Environment::with_prefix("CIO_RELAY")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true),
    );
    let where_ = path.map_or_else(
        || "<embedded default>".to_string(),
        |p| p.display().to_string(),
    );
    let built = builder
        .build()
        .map_err(|e| ConfigError::new(where_.clone(), e.to_string()))?;
    let mut raw: RawConfig = built
        .try_deserialize()
        .map_err(|e| ConfigError::new(where_, e.to_string()))?;
    apply_secret_env(&mut raw, |k| std::env::var(k).ok());
    Ok(raw)
}

/// The environment variable name part for a source or destination name.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Fills secrets from `CIO_RELAY_SOURCE_<NAME>_*` / `CIO_RELAY_DESTINATION_<NAME>_*`.
pub fn apply_secret_env(raw: &mut RawConfig, get: impl Fn(&str) -> Option<String>) {
    let var = |kind: &str, name: &str, field: &str| {
        get(&format!("CIO_RELAY_{kind}_{}_{field}", env_name(name))).filter(|v| !v.is_empty())
    };
    for s in &mut raw.sources {
        if let Some(v) = var("SOURCE", &s.name, "WRITE_KEY") {
            s.write_key = Some(Secret(v));
        }
        if let Some(v) = var("SOURCE", &s.name, "WEBHOOK_SECRET") {
            s.webhook_secret = Some(Secret(v));
        }
    }
    for d in &mut raw.destinations {
        if let Some(v) = var("DESTINATION", &d.name, "SITE_ID") {
            d.site_id = Some(Secret(v));
        }
        if let Some(v) = var("DESTINATION", &d.name, "API_KEY") {
            d.api_key = Some(Secret(v));
        }
    }
}

/// Loads and resolves in one step.
pub fn load_resolved(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    resolve(load(path)?)
}
