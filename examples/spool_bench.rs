//! Spool throughput: appends of 100-event batches (~600-byte events) under `Sync` from 1, 8
//! and 64 concurrent appenders, then consume + ack of what was appended.
//!
//! ```text
//! cargo run --release --example spool_bench                     # the spool as shipped
//! cargo run --release --example spool_bench --features spool-bench-engines -- --engines log,redb,fjall
//! ```
//!
//! Options: `--engines a,b` (`log`, `log-buffered`, `redb`, `fjall`), `--secs N` per run
//! (default 3), `--dir PATH` for the files (default: the system's temporary directory).
//!
//! `redb` and `fjall` are minimal spools built the same way as ours (one writer thread, one
//! durable commit for every append queued meanwhile, acks applied as deletes in the next
//! commit), so the figures compare the storage engines, not the queueing around them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cio_relay::config::Durability;
use cio_relay::spool::{self, Spool};

const BATCH: usize = 100;
const EVENT_BYTES: usize = 600;
const CONCURRENCY: [usize; 3] = [1, 8, 64];
/// At most this many records are consumed per run (enough for a stable figure).
const CONSUME_CAP: usize = 1_000_000;

struct Args {
    engines: Vec<String>,
    secs: u64,
    dir: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        engines: vec!["log".into()],
        secs: 3,
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--engines" => a.engines = value.split(',').map(str::to_string).collect(),
            "--secs" => a.secs = value.parse().unwrap_or(3),
            "--dir" => a.dir = PathBuf::from(value),
            other => eprintln!("ignoring unknown option {other}"),
        }
    }
    a
}

/// One 100-event batch of distinct, realistic ~600-byte track events.
fn batch(n: u64) -> Vec<Bytes> {
    (0..BATCH as u64)
        .map(|i| {
            let id = n * BATCH as u64 + i;
            let mut s = format!(
                r#"{{"type":"track","event":"Order Completed","messageId":"bench-{id:016x}","userId":"user-{}","timestamp":"2024-05-01T12:00:00.000Z","context":{{"ip":"203.0.113.{}","library":{{"name":"analytics.js","version":"2.11.1"}}}},"properties":{{"order_id":"{:x}","total":{}.{:02},"currency":"EUR","products":[{{"sku":"SKU-{}","quantity":{}}}]}},"pad":""#,
                id % 9_973,
                id % 251,
                id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                id % 500,
                id % 100,
                id % 1_000,
                id % 7 + 1
            );
            while s.len() < EVENT_BYTES - 2 {
                s.push(char::from(b'a' + (s.len() as u8 % 26)));
            }
            s.push_str("\"}");
            Bytes::from(s)
        })
        .collect()
}

fn open(engine: &str, dir: &Path) -> Arc<dyn Spool> {
    let spool = match engine {
        "log" => spool::open(dir, Durability::Sync, usize::MAX),
        "log-buffered" => spool::open(dir, Durability::Buffered, usize::MAX),
        #[cfg(feature = "spool-bench-engines")]
        "redb" => return engines::open_redb(dir),
        #[cfg(feature = "spool-bench-engines")]
        "fjall" => return engines::open_fjall(dir),
        other => {
            panic!("unknown engine {other} (redb and fjall need --features spool-bench-engines)")
        }
    };
    spool.expect("open the spool")
}

struct AppendRun {
    events: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn append_run(spool: Arc<dyn Spool>, appenders: usize, secs: u64) -> AppendRun {
    let stop = Arc::new(AtomicBool::new(false));
    let batches: Arc<Vec<Vec<Bytes>>> = Arc::new((0..64).map(batch).collect());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..appenders {
        let (spool, stop, batches) = (spool.clone(), stop.clone(), batches.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("histogram");
            let mut n = 0u64;
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let events = batches[i % batches.len()].clone();
                i += 1;
                let t0 = Instant::now();
                spool.append(1, 1, events).await.expect("append");
                hist.saturating_record(t0.elapsed().as_micros() as u64);
                n += BATCH as u64;
            }
            (n, hist)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut events = 0;
    let mut hist =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    for t in tasks {
        let (n, h) = t.await.expect("appender");
        events += n;
        hist.add(h).expect("same bounds");
    }
    AppendRun {
        events,
        secs: started.elapsed().as_secs_f64(),
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// Reads and acks up to `limit` records; events/s.
async fn consume_run(spool: &dyn Spool, limit: usize) -> (usize, f64) {
    let started = Instant::now();
    let mut n = 0;
    while n < limit {
        let got = tokio::time::timeout(Duration::from_secs(2), spool.next_batch(1_000)).await;
        let Ok(Ok(records)) = got else { break };
        if records.is_empty() {
            break;
        }
        for r in &records {
            spool.ack(r.seq);
        }
        n += records.len();
    }
    (n, n as f64 / started.elapsed().as_secs_f64())
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{} events of ~{EVENT_BYTES} bytes per append; {} s per run; {} cores",
        BATCH,
        args.secs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<13} {:>10} {:>12} {:>9} {:>9} {:>14} {:>10} {:>10}",
        "engine",
        "appenders",
        "appends ev/s",
        "p50 ms",
        "p99 ms",
        "consume+ack/s",
        "disk MB",
        "reopen ms"
    );
    for engine in &args.engines {
        for appenders in CONCURRENCY {
            let dir = tempfile::tempdir_in(&args.dir).expect("temporary directory");
            let spool = open(engine, dir.path());
            let run = rt.block_on(append_run(spool.clone(), appenders, args.secs));
            let disk = dir_size(dir.path()) as f64 / 1e6;
            let (_, consumed) = rt.block_on(consume_run(&*spool, CONSUME_CAP));
            rt.block_on(spool.close());
            drop(spool);
            // Start-up with what is left (the records beyond the consumed ones).
            let t0 = Instant::now();
            let spool = open(engine, dir.path());
            let reopen_ms = t0.elapsed().as_secs_f64() * 1e3;
            rt.block_on(spool.close());
            drop(spool);
            println!(
                "{:<13} {:>10} {:>12.0} {:>9.2} {:>9.2} {:>14.0} {:>10.0} {:>10.0}",
                engine,
                appenders,
                run.events as f64 / run.secs,
                run.p50_ms,
                run.p99_ms,
                consumed,
                disk,
                reopen_ms
            );
        }
    }
    dedup_run(&args.dir);
}

/// `Dedup::check_and_insert` in batches of 100 ids: new ids, then repeats, then a restart.
fn dedup_run(dir: &Path) {
    const IDS: usize = 1_000_000;
    let dir = tempfile::tempdir_in(dir).expect("temporary directory");
    let window = Duration::from_secs(24 * 3600);
    let ids: Vec<String> = (0..IDS as u64)
        .map(|i| {
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                i,
                i % 65_536,
                i % 4_096,
                i % 4_096,
                i.wrapping_mul(0x9e37_79b9)
            )
        })
        .collect();
    let now = 1_700_000_000_000;
    let dedup = spool::Dedup::open(dir.path(), window).expect("open dedup");
    let pass = |dedup: &spool::Dedup| {
        let t0 = Instant::now();
        let mut new = 0;
        for chunk in ids.chunks(BATCH) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            new += dedup
                .check_and_insert(&refs, now)
                .iter()
                .filter(|&&n| n)
                .count();
        }
        (new, IDS as f64 / t0.elapsed().as_secs_f64())
    };
    let (new, first) = pass(&dedup);
    assert_eq!(new, IDS);
    let (new, repeat) = pass(&dedup);
    assert_eq!(new, 0);
    dedup.close();
    let t0 = Instant::now();
    let dedup = spool::Dedup::open(dir.path(), window).expect("reopen dedup");
    let reopen_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(dedup.len(), IDS);
    dedup.close();
    println!(
        "dedup: {IDS} new ids {first:.0}/s, repeats {repeat:.0}/s, reopen with {IDS} ids {reopen_ms:.0} ms, {:.0} MB on disk",
        dir_size(dir.path()) as f64 / 1e6
    );
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(feature = "spool-bench-engines")]
mod engines {
    //! Minimal spools over redb and fjall, with the same group commit as the log.

    use std::ops::Range;
    use std::path::Path;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use bytes::Bytes;
    use cio_relay::spool::{Record, Spool, SpoolError, SpoolStats};
    use tokio::sync::{oneshot, Notify};

    /// A key-value engine: one durable commit of inserts and deletes, and ordered reads.
    pub trait Store: Send + Sync + 'static {
        fn commit(&self, inserts: &[(u64, Vec<u8>)], deletes: &[u64]) -> Result<(), String>;
        fn read_from(&self, from: u64, max: usize) -> Result<Vec<(u64, Vec<u8>)>, String>;
    }

    struct Append {
        source: u32,
        received_ms: u64,
        events: Vec<Bytes>,
        done: oneshot::Sender<Range<u64>>,
    }

    #[derive(Default)]
    struct Queue {
        appends: Vec<Append>,
        acks: Vec<u64>,
        closing: bool,
    }

    struct Inner<S> {
        store: S,
        queue: Mutex<Queue>,
        cv: Condvar,
        readable: Notify,
        cursor: tokio::sync::Mutex<u64>,
    }

    pub struct KvSpool<S: Store> {
        inner: Arc<Inner<S>>,
        writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    }

    fn new<S: Store>(store: S) -> Arc<dyn Spool> {
        let inner = Arc::new(Inner {
            store,
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
            readable: Notify::new(),
            cursor: tokio::sync::Mutex::new(0),
        });
        let w = inner.clone();
        let writer = std::thread::spawn(move || write_loop(&w));
        Arc::new(KvSpool {
            inner,
            writer: Mutex::new(Some(writer)),
        })
    }

    fn write_loop<S: Store>(inner: &Inner<S>) {
        let mut next_seq = 0u64;
        loop {
            let (appends, acks, closing) = {
                let mut q = inner.queue.lock().expect("queue");
                while q.appends.is_empty() && q.acks.is_empty() && !q.closing {
                    q = inner
                        .cv
                        .wait_timeout(q, Duration::from_millis(50))
                        .expect("queue")
                        .0;
                }
                (
                    std::mem::take(&mut q.appends),
                    std::mem::take(&mut q.acks),
                    q.closing,
                )
            };
            let mut inserts = Vec::new();
            let mut ranges = Vec::new();
            for a in &appends {
                let start = next_seq;
                for e in &a.events {
                    let mut v = Vec::with_capacity(12 + e.len());
                    v.extend_from_slice(&a.source.to_le_bytes());
                    v.extend_from_slice(&a.received_ms.to_le_bytes());
                    v.extend_from_slice(e);
                    inserts.push((next_seq, v));
                    next_seq += 1;
                }
                ranges.push(start..next_seq);
            }
            inner.store.commit(&inserts, &acks).expect("commit");
            for (a, r) in appends.into_iter().zip(ranges) {
                let _ = a.done.send(r);
            }
            inner.readable.notify_waiters();
            if closing {
                return;
            }
        }
    }

    #[async_trait::async_trait]
    impl<S: Store> Spool for KvSpool<S> {
        async fn append(
            &self,
            source: u32,
            received_ms: u64,
            events: Vec<Bytes>,
        ) -> Result<Range<u64>, SpoolError> {
            let (done, rx) = oneshot::channel();
            self.inner
                .queue
                .lock()
                .expect("queue")
                .appends
                .push(Append {
                    source,
                    received_ms,
                    events,
                    done,
                });
            self.inner.cv.notify_one();
            rx.await.map_err(|_| SpoolError::Closed)
        }

        async fn next_batch(&self, max: usize) -> Result<Vec<Record>, SpoolError> {
            let mut cursor = self.inner.cursor.lock().await;
            loop {
                let notified = self.inner.readable.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let inner = self.inner.clone();
                let from = *cursor;
                let rows = tokio::task::spawn_blocking(move || inner.store.read_from(from, max))
                    .await
                    .map_err(|e| SpoolError::Io(e.to_string()))?
                    .map_err(SpoolError::Io)?;
                if let Some((last, _)) = rows.last() {
                    *cursor = last + 1;
                    return Ok(rows
                        .into_iter()
                        .map(|(seq, v)| Record {
                            seq,
                            source: u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
                            received_ms: u64::from_le_bytes(v[4..12].try_into().expect("8")),
                            payload: Bytes::copy_from_slice(&v[12..]),
                        })
                        .collect());
                }
                if self.inner.queue.lock().expect("queue").closing {
                    return Ok(Vec::new());
                }
                notified.await;
            }
        }

        fn ack(&self, seq: u64) {
            self.inner.queue.lock().expect("queue").acks.push(seq);
        }

        fn stats(&self) -> SpoolStats {
            SpoolStats::default()
        }

        fn is_full(&self) -> bool {
            false
        }

        async fn close(&self) {
            self.inner.queue.lock().expect("queue").closing = true;
            self.inner.cv.notify_all();
            self.inner.readable.notify_waiters();
            let handle = self.writer.lock().expect("writer").take();
            if let Some(h) = handle {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
        }
    }

    // --- redb ---

    const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("records");

    struct Redb(redb::Database);

    impl Store for Redb {
        fn commit(&self, inserts: &[(u64, Vec<u8>)], deletes: &[u64]) -> Result<(), String> {
            let txn = self.0.begin_write().map_err(|e| e.to_string())?;
            {
                let mut t = txn.open_table(TABLE).map_err(|e| e.to_string())?;
                for (k, v) in inserts {
                    t.insert(k, v.as_slice()).map_err(|e| e.to_string())?;
                }
                for k in deletes {
                    t.remove(k).map_err(|e| e.to_string())?;
                }
            }
            txn.commit().map_err(|e| e.to_string())
        }

        fn read_from(&self, from: u64, max: usize) -> Result<Vec<(u64, Vec<u8>)>, String> {
            use redb::ReadableDatabase;
            let txn = self.0.begin_read().map_err(|e| e.to_string())?;
            let t = txn.open_table(TABLE).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for row in t.range(from..).map_err(|e| e.to_string())?.take(max) {
                let (k, v) = row.map_err(|e| e.to_string())?;
                out.push((k.value(), v.value().to_vec()));
            }
            Ok(out)
        }
    }

    pub fn open_redb(dir: &Path) -> Arc<dyn Spool> {
        let db = redb::Database::create(dir.join("spool.redb")).expect("redb");
        let store = Redb(db);
        store.commit(&[], &[]).expect("create the table");
        new(store)
    }

    // --- fjall ---

    struct Fjall {
        db: fjall::Database,
        ks: fjall::Keyspace,
    }

    impl Store for Fjall {
        fn commit(&self, inserts: &[(u64, Vec<u8>)], deletes: &[u64]) -> Result<(), String> {
            let mut b = self
                .db
                .batch()
                .durability(Some(fjall::PersistMode::SyncData));
            for (k, v) in inserts {
                b.insert(&self.ks, k.to_be_bytes(), v.as_slice());
            }
            for k in deletes {
                b.remove(&self.ks, k.to_be_bytes());
            }
            b.commit().map_err(|e| e.to_string())
        }

        fn read_from(&self, from: u64, max: usize) -> Result<Vec<(u64, Vec<u8>)>, String> {
            let mut out = Vec::new();
            for g in self.ks.range(from.to_be_bytes()..).take(max) {
                let (k, v) = g.into_inner().map_err(|e| e.to_string())?;
                let mut key = [0u8; 8];
                key.copy_from_slice(&k);
                out.push((u64::from_be_bytes(key), v.to_vec()));
            }
            Ok(out)
        }
    }

    pub fn open_fjall(dir: &Path) -> Arc<dyn Spool> {
        let db = fjall::Database::builder(dir.join("fjall"))
            .open()
            .expect("fjall");
        let ks = db
            .keyspace("records", fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        new(Fjall { db, ks })
    }
}
