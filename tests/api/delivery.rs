//! Delivery end to end: the real relay (`App::build` on `127.0.0.1:0`), events sent to its
//! ingest API over HTTP, and the fake Customer.io of [`crate::fake_cio`] behind it. Every test
//! waits on what the fake recorded or on the relay's queue with a deadline; none sleeps to
//! synchronise.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cio_relay::app::{App, AppState};
use cio_relay::config::{self, RawConfig};
use cio_relay::telemetry::metrics::labels;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::fake_cio::{canonical, Answer, FakeCio, Recorded};

/// The write key of the relay's one source (`require_ids = false`, so events without ids reach
/// the destination as they do in Segment's own pipeline).
const WRITE_KEY: &str = "wk_delivery_0123456789abcdef";
/// The destination's name, which names its dead-letter file.
const DESTINATION: &str = "cio";
/// Longest any test waits for delivery to finish.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long the fake answers 503 in the outage test (the issue's scenario is 30 s).
const OUTAGE: Duration = Duration::from_secs(6);
/// The golden files' `Authorization` header: Basic base64("site_test:key_test").
const GOLDEN_AUTHORIZATION: &str = "Basic c2l0ZV90ZXN0OmtleV90ZXN0";

// ------------------------------------------------------------------ the relay under test

/// Delivery settings for one test; the defaults keep tests fast.
#[derive(Debug, Clone)]
struct Tuning {
    linger_ms: u64,
    max_in_flight: usize,
    max_requests_per_second: u32,
    request_timeout_secs: u64,
    max_operation_bytes: usize,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    /// `memory`, or `sync` for the spool on disk.
    durability: &'static str,
    /// How long a graceful shutdown waits for delivery.
    shutdown_timeout_secs: u64,
    /// More TOML appended to the destination (subscriptions).
    extra: &'static str,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            linger_ms: 20,
            max_in_flight: 4,
            max_requests_per_second: 1000,
            request_timeout_secs: 5,
            max_operation_bytes: 32_000,
            initial_backoff_ms: 50,
            max_backoff_ms: 500,
            durability: "memory",
            shutdown_timeout_secs: 30,
            extra: "",
        }
    }
}

/// A running relay pointed at a fake.
struct Relay {
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    state: Arc<AppState>,
    data_dir: Arc<TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    run: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

async fn spawn_relay(fake: &FakeCio, tuning: Tuning) -> Relay {
    let data_dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_relay_in(data_dir, fake, tuning).await
}

/// A relay on an existing data directory (a restart).
async fn spawn_relay_in(data_dir: Arc<TempDir>, fake: &FakeCio, tuning: Tuning) -> Relay {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{dir}"
durability = "{durability}"
shutdown_timeout_secs = {shutdown}

[[sources]]
name = "app"
write_key = "{WRITE_KEY}"
require_ids = false

[[destinations]]
name = "{DESTINATION}"
site_id = "site_test"
api_key = "key_test"
base_url = "{base}"
dry_run = false

[destinations.delivery]
linger_ms = {linger}
max_in_flight = {in_flight}
max_requests_per_second = {rps}
request_timeout_secs = {timeout}
max_operation_bytes = {max_op}
initial_backoff_ms = {initial}
max_backoff_ms = {max}
{extra}
"#,
        dir = data_dir.path().display(),
        durability = tuning.durability,
        shutdown = tuning.shutdown_timeout_secs,
        base = fake.base_url(),
        linger = tuning.linger_ms,
        in_flight = tuning.max_in_flight,
        rps = tuning.max_requests_per_second,
        timeout = tuning.request_timeout_secs,
        max_op = tuning.max_operation_bytes,
        initial = tuning.initial_backoff_ms,
        max = tuning.max_backoff_ms,
        extra = tuning.extra,
    );
    let raw: RawConfig = toml::from_str(&toml).expect("delivery test config parses");
    let config = config::resolve(raw).expect("delivery test config resolves");
    let app = App::build(config).await.expect("app builds");
    let addr = app.addr();
    let state = app.state();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(app.run(async move {
        let _ = stop_rx.await;
    }));
    Relay {
        addr,
        client: reqwest::Client::new(),
        state,
        data_dir,
        stop: Some(stop_tx),
        run: Some(run),
    }
}

impl Relay {
    /// Posts events to `/v1/batch`, 100 per request, and checks each was accepted.
    async fn send(&self, events: &[Value]) {
        for chunk in events.chunks(100) {
            let resp = self
                .client
                .post(format!("http://{}/v1/batch", self.addr))
                .basic_auth(WRITE_KEY, Some(""))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json!({ "batch": chunk }).to_string())
                .send()
                .await
                .expect("the relay answers");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            assert_eq!(status, 200, "ingest refused the batch: {body}");
        }
    }

    /// Operations waiting in delivery (queued, formed, in flight or waiting to retry).
    fn queued(&self) -> usize {
        self.state.pipeline.queued()
    }

    /// Events accepted and not yet through delivery (in the spool or out in delivery).
    fn pending(&self) -> u64 {
        self.state.pipeline.spool().stats().pending_events
    }

    /// Waits until every accepted event is through delivery: each of its operations delivered
    /// or dead-lettered.
    async fn settle(&self, fake: &FakeCio) {
        let deadline = Instant::now() + DEADLINE;
        while self.pending() > 0 || self.queued() > 0 {
            assert!(
                Instant::now() < deadline,
                "{} events pending, {} operations queued after {DEADLINE:?}; {}",
                self.pending(),
                self.queued(),
                fake.summary()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn dead_letter_file(&self) -> PathBuf {
        self.data_dir
            .path()
            .join("dead-letters")
            .join(format!("{DESTINATION}.jsonl"))
    }

    /// The dead letters written so far.
    fn dead_letters(&self) -> Vec<Value> {
        read_jsonl(&self.dead_letter_file())
    }

    /// Waits until `n` dead letters are written (they are written off the delivery path).
    async fn wait_dead_letters(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let letters = self.dead_letters();
            if letters.len() >= n {
                return letters;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} dead letters written after {DEADLINE:?}",
                letters.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `delivery_requests` for one status label (`200`, `503`, `error`, `timeout`, ...).
    fn requests_with_status(&self, status: &str) -> u64 {
        self.state
            .metrics
            .delivery_requests
            .get_or_create(&labels([("destination", DESTINATION), ("status", status)]))
            .get()
    }

    /// `delivery_retries`.
    fn retries(&self) -> u64 {
        self.state
            .metrics
            .delivery_retries
            .get_or_create(&labels([("destination", DESTINATION)]))
            .get()
    }

    /// Starts a graceful shutdown and waits for `run` to return.
    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(run) = self.run.take() {
            run.await.expect("run task").expect("run returns Ok");
        }
    }
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

// ------------------------------------------------------------------ events and operations

/// A track event for `user` whose `properties.seq` is `seq`; `extra` properties are merged in.
fn track(user: &str, seq: usize, extra: Value) -> Value {
    let mut properties = json!({ "seq": seq });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            properties[k] = v;
        }
    }
    json!({
        "type": "track",
        "messageId": format!("{user}-{seq}"),
        "userId": user,
        "event": "Step Completed",
        "timestamp": format!("2024-06-01T10:{:02}:{:02}.000Z", (seq / 60) % 60, seq % 60),
        "properties": properties,
    })
}

/// `people` × `per_person` track events, person-major within each round: round `i` holds
/// every person's event `i`, so each person's events are interleaved with everyone else's.
fn rounds(prefix: &str, people: usize, per_person: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for seq in 0..per_person {
        for p in 0..people {
            out.push(track(&format!("{prefix}-{p}"), seq, json!({})));
        }
    }
    out
}

/// The person id of an operation (`identifiers.id`), or "".
fn person(op: &Value) -> &str {
    op["identifiers"]["id"].as_str().unwrap_or_default()
}

/// The `seq` attribute of a track operation.
fn seq_of(op: &Value) -> u64 {
    op["attributes"]["seq"].as_u64().expect("a seq attribute")
}

/// The event id (`id`, the messageId) of an operation.
fn id_of(op: &Value) -> &str {
    op["id"].as_str().unwrap_or_default()
}

/// Asserts every event id in `want` was delivered exactly once and nothing else was.
#[track_caller]
fn assert_delivered_once(delivered: &[Value], want: &[String]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for op in delivered {
        *counts.entry(id_of(op)).or_default() += 1;
    }
    let missing: Vec<&String> = want
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    let duplicated: Vec<(&&str, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    let unexpected: Vec<&&str> = counts
        .keys()
        .filter(|id| !want.iter().any(|w| w == **id))
        .collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && unexpected.is_empty(),
        "missing {} {:?}; duplicated {:?}; unexpected {:?}",
        missing.len(),
        missing.iter().take(20).collect::<Vec<_>>(),
        duplicated.iter().take(20).collect::<Vec<_>>(),
        unexpected.iter().take(20).collect::<Vec<_>>()
    );
    assert_eq!(delivered.len(), want.len());
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["messageId"].as_str().expect("messageId").to_string())
        .collect()
}

/// Asserts that, for each person, the `seq` of its delivered operations strictly increases in
/// the order they arrived at the fake.
#[track_caller]
fn assert_per_person_order(delivered: &[Value]) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for op in delivered {
        let (who, seq) = (person(op), seq_of(op));
        if let Some(prev) = last.insert(who, seq) {
            assert!(
                seq > prev,
                "{who}: seq {seq} arrived after seq {prev}; arrival order was {:?}",
                delivered
                    .iter()
                    .filter(|o| person(o) == who)
                    .map(seq_of)
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// The most requests the fake was handling at one time.
fn max_concurrency(records: &[Recorded]) -> usize {
    let mut edges: Vec<(Instant, i32)> = records
        .iter()
        .flat_map(|r| [(r.arrived, 1), (r.answered, -1)])
        .collect();
    // At equal instants, count an answer before an arrival.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// Requests whose body contains `marker`.
fn carrying<'a>(records: &'a [Recorded], marker: &str) -> Vec<&'a Recorded> {
    records.iter().filter(|r| r.contains(marker)).collect()
}

// ------------------------------------------------------------------ 1. golden end to end

fn golden(name: &str) -> Vec<Value> {
    read_jsonl(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/golden")
            .join(name),
    )
}

/// An operation as compared: the request path kind and the canonical body.
fn keyed(path: &str, op: &Value) -> (String, String) {
    let kind = match path {
        "/api/v1/metrics" => "metrics",
        _ => "v2",
    };
    (kind.to_string(), canonical(op))
}

fn multiset(
    items: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m
}

#[tokio::test]
async fn golden_corpus_through_the_running_relay_reaches_customerio_as_expected() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(
        &fake,
        Tuning {
            durability: "sync",
            ..Tuning::default()
        },
    )
    .await;
    // Two delivery metrics meet Google's HTML 502 on the way; their retries must not change
    // what arrives.
    fake.fail_next_on("/api/v1/metrics", 2, 502);

    let corpus: Vec<Value> = golden("corpus.jsonl")
        .into_iter()
        .map(|mut e| {
            // Segment's clock-skew correction would move every timestamp to arrival time.
            e.as_object_mut().expect("an event").remove("sentAt");
            e
        })
        .collect();
    let expected_lines = golden("expected.jsonl");
    assert_eq!(corpus.len(), expected_lines.len());

    let mut want = Vec::new();
    for line in &expected_lines {
        for req in line["requests"].as_array().into_iter().flatten() {
            assert_eq!(req["headers"]["authorization"], GOLDEN_AUTHORIZATION);
            let url = req["url"].as_str().expect("url");
            let path = url.trim_start_matches("https://track.customer.io");
            let body = &req["body"];
            if path == "/api/v2/batch" {
                for op in body["batch"].as_array().expect("batch") {
                    want.push(keyed(path, op));
                }
            } else {
                want.push(keyed(path, body));
            }
        }
    }
    assert!(want.len() > 200, "the expected file holds the whole corpus");

    relay.send(&corpus).await;
    relay.settle(&fake).await;
    fake.wait_for_ops(want.len(), DEADLINE).await;

    let records = fake.requests();
    let failed: Vec<&Recorded> = records.iter().filter(|r| !r.succeeded()).collect();
    assert_eq!(failed.len(), 2, "{}", fake.summary());
    assert!(failed
        .iter()
        .all(|r| r.path == "/api/v1/metrics" && r.answer == Answer::Status(502)));
    for r in &records {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.header("authorization"),
            GOLDEN_AUTHORIZATION,
            "#{}",
            r.seq
        );
        assert_eq!(r.header("content-type"), "application/json", "#{}", r.seq);
        if r.path != "/api/v1/metrics" {
            assert_eq!(r.answer, Answer::Status(200), "#{} {}", r.seq, r.body);
        }
    }
    let got = multiset(fake.delivered().iter().map(|d| keyed(&d.path, &d.op)));
    let want = multiset(want);
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, n)| got.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| k)
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, n)| want.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} expected operations missing:\n{}\n{} unexpected:\n{}",
        missing.len(),
        missing
            .iter()
            .map(|k| format!("  {k:?}"))
            .collect::<Vec<_>>()
            .join("\n"),
        extra.len(),
        extra
            .iter()
            .map(|k| format!("  {k:?}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    // v2 operations travel in batches (the presets batch), metrics one per request.
    for r in &records {
        assert!(
            r.path == "/api/v2/batch" || r.path == "/api/v1/metrics",
            "unexpected path {}",
            r.path
        );
    }
    assert!(
        relay.dead_letters().is_empty(),
        "{:?}",
        relay.dead_letters()
    );
}

// ------------------------------------------------------------------ 2. 429 and Retry-After

#[tokio::test]
async fn a_429_with_retry_after_pauses_the_whole_destination_that_long() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(&fake, Tuning::default()).await;
    fake.throttle_next(1, 2);

    // One person's events: one request, answered 429.
    let first: Vec<Value> = (0..5).map(|i| track("throttled", i, json!({}))).collect();
    relay.send(&first).await;
    let records = fake
        .wait_until("the 429", DEADLINE, |r| {
            r.iter().any(|r| r.answer == Answer::Status(429))
        })
        .await;
    let throttled = records
        .iter()
        .find(|r| r.answer == Answer::Status(429))
        .expect("a 429")
        .clone();
    // Once the relay has taken the 429 in, send events for other people (other lanes): the
    // pause covers them too.
    let deadline = Instant::now() + DEADLINE;
    while relay.retries() == 0 {
        assert!(Instant::now() < deadline, "the relay never handled the 429");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let others = rounds("other", 12, 2);
    relay.send(&others).await;

    let mut want = ids(&first);
    want.extend(ids(&others));
    relay.settle(&fake).await;
    assert_delivered_once(&fake.received_ops(), &want);

    let all = fake.requests();
    let later: Vec<&Recorded> = all.iter().filter(|r| r.seq > throttled.seq).collect();
    assert!(!later.is_empty());
    for r in &later {
        let gap = r.arrived.duration_since(throttled.answered);
        assert!(
            gap >= Duration::from_secs(2),
            "request #{} arrived {gap:?} after the 429 (Retry-After: 2)",
            r.seq
        );
    }
    assert_eq!(relay.requests_with_status("429"), 1);
}

#[tokio::test]
async fn a_throttle_that_outlasts_retry_after_is_waited_out_each_time() {
    let fake = FakeCio::start().await;
    // One request at a time, so every request after a 429 was sent knowing of it.
    let relay = spawn_relay(
        &fake,
        Tuning {
            max_in_flight: 1,
            ..Tuning::default()
        },
    )
    .await;
    let throttled_for = Duration::from_millis(2500);
    fake.throttle_for(throttled_for, 1);
    let started = Instant::now();
    let events = rounds("throttle", 10, 3);
    relay.send(&events).await;
    relay.settle(&fake).await;
    assert_delivered_once(&fake.received_ops(), &ids(&events));

    let records = fake.requests();
    let throttled: Vec<&Recorded> = records
        .iter()
        .filter(|r| r.answer == Answer::Status(429))
        .collect();
    assert!(throttled.len() >= 2, "{}", fake.summary());
    // After each 429 the destination waits its Retry-After: no request arrives within a
    // second of a 429's answer.
    for t in &throttled {
        for r in records.iter().filter(|r| r.seq > t.seq) {
            assert!(
                r.arrived.duration_since(t.answered) >= Duration::from_secs(1),
                "#{} arrived {:?} after the 429 of #{}",
                r.seq,
                r.arrived.duration_since(t.answered),
                t.seq
            );
        }
    }
    // Waiting out 2.5 s in steps of at least 1 s takes a handful of requests, not a storm.
    assert!(
        throttled.len() <= 4,
        "{} requests throttled",
        throttled.len()
    );
    assert!(records.last().expect("requests").arrived >= started + throttled_for);
}

// ------------------------------------------------------------------ 3. an outage

#[tokio::test]
async fn a_run_of_503s_then_recovery_delivers_everything_exactly_once() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(&fake, Tuning::default()).await;
    let started = Instant::now();
    fake.fail_for(OUTAGE, 503);

    // Keep sending while Customer.io is down: a wave every quarter of a second.
    let mut want = Vec::new();
    let mut wave = 0;
    while started.elapsed() < OUTAGE {
        let events: Vec<Value> = (0..20)
            .map(|p| track(&format!("outage-{p}"), wave, json!({})))
            .collect();
        relay.send(&events).await;
        want.extend(ids(&events));
        wave += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    relay.settle(&fake).await;

    let records = fake.requests();
    let failed = records
        .iter()
        .filter(|r| r.answer == Answer::Status(503))
        .count();
    assert!(failed > 0, "the outage was seen");
    let first_ok = records
        .iter()
        .find(|r| r.succeeded())
        .expect("something was delivered");
    assert!(
        first_ok.arrived >= started + OUTAGE,
        "delivered during the outage?"
    );
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &want);
    assert_per_person_order(&delivered);
    assert!(relay.dead_letters().is_empty());
    assert_eq!(relay.requests_with_status("503") as usize, failed);
}

// ------------------------------------------------------------------ 4. per-person order

#[tokio::test]
async fn each_persons_operations_arrive_in_order_despite_parallelism_latency_and_failures() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(
        &fake,
        Tuning {
            max_in_flight: 8,
            ..Tuning::default()
        },
    )
    .await;
    fake.set_latency(Duration::ZERO, Duration::from_millis(25));
    fake.fail_every(5, 500);
    fake.drop_next(2);

    // 50 people × 20 events, sent round by round so everyone's events interleave.
    let events = rounds("order", 50, 20);
    for round in events.chunks(50) {
        relay.send(round).await;
    }
    relay.settle(&fake).await;

    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &ids(&events));
    assert_per_person_order(&delivered);

    // The conditions were real: failures, drops, and requests overlapping in time.
    let records = fake.requests();
    assert!(records.iter().any(|r| r.answer == Answer::Status(500)));
    assert_eq!(
        records
            .iter()
            .filter(|r| r.answer == Answer::Dropped)
            .count(),
        2
    );
    let concurrency = max_concurrency(&records);
    eprintln!(
        "{} requests for {} operations, at most {concurrency} at once",
        records.len(),
        events.len()
    );
    assert!(
        concurrency > 1,
        "no two requests were ever in flight together"
    );
    assert!(
        records.iter().any(|r| r.ops().len() > 1),
        "operations were batched"
    );
}

// ------------------------------------------------------------------ 5. poisoned operations

/// One person's `n` events with the one at `bad` carrying `marker`, plus two events each for
/// eight other people.
fn with_one_marked(user: &str, n: usize, bad: usize, marker: &str) -> Vec<Value> {
    let mut events: Vec<Value> = (0..n)
        .map(|i| {
            let extra = if i == bad {
                json!({ "note": marker })
            } else {
                json!({})
            };
            track(user, i, extra)
        })
        .collect();
    events.extend(rounds(&format!("{user}-bystander"), 8, 2));
    events
}

/// Checks a dead letter against the event it came from.
#[track_caller]
fn assert_letter(letter: &Value, event: &Value, reason: &str, status: Option<u16>) {
    assert_eq!(letter["destination"], DESTINATION);
    assert_eq!(letter["subscription"], "Track Event");
    assert_eq!(letter["action"], "trackEvent");
    assert_eq!(letter["reason"], reason, "{letter}");
    assert_eq!(letter["status"], json!(status), "{letter}");
    assert_eq!(letter["event"]["messageId"], event["messageId"]);
    assert_eq!(letter["event"]["properties"], event["properties"]);
    assert_eq!(letter["operation"]["id"], event["messageId"]);
    assert_eq!(letter["operation"]["attributes"], event["properties"]);
    assert!(letter["time"].is_string());
}

#[tokio::test]
async fn a_207_dead_letters_only_the_refused_operation_of_a_batch() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(&fake, Tuning::default()).await;
    fake.refuse_ops_containing("REFUSE-ME");
    let events = with_one_marked("partial", 10, 4, "REFUSE-ME");
    relay.send(&events).await;
    relay.settle(&fake).await;

    let records = fake.requests();
    let refusing = carrying(&records, "REFUSE-ME");
    assert_eq!(refusing.len(), 1, "a 207 is not resent");
    let answer = refusing[0];
    assert_eq!(answer.answer, Answer::Status(207));
    assert!(
        answer.ops().len() > 1,
        "the marked operation shared its batch"
    );
    assert_eq!(answer.refused.len(), 1);
    let index = answer.refused[0];

    let bad = &events[4];
    let mut want = ids(&events);
    want.retain(|id| id != "partial-4");
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &want);
    assert_per_person_order(&delivered);

    let letters = relay.wait_dead_letters(1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_letter(letter, bad, "refused", Some(207));
    // Customer.io's own words for it, with its place in the batch.
    let entries = letter["response"]
        .as_array()
        .expect("the batch error entries");
    assert_eq!(entries.len(), 1, "{letter}");
    assert_eq!(entries[0]["batch_index"], json!(index));
    assert_eq!(entries[0]["reason"], "invalid");
    assert_eq!(entries[0]["field"], "name");
    assert_eq!(entries[0]["message"], "refused by the fake");
}

#[tokio::test]
async fn a_batch_refused_whole_is_split_until_only_the_poisoned_operation_is_dead_lettered() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(&fake, Tuning::default()).await;
    fake.poison("POISON-PILL");
    let events = with_one_marked("split", 16, 11, "POISON-PILL");
    relay.send(&events).await;
    relay.settle(&fake).await;

    let records = fake.requests();
    let poisoned = carrying(&records, "POISON-PILL");
    assert!(
        poisoned.iter().all(|r| r.answer == Answer::Status(400)),
        "every request carrying the poison is refused whole"
    );
    assert!(poisoned.first().expect("sent").ops().len() >= 16);
    assert_eq!(
        poisoned.last().expect("sent").ops().len(),
        1,
        "the relay split down to the one operation"
    );
    // Halving: about log2(batch) refused requests, not one per operation.
    assert!(poisoned.len() <= 8, "{} refused requests", poisoned.len());

    let mut want = ids(&events);
    want.retain(|id| id != "split-11");
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &want);
    assert_per_person_order(&delivered);

    let letters = relay.wait_dead_letters(1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_letter(&letters[0], &events[11], "refused", Some(400));
    assert_eq!(
        letters[0]["response"]["errors"][0]["message"],
        "poisoned operation"
    );
    assert_eq!(relay.retries(), 0, "a 400 is not retried");
}

// ------------------------------------------------------------------ 6. too large

#[tokio::test]
async fn an_operation_over_the_size_limit_is_dead_lettered_and_never_sent() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(
        &fake,
        Tuning {
            max_operation_bytes: 4_000,
            ..Tuning::default()
        },
    )
    .await;
    let big = format!("TOO-BIG-{}", "x".repeat(5_000));
    let events = with_one_marked("large", 3, 1, &big);
    relay.send(&events).await;
    relay.settle(&fake).await;

    assert!(
        carrying(&fake.requests(), "TOO-BIG").is_empty(),
        "the oversized operation reached Customer.io"
    );
    let mut want = ids(&events);
    want.retain(|id| id != "large-1");
    assert_delivered_once(&fake.received_ops(), &want);

    let letters = relay.wait_dead_letters(1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_letter(letter, &events[1], "too_large", None);
    let size = letter["operation"].to_string().len();
    assert!(size > 4_000, "{size}");
    assert!(
        letter["response"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("4000")),
        "{letter}"
    );
}

// ------------------------------------------------------------------ 7. retry classification

/// Track Event in single mode: one `/api/v2/entity` request per operation.
const SINGLE_TRACK: &str = r#"
[[destinations.subscriptions]]
name = "Track Event"
[destinations.subscriptions.mapping]
enable_batching = false
"#;

#[tokio::test]
async fn a_400_on_a_single_entity_is_dead_lettered_without_retry() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(
        &fake,
        Tuning {
            extra: SINGLE_TRACK,
            ..Tuning::default()
        },
    )
    .await;
    fake.poison("BAD-ENTITY");
    let events: Vec<Value> = (0..4)
        .map(|i| {
            let extra = if i == 1 {
                json!({ "note": "BAD-ENTITY" })
            } else {
                json!({})
            };
            track("entity", i, extra)
        })
        .collect();
    relay.send(&events).await;
    relay.settle(&fake).await;

    let records = fake.requests();
    assert!(records.iter().all(|r| r.path == "/api/v2/entity"));
    let bad = carrying(&records, "BAD-ENTITY");
    assert_eq!(bad.len(), 1, "the refused entity was sent again");
    assert_eq!(bad[0].answer, Answer::Status(400));
    assert_eq!(relay.retries(), 0);

    let delivered = fake.received_ops();
    assert_delivered_once(
        &delivered,
        &["entity-0", "entity-2", "entity-3"].map(String::from),
    );
    assert_per_person_order(&delivered);
    let letters = relay.wait_dead_letters(1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_letter(&letters[0], &events[1], "refused", Some(400));
    assert_eq!(
        letters[0]["response"]["errors"][0]["message"],
        "poisoned operation"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(&fake, Tuning::default()).await;
    fake.drop_next(2);
    let events = rounds("dropped", 6, 3);
    relay.send(&events).await;
    relay.settle(&fake).await;

    let records = fake.requests();
    let dropped: Vec<&Recorded> = records
        .iter()
        .filter(|r| r.answer == Answer::Dropped)
        .collect();
    assert_eq!(dropped.len(), 2);
    // The relay saw a failed connection (not a timeout) and sent the operations again.
    assert_eq!(relay.requests_with_status("error"), 2);
    assert_eq!(relay.requests_with_status("timeout"), 0);
    assert!(relay.retries() >= 2);
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &ids(&events));
    for d in &dropped {
        for op in d.ops() {
            assert!(delivered.contains(&op), "{} was not resent", id_of(&op));
        }
    }
    assert!(relay.dead_letters().is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_dead_lettered_not_retried() {
    let fake = FakeCio::with_credentials("site_test", "another_key").await;
    let relay = spawn_relay(&fake, Tuning::default()).await;
    let events: Vec<Value> = (0..3).map(|i| track("creds", i, json!({}))).collect();
    relay.send(&events).await;
    relay.settle(&fake).await;

    let records = fake.requests();
    assert_eq!(records.len(), 1, "{}", fake.summary());
    assert_eq!(records[0].answer, Answer::Status(401));
    assert!(fake.received_ops().is_empty());
    let letters = relay.wait_dead_letters(3).await;
    assert_eq!(letters.len(), 3);
    for (letter, event) in letters.iter().zip(&events) {
        assert_letter(letter, event, "refused", Some(401));
    }
}

/// Batch requests' sizes, and the average operations per request.
fn batch_sizes(fake: &FakeCio, ops: usize) -> (Vec<usize>, f64) {
    let records = fake.requests();
    assert!(records.iter().all(|r| r.path == "/api/v2/batch"));
    let sizes: Vec<usize> = records.iter().map(|r| r.ops().len()).collect();
    let average = ops as f64 / sizes.len() as f64;
    assert!(
        sizes.iter().all(|&n| n <= 50),
        "the presets' batch_size is 50: {sizes:?}"
    );
    (sizes, average)
}

/// The relay's own delivery defaults: 16 requests in flight, so 16 lanes, and 200 ms linger.
fn default_delivery() -> Tuning {
    Tuning {
        linger_ms: 200,
        max_in_flight: 16,
        ..Tuning::default()
    }
}

#[tokio::test]
async fn a_burst_of_track_events_travels_in_full_batches() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(&fake, default_delivery()).await;
    let events = rounds("burst", 200, 5);
    assert_eq!(events.len(), 1000);
    relay.send(&events).await;
    relay.settle(&fake).await;

    assert_delivered_once(&fake.received_ops(), &ids(&events));
    let (sizes, average) = batch_sizes(&fake, events.len());
    assert!(
        average >= 40.0,
        "{average:.1} operations per request: {sizes:?}"
    );
}

#[tokio::test]
async fn sustained_traffic_spread_over_many_people_travels_in_full_batches() {
    // 500 events a second for 2 s, 400 people, each request taking ~50 ms: every lane gets a
    // few operations per linger, so only batches drawing on every lane come out full.
    let fake = FakeCio::start().await;
    fake.set_latency(Duration::from_millis(40), Duration::from_millis(60));
    let relay = spawn_relay(&fake, default_delivery()).await;
    let events = rounds("steady", 400, 2);
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    for chunk in events.chunks(50) {
        ticks.tick().await;
        relay.send(chunk).await;
    }
    relay.settle(&fake).await;

    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &ids(&events));
    assert_per_person_order(&delivered);
    let (sizes, average) = batch_sizes(&fake, events.len());
    assert!(
        average >= 40.0,
        "{average:.1} operations per request: {sizes:?}"
    );
}

// ------------------------------------------------------------------ shutdown

#[tokio::test]
async fn a_graceful_shutdown_loses_nothing_and_a_restart_delivers_the_rest() {
    let fake = FakeCio::start().await;
    let tuning = Tuning {
        durability: "sync",
        shutdown_timeout_secs: 1,
        ..Tuning::default()
    };
    let mut relay = spawn_relay(&fake, tuning.clone()).await;
    fake.set_latency(Duration::from_millis(20), Duration::from_millis(50));
    // The first half is delivered; then Customer.io fails for longer than the shutdown
    // deadline, so the second half is still undelivered when the relay stops.
    let events = rounds("shutdown", 30, 4);
    let (first, second) = events.split_at(60);
    relay.send(first).await;
    relay.settle(&fake).await;
    fake.fail_for(Duration::from_secs(4), 503);
    relay.send(second).await;
    relay.shutdown().await;

    // `run` returned: what was delivered is acknowledged, the rest waits in the spool.
    let delivered = fake.received_ops().len() as u64;
    let left = relay.pending();
    assert_eq!(delivered, first.len() as u64, "{}", fake.summary());
    assert_eq!(
        left,
        second.len() as u64,
        "{delivered} delivered and {left} left in the spool"
    );

    // A new relay on the same data directory delivers the rest, and nothing twice.
    let data_dir = relay.data_dir.clone();
    drop(relay);
    let relay = spawn_relay_in(data_dir, &fake, tuning).await;
    relay.settle(&fake).await;
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &ids(&events));
    assert_per_person_order(&delivered);
}

#[tokio::test]
async fn a_graceful_shutdown_in_memory_mode_delivers_what_was_accepted() {
    // Memory mode keeps nothing across a restart, so a graceful shutdown must deliver what it
    // accepted before it exits (within the shutdown deadline).
    let fake = FakeCio::start().await;
    let mut relay = spawn_relay(
        &fake,
        Tuning {
            durability: "memory",
            ..Tuning::default()
        },
    )
    .await;
    // Customer.io refuses everything while the events arrive, so delivery holds as many as it
    // takes at once and the rest still wait in the (memory) spool when shutdown begins.
    fake.fail_for(Duration::from_secs(4), 503);
    let events = rounds("memory-shutdown", 50, 200);
    relay.send(&events).await;
    relay.shutdown().await;
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &ids(&events));
}

// ------------------------------------------------------------------ pacing

/// Track events named "Single Step" go one per `/api/v2/entity` request; others batch as usual.
const SINGLE_STEPS: &str = r#"
[[destinations.subscriptions]]
name = "Track Event"
trigger = 'type = "track" and event != "Single Step"'

[[destinations.subscriptions]]
name = "Single Steps"
trigger = 'type = "track" and event = "Single Step"'
action = "trackEvent"
[destinations.subscriptions.mapping]
enable_batching = false
"#;

#[tokio::test]
async fn the_rate_limit_is_spent_only_on_requests_that_go_out() {
    let fake = FakeCio::start().await;
    let relay = spawn_relay(
        &fake,
        Tuning {
            max_requests_per_second: 1,
            linger_ms: 50,
            extra: SINGLE_STEPS,
            ..Tuning::default()
        },
    )
    .await;
    // A lone batched operation leaves after its linger: the one token of the budget is not
    // spent while its batch is still waiting for company.
    let sent = Instant::now();
    relay.send(&[track("paced", 0, json!({}))]).await;
    let records = fake
        .wait_until("the request", DEADLINE, |r| !r.is_empty())
        .await;
    let waited = records[0].arrived.duration_since(sent);
    // The bug this guards against costs a whole token period (1 s); anything under it, on
    // however busy a machine, means the token was not spent while the batch lingered.
    assert!(
        waited < Duration::from_millis(950),
        "a lone operation waited {waited:?} with a 50 ms linger and a free rate budget"
    );

    // The limit itself holds: three single requests go out at least a second apart.
    let events: Vec<Value> = (0..3)
        .map(|p| {
            let mut e = track(&format!("paced-{p}"), 1, json!({}));
            e["event"] = json!("Single Step");
            e
        })
        .collect();
    relay.send(&events).await;
    relay.settle(&fake).await;
    let records = fake.requests();
    assert_eq!(records.len(), 4, "{}", fake.summary());
    for pair in records.windows(2) {
        let gap = pair[1].arrived.duration_since(pair[0].arrived);
        assert!(
            gap >= Duration::from_millis(900),
            "requests #{} and #{} {gap:?} apart at 1 request/s",
            pair[0].seq,
            pair[1].seq
        );
    }
    assert_delivered_once(
        &fake.received_ops(),
        &ids(&events)
            .into_iter()
            .chain(["paced-0".to_string()])
            .collect::<Vec<_>>(),
    );
}

// ------------------------------------------------------------------ replay

#[tokio::test]
async fn replay_sends_dead_letters_and_plain_events_through_delivery_again() {
    let fake = FakeCio::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        r#"[server]
data_dir = "{data}"
log_level = "warn"
[[sources]]
name = "web"
write_key = "k"
[[destinations]]
name = "prod"
site_id = "{site}"
api_key = "{key}"
base_url = "{base}"
[destinations.delivery]
linger_ms = 20
"#,
        data = dir.path().join("data").display(),
        site = crate::fake_cio::SITE_ID,
        key = crate::fake_cio::API_KEY,
        base = fake.base_url(),
    );
    let config_path = dir.path().join("relay.toml");
    std::fs::write(&config_path, config).expect("write config");
    let dead = json!({
        "time": "2026-11-23T10:00:00.000Z", "destination": "prod", "subscription": "Track Event",
        "action": "trackEvent", "reason": "retries_exhausted", "status": 503, "response": {},
        "operation": {"type": "person", "action": "event", "name": "Replayed"},
        "event": track("replay-user", 1, json!({}))
    });
    let plain = track("replay-user", 2, json!({}));
    let file = dir.path().join("letters.jsonl");
    std::fs::write(&file, format!("{dead}\n{plain}\nnot json\n")).expect("write letters");

    let out = tokio::process::Command::from(crate::helpers::relay_command())
        .arg("replay")
        .arg(&file)
        .arg("--config")
        .arg(&config_path)
        .output()
        .await
        .expect("run replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("replayed 2 events: 2 completed"),
        "{stdout}"
    );
    assert!(stdout.contains("1 lines skipped"), "{stdout}");
    let delivered = fake.received_ops();
    assert_delivered_once(&delivered, &ids(&[dead["event"].clone(), plain]));
}
