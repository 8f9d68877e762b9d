//! Delivery: accepted events become operations (through [`crate::preview::process`], the one
//! path), which one dispatcher per destination packs into requests ([`batcher`]), orders per
//! person or object ([`lanes`]), paces ([`pacing`]), retries ([`retry`]) and, when Customer.io
//! will never take them, writes to the dead-letter store ([`dead_letter`]).

pub mod batcher;
pub mod dead_letter;
pub mod lanes;
pub mod pacing;
pub mod retry;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cio::{self, SendError};
use crate::config::{Config, Destination};
use crate::event::Fields;
use crate::preview::{self, ModeChoice, PartialEvent};
use crate::spool::{Dedup, Spool, SpoolError, Verdict};
use crate::telemetry::metrics::{labels, Metrics};
use batcher::{Kind, Limits, Request};
use dead_letter::{DeadLetter, DeadLetterWriter};
use lanes::Lane;
use pacing::Pacer;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use retry::RetryAction;

/// Why events could not be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: try again later.
    #[error("the relay is at capacity; retry after {} s", retry_after.as_secs())]
    Overloaded { retry_after: Duration },
    /// The relay is shutting down.
    #[error("the relay is shutting down")]
    ShuttingDown,
    /// An event of this request has the messageId of one another request is still storing
    /// (a client retrying before its first attempt was answered): whether that one is taken
    /// is not known yet, so neither answer would be safe.
    #[error("an event with the same messageId is still being stored; retry after 1 s")]
    InFlight,
    /// The spool could not store the events (a disk problem): nothing was accepted.
    #[error("the relay cannot store events right now: {0}")]
    Storage(String),
}

/// Completion tracking for one accepted event: when every operation built from it has been
/// delivered or dead-lettered, `on_done` runs once (the spool's acknowledgement).
pub struct Ticket {
    remaining: AtomicUsize,
    on_done: std::sync::Mutex<Option<OnDone>>,
}

/// What runs when an event is finished.
pub type OnDone = Box<dyn FnOnce() + Send>;

impl Ticket {
    /// A ticket expecting `parts` completions; with none, `on_done` runs at once.
    pub fn new(parts: usize, on_done: OnDone) -> Arc<Ticket> {
        let t = Arc::new(Ticket {
            remaining: AtomicUsize::new(parts),
            on_done: std::sync::Mutex::new(Some(on_done)),
        });
        if parts == 0 {
            t.fire();
        }
        t
    }

    /// One part is finished.
    pub fn complete(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.fire();
        }
    }

    fn fire(&self) {
        let f = self.on_done.lock().ok().and_then(|mut g| g.take());
        if let Some(f) = f {
            f();
        }
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.remaining.load(Ordering::Relaxed))
    }
}

/// An operation on its way to a destination. Kept compact: the operation and its event travel
/// as the bytes they are on the wire and in the spool, not as parsed JSON.
#[derive(Debug)]
pub struct Envelope {
    /// How it is sent.
    pub kind: Kind,
    /// The operation serialized once, as it goes on the wire.
    pub bytes: Bytes,
    /// The lane hash (see [`lanes::identity_hash`]).
    pub key: u64,
    /// Index of its subscription in the destination's table.
    pub subscription: usize,
    /// The most operations per batch its subscription allows.
    pub batch_size: usize,
    /// The normalized event it came from, as JSON (for dead letters).
    pub event: Bytes,
    /// When it was accepted (the retry age counts from here).
    pub queued_at: Instant,
    pub ticket: Option<Arc<Ticket>>,
}

impl Envelope {
    fn finish(self) {
        if let Some(t) = &self.ticket {
            t.complete();
        }
    }
}

enum Msg {
    Ops(Vec<Envelope>),
    Close,
}

/// Metric handles resolved once per destination, so the per-event path does not build label
/// sets.
#[derive(Clone)]
struct DestMetrics {
    /// Per subscription: operations built, events refused.
    built: Vec<Counter>,
    refused: Vec<Counter>,
}

/// Events read from the spool and not yet finished, at most: bounds the memory delivery
/// holds however large the backlog on disk is.
const MAX_EVENTS_IN_DELIVERY: usize = 4_096;

/// A source's stable number in the spool: a hash of its name, so that reordering sources in
/// the configuration between two runs does not misroute what the first run left behind.
pub fn source_id(name: &str) -> u32 {
    crc32fast::hash(name.as_bytes())
}

/// An accepted event on its way into the spool: its JSON as stored, and its messageId (the
/// de-duplication key).
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The normalized event's messageId.
    pub message_id: String,
    /// The normalized event as JSON.
    pub json: Bytes,
}

/// Accepted events in (through the spool), operations out to each destination's dispatcher.
pub struct Pipeline {
    config: Arc<Config>,
    dest_metrics: Vec<DestMetrics>,
    senders: Vec<mpsc::UnboundedSender<Msg>>,
    queued: Arc<AtomicUsize>,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    spool: Arc<dyn Spool>,
    dedup: Option<Dedup>,
    stop_consumer: Arc<tokio::sync::Notify>,
    consumer: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    duplicates: Vec<Counter>,
    /// The consumer's and the dispatchers' abort handles, for a shutdown past its deadline.
    aborts: Vec<tokio::task::AbortHandle>,
    /// [`source_id`] of each configured source, in order.
    source_ids: Vec<u32>,
}

/// One event's operations per destination, not yet queued, and the subscriptions that refused
/// it (counted when queued).
struct Built {
    per_dest: Vec<(usize, Vec<Envelope>)>,
    refused: Vec<(usize, usize)>,
}

impl Pipeline {
    /// Starts one dispatcher per destination and the consumer that feeds them from `spool`.
    /// `dedup`, when given, drops events whose messageId was accepted within the window.
    pub fn start(
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        spool: Arc<dyn Spool>,
        dedup: Option<Dedup>,
    ) -> Arc<Pipeline> {
        let queued = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        let mut dest_metrics = Vec::new();
        for (index, dest) in config.destinations.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            let dispatcher =
                Dispatcher::new(config.clone(), index, metrics.clone(), queued.clone());
            tasks.push(tokio::spawn(dispatcher.run(rx)));
            senders.push(tx);
            let per_sub = |family: &prometheus_client::metrics::family::Family<_, Counter>,
                           by_action: bool| {
                dest.subscriptions
                    .iter()
                    .map(|s| {
                        let second = if by_action {
                            ("action", s.action.key())
                        } else {
                            ("subscription", s.name.as_str())
                        };
                        family
                            .get_or_create(&labels([("destination", dest.name.as_str()), second]))
                            .clone()
                    })
                    .collect()
            };
            dest_metrics.push(DestMetrics {
                built: per_sub(&metrics.operations_built, true),
                refused: per_sub(&metrics.events_refused, false),
            });
        }
        let duplicates = config
            .sources
            .iter()
            .map(|s| {
                metrics
                    .events_deduplicated
                    .get_or_create(&labels([("source", s.name.as_str())]))
                    .clone()
            })
            .collect();
        let source_ids: Vec<u32> = config.sources.iter().map(|s| source_id(&s.name)).collect();
        let mut aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        // The consumer needs the pipeline, so it starts after it, with its handle in a slot.
        let (consumer_tx, consumer_rx) = tokio::sync::oneshot::channel::<Arc<Pipeline>>();
        let consumer = tokio::spawn(async move {
            if let Ok(pipeline) = consumer_rx.await {
                pipeline.consume().await;
            }
        });
        aborts.push(consumer.abort_handle());
        let pipeline = Arc::new(Pipeline {
            config,
            dest_metrics,
            senders,
            queued,
            tasks: tokio::sync::Mutex::new(tasks),
            spool,
            dedup,
            stop_consumer: Arc::new(tokio::sync::Notify::new()),
            consumer: tokio::sync::Mutex::new(Some(consumer)),
            duplicates,
            aborts,
            source_ids,
        });
        let _ = consumer_tx.send(pipeline.clone());
        pipeline
    }

    /// The spool behind this pipeline.
    pub fn spool(&self) -> &Arc<dyn Spool> {
        &self.spool
    }

    /// Reads the spool in order and hands each event to delivery; acknowledges it once every
    /// operation built from it is delivered or dead-lettered. At most
    /// [`MAX_EVENTS_IN_DELIVERY`] events are out at once.
    ///
    /// Parsing and building (the largest cost per event) run in parallel over each batch read,
    /// one part per core; the operations are then queued strictly in spool order, which keeps
    /// each person's operations in the order their events were accepted.
    async fn consume(self: Arc<Self>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_EVENTS_IN_DELIVERY));
        let parts = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(1);
        loop {
            let batch = tokio::select! {
                b = self.spool.next_batch(512) => b,
                _ = self.stop_consumer.notified() => break,
            };
            let records = match batch {
                Ok(r) if r.is_empty() => break,
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "Cannot read the spool; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let chunk = records.len().div_ceil(parts).max(256);
            let mut jobs = Vec::new();
            let mut records = records;
            while !records.is_empty() {
                let rest = records.split_off(chunk.min(records.len()));
                let part = std::mem::replace(&mut records, rest);
                let me = self.clone();
                jobs.push(tokio::spawn(async move {
                    part.into_iter()
                        .map(|rec| me.build_record(rec))
                        .collect::<Vec<_>>()
                }));
            }
            for job in jobs {
                let Ok(built) = job.await else {
                    tracing::error!("A build task failed; its events stay in the spool");
                    return;
                };
                for (seq, built) in built {
                    let Some(built) = built else {
                        self.spool.ack(seq);
                        continue;
                    };
                    let permit = tokio::select! {
                        p = permits.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => return,
                        },
                        _ = self.stop_consumer.notified() => return,
                    };
                    let spool = self.spool.clone();
                    let done: OnDone = Box::new(move || {
                        spool.ack(seq);
                        drop(permit);
                    });
                    if self.send(built, Some(done)).is_err() {
                        // Shutting down: what is not acked stays in the spool for the next start.
                        return;
                    }
                }
            }
        }
    }

    /// Parses and builds one spooled event; `None` when it cannot be delivered at all (its
    /// source is gone, or it is not JSON), which is logged and acknowledged.
    fn build_record(&self, rec: crate::spool::Record) -> (u64, Option<Built>) {
        let Some(source) = self.source_ids.iter().position(|&id| id == rec.source) else {
            tracing::warn!(
                seq = rec.seq,
                "A spooled event's source is no longer configured; dropping it"
            );
            return (rec.seq, None);
        };
        // Only the fields the destinations' triggers and matching mappings read are parsed.
        match Fields::parse_stored(&rec.payload) {
            Ok(fields) => {
                let dests = &self.config.sources[source].destinations;
                let message_id = fields.str("messageId").unwrap_or_default();
                let mut event = PartialEvent::new(&fields);
                let built = self.build(dests, rec.payload.clone(), &message_id, |dest| {
                    preview::process_partial(dest, &mut event, ModeChoice::Auto)
                });
                (rec.seq, Some(built))
            }
            Err(e) => {
                tracing::error!(seq = rec.seq, error = %e, "A spooled event is not JSON; dropping it");
                (rec.seq, None)
            }
        }
    }

    /// Operations waiting in every dispatcher.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether new events would be refused for lack of room.
    pub fn is_full(&self) -> bool {
        self.spool.is_full()
    }

    /// Accepts normalized events from a source: drops repeats of a messageId seen within the
    /// dedup window, and resolves once the rest are in the spool, as durable as the configured
    /// `durability` promises. Delivery picks them up from there.
    pub async fn submit(&self, source: usize, events: Vec<Incoming>) -> Result<(), SubmitError> {
        let Some(src) = self.config.sources.get(source) else {
            return Ok(());
        };
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let mut events = events;
        // New ids are reserved now and remembered only once the spool has their events.
        let mut reservation = None;
        if let Some(dedup) = &self.dedup {
            let ids: Vec<&str> = events.iter().map(|e| e.message_id.as_str()).collect();
            let (verdicts, reserved) = dedup.reserve(&ids, now_ms);
            if verdicts.contains(&Verdict::InFlight) {
                dedup.release(reserved);
                return Err(SubmitError::InFlight);
            }
            reservation = Some(reserved);
            let repeats = verdicts.iter().filter(|v| **v == Verdict::Repeat).count();
            if repeats > 0 {
                self.duplicates[source].inc_by(repeats as u64);
                tracing::debug!(source = %src.name, repeats, "Dropped repeated messageIds");
                let mut keep = verdicts.iter();
                events.retain(|_| keep.next() == Some(&Verdict::New));
            }
        }
        let settle = |stored: bool| {
            if let (Some(dedup), Some(reserved)) = (&self.dedup, reservation) {
                if stored {
                    dedup.commit(reserved, now_ms);
                } else {
                    // Not accepted after all: the client's retry must not count as a repeat.
                    dedup.release(reserved);
                }
            }
        };
        if events.is_empty() {
            settle(true);
            return Ok(());
        }
        let payloads: Vec<Bytes> = events.into_iter().map(|e| e.json).collect();
        let result = self
            .spool
            .append(self.source_ids[source], now_ms, payloads)
            .await;
        settle(result.is_ok());
        result.map(|_| ()).map_err(|e| match e {
            SpoolError::Full => SubmitError::Overloaded {
                retry_after: Duration::from_secs(5),
            },
            SpoolError::Closed => SubmitError::ShuttingDown,
            SpoolError::Io(msg) => {
                tracing::error!(error = %msg, "Cannot write to the spool; refusing events with 503");
                SubmitError::Storage(msg)
            }
        })
    }

    /// Runs one event through `dest_indexes` and queues its operations. `raw` is the event as
    /// JSON (kept for dead letters). `on_done` runs once all of its operations are delivered or
    /// dead-lettered (at once if there are none).
    pub fn dispatch_to(
        &self,
        dest_indexes: &[usize],
        event: &Value,
        raw: Bytes,
        on_done: Option<OnDone>,
    ) -> Result<(), SubmitError> {
        let message_id = event
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let built = self.build(dest_indexes, raw, message_id, |dest| {
            preview::process(dest, event, ModeChoice::Auto)
        });
        self.send(built, on_done)
    }

    /// Builds an event's operations for `dest_indexes` with `process`, which runs a
    /// destination's table on the event (the CPU-heavy part, safe to run on any task: nothing
    /// is queued yet). `raw` is the event as stored, for dead letters.
    fn build(
        &self,
        dest_indexes: &[usize],
        raw: Bytes,
        message_id: &str,
        mut process: impl FnMut(&Destination) -> preview::Outcome,
    ) -> Built {
        let now = Instant::now();
        let mut built = Built {
            per_dest: Vec::with_capacity(dest_indexes.len()),
            refused: Vec::new(),
        };
        for &d in dest_indexes {
            let dest = &self.config.destinations[d];
            let outcome = process(dest);
            for r in &outcome.refusals {
                built.refused.push((d, r.subscription));
                tracing::debug!(
                    destination = %dest.name,
                    subscription = %dest.subscriptions[r.subscription].name,
                    message_id,
                    reason = %r.message,
                    "Event refused by subscription"
                );
            }
            let mut envelopes = Vec::with_capacity(outcome.ops.len());
            for op in outcome.ops {
                let sub = &dest.subscriptions[op.subscription];
                envelopes.push(Envelope {
                    kind: Kind::of(op.endpoint, op.batched),
                    key: lanes::identity_hash(&op.body),
                    bytes: Bytes::from(serde_json::to_vec(&op.body).unwrap_or_default()),
                    subscription: op.subscription,
                    batch_size: sub.batch_size,
                    event: raw.clone(),
                    queued_at: now,
                    ticket: None,
                });
            }
            built.per_dest.push((d, envelopes));
        }
        built
    }

    /// Queues built operations with their dispatchers, in the order called, and counts them.
    fn send(&self, built: Built, on_done: Option<OnDone>) -> Result<(), SubmitError> {
        for (d, sub) in built.refused {
            self.dest_metrics[d].refused[sub].inc();
        }
        let total = built.per_dest.iter().map(|(_, e)| e.len()).sum();
        let ticket = on_done.map(|f| Ticket::new(total, f));
        for (d, mut envelopes) in built.per_dest {
            if envelopes.is_empty() {
                continue;
            }
            for env in &mut envelopes {
                env.ticket = ticket.clone();
                self.dest_metrics[d].built[env.subscription].inc();
            }
            let n = envelopes.len();
            self.queued.fetch_add(n, Ordering::Relaxed);
            if self.senders[d].send(Msg::Ops(envelopes)).is_err() {
                self.queued.fetch_sub(n, Ordering::Relaxed);
                return Err(SubmitError::ShuttingDown);
            }
        }
        Ok(())
    }

    /// Stops reading the spool, and waits for the dispatchers to send what they hold. What is
    /// not delivered stays in the spool; call [`Pipeline::close`] afterwards, even when this
    /// was cut short by a deadline.
    pub async fn shutdown(&self) {
        if self.config.server.durability == crate::config::Durability::Memory {
            // Nothing survives the process in memory mode: deliver what was accepted before
            // stopping the consumer (the caller's deadline bounds the wait).
            while self.spool.stats().pending_events > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // One consumer: a stored permit reaches it whether or not it is waiting yet.
        self.stop_consumer.notify_one();
        if let Some(c) = self.consumer.lock().await.take() {
            let _ = c.await;
        }
        for tx in &self.senders {
            let _ = tx.send(Msg::Close);
        }
        let mut tasks = self.tasks.lock().await;
        for t in tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// Stops delivery where it stands, for a shutdown past its deadline: no retry or new
    /// request starts after this (a request already sent may still complete; what was not
    /// acknowledged is sent again after the restart).
    pub fn abort(&self) {
        for a in &self.aborts {
            a.abort();
        }
    }

    /// Records the acknowledgements so far and closes the spool, then writes the ids the
    /// dedup store has not written yet.
    pub async fn close(&self) {
        self.spool.close().await;
        if let Some(dedup) = &self.dedup {
            dedup.close();
        }
    }
}

enum Transport {
    Http(cio::Client),
    DryRun,
}

/// The result of one request, back from its task.
struct Done {
    lane: usize,
    request: Request,
    result: Result<cio::Response, SendError>,
    elapsed: Duration,
}

/// One destination's delivery loop.
struct Dispatcher {
    config: Arc<Config>,
    index: usize,
    metrics: Arc<Metrics>,
    queued: Arc<AtomicUsize>,
    lanes: Vec<Lane>,
    pacer: Pacer,
    transport: Transport,
    dead: Option<DeadLetterWriter>,
    in_flight: usize,
    next_lane: usize,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Per subscription: operations delivered.
    sent: Vec<Counter>,
    /// This destination's handles of the metrics labelled by destination alone, resolved
    /// once rather than on every loop or request.
    queue_depth: Gauge,
    batch_size: Histogram,
    request_duration: Histogram,
    retries: Counter,
}

impl Dispatcher {
    fn new(
        config: Arc<Config>,
        index: usize,
        metrics: Arc<Metrics>,
        queued: Arc<AtomicUsize>,
    ) -> Dispatcher {
        let dest = &config.destinations[index];
        let transport = if dest.dry_run {
            Transport::DryRun
        } else {
            match cio::Client::new(dest) {
                Ok(c) => Transport::Http(c),
                Err(e) => {
                    tracing::error!(destination = %dest.name, error = %e, "Cannot build the Customer.io client; falling back to dry run");
                    Transport::DryRun
                }
            }
        };
        let dl_dir = config.server.data_dir.join("dead-letters");
        let dead = match DeadLetterWriter::open(&dl_dir, &dest.name) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(destination = %dest.name, dir = %dl_dir.display(), error = %e, "Cannot open the dead-letter store; dead letters will only be logged");
                None
            }
        };
        let sent = dest
            .subscriptions
            .iter()
            .map(|s| {
                metrics
                    .operations_sent
                    .get_or_create(&labels([
                        ("destination", dest.name.as_str()),
                        ("action", s.action.key()),
                    ]))
                    .clone()
            })
            .collect();
        let by_dest = labels([("destination", dest.name.as_str())]);
        let queue_depth = metrics.queue_depth.get_or_create(&by_dest).clone();
        let batch_size = metrics.batch_size.get_or_create(&by_dest).clone();
        let request_duration = metrics.delivery_duration.get_or_create(&by_dest).clone();
        let retries = metrics.delivery_retries.get_or_create(&by_dest).clone();
        let lanes = (0..dest.delivery.max_in_flight.max(1))
            .map(|_| Lane::default())
            .collect();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Dispatcher {
            pacer: Pacer::new(
                dest.delivery.max_requests_per_second,
                dest.delivery.max_in_flight,
            ),
            config,
            index,
            metrics,
            queued,
            lanes,
            transport,
            dead,
            in_flight: 0,
            next_lane: 0,
            done_tx,
            done_rx,
            sent,
            queue_depth,
            batch_size,
            request_duration,
            retries,
        }
    }

    fn dest(&self) -> &Destination {
        &self.config.destinations[self.index]
    }

    fn limits(&self) -> Limits {
        let d = &self.dest().delivery;
        Limits {
            max_batch_bytes: d.max_batch_bytes,
            linger: Duration::from_millis(d.linger_ms),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut closing = false;
        loop {
            let wake = self.schedule(closing);
            if closing && self.in_flight == 0 && self.lanes.iter().all(Lane::is_empty) {
                break;
            }
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                msg = rx.recv(), if !closing => match msg {
                    Some(Msg::Ops(envs)) => {
                        envs.into_iter().for_each(|e| self.enqueue(e));
                        // Take whatever else is already waiting before scheduling.
                        while let Ok(m) = rx.try_recv() {
                            match m {
                                Msg::Ops(envs) => envs.into_iter().for_each(|e| self.enqueue(e)),
                                Msg::Close => { closing = true; break; }
                            }
                        }
                    }
                    Some(Msg::Close) | None => closing = true,
                },
                Some(done) = self.done_rx.recv() => self.complete(done),
                _ = sleep => {}
            }
            self.update_gauge();
        }
        tracing::debug!(destination = %self.dest().name, "Dispatcher stopped");
    }

    fn update_gauge(&self) {
        let waiting: usize = self.lanes.iter().map(Lane::len).sum();
        self.queue_depth.set(waiting as i64);
    }

    fn enqueue(&mut self, env: Envelope) {
        let max_op = self.dest().delivery.max_operation_bytes;
        if env.bytes.len() > max_op {
            let msg = format!(
                "operation is {} bytes; Customer.io takes at most {max_op}",
                env.bytes.len()
            );
            self.dead_letter(env, "too_large", None, json!({ "message": msg }));
            return;
        }
        let lane = (env.key % self.lanes.len() as u64) as usize;
        self.lanes[lane].queue.push_back(env);
    }

    /// Starts every request that is due and allowed; returns when to look again.
    fn schedule(&mut self, flush: bool) -> Option<Instant> {
        let now = Instant::now();
        let limits = self.limits();
        let mut wake: Option<Instant> = None;
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        };
        let n = self.lanes.len();
        // Operations queued on lanes free to send: when together they fill a batch, no batch
        // needs to linger.
        let mut pool: usize = self
            .lanes
            .iter()
            .filter(|l| l.is_idle(now))
            .map(|l| l.queue.len())
            .sum();
        for step in 0..n {
            let i = (self.next_lane + step) % n;
            if self.lanes[i].busy || self.lanes[i].holds > 0 || self.lanes[i].is_empty() {
                continue;
            }
            if let Some(t) = self.lanes[i].not_before.filter(|t| *t > now) {
                earliest(Some(t));
                continue;
            }
            // A formed request (a retry, a split half) goes as it is; a new batch is topped up
            // from other idle lanes.
            let fresh = self.lanes[i].ready.is_empty();
            let pool_full = self.lanes[i]
                .queue
                .front()
                .is_some_and(|h| h.kind == Kind::Batch && pool >= h.batch_size);
            // Form the request first and ask the pacer only for one that is due: asking spends
            // a token of the rate limit, which a batch still lingering must not burn.
            let due = flush || (fresh && pool_full);
            let mut req = match self.lanes[i].take_due(now, &limits, due) {
                Ok(req) => req,
                Err(t) => {
                    earliest(t);
                    continue;
                }
            };
            if fresh && req.kind == Kind::Batch {
                self.top_up(i, &mut req, now, &limits);
            }
            pool = pool.saturating_sub(req.ops.len());
            match self.pacer.try_start(now, self.in_flight) {
                Ok(()) => {
                    self.next_lane = (i + 1) % n;
                    self.send(i, req);
                }
                Err(t) => {
                    // Not now: the request goes back to the front of its lane, order intact.
                    self.lanes[i].ready.push_front(req);
                    earliest(t);
                    break;
                }
            }
        }
        wake
    }

    /// Fills a new batch of lane `home` with the leading operations of other idle lanes,
    /// which stay held until those operations are settled.
    fn top_up(&mut self, home: usize, req: &mut Request, now: Instant, limits: &Limits) {
        let n = self.lanes.len();
        for step in 1..n {
            let j = (home + step) % n;
            if !self.lanes[j].is_idle(now) {
                continue;
            }
            let (taken, full) = batcher::top_up(req, &mut self.lanes[j].queue, limits);
            self.lanes[j].holds += taken;
            if full {
                break;
            }
        }
    }

    /// The lanes that lent the operations of a request sent from lane `home` (one entry per
    /// operation).
    fn lenders(&self, home: usize, request: &Request) -> Vec<usize> {
        let n = self.lanes.len() as u64;
        request
            .ops
            .iter()
            .map(|op| (op.key % n) as usize)
            .filter(|&l| l != home)
            .collect()
    }

    /// The operations lent by these lanes are settled: release them.
    fn release(&mut self, lenders: &[usize]) {
        for &l in lenders {
            self.lanes[l].holds -= 1;
        }
    }

    fn send(&mut self, lane: usize, request: Request) {
        self.lanes[lane].busy = true;
        self.lanes[lane].not_before = None;
        self.in_flight += 1;
        let body = request.body();
        let path = request.kind.path();
        let tx = self.done_tx.clone();
        if request.kind == Kind::Batch {
            self.batch_size.observe(request.ops.len() as f64);
        }
        match &self.transport {
            Transport::DryRun => {
                tracing::info!(
                    destination = %self.dest().name,
                    url = %format!("{}{}", self.dest().origin, path),
                    operations = request.ops.len(),
                    body = %String::from_utf8_lossy(&body),
                    "Dry run: would send"
                );
                let _ = tx.send(Done {
                    lane,
                    request,
                    result: Ok(cio::Response {
                        status: 200,
                        retry_after: None,
                        body: Bytes::from_static(b"{}"),
                    }),
                    elapsed: Duration::ZERO,
                });
            }
            Transport::Http(client) => {
                let client = client.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let result = client.post(path, body).await;
                    let _ = tx.send(Done {
                        lane,
                        request,
                        result,
                        elapsed: started.elapsed(),
                    });
                });
            }
        }
    }

    fn complete(&mut self, done: Done) {
        let Done {
            lane,
            request,
            result,
            elapsed,
        } = done;
        self.in_flight -= 1;
        self.lanes[lane].busy = false;
        // Released once the request's operations are settled; a retry or a split keeps them.
        let lenders = self.lenders(lane, &request);
        let dest_name = self.dest().name.clone();
        let status_label = match &result {
            Ok(r) => r.status.to_string(),
            Err(SendError::Timeout) => "timeout".into(),
            Err(SendError::Connect(_)) => "error".into(),
        };
        self.metrics
            .delivery_requests
            .get_or_create(&labels([
                ("destination", &dest_name),
                ("status", &status_label),
            ]))
            .inc();
        self.request_duration.observe(elapsed.as_secs_f64());
        let is_batch = request.kind == Kind::Batch;
        let action = match &result {
            Ok(resp) => retry::classify(resp, request.ops.len(), is_batch, SystemTime::now()),
            Err(e) => retry::classify_error(e),
        };
        match action {
            RetryAction::Delivered => {
                self.pacer.succeeded();
                for op in request.ops {
                    self.delivered(op);
                }
                self.release(&lenders);
            }
            RetryAction::Partial(items) => {
                self.pacer.succeeded();
                let mut failed: Vec<Option<Value>> = vec![None; request.ops.len()];
                for item in items {
                    let entry = json!({
                        "batch_index": item.batch_index,
                        "reason": item.reason,
                        "field": item.field,
                        "message": item.message,
                    });
                    match &mut failed[item.batch_index] {
                        Some(Value::Array(list)) => list.push(entry),
                        slot => *slot = Some(Value::Array(vec![entry])),
                    }
                }
                let status = result.as_ref().map(|r| r.status).ok();
                for (op, failure) in request.ops.into_iter().zip(failed) {
                    match failure {
                        Some(reason) => self.dead_letter(op, "refused", status, reason),
                        None => self.delivered(op),
                    }
                }
                self.release(&lenders);
            }
            RetryAction::Split { status, body } => {
                tracing::warn!(destination = %dest_name, status, operations = request.ops.len(), response = %body, "Batch refused as a whole; splitting it to isolate the bad operations");
                let (a, b) = request.split();
                let l = &mut self.lanes[lane];
                l.ready.push_front(b);
                l.ready.push_front(a);
            }
            RetryAction::Permanent { status, body } => {
                if matches!(status, Some(401) | Some(403)) {
                    tracing::error!(destination = %dest_name, status, "Customer.io refused the credentials; check site_id and api_key. Operations are dead-lettered and can be replayed");
                }
                let response = serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body));
                for op in request.ops {
                    self.dead_letter(op, "refused", status, response.clone());
                }
                self.release(&lenders);
            }
            RetryAction::Retry {
                after,
                throttled,
                reason,
            } => {
                let now = Instant::now();
                let oldest = request.ops.iter().map(|o| o.queued_at).min().unwrap_or(now);
                let max_age = Duration::from_secs(self.dest().delivery.max_retry_age_secs);
                if now.duration_since(oldest) >= max_age {
                    tracing::error!(destination = %dest_name, operations = request.ops.len(), %reason, "Giving up after the maximum retry age");
                    for op in request.ops {
                        self.dead_letter(
                            op,
                            "retries_exhausted",
                            result.as_ref().map(|r| r.status).ok(),
                            json!({ "message": reason }),
                        );
                    }
                    self.release(&lenders);
                    return;
                }
                let d = &self.dest().delivery;
                let delay = after.unwrap_or_else(|| {
                    retry::backoff(
                        request.attempts,
                        Duration::from_millis(d.initial_backoff_ms),
                        Duration::from_millis(d.max_backoff_ms),
                    )
                });
                if throttled {
                    tracing::warn!(destination = %dest_name, delay_ms = delay.as_millis() as u64, "Customer.io throttled us (429); pausing the destination");
                    self.pacer.throttled(now, delay);
                } else {
                    tracing::warn!(destination = %dest_name, %reason, attempt = request.attempts + 1, delay_ms = delay.as_millis() as u64, "Request failed; will retry");
                }
                self.retries.inc();
                let mut request = request;
                request.attempts += 1;
                let l = &mut self.lanes[lane];
                l.not_before = Some(now + delay);
                l.ready.push_front(request);
            }
        }
    }

    fn delivered(&mut self, op: Envelope) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.sent[op.subscription].inc();
        op.finish();
    }

    fn dead_letter(&mut self, op: Envelope, reason: &str, status: Option<u16>, response: Value) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        let dest = self.dest();
        let sub = &dest.subscriptions[op.subscription];
        self.metrics
            .dead_letters
            .get_or_create(&labels([
                ("destination", dest.name.as_str()),
                ("reason", reason),
            ]))
            .inc();
        let event: Value = serde_json::from_slice(&op.event).unwrap_or(Value::Null);
        let operation: Value = serde_json::from_slice(&op.bytes).unwrap_or(Value::Null);
        tracing::warn!(
            destination = %dest.name,
            subscription = %sub.name,
            reason,
            status,
            message_id = %event.get("messageId").and_then(|v| v.as_str()).unwrap_or(""),
            "Operation dead-lettered"
        );
        let letter = DeadLetter {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            destination: dest.name.clone(),
            subscription: sub.name.clone(),
            action: sub.action.key().to_string(),
            reason: reason.to_string(),
            status,
            response,
            operation,
            event,
        };
        match &self.dead {
            Some(w) => w.write(letter),
            None => {
                tracing::error!(letter = %serde_json::to_string(&letter).unwrap_or_default(), "Dead letter (no store)")
            }
        }
        op.finish();
    }
}
