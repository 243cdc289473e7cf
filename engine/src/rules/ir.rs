//! The typed intermediate representation of a rule condition: what the
//! loader produces once lists are expanded, macros substituted, fields
//! resolved against the catalogue and literals parsed by field type
//! (RULES.md §2.1 steps 1-4). The matcher compiles it; the reference
//! interpreter evaluates it directly.
//!
//! Invariants the loader guarantees (so consumers need not re-check):
//! - every operator is allowed for the left-hand side's type (§3.2);
//! - literals have the representation of the left-hand side's type (§3.1);
//! - `Rhs::Field` appears only where field-to-field comparison is allowed
//!   (§3.14), `Modifier` only with string operators and a list (§3.12).

use std::net::IpAddr;

use crate::fields::{FieldRef, FieldType};

/// A boolean expression over checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All children hold (n-ary, at least one child).
    And(Vec<Expr>),
    /// Any child holds (n-ary, at least one child).
    Or(Vec<Expr>),
    /// The child does not hold. Never rewritten: `not (f = v)` differs from
    /// `f != v` when `f` is missing (§3.3).
    Not(Box<Expr>),
    /// A comparison.
    Check(Box<Check>),
}

/// One comparison `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Left-hand side.
    pub lhs: Operand,
    /// Operator.
    pub op: CmpOp,
    /// `oneof` / `anyof` / `allof`, with `rhs` a list.
    pub modifier: Option<Modifier>,
    /// Right-hand side.
    pub rhs: Rhs,
    /// Byte offset of the check in the expanded condition text, for
    /// diagnostics.
    pub offset: usize,
}

/// A field, possibly wrapped in transformers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A plain field.
    Field(FieldRef),
    /// A transformer applied to its arguments (§3.13).
    Transform(Transformer, Vec<TrArg>),
}

/// An argument of a transformer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrArg {
    /// A field or nested transformer.
    Operand(Operand),
    /// A quoted string or number literal.
    Literal(String),
    /// A parenthesised list (for `join`).
    List(Vec<TrArg>),
}

impl Operand {
    /// The type of the value this operand yields.
    pub fn ty(&self) -> FieldType {
        match self {
            Operand::Field(f) => f.def().ty,
            Operand::Transform(Transformer::Len, _) => FieldType::Uint64,
            Operand::Transform(Transformer::B64, _) => FieldType::ByteBuf,
            Operand::Transform(_, _) => FieldType::CharBuf,
        }
    }

    /// The field at the root of the operand (the first field argument of a
    /// transformer).
    pub fn field(&self) -> Option<&FieldRef> {
        match self {
            Operand::Field(f) => Some(f),
            Operand::Transform(_, args) => args.iter().find_map(|a| match a {
                TrArg::Operand(o) => o.field(),
                _ => None,
            }),
        }
    }
}

/// Transformers (§3.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transformer {
    /// ASCII lower case.
    ToLower,
    /// ASCII upper case.
    ToUpper,
    /// Base64 decode; undecodable input makes the value missing.
    B64,
    /// Text after the last `/`.
    Basename,
    /// Length (bytes, or elements of a list field).
    Len,
    /// `join(sep, list)`.
    Join,
    /// `concat(a, b, ...)`.
    Concat,
    /// `getopt(args, optstring)[c]`.
    Getopt,
}

/// Comparison operators (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=` / `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `contains`.
    Contains,
    /// `icontains`.
    IContains,
    /// `bcontains` (hex literal, decoded into `Literal::Bytes`).
    BContains,
    /// `startswith`.
    StartsWith,
    /// `bstartswith` (hex literal).
    BStartsWith,
    /// `endswith`.
    EndsWith,
    /// `glob`.
    Glob,
    /// `iglob`.
    IGlob,
    /// `regex` (anchored, §3.8).
    Regex,
    /// `pmatch` (path prefix, §3.7).
    PMatch,
    /// `in`.
    In,
    /// `intersects`.
    Intersects,
    /// `exists` (unary).
    Exists,
}

impl CmpOp {
    /// The operator as written in conditions.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Contains => "contains",
            CmpOp::IContains => "icontains",
            CmpOp::BContains => "bcontains",
            CmpOp::StartsWith => "startswith",
            CmpOp::BStartsWith => "bstartswith",
            CmpOp::EndsWith => "endswith",
            CmpOp::Glob => "glob",
            CmpOp::IGlob => "iglob",
            CmpOp::Regex => "regex",
            CmpOp::PMatch => "pmatch",
            CmpOp::In => "in",
            CmpOp::Intersects => "intersects",
            CmpOp::Exists => "exists",
        }
    }
}

/// List modifiers (§3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    /// Exactly one element matches.
    OneOf,
    /// At least one element matches.
    AnyOf,
    /// Every element matches.
    AllOf,
}

/// Right-hand side of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// `exists` has none.
    None,
    /// One literal.
    Value(Literal),
    /// A list (`in`, `intersects`, `pmatch`, modifiers). May be empty.
    List(Vec<Literal>),
    /// Another field of the same event (`val(f)` or a transformer).
    Field(Operand),
}

/// A literal, already converted to the left-hand side's type (§3.1).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// String fields (and the text of patterns: glob, regex, pmatch).
    Str(Vec<u8>),
    /// Binary fields; `bcontains`/`bstartswith` hex decoded.
    Bytes(Vec<u8>),
    /// Signed integer fields.
    I64(i64),
    /// Unsigned integer, time and port fields.
    U64(u64),
    /// `BOOL` fields.
    Bool(bool),
    /// `IPADDR` fields.
    Ip(IpAddr),
    /// `IPNET` fields (and `fd.net`): a network.
    Net(IpNet),
}

/// An IP network `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies inside the network (different families never do).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_contains() {
        let n = IpNet {
            addr: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        let all = IpNet {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("1.2.3.4".parse().unwrap()));
    }
}
