//! Alert rendering: Falco's text line (RULES.md §9.4), JSON alert (§9.5)
//! and internal alerts (§9.6).
//!
//! [`CompiledOutputs`] is built once from the loaded rules and the output
//! configuration: each rule's assembled format (rule output plus the
//! matching `append_output` entries, §9.3) is compiled, and everything
//! about the JSON object that does not depend on the event (the sorted
//! `output_fields` keys, the escaped rule name, source, tags and host
//! name) is prepared. It is immutable and shared behind an `Arc` by the
//! workers, which call [`CompiledOutputs::render`] for each match and get
//! an owned [`Alert`] to send to the outputs.

use std::fmt::Write;
use std::sync::Arc;

use crate::fields::{self, Extract, FieldArg, FieldRef, Value};
use crate::rules::{Priority, Rule};

use super::config::{AppendOutput, ExtraField, OutputsConfig};
use super::format::{self, FormatError, FormatWarning, OutputFormat, Style};
use super::json;
use super::time;

/// Index of a rule in the slice given to [`CompiledOutputs::compile`].
pub type RuleId = usize;

/// The fields the container provider suggests (RULES.md §9.3), in order,
/// with their ` key=` spelling.
const SUGGESTED: &[(&str, &str)] = &[
    ("container_id", "container.id"),
    ("container_name", "container.name"),
    ("container_image_repository", "container.image.repository"),
    ("container_image_tag", "container.image.tag"),
    ("k8s_pod_name", "k8s.pod.name"),
    ("k8s_ns_name", "k8s.ns.name"),
];

/// Prefix of the names of kestrel's own alerts (RULES.md §9.6).
pub const INTERNAL_RULE_PREFIX: &str = "kestrel internal: ";

/// Why the outputs of a rule set do not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A rule's assembled output format does not compile.
    #[error("rule '{rule}': invalid output format: {error}")]
    RuleOutput {
        /// The rule name.
        rule: String,
        /// The assembled format that failed.
        format: String,
        /// What is wrong.
        #[source]
        error: FormatError,
    },
    /// An `append_output` entry's `extra_fields` item does not compile.
    #[error("append_output extra_fields '{key}': {error}")]
    ExtraField {
        /// The `output_fields` key.
        key: String,
        /// What is wrong.
        #[source]
        error: FormatError,
    },
}

/// A warning from compiling a rule's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWarning {
    /// The rule name.
    pub rule: String,
    /// The warning.
    pub warning: FormatWarning,
}

/// Where a JSON `output_fields` value comes from.
#[derive(Debug, Clone)]
enum KeySrc {
    /// A field's typed value.
    Field(FieldRef),
    /// `evt.time` / `evt.time.iso8601`: the event time as integer ns.
    EventTime,
    /// An `extra_fields` format: the rendered string.
    Format(Arc<OutputFormat>),
}

/// What is fixed about one rule's alerts.
#[derive(Debug)]
struct RuleOutput {
    name: Arc<str>,
    priority: Priority,
    source: Arc<str>,
    format: OutputFormat,
    /// `output_fields` keys, sorted, each already a JSON string literal.
    keys: Vec<(Box<str>, KeySrc)>,
    /// `"priority":…,"rule":…,"source":…,` plus `"tags":[…],` when enabled.
    json_tail: Box<str>,
    /// Offset of `"rule":` inside `json_tail`.
    rule_offset_in_tail: usize,
}

/// The settings of the alert shapes, taken from [`OutputsConfig`].
#[derive(Debug, Clone)]
struct Shape {
    json: bool,
    include_output: bool,
    include_message: bool,
    include_fields: bool,
    include_tags: bool,
    iso8601: bool,
}

/// Every rule's compiled output and the alert shape settings; immutable,
/// share it behind an `Arc`.
#[derive(Debug)]
pub struct CompiledOutputs {
    rules: Vec<RuleOutput>,
    shape: Shape,
    /// `"hostname":"…",`
    hostname_json: Box<str>,
    hostname: Box<str>,
    evt_time: FieldRef,
}

/// The host name alerts carry: `FALCO_HOSTNAME` if set, else the system
/// host name (RULES.md §9.5).
pub fn hostname() -> String {
    if let Some(h) = std::env::var_os("FALCO_HOSTNAME") {
        return h.to_string_lossy().into_owned();
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return String::new();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn entry_applies(e: &AppendOutput, rule: &Rule) -> bool {
    let m = &e.matcher;
    m.source.as_ref().is_none_or(|s| *s == rule.source)
        && m.rule.as_ref().is_none_or(|r| *r == rule.name)
        && m.tags.iter().all(|t| rule.tags.contains(t))
}

/// The final format of a rule: its output followed, for each matching
/// `append_output` entry, by `" " + extra` (RULES.md §9.3).
pub fn assembled_format(rule: &Rule, append: &[AppendOutput]) -> String {
    let mut s = rule.output.trim().to_string();
    for e in append.iter().filter(|e| entry_applies(e, rule)) {
        if let Some(extra) = e.extra_output.as_deref() {
            let extra = extra.trim();
            if !extra.is_empty() {
                s.push(' ');
                s.push_str(extra);
            }
        }
        if e.suggested_output {
            for (key, field) in SUGGESTED {
                write!(s, " {key}=%{field}").expect("write to String");
            }
        }
    }
    s
}

fn json_lit(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    json::push_str(&mut o, s);
    o
}

fn time_key_src(f: &FieldRef) -> Option<KeySrc> {
    (f.arg == FieldArg::None && matches!(f.def().name, "evt.time" | "evt.time.iso8601"))
        .then_some(KeySrc::EventTime)
}

impl CompiledOutputs {
    /// Compiles the outputs of `rules` (indexed by position: the [`RuleId`]
    /// of `rules[i]` is `i`) under `config`. Returns the warnings of every
    /// format (the loader reports the rule-output ones already; these
    /// include the `append_output` contributions).
    pub fn compile(
        rules: &[Rule],
        config: &OutputsConfig,
    ) -> Result<(CompiledOutputs, Vec<RuleWarning>), CompileError> {
        let shape = Shape {
            json: config.json_output,
            include_output: config.json_include_output_property,
            include_message: config.json_include_message_property,
            include_fields: config.json_include_output_fields_property,
            include_tags: config.json_include_tags_property,
            iso8601: config.time_format_iso_8601,
        };
        let time_key = if shape.iso8601 {
            "evt.time.iso8601"
        } else {
            "evt.time"
        };
        // extra_fields are compiled once per entry and shared by the rules
        // they apply to.
        let mut extra: Vec<Vec<(String, KeySrc)>> = Vec::with_capacity(config.append_output.len());
        for e in &config.append_output {
            let mut v = Vec::new();
            for x in &e.extra_fields {
                match x {
                    ExtraField::Field(name) => {
                        let f = format::resolve_display_field(name).map_err(|error| {
                            CompileError::ExtraField {
                                key: name.clone(),
                                error,
                            }
                        })?;
                        let src = time_key_src(&f).unwrap_or(KeySrc::Field(f));
                        v.push((name.trim().to_string(), src));
                    }
                    ExtraField::Format { key, format } => {
                        let (f, _) = OutputFormat::compile(format).map_err(|error| {
                            CompileError::ExtraField {
                                key: key.clone(),
                                error,
                            }
                        })?;
                        v.push((key.clone(), KeySrc::Format(Arc::new(f))));
                    }
                }
            }
            extra.push(v);
        }

        let mut warnings = Vec::new();
        let mut out = Vec::with_capacity(rules.len());
        for rule in rules {
            let text = assembled_format(rule, &config.append_output);
            let (format, ws) =
                OutputFormat::compile(&text).map_err(|error| CompileError::RuleOutput {
                    rule: rule.name.clone(),
                    format: text.clone(),
                    error,
                })?;
            warnings.extend(ws.into_iter().map(|warning| RuleWarning {
                rule: rule.name.clone(),
                warning,
            }));
            let mut keys: std::collections::BTreeMap<String, KeySrc> = format
                .keys()
                .iter()
                .map(|k| {
                    let src =
                        time_key_src(&k.field).unwrap_or_else(|| KeySrc::Field(k.field.clone()));
                    (k.key.to_string(), src)
                })
                .collect();
            keys.insert(time_key.to_string(), KeySrc::EventTime);
            for (e, xs) in config.append_output.iter().zip(&extra) {
                if entry_applies(e, rule) {
                    for (k, src) in xs {
                        keys.insert(k.clone(), src.clone());
                    }
                }
            }
            let keys = keys
                .into_iter()
                .map(|(k, src)| (json_lit(&k).into_boxed_str(), src))
                .collect();

            let mut tail = String::new();
            write!(tail, "\"priority\":{},", json_lit(rule.priority.name()))
                .expect("write to String");
            let rule_offset_in_tail = tail.len();
            write!(
                tail,
                "\"rule\":{},\"source\":{},",
                json_lit(&rule.name),
                json_lit(&rule.source)
            )
            .expect("write to String");
            if shape.include_tags {
                // Rule::tags is a BTreeSet: sorted and deduplicated.
                tail.push_str("\"tags\":[");
                for (i, t) in rule.tags.iter().enumerate() {
                    if i > 0 {
                        tail.push(',');
                    }
                    json::push_str(&mut tail, t);
                }
                tail.push_str("],");
            }
            out.push(RuleOutput {
                name: rule.name.as_str().into(),
                priority: rule.priority,
                source: rule.source.as_str().into(),
                format,
                keys,
                json_tail: tail.into(),
                rule_offset_in_tail,
            });
        }
        let host = hostname();
        Ok((
            CompiledOutputs {
                rules: out,
                shape,
                hostname_json: format!("\"hostname\":{},", json_lit(&host)).into(),
                hostname: host.into(),
                evt_time: fields::resolve("evt.time", None).expect("evt.time is in the catalogue"),
            },
            warnings,
        ))
    }

    /// Number of rules compiled.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule was compiled.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The host name put in JSON alerts.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The assembled, compiled format of a rule.
    pub fn format(&self, rule: RuleId) -> Option<&OutputFormat> {
        self.rules.get(rule).map(|r| &r.format)
    }

    /// Whether alerts carry a JSON rendering (`json_output`).
    pub fn json_output(&self) -> bool {
        self.shape.json
    }

    /// Renders the alert of `rule` for event `ev`. `kernel_ts_ns` is the
    /// event's kernel timestamp, carried for latency metrics. `None` if
    /// `rule` is out of range.
    pub fn render<E: Extract + ?Sized>(
        &self,
        rule: RuleId,
        ev: &E,
        kernel_ts_ns: u64,
    ) -> Option<Alert> {
        let r = self.rules.get(rule)?;
        let time_ns = match ev.extract(&self.evt_time) {
            Some(Value::U64(t)) => t,
            Some(Value::I64(t)) if t >= 0 => t as u64,
            _ => time::now_epoch_ns(),
        };
        let message = r.format.render_to_string(ev);
        let text = self.text_line(time_ns, r.priority, &message);
        let (json, rule_offset) = if self.shape.json {
            let mut j = String::with_capacity(text.len() * 2 + 256);
            self.json_head(&mut j, time_ns, r.priority, &message, &text);
            if self.shape.include_fields {
                j.push_str("\"output_fields\":{");
                for (i, (k, src)) in r.keys.iter().enumerate() {
                    if i > 0 {
                        j.push(',');
                    }
                    j.push_str(k);
                    j.push(':');
                    match src {
                        KeySrc::EventTime => write!(j, "{time_ns}").expect("write to String"),
                        KeySrc::Field(f) => push_json_value(&mut j, ev.extract(f).as_ref()),
                        KeySrc::Format(f) => {
                            let s = f.render_to_string(ev);
                            json::push_str(&mut j, &s);
                        }
                    }
                }
                j.push_str("},");
            }
            let rule_offset = j.len() + r.rule_offset_in_tail;
            j.push_str(&r.json_tail);
            push_json_time_key(&mut j, time_ns);
            (Some(j), rule_offset)
        } else {
            (None, 0)
        };
        Some(Alert {
            rule: r.name.clone(),
            priority: r.priority,
            source: r.source.clone(),
            time_ns,
            kernel_ts_ns,
            message,
            text,
            json,
            json_rule_offset: rule_offset,
            repeat_count: 0,
        })
    }

    /// An engine-generated alert (RULES.md §9.6): rule
    /// `kestrel internal: <name>`, source `internal`, no tags, text
    /// `<time>: <Priority> <msg> (k=v k=v …)`, the fields as
    /// `output_fields`. Timestamped now.
    pub fn internal(
        &self,
        name: &str,
        priority: Priority,
        msg: &str,
        fields: &[(&str, serde_json::Value)],
    ) -> Alert {
        let time_ns = time::now_epoch_ns();
        let mut message = msg.to_string();
        if !fields.is_empty() {
            message.push_str(" (");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    message.push(' ');
                }
                message.push_str(k);
                message.push('=');
                match v {
                    serde_json::Value::String(s) => message.push_str(s),
                    other => write!(message, "{other}").expect("write to String"),
                }
            }
            message.push(')');
        }
        let text = self.text_line(time_ns, priority, &message);
        let rule_name = format!("{INTERNAL_RULE_PREFIX}{name}");
        let json = if self.shape.json {
            let mut j = String::with_capacity(text.len() * 2 + 128);
            self.json_head(&mut j, time_ns, priority, &message, &text);
            if self.shape.include_fields {
                let sorted: std::collections::BTreeMap<&str, &serde_json::Value> =
                    fields.iter().map(|(k, v)| (*k, v)).collect();
                j.push_str("\"output_fields\":{");
                for (i, (k, v)) in sorted.iter().enumerate() {
                    if i > 0 {
                        j.push(',');
                    }
                    json::push_str(&mut j, k);
                    j.push(':');
                    match v {
                        serde_json::Value::String(s) => json::push_str(&mut j, s),
                        other => write!(j, "{other}").expect("write to String"),
                    }
                }
                j.push_str("},");
            }
            Some(j)
        } else {
            None
        };
        internal_alert(&rule_name, priority, time_ns, message, text, json)
    }

    /// An internal event in Falco's own shape (its `handle_msg`): rule
    /// `rule` as given (`Falco internal: ...`), source `internal`, text
    /// `<time>: <Priority> <msg> (k=v ...)` with the values as JSON, JSON
    /// `{"hostname","output":<msg>,"output_fields","priority","rule",
    /// "source","time"}`; fields in key order, as Falco's JSON library
    /// keeps them.
    pub fn internal_falco(
        &self,
        rule: &str,
        priority: Priority,
        msg: &str,
        fields: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Alert {
        let time_ns = time::now_epoch_ns();
        let mut message = msg.to_string();
        message.push_str(" (");
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                message.push(' ');
            }
            write!(message, "{k}={v}").expect("write to String");
        }
        message.push(')');
        let text = self.text_line(time_ns, priority, &message);
        let json = if self.shape.json {
            let mut j = String::with_capacity(text.len() * 2 + 128);
            j.push('{');
            j.push_str(&self.hostname_json);
            j.push_str("\"output\":");
            json::push_str(&mut j, msg);
            j.push_str(",\"output_fields\":");
            j.push_str(&serde_json::to_string(fields).expect("JSON values serialize"));
            j.push(',');
            Some(j)
        } else {
            None
        };
        internal_alert(rule, priority, time_ns, message, text, json)
    }

    /// `<time>: <Priority> <message>`, the line text sinks write: control
    /// characters of the message (C0 and DEL, a newline included) are
    /// written `\xNN`, so a crafted value can neither forge a second alert
    /// line nor send terminal escapes (as Falco 0.44 does for plain text).
    fn text_line(&self, time_ns: u64, p: Priority, message: &str) -> String {
        self.line(time_ns, p, message, true)
    }

    fn line(&self, time_ns: u64, p: Priority, message: &str, escape: bool) -> String {
        let mut s = String::with_capacity(message.len() + 48);
        if self.shape.iso8601 {
            time::push_iso8601(&mut s, time_ns);
        } else {
            time::push_local_hms(&mut s, time_ns);
        }
        s.push_str(": ");
        s.push_str(p.name());
        s.push(' ');
        if escape {
            push_escaping_controls(&mut s, message);
        } else {
            s.push_str(message);
        }
        s
    }

    /// `{"hostname":…,` plus the optional `message` and `output` keys. JSON
    /// escapes control characters itself, so `output` holds the line with
    /// the message's own characters (as Falco's JSON does), not `text`'s
    /// `\xNN` forms.
    fn json_head(&self, j: &mut String, time_ns: u64, p: Priority, message: &str, text: &str) {
        j.push('{');
        j.push_str(&self.hostname_json);
        if self.shape.include_message {
            j.push_str("\"message\":");
            json::push_str(j, message);
            j.push(',');
        }
        if self.shape.include_output {
            j.push_str("\"output\":");
            if message.bytes().any(is_control) {
                json::push_str(j, &self.line(time_ns, p, message, false));
            } else {
                json::push_str(j, text);
            }
            j.push(',');
        }
    }
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Appends `s` with C0 control characters and DEL written `\xNN`.
fn push_escaping_controls(out: &mut String, s: &str) {
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if is_control(b) {
            out.push_str(&s[run..i]);
            write!(out, "\\x{b:02x}").expect("write to String");
            run = i + 1;
        }
    }
    out.push_str(&s[run..]);
}

fn push_json_time_key(j: &mut String, time_ns: u64) {
    j.push_str("\"time\":\"");
    time::push_json_time(j, time_ns);
    j.push_str("\"}");
}

/// A typed `output_fields` value (RULES.md §9.5): numbers, booleans,
/// strings, `null` when missing.
/// An internal event's alert: `json`, when given, is its JSON up to the
/// `priority` key (ending with a comma); the `priority`, `rule`, `source`
/// and `time` keys every internal event ends with are appended here.
fn internal_alert(
    rule: &str,
    priority: Priority,
    time_ns: u64,
    message: String,
    text: String,
    json: Option<String>,
) -> Alert {
    let mut rule_offset = 0;
    let json = json.map(|mut j| {
        write!(j, "\"priority\":{},", json_lit(priority.name())).expect("write to String");
        rule_offset = j.len();
        write!(j, "\"rule\":{},\"source\":\"internal\",", json_lit(rule)).expect("write to String");
        push_json_time_key(&mut j, time_ns);
        j
    });
    Alert {
        rule: rule.into(),
        priority,
        source: "internal".into(),
        time_ns,
        kernel_ts_ns: 0,
        message,
        text,
        json,
        json_rule_offset: rule_offset,
        repeat_count: 0,
    }
}

fn push_json_value(j: &mut String, v: Option<&Value<'_>>) {
    match v {
        None => j.push_str("null"),
        Some(Value::Bool(b)) => j.push_str(if *b { "true" } else { "false" }),
        Some(Value::I64(n)) => write!(j, "{n}").expect("write to String"),
        Some(Value::U64(n)) => write!(j, "{n}").expect("write to String"),
        Some(Value::Str(s)) => json::push_bytes(j, s),
        Some(v @ (Value::Bytes(_) | Value::Ip(_))) => {
            let mut s = String::new();
            format::push_value(&mut s, v, Style::Plain);
            json::push_str(j, &s);
        }
    }
}

/// One rendered alert, owned and cheap to move across threads.
///
/// Repeat collapsing (`outputs_queue.repeat_window_ms`): when identical
/// alerts (same rule, same message) are held back, the summary delivered
/// when the window closes is the last held-back alert with
/// [`Alert::repeat_count`] set to how many were held back; its text line
/// ends with ` (repeated N times)` and its JSON object has an extra
/// integer key `repeat_count` (in key order, between `priority` and
/// `rule`). Every other key is unchanged, so Falco JSON consumers keep
/// working.
#[derive(Debug, Clone)]
pub struct Alert {
    rule: Arc<str>,
    priority: Priority,
    source: Arc<str>,
    time_ns: u64,
    kernel_ts_ns: u64,
    message: String,
    text: String,
    json: Option<String>,
    json_rule_offset: usize,
    repeat_count: u64,
}

impl Alert {
    /// The rule name.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The rule name, shared.
    pub fn rule_arc(&self) -> &Arc<str> {
        &self.rule
    }

    /// The priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The rule's source (`syscall`, or `internal`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Event time, epoch nanoseconds.
    pub fn time_ns(&self) -> u64 {
        self.time_ns
    }

    /// The event's kernel timestamp (0 for internal alerts), for latency
    /// metrics.
    pub fn kernel_ts_ns(&self) -> u64 {
        self.kernel_ts_ns
    }

    /// The rendered message, without time and priority.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The text line `<time>: <Priority> <message>`, plus
    /// ` (repeated N times)` on a repeat summary.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The JSON alert, when `json_output` is on.
    pub fn json(&self) -> Option<&str> {
        self.json.as_deref()
    }

    /// What sinks write: the JSON alert in JSON mode, else the text line.
    pub fn line(&self) -> &str {
        self.json.as_deref().unwrap_or(&self.text)
    }

    /// For a repeat summary, how many identical alerts it stands for;
    /// 0 for ordinary alerts.
    pub fn repeat_count(&self) -> u64 {
        self.repeat_count
    }

    /// The repeat summary of this alert for `n` held-back copies.
    pub(crate) fn repeat_summary(&self, n: u64) -> Alert {
        let mut a = self.clone();
        a.repeat_count = n;
        write!(a.text, " (repeated {n} times)").expect("write to String");
        if let Some(j) = &mut a.json {
            j.insert_str(self.json_rule_offset, &format!("\"repeat_count\":{n},"));
        }
        a
    }
}
