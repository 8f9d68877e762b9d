//! Remembers the messageIds accepted within a time window, so that ingest can answer a
//! client's retry with 200 without delivering the event twice.
//!
//! Ids are hashed with SipHash-1-3 under a random key kept beside the data (so hashes stay
//! valid across restarts and outsiders cannot aim collisions), and only the 64-bit hashes are
//! kept: in memory, one map from hash to the time bucket it was first seen in; on disk, one
//! append-only file per time bucket, so that forgetting an expired bucket is deleting a file.
//! A bucket lasts a 32nd of the window: an id is remembered for at least the window and at
//! most a 32nd longer.
//!
//! Taking an id is two steps, so that an id is never remembered for an event that was not
//! stored: [`Dedup::reserve`] marks the request's new ids as in flight, and once the spool has
//! the events [`Dedup::commit`] remembers them (or [`Dedup::release`] lets them go when it
//! refused them). A retry that arrives while the first attempt is still in flight is told so
//! ([`Verdict::InFlight`]) instead of being called a repeat: the first attempt may yet fail.
//! Committed ids are written to disk by a background thread every 100 ms, after their events
//! are in the spool, so a crash forgets at most the last 100 ms of ids (their retries would be
//! delivered twice) and never remembers an id whose event was lost.
//!
//! File `key`: `u64 k0, u64 k1, u32 crc32`. File `<bucket start ms, 20 digits>.ids`: chunks
//! of `u32 crc32, u8 kind (0 seen, 1 forgotten), u32 n, n × u64 hash`, the CRC covering what
//! follows it in the chunk. Only "seen" chunks are written now; "forgotten" chunks, which
//! earlier versions wrote, are still honoured when read.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use siphasher::sip::SipHasher13;

use super::{lock, SpoolError};

const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most changes kept for writing while the disk refuses them (~100 MB).
const MAX_UNWRITTEN: usize = 4 << 20;
const KEY_FILE: &str = "key";
const IDS_EXT: &str = "ids";
const SEEN: u8 = 0;
const FORGOTTEN: u8 = 1;

/// The de-duplication store.
pub struct Dedup {
    inner: Arc<Inner>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedup")
            .field("dir", &self.inner.dir)
            .field("window_ms", &self.inner.window_ms)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Most ids remembered; beyond it the oldest buckets are forgotten early (see
    /// [`Dedup::with_max_ids`]).
    max_ids: std::sync::atomic::AtomicUsize,
    dir: Option<PathBuf>,
    window_ms: u64,
    bucket_ms: u64,
    /// An id seen in bucket `b` is remembered while the current bucket is at most
    /// `b + window_buckets`.
    window_buckets: u64,
    key: (u64, u64),
    state: Mutex<State>,
    /// Serializes writers of the files.
    io: Mutex<()>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
}

/// The map's keys are already uniform hashes: use them as they are.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A messageId's hash as it is kept in memory: bytes, so that an entry (hash and bucket tag)
/// takes 9 bytes with no alignment padding, not 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdHash([u8; 8]);

impl IdHash {
    fn new(hash: u64) -> IdHash {
        IdHash(hash.to_ne_bytes())
    }

    fn get(self) -> u64 {
        u64::from_ne_bytes(self.0)
    }
}

impl Hash for IdHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.get());
    }
}

/// Hash of a messageId → the bucket it was first seen in, stored as the bucket number modulo
/// 256. Every remembered bucket lies within 256 buckets of `latest` (a window is 32 or 33
/// buckets, pruning keeps entries within it, and a jump of more than a window clears them
/// all), so the full number is recovered from `latest`.
#[derive(Default)]
struct Seen {
    map: HashMap<IdHash, u8, BuildHasherDefault<IdHasher>>,
    /// The highest bucket an entry can be in.
    latest: u64,
}

impl Seen {
    fn tag(bucket: u64) -> u8 {
        (bucket & 0xff) as u8
    }

    fn bucket(&self, tag: u8) -> u64 {
        self.latest
            .saturating_sub(self.latest.wrapping_sub(u64::from(tag)) & 0xff)
    }

    fn get(&self, hash: u64) -> Option<u64> {
        self.map.get(&IdHash::new(hash)).map(|&t| self.bucket(t))
    }

    /// Remembers `hash` as seen in `bucket`, which must not be above `latest` by more than a
    /// window (callers move `latest` forward with [`Seen::advance`] first).
    fn insert(&mut self, hash: u64, bucket: u64) {
        self.latest = self.latest.max(bucket);
        self.map.insert(IdHash::new(hash), Seen::tag(bucket));
    }

    fn remove(&mut self, hash: u64) -> Option<u64> {
        let tag = self.map.remove(&IdHash::new(hash))?;
        Some(self.bucket(tag))
    }

    fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        let latest = self.latest;
        let bucket = |tag: u8| latest.saturating_sub(latest.wrapping_sub(u64::from(tag)) & 0xff);
        self.map.retain(|_, tag| keep(bucket(*tag)));
    }

    fn buckets(&self) -> impl Iterator<Item = u64> + '_ {
        self.map.values().map(|&t| self.bucket(t))
    }

    /// Moves `latest` to `bucket`. When the clock moved more than a window either way, every
    /// entry is dropped: forward they have all expired, and after a jump back their tags
    /// could no longer be told apart (a lapse in de-duplication, never a false repeat).
    fn advance(&mut self, bucket: u64, window_buckets: u64) {
        if bucket.abs_diff(self.latest) > window_buckets {
            self.map.clear();
            self.latest = bucket;
        } else {
            self.latest = self.latest.max(bucket);
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }
}

/// What [`Dedup::reserve`] says of one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen within the window: reserved for this request.
    New,
    /// Accepted within the window, or earlier in the same request: drop it.
    Repeat,
    /// Another request holding it is still being stored; its outcome is not known yet.
    InFlight,
}

/// The ids one [`Dedup::reserve`] call took; hand it to [`Dedup::commit`] or
/// [`Dedup::release`].
#[must_use = "reserved ids stay in flight until committed or released"]
#[derive(Debug)]
pub struct Reservation {
    hashes: Vec<u64>,
}

#[derive(Default)]
struct State {
    /// Hash of a messageId → bucket it was first seen in.
    seen: Seen,
    /// Reserved ids whose events are being stored → the reserving call's number.
    in_flight: HashMap<IdHash, u64, BuildHasherDefault<IdHasher>>,
    /// Numbers reserving calls.
    calls: u64,
    /// Bucket of the last prune.
    pruned_at: Option<u64>,
    /// Ids remembered but not yet written: (bucket, hash).
    unwritten: Vec<(u64, u64)>,
    /// Bucket files below this bucket are expired.
    expired_below: u64,
}

impl Dedup {
    /// Opens (or creates) the store in `dir`, remembering ids for `window`, and starts the
    /// thread that writes new ids. Damaged files are skipped with a warning.
    pub fn open(dir: &Path, window: Duration) -> Result<Dedup, SpoolError> {
        let io_err = |what: &'static str| move |e: io::Error| SpoolError::io(what, e);
        fs::create_dir_all(dir).map_err(io_err("creating the dedup directory"))?;
        let (key, fresh) = load_or_create_key(dir).map_err(io_err("reading the dedup key"))?;
        let mut inner = Inner::new(Some(dir.to_path_buf()), window, key);
        let window_buckets = inner.window_buckets;
        let bucket_ms = inner.bucket_ms;
        let state = inner.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("listing the dedup directory"))? {
            let path = entry.map_err(io_err("listing the dedup directory"))?.path();
            let Some(start_ms) = parse_bucket_name(&path) else {
                continue;
            };
            if fresh {
                // Written under a key that is gone: useless.
                let _ = fs::remove_file(&path);
                continue;
            }
            files.push((start_ms / bucket_ms, path));
        }
        // Only the newest window's files can hold ids still remembered; older ones are
        // deleted by the writer once time moves on.
        let newest = files.iter().map(|(b, _)| *b).max().unwrap_or(0);
        state.seen.latest = newest;
        files.retain(|(b, _)| newest - b <= window_buckets);
        files.sort();
        for (bucket, path) in files {
            let bytes = fs::read(&path).map_err(io_err("reading a dedup file"))?;
            let seen = &mut state.seen;
            let used = load_chunks(&bytes, |kind, hash| match kind {
                SEEN => {
                    if seen.get(hash).is_none_or(|b| b < bucket) {
                        seen.insert(hash, bucket);
                    }
                }
                _ => {
                    if seen.get(hash) == Some(bucket) {
                        seen.remove(hash);
                    }
                }
            });
            if used < bytes.len() {
                tracing::warn!(
                    path = %path.display(),
                    bytes = bytes.len() - used,
                    "dedup: a file ends in a torn or damaged chunk; those ids are forgotten"
                );
            }
        }
        let inner = Arc::new(inner);
        let worker = inner.clone();
        let flusher = std::thread::Builder::new()
            .name("dedup-writer".into())
            .spawn(move || worker.run())
            .map_err(io_err("starting the dedup writer"))?;
        Ok(Dedup {
            inner,
            flusher: Mutex::new(Some(flusher)),
        })
    }

    /// A store in memory only (for `Durability::Memory`): forgotten at exit.
    pub fn in_memory(window: Duration) -> Dedup {
        let key = (fastrand::u64(..), fastrand::u64(..));
        Dedup {
            inner: Arc::new(Inner::new(None, window, key)),
            flusher: Mutex::new(None),
        }
    }

    /// Caps how many ids are remembered. The window is the promise while the ids of a whole
    /// window fit; under more traffic than that (24 h at 1,000 events/s is 86 million ids, about
    /// 1.3 GB) the oldest time buckets are forgotten early, so memory stays bounded and the
    /// window shrinks to what fits. Each time that happens a warning says how long the window
    /// effectively is.
    pub fn with_max_ids(self, max_ids: usize) -> Dedup {
        let max_ids = max_ids.max(1);
        self.inner
            .max_ids
            .store(max_ids, std::sync::atomic::Ordering::Relaxed);
        // Room for the whole cap now: the map never grows past it, so it never rehashes into
        // a second, larger table while the first is still alive (that doubled its peak memory).
        let mut st = lock(&self.inner.state);
        let missing = (max_ids + 1).saturating_sub(st.seen.len());
        st.seen.reserve(missing);
        drop(st);
        self
    }

    /// Reserves the ids not seen within the window. An id repeated within `message_ids` is new
    /// only the first time. The new ones must then be committed or released.
    ///
    /// `now_ms` is the wall clock in milliseconds since the Unix epoch.
    pub fn reserve(&self, message_ids: &[&str], now_ms: u64) -> (Vec<Verdict>, Reservation) {
        let inner = &*self.inner;
        let hashes: Vec<u64> = message_ids.iter().map(|id| inner.hash(id)).collect();
        let bucket = now_ms / inner.bucket_ms;
        let mut st = lock(&inner.state);
        st.prune(bucket, inner.window_buckets);
        st.calls += 1;
        let call = st.calls;
        let State {
            seen, in_flight, ..
        } = &mut *st;
        let mut taken = Vec::with_capacity(hashes.len());
        let verdicts = hashes
            .into_iter()
            .map(|h| {
                match in_flight.get(&IdHash::new(h)) {
                    Some(&by) if by == call => return Verdict::Repeat,
                    Some(_) => return Verdict::InFlight,
                    None => {}
                }
                if seen
                    .get(h)
                    .is_some_and(|b| bucket.saturating_sub(b) <= inner.window_buckets)
                {
                    return Verdict::Repeat;
                }
                in_flight.insert(IdHash::new(h), call);
                taken.push(h);
                Verdict::New
            })
            .collect();
        (verdicts, Reservation { hashes: taken })
    }

    /// Remembers reserved ids: their events are stored. They are written to disk within
    /// 100 ms.
    pub fn commit(&self, reservation: Reservation, now_ms: u64) {
        let inner = &*self.inner;
        let bucket = now_ms / inner.bucket_ms;
        let persist = inner.dir.is_some();
        let mut st = lock(&inner.state);
        st.prune(bucket, inner.window_buckets);
        for h in reservation.hashes {
            st.in_flight.remove(&IdHash::new(h));
            st.seen.insert(h, bucket);
            if persist {
                st.unwritten.push((bucket, h));
            }
        }
        let max_ids = inner.max_ids.load(std::sync::atomic::Ordering::Relaxed);
        if st.seen.len() > max_ids {
            st.evict_oldest(max_ids, bucket, inner.bucket_ms);
        }
    }

    /// Lets reserved ids go: their events were not stored, so a retry is new.
    pub fn release(&self, reservation: Reservation) {
        let mut st = lock(&self.inner.state);
        for h in reservation.hashes {
            st.in_flight.remove(&IdHash::new(h));
        }
    }

    /// [`reserve`](Self::reserve) and [`commit`](Self::commit) at once: true for each id that
    /// is new (benchmarks and tests).
    pub fn check_and_insert(&self, message_ids: &[&str], now_ms: u64) -> Vec<bool> {
        let (verdicts, reservation) = self.reserve(message_ids, now_ms);
        self.commit(reservation, now_ms);
        verdicts.into_iter().map(|v| v == Verdict::New).collect()
    }

    /// How many ids are remembered (expired ones may linger until the next bucket starts).
    pub fn len(&self) -> usize {
        lock(&self.inner.state).seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes and syncs the ids taken so far (the background thread does this every 100 ms).
    pub fn flush(&self) -> Result<(), SpoolError> {
        self.inner
            .persist()
            .map_err(|e| SpoolError::io("writing dedup ids", e))
    }

    /// Writes what is left and stops the background thread. Blocks briefly.
    pub fn close(&self) {
        self.inner.request_stop();
        let handle = lock(&self.flusher).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("the dedup writer stopped abnormally");
            }
        }
    }
}

impl Drop for Dedup {
    fn drop(&mut self) {
        // The writer writes what is left and stops by itself.
        self.inner.request_stop();
    }
}

impl State {
    /// Over the cap: forgets whole buckets, oldest first, until at most 90 % of `max_ids`
    /// remain (two passes over the map, once per tenth of the cap).
    fn evict_oldest(&mut self, max_ids: usize, bucket: u64, bucket_ms: u64) {
        let mut per_bucket: std::collections::BTreeMap<u64, usize> =
            std::collections::BTreeMap::new();
        for b in self.seen.buckets() {
            *per_bucket.entry(b).or_default() += 1;
        }
        let target = max_ids - max_ids / 10;
        let mut left = self.seen.len();
        let mut cutoff = None;
        for (b, n) in per_bucket {
            if left <= target {
                break;
            }
            left -= n;
            cutoff = Some(b);
        }
        let Some(cutoff) = cutoff else {
            return;
        };
        self.seen.retain(|b| b > cutoff);
        self.expired_below = self.expired_below.max(cutoff + 1);
        let kept_ms = bucket.saturating_sub(cutoff) * bucket_ms;
        tracing::warn!(
            max_ids,
            effective_window_secs = kept_ms / 1000,
            "dedup: more ids than dedup_max_ids in the window; forgot the oldest early"
        );
    }

    /// Drops what expired, once per bucket. A step back of up to a window changes nothing
    /// (entries from "later" are kept); a bigger one starts afresh ([`Seen::advance`]).
    fn prune(&mut self, bucket: u64, window_buckets: u64) {
        if self
            .pruned_at
            .is_some_and(|p| p >= bucket && p - bucket <= window_buckets)
        {
            return;
        }
        self.pruned_at = Some(bucket);
        self.seen.advance(bucket, window_buckets);
        self.seen
            .retain(|b| bucket.saturating_sub(b) <= window_buckets);
        self.expired_below = self
            .expired_below
            .max(bucket.saturating_sub(window_buckets));
    }
}

impl Inner {
    fn new(dir: Option<PathBuf>, window: Duration, key: (u64, u64)) -> Inner {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let bucket_ms = (window_ms / 32).max(1);
        Inner {
            max_ids: std::sync::atomic::AtomicUsize::new(usize::MAX),
            dir,
            window_ms,
            bucket_ms,
            window_buckets: window_ms.div_ceil(bucket_ms),
            key,
            state: Mutex::new(State::default()),
            io: Mutex::new(()),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
        }
    }

    fn hash(&self, id: &str) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(id.as_bytes());
        h.finish()
    }

    fn request_stop(&self) {
        *lock(&self.stop) = true;
        self.stop_cv.notify_all();
    }

    fn run(&self) {
        loop {
            let stopping = {
                let stop = lock(&self.stop);
                let (stop, _) = self
                    .stop_cv
                    .wait_timeout_while(stop, FLUSH_EVERY, |s| !*s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *stop
            };
            if let Err(e) = self.persist() {
                tracing::warn!(error = %e, "dedup: writing ids failed; will retry");
            }
            if stopping {
                break;
            }
        }
    }

    /// Appends the unwritten changes to their bucket files and deletes expired files.
    fn persist(&self) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let _io = lock(&self.io);
        let (mut changes, expired_below) = {
            let mut st = lock(&self.state);
            (std::mem::take(&mut st.unwritten), st.expired_below)
        };
        changes.sort_by_key(|&(bucket, _)| bucket);
        let mut written = 0;
        for group in changes.chunk_by(|a, b| a.0 == b.0) {
            let bucket = group[0].0;
            let path = dir.join(bucket_name(bucket * self.bucket_ms));
            let mut bytes = Vec::with_capacity(group.len() * 8 + 9);
            encode_chunk(&mut bytes, SEEN, group.iter().map(|c| c.1));
            let res = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_data()));
            if let Err(e) = res {
                // Put back what was not written, to try again, within bounds.
                let mut st = lock(&self.state);
                let room = MAX_UNWRITTEN.saturating_sub(st.unwritten.len());
                let rest = &changes[written..];
                if rest.len() > room {
                    tracing::warn!(
                        dropped = rest.len() - room,
                        "dedup: too many ids wait to be written; some will not survive a restart"
                    );
                }
                st.unwritten
                    .extend_from_slice(&rest[..rest.len().min(room)]);
                return Err(e);
            }
            written += group.len();
        }
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if let Some(start_ms) = parse_bucket_name(&path) {
                if start_ms / self.bucket_ms < expired_below {
                    fs::remove_file(&path)?;
                }
            }
        }
        Ok(())
    }
}

fn bucket_name(start_ms: u64) -> String {
    format!("{start_ms:020}.{IDS_EXT}")
}

fn parse_bucket_name(path: &Path) -> Option<u64> {
    if path.extension()? != IDS_EXT {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok()
}

fn encode_chunk(out: &mut Vec<u8>, kind: u8, hashes: impl ExactSizeIterator<Item = u64>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    out.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
    for h in hashes {
        out.extend_from_slice(&h.to_le_bytes());
    }
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Feeds the entries of the intact chunks at the start of `b` to `f`; returns how many bytes
/// they took (less than `b.len()` when a torn or damaged chunk follows).
fn load_chunks(b: &[u8], mut f: impl FnMut(u8, u64)) -> usize {
    let mut at = 0;
    while b.len() - at >= 9 {
        let crc = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let kind = b[at + 4];
        let n = u32::from_le_bytes([b[at + 5], b[at + 6], b[at + 7], b[at + 8]]) as usize;
        let Some(end) = n.checked_mul(8).and_then(|l| l.checked_add(at + 9)) else {
            break;
        };
        if end > b.len() || kind > FORGOTTEN || crc32fast::hash(&b[at + 4..end]) != crc {
            break;
        }
        for h in b[at + 9..end].chunks_exact(8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(h);
            f(kind, u64::from_le_bytes(a));
        }
        at = end;
    }
    at
}

/// The hashing key: read from `dir`, or made and written there (then `true`).
fn load_or_create_key(dir: &Path) -> io::Result<((u64, u64), bool)> {
    let path = dir.join(KEY_FILE);
    match fs::read(&path) {
        Ok(b) if b.len() == 20 && crc32fast::hash(&b[..16]).to_le_bytes() == b[16..20] => {
            let mut k0 = [0u8; 8];
            let mut k1 = [0u8; 8];
            k0.copy_from_slice(&b[..8]);
            k1.copy_from_slice(&b[8..16]);
            return Ok(((u64::from_le_bytes(k0), u64::from_le_bytes(k1)), false));
        }
        Ok(_) => tracing::warn!(
            path = %path.display(),
            "dedup: the key file is damaged; starting with a new key and no remembered ids"
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = (fastrand::u64(..), fastrand::u64(..));
    let mut b = Vec::with_capacity(20);
    b.extend_from_slice(&key.0.to_le_bytes());
    b.extend_from_slice(&key.1.to_le_bytes());
    b.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
    let tmp = dir.join("key.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&b)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()?;
    Ok((key, true))
}

#[cfg(test)]
mod seen_tests {
    use super::*;

    /// Buckets come back whole however many times the 256-bucket tag wraps, as long as
    /// pruning keeps up.
    #[test]
    fn buckets_survive_the_tag_wrapping() {
        let window = 33;
        let mut seen = Seen::default();
        for bucket in 250..1_000u64 {
            seen.advance(bucket, window);
            seen.retain(|b| bucket - b <= window);
            seen.insert(bucket * 7919, bucket);
            // Every remembered id decodes to the bucket it was inserted in.
            for back in 0..=window.min(bucket - 250) {
                let b = bucket - back;
                assert_eq!(seen.get(b * 7919), Some(b), "at {bucket}, inserted at {b}");
            }
            assert!(seen.len() as u64 <= window + 1);
        }
        assert_eq!(seen.remove(999 * 7919), Some(999));
        assert_eq!(seen.get(999 * 7919), None);
    }

    #[test]
    fn a_jump_of_more_than_a_window_forgets_everything() {
        let mut seen = Seen::default();
        seen.advance(1_000, 33);
        seen.insert(1, 1_000);
        seen.insert(2, 990);
        // 256 buckets on, the tags would read as fresh again; they must be gone instead.
        seen.advance(1_256, 33);
        assert_eq!(seen.len(), 0);
        assert_eq!(seen.get(1), None);
        // Within a window nothing is dropped by advancing alone.
        seen.insert(3, 1_256);
        seen.advance(1_280, 33);
        assert_eq!(seen.get(3), Some(1_256));
    }

    #[test]
    fn an_entry_is_nine_bytes() {
        assert_eq!(std::mem::size_of::<(IdHash, u8)>(), 9);
    }
}
