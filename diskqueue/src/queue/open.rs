//! Opening a queue: its metadata, the data files in the directory, and
//! the repairs [`State::open`] decides (see the module docs of
//! [`crate::queue`] for the differences from go-diskqueue).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{to_i64, DiskQueue};
use crate::config::QueueConfig;
use crate::error::{not_found, IoOp, QueueError, QueueEvent};
use crate::files::{file_size, read_small_file, remove};
use crate::format::{self, Meta};
use crate::scan::QueueFiles;
use crate::state::State;

impl DiskQueue {
    /// Open (or create) queue `name` in `dir`: load `<name>.diskqueue.meta.dat`
    /// if present and apply what [`State::open`] decides (skipping a write
    /// file longer than the metadata, the tail check), syncing at once
    /// when it moved the writer. Lists the directory for this queue's
    /// files; to open many queues, scan the directory once
    /// ([`crate::DirScan`]) and use [`DiskQueue::open_scanned`]. See the
    /// module docs for the repairs beyond Go's.
    pub async fn open(dir: &Path, name: &str, cfg: QueueConfig) -> Result<DiskQueue, QueueError> {
        let dir = std::path::absolute(dir).map_err(|source| QueueError::Io {
            op: IoOp::ListDir,
            path: dir.to_path_buf(),
            source,
        })?;
        let (files, stale_tmp, deferred) = list_dir(&dir, name)?;
        let meta_path = dir.join(format::meta_file_name(name));
        let text = match read_small_file(&meta_path).await {
            Ok(text) => Some(text),
            Err(e) if not_found(&e) => None,
            Err(e) => return Err(e),
        };
        let (meta, events) = start_meta(&meta_path, text.as_deref(), &files)?;
        let write_size = match u64::try_from(meta.write_file_num) {
            Ok(n) if files.contains(&n) => {
                let path = dir.join(format::data_file_name(name, n));
                match file_size(&path).await {
                    Ok(size) => Some(size),
                    Err(e) if not_found(&e) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        let found = Found {
            files,
            stale_tmp,
            meta,
            events,
            write_size,
            deferred: Some(deferred),
        };
        DiskQueue::open_found(dir, name, cfg, found).await
    }

    /// Open queue `name` from what a [`crate::DirScan`] of `dir` found for
    /// it: no directory listing and no metadata read of its own (only a
    /// repair, if the files need one, does I/O).
    pub async fn open_scanned(
        dir: &Path,
        name: &str,
        cfg: QueueConfig,
        scanned: QueueFiles,
    ) -> Result<DiskQueue, QueueError> {
        let meta_path = dir.join(format::meta_file_name(name));
        let text = match scanned.meta {
            None => None,
            Some(Ok(text)) => Some(text),
            Some(Err(e)) => {
                return Err(QueueError::Io {
                    op: IoOp::Read,
                    path: meta_path,
                    source: std::io::Error::other(e),
                })
            }
        };
        let files = scanned.data_files;
        let (meta, events) = start_meta(&meta_path, text.as_deref(), &files)?;
        let write_size = scanned
            .write_size
            .filter(|&(n, _)| u64::try_from(meta.write_file_num) == Ok(n))
            .map(|(_, size)| size);
        let found = Found {
            files,
            stale_tmp: scanned.stale_tmp,
            meta,
            events,
            write_size,
            deferred: Some(scanned.deferred),
        };
        DiskQueue::open_found(dir.to_path_buf(), name, cfg, found).await
    }

    /// Build the queue from what is on disk and carry out the repairs.
    async fn open_found(
        dir: PathBuf,
        name: &str,
        cfg: QueueConfig,
        found: Found,
    ) -> Result<DiskQueue, QueueError> {
        let meta_path = dir.join(format::meta_file_name(name));
        let (state, effects) = State::open(cfg.state_config(), &found.meta, found.write_size)
            .map_err(|error| QueueError::NegativeMeta {
                path: meta_path.clone(),
                error,
            })?;
        let mut queue = DiskQueue {
            dir,
            name: name.to_owned(),
            cfg,
            state,
            writer: None,
            reader: None,
            chunk: None,
            peeked: None,
            files: found.files,
            last_sync: Instant::now(),
            events: Vec::new(),
            events_dropped: 0,
            floor: None,
            held: BTreeSet::new(),
            behind: None,
            deferred_file: found.deferred,
        };
        for e in found.events {
            queue.event(e);
        }
        for tmp in found.stale_tmp {
            let path = queue.dir.join(tmp);
            if let Err(e) = remove(&path).await {
                queue.event(QueueEvent::Failed(e));
            }
        }
        queue.apply(effects).await?;
        queue.sync_if_due().await?;
        Ok(queue)
    }
}

/// What is on disk for a queue, however it was found.
struct Found {
    files: BTreeSet<u64>,
    stale_tmp: Vec<String>,
    meta: Meta,
    events: Vec<QueueEvent>,
    write_size: Option<u64>,
    /// Whether the deferrals file exists, when known.
    deferred: Option<bool>,
}

/// The metadata to start from: the file's (moved past data files found
/// after its write file), or, without one, positions that cover the data
/// files found; with the events that say so.
fn start_meta(
    meta_path: &Path,
    text: Option<&[u8]>,
    files: &BTreeSet<u64>,
) -> Result<(Meta, Vec<QueueEvent>), QueueError> {
    let mut events = Vec::new();
    let meta = match text {
        Some(text) => {
            let mut meta = format::parse_meta(text).map_err(|error| QueueError::BadMeta {
                path: meta_path.to_path_buf(),
                error,
            })?;
            let last = files.last().copied();
            if let (Some(last), Ok(write_file)) = (last, u64::try_from(meta.write_file_num)) {
                if last > write_file {
                    events.push(QueueEvent::FilesPastWriter {
                        meta_write_file: write_file,
                        last_file: last,
                    });
                    meta.write_file_num = to_i64(last);
                    meta.write_pos = 0;
                }
            }
            meta
        }
        None => match (files.first(), files.last()) {
            (Some(&first), Some(&last)) => {
                events.push(QueueEvent::FilesWithoutMeta {
                    first_file: first,
                    last_file: last,
                });
                Meta {
                    depth: 0,
                    read_file_num: to_i64(first),
                    read_pos: 0,
                    write_file_num: to_i64(last),
                    write_pos: 0,
                }
            }
            _ => Meta::default(),
        },
    };
    Ok((meta, events))
}

/// Data file numbers of `name` in `dir`, its left-over metadata `.tmp`
/// files, and whether its deferrals file exists. Blocking
/// (`std::fs::read_dir`): at open only.
fn list_dir(dir: &Path, name: &str) -> Result<(BTreeSet<u64>, Vec<String>, bool), QueueError> {
    let list_error = |source| QueueError::Io {
        op: IoOp::ListDir,
        path: dir.to_path_buf(),
        source,
    };
    let tmp_prefix = format!("{}.", format::meta_file_name(name));
    let deferred_name = format::deferred_file_name(name);
    let mut files = BTreeSet::new();
    let mut tmp = Vec::new();
    let mut deferred = false;
    for entry in std::fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some((queue, n)) = format::parse_data_file_name(&file_name) {
            if queue == name {
                files.insert(n);
            }
        } else if file_name == deferred_name {
            deferred = true;
        } else if let Some(random) = file_name
            .strip_prefix(&tmp_prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        {
            if !random.is_empty() && random.bytes().all(|b| b.is_ascii_digit()) {
                tmp.push(file_name);
            }
        }
    }
    Ok((files, tmp, deferred))
}
