//! Per-thread pacing: issue operations on an absolute schedule.
//!
//! Each thread owns a schedule `start + k * interval`. Waiting for the next
//! slot sleeps for the bulk of a long gap and spins for the rest, because
//! a sleep overshoots by the timer slack plus the wake-up latency (tens of
//! microseconds; worker threads set their slack to 1 ns, see
//! [`set_fine_timer_slack`]). The schedule is absolute, so a late wake-up is
//! made up by the following operations and the average rate stays exact;
//! when a thread falls more than [`Pacer::MAX_LAG`] (100 ms) behind (the operation
//! itself is slower than the interval, or the thread was descheduled), the
//! schedule restarts from now instead of bursting to catch up, and the slip
//! is counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The target rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as possible.
    Max,
    /// Operations per second, in total across all threads.
    PerSec(f64),
}

impl Rate {
    /// The interval between two operations of one of `threads` threads;
    /// `None` for [`Rate::Max`].
    pub fn per_thread_interval(self, threads: usize) -> Option<Duration> {
        match self {
            Rate::Max => None,
            Rate::PerSec(r) => {
                let per_thread = r / threads.max(1) as f64;
                Some(Duration::from_secs_f64(1.0 / per_thread))
            }
        }
    }
}

impl std::str::FromStr for Rate {
    type Err = String;
    /// `max`, or a positive number with an optional `k` (thousand) or `M`
    /// (million) suffix: `500`, `2.5k`, `1M`.
    fn from_str(s: &str) -> Result<Rate, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        let (num, mult) = match s.as_bytes().last() {
            Some(b'k' | b'K') => (&s[..s.len() - 1], 1e3),
            Some(b'M' | b'm') => (&s[..s.len() - 1], 1e6),
            _ => (s, 1.0),
        };
        let v: f64 = num
            .parse()
            .map_err(|_| format!("invalid rate {s:?}: expected a number of operations per second (e.g. 1000, 2.5k, 1M) or \"max\""))?;
        let v = v * mult;
        if !v.is_finite() || v <= 0.0 {
            return Err(format!(
                "invalid rate {s:?}: must be a positive number of operations per second"
            ));
        }
        Ok(Rate::PerSec(v))
    }
}

/// The clock a pacer reads and sleeps on; a trait so the scheduling logic
/// can be tested without real time.
pub trait Clock {
    /// Now.
    fn now(&mut self) -> Instant;
    /// Sleeps for about `d` (may overshoot).
    fn sleep(&mut self, d: Duration);
    /// Called in the spin loop.
    fn spin(&mut self) {
        std::hint::spin_loop();
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&mut self) -> Instant {
        Instant::now()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// Lowers the calling thread's timer slack to 1 ns so that short sleeps
/// wake up on time (the default slack is 50 µs). Returns false if the
/// kernel refused.
pub fn set_fine_timer_slack() -> bool {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) == 0 }
}

/// Paces one thread.
#[derive(Debug)]
pub struct Pacer<C: Clock = RealClock> {
    interval: Option<Duration>,
    next: Option<Instant>,
    spin_below: Duration,
    slips: u64,
    clock: C,
}

impl Pacer<RealClock> {
    /// A pacer on the real clock.
    pub fn new(interval: Option<Duration>) -> Pacer<RealClock> {
        Pacer::with_clock(interval, RealClock)
    }
}

impl<C: Clock> Pacer<C> {
    /// How far behind schedule a thread may fall before the schedule
    /// restarts from now.
    pub const MAX_LAG: Duration = Duration::from_millis(100);
    /// Gaps shorter than this are spun, longer ones slept (minus this).
    pub const DEFAULT_SPIN: Duration = Duration::from_micros(80);
    /// The longest single sleep, so that a stop request is seen promptly
    /// even at very low rates.
    pub const SLEEP_SLICE: Duration = Duration::from_millis(20);

    /// A pacer on `clock`; `interval` `None` means flat out.
    pub fn with_clock(interval: Option<Duration>, clock: C) -> Pacer<C> {
        Pacer {
            interval,
            next: None,
            spin_below: Self::DEFAULT_SPIN,
            slips: 0,
            clock,
        }
    }

    /// Times the schedule restarted because the thread fell behind.
    pub fn slips(&self) -> u64 {
        self.slips
    }

    /// The clock.
    pub fn clock(&mut self) -> &mut C {
        &mut self.clock
    }

    /// Waits until the next operation is due. The first call returns at
    /// once and starts the schedule. Long waits are sliced so that a
    /// raised `stop` ends them within [`Pacer::SLEEP_SLICE`]; returns
    /// false when that happened (the operation should not run).
    #[inline]
    pub fn wait(&mut self, stop: &AtomicBool) -> bool {
        let Some(iv) = self.interval else {
            return true;
        };
        let now = self.clock.now();
        let Some(next) = self.next else {
            self.next = Some(now + iv);
            return true;
        };
        if now < next {
            loop {
                let now = self.clock.now();
                if now + self.spin_below >= next {
                    break;
                }
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                self.clock
                    .sleep((next - self.spin_below - now).min(Self::SLEEP_SLICE));
            }
            while self.clock.now() < next {
                self.clock.spin();
            }
            self.next = Some(next + iv);
        } else if now - next > Self::MAX_LAG {
            self.slips += 1;
            self.next = Some(now + iv);
        } else {
            self.next = Some(next + iv);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that only moves when slept on or spun, by fixed amounts.
    struct FakeClock {
        t: Instant,
        spin_step: Duration,
        overshoot: Duration,
        slept: Vec<Duration>,
    }

    impl Clock for FakeClock {
        fn now(&mut self) -> Instant {
            self.t
        }
        fn sleep(&mut self, d: Duration) {
            self.slept.push(d);
            self.t += d + self.overshoot;
        }
        fn spin(&mut self) {
            self.t += self.spin_step;
        }
    }

    fn fake(overshoot_us: u64) -> FakeClock {
        FakeClock {
            t: Instant::now(),
            spin_step: Duration::from_micros(1),
            overshoot: Duration::from_micros(overshoot_us),
            slept: Vec::new(),
        }
    }

    static GO: AtomicBool = AtomicBool::new(false);

    #[test]
    fn low_rates_sleep_in_slices_and_stop_promptly() {
        let iv = Duration::from_secs(10);
        let mut p = Pacer::with_clock(Some(iv), fake(0));
        assert!(p.wait(&GO));
        let t0 = p.clock().t;
        assert!(p.wait(&GO));
        assert_eq!(p.clock().t, t0 + iv);
        let slept = &p.clock().slept;
        assert!(slept.len() >= 500, "{}", slept.len());
        assert!(slept.iter().all(|d| *d <= Pacer::<FakeClock>::SLEEP_SLICE));
        let stop = AtomicBool::new(true);
        let before = p.clock().t;
        assert!(!p.wait(&stop), "a raised stop ends the wait");
        assert!(p.clock().t - before <= Pacer::<FakeClock>::SLEEP_SLICE);
    }

    #[test]
    fn rate_parsing() {
        assert_eq!("max".parse::<Rate>(), Ok(Rate::Max));
        assert_eq!("MAX".parse::<Rate>(), Ok(Rate::Max));
        assert_eq!("1000".parse::<Rate>(), Ok(Rate::PerSec(1000.0)));
        assert_eq!("2.5k".parse::<Rate>(), Ok(Rate::PerSec(2500.0)));
        assert_eq!("1M".parse::<Rate>(), Ok(Rate::PerSec(1e6)));
        for bad in ["0", "-5", "abc", "", "k", "inf", "NaN"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} should be rejected");
        }
        assert_eq!(
            Rate::PerSec(1000.0).per_thread_interval(4),
            Some(Duration::from_millis(4))
        );
        assert_eq!(Rate::Max.per_thread_interval(4), None);
    }

    #[test]
    fn long_gaps_sleep_then_spin_and_land_on_schedule() {
        let iv = Duration::from_millis(1);
        let mut p = Pacer::with_clock(Some(iv), fake(30));
        let t0 = p.clock().t;
        assert!(p.wait(&GO)); // starts the schedule
        for k in 1..=100u32 {
            assert!(p.wait(&GO));
            let t = p.clock().t;
            // Never early, and late by at most one spin step.
            assert!(t >= t0 + iv * k, "op {k} early");
            assert!(t <= t0 + iv * k + Duration::from_micros(1), "op {k} late");
        }
        // Slept gap - spin threshold each time: the overshoot (30 µs) is
        // absorbed by the spin margin (80 µs).
        assert!(p
            .clock()
            .slept
            .iter()
            .all(|d| *d == iv - Pacer::<FakeClock>::DEFAULT_SPIN));
        assert_eq!(p.slips(), 0);
    }

    #[test]
    fn short_gaps_only_spin() {
        let iv = Duration::from_micros(10);
        let mut p = Pacer::with_clock(Some(iv), fake(0));
        assert!(p.wait(&GO));
        for _ in 0..50 {
            assert!(p.wait(&GO));
        }
        assert!(p.clock().slept.is_empty());
    }

    #[test]
    fn small_lag_is_caught_up_large_lag_restarts() {
        let iv = Duration::from_millis(1);
        let mut p = Pacer::with_clock(Some(iv), fake(0));
        assert!(p.wait(&GO));
        let t0 = p.clock().t;
        // The operation took 5 ms: the next 5 slots are due at once.
        p.clock().t += Duration::from_millis(5);
        let before = p.clock().t;
        for _ in 0..5 {
            assert!(p.wait(&GO));
        }
        assert_eq!(p.clock().t, before, "catch-up must not wait");
        assert!(p.wait(&GO));
        assert_eq!(p.clock().t, t0 + iv * 6);
        // A 1 s stall restarts the schedule rather than bursting 1000 ops.
        p.clock().t += Duration::from_secs(1);
        assert!(p.wait(&GO));
        assert_eq!(p.slips(), 1);
        let s = p.clock().t;
        assert!(p.wait(&GO));
        assert_eq!(p.clock().t, s + iv);
    }

    #[test]
    fn max_rate_never_waits() {
        let mut p = Pacer::with_clock(None, fake(0));
        let t = p.clock().t;
        for _ in 0..10 {
            assert!(p.wait(&GO));
        }
        assert_eq!(p.clock().t, t);
    }
}
