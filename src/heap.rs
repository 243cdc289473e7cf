//! The global allocator: mimalloc, with a count of the bytes the daemon
//! holds. Resident memory alone cannot tell data kept from pages the
//! allocator caches for reuse; the count can (`kestrel_memory_heap_bytes`).
//!
//! One relaxed atomic add per allocation and per free. The per-event path
//! allocates nothing, so the count costs nothing there.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};

use mimalloc::MiMalloc;

/// mimalloc, counting the bytes it has handed out and not had back.
pub struct CountingMiMalloc {
    live: AtomicIsize,
}

impl CountingMiMalloc {
    pub const fn new() -> CountingMiMalloc {
        CountingMiMalloc {
            live: AtomicIsize::new(0),
        }
    }

    /// Bytes allocated and not yet freed (requested sizes, not the
    /// allocator's size classes or cached pages).
    pub fn live_bytes(&self) -> u64 {
        self.live.load(Ordering::Relaxed).max(0) as u64
    }

    fn add(&self, n: usize) {
        self.live.fetch_add(n as isize, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.live.fetch_sub(n as isize, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to mimalloc, which upholds the
// GlobalAlloc contract; the counter has no effect on the memory returned.
unsafe impl GlobalAlloc for CountingMiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        self.sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`.
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.add(new_size);
            self.sub(layout.size());
        }
        p
    }
}

/// Returns the calling thread's freed allocator pages to the system.
///
/// mimalloc keeps a thread's freed pages for that thread's reuse and
/// purges them only when the thread allocates again; a worker that freed
/// the entries of a thousand exited processes and then allocates little
/// would keep those pages resident for good. Called once a second by each
/// worker and by the daemon's main loop.
pub fn collect() {
    // SAFETY: no arguments beyond a flag; collects the calling thread's
    // heap only.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations_frees_and_reallocs() {
        let a = CountingMiMalloc::new();
        let l = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a valid layout; every block is freed with its layout.
        unsafe {
            let p = a.alloc(l);
            assert!(!p.is_null());
            assert_eq!(a.live_bytes(), 100);
            let q = a.realloc(p, l, 300);
            assert!(!q.is_null());
            assert_eq!(a.live_bytes(), 300);
            let z = a.alloc_zeroed(l);
            assert_eq!(a.live_bytes(), 400);
            a.dealloc(z, l);
            a.dealloc(q, Layout::from_size_align(300, 8).unwrap());
        }
        assert_eq!(a.live_bytes(), 0);
    }
}
