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
    /// Inspect the spool.
    #[command(subcommand)]
    Spool(SpoolCommand),
    /// Check that a running relay answers `GET /healthz` (for container health checks).
    Healthcheck(HealthcheckArgs),
    /// Send a dead-letter file (or any JSONL of Segment events) through the pipeline again,
    /// wait until it is delivered or dead-lettered, and print the counts.
    Replay(ReplayArgs),
}

/// `spool` subcommands.
#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// Events waiting (in all and per destination), the oldest one's age, bytes on disk and
    /// dead letters. Reads the spool directly when no relay is running on the data directory,
    /// else asks the running relay's /metrics.
    Stats(ConfigArg),
}

/// `healthcheck` options.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The relay's address.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        env = "CIO_RELAY_HEALTHCHECK_ADDR"
    )]
    pub addr: String,
}

/// `healthcheck`: a plain HTTP/1.0 `GET /healthz`; Ok when the answer is 200.
pub fn healthcheck(args: &HealthcheckArgs) -> Result<(), String> {
    use std::io::Read;
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let addr = args
        .addr
        .to_socket_addrs()
        .map_err(|e| format!("bad address {}: {e}", args.addr))?
        .next()
        .ok_or_else(|| format!("bad address {}", args.addr))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "unhealthy: {}",
            answer.lines().next().unwrap_or("no answer")
        ))
    }
}

/// `replay` options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The JSONL file: dead letters (each goes back to its own destination) or Segment events
    /// (each goes to every destination, or to --destination).
    pub file: PathBuf,
    /// Send only to this destination.
    #[arg(long)]
    pub destination: Option<String>,
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
    /// Site ID for the Authorization header shown (default: the destination's own; a
    /// destination without credentials shows none).
    #[arg(long, requires = "api_key")]
    pub site_id: Option<String>,
    /// API key for the Authorization header shown.
    #[arg(long, requires = "site_id")]
    pub api_key: Option<String>,
}

/// Loads and resolves the configuration, printing every error.
pub fn load(arg: &ConfigArg) -> Result<Config, String> {
    config::load_resolved(arg.config.as_deref()).map_err(|e| {
        format!(
            "configuration {} is invalid:\n{e}",
            arg.config.as_ref().map_or_else(
                || "<embedded default>".to_string(),
                |p| p.display().to_string()
            )
        )
    })
}

/// `check`: prints the resolved configuration.
pub fn check(config: &Config, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "configuration OK")?;
    writeln!(out, "listen: {}", config.listen)?;
    writeln!(
        out,
        "durability: {}",
        format!("{:?}", config.server.durability).to_lowercase()
    )?;
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
            if s.webhook_secret.is_some() {
                "verified"
            } else {
                "not verified"
            },
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
            if d.dry_run {
                ", DRY RUN (nothing is sent)"
            } else {
                ""
            },
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
    let mut dest = match &args.destination {
        Some(name) => config
            .destinations
            .iter()
            .find(|d| &d.name == name)
            .ok_or_else(|| format!("no destination is named `{name}`"))?,
        None => config
            .destinations
            .first()
            .ok_or("the configuration has no destination")?,
    }
    .clone();
    if let (Some(site_id), Some(api_key)) = (&args.site_id, &args.api_key) {
        dest.credentials = Some(crate::config::Credentials {
            site_id: crate::config::Secret::new(site_id.clone()),
            api_key: crate::config::Secret::new(api_key.clone()),
        });
    }
    let dest = &dest;
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
            Ok(_) => {
                serde_json::json!({"line": n + 1, "error": {"status": 400, "message": "not a JSON object"}})
            }
            Err(e) => {
                serde_json::json!({"line": n + 1, "error": {"status": 400, "message": format!("not JSON: {e}")}})
            }
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
        if s.write_key
            .as_ref()
            .is_some_and(|k| k.expose() == "local-dev-write-key")
        {
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

/// `replay`: runs every line of a file through the delivery pipeline and waits for it.
pub async fn replay(config: Config, args: &ReplayArgs) -> Result<ReplaySummary, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let items = crate::delivery::dead_letter::read_replay_file(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let only = match &args.destination {
        Some(name) => Some(
            config
                .destinations
                .iter()
                .position(|d| &d.name == name)
                .ok_or_else(|| format!("no destination is named `{name}`"))?,
        ),
        None => None,
    };
    let config = Arc::new(config);
    let metrics = Arc::new(crate::telemetry::metrics::Metrics::new());
    // Replay goes straight to the dispatchers: it does not need (and must not take) the spool
    // of a relay that may be running on the same data directory.
    let spool = Arc::new(crate::spool::MemorySpool::new(1));
    let pipeline = crate::delivery::Pipeline::start(config.clone(), metrics, spool, None);
    let all: Vec<usize> = (0..config.destinations.len()).collect();
    let done = Arc::new(AtomicU64::new(0));
    let mut summary = ReplaySummary::default();
    let total = items.len();
    for (n, item) in items.into_iter().enumerate() {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "Skipping a line");
                summary.skipped += 1;
                continue;
            }
        };
        let targets: Vec<usize> = match (only, &item.destination) {
            (Some(d), _) => vec![d],
            (None, Some(name)) => match config.destinations.iter().position(|d| &d.name == name) {
                Some(d) => vec![d],
                None => {
                    tracing::warn!(destination = %name, "Skipping a dead letter for a destination that is not configured");
                    summary.skipped += 1;
                    continue;
                }
            },
            (None, None) => all.clone(),
        };
        let counter = done.clone();
        let raw = bytes::Bytes::from(serde_json::to_vec(&item.event).unwrap_or_default());
        pipeline
            .dispatch_to(
                &targets,
                &item.event,
                raw,
                Some(Box::new(move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                })),
            )
            .map_err(|e| e.to_string())?;
        summary.events += 1;
        if (n + 1) % 10_000 == 0 {
            tracing::info!(queued = n + 1, total, "Replaying");
        }
    }
    pipeline.shutdown().await;
    summary.completed = done.load(Ordering::Relaxed);
    Ok(summary)
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Events sent through the pipeline.
    pub events: u64,
    /// Events whose every operation was delivered or dead-lettered again.
    pub completed: u64,
    /// Lines that were not events (or named an unknown destination).
    pub skipped: u64,
}

/// `spool stats`: prints the spool's figures.
pub async fn spool_stats(config: &Config, out: &mut impl Write) -> Result<(), String> {
    use std::collections::BTreeMap;
    let data_dir = &config.server.data_dir;
    let dead = dead_letter_counts(&data_dir.join("dead-letters"));
    let lock = match config.server.durability {
        crate::config::Durability::Memory => {
            return spool_stats_from_relay(config, &dead, out).await;
        }
        _ => crate::app::lock_data_dir(data_dir),
    };
    let Ok(_lock) = lock else {
        return spool_stats_from_relay(config, &dead, out).await;
    };
    let spool = crate::spool::open(
        &data_dir.join("spool"),
        config.server.durability,
        usize::MAX,
    )
    .map_err(|e| format!("cannot open the spool: {e}"))?;
    let stats = spool.stats();
    // Count the waiting events per source by reading them once (they stay pending).
    let mut per_source: BTreeMap<u32, u64> = BTreeMap::new();
    let mut seen = 0;
    while seen < stats.pending_events {
        let batch = tokio::time::timeout(std::time::Duration::from_secs(2), spool.next_batch(4096))
            .await
            .map_err(|_| "timed out reading the spool".to_string())?
            .map_err(|e| format!("cannot read the spool: {e}"))?;
        if batch.is_empty() {
            break;
        }
        seen += batch.len() as u64;
        for r in batch {
            *per_source.entry(r.source).or_default() += 1;
        }
    }
    spool.close().await;
    let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
    writeln!(out, "spool: {}", data_dir.join("spool").display()).map_err(|e| e.to_string())?;
    writeln!(out, "events waiting: {}", stats.pending_events).map_err(|e| e.to_string())?;
    for d in &config.destinations {
        let waiting: u64 = config
            .sources
            .iter()
            .filter(|s| {
                s.destinations
                    .iter()
                    .any(|&i| config.destinations[i].name == d.name)
            })
            .map(|s| {
                per_source
                    .get(&crate::delivery::source_id(&s.name))
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        writeln!(out, "  destination {}: {waiting}", d.name).map_err(|e| e.to_string())?;
    }
    match stats.oldest_received_ms {
        Some(t) => writeln!(
            out,
            "oldest waiting: {} s ago",
            now.saturating_sub(t) / 1000
        ),
        None => writeln!(out, "oldest waiting: -"),
    }
    .map_err(|e| e.to_string())?;
    writeln!(out, "bytes on disk: {}", stats.bytes_on_disk).map_err(|e| e.to_string())?;
    if stats.skipped_at_open > 0 {
        writeln!(out, "damaged records skipped: {}", stats.skipped_at_open)
            .map_err(|e| e.to_string())?;
    }
    print_dead(&dead, out)
}

fn dead_letter_counts(dir: &std::path::Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "jsonl") {
                let n = std::fs::read_to_string(&path)
                    .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
                    .unwrap_or(0);
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((name, n));
            }
        }
    }
    out.sort();
    out
}

fn print_dead(dead: &[(String, usize)], out: &mut impl Write) -> Result<(), String> {
    let total: usize = dead.iter().map(|(_, n)| n).sum();
    writeln!(out, "dead letters: {total}").map_err(|e| e.to_string())?;
    for (d, n) in dead {
        writeln!(out, "  destination {d}: {n}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A relay is running on the data directory: its /metrics has the live figures.
async fn spool_stats_from_relay(
    config: &Config,
    dead: &[(String, usize)],
    out: &mut impl Write,
) -> Result<(), String> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .map_err(|e| format!("the spool is in use but the relay at {addr} does not answer: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    writeln!(out, "from the running relay at {addr}:").map_err(|e| e.to_string())?;
    for line in text.lines() {
        let shown = [
            ("cio_relay_spool_pending_events", "events waiting"),
            ("cio_relay_spool_oldest_age_seconds", "oldest waiting (s)"),
            ("cio_relay_spool_bytes_on_disk", "bytes on disk"),
        ];
        for (metric, label) in shown {
            if let Some(v) = line.strip_prefix(metric).and_then(|r| r.strip_prefix(' ')) {
                writeln!(out, "{label}: {v}").map_err(|e| e.to_string())?;
            }
        }
        if let Some(rest) = line.strip_prefix("cio_relay_queue_depth{destination=\"") {
            if let Some((dest, v)) = rest.split_once("\"} ") {
                writeln!(out, "  operations queued for {dest}: {v}").map_err(|e| e.to_string())?;
            }
        }
    }
    print_dead(dead, out)
}
