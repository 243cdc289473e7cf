//! [`RawEvent`]: a checked, zero-copy view of one wire record, and
//! [`EventBuilder`], which writes records (for the /proc scan, tests and
//! format conversions).

use super::table::{EventInfo, EventType};
use super::wire::{EventHdr, FdInfo, SockTuple, FDINFO_LEN, HDR_LEN};

/// Why a record could not be decoded. Every variant is counted by the
/// caller; none is fatal to a reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a header.
    #[error("record truncated: {len} bytes, a header needs {HDR_LEN}")]
    ShortHeader {
        /// Bytes available.
        len: usize,
    },
    /// The header's length disagrees with the bytes available.
    #[error("record length {declared} does not fit the {available} bytes available")]
    BadLength {
        /// `hdr.len`.
        declared: u32,
        /// Bytes available.
        available: usize,
    },
    /// An event type this build does not know.
    #[error("unknown event type id {0}")]
    UnknownType(u16),
    /// The parameter count differs from the event's schema.
    #[error("event {name}: {got} parameters, schema has {expected}")]
    ParamCount {
        /// Event name.
        name: &'static str,
        /// Parameters in the schema.
        expected: usize,
        /// Parameters in the record.
        got: usize,
    },
    /// Parameter lengths run past the end of the record.
    #[error("event {name}: parameter lengths exceed the record")]
    ParamOverflow {
        /// Event name.
        name: &'static str,
    },
}

/// A decoded view of one record. The header is copied (120 bytes, read
/// unaligned); parameters are slices of the original buffer, located from
/// the length table when asked for (an event reads few of its
/// parameters, and a view without an offset table is half the size to
/// copy).
#[derive(Clone, Copy)]
pub struct RawEvent<'a> {
    /// The record header.
    pub hdr: EventHdr,
    /// Static description of the event type.
    pub info: &'static EventInfo,
    buf: &'a [u8],
}

impl std::fmt::Debug for RawEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawEvent")
            .field("type", &self.info.name)
            .field("hdr", &self.hdr)
            .field("nparams", &self.nparams())
            .finish()
    }
}

/// Reads the header of a record without checking anything else.
pub fn read_header(buf: &[u8]) -> Result<EventHdr, DecodeError> {
    if buf.len() < HDR_LEN {
        return Err(DecodeError::ShortHeader { len: buf.len() });
    }
    // SAFETY: the buffer holds at least HDR_LEN bytes and EventHdr is plain
    // old data (integers and a byte array), valid for any bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<EventHdr>()) })
}

impl<'a> RawEvent<'a> {
    /// Checks and decodes the record at the start of `buf`. `buf` may be
    /// longer than the record (ring memory); the record's own length is
    /// taken from its header.
    pub fn parse(buf: &'a [u8]) -> Result<RawEvent<'a>, DecodeError> {
        let hdr = read_header(buf)?;
        let len = hdr.len as usize;
        if len < HDR_LEN || len > buf.len() {
            return Err(DecodeError::BadLength {
                declared: hdr.len,
                available: buf.len(),
            });
        }
        let buf = &buf[..len];
        let info = EventType(hdr.ty)
            .info()
            .ok_or(DecodeError::UnknownType(hdr.ty))?;
        let n = hdr.nparams as usize;
        if n != info.params.len() {
            return Err(DecodeError::ParamCount {
                name: info.name,
                expected: info.params.len(),
                got: n,
            });
        }
        let lens_end = HDR_LEN + 2 * n;
        if lens_end > len {
            return Err(DecodeError::ParamOverflow { name: info.name });
        }
        // Every parameter lies inside the record: `param` relies on it.
        let total: usize = buf[HDR_LEN..lens_end]
            .chunks_exact(2)
            .map(|l| u16::from_le_bytes([l[0], l[1]]) as usize)
            .sum();
        if lens_end + total > len {
            return Err(DecodeError::ParamOverflow { name: info.name });
        }
        Ok(RawEvent { hdr, info, buf })
    }

    /// Length of parameter `i` from the length table (`i` < nparams).
    fn param_len(&self, i: usize) -> usize {
        let at = HDR_LEN + 2 * i;
        u16::from_le_bytes([self.buf[at], self.buf[at + 1]]) as usize
    }

    /// The event type.
    pub fn ty(&self) -> EventType {
        EventType(self.hdr.ty)
    }

    /// The whole record.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Number of parameters.
    pub fn nparams(&self) -> usize {
        self.hdr.nparams as usize
    }

    /// Raw bytes of parameter `i` (empty if out of range).
    pub fn param(&self, i: usize) -> &'a [u8] {
        let n = self.nparams();
        if i >= n {
            return &[];
        }
        let start = HDR_LEN + 2 * n + (0..i).map(|k| self.param_len(k)).sum::<usize>();
        let buf: &'a [u8] = self.buf;
        &buf[start..start + self.param_len(i)]
    }

    /// Parameter `i` as an unsigned integer, `None` if absent or not 8 bytes.
    pub fn param_u64(&self, i: usize) -> Option<u64> {
        let b: [u8; 8] = self.param(i).try_into().ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// Parameter `i` as a signed integer.
    pub fn param_i64(&self, i: usize) -> Option<i64> {
        self.param_u64(i).map(|v| v as i64)
    }

    /// Parameter `i` decoded as an fd description and its trailing path.
    pub fn param_fdinfo(&self, i: usize) -> Option<(FdInfo, &'a [u8])> {
        let b = self.param(i);
        if b.len() < FDINFO_LEN {
            return None;
        }
        // SAFETY: FdInfo is plain old data and the slice holds FDINFO_LEN bytes.
        let fi = unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<FdInfo>()) };
        Some((fi, &b[FDINFO_LEN..]))
    }

    /// Parameter `i` decoded as a socket tuple (a caller-supplied address).
    pub fn param_sockaddr(&self, i: usize) -> Option<SockTuple> {
        let b = self.param(i);
        if b.len() < std::mem::size_of::<SockTuple>() {
            return None;
        }
        // SAFETY: SockTuple is plain old data and the slice is long enough.
        Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<SockTuple>()) })
    }

    /// Parameter `i` decoded as a socket tuple and the unix socket path
    /// that may follow it.
    pub fn param_sockaddr_path(&self, i: usize) -> Option<(SockTuple, &'a [u8])> {
        let b = self.param(i);
        let n = std::mem::size_of::<SockTuple>();
        let t = self.param_sockaddr(i)?;
        Some((t, &b[n..]))
    }

    /// Index of the parameter named `name`.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.info.params.iter().position(|p| p.name == name)
    }

    /// The command name without NUL padding.
    pub fn comm(&self) -> &[u8] {
        let c = &self.hdr.comm;
        let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
        // The header is a copy, so hand out a slice of the original bytes.
        let off = std::mem::offset_of!(EventHdr, comm);
        &self.buf[off..off + end]
    }
}

/// Writes one record. Parameters must be pushed in schema order; `finish`
/// checks the count and fills in the lengths.
#[derive(Debug, Clone)]
pub struct EventBuilder {
    hdr: EventHdr,
    lens: Vec<u16>,
    data: Vec<u8>,
}

impl EventBuilder {
    /// Starts a record of type `ty` with header fields from `hdr` (its
    /// `ty`, `len` and `nparams` are overwritten).
    pub fn new(ty: EventType, hdr: EventHdr) -> EventBuilder {
        EventBuilder {
            hdr: EventHdr { ty: ty.0, ..hdr },
            lens: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Appends raw parameter bytes (cut at 65535 bytes).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let b = &b[..b.len().min(u16::MAX as usize)];
        self.lens.push(b.len() as u16);
        self.data.extend_from_slice(b);
        self
    }

    /// Appends an integer parameter.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends a signed integer parameter.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.u64(v as u64)
    }

    /// Appends an fd description with an optional path.
    pub fn fdinfo(&mut self, fi: &FdInfo, path: &[u8]) -> &mut Self {
        let mut b = Vec::with_capacity(FDINFO_LEN + path.len());
        // SAFETY: FdInfo is repr(C) plain old data with explicit padding.
        b.extend_from_slice(unsafe {
            std::slice::from_raw_parts((fi as *const FdInfo).cast::<u8>(), FDINFO_LEN)
        });
        b.extend_from_slice(path);
        self.bytes(&b)
    }

    /// Appends a socket address parameter.
    pub fn sockaddr(&mut self, t: &SockTuple) -> &mut Self {
        // SAFETY: SockTuple is repr(C) plain old data without padding.
        let b = unsafe {
            std::slice::from_raw_parts(
                (t as *const SockTuple).cast::<u8>(),
                std::mem::size_of::<SockTuple>(),
            )
        };
        self.bytes(b)
    }

    /// Finishes the record.
    ///
    /// # Panics
    /// If the number of parameters differs from the schema: that is a bug in
    /// the caller, not bad input.
    pub fn finish(&self) -> Vec<u8> {
        let info = EventType(self.hdr.ty).info().expect("known event type");
        assert_eq!(
            self.lens.len(),
            info.params.len(),
            "{}: wrong parameter count",
            info.name
        );
        let total = HDR_LEN + 2 * self.lens.len() + self.data.len();
        let hdr = EventHdr {
            len: total as u32,
            nparams: self.lens.len() as u16,
            ..self.hdr
        };
        let mut out = Vec::with_capacity(total);
        // SAFETY: EventHdr is repr(C) plain old data with no implicit padding
        // (checked by the layout test).
        out.extend_from_slice(unsafe {
            std::slice::from_raw_parts((&hdr as *const EventHdr).cast::<u8>(), HDR_LEN)
        });
        for l in &self.lens {
            out.extend_from_slice(&l.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// Copies `s` into a NUL-padded comm array, cut at 15 bytes like the kernel.
pub fn comm_from(s: &[u8]) -> [u8; super::wire::COMM_LEN] {
    let mut c = [0u8; super::wire::COMM_LEN];
    let n = s.len().min(super::wire::COMM_LEN - 1);
    c[..n].copy_from_slice(&s[..n]);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::EventHdr;

    fn openat(path: &[u8]) -> Vec<u8> {
        let hdr = EventHdr {
            tid: 7,
            tgid: 7,
            ret: 3,
            comm: comm_from(b"cat"),
            ..Default::default()
        };
        EventBuilder::new(EventType(65), hdr)
            .i64(-100)
            .bytes(path)
            .u64(0)
            .u64(0)
            .bytes(b"")
            .finish()
    }

    #[test]
    fn round_trip() {
        let rec = openat(b"/etc/hostname");
        let ev = RawEvent::parse(&rec).unwrap();
        assert_eq!(ev.info.name, "openat");
        assert_eq!(ev.param(1), b"/etc/hostname");
        assert_eq!(ev.param_i64(0), Some(-100));
        assert_eq!(ev.comm(), b"cat");
        assert_eq!(ev.hdr.ret, 3);
        assert_eq!(ev.param(99), b"");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let rec = openat(b"/etc/hostname");
        for cut in 0..rec.len() {
            let mut short = rec[..cut].to_vec();
            assert!(RawEvent::parse(&short).is_err(), "cut at {cut}");
            // A header that claims the short length must still be rejected
            // once parameters overflow it.
            if cut >= HDR_LEN {
                short[48..52].copy_from_slice(&(cut as u32).to_le_bytes());
                assert!(RawEvent::parse(&short).is_err(), "relabelled cut at {cut}");
            }
        }
    }

    #[test]
    fn unknown_type_is_reported() {
        let mut rec = openat(b"/x");
        rec[52..54].copy_from_slice(&60_000u16.to_le_bytes());
        assert_eq!(
            RawEvent::parse(&rec).unwrap_err(),
            DecodeError::UnknownType(60_000)
        );
    }
}
