//! Falco's rule language: the YAML loader, the condition parser, list and
//! macro expansion, exceptions, overrides, and compilation to the typed IR
//! ([`ir`]) that the matcher consumes. RULES.md is the specification.

pub mod ast;
pub mod compile;
pub mod diag;
pub mod expand;
pub mod ir;
pub mod loader;
pub mod output_check;
pub mod parser;
pub mod report;
pub mod yaml;

pub use diag::{Code, Diagnostic, ErrorCode, Location, Position, WarningCode};
pub use loader::{
    expand_rule_paths, load_paths, Counts, FileResult, ListSummary, LoadFailure, LoadedRules,
    Loader, MacroSummary, PluginRequirement, RuleDetails, Version, CONTAINER_PROVIDER_VERSION,
    ENGINE_VERSION,
};
pub use parser::{parse_condition, ParseError};

use std::collections::BTreeSet;

/// Rule priorities (RULES.md §6.1); lower is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// 0
    Emergency,
    /// 1
    Alert,
    /// 2
    Critical,
    /// 3
    Error,
    /// 4
    Warning,
    /// 5
    Notice,
    /// 6
    Informational,
    /// 7
    Debug,
}

impl Priority {
    /// All priorities, most severe first.
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Canonical name as printed in alerts (`Informational`, never `Info`).
    pub fn name(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Parses the accepted spellings, case-insensitively (`info` included).
    pub fn parse(s: &str) -> Option<Priority> {
        let l = s.trim().to_ascii_lowercase();
        Some(match l.as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return None,
        })
    }

    /// Syslog severity (LOG_EMERG = 0 ... LOG_DEBUG = 7).
    pub fn syslog_level(self) -> u8 {
        self as u8
    }
}

/// A rule ready for matching: what the loader hands to the matcher and
/// the output formatter.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule name (unique).
    pub name: String,
    /// Description.
    pub desc: String,
    /// Priority.
    pub priority: Priority,
    /// Tags, sorted and deduplicated.
    pub tags: BTreeSet<String>,
    /// Event source (`syscall`).
    pub source: String,
    /// Enabled after loading (before configuration selection).
    pub enabled: bool,
    /// The rule's output format, trimmed, before `append_output`.
    pub output: String,
    /// The condition as written (after appends), for listings.
    pub condition_text: String,
    /// The condition after exceptions, list expansion and macro substitution.
    pub expanded_condition: String,
    /// The compiled condition.
    pub condition: ir::Expr,
    /// Event types the rule can match (RULES.md §6.6); `None` means every
    /// event type.
    pub evttypes: Option<BTreeSet<String>>,
    /// Position in definition order across all loaded files.
    pub index: usize,
}
