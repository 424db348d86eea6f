//! The `deltachain-node` binary.
fn main() {}
