//! Behaviour of both spools through the [`Spool`] trait, restarts and damaged files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::format::Decoded;
use super::*;

fn event(i: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"type":"track","event":"Order Completed","messageId":"m-{i}","properties":{{"n":{i}}}}}"#
    ))
}

fn events(from: u64, n: u64) -> Vec<Bytes> {
    (from..from + n).map(event).collect()
}

fn small_segments() -> SpoolOptions {
    SpoolOptions {
        segment_bytes: 2048,
        ..SpoolOptions::default()
    }
}

fn open_disk(dir: &Path, durability: Durability, max: usize) -> Arc<dyn Spool> {
    open_with(dir, durability, max, small_segments()).expect("open spool")
}

/// Reads until `n` records came (the spool must hold them).
async fn read(spool: &dyn Spool, n: usize) -> Vec<Record> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = tokio::time::timeout(Duration::from_secs(10), spool.next_batch(n - out.len()))
            .await
            .expect("records arrive")
            .expect("read");
        assert!(!batch.is_empty(), "closed while reading");
        out.extend(batch);
    }
    out
}

/// Whether a read would wait (nothing available now).
async fn nothing_to_read(spool: &dyn Spool) -> bool {
    tokio::time::timeout(Duration::from_millis(300), spool.next_batch(10))
        .await
        .is_err()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

async fn ordering_and_acks(spool: Arc<dyn Spool>) {
    let a = spool.append(1, 1_000, events(0, 3)).await.expect("append");
    let b = spool.append(2, 2_000, events(3, 2)).await.expect("append");
    assert_eq!(a.end, b.start);
    assert_eq!(b.end - a.start, 5);
    let got = read(&*spool, 5).await;
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (a.start..b.end).collect::<Vec<_>>());
    assert_eq!(got[0].source, 1);
    assert_eq!(got[0].received_ms, 1_000);
    assert_eq!(got[4].source, 2);
    assert_eq!(got[4].received_ms, 2_000);
    for (r, i) in got.iter().zip(0..) {
        assert_eq!(r.payload, event(i));
    }
    assert!(nothing_to_read(&*spool).await);

    let s = spool.stats();
    assert_eq!(
        (s.pending_events, s.appended_total, s.acked_total),
        (5, 5, 0)
    );
    assert_eq!(s.oldest_received_ms, Some(1_000));
    // Out of order; the oldest pending stays the lowest seq.
    spool.ack(got[3].seq);
    spool.ack(got[1].seq);
    spool.ack(got[1].seq); // twice counts once
    let s = spool.stats();
    assert_eq!((s.pending_events, s.acked_total), (3, 2));
    assert_eq!(s.oldest_received_ms, Some(1_000));
    for r in [&got[0], &got[2]] {
        spool.ack(r.seq);
    }
    assert_eq!(spool.stats().oldest_received_ms, Some(2_000));
    spool.ack(got[4].seq);
    assert_eq!(spool.stats().pending_events, 0);
    assert_eq!(spool.stats().oldest_received_ms, None);
    assert_eq!(spool.append(1, 0, Vec::new()).await, Ok(0..0));
    spool.close().await;
}

#[tokio::test]
async fn memory_ordering_and_acks() {
    ordering_and_acks(open(Path::new("unused"), Durability::Memory, 100).expect("open")).await;
}

#[tokio::test]
async fn sync_ordering_and_acks() {
    let dir = tempfile::tempdir().expect("tempdir");
    ordering_and_acks(open_disk(dir.path(), Durability::Sync, 100)).await;
}

#[tokio::test]
async fn buffered_ordering_and_acks() {
    let dir = tempfile::tempdir().expect("tempdir");
    ordering_and_acks(open_disk(dir.path(), Durability::Buffered, 100)).await;
}

async fn full_then_recovers(spool: Arc<dyn Spool>) {
    spool.append(0, 1, events(0, 6)).await.expect("append");
    assert!(!spool.is_full());
    spool.append(0, 1, events(6, 6)).await.expect("append");
    assert!(spool.is_full());
    assert_eq!(
        spool.append(0, 1, events(12, 1)).await,
        Err(SpoolError::Full)
    );
    assert_eq!(spool.stats().pending_events, 12);
    let got = read(&*spool, 12).await;
    assert!(spool.is_full(), "read is not acked");
    for r in &got[..3] {
        spool.ack(r.seq);
    }
    assert!(!spool.is_full());
    let r = spool.append(0, 1, events(12, 1)).await.expect("room again");
    assert_eq!(r.start, got[11].seq + 1);
    spool.close().await;
    assert_eq!(
        spool.append(0, 1, events(13, 1)).await,
        Err(SpoolError::Closed)
    );
}

#[tokio::test]
async fn memory_full_then_recovers() {
    full_then_recovers(open(Path::new("unused"), Durability::Memory, 10).expect("open")).await;
}

#[tokio::test]
async fn sync_full_then_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    full_then_recovers(open_disk(dir.path(), Durability::Sync, 10)).await;
}

async fn close_wakes_reader(spool: Arc<dyn Spool>) {
    let waiting = {
        let spool = spool.clone();
        tokio::spawn(async move { spool.next_batch(10).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    spool.close().await;
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("woken")
        .expect("task");
    assert_eq!(got, Ok(Vec::new()));
    assert_eq!(spool.next_batch(10).await, Ok(Vec::new()));
}

#[tokio::test]
async fn memory_close_wakes_reader() {
    close_wakes_reader(open(Path::new("unused"), Durability::Memory, 10).expect("open")).await;
}

#[tokio::test]
async fn disk_close_wakes_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    close_wakes_reader(open_disk(dir.path(), Durability::Sync, 10)).await;
}

#[tokio::test]
async fn restart_redelivers_unacked_only() {
    for durability in [Durability::Sync, Durability::Buffered] {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = open_disk(dir.path(), durability, 1_000);
        for i in 0..10 {
            spool
                .append(7, 100 + i, events(i * 10, 10))
                .await
                .expect("append");
        }
        let got = read(&*spool, 100).await;
        let mut unacked = Vec::new();
        for r in &got {
            if r.seq % 3 == 0 {
                unacked.push(r.clone());
            } else {
                spool.ack(r.seq);
            }
        }
        spool.close().await;
        assert!(
            segment_files(dir.path()).len() > 1,
            "the test spans segments"
        );

        let spool = open_disk(dir.path(), durability, 1_000);
        assert_eq!(spool.stats().pending_events, unacked.len() as u64);
        assert_eq!(spool.stats().oldest_received_ms, Some(100));
        let again = read(&*spool, unacked.len()).await;
        assert_eq!(again, unacked);
        assert!(nothing_to_read(&*spool).await);
        let next = spool.append(7, 1, events(0, 1)).await.expect("append");
        assert!(next.start > got[99].seq, "seqs keep increasing");
        spool.close().await;
    }
}

#[tokio::test]
async fn acked_segments_are_deleted_and_seqs_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut last = None;
    for round in 0..3 {
        let spool = open_disk(dir.path(), Durability::Sync, 1_000);
        for _ in 0..5 {
            let r = spool.append(1, 1, events(0, 10)).await.expect("append");
            assert!(last.is_none_or(|l| r.start > l), "round {round}");
            last = Some(r.end - 1);
        }
        let before = spool.stats().bytes_on_disk;
        for r in read(&*spool, 50).await {
            spool.ack(r.seq);
        }
        spool.close().await;
        assert_eq!(
            segment_files(dir.path()).len(),
            1,
            "only the active segment is left"
        );
        assert!(spool.stats().bytes_on_disk < before);
    }
    // Even with the checkpoint and every segment gone, the file names keep the seqs apart.
    std::fs::remove_file(dir.path().join("acks")).expect("acks exists");
    let spool = open_disk(dir.path(), Durability::Sync, 1_000);
    let r = spool.append(1, 1, events(0, 1)).await.expect("append");
    assert!(r.start > last.expect("appended"));
    spool.close().await;
}

#[tokio::test]
async fn lost_checkpoint_means_redelivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = open(dir.path(), Durability::Sync, 1_000).expect("open");
    spool.append(1, 1, events(0, 20)).await.expect("append");
    for r in read(&*spool, 20).await.iter().filter(|r| r.seq < 15) {
        spool.ack(r.seq);
    }
    spool.close().await;

    // A damaged checkpoint: everything still on disk comes again (at-least-once).
    let acks = dir.path().join("acks");
    let mut b = std::fs::read(&acks).expect("acks");
    b[10] ^= 0xff;
    std::fs::write(&acks, b).expect("write");
    let spool = open(dir.path(), Durability::Sync, 1_000).expect("open");
    assert_eq!(read(&*spool, 20).await.len(), 20);
    spool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sync_appenders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = open(dir.path(), Durability::Sync, 1_000_000).expect("open");
    let mut tasks = Vec::new();
    for t in 0..64u64 {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            let mut ranges = Vec::new();
            for b in 0..10u64 {
                let first = (t * 10 + b) * 10;
                let r = spool
                    .append(t as u32, 1, events(first, 10))
                    .await
                    .expect("append");
                ranges.push((r, first));
            }
            ranges
        }));
    }
    let mut expected = std::collections::BTreeMap::new();
    for t in tasks {
        for (r, first) in t.await.expect("task") {
            assert_eq!(r.end - r.start, 10);
            for (seq, i) in r.zip(first..) {
                assert!(expected.insert(seq, i).is_none(), "seq {seq} given twice");
            }
        }
    }
    assert_eq!(expected.len(), 6_400);
    let got = read(&*spool, 6_400).await;
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, expected.keys().copied().collect::<Vec<_>>());
    for r in &got {
        assert_eq!(r.payload, event(expected[&r.seq]));
    }
    spool.close().await;

    // All of it was durable: a restart finds it all.
    let spool = open(dir.path(), Durability::Sync, 1_000_000).expect("open");
    assert_eq!(read(&*spool, 6_400).await, got);
    spool.close().await;
}

/// Appends `batches` of 10 and closes; returns the records as read back.
async fn write_spool(dir: &Path, batches: u64) -> Vec<Record> {
    let spool = open_disk(dir, Durability::Sync, 10_000);
    for i in 0..batches {
        spool
            .append(3, i, events(i * 10, 10))
            .await
            .expect("append");
    }
    let got = read(&*spool, (batches * 10) as usize).await;
    spool.close().await;
    got
}

#[tokio::test]
async fn truncated_tail_keeps_intact_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = write_spool(dir.path(), 10).await;
    let last = segment_files(dir.path()).pop().expect("a segment");
    let len = std::fs::metadata(&last).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .expect("open");
    f.set_len(len - 7).expect("truncate");
    drop(f);

    let spool = open_disk(dir.path(), Durability::Sync, 10_000);
    let got = read(&*spool, all.len() - 1).await;
    assert_eq!(got[..], all[..all.len() - 1]);
    assert!(nothing_to_read(&*spool).await);
    assert_eq!(spool.stats().skipped_at_open, 1);
    // The spool goes on after the cut.
    let r = spool.append(3, 1, events(0, 2)).await.expect("append");
    assert!(r.start > all[all.len() - 2].seq);
    assert_eq!(read(&*spool, 2).await.len(), 2);
    spool.close().await;
}

#[tokio::test]
async fn corrupted_records_and_files_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = write_spool(dir.path(), 20).await;
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 4, "several segments: {}", segs.len());

    // A flipped byte inside a record of the second segment.
    let mut b = std::fs::read(&segs[1]).expect("read");
    b[format::SEGMENT_HEADER + 40] ^= 0x55;
    std::fs::write(&segs[1], &b).expect("write");
    // The third segment's header and first record overwritten with garbage.
    let mut b = std::fs::read(&segs[2]).expect("read");
    for x in &mut b[..60] {
        *x = 0xAB;
    }
    std::fs::write(&segs[2], &b).expect("write");
    // A file of garbage that looks like a segment, and a stray file.
    std::fs::write(
        dir.path().join(format::segment_name(u64::MAX / 2)),
        b"garbage",
    )
    .expect("w");
    std::fs::write(dir.path().join("notes.txt"), b"hello").expect("write");

    let spool = open_disk(dir.path(), Durability::Sync, 10_000);
    let skipped = spool.stats().skipped_at_open;
    let expect: Vec<&Record> = all
        .iter()
        .filter(|r| {
            let first_of = |seg: &PathBuf| format::parse_segment_name(seg).expect("name");
            r.seq != first_of(&segs[1]) && r.seq != first_of(&segs[2])
        })
        .collect();
    assert_eq!(skipped, 2);
    let got = read(&*spool, expect.len()).await;
    assert_eq!(got.iter().collect::<Vec<_>>(), expect);
    assert!(nothing_to_read(&*spool).await);
    let r = spool.append(3, 1, events(0, 1)).await.expect("append");
    assert!(r.start > all.last().expect("some").seq);
    spool.close().await;
    assert!(dir
        .path()
        .join(format::segment_name(u64::MAX / 2))
        .with_extension("corrupt")
        .exists());

    // The repaired spool opens cleanly.
    let spool = open_disk(dir.path(), Durability::Sync, 10_000);
    assert_eq!(spool.stats().skipped_at_open, 0);
    assert_eq!(spool.stats().pending_events, expect.len() as u64 + 1);
    spool.close().await;
}

#[tokio::test]
async fn buffered_records_become_readable_after_the_background_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = open(dir.path(), Durability::Buffered, 100).expect("open");
    let r = spool.append(1, 5, events(0, 4)).await.expect("append");
    let got = read(&*spool, 4).await;
    assert_eq!(got.first().map(|r| r.seq), Some(r.start));
    spool.close().await;
}

#[tokio::test]
async fn seq_sets_are_disjoint_across_many_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = BTreeSet::new();
    for round in 0..5u64 {
        let spool = open_disk(dir.path(), Durability::Sync, 10_000);
        let r = spool.append(1, round, events(0, 7)).await.expect("append");
        for s in r {
            assert!(seen.insert(s), "seq {s} reused");
        }
        // Half of what is there gets acked each round.
        let pending = spool.stats().pending_events as usize;
        for rec in read(&*spool, pending).await.iter().step_by(2) {
            spool.ack(rec.seq);
        }
        spool.close().await;
    }
}

mod dedup {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(3_200);
    const HOUR_MS: u64 = 3_600_000;

    fn check(d: &Dedup, ids: &[&str], now: u64) -> Vec<bool> {
        d.check_and_insert(ids, now)
    }

    fn window_behaviour(d: &Dedup) {
        let t = 1_700_000_000_000;
        assert_eq!(check(d, &["a", "b", "a"], t), vec![true, true, false]);
        assert_eq!(check(d, &["a", "c"], t + 1_000), vec![false, true]);
        assert_eq!(check(d, &["b"], t + 3_000_000), vec![false]);
        // Past the window (plus at most a 32nd of it) the ids are new again.
        assert_eq!(check(d, &["a", "b"], t + HOUR_MS), vec![true, true]);
        assert_eq!(check(d, &["a"], t + HOUR_MS + 1), vec![false]);
        // Released ids (their events were not stored) count as new.
        let (verdicts, r) = d.reserve(&["fresh", "a"], t + HOUR_MS + 2);
        assert_eq!(verdicts, [Verdict::New, Verdict::Repeat]);
        d.release(r);
        assert_eq!(check(d, &["fresh"], t + HOUR_MS + 3), vec![true]);
        // Old entries are pruned as time moves on.
        assert_eq!(d.len(), 3);
        check(d, &[], t + 3 * HOUR_MS);
        assert!(d.is_empty());
    }

    #[test]
    fn in_memory_window() {
        window_behaviour(&Dedup::in_memory(WINDOW));
    }

    #[test]
    fn on_disk_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Dedup::open(dir.path(), WINDOW).expect("open");
        window_behaviour(&d);
        d.close();
    }

    #[test]
    fn survives_restarts_and_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = 1_700_000_000_000;
        let d = Dedup::open(dir.path(), WINDOW).expect("open");
        let ids: Vec<String> = (0..1_000).map(|i| format!("id-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert!(check(&d, &refs, t).iter().all(|&new| new));
        // Reserved but never committed (the spool refused its event): never written.
        let (_, r) = d.reserve(&["refused"], t + 1);
        d.release(r);
        // Reserved and still in flight when the process stops: never written either.
        let (_, _in_flight) = d.reserve(&["in-flight"], t + 2);
        d.close();

        let d = Dedup::open(dir.path(), WINDOW).expect("reopen");
        let again = check(&d, &refs, t + 10);
        assert!(again.iter().all(|&new| !new), "committed ids survive");
        assert_eq!(
            check(&d, &["refused", "in-flight"], t + 11),
            vec![true, true]
        );
        check(&d, &["late"], t + 20);
        d.close();

        // A torn write at the end of a file costs only what it held.
        let file = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|e| e == "ids"))
            .expect("an ids file");
        let len = std::fs::metadata(&file).expect("meta").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("open");
        f.set_len(len - 3).expect("truncate");
        drop(f);
        let d = Dedup::open(dir.path(), WINDOW).expect("reopen");
        assert_eq!(check(&d, &["id-1", "late"], t + 30), vec![false, true]);
        d.close();

        // Expired buckets are deleted from disk.
        let d = Dedup::open(dir.path(), WINDOW).expect("reopen");
        check(&d, &["new"], t + 10 * HOUR_MS);
        d.flush().expect("flush");
        d.close();
        let files = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .expect("entry")
                    .path()
                    .extension()
                    .is_some_and(|x| x == "ids")
            })
            .count();
        assert_eq!(files, 1);
        let d = Dedup::open(dir.path(), WINDOW).expect("reopen");
        assert_eq!(
            check(&d, &["id-1", "new"], t + 10 * HOUR_MS),
            vec![true, false]
        );
        d.close();
    }

    #[test]
    fn a_retry_while_the_first_attempt_is_stored_is_in_flight_not_a_repeat() {
        let d = Dedup::in_memory(WINDOW);
        let t = 1_700_000_000_000;
        let (first, attempt) = d.reserve(&["x", "y", "x"], t);
        assert_eq!(first, [Verdict::New, Verdict::New, Verdict::Repeat]);
        // The client gives up and retries before the first attempt is answered.
        let (retry, r) = d.reserve(&["x", "z"], t + 5);
        assert_eq!(retry, [Verdict::InFlight, Verdict::New]);
        d.release(r);
        // The first attempt is refused after all: the next retry is new, not a repeat.
        d.release(attempt);
        let (verdicts, r) = d.reserve(&["x", "z"], t + 10);
        assert_eq!(verdicts, [Verdict::New, Verdict::New]);
        d.commit(r, t + 10);
        let (verdicts, r) = d.reserve(&["x", "z"], t + 20);
        assert_eq!(verdicts, [Verdict::Repeat, Verdict::Repeat]);
        d.release(r);
    }

    #[test]
    fn ids_are_written_only_once_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = 1_700_000_000_000;
        let d = Dedup::open(dir.path(), WINDOW).expect("open");
        let (_, r) = d.reserve(&["stored-later"], t);
        d.flush().expect("flush");
        // A crash here: the event was not stored yet, so its id must not be remembered.
        let reopened = Dedup::open(dir.path(), WINDOW).expect("reopen");
        assert_eq!(check(&reopened, &["stored-later"], t + 1), vec![true]);
        reopened.close();
        drop(reopened);
        d.commit(r, t + 2);
        d.close();
        let d = Dedup::open(dir.path(), WINDOW).expect("reopen");
        assert_eq!(check(&d, &["stored-later"], t + 3), vec![false]);
        d.close();
    }

    #[test]
    fn the_clock_going_back_never_makes_a_new_id_a_repeat() {
        let d = Dedup::in_memory(WINDOW);
        let t = 1_700_000_000_000;
        let bucket_ms = WINDOW.as_millis() as u64 / 32;
        assert_eq!(check(&d, &["a"], t), vec![true]);
        // A small step back keeps what is remembered.
        assert_eq!(check(&d, &["a", "b"], t - 3 * bucket_ms), vec![false, true]);
        // Far back (300 buckets, past the 256 a bucket tag can tell apart): "a" is new, the
        // remembered ids are dropped rather than misread, and new ids are taken as usual.
        let back = t - 300 * bucket_ms;
        assert_eq!(check(&d, &["c"], back), vec![true]);
        assert_eq!(check(&d, &["c", "a"], back + 1), vec![false, true]);
        // And forward again past a window: everything from the past has expired.
        assert_eq!(check(&d, &["c"], t + 40 * bucket_ms), vec![true]);
    }

    #[test]
    fn damaged_key_starts_afresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Dedup::open(dir.path(), WINDOW).expect("open");
        check(&d, &["x"], 1_000);
        d.close();
        std::fs::write(dir.path().join("key"), b"short").expect("write");
        let d = Dedup::open(dir.path(), WINDOW).expect("reopen");
        assert_eq!(check(&d, &["x"], 2_000), vec![true]);
        d.close();
    }
}

#[tokio::test]
async fn damage_found_while_running_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = open(dir.path(), Durability::Sync, 1_000).expect("open");
    let r = spool.append(1, 1, events(0, 5)).await.expect("append");
    // The disk changes under the spool: the third record's payload.
    let seg = segment_files(dir.path()).pop().expect("a segment");
    let mut b = std::fs::read(&seg).expect("read");
    let Decoded::Record(head) = format::decode(&b[format::SEGMENT_HEADER..]) else {
        panic!("a record")
    };
    b[format::SEGMENT_HEADER + 2 * head.total + 40] ^= 0x01;
    std::fs::write(&seg, &b).expect("write");

    let got = read(&*spool, 4).await;
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    let s = r.start;
    assert_eq!(seqs, vec![s, s + 1, s + 3, s + 4]);
    assert_eq!(
        spool.stats().pending_events,
        4,
        "the lost record is no longer pending"
    );
    spool.close().await;
}

#[tokio::test]
async fn a_dropped_read_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = open(dir.path(), Durability::Sync, 1_000).expect("open");
    let mut expected = Vec::new();
    for i in 0..20 {
        expected.extend(
            spool
                .append(1, 1, events(i * 50, 50))
                .await
                .expect("append"),
        );
    }
    // Reads given up at various points: what they did not return is not lost.
    let mut seqs = Vec::new();
    for i in 0..40 {
        let read = spool.next_batch(7);
        if let Ok(batch) = tokio::time::timeout(Duration::from_micros(i * 20), read).await {
            seqs.extend(batch.expect("read").iter().map(|r| r.seq));
        }
    }
    let rest = expected.len() - seqs.len();
    seqs.extend(read(&*spool, rest).await.iter().map(|r| r.seq));
    assert_eq!(seqs, expected);
    assert!(nothing_to_read(&*spool).await);
    spool.close().await;
}

#[test]
fn dedup_cap_forgets_the_oldest_buckets_first() {
    let window = Duration::from_secs(3200); // 32 buckets of 100 s
    let d = Dedup::in_memory(window).with_max_ids(120);
    let ids = |prefix: &str| (0..50).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
    let (a, b, c) = (ids("a"), ids("b"), ids("c"));
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let t0 = 1_000_000_000;
    assert!(d.check_and_insert(&refs(&a), t0).iter().all(|n| *n));
    assert!(d
        .check_and_insert(&refs(&b), t0 + 100_000)
        .iter()
        .all(|n| *n));
    // The third bucket passes the cap: the oldest bucket (a) goes, down to 90 % of it.
    assert!(d
        .check_and_insert(&refs(&c), t0 + 200_000)
        .iter()
        .all(|n| *n));
    assert_eq!(d.len(), 100);
    assert!(
        d.check_and_insert(&["c-1"], t0 + 200_001) == vec![false],
        "newest kept"
    );
    assert!(
        d.check_and_insert(&["b-1"], t0 + 200_001) == vec![false],
        "b still fits"
    );
    assert!(
        d.check_and_insert(&["a-1"], t0 + 200_001) == vec![true],
        "a forgotten early"
    );
}
