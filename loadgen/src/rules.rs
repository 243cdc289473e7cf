//! Which of kestrel's default rules a trigger run made fire
//! (`--expect-default-rules`).
//!
//! The default rules are the file the daemon embeds
//! (rules/kestrel_rules.yaml, embedded here too so the two cannot drift).
//! A rule *fired* when `kestrel_alerts_total{rule=...}` rose between the
//! baseline and the final scrape. The counter is daemon-wide: another
//! process tripping the same rule during the run counts too, so "fired"
//! is a lower bound on certainty; "not fired" is definite.
//!
//! A rule is *expected* when an action that targets it completed; denied,
//! failed and skipped actions make no promise (a refused `open` of
//! `/etc/shadow` cannot match a rule that needs the open to succeed).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::prom::Metrics;
use crate::trigger::ActionReport;

/// The daemon's default rules file.
pub const DEFAULT_RULES_YAML: &str = include_str!("../../rules/kestrel_rules.yaml");

/// The alert counter family.
pub const ALERTS: &str = "kestrel_alerts_total";

/// The rule names a rules file declares: its top-level `- rule:` items, in
/// file order (quotes removed).
pub fn rule_names(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.strip_prefix("- rule:"))
        .map(|n| {
            let n = n.trim();
            let unquoted = n
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| n.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')));
            unquoted.unwrap_or(n).to_string()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// kestrel's default rule names.
pub fn default_rules() -> Vec<String> {
    rule_names(DEFAULT_RULES_YAML)
}

/// The rules a rules file defines but leaves off: a top-level `- rule:`
/// item with an `enabled: false` line of its own.
pub fn disabled_rule_names(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in yaml.lines() {
        if line.starts_with("- ") {
            current = rule_names(line).into_iter().next();
        } else if line.trim_end() == "  enabled: false" {
            if let Some(n) = current.take() {
                out.push(n);
            }
        }
    }
    out
}

/// kestrel's default rules that are on (the ones a trigger run can expect
/// to fire): [`default_rules`] without the audit rules the file leaves
/// off.
pub fn enabled_default_rules() -> Vec<String> {
    let off = disabled_rule_names(DEFAULT_RULES_YAML);
    default_rules()
        .into_iter()
        .filter(|r| !off.contains(r))
        .collect()
}

/// The increase of `kestrel_alerts_total` per rule from `before` to
/// `after` (a series that went backwards counts from zero).
pub fn alert_increases(before: &Metrics, after: &Metrics) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let names: Vec<String> = after
        .select(ALERTS, &[])
        .filter_map(|s| s.label("rule").map(str::to_string))
        .collect();
    for rule in names {
        let (inc, _) = after.increase_since(before, ALERTS, &[("rule", rule.as_str())]);
        out.insert(rule, inc.max(0.0) as u64);
    }
    out
}

/// A rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    /// Its alert count rose.
    Fired,
    /// An action targeting it completed, yet no alert came.
    NotFired,
    /// No action targeting it completed (skipped, denied or failed), and
    /// no alert came.
    NotRun,
}

impl RuleStatus {
    /// For the human summary.
    pub fn text(self) -> &'static str {
        match self {
            RuleStatus::Fired => "fired",
            RuleStatus::NotFired => "NOT FIRED",
            RuleStatus::NotRun => "not run",
        }
    }
}

/// One default rule's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleRow {
    /// Rule name.
    pub rule: String,
    /// Actions that target it.
    pub actions: Vec<&'static str>,
    /// Whether one of them completed.
    pub expected: bool,
    /// Alerts raised for it during the run (all processes).
    pub alerts: u64,
    /// Verdict.
    pub status: RuleStatus,
    /// Why it was not run, or which completed actions should have fired
    /// it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn action_state(a: &ActionReport) -> String {
    if let Some(why) = &a.skipped {
        return format!("{}: skipped ({why})", a.action);
    }
    let err = a
        .count
        .last_error
        .as_deref()
        .map_or_else(String::new, |e| format!(": {e}"));
    if a.count.denied > 0 {
        format!("{}: denied{err}", a.action)
    } else if a.count.failed > 0 {
        format!("{}: failed{err}", a.action)
    } else {
        format!("{}: did not run", a.action)
    }
}

/// The verdict for each of `rules` given what the actions did and the
/// alert increases.
pub fn check(
    rules: &[String],
    actions: &[ActionReport],
    alerts: &BTreeMap<String, u64>,
) -> Vec<RuleRow> {
    rules
        .iter()
        .map(|rule| {
            let targeting: Vec<&ActionReport> = actions
                .iter()
                .filter(|a| a.rules.contains(&rule.as_str()))
                .collect();
            let completed: Vec<&'static str> = targeting
                .iter()
                .filter(|a| a.count.done > 0)
                .map(|a| a.action)
                .collect();
            let expected = !completed.is_empty();
            let n = alerts.get(rule).copied().unwrap_or(0);
            let status = if n > 0 {
                RuleStatus::Fired
            } else if expected {
                RuleStatus::NotFired
            } else {
                RuleStatus::NotRun
            };
            let note = match status {
                RuleStatus::Fired => None,
                RuleStatus::NotFired => Some(format!("completed: {}", completed.join(", "))),
                RuleStatus::NotRun if targeting.is_empty() => {
                    Some("no trigger action targets it".into())
                }
                RuleStatus::NotRun => Some(
                    targeting
                        .iter()
                        .map(|a| action_state(a))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            };
            RuleRow {
                rule: rule.clone(),
                actions: targeting.iter().map(|a| a.action).collect(),
                expected,
                alerts: n,
                status,
                note,
            }
        })
        .collect()
}

/// Whether every expected rule fired.
pub fn all_expected_fired(rows: &[RuleRow]) -> bool {
    rows.iter().all(|r| r.status != RuleStatus::NotFired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::ActionCount;

    #[test]
    fn rule_lines_are_read() {
        let y = "- list: x\n  items: [a]\n- rule: One Rule\n  desc: d\n- rule: \"Two\"\n  # - rule: commented\n- rule: 'Three'\n- rule:\n";
        assert_eq!(rule_names(y), ["One Rule", "Two", "Three"]);
    }

    #[test]
    fn default_rules_are_embedded() {
        let r = default_rules();
        assert_eq!(r.len(), 36, "{r:?}");
        assert_eq!(r[0], "Privilege Escalation Tool in Privileged Container");
        assert!(r.contains(&"Process Spawned in Container".to_string()));
        let on = enabled_default_rules();
        assert_eq!(on.len(), 34, "{on:?}");
        assert!(!on.contains(&"Process Spawned in Container".to_string()));
        assert!(!on.contains(&"Exec Session in Container".to_string()));
    }

    #[test]
    fn disabled_rules_are_read() {
        let y = "- rule: A\n  enabled: false\n- rule: B\n  condition: x\n- rule: C\n  priority: INFO\n  enabled: false\n- list: l\n  enabled: false\n";
        assert_eq!(disabled_rule_names(y), ["A", "C"]);
    }

    #[test]
    fn increases_per_rule() {
        let (before, _) = crate::prom::parse(
            "kestrel_alerts_total{rule=\"A\",priority=\"Warning\"} 2\nkestrel_alerts_total{rule=\"B, \\\"x\\\"\",priority=\"Notice\"} 5\n",
        );
        let (after, _) = crate::prom::parse(
            "kestrel_alerts_total{rule=\"A\",priority=\"Warning\"} 2\nkestrel_alerts_total{rule=\"B, \\\"x\\\"\",priority=\"Notice\"} 7\nkestrel_alerts_total{rule=\"C\",priority=\"Notice\"} 1\n",
        );
        let inc = alert_increases(&before, &after);
        assert_eq!(inc.get("A"), Some(&0));
        assert_eq!(inc.get("B, \"x\""), Some(&2));
        assert_eq!(inc.get("C"), Some(&1));
    }

    fn act(action: &'static str, rules: &'static [&'static str], done: u64) -> ActionReport {
        ActionReport {
            action,
            rules,
            skipped: None,
            count: ActionCount {
                done,
                denied: u64::from(done == 0),
                failed: 0,
                last_error: (done == 0).then(|| "openat: Permission denied".into()),
            },
        }
    }

    #[test]
    fn verdicts() {
        let rules: Vec<String> = ["A", "B", "C", "D"].map(String::from).to_vec();
        let mut skipped = act("s", &["D"], 0);
        skipped.skipped = Some("needs root".into());
        let actions = vec![
            act("a", &["Upstream A", "A"], 1),
            act("b", &["B"], 1),
            act("c", &["C"], 0),
            skipped,
        ];
        let alerts: BTreeMap<String, u64> = [("A".to_string(), 3)].into();
        let rows = check(&rules, &actions, &alerts);
        let st: Vec<RuleStatus> = rows.iter().map(|r| r.status).collect();
        assert_eq!(
            st,
            [
                RuleStatus::Fired,
                RuleStatus::NotFired,
                RuleStatus::NotRun,
                RuleStatus::NotRun
            ]
        );
        assert_eq!(rows[0].alerts, 3);
        assert_eq!(rows[1].note.as_deref(), Some("completed: b"));
        assert_eq!(
            rows[2].note.as_deref(),
            Some("c: denied: openat: Permission denied")
        );
        assert_eq!(rows[3].note.as_deref(), Some("s: skipped (needs root)"));
        assert!(!all_expected_fired(&rows));
        let rows = check(&rules[..1], &actions, &alerts);
        assert!(all_expected_fired(&rows));
        let untargeted = check(&["Z".to_string()], &actions, &alerts);
        assert_eq!(
            untargeted[0].note.as_deref(),
            Some("no trigger action targets it")
        );
    }
}
