//! kestrel-loadgen: drives real syscalls from pinned threads at a set rate
//! and reconciles its counts with the kestrel daemon. See the library
//! crate (`kestrel_loadgen`) for the design.

use clap::Parser;

fn main() -> std::process::ExitCode {
    kestrel_loadgen::cli::main_with(kestrel_loadgen::cli::Cli::parse())
}
