//! The few JSON writing primitives alerts need.
//!
//! Alerts are written by hand rather than through `serde_json::Value`: the
//! key set of each rule is known when the rule is compiled, so rendering
//! one alert is a sequence of appends with no map building and no
//! allocation besides the output buffer. Escaping follows what Falco's
//! serialiser emits (short escapes for `\b \f \n \r \t`, `\u00xx` with
//! lower-case hex for other control characters, non-ASCII written as
//! UTF-8, `/` not escaped), and invalid UTF-8 becomes U+FFFD.

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

/// Appends bytes as a JSON string literal, replacing invalid UTF-8 with
/// U+FFFD.
pub fn push_bytes(out: &mut String, b: &[u8]) {
    push_str(out, &String::from_utf8_lossy(b));
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
    fn invalid_utf8_replaced() {
        let mut o = String::new();
        push_bytes(&mut o, b"a\xffb");
        assert_eq!(o, "\"a\u{fffd}b\"");
    }
}
