//! The few JSON writing primitives alerts need.
//!
//! Alerts are written by hand rather than through `serde_json::Value`: the
//! key set of each rule is known when the rule is compiled, so rendering
//! one alert is a sequence of appends with no map building and no
//! allocation besides the output buffer. Escaping follows what Falco's
//! serialiser emits (short escapes for `\b \f \n \r \t`, `\u00xx` with
//! lower-case hex for other control characters, non-ASCII written as
//! UTF-8, `/` not escaped). Bytes that are not valid UTF-8 are not
//! replaced by U+FFFD (Falco's choice, which loses them): each such byte
//! is written as the four characters `\xNN` (lower-case hex, see
//! [`push_bytes_escaped`]), the same visible form text outputs use, so a
//! file name like `a\xffb` stays recognisable and recoverable.

use std::fmt::Write;

/// Appends `s` as a JSON string literal (with the quotes).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[run..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => write!(out, "\\u{:04x}", b).expect("write to String"),
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends bytes as a JSON string literal; bytes that are not valid UTF-8
/// become `\xNN` (see [`push_bytes_escaped`]) before JSON escaping, so in
/// the JSON text they read `\\xNN`.
pub fn push_bytes(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => push_str(out, s),
        Err(_) => {
            let mut t = String::with_capacity(b.len() + 8);
            push_bytes_escaped(&mut t, b);
            push_str(out, &t);
        }
    }
}

/// Appends bytes as text: valid UTF-8 as is, and every byte of an invalid
/// sequence as `\xNN` (two lower-case hex digits), one escape per byte.
///
/// Nothing is dropped or merged: `61 80 7a` reads `a\x80z`, `ff` reads
/// `\xff`, `c3 28` reads `\xc3(`. The bytes are recoverable from the text
/// unless the original also held the literal characters `\x` followed by
/// two hex digits (documented in docs/RELIABILITY.md).
pub fn push_bytes_escaped(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for &x in chunk.invalid() {
            write!(out, "\\x{x:02x}").expect("write to String");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut o = String::new();
        push_str(&mut o, x);
        o
    }

    #[test]
    fn escapes() {
        assert_eq!(s("plain"), "\"plain\"");
        assert_eq!(s("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
        assert_eq!(
            s("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
            "\"\\n\\r\\t\\b\\f\\u0001\\u001f\""
        );
        assert_eq!(s("é✓"), "\"é✓\"");
        // Round trip through a real parser.
        let tricky = "x\"\\\u{0}\u{7f}y";
        let v: String = serde_json::from_str(&s(tricky)).unwrap();
        assert_eq!(v, tricky);
    }

    #[test]
    fn invalid_utf8_escaped_per_byte() {
        let mut o = String::new();
        push_bytes(&mut o, b"a\xffb");
        assert_eq!(o, r#""a\\xffb""#);
        let v: String = serde_json::from_str(&o).unwrap();
        assert_eq!(v, r"a\xffb");
        // A bad continuation keeps the valid byte after it.
        let mut t = String::new();
        push_bytes_escaped(&mut t, b"\xc3(\x61\x80\x7a\xe2\x9c\x93\xe2\x9c");
        assert_eq!(t, r"\xc3(a\x80z✓\xe2\x9c");
        let mut o = String::new();
        push_bytes(&mut o, "é✓".as_bytes());
        assert_eq!(o, "\"é✓\"");
    }
}
