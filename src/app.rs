//! The application: built from a resolved [`Config`], bound to its listener, run until a
//! shutdown signal. Tests build it on `127.0.0.1:0` and read [`App::addr`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::{Config, Durability};
use crate::delivery::Pipeline;
use crate::spool::{Dedup, Spool};
use crate::telemetry::metrics::Metrics;

/// What every request handler can reach.
pub struct AppState {
    /// The resolved configuration.
    pub config: Arc<Config>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Where accepted events go.
    pub pipeline: Arc<Pipeline>,
    /// Write key → index of its source in `config.sources`.
    pub write_keys: HashMap<String, usize>,
    /// Source name → index.
    pub source_names: HashMap<String, usize>,
    /// False once shutdown starts (readiness turns red).
    pub ready: AtomicBool,
}

impl AppState {
    /// State for a configuration and pipeline.
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>, pipeline: Arc<Pipeline>) -> AppState {
        let write_keys = config
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.write_key.as_ref().map(|k| (k.expose().to_string(), i)))
            .collect();
        let source_names = config
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        AppState {
            config,
            metrics,
            pipeline,
            write_keys,
            source_names,
            ready: AtomicBool::new(true),
        }
    }
}

/// A built, bound application.
pub struct App {
    listener: TcpListener,
    state: Arc<AppState>,
    router: Router,
    /// Held for the process's life: one relay per data directory.
    _lock: Option<std::fs::File>,
}

impl App {
    /// Opens the spool (recovering what an earlier run left), binds the listener and starts
    /// the delivery workers.
    pub async fn build(config: Config) -> std::io::Result<App> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new());
        let (spool, dedup, lock) = open_state(&config).await?;
        let pipeline = Pipeline::start(config.clone(), metrics.clone(), spool, dedup);
        let state = Arc::new(AppState::new(config.clone(), metrics, pipeline));
        tokio::spawn(report_spool(state.clone()));
        let router = crate::ingest::router(state.clone());
        let listener = TcpListener::bind(config.listen).await?;
        Ok(App {
            listener,
            state,
            router,
            _lock: lock,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state (metrics, pipeline), for tests and the CLI.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests and
    /// hands accepted events on to delivery, waiting at most the configured deadline.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let deadline = Duration::from_secs(state.config.server.shutdown_timeout_secs);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let signal_state = state.clone();
        tokio::spawn(async move {
            shutdown.await;
            signal_state.ready.store(false, Ordering::SeqCst);
            tracing::info!("Shutdown requested; no longer accepting new requests");
            let _ = stop_tx.send(true);
        });
        let mut rx = stop_rx.clone();
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.wait_for(|v| *v).await;
        })
        .await?;
        match tokio::time::timeout(deadline, state.pipeline.shutdown()).await {
            Ok(()) => tracing::info!("Delivery drained; exiting"),
            Err(_) => {
                state.pipeline.abort();
                tracing::warn!(
                    deadline_secs = deadline.as_secs(),
                    pending = state.pipeline.spool().stats().pending_events,
                    "Shutdown deadline passed; undelivered events stay in the spool for the next start"
                )
            }
        }
        state.pipeline.close().await;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Takes the data directory's lock (one relay per directory: two would corrupt the spool) and
/// opens the spool and the dedup store for the configured durability.
async fn open_state(
    config: &Config,
) -> std::io::Result<(Arc<dyn Spool>, Option<Dedup>, Option<std::fs::File>)> {
    let server = config.server.clone();
    tokio::task::spawn_blocking(move || {
        let window = Duration::from_secs(server.dedup_window_hours * 3600);
        if server.durability == Durability::Memory {
            let spool =
                crate::spool::open(&server.data_dir, server.durability, server.spool_max_events)
                    .map_err(std::io::Error::other)?;
            let dedup = (!window.is_zero())
                .then(|| Dedup::in_memory(window).with_max_ids(server.dedup_max_ids));
            return Ok((spool, dedup, None));
        }
        let lock = lock_data_dir(&server.data_dir)?;
        let spool = crate::spool::open(
            &server.data_dir.join("spool"),
            server.durability,
            server.spool_max_events,
        )
        .map_err(|e| std::io::Error::other(format!("cannot open the spool: {e}")))?;
        let stats = spool.stats();
        if stats.pending_events > 0 || stats.skipped_at_open > 0 {
            tracing::info!(
                pending = stats.pending_events,
                skipped_damaged = stats.skipped_at_open,
                "Recovered the spool; delivery resumes where it stopped"
            );
        }
        let dedup = if window.is_zero() {
            None
        } else {
            Some(
                Dedup::open(&server.data_dir.join("dedup"), window)
                    .map_err(|e| {
                        std::io::Error::other(format!("cannot open the dedup store: {e}"))
                    })?
                    .with_max_ids(server.dedup_max_ids),
            )
        };
        Ok((spool, dedup, Some(lock)))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Locks `<dir>/LOCK`, creating the directory. Fails when another process holds it.
pub fn lock_data_dir(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::other(format!(
            "another cio-relay is using the data directory {}",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Copies the spool's figures into the metrics once a second.
async fn report_spool(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let s = state.pipeline.spool().stats();
        let m = &state.metrics;
        m.spool_pending_events.set(s.pending_events as i64);
        m.spool_bytes_on_disk.set(s.bytes_on_disk as i64);
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let age = s
            .oldest_received_ms
            .map_or(0, |t| now.saturating_sub(t) / 1000);
        m.spool_oldest_age_seconds.set(age as i64);
    }
}
