//! Load diagnostics: Falco's error and warning codes with their short texts
//! (upstream falco_load_result.cpp), the context chain (file → item → key →
//! position in the condition) and the text / JSON renderings of `-V`
//! (RULES.md §1.7, §10.2).
//!
//! Positions follow yaml-cpp marks, as Falco prints them: 0-based line,
//! 0-based column, byte offset.

use serde_json::{json, Value as Json};

/// Error codes; the first error of a file ends its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The file cannot be read.
    FileRead,
    /// Not valid YAML.
    YamlParse,
    /// Wrong YAML structure.
    YamlValidate,
    /// A condition does not parse or compile.
    CompileCondition,
    /// An output format does not compile.
    CompileOutput,
    /// Semantic problems (undefined macro, versions, missing append target...).
    Validate,
}

impl ErrorCode {
    /// Falco's code string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FileRead => "LOAD_ERR_FILE_READ",
            ErrorCode::YamlParse => "LOAD_ERR_YAML_PARSE",
            ErrorCode::YamlValidate => "LOAD_ERR_YAML_VALIDATE",
            ErrorCode::CompileCondition => "LOAD_ERR_COMPILE_CONDITION",
            ErrorCode::CompileOutput => "LOAD_ERR_COMPILE_OUTPUT",
            ErrorCode::Validate => "LOAD_ERR_VALIDATE",
        }
    }

    /// Falco's short text.
    pub fn short_text(self) -> &'static str {
        match self {
            ErrorCode::FileRead => "File read error",
            ErrorCode::YamlParse => "YAML parse error",
            ErrorCode::YamlValidate => "Error validating internal structure of YAML file",
            ErrorCode::CompileCondition => "Error compiling condition",
            ErrorCode::CompileOutput => "Error compiling output",
            ErrorCode::Validate => "Error validating rule/macro/list/exception objects",
        }
    }
}

/// Warning codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningCode {
    /// Rule with an unknown `source`; the rule is skipped.
    UnknownSource,
    /// Comparison with `<NA>` on an unsafe field.
    UnsafeNaCheck,
    /// No or too many event types.
    NoEvttype,
    /// Unknown field / event type under `skip-if-unknown-filter`.
    UnknownFilter,
    /// Macro never used.
    UnusedMacro,
    /// List never used.
    UnusedList,
    /// Unknown top-level item.
    UnknownItem,
    /// Deprecated construct.
    DeprecatedItem,
    /// Extension item warning.
    WarningExtension,
    /// Appended exception without values.
    AppendNoValues,
    /// Two exceptions with one name.
    ExceptionNameNotUnique,
    /// Macro name not an identifier.
    InvalidMacroName,
    /// List name with forbidden characters.
    InvalidListName,
    /// Warning from the condition compiler.
    CompileCondition,
    /// Unknown key in an item.
    UnknownKey,
}

impl WarningCode {
    /// Falco's code string.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "LOAD_UNKNOWN_SOURCE",
            WarningCode::UnsafeNaCheck => "LOAD_UNSAFE_NA_CHECK",
            WarningCode::NoEvttype => "LOAD_NO_EVTTYPE",
            WarningCode::UnknownFilter => "LOAD_UNKNOWN_FILTER",
            WarningCode::UnusedMacro => "LOAD_UNUSED_MACRO",
            WarningCode::UnusedList => "LOAD_UNUSED_LIST",
            WarningCode::UnknownItem => "LOAD_UNKNOWN_ITEM",
            WarningCode::DeprecatedItem => "LOAD_DEPRECATED_ITEM",
            WarningCode::WarningExtension => "LOAD_WARNING_EXTENSION",
            WarningCode::AppendNoValues => "LOAD_APPEND_NO_VALUES",
            WarningCode::ExceptionNameNotUnique => "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
            WarningCode::InvalidMacroName => "LOAD_INVALID_MACRO_NAME",
            WarningCode::InvalidListName => "LOAD_INVALID_LIST_NAME",
            WarningCode::CompileCondition => "LOAD_COMPILE_CONDITION",
            WarningCode::UnknownKey => "LOAD_UNKNOWN_KEY",
        }
    }

    /// Falco's short text.
    pub fn short_text(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "Unknown event source",
            WarningCode::UnsafeNaCheck => "Unsafe <NA> comparison in condition",
            WarningCode::NoEvttype => "Condition has no event-type restriction",
            WarningCode::UnknownFilter => "Unknown field or event-type in condition or output",
            WarningCode::UnusedMacro => "Unused macro",
            WarningCode::UnusedList => "Unused list",
            WarningCode::UnknownItem => "Unknown rules file item",
            WarningCode::DeprecatedItem => "Used deprecated item",
            WarningCode::WarningExtension => "Warning in extension item",
            WarningCode::AppendNoValues => "Overriding/appending with no values",
            WarningCode::ExceptionNameNotUnique => "Multiple exceptions defined with the same name",
            WarningCode::InvalidMacroName => "Invalid macro name",
            WarningCode::InvalidListName => "Invalid list name",
            WarningCode::CompileCondition => "Warning in rule condition",
            WarningCode::UnknownKey => "Unknown key in item definition",
        }
    }

    /// Falco's long description (JSON `codedesc`).
    pub fn description(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "A rule has a unknown event source. This can occur when reading rules content without having a corresponding plugin loaded, etc. The rule will be silently ignored.",
            WarningCode::UnsafeNaCheck => "Comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule condition. If you need to check for the existence of a field, consider using the 'exists' operator instead.",
            WarningCode::NoEvttype => "A rule condition matches too many evt.type values. This has a significant performance penalty. Make the condition more specific by adding an evt.type field or further restricting the number of evt.type values in the condition.",
            WarningCode::UnknownFilter => "A rule condition or output refers to a field or evt.type that does not exist. This is normally an error, but if a rule has a skip-if-unknown-filter property, the error is downgraded to a warning.",
            WarningCode::UnusedMacro => "A macro is defined in the rules content but is not used by any other macro or rule.",
            WarningCode::UnusedList => "A list is defined in the rules content but is not used by any other list, macro, or rule.",
            WarningCode::UnknownItem => "An unknown top-level object is in the rules content. It will be ignored.",
            WarningCode::DeprecatedItem => "A deprecated item is employed by lists, macros, or rules.",
            WarningCode::WarningExtension => "An extension item has a warning",
            WarningCode::AppendNoValues => "A rule exception is overriding/appending with no values",
            WarningCode::ExceptionNameNotUnique => "A rule is defining multiple exceptions with the same name",
            WarningCode::InvalidMacroName => "A macro is defined with an invalid name",
            WarningCode::InvalidListName => "A list is defined with an invalid name",
            WarningCode::CompileCondition => "A rule condition or output have been parsed with a warning",
            WarningCode::UnknownKey => "An item in the rules content contains an unrecognized key. The key will be ignored. This may indicate a typo or a property placed on the wrong item type.",
        }
    }
}

/// An error or a warning code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// An error.
    Error(ErrorCode),
    /// A warning.
    Warning(WarningCode),
}

impl Code {
    /// The code string (`LOAD_ERR_...` / `LOAD_...`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Error(e) => e.as_str(),
            Code::Warning(w) => w.as_str(),
        }
    }

    /// The short text shown in parentheses after the code.
    pub fn short_text(self) -> &'static str {
        match self {
            Code::Error(e) => e.short_text(),
            Code::Warning(w) => w.short_text(),
        }
    }

    /// JSON `codedesc` (upstream prints the short text for errors).
    pub fn description(self) -> &'static str {
        match self {
            Code::Error(e) => e.short_text(),
            Code::Warning(w) => w.description(),
        }
    }
}

/// A position: byte offset, 0-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Byte offset in the named content.
    pub offset: usize,
    /// 0-based line.
    pub line: usize,
    /// 0-based column.
    pub column: usize,
}

impl From<super::yaml::Mark> for Position {
    fn from(m: super::yaml::Mark) -> Self {
        Position {
            offset: m.offset,
            line: m.line,
            column: m.col,
        }
    }
}

/// One element of a context chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `rules content`, `rule`, `rule condition`, `condition expression`...
    pub item_type: &'static str,
    /// The item's name, empty if none.
    pub item_name: String,
    /// File name, or the quoted condition prefix for condition expressions.
    pub name: String,
    /// Where.
    pub pos: Position,
}

/// An error or warning with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Code.
    pub code: Code,
    /// Message.
    pub message: String,
    /// Context chain, outermost first (never empty).
    pub locations: Vec<Location>,
    /// Source line around the position with a caret line (each ending in
    /// a newline), or a `<No context ...>` note.
    pub snippet: String,
}

impl Diagnostic {
    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        matches!(self.code, Code::Error(_))
    }

    /// The verbose text block of `-V` (context chain, snippet, code line).
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for (i, loc) in self.locations.iter().enumerate() {
            s.push_str(if i == 0 { "In " } else { "    " });
            s.push_str(loc.item_type);
            if !loc.item_name.is_empty() {
                s.push_str(" '");
                s.push_str(&loc.item_name);
                s.push('\'');
            }
            s.push_str(&format!(
                ": ({}:{}:{})\n",
                loc.name, loc.pos.line, loc.pos.column
            ));
        }
        s.push_str("------\n");
        s.push_str(&self.snippet);
        s.push_str("------\n");
        s.push_str(&format!(
            "{} ({}): {}\n",
            self.code.as_str(),
            self.code.short_text(),
            self.message
        ));
        s
    }

    /// The JSON object of `-V` JSON mode.
    pub fn to_json(&self) -> Json {
        let locations: Vec<Json> = self
            .locations
            .iter()
            .map(|l| {
                json!({
                    "item_name": l.item_name,
                    "item_type": l.item_type,
                    "position": {
                        "column": l.pos.column,
                        "line": l.pos.line,
                        "name": l.name,
                        "offset": l.pos.offset,
                    }
                })
            })
            .collect();
        json!({
            "code": self.code.as_str(),
            "codedesc": self.code.description(),
            "context": {"locations": locations, "snippet": self.snippet},
            "message": self.message,
        })
    }
}

/// Snippet width (upstream default).
const SNIPPET_WIDTH: usize = 160;

/// The line of `content` around byte `pos` (at most 160 characters, cut
/// with `...`) followed by a caret line, as upstream renders it.
pub fn snippet(content: &str, pos: usize) -> String {
    let b = content.as_bytes();
    if b.is_empty() {
        return "<No context available>\n".into();
    }
    let mut pos = pos;
    while pos > 0 && (pos >= b.len() || b[pos] == b'\n') {
        pos -= 1;
    }
    let half = SNIPPET_WIDTH / 2;
    let mut from = pos;
    while from > 0 && b[from] != b'\n' && (pos - from) < half {
        from -= 1;
    }
    let mut to = pos;
    while to < b.len() - 1 && b[to] != b'\n' && (to - pos) < half {
        to += 1;
    }
    if b[from] == b'\n' {
        from += 1;
    }
    if to < b.len() && b[to] == b'\n' && to > 0 {
        to -= 1;
    }
    if to < from {
        return "<No context available>\n".into();
    }
    let mut line: Vec<u8> = b[from..=to].to_vec();
    if line.is_empty() {
        return "<No context available>\n".into();
    }
    if pos - from >= half && line.len() >= 3 {
        line[..3].copy_from_slice(b"...");
    }
    if to - pos >= half && line.len() >= 3 {
        let n = line.len();
        line[n - 3..].copy_from_slice(b"...");
    }
    let mut s = String::from_utf8_lossy(&line).into_owned();
    s.push('\n');
    // The caret goes under the character: count characters, not bytes.
    let caret_col = String::from_utf8_lossy(&b[from..pos.max(from)])
        .chars()
        .count();
    s.push_str(&" ".repeat(caret_col));
    s.push_str("^\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_marks_the_position() {
        let c = "- rule: a\n  condition: proc.nme = x\n";
        let pos = c.find("proc.nme").unwrap();
        assert_eq!(
            snippet(c, pos),
            "  condition: proc.nme = x\n             ^\n"
        );
        let long = format!("{}X{}", "a".repeat(100), "b".repeat(100));
        let s = snippet(&long, 100);
        let first = s.lines().next().unwrap();
        assert!(first.starts_with("...") && first.ends_with("..."));
        assert_eq!(s.lines().nth(1).unwrap().find('^'), Some(80));
        assert_eq!(snippet("", 0), "<No context available>\n");
    }

    #[test]
    fn render_text_layout() {
        let d = Diagnostic {
            code: Code::Error(ErrorCode::CompileCondition),
            message: "boom".into(),
            locations: vec![
                Location {
                    item_type: "rules content",
                    item_name: String::new(),
                    name: "f.yaml".into(),
                    pos: Position::default(),
                },
                Location {
                    item_type: "rule",
                    item_name: "R".into(),
                    name: "f.yaml".into(),
                    pos: Position {
                        offset: 2,
                        line: 0,
                        column: 2,
                    },
                },
            ],
            snippet: "x\n^\n".into(),
        };
        assert_eq!(
            d.render_text(),
            "In rules content: (f.yaml:0:0)\n    rule 'R': (f.yaml:0:2)\n------\nx\n^\n------\nLOAD_ERR_COMPILE_CONDITION (Error compiling condition): boom\n"
        );
        let j = d.to_json();
        assert_eq!(j["context"]["locations"][1]["position"]["column"], 2);
    }
}
