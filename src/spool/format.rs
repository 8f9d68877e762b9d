//! The on-disk format of spool segments and of the acknowledgement checkpoint.
//!
//! A segment file, `<first seq, 20 digits>.seg`, is a 16-byte header followed by records:
//!
//! ```text
//! header:  "CIOSPOOL"  u32 version (1)  u32 reserved (0)
//! record:  u32 crc32   u32 len   u64 seq   u32 source   u64 received_ms   [len] payload
//! ```
//!
//! All integers are little-endian; the CRC-32 (IEEE) covers everything in the record after
//! itself. A record is valid when its length is plausible, its bytes are all there and its
//! CRC matches; seqs increase strictly through a segment and from one segment to the next.

use std::path::Path;

use bytes::Bytes;

use super::Record;

/// Start of every segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"CIOSPOOL";
/// Version of the segment format.
pub(crate) const SEGMENT_VERSION: u32 = 1;
/// Length of a segment's header.
pub(crate) const SEGMENT_HEADER: usize = 16;
/// Length of a record's header.
pub(crate) const RECORD_HEADER: usize = 28;
/// Largest payload the spool takes (far above any event ingest accepts).
pub(crate) const MAX_PAYLOAD: usize = 16 << 20;
/// Extension of segment files.
pub(crate) const SEGMENT_EXT: &str = "seg";

/// The header every segment starts with.
pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h
}

/// Whether `bytes` start with a valid segment header.
pub(crate) fn header_ok(bytes: &[u8]) -> bool {
    bytes.len() >= SEGMENT_HEADER
        && &bytes[..8] == SEGMENT_MAGIC
        && bytes[8..12] == SEGMENT_VERSION.to_le_bytes()
}

/// File name of the segment whose first seq is `base`.
pub(crate) fn segment_name(base: u64) -> String {
    format!("{base:020}.{SEGMENT_EXT}")
}

/// The first seq of a segment, from its file name.
pub(crate) fn parse_segment_name(path: &Path) -> Option<u64> {
    if path.extension()? != SEGMENT_EXT {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Appends one record to `out`.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    seq: u64,
    source: u32,
    received_ms: u64,
    payload: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&source.to_le_bytes());
    out.extend_from_slice(&received_ms.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// The header fields of a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHead {
    pub seq: u64,
    pub source: u32,
    pub received_ms: u64,
    /// Length of the whole record, header included.
    pub total: usize,
}

/// What the bytes at some offset hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A valid record.
    Record(RecordHead),
    /// The start of a record whose remaining bytes are missing (a torn tail, or more to read).
    Incomplete,
    /// Not a valid record.
    Corrupt,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes the record at the start of `b`.
pub(crate) fn decode(b: &[u8]) -> Decoded {
    if b.len() < RECORD_HEADER {
        return Decoded::Incomplete;
    }
    let len = u32_at(b, 4) as usize;
    if len > MAX_PAYLOAD {
        return Decoded::Corrupt;
    }
    let total = RECORD_HEADER + len;
    if b.len() < total {
        return Decoded::Incomplete;
    }
    if crc32fast::hash(&b[4..total]) != u32_at(b, 0) {
        return Decoded::Corrupt;
    }
    Decoded::Record(RecordHead {
        seq: u64_at(b, 8),
        source: u32_at(b, 16),
        received_ms: u64_at(b, 20),
        total,
    })
}

/// The record whose header is `head`, found at the start of `b`, with its payload copied out
/// (a payload shared with the read buffer would keep all of it alive).
pub(crate) fn to_record(head: &RecordHead, b: &[u8]) -> Record {
    Record {
        seq: head.seq,
        source: head.source,
        received_ms: head.received_ms,
        payload: Bytes::copy_from_slice(&b[RECORD_HEADER..head.total]),
    }
}

/// After damage at `from`: the offset of the next valid record in `b` with a seq above
/// `after` (when there is one), so that a damaged record costs only itself.
pub(crate) fn resync(b: &[u8], from: usize, after: Option<u64>) -> Option<usize> {
    let mut at = from;
    while at + RECORD_HEADER <= b.len() {
        // Cheap checks first: a plausible length and a seq in order, then the CRC.
        let len = u32_at(b, at + 4) as usize;
        let seq = u64_at(b, at + 8);
        let in_order = after.is_none_or(|a| seq > a && seq - a < 1 << 40);
        if len <= MAX_PAYLOAD && at + RECORD_HEADER + len <= b.len() && in_order {
            if let Decoded::Record(_) = decode(&b[at..]) {
                return Some(at);
            }
        }
        at += 1;
    }
    None
}

/// What [`scan`] found in a segment's bytes.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The valid records: header and offset, in order.
    pub records: Vec<(RecordHead, usize)>,
    /// Bytes of damaged or out-of-order records skipped between valid ones (or a bad header).
    pub skipped_regions: Vec<(usize, usize)>,
    /// Offset after the last valid record: what follows (if anything) is a torn or damaged
    /// tail.
    pub valid_end: usize,
    /// Whether the segment header was intact.
    pub header_ok: bool,
}

impl Scan {
    /// Whether the file needs rewriting to hold only its valid records.
    pub(crate) fn needs_rewrite(&self) -> bool {
        !self.header_ok || !self.skipped_regions.is_empty()
    }
}

/// Finds the valid records of a segment whose bytes are `b`; seqs must exceed `after`.
pub(crate) fn scan(b: &[u8], after: Option<u64>) -> Scan {
    let mut s = Scan {
        header_ok: header_ok(b),
        valid_end: SEGMENT_HEADER.min(b.len()),
        ..Scan::default()
    };
    let mut last = after;
    let mut at = SEGMENT_HEADER;
    if !s.header_ok {
        // Look for records anyway: they carry their own checksums.
        match resync(b, SEGMENT_HEADER.min(b.len()), last) {
            Some(next) => at = next,
            None => return s,
        }
    }
    while at < b.len() {
        match decode(&b[at..]) {
            Decoded::Record(head) if last.is_none_or(|l| head.seq > l) => {
                if at != s.valid_end {
                    s.skipped_regions.push((s.valid_end, at));
                }
                s.records.push((head, at));
                last = Some(head.seq);
                at += head.total;
                s.valid_end = at;
            }
            Decoded::Record(head) => {
                // Intact but out of order: skip it (and keep the seqs increasing).
                at += head.total;
            }
            Decoded::Incomplete | Decoded::Corrupt => match resync(b, at + 1, last) {
                Some(next) => at = next,
                None => break,
            },
        }
    }
    s
}

/// The acknowledgement checkpoint, file `acks`: which seqs below `next_seq` were still
/// pending when it was written. Every seq at or above `next_seq` counts as pending.
///
/// ```text
/// "CIOACKS1"  u64 next_seq  u64 n  n × (u64 start, u64 end)  u32 crc32 of all before
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub next_seq: u64,
    pub pending: Vec<(u64, u64)>,
}

const CHECKPOINT_MAGIC: &[u8; 8] = b"CIOACKS1";

/// Most ranges a checkpoint keeps; beyond that neighbours are merged (which marks the acked
/// seqs between them pending again: safe, they are only delivered twice).
pub(crate) const CHECKPOINT_MAX_RANGES: usize = 1 << 16;

impl Checkpoint {
    /// Whether `seq` was pending at the checkpoint.
    pub(crate) fn is_pending(&self, seq: u64) -> bool {
        if seq >= self.next_seq {
            return true;
        }
        let i = self.pending.partition_point(|&(start, _)| start <= seq);
        i > 0 && seq < self.pending[i - 1].1
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut ranges: &[(u64, u64)] = &self.pending;
        let coarse: Vec<(u64, u64)>;
        if ranges.len() > CHECKPOINT_MAX_RANGES {
            let per = ranges.len().div_ceil(CHECKPOINT_MAX_RANGES);
            coarse = ranges
                .chunks(per)
                .map(|c| (c[0].0, c[c.len() - 1].1))
                .collect();
            ranges = &coarse;
        }
        let mut out = Vec::with_capacity(28 + ranges.len() * 16);
        out.extend_from_slice(CHECKPOINT_MAGIC);
        out.extend_from_slice(&self.next_seq.to_le_bytes());
        out.extend_from_slice(&(ranges.len() as u64).to_le_bytes());
        for &(s, e) in ranges {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() < 28 || &b[..8] != CHECKPOINT_MAGIC {
            return None;
        }
        let body = b.len() - 4;
        if crc32fast::hash(&b[..body]) != u32_at(b, body) {
            return None;
        }
        let n = usize::try_from(u64_at(b, 16)).ok()?;
        if n.checked_mul(16)?.checked_add(24)? != body {
            return None;
        }
        let pending = (0..n)
            .map(|i| (u64_at(b, 24 + i * 16), u64_at(b, 32 + i * 16)))
            .collect();
        Some(Checkpoint {
            next_seq: u64_at(b, 8),
            pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(seqs: &[u64]) -> (Vec<u8>, Vec<usize>) {
        let mut b = segment_header().to_vec();
        let mut offsets = Vec::new();
        for &s in seqs {
            offsets.push(b.len());
            encode_record(&mut b, s, 3, 1000 + s, format!("{{\"n\":{s}}}").as_bytes());
        }
        (b, offsets)
    }

    fn seqs(s: &Scan) -> Vec<u64> {
        s.records.iter().map(|(h, _)| h.seq).collect()
    }

    #[test]
    fn round_trip() {
        let (b, offsets) = segment(&[7, 8]);
        let Decoded::Record(head) = decode(&b[offsets[1]..]) else {
            panic!("not a record")
        };
        let r = to_record(&head, &b[offsets[1]..]);
        assert_eq!((r.seq, r.source, r.received_ms), (8, 3, 1008));
        assert_eq!(&r.payload[..], b"{\"n\":8}");
        let s = scan(&b, None);
        assert_eq!(seqs(&s), vec![7, 8]);
        assert_eq!(s.valid_end, b.len());
        assert!(!s.needs_rewrite());
    }

    #[test]
    fn torn_tail_ends_the_scan() {
        let (b, offsets) = segment(&[1, 2, 3]);
        for cut in offsets[2] + 1..b.len() {
            let s = scan(&b[..cut], None);
            assert_eq!(seqs(&s), vec![1, 2]);
            assert_eq!(s.valid_end, offsets[2]);
            assert!(!s.needs_rewrite());
        }
    }

    #[test]
    fn a_damaged_record_costs_only_itself() {
        let (mut b, offsets) = segment(&[1, 2, 3, 4]);
        b[offsets[1] + 30] ^= 0xff; // payload of 2
        b[offsets[2] + 5] ^= 0x10; // length of 3
        let s = scan(&b, None);
        assert_eq!(seqs(&s), vec![1, 4]);
        assert_eq!(s.skipped_regions, vec![(offsets[1], offsets[3])]);
        assert!(s.needs_rewrite());
    }

    #[test]
    fn bad_header_and_stale_seqs() {
        let (mut b, _) = segment(&[5, 6]);
        b[0] = b'X';
        let s = scan(&b, Some(5));
        assert!(!s.header_ok);
        assert_eq!(seqs(&s), vec![6]);
    }

    #[test]
    fn checkpoint_round_trip_and_damage() {
        let c = Checkpoint {
            next_seq: 100,
            pending: vec![(3, 5), (10, 11)],
        };
        let b = c.encode();
        assert_eq!(Checkpoint::decode(&b), Some(c.clone()));
        assert!(c.is_pending(3) && c.is_pending(4) && !c.is_pending(5) && c.is_pending(10));
        assert!(!c.is_pending(0) && !c.is_pending(99) && c.is_pending(100));
        let mut bad = b.clone();
        bad[20] ^= 1;
        assert_eq!(Checkpoint::decode(&bad), None);
        assert_eq!(Checkpoint::decode(&b[..b.len() - 1]), None);
    }

    #[test]
    fn oversized_checkpoints_are_coarsened_safely() {
        let pending: Vec<(u64, u64)> = (0..CHECKPOINT_MAX_RANGES as u64 * 2 + 1)
            .map(|i| (i * 3, i * 3 + 1))
            .collect();
        let c = Checkpoint {
            next_seq: u64::MAX,
            pending: pending.clone(),
        };
        let d = Checkpoint::decode(&c.encode()).expect("valid");
        assert!(d.pending.len() <= CHECKPOINT_MAX_RANGES);
        assert!(pending.iter().all(|&(s, _)| d.is_pending(s)));
    }

    #[test]
    fn segment_names() {
        let name = segment_name(42);
        assert_eq!(parse_segment_name(Path::new(&name)), Some(42));
        assert_eq!(parse_segment_name(Path::new("42.seg")), None);
        assert_eq!(parse_segment_name(Path::new("acks")), None);
    }
}
