//! The condition syntax tree (RULES.md §2), before fields are resolved.
//! Every node carries the position it was parsed at, so that errors found
//! later (unknown field, bad value) point into the source.

use super::ir::{CmpOp, Modifier};

/// Where a node was parsed: which condition text (`origin`, assigned by
/// the loader; 0 for [`super::parse_condition`]) and the byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Pos {
    /// Condition text the node comes from.
    pub origin: u32,
    /// Byte offset in that text.
    pub offset: u32,
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a and b and ...` (at least two children).
    And(Vec<Expr>, Pos),
    /// `a or b or ...` (at least two children).
    Or(Vec<Expr>, Pos),
    /// `not a`.
    Not(Box<Expr>, Pos),
    /// A macro reference.
    Ident(String, Pos),
    /// A check.
    Check(Box<Check>),
}

/// One `lhs op rhs` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Left side.
    pub lhs: Operand,
    /// Operator.
    pub op: CmpOp,
    /// Operator as written (`==` and `=` are both [`CmpOp::Eq`]).
    pub op_text: &'static str,
    /// `oneof` / `anyof` / `allof`.
    pub modifier: Option<Modifier>,
    /// Right side.
    pub rhs: Rhs,
    /// Position of the check (its left operand).
    pub pos: Pos,
}

/// A field, or a transformer applied to arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `name` or `name[arg]`.
    Field {
        /// Dotted name.
        name: String,
        /// Bracket argument.
        arg: Option<String>,
        /// Position.
        pos: Pos,
    },
    /// `name(args...)` optionally followed by `[index]`.
    Transform {
        /// Transformer name (`tolower`, `join`, ...).
        name: &'static str,
        /// Arguments.
        args: Vec<TrArg>,
        /// Bracket argument after the call (`getopt(...)[c]`).
        index: Option<String>,
        /// Position.
        pos: Pos,
    },
}

impl Operand {
    /// Position of the operand.
    pub fn pos(&self) -> Pos {
        match self {
            Operand::Field { pos, .. } | Operand::Transform { pos, .. } => *pos,
        }
    }
}

/// An argument of a transformer.
#[derive(Debug, Clone, PartialEq)]
pub enum TrArg {
    /// A field or nested transformer.
    Operand(Operand),
    /// A quoted string (unescaped).
    Str(String, Pos),
    /// A number token.
    Num(String, Pos),
    /// A parenthesised list.
    List(Vec<TrArg>, Pos),
}

/// Right side of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// `exists`.
    None,
    /// A quoted (unescaped) or bare string, or a number token.
    Value(String, Pos),
    /// `( v1, v2, ... )`.
    List(Vec<String>, Pos),
    /// An identifier given where a list is expected (an unknown list name:
    /// a one-value list).
    ListIdent(String, Pos),
    /// `val(field)`.
    Val(Operand, Pos),
    /// A transformer.
    Transform(Operand),
}

/// Falco's `escape_str`: a value containing blanks, quotes or backslashes
/// is written double-quoted with escapes; anything else as is.
pub fn escape_str(s: &str) -> String {
    let mut res = String::with_capacity(s.len() + 2);
    let mut quote = false;
    for c in s.chars() {
        match c {
            '\u{8}' => {
                quote = true;
                res.push_str("\\b")
            }
            '\u{c}' => {
                quote = true;
                res.push_str("\\f")
            }
            '\n' => {
                quote = true;
                res.push_str("\\n")
            }
            '\r' => {
                quote = true;
                res.push_str("\\r")
            }
            '\t' => {
                quote = true;
                res.push_str("\\t")
            }
            '\\' => {
                quote = true;
                res.push_str("\\\\")
            }
            '"' => {
                quote = true;
                res.push_str("\\\"")
            }
            ' ' | '\'' => {
                quote = true;
                res.push(c)
            }
            _ => res.push(c),
        }
    }
    if quote {
        format!("\"{res}\"")
    } else {
        res
    }
}

impl Expr {
    /// Position of the node.
    pub fn pos(&self) -> Pos {
        match self {
            Expr::And(_, p) | Expr::Or(_, p) | Expr::Not(_, p) | Expr::Ident(_, p) => *p,
            Expr::Check(c) => c.pos,
        }
    }

    /// Renders the expression as Falco's `ast::as_string` does (`and`/`or`
    /// in parentheses, values escaped), recording the offset of every check
    /// in depth-first order in `check_offsets`.
    pub fn render(&self, out: &mut String, check_offsets: &mut Vec<usize>) {
        match self {
            Expr::And(c, _) | Expr::Or(c, _) => {
                let op = if matches!(self, Expr::And(..)) {
                    " and "
                } else {
                    " or "
                };
                out.push('(');
                for (i, e) in c.iter().enumerate() {
                    if i > 0 {
                        out.push_str(op);
                    }
                    e.render(out, check_offsets);
                }
                out.push(')');
            }
            Expr::Not(e, _) => {
                out.push_str("not ");
                e.render(out, check_offsets);
            }
            Expr::Ident(s, _) => out.push_str(s),
            Expr::Check(c) => {
                check_offsets.push(out.len());
                render_operand(&c.lhs, out);
                out.push(' ');
                out.push_str(c.op_text);
                if let Some(m) = c.modifier {
                    out.push(' ');
                    out.push_str(match m {
                        Modifier::OneOf => "oneof",
                        Modifier::AnyOf => "anyof",
                        Modifier::AllOf => "allof",
                    });
                }
                match &c.rhs {
                    Rhs::None => {}
                    Rhs::Value(v, _) | Rhs::ListIdent(v, _) => {
                        out.push(' ');
                        out.push_str(&escape_str(v));
                    }
                    Rhs::List(vs, _) => {
                        out.push_str(" (");
                        for (i, v) in vs.iter().enumerate() {
                            if i > 0 {
                                out.push_str(", ");
                            }
                            out.push_str(&escape_str(v));
                        }
                        out.push(')');
                    }
                    Rhs::Val(o, _) => {
                        out.push_str(" val(");
                        render_operand(o, out);
                        out.push(')');
                    }
                    Rhs::Transform(o) => {
                        out.push(' ');
                        render_operand(o, out);
                    }
                }
            }
        }
    }

    /// The rendered text alone.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s, &mut Vec::new());
        s
    }
}

/// Renders an operand (`proc.aname[2]`, `tolower(proc.name)`).
pub fn render_operand(o: &Operand, out: &mut String) {
    match o {
        Operand::Field { name, arg, .. } => {
            out.push_str(name);
            if let Some(a) = arg {
                if !a.is_empty() {
                    out.push('[');
                    out.push_str(&escape_str(a));
                    out.push(']');
                }
            }
        }
        Operand::Transform {
            name, args, index, ..
        } => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_tr_arg(a, out);
            }
            out.push(')');
            if let Some(ix) = index {
                out.push('[');
                out.push_str(&escape_str(ix));
                out.push(']');
            }
        }
    }
}

fn render_tr_arg(a: &TrArg, out: &mut String) {
    match a {
        TrArg::Operand(o) => render_operand(o, out),
        TrArg::Str(s, _) => {
            let e = escape_str(s);
            if e.starts_with('"') {
                out.push_str(&e);
            } else {
                out.push('"');
                out.push_str(&e);
                out.push('"');
            }
        }
        TrArg::Num(n, _) => out.push_str(n),
        TrArg::List(items, _) => {
            out.push('(');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_tr_arg(x, out);
            }
            out.push(')');
        }
    }
}
