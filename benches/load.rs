//! Load benchmark: starts the relay as its own process against a fast in-process fake
//! Customer.io, drives it over HTTP from this process, and prints throughput, latency and the
//! relay's peak memory. Figures go to docs/performance.md, never into a test's pass/fail.
//!
//! ```sh
//! cargo bench --bench load -- batch --seconds 20 --durability sync
//! cargo bench --bench load -- track --seconds 20 --durability sync
//! cargo bench --bench load -- rate --rps 5000 --seconds 20
//! ```
//!
//! Scenarios: `batch` (`/v1/batch` with `--events` events per request, as fast as
//! `--connections` allow), `track` (`/v1/track`, one event per request, as fast as possible),
//! `rate` (`/v1/track` at a fixed `--rps`, latency measured from each request's scheduled start
//! so that a stall shows up instead of being hidden), `batch-rate` (the same with `/v1/batch`
//! requests of `--events` events: `--rps 1000` offers 100,000 events/s), `external` (starts the
//! relay and the fake, prints the address, and for `--seconds` reports what another load
//! generator achieves, e.g. `wrk -s benches/wrk/track.lua`; see docs/performance.md).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use hdrhistogram::Histogram;
use tokio::sync::Mutex;

const WRITE_KEY: &str = "load-write-key";
/// The relay's per-destination request rate limit in the benchmark (see the config comment).
const RELAY_RPS_LIMIT: u32 = 20_000;
/// Requests in flight to the fake.
const RELAY_IN_FLIGHT: usize = 32;
/// How long a closed-loop connection waits after a 503.
const REFUSED_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
struct Opts {
    scenario: String,
    seconds: u64,
    connections: usize,
    events: usize,
    rps: u64,
    durability: String,
    spool_max: usize,
    dedup_hours: u64,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        scenario: "batch".into(),
        seconds: 15,
        connections: 32,
        events: 100,
        rps: 5000,
        durability: "sync".into(),
        spool_max: 100_000,
        dedup_hours: 24,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "batch" | "track" | "rate" | "batch-rate" | "external" => o.scenario = a,
            "--seconds" => o.seconds = val().parse().unwrap_or(o.seconds),
            "--connections" => o.connections = val().parse().unwrap_or(o.connections),
            "--events" => o.events = val().parse().unwrap_or(o.events),
            "--rps" => o.rps = val().parse().unwrap_or(o.rps),
            "--durability" => o.durability = val(),
            "--spool-max" => o.spool_max = val().parse().unwrap_or(o.spool_max),
            "--dedup-hours" => o.dedup_hours = val().parse().unwrap_or(o.dedup_hours),
            other => eprintln!("ignoring argument {other}"),
        }
    }
    o
}

/// What the fake Customer.io saw.
#[derive(Default)]
struct FakeStats {
    requests: AtomicU64,
    batch_requests: AtomicU64,
    ops: AtomicU64,
    batch_ops: AtomicU64,
}

#[derive(serde::Deserialize)]
struct BatchBody {
    batch: Vec<serde::de::IgnoredAny>,
}

/// `POST /api/v2/batch`: counts the batch's operations.
async fn fake_batch(State(s): State<Arc<FakeStats>>, body: Bytes) -> &'static str {
    let n = serde_json::from_slice::<BatchBody>(&body).map_or(0, |b| b.batch.len()) as u64;
    s.requests.fetch_add(1, Ordering::Relaxed);
    s.batch_requests.fetch_add(1, Ordering::Relaxed);
    s.ops.fetch_add(n, Ordering::Relaxed);
    s.batch_ops.fetch_add(n, Ordering::Relaxed);
    "{}"
}

/// `POST /api/v2/entity` and `/api/v1/metrics`: one operation each.
async fn fake_single(State(s): State<Arc<FakeStats>>) -> &'static str {
    s.requests.fetch_add(1, Ordering::Relaxed);
    s.ops.fetch_add(1, Ordering::Relaxed);
    "{}"
}

async fn start_fake() -> (SocketAddr, Arc<FakeStats>) {
    let stats = Arc::new(FakeStats::default());
    let app = Router::new()
        .route("/api/v2/batch", post(fake_batch))
        .route("/api/v2/entity", post(fake_single))
        .route("/api/v1/metrics", post(fake_single))
        .with_state(stats.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, stats)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_relay(
    fake: SocketAddr,
    port: u16,
    durability: &str,
    spool_max: usize,
    dedup_hours: u64,
    dir: &std::path::Path,
) -> Child {
    let config = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
log_level = "warn"
data_dir = "{data}"
durability = "{durability}"
spool_max_events = {spool_max}
dedup_window_hours = {dedup_hours}

[[sources]]
name = "load"
write_key = "{WRITE_KEY}"

[[destinations]]
name = "fake"
site_id = "site"
api_key = "key"
base_url = "http://{fake}"

# Customer.io documents 1,000 requests/s; at 50 operations per batch that alone caps delivery
# at 50,000 operations/s. The fake has no such limit, so the benchmark lifts it to measure the
# relay itself.
[destinations.delivery]
max_requests_per_second = {rps_limit}
max_in_flight = {in_flight}
"#,
        rps_limit = RELAY_RPS_LIMIT,
        in_flight = RELAY_IN_FLIGHT,
        data = dir.join("data").display(),
    );
    let path = dir.join("relay.toml");
    std::fs::write(&path, config).expect("write config");
    Command::new(env!("CARGO_BIN_EXE_cio-relay"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the relay")
}

/// CPU seconds (user + system) a process has used so far (Linux `/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of a process, in MiB (Linux `VmHWM`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// One realistic track event (~550 bytes) with a unique messageId.
fn event(n: u64) -> String {
    format!(
        r#"{{"type":"track","event":"Order Completed","userId":"user_{user}","anonymousId":"anon-{user}","messageId":"load-{n}","timestamp":"2024-06-01T10:00:00.000Z","properties":{{"order_id":"o-{n}","total":99.5,"currency":"USD","shipped_at":"2024-06-02T08:00:00Z","items":[{{"sku":"A-1","qty":2}},{{"sku":"B-7","qty":1}}],"coupon":"SUMMER"}},"context":{{"ip":"203.0.113.9","library":{{"name":"analytics-node","version":"3.1.0"}},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}}}}"#,
        user = n % 10_000
    )
}

fn batch_body(events: usize) -> String {
    let mut s = String::with_capacity(events * 600 + 64);
    s.push_str(r#"{"batch":["#);
    for i in 0..events {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&event(SEQ.fetch_add(1, Ordering::Relaxed)));
    }
    s.push_str("]}");
    s
}

struct Results {
    latency: Histogram<u64>,
    ok_requests: u64,
    full_requests: u64,
    failed_requests: u64,
    events: u64,
}

async fn drive(opts: &Opts, relay: SocketAddr) -> Results {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.connections)
        .build()
        .expect("client");
    let results = Arc::new(Mutex::new(Results {
        latency: Histogram::new(3).expect("histogram"),
        ok_requests: 0,
        full_requests: 0,
        failed_requests: 0,
        events: 0,
    }));
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let mut tasks = Vec::new();
    let (path, per_request) = match opts.scenario.as_str() {
        "batch" | "batch-rate" => ("/v1/batch", opts.events),
        _ => ("/v1/track", 1),
    };
    let url = format!("http://{relay}{path}");
    if opts.scenario == "rate" || opts.scenario == "batch-rate" {
        // Open loop: one request every 1/rps, each on its own task, latency from the schedule.
        let interval = Duration::from_nanos(1_000_000_000 / opts.rps.max(1));
        let start = Instant::now();
        let mut n: u64 = 0;
        while Instant::now() < deadline {
            let scheduled = start + interval * (n as u32);
            tokio::time::sleep_until(scheduled.into()).await;
            n += 1;
            let client = client.clone();
            let url = url.clone();
            let results = results.clone();
            tasks.push(tokio::spawn(async move {
                let body = if per_request == 1 {
                    event(SEQ.fetch_add(1, Ordering::Relaxed))
                } else {
                    batch_body(per_request)
                };
                let outcome = send(&client, &url, body).await;
                let micros = scheduled.elapsed().as_micros() as u64;
                record(&results, outcome, micros, per_request as u64).await;
            }));
        }
    } else {
        for _ in 0..opts.connections {
            let client = client.clone();
            let url = url.clone();
            let results = results.clone();
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let body = if per_request == 1 {
                        event(SEQ.fetch_add(1, Ordering::Relaxed))
                    } else {
                        batch_body(per_request)
                    };
                    let started = Instant::now();
                    let outcome = send(&client, &url, body).await;
                    let full = outcome == Outcome::Full;
                    record(
                        &results,
                        outcome,
                        started.elapsed().as_micros() as u64,
                        per_request as u64,
                    )
                    .await;
                    if full {
                        // As clients do on a 503 (briefly, so the run measures the relay's
                        // sustained rate rather than a storm of refusals).
                        tokio::time::sleep(REFUSED_PAUSE).await;
                    }
                }
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(results)
        .ok()
        .expect("tasks done")
        .into_inner()
}

/// Sends one request.
async fn send(client: &reqwest::Client, url: &str, body: String) -> Outcome {
    match client
        .post(url)
        .basic_auth(WRITE_KEY, Some(""))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Outcome::Accepted,
        Ok(r) if r.status().as_u16() == 503 => Outcome::Full,
        _ => Outcome::Failed,
    }
}

#[derive(PartialEq)]
enum Outcome {
    Accepted,
    /// 503: the spool is full (backpressure).
    Full,
    Failed,
}

/// Counts a request; the latency figures are of accepted requests only (a refusal is fast
/// and would flatter them).
async fn record(results: &Mutex<Results>, outcome: Outcome, micros: u64, events: u64) {
    let mut r = results.lock().await;
    match outcome {
        Outcome::Accepted => {
            let _ = r.latency.record(micros.max(1));
            r.ok_requests += 1;
            r.events += events;
        }
        Outcome::Full => r.full_requests += 1,
        Outcome::Failed => r.failed_requests += 1,
    }
}

/// Serves for `--seconds` while another generator drives the relay, printing each second's
/// delivered operations, then the relay's CPU and peak memory over the busy seconds.
async fn external(opts: &Opts, relay: &mut Child, addr: SocketAddr, stats: &FakeStats) {
    println!(
        "relay listening on http://{addr} (write key {WRITE_KEY:?}); serving for {} s",
        opts.seconds
    );
    println!("e.g. wrk -t1 -c64 -d20s -s benches/wrk/track.lua http://{addr}");
    let mut busy_ops = 0u64;
    let mut busy_secs = 0u64;
    let mut busy_cpu = 0.0;
    let mut last_ops = 0u64;
    let mut last_cpu = cpu_seconds(relay.id()).unwrap_or(0.0);
    for _ in 0..opts.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ops = stats.ops.load(Ordering::Relaxed);
        let cpu = cpu_seconds(relay.id()).unwrap_or(0.0);
        let (d_ops, d_cpu) = (ops - last_ops, cpu - last_cpu);
        (last_ops, last_cpu) = (ops, cpu);
        if d_ops > 0 {
            println!("{d_ops} operations/s delivered, relay CPU {d_cpu:.2} cores");
            busy_ops += d_ops;
            busy_secs += 1;
            busy_cpu += d_cpu;
        }
    }
    if busy_secs > 0 {
        println!(
            "busy seconds: {busy_secs}, mean {:.0} operations/s delivered, relay CPU {:.2} cores ({:.1} us per operation)",
            busy_ops as f64 / busy_secs as f64,
            busy_cpu / busy_secs as f64,
            busy_cpu * 1e6 / busy_ops as f64
        );
    }
    let batches = stats.batch_requests.load(Ordering::Relaxed).max(1);
    println!(
        "delivered: {} operations ({:.1} ops per batch request)",
        stats.ops.load(Ordering::Relaxed),
        stats.batch_ops.load(Ordering::Relaxed) as f64 / batches as f64
    );
    match peak_rss_mib(relay.id()) {
        Some(mb) => println!("relay peak RSS: {mb:.1} MiB"),
        None => println!("relay peak RSS: unavailable"),
    }
    let _ = relay.kill();
    let _ = relay.wait();
}

fn main() {
    let opts = parse_args();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (fake, stats) = start_fake().await;
        let port = free_port();
        let mut relay = start_relay(
            fake,
            port,
            &opts.durability,
            opts.spool_max,
            opts.dedup_hours,
            dir.path(),
        );
        let relay_addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let client = reqwest::Client::new();
        let ready_by = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("http://{relay_addr}/readyz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < ready_by, "the relay did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if opts.scenario == "external" {
            external(&opts, &mut relay, relay_addr, &stats).await;
            return;
        }
        println!(
            "scenario={} seconds={} connections={} events_per_request={} rps={} durability={}",
            opts.scenario, opts.seconds, opts.connections, opts.events, opts.rps, opts.durability
        );
        let started = Instant::now();
        let cpu_before = cpu_seconds(relay.id()).unwrap_or(0.0);
        let r = drive(&opts, relay_addr).await;
        let cpu_during = cpu_seconds(relay.id()).unwrap_or(0.0) - cpu_before;
        let elapsed = started.elapsed().as_secs_f64();
        let delivered_during_load = stats.ops.load(Ordering::Relaxed);
        // Let delivery catch up (bounded), then read what the fake received.
        let expected_ops = r.events;
        let drain_by = Instant::now() + Duration::from_secs(60);
        while stats.ops.load(Ordering::Relaxed) < expected_ops && Instant::now() < drain_by {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let drained_after = started.elapsed().as_secs_f64() - elapsed;
        let h = &r.latency;
        println!(
            "accepted: {} events in {} requests ({} answered 503 while the spool was full, {} failed)",
            r.events, r.ok_requests, r.full_requests, r.failed_requests
        );
        println!(
            "end to end: {:.0} operations/s delivered to the fake while the load ran",
            delivered_during_load as f64 / elapsed
        );
        println!("throughput: {:.0} events/s, {:.0} requests/s", r.events as f64 / elapsed, r.ok_requests as f64 / elapsed);
        println!(
            "latency of accepted requests: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.value_at_quantile(0.999) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
        let ops = stats.ops.load(Ordering::Relaxed);
        let batches = stats.batch_requests.load(Ordering::Relaxed).max(1);
        println!(
            "delivered: {} operations in {} requests to the fake ({:.1} ops per batch request), {:.1} s after load stopped",
            ops,
            stats.requests.load(Ordering::Relaxed),
            stats.batch_ops.load(Ordering::Relaxed) as f64 / batches as f64,
            drained_after
        );
        println!(
            "relay CPU while loaded: {:.2} cores ({:.1} us per delivered operation)",
            cpu_during / elapsed,
            cpu_during * 1e6 / delivered_during_load.max(1) as f64
        );
        match peak_rss_mib(relay.id()) {
            Some(mb) => println!("relay peak RSS: {mb:.1} MiB"),
            None => println!("relay peak RSS: unavailable"),
        }
        let _ = relay.kill();
        let _ = relay.wait();
    });
}
