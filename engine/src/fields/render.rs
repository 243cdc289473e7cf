//! Rendering whole events (not alerts) for `kestrel capture`: a JSON
//! object keyed by Falco field names, and a one-line text form like
//! sysdig's default output.

use std::sync::OnceLock;

use super::live::LiveEvent;
use super::{resolve, Extract, FieldRef, Value};

/// Fields every JSON event carries when present, in output order.
const JSON_FIELDS: &[&str] = &[
    "evt.num",
    "evt.time",
    "evt.type",
    "evt.category",
    "evt.cpu",
    "evt.res",
    "evt.rawres",
    "proc.name",
    "proc.pid",
    "proc.tid",
    "thread.tid",
    "proc.ppid",
    "proc.exe",
    "proc.exepath",
    "proc.cmdline",
    "proc.cwd",
    "user.uid",
    "user.name",
    "group.gid",
    "fd.num",
    "fd.type",
    "fd.typechar",
    "fd.name",
    "fd.cip",
    "fd.cport",
    "fd.sip",
    "fd.sport",
    "fd.dip",
    "fd.dport",
    "fd.l4proto",
    "container.id",
];

fn json_fields() -> &'static [(&'static str, FieldRef)] {
    static F: OnceLock<Vec<(&'static str, FieldRef)>> = OnceLock::new();
    F.get_or_init(|| {
        JSON_FIELDS
            .iter()
            .filter_map(|n| resolve(n, None).ok().map(|f| (*n, f)))
            .collect()
    })
}

/// Bytes as text, invalid UTF-8 bytes written `\xNN`.
fn escaped(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    crate::output::json::push_bytes_escaped(&mut s, b);
    s
}

/// A field value as JSON: strings (invalid UTF-8 bytes as `\xNN`, see
/// [`crate::output::json::push_bytes_escaped`]), numbers, booleans, IP
/// addresses as text.
pub fn value_to_json(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Str(s) | Value::Bytes(s) => serde_json::Value::String(escaped(s)),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::I64(n) => serde_json::Value::from(*n),
        Value::U64(n) => serde_json::Value::from(*n),
        Value::Ip(a) => serde_json::Value::String(a.to_string()),
    }
}

/// The event as a JSON object: the common fields that are present (see
/// `JSON_FIELDS`; missing ones are left out) and `evt.arg.<name>` for every
/// parameter, rendered as conditions see it. `evt.time` is epoch ns.
pub fn to_json(ev: &LiveEvent<'_>) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (name, f) in json_fields() {
        if let Some(v) = ev.extract(f) {
            m.insert((*name).to_string(), value_to_json(&v));
        }
    }
    for (name, v) in ev.arg_values() {
        m.insert(
            format!("evt.arg.{name}"),
            serde_json::Value::String(escaped(&v)),
        );
    }
    m
}

/// [`to_json`] as one line of text.
pub fn to_json_line(ev: &LiveEvent<'_>) -> String {
    serde_json::Value::Object(to_json(ev)).to_string()
}

/// sysdig-style text: `<time> <cpu> <proc.name> (<tid>) < <evt.type> <evt.args>`,
/// the time in host local time `HH:MM:SS.nnnnnnnnn`.
pub fn text_line(ev: &LiveEvent<'_>) -> String {
    let raw = ev.raw();
    let mut s = String::with_capacity(128);
    crate::output::time::push_local_hms(&mut s, ev.epoch_ns());
    s.push(' ');
    s.push_str(&raw.hdr.cpu.to_string());
    s.push(' ');
    crate::output::json::push_bytes_escaped(&mut s, raw.comm());
    s.push_str(" (");
    s.push_str(&raw.hdr.tid.to_string());
    s.push_str(") < ");
    s.push_str(raw.info.name);
    let args = ev.args_text();
    if !args.is_empty() {
        s.push(' ');
        crate::output::json::push_bytes_escaped(&mut s, &args);
    }
    s
}
