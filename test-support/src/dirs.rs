//! Fresh temporary directories, unique per process and call.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A new, empty directory `<tmp>/<prefix>-<pid>-<n>` (the caller removes it).
pub fn fresh_dir(prefix: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// A fresh directory removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory named after `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        TempDir(fresh_dir(prefix))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// A fresh directory holding one file `name` with `text`: the directory
/// (removed on drop) and the file's path.
pub fn temp_file(prefix: &str, name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(prefix);
    let path = dir.0.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    (dir, path)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
