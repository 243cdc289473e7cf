//! kestrel-loadgen: drives real syscalls from pinned threads at a set rate.
fn main() {
    println!("kestrel-loadgen: not implemented yet");
}
