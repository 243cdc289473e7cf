//! Field extraction for JSON-lines events (keys are Falco field names).
//!
//! One event per line, an object whose keys are field references as rules
//! write them and whose values are the field values:
//!
//! ```json
//! {"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","evt.arg.flags":"O_RDONLY","proc.pid":42,"proc.aname[2]":"sshd"}
//! ```
//!
//! - `evt.type` is required (rules are indexed by it).
//! - Values are converted to the field's type when the line is parsed
//!   (`"42"` is accepted for an integer field, `42` for a string field);
//!   a value that does not fit is an error naming the key and the line.
//! - `null` and absent keys are *missing* (RULES.md §3.3).
//! - Any-ancestor fields (`proc.aname` without index) test the keys
//!   `proc.aname[1]`, `proc.aname[2]`, ... up to the first absent one, or
//!   an array given under the bare key (`"proc.aname": ["bash","sshd"]`).
//! - Either-endpoint fields (`fd.ip`, `fd.port`, `fd.net`, `fd.proto`)
//!   test the bare key if given, else the client and server keys
//!   (`fd.cip`/`fd.sip`, `fd.cport`/`fd.sport`). `fd.proto` is then, as
//!   live, the `/etc/services` name of each endpoint's port for the
//!   protocol in `fd.l4proto` (`tcp` or `udp`; without it, no name).

use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;

use super::{flag, resolve, FieldArg, FieldRef, FieldType, Value};

/// What is wrong with a JSON event line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonEventErrorKind {
    /// The line is not a JSON object.
    #[error("not a JSON object: {0}")]
    Syntax(String),
    /// The line has no `evt.type` string.
    #[error("missing \"evt.type\" (a string)")]
    NoType,
    /// A key is not a known field.
    #[error("key \"{key}\": {reason}")]
    BadKey {
        /// The key.
        key: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// A value does not fit the field's type.
    #[error("key \"{key}\": expected {expected}, got {got}")]
    BadValue {
        /// The key.
        key: String,
        /// The field type (Falco's name).
        expected: &'static str,
        /// The JSON value, abbreviated.
        got: String,
    },
    /// Reading the input failed.
    #[error("read error: {0}")]
    Io(String),
}

/// A JSON event that could not be parsed, with its line number when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct JsonEventError {
    /// 1-based line number, when parsed from a stream.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: JsonEventErrorKind,
}

impl From<JsonEventErrorKind> for JsonEventError {
    fn from(kind: JsonEventErrorKind) -> Self {
        JsonEventError { line: None, kind }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    One(Value<'static>),
    Many(Vec<Value<'static>>),
}

/// One event from a JSON-lines file.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEvent {
    evt_type: String,
    values: HashMap<FieldRef, Slot>,
}

fn abbreviate(v: &serde_json::Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let mut cut = 57;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn convert(
    key: &str,
    ty: FieldType,
    v: &serde_json::Value,
) -> Result<Value<'static>, JsonEventErrorKind> {
    use serde_json::Value as J;
    let bad = || JsonEventErrorKind::BadValue {
        key: key.to_string(),
        expected: ty.falco_name(),
        got: abbreviate(v),
    };
    let text = || match v {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    Ok(match ty {
        FieldType::CharBuf => Value::string(text().ok_or_else(bad)?),
        FieldType::ByteBuf => Value::Bytes(text().ok_or_else(bad)?.into_bytes().into()),
        FieldType::Bool => match v {
            J::Bool(b) => Value::Bool(*b),
            J::String(s) if s == "true" => Value::Bool(true),
            J::String(s) if s == "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        FieldType::Int64 => match v {
            J::Number(n) => Value::I64(n.as_i64().ok_or_else(bad)?),
            J::String(s) => Value::I64(s.trim().parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        FieldType::Uint32
        | FieldType::Uint64
        | FieldType::RelTime
        | FieldType::AbsTime
        | FieldType::Port => {
            let n: u64 = match v {
                J::Number(n) => n.as_u64().ok_or_else(bad)?,
                J::String(s) => s.trim().parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            let max = match ty {
                FieldType::Uint32 => u32::MAX as u64,
                FieldType::Port => u16::MAX as u64,
                _ => u64::MAX,
            };
            if n > max {
                return Err(bad());
            }
            Value::U64(n)
        }
        FieldType::IpAddr | FieldType::IpNet => match v {
            J::String(s) => Value::Ip(s.trim().parse::<IpAddr>().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
    })
}

/// Splits `name[arg]` into name and argument.
fn split_key(key: &str) -> (&str, Option<&str>) {
    match key.find('[') {
        Some(i) if key.ends_with(']') => (&key[..i], Some(&key[i + 1..key.len() - 1])),
        _ => (key, None),
    }
}

impl JsonEvent {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<JsonEvent, JsonEventError> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| JsonEventErrorKind::Syntax(e.to_string()))?;
        let serde_json::Value::Object(obj) = v else {
            return Err(JsonEventErrorKind::Syntax(format!(
                "expected an object, got {}",
                abbreviate(&v)
            ))
            .into());
        };
        let evt_type = match obj.get("evt.type") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(JsonEventErrorKind::NoType.into()),
        };
        let mut values = HashMap::with_capacity(obj.len());
        for (key, val) in &obj {
            let (name, arg) = split_key(key);
            let f = resolve(name, arg).map_err(|e| JsonEventErrorKind::BadKey {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            let d = f.def();
            let ty = if d.name == "evt.rawarg" && val.is_string() {
                // A raw argument may be a string parameter (a path).
                FieldType::CharBuf
            } else {
                d.ty
            };
            let slot = match val {
                serde_json::Value::Null => continue,
                serde_json::Value::Array(items) => {
                    let multi = d.has(flag::LIST)
                        || d.has(flag::EITHER_ENDPOINT)
                        || (d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None);
                    if !multi {
                        return Err(JsonEventErrorKind::BadValue {
                            key: key.clone(),
                            expected: ty.falco_name(),
                            got: abbreviate(val),
                        }
                        .into());
                    }
                    let mut out = Vec::with_capacity(items.len());
                    for it in items {
                        out.push(convert(key, ty, it)?);
                    }
                    Slot::Many(out)
                }
                other => Slot::One(convert(key, ty, other)?),
            };
            values.insert(f, slot);
        }
        Ok(JsonEvent { evt_type, values })
    }

    /// Parses one line, reporting errors with its 1-based line number.
    pub fn parse_numbered(line: &str, line_no: usize) -> Result<JsonEvent, JsonEventError> {
        JsonEvent::parse(line).map_err(|mut e| {
            e.line = Some(line_no);
            e
        })
    }

    /// Every event of a JSON-lines stream, in order; blank lines and lines
    /// starting with `#` are skipped. Errors carry line numbers; the
    /// iterator goes on after a bad line.
    pub fn read_lines<R: BufRead>(r: R) -> impl Iterator<Item = Result<JsonEvent, JsonEventError>> {
        r.lines().enumerate().filter_map(|(i, l)| match l {
            Err(e) => Some(Err(JsonEventError {
                line: Some(i + 1),
                kind: JsonEventErrorKind::Io(e.to_string()),
            })),
            Ok(l) if l.trim().is_empty() || l.trim_start().starts_with('#') => None,
            Ok(l) => Some(JsonEvent::parse_numbered(&l, i + 1)),
        })
    }

    /// The event type (`evt.type`).
    pub fn evt_type(&self) -> &str {
        &self.evt_type
    }

    fn get(&self, f: &FieldRef) -> Option<&Slot> {
        self.values.get(f)
    }

    fn indexed(&self, f: &FieldRef, n: u32) -> Option<&Slot> {
        self.values.get(&FieldRef {
            id: f.id,
            arg: FieldArg::Index(n),
        })
    }

    fn by_name(&self, name: &str) -> Option<&Slot> {
        let f = resolve(name, None).ok()?;
        self.values.get(&f)
    }

    /// `fd.proto` without the bare key: the service name of the client and
    /// the server port for the `fd.l4proto` protocol, as the live extractor
    /// computes it. True (the field exists) when a port is given; ports
    /// without a name are skipped.
    fn proto_each(&self, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let ports: Vec<u16> = ["fd.cport", "fd.sport"]
            .into_iter()
            .filter_map(|k| self.by_name(k))
            .flat_map(|s| match s {
                Slot::One(v) => vec![v],
                Slot::Many(vs) => vs.iter().collect(),
            })
            .filter_map(|v| match v {
                Value::U64(p) => u16::try_from(*p).ok(),
                Value::I64(p) => u16::try_from(*p).ok(),
                _ => None,
            })
            .collect();
        if ports.is_empty() {
            return false;
        }
        let l4 = match self.by_name("fd.l4proto") {
            Some(Slot::One(v)) => text_of(v),
            _ => Vec::new(),
        };
        let proto = match l4.as_slice() {
            b"tcp" => crate::state::sockets::IPPROTO_TCP,
            b"udp" => crate::state::sockets::IPPROTO_UDP,
            _ => return true,
        };
        for p in ports {
            if let Some(n) = services().name(p, proto) {
                if visit(Value::string(n.as_bytes())) {
                    break;
                }
            }
        }
        true
    }
}

/// `/etc/services`, read once (the live extractor reads the same file).
fn services() -> &'static crate::state::Services {
    static S: std::sync::OnceLock<crate::state::Services> = std::sync::OnceLock::new();
    S.get_or_init(crate::state::Services::system)
}

fn borrow<'a>(v: &'a Value<'static>) -> Value<'a> {
    match v {
        Value::Str(s) => Value::str(s),
        Value::Bytes(b) => Value::Bytes(std::borrow::Cow::Borrowed(b)),
        other => other.clone(),
    }
}

fn text_of(v: &Value<'_>) -> Vec<u8> {
    match v {
        Value::Str(s) | Value::Bytes(s) => s.to_vec(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::I64(n) => n.to_string().into_bytes(),
        Value::U64(n) => n.to_string().into_bytes(),
        Value::Ip(a) => a.to_string().into_bytes(),
    }
}

fn visit_slot(s: &Slot, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
    match s {
        Slot::One(v) => {
            visit(borrow(v));
        }
        Slot::Many(vs) => {
            for v in vs {
                if visit(borrow(v)) {
                    break;
                }
            }
        }
    }
    true
}

impl super::Extract for JsonEvent {
    fn extract(&self, f: &FieldRef) -> Option<Value<'_>> {
        let d = f.def();
        if d.has(flag::EITHER_ENDPOINT) {
            return None;
        }
        if d.name == "evt.type" {
            return Some(Value::str(self.evt_type.as_bytes()));
        }
        if d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None {
            // Output rendering: the ancestors joined by spaces.
            let mut vals = Vec::new();
            self.extract_each(f, &mut |v| {
                vals.push(text_of(&v));
                false
            });
            if vals.is_empty() {
                return None;
            }
            return Some(Value::string(vals.join(&b' ')));
        }
        match self.get(f)? {
            Slot::One(v) => Some(borrow(v)),
            Slot::Many(vs) => vs.first().map(borrow),
        }
    }

    fn extract_each(&self, f: &FieldRef, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let d = f.def();
        if let Some(s) = self.get(f) {
            if !(d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None) || matches!(s, Slot::Many(_))
            {
                return visit_slot(s, visit);
            }
        }
        if d.has(flag::EITHER_ENDPOINT) {
            let (c, s) = match d.name {
                "fd.ip" | "fd.net" => ("fd.cip", "fd.sip"),
                "fd.port" => ("fd.cport", "fd.sport"),
                "fd.proto" => return self.proto_each(visit),
                _ => return false,
            };
            let ends: Vec<&Slot> = [self.by_name(c), self.by_name(s)]
                .into_iter()
                .flatten()
                .collect();
            if ends.is_empty() {
                return false;
            }
            for e in ends {
                let mut stop = false;
                visit_slot(e, &mut |v| {
                    stop = visit(v);
                    stop
                });
                if stop {
                    break;
                }
            }
            return true;
        }
        if d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None {
            // A single value under the bare key counts as the parent.
            if let Some(Slot::One(v)) = self.get(f) {
                visit(borrow(v));
                return true;
            }
            let mut any = false;
            let mut n = 1;
            while let Some(s) = self.indexed(f, n) {
                any = true;
                let mut stop = false;
                visit_slot(s, &mut |v| {
                    stop = visit(v);
                    stop
                });
                if stop {
                    break;
                }
                n += 1;
            }
            return any;
        }
        match self.extract(f) {
            Some(v) => {
                visit(v);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Extract;

    fn fr(s: &str) -> FieldRef {
        let (n, a) = split_key(s);
        resolve(n, a).unwrap()
    }

    #[test]
    fn parses_and_types_values() {
        let e = JsonEvent::parse(r#"{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","evt.arg.flags":"O_RDONLY","proc.pid":42,"fd.num":"-1","proc.aname[2]":"sshd","user.uid":"0","fd.sip":"10.0.0.1","evt.is_open_read":true,"proc.exe":null}"#).unwrap();
        assert_eq!(e.evt_type(), "openat");
        assert_eq!(e.extract(&fr("proc.name")), Some(Value::str(b"cat")));
        assert_eq!(e.extract(&fr("proc.pid")), Some(Value::I64(42)));
        assert_eq!(e.extract(&fr("fd.num")), Some(Value::I64(-1)));
        assert_eq!(e.extract(&fr("user.uid")), Some(Value::U64(0)));
        assert_eq!(
            e.extract(&fr("evt.arg[flags]")),
            Some(Value::str(b"O_RDONLY"))
        );
        assert_eq!(e.extract(&fr("proc.aname[2]")), Some(Value::str(b"sshd")));
        assert_eq!(e.extract(&fr("proc.aname[1]")), None);
        assert_eq!(e.extract(&fr("proc.exe")), None, "null is missing");
        assert_eq!(e.extract(&fr("proc.cwd")), None, "absent is missing");
        assert_eq!(e.extract(&fr("evt.type")), Some(Value::str(b"openat")));
        assert_eq!(e.extract(&fr("evt.is_open_read")), Some(Value::Bool(true)));
        assert_eq!(
            e.extract(&fr("fd.sip")),
            Some(Value::Ip("10.0.0.1".parse().unwrap()))
        );
        // a number for a string field is its text
        let e = JsonEvent::parse(r#"{"evt.type":"x","proc.name":7}"#).unwrap();
        assert_eq!(e.extract(&fr("proc.name")), Some(Value::str(b"7")));
    }

    #[test]
    fn ancestors_and_endpoints() {
        let e = JsonEvent::parse(r#"{"evt.type":"execve","proc.aname[1]":"bash","proc.aname[2]":"sshd","proc.aname[4]":"gap","fd.cip":"1.2.3.4","fd.sport":443}"#).unwrap();
        let mut seen = Vec::new();
        assert!(e.extract_each(&fr("proc.aname"), &mut |v| {
            seen.push(text_of(&v));
            false
        }));
        assert_eq!(seen, vec![b"bash".to_vec(), b"sshd".to_vec()]);
        assert_eq!(
            e.extract(&fr("proc.aname")),
            Some(Value::string("bash sshd"))
        );
        let mut ips = Vec::new();
        assert!(e.extract_each(&fr("fd.ip"), &mut |v| {
            ips.push(v.into_owned());
            false
        }));
        assert_eq!(ips, vec![Value::Ip("1.2.3.4".parse().unwrap())]);
        assert!(e.extract_each(&fr("fd.port"), &mut |_| false));
        assert!(e.extract_each(&fr("fd.net"), &mut |_| false));
        // A port but no fd.l4proto: the field exists, no name.
        let mut names = Vec::new();
        assert!(e.extract_each(&fr("fd.proto"), &mut |v| {
            names.push(text_of(&v));
            false
        }));
        assert!(names.is_empty());
        assert_eq!(e.extract(&fr("fd.ip")), None, "filter-only");
        let e = JsonEvent::parse(r#"{"evt.type":"execve"}"#).unwrap();
        assert!(!e.extract_each(&fr("fd.proto"), &mut |_| false));
        let e = JsonEvent::parse(r#"{"evt.type":"execve","proc.aname":["a","b"]}"#).unwrap();
        let mut n = 0;
        e.extract_each(&fr("proc.aname"), &mut |_| {
            n += 1;
            false
        });
        assert_eq!(n, 2);
        let e = JsonEvent::parse(r#"{"evt.type":"execve"}"#).unwrap();
        assert!(!e.extract_each(&fr("proc.aname"), &mut |_| false));
    }

    #[test]
    fn errors_name_the_problem_and_line() {
        let err = |s: &str| JsonEvent::parse(s).unwrap_err().to_string();
        assert!(err("not json").starts_with("not a JSON object"));
        assert!(err("[1]").contains("expected an object"));
        assert_eq!(
            err(r#"{"proc.name":"x"}"#),
            "missing \"evt.type\" (a string)"
        );
        assert!(err(r#"{"evt.type":"open","proc.nosuch":1}"#).contains("key \"proc.nosuch\""));
        assert_eq!(
            err(r#"{"evt.type":"open","proc.pid":"abc"}"#),
            "key \"proc.pid\": expected INT64, got \"abc\""
        );
        assert!(err(r#"{"evt.type":"open","fd.sport":70000}"#).contains("expected PORT"));
        assert!(err(r#"{"evt.type":"open","proc.name":["a"]}"#).contains("expected CHARBUF"));
        let input = "{\"evt.type\":\"open\"}\n\n# comment\n{\"evt.type\":\"open\",\"proc.pid\":\"x\"}\n{\"evt.type\":\"close\"}\n";
        let res: Vec<_> = JsonEvent::read_lines(input.as_bytes()).collect();
        assert_eq!(res.len(), 3);
        assert!(res[0].is_ok() && res[2].is_ok());
        let e = res[1].as_ref().unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.to_string().starts_with("line 4: key \"proc.pid\""));
    }
}
