//! Capture files: a versioned container of raw wire records, written by
//! `kestrel capture` and replayed by the engine without root or eBPF.
//! The format is specified in `docs/capture-format.md`.
//!
//! Each record is framed by its length and a CRC-32 of its bytes, so a
//! reader can tell a torn write (truncation) from damage (corruption),
//! report either with its byte offset, and resynchronise on the next valid
//! frame instead of giving up. Nothing here panics on bad input.
//!
//! Nothing the file says is trusted for sizes: the header's length is
//! skipped by reading, not allocated; the record buffer grows with the
//! bytes that actually arrive (a frame may claim up to [`MAX_RECORD`]);
//! and resynchronisation is linear in the bytes it skips. It checks a
//! candidate frame's cheap fields first and computes its checksum from
//! prefix CRC registers (`crc32_of_range`), in O(log length)
//! instead of O(length): the first version CRC'd up to 1.5 MB at every
//! candidate offset, so a file of fake frame headers took quadratic time
//! (issue 14).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use super::raw::read_header;
use super::wire::{HDR_LEN, MAX_PARAMS, WIRE_VERSION};

/// File magic.
pub const MAGIC: [u8; 8] = *b"KSTRLCAP";
/// Format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the fixed part of the file header (before the host name).
const FIXED_HDR: usize = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 2;
/// Bytes of a record frame before the record.
pub const FRAME_LEN: usize = 8;
/// Largest record a frame may announce: a header, the length table and
/// every parameter at its 16-bit maximum.
pub const MAX_RECORD: usize = HDR_LEN + 2 * MAX_PARAMS + MAX_PARAMS * u16::MAX as usize;
/// Initial (and smallest) size of a reader's buffer.
const MIN_BUF: usize = 64 << 10;

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3, as zlib's `crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    !crc_update(!0u32, data)
}

/// The CRC register after `data`, from register `c` (no pre- or
/// post-inversion).
fn crc_update(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// A linear map on the CRC register over GF(2): column `i` is the image
/// of bit `i`.
type Gf2Matrix = [u32; 32];

fn gf2_apply(m: &Gf2Matrix, mut v: u32) -> u32 {
    let mut out = 0;
    let mut i = 0;
    while v != 0 {
        if v & 1 != 0 {
            out ^= m[i];
        }
        v >>= 1;
        i += 1;
    }
    out
}

/// `ZERO_POWERS[k]`: the register update by 2^k zero bytes. The update by
/// one byte is linear in the register and the byte together, so a
/// substring's CRC follows from the registers before and after it and
/// the update by its length in zero bytes.
fn zero_powers() -> &'static [Gf2Matrix; 32] {
    static POWERS: std::sync::OnceLock<[Gf2Matrix; 32]> = std::sync::OnceLock::new();
    POWERS.get_or_init(|| {
        let mut p = [[0u32; 32]; 32];
        for (i, col) in p[0].iter_mut().enumerate() {
            *col = crc_update(1 << i, &[0]);
        }
        for k in 1..32 {
            let prev = p[k - 1];
            for i in 0..32 {
                p[k][i] = gf2_apply(&prev, prev[i]);
            }
        }
        p
    })
}

/// Register `c` updated by `n` zero bytes, in O(log n).
fn crc_shift(mut c: u32, n: u32) -> u32 {
    let powers = zero_powers();
    let mut k = 0;
    let mut n = n;
    while n != 0 {
        if n & 1 != 0 {
            c = gf2_apply(&powers[k], c);
        }
        n >>= 1;
        k += 1;
    }
    c
}

/// [`crc32`] of `data[i..j]`, where `prefix[k]` is the register after
/// `data[..k]` from some fixed starting register (only the difference of
/// two entries matters).
fn crc32_of_range(prefix: &[u32], i: usize, j: usize) -> u32 {
    let n = (j - i) as u32;
    !(crc_shift(!0u32, n) ^ prefix[j] ^ crc_shift(prefix[i], n))
}

/// The file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapHeader {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Wire record layout version ([`WIRE_VERSION`]).
    pub wire_version: u32,
    /// Epoch ns minus boot-clock ns on the capturing host: event
    /// timestamps plus this are wall-clock times.
    pub boot_to_epoch_ns: i64,
    /// When the capture started, epoch ns.
    pub created_epoch_ns: u64,
    /// Host name of the capturing host (`evt.hostname`).
    pub hostname: String,
}

impl CapHeader {
    /// A header for this build's versions.
    pub fn new(
        hostname: impl Into<String>,
        boot_to_epoch_ns: i64,
        created_epoch_ns: u64,
    ) -> CapHeader {
        CapHeader {
            version: VERSION,
            wire_version: WIRE_VERSION,
            boot_to_epoch_ns,
            created_epoch_ns,
            hostname: hostname.into(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let host = self.hostname.as_bytes();
        let host = &host[..host.len().min(u16::MAX as usize)];
        let total = FIXED_HDR + host.len();
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&(total as u32).to_le_bytes());
        b.extend_from_slice(&self.wire_version.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&self.boot_to_epoch_ns.to_le_bytes());
        b.extend_from_slice(&self.created_epoch_ns.to_le_bytes());
        b.extend_from_slice(&(host.len() as u16).to_le_bytes());
        b.extend_from_slice(host);
        b
    }
}

/// Errors of capture files. Record-level variants carry the byte offset
/// of the frame; the reader continues after them where it can.
#[derive(Debug, thiserror::Error)]
pub enum CapError {
    /// Reading or writing failed.
    #[error("capture file I/O: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with the capture magic.
    #[error("not a kestrel capture file (bad magic)")]
    BadMagic,
    /// The file header is shorter than it must be.
    #[error("capture file header truncated")]
    ShortHeader,
    /// The header's length field claims more bytes than the file holds.
    #[error("capture file header claims {declared} bytes, the file ends after {available}")]
    HeaderLength {
        /// The header's length field.
        declared: u32,
        /// Bytes the file holds.
        available: u64,
    },
    /// A format version this build cannot read.
    #[error("capture format version {0} is not supported (this build reads {VERSION})")]
    UnsupportedVersion(u32),
    /// Records use a different wire layout.
    #[error("capture records use wire version {found}, this build reads {expected}")]
    WireVersion {
        /// In the file.
        found: u32,
        /// This build's.
        expected: u32,
    },
    /// The file ends inside a record.
    #[error("record at byte {offset} truncated: needs {needed} bytes, {available} left")]
    Truncated {
        /// Offset of the frame.
        offset: u64,
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// A frame is damaged (impossible length, checksum mismatch, header
    /// length disagreeing with the frame).
    #[error("record at byte {offset} corrupt: {reason}")]
    Corrupt {
        /// Offset of the frame.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Writes a capture file: header, then framed records. Buffered; call
/// [`Writer::finish`] to flush and see the last error (dropping the writer
/// also flushes, but cannot report failure).
pub struct Writer<W: Write> {
    w: BufWriter<W>,
    records: u64,
    bytes: u64,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("records", &self.records)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Writer<File> {
    /// Creates (truncates) `path` and writes the header. A new file gets
    /// mode 0600: captures hold every event's arguments and environment.
    /// An existing file is truncated and keeps its mode.
    pub fn create(path: impl AsRef<Path>, header: &CapHeader) -> io::Result<Writer<File>> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        Writer::new(f, header)
    }
}

impl<W: Write> Writer<W> {
    /// Writes the header to `w`.
    pub fn new(w: W, header: &CapHeader) -> io::Result<Writer<W>> {
        let mut w = BufWriter::with_capacity(256 << 10, w);
        let h = header.encode();
        w.write_all(&h)?;
        Ok(Writer {
            w,
            records: 0,
            bytes: h.len() as u64,
        })
    }

    /// Appends one wire record. The record's own header length must equal
    /// its size (a record that fails this is refused, not written).
    pub fn write_record(&mut self, rec: &[u8]) -> io::Result<()> {
        let hdr = read_header(rec).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if hdr.len as usize != rec.len() || rec.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "record length {} disagrees with its header ({})",
                    rec.len(),
                    hdr.len
                ),
            ));
        }
        self.w.write_all(&(rec.len() as u32).to_le_bytes())?;
        self.w.write_all(&crc32(rec).to_le_bytes())?;
        self.w.write_all(rec)?;
        self.records += 1;
        self.bytes += (FRAME_LEN + rec.len()) as u64;
        Ok(())
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes written (header included).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes buffered records.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

/// Counters of a reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Records returned.
    pub records: u64,
    /// Truncated or corrupt frames reported.
    pub errors: u64,
    /// Bytes skipped while resynchronising.
    pub skipped_bytes: u64,
}

/// One record read from a capture file.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Byte offset of the record's frame in the file.
    pub offset: u64,
    /// The wire record (parse it with [`super::RawEvent::parse`]).
    pub bytes: &'a [u8],
}

/// Streams records out of a capture file.
pub struct Reader<R: Read> {
    r: R,
    header: CapHeader,
    buf: Vec<u8>,
    /// CRC registers after each byte from file offset `prefix_base - 1`
    /// on, for resynchronising (see [`crc32_of_range`]); at most about
    /// four bytes per buffered byte.
    prefix: Vec<u32>,
    prefix_base: u64,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
    resync: bool,
    done: bool,
    stats: ReaderStats,
}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("header", &self.header)
            .field("offset", &self.offset)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Reader<io::BufReader<File>> {
    /// Opens `path` and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader<io::BufReader<File>>, CapError> {
        Reader::new(io::BufReader::new(File::open(path)?))
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> Reader<R> {
    /// Reads and checks the file header.
    pub fn new(mut r: R) -> Result<Reader<R>, CapError> {
        let mut fixed = [0u8; FIXED_HDR];
        let n = read_full(&mut r, &mut fixed)?;
        if n < 8 || fixed[..8] != MAGIC {
            return Err(if n < 8 {
                CapError::ShortHeader
            } else {
                CapError::BadMagic
            });
        }
        if n < FIXED_HDR {
            return Err(CapError::ShortHeader);
        }
        let u32_at = |o: usize| u32::from_le_bytes(fixed[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(fixed[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(CapError::UnsupportedVersion(version));
        }
        let declared = u32_at(12);
        let total = declared as usize;
        let wire_version = u32_at(16);
        if wire_version != WIRE_VERSION {
            return Err(CapError::WireVersion {
                found: wire_version,
                expected: WIRE_VERSION,
            });
        }
        let boot_to_epoch_ns = u64_at(24) as i64;
        let created_epoch_ns = u64_at(32);
        let host_len = u16::from_le_bytes([fixed[40], fixed[41]]) as usize;
        if total < FIXED_HDR + host_len {
            return Err(CapError::ShortHeader);
        }
        // The host name is at most 64 KiB; header fields of later versions
        // after it are skipped by reading, never allocated: the length is
        // the file's word, up to 4 GiB.
        let mut host = vec![0u8; host_len];
        let got = read_full(&mut r, &mut host)?;
        let skip = (total - FIXED_HDR - host_len) as u64;
        let skipped = if got < host_len {
            0
        } else {
            io::copy(&mut (&mut r).take(skip), &mut io::sink())?
        };
        if got < host_len || skipped < skip {
            return Err(CapError::HeaderLength {
                declared,
                available: (FIXED_HDR + got) as u64 + skipped,
            });
        }
        let hostname = String::from_utf8_lossy(&host).into_owned();
        Ok(Reader {
            r,
            header: CapHeader {
                version,
                wire_version,
                boot_to_epoch_ns,
                created_epoch_ns,
                hostname,
            },
            buf: vec![0u8; MIN_BUF],
            prefix: Vec::new(),
            prefix_base: 0,
            start: 0,
            end: 0,
            offset: total as u64,
            eof: false,
            resync: false,
            done: false,
            stats: ReaderStats::default(),
        })
    }

    /// The file header.
    pub fn header(&self) -> &CapHeader {
        &self.header
    }

    /// Counters so far.
    pub fn stats(&self) -> ReaderStats {
        self.stats
    }

    fn avail(&self) -> usize {
        self.end - self.start
    }

    /// Makes at least `n` bytes available from `start`, unless the file
    /// ends first. Returns the bytes available.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.avail() >= n || self.eof {
            return Ok(self.avail());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Read ahead up to twice what is asked (if the file has it), so a
        // scan that moves one byte at a time (resynchronising) refills and
        // moves the buffer once per `n` bytes, not at every step.
        let want = n.saturating_mul(2);
        while self.end < want {
            if self.end >= n && self.end == self.buf.len() {
                break;
            }
            if self.end == self.buf.len() {
                // Grow with the bytes that arrive, not with what a frame
                // claims: a lying length costs at most twice the data.
                let to = (self.buf.len() * 2).clamp(MIN_BUF, want.max(MIN_BUF));
                self.buf.resize(to, 0);
            }
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.avail())
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Checks the frame at `start` (all of it must be buffered).
    fn frame_ok(&self, len: usize) -> Result<(), &'static str> {
        let rec = &self.buf[self.start + FRAME_LEN..self.start + FRAME_LEN + len];
        let crc = u32::from_le_bytes(
            self.buf[self.start + 4..self.start + 8]
                .try_into()
                .expect("4 bytes"),
        );
        if crc32(rec) != crc {
            return Err("checksum mismatch");
        }
        match read_header(rec) {
            Ok(h) if h.len as usize == len => Ok(()),
            _ => Err("record header length disagrees with its frame"),
        }
    }

    /// Extends the prefix CRC registers to the file offset `to` (whose
    /// bytes from `offset` on must be buffered). Each byte of the file is
    /// folded in once however many candidates cover it; the registers of
    /// bytes already passed are dropped when they are most of the vector.
    fn prefix_to(&mut self, to: u64) {
        let mut end = self.prefix_base + self.prefix.len() as u64;
        if self.prefix.is_empty() || end <= self.offset {
            // Nothing computed at or after the current offset: restart
            // here, from any register (only differences matter).
            self.prefix.clear();
            self.prefix.push(0);
            self.prefix_base = self.offset;
            end = self.offset + 1;
        } else {
            let passed = (self.offset - self.prefix_base) as usize;
            if passed > MIN_BUF && passed > self.prefix.len() / 2 {
                self.prefix.drain(..passed);
                self.prefix_base = self.offset;
            }
        }
        // prefix[k] is the register after the byte before file offset
        // prefix_base + k, so bytes from end - 1 on are still to fold in.
        let from = self.start + (end - 1 - self.offset) as usize;
        let upto = self.start + (to - self.offset) as usize;
        let mut c = *self.prefix.last().expect("not empty");
        for &b in &self.buf[from..upto] {
            c = crc_update(c, &[b]);
            self.prefix.push(c);
        }
    }

    /// Skips forward to the next position holding a valid frame.
    ///
    /// Checks each candidate offset's cheap fields first (length in range,
    /// the whole frame in the file, the record header's own length), and
    /// only then its checksum, from prefix registers ([`Self::prefix_to`],
    /// [`crc32_of_range`]) in O(log length): the bytes under overlapping
    /// candidates are CRC'd once, not once per candidate.
    fn resynchronise(&mut self) -> io::Result<bool> {
        loop {
            if self.fill(FRAME_LEN)? < FRAME_LEN {
                let rest = self.avail();
                self.stats.skipped_bytes += rest as u64;
                self.advance(rest);
                return Ok(false);
            }
            let u32_at = |buf: &[u8], o: usize| {
                u32::from_le_bytes(buf[o..o + 4].try_into().expect("4 bytes"))
            };
            let len = u32_at(&self.buf, self.start) as usize;
            if (HDR_LEN..=MAX_RECORD).contains(&len)
                && self.fill(FRAME_LEN + len)? >= FRAME_LEN + len
                && matches!(
                    read_header(&self.buf[self.start + FRAME_LEN..]),
                    Ok(h) if h.len as usize == len
                )
            {
                self.prefix_to(self.offset + (FRAME_LEN + len) as u64);
                let i = (self.offset + FRAME_LEN as u64 - self.prefix_base) as usize;
                if crc32_of_range(&self.prefix, i, i + len) == u32_at(&self.buf, self.start + 4) {
                    return Ok(true);
                }
            }
            self.stats.skipped_bytes += 1;
            self.advance(1);
        }
    }

    /// The next record, an error about a damaged one (reading continues
    /// with the next call), or `None` at the end of the file.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, CapError>> {
        if self.done {
            return None;
        }
        if self.resync {
            self.resync = false;
            match self.resynchronise() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        let offset = self.offset;
        let have = match self.fill(FRAME_LEN) {
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Some(Err(e.into()));
            }
        };
        if have == 0 {
            self.done = true;
            return None;
        }
        if have < FRAME_LEN {
            self.stats.errors += 1;
            self.done = true;
            return Some(Err(CapError::Truncated {
                offset,
                needed: FRAME_LEN,
                available: have,
            }));
        }
        let len = u32::from_le_bytes(
            self.buf[self.start..self.start + 4]
                .try_into()
                .expect("4 bytes"),
        ) as usize;
        if !(HDR_LEN..=MAX_RECORD).contains(&len) {
            return Some(Err(self.corrupt(offset, "impossible record length")));
        }
        let have = match self.fill(FRAME_LEN + len) {
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Some(Err(e.into()));
            }
        };
        if have < FRAME_LEN + len {
            // Either a torn last write or a damaged length: report the
            // truncation and look for valid frames in what is left.
            self.stats.errors += 1;
            self.stats.skipped_bytes += 1;
            self.advance(1);
            self.resync = true;
            return Some(Err(CapError::Truncated {
                offset,
                needed: FRAME_LEN + len,
                available: have,
            }));
        }
        if let Err(reason) = self.frame_ok(len) {
            return Some(Err(self.corrupt(offset, reason)));
        }
        let s = self.start + FRAME_LEN;
        self.advance(FRAME_LEN + len);
        self.stats.records += 1;
        Some(Ok(Record {
            offset,
            bytes: &self.buf[s..s + len],
        }))
    }

    fn corrupt(&mut self, offset: u64, reason: &'static str) -> CapError {
        self.stats.errors += 1;
        self.stats.skipped_bytes += 1;
        self.advance(1);
        self.resync = true;
        CapError::Corrupt { offset, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::comm_from;
    use crate::wire::EventHdr;
    use crate::{EventBuilder, EventType, RawEvent};

    fn rec(i: u64) -> Vec<u8> {
        let hdr = EventHdr {
            ts_ns: 1000 + i,
            tid: 7,
            tgid: 7,
            ret: 3,
            comm: comm_from(b"cat"),
            ..Default::default()
        };
        EventBuilder::new(EventType(65), hdr)
            .i64(-100)
            .bytes(format!("/etc/file{i}").as_bytes())
            .u64(0)
            .u64(0)
            .bytes(b"")
            .finish()
    }

    fn file(n: u64) -> (Vec<u8>, Vec<u64>) {
        let mut w = Writer::new(Vec::new(), &CapHeader::new("host-a", 42, 7)).unwrap();
        let mut offs = Vec::new();
        for i in 0..n {
            offs.push(w.bytes());
            w.write_record(&rec(i)).unwrap();
        }
        (w.finish().unwrap(), offs)
    }

    fn read_all(b: &[u8]) -> (Vec<u64>, Vec<String>, ReaderStats) {
        let mut r = Reader::new(b).unwrap();
        let mut ts = Vec::new();
        let mut errs = Vec::new();
        while let Some(x) = r.next_record() {
            match x {
                Ok(rec) => ts.push(RawEvent::parse(rec.bytes).unwrap().hdr.ts_ns - 1000),
                Err(e) => errs.push(e.to_string()),
            }
        }
        (ts, errs, r.stats())
    }

    #[test]
    fn crc_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip() {
        let (b, offs) = file(5);
        let mut r = Reader::new(&b[..]).unwrap();
        assert_eq!(r.header().hostname, "host-a");
        assert_eq!(r.header().boot_to_epoch_ns, 42);
        assert_eq!(r.header().created_epoch_ns, 7);
        let first = r.next_record().unwrap().unwrap();
        assert_eq!(first.offset, offs[0]);
        let (ts, errs, st) = read_all(&b);
        assert_eq!(ts, vec![0, 1, 2, 3, 4]);
        assert!(errs.is_empty());
        assert_eq!(st.records, 5);
    }

    #[test]
    fn header_errors() {
        assert!(matches!(
            Reader::new(&b"KSTR"[..]),
            Err(CapError::ShortHeader)
        ));
        assert!(matches!(
            Reader::new(&b"NOTACAPFILE-AT-ALL-xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"[..]),
            Err(CapError::BadMagic)
        ));
        let (mut b, _) = file(0);
        b[8] = 9;
        assert!(matches!(
            Reader::new(&b[..]),
            Err(CapError::UnsupportedVersion(9))
        ));
        let (mut b, _) = file(0);
        b[16] = 99;
        assert!(matches!(
            Reader::new(&b[..]),
            Err(CapError::WireVersion { found: 99, .. })
        ));
    }

    #[test]
    fn truncated_tail_is_reported_with_offset() {
        let (b, offs) = file(3);
        let cut = &b[..b.len() - 5];
        let (ts, errs, st) = read_all(cut);
        assert_eq!(ts, vec![0, 1]);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with(&format!("record at byte {} truncated", offs[2])),
            "{}",
            errs[0]
        );
        assert_eq!(st.errors, 1);
    }

    #[test]
    fn corrupt_record_is_skipped_and_reading_resumes() {
        let (mut b, offs) = file(4);
        // Flip a byte inside record 1's body: checksum mismatch.
        b[offs[1] as usize + FRAME_LEN + 130] ^= 0xff;
        let (ts, errs, _) = read_all(&b);
        assert_eq!(ts, vec![0, 2, 3]);
        assert_eq!(
            errs,
            vec![format!(
                "record at byte {} corrupt: checksum mismatch",
                offs[1]
            )]
        );
        // Damage record 2's length: resynchronises on record 3.
        let (mut b, offs) = file(4);
        b[offs[2] as usize..offs[2] as usize + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (ts, errs, st) = read_all(&b);
        assert_eq!(ts, vec![0, 1, 3]);
        assert_eq!(errs.len(), 1);
        assert!(st.skipped_bytes > 0);
    }

    #[test]
    fn random_damage_never_panics() {
        let (b, _) = file(20);
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..300 {
            let mut c = b.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = 50 + (seed as usize % (c.len() - 50));
                c[at] = (seed >> 32) as u8;
            }
            let cut = 50 + (seed as usize >> 8) % (c.len() - 50);
            let (ts, _, st) = read_all(&c[..cut]);
            assert!(ts.len() as u64 == st.records && ts.len() <= 20);
        }
    }

    #[test]
    fn crc_of_range_matches_crc32() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut prefix = vec![0x1234_5678u32];
        for &b in &data {
            prefix.push(crc_update(*prefix.last().unwrap(), &[b]));
        }
        for (i, j) in [(0, 0), (0, 1), (3, 9), (0, 5000), (17, 4321), (4999, 5000)] {
            assert_eq!(
                crc32_of_range(&prefix, i, j),
                crc32(&data[i..j]),
                "{i}..{j}"
            );
        }
    }

    /// Issue 14: the reader allocated the header's length (up to 4 GiB)
    /// straight from the file.
    #[test]
    fn capfile_header_total_is_not_trusted() {
        let (mut b, _) = file(1);
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let len = b.len() as u64;
        match Reader::new(&b[..]) {
            Err(e @ CapError::HeaderLength { .. }) => {
                assert_eq!(
                    e.to_string(),
                    format!(
                        "capture file header claims {} bytes, the file ends after {len}",
                        u32::MAX
                    )
                );
            }
            other => panic!("{other:?}"),
        }
        // A longer header that the file does hold (fields of a later
        // version) is skipped.
        let (b, _) = file(2);
        let host_end = FIXED_HDR + "host-a".len();
        let mut c = b[..host_end].to_vec();
        c[12..16].copy_from_slice(&(host_end as u32 + 100).to_le_bytes());
        c.extend_from_slice(&[0xAB; 100]);
        c.extend_from_slice(&b[host_end..]);
        let (ts, errs, _) = read_all(&c);
        assert_eq!(ts, vec![0, 1]);
        assert!(errs.is_empty());
        // A frame claiming the largest record in a tiny file: a
        // truncation, with the buffer sized by the data, not the claim.
        let (mut b, offs) = file(1);
        let o = offs[0] as usize;
        b[o..o + 4].copy_from_slice(&(MAX_RECORD as u32).to_le_bytes());
        let mut r = Reader::new(&b[..]).unwrap();
        assert!(matches!(
            r.next_record(),
            Some(Err(CapError::Truncated { .. }))
        ));
        assert!(r.next_record().is_none());
        assert!(r.buf.len() <= MIN_BUF, "{}", r.buf.len());
    }

    /// Issue 14: resynchronising CRC'd up to 1.5 MB at every candidate
    /// offset. 4 MiB of fake frames, each claiming a near-maximal record
    /// with a consistent record header at every 4th byte, followed by one
    /// valid record: the old reader needed ~10^12 CRC steps here.
    #[test]
    fn capfile_resync_is_linear() {
        let (b, offs) = file(1);
        let good = b[offs[0] as usize..].to_vec();
        let mut c = b[..offs[0] as usize].to_vec();
        let claim = (MAX_RECORD - 64) as u32;
        // A fake record header: the real one's bytes with its length field
        // set to the claim.
        let mut fake = good[FRAME_LEN..FRAME_LEN + HDR_LEN].to_vec();
        let at = std::mem::offset_of!(EventHdr, len);
        fake[at..at + 4].copy_from_slice(&claim.to_le_bytes());
        let mut unit = Vec::new();
        unit.extend_from_slice(&claim.to_le_bytes());
        unit.extend_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
        unit.extend_from_slice(&fake);
        assert_eq!(unit.len() % 4, 0);
        let garbage = 4 << 20;
        while c.len() < offs[0] as usize + garbage {
            c.extend_from_slice(&unit);
        }
        c.extend_from_slice(&good);
        let start = std::time::Instant::now();
        let (ts, errs, st) = read_all(&c);
        let took = start.elapsed();
        assert_eq!(ts, vec![0]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].ends_with("corrupt: checksum mismatch"),
            "{}",
            errs[0]
        );
        assert_eq!(
            st.skipped_bytes as usize,
            c.len() - offs[0] as usize - good.len()
        );
        // Linear: a few CRC passes over 4 MiB take milliseconds in a
        // release build; quadratic took hours.
        assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    }

    #[test]
    fn writer_refuses_inconsistent_records() {
        let mut w = Writer::new(Vec::new(), &CapHeader::new("h", 0, 0)).unwrap();
        let mut r = rec(0);
        r.push(0);
        assert!(w.write_record(&r).is_err());
        assert!(w.write_record(b"short").is_err());
        assert_eq!(w.records(), 0);
    }
}
