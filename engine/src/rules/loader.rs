//! The rules loader: reads items from YAML documents (upstream
//! rule_loader_reader), collects definitions across files with their
//! definition index and visibility (rule_loader_collector), and compiles
//! the whole collection after each file (rule_loader_compiler).
//! RULES.md §1, §4, §5, §6.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{self, Expr, Pos};
use super::compile::{self, CompileError, CompileWarning};
use super::diag::{Code, Diagnostic, ErrorCode, Location, Position, WarningCode};
use super::expand::{self, ExValue, ListDef, ListExpander, MappedText};
use super::parser::{self, Parser};
use super::yaml::{self, Kind, Mark, Node};
use super::{Priority, Rule};

/// The engine version kestrel reports (`required_engine_version` checks,
/// `--version`): the Falco engine level whose rule language it implements.
pub const ENGINE_VERSION: Version = Version {
    major: 0,
    minor: 62,
    patch: 0,
};

/// Version of the built-in container metadata provider, reported as the
/// plugin `container` (RULES.md §1.5).
pub const CONTAINER_PROVIDER_VERSION: Version = Version {
    major: 0,
    minor: 4,
    patch: 0,
};

/// Event sources kestrel implements.
pub const KNOWN_SOURCES: &[&str] = &["syscall"];

/// Upper bound on nodes of a condition after macro substitution; protects
/// against exponential macro fan-out.
const MAX_EXPANDED_NODES: usize = 1_000_000;
/// Upper bound on nesting of a condition after macro substitution (the
/// parser already limits each text to 1000 levels of its grammar).
const MAX_EXPANDED_DEPTH: usize = 1000;

/// A semantic version `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// Parses `x.y.z` (trailing text after the patch number is ignored,
    /// as sscanf-based upstream parsing does).
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.splitn(3, '.');
        let num = |p: &str| -> Option<u64> {
            let d: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
            if d.is_empty() || d.len() != p.len() {
                None
            } else {
                d.parse().ok()
            }
        };
        let major = num(it.next()?)?;
        let minor = num(it.next()?)?;
        let rest = it.next()?;
        let d: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if d.is_empty() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch: d.parse().ok()?,
        })
    }

    /// Same major and `self >= required`.
    pub fn compatible_with(&self, required: &Version) -> bool {
        self.major == required.major && self >= required
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Items of each kind read from one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `rule` items.
    pub rules: usize,
    /// `macro` items.
    pub macros: usize,
    /// `list` items.
    pub lists: usize,
}

/// The result of loading one file into a [`Loader`].
#[derive(Debug, Clone)]
pub struct FileResult {
    /// File name as given.
    pub name: String,
    /// Errors (at most one: the first error ends the file's load).
    pub errors: Vec<Diagnostic>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
    /// Items read, by kind.
    pub counts: Counts,
}

impl FileResult {
    /// No errors.
    pub fn successful(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Per-rule facts for listings (`-L` JSON `details`).
#[derive(Debug, Clone, Default)]
pub struct RuleDetails {
    /// Macros substituted into the condition.
    pub macros: BTreeSet<String>,
    /// Lists expanded in the condition.
    pub lists: BTreeSet<String>,
    /// Operators used.
    pub condition_operators: BTreeSet<String>,
    /// Fields used (as written, with arguments).
    pub condition_fields: BTreeSet<String>,
    /// Fields of the output format.
    pub output_fields: BTreeSet<String>,
    /// Fields used by exceptions.
    pub exception_fields: BTreeSet<String>,
    /// Exception names.
    pub exception_names: BTreeSet<String>,
    /// Exception comps.
    pub exception_operators: BTreeSet<String>,
    /// Event types.
    pub events: BTreeSet<String>,
    /// The output after `%container.info` removal.
    pub output_compiled: String,
    /// `capture`.
    pub capture: bool,
    /// `capture_duration` (ms).
    pub capture_duration: u64,
}

/// A compiled list, for listings.
#[derive(Debug, Clone)]
pub struct ListSummary {
    /// Name.
    pub name: String,
    /// Items as written.
    pub items: Vec<String>,
    /// Items after one-level nesting.
    pub compiled_items: Vec<String>,
    /// Referenced lists.
    pub lists: BTreeSet<String>,
    /// Used by a condition or another list.
    pub used: bool,
}

/// A compiled macro, for listings.
#[derive(Debug, Clone)]
pub struct MacroSummary {
    /// Name.
    pub name: String,
    /// Condition as written.
    pub condition: String,
    /// Condition after list expansion and macro substitution, rendered.
    pub condition_compiled: String,
    /// Substituted macros.
    pub macros: BTreeSet<String>,
    /// Expanded lists.
    pub lists: BTreeSet<String>,
    /// Fields used.
    pub condition_fields: BTreeSet<String>,
    /// Operators used.
    pub condition_operators: BTreeSet<String>,
    /// Used by a rule or another macro.
    pub used: bool,
}

/// A plugin requirement entry (one requirement with its alternatives).
#[derive(Debug, Clone)]
pub struct PluginRequirement {
    /// `(name, version)` pairs; the first is the entry itself.
    pub alternatives: Vec<(String, String)>,
    ctx: Ctx,
}

// ---------------------------------------------------------------- context

#[derive(Debug, Clone)]
struct SourceFile {
    name: String,
    content: Arc<str>,
}

#[derive(Debug, Clone)]
struct Ctx {
    locs: Vec<Location>,
    file: u32,
    offset: usize,
}

impl Ctx {
    fn root(file: u32, name: &str) -> Ctx {
        Ctx {
            locs: vec![Location {
                item_type: "rules content",
                item_name: String::new(),
                name: name.to_string(),
                pos: Position::default(),
            }],
            file,
            offset: 0,
        }
    }

    fn child(&self, item_type: &'static str, item_name: &str, mark: Mark) -> Ctx {
        let mut locs = self.locs.clone();
        locs.push(Location {
            item_type,
            item_name: item_name.to_string(),
            name: self.locs[0].name.clone(),
            pos: mark.into(),
        });
        Ctx {
            locs,
            file: self.file,
            offset: mark.offset,
        }
    }
}

/// A piece of a condition text taken from one YAML scalar.
#[derive(Debug, Clone)]
struct Piece {
    start: usize,
    len: usize,
    file: u32,
    mark: Mark,
}

/// A condition (or appended conditions) and where each part came from.
#[derive(Debug, Clone, Default)]
struct CondSource {
    text: String,
    pieces: Vec<Piece>,
}

impl CondSource {
    fn from_scalar(file: u32, text: &str, mark: Mark) -> Self {
        CondSource {
            text: text.to_string(),
            pieces: vec![Piece {
                start: 0,
                len: text.len(),
                file,
                mark,
            }],
        }
    }

    fn append(&mut self, other: &CondSource) {
        self.text.push(' ');
        let base = self.text.len();
        self.text.push_str(&other.text);
        for p in &other.pieces {
            self.pieces.push(Piece {
                start: base + p.start,
                ..p.clone()
            });
        }
    }
}

// --------------------------------------------------------------- collector

#[derive(Debug, Clone)]
struct ListInfo {
    name: String,
    items: Vec<String>,
    index: u64,
    visibility: u64,
    ctx: Ctx,
}

#[derive(Debug, Clone)]
struct MacroInfo {
    name: String,
    cond: CondSource,
    index: u64,
    visibility: u64,
    ctx: Ctx,
    cond_ctx: Ctx,
}

#[derive(Debug, Clone)]
struct ExceptionInfo {
    name: String,
    fields: Option<ExValue>,
    comps: Option<ExValue>,
    values: Vec<ExValue>,
    ctx: Ctx,
}

#[derive(Debug, Clone)]
struct RuleInfo {
    name: String,
    cond: CondSource,
    cond_ctx: Ctx,
    output: String,
    output_ctx: Ctx,
    desc: String,
    priority: Priority,
    source: String,
    enabled: bool,
    tags: BTreeSet<String>,
    exceptions: Vec<ExceptionInfo>,
    capture: bool,
    capture_duration: u64,
    warn_evttypes: bool,
    skip_if_unknown_filter: bool,
    index: u64,
    visibility: u64,
    ctx: Ctx,
    unknown_source: bool,
}

#[derive(Default)]
struct RuleUpdate {
    cond: Option<CondSource>,
    output: Option<String>,
    desc: Option<String>,
    tags: Option<BTreeSet<String>>,
    exceptions: Option<Vec<ExceptionInfo>>,
    priority: Option<Priority>,
    enabled: Option<bool>,
    warn_evttypes: Option<bool>,
    skip_if_unknown_filter: Option<bool>,
    capture: Option<bool>,
    capture_duration: Option<u64>,
}

impl RuleUpdate {
    fn has_any_value(&self) -> bool {
        self.cond.is_some()
            || self.output.is_some()
            || self.desc.is_some()
            || self.tags.is_some()
            || self.exceptions.is_some()
            || self.priority.is_some()
            || self.enabled.is_some()
            || self.warn_evttypes.is_some()
            || self.skip_if_unknown_filter.is_some()
            || self.capture.is_some()
            || self.capture_duration.is_some()
    }
}

struct Indexed<T> {
    items: Vec<T>,
    by_name: HashMap<String, usize>,
}

impl<T> Default for Indexed<T> {
    fn default() -> Self {
        Indexed {
            items: Vec::new(),
            by_name: HashMap::new(),
        }
    }
}

impl<T: Clone> Clone for Indexed<T> {
    fn clone(&self) -> Self {
        Indexed {
            items: self.items.clone(),
            by_name: self.by_name.clone(),
        }
    }
}

impl<T> Indexed<T> {
    fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        let i = *self.by_name.get(name)?;
        self.items.get_mut(i)
    }
    fn get(&self, name: &str) -> Option<&T> {
        let i = *self.by_name.get(name)?;
        self.items.get(i)
    }
}

trait Defined {
    fn set_index(&mut self, index: u64, visibility: u64);
    fn index(&self) -> u64;
}

macro_rules! defined {
    ($t:ty) => {
        impl Defined for $t {
            fn set_index(&mut self, index: u64, visibility: u64) {
                self.index = index;
                self.visibility = visibility;
            }
            fn index(&self) -> u64 {
                self.index
            }
        }
    };
}
defined!(ListInfo);
defined!(MacroInfo);
defined!(RuleInfo);

/// `define_info`: a first definition is appended; a redefinition replaces
/// the content in place, keeping the index, with a new visibility.
fn define_info<T: Defined>(coll: &mut Indexed<T>, name: &str, mut info: T, id: u64) {
    if let Some(&i) = coll.by_name.get(name) {
        let index = coll.items[i].index();
        info.set_index(index, id);
        coll.items[i] = info;
    } else {
        info.set_index(id, id);
        coll.by_name.insert(name.to_string(), coll.items.len());
        coll.items.push(info);
    }
}

// ------------------------------------------------------------------ errors

struct Res {
    warnings: Vec<Diagnostic>,
    counts: Counts,
}

/// A load error raised while reading or compiling (becomes a Diagnostic).
struct LoadErr {
    code: ErrorCode,
    msg: String,
    ctx: Ctx,
}

fn ld(code: ErrorCode, msg: impl Into<String>, ctx: &Ctx) -> LoadErr {
    LoadErr {
        code,
        msg: msg.into(),
        ctx: ctx.clone(),
    }
}

fn yv(msg: impl Into<String>, ctx: &Ctx) -> LoadErr {
    ld(ErrorCode::YamlValidate, msg, ctx)
}

fn val(msg: impl Into<String>, ctx: &Ctx) -> LoadErr {
    ld(ErrorCode::Validate, msg, ctx)
}

type LR<T> = Result<T, LoadErr>;

const WARNING_APPEND: &str = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const WARNING_ENABLED: &str = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
const ERROR_OVERRIDE_APPEND: &str = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const ERROR_NO_PREVIOUS_MACRO: &str =
    "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists";
const ERROR_NO_PREVIOUS_LIST: &str =
    "List uses 'append' or 'override.items: append' but no list by that name already exists";
const ERROR_NO_PREVIOUS_RULE_APPEND: &str =
    "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists";
const ERROR_NO_PREVIOUS_RULE_REPLACE: &str =
    "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists";
const RGX_IDENTIFIER: &str = "([a-zA-Z]+[a-zA-Z0-9_]*)";
const RGX_BARESTR: &str = "([^()\"'[:space:]=,]+)";

fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn is_list_name(s: &str) -> bool {
    !s.is_empty()
        && !s.bytes().any(|c| {
            matches!(
                c,
                b'(' | b')'
                    | b'"'
                    | b'\''
                    | b'='
                    | b','
                    | b' '
                    | b'\t'
                    | b'\n'
                    | b'\x0b'
                    | b'\x0c'
                    | b'\r'
            )
        })
}

/// yaml-cpp's boolean spellings.
fn parse_bool(s: &str) -> Option<bool> {
    const T: [&str; 4] = ["y", "yes", "true", "on"];
    const F: [&str; 4] = ["n", "no", "false", "off"];
    let l = s.to_ascii_lowercase();
    let u = s.to_ascii_uppercase();
    let mut cap = l.clone();
    if let Some(f) = cap.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    if s != l && s != u && s != cap {
        return None;
    }
    if T.contains(&l.as_str()) {
        Some(true)
    } else if F.contains(&l.as_str()) {
        Some(false)
    } else {
        None
    }
}

const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "source",
    "enabled",
    "tags",
    "exceptions",
    "capture",
    "capture_duration",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "override",
    "append",
];
const MACRO_KEYS: &[&str] = &["macro", "condition", "override", "append"];
const LIST_KEYS: &[&str] = &["list", "items", "override", "append"];

// ------------------------------------------------------------------ loader

/// One collection of lists, macros and rules, loaded from any number of
/// files in order (RULES.md §1.6). After each file the whole collection is
/// recompiled; [`Loader::rules`] returns the result of the last successful
/// compile.
#[derive(Default)]
pub struct Loader {
    files: Vec<SourceFile>,
    lists: Indexed<ListInfo>,
    macros: Indexed<MacroInfo>,
    rules_info: Indexed<RuleInfo>,
    counter: u64,
    required_engine_version: Option<Version>,
    plugin_reqs: Vec<PluginRequirement>,
    compiled: Vec<Rule>,
    details: Vec<RuleDetails>,
    list_summaries: Vec<ListSummary>,
    macro_summaries: Vec<MacroSummary>,
}

impl Loader {
    /// An empty collection.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Reads `path` and loads it (see [`Loader::load_str`]); an unreadable
    /// file yields `LOAD_ERR_FILE_READ`.
    pub fn load_file(&mut self, path: &Path) -> FileResult {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                let content = String::from_utf8_lossy(&bytes).into_owned();
                self.load_str(&name, &content)
            }
            Err(e) => {
                let file = self.add_file(&name, "");
                let ctx = Ctx::root(file, &name);
                FileResult {
                    name: name.clone(),
                    errors: vec![self.diag(
                        Code::Error(ErrorCode::FileRead),
                        format!("Could not read file {name}: {e}"),
                        &ctx,
                    )],
                    warnings: Vec::new(),
                    counts: Counts::default(),
                }
            }
        }
    }

    /// Adds the items of `content` (named `name` in diagnostics) to the
    /// collection and recompiles it.
    pub fn load_str(&mut self, name: &str, content: &str) -> FileResult {
        let file = self.add_file(name, content);
        let mut res = Res {
            warnings: Vec::new(),
            counts: Counts::default(),
        };
        let mut errors = Vec::new();
        match self.read(file, name, content, &mut res) {
            Ok(()) => {
                if let Err(e) = self.compile_all(&mut res) {
                    self.compiled.clear();
                    self.details.clear();
                    errors.push(self.diag(Code::Error(e.code), e.msg, &e.ctx));
                }
            }
            Err(e) => errors.push(self.diag(Code::Error(e.code), e.msg, &e.ctx)),
        }
        FileResult {
            name: name.to_string(),
            errors,
            warnings: res.warnings,
            counts: res.counts,
        }
    }

    /// Compiled rules in definition order (including disabled ones).
    pub fn rules(&self) -> &[Rule] {
        &self.compiled
    }

    /// Listing details of `rules()[i]`.
    pub fn rule_details(&self, i: usize) -> Option<&RuleDetails> {
        self.details.get(i)
    }

    /// Compiled lists, in definition order.
    pub fn lists(&self) -> &[ListSummary] {
        &self.list_summaries
    }

    /// Compiled macros, in definition order.
    pub fn macros(&self) -> &[MacroSummary] {
        &self.macro_summaries
    }

    /// The highest `required_engine_version` seen.
    pub fn required_engine_version(&self) -> Option<Version> {
        self.required_engine_version
    }

    /// Every `required_plugin_versions` entry seen.
    pub fn required_plugin_versions(&self) -> &[PluginRequirement] {
        &self.plugin_reqs
    }

    /// Checks plugin requirements against the providers kestrel has (only
    /// `container`, natively); one error per unsatisfied requirement.
    pub fn check_plugin_requirements(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for req in &self.plugin_reqs {
            let ok = req.alternatives.iter().any(|(name, ver)| {
                name == "container"
                    && Version::parse(ver)
                        .is_some_and(|v| CONTAINER_PROVIDER_VERSION.compatible_with(&v))
            });
            if !ok {
                let alts: Vec<String> = req
                    .alternatives
                    .iter()
                    .map(|(n, v)| format!("{n} (>= {v})"))
                    .collect();
                out.push(self.diag(
                    Code::Error(ErrorCode::Validate),
                    format!(
                        "Plugin requirement not satisfied, must load one of: {}",
                        alts.join(", ")
                    ),
                    &req.ctx,
                ));
            }
        }
        out
    }

    fn add_file(&mut self, name: &str, content: &str) -> u32 {
        self.files.push(SourceFile {
            name: name.to_string(),
            content: Arc::from(content),
        });
        (self.files.len() - 1) as u32
    }

    fn diag(&self, code: Code, message: String, ctx: &Ctx) -> Diagnostic {
        let snippet = match self.files.get(ctx.file as usize) {
            Some(f) if !f.content.is_empty() => super::diag::snippet(&f.content, ctx.offset),
            Some(f) => format!("<No context for file + {}>\n", f.name),
            None => "<No context available>\n".into(),
        };
        Diagnostic {
            code,
            message,
            locations: ctx.locs.clone(),
            snippet,
        }
    }

    fn warn(&self, res: &mut Res, code: WarningCode, msg: impl Into<String>, ctx: &Ctx) {
        let d = self.diag(Code::Warning(code), msg.into(), ctx);
        res.warnings.push(d);
    }

    fn next_id(&mut self) -> u64 {
        let id = self.counter;
        self.counter += 1;
        id
    }

    // ------------------------------------------------------------ reading

    fn read(&mut self, file: u32, name: &str, content: &str, res: &mut Res) -> LR<()> {
        let root = Ctx::root(file, name);
        let docs = yaml::parse_documents(content).map_err(|e| LoadErr {
            code: ErrorCode::YamlParse,
            msg: e.message,
            ctx: root.child("value for", "", e.mark),
        })?;
        for doc in &docs {
            if doc.is_null() {
                continue;
            }
            if !doc.is_map() && !doc.is_seq() {
                return Err(yv("Rules content is not yaml", &root));
            }
            let Some(items) = doc.seq() else {
                return Err(yv("Rules content is not yaml array of objects", &root));
            };
            for item in items {
                if item.is_null() {
                    continue;
                }
                self.read_item(item, &root, res)?;
            }
        }
        Ok(())
    }

    fn unknown_keys(&self, item: &Node, allowed: &[&str], ctx: &Ctx, res: &mut Res) {
        for (k, knode) in item.keys() {
            if !allowed.contains(&k) {
                let kctx = ctx.child("value for", k, knode.mark);
                self.warn(
                    res,
                    WarningCode::UnknownKey,
                    format!("Unknown key '{k}'. The key will be ignored."),
                    &kctx,
                );
            }
        }
    }

    fn read_item(&mut self, item: &Node, parent: &Ctx, res: &mut Res) -> LR<()> {
        if !item.is_map() {
            let tmp = parent.child("rules content item", "", item.mark);
            return Err(yv(
                "Unexpected element type. Each element should be a yaml associative array.",
                &tmp,
            ));
        }
        if item.get("required_engine_version").is_some() {
            let ctx = parent.child("required_engine_version", "", item.mark);
            let (ver, _) = req_scalar(item, "required_engine_version", &ctx)?;
            let v = if !ver.is_empty() && ver.bytes().all(|c| c.is_ascii_digit()) {
                match ver.parse::<u32>() {
                    Ok(n) => Version {
                        major: 0,
                        minor: u64::from(n),
                        patch: 0,
                    },
                    Err(_) => return Err(yv(format!("Unable to parse engine version '{ver}' as a semver string. Expected \"x.y.z\" semver format."), &ctx)),
                }
            } else {
                Version::parse(&ver).ok_or_else(|| {
                    yv(format!("Unable to parse engine version '{ver}' as a semver string. Expected \"x.y.z\" semver format."), &ctx)
                })?
            };
            if !ENGINE_VERSION.compatible_with(&v) {
                return Err(val(
                    format!(
                        "Rules require engine version {v}, but engine version is {ENGINE_VERSION}"
                    ),
                    &ctx,
                ));
            }
            if self.required_engine_version.is_none_or(|cur| cur < v) {
                self.required_engine_version = Some(v);
            }
            self.unknown_keys(item, &["required_engine_version"], &ctx, res);
            return Ok(());
        }
        if let Some(reqs) = item.get("required_plugin_versions") {
            let ctx = parent.child("required plugin versions", "", reqs.mark);
            let Some(entries) = reqs.seq() else {
                return Err(yv(
                    "Value of required_plugin_versions must be a sequence",
                    &ctx,
                ));
            };
            for plugin in entries {
                let tmp = ctx.child("required plugin versions entry", "", plugin.mark);
                if !plugin.is_map() {
                    return Err(yv("Plugin version must be a mapping", &tmp));
                }
                let (name, _) = req_scalar(plugin, "name", &tmp)?;
                let pctx = ctx.child("required plugin versions entry", &name, plugin.mark);
                let (version, _) = req_scalar(plugin, "version", &pctx)?;
                let mut alternatives = vec![(name, version)];
                if let Some(alts) = plugin.get("alternatives") {
                    let Some(alts) = alts.seq() else {
                        return Err(yv(
                            "Value of plugin version alternatives must be a sequence",
                            &pctx,
                        ));
                    };
                    for a in alts {
                        let t = pctx.child("required plugin versions alternative", "", a.mark);
                        if !a.is_map() {
                            return Err(yv("Plugin version alternative must be a mapping", &t));
                        }
                        let (an, _) = req_scalar(a, "name", &t)?;
                        let t = pctx.child("required plugin versions alternative", &an, a.mark);
                        let (av, _) = req_scalar(a, "version", &t)?;
                        alternatives.push((an, av));
                    }
                }
                let mut seen = std::collections::HashSet::new();
                for (n, v) in &alternatives {
                    if Version::parse(v).is_none() {
                        return Err(val(
                            format!("Invalid required version '{v}' for plugin '{n}'"),
                            &pctx,
                        ));
                    }
                    if !seen.insert(n.clone()) {
                        return Err(val(
                            format!("Defined multiple alternative version requirements for plugin '{n}'"),
                            &pctx,
                        ));
                    }
                }
                self.plugin_reqs.push(PluginRequirement {
                    alternatives,
                    ctx: pctx,
                });
            }
            return Ok(());
        }
        if item.get("list").is_some() {
            res.counts.lists += 1;
            return self.read_list(item, parent, res);
        }
        if item.get("macro").is_some() {
            res.counts.macros += 1;
            return self.read_macro(item, parent, res);
        }
        if item.get("rule").is_some() {
            res.counts.rules += 1;
            return self.read_rule(item, parent, res);
        }
        let ctx = parent.child("rules content item", "", item.mark);
        self.warn(
            res,
            WarningCode::UnknownItem,
            "Unknown top level item",
            &ctx,
        );
        Ok(())
    }

    fn read_list(&mut self, item: &Node, parent: &Ctx, res: &mut Res) -> LR<()> {
        let tmp = parent.child("list", "", item.mark);
        let (name, _) = req_scalar(item, "list", &tmp)?;
        let ctx = parent.child("list", &name, item.mark);
        self.unknown_keys(item, LIST_KEYS, &ctx, res);
        if !is_list_name(&name) {
            self.warn(
                res,
                WarningCode::InvalidListName,
                format!("List has an invalid name. List names must match a regular expression: {RGX_BARESTR}"),
                &ctx,
            );
        }
        let items = req_seq_of_scalars(item, "items", &ctx)?;
        let append = opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if append {
            self.warn(res, WarningCode::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (oa, orp) = decode_overrides(item, &["items"], &["items"], &ctx)?;
        if append && !(oa.is_empty() && orp.is_empty()) {
            return Err(yv(ERROR_OVERRIDE_APPEND, &ctx));
        }
        let append = append || oa.iter().any(|k| k == "items");
        let id = self.next_id();
        if append {
            let Some(prev) = self.lists.get_mut(&name) else {
                return Err(val(ERROR_NO_PREVIOUS_LIST, &ctx));
            };
            prev.items.extend(items);
            prev.visibility = id;
        } else {
            let info = ListInfo {
                name: name.clone(),
                items,
                index: 0,
                visibility: 0,
                ctx,
            };
            define_info(&mut self.lists, &name, info, id);
        }
        Ok(())
    }

    fn read_macro(&mut self, item: &Node, parent: &Ctx, res: &mut Res) -> LR<()> {
        let tmp = parent.child("macro", "", item.mark);
        let (name, _) = req_scalar(item, "macro", &tmp)?;
        let ctx = parent.child("macro", &name, item.mark);
        self.unknown_keys(item, MACRO_KEYS, &ctx, res);
        if !is_identifier(&name) {
            self.warn(
                res,
                WarningCode::InvalidMacroName,
                format!("Macro has an invalid name. Macro names must match a regular expression: {RGX_IDENTIFIER}"),
                &ctx,
            );
        }
        let (cond, cnode) = req_scalar(item, "condition", &ctx)?;
        let cond_ctx = ctx.child("macro condition", "", cnode.mark);
        let cond = CondSource::from_scalar(ctx.file, &cond, cnode.mark);
        let append = opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if append {
            self.warn(res, WarningCode::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (oa, orp) = decode_overrides(item, &["condition"], &["condition"], &ctx)?;
        if append && !(oa.is_empty() && orp.is_empty()) {
            return Err(yv(ERROR_OVERRIDE_APPEND, &ctx));
        }
        let append = append || oa.iter().any(|k| k == "condition");
        let id = self.next_id();
        if append {
            let Some(prev) = self.macros.get_mut(&name) else {
                return Err(val(ERROR_NO_PREVIOUS_MACRO, &ctx));
            };
            prev.cond.append(&cond);
            prev.visibility = id;
        } else {
            let info = MacroInfo {
                name: name.clone(),
                cond,
                index: 0,
                visibility: 0,
                ctx,
                cond_ctx,
            };
            define_info(&mut self.macros, &name, info, id);
        }
        Ok(())
    }

    fn read_rule(&mut self, item: &Node, parent: &Ctx, res: &mut Res) -> LR<()> {
        let tmp = parent.child("rule", "", item.mark);
        let (name, _) = req_scalar(item, "rule", &tmp)?;
        let ctx = parent.child("rule", &name, item.mark);
        self.unknown_keys(item, RULE_KEYS, &ctx, res);
        let has_append_flag = opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if has_append_flag {
            self.warn(res, WarningCode::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        const APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
        const REPLACEABLE: &[&str] = &[
            "condition",
            "output",
            "desc",
            "priority",
            "tags",
            "exceptions",
            "enabled",
            "warn_evttypes",
            "skip-if-unknown-filter",
            "capture",
            "capture_duration",
        ];
        let (oa, orp) = decode_overrides(item, APPENDABLE, REPLACEABLE, &ctx)?;
        let has_overrides = !oa.is_empty() || !orp.is_empty();
        if has_append_flag && has_overrides {
            return Err(yv(ERROR_OVERRIDE_APPEND, &ctx));
        }
        if has_overrides {
            let mut expected: BTreeSet<&str> = APPENDABLE
                .iter()
                .chain(REPLACEABLE)
                .copied()
                .filter(|k| item.get(k).is_some())
                .collect();
            let mut check = |set: &[String], kind: &str, key: &str| -> LR<bool> {
                if !set.iter().any(|k| k == key) {
                    return Ok(false);
                }
                if !expected.remove(key) {
                    return Err(yv(
                        format!("An {kind} override for '{key}' was specified but '{key}' is not defined"),
                        &ctx,
                    ));
                }
                Ok(true)
            };
            if !oa.is_empty() {
                let mut u = RuleUpdate::default();
                if check(&oa, "append", "condition")? {
                    let (c, n) = req_scalar(item, "condition", &ctx)?;
                    u.cond = Some(CondSource::from_scalar(ctx.file, &c, n.mark));
                }
                if check(&oa, "append", "exceptions")? {
                    u.exceptions = Some(self.read_exceptions(item, &ctx, true, res)?);
                }
                if check(&oa, "append", "output")? {
                    u.output = Some(req_scalar(item, "output", &ctx)?.0);
                }
                if check(&oa, "append", "desc")? {
                    u.desc = Some(req_scalar(item, "desc", &ctx)?.0);
                }
                if check(&oa, "append", "tags")? {
                    u.tags = Some(
                        opt_seq_of_scalars(item, "tags", &ctx)?
                            .unwrap_or_default()
                            .into_iter()
                            .collect(),
                    );
                }
                self.append_rule(&name, u, &ctx)?;
            }
            if !orp.is_empty() {
                let mut u = RuleUpdate::default();
                if check(&orp, "replace", "condition")? {
                    let (c, n) = req_scalar(item, "condition", &ctx)?;
                    u.cond = Some(CondSource::from_scalar(ctx.file, &c, n.mark));
                }
                if check(&orp, "replace", "exceptions")? {
                    u.exceptions = Some(self.read_exceptions(item, &ctx, true, res)?);
                }
                if check(&orp, "replace", "output")? {
                    u.output = Some(req_scalar(item, "output", &ctx)?.0);
                }
                if check(&orp, "replace", "desc")? {
                    u.desc = Some(req_scalar(item, "desc", &ctx)?.0);
                }
                if check(&orp, "replace", "tags")? {
                    u.tags = Some(
                        opt_seq_of_scalars(item, "tags", &ctx)?
                            .unwrap_or_default()
                            .into_iter()
                            .collect(),
                    );
                }
                if check(&orp, "replace", "priority")? {
                    u.priority = Some(read_priority(item, &ctx)?);
                }
                if check(&orp, "replace", "enabled")? {
                    u.enabled = opt_bool(item, "enabled", &ctx)?;
                }
                if check(&orp, "replace", "warn_evttypes")? {
                    u.warn_evttypes = opt_bool(item, "warn_evttypes", &ctx)?;
                }
                if check(&orp, "replace", "skip-if-unknown-filter")? {
                    u.skip_if_unknown_filter = opt_bool(item, "skip-if-unknown-filter", &ctx)?;
                }
                if check(&orp, "replace", "capture")? {
                    u.capture = opt_bool(item, "capture", &ctx)?;
                }
                if check(&orp, "replace", "capture_duration")? {
                    u.capture_duration = opt_u64(item, "capture_duration", &ctx)?;
                }
                self.replace_rule(&name, u, &ctx)?;
            }
            if let Some(key) = expected.iter().next() {
                let knode = item.get(key).map_or(item.mark, |n| n.mark);
                let kctx = ctx.child("overrides", key, knode);
                return Err(yv(
                    format!("Unexpected key '{key}': no corresponding entry under 'override' is defined."),
                    &kctx,
                ));
            }
            return Ok(());
        }
        if has_append_flag {
            let mut u = RuleUpdate::default();
            if let Some(cn) = item.get("condition") {
                let (c, _) = req_scalar(item, "condition", &ctx)?;
                u.cond = Some(CondSource::from_scalar(ctx.file, &c, cn.mark));
            }
            if item.get("exceptions").is_some() {
                u.exceptions = Some(self.read_exceptions(item, &ctx, true, res)?);
            }
            if u.cond.is_none() && u.exceptions.is_none() {
                // Upstream checks the target first, then the content.
                if self.rules_info.get(&name).is_none() {
                    return Err(val(ERROR_NO_PREVIOUS_RULE_APPEND, &ctx));
                }
                return Err(val(
                    "Appended rule must have exceptions or condition property",
                    &ctx,
                ));
            }
            return self.append_rule(&name, u, &ctx);
        }
        let defines_any = ["condition", "output", "desc", "priority"]
            .iter()
            .any(|k| item.get(k).is_some());
        if !defines_any {
            let enabled = match item.get("enabled") {
                None => return Err(yv("Item has no mapping for key 'enabled'", &ctx)),
                Some(_) => opt_bool(item, "enabled", &ctx)?.unwrap_or(true),
            };
            self.warn(res, WarningCode::DeprecatedItem, WARNING_ENABLED, &ctx);
            let Some(prev) = self.rules_info.get_mut(&name) else {
                return Err(val(
                    "Rule has 'enabled' key but no rule by that name already exists",
                    &ctx,
                ));
            };
            prev.enabled = enabled;
            return Ok(());
        }
        let (cond, cnode) = req_scalar(item, "condition", &ctx)?;
        let cond_ctx = ctx.child("rule condition", "", cnode.mark);
        let (output, onode) = req_scalar(item, "output", &ctx)?;
        let output_ctx = ctx.child("rule output", "", onode.mark);
        let (desc, _) = req_scalar(item, "desc", &ctx)?;
        let priority = read_priority(item, &ctx)?;
        let source = opt_scalar(item, "source", &ctx)?.unwrap_or_else(|| "syscall".into());
        let enabled = opt_bool(item, "enabled", &ctx)?.unwrap_or(true);
        let warn_evttypes = opt_bool(item, "warn_evttypes", &ctx)?.unwrap_or(true);
        let skip = opt_bool(item, "skip-if-unknown-filter", &ctx)?.unwrap_or(false);
        let capture = opt_bool(item, "capture", &ctx)?.unwrap_or(false);
        let capture_duration = opt_u64(item, "capture_duration", &ctx)?.unwrap_or(0);
        let tags: BTreeSet<String> = opt_seq_of_scalars(item, "tags", &ctx)?
            .unwrap_or_default()
            .into_iter()
            .collect();
        let exceptions = self.read_exceptions(item, &ctx, false, res)?;
        let mut info = RuleInfo {
            name: name.clone(),
            cond: CondSource::from_scalar(ctx.file, &cond, cnode.mark),
            cond_ctx,
            output: output.trim().to_string(),
            output_ctx,
            desc,
            priority,
            source,
            enabled,
            tags,
            exceptions,
            capture,
            capture_duration,
            warn_evttypes,
            skip_if_unknown_filter: skip,
            index: 0,
            visibility: 0,
            ctx: ctx.clone(),
            unknown_source: false,
        };
        if let Some(prev) = self.rules_info.get(&name) {
            if prev.source != info.source {
                return Err(val(
                    "Rule has been re-defined with a different source",
                    &ctx,
                ));
            }
        }
        if !KNOWN_SOURCES.contains(&info.source.as_str()) {
            info.unknown_source = true;
            self.warn(
                res,
                WarningCode::UnknownSource,
                format!("Unknown source {}, skipping", info.source),
                &ctx,
            );
        }
        for ex in &mut info.exceptions {
            if ex.fields.is_none() {
                return Err(val(
                    "Rule exception item must have fields property with a list of fields",
                    &ex.ctx,
                ));
            }
            validate_exception(ex, !info.unknown_source)?;
        }
        let id = self.next_id();
        define_info(&mut self.rules_info, &name, info, id);
        Ok(())
    }

    fn read_exceptions(
        &mut self,
        item: &Node,
        parent: &Ctx,
        append: bool,
        res: &mut Res,
    ) -> LR<Vec<ExceptionInfo>> {
        let mut out: Vec<ExceptionInfo> = Vec::new();
        let Some(exs) = item.get("exceptions") else {
            return Ok(out);
        };
        if exs.is_null() {
            return Ok(out);
        }
        let exes_ctx = parent.child("exceptions", "", exs.mark);
        let Some(list) = exs.seq() else {
            return Err(yv("Rule exceptions must be a sequence", &exes_ctx));
        };
        for ex in list {
            let tmp = exes_ctx.child("exception", "", ex.mark);
            if !ex.is_map() {
                return Err(yv("Rule exception must be a mapping", &tmp));
            }
            let (name, _) = req_scalar(ex, "name", &tmp)?;
            let ex_ctx = parent.child("exception", &name, ex.mark);
            if out.iter().any(|e| e.name == name) {
                self.warn(
                    res,
                    WarningCode::ExceptionNameNotUnique,
                    format!("Multiple definitions of exception '{name}' in the same rule"),
                    &ex_ctx,
                );
            }
            let fields = decode_ex_entry(ex, "fields", &ex_ctx, append)?;
            let comps = decode_ex_entry(ex, "comps", &ex_ctx, true)?;
            let mut values = Vec::new();
            match ex.get("values") {
                Some(v) => {
                    let vctx = ex_ctx.child("exception values", "", v.mark);
                    let Some(vs) = v.seq() else {
                        return Err(yv("Rule exception values must be a sequence", &vctx));
                    };
                    for x in vs {
                        let c = vctx.child("exception value", "", x.mark);
                        values.push(decode_ex_value(x, &c)?);
                    }
                }
                None if append => {
                    self.warn(
                        res,
                        WarningCode::AppendNoValues,
                        "Overriding/appending exception with no values",
                        &ex_ctx,
                    );
                }
                None => {}
            }
            out.push(ExceptionInfo {
                name,
                fields,
                comps,
                values,
                ctx: ex_ctx,
            });
        }
        Ok(out)
    }

    fn append_rule(&mut self, name: &str, u: RuleUpdate, ctx: &Ctx) -> LR<()> {
        let id = self.next_id();
        let Some(prev) = self.rules_info.get_mut(name) else {
            return Err(val(ERROR_NO_PREVIOUS_RULE_APPEND, ctx));
        };
        if !u.has_any_value() {
            return Err(val(
                "Appended rule must have exceptions or condition property",
                ctx,
            ));
        }
        let check_fields = !prev.unknown_source;
        if let Some(c) = u.cond.filter(|c| !c.text.is_empty()) {
            prev.cond.append(&c);
        }
        if let Some(o) = u.output.filter(|o| !o.is_empty()) {
            prev.output.push(' ');
            prev.output.push_str(&o);
        }
        if let Some(d) = u.desc.filter(|d| !d.is_empty()) {
            prev.desc.push(' ');
            prev.desc.push_str(&d);
        }
        if let Some(t) = u.tags {
            prev.tags.extend(t);
        }
        if let Some(exs) = u.exceptions {
            for mut ex in exs {
                if let Some(pe) = prev.exceptions.iter_mut().find(|e| e.name == ex.name) {
                    if ex.fields.is_some() {
                        return Err(val(
                            "Can not append exception fields to existing exception, only values",
                            &ex.ctx,
                        ));
                    }
                    if ex.comps.is_some() {
                        return Err(val(
                            "Can not append exception comps to existing exception, only values",
                            &ex.ctx,
                        ));
                    }
                    pe.values.extend(ex.values);
                } else {
                    if ex.fields.is_none() {
                        return Err(val(
                            "Rule exception must have fields property with a list of fields",
                            &ex.ctx,
                        ));
                    }
                    if ex.values.is_empty() {
                        return Err(val(
                            "Rule exception must have values property with a list of values",
                            &ex.ctx,
                        ));
                    }
                    validate_exception(&mut ex, check_fields)?;
                    prev.exceptions.push(ex);
                }
            }
        }
        prev.visibility = id;
        Ok(())
    }

    fn replace_rule(&mut self, name: &str, u: RuleUpdate, ctx: &Ctx) -> LR<()> {
        let id = self.next_id();
        let Some(prev) = self.rules_info.get_mut(name) else {
            return Err(val(ERROR_NO_PREVIOUS_RULE_REPLACE, ctx));
        };
        if !u.has_any_value() {
            return Err(val(
                "The rule must have at least one field that can be replaced",
                ctx,
            ));
        }
        let check_fields = !prev.unknown_source;
        if let Some(c) = u.cond {
            prev.cond = c;
        }
        if let Some(o) = u.output {
            prev.output = o.trim().to_string();
        }
        if let Some(d) = u.desc {
            prev.desc = d;
        }
        if let Some(t) = u.tags {
            prev.tags = t;
        }
        if let Some(mut exs) = u.exceptions {
            for ex in &mut exs {
                if ex.fields.is_none() {
                    return Err(val(
                        "Rule exception item must have fields property with a list of fields",
                        &ex.ctx,
                    ));
                }
                validate_exception(ex, check_fields)?;
            }
            prev.exceptions = exs;
        }
        if let Some(p) = u.priority {
            prev.priority = p;
        }
        if let Some(e) = u.enabled {
            prev.enabled = e;
        }
        if let Some(w) = u.warn_evttypes {
            prev.warn_evttypes = w;
        }
        if let Some(s) = u.skip_if_unknown_filter {
            prev.skip_if_unknown_filter = s;
        }
        if let Some(c) = u.capture {
            prev.capture = c;
        }
        if let Some(c) = u.capture_duration {
            prev.capture_duration = c;
        }
        prev.visibility = id;
        Ok(())
    }

    // ---------------------------------------------------------- compiling

    fn compile_all(&mut self, res: &mut Res) -> LR<()> {
        // Lists: one level of nesting by definition index (§4.1).
        let mut list_used = vec![false; self.lists.items.len()];
        let mut list_defs = Vec::with_capacity(self.lists.items.len());
        let mut list_refs: Vec<Vec<usize>> = Vec::with_capacity(self.lists.items.len());
        for l in &self.lists.items {
            let (items, refs) = expand::compile_list_items(&l.items, l.visibility, |n| {
                let i = *self.lists.by_name.get(n)?;
                let r = &self.lists.items[i];
                Some((i, r.index, r.items.clone()))
            });
            for &r in &refs {
                list_used[r] = true;
            }
            list_refs.push(refs);
            list_defs.push(ListDef {
                name: l.name.clone(),
                items,
            });
        }
        let expander = ListExpander::new(list_defs);

        // Macros: expand lists and parse every macro, then resolve macro
        // references by visibility, in definition order.
        let nmacros = self.macros.items.len();
        let mut origins: Vec<Origin> = Vec::with_capacity(nmacros + self.rules_info.items.len());
        let mut macro_asts: Vec<Expr> = Vec::with_capacity(nmacros);
        let mut macro_lists: Vec<BTreeSet<String>> = Vec::with_capacity(nmacros);
        for (i, m) in self.macros.items.iter().enumerate() {
            let mut used_here = vec![false; list_used.len()];
            let expanded = expander.expand(MappedText::identity(&m.cond.text), &mut used_here);
            merge_used(&mut list_used, &used_here);
            macro_lists.push(used_names(&expander, &used_here));
            origins.push(Origin {
                src: m.cond.clone(),
                expanded,
                cond_ctx: m.cond_ctx.clone(),
                macro_name: Some(m.name.clone()),
                macro_ctx: Some(m.ctx.clone()),
            });
            let o = &origins[i];
            match Parser::new(&o.expanded.text, i as u32).parse() {
                Ok(e) => macro_asts.push(e),
                Err(pe) => {
                    return Err(self.cond_error(
                        ErrorCode::CompileCondition,
                        pe.message,
                        &origins,
                        Pos {
                            origin: i as u32,
                            offset: pe.offset as u32,
                        },
                        &m.cond_ctx,
                    ))
                }
            }
        }
        let mut macro_used = vec![false; nmacros];
        let mut macro_refs: Vec<BTreeSet<String>> = vec![BTreeSet::new(); nmacros];
        for i in 0..nmacros {
            let mut ast = macro_asts[i].clone();
            let mut r = Resolver::new(&self.macros, &macro_asts, self.macros.items[i].visibility);
            r.resolve(&mut ast, 0);
            if let Some((msg, pos)) = r.failure() {
                let m = &self.macros.items[i];
                return Err(self.cond_error(ErrorCode::Validate, msg, &origins, pos, &m.cond_ctx));
            }
            for &u in &r.used {
                macro_used[u] = true;
                macro_refs[i].insert(self.macros.items[u].name.clone());
            }
            macro_asts[i] = ast;
        }

        // Rules.
        let mut compiled = Vec::new();
        let mut details = Vec::new();
        for ri in 0..self.rules_info.items.len() {
            let r = &self.rules_info.items[ri];
            let origin_id = (nmacros + ri) as u32;
            if r.unknown_source {
                origins.push(Origin::placeholder(r));
                continue;
            }
            let mut det = RuleDetails {
                capture: r.capture,
                capture_duration: r.capture_duration,
                ..RuleDetails::default()
            };
            // Exceptions (§5.2).
            let mut clauses = Vec::new();
            let mut ex_fields = Vec::new();
            for ex in &r.exceptions {
                det.exception_names.insert(ex.name.clone());
                match &ex.comps {
                    Some(ExValue::Item(c)) => {
                        det.exception_operators.insert(c.clone());
                    }
                    Some(ExValue::List(cs)) => {
                        for c in cs {
                            if let ExValue::Item(c) = c {
                                det.exception_operators.insert(c.clone());
                            }
                        }
                    }
                    None => {}
                }
                let fields = ex.fields.clone().unwrap_or(ExValue::Item(String::new()));
                let comps = ex.comps.clone().unwrap_or(ExValue::Item("in".into()));
                let clause = expand::exception_clause(&fields, &comps, &ex.values, &mut ex_fields)
                    .map_err(|m| val(m, &ex.ctx))?;
                clauses.push(clause);
            }
            det.exception_fields.extend(ex_fields);
            // Output (§9): %container.info is dropped with a warning.
            let mut output = r.output.clone();
            if output.contains("%container.info") {
                self.warn(
                    res,
                    WarningCode::DeprecatedItem,
                    "%container.info is deprecated and no more useful, and will be dropped by Falco 1.0.0. The container plugin will automatically add required fields to the output message.",
                    &r.ctx,
                );
                output = output.replace("%container.info", "");
            }
            match super::output_check::check(&output) {
                Ok(fields) => det.output_fields.extend(fields),
                Err(e) => {
                    if e.unknown && r.skip_if_unknown_filter {
                        self.warn(res, WarningCode::UnknownFilter, e.message, &r.output_ctx);
                        origins.push(Origin::placeholder(r));
                        continue;
                    }
                    return Err(ld(ErrorCode::CompileOutput, e.message, &r.output_ctx));
                }
            }
            for df in DEPRECATED_FIELDS {
                if output.contains(df) {
                    self.warn(
                        res,
                        WarningCode::DeprecatedItem,
                        format!(
                            "usage of deprecated field '{df}' has been detected in the rule output"
                        ),
                        &r.output_ctx,
                    );
                }
            }
            det.output_compiled = output;

            // Condition.
            let text = if r.exceptions.is_empty() {
                MappedText::identity(&r.cond.text)
            } else {
                expand::wrap_with_exceptions(&r.cond.text, &clauses)
            };
            let mut used_here = vec![false; list_used.len()];
            let expanded = expander.expand(text, &mut used_here);
            merge_used(&mut list_used, &used_here);
            det.lists = used_names(&expander, &used_here);
            origins.push(Origin {
                src: r.cond.clone(),
                expanded,
                cond_ctx: r.cond_ctx.clone(),
                macro_name: None,
                macro_ctx: None,
            });
            let o = origins.last().expect("just pushed");
            let mut ast = Parser::new(&o.expanded.text, origin_id)
                .parse()
                .map_err(|pe| {
                    self.cond_error(
                        ErrorCode::CompileCondition,
                        pe.message,
                        &origins,
                        Pos {
                            origin: origin_id,
                            offset: pe.offset as u32,
                        },
                        &r.cond_ctx,
                    )
                })?;
            let mut rs = Resolver::new(&self.macros, &macro_asts, u64::MAX);
            rs.resolve(&mut ast, 0);
            if let Some((msg, pos)) = rs.failure() {
                return Err(self.cond_error(ErrorCode::Validate, msg, &origins, pos, &r.cond_ctx));
            }
            for &u in &rs.used {
                macro_used[u] = true;
                det.macros.insert(self.macros.items[u].name.clone());
            }
            // Macro lists count for the rule too.
            for &u in &rs.used {
                det.lists.extend(macro_lists[u].iter().cloned());
            }
            let mut rendered = String::new();
            let mut offsets = Vec::new();
            ast.render(&mut rendered, &mut offsets);
            let mut cw: Vec<CompileWarning> = Vec::new();
            let ir = match compile::compile(&ast, &offsets, &mut cw)
                .and_then(|ir| compile::event_types(&ast).map(|t| (ir, t)))
            {
                Ok(x) => x,
                Err(CompileError {
                    message,
                    pos,
                    unknown,
                }) => {
                    if unknown && r.skip_if_unknown_filter {
                        let d = self.cond_diag(
                            Code::Warning(WarningCode::UnknownFilter),
                            message,
                            &origins,
                            pos,
                            &r.cond_ctx,
                        );
                        res.warnings.push(d);
                        continue;
                    }
                    return Err(self.cond_error(
                        ErrorCode::CompileCondition,
                        message,
                        &origins,
                        pos,
                        &r.cond_ctx,
                    ));
                }
            };
            for w in cw {
                let d = self.cond_diag(
                    Code::Warning(w.code),
                    w.message,
                    &origins,
                    w.pos,
                    &r.cond_ctx,
                );
                res.warnings.push(d);
            }
            let (ir, types) = ir;
            if r.source == "syscall" && (types.is_empty() || types.len() > 100) && r.warn_evttypes {
                self.warn(
                    res,
                    WarningCode::NoEvttype,
                    "Rule matches too many evt.type values. This has a significant performance penalty.",
                    &r.ctx,
                );
            }
            collect_fields_ops(
                &ast,
                &mut det.condition_fields,
                &mut det.condition_operators,
            );
            det.events = types.names();
            compiled.push(Rule {
                name: r.name.clone(),
                desc: r.desc.clone(),
                priority: r.priority,
                tags: r.tags.clone(),
                source: r.source.clone(),
                enabled: r.enabled,
                output: det.output_compiled.clone(),
                condition_text: r.cond.text.clone(),
                expanded_condition: rendered,
                condition: ir,
                evttypes: if types.is_full() {
                    None
                } else {
                    Some(types.names())
                },
                index: compiled.len(),
            });
            details.push(det);
        }

        // Unused items (§4.5).
        for (i, m) in self.macros.items.iter().enumerate() {
            if !macro_used[i] {
                self.warn(
                    res,
                    WarningCode::UnusedMacro,
                    "Macro not referred to by any other rule/macro",
                    &m.ctx,
                );
            }
        }
        for (i, l) in self.lists.items.iter().enumerate() {
            if !list_used[i] {
                self.warn(
                    res,
                    WarningCode::UnusedList,
                    "List not referred to by any other rule/macro",
                    &l.ctx,
                );
            }
        }
        self.list_summaries = self
            .lists
            .items
            .iter()
            .enumerate()
            .map(|(i, l)| ListSummary {
                name: l.name.clone(),
                items: l.items.clone(),
                compiled_items: expander.lists()[i].items.clone(),
                lists: list_refs[i]
                    .iter()
                    .map(|&r| self.lists.items[r].name.clone())
                    .collect(),
                used: list_used[i],
            })
            .collect();
        self.macro_summaries = self
            .macros
            .items
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut fields = BTreeSet::new();
                let mut ops = BTreeSet::new();
                collect_fields_ops(&macro_asts[i], &mut fields, &mut ops);
                MacroSummary {
                    name: m.name.clone(),
                    condition: m.cond.text.clone(),
                    condition_compiled: macro_asts[i].to_text(),
                    macros: macro_refs[i].clone(),
                    lists: macro_lists[i].clone(),
                    condition_fields: fields,
                    condition_operators: ops,
                    used: macro_used[i],
                }
            })
            .collect();
        self.compiled = compiled;
        self.details = details;
        Ok(())
    }

    /// Context and snippet for a position in a condition.
    fn cond_diag(
        &self,
        code: Code,
        msg: String,
        origins: &[Origin],
        pos: Pos,
        cond_ctx: &Ctx,
    ) -> Diagnostic {
        let ctx = self.cond_ctx_at(origins, pos, cond_ctx);
        self.diag(code, msg, &ctx)
    }

    fn cond_error(
        &self,
        code: ErrorCode,
        msg: String,
        origins: &[Origin],
        pos: Pos,
        cond_ctx: &Ctx,
    ) -> LoadErr {
        LoadErr {
            code,
            msg,
            ctx: self.cond_ctx_at(origins, pos, cond_ctx),
        }
    }

    fn cond_ctx_at(&self, origins: &[Origin], pos: Pos, cond_ctx: &Ctx) -> Ctx {
        let mut ctx = cond_ctx.clone();
        let Some(o) = origins.get(pos.origin as usize) else {
            return ctx;
        };
        // A position inside a macro substituted into this condition: name
        // the macro in the chain.
        if let (Some(mname), Some(mctx)) = (&o.macro_name, &o.macro_ctx) {
            let same = cond_ctx
                .locs
                .iter()
                .any(|l| l.item_type == "macro" && &l.item_name == mname);
            if !same {
                if let Some(mut l) = mctx.locs.last().cloned() {
                    l.name = self.files[mctx.file as usize].name.clone();
                    ctx.locs.push(l);
                }
            }
        }
        let (file, mark) = o.locate(&self.files, pos.offset as usize);
        let text = &o.src.text;
        let mut name = if text.len() > 20 {
            let mut cut = 17;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("\"{}...\"", &text[..cut])
        } else {
            format!("\"{text}\"")
        };
        name = name.replace(['\n', '\r'], " ");
        ctx.locs.push(Location {
            item_type: "condition expression",
            item_name: String::new(),
            name,
            pos: mark.into(),
        });
        ctx.file = file;
        ctx.offset = mark.offset;
        ctx
    }
}

const DEPRECATED_FIELDS: [&str; 6] = [
    "evt.dir",
    "evt.latency",
    "evt.latency.s",
    "evt.latency.ns",
    "evt.latency.human",
    "evt.wait_latency",
];

struct Origin {
    src: CondSource,
    expanded: MappedText,
    cond_ctx: Ctx,
    macro_name: Option<String>,
    macro_ctx: Option<Ctx>,
}

impl Origin {
    fn placeholder(r: &RuleInfo) -> Origin {
        Origin {
            src: r.cond.clone(),
            expanded: MappedText::identity(&r.cond.text),
            cond_ctx: r.cond_ctx.clone(),
            macro_name: None,
            macro_ctx: None,
        }
    }

    /// File and mark of byte `offset` of the expanded text.
    fn locate(&self, files: &[SourceFile], offset: usize) -> (u32, Mark) {
        let fallback = (self.cond_ctx.file, mark_of(&self.cond_ctx));
        let Some(first) = self.src.pieces.first() else {
            return fallback;
        };
        let start = (first.file, first.mark);
        let Some(src_off) = self.expanded.source_offset(offset) else {
            return start;
        };
        let Some(p) = self
            .src
            .pieces
            .iter()
            .rev()
            .find(|p| p.start <= src_off && src_off <= p.start + p.len)
        else {
            return start;
        };
        let Some(f) = files.get(p.file as usize) else {
            return start;
        };
        let decoded = &self.src.text[p.start..p.start + p.len];
        let m = yaml::scalar_offset_mark(&f.content, p.mark, decoded, src_off - p.start);
        (p.file, m)
    }
}

fn mark_of(ctx: &Ctx) -> Mark {
    let p = ctx.locs.last().map(|l| l.pos).unwrap_or_default();
    Mark {
        offset: p.offset,
        line: p.line,
        col: p.column,
    }
}

fn merge_used(acc: &mut [bool], new: &[bool]) {
    for (a, n) in acc.iter_mut().zip(new) {
        *a |= *n;
    }
}

fn used_names(e: &ListExpander, used: &[bool]) -> BTreeSet<String> {
    e.lists()
        .iter()
        .zip(used)
        .filter(|(_, u)| **u)
        .map(|(l, _)| l.name.clone())
        .collect()
}

fn collect_fields_ops(e: &Expr, fields: &mut BTreeSet<String>, ops: &mut BTreeSet<String>) {
    fn operand(o: &ast::Operand, fields: &mut BTreeSet<String>) {
        match o {
            ast::Operand::Field { name, arg, .. } => {
                fields.insert(match arg {
                    Some(a) => format!("{name}[{a}]"),
                    None => name.clone(),
                });
            }
            ast::Operand::Transform { args, .. } => {
                for a in args {
                    if let ast::TrArg::Operand(o) = a {
                        operand(o, fields);
                    }
                }
            }
        }
    }
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(c, _) | Expr::Or(c, _) => stack.extend(c.iter()),
            Expr::Not(x, _) => stack.push(x),
            Expr::Ident(..) => {}
            Expr::Check(c) => {
                operand(&c.lhs, fields);
                ops.insert(c.op_text.to_string());
                if let ast::Rhs::Val(o, _) | ast::Rhs::Transform(o) = &c.rhs {
                    operand(o, fields);
                }
            }
        }
    }
}

/// Macro substitution (upstream filter_macro_resolver): identifiers are
/// replaced by deep copies of visible macros, recursively, with loop
/// detection. Only the first problem is reported.
struct Resolver<'a> {
    macros: &'a Indexed<MacroInfo>,
    asts: &'a [Expr],
    visibility: u64,
    path: Vec<usize>,
    used: Vec<usize>,
    loop_error: Option<(String, Pos)>,
    unknown: Option<(String, Pos)>,
    fatal: Option<(String, Pos)>,
    nodes: usize,
}

impl<'a> Resolver<'a> {
    fn new(macros: &'a Indexed<MacroInfo>, asts: &'a [Expr], visibility: u64) -> Self {
        Resolver {
            macros,
            asts,
            visibility,
            path: Vec::new(),
            used: Vec::new(),
            loop_error: None,
            unknown: None,
            fatal: None,
            nodes: 0,
        }
    }

    fn failure(&self) -> Option<(String, Pos)> {
        self.fatal
            .clone()
            .or_else(|| self.loop_error.clone())
            .or_else(|| {
                self.unknown
                    .as_ref()
                    .map(|(n, p)| (format!("Undefined macro '{n}' used in filter."), *p))
            })
    }

    fn resolve(&mut self, e: &mut Expr, depth: usize) {
        if self.fatal.is_some() {
            return;
        }
        self.nodes += 1;
        if self.nodes > MAX_EXPANDED_NODES {
            self.fatal = Some((
                format!("condition exceeds {MAX_EXPANDED_NODES} nodes after macro substitution"),
                e.pos(),
            ));
            return;
        }
        if depth > MAX_EXPANDED_DEPTH {
            self.fatal = Some((
                format!("condition nesting exceeds {MAX_EXPANDED_DEPTH} levels after macro substitution"),
                e.pos(),
            ));
            return;
        }
        match e {
            Expr::And(c, _) | Expr::Or(c, _) => {
                for x in c.iter_mut() {
                    self.resolve(x, depth + 1);
                }
            }
            Expr::Not(x, _) => self.resolve(x, depth + 1),
            Expr::Check(_) => {}
            Expr::Ident(name, pos) => {
                let pos = *pos;
                let found = self
                    .macros
                    .by_name
                    .get(name.as_str())
                    .copied()
                    .filter(|&i| self.macros.items[i].index < self.visibility);
                let Some(i) = found else {
                    if self.unknown.is_none() {
                        self.unknown = Some((name.clone(), pos));
                    }
                    return;
                };
                if self.path.contains(&i) {
                    if self.loop_error.is_none() {
                        self.loop_error = Some((format!("reference loop in macro '{name}'"), pos));
                    }
                    if self.unknown.is_none() {
                        self.unknown = Some((name.clone(), pos));
                    }
                    return;
                }
                self.path.push(i);
                let mut sub = self.asts[i].clone();
                self.resolve(&mut sub, depth + 1);
                self.path.pop();
                if !self.used.contains(&i) {
                    self.used.push(i);
                }
                *e = sub;
            }
        }
    }
}

// -------------------------------------------------------- YAML decoding

fn req_scalar<'n>(item: &'n Node, key: &str, ctx: &Ctx) -> LR<(String, &'n Node)> {
    let Some(v) = item.get(key) else {
        return Err(yv(format!("Item has no mapping for key '{key}'"), ctx));
    };
    Ok((scalar_value(v, key, ctx)?, v))
}

fn scalar_value(v: &Node, key: &str, ctx: &Ctx) -> LR<String> {
    if v.is_null() {
        return Err(yv(format!("Mapping for key '{key}' is empty"), ctx));
    }
    let vctx = ctx.child("value for", key, v.mark);
    let Kind::Scalar(s, _) = &v.kind else {
        return Err(yv("Value is not a scalar value", &vctx));
    };
    if s.is_empty() {
        return Err(yv("Value must be non-empty", &vctx));
    }
    Ok(s.clone())
}

fn opt_scalar(item: &Node, key: &str, ctx: &Ctx) -> LR<Option<String>> {
    match item.get(key) {
        None => Ok(None),
        Some(v) => scalar_value(v, key, ctx).map(Some),
    }
}

fn opt_bool(item: &Node, key: &str, ctx: &Ctx) -> LR<Option<bool>> {
    let Some(s) = opt_scalar(item, key, ctx)? else {
        return Ok(None);
    };
    let v = item.get(key).expect("present");
    parse_bool(&s).map(Some).ok_or_else(|| {
        yv(
            "Can't decode YAML scalar value",
            &ctx.child("value for", key, v.mark),
        )
    })
}

fn opt_u64(item: &Node, key: &str, ctx: &Ctx) -> LR<Option<u64>> {
    let Some(s) = opt_scalar(item, key, ctx)? else {
        return Ok(None);
    };
    let v = item.get(key).expect("present");
    s.trim().parse::<u64>().map(Some).map_err(|_| {
        yv(
            "Can't decode YAML scalar value",
            &ctx.child("value for", key, v.mark),
        )
    })
}

fn seq_of_scalars(v: &Node, key: &str, ctx: &Ctx) -> LR<Vec<String>> {
    let vctx = ctx.child("value for", key, v.mark);
    let Some(items) = v.seq() else {
        return Err(yv("Value is not a sequence", &vctx));
    };
    items
        .iter()
        .map(|x| match &x.kind {
            Kind::Scalar(s, _) => Ok(s.clone()),
            _ => Err(yv(
                "sequence value is not scalar",
                &vctx.child("list item", "", x.mark),
            )),
        })
        .collect()
}

fn req_seq_of_scalars(item: &Node, key: &str, ctx: &Ctx) -> LR<Vec<String>> {
    let Some(v) = item.get(key) else {
        return Err(yv(format!("Item has no mapping for key '{key}'"), ctx));
    };
    seq_of_scalars(v, key, ctx)
}

fn opt_seq_of_scalars(item: &Node, key: &str, ctx: &Ctx) -> LR<Option<Vec<String>>> {
    match item.get(key) {
        None => Ok(None),
        Some(v) => seq_of_scalars(v, key, ctx).map(Some),
    }
}

fn read_priority(item: &Node, ctx: &Ctx) -> LR<Priority> {
    let (p, node) = req_scalar(item, "priority", ctx)?;
    let pctx = ctx.child("rule priority", "", node.mark);
    Priority::parse(&p).ok_or_else(|| yv("Invalid priority", &pctx))
}

fn decode_overrides(
    item: &Node,
    appendable: &[&str],
    replaceable: &[&str],
    ctx: &Ctx,
) -> LR<(Vec<String>, Vec<String>)> {
    let mut oa = Vec::new();
    let mut orp = Vec::new();
    let Some(ov) = item.get("override") else {
        return Ok((oa, orp));
    };
    let octx = ctx.child("overrides", "", ov.mark);
    let Kind::Map(entries) = &ov.kind else {
        return Err(yv("Value of override must be a map", &octx));
    };
    for (k, v) in entries {
        let Some(key) = k.scalar() else {
            return Err(yv("Override keys must be strings", &octx));
        };
        let op = v.scalar().unwrap_or("");
        let can_append = appendable.contains(&key);
        let can_replace = replaceable.contains(&key);
        let kctx = octx.child("overrides", key, k.mark);
        match op {
            "append" => {
                if !can_append {
                    return Err(yv(
                        format!("Key '{key}' cannot be appended to, use 'replace' instead"),
                        &kctx,
                    ));
                }
                oa.push(key.to_string());
            }
            "replace" => {
                if !can_replace {
                    return Err(yv(format!("Key '{key}' cannot be replaced"), &kctx));
                }
                orp.push(key.to_string());
            }
            _ => {
                let mut m = format!(
                    "Invalid override operation for key '{key}': '{op}'. Allowed values are: "
                );
                if can_append {
                    m.push_str("append ");
                }
                if can_replace {
                    m.push_str("replace ");
                }
                return Err(yv(m, &octx.child("value for", key, v.mark)));
            }
        }
    }
    Ok((oa, orp))
}

fn decode_ex_entry(ex: &Node, key: &str, ctx: &Ctx, optional: bool) -> LR<Option<ExValue>> {
    match ex.get(key) {
        None if optional => Ok(None),
        None => Err(yv(format!("Item has no mapping for key '{key}'"), ctx)),
        Some(v) => {
            let vctx = ctx.child("value for", key, v.mark);
            decode_ex_value(v, &vctx).map(Some)
        }
    }
}

fn decode_ex_value(v: &Node, ctx: &Ctx) -> LR<ExValue> {
    match &v.kind {
        Kind::Scalar(s, _) => {
            if s.is_empty() {
                return Err(yv("Value must be non-empty", ctx));
            }
            Ok(ExValue::Item(s.clone()))
        }
        Kind::Seq(items) => items
            .iter()
            .map(|x| decode_ex_value(x, &ctx.child("exception", "", x.mark)))
            .collect::<LR<Vec<_>>>()
            .map(ExValue::List),
        Kind::Null => Err(yv("Value must be non-empty", ctx)),
        Kind::Map(_) => Err(yv("Value is not a scalar value", ctx)),
    }
}

/// Whether `field` is a valid left-hand side (an entry containing `(` is
/// accepted if `<entry> exists` compiles).
fn is_field_defined(field: &str) -> bool {
    let text = format!("{field} exists");
    let Ok(e) = parser::parse_condition(&text) else {
        return false;
    };
    if field.contains('(') {
        let mut w = Vec::new();
        return compile::compile(&e, &[0], &mut w).is_ok();
    }
    match &e {
        Expr::Check(c) => match &c.lhs {
            ast::Operand::Field { name, arg, .. } => {
                let consumed = match arg {
                    Some(a) => name.len() + a.len() + 2,
                    None => name.len(),
                };
                consumed <= field.len() && crate::fields::resolve(name, arg.as_deref()).is_ok()
            }
            _ => false,
        },
        _ => false,
    }
}

fn validate_comp(c: &str) -> bool {
    let parts: Vec<&str> = c.split_whitespace().collect();
    match parts.as_slice() {
        [op] => parser::supported_operators().contains(op),
        [op, m] => parser::is_str_op(op) && matches!(*m, "oneof" | "anyof" | "allof"),
        _ => false,
    }
}

fn validate_exception(ex: &mut ExceptionInfo, check_fields: bool) -> LR<()> {
    let trim = |v: &mut ExValue| {
        if let ExValue::Item(s) = v {
            *s = s.trim().to_string();
        }
    };
    match ex.fields.clone() {
        Some(ExValue::List(fields)) => {
            let comps = match ex.comps.take() {
                None => ExValue::List(vec![ExValue::Item("=".into()); fields.len()]),
                Some(ExValue::List(mut cs)) => {
                    cs.iter_mut().for_each(trim);
                    ExValue::List(cs)
                }
                Some(ExValue::Item(c)) => {
                    ex.comps = Some(ExValue::Item(c));
                    return Err(val(
                        "Fields and comps lists must have equal length",
                        &ex.ctx,
                    ));
                }
            };
            let ExValue::List(cs) = &comps else {
                unreachable!("comps is a list here")
            };
            if cs.len() != fields.len() {
                return Err(val(
                    "Fields and comps lists must have equal length",
                    &ex.ctx,
                ));
            }
            for c in cs {
                let c = match c {
                    ExValue::Item(s) => s.as_str(),
                    ExValue::List(_) => "",
                };
                if !validate_comp(c) {
                    return Err(val(
                        format!("'{c}' is not a supported comparison operator"),
                        &ex.ctx,
                    ));
                }
            }
            ex.comps = Some(comps);
            if check_fields {
                for f in &fields {
                    let f = match f {
                        ExValue::Item(s) => s.as_str(),
                        ExValue::List(_) => "",
                    };
                    if !is_field_defined(f) {
                        return Err(val(
                            format!("'{f}' is not a supported filter field"),
                            &ex.ctx,
                        ));
                    }
                }
            }
        }
        Some(ExValue::Item(field)) => {
            let comp = match ex.comps.take() {
                None => "in".to_string(),
                Some(ExValue::Item(c)) => c.trim().to_string(),
                Some(ExValue::List(_)) => {
                    return Err(val("Fields and comps must both be strings", &ex.ctx));
                }
            };
            let ok = matches!(comp.as_str(), "in" | "pmatch" | "intersects")
                || (comp.split_whitespace().count() == 2 && validate_comp(&comp));
            if !ok {
                return Err(val(
                    "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator",
                    &ex.ctx,
                ));
            }
            ex.comps = Some(ExValue::Item(comp));
            if check_fields && !is_field_defined(&field) {
                return Err(val(
                    format!("'{field}' is not a supported filter field"),
                    &ex.ctx,
                ));
            }
        }
        None => {}
    }
    Ok(())
}

// ------------------------------------------------------- several files

/// The rules loaded by [`load_paths`].
pub struct LoadedRules {
    /// The loader holding the collection.
    pub loader: Loader,
    /// One result per file loaded, in order.
    pub results: Vec<FileResult>,
}

/// Why [`load_paths`] stopped.
#[derive(Debug)]
pub struct LoadFailure {
    /// Results of the files loaded so far; the last one failed (or holds
    /// plugin requirement errors).
    pub results: Vec<FileResult>,
    /// Set when a directory could not be listed.
    pub io_error: Option<String>,
}

/// Falco's `matches_wildcard`: `*` is the only wildcard; matching is a
/// greedy left-to-right scan without backtracking (quirk, §6.3).
pub fn matches_wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut pos = 0usize;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !s.starts_with(part) {
                return false;
            }
            pos = part.len();
            continue;
        }
        if part.is_empty() {
            if i == parts.len() - 1 {
                return true;
            }
            continue;
        }
        match s[pos..].find(part) {
            Some(p) => pos += p + part.len(),
            None => return false,
        }
    }
    pos == s.len()
}

/// Expands `-r` arguments into the files to load, in order: a directory
/// becomes its regular files (symlinks followed) sorted by full path;
/// only names matching `*.yaml` or `*.yml` are kept (explicit files too).
pub fn expand_rule_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let keep = |p: &Path| {
        let s = p.to_string_lossy();
        matches_wildcard("*.yaml", &s) || matches_wildcard("*.yml", &s)
    };
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut files: Vec<PathBuf> = Vec::new();
            for ent in rd {
                let ent = ent.map_err(|e| format!("{}: {e}", p.display()))?;
                let path = ent.path();
                if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    files.push(path);
                }
            }
            files.sort_by(|a, b| {
                a.as_os_str()
                    .as_encoded_bytes()
                    .cmp(b.as_os_str().as_encoded_bytes())
            });
            out.extend(files.into_iter().filter(|f| keep(f)));
        } else if keep(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Loads rules with `-r` semantics: paths expanded by
/// [`expand_rule_paths`], each file loaded in order into one collection;
/// stops at the first failing file. Plugin requirements are checked after
/// the last file; unsatisfied ones are a failure too (their errors are
/// appended to the last result).
pub fn load_paths(paths: &[PathBuf]) -> Result<LoadedRules, LoadFailure> {
    let sources: Vec<RuleSource<'_>> = paths.iter().map(RuleSource::Path).collect();
    load_sources(&sources)
}

/// Where [`load_sources`] reads one part of a rule set.
#[derive(Debug, Clone, Copy)]
pub enum RuleSource<'a> {
    /// A file or a directory, as in [`load_paths`].
    Path(&'a PathBuf),
    /// Rules text (embedded rules), with the name messages give it.
    Text {
        /// Name in messages.
        name: &'a str,
        /// The YAML.
        text: &'a str,
    },
}

/// [`load_paths`] over files, directories and texts, in order.
pub fn load_sources(sources: &[RuleSource<'_>]) -> Result<LoadedRules, LoadFailure> {
    let mut loader = Loader::new();
    let mut results = Vec::new();
    for src in sources {
        let loaded: Vec<FileResult> = match src {
            RuleSource::Path(p) => {
                let files =
                    expand_rule_paths(std::slice::from_ref(*p)).map_err(|e| LoadFailure {
                        results: std::mem::take(&mut results),
                        io_error: Some(e),
                    })?;
                let mut v = Vec::new();
                for f in files {
                    let r = loader.load_file(&f);
                    let ok = r.successful();
                    v.push(r);
                    if !ok {
                        break;
                    }
                }
                v
            }
            RuleSource::Text { name, text } => vec![loader.load_str(name, text)],
        };
        let failed = loaded.last().is_some_and(|r| !r.successful());
        results.extend(loaded);
        if failed {
            return Err(LoadFailure {
                results,
                io_error: None,
            });
        }
    }
    let plugin_errors = loader.check_plugin_requirements();
    if !plugin_errors.is_empty() {
        match results.last_mut() {
            Some(last) => last.errors.extend(plugin_errors),
            None => results.push(FileResult {
                name: String::new(),
                errors: plugin_errors,
                warnings: Vec::new(),
                counts: Counts::default(),
            }),
        }
        return Err(LoadFailure {
            results,
            io_error: None,
        });
    }
    Ok(LoadedRules { loader, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_and_versions() {
        for t in ["true", "True", "TRUE", "yes", "Yes", "on", "ON", "y", "Y"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "no", "No", "off", "OFF", "n"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("tRue"), None);
        assert_eq!(parse_bool("1"), None);
        let v = Version::parse("0.57.0").unwrap();
        assert!(ENGINE_VERSION.compatible_with(&v));
        assert!(!ENGINE_VERSION.compatible_with(&Version::parse("0.99.0").unwrap()));
        assert!(!ENGINE_VERSION.compatible_with(&Version::parse("1.0.0").unwrap()));
        assert_eq!(Version::parse("banana"), None);
    }

    #[test]
    fn wildcard_quirk() {
        assert!(matches_wildcard("*.yaml", "a.yaml"));
        assert!(!matches_wildcard("*.yaml", "a.yaml.x.yaml"));
        assert!(!matches_wildcard("*ab", "abab"));
        assert!(matches_wildcard("*", "anything"));
        assert!(matches_wildcard("Read*", "Read sensitive"));
        assert!(!matches_wildcard("Read", "Read sensitive"));
        assert!(matches_wildcard("a*c*", "abcd"));
    }
}
