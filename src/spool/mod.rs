//! The spool: accepted events wait here, on local disk, between ingest and delivery.
//!
//! Ingest [`Spool::append`]s each request's events and answers the client once the append
//! resolves, that is once the events are as durable as [`Durability`] promises. Delivery reads
//! them back in seq order with [`Spool::next_batch`] and [`Spool::ack`]s each one when it was
//! delivered or dead-lettered; acks may come in any order. After a crash or restart every
//! record that was appended (and reported durable) but not acked is read again: delivery is
//! at-least-once, and [`Dedup`] lets ingest drop a client's retries of what it already took.
//!
//! [`open`] picks the implementation for a [`Durability`]: a segmented append-only log with
//! group commit for `Sync` and `Buffered`, a queue in memory for `Memory`. Both sit behind the
//! object-safe [`Spool`] trait so that a shared queue on a distributed engine can take their
//! place. The design, the on-disk format and the measurements behind the choice of storage
//! are in `docs/design/spool.md`.

mod dedup;
mod disk;
mod format;
mod memory;
mod pending;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::config::Durability;

pub use dedup::{Dedup, Verdict};
pub use disk::DiskSpool;
pub use memory::MemorySpool;

/// One spooled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in the spool; unique and increasing, also across restarts.
    pub seq: u64,
    /// The source the event came in on (the caller's numbering).
    pub source: u32,
    /// When ingest received the event, in milliseconds since the Unix epoch.
    pub received_ms: u64,
    /// The event's JSON, as accepted.
    pub payload: Bytes,
}

/// Why the spool could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolError {
    /// `max_events` events are pending: answer 503 and let the client retry.
    #[error("spool full")]
    Full,
    /// Reading or writing the spool's files failed.
    #[error("spool i/o: {0}")]
    Io(String),
    /// The spool was closed.
    #[error("spool closed")]
    Closed,
}

impl SpoolError {
    pub(crate) fn io(context: &str, err: impl std::fmt::Display) -> SpoolError {
        SpoolError::Io(format!("{context}: {err}"))
    }
}

/// Figures for `cio-relay spool stats` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Events accepted and not yet acknowledged (including appends still being written).
    pub pending_events: u64,
    /// `received_ms` of the lowest-seq pending event.
    pub oldest_received_ms: Option<u64>,
    /// Size of the spool's files (0 in memory).
    pub bytes_on_disk: u64,
    /// Events appended since this spool was opened.
    pub appended_total: u64,
    /// Events acknowledged since this spool was opened.
    pub acked_total: u64,
    /// Records found damaged and skipped when the spool was opened.
    pub skipped_at_open: u64,
}

/// A durable queue of accepted events between ingest and delivery.
///
/// Object-safe: the relay holds it as `Arc<dyn Spool>`.
#[async_trait::async_trait]
pub trait Spool: Send + Sync {
    /// Appends `events` from `source`, received at `received_ms`; resolves with their seqs once
    /// they are durable as the spool's [`Durability`] promises.
    ///
    /// `Err(Full)` when `max_events` events are already pending (a batch that starts below the
    /// limit is taken whole, so the limit can be passed by at most one batch).
    async fn append(
        &self,
        source: u32,
        received_ms: u64,
        events: Vec<Bytes>,
    ) -> Result<Range<u64>, SpoolError>;

    /// Up to `max` records in seq order, after those this spool already handed out; waits
    /// until at least one is available. `Ok(empty)` once the spool is closed.
    async fn next_batch(&self, max: usize) -> Result<Vec<Record>, SpoolError>;

    /// Marks one record delivered (or dead-lettered). Acks may come in any order; the space of
    /// acknowledged records is reclaimed in the background. Unknown seqs are ignored.
    fn ack(&self, seq: u64);

    /// Current figures.
    fn stats(&self) -> SpoolStats;

    /// True when `max_events` or more events are pending (ingest answers 503 then).
    fn is_full(&self) -> bool;

    /// Flushes what was appended and records the acks so far, then stops: later appends fail
    /// with `Closed` and `next_batch` returns `Ok(empty)`. Pending records stay for the next
    /// [`open`] of the same directory.
    async fn close(&self);
}

/// Opens the spool kept in `dir` (created if missing), or an in-memory one for
/// [`Durability::Memory`] (`dir` unused).
///
/// Recovers what an earlier run left: damaged records are skipped with a warning, intact ones
/// kept. Blocks while it reads the directory, so call it before serving or from
/// `spawn_blocking`.
pub fn open(
    dir: &Path,
    durability: Durability,
    max_events: usize,
) -> Result<Arc<dyn Spool>, SpoolError> {
    open_with(dir, durability, max_events, SpoolOptions::default())
}

/// [`open`] with tuning knobs.
pub fn open_with(
    dir: &Path,
    durability: Durability,
    max_events: usize,
    options: SpoolOptions,
) -> Result<Arc<dyn Spool>, SpoolError> {
    Ok(match durability {
        Durability::Memory => Arc::new(MemorySpool::new(max_events)),
        Durability::Sync | Durability::Buffered => {
            Arc::new(DiskSpool::open(dir, durability, max_events, options)?)
        }
    })
}

/// Tuning knobs of the on-disk spool; the defaults suit production.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// A segment file is closed and a new one started once it is this large.
    pub segment_bytes: u64,
    /// `Buffered`: how often written records are synced.
    pub sync_interval: Duration,
    /// How often acknowledgements are recorded and fully acked segments deleted.
    pub checkpoint_interval: Duration,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            segment_bytes: 64 << 20,
            sync_interval: Duration::from_millis(50),
            checkpoint_interval: Duration::from_millis(200),
        }
    }
}

/// Locks a std mutex, taking the data even if a panicking thread poisoned it (every critical
/// section here leaves the data consistent before anything can panic).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
