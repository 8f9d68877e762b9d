//! [`Durability::Sync`] and [`Durability::Buffered`]: the spool as a segmented append-only log.
//!
//! One writer thread owns the active segment. Appenders put their events on a queue and wait;
//! the writer takes everything queued, writes it with one `write` and (for `Sync`) one
//! `fdatasync`, then answers every appender of the group: while it syncs, the next group
//! gathers. Records become readable once synced, so a reader never sees a record that a crash
//! could still take back. The writer also records acknowledgements now and then (the `acks`
//! checkpoint) and deletes segments whose records are all acknowledged. See
//! [`format`](super::format) for the bytes and `docs/design/spool.md` for the reasoning.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::{Bound, Range};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};

use super::format::{self, Checkpoint, Decoded, SEGMENT_HEADER};
use super::pending::PendingSet;
use super::{lock, Record, Spool, SpoolError, SpoolOptions, SpoolStats};
use crate::config::Durability;

/// How much the reader reads from a segment at once.
const READ_CHUNK: usize = 1 << 20;
/// Name of the acknowledgement checkpoint.
const ACKS_FILE: &str = "acks";

/// The on-disk spool.
pub struct DiskSpool {
    inner: Arc<Inner>,
    reader: Arc<tokio::sync::Mutex<Reader>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for DiskSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskSpool")
            .field("dir", &self.inner.dir)
            .field("durability", &self.inner.durability)
            .finish_non_exhaustive()
    }
}

struct Inner {
    dir: PathBuf,
    durability: Durability,
    max_events: u64,
    options: SpoolOptions,
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    /// Written (and, under `Sync`, synced) records not yet acknowledged.
    pending: Mutex<PendingSet>,
    log: Mutex<LogView>,
    readable: Notify,
    /// Accepted events not yet in `pending` (queued or being written).
    reserved: AtomicU64,
    /// Every seq below this was handed out (or skipped) by the reader.
    reader_seq: AtomicU64,
    /// Seqs below this were recovered at open: the reader skips those already acknowledged.
    recovered_below: u64,
    appended_total: AtomicU64,
    acked_total: AtomicU64,
    bytes_on_disk: AtomicU64,
    skipped_at_open: u64,
    acks_dirty: AtomicBool,
    closed: AtomicBool,
}

#[derive(Default)]
struct Queue {
    appends: Vec<Append>,
    closing: bool,
    /// Set when the log could not be repaired after a failed write: every append fails.
    failed: Option<String>,
}

struct Append {
    source: u32,
    received_ms: u64,
    events: Vec<Bytes>,
    done: oneshot::Sender<Result<Range<u64>, SpoolError>>,
}

/// What readers and the clean-up may look at.
struct LogView {
    segments: BTreeMap<u64, Segment>,
    /// End of what may be read.
    readable: Position,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    /// One past the seq of its last record (its base while it holds none).
    end_seq: u64,
    /// Bytes in the file.
    len: u64,
}

/// A place in the log: the next seq, and the segment and offset it would be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    seq: u64,
    segment: u64,
    offset: u64,
}

impl DiskSpool {
    /// Opens (or creates) the spool in `dir`, recovering what is there, and starts its writer.
    ///
    /// `durability` must be `Sync` or `Buffered`.
    pub fn open(
        dir: &Path,
        durability: Durability,
        max_events: usize,
        options: SpoolOptions,
    ) -> Result<DiskSpool, SpoolError> {
        let rec = recover(dir, &options)?;
        let readable = Position {
            seq: rec.next_seq,
            segment: rec.active_base,
            offset: rec.active_len,
        };
        let bytes: u64 = rec.segments.values().map(|s| s.len).sum();
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            durability,
            max_events: max_events as u64,
            options,
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            pending: Mutex::new(rec.pending),
            log: Mutex::new(LogView {
                segments: rec.segments,
                readable,
            }),
            readable: Notify::new(),
            reserved: AtomicU64::new(0),
            reader_seq: AtomicU64::new(rec.reader_start),
            recovered_below: rec.next_seq,
            appended_total: AtomicU64::new(0),
            acked_total: AtomicU64::new(0),
            bytes_on_disk: AtomicU64::new(bytes),
            skipped_at_open: rec.skipped,
            acks_dirty: AtomicBool::new(true),
            closed: AtomicBool::new(false),
        });
        let writer = Writer {
            inner: inner.clone(),
            file: rec.active,
            base: rec.active_base,
            len: rec.active_len,
            next_seq: rec.next_seq,
            buf: Vec::new(),
            unsynced: None,
            last_sync: Instant::now(),
            next_checkpoint: Instant::now(),
        };
        let handle = std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| SpoolError::io("starting the spool writer", e))?;
        let reader = Reader {
            segment: rec.reader_start_segment,
            file: None,
            offset: SEGMENT_HEADER as u64,
            last_seq: None,
            stash: Vec::new(),
        };
        Ok(DiskSpool {
            inner,
            reader: Arc::new(tokio::sync::Mutex::new(reader)),
            writer: Mutex::new(Some(handle)),
        })
    }

    fn begin_close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        lock(&self.inner.queue).closing = true;
        self.inner.queue_cv.notify_all();
        self.inner.readable.notify_waiters();
    }
}

impl Drop for DiskSpool {
    fn drop(&mut self) {
        // The writer flushes what is queued and stops by itself.
        self.begin_close();
    }
}

#[async_trait::async_trait]
impl Spool for DiskSpool {
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
        if let Some(big) = events.iter().find(|e| e.len() > format::MAX_PAYLOAD) {
            return Err(SpoolError::Io(format!(
                "an event of {} bytes is over the spool's limit of {} bytes",
                big.len(),
                format::MAX_PAYLOAD
            )));
        }
        let (done, answer) = oneshot::channel();
        {
            let mut q = lock(&self.inner.queue);
            if q.closing {
                return Err(SpoolError::Closed);
            }
            if let Some(err) = &q.failed {
                return Err(SpoolError::Io(err.clone()));
            }
            if self.inner.pending_count() >= self.inner.max_events {
                return Err(SpoolError::Full);
            }
            self.inner.reserved.fetch_add(n, Ordering::AcqRel);
            q.appends.push(Append {
                source,
                received_ms,
                events,
                done,
            });
        }
        self.inner.queue_cv.notify_one();
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    async fn next_batch(&self, max: usize) -> Result<Vec<Record>, SpoolError> {
        let max = max.max(1);
        let mut reader = self.reader.clone().lock_owned().await;
        loop {
            if !reader.stash.is_empty() {
                let take = max.min(reader.stash.len());
                return Ok(reader.stash.drain(..take).collect());
            }
            let notified = self.inner.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.closed.load(Ordering::Acquire) {
                return Ok(Vec::new());
            }
            let end = lock(&self.inner.log).readable;
            if (reader.segment, reader.offset) < (end.segment, end.offset) {
                let inner = self.inner.clone();
                // The read runs on the blocking pool and leaves what it found in the stash, so
                // nothing is lost if this future is dropped meanwhile.
                reader = tokio::task::spawn_blocking(move || {
                    let res = reader.fill(&inner, max, end);
                    (reader, res)
                })
                .await
                .map_err(|e| SpoolError::io("spool reader", e))
                .and_then(|(reader, res)| res.map(|()| reader))?;
                continue;
            }
            notified.await;
        }
    }

    fn ack(&self, seq: u64) {
        if seq >= self.inner.reader_seq.load(Ordering::Acquire) {
            return; // never handed out
        }
        if lock(&self.inner.pending).remove(seq) {
            self.inner.acked_total.fetch_add(1, Ordering::Relaxed);
            self.inner.acks_dirty.store(true, Ordering::Release);
        }
    }

    fn stats(&self) -> SpoolStats {
        let (count, oldest) = {
            let p = lock(&self.inner.pending);
            (p.count(), p.oldest_received_ms())
        };
        SpoolStats {
            pending_events: count + self.inner.reserved.load(Ordering::Acquire),
            oldest_received_ms: oldest,
            bytes_on_disk: self.inner.bytes_on_disk.load(Ordering::Relaxed),
            appended_total: self.inner.appended_total.load(Ordering::Relaxed),
            acked_total: self.inner.acked_total.load(Ordering::Relaxed),
            skipped_at_open: self.inner.skipped_at_open,
        }
    }

    fn is_full(&self) -> bool {
        self.inner.pending_count() >= self.inner.max_events
    }

    async fn close(&self) {
        self.begin_close();
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            let joined = tokio::task::spawn_blocking(move || handle.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the spool writer stopped abnormally");
            }
        }
    }
}

impl Inner {
    fn pending_count(&self) -> u64 {
        lock(&self.pending).count() + self.reserved.load(Ordering::Acquire)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The writer thread's state.
struct Writer {
    inner: Arc<Inner>,
    /// The active segment.
    file: File,
    base: u64,
    len: u64,
    next_seq: u64,
    buf: Vec<u8>,
    /// `Buffered`: the end of what was written but is not synced yet.
    unsynced: Option<Position>,
    last_sync: Instant,
    next_checkpoint: Instant,
}

impl Writer {
    fn run(mut self) {
        loop {
            let (appends, closing) = self.wait_for_work();
            if !appends.is_empty() {
                self.write_group(appends);
            }
            let now = Instant::now();
            if self.unsynced.is_some()
                && (closing || now >= self.last_sync + self.inner.options.sync_interval)
            {
                if let Err(e) = self.sync() {
                    tracing::error!(error = %e, "spool: syncing the active segment failed");
                }
            }
            if closing || now >= self.next_checkpoint {
                self.maintain();
            }
            if closing && lock(&self.inner.queue).appends.is_empty() {
                break;
            }
        }
        tracing::debug!("spool writer stopped");
    }

    /// Waits until appends are queued, the spool closes, or a sync or checkpoint is due.
    fn wait_for_work(&mut self) -> (Vec<Append>, bool) {
        let mut q = lock(&self.inner.queue);
        loop {
            if !q.appends.is_empty() || q.closing {
                return (std::mem::take(&mut q.appends), q.closing);
            }
            let mut due = self.next_checkpoint;
            if self.unsynced.is_some() {
                due = due.min(self.last_sync + self.inner.options.sync_interval);
            }
            let now = Instant::now();
            if now >= due {
                return (Vec::new(), false);
            }
            q = self
                .inner
                .queue_cv
                .wait_timeout(q, due - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn write_group(&mut self, appends: Vec<Append>) {
        let total: u64 = appends.iter().map(|a| a.events.len() as u64).sum();
        if self.len >= self.inner.options.segment_bytes {
            if let Err(e) = self.roll() {
                let msg = format!("starting a new segment: {e}");
                tracing::error!("spool: {msg}");
                self.fail(appends, total, &msg);
                return;
            }
        }
        self.buf.clear();
        let mut runs = Vec::with_capacity(appends.len());
        for a in &appends {
            let start = self.next_seq;
            for (seq, payload) in (start..).zip(&a.events) {
                format::encode_record(&mut self.buf, seq, a.source, a.received_ms, payload);
            }
            self.next_seq = start + a.events.len() as u64;
            runs.push((start, self.next_seq, a.received_ms));
        }
        let sync = self.inner.durability == Durability::Sync;
        let written = self.file.write_all_at(&self.buf, self.len).and_then(|()| {
            if sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // The seqs of this group are skipped, never reused.
            let msg = format!("writing to the spool: {e}");
            tracing::error!("spool: {msg}");
            if let Err(e) = self.file.set_len(self.len) {
                let fatal = format!("{msg}; then cutting the segment back failed: {e}");
                lock(&self.inner.queue).failed = Some(fatal);
            }
            self.fail(appends, total, &msg);
            return;
        }
        self.len += self.buf.len() as u64;
        self.inner
            .bytes_on_disk
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        {
            let mut pending = lock(&self.inner.pending);
            for &(start, end, received_ms) in &runs {
                pending.push(start, end, received_ms);
            }
        }
        self.inner.reserved.fetch_sub(total, Ordering::AcqRel);
        self.inner
            .appended_total
            .fetch_add(total, Ordering::Relaxed);
        let end = self.position();
        if sync {
            self.publish(end);
        } else {
            self.unsynced = Some(end);
        }
        for (a, (start, end, _)) in appends.into_iter().zip(runs) {
            // The appender may have given up waiting: nothing to do then.
            let _ = a.done.send(Ok(start..end));
        }
    }

    fn fail(&mut self, appends: Vec<Append>, total: u64, msg: &str) {
        self.inner.reserved.fetch_sub(total, Ordering::AcqRel);
        for a in appends {
            let _ = a.done.send(Err(SpoolError::Io(msg.to_string())));
        }
    }

    fn position(&self) -> Position {
        Position {
            seq: self.next_seq,
            segment: self.base,
            offset: self.len,
        }
    }

    /// Makes everything up to `end` readable.
    fn publish(&self, end: Position) {
        {
            let mut log = lock(&self.inner.log);
            log.readable = end;
            if let Some(seg) = log.segments.get_mut(&end.segment) {
                seg.end_seq = end.seq;
                seg.len = end.offset;
            }
        }
        self.inner.readable.notify_waiters();
    }

    /// `Buffered`: syncs what was written and makes it readable.
    fn sync(&mut self) -> io::Result<()> {
        self.last_sync = Instant::now();
        if let Some(end) = self.unsynced {
            self.file.sync_data()?;
            self.unsynced = None;
            self.publish(end);
        }
        Ok(())
    }

    /// Closes the active segment and starts a new one at the next seq.
    fn roll(&mut self) -> io::Result<()> {
        self.sync()?;
        let base = self.next_seq;
        let path = self.inner.path(&format::segment_name(base));
        // No segment can have this name but the leftover of a roll that failed: start over.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.write_all_at(&format::segment_header(), 0)?;
        file.sync_all()?;
        sync_dir(&self.inner.dir)?;
        self.file = file;
        self.base = base;
        self.len = SEGMENT_HEADER as u64;
        self.inner
            .bytes_on_disk
            .fetch_add(SEGMENT_HEADER as u64, Ordering::Relaxed);
        lock(&self.inner.log).segments.insert(
            base,
            Segment {
                end_seq: base,
                len: self.len,
            },
        );
        Ok(())
    }

    /// Records the acknowledgements and deletes the segments no longer needed.
    fn maintain(&mut self) {
        let started = Instant::now();
        if self.inner.acks_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.checkpoint() {
                self.inner.acks_dirty.store(true, Ordering::Release);
                tracing::warn!(error = %e, "spool: recording acknowledgements failed");
            }
        }
        self.delete_acked_segments();
        // A checkpoint costs in proportion to the pending ranges: never let it take more
        // than a twentieth of the writer's time.
        let interval = self
            .inner
            .options
            .checkpoint_interval
            .max(started.elapsed() * 20);
        self.next_checkpoint = Instant::now() + interval;
    }

    fn checkpoint(&self) -> io::Result<()> {
        let next_seq = lock(&self.inner.log).readable.seq;
        let mut pending = lock(&self.inner.pending).ranges();
        pending.retain(|&(start, _)| start < next_seq);
        if let Some(last) = pending.last_mut() {
            last.1 = last.1.min(next_seq);
        }
        let bytes = Checkpoint { next_seq, pending }.encode();
        let tmp = self.inner.path("acks.tmp");
        let file = File::create(&tmp)?;
        file.write_all_at(&bytes, 0)?;
        file.sync_data()?;
        fs::rename(&tmp, self.inner.path(ACKS_FILE))
    }

    fn delete_acked_segments(&self) {
        let read_up_to = self.inner.reader_seq.load(Ordering::Acquire);
        let candidates: Vec<(u64, Segment)> = lock(&self.inner.log)
            .segments
            .range(..self.base)
            .map(|(&b, &s)| (b, s))
            .filter(|(_, s)| s.end_seq <= read_up_to)
            .collect();
        for (base, seg) in candidates {
            if lock(&self.inner.pending).intersects(base, seg.end_seq) {
                continue;
            }
            let path = self.inner.path(&format::segment_name(base));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "spool: deleting an acknowledged segment failed");
                    continue;
                }
            }
            lock(&self.inner.log).segments.remove(&base);
            self.inner
                .bytes_on_disk
                .fetch_sub(seg.len, Ordering::Relaxed);
            tracing::debug!(base, "spool: deleted an acknowledged segment");
        }
    }
}

/// The reader's place, and what it read ahead.
struct Reader {
    segment: u64,
    file: Option<File>,
    offset: u64,
    last_seq: Option<u64>,
    /// Records read but not yet handed out.
    stash: Vec<Record>,
}

impl Reader {
    /// Reads up to `max` records, not beyond `end`, into the stash.
    fn fill(&mut self, inner: &Inner, max: usize, end: Position) -> Result<(), SpoolError> {
        while self.stash.len() < max {
            if (self.segment, self.offset) >= (end.segment, end.offset) {
                break;
            }
            let limit = if self.segment == end.segment {
                end.offset
            } else {
                let log = lock(&inner.log);
                match log.segments.get(&self.segment) {
                    Some(seg) if self.offset < seg.len => seg.len,
                    _ => {
                        // Done with this segment (or it is gone): on to the next one.
                        let next = log
                            .segments
                            .range((Bound::Excluded(self.segment), Bound::Unbounded))
                            .next()
                            .map(|(&b, _)| b);
                        drop(log);
                        match next {
                            Some(b) => self.enter(inner, b),
                            None => break,
                        }
                        continue;
                    }
                }
            };
            self.read_chunk(inner, max, limit)?;
        }
        Ok(())
    }

    fn enter(&mut self, inner: &Inner, segment: u64) {
        self.segment = segment;
        self.file = None;
        self.offset = SEGMENT_HEADER as u64;
        inner.reader_seq.fetch_max(segment, Ordering::AcqRel);
    }

    /// Reads records from the current segment between the reader's offset and `limit`.
    fn read_chunk(&mut self, inner: &Inner, max: usize, limit: u64) -> Result<(), SpoolError> {
        let file = match self.file.take() {
            Some(file) => file,
            None => {
                let path = inner.path(&format::segment_name(self.segment));
                File::open(&path).map_err(|e| SpoolError::io("opening a segment", e))?
            }
        };
        let res = self.read_from(inner, &file, max, limit);
        self.file = Some(file);
        res
    }

    fn read_from(
        &mut self,
        inner: &Inner,
        file: &File,
        max: usize,
        limit: u64,
    ) -> Result<(), SpoolError> {
        let avail = usize::try_from(limit - self.offset).unwrap_or(usize::MAX);
        let mut buf = vec![0u8; avail.min(READ_CHUNK)];
        file.read_exact_at(&mut buf, self.offset)
            .map_err(|e| SpoolError::io("reading a segment", e))?;
        let mut pos = 0;
        let mut found = Vec::new();
        while self.stash.len() + found.len() < max && pos < buf.len() {
            match format::decode(&buf[pos..]) {
                Decoded::Record(head) => {
                    found.push(format::to_record(&head, &buf[pos..]));
                    self.last_seq = Some(head.seq);
                    pos += head.total;
                }
                Decoded::Incomplete if pos > 0 => break,
                Decoded::Incomplete if buf.len() < avail => {
                    // A record larger than a chunk: read exactly it.
                    let total = format::RECORD_HEADER
                        + u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
                    buf = vec![0u8; total.min(avail)];
                    file.read_exact_at(&mut buf, self.offset)
                        .map_err(|e| SpoolError::io("reading a segment", e))?;
                }
                Decoded::Incomplete | Decoded::Corrupt => {
                    pos = self.skip_damage(inner, file, pos, limit)?;
                    break;
                }
            }
        }
        self.offset += pos as u64;
        if let Some(seq) = self.last_seq {
            inner.reader_seq.fetch_max(seq + 1, Ordering::AcqRel);
        }
        if found.first().is_some_and(|r| r.seq < inner.recovered_below) {
            let pending = lock(&inner.pending);
            found.retain(|r| r.seq >= inner.recovered_below || pending.contains(r.seq));
        }
        self.stash.extend(found);
        Ok(())
    }

    /// Damage found at `pos` of the chunk starting at the reader's offset (the disk changed
    /// under the spool): skips to the next intact record, and drops the seqs lost between.
    /// Returns the new position relative to the reader's offset.
    fn skip_damage(
        &mut self,
        inner: &Inner,
        file: &File,
        pos: usize,
        limit: u64,
    ) -> Result<usize, SpoolError> {
        let from = self.offset + pos as u64;
        let rest_len = usize::try_from(limit - from).unwrap_or(usize::MAX);
        let mut rest = vec![0u8; rest_len];
        file.read_exact_at(&mut rest, from)
            .map_err(|e| SpoolError::io("reading a segment", e))?;
        let next = format::resync(&rest, 1, self.last_seq);
        let lost_from = self.last_seq.map_or(self.segment, |s| s + 1);
        let (skip, lost_to) = match next {
            Some(at) => {
                let seq = match format::decode(&rest[at..]) {
                    Decoded::Record(head) => head.seq,
                    _ => lost_from,
                };
                (at, seq)
            }
            None => {
                let log = lock(&inner.log);
                let end = if log.readable.segment == self.segment {
                    log.readable.seq
                } else {
                    log.segments
                        .get(&self.segment)
                        .map_or(lost_from, |s| s.end_seq)
                };
                (rest.len(), end)
            }
        };
        let lost = lock(&inner.pending).remove_range(lost_from, lost_to);
        tracing::error!(
            segment = self.segment,
            offset = from,
            bytes = skip,
            records = lost,
            "spool: damaged records found while reading; skipped them"
        );
        if lost_to > 0 {
            self.last_seq = Some(lost_to - 1).max(self.last_seq);
        }
        Ok(pos + skip)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What [`recover`] found.
struct Recovered {
    segments: BTreeMap<u64, Segment>,
    pending: PendingSet,
    next_seq: u64,
    active: File,
    active_base: u64,
    active_len: u64,
    reader_start_segment: u64,
    reader_start: u64,
    skipped: u64,
}

/// Reads the spool directory: validates every segment, repairs the damaged ones, and works
/// out which records are still pending.
fn recover(dir: &Path, options: &SpoolOptions) -> Result<Recovered, SpoolError> {
    let io_err = |what: &str| {
        let what = format!("{what} in {}", dir.display());
        move |e: io::Error| SpoolError::io(&what, e)
    };
    fs::create_dir_all(dir).map_err(io_err("creating the spool directory"))?;
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing the spool directory"))? {
        let path = entry.map_err(io_err("listing the spool directory"))?.path();
        if let Some(base) = format::parse_segment_name(&path) {
            files.push((base, path));
        } else if path.extension().is_some_and(|e| e == "tmp") {
            // An unfinished checkpoint or repair.
            let _ = fs::remove_file(&path);
        }
    }
    files.sort();

    let checkpoint = match fs::read(dir.join(ACKS_FILE)) {
        Ok(bytes) => {
            let c = Checkpoint::decode(&bytes);
            if c.is_none() {
                tracing::warn!(
                    "spool: the acknowledgement checkpoint is damaged; every record left in the spool will be delivered again"
                );
            }
            c
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("reading the acknowledgement checkpoint")(e)),
    };

    let mut segments = BTreeMap::new();
    let mut pending = PendingSet::default();
    let mut last: Option<u64> = None;
    let mut skipped = 0u64;
    let count = files.len();
    for (i, (base, path)) in files.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let bytes = fs::read(&path).map_err(io_err("reading a segment"))?;
        let scan = format::scan(&bytes, last);
        let damaged_tail = bytes.len() - scan.valid_end;
        let lost = lost_records(&scan) + u64::from(damaged_tail > 0);
        skipped += lost;
        if scan.records.is_empty() && !scan.header_ok && !bytes.is_empty() {
            let aside = path.with_extension("corrupt");
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len(),
                "spool: a segment holds no intact record; moved aside as {}",
                aside.display()
            );
            fs::rename(&path, &aside).map_err(io_err("moving a damaged segment aside"))?;
            continue;
        }
        if scan.records.is_empty() && !is_last {
            fs::remove_file(&path).map_err(io_err("removing an empty segment"))?;
            continue;
        }
        let len = if scan.needs_rewrite() || bytes.len() < SEGMENT_HEADER {
            tracing::warn!(
                path = %path.display(),
                skipped_regions = ?scan.skipped_regions,
                header_ok = scan.header_ok,
                torn_tail_bytes = damaged_tail,
                records_lost = lost,
                "spool: damaged records in a segment; rewriting it with the {} intact ones",
                scan.records.len()
            );
            rewrite(&path, &bytes, &scan).map_err(io_err("repairing a segment"))?
        } else {
            if damaged_tail > 0 {
                tracing::warn!(
                    path = %path.display(),
                    bytes = damaged_tail,
                    "spool: a segment ends in a torn or damaged record; cutting it off"
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err("repairing a segment"))?;
                f.set_len(scan.valid_end as u64)
                    .and_then(|()| f.sync_all())
                    .map_err(io_err("repairing a segment"))?;
            }
            scan.valid_end as u64
        };
        for (head, _) in &scan.records {
            if checkpoint.as_ref().is_none_or(|c| c.is_pending(head.seq)) {
                pending.push(head.seq, head.seq + 1, head.received_ms);
            }
        }
        if let Some((head, _)) = scan.records.last() {
            last = Some(head.seq);
        }
        let end_seq = last.map_or(base, |l| (l + 1).max(base));
        segments.insert(base, Segment { end_seq, len });
    }

    let next_seq = [
        last.map_or(0, |l| l + 1),
        checkpoint.as_ref().map_or(0, |c| c.next_seq),
        segments.last_key_value().map_or(0, |(&b, _)| b),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);

    let reusable = segments
        .last_key_value()
        .filter(|(_, s)| s.len < options.segment_bytes)
        .map(|(&b, s)| (b, s.len));
    let (active, active_base, active_len) = match reusable {
        Some((base, len)) => {
            let path = dir.join(format::segment_name(base));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_err("opening the active segment"))?;
            (file, base, len)
        }
        None => {
            let path = dir.join(format::segment_name(next_seq));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_err("creating a segment"))?;
            file.write_all_at(&format::segment_header(), 0)
                .and_then(|()| file.sync_all())
                .and_then(|()| sync_dir(dir))
                .map_err(io_err("creating a segment"))?;
            segments.insert(
                next_seq,
                Segment {
                    end_seq: next_seq,
                    len: SEGMENT_HEADER as u64,
                },
            );
            (file, next_seq, SEGMENT_HEADER as u64)
        }
    };
    // Start reading at the segment holding the first pending record.
    let reader_start_segment = pending
        .first()
        .and_then(|first| segments.range(..=first).next_back().map(|(&b, _)| b))
        .unwrap_or(active_base);
    if pending.count() > 0 || skipped > 0 {
        tracing::info!(
            pending = pending.count(),
            skipped,
            next_seq,
            "spool: recovered"
        );
    }
    Ok(Recovered {
        reader_start: reader_start_segment,
        segments,
        pending,
        next_seq,
        active,
        active_base,
        active_len,
        reader_start_segment,
        skipped,
    })
}

/// How many records a scan skipped: for each damaged region, the gap in seqs around it.
fn lost_records(scan: &format::Scan) -> u64 {
    let mut lost = 0;
    for &(from, to) in &scan.skipped_regions {
        let after = scan
            .records
            .iter()
            .find(|(_, off)| *off >= to)
            .map(|(h, _)| h.seq);
        let before = scan
            .records
            .iter()
            .rev()
            .find(|(_, off)| *off < from)
            .map(|(h, _)| h.seq);
        lost += match (before, after) {
            (Some(b), Some(a)) => a.saturating_sub(b + 1).max(1),
            _ => 1,
        };
    }
    lost
}

/// Rewrites a segment with only its intact records; returns its new length.
fn rewrite(path: &Path, bytes: &[u8], scan: &format::Scan) -> io::Result<u64> {
    let mut out = format::segment_header().to_vec();
    for (head, off) in &scan.records {
        out.extend_from_slice(&bytes[*off..*off + head.total]);
    }
    let tmp = path.with_extension("tmp");
    let file = File::create(&tmp)?;
    file.write_all_at(&out, 0)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(out.len() as u64)
}
