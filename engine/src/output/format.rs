//! Output format strings (RULES.md §9.1, §9.2): compilation and rendering.
//!
//! A format is literal text with `%` tokens. After `%` come an optional
//! decimal width and then a field (`proc.name`, `proc.aname[2]`,
//! `evt.arg.flags`) or a transformer call (`toupper(user.name)`). The field
//! is the *longest* prefix of the remaining text that resolves: the longest
//! syntactic candidate is tried first and shortened one character at a time,
//! so `%proc.name,` is `proc.name` then `,` and `%evt.type.foo` is
//! `evt.type` then `.foo`. There is no `%%` escape (a quirk kept from
//! Falco): every `%` must introduce a field.
//!
//! Rendering never fails: missing values print `<NA>` (Falco prefixes every
//! rule output with `*`, which selects that behaviour).

use crate::fields::{self, flag, Extract, FieldRef, FieldType, ResolveError, Value};
use crate::rules::ir::{Operand, TrArg, Transformer};

use super::time;

/// What a missing value renders as.
pub const NA: &str = "<NA>";

/// The deprecated token removed from formats (RULES.md §9.1).
const CONTAINER_INFO: &str = "%container.info";

/// Why a format string does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The format ends with a lone `%`.
    #[error("formatting cannot end with a %")]
    TrailingPercent,
    /// The format ends with `%` followed by digits only (`%20`).
    #[error("formatting cannot end with a %<width> ('{0}')")]
    TrailingWidth(String),
    /// The width after `%` does not fit in an integer.
    #[error("invalid field width in '{0}'")]
    BadWidth(String),
    /// No prefix of the text after `%` is a field or transformer.
    #[error(
        "unknown filter: {token}{}",
        .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    UnknownField {
        /// The text after `%` that was tried (the longest candidate).
        token: String,
        /// Why the longest candidate did not resolve, when it looked like
        /// a field.
        reason: Option<ResolveError>,
    },
    /// A filter-only field (`fd.ip`, `fd.net`, ...) used for display.
    #[error("'{0}' is filter only and cannot be used as a display field")]
    FilterOnly(String),
    /// A field that rejects transformers used inside one.
    #[error("field '{field}' does not support transformer '{transformer}'")]
    NoTransformer {
        /// The field as written.
        field: String,
        /// The transformer name.
        transformer: String,
    },
    /// A transformer call that is malformed or badly typed.
    #[error("invalid transformer call '{call}': {reason}")]
    BadTransformer {
        /// The call as written.
        call: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A transformer kestrel does not implement in output formats.
    #[error("transformer '{0}' is not supported in output formats (supported: tolower, toupper, b64, basename, len, concat)")]
    UnsupportedTransformer(String),
}

/// A non-fatal remark about a format (reported as `LOAD_DEPRECATED_ITEM`
/// by the loader).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatWarning {
    /// `%container.info` was removed from the format.
    #[error("%container.info is deprecated and has been removed from the output")]
    ContainerInfoRemoved,
    /// The format uses a deprecated field (`evt.dir`, `evt.latency`).
    #[error("field '{0}' is deprecated")]
    DeprecatedField(String),
}

/// A plain field of a format, with the text it was written as (its JSON
/// `output_fields` key, RULES.md §9.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatField {
    /// The field as written (`proc.aname[2]`, `evt.arg.flags`).
    pub key: Box<str>,
    /// The resolved field.
    pub field: FieldRef,
}

/// How a value is turned into text beyond §9.2's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// §9.2 rendering.
    Plain,
    /// `evt.time`: local `HH:MM:SS.nnnnnnnnn`.
    LocalTime,
    /// `evt.time.iso8601`: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000`.
    Iso8601,
}

#[derive(Debug, Clone)]
enum Item {
    Literal(Box<str>),
    Expr {
        expr: Operand,
        /// Exact rendered width in characters; 0 for none.
        width: usize,
        style: Style,
    },
}

/// A compiled output format.
#[derive(Debug, Clone)]
pub struct OutputFormat {
    source: String,
    items: Vec<Item>,
    keys: Vec<FormatField>,
}

impl OutputFormat {
    /// Compiles a format string (RULES.md §9.1). Warnings (e.g.
    /// `%container.info` removed, deprecated fields) are returned
    /// alongside.
    pub fn compile(text: &str) -> Result<(OutputFormat, Vec<FormatWarning>), FormatError> {
        let mut warnings = Vec::new();
        let replaced;
        let mut src = text;
        if src.contains(CONTAINER_INFO) {
            replaced = src.replace(CONTAINER_INFO, "");
            src = &replaced;
            warnings.push(FormatWarning::ContainerInfoRemoved);
        }
        let src = src.trim();
        let mut p = Parser {
            src,
            items: Vec::new(),
            keys: Vec::new(),
            warnings,
        };
        p.run()?;
        Ok((
            OutputFormat {
                source: src.to_string(),
                items: p.items,
                keys: p.keys,
            },
            p.warnings,
        ))
    }

    /// The format text that was compiled (trimmed, `%container.info`
    /// removed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Plain fields, for JSON `output_fields` keys: every distinct field
    /// expression as written, including the fields inside transformer
    /// calls, in order of first appearance.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.keys.iter().map(|k| &k.field)
    }

    /// The JSON `output_fields` keys of this format with their fields, in
    /// order of first appearance (not sorted).
    pub fn keys(&self) -> &[FormatField] {
        &self.keys
    }

    /// Appends the rendering of the format for `ev` to `out`; missing values
    /// render as `<NA>`.
    pub fn render<E: Extract + ?Sized>(&self, ev: &E, out: &mut String) {
        for item in &self.items {
            match item {
                Item::Literal(s) => out.push_str(s),
                Item::Expr { expr, width, style } => {
                    let start = out.len();
                    match eval(expr, ev) {
                        Some(v) => push_value(out, &v, *style),
                        None => out.push_str(NA),
                    }
                    if *width > 0 {
                        fit_width(out, start, *width);
                    }
                }
            }
        }
    }

    /// The rendering of the format for `ev` as a new string.
    pub fn render_to_string<E: Extract + ?Sized>(&self, ev: &E) -> String {
        let mut s = String::with_capacity(self.source.len() + 64);
        self.render(ev, &mut s);
        s
    }
}

/// Resolves a whole field expression for display (an `extra_fields` name
/// such as `proc.aname[2]`): no shortening, filter-only fields rejected.
pub fn resolve_display_field(text: &str) -> Result<FieldRef, FormatError> {
    let text = text.trim();
    let f = resolve_field(text).map_err(|e| FormatError::UnknownField {
        token: text.to_string(),
        reason: Some(e),
    })?;
    if f.def().has(flag::FILTER_ONLY) {
        return Err(FormatError::FilterOnly(text.to_string()));
    }
    Ok(f)
}

/// Pads `out[start..]` with spaces or truncates it to exactly `width`
/// characters.
fn fit_width(out: &mut String, start: usize, width: usize) {
    let rendered = &out[start..];
    match rendered.char_indices().nth(width) {
        Some((cut, _)) => out.truncate(start + cut),
        None => {
            let n = rendered.chars().count();
            out.extend(std::iter::repeat_n(' ', width - n));
        }
    }
}

/// Appends the text rendering of a value (RULES.md §9.2).
pub(crate) fn push_value(out: &mut String, v: &Value<'_>, style: Style) {
    use std::fmt::Write;
    match (v, style) {
        (Value::U64(ns), Style::LocalTime) => time::push_local_hms(out, *ns),
        (Value::U64(ns), Style::Iso8601) => time::push_iso8601(out, *ns),
        (Value::I64(ns), Style::LocalTime) if *ns >= 0 => time::push_local_hms(out, *ns as u64),
        (Value::I64(ns), Style::Iso8601) if *ns >= 0 => time::push_iso8601(out, *ns as u64),
        (Value::Str(s), _) => super::json::push_bytes_escaped(out, s),
        (Value::Bytes(b), _) => push_printable(out, b),
        (Value::Bool(b), _) => out.push_str(if *b { "true" } else { "false" }),
        (Value::I64(n), _) => write!(out, "{n}").expect("write to String"),
        (Value::U64(n), _) => write!(out, "{n}").expect("write to String"),
        (Value::Ip(a), _) => write!(out, "{a}").expect("write to String"),
    }
}

/// Binary data: printable ASCII as is, anything else as `.` (how sysdig
/// and Falco print buffers in outputs).
fn push_printable(out: &mut String, b: &[u8]) {
    out.extend(b.iter().map(|&c| {
        if c.is_ascii_graphic() || c == b' ' {
            c as char
        } else {
            '.'
        }
    }));
}

/// Evaluates a format expression; `None` when missing. Transformers are
/// evaluated by the matcher's code, so conditions and outputs agree.
pub(crate) fn eval<'e, E: Extract + ?Sized>(expr: &Operand, ev: &'e E) -> Option<Value<'e>> {
    crate::matcher::transform::operand_value(expr, ev)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn transformer_by_name(name: &str) -> Option<Transformer> {
    Some(match name {
        "tolower" => Transformer::ToLower,
        "toupper" => Transformer::ToUpper,
        "b64" => Transformer::B64,
        "basename" => Transformer::Basename,
        "len" => Transformer::Len,
        "concat" => Transformer::Concat,
        "join" => Transformer::Join,
        "getopt" => Transformer::Getopt,
        _ => return None,
    })
}

fn transformer_name(t: Transformer) -> &'static str {
    match t {
        Transformer::ToLower => "tolower",
        Transformer::ToUpper => "toupper",
        Transformer::B64 => "b64",
        Transformer::Basename => "basename",
        Transformer::Len => "len",
        Transformer::Concat => "concat",
        Transformer::Join => "join",
        Transformer::Getopt => "getopt",
    }
}

/// Resolves `text` as a whole field expression (`name` or `name[arg]`).
fn resolve_field(text: &str) -> Result<FieldRef, ResolveError> {
    let (name, arg) = match text.find('[') {
        Some(open) if text.ends_with(']') => (&text[..open], Some(&text[open + 1..text.len() - 1])),
        _ => (text, None),
    };
    if name.is_empty() || !name.bytes().all(is_name_byte) {
        return Err(ResolveError::Unknown(text.to_string()));
    }
    fields::resolve(name, arg)
}

/// Byte index just past the `)` matching the `(` at `open`, honouring
/// quotes; `None` if unbalanced.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Splits transformer arguments at top-level commas.
fn split_args(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<u8>, 0usize);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// Unquotes a `"..."` or `'...'` literal (backslash escapes the next
/// character).
fn unquote(s: &str) -> Option<String> {
    let q = *s.as_bytes().first()?;
    if (q != b'"' && q != b'\'') || s.len() < 2 || !s.ends_with(q as char) {
        return None;
    }
    let mut out = String::new();
    let mut chars = s[1..s.len() - 1].chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

struct Parser<'s> {
    src: &'s str,
    items: Vec<Item>,
    keys: Vec<FormatField>,
    warnings: Vec<FormatWarning>,
}

impl<'s> Parser<'s> {
    fn run(&mut self) -> Result<(), FormatError> {
        let src = self.src;
        let b = src.as_bytes();
        let mut lit = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                let j = memchr::memchr(b'%', &b[i..]).map_or(b.len(), |k| i + k);
                lit.push_str(&src[i..j]);
                i = j;
                continue;
            }
            let pct = i;
            i += 1;
            if i == b.len() {
                return Err(FormatError::TrailingPercent);
            }
            let wstart = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let width = if i > wstart {
                if i == b.len() {
                    return Err(FormatError::TrailingWidth(src[pct..].to_string()));
                }
                src[wstart..i]
                    .parse::<usize>()
                    .map_err(|_| FormatError::BadWidth(src[pct..i].to_string()))?
            } else {
                0
            };
            let (expr, end) = self.token(i)?;
            let style = match &expr {
                Operand::Field(f) if f.arg == fields::FieldArg::None => match f.def().name {
                    "evt.time" => Style::LocalTime,
                    "evt.time.iso8601" => Style::Iso8601,
                    _ => Style::Plain,
                },
                _ => Style::Plain,
            };
            if !lit.is_empty() {
                self.items
                    .push(Item::Literal(std::mem::take(&mut lit).into()));
            }
            self.items.push(Item::Expr { expr, width, style });
            i = end;
        }
        if !lit.is_empty() {
            self.items.push(Item::Literal(lit.into()));
        }
        Ok(())
    }

    /// Parses the field or transformer starting at `start`; returns the
    /// expression and the offset just past it.
    fn token(&mut self, start: usize) -> Result<(Operand, usize), FormatError> {
        let src = self.src;
        let b = src.as_bytes();
        let mut id_end = start;
        while id_end < b.len() && is_name_byte(b[id_end]) {
            id_end += 1;
        }
        let ident = &src[start..id_end];
        if id_end < b.len() && b[id_end] == b'(' {
            if let Some(t) = transformer_by_name(ident) {
                let end =
                    matching_paren(src, id_end).ok_or_else(|| FormatError::BadTransformer {
                        call: src[start..].to_string(),
                        reason: "missing closing parenthesis".into(),
                    })?;
                let call = &src[start..end];
                let expr = self.transformer(t, call, &src[id_end + 1..end - 1])?;
                return Ok((expr, end));
            }
        }
        // Longest syntactic candidate: the name, plus a bracketed argument
        // when one follows.
        let mut cand_end = id_end;
        if id_end < b.len() && b[id_end] == b'[' {
            if let Some(k) = memchr::memchr(b']', &b[id_end..]) {
                cand_end = id_end + k + 1;
            }
        }
        let mut first_err = None;
        let mut end = cand_end;
        while end > start {
            // Only shorten at character boundaries (bracket arguments may
            // hold any text).
            if src.is_char_boundary(end) {
                let text = &src[start..end];
                match resolve_field(text) {
                    Ok(f) => {
                        self.display_field(&f, text)?;
                        return Ok((Operand::Field(f), end));
                    }
                    Err(e) => {
                        if first_err.is_none() {
                            first_err = Some(e);
                        }
                    }
                }
            }
            end -= 1;
        }
        let token = if cand_end > start {
            src[start..cand_end].to_string()
        } else {
            src[start..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect()
        };
        Err(FormatError::UnknownField {
            token,
            reason: if cand_end > start { first_err } else { None },
        })
    }

    /// Checks a field used for display and records it as a key.
    fn display_field(&mut self, f: &FieldRef, text: &str) -> Result<(), FormatError> {
        let def = f.def();
        if def.has(flag::FILTER_ONLY) {
            return Err(FormatError::FilterOnly(text.to_string()));
        }
        if def.has(flag::DEPRECATED) {
            let w = FormatWarning::DeprecatedField(text.to_string());
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        if !self.keys.iter().any(|k| &*k.key == text) {
            self.keys.push(FormatField {
                key: text.into(),
                field: f.clone(),
            });
        }
        Ok(())
    }

    /// Compiles a transformer call; `inner` is the text between the
    /// parentheses.
    fn transformer(
        &mut self,
        t: Transformer,
        call: &str,
        inner: &str,
    ) -> Result<Operand, FormatError> {
        let name = transformer_name(t);
        let bad = |reason: String| FormatError::BadTransformer {
            call: call.to_string(),
            reason,
        };
        if matches!(t, Transformer::Join | Transformer::Getopt) {
            return Err(FormatError::UnsupportedTransformer(name.to_string()));
        }
        let raw_args: Vec<&str> = split_args(inner).into_iter().map(str::trim).collect();
        let mut args = Vec::with_capacity(raw_args.len());
        for a in &raw_args {
            if a.is_empty() {
                return Err(bad("empty argument".into()));
            }
            if a.starts_with('"') || a.starts_with('\'') {
                if t != Transformer::Concat {
                    return Err(bad(format!("'{name}' takes a field, not a string literal")));
                }
                let s = unquote(a).ok_or_else(|| bad(format!("malformed string literal {a}")))?;
                args.push(TrArg::Literal(s));
                continue;
            }
            args.push(TrArg::Operand(self.operand(a, name)?));
        }
        match t {
            Transformer::Concat => {
                if args.len() < 2 {
                    return Err(bad("'concat' takes at least two arguments".into()));
                }
            }
            _ => {
                if args.len() != 1 {
                    return Err(bad(format!("'{name}' takes exactly one argument")));
                }
            }
        }
        for a in &args {
            let TrArg::Operand(o) = a else { continue };
            let ty = o.ty();
            let ok = match t {
                Transformer::ToLower
                | Transformer::ToUpper
                | Transformer::Basename
                | Transformer::Concat => ty == FieldType::CharBuf,
                Transformer::B64 | Transformer::Len => {
                    matches!(ty, FieldType::CharBuf | FieldType::ByteBuf)
                }
                Transformer::Join | Transformer::Getopt => false,
            };
            if !ok {
                return Err(bad(format!(
                    "'{name}' cannot be applied to a value of type {}",
                    ty.falco_name()
                )));
            }
        }
        Ok(Operand::Transform(t, args))
    }

    /// A transformer argument: a whole field or a nested call.
    fn operand(&mut self, text: &str, transformer: &str) -> Result<Operand, FormatError> {
        let b = text.as_bytes();
        let id_end = b.iter().position(|&c| !is_name_byte(c)).unwrap_or(b.len());
        if id_end < b.len() && b[id_end] == b'(' {
            let ident = &text[..id_end];
            let t = transformer_by_name(ident).ok_or_else(|| FormatError::BadTransformer {
                call: text.to_string(),
                reason: format!("unknown transformer '{ident}'"),
            })?;
            if matching_paren(text, id_end) != Some(text.len()) {
                return Err(FormatError::BadTransformer {
                    call: text.to_string(),
                    reason: "unbalanced parentheses".into(),
                });
            }
            return self.transformer(t, text, &text[id_end + 1..text.len() - 1]);
        }
        let f = resolve_field(text).map_err(|e| FormatError::UnknownField {
            token: text.to_string(),
            reason: Some(e),
        })?;
        if f.def().has(flag::NO_TRANSFORMER) {
            return Err(FormatError::NoTransformer {
                field: text.to_string(),
                transformer: transformer.to_string(),
            });
        }
        self.display_field(&f, text)?;
        Ok(Operand::Field(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::resolve;
    use std::borrow::Cow;
    use std::collections::HashMap;

    /// A map-backed event: field text → value.
    struct Ev(HashMap<String, Value<'static>>);

    impl Ev {
        fn new(pairs: &[(&str, Value<'static>)]) -> Ev {
            Ev(pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect())
        }
    }

    impl Extract for Ev {
        fn extract(&self, f: &FieldRef) -> Option<Value<'_>> {
            self.0.get(&f.text()).cloned()
        }
        fn extract_each(&self, f: &FieldRef, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
            match self.extract(f) {
                Some(v) => {
                    visit(v);
                    true
                }
                None => false,
            }
        }
    }

    fn render(fmt: &str, ev: &Ev) -> String {
        OutputFormat::compile(fmt).unwrap().0.render_to_string(ev)
    }

    fn keys(fmt: &str) -> Vec<String> {
        OutputFormat::compile(fmt)
            .unwrap()
            .0
            .keys()
            .iter()
            .map(|k| k.key.to_string())
            .collect()
    }

    #[test]
    fn literal_only() {
        let ev = Ev::new(&[]);
        assert_eq!(render("  hello world ", &ev), "hello world");
        assert_eq!(render("", &ev), "");
    }

    #[test]
    fn width_pads_and_truncates() {
        let ev = Ev::new(&[("proc.name", Value::string("cat"))]);
        assert_eq!(render("[%6proc.name]", &ev), "[cat   ]");
        assert_eq!(render("[%2proc.name]", &ev), "[ca]");
        assert_eq!(render("[%3proc.name]", &ev), "[cat]");
        assert_eq!(render("[%6user.name]", &ev), "[<NA>  ]");
        let ev = Ev::new(&[("proc.name", Value::string("été"))]);
        assert_eq!(render("[%2proc.name]", &ev), "[ét]");
        assert_eq!(render("[%20proc.name]", &ev), "[été                 ]");
    }

    #[test]
    fn longest_field_rule() {
        let ev = Ev::new(&[
            ("proc.name", Value::string("cat")),
            ("fd.name", Value::string("/etc/shadow")),
            ("proc.aname[2]", Value::string("sshd")),
            ("evt.type", Value::string("openat")),
        ]);
        assert_eq!(render("%proc.name,x", &ev), "cat,x");
        assert_eq!(render("(%fd.name)", &ev), "(/etc/shadow)");
        assert_eq!(render("(%proc.aname[2])", &ev), "(sshd)");
        assert_eq!(render("%evt.type.foo", &ev), "openat.foo");
        assert_eq!(render("%proc.name.", &ev), "cat.");
        assert_eq!(render("%proc.names", &ev), "cats");
        // A bad index falls back to the shorter field plus literal text.
        assert_eq!(keys("%proc.aname[x]"), vec!["proc.aname"]);
    }

    #[test]
    fn missing_values_render_na() {
        let ev = Ev::new(&[("proc.name", Value::string("cat"))]);
        assert_eq!(
            render("file=%fd.name proc=%proc.name", &ev),
            "file=<NA> proc=cat"
        );
    }

    #[test]
    fn value_rendering() {
        let ev = Ev::new(&[
            ("proc.tty", Value::U64(34816)),
            ("user.loginuid", Value::I64(-1)),
            ("fd.connected", Value::Bool(true)),
            ("fd.sip", Value::Ip("10.0.0.1".parse().unwrap())),
            ("fd.cip", Value::Ip("::1".parse().unwrap())),
            (
                "evt.buffer",
                Value::Bytes(Cow::Owned(b"ab\x00\ncd".to_vec())),
            ),
            ("evt.time.iso8601", Value::U64(1_700_000_602_123_456_789)),
            ("container.start_ts", Value::U64(1_700_000_000_000_000_000)),
            ("proc.cmdline", Value::Str(Cow::Owned(b"a\xffb".to_vec()))),
        ]);
        assert_eq!(
            render(
                "%proc.tty %user.loginuid %fd.connected %fd.sip %fd.cip %evt.buffer %evt.time.iso8601 %container.start_ts %proc.cmdline",
                &ev
            ),
            "34816 -1 true 10.0.0.1 ::1 ab..cd 2023-11-14T22:23:22.123456789+0000 1700000000000000000 a\\xffb"
        );
    }

    #[test]
    fn evt_time_renders_local_clock() {
        let ns = 1_700_000_602_123_456_789u64;
        let ev = Ev::new(&[("evt.time", Value::U64(ns))]);
        let mut expected = String::new();
        time::push_local_hms(&mut expected, ns);
        assert_eq!(render("%evt.time", &ev), expected);
        assert!(expected.ends_with(":22.123456789"), "{expected}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            OutputFormat::compile("abc %").unwrap_err(),
            FormatError::TrailingPercent
        );
        assert_eq!(
            OutputFormat::compile("abc %20").unwrap_err(),
            FormatError::TrailingWidth("%20".into())
        );
        // There is no %% escape.
        let e = OutputFormat::compile("100%% sure").unwrap_err();
        assert!(
            matches!(&e, FormatError::UnknownField { token, .. } if token == "%"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "unknown filter: %");
        let e = OutputFormat::compile("100% sure").unwrap_err();
        assert!(matches!(e, FormatError::UnknownField { .. }));
        let e = OutputFormat::compile("x=%proc.nosuch").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown filter: proc.nosuch (unknown field 'proc.nosuch')"
        );
        let e = OutputFormat::compile("x=%evt.arg.nosuch").unwrap_err();
        assert!(e.to_string().contains("unknown event argument"), "{e}");
        for f in [
            "fd.ip", "fd.net", "fd.port", "fd.proto", "fd.snet", "fd.cnet", "fd.lnet", "fd.rnet",
        ] {
            let e = OutputFormat::compile(&format!("ip=%{f} x")).unwrap_err();
            assert_eq!(e, FormatError::FilterOnly(f.into()));
            assert_eq!(
                e.to_string(),
                format!("'{f}' is filter only and cannot be used as a display field")
            );
        }
    }

    #[test]
    fn container_info_removed_with_warning() {
        let (f, w) = OutputFormat::compile("proc=%proc.name %container.info").unwrap();
        assert_eq!(f.source(), "proc=%proc.name");
        assert_eq!(w, vec![FormatWarning::ContainerInfoRemoved]);
        let (f, w) = OutputFormat::compile("a %container.info b").unwrap();
        assert_eq!(f.source(), "a  b");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn deprecated_field_warns() {
        let (_, w) = OutputFormat::compile("%evt.dir %evt.dir %proc.name").unwrap();
        assert_eq!(w, vec![FormatWarning::DeprecatedField("evt.dir".into())]);
    }

    #[test]
    fn keys_as_written_and_distinct() {
        assert_eq!(
            keys("%proc.name %proc.aname[2] %evt.arg.flags %evt.arg[flags] %proc.name %container.mount.dest[/proc*]"),
            vec![
                "proc.name",
                "proc.aname[2]",
                "evt.arg.flags",
                "evt.arg[flags]",
                "container.mount.dest[/proc*]"
            ]
        );
        let (f, _) = OutputFormat::compile("%proc.name %fd.name").unwrap();
        let fs: Vec<_> = f.fields().cloned().collect();
        assert_eq!(
            fs,
            vec![
                resolve("proc.name", None).unwrap(),
                resolve("fd.name", None).unwrap()
            ]
        );
    }

    #[test]
    fn transformers() {
        let ev = Ev::new(&[
            ("user.name", Value::string("Root")),
            ("fd.name", Value::string("/etc/shadow")),
            ("proc.name", Value::string("bash")),
            ("proc.cmdline", Value::string("aGVsbG8=")),
        ]);
        assert_eq!(render("u=%toupper(user.name)!", &ev), "u=ROOT!");
        assert_eq!(render("%tolower(user.name)", &ev), "root");
        assert_eq!(render("%basename(fd.name)", &ev), "shadow");
        assert_eq!(render("%len(fd.name)", &ev), "11");
        assert_eq!(render("%toupper(basename(fd.name))", &ev), "SHADOW");
        assert_eq!(render("%b64(proc.cmdline)", &ev), "hello");
        assert_eq!(render("%b64(fd.name)x", &ev), "<NA>x");
        assert_eq!(
            render("%concat(proc.name, \"-\", user.name)", &ev),
            "bash-Root"
        );
        assert_eq!(render("%8toupper(proc.name)|", &ev), "BASH    |");
        assert_eq!(render("%toupper(k8s.pod.name)", &ev), "<NA>");
        // Transformer calls contribute their inner fields as keys.
        assert_eq!(
            keys("%toupper(user.name) %len(basename(fd.name))"),
            vec!["user.name", "fd.name"]
        );
    }

    #[test]
    fn transformer_errors() {
        let e = OutputFormat::compile("%tolower(proc.aname)").unwrap_err();
        assert!(matches!(e, FormatError::NoTransformer { .. }), "{e:?}");
        let e = OutputFormat::compile("%tolower(proc.pid)").unwrap_err();
        assert!(e.to_string().contains("type INT64"), "{e}");
        let e = OutputFormat::compile("%tolower(fd.ip)").unwrap_err();
        assert!(matches!(
            e,
            FormatError::NoTransformer { .. } | FormatError::FilterOnly(_)
        ));
        let e = OutputFormat::compile("%tolower(proc.name").unwrap_err();
        assert!(e.to_string().contains("missing closing parenthesis"), "{e}");
        let e = OutputFormat::compile("%tolower(proc.name, user.name)").unwrap_err();
        assert!(e.to_string().contains("exactly one argument"), "{e}");
        let e = OutputFormat::compile("%join(\",\", proc.name)").unwrap_err();
        assert_eq!(e, FormatError::UnsupportedTransformer("join".into()));
        let e = OutputFormat::compile("%tolower(nosuch.field)").unwrap_err();
        assert!(matches!(e, FormatError::UnknownField { .. }));
        let e = OutputFormat::compile("%concat(proc.name)").unwrap_err();
        assert!(e.to_string().contains("at least two"), "{e}");
    }

    proptest::proptest! {
        /// Arbitrary format text never panics, and whatever compiles renders.
        #[test]
        fn compile_and_render_never_panic(text in "(%[0-9]{0,2}[a-z._\\[\\]()0-9,\"'é%]{0,12}|[ a-zé\\[\\]()]{0,4}){0,6}") {
            let ev = Ev::new(&[("proc.name", Value::string("x"))]);
            if let Ok((f, _)) = OutputFormat::compile(&text) {
                let _rendered = f.render_to_string(&ev);
            }
        }
    }

    #[test]
    fn non_transformer_call_is_a_field_then_text() {
        let ev = Ev::new(&[("proc.name", Value::string("cat"))]);
        assert_eq!(render("%proc.name(x)", &ev), "cat(x)");
    }
}
