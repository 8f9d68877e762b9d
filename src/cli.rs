//! The command line: `serve`, `check`, `preview`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config};
use crate::preview::{preview_line, ModeChoice};

/// cio-relay: Segment's Tracking API in, Customer.io Track API out.
#[derive(Debug, Parser)]
#[command(name = "cio-relay", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay.
    Serve(ConfigArg),
    /// Validate the configuration and print the resolved sources, destinations and
    /// subscriptions. Exits non-zero, naming the bad key, on error.
    Check(ConfigArg),
    /// Read Segment events (one JSON object per line) on stdin and print, per event, what the
    /// relay would send, as one JSON line in the golden files' format. Sends nothing.
    Preview(PreviewArgs),
}

/// `--config PATH`.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The TOML configuration file (default: the embedded dry-run configuration).
    #[arg(long, short, env = "CIO_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `preview` options.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The destination to preview (default: the first).
    #[arg(long)]
    pub destination: Option<String>,
    /// Force batch mode for every subscription (`/api/v2/batch` requests).
    #[arg(long, conflicts_with = "single")]
    pub batch: bool,
    /// Force single mode for every subscription (one `/api/v2/entity` request per operation).
    #[arg(long)]
    pub single: bool,
}

/// Loads and resolves the configuration, printing every error.
pub fn load(arg: &ConfigArg) -> Result<Config, String> {
    config::load_resolved(arg.config.as_deref()).map_err(|e| {
        format!(
            "configuration {} is invalid:\n{e}",
            arg.config
                .as_ref()
                .map_or_else(|| "<embedded default>".to_string(), |p| p.display().to_string())
        )
    })
}

/// `check`: prints the resolved configuration.
pub fn check(config: &Config, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "configuration OK")?;
    writeln!(out, "listen: {}", config.listen)?;
    writeln!(out, "durability: {:?}", config.server.durability)?;
    writeln!(out, "sources:")?;
    for s in &config.sources {
        let dests: Vec<&str> = s
            .destinations
            .iter()
            .map(|&d| config.destinations[d].name.as_str())
            .collect();
        writeln!(
            out,
            "  - {} (write key: {}, webhook signature: {}) -> {}",
            s.name,
            if s.write_key.is_some() { "set" } else { "none" },
            if s.webhook_secret.is_some() { "verified" } else { "not verified" },
            dests.join(", ")
        )?;
    }
    writeln!(out, "destinations:")?;
    for d in &config.destinations {
        writeln!(
            out,
            "  - {}: {} ({:?}){}; presets: {}",
            d.name,
            d.origin,
            d.region,
            if d.dry_run { ", DRY RUN (nothing is sent)" } else { "" },
            d.presets
        )?;
        writeln!(out, "    subscriptions ({}):", d.subscriptions.len())?;
        for s in &d.subscriptions {
            let origin = if s.preset { "preset" } else { "custom" };
            let mode = if s.batching {
                format!("batch of {}", s.batch_size)
            } else {
                "single".to_string()
            };
            writeln!(
                out,
                "    - {} [{}] {} ({mode}): {}",
                s.name, origin, s.action, s.trigger
            )?;
        }
    }
    Ok(())
}

/// `preview`: events on `input`, one JSON line per event on `out`. A line that is not a JSON
/// object gets `{"line": n, "error": {...}}` and the run goes on.
pub fn preview(
    config: &Config,
    args: &PreviewArgs,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<(), String> {
    let dest = match &args.destination {
        Some(name) => config
            .destinations
            .iter()
            .find(|d| &d.name == name)
            .ok_or_else(|| format!("no destination is named `{name}`"))?,
        None => config
            .destinations
            .first()
            .ok_or("the configuration has no destination")?,
    };
    let choice = if args.batch {
        ModeChoice::Batch
    } else if args.single {
        ModeChoice::Single
    } else {
        ModeChoice::Auto
    };
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(event) if event.is_object() => preview_line(dest, &event, choice),
            Ok(_) => serde_json::json!({"line": n + 1, "error": {"status": 400, "message": "not a JSON object"}}),
            Err(e) => serde_json::json!({"line": n + 1, "error": {"status": 400, "message": format!("not JSON: {e}")}}),
        };
        writeln!(out, "{result}").map_err(|e| format!("writing stdout: {e}"))?;
    }
    Ok(())
}

/// `serve`: builds the app, says loudly what it is doing, runs until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    for d in &config.destinations {
        if d.dry_run {
            tracing::warn!(
                destination = %d.name,
                "DRY RUN: destination `{}` has no Customer.io credentials; requests are logged, not sent. Set CIO_RELAY_DESTINATION_{}_SITE_ID and CIO_RELAY_DESTINATION_{}_API_KEY to deliver.",
                d.name,
                config::env_name(&d.name),
                config::env_name(&d.name),
            );
        } else {
            tracing::info!(destination = %d.name, endpoint = %d.origin, subscriptions = d.subscriptions.len(), "Delivering to Customer.io");
        }
    }
    for s in &config.sources {
        if s.write_key.as_ref().is_some_and(|k| k.expose() == "local-dev-write-key") {
            tracing::warn!(
                source = %s.name,
                "Source `{}` uses the built-in development write key `local-dev-write-key`; set CIO_RELAY_SOURCE_{}_WRITE_KEY for anything real",
                s.name,
                config::env_name(&s.name)
            );
        }
    }
    let app = crate::app::App::build(config)
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    tracing::info!(address = %app.addr(), "cio-relay listening");
    app.run(crate::app::shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}
