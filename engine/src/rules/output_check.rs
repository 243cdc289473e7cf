//! Load-time validation of rule output formats (RULES.md §9.1), raising
//! `LOAD_ERR_COMPILE_OUTPUT`. The formatter's own compiler
//! ([`crate::output::OutputFormat::compile`]) does the work, so load-time
//! and render-time parsing cannot disagree.

use crate::output::{FormatError, OutputFormat};

/// Why a format does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    /// Message.
    pub message: String,
    /// Unknown field: downgraded under `skip-if-unknown-filter`.
    pub unknown: bool,
}

/// Validates `fmt`; returns the fields it uses, as written.
pub fn check(fmt: &str) -> Result<Vec<String>, OutputError> {
    match OutputFormat::compile(fmt) {
        Ok((f, _warnings)) => Ok(f.keys().iter().map(|k| k.key.to_string()).collect()),
        Err(e) => Err(OutputError {
            unknown: matches!(e, FormatError::UnknownField { .. }),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            check("a %proc.name, b=%fd.name) (%proc.aname[2]) %20user.name").unwrap(),
            ["proc.name", "fd.name", "proc.aname[2]", "user.name"]
        );
        assert!(check("x %").is_err());
        assert!(check("x %20").is_err());
        assert!(check("x %%").unwrap_err().unknown);
        assert!(check("x %nosuch.field").unwrap_err().unknown);
        let e = check("x %fd.ip").unwrap_err();
        assert!(!e.unknown && e.message.contains("filter only"));
        assert_eq!(check("%toupper(user.name)").unwrap(), ["user.name"]);
        assert_eq!(check("%evt.type.foo").unwrap(), ["evt.type"]);
    }
}
