//! The test data committed under `test-support/fixtures/`, found the same
//! way from every test of the workspace (unit tests of a crate included:
//! this crate is a dev-dependency only, so there is no cycle). Today one
//! fixture: a data directory written by Go nsqd 1.3.0 and the manifest of
//! what it holds; its `README.md` says how it was made.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The Go nsqd 1.3.0 fixture: `data/` as Go nsqd left it, and
/// `manifest.json`. The one place its path is spelled out.
pub fn go_nsqd_datadir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/go-nsqd-1.3.0-datadir");
    assert!(
        dir.join("manifest.json").is_file() && dir.join("data").is_dir(),
        "fixture missing: expected data/ and manifest.json in {} (committed with the repository)",
        dir.display()
    );
    dir
}

/// The fixture's `data/` directory. Read it, never write into it: tests
/// that run nsqd or a disk queue on it use [`copy_go_nsqd_data`].
pub fn go_nsqd_data() -> PathBuf {
    go_nsqd_datadir().join("data")
}

/// The fixture's `manifest.json`: `nsqd_dat` (the file as written) and, per
/// disk queue, `meta_file_text`, `depth` and `records_in_read_order` (`id`,
/// `timestamp_ns`, `attempts`, `body_b64`).
pub fn go_nsqd_manifest() -> serde_json::Value {
    let path = go_nsqd_datadir().join("manifest.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Copy every file of the fixture's `data/` into `dir`, each with mode
/// 0600 (as nsqd writes them), so it can be used as a `--data-path`.
pub fn copy_go_nsqd_data(dir: &Path) {
    let from = go_nsqd_data();
    let entries = std::fs::read_dir(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        let to = dir.join(entry.file_name());
        std::fs::copy(entry.path(), &to)
            .unwrap_or_else(|e| panic!("copy to {}: {e}", to.display()));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", to.display()));
    }
}
