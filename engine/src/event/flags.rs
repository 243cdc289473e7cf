//! Names of flag bits and enumeration values, for rendering numeric
//! parameters the way Falco does (`O_WRONLY|O_CREAT|O_TRUNC`,
//! `PTRACE_ATTACH`, `AF_PACKET`).

use super::table::FlagSet;

/// `(value, name)` pairs of a flag set or enumeration.
pub fn table(set: FlagSet) -> &'static [(u64, &'static str)] {
    let _ = set;
    &[]
}
