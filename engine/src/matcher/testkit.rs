//! [`MapEvent`]: an [`Extract`] implementation backed by explicit field
//! values, for tests, golden files and benchmarks. It is not a test-only
//! item (`#[cfg(test)]`) because integration tests and the root package's
//! benchmarks use it too.
//!
//! Plain fields are found through a small table indexed by field id that
//! points into one contiguous vector of values, so extraction costs about
//! what a real extractor costs for fields it holds in memory (measured: a
//! vector of per-field vectors made the benchmark measure cache misses of
//! the test harness instead of the matcher). Fields with arguments are
//! looked up linearly (events have few).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::fields::{self, flag, Extract, FieldArg, FieldRef, FieldType, Value, CATALOG};

/// An event given as field values. Missing fields are simply not set.
#[derive(Debug, Clone, Default)]
pub struct MapEvent {
    /// Per field id: (start, count) in `vals`; count 0 means missing.
    slots: Vec<(u32, u32)>,
    vals: Vec<Value<'static>>,
    with_arg: Vec<(FieldRef, Vec<Value<'static>>)>,
}

/// Parses a field as written in conditions: `proc.name`, `proc.aname[2]`,
/// `evt.arg.flags`, `container.mount.dest[/proc*]`.
pub fn parse_field(text: &str) -> Result<FieldRef, fields::ResolveError> {
    match text.find('[') {
        Some(i) if text.ends_with(']') => {
            fields::resolve(&text[..i], Some(&text[i + 1..text.len() - 1]))
        }
        _ => fields::resolve(text, None),
    }
}

/// Converts text to a value of the field's type (`true`, `-1`, `10.0.0.1`,
/// any string).
pub fn value_from_text(f: &FieldRef, text: &str) -> Result<Value<'static>, String> {
    let bad = |what: &str| format!("{}: '{text}' is not {what}", f.text());
    Ok(match f.def().ty {
        FieldType::CharBuf => Value::string(text.as_bytes().to_vec()),
        FieldType::ByteBuf => Value::Bytes(Cow::Owned(text.as_bytes().to_vec())),
        FieldType::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        FieldType::Int64 => Value::I64(text.parse().map_err(|_| bad("an integer"))?),
        FieldType::Uint32
        | FieldType::Uint64
        | FieldType::RelTime
        | FieldType::AbsTime
        | FieldType::Port => Value::U64(text.parse().map_err(|_| bad("an unsigned integer"))?),
        FieldType::IpAddr | FieldType::IpNet => {
            Value::Ip(text.parse::<IpAddr>().map_err(|_| bad("an IP address"))?)
        }
    })
}

fn borrow<'a>(v: &'a Value<'static>) -> Value<'a> {
    match v {
        Value::Str(s) => Value::Str(Cow::Borrowed(s)),
        Value::Bytes(s) => Value::Bytes(Cow::Borrowed(s)),
        other => other.clone(),
    }
}

impl MapEvent {
    /// An event of type `evt_type` (sets `evt.type` and `syscall.type`).
    pub fn new(evt_type: &str) -> MapEvent {
        let mut m = MapEvent {
            slots: vec![(0, 0); CATALOG.len()],
            vals: Vec::new(),
            with_arg: Vec::new(),
        };
        for f in ["evt.type", "syscall.type"] {
            if let Ok(r) = fields::resolve(f, None) {
                m.set(r, Value::string(evt_type.as_bytes().to_vec()));
            }
        }
        m
    }

    /// Sets a single-valued field.
    pub fn set(&mut self, f: FieldRef, v: Value<'static>) -> &mut Self {
        self.set_each(f, vec![v])
    }

    /// Sets every value of a multi-valued field: the ancestors from the
    /// parent up for `proc.aname` and friends, both endpoints for `fd.ip`
    /// and friends, the elements of a list field. An empty vector makes
    /// the field missing.
    pub fn set_each(&mut self, f: FieldRef, vals: Vec<Value<'static>>) -> &mut Self {
        if f.arg == FieldArg::None {
            let i = f.id.0 as usize;
            if i >= self.slots.len() {
                self.slots.resize(i + 1, (0, 0));
            }
            // Replaced values stay in `vals` unreferenced: events are small
            // and short-lived.
            self.slots[i] = (self.vals.len() as u32, vals.len() as u32);
            self.vals.extend(vals);
        } else {
            self.with_arg.retain(|(g, _)| *g != f);
            if !vals.is_empty() {
                self.with_arg.push((f, vals));
            }
        }
        self
    }

    /// Sets a field from text, converting by the field's type.
    pub fn set_text(&mut self, field: &str, text: &str) -> Result<&mut Self, String> {
        let f = parse_field(field).map_err(|e| e.to_string())?;
        let v = value_from_text(&f, text)?;
        Ok(self.set(f, v))
    }

    /// Removes a field (makes it missing).
    pub fn unset(&mut self, f: &FieldRef) -> &mut Self {
        self.set_each(f.clone(), Vec::new())
    }

    fn values(&self, f: &FieldRef) -> Option<&[Value<'static>]> {
        if f.arg == FieldArg::None {
            let (start, n) = *self.slots.get(f.id.0 as usize)?;
            if n == 0 {
                return None;
            }
            self.vals.get(start as usize..(start + n) as usize)
        } else {
            self.with_arg
                .iter()
                .find(|(g, _)| g == f)
                .map(|(_, v)| &v[..])
        }
    }
}

impl Extract for MapEvent {
    fn extract(&self, f: &FieldRef) -> Option<Value<'_>> {
        let vals = self.values(f)?;
        let d = f.def();
        if d.has(flag::EITHER_ENDPOINT) {
            return None;
        }
        if d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None {
            // The output rendering: ancestor names joined by spaces.
            let mut out = Vec::new();
            for (i, v) in vals.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                match v {
                    Value::Str(s) | Value::Bytes(s) => out.extend_from_slice(s),
                    Value::I64(n) => out.extend_from_slice(n.to_string().as_bytes()),
                    Value::U64(n) => out.extend_from_slice(n.to_string().as_bytes()),
                    Value::Bool(b) => out.extend_from_slice(b.to_string().as_bytes()),
                    Value::Ip(a) => out.extend_from_slice(a.to_string().as_bytes()),
                }
            }
            return Some(Value::Str(Cow::Owned(out)));
        }
        vals.first().map(borrow)
    }

    fn extract_each(&self, f: &FieldRef, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let Some(vals) = self.values(f) else {
            return false;
        };
        for v in vals {
            if visit(borrow(v)) {
                break;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_extract() {
        let mut e = MapEvent::new("openat");
        e.set_text("fd.name", "/etc/shadow").unwrap();
        e.set_text("fd.num", "-1").unwrap();
        e.set_text("proc.aname[2]", "sshd").unwrap();
        assert!(e.set_text("fd.num", "x").is_err());
        let f = parse_field("fd.name").unwrap();
        assert_eq!(e.extract(&f), Some(Value::str(b"/etc/shadow")));
        assert_eq!(
            e.extract(&parse_field("proc.aname[2]").unwrap()),
            Some(Value::str(b"sshd"))
        );
        assert_eq!(e.extract(&parse_field("proc.aname[1]").unwrap()), None);
        assert_eq!(
            e.extract(&parse_field("evt.type").unwrap()),
            Some(Value::str(b"openat"))
        );
        let anc = parse_field("proc.aname").unwrap();
        e.set_each(
            anc.clone(),
            vec![Value::string("bash"), Value::string("sshd")],
        );
        assert_eq!(e.extract(&anc), Some(Value::str(b"bash sshd")));
        let mut seen = Vec::new();
        assert!(e.extract_each(&anc, &mut |v| {
            seen.push(v.into_owned());
            false
        }));
        assert_eq!(seen.len(), 2);
    }
}
