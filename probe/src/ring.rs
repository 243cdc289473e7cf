//! Per-CPU ring buffer readers.
//!
//! Each CPU's BPF_MAP_TYPE_RINGBUF is mapped directly (not through aya's
//! `RingBuf`): the consumer page read-write, the producer page and the data
//! area read-only, the data area twice in a row so a record that wraps is
//! still one contiguous slice. That gives:
//! - zero copy: the callback sees the record in ring memory;
//! - one consumer-position store per batch instead of one per record (the
//!   producer reads that cache line on every reserve);
//! - the fill level (producer - consumer) for free.
//!
//! The probe commits records with BPF_RB_NO_WAKEUP, so epoll would never
//! fire: readers poll and back off ([`Backoff`]) when the ring is empty.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ProbeError;

/// Header of a ring record (`struct bpf_ringbuf_hdr`): length and flags.
const HDR_SZ: u64 = 8;
const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;

/// One ring's memory mappings. Shared by the reader and the probe (for the
/// fill level); unmapped when the last holder drops it.
pub(crate) struct RingMapping {
    cpu: u32,
    consumer: *mut u8,
    producer: *mut u8,
    page: usize,
    size: usize,
}

// SAFETY: the mappings are process-wide memory; the positions are only
// accessed through atomics and the data area is read-only to us. Only the
// single RingReader (not Clone) writes the consumer position.
unsafe impl Send for RingMapping {}
// SAFETY: as above; shared access is atomic loads only.
unsafe impl Sync for RingMapping {}

impl RingMapping {
    /// Maps the ring behind `fd`, of `size` data bytes.
    pub(crate) fn new(
        cpu: u32,
        fd: BorrowedFd<'_>,
        size: usize,
    ) -> Result<RingMapping, ProbeError> {
        let page = page_size();
        let raw = fd.as_raw_fd();
        // SAFETY: mapping a BPF ring buffer fd as the kernel documents:
        // one writable consumer page at offset 0, then the producer page
        // and twice the data area read-only at offset page.
        let consumer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if consumer == libc::MAP_FAILED {
            return Err(ProbeError::Mmap {
                cpu,
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: as above.
        let producer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page + 2 * size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                raw,
                page as libc::off_t,
            )
        };
        if producer == libc::MAP_FAILED {
            let source = std::io::Error::last_os_error();
            // SAFETY: unmapping what was mapped just above.
            unsafe { libc::munmap(consumer, page) };
            return Err(ProbeError::Mmap { cpu, source });
        }
        Ok(RingMapping {
            cpu,
            consumer: consumer.cast(),
            producer: producer.cast(),
            page,
            size,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped, page aligned, and the kernel
        // keeps consumer_pos (an unsigned long) at its start.
        unsafe { &*self.consumer.cast::<AtomicU64>() }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as above for the producer page.
        unsafe { &*self.producer.cast::<AtomicU64>() }
    }

    fn data(&self) -> *const u8 {
        // SAFETY: the data area starts one page after the producer page.
        unsafe { self.producer.add(self.page) }
    }

    pub(crate) fn fill(&self) -> RingFill {
        let cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Acquire);
        RingFill {
            cpu: self.cpu,
            used: prod.saturating_sub(cons),
            size: self.size as u64,
        }
    }
}

impl Drop for RingMapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the two mappings made in new().
        unsafe {
            libc::munmap(self.consumer.cast(), self.page);
            libc::munmap(self.producer.cast(), self.page + 2 * self.size);
        }
    }
}

/// How full one CPU's ring is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFill {
    /// The CPU the ring belongs to.
    pub cpu: u32,
    /// Bytes written by the probe and not yet consumed (headers included).
    pub used: u64,
    /// Capacity of the ring in bytes.
    pub size: u64,
}

impl RingFill {
    /// `used / size`, between 0 and 1.
    pub fn ratio(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.used as f64 / self.size as f64
        }
    }
}

/// Reads one CPU's ring. `Send`: move it to the worker thread pinned to
/// that CPU. There is exactly one reader per ring.
pub struct RingReader {
    map: Arc<RingMapping>,
    /// Our consumer position; published to the kernel after each batch.
    pos: u64,
    mask: u64,
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReader")
            .field("cpu", &self.map.cpu)
            .field("size", &self.map.size)
            .field("pos", &self.pos)
            .finish()
    }
}

impl RingReader {
    pub(crate) fn new(map: Arc<RingMapping>) -> RingReader {
        let pos = map.consumer_pos().load(Ordering::Acquire);
        let mask = map.size as u64 - 1;
        RingReader { map, pos, mask }
    }

    /// The CPU whose ring this is.
    pub fn cpu(&self) -> u32 {
        self.map.cpu
    }

    /// Hands up to `max` committed records to `f`, in ring order, each as a
    /// slice of ring memory (decode it with [`crate::RawEvent::parse`]).
    /// The space is given back to the kernel when the batch ends. Returns
    /// the number of records handed out.
    pub fn poll(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let prod = self.map.producer_pos().load(Ordering::Acquire);
        let data = self.map.data();
        let mut cons = self.pos;
        let mut n = 0;
        while cons < prod && n < max {
            let off = (cons & self.mask) as usize;
            // SAFETY: off < size and the data area is mapped twice, so the
            // 8-byte header and the record (len < size) are readable; the
            // header is 8-byte aligned in the ring.
            let hdr = unsafe { &*data.add(off).cast::<AtomicU32>() };
            let len = hdr.load(Ordering::Acquire);
            if len & BUSY_BIT != 0 {
                // Reserved, not yet committed: stop here, records after it
                // may be complete but must be read in order.
                break;
            }
            let rec_len = (len & !(BUSY_BIT | DISCARD_BIT)) as u64;
            if len & DISCARD_BIT == 0 {
                // SAFETY: the record lies within the double mapping
                // (off + 8 + rec_len <= 2 * size) and the kernel will not
                // reuse it until we advance the consumer position.
                let rec = unsafe {
                    std::slice::from_raw_parts(data.add(off + HDR_SZ as usize), rec_len as usize)
                };
                f(rec);
                n += 1;
            }
            cons += (rec_len + HDR_SZ + 7) & !7;
        }
        if cons != self.pos {
            self.pos = cons;
            self.map.consumer_pos().store(cons, Ordering::Release);
        }
        n
    }

    /// Whether committed or in-flight records are waiting.
    pub fn has_data(&self) -> bool {
        self.map.producer_pos().load(Ordering::Acquire) > self.pos
    }

    /// Bytes waiting in the ring.
    pub fn pending_bytes(&self) -> u64 {
        self.map
            .producer_pos()
            .load(Ordering::Acquire)
            .saturating_sub(self.pos)
    }

    /// The fill level of this ring.
    pub fn fill(&self) -> RingFill {
        self.map.fill()
    }

    /// Waits until records are available or `timeout` passes, backing off
    /// as `backoff` says. Returns whether records are available.
    pub fn wait(&self, backoff: &mut Backoff, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.has_data() {
                backoff.reset();
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            backoff.snooze(deadline - now);
        }
    }
}

/// Adaptive back-off for an empty ring: a few spins, then yields, then
/// sleeps that double from `min_sleep` up to `max_sleep`. The longest sleep
/// bounds the latency added to the first event after a quiet period.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: u32,
    sleep: Duration,
    /// First sleep after spinning and yielding.
    pub min_sleep: Duration,
    /// Longest sleep.
    pub max_sleep: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_micros(50), Duration::from_millis(1))
    }
}

impl Backoff {
    const SPINS: u32 = 64;
    const YIELDS: u32 = 8;

    /// A back-off with the given sleep bounds.
    pub fn new(min_sleep: Duration, max_sleep: Duration) -> Backoff {
        Backoff {
            step: 0,
            sleep: min_sleep,
            min_sleep,
            max_sleep,
        }
    }

    /// Back to spinning (call when data arrived).
    pub fn reset(&mut self) {
        self.step = 0;
        self.sleep = self.min_sleep;
    }

    /// Waits one step, never longer than `limit`.
    pub fn snooze(&mut self, limit: Duration) {
        if self.step < Self::SPINS {
            std::hint::spin_loop();
        } else if self.step < Self::SPINS + Self::YIELDS {
            std::thread::yield_now();
        } else {
            std::thread::sleep(self.sleep.min(limit));
            self.sleep = (self.sleep * 2).min(self.max_sleep);
        }
        self.step = self.step.saturating_add(1);
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_resets() {
        let mut b = Backoff::new(Duration::from_micros(1), Duration::from_micros(4));
        for _ in 0..Backoff::SPINS + Backoff::YIELDS {
            b.snooze(Duration::from_millis(1));
        }
        assert_eq!(b.sleep, Duration::from_micros(1));
        b.snooze(Duration::from_millis(1));
        assert_eq!(b.sleep, Duration::from_micros(2));
        b.snooze(Duration::from_millis(1));
        b.snooze(Duration::from_millis(1));
        assert_eq!(b.sleep, Duration::from_micros(4));
        b.reset();
        assert_eq!(b.step, 0);
        assert_eq!(b.sleep, Duration::from_micros(1));
    }

    #[test]
    fn fill_ratio() {
        let f = RingFill {
            cpu: 0,
            used: 1024,
            size: 4096,
        };
        assert!((f.ratio() - 0.25).abs() < 1e-9);
    }
}
