//! The condition parser (RULES.md §2): a hand-written recursive-descent
//! parser with Falco's lexical quirks (keywords and operators matched as
//! literal prefixes, the glued `or(`, escapes, bare strings) and its error
//! messages.

use super::ast::{Check, Expr, Operand, Pos, Rhs, TrArg};
use super::ir::{CmpOp, Modifier};

/// Falco's parser nesting limit (upstream rule_loader_compiler.cpp).
pub const MAX_DEPTH: u32 = 1000;

/// A syntax error in a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Falco's message.
    pub message: String,
    /// Byte offset in the condition where parsing stopped.
    pub offset: usize,
}

/// Transformer names accepted before `(`, in the order error messages list
/// them (with `val`).
pub const TRANSFORMERS: [&str; 8] = [
    "tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt",
];

const STR_WORD_OPS: [(&str, CmpOp); 9] = [
    ("glob", CmpOp::Glob),
    ("iglob", CmpOp::IGlob),
    ("contains", CmpOp::Contains),
    ("icontains", CmpOp::IContains),
    ("bcontains", CmpOp::BContains),
    ("startswith", CmpOp::StartsWith),
    ("bstartswith", CmpOp::BStartsWith),
    ("endswith", CmpOp::EndsWith),
    ("regex", CmpOp::Regex),
];

fn transformer_list() -> String {
    let mut s = String::from("'val'");
    for t in TRANSFORMERS {
        s.push_str(", '");
        s.push_str(t);
        s.push('\'');
    }
    s
}

fn operator_list() -> String {
    [
        "exists",
        "<=",
        "<",
        ">=",
        ">",
        "==",
        "=",
        "!=",
        "glob",
        "iglob",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "regex",
        "intersects",
        "in",
        "pmatch",
    ]
    .iter()
    .map(|o| format!("'{o}'"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// Every comparison operator as written in conditions and exception comps.
pub fn supported_operators() -> &'static [&'static str] {
    &[
        "exists",
        "<=",
        "<",
        ">=",
        ">",
        "==",
        "=",
        "!=",
        "glob",
        "iglob",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "regex",
        "intersects",
        "in",
        "pmatch",
    ]
}

/// Whether `op` is a string operator (may take a modifier).
pub fn is_str_op(op: &str) -> bool {
    matches!(op, "==" | "=" | "!=") || STR_WORD_OPS.iter().any(|(w, _)| *w == op)
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\x08' | b'\r' | b'\n')
}

fn is_space_class(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn is_bare(b: u8) -> bool {
    !(is_space_class(b) || matches!(b, b'(' | b')' | b'"' | b'\'' | b'=' | b','))
}

fn is_field_arg_bare(b: u8) -> bool {
    !(is_space_class(b) || matches!(b, b'[' | b']' | b'"' | b'\''))
}

/// Parses a condition with origin 0.
pub fn parse_condition(input: &str) -> Result<Expr, ParseError> {
    Parser::new(input, 0).parse()
}

/// The parser state.
pub struct Parser<'a> {
    input: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: u32,
    max_depth: u32,
    origin: u32,
    last_token: String,
}

type R<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    /// A parser for `input`, tagging node positions with `origin`.
    pub fn new(input: &'a str, origin: u32) -> Self {
        Parser {
            input: input.as_bytes(),
            text: input,
            pos: 0,
            depth: 0,
            max_depth: MAX_DEPTH,
            origin,
            last_token: String::new(),
        }
    }

    /// Parses the whole input.
    pub fn parse(mut self) -> R<Expr> {
        if self.input.is_empty() {
            return Err(self.err("filter input string is empty"));
        }
        let e = self.parse_or()?;
        if self.pos != self.input.len() {
            return Err(self.err(format!(
                "unexpected token after '{}', expecting 'or', 'and'",
                self.last_token
            )));
        }
        Ok(e)
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError {
            message: msg.into(),
            offset: self.pos,
        }
    }

    fn here(&self) -> Pos {
        Pos {
            origin: self.origin,
            offset: self.pos as u32,
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth >= self.max_depth {
            return Err(self.err(format!("exceeded max depth limit of {}", self.max_depth)));
        }
        Ok(())
    }

    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        self.enter()?;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn rest(&self) -> &[u8] {
        &self.input[self.pos..]
    }

    // ---- lexing

    fn lex_blank(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn lex_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s.as_bytes()) {
            self.pos += s.len();
            self.last_token = s.to_string();
            true
        } else {
            false
        }
    }

    fn take(&mut self, len: usize) -> String {
        let s = self.text[self.pos..self.pos + len].to_string();
        self.pos += len;
        self.last_token = s.clone();
        s
    }

    fn ident_len_at(&self, at: usize) -> usize {
        let b = &self.input[at.min(self.input.len())..];
        if !b.first().is_some_and(|c| c.is_ascii_alphabetic()) {
            return 0;
        }
        1 + b[1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count()
    }

    fn lex_identifier(&mut self) -> Option<String> {
        let n = self.ident_len_at(self.pos);
        (n > 0).then(|| self.take(n))
    }

    fn field_name_len(&self) -> usize {
        let mut n = self.ident_len_at(self.pos);
        if n == 0 {
            return 0;
        }
        let mut segments = 0;
        loop {
            let at = self.pos + n;
            if self.input.get(at) == Some(&b'.') {
                let m = self.ident_len_at(at + 1);
                if m > 0 {
                    n += 1 + m;
                    segments += 1;
                    continue;
                }
            }
            break;
        }
        if segments == 0 {
            0
        } else {
            n
        }
    }

    fn lex_field_name(&mut self) -> Option<String> {
        let n = self.field_name_len();
        (n > 0).then(|| self.take(n))
    }

    fn lex_run(&mut self, pred: fn(u8) -> bool) -> Option<String> {
        let n = self.rest().iter().take_while(|b| pred(**b)).count();
        (n > 0).then(|| self.take(n))
    }

    fn hex_len(&self) -> usize {
        let b = self.rest();
        if b.len() >= 3 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
            let n = b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if n > 0 {
                return 2 + n;
            }
        }
        0
    }

    fn num_len(&self) -> usize {
        let b = self.rest();
        let mut i = 0;
        if matches!(b.first(), Some(b'+') | Some(b'-')) {
            i = 1;
        }
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return 0;
        }
        i += digits;
        if b.get(i) == Some(&b'.') {
            i += 1;
        }
        i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if matches!(b.get(i), Some(b'e') | Some(b'E'))
            && matches!(b.get(i + 1), Some(b'+') | Some(b'-'))
        {
            let e = b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
            if e > 0 {
                i += 2 + e;
            }
        }
        i
    }

    fn lex_number(&mut self) -> Option<String> {
        let n = self.hex_len();
        let n = if n > 0 { n } else { self.num_len() };
        (n > 0).then(|| self.take(n))
    }

    /// A quoted string, unescaped. `Ok(None)` if there is none here (the
    /// position is unchanged); an escape error leaves the position after
    /// the closing quote, as upstream does.
    fn lex_quoted(&mut self) -> R<Option<String>> {
        let Some(delim) = self.peek().filter(|c| *c == b'"' || *c == b'\'') else {
            return Ok(None);
        };
        let b = self.rest();
        let mut prev = b'\\';
        let mut end = None;
        for (i, &c) in b.iter().enumerate() {
            if c == delim && prev != b'\\' {
                end = Some(i);
                break;
            }
            prev = c;
        }
        let Some(end) = end.filter(|e| *e > 0) else {
            return Ok(None);
        };
        let raw = &self.text[self.pos..self.pos + end + 1];
        self.pos += end + 1;
        let s = unescape(raw).map_err(|m| ParseError {
            message: m,
            offset: self.pos,
        })?;
        self.last_token = s.clone();
        Ok(Some(s))
    }

    // ---- grammar

    fn parse_or(&mut self) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            let mut children = vec![p.parse_and()?];
            p.lex_blank();
            while p.lex_str("or") {
                let child = if !p.lex_blank() {
                    if p.lex_str("(") {
                        p.parse_embedded_remainder()?
                    } else {
                        return Err(p.err("expected blank or '(' after 'or'"));
                    }
                } else {
                    p.parse_and()?
                };
                children.push(child);
                p.lex_blank();
            }
            Ok(if children.len() > 1 {
                Expr::Or(children, pos)
            } else {
                children.pop().expect("one child")
            })
        })
    }

    fn parse_and(&mut self) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            let mut children = vec![p.parse_not()?];
            p.lex_blank();
            while p.lex_str("and") {
                let child = if !p.lex_blank() {
                    if p.lex_str("(") {
                        p.parse_embedded_remainder()?
                    } else {
                        return Err(p.err("expected blank or '(' after 'and'"));
                    }
                } else {
                    p.parse_not()?
                };
                children.push(child);
                p.lex_blank();
            }
            Ok(if children.len() > 1 {
                Expr::And(children, pos)
            } else {
                children.pop().expect("one child")
            })
        })
    }

    fn lex_not_blank(&mut self) -> bool {
        let b = self.rest();
        if b.starts_with(b"not") {
            let n = b[3..].iter().take_while(|c| is_space_class(**c)).count();
            if n > 0 {
                self.last_token = self.text[self.pos..self.pos + 3 + n].to_string();
                self.pos += 3 + n;
                return true;
            }
        }
        false
    }

    fn parse_not(&mut self) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            let mut is_not = false;
            while p.lex_not_blank() {
                is_not = !is_not;
            }
            let child = if p.lex_str("not(") {
                is_not = !is_not;
                p.parse_embedded_remainder()?
            } else {
                p.parse_check()?
            };
            Ok(if is_not {
                Expr::Not(Box::new(child), pos)
            } else {
                child
            })
        })
    }

    fn parse_embedded_remainder(&mut self) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let child = p.parse_or()?;
            p.lex_blank();
            if !p.lex_str(")") {
                return Err(p.err("expected a ')' token"));
            }
            Ok(child)
        })
    }

    fn lex_transformer_name(&mut self) -> Option<&'static str> {
        for t in TRANSFORMERS {
            let b = self.rest();
            if b.starts_with(t.as_bytes()) && b.get(t.len()) == Some(&b'(') {
                self.pos += t.len() + 1;
                self.last_token = format!("{t}(");
                return Some(t);
            }
        }
        None
    }

    fn parse_check(&mut self) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if p.lex_str("(") {
                return p.parse_embedded_remainder();
            }
            if let Some(name) = p.lex_field_name() {
                let left = p.parse_field_remainder(name, pos)?;
                return p.parse_condition(left, pos);
            }
            if let Some(t) = p.lex_transformer_name() {
                let left = p.parse_transformer_remainder(t, pos)?;
                return p.parse_condition(left, pos);
            }
            if let Some(id) = p.lex_identifier() {
                return Ok(Expr::Ident(id, pos));
            }
            Err(p.err("expected a '(' token, a field check, or an identifier"))
        })
    }

    fn parse_field_remainder(&mut self, name: String, pos: Pos) -> R<Operand> {
        self.guarded(|p| {
            let mut arg = None;
            if p.lex_str("[") {
                let a =
                    match p.lex_quoted()? {
                        Some(q) => q,
                        None => match p.lex_run(is_field_arg_bare) {
                            Some(b) => b,
                            None => return Err(p.err(
                                "expected a valid field argument: a quoted string or a bare string",
                            )),
                        },
                    };
                arg = Some(a);
                if !p.lex_str("]") {
                    return Err(p.err("expected a ']' token"));
                }
            }
            Ok(Operand::Field { name, arg, pos })
        })
    }

    fn parse_tr_arg(&mut self) -> R<TrArg> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if let Some(t) = p.lex_transformer_name() {
                return Ok(TrArg::Operand(p.parse_transformer_remainder(t, pos)?));
            }
            if let Some(name) = p.lex_field_name() {
                return Ok(TrArg::Operand(p.parse_field_remainder(name, pos)?));
            }
            if let Some(s) = p.lex_quoted()? {
                return Ok(TrArg::Str(s, pos));
            }
            if let Some(n) = p.lex_number() {
                return Ok(TrArg::Num(n, pos));
            }
            if p.lex_str("(") {
                let mut items = Vec::new();
                p.lex_blank();
                if !p.lex_str(")") {
                    loop {
                        items.push(p.parse_tr_arg()?);
                        p.lex_blank();
                        if p.lex_str(",") {
                            continue;
                        }
                        if p.lex_str(")") {
                            break;
                        }
                        return Err(p.err("expected a ')' token"));
                    }
                }
                return Ok(TrArg::List(items, pos));
            }
            Err(p.err(format!(
                "expected a field or a nested valid transformer: {}",
                transformer_list()
            )))
        })
    }

    fn parse_transformer_remainder(&mut self, name: &'static str, pos: Pos) -> R<Operand> {
        self.guarded(|p| {
            let mut args = vec![p.parse_tr_arg()?];
            p.lex_blank();
            while p.lex_str(",") {
                args.push(p.parse_tr_arg()?);
                p.lex_blank();
            }
            if !p.lex_str(")") {
                return Err(p.err("expected a ')' token closing the transformer"));
            }
            let mut index = None;
            if p.lex_str("[") {
                let a =
                    match p.lex_quoted()? {
                        Some(q) => q,
                        None => match p.lex_run(is_field_arg_bare) {
                            Some(b) => b,
                            None => return Err(p.err(
                                "expected a valid field argument: a quoted string or a bare string",
                            )),
                        },
                    };
                index = Some(a);
                if !p.lex_str("]") {
                    return Err(p.err("expected a ']' token"));
                }
            }
            Ok(Operand::Transform {
                name,
                args,
                index,
                pos,
            })
        })
    }

    fn lex_num_op(&mut self) -> Option<(CmpOp, &'static str)> {
        for (s, op) in [
            ("<=", CmpOp::Le),
            ("<", CmpOp::Lt),
            (">=", CmpOp::Ge),
            (">", CmpOp::Gt),
        ] {
            if self.lex_str(s) {
                return Some((op, s));
            }
        }
        None
    }

    fn lex_str_op(&mut self) -> Option<(CmpOp, &'static str)> {
        for (s, op) in [("==", CmpOp::Eq), ("=", CmpOp::Eq), ("!=", CmpOp::Ne)] {
            if self.lex_str(s) {
                return Some((op, s));
            }
        }
        for (w, op) in STR_WORD_OPS {
            let b = self.rest();
            if b.starts_with(w.as_bytes()) && b.get(w.len()).is_some_and(|c| is_blank(*c)) {
                self.pos += w.len();
                self.last_token = w.to_string();
                return Some((op, w));
            }
        }
        None
    }

    fn lex_list_op(&mut self) -> Option<(CmpOp, &'static str)> {
        for (s, op) in [
            ("intersects", CmpOp::Intersects),
            ("in", CmpOp::In),
            ("pmatch", CmpOp::PMatch),
        ] {
            if self.lex_str(s) {
                return Some((op, s));
            }
        }
        None
    }

    fn parse_condition(&mut self, lhs: Operand, pos: Pos) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            if p.lex_str("exists") {
                return Ok(Expr::Check(Box::new(Check {
                    lhs,
                    op: CmpOp::Exists,
                    op_text: "exists",
                    modifier: None,
                    rhs: Rhs::None,
                    pos,
                })));
            }
            p.lex_blank();
            let (op, op_text, modifier, rhs) = if let Some((op, t)) = p.lex_num_op() {
                (op, t, None, p.parse_num_value()?)
            } else if let Some((op, t)) = p.lex_str_op() {
                match p.try_modifier() {
                    Some(m) => (op, t, Some(m), p.parse_modifier_list()?),
                    None => (op, t, None, p.parse_str_value(false)?),
                }
            } else if let Some((op, t)) = p.lex_list_op() {
                (op, t, None, p.parse_list_value()?)
            } else {
                return Err(p.err(format!(
                    "expected a valid check operator: one of {}",
                    operator_list()
                )));
            };
            Ok(Expr::Check(Box::new(Check {
                lhs,
                op,
                op_text,
                modifier,
                rhs,
                pos,
            })))
        })
    }

    /// After a string operator: blanks, then `oneof`/`anyof`/`allof`, a
    /// blank, and `(` or an identifier other than `and`/`or`/`not`.
    /// Otherwise the position is left after the blanks.
    fn try_modifier(&mut self) -> Option<Modifier> {
        if !self.lex_blank() {
            return None;
        }
        let save = self.pos;
        for (w, m) in [
            ("oneof", Modifier::OneOf),
            ("anyof", Modifier::AnyOf),
            ("allof", Modifier::AllOf),
        ] {
            let b = self.rest();
            if b.starts_with(w.as_bytes()) && b.get(w.len()).is_some_and(|c| is_blank(*c)) {
                self.pos += w.len();
                self.lex_blank();
                let next_ok = if self.peek() == Some(b'(') {
                    true
                } else {
                    let n = self.ident_len_at(self.pos);
                    n > 0 && !matches!(&self.text[self.pos..self.pos + n], "and" | "or" | "not")
                };
                if next_ok {
                    self.last_token = w.to_string();
                    return Some(m);
                }
                self.pos = save;
                return None;
            }
        }
        None
    }

    fn parse_modifier_list(&mut self) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if p.lex_str("(") {
                return p.parse_list_body(pos);
            }
            match p.lex_identifier() {
                Some(id) => Ok(Rhs::ListIdent(id, pos)),
                None => Err(p.err("expected a list or an identifier after the modifier")),
            }
        })
    }

    fn parse_num_value(&mut self) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if let Some(r) = p.try_transformer_or_val()? {
                return Ok(r);
            }
            if let Some(n) = p.lex_number() {
                return Ok(Rhs::Value(n, pos));
            }
            Err(p.err(format!(
                "expected a number value or a field with a valid transformer: {}",
                transformer_list()
            )))
        })
    }

    fn parse_str_value(&mut self, no_transformer: bool) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if !no_transformer {
                if let Some(r) = p.try_transformer_or_val()? {
                    return Ok(r);
                }
            }
            if let Some(s) = p.lex_quoted()? {
                return Ok(Rhs::Value(s, pos));
            }
            if let Some(s) = p.lex_run(is_bare) {
                return Ok(Rhs::Value(s, pos));
            }
            if no_transformer {
                return Err(p.err("expected a string value"));
            }
            Err(p.err(format!(
                "expected a string value or a field with a valid transformer: {}",
                transformer_list()
            )))
        })
    }

    fn parse_list_body(&mut self, pos: Pos) -> R<Rhs> {
        let mut values = Vec::new();
        self.lex_blank();
        // Upstream swallows an error on the first element and then expects
        // the closing parenthesis, wherever the failed attempt left it.
        if let Ok(Rhs::Value(v, _)) = self.parse_str_value(true) {
            values.push(v);
            self.lex_blank();
            while self.lex_str(",") {
                match self.parse_str_value(true)? {
                    Rhs::Value(v, _) => values.push(v),
                    _ => return Err(self.err("expected a string value")),
                }
                self.lex_blank();
            }
        }
        if !self.lex_str(")") {
            return Err(self.err("expected a ')' token"));
        }
        Ok(Rhs::List(values, pos))
    }

    fn parse_list_value(&mut self) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if p.lex_str("(") {
                return p.parse_list_body(pos);
            }
            if let Some(r) = p.try_transformer_or_val()? {
                return Ok(r);
            }
            if let Some(id) = p.lex_identifier() {
                return Ok(Rhs::ListIdent(id, pos));
            }
            Err(p.err(format!(
                "expected a list, an identifier, or a field with a valid transformer: {}",
                transformer_list()
            )))
        })
    }

    fn try_transformer_or_val(&mut self) -> R<Option<Rhs>> {
        self.guarded(|p| {
            p.lex_blank();
            let pos = p.here();
            if p.lex_str("val(") {
                p.lex_blank();
                let field_pos = p.here();
                let Some(name) = p.lex_field_name() else {
                    return Err(p.err("expected a field within 'val' transformer"));
                };
                let f = p.parse_field_remainder(name, field_pos)?;
                p.lex_blank();
                if !p.lex_str(")") {
                    return Err(p.err("expected a ')' token closing the transformer"));
                }
                return Ok(Some(Rhs::Val(f, pos)));
            }
            if let Some(t) = p.lex_transformer_name() {
                return Ok(Some(Rhs::Transform(p.parse_transformer_remainder(t, pos)?)));
            }
            Ok(None)
        })
    }
}

/// Unescapes a quoted token including its delimiters (RULES.md §2.3.4).
pub fn unescape(raw: &str) -> Result<String, String> {
    let b = raw.as_bytes();
    if b.len() < 2 {
        return Ok(String::new());
    }
    let delim = b[0];
    let inner = &raw[1..raw.len() - 1];
    let mut res = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if !escaped {
            if c == '\\' {
                escaped = true;
            } else {
                res.push(c);
            }
            continue;
        }
        match c {
            'b' => res.push('\u{8}'),
            'f' => res.push('\u{c}'),
            'n' => res.push('\n'),
            'r' => res.push('\r'),
            't' => res.push('\t'),
            ' ' | '\\' => res.push('\\'),
            '/' => res.push('/'),
            '"' => {
                if delim != b'"' {
                    return Err("invalid \\\" escape in '-quoted string".into());
                }
                res.push('"');
            }
            '\'' => {
                if delim != b'\'' {
                    return Err("invalid \\' escape in \"-quoted string".into());
                }
                res.push('\'');
            }
            other => return Err(format!("unsupported string escape sequence: \\{other}")),
        }
        escaped = false;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parse_condition(s).unwrap().to_text()
    }

    fn e(s: &str) -> String {
        parse_condition(s).unwrap_err().message
    }

    #[test]
    fn precedence_and_not() {
        assert_eq!(p("a or b and not c"), "(a or (b and not c))");
        assert_eq!(p("not not a"), "a");
        assert_eq!(p("not(x.y=1)"), "not x.y = 1");
        assert_eq!(p("a and(b)"), "(a and b)");
        assert_eq!(e("a andb"), "expected blank or '(' after 'and'");
        assert_eq!(p("a or (b) and c"), "(a or (b and c))");
        assert!(e("a or(b) and c").starts_with("unexpected token after ')'"));
        assert_eq!(p("a and b and c"), "(a and b and c)");
        assert_eq!(p("(a)and(b)"), "(a and b)");
    }

    #[test]
    fn operators_and_values() {
        assert_eq!(p("proc.name!=\"sshd\""), "proc.name != sshd");
        assert_eq!(
            p("fd.typechar='f' and fd.num>=0"),
            "(fd.typechar = f and fd.num >= 0)"
        );
        assert_eq!(p("x.y in(a,b)"), "x.y in (a, b)");
        assert_eq!(p("proc.name=bash"), "proc.name = bash");
        assert!(e("fd.name contains/etc").starts_with("expected a valid check operator"));
        assert_eq!(p("fd.name contains /etc"), "fd.name contains /etc");
        assert_eq!(p("x.y inx"), "x.y in x");
        assert_eq!(
            p("proc.pname in (runc:[0:PARENT], runc:[1:CHILD], runc)"),
            "proc.pname in (runc:[0:PARENT], runc:[1:CHILD], runc)"
        );
        assert_eq!(p("x.y = <NA>"), "x.y = <NA>");
        assert_eq!(p("x.y = -1"), "x.y = -1");
        assert_eq!(p("x.y = 10_etc_sudoers."), "x.y = 10_etc_sudoers.");
        assert!(e("x.y = a=b").starts_with("unexpected token after 'a'"));
        assert!(e("x.y in (a=b)").starts_with("expected a ')' token"));
        assert_eq!(p("x.y in ()"), "x.y in ()");
        assert_eq!(p("x.y exists"), "x.y exists");
        assert!(e("x.y > abc").starts_with("expected a number value"));
        assert_eq!(p("x.y >= 0x10"), "x.y >= 0x10");
        assert_eq!(p("x.y < 1.5e+3"), "x.y < 1.5e+3");
        assert_eq!(
            p("proc.args intersects (\"-V\", \"-l\")"),
            "proc.args intersects (-V, -l)"
        );
    }

    #[test]
    fn fields_and_macros() {
        assert!(e("proc.name").starts_with("expected a valid check operator"));
        assert!(e("foo.bar").starts_with("expected a valid check operator"));
        assert!(matches!(parse_condition("foo").unwrap(), Expr::Ident(..)));
        assert_eq!(p("proc.aname[2] = x"), "proc.aname[2] = x");
        assert_eq!(p("proc.env[HOME] = x"), "proc.env[HOME] = x");
        assert_eq!(
            p("container.mount.dest[/proc*] in (x)"),
            "container.mount.dest[/proc*] in (x)"
        );
        assert_eq!(p("x.y[\"a b\"] exists"), "x.y[\"a b\"] exists");
        assert_eq!(e(""), "filter input string is empty");
        assert!(e("x.y = 1 z").contains("unexpected token after '1', expecting 'or', 'and'"));
    }

    #[test]
    fn escapes() {
        let v = |s: &str| match parse_condition(&format!("x.y = {s}")).unwrap() {
            Expr::Check(c) => match c.rhs {
                Rhs::Value(v, _) => v,
                _ => panic!(),
            },
            _ => panic!(),
        };
        assert_eq!(v(r#""a\\b""#), "a\\b");
        assert_eq!(v(r#""a\"b""#), "a\"b");
        assert_eq!(v(r#"'a\'b'"#), "a'b");
        assert_eq!(v(r#""\b\f\n\r\t\/""#), "\u{8}\u{c}\n\r\t/");
        assert_eq!(v(r#""a\ b""#), "a\\b");
        assert_eq!(
            e(r#"x.y = "a\'b""#),
            "invalid \\' escape in \"-quoted string"
        );
        assert_eq!(
            e(r#"x.y = 'a\"b'"#),
            "invalid \\\" escape in '-quoted string"
        );
        assert_eq!(
            e(r#"x.y = "\x""#),
            "unsupported string escape sequence: \\x"
        );
        // "a\\" does not terminate at its last quote.
        assert!(e(r#"x.y = "a\\""#).starts_with("expected a string value"));
        assert_eq!(
            v(r#""sh -c node -e \"require('nan')\"""#),
            "sh -c node -e \"require('nan')\""
        );
    }

    #[test]
    fn modifiers_and_transformers() {
        assert_eq!(
            p("proc.name startswith anyof (a, b)"),
            "proc.name startswith anyof (a, b)"
        );
        assert_eq!(p("proc.name = oneof"), "proc.name = oneof");
        assert_eq!(p("proc.name = oneof and a"), "(proc.name = oneof and a)");
        assert_eq!(p("proc.name = allof l"), "proc.name = allof l");
        assert_eq!(p("tolower(proc.name) = bash"), "tolower(proc.name) = bash");
        assert_eq!(
            p("proc.name = val(proc.pname)"),
            "proc.name = val(proc.pname)"
        );
        assert_eq!(
            p("len(proc.args) > 3 and basename(proc.exepath) = x"),
            "(len(proc.args) > 3 and basename(proc.exepath) = x)"
        );
        assert_eq!(
            p("getopt(proc.args, \"ab:\")[b] = x"),
            "getopt(proc.args, \"ab:\")[b] = x"
        );
        assert!(e("x.y = val(foo)").starts_with("expected a field within 'val' transformer"));
        assert!(e("tolower(proc.name = x").starts_with("expected a ')' token closing"));
    }

    #[test]
    fn depth_limit() {
        let deep = format!("{}x.y = 1{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(e(&deep), "exceeded max depth limit of 1000");
        let ok = format!("{}x.y = 1{}", "(".repeat(50), ")".repeat(50));
        assert_eq!(p(&ok), "x.y = 1");
        let nots = format!("{}a", "not ".repeat(5000));
        assert_eq!(p(&nots), "a");
    }

    #[test]
    fn error_offsets() {
        let err = parse_condition("a and b andx").unwrap_err();
        assert_eq!(err.offset, 11);
    }
}
