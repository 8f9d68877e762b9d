//! Destination-wide pacing: a requests-per-second limit, a cap on requests in flight that
//! drops to one after a 429 and ramps back up on success, and the Retry-After gate that stops
//! every request to the destination until it expires.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The pacing state of one destination.
pub struct Pacer {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
    max_in_flight: usize,
    /// The current cap on requests in flight (slow start after a 429).
    window: usize,
    /// Nothing is sent before this instant (a 429's Retry-After, or backoff without one).
    paused_until: Option<Instant>,
}

impl Pacer {
    /// A pacer allowing `rps` requests per second and `max_in_flight` at once.
    pub fn new(rps: u32, max_in_flight: usize) -> Pacer {
        let rps = NonZeroU32::new(rps.max(1)).unwrap_or(NonZeroU32::MIN);
        Pacer {
            limiter: RateLimiter::direct(Quota::per_second(rps)),
            clock: DefaultClock::default(),
            max_in_flight: max_in_flight.max(1),
            window: max_in_flight.max(1),
            paused_until: None,
        }
    }

    /// Whether a request may start now with `in_flight` already running. `Err(Some(t))` says
    /// when to look again; `Err(None)` means wait for a request to finish.
    pub fn try_start(&mut self, now: Instant, in_flight: usize) -> Result<(), Option<Instant>> {
        if let Some(t) = self.paused_until {
            if t > now {
                return Err(Some(t));
            }
            self.paused_until = None;
        }
        if in_flight >= self.window {
            return Err(None);
        }
        match self.limiter.check() {
            Ok(()) => Ok(()),
            Err(not_until) => Err(Some(now + not_until.wait_time_from(self.clock.now()))),
        }
    }

    /// The destination said 429: pause everything for `delay` and restart from one request
    /// in flight.
    pub fn throttled(&mut self, now: Instant, delay: Duration) {
        let until = now + delay;
        self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
        self.window = 1;
    }

    /// A request succeeded: widen the window again, one step per success.
    pub fn succeeded(&mut self) {
        if self.window < self.max_in_flight {
            self.window += 1;
        }
    }

    /// When the pause ends, if paused.
    #[cfg(test)]
    fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// The current in-flight cap.
    #[cfg(test)]
    fn window(&self) -> usize {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_pauses_and_ramps() {
        let mut p = Pacer::new(1000, 4);
        let now = Instant::now();
        assert!(p.try_start(now, 0).is_ok());
        p.throttled(now, Duration::from_secs(2));
        assert_eq!(p.try_start(now, 0), Err(Some(now + Duration::from_secs(2))));
        let later = now + Duration::from_secs(2);
        assert!(p.try_start(later, 0).is_ok());
        assert_eq!(
            p.try_start(later, 1),
            Err(None),
            "one in flight after a 429"
        );
        p.succeeded();
        assert!(p.try_start(later, 1).is_ok());
        for _ in 0..10 {
            p.succeeded();
        }
        assert_eq!(p.window(), 4);
    }

    #[test]
    fn a_shorter_later_pause_does_not_shorten_an_earlier_one() {
        let mut p = Pacer::new(1000, 4);
        let now = Instant::now();
        p.throttled(now, Duration::from_secs(5));
        p.throttled(now, Duration::from_secs(1));
        assert_eq!(p.paused_until(), Some(now + Duration::from_secs(5)));
    }
}
