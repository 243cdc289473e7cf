//! Golden match suite: runs every case of `tests/golden/match/*.yaml`
//! (format in that folder's README.md) with prefilters on and off, and
//! checks single-rule expectations against the reference interpreter too.

use std::path::{Path, PathBuf};

use kestrel_engine::event::EventType;
use kestrel_engine::fields::Value;
use kestrel_engine::matcher::testkit::{parse_field, value_from_text, MapEvent};
use kestrel_engine::matcher::{interp, MatchOptions, RuleMatching, RuleSet, Selection};
use kestrel_engine::rules::{Loader, Priority, Rule};
use yaml_rust2::{Yaml, YamlLoader};

/// Errors are plain text with their context prepended.
type Result<T> = std::result::Result<T, String>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

trait Context<T> {
    fn context(self, c: impl std::fmt::Display) -> Result<T>;
    fn with_context<S: std::fmt::Display>(self, c: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, c: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| format!("{c}: {e}"))
    }
    fn with_context<S: std::fmt::Display>(self, c: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| format!("{}: {e}", c()))
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/match")
}

fn scalar_text(y: &Yaml) -> Result<String> {
    Ok(match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => bail!("expected a scalar, found {other:?}"),
    })
}

fn hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("odd-length hex {s:?}");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("hex {s:?}: {e}")))
        .collect()
}

fn event_of(y: &Yaml) -> Result<(String, MapEvent)> {
    let map = y.as_hash().ok_or("event must be a mapping")?;
    let ty = scalar_text(&y["evt.type"]).map_err(|e| format!("event needs evt.type: {e}"))?;
    let mut e = MapEvent::new(&ty);
    for (k, v) in map {
        let name = scalar_text(k)?;
        if name == "evt.type" {
            continue;
        }
        let f = parse_field(&name).map_err(|e| format!("{name}: {e}"))?;
        match v {
            Yaml::Array(items) => {
                let vals = items
                    .iter()
                    .map(|i| value_from_text(&f, &scalar_text(i)?))
                    .collect::<Result<Vec<_>>>()?;
                e.set_each(f, vals);
            }
            Yaml::Hash(_) => {
                let h = scalar_text(&v["hex"])
                    .map_err(|e| format!("a mapping value must be {{hex: ...}}: {e}"))?;
                e.set(f, Value::Bytes(hex(&h)?.into()));
            }
            other => {
                let t = scalar_text(other)?;
                e.set(f.clone(), value_from_text(&f, &t)?);
            }
        }
    }
    Ok((ty, e))
}

fn options_of(y: &Yaml) -> Result<MatchOptions> {
    let mut o = MatchOptions::default();
    if y.is_badvalue() || y.is_null() {
        return Ok(o);
    }
    match y["rule_matching"].as_str() {
        None => {}
        Some("first") => o.rule_matching = RuleMatching::First,
        Some("all") => o.rule_matching = RuleMatching::All,
        Some(x) => bail!("bad rule_matching {x}"),
    }
    if let Some(p) = y["priority"].as_str() {
        o.min_priority = Priority::parse(p).ok_or(format!("bad priority {p}"))?;
    }
    if let Some(sel) = y["selection"].as_vec() {
        for s in sel {
            let (enable, body) = if !s["enable"].is_badvalue() {
                (true, &s["enable"])
            } else {
                (false, &s["disable"])
            };
            let entry = match (body["rule"].as_str(), body["tag"].as_str(), enable) {
                (Some(r), _, true) => Selection::EnableRule(r.into()),
                (Some(r), _, false) => Selection::DisableRule(r.into()),
                (None, Some(t), true) => Selection::EnableTag(t.into()),
                (None, Some(t), false) => Selection::DisableTag(t.into()),
                _ => bail!("bad selection entry {s:?}"),
            };
            o.selection.push(entry);
        }
    }
    Ok(o)
}

fn rules_of(case: &Yaml) -> Result<Vec<Rule>> {
    let text = match (case["rules"].as_str(), case["condition"].as_str()) {
        (Some(r), _) => r.to_string(),
        (None, Some(c)) => format!(
            "- rule: r\n  desc: golden\n  condition: {}\n  output: o\n  priority: WARNING\n",
            yaml_quote(c)
        ),
        _ => bail!("a case needs `rules` or `condition`"),
    };
    let mut loader = Loader::new();
    let res = loader.load_str("golden.yaml", &text);
    if !res.successful() {
        bail!("rules do not load: {:?}\n{text}", res.errors);
    }
    Ok(loader.rules().to_vec())
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn run_case(file: &str, case: &Yaml) -> Result<usize> {
    let name = case["case"].as_str().unwrap_or("?").to_string();
    let ctx = || format!("{file}: case {name:?}");
    let rules = rules_of(case).with_context(ctx)?;
    let opts = options_of(&case["options"]).with_context(ctx)?;
    let events = case["events"]
        .as_vec()
        .ok_or("no events")
        .with_context(ctx)?;
    let mut checked = 0;
    for prefilters in [true, false] {
        let o = MatchOptions {
            prefilters,
            ..opts.clone()
        };
        let rs = RuleSet::build(&rules, &o).with_context(ctx)?;
        for (i, ev) in events.iter().enumerate() {
            let (ty, e) = event_of(&ev["event"]).with_context(ctx)?;
            let want: Vec<String> = if let Some(b) = ev["match"].as_bool() {
                if rules.len() != 1 {
                    bail!("{}: `match` needs exactly one rule", ctx());
                }
                // The interpreter must agree with the expectation too.
                assert_eq!(
                    interp::eval(&rules[0].condition, &e),
                    b,
                    "{}: event #{i}: interpreter disagrees",
                    ctx()
                );
                if b {
                    vec![rules[0].name.clone()]
                } else {
                    Vec::new()
                }
            } else if let Some(v) = ev["matches"].as_vec() {
                v.iter().map(scalar_text).collect::<Result<_>>()?
            } else {
                bail!("{}: event #{i} needs `match` or `matches`", ctx());
            };
            let tid = EventType::from_name(&ty).unwrap_or_default();
            let mut out = Vec::new();
            rs.matches(tid, &ty, &e, &mut out);
            let got: Vec<String> = out.iter().map(|r| r.name.clone()).collect();
            assert_eq!(got, want, "{}: event #{i} (prefilters {prefilters})", ctx());
            checked += 1;
        }
    }
    Ok(checked)
}

#[test]
fn golden_match_cases() -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .context("golden dir")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no golden files in {}",
        golden_dir().display()
    );
    let mut total = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        let docs = YamlLoader::load_from_str(&text).with_context(|| f.display().to_string())?;
        let cases = docs
            .first()
            .and_then(Yaml::as_vec)
            .ok_or(format!("{}: expected a list of cases", f.display()))?;
        let fname = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for c in cases {
            total += run_case(&fname, c)?;
        }
    }
    assert!(total > 100, "only {total} golden checks ran");
    Ok(())
}
