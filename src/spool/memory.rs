//! [`Durability::Memory`](crate::config::Durability::Memory): the spool as a queue in memory.
//! Nothing survives the process; for tests and for users who accept losing what is pending.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use super::pending::PendingSet;
use super::{lock, Record, Spool, SpoolError, SpoolStats};

/// The in-memory spool.
#[derive(Debug)]
pub struct MemorySpool {
    max_events: u64,
    state: Mutex<State>,
    readable: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    /// Appended and not yet handed out.
    unread: VecDeque<Record>,
    pending: PendingSet,
    appended_total: u64,
    acked_total: u64,
    closed: bool,
}

impl MemorySpool {
    /// An empty spool that refuses appends once `max_events` are pending.
    pub fn new(max_events: usize) -> MemorySpool {
        MemorySpool {
            max_events: max_events as u64,
            state: Mutex::new(State::default()),
            readable: Notify::new(),
        }
    }
}

#[async_trait::async_trait]
impl Spool for MemorySpool {
    async fn append(
        &self,
        source: u32,
        received_ms: u64,
        events: Vec<Bytes>,
    ) -> Result<Range<u64>, SpoolError> {
        let n = events.len() as u64;
        if n == 0 {
            return Ok(0..0);
        }
        let range = {
            let mut s = lock(&self.state);
            if s.closed {
                return Err(SpoolError::Closed);
            }
            if s.pending.count() >= self.max_events {
                return Err(SpoolError::Full);
            }
            let start = s.next_seq;
            for (seq, payload) in (start..).zip(events) {
                s.unread.push_back(Record {
                    seq,
                    source,
                    received_ms,
                    payload,
                });
            }
            s.next_seq = start + n;
            s.pending.push(start, start + n, received_ms);
            s.appended_total += n;
            start..start + n
        };
        self.readable.notify_waiters();
        Ok(range)
    }

    async fn next_batch(&self, max: usize) -> Result<Vec<Record>, SpoolError> {
        loop {
            let notified = self.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = lock(&self.state);
                if s.closed {
                    return Ok(Vec::new());
                }
                if !s.unread.is_empty() {
                    let take = max.max(1).min(s.unread.len());
                    return Ok(s.unread.drain(..take).collect());
                }
            }
            notified.await;
        }
    }

    fn ack(&self, seq: u64) {
        let mut s = lock(&self.state);
        if s.unread.front().is_some_and(|r| seq >= r.seq) {
            return; // never handed out
        }
        if s.pending.remove(seq) {
            s.acked_total += 1;
        }
    }

    fn stats(&self) -> SpoolStats {
        let s = lock(&self.state);
        SpoolStats {
            pending_events: s.pending.count(),
            oldest_received_ms: s.pending.oldest_received_ms(),
            bytes_on_disk: 0,
            appended_total: s.appended_total,
            acked_total: s.acked_total,
            skipped_at_open: 0,
        }
    }

    fn is_full(&self) -> bool {
        lock(&self.state).pending.count() >= self.max_events
    }

    async fn close(&self) {
        lock(&self.state).closed = true;
        self.readable.notify_waiters();
    }
}
