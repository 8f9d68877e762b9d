//! The set of appended but not yet acknowledged sequence numbers, kept as runs.
//!
//! Appends add whole runs at the tail (one per append call, sharing one `received_ms`); acks
//! remove single seqs in any order, splitting runs. Memory is proportional to the number of
//! runs, which is at most the number of pending records however far apart they are, so a
//! single record stuck in a retry does not make the structure grow with the traffic after it.

use std::collections::BTreeMap;

/// One run of consecutive pending seqs, `start..end`, all received at `received_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    end: u64,
    received_ms: u64,
}

/// Pending (unacknowledged) seqs.
#[derive(Debug, Default)]
pub(crate) struct PendingSet {
    runs: BTreeMap<u64, Run>,
    count: u64,
}

impl PendingSet {
    /// Adds `start..end`; `start` must not be below any seq already added.
    pub(crate) fn push(&mut self, start: u64, end: u64, received_ms: u64) {
        if start >= end {
            return;
        }
        if let Some(mut last) = self.runs.last_entry() {
            let run = last.get_mut();
            debug_assert!(run.end <= start, "runs are appended in seq order");
            if run.end == start && run.received_ms == received_ms {
                run.end = end;
                self.count += end - start;
                return;
            }
        }
        self.runs.insert(start, Run { end, received_ms });
        self.count += end - start;
    }

    /// Removes `seq`; false when it was not pending.
    pub(crate) fn remove(&mut self, seq: u64) -> bool {
        let Some((&start, run)) = self.runs.range_mut(..=seq).next_back() else {
            return false;
        };
        if seq >= run.end {
            return false;
        }
        let Run { end, received_ms } = *run;
        if seq + 1 == end {
            if start == seq {
                self.runs.remove(&start);
            } else {
                run.end = seq;
            }
        } else if start == seq {
            self.runs.remove(&start);
            self.runs.insert(seq + 1, Run { end, received_ms });
        } else {
            run.end = seq;
            self.runs.insert(seq + 1, Run { end, received_ms });
        }
        self.count -= 1;
        true
    }

    /// Removes every pending seq in `start..end`; returns how many there were.
    pub(crate) fn remove_range(&mut self, start: u64, end: u64) -> u64 {
        let seqs: Vec<u64> = self
            .runs_overlapping(start, end)
            .flat_map(|(s, e)| s.max(start)..e.min(end))
            .collect();
        for &seq in &seqs {
            self.remove(seq);
        }
        seqs.len() as u64
    }

    /// Whether `seq` is pending.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.runs
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, run)| seq < run.end)
    }

    /// Whether any seq in `start..end` is pending.
    pub(crate) fn intersects(&self, start: u64, end: u64) -> bool {
        self.runs_overlapping(start, end).next().is_some()
    }

    fn runs_overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let first = self
            .runs
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        self.runs
            .range(first..end)
            .map(|(&s, run)| (s, run.end))
            .filter(move |&(_, e)| e > start)
    }

    /// How many seqs are pending.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The lowest pending seq.
    pub(crate) fn first(&self) -> Option<u64> {
        self.runs.first_key_value().map(|(&s, _)| s)
    }

    /// `received_ms` of the lowest pending seq: how long the oldest undelivered event waits.
    pub(crate) fn oldest_received_ms(&self) -> Option<u64> {
        self.runs.first_key_value().map(|(_, run)| run.received_ms)
    }

    /// The pending seqs as maximal `start..end` ranges, in order (adjacent runs merged).
    pub(crate) fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(self.runs.len());
        for (&start, run) in &self.runs {
            match out.last_mut() {
                Some(last) if last.1 == start => last.1 = run.end,
                _ => out.push((start, run.end)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_split_and_merge_runs() {
        let mut p = PendingSet::default();
        p.push(0, 10, 5);
        p.push(10, 20, 5);
        p.push(20, 25, 7);
        assert_eq!(p.count(), 25);
        assert_eq!(p.ranges(), vec![(0, 25)]);
        assert!(p.remove(0));
        assert!(!p.remove(0));
        assert!(p.remove(5));
        assert!(p.remove(19));
        assert!(p.remove(24));
        assert!(!p.remove(30));
        assert_eq!(p.count(), 21);
        assert_eq!(p.ranges(), vec![(1, 5), (6, 19), (20, 24)]);
        assert_eq!(p.first(), Some(1));
        assert_eq!(p.oldest_received_ms(), Some(5));
        assert!(p.contains(6) && !p.contains(5) && !p.contains(24));
        assert!(p.intersects(4, 6) && !p.intersects(5, 6) && !p.intersects(24, 100));
        assert_eq!(p.remove_range(0, 21), 18);
        assert_eq!(p.ranges(), vec![(21, 24)]);
        assert_eq!(p.oldest_received_ms(), Some(7));
        for s in 21..24 {
            assert!(p.remove(s));
        }
        assert_eq!(p.count(), 0);
        assert_eq!(p.first(), None);
        assert_eq!(p.oldest_received_ms(), None);
    }

    #[test]
    fn matches_a_naive_model() {
        let mut p = PendingSet::default();
        let mut model = std::collections::BTreeSet::new();
        let mut next = 0;
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2_000 {
            if rng.bool() {
                let n = rng.u64(1..20);
                p.push(next, next + n, rng.u64(0..3));
                model.extend(next..next + n);
                next += n;
            } else if next > 0 {
                let s = rng.u64(0..next);
                assert_eq!(p.remove(s), model.remove(&s));
            }
            assert_eq!(p.count(), model.len() as u64);
            assert_eq!(p.first(), model.first().copied());
        }
        let flat: Vec<u64> = p.ranges().into_iter().flat_map(|(s, e)| s..e).collect();
        assert_eq!(flat, model.into_iter().collect::<Vec<_>>());
    }
}
