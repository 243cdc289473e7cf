//! Operand evaluation: the value of a field or of a transformer applied to
//! fields (RULES.md §3.13). Transformers are rare in rules and allocate
//! anyway, so the compiled matcher and the interpreter share this code
//! rather than specialising it.

use std::borrow::Cow;

use base64::Engine as _;

use crate::fields::{flag, Extract, FieldRef, Value};
use crate::rules::ir::{Operand, TrArg, Transformer};

use super::value::text_of;

/// Every value of a field: the elements of a list field, otherwise the
/// single value (empty when missing).
fn field_values<'e, E: Extract + ?Sized>(f: &FieldRef, e: &'e E) -> Vec<Value<'e>> {
    if f.def().has(flag::LIST) {
        let mut out = Vec::new();
        e.extract_each(f, &mut |v| {
            out.push(v.into_owned());
            false
        });
        out
    } else {
        e.extract(f).into_iter().collect()
    }
}

fn text_arg<E: Extract + ?Sized>(a: &TrArg, e: &E) -> Option<Vec<u8>> {
    match a {
        TrArg::Literal(s) => Some(s.as_bytes().to_vec()),
        TrArg::Operand(o) => {
            let v = operand_value(o, e)?;
            text_of(&v).map(<[u8]>::to_vec)
        }
        TrArg::List(_) => None,
    }
}

/// The elements a `join` or `len` sees: a list field's values, a
/// parenthesised list, or a single value.
fn list_arg<E: Extract + ?Sized>(a: &TrArg, e: &E) -> Option<Vec<Vec<u8>>> {
    match a {
        TrArg::Operand(Operand::Field(f)) if f.def().has(flag::LIST) => {
            let vals = field_values(f, e);
            if vals.is_empty() {
                return None;
            }
            Some(
                vals.iter()
                    .filter_map(|v| text_of(v).map(<[u8]>::to_vec))
                    .collect(),
            )
        }
        TrArg::List(items) => items.iter().map(|i| text_arg(i, e)).collect(),
        other => text_arg(other, e).map(|t| vec![t]),
    }
}

/// getopt(3)-style lookup of option `want` in `args` (space-separated).
fn getopt(args: &[u8], optstring: &[u8], want: u8) -> Option<Vec<u8>> {
    let takes_arg = |c: u8| {
        optstring
            .iter()
            .position(|&o| o == c)
            .map(|i| optstring.get(i + 1) == Some(&b':'))
    };
    let toks: Vec<&[u8]> = args
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        i += 1;
        if t == b"--" {
            break;
        }
        if t.len() < 2 || t[0] != b'-' {
            continue;
        }
        let mut j = 1;
        while j < t.len() {
            let c = t[j];
            j += 1;
            match takes_arg(c) {
                None => {}
                Some(false) if c == want => return Some(Vec::new()),
                Some(false) => {}
                Some(true) => {
                    let val: Vec<u8> = if j < t.len() {
                        t[j..].to_vec()
                    } else if i < toks.len() {
                        i += 1;
                        toks[i - 1].to_vec()
                    } else {
                        Vec::new()
                    };
                    if c == want {
                        return Some(val);
                    }
                    break;
                }
            }
        }
    }
    None
}

/// The value of an operand, `None` when missing. A transformer over a
/// missing argument is missing; an undecodable `b64` input is missing.
pub(crate) fn operand_value<'e, E: Extract + ?Sized>(o: &Operand, e: &'e E) -> Option<Value<'e>> {
    let (t, args) = match o {
        Operand::Field(f) => return e.extract(f),
        Operand::Transform(t, args) => (*t, args),
    };
    let first = args.first()?;
    let v: Value<'e> = match t {
        Transformer::ToLower | Transformer::ToUpper => {
            let mut b = text_arg(first, e)?;
            if t == Transformer::ToLower {
                b.make_ascii_lowercase();
            } else {
                b.make_ascii_uppercase();
            }
            Value::Str(Cow::Owned(b))
        }
        Transformer::B64 => {
            let b = text_arg(first, e)?;
            let decoded = base64::engine::general_purpose::STANDARD.decode(&b).ok()?;
            Value::Bytes(Cow::Owned(decoded))
        }
        Transformer::Basename => {
            let b = text_arg(first, e)?;
            let base = match memchr::memrchr(b'/', &b) {
                Some(i) => b[i + 1..].to_vec(),
                None => b,
            };
            Value::Str(Cow::Owned(base))
        }
        Transformer::Len => {
            let n = match first {
                TrArg::Operand(Operand::Field(f)) if f.def().has(flag::LIST) => {
                    list_arg(first, e)?.len()
                }
                _ => {
                    let TrArg::Operand(inner) = first else {
                        return None;
                    };
                    let v = operand_value(inner, e)?;
                    text_of(&v)?.len()
                }
            };
            Value::U64(n as u64)
        }
        Transformer::Join => {
            let sep = text_arg(first, e)?;
            let items = list_arg(args.get(1)?, e)?;
            Value::Str(Cow::Owned(items.join(&sep[..])))
        }
        Transformer::Concat => {
            let mut out = Vec::new();
            for a in args {
                out.extend_from_slice(&text_arg(a, e)?);
            }
            Value::Str(Cow::Owned(out))
        }
        Transformer::Getopt => {
            let argv = text_arg(first, e)?;
            let optstring = text_arg(args.get(1)?, e)?;
            let want = *text_arg(args.get(2)?, e)?.first()?;
            Value::Str(Cow::Owned(getopt(&argv, &optstring, want)?))
        }
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getopt_forms() {
        assert_eq!(
            getopt(b"-e /bin/sh -l", b"e:l", b'e'),
            Some(b"/bin/sh".to_vec())
        );
        assert_eq!(getopt(b"-e/bin/sh", b"e:", b'e'), Some(b"/bin/sh".to_vec()));
        assert_eq!(getopt(b"-le x", b"le:", b'l'), Some(Vec::new()));
        assert_eq!(getopt(b"-le x", b"le:", b'e'), Some(b"x".to_vec()));
        assert_eq!(getopt(b"-- -e x", b"e:", b'e'), None);
        assert_eq!(getopt(b"file", b"e:", b'e'), None);
    }
}
