//! Packing operations into requests: up to the subscription's `batch_size` and the API's byte
//! limit per batch request, flushed when full or after the linger time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use super::Envelope;

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
