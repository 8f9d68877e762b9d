//! Durability end to end: the relay binary runs as its own process (`cio-relay serve`) on a
//! data directory that outlives it, in front of the fake Customer.io of [`crate::fake_cio`].
//! The tests kill it with SIGKILL or stop it with SIGTERM at awkward moments, damage its spool
//! between runs, fill it up, and check the promise of the spool: every event the relay
//! answered 2xx is delivered, whatever happens to the process in between.
//!
//! Events are track events with a unique messageId; the Track Event action sends the
//! messageId as the operation's `id`, so what reached the fake is matched by that field.
//! Every wait polls with a deadline; no outcome depends on how fast the machine is. Figures
//! worth a look (duplicates after kills, events acknowledged) are printed to stderr: run with
//! `--nocapture` to see them.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::fake_cio::{FakeCio, API_KEY, SITE_ID};

/// The write key of the relay's one source.
const WRITE_KEY: &str = "wk_durability_0123456789abcdef";
/// Longest wait for the relay to answer `/readyz` after it starts.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// Longest wait for everything acknowledged to reach the fake.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(40);
/// How often the waits look again.
const POLL: Duration = Duration::from_millis(50);

// ------------------------------------------------------------------ the relay process

/// The `[server]` settings a test varies.
#[derive(Debug, Clone)]
struct Settings {
    durability: &'static str,
    spool_max_events: usize,
    shutdown_timeout_secs: u64,
    dedup_window_hours: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            durability: "sync",
            spool_max_events: 1_000_000,
            shutdown_timeout_secs: 5,
            dedup_window_hours: 24,
        }
    }
}

/// Where a relay listens, shared with the tasks that send to it.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    port: Arc<AtomicU16>,
}

/// What became of one POST.
#[derive(Debug)]
enum Posted {
    /// 2xx: the relay took the events.
    Accepted,
    /// Any other answer.
    Refused {
        status: u16,
        retry_after: Option<String>,
        body: Value,
    },
    /// No answer (the relay is down, or died mid-request).
    Failed,
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}{path}",
            self.port.load(Ordering::SeqCst)
        )
    }

    /// Posts `events` to `/v1/batch`.
    async fn post_batch(&self, events: &[Value]) -> Posted {
        let sent = self
            .client
            .post(self.url("/v1/batch"))
            .basic_auth(WRITE_KEY, Some(""))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json!({ "batch": events }).to_string())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(_) => return Posted::Failed,
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // An answer whose body is cut off by a kill is not an acknowledgement.
        let Ok(bytes) = resp.bytes().await else {
            return Posted::Failed;
        };
        if (200..300).contains(&status) {
            Posted::Accepted
        } else {
            Posted::Refused {
                status,
                retry_after,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            }
        }
    }

    /// Posts `events` and asserts they were accepted.
    #[track_caller]
    fn must_accept<'a>(
        &'a self,
        events: &'a [Value],
    ) -> impl std::future::Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            match self.post_batch(events).await {
                Posted::Accepted => {}
                other => panic!("{caller}: the relay did not accept a batch: {other:?}"),
            }
        }
    }

    /// `GET /readyz`: the status and JSON body, or None when nothing answers.
    async fn readyz(&self) -> Option<(u16, Value)> {
        let resp = self
            .client
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Some((status, body))
    }

    /// The Prometheus text of `/metrics`.
    async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("/metrics answers");
        resp.text().await.expect("/metrics body")
    }
}

/// The relay as a child process, with its configuration, data directory and logs in one
/// temporary directory. Dropping it kills the process, so a failing test leaves none behind.
struct Relay {
    dir: TempDir,
    settings: Settings,
    base_url: String,
    target: Target,
    child: Option<Child>,
    starts: usize,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A TOML string literal.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Relay {
    /// A relay (not started yet) delivering to `fake`.
    fn new(fake: &FakeCio, settings: Settings) -> Relay {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client");
        Relay {
            dir: tempfile::tempdir().expect("temp dir"),
            settings,
            base_url: fake.base_url(),
            target: Target {
                client,
                port: Arc::new(AtomicU16::new(free_port())),
            },
            child: None,
            starts: 0,
        }
    }

    /// Delivers to `fake` from the next start on.
    fn point_at(&mut self, fake: &FakeCio) {
        self.base_url = fake.base_url();
    }

    fn target(&self) -> Target {
        self.target.clone()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spool_dir(&self) -> PathBuf {
        self.data_dir().join("spool")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("relay.toml")
    }

    fn log_path(&self, start: usize) -> PathBuf {
        self.dir.path().join(format!("relay-{start}.log"))
    }

    fn write_config(&self) {
        let s = &self.settings;
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = {data_dir}
durability = "{durability}"
log_level = "warn"
spool_max_events = {max_events}
shutdown_timeout_secs = {shutdown}
dedup_window_hours = {dedup}

[[sources]]
name = "app"
write_key = "{WRITE_KEY}"

[[destinations]]
name = "cio"
site_id = "{SITE_ID}"
api_key = "{API_KEY}"
base_url = {base_url}
dry_run = false

[destinations.delivery]
linger_ms = 20
initial_backoff_ms = 50
max_backoff_ms = 1000
max_retry_age_secs = 3600
request_timeout_secs = 5
"#,
            port = self.target.port.load(Ordering::SeqCst),
            data_dir = toml_str(&self.data_dir().to_string_lossy()),
            durability = s.durability,
            max_events = s.spool_max_events,
            shutdown = s.shutdown_timeout_secs,
            dedup = s.dedup_window_hours,
            base_url = toml_str(&self.base_url),
        );
        fs::write(self.config_path(), toml).expect("write the relay's configuration");
    }

    /// Starts the process on the same data directory (and port, unless another process took
    /// it meanwhile) and waits until `/readyz` answers 200.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "the relay is already running");
        for _ in 0..5 {
            self.write_config();
            self.starts += 1;
            let log = File::create(self.log_path(self.starts)).expect("log file");
            let mut cmd = crate::helpers::relay_command();
            cmd.args(["serve", "--config"])
                .arg(self.config_path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().expect("log file")))
                .stderr(Stdio::from(log));
            self.child = Some(cmd.spawn().expect("start the relay"));
            match self.wait_ready().await {
                Ok(()) => return,
                Err(log) if log.contains("Address already in use") => {
                    // Someone took the port while the relay was down: take another.
                    self.target.port.store(free_port(), Ordering::SeqCst);
                }
                Err(log) => panic!("the relay did not start:\n{log}"),
            }
        }
        panic!("the relay could not listen on any of five ports");
    }

    /// Waits for `/readyz` to answer 200; Err(its log) if the process exits first.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return Err(format!(
                    "exited with {status}; log:\n{}",
                    self.log(self.starts)
                ));
            }
            if let Some((200, _)) = self.target.readyz().await {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "the relay was not ready after {START_DEADLINE:?}; log:\n{}",
                self.log(self.starts)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit status, if the process has exited.
    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("poll the relay"))
    }

    /// Whether the process is running.
    fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("the relay is running");
        child.kill().expect("SIGKILL the relay");
        child.wait().expect("reap the relay");
    }

    /// SIGTERM, then waits up to `within` for the process to exit; returns its status and how
    /// long it took.
    async fn terminate(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let pid = self.child.as_ref().expect("the relay is running").id();
        let sent = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM {pid} failed");
        let deadline = sent + within;
        loop {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return (status, sent.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "the relay had not exited {within:?} after SIGTERM; log:\n{}",
                self.log(self.starts)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What one run wrote to stdout and stderr.
    fn log(&self, start: usize) -> String {
        fs::read_to_string(self.log_path(start)).unwrap_or_default()
    }

    /// Every run's output.
    fn logs(&self) -> String {
        (1..=self.starts)
            .map(|i| format!("--- run {i}\n{}", self.log(i)))
            .collect()
    }

    /// Asserts no run of the process panicked.
    #[track_caller]
    fn assert_no_panic(&self) {
        let logs = self.logs();
        assert!(!logs.contains("panicked"), "the relay panicked:\n{logs}");
    }
}

// ------------------------------------------------------------------ events and what arrived

/// A track event with messageId `id` for `user`.
fn event(id: &str, user: &str) -> Value {
    json!({
        "type": "track",
        "messageId": id,
        "userId": user,
        "event": "Durability Checked",
        "timestamp": "2024-06-01T10:00:00.000Z",
        "properties": { "probe": id },
    })
}

/// `n` events `<prefix>-<i>`, spread over a few people (so over several delivery lanes).
fn events(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            event(
                &format!("{prefix}-{i}"),
                &format!("{prefix}-user-{}", i % 7),
            )
        })
        .collect()
}

fn ids_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["messageId"].as_str().expect("messageId").to_string())
        .collect()
}

/// How many times each operation `id` reached the fake.
fn arrivals(fake: &FakeCio) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for op in fake.received_ops() {
        if let Some(id) = op["id"].as_str() {
            *counts.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits until every id in `want` reached the fake; returns the arrival counts.
async fn wait_delivered<'a>(
    fake: &FakeCio,
    want: impl IntoIterator<Item = &'a String>,
    relay: &Relay,
) -> HashMap<String, usize> {
    let want: Vec<&String> = want.into_iter().collect();
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    loop {
        let counts = arrivals(fake);
        let missing: Vec<&&String> = want
            .iter()
            .filter(|id| !counts.contains_key(**id))
            .collect();
        if missing.is_empty() {
            return counts;
        }
        if Instant::now() >= deadline {
            panic!(
                "{} of {} acknowledged events never reached Customer.io after {DELIVERY_DEADLINE:?} \
                 (first: {:?}); relay logs:\n{}",
                missing.len(),
                want.len(),
                missing.iter().take(10).collect::<Vec<_>>(),
                relay.logs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Operations that arrived more than once, among `ids`.
fn duplicates<'a>(
    counts: &HashMap<String, usize>,
    ids: impl IntoIterator<Item = &'a String>,
) -> usize {
    ids.into_iter()
        .map(|id| counts.get(id).map_or(0, |n| n.saturating_sub(1)))
        .sum()
}

// ------------------------------------------------------------------ continuous load

/// What the senders saw.
#[derive(Debug, Default)]
struct Ledger {
    /// (cycle, messageId) of every event answered 2xx.
    acked: Vec<(usize, String)>,
    /// messageIds of requests that got no answer: they may or may not have been taken.
    unknown: Vec<String>,
    /// Requests answered with something else than 2xx.
    refused: usize,
}

/// Senders posting batches continuously until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    cycle: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `senders` tasks, each posting batches of `batch` events `<tag>-c<cycle>-s<sender>-<n>`.
    fn start(target: &Target, tag: &str, senders: usize, batch: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let cycle = Arc::new(AtomicUsize::new(0));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let tasks = (0..senders)
            .map(|s| {
                let (target, stop, cycle, ledger) =
                    (target.clone(), stop.clone(), cycle.clone(), ledger.clone());
                let tag = tag.to_string();
                tokio::spawn(async move {
                    let mut n = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        let c = cycle.load(Ordering::SeqCst);
                        let batch: Vec<Value> = (0..batch)
                            .map(|_| {
                                n += 1;
                                event(
                                    &format!("{tag}-c{c}-s{s}-{n}"),
                                    &format!("{tag}-user-{s}-{}", n % 5),
                                )
                            })
                            .collect();
                        let posted = target.post_batch(&batch).await;
                        let ids = ids_of(&batch);
                        let accepted = matches!(posted, Posted::Accepted);
                        {
                            let mut l = ledger.lock().expect("ledger");
                            match posted {
                                Posted::Accepted => {
                                    l.acked.extend(ids.into_iter().map(|id| (c, id)))
                                }
                                Posted::Refused { .. } => l.refused += 1,
                                Posted::Failed => l.unknown.extend(ids),
                            }
                        }
                        if !accepted {
                            // The relay is down or refusing: do not spin.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            cycle,
            ledger,
            tasks,
        }
    }

    fn set_cycle(&self, c: usize) {
        self.cycle.store(c, Ordering::SeqCst);
    }

    fn acked_count(&self) -> usize {
        self.ledger.lock().expect("ledger").acked.len()
    }

    /// Waits until at least `n` events have been acknowledged in all.
    async fn wait_acked(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.acked_count() < n {
            assert!(
                Instant::now() < deadline,
                "only {} events acknowledged after 20 s",
                self.acked_count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the senders and returns what they saw.
    async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("sender task");
        }
        std::mem::take(&mut *self.ledger.lock().expect("ledger"))
    }
}

// ------------------------------------------------------------------ 1. SIGKILL under load

/// Kills the relay with SIGKILL five times while four senders post batches, restarting it on
/// the same data directory each time; then lets it drain. Every event answered 2xx must reach
/// Customer.io; duplicates (acks not yet recorded when the process died) are reported.
async fn sigkill_cycles_under_load(durability: &'static str) {
    const KILLS: usize = 5;
    let fake = FakeCio::start().await;
    // Answers take a little while, so requests are in flight when the process dies.
    fake.set_latency(Duration::from_millis(0), Duration::from_millis(30));
    let mut relay = Relay::new(
        &fake,
        Settings {
            durability,
            ..Settings::default()
        },
    );
    relay.start().await;
    let load = Load::start(&relay.target(), "kill", 4, 20);
    let mut acked_before = 0;
    let mut per_cycle = Vec::new();
    for cycle in 0..KILLS {
        load.set_cycle(cycle);
        // Some load first, so every cycle kills a relay that is busy.
        load.wait_acked(acked_before + 1).await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..=1500))).await;
        relay.kill();
        let acked = load.acked_count();
        per_cycle.push(acked - acked_before);
        acked_before = acked;
        relay.start().await;
    }
    load.set_cycle(KILLS);
    load.wait_acked(acked_before + 1).await;
    let ledger = load.stop().await;

    let acked: Vec<&String> = ledger.acked.iter().map(|(_, id)| id).collect();
    let counts = wait_delivered(&fake, acked.iter().copied(), &relay).await;

    let mut dup_by_cycle: BTreeMap<usize, usize> = BTreeMap::new();
    for (cycle, id) in &ledger.acked {
        *dup_by_cycle.entry(*cycle).or_default() += counts.get(id).map_or(0, |n| n - 1);
    }
    let unknown_arrived = ledger
        .unknown
        .iter()
        .filter(|id| counts.contains_key(*id))
        .count();
    eprintln!(
        "sigkill cycles ({durability}): {} events acknowledged (per cycle before each kill: {per_cycle:?}), \
         all delivered; duplicates by the cycle they were sent in: {dup_by_cycle:?} \
         ({} in all); requests without an answer carried {} events, {unknown_arrived} of \
         which arrived; {} requests refused",
        ledger.acked.len(),
        dup_by_cycle.values().sum::<usize>(),
        ledger.unknown.len(),
        ledger.refused,
    );
    assert!(relay.is_running());
    let (status, _) = relay.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status}");
    relay.assert_no_panic();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_cycles_under_load_lose_nothing_acknowledged() {
    sigkill_cycles_under_load("sync").await;
}

/// `buffered` answers before the sync, but a process crash leaves the written records in the
/// page cache: it loses nothing answered either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_cycles_under_load_lose_nothing_acknowledged_when_buffered() {
    sigkill_cycles_under_load("buffered").await;
}

// ------------------------------------------------------------------ 2. Customer.io outage

/// Customer.io drops connections and then answers 503 for five seconds while events come in;
/// the relay is killed with SIGKILL in the middle of it and restarted. Once Customer.io is
/// back, everything acknowledged before and after the kill is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_with_a_kill_in_the_middle_loses_nothing_acknowledged() {
    let fake = FakeCio::start().await;
    let mut relay = Relay::new(&fake, Settings::default());
    relay.start().await;
    let target = relay.target();

    // The first three requests lose their connection, then everything is 503 for 5 s.
    fake.drop_next(3);
    fake.fail_for(Duration::from_secs(5), 503);
    let before = events("outage-a", 200);
    for chunk in before.chunks(20) {
        target.must_accept(chunk).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.kill();
    relay.start().await;
    let after = events("outage-b", 200);
    for chunk in after.chunks(20) {
        target.must_accept(chunk).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let acked: Vec<String> = ids_of(&before).into_iter().chain(ids_of(&after)).collect();
    let counts = wait_delivered(&fake, &acked, &relay).await;
    let requests = fake.requests();
    let dropped = requests.iter().filter(|r| r.status().is_none()).count();
    let unavailable = requests.iter().filter(|r| r.status() == Some(503)).count();
    assert!(
        dropped >= 1,
        "the outage never reached the relay: {}",
        fake.summary()
    );
    eprintln!(
        "outage: {} events acknowledged, all delivered; {} duplicates; the fake dropped \
         {dropped} requests and answered {unavailable} with 503",
        acked.len(),
        duplicates(&counts, &acked),
    );
    relay.assert_no_panic();
}

// ------------------------------------------------------------------ 3. backpressure

/// With room for 200 events and Customer.io failing everything, the relay fills up and answers
/// 503 with `Retry-After`, and `/readyz` turns 503; once Customer.io recovers the spool drains,
/// `/readyz` is 200 again, new events are accepted (the refused batch too, when the client sends
/// it again), and everything acknowledged is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_answers_503_then_recovers_when_customerio_does() {
    const WINDOW: Duration = Duration::from_secs(8);
    const MARGIN: Duration = Duration::from_secs(3);
    let fake = FakeCio::start().await;
    let mut relay = Relay::new(
        &fake,
        Settings {
            spool_max_events: 200,
            ..Settings::default()
        },
    );
    relay.start().await;
    let target = relay.target();

    let mut outage_end = Instant::now();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut batch_no = 0;
    let (retry_after, body, refused_batch) = loop {
        assert!(
            Instant::now() < deadline,
            "the relay never refused after {} events were acknowledged",
            acked.len()
        );
        // Keep Customer.io down with time to spare, however slowly this goes.
        if Instant::now() + MARGIN >= outage_end {
            fake.fail_for(WINDOW, 503);
            outage_end = Instant::now() + WINDOW;
        }
        let batch = events(&format!("full-{batch_no}"), 50);
        batch_no += 1;
        match target.post_batch(&batch).await {
            Posted::Accepted => acked.extend(ids_of(&batch)),
            Posted::Refused {
                status: 503,
                retry_after,
                body,
            } => break (retry_after, body, batch),
            other => panic!("unexpected answer while filling the spool: {other:?}"),
        }
    };
    let secs: u64 = retry_after
        .as_deref()
        .expect("a 503 for a full spool carries Retry-After")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(secs >= 1, "Retry-After: {secs}");
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(
        acked.len() >= 200,
        "refused with only {} events pending",
        acked.len()
    );
    let (status, ready) = target.readyz().await.expect("/readyz answers");
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "spool_full", "{ready}");
    let refused_at = acked.len();

    // Customer.io comes back once the last window ends: the spool drains and readiness returns.
    let deadline = outage_end + DELIVERY_DEADLINE;
    loop {
        if let Some((200, _)) = target.readyz().await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still not 200 {DELIVERY_DEADLINE:?} after Customer.io recovered; logs:\n{}",
            relay.logs()
        );
        tokio::time::sleep(POLL).await;
    }
    let more = events("full-after", 50);
    target.must_accept(&more).await;
    acked.extend(ids_of(&more));
    // The client's retry of the refused batch: its messageIds were not taken, so it must not
    // be dropped as a repeat. It may meet a spool still above its limit (the batch just taken
    // may have filled it again): retry, as a client honouring Retry-After would.
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    loop {
        match target.post_batch(&refused_batch).await {
            Posted::Accepted => break,
            Posted::Refused { status: 503, .. } if Instant::now() < deadline => {
                tokio::time::sleep(POLL).await
            }
            other => panic!("the refused batch, sent again, was not accepted: {other:?}"),
        }
    }
    acked.extend(ids_of(&refused_batch));

    let counts = wait_delivered(&fake, &acked, &relay).await;
    eprintln!(
        "backpressure: refused after {refused_at} events (limit 200), Retry-After {secs} s; \
         {} acknowledged in all, all delivered; {} duplicates",
        acked.len(),
        duplicates(&counts, &acked)
    );
    relay.assert_no_panic();
}

// ------------------------------------------------------------------ 4. damaged spool

/// One record as it lies in a segment file.
#[derive(Debug)]
struct OnDisk {
    /// Where the record (its header) starts in the file.
    start: usize,
    /// Where its payload starts and ends.
    payload: std::ops::Range<usize>,
    message_id: String,
}

/// Reads the records of a segment file (format in `docs/design/spool.md`: a 16-byte header,
/// then `u32 crc | u32 len | u64 seq | u32 source | u64 received_ms | payload`).
fn records_of(bytes: &[u8]) -> Vec<OnDisk> {
    const SEGMENT_HEADER: usize = 16;
    const RECORD_HEADER: usize = 28;
    assert!(bytes.starts_with(b"CIOSPOOL"), "not a spool segment");
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER;
    while at + RECORD_HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let payload = at + RECORD_HEADER..at + RECORD_HEADER + len;
        assert!(payload.end <= bytes.len(), "a record runs past the end");
        let event: Value = serde_json::from_slice(&bytes[payload.clone()]).expect("JSON payload");
        out.push(OnDisk {
            start: at,
            message_id: event["messageId"].as_str().unwrap_or_default().to_string(),
            payload: payload.clone(),
        });
        at = payload.end;
    }
    assert_eq!(at, bytes.len(), "trailing bytes after the last record");
    out
}

/// The newest segment file in a spool directory.
fn newest_segment(spool: &Path) -> PathBuf {
    fs::read_dir(spool)
        .expect("the spool directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .expect("a segment file")
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// A few bytes cut off the end, as a write torn by a crash leaves it.
    TruncateTail,
    /// Bytes overwritten inside one record in the middle of the file.
    OverwriteMiddle,
    /// The length field of a record in the middle made longer, so that it runs into the next
    /// record: reading on from there needs to find the next record by itself.
    LengthInMiddle,
}

/// Accepts 60 events with Customer.io down, kills the relay, damages the newest spool segment,
/// and restarts the relay with Customer.io healthy: it must start, deliver every event whose
/// record is intact, and exit cleanly on SIGTERM.
async fn damaged_spool_scenario(damage: Damage) {
    const N: usize = 60;
    let down = FakeCio::start().await;
    down.fail_for(Duration::from_secs(300), 503);
    let mut relay = Relay::new(&down, Settings::default());
    relay.start().await;
    let target = relay.target();
    let sent = events(&format!("damage-{damage:?}"), N);
    // One batch after the other: their records lie in the file in this order.
    for chunk in sent.chunks(10) {
        target.must_accept(chunk).await;
    }
    relay.kill();

    let segment = newest_segment(&relay.spool_dir());
    let mut bytes = fs::read(&segment).expect("read the segment");
    let records = records_of(&bytes);
    assert_eq!(
        records
            .iter()
            .map(|r| r.message_id.clone())
            .collect::<Vec<_>>(),
        ids_of(&sent),
        "the segment holds the events in the order they were accepted"
    );
    let damaged = match damage {
        Damage::TruncateTail => {
            let file = OpenOptions::new()
                .write(true)
                .open(&segment)
                .expect("open the segment");
            file.set_len(bytes.len() as u64 - 5).expect("truncate");
            N - 1
        }
        Damage::OverwriteMiddle => {
            let k = N / 2;
            let r = &records[k];
            let mid = r.payload.start + r.payload.len() / 2;
            assert!(r.start < mid && mid + 8 <= r.payload.end);
            bytes[mid..mid + 8].fill(0xFF);
            fs::write(&segment, &bytes).expect("rewrite the segment");
            k
        }
        Damage::LengthInMiddle => {
            let k = N / 2;
            let at = records[k].start + 4;
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
            bytes[at..at + 4].copy_from_slice(&(len + 50).to_le_bytes());
            fs::write(&segment, &bytes).expect("rewrite the segment");
            k
        }
    };
    let damaged_id = &ids_of(&sent)[damaged];

    let up = FakeCio::start().await;
    relay.point_at(&up);
    relay.start().await;
    let intact: Vec<String> = ids_of(&sent)
        .into_iter()
        .filter(|id| id != damaged_id)
        .collect();
    let counts = wait_delivered(&up, &intact, &relay).await;
    assert!(
        relay.is_running(),
        "the relay stopped; logs:\n{}",
        relay.logs()
    );
    let (status, ready) = target.readyz().await.expect("/readyz answers");
    assert_eq!(status, 200, "{ready}");
    let (status, _) = relay.terminate(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "exit status {status}; logs:\n{}",
        relay.logs()
    );
    relay.assert_no_panic();
    eprintln!(
        "damaged spool ({damage:?}): {} of {N} intact events delivered, {} duplicates; \
         the damaged record ({damaged_id}) {}",
        intact.len(),
        duplicates(&counts, &intact),
        if counts.contains_key(damaged_id) {
            "was delivered"
        } else {
            "was skipped"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_spool_segment_is_recovered_at_start() {
    damaged_spool_scenario(Damage::TruncateTail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwritten_spool_record_costs_only_itself() {
    damaged_spool_scenario(Damage::OverwriteMiddle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_record_with_a_wrong_length_costs_only_itself() {
    damaged_spool_scenario(Damage::LengthInMiddle).await;
}

// ------------------------------------------------------------------ 5. durability modes

/// `memory` promises nothing across a crash: what was pending when the process was killed may
/// be gone (reported, not asserted). The relay must still start again and deliver new events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mode_restarts_and_works_after_sigkill() {
    let down = FakeCio::start().await;
    down.fail_for(Duration::from_secs(300), 503);
    let mut relay = Relay::new(
        &down,
        Settings {
            durability: "memory",
            ..Settings::default()
        },
    );
    relay.start().await;
    let target = relay.target();
    let lost = events("memory-before", 30);
    target.must_accept(&lost).await;
    relay.kill();

    let up = FakeCio::start().await;
    relay.point_at(&up);
    relay.start().await;
    let fresh = events("memory-after", 30);
    target.must_accept(&fresh).await;
    let counts = wait_delivered(&up, &ids_of(&fresh), &relay).await;
    let survived = ids_of(&lost)
        .iter()
        .filter(|id| counts.contains_key(*id))
        .count();
    eprintln!(
        "memory mode: {survived} of {} events pending at SIGKILL were delivered after the \
         restart (none is promised); {} events after it, all delivered",
        lost.len(),
        fresh.len()
    );
    relay.assert_no_panic();
}

/// `buffered` with a graceful stop: events accepted while Customer.io is down are still in the
/// spool at SIGTERM, and a restart delivers all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_mode_loses_nothing_on_sigterm() {
    let down = FakeCio::start().await;
    down.fail_for(Duration::from_secs(300), 503);
    let mut relay = Relay::new(
        &down,
        Settings {
            durability: "buffered",
            shutdown_timeout_secs: 2,
            ..Settings::default()
        },
    );
    relay.start().await;
    let target = relay.target();
    let sent = events("buffered-term", 100);
    for chunk in sent.chunks(20) {
        target.must_accept(chunk).await;
    }
    let (status, took) = relay.terminate(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "exit status {status}; logs:\n{}",
        relay.logs()
    );

    let up = FakeCio::start().await;
    relay.point_at(&up);
    relay.start().await;
    let counts = wait_delivered(&up, &ids_of(&sent), &relay).await;
    eprintln!(
        "buffered + SIGTERM: exited {took:?} after the signal; {} events acknowledged, all \
         delivered after the restart; {} duplicates",
        sent.len(),
        duplicates(&counts, &ids_of(&sent))
    );
    relay.assert_no_panic();
}

/// `buffered` promises that a process crash (unlike an OS crash) loses nothing answered: the
/// records are in the page cache when the client gets its 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_mode_loses_nothing_on_sigkill() {
    let down = FakeCio::start().await;
    down.fail_for(Duration::from_secs(300), 503);
    let mut relay = Relay::new(
        &down,
        Settings {
            durability: "buffered",
            ..Settings::default()
        },
    );
    relay.start().await;
    let target = relay.target();
    let sent = events("buffered-kill", 100);
    for chunk in sent.chunks(20) {
        target.must_accept(chunk).await;
    }
    relay.kill();

    let up = FakeCio::start().await;
    relay.point_at(&up);
    relay.start().await;
    wait_delivered(&up, &ids_of(&sent), &relay).await;
    relay.assert_no_panic();
}

// ------------------------------------------------------------------ 6. dedup across a restart

/// The acknowledgement checkpoint says every seq below its `next_seq` is done
/// (`"CIOACKS1" | u64 next_seq | u64 n | n ranges still pending | crc`).
fn checkpoint_all_acked(spool: &Path) -> bool {
    let Ok(b) = fs::read(spool.join("acks")) else {
        return false;
    };
    b.len() >= 28
        && b.starts_with(b"CIOACKS1")
        && u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")) >= 1
        && u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")) == 0
}

/// Whether the dedup store has written any id to its files.
fn dedup_written(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.path().extension().is_some_and(|x| x == "ids")
                && e.metadata().is_ok_and(|m| m.len() > 0)
        })
    })
}

/// An event delivered, the relay killed and restarted, the same messageId sent again: the
/// relay answers 200 and does not deliver it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_survives_a_sigkill() {
    let fake = FakeCio::start().await;
    let mut relay = Relay::new(&fake, Settings::default());
    relay.start().await;
    let target = relay.target();
    let x = event("dedup-x", "dedup-user");
    target.must_accept(std::slice::from_ref(&x)).await;
    wait_delivered(&fake, &["dedup-x".to_string()], &relay).await;
    // Kill only once both the id and the acknowledgement are on disk: the relay writes them a
    // little later (a crash in between redelivers, or forgets the id: both documented).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(dedup_written(&relay.data_dir().join("dedup"))
        && checkpoint_all_acked(&relay.spool_dir()))
    {
        assert!(
            Instant::now() < deadline,
            "the id or the acknowledgement never reached the disk"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.kill();
    relay.start().await;

    match target.post_batch(std::slice::from_ref(&x)).await {
        Posted::Accepted => {}
        other => panic!("a repeated messageId must be answered 2xx: {other:?}"),
    }
    // Same person, so same lane: had X been taken again, it would arrive before Y.
    let y = event("dedup-y", "dedup-user");
    target.must_accept(std::slice::from_ref(&y)).await;
    let counts = wait_delivered(&fake, &["dedup-y".to_string()], &relay).await;
    assert_eq!(
        counts.get("dedup-x"),
        Some(&1),
        "X delivered again after the restart"
    );
    let metrics = target.metrics().await;
    let deduplicated =
        crate::helpers::sum_metric(&metrics, "cio_relay_events_deduplicated_total{", &[]);
    assert_eq!(deduplicated, 1, "{metrics}");
    relay.assert_no_panic();
}

// ------------------------------------------------------------------ 7. graceful shutdown

/// SIGTERM while senders are posting and Customer.io answers slowly: the relay exits within its
/// shutdown deadline, and a restart delivers whatever it had not delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_slow_customerio_exits_in_time_and_restart_delivers_the_rest() {
    const SHUTDOWN_SECS: u64 = 2;
    let fake = FakeCio::start().await;
    // Far slower than the deadline and the exit bound below: a relay that waited for its
    // requests in flight instead of honouring the deadline could not pass.
    fake.set_latency(Duration::from_secs(60), Duration::from_secs(60));
    let mut relay = Relay::new(
        &fake,
        Settings {
            shutdown_timeout_secs: SHUTDOWN_SECS,
            ..Settings::default()
        },
    );
    relay.start().await;
    let load = Load::start(&relay.target(), "term", 2, 20);
    load.wait_acked(200).await;
    // Slack for process start-up and scheduling on a busy machine, not for the relay's work.
    let (status, took) = relay
        .terminate(Duration::from_secs(SHUTDOWN_SECS + 10))
        .await;
    assert!(
        status.success(),
        "exit status {status}; logs:\n{}",
        relay.logs()
    );
    let ledger = load.stop().await;
    let before_restart = arrivals(&fake);
    assert!(
        ledger
            .acked
            .iter()
            .any(|(_, id)| !before_restart.contains_key(id)),
        "the restart has something left to deliver"
    );

    fake.set_latency(Duration::ZERO, Duration::ZERO);
    relay.start().await;
    let acked: Vec<&String> = ledger.acked.iter().map(|(_, id)| id).collect();
    let counts = wait_delivered(&fake, acked.iter().copied(), &relay).await;
    eprintln!(
        "graceful shutdown: exited {took:?} after SIGTERM (deadline {SHUTDOWN_SECS} s); {} \
         events acknowledged, {} delivered before the exit, all after the restart; {} \
         duplicates; {} requests refused while stopping",
        acked.len(),
        acked
            .iter()
            .filter(|id| before_restart.contains_key(**id))
            .count(),
        duplicates(&counts, acked.iter().copied()),
        ledger.refused
    );
    relay.assert_no_panic();
}
