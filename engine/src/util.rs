//! Small shared utilities.

use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for integer keys (pids, fds): the per-event process and socket
/// lookups hashed with std's SipHash showed up at ~3% of the daemon's
/// profile under an `open` load (`perf/runs/20261128T040624Z-profile`). The
/// keys are kernel-assigned numbers, not attacker-chosen strings, so a
/// keyed hash buys nothing here. Each integer is folded in and the result
/// goes through a 64-bit finaliser (xor-shift-multiply) so that low and
/// high bits are both well mixed.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn fold(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.fold(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.fold(u64::from(n));
    }
    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.fold(u64::from(n as u32) | 1 << 32);
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.fold(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.fold(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// Hash builder for [`IdHasher`].
pub type IdBuild = BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn spreads_sequential_ids_over_low_and_high_bits() {
        let b = IdBuild::default();
        let mut low = std::collections::HashSet::new();
        let mut high = std::collections::HashSet::new();
        for pid in 1000u32..1256 {
            let h = b.hash_one(pid);
            low.insert(h & 0xff);
            high.insert(h >> 56);
        }
        // 256 keys into 256 buckets: a good mix fills well over half.
        assert!(low.len() > 150, "{}", low.len());
        assert!(high.len() > 150, "{}", high.len());
        assert_ne!(b.hash_one((1u32, 2i32)), b.hash_one((2u32, 1i32)));
    }
}
