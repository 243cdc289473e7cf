//! A parser for the Prometheus text exposition format (version 0.0.4).
//!
//! Tolerant by design: a line it cannot read is skipped and reported with
//! its number, so one malformed sample never hides the rest of a scrape.
//! Handles comments, blank lines, CRLF, label values with escapes (`\\`,
//! `\"`, `\n`) and any other character (commas, braces, spaces), trailing
//! commas in label sets, `NaN`/`+Inf`/`-Inf`, and optional timestamps.

use std::collections::BTreeMap;

/// One sample: a metric name, its labels and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, in document order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `k`.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// Whether every `(k, v)` of `filter` is a label of this sample.
    pub fn matches(&self, filter: &[(&str, &str)]) -> bool {
        filter.iter().all(|(k, v)| self.label(k) == Some(*v))
    }

    /// A key identifying the series (name + sorted labels).
    fn series_key(&self) -> (String, Vec<(String, String)>) {
        let mut l = self.labels.clone();
        l.sort();
        (self.name.clone(), l)
    }
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIssue {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub msg: String,
}

impl std::fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// A parsed scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    samples: Vec<Sample>,
}

impl Metrics {
    /// Every sample, in document order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Samples named `name` that carry all labels of `filter`.
    pub fn select<'a>(
        &'a self,
        name: &'a str,
        filter: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name && s.matches(filter))
    }

    /// Whether any sample is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// The first sample named `name` matching `filter`.
    pub fn get(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        self.select(name, filter).next().map(|s| s.value)
    }

    /// Sum over the samples named `name` matching `filter`.
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.select(name, filter).map(|s| s.value).sum()
    }

    /// The increase of a counter family from `before` to `self`: the sum of
    /// per-series increases. A series whose value went down was reset (the
    /// daemon restarted); its increase counts from zero, and the second
    /// value tells that a reset was seen.
    pub fn increase_since(
        &self,
        before: &Metrics,
        name: &str,
        filter: &[(&str, &str)],
    ) -> (f64, bool) {
        let old: BTreeMap<_, f64> = before
            .select(name, filter)
            .map(|s| (s.series_key(), s.value))
            .collect();
        let mut total = 0.0;
        let mut reset = false;
        for s in self.select(name, filter) {
            let prev = old.get(&s.series_key()).copied().unwrap_or(0.0);
            if s.value >= prev {
                total += s.value - prev;
            } else {
                reset = true;
                total += s.value;
            }
        }
        (total, reset)
    }
}

/// Parses a document. Never fails: unreadable lines are returned as issues.
pub fn parse(text: &str) -> (Metrics, Vec<ParseIssue>) {
    let mut m = Metrics::default();
    let mut issues = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(s) => m.samples.push(s),
            Err(msg) => issues.push(ParseIssue { line: i + 1, msg }),
        }
    }
    (m, issues)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Splits a leading name off `s`.
fn take_name(s: &str) -> Option<(&str, &str)> {
    let mut it = s.char_indices();
    match it.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return None,
    }
    let end = s
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(s.len(), |(i, _)| i);
    Some((&s[..end], &s[end..]))
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let (name, mut rest) = take_name(line).ok_or_else(|| "expected a metric name".to_string())?;
    let mut labels = Vec::new();
    if let Some(r) = rest.trim_start().strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (lname, r) = take_name(rest)
                .ok_or_else(|| format!("expected a label name at {:?}", clip(rest)))?;
            let r = r.trim_start();
            let r = r
                .strip_prefix('=')
                .ok_or_else(|| format!("expected '=' after label {lname}"))?;
            let r = r.trim_start();
            let r = r
                .strip_prefix('"')
                .ok_or_else(|| format!("expected '\"' to open the value of label {lname}"))?;
            let (value, r) =
                take_quoted(r).ok_or_else(|| format!("unterminated value of label {lname}"))?;
            labels.push((lname.to_string(), value));
            let r = r.trim_start();
            if let Some(r) = r.strip_prefix(',') {
                rest = r;
            } else if r.starts_with('}') {
                rest = r;
            } else {
                return Err(format!(
                    "expected ',' or '}}' after label {lname}, found {:?}",
                    clip(r)
                ));
            }
        }
    } else if !rest.starts_with(char::is_whitespace) {
        return Err(format!("unexpected {:?} after the name {name}", clip(rest)));
    }
    let mut fields = rest.split_whitespace();
    let v = fields
        .next()
        .ok_or_else(|| format!("sample {name} has no value"))?;
    let value = parse_value(v).ok_or_else(|| format!("bad value {v:?} for {name}"))?;
    if let Some(ts) = fields.next() {
        if ts.parse::<i64>().is_err() {
            return Err(format!("bad timestamp {ts:?} for {name}"));
        }
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the value of {name}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads an escaped label value up to its closing quote.
fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                // Unknown escapes are kept verbatim, as Prometheus does.
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => {
            // Rust accepts "inf"/"infinity" spellings the format does not;
            // only plain numbers reach here.
            if v.chars()
                .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
            {
                return None;
            }
            v.parse().ok()
        }
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(24) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_daemon_shape() {
        let doc = "\
# HELP kestrel_tracked_events_total Events.
# TYPE kestrel_tracked_events_total counter
kestrel_tracked_events_total{tgid=\"42\",rel=\"self\",type=\"openat\"} 1000
kestrel_tracked_events_total{tgid=\"42\",rel=\"child\",type=\"execve\"} 3
kestrel_event_latency_seconds{quantile=\"0.99\"} 0.000012
kestrel_event_latency_seconds_count 7
kestrel_process_resident_memory_bytes 4.5e+07
";
        let (m, issues) = parse(doc);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(m.samples().len(), 5);
        assert_eq!(
            m.get(
                "kestrel_tracked_events_total",
                &[("tgid", "42"), ("type", "openat")]
            ),
            Some(1000.0)
        );
        assert_eq!(
            m.sum("kestrel_tracked_events_total", &[("tgid", "42")]),
            1003.0
        );
        assert_eq!(
            m.get("kestrel_event_latency_seconds", &[("quantile", "0.99")]),
            Some(0.000012)
        );
        assert_eq!(
            m.get("kestrel_process_resident_memory_bytes", &[]),
            Some(45e6)
        );
        assert!(!m.has("kestrel_nope"));
    }

    #[test]
    fn tolerates_odd_but_valid_syntax() {
        let doc = "a_total{x=\"a,b}c\",y=\"q\\\"uote\\\\ \\n\",} 1 1700000000000\r\n\
                   \n   \t\n\
                   b:c { z = \"1\" } +Inf\n\
                   d NaN\n\
                   e{} -Inf\n\
                   f 1.5e-3\n\
                   g{u=\"\\t\"} 2\n";
        let (m, issues) = parse(doc);
        assert!(issues.is_empty(), "{issues:?}");
        let a = &m.samples()[0];
        assert_eq!(a.label("x"), Some("a,b}c"));
        assert_eq!(a.label("y"), Some("q\"uote\\ \n"));
        assert_eq!(a.value, 1.0);
        assert_eq!(m.get("b:c", &[("z", "1")]), Some(f64::INFINITY));
        assert!(m.get("d", &[]).unwrap().is_nan());
        assert_eq!(m.get("e", &[]), Some(f64::NEG_INFINITY));
        assert_eq!(m.get("f", &[]), Some(0.0015));
        assert_eq!(m.samples()[5].label("u"), Some("\\t"));
    }

    #[test]
    fn reports_bad_lines_and_keeps_the_rest() {
        let doc = "ok 1\n\
                   {x=\"1\"} 2\n\
                   bad{x=1} 3\n\
                   bad{x=\"1\" 4\n\
                   bad{x=\"1\"} four\n\
                   novalue\n\
                   bad 1 notatimestamp\n\
                   bad 1 2 3\n\
                   bad{x=\"unterminated} 5\n\
                   bad inf\n\
                   ok2{a=\"b\"} 6\n";
        let (m, issues) = parse(doc);
        assert_eq!(m.samples().len(), 2);
        assert_eq!(m.get("ok2", &[("a", "b")]), Some(6.0));
        let lines: Vec<usize> = issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn counter_increase_handles_new_series_and_resets() {
        let (before, _) = parse("c{cpu=\"0\"} 10\nc{cpu=\"1\"} 5\n");
        let (after, _) = parse("c{cpu=\"1\"} 7\nc{cpu=\"0\"} 15\nc{cpu=\"2\"} 4\n");
        assert_eq!(after.increase_since(&before, "c", &[]), (11.0, false));
        let (reset, _) = parse("c{cpu=\"0\"} 3\nc{cpu=\"1\"} 6\n");
        assert_eq!(reset.increase_since(&before, "c", &[]), (4.0, true));
        assert_eq!(
            after.increase_since(&before, "c", &[("cpu", "1")]),
            (2.0, false)
        );
    }
}
