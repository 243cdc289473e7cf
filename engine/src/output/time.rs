//! Timestamp renderings used by alerts (RULES.md §7.7, §9.4, §9.5).
//!
//! UTC renderings are computed here with the civil-from-days algorithm, so
//! they do not depend on the C library or the process's time zone. The
//! local rendering (`evt.time`) asks the C library for the host's UTC
//! offset at that instant (`localtime_r`), as Falco does, so alerts read
//! like the host's clock.

use std::fmt::Write;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) in the proleptic
/// Gregorian calendar.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse: eras of 400 years keep the
    // arithmetic exact for every representable date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time of `epoch_ns` plus its nanosecond part.
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
}

fn utc(epoch_ns: u64) -> Utc {
    let secs = (epoch_ns / NS_PER_SEC) as i64;
    let nanos = (epoch_ns % NS_PER_SEC) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Utc {
        year,
        month,
        day,
        hour: sod / 3600,
        min: sod / 60 % 60,
        sec: sod % 60,
        nanos,
    }
}

/// Appends `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn` (UTC) to `out`.
fn push_utc_datetime(out: &mut String, epoch_ns: u64) {
    let t = utc(epoch_ns);
    // Writing to a String cannot fail.
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}",
        t.year, t.month, t.day, t.hour, t.min, t.sec, t.nanos
    )
    .expect("write to String");
}

/// Appends the JSON `time` value: UTC, 9 fraction digits, literal `Z`
/// (`2023-11-14T22:23:22.123456789Z`).
pub fn push_json_time(out: &mut String, epoch_ns: u64) {
    push_utc_datetime(out, epoch_ns);
    out.push('Z');
}

/// Appends `%evt.time.iso8601`: UTC with a `+0000` offset
/// (`2023-11-14T22:23:22.123456789+0000`).
pub fn push_iso8601(out: &mut String, epoch_ns: u64) {
    push_utc_datetime(out, epoch_ns);
    out.push_str("+0000");
}

/// The host's UTC offset in seconds at `epoch_secs`, from the C library's
/// time zone rules (`TZ`, `/etc/localtime`). 0 if the C library cannot
/// convert the instant.
pub fn local_offset_secs(epoch_secs: i64) -> i64 {
    let t: libc::time_t = epoch_secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value for the out-parameter.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call;
    // localtime_r is the reentrant variant and writes only to `tm`.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return 0;
    }
    tm.tm_gmtoff as i64
}

/// Appends `%evt.time`: host local time `HH:MM:SS.nnnnnnnnn`.
pub fn push_local_hms(out: &mut String, epoch_ns: u64) {
    let secs = (epoch_ns / NS_PER_SEC) as i64;
    push_hms_with_offset(out, epoch_ns, local_offset_secs(secs));
}

/// Appends `HH:MM:SS.nnnnnnnnn` for `epoch_ns` shifted by `offset_secs`.
pub fn push_hms_with_offset(out: &mut String, epoch_ns: u64, offset_secs: i64) {
    let secs = (epoch_ns / NS_PER_SEC) as i64 + offset_secs;
    let nanos = epoch_ns % NS_PER_SEC;
    let sod = secs.rem_euclid(86_400);
    write!(
        out,
        "{:02}:{:02}:{:02}.{:09}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        nanos
    )
    .expect("write to String");
}

/// Appends an RFC 3164 timestamp in host local time (`Nov 14 22:23:22`,
/// the day padded with a space).
pub fn push_rfc3164(out: &mut String, epoch_ns: u64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (epoch_ns / NS_PER_SEC) as i64;
    let local = secs + local_offset_secs(secs);
    let (_, m, d) = civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    write!(
        out,
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
    .expect("write to String");
}

/// The current wall-clock time in epoch nanoseconds (0 before 1970).
pub fn now_epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_time_known_instants() {
        let mut s = String::new();
        push_json_time(&mut s, 1_700_000_602_123_456_789);
        assert_eq!(s, "2023-11-14T22:23:22.123456789Z");
        s.clear();
        push_json_time(&mut s, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
        s.clear();
        // Leap day, far future.
        push_json_time(&mut s, 4_107_542_400 * NS_PER_SEC + 5);
        assert_eq!(s, "2100-03-01T00:00:00.000000005Z");
        s.clear();
        push_json_time(&mut s, 951_782_400 * NS_PER_SEC);
        assert_eq!(s, "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn iso8601_has_offset() {
        let mut s = String::new();
        push_iso8601(&mut s, 1_685_022_245_478_445_995);
        assert_eq!(s, "2023-05-25T13:44:05.478445995+0000");
    }

    #[test]
    fn hms_with_offsets() {
        let mut s = String::new();
        push_hms_with_offset(&mut s, 1_700_000_602_123_456_789, 0);
        assert_eq!(s, "22:23:22.123456789");
        s.clear();
        push_hms_with_offset(&mut s, 1_700_000_602_123_456_789, 5 * 3600 + 1800);
        assert_eq!(s, "03:53:22.123456789");
        s.clear();
        push_hms_with_offset(&mut s, 1_700_000_602_000_000_001, -23 * 3600);
        assert_eq!(s, "23:23:22.000000001");
    }

    #[test]
    fn rfc3164_shape() {
        let mut s = String::new();
        push_rfc3164(&mut s, 1_700_000_602_123_456_789);
        // Nov 14 22:23:22 UTC; the zone may move hour/day but not the shape.
        let re = regex::Regex::new(r"^[A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:22$").unwrap();
        assert!(re.is_match(&s), "{s}");
    }

    #[test]
    fn local_matches_date_command() {
        // An independent oracle for the C library conversion: date(1).
        let secs: i64 = 1_700_000_602;
        let out = std::process::Command::new("date")
            .args(["-d", &format!("@{secs}"), "+%H:%M:%S"])
            .output();
        let Ok(out) = out else { return };
        if !out.status.success() {
            return;
        }
        let expected = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mut s = String::new();
        push_local_hms(&mut s, secs as u64 * NS_PER_SEC + 42);
        assert_eq!(s, format!("{expected}.000000042"));
    }
}
