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

/// Word-at-a-time byte tests for the short strings of the per-event path
/// (paths, names): a byte loop costs ~4 instructions a byte and memchr's
/// dispatch ~70 a call, while one 8-byte word costs about six.
pub(crate) mod swar {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

    /// The high bit of each byte of `w` that equals `b`, exactly (no
    /// borrow runs from one byte into the next).
    #[inline]
    pub(crate) fn eq_mask(w: u64, b: u8) -> u64 {
        let y = w ^ (ONES * u64::from(b));
        !(((y & LOW7) + LOW7) | y | LOW7)
    }

    /// Eight bytes from `s[at..]` as a little-endian word (`at + 8 <=
    /// s.len()`).
    #[inline]
    pub(crate) fn word_at(s: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Index of the first NUL byte of `s`.
    #[inline]
    pub(crate) fn first_nul(s: &[u8]) -> Option<usize> {
        let n = s.len();
        if n < 8 {
            return s.iter().position(|&b| b == 0);
        }
        let mut at = 0;
        loop {
            // The last word overlaps the one before: its bytes below the
            // overlap were already found non-NUL.
            let a = at.min(n - 8);
            let z = eq_mask(word_at(s, a), 0);
            if z != 0 {
                return Some(a + (z.trailing_zeros() / 8) as usize);
            }
            at += 8;
            if at >= n {
                return None;
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        proptest::proptest! {
            #[test]
            fn first_nul_agrees_with_a_scan(s in proptest::collection::vec(
                proptest::sample::select(vec![0u8, 1, b'/', b'.', 0x80, 0xff, b'a']), 0..40)) {
                proptest::prop_assert_eq!(first_nul(&s), s.iter().position(|&b| b == 0));
            }

            #[test]
            fn eq_mask_is_exact(s in proptest::collection::vec(proptest::num::u8::ANY, 8), b in proptest::num::u8::ANY) {
                let m = eq_mask(word_at(&s, 0), b);
                for (i, &x) in s.iter().enumerate() {
                    proptest::prop_assert_eq!(m >> (8 * i + 7) & 1 == 1, x == b);
                }
                proptest::prop_assert_eq!(m & !0x8080_8080_8080_8080, 0);
            }
        }
    }
}
