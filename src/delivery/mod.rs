//! Delivery: from accepted events to requests to Customer.io, one dispatcher per destination.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::config::{Config, Destination};
use crate::preview::{self, ModeChoice, Op};
use crate::telemetry::metrics::{labels, Metrics};

/// Why events could not be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: try again later.
    #[error("the relay is at capacity; retry after {retry_after:?}")]
    Overloaded { retry_after: Duration },
    /// The relay is shutting down.
    #[error("the relay is shutting down")]
    ShuttingDown,
}

/// An operation on its way to a destination.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub op: Op,
    /// The subscription's name, for logs and dead letters.
    pub subscription: Arc<str>,
}

struct DestinationHandle {
    tx: mpsc::UnboundedSender<Envelope>,
}

/// Accepted events in, operations out to each destination's dispatcher.
pub struct Pipeline {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    dests: Vec<DestinationHandle>,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Pipeline {
    /// Starts one dispatcher per destination.
    pub fn start(config: Arc<Config>, metrics: Arc<Metrics>) -> Pipeline {
        let mut dests = Vec::new();
        let mut tasks = Vec::new();
        for (i, _) in config.destinations.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            let cfg = config.clone();
            let m = metrics.clone();
            tasks.push(tokio::spawn(async move { dispatch(cfg, i, m, rx).await }));
            dests.push(DestinationHandle { tx });
        }
        Pipeline {
            config,
            metrics,
            dests,
            tasks: tokio::sync::Mutex::new(tasks),
        }
    }

    /// Hands normalized events from a source on to its destinations.
    pub async fn submit(&self, source: usize, events: Vec<Value>) -> Result<(), SubmitError> {
        let src = &self.config.sources[source];
        for &d in &src.destinations {
            let dest = &self.config.destinations[d];
            for event in &events {
                let outcome = preview::process(dest, event, ModeChoice::Auto);
                for r in &outcome.refusals {
                    let sub = &dest.subscriptions[r.subscription];
                    self.metrics
                        .events_refused
                        .get_or_create(&labels([
                            ("destination", dest.name.as_str()),
                            ("subscription", sub.name.as_str()),
                        ]))
                        .inc();
                    tracing::debug!(
                        destination = %dest.name,
                        subscription = %sub.name,
                        message_id = %event.get("messageId").and_then(|v| v.as_str()).unwrap_or(""),
                        reason = %r.message,
                        "Event refused by subscription"
                    );
                }
                for op in outcome.ops {
                    let sub = &dest.subscriptions[op.subscription];
                    self.metrics
                        .operations_built
                        .get_or_create(&labels([
                            ("destination", dest.name.as_str()),
                            ("action", sub.action.key()),
                        ]))
                        .inc();
                    let env = Envelope {
                        subscription: Arc::from(sub.name.as_str()),
                        op,
                    };
                    self.dests[d]
                        .tx
                        .send(env)
                        .map_err(|_| SubmitError::ShuttingDown)?;
                }
            }
        }
        Ok(())
    }

    /// Stops taking work and waits for the dispatchers to drain.
    pub async fn shutdown(&self) {
        let mut tasks = self.tasks.lock().await;
        for t in tasks.drain(..) {
            let _ = t.await;
        }
    }
}

async fn dispatch(
    config: Arc<Config>,
    index: usize,
    _metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<Envelope>,
) {
    let dest: &Destination = &config.destinations[index];
    while let Some(env) = rx.recv().await {
        if dest.dry_run {
            let path = preview::request_path(env.op.endpoint, env.op.batched);
            tracing::info!(
                destination = %dest.name,
                subscription = %env.subscription,
                url = %format!("{}{}", dest.origin, path),
                body = %env.op.body,
                "Dry run: would send"
            );
        }
    }
}
