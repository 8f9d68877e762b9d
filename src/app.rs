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

use crate::config::Config;
use crate::delivery::Pipeline;
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
}

impl App {
    /// Binds the listener and starts the delivery workers.
    pub async fn build(config: Config) -> std::io::Result<App> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new());
        let pipeline = Arc::new(Pipeline::start(config.clone(), metrics.clone()));
        let state = Arc::new(AppState::new(config.clone(), metrics, pipeline));
        let router = crate::ingest::router(state.clone());
        let listener = TcpListener::bind(config.listen).await?;
        Ok(App {
            listener,
            state,
            router,
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
            Err(_) => tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "Shutdown deadline passed with operations still queued"
            ),
        }
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
