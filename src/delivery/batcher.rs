//! Packing operations into requests: up to the subscription's `batch_size` and the API's byte
//! limit per batch request, flushed when full or after the linger time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use super::Envelope;
use crate::actions::Endpoint;

/// How a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST /api/v2/batch` with `{"batch": [...]}`.
    Batch,
    /// `POST /api/v2/entity` with one operation.
    Entity,
    /// `POST /api/v1/metrics` with one metric.
    Metric,
}

impl Kind {
    /// How an operation built for `endpoint` is sent (`batched`: its subscription batches).
    pub fn of(endpoint: Endpoint, batched: bool) -> Kind {
        match (endpoint, batched) {
            (Endpoint::V1Metrics, _) => Kind::Metric,
            (Endpoint::V2, true) => Kind::Batch,
            (Endpoint::V2, false) => Kind::Entity,
        }
    }

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Batch => "/api/v2/batch",
            Kind::Entity => "/api/v2/entity",
            Kind::Metric => "/api/v1/metrics",
        }
    }
}

/// Limits for forming requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest batch body in bytes.
    pub max_batch_bytes: usize,
    /// How long a partly filled batch waits.
    pub linger: Duration,
}

/// A request: its operations in order, how it is sent, and how often it was tried.
#[derive(Debug)]
pub struct Request {
    pub kind: Kind,
    pub ops: Vec<Envelope>,
    pub attempts: u32,
}

/// Bytes of `{"batch":[` + `]}`.
const ENVELOPE_BYTES: usize = 12;

impl Request {
    /// The request body.
    pub fn body(&self) -> Bytes {
        match self.kind {
            Kind::Batch => {
                let size: usize = self.ops.iter().map(|o| o.bytes.len() + 1).sum();
                let mut b = BytesMut::with_capacity(size + ENVELOPE_BYTES);
                b.put_slice(b"{\"batch\":[");
                for (i, op) in self.ops.iter().enumerate() {
                    if i > 0 {
                        b.put_u8(b',');
                    }
                    b.put_slice(&op.bytes);
                }
                b.put_slice(b"]}");
                b.freeze()
            }
            Kind::Entity | Kind::Metric => self
                .ops
                .first()
                .map(|o| o.bytes.clone())
                .unwrap_or_default(),
        }
    }

    /// Splits a batch in two halves, keeping order.
    pub fn split(mut self) -> (Request, Request) {
        let second = self.ops.split_off(self.ops.len() / 2);
        (
            Request {
                kind: self.kind,
                ops: self.ops,
                attempts: 0,
            },
            Request {
                kind: self.kind,
                ops: second,
                attempts: 0,
            },
        )
    }
}

fn kind_of(op: &Envelope) -> Kind {
    op.kind
}

/// Moves the leading batchable operations of `queue` (another lane's) into `req`, a batch,
/// while they fit its operation count (the smallest `batch_size` aboard) and byte limit.
/// Returns how many it took and whether `req` is now full.
pub fn top_up(req: &mut Request, queue: &mut VecDeque<Envelope>, limits: &Limits) -> (usize, bool) {
    let mut limit = req
        .ops
        .iter()
        .map(|o| o.batch_size.max(1))
        .min()
        .unwrap_or(usize::MAX);
    let mut bytes = ENVELOPE_BYTES
        + req.ops.iter().map(|o| o.bytes.len()).sum::<usize>()
        + req.ops.len().saturating_sub(1);
    let mut taken = 0;
    while let Some(op) = queue.front() {
        if req.ops.len() >= limit {
            return (taken, true);
        }
        if kind_of(op) != Kind::Batch {
            // This lane's next operation is sent on its own: take nothing past it.
            break;
        }
        let new_limit = limit.min(op.batch_size.max(1));
        let new_bytes = bytes + op.bytes.len() + 1;
        if req.ops.len() >= new_limit || new_bytes > limits.max_batch_bytes {
            return (taken, true);
        }
        limit = new_limit;
        bytes = new_bytes;
        req.ops.extend(queue.pop_front());
        taken += 1;
    }
    (taken, req.ops.len() >= limit)
}

/// Forms the next request from the front of `queue`, or says when it will be due.
pub fn form(
    queue: &mut VecDeque<Envelope>,
    now: Instant,
    limits: &Limits,
    flush: bool,
) -> Result<Request, Option<Instant>> {
    let Some(head) = queue.front() else {
        return Err(None);
    };
    let kind = kind_of(head);
    if kind != Kind::Batch {
        let op = queue.pop_front().expect("checked non-empty");
        return Ok(Request {
            kind,
            ops: vec![op],
            attempts: 0,
        });
    }
    // Count how many leading batchable operations fit.
    let mut count = 0;
    let mut bytes = ENVELOPE_BYTES;
    let mut limit = usize::MAX;
    let mut full = false;
    for op in queue.iter() {
        if kind_of(op) != Kind::Batch {
            // Something else is next in order: send what we have now.
            full = true;
            break;
        }
        let new_limit = limit.min(op.batch_size.max(1));
        let new_bytes = bytes + op.bytes.len() + usize::from(count > 0);
        if count >= new_limit || (count > 0 && new_bytes > limits.max_batch_bytes) {
            full = true;
            break;
        }
        limit = new_limit;
        bytes = new_bytes;
        count += 1;
        if count >= limit {
            full = true;
            break;
        }
    }
    let due_at = head.queued_at + limits.linger;
    if !(full || flush || due_at <= now) {
        return Err(Some(due_at));
    }
    let ops: Vec<Envelope> = queue.drain(..count.max(1)).collect();
    Ok(Request {
        kind: Kind::Batch,
        ops,
        attempts: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, size: usize, batch_size: usize) -> Envelope {
        Envelope {
            kind,
            bytes: Bytes::from(vec![b'x'; size]),
            key: 0,
            subscription: 0,
            batch_size,
            event: Bytes::new(),
            queued_at: Instant::now(),
            ticket: None,
        }
    }

    fn batch(n: usize) -> Request {
        Request {
            kind: Kind::Batch,
            ops: (0..n).map(|_| op(Kind::Batch, 10, 50)).collect(),
            attempts: 0,
        }
    }

    const LIMITS: Limits = Limits {
        max_batch_bytes: 500_000,
        linger: Duration::from_millis(200),
    };

    #[test]
    fn top_up_fills_to_the_batch_size_and_keeps_the_rest_queued() {
        let mut req = batch(30);
        let mut other: VecDeque<Envelope> = (0..40).map(|_| op(Kind::Batch, 10, 50)).collect();
        assert_eq!(top_up(&mut req, &mut other, &LIMITS), (20, true));
        assert_eq!(req.ops.len(), 50);
        assert_eq!(other.len(), 20);
        // Full: nothing more is taken.
        assert_eq!(top_up(&mut req, &mut other, &LIMITS), (0, true));
    }

    #[test]
    fn top_up_stops_at_an_operation_sent_on_its_own() {
        let mut req = batch(5);
        let mut other: VecDeque<Envelope> = [
            op(Kind::Batch, 10, 50),
            op(Kind::Entity, 10, 50),
            op(Kind::Batch, 10, 50),
        ]
        .into();
        assert_eq!(top_up(&mut req, &mut other, &LIMITS), (1, false));
        assert_eq!(other.len(), 2);
        assert_eq!(other[0].kind, Kind::Entity);
    }

    #[test]
    fn top_up_respects_the_smallest_batch_size_and_the_byte_limit() {
        let mut req = batch(3);
        let mut other: VecDeque<Envelope> = (0..5).map(|_| op(Kind::Batch, 10, 4)).collect();
        assert_eq!(top_up(&mut req, &mut other, &LIMITS), (1, true));
        assert_eq!(req.ops.len(), 4);

        let limits = Limits {
            max_batch_bytes: 100,
            ..LIMITS
        };
        let mut req = batch(3); // 12 + 3 * 10 + 2 = 44 bytes
        let mut other: VecDeque<Envelope> = (0..5).map(|_| op(Kind::Batch, 20, 50)).collect();
        assert_eq!(top_up(&mut req, &mut other, &limits), (2, true));
        assert_eq!(req.body().len(), 86);
    }
}
