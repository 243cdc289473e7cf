//! Compilation of a macro-resolved condition AST to the typed IR
//! (RULES.md §3): field resolution, operator/type compatibility, literal
//! typing, transformer and field-to-field rules, evt.type validation, and
//! the event-type set of §6.6.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use super::ast::{self, Pos, Rhs as ARhs, TrArg as ATrArg};
use super::diag::WarningCode;
use super::ir::{self, CmpOp, IpNet, Literal, Transformer};
use crate::fields::{self, flag, FieldRef, FieldType, ResolveError};

/// A compile error at a position of the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Message.
    pub message: String,
    /// Where.
    pub pos: Pos,
    /// Unknown field or event type: downgraded to a warning under
    /// `skip-if-unknown-filter`.
    pub unknown: bool,
}

/// A compile warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileWarning {
    /// `LOAD_COMPILE_CONDITION` or `LOAD_DEPRECATED_ITEM`.
    pub code: WarningCode,
    /// Message.
    pub message: String,
    /// Where.
    pub pos: Pos,
}

type R<T> = Result<T, CompileError>;

fn err(message: impl Into<String>, pos: Pos) -> CompileError {
    CompileError {
        message: message.into(),
        pos,
        unknown: false,
    }
}

/// Compiles `e`. `check_offsets` are the offsets of the checks in the
/// rendered condition, in depth-first order (see [`ast::Expr::render`]).
pub fn compile(
    e: &ast::Expr,
    check_offsets: &[usize],
    warnings: &mut Vec<CompileWarning>,
) -> R<ir::Expr> {
    let mut c = Compiler {
        offsets: check_offsets,
        next: 0,
        warnings,
    };
    c.expr(e)
}

struct Compiler<'a> {
    offsets: &'a [usize],
    next: usize,
    warnings: &'a mut Vec<CompileWarning>,
}

fn type_kind(ty: FieldType) -> &'static str {
    match ty {
        FieldType::CharBuf => "string",
        FieldType::ByteBuf => "buffer",
        FieldType::Bool => "bool",
        FieldType::IpAddr => "ip address",
        FieldType::IpNet => "ip network",
        _ => "numeric",
    }
}

/// Whether `op` may be applied to a value of type `ty` (§3.2).
pub fn op_allowed(op: CmpOp, ty: FieldType, is_list: bool) -> bool {
    use CmpOp::*;
    if is_list {
        return matches!(op, Exists | In | Intersects);
    }
    match op {
        Exists | In | Intersects | Eq | Ne => true,
        Lt | Le | Gt | Ge => ty == FieldType::CharBuf || ty.is_numeric(),
        Contains | StartsWith | EndsWith => matches!(ty, FieldType::CharBuf | FieldType::ByteBuf),
        IContains | Glob | IGlob | Regex | PMatch => ty == FieldType::CharBuf,
        BContains | BStartsWith => ty == FieldType::ByteBuf,
    }
}

fn field_text(name: &str, arg: &Option<String>) -> String {
    match arg {
        Some(a) => format!("{name}[{a}]"),
        None => name.to_string(),
    }
}

impl Compiler<'_> {
    fn expr(&mut self, e: &ast::Expr) -> R<ir::Expr> {
        Ok(match e {
            ast::Expr::And(c, _) => {
                ir::Expr::And(c.iter().map(|x| self.expr(x)).collect::<R<Vec<_>>>()?)
            }
            ast::Expr::Or(c, _) => {
                ir::Expr::Or(c.iter().map(|x| self.expr(x)).collect::<R<Vec<_>>>()?)
            }
            ast::Expr::Not(x, _) => ir::Expr::Not(Box::new(self.expr(x)?)),
            ast::Expr::Ident(name, pos) => {
                return Err(err(
                    format!("filter error: unexpected identifier '{name}'"),
                    *pos,
                ))
            }
            ast::Expr::Check(c) => {
                let offset = self.offsets.get(self.next).copied().unwrap_or(0);
                self.next += 1;
                ir::Expr::Check(Box::new(self.check(c, offset)?))
            }
        })
    }

    fn warn(&mut self, code: WarningCode, message: String, pos: Pos) {
        self.warnings.push(CompileWarning { code, message, pos });
    }

    fn field(&mut self, name: &str, arg: &Option<String>, pos: Pos) -> R<FieldRef> {
        let r = fields::resolve(name, arg.as_deref()).map_err(|e| {
            let full = field_text(name, arg);
            match e {
                ResolveError::Unknown(_) => CompileError {
                    message: format!("filter_check called with nonexistent field {full}"),
                    pos,
                    unknown: true,
                },
                ResolveError::UnknownParam(p) => CompileError {
                    message: format!(
                        "filter_check called with nonexistent field {full}: unknown event argument '{p}'"
                    ),
                    pos,
                    unknown: true,
                },
                ResolveError::Unavailable { reason, .. } => CompileError {
                    message: format!(
                        "filter_check called with field {full}, which kestrel does not provide: {reason}"
                    ),
                    pos,
                    unknown: true,
                },
                other => err(other.to_string(), pos),
            }
        })?;
        if r.def().has(flag::DEPRECATED) {
            self.warn(
                WarningCode::DeprecatedItem,
                format!(
                    "usage of deprecated field '{}' has been detected in the rule condition",
                    r.def().name
                ),
                pos,
            );
        }
        Ok(r)
    }

    fn operand(&mut self, o: &ast::Operand) -> R<ir::Operand> {
        match o {
            ast::Operand::Field { name, arg, pos } => {
                Ok(ir::Operand::Field(self.field(name, arg, *pos)?))
            }
            ast::Operand::Transform {
                name,
                args,
                index,
                pos,
            } => self.transformer(name, args, index, *pos),
        }
    }

    fn transformer_input(&mut self, tname: &str, a: &ATrArg, pos: Pos) -> R<ir::Operand> {
        let ATrArg::Operand(o) = a else {
            return Err(err(
                format!(
                    "transformer '{tname}' expects a field or a nested transformer as argument"
                ),
                pos,
            ));
        };
        let op = self.operand(o)?;
        if let ir::Operand::Field(f) = &op {
            if f.def().has(flag::NO_TRANSFORMER) {
                return Err(err(
                    format!("field '{}' does not support transformers", f.text()),
                    o.pos(),
                ));
            }
        }
        Ok(op)
    }

    fn transformer(
        &mut self,
        name: &str,
        args: &[ATrArg],
        index: &Option<String>,
        pos: Pos,
    ) -> R<ir::Operand> {
        let t = match name {
            "tolower" => Transformer::ToLower,
            "toupper" => Transformer::ToUpper,
            "b64" => Transformer::B64,
            "basename" => Transformer::Basename,
            "len" => Transformer::Len,
            "join" => Transformer::Join,
            "concat" => Transformer::Concat,
            "getopt" => Transformer::Getopt,
            other => return Err(err(format!("unknown transformer '{other}'"), pos)),
        };
        if index.is_some() && t != Transformer::Getopt {
            return Err(err(
                format!("transformer '{name}' does not accept an argument in brackets"),
                pos,
            ));
        }
        match t {
            Transformer::ToLower
            | Transformer::ToUpper
            | Transformer::B64
            | Transformer::Basename
            | Transformer::Len => {
                if args.len() != 1 {
                    return Err(err(
                        format!("transformer '{name}' takes exactly one argument"),
                        pos,
                    ));
                }
                let input = self.transformer_input(name, &args[0], pos)?;
                let ty = input.ty();
                let is_list = matches!(&input, ir::Operand::Field(f) if f.def().has(flag::LIST));
                let ok = match t {
                    Transformer::B64 => {
                        matches!(ty, FieldType::CharBuf | FieldType::ByteBuf) && !is_list
                    }
                    Transformer::Len => {
                        matches!(ty, FieldType::CharBuf | FieldType::ByteBuf) || is_list
                    }
                    _ => ty == FieldType::CharBuf && !is_list,
                };
                if !ok {
                    return Err(err(
                        format!(
                            "transformer '{name}' is not supported on {} values",
                            ty.falco_name()
                        ),
                        pos,
                    ));
                }
                Ok(ir::Operand::Transform(t, vec![ir::TrArg::Operand(input)]))
            }
            Transformer::Concat => {
                if args.len() < 2 {
                    return Err(err(
                        "transformer 'concat' takes at least two arguments",
                        pos,
                    ));
                }
                let mut out = Vec::with_capacity(args.len());
                for a in args {
                    out.push(match a {
                        ATrArg::Str(s, _) => ir::TrArg::Literal(s.clone()),
                        ATrArg::Num(n, _) => ir::TrArg::Literal(n.clone()),
                        ATrArg::Operand(_) => {
                            let o = self.transformer_input(name, a, pos)?;
                            if o.ty() != FieldType::CharBuf {
                                return Err(err(
                                    "transformer 'concat' only accepts string arguments",
                                    pos,
                                ));
                            }
                            ir::TrArg::Operand(o)
                        }
                        ATrArg::List(..) => {
                            return Err(err("transformer 'concat' does not accept lists", pos))
                        }
                    });
                }
                Ok(ir::Operand::Transform(t, out))
            }
            Transformer::Join => {
                let [sep, list] = args else {
                    return Err(err(
                        "transformer 'join' takes a separator and a list of values",
                        pos,
                    ));
                };
                let sep = match sep {
                    ATrArg::Str(s, _) | ATrArg::Num(s, _) => ir::TrArg::Literal(s.clone()),
                    _ => {
                        return Err(err(
                            "transformer 'join' expects a quoted separator as first argument",
                            pos,
                        ))
                    }
                };
                let list = match list {
                    ATrArg::List(items, _) => {
                        let mut out = Vec::new();
                        for i in items {
                            out.push(match i {
                                ATrArg::Str(s, _) | ATrArg::Num(s, _) => {
                                    ir::TrArg::Literal(s.clone())
                                }
                                ATrArg::Operand(_) => {
                                    ir::TrArg::Operand(self.transformer_input(name, i, pos)?)
                                }
                                ATrArg::List(..) => {
                                    return Err(err("nested lists are not supported", pos))
                                }
                            });
                        }
                        ir::TrArg::List(out)
                    }
                    ATrArg::Operand(_) => {
                        ir::TrArg::Operand(self.transformer_input(name, list, pos)?)
                    }
                    _ => {
                        return Err(err(
                            "transformer 'join' expects a list or a field as second argument",
                            pos,
                        ))
                    }
                };
                Ok(ir::Operand::Transform(t, vec![sep, list]))
            }
            Transformer::Getopt => {
                let [input, optstring] = args else {
                    return Err(err(
                        "transformer 'getopt' takes an argument list and an option string",
                        pos,
                    ));
                };
                let input = self.transformer_input(name, input, pos)?;
                if input.ty() != FieldType::CharBuf {
                    return Err(err("transformer 'getopt' expects a string field", pos));
                }
                let ATrArg::Str(opts, _) = optstring else {
                    return Err(err(
                        "transformer 'getopt' expects a quoted option string",
                        pos,
                    ));
                };
                match index {
                    Some(ix) if ix.chars().count() == 1 => {}
                    _ => {
                        return Err(err(
                            "transformer 'getopt' requires the option letter in brackets: getopt(args, \"optstring\")[c]",
                            pos,
                        ))
                    }
                }
                let ix = index.clone().unwrap_or_default();
                Ok(ir::Operand::Transform(
                    t,
                    vec![
                        ir::TrArg::Operand(input),
                        ir::TrArg::Literal(opts.clone()),
                        ir::TrArg::Literal(ix),
                    ],
                ))
            }
        }
    }

    fn check(&mut self, c: &ast::Check, offset: usize) -> R<ir::Check> {
        let lhs = self.operand(&c.lhs)?;
        let ty = lhs.ty();
        let (is_list, lhs_flags) = match &lhs {
            ir::Operand::Field(f) => (f.def().has(flag::LIST), f.def().flags),
            ir::Operand::Transform(..) => (false, 0),
        };
        if !op_allowed(c.op, ty, is_list) {
            let kind = if is_list { "list" } else { type_kind(ty) };
            return Err(err(
                format!("'{}' operator not supported for {kind} filters", c.op_text),
                c.pos,
            ));
        }
        let evt_type_field = matches!(&c.lhs, ast::Operand::Field { name, arg: None, .. }
            if name == "evt.type" || name == "syscall.type");
        if let Some(_m) = c.modifier {
            if is_list {
                return Err(err("modifiers are not supported on list fields", c.pos));
            }
        }
        let rhs = match &c.rhs {
            ARhs::None => ir::Rhs::None,
            ARhs::Value(v, pos) => {
                self.value_warnings(v, *pos);
                if evt_type_field {
                    self.check_event_name(v, *pos)?;
                }
                ir::Rhs::Value(self.literal(v, ty, c.op, *pos)?)
            }
            ARhs::List(vs, pos) => {
                let mut out = Vec::with_capacity(vs.len());
                for v in vs {
                    self.value_warnings(v, *pos);
                    if evt_type_field {
                        self.check_event_name(v, *pos)?;
                    }
                    out.push(self.literal(v, ty, c.op, *pos)?);
                }
                ir::Rhs::List(out)
            }
            ARhs::ListIdent(v, pos) => {
                if evt_type_field {
                    self.check_event_name(v, *pos)?;
                }
                ir::Rhs::List(vec![self.literal(v, ty, c.op, *pos)?])
            }
            ARhs::Val(o, pos) | ARhs::Transform(o @ ast::Operand::Transform { pos, .. }) => {
                self.field_to_field(c, &lhs, lhs_flags, o, *pos)?
            }
            ARhs::Transform(o) => self.field_to_field(c, &lhs, lhs_flags, o, o.pos())?,
        };
        Ok(ir::Check {
            lhs,
            op: c.op,
            modifier: c.modifier,
            rhs,
            offset,
        })
    }

    fn field_to_field(
        &mut self,
        c: &ast::Check,
        lhs: &ir::Operand,
        lhs_flags: u32,
        o: &ast::Operand,
        pos: Pos,
    ) -> R<ir::Rhs> {
        if matches!(c.op, CmpOp::PMatch | CmpOp::Regex) {
            return Err(err(
                format!(
                    "'{}' operator not supported with a field as right-hand side",
                    c.op_text
                ),
                pos,
            ));
        }
        if lhs.ty() == FieldType::IpNet {
            return Err(err(
                "field-to-field comparison is not supported for ip network fields",
                pos,
            ));
        }
        if lhs_flags & flag::NO_RHS != 0 {
            if let Some(f) = lhs.field() {
                return Err(err(
                    format!(
                        "field '{}' does not support field-to-field comparison",
                        f.text()
                    ),
                    c.pos,
                ));
            }
        }
        let r = self.operand(o)?;
        if let ir::Operand::Field(f) = &r {
            if f.def().has(flag::NO_RHS) {
                return Err(err(
                    format!("field '{}' cannot be used as a right-hand side", f.text()),
                    pos,
                ));
            }
        }
        let (lt, rt) = (lhs.ty(), r.ty());
        if !(lt == rt || (lt.is_numeric() && rt.is_numeric())) {
            return Err(err(
                format!(
                    "field-to-field comparison between incompatible types {} and {}",
                    lt.falco_name(),
                    rt.falco_name()
                ),
                pos,
            ));
        }
        Ok(ir::Rhs::Field(r))
    }

    fn check_event_name(&mut self, v: &str, pos: Pos) -> R<()> {
        if crate::event::table::is_known_event_name(v) {
            if let Some(why) = crate::event::table::uncapturable_reason(v) {
                self.warn(
                    WarningCode::CompileCondition,
                    format!(
                        "event type '{v}' {why}: kestrel cannot capture it, so this comparison never matches an event of that type"
                    ),
                    pos,
                );
            }
            Ok(())
        } else {
            Err(CompileError {
                message: format!("unknown event type {v}"),
                pos,
                unknown: true,
            })
        }
    }

    fn value_warnings(&mut self, v: &str, pos: Pos) {
        if looks_like_transformer(v) {
            self.warn(
                WarningCode::CompileCondition,
                format!(
                    "string '{v}' may be a valid field transformer misused as a const string value"
                ),
                pos,
            );
        } else if looks_like_field(v) {
            self.warn(
                WarningCode::CompileCondition,
                format!("string '{v}' may be a valid field misused as a const string value"),
                pos,
            );
        }
    }

    fn literal(&mut self, v: &str, ty: FieldType, op: CmpOp, pos: Pos) -> R<Literal> {
        let e = |m: String| err(m, pos);
        Ok(match ty {
            FieldType::CharBuf => {
                if op == CmpOp::Regex {
                    if let Err(re) = regex::Regex::new(v) {
                        let detail = re.to_string();
                        let last = detail.lines().last().unwrap_or("").trim();
                        return Err(e(format!("invalid regex pattern '{v}': {last}")));
                    }
                    if regex_could_be_simpler(v) {
                        self.warn(
                            WarningCode::CompileCondition,
                            format!(
                                "regex pattern '{v}' contains no special characters and could be simpler: consider the '=', 'contains', 'startswith' or 'endswith' operators"
                            ),
                            pos,
                        );
                    }
                }
                Literal::Str(v.as_bytes().to_vec())
            }
            FieldType::ByteBuf => {
                if matches!(op, CmpOp::BContains | CmpOp::BStartsWith) {
                    Literal::Bytes(unhex(v).ok_or_else(|| {
                        e("filter error: bcontains and bstartswith operator support hex strings only".into())
                    })?)
                } else {
                    Literal::Bytes(v.as_bytes().to_vec())
                }
            }
            FieldType::Bool => match v {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                _ => return Err(e(format!("unrecognized boolean value '{v}'"))),
            },
            FieldType::Int64 => Literal::I64(
                parse_int(v)
                    .and_then(|x| i64::try_from(x).ok())
                    .ok_or_else(|| e(format!("{v} is not a valid number")))?,
            ),
            FieldType::Uint32 => Literal::U64(
                parse_int(v)
                    .and_then(|x| {
                        if x < 0 {
                            // sscanf("%u") wraps negative input.
                            (x >= -(u32::MAX as i128)).then_some((x as i64 as u32) as u64)
                        } else {
                            u32::try_from(x).ok().map(u64::from)
                        }
                    })
                    .ok_or_else(|| e(format!("{v} is not a valid number")))?,
            ),
            FieldType::Uint64 | FieldType::RelTime | FieldType::AbsTime => Literal::U64(
                parse_int(v)
                    .and_then(|x| {
                        if x < 0 {
                            i64::try_from(x).ok().map(|y| y as u64)
                        } else {
                            u64::try_from(x).ok()
                        }
                    })
                    .ok_or_else(|| e(format!("{v} is not a valid number")))?,
            ),
            FieldType::Port => Literal::U64(u64::from(
                parse_port(v).ok_or_else(|| e(format!("unrecognized protocol {v}")))?,
            )),
            FieldType::IpAddr => Literal::Ip(parse_ip(v).map_err(e)?),
            FieldType::IpNet => Literal::Net(parse_net(v).map_err(e)?),
        })
    }
}

/// `sscanf("%ld")`-like: optional sign and decimal digits, nothing else.
fn parse_int(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) || digits.len() > 30 {
        return None;
    }
    let v: i128 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn services() -> &'static HashMap<String, u16> {
    static S: OnceLock<HashMap<String, u16>> = OnceLock::new();
    S.get_or_init(|| {
        let mut m = HashMap::new();
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let mut parts = line.split_whitespace();
                let (Some(name), Some(port)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let Some(p) = port.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
                    continue;
                };
                m.entry(name.to_string()).or_insert(p);
                for alias in parts {
                    m.entry(alias.to_string()).or_insert(p);
                }
            }
        }
        m
    })
}

fn parse_port(v: &str) -> Option<u16> {
    if v.is_empty() {
        return Some(0);
    }
    if v.bytes().all(|c| c.is_ascii_digit()) {
        return v.parse().ok();
    }
    services().get(v).copied()
}

fn parse_ip(v: &str) -> Result<IpAddr, String> {
    if v.contains('.') {
        v.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| format!("unrecognized IPv4 address {v}"))
    } else {
        v.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("unrecognized IPv6 address {v}"))
    }
}

fn parse_net(v: &str) -> Result<IpNet, String> {
    let Some((a, n)) = v.split_once('/') else {
        return Err(format!("unrecognized IP network {v}"));
    };
    let addr = if a.contains(':') {
        IpAddr::V6(
            a.parse::<Ipv6Addr>()
                .map_err(|_| format!("unrecognized IP network {v}"))?,
        )
    } else {
        IpAddr::V4(
            a.parse::<Ipv4Addr>()
                .map_err(|_| format!("unrecognized IP network {v}"))?,
        )
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = n
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("invalid netmask {v}"))?;
    Ok(IpNet { addr, prefix })
}

fn unhex(v: &str) -> Option<Vec<u8>> {
    let b = v.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|c| {
            let h = (c[0] as char).to_digit(16)?;
            let l = (c[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

fn looks_like_field(v: &str) -> bool {
    let (name, arg) = match v.find('[') {
        Some(i) if v.ends_with(']') => (&v[..i], Some(&v[i + 1..v.len() - 1])),
        _ => (v, None),
    };
    let segs: Vec<&str> = name.split('.').collect();
    if segs.len() < 2
        || !segs.iter().all(|s| {
            s.as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        })
    {
        return false;
    }
    fields::resolve(name, arg).is_ok()
}

fn looks_like_transformer(v: &str) -> bool {
    let Some(open) = v.find('(') else {
        return false;
    };
    let name = &v[..open];
    (name == "val" || super::parser::TRANSFORMERS.contains(&name))
        && v.trim_end().ends_with(')')
        && looks_like_field(v[open + 1..v.trim_end().len() - 1].trim())
}

/// True when a regex has no metacharacters apart from an optional leading
/// `^` or `.*`/`.+`/`.?` and a trailing `$` or `.*`/`.+`/`.?`.
fn regex_could_be_simpler(p: &str) -> bool {
    let mut s = p;
    if let Some(r) = s.strip_prefix('^') {
        s = r;
    } else if let Some(r) = s
        .strip_prefix(".*")
        .or_else(|| s.strip_prefix(".+"))
        .or_else(|| s.strip_prefix(".?"))
    {
        s = r;
    }
    if let Some(r) = s.strip_suffix('$') {
        s = r;
    } else if let Some(r) = s
        .strip_suffix(".*")
        .or_else(|| s.strip_suffix(".+"))
        .or_else(|| s.strip_suffix(".?"))
    {
        s = r;
    }
    !s.is_empty()
        && !s.chars().any(|c| {
            matches!(
                c,
                '.' | '[' | ']' | '{' | '}' | '(' | ')' | '*' | '+' | '?' | '|' | '^' | '$' | '\\'
            )
        })
}

// ---- event types (§6.6)

/// Every name `evt.type` can be compared with, sorted: the universe of
/// event-type sets.
pub fn event_universe() -> &'static [&'static str] {
    static U: OnceLock<Vec<&'static str>> = OnceLock::new();
    U.get_or_init(|| {
        let mut v: BTreeSet<&'static str> = BTreeSet::new();
        for e in crate::event::EVENTS {
            v.insert(e.name);
        }
        for (n, _) in crate::event::syscalls::SYSCALLS_X86_64 {
            v.insert(n);
        }
        for n in ["container", "signaldeliver", "switch", "pluginevent"] {
            v.insert(n);
        }
        for (n, _) in crate::event::table::FALCO_SYSCALL_ALIASES {
            v.insert(n);
        }
        for n in crate::event::table::FALCO_OTHER_ARCH {
            v.insert(n);
        }
        v.into_iter().collect()
    })
}

/// A set of event types over [`event_universe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSet(Vec<u64>);

impl TypeSet {
    fn full() -> Self {
        let n = event_universe().len();
        let mut v = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64) {
            *v.last_mut().expect("non-empty") = (1u64 << (n % 64)) - 1;
        }
        TypeSet(v)
    }

    fn empty() -> Self {
        TypeSet(vec![0; event_universe().len().div_ceil(64)])
    }

    fn complement(&self) -> Self {
        let f = TypeSet::full();
        TypeSet(self.0.iter().zip(&f.0).map(|(a, m)| !a & m).collect())
    }

    fn and(&self, o: &Self) -> Self {
        TypeSet(self.0.iter().zip(&o.0).map(|(a, b)| a & b).collect())
    }

    fn or(&self, o: &Self) -> Self {
        TypeSet(self.0.iter().zip(&o.0).map(|(a, b)| a | b).collect())
    }

    /// Number of types.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether no type is in the set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every type is in the set.
    pub fn is_full(&self) -> bool {
        *self == TypeSet::full()
    }

    /// The names in the set, sorted.
    pub fn names(&self) -> BTreeSet<String> {
        event_universe()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0[i / 64] & (1 << (i % 64)) != 0)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let u = event_universe();
        let mut s = TypeSet::empty();
        for n in names {
            if let Ok(i) = u.binary_search(&n) {
                s.0[i / 64] |= 1 << (i % 64);
            }
        }
        s
    }
}

/// The event-type set of a macro-resolved condition (§6.6).
pub fn event_types(e: &ast::Expr) -> Result<TypeSet, CompileError> {
    types_of(e, false)
}

fn types_of(e: &ast::Expr, negated: bool) -> Result<TypeSet, CompileError> {
    match e {
        ast::Expr::And(c, _) | ast::Expr::Or(c, _) => {
            let is_and = matches!(e, ast::Expr::And(..)) != negated;
            let mut acc: Option<TypeSet> = None;
            for x in c {
                let s = types_of(x, negated)?;
                acc = Some(match acc {
                    None => s,
                    Some(a) if is_and => a.and(&s),
                    Some(a) => a.or(&s),
                });
            }
            Ok(acc.unwrap_or_else(TypeSet::full))
        }
        ast::Expr::Not(x, _) => types_of(x, !negated),
        ast::Expr::Ident(..) => Ok(TypeSet::full()),
        ast::Expr::Check(c) => {
            let relevant =
                matches!(c.op, CmpOp::Eq | CmpOp::Ne | CmpOp::In) && c.modifier.is_none();
            let is_evt_type = |o: &ast::Operand| {
                matches!(o, ast::Operand::Field { name, arg: None, .. }
                    if name == "evt.type" || name == "syscall.type")
            };
            match &c.lhs {
                ast::Operand::Transform { args, .. } if relevant => {
                    if args
                        .iter()
                        .any(|a| matches!(a, ATrArg::Operand(o) if is_evt_type(o)))
                    {
                        return Err(err(
                            "field transformers are not supported on evt.type in event-type checks",
                            c.pos,
                        ));
                    }
                    Ok(TypeSet::full())
                }
                lhs if relevant && is_evt_type(lhs) => {
                    let base = match &c.rhs {
                        ARhs::Value(v, _) | ARhs::ListIdent(v, _) => {
                            TypeSet::from_names(std::iter::once(v.as_str()))
                        }
                        ARhs::List(vs, _) => TypeSet::from_names(vs.iter().map(|s| s.as_str())),
                        _ => return Ok(TypeSet::full()),
                    };
                    let base = if c.op == CmpOp::Ne {
                        base.complement()
                    } else {
                        base
                    };
                    Ok(if negated { base.complement() } else { base })
                }
                _ => Ok(TypeSet::full()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parser::parse_condition;

    fn comp(s: &str) -> Result<(ir::Expr, Vec<CompileWarning>), CompileError> {
        let e = parse_condition(s).unwrap();
        let mut offs = Vec::new();
        e.render(&mut String::new(), &mut offs);
        let mut w = Vec::new();
        compile(&e, &offs, &mut w).map(|x| (x, w))
    }

    fn cerr(s: &str) -> String {
        comp(s).unwrap_err().message
    }

    fn types(s: &str) -> Vec<String> {
        event_types(&parse_condition(s).unwrap())
            .unwrap()
            .names()
            .into_iter()
            .collect()
    }

    #[test]
    fn literal_typing() {
        assert!(comp("fd.num=-1 and proc.duration <= 5000000000 and proc.tty != 0").is_ok());
        assert_eq!(cerr("fd.num>=0x10"), "0x10 is not a valid number");
        assert_eq!(cerr("fd.num = 1.5"), "1.5 is not a valid number");
        assert_eq!(cerr("user.uid = root"), "root is not a valid number");
        assert_eq!(
            cerr("container.privileged = yes"),
            "unrecognized boolean value 'yes'"
        );
        assert!(comp("container.privileged = true").is_ok());
        assert_eq!(cerr("fd.sip = 1.2.3"), "unrecognized IPv4 address 1.2.3");
        assert!(comp("fd.sip = 169.254.169.254 and fd.cip in (\"::1\")").is_ok());
        assert!(comp("fd.snet in (\"10.0.0.0/8\", \"172.16.0.0/12\")").is_ok());
        assert_eq!(
            cerr("fd.snet = 10.0.0.0"),
            "unrecognized IP network 10.0.0.0"
        );
        assert_eq!(cerr("fd.snet = 10.0.0.0/33"), "invalid netmask 10.0.0.0/33");
        assert!(comp("evt.buffer bcontains cafebabe").is_ok());
        assert!(cerr("evt.buffer bcontains cafebab").contains("hex strings only"));
        assert!(cerr("evt.buffer bcontains zz").contains("hex strings only"));
        assert_eq!(
            cerr("proc.name bcontains cafe"),
            "'bcontains' operator not supported for string filters"
        );
        assert_eq!(
            cerr("fd.num contains 1"),
            "'contains' operator not supported for numeric filters"
        );
        assert_eq!(
            cerr("proc.nme = x"),
            "filter_check called with nonexistent field proc.nme"
        );
        assert!(comp("proc.nme = x").unwrap_err().unknown);
        assert_eq!(
            cerr("fd.sport = nosuchservice"),
            "unrecognized protocol nosuchservice"
        );
        assert!(comp("fd.sport = 443 and fd.sport = \"\"").is_ok());
    }

    #[test]
    fn ports_resolve_service_names() {
        if services().contains_key("https") {
            let (e, _) = comp("fd.sport = https").unwrap();
            let ir::Expr::Check(c) = e else { panic!() };
            assert_eq!(c.rhs, ir::Rhs::Value(Literal::U64(443)));
        }
    }

    #[test]
    fn evt_type_and_regex() {
        assert_eq!(
            cerr("evt.type = nosuchcall"),
            "unknown event type nosuchcall"
        );
        assert!(comp("evt.type = nosuchcall").unwrap_err().unknown);
        // Known but not capturable names compile with a warning naming them.
        let (_, w) = comp("evt.type in (open, umount, uselib)").unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0]
            .message
            .contains("'umount' is not a system call on x86_64"));
        assert!(w[1].message.contains("'uselib'"));
        let (_, w) = comp("evt.type in (read, kill, pread)").unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert!(cerr("proc.name regex \"(\"").starts_with("invalid regex pattern"));
        let (_, w) = comp("proc.name regex \"^bash$\"").unwrap();
        assert_eq!(w.len(), 1);
        let (_, w) = comp("proc.name regex \"ba[sh]+\"").unwrap();
        assert!(w.is_empty());
        let (_, w) = comp("proc.name = proc.pname").unwrap();
        assert!(w[0].message.contains("may be a valid field misused"));
        let (_, w) = comp("proc.name = \"tolower(proc.name)\"").unwrap();
        assert!(w[0].message.contains("transformer misused"));
        let (_, w) = comp("evt.dir = <").unwrap();
        assert_eq!(w[0].code, WarningCode::DeprecatedItem);
    }

    #[test]
    fn transformers_and_field_to_field() {
        assert!(comp("tolower(proc.name) = bash and basename(proc.exepath) = x").is_ok());
        assert!(comp("len(proc.args) > 3 and b64(proc.args) = x").is_ok());
        assert!(cerr("tolower(proc.aname) = x").contains("does not support transformers"));
        assert!(cerr("tolower(fd.num) = x").contains("not supported"));
        assert!(comp("proc.name = val(proc.pname)").is_ok());
        assert!(cerr("proc.name pmatch val(proc.pname)").contains("pmatch"));
        assert!(cerr("proc.name = val(fd.num)").contains("incompatible"));
        assert!(cerr("proc.name = val(proc.aname)").contains("right-hand side"));
        assert!(cerr("fd.snet = val(fd.sip)").contains("ip network"));
        assert!(comp("concat(proc.name, \"x\") = bashx").is_ok());
        assert!(comp("join(\",\", (proc.name, proc.pname)) = a").is_ok());
        assert!(comp("getopt(proc.args, \"ab:\")[b] = x").is_ok());
        assert!(cerr("getopt(proc.args, \"ab:\") = x").contains("option letter"));
        assert!(comp("proc.name startswith anyof (a, b)").is_ok());
        assert!(cerr("fd.num contains anyof (1)").contains("not supported"));
        assert!(comp("fd.sip = anyof (\"1.2.3.4\")").is_ok());
    }

    #[test]
    fn event_type_sets() {
        assert_eq!(
            types("evt.type in (open, openat) and proc.name = x"),
            ["open", "openat"]
        );
        assert_eq!(
            types("evt.type = open or evt.type = connect"),
            ["connect", "open"]
        );
        let all = event_universe().len();
        assert_eq!(types("proc.name = x").len(), all);
        assert_eq!(types("not evt.type in (open)").len(), all - 1);
        assert_eq!(types("evt.type != open").len(), all - 1);
        assert_eq!(
            types("not (evt.type != open and evt.type != close)"),
            ["close", "open"]
        );
        assert_eq!(types("not proc.name = x").len(), all);
        assert_eq!(types("evt.type exists and evt.type = open"), ["open"]);
        assert!(types("evt.type = open and evt.type = close").is_empty());
        assert!(event_types(&parse_condition("tolower(evt.type) = open").unwrap()).is_err());
    }
}
