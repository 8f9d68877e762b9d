//! Every metric the relay exports, registered once in a registry owned by the app (never a
//! global), exposed at `GET /metrics` in Prometheus text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label sets are small vectors of `(name, value)` pairs.
pub type Labels = Vec<(&'static str, String)>;

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~26 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

fn size_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0])
}

/// The relay's metrics.
pub struct Metrics {
    registry: Registry,
    /// Events received, by `source`, `type` and `outcome` (accepted, rejected, filtered,
    /// duplicate).
    pub events_received: Family<Labels, Counter>,
    /// HTTP request latency in seconds, by `path` (route) and `status`.
    pub http_request_duration: HistogramFamily,
    /// Events a subscription refused (validation), by `destination` and `subscription`.
    pub events_refused: Family<Labels, Counter>,
    /// Operations built, by `destination` and `action`.
    pub operations_built: Family<Labels, Counter>,
    /// Operations delivered (accepted by Customer.io), by `destination` and `action`.
    pub operations_sent: Family<Labels, Counter>,
    /// Requests to Customer.io by `destination` and `status` (`timeout`, `error` for no status).
    pub delivery_requests: Family<Labels, Counter>,
    /// Retried requests, by `destination`.
    pub delivery_retries: Family<Labels, Counter>,
    /// Dead-lettered operations, by `destination` and `reason`.
    pub dead_letters: Family<Labels, Counter>,
    /// Operations per batch request, by `destination`.
    pub batch_size: Family<Labels, Histogram, fn() -> Histogram>,
    /// Customer.io request latency in seconds, by `destination`.
    pub delivery_duration: HistogramFamily,
    /// Operations waiting to be delivered, by `destination`.
    pub queue_depth: Family<Labels, Gauge>,
    /// Repeated messageIds dropped at ingest, by `source`.
    pub events_deduplicated: Family<Labels, Counter>,
    /// Events in the spool not yet delivered or dead-lettered.
    pub spool_pending_events: Gauge,
    /// Age of the oldest pending event in the spool, in seconds.
    pub spool_oldest_age_seconds: Gauge,
    /// Bytes of the spool's files on disk.
    pub spool_bytes_on_disk: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cio_relay");
        let events_received = Family::<Labels, Counter>::default();
        registry.register(
            "events_received",
            "Events received, by source, type and outcome",
            events_received.clone(),
        );
        let http_request_duration: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Ingest HTTP request latency, by route and status",
            http_request_duration.clone(),
        );
        let events_refused = Family::<Labels, Counter>::default();
        registry.register(
            "events_refused",
            "Events a subscription refused (validation failed), by destination and subscription",
            events_refused.clone(),
        );
        let operations_built = Family::<Labels, Counter>::default();
        registry.register(
            "operations_built",
            "Operations built, by destination and action",
            operations_built.clone(),
        );
        let operations_sent = Family::<Labels, Counter>::default();
        registry.register(
            "operations_sent",
            "Operations accepted by Customer.io, by destination and action",
            operations_sent.clone(),
        );
        let delivery_requests = Family::<Labels, Counter>::default();
        registry.register(
            "delivery_requests",
            "Requests to Customer.io, by destination and status",
            delivery_requests.clone(),
        );
        let delivery_retries = Family::<Labels, Counter>::default();
        registry.register(
            "delivery_retries",
            "Requests to Customer.io retried, by destination",
            delivery_retries.clone(),
        );
        let dead_letters = Family::<Labels, Counter>::default();
        registry.register(
            "dead_letters",
            "Operations written to the dead-letter store, by destination and reason",
            dead_letters.clone(),
        );
        let batch_size: HistogramFamily =
            Family::new_with_constructor(size_histogram as fn() -> Histogram);
        registry.register(
            "batch_operations",
            "Operations per Customer.io batch request, by destination",
            batch_size.clone(),
        );
        let delivery_duration: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "delivery_request_duration_seconds",
            "Customer.io request latency, by destination",
            delivery_duration.clone(),
        );
        let queue_depth = Family::<Labels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Operations waiting to be delivered, by destination",
            queue_depth.clone(),
        );
        let events_deduplicated = Family::<Labels, Counter>::default();
        registry.register(
            "events_deduplicated",
            "Events dropped at ingest because their messageId was already accepted, by source",
            events_deduplicated.clone(),
        );
        let spool_pending_events = Gauge::default();
        registry.register(
            "spool_pending_events",
            "Events in the spool not yet delivered or dead-lettered",
            spool_pending_events.clone(),
        );
        let spool_oldest_age_seconds = Gauge::default();
        registry.register(
            "spool_oldest_age_seconds",
            "Age of the oldest pending event in the spool, in seconds",
            spool_oldest_age_seconds.clone(),
        );
        let spool_bytes_on_disk = Gauge::default();
        registry.register(
            "spool_bytes_on_disk",
            "Bytes of the spool's files on disk",
            spool_bytes_on_disk.clone(),
        );
        Metrics {
            registry,
            events_deduplicated,
            spool_pending_events,
            spool_oldest_age_seconds,
            spool_bytes_on_disk,
            events_received,
            http_request_duration,
            events_refused,
            operations_built,
            operations_sent,
            delivery_requests,
            delivery_retries,
            dead_letters,
            batch_size,
            delivery_duration,
            queue_depth,
        }
    }

    /// Everything in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Builds a label set.
pub fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}
