//! Scalar comparison primitives shared by the compiled matcher (for
//! field-to-field checks and generic fallbacks) and the reference
//! interpreter: how one extracted value compares with one right-hand value
//! under one operator (RULES.md §3.4, §3.5, §3.10, §3.11).
//!
//! The pattern operators (`glob`, `regex`, `pmatch`) are deliberately not
//! here: the compiled matcher and the interpreter implement them
//! separately so that the differential tests compare two implementations.

use std::cmp::Ordering;
use std::net::IpAddr;

use crate::fields::Value;
use crate::rules::ir::{CmpOp, IpNet, Literal};

/// The bytes of a string or binary value. Strings are C strings: the value
/// stops at the first NUL byte (§3.4); binary values are taken whole.
pub(crate) fn text_of<'v>(v: &'v Value<'_>) -> Option<&'v [u8]> {
    match v {
        Value::Str(s) => Some(cstr(s)),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// `s` up to (not including) its first NUL.
pub(crate) fn cstr(s: &[u8]) -> &[u8] {
    // Most values are short names and paths: a word-at-a-time scan beats
    // both memchr's dispatch (~70 instructions a call) and a byte loop
    // (~4 a byte; the byte loop over fd.name was a quarter of the matcher's
    // own time on the open load).
    let found = if s.len() <= 64 {
        crate::util::swar::first_nul(s)
    } else {
        memchr::memchr(0, s)
    };
    match found {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Compiles a `regex` pattern anchored at both ends (§3.8): the whole
/// value must match.
pub(crate) fn anchored_regex(pattern: &[u8]) -> Result<regex::bytes::Regex, regex::Error> {
    let p = String::from_utf8_lossy(pattern);
    regex::bytes::Regex::new(&format!(r"\A(?:{p})\z"))
}

/// An integer value widened so that signed and unsigned fields compare
/// exactly (a `UINT64` above `i64::MAX` stays above every `INT64`).
pub(crate) fn int_of(v: &Value<'_>) -> Option<i128> {
    match v {
        Value::I64(i) => Some(i128::from(*i)),
        Value::U64(u) => Some(i128::from(*u)),
        _ => None,
    }
}

/// A right-hand value: a literal or the value of another field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    /// String (already NUL-truncated) or binary bytes.
    Bytes(&'a [u8]),
    /// Any integer.
    Int(i128),
    /// A boolean.
    Bool(bool),
    /// An address.
    Ip(IpAddr),
    /// A network (`IPNET` literals).
    Net(IpNet),
}

impl<'a> Scalar<'a> {
    /// The literal as a scalar (strings truncated at NUL like values).
    pub(crate) fn of_literal(l: &'a Literal) -> Scalar<'a> {
        match l {
            Literal::Str(s) => Scalar::Bytes(cstr(s)),
            Literal::Bytes(b) => Scalar::Bytes(b),
            Literal::I64(i) => Scalar::Int(i128::from(*i)),
            Literal::U64(u) => Scalar::Int(i128::from(*u)),
            Literal::Bool(b) => Scalar::Bool(*b),
            Literal::Ip(a) => Scalar::Ip(*a),
            Literal::Net(n) => Scalar::Net(*n),
        }
    }

    /// Another field's value as a scalar.
    pub(crate) fn of_value(v: &'a Value<'_>) -> Scalar<'a> {
        match v {
            Value::Str(_) | Value::Bytes(_) => Scalar::Bytes(text_of(v).unwrap_or_default()),
            Value::I64(i) => Scalar::Int(i128::from(*i)),
            Value::U64(u) => Scalar::Int(i128::from(*u)),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Ip(a) => Scalar::Ip(*a),
        }
    }
}

/// ASCII case-insensitive substring test.
pub(crate) fn icontains(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `lhs op rhs` for the operators that compare one value with one scalar:
/// equality, ordering, the substring operators, `in`/`intersects` (one
/// element: equality). Pattern operators (`glob`, `iglob`, `regex`,
/// `pmatch`) and `exists` are not handled here and yield `false`. A type
/// mismatch (which the loader's typing rules out) is `false`, never a
/// panic.
pub(crate) fn compare(op: CmpOp, lhs: &Value<'_>, rhs: Scalar<'_>) -> bool {
    match rhs {
        Scalar::Bytes(r) => {
            let Some(l) = text_of(lhs) else { return false };
            match op {
                CmpOp::Eq | CmpOp::In | CmpOp::Intersects => l == r,
                CmpOp::Ne => l != r,
                CmpOp::Lt => l.cmp(r) == Ordering::Less,
                CmpOp::Le => l.cmp(r) != Ordering::Greater,
                CmpOp::Gt => l.cmp(r) == Ordering::Greater,
                CmpOp::Ge => l.cmp(r) != Ordering::Less,
                CmpOp::Contains | CmpOp::BContains => {
                    r.is_empty() || memchr::memmem::find(l, r).is_some()
                }
                CmpOp::IContains => icontains(l, r),
                CmpOp::StartsWith | CmpOp::BStartsWith => l.starts_with(r),
                CmpOp::EndsWith => l.ends_with(r),
                _ => false,
            }
        }
        Scalar::Int(r) => {
            let Some(l) = int_of(lhs) else { return false };
            match op {
                CmpOp::Eq | CmpOp::In | CmpOp::Intersects => l == r,
                CmpOp::Ne => l != r,
                CmpOp::Lt => l < r,
                CmpOp::Le => l <= r,
                CmpOp::Gt => l > r,
                CmpOp::Ge => l >= r,
                _ => false,
            }
        }
        Scalar::Bool(r) => {
            let Value::Bool(l) = lhs else { return false };
            match op {
                CmpOp::Eq | CmpOp::In | CmpOp::Intersects => *l == r,
                CmpOp::Ne => *l != r,
                _ => false,
            }
        }
        Scalar::Ip(r) => {
            let Value::Ip(l) = lhs else { return false };
            // Different families are simply unequal (§3.4).
            match op {
                CmpOp::Eq | CmpOp::In | CmpOp::Intersects => *l == r,
                CmpOp::Ne => *l != r,
                _ => false,
            }
        }
        Scalar::Net(n) => {
            let Value::Ip(l) = lhs else { return false };
            match op {
                CmpOp::Eq | CmpOp::In | CmpOp::Intersects => n.contains(*l),
                CmpOp::Ne => !n.contains(*l),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value<'static> {
        Value::string(x)
    }

    #[test]
    fn strings_are_c_strings() {
        let v = Value::string(b"abc\0def".to_vec());
        assert!(compare(CmpOp::Eq, &v, Scalar::Bytes(b"abc")));
        assert!(!compare(CmpOp::Contains, &v, Scalar::Bytes(b"def")));
        // Binary values keep their NULs.
        let b = Value::Bytes(b"abc\0def".to_vec().into());
        assert!(compare(CmpOp::Contains, &b, Scalar::Bytes(b"def")));
    }

    #[test]
    fn ordering_is_unsigned_bytewise() {
        assert!(compare(CmpOp::Lt, &s("a"), Scalar::Bytes(b"b")));
        assert!(compare(
            CmpOp::Gt,
            &Value::string(vec![0xffu8]),
            Scalar::Bytes(b"z")
        ));
        assert!(compare(CmpOp::Le, &s("a"), Scalar::Bytes(b"a")));
    }

    #[test]
    fn integers_compare_exactly_across_signedness() {
        assert!(compare(CmpOp::Gt, &Value::U64(u64::MAX), Scalar::Int(-1)));
        assert!(compare(CmpOp::Eq, &Value::I64(-1), Scalar::Int(-1)));
        assert!(!compare(CmpOp::Eq, &s("1"), Scalar::Int(1)));
    }

    #[test]
    fn ip_families_are_unequal() {
        let v4 = Value::Ip("0.0.0.0".parse().unwrap());
        let v6: IpAddr = "::".parse().unwrap();
        assert!(compare(CmpOp::Ne, &v4, Scalar::Ip(v6)));
        assert!(!compare(CmpOp::Eq, &v4, Scalar::Ip(v6)));
    }

    #[test]
    fn icontains_ascii_only() {
        assert!(icontains(b"Sys_Module", b"SYS_MODULE"));
        assert!(icontains(b"x", b""));
        assert!(!icontains(b"ab", b"abc"));
    }
}
