//! Raw configuration to resolved configuration: every check happens here, and every error
//! names its key.

use std::collections::HashSet;
use std::net::SocketAddr;

use base64::Engine;

use super::{
    ConfigError, ConfigErrors, DeliveryConfig, PresetsSetting, RawConfig, RawDestination,
    RawSubscription, Secret, ServerConfig,
};
use crate::actions::Action;
use crate::event::EventKeys;
use crate::mapping::Mapping;
use crate::subscription::presets::{Preset, ACTIONS_PRESETS, CLASSIC_PRESETS};
use crate::subscription::{Subscription, Trigger};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// The parsed listen address.
    pub listen: SocketAddr,
    pub sources: Vec<Source>,
    pub destinations: Vec<Destination>,
}

/// A resolved source.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub write_key: Option<Secret>,
    pub webhook_secret: Option<Secret>,
    /// Indexes into [`Config::destinations`].
    pub destinations: Vec<usize>,
    /// Refuse events with neither userId nor anonymousId (see [`super::RawSource::require_ids`]).
    pub require_ids: bool,
}

/// Customer.io region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Us,
    Eu,
}

impl Region {
    /// The region's Track API origin.
    pub fn origin(self) -> &'static str {
        match self {
            Region::Us => "https://track.customer.io",
            Region::Eu => "https://track-eu.customer.io",
        }
    }

    /// Accepts `us`/`eu` (any case) and the reference's own `US 🇺🇸` / `EU 🇪🇺`.
    pub fn parse(s: &str) -> Option<Region> {
        match s.trim().to_ascii_lowercase().as_str() {
            "us" | "us 🇺🇸" => Some(Region::Us),
            "eu" | "eu 🇪🇺" => Some(Region::Eu),
            _ => None,
        }
    }
}

/// Track API credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub site_id: Secret,
    pub api_key: Secret,
}

impl Credentials {
    /// The `Authorization` header value: `Basic base64(site_id:api_key)`.
    pub fn basic_auth(&self) -> String {
        let raw = format!("{}:{}", self.site_id.expose(), self.api_key.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A resolved destination.
#[derive(Debug, Clone)]
pub struct Destination {
    pub name: String,
    pub region: Region,
    /// The origin requests go to (region's, or `base_url`), without a trailing slash.
    pub origin: String,
    pub credentials: Option<Credentials>,
    /// Log instead of send.
    pub dry_run: bool,
    /// Which preset table it started from: `actions`, `classic` or `none`.
    pub presets: &'static str,
    /// The effective subscription table, presets first (in the reference's order).
    pub subscriptions: Vec<Subscription>,
    /// The top-level event keys any of its triggers reads.
    pub trigger_keys: EventKeys,
    pub delivery: DeliveryConfig,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Validates a raw configuration. Collects every error it can before giving up.
pub fn resolve(raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let listen = match raw.server.listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errors.push(ConfigError::new(
                "server.listen",
                format!(
                    "`{}` is not an address and port such as \"0.0.0.0:8080\"",
                    raw.server.listen
                ),
            ));
            None
        }
    };
    if raw.server.max_message_bytes == 0 || raw.server.max_batch_bytes == 0 {
        errors.push(ConfigError::new(
            "server.max_message_bytes",
            "size limits must be greater than zero",
        ));
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&raw.server.log_level) {
        errors.push(ConfigError::new("server.log_level", e.to_string()));
    }

    if raw.destinations.is_empty() {
        errors.push(ConfigError::new(
            "destinations",
            "at least one [[destinations]] entry is needed",
        ));
    }
    if raw.sources.is_empty() {
        errors.push(ConfigError::new(
            "sources",
            "at least one [[sources]] entry is needed",
        ));
    }

    let mut destinations = Vec::new();
    let mut seen = HashSet::new();
    for (i, d) in raw.destinations.iter().enumerate() {
        let key = format!("destinations[{i}]");
        if !valid_name(&d.name) {
            errors.push(ConfigError::new(
                format!("{key}.name"),
                format!(
                    "`{}` is not a valid name (letters, digits, `-` and `_`)",
                    d.name
                ),
            ));
        } else if !seen.insert(d.name.clone()) {
            errors.push(ConfigError::new(
                format!("{key}.name"),
                format!("destination `{}` is defined twice", d.name),
            ));
        }
        match resolve_destination(&key, d) {
            Ok(dest) => destinations.push(dest),
            Err(mut e) => errors.append(&mut e),
        }
    }

    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    let mut keys = HashSet::new();
    for (i, s) in raw.sources.iter().enumerate() {
        let key = format!("sources[{i}]");
        if !valid_name(&s.name) {
            errors.push(ConfigError::new(
                format!("{key}.name"),
                format!(
                    "`{}` is not a valid name (letters, digits, `-` and `_`)",
                    s.name
                ),
            ));
        } else if !seen.insert(s.name.clone()) {
            errors.push(ConfigError::new(
                format!("{key}.name"),
                format!("source `{}` is defined twice", s.name),
            ));
        }
        let write_key = s.write_key.clone().filter(|k| !k.expose().is_empty());
        let webhook_secret = s.webhook_secret.clone().filter(|k| !k.expose().is_empty());
        match &write_key {
            Some(k) if !keys.insert(k.expose().to_string()) => errors.push(ConfigError::new(
                format!("{key}.write_key"),
                "two sources have the same write key; each source needs its own",
            )),
            None if webhook_secret.is_none() => errors.push(ConfigError::new(
                format!("{key}.write_key"),
                format!(
                    "source `{}` has neither a write_key nor a webhook_secret (set one here or in CIO_RELAY_SOURCE_{}_WRITE_KEY)",
                    s.name,
                    super::env_name(&s.name)
                ),
            )),
            _ => {}
        }
        let mut targets = Vec::new();
        match &s.destinations {
            None => targets.extend(0..raw.destinations.len()),
            Some(names) => {
                for (j, n) in names.iter().enumerate() {
                    match raw.destinations.iter().position(|d| &d.name == n) {
                        Some(idx) => targets.push(idx),
                        None => errors.push(ConfigError::new(
                            format!("{key}.destinations[{j}]"),
                            format!(
                                "no destination is named `{n}` (known: {})",
                                raw.destinations
                                    .iter()
                                    .map(|d| d.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )),
                    }
                }
            }
        }
        sources.push(Source {
            name: s.name.clone(),
            write_key,
            webhook_secret,
            destinations: targets,
            require_ids: s.require_ids,
        });
    }

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Config {
        server: raw.server,
        listen: listen.expect("checked above"),
        sources,
        destinations,
    })
}

fn resolve_destination(key: &str, d: &RawDestination) -> Result<Destination, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let region = Region::parse(&d.region).unwrap_or_else(|| {
        errors.push(ConfigError::new(
            format!("{key}.region"),
            format!("`{}` is not a region: use \"us\" or \"eu\"", d.region),
        ));
        Region::Us
    });
    let origin = match &d.base_url {
        Some(u) => {
            let trimmed = u.trim_end_matches('/');
            match reqwest::Url::parse(trimmed) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => trimmed.to_string(),
                _ => {
                    errors.push(ConfigError::new(
                        format!("{key}.base_url"),
                        format!("`{u}` is not an http(s) URL"),
                    ));
                    String::new()
                }
            }
        }
        None => region.origin().to_string(),
    };
    let site = d.site_id.clone().filter(|s| !s.expose().is_empty());
    let api = d.api_key.clone().filter(|s| !s.expose().is_empty());
    let credentials = match (site, api) {
        (Some(site_id), Some(api_key)) => Some(Credentials { site_id, api_key }),
        (None, None) => None,
        (Some(_), None) => {
            errors.push(ConfigError::new(
                format!("{key}.api_key"),
                format!(
                    "site_id is set but api_key is not (set it here or in CIO_RELAY_DESTINATION_{}_API_KEY)",
                    super::env_name(&d.name)
                ),
            ));
            None
        }
        (None, Some(_)) => {
            errors.push(ConfigError::new(
                format!("{key}.site_id"),
                format!(
                    "api_key is set but site_id is not (set it here or in CIO_RELAY_DESTINATION_{}_SITE_ID)",
                    super::env_name(&d.name)
                ),
            ));
            None
        }
    };
    let dry_run = d.dry_run.unwrap_or(credentials.is_none());
    if !dry_run && credentials.is_none() {
        errors.push(ConfigError::new(
            format!("{key}.dry_run"),
            "dry_run = false needs site_id and api_key",
        ));
    }
    let dl = &d.delivery;
    let dkey = format!("{key}.delivery");
    if dl.max_requests_per_second == 0 {
        errors.push(ConfigError::new(
            format!("{dkey}.max_requests_per_second"),
            "must be at least 1",
        ));
    }
    if dl.max_in_flight == 0 {
        errors.push(ConfigError::new(
            format!("{dkey}.max_in_flight"),
            "must be at least 1",
        ));
    }
    if dl.request_timeout_secs == 0 {
        errors.push(ConfigError::new(
            format!("{dkey}.request_timeout_secs"),
            "must be at least 1",
        ));
    }
    if dl.max_operation_bytes == 0 || dl.max_batch_bytes < dl.max_operation_bytes {
        errors.push(ConfigError::new(
            format!("{dkey}.max_batch_bytes"),
            "must be at least max_operation_bytes, and both above zero",
        ));
    }
    if dl.initial_backoff_ms == 0 || dl.max_backoff_ms < dl.initial_backoff_ms {
        errors.push(ConfigError::new(
            format!("{dkey}.max_backoff_ms"),
            "must be at least initial_backoff_ms, and both above zero",
        ));
    }

    let (preset_name, table): (&'static str, &[Preset]) = match &d.presets {
        PresetsSetting::Flag(true) => ("actions", ACTIONS_PRESETS),
        PresetsSetting::Flag(false) => ("none", &[]),
        PresetsSetting::Named(n) => match n.as_str() {
            "actions" => ("actions", ACTIONS_PRESETS),
            "classic" => ("classic", CLASSIC_PRESETS),
            "none" => ("none", &[]),
            other => {
                errors.push(ConfigError::new(
                    format!("{key}.presets"),
                    format!("`{other}` is not a preset set: use true, false, \"actions\", \"classic\" or \"none\""),
                ));
                ("none", &[])
            }
        },
    };
    for (j, name) in d.disabled_presets.iter().enumerate() {
        if !table.iter().any(|p| p.name == name) {
            errors.push(ConfigError::new(
                format!("{key}.disabled_presets[{j}]"),
                format!(
                    "no preset is named `{name}` in the `{preset_name}` set (known: {})",
                    table.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }

    let mut subscriptions: Vec<Subscription> = Vec::new();
    for p in table {
        if d.disabled_presets.iter().any(|n| n == p.name) {
            continue;
        }
        let sub = Trigger::parse(p.trigger)
            .map_err(|e| e.to_string())
            .and_then(|trigger| {
                Subscription::new(p.name.into(), trigger, p.action, preset_mapping(p), true)
                    .map_err(|(field, msg)| format!("{field} {msg}"))
            });
        match sub {
            Ok(sub) => subscriptions.push(sub),
            Err(e) => errors.push(ConfigError::new(
                format!("{key}.presets"),
                format!("built-in preset `{}` is broken: {e}", p.name),
            )),
        }
    }
    let mut names = HashSet::new();
    for (j, s) in d.subscriptions.iter().enumerate() {
        let skey = format!("{key}.subscriptions[{j}]");
        if !names.insert(s.name.clone()) {
            errors.push(ConfigError::new(
                format!("{skey}.name"),
                format!("subscription `{}` is defined twice", s.name),
            ));
            continue;
        }
        let existing = subscriptions.iter().position(|x| x.name == s.name);
        if !s.enabled {
            if let Some(pos) = existing {
                subscriptions.remove(pos);
            }
            continue;
        }
        match resolve_subscription(&skey, s, existing.map(|p| &subscriptions[p])) {
            Ok(sub) => match existing {
                Some(pos) => subscriptions[pos] = sub,
                None => subscriptions.push(sub),
            },
            Err(mut e) => errors.append(&mut e),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let mut trigger_keys = EventKeys::none();
    for sub in &subscriptions {
        sub.trigger.event_keys(&mut trigger_keys);
    }
    Ok(Destination {
        name: d.name.clone(),
        region,
        origin,
        credentials,
        dry_run,
        presets: preset_name,
        subscriptions,
        trigger_keys,
        delivery: d.delivery.clone(),
    })
}

/// A preset's mapping: its action's defaults, plus any overrides the preset carries.
fn preset_mapping(p: &Preset) -> Vec<(usize, Mapping)> {
    let mut mapping = p.action.default_mapping();
    for (field, value) in p.overrides() {
        if let Some(idx) = p.action.field_index(&field) {
            if let Ok(m) = Mapping::parse(&value) {
                match mapping.iter_mut().find(|(i, _)| *i == idx) {
                    Some(slot) => slot.1 = m,
                    None => mapping.push((idx, m)),
                }
            }
        }
    }
    mapping
}

fn resolve_subscription(
    key: &str,
    s: &RawSubscription,
    base: Option<&Subscription>,
) -> Result<Subscription, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let action = match (&s.action, base) {
        (Some(a), _) => match Action::from_key(a) {
            Some(a) => Some(a),
            None => {
                errors.push(ConfigError::new(
                    format!("{key}.action"),
                    format!(
                        "unknown action `{a}` (known: {})",
                        Action::ALL.map(|a| a.key()).join(", ")
                    ),
                ));
                None
            }
        },
        (None, Some(b)) => Some(b.action),
        (None, None) => {
            errors.push(ConfigError::new(
                format!("{key}.action"),
                "missing: a subscription that does not override a preset needs an action",
            ));
            None
        }
    };
    let trigger = match (&s.trigger, base) {
        (Some(t), _) => match Trigger::parse(t) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(ConfigError::new(format!("{key}.trigger"), e.to_string()));
                None
            }
        },
        (None, Some(b)) => Some(b.trigger.clone()),
        (None, None) => {
            errors.push(ConfigError::new(
                format!("{key}.trigger"),
                "missing: a subscription that does not override a preset needs a trigger",
            ));
            None
        }
    };
    let Some(action) = action else {
        return Err(errors);
    };
    // Start from the preset's mapping when overriding with the same action, else the defaults.
    let mut mapping = match base {
        Some(b) if b.action == action => b.mapping.clone(),
        _ => action.default_mapping(),
    };
    for (field, value) in &s.mapping {
        let Some(idx) = action.field_index(field) else {
            errors.push(ConfigError::new(
                format!("{key}.mapping.{field}"),
                format!(
                    "`{field}` is not a field of {action} (fields: {})",
                    action
                        .fields()
                        .iter()
                        .map(|f| f.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        };
        match Mapping::parse(value) {
            Ok(m) => match mapping.iter_mut().find(|(i, _)| *i == idx) {
                Some(slot) => slot.1 = m,
                None => mapping.push((idx, m)),
            },
            Err(e) => errors.push(ConfigError::new(
                format!("{key}.mapping.{field}"),
                e.to_string(),
            )),
        }
    }
    match trigger {
        Some(trigger) if errors.is_empty() => {
            Subscription::new(s.name.clone(), trigger, action, mapping, base.is_some()).map_err(
                |(field, msg)| vec![ConfigError::new(format!("{key}.mapping.{field}"), msg)],
            )
        }
        _ => Err(errors),
    }
}
