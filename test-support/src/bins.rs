//! Where the workspace's binaries are. `CARGO_BIN_EXE_<name>` exists only
//! for a test crate's own binaries; the others are expected next to them in
//! `target/<profile>/` (`cargo build --workspace --bins`, which
//! `scripts/test.sh` runs first).

use std::path::{Path, PathBuf};

/// The binary `name` in the directory of `own_bin` (a path from
/// `env!("CARGO_BIN_EXE_<own>")`); panics with the fix if it is not built.
pub fn sibling_bin(own_bin: impl AsRef<Path>, name: &str) -> PathBuf {
    let path = own_bin.as_ref().with_file_name(name);
    assert!(
        path.is_file(),
        "{name} binary not found at {}: run `cargo build --workspace --bins` first \
         (scripts/test.sh does)",
        path.display()
    );
    path
}
