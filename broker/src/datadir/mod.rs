//! The data directory (docs/data-directory.md#lock, #nsqd-dat, #startup,
//! #shutdown): an exclusive lock on it, and `nsqd.dat`, the list of topics and
//! channels with their paused flags, loaded at startup and rewritten (temp
//! file, fsync, rename) whenever a durable topic or channel is created,
//! deleted, paused or unpaused, and at shutdown.
//!
//! Writing happens on a plain thread fed by a coalescing channel, so no shard
//! ever blocks on the disk for metadata: a shard only calls
//! [`Context::metadata_changed`], and the writer asks every shard for its
//! topics through the inbox, as `/stats` does.

pub(crate) mod metadata;

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::shard::admin::{request_stats, AdminError, AdminOp, StatsFilter};
use crate::shard::mesh::ShardMsg;
use crate::shard::route::owner_of;
use crate::shard::Context;
use metadata::{ChannelMetadata, Loaded, Metadata, TopicMetadata};
use nsq_diskqueue::DirScan;

/// Why the data directory cannot be used (startup failures).
#[derive(Debug)]
pub enum DataDirError {
    /// It could not be created, opened or locked.
    Lock {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
        /// Another process holds the lock.
        busy: bool,
    },
    /// `nsqd.dat` could not be read.
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The directory could not be listed.
    List {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// `nsqd.dat` does not parse.
    Parse {
        /// The file.
        file: PathBuf,
        /// Why (Go's JSON error text).
        error: metadata::ParseError,
    },
}

impl std::fmt::Display for DataDirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataDirError::Lock { path, error, busy } => {
                write!(f, "failed to lock data-path {}: {error}", path.display())?;
                if *busy {
                    f.write_str(" (is another nsqd using it?)")?;
                }
                Ok(())
            }
            DataDirError::Read { file, error } => {
                write!(f, "failed to read metadata in {} - {error}", file.display())
            }
            DataDirError::List { path, error } => {
                write!(f, "failed to list data-path {} - {error}", path.display())
            }
            DataDirError::Parse { file, error } => {
                write!(
                    f,
                    "failed to parse metadata in {} - {}",
                    file.display(),
                    error.0
                )
            }
        }
    }
}

impl std::error::Error for DataDirError {}

/// A locked data directory.
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    _lock: File,
    /// Serialises snapshot+write between the writer thread and the final
    /// write at shutdown; true once the final write is done (later writes
    /// would come from stopped shards). Off the message path.
    writing: std::sync::Mutex<bool>,
}

impl DataDir {
    /// Lock the data directory ([`Options::data_dir`]) exclusively, as NSQ
    /// does, so two nsqd never share one.
    ///
    /// [`Options::data_dir`]: crate::options::Options::data_dir
    pub(crate) fn lock(path: PathBuf) -> Result<DataDir, DataDirError> {
        let failed = |error, busy| DataDirError::Lock {
            path: path.clone(),
            error,
            busy,
        };
        std::fs::create_dir_all(&path).map_err(|e| failed(e, false))?;
        let dir = File::open(&path).map_err(|e| failed(e, false))?;
        // SAFETY: flock(2) on a descriptor we own; released when it closes.
        let locked = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            return Err(failed(std::io::Error::last_os_error(), true));
        }
        Ok(DataDir {
            path,
            _lock: dir,
            writing: std::sync::Mutex::new(false),
        })
    }

    fn file(&self) -> PathBuf {
        self.path.join("nsqd.dat")
    }

    /// Read `nsqd.dat`; `None` when there is none yet.
    pub(crate) fn load(&self) -> Result<Option<Loaded>, DataDirError> {
        let file = self.file();
        match std::fs::read(&file) {
            Ok(bytes) => match metadata::parse(&bytes) {
                Ok(loaded) => Ok(Some(loaded)),
                Err(error) => Err(DataDirError::Parse { file, error }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(DataDirError::Read { file, error }),
        }
    }

    /// List the directory once for every disk queue the startup opens,
    /// split by the shard that owns each queue's topic (so no shard lists
    /// the directory per queue, and none shares its part).
    pub(crate) fn scan_queues(&self, shards: usize) -> Result<Vec<DirScan>, DataDirError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let scan = DirScan::read(&self.path, threads).map_err(|error| DataDirError::List {
            path: self.path.clone(),
            error,
        })?;
        Ok(scan.split(shards, |queue| {
            let topic = queue.split_once(':').map_or(queue, |(t, _)| t);
            crate::shard::route::owner_of(topic, shards)
        }))
    }

    /// Write `nsqd.dat` atomically: a temp file, fsync, rename.
    pub(crate) fn write(&self, meta: &Metadata) -> std::io::Result<()> {
        let random = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64 ^ d.as_secs())
            ^ u64::from(std::process::id());
        let tmp = self.path.join(metadata::tmp_file_name(random));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&metadata::encode(meta))?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.file())
    }
}

/// The current topics and channels of every shard; `None` unless every
/// shard answered.
pub(crate) fn snapshot(ctx: &Context) -> Option<Metadata> {
    let filter = StatsFilter {
        include_clients: false,
        ..StatsFilter::default()
    };
    let mut topics = Vec::new();
    let answers = request_stats(&ctx.mesh, &filter, None);
    // A shard that has already stopped cannot answer: never write a partial
    // nsqd.dat (it would forget that shard's topics).
    if answers.len() != ctx.mesh.len() {
        return None;
    }
    for rx in answers {
        let part = rx.recv_timeout(Duration::from_secs(5)).ok()?;
        let settings = &part.dead_letter_settings;
        topics.extend(part.topics.into_iter().map(|t| {
            let channels = t
                .channels
                .into_iter()
                .map(|c| {
                    let mut m = ChannelMetadata::plain(c.channel_name, c.paused);
                    let own = settings
                        .iter()
                        .find(|(topic, channel, _)| *topic == t.topic_name && *channel == m.name);
                    if let Some((_, _, setting)) = own {
                        m.max_attempts = Some(setting.max_attempts);
                        m.dead_letter_topic = setting.topic.clone();
                    }
                    m
                })
                .collect();
            TopicMetadata {
                name: t.topic_name,
                paused: t.paused,
                channels,
            }
        }));
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Some(Metadata::new(topics))
}

fn run_admin(ctx: &Context, op: AdminOp) -> Result<(), AdminError> {
    let owner = owner_of(op.topic(), ctx.shards());
    let (reply, rx) = flume::bounded(1);
    ctx.mesh[owner]
        .send(ShardMsg::Admin { op, reply })
        .map_err(|_| AdminError::Exiting)?;
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or(Err(AdminError::Exiting))
}

/// Recreate the loaded topics and channels on their owners (startup, before
/// their disk queues open).
pub(crate) fn apply(ctx: &Context, loaded: &Loaded) {
    for skipped in &loaded.skipped {
        crate::log!(Warn, "skipping entry in nsqd.dat: {skipped:?}");
    }
    for topic in &loaded.metadata.topics {
        let t = topic.name.clone();
        if let Err(e) = run_admin(ctx, AdminOp::Load(topic.clone())) {
            crate::log!(Error, "loading topic {t} from nsqd.dat failed: {e:?}");
        }
    }
}

/// Persist now; logs failures. `last` marks the final write at shutdown,
/// after which nothing is written any more.
pub(crate) fn persist(ctx: &Context, dir: &DataDir, last: bool) {
    let Ok(mut done) = dir.writing.lock() else {
        return;
    };
    if *done {
        return;
    }
    *done = last;
    match snapshot(ctx) {
        Some(meta) => {
            if let Err(e) = dir.write(&meta) {
                crate::log!(Error, "failed to persist metadata - {e}");
            }
        }
        None => crate::log!(Error, "failed to persist metadata - a shard did not answer"),
    }
}

/// The writer thread: persists after every (coalesced) change notification.
pub(crate) fn spawn_writer(ctx: Arc<Context>, dir: Arc<DataDir>, changes: flume::Receiver<()>) {
    let spawned = std::thread::Builder::new()
        .name("metadata".into())
        .spawn(move || {
            while changes.recv().is_ok() {
                // Let a burst of changes (many SUBs at once) settle into one write.
                std::thread::sleep(Duration::from_millis(5));
                while changes.try_recv().is_ok() {}
                persist(&ctx, &dir, false);
            }
        });
    if spawned.is_err() {
        crate::log!(Error, "cannot start the metadata writer thread");
    }
}
