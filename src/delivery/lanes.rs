//! Per-identity ordering. Operations are spread over a fixed set of lanes by a hash of the
//! identifiers they are about; a lane sends one request at a time, in order, and a failed
//! request is retried before anything behind it. So operations about the same person or object
//! reach Customer.io in the order they were accepted, across retries, while different people
//! proceed in parallel on other lanes.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use serde_json::Value;

use super::batcher::{self, Request};
use super::Envelope;

/// The key an operation is ordered by: its identifiers (the primary person for a merge, the
/// delivery id for a metric).
pub fn identity_hash(body: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    let key = body
        .get("identifiers")
        .or_else(|| body.get("primary"))
        .or_else(|| body.get("delivery_id"));
    match key {
        Some(v) => {
            // Identifiers are tiny objects; hash their compact text (the builder always emits
            // one key, or object_id before object_type_id), streamed into the hasher rather
            // than written to a String per operation.
            let _ = serde_json::to_writer(HashWriter(&mut h), v);
        }
        None => 0u8.hash(&mut h),
    }
    h.finish()
}

/// Feeds serialized JSON straight into a hasher.
struct HashWriter<'a, H: Hasher>(&'a mut H);

impl<H: Hasher> std::io::Write for HashWriter<'_, H> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One lane: operations not yet formed into a request, and formed requests waiting to be sent
/// (a retried request goes back to the front).
///
/// A batch formed on one lane may be topped up with the leading operations of other idle
/// lanes, so that batches fill up however many lanes the traffic is spread over. Those lanes
/// are then held: nothing more of theirs is sent until every operation they lent is delivered
/// or dead-lettered, through whatever retries and splits the borrowing request goes through.
#[derive(Default)]
pub struct Lane {
    pub queue: VecDeque<Envelope>,
    pub ready: VecDeque<Request>,
    /// A request of this lane is in flight.
    pub busy: bool,
    /// Do not send before this instant (retry backoff).
    pub not_before: Option<Instant>,
    /// Operations of this lane inside another lane's request, not yet settled.
    pub holds: usize,
}

impl Lane {
    /// Operations waiting in this lane (queued and formed).
    pub fn len(&self) -> usize {
        self.queue.len() + self.ready.iter().map(|r| r.ops.len()).sum::<usize>()
    }

    /// Whether nothing waits here.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.ready.is_empty()
    }

    /// Whether the lane may start sending its queue now: nothing of it in flight, held,
    /// waiting to be retried or backing off, and something queued.
    pub fn is_idle(&self, now: Instant) -> bool {
        !self.busy
            && self.holds == 0
            && self.ready.is_empty()
            && self.not_before.is_none_or(|t| t <= now)
            && !self.queue.is_empty()
    }

    /// The next request to send, if one is due: a formed request first, else a new one from the
    /// queue when it is full or its oldest operation has waited `linger` (or `flush` is set).
    /// Returns the instant at which the lane next becomes due when it is not due now.
    pub fn take_due(
        &mut self,
        now: Instant,
        limits: &batcher::Limits,
        flush: bool,
    ) -> Result<Request, Option<Instant>> {
        if self.busy || self.holds > 0 || self.is_empty() {
            return Err(None);
        }
        if let Some(t) = self.not_before {
            if t > now {
                return Err(Some(t));
            }
        }
        if let Some(req) = self.ready.pop_front() {
            return Ok(req);
        }
        batcher::form(&mut self.queue, now, limits, flush)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_about_the_same_identity_share_a_hash() {
        let a =
            json!({"type": "person", "action": "event", "identifiers": {"id": "u1"}, "name": "A"});
        let b = json!({"type": "person", "action": "identify", "identifiers": {"id": "u1"}});
        let other = json!({"type": "person", "action": "event", "identifiers": {"id": "u2"}});
        assert_eq!(identity_hash(&a), identity_hash(&b));
        assert_ne!(identity_hash(&a), identity_hash(&other));
        let merge = json!({"type": "person", "action": "merge", "primary": {"id": "u1"}, "secondary": {"id": "x"}});
        assert_eq!(
            identity_hash(&merge),
            identity_hash(&a),
            "a merge goes by its primary"
        );
        let metric = json!({"delivery_id": "d1", "metric": "opened"});
        assert_ne!(
            identity_hash(&metric),
            identity_hash(&json!({"delivery_id": "d2"}))
        );
        assert_eq!(identity_hash(&json!({})), identity_hash(&json!({"x": 1})));
    }
}
