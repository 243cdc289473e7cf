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
//! The probe commits records with BPF_RB_NO_WAKEUP while their reader is
//! busy (a wake-up per record is an irq_work each), so a busy reader polls
//! and pauses between polls ([`Backoff`]). A reader that finds its ring
//! idle parks ([`RingReader::park`]): it sets its CPU's `kst_park` slot and
//! sleeps in poll(2), and the probe commits the next record with
//! BPF_RB_FORCE_WAKEUP, which wakes it once.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
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
    /// The ring's map fd (a duplicate, so readers outlive the probe), for
    /// poll(2).
    fd: OwnedFd,
    /// The probe's wake-up requests, one slot per CPU.
    park: Arc<ParkSlots>,
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
        park: Arc<ParkSlots>,
    ) -> Result<RingMapping, ProbeError> {
        let page = page_size();
        let owned = fd.try_clone_to_owned().map_err(|source| ProbeError::Io {
            what: format!("cannot duplicate the ring buffer fd of CPU {cpu}"),
            source,
        })?;
        // A BPF ring buffer fd maps as the kernel documents: one writable
        // consumer page at offset 0, then the producer page and twice the
        // data area read-only at offset page.
        let consumer = map_shared(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)
            .map_err(|source| ProbeError::Mmap { cpu, source })?;
        let producer = match map_shared(fd, page + 2 * size, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(source) => {
                // SAFETY: unmapping what was mapped just above.
                unsafe { libc::munmap(consumer.cast(), page) };
                return Err(ProbeError::Mmap { cpu, source });
            }
        };
        Ok(RingMapping {
            cpu,
            fd: owned,
            park,
            consumer,
            producer,
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

/// A new shared mapping of `len` bytes of `fd` from `offset`.
fn map_shared(
    fd: BorrowedFd<'_>,
    len: usize,
    prot: libc::c_int,
    offset: usize,
) -> std::io::Result<*mut u8> {
    // SAFETY: the kernel picks the address of a fresh mapping; no memory
    // of ours is touched. What the mapping may be used for is up to the
    // caller, who knows the object behind `fd`.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}

/// The `kst_park` map, mmapped: slot `cpu` set to 1 asks the probe to wake
/// that CPU's reader with the next record (the probe clears it).
pub(crate) struct ParkSlots {
    base: *mut u8,
    len: usize,
    slots: usize,
}

// SAFETY: shared memory accessed only through atomics.
unsafe impl Send for ParkSlots {}
// SAFETY: as above.
unsafe impl Sync for ParkSlots {}

impl ParkSlots {
    /// Maps the `kst_park` array (`slots` u64 values) behind `fd`.
    pub(crate) fn new(fd: BorrowedFd<'_>, slots: usize) -> Result<ParkSlots, ProbeError> {
        let page = page_size();
        let len = (slots * 8).div_ceil(page).max(1) * page;
        // An mmapable BPF array maps its values contiguously (8 bytes each
        // for a u64 value) from offset 0.
        let base =
            map_shared(fd, len, libc::PROT_READ | libc::PROT_WRITE, 0).map_err(|source| {
                ProbeError::Io {
                    what: "cannot mmap the probe's kst_park map".into(),
                    source,
                }
            })?;
        Ok(ParkSlots { base, len, slots })
    }

    fn slot(&self, cpu: u32) -> Option<&AtomicU64> {
        // SAFETY: in bounds, 8-byte aligned (page-aligned base).
        ((cpu as usize) < self.slots).then(|| unsafe { &*self.base.add(cpu as usize * 8).cast() })
    }
}

impl Drop for ParkSlots {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in new().
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The event inside a ring record. Records reserved in place for the
/// largest case (openat with an inline path) are longer than the event;
/// the event header's `len` says how much is used. A record whose header
/// claims more than the record holds is handed out whole, for the decoder
/// to reject and count.
fn trim(rec: &[u8]) -> &[u8] {
    const LEN_AT: usize = std::mem::offset_of!(kestrel_event::wire::EventHdr, len);
    match rec.get(LEN_AT..LEN_AT + 4) {
        Some(b) => {
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if len <= rec.len() {
                &rec[..len]
            } else {
                rec
            }
        }
        None => rec,
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
            if rec_len + HDR_SZ > self.map.size as u64 {
                // The kernel never writes this; stop rather than read
                // outside the mapping.
                break;
            }
            if len & DISCARD_BIT == 0 {
                // SAFETY: the record lies within the double mapping
                // (off + 8 + rec_len <= 2 * size) and the kernel will not
                // reuse it until we advance the consumer position.
                let rec = unsafe {
                    std::slice::from_raw_parts(data.add(off + HDR_SZ as usize), rec_len as usize)
                };
                f(trim(rec));
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

    /// Sleeps in poll(2) until the probe commits a record to this ring or
    /// `timeout` passes; returns whether records are waiting. For a reader
    /// that found its ring idle: the probe wakes it with the next record
    /// (one wake-up per park, not one per record). A record whose writer
    /// read the park request a moment before it was made is picked up at
    /// the timeout at the latest.
    pub fn park(&self, timeout: Duration) -> bool {
        let Some(slot) = self.map.park.slot(self.map.cpu) else {
            std::thread::sleep(timeout);
            return self.has_data();
        };
        // SeqCst: the request is visible before we look at the producer
        // position (in poll's check below).
        slot.store(1, Ordering::SeqCst);
        if !self.has_data() {
            let mut pfd = libc::pollfd {
                fd: self.map.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd. The kernel reports readable when
            // unconsumed data exists (checked after it queues us, so a
            // record committed before the call is never slept through).
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
        slot.store(0, Ordering::Relaxed);
        self.has_data()
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

    /// Waits until records are available or `timeout` passes, sleeping as
    /// `backoff` says for an empty ring. Returns whether records are
    /// available.
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
            std::thread::sleep(backoff.next_pause(0).min(deadline - now));
        }
    }
}

/// [`RingReader::park`] for a reader of several rings (a worker that
/// serves more than one CPU): requests a wake-up from every ring, sleeps
/// in one poll(2) over all of them until one has a record or `timeout`
/// passes, and returns whether any has records waiting.
pub fn park_many(readers: &[RingReader], timeout: Duration) -> bool {
    let slots: Vec<_> = readers
        .iter()
        .filter_map(|r| r.map.park.slot(r.map.cpu))
        .collect();
    if slots.len() < readers.len() {
        std::thread::sleep(timeout);
        return readers.iter().any(RingReader::has_data);
    }
    for s in &slots {
        s.store(1, Ordering::SeqCst);
    }
    if !readers.iter().any(RingReader::has_data) {
        let mut pfds: Vec<libc::pollfd> = readers
            .iter()
            .map(|r| libc::pollfd {
                fd: r.map.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `pfds` is a valid array of pollfds of the given length.
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    }
    for s in &slots {
        s.store(0, Ordering::Relaxed);
    }
    readers.iter().any(RingReader::has_data)
}

/// Adaptive back-off between polls of a ring.
///
/// A consumer on another CPU that polls as fast as it can slows the
/// producer down: every record line, the producer position and the consumer
/// position bounce between the two CPUs' caches. Measured on the
/// development VM (openat+close loop, BPF run-time stats): ~270 ns per event
/// with the consumer idle, ~550 ns with a consumer spinning on the ring.
/// So after a poll that found records the reader pauses for `batch` (the
/// producer keeps writing undisturbed; 200 us is ~40 KB at 1 M events/s, a
/// small part of an 8 MiB ring), and after an empty poll it sleeps from
/// `min_sleep`, doubling up to `max_sleep`. `max_sleep` bounds the latency
/// added to the first event after a quiet period.
#[derive(Debug, Clone)]
pub struct Backoff {
    sleep: Duration,
    /// Pause after a poll that returned records.
    pub batch: Duration,
    /// First sleep after an empty poll.
    pub min_sleep: Duration,
    /// Longest sleep.
    pub max_sleep: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(
            Duration::from_micros(200),
            Duration::from_micros(100),
            Duration::from_millis(1),
        )
    }
}

impl Backoff {
    /// A back-off with the given pause after records and sleep bounds.
    pub fn new(batch: Duration, min_sleep: Duration, max_sleep: Duration) -> Backoff {
        Backoff {
            sleep: min_sleep,
            batch,
            min_sleep,
            max_sleep,
        }
    }

    /// What to wait after a poll that handed out `got` records.
    pub fn next_pause(&mut self, got: usize) -> Duration {
        if got > 0 {
            self.sleep = self.min_sleep;
            self.batch
        } else {
            let d = self.sleep;
            self.sleep = (self.sleep * 2).min(self.max_sleep);
            d
        }
    }

    /// Sleeps as [`Backoff::next_pause`] says.
    pub fn pause(&mut self, got: usize) {
        std::thread::sleep(self.next_pause(got));
    }

    /// Back to the shortest sleep.
    pub fn reset(&mut self) {
        self.sleep = self.min_sleep;
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
    fn backoff_pauses_after_records_and_grows_when_empty() {
        let us = Duration::from_micros;
        let mut b = Backoff::new(us(200), us(10), us(40));
        assert_eq!(b.next_pause(5), us(200));
        assert_eq!(b.next_pause(0), us(10));
        assert_eq!(b.next_pause(0), us(20));
        assert_eq!(b.next_pause(0), us(40));
        assert_eq!(b.next_pause(0), us(40));
        assert_eq!(b.next_pause(1), us(200));
        assert_eq!(
            b.next_pause(0),
            us(10),
            "records reset the empty-ring sleep"
        );
        b.next_pause(0);
        b.reset();
        assert_eq!(b.next_pause(0), us(10));
    }

    #[test]
    fn records_are_trimmed_to_the_event_length() {
        let mut rec = vec![0u8; 300];
        rec[48..52].copy_from_slice(&200u32.to_le_bytes());
        assert_eq!(trim(&rec).len(), 200);
        // A header claiming more than the record keeps the whole record.
        rec[48..52].copy_from_slice(&400u32.to_le_bytes());
        assert_eq!(trim(&rec).len(), 300);
        assert_eq!(trim(&rec[..10]).len(), 10);
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
