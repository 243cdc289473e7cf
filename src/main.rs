//! kestrel: the command-line entry point.
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    println!("kestrel {}", env!("CARGO_PKG_VERSION"));
}
